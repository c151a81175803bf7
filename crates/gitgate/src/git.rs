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
//!
//! A git that takes in what upstream sends (the mirror's `git fetch`,
//! `git ls-remote`) runs under the memory bound of receiving git
//! ([`Invocation::memory_bound`]: `RLIMIT_DATA` set by `sh`'s `ulimit -d`
//! before git starts, `pack.threads` fixed; see [`crate::receive_memory`]),
//! and a listing read whole into the gate can be capped
//! ([`Invocation::max_stdout`]). Of any command's stderr, the gate keeps
//! the first [`MAX_KEPT_STDERR_BYTES`] and reads the rest away: a hostile
//! upstream's `remote:` messages must not pile up in its memory either.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::error::{GateError, Result};
use crate::receive_memory::ReceiveMemory;

/// The transports git may use for upstream traffic.
pub const GIT_ALLOW_PROTOCOL: &str = "file:git:http:https:ssh";
/// The most stderr bytes quoted in an error.
pub const MAX_ERROR_STDERR_BYTES: usize = 4096;
/// The most stderr bytes of a finished command the gate keeps
/// ([`Invocation::output`]); the rest is read and dropped.
pub const MAX_KEPT_STDERR_BYTES: usize = 64 * 1024;

/// The `sh -c` script of [`Invocation::memory_bound`]: `$1` is the limit
/// in KiB, the rest the command line, run by `exec` as it is. Nothing
/// else is ever part of the script's text.
pub const MEMORY_BOUND_SCRIPT: &str = "ulimit -d \"$1\" && shift && exec \"$@\"";

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
    /// `RLIMIT_DATA` in KiB, set before the program starts
    /// ([`Invocation::memory_bound`]).
    data_limit_kib: Option<u64>,
    /// The most stdout bytes [`Invocation::output`] takes
    /// ([`Invocation::max_stdout`]).
    max_stdout: Option<usize>,
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
            data_limit_kib: None,
            max_stdout: None,
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
            data_limit_kib: None,
            max_stdout: None,
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

    /// Run under `limit`, as git receiving a push does
    /// ([`crate::receive_memory`]): the program is started by
    /// `sh -c` [`MEMORY_BOUND_SCRIPT`] `sh KIB PROGRAM ARGS…`, whose
    /// `ulimit -d` sets `RLIMIT_DATA` ([`ReceiveMemory::ulimit_kib`]) for
    /// it and everything it starts (`index-pack`, `unpack-objects`, a
    /// remote helper) before `exec`; a limit that cannot be set fails the
    /// command, nothing runs. The command line is passed as arguments,
    /// never as script text. A git also gets `-c pack.threads=N`
    /// ([`ReceiveMemory::threads`]), so what `index-pack` needs does not
    /// grow with the host's cores (a `-c` reaches the git commands it
    /// starts, and leaves `GIT_CONFIG_COUNT` to the credential).
    pub fn memory_bound(mut self, limit: &ReceiveMemory) -> Self {
        if self.program == "git" {
            self.args.splice(
                0..0,
                [
                    OsString::from("-c"),
                    format!("pack.threads={}", limit.threads).into(),
                ],
            );
        }
        self.data_limit_kib = Some(limit.ulimit_kib());
        self
    }

    /// Take at most `bytes` of stdout in [`Invocation::output`] (and
    /// [`Invocation::checked`]): past them the command is killed and the
    /// run is [`GateError::OutputTooLarge`]. For a listing whose size
    /// upstream decides (`git ls-remote`), read whole into the gate.
    pub fn max_stdout(mut self, bytes: usize) -> Self {
        self.max_stdout = Some(bytes);
        self
    }

    /// The short description used in errors and logs (`git fetch --prune`).
    pub fn description(&self) -> &str {
        &self.description
    }

    fn command(&self) -> Command {
        let mut command = match self.data_limit_kib {
            None => Command::new(&self.program),
            Some(kib) => {
                let mut command = Command::new("sh");
                command
                    .args(["-c", MEMORY_BOUND_SCRIPT, "sh"])
                    .arg(kib.to_string())
                    .arg(&self.program);
                command
            }
        };
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

    /// Run to completion with `stdin` as input, bounded by `timeout`:
    /// stdin is written while stdout and stderr are read (the first
    /// [`MAX_KEPT_STDERR_BYTES`] of it kept), stdout up to
    /// [`Invocation::max_stdout`].
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
        let stdin_pipe = child.stdin.take();
        let stdout_pipe = child.stdout.take();
        let stderr_pipe = child.stderr.take();
        let max_stdout = self.max_stdout;
        let group_id = group.0;
        let run = async move {
            let write = async move {
                if let Some(mut pipe) = stdin_pipe {
                    // A program that exits without reading all of stdin
                    // is fine.
                    let _ = pipe.write_all(&input).await;
                }
            };
            let read = async {
                let read = read_stdout(stdout_pipe, max_stdout).await;
                if matches!(read, Ok((_, true))) {
                    // Over the bound: end it now rather than wait for an
                    // exit it may never reach while nobody reads.
                    let _ = child.start_kill();
                    if let Some(group) = group_id {
                        let _ = rustix::process::kill_process_group(
                            group,
                            rustix::process::Signal::KILL,
                        );
                    }
                }
                read
            };
            let ((), stdout, stderr) = tokio::join!(write, read, read_kept(stderr_pipe));
            let status = child.wait().await?;
            Ok::<_, std::io::Error>((status, stdout?, stderr?))
        };
        let (status, (stdout, over), stderr) = within(&self.description, timeout, run).await?;
        group.0 = None;
        if over {
            return Err(GateError::OutputTooLarge {
                command: self.description.clone(),
                limit: max_stdout.unwrap_or_default(),
            });
        }
        Ok(Output {
            success: status.success(),
            code: status.code(),
            status: status.to_string(),
            stdout,
            stderr,
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

/// All of `pipe`, or with a `limit` at most that many bytes and whether
/// there was more.
async fn read_stdout(
    pipe: Option<tokio::process::ChildStdout>,
    limit: Option<usize>,
) -> std::io::Result<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    let Some(pipe) = pipe else {
        return Ok((out, false));
    };
    match limit {
        None => {
            let mut pipe = pipe;
            pipe.read_to_end(&mut out).await?;
            Ok((out, false))
        }
        Some(limit) => {
            let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
            pipe.take(cap).read_to_end(&mut out).await?;
            let over = out.len() > limit;
            out.truncate(limit);
            Ok((out, over))
        }
    }
}

/// The first [`MAX_KEPT_STDERR_BYTES`] of `pipe`, the rest read to its end
/// and dropped.
async fn read_kept(pipe: Option<tokio::process::ChildStderr>) -> std::io::Result<Vec<u8>> {
    let mut kept = Vec::new();
    let Some(mut pipe) = pipe else {
        return Ok(kept);
    };
    let mut chunk = vec![0u8; 8192];
    loop {
        let read = pipe.read(&mut chunk).await?;
        if read == 0 {
            return Ok(kept);
        }
        let room = MAX_KEPT_STDERR_BYTES.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..read.min(room)]);
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

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(10);

    fn limit(data_bytes: u64, threads: u32) -> ReceiveMemory {
        ReceiveMemory {
            data_bytes,
            threads,
        }
    }

    #[tokio::test]
    async fn the_memory_bound_is_set_before_the_program_runs() {
        let bound = limit(64 * 1024 * 1024, 3);
        let shown = Invocation::program("sh", ["-c", "ulimit -d"])
            .memory_bound(&bound)
            .checked(b"", SECOND)
            .await
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&shown).trim(), "65536");
        let threads = Invocation::git(["config", "pack.threads"])
            .memory_bound(&bound)
            .checked(b"", SECOND)
            .await
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&threads).trim(), "3");
    }

    #[tokio::test]
    async fn the_bound_command_line_never_reaches_the_script_text() {
        let hostile = "x'; echo owned; '\" $(echo owned) `echo owned` $1 \"$@\" ; exit 3";
        let printed = Invocation::program("printf", ["%s|", hostile, "", "-c"])
            .memory_bound(&limit(1 << 30, 1))
            .checked(b"", SECOND)
            .await
            .unwrap();
        assert_eq!(printed, format!("{hostile}||-c|").into_bytes());
    }

    #[tokio::test]
    async fn stdout_past_its_cap_kills_the_command() {
        let endless = Invocation::program("yes", Vec::<OsString>::new())
            .max_stdout(100_000)
            .output(b"", SECOND)
            .await;
        assert!(
            matches!(
                endless,
                Err(GateError::OutputTooLarge { limit: 100_000, .. })
            ),
            "{endless:?}"
        );
        let exact = Invocation::program("printf", ["abc"])
            .max_stdout(3)
            .checked(b"", SECOND)
            .await
            .unwrap();
        assert_eq!(exact, b"abc");
    }

    #[tokio::test]
    async fn only_the_first_of_stderr_is_kept() {
        let run = Invocation::program("sh", ["-c", "head -c 1000000 /dev/zero >&2; cat"])
            .output(b"after", SECOND)
            .await
            .unwrap();
        assert!(run.success);
        assert_eq!(run.stderr.len(), MAX_KEPT_STDERR_BYTES);
        assert_eq!(run.stdout, b"after");
    }
}
