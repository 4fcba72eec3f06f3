//! chaka-bank
