//! Running git (and other) subprocesses with a timeout and a controlled
//! environment.
//!
//! Every git the gate starts gets a clean environment: `PATH` and `HOME`
//! only, no global or system config (`GIT_CONFIG_NOSYSTEM`,
//! `GIT_CONFIG_GLOBAL=/dev/null`), no terminal prompts, and only the
//! transports an upstream may use (`GIT_ALLOW_PROTOCOL`, so no `ext::`),
//! and no `refs/replace/*` (`GIT_NO_REPLACE_OBJECTS`: a pushed replace ref
//! would otherwise show the scan a clean object in place of the one pushed).
//! Callers add the repository, the quarantine and the upstream credential.
//! The child is killed when the timeout expires (or the caller goes away).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::error::{GateError, Result};

/// The transports git may use for upstream traffic.
pub const GIT_ALLOW_PROTOCOL: &str = "file:git:http:https:ssh";
/// The most stderr bytes quoted in an error.
pub const MAX_ERROR_STDERR_BYTES: usize = 4096;

/// A command line to run: program, arguments, environment.
#[derive(Clone)]
pub struct Invocation {
    program: String,
    args: Vec<OsString>,
    env: BTreeMap<String, OsString>,
    description: String,
    /// Run in a process group of its own, killed whole on the timeout or
    /// when the caller goes away ([`Invocation::own_group`]).
    group: bool,
}

impl std::fmt::Debug for Invocation {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.description)
    }
}

/// What a finished subprocess printed.
#[derive(Debug)]
pub struct Output {
    pub success: bool,
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    pub status: String,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Invocation {
    /// `git <args>` in a clean environment.
    pub fn git<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let description = format!(
            "git {}",
            args.iter()
                .take(2)
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut env = BTreeMap::new();
        env.insert("GIT_CONFIG_NOSYSTEM".to_string(), "1".into());
        env.insert("GIT_CONFIG_GLOBAL".to_string(), "/dev/null".into());
        env.insert("GIT_TERMINAL_PROMPT".to_string(), "0".into());
        env.insert("GIT_ALLOW_PROTOCOL".to_string(), GIT_ALLOW_PROTOCOL.into());
        // `refs/replace/*` is pushable when a repo's rules allow it: a
        // replace ref must never make the scan read other objects than
        // the ones `git push` sends.
        env.insert("GIT_NO_REPLACE_OBJECTS".to_string(), "1".into());
        Self {
            program: "git".to_string(),
            args,
            env,
            description,
            group: false,
        }
    }

    /// Another program (`ssh-keygen`) in a clean environment.
    pub fn program<I, S>(program: &str, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Self {
            program: program.to_string(),
            args: args.into_iter().map(Into::into).collect(),
            env: BTreeMap::new(),
            description: program.to_string(),
            group: false,
        }
    }

    /// Run inside this git directory.
    pub fn git_dir(self, path: &Path) -> Self {
        self.env("GIT_DIR", path.as_os_str())
    }

    /// Add a variable.
    pub fn env(mut self, name: &str, value: impl Into<OsString>) -> Self {
        self.env.insert(name.to_string(), value.into());
        self
    }

    /// Add several variables.
    pub fn envs(mut self, vars: &[(String, OsString)]) -> Self {
        for (name, value) in vars {
            self.env.insert(name.clone(), value.clone());
        }
        self
    }

    /// Run in a process group of its own, and kill the whole group (not
    /// only the program) on the timeout or when the caller goes away: a
    /// `git push` leaves its transport (`pack-objects`, a remote helper, a
    /// local `receive-pack`, ssh) running when only it is killed.
    pub fn own_group(mut self) -> Self {
        self.group = true;
        self
    }

    /// The short description used in errors and logs (`git fetch --prune`).
    pub fn description(&self) -> &str {
        &self.description
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args).env_clear();
        for name in ["PATH", "HOME"] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        command.envs(&self.env).kill_on_drop(true);
        if self.group {
            command.process_group(0);
        }
        command
    }

    /// Run to completion with `stdin` as input, bounded by `timeout`.
    pub async fn output(&self, stdin: &[u8], timeout: Duration) -> Result<Output> {
        let mut command = self.command();
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| GateError::Spawn {
            command: self.description.clone(),
            source,
        })?;
        // Armed until the program has exited on its own.
        let mut group = GroupKill(
            self.group
                .then(|| child.id())
                .flatten()
                .and_then(|id| rustix::process::Pid::from_raw(id as i32)),
        );
        let input = stdin.to_vec();
        let mut pipe = child.stdin.take();
        let run = async move {
            if let Some(pipe) = pipe.as_mut() {
                // A program that exits without reading all of stdin is fine.
                let _ = pipe.write_all(&input).await;
            }
            drop(pipe);
            child.wait_with_output().await
        };
        let output = within(&self.description, timeout, run).await?;
        group.0 = None;
        Ok(Output {
            success: output.status.success(),
            code: output.status.code(),
            status: output.status.to_string(),
            stdout: output.stdout,
            stderr: output.stderr,
        })
    }

    /// Run; a non-zero exit is [`GateError::CommandFailed`] with stderr.
    pub async fn checked(&self, stdin: &[u8], timeout: Duration) -> Result<Vec<u8>> {
        let output = self.output(stdin, timeout).await?;
        if output.success {
            Ok(output.stdout)
        } else {
            Err(GateError::CommandFailed {
                command: self.description.clone(),
                status: output.status,
                stderr: stderr_excerpt(&output.stderr),
            })
        }
    }

    /// Spawn with piped stdin/stdout for a long-lived helper
    /// (`git cat-file --batch`). The caller bounds its use.
    pub fn spawn_piped(&self) -> Result<tokio::process::Child> {
        let mut command = self.command();
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        command.spawn().map_err(|source| GateError::Spawn {
            command: self.description.clone(),
            source,
        })
    }
}

/// Size of each read from a [`Streaming`] process's stdout.
pub const STREAM_READ_CHUNK_BYTES: usize = 64 * 1024;

/// A process whose stdout is read as it comes (`git log` of a large push):
/// stdin is written by a task, stderr kept (bounded) by another. Each read
/// and the final wait are bounded by the caller's timeout; dropping it
/// kills the process.
pub struct Streaming {
    child: tokio::process::Child,
    stdout: tokio::process::ChildStdout,
    writer: tokio::task::JoinHandle<()>,
    stderr: tokio::task::JoinHandle<Vec<u8>>,
    description: String,
}

impl Drop for Streaming {
    fn drop(&mut self) {
        self.writer.abort();
        self.stderr.abort();
    }
}

impl Streaming {
    /// Spawn `invocation` and start writing `input` to its stdin.
    pub fn start(invocation: Invocation, input: Vec<u8>) -> Result<Self> {
        let mut command = invocation.command();
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let description = invocation.description.clone();
        let mut child = command.spawn().map_err(|source| GateError::Spawn {
            command: description.clone(),
            source,
        })?;
        let (Some(mut stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(GateError::UnexpectedOutput {
                command: description,
                detail: "no pipes".into(),
            });
        };
        let writer = tokio::spawn(async move {
            // A program that exits without reading all of stdin is fine.
            let _ = stdin.write_all(&input).await;
            let _ = stdin.shutdown().await;
        });
        let stderr = tokio::spawn(async move {
            let mut kept = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(read) = stderr.read(&mut chunk).await {
                if read == 0 {
                    break;
                }
                let room = MAX_ERROR_STDERR_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..read.min(room)]);
            }
            kept
        });
        Ok(Self {
            child,
            stdout,
            writer,
            stderr,
            description,
        })
    }

    /// The next bytes of stdout, `None` at its end.
    pub async fn read(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        let mut chunk = vec![0u8; STREAM_READ_CHUNK_BYTES];
        let read = within(&self.description, timeout, self.stdout.read(&mut chunk)).await?;
        if read == 0 {
            return Ok(None);
        }
        chunk.truncate(read);
        Ok(Some(chunk))
    }

    /// Wait for the exit; a non-zero exit is [`GateError::CommandFailed`].
    pub async fn finish(mut self, timeout: Duration) -> Result<()> {
        let status = within(&self.description, timeout, self.child.wait()).await?;
        if status.success() {
            return Ok(());
        }
        let stderr = tokio::time::timeout(timeout, &mut self.stderr)
            .await
            .ok()
            .and_then(|joined| joined.ok())
            .unwrap_or_default();
        Err(GateError::CommandFailed {
            command: self.description.clone(),
            status: status.to_string(),
            stderr: stderr_excerpt(&stderr),
        })
    }
}

/// The first [`MAX_ERROR_STDERR_BYTES`] of stderr, trimmed, lossy UTF-8.
pub fn stderr_excerpt(stderr: &[u8]) -> String {
    let cut = &stderr[..stderr.len().min(MAX_ERROR_STDERR_BYTES)];
    String::from_utf8_lossy(cut).trim().to_string()
}

/// The all-zero object id git uses for "no object" (SHA-1 or SHA-256 length).
pub fn is_null_oid(oid: &str) -> bool {
    !oid.is_empty() && oid.bytes().all(|byte| byte == b'0')
}

/// Whether `oid` looks like a full hex object id.
pub fn is_oid(oid: &str) -> bool {
    (oid.len() == 40 || oid.len() == 64) && oid.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// Kills a process group when dropped, if still armed.
struct GroupKill(Option<rustix::process::Pid>);

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(group) = self.0.take()
            && let Err(error) =
                rustix::process::kill_process_group(group, rustix::process::Signal::KILL)
            && error != rustix::io::Errno::SRCH
        {
            tracing::warn!(error = %error, "cannot kill a git process group");
        }
    }
}

/// `work` bounded by `timeout`: a timeout or an I/O error names `command`.
async fn within<T>(
    command: &str,
    timeout: Duration,
    work: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T> {
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| GateError::Timeout {
            command: command.to_string(),
            timeout,
        })?
        .map_err(|source| GateError::Io {
            command: command.to_string(),
            source,
        })
}
