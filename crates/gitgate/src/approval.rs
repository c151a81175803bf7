//! Asking the operator about a push that carries a possible secret.
//!
//! [`Approver`] is the seam: given the findings of one push, file the
//! `gitleaks-allow` proposals, wait (up to a timeout) and return one
//! [`Verdict`] for the whole push. [`QueueApprover`] is the real one, over a
//! bottle's proposal queue (`bot_bottle_queue`): one proposal per finding,
//! all filed at once, the push approved only if every one is approved. It is
//! a blocking call; the gate runs it on a blocking thread.
//!
//! Failing closed: a rejection, a timeout, a malformed answer or no queue at
//! all refuses the push.

use std::time::{Duration, Instant};

use bot_bottle_queue::{
    Actor, Decision, GitleaksAllow, Payload, Proposal, ProposalId, Queue, QueueError,
};

use crate::scan::CommitFinding;

/// How long a push waits for the operator by default.
pub const APPROVAL_TIMEOUT: Duration = Duration::from_secs(300);

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

/// The seam to the operator. Blocking.
pub trait Approver: Send + Sync {
    /// File the findings of one push and wait up to `timeout` for the answer.
    /// `on_filed` is called with each proposal id as soon as it is filed, so
    /// the agent can be told what it is waiting for.
    fn decide(
        &self,
        reports: &[FindingReport],
        timeout: Duration,
        on_filed: &mut dyn FnMut(&str),
    ) -> Verdict;
}

/// No queue configured: every push with a finding is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoApprover;

impl Approver for NoApprover {
    fn decide(&self, _: &[FindingReport], _: Duration, _: &mut dyn FnMut(&str)) -> Verdict {
        Verdict::NoQueue
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

impl Approver for QueueApprover {
    fn decide(
        &self,
        reports: &[FindingReport],
        timeout: Duration,
        on_filed: &mut dyn FnMut(&str),
    ) -> Verdict {
        let deadline = Instant::now() + timeout;
        let mut filed: Vec<ProposalId> = Vec::new();
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
            if let Err(error) = self.queue.submit(&proposal) {
                for id in &filed {
                    self.close(id, "git-gate could not file the push's other findings");
                }
                return Verdict::Failed {
                    message: format!("cannot file a proposal: {error}"),
                };
            }
            on_filed(proposal.id.as_str());
            filed.push(proposal.id);
        }
        let mut reasons = Vec::new();
        let mut verdict = None;
        for id in &filed {
            if verdict.is_some() {
                self.close(id, "the push was refused over another finding");
                continue;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            let response = match self.queue.wait_for_response(id, remaining) {
                Ok(response) => Ok(response),
                Err(QueueError::Timeout { .. }) => {
                    // An answer that lands just now still counts.
                    self.queue.expire(
                        id,
                        &format!(
                            "nobody answered within {}s; the push was refused",
                            timeout.as_secs()
                        ),
                        Actor::GitGate,
                    )
                }
                Err(error) => Err(error),
            };
            match response {
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
            if let Err(error) = self.queue.archive(id) {
                tracing::warn!(error = %error, id = %id, "cannot archive a proposal");
            }
        }
        verdict.unwrap_or(Verdict::Approved {
            reason: reasons.join("; "),
        })
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

    #[test]
    fn every_finding_approved_approves_the_push_and_archives() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::create(dir.path()).unwrap();
        let approver = QueueApprover::new(queue.clone(), "dev");
        let answering = operator(queue.clone(), Decision::Approve, "fixture", 2);
        let mut filed = Vec::new();
        let verdict = approver.decide(
            &[report(1), report(2)],
            Duration::from_secs(30),
            &mut |id| filed.push(id.to_string()),
        );
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
    fn a_rejection_refuses_the_push() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::create(dir.path()).unwrap();
        let approver = QueueApprover::new(queue.clone(), "dev");
        let answering = operator(queue.clone(), Decision::Reject, "real key", 1);
        let verdict = approver.decide(&[report(1)], Duration::from_secs(30), &mut |_| {});
        answering.join().unwrap();
        assert_eq!(
            verdict,
            Verdict::Rejected {
                reason: Some("real key".into())
            }
        );
    }

    #[test]
    fn nobody_answering_expires_the_proposal() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::create(dir.path()).unwrap();
        let approver = QueueApprover::new(queue.clone(), "dev");
        let verdict = approver.decide(&[report(1)], Duration::ZERO, &mut |_| {});
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
