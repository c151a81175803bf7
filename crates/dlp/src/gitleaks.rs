//! Import of gitleaks v8 config files (`.gitleaks.toml`) as engine rules.
//!
//! Fail closed: a gitleaks *detection* is never dropped silently. What the
//! engine cannot honour is either refused (an error) or reported in
//! [`GitleaksImport::warnings`]; an allowlist entry that cannot be honoured
//! (`paths`, `commits`) is dropped with a warning, which only makes the scan
//! stricter. The built-in rules always stay on, and a gitleaks allowlist
//! (even the global one) applies only to the rules of its own file.
//!
//! Mapping (see `docs/dlp.md`, "Importing gitleaks rules"):
//! - `[[rules]]` → one rule with id `gitleaks-<id>` (lower-cased, other
//!   characters as `-`), its regex running over the whole input whenever a
//!   keyword occurs anywhere in it (or always, with no keywords), as
//!   gitleaks does; `secretGroup` unset means the first non-empty group.
//! - `[rules.allowlist]`, `[[rules.allowlists]]`, `[allowlist]` and
//!   `[[allowlists]]` (with `targetRules`) → per-rule allowlists with
//!   `regexes` (against the secret, the match or the line), `stopwords` and
//!   `condition`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::DlpError;
use crate::rules::{
    AllowTarget, AllowlistDraft, DraftError, FileBudget, FileNameRule, MAX_RULE_MATCH_LEN, Rule,
    RuleDraft, RuleSet, SecretGroup, compile,
};

/// Prefix of every imported rule's id, so imported rules never collide with
/// the built-in ones.
pub const GITLEAKS_ID_PREFIX: &str = "gitleaks-";

/// The rules of a gitleaks config and what of it could not be honoured.
#[derive(Debug, Clone)]
pub struct GitleaksImport {
    /// The translated rules.
    pub rules: RuleSet,
    /// One line per thing not imported or imported differently (no newline
    /// inside a line).
    pub warnings: Vec<String>,
}

type Unknown = BTreeMap<String, toml::Value>;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ConfigFile {
    title: Option<toml::Value>,
    description: Option<toml::Value>,
    #[serde(rename = "minVersion")]
    min_version: Option<toml::Value>,
    extend: Option<ExtendSpec>,
    rules: Vec<RuleSpec>,
    allowlist: Option<AllowlistSpec>,
    allowlists: Vec<AllowlistSpec>,
    #[serde(flatten)]
    unknown: Unknown,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ExtendSpec {
    #[serde(rename = "useDefault")]
    use_default: Option<bool>,
    path: Option<String>,
    url: Option<String>,
    #[serde(rename = "disabledRules")]
    disabled_rules: Vec<String>,
    #[serde(flatten)]
    unknown: Unknown,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RuleSpec {
    id: String,
    description: String,
    regex: Option<String>,
    #[serde(rename = "secretGroup")]
    secret_group: Option<usize>,
    entropy: Option<f64>,
    keywords: Vec<String>,
    path: Option<String>,
    tags: Vec<String>,
    allowlist: Option<AllowlistSpec>,
    allowlists: Vec<AllowlistSpec>,
    #[serde(rename = "skipReport")]
    skip_report: bool,
    required: Option<toml::Value>,
    #[serde(flatten)]
    unknown: Unknown,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AllowlistSpec {
    description: Option<String>,
    condition: Option<String>,
    #[serde(rename = "regexTarget")]
    regex_target: Option<String>,
    regexes: Vec<String>,
    stopwords: Vec<String>,
    paths: Vec<String>,
    commits: Vec<String>,
    #[serde(rename = "targetRules")]
    target_rules: Vec<String>,
    #[serde(flatten)]
    unknown: Unknown,
}

/// Where a list of unknown fields was found, for the warnings.
fn warn_unknown(warnings: &mut Vec<String>, place: &str, unknown: &Unknown) {
    for field in unknown.keys() {
        warnings.push(format!("{place}: unknown field {field:?} ignored"));
    }
}

/// `gitleaks-` plus the id lower-cased, with every run of characters other
/// than ASCII letters and digits as one `-`. `None` if nothing is left.
fn engine_id(gitleaks_id: &str) -> Option<String> {
    let mut id = String::with_capacity(GITLEAKS_ID_PREFIX.len() + gitleaks_id.len());
    id.push_str(GITLEAKS_ID_PREFIX);
    let mut dash = false;
    let mut any = false;
    for character in gitleaks_id.chars() {
        if character.is_ascii_alphanumeric() {
            if dash && any {
                id.push('-');
            }
            dash = false;
            any = true;
            id.push(character.to_ascii_lowercase());
        } else {
            dash = true;
        }
    }
    any.then_some(id)
}

/// A one-line reason a regex does not compile.
fn regex_reason(error: &regex_automata::meta::BuildError) -> String {
    match error.syntax_error() {
        Some(regex_syntax::Error::Parse(parse)) => {
            format!("{} (at byte {})", parse.kind(), parse.span().start.offset)
        }
        Some(regex_syntax::Error::Translate(translate)) => format!(
            "{} (at byte {})",
            translate.kind(),
            translate.span().start.offset
        ),
        Some(other) => other.to_string().replace('\n', " "),
        None => error.to_string().replace('\n', " "),
    }
}

/// A checked allowlist, ready to be attached to the rules it applies to.
struct Allowed {
    target: AllowTarget,
    regexes: Vec<String>,
    stopwords: Vec<String>,
    require_all: bool,
    /// Gitleaks ids of the rules it is for (global `targetRules`); empty:
    /// every rule of the file.
    target_rules: Vec<String>,
    /// Where it came from, for errors (`allowlist`, `allowlists[2]`).
    field: String,
}

/// Check one allowlist. `Ok(None)`: it cannot be honoured at all (warned).
fn allowlist(
    spec: AllowlistSpec,
    place: &str,
    field: String,
    global: bool,
    source_name: &str,
    rule_id: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<Allowed>, DlpError> {
    let here = format!("{place} {field}");
    warn_unknown(warnings, &here, &spec.unknown);
    let _ = spec.description;
    let invalid = |reason: String| DlpError::RuleInvalid {
        source_name: source_name.to_string(),
        rule_id: rule_id.to_string(),
        reason,
    };
    let require_all = match spec
        .condition
        .as_deref()
        .map(|condition| condition.trim().to_ascii_uppercase())
        .as_deref()
    {
        None | Some("") | Some("OR") => false,
        Some("AND") => true,
        Some(other) => {
            return Err(invalid(format!(
                "{field}: condition {other:?} is neither \"OR\" nor \"AND\""
            )));
        }
    };
    let target = match spec
        .regex_target
        .as_deref()
        .map(|target| target.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("secret") => AllowTarget::Secret,
        Some("match") => AllowTarget::Match,
        Some("line") => AllowTarget::Line,
        Some(other) => {
            return Err(invalid(format!(
                "{field}: regexTarget {other:?} is none of \"secret\", \"match\", \"line\""
            )));
        }
    };
    if !global && !spec.target_rules.is_empty() {
        warnings.push(format!(
            "{here}: `targetRules` only means something in a global allowlist; ignored"
        ));
    }
    let mut stopwords = spec.stopwords;
    let before = stopwords.len();
    stopwords.retain(|stopword| !stopword.is_empty());
    if stopwords.len() != before {
        warnings.push(format!(
            "{here}: an empty stopword would allow every secret; dropped"
        ));
    }
    let mut unchecked: Vec<&str> = Vec::new();
    if !spec.paths.is_empty() {
        unchecked.push("paths");
    }
    if !spec.commits.is_empty() {
        unchecked.push("commits");
    }
    if !unchecked.is_empty() {
        let fields = unchecked.join("` and `");
        if require_all {
            warnings.push(format!(
                "{here}: `{fields}` cannot be checked by a content scanner and the condition is AND, so this allowlist never applies (stricter)"
            ));
            return Ok(None);
        }
        warnings.push(format!(
            "{here}: `{fields}` cannot be checked by a content scanner; ignored (stricter)"
        ));
    }
    if spec.regexes.is_empty() && stopwords.is_empty() {
        return Ok(None);
    }
    // Checked here once, so that the error names the allowlist (and a
    // global allowlist's regexes are checked even with no rule to use them).
    for pattern in &spec.regexes {
        compile(pattern).map_err(|source| DlpError::GitleaksRegex {
            source_name: source_name.to_string(),
            rule_id: rule_id.to_string(),
            field: format!("{}{field}.regexes", if global { "global " } else { "" }),
            reason: regex_reason(&source),
        })?;
    }
    Ok(Some(Allowed {
        target,
        regexes: spec.regexes,
        stopwords,
        require_all,
        target_rules: spec.target_rules,
        field,
    }))
}

impl RuleSet {
    /// Translate a gitleaks v8 config file into engine rules. `source_name`
    /// (usually the path) names the file in errors and findings.
    ///
    /// Errors: not TOML or not the config's shape, a rule without an id or
    /// without `regex` and `path`, a regex that does not compile (naming the
    /// rule and the reason), an unknown `condition` or `regexTarget`, an
    /// entropy floor outside 0..=8. Everything else the engine cannot
    /// honour is in the returned warnings.
    pub fn from_gitleaks_toml(text: &str, source_name: &str) -> Result<GitleaksImport, DlpError> {
        let file: ConfigFile = toml::from_str(text).map_err(|error| {
            let line = error.span().map(|span| {
                text.as_bytes()[..span.start.min(text.len())]
                    .iter()
                    .filter(|byte| **byte == b'\n')
                    .count()
                    + 1
            });
            let message = error.message().trim().replace(['\r', '\n'], " ");
            DlpError::GitleaksFile {
                source_name: source_name.to_string(),
                reason: match line {
                    Some(line) => format!("line {line}: {message}"),
                    None => message,
                },
            }
        })?;
        let mut warnings: Vec<String> = Vec::new();
        let _ = (file.title, file.description, file.min_version);
        warn_unknown(&mut warnings, "top level", &file.unknown);
        if let Some(extend) = file.extend {
            warn_unknown(&mut warnings, "[extend]", &extend.unknown);
            if extend.use_default.is_some() {
                warnings.push(
                    "[extend] useDefault: gitleaks' default rules are not imported; bot-bottle's built-in rules apply (always)"
                        .to_string(),
                );
            }
            if let Some(path) = extend.path.or(extend.url) {
                warnings.push(format!(
                    "[extend] {path:?} is not followed: the rules of that file are not imported"
                ));
            }
            if !extend.disabled_rules.is_empty() {
                warnings.push(
                    "[extend] disabledRules ignored: built-in rules cannot be disabled".to_string(),
                );
            }
        }

        let mut global: Vec<Allowed> = Vec::new();
        let global_specs = file
            .allowlist
            .map(|spec| (spec, "allowlist".to_string()))
            .into_iter()
            .chain(
                file.allowlists
                    .into_iter()
                    .enumerate()
                    .map(|(index, spec)| (spec, format!("allowlists[{}]", index + 1))),
            );
        for (spec, field) in global_specs {
            if let Some(allowed) = allowlist(
                spec,
                "global",
                field,
                true,
                source_name,
                "(global allowlist)",
                &mut warnings,
            )? {
                global.push(allowed);
            }
        }
        for allowed in &global {
            for target in &allowed.target_rules {
                if !file.rules.iter().any(|rule| rule.id == *target) {
                    warnings.push(format!(
                        "global {}: targetRules names {target:?}, which is not a rule of this file; that entry applies to nothing",
                        allowed.field
                    ));
                }
            }
        }

        let mut budget = FileBudget::new(source_name, file.rules.len())?;
        let mut rules = Vec::with_capacity(file.rules.len());
        let mut file_names: Vec<FileNameRule> = Vec::new();
        for (index, spec) in file.rules.into_iter().enumerate() {
            let gitleaks_id = spec.id.clone();
            let place = if gitleaks_id.is_empty() {
                format!("rules[{}]", index + 1)
            } else {
                format!("rule {gitleaks_id:?}")
            };
            let invalid = |reason: String| DlpError::RuleInvalid {
                source_name: source_name.to_string(),
                rule_id: if gitleaks_id.is_empty() {
                    place.clone()
                } else {
                    gitleaks_id.clone()
                },
                reason,
            };
            warn_unknown(&mut warnings, &place, &spec.unknown);
            let Some(base_id) = engine_id(&gitleaks_id) else {
                return Err(invalid(
                    "needs an `id` with at least one ASCII letter or digit".to_string(),
                ));
            };
            let regex = match (spec.regex, &spec.path) {
                (Some(regex), path) if !regex.is_empty() => {
                    if path.is_some() {
                        warnings.push(format!(
                            "{place}: `path` ignored: its regex applies to every file (stricter)"
                        ));
                    }
                    regex
                }
                (_, Some(path)) => {
                    if spec.skip_report {
                        warnings.push(format!(
                            "{place}: skipReport: gitleaks reports it only inside composite rules; not imported on its own"
                        ));
                        continue;
                    }
                    let rule = file_name_rule(
                        &spec.description,
                        &gitleaks_id,
                        &base_id,
                        path,
                        &rules,
                        &file_names,
                    )
                    .map_err(|source| DlpError::GitleaksRegex {
                        source_name: source_name.to_string(),
                        rule_id: gitleaks_id.clone(),
                        field: "path".to_string(),
                        reason: regex_reason(&source),
                    })?;
                    if rule.id() != base_id {
                        warnings.push(format!(
                            "{place}: id {base_id:?} is already taken in this file; imported as {:?}",
                            rule.id()
                        ));
                    }
                    if spec.allowlist.is_some() || !spec.allowlists.is_empty() {
                        warnings.push(format!(
                            "{place}: its allowlists are ignored: a file-name rule reports every file whose path matches (stricter)"
                        ));
                    }
                    budget.charge_file_name(&rule)?;
                    file_names.push(rule);
                    continue;
                }
                (_, None) => return Err(invalid("has neither `regex` nor `path`".to_string())),
            };
            if spec.skip_report {
                warnings.push(format!(
                    "{place}: skipReport: gitleaks reports it only inside composite rules; not imported on its own"
                ));
                continue;
            }
            if spec.required.is_some() {
                warnings.push(format!(
                    "{place}: `required` (composite rule) ignored: the rule reports on its own, without the required rules nearby (stricter)"
                ));
            }
            let mut id = base_id.clone();
            let mut suffix = 2;
            while id_taken(&id, &rules, &file_names) {
                id = format!("{base_id}-{suffix}");
                suffix += 1;
            }
            if id != base_id {
                warnings.push(format!(
                    "{place}: id {base_id:?} is already taken in this file; imported as {id:?}"
                ));
            }

            let mut drafts: Vec<AllowlistDraft> = Vec::new();
            let own = spec
                .allowlist
                .map(|allowlist| (allowlist, "allowlist".to_string()))
                .into_iter()
                .chain(
                    spec.allowlists
                        .into_iter()
                        .enumerate()
                        .map(|(index, allowlist)| {
                            (allowlist, format!("allowlists[{}]", index + 1))
                        }),
                );
            let mut own_allowed = Vec::new();
            for (allowlist_spec, field) in own {
                if let Some(allowed) = allowlist(
                    allowlist_spec,
                    &place,
                    field,
                    false,
                    source_name,
                    &gitleaks_id,
                    &mut warnings,
                )? {
                    own_allowed.push(allowed);
                }
            }
            let applicable = own_allowed
                .iter()
                .map(|allowed| (allowed, String::new()))
                .chain(
                    global
                        .iter()
                        .filter(|allowed| {
                            allowed.target_rules.is_empty()
                                || allowed.target_rules.contains(&gitleaks_id)
                        })
                        .map(|allowed| (allowed, "global ".to_string())),
                );
            for (allowed, scope) in applicable {
                drafts.push(AllowlistDraft {
                    field: format!("{scope}{}.regexes", allowed.field),
                    target: allowed.target,
                    regexes: allowed.regexes.clone(),
                    stopwords: allowed.stopwords.clone(),
                    require_all: allowed.require_all,
                });
            }

            let entropy = spec.entropy.filter(|floor| *floor != 0.0);
            let keywords: Vec<String> = spec
                .keywords
                .into_iter()
                .filter(|keyword| !keyword.is_empty())
                .map(|keyword| keyword.to_ascii_lowercase())
                .collect();
            let draft = RuleDraft {
                id,
                description: if spec.description.is_empty() {
                    gitleaks_id.clone()
                } else {
                    spec.description
                },
                keywords,
                tags: spec.tags,
                regex,
                secret_group: match spec.secret_group {
                    None | Some(0) => SecretGroup::FirstNonEmpty,
                    Some(group) => SecretGroup::Index(group),
                },
                entropy,
                // An unbounded gitleaks regex is bounded by the engine's
                // limit (the streaming overlap); a match longer than that is
                // only found when it lies within one scanned buffer.
                max_len: Some(MAX_RULE_MATCH_LEN),
                whole_input: true,
                allowlists: drafts,
                positive_examples: Vec::new(),
                negative_examples: Vec::new(),
            };
            let rule = draft
                .compile(source_name)
                .map_err(|failure| match failure {
                    DraftError::Invalid(reason) => {
                        invalid(reason.replace("secret_group", "secretGroup"))
                    }
                    DraftError::Regex { field, source } => DlpError::GitleaksRegex {
                        source_name: source_name.to_string(),
                        rule_id: if gitleaks_id.is_empty() {
                            place.clone()
                        } else {
                            gitleaks_id.clone()
                        },
                        field,
                        reason: regex_reason(&source),
                    },
                })?;
            budget.charge(&rule)?;
            rules.push(rule);
        }
        Ok(GitleaksImport {
            rules: RuleSet::from_rules(source_name, rules, file_names),
            warnings,
        })
    }
}

/// Whether a rule of this file already has `id`.
fn id_taken(id: &str, rules: &[Rule], file_names: &[FileNameRule]) -> bool {
    rules.iter().any(|rule| rule.id() == id) || file_names.iter().any(|rule| rule.id() == id)
}

/// A `path`-only rule as a rule on file names, under a free id made from
/// `base_id` (the regex is gitleaks', matched against the file's path).
fn file_name_rule(
    description: &str,
    gitleaks_id: &str,
    base_id: &str,
    path: &str,
    rules: &[Rule],
    file_names: &[FileNameRule],
) -> Result<FileNameRule, Box<regex_automata::meta::BuildError>> {
    let mut id = base_id.to_string();
    let mut suffix = 2;
    while id_taken(&id, rules, file_names) {
        id = format!("{base_id}-{suffix}");
        suffix += 1;
    }
    let description = if description.is_empty() {
        gitleaks_id
    } else {
        description
    };
    FileNameRule::compile(id, description.to_string(), path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Detector, DetectorSet, ScannerConfig};
    use crate::scanner::Scanner;

    fn import(text: &str) -> GitleaksImport {
        RuleSet::from_gitleaks_toml(text, ".gitleaks.toml")
            .unwrap_or_else(|error| panic!("{error}"))
    }

    fn error_of(text: &str) -> String {
        match RuleSet::from_gitleaks_toml(text, ".gitleaks.toml") {
            Ok(import) => panic!("accepted: {:?}", import.warnings),
            Err(error) => error.to_string(),
        }
    }

    /// Patterns only, built-in rules plus these.
    fn scanner(import: &GitleaksImport) -> Scanner {
        Scanner::new(ScannerConfig {
            detectors: DetectorSet::empty().with(Detector::Patterns),
            extra_rules: vec![import.rules.clone()],
            ..ScannerConfig::default()
        })
        .unwrap_or_else(|error| panic!("{error}"))
    }

    /// (rule, secret) of every finding.
    fn found(import: &GitleaksImport, text: &str) -> Vec<(String, String)> {
        scanner(import)
            .scan(text.as_bytes())
            .iter()
            .map(|finding| {
                (
                    finding.rule.clone(),
                    String::from_utf8_lossy(finding.matched.expose()).into_owned(),
                )
            })
            .collect()
    }

    const ACME: &str = r#"
[[rules]]
id = "Acme_Token.v2"
description = "ACME token"
regex = '''acme_([a-z0-9]{16})'''
keywords = ["ACME_"]
tags = ["internal", "acme"]
"#;

    #[test]
    fn a_rule_maps_id_description_keywords_tags() {
        let import = import(ACME);
        assert!(import.warnings.is_empty(), "{:?}", import.warnings);
        let rule = &import.rules.rules()[0];
        assert_eq!(rule.id(), "gitleaks-acme-token-v2");
        assert_eq!(rule.description(), "ACME token");
        assert_eq!(rule.keywords(), ["acme_"]);
        assert_eq!(rule.tags(), ["internal", "acme"]);
        assert_eq!(rule.source(), ".gitleaks.toml");
        assert_eq!(import.rules.source_name(), ".gitleaks.toml");
    }

    #[test]
    fn without_secret_group_the_first_non_empty_group_is_the_secret() {
        let import = import(ACME);
        assert_eq!(
            found(&import, "x = acme_0123456789abcdef\n"),
            [(
                "gitleaks-acme-token-v2".to_string(),
                "0123456789abcdef".to_string()
            )]
        );
        let import = self::import(
            r#"
[[rules]]
id = "two"
regex = '''(?:(left)|(right))=([0-9]{6})'''
keywords = ["=", "left", "right"]
"#,
        );
        assert_eq!(found(&import, "right=123456")[0].1, "right");
        let whole = self::import("[[rules]]\nid = \"w\"\nregex = 'zz[0-9]{6}'\n");
        assert_eq!(found(&whole, "zz123456")[0].1, "zz123456");
    }

    #[test]
    fn secret_group_picks_the_group_and_must_exist() {
        let import = import(
            "[[rules]]\nid = \"g\"\nregex = '(key)=([0-9]{6})'\nsecretGroup = 2\nkeywords = [\"key\"]\n",
        );
        assert_eq!(found(&import, "key=123456")[0].1, "123456");
        let message =
            error_of("[[rules]]\nid = \"g\"\nregex = '(key)=([0-9]{6})'\nsecretGroup = 3\n");
        assert!(message.contains("rule \"g\""), "{message}");
        assert!(message.contains("secretGroup 3"), "{message}");
    }

    #[test]
    fn the_entropy_floor_applies_to_the_secret() {
        let import = import(
            "[[rules]]\nid = \"e\"\nregex = 'tok=([a-z0-9]{12})'\nentropy = 3.0\nkeywords = [\"tok=\"]\n",
        );
        assert!(found(&import, "tok=aaaaaaaaaaaa").is_empty());
        assert_eq!(found(&import, "tok=q8zr2lmx9vtb").len(), 1);
        let message = error_of("[[rules]]\nid = \"e\"\nregex = 'x[0-9]'\nentropy = 9.5\n");
        assert!(message.contains("entropy floor 9.5"), "{message}");
    }

    #[test]
    fn a_keyword_anywhere_in_the_input_runs_the_rule_over_all_of_it() {
        let import =
            import("[[rules]]\nid = \"far\"\nregex = 'val_[0-9]{8}'\nkeywords = [\"marker\"]\n");
        let far = format!("marker\n{}\nval_12345678\n", "filler ".repeat(20_000));
        assert_eq!(found(&import, &far).len(), 1);
        assert!(found(&import, "val_12345678").is_empty());
    }

    #[test]
    fn a_rule_without_keywords_runs_on_every_input() {
        let import =
            import("[[rules]]\nid = \"free\"\nregex = 'val_[0-9]{8}'\nkeywords = [\"\"]\n");
        assert!(import.rules.rules()[0].keywords().is_empty());
        assert_eq!(found(&import, "a val_12345678 b").len(), 1);
        assert!(found(&import, "nothing here").is_empty());
    }

    #[test]
    fn go_flags_and_anchors_compile() {
        let import = import("[[rules]]\nid = \"go\"\nregex = '(?i)^tok_[a-z]{4}\\z'\n");
        assert_eq!(found(&import, "TOK_AbCd").len(), 1);
        assert!(found(&import, "TOK_AbCd\n").is_empty());
        // Go syntax the default config uses.
        for regex in [
            r#"(?i)[\w.-]{0,50}?(?:key)(?:[ \t\w.-]{0,20})[\s'"]{0,3}(?:=|>|:{1,3}=|\|\||:|=>|\?=|,)[\x60'"\s=]{0,5}([a-z0-9]{8,16})(?:[\x60'"\s;]|\\[nr]|$)"#,
            r"[[:alpha:]]{4}[[:digit:]]{4}",
            r"(?-i:AB)(?i:cd)[0-9]{2}",
        ] {
            let text = format!("[[rules]]\nid = \"syntax\"\nregex = '''{regex}'''\n");
            assert!(
                RuleSet::from_gitleaks_toml(&text, "s.toml").is_ok(),
                "{regex}"
            );
        }
        // What the engine refuses (docs/dlp.md lists these).
        for regex in [r"\p{L}{4}", r"\Qa.b\E", "[é]x", r"(a)\1"] {
            let text = format!("[[rules]]\nid = \"refused\"\nregex = '''{regex}'''\n");
            let message = error_of(&text);
            assert!(
                message.contains("is not a valid regex: "),
                "{regex}: {message}"
            );
        }
        // Unbounded: accepted, bounded by the engine's limit.
        let import = self::import("[[rules]]\nid = \"long\"\nregex = 'tok_[a-z]+'\n");
        assert_eq!(import.rules.rules()[0].max_len(), MAX_RULE_MATCH_LEN);
    }

    #[test]
    fn a_bad_regex_names_the_file_the_rule_and_the_reason() {
        let message = error_of("[[rules]]\nid = \"look\"\nregex = 'tok_(?=[a-z]{4})'\n");
        assert!(
            message
                .starts_with(".gitleaks.toml: rule \"look\": field `regex` is not a valid regex: "),
            "{message}"
        );
        assert!(message.contains("look-around"), "{message}");
        let message = error_of("[[rules]]\nid = \"cls\"\nregex = 'tok_[a-z'\n");
        assert!(message.contains("unclosed character class"), "{message}");
        assert!(!message.contains('\n'), "{message}");
        let message = error_of(
            "[[rules]]\nid = \"al\"\nregex = 'tok_[a-z]{4}'\n[[rules.allowlists]]\nregexes = ['(']\n",
        );
        assert!(
            message.contains("rule \"al\": field `allowlists[1].regexes`"),
            "{message}"
        );
        let message = error_of("[allowlist]\nregexes = ['[']\n");
        assert!(
            message.contains("\"(global allowlist)\": field `global allowlist.regexes`"),
            "{message}"
        );
    }

    #[test]
    fn broken_files_and_rules_are_errors() {
        let message = error_of("[[rules]]\nid = \"x\"\nregex = 'a[0-9]'\n[[rules]\n");
        assert!(
            message.starts_with(".gitleaks.toml: not a valid gitleaks config: line 4"),
            "{message}"
        );
        let message = error_of("[[rules]]\nid = 5\n");
        assert!(message.contains("not a valid gitleaks config"), "{message}");
        let message = error_of("[[rules]]\ndescription = \"no id\"\nregex = 'a[0-9]'\n");
        assert!(message.contains("rules[1]"), "{message}");
        let message = error_of("[[rules]]\nid = \"nothing\"\n");
        assert!(message.contains("neither `regex` nor `path`"), "{message}");
        let message = error_of("[[rules]]\nid = \"empty\"\nregex = 'a*'\n");
        assert!(message.contains("empty string"), "{message}");
        let message = error_of(
            "[[rules]]\nid = \"c\"\nregex = 'a[0-9]'\n[rules.allowlist]\ncondition = \"XOR\"\nregexes = ['a']\n",
        );
        assert!(message.contains("condition \"XOR\""), "{message}");
        let message = error_of(
            "[[rules]]\nid = \"t\"\nregex = 'a[0-9]'\n[rules.allowlist]\nregexTarget = \"file\"\nregexes = ['a']\n",
        );
        assert!(message.contains("regexTarget \"file\""), "{message}");
    }

    const ALLOW: &str = r#"
[[rules]]
id = "tok"
regex = '''(?:tok|TOK)=([A-Za-z0-9]{10})'''
keywords = ["tok="]
[rules.allowlist]
regexes = ['''^EXAMPLE''']
stopwords = ["dummy"]
[[rules.allowlists]]
regexTarget = "match"
regexes = ['''^TOK=''']
[[rules.allowlists]]
regexTarget = "line"
regexes = ['''#\s*gitleaks:allow''']
[[rules.allowlists]]
condition = "AND"
regexes = ['''0000$''']
stopwords = ["zz"]
"#;

    #[test]
    fn rule_allowlists_by_secret_match_line_and_condition() {
        let import = import(ALLOW);
        assert!(import.warnings.is_empty(), "{:?}", import.warnings);
        let hits = |text: &str| found(&import, text).len();
        assert_eq!(hits("tok=q8Zr2LmX9v"), 1);
        // secret regex, stopword (case-insensitive)
        assert_eq!(hits("tok=EXAMPLE123"), 0);
        assert_eq!(hits("tok=abDUMMYxyz"), 0);
        // match target: the upper-case form is allowed, the lower-case not
        assert_eq!(hits("TOK=q8Zr2LmX9v"), 0);
        // line target
        assert_eq!(hits("x\ntok=q8Zr2LmX9v # gitleaks:allow\ny"), 0);
        assert_eq!(hits("# gitleaks:allow\ntok=q8Zr2LmX9v\n"), 1);
        // AND: both the regex and the stopword
        assert_eq!(hits("tok=abzzcd0000"), 0);
        assert_eq!(hits("tok=abyycd0000"), 1);
        assert_eq!(hits("tok=abzzcd0001"), 1);
    }

    #[test]
    fn global_allowlists_apply_to_imported_rules_only_and_to_their_targets() {
        let text = r#"
[[rules]]
id = "one"
regex = '''one_[a-z0-9]{12}'''
[[rules]]
id = "two"
regex = '''two_[a-z0-9]{12}'''
[allowlist]
stopwords = ["example"]
[[allowlists]]
targetRules = ["two", "not-here"]
regexes = ['''^two_test''']
[[allowlists]]
regexes = ['''AKIA''']
"#;
        let import = import(text);
        assert_eq!(import.warnings.len(), 1, "{:?}", import.warnings);
        assert!(
            import.warnings[0].contains("\"not-here\""),
            "{:?}",
            import.warnings
        );
        assert!(found(&import, "one_examplexxxxx").is_empty());
        assert!(found(&import, "two_examplexxxxx").is_empty());
        assert!(found(&import, "two_testabcdefgh").is_empty());
        assert_eq!(found(&import, "one_testabcdefgh").len(), 1);
        // The built-in AWS rule is not weakened by the global allowlist.
        let key = ["AKIA", "QWERTYUIOPASDFGH"].concat();
        let findings = found(&import, &format!("aws_access_key_id = {key}\n"));
        assert!(
            findings.iter().any(|(rule, _)| rule == "aws-access-key-id"),
            "{findings:?}"
        );
    }

    #[test]
    fn paths_and_commits_in_allowlists_are_dropped_with_warnings() {
        let text = r#"
[[rules]]
id = "p"
regex = '''pp_[0-9]{8}'''
[rules.allowlist]
paths = ['''test/.*''']
regexes = ['''^pp_0000''']
[[rules.allowlists]]
condition = "AND"
commits = ["0123abcd"]
regexes = ['''^pp_1111''']
[allowlist]
paths = ['''vendor/''']
"#;
        let import = import(text);
        let warnings = import.warnings.join("\n");
        assert_eq!(import.warnings.len(), 3, "{warnings}");
        assert!(
            warnings.contains(
                "rule \"p\" allowlist: `paths` cannot be checked by a content scanner; ignored"
            ),
            "{warnings}"
        );
        assert!(warnings.contains("rule \"p\" allowlists[1]: `commits` cannot be checked by a content scanner and the condition is AND, so this allowlist never applies"), "{warnings}");
        assert!(warnings.contains("global allowlist: `paths`"), "{warnings}");
        // The OR allowlist keeps its regex; the AND one is gone.
        assert!(found(&import, "pp_00001234").is_empty());
        assert_eq!(found(&import, "pp_11111234").len(), 1);
    }

    #[test]
    fn a_path_only_rule_becomes_a_rule_on_file_names() {
        let import = import(
            r#"
[[rules]]
id = "pkcs12-file"
description = "PKCS #12 key store"
path = '''(?i)(?:^|/)[^/]+\.p(?:12|fx)$'''
[rules.allowlist]
regexes = ['''test''']
[[rules]]
id = "pkcs12 file"
regex = '''zz_[0-9]{8}'''
[[rules]]
id = "bad"
path = '''.env'''
skipReport = true
"#,
        );
        let names = import.rules.file_name_rules();
        assert_eq!(names.len(), 1, "{:?}", import.warnings);
        let rule = &names[0];
        assert_eq!(rule.id(), "gitleaks-pkcs12-file");
        assert_eq!(rule.description(), "PKCS #12 key store");
        assert!(rule.matches(b"certs/client.P12"));
        assert!(rule.matches(b"id.pfx"));
        assert!(!rule.matches(b"certs/client.p12.txt"));
        assert!(!rule.matches(b"notes/p12"));
        // The content rule after it gets a free id, not the file-name rule's.
        let ids: Vec<&str> = import.rules.rules().iter().map(|rule| rule.id()).collect();
        assert_eq!(ids, ["gitleaks-pkcs12-file-2"]);
        let warnings = import.warnings.join("\n");
        assert!(
            warnings.contains("its allowlists are ignored"),
            "{warnings}"
        );
        assert!(warnings.contains("rule \"bad\": skipReport"), "{warnings}");
        // Only the patterns detector applies them.
        let with = scanner(&import);
        assert_eq!(with.file_name_rules().count(), 1);
        let without = Scanner::new(ScannerConfig {
            detectors: DetectorSet::empty().with(Detector::Known),
            extra_rules: vec![import.rules.clone()],
            ..ScannerConfig::default()
        })
        .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(without.file_name_rules().count(), 0);
    }

    #[test]
    fn a_path_rule_whose_regex_does_not_compile_names_the_field() {
        let message = error_of("[[rules]]\nid = \"k\"\npath = '''(unclosed'''\n");
        assert!(message.contains("\"k\""), "{message}");
        assert!(message.contains("path"), "{message}");
    }

    #[test]
    fn unsupported_fields_are_warnings() {
        let text = r#"
title = "mine"
minVersion = "v8.25.0"
colour = "blue"
[extend]
useDefault = true
path = "base.toml"
disabledRules = ["generic-api-key"]
[[rules]]
id = "names"
path = '''\.pem$'''
[[rules]]
id = "both"
regex = '''bb_[0-9]{8}'''
path = '''\.env$'''
speed = 3
[[rules]]
id = "aux"
regex = '''aa_[0-9]{8}'''
skipReport = true
[[rules]]
id = "comp"
regex = '''cc_[0-9]{8}'''
[[rules.required]]
id = "aux"
withinLines = 2
[[rules]]
id = "both"
regex = '''dd_[0-9]{8}'''
[[rules]]
id = "sw"
regex = '''ss_[0-9]{8}'''
[rules.allowlist]
stopwords = [""]
"#;
        let import = import(text);
        let warnings = import.warnings.join("\n");
        for expected in [
            "top level: unknown field \"colour\" ignored",
            "[extend] useDefault",
            "[extend] \"base.toml\" is not followed",
            "disabledRules ignored",
            "rule \"both\": `path` ignored",
            "rule \"both\": unknown field \"speed\" ignored",
            "rule \"aux\": skipReport",
            "rule \"comp\": `required`",
            "imported as \"gitleaks-both-2\"",
            "an empty stopword",
        ] {
            assert!(
                warnings.contains(expected),
                "{expected:?} not in:\n{warnings}"
            );
        }
        assert_eq!(import.warnings.len(), 10, "{warnings}");
        assert!(!warnings.contains('\r'));
        let ids: Vec<&str> = import.rules.rules().iter().map(|rule| rule.id()).collect();
        assert_eq!(
            ids,
            [
                "gitleaks-both",
                "gitleaks-comp",
                "gitleaks-both-2",
                "gitleaks-sw"
            ]
        );
        let names: Vec<&str> = import
            .rules
            .file_name_rules()
            .iter()
            .map(|rule| rule.id())
            .collect();
        assert_eq!(names, ["gitleaks-names"]);
        // The empty stopword was dropped, so the rule still reports.
        assert_eq!(found(&import, "ss_12345678").len(), 1);
        assert_eq!(found(&import, "cc_12345678").len(), 1);
    }

    #[test]
    fn an_empty_file_has_no_rules() {
        let import = import("");
        assert!(import.rules.rules().is_empty());
        assert!(import.warnings.is_empty());
    }

    #[test]
    fn ids_are_normalised() {
        assert_eq!(engine_id("AWS"), Some("gitleaks-aws".to_string()));
        assert_eq!(engine_id("--a__b--"), Some("gitleaks-a-b".to_string()));
        assert_eq!(engine_id("é"), None);
        assert_eq!(engine_id(""), None);
    }
}
