//! chaka-core: the domain of chaka (查卡) with no I/O and no async.
//!
//! It owns the value types every other crate trusts once parsed: resident ID numbers
//! ([`IdNumber`], GB 11643-1999), mainland mobile numbers ([`Phone`]), card numbers
//! ([`CardNumber`], Luhn) and their masked form ([`MaskedPan`]), bank and region registries
//! built from the project's reference data, card kinds and statuses, inquiry ids, and the
//! [`Clock`] through which all time is read. It must not log, touch files or the network.

pub mod bank;
pub mod card;
pub mod clock;
pub mod id_number;
pub mod inquiry;
pub mod masked;
pub mod month;
mod normalize;
pub mod phone;
pub mod region;

pub use bank::{Bank, BankCode, BankCodeError, BankRegistry, Bin, RegistryError, Wave};
pub use card::{
    CardKind, CardNumber, CardNumberError, CardStatus, MaskedPan, MaskedPanError, luhn_check_digit,
    luhn_valid,
};
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use id_number::{IdNumber, IdNumberError, Sex};
pub use inquiry::{InquiryId, InquiryIdError};
pub use masked::Masked;
pub use month::{YearMonth, YearMonthError};
pub use phone::{Phone, PhoneError};
pub use region::{Region, RegionRegistry};
