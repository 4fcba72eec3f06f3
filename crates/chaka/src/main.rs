//! chaka CLI
fn main() {}
