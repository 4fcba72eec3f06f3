//! The chaka-hub integration tests: one binary, real servers on port 0, a movable clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api;
mod fanout;
mod kit;
mod logs;
mod privacy;
mod web;
