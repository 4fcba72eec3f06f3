//! The reference bank node: serves protocol v1 (`docs/protocol.md`) over HTTP from a card
//! store. It verifies the hub's signature, looks each subject up by index, applies the
//! eligibility rules, masks and seals the card list to the user's key, remembers the answer
//! per inquiry id (idempotency), and signs what it sends. It can misbehave on purpose
//! ([`faults`]) and answer later by signed callback.
//!
//! It logs inquiry ids, counts and outcomes, never a name, ID number, phone or card digit.

pub mod answer;
pub mod callback;
pub mod config;
pub mod faults;
pub mod rules;
pub mod server;

pub use config::{AnswerMode, NodeConfig, TrustedKey};
pub use faults::{FaultConfig, Latency};
pub use server::{BankNode, NodeError, NodeSettings, NodeStats};
