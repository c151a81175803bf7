//! Fuzz the request-head path of the proxy: host parsing, path
//! normalisation and the route decision must never panic, and an allowed
//! path must never leave its route's prefix.
//!
//! Run: `cd crates/egress/fuzz && cargo +nightly fuzz run route_decision`.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use bot_bottle_egress::routes::{Host, RequestTarget, RouteTable, Scheme, Tokens, normalize_path};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;

const ROUTES: &str = r#"
routes:
  - host: api.allowed.com
    methods: [GET, POST]
    paths: ["/allowed/", "/v1", "/repos/*/issues", "/files/**"]
  - host: "*.wild.com"
    headers:
      - name: x-version
        value: "2023-*"
  - host: "[fd00::1]:8443"
"#;

fn table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        RouteTable::parse(Path::new("fuzz.yaml"), ROUTES, &Tokens::new()).expect("valid routes")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // host \n method \n path \n header-name \n header-value
    let mut fields = text.splitn(5, '\n');
    let host_text = fields.next().unwrap_or("");
    let method_text = fields.next().unwrap_or("GET");
    let path = fields.next().unwrap_or("/");
    let header_name = fields.next().unwrap_or("");
    let header_value = fields.next().unwrap_or("");

    let _ = normalize_path(path);
    let Ok(host) = Host::parse(host_text) else {
        return;
    };
    let Ok(method) = Method::from_bytes(method_text.as_bytes()) else {
        return;
    };
    let mut headers = HeaderMap::new();
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(header_name.as_bytes()),
        HeaderValue::from_str(header_value),
    ) {
        headers.insert(name, value);
    }
    for (scheme, port) in [
        (Scheme::Https, 443),
        (Scheme::Http, 80),
        (Scheme::Https, 8443),
    ] {
        let target = RequestTarget {
            scheme,
            host: &host,
            port,
            method: &method,
            path,
            headers: &headers,
        };
        if let Ok(route) = table().decide(&target)
            && route.index == 0
        {
            let normalized = normalize_path(path).expect("an allowed path normalises");
            assert!(
                normalized == "/v1"
                    || normalized.starts_with("/v1/")
                    || normalized.starts_with("/allowed/")
                    || normalized.starts_with("/repos/")
                    || normalized.starts_with("/files/"),
                "{path} -> {normalized}"
            );
            assert!(!normalized.split('/').any(|segment| segment == ".."));
        }
    }
});
