//! The queue protocol in one process: listing, bad files, answering,
//! archiving, waiting, and two operators racing.
#![expect(clippy::unwrap_used, reason = "test helpers panic on setup failure")]

mod common;

use std::fs;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, SystemTime};

use bot_bottle_queue::{
    Actor, BadReason, Decision, DecisionError, DecisionKind, EntryState, Notifications, ProposalId,
    ProposalKind, Queue, QueueError, QueueOptions, ResponseFile, STALE_TEMP_AGE, Scope, WaitMode,
    find, list_queues,
};
use common::{names, payload, route};

fn queue() -> (tempfile::TempDir, Queue) {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::create(dir.path().join("dev")).unwrap();
    (dir, queue)
}

#[test]
fn a_proposal_goes_pending_answered_processed() {
    let (_dir, queue) = queue();
    let proposal = queue
        .propose("dev", payload(ProposalKind::EgressAllow))
        .unwrap();
    assert_eq!(
        names(queue.dir()),
        vec![
            format!("{}.proposal.json", proposal.id),
            "processed".to_string()
        ]
    );
    let listing = queue.list(Scope::Active).unwrap();
    assert_eq!(listing.entries.len(), 1);
    assert_eq!(listing.entries[0].state, EntryState::Pending);
    assert_eq!(listing.entries[0].proposal, proposal);

    let response = queue
        .answer(&proposal.id, Decision::Approve, None, Some("ops".into()))
        .unwrap();
    let listing = queue.list(Scope::Active).unwrap();
    assert_eq!(listing.entries[0].state, EntryState::Answered);
    assert_eq!(
        listing.entries[0].response,
        Some(ResponseFile::Valid(response.clone()))
    );

    queue.archive(&proposal.id).unwrap();
    assert_eq!(names(queue.dir()), vec!["processed".to_string()]);
    assert!(queue.list(Scope::Active).unwrap().entries.is_empty());
    let all = queue.list(Scope::All).unwrap();
    assert_eq!(all.entries.len(), 1);
    assert_eq!(all.entries[0].state, EntryState::Processed);
    assert_eq!(all.entries[0].valid_response(), Some(&response));
    assert!(all.bad.is_empty(), "{:?}", all.bad);
    // Archiving again changes nothing and is not an error.
    queue.archive(&proposal.id).unwrap();
    assert_eq!(queue.list(Scope::All).unwrap(), all);
}

#[test]
fn listing_is_newest_first() {
    let (_dir, queue) = queue();
    let ids: Vec<ProposalId> = ProposalKind::ALL
        .into_iter()
        .map(|kind| queue.propose("dev", payload(kind)).unwrap().id)
        .collect();
    let listed: Vec<ProposalId> = queue
        .list(Scope::Active)
        .unwrap()
        .entries
        .into_iter()
        .map(|entry| entry.proposal.id)
        .collect();
    let mut newest_first = ids;
    newest_first.reverse();
    assert_eq!(listed, newest_first);
}

#[test]
fn bad_files_are_reported_next_to_good_entries() {
    let (_dir, queue) = queue();
    let good = queue
        .propose("dev", payload(ProposalKind::CapabilityBlock))
        .unwrap();
    let dir = queue.dir();
    let other_id = ProposalId::generate();
    let mut text = serde_json::to_value(&good).unwrap();
    text["schema_version"] = 99.into();
    fs::write(
        dir.join("20200101T000000000Z-a-1-1.proposal.json"),
        "{not json",
    )
    .unwrap();
    fs::write(
        dir.join("20200101T000000000Z-b-1-1.proposal.json"),
        serde_json::to_string(&text).unwrap(),
    )
    .unwrap();
    text.as_object_mut().unwrap().remove("schema_version");
    fs::write(
        dir.join("20200101T000000000Z-c-1-1.proposal.json"),
        serde_json::to_string(&text).unwrap(),
    )
    .unwrap();
    text["schema_version"] = 1.into();
    fs::write(
        dir.join(format!("{other_id}.proposal.json")),
        serde_json::to_string(&text).unwrap(),
    )
    .unwrap();
    text["id"] = "20200101T000000000Z-e-1-1".into();
    text["kind"] = "teleport".into();
    fs::write(
        dir.join("20200101T000000000Z-e-1-1.proposal.json"),
        serde_json::to_string(&text).unwrap(),
    )
    .unwrap();
    fs::write(dir.join("notes.txt"), "hello").unwrap();
    fs::write(dir.join(".tmp-abc.json"), "{half a wri").unwrap();
    fs::write(
        dir.join("20200101T000000000Z-f-1-1.response.json"),
        r#"{"schema_version":1,"id":"20200101T000000000Z-f-1-1","decision":"reject","answered_at":"2020-01-01T00:00:00.000Z"}"#,
    )
    .unwrap();

    let listing = queue.list(Scope::Active).unwrap();
    assert_eq!(listing.entries.len(), 1);
    assert_eq!(listing.entries[0].proposal, good);
    let reasons: Vec<(String, BadReason)> = listing
        .bad
        .into_iter()
        .map(|bad| {
            (
                bad.path.file_name().unwrap().to_string_lossy().into_owned(),
                bad.reason,
            )
        })
        .collect();
    let names: Vec<&str> = reasons.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "20200101T000000000Z-a-1-1.proposal.json",
            "20200101T000000000Z-b-1-1.proposal.json",
            "20200101T000000000Z-c-1-1.proposal.json",
            "20200101T000000000Z-e-1-1.proposal.json",
            "20200101T000000000Z-f-1-1.response.json",
            &format!("{other_id}.proposal.json"),
            "notes.txt",
        ]
    );
    assert!(matches!(reasons[0].1, BadReason::NotJson { .. }));
    assert_eq!(
        reasons[1].1,
        BadReason::UnknownSchemaVersion {
            found: "99".into(),
            supported: 1
        }
    );
    assert_eq!(reasons[2].1, BadReason::MissingSchemaVersion);
    assert!(
        matches!(&reasons[3].1, BadReason::Invalid { message } if message.contains("teleport")),
        "{:?}",
        reasons[3].1
    );
    assert_eq!(reasons[4].1, BadReason::OrphanResponse);
    assert!(matches!(reasons[5].1, BadReason::IdMismatch { .. }));
    assert_eq!(reasons[6].1, BadReason::UnexpectedName);
    assert_eq!(
        reasons[1].1.to_string(),
        "unknown schema_version 99 (this bot-bottle reads version 1)"
    );
}

#[test]
fn a_malformed_response_is_reported_and_blocks_a_second_answer() {
    let (_dir, queue) = queue();
    let proposal = queue
        .propose("dev", payload(ProposalKind::EgressAllow))
        .unwrap();
    fs::write(queue.response_path(&proposal.id), "garbage").unwrap();
    let listing = queue.list(Scope::Active).unwrap();
    assert_eq!(listing.entries[0].state, EntryState::Answered);
    assert!(matches!(
        listing.entries[0].response,
        Some(ResponseFile::Bad(_))
    ));
    assert_eq!(listing.bad.len(), 1);
    let error = queue
        .answer(&proposal.id, Decision::Reject, None, None)
        .unwrap_err();
    assert!(
        matches!(error, QueueError::AlreadyAnswered { decision: None, .. }),
        "{error:?}"
    );
    // The acting sidecar fails closed on it.
    let error = queue
        .wait_for_response(&proposal.id, Duration::from_secs(5))
        .unwrap_err();
    assert!(matches!(error, QueueError::BadResponse(_)), "{error:?}");
}

#[test]
fn answers_follow_the_kind_rules() {
    let (_dir, queue) = queue();
    let leak = queue
        .propose("dev", payload(ProposalKind::GitleaksAllow))
        .unwrap();
    let error = queue
        .answer(&leak.id, Decision::Approve, None, None)
        .unwrap_err();
    assert_eq!(
        format!("{error}: {}", std::error::Error::source(&error).unwrap()),
        format!(
            "cannot answer {}: approving a gitleaks-allow proposal needs a reason: it is report-only, so say why letting it through is safe (--reason)",
            leak.id
        )
    );
    assert!(
        !queue.response_path(&leak.id).exists(),
        "a refused answer writes nothing"
    );
    let error = queue
        .answer(
            &leak.id,
            Decision::ApproveWithModification {
                route: route("x.example.com"),
            },
            Some("fine".into()),
            None,
        )
        .unwrap_err();
    assert!(matches!(
        error,
        QueueError::Decision {
            source: DecisionError::ModifyNotAllowed { .. },
            ..
        }
    ));
    queue
        .answer(
            &leak.id,
            Decision::Approve,
            Some("test fixture key".into()),
            None,
        )
        .unwrap();
}

#[test]
fn answering_something_gone_says_so() {
    let (_dir, queue) = queue();
    let unknown = ProposalId::generate();
    let error = queue
        .answer(&unknown, Decision::Reject, None, None)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("no proposal {unknown} in {}", queue.dir().display())
    );
    let proposal = queue
        .propose("dev", payload(ProposalKind::EgressBlock))
        .unwrap();
    queue
        .answer(&proposal.id, Decision::Reject, None, Some("alice".into()))
        .unwrap();
    queue.archive(&proposal.id).unwrap();
    let error = queue
        .answer(&proposal.id, Decision::Approve, None, None)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "proposal {} is already processed (reject by alice); there is nothing left to answer",
            proposal.id
        )
    );
}

#[test]
fn archive_needs_an_answer() {
    let (_dir, queue) = queue();
    let proposal = queue
        .propose("dev", payload(ProposalKind::EgressAllow))
        .unwrap();
    assert!(matches!(
        queue.archive(&proposal.id),
        Err(QueueError::NotAnswered { .. })
    ));
    assert_eq!(
        queue.list(Scope::Active).unwrap().entries[0].state,
        EntryState::Pending
    );
}

#[test]
fn two_operators_racing_exactly_one_wins() {
    let (_dir, queue) = queue();
    for round in 0..100 {
        let proposal = queue
            .propose("dev", payload(ProposalKind::EgressAllow))
            .unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let operators: Vec<_> = [("alice", Decision::Approve), ("bob", Decision::Reject)]
            .into_iter()
            .map(|(name, decision)| {
                let (queue, barrier, id) = (queue.clone(), barrier.clone(), proposal.id.clone());
                thread::spawn(move || {
                    barrier.wait();
                    queue.answer(&id, decision, None, Some(name.into()))
                })
            })
            .collect();
        let results: Vec<_> = operators.into_iter().map(|t| t.join().unwrap()).collect();
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        let winner = winners[0];
        let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        match loser {
            QueueError::AlreadyAnswered {
                id,
                decision,
                answered_by,
            } => {
                assert_eq!(id, &proposal.id);
                assert_eq!(*decision, Some(winner.decision.kind()));
                assert_eq!(answered_by, &winner.answered_by);
            }
            other => panic!("round {round}: loser got {other:?}"),
        }
        let on_disk = queue.entry(&proposal.id).unwrap();
        assert_eq!(on_disk.valid_response(), Some(winner));
    }
}

#[test]
fn operators_racing_an_archiving_sidecar_never_leave_a_stray_answer() {
    let (_dir, queue) = queue();
    for round in 0..60 {
        let proposal = queue
            .propose("dev", payload(ProposalKind::EgressAllow))
            .unwrap();
        let barrier = Arc::new(Barrier::new(3));
        let operators: Vec<_> = [("alice", Decision::Approve), ("bob", Decision::Reject)]
            .into_iter()
            .map(|(name, decision)| {
                let (queue, barrier, id) = (queue.clone(), barrier.clone(), proposal.id.clone());
                thread::spawn(move || {
                    barrier.wait();
                    queue.answer(&id, decision, None, Some(name.into()))
                })
            })
            .collect();
        // The sidecar archives as soon as it sees an answer.
        let actor = {
            let (queue, barrier, id) = (queue.clone(), barrier.clone(), proposal.id.clone());
            thread::spawn(move || {
                barrier.wait();
                let response = queue
                    .wait_for_response(&id, Duration::from_secs(30))
                    .unwrap();
                queue.archive(&id).unwrap();
                response
            })
        };
        let results: Vec<_> = operators.into_iter().map(|t| t.join().unwrap()).collect();
        let acted_on = actor.join().unwrap();
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        assert_eq!(winners[0], &acted_on, "round {round}");
        for error in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(
                matches!(
                    error,
                    QueueError::AlreadyAnswered { .. } | QueueError::AlreadyProcessed { .. }
                ),
                "round {round}: {error:?}"
            );
        }
        assert_eq!(
            names(queue.dir()),
            vec!["processed".to_string()],
            "round {round}"
        );
        let entry = queue.entry(&proposal.id).unwrap();
        assert_eq!(entry.state, EntryState::Processed);
        assert_eq!(entry.valid_response(), Some(&acted_on));
    }
}

fn options(notifications: Notifications, poll_interval: Duration) -> QueueOptions {
    QueueOptions {
        poll_interval,
        notifications,
        ..QueueOptions::default()
    }
}

#[test]
fn wait_is_woken_by_a_notification() {
    let dir = tempfile::tempdir().unwrap();
    // Polling once an hour: only a notification can end this wait in time.
    let queue = Queue::create_with(
        dir.path(),
        options(Notifications::Auto, Duration::from_secs(3600)),
    )
    .unwrap();
    let proposal = queue
        .propose("dev", payload(ProposalKind::CapabilityBlock))
        .unwrap();
    let operator = {
        let queue = Queue::open(dir.path()).unwrap();
        let id = proposal.id.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            queue
                .answer(
                    &id,
                    Decision::Answer {
                        text: "use podman".into(),
                    },
                    None,
                    None,
                )
                .unwrap()
        })
    };
    let (response, mode) = queue
        .wait_for_response_reporting(&proposal.id, Duration::from_secs(60))
        .unwrap();
    assert_eq!(mode, WaitMode::NotificationsAndPolling);
    assert_eq!(response, operator.join().unwrap());
}

#[test]
fn wait_falls_back_to_polling() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::create_with(
        dir.path(),
        options(Notifications::Off, Duration::from_millis(20)),
    )
    .unwrap();
    let proposal = queue
        .propose("dev", payload(ProposalKind::EgressAllow))
        .unwrap();
    let operator = {
        let queue = queue.clone();
        let id = proposal.id.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            queue
                .answer(&id, Decision::Reject, Some("no".into()), None)
                .unwrap()
        })
    };
    let (response, mode) = queue
        .wait_for_response_reporting(&proposal.id, Duration::from_secs(60))
        .unwrap();
    assert_eq!(mode, WaitMode::PollingOnly);
    assert_eq!(response, operator.join().unwrap());
    assert_eq!(response.reason.as_deref(), Some("no"));
}

#[test]
fn wait_times_out_and_the_sidecar_expires_the_proposal() {
    let (_dir, queue) = queue();
    let proposal = queue
        .propose("dev", payload(ProposalKind::EgressTokenAllow))
        .unwrap();
    let error = queue
        .wait_for_response(&proposal.id, Duration::from_millis(50))
        .unwrap_err();
    assert!(
        matches!(&error, QueueError::Timeout { id, .. } if id == &proposal.id),
        "{error:?}"
    );
    let expired = queue
        .expire(&proposal.id, "no answer within 300 s", Actor::Egress)
        .unwrap();
    assert_eq!(expired.decision.kind(), DecisionKind::Expired);
    assert_eq!(expired.answered_by.as_deref(), Some("egress"));
    queue.archive(&proposal.id).unwrap();
    // A late operator learns it is over.
    let error = queue
        .answer(&proposal.id, Decision::Reject, None, None)
        .unwrap_err();
    assert!(
        matches!(
            error,
            QueueError::AlreadyProcessed {
                decision: Some(DecisionKind::Expired),
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn poll_response_looks_once_without_waiting() {
    let (_dir, queue) = queue();
    let proposal = queue
        .propose("dev", payload(ProposalKind::EgressTokenAllow))
        .unwrap();
    // Not answered: `None` at once.
    let started = std::time::Instant::now();
    assert_eq!(queue.poll_response(&proposal.id).unwrap(), None);
    assert!(started.elapsed() < Duration::from_secs(1));
    // Answered: the answer.
    let answer = queue
        .answer(&proposal.id, Decision::Reject, Some("no".into()), None)
        .unwrap();
    assert_eq!(
        queue.poll_response(&proposal.id).unwrap(),
        Some(answer.clone())
    );
    // Archived: still the answer.
    queue.archive(&proposal.id).unwrap();
    assert_eq!(queue.poll_response(&proposal.id).unwrap(), Some(answer));
    // A malformed answer file is an error, not a wait.
    let other = queue
        .propose("dev", payload(ProposalKind::EgressTokenAllow))
        .unwrap();
    fs::write(queue.response_path(&other.id), b"{\"decision\":").unwrap();
    assert!(queue.poll_response(&other.id).is_err());
    // Gone without an answer: vanished.
    let gone = queue
        .propose("dev", payload(ProposalKind::EgressTokenAllow))
        .unwrap();
    fs::remove_file(queue.proposal_path(&gone.id)).unwrap();
    assert!(matches!(
        queue.poll_response(&gone.id),
        Err(QueueError::Vanished { .. })
    ));
}

#[test]
fn expire_keeps_an_answer_that_landed_first() {
    let (_dir, queue) = queue();
    let proposal = queue
        .propose("dev", payload(ProposalKind::GitleaksAllow))
        .unwrap();
    let answer = queue
        .answer(
            &proposal.id,
            Decision::Approve,
            Some("fixture".into()),
            None,
        )
        .unwrap();
    let kept = queue
        .expire(&proposal.id, "timed out", Actor::GitGate)
        .unwrap();
    assert_eq!(kept, answer);
}

#[test]
fn wait_reports_an_answer_already_archived_and_a_vanished_proposal() {
    let (_dir, queue) = queue();
    let proposal = queue
        .propose("dev", payload(ProposalKind::EgressAllow))
        .unwrap();
    let answer = queue
        .answer(&proposal.id, Decision::Approve, None, None)
        .unwrap();
    queue.archive(&proposal.id).unwrap();
    assert_eq!(
        queue
            .wait_for_response(&proposal.id, Duration::from_secs(5))
            .unwrap(),
        answer
    );
    let gone = queue
        .propose("dev", payload(ProposalKind::EgressAllow))
        .unwrap();
    fs::remove_file(queue.proposal_path(&gone.id)).unwrap();
    assert!(matches!(
        queue.wait_for_response(&gone.id, Duration::from_secs(5)),
        Err(QueueError::Vanished { .. })
    ));
}

#[test]
fn find_by_id_or_unique_prefix_across_queues() {
    let root = tempfile::tempdir().unwrap();
    let first = Queue::create(root.path().join("one")).unwrap();
    let second = Queue::create(root.path().join("two")).unwrap();
    let a = first
        .propose("one", payload(ProposalKind::EgressAllow))
        .unwrap();
    let b = second
        .propose("two", payload(ProposalKind::CapabilityBlock))
        .unwrap();
    let queues = [first.clone(), second.clone()];
    assert_eq!(find(&queues, a.id.as_str()).unwrap().proposal, a);
    // The random tail differs, so the full id minus its last character is
    // a unique prefix.
    let prefix = &b.id.as_str()[..b.id.as_str().len() - 1];
    let found = find(&queues, prefix).unwrap();
    assert_eq!(found.proposal, b);
    assert_eq!(found.queue, second.dir());
    // Both ids start with the year.
    match find(&queues, "20").unwrap_err() {
        QueueError::Ambiguous { matches, .. } => assert_eq!(matches.len(), 2),
        other => panic!("{other:?}"),
    }
    let error = find(&queues, "19990101").unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "no proposal 19990101 in {}, {}",
            first.dir().display(),
            second.dir().display()
        )
    );
    assert!(matches!(
        find(&queues, "../x"),
        Err(QueueError::InvalidId(_))
    ));
    // Processed proposals are found too.
    first.answer(&a.id, Decision::Reject, None, None).unwrap();
    first.archive(&a.id).unwrap();
    assert_eq!(
        find(&queues, a.id.as_str()).unwrap().state,
        EntryState::Processed
    );
}

#[test]
fn stale_temp_files_are_swept_fresh_ones_kept() {
    let (_dir, queue) = queue();
    let fresh = queue.dir().join(".tmp-fresh.json");
    let stale = queue.dir().join(".tmp-stale.json");
    fs::write(&fresh, "{").unwrap();
    fs::write(&stale, "{").unwrap();
    fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(SystemTime::now() - STALE_TEMP_AGE - Duration::from_secs(1))
        .unwrap();
    assert_eq!(
        queue.sweep_stale_temps(STALE_TEMP_AGE).unwrap(),
        vec![stale]
    );
    assert_eq!(
        names(queue.dir()),
        vec![".tmp-fresh.json".to_string(), "processed".to_string()]
    );
    assert!(queue.list(Scope::All).unwrap().bad.is_empty());
}

#[test]
fn recover_hands_each_actor_only_its_own_kinds() {
    let (_dir, queue) = queue();
    let mut ids = Vec::new();
    for kind in ProposalKind::ALL {
        let proposal = queue.propose("dev", payload(kind)).unwrap();
        let decision = if kind.takes_text_answer() {
            Decision::Answer { text: "ok".into() }
        } else {
            Decision::Reject
        };
        queue.answer(&proposal.id, decision, None, None).unwrap();
        ids.push((kind, proposal.id));
    }
    let pending = queue
        .propose("dev", payload(ProposalKind::EgressAllow))
        .unwrap();
    let supervise = queue.recover(Actor::Supervise).unwrap();
    let kinds: Vec<ProposalKind> = supervise
        .answered
        .iter()
        .map(|answered| answered.proposal.kind())
        .collect();
    assert_eq!(
        kinds,
        vec![
            ProposalKind::EgressAllow,
            ProposalKind::EgressBlock,
            ProposalKind::CapabilityBlock
        ]
    );
    assert_eq!(supervise.pending, vec![pending]);
    assert!(supervise.answered.iter().all(|a| a.problem.is_none()));
    let egress = queue.recover(Actor::Egress).unwrap();
    assert_eq!(egress.answered.len(), 1);
    assert_eq!(
        egress.answered[0].proposal.kind(),
        ProposalKind::EgressTokenAllow
    );
    assert!(egress.pending.is_empty());
}

#[test]
fn recover_flags_a_hand_written_response_that_breaks_the_rules() {
    let (_dir, queue) = queue();
    let proposal = queue
        .propose("dev", payload(ProposalKind::EgressTokenAllow))
        .unwrap();
    fs::write(
        queue.response_path(&proposal.id),
        format!(
            r#"{{"schema_version":1,"id":"{}","decision":"approve","answered_at":"2026-11-28T10:00:00.000Z"}}"#,
            proposal.id
        ),
    )
    .unwrap();
    let recovery = queue.recover(Actor::Egress).unwrap();
    assert_eq!(
        recovery.answered[0].problem,
        Some(DecisionError::ReasonRequired {
            kind: ProposalKind::EgressTokenAllow
        })
    );
    assert!(matches!(
        queue.wait_for_response(&proposal.id, Duration::from_secs(5)),
        Err(QueueError::InvalidResponse { .. })
    ));
}

#[test]
fn listing_several_queues_puts_pending_first_and_reports_an_unreadable_queue() {
    let root = tempfile::tempdir().unwrap();
    let first = Queue::create(root.path().join("one")).unwrap();
    let second = Queue::create(root.path().join("two")).unwrap();
    let gone = Queue::create(root.path().join("gone")).unwrap();
    let answered = first
        .propose("one", payload(ProposalKind::EgressAllow))
        .unwrap();
    first
        .answer(&answered.id, Decision::Reject, None, None)
        .unwrap();
    let older_pending = first
        .propose("one", payload(ProposalKind::EgressBlock))
        .unwrap();
    let newer_pending = second
        .propose("two", payload(ProposalKind::CapabilityBlock))
        .unwrap();
    fs::remove_dir_all(gone.dir()).unwrap();
    let listing = list_queues(&[first, second, gone.clone()], Scope::Active);
    let order: Vec<&ProposalId> = listing
        .entries
        .iter()
        .map(|entry| &entry.proposal.id)
        .collect();
    assert_eq!(
        order,
        vec![&newer_pending.id, &older_pending.id, &answered.id]
    );
    assert_eq!(listing.bad.len(), 1);
    assert_eq!(listing.bad[0].path, gone.dir());
    assert!(
        matches!(&listing.bad[0].reason, BadReason::Unreadable { message } if message.contains("cannot read the queue directory")),
        "{:?}",
        listing.bad[0]
    );
}

mod arbitrary_files {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Whatever lands in a queue file, a reader reports it and goes on.
        #[test]
        fn any_bytes_in_a_queue_file_are_reported_not_fatal(
            proposal_bytes in proptest::collection::vec(any::<u8>(), 0..512),
            response_bytes in proptest::collection::vec(any::<u8>(), 0..512),
            json_ish in "\\{\"schema_version\":1,\"id\":\"[a-z0-9-]{0,20}\",\"kind\":\"[a-z-]{0,20}\"[^}]{0,40}\\}",
        ) {
            let (_dir, queue) = queue();
            let good = queue.propose("dev", payload(ProposalKind::EgressAllow)).unwrap();
            let id = ProposalId::generate();
            fs::write(queue.proposal_path(&id), &proposal_bytes).unwrap();
            fs::write(queue.response_path(&good.id), &response_bytes).unwrap();
            let other = ProposalId::generate();
            fs::write(queue.proposal_path(&other), &json_ish).unwrap();
            let listing = queue.list(Scope::All).unwrap();
            prop_assert_eq!(listing.entries.len(), 1);
            prop_assert_eq!(&listing.entries[0].proposal, &good);
            prop_assert_eq!(listing.bad.len(), 3);
            prop_assert!(queue.recover(Actor::Supervise).is_ok());
            prop_assert!(matches!(
                queue.wait_for_response(&good.id, Duration::from_secs(5)),
                Err(QueueError::BadResponse(_))
            ));
            prop_assert!(matches!(find(std::slice::from_ref(&queue), id.as_str()), Err(QueueError::BadProposal(_))));
        }

        #[test]
        fn timestamps_and_ids_parse_any_text_without_panicking(text in any::<String>()) {
            let _ = bot_bottle_queue::Timestamp::parse_rfc3339(&text);
            let _ = ProposalId::parse(&text);
            let _ = find(&[], &text);
        }
    }
}
