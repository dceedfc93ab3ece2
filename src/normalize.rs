//! TODO: normalize
