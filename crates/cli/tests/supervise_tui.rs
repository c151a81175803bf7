//! `bot-bottle supervise`: the real binary in a real terminal (tmux), driven
//! by keystrokes, answering proposals in a real queue directory.
//!
//! Each test runs its own tmux server (`tmux -L <unique socket>`), killed
//! when the test ends, pass or fail. Every wait polls the screen or the
//! queue against a deadline.
#![expect(clippy::unwrap_used, reason = "test setup panics on failure")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bot_bottle_manifest::model::Route;
use bot_bottle_queue::{
    CapabilityBlock, Decision, DecisionKind, EgressAllow, EgressTokenAllow, Payload, ProposalId,
    Queue, Response,
};

/// How long any one thing may take to show up.
const DEADLINE: Duration = Duration::from_secs(30);
/// How often the screen and the queue are looked at while waiting.
const POLL: Duration = Duration::from_millis(50);
const OPERATOR: &str = "test-operator";

static SESSIONS: AtomicUsize = AtomicUsize::new(0);

/// `bot-bottle supervise --queue DIR` in a detached tmux session.
struct Tui {
    socket: String,
    /// Everything the program wrote to the terminal (tmux `pipe-pane`).
    output: PathBuf,
    /// Holds the program's pid once it started.
    pid_file: PathBuf,
    scratch: tempfile::TempDir,
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

impl Tui {
    fn start(queue: &Path) -> Self {
        Self::start_with(queue, &[])
    }

    fn start_with(queue: &Path, environment: &[(&str, &str)]) -> Self {
        let scratch = tempfile::tempdir().unwrap();
        let socket = format!(
            "bot-bottle-test-{}-{}",
            std::process::id(),
            SESSIONS.fetch_add(1, Ordering::SeqCst)
        );
        let output = scratch.path().join("output");
        std::fs::write(&output, b"").unwrap();
        let pid_file = scratch.path().join("pid");
        // The inner shell records its pid and becomes the program; the outer
        // one stays after the program exits, so the test can read its exit
        // status, and whether the terminal is back in cooked mode, on the
        // restored screen.
        let program = format!(
            "echo $$ > {}; exec {} supervise --queue {}",
            quote(&pid_file.display().to_string()),
            quote(env!("CARGO_BIN_EXE_bot-bottle")),
            quote(&queue.display().to_string())
        );
        let command = format!(
            "sh -c {}; echo EXITED $?; if stty -a | grep -q -- -icanon; then echo RAW; else echo COOKED; fi; sleep 600",
            quote(&program)
        );
        let tui = Self {
            socket,
            output,
            pid_file,
            scratch,
        };
        let status = tui
            .command()
            .args(["-f", "/dev/null", "new-session", "-d"])
            .args(["-s", "tui", "-x", "120", "-y", "40", "sh", "-c", &command])
            .env("USER", OPERATOR)
            .env("XDG_STATE_HOME", tui.scratch.path())
            .env_remove("BOT_BOTTLE_LOG_LEVEL")
            .envs(environment.iter().copied())
            .status()
            .unwrap();
        assert!(status.success(), "tmux new-session failed");
        tui.tmux(&[
            "pipe-pane",
            "-o",
            "-t",
            "tui",
            &format!("cat >> {}", quote(&tui.output.display().to_string())),
        ]);
        tui
    }

    /// `tmux -L <socket>`, its socket in the test's scratch directory.
    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command
            .env("TMUX_TMPDIR", self.scratch.path())
            .env_remove("TMUX")
            .args(["-L", &self.socket]);
        command
    }

    fn tmux(&self, args: &[&str]) -> String {
        let output = self.command().args(args).output().unwrap();
        assert!(
            output.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "tui"])
    }

    /// Keys by tmux name (`a`, `Enter`, `Escape`, `Down`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "tui"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Text typed as is.
    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "tui", "-l", text]);
    }

    /// Wait until the screen shows `text`; the screen, then.
    fn wait_for(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "the screen never showed {text:?}; it shows:\n{screen}"
            );
            std::thread::sleep(POLL);
        }
    }

    /// Send the program a signal (`TERM`, `INT`).
    fn signal(&self, name: &str) {
        let pid = std::fs::read_to_string(&self.pid_file).unwrap();
        let status = Command::new("kill")
            .args([&format!("-{name}"), pid.trim()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} {pid}");
    }

    /// How many terminal bells the program has rung.
    fn bells(&self) -> usize {
        std::fs::read(&self.output)
            .unwrap()
            .iter()
            .filter(|&&byte| byte == 0x07)
            .count()
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").status();
    }
}

/// Wait until the proposal has a response file; the response.
fn wait_for_response(queue: &Queue, id: &ProposalId) -> Response {
    let start = Instant::now();
    loop {
        if queue.response_path(id).exists() {
            let entry = queue.entry(id).unwrap();
            return entry.valid_response().cloned().unwrap();
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no response to {id} was written"
        );
        std::thread::sleep(POLL);
    }
}

fn egress_allow(host: &str, reason: &str) -> Payload {
    Payload::EgressAllow(EgressAllow {
        route: Route {
            host: host.to_string(),
            methods: Some(vec!["GET".into()]),
            ..Route::default()
        },
        reason: reason.to_string(),
    })
}

#[test]
fn approve_with_keystrokes_writes_the_response_and_new_proposals_ring() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::create(dir.path()).unwrap();
    let asked = queue
        .propose("dev", egress_allow("api.example.com", "read the API docs"))
        .unwrap();
    let tui = Tui::start(dir.path());
    tui.wait_for("read the API docs");
    tui.wait_for("a approve");

    tui.keys(&["a"]);
    tui.wait_for("Enter approves");
    tui.keys(&["Enter"]);
    let response = wait_for_response(&queue, &asked.id);
    assert_eq!(response.decision, Decision::Approve);
    assert_eq!(response.reason, None);
    assert_eq!(response.answered_by.as_deref(), Some(OPERATOR));
    tui.wait_for(&format!("approved {}", asked.id));

    // A proposal filed while it runs shows up, and rings the bell.
    assert_eq!(tui.bells(), 0, "nothing new yet");
    queue
        .propose("dev", egress_allow("files.example.com", "fetch a tarball"))
        .unwrap();
    tui.wait_for("files.example.com");
    let start = Instant::now();
    while tui.bells() == 0 {
        assert!(start.elapsed() < DEADLINE, "no bell for a new proposal");
        std::thread::sleep(POLL);
    }

    // A malformed file is a row, not a crash.
    std::fs::write(
        dir.path()
            .join("20261128T100000000Z-00000001-000000-00000000.proposal.json"),
        "{ not json",
    )
    .unwrap();
    tui.wait_for("malformed");
    tui.wait_for("files.example.com");

    // Quitting restores the terminal: the shell's line is on the main screen.
    tui.keys(&["q"]);
    let screen = tui.wait_for("EXITED 0");
    assert!(!screen.contains("bot-bottle supervise ·"), "{screen}");
    tui.wait_for("COOKED");
}

#[test]
fn a_panic_restores_the_terminal_and_shows_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::create(dir.path()).unwrap();
    queue
        .propose("dev", egress_allow("api.example.com", "read the API docs"))
        .unwrap();
    let tui = Tui::start_with(dir.path(), &[("BOT_BOTTLE_TEST_TUI_PANIC", "1")]);
    // A panic exits with Rust's status 101, the message on the main screen
    // (printed after the terminal was put back), and the tty cooked again.
    let screen = tui.wait_for("EXITED 101");
    assert!(screen.contains("a panic, as the test asked"), "{screen}");
    assert!(!screen.contains("bot-bottle supervise ·"), "{screen}");
    tui.wait_for("COOKED");
    // A crash log under the state directory, named by an error line with
    // context.
    let crash_dir = tui.scratch.path().join("bot-bottle/crash");
    let logs: Vec<PathBuf> = std::fs::read_dir(&crash_dir)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let log = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(log.contains("a panic, as the test asked"), "{log}");
    assert!(log.contains("src/tui/run.rs"), "where it panicked: {log}");
    assert!(log.contains("backtrace:"), "{log}");
    let written = std::fs::read_to_string(&tui.output).unwrap();
    let line = format!(
        "error: bot-bottle supervise crashed [crash_log={} error_type=panic]",
        logs[0].display()
    );
    assert!(written.contains(&line), "{line} not in:\n{written}");
}

/// Without a terminal (no controlling tty: a new session), the failure is
/// one error line with its kind, and a non-zero exit; nothing is left raw.
#[test]
fn without_a_terminal_the_failure_names_its_kind() {
    let dir = tempfile::tempdir().unwrap();
    Queue::create(dir.path()).unwrap();
    let output = Command::new("setsid")
        .arg("--wait")
        .arg(env!("CARGO_BIN_EXE_bot-bottle"))
        .args(["supervise", "--queue"])
        .arg(dir.path())
        .env("XDG_STATE_HOME", dir.path())
        .env_remove("BOT_BOTTLE_LOG_LEVEL")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: bot-bottle supervise failed: cannot set up the terminal: "),
        "{stderr}"
    );
    assert!(
        stderr.trim_end().ends_with("[error_type=terminal]"),
        "{stderr}"
    );
    assert!(!dir.path().join("bot-bottle/crash").exists(), "not a crash");
}

#[test]
fn a_kill_restores_the_terminal_too() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::create(dir.path()).unwrap();
    queue
        .propose("dev", egress_allow("api.example.com", "read the API docs"))
        .unwrap();
    for (signal, status) in [("TERM", "EXITED 143"), ("INT", "EXITED 130")] {
        let tui = Tui::start(dir.path());
        tui.wait_for("read the API docs");
        tui.keys(&["r"]);
        tui.wait_for("Enter rejects");
        tui.signal(signal);
        let screen = tui.wait_for(status);
        assert!(!screen.contains("bot-bottle supervise ·"), "{screen}");
        tui.wait_for("COOKED");
    }
    assert!(
        queue.list(bot_bottle_queue::Scope::Active).unwrap().entries[0]
            .response
            .is_none(),
        "nothing was written"
    );
}

#[test]
fn reject_with_a_reason_answer_in_words_and_answered_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::create(dir.path()).unwrap();
    let token = queue
        .propose(
            "dev",
            Payload::EgressTokenAllow(EgressTokenAllow {
                host: "api.github.com".into(),
                method: "POST".into(),
                path: "/gists".into(),
                detector: "patterns".into(),
                rule: "github-pat".into(),
                preview: "gh***9f(40 chars)".into(),
                context: "token=[REDACTED]".into(),
            }),
        )
        .unwrap();
    let stuck = queue
        .propose(
            "dev",
            Payload::CapabilityBlock(CapabilityBlock {
                text: "I need a database".into(),
            }),
        )
        .unwrap();
    let tui = Tui::start(dir.path());
    // Newest on top: the capability-block is selected first.
    tui.wait_for("I need a database");
    tui.wait_for("t answer");

    tui.keys(&["t"]);
    tui.wait_for("Answer in words");
    tui.type_text("use sqlite");
    tui.keys(&["Enter"]);
    let response = wait_for_response(&queue, &stuck.id);
    assert_eq!(
        response.decision,
        Decision::Answer {
            text: "use sqlite".into()
        }
    );

    // The answered one moves below the pending one.
    tui.keys(&["Home"]);
    tui.wait_for("gh***9f(40 chars)");
    tui.wait_for("a approve (reason required)");
    tui.keys(&["r"]);
    tui.wait_for("Enter rejects");
    tui.type_text("never send tokens to gists");
    tui.keys(&["Enter"]);
    let response = wait_for_response(&queue, &token.id);
    assert_eq!(response.decision, Decision::Reject);
    assert_eq!(
        response.reason.as_deref(),
        Some("never send tokens to gists")
    );

    // Someone else answers while the operator types: a message, no crash.
    let late = queue
        .propose("dev", egress_allow("late.example.com", "one more"))
        .unwrap();
    tui.wait_for("late.example.com");
    tui.keys(&["Home"]);
    tui.wait_for("one more");
    tui.keys(&["r"]);
    tui.wait_for("Enter rejects");
    tui.type_text("too late");
    queue
        .answer(
            &late.id,
            Decision::Approve,
            None,
            Some("other-operator".into()),
        )
        .unwrap();
    tui.wait_for("answered elsewhere meanwhile");
    tui.keys(&["Enter"]);
    tui.wait_for("already answered");
    let entry = queue.entry(&late.id).unwrap();
    let response = entry.valid_response().unwrap();
    assert_eq!(response.decision.kind(), DecisionKind::Approve);
    assert_eq!(response.answered_by.as_deref(), Some("other-operator"));

    tui.keys(&["q"]);
    tui.wait_for("EXITED 0");
    tui.wait_for("COOKED");
}

#[test]
fn a_queue_that_is_not_a_directory_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_bot-bottle"))
        .args(["supervise", "--queue"])
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(format!(
            "--queue {}",
            missing.display()
        )));
}
