//! The fold rules of `extends:`, one table test each.
//!
//! Every case builds a small graph `child extends [p1, p2]` (so both the
//! parent fold and the child-over-parents merge are exercised) and checks
//! the resolved value a user would see.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod common;

use bot_bottle_manifest::model::{AgentProvider, EgressLog, OnMatch};
use bot_bottle_manifest::resolved::Provenance;
use bot_bottle_manifest::tree::FieldPath;
use common::Bottles;

/// p1, p2, child, the expected env.
type EnvCase = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);
/// p1, p2, child, the expected user name and email.
type UserCase = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

#[test]
fn env_is_a_dict_merge_and_the_later_bottle_wins_a_key() {
    let cases: &[EnvCase] = &[
        // (p1, p2, child, expected env)
        (
            "env: {A: p1, B: p1}",
            "env: {B: p2, C: p2}",
            "extends: [p1, p2]",
            &[("A", "p1"), ("B", "p2"), ("C", "p2")],
        ),
        (
            "env: {A: p1}",
            "env: {A: p2}",
            "extends: [p1, p2]\nenv: {A: child}",
            &[("A", "child")],
        ),
        (
            "env: {A: p1}",
            "env: {A: p2}",
            "extends: [p2, p1]",
            &[("A", "p1")],
        ),
        ("{}", "{}", "extends: [p1, p2]", &[]),
    ];
    for (p1, p2, child, expected) in cases {
        let bottles = Bottles::new(&[("p1", p1), ("p2", p2), ("child", child)]);
        let env = bottles.ok("child").env;
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(&env, expected, "p1={p1} p2={p2} child={child}");
    }
}

#[test]
fn git_gate_user_is_overlaid_field_by_field() {
    let cases: &[UserCase] = &[
        (
            "git-gate: {user: {name: P1, email: p1@x}}",
            "git-gate: {user: {email: p2@x}}",
            "extends: [p1, p2]",
            Some("P1"),
            Some("p2@x"),
        ),
        (
            "git-gate: {user: {name: P1}}",
            "{}",
            "extends: [p1, p2]\ngit-gate: {user: {email: c@x}}",
            Some("P1"),
            Some("c@x"),
        ),
        ("{}", "{}", "extends: [p1, p2]", None, None),
    ];
    for (p1, p2, child, name, email) in cases {
        let bottles = Bottles::new(&[("p1", p1), ("p2", p2), ("child", child)]);
        let user = bottles.ok("child").git_gate.user;
        assert_eq!(user.name.as_deref(), *name, "{p1} / {p2} / {child}");
        assert_eq!(user.email.as_deref(), *email, "{p1} / {p2} / {child}");
    }
}

#[test]
fn git_gate_repos_are_a_union_by_name_and_the_later_bottle_wins_each_field() {
    let p1 = "\
git-gate:
  repos:
    - name: app
      upstream: https://forge.example/p1/app.git
      token_env: EGRESS_TOKEN_P1
      push: {refs: [refs/heads/p1/*], force: true}
    - name: docs
      upstream: https://forge.example/docs.git
";
    let p2 = "\
git-gate:
  repos:
    - name: app
      upstream: https://forge.example/p2/app.git
      push: {delete: true}
    - name: lib
      upstream: https://forge.example/lib.git
";
    let child = "\
extends: [p1, p2]
git-gate:
  repos:
    - name: app
      push: {refs: [refs/heads/agent/*]}
";
    let bottles = Bottles::new(&[("p1", p1), ("p2", p2), ("child", child)]);
    let repos = bottles.ok("child").git_gate.repos;
    let names: Vec<&str> = repos.iter().map(|repo| repo.name.as_str()).collect();
    assert_eq!(
        names,
        ["app", "docs", "lib"],
        "first appearance decides the order"
    );
    let app = &repos[0];
    assert_eq!(
        app.upstream, "https://forge.example/p2/app.git",
        "p2 wins upstream"
    );
    assert_eq!(
        app.token_env.as_deref(),
        Some("EGRESS_TOKEN_P1"),
        "only p1 set token_env"
    );
    assert_eq!(
        app.push.refs,
        ["refs/heads/agent/*"],
        "the child wins push.refs"
    );
    assert!(
        app.push.force,
        "p1's push.force survives: nobody later set it"
    );
    assert!(app.push.delete, "p2's push.delete survives");
    assert!(repos[1].push.refs.is_empty(), "no refs: read-only");
    assert!(!repos[1].push.force && !repos[1].push.delete);
}

#[test]
fn egress_routes_are_concatenated_in_order_after_the_provider_routes() {
    let route = |host: &str| format!("egress: {{routes: [{{host: {host}}}]}}");
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "p1",
            "p2",
            "extends: [p1, p2]\negress: {routes: [{host: c.example}]}",
            &["p1.example", "p2.example", "c.example"],
        ),
        (
            "p1",
            "p2",
            "extends: [p2, p1]",
            &["p2.example", "p1.example"],
        ),
        (
            "p1",
            "p2",
            "extends: [p1, p2]\nagent_provider: claude",
            &["api.anthropic.com", "p1.example", "p2.example"],
        ),
    ];
    for (p1, p2, child, expected) in cases {
        let bottles = Bottles::new(&[
            ("p1", &route(&format!("{p1}.example"))),
            ("p2", &route(&format!("{p2}.example"))),
            ("child", child),
        ]);
        let bottle = bottles.ok("child");
        let hosts: Vec<&str> = bottle
            .egress
            .routes
            .iter()
            .map(|route| route.host.as_str())
            .collect();
        assert_eq!(&hosts, expected, "{child}");
    }
}

#[test]
fn every_scalar_is_last_wins() {
    // (field as YAML for p1, p2, child; a function reading the resolved value)
    type Read = fn(&bot_bottle_manifest::ResolvedBottle) -> String;
    let cases: &[(&str, &str, &str, &str, Read)] = &[
        ("supervise: false", "supervise: true", "", "true", |b| {
            b.supervise.to_string()
        }),
        ("supervise: true", "", "supervise: false", "false", |b| {
            b.supervise.to_string()
        }),
        (
            "agent_provider: claude",
            "agent_provider: codex",
            "",
            "Codex",
            |b| format!("{:?}", b.agent_provider),
        ),
        (
            "agent_provider: codex",
            "",
            "agent_provider: none",
            "None",
            |b| format!("{:?}", b.agent_provider),
        ),
        (
            "egress: {log: full}",
            "egress: {log: off}",
            "",
            "Off",
            |b| format!("{:?}", b.egress.log),
        ),
        (
            "egress: {log: off}",
            "",
            "egress: {log: full}",
            "Full",
            |b| format!("{:?}", b.egress.log),
        ),
        ("image: one", "image: two", "", "Some(\"two\")", |b| {
            format!("{:?}", b.image)
        }),
        (
            "description: one",
            "",
            "description: three",
            "Some(\"three\")",
            |b| format!("{:?}", b.description),
        ),
        (
            "egress: {dlp: {outbound_detectors: [known]}}",
            "egress: {dlp: {outbound_detectors: [patterns, entropy]}}",
            "",
            "[\"patterns\", \"entropy\"]",
            |b| format!("{:?}", b.egress.dlp.outbound_detectors),
        ),
        (
            "dockerfile: /abs/p1.Dockerfile",
            "dockerfile: /abs/p2.Dockerfile",
            "",
            "Some(\"/abs/p2.Dockerfile\")",
            |b| format!("{:?}", b.dockerfile),
        ),
    ];
    for (p1, p2, child_extra, expected, read) in cases {
        let child = format!("extends: [p1, p2]\n{child_extra}\n");
        let bottles = Bottles::new(&[("p1", p1), ("p2", p2), ("child", &child)]);
        assert_eq!(
            read(&bottles.ok("child")),
            *expected,
            "p1={p1} p2={p2} child={child_extra}"
        );
    }
}

#[test]
fn image_and_dockerfile_are_one_choice_and_the_later_bottle_wins_it() {
    let bottles = Bottles::new(&[
        ("p1", "dockerfile: /abs/Dockerfile"),
        ("p2", "image: registry.local/agent:1"),
        ("child", "extends: [p1, p2]"),
        ("flipped", "extends: [p2, p1]"),
    ]);
    let child = bottles.ok("child");
    assert_eq!(child.image.as_deref(), Some("registry.local/agent:1"));
    assert_eq!(child.dockerfile, None);
    let flipped = bottles.ok("flipped");
    assert_eq!(flipped.image, None);
    assert_eq!(
        flipped.dockerfile.as_deref(),
        Some(std::path::Path::new("/abs/Dockerfile"))
    );
}

#[test]
fn a_relative_dockerfile_is_anchored_to_the_directory_of_the_file_that_set_it() {
    let bottles = Bottles::new(&[
        ("p1", "dockerfile: images/agent.Dockerfile"),
        ("child", "extends: p1"),
    ]);
    assert_eq!(
        bottles.ok("child").dockerfile,
        Some(bottles.path().join("images/agent.Dockerfile"))
    );
}

#[test]
fn defaults_apply_when_no_bottle_sets_a_value() {
    let bottles = Bottles::new(&[("bare", "egress: {routes: [{host: x.example}]}")]);
    let bottle = bottles.ok("bare");
    assert!(bottle.supervise);
    assert_eq!(bottle.agent_provider, AgentProvider::None);
    assert_eq!(bottle.egress.log, EgressLog::Meta);
    assert_eq!(bottle.egress.dlp.outbound_detectors, ["all"]);
    assert_eq!(
        bottle.egress.routes[0].outbound_on_match,
        OnMatch::Supervise
    );
    assert_eq!(
        bottle.provenance_of(&FieldPath::parse("supervise")),
        Provenance::Default
    );
}

#[test]
fn provider_routes_default_to_redact_and_manifest_routes_to_supervise() {
    let bottles = Bottles::new(&[(
        "dev",
        "agent_provider: codex\negress:\n  routes:\n    - host: a.example\n    - host: b.example\n      outbound_on_match: block\n",
    )]);
    let routes = bottles.ok("dev").egress.routes;
    let summary: Vec<(Option<AgentProvider>, &str, OnMatch)> = routes
        .iter()
        .map(|route| (route.provider, route.host.as_str(), route.outbound_on_match))
        .collect();
    assert_eq!(
        summary,
        [
            (
                Some(AgentProvider::Codex),
                "api.openai.com",
                OnMatch::Redact
            ),
            (Some(AgentProvider::Codex), "chatgpt.com", OnMatch::Redact),
            (None, "a.example", OnMatch::Supervise),
            (None, "b.example", OnMatch::Block),
        ]
    );
    assert_eq!(routes[0].token_env.as_deref(), Some("EGRESS_TOKEN_OPENAI"));
    assert_eq!(routes[0].auth_scheme.as_deref(), Some("Bearer"));
}

#[test]
fn a_diamond_resolves_the_shared_ancestor_once_and_keeps_its_routes_once() {
    let bottles = Bottles::new(&[
        (
            "root",
            "egress: {routes: [{host: root.example}]}\nenv: {R: root}",
        ),
        (
            "left",
            "extends: root\negress: {routes: [{host: left.example}]}",
        ),
        (
            "right",
            "extends: root\negress: {routes: [{host: right.example}]}\nenv: {R: right}",
        ),
        ("child", "extends: [left, right]"),
    ]);
    let mut resolver = bot_bottle_manifest::Resolver::new(bottles.search());
    let bottle = resolver.resolve("child").unwrap();
    assert_eq!(
        resolver.layers_computed(),
        4,
        "root is resolved once, not once per path"
    );
    let hosts: Vec<&str> = bottle
        .egress
        .routes
        .iter()
        .map(|route| route.host.as_str())
        .collect();
    assert_eq!(hosts, ["root.example", "left.example", "right.example"]);
    assert_eq!(bottle.env["R"], "right");
}

#[test]
fn a_bottle_extending_its_own_name_extends_the_next_one_on_the_search_path() {
    let bottles = Bottles::new(&[("claude", "extends: claude\nenv: {EXTRA: \"1\"}")]);
    let bottle = bottles.ok("claude");
    assert_eq!(
        bottle.agent_provider,
        AgentProvider::Claude,
        "the built-in claude is the parent"
    );
    assert_eq!(bottle.env["EXTRA"], "1");
    assert_eq!(bottle.env["DISABLE_AUTOUPDATER"], "1");
}

#[test]
fn provenance_names_the_file_and_line_that_set_each_value() {
    let bottles = Bottles::new(&[
        ("base2", "supervise: false\nenv:\n  A: base\n  B: base\n"),
        ("dev", "extends: base2\nenv:\n  B: dev\n"),
    ]);
    let bottle = bottles.ok("dev");
    let explain = bottles.mask(&bottle.explain_text());
    insta::assert_snapshot!(explain);
}
