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

/// The most rules one rule file (either format) may hold. A git repo's own
/// rules file is written by whoever can push to its default branch — the
/// agent, through the git gate — and each rule is compiled and run on
/// every push: an audit's 58 KB `.gitleaks.toml` of 1,000 rules took the
/// gate to 7 GB. Gitleaks' own default config has about 200.
pub const MAX_RULES_PER_FILE: usize = 250;

/// The most heap one rule file's compiled regexes may take together, rules
/// and allowlists (bytes; each regex is also held to 4 MiB on its own).
pub const MAX_RULE_FILE_COMPILED_BYTES: usize = 32 * 1024 * 1024;

/// One rule file's rules counted against [`MAX_RULES_PER_FILE`] and their
/// compiled size against [`MAX_RULE_FILE_COMPILED_BYTES`], as they are
/// compiled (so an oversized file stops within one rule of the bound).
pub(crate) struct FileBudget {
    source_name: String,
    compiled: usize,
}

impl FileBudget {
    /// A budget for a file of `rules` rules; an error past the count.
    pub(crate) fn new(source_name: &str, rules: usize) -> Result<Self, DlpError> {
        if rules > MAX_RULES_PER_FILE {
            return Err(DlpError::RuleFileTooLarge {
                source_name: source_name.to_string(),
                reason: format!(
                    "it has {rules} rules, more than the {MAX_RULES_PER_FILE} one file may hold"
                ),
            });
        }
        Ok(Self {
            source_name: source_name.to_string(),
            compiled: 0,
        })
    }

    /// Count `rule`'s compiled size; an error past the bound.
    pub(crate) fn charge(&mut self, rule: &Rule) -> Result<(), DlpError> {
        self.charge_bytes(&rule.id, rule.compiled_bytes())
    }

    /// Count a file-name rule's compiled size; an error past the bound.
    pub(crate) fn charge_file_name(&mut self, rule: &FileNameRule) -> Result<(), DlpError> {
        self.charge_bytes(&rule.id, rule.pattern.memory_usage())
    }

    fn charge_bytes(&mut self, id: &str, bytes: usize) -> Result<(), DlpError> {
        self.compiled = self.compiled.saturating_add(bytes);
        if self.compiled > MAX_RULE_FILE_COMPILED_BYTES {
            return Err(DlpError::RuleFileTooLarge {
                source_name: self.source_name.clone(),
                reason: format!(
                    "its rules take more than {} MiB compiled (reached at rule {:?})",
                    MAX_RULE_FILE_COMPILED_BYTES >> 20,
                    id
                ),
            });
        }
        Ok(())
    }
}

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

/// Which capture group of a rule's regex is the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretGroup {
    /// This group (0: the whole match).
    Index(usize),
    /// The first capture group that matched something, else the whole
    /// match (gitleaks' behaviour when `secretGroup` is not set).
    FirstNonEmpty,
}

/// What an allowlist's regexes are matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AllowTarget {
    /// The secret (the capture group).
    Secret,
    /// The whole match of the rule's regex.
    Match,
    /// The line(s) the match is on, within the scanned buffer.
    Line,
}

/// One compiled allowlist of a rule: a candidate it allows is not a finding.
#[derive(Debug, Clone)]
pub(crate) struct Allowlist {
    target: AllowTarget,
    regexes: Vec<Regex>,
    /// Lower-cased; matched as substrings of the lower-cased secret.
    stopwords: Vec<String>,
    /// Every non-empty check must hold (gitleaks' `condition = "AND"`);
    /// otherwise any one is enough.
    require_all: bool,
}

impl Allowlist {
    fn allows(&self, input: &[u8], whole: (usize, usize), secret: &[u8]) -> bool {
        let regex_hit = (!self.regexes.is_empty()).then(|| {
            let target = match self.target {
                AllowTarget::Secret => secret,
                AllowTarget::Match => &input[whole.0..whole.1],
                AllowTarget::Line => line_around(input, whole.0, whole.1),
            };
            self.regexes.iter().any(|allow| allow.is_match(target))
        });
        let stopword_hit = (!self.stopwords.is_empty()).then(|| {
            let lowered = secret.to_ascii_lowercase();
            self.stopwords
                .iter()
                .any(|stopword| memchr::memmem::find(&lowered, stopword.as_bytes()).is_some())
        });
        let checks = [regex_hit, stopword_hit];
        let mut present = checks.iter().flatten().peekable();
        if present.peek().is_none() {
            return false;
        }
        if self.require_all {
            present.all(|hit| *hit)
        } else {
            present.any(|hit| *hit)
        }
    }
}

/// The line(s) holding `start..end`: from the byte after the last newline
/// before `start` to the first newline at or after `end`.
fn line_around(input: &[u8], start: usize, end: usize) -> &[u8] {
    let start = start.min(input.len());
    let end = end.clamp(start, input.len());
    let line_start = memchr::memrchr(b'\n', &input[..start]).map_or(0, |index| index + 1);
    let line_end = memchr::memchr(b'\n', &input[end..]).map_or(input.len(), |index| end + index);
    &input[line_start..line_end]
}

/// One compiled credential-shape rule.
#[derive(Debug, Clone)]
pub struct Rule {
    id: String,
    description: String,
    keywords: Vec<String>,
    tags: Vec<String>,
    source: String,
    pub(crate) regex: Regex,
    pub(crate) secret_group: SecretGroup,
    pub(crate) entropy: Option<f64>,
    pub(crate) max_len: usize,
    /// The regex runs over the whole input when a keyword occurs anywhere
    /// in it (or always, for a rule without keywords), not only in a window
    /// around the keyword (gitleaks' semantics).
    pub(crate) whole_input: bool,
    allowlists: Vec<Allowlist>,
    positive_examples: Vec<String>,
    negative_examples: Vec<String>,
}

impl Rule {
    /// Heap taken by the rule's compiled regexes (its own and its
    /// allowlists'), bytes.
    pub(crate) fn compiled_bytes(&self) -> usize {
        self.regex.memory_usage()
            + self
                .allowlists
                .iter()
                .flat_map(|allowlist| &allowlist.regexes)
                .map(Regex::memory_usage)
                .sum::<usize>()
    }

    /// The rule's unique id (a finding's `rule`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What the credential is.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The prefilter keywords. Empty only for an imported gitleaks rule
    /// without keywords, which runs on every input.
    pub fn keywords(&self) -> &[String] {
        &self.keywords
    }

    /// Free-form tags (from a gitleaks rule's `tags`; none for the engine's
    /// own rule format).
    pub fn tags(&self) -> &[String] {
        &self.tags
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

    /// The span of the secret in a match: the configured capture group, or
    /// the whole match when that group did not take part.
    pub(crate) fn secret_span(
        &self,
        captures: &regex_automata::util::captures::Captures,
        whole: regex_automata::Span,
    ) -> regex_automata::Span {
        match self.secret_group {
            SecretGroup::Index(group) => captures.get_group(group).unwrap_or(whole),
            SecretGroup::FirstNonEmpty => (1..captures.group_len())
                .filter_map(|group| captures.get_group(group))
                .find(|span| !span.is_empty())
                .unwrap_or(whole),
        }
    }

    /// Whether a candidate passes the entropy floor and no allowlist allows
    /// it. `whole` is the span of the regex's match in `input`, `secret`
    /// the span of the secret.
    pub(crate) fn accepts(
        &self,
        input: &[u8],
        whole: (usize, usize),
        secret: (usize, usize),
    ) -> bool {
        let secret = &input[secret.0..secret.1];
        if let Some(floor) = self.entropy
            && shannon_entropy(secret) < floor
        {
            return false;
        }
        !self
            .allowlists
            .iter()
            .any(|allowlist| allowlist.allows(input, whole, secret))
    }
}

/// A rule on file names, not content: a file whose path matches is a
/// finding whatever it holds (gitleaks' `path`-only rules, such as
/// `pkcs12-file` for `*.p12`: a binary key store no content rule can
/// read). Only the git gate has file names to check.
#[derive(Debug, Clone)]
pub struct FileNameRule {
    id: String,
    description: String,
    pattern: Regex,
}

impl FileNameRule {
    /// A rule named `id` on paths matching `pattern` (bounded like a
    /// content rule's regex). `Err` carries the regex error.
    pub(crate) fn compile(
        id: String,
        description: String,
        pattern: &str,
    ) -> Result<Self, Box<meta::BuildError>> {
        Ok(Self {
            id,
            description,
            pattern: compile(pattern)?,
        })
    }

    /// The rule's unique id (a finding's `rule`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What such a file is.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Whether `path` (relative, `/`-separated, as git names a file)
    /// matches.
    pub fn matches(&self, path: &[u8]) -> bool {
        self.pattern.is_match(path)
    }
}

/// The rules of one file.
#[derive(Debug, Clone)]
pub struct RuleSet {
    source_name: String,
    rules: Vec<Rule>,
    file_names: Vec<FileNameRule>,
}

fn syntax_config() -> syntax::Config {
    // Byte-oriented with ASCII classes: secrets are ASCII, and Unicode
    // classes would make every rule's automaton many times larger.
    syntax::Config::new().unicode(false).utf8(false)
}

pub(crate) fn compile(pattern: &str) -> Result<Regex, Box<meta::BuildError>> {
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

/// An allowlist before compilation.
pub(crate) struct AllowlistDraft {
    /// The field its regexes came from, for errors.
    pub(crate) field: String,
    pub(crate) target: AllowTarget,
    pub(crate) regexes: Vec<String>,
    pub(crate) stopwords: Vec<String>,
    pub(crate) require_all: bool,
}

/// A rule before compilation, from either rule file format. The front end
/// checks the id and the keywords; [`RuleDraft::compile`] the rest.
pub(crate) struct RuleDraft {
    pub(crate) id: String,
    pub(crate) description: String,
    pub(crate) keywords: Vec<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) regex: String,
    pub(crate) secret_group: SecretGroup,
    pub(crate) entropy: Option<f64>,
    /// The declared bound on the match length (needed if the regex has
    /// none of its own).
    pub(crate) max_len: Option<usize>,
    pub(crate) whole_input: bool,
    pub(crate) allowlists: Vec<AllowlistDraft>,
    pub(crate) positive_examples: Vec<String>,
    pub(crate) negative_examples: Vec<String>,
}

/// Why a [`RuleDraft`] does not compile.
pub(crate) enum DraftError {
    /// A rule of the rule file is broken (the reason).
    Invalid(String),
    /// A regex does not compile (the field it came from).
    Regex {
        field: String,
        source: Box<meta::BuildError>,
    },
}

impl RuleDraft {
    pub(crate) fn compile(self, source_name: &str) -> Result<Rule, DraftError> {
        if let Some(floor) = self.entropy
            && !(0.0..=8.0).contains(&floor)
        {
            return Err(DraftError::Invalid(format!(
                "entropy floor {floor} is outside 0..=8 bits per character"
            )));
        }
        let regex = compile(&self.regex).map_err(|source| DraftError::Regex {
            field: "regex".to_string(),
            source,
        })?;
        if regex.is_match(b"") {
            return Err(DraftError::Invalid(
                "regex matches the empty string".to_string(),
            ));
        }
        let groups = regex
            .group_info()
            .group_len(regex_automata::PatternID::ZERO);
        if let SecretGroup::Index(group) = self.secret_group
            && group >= groups
        {
            return Err(DraftError::Invalid(format!(
                "secret_group {group} does not exist in the regex"
            )));
        }
        let computed_max = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(&self.regex)
            .ok()
            .and_then(|hir| hir.properties().maximum_len());
        let max_len = match (computed_max, self.max_len) {
            (Some(computed), Some(declared)) => computed.min(declared),
            (Some(computed), None) => computed,
            (None, Some(declared)) => declared,
            (None, None) => {
                return Err(DraftError::Invalid(
                    "regex has no upper bound on its match length: set max_len".to_string(),
                ));
            }
        };
        if max_len > MAX_RULE_MATCH_LEN {
            return Err(DraftError::Invalid(format!(
                "max_len {max_len} exceeds the limit of {MAX_RULE_MATCH_LEN} bytes"
            )));
        }
        let mut allowlists = Vec::with_capacity(self.allowlists.len());
        for draft in self.allowlists {
            if draft.regexes.is_empty() && draft.stopwords.is_empty() {
                continue;
            }
            let regexes = draft
                .regexes
                .iter()
                .map(|pattern| compile(pattern))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|source| DraftError::Regex {
                    field: draft.field.clone(),
                    source,
                })?;
            allowlists.push(Allowlist {
                target: draft.target,
                regexes,
                stopwords: draft
                    .stopwords
                    .iter()
                    .map(|stopword| stopword.to_ascii_lowercase())
                    .collect(),
                require_all: draft.require_all,
            });
        }
        Ok(Rule {
            id: self.id,
            description: self.description,
            keywords: self.keywords,
            tags: self.tags,
            source: source_name.to_string(),
            regex,
            secret_group: self.secret_group,
            entropy: self.entropy,
            max_len,
            whole_input: self.whole_input,
            allowlists,
            positive_examples: self.positive_examples,
            negative_examples: self.negative_examples,
        })
    }
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
        let mut budget = FileBudget::new(source_name, file.rule.len())?;
        let mut rules: Vec<Rule> = Vec::with_capacity(file.rule.len());
        for spec in file.rule {
            let rule = Self::compile_rule(spec, source_name)?;
            budget.charge(&rule)?;
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
            file_names: Vec::new(),
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
        let draft = RuleDraft {
            id: spec.id.clone(),
            description: spec.description,
            keywords: spec.keywords,
            tags: Vec::new(),
            regex: spec.regex,
            secret_group: SecretGroup::Index(spec.secret_group.unwrap_or(0)),
            entropy: spec.entropy,
            max_len: spec.max_len,
            whole_input: false,
            allowlists: vec![AllowlistDraft {
                field: "allowlist.regexes".to_string(),
                target: AllowTarget::Secret,
                regexes: spec.allowlist.regexes,
                stopwords: spec.allowlist.stopwords,
                require_all: false,
            }],
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
        };
        draft.compile(source_name).map_err(|failure| match failure {
            DraftError::Invalid(reason) => invalid(reason),
            DraftError::Regex { field, source } => DlpError::RuleRegex {
                source_name: source_name.to_string(),
                rule_id: spec.id.clone(),
                field: if field == "regex" {
                    "regex"
                } else {
                    "allowlist.regexes"
                },
                source,
            },
        })
    }

    /// A rule set from rules compiled elsewhere (the gitleaks import). The
    /// ids must be unique across both lists.
    pub(crate) fn from_rules(
        source_name: &str,
        rules: Vec<Rule>,
        file_names: Vec<FileNameRule>,
    ) -> Self {
        Self {
            source_name: source_name.to_string(),
            rules,
            file_names,
        }
    }

    /// The file's name as given to [`RuleSet::from_toml_str`].
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rules on file names, in file order (none in the engine's own
    /// format; a gitleaks `path`-only rule is one).
    pub fn file_name_rules(&self) -> &[FileNameRule] {
        &self.file_names
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
