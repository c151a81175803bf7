//! Fuzz the proxy's whole request-head path on a real running proxy: the
//! bytes an agent can send it, parsed by hyper, then the proxy's own
//! checks — CONNECT target, absolute-form URL, `Host` against the tunnel,
//! proxy loops, hop-by-hop headers, the route decision, credential
//! injection and the DLP head scan — and its refusals.
//!
//! The first input byte picks the way in:
//! - even: the rest is written as-is to the proxy's listener (plain-HTTP
//!   absolute-form requests, CONNECT lines, introspection, garbage);
//! - odd: a CONNECT to the allowed host, a TLS handshake trusting the
//!   proxy's CA, and the rest written inside the tunnel (the intercepted
//!   request head and whatever follows).
//!
//! The proxy must never panic (libFuzzer aborts on a panic in any thread),
//! must answer with an HTTP/1.x status line (or, to an HTTP/2
//! prior-knowledge preface, HTTP/2's SETTINGS) or close, and must never put a
//! held token it injects into an answer. The routes' upstreams are pinned to
//! closed loopback ports, so an allowed request ends in a 502 quickly.
//!
//! Run: `cd crates/egress/fuzz && cargo +nightly fuzz run request_head`.
#![no_main]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bot_bottle_dlp::{DetectorSet, HeldSecret, Scanner, ScannerConfig};
use bot_bottle_egress::ca::CertificateAuthority;
use bot_bottle_egress::dlp_inspector::{DlpInspector, DlpState};
use bot_bottle_egress::routes::{RouteTable, Tokens};
use bot_bottle_egress::upstream::ResolvePin;
use bot_bottle_secret::Redacted;
use libfuzzer_sys::fuzz_target;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The token the route injects: it must never come back to the agent.
const INJECTED: &str = "injected-Zq8Wm3Kx7Lp2Rv9T";
const CANARY: &str = "canary-Hn4Bv8Xc2Mz6Qw1E";
const ROUTES: &str = r#"
routes:
  - host: allowed.test
    methods: [GET, POST]
    paths: ["/v1/", "/files/**"]
    auth_scheme: Bearer
    token_env: EGRESS_TOKEN_API
    outbound_on_match: redact
  - host: "*.wild.test"
    headers:
      - name: x-version
        value: "2023-*"
    outbound_on_match: block
"#;
/// How long one input may wait for the proxy's answer.
const ANSWER_WAIT: Duration = Duration::from_millis(500);

struct Harness {
    runtime: tokio::runtime::Runtime,
    proxy: SocketAddr,
    tls: tokio_rustls::TlsConnector,
    _state: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let state = tempfile::tempdir().expect("a temporary directory");
        let routes_path: PathBuf = state.path().join("routes.yaml");
        std::fs::write(&routes_path, ROUTES).expect("the routes file");
        let tokens: Tokens = [
            (
                "EGRESS_TOKEN_API".to_string(),
                Redacted::new(INJECTED.to_string()),
            ),
            (
                "EGRESS_TOKEN_CANARY".to_string(),
                Redacted::new(CANARY.to_string()),
            ),
        ]
        .into_iter()
        .collect();
        let routes = RouteTable::load(&routes_path, &tokens).expect("valid routes");
        let ca = CertificateAuthority::load_or_create(&state.path().join("ca")).expect("a CA");
        let ca_pem = ca.certificate_pem().to_string();
        let scanner = Scanner::new(ScannerConfig {
            held: vec![
                HeldSecret::new("EGRESS_TOKEN_API", INJECTED),
                HeldSecret::new("EGRESS_TOKEN_CANARY", CANARY),
            ],
            detectors: DetectorSet::all(),
            ..ScannerConfig::default()
        })
        .expect("a scanner");
        let mut config = bot_bottle_egress::Config::new(routes_path, routes, tokens, Arc::new(ca));
        config.inspector = Arc::new(DlpInspector::new(DlpState::new(scanner)));
        // Pinned to loopback ports nothing listens on: an allowed request
        // gets a 502 at once.
        for host in ["allowed.test:443", "allowed.test:80", "a.wild.test:443"] {
            let (name, port) = host.split_once(':').expect("host:port");
            config.resolve.push(
                format!("{name}:{port}:127.0.0.1")
                    .parse::<ResolvePin>()
                    .expect("a pin"),
            );
        }
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a listener");
        let proxy = listener.local_addr().expect("its address");
        runtime.spawn(bot_bottle_egress::run(
            listener,
            config,
            std::future::pending(),
        ));
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("the CA's PEM"))
            .expect("a root");
        let mut client = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = vec![b"http/1.1".to_vec()];
        Harness {
            runtime,
            proxy,
            tls: tokio_rustls::TlsConnector::from(Arc::new(client)),
            _state: state,
        }
    })
}

/// Read what the proxy answers within [`ANSWER_WAIT`].
async fn answer(mut stream: impl tokio::io::AsyncRead + Unpin) -> Vec<u8> {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(ANSWER_WAIT, stream.read_to_end(&mut answer)).await;
    answer
}

fn check(answer: &[u8]) {
    // An HTTP/2 prior-knowledge client gets the server's SETTINGS frame.
    let http2_settings = answer.len() >= 9 && answer[3] == 0x04 && answer[5..9] == [0, 0, 0, 0];
    if !answer.is_empty() && !http2_settings {
        assert!(
            answer.starts_with(b"HTTP/1.1 ") || answer.starts_with(b"HTTP/1.0 "),
            "not a status line: {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(80)])
        );
    }
    assert!(
        !answer
            .windows(INJECTED.len())
            .any(|window| window == INJECTED.as_bytes()),
        "the injected token came back to the agent"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    // The agent never holds the injected token; an input that carries it
    // could see it echoed in a refusal that quotes the agent's own words.
    if rest
        .windows(INJECTED.len())
        .any(|window| window == INJECTED.as_bytes())
    {
        return;
    }
    let harness = harness();
    harness.runtime.block_on(async {
        let Ok(mut stream) = tokio::net::TcpStream::connect(harness.proxy).await else {
            return;
        };
        if mode % 2 == 0 {
            if stream.write_all(rest).await.is_err() {
                return;
            }
            let _ = stream.shutdown().await;
            check(&answer(stream).await);
            return;
        }
        let connect = b"CONNECT allowed.test:443 HTTP/1.1\r\nHost: allowed.test:443\r\n\r\n";
        if stream.write_all(connect).await.is_err() {
            return;
        }
        // The tunnel's `200` line and blank line, byte by byte (nothing
        // of the TLS stream may be read here).
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match tokio::time::timeout(ANSWER_WAIT, stream.read(&mut byte)).await {
                Ok(Ok(1)) => head.push(byte[0]),
                _ => panic!("no answer to a CONNECT to an allowed host"),
            }
        }
        assert!(
            head.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        let name = ServerName::try_from("allowed.test").expect("a name");
        let mut tls = harness
            .tls
            .connect(name, stream)
            .await
            .expect("the minted leaf verifies");
        if tls.write_all(rest).await.is_err() {
            return;
        }
        // close_notify and FIN: the proxy answers what it has, then closes.
        let _ = tls.shutdown().await;
        check(&answer(tls).await);
    });
});
