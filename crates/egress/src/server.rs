//! The listener: accept loop, CONNECT interception, live routes and
//! graceful shutdown.
//!
//! One task per client connection, and one per CONNECT tunnel, each
//! holding one of [`MAX_CONNECTIONS`] slots for its life, served
//! by hyper's automatic HTTP/1.1–HTTP/2 server. A CONNECT is answered with
//! 200, then the tunnel's TLS is terminated with a leaf for the CONNECT
//! target: the ClientHello's SNI must name the same host (a different SNI
//! gets a certificate for the name it asked for, and every request on that
//! connection a 421), and ALPN offers `h2` and `http/1.1`. Requests inside
//! the tunnel then go through [`crate::proxy`] with the tunnel's target.
//!
//! When the `shutdown` future completes the listener is closed, every
//! connection is told to finish (HTTP/2 GOAWAY, HTTP/1.1 close after the
//! current response), and [`run`] returns once they have, or after
//! [`SHUTDOWN_GRACE_PERIOD`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use arc_swap::ArcSwap;
use http::{Method, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_rustls::LazyConfigAcceptor;
use tracing::Instrument;

use crate::ca::CertificateAuthority;
use crate::inspect::{HoldResolver, Inspector, PassInspector, RefuseHolds};
use crate::proxy::{self, ProxyBody, Shared, Target, for_log};
use crate::response::UPSTREAM_BODY_IDLE_TIMEOUT;
use crate::routes::{Host, RouteTable, Scheme, Tokens};
use crate::upstream::{
    MAX_UPSTREAM_CONNECTIONS, ResolvePin, UPSTREAM_CONNECTION_WAIT, UPSTREAM_IDLE_TIMEOUT,
    UPSTREAM_MAX_IDLE_PER_HOST, UpstreamConnections, UpstreamConnector,
};
use crate::websocket::WEBSOCKET_IDLE_TIMEOUT;

/// Most client connections and CONNECT tunnels served at once, together:
/// further accepts wait, and a CONNECT finding no slot is refused (503).
/// A tunnel outlives the request that opened it (an HTTP/1.1 connection is
/// handed over to it; an HTTP/2 connection carries many), so each takes a
/// slot of its own; before, tunnels took none, and the agent held 20,000
/// open, up to the process's file-descriptor limit, after which nobody's
/// connection was accepted.
pub const MAX_CONNECTIONS: usize = 4096;

/// Most requests in flight at once through the proxy, over every
/// connection and tunnel (an HTTP/2 one carries up to 200 streams), each
/// until its response body ends, and most WebSockets relayed, together:
/// one more is answered 503 at once. Each holds an upstream connection;
/// idle pooled ones are bounded with them by
/// [`crate::upstream::MAX_UPSTREAM_CONNECTIONS`], as [`MAX_CONNECTIONS`]
/// bounds the agent's own.
pub const MAX_REQUESTS_IN_FLIGHT: usize = 4096;
/// Time allowed for the agent's TLS handshake inside a CONNECT tunnel.
pub const CLIENT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for an HTTP/1.1 client to send a request head.
pub const CLIENT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client connection may stay open with no request in flight
/// (a keep-alive connection between requests, an HTTP/2 connection that
/// opens no stream) before it is closed, so idle connections cannot hold
/// every one of [`MAX_CONNECTIONS`]. A request in flight, however long
/// (a held request, a long stream), keeps it open.
pub const CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long an idle connection being closed may take to say goodbye.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(1);
/// How often a connection checks whether it has been idle too long.
const IDLE_CHECK_INTERVAL: Duration = Duration::from_secs(5);
/// How long in-flight requests may take to finish after shutdown starts.
pub const SHUTDOWN_GRACE_PERIOD: Duration = Duration::from_secs(10);
/// How often the routes file is checked for changes.
pub const ROUTES_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Pause after a failed accept (e.g. out of file descriptors).
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Errors that stop the proxy from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot read the listening address")]
    LocalAddress(#[source] std::io::Error),
    #[error("cannot build the upstream TLS configuration (bad --upstream-ca?)")]
    UpstreamTls(#[source] rustls::Error),
}

/// Everything [`run`] needs; build with [`Config::new`] and set the rest.
pub struct Config {
    /// The routes file, watched for changes.
    pub routes_path: PathBuf,
    /// The routes loaded from it at start-up.
    pub routes: RouteTable,
    /// The held tokens, for compiling reloaded routes.
    pub tokens: Tokens,
    /// The bottle's CA.
    pub ca: Arc<CertificateAuthority>,
    /// Extra roots trusted for upstream TLS (webpki roots stay trusted).
    pub upstream_roots: Vec<CertificateDer<'static>>,
    /// `--resolve` pins.
    pub resolve: Vec<ResolvePin>,
    /// Outbound inspection (default: pass everything).
    pub inspector: Arc<dyn Inspector>,
    /// What answers holds (default: refuse them; there is no queue).
    pub holds: Arc<dyn HoldResolver>,
    /// How long a response body may go without a byte from the upstream
    /// (default [`UPSTREAM_BODY_IDLE_TIMEOUT`]).
    pub upstream_idle_timeout: Duration,
    /// How long a WebSocket may go without a message either way (default
    /// [`WEBSOCKET_IDLE_TIMEOUT`]).
    pub websocket_idle_timeout: Duration,
    /// How long a client connection may stay open with no request in
    /// flight (default [`CLIENT_IDLE_TIMEOUT`]).
    pub client_idle_timeout: Duration,
    /// How long the agent may pause in the middle of a request body
    /// (default [`proxy::REQUEST_BODY_IDLE_TIMEOUT`]).
    pub request_body_idle_timeout: Duration,
    /// Client connections and CONNECT tunnels served at once (default
    /// [`MAX_CONNECTIONS`]).
    pub max_connections: usize,
    /// Requests in flight and WebSockets relayed at once (default
    /// [`MAX_REQUESTS_IN_FLIGHT`]).
    pub max_requests_in_flight: usize,
    /// Bytes of request bodies buffered at once, over every request
    /// (default [`proxy::BUFFERED_BODIES_BUDGET_BYTES`]).
    pub buffered_bodies_budget: usize,
    /// How long a request may wait for room in the buffered-bodies or the
    /// inspection budget (default [`proxy::INSPECTION_BUDGET_WAIT`]).
    pub budget_wait: Duration,
    /// Upstream connections open at once over every host, idle or in use
    /// (default [`MAX_UPSTREAM_CONNECTIONS`]).
    pub max_upstream_connections: usize,
    /// How long a new upstream connection may wait for a slot when every
    /// one is in use (default [`UPSTREAM_CONNECTION_WAIT`]).
    pub upstream_connection_wait: Duration,
}

impl Config {
    /// A configuration with no inspection, no extra roots and no pins.
    pub fn new(
        routes_path: PathBuf,
        routes: RouteTable,
        tokens: Tokens,
        ca: Arc<CertificateAuthority>,
    ) -> Self {
        Self {
            routes_path,
            routes,
            tokens,
            ca,
            upstream_roots: Vec::new(),
            resolve: Vec::new(),
            inspector: Arc::new(PassInspector),
            holds: Arc::new(RefuseHolds),
            upstream_idle_timeout: UPSTREAM_BODY_IDLE_TIMEOUT,
            websocket_idle_timeout: WEBSOCKET_IDLE_TIMEOUT,
            client_idle_timeout: CLIENT_IDLE_TIMEOUT,
            request_body_idle_timeout: proxy::REQUEST_BODY_IDLE_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            max_requests_in_flight: MAX_REQUESTS_IN_FLIGHT,
            buffered_bodies_budget: proxy::BUFFERED_BODIES_BUDGET_BYTES,
            budget_wait: proxy::INSPECTION_BUDGET_WAIT,
            max_upstream_connections: MAX_UPSTREAM_CONNECTIONS,
            upstream_connection_wait: UPSTREAM_CONNECTION_WAIT,
        }
    }
}

/// Keeps [`run`] waiting while a connection is alive, and tells it to stop.
#[derive(Clone)]
struct Drain {
    _alive: mpsc::Sender<()>,
    stop: watch::Receiver<bool>,
}

impl Drain {
    async fn stopped(&mut self) {
        let _ = self.stop.wait_for(|stopped| *stopped).await;
    }
}

/// Serve the proxy on `listener` until `shutdown` completes, then drain.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let listen = listener.local_addr().map_err(ServerError::LocalAddress)?;
    // One bound over both clients' connections.
    let upstream_connections = UpstreamConnections::new(
        config.max_upstream_connections,
        config.upstream_connection_wait,
    );
    let connector = |alpn: &[&[u8]]| {
        UpstreamConnector::new(
            &config.upstream_roots,
            &config.resolve,
            listen,
            alpn,
            upstream_connections.clone(),
        )
        .map_err(ServerError::UpstreamTls)
    };
    let client = |connector| {
        Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(UPSTREAM_IDLE_TIMEOUT)
            .pool_max_idle_per_host(UPSTREAM_MAX_IDLE_PER_HOST)
            .build(connector)
    };
    let http1_client = client(connector(&[b"http/1.1"])?);
    let client = client(connector(&[b"h2", b"http/1.1"])?);
    let baseline = config.routes.text().map(|text| text.as_bytes().to_vec());
    let routes = Arc::new(ArcSwap::from_pointee(config.routes));
    let shared = Arc::new(Shared {
        routes: routes.clone(),
        ca: config.ca,
        client,
        http1_client,
        inspector: config.inspector,
        holds: config.holds,
        provider: Arc::new(rustls::crypto::ring::default_provider()),
        next_request_id: AtomicU64::new(1),
        upstream_idle_timeout: config.upstream_idle_timeout,
        websocket_idle_timeout: config.websocket_idle_timeout,
        client_idle_timeout: config.client_idle_timeout,
        request_body_idle_timeout: config.request_body_idle_timeout,
        secrets: {
            // Longest first, so a token containing another is masked whole.
            let mut secrets: Vec<_> = config.tokens.values().cloned().collect();
            secrets.sort_by_key(|secret| std::cmp::Reverse(secret.expose().len()));
            secrets
        },
        inspection_budget: Arc::new(tokio::sync::Semaphore::new(
            crate::proxy::INSPECTION_BUDGET_BYTES,
        )),
        body_budget: Arc::new(tokio::sync::Semaphore::new(config.buffered_bodies_budget)),
        slots: Arc::new(Semaphore::new(config.max_connections)),
        requests: Arc::new(Semaphore::new(config.max_requests_in_flight)),
        budget_wait: config.budget_wait,
    });

    let (stop_sender, stop_receiver) = watch::channel(false);
    let (alive_sender, mut alive_receiver) = mpsc::channel::<()>(1);
    let drain = Drain {
        _alive: alive_sender,
        stop: stop_receiver.clone(),
    };
    let reloader = tokio::spawn(
        watch_routes(
            config.routes_path,
            baseline,
            config.tokens,
            routes,
            Arc::clone(&shared.inspector),
            stop_receiver,
        )
        .in_current_span(),
    );

    tracing::info!(address = %listen, "egress proxy listening");
    let limit = Arc::clone(&shared.slots);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = limit.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, client) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let connection_drain = drain.clone();
        // The connection's slot; an HTTP/1.1 CONNECT hands it to its tunnel.
        let slot = Arc::new(std::sync::Mutex::new(Some(permit)));
        tokio::spawn(
            async move {
                let service_shared = shared.clone();
                let service_drain = connection_drain.clone();
                let service_slot = Arc::clone(&slot);
                let service = service_fn(move |request: Request<Incoming>| {
                    let shared = service_shared.clone();
                    let drain = service_drain.clone();
                    let slot = Arc::clone(&service_slot);
                    async move {
                        Ok::<_, Infallible>(
                            handle_listener_request(shared, drain, client, &slot, request).await,
                        )
                    }
                });
                let idle = shared.client_idle_timeout;
                serve(
                    TokioIo::new(stream),
                    Arc::clone(&shared.requests),
                    service,
                    connection_drain,
                    Place::Listener,
                    idle,
                )
                .await;
                let _slot = slot;
            }
            .in_current_span(),
        );
    }

    drop(listener);
    tracing::info!("egress proxy stopping: draining connections");
    let _ = stop_sender.send(true);
    drop(drain);
    drop(shared);
    if tokio::time::timeout(SHUTDOWN_GRACE_PERIOD, alive_receiver.recv())
        .await
        .is_err()
    {
        tracing::warn!("grace period over; dropping the connections still open");
    }
    reloader.abort();
    Ok(())
}

/// Where a connection is served: on the listener (CONNECT, absolute-form
/// `http://`, introspection) or inside an intercepted tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Listener,
    Tunnel,
}

/// Spawns hyper's tasks (an HTTP/2 connection's streams) in the span that
/// serves the connection, so their log lines carry its fields (the
/// bottle's name).
#[derive(Clone)]
struct InSpan(tracing::Span);

impl<F> hyper::rt::Executor<F> for InSpan
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        tokio::spawn(future.instrument(self.0.clone()));
    }
}

fn server_builder(place: Place) -> auto::Builder<InSpan> {
    let mut builder = auto::Builder::new(InSpan(tracing::Span::current()));
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(CLIENT_HEADER_READ_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    if place == Place::Tunnel {
        // RFC 8441: WebSocket over HTTP/2 (extended CONNECT with
        // `:protocol websocket`), relayed like an HTTP/1.1 upgrade.
        builder.http2().enable_connect_protocol();
    }
    builder
}

/// Serve one connection until it ends or the proxy drains; each request
/// takes one of `requests` until its response body ends, or is refused.
async fn serve<I, S>(
    io: TokioIo<I>,
    requests: Arc<Semaphore>,
    service: S,
    mut drain: Drain,
    place: Place,
    idle: Duration,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            Request<Incoming>,
            Response = Response<ProxyBody>,
            Error = Infallible,
        > + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let builder = server_builder(place);
    let activity = Arc::new(InFlight::default());
    let service = {
        let activity = Arc::clone(&activity);
        let service = Arc::new(service);
        service_fn(move |request: Request<Incoming>| {
            let guard = InFlight::enter(&activity);
            let service = Arc::clone(&service);
            // A CONNECT is answered at once; its tunnel holds a connection
            // slot instead.
            let permit = if request.method() == Method::CONNECT {
                Ok(None)
            } else {
                Arc::clone(&requests).try_acquire_owned().map(Some)
            };
            async move {
                let Ok(permit) = permit else {
                    tracing::warn!("request refused: too many requests in flight");
                    return Ok(proxy::refusal(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "error",
                        "too many requests are in flight through the proxy; try again",
                    ));
                };
                let response = match service.call(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                // In flight until the response body is sent (or dropped).
                Ok::<_, Infallible>(response.map(|body| {
                    http_body_util::BodyExt::boxed(Guarded {
                        inner: body,
                        _guard: guard,
                        _permit: permit,
                    })
                }))
            }
        })
    };
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let mut check = tokio::time::interval(IDLE_CHECK_INTERVAL.min(idle));
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "client connection ended with an error");
                }
                return;
            }
            () = drain.stopped() => {
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
                return;
            }
            _ = check.tick() => {
                if activity.idle_for() >= idle {
                    tracing::debug!(idle_seconds = idle.as_secs_f64(), "idle client connection closed");
                    // Nothing is in flight: a short grace (an HTTP/2
                    // GOAWAY), not the drain's, then the connection goes.
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(IDLE_CLOSE_GRACE, connection.as_mut()).await;
                    return;
                }
            }
        }
    }
}

/// Requests in flight on one connection, and since when none has been.
#[derive(Debug)]
struct InFlight {
    state: std::sync::Mutex<(usize, std::time::Instant)>,
}

impl Default for InFlight {
    fn default() -> Self {
        Self {
            state: std::sync::Mutex::new((0, std::time::Instant::now())),
        }
    }
}

impl InFlight {
    fn enter(this: &Arc<Self>) -> InFlightGuard {
        if let Ok(mut state) = this.state.lock() {
            state.0 += 1;
        }
        InFlightGuard(Arc::clone(this))
    }

    /// How long no request has been in flight (zero while one is).
    fn idle_for(&self) -> Duration {
        match self.state.lock() {
            Ok(state) if state.0 == 0 => state.1.elapsed(),
            _ => Duration::ZERO,
        }
    }
}

/// One request in flight; dropped when its response body is done.
struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if let Ok(mut state) = self.0.state.lock() {
            state.0 = state.0.saturating_sub(1);
            if state.0 == 0 {
                state.1 = std::time::Instant::now();
            }
        }
    }
}

/// A response body that holds its request's [`InFlightGuard`] and its
/// place among [`MAX_REQUESTS_IN_FLIGHT`].
struct Guarded {
    inner: ProxyBody,
    _guard: InFlightGuard,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl hyper::body::Body for Guarded {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// A request on the listener: CONNECT (answered at once; the tunnel runs
/// in its own task), an absolute-form `http://` request, or a request for
/// the proxy itself (introspection).
async fn handle_listener_request(
    shared: Arc<Shared>,
    drain: Drain,
    client: SocketAddr,
    connection_slot: &ConnectionSlot,
    request: Request<Incoming>,
) -> Response<ProxyBody> {
    if request.method() == Method::CONNECT {
        return connect(shared, drain, client, connection_slot, request);
    }
    if request.uri().scheme().is_some() {
        return proxy::handle_absolute(shared, client, request).await;
    }
    proxy::introspection(&shared, &request)
}

/// A connection's slot of [`MAX_CONNECTIONS`], until its tunnel takes it.
type ConnectionSlot = std::sync::Mutex<Option<tokio::sync::OwnedSemaphorePermit>>;

/// Start the interception of a CONNECT tunnel, which holds a slot for its
/// life.
fn connect(
    shared: Arc<Shared>,
    drain: Drain,
    client: SocketAddr,
    connection_slot: &ConnectionSlot,
    request: Request<Incoming>,
) -> Response<ProxyBody> {
    let Some(target) = request
        .uri()
        .authority()
        .filter(|authority| authority.port_u16().is_some())
        .and_then(|authority| Target::from_authority(Scheme::Https, authority.as_str()))
    else {
        return proxy::refusal(
            StatusCode::BAD_REQUEST,
            "denied",
            "CONNECT needs a host:port target",
        );
    };
    // An HTTP/1.1 connection ends where its tunnel begins: its slot goes to
    // the tunnel. An HTTP/2 one goes on carrying other streams, so each of
    // its tunnels takes a slot of its own.
    let handed_over = if request.version() == Version::HTTP_2 {
        None
    } else {
        connection_slot.lock().ok().and_then(|mut slot| slot.take())
    };
    let Some(slot) = handed_over.or_else(|| Arc::clone(&shared.slots).try_acquire_owned().ok())
    else {
        tracing::warn!("CONNECT refused: every connection slot is taken");
        return proxy::refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "error",
            "too many connections and tunnels are open through the proxy; close some and try again",
        );
    };
    tokio::spawn(
        async move {
            let _slot = slot;
            match hyper::upgrade::on(request).await {
                Ok(upgraded) => {
                    intercept(shared, drain, client, target, TokioIo::new(upgraded)).await
                }
                Err(error) => tracing::debug!(%error, "CONNECT upgrade failed"),
            }
        }
        .in_current_span(),
    );
    Response::new(proxy_empty())
}

fn proxy_empty() -> ProxyBody {
    use http_body_util::BodyExt;
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed()
}

#[derive(Debug)]
struct OneCertificate(Arc<CertifiedKey>);

impl ResolvesServerCert for OneCertificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// Terminate the agent's TLS inside a tunnel and serve its requests.
async fn intercept(
    shared: Arc<Shared>,
    drain: Drain,
    client: SocketAddr,
    target: Target,
    io: TokioIo<hyper::upgrade::Upgraded>,
) {
    let requests = Arc::clone(&shared.requests);
    let handshake = async {
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io).await?;
        let sni = start.client_hello().server_name().map(str::to_owned);
        let (certificate_host, misdirected) = match sni.as_deref().map(Host::parse) {
            None => (target.host.clone(), false),
            Some(Ok(host)) if host == target.host => (host, false),
            Some(Ok(host)) => (host, true),
            Some(Err(_)) => (target.host.clone(), true),
        };
        let key = shared
            .ca
            .leaf_for(&certificate_host)
            .map_err(std::io::Error::other)?;
        let mut config = rustls::ServerConfig::builder_with_provider(shared.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(OneCertificate(key)));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let stream = start.into_stream(Arc::new(config)).await?;
        Ok::<_, std::io::Error>((stream, sni, misdirected))
    };
    let (stream, sni, misdirected) = match tokio::time::timeout(
        CLIENT_TLS_HANDSHAKE_TIMEOUT,
        handshake,
    )
    .await
    {
        Ok(Ok(done)) => done,
        Ok(Err(error)) => {
            tracing::info!(%client, target = %for_log(&shared, target.host.to_string().as_bytes()), %error, "TLS handshake with the agent failed");
            return;
        }
        Err(_) => {
            tracing::info!(%client, target = %for_log(&shared, target.host.to_string().as_bytes()), "TLS handshake with the agent timed out");
            return;
        }
    };
    if misdirected {
        tracing::warn!(
            decision = "deny",
            %client,
            target = %for_log(&shared, target.host.to_string().as_bytes()),
            sni = %for_log(&shared, sni.as_deref().unwrap_or("").escape_debug().to_string().as_bytes()),
            "TLS SNI differs from the CONNECT target"
        );
    }
    let idle = shared.client_idle_timeout;
    let service = service_fn(move |request: Request<Incoming>| {
        let shared = shared.clone();
        let target = target.clone();
        let sni = sni.clone();
        async move {
            if misdirected {
                return Ok::<_, Infallible>(proxy::refusal(
                    StatusCode::MISDIRECTED_REQUEST,
                    "denied",
                    &format!(
                        "this tunnel was opened for {}, but TLS asked for {}; connect to that host directly",
                        target.host,
                        sni.as_deref().unwrap_or("").escape_debug()
                    ),
                ));
            }
            Ok(proxy::handle_in_target(shared, client, target, request).await)
        }
    });
    serve(
        TokioIo::new(stream),
        requests,
        service,
        drain,
        Place::Tunnel,
        idle,
    )
    .await;
}

/// Re-read the routes file every [`ROUTES_POLL_INTERVAL`]; swap in a new
/// table when its contents change and compile; keep the old one otherwise.
async fn watch_routes(
    path: PathBuf,
    baseline: Option<Vec<u8>>,
    tokens: Tokens,
    routes: Arc<ArcSwap<RouteTable>>,
    inspector: Arc<dyn crate::inspect::Inspector>,
    mut stop: watch::Receiver<bool>,
) {
    // Compare with what the running table was parsed from, so a change
    // made between start-up and this task's first poll is not missed.
    let mut last_contents = baseline;
    let mut interval = tokio::time::interval(ROUTES_POLL_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut read_failed = false;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        let contents = match tokio::fs::read(&path).await {
            Ok(contents) => {
                read_failed = false;
                contents
            }
            Err(error) => {
                if !read_failed {
                    tracing::error!(path = %path.display(), %error, "cannot read the routes file; keeping the routes in force");
                }
                read_failed = true;
                continue;
            }
        };
        if last_contents.as_deref() == Some(contents.as_slice()) {
            continue;
        }
        let text = String::from_utf8_lossy(&contents);
        match RouteTable::parse(&path, &text, &tokens) {
            Ok(table) => {
                tracing::info!(path = %path.display(), routes = table.routes().len(), "routes reloaded");
                inspector.routes_reloaded(&table);
                routes.store(Arc::new(table));
            }
            Err(error) => {
                tracing::error!(
                    path = %path.display(),
                    error = %error,
                    "routes file is invalid; keeping the routes in force"
                );
            }
        }
        last_contents = Some(contents);
    }
}
