//! Accounts: SMS codes (rate-limited, single use, bound to their purpose), real-name
//! registration through the identity registry, login and sessions, password and phone changes.
//! One verified account per ID number. No function here logs a name, ID number, phone, code or
//! password; errors name the rule, never the value.

use crate::error::ApiError;
use crate::hub::Hub;
use crate::identity::IdentityVerdict;
use crate::otp;
use crate::sms::{Message, OtpPurpose, template_name};
use crate::store::{Account, AuditEvent, CodeCheck, NewAccount, NewSms, SessionRecord};
use crate::vault::{FieldPurpose, IndexPurpose};
use chaka_core::{IdNumber, InquiryId, Phone};
use time::{Duration, OffsetDateTime};

/// A logged-in caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The account.
    pub account_id: String,
    /// The session's public id.
    pub session_id: String,
}

/// What a registration needs.
pub struct Registration<'a> {
    /// The name on the ID card.
    pub name: &'a str,
    /// The resident ID number.
    pub id_number: &'a str,
    /// The mobile number.
    pub phone: &'a str,
    /// The code sent to that phone for `register`.
    pub code: &'a str,
    /// The login password.
    pub password: &'a str,
    /// `zh` or `en`.
    pub lang: &'a str,
}

/// Parses a phone as the API reports it.
pub fn parse_phone(input: &str) -> Result<Phone, ApiError> {
    Phone::parse(input).map_err(|e| ApiError::new("invalid_phone").detail(e.to_string()))
}

/// Parses an ID number as the API reports it (the birth date may not be after today).
pub fn parse_id_number(input: &str, now: OffsetDateTime) -> Result<IdNumber, ApiError> {
    IdNumber::parse_on(input, now.date())
        .map_err(|e| ApiError::new("invalid_id_number").detail(e.to_string()))
}

/// Checks a name as printed on an ID card: 1–32 characters, letters, the middle dot of
/// minority names (·), spaces between Latin words; no digits, no control characters.
pub fn check_name(name: &str) -> Result<&str, ApiError> {
    let name = name.trim();
    let count = name.chars().count();
    let allowed = |c: char| c.is_alphabetic() || c == '·' || c == '•' || c == ' ' || c == '-';
    if count == 0 || count > 32 || !name.chars().all(allowed) {
        return Err(ApiError::new("invalid_name").detail("1 to 32 letters; no digits or symbols"));
    }
    Ok(name)
}

impl Hub {
    /// Sends a code for `purpose` to `phone`, within the per-phone limits.
    pub async fn send_code(
        &self,
        phone: &Phone,
        purpose: OtpPurpose,
        account: Option<&Account>,
        lang: &str,
    ) -> Result<(), ApiError> {
        let now = self.clock.now();
        let rules = &self.config.rules;
        let phone_index = self.vault.blind_index(IndexPurpose::Phone, phone.as_str());
        if self
            .store
            .codes_sent_since(&phone_index, now - Duration::seconds(rules.otp_resend_secs))
            .await?
            > 0
        {
            return Err(ApiError::new("too_many_codes")
                .detail("wait before asking for another code")
                .retry_after(rules.otp_resend_secs.unsigned_abs()));
        }
        if self
            .store
            .codes_sent_since(&phone_index, now - Duration::hours(1))
            .await?
            >= rules.otp_per_phone_per_hour
        {
            return Err(ApiError::new("too_many_codes")
                .detail("too many codes this hour")
                .retry_after(3600));
        }
        let code = otp::Code::generate();
        let hash = otp::otp_hash(&self.vault, purpose.as_str(), &phone_index, code.as_str());
        self.store
            .insert_code(&phone_index, purpose.as_str(), &hash, now, rules.otp_ttl())
            .await?;
        let message = Message::Otp {
            purpose,
            code: code.as_str().to_owned(),
        };
        let lang = account.map(|a| a.lang.as_str()).unwrap_or(lang);
        self.notify(
            &format!("otp:{}", InquiryId::generate(now)),
            account,
            &self.seal(FieldPurpose::Phone, phone.as_str())?,
            &message,
            lang,
        )
        .await
    }

    /// Sends a code for `purpose` to the account's own phone, in the account's language.
    pub async fn send_code_to_account(
        &self,
        account: &Account,
        purpose: OtpPurpose,
    ) -> Result<(), ApiError> {
        let phone = self.phone_of(account)?;
        self.send_code(&phone, purpose, Some(account), &account.lang)
            .await
    }

    /// Checks and uses up a code.
    pub async fn use_code(
        &self,
        phone: &Phone,
        purpose: OtpPurpose,
        code: &str,
    ) -> Result<(), ApiError> {
        let now = self.clock.now();
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::new("invalid_code").detail("a code has 6 digits"));
        }
        let phone_index = self.vault.blind_index(IndexPurpose::Phone, phone.as_str());
        let hash = otp::otp_hash(&self.vault, purpose.as_str(), &phone_index, code);
        match self
            .store
            .check_code(
                &phone_index,
                purpose.as_str(),
                &hash,
                now,
                self.config.rules.otp_max_attempts,
            )
            .await?
        {
            CodeCheck::Accepted => Ok(()),
            CodeCheck::Wrong { attempts_left } => {
                Err(ApiError::new("invalid_code").with("attempts_left", attempts_left))
            }
            CodeCheck::NoCode => Err(ApiError::new("no_code")),
        }
    }

    /// Registers a real-name-verified account.
    pub async fn register(&self, r: &Registration<'_>) -> Result<Account, ApiError> {
        let now = self.clock.now();
        let name = check_name(r.name)?;
        let id_number = parse_id_number(r.id_number, now)?;
        let phone = parse_phone(r.phone)?;
        crate::vault::check_password(r.password)
            .map_err(|e| ApiError::new("weak_password").detail(e.to_string()))?;
        let lang = if r.lang == "en" { "en" } else { "zh" };
        // The code first: nobody probes the identity registry without the phone in hand.
        self.use_code(&phone, OtpPurpose::Register, r.code).await?;
        let id_index = self
            .vault
            .blind_index(IndexPurpose::IdNumber, id_number.as_str());
        if self.store.id_number_taken(&id_index).await? {
            return Err(ApiError::new("id_number_registered"));
        }
        match self.identity.verify(name, &id_number, &phone).await {
            Ok(IdentityVerdict::Verified) => {}
            Ok(_) => return Err(ApiError::new("identity_mismatch")),
            Err(e) => {
                tracing::warn!(error = %e, "identity registry unavailable");
                return Err(ApiError::new("identity_unavailable").retry_after(30));
            }
        }
        let password_hash = self
            .vault
            .hash_password(r.password)
            .map_err(|e| ApiError::internal(&e))?;
        let account = NewAccount {
            account_id: InquiryId::generate(now).to_string(),
            id_index,
            id_sealed: self.seal(FieldPurpose::IdNumber, id_number.as_str())?,
            name_sealed: self.seal(FieldPurpose::Name, name)?,
            phone_index: self.vault.blind_index(IndexPurpose::Phone, phone.as_str()),
            phone_sealed: self.seal(FieldPurpose::Phone, phone.as_str())?,
            region: id_number.region().prefix.clone(),
            password_hash,
            verified_at: now,
            lang: lang.to_owned(),
            created_at: now,
        };
        self.store
            .insert_account(&account)
            .await
            .map_err(|e| match e {
                crate::store::StoreError::Conflict("id_number") => {
                    ApiError::new("id_number_registered")
                }
                crate::store::StoreError::Conflict("phone") => ApiError::new("phone_registered"),
                other => ApiError::from(other),
            })?;
        self.audit(
            Some(&account.account_id),
            "registered",
            None,
            serde_json::json!({ "region": account.region }),
        )
        .await?;
        self.store
            .account(&account.account_id)
            .await?
            .ok_or_else(|| ApiError::internal(&"account vanished after insert"))
    }

    /// Logs in with phone and password; returns the session token (shown once) and record.
    pub async fn login(
        &self,
        phone: &str,
        password: &str,
        user_agent: Option<&str>,
    ) -> Result<(String, SessionRecord), ApiError> {
        let phone = Phone::parse(phone).map_err(|_| ApiError::new("wrong_credentials"))?;
        let phone_index = self.vault.blind_index(IndexPurpose::Phone, phone.as_str());
        let account = self.store.account_by_phone(&phone_index).await?;
        let Some(account) = account else {
            // Same cost whether or not the phone is registered.
            let _ = self
                .vault
                .verify_password(password, &self.dummy_password_hash);
            return Err(ApiError::new("wrong_credentials"));
        };
        if !self.vault.verify_password(password, &account.password_hash) {
            self.audit(
                Some(&account.account_id),
                "login_failed",
                None,
                serde_json::json!({}),
            )
            .await?;
            return Err(ApiError::new("wrong_credentials"));
        }
        let session = self.new_session(&account.account_id, user_agent).await?;
        self.audit(
            Some(&account.account_id),
            "logged_in",
            None,
            serde_json::json!({ "session": session.1.session_id }),
        )
        .await?;
        Ok(session)
    }

    async fn new_session(
        &self,
        account_id: &str,
        user_agent: Option<&str>,
    ) -> Result<(String, SessionRecord), ApiError> {
        let now = self.clock.now();
        let token = crate::vault::random_token();
        let record = SessionRecord {
            session_id: InquiryId::generate(now).to_string(),
            account_id: account_id.to_owned(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.config.rules.session_absolute(),
            user_agent: user_agent.map(|ua| ua.chars().take(200).collect()),
        };
        self.store
            .insert_session(&self.vault.token_hash(&token), &record)
            .await?;
        Ok((token, record))
    }

    /// The session of a token, if it is live.
    pub async fn authenticate(&self, token: &str) -> Result<Session, ApiError> {
        let now = self.clock.now();
        let record = self
            .store
            .session(
                &self.vault.token_hash(token),
                now,
                self.config.rules.session_idle(),
            )
            .await?
            .ok_or_else(|| ApiError::new("unauthenticated"))?;
        Ok(Session {
            account_id: record.account_id,
            session_id: record.session_id,
        })
    }

    /// The caller's account.
    pub async fn account_of(&self, session: &Session) -> Result<Account, ApiError> {
        self.store
            .account(&session.account_id)
            .await?
            .ok_or_else(|| ApiError::new("unauthenticated"))
    }

    /// Ends the caller's session.
    pub async fn logout(&self, session: &Session) -> Result<(), ApiError> {
        self.store
            .revoke_session(&session.account_id, &session.session_id, self.clock.now())
            .await?;
        Ok(())
    }

    /// Revokes one of the account's sessions; `not_found` when it has no such live session.
    pub async fn revoke_session(
        &self,
        account: &Account,
        session_id: &str,
    ) -> Result<(), ApiError> {
        let account_id = &account.account_id;
        if session_id.len() > 64
            || !self
                .store
                .revoke_session(account_id, session_id, self.clock.now())
                .await?
        {
            return Err(ApiError::new("not_found"));
        }
        self.audit(
            Some(account_id),
            "session_revoked",
            None,
            serde_json::json!({ "session": session_id }),
        )
        .await
    }

    /// Changes the password (the old one is required) and ends every other session.
    pub async fn change_password(
        &self,
        session: &Session,
        old: &str,
        new: &str,
    ) -> Result<(), ApiError> {
        let account = self.account_of(session).await?;
        if !self.vault.verify_password(old, &account.password_hash) {
            return Err(ApiError::new("wrong_password"));
        }
        crate::vault::check_password(new)
            .map_err(|e| ApiError::new("weak_password").detail(e.to_string()))?;
        let hash = self
            .vault
            .hash_password(new)
            .map_err(|e| ApiError::internal(&e))?;
        let now = self.clock.now();
        self.store
            .set_password(&account.account_id, &hash, Some(&session.session_id), now)
            .await?;
        self.audit(
            Some(&account.account_id),
            "password_changed",
            None,
            serde_json::json!({}),
        )
        .await
    }

    /// Moves the account to a new phone: password, a code sent to the old phone and one sent
    /// to the new phone. Ends every other session and pauses lookups for the cooling-off period.
    pub async fn change_phone(
        &self,
        session: &Session,
        password: &str,
        old_code: &str,
        new_phone: &str,
        new_code: &str,
    ) -> Result<(), ApiError> {
        let account = self.account_of(session).await?;
        if !self.vault.verify_password(password, &account.password_hash) {
            return Err(ApiError::new("wrong_password"));
        }
        let new_phone = parse_phone(new_phone)?;
        let old_phone = self.phone_of(&account)?;
        self.use_code(&old_phone, OtpPurpose::PhoneChangeOld, old_code)
            .await?;
        self.use_code(&new_phone, OtpPurpose::PhoneChangeNew, new_code)
            .await?;
        let now = self.clock.now();
        let index = self
            .vault
            .blind_index(IndexPurpose::Phone, new_phone.as_str());
        let sealed = self.seal(FieldPurpose::Phone, new_phone.as_str())?;
        self.store
            .change_phone(
                &account.account_id,
                &index,
                &sealed,
                Some(&session.session_id),
                now,
            )
            .await
            .map_err(|e| match e {
                crate::store::StoreError::Conflict(_) => ApiError::new("phone_registered"),
                other => ApiError::from(other),
            })?;
        // Tell the old number: a phone change is what a fraudster does first.
        let key = format!(
            "phone_changed:{}:{}",
            account.account_id,
            crate::store::fmt_time(now)
        );
        self.notify(
            &key,
            Some(&account),
            &account.phone_sealed,
            &Message::PhoneChanged,
            &account.lang,
        )
        .await?;
        self.audit(
            Some(&account.account_id),
            "phone_changed",
            None,
            serde_json::json!({}),
        )
        .await
    }

    /// The account's phone, opened.
    pub fn phone_of(&self, account: &Account) -> Result<Phone, ApiError> {
        let bytes = self
            .vault
            .open_field(FieldPurpose::Phone, &account.phone_sealed)
            .map_err(|e| ApiError::internal(&e))?;
        let text = std::str::from_utf8(&bytes).map_err(|e| ApiError::internal(&e))?;
        Phone::parse(text).map_err(|e| ApiError::internal(&e))
    }

    /// The account's ID number, opened.
    pub fn id_number_of(&self, account: &Account) -> Result<IdNumber, ApiError> {
        let bytes = self
            .vault
            .open_field(FieldPurpose::IdNumber, &account.id_sealed)
            .map_err(|e| ApiError::internal(&e))?;
        let text = std::str::from_utf8(&bytes).map_err(|e| ApiError::internal(&e))?;
        IdNumber::parse_on(
            text,
            chaka_core::IdNumber::parse_on(text, time::Date::MAX)
                .map(|id| id.birth_date())
                .unwrap_or(time::Date::MAX),
        )
        .map_err(|e| ApiError::internal(&e))
    }

    /// The account's name, opened.
    pub fn name_of(&self, account: &Account) -> Result<String, ApiError> {
        let bytes = self
            .vault
            .open_field(FieldPurpose::Name, &account.name_sealed)
            .map_err(|e| ApiError::internal(&e))?;
        String::from_utf8(bytes.to_vec()).map_err(|e| ApiError::internal(&e))
    }

    /// Puts a message in the outbox (secrets sealed) and wakes the notifier.
    pub(crate) async fn notify(
        &self,
        key: &str,
        account: Option<&Account>,
        phone_sealed: &[u8],
        message: &Message,
        lang: &str,
    ) -> Result<(), ApiError> {
        let secret_sealed = match message.secret() {
            Some(secret) => Some(self.seal(FieldPurpose::SmsParams, secret)?),
            None => None,
        };
        let sms = NewSms {
            idempotency_key: key.to_owned(),
            account_id: account.map(|a| a.account_id.clone()),
            phone_sealed: phone_sealed.to_vec(),
            template: template_name(message).to_owned(),
            params: message.params(),
            secret_sealed,
            lang: lang.to_owned(),
        };
        self.store.enqueue(&sms, self.clock.now()).await?;
        self.notifier.wake();
        Ok(())
    }

    /// Seals a personal field.
    pub(crate) fn seal(&self, purpose: FieldPurpose, value: &str) -> Result<Vec<u8>, ApiError> {
        self.vault
            .seal_field(purpose, value.as_bytes())
            .map_err(|e| ApiError::internal(&e))
    }

    /// Records an audit event.
    pub(crate) async fn audit(
        &self,
        account_id: Option<&str>,
        kind: &str,
        inquiry_id: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<(), ApiError> {
        self.store
            .audit(&AuditEvent {
                account_id: account_id.map(str::to_owned),
                kind: kind.to_owned(),
                inquiry_id: inquiry_id.map(str::to_owned),
                detail,
                at: self.clock.now(),
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_id_card_rules() {
        assert_eq!(check_name(" 王静 ").unwrap(), "王静");
        assert!(check_name("阿依古丽·买买提").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("王2").is_err());
        assert!(check_name(&"王".repeat(33)).is_err());
        assert!(check_name("王<script>").is_err());
    }
}
