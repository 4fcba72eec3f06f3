//! chaka-bank: the bank side of chaka. The reference bank node ([`node`]) serves protocol v1
//! over a SQLite card store ([`store`]); the generator ([`gen`]) writes realistic synthetic
//! populations into such stores; [`client`] is the hub's side of the wire, used by the demo,
//! the benchmark and the conformance tests.

pub mod client;
pub mod r#gen;
pub mod node;
pub mod store;
