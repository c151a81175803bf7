//! Test helpers: bottle files in a temporary directory.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use bot_bottle_manifest::{ResolvedBottle, Resolver, SearchPath};

/// A temporary bottles directory.
pub struct Bottles {
    pub dir: tempfile::TempDir,
}

impl Bottles {
    /// Write `files` (name without extension, YAML text) as `<name>.yaml`.
    pub fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(format!("{name}.yaml")), text).unwrap();
        }
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.yaml"))
    }

    /// This directory, then the built-ins.
    pub fn search(&self) -> SearchPath {
        SearchPath::new(vec![self.path().to_path_buf()], true)
    }

    pub fn resolve(&self, name: &str) -> Result<ResolvedBottle, String> {
        Resolver::new(self.search())
            .resolve(name)
            .map_err(|errors| self.mask(&errors.to_string()))
    }

    pub fn ok(&self, name: &str) -> ResolvedBottle {
        match self.resolve(name) {
            Ok(bottle) => bottle,
            Err(errors) => panic!("{name} did not resolve:\n{errors}"),
        }
    }

    pub fn err(&self, name: &str) -> String {
        match self.resolve(name) {
            Ok(bottle) => panic!("{name} resolved: {bottle:#?}"),
            Err(errors) => errors,
        }
    }

    /// Replace the temporary directory with `[DIR]`.
    pub fn mask(&self, text: &str) -> String {
        text.replace(&self.path().display().to_string(), "[DIR]")
    }
}
