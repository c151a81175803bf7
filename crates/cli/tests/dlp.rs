//! `bot-bottle dlp scan`, driven through the real binary with a clean
//! environment (only the variables each test sets).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test setup panics on failure"
)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A held token for the tests (not a real credential).
const TOKEN: &str = "tk_Qm7ZpX2vR9sLw4NcB8yKd3JfH6gT1aEo";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn dlp(directory: &Path, arguments: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
    let output = Command::cargo_bin("bot-bottle")
        .unwrap()
        .arg("dlp")
        .arg("scan")
        .args(arguments)
        .current_dir(directory)
        .env_clear()
        .envs(env.iter().copied())
        .write_stdin(stdin)
        .output()
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn write(directory: &Path, name: &str, text: &str) -> PathBuf {
    let path = directory.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn github_token() -> String {
    ["gh", "p_", "Zq3xR8mT2vLp9WnB4cYd7KsF1hJg6AeU0oXi"].concat()
}

#[test]
fn clean_input_exits_0_and_prints_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let run = dlp(
        directory.path(),
        &[],
        &[("EGRESS_TOKEN_API", TOKEN)],
        "just some text\n",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "");
}

#[test]
fn held_secrets_and_shapes_in_files_exit_1_with_masked_findings() {
    let directory = tempfile::tempdir().unwrap();
    write(
        directory.path(),
        "request.json",
        &format!(
            "{{\n  \"auth\": \"{TOKEN}\",\n  \"gh\": \"{}\"\n}}\n",
            github_token()
        ),
    );
    let run = dlp(
        directory.path(),
        &["request.json"],
        &[("EGRESS_TOKEN_API", TOKEN)],
        "",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    insta::assert_snapshot!(run.stdout, @r"
    request.json:2:12: known EGRESS_TOKEN_API (raw) tk***Eo(35 chars)
    request.json:3:10: patterns github-pat-classic (raw) gh***Xi(40 chars)
    ");
    assert!(!run.stdout.contains(&TOKEN[3..30]));
}

#[test]
fn sensitive_prefixes_extend_the_held_secrets_and_stdin_is_dash() {
    let directory = tempfile::tempdir().unwrap();
    let env = [
        ("BOT_BOTTLE_SENSITIVE_PREFIXES", "MY_APP_, OTHER_"),
        ("MY_APP_KEY", TOKEN),
    ];
    let encoded: String = TOKEN.bytes().map(|byte| format!("%{byte:02X}")).collect();
    let run = dlp(directory.path(), &["-"], &env, &format!("q={encoded}\n"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    // Every byte percent-encoded projects to the secret's hex.
    assert!(
        run.stdout.starts_with("-:1:4: known MY_APP_KEY (hex) "),
        "{}",
        run.stdout
    );
    let run = dlp(directory.path(), &["-"], &[("MY_APP_KEY", TOKEN)], TOKEN);
    assert_eq!(
        run.code, 0,
        "without the prefix the variable is not held: {}",
        run.stdout
    );
}

#[test]
fn json_format_lists_findings_without_the_secret() {
    let directory = tempfile::tempdir().unwrap();
    let run = dlp(
        directory.path(),
        &["--format", "json"],
        &[("EGRESS_TOKEN_API", TOKEN)],
        &format!("x {TOKEN}"),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let findings: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    insta::assert_json_snapshot!(findings, @r#"
    [
      {
        "column": 3,
        "detector": "known",
        "encoding": "raw",
        "end": 37,
        "line": 1,
        "location": {
          "part": "data"
        },
        "path": "-",
        "preview": "tk***Eo(35 chars)",
        "redactable": true,
        "rule": "EGRESS_TOKEN_API",
        "severity": "block",
        "start": 2
      }
    ]
    "#);
    assert!(!run.stdout.contains(TOKEN));
}

#[test]
fn redact_writes_the_scrubbed_input_and_reports_on_stderr() {
    let directory = tempfile::tempdir().unwrap();
    let input = format!(
        "Authorization: Bearer {TOKEN}\ngh={}\nrest\n",
        github_token()
    );
    let run = dlp(
        directory.path(),
        &["--redact"],
        &[("EGRESS_TOKEN_API", TOKEN)],
        &input,
    );
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stdout,
        "Authorization: Bearer [REDACTED]\ngh=[REDACTED]\nrest\n"
    );
    assert!(
        run.stderr.contains("known EGRESS_TOKEN_API (raw)"),
        "{}",
        run.stderr
    );
}

#[test]
fn detector_list_limits_what_runs() {
    let directory = tempfile::tempdir().unwrap();
    let input = format!("{TOKEN} {}", github_token());
    let run = dlp(
        directory.path(),
        &["--detectors", "patterns"],
        &[("EGRESS_TOKEN_API", TOKEN)],
        &input,
    );
    assert_eq!(run.code, 1);
    assert!(!run.stdout.contains("known"), "{}", run.stdout);
    assert!(run.stdout.contains("github-pat-classic"), "{}", run.stdout);
}

#[test]
fn user_rule_files_add_rules() {
    let directory = tempfile::tempdir().unwrap();
    write(
        directory.path(),
        "acme.toml",
        "[[rule]]\nid = \"acme-token\"\ndescription = \"ACME token\"\nkeywords = [\"acme_\"]\nregex = '''acme_[a-z0-9]{20}'''\n",
    );
    let run = dlp(
        directory.path(),
        &["--rules", "acme.toml"],
        &[],
        "key acme_0123456789abcdefghij\n",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "-:1:5: patterns acme-token (raw) ac***ij(25 chars)\n"
    );
}

#[test]
fn gitleaks_configs_are_read_by_name_or_flag() {
    let directory = tempfile::tempdir().unwrap();
    let config = "[extend]\nuseDefault = true\n[[rules]]\nid = \"acme-token\"\nregex = '''acme_([a-z0-9]{20})'''\nkeywords = [\"acme_\"]\n[rules.allowlist]\nstopwords = [\"example\"]\n";
    write(directory.path(), ".gitleaks.toml", config);
    write(directory.path(), "mine.toml", config);
    let input = "key acme_0123456789abcdefghij\nkey acme_exampleexampleexample\n";
    let run = dlp(
        directory.path(),
        &["--detectors", "patterns", "--rules", ".gitleaks.toml"],
        &[],
        input,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "-:1:10: patterns gitleaks-acme-token (raw) 01***ij(20 chars)\n"
    );
    assert!(
        run.stderr
            .contains("warning: .gitleaks.toml: [extend] useDefault"),
        "{}",
        run.stderr
    );

    // Another name: the engine's format unless told.
    let run = dlp(directory.path(), &["--rules", "mine.toml"], &[], input);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("mine.toml: not a valid rule file"),
        "{}",
        run.stderr
    );
    let run = dlp(
        directory.path(),
        &["--rules", "mine.toml", "--rules-format", "gitleaks"],
        &[],
        input,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.contains("gitleaks-acme-token"), "{}", run.stdout);

    write(
        directory.path(),
        "gitleaks.toml",
        "[[rules]]\nid = \"look\"\nregex = 'x(?=y)'\n",
    );
    let run = dlp(directory.path(), &["--rules", "gitleaks.toml"], &[], "");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(
            "gitleaks.toml: rule \"look\": field `regex` is not a valid regex: look-around"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn errors_exit_2_and_say_what_is_wrong() {
    let directory = tempfile::tempdir().unwrap();
    let run = dlp(
        directory.path(),
        &["--detectors", "known,gitleaks"],
        &[],
        "",
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown detector \"gitleaks\""),
        "{}",
        run.stderr
    );

    let run = dlp(directory.path(), &["missing.txt"], &[], "");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read missing.txt"),
        "{}",
        run.stderr
    );

    write(
        directory.path(),
        "bad.toml",
        "[[rule]]\nid = \"bad\"\ndescription = \"d\"\nkeywords = [\"x\"]\nregex = 'x+'\n",
    );
    let run = dlp(directory.path(), &["--rules", "bad.toml"], &[], "");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("bad.toml: rule \"bad\": regex has no upper bound"),
        "{}",
        run.stderr
    );
}
