//! Property tests for the route decision: whatever path an agent sends,
//! a request allowed under a path prefix stays under that prefix even for an
//! upstream that decodes percent-escapes repeatedly, treats `\` as `/`,
//! drops `;` parameters and resolves dot segments; and host matching holds
//! for wildcard routes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use bot_bottle_egress::routes::{Host, RequestTarget, RouteTable, Scheme, Tokens, normalize_path};
use http::{HeaderMap, Method};
use percent_encoding::percent_decode_str;
use proptest::prelude::*;

/// The most permissive normalisation an upstream might apply.
fn aggressive_upstream_view(path: &str) -> String {
    let mut current = path.to_string();
    for _ in 0..4 {
        current = percent_decode_str(&current)
            .decode_utf8_lossy()
            .into_owned();
    }
    let current = current.replace('\\', "/");
    let mut output: Vec<&str> = Vec::new();
    for segment in current.split('/') {
        let segment = segment.split(';').next().unwrap_or("");
        match segment {
            "." => {}
            ".." => {
                output.pop();
            }
            other => output.push(other),
        }
    }
    let joined = output.join("/");
    if joined.starts_with('/') {
        joined
    } else {
        format!("/{joined}")
    }
}

fn table() -> RouteTable {
    RouteTable::parse(
        Path::new("routes.yaml"),
        "routes:\n  - host: api.allowed.com\n    paths: [\"/allowed/\"]\n  - host: \"*.wild.com\"\n",
        &Tokens::new(),
    )
    .unwrap()
}

fn allowed(table: &RouteTable, host: &Host, path: &str) -> bool {
    table
        .decide(&RequestTarget {
            scheme: Scheme::Https,
            host,
            port: 443,
            method: &Method::GET,
            path,
            headers: &HeaderMap::new(),
        })
        .is_ok()
}

fn path_strategy() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "/", "/", "allowed", "secret", ".", "..", "%2e", "%2E", "%2f", "%5c", "%25", "\\", ";",
        "a", "%", "2e", "//",
    ]);
    prop::collection::vec(pieces, 0..12).prop_map(|parts| format!("/{}", parts.concat()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn an_allowed_path_stays_under_its_prefix(suffix in path_strategy()) {
        let table = table();
        let host = Host::parse("api.allowed.com").unwrap();
        let path = format!("/allowed{suffix}");
        if allowed(&table, &host, &path) {
            let view = aggressive_upstream_view(&path);
            prop_assert!(view.starts_with("/allowed/") || view == "/allowed", "{path} -> {view}");
        }
        for candidate in [suffix.as_str(), path.as_str()] {
            if let Ok(normalized) = normalize_path(candidate) {
                prop_assert!(normalized.starts_with('/'));
                prop_assert!(!normalized.split('/').any(|segment| segment == ".." || segment == "."));
            }
        }
    }

    #[test]
    fn wildcard_hosts_match_exactly_the_subdomains(label in "[a-zA-Z0-9-]{1,10}", tail in prop::sample::select(vec![
        ".wild.com", ".WILD.com.", ".wild.com.evil.com", "wild.com", ".evilwild.com", ".a.wild.com", "",
    ])) {
        let table = table();
        let text = format!("{label}{tail}");
        if let Ok(host) = Host::parse(&text) {
            let Host::Name(name) = &host else { return Ok(()) };
            prop_assert_eq!(name, &name.to_ascii_lowercase());
            prop_assert!(!name.ends_with('.'));
            let expected = name.ends_with(".wild.com");
            prop_assert_eq!(allowed(&table, &host, "/"), expected, "{}", text);
        }
    }

    #[test]
    fn host_parsing_never_panics(text in ".{0,40}") {
        let _ = Host::parse(&text);
        let _ = normalize_path(&text);
    }
}
