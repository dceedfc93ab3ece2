//! TODO: qualify
