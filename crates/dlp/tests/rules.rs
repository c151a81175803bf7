//! Every rule's own examples, from the rule file itself, plus explicit
//! tests of the rule machinery (keywords, entropy floors, allowlists, user
//! rule files).

#![allow(clippy::expect_used, reason = "test setup panics on failure")]

use bot_bottle_dlp::{Detector, DetectorSet, RuleSet, Scanner, ScannerConfig};

fn patterns_only(extra_rules: Vec<RuleSet>) -> Scanner {
    Scanner::new(ScannerConfig {
        detectors: DetectorSet::empty().with(Detector::Patterns),
        extra_rules,
        ..ScannerConfig::default()
    })
    .expect("scanner builds")
}

fn rules_found(scanner: &Scanner, text: &str) -> Vec<String> {
    scanner
        .scan(text.as_bytes())
        .iter()
        .map(|finding| finding.rule.clone())
        .collect()
}

#[test]
fn every_builtin_rule_finds_its_positive_examples_and_not_its_negative_ones() {
    let rules = RuleSet::builtin().expect("built-in rules compile");
    let scanner = patterns_only(Vec::new());
    let mut failures = Vec::new();
    for rule in rules.rules() {
        for example in rule.positive_examples() {
            let found = rules_found(&scanner, example);
            if !found.iter().any(|id| id == rule.id()) {
                failures.push(format!(
                    "{}: positive example not found (found {found:?}): {example:?}",
                    rule.id()
                ));
            }
            let lowered = example.to_ascii_lowercase();
            if !rule
                .keywords()
                .iter()
                .any(|keyword| lowered.contains(&keyword.to_ascii_lowercase()))
            {
                failures.push(format!(
                    "{}: positive example has none of the keywords",
                    rule.id()
                ));
            }
        }
        for example in rule.negative_examples() {
            let found = rules_found(&scanner, example);
            if found.iter().any(|id| id == rule.id()) {
                failures.push(format!(
                    "{}: negative example matched: {example:?}",
                    rule.id()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_builtin_file_has_at_least_forty_providers_with_examples() {
    let rules = RuleSet::builtin().expect("built-in rules compile");
    let providers: std::collections::BTreeSet<&str> = rules
        .rules()
        .iter()
        .map(|rule| rule.id().split('-').next().unwrap_or_default())
        .collect();
    assert!(
        providers.len() >= 40,
        "{} providers: {providers:?}",
        providers.len()
    );
    assert!(
        rules.rules().iter().all(
            |rule| !rule.positive_examples().is_empty() && !rule.negative_examples().is_empty()
        )
    );
}

/// Token values assembled from parts, so no contiguous token sits in the
/// source.
fn token(parts: &[&str]) -> String {
    parts.concat()
}

#[test]
fn explicit_provider_examples() {
    let scanner = patterns_only(Vec::new());
    let cases = [
        (
            "github-pat-classic",
            token(&["gh", "p_", "Zq3xR8mT2vLp9WnB4cYd7KsF1hJg6AeU0oXi"]),
        ),
        (
            "aws-access-key-id",
            token(&["AK", "IA", "Q3ZR7MTXLP2WNB4C"]),
        ),
        (
            "anthropic-api-key",
            token(&[
                "sk-",
                "ant-api03-",
                &"Zq3xR8mT2vLp9WnB4cYd7KsF1hJg6AeU0oXi".repeat(2),
                "Qw8e7r6t5y4u3i2o1pAsDfGhJkLzXcVbNm1234567",
                "AA",
            ]),
        ),
        (
            "slack-token",
            token(&[
                "xo",
                "xb-",
                "123456789012-",
                "1234567890123-",
                "Zq3xR8mT2vLp9WnB4cYd7KsF",
            ]),
        ),
        (
            "stripe-key",
            token(&["sk", "_live_", "Zq3xR8mT2vLp9WnB4cYd7KsF"]),
        ),
        (
            "npm-token",
            token(&["np", "m_", "Zq3xR8mT2vLp9WnB4cYd7KsF1hJg6AeU0oXi"]),
        ),
        (
            "jwt",
            token(&[
                "ey",
                "JhbGciOiJIUzI1NiJ9.",
                "ey",
                "JzdWIiOiJhZ2VudCIsImV4cCI6MTc5OTk5OTk5OX0.",
                "Zq3xR8mT2vLp9WnB4cYd7KsF1hJg6AeU0oXi",
            ]),
        ),
        (
            "generic-secret-assignment",
            token(&["db_pass", "word = \"", "Zq3xR8mT2vLp9WnB", "\""]),
        ),
    ];
    for (rule, text) in cases {
        let found = rules_found(&scanner, &text);
        assert!(
            found.iter().any(|id| id == rule),
            "{rule} not found in its example; found {found:?}"
        );
    }
}

#[test]
fn findings_cover_the_secret_group_and_never_show_it() {
    let scanner = patterns_only(Vec::new());
    let secret = token(&["Zq3xR8mT2v", "Lp9WnB4cYd"]);
    let text = format!("config: password = \"{secret}\" # prod");
    let findings = scanner.scan(text.as_bytes());
    assert_eq!(findings.len(), 1, "{findings:?}");
    let finding = &findings[0];
    assert_eq!(&text[finding.start..finding.end], secret);
    assert!(
        !finding.preview.contains(&secret[2..18]),
        "{}",
        finding.preview
    );
    assert!(
        !format!("{finding:?}").contains(&secret),
        "Debug leaks the secret"
    );
}

#[test]
fn entropy_floor_and_allowlist_reject_placeholders() {
    let scanner = patterns_only(Vec::new());
    for text in [
        token(&["gh", "p_", &"a".repeat(36)]),
        "password = \"${DATABASE_PASSWORD}\"".to_string(),
        "password = \"changeme-please\"".to_string(),
        token(&["AK", "IA", "IOSFODNN7EXAMPLE"]),
    ] {
        assert!(rules_found(&scanner, &text).is_empty(), "{text}");
    }
}

#[test]
fn keywords_are_case_insensitive_but_regexes_decide() {
    let scanner = patterns_only(Vec::new());
    // The keyword `ghp_` in upper case triggers the prefilter, but the
    // regex is case-sensitive, so this is not a GitHub token.
    let text = token(&["GH", "P_", "Zq3xR8mT2vLp9WnB4cYd7KsF1hJg6AeU0oXi"]);
    assert!(rules_found(&scanner, &text).is_empty());
}

#[test]
fn a_user_rule_file_adds_rules() {
    let mine = RuleSet::from_toml_str(
        r#"
[[rule]]
id = "acme-token"
description = "ACME internal token"
keywords = ["acme_"]
regex = '''\b(acme_[a-z0-9]{20})\b'''
secret_group = 1
[rule.examples]
positive = ["acme_0123456789abcdefghij"]
negative = ["acme_short"]
"#,
        "acme.toml",
    )
    .expect("valid rule file");
    let scanner = patterns_only(vec![mine]);
    assert_eq!(
        rules_found(&scanner, "x acme_0123456789abcdefghij y"),
        vec!["acme-token"]
    );
    assert!(rules_found(&scanner, "acme_short").is_empty());
}

#[test]
fn a_user_rule_may_not_reuse_a_builtin_id() {
    let mine = RuleSet::from_toml_str(
        "[[rule]]\nid = \"jwt\"\ndescription = \"d\"\nkeywords = [\"x\"]\nregex = 'x{3}'\n",
        "mine.toml",
    )
    .expect("valid on its own");
    let error = Scanner::new(ScannerConfig {
        extra_rules: vec![mine],
        ..ScannerConfig::default()
    })
    .expect_err("duplicate id");
    assert_eq!(
        error.to_string(),
        "mine.toml: rule id \"jwt\" is already defined in builtin.toml"
    );
}

/// A rule file is held to `MAX_RULES_PER_FILE` rules and
/// `MAX_RULE_FILE_COMPILED_BYTES` of compiled regexes, in either format:
/// a git repo's own rules file is the agent's to write, and an audit's
/// 58 KB `.gitleaks.toml` of 1,000 rules like `q1z[a-z0-9]{1,32000}`
/// took the git gate to 7 GB.
#[test]
fn a_rule_file_is_held_to_its_rule_count_and_compiled_size() {
    use bot_bottle_dlp::{MAX_RULE_FILE_COMPILED_BYTES, MAX_RULES_PER_FILE};
    let native = |count: usize, regex: &dyn Fn(usize) -> String| {
        (0..count)
            .map(|index| {
                format!(
                    "[[rule]]\nid = \"r{index}\"\ndescription = \"d\"\nkeywords = [\"q{index}z\"]\nregex = '''{}'''\n",
                    regex(index)
                )
            })
            .collect::<String>()
    };
    let gitleaks = |count: usize, regex: &dyn Fn(usize) -> String| {
        (0..count)
            .map(|index| {
                format!(
                    "[[rules]]\nid = \"r{index}\"\nregex = '''{}'''\n",
                    regex(index)
                )
            })
            .collect::<String>()
    };
    let small = |index: usize| format!("q{index}z[a-z0-9]{{8}}");
    let big = |index: usize| format!("q{index}z[a-z0-9]{{1,32000}}");
    // At the count: fine, both formats.
    RuleSet::from_toml_str(&native(MAX_RULES_PER_FILE, &small), "r.toml").unwrap();
    RuleSet::from_gitleaks_toml(&gitleaks(MAX_RULES_PER_FILE, &small), ".gitleaks.toml").unwrap();
    // One over: refused, naming the bound.
    let error = RuleSet::from_toml_str(&native(MAX_RULES_PER_FILE + 1, &small), "r.toml")
        .unwrap_err()
        .to_string();
    assert!(error.contains("more than the 250"), "{error}");
    let error =
        RuleSet::from_gitleaks_toml(&gitleaks(MAX_RULES_PER_FILE + 1, &small), ".gitleaks.toml")
            .err()
            .unwrap()
            .to_string();
    assert!(error.contains("more than the 250"), "{error}");
    // The audit's rules: refused within a few, by their compiled size.
    let limit = format!("{} MiB", MAX_RULE_FILE_COMPILED_BYTES >> 20);
    let error = RuleSet::from_toml_str(&native(200, &big), "r.toml")
        .unwrap_err()
        .to_string();
    assert!(error.contains(&limit), "{error}");
    let error = RuleSet::from_gitleaks_toml(&gitleaks(200, &big), ".gitleaks.toml")
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains(&limit), "{error}");
    // The built-in rules are far inside both bounds.
    RuleSet::builtin().unwrap();
}
