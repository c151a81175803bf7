//! Logging setup.
pub fn init() {}
