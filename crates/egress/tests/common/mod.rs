//! Test fixtures: a real HTTPS (and plain HTTP) upstream with its own test
//! CA, the proxy started in-process on port 0, and a Rust client that goes
//! through CONNECT + TLS (HTTP/1.1 or HTTP/2) like an agent would.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bot_bottle_egress::ca::CertificateAuthority;
use bot_bottle_egress::inspect::{HoldResolver, Inspector};
use bot_bottle_egress::routes::{RouteTable, Tokens};
use bot_bottle_egress::upstream::ResolvePin;
use bot_bottle_egress::{Config, run};
use bot_bottle_secret::Redacted;
use bytes::Bytes;
use http::{Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

pub const UPSTREAM_NAME: &str = "upstream.test";

pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// What the upstream saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub version: Version,
    pub headers: BTreeMap<String, Vec<String>>,
    /// Each header's values byte for byte (`headers` shows them lossily).
    pub raw_headers: BTreeMap<String, Vec<Vec<u8>>>,
    pub body: Vec<u8>,
}

/// A body fed from a channel, so a test controls when each chunk goes out.
pub struct ChannelBody(pub mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(context)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

type UpstreamBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// A real upstream: HTTPS (ALPN h2 + http/1.1) with a test CA, and plain HTTP.
pub struct Upstream {
    pub https: SocketAddr,
    /// A WebSocket echo server over TLS (`echo: <message>`); on a path
    /// ending `/deaf` it switches protocols, then never reads.
    pub websocket: SocketAddr,
    pub http: SocketAddr,
    pub ca_der: CertificateDer<'static>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// `/sse` sends its first event, then waits for a message here.
    pub sse_release: Arc<Mutex<Option<oneshot::Receiver<()>>>>,
    /// The code of every close frame the WebSocket echo server received.
    pub websocket_closes: Arc<Mutex<Vec<u16>>>,
    /// Connections open now on the HTTPS and plain HTTP listeners.
    pub open_connections: Arc<std::sync::atomic::AtomicUsize>,
    /// An HTTP/2-only upstream (TLS, the same certificate) that answers
    /// with a GOAWAY (INTERNAL_ERROR) whose debug data is the request's
    /// `Authorization` value ([`goaway_handler`]).
    pub h2_goaway: SocketAddr,
}

/// Counts one open connection until dropped.
struct OpenConnection(Arc<std::sync::atomic::AtomicUsize>);

impl OpenConnection {
    fn new(count: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(Arc::clone(count))
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Upstream {
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn upstream_handler(
    seen: Arc<Mutex<Vec<Seen>>>,
    sse_release: Arc<Mutex<Option<oneshot::Receiver<()>>>>,
    request: Request<Incoming>,
) -> Result<Response<UpstreamBody>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut raw_headers: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for (name, value) in &parts.headers {
        headers
            .entry(name.to_string())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
        raw_headers
            .entry(name.to_string())
            .or_default()
            .push(value.as_bytes().to_vec());
    }
    let path = parts
        .uri
        .path_and_query()
        .map(|value| value.to_string())
        .unwrap_or_default();
    seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: path.clone(),
        version: parts.version,
        headers: headers.clone(),
        raw_headers,
        body: body.to_vec(),
    });
    if path == "/hang" {
        // An upstream that accepted the request and never answers.
        std::future::pending::<()>().await;
    }
    if path == "/stall" || path == "/drip" {
        // `/stall`: one chunk, then silence with the connection open.
        // `/drip`: eight chunks 150 ms apart, then the end.
        let (sender, receiver) = mpsc::channel(8);
        let drip = path == "/drip";
        tokio::spawn(async move {
            if !drip {
                let _ = sender.send(Bytes::from_static(b"first\n")).await;
                std::future::pending::<()>().await;
            }
            for index in 0..8 {
                tokio::time::sleep(std::time::Duration::from_millis(150)).await;
                if sender
                    .send(Bytes::from(format!("chunk {index}\n")))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        let response = Response::builder()
            .header("content-type", "text/plain")
            .body(ChannelBody(receiver).boxed())
            .unwrap();
        return Ok(response);
    }
    if path == "/ws-wrong-accept" {
        // Switches protocols, but with an accept key that answers no key.
        let response = Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-accept", "bm90IHRoZSByaWdodCBrZXk=")
            .body(Full::new(Bytes::new()).boxed())
            .unwrap();
        return Ok(response);
    }
    if path == "/sse" {
        let (sender, receiver) = mpsc::channel(4);
        let release = sse_release.lock().unwrap().take();
        tokio::spawn(async move {
            sender
                .send(Bytes::from_static(b"data: first\n\n"))
                .await
                .unwrap();
            if let Some(release) = release {
                let _ = release.await;
            }
            let _ = sender.send(Bytes::from_static(b"data: second\n\n")).await;
        });
        let response = Response::builder()
            .header("content-type", "text/event-stream")
            .body(ChannelBody(receiver).boxed())
            .unwrap();
        return Ok(response);
    }
    if path == "/echo-transformed" {
        // Echoes the request's Authorization back transformed, as debug
        // pages and error reports do: base64 of the whole value (Basic-like),
        // base64url and hex of the token after the scheme.
        use base64::Engine as _;
        let value = parts
            .headers
            .get("authorization")
            .map(|value| value.as_bytes().to_vec())
            .unwrap_or_default();
        let token = value
            .iter()
            .rposition(|byte| *byte == b' ')
            .map_or(&value[..], |space| &value[space + 1..]);
        let hex: String = token.iter().map(|byte| format!("{byte:02x}")).collect();
        let body = serde_json::json!({
            "whole_b64": base64::engine::general_purpose::STANDARD.encode(&value),
            "token_b64url": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token),
            "token_hex": hex,
            "token_HEX": hex.to_uppercase(),
            "shifted_b64": base64::engine::general_purpose::STANDARD.encode([b"x:".as_slice(), token].concat()),
        });
        let response = Response::builder()
            .header("content-type", "application/json")
            .header(
                "x-echo-b64",
                base64::engine::general_purpose::STANDARD.encode(&value),
            )
            .body(Full::new(Bytes::from(body.to_string())).boxed())
            .unwrap();
        return Ok(response);
    }
    if let Some(place) = path.strip_prefix("/echo-in-") {
        // Echoes the token after the request's Authorization scheme where
        // no header value shows it: in the reason phrase (`reason`), a
        // header's name (`name`), or as the response's content coding
        // (`coding`) or transfer coding (`transfer`).
        let value = parts
            .headers
            .get("authorization")
            .map(|value| value.as_bytes().to_vec())
            .unwrap_or_default();
        let token = value
            .iter()
            .rposition(|byte| *byte == b' ')
            .map_or(value.clone(), |space| value[space + 1..].to_vec());
        let token = String::from_utf8_lossy(&token).into_owned();
        let mut builder = Response::builder();
        match place {
            "reason" => {
                let phrase = hyper::ext::ReasonPhrase::try_from(
                    format!("echo {}", String::from_utf8_lossy(&value)).into_bytes(),
                )
                .unwrap();
                builder = builder.extension(phrase);
            }
            "name" => builder = builder.header(format!("x-echo-{token}"), "1"),
            "coding" => builder = builder.header("content-encoding", token),
            _ => builder = builder.header("transfer-encoding", format!("{token}, chunked")),
        }
        return Ok(builder
            .body(Full::new(Bytes::from_static(b"ok")).boxed())
            .unwrap());
    }
    if path == "/echo-header" {
        // Echoes the request's Authorization back as a response header.
        let echoed = parts
            .headers
            .get("authorization")
            .cloned()
            .unwrap_or_else(|| http::HeaderValue::from_static("none"));
        let response = Response::builder()
            .header("x-echo", echoed)
            .body(Full::new(Bytes::from_static(b"ok")).boxed())
            .unwrap();
        return Ok(response);
    }
    let echo = serde_json::json!({
        "method": parts.method.to_string(),
        "path": path,
        "authority": parts.uri.authority().map(|authority| authority.to_string()).or_else(|| parts.headers.get("host").map(|host| String::from_utf8_lossy(host.as_bytes()).into_owned())),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body_len": body.len(),
    });
    if let Some(how) = path.strip_prefix("/echo-gzip") {
        // The echo compressed, whatever the request's Accept-Encoding says:
        // `/echo-gzip` says so plainly, `/echo-gzip-second` in a second
        // Content-Encoding line after an `identity` one,
        // `/echo-gzip-transfer` as a transfer coding under chunked.
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(echo.to_string().as_bytes()).unwrap();
        let builder = Response::builder().header("content-type", "application/json");
        let builder = match how {
            "-second" => builder
                .header("content-encoding", "identity")
                .header("content-encoding", "gzip"),
            "-transfer" => builder.header("transfer-encoding", "gzip, chunked"),
            _ => builder.header("content-encoding", "gzip"),
        };
        let response = builder
            .body(Full::new(Bytes::from(encoder.finish().unwrap())).boxed())
            .unwrap();
        return Ok(response);
    }
    let response = Response::builder()
        .header("content-type", "application/json")
        .header("connection", "keep-alive")
        .header("x-upstream", "yes")
        .body(Full::new(Bytes::from(echo.to_string())).boxed())
        .unwrap();
    Ok(response)
}

/// A stream whose write side a request handler can reach too, to write
/// HTTP/2 frames of its own between hyper's (whole frames: hyper's are
/// written whole into the TLS buffer).
struct SharedWrite<S> {
    read: tokio::io::ReadHalf<S>,
    write: Arc<Mutex<tokio::io::WriteHalf<S>>>,
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite> tokio::io::AsyncRead for SharedWrite<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.read).poll_read(context, buffer)
    }
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite> tokio::io::AsyncWrite for SharedWrite<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.write.lock().unwrap()).poll_write(context, data)
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.write.lock().unwrap()).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.write.lock().unwrap()).poll_shutdown(context)
    }
}

type SharedWriteHalf = Arc<Mutex<tokio::io::WriteHalf<tokio_rustls::server::TlsStream<TcpStream>>>>;

/// Write `bytes` on `write` and flush; errors are the test's (ignored:
/// the peer may be gone).
async fn write_raw(write: &SharedWriteHalf, bytes: &[u8]) {
    let mut at = 0;
    while at < bytes.len() {
        let written = std::future::poll_fn(|context| {
            Pin::new(&mut *write.lock().unwrap()).poll_write(context, &bytes[at..])
        })
        .await;
        match written {
            Ok(0) | Err(_) => return,
            Ok(count) => at += count,
        }
    }
    let _ =
        std::future::poll_fn(|context| Pin::new(&mut *write.lock().unwrap()).poll_flush(context))
            .await;
}

/// An HTTP/2 GOAWAY frame (type 7, stream 0): `last_stream_id`, error
/// `code`, `debug_data`.
pub fn goaway_frame(last_stream_id: u32, code: u32, debug_data: &[u8]) -> Vec<u8> {
    let length = u32::try_from(8 + debug_data.len()).unwrap();
    let mut frame = length.to_be_bytes()[1..].to_vec();
    frame.extend_from_slice(&[0x7, 0x0, 0, 0, 0, 0]);
    frame.extend_from_slice(&(last_stream_id & 0x7fff_ffff).to_be_bytes());
    frame.extend_from_slice(&code.to_be_bytes());
    frame.extend_from_slice(debug_data);
    frame
}

/// The HTTP/2-only upstream's answer: a GOAWAY (INTERNAL_ERROR) whose
/// debug data is the request's `Authorization` (`/goaway-b64`: its
/// base64). `/goaway-mid-body` answers 200 and a first chunk, then the
/// GOAWAY (the stream counted as processed) and closes, so the response
/// body fails midway; anything else gets the GOAWAY before any answer
/// (last stream 0: the request counted as not processed). `/ping-after`
/// answers 200 at once, then sends a PING on the connection left idle.
async fn goaway_handler(
    write: SharedWriteHalf,
    request: Request<Incoming>,
) -> Result<Response<UpstreamBody>, Infallible> {
    use base64::Engine as _;
    let value = request
        .headers()
        .get("authorization")
        .map(|value| value.as_bytes().to_vec())
        .unwrap_or_default();
    let path = request.uri().path().to_string();
    let debug_data = if path.starts_with("/goaway-b64") {
        base64::engine::general_purpose::STANDARD
            .encode(&value)
            .into_bytes()
    } else {
        value
    };
    if path.starts_with("/ping-after") {
        // Answered at once; then a PING (which the client acknowledges)
        // on the connection left idle.
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            write_raw(
                &write,
                &[0, 0, 8, 0x6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8],
            )
            .await;
        });
        return Ok(Response::new(
            Full::new(Bytes::from_static(b"pong\n")).boxed(),
        ));
    }
    if path.starts_with("/goaway-mid-body") {
        let (sender, receiver) = mpsc::channel(2);
        tokio::spawn(async move {
            let _ = sender.send(Bytes::from_static(b"first\n")).await;
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            write_raw(&write, &goaway_frame(1, 2, &debug_data)).await;
            let _ = std::future::poll_fn(|context| {
                Pin::new(&mut *write.lock().unwrap()).poll_shutdown(context)
            })
            .await;
            // The body never ends of itself.
            let _sender = sender;
            std::future::pending::<()>().await;
        });
        return Ok(Response::builder()
            .header("content-type", "text/plain")
            .body(ChannelBody(receiver).boxed())
            .unwrap());
    }
    write_raw(&write, &goaway_frame(0, 2, &debug_data)).await;
    // Never answered: the GOAWAY said the request was not processed.
    std::future::pending::<()>().await;
    unreachable!()
}

pub async fn start_upstream() -> Upstream {
    install_provider();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "test upstream CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(vec![
        UPSTREAM_NAME.to_string(),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
    ])
    .unwrap();
    leaf_params.use_authority_key_identifier_extension = true;
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let mut server_config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut h2_config = server_config.clone();
    h2_config.alpn_protocols = vec![b"h2".to_vec()];
    let h2_acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(h2_config));
    let h2_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let h2_goaway = h2_listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = h2_listener.accept().await else {
                return;
            };
            let acceptor = h2_acceptor.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let (read, write) = tokio::io::split(stream);
                let write = Arc::new(Mutex::new(write));
                let io = SharedWrite {
                    read,
                    write: write.clone(),
                };
                let service = service_fn(move |request| goaway_handler(write.clone(), request));
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(io), service)
                    .await;
            });
        }
    });
    let mut websocket_config = server_config.clone();
    websocket_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let websocket_acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(websocket_config));
    let websocket_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let websocket = websocket_listener.local_addr().unwrap();
    let websocket_closes = Arc::new(Mutex::new(Vec::new()));
    let closes = websocket_closes.clone();
    tokio::spawn(async move {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let Ok((stream, _)) = websocket_listener.accept().await else {
                return;
            };
            let acceptor = websocket_acceptor.clone();
            let closes = closes.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let mut path = String::new();
                // The callback's type is tungstenite's (its error a response).
                #[allow(clippy::result_large_err)]
                let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(
                    stream,
                    |request: &tokio_tungstenite::tungstenite::handshake::server::Request,
                     response| {
                        path = request.uri().path().to_string();
                        Ok(response)
                    },
                )
                .await
                else {
                    return;
                };
                if path.ends_with("/deaf") {
                    // A hostile upstream: it switches protocols, then
                    // never reads a byte (nor closes).
                    std::future::pending::<()>().await;
                }
                while let Some(Ok(message)) = socket.next().await {
                    let reply = match message {
                        Message::Text(text) => Message::text(format!("echo: {}", text.as_str())),
                        Message::Binary(data) => Message::binary(data),
                        Message::Close(frame) => {
                            closes
                                .lock()
                                .unwrap()
                                .push(frame.map_or(0, |frame| u16::from(frame.code)));
                            break;
                        }
                        _ => continue,
                    };
                    if socket.send(reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });

    let seen = Arc::new(Mutex::new(Vec::new()));
    let sse_release = Arc::new(Mutex::new(None));
    let https_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let https = https_listener.local_addr().unwrap();
    let http = http_listener.local_addr().unwrap();
    let open_connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));

    for (listener, tls) in [(https_listener, Some(acceptor)), (http_listener, None)] {
        let seen = seen.clone();
        let sse_release = sse_release.clone();
        let open_connections = open_connections.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen.clone();
                let sse_release = sse_release.clone();
                let tls = tls.clone();
                let open = OpenConnection::new(&open_connections);
                tokio::spawn(async move {
                    let _open = open;
                    let service = service_fn(move |request| {
                        upstream_handler(seen.clone(), sse_release.clone(), request)
                    });
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match tls {
                        Some(acceptor) => {
                            let Ok(stream) = acceptor.accept(stream).await else {
                                return;
                            };
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                        None => {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                });
            }
        });
    }
    Upstream {
        https,
        websocket,
        http,
        ca_der: ca_cert.der().clone(),
        seen,
        sse_release,
        websocket_closes,
        open_connections,
        h2_goaway,
    }
}

/// The proxy, running in-process.
pub struct Proxy {
    pub address: SocketAddr,
    pub directory: tempfile::TempDir,
    pub routes_path: PathBuf,
    pub ca_pem_path: PathBuf,
    pub ca_pem: String,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<Result<(), bot_bottle_egress::ServerError>>>,
}

#[derive(Default)]
pub struct ProxyOptions {
    pub tokens: Vec<(&'static str, &'static str)>,
    pub pins: Vec<String>,
    pub inspector: Option<Arc<dyn Inspector>>,
    pub holds: Option<Arc<dyn HoldResolver>>,
    pub no_default_pin: bool,
    /// The proxy's idle deadline on response bodies (default: the sidecar's).
    pub upstream_idle_timeout: Option<std::time::Duration>,
    /// The proxy's idle deadline on WebSockets (default: the sidecar's).
    pub websocket_idle_timeout: Option<std::time::Duration>,
    /// How long a client connection may idle (default: the sidecar's).
    pub client_idle_timeout: Option<std::time::Duration>,
    /// How long a request body may pause (default: the sidecar's).
    pub request_body_idle_timeout: Option<std::time::Duration>,
    /// Connections and tunnels served at once (default: the sidecar's).
    pub max_connections: Option<usize>,
    /// Requests in flight at once (default: the sidecar's).
    pub max_requests_in_flight: Option<usize>,
    /// Bytes of request bodies buffered at once (default: the sidecar's).
    pub buffered_bodies_budget: Option<usize>,
    /// How long a request waits for budget room (default: the sidecar's).
    pub budget_wait: Option<std::time::Duration>,
    /// Upstream connections open at once (default: the sidecar's).
    pub max_upstream_connections: Option<usize>,
    /// How long a dial waits for an upstream slot (default: the sidecar's).
    pub upstream_connection_wait: Option<std::time::Duration>,
}

pub async fn start_proxy(routes_yaml: &str, upstream: &Upstream, options: ProxyOptions) -> Proxy {
    install_provider();
    let directory = tempfile::tempdir().unwrap();
    let routes_path = directory.path().join("routes.yaml");
    std::fs::write(&routes_path, routes_yaml).unwrap();
    let tokens: Tokens = options
        .tokens
        .iter()
        .map(|(name, value)| (name.to_string(), Redacted::new(value.to_string())))
        .collect();
    let routes = RouteTable::load(&routes_path, &tokens).unwrap();
    let ca_dir = directory.path().join("ca");
    let ca = Arc::new(CertificateAuthority::load_or_create(&ca_dir).unwrap());
    let ca_pem = ca.certificate_pem().to_string();
    let mut config = Config::new(routes_path.clone(), routes, tokens, ca);
    config.upstream_roots = vec![upstream.ca_der.clone()];
    let mut pins: Vec<String> = options.pins.clone();
    if !options.no_default_pin {
        pins.push(format!(
            "{UPSTREAM_NAME}:{}:127.0.0.1",
            upstream.https.port()
        ));
        pins.push(format!("plain.test:{}:127.0.0.1", upstream.http.port()));
        pins.push(format!(
            "{UPSTREAM_NAME}:{}:127.0.0.1",
            upstream.websocket.port()
        ));
        pins.push(format!(
            "{UPSTREAM_NAME}:{}:127.0.0.1",
            upstream.h2_goaway.port()
        ));
    }
    config.resolve = pins
        .iter()
        .map(|pin| pin.parse::<ResolvePin>().unwrap())
        .collect();
    if let Some(inspector) = options.inspector {
        config.inspector = inspector;
    }
    if let Some(holds) = options.holds {
        config.holds = holds;
    }
    if let Some(idle) = options.upstream_idle_timeout {
        config.upstream_idle_timeout = idle;
    }
    if let Some(idle) = options.websocket_idle_timeout {
        config.websocket_idle_timeout = idle;
    }
    if let Some(idle) = options.client_idle_timeout {
        config.client_idle_timeout = idle;
    }
    if let Some(idle) = options.request_body_idle_timeout {
        config.request_body_idle_timeout = idle;
    }
    if let Some(slots) = options.max_connections {
        config.max_connections = slots;
    }
    if let Some(requests) = options.max_requests_in_flight {
        config.max_requests_in_flight = requests;
    }
    if let Some(budget) = options.buffered_bodies_budget {
        config.buffered_bodies_budget = budget;
    }
    if let Some(wait) = options.budget_wait {
        config.budget_wait = wait;
    }
    if let Some(limit) = options.max_upstream_connections {
        config.max_upstream_connections = limit;
    }
    if let Some(wait) = options.upstream_connection_wait {
        config.upstream_connection_wait = wait;
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (shutdown_sender, shutdown_receiver) = oneshot::channel::<()>();
    let handle = tokio::spawn(run(listener, config, async move {
        let _ = shutdown_receiver.await;
    }));
    Proxy {
        address,
        ca_pem_path: ca_dir.join("ca.pem"),
        directory,
        routes_path,
        ca_pem,
        shutdown: Some(shutdown_sender),
        handle: Some(handle),
    }
}

impl Proxy {
    /// A proxy running in another process, known by its address and CA.
    pub fn remote(address: SocketAddr, ca_pem_path: PathBuf) -> Self {
        let ca_pem = std::fs::read_to_string(&ca_pem_path).unwrap();
        Proxy {
            address,
            directory: tempfile::tempdir().unwrap(),
            routes_path: PathBuf::new(),
            ca_pem_path,
            ca_pem,
            shutdown: None,
            handle: None,
        }
    }

    pub async fn stop(mut self) {
        if let Some(sender) = self.shutdown.take() {
            let _ = sender.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap().unwrap();
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

/// Open a CONNECT tunnel; returns the proxy's status line code and the stream.
pub async fn connect_tunnel(proxy: SocketAddr, target: &str) -> (u16, TcpStream) {
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    stream
        .write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = stream.read(&mut byte).await.unwrap();
        assert_eq!(
            read,
            1,
            "proxy closed during CONNECT; got {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let code = text.split(' ').nth(1).unwrap().parse().unwrap();
    (code, stream)
}

/// A connection through the proxy to `target` with TLS for `sni`.
pub enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

pub struct Answer {
    pub status: StatusCode,
    pub version: Version,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }

    /// What the agent sees when the proxy refuses: 403, with a body that
    /// says why (`reason` is part of it).
    #[track_caller]
    pub fn assert_refused(&self, reason: &str) {
        assert_eq!(self.status, StatusCode::FORBIDDEN, "{}", self.body);
        assert!(
            self.body.contains(reason),
            "the refusal does not say {reason:?}: {}",
            self.body
        );
    }
}

/// CONNECT + TLS through the proxy, returning the raw TLS stream.
pub async fn raw_tls_through_proxy(
    proxy: &Proxy,
    target: &str,
    sni: &str,
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let (code, stream) = connect_tunnel(proxy.address, target).await;
    assert_eq!(code, 200);
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(proxy.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    connector
        .connect(ServerName::try_from(sni.to_string()).unwrap(), stream)
        .await
        .unwrap()
}

pub async fn tls_through_proxy(proxy: &Proxy, target: &str, sni: &str, alpn: &[&[u8]]) -> Sender {
    let (code, stream) = connect_tunnel(proxy.address, target).await;
    assert_eq!(code, 200);
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(proxy.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(sni.to_string()).unwrap();
    let tls = connector.connect(name, stream).await.unwrap();
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let io = TokioIo::new(tls);
    if h2 {
        let (sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .unwrap();
        tokio::spawn(connection);
        Sender::H2(sender)
    } else {
        let (sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(connection);
        Sender::H1(sender)
    }
}

use rustls::pki_types::pem::PemObject;

impl Sender {
    pub async fn send_raw(&mut self, request: Request<Full<Bytes>>) -> Response<Incoming> {
        match self {
            Self::H1(sender) => {
                // HTTP/1.1 agents send origin-form inside a tunnel.
                let mut request = request;
                if let Some(path) = request.uri().path_and_query().cloned() {
                    *request.uri_mut() = http::Uri::from(path);
                }
                // The connection takes the next request once the last
                // response is read (sent back to back, it may not be yet).
                sender.ready().await.unwrap();
                sender.send_request(request).await.unwrap()
            }
            Self::H2(sender) => sender.send_request(request).await.unwrap(),
        }
    }

    pub async fn send(&mut self, request: Request<Full<Bytes>>) -> Answer {
        let response = self.send_raw(request).await;
        let status = response.status();
        let version = response.version();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            version,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }
}

/// `GET path` with a Host header, HTTP/1.1 style (for HTTP/2 the URI carries
/// the authority).
pub fn get(authority: &str, path: &str) -> http::request::Builder {
    Request::builder()
        .method("GET")
        .uri(format!("https://{authority}{path}"))
        .header("host", authority)
}

/// Routes YAML allowing the test upstream (host `upstream.test:PORT`).
pub fn upstream_authority(upstream: &Upstream) -> String {
    format!("{UPSTREAM_NAME}:{}", upstream.https.port())
}

/// Run curl through the proxy; returns (exit code, stdout, stderr).
pub async fn curl(proxy: &Proxy, arguments: &[&str]) -> (i32, String, String) {
    let output = tokio::process::Command::new("curl")
        .arg("--silent")
        .arg("--show-error")
        .arg("--noproxy")
        .arg("")
        .arg("--proxy")
        .arg(proxy.url())
        .arg("--cacert")
        .arg(&proxy.ca_pem_path)
        .args(arguments)
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .output()
        .await
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Every log line (TRACE and up) the current thread writes while this lives.
/// Use it on a current-thread runtime, so the proxy's tasks log here too.
pub struct LogCapture {
    buffer: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

#[derive(Clone)]
struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    pub fn start() -> Self {
        // `tracing` caches each callsite's interest process-wide, computed
        // against the dispatcher of the thread that first reaches it: a
        // sibling test's thread with no subscriber caches `never`, and this
        // capture then misses that line (seen once: an `egress request
        // denied` line absent under the parallel harness). A global
        // registry that is interested in everything keeps every callsite
        // enabled; it records nothing, and this thread's own subscriber
        // below gets the events.
        static GLOBAL: std::sync::Once = std::sync::Once::new();
        GLOBAL.call_once(|| {
            let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
        });
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = CaptureWriter(buffer.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        Self {
            buffer,
            _guard: guard,
        }
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.buffer.lock().unwrap().clone()).unwrap()
    }
}
