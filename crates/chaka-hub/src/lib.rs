//! chaka-hub
