//! Asking for a lookup: the banks open to the user's region (pilot gating), the agreement, the
//! SMS code, and the submission with an `Idempotency-Key` (the same key and body replay the
//! first answer; the same key with another body is refused). Every rule has its own refusal
//! code. The subject (name, ID number, phone) is taken from the verified profile, never from
//! the request, and stored sealed for the fan-out only.

use crate::agreement;
use crate::banks::HubBank;
use crate::error::ApiError;
use crate::hub::Hub;
use crate::sms::{Message, OtpPurpose};
use crate::store::{Account, InquiryRecord, LegView, NewInquiry, NewSms, SubmitGuard, Submitted};
use crate::vault::FieldPurpose;
use chaka_core::InquiryId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What the user submits.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// Bank codes to ask (each must be open to the user's region).
    pub banks: Vec<String>,
    /// The agreement version accepted.
    pub consent_version: String,
    /// The language the agreement was shown in (`zh` or `en`).
    pub consent_lang: String,
    /// The SMS code sent for `inquiry`.
    pub code: String,
}

/// The answer to a submission (also what a replay returns).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Submission {
    /// The new inquiry.
    pub inquiry_id: String,
    /// `open`.
    pub state: String,
    /// The banks asked.
    pub banks: Vec<String>,
    /// Submission time.
    pub created_at: String,
    /// When banks that have not answered are given up on.
    pub deadline: String,
}

/// One bank's progress as the user sees it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct BankProgress {
    /// Bank code.
    pub bank: String,
    /// `waiting`, `retrying`, `answered` or `no_answer`.
    pub state: &'static str,
    /// When it answered.
    pub answered_at: Option<String>,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The user-facing state of a leg.
pub fn progress_of(leg: &LegView) -> &'static str {
    match leg.state.as_str() {
        "answered" => "answered",
        "no_answer" => "no_answer",
        "pending" if leg.attempts > 0 => "retrying",
        _ => "waiting",
    }
}

impl Hub {
    /// The banks the user may ask, or `region_not_open`.
    pub fn banks_for(&self, account: &Account) -> Result<Vec<&HubBank>, ApiError> {
        if !self.config.pilot.regions.contains(&account.region) {
            return Err(ApiError::new("region_not_open").with("region", account.region.clone()));
        }
        Ok(self.banks.open_to(&account.region))
    }

    fn may_ask(&self, account: &Account, now: OffsetDateTime) -> Result<(), ApiError> {
        if account.verified_at.is_none() {
            return Err(ApiError::new("not_verified"));
        }
        if account.pin.is_none() {
            return Err(ApiError::new("pin_not_set"));
        }
        if let Some(changed) = account.phone_changed_at {
            let until = changed + self.config.rules.phone_change_cooling();
            if until > now {
                return Err(ApiError::new("phone_recently_changed").with("until", rfc3339(until)));
            }
        }
        Ok(())
    }

    /// Checks the rules that do not depend on the request, against the stored inquiries.
    async fn may_submit(&self, account: &Account, now: OffsetDateTime) -> Result<(), ApiError> {
        self.may_ask(account, now)?;
        self.banks_for(account)?;
        let inquiries = self.store.inquiries(&account.account_id).await?;
        if let Some(open) = inquiries.iter().find(|q| q.state == "open") {
            return Err(
                ApiError::new("inquiry_in_flight").with("inquiry_id", open.inquiry_id.clone())
            );
        }
        if let Some(last) = inquiries.iter().filter_map(|q| q.finalized_at).max() {
            let until = last + self.config.rules.cooldown();
            if until > now {
                return Err(ApiError::new("cooling_down").with("until", rfc3339(until)));
            }
        }
        Ok(())
    }

    /// Sends the SMS code that confirms a submission (after the rules allow one).
    pub async fn send_inquiry_code(&self, account: &Account) -> Result<(), ApiError> {
        self.may_submit(account, self.clock.now()).await?;
        self.send_code_to_account(account, OtpPurpose::Inquiry)
            .await
    }

    /// Submits an inquiry. `request_hash` is the SHA-256 of the request body.
    pub async fn submit_inquiry(
        &self,
        account: &Account,
        request: &SubmitRequest,
        idempotency_key: &str,
        request_hash: &str,
    ) -> Result<(u16, Vec<u8>), ApiError> {
        let now = self.clock.now();
        if idempotency_key.is_empty()
            || idempotency_key.len() > 128
            || !idempotency_key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(ApiError::new("idempotency_key_missing")
                .detail("1 to 128 visible ASCII characters"));
        }
        // A replay answers as the first time did, even though its code is used up by now.
        if let Some((hash, status, body)) = self
            .store
            .replay(&account.account_id, idempotency_key)
            .await?
        {
            return if hash == request_hash {
                Ok((status, body))
            } else {
                Err(ApiError::new("idempotency_key_reused"))
            };
        }
        self.may_submit(account, now).await?;
        let open: Vec<&HubBank> = self.banks_for(account)?;
        let mut banks: Vec<String> = Vec::new();
        for code in &request.banks {
            if !open.iter().any(|b| b.code.as_str() == code) {
                return Err(ApiError::new("bank_not_open")
                    .with("bank", code.chars().take(16).collect::<String>()));
            }
            if !banks.contains(code) {
                banks.push(code.clone());
            }
        }
        if banks.is_empty() {
            return Err(ApiError::new("no_banks_selected"));
        }
        let Some(lang) = agreement::AgreementLang::parse(&request.consent_lang) else {
            return Err(ApiError::new("invalid_request").detail("consent_lang is zh or en"));
        };
        if request.consent_version != agreement::VERSION {
            return Err(ApiError::new("consent_outdated").with("current", agreement::VERSION));
        }
        let phone = self.phone_of(account)?;
        self.use_code(&phone, OtpPurpose::Inquiry, &request.code)
            .await?;

        let record = account
            .pin
            .as_ref()
            .ok_or_else(|| ApiError::new("pin_not_set"))?;
        let subject = zeroize::Zeroizing::new(
            serde_json::json!({
                "name": self.name_of(account)?,
                "id_number": self.id_number_of(account)?.as_str(),
                "phone": phone.as_str(),
            })
            .to_string(),
        );
        let inquiry_id = InquiryId::generate(now).to_string();
        let deadline = now + self.config.rules.deadline();
        let submission = Submission {
            inquiry_id: inquiry_id.clone(),
            state: "open".into(),
            banks: banks.clone(),
            created_at: rfc3339(now),
            deadline: rfc3339(deadline),
        };
        let body = serde_json::to_vec(&submission).map_err(|e| ApiError::internal(&e))?;
        let notice = Message::LookupRequested { banks: banks.len() };
        let inquiry = NewInquiry {
            inquiry_id: inquiry_id.clone(),
            account_id: account.account_id.clone(),
            banks,
            subject_sealed: self.seal(FieldPurpose::Subject, &subject)?,
            user_public_key: record.public_key.clone(),
            key_generation: record.key_generation,
            consent_version: agreement::VERSION.to_owned(),
            consent_hash: agreement::hash(lang),
            consent_lang: lang.as_str().to_owned(),
            created_at: now,
            deadline,
        };
        let guard = SubmitGuard {
            idempotency_key: idempotency_key.to_owned(),
            request_hash: request_hash.to_owned(),
            response: (201, body.clone()),
            cooldown: self.config.rules.cooldown(),
            notice: NewSms {
                idempotency_key: format!("requested:{inquiry_id}"),
                account_id: Some(account.account_id.clone()),
                phone_sealed: account.phone_sealed.clone(),
                template: crate::sms::template_name(&notice).to_owned(),
                params: notice.params(),
                secret_sealed: None,
                lang: account.lang.clone(),
            },
        };
        match self.store.submit(&inquiry, &guard).await? {
            Submitted::Created => {
                self.notifier.wake();
                if let Some(fanout) = self.fanout.get() {
                    fanout.wake();
                }
                tracing::info!(inquiry = %inquiry_id, banks = inquiry.banks.len(), "inquiry submitted");
                Ok((201, body))
            }
            Submitted::Replayed { status, body } => Ok((status, body)),
            Submitted::KeyReused => Err(ApiError::new("idempotency_key_reused")),
            Submitted::InFlight { inquiry_id } => {
                Err(ApiError::new("inquiry_in_flight").with("inquiry_id", inquiry_id))
            }
            Submitted::CoolingDown { until } => {
                Err(ApiError::new("cooling_down").with("until", rfc3339(until)))
            }
        }
    }

    /// One of the caller's inquiries (another account's is `not_found`, like a missing one).
    pub async fn inquiry_of(
        &self,
        account: &Account,
        inquiry_id: &str,
    ) -> Result<InquiryRecord, ApiError> {
        if InquiryId::parse(inquiry_id).is_err() {
            return Err(ApiError::new("not_found"));
        }
        self.store
            .inquiry(&account.account_id, inquiry_id)
            .await?
            .ok_or_else(|| ApiError::new("not_found"))
    }

    /// Per-bank progress of an inquiry.
    pub async fn progress(&self, record: &InquiryRecord) -> Result<Vec<BankProgress>, ApiError> {
        Ok(self
            .store
            .legs(&record.inquiry_id)
            .await?
            .iter()
            .map(|leg| BankProgress {
                bank: leg.bank.clone(),
                state: progress_of(leg),
                answered_at: leg.answered_at.map(rfc3339),
            })
            .collect())
    }
}
