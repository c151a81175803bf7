//! Errors: where a bottle came from, one located problem in a file, and the
//! crate's error enum.
//!
//! Every message names the file; a [`Diagnostic`] also names the field path
//! and, where there is one, the line, as `file:line: path: message`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::tree::FieldPath;

/// Where a bottle's text came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// A file on disk, as found along the search path.
    File(PathBuf),
    /// A bottle built into the binary (`base`, `claude`, `codex`).
    BuiltIn(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(formatter, "{}", path.display()),
            Self::BuiltIn(name) => write!(formatter, "<built-in>/{name}.yaml"),
        }
    }
}

/// One problem at one place in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub source: Source,
    pub path: FieldPath,
    pub line: Option<usize>,
    pub message: String,
    /// How to fix it (`did you mean …`, where a secret belongs, …).
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.source)?;
        if let Some(line) = self.line {
            write!(formatter, ":{line}")?;
        }
        if !self.path.is_root() {
            write!(formatter, ": {}", self.path)?;
        }
        write!(formatter, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(formatter, "; {hint}")?;
        }
        Ok(())
    }
}

/// The names of the bottles from the one asked for to the one at fault,
/// shown as `child -> net -> base`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain(pub Vec<String>);

impl fmt::Display for Chain {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0.join(" -> "))
    }
}

/// Directories looked in, for "not found" messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Searched {
    pub directories: Vec<PathBuf>,
    pub built_ins: bool,
}

impl fmt::Display for Searched {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut places: Vec<String> = self
            .directories
            .iter()
            .map(|directory| directory.display().to_string())
            .collect();
        if self.built_ins {
            places.push("the built-in bottles".to_string());
        }
        if places.is_empty() {
            formatter.write_str("nowhere")
        } else {
            formatter.write_str(&places.join(", "))
        }
    }
}

/// A list of diagnostics shown one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, diagnostic) in self.0.iter().enumerate() {
            if index > 0 {
                formatter.write_str("\n")?;
            }
            write!(formatter, "{diagnostic}")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong finding, reading and resolving a bottle.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A bottle file exists but could not be read.
    #[error("{path}: cannot read: {source}", path = path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The name asked for cannot be a bottle name.
    #[error("`{name}` is not a valid bottle name: {reason}")]
    InvalidName { name: String, reason: &'static str },
    /// No bottle of that name anywhere on the search path.
    #[error("no bottle named `{name}` (looked in {searched})")]
    NotFound { name: String, searched: Searched },
    /// `<name>.yaml` and `<name>.yml` side by side.
    #[error("bottle `{name}` is ambiguous: both {first} and {second} exist", first = first.display(), second = second.display())]
    Ambiguous {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// A parent named in `extends:` does not exist.
    #[error("{file}{line}: extends: no bottle named `{parent}` (chain: {chain}; looked in {searched})", line = line_suffix(*line))]
    MissingParent {
        chain: Chain,
        parent: String,
        file: Source,
        line: Option<usize>,
        searched: Searched,
    },
    /// `extends:` loops back on itself.
    #[error("{file}{line}: extends: cycle: {chain}", line = line_suffix(*line))]
    Cycle {
        chain: Chain,
        file: Source,
        line: Option<usize>,
    },
    /// `extends:` chains longer than [`crate::resolve::MAX_EXTENDS_DEPTH`].
    #[error("{file}{line}: extends: more than {limit} levels of parents (chain: {chain})", line = line_suffix(*line))]
    TooDeep {
        chain: Chain,
        file: Source,
        line: Option<usize>,
        limit: usize,
    },
    /// The file itself has problems (all of them listed).
    #[error("{diagnostics}")]
    Invalid {
        file: Source,
        diagnostics: Diagnostics,
    },
    /// A parent has problems; `source` says which.
    #[error("{file}{line}: extends `{parent}` (chain: {chain}), which is invalid:\n{source}", line = line_suffix(*line))]
    InvalidParent {
        chain: Chain,
        parent: String,
        file: Source,
        line: Option<usize>,
        #[source]
        source: Box<Error>,
    },
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|line| format!(":{line}")).unwrap_or_default()
}

/// Several errors, shown one after another (a bottle with two bad parents
/// reports both).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", render(.0))]
pub struct Errors(pub Vec<Error>);

fn render(errors: &[Error]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl From<Error> for Errors {
    fn from(error: Error) -> Self {
        Self(vec![error])
    }
}
