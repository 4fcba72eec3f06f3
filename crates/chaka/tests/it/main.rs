//! The `chaka` command line, run as a user runs it: the real binary, real files, real ports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Tests poll for a process's output; they never sleep for a deadline (the hub's clock is real
// here, and the crash test shortens only the fan-out lease).
#![allow(clippy::disallowed_methods)]

mod cli;
mod crash;
mod instances;
mod process;
