//! One module per subcommand.

pub mod bank;
pub mod bench;
pub mod bench_hub;
pub mod demo;
#[path = "gen.rs"]
pub mod generate;
pub mod hub;
pub mod keys;
