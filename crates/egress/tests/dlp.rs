//! Outbound DLP and supervised holds end to end: the real DLP scanner
//! ([`DlpInspector`]) and the real proposal queue ([`QueueHolds`]) plugged
//! into the proxy, on loopback against the tests' real upstream, with the
//! operator's answers written to the queue directory by the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bot_bottle_dlp::{DetectorSet, HeldSecret, Scanner, ScannerConfig};
use bot_bottle_egress::dlp_inspector::{DlpInspector, DlpState};
use bot_bottle_egress::inspect::NO_QUEUE_REASON;
use bot_bottle_egress::queue_holds::QueueHolds;
use bot_bottle_queue::{Decision, Payload, Queue, Scope};
use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use http_body_util::Full;

/// The token a route injects: the agent must never send it itself.
const API_TOKEN: &str = "tok-9fK2mQ7xLp4RvT8wZb3Nq6Hd";
/// The canary: planted where only an exfiltration would pick it up.
const CANARY: &str = "canary-Xw7pQ2rLz9Kd4Tm8Vb6Nf3Hj";

/// How long the approve/reject tests wait for the (scripted) operator: the
/// test answers at once, so this only bounds a broken run.
const OPERATOR_WAIT: Duration = Duration::from_secs(30);

fn tokens() -> Vec<(&'static str, &'static str)> {
    vec![
        ("EGRESS_TOKEN_API", API_TOKEN),
        ("EGRESS_TOKEN_CANARY", CANARY),
    ]
}

fn routes(upstream: &Upstream, policy: &str) -> String {
    format!(
        "routes:\n  - host: \"{}\"\n    methods: [GET, POST]\n    paths: [\"/echo\", \"/api/**\"]\n    auth_scheme: Bearer\n    token_env: EGRESS_TOKEN_API\n    outbound_on_match: {policy}\n",
        upstream_authority(upstream)
    )
}

fn scanner() -> Scanner {
    Scanner::new(ScannerConfig {
        held: tokens()
            .into_iter()
            .map(|(name, value)| HeldSecret::new(name, value))
            .collect(),
        detectors: DetectorSet::all(),
        ..ScannerConfig::default()
    })
    .unwrap()
}

/// The proxy with the DLP inspector and, when `queue` is given, queue holds.
async fn dlp_proxy(
    upstream: &Upstream,
    routes_yaml: &str,
    queue: Option<(&Queue, Duration)>,
) -> Proxy {
    let state = DlpState::new(scanner());
    let mut options = ProxyOptions {
        tokens: tokens(),
        inspector: Some(Arc::new(DlpInspector::new(state.clone()))),
        ..ProxyOptions::default()
    };
    if let Some((queue, timeout)) = queue {
        options.holds = Some(Arc::new(QueueHolds::new(
            queue.clone(),
            "test-bottle",
            timeout,
            state,
        )));
    }
    start_proxy(routes_yaml, upstream, options).await
}

fn post(authority: &str, path: &str, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    Request::builder()
        .method("POST")
        .uri(format!("https://{authority}{path}"))
        .header("host", authority)
        .body(Full::new(body.into()))
        .unwrap()
}

async fn send(proxy: &Proxy, upstream: &Upstream, request: Request<Full<Bytes>>) -> Answer {
    let authority = upstream_authority(upstream);
    let mut client = tls_through_proxy(proxy, &authority, UPSTREAM_NAME, &[b"http/1.1"]).await;
    client.send(request).await
}

/// Answer the first pending proposal with `decision` as the operator would,
/// returning its payload.
async fn operator_answers(queue: Queue, decision: Decision) -> Payload {
    loop {
        let listing = queue.list(Scope::Active).unwrap();
        if let Some(entry) = listing
            .entries
            .iter()
            .find(|entry| entry.valid_response().is_none())
        {
            queue
                .answer(
                    &entry.proposal.id,
                    decision,
                    Some("by the test".into()),
                    Some("tester".into()),
                )
                .unwrap();
            return entry.proposal.payload.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn all_proposals(queue: &Queue) -> usize {
    queue.list(Scope::All).unwrap().entries.len()
}

#[tokio::test]
async fn a_held_token_in_the_body_is_refused_under_block() {
    let upstream = start_upstream().await;
    let proxy = dlp_proxy(&upstream, &routes(&upstream, "block"), None).await;
    let authority = upstream_authority(&upstream);
    let answer = send(
        &proxy,
        &upstream,
        post(&authority, "/echo", format!("{{\"key\":\"{API_TOKEN}\"}}")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(answer.body.contains("EGRESS_TOKEN_API"), "{}", answer.body);
    assert!(answer.body.contains("policy is block"), "{}", answer.body);
    assert!(
        !answer.body.contains(API_TOKEN),
        "the refusal shows the token"
    );
    assert!(upstream.seen().is_empty(), "the upstream saw the request");
    proxy.stop().await;
}

#[tokio::test]
async fn a_held_token_in_the_body_is_scrubbed_under_redact() {
    let upstream = start_upstream().await;
    let proxy = dlp_proxy(&upstream, &routes(&upstream, "redact"), None).await;
    let authority = upstream_authority(&upstream);
    let answer = send(
        &proxy,
        &upstream,
        post(&authority, "/echo", format!("key={API_TOKEN}&x=1")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(String::from_utf8_lossy(&seen[0].body), "key=[REDACTED]&x=1");
    // The injected credential still went (the route's, not the agent's).
    assert_eq!(
        seen[0].headers["authorization"],
        vec![format!("Bearer {API_TOKEN}")]
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_held_token_in_the_query_is_scrubbed_under_redact() {
    let upstream = start_upstream().await;
    let proxy = dlp_proxy(&upstream, &routes(&upstream, "redact"), None).await;
    let authority = upstream_authority(&upstream);
    let answer = send(
        &proxy,
        &upstream,
        get(&authority, &format!("/api/x?t={CANARY}"))
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let seen = upstream.seen();
    assert_eq!(seen[0].path, "/api/x?t=[REDACTED]");
    proxy.stop().await;
}

#[tokio::test]
async fn a_hold_without_a_queue_is_refused() {
    let upstream = start_upstream().await;
    let proxy = dlp_proxy(&upstream, &routes(&upstream, "supervise"), None).await;
    let authority = upstream_authority(&upstream);
    let answer = send(
        &proxy,
        &upstream,
        post(&authority, "/echo", format!("key={API_TOKEN}")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(answer.body.contains(NO_QUEUE_REASON), "{}", answer.body);
    assert!(upstream.seen().is_empty());
    proxy.stop().await;
}

#[tokio::test]
async fn a_held_request_is_forwarded_after_approval_and_the_value_is_remembered() {
    let upstream = start_upstream().await;
    let directory = tempfile::tempdir().unwrap();
    let queue = Queue::create(directory.path()).unwrap();
    let proxy = dlp_proxy(
        &upstream,
        &routes(&upstream, "supervise"),
        Some((&queue, OPERATOR_WAIT)),
    )
    .await;
    let authority = upstream_authority(&upstream);
    let body = format!("{{\"note\":\"{CANARY}\"}}");
    let operator = tokio::spawn(operator_answers(queue.clone(), Decision::Approve));
    let answer = send(
        &proxy,
        &upstream,
        post(&authority, "/api/notes?x=1", body.clone()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].body,
        body.as_bytes(),
        "approved: forwarded unchanged"
    );

    let Payload::EgressTokenAllow(asked) = operator.await.unwrap() else {
        panic!("not an egress-token-allow proposal");
    };
    assert_eq!(asked.host, "upstream.test");
    assert_eq!(asked.method, "POST");
    assert_eq!(asked.path, "/api/notes?x=1");
    assert_eq!(asked.detector, "known");
    assert_eq!(asked.rule, "EGRESS_TOKEN_CANARY");
    assert!(asked.context.contains("[REDACTED]"), "{}", asked.context);
    let proposal_text = serde_json::to_string(&asked).unwrap();
    assert!(
        !proposal_text.contains(CANARY),
        "the proposal shows the value"
    );
    // The sidecar archived it after acting.
    assert!(queue.list(Scope::Active).unwrap().entries.is_empty());
    assert_eq!(all_proposals(&queue), 1);

    // The approved value passes from now on, with no new proposal.
    let answer = send(&proxy, &upstream, post(&authority, "/echo", body.clone())).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(all_proposals(&queue), 1, "a second proposal was filed");
    assert_eq!(upstream.seen().len(), 2);
    proxy.stop().await;
}

#[tokio::test]
async fn a_held_request_is_refused_after_rejection() {
    let upstream = start_upstream().await;
    let directory = tempfile::tempdir().unwrap();
    let queue = Queue::create(directory.path()).unwrap();
    let proxy = dlp_proxy(
        &upstream,
        &routes(&upstream, "supervise"),
        Some((&queue, OPERATOR_WAIT)),
    )
    .await;
    let authority = upstream_authority(&upstream);
    let operator = tokio::spawn(operator_answers(queue.clone(), Decision::Reject));
    let answer = send(
        &proxy,
        &upstream,
        post(&authority, "/echo", format!("key={API_TOKEN}")),
    )
    .await;
    operator.await.unwrap();
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(
        answer.body.contains("the operator rejected this request"),
        "{}",
        answer.body
    );
    assert!(upstream.seen().is_empty());
    assert!(queue.list(Scope::Active).unwrap().entries.is_empty());
    proxy.stop().await;
}

#[tokio::test]
async fn a_held_request_is_refused_when_nobody_answers_in_time() {
    let upstream = start_upstream().await;
    let directory = tempfile::tempdir().unwrap();
    let queue = Queue::create(directory.path()).unwrap();
    let proxy = dlp_proxy(
        &upstream,
        &routes(&upstream, "supervise"),
        Some((&queue, Duration::from_millis(200))),
    )
    .await;
    let authority = upstream_authority(&upstream);
    let answer = send(
        &proxy,
        &upstream,
        post(&authority, "/echo", format!("key={API_TOKEN}")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(answer.body.contains("no answer within"), "{}", answer.body);
    assert!(upstream.seen().is_empty());
    let all = queue.list(Scope::All).unwrap();
    assert_eq!(all.entries.len(), 1);
    let response = all.entries[0].valid_response().unwrap();
    assert_eq!(response.decision, Decision::Expired);
    proxy.stop().await;
}

#[tokio::test]
async fn the_canary_base64_encoded_in_a_header_is_blocked() {
    let upstream = start_upstream().await;
    let proxy = dlp_proxy(&upstream, &routes(&upstream, "block"), None).await;
    let authority = upstream_authority(&upstream);
    let encoded = base64::engine::general_purpose::STANDARD.encode(CANARY);
    let request = get(&authority, "/echo")
        .header("x-data", encoded)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = send(&proxy, &upstream, request).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(
        answer.body.contains("EGRESS_TOKEN_CANARY"),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("header x-data"), "{}", answer.body);
    assert!(upstream.seen().is_empty());
    proxy.stop().await;
}

#[tokio::test]
async fn crlf_in_the_path_is_refused_even_under_redact_but_passes_in_a_body() {
    let upstream = start_upstream().await;
    let proxy = dlp_proxy(&upstream, &routes(&upstream, "redact"), None).await;
    let authority = upstream_authority(&upstream);
    let request = get(&authority, "/api/x%0d%0aX-Injected:%20yes")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = send(&proxy, &upstream, request).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(answer.body.contains("crlf"), "{}", answer.body);
    assert!(answer.body.contains("every policy"), "{}", answer.body);
    assert!(upstream.seen().is_empty());

    let form = "comment=line%20one%0d%0aline%20two";
    let mut request = post(&authority, "/echo", form);
    request.headers_mut().insert(
        "content-type",
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    let answer = send(&proxy, &upstream, request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(upstream.seen()[0].body, form.as_bytes());
    proxy.stop().await;
}

#[tokio::test]
async fn a_secret_inside_a_gzip_body_is_caught() {
    let upstream = start_upstream().await;
    let proxy = dlp_proxy(&upstream, &routes(&upstream, "block"), None).await;
    let authority = upstream_authority(&upstream);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(format!("{{\"prompt\":\"use {API_TOKEN}\"}}").as_bytes())
        .unwrap();
    let mut request = post(&authority, "/echo", encoder.finish().unwrap());
    request
        .headers_mut()
        .insert("content-encoding", "gzip".parse().unwrap());
    let answer = send(&proxy, &upstream, request).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(answer.body.contains("EGRESS_TOKEN_API"), "{}", answer.body);
    assert!(upstream.seen().is_empty());
    proxy.stop().await;
}

#[tokio::test]
async fn a_clean_request_passes_untouched_under_every_policy() {
    for policy in ["redact", "block", "supervise"] {
        let upstream = start_upstream().await;
        let proxy = dlp_proxy(&upstream, &routes(&upstream, policy), None).await;
        let authority = upstream_authority(&upstream);
        let body = "{\"prompt\":\"hello, world\"}";
        let answer = send(&proxy, &upstream, post(&authority, "/echo", body)).await;
        assert_eq!(answer.status, StatusCode::OK, "{policy}: {}", answer.body);
        assert_eq!(upstream.seen()[0].body, body.as_bytes(), "{policy}");
        proxy.stop().await;
    }
}

#[tokio::test]
async fn a_websocket_message_carrying_the_canary_is_blocked() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    let upstream = start_upstream().await;
    let authority = format!("{UPSTREAM_NAME}:{}", upstream.websocket.port());
    let routes_yaml = format!(
        "routes:\n  - host: \"{authority}\"\n    paths: [\"/ws\"]\n    outbound_on_match: block\n"
    );
    let proxy = dlp_proxy(&upstream, &routes_yaml, None).await;
    let tls = raw_tls_through_proxy(&proxy, &authority, UPSTREAM_NAME, &[b"http/1.1"]).await;
    let (mut socket, _) = tokio_tungstenite::client_async(format!("wss://{authority}/ws"), tls)
        .await
        .unwrap();
    socket.send(Message::text("hello")).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap(),
        Message::text("echo: hello")
    );
    socket
        .send(Message::text(format!("here: {CANARY}")))
        .await
        .unwrap();
    match socket.next().await.unwrap().unwrap() {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::Policy);
            assert!(!frame.reason.as_str().contains(CANARY));
        }
        other => panic!("expected a policy close, got {other:?}"),
    }
    proxy.stop().await;
}

#[tokio::test]
async fn unicode_evasion_is_refused_even_under_redact() {
    let upstream = start_upstream().await;
    let proxy = dlp_proxy(&upstream, &routes(&upstream, "redact"), None).await;
    let authority = upstream_authority(&upstream);
    // The canary in fullwidth look-alikes.
    let evasive: String = CANARY
        .chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap(),
            other => other,
        })
        .collect();
    let answer = send(
        &proxy,
        &upstream,
        post(&authority, "/echo", format!("note={evasive}")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(answer.body.contains("every policy"), "{}", answer.body);
    assert!(upstream.seen().is_empty());
    proxy.stop().await;
}

#[tokio::test]
async fn no_finding_reaches_a_log_line_under_any_policy() {
    // Current-thread runtime: every proxy task logs on this thread.
    let logs = common::LogCapture::start();

    for policy in ["redact", "block", "supervise"] {
        let upstream = start_upstream().await;
        let routes_yaml = format!("log: full\n{}", routes(&upstream, policy));
        let proxy = dlp_proxy(&upstream, &routes_yaml, None).await;
        let authority = upstream_authority(&upstream);
        let mut request = post(
            &authority,
            &format!("/echo?leak={CANARY}"),
            format!("{{\"stolen\":\"{API_TOKEN}\"}}"),
        );
        request
            .headers_mut()
            .insert("x-leak", CANARY.parse().unwrap());
        let answer = send(&proxy, &upstream, request).await;
        let expected = if policy == "redact" {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(answer.status, expected, "{policy}: {}", answer.body);
        // (Under redact the answer is the test upstream's echo, which shows
        // the credential the proxy injected; the canary must be gone.)
        assert!(!answer.body.contains(CANARY), "{policy}: {}", answer.body);
        proxy.stop().await;
    }

    let log = logs.text();
    assert!(log.contains("outbound DLP finding"), "{log}");
    for secret in [CANARY, API_TOKEN] {
        assert!(
            !log.contains(secret),
            "a held secret reached the log:\n{log}"
        );
        assert!(
            !log.contains(&secret[..12]),
            "part of a held secret reached the log:\n{log}"
        );
    }
}

/// A token-shaped value the proxy does not hold (a GitHub classic token).
const FOREIGN_TOKEN: &str = "ghp_R7mK2xQ9pL4vT8wZ3nB6hD1sF5gJ0aYcEuWq";

#[tokio::test]
async fn log_full_removes_dlp_findings_the_proxy_does_not_hold() {
    let logs = common::LogCapture::start();
    let upstream = start_upstream().await;
    let routes_yaml = format!("log: full\n{}", routes(&upstream, "redact"));
    let proxy = dlp_proxy(&upstream, &routes_yaml, None).await;
    let authority = upstream_authority(&upstream);
    let mut request = post(
        &authority,
        &format!("/echo?t={FOREIGN_TOKEN}"),
        format!("{{\"token\":\"{FOREIGN_TOKEN}\",\"note\":\"visible words\"}}"),
    );
    request
        .headers_mut()
        .insert("x-token", FOREIGN_TOKEN.parse().unwrap());
    let answer = send(&proxy, &upstream, request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    proxy.stop().await;
    let log = logs.text();
    assert!(log.contains("egress request detail"), "{log}");
    assert!(
        log.contains("visible words"),
        "the rest of the body is logged: {log}"
    );
    assert!(
        !log.contains(&FOREIGN_TOKEN[4..20]),
        "a DLP finding reached a log line:\n{log}"
    );
}

#[tokio::test]
async fn a_reload_changes_the_detectors_in_force() {
    let upstream = start_upstream().await;
    let base = routes(&upstream, "block");
    let only_crlf = format!("dlp:\n  outbound_detectors: [crlf]\n{base}");
    let state = DlpState::new(scanner().with_detectors(DetectorSet::parse("crlf").unwrap()));
    let proxy = start_proxy(
        &only_crlf,
        &upstream,
        ProxyOptions {
            tokens: tokens(),
            inspector: Some(Arc::new(DlpInspector::new(state))),
            ..ProxyOptions::default()
        },
    )
    .await;
    let authority = upstream_authority(&upstream);
    let leak = || {
        post(
            &authority,
            "/echo",
            format!("{{\"t\":\"{FOREIGN_TOKEN}\"}}"),
        )
    };
    let answer = send(&proxy, &upstream, leak()).await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "only crlf runs: {}",
        answer.body
    );

    // An invalid detector list is refused; the detectors in force stay.
    std::fs::write(
        &proxy.routes_path,
        format!("dlp:\n  outbound_detectors: [nonsense]\n{base}"),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let answer = send(&proxy, &upstream, leak()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);

    // Back to the default set: the same request is now blocked, no restart.
    std::fs::write(&proxy.routes_path, &base).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let answer = send(&proxy, &upstream, leak()).await;
        if answer.status == StatusCode::FORBIDDEN {
            break;
        }
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert!(
            std::time::Instant::now() < deadline,
            "the reloaded detectors never took effect"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    proxy.stop().await;
}

#[tokio::test]
async fn a_large_body_is_inspected_too_and_blocked_on_a_held_secret() {
    let upstream = start_upstream().await;
    let proxy = dlp_proxy(&upstream, &routes(&upstream, "block"), None).await;
    let authority = upstream_authority(&upstream);
    // Over BLOCKING_SCAN_BYTES, so it is scanned on a blocking thread; the
    // canary sits at the very end.
    let size = bot_bottle_egress::BLOCKING_SCAN_BYTES + 4096;
    let mut body = "a".repeat(size);
    body.push_str(CANARY);
    let answer = send(&proxy, &upstream, post(&authority, "/echo", body)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    let clean = "b".repeat(size);
    let answer = send(&proxy, &upstream, post(&authority, "/echo", clean)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    proxy.stop().await;
}
