//! Reaching upstreams: name resolution under the address policy, dialling,
//! TLS with ALPN, and the pooled HTTP client on top.
//!
//! The proxy resolves every upstream name itself (the agent has no DNS),
//! at connect time, and refuses the connection when any resolved address is
//! not public ([`crate::address`]) — so a name that resolves to 127.0.0.1 or
//! 169.254.169.254 is useless, and DNS rebinding between the check and the
//! dial is impossible (the checked addresses are the dialled ones). Two
//! exceptions, both the operator's explicit choice: a `--resolve` pin, and
//! an IP-literal host (which can only get here by matching a route that
//! names that IP). Connecting back to the proxy's own listening address is
//! refused as a loop.
//!
//! Upstream TLS verifies against the Mozilla roots (webpki-roots) plus any
//! `--upstream-ca`, offers ALPN `h2` and `http/1.1`, and tells the pooled
//! client which was chosen, so a request can go out over HTTP/2 whatever
//! the agent spoke.
//!
//! Every upstream connection, idle in the pool or in use (a WebSocket's
//! included), holds one of [`MAX_UPSTREAM_CONNECTIONS`] slots
//! ([`UpstreamConnections`]) from before it is dialled until its socket is
//! dropped: hyper-util's pool bounds idle connections per host only, so
//! under a wildcard route an agent cycling through subdomains could leave
//! idle sockets (and their TLS state) to any number of hosts. A dial that
//! finds every slot taken closes the connection idle the longest (never
//! one in use: the proxy marks a connection in use from the moment the
//! pool hands it to a request, [`mark_in_use`], until that response's body
//! is done or its WebSocket closed; nor one first written to since it went
//! idle less than [`UNMARKED_WRITE_GRACE`] ago, a request perhaps not
//! marked yet) and waits for its slot; when none is
//! idle it waits up to [`UPSTREAM_CONNECTION_WAIT`] for one to end, and is
//! refused past it ([`ConnectError::TooManyConnections`], a 503).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;
use http::Uri;
use hyper_util::client::legacy::connect::{CaptureConnection, Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::address::{self, AddressClass};
use crate::routes::Host;

/// Time allowed to resolve an upstream name and open the TCP connection.
pub const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for the TLS handshake with an upstream.
pub const UPSTREAM_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle pooled upstream connection is kept.
pub const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle pooled connections kept per upstream host.
pub const UPSTREAM_MAX_IDLE_PER_HOST: usize = 32;
/// Most upstream connections open at once, over every host, idle in the
/// pool or in use (WebSockets included). As many as requests in flight
/// ([`crate::server::MAX_REQUESTS_IN_FLIGHT`]), so every request in flight
/// can have a connection of its own; past it the connection idle the
/// longest is closed to make room. Before, idle connections were bounded
/// per host only ([`UPSTREAM_MAX_IDLE_PER_HOST`] for
/// [`UPSTREAM_IDLE_TIMEOUT`]), and a wildcard route let an agent leave them
/// to any number of hosts.
pub const MAX_UPSTREAM_CONNECTIONS: usize = 4096;
/// How long a new upstream connection may wait for one of
/// [`MAX_UPSTREAM_CONNECTIONS`] when every one is in use (or the idle one
/// closed for it has not ended yet); past it the request is refused (503).
pub const UPSTREAM_CONNECTION_WAIT: Duration = Duration::from_secs(10);

/// A `--resolve HOST:PORT:ADDR` pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvePin {
    pub host: Host,
    pub port: u16,
    pub address: IpAddr,
}

/// A `--resolve` argument that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--resolve {0:?}: expected HOST:PORT:ADDRESS (e.g. api.example.com:443:10.0.0.5)")]
pub struct ResolvePinError(pub String);

impl FromStr for ResolvePin {
    type Err = ResolvePinError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ResolvePinError(text.to_string());
        let (host, rest) = text.split_once(':').ok_or_else(error)?;
        let (port, address) = rest.split_once(':').ok_or_else(error)?;
        let host = Host::parse(host).map_err(|_| error())?;
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(error)?;
        let address = address
            .strip_prefix('[')
            .and_then(|inner| inner.strip_suffix(']'))
            .unwrap_or(address)
            .parse::<IpAddr>()
            .map_err(|_| error())?;
        Ok(Self {
            host,
            port,
            address,
        })
    }
}

/// Why an upstream connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the upstream URL has no host")]
    NoHost,
    #[error("cannot resolve {host}")]
    Resolve {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("{host} resolves to no address")]
    NoAddress { host: String },
    #[error("{host} resolves to {address}, a {} address; the proxy does not connect there unless a route names that address or --resolve pins it", class.describe())]
    ForbiddenAddress {
        host: String,
        address: IpAddr,
        class: AddressClass,
    },
    #[error("{host} resolves to the proxy itself ({address}): refusing a loop")]
    Loop { host: String, address: SocketAddr },
    #[error("cannot connect to {host}")]
    Connect {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("timed out connecting to {host}")]
    ConnectTimeout { host: String },
    #[error("TLS handshake with {host} failed")]
    Tls {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("timed out in the TLS handshake with {host}")]
    TlsTimeout { host: String },
    #[error(
        "cannot connect to {host}: all {limit} upstream connections the proxy may hold are in use; try again"
    )]
    TooManyConnections { host: String, limit: usize },
}

/// The proxy's upstream connections, over every host, each holding one of
/// a fixed number of slots ([`MAX_UPSTREAM_CONNECTIONS`]) until its socket
/// is dropped. Cloning shares them.
#[derive(Clone)]
pub struct UpstreamConnections {
    inner: Arc<ConnectionsInner>,
}

struct ConnectionsInner {
    limit: usize,
    slots: Arc<Semaphore>,
    wait: Duration,
    /// Every connection dialled and not yet dropped, by id.
    live: Mutex<HashMap<u64, Arc<Tracked>>>,
    next_id: AtomicU64,
}

/// How long the first write on a connection no request is marked on
/// keeps it from being closed to make room: a request the pool has just
/// handed over is written before the proxy's mark lands (one wake-up
/// later). Past it the write was the protocol's own — an HTTP/2 PING's
/// acknowledgement, a WINDOW_UPDATE — or a retried request's (hyper-util
/// sends a request again on a second connection, which is not marked).
/// Before (audit round 8), any write since the connection went idle kept
/// it for good: an upstream that pinged its idle HTTP/2 connection made it
/// one that was never closed, and a new host got a 503 while it idled.
pub const UNMARKED_WRITE_GRACE: Duration = Duration::from_secs(1);

/// One upstream connection, as the bound sees it.
struct Tracked {
    id: u64,
    usage: Mutex<Usage>,
    /// When it was made: the clock `first_unmarked_write` counts from.
    made: Instant,
    /// Milliseconds from `made` to the first write since the connection
    /// last went idle, plus one; 0: none ([`UNMARKED_WRITE_GRACE`]).
    first_unmarked_write: AtomicU64,
    /// Closed to make room: reads end, writes fail.
    closed: AtomicBool,
    /// The connection's reader, woken when it is closed.
    reader: AtomicWaker,
}

#[derive(Clone, Copy)]
struct Usage {
    /// Requests (and WebSockets) using it.
    in_use: usize,
    /// When the last of them was done (or it was made).
    idle_since: Instant,
}

impl Tracked {
    /// A byte is being written: the first since it went idle is noted.
    fn wrote(&self) {
        if self.first_unmarked_write.load(Ordering::Relaxed) == 0 {
            let since = u64::try_from(self.made.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
            let _ = self.first_unmarked_write.compare_exchange(
                0,
                since.saturating_add(1),
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        }
    }

    /// Whether a write since it went idle may be a request being sent that
    /// is not marked yet (within [`UNMARKED_WRITE_GRACE`] of the first).
    fn writing_unmarked(&self) -> bool {
        match self.first_unmarked_write.load(Ordering::SeqCst) {
            0 => false,
            first => {
                let at = self.made + Duration::from_millis(first - 1);
                at.elapsed() < UNMARKED_WRITE_GRACE
            }
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.reader.wake();
    }
}

impl UpstreamConnections {
    /// At most `limit` connections at once (at least one); a dial waits up
    /// to `wait` for a slot.
    pub fn new(limit: usize, wait: Duration) -> Self {
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            inner: Arc::new(ConnectionsInner {
                limit,
                slots: Arc::new(Semaphore::new(limit)),
                wait,
                live: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// Connections open (or being dialled) now.
    pub fn open(&self) -> usize {
        self.inner.limit - self.inner.slots.available_permits()
    }

    /// A slot for a new connection to `host`: at once when one is free;
    /// otherwise the connection idle the longest is closed and its slot
    /// awaited, up to the configured wait.
    async fn slot(&self, host: &str) -> Result<OwnedSemaphorePermit, ConnectError> {
        let slots = &self.inner.slots;
        if let Ok(permit) = Arc::clone(slots).try_acquire_owned() {
            return Ok(permit);
        }
        if self.close_longest_idle() {
            tracing::debug!(
                limit = self.inner.limit,
                "upstream connections at the bound: closed the one idle the longest"
            );
        }
        match tokio::time::timeout(self.inner.wait, Arc::clone(slots).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                tracing::warn!(
                    limit = self.inner.limit,
                    "upstream connection refused: every upstream connection is in use"
                );
                Err(ConnectError::TooManyConnections {
                    host: host.to_string(),
                    limit: self.inner.limit,
                })
            }
        }
    }

    /// Close the connection idle the longest, if one is; whether one was.
    fn close_longest_idle(&self) -> bool {
        let Ok(live) = self.inner.live.lock() else {
            return false;
        };
        let longest = live
            .values()
            .filter(|tracked| !tracked.closed.load(Ordering::SeqCst) && !tracked.writing_unmarked())
            .filter_map(|tracked| {
                let usage = *tracked.usage.lock().ok()?;
                (usage.in_use == 0).then_some((usage.idle_since, tracked))
            })
            .min_by_key(|(idle_since, _)| *idle_since);
        match longest {
            Some((_, tracked)) => {
                tracked.close();
                true
            }
            None => false,
        }
    }

    /// Register a new connection holding `permit`.
    fn register(&self, permit: OwnedSemaphorePermit) -> Slot {
        let tracked = Arc::new(Tracked {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            usage: Mutex::new(Usage {
                in_use: 0,
                idle_since: Instant::now(),
            }),
            made: Instant::now(),
            first_unmarked_write: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            reader: AtomicWaker::new(),
        });
        if let Ok(mut live) = self.inner.live.lock() {
            live.insert(tracked.id, Arc::clone(&tracked));
        }
        Slot {
            tracked,
            connections: Arc::clone(&self.inner),
            _permit: permit,
        }
    }
}

/// A connection's place among [`UpstreamConnections`], given back when
/// its socket is dropped.
struct Slot {
    tracked: Arc<Tracked>,
    connections: Arc<ConnectionsInner>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut live) = self.connections.live.lock() {
            live.remove(&self.tracked.id);
        }
    }
}

/// Which upstream connection a request went out on (carried in the
/// client's connection metadata, [`Connected::extra`]).
#[derive(Clone)]
struct ConnectionHandle(Arc<Tracked>);

/// A request (or WebSocket) using an upstream connection: while it lives
/// the connection is never closed to make room.
pub(crate) struct InUse(Arc<Tracked>);

impl InUse {
    fn enter(tracked: &Arc<Tracked>) -> Self {
        if let Ok(mut usage) = tracked.usage.lock() {
            usage.in_use += 1;
        }
        Self(Arc::clone(tracked))
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        if let Ok(mut usage) = self.0.usage.lock() {
            usage.in_use = usage.in_use.saturating_sub(1);
            if usage.in_use == 0 {
                usage.idle_since = Instant::now();
                self.0.first_unmarked_write.store(0, Ordering::SeqCst);
            }
        }
    }
}

fn in_use_of(connected: Option<&Connected>) -> Option<InUse> {
    let mut extensions = http::Extensions::new();
    connected?.get_extras(&mut extensions);
    let handle = extensions.get::<ConnectionHandle>()?;
    Some(InUse::enter(&handle.0))
}

/// Await `sending` (a request through the pooled client, with `capture`
/// taken from it), marking the upstream connection it goes out on in use
/// from the moment the pool hands it over; the mark is returned with the
/// result, to keep as long as the response (or WebSocket) uses the
/// connection.
pub(crate) async fn mark_in_use<F: Future>(
    mut capture: CaptureConnection,
    sending: F,
) -> (F::Output, Option<InUse>) {
    enum First<T> {
        Sent(T),
        Marked(Option<InUse>),
    }
    let mut sending = std::pin::pin!(sending);
    let first = tokio::select! {
        biased;
        connected = capture.wait_for_connection_metadata() => {
            First::Marked(in_use_of(connected.as_ref()))
        }
        output = &mut sending => First::Sent(output),
    };
    match first {
        First::Marked(in_use) => (sending.await, in_use),
        First::Sent(output) => {
            let in_use = in_use_of(capture.connection_metadata().as_ref());
            (output, in_use)
        }
    }
}

/// The stream to an upstream (plain TCP or TLS), holding its slot among
/// the proxy's [`UpstreamConnections`] until it is dropped.
pub struct UpstreamStream {
    io: Io,
    slot: Slot,
}

enum Io {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
}

impl UpstreamStream {
    /// The error a connection closed to make room answers writes with.
    fn closed_error() -> io::Error {
        io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "upstream connection closed to make room for another",
        )
    }

    fn is_closed(&self) -> bool {
        self.slot.tracked.closed.load(Ordering::SeqCst)
    }

    fn wrote(&self) {
        self.slot.tracked.wrote();
    }
}

impl Connection for UpstreamStream {
    fn connected(&self) -> Connected {
        let connected = Connected::new().extra(ConnectionHandle(Arc::clone(&self.slot.tracked)));
        match &self.io {
            Io::Plain(_) => connected,
            Io::Tls(stream) => {
                let (_, session) = stream.inner().get_ref();
                if session.alpn_protocol() == Some(b"h2") {
                    connected.negotiated_h2()
                } else {
                    connected
                }
            }
        }
    }
}

impl hyper::rt::Read for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Closed to make room: the end of the stream (nothing read), so
        // the client drops the connection and its slot comes back.
        this.slot.tracked.reader.register(context.waker());
        if this.is_closed() {
            return Poll::Ready(Ok(()));
        }
        match &mut this.io {
            Io::Plain(stream) => Pin::new(stream).poll_read(context, buffer),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_read(context, buffer),
        }
    }
}

impl hyper::rt::Write for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.is_closed() {
            return Poll::Ready(Err(Self::closed_error()));
        }
        this.wrote();
        match &mut this.io {
            Io::Plain(stream) => Pin::new(stream).poll_write(context, data),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_write(context, data),
        }
    }

    // Vectored writes go through, so hyper hands a body's buffers to TLS as
    // they are instead of first copying them into one flat buffer.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.is_closed() {
            return Poll::Ready(Err(Self::closed_error()));
        }
        this.wrote();
        match &mut this.io {
            Io::Plain(stream) => Pin::new(stream).poll_write_vectored(context, buffers),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_write_vectored(context, buffers),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(stream) => stream.is_write_vectored(),
            Io::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(stream) => Pin::new(stream).poll_flush(context),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(context),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(stream) => Pin::new(stream).poll_shutdown(context),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(context),
        }
    }
}

/// Dials upstreams for the pooled client (a `tower` service over `Uri`).
#[derive(Clone)]
pub struct UpstreamConnector {
    tls: TlsConnector,
    pins: Arc<HashMap<(Host, u16), IpAddr>>,
    listen: SocketAddr,
    connections: UpstreamConnections,
}

impl UpstreamConnector {
    /// A connector trusting webpki roots plus `extra_roots`, honouring
    /// `pins`, refusing `listen` (the proxy's own address), offering `alpn`
    /// in upstream TLS, each connection taking a slot of `connections`.
    pub fn new(
        extra_roots: &[CertificateDer<'static>],
        pins: &[ResolvePin],
        listen: SocketAddr,
        alpn: &[&[u8]],
        connections: UpstreamConnections,
    ) -> Result<Self, rustls::Error> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for root in extra_roots {
            roots.add(root.clone())?;
        }
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
        let pins = pins
            .iter()
            .map(|pin| ((pin.host.clone(), pin.port), pin.address))
            .collect();
        Ok(Self {
            tls: TlsConnector::from(Arc::new(config)),
            pins: Arc::new(pins),
            listen,
            connections,
        })
    }

    async fn addresses(&self, host: &Host, port: u16) -> Result<Vec<SocketAddr>, ConnectError> {
        if let Some(pinned) = self.pins.get(&(host.clone(), port)) {
            return Ok(vec![SocketAddr::new(*pinned, port)]);
        }
        let name = match host {
            // Only reachable through a route naming this literal address.
            Host::Ip(address) => return Ok(vec![SocketAddr::new(*address, port)]),
            Host::Name(name) => name,
        };
        let resolved: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), port))
            .await
            .map_err(|source| ConnectError::Resolve {
                host: name.clone(),
                source,
            })?
            .collect();
        if resolved.is_empty() {
            return Err(ConnectError::NoAddress { host: name.clone() });
        }
        // Refuse the name if any of its addresses is not public: a name that
        // mixes public and private answers is a rebinding attempt.
        if let Some(bad) = resolved
            .iter()
            .find(|address| !address::is_public(address.ip()))
        {
            return Err(ConnectError::ForbiddenAddress {
                host: name.clone(),
                address: bad.ip(),
                class: address::classify(bad.ip()),
            });
        }
        Ok(resolved)
    }

    fn is_self(&self, address: SocketAddr) -> bool {
        address == self.listen
            || (self.listen.ip().is_unspecified()
                && address.port() == self.listen.port()
                && !address::is_public(address.ip()))
    }

    async fn connect(self, uri: Uri) -> Result<UpstreamStream, ConnectError> {
        let raw_host = uri.host().ok_or(ConnectError::NoHost)?;
        let host = Host::parse(raw_host).map_err(|_| ConnectError::NoHost)?;
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let host_text = host.to_string();
        // Taken before the dial, so connections being made count too.
        let permit = self.connections.slot(&host_text).await?;

        let dial = async {
            let addresses = self.addresses(&host, port).await?;
            let mut last_error = None;
            for address in addresses {
                if self.is_self(address) {
                    return Err(ConnectError::Loop {
                        host: host_text.clone(),
                        address,
                    });
                }
                match TcpStream::connect(address).await {
                    Ok(stream) => return Ok(stream),
                    Err(error) => last_error = Some(error),
                }
            }
            Err(ConnectError::Connect {
                host: host_text.clone(),
                source: last_error.unwrap_or_else(|| io::Error::other("no address")),
            })
        };
        let stream = tokio::time::timeout(UPSTREAM_CONNECT_TIMEOUT, dial)
            .await
            .map_err(|_| ConnectError::ConnectTimeout {
                host: host_text.clone(),
            })??;
        // Best effort: a proxy adds latency if Nagle holds small writes.
        let _ = stream.set_nodelay(true);
        if !https {
            return Ok(UpstreamStream {
                io: Io::Plain(TokioIo::new(stream)),
                slot: self.connections.register(permit),
            });
        }
        let server_name = match &host {
            Host::Name(name) => {
                ServerName::try_from(name.clone()).map_err(|_| ConnectError::NoHost)?
            }
            Host::Ip(address) => ServerName::IpAddress((*address).into()),
        };
        let tls = tokio::time::timeout(
            UPSTREAM_TLS_HANDSHAKE_TIMEOUT,
            self.tls.connect(server_name, stream),
        )
        .await
        .map_err(|_| ConnectError::TlsTimeout {
            host: host_text.clone(),
        })?
        .map_err(|source| ConnectError::Tls {
            host: host_text.clone(),
            source,
        })?;
        Ok(UpstreamStream {
            io: Io::Tls(Box::new(TokioIo::new(tls))),
            slot: self.connections.register(permit),
        })
    }
}

impl tower_service::Service<Uri> for UpstreamConnector {
    type Response = UpstreamStream;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<UpstreamStream, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(self.clone().connect(uri))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_pins_parse_like_curl() {
        let pin: ResolvePin = "API.example.com:8443:127.0.0.1".parse().unwrap();
        assert_eq!(pin.host, Host::Name("api.example.com".into()));
        assert_eq!(pin.port, 8443);
        assert_eq!(pin.address, "127.0.0.1".parse::<IpAddr>().unwrap());
        let v6: ResolvePin = "h.test:443:[::1]".parse().unwrap();
        assert_eq!(v6.address, "::1".parse::<IpAddr>().unwrap());
        let bare_v6: ResolvePin = "h.test:443:fd00::1".parse().unwrap();
        assert_eq!(bare_v6.address, "fd00::1".parse::<IpAddr>().unwrap());
        for bad in [
            "h.test",
            "h.test:443",
            "h.test:0:1.2.3.4",
            "h.test:x:1.2.3.4",
            "h.test:443:nope",
        ] {
            assert!(bad.parse::<ResolvePin>().is_err(), "{bad}");
        }
    }
}
