//! chaka-hub: the switch. Real-name accounts, consent, SMS codes, the payment PIN, a durable
//! fan-out to banks over protocol v1 with a 24 h deadline, reports sealed so that the operator
//! cannot read them, the "ready" SMS, deletion after 7 days, and the JSON API. See
//! `docs/dev/hub-design.md` for the module map.

pub mod account;
pub mod agreement;
pub mod api;
pub mod banks;
pub mod config;
pub mod connector;
pub mod dispute;
pub mod error;
pub mod failpoint;
pub mod fanout;
pub mod hub;
pub mod identity;
pub mod inquiry;
pub mod notify;
pub mod otp;
pub mod outbound;
pub mod pin;
pub mod pin_policy;
pub mod report;
pub mod runtime;
pub mod seed;
pub mod sms;
pub mod store;
pub mod vault;
pub mod web;
