//! The gate on loopback with real git on both ends: a bare upstream (over
//! `file://`, or over smart HTTP behind a token check), the gate in-process,
//! and the agent's `git` talking to it.
#![expect(clippy::unwrap_used, reason = "test helpers panic on setup failure")]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bot_bottle_dlp::{Scanner, ScannerConfig};
use bot_bottle_gitgate::{
    Approver, Config, Credential, Deciding, DlpScanner, FindingReport, ProposalRate, ReceiveMemory,
    Repo, ScanLimits, Timeouts, Verdict, policy::PushRules, server::MAX_RECEIVING_PUSHES_PER_REPO,
};
use bot_bottle_manifest::model::PushPolicy;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

mod support;
use support::forge::{self, Forge};

/// An AWS access key id shape, assembled so this file holds no secret.
fn aws_key() -> String {
    format!("AKIA{}", "Z7QX4MBN2PLK6RTY")
}

/// The operator, scripted.
struct ScriptedApprover {
    verdict: Verdict,
    seen: Mutex<Vec<FindingReport>>,
    /// How long ago the proposals of a gate's last run were filed.
    filed_before: Vec<Duration>,
}

impl ScriptedApprover {
    fn new(verdict: Verdict) -> Arc<Self> {
        Self::after_a_restart(verdict, Vec::new())
    }
    /// As if the gate's last run had filed proposals `filed_before` ago.
    fn after_a_restart(verdict: Verdict, filed_before: Vec<Duration>) -> Arc<Self> {
        Arc::new(Self {
            verdict,
            seen: Mutex::new(Vec::new()),
            filed_before,
        })
    }
    fn seen(&self) -> Vec<FindingReport> {
        self.seen.lock().unwrap().clone()
    }
}

impl Approver for ScriptedApprover {
    fn decide<'a>(
        &'a self,
        reports: &'a [FindingReport],
        _: Duration,
        on_filed: &'a mut (dyn FnMut(&str) + Send),
    ) -> Deciding<'a> {
        self.seen.lock().unwrap().extend_from_slice(reports);
        on_filed("test-proposal-1");
        Box::pin(std::future::ready(self.verdict.clone()))
    }

    fn filed_within(&self, window: Duration) -> Vec<Duration> {
        self.filed_before
            .iter()
            .copied()
            .filter(|age| *age < window)
            .collect()
    }
}

struct Output {
    success: bool,
    stdout: String,
    stderr: String,
}

/// git in `dir` with a clean, deterministic environment.
fn git_command(dir: &Path, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new("git");
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Agent")
        .env("GIT_AUTHOR_EMAIL", "agent@example.com")
        .env("GIT_COMMITTER_NAME", "Agent")
        .env("GIT_COMMITTER_EMAIL", "agent@example.com")
        .env("GIT_TERMINAL_PROMPT", "0");
    command
}

/// Run git with a clean, deterministic environment.
async fn git(dir: &Path, args: &[&str]) -> Output {
    let output = git_command(dir, args).output().await.unwrap();
    Output {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

async fn git_ok(dir: &Path, args: &[&str]) -> String {
    let output = git(dir, args).await;
    assert!(output.success, "git {args:?} failed:\n{}", output.stderr);
    output.stdout.trim().to_string()
}

/// The commit a ref points at, or "" when it does not exist.
async fn rev(git_dir: &Path, reference: &str) -> String {
    let output = git(git_dir, &["rev-parse", "--verify", "--quiet", reference]).await;
    output.stdout.trim().to_string()
}

struct Fixture {
    _temp: tempfile::TempDir,
    root: PathBuf,
    upstream: PathBuf,
    url: String,
    daemon_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Fixture {
    /// A bare upstream with one commit on `main`.
    async fn upstream() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().to_path_buf();
        let upstream = root.join("upstream.git");
        git_ok(
            &root,
            &[
                "init",
                "--bare",
                "--quiet",
                "-b",
                "main",
                upstream.to_str().unwrap(),
            ],
        )
        .await;
        let seed = root.join("seed");
        git_ok(
            &root,
            &["init", "--quiet", "-b", "main", seed.to_str().unwrap()],
        )
        .await;
        std::fs::write(seed.join("README"), "hello\n").unwrap();
        git_ok(&seed, &["add", "README"]).await;
        git_ok(&seed, &["commit", "--quiet", "-m", "initial"]).await;
        git_ok(
            &seed,
            &["push", "--quiet", upstream.to_str().unwrap(), "main"],
        )
        .await;
        (temp, root, upstream)
    }

    async fn start(policy: Option<PushPolicy>, approver: Arc<dyn Approver>) -> Self {
        Self::start_timed(policy, approver, Timeouts::default()).await
    }

    /// [`Fixture::start`] with these timeouts.
    async fn start_timed(
        policy: Option<PushPolicy>,
        approver: Arc<dyn Approver>,
        timeouts: Timeouts,
    ) -> Self {
        let (temp, root, upstream) = Self::upstream().await;
        let upstream_url = format!("file://{}", upstream.display());
        Self::start_with(
            temp,
            root,
            upstream,
            upstream_url,
            Credential::None,
            policy,
            approver,
            timeouts,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn start_with(
        temp: tempfile::TempDir,
        root: PathBuf,
        upstream: PathBuf,
        upstream_url: String,
        credential: Credential,
        policy: Option<PushPolicy>,
        approver: Arc<dyn Approver>,
        timeouts: Timeouts,
    ) -> Self {
        Self::start_with_limits(
            temp,
            root,
            upstream,
            upstream_url,
            credential,
            policy,
            approver,
            timeouts,
            ScanLimits::default(),
            ReceiveMemory::default(),
            ProposalRate::default(),
        )
        .await
    }

    /// A gate over a `file://` upstream with these scan limits.
    async fn start_scan_limited(approver: Arc<dyn Approver>, scan_limits: ScanLimits) -> Self {
        Self::start_local(
            approver,
            scan_limits,
            ReceiveMemory::default(),
            ProposalRate::default(),
        )
        .await
    }

    /// A gate over a `file://` upstream whose git receives pushes under
    /// this memory bound.
    async fn start_memory_limited(approver: Arc<dyn Approver>, memory: ReceiveMemory) -> Self {
        Self::start_local(
            approver,
            ScanLimits::default(),
            memory,
            ProposalRate::default(),
        )
        .await
    }

    /// A gate over a `file://` upstream filing at most this many proposals
    /// in what time.
    async fn start_rate_limited(approver: Arc<dyn Approver>, proposal_rate: ProposalRate) -> Self {
        Self::start_local(
            approver,
            ScanLimits::default(),
            ReceiveMemory::default(),
            proposal_rate,
        )
        .await
    }

    /// A gate over a `file://` upstream with these bounds.
    async fn start_local(
        approver: Arc<dyn Approver>,
        scan_limits: ScanLimits,
        memory: ReceiveMemory,
        proposal_rate: ProposalRate,
    ) -> Self {
        let (temp, root, upstream) = Self::upstream().await;
        let upstream_url = format!("file://{}", upstream.display());
        Self::start_with_limits(
            temp,
            root,
            upstream,
            upstream_url,
            Credential::None,
            None,
            approver,
            Timeouts::default(),
            scan_limits,
            memory,
            proposal_rate,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn start_with_limits(
        temp: tempfile::TempDir,
        root: PathBuf,
        upstream: PathBuf,
        upstream_url: String,
        credential: Credential,
        policy: Option<PushPolicy>,
        approver: Arc<dyn Approver>,
        timeouts: Timeouts,
        scan_limits: ScanLimits,
        receive_memory: ReceiveMemory,
        proposal_rate: ProposalRate,
    ) -> Self {
        let repo = Repo {
            name: "app".into(),
            upstream: upstream_url,
            credential,
            push: PushRules::from_policy("app", policy.as_ref()).unwrap(),
        };
        let config = Config {
            state_dir: root.join("state"),
            repos: vec![repo],
            scanner: Arc::new(DlpScanner(Scanner::new(ScannerConfig::default()).unwrap())),
            approver,
            timeouts,
            scan_limits,
            receive_memory,
            proposal_rate,
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let daemon = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let daemon_address = daemon.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            bot_bottle_gitgate::run_with_daemon(listener, Some(daemon), config, async {
                let _ = stop.await;
            })
            .await
            .unwrap();
        });
        Self {
            _temp: temp,
            root,
            upstream,
            url: format!("http://{address}/app.git"),
            daemon_url: format!("git://{daemon_address}/app.git"),
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// A gate holding the token `held` in front of a forge that accepts
    /// only `right-token` ([`forge::serve`]), over TLS when `tls` is
    /// given; `upstream_ca` (PEM) is installed as `--upstream-ca` would.
    async fn behind_token_upstream(
        held: &str,
        tls: Option<tokio_rustls::TlsAcceptor>,
        upstream_ca: Option<&str>,
    ) -> Self {
        let (temp, root, upstream) = Self::upstream().await;
        git_ok(&upstream, &["config", "http.receivepack", "true"]).await;
        let over_tls = tls.is_some();
        let forge = Forge {
            token: Some("right-token".into()),
            tls,
            ..Forge::default()
        };
        let url = format!("{}/upstream.git", forge::serve(root.clone(), forge).await);
        assert_eq!(url.starts_with("https://"), over_tls, "{url}");
        if let Some(pem) = upstream_ca {
            let ca_file = root.join("forge-ca.pem");
            std::fs::write(&ca_file, pem).unwrap();
            bot_bottle_gitgate::mirror::install_upstream_ca(&root.join("state"), &[ca_file])
                .unwrap();
        }
        Self::start_with(
            temp,
            root,
            upstream,
            url,
            Credential::Token(bot_bottle_secret::Redacted::new(held.into())),
            None,
            reject(),
            Timeouts::default(),
        )
        .await
    }

    /// A commit carrying an AWS key pushed straight to upstream (not
    /// through the gate) as `branch`, from a clone of upstream's own: the
    /// clone and the commit.
    async fn secret_pushed_straight_upstream(&self, branch: &str) -> (PathBuf, String) {
        let outside = self.clone_upstream("outside").await;
        let secret = commit_file(
            &outside,
            "leak.txt",
            &format!("aws_access_key_id = {}\n", aws_key()),
            "oops",
        )
        .await;
        git_ok(
            &outside,
            &[
                "push",
                "--quiet",
                "origin",
                &format!("HEAD:refs/heads/{branch}"),
            ],
        )
        .await;
        (outside, secret)
    }

    fn mirror(&self) -> PathBuf {
        self.root.join("state/mirrors/app.git")
    }

    /// Clone upstream itself (not through the gate) into `name`: someone
    /// else's view of the forge.
    async fn clone_upstream(&self, name: &str) -> PathBuf {
        let clone = self.root.join(name);
        git_ok(
            &self.root,
            &[
                "clone",
                "--quiet",
                self.upstream.to_str().unwrap(),
                clone.to_str().unwrap(),
            ],
        )
        .await;
        clone
    }

    /// Clone through the gate into `name`.
    async fn clone(&self, name: &str) -> PathBuf {
        let work = self.root.join(name);
        git_ok(
            &self.root,
            &["clone", "--quiet", &self.url, work.to_str().unwrap()],
        )
        .await;
        work
    }

    /// Clone through the gate into `name`, on a new branch `branch`.
    async fn clone_on_branch(&self, name: &str, branch: &str) -> PathBuf {
        let work = self.clone(name).await;
        git_ok(&work, &["checkout", "--quiet", "-b", branch]).await;
        work
    }

    async fn stop(mut self) {
        self.shut_down().await;
    }

    /// Tell the gate to stop and wait until its `run` has returned, keeping
    /// the fixture's directories to look at.
    async fn shut_down(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
    }
}

async fn commit_file(work: &Path, file: &str, content: &str, message: &str) -> String {
    std::fs::write(work.join(file), content).unwrap();
    git_ok(work, &["add", file]).await;
    git_ok(work, &["commit", "--quiet", "-m", message]).await;
    git_ok(work, &["rev-parse", "HEAD"]).await
}

fn approve() -> Arc<ScriptedApprover> {
    ScriptedApprover::new(Verdict::Approved {
        reason: "test fixture, not a real key".into(),
    })
}

fn reject() -> Arc<ScriptedApprover> {
    ScriptedApprover::new(Verdict::Rejected {
        reason: Some("that is a real key".into()),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clone_fetch_and_a_clean_push_land_upstream_and_in_the_mirror() {
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    let work = gate.clone("work").await;
    assert_eq!(
        std::fs::read_to_string(work.join("README")).unwrap(),
        "hello\n"
    );
    // Protocol v0 works too.
    let old = gate.root.join("v0");
    git_ok(
        &gate.root,
        &[
            "-c",
            "protocol.version=0",
            "clone",
            "--quiet",
            &gate.url,
            old.to_str().unwrap(),
        ],
    )
    .await;

    let commit = commit_file(&work, "main.rs", "fn main() {}\n", "add main").await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(push.success, "{}", push.stderr);
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, commit);
    assert_eq!(rev(&gate.mirror(), "refs/heads/main").await, commit);
    assert!(approver.seen().is_empty());

    // A change made upstream directly is fetched through the gate.
    let other = gate.clone_upstream("other").await;
    let upstream_commit = commit_file(&other, "up.txt", "from upstream\n", "upstream change").await;
    git_ok(&other, &["push", "--quiet", "origin", "main"]).await;
    git_ok(&old, &["pull", "--quiet", "--ff-only"]).await;
    assert_eq!(git_ok(&old, &["rev-parse", "HEAD"]).await, upstream_commit);
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_is_held_and_a_rejection_leaves_upstream_and_mirror_unchanged() {
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    let work = gate.clone("work").await;
    let before = rev(&gate.upstream, "refs/heads/main").await;
    let key = aws_key();
    let commit = commit_file(
        &work,
        "config.ini",
        &format!("[aws]\nkey = {key}\n"),
        "add config",
    )
    .await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success);
    assert!(
        push.stderr
            .contains("remote: git-gate: push held for the operator: proposal test-proposal-1"),
        "{}",
        push.stderr
    );
    assert!(
        push.stderr.contains(
            "remote: git-gate: push refused: the operator rejected it: that is a real key"
        ),
        "{}",
        push.stderr
    );
    assert!(
        !push.stderr.contains(&key),
        "the agent's output must not echo the key"
    );
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, before);
    assert_eq!(rev(&gate.mirror(), "refs/heads/main").await, before);
    // The refused objects never became reachable from the mirror, and
    // never reached upstream (the early forward sent nothing).
    assert!(
        !git(&gate.mirror(), &["cat-file", "-e", &commit])
            .await
            .success
    );
    assert!(
        !git(&gate.upstream, &["cat-file", "-e", &commit])
            .await
            .success
    );

    let seen = approver.seen();
    assert!(!seen.is_empty());
    let report = &seen[0];
    assert_eq!(report.repo, "app");
    assert_eq!(report.finding.reference, "refs/heads/main");
    assert_eq!(report.finding.commit, commit);
    assert_eq!(report.finding.file, "config.ini");
    assert_eq!(report.finding.line, 2);
    assert!(
        report.finding.snippet.starts_with("key = "),
        "{}",
        report.finding.snippet
    );
    assert!(!report.finding.snippet.contains(&key));
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_approved_secret_lands() {
    let approver = approve();
    let gate = Fixture::start(None, approver.clone()).await;
    let work = gate.clone("work").await;
    let commit = commit_file(
        &work,
        "fixture.txt",
        &format!("example {}\n", aws_key()),
        "fixture",
    )
    .await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(push.success, "{}", push.stderr);
    assert!(
        push.stderr
            .contains("remote: git-gate: the operator approved: test fixture, not a real key"),
        "{}",
        push.stderr
    );
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, commit);
    assert_eq!(rev(&gate.mirror(), "refs/heads/main").await, commit);
    assert_eq!(approver.seen().len(), 1);
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_added_then_removed_is_still_caught() {
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    let work = gate.clone("work").await;
    let leaked = commit_file(
        &work,
        "notes.txt",
        &format!("oops {}\n", aws_key()),
        "notes",
    )
    .await;
    commit_file(&work, "notes.txt", "clean now\n", "remove the key").await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success);
    let seen = approver.seen();
    assert!(
        seen.iter().all(|report| report.finding.commit == leaked),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|report| report.finding.file == "notes.txt" && report.finding.line == 1)
    );
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_in_a_commit_message_is_caught() {
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    let work = gate.clone("work").await;
    commit_file(&work, "a.txt", "a\n", &format!("use key {}", aws_key())).await;
    assert!(!git(&work, &["push", "origin", "main"]).await.success);
    assert_eq!(approver.seen()[0].finding.file, "(commit message)");
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refs_force_pushes_and_deletions_the_policy_forbids_are_refused() {
    let policy = PushPolicy {
        refs: Some(vec!["refs/heads/**".into()]),
        force: None,
        delete: None,
    };
    let gate = Fixture::start(Some(policy), reject()).await;
    let work = gate.clone("work").await;
    let before = rev(&gate.upstream, "refs/heads/main").await;

    git_ok(&work, &["tag", "v1"]).await;
    let tag = git(&work, &["push", "origin", "v1"]).await;
    assert!(!tag.success);
    assert!(tag.stderr.contains("remote: git-gate: push refused: refs/tags/v1: this ref may not be pushed (allowed: refs/heads/**)"), "{}", tag.stderr);
    assert_eq!(rev(&gate.upstream, "refs/tags/v1").await, "");

    git_ok(&work, &["commit", "--quiet", "--amend", "-m", "rewritten"]).await;
    let force = git(&work, &["push", "--force", "origin", "main"]).await;
    assert!(!force.success);
    assert!(
        force
            .stderr
            .contains("refs/heads/main: non-fast-forward update (force-push is not allowed)"),
        "{}",
        force.stderr
    );
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, before);

    let delete = git(&work, &["push", "origin", ":main"]).await;
    assert!(!delete.success);
    assert!(
        delete
            .stderr
            .contains("refs/heads/main: deleting refs is not allowed"),
        "{}",
        delete.stderr
    );
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, before);
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushes_the_rules_forbid_never_reach_upstream() {
    let (temp, root, upstream) = Fixture::upstream().await;
    git_ok(&upstream, &["config", "http.receivepack", "true"]).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let forge = Forge {
        seen: Some(Arc::clone(&seen)),
        ..Forge::default()
    };
    let url = format!("{}/upstream.git", forge::serve(root.clone(), forge).await);
    let policy = PushPolicy {
        refs: Some(vec!["refs/heads/**".into()]),
        force: None,
        delete: None,
    };
    let gate = Fixture::start_with(
        temp,
        root,
        upstream,
        url,
        Credential::None,
        Some(policy),
        reject(),
        Timeouts::default(),
    )
    .await;
    let work = gate.clone("work").await;
    let pushes_upstream = || {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|request| request.contains("git-receive-pack"))
            .count()
    };

    // A ref outside the patterns, and a deletion: refused, and upstream
    // never asked for its push advertisement.
    git_ok(&work, &["tag", "v1"]).await;
    let tag = git(&work, &["push", "origin", "v1"]).await;
    assert!(
        tag.stderr
            .contains("refs/tags/v1: this ref may not be pushed"),
        "{}",
        tag.stderr
    );
    let delete = git(&work, &["push", "origin", ":main"]).await;
    assert!(
        delete
            .stderr
            .contains("refs/heads/main: deleting refs is not allowed"),
        "{}",
        delete.stderr
    );
    assert_eq!(pushes_upstream(), 0, "{:?}", seen.lock().unwrap());

    // An allowed push is forwarded (and so seen).
    let pushed = commit_file(&work, "a.txt", "a\n", "a").await;
    let clean = git(&work, &["push", "origin", "main"]).await;
    assert!(clean.success, "{}", clean.stderr);
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, pushed);
    assert!(pushes_upstream() > 0, "{:?}", seen.lock().unwrap());
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn allowed_force_pushes_and_deletions_land() {
    let policy = PushPolicy {
        refs: Some(vec!["refs/heads/agent/*".into()]),
        force: Some(true),
        delete: Some(true),
    };
    let gate = Fixture::start(Some(policy), reject()).await;
    let work = gate.clone("work").await;
    commit_file(&work, "a.txt", "a\n", "a").await;
    git_ok(
        &work,
        &["push", "--quiet", "origin", "HEAD:refs/heads/agent/x"],
    )
    .await;
    let main = git(&work, &["push", "origin", "HEAD:main"]).await;
    assert!(!main.success, "main is outside refs/heads/agent/*");
    git_ok(&work, &["commit", "--quiet", "--amend", "-m", "a again"]).await;
    let amended = git_ok(&work, &["rev-parse", "HEAD"]).await;
    git_ok(
        &work,
        &[
            "push",
            "--quiet",
            "--force",
            "origin",
            "HEAD:refs/heads/agent/x",
        ],
    )
    .await;
    assert_eq!(rev(&gate.upstream, "refs/heads/agent/x").await, amended);
    git_ok(&work, &["push", "--quiet", "origin", ":refs/heads/agent/x"]).await;
    assert_eq!(rev(&gate.upstream, "refs/heads/agent/x").await, "");
    assert_eq!(rev(&gate.mirror(), "refs/heads/agent/x").await, "");
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_the_branch_the_mirror_checks_out_lands_on_both_sides() {
    // Upstream's default branch moves from main to dev; the mirror's HEAD
    // still names main. Deleting main (allowed) must not land upstream
    // while the mirror refuses it as "the current branch".
    let policy = PushPolicy {
        refs: None,
        force: None,
        delete: Some(true),
    };
    let gate = Fixture::start(Some(policy), reject()).await;
    let main = rev(&gate.upstream, "refs/heads/main").await;
    git_ok(&gate.upstream, &["branch", "dev", &main]).await;
    let work = gate.clone("work").await;
    git_ok(&gate.upstream, &["symbolic-ref", "HEAD", "refs/heads/dev"]).await;
    let delete = git(&work, &["push", "origin", "--delete", "main"]).await;
    assert!(delete.success, "{}", delete.stderr);
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, "");
    assert_eq!(rev(&gate.mirror(), "refs/heads/main").await, "");
    // The next clone checks out upstream's default branch.
    let again = gate.clone("again").await;
    assert_eq!(
        git_ok(&again, &["rev-parse", "--abbrev-ref", "HEAD"]).await,
        "dev"
    );
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upstream_rejection_fails_the_push_and_leaves_the_mirror() {
    let gate = Fixture::start(None, reject()).await;
    let work = gate.clone("work").await;
    let before = rev(&gate.upstream, "refs/heads/main").await;
    upstream_hook(
        &gate,
        "#!/bin/sh\necho 'upstream policy says no' >&2\nexit 1\n",
    );
    commit_file(&work, "a.txt", "a\n", "a").await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success);
    assert!(
        push.stderr
            .contains("remote: git-gate: push refused: upstream did not accept it:"),
        "{}",
        push.stderr
    );
    assert!(
        push.stderr.contains("upstream policy says no"),
        "{}",
        push.stderr
    );
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, before);
    assert_eq!(rev(&gate.mirror(), "refs/heads/main").await, before);
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_racing_an_upstream_change_gets_a_non_fast_forward_error() {
    let gate = Fixture::start(None, reject()).await;
    let work = gate.clone("work").await;
    // Someone pushes to upstream directly after the agent's last fetch …
    let other = gate.clone_upstream("other").await;
    let theirs = commit_file(&other, "b.txt", "b\n", "theirs").await;
    git_ok(&other, &["push", "--quiet", "origin", "main"]).await;
    // … and the agent pushes a commit on the old tip.
    commit_file(&work, "a.txt", "a\n", "ours").await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success);
    assert!(
        push.stderr.contains("fetch first") || push.stderr.contains("non-fast-forward"),
        "{}",
        push.stderr
    );
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, theirs);
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_to_one_ref_are_serialised() {
    let gate = Fixture::start(None, reject()).await;
    let first = gate.clone("first").await;
    let second = gate.clone("second").await;
    let one = commit_file(&first, "one.txt", "1\n", "one").await;
    let two = commit_file(&second, "two.txt", "2\n", "two").await;
    let (a, b) = tokio::join!(
        git(&first, &["push", "origin", "main"]),
        git(&second, &["push", "origin", "main"])
    );
    assert!(
        a.success != b.success,
        "exactly one push wins:\n{}\n{}",
        a.stderr,
        b.stderr
    );
    let winner = if a.success { one } else { two };
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, winner);
    assert_eq!(rev(&gate.mirror(), "refs/heads/main").await, winner);
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_to_different_refs_both_land() {
    let gate = Fixture::start(None, reject()).await;
    let first = gate.clone_on_branch("first", "one").await;
    let second = gate.clone_on_branch("second", "two").await;
    let one = commit_file(&first, "one.txt", "1\n", "one").await;
    let two = commit_file(&second, "two.txt", "2\n", "two").await;
    // Received side by side, checked and forwarded one after the other.
    let (a, b) = tokio::join!(
        git(&first, &["push", "origin", "one"]),
        git(&second, &["push", "origin", "two"])
    );
    assert!(a.success, "{}", a.stderr);
    assert!(b.success, "{}", b.stderr);
    assert_eq!(rev(&gate.upstream, "refs/heads/one").await, one);
    assert_eq!(rev(&gate.upstream, "refs/heads/two").await, two);
    assert_eq!(rev(&gate.mirror(), "refs/heads/one").await, one);
    assert_eq!(rev(&gate.mirror(), "refs/heads/two").await, two);
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_pushed_beside_a_clean_push_never_reaches_upstream() {
    let gate = Fixture::start(None, reject()).await;
    let clean = gate.clone_on_branch("clean", "clean").await;
    let dirty = gate.clone_on_branch("dirty", "dirty").await;
    let landed = commit_file(&clean, "notes.txt", "fine\n", "notes").await;
    let key = aws_key();
    let secret = commit_file(
        &dirty,
        "config.ini",
        &format!("[aws]\nkey = {key}\n"),
        "config",
    )
    .await;
    // Both packs are received at once, into two quarantines of the same
    // mirror; the clean push is forwarded while the other is checked.
    let (clean_push, dirty_push) = tokio::join!(
        git(&clean, &["push", "origin", "clean"]),
        git(&dirty, &["push", "origin", "dirty"])
    );
    assert!(clean_push.success, "{}", clean_push.stderr);
    assert!(!dirty_push.success);
    assert!(
        dirty_push
            .stderr
            .contains("push refused: the operator rejected it"),
        "{}",
        dirty_push.stderr
    );
    assert_eq!(rev(&gate.upstream, "refs/heads/clean").await, landed);
    assert_eq!(rev(&gate.upstream, "refs/heads/dirty").await, "");
    for repo in [&gate.upstream, &gate.mirror()] {
        assert!(
            !git(repo, &["cat-file", "-e", &secret]).await.success,
            "the secret commit is in {}",
            repo.display()
        );
    }
    gate.stop().await;
}

/// An operator who answers a rejection only when told to (or after 30 s).
struct SlowOperator {
    go: tokio::sync::Notify,
}

impl Approver for SlowOperator {
    fn decide<'a>(
        &'a self,
        _: &'a [FindingReport],
        _: Duration,
        on_filed: &'a mut (dyn FnMut(&str) + Send),
    ) -> Deciding<'a> {
        on_filed("test-proposal-1");
        Box::pin(async move {
            let _ = tokio::time::timeout(Duration::from_secs(30), self.go.notified()).await;
            Verdict::Rejected {
                reason: Some("rejected by the operator".into()),
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushes_queued_too_long_behind_a_held_push_are_refused() {
    let operator = Arc::new(SlowOperator {
        go: tokio::sync::Notify::new(),
    });
    // A whole receive-pack run is bounded by 2 + 4 × 1 + 1 + 1 = 8 s; a
    // push waits at most that long for the repo while another one holds it.
    let timeouts = Timeouts {
        http_backend: Duration::from_secs(2),
        local_git: Duration::from_secs(1),
        approval: Duration::from_secs(1),
        upstream_push: Duration::from_secs(1),
        ..Timeouts::default()
    };
    assert_eq!(timeouts.receive_pack(), Duration::from_secs(8));
    let gate = Fixture::start_timed(None, operator.clone(), timeouts).await;
    let held = gate.clone("held").await;
    let queued = [
        gate.clone_on_branch("queued-1", "feature").await,
        gate.clone_on_branch("queued-2", "feature").await,
    ];
    let before = rev(&gate.upstream, "refs/heads/main").await;
    commit_file(
        &held,
        "config.env",
        &format!("AWS_KEY={}\n", aws_key()),
        "key",
    )
    .await;
    for (index, work) in queued.iter().enumerate() {
        commit_file(work, "clean.txt", &format!("clean {index}\n"), "clean").await;
    }

    // The first push waits for the operator, holding the repo.
    let held_push = tokio::spawn(async move { git(&held, &["push", "origin", "main"]).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Two more: one is received beside it and waits for the repo in its
    // hook; the other waits before git starts (at most two pushes per repo
    // inside git). Both give up after the bound.
    let started = std::time::Instant::now();
    let (first, second) = tokio::join!(
        git(&queued[0], &["push", "origin", "feature"]),
        git(&queued[1], &["push", "origin", "feature"])
    );
    let waited = started.elapsed();
    operator.go.notify_one();
    let held_push = held_push.await.unwrap();

    assert!(!first.success && !second.success);
    let (in_hook, before_git) = if first.stderr.contains("remote: git-gate:") {
        (first, second)
    } else {
        (second, first)
    };
    assert!(
        in_hook.stderr.contains(
            "remote: git-gate: push refused: another push to this repository is still running; try again"
        ),
        "{}",
        in_hook.stderr
    );
    assert!(before_git.stderr.contains("503"), "{}", before_git.stderr);
    assert!(waited >= Duration::from_secs(7), "refused after {waited:?}");
    assert!(!held_push.success);
    assert!(
        held_push.stderr.contains("rejected by the operator"),
        "{}",
        held_push.stderr
    );
    // Neither push moved anything.
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, before);
    let branches = git_ok(&gate.upstream, &["branch", "--list", "feature"]).await;
    assert_eq!(branches, "");
    gate.stop().await;
}

/// A push whose receive-pack run is cut off at its bound while the
/// operator is still deciding fails at the agent: the gate breaks the
/// response off. Before, the response ended cleanly in the middle of git's
/// protocol and `git push` waited for ever (its `send-pack` and
/// `remote-http` each waiting on the other).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_cut_off_at_its_bound_fails_at_the_agent_instead_of_hanging() {
    let operator = Arc::new(SlowOperator {
        go: tokio::sync::Notify::new(),
    });
    let timeouts = Timeouts {
        http_backend: Duration::from_secs(1),
        local_git: Duration::from_secs(1),
        approval: Duration::from_secs(1),
        upstream_push: Duration::from_secs(1),
        ..Timeouts::default()
    };
    // The run's own bound: twice a receive-pack run (it may first wait
    // that long for a push ahead), 14 s here; the operator answers at 30.
    let bound = timeouts.receive_pack() * 2;
    assert_eq!(bound, Duration::from_secs(14));
    let gate = Fixture::start_timed(None, operator.clone(), timeouts).await;
    let work = gate.clone("work").await;
    let before = rev(&gate.upstream, "refs/heads/main").await;
    commit_file(
        &work,
        "config.env",
        &format!("AWS_KEY={}\n", aws_key()),
        "key",
    )
    .await;
    let push = tokio::time::timeout(
        bound + Duration::from_secs(12),
        git(&work, &["push", "origin", "main"]),
    )
    .await;
    operator.go.notify_one();
    let Ok(push) = push else {
        panic!("git push still waiting long after the gate cut its run off");
    };
    assert!(!push.success, "{}", push.stderr);
    assert!(
        push.stderr
            .contains("remote: git-gate: push held for the operator"),
        "{}",
        push.stderr
    );
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, before);
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stalled_uploads_give_their_receive_slots_back() {
    use tokio::io::AsyncWriteExt;
    // A push may wait 3 + 4 × 2 + 1 + 3 = 15 s for a receive slot; a body
    // that stops for 4 s is cut off.
    let timeouts = Timeouts {
        http_backend: Duration::from_secs(3),
        local_git: Duration::from_secs(2),
        approval: Duration::from_secs(1),
        upstream_push: Duration::from_secs(3),
        request_body_idle: Duration::from_secs(4),
        ..Timeouts::default()
    };
    assert_eq!(timeouts.receive_pack(), Duration::from_secs(15));
    let gate = Fixture::start_timed(None, reject(), timeouts).await;
    let work = gate.clone("work").await;
    let pushed = commit_file(&work, "clean.txt", "clean\n", "clean").await;

    // Two uploads take both of the repo's receive slots, send a command
    // and the start of a pack and stop, their connections left open (the
    // gate reads the commands itself before git starts: see
    // `push_request`).
    let address = gate
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/app.git");
    let mut start = pkt_line(
        format!(
            "{} {} refs/heads/stalled\0report-status\n",
            "0".repeat(40),
            "1".repeat(40)
        )
        .as_bytes(),
    );
    start.extend_from_slice(b"0000PACK");
    let mut request = format!(
        "POST /app.git/git-receive-pack HTTP/1.1\r\nHost: gate\r\n\
         Content-Type: application/x-git-receive-pack-request\r\n\
         Transfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        start.len()
    )
    .into_bytes();
    request.extend_from_slice(&start);
    request.extend_from_slice(b"\r\n");
    let mut stalled = Vec::new();
    for _ in 0..MAX_RECEIVING_PUSHES_PER_REPO {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.write_all(&request).await.unwrap();
        stalled.push(stream);
    }
    // Time for both to take their slots (a loaded machine included).
    tokio::time::sleep(Duration::from_secs(1)).await;

    // A real push gets a slot once the stalled ones are cut off, long
    // before its wait for one runs out, and lands.
    let started = std::time::Instant::now();
    let output = git(&work, &["push", "origin", "main"]).await;
    let took = started.elapsed();
    assert!(output.success, "{}", output.stderr);
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, pushed);
    // It did wait for the stalled ones (the slots were theirs), and not
    // for the bound.
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(12),
        "the push waited {took:?} for a slot"
    );
    drop(stalled);
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fetch_past_its_timeout_leaves_no_process_behind() {
    use tokio::io::AsyncWriteExt;
    let timeouts = Timeouts {
        http_backend: Duration::from_secs(4),
        ..Timeouts::default()
    };
    let gate = Fixture::start_timed(None, reject(), timeouts).await;
    // Upstream gets a commit whose pack (16 MiB that do not compress) is
    // far more than the pipes and socket buffers between git and a client
    // that does not read.
    let direct = gate.clone_upstream("direct").await;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..16 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[3]
        })
        .collect();
    std::fs::write(direct.join("noise.bin"), noise).unwrap();
    git_ok(&direct, &["add", "noise.bin"]).await;
    git_ok(&direct, &["commit", "--quiet", "-m", "noise"]).await;
    git_ok(&direct, &["push", "--quiet", "origin", "main"]).await;
    let head = rev(&gate.upstream, "refs/heads/main").await;
    // The mirror refreshes (an advertisement through the gate).
    let listed = git_ok(&gate.root, &["ls-remote", &gate.url]).await;
    assert!(listed.contains(&head), "{listed}");

    // A client asks for everything and never reads the answer.
    let address: std::net::SocketAddr = gate
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/app.git")
        .parse()
        .unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    let body = format!("0032want {head}\n00000009done\n");
    stream
        .write_all(
            format!(
                "POST /app.git/git-upload-pack HTTP/1.1\r\nHost: gate\r\n\
                 Content-Type: application/x-git-upload-pack-request\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();

    // Past the run's bound, git (http-backend and the upload-pack under
    // it) is gone, though the client is still connected.
    let serving = || processes_serving(&gate.root);
    let seen_by = std::time::Instant::now() + Duration::from_secs(3);
    while serving().is_empty() && std::time::Instant::now() < seen_by {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !serving().is_empty(),
        "upload-pack should be running by now"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !serving().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(serving(), Vec::<String>::new());
    drop(stream);
    gate.stop().await;
}

/// The command lines of the processes serving mirrors under `root` (their
/// environment names it as `GIT_PROJECT_ROOT`).
fn processes_serving(root: &Path) -> Vec<String> {
    let wanted = format!("GIT_PROJECT_ROOT={}", root.display());
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let path = entry.path();
        let Ok(environ) = std::fs::read(path.join("environ")) else {
            continue;
        };
        let serves = environ
            .split(|byte| *byte == 0)
            .any(|variable| String::from_utf8_lossy(variable).starts_with(&wanted));
        if serves {
            let command = std::fs::read(path.join("cmdline")).unwrap_or_default();
            found.push(String::from_utf8_lossy(&command).replace('\0', " "));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_upstream_serves_the_mirror() {
    let gate = Fixture::start(None, reject()).await;
    gate.clone("first").await;
    std::fs::rename(&gate.upstream, gate.root.join("moved.git")).unwrap();
    let work = gate.clone("second").await;
    assert_eq!(
        std::fs::read_to_string(work.join("README")).unwrap(),
        "hello\n"
    );
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hanging_upstream_times_out_and_the_mirror_is_served() {
    let (temp, root, upstream) = Fixture::upstream().await;
    // An "upstream" that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/app.git", silent.local_addr().unwrap());
    let timeouts = Timeouts {
        upstream_fetch: Duration::from_secs(1),
        ..Timeouts::default()
    };
    let gate = Fixture::start_with(
        temp,
        root,
        upstream,
        silent_url,
        Credential::None,
        None,
        reject(),
        timeouts,
    )
    .await;
    let output = git(&gate.root, &["ls-remote", &gate.url]).await;
    assert!(output.success, "{}", output.stderr);
    assert_eq!(output.stdout, "", "an empty mirror, served anyway");
    drop(silent);
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushing_straight_to_the_mirror_is_refused_by_its_hook() {
    let gate = Fixture::start(None, reject()).await;
    let work = gate.clone("work").await;
    commit_file(&work, "a.txt", "a\n", "a").await;
    let push = git(&work, &["push", gate.mirror().to_str().unwrap(), "main"]).await;
    assert!(!push.success);
    assert!(
        push.stderr
            .contains("pushes to this mirror go through the gate only"),
        "{}",
        push.stderr
    );
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_requests_get_a_reason() {
    let gate = Fixture::start(None, reject()).await;
    let base = gate.url.trim_end_matches("/app.git").to_string();
    for (request, expected) in [
        (
            "GET /nope.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
            "404",
        ),
        (
            "GET /app.git/info/refs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
            "403",
        ),
        (
            "GET /app.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\nGit-Protocol: a b\r\nConnection: close\r\n\r\n".to_string(),
            "400",
        ),
        (
            "POST /app.git/git-upload-pack HTTP/1.1\r\nHost: x\r\nContent-Encoding: br\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
            "415",
        ),
    ] {
        let answer = raw_http(&base, request.as_bytes()).await;
        let status_line = answer.lines().next().unwrap_or("").to_string();
        assert!(
            status_line.contains(expected),
            "{request:?} → {status_line}"
        );
        assert!(answer.contains("git-gate: "), "{answer}");
    }
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gzip_request_bodies_and_protocol_v2_work() {
    use std::io::Write;
    let gate = Fixture::start(None, reject()).await;
    let base = gate.url.trim_end_matches("/app.git").to_string();
    // Refresh the mirror first (as every client's first request does).
    raw_http(&base, b"GET /app.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\nGit-Protocol: version=2\r\nConnection: close\r\n\r\n").await;
    // A protocol v2 ls-refs command, gzipped.
    let command = b"0014command=ls-refs\n00010000";
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(command).unwrap();
    let gzipped = encoder.finish().unwrap();
    let mut request = format!(
        "POST /app.git/git-upload-pack HTTP/1.1\r\nHost: x\r\nGit-Protocol: version=2\r\nContent-Type: application/x-git-upload-pack-request\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        gzipped.len()
    )
    .into_bytes();
    request.extend_from_slice(&gzipped);
    let answer = raw_http(&base, &request).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let head = rev(&gate.upstream, "refs/heads/main").await;
    assert!(
        answer.contains(&format!("{head} refs/heads/main")),
        "{answer}"
    );
    gate.stop().await;
}

/// Send raw bytes to the gate and read the whole answer.
async fn raw_http(base: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// A CA of the test's own and a TLS acceptor for `127.0.0.1` whose
/// certificate it signed: a forge behind a private CA. The CA as PEM.
fn private_ca_tls() -> (tokio_rustls::TlsAcceptor, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use tokio_rustls::rustls;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "test forge CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    leaf_params.use_authority_key_identifier_extension = true;
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
                leaf_key.serialize_der(),
            )),
        )
        .unwrap();
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        ca_cert.pem(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_upstream_gets_the_held_token_and_a_wrong_one_is_refused() {
    let gate = Fixture::behind_token_upstream("right-token", None, None).await;
    let work = gate.clone("work").await;
    assert_eq!(
        std::fs::read_to_string(work.join("README")).unwrap(),
        "hello\n"
    );
    let commit = commit_file(&work, "a.txt", "a\n", "a").await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(push.success, "{}", push.stderr);
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, commit);
    // The token never reaches the mirror's config or the agent's clone.
    let mirror_config = std::fs::read_to_string(gate.mirror().join("config")).unwrap();
    assert!(
        !mirror_config.contains("right-token")
            && !mirror_config.to_lowercase().contains("authorization")
    );

    // A gate holding the wrong token: the push is refused with upstream's answer.
    let wrong = Fixture::behind_token_upstream("wrong-token", None, None).await;
    let output = git(&wrong.root, &["ls-remote", &wrong.url]).await;
    assert!(output.success, "{}", output.stderr);
    assert_eq!(
        output.stdout, "",
        "upstream refused the fetch: an empty mirror is served"
    );
    gate.stop().await;
    wrong.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_https_upstream_behind_a_private_ca_is_reached_only_with_its_ca_installed() {
    let (acceptor, ca_pem) = private_ca_tls();

    // With the forge's CA installed (what `--upstream-ca` does): clone and
    // push over HTTPS with the held token.
    let gate =
        Fixture::behind_token_upstream("right-token", Some(acceptor.clone()), Some(&ca_pem)).await;
    let work = gate.clone("work").await;
    assert_eq!(
        std::fs::read_to_string(work.join("README")).unwrap(),
        "hello\n"
    );
    let commit = commit_file(&work, "a.txt", "a\n", "a").await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(push.success, "{}", push.stderr);
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, commit);
    gate.stop().await;

    // Without it the forge's certificate is not trusted: nothing is
    // fetched (an empty mirror is served) and a push is refused with git's
    // certificate error, upstream unchanged.
    let untrusted = Fixture::behind_token_upstream("right-token", Some(acceptor), None).await;
    let before = rev(&untrusted.upstream, "refs/heads/main").await;
    let output = git(&untrusted.root, &["ls-remote", &untrusted.url]).await;
    assert!(output.success, "{}", output.stderr);
    assert_eq!(
        output.stdout, "",
        "nothing fetched from an untrusted upstream"
    );
    let work = untrusted.root.join("fresh");
    git_ok(
        &untrusted.root,
        &["init", "--quiet", "-b", "main", work.to_str().unwrap()],
    )
    .await;
    commit_file(&work, "b.txt", "b\n", "b").await;
    let push = git(&work, &["push", &untrusted.url, "main"]).await;
    assert!(!push.success, "the push went through: {}", push.stdout);
    assert!(
        push.stderr.contains("certificate"),
        "git's certificate error reaches the agent: {}",
        push.stderr
    );
    assert_eq!(rev(&untrusted.upstream, "refs/heads/main").await, before);
    untrusted.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_repos_own_rules_file_adds_rules() {
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    // Upstream's default branch carries a rules file (pushed there directly).
    let other = gate.clone_upstream("other").await;
    std::fs::create_dir_all(other.join(".bot-bottle")).unwrap();
    commit_file(
        &other,
        ".bot-bottle/dlp-rules.toml",
        "[[rule]]\nid = \"internal-ticket-token\"\ndescription = \"our ticket system's API token\"\nkeywords = [\"itt-\"]\nregex = '''\\b(ITT-[0-9]{12})\\b'''\n",
        "rules",
    )
    .await;
    git_ok(&other, &["push", "--quiet", "origin", "main"]).await;

    let work = gate.clone("work").await;
    commit_file(&work, "ticket.txt", "token ITT-123456789012\n", "ticket").await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success, "{}", push.stderr);
    let seen = approver.seen();
    assert!(
        seen.iter()
            .any(|report| report.finding.rule == "internal-ticket-token"),
        "{seen:?}"
    );
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_git_daemon_client_that_stalls_is_cut_off_at_the_bound() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let timeouts = Timeouts {
        http_backend: Duration::from_secs(2),
        ..Timeouts::default()
    };
    let gate = Fixture::start_timed(None, reject(), timeouts).await;
    let address = gate
        .daemon_url
        .trim_start_matches("git://")
        .trim_end_matches("/app.git")
        .to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = "git-upload-pack /app.git\0host=gate\0";
    stream
        .write_all(format!("{:04x}{request}", request.len() + 4).as_bytes())
        .await
        .unwrap();
    // The advertisement comes; the client then sends no want, and the gate
    // ends the connection at the bound.
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut answer))
        .await
        .expect("the gate ends a stalled git:// connection");
    let took = started.elapsed();
    assert!(read.is_ok());
    let head = rev(&gate.upstream, "refs/heads/main").await;
    assert!(
        String::from_utf8_lossy(&answer).contains(&head),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(took >= Duration::from_secs(1), "{took:?}");
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_git_daemon_protocol_serves_fetches_and_refuses_pushes() {
    let gate = Fixture::start(None, reject()).await;
    let head = rev(&gate.upstream, "refs/heads/main").await;
    for (name, version) in [("v2", "2"), ("v0", "0")] {
        let work = gate.root.join(name);
        let protocol = format!("protocol.version={version}");
        git_ok(
            &gate.root,
            &[
                "-c",
                &protocol,
                "clone",
                "--quiet",
                &gate.daemon_url,
                work.to_str().unwrap(),
            ],
        )
        .await;
        assert_eq!(git_ok(&work, &["rev-parse", "HEAD"]).await, head);
    }
    let work = gate.root.join("v2");
    commit_file(&work, "a.txt", "a\n", "a").await;
    let push = git(&work, &["push", &gate.daemon_url, "main"]).await;
    assert!(!push.success);
    assert!(
        push.stderr
            .contains("git-gate: git:// is fetch only; push over http://"),
        "{}",
        push.stderr
    );
    let missing = git(
        &gate.root,
        &["ls-remote", &gate.daemon_url.replace("app.git", "nope.git")],
    )
    .await;
    assert!(
        missing
            .stderr
            .contains("no repository `nope` behind this gate"),
        "{}",
        missing.stderr
    );
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, head);
    gate.stop().await;
}

/// An sshd on a loopback port that lets `authorized` in as the current user.
/// `None` when this machine has no sshd (Debian's `openssh-server`).
struct Sshd {
    child: tokio::process::Child,
    port: u16,
}

impl Sshd {
    async fn start(dir: &Path, authorized: &Path) -> Option<Self> {
        let sshd = Path::new("/usr/sbin/sshd");
        if !sshd.exists() {
            eprintln!("skipped: /usr/sbin/sshd is not installed (apt-get install openssh-server)");
            return None;
        }
        // sshd insists on its privilege-separation directory.
        std::fs::create_dir_all("/run/sshd").ok()?;
        let host_key = dir.join("host_key");
        git_ok_program(
            "ssh-keygen",
            dir,
            &[
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-f",
                host_key.to_str().unwrap(),
            ],
        )
        .await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\nLogLevel ERROR\n",
                host_key.display(),
                authorized.display(),
                dir.join("sshd.pid").display()
            ),
        )
        .unwrap();
        let child = tokio::process::Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .kill_on_drop(true)
            .spawn()
            .ok()?;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(Self { child, port });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("sshd did not start on port {port}");
    }
}

async fn git_ok_program(program: &str, dir: &Path, args: &[&str]) -> String {
    let output = tokio::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ssh_upstream_is_reached_with_the_deploy_key() {
    let (temp, root, upstream) = Fixture::upstream().await;
    let ssh_dir = root.join("ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    let key = ssh_dir.join("deploy_key");
    git_ok_program(
        "ssh-keygen",
        &ssh_dir,
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "deploy",
            "-f",
            key.to_str().unwrap(),
        ],
    )
    .await;
    let authorized = ssh_dir.join("authorized_keys");
    std::fs::copy(ssh_dir.join("deploy_key.pub"), &authorized).unwrap();
    let Some(mut sshd) = Sshd::start(&ssh_dir, &authorized).await else {
        return;
    };
    let user = git_ok_program("id", &root, &["-un"]).await;
    let url = format!("ssh://{user}@127.0.0.1:{}{}", sshd.port, upstream.display());
    let gate = Fixture::start_with(
        temp,
        root,
        upstream,
        url,
        Credential::DeployKey(key),
        None,
        reject(),
        Timeouts::default(),
    )
    .await;
    let work = gate.clone("work").await;
    assert_eq!(
        std::fs::read_to_string(work.join("README")).unwrap(),
        "hello\n"
    );
    let commit = commit_file(&work, "a.txt", "a\n", "over ssh").await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(push.success, "{}", push.stderr);
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, commit);
    // The host key was learned on first contact, in the gate's state.
    let known = std::fs::read_to_string(gate.root.join("state/known_hosts")).unwrap();
    assert!(known.contains("ssh-ed25519"), "{known}");
    gate.stop().await;
    let _ = sshd.child.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_in_an_annotated_tag_message_is_caught() {
    let policy = PushPolicy {
        refs: Some(vec!["refs/heads/**".into(), "refs/tags/*".into()]),
        force: None,
        delete: None,
    };
    let approver = reject();
    let gate = Fixture::start(Some(policy), approver.clone()).await;
    let work = gate.clone("work").await;
    git_ok(&work, &["tag", "-a", "v1", "-m", "clean release"]).await;
    git_ok(&work, &["push", "--quiet", "origin", "v1"]).await;
    assert_ne!(rev(&gate.upstream, "refs/tags/v1").await, "");
    let message = format!("release with {}", aws_key());
    git_ok(&work, &["tag", "-a", "v2", "-m", &message]).await;
    let push = git(&work, &["push", "origin", "v2"]).await;
    assert!(!push.success);
    assert_eq!(rev(&gate.upstream, "refs/tags/v2").await, "");
    let seen = approver.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].finding.file, "(tag message)");
    assert_eq!(seen[0].finding.reference, "refs/tags/v2");
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_in_a_blob_or_tree_a_tag_points_at_is_caught() {
    let policy = PushPolicy {
        refs: Some(vec!["refs/heads/**".into(), "refs/tags/*".into()]),
        force: None,
        delete: None,
    };
    let approver = reject();
    let gate = Fixture::start(Some(policy), approver.clone()).await;
    let work = gate.clone("work").await;
    // A tag straight at a blob: no commit walk reaches it.
    std::fs::write(work.join("loose.txt"), format!("key = {}\n", aws_key())).unwrap();
    let blob = git_ok(&work, &["hash-object", "-w", "loose.txt"]).await;
    let push = git(
        &work,
        &["push", "origin", &format!("{blob}:refs/tags/blob")],
    )
    .await;
    assert!(!push.success, "{}", push.stderr);
    assert_eq!(rev(&gate.upstream, "refs/tags/blob").await, "");
    // An annotated tag of an annotated tag of a tree holding the secret.
    git_ok(&work, &["add", "loose.txt"]).await;
    let tree = git_ok(&work, &["write-tree"]).await;
    git_ok(&work, &["tag", "-a", "inner", "-m", "a tree", &tree]).await;
    git_ok(&work, &["tag", "-a", "outer", "-m", "a tag", "inner"]).await;
    let push = git(&work, &["push", "origin", "refs/tags/outer"]).await;
    assert!(!push.success, "{}", push.stderr);
    assert_eq!(rev(&gate.upstream, "refs/tags/outer").await, "");
    let seen = approver.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].finding.file, "(pushed object)");
    assert_eq!(seen[0].finding.reference, "refs/tags/blob");
    assert_eq!(seen[1].finding.file, "loose.txt");
    assert_eq!(seen[1].finding.reference, "refs/tags/outer");
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn findings_name_the_ref_that_brings_the_commit_and_a_blob_is_scanned_once() {
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    let work = gate.clone("work").await;
    let secret = format!("key = {}\n", aws_key());
    git_ok(&work, &["checkout", "--quiet", "-b", "side"]).await;
    let on_side = commit_file(&work, "a.txt", &secret, "add a").await;
    git_ok(&work, &["checkout", "--quiet", "main"]).await;
    let clean = commit_file(&work, "c.txt", "clean\n", "add c").await;
    // The same content as on `side`, under another name: one blob, scanned
    // once; its findings are reported for this commit and path too.
    let on_main = commit_file(&work, "b.txt", &secret, "add b").await;
    let push = git(&work, &["push", "origin", "side", "main"]).await;
    assert!(!push.success);
    assert_eq!(rev(&gate.upstream, "refs/heads/side").await, "");
    assert_ne!(rev(&gate.upstream, "refs/heads/main").await, on_main);
    let seen = approver.seen();
    let on = |commit: &str| -> Vec<_> {
        seen.iter()
            .filter(|report| report.finding.commit == commit)
            .cloned()
            .collect()
    };
    assert!(
        !on(&on_side).is_empty() && !on(&on_main).is_empty(),
        "{seen:?}"
    );
    assert!(on(&clean).is_empty(), "{seen:?}");
    assert!(
        on(&on_side)
            .iter()
            .all(|report| report.finding.reference == "refs/heads/side")
    );
    assert!(on(&on_main).iter().all(|report| {
        report.finding.reference == "refs/heads/main" && report.finding.file == "b.txt"
    }));
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_first_push_to_an_empty_upstream_lands() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().to_path_buf();
    let upstream = root.join("upstream.git");
    git_ok(
        &root,
        &[
            "init",
            "--bare",
            "--quiet",
            "-b",
            "main",
            upstream.to_str().unwrap(),
        ],
    )
    .await;
    let url = format!("file://{}", upstream.display());
    let gate = Fixture::start_with(
        temp,
        root,
        upstream,
        url,
        Credential::None,
        None,
        reject(),
        Timeouts::default(),
    )
    .await;
    let work = gate.root.join("work");
    git_ok(
        &gate.root,
        &["clone", "--quiet", &gate.url, work.to_str().unwrap()],
    )
    .await;
    git_ok(&work, &["checkout", "--quiet", "-b", "main"]).await;
    let commit = commit_file(&work, "README", "first\n", "first").await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(push.success, "{}", push.stderr);
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, commit);
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_only_in_a_file_path_is_caught_and_shown_masked() {
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    let work = gate.clone("work").await;
    let key = aws_key();
    std::fs::create_dir(work.join("keys")).unwrap();
    let commit = commit_file(
        &work,
        &format!("keys/{key}.txt"),
        "nothing here\n",
        "add a file",
    )
    .await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success);
    assert!(!push.stderr.contains(&key), "{}", push.stderr);
    let seen = approver.seen();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|report| report.finding.commit == commit
            && report.finding.file == "(file path)"
            && report.finding.line == 1
            && report.finding.snippet.starts_with("keys/")
            && !report.finding.snippet.contains(&key)),
        "{seen:?}"
    );
    gate.stop().await;
}

/// A GitHub token shape, assembled so this file holds no secret.
fn github_token() -> String {
    format!("ghp_{}", "R7kP2xQ9mL4vB8nT1cZ6wJ3hF5dS0aGyE2uK")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_in_a_path_is_masked_in_the_findings_of_its_content() {
    // A finding in a file's content names the file; when the path holds a
    // secret too, that name is shown masked, never as it is.
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    let work = gate.clone("work").await;
    let before = rev(&gate.upstream, "refs/heads/main").await;
    let token = github_token();
    let name = format!("token={token}.txt");
    commit_file(
        &work,
        &name,
        &format!("aws_access_key_id = {}\n", aws_key()),
        "add a file",
    )
    .await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success);
    assert!(!push.stderr.contains(&token), "{}", push.stderr);
    assert!(!push.stderr.contains(&aws_key()), "{}", push.stderr);
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, before);
    let seen = approver.seen();
    for report in &seen {
        let finding = &report.finding;
        for field in [
            &report.repo,
            &finding.reference,
            &finding.commit,
            &finding.file,
            &finding.rule,
            &finding.snippet,
        ] {
            assert!(!field.contains(&token), "{field} in {seen:?}");
        }
    }
    // The path's own finding, and the content's under the masked path.
    assert!(
        seen.iter()
            .any(|report| report.finding.file == "(file path)"),
        "{seen:?}"
    );
    let content: Vec<_> = seen
        .iter()
        .filter(|report| report.finding.file != "(file path)")
        .collect();
    assert!(!content.is_empty(), "{seen:?}");
    assert!(
        content
            .iter()
            .all(|report| report.finding.file.starts_with("token=")
                && report.finding.file != name
                && report.finding.line == 1
                && report.finding.snippet.starts_with("aws_access_key_id = ")),
        "{seen:?}"
    );
    gate.stop().await;
}

/// Every line of `stderr` the gate sent (`remote: …`).
fn remote_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.starts_with("remote:"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_in_a_ref_name_holds_the_push_and_is_never_shown() {
    // Audit round 8: a push of a commit upstream already has, to a branch
    // or lightweight tag whose name is a credential, brought nothing new
    // to scan and landed upstream with no proposal.
    let logs = gate_logs();
    // A key of this test's own, so no other test's log lines can hold it.
    let key = format!("AKIA{}", "Q3WX7TNB5MRD2KLP");
    let policy = || PushPolicy {
        refs: Some(vec!["refs/heads/**".into(), "refs/tags/*".into()]),
        force: None,
        delete: Some(true),
    };
    let approver = reject();
    let gate = Fixture::start(Some(policy()), approver.clone()).await;
    let work = gate.clone("work").await;
    let head = git_ok(&work, &["rev-parse", "HEAD"]).await;
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, head);
    let names = [
        format!("refs/heads/aws_access_key_id={key}"),
        format!("refs/heads/{key}/x"),
        format!("refs/tags/{key}"),
    ];
    for name in &names {
        let before = approver.seen().len();
        let push = git(&work, &["push", "origin", &format!("HEAD:{name}")]).await;
        assert!(!push.success, "{name} landed: {}", push.stderr);
        assert_eq!(rev(&gate.upstream, name).await, "", "{name}");
        assert_eq!(rev(&gate.mirror(), name).await, "", "{name}");
        let seen = approver.seen();
        assert!(seen.len() > before, "{name}: no proposal: {}", push.stderr);
        for report in &seen[before..] {
            let finding = &report.finding;
            assert_eq!(finding.file, "(ref name)", "{seen:?}");
            assert_eq!(finding.commit, head, "{seen:?}");
            assert_eq!(finding.line, 1, "{seen:?}");
            assert!(finding.reference.starts_with("refs/"), "{seen:?}");
            assert!(finding.snippet.starts_with("refs/"), "{seen:?}");
            for field in [&finding.reference, &finding.snippet, &finding.file] {
                assert!(!field.contains(&key), "{field} in {seen:?}");
            }
        }
        let said = remote_lines(&push.stderr).join("\n");
        assert!(said.contains("(ref name)"), "{said}");
        assert!(said.contains("that is a real key"), "{said}");
        assert!(!said.contains(&key), "{said}");
    }
    // Refused by the rules, or as no valid name (receive-pack checks names
    // only after the hook; git's own client would not send one): the
    // refusal names the ref masked.
    let push = git(
        &work,
        &["push", "origin", &format!("HEAD:refs/notes/{key}")],
    )
    .await;
    assert!(!push.success);
    let said = remote_lines(&push.stderr).join("\n");
    assert!(said.contains("this ref may not be pushed"), "{said}");
    assert!(said.contains("refs/notes/AK"), "{said}");
    assert!(!said.contains(&key), "{said}");
    let empty = git_with_input(
        &work,
        &["pack-objects", "--stdout", "--revs", "--quiet"],
        format!("{head}\n^{head}\n").as_bytes(),
    );
    let zero = "0".repeat(40);
    let invalid = format!("refs/heads/{key}:refs/heads/x");
    let answer = raw_receive_pack(&gate, &[(&zero, &head, &invalid)], &empty).await;
    let said: Vec<&str> = answer
        .lines()
        .filter(|line| line.contains("git-gate:"))
        .collect();
    assert!(
        said.iter()
            .any(|line| line.contains("is not a valid ref name")),
        "{answer}"
    );
    assert!(said.iter().all(|line| !line.contains(&key)), "{said:?}");
    assert_eq!(rev(&gate.upstream, &format!("refs/heads/{key}")).await, "");
    // A new commit with a secret of its own, to such a name: its content's
    // finding names the ref masked too.
    let secret = commit_file(
        &work,
        "leak.txt",
        &format!("aws_access_key_id = {key}\n"),
        "leak",
    )
    .await;
    let before = approver.seen().len();
    let push = git(&work, &["push", "origin", &format!("HEAD:{}", names[1])]).await;
    assert!(!push.success, "{}", push.stderr);
    let seen = approver.seen();
    assert!(
        seen[before..]
            .iter()
            .any(|report| report.finding.file == "leak.txt" && report.finding.commit == secret),
        "{seen:?}"
    );
    assert!(
        seen[before..]
            .iter()
            .all(|report| report.finding.reference.starts_with("refs/heads/")
                && !report.finding.reference.contains(&key)),
        "{seen:?}"
    );
    assert!(
        !remote_lines(&push.stderr).join("\n").contains(&key),
        "{}",
        push.stderr
    );
    gate.stop().await;

    // Approved, such a name lands like any other finding; deleting it
    // later is not scanned (the name is upstream already).
    let approver = approve();
    let gate = Fixture::start(Some(policy()), approver.clone()).await;
    let work = gate.clone("work").await;
    let head = git_ok(&work, &["rev-parse", "HEAD"]).await;
    let push = git(&work, &["push", "origin", &format!("HEAD:{}", names[1])]).await;
    assert!(push.success, "{}", push.stderr);
    assert_eq!(rev(&gate.upstream, &names[1]).await, head);
    assert_eq!(rev(&gate.mirror(), &names[1]).await, head);
    let filed = approver.seen().len();
    assert!(filed > 0);
    assert!(
        !remote_lines(&push.stderr).join("\n").contains(&key),
        "{}",
        push.stderr
    );
    let push = git(&work, &["push", "origin", &format!(":{}", names[1])]).await;
    assert!(push.success, "{}", push.stderr);
    assert_eq!(rev(&gate.upstream, &names[1]).await, "");
    assert_eq!(approver.seen().len(), filed);
    gate.stop().await;

    // Nothing the gate logged holds the key.
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(!logged.contains(&key), "{logged}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_whose_proposals_would_pass_the_rate_is_refused_with_nothing_filed() {
    // Audit round 8: an agent pushing a commit with 20 secrets, hanging up
    // as soon as the proposals were filed (they are expired and archived)
    // and pushing again filed about 14,000 proposals an hour.
    let approver = reject();
    let gate = Fixture::start_rate_limited(
        approver.clone(),
        ProposalRate {
            proposals: 3,
            window: Duration::from_secs(3600),
        },
    )
    .await;
    let work = gate.clone("work").await;
    let before = rev(&gate.upstream, "refs/heads/main").await;
    let keys: Vec<String> = ["A", "B", "C"]
        .iter()
        .map(|last| format!("AKIAZ7QX4MBN2PLK6RT{last}"))
        .collect();
    let two = format!("aws_access_key_id = {}\nsecond = {}\n", keys[0], keys[1]);
    commit_file(&work, "two.txt", &two, "two secrets").await;
    // Two filed (and rejected): within the rate.
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success);
    assert!(
        push.stderr.contains("that is a real key"),
        "{}",
        push.stderr
    );
    assert_eq!(approver.seen().len(), 2, "{:?}", approver.seen());
    // The same two again would make four: refused, nothing filed.
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success);
    let said = remote_lines(&push.stderr).join("\n");
    assert!(
        said.contains("the gate files at most 3 proposals for the operator in 3600 s")
            && said.contains("nothing was filed")
            && said.contains("push again later"),
        "{said}"
    );
    assert!(!said.contains("that is a real key"), "{said}");
    assert_eq!(approver.seen().len(), 2, "{:?}", approver.seen());
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, before);
    // One finding still fits, and is filed.
    git_ok(&work, &["reset", "--quiet", "--hard", "HEAD^"]).await;
    commit_file(
        &work,
        "one.txt",
        &format!("aws_access_key_id = {}\n", keys[2]),
        "one secret",
    )
    .await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success);
    assert!(
        push.stderr.contains("that is a real key"),
        "{}",
        push.stderr
    );
    assert_eq!(approver.seen().len(), 3, "{:?}", approver.seen());
    // A clean push is not held by the rate at all.
    git_ok(&work, &["reset", "--quiet", "--hard", "HEAD^"]).await;
    let clean = commit_file(&work, "clean.txt", "nothing\n", "clean").await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(push.success, "{}", push.stderr);
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, clean);
    gate.stop().await;
}

/// Proposals the gate's last run filed count against the rate: before,
/// a restart started it afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proposals_filed_before_a_restart_count_against_the_rate() {
    let hour = Duration::from_secs(3600);
    // Three filed within the hour, one before it (not counted).
    let approver = ScriptedApprover::after_a_restart(
        Verdict::Rejected {
            reason: Some("that is a real key".into()),
        },
        vec![
            Duration::from_secs(60),
            Duration::from_secs(120),
            Duration::from_secs(4000),
        ],
    );
    let gate = Fixture::start_rate_limited(
        approver.clone(),
        ProposalRate {
            proposals: 3,
            window: hour,
        },
    )
    .await;
    let work = gate.clone("work").await;
    let before = rev(&gate.upstream, "refs/heads/main").await;
    let two = "aws_access_key_id = AKIAZ7QX4MBN2PLK6RTA\nsecond = AKIAZ7QX4MBN2PLK6RTB\n";
    commit_file(&work, "two.txt", two, "two secrets").await;
    // Two more would make four within the hour: refused, nothing filed.
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success);
    let said = remote_lines(&push.stderr).join("\n");
    assert!(
        said.contains("the gate files at most 3 proposals for the operator in 3600 s")
            && said.contains("nothing was filed"),
        "{said}"
    );
    assert!(approver.seen().is_empty(), "{:?}", approver.seen());
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, before);
    // One still fits, and is filed.
    git_ok(&work, &["reset", "--quiet", "--hard", "HEAD^"]).await;
    commit_file(
        &work,
        "one.txt",
        "aws_access_key_id = AKIAZ7QX4MBN2PLK6RTC\n",
        "one secret",
    )
    .await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success);
    assert!(
        push.stderr.contains("that is a real key"),
        "{}",
        push.stderr
    );
    assert_eq!(approver.seen().len(), 1, "{:?}", approver.seen());
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_in_a_file_a_merge_commit_changes_is_caught() {
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    let work = gate.clone("work").await;
    git_ok(&work, &["checkout", "--quiet", "-b", "side"]).await;
    commit_file(&work, "shared.txt", "side\n", "side").await;
    git_ok(&work, &["checkout", "--quiet", "main"]).await;
    commit_file(&work, "shared.txt", "main\n", "main").await;
    // The merge's own resolution brings the secret: no other commit has it.
    let merge = git(&work, &["merge", "--quiet", "--no-edit", "side"]).await;
    assert!(!merge.success, "the merge should conflict");
    std::fs::write(
        work.join("shared.txt"),
        format!("merged\nkey = {}\n", aws_key()),
    )
    .unwrap();
    git_ok(&work, &["add", "shared.txt"]).await;
    git_ok(&work, &["commit", "--quiet", "--no-edit"]).await;
    let merge = git_ok(&work, &["rev-parse", "HEAD"]).await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success);
    let seen = approver.seen();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|report| report.finding.commit == merge
            && report.finding.file == "shared.txt"
            && report.finding.line == 2),
        "{seen:?}"
    );
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_in_a_binary_file_is_caught_at_its_line() {
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    let work = gate.clone("work").await;
    // git shows no diff for a binary file ("Binary files differ"): the
    // content is what is scanned.
    let mut content = vec![0u8, 1, 2, 0, b'\n', 0xff, 0];
    content.extend_from_slice(format!("\nkey = {}\n", aws_key()).as_bytes());
    std::fs::write(work.join("blob.bin"), &content).unwrap();
    git_ok(&work, &["add", "blob.bin"]).await;
    git_ok(&work, &["commit", "--quiet", "-m", "binary"]).await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success);
    let seen = approver.seen();
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|report| report.finding.file == "blob.bin" && report.finding.line == 3),
        "{seen:?}"
    );
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn removing_a_secret_already_upstream_is_not_a_finding() {
    let approver = approve();
    let gate = Fixture::start(None, approver.clone()).await;
    let work = gate.clone("work").await;
    let key = aws_key();
    commit_file(&work, "config.ini", &format!("key = {key}\n"), "leak").await;
    commit_file(&work, &format!("{key}.txt"), "x\n", "leak a name").await;
    git_ok(&work, &["push", "--quiet", "origin", "main"]).await;
    let approved = approver.seen().len();
    assert!(
        approver
            .seen()
            .iter()
            .any(|report| report.finding.file == "config.ini")
            && approver
                .seen()
                .iter()
                .any(|report| report.finding.file == "(file path)"),
        "{:?}",
        approver.seen()
    );
    // The clean-up: the removed lines and the removed path are upstream's
    // already, and nothing it adds holds a secret.
    commit_file(&work, "config.ini", "key = (from the vault)\n", "unleak").await;
    git_ok(&work, &["rm", "--quiet", &format!("{key}.txt")]).await;
    git_ok(&work, &["commit", "--quiet", "-m", "unleak the name"]).await;
    let cleaned = git_ok(&work, &["rev-parse", "HEAD"]).await;
    git_ok(&work, &["push", "--quiet", "origin", "main"]).await;
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, cleaned);
    assert_eq!(approver.seen().len(), approved, "{:?}", approver.seen());
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_over_the_scan_limit_refuses_the_push() {
    let approver = approve();
    let gate = Fixture::start(None, approver.clone()).await;
    let work = gate.clone("work").await;
    let before = rev(&gate.upstream, "refs/heads/main").await;
    let size = usize::try_from(bot_bottle_gitgate::scan::MAX_SCANNED_BLOB_BYTES).unwrap() + 1;
    std::fs::write(work.join("huge.bin"), vec![0u8; size]).unwrap();
    git_ok(&work, &["add", "huge.bin"]).await;
    git_ok(&work, &["commit", "--quiet", "-m", "huge"]).await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success);
    assert!(push.stderr.contains("huge.bin"), "{}", push.stderr);
    assert!(push.stderr.contains("cannot scan it"), "{}", push.stderr);
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, before);
    assert!(approver.seen().is_empty());
    gate.stop().await;
}

/// Small scan limits for the tests below: 1 MiB in flight, 4 MiB a push.
fn small_scan_limits() -> ScanLimits {
    ScanLimits {
        bytes_in_flight: 1024 * 1024,
        bytes_per_push: 4 * 1024 * 1024,
    }
}

/// Commit files of `sizes` bytes each (`big-<n>.txt`, highly compressible:
/// the pack is small, the content is not), the last one ending in `tail`.
async fn commit_big_files(work: &Path, sizes: &[usize], tail: &str) -> String {
    for (index, size) in sizes.iter().enumerate() {
        let mut content = format!("file {index}\n").into_bytes();
        content.resize(size - tail.len().min(*size), b'a');
        if index + 1 == sizes.len() {
            content.extend_from_slice(tail.as_bytes());
        }
        content.truncate(*size);
        std::fs::write(work.join(format!("big-{index}.txt")), content).unwrap();
    }
    git_ok(work, &["add", "-A"]).await;
    git_ok(work, &["commit", "--quiet", "-m", "big files"]).await;
    git_ok(work, &["rev-parse", "HEAD"]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_bringing_more_than_the_scan_allows_is_refused() {
    // Before the bound, one small push of well-compressing files made the
    // gate hold every file of a commit in memory (and several commits'
    // worth): 40 files of 99 MiB in an 18 MB pack took it past 3.7 GB.
    let approver = approve();
    let limits = small_scan_limits();
    let gate = Fixture::start_scan_limited(approver.clone(), limits).await;
    let work = gate.clone("work").await;
    let before = rev(&gate.upstream, "refs/heads/main").await;
    let mib = 1024 * 1024;
    commit_big_files(&work, &[mib, mib, mib, mib, mib], "\n").await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success, "{}", push.stderr);
    assert!(
        push.stderr.contains(&format!(
            "the push brings more than {} bytes to scan",
            limits.bytes_per_push
        )),
        "{}",
        push.stderr
    );
    assert!(
        push.stderr.contains("push fewer commits"),
        "{}",
        push.stderr
    );
    // A pack too large is refused by git while it is received.
    assert_eq!(
        git_ok(&gate.mirror(), &["config", "receive.maxInputSize"]).await,
        bot_bottle_gitgate::mirror::MAX_PUSH_PACK_BYTES.to_string()
    );
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, before);
    assert_eq!(rev(&gate.mirror(), "refs/heads/main").await, before);
    assert!(approver.seen().is_empty());
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_listing_more_changed_paths_than_the_scan_allows_is_refused() {
    // Two trees of the same 20,000 long names, one with every file `a`,
    // the other with every file `b`, and commits alternating between
    // them: each commit changes every path, so `git log --raw` lists (and
    // the scan reads, joins and scans) about 1 MB of paths per commit,
    // from a pack of two blobs, two trees and the commits. Audit round 9:
    // the per-push bound counted only objects, so such a push was scanned
    // whatever its paths came to (a 930 KB pack of 50 commits over
    // 200,000 names is 410 MB of log, and each further commit ~8 MB more,
    // the gate's CPU for minutes while the repo's lock is held).
    let approver = approve();
    let limits = small_scan_limits();
    let gate = Fixture::start_scan_limited(approver.clone(), limits).await;
    let work = gate.clone("work").await;
    let before = rev(&gate.upstream, "refs/heads/main").await;
    let tree_of = |content: &[u8]| {
        let blob = git_with_input(&work, &["hash-object", "-w", "--stdin"], content);
        let blob = String::from_utf8(blob).unwrap().trim().to_string();
        let mut listing = String::new();
        for index in 0..20_000 {
            listing.push_str(&format!(
                "100644 blob {blob}\tone-long-file-name-to-weigh-the-listing-{index:05}\n"
            ));
        }
        let tree = git_with_input(&work, &["mktree"], listing.as_bytes());
        String::from_utf8(tree).unwrap().trim().to_string()
    };
    let trees = [tree_of(b"a\n"), tree_of(b"b\n")];
    let mut parent = before.clone();
    for index in 0..12 {
        let commit = git_with_input(
            &work,
            &[
                "commit-tree",
                &trees[index % 2],
                "-p",
                &parent,
                "-m",
                &format!("flip {index}"),
            ],
            b"",
        );
        parent = String::from_utf8(commit).unwrap().trim().to_string();
    }
    let push = git(
        &work,
        &["push", "origin", &format!("{parent}:refs/heads/main")],
    )
    .await;
    assert!(!push.success, "{}", push.stderr);
    assert!(
        push.stderr.contains(&format!(
            "the push brings more than {} bytes to scan",
            limits.bytes_per_push
        )),
        "{}",
        push.stderr
    );
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, before);
    assert_eq!(rev(&gate.mirror(), "refs/heads/main").await, before);
    gate.stop().await;
}

/// A tree of `fanout` subtrees of `fanout` files each, all one blob: a
/// few objects whose recursive listing has `fanout²` long names.
async fn wide_tree(work: &Path, fanout: usize) -> String {
    let blob = git_ok(work, &["hash-object", "-w", "/dev/null"]).await;
    let mut listing = String::new();
    for index in 0..fanout {
        listing.push_str(&format!(
            "100644 blob {blob}\tone-long-file-name-to-weigh-the-listing-{index:05}\n"
        ));
    }
    let inner = git_with_input(work, &["mktree"], listing.as_bytes());
    let inner = String::from_utf8(inner).unwrap().trim().to_string();
    let mut listing = String::new();
    for index in 0..fanout {
        listing.push_str(&format!("040000 tree {inner}\tdirectory-{index:05}\n"));
    }
    let outer = git_with_input(work, &["mktree"], listing.as_bytes());
    String::from_utf8(outer).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tree_a_ref_points_at_is_listed_within_the_scan_limit() {
    // A ref (or a tag) straight at a tree has the tree listed whole
    // (`ls-tree -r`) and every path scanned. Audit round 9: the listing
    // was read into memory whole, with no bound but the command's 30 s,
    // and not counted against the push's limit. Three levels of 1,000
    // entries (a 7 KB pack) list 10⁹ paths, which `git ls-tree` writes at
    // ~400 MB/s: gigabytes held by the gate before the timeout, from one
    // push the default rules allow (`<tree>:refs/heads/x`; receive-pack
    // refuses a tree on a branch only after the hook). Here 300 × 300
    // names (~4.7 MB of listing) against a 4 MiB limit, pushed as a tag.
    let policy = PushPolicy {
        refs: Some(vec!["refs/heads/**".into(), "refs/tags/*".into()]),
        force: None,
        delete: None,
    };
    let (temp, root, upstream) = Fixture::upstream().await;
    let upstream_url = format!("file://{}", upstream.display());
    let limits = small_scan_limits();
    let gate = Fixture::start_with_limits(
        temp,
        root,
        upstream,
        upstream_url,
        Credential::None,
        Some(policy),
        approve(),
        Timeouts::default(),
        limits,
        ReceiveMemory::default(),
        ProposalRate::default(),
    )
    .await;
    let work = gate.clone("work").await;
    let tree = wide_tree(&work, 300).await;
    git_ok(&work, &["tag", "-a", "wide", "-m", "a wide tree", &tree]).await;
    let push = git(&work, &["push", "origin", "refs/tags/wide"]).await;
    assert!(!push.success, "{}", push.stderr);
    assert!(
        push.stderr.contains(&format!(
            "the push brings more than {} bytes to scan",
            limits.bytes_per_push
        )),
        "{}",
        push.stderr
    );
    assert_eq!(rev(&gate.upstream, "refs/tags/wide").await, "");
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_just_under_the_scan_limit_is_scanned_whole() {
    // 3.5 MiB of files in one commit, under the 4 MiB a push may bring but
    // more than the 1 MiB held at once, one file larger than that alone:
    // read and scanned a file at a time, no deadlock, the secret at the end
    // of the last file found.
    let approver = reject();
    let gate = Fixture::start_scan_limited(approver.clone(), small_scan_limits()).await;
    let work = gate.clone("work").await;
    let before = rev(&gate.upstream, "refs/heads/main").await;
    let mib = 1024 * 1024;
    let commit = commit_big_files(
        &work,
        &[mib, mib, mib + mib / 2],
        &format!("\naws_access_key_id = {}\n", aws_key()),
    )
    .await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success);
    assert!(
        push.stderr.contains("the operator rejected it"),
        "{}",
        push.stderr
    );
    let seen = approver.seen();
    assert!(
        seen.iter().any(|report| report.finding.commit == commit
            && report.finding.file == "big-2.txt"
            && report.finding.line == 3),
        "{seen:?}"
    );
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, before);
    gate.stop().await;
}

/// Finds `SECRET` and counts the scans that saw it.
struct CountingScanner(std::sync::atomic::AtomicUsize);

impl bot_bottle_gitgate::CommitScanner for CountingScanner {
    fn scan(&self, content: &[u8]) -> Vec<bot_bottle_gitgate::ContentFinding> {
        let found: Vec<_> = content
            .windows(6)
            .enumerate()
            .filter(|(_, window)| *window == b"SECRET")
            .map(|(start, _)| bot_bottle_gitgate::ContentFinding {
                rule: "secret".into(),
                start,
                end: start + 6,
                preview: "S…T".into(),
            })
            .collect();
        if !found.is_empty() {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        found
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_blob_is_scanned_once_and_reported_for_each_commit_and_path_adding_it() {
    use bot_bottle_gitgate::hook::RefUpdate;
    use bot_bottle_gitgate::scan::{ObjectAccess, scan_push};
    let temp = tempfile::tempdir().unwrap();
    let work = temp.path().join("work");
    let mirror = temp.path().join("mirror.git");
    git_ok(temp.path(), &["init", "--quiet", "-b", "main", "work"]).await;
    git_ok(temp.path(), &["init", "--quiet", "--bare", "mirror.git"]).await;
    let secret = "line one\nthe SECRET is here\n";
    let first = commit_file(&work, "a.txt", secret, "add a").await;
    let removed = commit_file(&work, "a.txt", "clean\n", "remove it").await;
    // The same blob again, under its old name and a new one.
    std::fs::write(work.join("b.txt"), secret).unwrap();
    git_ok(&work, &["add", "b.txt"]).await;
    let again = commit_file(&work, "a.txt", secret, "add a and b").await;
    let scanner = Arc::new(CountingScanner(std::sync::atomic::AtomicUsize::new(0)));
    let access = ObjectAccess::new(&mirror, Some(&work.join(".git/objects")));
    let update = RefUpdate {
        old: "0".repeat(40),
        new: again.clone(),
        reference: "refs/heads/main".into(),
    };
    let findings = scan_push(&access, &[update], scanner.clone(), Duration::from_secs(30))
        .await
        .unwrap();
    let placed: Vec<(&str, &str, u64)> = findings
        .iter()
        .map(|finding| (finding.commit.as_str(), finding.file.as_str(), finding.line))
        .collect();
    assert_eq!(
        placed,
        vec![
            (first.as_str(), "a.txt", 2),
            (again.as_str(), "a.txt", 2),
            (again.as_str(), "b.txt", 2),
        ],
        "{findings:?}"
    );
    assert!(findings.iter().all(|finding| finding.commit != removed));
    assert!(
        findings
            .iter()
            .all(|finding| finding.snippet == "the S…T is here"),
        "{findings:?}"
    );
    assert_eq!(
        scanner.0.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the blob is scanned once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commit_message_with_a_nul_byte_is_refused() {
    // The scan reads each message up to the NUL that ends it in the log
    // stream; a NUL inside a message would hide what follows it. Such a
    // commit is malformed (`nulInCommit`), and the mirror's
    // `receive.fsckObjects` refuses it before the scan runs.
    let approver = approve();
    let gate = Fixture::start(None, approver.clone()).await;
    let work = gate.clone("work").await;
    let before = rev(&gate.upstream, "refs/heads/main").await;
    let tree = git_ok(&work, &["rev-parse", "HEAD^{tree}"]).await;
    let parent = git_ok(&work, &["rev-parse", "HEAD"]).await;
    let object = format!(
        "tree {}\nparent {}\nauthor a <a@example.com> 1 +0000\ncommitter a <a@example.com> 1 +0000\n\nharmless\0use key {}\n",
        tree.trim(),
        parent.trim(),
        aws_key()
    );
    std::fs::write(work.join("commit.raw"), object).unwrap();
    let commit = git_ok(
        &work,
        &[
            "hash-object",
            "-t",
            "commit",
            "-w",
            "--literally",
            "commit.raw",
        ],
    )
    .await;
    git_ok(&work, &["update-ref", "refs/heads/main", commit.trim()]).await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success, "{}", push.stderr);
    assert!(push.stderr.contains("nulInCommit"), "{}", push.stderr);
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, before);
    gate.stop().await;
}

/// Clone upstream directly (not through the gate) into `name`, commit
/// `files` there and push them to upstream's `main`.
async fn upstream_commit(gate: &Fixture, name: &str, files: &[(&str, &str)]) {
    let other = gate.clone_upstream(name).await;
    for (file, content) in files {
        if let Some(parent) = Path::new(file).parent() {
            std::fs::create_dir_all(other.join(parent)).unwrap();
        }
        commit_file(&other, file, content, "rules").await;
    }
    git_ok(&other, &["push", "--quiet", "origin", "main"]).await;
}

const GITLEAKS_CONFIG: &str = r#"
[extend]
useDefault = true

[[rules]]
id = "internal-ticket"
description = "our ticket system's API token"
regex = '''\b(ITT-[0-9]{12})\b'''
keywords = ["itt-"]
[rules.allowlist]
regexes = ['''^ITT-0{12}$''']
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gitleaks_config_on_the_default_branch_adds_rules_next_to_the_rules_file() {
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    upstream_commit(
        &gate,
        "other",
        &[
            (".gitleaks.toml", GITLEAKS_CONFIG),
            (
                ".bot-bottle/dlp-rules.toml",
                "[[rule]]\nid = \"build-token\"\ndescription = \"our CI's token\"\nkeywords = [\"bld-\"]\nregex = '''\\b(BLD-[0-9]{12})\\b'''\n",
            ),
        ],
    )
    .await;

    let work = gate.clone("work").await;
    commit_file(
        &work,
        "tokens.txt",
        "ticket ITT-123456789012\nbuild BLD-123456789012\n",
        "tokens",
    )
    .await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success, "{}", push.stderr);
    assert!(
        push.stderr.contains(
            "remote: git-gate: warning: .gitleaks.toml: 1 part(s) not imported as written"
        ),
        "{}",
        push.stderr
    );
    assert!(
        push.stderr.contains("[extend] useDefault"),
        "{}",
        push.stderr
    );
    assert!(
        push.stderr
            .contains("remote: git-gate: push held for the operator"),
        "{}",
        push.stderr
    );
    let seen: Vec<String> = approver
        .seen()
        .iter()
        .map(|report| report.finding.rule.clone())
        .collect();
    assert!(
        seen.iter().any(|rule| rule == "gitleaks-internal-ticket"),
        "{seen:?}"
    );
    assert!(seen.iter().any(|rule| rule == "build-token"), "{seen:?}");

    // The allowlisted value passes (the approver would reject anything).
    git_ok(&work, &["reset", "--quiet", "--hard", "origin/main"]).await;
    commit_file(
        &work,
        "tokens.txt",
        "ticket ITT-000000000000\n",
        "placeholder",
    )
    .await;
    let before = approver.seen().len();
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(push.success, "{}", push.stderr);
    assert_eq!(approver.seen().len(), before);
    // The warning is told on every push (the compiled rules are cached).
    assert!(
        push.stderr.contains("warning: .gitleaks.toml"),
        "{}",
        push.stderr
    );
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gitleaks_rule_on_file_names_holds_a_push_adding_such_a_file() {
    // gitleaks' own default config has `path`-only rules: a PKCS #12 key
    // store is binary, so no content rule can read it; its name is the
    // finding.
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    upstream_commit(
        &gate,
        "other",
        &[(
            ".gitleaks.toml",
            "[[rules]]\nid = \"pkcs12-file\"\ndescription = \"PKCS #12 file, which commonly contain bundled private keys\"\npath = '''(?i)(?:^|/)[^/]+\\.p(?:12|fx)$'''\n",
        )],
    )
    .await;

    let work = gate.clone("work").await;
    std::fs::create_dir(work.join("certs")).unwrap();
    commit_file(&work, "certs/client.P12", "\u{1}\u{2}not text", "key store").await;
    commit_file(&work, "certs/README", "the store was here\n", "note").await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success, "{}", push.stderr);
    assert!(
        push.stderr
            .contains("certs/client.P12:0 [gitleaks-pkcs12-file]"),
        "{}",
        push.stderr
    );
    assert!(
        !push.stderr.contains("not imported as written"),
        "{}",
        push.stderr
    );
    let seen = approver.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].finding.file, "certs/client.P12");
    assert_eq!(seen[0].finding.line, 0);
    assert_eq!(seen[0].finding.rule, "gitleaks-pkcs12-file");
    assert_eq!(
        rev(&gate.upstream, "refs/heads/main").await,
        rev(&work, "refs/remotes/origin/main").await
    );

    // A file whose name only looks alike passes.
    git_ok(&work, &["reset", "--quiet", "--hard", "origin/main"]).await;
    std::fs::create_dir_all(work.join("certs")).unwrap();
    commit_file(&work, "certs/client.p12.md", "how to make one\n", "doc").await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(push.success, "{}", push.stderr);
    assert_eq!(approver.seen().len(), 1);
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalid_gitleaks_config_is_ignored_with_a_warning() {
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    upstream_commit(
        &gate,
        "other",
        &[(
            ".gitleaks.toml",
            "[[rules]]\nid = \"look\"\nregex = '''ITT-(?=[0-9])'''\n",
        )],
    )
    .await;
    let work = gate.clone("work").await;
    let key = aws_key();
    commit_file(&work, "config.ini", &format!("key = {key}\n"), "key").await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success, "{}", push.stderr);
    assert!(
        push.stderr.contains(
            "remote: git-gate: warning: .gitleaks.toml on the default branch is invalid and was ignored: .gitleaks.toml: rule \"look\": field `regex` is not a valid regex: look-around"
        ),
        "{}",
        push.stderr
    );
    // The built-in rules still apply.
    assert!(
        approver
            .seen()
            .iter()
            .any(|report| report.finding.rule == "aws-access-key-id"),
        "{:?}",
        approver.seen()
    );
    gate.stop().await;
}

/// Run git in `dir` with `input` on stdin; its stdout, raw.
fn git_with_input(dir: &Path, args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Agent")
        .env("GIT_AUTHOR_EMAIL", "agent@example.com")
        .env("GIT_COMMITTER_NAME", "Agent")
        .env("GIT_COMMITTER_EMAIL", "agent@example.com")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        output.status.success(),
        "git {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// One pkt-line.
fn pkt_line(payload: &[u8]) -> Vec<u8> {
    let mut line = format!("{:04x}", payload.len() + 4).into_bytes();
    line.extend_from_slice(payload);
    line
}

/// A push request made by hand (the git client refuses such ref names):
/// each `(old, new, ref)` command, a flush, then `pack`. Sent over
/// HTTP/1.0 so the answer is not chunked; the answer back, lossy.
async fn raw_receive_pack(gate: &Fixture, commands: &[(&str, &str, &str)], pack: &[u8]) -> String {
    let base = gate.url.trim_end_matches("/app.git").to_string();
    // The advertisement first, as a client's push starts (it refreshes
    // the mirror).
    raw_http(
        &base,
        b"GET /app.git/info/refs?service=git-receive-pack HTTP/1.0\r\nHost: x\r\n\r\n",
    )
    .await;
    raw_receive_pack_only(gate, commands, pack).await
}

/// A receive-pack request with no advertisement before it.
async fn raw_receive_pack_only(
    gate: &Fixture,
    commands: &[(&str, &str, &str)],
    pack: &[u8],
) -> String {
    raw_receive_pack_paused(gate, commands, pack, Duration::ZERO).await
}

/// [`raw_receive_pack_only`], pausing `pause` between the commands and
/// the pack (a client trickling its upload).
async fn raw_receive_pack_paused(
    gate: &Fixture,
    commands: &[(&str, &str, &str)],
    pack: &[u8],
    pause: Duration,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let base = gate.url.trim_end_matches("/app.git").to_string();
    let mut body = Vec::new();
    for (index, (old, new, name)) in commands.iter().enumerate() {
        let mut payload = format!("{old} {new} {name}").into_bytes();
        if index == 0 {
            payload.extend_from_slice(b"\0report-status side-band-64k");
        }
        payload.push(b'\n');
        body.extend(pkt_line(&payload));
    }
    body.extend_from_slice(b"0000");
    let mut request = format!(
        "POST /app.git/git-receive-pack HTTP/1.0\r\nHost: x\r\nContent-Type: application/x-git-receive-pack-request\r\nContent-Length: {}\r\n\r\n",
        body.len() + pack.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(&request).await.unwrap();
    tokio::time::sleep(pause).await;
    stream.write_all(pack).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ref_name_smuggling_a_refspec_is_refused() {
    // `refs/heads/x:refs/heads/main`: receive-pack checks a ref name only
    // after the pre-receive hook, so the gate sees it. Forwarded as
    // `<N>:refs/heads/x:refs/heads/main`, git push would split at the
    // last colon and push the tree entry `refs/heads/x` of N — a gitlink
    // to C, an unscanned commit in the quarantine — to upstream's main.
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    let work = gate.clone("work").await;
    let main = rev(&gate.upstream, "refs/heads/main").await;
    let secret = commit_file(
        &work,
        "leak.txt",
        &format!("aws_access_key_id = {}\n", aws_key()),
        "leak",
    )
    .await;
    let entry = git_with_input(
        &work,
        &["mktree"],
        format!("160000 commit {secret}\tx\n").as_bytes(),
    );
    let entry = String::from_utf8(entry).unwrap().trim().to_string();
    let heads = git_with_input(
        &work,
        &["mktree"],
        format!("040000 tree {entry}\theads\n").as_bytes(),
    );
    let heads = String::from_utf8(heads).unwrap().trim().to_string();
    let root = git_with_input(
        &work,
        &["mktree"],
        format!("040000 tree {heads}\trefs\n").as_bytes(),
    );
    let root = String::from_utf8(root).unwrap().trim().to_string();
    let carrier = git_ok(&work, &["commit-tree", &root, "-p", &main, "-m", "n"]).await;
    let pack = git_with_input(
        &work,
        &["pack-objects", "--stdout", "--revs", "--quiet"],
        format!("{carrier}\n{secret}\n^{main}\n").as_bytes(),
    );
    let zero = "0".repeat(40);
    let answer = raw_receive_pack(
        &gate,
        &[(&zero, &carrier, "refs/heads/x:refs/heads/main")],
        &pack,
    )
    .await;
    assert_eq!(
        rev(&gate.upstream, "refs/heads/main").await,
        main,
        "{answer}"
    );
    assert_eq!(rev(&gate.upstream, "refs/heads/x").await, "", "{answer}");
    assert_eq!(rev(&gate.mirror(), "refs/heads/main").await, main);
    assert!(
        !git(&gate.upstream, &["cat-file", "-e", &secret])
            .await
            .success,
        "the secret commit reached upstream"
    );
    assert!(
        answer.contains("push refused: \"refs/heads/x:refs/heads/main\" is not a valid ref name"),
        "{answer}"
    );
    assert!(approver.seen().is_empty());
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commit_upstream_dropped_is_scanned_even_if_the_mirror_still_has_it() {
    // Upstream once had a commit carrying a secret (pushed there straight,
    // not through the gate) and the mirror fetched it; then upstream's
    // owner deleted the branch. A push that skips the advertisement (which
    // would refresh the mirror) names that commit: it is "already
    // upstream" only by the stale mirror's refs. The gate refreshes a
    // mirror older than `push_mirror_max_age` before checking a push.
    let approver = reject();
    let gate = Fixture::start_timed(
        None,
        approver.clone(),
        Timeouts {
            push_mirror_max_age: Duration::ZERO,
            ..Timeouts::default()
        },
    )
    .await;
    let (outside, secret) = gate.secret_pushed_straight_upstream("leak").await;
    let _work = gate.clone("work").await;
    assert_eq!(rev(&gate.mirror(), "refs/heads/leak").await, secret);
    git_ok(&gate.upstream, &["update-ref", "-d", "refs/heads/leak"]).await;

    let empty = git_with_input(&outside, &["pack-objects", "--stdout", "--quiet"], b"");
    let zero = "0".repeat(40);
    let answer = raw_receive_pack_only(&gate, &[(&zero, &secret, "refs/heads/x")], &empty).await;
    assert_eq!(rev(&gate.upstream, "refs/heads/x").await, "", "{answer}");
    assert_eq!(rev(&gate.mirror(), "refs/heads/x").await, "", "{answer}");
    assert_eq!(
        approver.seen().len(),
        1,
        "the dropped commit was not scanned: {answer}"
    );
    assert!(answer.contains("push refused"), "{answer}");
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_is_checked_against_the_mirror_as_it_is_when_checked() {
    // The mirror's age counts when the push is checked, not when it
    // arrived: a push that arrives just after a refresh and then trickles
    // its pack (or waits for the repo lock) is checked much later, by
    // when upstream may have dropped what it names.
    let approver = reject();
    let gate = Fixture::start_timed(
        None,
        approver.clone(),
        Timeouts {
            push_mirror_max_age: Duration::from_secs(1),
            ..Timeouts::default()
        },
    )
    .await;
    let (outside, secret) = gate.secret_pushed_straight_upstream("leak").await;
    let _work = gate.clone("work").await;
    git_ok(&gate.upstream, &["update-ref", "-d", "refs/heads/leak"]).await;
    let empty = git_with_input(&outside, &["pack-objects", "--stdout", "--quiet"], b"");
    let zero = "0".repeat(40);
    let answer = raw_receive_pack_paused(
        &gate,
        &[(&zero, &secret, "refs/heads/x")],
        &empty,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(rev(&gate.upstream, "refs/heads/x").await, "", "{answer}");
    assert_eq!(approver.seen().len(), 1, "not scanned: {answer}");
    gate.stop().await;
}

/// An operator who, while deciding, has upstream drop a branch (a secret
/// cleaned out of its history), then approves.
struct DroppingOperator {
    upstream: PathBuf,
    branch: &'static str,
    seen: Mutex<Vec<FindingReport>>,
}

impl Approver for DroppingOperator {
    fn decide<'a>(
        &'a self,
        reports: &'a [FindingReport],
        _: Duration,
        on_filed: &'a mut (dyn FnMut(&str) + Send),
    ) -> Deciding<'a> {
        self.seen.lock().unwrap().extend_from_slice(reports);
        on_filed("test-proposal-1");
        let status = std::process::Command::new("git")
            .args(["update-ref", "-d", &format!("refs/heads/{}", self.branch)])
            .current_dir(&self.upstream)
            .status()
            .unwrap();
        assert!(status.success());
        Box::pin(std::future::ready(Verdict::Approved {
            reason: "that one is a test key".into(),
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commit_upstream_drops_while_the_operator_decides_is_not_forwarded_unscanned() {
    // The push builds on a commit carrying a secret that upstream had when
    // the push was checked (so it was not new, not scanned); while the
    // operator decides about another finding, upstream drops it. Approving
    // what the operator saw must not put the dropped commit back.
    let (temp, root, upstream) = Fixture::upstream().await;
    let operator = Arc::new(DroppingOperator {
        upstream: upstream.clone(),
        branch: "leak",
        seen: Mutex::new(Vec::new()),
    });
    let upstream_url = format!("file://{}", upstream.display());
    let gate = Fixture::start_with(
        temp,
        root,
        upstream,
        upstream_url,
        Credential::None,
        None,
        operator.clone(),
        Timeouts::default(),
    )
    .await;
    let (_, dropped) = gate.secret_pushed_straight_upstream("leak").await;
    let work = gate.clone("work").await;
    git_ok(&work, &["reset", "--quiet", "--hard", &dropped]).await;
    commit_file(
        &work,
        "more.txt",
        &format!("aws_access_key_id = AKIA{}\n", "Q7XZ4PLM2RTN6BVW"),
        "another",
    )
    .await;
    let push = git(&work, &["push", "origin", "HEAD:refs/heads/x"]).await;
    let seen = operator.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen.iter().all(|report| report.finding.commit != dropped));
    assert!(!push.success, "{}", push.stderr);
    assert_eq!(
        rev(&gate.upstream, "refs/heads/x").await,
        "",
        "{}",
        push.stderr
    );
    assert!(
        push.stderr
            .contains("while the operator decided; it was not scanned"),
        "{}",
        push.stderr
    );
    // No ref upstream reaches the dropped commit again.
    let reaching = git_ok(&gate.upstream, &["for-each-ref", "--contains", &dropped]).await;
    assert_eq!(reaching, "", "the dropped commit is upstream again");
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commit_only_a_stale_ref_outside_branches_and_tags_reaches_is_scanned_again() {
    // The refresh prunes only branches and tags. A ref elsewhere (here
    // `refs/keep/*`, which the rules allow) that upstream has since
    // deleted stays in the mirror: what it alone reaches is not "already
    // upstream", and a push bringing it is scanned (and held) again.
    let policy = PushPolicy {
        refs: Some(vec!["refs/heads/**".into(), "refs/keep/**".into()]),
        force: None,
        delete: None,
    };
    let approver = approve();
    let gate = Fixture::start(Some(policy), approver.clone()).await;
    let work = gate.clone("work").await;
    let secret = commit_file(
        &work,
        "leak.txt",
        &format!("aws_access_key_id = {}\n", aws_key()),
        "oops",
    )
    .await;
    git_ok(&work, &["reset", "--quiet", "--hard", "HEAD~1"]).await;
    let keep = git(
        &work,
        &["push", "origin", &format!("{secret}:refs/keep/old")],
    )
    .await;
    assert!(keep.success, "{}", keep.stderr);
    assert_eq!(approver.seen().len(), 1);
    assert_eq!(rev(&gate.mirror(), "refs/keep/old").await, secret);
    // Upstream's owner drops it; the mirror's copy is never pruned.
    git_ok(&gate.upstream, &["update-ref", "-d", "refs/keep/old"]).await;

    let again = git(
        &work,
        &["push", "origin", &format!("{secret}:refs/heads/x")],
    )
    .await;
    assert!(again.success, "{}", again.stderr);
    assert_eq!(
        approver.seen().len(),
        2,
        "the commit was taken as already upstream: {}",
        again.stderr
    );
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secrets_in_commit_headers_and_re_encoded_messages_are_caught() {
    // `git log`'s %B shows neither the headers (author, committer, extra
    // headers such as gpgsig, mergetag or one of the agent's own) nor,
    // for a commit with an `encoding` header, the message's raw bytes:
    // the raw commit object is scanned.
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    let work = gate.clone("work").await;
    let before = rev(&gate.upstream, "refs/heads/main").await;
    let tree = git_ok(&work, &["rev-parse", "HEAD^{tree}"]).await;
    let key = aws_key();
    let who = "a <a@example.com> 1700000000 +0000";
    let cases = [
        (
            format!(
                "tree {tree}\nparent {before}\nauthor {who}\ncommitter {who}\nx-note {key}\n\nclean message\n"
            ),
            "(commit header)",
            5,
        ),
        (
            format!(
                "tree {tree}\nparent {before}\nauthor {key} <a@example.com> 1700000000 +0000\ncommitter {who}\n\nclean message\n"
            ),
            "(commit header)",
            3,
        ),
        (
            format!(
                "tree {tree}\nparent {before}\nauthor {who}\ncommitter {who}\nencoding IBM037\n\nsubject\n\naws_access_key_id = {key}\n"
            ),
            "(commit message)",
            3,
        ),
    ];
    for (index, (object, file, line)) in cases.iter().enumerate() {
        let commit = git_with_input(
            &work,
            &["hash-object", "-t", "commit", "-w", "--stdin"],
            object.as_bytes(),
        );
        let commit = String::from_utf8(commit).unwrap().trim().to_string();
        let found = pushed_and_rejected(&gate, &work, &approver, &commit, &key, index).await;
        assert!(
            found
                .iter()
                .any(|report| report.finding.file == *file && report.finding.line == *line),
            "case {index}: {found:?}"
        );
    }
    gate.stop().await;
}

/// Push `commit` to main, which the scripted operator rejects: the push
/// fails with the operator's answer, never shows `key`, and leaves
/// upstream's main where it was. Returns what was filed for `commit`,
/// none of which shows `key` either (`case` names the case in messages).
async fn pushed_and_rejected(
    gate: &Fixture,
    work: &Path,
    approver: &ScriptedApprover,
    commit: &str,
    key: &str,
    case: usize,
) -> Vec<FindingReport> {
    let before = rev(&gate.upstream, "refs/heads/main").await;
    let push = git(
        work,
        &["push", "origin", &format!("{commit}:refs/heads/main")],
    )
    .await;
    assert!(!push.success, "case {case}: {}", push.stderr);
    assert!(
        push.stderr
            .contains("push refused: the operator rejected it"),
        "case {case}: {}",
        push.stderr
    );
    assert!(!push.stderr.contains(key), "case {case}: {}", push.stderr);
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, before);
    let found: Vec<FindingReport> = approver
        .seen()
        .into_iter()
        .filter(|report| report.finding.commit == commit)
        .collect();
    assert!(
        found
            .iter()
            .all(|report| !report.finding.snippet.contains(key)),
        "case {case}: {found:?}"
    );
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secrets_in_commit_headers_git_re_encodes_are_caught() {
    // A commit with an `encoding` header has its whole object re-encoded
    // by `git log`, `git show` and forges: headers too, not only the
    // message. In UTF-7 one letter of a key written as `+AFo-` keeps the
    // raw object free of the key's shape, while `git log` shows the author
    // (or any other header) as the key itself. Audit round 9: such a push
    // landed with no finding (only the raw headers and the re-encoded
    // message were scanned).
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    let work = gate.clone("work").await;
    let before = rev(&gate.upstream, "refs/heads/main").await;
    let tree = git_ok(&work, &["rev-parse", "HEAD^{tree}"]).await;
    let key = aws_key();
    // `Z` (U+005A) in UTF-7's base64 form; `+` starts such a run, so the
    // timezones are west of UTC.
    assert_eq!(&key[4..5], "Z");
    let hidden = format!("{}+AFo-{}", &key[..4], &key[5..]);
    let who = "a <a@example.com> 1700000000 -0100";
    let cases = [
        (
            format!(
                "tree {tree}\nparent {before}\nauthor {hidden} <a@example.com> 1700000000 -0100\ncommitter {who}\nencoding UTF-7\n\nclean message\n"
            ),
            "%an",
        ),
        (
            format!(
                "tree {tree}\nparent {before}\nauthor {who}\ncommitter {who}\nencoding UTF-7\nx-note {hidden}\n\nclean message\n"
            ),
            "%H",
        ),
    ];
    for (index, (object, shown)) in cases.iter().enumerate() {
        assert!(!object.contains(&key));
        let commit = git_with_input(
            &work,
            &["hash-object", "-t", "commit", "-w", "--stdin"],
            object.as_bytes(),
        );
        let commit = String::from_utf8(commit).unwrap().trim().to_string();
        // What anyone reading the commit with git sees.
        let raw_shown = git_ok(&work, &["log", "-1", "--pretty=raw", &commit]).await;
        assert!(raw_shown.contains(&key), "case {index}: {raw_shown}");
        if *shown == "%an" {
            assert_eq!(
                git_ok(&work, &["log", "-1", "--format=%an", &commit]).await,
                key
            );
        }
        let found = pushed_and_rejected(&gate, &work, &approver, &commit, &key, index).await;
        assert!(
            found
                .iter()
                .any(|report| report.finding.file == "(commit header)"
                    && report.finding.rule == "aws-access-key-id"),
            "case {index}: {found:?}"
        );
    }
    // A clean commit in a legacy encoding still lands.
    let mut latin1 = format!("tree {tree}\nparent {before}\nauthor Jos").into_bytes();
    latin1.push(0xe9);
    latin1.extend_from_slice(
        format!(" <j@example.com> 1700000000 +0000\ncommitter {who}\nencoding ISO-8859-1\n\nr")
            .as_bytes(),
    );
    latin1.push(0xe9);
    latin1.extend_from_slice(b"sum\n");
    let commit = git_with_input(
        &work,
        &["hash-object", "-t", "commit", "-w", "--stdin"],
        &latin1,
    );
    let commit = String::from_utf8(commit).unwrap().trim().to_string();
    let push = git(
        &work,
        &["push", "origin", &format!("{commit}:refs/heads/main")],
    )
    .await;
    assert!(push.success, "{}", push.stderr);
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, commit);
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replace_ref_cannot_show_the_scan_a_clean_blob() {
    // With `refs/replace/<secret blob>` in the mirror, a git that honours
    // replace refs reads the clean replacement wherever the secret blob
    // is asked for, while `git push` sends the real one.
    let policy = PushPolicy {
        refs: Some(vec!["refs/**".into()]),
        force: None,
        delete: None,
    };
    let approver = reject();
    let gate = Fixture::start(Some(policy), approver.clone()).await;
    let work = gate.clone("work").await;
    let before = rev(&gate.upstream, "refs/heads/main").await;
    std::fs::write(
        work.join("leak.txt"),
        format!("aws_access_key_id = {}\n", aws_key()),
    )
    .unwrap();
    std::fs::write(work.join("clean.txt"), "nothing to see\n").unwrap();
    let secret = git_ok(&work, &["hash-object", "-w", "leak.txt"]).await;
    let clean = git_ok(&work, &["hash-object", "-w", "clean.txt"]).await;
    git_ok(
        &work,
        &[
            "push",
            "--quiet",
            "origin",
            &format!("{clean}:refs/replace/{secret}"),
        ],
    )
    .await;
    assert_eq!(
        rev(&gate.mirror(), &format!("refs/replace/{secret}")).await,
        clean
    );
    git_ok(&work, &["add", "leak.txt"]).await;
    git_ok(&work, &["commit", "--quiet", "-m", "add a file"]).await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success, "{}", push.stderr);
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, before);
    assert!(
        !git(&gate.upstream, &["cat-file", "-e", &secret])
            .await
            .success,
        "the secret blob reached upstream"
    );
    let seen = approver.seen();
    assert!(
        seen.iter().any(|report| report.finding.file == "leak.txt"),
        "{seen:?}"
    );
    gate.stop().await;
}

/// Set in the child run of
/// [`a_state_directory_that_cannot_run_the_hook_stops_the_gate`]: the
/// state directory, on a `noexec` tmpfs.
const NOEXEC_STATE_ENV: &str = "GITGATE_TEST_NOEXEC_STATE";
/// Which directory the child's `noexec` tmpfs is mounted on: `state` (the
/// whole state directory) or `hooks` (only `<state>/hooks`, where the
/// forwards' `pre-push` hooks go).
const NOEXEC_MOUNT_ENV: &str = "GITGATE_TEST_NOEXEC_MOUNT";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_state_directory_that_cannot_run_the_hook_stops_the_gate() {
    // git skips a pre-receive hook it cannot execute (a `noexec` mount)
    // with only a hint, and the push lands in the mirror unchecked; the
    // gate must not start on such a state directory. The test reruns
    // itself in a user and mount namespace with the state directory on a
    // `noexec` tmpfs.
    if let Some(state) = std::env::var_os(NOEXEC_STATE_ENV) {
        let (_temp, _root, upstream) = Fixture::upstream().await;
        let repo = Repo {
            name: "app".into(),
            upstream: format!("file://{}", upstream.display()),
            credential: Credential::None,
            push: PushRules::from_policy("app", None).unwrap(),
        };
        let config = Config {
            state_dir: PathBuf::from(state),
            repos: vec![repo],
            scanner: Arc::new(bot_bottle_gitgate::NoScanner),
            approver: reject(),
            timeouts: Timeouts::default(),
            scan_limits: ScanLimits::default(),
            receive_memory: Default::default(),
            proposal_rate: ProposalRate::default(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ran = tokio::time::timeout(
            Duration::from_secs(20),
            bot_bottle_gitgate::run(listener, config, std::future::pending()),
        )
        .await;
        let error = match ran {
            Ok(Err(error)) => error.to_string(),
            Ok(Ok(())) => panic!("the gate stopped without an error"),
            Err(_) => panic!("the gate started on a state directory that cannot run its hook"),
        };
        let hook = match std::env::var(NOEXEC_MOUNT_ENV).as_deref() {
            Ok("hooks") => "hooks/probe-hook",
            _ => "hooks/pre-receive",
        };
        assert!(error.contains(hook), "{error}");
        assert!(error.contains("noexec"), "{error}");
        eprintln!("the gate refused to start: {error}");
        return;
    }
    let probe = std::process::Command::new("unshare")
        .args(["-Urm", "true"])
        .output();
    if !probe.is_ok_and(|output| output.status.success()) {
        eprintln!("skipped: `unshare -Urm` is not available here");
        return;
    }
    for mounted in ["state", "hooks"] {
        let temp = tempfile::tempdir().unwrap();
        let state = temp.path().join("state");
        let target = match mounted {
            "hooks" => state.join("hooks"),
            _ => state.clone(),
        };
        std::fs::create_dir_all(&target).unwrap();
        let output = tokio::process::Command::new("unshare")
            .args([
                "-Urm",
                "sh",
                "-c",
                r#"mount -t tmpfs -o noexec tmpfs "$1" && exec "$2" --exact "$3" --nocapture"#,
                "sh",
            ])
            .arg(&target)
            .arg(std::env::current_exe().unwrap())
            .arg("a_state_directory_that_cannot_run_the_hook_stops_the_gate")
            .env(NOEXEC_STATE_ENV, &state)
            .env(NOEXEC_MOUNT_ENV, mounted)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "noexec {mounted}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_newline_in_a_ref_name_cannot_hide_commands_from_the_gate() {
    // receive-pack passes a ref name holding `\n` to the pre-receive hook
    // (it checks names only afterwards). Such a name must not end the
    // hook's request early: a forged `end` line would hide the commands
    // after it (here `refs/hidden/y` → S, a secret commit) from the gate,
    // and once the mirror has S a later push of it has no new commits.
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    let work = gate.clone("work").await;
    let main = rev(&gate.upstream, "refs/heads/main").await;
    let secret = commit_file(
        &work,
        "leak.txt",
        &format!("aws_access_key_id = {}\n", aws_key()),
        "leak",
    )
    .await;
    let pack = git_with_input(
        &work,
        &["pack-objects", "--stdout", "--revs", "--quiet"],
        format!("{secret}\n^{main}\n").as_bytes(),
    );
    let zero = "0".repeat(40);
    let forged = format!("refs/heads/x\nend\n{}", "P".repeat(30000));
    let answer = raw_receive_pack(
        &gate,
        &[(&zero, &main, &forged), (&zero, &secret, "refs/hidden/y")],
        &pack,
    )
    .await;
    let mirror_refs = git_ok(&gate.mirror(), &["for-each-ref", "--format=%(refname)"]).await;
    assert!(
        !mirror_refs.contains("refs/hidden/"),
        "{mirror_refs}\n{answer}"
    );
    assert!(
        !mirror_refs.contains("refs/heads/x"),
        "{mirror_refs}\n{answer}"
    );
    let upstream_refs = git_ok(&gate.upstream, &["for-each-ref", "--format=%(refname)"]).await;
    assert_eq!(upstream_refs, "refs/heads/main", "{answer}");
    assert!(approver.seen().is_empty());

    // The secret pushed the ordinary way is scanned and held.
    let push = git(
        &work,
        &["push", "origin", &format!("{secret}:refs/heads/leak")],
    )
    .await;
    assert!(!push.success, "{}", push.stderr);
    assert!(
        approver
            .seen()
            .iter()
            .any(|report| report.finding.rule == "aws-access-key-id"),
        "{:?}\n{}",
        approver.seen(),
        push.stderr
    );
    assert_eq!(rev(&gate.upstream, "refs/heads/leak").await, "");
    assert!(
        !git(&gate.upstream, &["cat-file", "-e", &secret])
            .await
            .success,
        "the secret commit reached upstream"
    );
    gate.stop().await;
}

/// A commit on `work`'s HEAD whose tree adds `entries` (`mktree` lines)
/// to HEAD's tree.
async fn commit_with_tree_entries(work: &Path, entries: &str) -> String {
    let head = git_ok(work, &["ls-tree", "HEAD"]).await;
    let tree = git_with_input(work, &["mktree"], format!("{head}\n{entries}").as_bytes());
    let tree = String::from_utf8(tree).unwrap().trim().to_string();
    git_ok(work, &["commit-tree", &tree, "-p", "HEAD", "-m", "entries"]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_in_the_name_of_an_empty_directory_is_caught() {
    // `git log --raw` lists files only: the name of a tree entry with no
    // file under it (the empty tree) appeared in no scanned path.
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    let work = gate.clone("work").await;
    let main = rev(&gate.upstream, "refs/heads/main").await;
    let empty = git_with_input(&work, &["mktree"], b"");
    let empty = String::from_utf8(empty).unwrap().trim().to_string();
    let commit = commit_with_tree_entries(
        &work,
        &format!("040000 tree {empty}\taws_access_key_id={}\n", aws_key()),
    )
    .await;
    let push = git(
        &work,
        &["push", "origin", &format!("{commit}:refs/heads/main")],
    )
    .await;
    assert!(!push.success, "{}", push.stderr);
    assert!(
        approver
            .seen()
            .iter()
            .any(|report| report.finding.commit == commit
                && report.finding.rule == "aws-access-key-id"),
        "{:?}\n{}",
        approver.seen(),
        push.stderr
    );
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, main);
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_in_a_gitlinks_id_is_caught() {
    // A gitlink's id is 20 bytes of the pusher's choosing that go upstream
    // with the tree: here the bytes of an AWS key id.
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    let work = gate.clone("work").await;
    let main = rev(&gate.upstream, "refs/heads/main").await;
    // An ordinary gitlink (a real commit's id) is no finding.
    let ordinary = commit_with_tree_entries(&work, &format!("160000 commit {main}\tlib\n")).await;
    git_ok(
        &work,
        &["push", "origin", &format!("{ordinary}:refs/heads/ordinary")],
    )
    .await;
    assert!(approver.seen().is_empty(), "{:?}", approver.seen());
    let key = aws_key();
    assert_eq!(key.len(), 20);
    let id: String = key.bytes().map(|byte| format!("{byte:02x}")).collect();
    let commit = commit_with_tree_entries(&work, &format!("160000 commit {id}\tsub\n")).await;
    let push = git(
        &work,
        &["push", "origin", &format!("{commit}:refs/heads/main")],
    )
    .await;
    assert!(!push.success, "{}", push.stderr);
    assert!(
        approver
            .seen()
            .iter()
            .any(|report| report.finding.commit == commit
                && report.finding.rule == "aws-access-key-id"),
        "{:?}\n{}",
        approver.seen(),
        push.stderr
    );
    assert!(!push.stderr.contains(&id), "{}", push.stderr);
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, main);
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_policy_looks_a_ref_up_by_its_exact_name() {
    // `rev-parse --verify refs/heads/x` falls back to other names
    // (`refs/heads/refs/heads/x`, …) when the exact one is absent, so
    // the policy saw a new branch as already there ("moved").
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    let main = rev(&gate.upstream, "refs/heads/main").await;
    git_ok(
        &gate.upstream,
        &["update-ref", "refs/heads/refs/heads/x", &main],
    )
    .await;
    let work = gate.clone("work").await;
    assert_eq!(rev(&gate.mirror(), "refs/heads/refs/heads/x").await, main);
    let commit = commit_file(&work, "x.txt", "x\n", "x").await;
    let pack = git_with_input(
        &work,
        &["pack-objects", "--stdout", "--revs", "--quiet"],
        format!("{commit}\n^{main}\n").as_bytes(),
    );
    let zero = "0".repeat(40);
    let answer = raw_receive_pack(&gate, &[(&zero, &commit, "refs/heads/x")], &pack).await;
    assert!(!answer.contains("moved"), "{answer}");
    assert_eq!(
        rev(&gate.upstream, "refs/heads/x").await,
        commit,
        "{answer}"
    );
    assert_eq!(
        rev(&gate.mirror(), "refs/heads/x").await,
        commit,
        "{answer}"
    );
    gate.stop().await;
}

/// The push rules of the shallow-push tests: branches and notes.
fn heads_and_notes() -> PushPolicy {
    PushPolicy {
        refs: Some(vec!["refs/heads/**".into(), "refs/notes/*".into()]),
        force: None,
        delete: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_from_a_shallow_clone_lands_upstream_and_in_the_mirror_alike() {
    // A shallow client sends `shallow <id>` lines. receive-pack refused
    // ("shallow update not allowed") every command reaching one it could
    // not connect to its refs — before the pre-receive hook, which still
    // saw them unmarked: the gate forwarded both refs, upstream took them,
    // the mirror did not (and a refresh never repairs refs/notes/*). The
    // gate now drops the lines; git checks the push as a complete one.
    let gate = Fixture::start(Some(heads_and_notes()), reject()).await;
    let work = gate.clone("work").await;
    let commit = commit_file(&work, "f.txt", "change\n", "clean change").await;
    // The agent's clone declares its own new commit a shallow root.
    std::fs::write(work.join(".git/shallow"), format!("{commit}\n")).unwrap();
    let pushed = git(
        &work,
        &[
            "push",
            "origin",
            "HEAD:refs/heads/feature",
            "HEAD:refs/notes/x",
        ],
    )
    .await;
    for name in ["refs/heads/feature", "refs/notes/x"] {
        let upstream = rev(&gate.upstream, name).await;
        let mirror = rev(&gate.mirror(), name).await;
        assert_eq!(upstream, mirror, "{name}: half-landed\n{}", pushed.stderr);
        assert_eq!(upstream, commit, "{name}\n{}", pushed.stderr);
    }
    assert!(pushed.success, "{}", pushed.stderr);
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shallow_push_whose_history_the_mirror_lacks_is_refused_everywhere() {
    // The client's shallow root is a commit of its own whose parent it
    // never sends: without the shallow lines git wants that parent, so the
    // push is refused before the hook and nothing is forwarded.
    let gate = Fixture::start(Some(heads_and_notes()), reject()).await;
    let work = gate.clone("work").await;
    let main = rev(&gate.upstream, "refs/heads/main").await;
    commit_file(&work, "private.txt", "never pushed\n", "parent").await;
    let commit = commit_file(&work, "f.txt", "change\n", "child").await;
    std::fs::write(work.join(".git/shallow"), format!("{commit}\n")).unwrap();
    let pushed = git(
        &work,
        &[
            "push",
            "origin",
            "HEAD:refs/heads/feature",
            "HEAD:refs/notes/x",
        ],
    )
    .await;
    assert!(!pushed.success, "{}", pushed.stderr);
    for name in ["refs/heads/feature", "refs/notes/x"] {
        assert_eq!(rev(&gate.upstream, name).await, "", "{name}");
        assert_eq!(rev(&gate.mirror(), name).await, "", "{name}");
    }
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, main);
    assert!(
        !git(&gate.upstream, &["cat-file", "-e", &commit])
            .await
            .success,
        "the commit reached upstream"
    );
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_depth_one_clone_pushes_as_before() {
    let gate = Fixture::start(None, reject()).await;
    let work = gate.root.join("shallow");
    git_ok(
        &gate.root,
        &[
            "clone",
            "--quiet",
            "--depth",
            "1",
            &gate.url,
            work.to_str().unwrap(),
        ],
    )
    .await;
    assert!(work.join(".git/shallow").exists());
    let commit = commit_file(&work, "f.txt", "change\n", "on a shallow clone").await;
    git_ok(
        &work,
        &["push", "--quiet", "origin", "HEAD:refs/heads/feature"],
    )
    .await;
    assert_eq!(rev(&gate.upstream, "refs/heads/feature").await, commit);
    assert_eq!(rev(&gate.mirror(), "refs/heads/feature").await, commit);
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signed_pushes_and_compressed_shallow_pushes_are_refused_with_a_reason() {
    use std::io::Write;
    let gate = Fixture::start(None, reject()).await;
    let base = gate.url.trim_end_matches("/app.git").to_string();
    let main = rev(&gate.upstream, "refs/heads/main").await;
    let zero = "0".repeat(40);
    // The mirror refreshed, as a push's advertisement does.
    raw_http(
        &base,
        b"GET /app.git/info/refs?service=git-receive-pack HTTP/1.0\r\nHost: x\r\n\r\n",
    )
    .await;
    // A push certificate: fails every command before the hook when its
    // push options disagree with the request's.
    let mut certificate = pkt_line(b"push-cert\0report-status side-band-64k\n");
    for line in [
        "certificate version 0.1\n".to_string(),
        "pusher Agent <agent@example.com> 0 +0000\n".to_string(),
        "push-option x\n".to_string(),
        "\n".to_string(),
        format!("{zero} {main} refs/heads/signed\n"),
        "push-cert-end\n".to_string(),
    ] {
        certificate.extend(pkt_line(line.as_bytes()));
    }
    certificate.extend_from_slice(b"0000");
    // An empty pack: the command points at a commit the mirror has.
    certificate.extend(git_with_input(
        &gate.upstream,
        &["pack-objects", "--stdout", "--revs", "--quiet"],
        b"",
    ));
    // A gzip body with a shallow line.
    let mut shallow = pkt_line(format!("shallow {main}\n").as_bytes());
    shallow.extend(pkt_line(
        format!("{zero} {main} refs/heads/gz\0report-status side-band-64k\n").as_bytes(),
    ));
    shallow.extend_from_slice(b"0000");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&shallow).unwrap();
    let gzipped = encoder.finish().unwrap();
    for (body, encoding, reason, name) in [
        (certificate, "", "signed pushes", "refs/heads/signed"),
        (
            gzipped,
            "Content-Encoding: gzip\r\n",
            "a compressed push from a shallow clone",
            "refs/heads/gz",
        ),
    ] {
        let mut request = format!(
            "POST /app.git/git-receive-pack HTTP/1.0\r\nHost: x\r\nContent-Type: application/x-git-receive-pack-request\r\n{encoding}Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(&body);
        let answer = raw_http(&base, &request).await;
        assert_eq!(rev(&gate.upstream, name).await, "", "{answer}");
        assert_eq!(rev(&gate.mirror(), name).await, "", "{answer}");
        assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
        assert!(
            answer.contains(&format!("git-gate: push refused: {reason}")),
            "{answer}"
        );
    }
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_whose_new_commit_is_not_whole_is_refused_before_it_is_forwarded() {
    // receive-pack's connectivity check marks such a command "missing
    // necessary objects" before the hook, and still shows it to the hook.
    // Here the commit exists but its parent is nowhere: it reaches the
    // mirror's objects through an earlier push that git refused to apply
    // but whose objects it kept (another ref of that push landed).
    let gate = Fixture::start(None, reject()).await;
    let work = gate.clone("work").await;
    let main = rev(&gate.upstream, "refs/heads/main").await;
    let parent = commit_file(&work, "p.txt", "parent\n", "parent").await;
    let orphan = commit_file(&work, "c.txt", "child\n", "child").await;
    // A pack with only the child commit and its new objects, none of the
    // parent's: index-pack's link check sees the parent missing, so the
    // object is placed in the mirror straight (as an old shallow push could
    // have left it).
    let pack = git_with_input(
        &work,
        &["pack-objects", "--stdout", "--revs", "--quiet"],
        format!("{orphan}\n^{parent}\n").as_bytes(),
    );
    let loose = git_with_input(&gate.mirror(), &["unpack-objects", "-q"], &pack);
    assert!(loose.is_empty());
    assert!(
        git(&gate.mirror(), &["cat-file", "-e", &orphan])
            .await
            .success
    );
    // An empty pack: the push names only the orphan.
    let empty = git_with_input(
        &work,
        &["pack-objects", "--stdout", "--revs", "--quiet"],
        b"",
    );
    let zero = "0".repeat(40);
    let answer = raw_receive_pack(&gate, &[(&zero, &orphan, "refs/heads/feature")], &empty).await;
    assert_eq!(
        rev(&gate.upstream, "refs/heads/feature").await,
        "",
        "{answer}"
    );
    assert_eq!(
        rev(&gate.mirror(), "refs/heads/feature").await,
        "",
        "{answer}"
    );
    assert!(
        answer.contains("push refused: the pushed commits are not whole"),
        "{answer}"
    );
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, main);
    gate.stop().await;
}

/// `git` as [`git`] runs it, started in its own process group and left
/// running.
fn spawn_git(dir: &Path, args: &[&str]) -> tokio::process::Child {
    git_command(dir, args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Install `script` as upstream's `pre-receive` hook.
fn upstream_hook(gate: &Fixture, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let hook = gate.upstream.join("hooks/pre-receive");
    std::fs::write(&hook, script).unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Poll `check` every 100 ms for at most `within`.
async fn eventually(within: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < within {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check().await
}

/// Push a clean commit to `refs/heads/feature` and `refs/notes/x`, and
/// kill the agent's `git push` once the forward is inside upstream's
/// `pre-receive` hook, which then sleeps `upstream_sleep` seconds before
/// accepting. Upstream sends no keepalives, so its receive-pack does not
/// notice that the forward's `git push` is gone before it moves its refs.
/// The pushed commit.
async fn push_and_hang_up_during_the_forward(gate: &Fixture, upstream_sleep: u64) -> String {
    let work = gate.clone("work").await;
    let commit = commit_file(&work, "f.txt", "change\n", "clean change").await;
    let started = gate.root.join("upstream-hook-started");
    git_ok(&gate.upstream, &["config", "receive.keepAlive", "0"]).await;
    upstream_hook(
        gate,
        &format!(
            "#!/bin/sh\n: > '{}'\nsleep {upstream_sleep}\nexit 0\n",
            started.display()
        ),
    );
    let mut client = spawn_git(
        &work,
        &[
            "push",
            "origin",
            "HEAD:refs/heads/feature",
            "HEAD:refs/notes/x",
        ],
    );
    assert!(
        eventually(Duration::from_secs(30), async || started.exists()).await,
        "the forward never reached upstream's hook"
    );
    let group = client.id().unwrap() as i32;
    rustix::process::kill_process_group(
        rustix::process::Pid::from_raw(group).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let _ = client.wait().await;
    commit
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_hangs_up_during_the_forward_leaves_no_half_landed_push() {
    // The agent's `git push` goes away while the gate forwards its push
    // (upstream is still running its own checks). The gate noticed at its
    // next keepalive to the client and killed the decision and the forward's
    // `git push` with it, but not upstream's side, which took the push: the
    // mirror never moved (and a refresh never repairs refs/notes/*).
    let gate = Fixture::start(Some(heads_and_notes()), reject()).await;
    let commit = push_and_hang_up_during_the_forward(&gate, 14).await;
    // Upstream takes the push once its hook is done…
    assert!(
        eventually(Duration::from_secs(30), async || {
            rev(&gate.upstream, "refs/notes/x").await == commit
        })
        .await,
        "upstream never took the push"
    );
    // …and the mirror follows, with no fetch through the gate to refresh it.
    for name in ["refs/heads/feature", "refs/notes/x"] {
        assert!(
            eventually(Duration::from_secs(20), async || {
                rev(&gate.mirror(), name).await == commit
            })
            .await,
            "{name}: upstream has the push, the mirror does not (half-landed)"
        );
    }
    // The quarantine the killed receive-pack left is removed.
    let leftover = || {
        std::fs::read_dir(gate.mirror().join("objects"))
            .unwrap()
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("tmp_objdir-"))
            .collect::<Vec<_>>()
    };
    assert!(
        eventually(Duration::from_secs(10), async || leftover().is_empty()).await,
        "{:?}",
        leftover()
    );
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forward_past_its_timeout_never_lands_upstream_later() {
    // The forward's `git push` was killed at its bound, but only it: the
    // local transport it started (here upstream's own receive-pack, for a
    // file:// upstream) went on and moved upstream's ref after the agent
    // had been told the push failed. The gate now kills the forward's
    // whole process group.
    let timeouts = Timeouts {
        upstream_push: Duration::from_secs(2),
        local_git: Duration::from_secs(3),
        ..Timeouts::default()
    };
    let gate = Fixture::start_timed(None, reject(), timeouts).await;
    let work = gate.clone("work").await;
    commit_file(&work, "f.txt", "change\n", "clean change").await;
    let before = rev(&gate.upstream, "refs/heads/main").await;
    git_ok(&gate.upstream, &["config", "receive.keepAlive", "0"]).await;
    upstream_hook(&gate, "#!/bin/sh\nsleep 12\nexit 0\n");
    let pushed = git(&work, &["push", "origin", "main"]).await;
    assert!(!pushed.success, "{}", pushed.stderr);
    assert!(
        pushed.stderr.contains("upstream did not accept it"),
        "{}",
        pushed.stderr
    );
    // Long enough for upstream's hook to have finished, had it survived.
    tokio::time::sleep(Duration::from_secs(13)).await;
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, before);
    assert_eq!(rev(&gate.mirror(), "refs/heads/main").await, before);
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_waits_for_a_forward_whose_agent_hung_up() {
    // The agent hangs up while its released push is with upstream, then
    // the gate is stopped. Its connection is gone (the gate notices at
    // its next keepalive, within 5 s), so the connection drain is over
    // long before upstream answers; had `run` returned then, the sidecar
    // would exit with upstream taking the push and the mirror never
    // following. `run` returns only after the forward is over and the
    // mirror settled (within the grace period).
    let mut gate = Fixture::start(Some(heads_and_notes()), reject()).await;
    let commit = push_and_hang_up_during_the_forward(&gate, 7).await;
    let stopping = std::time::Instant::now();
    gate.shut_down().await;
    let waited = stopping.elapsed();
    // Upstream took the push, and the mirror already shows it: nothing was
    // left running when the gate returned.
    assert_eq!(
        rev(&gate.upstream, "refs/notes/x").await,
        commit,
        "the gate stopped (after {waited:?}) before upstream had answered its forward"
    );
    for name in ["refs/heads/feature", "refs/notes/x"] {
        assert_eq!(
            rev(&gate.mirror(), name).await,
            commit,
            "{name}: the gate stopped (after {waited:?}) before the mirror followed upstream"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ref_name_the_mirror_cannot_hold_is_refused_before_upstream_sees_it() {
    // Upstream keeps its refs in a reftable (as GitLab's Gitaly can), where
    // a 300-byte component is fine; the mirror keeps them as files, where
    // it is not. Before, the push was forwarded, taken upstream, refused in
    // the mirror (half-landed), and the ref then failed every refresh, so
    // every later push to the repo was refused.
    let gate = Fixture::start(None, reject()).await;
    git_ok(
        &gate.upstream,
        &["refs", "migrate", "--ref-format=reftable"],
    )
    .await;
    let work = gate.clone("work").await;
    let commit = commit_file(&work, "f.txt", "change\n", "clean change").await;
    let long = format!("refs/heads/{}", "a".repeat(300));
    let pushed = git(&work, &["push", "origin", &format!("HEAD:{long}")]).await;
    assert!(!pushed.success, "{}", pushed.stderr);
    assert!(
        pushed.stderr.contains("over the gate's"),
        "{}",
        pushed.stderr
    );
    let listed = git_ok(&gate.upstream, &["for-each-ref", "--format=%(refname)"]).await;
    assert!(!listed.contains(&long), "upstream took it: {listed}");
    // The repo still takes pushes, and its mirror still refreshes.
    let pushed = git(&work, &["push", "origin", "HEAD:refs/heads/main"]).await;
    assert!(pushed.success, "{}", pushed.stderr);
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, commit);
    assert_eq!(rev(&gate.mirror(), "refs/heads/main").await, commit);
    gate.stop().await;
}

/// Every line the gate logs at `debug` or above, from any test in this
/// binary: the gate logs from tasks of its own, so the subscriber is the
/// process's global one, installed on the first call.
fn gate_logs() -> Arc<Mutex<Vec<u8>>> {
    static CAPTURED: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    Arc::clone(CAPTURED.get_or_init(|| {
        let captured = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&captured);
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "bot_bottle_gitgate=debug",
            ))
            .with_ansi(false)
            .with_writer(move || LogSink(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        captured
    }))
}

/// The lines of [`gate_logs`] the gate's `mirror` module logged at `warn`
/// or above.
fn mirror_warnings(logs: &Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&logs.lock().unwrap())
        .lines()
        .filter(|line| {
            line.contains("bot_bottle_gitgate::mirror")
                && (line.contains("WARN") || line.contains("ERROR"))
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

/// A `tracing_subscriber` writer appending to a shared buffer.
struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refs_made_upstream_that_the_mirror_cannot_hold_are_skipped_and_the_rest_refreshed() {
    // Someone else, not through the gate, makes refs upstream (a reftable
    // store, as GitLab's Gitaly can keep) whose names are over the gate's
    // bounds: a 300-byte component no file name can hold, a 230-byte one
    // a file could hold (over the gate's 200), and a tag 1,155 bytes long
    // in 190-byte components (over the gate's 1,024). Before, the
    // mirror's refresh failed on the first one (and took the other two),
    // so every push to the repo was refused.
    let logs = gate_logs();
    let gate = Fixture::start(None, reject()).await;
    git_ok(
        &gate.upstream,
        &["refs", "migrate", "--ref-format=reftable"],
    )
    .await;
    let outside = gate.clone_upstream("outside").await;
    let commit = commit_file(&outside, "o.txt", "outside\n", "outside").await;
    let cannot = format!("refs/heads/{}", "a".repeat(300));
    let must_not = format!("refs/heads/{}", "b".repeat(230));
    let long_tag = format!("refs/tags/{}", vec!["c".repeat(190); 6].join("/"));
    assert_eq!(long_tag.len(), 1155);
    git_ok(
        &outside,
        &[
            "push",
            "--quiet",
            "origin",
            &format!("HEAD:{cannot}"),
            &format!("HEAD:{must_not}"),
            &format!("HEAD:{long_tag}"),
            "HEAD:refs/heads/feature",
            "HEAD:refs/heads/main",
        ],
    )
    .await;
    let long_names = [&cannot, &must_not, &long_tag];

    // A clone through the gate gets every other ref, and upstream's
    // default branch checked out.
    let work = gate.clone("work").await;
    assert_eq!(
        git_ok(&work, &["rev-parse", "--abbrev-ref", "HEAD"]).await,
        "main"
    );
    assert_eq!(rev(&work, "refs/remotes/origin/main").await, commit);
    assert_eq!(rev(&work, "refs/remotes/origin/feature").await, commit);

    // Pushes to other refs land on both sides.
    let pushed = commit_file(&work, "w.txt", "work\n", "clean work").await;
    let push = git(&work, &["push", "origin", "HEAD:refs/heads/main"]).await;
    assert!(push.success, "{}", push.stderr);
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, pushed);
    assert_eq!(rev(&gate.mirror(), "refs/heads/main").await, pushed);

    // The mirror holds none of the long names, so the gate shows none.
    let mirror_refs = git_ok(&gate.mirror(), &["for-each-ref", "--format=%(refname)"]).await;
    let advertised = git_ok(&gate.root, &["ls-remote", &gate.url]).await;
    for name in long_names {
        assert!(!mirror_refs.contains(name.as_str()), "{mirror_refs}");
        assert!(!advertised.contains(name.as_str()), "{advertised}");
    }
    assert!(advertised.contains("refs/heads/feature"), "{advertised}");

    // A push to such a name is still refused, before upstream sees it.
    let push = git(&work, &["push", "origin", &format!("HEAD:{must_not}")]).await;
    assert!(!push.success, "{}", push.stderr);
    assert!(push.stderr.contains("over the gate's"), "{}", push.stderr);
    assert_eq!(rev(&gate.upstream, &must_not).await, commit);

    // Later refreshes still follow upstream, and a new long name that a
    // file could hold (the fetch stores it) is taken out again.
    git_ok(&outside, &["pull", "--quiet", "--rebase", "origin", "main"]).await;
    let later = commit_file(&outside, "o2.txt", "later\n", "later").await;
    let fits_later = format!("refs/heads/{}", "d".repeat(230));
    git_ok(
        &outside,
        &[
            "push",
            "--quiet",
            "origin",
            "HEAD:refs/heads/feature",
            &format!("HEAD:{fits_later}"),
        ],
    )
    .await;
    git_ok(&work, &["fetch", "--quiet", "origin"]).await;
    assert_eq!(rev(&work, "refs/remotes/origin/feature").await, later);
    assert_eq!(rev(&gate.mirror(), "refs/heads/feature").await, later);
    assert_eq!(rev(&gate.mirror(), &fits_later).await, "");
    let fetched = git_ok(&work, &["for-each-ref", "--format=%(refname)"]).await;
    assert!(!fetched.contains(&"d".repeat(230)), "{fetched}");
    git_ok(&work, &["fetch", "--quiet", "origin"]).await;
    assert_eq!(rev(&gate.mirror(), &fits_later).await, "");

    // Each skipped name was logged once, with the repo, cut short.
    let logged = mirror_warnings(&logs);
    for name in [&cannot, &must_not, &long_tag, &fits_later] {
        assert_eq!(logged.matches(&name[..40]).count(), 1, "{logged}");
        let line = logged
            .lines()
            .find(|line| line.contains(&name[..40]) && line.contains("repo=app"))
            .unwrap_or_else(|| panic!("no warning names {}: {logged}", &name[..40]));
        assert!(line.contains(&format!("bytes={}", name.len())), "{line}");
        assert!(!line.contains(name.as_str()), "not cut short: {line}");
    }
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repo_rules_file_too_large_to_compile_is_ignored_with_a_warning() {
    // The default branch's `.gitleaks.toml` is the agent's to write. An
    // audit's 1,000 rules like `q1z[a-z0-9]{1,32000}` (58 KB) took the
    // gate to 7 GB on the next push, and every push after. Now such a file
    // is refused as an invalid one is: the push is told why, the built-in
    // rules still apply, and clean pushes land.
    let approver = reject();
    let gate = Fixture::start(None, approver.clone()).await;
    let other = gate.clone_upstream("other").await;
    let rules: String = (0..1000)
        .map(|index| {
            format!("[[rules]]\nid = \"r{index}\"\nregex = '''q{index}z[a-z0-9]{{1,32000}}'''\n")
        })
        .collect();
    commit_file(&other, ".gitleaks.toml", &rules, "rules").await;
    git_ok(&other, &["push", "--quiet", "origin", "main"]).await;
    let work = gate.clone("work").await;
    let clean = commit_file(&work, "notes.txt", "nothing secret\n", "clean").await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(push.success, "{}", push.stderr);
    assert!(
        push.stderr
            .contains(".gitleaks.toml on the default branch is invalid and was ignored")
            && push.stderr.contains("more than the 250"),
        "{}",
        push.stderr
    );
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, clean);
    // The built-in rules still hold.
    commit_file(&work, "key.txt", &format!("aws = {}\n", aws_key()), "key").await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(!push.success, "{}", push.stderr);
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, clean);
    // A file over the gate's size bound is not even read.
    commit_file(&other, ".gitleaks.toml", &"#\n".repeat(200_000), "huge").await;
    git_ok(&other, &["pull", "--quiet", "--rebase", "origin", "main"]).await;
    git_ok(&other, &["push", "--quiet", "origin", "main"]).await;
    let work = gate.clone("work2").await;
    commit_file(&work, "more.txt", "still nothing\n", "clean").await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(push.success, "{}", push.stderr);
    assert!(
        push.stderr.contains("over the gate's 262144"),
        "{}",
        push.stderr
    );
    gate.stop().await;
}

/// `git hash-object -t KIND --stdin` (or `sha1sum` with no `kind`): the
/// SHA-1 of `bytes` as git names it, raw.
fn sha1_of(kind: Option<&str>, bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut command = match kind {
        Some(kind) => {
            let mut command = std::process::Command::new("git");
            command.args(["hash-object", "-t", kind, "--stdin"]);
            command
        }
        None => std::process::Command::new("sha1sum"),
    };
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::scope(|scope| {
        scope.spawn(move || stdin.write_all(bytes).unwrap());
    });
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let hex = String::from_utf8(output.stdout).unwrap();
    let hex = hex.split_whitespace().next().unwrap();
    (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap())
        .collect()
}

/// A pack object's header: type and inflated size.
fn pack_object_header(kind: u8, size: usize) -> Vec<u8> {
    let mut size = size;
    let mut byte = (kind << 4) | (size & 0x0f) as u8;
    size >>= 4;
    let mut out = Vec::new();
    while size > 0 {
        out.push(byte | 0x80);
        byte = (size & 0x7f) as u8;
        size >>= 7;
    }
    out.push(byte);
    out
}

/// A delta header's size: little-endian base-128.
fn delta_varint(mut value: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A delta bomb, as audit round 8 pushed it: a pack ("PACK", version 2,
/// object count, objects, SHA-1 trailer) holding a blob of `base` zero
/// bytes, an `OFS_DELTA` blob copying it `copies` times (a few bytes per
/// copy), a tree and a commit on `parent` holding both, and `fillers`
/// small blobs (100 or more make receive-pack use `index-pack` rather
/// than `unpack-objects`). Returns the pack and the commit id (hex).
fn delta_bomb_pack(parent: &str, base: usize, copies: usize, fillers: usize) -> (Vec<u8>, String) {
    assert!(
        base > 0 && base < 0x0100_0000,
        "one copy instruction per copy"
    );
    let zeros = vec![0u8; base];
    let result_size = base * copies;
    let mut delta = delta_varint(base);
    delta.extend(delta_varint(result_size));
    for _ in 0..copies {
        // Copy from offset 0 (no offset bytes), `base` bytes (3 size bytes).
        delta.extend([
            0x80 | 0x70,
            (base & 0xff) as u8,
            ((base >> 8) & 0xff) as u8,
            ((base >> 16) & 0xff) as u8,
        ]);
    }
    let base_id = sha1_of(Some("blob"), &zeros);
    let big_id = sha1_of(Some("blob"), &vec![0u8; result_size]);
    let mut tree = b"100644 base\0".to_vec();
    tree.extend(&base_id);
    tree.extend(b"100644 big\0");
    tree.extend(&big_id);
    let tree_id = sha1_of(Some("tree"), &tree);
    let hex = |id: &[u8]| {
        id.iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    };
    let commit = format!(
        "tree {}\nparent {parent}\nauthor a <a@x> 1 +0000\ncommitter a <a@x> 1 +0000\n\nbomb\n",
        hex(&tree_id)
    );
    let commit_id = hex(&sha1_of(Some("commit"), commit.as_bytes()));

    let count = u32::try_from(4 + fillers).unwrap();
    let mut pack = b"PACK".to_vec();
    pack.extend(2u32.to_be_bytes());
    pack.extend(count.to_be_bytes());
    let base_at = pack.len();
    pack.extend(pack_object_header(3, base));
    pack.extend(deflate(&zeros));
    // OFS_DELTA: the distance back to the base, big-endian base-128 with
    // each continued byte meaning one more.
    let mut distance = pack.len() - base_at;
    let mut offset = vec![(distance & 0x7f) as u8];
    distance >>= 7;
    while distance > 0 {
        distance -= 1;
        offset.insert(0, 0x80 | (distance & 0x7f) as u8);
        distance >>= 7;
    }
    pack.extend(pack_object_header(6, delta.len()));
    pack.extend(offset);
    pack.extend(deflate(&delta));
    pack.extend(pack_object_header(2, tree.len()));
    pack.extend(deflate(&tree));
    pack.extend(pack_object_header(1, commit.len()));
    pack.extend(deflate(commit.as_bytes()));
    for index in 0..fillers {
        let filler = format!("filler {index}\n");
        pack.extend(pack_object_header(3, filler.len()));
        pack.extend(deflate(filler.as_bytes()));
    }
    let trailer = sha1_of(None, &pack);
    pack.extend(trailer);
    (pack, commit_id)
}

/// POST a push of `pack` creating `reference` at `new` straight to the
/// gate (as `git push` would send it, side band and report asked for);
/// the whole HTTP answer.
async fn raw_push(gate: &Fixture, reference: &str, new: &str, pack: &[u8]) -> String {
    let base = gate.url.trim_end_matches("/app.git").to_string();
    raw_http(&base, b"GET /app.git/info/refs?service=git-receive-pack HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    let command = format!(
        "{} {new} {reference}\0report-status side-band-64k agent=test\n",
        "0".repeat(40)
    );
    let mut body = format!("{:04x}{command}0000", command.len() + 4).into_bytes();
    body.extend_from_slice(pack);
    let mut request = format!(
        "POST /app.git/git-receive-pack HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-git-receive-pack-request\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    raw_http(&base, &request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delta_bomb_is_refused_by_the_memory_bound_before_git_builds_it() {
    // Audit round 8: a 16 KB pack whose delta copies a 16 MiB zero blob 64
    // times made the gate's unpack-objects take 1 GiB (index-pack one such
    // result per thread) before the hook refused the file as too large to
    // scan. Here, at a small scale: a 1 MiB base copied 128 times (a 128
    // MiB result, over MAX_SCANNED_BLOB_BYTES) under a 64 MiB bound.
    let memory = ReceiveMemory {
        data_bytes: 64 * 1024 * 1024,
        threads: 2,
    };
    let gate = Fixture::start_memory_limited(reject(), memory).await;
    // Ordinary pushes work under that bound.
    let work = gate.clone("work").await;
    let commit = commit_file(&work, "main.rs", "fn main() {}\n", "add main").await;
    git_ok(&work, &["push", "--quiet", "origin", "main"]).await;
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, commit);

    // unpack-objects (4 objects) and index-pack (124 objects).
    for fillers in [0, 120] {
        let (pack, bomb) = delta_bomb_pack(&commit, 1024 * 1024, 128, fillers);
        assert!(pack.len() < 16 * 1024, "{}", pack.len());
        let answer = raw_push(&gate, "refs/heads/bomb", &bomb, &pack).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            answer.contains(&format!(
                "git-gate: push refused: receiving it needed more than the {} bytes of memory the gate lets git take",
                64 * 1024 * 1024
            )),
            "fillers {fillers}: {answer}"
        );
        // Refused by the bound, in git, before any hook: not by the scan.
        assert!(!answer.contains("cannot scan it"), "{answer}");
        assert!(answer.contains("ng refs/heads/bomb"), "{answer}");
        assert_eq!(rev(&gate.upstream, "refs/heads/bomb").await, "");
        assert_eq!(rev(&gate.mirror(), "refs/heads/bomb").await, "");
        assert_eq!(rev(&gate.upstream, "refs/heads/main").await, commit);
        assert_eq!(rev(&gate.mirror(), "refs/heads/main").await, commit);
        let missing = git(&gate.mirror(), &["cat-file", "-e", &bomb]).await;
        assert!(!missing.success, "the bomb's commit is in the mirror");
    }
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushes_of_a_file_at_the_scan_limit_and_of_many_objects_fit_the_memory_bound() {
    // With the default bound (MAX_RECEIVE_PACK_DATA_BYTES): a file of
    // exactly MAX_SCANNED_BLOB_BYTES, then a change to it (a delta against
    // the mirror's copy), then 300 small files in one push (index-pack).
    let gate = Fixture::start(None, reject()).await;
    let work = gate.clone("work").await;
    let size = usize::try_from(bot_bottle_gitgate::scan::MAX_SCANNED_BLOB_BYTES).unwrap();
    let mut content = vec![b'a'; size];
    std::fs::write(work.join("big.bin"), &content).unwrap();
    git_ok(&work, &["add", "big.bin"]).await;
    git_ok(&work, &["commit", "--quiet", "-m", "big"]).await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(push.success, "{}", push.stderr);
    content[size / 2] = b'b';
    std::fs::write(work.join("big.bin"), &content).unwrap();
    drop(content);
    git_ok(&work, &["commit", "--quiet", "-am", "big, changed"]).await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(push.success, "{}", push.stderr);
    for index in 0..300 {
        std::fs::write(
            work.join(format!("small-{index}.txt")),
            format!("{index}\n"),
        )
        .unwrap();
    }
    git_ok(&work, &["add", "-A"]).await;
    git_ok(&work, &["commit", "--quiet", "-m", "many"]).await;
    let push = git(&work, &["push", "origin", "main"]).await;
    assert!(push.success, "{}", push.stderr);
    let head = git_ok(&work, &["rev-parse", "HEAD"]).await;
    assert_eq!(rev(&gate.upstream, "refs/heads/main").await, head.trim());
    assert_eq!(rev(&gate.mirror(), "refs/heads/main").await, head.trim());
    gate.stop().await;
}

/// Store `pack` in the bare repo `git_dir` as it is (its deltas kept, so
/// an upload-pack there sends them on as they are), with no memory bound.
fn store_pack(git_dir: &Path, pack: &[u8]) {
    git_with_input(git_dir, &["index-pack", "--stdin"], pack);
}

/// The lines of [`gate_logs`] saying a refresh of the mirror failed and
/// the mirror was served as it was.
fn failed_refreshes(logs: &Mutex<Vec<u8>>) -> Vec<String> {
    String::from_utf8_lossy(&logs.lock().unwrap())
        .lines()
        .filter(|line| line.contains("WARN") && line.contains("serving the mirror as it is"))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delta_bomb_upstream_is_refused_by_the_refreshs_memory_bound() {
    // Audit round 9: the mirror's refresh fetched from upstream with no
    // memory bound, so a hostile upstream holding a delta bomb (audit
    // round 8's, stored upstream as it is) made the gate's git build the
    // whole result on every refresh. Here, at a small scale: a 1 MiB base
    // copied 128 times (a 128 MiB blob) under a 64 MiB bound.
    let logs = gate_logs();
    let memory = ReceiveMemory {
        data_bytes: 64 * 1024 * 1024,
        threads: 2,
    };
    let gate = Fixture::start_memory_limited(reject(), memory).await;
    let main = rev(&gate.upstream, "refs/heads/main").await;
    let first = gate.clone("first").await;
    assert_eq!(git_ok(&first, &["rev-parse", "HEAD"]).await, main);

    let (pack, bomb) = delta_bomb_pack(&main, 1024 * 1024, 128, 0);
    assert!(pack.len() < 16 * 1024, "{}", pack.len());
    store_pack(&gate.upstream, &pack);
    git_ok(&gate.upstream, &["update-ref", "refs/heads/bomb", &bomb]).await;
    let big = git_ok(&gate.upstream, &["rev-parse", "refs/heads/bomb:big"]).await;

    // A clone through the gate refreshes the mirror first: the fetch
    // (unpack-objects, 4 objects) runs out of the bound, the refresh
    // fails, and the mirror is served as it was. (What git wrote before
    // it ran out, the commit and tree sent ahead of the blobs, is left
    // loose and unreachable.)
    let failed_before = failed_refreshes(&logs).len();
    let second = gate.clone("second").await;
    assert_eq!(git_ok(&second, &["rev-parse", "HEAD"]).await, main);
    let branches = git_ok(&second, &["branch", "-r"]).await;
    assert!(!branches.contains("bomb"), "{branches}");
    assert_eq!(rev(&gate.mirror(), "refs/heads/bomb").await, "");
    assert_eq!(rev(&gate.mirror(), "refs/heads/main").await, main);
    let missing = git(&gate.mirror(), &["cat-file", "-e", &big]).await;
    assert!(!missing.success, "the bomb's blob is in the mirror");
    let failed = failed_refreshes(&logs);
    assert!(
        failed[failed_before..]
            .iter()
            .any(|line| line.contains("Out of memory")),
        "{failed:#?}"
    );

    // Beside 150 more objects (so the fetch runs index-pack, on
    // `threads` threads): refused the same way, nothing of it stored.
    let outside = gate.clone_upstream("outside").await;
    for index in 0..150 {
        std::fs::write(outside.join(format!("f{index}.txt")), format!("{index}\n")).unwrap();
    }
    git_ok(&outside, &["add", "-A"]).await;
    git_ok(&outside, &["commit", "--quiet", "-m", "many"]).await;
    git_ok(
        &outside,
        &["push", "--quiet", "origin", "HEAD:refs/heads/many"],
    )
    .await;
    let many = rev(&gate.upstream, "refs/heads/many").await;
    let failed_before = failed_refreshes(&logs).len();
    let listed = git_ok(&gate.root, &["ls-remote", &gate.url]).await;
    assert!(!listed.contains("bomb"), "{listed}");
    assert!(!listed.contains(&many), "{listed}");
    assert!(listed.contains(&main), "{listed}");
    assert_eq!(rev(&gate.mirror(), "refs/heads/bomb").await, "");
    let missing = git(&gate.mirror(), &["cat-file", "-e", &big]).await;
    assert!(!missing.success, "the bomb's blob is in the mirror");
    let failed = failed_refreshes(&logs);
    assert!(
        failed[failed_before..]
            .iter()
            .any(|line| line.contains("Out of memory")),
        "{failed:#?}"
    );

    // Once upstream drops the bomb, the refresh under the same bound
    // (index-pack again) brings the rest.
    git_ok(&gate.upstream, &["update-ref", "-d", "refs/heads/bomb"]).await;
    let third = gate.clone("third").await;
    git_ok(&third, &["fetch", "--quiet", "origin", "many"]).await;
    assert_eq!(git_ok(&third, &["rev-parse", "FETCH_HEAD"]).await, many);
    assert_eq!(rev(&gate.mirror(), "refs/heads/many").await, many);
    gate.stop().await;
}

/// Audit round 9 (suspected), reproduced: a ref outside branches and tags
/// that upstream deleted stays in the mirror (the refresh prunes branches
/// and tags only). A push of a name beside it (`refs/keep/x/y` beside
/// `refs/keep/x`, or `refs/keep/a` above `refs/keep/a/b`) landed
/// upstream, then failed in the mirror on the name clash: the agent was
/// told its push failed while upstream had it. Now it is refused before
/// anything is forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_clashing_with_a_stale_ref_in_the_mirror_is_refused_before_it_lands() {
    let policy = PushPolicy {
        refs: Some(vec!["refs/heads/**".into(), "refs/keep/**".into()]),
        force: None,
        delete: None,
    };
    let gate = Fixture::start(Some(policy), approve()).await;
    let work = gate.clone("work").await;
    let first = commit_file(&work, "a.txt", "a\n", "a").await;
    for stale in ["refs/keep/x", "refs/keep/a/b", "refs/keep/é"] {
        let keep = git(&work, &["push", "origin", &format!("{first}:{stale}")]).await;
        assert!(keep.success, "{}", keep.stderr);
        // Upstream's owner drops it; the mirror keeps it.
        git_ok(&gate.upstream, &["update-ref", "-d", stale]).await;
    }
    let second = commit_file(&work, "b.txt", "b\n", "b").await;
    for (name, stale) in [
        ("refs/keep/x/y", "refs/keep/x"),
        ("refs/keep/a", "refs/keep/a/b"),
        // git matches a pattern's bytes: a folder ending in a character
        // of several bytes is found too.
        ("refs/keep/é/y", "refs/keep/é"),
    ] {
        let push = git(&work, &["push", "origin", &format!("{second}:{name}")]).await;
        assert!(!push.success, "{name}: {}", push.stderr);
        assert!(
            push.stderr.contains(&format!(
                "{name}: the gate's mirror has {stale}, and a ref name cannot also be a folder of ref names"
            )),
            "{name}: {}",
            push.stderr
        );
        assert_eq!(
            rev(&gate.upstream, name).await,
            "",
            "{name} landed upstream"
        );
        assert_eq!(rev(&gate.mirror(), name).await, "");
        assert_eq!(rev(&gate.mirror(), stale).await, first);
    }
    // A name beside them that clashes with nothing still lands.
    let push = git(
        &work,
        &["push", "origin", &format!("{second}:refs/keep/z/y")],
    )
    .await;
    assert!(push.success, "{}", push.stderr);
    assert_eq!(rev(&gate.upstream, "refs/keep/z/y").await, second);
    gate.stop().await;
}
