//! `InquiryId`: the UUIDv7 that names one lookup across the hub, the banks and the audit trail.
//! Generated from an injected time, so ids sort by creation and tests are reproducible.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use time::OffsetDateTime;
use uuid::{Timestamp, Uuid};

/// Why a string is not an inquiry id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an inquiry id is a UUID version 7 in its hyphenated form")]
pub struct InquiryIdError;

/// A UUIDv7 naming one inquiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InquiryId(Uuid);

impl InquiryId {
    /// A new id for an inquiry created at `now` (random bits from the OS).
    pub fn generate(now: OffsetDateTime) -> Self {
        let nanos = now.unix_timestamp_nanos().max(0);
        let secs = (nanos / 1_000_000_000) as u64;
        let subsec = (nanos % 1_000_000_000) as u32;
        Self(Uuid::new_v7(Timestamp::from_unix_time(secs, subsec, 0, 0)))
    }

    /// Parses the hyphenated form; only version 7 is accepted.
    pub fn parse(input: &str) -> Result<Self, InquiryIdError> {
        if input.len() != 36 {
            return Err(InquiryIdError);
        }
        let uuid = Uuid::try_parse(input).map_err(|_| InquiryIdError)?;
        Self::from_uuid(uuid)
    }

    /// Wraps a UUID; only version 7 is accepted.
    pub fn from_uuid(uuid: Uuid) -> Result<Self, InquiryIdError> {
        if uuid.get_version_num() != 7 {
            return Err(InquiryIdError);
        }
        Ok(Self(uuid))
    }

    /// The UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl fmt::Display for InquiryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl Serialize for InquiryId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for InquiryId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        InquiryId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn generated_ids_are_v7_and_sort_by_time() {
        let a = InquiryId::generate(datetime!(2026-11-01 08:00 UTC));
        let b = InquiryId::generate(datetime!(2026-11-01 08:00:01 UTC));
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a < b);
        assert_eq!(InquiryId::parse(&a.to_string()).unwrap(), a);
    }

    #[test]
    fn refuses_other_versions_and_forms() {
        assert!(InquiryId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").is_err()); // v4
        assert!(InquiryId::parse("not-a-uuid").is_err());
        let a = InquiryId::generate(datetime!(2026-11-01 08:00 UTC));
        assert!(InquiryId::parse(&a.as_uuid().simple().to_string()).is_err());
    }
}
