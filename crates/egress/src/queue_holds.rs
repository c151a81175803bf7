//! [`QueueHolds`]: held requests become `egress-token-allow` proposals in
//! the bottle's queue directory, and wait for the operator.
//!
//! For each hold the resolver files a proposal (host, redacted method and path,
//! detector, rule, masked preview and redacted context — never the value),
//! then looks for the answer every [`HOLD_POLL_INTERVAL`], holding no
//! thread in between, so a held request never stalls other traffic, however
//! many are held at once. When the wait times out the proposal is
//! expired (an operator answer that landed first still wins). Approve
//! forwards the request and remembers the matched values for the request's
//! host and port, the ones the proposal names (a port other than the
//! scheme's own is shown), until the proxy stops or more recent approvals
//! push them out ([`DlpState::approve`]: never for another host or port,
//! never under a `block` route); reject, expiry, a malformed response or a
//! queue error refuse it with a reason the agent sees. This sidecar owns the
//! archive: the proposal is archived once the decision is taken and the
//! value remembered (acting on in-memory state, so a restart needs no replay).

use std::sync::Arc;
use std::time::Duration;

use bot_bottle_queue::{Actor, Decision, EgressTokenAllow, Expiry, Payload, ProposalId, Queue};

use tracing::Instrument;

use crate::dlp_inspector::DlpState;
use crate::inspect::{BoxFuture, Hold, HoldOutcome, HoldResolver, RequestContext};

/// How long a held request waits for the operator when the sidecar is not
/// told otherwise (`EGRESS_TOKEN_ALLOW_TIMEOUT_SECONDS`).
pub const DEFAULT_HOLD_TIMEOUT: Duration = Duration::from_secs(300);

/// The most requests held for the operator at once; one more is refused
/// at once, with nothing filed, so an agent cannot bury the operator's
/// queue (each hold is a proposal) or pile up held requests.
pub const MAX_PENDING_HOLDS: usize = 64;

/// The most proposals filed in any [`HOLD_RATE_WINDOW`]; past it a hold is
/// refused at once, with nothing filed. [`MAX_PENDING_HOLDS`] bounds how
/// many wait at once, but an agent repeating a held request as soon as
/// each is answered (or times out) could still file one after another for
/// as long as it ran, asking the operator again and again.
pub const MAX_HOLDS_PER_WINDOW: usize = 30;

/// The window [`MAX_HOLDS_PER_WINDOW`] counts over.
pub const HOLD_RATE_WINDOW: Duration = Duration::from_secs(600);

/// Files holds in a queue directory and waits for the operator.
#[derive(Debug, Clone)]
pub struct QueueHolds {
    queue: Queue,
    bottle: String,
    timeout: Duration,
    state: Arc<DlpState>,
    /// One permit per hold waiting ([`MAX_PENDING_HOLDS`]).
    pending: Arc<tokio::sync::Semaphore>,
    /// When each proposal of the last `rate.1` was filed, at most `rate.0`
    /// of them ([`MAX_HOLDS_PER_WINDOW`], [`HOLD_RATE_WINDOW`]).
    filed: Arc<std::sync::Mutex<std::collections::VecDeque<std::time::Instant>>>,
    rate: (usize, Duration),
}

impl QueueHolds {
    /// `bottle` names the bottle in each proposal; `timeout` is how long a
    /// held request waits before it is refused.
    pub fn new(
        queue: Queue,
        bottle: impl Into<String>,
        timeout: Duration,
        state: Arc<DlpState>,
    ) -> Self {
        Self {
            queue,
            bottle: bottle.into(),
            timeout,
            state,
            pending: Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_HOLDS)),
            filed: Arc::default(),
            rate: (MAX_HOLDS_PER_WINDOW, HOLD_RATE_WINDOW),
        }
    }

    /// At most `holds` proposals filed in any `window` (default
    /// [`MAX_HOLDS_PER_WINDOW`] in [`HOLD_RATE_WINDOW`]).
    #[must_use]
    pub fn with_rate(mut self, holds: usize, window: Duration) -> Self {
        self.rate = (holds, window);
        self
    }

    /// Whether one more proposal may be filed now (and if so, counts it).
    fn may_file(&self) -> bool {
        let Ok(mut filed) = self.filed.lock() else {
            return false;
        };
        let now = std::time::Instant::now();
        while filed
            .front()
            .is_some_and(|at| now.duration_since(*at) >= self.rate.1)
        {
            filed.pop_front();
        }
        if filed.len() >= self.rate.0 {
            return false;
        }
        filed.push_back(now);
        true
    }

    /// At most `holds` requests held at once (default [`MAX_PENDING_HOLDS`]).
    #[must_use]
    pub fn with_max_pending(mut self, holds: usize) -> Self {
        self.pending = Arc::new(tokio::sync::Semaphore::new(holds));
        self
    }
}

/// What came of one proposal.
enum Settled {
    Approved,
    Refused(String),
}

/// How often a held request looks for the operator's answer. Between looks
/// the request holds no thread (each look is a short read on the blocking
/// pool), so any number of holds can wait at once without starving body
/// decoding, large-body scans or other holds of the blocking pool.
pub const HOLD_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// File the proposal and wait for its answer, looking every
/// [`HOLD_POLL_INTERVAL`]; the proposal's id comes back when one was filed
/// (to archive once acted on).
async fn settle(
    queue: &Queue,
    bottle: &str,
    timeout: Duration,
    payload: Payload,
) -> (Settled, Option<ProposalId>) {
    let filed = {
        let (filing, bottle) = (queue.clone(), bottle.to_string());
        queue
            .on_blocking_pool(move || filing.propose(&bottle, payload))
            .await
    };
    let proposal = match filed {
        Ok(proposal) => proposal,
        Err(error) => {
            tracing::error!(%error, "cannot file the egress-token-allow proposal");
            return (
                Settled::Refused(format!(
                    "held for the operator, but the proposal could not be filed: {error}"
                )),
                None,
            );
        }
    };
    let id = proposal.id.clone();
    tracing::info!(proposal = %id, timeout_seconds = timeout.as_secs(), "request held for the operator");
    let expiry = Expiry {
        reason: format!("no answer in {} s", timeout.as_secs()),
        actor: Actor::Egress,
    };
    let response = queue
        .await_response(&id, timeout, HOLD_POLL_INTERVAL, expiry)
        .await;
    let settled = match response {
        Ok(response) => match response.decision {
            Decision::Approve => Settled::Approved,
            Decision::Expired => Settled::Refused(format!(
                "held for the operator; no answer within {} s (proposal {id} expired)",
                timeout.as_secs()
            )),
            Decision::Reject => Settled::Refused(format!(
                "the operator rejected this request (proposal {id}){}",
                response
                    .reason
                    .as_deref()
                    .map(|reason| format!(": {reason}"))
                    .unwrap_or_default()
            )),
            other => Settled::Refused(format!(
                "proposal {id} was answered with {}, which does not approve it",
                other.kind().as_str()
            )),
        },
        Err(error) => {
            tracing::warn!(proposal = %id, %error, "no usable answer to the hold; refusing");
            Settled::Refused(format!(
                "held for the operator, but the answer to proposal {id} is unusable: {error}"
            ))
        }
    };
    (settled, Some(id))
}

impl HoldResolver for QueueHolds {
    fn resolve<'a>(
        &'a self,
        context: &'a RequestContext,
        hold: &'a Hold,
    ) -> BoxFuture<'a, HoldOutcome> {
        Box::pin(async move {
            // No detail (the inspector in force is not the DLP one, or more
            // than `REMEMBERED_HOLDS` holds came between): nothing the
            // operator could judge, so nothing is filed.
            let Some(detail) = self.state.take_hold(context.request_id) else {
                tracing::warn!(detector = %hold.detector, "a hold with no recorded detail; refusing");
                return HoldOutcome::Reject(
                    "held for the operator, but the request's details were lost before the proposal could be filed; refused".into(),
                );
            };
            let Ok(slot) = Arc::clone(&self.pending).try_acquire_owned() else {
                tracing::warn!(detector = %hold.detector, "too many requests held for the operator; refusing without filing");
                return HoldOutcome::Reject(
                    "too many requests are already waiting for the operator; refused without asking (try again once they are answered)".into(),
                );
            };
            if !self.may_file() {
                tracing::warn!(detector = %hold.detector, "too many requests held for the operator lately; refusing without filing");
                return HoldOutcome::Reject(format!(
                    "{} requests were already held for the operator in the last {} s; refused without asking (change what the request carries, or ask the operator for a route)",
                    self.rate.0,
                    self.rate.1.as_secs()
                ));
            }
            // The hostname may itself be the finding (a wildcard route).
            // A port other than the scheme's own is named: the approval
            // covers that host on that port only.
            let mut host = String::from_utf8_lossy(
                &self.state.scanner().redact(context.host.as_bytes()).bytes,
            )
            .into_owned();
            if context.port != context.scheme.default_port() {
                host = format!("{host}:{}", context.port);
            }
            let payload = Payload::EgressTokenAllow(EgressTokenAllow {
                host,
                method: detail.method.clone(),
                path: detail.path.clone(),
                detector: detail.detector.clone(),
                rule: detail.rule.clone(),
                preview: detail.preview.clone(),
                context: detail.context.clone(),
            });
            let queue = self.queue.clone();
            let bottle = self.bottle.clone();
            let timeout = self.timeout;
            let state = Arc::clone(&self.state);
            let values = detail.values;
            // Approval covers the host and port the operator was asked about.
            let (approved_host, approved_port) = (context.host.clone(), context.port);
            // A task of its own: if the agent goes away mid-hold, the
            // proposal is still settled (answered or expired) and archived,
            // not left pending for an operator to answer into the void.
            let settling = tokio::spawn(
                async move {
                    let _slot = slot;
                    let (settled, id) = settle(&queue, &bottle, timeout, payload).await;
                    // Act (remember the approved value for this host and port),
                    // then archive.
                    if matches!(settled, Settled::Approved) {
                        state.approve(&approved_host, approved_port, values);
                    }
                    if let Some(id) = id {
                        let archived = {
                            let (archiving, id) = (queue.clone(), id.clone());
                            queue.on_blocking_pool(move || archiving.archive(&id)).await
                        };
                        if let Err(error) = archived {
                            tracing::warn!(proposal = %id, %error, "cannot archive the answered proposal");
                        }
                    }
                    settled
                }
                .in_current_span(),
            );
            match settling.await {
                Ok(Settled::Approved) => HoldOutcome::Approve,
                Ok(Settled::Refused(reason)) => HoldOutcome::Reject(reason),
                Err(error) => HoldOutcome::Reject(format!("the hold failed: {error}")),
            }
        })
    }
}
