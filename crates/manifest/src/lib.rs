//! Bottle manifests: the model, the search path, `extends:` resolution,
//! validation, provenance and the JSON Schema.
//!
//! A bottle is a YAML file found by name along a [`SearchPath`]. Reading one
//! goes text → [`tree`] (YAML with lines) → [`de`] (typed [`model`], every
//! error collected) → [`validate`] (checks the types cannot express), all
//! driven by [`file::parse_manifest`]. [`Resolver`] then follows `extends:`
//! and folds parents into a [`ResolvedBottle`], recording which file set
//! each value.
//!
//! Layout:
//! - `model`: the raw YAML types (also the sidecars' config file schemas);
//! - `tree`, `de`: YAML into a located tree, then into the model;
//! - `validate`: host patterns, variable names, credentials in `env`, …;
//! - `file`: one file parsed and checked, with every diagnostic;
//! - `search`: the search path and the built-in bottles;
//! - `resolve`: `extends:` and the fold rules;
//! - `resolved`: the resolved types, defaults, provider routes, `--explain`;
//! - `error`: sources, diagnostics and the error enum.
//!
//! The library never reads the environment; callers pass a [`SearchPath`].

pub mod de;
pub mod error;
pub mod file;
pub mod model;
pub mod resolve;
pub mod resolved;
pub mod search;
pub mod tree;
pub mod validate;

pub use error::{Diagnostic, Error, Errors, Source};
pub use file::{ParsedFile, parse_manifest};
pub use resolve::Resolver;
pub use resolved::{ResolvedBottle, ResolvedRoute};
pub use search::SearchPath;

/// The JSON Schema of a bottle file, generated from [`model::BottleFile`].
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(model::BottleFile))
        .unwrap_or(serde_json::Value::Null)
}
