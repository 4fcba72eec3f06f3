//! One module per subcommand.

pub mod bank;
pub mod bench;
pub mod demo;
pub mod gen;
pub mod keys;
