//! Seeding known cardholders without SMS round trips: `chaka demo` pre-registers the documented
//! demo people (phone, password, PIN) so that a newcomer can log in at once. The identity
//! registry still confirms each person, and every other rule (password and PIN policy, one
//! account per ID number) applies. Never reachable from the API.

use crate::account::{check_name, parse_id_number, parse_phone};
use crate::error::ApiError;
use crate::hub::Hub;
use crate::identity::IdentityVerdict;
use crate::store::{Account, NewAccount, StoreError};
use crate::vault::{FieldPurpose, IndexPurpose};
use chaka_core::InquiryId;

/// A cardholder to seed.
pub struct Seed<'a> {
    /// Name on the ID card.
    pub name: &'a str,
    /// Resident ID number.
    pub id_number: &'a str,
    /// Mobile number.
    pub phone: &'a str,
    /// Login password.
    pub password: &'a str,
    /// Payment PIN.
    pub pin: &'a str,
}

impl Hub {
    /// Registers `seed` unless an account exists for its ID number; returns whether it was new.
    pub async fn seed_account(&self, seed: &Seed<'_>) -> Result<bool, ApiError> {
        let now = self.clock.now();
        let name = check_name(seed.name)?;
        let id_number = parse_id_number(seed.id_number, now)?;
        let phone = parse_phone(seed.phone)?;
        let id_index = self
            .vault
            .blind_index(IndexPurpose::IdNumber, id_number.as_str());
        if self.store.id_number_taken(&id_index).await? {
            return Ok(false);
        }
        crate::vault::check_password(seed.password)
            .map_err(|e| ApiError::new("weak_password").detail(e.to_string()))?;
        match self.identity.verify(name, &id_number, &phone).await {
            Ok(IdentityVerdict::Verified) => {}
            Ok(_) => return Err(ApiError::new("identity_mismatch")),
            Err(e) => return Err(ApiError::internal(&e)),
        }
        let account_id = InquiryId::generate(now).to_string();
        let new = NewAccount {
            account_id: account_id.clone(),
            id_index,
            id_sealed: self.seal(FieldPurpose::IdNumber, id_number.as_str())?,
            name_sealed: self.seal(FieldPurpose::Name, name)?,
            phone_index: self.vault.blind_index(IndexPurpose::Phone, phone.as_str()),
            phone_sealed: self.seal(FieldPurpose::Phone, phone.as_str())?,
            region: id_number.region().prefix.clone(),
            password_hash: self
                .vault
                .hash_password(seed.password)
                .map_err(|e| ApiError::internal(&e))?,
            verified_at: now,
            lang: "zh".into(),
            created_at: now,
        };
        match self.store.insert_account(&new).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let account: Account = self
            .store
            .account(&account_id)
            .await?
            .ok_or_else(|| ApiError::internal(&"seeded account vanished"))?;
        self.set_pin(&account, seed.pin).await?;
        self.audit(
            Some(&account_id),
            "seeded",
            None,
            serde_json::json!({ "region": new.region }),
        )
        .await?;
        Ok(true)
    }
}
