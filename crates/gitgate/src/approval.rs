//! Asking the operator about a push that carries a possible secret.
//!
//! [`Approver`] is the seam: given the findings of one push, file the
//! `gitleaks-allow` proposals, wait (up to a timeout) and return one
//! [`Verdict`] for the whole push. [`QueueApprover`] is the real one, over a
//! bottle's proposal queue (`bot_bottle_queue`): one proposal per finding,
//! all filed at once, the push approved only if every one is approved.
//! While it waits it holds no thread: it looks for each answer every
//! [`APPROVAL_POLL_INTERVAL`], each look (and each filing) a short queue
//! operation on the blocking pool.
//!
//! Failing closed: a rejection, a timeout, a malformed answer or no queue at
//! all refuses the push.
//!
//! The gate files at most [`MAX_PROPOSALS_PER_WINDOW`] proposals in any
//! [`PROPOSAL_RATE_WINDOW`], over all its repos ([`ProposalLedger`]): a
//! push whose proposals would pass that is refused before any is filed
//! (`crate::receive`). The count survives a restart: the ledger starts
//! from the proposals the queue holds from the last window
//! ([`Approver::filed_within`]). An agent hanging up as soon as its push's proposals
//! are filed (they are expired and archived at once) and pushing again
//! filed thousands an hour before.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bot_bottle_queue::{
    Actor, Decision, Expiry, GitleaksAllow, Payload, Proposal, ProposalId, Queue, QueueError,
};
use tokio::time::Instant;

use crate::scan::CommitFinding;

/// How long a push waits for the operator by default.
pub const APPROVAL_TIMEOUT: Duration = Duration::from_secs(300);
/// How often a held push looks for the operator's answer.
pub const APPROVAL_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The most proposals the gate files in any [`PROPOSAL_RATE_WINDOW`],
/// over all its repos: three pushes with the most findings a push may
/// file (`crate::receive::MAX_FINDINGS_PER_PUSH`), or many more with a
/// few each. A push whose proposals would pass it is refused at once,
/// with nothing filed.
pub const MAX_PROPOSALS_PER_WINDOW: usize = 60;
/// The window [`MAX_PROPOSALS_PER_WINDOW`] counts over.
pub const PROPOSAL_RATE_WINDOW: Duration = Duration::from_secs(600);

/// How many proposals the gate may file in what time
/// ([`ProposalRate::default`] has the constants; tests use small ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposalRate {
    /// [`MAX_PROPOSALS_PER_WINDOW`].
    pub proposals: usize,
    /// [`PROPOSAL_RATE_WINDOW`].
    pub window: Duration,
}

impl Default for ProposalRate {
    fn default() -> Self {
        Self {
            proposals: MAX_PROPOSALS_PER_WINDOW,
            window: PROPOSAL_RATE_WINDOW,
        }
    }
}

/// When each proposal of the last window was filed: one per gate, shared
/// by every repo's pushes.
#[derive(Debug)]
pub struct ProposalLedger {
    rate: ProposalRate,
    filed: Mutex<std::collections::VecDeque<std::time::Instant>>,
}

impl ProposalLedger {
    pub fn new(rate: ProposalRate) -> Self {
        Self::with_filed(rate, Vec::new())
    }

    /// A ledger that counts proposals filed before it existed, `ages` ago
    /// ([`Approver::filed_within`]: those of the gate's last run); any
    /// older than the window are left out.
    pub fn with_filed(rate: ProposalRate, mut ages: Vec<Duration>) -> Self {
        let now = std::time::Instant::now();
        ages.retain(|age| *age < rate.window);
        // The oldest first, as `try_file` expects.
        ages.sort_unstable_by(|a, b| b.cmp(a));
        let filed = ages
            .into_iter()
            .map(|age| now.checked_sub(age).unwrap_or(now))
            .collect();
        Self {
            rate,
            filed: Mutex::new(filed),
        }
    }

    /// The rate this ledger holds to.
    pub fn rate(&self) -> ProposalRate {
        self.rate
    }

    /// Count `count` proposals as filed now if they fit the rate with those
    /// of the last window; `false` (nothing counted) if they would pass it.
    pub fn try_file(&self, count: usize) -> bool {
        let mut filed = self.filed.lock().unwrap_or_else(PoisonError::into_inner);
        let now = std::time::Instant::now();
        while filed
            .front()
            .is_some_and(|at| now.duration_since(*at) >= self.rate.window)
        {
            filed.pop_front();
        }
        if filed.len().saturating_add(count) > self.rate.proposals {
            return false;
        }
        filed.extend(std::iter::repeat_n(now, count));
        true
    }
}

/// One finding, as filed for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingReport {
    pub repo: String,
    pub finding: CommitFinding,
}

/// The operator's answer for a whole push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every finding was approved; the recorded reasons.
    Approved { reason: String },
    /// At least one finding was refused.
    Rejected { reason: Option<String> },
    /// Nobody answered in time.
    TimedOut,
    /// There is no queue to ask.
    NoQueue,
    /// The queue failed (unreadable, malformed answer); refused.
    Failed { message: String },
}

/// What [`Approver::decide`] returns: the verdict, once the operator has
/// answered (or not).
pub type Deciding<'a> = Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

/// The seam to the operator.
pub trait Approver: Send + Sync {
    /// File the findings of one push and wait up to `timeout` for the answer.
    /// `on_filed` is called with each proposal id as soon as it is filed, so
    /// the agent can be told what it is waiting for.
    fn decide<'a>(
        &'a self,
        reports: &'a [FindingReport],
        timeout: Duration,
        on_filed: &'a mut (dyn FnMut(&str) + Send),
    ) -> Deciding<'a>;

    /// Whether [`Approver::decide`] files proposals for someone to answer
    /// (and so counts against [`MAX_PROPOSALS_PER_WINDOW`]). Yes unless
    /// said otherwise.
    fn files_proposals(&self) -> bool {
        true
    }

    /// How long ago each proposal this approver filed within the last
    /// `window` was filed (any order): the gate's [`ProposalLedger`]
    /// starts from them, so a restart does not reset the rate. None unless
    /// said otherwise.
    fn filed_within(&self, window: Duration) -> Vec<Duration> {
        let _ = window;
        Vec::new()
    }
}

/// No queue configured: every push with a finding is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoApprover;

impl Approver for NoApprover {
    fn decide<'a>(
        &'a self,
        _: &'a [FindingReport],
        _: Duration,
        _: &'a mut (dyn FnMut(&str) + Send),
    ) -> Deciding<'a> {
        Box::pin(std::future::ready(Verdict::NoQueue))
    }

    fn files_proposals(&self) -> bool {
        false
    }
}

/// The real approver: `gitleaks-allow` proposals in a bottle's queue.
#[derive(Debug, Clone)]
pub struct QueueApprover {
    queue: Queue,
    bottle: String,
}

impl QueueApprover {
    /// Use `queue` (already created) for bottle `bottle`. Proposals left over
    /// from before a restart belong to pushes that are gone: they are
    /// expired and archived.
    pub fn new(queue: Queue, bottle: impl Into<String>) -> Self {
        let approver = Self {
            queue,
            bottle: bottle.into(),
        };
        approver.recover();
        approver
    }

    fn recover(&self) {
        let recovery = match self.queue.recover(Actor::GitGate) {
            Ok(recovery) => recovery,
            Err(error) => {
                tracing::warn!(error = %error, "cannot recover the proposal queue");
                return;
            }
        };
        for answered in recovery.answered {
            let id = answered.proposal.id.clone();
            if let Err(error) = self.queue.archive(&id) {
                tracing::warn!(error = %error, id = %id, "cannot archive a left-over proposal");
            }
        }
        for proposal in recovery.pending {
            self.close(
                &proposal.id,
                "the push it held ended when git-gate restarted",
            );
        }
    }

    /// Expire (unless answered) and archive.
    fn close(&self, id: &ProposalId, reason: &str) {
        match self.queue.expire(id, reason, Actor::GitGate) {
            Ok(_) | Err(QueueError::AlreadyProcessed { .. }) => {}
            Err(error) => tracing::warn!(error = %error, id = %id, "cannot expire a proposal"),
        }
        if let Err(error) = self.queue.archive(id) {
            tracing::warn!(error = %error, id = %id, "cannot archive a proposal");
        }
    }
}

/// The proposals of one push not yet settled. If the wait is dropped (the
/// push went away: the agent disconnected, the gate is stopping), they are
/// expired and archived at once rather than left for the operator to
/// answer into the void.
///
/// A proposal is filed on the blocking pool, which goes on when the wait is
/// dropped; the filing task records its id here under the lock, or, if the
/// wait is already gone, closes the proposal itself. So a push that goes
/// away at any moment leaves no proposal waiting.
struct Unsettled {
    approver: QueueApprover,
    pending: Arc<Mutex<Pending>>,
}

#[derive(Default)]
struct Pending {
    ids: Vec<ProposalId>,
    /// The wait was dropped: a proposal filed from now on is closed at once.
    abandoned: bool,
}

impl Unsettled {
    fn new(approver: QueueApprover) -> Self {
        Self {
            approver,
            pending: Arc::default(),
        }
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn ids(&self) -> Vec<ProposalId> {
        self.pending().ids.clone()
    }

    fn settled(&mut self, id: &ProposalId) {
        self.pending().ids.retain(|pending| pending != id);
    }

    /// File `proposal` (blocking), recording its id, or closing it if the
    /// wait has gone meanwhile.
    fn file(&self, proposal: Proposal) -> impl FnOnce() -> Result<(), QueueError> + use<> {
        let (approver, pending) = (self.approver.clone(), Arc::clone(&self.pending));
        move || {
            approver.queue.submit(&proposal)?;
            let mut pending = pending.lock().unwrap_or_else(PoisonError::into_inner);
            if pending.abandoned {
                drop(pending);
                approver.close(&proposal.id, WENT_AWAY);
            } else {
                pending.ids.push(proposal.id.clone());
            }
            Ok(())
        }
    }
}

/// Why the proposals of a push that went away were closed.
const WENT_AWAY: &str = "the push ended before the operator answered";

impl Drop for Unsettled {
    fn drop(&mut self) {
        let ids = {
            let mut pending = self.pending();
            pending.abandoned = true;
            std::mem::take(&mut pending.ids)
        };
        if ids.is_empty() {
            return;
        }
        let approver = self.approver.clone();
        let close = move || {
            for id in &ids {
                approver.close(id, WENT_AWAY);
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(close)),
            Err(_) => close(),
        }
    }
}

impl QueueApprover {
    /// [`QueueApprover::close`] on the blocking pool.
    async fn close_later(&self, id: &ProposalId, reason: &'static str) {
        let (approver, id) = (self.clone(), id.clone());
        let _ = tokio::task::spawn_blocking(move || approver.close(&id, reason)).await;
    }

    async fn decide_now(
        &self,
        reports: &[FindingReport],
        timeout: Duration,
        on_filed: &mut (dyn FnMut(&str) + Send),
    ) -> Verdict {
        let deadline = Instant::now() + timeout;
        // Every proposal filed and not yet settled; expired if this wait is
        // dropped.
        let mut unsettled = Unsettled::new(self.clone());
        for report in reports {
            let finding = &report.finding;
            let payload = Payload::GitleaksAllow(GitleaksAllow {
                repo: report.repo.clone(),
                reference: finding.reference.clone(),
                commit: finding.commit.clone(),
                file: finding.file.clone(),
                line: finding.line,
                rule: finding.rule.clone(),
                snippet: finding.snippet.clone(),
            });
            let proposal = Proposal::new(self.bottle.clone(), payload);
            let id = proposal.id.clone();
            if let Err(error) = self.queue.on_blocking_pool(unsettled.file(proposal)).await {
                for id in unsettled.ids() {
                    self.close_later(&id, "git-gate could not file the push's other findings")
                        .await;
                    unsettled.settled(&id);
                }
                return Verdict::Failed {
                    message: format!("cannot file a proposal: {error}"),
                };
            }
            on_filed(id.as_str());
        }
        let mut reasons = Vec::new();
        let mut verdict = None;
        for id in &unsettled.ids() {
            if verdict.is_some() {
                self.close_later(id, "the push was refused over another finding")
                    .await;
                unsettled.settled(id);
                continue;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            let expiry = Expiry {
                reason: format!(
                    "nobody answered within {}s; the push was refused",
                    timeout.as_secs()
                ),
                actor: Actor::GitGate,
            };
            let answer = self
                .queue
                .await_response(id, remaining, APPROVAL_POLL_INTERVAL, expiry)
                .await;
            match answer {
                Ok(response) => match response.decision {
                    Decision::Approve | Decision::ApproveWithModification { .. } => {
                        if let Some(reason) = response.reason {
                            reasons.push(reason);
                        }
                    }
                    Decision::Reject => {
                        verdict = Some(Verdict::Rejected {
                            reason: response.reason,
                        })
                    }
                    Decision::Expired => verdict = Some(Verdict::TimedOut),
                    Decision::Answer { .. } => {
                        verdict = Some(Verdict::Failed {
                            message: "the proposal was answered with text, not a decision".into(),
                        })
                    }
                },
                Err(error) => {
                    verdict = Some(Verdict::Failed {
                        message: error.to_string(),
                    })
                }
            }
            let (queue, archiving) = (self.queue.clone(), id.clone());
            if let Err(error) = self
                .queue
                .on_blocking_pool(move || queue.archive(&archiving))
                .await
            {
                tracing::warn!(error = %error, id = %id, "cannot archive a proposal");
            }
            unsettled.settled(id);
        }
        verdict.unwrap_or(Verdict::Approved {
            reason: reasons.join("; "),
        })
    }
}

impl Approver for QueueApprover {
    fn decide<'a>(
        &'a self,
        reports: &'a [FindingReport],
        timeout: Duration,
        on_filed: &'a mut (dyn FnMut(&str) + Send),
    ) -> Deciding<'a> {
        Box::pin(self.decide_now(reports, timeout, on_filed))
    }

    /// The `gitleaks-allow` proposals of this bottle in the queue, pending
    /// or archived, filed within `window`. A queue that cannot be listed
    /// counts none (logged): the rate then starts afresh, as it did
    /// before restarts were counted.
    fn filed_within(&self, window: Duration) -> Vec<Duration> {
        let listing = match self.queue.list(bot_bottle_queue::Scope::All) {
            Ok(listing) => listing,
            Err(error) => {
                tracing::warn!(%error, "cannot list the queue to count the proposals filed lately");
                return Vec::new();
            }
        };
        let now = bot_bottle_queue::Timestamp::now();
        listing
            .entries
            .iter()
            .filter(|entry| {
                matches!(entry.proposal.payload, Payload::GitleaksAllow(_))
                    && entry.proposal.bottle == self.bottle
            })
            .map(|entry| entry.proposal.created_at.age_at(now))
            .filter(|age| *age < window)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bot_bottle_queue::{DecisionKind, Scope};

    fn report(line: u64) -> FindingReport {
        FindingReport {
            repo: "app".into(),
            finding: CommitFinding {
                reference: "refs/heads/main".into(),
                commit: "a".repeat(40),
                file: "cfg.ini".into(),
                line,
                rule: "aws-access-key-id".into(),
                snippet: "key = AK***TY".into(),
            },
        }
    }

    /// Answer every pending proposal as it appears, from another thread.
    fn operator(
        queue: Queue,
        decision: Decision,
        reason: &'static str,
        count: usize,
    ) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            let mut answered = 0;
            while answered < count {
                let listing = queue.list(Scope::Active).unwrap();
                for entry in listing.entries {
                    if entry.response.is_none()
                        && queue
                            .answer(
                                &entry.proposal.id,
                                decision.clone(),
                                Some(reason.into()),
                                None,
                            )
                            .is_ok()
                    {
                        answered += 1;
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    }

    #[tokio::test]
    async fn every_finding_approved_approves_the_push_and_archives() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::create(dir.path()).unwrap();
        let approver = QueueApprover::new(queue.clone(), "dev");
        let answering = operator(queue.clone(), Decision::Approve, "fixture", 2);
        let mut filed = Vec::new();
        let verdict = approver
            .decide(
                &[report(1), report(2)],
                Duration::from_secs(30),
                &mut |id| filed.push(id.to_string()),
            )
            .await;
        answering.join().unwrap();
        assert_eq!(
            verdict,
            Verdict::Approved {
                reason: "fixture; fixture".into()
            }
        );
        assert_eq!(filed.len(), 2);
        let everything = queue.list(Scope::All).unwrap();
        assert!(
            everything
                .entries
                .iter()
                .all(|entry| entry.state == bot_bottle_queue::EntryState::Processed),
            "{everything:?}"
        );
    }

    #[test]
    fn waiting_pushes_hold_no_thread() {
        // One blocking thread for everything, and eight pushes waiting at
        // once. The operator answers the last one filed first, and the next
        // only once that push has acted on its answer (archived it): a wait
        // that held the thread would keep every other push from looking.
        const PUSHES: usize = 8;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::create(dir.path()).unwrap();
        let approver = std::sync::Arc::new(QueueApprover::new(queue.clone(), "dev"));
        let answering = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            let active = || {
                let mut entries = queue.list(Scope::Active).unwrap().entries;
                entries.sort_by_key(|entry| match &entry.proposal.payload {
                    Payload::GitleaksAllow(allow) => allow.line,
                    _ => 0,
                });
                entries
            };
            while active().len() < PUSHES {
                assert!(
                    std::time::Instant::now() < deadline,
                    "not all pushes were filed"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            while let Some(last) = active().pop() {
                queue
                    .answer(
                        &last.proposal.id,
                        Decision::Approve,
                        Some("ok".into()),
                        None,
                    )
                    .unwrap();
                while active()
                    .iter()
                    .any(|entry| entry.proposal.id == last.proposal.id)
                {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the push answered last-filed-first never acted on its answer"
                    );
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        });
        let verdicts = runtime.block_on(async {
            let mut waits = tokio::task::JoinSet::new();
            for line in 0..PUSHES {
                let approver = std::sync::Arc::clone(&approver);
                waits.spawn(async move {
                    let reports = [report(line as u64)];
                    approver
                        .decide(&reports, Duration::from_secs(30), &mut |_| {})
                        .await
                });
            }
            waits.join_all().await
        });
        answering.join().unwrap();
        assert_eq!(
            verdicts,
            vec![
                Verdict::Approved {
                    reason: "ok".into()
                };
                PUSHES
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_push_that_goes_away_while_waiting_expires_its_proposals() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::create(dir.path()).unwrap();
        let approver = std::sync::Arc::new(QueueApprover::new(queue.clone(), "dev"));
        let waiting = {
            let approver = std::sync::Arc::clone(&approver);
            tokio::spawn(async move {
                let reports = [report(1), report(2)];
                approver
                    .decide(&reports, Duration::from_secs(60), &mut |_| {})
                    .await
            })
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while queue.list(Scope::Active).unwrap().entries.len() < 2 {
            assert!(std::time::Instant::now() < deadline, "never filed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The push goes away (its hook task is dropped).
        waiting.abort();
        assert!(waiting.await.unwrap_err().is_cancelled());
        while !queue.list(Scope::Active).unwrap().entries.is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the proposals of a push that went away are still waiting"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let everything = queue.list(Scope::All).unwrap();
        assert_eq!(everything.entries.len(), 2);
        for entry in &everything.entries {
            assert_eq!(entry.state, bot_bottle_queue::EntryState::Processed);
            let response = entry.valid_response().unwrap();
            assert_eq!(response.decision.kind(), DecisionKind::Expired);
            assert_eq!(
                response.reason.as_deref(),
                Some("the push ended before the operator answered")
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_push_going_away_at_any_moment_leaves_no_proposal_waiting() {
        // The wait is dropped at many points of filing: before, during and
        // after each proposal's write on the blocking pool.
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::create(dir.path()).unwrap();
        let approver = std::sync::Arc::new(QueueApprover::new(queue.clone(), "dev"));
        for round in 0..40u64 {
            let waiting = {
                let approver = std::sync::Arc::clone(&approver);
                tokio::spawn(async move {
                    let reports = [report(1), report(2), report(3)];
                    approver
                        .decide(&reports, Duration::from_secs(60), &mut |_| {})
                        .await
                })
            };
            tokio::time::sleep(Duration::from_micros(round * 50)).await;
            waiting.abort();
            let _ = waiting.await;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !queue.list(Scope::Active).unwrap().entries.is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "{} proposals of pushes that went away are still waiting",
                queue.list(Scope::Active).unwrap().entries.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[test]
    fn the_ledger_files_within_its_rate_and_forgets_past_its_window() {
        let ledger = ProposalLedger::new(ProposalRate {
            proposals: 5,
            window: Duration::from_millis(300),
        });
        assert!(ledger.try_file(3));
        // 3 + 3 would pass 5: refused, and nothing counted.
        assert!(!ledger.try_file(3));
        assert!(ledger.try_file(2));
        assert!(!ledger.try_file(1));
        // More than the whole rate never fits.
        std::thread::sleep(Duration::from_millis(350));
        assert!(!ledger.try_file(6));
        assert!(ledger.try_file(5));
        assert!(ledger.try_file(0));
    }

    #[test]
    fn a_ledger_counts_what_was_filed_before_it_within_the_window() {
        let rate = ProposalRate {
            proposals: 3,
            window: Duration::from_secs(600),
        };
        // Two within the window, one past it (not counted).
        let ledger = ProposalLedger::with_filed(
            rate,
            vec![
                Duration::from_secs(20),
                Duration::from_secs(700),
                Duration::from_secs(10),
            ],
        );
        assert!(!ledger.try_file(2));
        assert!(ledger.try_file(1));
        assert!(!ledger.try_file(1));
    }

    /// A restarted gate counts the proposals its last run filed: before,
    /// restarting it started the rate afresh.
    #[test]
    fn the_queue_approver_reports_this_bottles_recent_gitleaks_proposals() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::create(dir.path()).unwrap();
        let gitleaks = |bottle: &str, age: Duration| {
            let mut proposal = Proposal::new(
                bottle,
                Payload::GitleaksAllow(GitleaksAllow {
                    repo: "app".into(),
                    reference: "refs/heads/main".into(),
                    commit: "a".repeat(40),
                    file: "cfg.ini".into(),
                    line: 1,
                    rule: "aws-access-key-id".into(),
                    snippet: "key = AK***TY".into(),
                }),
            );
            let millis = i64::try_from(age.as_millis()).unwrap();
            proposal.created_at =
                bot_bottle_queue::Timestamp::from_millis(proposal.created_at.as_millis() - millis);
            proposal
        };
        // This bottle: one left pending by the last run, one archived, one
        // filed two hours ago; another bottle's; another kind.
        let pending = gitleaks("dev", Duration::from_secs(5));
        queue.submit(&pending).unwrap();
        let archived = gitleaks("dev", Duration::from_secs(30));
        queue.submit(&archived).unwrap();
        queue.expire(&archived.id, "gone", Actor::GitGate).unwrap();
        queue.archive(&archived.id).unwrap();
        queue
            .submit(&gitleaks("dev", Duration::from_secs(7200)))
            .unwrap();
        queue
            .submit(&gitleaks("other", Duration::from_secs(5)))
            .unwrap();
        queue
            .propose(
                "dev",
                Payload::CapabilityBlock(bot_bottle_queue::CapabilityBlock {
                    text: "stuck".into(),
                }),
            )
            .unwrap();
        // The restart: left-over proposals are expired and archived, and
        // still count.
        let approver = QueueApprover::new(queue.clone(), "dev");
        let mut ages = approver.filed_within(Duration::from_secs(600));
        ages.sort();
        assert_eq!(ages.len(), 2, "{ages:?}");
        assert!(ages[0] >= Duration::from_secs(5) && ages[0] < Duration::from_secs(30));
        assert!(ages[1] >= Duration::from_secs(30) && ages[1] < Duration::from_secs(600));
        let ledger = ProposalLedger::with_filed(
            ProposalRate {
                proposals: 3,
                window: Duration::from_secs(600),
            },
            ages,
        );
        assert!(!ledger.try_file(2));
        assert!(ledger.try_file(1));
        // No queue, nothing counted.
        assert!(NoApprover.filed_within(Duration::from_secs(600)).is_empty());
    }

    #[tokio::test]
    async fn a_rejection_refuses_the_push() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::create(dir.path()).unwrap();
        let approver = QueueApprover::new(queue.clone(), "dev");
        let answering = operator(queue.clone(), Decision::Reject, "real key", 1);
        let verdict = approver
            .decide(&[report(1)], Duration::from_secs(30), &mut |_| {})
            .await;
        answering.join().unwrap();
        assert_eq!(
            verdict,
            Verdict::Rejected {
                reason: Some("real key".into())
            }
        );
    }

    #[tokio::test]
    async fn nobody_answering_expires_the_proposal() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::create(dir.path()).unwrap();
        let approver = QueueApprover::new(queue.clone(), "dev");
        let verdict = approver
            .decide(&[report(1)], Duration::ZERO, &mut |_| {})
            .await;
        assert_eq!(verdict, Verdict::TimedOut);
        let everything = queue.list(Scope::All).unwrap();
        let entry = &everything.entries[0];
        assert_eq!(entry.state, bot_bottle_queue::EntryState::Processed);
        assert_eq!(
            entry
                .valid_response()
                .map(|response| response.decision.kind()),
            Some(DecisionKind::Expired)
        );
    }
}
