//! chaka-hub: the switch. Real-name accounts, consent, SMS codes, the payment PIN, a durable
//! fan-out to banks over protocol v1 with a 24 h deadline, reports sealed so that the operator
//! cannot read them, the "ready" SMS, deletion after 7 days, and the JSON API. See
//! `docs/dev/hub-design.md` for the module map.

pub mod config;
pub mod error;
pub mod store;
