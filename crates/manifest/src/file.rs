//! One bottle file, parsed and checked on its own (before `extends:`).
//!
//! [`parse_manifest`] never fails and never panics: it returns whatever it
//! could make of the text plus every [`Diagnostic`] it found (YAML syntax,
//! unknown fields with a "did you mean" hint, wrong types, then the checks of
//! [`crate::validate`]). The fuzz target drives exactly this function.

use crate::de::{self, Problem, ProblemKind};
use crate::error::{Diagnostic, Source};
use crate::model::BottleFile;
use crate::tree::{self, Node};
use crate::validate;

/// Largest bottle file read, in bytes: a manifest is a few hundred lines.
pub const MAX_MANIFEST_BYTES: usize = 1024 * 1024;

/// Largest edit distance for a "did you mean" suggestion; it must also be
/// at most a third of the suggested name's length, so that `loud` does not
/// suggest `off`.
pub const MAX_SUGGESTION_DISTANCE: usize = 2;

/// A parsed bottle file.
#[derive(Debug, Clone)]
pub struct ParsedFile {
    pub source: Source,
    /// The typed content; `None` when nothing usable could be read.
    pub file: Option<BottleFile>,
    /// The YAML tree, kept for line numbers (provenance).
    pub tree: Node,
    /// Every problem found; the file is valid when this is empty.
    pub diagnostics: Vec<Diagnostic>,
}

impl ParsedFile {
    /// The typed content when the file has no problems.
    pub fn valid(&self) -> Option<&BottleFile> {
        if self.diagnostics.is_empty() {
            self.file.as_ref()
        } else {
            None
        }
    }

    /// The line of a value, given its path as written.
    pub fn line_of(&self, path: &tree::FieldPath) -> Option<usize> {
        self.tree.line_of(path)
    }
}

/// The closest known name to `field`, if one is close enough.
pub fn suggest<'a>(field: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|candidate| (strsim::damerau_levenshtein(field, candidate), *candidate))
        .filter(|(distance, candidate)| {
            *distance <= MAX_SUGGESTION_DISTANCE && *distance * 3 <= candidate.len()
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn diagnostic_from_problem(source: &Source, problem: &Problem) -> Diagnostic {
    let mut message = problem.to_string();
    let mut hint = None;
    match &problem.kind {
        ProblemKind::UnknownField { field, expected } => {
            hint = Some(match suggest(field, expected) {
                Some(candidate) => format!("did you mean `{candidate}`?"),
                None => format!("known fields: {}", de::one_of(expected)),
            });
        }
        ProblemKind::UnknownVariant { variant, expected } => {
            if let Some(candidate) = suggest(variant, expected) {
                hint = Some(format!("did you mean `{candidate}`?"));
            }
        }
        ProblemKind::MissingField(_) => {}
        ProblemKind::Message(text) => {
            if text.contains("untagged enum Extends") {
                message = "expected a bottle name or a list of bottle names".to_string();
            }
        }
    }
    Diagnostic {
        source: source.clone(),
        path: problem.path.clone(),
        line: problem.line,
        message,
        hint,
    }
}

/// Parse and check one bottle file's text.
pub fn parse_manifest(source: Source, text: &str) -> ParsedFile {
    if text.len() > MAX_MANIFEST_BYTES {
        return ParsedFile {
            diagnostics: vec![Diagnostic {
                source: source.clone(),
                path: tree::FieldPath::root(),
                line: None,
                message: format!(
                    "the file is {} bytes; a bottle file may be at most {MAX_MANIFEST_BYTES}",
                    text.len()
                ),
                hint: None,
            }],
            source,
            file: None,
            tree: Node::empty_map(),
        };
    }
    let mut tree = match tree::parse(text) {
        Ok(tree) => tree,
        Err(error) => {
            let line = error
                .location()
                .and_then(|location| usize::try_from(location.line()).ok())
                .filter(|line| *line > 0);
            return ParsedFile {
                diagnostics: vec![Diagnostic {
                    source: source.clone(),
                    path: tree::FieldPath::root(),
                    line,
                    message: format!("not valid YAML: {}", yaml_message(&error)),
                    hint: None,
                }],
                source,
                file: None,
                tree: Node::empty_map(),
            };
        }
    };
    let pristine = tree.clone();
    let (file, problems) = de::from_tree::<BottleFile>(&mut tree);
    let mut diagnostics: Vec<Diagnostic> = problems
        .iter()
        .map(|problem| diagnostic_from_problem(&source, problem))
        .collect();
    if let Some(file) = &file {
        for finding in validate::validate(file) {
            let path = tree.unpruned_to_written(&finding.path);
            diagnostics.push(Diagnostic {
                source: source.clone(),
                line: pristine.line_of(&path),
                path,
                message: finding.message,
                hint: finding.hint,
            });
        }
    }
    diagnostics.sort_by(|left, right| {
        (left.line.unwrap_or(0), &left.path).cmp(&(right.line.unwrap_or(0), &right.path))
    });
    ParsedFile {
        source,
        file,
        tree: pristine,
        diagnostics,
    }
}

/// serde-saphyr's message without its own location suffix (we print the
/// line ourselves).
fn yaml_message(error: &serde_saphyr::Error) -> String {
    let text = error.to_string();
    let mut first = text.lines().next().unwrap_or("").trim();
    // Developer advice about parser options means nothing to a user.
    if let Some(position) = first.find(", set DuplicateKeyPolicy") {
        first = &first[..position];
    }
    if first.starts_with("multiple YAML documents") {
        return "a bottle file holds one YAML document (found a second `---`)".to_string();
    }
    match first.rfind(" at line ") {
        Some(position) => first[..position].to_string(),
        None => first.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_pick_the_closest_known_name() {
        let known = ["host", "methods", "paths", "outbound_on_match"];
        assert_eq!(
            suggest("outbound_on_matc", &known),
            Some("outbound_on_match")
        );
        assert_eq!(suggest("methds", &known), Some("methods"));
        assert_eq!(suggest("colour", &known), None);
        assert_eq!(suggest("ful", &["off", "meta", "full"]), Some("full"));
        assert_eq!(suggest("loud", &["off", "meta", "full"]), None);
    }
}
