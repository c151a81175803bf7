//! git-gate: the git sidecar. It holds the upstream credentials, serves a
//! bare mirror of each repo to the agent over git smart HTTP, scans every
//! pushed commit for secrets, asks the operator about findings, and forwards
//! a push upstream only when it is clean or approved — the agent's push
//! succeeds only if upstream accepted it, so a push never half-lands.
//!
//! ```text
//! agent git ──HTTP──▶ server ──CGI──▶ git http-backend ──▶ mirror (bare)
//!                                        │ pre-receive (hook script)
//!                        receive ◀──FIFOs┘
//!                        ├─ policy   (push rules: refs, force, delete)
//!                        ├─ scan     (CommitScanner: each new commit alone)
//!                        ├─ approval (Approver: gitleaks-allow proposals)
//!                        └─ git push --atomic upstream (held credential)
//! ```
//!
//! Layout:
//! - `config`: the `--config` file (a manifest's `git-gate:` section), validated;
//! - `policy`: push rules and their safe defaults;
//! - `gitconfig`: the agent's `insteadOf` configuration, injection-proof;
//! - `server`: the listener, routing, the per-repo lock;
//! - `cgi`: `git http-backend` as CGI, header parsing;
//! - `daemon`: the git daemon protocol (git://), fetch only;
//! - `mirror`: mirrors, refreshes, upstream credentials;
//! - `hook`: the pre-receive hook script and its FIFO conversation;
//! - `push_request`: a push's command section, read before git sees it;
//! - `receive_memory`: the memory bound on the git receiving a push or
//!   fetching from upstream;
//! - `receive`: the decision for one push;
//! - `forward`: the push upstream, connected early, released when clean;
//! - `scan`: per-commit scanning behind [`CommitScanner`];
//! - `approval`: the operator seam, [`Approver`], [`QueueApprover`], and
//!   the bound on how many proposals the gate files ([`ProposalRate`]);
//! - `dlp`: the DLP engine behind [`CommitScanner`];
//! - `deploy_key`: deploy-key provisioning (Gitea);
//! - `git`: subprocesses with timeouts and a clean environment;
//! - `error`: [`GateError`].
//!
//! Linux only: the hook conversation opens FIFOs read-write.

pub mod approval;
pub mod cgi;
pub mod config;
pub mod daemon;
pub mod deploy_key;
pub mod dlp;
pub mod error;
pub mod forward;
pub mod git;
pub mod gitconfig;
pub mod hook;
pub mod mirror;
pub mod policy;
pub mod push_request;
pub mod receive;
pub mod receive_memory;
pub mod scan;
pub mod server;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use approval::{
    APPROVAL_POLL_INTERVAL, APPROVAL_TIMEOUT, Approver, Deciding, FindingReport,
    MAX_PROPOSALS_PER_WINDOW, NoApprover, PROPOSAL_RATE_WINDOW, ProposalRate, QueueApprover,
    Verdict,
};
pub use config::{Credential, GateFile, Repo, User};
pub use dlp::DlpScanner;
pub use error::{GateError, Result};
pub use receive_memory::{MAX_RECEIVE_PACK_DATA_BYTES, ReceiveMemory};
pub use scan::{CommitFinding, CommitScanner, ContentFinding, NoScanner, ScanLimits};
pub use server::{run, run_with_daemon};

/// Bound on one `git http-backend` run serving a fetch or advertisement.
pub const HTTP_BACKEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on a mirror refresh from upstream (`git fetch`, `git ls-remote`).
pub const UPSTREAM_FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on forwarding a push upstream (`git push`).
pub const UPSTREAM_PUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on each local git command (rev-list, log, config, …).
pub const LOCAL_GIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest pause allowed between two pieces of a request body from the
/// agent (a push's pack, a fetch's negotiation). A client that stops
/// sending mid-body has its run ended, so a stalled upload cannot keep one
/// of its repo's receive slots for the whole run's bound.
pub const REQUEST_BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A push is checked against a mirror refreshed from upstream at most this
/// long before the check (its own advertisement's refresh, as a rule).
/// An older mirror is refreshed first, and the push refused if
/// upstream cannot be reached: a commit upstream dropped since (a secret
/// cleaned out of its history) is then new again and scanned, never
/// "already upstream" by a stale mirror ref.
pub const PUSH_MIRROR_MAX_AGE: Duration = Duration::from_secs(10);

/// Every timeout the gate uses; [`Timeouts::default`] has the constants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    pub http_backend: Duration,
    pub upstream_fetch: Duration,
    pub upstream_push: Duration,
    pub local_git: Duration,
    /// How long a push with findings waits for the operator.
    pub approval: Duration,
    /// Longest pause between two pieces of a request body.
    pub request_body_idle: Duration,
    /// Oldest mirror a push is checked against without a refresh first.
    pub push_mirror_max_age: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            http_backend: HTTP_BACKEND_TIMEOUT,
            upstream_fetch: UPSTREAM_FETCH_TIMEOUT,
            upstream_push: UPSTREAM_PUSH_TIMEOUT,
            local_git: LOCAL_GIT_TIMEOUT,
            approval: APPROVAL_TIMEOUT,
            request_body_idle: REQUEST_BODY_IDLE_TIMEOUT,
            push_mirror_max_age: PUSH_MIRROR_MAX_AGE,
        }
    }
}

impl Timeouts {
    /// Bound on a whole receive-pack run: receiving, scanning (a few local
    /// git commands), waiting for the operator and pushing upstream.
    pub fn receive_pack(&self) -> Duration {
        self.http_backend + self.local_git * 4 + self.approval + self.upstream_push
    }
}

/// Everything [`run`] needs.
pub struct Config {
    /// `--state`: mirrors, hook sessions, known hosts.
    pub state_dir: PathBuf,
    pub repos: Vec<Repo>,
    /// The secret detectors.
    pub scanner: Arc<dyn CommitScanner>,
    /// The operator.
    pub approver: Arc<dyn Approver>,
    pub timeouts: Timeouts,
    /// The scan's memory and work bounds.
    pub scan_limits: ScanLimits,
    /// The memory bound on the git processes receiving a push, and on
    /// those fetching from upstream into the mirror.
    pub receive_memory: ReceiveMemory,
    /// How many proposals the gate may file in what time, over all repos.
    pub proposal_rate: ProposalRate,
}
