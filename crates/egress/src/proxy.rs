//! The request pipeline: one request from the agent to the upstream and back.
//!
//! For every request, in this order, before anything is sent upstream:
//! the target (CONNECT tunnel or absolute-form URL) must agree with the
//! `Host` header and HTTP/2 `:authority`; a `Via` naming this proxy is a
//! loop; the route table must allow host, method, path and headers; the
//! inspector sees the head; the body is buffered, decoded and shown to the
//! inspector; then the route's credential replaces whatever the agent put
//! in that header (in any spelling with `_` for `-`). The upstream URL is
//! rebuilt from the checked target, so the credential can only go to the
//! host the route names. The response streams back with hop-by-hop
//! headers removed and is never buffered.
//!
//! Every pass over request data of [`BLOCKING_SCAN_BYTES`] or more — the
//! head's and the body's inspection, decoding, the body's `_method` check
//! on a route that limits methods, the `log: full` line's scrub — runs on
//! tokio's blocking pool once its share of [`INSPECTION_BUDGET_BYTES`] is
//! free, so that one agent's large request never holds the runtime
//! workers that serve every other request.
//!
//! Every refusal goes through [`refusal`]: a status, a plain-text body that
//! says what was refused and how to ask for it, and the
//! `X-Bot-Bottle-Egress` header so the agent can tell the proxy answered and
//! not the upstream.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use bot_bottle_manifest::model::EgressLog;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use tracing::Instrument;

use crate::body::{self, DecodeError, MAX_REQUEST_BODY_BYTES};
use crate::ca::CertificateAuthority;
use crate::inspect::{
    HeadRewrite, Hold, HoldOutcome, HoldResolver, Inspector, RequestContext, RequestHead, Verdict,
};
use crate::response::{IdleTimeout, Mask, StreamedBody, upstream_error_text};
use crate::routes::{
    CompiledRoute, Host, METHOD_OVERRIDE_PARAMETER, RequestTarget, RouteTable, Scheme,
};
use crate::upstream::{self, ConnectError, InUse, UpstreamConnector};
use crate::websocket;

/// Time allowed from sending a request upstream to receiving the response
/// head. Generous: a model may think for minutes before its first byte. The
/// response body, once it starts, has only an idle deadline
/// ([`crate::response::UPSTREAM_BODY_IDLE_TIMEOUT`]).
pub const UPSTREAM_RESPONSE_HEAD_TIMEOUT: Duration = Duration::from_secs(600);

/// The header on every response the proxy itself writes.
pub const EGRESS_HEADER: &str = "x-bot-bottle-egress";
/// The `Via` pseudonym this proxy adds upstream and recognises as a loop.
pub const VIA_PSEUDONYM: &str = "bot-bottle-egress";
/// The path of the introspection endpoint (a GET addressed to the proxy).
pub const ROUTES_PATH: &str = "/routes";
/// The supervise tool the agent calls to ask for a route.
pub const ALLOW_TOOL: &str = "egress-allow";

/// A response body: upstream bytes streamed, or the proxy's own text.
pub type ProxyBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Hop-by-hop headers (RFC 9110 §7.6.1) plus the proxy-only ones.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
];

/// What the whole proxy shares.
pub(crate) struct Shared {
    pub routes: Arc<ArcSwap<RouteTable>>,
    pub ca: Arc<CertificateAuthority>,
    pub client: Client<UpstreamConnector, Full<Bytes>>,
    /// Upstream client that speaks HTTP/1.1 only: for agents speaking
    /// HTTP/1.1 (many pooled connections parallelise better than one
    /// multiplexed HTTP/2 connection) and for WebSocket upgrades.
    pub http1_client: Client<UpstreamConnector, Full<Bytes>>,
    pub inspector: Arc<dyn Inspector>,
    pub holds: Arc<dyn HoldResolver>,
    pub provider: Arc<rustls::crypto::CryptoProvider>,
    pub next_request_id: AtomicU64,
    /// How long a response body may go without a byte from the upstream.
    pub upstream_idle_timeout: Duration,
    /// How long a WebSocket may go without a message either way.
    pub websocket_idle_timeout: Duration,
    /// How long a client connection may stay open with no request in flight.
    pub client_idle_timeout: Duration,
    /// How long the agent may pause in the middle of a request body.
    pub request_body_idle_timeout: Duration,
    /// Every held token value, scrubbed from `log: full` lines.
    pub secrets: Vec<bot_bottle_secret::Redacted<String>>,
    /// Memory for decoding and inspecting large bodies, in bytes, shared by
    /// every request ([`INSPECTION_BUDGET_BYTES`]).
    pub inspection_budget: Arc<tokio::sync::Semaphore>,
    /// Memory for request bodies while they are buffered, in bytes, shared
    /// by every request ([`BUFFERED_BODIES_BUDGET_BYTES`]).
    pub body_budget: Arc<tokio::sync::Semaphore>,
    /// One per client connection and CONNECT tunnel being served
    /// ([`crate::server::MAX_CONNECTIONS`]).
    pub slots: Arc<tokio::sync::Semaphore>,
    /// One per request in flight and WebSocket relayed
    /// ([`crate::server::MAX_REQUESTS_IN_FLIGHT`]).
    pub requests: Arc<tokio::sync::Semaphore>,
    /// How long a request may wait for its share of either budget
    /// ([`INSPECTION_BUDGET_WAIT`]).
    pub budget_wait: Duration,
}

/// The most memory, in bytes, that decoding request bodies and inspecting
/// large ones may take at once, over every request and WebSocket. A few
/// hundred bytes of brotli decode to 64 MiB, and the DLP engine may decode
/// layers of up to 16 times what it scans; without a shared bound a
/// handful of tiny requests on one HTTP/2 connection took gigabytes (and a
/// held one kept its decoded copy while the operator decided). A body is
/// decoded once [`crate::body::MAX_DECODED_BODY_BYTES`] of this is free,
/// and a body or message of [`BLOCKING_SCAN_BYTES`] or more is inspected
/// once 17 times its size (itself and the engine's layers; at most the
/// whole budget) is free; each share is given back as soon as that step is
/// done, before any hold for the operator.
pub const INSPECTION_BUDGET_BYTES: usize = 512 * 1024 * 1024;

/// How long a decode or an inspection may wait for its share of
/// [`INSPECTION_BUDGET_BYTES`]; past it the request is refused (503).
pub const INSPECTION_BUDGET_WAIT: Duration = Duration::from_secs(30);

/// The most memory, in bytes, that request bodies may take while they are
/// buffered — received, inspected, held for the operator, until the
/// upstream's answer begins — over every request at once. Each body takes
/// its share as it arrives (its `Content-Length` up front when it has
/// one); a body that finds no room within [`INSPECTION_BUDGET_WAIT`] is
/// refused (503) and its share given back. Without it, requests buffering
/// up to [`MAX_REQUEST_BODY_BYTES`] each on every connection and HTTP/2
/// stream (and up to [`crate::queue_holds::MAX_PENDING_HOLDS`] of them kept
/// while the operator decides) could take the proxy's memory for
/// everyone. The decoded copy and the DLP engine's layers are counted in
/// [`INSPECTION_BUDGET_BYTES`] instead.
pub const BUFFERED_BODIES_BUDGET_BYTES: usize = 1024 * 1024 * 1024;

/// Take `bytes` of `budget`, waiting at most `wait`.
pub(crate) async fn reserve_within(
    budget: &Arc<tokio::sync::Semaphore>,
    bytes: usize,
    wait: Duration,
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
    tokio::time::timeout(wait, Arc::clone(budget).acquire_many_owned(bytes))
        .await
        .ok()?
        .ok()
}

/// Take `bytes` (at most the whole budget) of the inspection budget,
/// waiting at most the configured wait ([`INSPECTION_BUDGET_WAIT`]).
pub(crate) async fn reserve(
    shared: &Shared,
    bytes: usize,
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    reserve_within(
        &shared.inspection_budget,
        bytes.min(INSPECTION_BUDGET_BYTES),
        shared.budget_wait,
    )
    .await
}

/// The answer when a body cannot get its share of the inspection budget.
fn no_inspection_room(context: &RequestContext) -> Response<ProxyBody> {
    tracing::warn!(decision = "deny", request_id = context.request_id, host = %context.log_host, "no room to decode or inspect a request body in time");
    refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        "error",
        "too many large or compressed request bodies are being inspected at once; try again",
    )
}

/// Where a request is going, as established by the proxy (CONNECT target or
/// absolute-form URL), never by the agent's `Host` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub scheme: Scheme,
    pub host: Host,
    pub port: u16,
}

impl Target {
    /// `host[:port]`, the port omitted when it is the scheme's default.
    fn authority(&self) -> String {
        if self.port == self.scheme.default_port() {
            self.host.to_string()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Parse an authority (`host[:port]`, no user information).
    pub fn from_authority(scheme: Scheme, text: &str) -> Option<Self> {
        if text.contains('@') {
            return None;
        }
        let authority = Authority::from_str(text).ok()?;
        let host = Host::parse(authority.host()).ok()?;
        let port = match authority.port_u16() {
            Some(0) => return None,
            Some(port) => port,
            None => scheme.default_port(),
        };
        Some(Self { scheme, host, port })
    }
}

/// The body of a response the proxy writes itself.
fn text_body(text: String) -> ProxyBody {
    Full::new(Bytes::from(text))
        .map_err(|never| match never {})
        .boxed()
}

/// Every refusal and proxy-side error, as the agent sees it.
pub(crate) fn refusal(
    status: StatusCode,
    kind: &'static str,
    message: &str,
) -> Response<ProxyBody> {
    let mut response = Response::new(text_body(format!("bot-bottle egress: {message}\n")));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(EGRESS_HEADER, HeaderValue::from_static(kind));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The 403 for a request no route allows.
fn denied(host: &str, reason: &str) -> Response<ProxyBody> {
    refusal(
        StatusCode::FORBIDDEN,
        "denied",
        &format!(
            "request to {host} refused: {reason}.\nTo ask the operator for access, call the supervise tool `{ALLOW_TOOL}` \
             with the host ({host}) and the methods and paths you need; retry once it is approved."
        ),
    )
}

fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // `te: trailers` is the one TE value HTTP/2 allows end to end, and gRPC
    // needs it: kept when the agent sent it, whatever else TE said.
    let wants_trailers = headers.get_all(header::TE).iter().any(|value| {
        value.to_str().is_ok_and(|text| {
            text.split(',').any(|part| {
                part.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("trailers")
            })
        })
    });
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    if wants_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

fn has_our_via(headers: &HeaderMap) -> bool {
    headers.get_all(header::VIA).iter().any(|value| {
        value
            .to_str()
            .is_ok_and(|text| text.contains(VIA_PSEUDONYM))
    })
}

/// Answer a request addressed to the proxy itself (origin-form on the
/// listener): the introspection endpoint, or a pointer to it.
pub(crate) fn introspection(shared: &Shared, request: &Request<Incoming>) -> Response<ProxyBody> {
    if request.method() != Method::GET || request.uri().path() != ROUTES_PATH {
        return refusal(
            StatusCode::NOT_FOUND,
            "error",
            &format!(
                "this is the egress proxy; use it as HTTP(S)_PROXY, or GET {ROUTES_PATH} for the routes in force"
            ),
        );
    }
    let table = shared.routes.load();
    match serde_json::to_vec_pretty(&table.view()) {
        Ok(json) => {
            let mut response = Response::new(
                Full::new(Bytes::from(json))
                    .map_err(|never| match never {})
                    .boxed(),
            );
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
                .headers_mut()
                .insert(EGRESS_HEADER, HeaderValue::from_static("introspection"));
            response
        }
        Err(error) => {
            tracing::error!(%error, "cannot render the routes");
            refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "error",
                "cannot render the routes",
            )
        }
    }
}

/// A plain-HTTP request in absolute form (`GET http://host/path`).
pub(crate) async fn handle_absolute(
    shared: Arc<Shared>,
    client: SocketAddr,
    request: Request<Incoming>,
) -> Response<ProxyBody> {
    let uri = request.uri();
    if uri.scheme_str() != Some("http") {
        return refusal(
            StatusCode::BAD_REQUEST,
            "denied",
            "only http:// URLs are proxied in absolute form; use CONNECT (HTTPS_PROXY) for https://",
        );
    }
    let Some(target) = uri
        .authority()
        .and_then(|authority| Target::from_authority(Scheme::Http, authority.as_str()))
    else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "denied",
            "the request URL has no usable host",
        );
    };
    handle_in_target(shared, client, target, request).await
}

/// A request inside an intercepted CONNECT tunnel, or after
/// [`handle_absolute`] established the target.
pub(crate) async fn handle_in_target(
    shared: Arc<Shared>,
    client: SocketAddr,
    target: Target,
    request: Request<Incoming>,
) -> Response<ProxyBody> {
    // The target is fixed by the tunnel (or URL); the agent's Host header
    // and :authority must name the same host and port.
    let uri_authority = request.uri().authority().map(Authority::as_str);
    let host_header = request
        .headers()
        .get(header::HOST)
        .map(|value| value.to_str().unwrap_or("\u{0}"));
    if uri_authority.is_none() && host_header.is_none() {
        return refusal(
            StatusCode::BAD_REQUEST,
            "denied",
            "the request has no Host header",
        );
    }
    for claimed in [uri_authority, host_header].into_iter().flatten() {
        if Target::from_authority(target.scheme, claimed).as_ref() != Some(&target) {
            tracing::warn!(
                decision = "deny",
                %client,
                target = %for_log(&shared, target.authority().as_bytes()),
                claimed = %for_log(&shared, claimed.escape_debug().to_string().as_bytes()),
                "misdirected request: Host/:authority differs from the tunnel target"
            );
            return refusal(
                StatusCode::MISDIRECTED_REQUEST,
                "denied",
                &format!(
                    "this connection is for {}, but the request names {}; open a new connection for that host",
                    target.authority(),
                    claimed.escape_debug()
                ),
            );
        }
    }
    forward(shared, client, target, request).await
}

/// The context handed to the inspector.
fn context(
    shared: &Shared,
    client: SocketAddr,
    target: &Target,
    route: &CompiledRoute,
) -> RequestContext {
    RequestContext {
        request_id: shared.next_request_id.fetch_add(1, Ordering::Relaxed),
        client,
        scheme: target.scheme,
        host: target.host.to_string(),
        // Only a wildcard route lets the agent choose (part of) the host.
        log_host: if route.spec.host.starts_with("*.") {
            for_log(shared, target.host.to_string().as_bytes())
        } else {
            target.host.to_string()
        },
        port: target.port,
        route_index: route.index,
        route_host: route.spec.host.clone(),
        on_match: route.on_match,
    }
}

/// How long the agent may pause in the middle of a request body.
pub const REQUEST_BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why [`buffer_body`] gave no body.
enum BufferError {
    /// Over [`MAX_REQUEST_BODY_BYTES`].
    TooLarge,
    /// No room in the buffered-bodies budget in time.
    NoRoom,
    /// Nothing came for the idle deadline.
    Stalled,
    /// The connection failed.
    Read(Box<dyn std::error::Error + Send + Sync>),
}

/// Bytes taken from the buffered-bodies budget at a time while a body of
/// unknown length arrives (fewer semaphore calls; at most this much is
/// reserved beyond what has come).
const BODY_BUDGET_STEP: usize = 256 * 1024;

/// The whole request body, at most [`MAX_REQUEST_BODY_BYTES`], each byte
/// counted in [`BUFFERED_BODIES_BUDGET_BYTES`] before it is kept
/// (`expected`, the `Content-Length`, is taken up front), with the share
/// it holds.
async fn buffer_body<B>(
    shared: &Shared,
    body: B,
    expected: Option<usize>,
) -> Result<(Bytes, Option<tokio::sync::OwnedSemaphorePermit>), BufferError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let take = |bytes: usize| reserve_within(&shared.body_budget, bytes, shared.budget_wait);
    let mut share: Option<tokio::sync::OwnedSemaphorePermit> = None;
    let mut reserved = 0;
    let expected = expected.filter(|length| *length <= MAX_REQUEST_BODY_BYTES);
    if let Some(length) = expected.filter(|length| *length > 0) {
        share = Some(take(length).await.ok_or(BufferError::NoRoom)?);
        reserved = length;
    }
    let mut buffer = bytes::BytesMut::with_capacity(expected.unwrap_or(0));
    let mut body = std::pin::pin!(body);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            let error = error.into();
            if error.is::<IdleTimeout>() {
                BufferError::Stalled
            } else {
                BufferError::Read(error)
            }
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let total = buffer.len() + data.len();
        if total > MAX_REQUEST_BODY_BYTES {
            return Err(BufferError::TooLarge);
        }
        if total > reserved {
            let more = (total - reserved)
                .max(BODY_BUDGET_STEP)
                .min(MAX_REQUEST_BODY_BYTES - reserved);
            let permit = take(more).await.ok_or(BufferError::NoRoom)?;
            match &mut share {
                Some(share) => share.merge(permit),
                None => share = Some(permit),
            }
            reserved += more;
        }
        buffer.extend_from_slice(&data);
    }
    Ok((buffer.freeze(), share))
}

/// Turn a hold into a go/no-go.
async fn settle_hold(
    shared: &Shared,
    context: &RequestContext,
    hold: &Hold,
) -> Result<(), Response<ProxyBody>> {
    tracing::info!(
        decision = "hold",
        request_id = context.request_id,
        host = %context.log_host,
        detector = %hold.detector,
        location = %hold.location,
        "request held for the operator"
    );
    match shared.holds.resolve(context, hold).await {
        HoldOutcome::Approve => Ok(()),
        HoldOutcome::Reject(reason) => {
            tracing::warn!(decision = "deny", request_id = context.request_id, host = %context.log_host, %reason, "held request refused");
            Err(refusal(
                StatusCode::FORBIDDEN,
                "blocked",
                &format!("request to {} refused after review: {reason}", context.host),
            ))
        }
    }
}

fn blocked(context: &RequestContext, reason: &str) -> Response<ProxyBody> {
    tracing::warn!(decision = "block", request_id = context.request_id, host = %context.log_host, %reason, "request blocked by outbound inspection");
    refusal(
        StatusCode::FORBIDDEN,
        "blocked",
        &format!(
            "request to {} blocked by outbound inspection: {reason}",
            context.host
        ),
    )
}

async fn forward(
    shared: Arc<Shared>,
    client: SocketAddr,
    target: Target,
    mut request: Request<Incoming>,
) -> Response<ProxyBody> {
    // WebSocket: an HTTP/1.1 upgrade, or an HTTP/2 extended CONNECT
    // (RFC 8441), which goes upstream as an HTTP/1.1 upgrade.
    let protocol = (request.version() == Version::HTTP_2 && request.method() == Method::CONNECT)
        .then(|| request.extensions().get::<hyper::ext::Protocol>())
        .flatten();
    let extended_connect = protocol.is_some();
    if protocol.is_some_and(|protocol| !protocol.as_str().eq_ignore_ascii_case("websocket")) {
        return refusal(
            StatusCode::NOT_IMPLEMENTED,
            "denied",
            "the only extended CONNECT protocol the proxy relays is websocket",
        );
    }
    let client_upgrade = (extended_connect
        || (request.version() == Version::HTTP_11 && websocket::is_upgrade(request.headers())))
    .then(|| hyper::upgrade::on(&mut request));
    let agent_version = request.version();
    let (mut parts, incoming) = request.into_parts();
    if extended_connect {
        // Routed, inspected and sent upstream as the GET it stands for.
        parts.method = Method::GET;
    }
    if has_our_via(&parts.headers) {
        tracing::warn!(decision = "deny", %client, host = %for_log(&shared, target.host.to_string().as_bytes()), "proxy loop (Via names this proxy)");
        return refusal(
            StatusCode::LOOP_DETECTED,
            "denied",
            "proxy loop: this request already passed through the egress proxy",
        );
    }
    // HTTP/1.1 framing is hyper's; a transfer coding under `chunked`
    // (`gzip, chunked`) would reach the body still encoded, unseen by the
    // scan, and be forwarded without the header that says so.
    if let Some(coding) = coding_other_than(&parts.headers, header::TRANSFER_ENCODING, "chunked") {
        tracing::warn!(decision = "deny", %client, host = %for_log(&shared, target.host.to_string().as_bytes()), coding = %for_log(&shared, coding.as_bytes()).escape_default(), "unsupported transfer coding");
        return refusal(
            StatusCode::NOT_IMPLEMENTED,
            "denied",
            &format!(
                "transfer coding {:?} is not supported; the proxy forwards only what it can inspect (use Content-Encoding)",
                coding.escape_default().to_string()
            ),
        );
    }
    let declared_body = parts.headers.contains_key(header::CONTENT_LENGTH)
        || parts.headers.contains_key(header::TRANSFER_ENCODING);
    remove_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::HOST);
    // The proxy reads the whole body before sending; the upstream gets it
    // at once, so a 100-continue handshake has no purpose there.
    parts.headers.remove(header::EXPECT);

    let table = shared.routes.load_full();
    let mut path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_string(), |value| value.as_str().to_string());
    let host_text = target.host.to_string();
    let decide = |path_and_query: &str, headers: &HeaderMap, method: &Method| {
        let path = path_and_query.split('?').next().unwrap_or("/");
        table
            .decide(&RequestTarget {
                scheme: target.scheme,
                host: &target.host,
                port: target.port,
                method,
                path,
                headers,
            })
            .map(|route| route.index)
    };
    let log_denial = |reason: &dyn std::fmt::Display, path_and_query: &str| {
        tracing::warn!(
            decision = "deny",
            %client,
            scheme = target.scheme.as_str(),
            host = %for_log(&shared, host_text.as_bytes()),
            port = target.port,
            method = %for_log(&shared, parts.method.as_str().as_bytes()),
            path = %for_log(&shared, path_and_query.split('?').next().unwrap_or("/").as_bytes()),
            reason = %for_log(&shared, reason.to_string().as_bytes()),
            "egress request denied"
        );
    };
    let route_index = match decide(&path_and_query, &parts.headers, &parts.method) {
        Ok(index) => index,
        Err(denial) => {
            log_denial(&denial, &path_and_query);
            return denied(&host_text, &denial.to_string());
        }
    };
    let mut route = &table.routes()[route_index];
    if route.limits_methods()
        && path_and_query.split_once('?').is_some_and(|(_, query)| {
            query.split('&').any(|pair| {
                let name = pair.split('=').next().unwrap_or("");
                percent_encoding::percent_decode_str(name)
                    .decode_utf8_lossy()
                    .eq_ignore_ascii_case(METHOD_OVERRIDE_PARAMETER)
            })
        })
    {
        let reason = format!(
            "the route for {host_text} limits methods, and the query parameter {METHOD_OVERRIDE_PARAMETER} asks the upstream for another method"
        );
        log_denial(&reason, &path_and_query);
        return denied(&host_text, &reason);
    }
    let context = context(&shared, client, &target, route);

    // 1. The head, as the agent sent it (no credential yet).
    let head_verdict = match inspect_head_sized(
        &shared,
        &context,
        &parts.method,
        &path_and_query,
        &parts.headers,
    )
    .await
    {
        Ok(verdict) => verdict,
        Err(why) => return uninspected(&context, why, "cannot inspect the request head"),
    };
    match head_verdict {
        Verdict::Pass => {}
        Verdict::Block(reason) => return blocked(&context, &reason),
        Verdict::Hold(hold) => {
            if let Err(response) = settle_hold(&shared, &context, &hold).await {
                return response;
            }
        }
        Verdict::Redact(HeadRewrite {
            path_and_query: new_path,
            headers: new_headers,
        }) => {
            if let Some(new_path) = new_path {
                if PathAndQuery::from_str(&new_path).is_err() || !new_path.starts_with('/') {
                    return blocked(&context, "the redacted path is not a valid path");
                }
                path_and_query = new_path;
            }
            if let Some(mut new_headers) = new_headers {
                remove_hop_by_hop(&mut new_headers);
                new_headers.remove(header::HOST);
                parts.headers = new_headers;
            }
            // The rewritten request must still be allowed.
            match decide(&path_and_query, &parts.headers, &parts.method) {
                Ok(index) => route = &table.routes()[index],
                Err(denial) => {
                    log_denial(&denial, &path_and_query);
                    return denied(&host_text, &format!("after redaction, {denial}"));
                }
            }
        }
    }

    // 2. The body, buffered whole and decoded.
    if let Some(length) = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
        && length > MAX_REQUEST_BODY_BYTES as u64
    {
        return too_large(&context);
    }
    // A body that stops arriving does not hold its connection (and slot)
    // for good: each piece must come within REQUEST_BODY_IDLE_TIMEOUT.
    let incoming = StreamedBody::new(incoming, shared.request_body_idle_timeout);
    let expected = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    // Its share of the buffered-bodies budget is kept until this request is
    // answered (through any hold), then given back.
    let (mut body_bytes, _buffered) = match buffer_body(&shared, incoming, expected).await {
        Ok(buffered) => buffered,
        Err(BufferError::TooLarge) => return too_large(&context),
        Err(BufferError::NoRoom) => {
            tracing::warn!(decision = "deny", request_id = context.request_id, host = %context.log_host, "no room to buffer a request body in time");
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "error",
                "too many request bodies are buffered at once (being inspected or held for the operator); try again",
            );
        }
        Err(BufferError::Stalled) => {
            tracing::warn!(
                decision = "deny",
                request_id = context.request_id,
                "the request body stalled"
            );
            return refusal(
                StatusCode::REQUEST_TIMEOUT,
                "error",
                &format!(
                    "the request body stalled: nothing for {} s",
                    shared.request_body_idle_timeout.as_secs_f64()
                ),
            );
        }
        Err(BufferError::Read(error)) => {
            tracing::warn!(request_id = context.request_id, %error, "cannot read the request body");
            return refusal(
                StatusCode::BAD_REQUEST,
                "error",
                "cannot read the request body",
            );
        }
    };
    let encoded = body::is_encoded(&parts.headers);
    let mut reserved = None;
    let decoded = if encoded {
        // The whole budget while decoding (one decode at a time: what it
        // will take is not known before), then the decoded body's share,
        // carried into its inspection.
        let Some(permit) = reserve(&shared, INSPECTION_BUDGET_BYTES).await else {
            return no_inspection_room(&context);
        };
        let headers = parts.headers.clone();
        let raw = body_bytes.clone();
        match tokio::task::spawn_blocking(move || body::decode(&headers, &raw)).await {
            Ok(Ok(decoded)) => {
                reserved = Some(shrunk(permit, inspection_share(decoded.len())));
                decoded
            }
            Ok(Err(DecodeError::TooLarge)) => return too_large(&context),
            Ok(Err(error)) => {
                tracing::warn!(decision = "deny", request_id = context.request_id, host = %context.log_host, error = %for_log(&shared, error.to_string().as_bytes()), "undecodable request body");
                return refusal(
                    StatusCode::BAD_REQUEST,
                    "denied",
                    &format!(
                        "request body refused: {error}; the proxy forwards only what it can inspect"
                    ),
                );
            }
            Err(error) => {
                tracing::error!(%error, "body decoding task failed");
                return refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "error",
                    "cannot decode the request body",
                );
            }
        }
    } else {
        body_bytes.clone()
    };
    // Every `Content-Type` the agent sent is tried (an upstream may read
    // any of them); none is the form body of a request without one. A
    // linear pass over the decoded body (up to 64 MiB): from
    // BLOCKING_SCAN_BYTES on the blocking pool, under the share of the
    // inspection budget its inspection takes next (audit round 8).
    if route.limits_methods() {
        let content_types: Vec<HeaderValue> = parts
            .headers
            .get_all(header::CONTENT_TYPE)
            .iter()
            .cloned()
            .collect();
        let overrides = if decoded.len() < BLOCKING_SCAN_BYTES {
            body_names_method(&content_types, &decoded)
        } else {
            if reserved.is_none() {
                let Some(permit) = reserve(&shared, inspection_share(decoded.len())).await else {
                    return no_inspection_room(&context);
                };
                reserved = Some(permit);
            }
            let body = decoded.clone();
            match within_budget(
                &shared,
                &context,
                inspection_share(decoded.len()),
                reserved.as_ref(),
                "method override check",
                move || body_names_method(&content_types, &body),
            )
            .await
            {
                Ok(overrides) => overrides,
                Err(why) => return uninspectable_body(&context, why),
            }
        };
        if overrides {
            let reason = format!(
                "the route for {host_text} limits methods, and the request body's field {METHOD_OVERRIDE_PARAMETER} asks the upstream for another method"
            );
            log_denial(&reason, &path_and_query);
            return denied(&host_text, &reason);
        }
    }
    // Only when the line is logged (its fields were read lazily before).
    if table.log() == EgressLog::Full && tracing::enabled!(tracing::Level::INFO) {
        // The head may be about 400 KiB (hyper's buffer): scrubbed, as it
        // is inspected, on the blocking pool from BLOCKING_SCAN_BYTES.
        let excerpt = decoded.slice(..decoded.len().min(FULL_LOG_REQUEST_SCRUB_BYTES));
        let size = head_size(&path_and_query, &parts.headers)
            .saturating_add(parts.method.as_str().len())
            .saturating_add(excerpt.len());
        let line = if size < BLOCKING_SCAN_BYTES {
            full_log_line(
                &shared,
                &parts.method,
                &path_and_query,
                &parts.headers,
                &excerpt,
            )
        } else {
            let (line_shared, method, path, headers) = (
                Arc::clone(&shared),
                parts.method.clone(),
                path_and_query.clone(),
                parts.headers.clone(),
            );
            match within_budget(
                &shared,
                &context,
                inspection_share(size),
                reserved.as_ref(),
                "log scrub",
                move || full_log_line(&line_shared, &method, &path, &headers, &excerpt),
            )
            .await
            {
                Ok(line) => line,
                Err(why) => {
                    return uninspected(&context, why, "cannot write the request's log line");
                }
            }
        };
        log_full(&context, &line, decoded.len());
    }
    let verdict = match inspect_sized(
        &shared,
        &context,
        &decoded,
        |inspector, context, body| inspector.inspect_body(context, body),
        reserved,
    )
    .await
    {
        Ok(verdict) => verdict,
        Err(why) => return uninspectable_body(&context, why),
    };
    // Inspected: what the operator may be asked about is the request as
    // sent, so the decoded copy (and its share of the budget) goes now,
    // not after a hold of up to minutes.
    drop(decoded);
    let mut redacted = false;
    match verdict {
        Verdict::Pass => {}
        Verdict::Block(reason) => return blocked(&context, &reason),
        Verdict::Hold(hold) => {
            if let Err(response) = settle_hold(&shared, &context, &hold).await {
                return response;
            }
        }
        Verdict::Redact(rewritten) => {
            body_bytes = rewritten;
            parts.headers.remove(header::CONTENT_ENCODING);
            redacted = true;
        }
    }
    if encoded && !redacted {
        // Forwarded as sent: what rides in the container outside the
        // compressed stream is scanned too. (A redacted body goes decoded.)
        let verdict = match inspect_sized(
            &shared,
            &context,
            &body_bytes,
            |inspector, context, raw| inspector.inspect_encoded_body(context, raw),
            None,
        )
        .await
        {
            Ok(verdict) => verdict,
            Err(why) => return uninspectable_body(&context, why),
        };
        match verdict {
            Verdict::Pass => {}
            Verdict::Block(reason) => return blocked(&context, &reason),
            Verdict::Redact(_) => {
                return blocked(&context, "a finding in the encoded body cannot be redacted");
            }
            Verdict::Hold(hold) => {
                if let Err(response) = settle_hold(&shared, &context, &hold).await {
                    return response;
                }
            }
        }
    }

    // 3. The credential: the agent's value for that header never leaves.
    let mut mask = None;
    if let Some(credential) = &route.credential {
        if target.scheme == Scheme::Http {
            tracing::warn!(decision = "deny", request_id = context.request_id, host = %context.log_host, "credential route over plain http");
            return refusal(
                StatusCode::FORBIDDEN,
                "denied",
                &format!(
                    "the route for {} injects a credential; the proxy sends it only over https://",
                    context.host
                ),
            );
        }
        let Some(value) = &credential.value else {
            tracing::error!(
                request_id = context.request_id,
                host = %context.log_host,
                token_env = %credential.token_env,
                "route needs a token the sidecar does not hold"
            );
            return refusal(
                StatusCode::FORBIDDEN,
                "denied",
                &format!(
                    "the route for {} needs {}, which the egress sidecar does not hold; ask the operator",
                    context.host, credential.token_env
                ),
            );
        };
        // Every spelling with `_` for `-` too: a CGI-style server reads
        // `X_Api_Key` as `X-Api-Key`, and the agent's instance could win
        // over the injected one (audit round 8).
        let spellings: Vec<HeaderName> = parts
            .headers
            .keys()
            .filter(|name| crate::routes::same_header_name(name, &credential.header))
            .cloned()
            .collect();
        for name in spellings {
            parts.headers.remove(name);
        }
        parts
            .headers
            .insert(credential.header.clone(), value.expose().clone());
        // The token itself (after the scheme, if any) is masked in the
        // response, should the upstream echo it; and the response is asked
        // for uncompressed, so that an echo is there to mask.
        let bytes = value.expose().as_bytes();
        let token = bytes
            .iter()
            .rposition(|byte| *byte == b' ')
            .map_or(bytes, |space| &bytes[space + 1..]);
        mask = Mask::new(token);
        if mask.is_none() && !token.is_empty() {
            // Never forward a credential whose echo could not be masked.
            tracing::error!(request_id = context.request_id, host = %context.log_host, "cannot build the response mask for the route's credential");
            return refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "error",
                "the proxy cannot prepare the masking of this route's credential",
            );
        }
        parts.headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        // A range of an echo could hand out the token piece by piece,
        // each too short to mask.
        parts.headers.remove(header::RANGE);
        parts.headers.remove(header::IF_RANGE);
    }

    // 4. Out, to the checked target only.
    let uri = match Uri::from_str(&format!(
        "{}://{}{}",
        target.scheme.as_str(),
        target.authority(),
        path_and_query
    )) {
        Ok(uri) => uri,
        Err(_) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "denied",
                "cannot build the upstream URL",
            );
        }
    };
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    parts.headers.remove(header::CONTENT_LENGTH);
    if declared_body || !body_bytes.is_empty() {
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body_bytes.len()));
    }
    parts.headers.append(
        header::VIA,
        HeaderValue::from_static("1.1 bot-bottle-egress"),
    );
    let websocket_key = if client_upgrade.is_some() {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts
            .headers
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        // No compression extension: the inspector must see plain payloads.
        parts.headers.remove(header::SEC_WEBSOCKET_EXTENSIONS);
        if extended_connect {
            // HTTP/2 has no key; the HTTP/1.1 upgrade upstream needs one.
            let key = websocket::generate_key();
            parts.headers.insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            match HeaderValue::from_str(&key) {
                Ok(value) => {
                    parts.headers.insert(header::SEC_WEBSOCKET_KEY, value);
                }
                Err(_) => {
                    return refusal(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "error",
                        "cannot build the WebSocket handshake",
                    );
                }
            }
            Some(key)
        } else {
            // The agent's own key: the upstream's accept must answer it
            // (RFC 6455 §4.1), or the 101 is not a WebSocket handshake.
            match parts
                .headers
                .get(header::SEC_WEBSOCKET_KEY)
                .and_then(|value| value.to_str().ok())
            {
                Some(key) if !key.trim().is_empty() => Some(key.trim().to_string()),
                _ => {
                    return refusal(
                        StatusCode::BAD_REQUEST,
                        "denied",
                        "a WebSocket upgrade needs a Sec-WebSocket-Key header",
                    );
                }
            }
        }
    } else {
        None
    };
    let log_level = table.log();
    // For the allow line (scrubbed there, only if it is logged).
    let method = parts.method.clone();
    let path_only = path_and_query.split('?').next().unwrap_or("/").to_string();
    let route_index = route.index;
    drop(table);

    let mut upstream = Request::from_parts(parts, Full::new(body_bytes));
    // The upstream protocol follows the agent's: HTTP/2 agents get an
    // HTTP/2 upstream when the upstream offers it, HTTP/1.1 agents and
    // WebSocket upgrades get HTTP/1.1.
    let upstream_client = if client_upgrade.is_some() || agent_version != Version::HTTP_2 {
        &shared.http1_client
    } else {
        &shared.client
    };
    // The upstream connection is marked in use, so it is never closed to
    // make room for another, until the response body (or WebSocket) is done.
    let capture = hyper_util::client::legacy::connect::capture_connection(&mut upstream);
    let (sent, in_use) = upstream::mark_in_use(
        capture,
        tokio::time::timeout(
            UPSTREAM_RESPONSE_HEAD_TIMEOUT,
            upstream_client.request(upstream),
        ),
    )
    .await;
    let mut response = match sent {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => return upstream_failure(&shared, &context, &error, mask.as_ref()),
        Err(_) => {
            tracing::warn!(request_id = context.request_id, host = %context.log_host, "upstream response timed out");
            return refusal(
                StatusCode::GATEWAY_TIMEOUT,
                "error",
                &format!("{} did not answer in time", context.host),
            );
        }
    };
    if log_level != EgressLog::Off {
        tracing::info!(
            decision = "allow",
            request_id = context.request_id,
            route = route_index,
            method = %for_log(&shared, method.as_str().as_bytes()),
            host = %context.log_host,
            port = context.port,
            path = %for_log(&shared, path_only.as_bytes()),
            status = response.status().as_u16(),
            "egress request"
        );
    }
    if let Some(client_upgrade) = client_upgrade
        && response.status() == StatusCode::SWITCHING_PROTOCOLS
    {
        if let Some(key) = &websocket_key
            && !websocket::accepts(response.headers(), key)
        {
            tracing::warn!(request_id = context.request_id, host = %context.log_host, "upstream's WebSocket accept key is wrong");
            return refusal(
                StatusCode::BAD_GATEWAY,
                "error",
                &format!("{} answered the WebSocket handshake wrongly", context.host),
            );
        }
        // The relay outlives this request: it holds a place of its own.
        let Ok(relaying) = Arc::clone(&shared.requests).try_acquire_owned() else {
            tracing::warn!(request_id = context.request_id, host = %context.log_host, "WebSocket refused: too many requests in flight");
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "error",
                "too many requests and WebSockets are in flight through the proxy; try again",
            );
        };
        let upstream_upgrade = hyper::upgrade::on(&mut response);
        if let Some(mask) = &mask {
            mask.mask_headers(response.headers_mut());
        }
        let relay = websocket::relay(
            shared.clone(),
            context,
            client_upgrade,
            upstream_upgrade,
            mask,
        );
        tokio::spawn(
            async move {
                let _relaying = relaying;
                let _in_use = in_use;
                relay.await;
            }
            .in_current_span(),
        );
        let mut switching = Response::new(
            Full::new(Bytes::new())
                .map_err(|never| match never {})
                .boxed(),
        );
        let mut headers = response.headers().clone();
        remove_hop_by_hop(&mut headers);
        headers.remove(header::SEC_WEBSOCKET_EXTENSIONS);
        if extended_connect {
            // HTTP/2: a 200 opens the stream; no upgrade headers, no accept key.
            *switching.status_mut() = StatusCode::OK;
            headers.remove(header::SEC_WEBSOCKET_ACCEPT);
        } else {
            *switching.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        }
        *switching.headers_mut() = headers;
        return switching;
    }
    if extended_connect && response.status().is_success() {
        // A 2xx to an HTTP/2 CONNECT would tell the agent the WebSocket is
        // open; the upstream did not switch protocols.
        return refusal(
            StatusCode::BAD_GATEWAY,
            "error",
            &format!("{} did not accept the WebSocket upgrade", context.host),
        );
    }
    let (mut response_parts, response_body) = response.into_parts();
    // Asked for identity; a compressed answer could carry the token where
    // the mask cannot see it: a content coding in any Content-Encoding
    // line, or a transfer coding under chunked (hyper's client removes
    // only the chunked framing, and Transfer-Encoding is hop-by-hop, so
    // the agent would get the body still encoded and no header saying so).
    let compressed = mask.as_ref().and_then(|_| {
        coding_other_than(
            &response_parts.headers,
            header::CONTENT_ENCODING,
            "identity",
        )
        .or_else(|| {
            coding_other_than(
                &response_parts.headers,
                header::TRANSFER_ENCODING,
                "chunked",
            )
        })
    });
    remove_hop_by_hop(&mut response_parts.headers);
    if let Some(mask) = &mask {
        mask.mask_headers(&mut response_parts.headers);
        // A reason phrase other than the status's own is passed on by
        // hyper as it came: an echo of the credential there is not a
        // header the mask sees, so the agent gets the standard one.
        response_parts
            .extensions
            .remove::<hyper::ext::ReasonPhrase>();
        if let Some(coding) = compressed {
            // The upstream's own words: they may echo the credential.
            let mut coding = coding.into_bytes();
            mask.mask_all(&mut coding);
            let coding = for_log(&shared, &coding);
            tracing::warn!(request_id = context.request_id, host = %context.log_host, coding, "compressed response on a credential route refused");
            return refusal(
                StatusCode::BAD_GATEWAY,
                "error",
                &format!(
                    "{} answered compressed ({coding}) although asked for identity; on a route that injects a credential the proxy forwards only answers it can check for that credential",
                    context.host
                ),
            );
        }
    }
    let request_id = context.request_id;
    let idle_host = context.log_host.clone();
    let mut body = StreamedBody::new(response_body, shared.upstream_idle_timeout)
        .from_upstream()
        .with_mask(mask)
        .on_idle(
        Box::new(move || {
            tracing::warn!(request_id, host = %idle_host, "the upstream went silent in the middle of the response body; the response was cut");
        }),
    );
    if log_level == EgressLog::Full {
        let status = response_parts.status;
        let headers = response_parts.headers.clone();
        let shared = Arc::clone(&shared);
        let host = context.log_host;
        body = body.with_excerpt(
            FULL_LOG_BODY_CHARS + FULL_LOG_SCRUB_MARGIN,
            Box::new(move |kept, total| {
                log_full_response(&shared, request_id, &host, status, &headers, kept, total);
            }),
        );
    }
    let body = OnConnection {
        inner: body.boxed(),
        _in_use: in_use,
    };
    Response::from_parts(response_parts, body.boxed())
}

/// A response body that keeps its upstream connection marked in use
/// ([`InUse`]) until it is done.
struct OnConnection {
    inner: ProxyBody,
    _in_use: Option<InUse>,
}

impl hyper::body::Body for OnConnection {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(context)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The first coding in any `name` header line that is not `allowed`
/// (case-insensitive; an empty list element, or a value that is not text,
/// counts as an unknown coding).
fn coding_other_than(
    headers: &HeaderMap,
    name: header::HeaderName,
    allowed: &str,
) -> Option<String> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .find(|coding| !coding.eq_ignore_ascii_case(allowed))
        .map(str::to_string)
}

/// Bodies (decoded or as sent), request heads and WebSocket messages at
/// least this large are inspected on a blocking thread rather than on a
/// runtime worker (the DLP scan takes about 3.5 ms per MiB); so are a
/// body's `_method` check and a `log: full` line's scrub of this size.
pub const BLOCKING_SCAN_BYTES: usize = 256 * 1024;

/// The answer when a request's part could not be inspected: no room in
/// time, or the thread failed (logged where it failed; the agent is told
/// `failed`).
fn uninspected(
    context: &RequestContext,
    why: Uninspected,
    failed: &'static str,
) -> Response<ProxyBody> {
    match why {
        Uninspected::NoRoom => no_inspection_room(context),
        Uninspected::Failed => refusal(StatusCode::INTERNAL_SERVER_ERROR, "error", failed),
    }
}

/// [`uninspected`] for a body.
fn uninspectable_body(context: &RequestContext, why: Uninspected) -> Response<ProxyBody> {
    uninspected(context, why, "cannot inspect the request body")
}

/// One inspection of `data`: here when it is small, on a blocking thread
/// from [`BLOCKING_SCAN_BYTES`] (milliseconds of scanning), so the runtime
/// workers keep serving everyone else meanwhile — once its share of
/// [`INSPECTION_BUDGET_BYTES`] is free. An error when there was no room in
/// time or that thread failed (the caller refuses).
pub(crate) async fn inspect_sized(
    shared: &Shared,
    context: &RequestContext,
    data: &Bytes,
    inspect: fn(&dyn Inspector, &RequestContext, &[u8]) -> Verdict<Bytes>,
    reserved: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Result<Verdict<Bytes>, Uninspected> {
    if data.len() < BLOCKING_SCAN_BYTES {
        return Ok(inspect(shared.inspector.as_ref(), context, data));
    }
    let permit = match reserved {
        Some(permit) => permit,
        None => match reserve(shared, inspection_share(data.len())).await {
            Some(permit) => permit,
            None => return Err(Uninspected::NoRoom),
        },
    };
    let (inspector, scan_context, data) =
        (Arc::clone(&shared.inspector), context.clone(), data.clone());
    let verdict =
        tokio::task::spawn_blocking(move || inspect(inspector.as_ref(), &scan_context, &data))
            .await;
    drop(permit);
    verdict.map_err(|error| {
        tracing::error!(request_id = context.request_id, %error, "inspection task failed");
        Uninspected::Failed
    })
}

/// The bytes the inspector reads of a head: the path and query, and every
/// header's name and value.
fn head_size(path_and_query: &str, headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .fold(path_and_query.len(), usize::saturating_add)
}

/// The head's inspection: here when it is small, on a blocking thread from
/// [`BLOCKING_SCAN_BYTES`] once its share of [`INSPECTION_BUDGET_BYTES`]
/// is free, as a body's ([`inspect_sized`]). An HTTP/1.1 head may be about
/// 400 KiB (hyper's buffer), which the DLP scan takes milliseconds over:
/// before (audit round 8), every head was inspected on a runtime worker,
/// and a few large ones at once held every worker while other requests
/// waited.
async fn inspect_head_sized(
    shared: &Shared,
    context: &RequestContext,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
) -> Result<Verdict<HeadRewrite>, Uninspected> {
    let size = head_size(path_and_query, headers);
    if size < BLOCKING_SCAN_BYTES {
        return Ok(shared.inspector.inspect_head(
            context,
            &RequestHead {
                method,
                path_and_query,
                headers,
            },
        ));
    }
    let Some(permit) = reserve(shared, inspection_share(size)).await else {
        return Err(Uninspected::NoRoom);
    };
    let (inspector, scan_context) = (Arc::clone(&shared.inspector), context.clone());
    let (method, path_and_query, headers) =
        (method.clone(), path_and_query.to_string(), headers.clone());
    let verdict = tokio::task::spawn_blocking(move || {
        inspector.inspect_head(
            &scan_context,
            &RequestHead {
                method: &method,
                path_and_query: &path_and_query,
                headers: &headers,
            },
        )
    })
    .await;
    drop(permit);
    verdict.map_err(|error| {
        tracing::error!(request_id = context.request_id, %error, "head inspection task failed");
        Uninspected::Failed
    })
}

/// Whether the body names `_method` for an upstream that reads any of the
/// request's `Content-Type`s (none: a form body).
fn body_names_method(content_types: &[HeaderValue], body: &[u8]) -> bool {
    if content_types.is_empty() {
        return crate::routes::body_overrides_method(None, body);
    }
    content_types.iter().any(|content_type| {
        crate::routes::body_overrides_method(Some(content_type.as_bytes()), body)
    })
}

/// Run `work` (a pass over request data of [`BLOCKING_SCAN_BYTES`] or more)
/// on a blocking thread, so that the runtime workers keep serving everyone
/// else meanwhile, holding `share` of [`INSPECTION_BUDGET_BYTES`] while it
/// runs: the request's own `held` share when it has one (a step of the
/// same request, not running meanwhile), topped up by what it lacks, else
/// a share of its own; what is taken here is given back when `work` is
/// done. An error when there was no room in time or the thread failed
/// (`what` names the work in the log).
async fn within_budget<T: Send + 'static>(
    shared: &Shared,
    context: &RequestContext,
    share: usize,
    held: Option<&tokio::sync::OwnedSemaphorePermit>,
    what: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Uninspected> {
    let share = share.min(INSPECTION_BUDGET_BYTES);
    let lacking = share.saturating_sub(held.map_or(0, |permit| permit.num_permits()));
    let permit = if lacking > 0 {
        match reserve(shared, lacking).await {
            Some(permit) => Some(permit),
            None => return Err(Uninspected::NoRoom),
        }
    } else {
        None
    };
    let done = tokio::task::spawn_blocking(work).await;
    drop(permit);
    done.map_err(|error| {
        tracing::error!(request_id = context.request_id, %error, task = what, "blocking task failed");
        Uninspected::Failed
    })
}

/// A large body's (or message's) share of [`INSPECTION_BUDGET_BYTES`],
/// per byte: itself and up to 16 times it in the DLP engine's decoded
/// layers (`bot_bottle_dlp`'s decode budget factor).
pub const INSPECTION_SHARE_FACTOR: usize = 17;

/// The share of the budget inspecting `len` bytes takes (at most all of it).
fn inspection_share(len: usize) -> usize {
    len.saturating_mul(INSPECTION_SHARE_FACTOR)
        .min(INSPECTION_BUDGET_BYTES)
}

/// `permit` given back down to `keep` bytes.
fn shrunk(
    mut permit: tokio::sync::OwnedSemaphorePermit,
    keep: usize,
) -> tokio::sync::OwnedSemaphorePermit {
    let excess = permit.num_permits().saturating_sub(keep);
    if excess > 0 {
        drop(permit.split(excess));
    }
    permit
}

/// Why [`inspect_sized`] gave no verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Uninspected {
    /// No room in the inspection budget in time.
    NoRoom,
    /// The inspection's thread failed.
    Failed,
}

/// The most of a body one `log: full` line shows.
pub const FULL_LOG_BODY_CHARS: usize = 4096;

/// Bytes of a response body kept past [`FULL_LOG_BODY_CHARS`] for the log
/// line's scrub only: cut first, a held token or finding straddling the
/// cut would be shown in part, unrecognised. Scrubbed first, the cut falls
/// in text already scrubbed (for a secret shorter than this).
pub const FULL_LOG_SCRUB_MARGIN: usize = 4096;

/// Replace every held token in `text` with the mask.
fn scrub(secrets: &[bot_bottle_secret::Redacted<String>], text: &str) -> String {
    let mut scrubbed = text.to_string();
    for secret in secrets {
        if !secret.expose().is_empty() {
            scrubbed = scrubbed.replace(secret.expose().as_str(), bot_bottle_secret::MASK);
        }
    }
    scrubbed
}

/// `text` as `log: full` shows it: what the inspector would find (token-
/// shaped values the proxy does not hold) masked, then every held token.
pub(crate) fn for_log(shared: &Shared, text: &[u8]) -> String {
    scrub(
        &shared.secrets,
        &String::from_utf8_lossy(&shared.inspector.scrub_for_log(text)),
    )
}

/// Headers as `name: value` lines, scrubbed by [`for_log`].
fn headers_for_log(shared: &Shared, headers: &HeaderMap) -> String {
    let rendered: Vec<String> = headers
        .iter()
        .map(|(name, value)| format!("{name}: {}", String::from_utf8_lossy(value.as_bytes())))
        .collect();
    for_log(shared, rendered.join("\n").as_bytes())
}

/// Bytes of a request body `log: full` scrubs: as many as
/// [`FULL_LOG_BODY_CHARS`] characters can take (four bytes each at most)
/// and [`FULL_LOG_SCRUB_MARGIN`] more, so that a token straddling the cut
/// is recognised whole. Before (audit round 8) the whole decoded body, up
/// to 64 MiB, was scrubbed and then cut: the DLP scan and its decoded
/// layers on a runtime worker, outside the inspection budget.
pub const FULL_LOG_REQUEST_SCRUB_BYTES: usize = 4 * FULL_LOG_BODY_CHARS + FULL_LOG_SCRUB_MARGIN;

/// A `log: full` request line, scrubbed ([`full_log_line`]).
struct FullLogLine {
    method: String,
    path: String,
    headers: String,
    body: String,
}

/// `log: full`: the agent's request line, headers and the (decoded) body's
/// first [`FULL_LOG_BODY_CHARS`] characters (`excerpt`: its first
/// [`FULL_LOG_REQUEST_SCRUB_BYTES`] bytes), with every DLP finding and
/// every held token removed. Taken before the credential is injected, so
/// the injected value is never among the headers. The scrub is the DLP
/// scan over all of it: the caller runs it on the blocking pool when that
/// is [`BLOCKING_SCAN_BYTES`] or more.
fn full_log_line(
    shared: &Shared,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    excerpt: &[u8],
) -> FullLogLine {
    FullLogLine {
        method: for_log(shared, method.as_str().as_bytes()),
        path: for_log(shared, path_and_query.as_bytes()),
        headers: headers_for_log(shared, headers),
        body: for_log(shared, excerpt)
            .chars()
            .take(FULL_LOG_BODY_CHARS)
            .collect(),
    }
}

/// Log a request's `log: full` line, already scrubbed; `body_bytes` is the
/// (decoded) body's whole size.
fn log_full(context: &RequestContext, line: &FullLogLine, body_bytes: usize) {
    tracing::info!(
        request_id = context.request_id,
        host = %context.log_host,
        method = %line.method,
        path = %line.path,
        headers = %line.headers,
        body_bytes,
        body = %line.body,
        "egress request detail"
    );
}

/// `log: full`: the response's status, headers and the first
/// [`FULL_LOG_BODY_CHARS`] bytes of its body, scrubbed as the request is;
/// logged when the body ends (or is dropped), with its full size.
fn log_full_response(
    shared: &Shared,
    request_id: u64,
    host: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    body_bytes: u64,
) {
    let shown: String = for_log(shared, body)
        .chars()
        .take(FULL_LOG_BODY_CHARS)
        .collect();
    tracing::info!(
        request_id,
        host = %host,
        status = status.as_u16(),
        headers = %headers_for_log(shared, headers),
        body_bytes,
        body = %shown,
        "egress response detail"
    );
}

fn too_large(context: &RequestContext) -> Response<ProxyBody> {
    tracing::warn!(decision = "deny", request_id = context.request_id, host = %context.log_host, "request body over the limit");
    refusal(
        StatusCode::PAYLOAD_TOO_LARGE,
        "denied",
        &format!(
            "request body refused: larger than the {} MiB the proxy can inspect",
            MAX_REQUEST_BODY_BYTES / (1024 * 1024)
        ),
    )
}

/// Map an upstream failure to what the agent sees. Its text is the
/// upstream's in part — an HTTP/2 GOAWAY's debug data is any bytes the
/// upstream chose, an echo of the request's `Authorization` among them —
/// so it is told by [`upstream_error_text`] (no debug data), masked with
/// the route's `mask` for the agent, and scrubbed of held tokens and
/// findings for the log.
fn upstream_failure(
    shared: &Shared,
    context: &RequestContext,
    error: &hyper_util::client::legacy::Error,
    mask: Option<&Mask>,
) -> Response<ProxyBody> {
    let told = |error: &(dyn std::error::Error + 'static)| {
        let text = upstream_error_text(error);
        let text = match mask {
            Some(mask) => mask.masked_text(&text),
            None => text,
        };
        let logged = for_log(shared, context.for_log(&text).as_bytes());
        (text, logged)
    };
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(connect) = current.downcast_ref::<ConnectError>() {
            let (status, kind) = match connect {
                ConnectError::ForbiddenAddress { .. } | ConnectError::Loop { .. } => {
                    (StatusCode::FORBIDDEN, "denied")
                }
                ConnectError::ConnectTimeout { .. } | ConnectError::TlsTimeout { .. } => {
                    (StatusCode::GATEWAY_TIMEOUT, "error")
                }
                ConnectError::TooManyConnections { .. } => {
                    (StatusCode::SERVICE_UNAVAILABLE, "error")
                }
                _ => (StatusCode::BAD_GATEWAY, "error"),
            };
            let (detail, logged) = told(connect);
            tracing::warn!(
                decision = if kind == "denied" { "deny" } else { "error" },
                request_id = context.request_id,
                host = %context.log_host,
                error = %logged,
                "upstream connection refused or failed"
            );
            return refusal(status, kind, &detail);
        }
        source = current.source();
    }
    let (detail, logged) = told(error);
    tracing::warn!(request_id = context.request_id, host = %context.log_host, error = %logged, "upstream request failed");
    refusal(
        StatusCode::BAD_GATEWAY,
        "error",
        &format!("upstream {} failed: {detail}", context.host),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "connection",
            HeaderValue::from_static("close, x-secret-hop"),
        );
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(
            "proxy-authorization",
            HeaderValue::from_static("Basic eA=="),
        );
        headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        headers.insert("x-kept", HeaderValue::from_static("yes"));
        remove_hop_by_hop(&mut headers);
        let names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["x-kept"]);
    }

    #[test]
    fn targets_parse_from_authorities() {
        let target = Target::from_authority(Scheme::Https, "API.Example.com:443").unwrap();
        assert_eq!(target.host, Host::Name("api.example.com".into()));
        assert_eq!(target.port, 443);
        assert_eq!(target.authority(), "api.example.com");
        let default_port = Target::from_authority(Scheme::Https, "api.example.com").unwrap();
        assert_eq!(default_port, target);
        assert!(Target::from_authority(Scheme::Https, "user@api.example.com").is_none());
        assert!(Target::from_authority(Scheme::Https, "api.example.com:0").is_none());
        assert_eq!(
            Target::from_authority(Scheme::Http, "[::1]:8080")
                .unwrap()
                .authority(),
            "[::1]:8080"
        );
    }

    #[test]
    fn a_denial_names_the_host_and_how_to_ask() {
        let response = denied("evil.example", "no route allows host evil.example");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.headers()[EGRESS_HEADER], "denied");
    }
}
