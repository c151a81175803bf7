//! Finding a bottle by name: the search path and the built-in bottles.
//!
//! The library never reads the environment or the working directory: the
//! caller builds a [`SearchPath`] (the CLI does it from `--bottles`,
//! `./.bot-bottle/bottles/` and `$XDG_CONFIG_HOME/bot-bottle/bottles/`).
//! A bottle `NAME` is the file `NAME.yaml` (or `NAME.yml`) in the first
//! directory that has one, else the built-in bottle of that name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Searched, Source};
use crate::validate::check_bottle_name;

/// The built-in bottles, embedded in the binary.
pub const BUILT_INS: &[(&str, &str)] = &[
    ("base", include_str!("../../../bottles/base.yaml")),
    ("claude", include_str!("../../../bottles/claude.yaml")),
    ("codex", include_str!("../../../bottles/codex.yaml")),
];

/// File extensions tried, in order.
pub const EXTENSIONS: &[&str] = &["yaml", "yml"];

/// The text of a built-in bottle.
pub fn built_in(name: &str) -> Option<(&'static str, &'static str)> {
    BUILT_INS
        .iter()
        .find(|(built_in, _)| *built_in == name)
        .copied()
}

/// Where bottles are looked for, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPath {
    /// Directories, first match wins.
    pub directories: Vec<PathBuf>,
    /// Whether the built-in bottles come last.
    pub built_ins: bool,
}

impl SearchPath {
    /// The given directories, then the built-ins when `built_ins` is set.
    pub fn new(directories: Vec<PathBuf>, built_ins: bool) -> Self {
        Self {
            directories,
            built_ins,
        }
    }

    /// The standard order: `--bottles DIR`, `<cwd>/.bot-bottle/bottles/`,
    /// `<config dir>/bottles/` (the config dir being
    /// `$XDG_CONFIG_HOME/bot-bottle`), then the built-ins.
    pub fn standard(
        bottles_flag: Option<PathBuf>,
        working_directory: &Path,
        config_directory: Option<PathBuf>,
    ) -> Self {
        let mut directories = Vec::new();
        directories.extend(bottles_flag);
        directories.push(working_directory.join(".bot-bottle").join("bottles"));
        directories.extend(config_directory.map(|directory| directory.join("bottles")));
        Self::new(directories, true)
    }

    /// This search path with `directory` looked in first.
    pub fn with_first(&self, directory: PathBuf) -> Self {
        let mut directories = vec![directory];
        directories.extend(self.directories.iter().cloned());
        Self::new(directories, self.built_ins)
    }

    /// The places looked in, for messages.
    pub fn searched(&self) -> Searched {
        Searched {
            directories: self.directories.clone(),
            built_ins: self.built_ins,
        }
    }

    /// Find bottle `name`. `Ok(None)` when it is nowhere.
    ///
    /// `skip` passes over one source: a bottle that extends its own name
    /// (`claude.yaml` with `extends: claude`) means the next bottle of that
    /// name along the path, so a user can refine a built-in without copying
    /// it.
    pub fn find(&self, name: &str, skip: Option<&Source>) -> Result<Option<Found>, Error> {
        check_bottle_name(name).map_err(|reason| Error::InvalidName {
            name: name.to_string(),
            reason,
        })?;
        let mut first_found: Option<Source> = None;
        let mut passed_skip = false;
        for candidate in self.candidates(name) {
            let source = candidate?;
            if let Some(skip) = skip {
                if same_file(skip, &source) {
                    passed_skip = true;
                    continue;
                }
                if !passed_skip {
                    first_found.get_or_insert(source);
                    continue;
                }
            }
            return load(source).map(Some);
        }
        // The skipped source was not on the path at all: the first match
        // stands.
        first_found.map(load).transpose()
    }

    /// Every bottle called `name` along the path, in order.
    fn candidates<'a>(&'a self, name: &'a str) -> impl Iterator<Item = Result<Source, Error>> + 'a {
        let files = self.directories.iter().filter_map(move |directory| {
            let paths: Vec<PathBuf> = EXTENSIONS
                .iter()
                .map(|extension| directory.join(format!("{name}.{extension}")))
                .filter(|path| path.is_file())
                .collect();
            match paths.as_slice() {
                [] => None,
                [only] => Some(Ok(Source::File(only.clone()))),
                [first, second, ..] => Some(Err(Error::Ambiguous {
                    name: name.to_string(),
                    first: first.clone(),
                    second: second.clone(),
                })),
            }
        });
        let built_in = self
            .built_ins
            .then(|| built_in(name))
            .flatten()
            .map(|(built_in_name, _)| Ok(Source::BuiltIn(built_in_name)));
        files.chain(built_in)
    }
}

fn load(source: Source) -> Result<Found, Error> {
    let text = match &source {
        Source::File(path) => std::fs::read_to_string(path)
            .map_err(|error| Error::Read {
                path: path.clone(),
                source: Arc::new(error),
            })?
            .into(),
        Source::BuiltIn(name) => built_in(name).map(|(_, text)| text).unwrap_or("").into(),
    };
    Ok(Found { source, text })
}

/// Whether two sources are the same file (canonical paths compared, so
/// `./x/a.yaml` and `x/a.yaml` match).
pub fn same_file(left: &Source, right: &Source) -> bool {
    match (left, right) {
        (Source::File(left), Source::File(right)) => {
            left == right
                || matches!(
                    (left.canonicalize(), right.canonicalize()),
                    (Ok(left), Ok(right)) if left == right
                )
        }
        _ => left == right,
    }
}

/// A bottle's text and where it came from.
#[derive(Debug, Clone)]
pub struct Found {
    pub source: Source,
    pub text: std::borrow::Cow<'static, str>,
}
