//! Helpers shared by the integration tests (and, by path, the benchmark).
pub mod forge;
