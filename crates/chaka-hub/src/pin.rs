//! The payment PIN: set, change (with the old PIN) and reset (password and SMS code; a fresh key
//! pair, so reports sealed to the old key can no longer be opened — the caller must say it was
//! told). The PIN wraps the user's X25519 secret; the hub keeps only the keyed verifier and the
//! wrapped key. Wrong PINs count durably per account and lock report opening.

use crate::error::ApiError;
use crate::hub::Hub;
use crate::sms::{Message, OtpPurpose};
use crate::store::{Account, PinRecord};
use crate::vault::{Pin, WrappedKey};
use chaka_protocol::keys::{RecipientKeyPair, RecipientSecretKey};

fn weak(e: &crate::pin_policy::PinRejection) -> ApiError {
    ApiError::new("weak_pin")
        .with("rule", e.code())
        .detail(e.to_string())
}

impl Hub {
    /// Parses a new PIN and applies the trivial-PIN rules for this account.
    fn new_pin(&self, account: &Account, pin: &str) -> Result<Pin, ApiError> {
        let pin = Pin::parse(pin).map_err(|e| weak(&e))?;
        let id_number = self.id_number_of(account)?;
        let phone = self.phone_of(account)?;
        crate::pin_policy::check(&pin, &id_number, &phone).map_err(|e| weak(&e))?;
        Ok(pin)
    }

    fn pin_record(
        &self,
        pin: &Pin,
        secret: &RecipientSecretKey,
        public: Vec<u8>,
        generation: i64,
    ) -> Result<PinRecord, ApiError> {
        let wrapped = self
            .vault
            .wrap_user_key(pin, secret)
            .map_err(|e| ApiError::internal(&e))?;
        Ok(PinRecord {
            verifier: self
                .vault
                .pin_verifier(pin)
                .map_err(|e| ApiError::internal(&e))?,
            public_key: public,
            salt: wrapped.salt,
            wrapped: wrapped.sealed,
            key_generation: generation,
        })
    }

    /// Sets the first PIN and creates the user's key pair.
    pub async fn set_pin(&self, account: &Account, pin: &str) -> Result<(), ApiError> {
        if account.pin.is_some() {
            return Err(ApiError::new("pin_already_set"));
        }
        let pin = self.new_pin(account, pin)?;
        let keys = RecipientKeyPair::generate();
        let record = self.pin_record(
            &pin,
            keys.secret_key(),
            keys.public_key().as_bytes().to_vec(),
            account.key_generation,
        )?;
        self.store.set_pin(&account.account_id, &record).await?;
        self.audit(
            Some(&account.account_id),
            "pin_set",
            None,
            serde_json::json!({}),
        )
        .await
    }

    /// Checks the PIN against the verifier, counting failures and honouring the lock; on
    /// success returns the unwrapped user secret.
    pub async fn check_pin(
        &self,
        account: &Account,
        pin: &str,
    ) -> Result<RecipientSecretKey, ApiError> {
        let now = self.clock.now();
        let rules = &self.config.rules;
        let record = account
            .pin
            .as_ref()
            .ok_or_else(|| ApiError::new("pin_not_set"))?;
        if let Some(until) = account.pin_locked_until.filter(|until| *until > now) {
            return Err(locked(until));
        }
        let pin = Pin::parse(pin).ok();
        let right = pin
            .as_ref()
            .is_some_and(|p| self.vault.verify_pin(p, &record.verifier));
        let (Some(pin), true) = (pin, right) else {
            let failure = self
                .store
                .record_pin_failure(
                    &account.account_id,
                    now,
                    rules.pin_max_failures,
                    rules.pin_lock(),
                )
                .await?;
            self.audit(
                Some(&account.account_id),
                "pin_wrong",
                None,
                serde_json::json!({ "failures": failure.failures }),
            )
            .await?;
            return Err(match failure.locked_until {
                Some(until) => locked(until),
                None => ApiError::new("wrong_pin")
                    .with("attempts_left", rules.pin_max_failures - failure.failures),
            });
        };
        let wrapped = WrappedKey {
            salt: record.salt.clone(),
            sealed: record.wrapped.clone(),
        };
        let secret = self
            .vault
            .unwrap_user_key(&pin, &wrapped)
            .map_err(|e| ApiError::internal(&e))?;
        if account.pin_failures > 0 {
            self.store.clear_pin_failures(&account.account_id).await?;
        }
        Ok(secret)
    }

    /// Changes the PIN: the old PIN unwraps the key, the new one wraps the same key (reports
    /// stay readable).
    pub async fn change_pin(
        &self,
        account: &Account,
        old: &str,
        new: &str,
    ) -> Result<(), ApiError> {
        let new_pin = self.new_pin(account, new)?;
        let secret = self.check_pin(account, old).await?;
        let public = secret.public_key().as_bytes().to_vec();
        let record = self.pin_record(&new_pin, &secret, public, account.key_generation)?;
        self.store.set_pin(&account.account_id, &record).await?;
        self.audit(
            Some(&account.account_id),
            "pin_changed",
            None,
            serde_json::json!({}),
        )
        .await
    }

    /// Resets a forgotten PIN with the password and an SMS code. Creates a new key pair:
    /// reports sealed to the old key become unreadable, which the user must acknowledge.
    pub async fn reset_pin(
        &self,
        account: &Account,
        password: &str,
        code: &str,
        new: &str,
        acknowledged: bool,
    ) -> Result<(), ApiError> {
        if !acknowledged {
            return Err(ApiError::new("invalid_request")
                .detail("a reset makes earlier reports unreadable; confirm with acknowledge_unreadable_reports"));
        }
        if !self.vault.verify_password(password, &account.password_hash) {
            return Err(ApiError::new("wrong_password"));
        }
        let new_pin = self.new_pin(account, new)?;
        let phone = self.phone_of(account)?;
        self.use_code(&phone, OtpPurpose::PinReset, code).await?;
        let keys = RecipientKeyPair::generate();
        let generation = account.key_generation + 1;
        let record = self.pin_record(
            &new_pin,
            keys.secret_key(),
            keys.public_key().as_bytes().to_vec(),
            generation,
        )?;
        self.store.set_pin(&account.account_id, &record).await?;
        let now = self.clock.now();
        let key = format!(
            "pin_reset:{}:{}",
            account.account_id,
            crate::store::fmt_time(now)
        );
        self.notify(
            &key,
            Some(account),
            &account.phone_sealed,
            &Message::PinReset,
            &account.lang,
        )
        .await?;
        self.audit(
            Some(&account.account_id),
            "pin_reset",
            None,
            serde_json::json!({ "key_generation": generation }),
        )
        .await
    }
}

fn locked(until: time::OffsetDateTime) -> ApiError {
    let until_text = until
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    ApiError::new("pin_locked").with("locked_until", until_text)
}
