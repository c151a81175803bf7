//! Fuzz the routes file (the manifest's `egress:` section, read at start
//! and on every change): parsing and compiling any text never panics; a
//! table that compiles decides requests without panicking; and neither its
//! introspection view nor any error message ever shows a held token's
//! value (unless the file itself spells it out).
//!
//! Run: `cargo +nightly fuzz run --fuzz-dir crates/egress/fuzz routes_file`
//! (from the workspace root).
#![no_main]

use std::path::Path;

use bot_bottle_egress::routes::{Host, RequestTarget, RouteTable, Scheme, Tokens};
use bot_bottle_secret::Redacted;
use http::{HeaderMap, Method};
use libfuzzer_sys::fuzz_target;

const HELD: [(&str, &str); 2] = [
    ("EGRESS_TOKEN_GH", "ghp_fuzzHeldToken0123456789abcdefABCD"),
    ("EGRESS_TOKEN_CANARY", "canary-fuzz-7f3a9c1e5b"),
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let tokens: Tokens = HELD
        .iter()
        .map(|(name, value)| (name.to_string(), Redacted::new(value.to_string())))
        .collect();
    let spelled_out = |value: &str| text.contains(value);
    match RouteTable::parse(Path::new("routes.yaml"), text, &tokens) {
        Ok(table) => {
            let view = serde_json::to_string(&table.view()).expect("the view serialises");
            for (name, value) in HELD {
                assert!(
                    spelled_out(value) || !view.contains(value),
                    "{name}'s value in the view: {view}"
                );
            }
            let headers = HeaderMap::new();
            for host in ["api.example.com", "x.example.com", "127.0.0.1", "[::1]"] {
                let Ok(host) = Host::parse(host) else {
                    continue;
                };
                for (scheme, port) in [(Scheme::Https, 443), (Scheme::Http, 80)] {
                    for path in ["/", "/v1/x", "/a/../b"] {
                        let target = RequestTarget {
                            scheme,
                            host: &host,
                            port,
                            method: &Method::GET,
                            path,
                            headers: &headers,
                        };
                        let _ = table.decide(&target);
                    }
                }
            }
        }
        Err(error) => {
            let message = format!("{error} {error:?}");
            for (name, value) in HELD {
                assert!(
                    spelled_out(value) || !message.contains(value),
                    "{name}'s value in an error: {message}"
                );
            }
        }
    }
});
