//! Forwarding a push upstream: `git push --atomic` of exactly the pushed
//! updates, with the held credential and the quarantined objects, and
//! `--force-with-lease=<ref>:<old>` on a forced update or a deletion.
//!
//! The push is started early, while the policy check and the scan run
//! ([`EarlyForward`]): git connects to upstream and reads its ref
//! advertisement, then runs its `pre-push` hook *before it sends anything*
//! (no ref update, no object). The hook for this one push
//! ([`pre_push_script`], in a private directory named by `-c
//! core.hooksPath`) waits on a FIFO for the gate's word: `go` once the push
//! is clean or approved, and git sends the pack; anything else, or the gate
//! going away (EOF), and the hook exits 1 and git sends nothing. So the
//! connection to upstream (for a remote upstream: a TLS or SSH handshake
//! and a round trip) overlaps the scan, and only a clean or approved push's
//! objects ever leave.
//!
//! A push that needs the operator is stopped at once (no upstream
//! connection is held open while a human decides) and forwarded afresh
//! after the approval. An early push that ended before it was released
//! (upstream unreachable or refusing at that moment) is also made afresh,
//! so the agent sees upstream's answer to the push as it is when cleared.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;

use crate::error::{GateError, Result, state_error};
use crate::git::{Invocation, Output, is_oid, stderr_excerpt};
use crate::hook::RefUpdate;
use crate::mirror::{credential_env, shell_quote};
use crate::policy::check_ref_name;
use crate::receive::PushContext;
use crate::scan::ObjectAccess;

/// How long a stopped early push may take to go away.
pub const EARLY_FORWARD_STOP_WAIT: Duration = Duration::from_secs(5);

/// The `pre-push` hook of one early push: it waits for the gate's word in
/// `dir/verdict` and marks `dir/released` before letting git send.
pub fn pre_push_script(dir: &Path) -> String {
    let dir = shell_quote(&dir.to_string_lossy());
    format!(
        r#"#!/bin/sh
# pre-push hook of one forward by the bot-bottle git gate: git is connected
# to upstream and has sent nothing yet; the gate says whether it may.
dir={dir}
verdict=
IFS= read -r verdict <"$dir/verdict" || exit 1
[ "$verdict" = go ] || exit 1
: >"$dir/released" || exit 1
exit 0
"#
    )
}

/// The `git push` of exactly these updates (`hooks`: the early push's hook
/// directory). A ref name git would refuse is an error, never a refspec:
/// `git push` splits `<new>:<name>` at its last `:`, so a name holding one
/// would choose both what is pushed and where (the receive step refuses
/// such names first; this is the second line).
pub fn push_invocation(
    context: &PushContext,
    access: &ObjectAccess,
    updates: &[RefUpdate],
    hooks: Option<&Path>,
) -> Result<Invocation> {
    let mut args: Vec<OsString> = Vec::new();
    if let Some(hooks) = hooks {
        let mut setting = OsString::from("core.hooksPath=");
        setting.push(hooks.as_os_str());
        args.push("-c".into());
        args.push(setting);
    }
    args.extend(["push".into(), "--atomic".into(), "--quiet".into()]);
    let mut refspecs = Vec::new();
    for update in updates {
        let name = &update.reference;
        check_ref_name(name).map_err(|reason| GateError::InvalidRefName {
            name: name.clone(),
            reason,
        })?;
        if !is_oid(&update.new) || !is_oid(&update.old) {
            return Err(GateError::InvalidRefName {
                name: name.clone(),
                reason: "its update does not name two object ids".into(),
            });
        }
        if update.is_delete() {
            args.push(format!("--force-with-lease={name}:{}", update.old).into());
            refspecs.push(format!(":{name}"));
        } else if context.repo.push.force && !update.is_create() {
            args.push(format!("--force-with-lease={name}:{}", update.old).into());
            refspecs.push(format!("+{}:{name}", update.new));
        } else {
            refspecs.push(format!("{}:{name}", update.new));
        }
    }
    args.push("--".into());
    args.push(context.repo.upstream.clone().into());
    args.extend(refspecs.into_iter().map(OsString::from));
    Ok(Invocation::git(args)
        .envs(&access.env)
        .envs(&credential_env(&context.repo, &context.state))
        .own_group())
}

/// Forward now; upstream's message on a refusal.
pub async fn forward(
    context: &PushContext,
    access: &ObjectAccess,
    updates: &[RefUpdate],
) -> Result<(), String> {
    let output = push_invocation(context, access, updates, None)
        .map_err(|error| error.to_string())?
        .output(b"", context.timeouts.upstream_push)
        .await
        .map_err(|error| error.to_string())?;
    answer(&output)
}

fn answer(output: &Output) -> Result<(), String> {
    if output.success {
        Ok(())
    } else {
        Err(stderr_excerpt(&output.stderr))
    }
}

/// A `git push` connected to upstream and waiting in its `pre-push` hook.
/// Dropping it kills the push (the hook then reads EOF and exits 1:
/// nothing is sent).
pub struct EarlyForward {
    dir: tempfile::TempDir,
    verdict: pipe::Sender,
    task: tokio::task::JoinHandle<Result<Output>>,
}

impl Drop for EarlyForward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EarlyForward {
    /// Start the push of `updates`, its hook directory under
    /// `<state>/hooks`. Bounded by the push timeout plus the time the
    /// checks may take.
    pub fn start(
        context: &PushContext,
        access: &ObjectAccess,
        updates: &[RefUpdate],
    ) -> Result<Self> {
        let parent = context.state.join("hooks");
        std::fs::create_dir_all(&parent).map_err(state_error(&parent))?;
        let dir = tempfile::Builder::new()
            .prefix("forward-")
            .tempdir_in(&parent)
            .map_err(state_error(&parent))?;
        let verdict_path = dir.path().join("verdict");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &verdict_path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
            0,
        )
        .map_err(|error| GateError::State {
            path: verdict_path.clone(),
            source: error.into(),
        })?;
        // Read-write: neither this open nor the hook's blocks, and the
        // word waits in the FIFO until the hook reads it.
        let verdict = pipe::OpenOptions::new()
            .read_write(true)
            .open_sender(&verdict_path)
            .map_err(state_error(&verdict_path))?;
        let hook = dir.path().join("pre-push");
        crate::mirror::write_hook(&hook, &pre_push_script(dir.path()), 0o700)?;
        let invocation = push_invocation(context, access, updates, Some(dir.path()))?;
        let timeout = context.timeouts.upstream_push + context.timeouts.local_git * 2;
        let task = tokio::spawn(async move { invocation.output(b"", timeout).await });
        Ok(Self { dir, verdict, task })
    }

    /// Let the push send. `None`: it ended before it was released (so it
    /// sent nothing) and the caller forwards afresh; otherwise upstream's
    /// answer.
    pub async fn release(mut self) -> Option<Result<(), String>> {
        let _ = self.verdict.write_all(b"go\n").await;
        let output = match (&mut self.task).await {
            Ok(Ok(output)) => output,
            Ok(Err(error)) => {
                return self.released().then(|| Err(error.to_string()));
            }
            Err(error) => {
                return self
                    .released()
                    .then(|| Err(format!("the forward failed: {error}")));
            }
        };
        if output.success || self.released() {
            Some(answer(&output))
        } else {
            None
        }
    }

    /// Stop the push before it sends anything, and wait (briefly) for it.
    pub async fn stop(mut self) {
        let _ = self.verdict.write_all(b"stop\n").await;
        let _ = tokio::time::timeout(EARLY_FORWARD_STOP_WAIT, &mut self.task).await;
    }

    fn released(&self) -> bool {
        self.dir.path().join("released").exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_waits_for_go_in_its_own_directory() {
        let script = pre_push_script(Path::new("/state/hooks/forward-it's"));
        assert!(script.starts_with("#!/bin/sh\n"));
        assert!(script.contains("dir='/state/hooks/forward-it'\\''s'\n"));
        assert!(script.contains(r#"[ "$verdict" = go ] || exit 1"#));
    }

    #[test]
    fn a_ref_name_that_is_not_valid_never_becomes_a_refspec() {
        let context = PushContext {
            repo: crate::config::Repo {
                name: "app".into(),
                upstream: "file:///nowhere.git".into(),
                credential: crate::config::Credential::None,
                push: crate::policy::PushRules::from_policy("app", None).unwrap(),
            },
            mirror: "/nowhere/mirror.git".into(),
            state: "/nowhere/state".into(),
            scanner: std::sync::Arc::new(crate::scan::NoScanner),
            approver: std::sync::Arc::new(crate::approval::NoApprover),
            timeouts: crate::Timeouts::default(),
            scan_limits: crate::ScanLimits::default(),
            rules_cache: Default::default(),
            receive_memory: Default::default(),
            proposals: std::sync::Arc::new(crate::approval::ProposalLedger::new(
                crate::ProposalRate::default(),
            )),
            forwarding: Default::default(),
        };
        let access = ObjectAccess::new(Path::new("/nowhere/mirror.git"), None);
        let update = |reference: &str| RefUpdate {
            old: "0".repeat(40),
            new: "1".repeat(40),
            reference: reference.into(),
        };
        assert!(push_invocation(&context, &access, &[update("refs/heads/main")], None).is_ok());
        for bad in ["refs/heads/x:refs/heads/main", "refs/heads/a..b", "main"] {
            let error = push_invocation(
                &context,
                &access,
                &[update("refs/heads/ok"), update(bad)],
                None,
            )
            .unwrap_err();
            assert!(
                matches!(error, GateError::InvalidRefName { .. }),
                "{bad}: {error}"
            );
        }
    }
}
