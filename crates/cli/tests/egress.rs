//! `bot-bottle sidecar egress` as a process: configuration errors exit 64,
//! a running sidecar logs its address, serves, keeps tokens out of its
//! introspection and logs, and stops cleanly on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

const TOKEN: &str = "egress-cli-test-token-0123456789";

fn binary() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("bot-bottle"))
}

fn curl(arguments: &[&str]) -> String {
    let output = Command::new("curl")
        .args(["--silent", "--show-error"])
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .args(arguments)
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The address in the sidecar's `listening [address=… bottle=…]` line.
fn listening_address(line: &str) -> Option<String> {
    let rest = line.split("address=").nth(1)?;
    rest.split([' ', ']']).next().map(str::to_string)
}

/// Kills the sidecar if a test fails before stopping it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the sidecar and wait for the line that gives its address; the
/// rest of standard error is collected by a thread.
fn start(directory: &std::path::Path) -> (Running, String, mpsc::Receiver<String>) {
    let mut child = binary()
        .args(["sidecar", "egress", "--routes"])
        .arg(directory.join("routes.yaml"))
        .args(["--listen", "127.0.0.1:0", "--ca-dir"])
        .arg(directory.join("ca"))
        .args(["--bottle", "test-bottle"])
        .env("EGRESS_TOKEN_API", TOKEN)
        .env("BOT_BOTTLE_LOG_LEVEL", "debug")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (sender, receiver) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let address = loop {
        let line = receiver
            .recv()
            .expect("the sidecar exited before listening");
        if let Some(address) = listening_address(&line) {
            break address;
        }
    };
    (Running(child), address, receiver)
}

#[test]
fn a_bad_routes_file_exits_64_naming_the_file() {
    let directory = tempfile::tempdir().unwrap();
    let routes = directory.path().join("routes.yaml");
    std::fs::write(&routes, "routes:\n  - hots: typo.example\n").unwrap();
    let output = binary()
        .args(["sidecar", "egress", "--routes"])
        .arg(&routes)
        .args(["--listen", "127.0.0.1:0", "--ca-dir"])
        .arg(directory.path().join("ca"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("routes.yaml"), "{stderr}");

    let output = binary()
        .args(["sidecar", "egress", "--routes"])
        .arg(&routes)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--ca-dir",
            "/tmp",
            "--resolve",
            "nonsense",
        ])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "a bad --resolve is a usage error"
    );

    std::fs::write(&routes, "routes: []\n").unwrap();
    let not_pem = directory.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    let output = binary()
        .args(["sidecar", "egress", "--routes"])
        .arg(&routes)
        .args(["--listen", "127.0.0.1:0", "--ca-dir"])
        .arg(directory.path().join("ca"))
        .arg("--upstream-ca")
        .arg(&not_pem)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not.pem holds no certificate"), "{stderr}");
}

#[test]
fn the_sidecar_serves_hides_tokens_and_stops_on_sigterm() {
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(
        directory.path().join("routes.yaml"),
        "routes:\n  - host: api.example.com\n    auth_scheme: Bearer\n    token_env: EGRESS_TOKEN_API\n",
    )
    .unwrap();
    let (mut child, address, lines) = start(directory.path());

    let key_mode = std::fs::metadata(directory.path().join("ca/ca.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);

    let routes = curl(&["--noproxy", "*", &format!("http://{address}/routes")]);
    assert!(
        routes.contains("api.example.com") && routes.contains("EGRESS_TOKEN_API"),
        "{routes}"
    );
    assert!(!routes.contains(TOKEN), "{routes}");

    let ca = directory.path().join("ca/ca.pem");
    let denied = curl(&[
        "--proxy",
        &format!("http://{address}"),
        "--cacert",
        ca.to_str().unwrap(),
        "https://denied.example/",
    ]);
    assert!(
        denied.contains("request to denied.example refused"),
        "{denied}"
    );

    Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let log: Vec<String> = lines.iter().collect();
    let log = log.join("\n");
    assert!(
        log.contains("decision=deny") && log.contains("host=denied.example"),
        "{log}"
    );
    // Every line from the proxy names its bottle, the request lines too
    // (they are logged from the connection's own task).
    let denial = log
        .lines()
        .find(|line| line.contains("decision=deny"))
        .unwrap();
    assert!(denial.contains("bottle=test-bottle"), "{denial}");
    assert!(log.contains("draining"), "{log}");
    assert!(!log.contains(TOKEN), "a token reached the log: {log}");
}

/// A plain-HTTP upstream that answers `ok` to every request and sends each
/// request body it received down the channel.
fn plain_upstream() -> (u16, mpsc::Receiver<Vec<u8>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut data = Vec::new();
            let mut buffer = [0u8; 4096];
            let body = loop {
                let read = stream.read(&mut buffer).unwrap_or(0);
                if read == 0 {
                    break Vec::new();
                }
                data.extend_from_slice(&buffer[..read]);
                let Some(end) = data.windows(4).position(|window| window == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|value| value.trim().parse().ok())
                    .unwrap_or(0);
                if data.len() >= end + 4 + length {
                    break data[end + 4..end + 4 + length].to_vec();
                }
            };
            let _ = sender.send(body);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (port, receiver)
}

#[test]
fn a_held_token_is_forwarded_once_the_operator_approves_in_the_queue() {
    use bot_bottle_queue::{Decision, Queue, Scope};

    let directory = tempfile::tempdir().unwrap();
    let (port, bodies) = plain_upstream();
    std::fs::write(
        directory.path().join("routes.yaml"),
        format!("routes:\n  - host: \"plain.test:{port}\"\n    outbound_on_match: supervise\n"),
    )
    .unwrap();
    let queue_dir = directory.path().join("queue");
    let mut child = binary()
        .args(["sidecar", "egress", "--routes"])
        .arg(directory.path().join("routes.yaml"))
        .args(["--listen", "127.0.0.1:0", "--ca-dir"])
        .arg(directory.path().join("ca"))
        .arg("--queue")
        .arg(&queue_dir)
        .args(["--resolve", &format!("plain.test:{port}:127.0.0.1")])
        .env("EGRESS_TOKEN_API", TOKEN)
        .env("EGRESS_TOKEN_ALLOW_TIMEOUT_SECONDS", "60")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let child = Running(child);
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let address = loop {
        let line = lines.recv().expect("the sidecar exited before listening");
        if let Some(address) = listening_address(&line) {
            break address;
        }
    };

    let proxy = format!("http://{address}");
    let url = format!("http://plain.test:{port}/upload");
    let body = format!("key={TOKEN}");
    let agent = std::thread::spawn(move || curl(&["--proxy", &proxy, "--data", &body, &url]));

    let queue = Queue::create(&queue_dir).unwrap();
    let proposal = loop {
        if let Some(entry) = queue
            .list(Scope::Active)
            .unwrap()
            .entries
            .into_iter()
            .next()
        {
            break entry.proposal;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let text = serde_json::to_string(&proposal).unwrap();
    assert!(text.contains("egress-token-allow"), "{text}");
    assert!(text.contains("EGRESS_TOKEN_API"), "{text}");
    assert!(
        !text.contains(TOKEN),
        "the proposal shows the token: {text}"
    );
    queue
        .answer(
            &proposal.id,
            Decision::Approve,
            Some("expected upload".into()),
            None,
        )
        .unwrap();

    assert_eq!(agent.join().unwrap(), "ok");
    assert_eq!(bodies.recv().unwrap(), format!("key={TOKEN}").into_bytes());
    assert!(
        queue.list(Scope::Active).unwrap().entries.is_empty(),
        "not archived"
    );
    drop(child);
}

#[test]
fn a_bad_hold_timeout_exits_64() {
    let directory = tempfile::tempdir().unwrap();
    let routes = directory.path().join("routes.yaml");
    std::fs::write(&routes, "routes: []\n").unwrap();
    let output = binary()
        .args(["sidecar", "egress", "--routes"])
        .arg(&routes)
        .args(["--listen", "127.0.0.1:0", "--ca-dir"])
        .arg(directory.path().join("ca"))
        .env("EGRESS_TOKEN_ALLOW_TIMEOUT_SECONDS", "soon")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("EGRESS_TOKEN_ALLOW_TIMEOUT_SECONDS"),
        "{stderr}"
    );
}
