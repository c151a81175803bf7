//! Waiting for the operator's answer to one proposal.
//!
//! A file-notification watcher (`notify`) on the queue directory wakes the
//! wait as soon as a response lands; the directory is also re-read every
//! poll interval, because notifications do not cross bind mounts into VMs
//! and a watcher can fail to start (or die) at any time. The watcher is set
//! up before the first look, so a response written in between is not missed.
//!
//! The wait blocks its thread: an async sidecar runs it under
//! `tokio::task::spawn_blocking` so other traffic is not stalled, or, when
//! it may hold many waits at once, polls with [`Queue::poll_response`] on
//! its own timer so that no thread is held while it waits. Each wait
//! has its own watcher; past the system's inotify limits
//! (`fs.inotify.max_user_instances`, 128 by default) a new wait cannot set
//! one up and simply polls.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

use crate::error::QueueError;
use crate::id::ProposalId;
use crate::model::{Proposal, Response};
use crate::store::{Loaded, Notifications, Queue};

/// How often [`Queue::wait_for_response`] re-reads the directory when no
/// file notification arrives (bind mounts into VMs deliver none): the
/// longest a decision waits to be seen without notifications.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// What woke a wait, for tests and debug logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitMode {
    /// A watcher is running; polling backs it up.
    NotificationsAndPolling,
    /// No watcher (turned off, or it could not be set up): polling only.
    PollingOnly,
}

impl Queue {
    /// Wait up to `timeout` for the response to proposal `id`, checked
    /// against the rules of the proposal's kind. Does not archive: the caller
    /// acts, then calls [`Queue::archive`]. On [`QueueError::Timeout`] the
    /// caller should [`Queue::expire`] the proposal.
    pub fn wait_for_response(
        &self,
        id: &ProposalId,
        timeout: Duration,
    ) -> Result<Response, QueueError> {
        self.wait_for_response_reporting(id, timeout)
            .map(|(response, _)| response)
    }

    /// One look without waiting: the response to proposal `id` if it is
    /// there (checked against the rules of the proposal's kind), `None` if
    /// the operator has not answered yet. The same errors as
    /// [`Queue::wait_for_response`]. For callers that wait on their own
    /// clock (an async sidecar polling between timer ticks, holding no
    /// thread while it waits).
    pub fn poll_response(&self, id: &ProposalId) -> Result<Option<Response>, QueueError> {
        let proposal = match self.load_proposal(id) {
            Loaded::Good(proposal) => proposal,
            Loaded::Bad(entry) => return Err(QueueError::BadProposal(entry)),
            Loaded::Missing => return self.archived_answer(id).map(Some),
        };
        self.check(&proposal)
    }

    /// [`Queue::wait_for_response`], also saying whether notifications were in use.
    pub fn wait_for_response_reporting(
        &self,
        id: &ProposalId,
        timeout: Duration,
    ) -> Result<(Response, WaitMode), QueueError> {
        let deadline = Instant::now() + timeout;
        let (sender, receiver) = mpsc::channel();
        let watcher = match self.options().notifications {
            Notifications::Off => None,
            Notifications::Auto => match notify::recommended_watcher(sender) {
                Ok(mut watcher) => match watcher.watch(self.dir(), RecursiveMode::NonRecursive) {
                    Ok(()) => Some(watcher),
                    Err(error) => {
                        tracing::debug!(error = %error, dir = %self.dir().display(), "cannot watch the queue; polling");
                        None
                    }
                },
                Err(error) => {
                    tracing::debug!(error = %error, "no file notifications; polling");
                    None
                }
            },
        };
        let mode = if watcher.is_some() {
            WaitMode::NotificationsAndPolling
        } else {
            WaitMode::PollingOnly
        };
        let proposal = match self.load_proposal(id) {
            Loaded::Good(proposal) => proposal,
            Loaded::Bad(entry) => return Err(QueueError::BadProposal(entry)),
            // Already answered and archived by someone: report that answer.
            Loaded::Missing => return self.archived_answer(id).map(|response| (response, mode)),
        };
        let mut watcher_alive = watcher.is_some();
        loop {
            if let Some(response) = self.check(&proposal)? {
                return Ok((response, mode));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(QueueError::Timeout {
                    id: id.clone(),
                    waited: timeout,
                });
            }
            let step = (deadline - now).min(self.options().poll_interval);
            if watcher_alive {
                match receiver.recv_timeout(step) {
                    // Any event (or a watcher error) means "look again"; drain
                    // the burst so one write is one look.
                    Ok(_) => while receiver.try_recv().is_ok() {},
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => watcher_alive = false,
                }
            } else {
                std::thread::sleep(step);
            }
        }
    }

    /// One look: the response if it is there, an error if it is bad or the
    /// proposal is gone, `None` to keep waiting.
    fn check(&self, proposal: &Proposal) -> Result<Option<Response>, QueueError> {
        let id = &proposal.id;
        match self.load_response(id) {
            Loaded::Good(response) => {
                response
                    .validate_for(proposal)
                    .map_err(|source| QueueError::InvalidResponse {
                        id: id.clone(),
                        source,
                    })?;
                Ok(Some(response))
            }
            Loaded::Bad(entry) => Err(QueueError::BadResponse(entry)),
            Loaded::Missing => match self.load_proposal(id) {
                Loaded::Good(_) => Ok(None),
                Loaded::Bad(entry) => Err(QueueError::BadProposal(entry)),
                Loaded::Missing => self.archived_answer(id).map(Some),
            },
        }
    }

    /// The answer to a proposal that is no longer in the queue.
    fn archived_answer(&self, id: &ProposalId) -> Result<Response, QueueError> {
        let entry = match self.entry(id) {
            Ok(entry) => entry,
            Err(QueueError::NotFound { .. }) => {
                return Err(QueueError::Vanished {
                    id: id.clone(),
                    dir: self.dir().to_path_buf(),
                });
            }
            Err(error) => return Err(error),
        };
        match entry.response {
            Some(crate::store::ResponseFile::Valid(response)) => {
                response.validate_for(&entry.proposal).map_err(|source| {
                    QueueError::InvalidResponse {
                        id: id.clone(),
                        source,
                    }
                })?;
                Ok(response)
            }
            Some(crate::store::ResponseFile::Bad(bad)) => Err(QueueError::BadResponse(bad)),
            None => Err(QueueError::Vanished {
                id: id.clone(),
                dir: self.dir().to_path_buf(),
            }),
        }
    }
}
