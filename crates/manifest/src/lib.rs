//! Bottle manifests: the model, `extends:` resolution, validation and schema.
//!
//! Layout: `model` holds the raw YAML types.

pub mod model;
