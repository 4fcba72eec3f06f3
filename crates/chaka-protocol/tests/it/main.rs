//! Integration tests of chaka-protocol: RFC vectors, the protocol's own worked examples, and
//! property tests of signing, sealing and limits through the public API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod limits;
mod sealing;
mod signing;
mod support;
mod vectors;
