//! `bot-bottle proposals`: the real binary against real queue directories.
#![expect(clippy::unwrap_used, reason = "test setup panics on failure")]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use bot_bottle_manifest::model::Route;
use bot_bottle_queue::{
    CapabilityBlock, EgressAllow, EgressTokenAllow, GitleaksAllow, Payload, Proposal, ProposalId,
    Queue, Timestamp, bottle_queue_dir,
};
use predicates::prelude::*;
use serde_json::Value;

/// A state directory with queues for two bottles and fixed ids and times.
struct Fixture {
    state: tempfile::TempDir,
}

const EGRESS_ALLOW: &str = "20261128T100000000Z-00000001-000001-0000000a";
const GITLEAKS: &str = "20261128T100100000Z-00000001-000002-0000000b";
const TOKEN: &str = "20261128T100200000Z-00000001-000003-0000000c";
const STUCK: &str = "20261128T100300000Z-00000001-000004-0000000d";
const ANSWERED: &str = "20261128T095900000Z-00000001-000005-0000000e";

fn proposal(id: &str, bottle: &str, minute: i64, payload: Payload) -> Proposal {
    Proposal {
        schema_version: 1,
        id: ProposalId::parse(id).unwrap(),
        bottle: bottle.to_string(),
        created_at: Timestamp::from_millis(1_795_860_000_000 + minute * 60_000),
        payload,
    }
}

fn route(host: &str) -> Route {
    Route {
        host: host.to_string(),
        ..Route::default()
    }
}

impl Fixture {
    fn new() -> Self {
        let fixture = Self {
            state: tempfile::tempdir().unwrap(),
        };
        let dev = fixture.queue("dev");
        let web = fixture.queue("web");
        dev.submit(&proposal(
            EGRESS_ALLOW,
            "dev",
            0,
            Payload::EgressAllow(EgressAllow {
                route: Route {
                    methods: Some(vec!["GET".into()]),
                    paths: Some(vec!["/v1/".into()]),
                    ..route("api.example.com")
                },
                reason: "read the API docs".into(),
            }),
        ))
        .unwrap();
        dev.submit(&proposal(
            GITLEAKS,
            "dev",
            1,
            Payload::GitleaksAllow(GitleaksAllow {
                repo: "app".into(),
                reference: "refs/heads/agent/fix".into(),
                commit: "0123abcd".into(),
                file: "settings.py".into(),
                line: 7,
                rule: "aws-access-key".into(),
                snippet: "KEY = \"[REDACTED]\"".into(),
            }),
        ))
        .unwrap();
        web.submit(&proposal(
            TOKEN,
            "web",
            2,
            Payload::EgressTokenAllow(EgressTokenAllow {
                host: "uploads.example.com".into(),
                method: "POST".into(),
                path: "/v1/files".into(),
                detector: "patterns".into(),
                rule: "github-pat".into(),
                preview: "gh***9f(40 chars)".into(),
                context: "Authorization: token [REDACTED]".into(),
            }),
        ))
        .unwrap();
        web.submit(&proposal(
            STUCK,
            "web",
            3,
            Payload::CapabilityBlock(CapabilityBlock {
                text: "I need docker\nto run the \u{1b}[31mtests\u{1b}[0m".into(),
            }),
        ))
        .unwrap();
        dev.submit(&proposal(
            ANSWERED,
            "dev",
            -1,
            Payload::EgressAllow(EgressAllow {
                route: route("pypi.org"),
                reason: "install deps".into(),
            }),
        ))
        .unwrap();
        std::fs::write(
            dev.response_path(&ProposalId::parse(ANSWERED).unwrap()),
            format!(
                r#"{{"schema_version":1,"id":"{ANSWERED}","decision":"approve-with-modification","route":{{"host":"pypi.org","methods":["GET"]}},"reason":"read only","answered_at":"2026-11-28T10:05:00.000Z","answered_by":"alice"}}"#
            ),
        )
        .unwrap();
        fixture
    }

    fn queue(&self, bottle: &str) -> Queue {
        Queue::create(bottle_queue_dir(&self.state_dir(), bottle).unwrap()).unwrap()
    }

    /// `$XDG_STATE_HOME/bot-bottle`.
    fn state_dir(&self) -> PathBuf {
        self.state.path().join("bot-bottle")
    }

    fn queue_dir(&self, bottle: &str) -> PathBuf {
        bottle_queue_dir(&self.state_dir(), bottle).unwrap()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::cargo_bin("bot-bottle").unwrap();
        command
            .arg("proposals")
            .args(args)
            .env("XDG_STATE_HOME", self.state.path())
            .env("USER", "alice")
            .env_remove("BOT_BOTTLE_LOG_LEVEL");
        command
    }

    fn stdout(&self, args: &[&str]) -> String {
        let output = self.command(args).output().unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn response(&self, bottle: &str, id: &str) -> Value {
        let path = self.queue_dir(bottle).join(format!("{id}.response.json"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn has_response(&self, bottle: &str, id: &str) -> bool {
        self.queue_dir(bottle)
            .join(format!("{id}.response.json"))
            .exists()
    }

    /// Snapshot settings that mask the temporary state directory.
    fn settings(&self) -> insta::Settings {
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(&regex_escape(self.state.path()), "[STATE]");
        settings
    }
}

fn regex_escape(path: &Path) -> String {
    path.display()
        .to_string()
        .chars()
        .flat_map(|character| {
            if character.is_ascii_alphanumeric() || character == '/' {
                vec![character]
            } else {
                vec!['\\', character]
            }
        })
        .collect()
}

#[test]
fn list_shows_pending_first_then_answered_and_malformed_files() {
    let fixture = Fixture::new();
    std::fs::write(
        fixture
            .queue_dir("web")
            .join("20261128T110000000Z-x-1-1.proposal.json"),
        "{ truncated",
    )
    .unwrap();
    let stdout = fixture.stdout(&["list"]);
    fixture.settings().bind(|| insta::assert_snapshot!(stdout));
}

#[test]
fn list_all_includes_processed() {
    let fixture = Fixture::new();
    let dev = fixture.queue("dev");
    dev.archive(&ProposalId::parse(ANSWERED).unwrap()).unwrap();
    let active = fixture.stdout(&["list"]);
    assert!(!active.contains(ANSWERED), "{active}");
    let all = fixture.stdout(&["list", "--all"]);
    let row = all.lines().find(|line| line.starts_with(ANSWERED)).unwrap();
    assert!(
        row.contains("processed") && row.contains("approve-with-modification"),
        "{row}"
    );
}

#[test]
fn list_json_is_parsable_and_complete() {
    let fixture = Fixture::new();
    std::fs::write(fixture.queue_dir("dev").join("junk.txt"), "x").unwrap();
    let stdout = fixture.stdout(&["list", "--format", "json"]);
    let value: Value = serde_json::from_str(&stdout).unwrap();
    let ids: Vec<&str> = value["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["proposal"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![STUCK, TOKEN, GITLEAKS, EGRESS_ALLOW, ANSWERED]);
    let answered = &value["proposals"][4];
    assert_eq!(answered["state"], "answered");
    assert_eq!(
        answered["response"]["decision"],
        "approve-with-modification"
    );
    assert_eq!(answered["response"]["route"]["host"], "pypi.org");
    assert_eq!(
        value["proposals"][0]["proposal"]["kind"],
        "capability-block"
    );
    assert_eq!(value["queues"].as_array().unwrap().len(), 2);
    let bad = &value["bad"][0];
    assert!(bad["path"].as_str().unwrap().ends_with("junk.txt"));
    assert_eq!(
        bad["reason"],
        "not a queue file name (want <id>.proposal.json or <id>.response.json)"
    );
}

#[test]
fn show_a_report_only_proposal() {
    let fixture = Fixture::new();
    let stdout = fixture.stdout(&["show", GITLEAKS]);
    fixture.settings().bind(|| insta::assert_snapshot!(stdout));
}

#[test]
fn show_an_answered_proposal_by_prefix() {
    let fixture = Fixture::new();
    let stdout = fixture.stdout(&["show", &ANSWERED[..24]]);
    fixture.settings().bind(|| insta::assert_snapshot!(stdout));
}

#[test]
fn show_escapes_control_characters_from_the_agent() {
    let fixture = Fixture::new();
    let stdout = fixture.stdout(&["show", STUCK]);
    assert!(
        !stdout.contains('\u{1b}'),
        "raw escape reached the terminal"
    );
    fixture.settings().bind(|| insta::assert_snapshot!(stdout));
}

#[test]
fn show_json() {
    let fixture = Fixture::new();
    let value: Value =
        serde_json::from_str(&fixture.stdout(&["show", TOKEN, "--format", "json"])).unwrap();
    assert_eq!(value["state"], "pending");
    assert_eq!(value["proposal"]["kind"], "egress-token-allow");
    assert_eq!(value["proposal"]["preview"], "gh***9f(40 chars)");
    assert_eq!(value["response"], Value::Null);
}

#[test]
fn approve_a_report_only_kind_needs_a_reason() {
    let fixture = Fixture::new();
    fixture
        .command(&["approve", GITLEAKS])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(format!(
            "cannot answer {GITLEAKS}: approving a gitleaks-allow proposal needs a reason"
        )));
    assert!(!fixture.has_response("dev", GITLEAKS));

    fixture
        .command(&["approve", GITLEAKS, "--reason", "test fixture, not a real key"])
        .assert()
        .success()
        .stdout(format!(
            "approved {GITLEAKS} (gitleaks-allow, bottle dev): app refs/heads/agent/fix settings.py:7: aws-access-key\n"
        ));
    let response = fixture.response("dev", GITLEAKS);
    assert_eq!(response["decision"], "approve");
    assert_eq!(response["reason"], "test fixture, not a real key");
    assert_eq!(response["answered_by"], "alice");
    assert_eq!(response["schema_version"], 1);
}

#[test]
fn approve_a_route_without_a_reason() {
    let fixture = Fixture::new();
    fixture
        .command(&["approve", EGRESS_ALLOW, "--queue"])
        .arg(fixture.queue_dir("dev"))
        .assert()
        .success();
    assert_eq!(fixture.response("dev", EGRESS_ALLOW)["decision"], "approve");
}

#[test]
fn reject_with_and_without_a_reason() {
    let fixture = Fixture::new();
    fixture
        .command(&["reject", TOKEN, "--reason", "that is my real token"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(format!(
            "rejected {TOKEN} (egress-token-allow, bottle web)"
        )));
    let response = fixture.response("web", TOKEN);
    assert_eq!(response["decision"], "reject");
    assert_eq!(response["reason"], "that is my real token");
    fixture
        .command(&["reject", EGRESS_ALLOW])
        .assert()
        .success();
    assert!(
        fixture
            .response("dev", EGRESS_ALLOW)
            .get("reason")
            .is_none()
    );
}

#[test]
fn approve_with_a_modified_route() {
    let fixture = Fixture::new();
    let route_file = fixture.state.path().join("route.yaml");
    std::fs::write(
        &route_file,
        "host: api.example.com\nmethods: [GET]\npaths: [/v1/docs/]\n",
    )
    .unwrap();
    fixture
        .command(&["approve", EGRESS_ALLOW, "--modify"])
        .arg(&route_file)
        .assert()
        .success()
        .stdout(predicate::str::starts_with(format!(
            "approved as modified (api.example.com [GET] /v1/docs/) {EGRESS_ALLOW}"
        )));
    let response = fixture.response("dev", EGRESS_ALLOW);
    assert_eq!(response["decision"], "approve-with-modification");
    assert_eq!(
        response["route"],
        serde_json::json!({"host": "api.example.com", "methods": ["GET"], "paths": ["/v1/docs/"]})
    );
}

#[test]
fn modify_is_refused_for_report_only_kinds_and_bad_route_files() {
    let fixture = Fixture::new();
    let route_file = fixture.state.path().join("route.yaml");
    std::fs::write(&route_file, "host: api.example.com\n").unwrap();
    fixture
        .command(&["approve", GITLEAKS, "--reason", "x", "--modify"])
        .arg(&route_file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "cannot answer {GITLEAKS}: a gitleaks-allow proposal cannot be modified"
        )));
    std::fs::write(&route_file, "host: api.example.com\nmethod: [GET]\n").unwrap();
    fixture
        .command(&["approve", EGRESS_ALLOW, "--modify"])
        .arg(&route_file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a route").and(predicate::str::contains("method")));
    std::fs::write(
        &route_file,
        "host: https://api.example.com/v1\nmethods: [get]\ntoken_env: ghp_notavariable\n",
    )
    .unwrap();
    fixture
        .command(&["approve", EGRESS_ALLOW, "--modify"])
        .arg(&route_file)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("not a valid route")
                .and(predicate::str::contains("host: a host has no scheme"))
                .and(predicate::str::contains("methods"))
                .and(predicate::str::contains("token_env")),
        );
    fixture
        .command(&[
            "approve",
            EGRESS_ALLOW,
            "--modify",
            "/nonexistent/route.yaml",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--modify /nonexistent/route.yaml"));
    assert!(!fixture.has_response("dev", GITLEAKS));
    assert!(!fixture.has_response("dev", EGRESS_ALLOW));
}

#[test]
fn a_second_answer_is_refused_and_names_the_first() {
    let fixture = Fixture::new();
    fixture
        .command(&["approve", EGRESS_ALLOW])
        .assert()
        .success();
    fixture
        .command(&["reject", EGRESS_ALLOW])
        .env("USER", "bob")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "proposal {EGRESS_ALLOW} was already answered (approve by alice)"
        )));
    assert_eq!(fixture.response("dev", EGRESS_ALLOW)["decision"], "approve");
}

#[test]
fn capability_blocks_are_answered_in_words() {
    let fixture = Fixture::new();
    fixture
        .command(&["approve", STUCK])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("answer it in words"));
    fixture
        .command(&["answer", EGRESS_ALLOW, "--text", "sure"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "a egress-allow proposal cannot be answered with answer (approve or reject it)",
        ));
    fixture
        .command(&["answer", STUCK, "--text", "use podman instead"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(format!(
            "answered {STUCK} (capability-block, bottle web)"
        )));
    let response = fixture.response("web", STUCK);
    assert_eq!(response["decision"], "answer");
    assert_eq!(response["text"], "use podman instead");
}

#[test]
fn no_such_proposal_names_the_id_and_the_queues() {
    let fixture = Fixture::new();
    let state = fixture.state_dir();
    fixture
        .command(&["approve", "20991231"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "no proposal 20991231 in {}, {}",
            state.join("queues/dev").display(),
            state.join("queues/web").display()
        )));
    fixture
        .command(&["show", "2026"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("2026 matches 5 proposals"));
    fixture
        .command(&["show", "../etc"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid proposal id"));
}

#[test]
fn no_queues_at_all() {
    let state = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut command = Command::cargo_bin("bot-bottle").unwrap();
        command
            .arg("proposals")
            .args(args)
            .env("XDG_STATE_HOME", state.path())
            .env_remove("BOT_BOTTLE_LOG_LEVEL");
        command
    };
    run(&["list"]).assert().success().stdout(format!(
        "no queues in {}\n",
        state.path().join("bot-bottle/queues").display()
    ));
    run(&["show", EGRESS_ALLOW])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "no proposal {EGRESS_ALLOW}: there are no queues in"
        )));
    run(&["list", "--queue", "/nonexistent/queue"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--queue /nonexistent/queue: cannot open the queue",
        ));
}
