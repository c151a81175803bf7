//! The bare mirror per repo, and talking to its upstream with the held
//! credential.
//!
//! Mirrors live at `<state>/mirrors/<name>.git`. On start-up each is created
//! if missing, configured (`http.receivepack` so http-backend accepts
//! pushes, `receive.fsckObjects` so a malformed object is refused,
//! `receive.maxInputSize` ([`MAX_PUSH_PACK_BYTES`]) so a huge pack is
//! refused while it is received,
//! `receive.autogc` off because each refresh's fetch runs the automatic
//! maintenance instead, `receive.denyDeleteCurrent` ignored because the
//! repo's rules decide deletions before upstream is asked) and gets
//! the gate's pre-receive hook ([`crate::hook::HOOK_SCRIPT`]). Before a
//! fetch, clone or push is served the mirror is refreshed from upstream
//! (`+refs/heads/*` and `+refs/tags/*`, pruned), bounded by
//! [`crate::Timeouts::upstream_fetch`]; when upstream is unreachable the
//! mirror is served as it is and a warning is logged. A ref whose name is
//! over the gate's bounds ([`crate::policy::check_ref_length`]; upstream
//! may hold one the mirror's files ref store cannot) is left out, listed
//! in the mirror's [`SKIPPED_REFS_FILE`] and logged, and every other ref
//! is refreshed as usual (see [`refresh`]).
//!
//! Every git that takes in what upstream sends (each `git fetch`, and
//! `git ls-remote`) runs under the memory bound of receiving git
//! ([`Invocation::memory_bound`], [`crate::receive_memory`]): a hostile
//! upstream's delta bomb or flood of refs runs git out of its
//! `RLIMIT_DATA`, the fetch fails, and the refresh fails as an
//! unreachable upstream's does (the mirror is served as it was). Those
//! commands run in a process group of their own, killed whole on their
//! timeout, and a listing `git ls-remote` prints is read into the gate up
//! to [`MAX_UPSTREAM_LISTING_BYTES`].
//!
//! Credentials never touch the disk the agent can reach, and never a
//! command line: a token goes in `GIT_CONFIG_*` environment variables as an
//! `http.<scheme://host>/.extraHeader` scoped to the upstream's host; a
//! deploy key is named in `GIT_SSH_COMMAND` with `IdentitiesOnly=yes`,
//! `StrictHostKeyChecking=accept-new` and a known-hosts file in the state
//! directory.
//!
//! Extra roots for HTTPS upstreams (a self-hosted forge behind a private
//! CA; `sidecar git-gate --upstream-ca PEM`) go in one bundle at
//! [`upstream_ca_path`] in the state directory, the system roots first, and
//! every upstream git command is pointed at it (`GIT_SSL_CAINFO`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use base64::Engine;

use crate::Timeouts;
use crate::config::{Credential, Repo};
use crate::error::{GateError, Result, state_error};
use crate::git::{Invocation, stderr_excerpt};
use crate::hook::HOOK_SCRIPT;
use crate::policy::{check_ref_format, check_ref_length};
use crate::receive_memory::ReceiveMemory;

/// The largest pack a push may send (`receive.maxInputSize` on each
/// mirror): git refuses a bigger one while receiving it, before it is
/// stored or scanned. A pack is what the push brings, compressed, so one
/// this large brings more than [`crate::scan::MAX_SCANNED_BYTES_PER_PUSH`]
/// to scan, which is refused anyway.
pub const MAX_PUSH_PACK_BYTES: u64 = crate::scan::MAX_SCANNED_BYTES_PER_PUSH;

/// The most bytes of a `git ls-remote` listing of upstream's refs the gate
/// reads (some 600,000 refs); past them the command is killed and the
/// refresh (or settle) fails.
pub const MAX_UPSTREAM_LISTING_BYTES: usize = 64 * 1024 * 1024;

/// A git command taking in what `mirror`'s upstream sends: with the
/// upstream's `credentials`, under the `memory` bound, in a process group
/// of its own (so a timeout kills `index-pack` or a remote helper too).
fn upstream_git<I, S>(
    args: I,
    mirror: &Path,
    credentials: &[(String, OsString)],
    memory: &ReceiveMemory,
) -> Invocation
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    Invocation::git(args)
        .git_dir(mirror)
        .envs(credentials)
        .memory_bound(memory)
        .own_group()
}

/// Seconds ssh waits for the TCP connection (the whole command is still
/// bounded by the fetch/push timeout).
pub const SSH_CONNECT_TIMEOUT_SECS: u64 = 10;

/// Where a repo's mirror lives.
pub fn mirror_path(state: &Path, name: &str) -> PathBuf {
    state.join("mirrors").join(format!("{name}.git"))
}

/// Where the bundle of roots trusted for HTTPS upstreams lives, when extra
/// roots were given (see [`install_upstream_ca`]).
pub fn upstream_ca_path(state: &Path) -> PathBuf {
    state.join("upstream-ca.pem")
}

/// The system's roots, read into the bundle ahead of the extra ones (git's
/// `GIT_SSL_CAINFO` replaces them, it does not add to them).
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Write the bundle of roots for HTTPS upstreams: the system's
/// ([`SYSTEM_CA_BUNDLE`], when present) and each of `extra` (PEM files, each
/// holding at least one certificate). With no extra roots, an old bundle
/// is removed, so upstreams are checked against the system roots only.
pub fn install_upstream_ca(state: &Path, extra: &[PathBuf]) -> Result<()> {
    let bundle_path = upstream_ca_path(state);
    if extra.is_empty() {
        return match std::fs::remove_file(&bundle_path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(state_error(&bundle_path)(error))
            }
            _ => Ok(()),
        };
    }
    let mut bundle = std::fs::read_to_string(SYSTEM_CA_BUNDLE).unwrap_or_default();
    for path in extra {
        let text = std::fs::read_to_string(path).map_err(|source| GateError::UpstreamCa {
            path: path.clone(),
            reason: source.to_string(),
        })?;
        if !text.contains("-----BEGIN CERTIFICATE-----") {
            return Err(GateError::UpstreamCa {
                path: path.clone(),
                reason: "it holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)".into(),
            });
        }
        if !bundle.is_empty() && !bundle.ends_with('\n') {
            bundle.push('\n');
        }
        bundle.push_str(&text);
    }
    std::fs::create_dir_all(state).map_err(state_error(state))?;
    std::fs::write(&bundle_path, bundle).map_err(state_error(&bundle_path))
}

/// The environment that carries `repo`'s credential (and the roots for an
/// HTTPS upstream, when extra ones were installed) to an upstream git
/// command.
pub fn credential_env(repo: &Repo, state: &Path) -> Vec<(String, OsString)> {
    let mut env = credential_only_env(repo, state);
    let bundle = upstream_ca_path(state);
    if bundle.is_file() {
        env.push(("GIT_SSL_CAINFO".to_string(), bundle.into_os_string()));
    }
    env
}

fn credential_only_env(repo: &Repo, state: &Path) -> Vec<(String, OsString)> {
    match &repo.credential {
        Credential::None => Vec::new(),
        Credential::Token(token) => {
            let basic = base64::engine::general_purpose::STANDARD
                .encode(format!("x-access-token:{}", token.expose()));
            let scope = origin_of(&repo.upstream);
            vec![
                ("GIT_CONFIG_COUNT".to_string(), "1".into()),
                (
                    "GIT_CONFIG_KEY_0".to_string(),
                    format!("http.{scope}/.extraHeader").into(),
                ),
                (
                    "GIT_CONFIG_VALUE_0".to_string(),
                    format!("Authorization: Basic {basic}").into(),
                ),
            ]
        }
        Credential::DeployKey(key) => {
            let known_hosts = state.join("known_hosts");
            let command = format!(
                "ssh -i {} -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={} -o BatchMode=yes -o ConnectTimeout={SSH_CONNECT_TIMEOUT_SECS}",
                shell_quote(&key.to_string_lossy()),
                shell_quote(&known_hosts.to_string_lossy()),
            );
            vec![("GIT_SSH_COMMAND".to_string(), command.into())]
        }
    }
}

/// `scheme://host[:port]` of an http(s) URL (the scope of the token header).
pub fn origin_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            // Drop any user info: the header is scoped by host.
            let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
            format!("{}://{host}", scheme.to_ascii_lowercase())
        }
        None => url.to_string(),
    }
}

/// Quote for `sh`: single quotes, with embedded ones closed and escaped.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

/// Create (if needed) and configure a repo's mirror, and install the hook.
pub async fn prepare(state: &Path, repo: &Repo, timeouts: &Timeouts) -> Result<PathBuf> {
    let path = mirror_path(state, &repo.name);
    if !path.join("HEAD").exists() {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(state_error(parent))?;
        }
        Invocation::git([
            OsString::from("init"),
            "--bare".into(),
            "--quiet".into(),
            path.as_os_str().to_owned(),
        ])
        .checked(b"", timeouts.local_git)
        .await?;
    }
    let max_input = MAX_PUSH_PACK_BYTES.to_string();
    for (key, value) in [
        ("receive.maxInputSize", max_input.as_str()),
        ("http.receivepack", "true"),
        ("http.uploadpack", "true"),
        ("receive.fsckObjects", "true"),
        ("uploadpack.allowFilter", "true"),
        ("core.logAllRefUpdates", "false"),
        // No `git maintenance run --auto` at the end of every push (a
        // process on the push's critical path): every refresh's `git
        // fetch` runs it anyway, and one precedes every push.
        ("receive.autogc", "false"),
        // The repo's rules decide deletions, before upstream is asked; a
        // deletion upstream accepted must not then be refused here (the
        // mirror's HEAD may still name a branch upstream no longer calls
        // its default), or the push would half-land.
        ("receive.denyDeleteCurrent", "ignore"),
    ] {
        Invocation::git(["config", key, value])
            .git_dir(&path)
            .checked(b"", timeouts.local_git)
            .await?;
    }
    let hooks = path.join("hooks");
    std::fs::create_dir_all(&hooks).map_err(state_error(&hooks))?;
    let hook = hooks.join("pre-receive");
    write_hook(&hook, HOOK_SCRIPT, 0o755)?;
    check_hook_runs(&hook, timeouts).await?;
    for name in read_skipped_refs(&path)? {
        warn_skipped(repo, &name);
    }
    Ok(path)
}

/// Times a just-written hook's run is retried while exec says the file is
/// busy, and the wait between.
const HOOK_BUSY_RETRIES: u32 = 40;
const HOOK_BUSY_WAIT: std::time::Duration = std::time::Duration::from_millis(25);

/// Whether `error` comes from exec finding the file open for writing.
fn text_file_busy(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && io.raw_os_error() == Some(rustix::io::Errno::TXTBSY.raw_os_error())
        {
            return true;
        }
        current = error.source();
    }
    false
}

/// Write the hook `script` to `path`, executable with `mode`.
pub fn write_hook(path: &Path, script: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, script).map_err(state_error(path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(state_error(path))
}

/// What the hook says when run outside a gate session.
const HOOK_OUTSIDE_SESSION: &str = "go through the gate only";

/// Fail closed unless git can run a hook placed in `dir` (the directory of
/// the forwards' `pre-push` hooks: a skipped one would let `git push` send
/// before the checks are done). A probe hook is written, checked as
/// [`check_hook_runs`] does, and removed.
pub async fn check_hooks_dir(dir: &Path, timeouts: &Timeouts) -> Result<()> {
    let probe = dir.join("probe-hook");
    write_hook(&probe, HOOK_SCRIPT, 0o700)?;
    let checked = check_hook_runs(&probe, timeouts).await;
    let _ = std::fs::remove_file(&probe);
    checked
}

/// Fail closed unless git will run the installed hook: git skips a hook it
/// may not execute (`access(X_OK)`, as on a `noexec` mount) with only a
/// hint, and the push then lands in the mirror with no check at all. So
/// the hook must pass git's own test and, run outside a gate session,
/// answer as it should (refuse, exit 1).
async fn check_hook_runs(hook: &Path, timeouts: &Timeouts) -> Result<()> {
    let not_runnable = |reason: String| GateError::HookNotRunnable {
        path: hook.to_path_buf(),
        reason,
    };
    rustix::fs::access(hook, rustix::fs::Access::EXEC_OK)
        .map_err(|error| not_runnable(format!("not executable: {error}")))?;
    // Just written: while another thread's child (forked before it
    // could exec) still holds the write descriptor, exec fails with
    // ETXTBSY. That passes; retry briefly.
    let mut attempts = 0;
    let output = loop {
        let run = Invocation::program(&hook.to_string_lossy(), Vec::<OsString>::new())
            .output(b"", timeouts.local_git)
            .await;
        match run {
            Err(error) if attempts < HOOK_BUSY_RETRIES && text_file_busy(&error) => {
                attempts += 1;
                tokio::time::sleep(HOOK_BUSY_WAIT).await;
            }
            other => break other,
        }
    }
    .map_err(|error| {
        let reason = match std::error::Error::source(&error) {
            Some(source) => format!("{error}: {source}"),
            None => error.to_string(),
        };
        not_runnable(reason)
    })?;
    if output.code == Some(1)
        && String::from_utf8_lossy(&output.stderr).contains(HOOK_OUTSIDE_SESSION)
    {
        Ok(())
    } else {
        Err(not_runnable(format!(
            "run outside a gate session it exited {} and said {:?}",
            output.status,
            stderr_excerpt(&output.stderr)
        )))
    }
}

/// How git names the quarantine directory of a push it is receiving,
/// inside the repository's `objects` directory.
pub const QUARANTINE_PREFIX: &str = "tmp_objdir-incoming-";

/// Remove every quarantine directory (`objects/tmp_objdir-incoming-*`)
/// from `mirror`: at start-up, when no receive-pack can be using one.
pub fn sweep_quarantines(mirror: &Path) {
    let objects = mirror.join("objects");
    let Ok(entries) = std::fs::read_dir(&objects) else {
        return;
    };
    for entry in entries.flatten() {
        let leftover = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(QUARANTINE_PREFIX));
        if leftover && entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            let path = entry.path();
            match std::fs::remove_dir_all(&path) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "removed a quarantine left by an earlier run")
                }
                Err(error) => {
                    tracing::warn!(path = %path.display(), error = %error, "cannot remove a quarantine left by an earlier run")
                }
            }
        }
    }
}

/// What the mirror's `refs` point at now: name → object id, for those
/// that exist.
pub async fn mirror_refs(
    mirror: &Path,
    refs: &[String],
    timeouts: &Timeouts,
) -> Result<std::collections::HashMap<String, String>> {
    if refs.is_empty() {
        return Ok(Default::default());
    }
    let mut args = vec![
        "for-each-ref".to_string(),
        "--format=%(objectname) %(refname)".into(),
        "--".into(),
    ];
    args.extend(refs.iter().cloned());
    let listing = Invocation::git(args)
        .git_dir(mirror)
        .checked(b"", timeouts.local_git)
        .await?;
    Ok(exact_refs(&String::from_utf8_lossy(&listing), refs, ' '))
}

/// The lines `<id><separator><name>` of a listing whose name is one of
/// `refs` exactly (for-each-ref and ls-remote also match a pattern as a
/// prefix or a suffix).
fn exact_refs(
    listing: &str,
    refs: &[String],
    separator: char,
) -> std::collections::HashMap<String, String> {
    listing
        .lines()
        .filter_map(|line| line.split_once(separator))
        .filter(|(_, name)| refs.iter().any(|wanted| wanted == name))
        .map(|(id, name)| (name.to_string(), id.to_string()))
        .collect()
}

/// Make the mirror's `refs` what upstream has now: those upstream has are
/// fetched (forced), those it lacks are deleted. For a push whose forward
/// began and whose own ref update in the mirror did not happen (the agent
/// hung up and receive-pack was killed, or the forward ended in a way that
/// leaves upstream's answer unknown): upstream is the truth. Returns the
/// refs that changed. The caller holds the repo's lock. Upstream's git
/// runs under `memory` (see the module docs).
pub async fn settle_refs(
    state: &Path,
    repo: &Repo,
    timeouts: &Timeouts,
    memory: &ReceiveMemory,
    refs: &[String],
) -> Result<Vec<String>> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    let path = mirror_path(state, &repo.name);
    let credentials = credential_env(repo, state);
    let mut args = vec!["ls-remote".to_string(), "--".into(), repo.upstream.clone()];
    args.extend(refs.iter().cloned());
    let listing = upstream_git(args, &path, &credentials, memory)
        .max_stdout(MAX_UPSTREAM_LISTING_BYTES)
        .checked(b"", timeouts.upstream_fetch)
        .await?;
    let upstream = exact_refs(&String::from_utf8_lossy(&listing), refs, '\t');
    let mirror = mirror_refs(&path, refs, timeouts).await?;
    let mut fetch = Vec::new();
    let mut changed = Vec::new();
    for name in refs {
        match (upstream.get(name), mirror.get(name)) {
            (Some(there), here) if here != Some(there) => {
                fetch.push(format!("+{name}:{name}"));
                changed.push(name.clone());
            }
            (None, Some(here)) => {
                Invocation::git(["update-ref", "-d", name.as_str(), here.as_str()])
                    .git_dir(&path)
                    .checked(b"", timeouts.local_git)
                    .await?;
                changed.push(name.clone());
            }
            _ => {}
        }
    }
    if !fetch.is_empty() {
        let mut args = vec![
            "fetch".to_string(),
            "--quiet".into(),
            "--no-write-fetch-head".into(),
            "--".into(),
            repo.upstream.clone(),
        ];
        args.extend(fetch);
        // Upstream may send more than the forward did: the same bound.
        upstream_git(args, &path, &credentials, memory)
            .checked(b"", timeouts.upstream_fetch + timeouts.upstream_push)
            .await?;
    }
    Ok(changed)
}

/// The file in a mirror listing the upstream refs its refresh leaves out
/// (names over the gate's bounds, [`crate::policy::check_ref_length`]),
/// one name a line.
pub const SKIPPED_REFS_FILE: &str = "bot-bottle-skipped-refs";

/// The most bytes of a skipped ref's name quoted in a log line.
pub const LOGGED_REF_NAME_BYTES: usize = 64;

/// Names of refs a refresh leaves out, as bytes (a name upstream
/// advertises need not be UTF-8).
pub type SkippedRefs = std::collections::BTreeSet<Vec<u8>>;

/// The refspecs of a refresh: every branch and tag, forced.
const REFRESH_REFSPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

/// Refresh a mirror from upstream. Errors are the caller's to log: the
/// mirror is still served. Every git taking in what upstream sends runs
/// under `memory` (see the module docs): a fetch that runs out of it
/// fails, stores no ref, and the refresh returns its error.
///
/// Branches and tags are fetched, pruned, except those named in the
/// mirror's [`SKIPPED_REFS_FILE`] (negative refspecs, `^NAME`, given on
/// the fetch's stdin: git 2.29 or later; with none listed the fetch is
/// the plain one). A ref whose name is over the gate's bounds is never
/// kept: the mirror's files ref store may be unable to hold it (the fetch
/// then fails), and an agent's clone of it could not either. So:
///
/// - when the fetch fails (not on its timeout), upstream's branches and
///   tags are listed (`git ls-remote`) and, if the names over the bounds
///   there differ from the list, they replace it (each new one logged)
///   and the fetch is run again without them; otherwise the fetch's own
///   error stands. The extra round trips come only after a failed fetch,
///   and once a name is listed the plain path skips it.
/// - after a fetch, the mirror's branches and tags are listed (the same
///   local `for-each-ref` that tells whether `HEAD` points anywhere) and
///   any over the bounds that the fetch could store (a 230-byte component)
///   is deleted, listed and logged.
pub async fn refresh(
    state: &Path,
    repo: &Repo,
    timeouts: &Timeouts,
    memory: &ReceiveMemory,
) -> Result<()> {
    let path = mirror_path(state, &repo.name);
    let credentials = credential_env(repo, state);
    let mut skipped = read_skipped_refs(&path)?;
    let upstream = Upstream {
        mirror: &path,
        repo,
        credentials: &credentials,
        timeouts,
        memory,
    };
    match fetch_branches_and_tags(&upstream, &skipped).await {
        Ok(()) => {}
        Err(error @ GateError::CommandFailed { .. }) => {
            let Ok(over_bounds) = upstream_refs_over_bounds(&upstream).await else {
                return Err(error);
            };
            if over_bounds == skipped {
                return Err(error);
            }
            for name in over_bounds.difference(&skipped) {
                warn_skipped(repo, name);
            }
            skipped = over_bounds;
            write_skipped_refs(&path, &skipped)?;
            fetch_branches_and_tags(&upstream, &skipped).await?;
        }
        Err(error) => return Err(error),
    }
    // What the fetch stored: names over the bounds go, and whether HEAD
    // points at a branch the mirror has (`%(HEAD)` is `*` for it).
    let listing = Invocation::git([
        "for-each-ref",
        "--format=%(HEAD)%(refname)",
        "refs/heads/",
        "refs/tags/",
    ])
    .git_dir(&path)
    .checked(b"", timeouts.local_git)
    .await?;
    let mut head_resolves = false;
    let mut over_bounds = Vec::new();
    for line in listing.split(|byte| *byte == b'\n') {
        let (marker, name) = match line.split_first() {
            Some((marker, name)) if !name.is_empty() => (*marker, name),
            _ => continue,
        };
        if check_ref_length(name).is_err() {
            over_bounds.push(name.to_vec());
        } else if marker == b'*' {
            head_resolves = true;
        }
    }
    if !over_bounds.is_empty() {
        let mut deletions = Vec::new();
        for name in &over_bounds {
            deletions.extend_from_slice(b"delete ");
            deletions.extend_from_slice(name);
            deletions.push(b'\n');
        }
        Invocation::git(["update-ref", "--stdin"])
            .git_dir(&path)
            .checked(&deletions, timeouts.local_git)
            .await?;
        for name in over_bounds {
            if !skipped.contains(&name) {
                warn_skipped(repo, &name);
                skipped.insert(name);
            }
        }
        write_skipped_refs(&path, &skipped)?;
    }
    // Point HEAD at upstream's default branch while it points nowhere
    // (a fresh mirror), so a clone checks out the right branch.
    if !head_resolves {
        let listing = upstream_git(
            [
                "ls-remote",
                "--symref",
                "--",
                repo.upstream.as_str(),
                "HEAD",
            ],
            &path,
            &credentials,
            memory,
        )
        .max_stdout(MAX_UPSTREAM_LISTING_BYTES)
        .checked(b"", timeouts.upstream_fetch)
        .await?;
        let text = String::from_utf8_lossy(&listing);
        if let Some(target) = text.lines().find_map(|line| {
            line.strip_prefix("ref: ")
                .and_then(|rest| rest.split_once('\t'))
                .filter(|(_, name)| *name == "HEAD")
                .map(|(target, _)| target.to_string())
        }) && target.starts_with("refs/heads/")
            && check_ref_length(target.as_bytes()).is_ok()
        {
            Invocation::git(["symbolic-ref", "HEAD", target.as_str()])
                .git_dir(&path)
                .checked(b"", timeouts.local_git)
                .await?;
        }
    }
    Ok(())
}

/// What a refresh's commands to upstream need.
struct Upstream<'a> {
    mirror: &'a Path,
    repo: &'a Repo,
    credentials: &'a [(String, OsString)],
    timeouts: &'a Timeouts,
    memory: &'a ReceiveMemory,
}

/// `git fetch --prune` of upstream's branches and tags into the mirror,
/// leaving out the `skipped` names, under the memory bound.
async fn fetch_branches_and_tags(upstream: &Upstream<'_>, skipped: &SkippedRefs) -> Result<()> {
    let mut args = vec!["fetch", "--prune", "--quiet", "--no-write-fetch-head"];
    let mut input = Vec::new();
    if !skipped.is_empty() {
        // Names can be long and many: not on the command line.
        args.push("--stdin");
        for name in skipped {
            input.push(b'^');
            input.extend_from_slice(name);
            input.push(b'\n');
        }
    }
    args.extend(["--", upstream.repo.upstream.as_str()]);
    args.extend(REFRESH_REFSPECS);
    upstream_git(args, upstream.mirror, upstream.credentials, upstream.memory)
        .checked(&input, upstream.timeouts.upstream_fetch)
        .await?;
    Ok(())
}

/// Upstream's branches and tags whose names are over the gate's bounds
/// and otherwise valid (git's fetch ignores an invalid name on its own,
/// and a negative refspec could not name it exactly).
async fn upstream_refs_over_bounds(upstream: &Upstream<'_>) -> Result<SkippedRefs> {
    let listing = upstream_git(
        [
            "ls-remote",
            "--heads",
            "--tags",
            "--refs",
            "--",
            upstream.repo.upstream.as_str(),
        ],
        upstream.mirror,
        upstream.credentials,
        upstream.memory,
    )
    .max_stdout(MAX_UPSTREAM_LISTING_BYTES)
    .checked(b"", upstream.timeouts.upstream_fetch)
    .await?;
    Ok(listing
        .split(|byte| *byte == b'\n')
        .filter_map(|line| {
            let tab = line.iter().position(|byte| *byte == b'\t')?;
            Some(&line[tab + 1..])
        })
        .filter(|name| check_ref_length(name).is_err() && check_ref_format(name).is_ok())
        .map(<[u8]>::to_vec)
        .collect())
}

/// The names listed in `mirror`'s [`SKIPPED_REFS_FILE`] (none when it is
/// missing). A line that is no valid ref name is passed over: as a
/// negative refspec it would fail every fetch.
pub fn read_skipped_refs(mirror: &Path) -> Result<SkippedRefs> {
    let path = mirror.join(SKIPPED_REFS_FILE);
    match std::fs::read(&path) {
        Ok(text) => Ok(text
            .split(|byte| *byte == b'\n')
            .filter(|name| check_ref_format(name).is_ok())
            .map(<[u8]>::to_vec)
            .collect()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(SkippedRefs::new()),
        Err(error) => Err(state_error(&path)(error)),
    }
}

/// Replace `mirror`'s [`SKIPPED_REFS_FILE`] with `names` (written aside,
/// then renamed over it). The caller holds the repo's lock.
fn write_skipped_refs(mirror: &Path, names: &SkippedRefs) -> Result<()> {
    let path = mirror.join(SKIPPED_REFS_FILE);
    let aside = mirror.join(format!("{SKIPPED_REFS_FILE}.new"));
    let mut text = Vec::new();
    for name in names {
        text.extend_from_slice(name);
        text.push(b'\n');
    }
    std::fs::write(&aside, text).map_err(state_error(&aside))?;
    std::fs::rename(&aside, &path).map_err(state_error(&path))
}

/// Log that the refresh leaves `name` out.
fn warn_skipped(repo: &Repo, name: &[u8]) {
    let why = check_ref_length(name).err().unwrap_or_default();
    tracing::warn!(
        repo = %repo.name,
        name = %ref_name_for_log(name),
        bytes = name.len(),
        why = %why,
        "upstream has a ref whose name is over the gate's bounds; the mirror's refresh leaves it out, and pushes to it are refused"
    );
}

/// At most [`LOGGED_REF_NAME_BYTES`] of `name`, escaped (`\n`, `\u{..}`,
/// `\x..` for a byte that is not UTF-8), with `…` when cut short.
pub fn ref_name_for_log(name: &[u8]) -> String {
    let cut = name.len() > LOGGED_REF_NAME_BYTES;
    let mut shown = String::new();
    for chunk in name[..name.len().min(LOGGED_REF_NAME_BYTES)].utf8_chunks() {
        shown.extend(chunk.valid().chars().flat_map(char::escape_debug));
        for byte in chunk.invalid() {
            shown.push_str(&format!("\\x{byte:02x}"));
        }
    }
    if cut {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PushRules;
    use bot_bottle_secret::Redacted;

    #[test]
    fn leftover_quarantines_are_swept_and_nothing_else() {
        let temp = tempfile::tempdir().unwrap();
        let objects = temp.path().join("objects");
        for dir in [
            "tmp_objdir-incoming-a",
            "tmp_objdir-incoming-b/pack",
            "pack",
            "ab",
        ] {
            std::fs::create_dir_all(objects.join(dir)).unwrap();
        }
        std::fs::write(objects.join("tmp_objdir-incoming-file"), "x").unwrap();
        sweep_quarantines(temp.path());
        let mut left: Vec<String> = std::fs::read_dir(&objects)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["ab", "pack", "tmp_objdir-incoming-file"]);
        // A mirror with no objects directory is left alone.
        sweep_quarantines(&temp.path().join("missing"));
    }

    #[test]
    fn a_ref_name_is_logged_escaped_and_cut_short() {
        assert_eq!(ref_name_for_log(b"refs/heads/main"), "refs/heads/main");
        let long = format!("refs/heads/{}", "a".repeat(300));
        let shown = ref_name_for_log(long.as_bytes());
        assert_eq!(shown, format!("{}…", &long[..LOGGED_REF_NAME_BYTES]));
        assert_eq!(
            ref_name_for_log(b"refs/heads/\x1b[31m\xff\"caf\xc3\xa9"),
            "refs/heads/\\u{1b}[31m\\xff\\\"caf\u{e9}"
        );
    }

    #[test]
    fn the_skipped_refs_file_round_trips_and_drops_what_no_refspec_could_name() {
        let temp = tempfile::tempdir().unwrap();
        assert!(read_skipped_refs(temp.path()).unwrap().is_empty());
        let long = format!("refs/heads/{}", "a".repeat(300)).into_bytes();
        let odd = b"refs/heads/\xff\xfe".to_vec();
        let names: SkippedRefs = [long.clone(), odd.clone()].into_iter().collect();
        write_skipped_refs(temp.path(), &names).unwrap();
        assert_eq!(read_skipped_refs(temp.path()).unwrap(), names);
        let mut text = std::fs::read(temp.path().join(SKIPPED_REFS_FILE)).unwrap();
        text.extend_from_slice(b"refs/heads/x:refs/heads/main\n\nrefs/heads/a*\nheads/x\n");
        std::fs::write(temp.path().join(SKIPPED_REFS_FILE), text).unwrap();
        assert_eq!(read_skipped_refs(temp.path()).unwrap(), names);
    }

    fn repo(upstream: &str, credential: Credential) -> Repo {
        Repo {
            name: "r".into(),
            upstream: upstream.into(),
            credential,
            push: PushRules::from_policy("r", None).unwrap(),
        }
    }

    #[test]
    fn token_goes_in_a_host_scoped_header() {
        let env = credential_env(
            &repo(
                "https://user@git.example.com:8443/o/r.git",
                Credential::Token(Redacted::new("s3cret".into())),
            ),
            Path::new("/state"),
        );
        assert_eq!(env[1].1, "http.https://git.example.com:8443/.extraHeader");
        // base64("x-access-token:s3cret")
        assert_eq!(
            env[2].1,
            "Authorization: Basic eC1hY2Nlc3MtdG9rZW46czNjcmV0"
        );
    }

    #[test]
    fn deploy_key_paths_are_shell_quoted() {
        let env = credential_env(
            &repo("git@h:o/r", Credential::DeployKey("/keys/it's".into())),
            Path::new("/state"),
        );
        let command = env[0].1.to_string_lossy().into_owned();
        assert!(command.starts_with(
            "ssh -i '/keys/it'\\''s' -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new"
        ));
        assert!(command.contains("UserKnownHostsFile='/state/known_hosts'"));
    }
}
