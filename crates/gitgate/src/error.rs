//! The gate's error type.
//!
//! One enum for the crate: configuration problems (refused at start-up, the
//! CLI maps them to exit code 64), git subprocess failures and timeouts, and
//! deploy-key provisioning errors. Every variant names the repo, path,
//! command or URL involved and keeps its `#[source]`. Errors met while
//! serving a request never reach the agent verbatim: `server` turns them into
//! a short HTTP answer and logs the rest.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything that can go wrong in the gate.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("cannot read the git-gate config {path}")]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the git-gate config {path} is not valid YAML for a `git-gate:` section: {message}")]
    ParseConfig { path: PathBuf, message: String },
    #[error("git-gate config: {message}")]
    InvalidConfig { message: String },
    #[error("repo `{repo}`: the variable {variable} (token_env) is not set or empty")]
    MissingToken { repo: String, variable: String },
    #[error("--upstream-ca {path}: {reason}")]
    UpstreamCa { path: PathBuf, reason: String },
    #[error("cannot prepare {path}")]
    State {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` did not finish within {}s", timeout.as_secs())]
    Timeout { command: String, timeout: Duration },
    #[error("`{command}` failed ({status}): {stderr}")]
    CommandFailed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("`{command}` printed more than the {limit} bytes the gate reads from it")]
    OutputTooLarge { command: String, limit: usize },
    #[error("`{command}` printed something unexpected: {detail}")]
    UnexpectedOutput { command: String, detail: String },
    #[error("I/O with `{command}`")]
    Io {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("refusing to push to {name:?}: not a valid ref name ({reason})")]
    InvalidRefName { name: String, reason: String },
    #[error(
        "the git hook {path} cannot be run ({reason}); git would skip it, and pushes would land in the mirror unchecked or go upstream before the checks. Is the state directory on a noexec mount? Put --state on a filesystem that allows executing files"
    )]
    HookNotRunnable { path: PathBuf, reason: String },
    #[error("cannot read the listening address")]
    LocalAddress(#[source] std::io::Error),
    #[error("a gitconfig value is refused ({field}): {reason}")]
    UnsafeGitconfigValue { field: String, reason: String },
    #[error(
        "a deploy key titled `{title}` (or with the same public key) already exists on {repo}: pick another --title or remove the old key"
    )]
    DeployKeyCollision { repo: String, title: String },
    #[error("the forge API at {url} answered {status}: {body}")]
    ForgeApi {
        url: String,
        status: u16,
        body: String,
    },
    #[error("cannot reach the forge API at {url}: {message}")]
    ForgeUnreachable { url: String, message: String },
    #[error("the forge API at {url} did not answer within {}s", timeout.as_secs())]
    ForgeTimeout { url: String, timeout: Duration },
}

impl GateError {
    /// Whether the error is a configuration problem (exit code 64 in the CLI).
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            Self::ReadConfig { .. }
                | Self::ParseConfig { .. }
                | Self::InvalidConfig { .. }
                | Self::MissingToken { .. }
                | Self::UpstreamCa { .. }
        )
    }
}

/// A `map_err` for I/O on the gate's own state at `path`.
pub(crate) fn state_error(path: &Path) -> impl FnOnce(std::io::Error) -> GateError {
    let path = path.to_path_buf();
    move |source| GateError::State { path, source }
}

/// The crate's result type.
pub type Result<T, E = GateError> = std::result::Result<T, E>;
