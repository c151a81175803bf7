//! The pre-receive decision for one push: policy, scan, approval, upstream.
//!
//! Runs while git holds the push's objects in quarantine and before any
//! mirror ref moves, in this order, stopping at the first refusal (the
//! policy check and the scan only read, so they run at the same time; the
//! policy's verdict comes first and a refused push's scan is dropped):
//!
//! 0. **Ref names.** A name git's `check-ref-format` would refuse
//!    ([`check_ref_name`]) refuses the push before anything else:
//!    receive-pack checks names only after this hook, and a `:` in one
//!    would make the forward's refspec push something else, somewhere else.
//! 1. **Policy.** Every ref must match the repo's push patterns and a
//!    deletion needs `delete` (checked first, with no git and before
//!    upstream is contacted); a non-fast-forward update needs `force`; and
//!    each ref must still be where the agent last saw it in the mirror
//!    (else "fetch first"). All problems of a step are reported together.
//!    Beside it, every new commit must be whole down to the mirror's refs
//!    (`check_connected`): receive-pack fails a command that is not
//!    ("missing necessary objects") before this hook, yet hands it over
//!    unmarked, and forwarding it would half-land the push.
//! 2. **Scan.** Every new commit on its own, and the name of every ref
//!    the push creates or updates (see [`crate::scan`]).
//! 3. **Approval.** Findings go to the [`Approver`]; the push waits for the
//!    verdict. Anything but approval refuses it. A push with more than
//!    [`MAX_FINDINGS_PER_PUSH`] findings, or whose proposals would pass the
//!    gate's rate ([`crate::approval::MAX_PROPOSALS_PER_WINDOW`] in any
//!    [`crate::approval::PROPOSAL_RATE_WINDOW`]), is refused with nothing
//!    filed.
//! 4. **Upstream.** `git push --atomic` of exactly these updates, with the
//!    held credential and the quarantined objects, leases on forced and
//!    deleted refs ([`crate::forward`]; it connects to upstream while the
//!    rest of step 1 and step 2 run, and sends nothing until released). Only if upstream accepts
//!    does the hook accept, so the mirror's refs move only for a push
//!    upstream has; a refused push's objects are dropped with the
//!    quarantine and never leave.
//!
//! Every step's outcome is told to the agent through the hook (`remote: …`)
//! and logged. A ref name a detector finds anything in is shown masked
//! ([`MaskedNames`]) in both, and in the findings filed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::Timeouts;
use crate::approval::{Approver, FindingReport, ProposalLedger, Verdict};
use crate::config::Repo;
use crate::forward::{EarlyForward, forward};
use crate::git::stderr_excerpt;
use crate::hook::{HookSession, PushRequest, RefUpdate};
use crate::policy::{PushRules, check_ref_name};
use crate::scan::{
    CommitScanner, MaskedNames, NewCommit, ObjectAccess, REPO_RULES_FILE, new_commits,
    scan_push_with,
};

/// The most findings filed for one push; a push with more is refused
/// outright (it is a mistake, not something to approve line by line).
pub const MAX_FINDINGS_PER_PUSH: usize = 20;

// A push with the most findings allowed must be able to file them.
const _: () = assert!(crate::approval::MAX_PROPOSALS_PER_WINDOW >= MAX_FINDINGS_PER_PUSH);

/// Prefix of every line the gate shows the agent.
pub const MESSAGE_PREFIX: &str = "git-gate: ";

/// What the decision needs.
pub struct PushContext {
    pub repo: Repo,
    pub mirror: std::path::PathBuf,
    pub state: std::path::PathBuf,
    pub scanner: Arc<dyn CommitScanner>,
    pub approver: Arc<dyn Approver>,
    pub timeouts: Timeouts,
    pub scan_limits: crate::scan::ScanLimits,
    /// Scanners with a repo's own rules, by repo and rules-file blob id.
    pub rules_cache: Arc<RulesCache>,
    /// Set once the push is released to upstream: from then on the
    /// decision is seen through whatever the agent's connection does (see
    /// `crate::server`), since upstream may take the push.
    pub forwarding: Arc<std::sync::atomic::AtomicBool>,
    /// The proposals the gate filed lately, over all repos: a push whose
    /// proposals would pass the rate is refused with nothing filed.
    pub proposals: Arc<ProposalLedger>,
    /// The memory bound on git receiving a pack: the push's own run, and
    /// the mirror's fetches from upstream while it is checked.
    pub receive_memory: crate::receive_memory::ReceiveMemory,
}

/// gitleaks' config file, read like [`REPO_RULES_FILE`] from the root of
/// upstream's default branch: its rules are translated
/// (`RuleSet::from_gitleaks_toml`) and added too.
pub const GITLEAKS_RULES_FILE: &str = ".gitleaks.toml";

/// The most characters of a gitleaks import warning shown to the agent
/// (the full list is in the gate's log).
const MAX_SHOWN_WARNING_CHARS: usize = 200;

/// The largest repo rules file the gate reads (bytes); a larger one is
/// ignored with a warning, as an invalid one is. Whoever can push to the
/// default branch writes it — the agent, through this gate — and its rules
/// are compiled and run on every push. The DLP engine bounds what one file
/// may hold once read (`bot_bottle_dlp::MAX_RULES_PER_FILE`, and the
/// compiled size, `MAX_RULE_FILE_COMPILED_BYTES`).
pub const MAX_REPO_RULES_FILE_BYTES: u64 = 256 * 1024;

/// Scanners built with a repo's own rules files, so the rules are compiled
/// once per version of the files, not once per push.
#[derive(Default)]
pub struct RulesCache {
    /// Repo name → (the rules files' blob ids, scanner with those rules,
    /// the warnings for the agent).
    entries: std::sync::Mutex<HashMap<String, CachedScanner>>,
}

type CachedScanner = (String, Arc<dyn CommitScanner>, Vec<String>);

/// Decide one push, talking to the agent through `session`. Returns whether
/// the push was accepted (and has landed upstream).
pub async fn decide(
    context: &PushContext,
    session: &mut HookSession,
    request: PushRequest,
) -> bool {
    let repo = &context.repo.name;
    let started = std::time::Instant::now();
    // 0. Names git would refuse, before anything else and whatever the
    // push rules say: receive-pack checks them only after this hook, and a
    // `:` in one would be read as a refspec by the forward.
    let invalid: Vec<(&RefUpdate, String)> = request
        .updates
        .iter()
        .filter_map(|update| {
            check_ref_name(&update.reference)
                .err()
                .map(|why| (update, why))
        })
        .collect();
    if !invalid.is_empty() {
        let shown = shown_names(context, names_of(&request.updates)).await;
        let problems: Vec<String> = invalid
            .iter()
            .map(|(update, why)| {
                format!(
                    "\"{}\" is not a valid ref name ({why})",
                    shown.name(&update.reference).escape_debug()
                )
            })
            .collect();
        return refuse(session, repo, &problems, &shown).await;
    }
    let quarantine = match checked_quarantine(&context.mirror, request.quarantine.as_deref()) {
        Ok(quarantine) => quarantine,
        Err(message) => {
            tracing::error!(repo = %repo, "{message}");
            say(session, "push refused: internal error (see the gate's log)").await;
            return false;
        }
    };
    let access = ObjectAccess::new(&context.mirror, quarantine.as_deref());

    // 1, the part that needs no git: a push to a ref the rules forbid (or
    // a forbidden deletion) is refused before upstream is contacted at all.
    let forbidden: Vec<String> = request
        .updates
        .iter()
        .filter_map(|update| rule_problem(&context.repo.push, update))
        .collect();
    if !forbidden.is_empty() {
        let shown = shown_names(context, names_of(&request.updates)).await;
        return refuse(session, repo, &forbidden, &shown).await;
    }

    // 4, begun: the push upstream connects (reads upstream's ref
    // advertisement) while policy and scan run, and waits, having sent
    // nothing, until it is released (see [`crate::forward`]). Its command
    // depends only on the updates and the repo's rules, not on what the
    // checks find. Dropped on every refusal below: killed, it sends nothing.
    let mut early = match EarlyForward::start(context, &access, &request.updates) {
        Ok(early) => Some(early),
        Err(error) => {
            tracing::warn!(repo = %repo, error = %error, "cannot start the forward early; it is made after the checks");
            None
        }
    };

    // 1. Policy and 2. scan, at once: both only read. Policy decides first
    // (a refused push's scan is dropped, its processes killed); the scan's
    // findings count only for a push policy allows.
    let timeout = context.timeouts.local_git;
    let policy = async {
        let (connected, problems) = tokio::join!(
            check_connected(&access, &request.updates, timeout),
            check_policy(context, &access, &request.updates)
        );
        tracing::debug!(repo = %repo, elapsed_ms = started.elapsed().as_millis() as u64, "policy checked");
        match connected {
            Ok(()) => problems,
            Err(problem) => Ok(vec![problem]),
        }
    };
    let mut scan = Box::pin(async {
        let mut warnings = Vec::new();
        let scanner = async {
            let (scanner, said) = repo_scanner(context).await;
            warnings = said;
            scanner
        };
        let findings = scan_push_with(
            &access,
            &request.updates,
            scanner,
            timeout,
            &context.scan_limits,
        )
        .await;
        tracing::debug!(repo = %repo, elapsed_ms = started.elapsed().as_millis() as u64, "scanned");
        (findings, warnings)
    });
    tokio::pin!(policy);
    let mut scanned = None;
    let problems = loop {
        tokio::select! {
            checked = &mut policy => break checked,
            result = &mut scan, if scanned.is_none() => scanned = Some(result),
        }
    };
    let problems = match problems {
        Ok(problems) => problems,
        Err(message) => {
            let shown = shown_names(context, names_of(&request.updates)).await;
            tracing::error!(repo = %repo, "policy check failed: {}", shown.text(&message));
            say(session, "push refused: internal error (see the gate's log)").await;
            return false;
        }
    };
    if !problems.is_empty() {
        let shown = shown_names(context, names_of(&request.updates)).await;
        return refuse(session, repo, &problems, &shown).await;
    }
    let (findings, warnings) = match scanned {
        Some(result) => result,
        None => scan.await,
    };
    for warning in &warnings {
        say(session, warning).await;
    }
    let findings = match findings {
        Ok(findings) => findings,
        Err(error) => {
            tracing::warn!(repo = %repo, error = %error, "push refused: scan failed");
            say(session, &format!("push refused: cannot scan it: {error}")).await;
            return false;
        }
    };
    tracing::debug!(repo = %repo, findings = findings.len(), "checked");

    // 3. Approval.
    if !findings.is_empty() {
        say(
            session,
            &format!(
                "{} possible secret(s) in the pushed commits:",
                findings.len()
            ),
        )
        .await;
        for finding in findings.iter().take(MAX_FINDINGS_PER_PUSH) {
            say(
                session,
                &format!(
                    "  {} {}:{} [{}] {}",
                    short(&finding.commit),
                    finding.file,
                    finding.line,
                    finding.rule,
                    finding.snippet
                ),
            )
            .await;
        }
        if findings.len() > MAX_FINDINGS_PER_PUSH {
            tracing::warn!(repo = %repo, findings = findings.len(), "push refused: too many findings");
            say(
                session,
                &format!(
                    "push refused: more than {MAX_FINDINGS_PER_PUSH} findings; remove the secrets from the commits (rewrite them) and push again"
                ),
            )
            .await;
            return false;
        }
        // Nothing is filed past the gate's rate: an agent could otherwise
        // push, hang up as soon as the proposals are filed (they are
        // expired at once) and push again, burying the operator's queue.
        if context.approver.files_proposals() && !context.proposals.try_file(findings.len()) {
            let rate = context.proposals.rate();
            tracing::warn!(repo = %repo, findings = findings.len(), "push refused: too many proposals filed lately; nothing filed");
            say(
                session,
                &format!(
                    "push refused: the gate files at most {} proposals for the operator in {} s, and this push's {} would pass that; nothing was filed. Remove the secrets from the commits (rewrite them) and push again, or push again later",
                    rate.proposals,
                    rate.window.as_secs(),
                    findings.len()
                ),
            )
            .await;
            return false;
        }
        let reports: Vec<FindingReport> = findings
            .into_iter()
            .map(|finding| FindingReport {
                repo: repo.clone(),
                finding,
            })
            .collect();
        // No upstream connection is held open while the operator decides.
        if let Some(early) = early.take() {
            early.stop().await;
        }
        // What counted as already upstream, as checked: the operator may
        // take minutes, and upstream may drop one of those commits meanwhile.
        let checked = match new_commits(&access, &request.updates, timeout).await {
            Ok(commits) => commits,
            Err(error) => {
                tracing::warn!(repo = %repo, error = %error, "push refused: cannot list its commits");
                say(session, "push refused: internal error (see the gate's log)").await;
                return false;
            }
        };
        let verdict = ask(context, session, reports).await;
        match verdict {
            Verdict::Approved { reason } => {
                tracing::info!(repo = %repo, reason = %reason, "findings approved by the operator");
                say(session, &format!("the operator approved: {reason}")).await;
                if let Err(why) =
                    still_as_checked(context, &access, &request.updates, &checked).await
                {
                    tracing::warn!(repo = %repo, "push refused: {why}");
                    say(session, &format!("push refused: {why}")).await;
                    return false;
                }
            }
            refused => {
                let why = match refused {
                    Verdict::Rejected {
                        reason: Some(reason),
                    } => {
                        format!("the operator rejected it: {reason}")
                    }
                    Verdict::Rejected { reason: None } => "the operator rejected it".to_string(),
                    Verdict::TimedOut => format!(
                        "nobody answered within {}s",
                        context.timeouts.approval.as_secs()
                    ),
                    Verdict::NoQueue => {
                        "there is no operator queue to ask (supervision is off)".to_string()
                    }
                    Verdict::Failed { message } => format!("the approval failed: {message}"),
                    Verdict::Approved { .. } => String::new(),
                };
                tracing::warn!(repo = %repo, "push refused: {why}");
                say(
                    session,
                    &format!("push refused: {why}. Remove the secret from every commit (rewrite them) and push again."),
                )
                .await;
                return false;
            }
        }
    }

    // 4. Upstream. Marked first: a forward released is never killed half
    // way (see `PushContext::forwarding`).
    context
        .forwarding
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let forwarded = match early.take() {
        Some(early) => match early.release().await {
            Some(answer) => answer,
            None => forward(context, &access, &request.updates).await,
        },
        None => forward(context, &access, &request.updates).await,
    };
    match forwarded {
        Ok(()) => {
            tracing::info!(repo = %repo, refs = request.updates.len(), elapsed_ms = started.elapsed().as_millis() as u64, "push forwarded upstream");
            true
        }
        Err(message) => {
            // Upstream's answer names the refs (`… -> name`).
            let message = shown_names(context, names_of(&request.updates))
                .await
                .text(&message);
            tracing::warn!(repo = %repo, "upstream refused the push: {message}");
            say(session, "push refused: upstream did not accept it:").await;
            for line in message.lines() {
                say(session, &format!("  upstream: {line}")).await;
            }
            false
        }
    }
}

/// Refuse the push for each of `problems`, logged and told to the agent
/// with the names `shown` masks masked; always `false` (the push's
/// outcome).
async fn refuse(
    session: &mut HookSession,
    repo: &str,
    problems: &[String],
    shown: &MaskedNames,
) -> bool {
    for problem in problems {
        let problem = shown.text(problem);
        tracing::warn!(repo = %repo, "push refused: {problem}");
        say(session, &format!("push refused: {problem}")).await;
    }
    false
}

async fn say(session: &mut HookSession, text: &str) {
    session.say(&format!("{MESSAGE_PREFIX}{text}")).await;
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// The quarantine must be inside the mirror's object directory.
fn checked_quarantine(
    mirror: &Path,
    quarantine: Option<&Path>,
) -> Result<Option<std::path::PathBuf>, String> {
    let Some(quarantine) = quarantine else {
        return Ok(None);
    };
    let objects = mirror
        .join("objects")
        .canonicalize()
        .map_err(|error| format!("mirror objects: {error}"))?;
    let resolved = quarantine
        .canonicalize()
        .map_err(|error| format!("quarantine {}: {error}", quarantine.display()))?;
    if resolved.starts_with(&objects) {
        Ok(Some(resolved))
    } else {
        Err(format!(
            "quarantine {} is outside the mirror",
            quarantine.display()
        ))
    }
}

/// The quarantine directory of a push, when it is one git made for it
/// (`<mirror>/objects/tmp_objdir-incoming-*`): what to remove if receive-pack was
/// killed and left it behind.
pub fn sweepable_quarantine(
    mirror: &Path,
    quarantine: Option<&Path>,
) -> Option<std::path::PathBuf> {
    let resolved = checked_quarantine(mirror, quarantine).ok()??;
    let objects = mirror.join("objects").canonicalize().ok()?;
    let named = resolved
        .file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with(crate::mirror::QUARANTINE_PREFIX));
    (resolved.parent() == Some(objects.as_path()) && named).then_some(resolved)
}

/// What the repo's rules alone say against `update` (a ref it may not
/// push, a deletion it may not make): no git needed.
fn rule_problem(rules: &PushRules, update: &RefUpdate) -> Option<String> {
    let name = &update.reference;
    if !rules.allows_ref(name) {
        return Some(format!(
            "{name}: this ref may not be pushed (allowed: {})",
            rules.patterns().join(", ")
        ));
    }
    if update.is_delete() && !rules.delete {
        return Some(format!("{name}: deleting refs is not allowed"));
    }
    None
}

/// After the operator's answer: refresh the mirror (the push holds the
/// repo lock) and make sure the push brings no commit beyond those it
/// brought when it was checked (`checked`). One that upstream dropped
/// while the operator decided would otherwise go back unscanned.
async fn still_as_checked(
    context: &PushContext,
    access: &ObjectAccess,
    updates: &[RefUpdate],
    checked: &[NewCommit],
) -> Result<(), String> {
    crate::mirror::refresh(
        &context.state,
        &context.repo,
        &context.timeouts,
        &context.receive_memory,
    )
    .await
        .map_err(|error| {
            tracing::warn!(repo = %context.repo.name, error = %error, "cannot refresh the mirror after the operator's answer");
            "upstream could not be reached to check the push again after the operator's answer; try again".to_string()
        })?;
    let now = new_commits(access, updates, context.timeouts.local_git)
        .await
        .map_err(|error| format!("cannot list the push's commits again: {error}"))?;
    match now
        .iter()
        .find(|commit| !checked.iter().any(|seen| seen.id == commit.id))
    {
        Some(commit) => Err(format!(
            "upstream no longer has commit {} while the operator decided; it was not scanned. Fetch and push again",
            short(&commit.id)
        )),
        None => Ok(()),
    }
}

/// receive-pack's own connectivity check failing marks a command
/// "missing necessary objects" *before* this hook and still hands it over
/// unmarked; forwarded, upstream (which may hold the missing objects
/// already) could accept what the mirror then refuses. So every update's
/// new commit must exist, and its history down to the mirror's refs
/// (`rev-list <new>… --not --all`, the same bound as receive-pack's) must
/// be whole: a commit whose parent is missing anywhere fails. Commits only:
/// that every tree and blob a received object names is in the push or the
/// mirror, `index-pack --strict` (`receive.fsckObjects`) has checked before
/// the hook ran (the gate drops `shallow` lines, which would let it take
/// the client's shallow commits as parentless: [`crate::push_request`]).
/// Runs in the gate's own environment: no shallow file hides a parent.
async fn check_connected(
    access: &ObjectAccess,
    updates: &[RefUpdate],
    timeout: std::time::Duration,
) -> Result<(), String> {
    let mut input = String::new();
    for update in updates.iter().filter(|update| !update.is_delete()) {
        input.push_str(&update.new);
        input.push('\n');
    }
    if input.is_empty() {
        return Ok(());
    }
    let refused = |detail: String| {
        format!(
            "the pushed commits are not whole: {detail} (push the missing history, e.g. `git fetch --unshallow` in a shallow clone, and push again)"
        )
    };
    match access
        .git(["rev-list", "--quiet", "--stdin", "--not", "--all"])
        .output(input.as_bytes(), timeout)
        .await
    {
        Ok(output) if output.success => Ok(()),
        Ok(output) => Err(refused(stderr_excerpt(&output.stderr))),
        Err(error) => Err(refused(error.to_string())),
    }
}

/// Patterns for `for-each-ref` that each match one name exactly: every
/// folder above `name` below `refs/` (`refs/keep` and `refs/keep/x` for
/// `refs/keep/x/y`). A plain pattern would list everything under it; a
/// glob is matched whole, so each has its last ASCII character other
/// than `/` in brackets (git matches bytes, so not a character of
/// several; `[` is never in a valid ref name).
fn parent_patterns(name: &str) -> Vec<String> {
    name.match_indices('/')
        .map(|(at, _)| &name[..at])
        .filter(|parent| parent.len() > "refs".len())
        .filter_map(|parent| {
            let at = parent.rfind(|character: char| character.is_ascii() && character != '/')?;
            let (before, rest) = parent.split_at(at);
            let (one, after) = rest.split_at(1);
            Some(format!("{before}[{one}]{after}"))
        })
        .collect()
}

/// A ref in the mirror that `name` cannot live beside, from `listed`
/// (`for-each-ref` of `name` and its [`parent_patterns`]): one under it
/// (`refs/keep/x/y` for `refs/keep/x`) or one it would be under
/// (`refs/keep/x` for `refs/keep/x/y`). A ref outside branches and tags
/// that upstream has deleted stays in the mirror, and a push of such a
/// name would land upstream, then fail in the mirror: audit round 9.
fn name_conflict<'a>(name: &str, listed: &'a str) -> Option<&'a str> {
    listed
        .lines()
        .filter_map(|line| line.split_once(' ').map(|(_, reference)| reference))
        .find(|reference| {
            reference
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('/'))
                || name
                    .strip_prefix(reference)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
}

/// The part of step 1 that needs git: each ref still where the agent saw
/// it, and a non-fast-forward only with `force`. [`decide`] has refused
/// every update [`rule_problem`] objects to before this runs.
async fn check_policy(
    context: &PushContext,
    access: &ObjectAccess,
    updates: &[RefUpdate],
) -> Result<Vec<String>, String> {
    let rules = &context.repo.push;
    let timeout = context.timeouts.local_git;
    let mut problems = Vec::new();
    for update in updates {
        let name = &update.reference;
        // Where the ref is now and whether the update fast-forwards, both
        // at once. The exact name only: `rev-parse` would fall back to
        // other refs (`refs/heads/refs/heads/x` for `refs/heads/x`), and
        // `for-each-ref` also lists the refs under the name (kept out
        // below).
        // The folders above it too, for [`name_conflict`].
        let mut listing = vec![
            "for-each-ref".to_string(),
            "--format=%(objectname) %(refname)".to_string(),
            "--".to_string(),
            name.clone(),
        ];
        if !update.is_delete() {
            listing.extend(parent_patterns(name));
        }
        let for_each_ref = access.git(listing);
        let current = for_each_ref.checked(b"", timeout);
        let fast_forward = async {
            if update.is_create() || update.is_delete() {
                return Ok(None);
            }
            access
                .git([
                    "merge-base",
                    "--is-ancestor",
                    update.old.as_str(),
                    update.new.as_str(),
                ])
                .output(b"", timeout)
                .await
                .map(Some)
        };
        let (current, fast_forward) = tokio::join!(current, fast_forward);
        let current = current.map_err(|error| error.to_string())?;
        let listed = String::from_utf8_lossy(&current);
        let now = listed
            .lines()
            .find_map(|line| {
                line.split_once(' ')
                    .filter(|(_, reference)| reference == name)
                    .map(|(id, _)| id)
            })
            .unwrap_or("");
        let expected = if update.is_create() {
            ""
        } else {
            update.old.as_str()
        };
        if now != expected {
            problems.push(format!(
                "{name}: the ref moved since you fetched (fetch first, then push again)"
            ));
            continue;
        }
        if !update.is_delete()
            && let Some(other) = name_conflict(name, &listed)
        {
            // Upstream may not have `other` any more (the refresh prunes
            // branches and tags only): it would take the push and the
            // mirror's update would fail, a half-landed push.
            problems.push(format!(
                "{name}: the gate's mirror has {other}, and a ref name cannot also be a folder of ref names; nothing was pushed (delete {other} first, or push to another name)"
            ));
        }
        if let Some(ancestor) = fast_forward.map_err(|error| error.to_string())?
            && !ancestor.success
        {
            if ancestor.code == Some(1) {
                if !rules.force {
                    problems.push(format!(
                        "{name}: non-fast-forward update (force-push is not allowed)"
                    ));
                }
            } else {
                return Err(format!(
                    "git merge-base failed: {}",
                    stderr_excerpt(&ancestor.stderr)
                ));
            }
        }
    }
    Ok(problems)
}

async fn ask(
    context: &PushContext,
    session: &mut HookSession,
    reports: Vec<FindingReport>,
) -> Verdict {
    let (filed_sender, mut filed) = tokio::sync::mpsc::unbounded_channel::<String>();
    let timeout = context.timeouts.approval;
    let mut on_filed = move |id: &str| {
        let _ = filed_sender.send(id.to_string());
    };
    // Waits holding no thread (see [`crate::approval`]); the agent is told
    // each proposal's id as soon as it is filed.
    let mut deciding = context.approver.decide(&reports, timeout, &mut on_filed);
    loop {
        tokio::select! {
            Some(id) = filed.recv() => {
                say(session, &format!("push held for the operator: proposal {id} (waiting up to {}s)", timeout.as_secs())).await;
            }
            verdict = &mut deciding => {
                while let Ok(id) = filed.try_recv() {
                    say(session, &format!("push held for the operator: proposal {id}")).await;
                }
                return verdict;
            }
        }
    }
}

/// How the gate shows these ref names (every ref of a push, deletions too)
/// in messages and logs: a name the repo's scanner (the one the push is
/// scanned with) finds anything in is masked. Scanned only when a message
/// names refs: a refusal, upstream's answer, a settling after a forward.
pub async fn shown_names<'a>(
    context: &PushContext,
    names: impl IntoIterator<Item = &'a str>,
) -> MaskedNames {
    let names: Vec<&str> = names.into_iter().collect();
    let (scanner, _) = repo_scanner(context).await;
    MaskedNames::scan(&names, scanner.as_ref())
}

/// The ref names of `updates`, for [`shown_names`].
fn names_of(updates: &[RefUpdate]) -> impl Iterator<Item = &str> {
    updates.iter().map(|update| update.reference.as_str())
}

/// The scanner for this repo: the base one, plus the rules of the repo's
/// own rules files when upstream's default branch has them:
/// [`REPO_RULES_FILE`] (the engine's format) and [`GITLEAKS_RULES_FILE`]
/// (translated). A file that does not compile is skipped (the built-in
/// rules and the other file still apply), with a warning for the agent;
/// what of a gitleaks config could not be imported is logged, and told to
/// the agent in short.
async fn repo_scanner(context: &PushContext) -> (Arc<dyn CommitScanner>, Vec<String>) {
    let base = Arc::clone(&context.scanner);
    let timeout = context.timeouts.local_git;
    let mirror = ObjectAccess::new(&context.mirror, None);
    let (native, gitleaks) = tokio::join!(
        rules_blob(&mirror, REPO_RULES_FILE, timeout),
        rules_blob(&mirror, GITLEAKS_RULES_FILE, timeout)
    );
    if native.is_none() && gitleaks.is_none() {
        return (base, Vec::new());
    }
    let key = format!(
        "{}:{}",
        native.as_deref().unwrap_or(""),
        gitleaks.as_deref().unwrap_or("")
    );
    let repo = context.repo.name.clone();
    if let Ok(entries) = context.rules_cache.entries.lock()
        && let Some((cached_key, scanner, warnings)) = entries.get(&repo)
        && *cached_key == key
    {
        return (Arc::clone(scanner), warnings.clone());
    }
    let mut texts = Vec::new();
    let mut oversized = Vec::new();
    for (file, blob) in [(REPO_RULES_FILE, native), (GITLEAKS_RULES_FILE, gitleaks)] {
        let Some(blob) = blob else {
            texts.push(None);
            continue;
        };
        let size = match mirror
            .git(["cat-file", "-s", blob.as_str()])
            .checked(b"", timeout)
            .await
        {
            Ok(size) => String::from_utf8_lossy(&size).trim().parse::<u64>().ok(),
            Err(error) => {
                tracing::warn!(repo = %repo, file, error = %error, "cannot read the repo's rules file");
                return (base, Vec::new());
            }
        };
        if size.is_none_or(|size| size > MAX_REPO_RULES_FILE_BYTES) {
            tracing::warn!(repo = %repo, file, size, "the repo's rules file is refused: too large");
            oversized.push(format!(
                "warning: {file} on the default branch is invalid and was ignored: it is {} bytes, over the gate's {MAX_REPO_RULES_FILE_BYTES}",
                size.map_or_else(|| "?".to_string(), |size| size.to_string())
            ));
            texts.push(None);
            continue;
        }
        match mirror
            .git(["cat-file", "blob", blob.as_str()])
            .checked(b"", timeout)
            .await
        {
            Ok(bytes) => texts.push(Some(String::from_utf8_lossy(&bytes).into_owned())),
            Err(error) => {
                tracing::warn!(repo = %repo, file, error = %error, "cannot read the repo's rules file");
                return (base, Vec::new());
            }
        }
    }
    let gitleaks_text = texts.pop().flatten();
    let native_text = texts.pop().flatten();
    let compile_base = Arc::clone(&base);
    let log_repo = repo.clone();
    let built = tokio::task::spawn_blocking(move || {
        let (scanner, warnings) =
            compile_repo_rules(compile_base, native_text, gitleaks_text, &log_repo);
        (scanner, [oversized, warnings].concat())
    })
    .await;
    match built {
        Ok((scanner, warnings)) => {
            if let Ok(mut entries) = context.rules_cache.entries.lock() {
                entries.insert(repo, (key, Arc::clone(&scanner), warnings.clone()));
            }
            (scanner, warnings)
        }
        Err(error) => {
            tracing::warn!(repo = %repo, error = %error, "compiling the repo's rules failed");
            (base, Vec::new())
        }
    }
}

/// The blob id of `file` at the root of the mirror's `HEAD`, if it has one.
async fn rules_blob(
    mirror: &ObjectAccess,
    file: &str,
    timeout: std::time::Duration,
) -> Option<String> {
    let found = mirror
        .git(["rev-parse", "--verify", "--quiet", &format!("HEAD:{file}")])
        .output(b"", timeout)
        .await
        .ok()?;
    let blob = String::from_utf8_lossy(&found.stdout).trim().to_string();
    (found.success && !blob.is_empty()).then_some(blob)
}

/// `base` plus the rules of the repo's files (either may be absent), and
/// the warnings for the agent. Blocking: compiles regexes.
fn compile_repo_rules(
    base: Arc<dyn CommitScanner>,
    native: Option<String>,
    gitleaks: Option<String>,
    repo: &str,
) -> (Arc<dyn CommitScanner>, Vec<String>) {
    let mut scanner = base;
    let mut warnings = Vec::new();
    let invalid = |file: &str, message: &str| {
        tracing::warn!(repo = %repo, file, "the repo's rules file is refused: {message}");
        format!("warning: {file} on the default branch is invalid and was ignored: {message}")
    };
    if let Some(text) = native {
        match bot_bottle_dlp::RuleSet::from_toml_str(&text, REPO_RULES_FILE) {
            Err(error) => warnings.push(invalid(REPO_RULES_FILE, &error.to_string())),
            Ok(rules) => match scanner.with_rules(rules) {
                Ok(Some(with)) => scanner = with,
                Ok(None) => {}
                Err(message) => warnings.push(invalid(REPO_RULES_FILE, &message)),
            },
        }
    }
    if let Some(text) = gitleaks {
        match bot_bottle_dlp::RuleSet::from_gitleaks_toml(&text, GITLEAKS_RULES_FILE) {
            Err(error) => warnings.push(invalid(GITLEAKS_RULES_FILE, &error.to_string())),
            Ok(import) => match scanner.with_rules(import.rules) {
                Ok(Some(with)) => {
                    scanner = with;
                    for warning in &import.warnings {
                        tracing::warn!(repo = %repo, file = GITLEAKS_RULES_FILE, "not imported as written: {warning}");
                    }
                    if let Some(first) = import.warnings.first() {
                        let shown: String = first.chars().take(MAX_SHOWN_WARNING_CHARS).collect();
                        let more = if first.chars().count() > MAX_SHOWN_WARNING_CHARS {
                            "…"
                        } else {
                            ""
                        };
                        warnings.push(format!(
                            "warning: {GITLEAKS_RULES_FILE}: {} part(s) not imported as written (its other rules apply; the gate's log has the list), first: {shown}{more}",
                            import.warnings.len()
                        ));
                    }
                }
                Ok(None) => {}
                Err(message) => warnings.push(invalid(GITLEAKS_RULES_FILE, &message)),
            },
        }
    }
    (scanner, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_quarantine_git_made_in_the_mirror_is_swept() {
        let temp = tempfile::tempdir().unwrap();
        let mirror = temp.path().join("m.git");
        let objects = mirror.join("objects");
        for dir in [
            "tmp_objdir-incoming-a1",
            "pack",
            "tmp_objdir-incoming-a1/nested",
        ] {
            std::fs::create_dir_all(objects.join(dir)).unwrap();
        }
        let outside = temp.path().join("tmp_objdir-incoming-b2");
        std::fs::create_dir_all(&outside).unwrap();
        let swept = |path: &Path| sweepable_quarantine(&mirror, Some(path));
        assert_eq!(
            swept(&objects.join("tmp_objdir-incoming-a1")),
            Some(
                objects
                    .join("tmp_objdir-incoming-a1")
                    .canonicalize()
                    .unwrap()
            )
        );
        for kept in [
            objects.join("pack"),
            objects.join("tmp_objdir-incoming-a1/nested"),
            objects.clone(),
            outside.clone(),
            objects.join("../../tmp_objdir-incoming-b2"),
            objects.join("tmp_objdir-incoming-missing"),
        ] {
            assert_eq!(swept(&kept), None, "{}", kept.display());
        }
        assert_eq!(sweepable_quarantine(&mirror, None), None);
    }
}
