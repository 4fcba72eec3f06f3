//! chaka-bank: the bank side of chaka. The reference bank node ([`node`]) serves protocol v1
//! over a SQLite card store ([`store`]); the generator ([`gen`]) writes realistic synthetic
//! populations into such stores. The hub side of the wire is `chaka_hub::connector`.

pub mod r#gen;
pub mod node;
pub mod store;
