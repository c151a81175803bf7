//! The gate's overhead, measured in one run (not criterion: each sample is a
//! whole push of a thousand commits, and the figure wanted is a ratio).
//!
//! 1. Push 1,000 small commits straight to a bare upstream (`file://`), and
//!    the same commits through the gate to an identical upstream; print both
//!    times and the ratio (target: under 2x). This is done for several
//!    rounds (`GITGATE_BENCH_ROUNDS`, default 5), each with 1,000 new
//!    commits on top of the last round's, the order of the two pushes
//!    alternating; the median ratio is printed last. Then the same again
//!    with both upstreams served over smart HTTP (`git http-backend` on
//!    loopback, as a forge is reached), optionally each upstream request
//!    answered `GITGATE_BENCH_UPSTREAM_DELAY_MS` later (default 0: a
//!    stand-in for a forge's round trip; the agent-to-gate hop stays
//!    local, as it is in a bottle).
//! 2. Scan a larger history (200 commits, each adding a 64 KiB file) with
//!    the DLP engine as the gate does (per commit: message, paths, files)
//!    and print the throughput over the bytes of the files.
//!
//! Run: `cargo bench -p bot-bottle-gitgate --bench push` (set
//! `GITGATE_BENCH_LOG=1` to see the gate's step timings).
#![expect(clippy::unwrap_used, reason = "a benchmark panics on setup failure")]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../tests/support/forge.rs"]
mod forge;

use bot_bottle_dlp::{Scanner, ScannerConfig};
use bot_bottle_gitgate::hook::RefUpdate;
use bot_bottle_gitgate::policy::PushRules;
use bot_bottle_gitgate::scan::{ObjectAccess, scan_push};
use forge::Forge;

use bot_bottle_gitgate::{
    CommitScanner, Config, Credential, DlpScanner, NoApprover, NoScanner, Repo, Timeouts,
};

const PUSH_COMMITS: usize = 1000;
const DEFAULT_ROUNDS: usize = 5;
const SCAN_COMMITS: usize = 200;
const SCAN_FILE_BYTES: usize = 64 * 1024;

fn git(dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Make `count` commits quickly with `git fast-import`, each changing one
/// file of `bytes` bytes of text.
fn make_commits(repo: &Path, count: usize, bytes: usize, parent: &str, round: usize) {
    let mut stream = String::new();
    for index in 0..count {
        let line =
            format!("line of commit {index} (round {round}) with some ordinary text in it\n");
        let content: String = line.repeat(bytes / line.len() + 1)[..bytes].to_string();
        stream.push_str("commit refs/heads/main\n");
        stream.push_str(&format!("mark :{}\n", index + 1));
        stream.push_str("committer Bench <bench@example.com> 1700000000 +0000\n");
        let message = format!("commit {index}\n");
        stream.push_str(&format!("data {}\n{message}", message.len()));
        if index == 0 {
            stream.push_str(&format!("from {parent}\n"));
        }
        stream.push_str(&format!(
            "M 100644 inline file{}.txt\ndata {}\n{content}\n",
            index % 50,
            content.len()
        ));
    }
    let mut child = std::process::Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(repo)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

/// The median of `values` (sorted in place).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn seeded_upstream(root: &Path, name: &str) -> std::path::PathBuf {
    let upstream = root.join(name);
    git(
        root,
        &[
            "init",
            "--bare",
            "--quiet",
            "-b",
            "main",
            upstream.to_str().unwrap(),
        ],
    );
    upstream
}

fn main() {
    if std::env::var_os("GITGATE_BENCH_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path();

    // A work repo with one base commit, pushed to four identical upstreams:
    // straight and gated, over `file://` and over smart HTTP.
    let work = root.join("work");
    git(
        root,
        &["init", "--quiet", "-b", "main", work.to_str().unwrap()],
    );
    std::fs::write(work.join("README"), "bench\n").unwrap();
    git(&work, &["add", "README"]);
    git(&work, &["commit", "--quiet", "-m", "base"]);
    let base = git(&work, &["rev-parse", "HEAD"]);
    let served = root.join("served");
    std::fs::create_dir(&served).unwrap();
    let upstreams = [
        seeded_upstream(root, "straight.git"),
        seeded_upstream(root, "gated.git"),
        seeded_upstream(&served, "straight.git"),
        seeded_upstream(&served, "gated.git"),
    ];
    for upstream in &upstreams {
        git(upstream, &["config", "http.receivepack", "true"]);
        git(
            &work,
            &["push", "--quiet", upstream.to_str().unwrap(), "main"],
        );
    }
    let delay = Duration::from_millis(
        std::env::var("GITGATE_BENCH_UPSTREAM_DELAY_MS")
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(0),
    );
    let http_base = runtime.block_on(forge::serve(
        served.clone(),
        Forge {
            delay,
            ..Forge::default()
        },
    ));

    // The gate in front of both gated upstreams.
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    let repo = |name: &str, upstream: String| Repo {
        name: name.into(),
        upstream,
        credential: Credential::None,
        push: PushRules::from_policy(name, None).unwrap(),
    };
    let config = Config {
        state_dir: root.join("state"),
        repos: vec![
            repo("app", format!("file://{}", upstreams[1].display())),
            repo("web", format!("{http_base}/gated.git")),
        ],
        scanner: Arc::new(DlpScanner(Scanner::new(ScannerConfig::default()).unwrap())),
        approver: Arc::new(NoApprover),
        timeouts: Timeouts::default(),
        scan_limits: Default::default(),
        receive_memory: Default::default(),
        proposal_rate: Default::default(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(async move {
        bot_bottle_gitgate::run(listener, config, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    let scenarios = [
        (
            "file:// upstream".to_string(),
            upstreams[0].to_str().unwrap().to_string(),
            format!("http://{address}/app.git"),
            &upstreams[1],
        ),
        (
            format!("smart-HTTP upstream, answers {} ms late", delay.as_millis()),
            format!("{http_base}/straight.git"),
            format!("http://{address}/web.git"),
            &upstreams[3],
        ),
    ];
    // Prime the mirrors (the agent's clone would).
    for (_, _, gate_url, _) in &scenarios {
        git(root, &["ls-remote", gate_url]);
    }

    let rounds = std::env::var("GITGATE_BENCH_ROUNDS")
        .ok()
        .and_then(|value| value.parse::<usize>().ok())
        .filter(|rounds| *rounds > 0)
        .unwrap_or(DEFAULT_ROUNDS);
    let mut results = vec![(Vec::new(), Vec::new(), Vec::new()); scenarios.len()];
    let mut head = base;
    for round in 0..rounds {
        make_commits(&work, PUSH_COMMITS, 200, &head, round);
        head = git(&work, &["rev-parse", "HEAD"]);
        for ((label, straight_url, gate_url, gated), (ratios, straight_times, gated_times)) in
            scenarios.iter().zip(results.iter_mut())
        {
            let push = |url: &str| {
                let started = Instant::now();
                git(&work, &["push", "--quiet", url, "main"]);
                started.elapsed()
            };
            let (direct, through) = if round % 2 == 0 {
                let direct = push(straight_url);
                (direct, push(gate_url))
            } else {
                let through = push(gate_url);
                (push(straight_url), through)
            };
            assert_eq!(git(gated, &["rev-parse", "main"]), head);
            let ratio = through.as_secs_f64() / direct.as_secs_f64();
            ratios.push(ratio);
            straight_times.push(direct.as_secs_f64());
            gated_times.push(through.as_secs_f64());
            println!(
                "push of {PUSH_COMMITS} commits, {label} (round {}): straight {:.3}s, through the gate {:.3}s, ratio {ratio:.2}x",
                round + 1,
                direct.as_secs_f64(),
                through.as_secs_f64(),
            );
        }
    }
    for ((label, ..), (ratios, straight_times, gated_times)) in
        scenarios.iter().zip(results.iter_mut())
    {
        let median_ratio = median(ratios);
        let (straight_median, gated_median) = (median(straight_times), median(gated_times));
        println!(
            "push of {PUSH_COMMITS} commits, {label}: median ratio {median_ratio:.2}x over {rounds} rounds (min {:.2}x, max {:.2}x); medians straight {straight_median:.3}s, through the gate {gated_median:.3}s, their ratio {:.2}x",
            ratios[0],
            ratios[ratios.len() - 1],
            gated_median / straight_median,
        );
    }
    let _ = stop.send(());
    runtime.block_on(server).unwrap();

    // The scan alone over 1,000 small commits (as in the push above), every
    // commit new, several times.
    let small = root.join("small");
    git(
        root,
        &["init", "--quiet", "-b", "main", small.to_str().unwrap()],
    );
    std::fs::write(small.join("README"), "small\n").unwrap();
    git(&small, &["add", "README"]);
    git(&small, &["commit", "--quiet", "-m", "base"]);
    let small_base = git(&small, &["rev-parse", "HEAD"]);
    make_commits(&small, PUSH_COMMITS, 200, &small_base, 0);
    let small_head = git(&small, &["rev-parse", "HEAD"]);
    let small_mirror = seeded_upstream(root, "small-mirror.git");
    let small_access = ObjectAccess::new(&small_mirror, Some(&small.join(".git/objects")));
    let small_update = RefUpdate {
        old: "0".repeat(40),
        new: small_head,
        reference: "refs/heads/main".into(),
    };
    let dlp: Arc<dyn CommitScanner> =
        Arc::new(DlpScanner(Scanner::new(ScannerConfig::default()).unwrap()));
    let nothing: Arc<dyn CommitScanner> = Arc::new(NoScanner);
    for (label, small_scanner) in [("", dlp), (" with no detectors (git only)", nothing)] {
        let mut times = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            runtime
                .block_on(scan_push(
                    &small_access,
                    std::slice::from_ref(&small_update),
                    small_scanner.clone(),
                    Duration::from_secs(300),
                ))
                .unwrap();
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "scan of {PUSH_COMMITS} small commits alone{label}: median {:.1} ms (min {:.1}, max {:.1}, 5 runs)",
            times[2], times[0], times[4]
        );
    }

    // Scan throughput over a larger history.
    let history = root.join("history");
    git(
        root,
        &["init", "--quiet", "-b", "main", history.to_str().unwrap()],
    );
    std::fs::write(history.join("README"), "history\n").unwrap();
    git(&history, &["add", "README"]);
    git(&history, &["commit", "--quiet", "-m", "base"]);
    let history_base = git(&history, &["rev-parse", "HEAD"]);
    make_commits(&history, SCAN_COMMITS, SCAN_FILE_BYTES, &history_base, 0);
    let head = git(&history, &["rev-parse", "HEAD"]);
    // An empty "mirror" with the history's objects as its quarantine: every
    // commit is new.
    let mirror = seeded_upstream(root, "empty-mirror.git");
    let access = ObjectAccess::new(&mirror, Some(&history.join(".git/objects")));
    let update = RefUpdate {
        old: "0".repeat(40),
        new: head,
        reference: "refs/heads/main".into(),
    };
    let scanner = Arc::new(DlpScanner(Scanner::new(ScannerConfig::default()).unwrap()));
    let started = Instant::now();
    let findings = runtime
        .block_on(scan_push(
            &access,
            &[update],
            scanner,
            Duration::from_secs(300),
        ))
        .unwrap();
    let elapsed = started.elapsed();
    // Each commit's new file content is scanned (no diff: it is covered).
    let scanned = (SCAN_COMMITS * SCAN_FILE_BYTES) as f64;
    println!(
        "scan of {SCAN_COMMITS} commits ({:.1} MiB of files): {:.3}s, {:.1} MiB/s, {} findings",
        scanned / 1048576.0,
        elapsed.as_secs_f64(),
        scanned / 1048576.0 / elapsed.as_secs_f64(),
        findings.len()
    );
}
