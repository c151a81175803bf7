//! Finding bottles and the errors of `extends:` graphs: cycles, missing and
//! invalid parents across multi-parent graphs, the search path order.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod common;

use bot_bottle_manifest::{Resolver, SearchPath};
use common::Bottles;

#[test]
fn a_cycle_names_the_whole_chain_and_the_file() {
    let bottles = Bottles::new(&[
        ("child", "extends: [other, net]"),
        ("other", "{}"),
        ("net", "extends: base"),
        ("base", "extends: child"),
    ]);
    let error = bottles.err("child");
    assert!(error.contains("child -> net -> base -> child"), "{error}");
    insta::assert_snapshot!(error);
}

#[test]
fn a_self_cycle_without_a_further_bottle_is_a_missing_parent() {
    let bottles = Bottles::new(&[("solo", "extends: solo")]);
    insta::assert_snapshot!(bottles.err("solo"));
}

#[test]
fn a_missing_parent_deep_in_a_multi_parent_graph_names_the_chain_to_it() {
    let bottles = Bottles::new(&[
        ("child", "extends:\n  - claude\n  - net\n"),
        ("net", "extends: [base, proxy]"),
        ("proxy", "extends: [nowhere]"),
    ]);
    insta::assert_snapshot!(bottles.err("child"));
}

#[test]
fn an_invalid_parent_names_the_chain_and_lists_its_errors() {
    let bottles = Bottles::new(&[
        ("child", "extends: [claude, net]"),
        (
            "net",
            "extends: base\negress:\n  log: loud\n  routes:\n    - host: Example.com\n",
        ),
    ]);
    insta::assert_snapshot!(bottles.err("child"));
}

#[test]
fn every_bad_parent_is_reported_not_just_the_first() {
    let bottles = Bottles::new(&[
        ("child", "extends: [gone, broken, also-gone]"),
        ("broken", "supervise: perhaps"),
    ]);
    insta::assert_snapshot!(bottles.err("child"));
}

#[test]
fn a_shared_invalid_ancestor_is_reported_once() {
    let bottles = Bottles::new(&[
        ("child", "extends: [left, right]"),
        ("left", "extends: root"),
        ("right", "extends: root"),
        ("root", "colour: red"),
    ]);
    insta::assert_snapshot!(bottles.err("child"));
}

#[test]
fn an_unknown_bottle_lists_where_it_was_looked_for() {
    let bottles = Bottles::new(&[]);
    insta::assert_snapshot!(bottles.err("nope"));
}

#[test]
fn names_that_are_paths_are_refused() {
    let bottles = Bottles::new(&[]);
    let cases = [
        (
            "../etc/passwd",
            "`../etc/passwd` is not a valid bottle name: it must not start with `.`",
        ),
        (
            "a/b",
            "`a/b` is not a valid bottle name: it must not contain a path separator",
        ),
        (
            "..",
            "`..` is not a valid bottle name: `.` and `..` are not names",
        ),
        ("", "`` is not a valid bottle name: it is empty"),
    ];
    for (name, expected) in cases {
        assert_eq!(bottles.err(name), expected, "{name}");
    }
    let parent = Bottles::new(&[("child", "extends: ../up")]);
    insta::assert_snapshot!(parent.err("child"));
}

#[test]
fn the_first_directory_on_the_search_path_wins_then_the_built_ins() {
    let first = Bottles::new(&[("claude", "description: first")]);
    let second = Bottles::new(&[
        ("claude", "description: second"),
        ("only-second", "description: second"),
    ]);
    let search = SearchPath::new(
        vec![first.path().to_path_buf(), second.path().to_path_buf()],
        true,
    );
    let mut resolver = Resolver::new(search);
    assert_eq!(
        resolver.resolve("claude").unwrap().description.as_deref(),
        Some("first")
    );
    assert_eq!(
        resolver
            .resolve("only-second")
            .unwrap()
            .description
            .as_deref(),
        Some("second")
    );
    assert!(resolver.resolve("codex").is_ok(), "built-ins come last");
    let without_built_ins = SearchPath::new(vec![first.path().to_path_buf()], false);
    assert!(Resolver::new(without_built_ins).resolve("codex").is_err());
}

#[test]
fn the_standard_search_path_order() {
    let search = SearchPath::standard(
        Some("/flag".into()),
        std::path::Path::new("/work"),
        Some("/config/bot-bottle".into()),
    );
    assert_eq!(
        search.directories,
        [
            std::path::PathBuf::from("/flag"),
            "/work/.bot-bottle/bottles".into(),
            "/config/bot-bottle/bottles".into(),
        ]
    );
    assert!(search.built_ins);
}

#[test]
fn yml_is_accepted_and_both_extensions_together_are_ambiguous() {
    let bottles = Bottles::new(&[]);
    std::fs::write(bottles.path().join("short.yml"), "description: yml").unwrap();
    assert_eq!(bottles.ok("short").description.as_deref(), Some("yml"));
    std::fs::write(bottles.path().join("short.yaml"), "description: yaml").unwrap();
    insta::assert_snapshot!(bottles.err("short"));
}

#[test]
fn check_file_looks_for_parents_beside_the_file_first() {
    let project = Bottles::new(&[
        ("local-parent", "env: {FROM: beside}"),
        ("dev", "extends: local-parent"),
    ]);
    let elsewhere = Bottles::new(&[("local-parent", "env: {FROM: elsewhere}")]);
    let search = elsewhere.search();
    let bottle = Resolver::check_file(&search, &project.file("dev")).unwrap();
    assert_eq!(bottle.env["FROM"], "beside");
    assert_eq!(bottle.name, "dev");
}

#[test]
fn check_file_reports_the_file_s_own_errors_and_its_parents_errors() {
    let project = Bottles::new(&[("dev", "extends: [missing]\nsupervise: 3\n")]);
    let errors = Resolver::check_file(&project.search(), &project.file("dev")).unwrap_err();
    insta::assert_snapshot!(project.mask(&errors.to_string()));
}

#[test]
fn a_repo_without_an_upstream_anywhere_is_refused_after_the_fold() {
    let bottles = Bottles::new(&[
        (
            "parent",
            "git-gate: {repos: [{name: app, token_env: EGRESS_TOKEN_FORGE}]}",
        ),
        (
            "child",
            "extends: parent\ngit-gate: {repos: [{name: app, push: {refs: [refs/heads/x]}}]}",
        ),
        (
            "fixed",
            "extends: parent\ngit-gate: {repos: [{name: app, upstream: https://forge.example/app.git}]}",
        ),
    ]);
    insta::assert_snapshot!(bottles.err("child"));
    assert_eq!(
        bottles.ok("fixed").git_gate.repos[0].upstream,
        "https://forge.example/app.git"
    );
}

#[test]
fn a_chain_deeper_than_the_limit_is_refused() {
    let limit = bot_bottle_manifest::resolve::MAX_EXTENDS_DEPTH;
    let texts: Vec<(String, String)> = (0..=limit + 1)
        .map(|level| (format!("b{level}"), format!("extends: b{}\n", level + 1)))
        .chain(std::iter::once((
            format!("b{}", limit + 2),
            "{}".to_string(),
        )))
        .collect();
    let files: Vec<(&str, &str)> = texts
        .iter()
        .map(|(name, text)| (name.as_str(), text.as_str()))
        .collect();
    let bottles = Bottles::new(&files);
    let error = bottles.err("b0");
    assert!(
        error.starts_with(&format!(
            "[DIR]/b{}.yaml:1: extends: more than {limit} levels of parents (chain: b0 -> b1 -> ",
            limit
        )),
        "{error}"
    );
    // Exactly the limit resolves (b2 has that many levels of parents).
    assert!(bottles.resolve(&format!("b{}", 2)).is_ok());
}
