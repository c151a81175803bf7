//! The queue's errors, and the "bad entry" report for a file that cannot be
//! used.
//!
//! A bad entry is not an error of the operation that met it: listing a queue
//! with one malformed file lists everything else and reports that file
//! alongside. It becomes an error only when the operation needed that very
//! file (answering a malformed proposal, waiting on a malformed response).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::id::{InvalidId, ProposalId};
use crate::model::{DecisionError, DecisionKind};

/// A file in a queue that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEntry {
    pub path: PathBuf,
    pub reason: BadReason,
}

/// Why a queue file was skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadReason {
    #[error("cannot be read: {message}")]
    Unreadable { message: String },
    #[error("larger than {limit} bytes ({size} bytes)")]
    TooLarge { size: u64, limit: u64 },
    #[error("not JSON: {message}")]
    NotJson { message: String },
    #[error("no schema_version")]
    MissingSchemaVersion,
    #[error("unknown schema_version {found} (this bot-bottle reads version {supported})")]
    UnknownSchemaVersion { found: String, supported: u32 },
    #[error("does not match the schema: {message}")]
    Invalid { message: String },
    #[error("carries id {in_file} but is named for {in_name}")]
    IdMismatch { in_file: String, in_name: String },
    #[error("not a queue file name (want <id>.proposal.json or <id>.response.json)")]
    UnexpectedName,
    #[error("a response with no proposal in this queue or in processed/")]
    OrphanResponse,
}

impl fmt::Display for BadEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// Everything that can go wrong with a queue operation.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("cannot {operation} {path}")]
    Io {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode {id} as JSON")]
    Encode {
        id: ProposalId,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    InvalidId(#[from] InvalidId),
    #[error(
        "invalid bottle name {name:?}: use letters, digits, '-', '_' and '.' (not starting with '.')"
    )]
    InvalidBottleName { name: String },
    #[error("cannot answer {id}")]
    Decision {
        id: ProposalId,
        #[source]
        source: DecisionError,
    },
    #[error("no proposal {query} in {}", list_paths(searched))]
    NotFound {
        query: String,
        searched: Vec<PathBuf>,
    },
    #[error("{prefix} matches {} proposals: {}; give more of the id", matches.len(), list_ids(matches))]
    Ambiguous {
        prefix: String,
        matches: Vec<ProposalId>,
    },
    #[error("proposal {id} was already answered{}", describe_answer(*decision, answered_by.as_deref()))]
    AlreadyAnswered {
        id: ProposalId,
        decision: Option<DecisionKind>,
        answered_by: Option<String>,
    },
    #[error("proposal {id} is already processed{}; there is nothing left to answer", describe_answer(*decision, answered_by.as_deref()))]
    AlreadyProcessed {
        id: ProposalId,
        decision: Option<DecisionKind>,
        answered_by: Option<String>,
    },
    #[error("proposal {id} has no response yet; only an answered proposal is archived")]
    NotAnswered { id: ProposalId },
    #[error("proposal file is bad: {0}")]
    BadProposal(BadEntry),
    #[error("response file is bad: {0}")]
    BadResponse(BadEntry),
    #[error("the response to {id} breaks the rules of its kind")]
    InvalidResponse {
        id: ProposalId,
        #[source]
        source: DecisionError,
    },
    #[error("no answer to {id} within {}s", waited.as_secs_f64())]
    Timeout { id: ProposalId, waited: Duration },
    #[error("proposal {id} disappeared from {} while waiting for its answer", dir.display())]
    Vanished { id: ProposalId, dir: PathBuf },
}

impl QueueError {
    pub(crate) fn io(
        operation: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            operation,
            path,
            source,
        }
    }
}

fn describe_answer(decision: Option<DecisionKind>, answered_by: Option<&str>) -> String {
    match (decision, answered_by) {
        (Some(decision), Some(by)) => format!(" ({decision} by {by})"),
        (Some(decision), None) => format!(" ({decision})"),
        (None, Some(by)) => format!(" (by {by})"),
        (None, None) => String::new(),
    }
}

fn list_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "any queue (none found)".to_string();
    }
    paths
        .iter()
        .map(|path| path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn list_ids(ids: &[ProposalId]) -> String {
    ids.iter()
        .map(ProposalId::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
