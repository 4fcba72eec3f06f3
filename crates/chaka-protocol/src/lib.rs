//! chaka-protocol
