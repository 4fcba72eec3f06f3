//! chaka-core
