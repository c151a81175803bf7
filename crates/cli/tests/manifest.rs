//! `bot-bottle manifest show|check|schema`, driven through the real binary.
//!
//! Each test runs in a fresh temporary directory that is the working
//! directory, `HOME` and `XDG_CONFIG_HOME` at once, so no bottle of the
//! machine running the tests can leak in.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `relative` under the project and return its path.
    fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn run(&self, arguments: &[&str]) -> Output {
        let output = Command::cargo_bin("bot-bottle")
            .unwrap()
            .args(arguments)
            .current_dir(self.path())
            .env_clear()
            .env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .output()
            .unwrap();
        let mask = |bytes: &[u8]| {
            String::from_utf8_lossy(bytes).replace(&self.path().display().to_string(), "[PROJECT]")
        };
        Output {
            code: output.status.code(),
            stdout: mask(&output.stdout),
            stderr: mask(&output.stderr),
        }
    }
}

#[derive(Debug)]
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

#[test]
fn show_claude_prints_the_resolved_bottle_as_yaml() {
    let output = Project::new().run(&["manifest", "show", "claude"]);
    assert_eq!(output.code, Some(0), "{output:?}");
    insta::assert_snapshot!(output.stdout);
}

#[test]
fn show_claude_as_json_marks_the_provider_route() {
    let output = Project::new().run(&["manifest", "show", "claude", "--format", "json"]);
    assert_eq!(output.code, Some(0), "{output:?}");
    let bottle: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(bottle["agent_provider"], "claude");
    assert_eq!(bottle["supervise"], true);
    assert_eq!(bottle["egress"]["routes"][0]["provider"], "claude");
    assert_eq!(bottle["egress"]["routes"][0]["host"], "api.anthropic.com");
    assert_eq!(bottle["egress"]["routes"][0]["outbound_on_match"], "redact");
    insta::assert_snapshot!(output.stdout);
}

#[test]
fn explain_names_the_file_and_line_of_every_value() {
    let project = Project::new();
    project.write(
        ".bot-bottle/bottles/dev.yaml",
        "extends: [claude, net]\ndescription: my dev bottle\nenv:\n  FOO: bar\n",
    );
    project.write(
        "config/bot-bottle/bottles/net.yaml",
        "egress:\n  log: full\n  routes:\n    - host: registry.npmjs.org\n      methods: [GET]\n",
    );
    let output = project.run(&["manifest", "show", "dev", "--explain"]);
    assert_eq!(output.code, Some(0), "{output:?}");
    assert!(
        output
            .stdout
            .lines()
            .any(|line| line.starts_with("env.FOO = \"bar\"")
                && line.ends_with("# ./.bot-bottle/bottles/dev.yaml:4")),
        "{}",
        output.stdout
    );
    insta::assert_snapshot!(output.stdout);
}

#[test]
fn the_bottles_flag_comes_before_the_project_directory() {
    let project = Project::new();
    project.write(".bot-bottle/bottles/dev.yaml", "description: project\n");
    project.write("flag/dev.yaml", "description: flag\n");
    let output = project.run(&[
        "manifest",
        "show",
        "dev",
        "--bottles",
        "flag",
        "--format",
        "json",
    ]);
    assert_eq!(output.code, Some(0), "{output:?}");
    let bottle: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(bottle["description"], "flag");
}

#[test]
fn show_of_an_unknown_bottle_exits_1_and_says_where_it_looked() {
    let output = Project::new().run(&["manifest", "show", "nope"]);
    assert_eq!(output.code, Some(1));
    insta::assert_snapshot!(output.stderr);
}

#[test]
fn check_lists_every_error_in_every_file_and_exits_1() {
    let project = Project::new();
    project.write("bottles/good.yaml", "extends: claude\nenv: {EDITOR: vi}\n");
    project.write(
        "bottles/bad.yaml",
        "extends: [claude, missing]\nsupervise: sometimes\negress:\n  routes:\n    - host: https://api.example.com\n      outbound_on_matc: block\n",
    );
    project.write(
        "bottles/secret.yaml",
        "env:\n  GITHUB_TOKEN: ghp_abcdEFGH1234ijklMNOP5678qrstUVWX90ab\n",
    );
    let output = project.run(&[
        "manifest",
        "check",
        "bottles/good.yaml",
        "bottles/bad.yaml",
        "bottles/secret.yaml",
    ]);
    assert_eq!(output.code, Some(1), "{output:?}");
    assert_eq!(output.stdout, "ok: bottles/good.yaml\n");
    assert!(
        output.stderr.contains("did you mean `outbound_on_match`?"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("egress.routes[].token_env"),
        "{}",
        output.stderr
    );
    assert!(
        !output.stderr.contains("ghp_abcd"),
        "a refused secret is never echoed"
    );
    insta::assert_snapshot!(output.stderr);
}

#[test]
fn check_of_clean_files_exits_0() {
    let project = Project::new();
    project.write("a.yaml", "extends: codex\n");
    project.write("b.yml", "extends: a\nsupervise: false\n");
    let output = project.run(&["manifest", "check", "a.yaml", "b.yml"]);
    assert_eq!(output.code, Some(0), "{output:?}");
    assert_eq!(output.stdout, "ok: a.yaml\nok: b.yml\n");
    assert_eq!(output.stderr, "");
}

#[test]
fn check_of_a_missing_file_exits_1() {
    let output = Project::new().run(&["manifest", "check", "absent.yaml"]);
    assert_eq!(output.code, Some(1));
    assert!(
        output.stderr.starts_with("absent.yaml: cannot read:"),
        "{}",
        output.stderr
    );
}

#[test]
fn schema_is_json_with_every_top_level_field() {
    let output = Project::new().run(&["manifest", "schema"]);
    assert_eq!(output.code, Some(0), "{output:?}");
    let schema: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    for field in [
        "extends",
        "description",
        "agent_provider",
        "supervise",
        "env",
        "image",
        "dockerfile",
        "git-gate",
        "egress",
    ] {
        assert!(schema["properties"][field].is_object(), "{field}");
    }
}
