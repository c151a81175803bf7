//! The seam where outbound DLP and the approval queue plug into the proxy.
//!
//! The proxy decides *whether a request may go to a host* (routes); an
//! [`Inspector`] decides *whether what it carries may leave* (DLP). The proxy
//! calls it twice per allowed request, before a single byte is sent
//! upstream:
//!
//! 1. [`Inspector::inspect_head`] with the request line and the agent's
//!    headers — before the credential is injected, so the held token is never
//!    shown to the inspector as if the agent had sent it;
//! 2. [`Inspector::inspect_body`] with the whole request body, buffered and
//!    with its `Content-Encoding` removed;
//! 3. for a WebSocket upgrade, [`Inspector::inspect_frame`] with every text
//!    or binary message the agent sends, before it is relayed.
//!
//! Each returns a [`Verdict`]:
//!
//! - `Pass`: go on.
//! - `Redact(rewrite)`: go on with the rewritten head or body. A rewritten
//!   path is matched against the routes again (it must still be allowed); a
//!   rewritten body is sent without `Content-Encoding`.
//! - `Block(reason)`: refuse with 403; the reason is shown to the agent.
//! - `Hold(hold)`: ask the operator. The proxy awaits
//!   [`HoldResolver::resolve`] (other requests keep flowing meanwhile) and
//!   forwards the request unchanged on [`HoldOutcome::Approve`], refuses it
//!   otherwise.
//!
//! The inspector knows the route's policy (`RequestContext::on_match`) and
//! picks the verdict from it; structural findings (CRLF, Unicode evasion)
//! should be `Block` under every policy. Remembering an approved value (for
//! the host it was approved for, `RequestContext::host`) is the
//! inspector's and resolver's business: share state between the two.
//!
//! [`ScriptedInspector`] and [`ScriptedHolds`] are test doubles that record
//! what they see and answer as told.
//!
//! [`PassInspector`] passes everything and [`RefuseHolds`] refuses every hold
//! (there is no queue): together they are the proxy's defaults.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use bot_bottle_manifest::model::OnMatch;
use bytes::Bytes;
use http::{HeaderMap, Method};

use crate::routes::Scheme;

/// What the inspector is told about a request.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Unique per request for the proxy's life (for logs and proposals).
    pub request_id: u64,
    /// The agent's address as the proxy saw it.
    pub client: SocketAddr,
    pub scheme: Scheme,
    /// Normalised host (lower case, no trailing dot; IPv6 in brackets).
    pub host: String,
    /// `host` as log lines show it: held tokens and findings masked (a host
    /// can carry one: a held request's host is forwarded once approved).
    pub log_host: String,
    pub port: u16,
    /// Index of the matched route in the routes file.
    pub route_index: usize,
    /// The matched route's `host` as written.
    pub route_host: String,
    /// The matched route's DLP policy (default filled in).
    pub on_match: OnMatch,
}

impl RequestContext {
    /// `text` (an error naming the host) with the host as log lines show
    /// it ([`RequestContext::log_host`]).
    pub fn for_log(&self, text: &str) -> String {
        if self.host == self.log_host {
            text.to_string()
        } else {
            text.replace(&self.host, &self.log_host)
        }
    }
}

/// The request line and headers, as the agent sent them (hop-by-hop headers
/// already removed; no injected credential).
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub method: &'a Method,
    /// Path and query exactly as sent (`/v1/x?y=z`).
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
}

/// A rewritten request head (`Verdict::Redact` from `inspect_head`).
#[derive(Debug, Clone, Default)]
pub struct HeadRewrite {
    /// New path and query, if it changes.
    pub path_and_query: Option<String>,
    /// New headers, if they change (the `Host` header is ignored: the proxy
    /// always sets it from the route's host).
    pub headers: Option<HeaderMap>,
}

/// What the operator is asked when a request is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The detector or rule that matched (`known-secret`, `aws-access-key`, …).
    pub detector: String,
    /// Where it matched (`body`, `header x-foo`, `path`, …).
    pub location: String,
    /// A redacted excerpt the operator may see (never the raw value).
    pub preview: String,
}

/// The inspector's answer.
#[derive(Debug, Clone)]
pub enum Verdict<Rewrite> {
    Pass,
    Redact(Rewrite),
    Block(String),
    Hold(Hold),
}

/// Outbound inspection (DLP). Called on the proxy's async tasks: keep it
/// CPU-bound and bounded (no I/O, no waiting).
pub trait Inspector: Send + Sync + 'static {
    /// Inspect the request line and headers.
    fn inspect_head(
        &self,
        context: &RequestContext,
        head: &RequestHead<'_>,
    ) -> Verdict<HeadRewrite>;
    /// Inspect the decoded request body (empty for a request without one).
    fn inspect_body(&self, context: &RequestContext, body: &[u8]) -> Verdict<Bytes>;
    /// Inspect a body that has a `Content-Encoding` as it was sent (it is
    /// forwarded so): what rides in the container outside the compressed
    /// stream — gzip header fields, zstd skippable frames, brotli metadata,
    /// bytes after the end of the stream — is not in the decoded body that
    /// [`Inspector::inspect_body`] sees. Nothing here can be redacted.
    fn inspect_encoded_body(&self, context: &RequestContext, raw: &[u8]) -> Verdict<Bytes> {
        let _ = (context, raw);
        Verdict::Pass
    }
    /// Inspect one WebSocket message from the agent (text or binary
    /// payload, reassembled from its frames). `Redact` replaces the payload.
    fn inspect_frame(&self, context: &RequestContext, payload: &[u8]) -> Verdict<Bytes>;
    /// `text` for a `log: full` line, with everything the inspector would
    /// find in it removed (held tokens are scrubbed by the proxy anyway).
    fn scrub_for_log(&self, text: &[u8]) -> Vec<u8> {
        text.to_vec()
    }
    /// The routes file was reloaded and `table` is in force (its
    /// `dlp.outbound_detectors` may have changed).
    fn routes_reloaded(&self, table: &crate::routes::RouteTable) {
        let _ = table;
    }
}

/// The operator's answer to a hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldOutcome {
    Approve,
    /// Refused; the reason is shown to the agent.
    Reject(String),
}

/// A boxed future, so that [`HoldResolver`] stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Resolves held requests (files a proposal and waits for the operator).
/// The future must finish on its own (apply the timeout inside and answer
/// `Reject` when it passes).
pub trait HoldResolver: Send + Sync + 'static {
    fn resolve<'a>(
        &'a self,
        context: &'a RequestContext,
        hold: &'a Hold,
    ) -> BoxFuture<'a, HoldOutcome>;
}

/// Passes every request (no DLP).
#[derive(Debug, Clone, Copy, Default)]
pub struct PassInspector;

impl Inspector for PassInspector {
    fn inspect_head(&self, _: &RequestContext, _: &RequestHead<'_>) -> Verdict<HeadRewrite> {
        Verdict::Pass
    }
    fn inspect_body(&self, _: &RequestContext, _: &[u8]) -> Verdict<Bytes> {
        Verdict::Pass
    }
    fn inspect_frame(&self, _: &RequestContext, _: &[u8]) -> Verdict<Bytes> {
        Verdict::Pass
    }
}

/// Refuses every hold: what happens when the bottle has no queue.
#[derive(Debug, Clone, Copy, Default)]
pub struct RefuseHolds;

/// The reason [`RefuseHolds`] gives.
pub const NO_QUEUE_REASON: &str = "held for the operator, but this proxy has no approval queue";

impl HoldResolver for RefuseHolds {
    fn resolve<'a>(&'a self, _: &'a RequestContext, _: &'a Hold) -> BoxFuture<'a, HoldOutcome> {
        Box::pin(async { HoldOutcome::Reject(NO_QUEUE_REASON.to_string()) })
    }
}

/// A scripted [`Inspector`] for tests: records everything it is shown and
/// answers with the verdicts it was given (`Pass` when none).
#[derive(Debug, Default)]
pub struct ScriptedInspector {
    head_verdict: std::sync::Mutex<Option<Verdict<HeadRewrite>>>,
    body_verdict: std::sync::Mutex<Option<Verdict<Bytes>>>,
    /// Each head seen: context, `METHOD path?query`, headers.
    pub heads: std::sync::Mutex<Vec<(RequestContext, String, HeaderMap)>>,
    /// Each decoded body seen.
    pub bodies: std::sync::Mutex<Vec<(RequestContext, Bytes)>>,
    frame_verdict: std::sync::Mutex<Option<Verdict<Bytes>>>,
    /// Each WebSocket message payload seen.
    pub frames: std::sync::Mutex<Vec<(RequestContext, Bytes)>>,
}

impl ScriptedInspector {
    /// Answer every head with `verdict`.
    #[must_use]
    pub fn with_head(self, verdict: Verdict<HeadRewrite>) -> Self {
        if let Ok(mut slot) = self.head_verdict.lock() {
            *slot = Some(verdict);
        }
        self
    }

    /// Answer every body with `verdict`.
    #[must_use]
    pub fn with_body(self, verdict: Verdict<Bytes>) -> Self {
        if let Ok(mut slot) = self.body_verdict.lock() {
            *slot = Some(verdict);
        }
        self
    }
}

impl ScriptedInspector {
    /// Answer every WebSocket message with `verdict`.
    #[must_use]
    pub fn with_frame(self, verdict: Verdict<Bytes>) -> Self {
        if let Ok(mut slot) = self.frame_verdict.lock() {
            *slot = Some(verdict);
        }
        self
    }
}

impl Inspector for ScriptedInspector {
    fn inspect_frame(&self, context: &RequestContext, payload: &[u8]) -> Verdict<Bytes> {
        if let Ok(mut frames) = self.frames.lock() {
            frames.push((context.clone(), Bytes::copy_from_slice(payload)));
        }
        self.frame_verdict
            .lock()
            .ok()
            .and_then(|verdict| verdict.clone())
            .unwrap_or(Verdict::Pass)
    }

    fn inspect_head(
        &self,
        context: &RequestContext,
        head: &RequestHead<'_>,
    ) -> Verdict<HeadRewrite> {
        if let Ok(mut heads) = self.heads.lock() {
            heads.push((
                context.clone(),
                format!("{} {}", head.method, head.path_and_query),
                head.headers.clone(),
            ));
        }
        self.head_verdict
            .lock()
            .ok()
            .and_then(|verdict| verdict.clone())
            .unwrap_or(Verdict::Pass)
    }

    fn inspect_body(&self, context: &RequestContext, body: &[u8]) -> Verdict<Bytes> {
        if let Ok(mut bodies) = self.bodies.lock() {
            bodies.push((context.clone(), Bytes::copy_from_slice(body)));
        }
        self.body_verdict
            .lock()
            .ok()
            .and_then(|verdict| verdict.clone())
            .unwrap_or(Verdict::Pass)
    }
}

/// A scripted [`HoldResolver`] for tests: records each hold and answers
/// with a fixed outcome.
#[derive(Debug)]
pub struct ScriptedHolds {
    outcome: HoldOutcome,
    /// Each hold seen, with its context.
    pub holds: std::sync::Mutex<Vec<(RequestContext, Hold)>>,
}

impl ScriptedHolds {
    /// Answer every hold with `outcome`.
    pub fn answering(outcome: HoldOutcome) -> Self {
        Self {
            outcome,
            holds: std::sync::Mutex::new(Vec::new()),
        }
    }
}

impl HoldResolver for ScriptedHolds {
    fn resolve<'a>(
        &'a self,
        context: &'a RequestContext,
        hold: &'a Hold,
    ) -> BoxFuture<'a, HoldOutcome> {
        if let Ok(mut holds) = self.holds.lock() {
            holds.push((context.clone(), hold.clone()));
        }
        let outcome = self.outcome.clone();
        Box::pin(async move { outcome })
    }
}
