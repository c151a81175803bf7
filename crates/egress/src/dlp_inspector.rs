//! [`DlpInspector`]: the outbound DLP engine (`bot_bottle_dlp::Scanner`)
//! behind the proxy's [`Inspector`] seam.
//!
//! Every allowed request is scanned before a byte goes upstream: the request
//! line and header values with `scan_request_head` (CR/LF injection is
//! looked for there only — a body may carry CR/LF freely), the raw bytes of
//! every header value that is not UTF-8 with the body's scan too (the head
//! scan takes text, where obs-text bytes 0x80-0xFF — EBCDIC, say — would
//! be only U+FFFD), the hostname, the decoded body, and each WebSocket
//! message the agent sends. What a finding leads to is the route's policy
//! (`on_match`):
//!
//! | finding | `redact` | `block` | `supervise` |
//! |---|---|---|---|
//! | CR/LF injection, Unicode evasion | 403 | 403 | 403 |
//! | held secret / credential shape | scrub, re-scan, forward if clean, else 403 | 403 | hold for the operator |
//! | in the hostname | 403 (cannot be rewritten) | 403 | hold |
//! | entropy (warn-only) | logged | logged | logged |
//!
//! Redaction rewrites only the header values it changes; the others go as
//! sent, byte for byte. A value that is not UTF-8 is redacted on its raw
//! bytes; one that cannot be redacted faithfully refuses the request.
//!
//! Values the operator approves are remembered for the host and port the
//! held request went to (what the proposal names), under its `supervise`
//! routes only: the [`DlpState`] shared with the hold resolver
//! ([`crate::queue_holds`]) keeps a scanner per approved host that treats
//! them as safe, at most [`MAX_APPROVED_HOSTS`] hosts and
//! [`MAX_APPROVED_VALUES_PER_HOST`] values each, the oldest dropped first.
//! Another host, the same host on another port, or a `block` or `redact`
//! route, gets the base scanner.
//! Nothing here ever logs or returns a raw value: reasons and proposals
//! carry the finding's masked preview.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use bot_bottle_dlp::{Detector, Finding, Findings, Location, Scanner, Severity};
use bot_bottle_manifest::model::OnMatch;
use bot_bottle_secret::Redacted;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use lru::LruCache;

use crate::inspect::{HeadRewrite, Hold, Inspector, RequestContext, RequestHead, Verdict};

/// Requests whose method and path are remembered between the head and the
/// body inspection (a body hold files a proposal naming them). Older entries
/// are dropped; a hold without its head falls back to what the hold says.
pub const REMEMBERED_HEADS: usize = 4096;

/// Holds whose details wait for the resolver to pick them up.
pub const REMEMBERED_HOLDS: usize = 1024;

/// Bytes of text kept on each side of a finding in a proposal's context.
pub const CONTEXT_BYTES: usize = 40;

/// The canary's variable. The canary in outbound traffic means
/// exfiltration, never a false positive, so a finding on it is refused
/// under `supervise` too: it is never put to the operator, and so never
/// remembered as safe.
pub const CANARY_VARIABLE: &str = "EGRESS_TOKEN_CANARY";

/// The most distinct findings a hold lists; a request with more is refused
/// (the operator approves exactly what the proposal shows, and a list this
/// long is a mistake, not something to approve).
pub const MAX_FINDINGS_PER_HOLD: usize = 8;

/// What a hold resolver needs to file an `egress-token-allow` proposal and,
/// on approval, remember the value for the request's host. The values are
/// never shown.
#[derive(Debug, Clone)]
pub struct HoldDetail {
    /// The request method with every finding redacted.
    pub method: String,
    /// The request path and query with every finding redacted.
    pub path: String,
    pub detector: String,
    pub rule: String,
    /// The finding's masked preview.
    pub preview: String,
    /// Text around the finding, with findings redacted.
    pub context: String,
    /// The matched values, remembered as safe when the operator approves:
    /// exactly those of the findings the proposal lists (`rule`, `preview`
    /// name every one of them).
    pub values: Vec<Redacted<String>>,
}

/// Hosts (a host on another port counts as another) whose approved values
/// are remembered. Past it, the one approved longest ago is forgotten: a
/// value approved for it is held again.
pub const MAX_APPROVED_HOSTS: usize = 64;

/// Approved values remembered for one host. Past it, the value approved
/// longest ago for that host is forgotten (held again). A hold lists at
/// most [`MAX_FINDINGS_PER_HOLD`] values, so this is at least four holds'
/// worth.
pub const MAX_APPROVED_VALUES_PER_HOST: usize = 32;

/// State shared between [`DlpInspector`] and the hold resolver: the
/// scanners in force (swapped when a value is approved or the detectors
/// change) and the details of requests in flight.
pub struct DlpState {
    scanners: ArcSwap<Scanners>,
    /// Serialises scanner rebuilds so that two approvals do not lose one.
    rebuild: Mutex<()>,
    heads: Mutex<LruCache<u64, (String, String)>>,
    holds: Mutex<LruCache<u64, HoldDetail>>,
}

/// The scanners in force, swapped whole (read lock-free).
#[derive(Clone)]
struct Scanners {
    /// Every request's scanner but those an approval covers.
    base: Arc<Scanner>,
    /// The hosts with approved values, the one approved longest ago first;
    /// at most [`MAX_APPROVED_HOSTS`].
    approved: Vec<Approved>,
}

/// The values the operator approved for one host and port.
#[derive(Clone)]
struct Approved {
    /// The normalised host the held request went to.
    host: String,
    /// Its port: the same host on another port may be another service.
    port: u16,
    /// The one approved longest ago first; at most
    /// [`MAX_APPROVED_VALUES_PER_HOST`].
    values: Vec<Redacted<String>>,
    /// The base scanner that also treats `values` as safe.
    scanner: Arc<Scanner>,
}

impl std::fmt::Debug for DlpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scanners = self.scanners.load();
        f.debug_struct("DlpState")
            .field("scanner", &*scanners.base)
            .field("approved_hosts", &scanners.approved.len())
            .finish_non_exhaustive()
    }
}

impl DlpState {
    pub fn new(scanner: Scanner) -> Arc<Self> {
        let heads = NonZeroUsize::new(REMEMBERED_HEADS).unwrap_or(NonZeroUsize::MIN);
        let holds = NonZeroUsize::new(REMEMBERED_HOLDS).unwrap_or(NonZeroUsize::MIN);
        Arc::new(Self {
            scanners: ArcSwap::from_pointee(Scanners {
                base: Arc::new(scanner),
                approved: Vec::new(),
            }),
            rebuild: Mutex::new(()),
            heads: Mutex::new(LruCache::new(heads)),
            holds: Mutex::new(LruCache::new(holds)),
        })
    }

    /// The scanner in force for requests no approval covers (logs, a
    /// proposal's host).
    pub fn scanner(&self) -> Arc<Scanner> {
        Arc::clone(&self.scanners.load().base)
    }

    /// The scanner for a request to `host` on `port` under a route whose
    /// policy is `policy`: the one that treats the values approved for
    /// that host and port as safe when the route holds for the operator
    /// (`supervise`, what the operator answered), the base scanner
    /// otherwise. A `block` route refuses an approved value, a `redact`
    /// route scrubs it, and no other host or port ever gets it unasked.
    pub fn scanner_for(&self, host: &str, port: u16, policy: OnMatch) -> Arc<Scanner> {
        let scanners = self.scanners.load();
        if policy == OnMatch::Supervise
            && let Some(approved) = scanners
                .approved
                .iter()
                .find(|entry| entry.host == host && entry.port == port)
        {
            return Arc::clone(&approved.scanner);
        }
        Arc::clone(&scanners.base)
    }

    /// Treat `values` as safe from now on in requests to `host` on `port`
    /// under a `supervise` route (the operator approved a request there
    /// that carried them). At most [`MAX_APPROVED_VALUES_PER_HOST`] values
    /// are kept per host and port and [`MAX_APPROVED_HOSTS`] hosts and
    /// ports, the oldest approvals dropped first.
    pub fn approve(&self, host: &str, port: u16, values: Vec<Redacted<String>>) {
        if values.iter().all(|value| value.expose().is_empty()) {
            return;
        }
        let _guard = self
            .rebuild
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = self.scanners.load_full();
        let mut approved = current.approved.clone();
        let mut remembered = approved
            .iter()
            .position(|entry| entry.host == host && entry.port == port)
            .map(|index| approved.remove(index).values)
            .unwrap_or_default();
        for value in values {
            if value.expose().is_empty() {
                continue;
            }
            remembered.retain(|known| known.expose() != value.expose());
            remembered.push(value);
        }
        let excess = remembered
            .len()
            .saturating_sub(MAX_APPROVED_VALUES_PER_HOST);
        remembered.drain(..excess);
        let scanner = match current.base.with_extra_safe_values(remembered.clone()) {
            Ok(scanner) => Arc::new(scanner),
            Err(error) => {
                tracing::error!(%error, "cannot remember the approved value; it will be held again");
                return;
            }
        };
        approved.push(Approved {
            host: host.to_string(),
            port,
            values: remembered,
            scanner,
        });
        let excess = approved.len().saturating_sub(MAX_APPROVED_HOSTS);
        if excess > 0 {
            // Not the host: it may itself be a finding.
            tracing::info!(
                forgotten = excess,
                limit = MAX_APPROVED_HOSTS,
                "approved values forgotten for the host approved longest ago"
            );
            approved.drain(..excess);
        }
        self.scanners.store(Arc::new(Scanners {
            base: Arc::clone(&current.base),
            approved,
        }));
    }

    /// Run `detectors` from now on (the routes file changed them); the
    /// approved values are kept.
    pub fn set_detectors(&self, detectors: bot_bottle_dlp::DetectorSet) {
        let _guard = self
            .rebuild
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = self.scanners.load_full();
        if current.base.detectors() != detectors {
            tracing::info!(detectors = %detectors, "outbound DLP detectors changed");
            let approved = current
                .approved
                .iter()
                .map(|entry| Approved {
                    scanner: Arc::new(entry.scanner.with_detectors(detectors)),
                    ..entry.clone()
                })
                .collect();
            self.scanners.store(Arc::new(Scanners {
                base: Arc::new(current.base.with_detectors(detectors)),
                approved,
            }));
        }
    }

    /// The details of the hold on request `request_id` (taken: a second call
    /// returns `None`).
    pub fn take_hold(&self, request_id: u64) -> Option<HoldDetail> {
        self.holds.lock().ok()?.pop(&request_id)
    }

    fn remember_head(&self, request_id: u64, method: String, path: String) {
        if let Ok(mut heads) = self.heads.lock() {
            heads.put(request_id, (method, path));
        }
    }

    fn head(&self, request_id: u64) -> Option<(String, String)> {
        self.heads.lock().ok()?.get(&request_id).cloned()
    }

    fn remember_hold(&self, request_id: u64, detail: HoldDetail) {
        if let Ok(mut holds) = self.holds.lock() {
            holds.put(request_id, detail);
        }
    }
}

/// The DLP [`Inspector`]. Cheap to share; the scanner is read lock-free.
#[derive(Debug, Clone)]
pub struct DlpInspector {
    state: Arc<DlpState>,
}

impl DlpInspector {
    pub fn new(state: Arc<DlpState>) -> Self {
        Self { state }
    }
}

fn policy_name(policy: OnMatch) -> &'static str {
    match policy {
        OnMatch::Redact => "redact",
        OnMatch::Block => "block",
        OnMatch::Supervise => "supervise",
    }
}

/// A finding, as shown to the agent and the log (masked preview only).
fn describe(finding: &Finding, location: &str) -> String {
    format!(
        "{} finding ({}, {}, {}) in {location}",
        finding.detector, finding.rule, finding.encoding, finding.preview
    )
}

/// Whether `finding` is the canary (a held secret found under its name).
fn is_canary(finding: &Finding) -> bool {
    finding.detector == Detector::Known && finding.rule == CANARY_VARIABLE
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The text around `finding` in `text`, the finding replaced and the rest
/// scrubbed, control characters shown escaped.
fn context_around(scanner: &Scanner, text: &[u8], finding: &Finding) -> String {
    let end = finding.end.min(text.len());
    let start = finding.start.min(end);
    let before = &text[start.saturating_sub(CONTEXT_BYTES)..start];
    let after = &text[end..(end + CONTEXT_BYTES).min(text.len())];
    let mut joined = before.to_vec();
    joined.extend_from_slice(bot_bottle_dlp::REDACTION_MARK);
    joined.extend_from_slice(after);
    let scrubbed = scanner.redact(&joined).bytes;
    lossy(&scrubbed).escape_default().to_string()
}

/// One part of the request with what was found in it.
struct Scanned<'a> {
    /// Where, for messages (`body`, `request line`, `header x-foo`, `host`).
    location: String,
    text: &'a [u8],
    finding: Finding,
}

impl DlpInspector {
    /// Turn findings into a verdict under the route's policy. `redact` is
    /// called only under `redact` and returns `None` when the request
    /// cannot be made clean.
    fn verdict<R>(
        &self,
        context: &RequestContext,
        scanner: &Scanner,
        scanned: Vec<Scanned<'_>>,
        redact: impl FnOnce() -> Option<R>,
    ) -> Verdict<R> {
        let mut blocking = Vec::new();
        for item in scanned {
            if item.finding.severity == Severity::Warn {
                tracing::warn!(
                    request_id = context.request_id,
                    host = %lossy(&scanner.redact(context.host.as_bytes()).bytes),
                    finding = %describe(&item.finding, &item.location),
                    "outbound DLP warning (not blocking)"
                );
            } else {
                blocking.push(item);
            }
        }
        let Some(first) = blocking.first() else {
            return Verdict::Pass;
        };
        let policy = context.on_match;
        if let Some(structural) = blocking.iter().find(|item| !item.finding.redactable) {
            let reason = format!(
                "outbound DLP: {}; refused under every policy",
                describe(&structural.finding, &structural.location)
            );
            return Verdict::Block(reason);
        }
        let summary = describe(&first.finding, &first.location);
        tracing::warn!(
            request_id = context.request_id,
            // The hostname may be the finding.
            host = %lossy(&scanner.redact(context.host.as_bytes()).bytes),
            policy = policy_name(policy),
            findings = blocking.len(),
            first = %summary,
            "outbound DLP finding"
        );
        match policy {
            OnMatch::Block => Verdict::Block(format!(
                "outbound DLP: {summary}; the route's policy is block"
            )),
            OnMatch::Redact => match redact() {
                Some(rewrite) => Verdict::Redact(rewrite),
                None => Verdict::Block(format!(
                    "outbound DLP: {summary}; it could not be redacted (policy redact)"
                )),
            },
            OnMatch::Supervise => {
                if let Some(canary) = blocking.iter().find(|item| is_canary(&item.finding)) {
                    return Verdict::Block(format!(
                        "outbound DLP: {}; the canary is never sent, under every policy that cannot scrub it",
                        describe(&canary.finding, &canary.location)
                    ));
                }
                // The proposal names every distinct finding, and approval
                // remembers exactly those values: nothing is approved that
                // the operator was not shown.
                let mut shown: Vec<&Scanned<'_>> = Vec::new();
                for item in &blocking {
                    if !shown
                        .iter()
                        .any(|seen| seen.finding.matched.expose() == item.finding.matched.expose())
                    {
                        shown.push(item);
                    }
                }
                if shown.len() > MAX_FINDINGS_PER_HOLD {
                    return Verdict::Block(format!(
                        "outbound DLP: {} distinct findings, more than the {MAX_FINDINGS_PER_HOLD} one hold may list; first: {summary}",
                        shown.len()
                    ));
                }
                // The operator must see what they approve: a request whose
                // head was forgotten (more than `REMEMBERED_HEADS` requests
                // between its head and its body) is refused, never filed
                // with no method and path.
                let Some((method, path)) = self.state.head(context.request_id) else {
                    return Verdict::Block(format!(
                        "outbound DLP: {summary}; the request's method and path are no longer known to show the operator (too many requests in flight)"
                    ));
                };
                // Both scrubbed: a route that does not limit methods takes
                // any token as the method, a credential shape included
                // (audit round 8: it reached the proposal whole).
                let method = lossy(&scanner.redact(method.as_bytes()).bytes);
                let path = lossy(&scanner.redact(path.as_bytes()).bytes);
                let values = shown
                    .iter()
                    .map(|item| Redacted::new(lossy(item.finding.matched.expose())))
                    .collect();
                let joined = |part: fn(&Scanned<'_>) -> String| {
                    let mut parts: Vec<String> = Vec::new();
                    for item in &shown {
                        let text = part(item);
                        if !parts.contains(&text) {
                            parts.push(text);
                        }
                    }
                    parts.join(", ")
                };
                let detail = HoldDetail {
                    method,
                    path,
                    detector: joined(|item| item.finding.detector.to_string()),
                    rule: joined(|item| item.finding.rule.clone()),
                    preview: joined(|item| {
                        format!("{} in {}", item.finding.preview, item.location)
                    }),
                    context: context_around(scanner, first.text, &first.finding),
                    values,
                };
                self.state.remember_hold(context.request_id, detail);
                Verdict::Hold(Hold {
                    detector: first.finding.detector.to_string(),
                    location: first.location.clone(),
                    preview: first.finding.preview.clone(),
                })
            }
        }
    }

    fn scan_data<'a>(scanner: &Scanner, data: &'a [u8], location: &str) -> Vec<Scanned<'a>> {
        Self::located(scanner.scan(data), data, location)
    }

    /// `findings` in `data`, each named by `location`.
    fn located<'a>(findings: Findings, data: &'a [u8], location: &str) -> Vec<Scanned<'a>> {
        findings
            .into_vec()
            .into_iter()
            .map(|finding| Scanned {
                location: location.to_string(),
                text: data,
                finding,
            })
            .collect()
    }

    fn inspect_data(
        &self,
        context: &RequestContext,
        data: &[u8],
        location: &str,
    ) -> Verdict<Bytes> {
        let scanner = self
            .state
            .scanner_for(&context.host, context.port, context.on_match);
        let scanned = Self::scan_data(&scanner, data, location);
        self.verdict(context, &scanner, scanned, || {
            let redaction = scanner.redact(data);
            redaction
                .unredactable
                .is_empty()
                .then(|| Bytes::from(redaction.bytes))
        })
    }
}

/// Headers as `(name, value)` text pairs (a non-UTF-8 value lossily: its
/// raw bytes are scanned on their own, see [`DlpInspector::inspect_head`]).
fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), lossy(value.as_bytes())))
        .collect()
}

/// A header value that is not UTF-8 (obs-text, bytes 0x80-0xFF): the text
/// scan sees each such byte as U+FFFD, so its raw bytes are scanned too.
fn non_utf8(value: &HeaderValue) -> Option<&[u8]> {
    let bytes = value.as_bytes();
    std::str::from_utf8(bytes).is_err().then_some(bytes)
}

/// A redacted header value that cannot be sent as the redaction meant it.
struct Unfaithful;

/// `headers` after redaction: `Ok(None)` when no value changes. A value
/// the redaction leaves alone is kept exactly as sent (never rebuilt from
/// its lossy text). A value that is not UTF-8 is redacted on its raw
/// bytes, as a body is; if its text redaction changed it but the byte
/// redaction did not, or something is left that cannot be scrubbed, or a
/// redacted value is no valid header value, the head cannot be rewritten
/// faithfully (`Err`: refuse).
fn redacted_headers(
    scanner: &Scanner,
    headers: &HeaderMap,
    pairs: &[(String, String)],
    redacted: &[(String, String)],
) -> Result<Option<HeaderMap>, Unfaithful> {
    let mut values = Vec::with_capacity(pairs.len());
    let mut changed = false;
    for (index, (name, value)) in headers.iter().enumerate() {
        let (Some((_, before)), Some((_, after))) = (pairs.get(index), redacted.get(index)) else {
            return Err(Unfaithful);
        };
        let next = match non_utf8(value) {
            None if after == before => value.clone(),
            None => HeaderValue::from_str(after).map_err(|_| Unfaithful)?,
            Some(raw) => {
                let redaction = scanner.redact(raw);
                if !redaction.unredactable.is_empty() {
                    return Err(Unfaithful);
                }
                if redaction.bytes == raw {
                    if after != before {
                        return Err(Unfaithful);
                    }
                    value.clone()
                } else {
                    HeaderValue::from_bytes(&redaction.bytes).map_err(|_| Unfaithful)?
                }
            }
        };
        if next.as_bytes() != value.as_bytes() {
            changed = true;
        }
        let mut next = next;
        next.set_sensitive(value.is_sensitive());
        values.push((name.clone(), next));
    }
    if !changed {
        return Ok(None);
    }
    let mut map = HeaderMap::with_capacity(values.len());
    for (name, value) in values {
        map.append(name, value);
    }
    Ok(Some(map))
}

impl Inspector for DlpInspector {
    fn inspect_head(
        &self,
        context: &RequestContext,
        head: &RequestHead<'_>,
    ) -> Verdict<HeadRewrite> {
        let method = head.method.as_str();
        self.state.remember_head(
            context.request_id,
            method.to_string(),
            head.path_and_query.to_string(),
        );
        let scanner = self
            .state
            .scanner_for(&context.host, context.port, context.on_match);
        let request_line = format!("{method} {}", head.path_and_query);
        let pairs = header_pairs(head.headers);
        let findings: Findings = scanner.scan_request_head(&request_line, &pairs);
        // The shown name of header `index` (scrubbed: it may be the finding).
        let shown_name = |index: usize| {
            pairs.get(index).map_or_else(
                || "a header".to_string(),
                |(name, _)| lossy(&scanner.redact(name.as_bytes()).bytes),
            )
        };
        let mut scanned = Vec::new();
        for finding in findings.into_vec() {
            let (location, text) = match finding.location {
                Location::Header { index, in_name } => match pairs.get(index) {
                    Some((name, value)) => {
                        let shown = shown_name(index);
                        if in_name {
                            (format!("the name of header {shown}"), name.as_bytes())
                        } else {
                            (format!("header {shown}"), value.as_bytes())
                        }
                    }
                    None => ("a header".to_string(), &[][..]),
                },
                // Spread over several parts: no one part to quote.
                Location::Head => ("several parts of the request head".to_string(), &[][..]),
                _ => ("the request line".to_string(), request_line.as_bytes()),
            };
            scanned.push(Scanned {
                location,
                text,
                finding,
            });
        }
        // A value that is not UTF-8 reached the text scan lossily (every
        // byte 0x80-0xFF as U+FFFD): EBCDIC, say, would pass unseen. Its
        // raw bytes get the body's scan (no CR/LF check: CR and LF are
        // ASCII, the text scan saw them).
        for (index, (_, value)) in head.headers.iter().enumerate() {
            let Some(raw) = non_utf8(value) else {
                continue;
            };
            let location = format!("header {}", shown_name(index));
            for mut finding in scanner.scan(raw).into_vec() {
                finding.location = Location::Header {
                    index,
                    in_name: false,
                };
                scanned.push(Scanned {
                    location: location.clone(),
                    text: raw,
                    finding,
                });
            }
        }
        let host_findings = Self::scan_data(&scanner, context.host.as_bytes(), "the hostname");
        let host_clean = host_findings
            .iter()
            .all(|item| item.finding.severity == Severity::Warn);
        scanned.extend(host_findings);
        self.verdict(context, &scanner, scanned, || {
            if !host_clean {
                return None;
            }
            let redaction = scanner.redact_request_head(&request_line, &pairs);
            if !redaction.unredactable.is_empty() {
                return None;
            }
            let new_path = redaction
                .request_line
                .strip_prefix(method)
                .and_then(|rest| rest.strip_prefix(' '))?
                .to_string();
            let path_and_query = (new_path != head.path_and_query).then_some(new_path);
            let headers =
                redacted_headers(&scanner, head.headers, &pairs, &redaction.headers).ok()?;
            Some(HeadRewrite {
                path_and_query,
                headers,
            })
        })
    }

    fn inspect_body(&self, context: &RequestContext, body: &[u8]) -> Verdict<Bytes> {
        self.inspect_data(context, body, "body")
    }

    fn inspect_frame(&self, context: &RequestContext, payload: &[u8]) -> Verdict<Bytes> {
        self.inspect_data(context, payload, "a WebSocket message")
    }

    /// The held secrets and credential shapes only: compressed bytes are
    /// binary, where the Unicode and entropy detectors would see noise.
    fn inspect_encoded_body(&self, context: &RequestContext, raw: &[u8]) -> Verdict<Bytes> {
        let scanner = self
            .state
            .scanner_for(&context.host, context.port, context.on_match);
        let detectors = scanner
            .detectors()
            .without(Detector::Unicode)
            .without(Detector::Crlf)
            .without(Detector::Entropy);
        let scanned = Self::located(
            scanner.scan_with(raw, detectors),
            raw,
            "the encoded body as sent",
        );
        self.verdict(context, &scanner, scanned, || None)
    }

    /// Every redactable finding replaced by the redaction mark. Unicode
    /// evasion findings cannot be redacted; such a request is refused, and
    /// its log line keeps the folded-away text.
    fn scrub_for_log(&self, text: &[u8]) -> Vec<u8> {
        self.state.scanner().redact(text).bytes
    }

    fn routes_reloaded(&self, table: &crate::routes::RouteTable) {
        self.state.set_detectors(table.detectors());
    }
}
