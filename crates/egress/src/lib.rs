//! The egress sidecar: a default-deny HTTPS forward proxy.
//!
//! The agent's only way to the internet. It answers `HTTPS_PROXY` traffic
//! (CONNECT, with TLS interception under a per-bottle CA) and plain
//! `http://` proxy requests, lets a request through only when a route in
//! the `--routes` file allows its host, method, path and headers, injects
//! the route's credential (the agent holds only a placeholder), hands the
//! request to an [`inspect::Inspector`] (outbound DLP) before a byte goes
//! upstream, and streams the response back untouched.
//!
//! Layout:
//! - [`routes`]: the routes file, compiled; the allow/deny decision.
//! - [`address`]: which resolved upstream addresses may be dialled.
//! - [`ca`]: the bottle's CA and the leaf certificates minted from it.
//! - [`inspect`]: the DLP / approval seam ([`inspect::Inspector`],
//!   [`inspect::HoldResolver`]).
//! - [`dlp_inspector`]: [`dlp_inspector::DlpInspector`], the DLP scanner
//!   behind the inspector seam, with the route's policy.
//! - [`queue_holds`]: [`queue_holds::QueueHolds`], holds filed as
//!   `egress-token-allow` proposals in the bottle's queue.
//! - [`body`]: request-body buffering limits and `Content-Encoding` decoding.
//! - [`response`]: the response body streamed back, with its idle deadline,
//!   the injected credential masked ([`response::Mask`]) and the `log: full`
//!   excerpt; upstream failures told without the upstream's own bytes (an
//!   HTTP/2 GOAWAY's debug data).
//! - [`upstream`]: resolving, dialling and TLS to upstreams (pooled
//!   client), every upstream connection counted in one bound over all hosts.
//! - `proxy`: the request pipeline and the deny/error responses.
//! - `server`: [`run`], the accept loop, CONNECT interception, live routes
//!   and graceful shutdown.
//! - [`websocket`]: WebSocket upgrades, relayed with every agent message
//!   inspected and every message being assembled counted in the
//!   buffered-bodies budget.

pub mod address;
pub mod body;
pub mod ca;
pub mod dlp_inspector;
pub mod inspect;
mod proxy;
pub mod queue_holds;
pub mod response;
pub mod routes;
mod server;
pub mod upstream;
pub mod websocket;

pub use proxy::{
    ALLOW_TOOL, BLOCKING_SCAN_BYTES, EGRESS_HEADER, FULL_LOG_BODY_CHARS, ROUTES_PATH,
    UPSTREAM_RESPONSE_HEAD_TIMEOUT,
};
pub use response::UPSTREAM_BODY_IDLE_TIMEOUT;
pub use server::{
    CLIENT_HEADER_READ_TIMEOUT, CLIENT_TLS_HANDSHAKE_TIMEOUT, Config, MAX_CONNECTIONS,
    ROUTES_POLL_INTERVAL, SHUTDOWN_GRACE_PERIOD, ServerError, run,
};
pub use websocket::WEBSOCKET_IDLE_TIMEOUT;
