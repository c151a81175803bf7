//! Fuzz the one writer of the egress routes file with routes an agent
//! could ask for: whatever strings a route carries, once it passes the
//! checks the MCP server applies (`route_problems`), approving it must add
//! exactly that route, and nothing else, to the file — read back by
//! supervise and by egress itself (`RouteTable::parse`, what the proxy
//! loads): the routes before it unchanged, no route or key injected
//! through a value. Blocking a host must leave no route for it.
//!
//! The input is up to nine fields separated by 0x01: host, method, two
//! paths, a header name and value, `auth_scheme`, `auth_header`,
//! `token_env` (an empty field is left out). The file lives on tmpfs
//! (`/dev/shm`), so the rename and fsync of every apply stay cheap.
//!
//! Run: `cargo +nightly fuzz run --fuzz-dir crates/supervise/fuzz routes_rewrite`
//! (from the workspace root).
#![no_main]

use std::path::Path;

use bot_bottle_egress::routes::{RouteTable, Tokens};
use bot_bottle_manifest::model::{HeaderMatch, Route};
use bot_bottle_queue::ProposalId;
use bot_bottle_supervise::granted_route::route_problems;
use bot_bottle_supervise::routes_file::{Change, RoutesFile};
use libfuzzer_sys::fuzz_target;

const BASE: &str = "routes:\n  - host: api.example.com\n    methods: [GET]\n    paths: [/v1/]\n  - host: \"*.example.org\"\n";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.split('\u{1}').map(str::to_string);
    let mut next = || fields.next().filter(|field| !field.is_empty());
    let host = next().unwrap_or_default();
    let method = next();
    let paths: Vec<String> = [next(), next()].into_iter().flatten().collect();
    let header_name = next();
    let header_value = next();
    let route = Route {
        host,
        methods: method.map(|method| vec![method]),
        paths: (!paths.is_empty()).then_some(paths),
        headers: header_name.map(|name| {
            vec![HeaderMatch {
                name,
                value: header_value,
            }]
        }),
        auth_scheme: next(),
        auth_header: next(),
        token_env: next(),
        ..Route::default()
    };
    if !route_problems(&route).is_empty() {
        return;
    }

    let directory = tempfile::tempdir_in("/dev/shm").expect("a temp dir on tmpfs");
    let path = directory.path().join("routes.yaml");
    std::fs::write(&path, BASE).expect("the base file");
    let file = RoutesFile::new(&path);
    let before = file.read().expect("the base file reads").egress.routes;

    let id = ProposalId::generate();
    if file.apply(&id, &Change::Allow(route.clone())).is_err() {
        // Refused as a whole (the section would be invalid): untouched.
        assert_eq!(std::fs::read_to_string(&path).expect("reads"), BASE);
        return;
    }
    let after = file.read().expect("the rewritten file reads");
    assert!(after.applied.contains(&id.to_string()));
    let mut expected = before.clone();
    if !expected.contains(&route) {
        expected.push(route.clone());
    }
    assert_eq!(after.egress.routes, expected, "supervise reads back other routes");

    // What egress loads from the same bytes: the same routes, in order.
    let written = std::fs::read_to_string(&path).expect("reads");
    let table = RouteTable::parse(Path::new("routes.yaml"), &written, &Tokens::new())
        .unwrap_or_else(|error| panic!("egress refuses what supervise wrote: {error}\n{written}"));
    let loaded: Vec<&Route> = table.routes().iter().map(|route| &route.spec).collect();
    assert_eq!(loaded, expected.iter().collect::<Vec<_>>(), "{written}");

    // Blocking the host leaves no route for it.
    let block = ProposalId::generate();
    if file
        .apply(
            &block,
            &Change::Block {
                host: route.host.clone(),
                keep: None,
            },
        )
        .is_ok()
    {
        let blocked = file.read().expect("reads");
        assert!(
            blocked
                .egress
                .routes
                .iter()
                .all(|kept| !kept.host.eq_ignore_ascii_case(&route.host)),
            "{:?}",
            blocked.egress.routes
        );
    }
});
