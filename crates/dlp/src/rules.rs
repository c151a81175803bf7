//! Credential-shape rule files: parsing, validation and compilation.
//!
//! Rules are data (`rules/builtin.toml`, embedded at build time, plus any
//! file a user passes), so adding a provider needs no code. A rule is
//! compiled once into a byte-oriented, ASCII-class regex (linear time, so a
//! user's rule cannot cause catastrophic backtracking) and must have a
//! bounded match length: the keyword prefilter only searches a window of
//! that length around each keyword hit, and the streaming scanner keeps
//! that many bytes of overlap between chunks.

use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;
use serde::Deserialize;

use crate::entropy::shannon_entropy;
use crate::error::DlpError;

/// The built-in rule file, embedded in the binary.
pub const BUILTIN_RULES: &str = include_str!("../rules/builtin.toml");

/// Name of the built-in rule file in error messages and findings.
pub const BUILTIN_SOURCE: &str = "builtin.toml";

/// The longest match any rule may declare (bytes). Bounds the prefilter
/// windows and the streaming overlap.
pub const MAX_RULE_MATCH_LEN: usize = 32 * 1024;

/// The largest compiled size of one rule's regex (bytes).
const MAX_REGEX_SIZE: usize = 4 * 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    id: String,
    description: String,
    keywords: Vec<String>,
    regex: String,
    #[serde(default)]
    secret_group: Option<usize>,
    #[serde(default)]
    entropy: Option<f64>,
    #[serde(default)]
    max_len: Option<usize>,
    #[serde(default)]
    allowlist: AllowlistSpec,
    #[serde(default)]
    examples: ExamplesSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowlistSpec {
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    regexes: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExamplesSpec {
    #[serde(default)]
    positive: Vec<Example>,
    #[serde(default)]
    negative: Vec<Example>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Example {
    Text(String),
    Parts(Vec<String>),
}

impl Example {
    fn joined(self) -> String {
        match self {
            Example::Text(text) => text,
            Example::Parts(parts) => parts.concat(),
        }
    }
}

/// One compiled credential-shape rule.
#[derive(Debug, Clone)]
pub struct Rule {
    id: String,
    description: String,
    keywords: Vec<String>,
    source: String,
    pub(crate) regex: Regex,
    pub(crate) secret_group: usize,
    pub(crate) entropy: Option<f64>,
    pub(crate) max_len: usize,
    stopwords: Vec<String>,
    allow_regexes: Vec<Regex>,
    positive_examples: Vec<String>,
    negative_examples: Vec<String>,
}

impl Rule {
    /// The rule's unique id (a finding's `rule`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What the credential is.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The prefilter keywords.
    pub fn keywords(&self) -> &[String] {
        &self.keywords
    }

    /// The file the rule came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The longest match the rule can produce, in bytes.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Inputs the rule must find something in.
    pub fn positive_examples(&self) -> &[String] {
        &self.positive_examples
    }

    /// Inputs the rule must find nothing in.
    pub fn negative_examples(&self) -> &[String] {
        &self.negative_examples
    }

    /// Whether a candidate secret passes the entropy floor and the allowlist.
    pub(crate) fn accepts(&self, secret: &[u8]) -> bool {
        if let Some(floor) = self.entropy
            && shannon_entropy(secret) < floor
        {
            return false;
        }
        if !self.stopwords.is_empty() {
            let lowered = secret.to_ascii_lowercase();
            if self
                .stopwords
                .iter()
                .any(|stopword| memchr::memmem::find(&lowered, stopword.as_bytes()).is_some())
            {
                return false;
            }
        }
        !self
            .allow_regexes
            .iter()
            .any(|allow| allow.is_match(secret))
    }
}

/// The rules of one file.
#[derive(Debug, Clone)]
pub struct RuleSet {
    source_name: String,
    rules: Vec<Rule>,
}

fn syntax_config() -> syntax::Config {
    // Byte-oriented with ASCII classes: secrets are ASCII, and Unicode
    // classes would make every rule's automaton many times larger.
    syntax::Config::new().unicode(false).utf8(false)
}

fn compile(pattern: &str) -> Result<Regex, Box<meta::BuildError>> {
    Regex::builder()
        .syntax(syntax_config())
        .configure(
            Regex::config()
                .utf8_empty(false)
                .nfa_size_limit(Some(MAX_REGEX_SIZE)),
        )
        .build(pattern)
        .map_err(Box::new)
}

fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

impl RuleSet {
    /// The built-in rules.
    pub fn builtin() -> Result<Self, DlpError> {
        Self::from_toml_str(BUILTIN_RULES, BUILTIN_SOURCE)
    }

    /// Parse and compile a rule file. `source_name` (usually the path) is
    /// used in error messages.
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Self, DlpError> {
        let file: RuleFile = toml::from_str(text).map_err(|source| DlpError::RuleFile {
            source_name: source_name.to_string(),
            source,
        })?;
        let mut rules: Vec<Rule> = Vec::with_capacity(file.rule.len());
        for spec in file.rule {
            let rule = Self::compile_rule(spec, source_name)?;
            if rules.iter().any(|existing| existing.id == rule.id) {
                return Err(DlpError::DuplicateRule {
                    source_name: source_name.to_string(),
                    rule_id: rule.id,
                    first_source: source_name.to_string(),
                });
            }
            rules.push(rule);
        }
        Ok(Self {
            source_name: source_name.to_string(),
            rules,
        })
    }

    fn compile_rule(spec: RuleSpec, source_name: &str) -> Result<Rule, DlpError> {
        let invalid = |reason: String| DlpError::RuleInvalid {
            source_name: source_name.to_string(),
            rule_id: spec.id.clone(),
            reason,
        };
        if !is_valid_id(&spec.id) {
            return Err(invalid(
                "id must be non-empty lower-case letters, digits and dashes".to_string(),
            ));
        }
        if spec.keywords.is_empty() || spec.keywords.iter().any(String::is_empty) {
            return Err(invalid(
                "needs at least one non-empty keyword (the prefilter)".to_string(),
            ));
        }
        if let Some(floor) = spec.entropy
            && !(0.0..=8.0).contains(&floor)
        {
            return Err(invalid(format!(
                "entropy floor {floor} is outside 0..=8 bits per character"
            )));
        }
        let regex_error = |field: &'static str, source| DlpError::RuleRegex {
            source_name: source_name.to_string(),
            rule_id: spec.id.clone(),
            field,
            source,
        };
        let regex = compile(&spec.regex).map_err(|source| regex_error("regex", source))?;
        if regex.is_match(b"") {
            return Err(invalid("regex matches the empty string".to_string()));
        }
        let secret_group = spec.secret_group.unwrap_or(0);
        if secret_group
            >= regex
                .group_info()
                .group_len(regex_automata::PatternID::ZERO)
        {
            return Err(invalid(format!(
                "secret_group {secret_group} does not exist in the regex"
            )));
        }
        let computed_max = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(&spec.regex)
            .ok()
            .and_then(|hir| hir.properties().maximum_len());
        let max_len = match (computed_max, spec.max_len) {
            (Some(computed), Some(declared)) => computed.min(declared),
            (Some(computed), None) => computed,
            (None, Some(declared)) => declared,
            (None, None) => {
                return Err(invalid(
                    "regex has no upper bound on its match length: set max_len".to_string(),
                ));
            }
        };
        if max_len > MAX_RULE_MATCH_LEN {
            return Err(invalid(format!(
                "max_len {max_len} exceeds the limit of {MAX_RULE_MATCH_LEN} bytes"
            )));
        }
        let allow_regexes = spec
            .allowlist
            .regexes
            .iter()
            .map(|pattern| {
                compile(pattern).map_err(|source| regex_error("allowlist.regexes", source))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rule {
            id: spec.id.clone(),
            description: spec.description,
            keywords: spec.keywords,
            source: source_name.to_string(),
            regex,
            secret_group,
            entropy: spec.entropy,
            max_len,
            stopwords: spec
                .allowlist
                .stopwords
                .iter()
                .map(|stopword| stopword.to_ascii_lowercase())
                .collect(),
            allow_regexes,
            positive_examples: spec
                .examples
                .positive
                .into_iter()
                .map(Example::joined)
                .collect(),
            negative_examples: spec
                .examples
                .negative
                .into_iter()
                .map(Example::joined)
                .collect(),
        })
    }

    /// The file's name as given to [`RuleSet::from_toml_str`].
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> String {
        RuleSet::from_toml_str(text, "mine.toml")
            .expect_err("the rule file is invalid")
            .to_string()
    }

    #[test]
    fn builtin_rules_load_and_cover_forty_providers() {
        let rules = RuleSet::builtin().expect("built-in rules compile");
        assert!(rules.rules().len() >= 40, "{} rules", rules.rules().len());
        for rule in rules.rules() {
            assert!(
                !rule.positive_examples().is_empty(),
                "{} has no positive example",
                rule.id()
            );
            assert!(
                !rule.negative_examples().is_empty(),
                "{} has no negative example",
                rule.id()
            );
        }
    }

    #[test]
    fn unbounded_regex_needs_max_len() {
        let message = error_of(
            "[[rule]]\nid = \"mine\"\ndescription = \"d\"\nkeywords = [\"tok_\"]\nregex = 'tok_[a-z]+'\n",
        );
        assert!(message.contains("mine.toml: rule \"mine\""), "{message}");
        assert!(message.contains("max_len"), "{message}");
    }

    #[test]
    fn bad_regex_names_file_rule_and_field() {
        let message = error_of(
            "[[rule]]\nid = \"mine\"\ndescription = \"d\"\nkeywords = [\"tok_\"]\nregex = 'tok_[a-z'\n",
        );
        assert_eq!(
            message,
            "mine.toml: rule \"mine\": field `regex` is not a valid regex"
        );
    }

    #[test]
    fn unknown_fields_and_missing_keywords_are_refused() {
        let message = error_of(
            "[[rule]]\nid = \"mine\"\ndescription = \"d\"\nkeywords = []\nregex = 'tok_[a-z]{4}'\n",
        );
        assert!(message.contains("keyword"), "{message}");
        let message = error_of("[[rule]]\nid = \"mine\"\ndescriptio = \"d\"\n");
        assert!(
            message.starts_with("mine.toml: not a valid rule file"),
            "{message}"
        );
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let rule = "[[rule]]\nid = \"mine\"\ndescription = \"d\"\nkeywords = [\"tok_\"]\nregex = 'tok_[a-z]{4}'\n";
        let message = error_of(&format!("{rule}{rule}"));
        assert!(message.contains("already defined"), "{message}");
    }
}
