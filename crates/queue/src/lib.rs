//! The proposal queue: the file protocol between the sidecars of a bottle
//! and the operator.
//!
//! A sidecar that needs a human decision (egress holding a request with a
//! token in it, git-gate holding a push with a secret in it, the supervise
//! MCP server relaying the agent's request for a route or its "I am stuck")
//! files a *proposal*; the operator answers it with a *response*, in the TUI
//! or with `bot-bottle proposals`. The queue is plain files in a directory
//! because the two sides run in different places — a container or microVM
//! and the host — and share nothing but a mount.
//!
//! # Layout
//!
//! One directory per bottle (`<state>/queues/<bottle>/` on the host, see
//! [`layout`]), mounted into that bottle's sidecars:
//!
//! ```text
//! <queue>/
//!   <id>.proposal.json      filed by a sidecar
//!   <id>.response.json      the operator's answer
//!   .tmp-*                  writes in flight; every reader skips them
//!   processed/
//!     <id>.proposal.json    archived by the sidecar that acted
//!     <id>.response.json
//! ```
//!
//! Ids sort by time and are unique across processes ([`ProposalId`]). Every
//! file is JSON with a `schema_version` ([`SCHEMA_VERSION`]); a file with an
//! unknown version, a malformed file, or a file with an unexpected name is
//! reported as a [`BadEntry`] (and logged with `tracing::warn!`) next to the
//! good entries — never a crash, never silently dropped.
//!
//! # Who does each step
//!
//! | step | who | how |
//! |---|---|---|
//! | file a proposal | the sidecar that needs the decision ([`ProposalKind::actor`]) | [`Queue::submit`]: temp file, fsync, rename, fsync dir |
//! | answer it | the operator (TUI, `proposals` CLI) | [`Queue::answer`]: temp file, fsync, **no-clobber** link, fsync dir — the first answer wins, a second gets [`QueueError::AlreadyAnswered`] |
//! | give up waiting | the filing sidecar | [`Queue::expire`]: writes an `expired` response no-clobber (an operator answer that landed first wins) |
//! | read the answer | the filing sidecar | [`Queue::wait_for_response`] (notifications + polling, with a timeout) |
//! | act on it | the filing sidecar | its own business: rewrite the routes file, let the request or push through, relay the words |
//! | archive | the filing sidecar, **after** acting | [`Queue::archive`]: move the proposal into `processed/`, then the response |
//! | recover after a restart | the filing sidecar, first thing | [`Queue::recover`]: finish interrupted archives, return what is answered but not acted on |
//! | remove stale temp files | anyone; `recover` does it | [`Queue::sweep_stale_temps`] |
//!
//! The operator never archives: the seed once archived `gitleaks-allow` from
//! the TUI right after answering, and git-gate, which polls for the
//! response, never saw it.
//!
//! # Crashes
//!
//! A write is atomic (the final name appears complete or not at all), so a
//! crash before the rename leaves only a `.tmp-` file that readers skip and
//! [`Queue::sweep_stale_temps`] removes. A crash after the response lands
//! and before the archive leaves the pair in the queue; on restart
//! [`Queue::recover`] returns it in [`Recovery::answered`] and the actor acts
//! and archives. Acting must therefore be idempotent per proposal id (a
//! crash between acting and archiving repeats the act once): record the id
//! in the same atomic write that applies the change (the routes file lists
//! the ids it applied), or act on in-memory state that a restart clears.
//! The archive moves the proposal first — from then on nobody can answer
//! it — then the response; a crash in between is finished by
//! [`Queue::recover`] without acting again. Each of these is tested by
//! killing a real child process at a [`Failpoint`].
//!
//! # A sidecar's side, in full
//!
//! ```
//! use std::time::Duration;
//! use bot_bottle_queue::{Actor, Decision, Payload, CapabilityBlock, Queue, QueueError};
//!
//! # fn main() -> Result<(), QueueError> {
//! # let dir = tempfile::tempdir().map_err(|e| QueueError::Io { operation: "t", path: ".".into(), source: e })?;
//! let queue = Queue::create(dir.path())?;
//! // At start: finish what a crash interrupted.
//! for answered in queue.recover(Actor::Supervise)?.answered {
//!     // act on answered.response (idempotently), then:
//!     queue.archive(&answered.proposal.id)?;
//! }
//! let proposal = queue.propose("dev", Payload::CapabilityBlock(CapabilityBlock {
//!     text: "I need a database".into(),
//! }))?;
//! # queue.answer(&proposal.id, Decision::Answer { text: "use sqlite".into() }, None, None)?;
//! let response = match queue.wait_for_response(&proposal.id, Duration::from_secs(300)) {
//!     Ok(response) => response,
//!     Err(QueueError::Timeout { .. }) => queue.expire(&proposal.id, "no answer in 300 s", Actor::Supervise)?,
//!     // A malformed or rule-breaking response: refuse (fail closed), report, archive.
//!     Err(error) => return Err(error),
//! };
//! // ... act on `response.decision` ...
//! queue.archive(&proposal.id)?;
//! # assert!(matches!(response.decision, Decision::Answer { .. }));
//! # Ok(())
//! # }
//! ```
//!
//! # Modules
//!
//! - `model`: kinds, payloads, decisions and their rules.
//! - `store`: one queue directory — writes, listing, answer, archive, recover.
//! - `wait`: waiting for an answer (blocking, woken by file notifications).
//! - `wait_async` (feature `tokio`): waiting from async code, holding no thread.
//! - `id`, `time`: sortable unique ids, UTC timestamps.
//! - `failpoint`: hooks for crash tests.
//! - `layout`: where each bottle's queue lives.
//! - `error`: [`QueueError`] and [`BadEntry`].

pub mod error;
pub mod failpoint;
pub mod id;
pub mod layout;
pub mod model;
pub mod store;
pub mod time;
pub mod wait;
#[cfg(feature = "tokio")]
pub mod wait_async;

pub use error::{BadEntry, BadReason, QueueError};
pub use failpoint::{Failpoint, Failpoints};
pub use id::{InvalidId, ProposalId};
pub use layout::{bottle_queue_dir, discover_queues};
pub use model::{
    Actor, CapabilityBlock, Decision, DecisionError, DecisionKind, EgressAllow, EgressBlock,
    EgressTokenAllow, GitleaksAllow, Payload, Proposal, ProposalKind, Response, SCHEMA_VERSION,
};
pub use store::{
    Answered, Entry, EntryState, Listing, Notifications, Queue, QueueOptions, Recovery,
    ResponseFile, STALE_TEMP_AGE, Scope, find, list_queues,
};
pub use time::Timestamp;
pub use wait::{POLL_INTERVAL, WaitMode};
#[cfg(feature = "tokio")]
pub use wait_async::Expiry;
