//! Failpoints: named places between the steps of the protocol where a test
//! can stop the process, to prove that a crash there loses no decision and
//! applies none twice.
//!
//! The library never reads the environment for these: a test passes a hook
//! in [`crate::QueueOptions`], and a crash test's child process installs one
//! that aborts at the point its parent names.

use std::fmt;
use std::sync::Arc;

/// A place between two steps of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failpoint {
    /// A proposal's temporary file is written and synced, not yet renamed.
    ProposalTempWritten,
    /// A response's temporary file is written and synced, not yet linked.
    ResponseTempWritten,
    /// A response is in place; the acting sidecar has not archived it.
    ResponseWritten,
    /// `archive` was called; nothing has moved yet.
    ArchiveStarting,
    /// The proposal is in `processed/`, the response is not.
    ArchiveBetweenMoves,
    /// The response is linked into `processed/` and still in the queue.
    ArchiveResponseLinked,
}

impl Failpoint {
    pub const ALL: [Self; 6] = [
        Self::ProposalTempWritten,
        Self::ResponseTempWritten,
        Self::ResponseWritten,
        Self::ArchiveStarting,
        Self::ArchiveBetweenMoves,
        Self::ArchiveResponseLinked,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ProposalTempWritten => "proposal-temp-written",
            Self::ResponseTempWritten => "response-temp-written",
            Self::ResponseWritten => "response-written",
            Self::ArchiveStarting => "archive-starting",
            Self::ArchiveBetweenMoves => "archive-between-moves",
            Self::ArchiveResponseLinked => "archive-response-linked",
        }
    }

    /// The failpoint named by [`Failpoint::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|point| point.as_str() == name)
    }
}

impl fmt::Display for Failpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Hook = dyn Fn(Failpoint) + Send + Sync;

/// An optional hook called at every [`Failpoint`]. Empty by default.
#[derive(Clone, Default)]
pub struct Failpoints(Option<Arc<Hook>>);

impl Failpoints {
    /// Call `hook` at every failpoint (it may abort the process).
    pub fn new(hook: impl Fn(Failpoint) + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(hook)))
    }

    pub(crate) fn hit(&self, point: Failpoint) {
        if let Some(hook) = &self.0 {
            hook(point);
        }
    }
}

impl fmt::Debug for Failpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Failpoints(hook)"
        } else {
            "Failpoints(none)"
        })
    }
}
