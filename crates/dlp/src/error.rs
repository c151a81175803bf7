//! The one error type of the DLP crate.
//!
//! Errors arise only while building a [`crate::Scanner`] (bad detector list,
//! bad rule file, bad held secret); scanning itself never fails, so the hot
//! path has no error handling at all.

/// Everything that can go wrong while configuring the DLP engine.
#[derive(Debug, thiserror::Error)]
pub enum DlpError {
    /// A detector list named something that is not a detector.
    #[error(
        "unknown detector {name:?} in {list:?}; expected a comma list of known, patterns, unicode, crlf, entropy, all"
    )]
    UnknownDetector { name: String, list: String },

    /// A rule file is not valid TOML or does not have the rule file's shape.
    #[error("{source_name}: not a valid rule file")]
    RuleFile {
        source_name: String,
        #[source]
        source: toml::de::Error,
    },

    /// A rule's regex (or one of its allowlist regexes) does not compile.
    #[error("{source_name}: rule {rule_id:?}: field `{field}` is not a valid regex")]
    RuleRegex {
        source_name: String,
        rule_id: String,
        field: &'static str,
        #[source]
        source: Box<regex_automata::meta::BuildError>,
    },

    /// A gitleaks config file is not valid TOML or does not have the
    /// config's shape.
    #[error("{source_name}: not a valid gitleaks config: {reason}")]
    GitleaksFile { source_name: String, reason: String },

    /// A regex of a gitleaks config does not compile as an engine regex.
    #[error("{source_name}: rule {rule_id:?}: field `{field}` is not a valid regex: {reason}")]
    GitleaksRegex {
        source_name: String,
        rule_id: String,
        field: String,
        reason: String,
    },

    /// A rule is well-formed TOML but breaks one of the rule file's rules.
    #[error("{source_name}: rule {rule_id:?}: {reason}")]
    RuleInvalid {
        source_name: String,
        rule_id: String,
        reason: String,
    },

    /// A rule file holds more rules, or its rules take more memory
    /// compiled, than one file may (`MAX_RULES_PER_FILE`,
    /// `MAX_RULE_FILE_COMPILED_BYTES`).
    #[error("{source_name}: {reason}")]
    RuleFileTooLarge { source_name: String, reason: String },

    /// Two rules share an id.
    #[error("{source_name}: rule id {rule_id:?} is already defined in {first_source}")]
    DuplicateRule {
        source_name: String,
        rule_id: String,
        first_source: String,
    },

    /// The keyword prefilter over every rule could not be built.
    #[error("the rules' keyword prefilter could not be built")]
    Prefilter {
        #[source]
        source: aho_corasick::BuildError,
    },

    /// A held secret has an empty value.
    #[error("held secret {name} is empty")]
    EmptySecret { name: String },

    /// The matcher over short held secrets or safe values could not be built.
    #[error("the {what} matcher could not be built")]
    Matcher {
        what: &'static str,
        #[source]
        source: aho_corasick::BuildError,
    },
}
