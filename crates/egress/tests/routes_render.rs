//! A manifest's `egress:` section, resolved (with its provider's routes)
//! and rendered as the sidecar's `--routes` file, is read back by the
//! sidecar as exactly the same routes: values carrying YAML's special
//! characters survive, and each route's policy (the provider route's
//! `redact` default, an explicit one, the `supervise` default) is in force.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

use bot_bottle_egress::routes::{RouteTable, Tokens};
use bot_bottle_manifest::model::{EgressLog, HeaderMatch, OnMatch};
use bot_bottle_manifest::{Resolver, SearchPath, Source};
use bot_bottle_secret::Redacted;

/// A header value a hand-written YAML template would have broken.
const AWKWARD: &str = "say \"hi\" # not a comment: {x}, [y] & *z | 'q' \\ %";

#[test]
fn a_rendered_manifest_is_read_back_as_the_same_routes_with_their_policies() {
    let manifest = format!(
        r#"extends: claude
egress:
  log: full
  routes:
    - host: api.example.com
      paths: ["/v1/**"]
      headers:
        - name: X-Note
          value: '{}'
      auth_scheme: Bearer
      token_env: EGRESS_TOKEN_API
      outbound_on_match: redact
    - host: "*.example.org:8443"
      methods: [GET]
"#,
        AWKWARD.replace('\'', "''")
    );
    let mut resolver = Resolver::new(SearchPath::new(Vec::new(), true));
    let bottle = resolver
        .resolve_text(
            "render-test",
            Source::File("render-test.yaml".into()),
            &manifest,
        )
        .unwrap_or_else(|errors| panic!("{errors}"));
    let text = bottle.egress.routes_file_text().unwrap();

    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("routes.yaml");
    std::fs::write(&path, &text).unwrap();
    let tokens: Tokens = ["EGRESS_TOKEN_API", "EGRESS_TOKEN_ANTHROPIC"]
        .into_iter()
        .map(|name| (name.to_string(), Redacted::new(format!("value-of-{name}"))))
        .collect();
    let table = RouteTable::load(&path, &tokens).unwrap_or_else(|error| panic!("{error}\n{text}"));
    let view = table.view();

    assert_eq!(view.log, EgressLog::Full);
    let summary: Vec<(&str, OnMatch)> = view
        .routes
        .iter()
        .map(|route| (route.route.host.as_str(), route.outbound_on_match_in_force))
        .collect();
    assert_eq!(
        summary,
        [
            ("api.anthropic.com", OnMatch::Redact),
            ("api.example.com", OnMatch::Redact),
            ("*.example.org:8443", OnMatch::Supervise),
        ]
    );
    let declared = &view.routes[1].route;
    assert_eq!(
        declared.headers.as_deref(),
        Some(
            &[HeaderMatch {
                name: "X-Note".into(),
                value: Some(AWKWARD.into()),
            }][..]
        )
    );
    assert_eq!(declared.paths.as_deref(), Some(&["/v1/**".to_string()][..]));
    assert_eq!(declared.token_env.as_deref(), Some("EGRESS_TOKEN_API"));
    assert_eq!(
        view.routes[2].route.methods.as_deref(),
        Some(&["GET".to_string()][..])
    );
    // Every resolved route, field for field.
    assert_eq!(
        view.routes
            .iter()
            .map(|route| route.route.clone())
            .collect::<Vec<_>>(),
        bottle.egress.to_routes_file().routes
    );
    // No token value is ever written into the file.
    assert!(!text.contains("value-of-"), "{text}");
}
