//! The sled-backed store.

/// Placeholder.
pub struct Store;
