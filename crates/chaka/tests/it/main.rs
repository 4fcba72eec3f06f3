//! The `chaka` command line, run as a user runs it: the real binary, real files, real ports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli;
