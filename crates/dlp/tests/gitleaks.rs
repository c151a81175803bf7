//! The gitleaks import on a realistic `.gitleaks.toml` (hand-written in the
//! style of gitleaks' default config; it is also a fuzz seed), together with
//! the built-in rules.

#![allow(clippy::expect_used, reason = "test setup panics on failure")]

use bot_bottle_dlp::{Detector, DetectorSet, GitleaksImport, RuleSet, Scanner, ScannerConfig};

const CONFIG: &str = include_str!("../fuzz/corpus-seed/gitleaks-realistic.toml");

fn import() -> GitleaksImport {
    RuleSet::from_gitleaks_toml(CONFIG, ".gitleaks.toml").expect("the config imports")
}

fn scanner() -> Scanner {
    Scanner::new(ScannerConfig {
        detectors: DetectorSet::empty().with(Detector::Patterns),
        extra_rules: vec![import().rules],
        ..ScannerConfig::default()
    })
    .expect("built-in and imported rules build together")
}

/// (rule, secret) of every finding.
fn found(text: &str) -> Vec<(String, String)> {
    scanner()
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

#[test]
fn the_rules_import_with_warnings_for_what_does_not_map() {
    let import = import();
    let ids: Vec<&str> = import.rules.rules().iter().map(|rule| rule.id()).collect();
    assert_eq!(
        ids,
        [
            "gitleaks-acme-api-key",
            "gitleaks-acme-db-password",
            "gitleaks-acme-webhook-url"
        ]
    );
    let names: Vec<&str> = import
        .rules
        .file_name_rules()
        .iter()
        .map(|rule| rule.id())
        .collect();
    assert_eq!(names, ["gitleaks-acme-keystore"]);
    let warnings = import.warnings.join("\n");
    assert_eq!(import.warnings.len(), 2, "{warnings}");
    assert!(warnings.contains("[extend] useDefault"), "{warnings}");
    assert!(warnings.contains("global allowlist: `paths`"), "{warnings}");
}

#[test]
fn each_rule_finds_its_credential() {
    let key = ["acme_", "live_", "q8zr2lmx9vtb4nwk7pyc3hsd6fja1eou"].concat();
    let findings = found(&format!("ACME_KEY = \"{key}\"\n"));
    assert!(
        findings.contains(&("gitleaks-acme-api-key".to_string(), key.clone())),
        "{findings:?}"
    );

    let password = "Xk9#mP2vL7qR4tW";
    let findings = found(&format!("acme_db_password: {password}\n"));
    assert!(
        findings.contains(&(
            "gitleaks-acme-db-password".to_string(),
            password.to_string()
        )),
        "{findings:?}"
    );

    let url = [
        "https://hooks.acme.example/services/",
        "T0A1B2C3D/",
        "q8Zr2LmX9vTb4NwK7pYc3HsD",
    ]
    .concat();
    let findings = found(&format!("notify: {url}\n"));
    assert!(
        findings.contains(&("gitleaks-acme-webhook-url".to_string(), url.clone())),
        "{findings:?}"
    );
}

#[test]
fn allowlisted_and_low_entropy_values_pass() {
    for text in [
        // rule stopwords
        "acme_db_password = changeme12345\n",
        "acme_db_password = my-example-password\n",
        // rule line allowlist
        "acme_db_password = Xk9#mP2vL7qR4tW  # not-a-secret\n",
        // global stopword
        "acme_db_password = placeholder99x\n",
        // entropy floor
        "ACME_KEY = acme_test_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
        // keyword absent
        "just some text\n",
    ] {
        let findings = found(text);
        assert!(
            !findings
                .iter()
                .any(|(rule, _)| rule.starts_with("gitleaks-")),
            "{text:?}: {findings:?}"
        );
    }
}

#[test]
fn the_built_in_rules_still_apply_next_to_the_import() {
    let key = ["AKIA", "QWERTYUIOPASDFGH"].concat();
    let findings = found(&format!("aws_access_key_id = {key}\n"));
    assert!(
        findings.iter().any(|(rule, _)| rule == "aws-access-key-id"),
        "{findings:?}"
    );
}

#[test]
fn every_gitleaks_seed_imports() {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus-seed");
    let mut seen = 0;
    for entry in std::fs::read_dir(&directory).expect("the seed corpus exists") {
        let path = entry.expect("readable entry").path();
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("");
        if name.starts_with("gitleaks-") {
            let text = std::fs::read_to_string(&path).expect("readable seed");
            let import =
                RuleSet::from_gitleaks_toml(&text, name).unwrap_or_else(|error| panic!("{error}"));
            assert!(!import.rules.rules().is_empty(), "{name}");
            seen += 1;
        }
    }
    assert!(seen >= 2, "{seen} gitleaks seeds");
}
