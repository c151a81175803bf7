//! End to end on loopback: the real `bot-bottle sidecar egress` and
//! `bot-bottle sidecar supervise` processes sharing one queue directory and
//! one routes file. An agent-side client is denied a host, asks for it with
//! the `egress-allow` MCP tool, the operator approves a narrower route with
//! `bot-bottle proposals approve --modify`, and the next request passes —
//! nothing restarted — while what the operator left out stays denied.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rmcp::ServiceExt as _;
use rmcp::model::{CallToolRequestParams, ClientConfig};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;

fn binary() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("bot-bottle"))
}

/// Kills a sidecar if the test fails before it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start a sidecar; the address from its "listening" log line.
fn start(mut command: Command) -> (Running, String) {
    let mut child = command
        .env("BOT_BOTTLE_LOG_LEVEL", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("sidecar: {line}");
            let _ = sender.send(line);
        }
    });
    let address = loop {
        let line = receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("the sidecar logs its address");
        if let Some(rest) = line.split("address=").nth(1) {
            break rest
                .split([' ', ']'])
                .next()
                .unwrap_or_default()
                .to_string();
        }
    };
    (Running(child), address)
}

/// A plain HTTP upstream that answers every request with its path.
fn upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or("?").to_string();
                let body = format!("upstream saw {path}");
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

/// `curl` through the proxy: the status code and the body.
fn through_proxy(proxy: &str, url: &str) -> (u16, String) {
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10"])
        .args(["--proxy", &format!("http://{proxy}")])
        .args(["--write-out", "\n%{http_code}", url])
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_string())
}

fn pending_id(queue: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for entry in std::fs::read_dir(queue).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".proposal.json") {
                return id.to_string();
            }
        }
        assert!(Instant::now() < deadline, "egress-allow filed no proposal");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn denied_then_asked_then_approved_as_modified_then_allowed_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let queue = dir.path().join("queues").join("dev");
    let routes_dir = dir.path().join("routes");
    std::fs::create_dir_all(&routes_dir).unwrap();
    let routes = routes_dir.join("routes.yaml");
    std::fs::write(&routes, "log: meta\nroutes: []\n").unwrap();
    let port = upstream();
    let host = "upstream.test";

    let mut egress = binary();
    egress
        .args(["sidecar", "egress", "--listen", "127.0.0.1:0", "--routes"])
        .arg(&routes)
        .arg("--ca-dir")
        .arg(dir.path().join("ca"))
        .arg("--queue")
        .arg(&queue)
        .args(["--resolve", &format!("{host}:{port}:127.0.0.1")]);
    let (_egress, proxy) = start(egress);
    let mut supervise = binary();
    supervise
        .args([
            "sidecar",
            "supervise",
            "--listen",
            "127.0.0.1:0",
            "--routes",
        ])
        .arg(&routes)
        .arg("--queue")
        .arg(&queue);
    let (_supervise, mcp) = start(supervise);

    let url = format!("http://{host}:{port}/v1/data");
    let (status, body) = through_proxy(&proxy, &url);
    assert_eq!(status, 403, "default deny: {body}");
    assert!(body.contains(host), "the 403 names the host: {body}");

    // The agent asks for the whole host over MCP; the call waits.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mcp_url = format!("http://{mcp}/mcp");
    let asking = runtime.spawn(async move {
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(mcp_url),
        );
        let client = ClientConfig::default().serve(transport).await.unwrap();
        let arguments = json!({"host": format!("{host}:{port}"), "reason": "fetch the data set"});
        let result = client
            .call_tool(
                CallToolRequestParams::new("egress-allow")
                    .with_arguments(arguments.as_object().cloned().unwrap()),
            )
            .await
            .unwrap();
        result.structured_content.unwrap()
    });

    // The operator grants GET on /v1/ only.
    let id = pending_id(&queue);
    let granted = dir.path().join("granted.yaml");
    std::fs::write(
        &granted,
        format!("host: {host}:{port}\nmethods: [GET]\npaths: [/v1/]\n"),
    )
    .unwrap();
    let approve = binary()
        .args(["proposals", "approve", &id, "--queue"])
        .arg(&queue)
        .arg("--modify")
        .arg(&granted)
        .output()
        .unwrap();
    assert!(
        approve.status.success(),
        "{}",
        String::from_utf8_lossy(&approve.stderr)
    );

    let answer = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(30), asking).await })
        .expect("the tool call returns once approved")
        .unwrap();
    assert_eq!(answer["status"], "approved-as-modified", "{answer}");
    assert_eq!(answer["route"]["paths"], json!(["/v1/"]), "{answer}");

    // Egress picks the new routes file up by itself.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = through_proxy(&proxy, &url);
        if status == 200 {
            assert_eq!(body, "upstream saw /v1/data");
            break;
        }
        assert_eq!(status, 403, "{body}");
        assert!(
            Instant::now() < deadline,
            "the approved route never took effect"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // What the operator left out of the grant stays denied.
    let (status, _) = through_proxy(&proxy, &format!("http://{host}:{port}/admin"));
    assert_eq!(status, 403);
    // The proposal was acted on and archived by supervise.
    assert!(
        queue
            .join("processed")
            .join(format!("{id}.response.json"))
            .exists()
    );
}

/// `sidecar supervise` with these files and extra arguments, run to its end.
fn supervise_once(routes: &Path, queue: &Path, extra: &[&str]) -> std::process::Output {
    binary()
        .args([
            "sidecar",
            "supervise",
            "--listen",
            "127.0.0.1:0",
            "--routes",
        ])
        .arg(routes)
        .arg("--queue")
        .arg(queue)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_bad_routes_file_or_queue_exits_64_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let routes = dir.path().join("routes.yaml");
    std::fs::write(&routes, "routes: [\n").unwrap();
    let output = supervise_once(&routes, &dir.path().join("dev"), &[]);
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("routes.yaml"), "{stderr}");

    std::fs::write(&routes, "routes: []\n").unwrap();
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, "").unwrap();
    let output = supervise_once(&routes, &not_a_dir, &[]);
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("file"), "{stderr}");

    let output = supervise_once(&routes, &dir.path().join("dev"), &["--answer-timeout", "0"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "a zero timeout is a usage error"
    );
}
