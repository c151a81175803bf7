//! The built-in bottles pass their own loader, and the JSON Schema is
//! valid JSON that describes every top-level field.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

use bot_bottle_manifest::model::AgentProvider;
use bot_bottle_manifest::search::BUILT_INS;
use bot_bottle_manifest::{Resolver, SearchPath, Source, parse_manifest};

#[test]
fn every_built_in_bottle_parses_without_a_diagnostic_and_resolves() {
    let mut resolver = Resolver::new(SearchPath::new(Vec::new(), true));
    for (name, text) in BUILT_INS {
        let parsed = parse_manifest(Source::BuiltIn(name), text);
        assert_eq!(parsed.diagnostics, Vec::new(), "{name}");
        let bottle = resolver
            .resolve(name)
            .unwrap_or_else(|errors| panic!("{name}: {errors}"));
        assert_eq!(bottle.source, Source::BuiltIn(name));
    }
}

#[test]
fn the_agent_bottles_bring_their_provider_routes() {
    let mut resolver = Resolver::new(SearchPath::new(Vec::new(), true));
    let claude = resolver.resolve("claude").unwrap();
    assert_eq!(claude.agent_provider, AgentProvider::Claude);
    let route = &claude.egress.routes[0];
    assert_eq!(
        (
            route.host.as_str(),
            route.auth_header.as_deref(),
            route.token_env.as_deref()
        ),
        (
            "api.anthropic.com",
            Some("x-api-key"),
            Some("EGRESS_TOKEN_ANTHROPIC")
        )
    );
    let codex = resolver.resolve("codex").unwrap();
    let hosts: Vec<&str> = codex
        .egress
        .routes
        .iter()
        .map(|route| route.host.as_str())
        .collect();
    assert_eq!(hosts, ["api.openai.com", "chatgpt.com"]);
    let base = resolver.resolve("base").unwrap();
    assert!(base.egress.routes.is_empty(), "base reaches nothing");
}

#[test]
fn the_schema_is_json_and_names_every_top_level_field() {
    let schema = bot_bottle_manifest::json_schema();
    let text = serde_json::to_string(&schema).unwrap();
    let reparsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    let properties = reparsed["properties"]
        .as_object()
        .expect("top-level properties");
    let mut names: Vec<&str> = properties.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "agent_provider",
            "description",
            "dockerfile",
            "egress",
            "env",
            "extends",
            "git-gate",
            "image",
            "supervise",
        ]
    );
    assert_eq!(
        reparsed["additionalProperties"],
        serde_json::Value::Bool(false)
    );
    assert_eq!(
        reparsed["$defs"]["Route"]["properties"]["token_env"]["pattern"], "^[A-Z_][A-Z0-9_]*$",
        "editors can check token_env as you type"
    );
    for definition in [
        "Route",
        "Repo",
        "PushPolicy",
        "GitUser",
        "Egress",
        "Dlp",
        "HeaderMatch",
    ] {
        assert!(reparsed["$defs"][definition].is_object(), "{definition}");
        assert_eq!(
            reparsed["$defs"][definition]["additionalProperties"],
            serde_json::Value::Bool(false),
            "{definition} refuses unknown fields"
        );
    }
}
