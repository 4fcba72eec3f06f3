//! The chaka-bank integration tests: one binary, real servers on port 0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod r#gen;
mod node;
mod store;
mod support;
