//! `bot-bottle git-gate …` and `bot-bottle sidecar git-gate` as processes:
//! the agent's git config (and injection refused), deploy-key provisioning
//! against a local server answering as Gitea's published API does (no Gitea
//! can be installed here), configuration errors exiting 64, and a push with
//! a secret held until `bot-bottle proposals approve` / `reject` answers it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A held secret in the sidecar's environment (not a real credential).
const HELD_TOKEN: &str = "gitgate-held-test-token-4f9c2e7a1b";

fn binary() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("bot-bottle"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// git with a clean, deterministic environment.
fn git(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
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
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap()
}

fn git_ok(dir: &Path, args: &[&str]) -> String {
    let output = git(dir, args);
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        text(&output.stderr)
    );
    text(&output.stdout).trim().to_string()
}

#[test]
fn gitconfig_prints_insteadof_and_user_lines() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gate.yaml");
    std::fs::write(
        &config,
        "user: {name: Agent, email: agent@example.com}\nrepos:\n- name: app\n  upstream: https://git.example.com/o/app.git\n",
    )
    .unwrap();
    let output = binary()
        .args([
            "git-gate",
            "gitconfig",
            "--gate",
            "http://git-gate:8080",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "[url \"http://git-gate:8080/app.git\"]\n\tinsteadOf = \"https://git.example.com/o/app.git\"\n[user]\n\tname = \"Agent\"\n\temail = \"agent@example.com\"\n"
    );
}

#[test]
fn gitconfig_refuses_injection_attempts() {
    let dir = tempfile::tempdir().unwrap();
    for (yaml, gate) in [
        (
            "repos:\n- name: app\n  upstream: \"https://x\\n[core]\\nsshCommand=evil\"\n",
            "http://gate",
        ),
        (
            "user: {name: \"a\\n[core]\\n\\tsshCommand = evil\"}\nrepos: []\n",
            "http://gate",
        ),
        (
            "repos:\n- name: app\n  upstream: https://x/app.git\n",
            "http://gate\"]\n[core]",
        ),
    ] {
        let config = dir.path().join("gate.yaml");
        std::fs::write(&config, yaml).unwrap();
        let output = binary()
            .args(["git-gate", "gitconfig", "--gate", gate, "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{yaml:?}");
        assert_eq!(text(&output.stdout), "", "nothing is printed for {yaml:?}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("control character") || stderr.contains("refused"),
            "{yaml:?}: {stderr}"
        );
    }
}

/// A one-request-per-connection server answering `POST
/// /api/v1/repos/{owner}/{repo}/keys` as Gitea does: 201 with the key's
/// JSON the first time, 422 for a title it has seen. Sends each request
/// (head and body) back to the test.
fn fake_gitea() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut titles: Vec<String> = Vec::new();
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            loop {
                let read = stream.read(&mut buffer).unwrap();
                request.extend_from_slice(&buffer[..read]);
                let textual = text(&request);
                if let Some((head, body)) = textual.split_once("\r\n\r\n") {
                    let length: usize = head
                        .lines()
                        .find_map(|line| {
                            line.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break;
                    }
                }
                if read == 0 {
                    break;
                }
            }
            let request = text(&request);
            let body = request
                .split_once("\r\n\r\n")
                .map(|(_, body)| body.to_string())
                .unwrap_or_default();
            let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let title = json["title"].as_str().unwrap_or("").to_string();
            let (status, answer) = if titles.contains(&title) {
                (
                    "422 Unprocessable Entity",
                    r#"{"message":"Key title has been used"}"#.to_string(),
                )
            } else {
                titles.push(title.clone());
                (
                    "201 Created",
                    format!(
                        r#"{{"id":7,"key":"k","url":"u","title":"{title}","read_only":false}}"#
                    ),
                )
            };
            let _ = sender.send(request);
            write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            )
            .unwrap();
        }
    });
    (format!("http://{address}"), receiver)
}

#[test]
fn provision_key_registers_a_deploy_key_and_names_a_collision() {
    let dir = tempfile::tempdir().unwrap();
    let (url, requests) = fake_gitea();
    let provision = |key: &str| {
        binary()
            .args([
                "git-gate",
                "provision-key",
                "--forge",
                "gitea",
                "--url",
                &url,
                "--repo",
                "owner/app",
                "--title",
                "bottle-dev",
                "--key-file",
            ])
            .arg(dir.path().join(key))
            .env("GITEA_TOKEN", "gitea-test-token")
            .output()
            .unwrap()
    };
    let output = provision("key1");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("registered on owner/app as deploy key 7"),
        "{stdout}"
    );
    assert!(dir.path().join("key1").exists() && dir.path().join("key1.pub").exists());
    let request = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        request.starts_with("POST /api/v1/repos/owner/app/keys HTTP/1.1"),
        "{request}"
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains("authorization: token gitea-test-token"),
        "{request}"
    );
    let public = std::fs::read_to_string(dir.path().join("key1.pub")).unwrap();
    let body: serde_json::Value =
        serde_json::from_str(request.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(body["key"].as_str().unwrap(), public.trim());
    assert_eq!(body["read_only"], serde_json::Value::Bool(false));
    assert!(public.starts_with("ssh-ed25519 "));

    let collision = provision("key2");
    assert_eq!(collision.status.code(), Some(1));
    let stderr = text(&collision.stderr);
    assert!(
        stderr.contains("a deploy key titled `bottle-dev`"),
        "{stderr}"
    );
    assert!(stderr.contains("owner/app"), "{stderr}");
    assert!(
        !dir.path().join("key2").exists(),
        "a key that was not registered is removed"
    );
    assert!(!stderr.contains("gitea-test-token"));
}

#[test]
fn provision_key_without_a_token_is_a_usage_error() {
    let output = binary()
        .args([
            "git-gate",
            "provision-key",
            "--forge",
            "gitea",
            "--url",
            "http://127.0.0.1:9",
            "--repo",
            "o/r",
            "--title",
            "t",
        ])
        .env_remove("GITEA_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("GITEA_TOKEN"));
}

#[test]
fn sidecar_configuration_errors_exit_64() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gate.yaml");
    for yaml in [
        "repos:\n- name: app\n  upstream: https://h/app.git\n  token_env: GITGATE_TEST_UNSET_TOKEN\n",
        "repos:\n- name: app\n  upstream: ext::sh\n",
        "repos: [\n",
    ] {
        std::fs::write(&config, yaml).unwrap();
        let output = binary()
            .args(["sidecar", "git-gate", "--listen", "127.0.0.1:0", "--state"])
            .arg(dir.path().join("state"))
            .arg("--config")
            .arg(&config)
            .env_remove("GITGATE_TEST_UNSET_TOKEN")
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(64),
            "{yaml:?}: {}",
            text(&output.stderr)
        );
    }
    // An --upstream-ca that is missing or holds no certificate names the file.
    std::fs::write(
        &config,
        "repos:\n- name: app\n  upstream: https://h/app.git\n",
    )
    .unwrap();
    let not_pem = dir.path().join("not-a-ca.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    for (ca, says) in [
        (not_pem, "holds no PEM certificate"),
        (dir.path().join("missing.pem"), "No such file"),
    ] {
        let output = binary()
            .args(["sidecar", "git-gate", "--listen", "127.0.0.1:0", "--state"])
            .arg(dir.path().join("state"))
            .arg("--config")
            .arg(&config)
            .arg("--upstream-ca")
            .arg(&ca)
            .output()
            .unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{stderr}");
        assert!(
            stderr.contains(&format!("--upstream-ca {}", ca.display())) && stderr.contains(says),
            "{stderr}"
        );
    }
}

struct Sidecar {
    child: Child,
    url: String,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sidecar(root: &Path, upstream: &Path, queue: &Path) -> Sidecar {
    let config = root.join("gate.yaml");
    std::fs::write(
        &config,
        format!(
            "repos:\n- name: app\n  upstream: file://{}\n",
            upstream.display()
        ),
    )
    .unwrap();
    let mut child = binary()
        .args([
            "sidecar",
            "git-gate",
            "--listen",
            "127.0.0.1:0",
            "--bottle",
            "dev",
            "--config",
        ])
        .arg(&config)
        .arg("--state")
        .arg(root.join("state"))
        .arg("--queue")
        .arg(queue)
        .env("BOT_BOTTLE_LOG_LEVEL", "info")
        .env("EGRESS_TOKEN_GITGATE_TEST", HELD_TOKEN)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let address = loop {
        let line = receiver
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the sidecar logs its address");
        if let Some(rest) = line.split("address=").nth(1) {
            break rest.split([' ', ']']).next().unwrap().to_string();
        }
    };
    Sidecar {
        child,
        url: format!("http://{address}/app.git"),
    }
}

fn wait_for_proposal(queue: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(id) = std::fs::read_dir(queue)
            .unwrap()
            .filter_map(Result::ok)
            .find_map(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .strip_suffix(".proposal.json")
                    .map(str::to_string)
            })
        {
            return id;
        }
        assert!(Instant::now() < deadline, "no proposal was filed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
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
    );
    let seed = root.join("seed");
    git_ok(
        &root,
        &["init", "--quiet", "-b", "main", seed.to_str().unwrap()],
    );
    std::fs::write(seed.join("README"), "hello\n").unwrap();
    git_ok(&seed, &["add", "README"]);
    git_ok(&seed, &["commit", "--quiet", "-m", "initial"]);
    git_ok(
        &seed,
        &["push", "--quiet", upstream.to_str().unwrap(), "main"],
    );
    let queue = root.join("queue");
    (temp, root, upstream, queue)
}

/// Push a commit carrying `content` (a secret) through the sidecar and
/// answer the proposal with `bot-bottle proposals <answer>`.
fn push_with_secret_answered(
    content: &str,
    answer: &[&str],
) -> (Output, String, String, tempfile::TempDir) {
    let (temp, root, upstream, queue) = setup();
    let sidecar = start_sidecar(&root, &upstream, &queue);
    let work = root.join("work");
    git_ok(
        &root,
        &["clone", "--quiet", &sidecar.url, work.to_str().unwrap()],
    );
    std::fs::write(work.join("cfg.ini"), content).unwrap();
    git_ok(&work, &["add", "cfg.ini"]);
    git_ok(&work, &["commit", "--quiet", "-m", "cfg"]);
    let commit = git_ok(&work, &["rev-parse", "HEAD"]);
    let push = {
        let work = work.clone();
        std::thread::spawn(move || git(&work, &["push", "origin", "main"]))
    };
    let id = wait_for_proposal(&queue);
    let show = binary()
        .args(["proposals", "show", &id, "--queue"])
        .arg(&queue)
        .output()
        .unwrap();
    let shown = text(&show.stdout);
    let answered = binary()
        .args(["proposals"])
        .args(answer)
        .arg(&id)
        .arg("--queue")
        .arg(&queue)
        .output()
        .unwrap();
    assert!(answered.status.success(), "{}", text(&answered.stderr));
    let output = push.join().unwrap();
    let head = git_ok(&upstream, &["rev-parse", "refs/heads/main"]);
    drop(sidecar);
    let upstream_state = if head == commit {
        "landed"
    } else {
        "unchanged"
    };
    (output, shown, upstream_state.to_string(), temp)
}

#[test]
fn a_held_push_lands_when_the_operator_approves_it() {
    let (push, shown, upstream, _) = push_with_secret_answered(
        &aws_key_line(),
        &["approve", "--reason", "test fixture, not a real key"],
    );
    assert!(push.status.success(), "{}", text(&push.stderr));
    assert!(
        text(&push.stderr).contains("remote: git-gate: push held for the operator: proposal"),
        "{}",
        text(&push.stderr)
    );
    assert_eq!(upstream, "landed");
    assert!(shown.contains("gitleaks-allow"), "{shown}");
    assert!(shown.contains("cfg.ini"), "{shown}");
    assert!(
        !shown.contains("Z7QX4MBN2PLK6RTY"),
        "the proposal holds only a masked snippet: {shown}"
    );
}

#[test]
fn a_held_push_is_refused_when_the_operator_rejects_it() {
    let (push, _, upstream, temp) =
        push_with_secret_answered(&aws_key_line(), &["reject", "--reason", "real key"]);
    let queue = temp.path().join("queue");
    assert!(!push.status.success());
    assert!(
        text(&push.stderr)
            .contains("remote: git-gate: push refused: the operator rejected it: real key"),
        "{}",
        text(&push.stderr)
    );
    assert_eq!(upstream, "unchanged");
    // The gate archived what it acted on.
    assert!(std::fs::read_dir(queue.join("processed")).unwrap().count() >= 2);
}

fn aws_key_line() -> String {
    format!("key = AKIA{}\n", "Z7QX4MBN2PLK6RTY")
}

#[test]
fn a_push_carrying_a_held_secret_is_held_and_named_by_its_variable() {
    let (push, shown, upstream, _temp) = push_with_secret_answered(
        &format!("token: {HELD_TOKEN}\n"),
        &["reject", "--reason", "that is the bottle's own token"],
    );
    assert!(!push.status.success());
    assert_eq!(upstream, "unchanged");
    assert!(shown.contains("EGRESS_TOKEN_GITGATE_TEST"), "{shown}");
    assert!(!shown.contains(HELD_TOKEN), "{shown}");
    assert!(!text(&push.stderr).contains(HELD_TOKEN));
}
