//! Audit round 8, in a test binary of its own so that the peak memory it
//! measures is this request's: on a route that limits methods, a JSON
//! body is read for a top-level `_method` key (Rails, Laravel, Symfony
//! honour one). It was read by parsing the whole body into a
//! `serde_json::Value`, on a runtime worker and in no memory budget: a
//! 31 MiB body of `[0,0,0,…]` (16 million numbers, 32 bytes each as a
//! `Value`) took the proxy's peak memory 517 MiB over its resting size for one
//! request. Now only the top-level keys are read, each value skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use http_body_util::Full;

/// A `/proc/self/status` field, in KiB: `VmHWM` (peak resident memory
/// so far) or `VmRSS` (now).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| {
            value
                .trim_start_matches(':')
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_json_body_is_read_for_a_method_override_without_building_it() {
    let upstream = start_upstream().await;
    let authority = upstream_authority(&upstream);
    let routes = format!(
        "routes:\n  - host: \"{authority}\"\n    methods: [POST]\n    paths: [\"/echo\"]\n"
    );
    let proxy = start_proxy(&routes, &upstream, ProxyOptions::default()).await;
    let mut body = Vec::with_capacity(31 << 20);
    body.push(b'[');
    while body.len() < (31 << 20) - 2 {
        body.extend_from_slice(b"0,");
    }
    body.extend_from_slice(b"0]");
    let body = Bytes::from(body);
    let request = || {
        Request::builder()
            .method("POST")
            .uri(format!("https://{authority}/echo"))
            .header("host", &authority)
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .unwrap()
    };
    // Once, so that the buffers every request of this size needs are there.
    let mut client = tls_through_proxy(&proxy, &authority, UPSTREAM_NAME, &[b"http/1.1"]).await;
    let answer = client.send(request()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // Reset the peak (Linux: "5" clears VmHWM), then once more.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let resting = status_kib("VmRSS");
    let answer = client.send(request()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let peak = status_kib("VmHWM");
    // The client's, the proxy's and the upstream's copies of the body
    // (about 31 MiB each) are in the difference: 517 MiB before, 77 now.
    assert!(
        peak.saturating_sub(resting) < 256 * 1024,
        "one request took the peak {} MiB over the resting {} MiB",
        peak.saturating_sub(resting) / 1024,
        resting / 1024
    );
    proxy.stop().await;
}
