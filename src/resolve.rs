//! TODO: resolve
