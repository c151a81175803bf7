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
/// Another held token (a deploy key's, say), not injected by any route.
const DEPLOY_TOKEN: &str = "dep-Rt5yUi8oPa2sDf6gHj9kLz3x";
/// A held token that is lower-case hex (as Gitea's are): it fits in a
/// hostname as it is.
const HEX_TOKEN: &str = "9f3b2c7d1e8a4f6b0c5d2e7a9b1c3d5e7f9a0b2c";

/// How long the approve/reject tests wait for the (scripted) operator: the
/// test answers at once, so this only bounds a broken run.
const OPERATOR_WAIT: Duration = Duration::from_secs(30);

fn tokens() -> Vec<(&'static str, &'static str)> {
    vec![
        ("EGRESS_TOKEN_API", API_TOKEN),
        ("EGRESS_TOKEN_CANARY", CANARY),
        ("EGRESS_TOKEN_DEPLOY", DEPLOY_TOKEN),
        ("EGRESS_TOKEN_HEX", HEX_TOKEN),
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
    answer.assert_refused("EGRESS_TOKEN_API");
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
    answer.assert_refused(NO_QUEUE_REASON);
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
    let body = format!("{{\"note\":\"{API_TOKEN}\"}}");
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
    // The test upstream's port is not 443: the proposal names it.
    assert_eq!(asked.host, authority);
    assert_eq!(asked.method, "POST");
    assert_eq!(asked.path, "/api/notes?x=1");
    assert_eq!(asked.detector, "known");
    assert_eq!(asked.rule, "EGRESS_TOKEN_API");
    assert!(asked.context.contains("[REDACTED]"), "{}", asked.context);
    let proposal_text = serde_json::to_string(&asked).unwrap();
    assert!(
        !proposal_text.contains(API_TOKEN),
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
async fn the_canary_is_refused_under_supervise_and_never_put_to_the_operator() {
    let upstream = start_upstream().await;
    let directory = tempfile::tempdir().unwrap();
    let queue = Queue::create(directory.path()).unwrap();
    let proxy = dlp_proxy(
        &upstream,
        &routes(&upstream, "supervise"),
        Some((&queue, Duration::from_secs(2))),
    )
    .await;
    let authority = upstream_authority(&upstream);
    // The attack: a finding an operator may well approve (a held token in
    // the query), with the canary riding along in a header.
    let request = get(&authority, &format!("/api/charges?key={API_TOKEN}"))
        .header("x-trace", CANARY)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = send(&proxy, &upstream, request).await;
    answer.assert_refused("the canary is never sent");
    assert!(!answer.body.contains(CANARY), "{}", answer.body);
    assert_eq!(
        all_proposals(&queue),
        0,
        "the canary was put to the operator"
    );
    assert!(upstream.seen().is_empty());
    proxy.stop().await;
}

/// Approval remembers exactly the values the proposal listed: with two
/// held tokens in one request, the proposal names both.
#[tokio::test]
async fn a_hold_lists_every_value_its_approval_would_remember() {
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
    let operator = tokio::spawn(operator_answers(queue.clone(), Decision::Approve));
    let request = get(&authority, &format!("/api/charges?key={API_TOKEN}"))
        .header("x-trace", DEPLOY_TOKEN)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = send(&proxy, &upstream, request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let Payload::EgressTokenAllow(asked) = operator.await.unwrap() else {
        panic!("not an egress-token-allow proposal");
    };
    assert_eq!(asked.rule, "EGRESS_TOKEN_API, EGRESS_TOKEN_DEPLOY");
    assert!(
        asked.preview.contains("header x-trace"),
        "{}",
        asked.preview
    );
    let proposal_text = serde_json::to_string(&asked).unwrap();
    assert!(!proposal_text.contains(API_TOKEN) && !proposal_text.contains(DEPLOY_TOKEN));
    assert_eq!(all_proposals(&queue), 1);
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
    answer.assert_refused("the operator rejected this request");
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
    answer.assert_refused("no answer within");
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
    answer.assert_refused("EGRESS_TOKEN_CANARY");
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
    answer.assert_refused("crlf");
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

/// A held token in the hostname: redaction cannot rewrite the host, so
/// `redact` refuses (403) instead of forwarding, and nothing reaches
/// upstream; `supervise` refuses it too, as it does the canary anywhere.
#[tokio::test]
async fn a_held_token_in_the_hostname_is_refused_even_under_redact() {
    let upstream = start_upstream().await;
    let port = upstream.https.port();
    let host = format!("{}.upstream.test", CANARY.to_ascii_lowercase());
    let authority = format!("{host}:{port}");
    for (policy, wanted) in [
        ("redact", "hostname"),
        ("supervise", "the canary is never sent"),
    ] {
        let routes = format!(
            "routes:\n  - host: \"*.upstream.test:{port}\"\n    outbound_on_match: {policy}\n"
        );
        let proxy = dlp_proxy(&upstream, &routes, None).await;
        let mut client = tls_through_proxy(&proxy, &authority, &host, &[b"http/1.1"]).await;
        let answer = client
            .send(
                get(&authority, "/echo")
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{policy}: {}",
            answer.body
        );
        assert!(answer.body.contains(wanted), "{policy}: {}", answer.body);
        assert!(!answer.body.contains(CANARY), "{}", answer.body);
        assert!(upstream.seen().is_empty(), "{policy}");
        proxy.stop().await;
    }
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
    answer.assert_refused("EGRESS_TOKEN_API");
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
    let proxy = dlp_proxy(&upstream, &websocket_routes(&upstream, "block"), None).await;
    // Opened, and a clean message echoed, by the helper.
    let mut socket = open_echo_socket(&proxy, &upstream).await;
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

/// Control frames carry bytes upstream too: a ping's or pong's payload and
/// a close frame's reason are inspected like any message.
#[tokio::test]
async fn websocket_control_frames_carrying_the_canary_are_blocked() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    let upstream = start_upstream().await;
    let proxy = dlp_proxy(&upstream, &websocket_routes(&upstream, "block"), None).await;
    let payload = Bytes::from(format!("PING:{CANARY}"));
    for message in [
        Message::Ping(payload.clone()),
        Message::Pong(payload.clone()),
    ] {
        let mut socket = open_echo_socket(&proxy, &upstream).await;
        socket.send(message.clone()).await.unwrap();
        // The proxy's own reply to a ping (a pong, to the agent) may come
        // first; what matters is that the socket is closed for policy.
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(answer)) = socket.next().await {
                if let Message::Close(frame) = answer {
                    return frame;
                }
            }
            None
        })
        .await;
        match closed {
            Ok(Some(frame)) => {
                assert_eq!(frame.code, CloseCode::Policy, "{message:?}");
                assert!(!frame.reason.as_str().contains(CANARY));
            }
            other => panic!("{message:?}: expected a policy close, got {other:?}"),
        }
    }
    // A close whose reason carries it: upstream never sees the agent's
    // close (code 4000), only the proxy's policy close.
    let mut socket = open_echo_socket(&proxy, &upstream).await;
    socket
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Library(4000),
            reason: format!("bye {CANARY}").into(),
        })))
        .await
        .unwrap();
    while let Some(Ok(_)) = socket.next().await {}
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while upstream.websocket_closes.lock().unwrap().len() < 3
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let closes = upstream.websocket_closes.lock().unwrap().clone();
    assert!(
        !closes.contains(&4000),
        "the close reason reached upstream: {closes:?}"
    );
    assert!(closes.contains(&1008), "{closes:?}");
    proxy.stop().await;
}

/// A header's name is scanned like its value, and cannot be redacted: a
/// held secret as a name is refused under every policy that would let it
/// through, and the refusal does not echo the name.
#[tokio::test]
async fn a_held_secret_as_a_header_name_is_refused_even_under_redact() {
    let upstream = start_upstream().await;
    let hex: String = CANARY.bytes().map(|byte| format!("{byte:02x}")).collect();
    for policy in ["redact", "block"] {
        let proxy = dlp_proxy(&upstream, &routes(&upstream, policy), None).await;
        let authority = upstream_authority(&upstream);
        let request = get(&authority, "/echo")
            .header(format!("x-{hex}").as_str(), "1")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let answer = send(&proxy, &upstream, request).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{policy}: {}",
            answer.body
        );
        assert!(
            answer.body.contains("the name of header"),
            "{policy}: {}",
            answer.body
        );
        assert!(!answer.body.contains(&hex), "{policy}: {}", answer.body);
        assert!(upstream.seen().is_empty(), "{policy}");
        proxy.stop().await;
    }
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
    answer.assert_refused("every policy");
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

/// The agent chooses the hostname, the SNI and the path, and refusals log
/// them: a held token there (as it is, or encoded) is scrubbed from every
/// line, as it is from `log: full`.
#[tokio::test(flavor = "current_thread")]
async fn held_tokens_in_hostnames_sni_and_denied_paths_never_reach_a_log_line() {
    let logs = common::LogCapture::start();
    let upstream = start_upstream().await;
    let port = upstream.https.port();
    let routes_yaml = format!(
        "{}  - host: \"*.upstream.test:{port}\"\n    outbound_on_match: block\n",
        routes(&upstream, "block")
    );
    let proxy = dlp_proxy(&upstream, &routes_yaml, None).await;
    let authority = upstream_authority(&upstream);
    let empty = || Full::new(Bytes::new());
    // A host no route allows.
    let denied = format!("{HEX_TOKEN}.evil.test:{port}");
    let mut client = tls_through_proxy(
        &proxy,
        &denied,
        &format!("{HEX_TOKEN}.evil.test"),
        &[b"http/1.1"],
    )
    .await;
    let answer = client.send(get(&denied, "/").body(empty()).unwrap()).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    // A host a wildcard route allows, where the DLP finds the token.
    let wild_host = format!("{HEX_TOKEN}.upstream.test");
    let wild = format!("{wild_host}:{port}");
    let mut client = tls_through_proxy(&proxy, &wild, &wild_host, &[b"http/1.1"]).await;
    let answer = client
        .send(get(&wild, "/echo").body(empty()).unwrap())
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    // An SNI that differs from the CONNECT target.
    let sni = format!("{HEX_TOKEN}.sni.test");
    let (proxy_ref, authority_ref) = (&proxy, authority.clone());
    let mut client = tls_through_proxy(proxy_ref, &authority_ref, &sni, &[b"http/1.1"]).await;
    let _ = client
        .send(get(&authority, "/echo").body(empty()).unwrap())
        .await;
    // A path no route allows, the canary percent-encoded in it.
    let encoded: String = CANARY.bytes().map(|byte| format!("%{byte:02X}")).collect();
    let mut client = tls_through_proxy(&proxy, &authority, UPSTREAM_NAME, &[b"http/1.1"]).await;
    let answer = client
        .send(
            get(&authority, &format!("/denied/{encoded}"))
                .body(empty())
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    proxy.stop().await;

    let log = logs.text();
    assert!(log.contains("egress request denied"), "{log}");
    assert!(log.contains("TLS SNI differs"), "{log}");
    for secret in [HEX_TOKEN, &encoded, CANARY] {
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

/// A held secret spread in order over the query and several headers, each
/// piece shorter than a partial match: found across the head's parts, and
/// refused even under redact (no one part holds it to scrub).
#[tokio::test]
async fn a_held_secret_spread_over_headers_is_refused() {
    let upstream = start_upstream().await;
    let authority = upstream_authority(&upstream);
    let pieces: Vec<&str> = CANARY
        .as_bytes()
        .chunks(10)
        .map(|chunk| std::str::from_utf8(chunk).unwrap())
        .collect();
    for policy in ["redact", "block"] {
        let proxy = dlp_proxy(&upstream, &routes(&upstream, policy), None).await;
        let mut request = get(&authority, &format!("/echo?q={}", pieces[0]));
        for (index, piece) in pieces[1..].iter().enumerate() {
            request = request.header(format!("x-part-{index}").as_str(), *piece);
        }
        let answer = send(
            &proxy,
            &upstream,
            request.body(Full::new(Bytes::new())).unwrap(),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{policy}: {}",
            answer.body
        );
        assert!(
            answer.body.contains("EGRESS_TOKEN_CANARY"),
            "{policy}: {}",
            answer.body
        );
        assert!(upstream.seen().is_empty(), "{policy}");
        proxy.stop().await;
    }
}

/// A held token as the subdomain of a supervised wildcard route: held for
/// the operator, and neither the hold's log line nor the proposal shows it.
#[tokio::test(flavor = "current_thread")]
async fn a_held_token_in_a_supervised_hostname_stays_out_of_the_proposal_and_the_log() {
    let logs = common::LogCapture::start();
    let upstream = start_upstream().await;
    let port = upstream.https.port();
    let directory = tempfile::tempdir().unwrap();
    let queue = Queue::create(directory.path()).unwrap();
    let routes_yaml = format!(
        "routes:\n  - host: \"*.upstream.test:{port}\"\n    outbound_on_match: supervise\n"
    );
    let proxy = dlp_proxy(&upstream, &routes_yaml, Some((&queue, OPERATOR_WAIT))).await;
    let operator = tokio::spawn(operator_answers(queue.clone(), Decision::Reject));
    let host = format!("{HEX_TOKEN}.upstream.test");
    let authority = format!("{host}:{port}");
    let mut client = tls_through_proxy(&proxy, &authority, &host, &[b"http/1.1"]).await;
    let answer = client
        .send(
            get(&authority, "/echo")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    let Payload::EgressTokenAllow(asked) = operator.await.unwrap() else {
        panic!("not an egress-token-allow proposal");
    };
    assert!(
        asked.host.ends_with(&format!(".upstream.test:{port}")),
        "{}",
        asked.host
    );
    let proposal = serde_json::to_string(&asked).unwrap();
    assert!(!proposal.contains(&HEX_TOKEN[..12]), "{proposal}");
    proxy.stop().await;
    let log = logs.text();
    assert!(log.contains("request held for the operator"), "{log}");
    assert!(
        !log.contains(&HEX_TOKEN[..12]),
        "a held secret reached the log:\n{log}"
    );
}

/// `log: full` scrubs only the start of a large request body (what the
/// line shows, and a margin): a held token encoded inside a base64 blob
/// that runs far past that start is still recognised and never logged,
/// in any of the three alignments.
#[tokio::test]
async fn log_full_scrubs_a_secret_in_a_blob_cut_by_the_excerpt() {
    use base64::Engine as _;
    let logs = common::LogCapture::start();
    let upstream = start_upstream().await;
    let routes_yaml = format!(
        "log: full\nroutes:\n  - host: \"{}\"\n    outbound_on_match: redact\n",
        upstream_authority(&upstream)
    );
    let proxy = dlp_proxy(&upstream, &routes_yaml, None).await;
    let authority = upstream_authority(&upstream);
    let mut shown = Vec::new();
    for shift in 0..3 {
        let mut plain = vec![b'x'; 2000 + shift];
        plain.extend_from_slice(API_TOKEN.as_bytes());
        plain.extend(std::iter::repeat_n(b'y', 200_000));
        let blob = base64::engine::general_purpose::STANDARD.encode(&plain);
        // The characters that carry only the token's bits.
        shown.push(blob[2672..2700].to_string());
        let answer = send(&proxy, &upstream, post(&authority, "/echo", blob)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }
    proxy.stop().await;
    let log = logs.text();
    assert!(log.contains("egress request detail"), "{log}");
    // The blob is shown, the token's part of it as the redaction mark.
    assert!(log.matches("[REDACTED]").count() >= 3, "{log}");
    for piece in shown {
        assert!(
            !log.contains(&piece),
            "the encoded token reached the log: {piece}"
        );
    }
}

/// A token-shaped value the proxy does not hold (a GitHub classic token).
const FOREIGN_TOKEN: &str = "ghp_R7mK2xQ9pL4vT8wZ3nB6hD1sF5gJ0aYcEuWq";

/// Audit round 8: a proposal never shows a value, but its `method` was
/// the request's method as sent. A route that does not limit methods
/// takes any token as one, a credential shape or a held token included
/// (`ghp_…` and lower-case hex are valid method names): the finding in
/// the request line was held, and the proposal filed for the operator
/// carried the value whole in its `method` field. Now the method is
/// redacted like the path.
#[tokio::test]
async fn a_finding_used_as_the_method_stays_out_of_the_proposal() {
    let upstream = start_upstream().await;
    let directory = tempfile::tempdir().unwrap();
    let queue = Queue::create(directory.path()).unwrap();
    let routes_yaml = format!(
        "routes:\n  - host: \"{}\"\n    outbound_on_match: supervise\n",
        upstream_authority(&upstream)
    );
    let proxy = dlp_proxy(&upstream, &routes_yaml, Some((&queue, OPERATOR_WAIT))).await;
    let authority = upstream_authority(&upstream);
    for value in [FOREIGN_TOKEN, HEX_TOKEN] {
        let operator = tokio::spawn(operator_answers(queue.clone(), Decision::Reject));
        let request = Request::builder()
            .method(value)
            .uri(format!("https://{authority}/echo"))
            .header("host", &authority)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let answer = send(&proxy, &upstream, request).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
        let Payload::EgressTokenAllow(asked) = operator.await.unwrap() else {
            panic!("not an egress-token-allow proposal");
        };
        let proposal = serde_json::to_string(&asked).unwrap();
        assert!(
            !proposal.contains(&value[..12]),
            "the value reached the proposal: {proposal}"
        );
    }
    proxy.stop().await;
}

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

/// `body` compressed with one `Content-Encoding` coding.
fn compress(coding: &str, body: &[u8]) -> Vec<u8> {
    match coding {
        "gzip" => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(body).unwrap();
            encoder.finish().unwrap()
        }
        "deflate" => {
            let mut encoder =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(body).unwrap();
            encoder.finish().unwrap()
        }
        "br" => {
            let mut output = Vec::new();
            {
                let mut writer = brotli::CompressorWriter::new(&mut output, 4096, 5, 22);
                writer.write_all(body).unwrap();
            }
            output
        }
        "zstd" => zstd::encode_all(body, 3).unwrap(),
        other => panic!("no such coding in this test: {other}"),
    }
}

/// A POST of `body` to `/echo` with `Content-Encoding: coding` (a list is
/// applied in order, as the header reads).
fn encoded_post(authority: &str, coding: &str, body: &[u8]) -> Request<Full<Bytes>> {
    let mut encoded = body.to_vec();
    for one in coding.split(',').map(str::trim) {
        encoded = compress(one, &encoded);
    }
    let mut request = post(authority, "/echo", encoded);
    request
        .headers_mut()
        .insert("content-encoding", coding.parse().unwrap());
    request
}

#[tokio::test]
async fn every_content_encoding_is_decoded_for_the_scan_and_forwarded_as_sent() {
    for coding in ["deflate", "br", "zstd", "gzip, br", "zstd, gzip"] {
        let upstream = start_upstream().await;
        let proxy = dlp_proxy(&upstream, &routes(&upstream, "block"), None).await;
        let authority = upstream_authority(&upstream);

        // A held token inside the compressed body: refused, nothing sent.
        let secret = format!("{{\"prompt\":\"use {API_TOKEN} please\"}}");
        let answer = send(
            &proxy,
            &upstream,
            encoded_post(&authority, coding, secret.as_bytes()),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{coding}: {}",
            answer.body
        );
        assert!(
            answer.body.contains("EGRESS_TOKEN_API"),
            "{coding}: {}",
            answer.body
        );
        assert!(upstream.seen().is_empty(), "{coding}");

        // A clean body with the same coding goes through byte for byte,
        // still compressed.
        let clean = encoded_post(&authority, coding, b"{\"prompt\":\"hello, world\"}");
        let sent = clean.body().clone();
        let answer = send(&proxy, &upstream, clean).await;
        assert_eq!(answer.status, StatusCode::OK, "{coding}: {}", answer.body);
        let seen = upstream.seen();
        use http_body_util::BodyExt as _;
        let sent = sent.collect().await.unwrap().to_bytes();
        assert_eq!(seen[0].body, sent.as_ref(), "{coding}");
        assert_eq!(seen[0].headers["content-encoding"], [coding], "{coding}");
        proxy.stop().await;
    }
}

#[tokio::test]
async fn a_body_the_proxy_cannot_decode_is_refused_and_nothing_is_sent() {
    let upstream = start_upstream().await;
    let proxy = dlp_proxy(&upstream, &routes(&upstream, "redact"), None).await;
    let authority = upstream_authority(&upstream);
    let mut truncated = compress("gzip", format!("{{\"prompt\":\"{API_TOKEN}\"}}").as_bytes());
    truncated.truncate(truncated.len() / 2);
    let cases: [(&str, Vec<u8>); 4] = [
        ("gzip", b"this is not gzip at all".to_vec()),
        ("gzip", truncated),
        ("zstd", b"\x28\xb5\x2f\xfd garbage".to_vec()),
        ("compress", b"an encoding the proxy does not know".to_vec()),
    ];
    for (coding, body) in cases {
        let mut request = post(&authority, "/echo", body);
        request
            .headers_mut()
            .insert("content-encoding", coding.parse().unwrap());
        let answer = send(&proxy, &upstream, request).await;
        assert!(
            answer.status.is_client_error(),
            "{coding}: {} {}",
            answer.status,
            answer.body
        );
        assert!(
            answer.body.contains("only what it can inspect") || answer.body.contains("encoding"),
            "{coding}: {}",
            answer.body
        );
        assert!(upstream.seen().is_empty(), "{coding}: it reached upstream");
    }
    proxy.stop().await;
}

/// What rides in a compression container outside the compressed stream is
/// forwarded as sent, so it is scanned as sent: bytes after a zlib stream's
/// end, a zstd skippable frame, a gzip header's file name field.
#[tokio::test]
async fn plaintext_riding_in_a_compressed_bodys_container_is_caught() {
    let upstream = start_upstream().await;
    let proxy = dlp_proxy(&upstream, &routes(&upstream, "redact"), None).await;
    let authority = upstream_authority(&upstream);
    let leak = format!(" leak={CANARY}");
    let mut trailing = compress("deflate", b"hello");
    trailing.extend_from_slice(leak.as_bytes());
    let mut skippable = compress("zstd", b"hello");
    skippable.extend_from_slice(&0x184D_2A50u32.to_le_bytes());
    skippable.extend_from_slice(&(leak.len() as u32).to_le_bytes());
    skippable.extend_from_slice(leak.as_bytes());
    let mut named = flate2::GzBuilder::new()
        .filename(leak.as_bytes())
        .write(Vec::new(), flate2::Compression::default());
    named.write_all(b"hello").unwrap();
    let named = named.finish().unwrap();
    // Bytes after a deflate stream make the body undecodable (400); the
    // other two are found in the container as sent (403).
    for (coding, body, status, says) in [
        (
            "deflate",
            trailing,
            StatusCode::BAD_REQUEST,
            "not valid deflate",
        ),
        (
            "zstd",
            skippable,
            StatusCode::FORBIDDEN,
            "EGRESS_TOKEN_CANARY",
        ),
        ("gzip", named, StatusCode::FORBIDDEN, "EGRESS_TOKEN_CANARY"),
    ] {
        let mut request = post(&authority, "/echo", body);
        request
            .headers_mut()
            .insert("content-encoding", coding.parse().unwrap());
        let answer = send(&proxy, &upstream, request).await;
        assert_eq!(answer.status, status, "{coding}: {}", answer.body);
        assert!(answer.body.contains(says), "{coding}: {}", answer.body);
        assert!(!answer.body.contains(CANARY), "{coding}: {}", answer.body);
    }
    assert!(upstream.seen().is_empty());
    proxy.stop().await;
}

/// A transfer coding under `chunked` would reach the body undecoded and be
/// forwarded without its label: refused.
#[tokio::test]
async fn a_transfer_coding_other_than_chunked_is_refused() {
    let upstream = start_upstream().await;
    let proxy = dlp_proxy(&upstream, &routes(&upstream, "block"), None).await;
    let authority = upstream_authority(&upstream);
    let text = format!("{} leak={CANARY}", "some ordinary text ".repeat(100));
    let body = compress("gzip", text.as_bytes());
    let mut raw = format!(
        "POST /echo HTTP/1.1\r\nHost: {authority}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n{:x}\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    raw.extend_from_slice(b"\r\n0\r\n\r\n");
    let (code, text) = raw_exchange(&proxy, &upstream, &raw).await;
    assert_eq!(code, 501, "{text}");
    assert!(text.contains("transfer coding"), "{text}");
    assert!(upstream.seen().is_empty());
    proxy.stop().await;
}

/// Send a raw HTTP/1.1 request through the tunnel; the response's status
/// code and the whole text read until the proxy closes or answers.
async fn raw_exchange(proxy: &Proxy, upstream: &Upstream, head_and_body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let authority = upstream_authority(upstream);
    let mut tls = raw_tls_through_proxy(proxy, &authority, UPSTREAM_NAME, &[b"http/1.1"]).await;
    tls.write_all(head_and_body).await.unwrap();
    tls.flush().await.unwrap();
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(10), tls.read(&mut buffer))
            .await
            .expect("the proxy answers")
            .unwrap_or(0);
        if read == 0 {
            break;
        }
        response.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&response);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(usize::MAX);
            if body.len() >= length {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    (code, text)
}

#[tokio::test]
async fn a_chunked_body_is_scanned_whole_even_with_the_secret_split_across_chunks() {
    let upstream = start_upstream().await;
    let proxy = dlp_proxy(&upstream, &routes(&upstream, "block"), None).await;
    let authority = upstream_authority(&upstream);
    let (first, second) = API_TOKEN.split_at(API_TOKEN.len() / 2);
    let chunks = [
        "{\"prompt\":\"use ".to_string(),
        first.to_string(),
        second.to_string(),
        " now\"}".to_string(),
    ];
    let mut request = format!(
        "POST /echo HTTP/1.1\r\nhost: {authority}\r\ntransfer-encoding: chunked\r\ncontent-type: application/json\r\n\r\n"
    );
    for chunk in &chunks {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    request.push_str("0\r\n\r\n");
    let (code, text) = raw_exchange(&proxy, &upstream, request.as_bytes()).await;
    assert_eq!(code, 403, "{text}");
    assert!(text.contains("EGRESS_TOKEN_API"), "{text}");
    assert!(upstream.seen().is_empty());

    // The same chunks without the secret go through, reassembled.
    let mut clean =
        format!("POST /echo HTTP/1.1\r\nhost: {authority}\r\ntransfer-encoding: chunked\r\n\r\n");
    for chunk in ["{\"prompt\":", "\"hello\"}"] {
        clean.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    clean.push_str("0\r\n\r\n");
    let (code, text) = raw_exchange(&proxy, &upstream, clean.as_bytes()).await;
    assert_eq!(code, 200, "{text}");
    assert_eq!(upstream.seen()[0].body, b"{\"prompt\":\"hello\"}");
    proxy.stop().await;
}

#[tokio::test]
async fn a_multipart_body_is_scanned_whole_including_encoded_parts() {
    let upstream = start_upstream().await;
    let proxy = dlp_proxy(&upstream, &routes(&upstream, "block"), None).await;
    let authority = upstream_authority(&upstream);
    let boundary = "----bot-bottle-test-boundary";
    let multipart = |file_part: &str| {
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nsee the attached file\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\n\
             Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n{file_part}\r\n--{boundary}--\r\n"
        )
    };
    let mut refused = 0;
    // The canary base64-encoded inside the file part, and the held token
    // percent-encoded in a form field.
    let encoded_canary = base64::engine::general_purpose::STANDARD
        .encode(format!("line one\nthe canary is {CANARY}\nline three\n"));
    let percent_token: String = API_TOKEN
        .bytes()
        .map(|byte| format!("%{byte:02X}"))
        .collect();
    for (body, held) in [
        (multipart(&encoded_canary), "EGRESS_TOKEN_CANARY"),
        (multipart(&percent_token), "EGRESS_TOKEN_API"),
    ] {
        let mut request = post(&authority, "/echo", body);
        request.headers_mut().insert(
            "content-type",
            format!("multipart/form-data; boundary={boundary}")
                .parse()
                .unwrap(),
        );
        let answer = send(&proxy, &upstream, request).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
        assert!(answer.body.contains(held), "{held}: {}", answer.body);
        refused += 1;
    }
    assert_eq!(refused, 2);
    assert!(upstream.seen().is_empty());

    // A clean multipart body passes as sent.
    let clean = multipart(&base64::engine::general_purpose::STANDARD.encode("nothing to see\n"));
    let mut request = post(&authority, "/echo", clean.clone());
    request.headers_mut().insert(
        "content-type",
        format!("multipart/form-data; boundary={boundary}")
            .parse()
            .unwrap(),
    );
    let answer = send(&proxy, &upstream, request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(upstream.seen()[0].body, clean.as_bytes());
    proxy.stop().await;
}

#[tokio::test]
async fn a_credential_shape_the_proxy_does_not_hold_is_caught_by_its_rule() {
    // Not one of the proxy's tokens: only the rule for GitHub tokens knows it.
    const GITHUB_TOKEN: &str = "ghp_R7mK2xQ9pL4vT8wZ3nB6hD1sF5gJ0aYcEuWq";
    for (policy, status) in [("block", StatusCode::FORBIDDEN), ("redact", StatusCode::OK)] {
        let upstream = start_upstream().await;
        let proxy = dlp_proxy(&upstream, &routes(&upstream, policy), None).await;
        let authority = upstream_authority(&upstream);
        let body = format!("{{\"prompt\":\"push with {GITHUB_TOKEN}\"}}");
        let answer = send(&proxy, &upstream, post(&authority, "/echo", body)).await;
        assert_eq!(answer.status, status, "{policy}: {}", answer.body);
        match policy {
            "block" => {
                assert!(answer.body.contains("github"), "{}", answer.body);
                assert!(!answer.body.contains(GITHUB_TOKEN), "{}", answer.body);
                assert!(upstream.seen().is_empty());
            }
            _ => {
                let seen = upstream.seen();
                let forwarded = String::from_utf8_lossy(&seen[0].body);
                assert!(!forwarded.contains(GITHUB_TOKEN), "{forwarded}");
                assert!(
                    forwarded.starts_with("{\"prompt\":\"push with "),
                    "{forwarded}"
                );
            }
        }
        proxy.stop().await;
    }
}

#[tokio::test]
async fn a_held_request_is_refused_when_the_answer_is_malformed() {
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
    // Whoever answers writes a response file that is not a response.
    let writer = {
        let queue = queue.clone();
        tokio::spawn(async move {
            loop {
                let listing = queue.list(Scope::Active).unwrap();
                if let Some(entry) = listing.entries.first() {
                    let path = queue.response_path(&entry.proposal.id);
                    std::fs::write(path, b"{\"decision\": \"approve\", \"oops\"").unwrap();
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let answer = send(
        &proxy,
        &upstream,
        post(&authority, "/echo", format!("key={API_TOKEN}")),
    )
    .await;
    writer.await.unwrap();
    answer.assert_refused("unusable");
    assert!(!answer.body.contains(API_TOKEN), "{}", answer.body);
    assert!(upstream.seen().is_empty());
    proxy.stop().await;
}

/// A WebSocket through the proxy to the test upstream's echo server.
type EchoSocket =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// The authority of the upstream's WebSocket echo server.
fn websocket_authority(upstream: &Upstream) -> String {
    format!("{UPSTREAM_NAME}:{}", upstream.websocket.port())
}

/// Routes allowing `/ws` on the WebSocket echo server under `policy`.
fn websocket_routes(upstream: &Upstream, policy: &str) -> String {
    format!(
        "routes:\n  - host: \"{}\"\n    paths: [\"/ws\"]\n    outbound_on_match: {policy}\n",
        websocket_authority(upstream)
    )
}

/// Open `/ws` on the echo server through the proxy, and check that a clean
/// message goes both ways.
async fn open_echo_socket(proxy: &Proxy, upstream: &Upstream) -> EchoSocket {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let authority = websocket_authority(upstream);
    let tls = raw_tls_through_proxy(proxy, &authority, UPSTREAM_NAME, &[b"http/1.1"]).await;
    let (mut socket, _) = tokio_tungstenite::client_async(format!("wss://{authority}/ws"), tls)
        .await
        .unwrap();
    socket.send(Message::text("hello")).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap(),
        Message::text("echo: hello")
    );
    socket
}

/// The redaction mark as text.
fn mark() -> String {
    String::from_utf8(bot_bottle_dlp::REDACTION_MARK.to_vec()).unwrap()
}

#[tokio::test]
async fn a_websocket_message_with_a_held_token_is_scrubbed_under_redact() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let upstream = start_upstream().await;
    let proxy = dlp_proxy(&upstream, &websocket_routes(&upstream, "redact"), None).await;
    let mut socket = open_echo_socket(&proxy, &upstream).await;
    socket
        .send(Message::text(format!("before {API_TOKEN} after")))
        .await
        .unwrap();
    // The echo shows what the upstream received.
    let Message::Text(echo) = socket.next().await.unwrap().unwrap() else {
        panic!("expected the echo of the scrubbed message");
    };
    let echo = echo.as_str();
    assert!(!echo.contains(API_TOKEN), "{echo}");
    assert!(!echo.contains(&API_TOKEN[..12]), "{echo}");
    assert_eq!(echo, format!("echo: before {} after", mark()));

    // The socket stays open: the next message goes through as sent.
    socket.send(Message::text("still here")).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap(),
        Message::text("echo: still here")
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_websocket_message_held_for_the_operator_is_sent_after_approval() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let upstream = start_upstream().await;
    let directory = tempfile::tempdir().unwrap();
    let queue = Queue::create(directory.path()).unwrap();
    let proxy = dlp_proxy(
        &upstream,
        &websocket_routes(&upstream, "supervise"),
        Some((&queue, OPERATOR_WAIT)),
    )
    .await;
    let mut socket = open_echo_socket(&proxy, &upstream).await;
    assert_eq!(all_proposals(&queue), 0, "a clean message was held");

    let operator = tokio::spawn(operator_answers(queue.clone(), Decision::Approve));
    let message = format!("use {API_TOKEN} for this");
    socket.send(Message::text(message.clone())).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap(),
        Message::text(format!("echo: {message}")),
        "approved: the message goes as sent"
    );
    let Payload::EgressTokenAllow(asked) = tokio::time::timeout(OPERATOR_WAIT, operator)
        .await
        .expect("the message was never held for the operator")
        .unwrap()
    else {
        panic!("not an egress-token-allow proposal");
    };
    assert_eq!(
        asked.host,
        format!("{UPSTREAM_NAME}:{}", upstream.websocket.port())
    );
    assert_eq!(asked.path, "/ws");
    assert_eq!(asked.detector, "known");
    assert_eq!(asked.rule, "EGRESS_TOKEN_API");
    let proposal_text = serde_json::to_string(&asked).unwrap();
    assert!(
        !proposal_text.contains(API_TOKEN),
        "the proposal shows the value"
    );
    assert_eq!(all_proposals(&queue), 1);

    // The approved value is remembered: the same message passes again with
    // no new proposal.
    socket.send(Message::text(message.clone())).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap(),
        Message::text(format!("echo: {message}"))
    );
    assert_eq!(all_proposals(&queue), 1, "a second proposal was filed");
    proxy.stop().await;
}

#[tokio::test]
async fn a_websocket_message_rejected_by_the_operator_closes_the_socket() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    let upstream = start_upstream().await;
    let directory = tempfile::tempdir().unwrap();
    let queue = Queue::create(directory.path()).unwrap();
    let proxy = dlp_proxy(
        &upstream,
        &websocket_routes(&upstream, "supervise"),
        Some((&queue, OPERATOR_WAIT)),
    )
    .await;
    let mut socket = open_echo_socket(&proxy, &upstream).await;
    let operator = tokio::spawn(operator_answers(queue.clone(), Decision::Reject));
    socket
        .send(Message::text(format!("use {API_TOKEN} for this")))
        .await
        .unwrap();
    // No echo: the first thing back is the policy close.
    match socket.next().await.unwrap().unwrap() {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::Policy);
            let reason = frame.reason.as_str();
            assert!(reason.contains("the operator rejected"), "{reason}");
            assert!(!reason.contains(API_TOKEN), "{reason}");
        }
        other => panic!("expected a policy close, got {other:?}"),
    }
    operator.await.unwrap();
    // Nothing else arrives: the socket is over.
    while let Some(next) = socket.next().await {
        match next {
            Ok(Message::Close(_)) | Err(_) => {}
            Ok(other) => panic!("a message after the close: {other:?}"),
        }
    }
    assert!(queue.list(Scope::Active).unwrap().entries.is_empty());
    assert_eq!(all_proposals(&queue), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn a_compressed_body_is_redacted_and_forwarded_decoded() {
    let upstream = start_upstream().await;
    let proxy = dlp_proxy(&upstream, &routes(&upstream, "redact"), None).await;
    let authority = upstream_authority(&upstream);
    let plain = format!("{{\"prompt\":\"use {API_TOKEN} please\"}}");
    let answer = send(
        &proxy,
        &upstream,
        encoded_post(&authority, "gzip", plain.as_bytes()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    let expected = format!("{{\"prompt\":\"use {} please\"}}", mark());
    assert_eq!(
        String::from_utf8_lossy(&seen[0].body),
        expected,
        "the upstream gets the decoded body, scrubbed"
    );
    assert!(
        !seen[0].headers.contains_key("content-encoding"),
        "{:?}",
        seen[0].headers
    );
    assert_eq!(
        seen[0].headers["content-length"],
        [expected.len().to_string()]
    );
    assert_eq!(answer.json()["body_len"], expected.len());
    proxy.stop().await;
}

#[tokio::test]
async fn a_binary_body_carrying_a_held_token_is_caught() {
    let upstream = start_upstream().await;
    let proxy = dlp_proxy(&upstream, &routes(&upstream, "block"), None).await;
    let authority = upstream_authority(&upstream);
    let before: &[u8] = &[0xff, 0x00, 0x80, 0xfe, 0xc3, 0x28, 0x00, 0x9f, 0xff];
    let after: &[u8] = &[0x00, 0xa0, 0xa1, 0xf0, 0x28, 0x8c, 0xbc, 0xff, 0x00];
    let binary_post = |middle: &[u8]| {
        let mut body = before.to_vec();
        body.extend_from_slice(middle);
        body.extend_from_slice(after);
        assert!(
            std::str::from_utf8(&body).is_err(),
            "the body must be binary"
        );
        let mut request = post(&authority, "/echo", body);
        request
            .headers_mut()
            .insert("content-type", "application/octet-stream".parse().unwrap());
        request
    };
    let answer = send(&proxy, &upstream, binary_post(API_TOKEN.as_bytes())).await;
    answer.assert_refused("EGRESS_TOKEN_API");
    assert!(!answer.body.contains(API_TOKEN), "{}", answer.body);
    assert!(upstream.seen().is_empty(), "the upstream saw the request");

    // The same bytes without the token pass byte for byte: the refusal was
    // the token, not the binary.
    let clean = binary_post(b"nothing secret here");
    let answer = send(&proxy, &upstream, clean).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let mut expected = before.to_vec();
    expected.extend_from_slice(b"nothing secret here");
    expected.extend_from_slice(after);
    assert_eq!(upstream.seen()[0].body, expected);
    proxy.stop().await;
}

#[tokio::test]
async fn crlf_in_a_header_value_is_refused_under_every_policy() {
    for policy in ["redact", "block", "supervise"] {
        for value in [
            "line one%0d%0aX-Injected: yes",
            "line one%0Aline two",
            "double %250d%250a encoded",
        ] {
            let upstream = start_upstream().await;
            let proxy = dlp_proxy(&upstream, &routes(&upstream, policy), None).await;
            let authority = upstream_authority(&upstream);
            let request = get(&authority, "/echo")
                .header("x-note", value)
                .body(Full::new(Bytes::new()))
                .unwrap();
            let answer = send(&proxy, &upstream, request).await;
            assert_eq!(
                answer.status,
                StatusCode::FORBIDDEN,
                "{policy} {value:?}: {}",
                answer.body
            );
            assert!(
                answer.body.contains("crlf"),
                "{policy} {value:?}: {}",
                answer.body
            );
            assert!(
                answer.body.contains("header x-note"),
                "{policy} {value:?}: {}",
                answer.body
            );
            assert!(
                answer.body.contains("every policy"),
                "{policy} {value:?}: {}",
                answer.body
            );
            assert!(upstream.seen().is_empty(), "{policy} {value:?}");

            // The same header without the encoded CR/LF passes.
            let request = get(&authority, "/echo")
                .header("x-note", "line one, line two")
                .body(Full::new(Bytes::new()))
                .unwrap();
            let answer = send(&proxy, &upstream, request).await;
            assert_eq!(answer.status, StatusCode::OK, "{policy}: {}", answer.body);
            assert_eq!(upstream.seen()[0].headers["x-note"], ["line one, line two"]);
            proxy.stop().await;
        }
    }
}

#[tokio::test]
async fn an_entropy_finding_only_warns_and_passes() {
    use bot_bottle_dlp::{Detector, Severity};

    // Current-thread runtime: every proxy task logs on this thread.
    let logs = common::LogCapture::start();
    // Random-looking, held by nobody, in no rule's shape: 64 distinct
    // characters, so its entropy is 6 bits per character.
    const RANDOM: &str = "q7Z!mK2@xR9#pL4$vT8^wB3*nH6-dF1_sJ5.gY0~cE+aUoIiNtVrWuXyAbDeGhMk";
    let with_entropy = DetectorSet::parse("all,entropy").unwrap();
    let scanner = scanner().with_detectors(with_entropy);
    let body = format!("{{\"nonce\":\"{RANDOM}\"}}");
    // The premise: the scanner reports it, and only as an entropy warning.
    let findings = scanner.scan(body.as_bytes()).into_vec();
    assert!(!findings.is_empty(), "the entropy detector does not see it");
    for finding in &findings {
        assert_eq!(finding.detector, Detector::Entropy, "{finding:?}");
        assert_eq!(finding.severity, Severity::Warn, "{finding:?}");
    }

    let upstream = start_upstream().await;
    let routes_yaml = format!(
        "dlp:\n  outbound_detectors: [all, entropy]\n{}",
        routes(&upstream, "block")
    );
    let proxy = start_proxy(
        &routes_yaml,
        &upstream,
        ProxyOptions {
            tokens: tokens(),
            inspector: Some(Arc::new(DlpInspector::new(DlpState::new(scanner)))),
            ..ProxyOptions::default()
        },
    )
    .await;
    let authority = upstream_authority(&upstream);
    let answer = send(&proxy, &upstream, post(&authority, "/echo", body.clone())).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, body.as_bytes(), "forwarded unchanged");
    proxy.stop().await;

    let log = logs.text();
    assert!(
        log.contains("outbound DLP warning (not blocking)"),
        "the entropy finding was not reported: {log}"
    );
    assert!(log.contains("entropy"), "{log}");
}

/// Four requests held for an operator who never answers, on a runtime whose
/// blocking pool has two threads: a clean request whose large body is
/// decoded and scanned on that pool must still go through at once. (While
/// each hold waited on a blocking thread, it queued behind them until the
/// holds timed out.)
#[test]
fn held_requests_hold_no_thread_while_they_wait() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let upstream = start_upstream().await;
        let directory = tempfile::tempdir().unwrap();
        let queue = Queue::create(directory.path()).unwrap();
        let proxy = dlp_proxy(
            &upstream,
            &routes(&upstream, "supervise"),
            Some((&queue, Duration::from_secs(60))),
        )
        .await;
        let authority = upstream_authority(&upstream);
        const HELD: usize = 4;
        let holds = futures_util::future::join_all((0..HELD).map(|index| {
            send(
                &proxy,
                &upstream,
                post(&authority, "/echo", format!("key={API_TOKEN}&n={index}")),
            )
        }));
        let meanwhile = async {
            // Every hold is filed and waiting.
            let waited = std::time::Instant::now();
            loop {
                if queue.list(Scope::Active).unwrap().entries.len() == HELD {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                if waited.elapsed() > Duration::from_secs(5) {
                    // Holds that each keep a thread cannot all be filed on
                    // a two-thread pool; the request below shows the harm.
                    break;
                }
            }
            // A clean gzip body larger than BLOCKING_SCAN_BYTES: decoded and
            // scanned on the blocking pool.
            let large = format!(
                "{{\"prompt\":\"{}\"}}",
                "plain words ".repeat(bot_bottle_egress::BLOCKING_SCAN_BYTES / 8)
            );
            let answer = tokio::time::timeout(
                Duration::from_secs(15),
                send(
                    &proxy,
                    &upstream,
                    encoded_post(&authority, "gzip", large.as_bytes()),
                ),
            )
            .await;
            // Now the operator refuses every hold, as they come (on a
            // timeout too, so the holds end and the test fails instead of
            // hanging).
            let operator = queue.clone();
            tokio::spawn(async move {
                loop {
                    for entry in operator.list(Scope::Active).unwrap().entries {
                        let _ = operator.answer(
                            &entry.proposal.id,
                            Decision::Reject,
                            Some("no".into()),
                            None,
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            });
            answer
        };
        let (held, answer) = tokio::join!(holds, meanwhile);
        let answer = answer.expect("a clean request waited behind the held ones");
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        for held in held {
            assert_eq!(held.status, StatusCode::FORBIDDEN, "{}", held.body);
            assert!(held.body.contains("rejected"), "{}", held.body);
        }
        proxy.stop().await;
    });
}

#[tokio::test]
async fn a_hold_whose_agent_went_away_is_still_expired_and_archived() {
    let upstream = start_upstream().await;
    let directory = tempfile::tempdir().unwrap();
    let queue = Queue::create(directory.path()).unwrap();
    let proxy = dlp_proxy(
        &upstream,
        &routes(&upstream, "supervise"),
        Some((&queue, Duration::from_millis(600))),
    )
    .await;
    let authority = upstream_authority(&upstream);
    {
        let request = send(
            &proxy,
            &upstream,
            post(&authority, "/echo", format!("key={API_TOKEN}")),
        );
        // The agent gives up as soon as its request is held.
        let filed = async {
            while queue.list(Scope::Active).unwrap().entries.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::select! {
            _ = request => panic!("the held request was answered before the timeout"),
            () = filed => {}
        }
    }
    // Nobody answers: past the timeout the proposal is expired and
    // archived, not left pending for an operator to answer into the void.
    let settled = async {
        while !queue.list(Scope::Active).unwrap().entries.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), settled)
        .await
        .expect("the abandoned hold stayed pending");
    let all = queue.list(Scope::All).unwrap().entries;
    assert_eq!(all.len(), 1);
    let response = all[0].valid_response().expect("archived with its answer");
    assert_eq!(
        response.decision.kind(),
        bot_bottle_queue::DecisionKind::Expired
    );
    assert!(upstream.seen().is_empty());
    proxy.stop().await;
}

/// A request's context as the proxy gives it to the inspector.
fn context(request_id: u64) -> bot_bottle_egress::inspect::RequestContext {
    bot_bottle_egress::inspect::RequestContext {
        request_id,
        client: ([127, 0, 0, 1], 40000).into(),
        scheme: bot_bottle_egress::routes::Scheme::Https,
        host: "api.example.com".into(),
        log_host: "api.example.com".into(),
        port: 443,
        route_index: 0,
        route_host: "api.example.com".into(),
        on_match: bot_bottle_manifest::model::OnMatch::Supervise,
    }
}

#[tokio::test]
async fn a_hold_whose_method_and_path_were_forgotten_is_refused_never_filed_blank() {
    use bot_bottle_egress::inspect::{HoldOutcome, HoldResolver, Inspector, Verdict};
    // Its head was inspected, then more than `REMEMBERED_HEADS` other
    // requests came before its body: the operator would see a proposal
    // with no method and no path.
    let state = DlpState::new(scanner());
    let inspector = DlpInspector::new(state.clone());
    let held = format!("{{\"key\":\"{DEPLOY_TOKEN}\"}}");
    match inspector.inspect_body(&context(1), held.as_bytes()) {
        Verdict::Block(reason) => assert!(
            reason.contains("method and path are no longer known"),
            "{reason}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }

    // A hold the resolver has no detail for files nothing either.
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::create(dir.path()).unwrap();
    let holds = QueueHolds::new(queue.clone(), "test-bottle", OPERATOR_WAIT, state);
    let hold = bot_bottle_egress::inspect::Hold {
        detector: "known".into(),
        location: "body".into(),
        preview: "de***3x".into(),
    };
    match holds.resolve(&context(2), &hold).await {
        HoldOutcome::Reject(reason) => {
            assert!(reason.contains("details were lost"), "{reason}")
        }
        HoldOutcome::Approve => panic!("a hold with no detail was approved"),
    }
    assert!(queue.list(Scope::All).unwrap().entries.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_pending_holds_bound_a_hold_is_refused_without_filing() {
    use bot_bottle_egress::inspect::{HoldOutcome, HoldResolver, Inspector, RequestHead, Verdict};
    let state = DlpState::new(scanner());
    let inspector = DlpInspector::new(state.clone());
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::create(dir.path()).unwrap();
    let holds = Arc::new(
        QueueHolds::new(queue.clone(), "test-bottle", OPERATOR_WAIT, state).with_max_pending(1),
    );
    let path = format!("/v1/x?k={DEPLOY_TOKEN}");
    let headers = http::HeaderMap::new();
    let held = |id: u64| {
        let verdict = inspector.inspect_head(
            &context(id),
            &RequestHead {
                method: &http::Method::GET,
                path_and_query: &path,
                headers: &headers,
            },
        );
        match verdict {
            Verdict::Hold(hold) => hold,
            other => panic!("expected a hold, got {other:?}"),
        }
    };
    let first = held(1);
    let waiting = {
        let holds = Arc::clone(&holds);
        tokio::spawn(async move { holds.resolve(&context(1), &first).await })
    };
    let started = std::time::Instant::now();
    while queue.list(Scope::All).unwrap().entries.is_empty() {
        assert!(started.elapsed() < Duration::from_secs(10), "never filed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = held(2);
    match holds.resolve(&context(2), &second).await {
        HoldOutcome::Reject(reason) => {
            assert!(reason.contains("too many requests"), "{reason}")
        }
        HoldOutcome::Approve => panic!("approved past the bound"),
    }
    assert_eq!(queue.list(Scope::All).unwrap().entries.len(), 1);
    waiting.abort();
}

/// Past `MAX_HOLDS_PER_WINDOW` proposals in the window, a hold is refused
/// at once with nothing filed, even with none pending: an agent repeating
/// a held request as each is answered cannot ask the operator endlessly.
#[tokio::test]
async fn past_the_hold_rate_a_hold_is_refused_without_filing() {
    use bot_bottle_egress::inspect::{HoldOutcome, HoldResolver, Inspector, RequestHead, Verdict};
    let state = DlpState::new(scanner());
    let inspector = DlpInspector::new(state.clone());
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::create(dir.path()).unwrap();
    let holds = QueueHolds::new(
        queue.clone(),
        "test-bottle",
        Duration::from_millis(300),
        state,
    )
    .with_rate(2, Duration::from_secs(3600));
    let path = format!("/v1/x?k={DEPLOY_TOKEN}");
    let headers = http::HeaderMap::new();
    let mut reasons = Vec::new();
    for id in 1..=3 {
        let verdict = inspector.inspect_head(
            &context(id),
            &RequestHead {
                method: &http::Method::GET,
                path_and_query: &path,
                headers: &headers,
            },
        );
        let Verdict::Hold(hold) = verdict else {
            panic!("expected a hold, got {verdict:?}");
        };
        match holds.resolve(&context(id), &hold).await {
            HoldOutcome::Reject(reason) => reasons.push(reason),
            HoldOutcome::Approve => panic!("approved with no operator"),
        }
    }
    // The first two were filed and expired; the third was never filed.
    assert!(reasons[0].contains("no answer"), "{reasons:?}");
    assert!(reasons[1].contains("no answer"), "{reasons:?}");
    assert!(
        reasons[2].contains("2 requests were already held for the operator in the last 3600 s"),
        "{reasons:?}"
    );
    assert_eq!(queue.list(Scope::All).unwrap().entries.len(), 2);
}

/// `text` in EBCDIC code page 037, as Python's `text.encode("cp037")`
/// writes it (letters, digits, `-`, `_`, `=` and space only).
fn cp037(text: &str) -> Vec<u8> {
    text.bytes()
        .map(|byte| match byte {
            b'a'..=b'i' => 0x81 + (byte - b'a'),
            b'j'..=b'r' => 0x91 + (byte - b'j'),
            b's'..=b'z' => 0xA2 + (byte - b's'),
            b'A'..=b'I' => 0xC1 + (byte - b'A'),
            b'J'..=b'R' => 0xD1 + (byte - b'J'),
            b'S'..=b'Z' => 0xE2 + (byte - b'S'),
            b'0'..=b'9' => 0xF0 + (byte - b'0'),
            b'-' => 0x60,
            b'_' => 0x6D,
            b'=' => 0x7E,
            b' ' => 0x40,
            other => panic!("no cp037 byte for {other:#x} in this test"),
        })
        .collect()
}

/// `GET /echo` with `x-data` set to `value`, byte for byte.
fn get_with_raw_header(authority: &str, value: &[u8]) -> Request<Full<Bytes>> {
    get(authority, "/echo")
        .header("x-data", http::HeaderValue::from_bytes(value).unwrap())
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// Audit finding (failed before): a header value is obs-text bytes
/// (0x80-0xFF) the head scan saw only as U+FFFD, so a held secret or the
/// canary in EBCDIC in a header went upstream, while the same bytes in a
/// body were refused. Over HTTP/1.1 and HTTP/2, under every policy.
#[tokio::test]
async fn a_held_secret_in_ebcdic_in_a_header_value_is_caught_under_every_policy() {
    for (variable, secret) in [
        ("EGRESS_TOKEN_CANARY", CANARY),
        ("EGRESS_TOKEN_DEPLOY", DEPLOY_TOKEN),
    ] {
        let encoded = cp037(secret);
        assert!(std::str::from_utf8(&encoded).is_err());
        for alpn in [&b"http/1.1"[..], b"h2"] {
            let protocol = String::from_utf8_lossy(alpn).into_owned();
            // `block` and `supervise` (no queue): refused.
            for policy in ["block", "supervise"] {
                let upstream = start_upstream().await;
                let proxy = dlp_proxy(&upstream, &routes(&upstream, policy), None).await;
                let authority = upstream_authority(&upstream);
                let mut client =
                    tls_through_proxy(&proxy, &authority, UPSTREAM_NAME, &[alpn]).await;
                let answer = client.send(get_with_raw_header(&authority, &encoded)).await;
                let case = format!("{variable} {protocol} {policy}");
                assert_eq!(
                    answer.status,
                    StatusCode::FORBIDDEN,
                    "{case}: {}",
                    answer.body
                );
                if policy == "supervise" && variable != "EGRESS_TOKEN_CANARY" {
                    // Held, and refused: there is no queue.
                    assert!(
                        answer.body.contains(NO_QUEUE_REASON),
                        "{case}: {}",
                        answer.body
                    );
                } else {
                    assert!(answer.body.contains(variable), "{case}: {}", answer.body);
                    assert!(
                        answer.body.contains("header x-data"),
                        "{case}: {}",
                        answer.body
                    );
                }
                assert!(upstream.seen().is_empty(), "{case}: the upstream saw it");

                // The same header without the secret passes, byte for byte.
                let mut clean = encoded.clone();
                clean.truncate(6);
                let answer = client.send(get_with_raw_header(&authority, &clean)).await;
                assert_eq!(answer.status, StatusCode::OK, "{case}: {}", answer.body);
                assert_eq!(upstream.seen()[0].raw_headers["x-data"], [clean], "{case}");
                proxy.stop().await;
            }
            // `redact`: scrubbed from the header's bytes; the rest of the
            // value goes as sent.
            let upstream = start_upstream().await;
            let proxy = dlp_proxy(&upstream, &routes(&upstream, "redact"), None).await;
            let authority = upstream_authority(&upstream);
            let mut client = tls_through_proxy(&proxy, &authority, UPSTREAM_NAME, &[alpn]).await;
            let mut value = b"id=\xff\xfe ".to_vec();
            value.extend_from_slice(&encoded);
            let answer = client.send(get_with_raw_header(&authority, &value)).await;
            let case = format!("{variable} {protocol} redact");
            assert_eq!(answer.status, StatusCode::OK, "{case}: {}", answer.body);
            let seen = upstream.seen();
            let sent = &seen[0].raw_headers["x-data"][0];
            let mut expected = b"id=\xff\xfe ".to_vec();
            expected.extend_from_slice(bot_bottle_dlp::REDACTION_MARK);
            assert_eq!(sent, &expected, "{case}");
            proxy.stop().await;
        }
    }
}

/// A held token in EBCDIC in a header is put to the operator like any
/// other finding; approved, the header goes byte for byte, and the value
/// is remembered for the host.
#[tokio::test]
async fn a_held_token_in_ebcdic_in_a_header_is_held_and_goes_as_sent_once_approved() {
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
    let encoded = cp037(DEPLOY_TOKEN);
    let operator = tokio::spawn(operator_answers(queue.clone(), Decision::Approve));
    let answer = send(&proxy, &upstream, get_with_raw_header(&authority, &encoded)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(upstream.seen()[0].raw_headers["x-data"], [&encoded[..]]);
    let Payload::EgressTokenAllow(asked) = operator.await.unwrap() else {
        panic!("not an egress-token-allow proposal");
    };
    assert_eq!(asked.rule, "EGRESS_TOKEN_DEPLOY");
    assert!(asked.preview.contains("header x-data"), "{}", asked.preview);
    let proposal_text = serde_json::to_string(&asked).unwrap();
    assert!(!proposal_text.contains(DEPLOY_TOKEN), "{proposal_text}");
    assert!(
        !proposal_text.contains(&String::from_utf8_lossy(&encoded).into_owned()),
        "{proposal_text}"
    );

    let answer = send(&proxy, &upstream, get_with_raw_header(&authority, &encoded)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        all_proposals(&queue),
        1,
        "the approved value was asked again"
    );
    proxy.stop().await;
}

/// Audit finding (failed before): redacting a head rebuilt every header
/// from its lossy text, so a value with bytes that are not UTF-8 reached
/// the upstream corrupted (each such byte as U+FFFD) although the
/// redaction did not touch it.
#[tokio::test]
async fn redacting_a_header_leaves_the_other_values_byte_for_byte() {
    let upstream = start_upstream().await;
    let proxy = dlp_proxy(&upstream, &routes(&upstream, "redact"), None).await;
    let authority = upstream_authority(&upstream);
    let binary: &[u8] = b"\xff\xfeabc \xe9t\xe9";
    let request = get(&authority, "/echo")
        .header("x-binary", http::HeaderValue::from_bytes(binary).unwrap())
        .header("x-key", DEPLOY_TOKEN)
        .header("x-plain", "as sent")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = send(&proxy, &upstream, request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let seen = upstream.seen();
    assert_eq!(
        seen[0].raw_headers["x-key"],
        [bot_bottle_dlp::REDACTION_MARK]
    );
    assert_eq!(seen[0].raw_headers["x-binary"], [binary]);
    assert_eq!(seen[0].raw_headers["x-plain"], [b"as sent"]);
    proxy.stop().await;
}

/// Routes for the approval-scope test: the upstream under `supervise`
/// (`/echo`) and `block` (`/paste`), and `localhost` (the same upstream,
/// its certificate names it) under `supervise` (`/echo`) and `block`
/// (`/paste`).
fn scoped_routes(upstream: &Upstream) -> String {
    let port = upstream.https.port();
    format!(
        "routes:\n  - host: \"{UPSTREAM_NAME}:{port}\"\n    methods: [POST]\n    paths: [\"/echo\"]\n    outbound_on_match: supervise\n  - host: \"{UPSTREAM_NAME}:{port}\"\n    methods: [POST]\n    paths: [\"/paste\"]\n    outbound_on_match: block\n  - host: \"localhost:{port}\"\n    methods: [POST]\n    paths: [\"/echo\"]\n    outbound_on_match: supervise\n  - host: \"localhost:{port}\"\n    methods: [POST]\n    paths: [\"/paste\"]\n    outbound_on_match: block\n"
    )
}

/// Audit finding (failed before): a value the operator approved for one
/// host was remembered for every host, so it then went to a host whose
/// route is `block`, or to any other host with no question asked.
#[tokio::test]
async fn an_approved_value_is_remembered_for_its_host_only_and_never_under_block() {
    let upstream = start_upstream().await;
    let directory = tempfile::tempdir().unwrap();
    let queue = Queue::create(directory.path()).unwrap();
    let state = DlpState::new(scanner());
    let port = upstream.https.port();
    let options = ProxyOptions {
        tokens: tokens(),
        pins: vec![format!("localhost:{port}:127.0.0.1")],
        inspector: Some(Arc::new(DlpInspector::new(state.clone()))),
        holds: Some(Arc::new(QueueHolds::new(
            queue.clone(),
            "test-bottle",
            Duration::from_secs(2),
            state,
        ))),
        ..ProxyOptions::default()
    };
    let proxy = start_proxy(&scoped_routes(&upstream), &upstream, options).await;
    let upstream_host = format!("{UPSTREAM_NAME}:{port}");
    let other_host = format!("localhost:{port}");
    let body = format!("token={DEPLOY_TOKEN}");
    let send_to = |target: String, sni: &'static str, path: &'static str| {
        let body = body.clone();
        let proxy = &proxy;
        async move {
            let mut client = tls_through_proxy(proxy, &target, sni, &[b"http/1.1"]).await;
            client.send(post(&target, path, body)).await
        }
    };

    // Approved once, for the upstream.
    let operator = tokio::spawn(operator_answers(queue.clone(), Decision::Approve));
    let answer = send_to(upstream_host.clone(), UPSTREAM_NAME, "/echo").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    operator.await.unwrap();
    assert_eq!(all_proposals(&queue), 1);
    assert_eq!(upstream.seen().len(), 1);

    // Remembered for that host, under its supervise route.
    let answer = send_to(upstream_host.clone(), UPSTREAM_NAME, "/echo").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        all_proposals(&queue),
        1,
        "the approved value was asked again"
    );

    // Never under a block route, not even the same host's.
    for (target, sni) in [
        (upstream_host.clone(), UPSTREAM_NAME),
        (other_host.clone(), "localhost"),
    ] {
        let answer = send_to(target.clone(), sni, "/paste").await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{target}: {}",
            answer.body
        );
        assert!(
            answer.body.contains("policy is block"),
            "{target}: {}",
            answer.body
        );
    }

    // Another host under supervise asks the operator again (who rejects).
    let operator = tokio::spawn(operator_answers(queue.clone(), Decision::Reject));
    let answer = send_to(other_host.clone(), "localhost", "/echo").await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    let Payload::EgressTokenAllow(asked) = operator.await.unwrap() else {
        panic!("not an egress-token-allow proposal");
    };
    // The proposal names the port (not the scheme's own): the approval
    // would cover that port only.
    assert_eq!(asked.host, format!("localhost:{port}"));
    assert_eq!(all_proposals(&queue), 2);
    assert_eq!(
        upstream.seen().len(),
        2,
        "a request went where it was not approved"
    );
    proxy.stop().await;
}

/// The approvals remembered are bounded: past `MAX_APPROVED_HOSTS` hosts,
/// the host approved longest ago is forgotten (its value is held again).
#[test]
fn approvals_are_remembered_for_a_bounded_number_of_hosts() {
    use bot_bottle_egress::dlp_inspector::{MAX_APPROVED_HOSTS, MAX_APPROVED_VALUES_PER_HOST};
    use bot_bottle_egress::inspect::{Inspector, Verdict};
    use bot_bottle_secret::Redacted;

    let state = DlpState::new(scanner());
    let inspector = DlpInspector::new(state.clone());
    let on_host = |host: &str| {
        let mut context = context(1);
        context.host = host.to_string();
        context.log_host = host.to_string();
        context
    };
    let body = format!("{{\"key\":\"{DEPLOY_TOKEN}\"}}");
    let passes = |host: &str| {
        matches!(
            inspector.inspect_body(&on_host(host), body.as_bytes()),
            Verdict::Pass
        )
    };
    assert!(!passes("host-0.test"));
    for index in 0..=MAX_APPROVED_HOSTS {
        state.approve(
            &format!("host-{index}.test"),
            443,
            vec![Redacted::new(DEPLOY_TOKEN.to_string())],
        );
    }
    assert!(!passes("host-0.test"), "the oldest host was not forgotten");
    assert!(passes("host-1.test"));
    assert!(passes(&format!("host-{MAX_APPROVED_HOSTS}.test")));
    assert!(!passes("never-approved.test"));

    // Per host, the values approved longest ago are forgotten first.
    for index in 0..MAX_APPROVED_VALUES_PER_HOST {
        state.approve(
            "host-1.test",
            443,
            vec![Redacted::new(format!("approved-value-{index:04}-xyz"))],
        );
    }
    assert!(!passes("host-1.test"), "the oldest value was not forgotten");
}

/// An approval covers the host and port the held request went to: the same
/// host on another port (another service, perhaps another owner) is asked
/// again. Failed before (approvals were keyed by host alone).
#[test]
fn an_approved_value_is_remembered_for_its_port_only() {
    use bot_bottle_egress::inspect::{Inspector, Verdict};
    use bot_bottle_secret::Redacted;

    let state = DlpState::new(scanner());
    let inspector = DlpInspector::new(state.clone());
    let body = format!("{{\"key\":\"{DEPLOY_TOKEN}\"}}");
    let passes = |port: u16| {
        let mut context = context(1);
        context.host = "forge.test".to_string();
        context.log_host = "forge.test".to_string();
        context.port = port;
        matches!(
            inspector.inspect_body(&context, body.as_bytes()),
            Verdict::Pass
        )
    };
    state.approve(
        "forge.test",
        443,
        vec![Redacted::new(DEPLOY_TOKEN.to_string())],
    );
    assert!(passes(443));
    assert!(!passes(8443), "an approval for port 443 covered port 8443");
    state.approve(
        "forge.test",
        8443,
        vec![Redacted::new(DEPLOY_TOKEN.to_string())],
    );
    assert!(passes(8443));
}
