//! Crashes and concurrency across real processes.
//!
//! Each crash test re-runs this test binary as a child (`crash_child`, with
//! the role and failpoint in environment variables). The child installs a
//! failpoint hook that aborts the process at the named point — no unwinding,
//! no destructors, like a kill — and the parent then plays the restarted
//! sidecar or operator and checks that no decision was lost or applied twice.
#![expect(clippy::unwrap_used, reason = "test helpers panic on setup failure")]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use bot_bottle_queue::{
    Actor, Decision, DecisionKind, EntryState, Failpoint, Failpoints, ProposalId, ProposalKind,
    Queue, QueueError, QueueOptions, Response, STALE_TEMP_AGE, Scope,
};
use common::{names, payload};

const ROLE: &str = "QUEUE_TEST_CHILD_ROLE";
const DIR: &str = "QUEUE_TEST_CHILD_DIR";
const CRASH_AT: &str = "QUEUE_TEST_CHILD_CRASH_AT";
const PROPOSAL: &str = "QUEUE_TEST_CHILD_PROPOSAL";
const LEDGER: &str = "QUEUE_TEST_CHILD_LEDGER";

/// The sidecar's "act": a ledger of applied decisions that records the
/// proposal id in the same atomic write that applies the decision (the
/// pattern the crate docs ask of actors), plus an append-only count of how
/// many times the act ran at all.
struct Ledger {
    path: PathBuf,
}

impl Ledger {
    fn applied(&self) -> BTreeMap<String, String> {
        match fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).unwrap(),
            Err(_) => BTreeMap::new(),
        }
    }

    fn runs(&self) -> usize {
        fs::read_to_string(self.path.with_extension("runs"))
            .map(|text| text.lines().count())
            .unwrap_or(0)
    }

    fn apply(&self, id: &ProposalId, response: &Response) {
        use std::io::Write;
        let mut runs = fs::File::options()
            .create(true)
            .append(true)
            .open(self.path.with_extension("runs"))
            .unwrap();
        writeln!(runs, "{id}").unwrap();
        runs.sync_all().unwrap();
        let mut applied = self.applied();
        if applied.contains_key(id.as_str()) {
            return;
        }
        applied.insert(id.to_string(), response.decision.kind().to_string());
        let dir = self.path.parent().unwrap();
        let mut temp = tempfile::NamedTempFile::new_in(dir).unwrap();
        temp.write_all(serde_json::to_string(&applied).unwrap().as_bytes())
            .unwrap();
        temp.as_file().sync_all().unwrap();
        temp.persist(&self.path).unwrap();
    }
}

/// Not a test on its own: the body of the child process.
#[test]
#[ignore = "child process of the crash tests; runs only when they start it"]
fn crash_child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let dir = PathBuf::from(std::env::var(DIR).unwrap());
    let crash_at = std::env::var(CRASH_AT)
        .ok()
        .map(|name| Failpoint::from_name(&name).unwrap());
    let options = QueueOptions {
        failpoints: Failpoints::new(move |point| {
            if Some(point) == crash_at {
                std::process::abort();
            }
        }),
        ..QueueOptions::default()
    };
    let queue = Queue::create_with(&dir, options).unwrap();
    let proposal = || ProposalId::parse(&std::env::var(PROPOSAL).unwrap()).unwrap();
    match role.as_str() {
        "submit" => {
            queue
                .propose("dev", payload(ProposalKind::EgressAllow))
                .unwrap();
        }
        "answer" => {
            queue
                .answer(&proposal(), Decision::Approve, None, Some("child".into()))
                .unwrap();
        }
        "act" => {
            let ledger = Ledger {
                path: PathBuf::from(std::env::var(LEDGER).unwrap()),
            };
            let id = proposal();
            let response = queue
                .wait_for_response(&id, Duration::from_secs(30))
                .unwrap();
            ledger.apply(&id, &response);
            queue.archive(&id).unwrap();
        }
        "ids" => {
            let ids: Vec<String> = (0..5_000)
                .map(|_| ProposalId::generate().to_string())
                .collect();
            fs::write(dir.join("child-ids.txt"), ids.join("\n")).unwrap();
        }
        other => panic!("unknown role {other}"),
    }
}

/// Run the child; return whether it was killed by SIGABRT (the failpoint).
fn run_child(
    role: &str,
    dir: &Path,
    crash_at: Option<Failpoint>,
    extra: &[(&str, String)],
) -> bool {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, role)
        .env(DIR, dir);
    if let Some(point) = crash_at {
        command.env(CRASH_AT, point.as_str());
    }
    for (name, value) in extra {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    match output.status.signal() {
        Some(6) => true,
        _ => {
            assert!(
                output.status.success(),
                "child {role} failed: {}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout)
            );
            false
        }
    }
}

/// The restarted sidecar: recover, act on what is answered, archive it.
fn restart_sidecar(queue: &Queue, ledger: &Ledger) -> bot_bottle_queue::Recovery {
    let recovery = queue.recover(Actor::Supervise).unwrap();
    for answered in &recovery.answered {
        assert!(answered.problem.is_none());
        ledger.apply(&answered.proposal.id, &answered.response);
        queue.archive(&answered.proposal.id).unwrap();
    }
    recovery
}

fn assert_settled(queue: &Queue, id: &ProposalId, ledger: &Ledger, decision: DecisionKind) {
    assert_eq!(names(queue.dir()), vec!["processed".to_string()]);
    assert_eq!(
        names(&queue.dir().join("processed")),
        vec![format!("{id}.proposal.json"), format!("{id}.response.json")]
    );
    let entry = queue.entry(id).unwrap();
    assert_eq!(entry.state, EntryState::Processed);
    assert_eq!(entry.valid_response().unwrap().decision.kind(), decision);
    assert_eq!(
        ledger.applied(),
        BTreeMap::from([(id.to_string(), decision.to_string())])
    );
    // Nothing left to do on a second restart, and nobody can answer again.
    let again = queue.recover(Actor::Supervise).unwrap();
    assert!(again.answered.is_empty() && again.pending.is_empty());
    assert!(again.finished_archives.is_empty() && again.bad.is_empty());
    assert!(matches!(
        queue.answer(id, Decision::Reject, None, None),
        Err(QueueError::AlreadyProcessed { .. })
    ));
}

struct Setup {
    _root: tempfile::TempDir,
    queue: Queue,
    ledger: Ledger,
    dir: PathBuf,
}

fn setup() -> Setup {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("queue");
    let queue = Queue::create(&dir).unwrap();
    let ledger = Ledger {
        path: root.path().join("ledger.json"),
    };
    Setup {
        _root: root,
        queue,
        ledger,
        dir,
    }
}

#[test]
fn crash_after_proposal_temp_write_leaves_nothing_but_a_swept_temp() {
    let setup = setup();
    assert!(run_child(
        "submit",
        &setup.dir,
        Some(Failpoint::ProposalTempWritten),
        &[]
    ));
    let listing = setup.queue.list(Scope::All).unwrap();
    assert!(
        listing.entries.is_empty() && listing.bad.is_empty(),
        "{listing:?}"
    );
    let left: Vec<String> = names(&setup.dir);
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left[0].starts_with(".tmp-"), "{left:?}");
    // A fresh temp file might be a write in progress: kept.
    assert!(
        setup
            .queue
            .sweep_stale_temps(STALE_TEMP_AGE)
            .unwrap()
            .is_empty()
    );
    let temp = setup.dir.join(&left[0]);
    fs::File::options()
        .write(true)
        .open(&temp)
        .unwrap()
        .set_modified(SystemTime::now() - STALE_TEMP_AGE)
        .unwrap();
    let recovery = setup.queue.recover(Actor::Supervise).unwrap();
    assert_eq!(recovery.removed_temps, vec![temp]);
    assert_eq!(names(&setup.dir), vec!["processed".to_string()]);
    // The sidecar files again after its restart; the queue works as usual.
    assert!(!run_child("submit", &setup.dir, None, &[]));
    assert_eq!(setup.queue.list(Scope::Active).unwrap().entries.len(), 1);
}

#[test]
fn crash_after_response_temp_write_leaves_the_proposal_pending() {
    let setup = setup();
    let proposal = setup
        .queue
        .propose("dev", payload(ProposalKind::EgressAllow))
        .unwrap();
    let id = [(PROPOSAL, proposal.id.to_string())];
    assert!(run_child(
        "answer",
        &setup.dir,
        Some(Failpoint::ResponseTempWritten),
        &id
    ));
    // The operator's command died without saying "done"; the proposal is
    // still pending and can be answered.
    let entry = setup.queue.entry(&proposal.id).unwrap();
    assert_eq!(entry.state, EntryState::Pending);
    assert!(!run_child("answer", &setup.dir, None, &id));
    let ledger_env = [
        (PROPOSAL, proposal.id.to_string()),
        (LEDGER, setup.ledger.path.display().to_string()),
    ];
    assert!(!run_child("act", &setup.dir, None, &ledger_env));
    setup.queue.sweep_stale_temps(Duration::ZERO).unwrap();
    assert_settled(
        &setup.queue,
        &proposal.id,
        &setup.ledger,
        DecisionKind::Approve,
    );
    assert_eq!(setup.ledger.runs(), 1);
}

#[test]
fn crash_right_after_the_response_lands_keeps_the_decision() {
    let setup = setup();
    let proposal = setup
        .queue
        .propose("dev", payload(ProposalKind::EgressAllow))
        .unwrap();
    let id = [(PROPOSAL, proposal.id.to_string())];
    assert!(run_child(
        "answer",
        &setup.dir,
        Some(Failpoint::ResponseWritten),
        &id
    ));
    assert_eq!(
        setup.queue.entry(&proposal.id).unwrap().state,
        EntryState::Answered
    );
    let recovery = restart_sidecar(&setup.queue, &setup.ledger);
    assert_eq!(recovery.answered.len(), 1);
    assert_settled(
        &setup.queue,
        &proposal.id,
        &setup.ledger,
        DecisionKind::Approve,
    );
    assert_eq!(setup.ledger.runs(), 1);
}

/// The sidecar is killed during its act-then-archive at `point`; the
/// restarted sidecar finishes. Returns how many times the act ran.
fn sidecar_crash_at(point: Failpoint) -> (usize, bot_bottle_queue::Recovery) {
    let setup = setup();
    let proposal = setup
        .queue
        .propose("dev", payload(ProposalKind::EgressAllow))
        .unwrap();
    setup
        .queue
        .answer(&proposal.id, Decision::Reject, Some("no".into()), None)
        .unwrap();
    let env = [
        (PROPOSAL, proposal.id.to_string()),
        (LEDGER, setup.ledger.path.display().to_string()),
    ];
    assert!(run_child("act", &setup.dir, Some(point), &env));
    // While the sidecar is down no second answer can slip in.
    let error = setup
        .queue
        .answer(&proposal.id, Decision::Approve, None, None)
        .unwrap_err();
    assert!(
        matches!(
            error,
            QueueError::AlreadyAnswered { .. } | QueueError::AlreadyProcessed { .. }
        ),
        "{error:?}"
    );
    let recovery = restart_sidecar(&setup.queue, &setup.ledger);
    assert_settled(
        &setup.queue,
        &proposal.id,
        &setup.ledger,
        DecisionKind::Reject,
    );
    (setup.ledger.runs(), recovery)
}

#[test]
fn crash_after_acting_before_archiving_acts_again_idempotently() {
    let (runs, recovery) = sidecar_crash_at(Failpoint::ArchiveStarting);
    // Acted, not archived: the restart acts once more; the id-keyed ledger
    // makes the second act a no-op, so the decision is applied once.
    assert_eq!(recovery.answered.len(), 1);
    assert_eq!(runs, 2);
}

#[test]
fn crash_between_the_archive_moves_is_finished_without_acting_again() {
    let (runs, recovery) = sidecar_crash_at(Failpoint::ArchiveBetweenMoves);
    assert!(recovery.answered.is_empty());
    assert_eq!(recovery.finished_archives.len(), 1);
    assert_eq!(runs, 1);
}

#[test]
fn crash_after_linking_the_archived_response_removes_the_leftover() {
    let (runs, recovery) = sidecar_crash_at(Failpoint::ArchiveResponseLinked);
    assert!(recovery.answered.is_empty());
    assert_eq!(recovery.removed_duplicates.len(), 1);
    assert_eq!(runs, 1);
}

#[test]
fn ids_are_unique_across_processes() {
    let root = tempfile::tempdir().unwrap();
    let child = {
        let dir = root.path().to_path_buf();
        std::thread::spawn(move || run_child("ids", &dir, None, &[]))
    };
    let mine: Vec<ProposalId> = (0..5_000).map(|_| ProposalId::generate()).collect();
    assert!(!child.join().unwrap());
    let theirs = fs::read_to_string(root.path().join("child-ids.txt")).unwrap();
    let theirs: Vec<&str> = theirs.lines().collect();
    assert_eq!(theirs.len(), 5_000);
    let mut all: HashSet<&str> = mine.iter().map(ProposalId::as_str).collect();
    for id in theirs {
        assert!(all.insert(id), "{id} generated twice");
    }
    assert_eq!(all.len(), 10_000);
}
