//! A route supervise accepts (the MCP server's check, the operator's
//! modify editor, `proposals approve --modify`: all `route_problems`) must
//! be one the egress proxy loads: otherwise the routes file supervise
//! writes on approval is refused by egress, which keeps its old routes and
//! silently undoes the approval. The `routes_rewrite` fuzz target
//! (`crates/supervise/fuzz`) found a route with `token_env` and neither
//! `auth_scheme` nor `auth_header` passing one check and failing the other,
//! then a path or header-value glob egress cannot build (an unclosed `[`),
//! then a host whose last label is a number (`api.9`).

use std::path::Path;

use bot_bottle_egress::routes::{RouteTable, Tokens};
use bot_bottle_manifest::model::{Egress, HeaderMatch, Route};
use bot_bottle_supervise::granted_route::{parse_granted_route, route_problems};
use proptest::prelude::*;

fn optional(values: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    proptest::option::of(proptest::sample::select(values).prop_map(str::to_string))
}

fn routes() -> impl Strategy<Value = Route> {
    (
        proptest::sample::select(
            &[
                "api.example.com",
                "*.example.org",
                "h.example:8443",
                "10.0.0.5",
                "api.9",
                "x.0x7f",
                "*.example.9",
                "Bad Host",
                "",
            ][..],
        ),
        optional(&["GET", "get", "PATCH", "BREW"]),
        optional(&[
            "/v1/",
            "/repos/*/issues",
            "/a/**",
            "/{a,b}",
            "/[",
            "/{a",
            "/{a,{b,c}}",
            "/[z-a]",
            "no-slash",
            "/a b",
        ]),
        proptest::option::of((
            proptest::sample::select(&["x-version", "bad header", ""][..]),
            optional(&["2023-*", "v\n2", "[z", "{x", "[b-a]"]),
        )),
        optional(&["Bearer", "token", "two words", ""]),
        optional(&["x-api-key", "bad header"]),
        optional(&[
            "EGRESS_TOKEN_A",
            "lower",
            "ghp_abcdEFGH1234ijklMNOP5678qrstUVWX90ab",
        ]),
    )
        .prop_map(
            |(host, method, path, header, auth_scheme, auth_header, token_env)| Route {
                host: host.to_string(),
                methods: method.map(|method| vec![method]),
                paths: path.map(|path| vec![path]),
                headers: header.map(|(name, value)| {
                    vec![HeaderMatch {
                        name: name.to_string(),
                        value,
                    }]
                }),
                auth_scheme,
                auth_header,
                token_env,
                ..Route::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]
    #[test]
    fn every_route_supervise_accepts_loads_in_egress(route in routes()) {
        if route_problems(&route).is_empty() {
            let egress = Egress { routes: vec![route.clone()], ..Egress::default() };
            let compiled = RouteTable::compile(egress, &Tokens::new());
            prop_assert!(compiled.is_ok(), "supervise accepts {route:?}, egress refuses it: {:?}", compiled.err());
        }
    }
}

#[test]
fn a_token_without_a_way_to_send_it_is_refused_where_it_is_granted() {
    let error = parse_granted_route("host: api.example.com\ntoken_env: EGRESS_TOKEN_A\n")
        .expect_err("egress would refuse it");
    assert!(
        error
            .to_string()
            .contains("auth_scheme: `token_env` needs `auth_scheme` or `auth_header`"),
        "{error}"
    );
    // With either, both sides take it.
    for extra in ["auth_scheme: Bearer\n", "auth_header: x-api-key\n"] {
        let yaml = format!("host: api.example.com\ntoken_env: EGRESS_TOKEN_A\n{extra}");
        let route = parse_granted_route(&yaml).expect("a valid route");
        let text = format!("routes:\n  - {}", yaml.replace('\n', "\n    "));
        RouteTable::parse(Path::new("routes.yaml"), &text, &Tokens::new())
            .unwrap_or_else(|error| panic!("egress refuses {text:?}: {error}"));
        assert_eq!(route.token_env.as_deref(), Some("EGRESS_TOKEN_A"));
    }
}
