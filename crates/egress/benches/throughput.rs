//! Throughput and latency, direct versus through the proxy, in one run.
//!
//! `cargo bench -p bot-bottle-egress --bench throughput` starts the test
//! HTTPS upstream (its own CA) on loopback and the proxy in a child process
//! (this same binary, re-run in its proxy role, so the proxy's memory is its
//! own), then drives each scenario twice — straight to the upstream, and
//! through the proxy (CONNECT, TLS intercepted, upstream TLS, the DLP
//! inspector on with 50 held secrets and every default detector) — with the
//! same number of keep-alive HTTP/1.1 connections, and prints requests/s,
//! p50/p99 latency, the ratios, and the proxy process's resident memory idle
//! and at its peak under load. The figures are for comparison within one
//! run on one machine, never absolute targets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;

#[derive(Clone, Copy)]
struct Scenario {
    name: &'static str,
    key: &'static str,
    body_bytes: usize,
    connections: usize,
    requests_per_connection: usize,
}

const SCENARIOS: [Scenario; 3] = [
    Scenario {
        name: "GET, no body",
        key: "get",
        body_bytes: 0,
        connections: 16,
        requests_per_connection: 400,
    },
    Scenario {
        name: "POST 1 KiB",
        key: "1k",
        body_bytes: 1024,
        connections: 16,
        requests_per_connection: 400,
    },
    Scenario {
        name: "POST 1 MiB",
        key: "1m",
        body_bytes: 1024 * 1024,
        connections: 8,
        requests_per_connection: 20,
    },
];

struct Figures {
    requests_per_second: f64,
    p50: Duration,
    p99: Duration,
}

async fn direct_sender(
    upstream: &Upstream,
) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(upstream.ca_der.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let stream = tokio::net::TcpStream::connect(upstream.https)
        .await
        .unwrap();
    stream.set_nodelay(true).unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(UPSTREAM_NAME).unwrap(), stream)
        .await
        .unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

async fn proxied_sender(
    proxy: &Proxy,
    upstream: &Upstream,
) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    match tls_through_proxy(
        proxy,
        &upstream_authority(upstream),
        UPSTREAM_NAME,
        &[b"http/1.1"],
    )
    .await
    {
        Sender::H1(sender) => sender,
        Sender::H2(_) => unreachable!("only http/1.1 was offered"),
    }
}

async fn drive(
    senders: Vec<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
    authority: &str,
    scenario: &Scenario,
) -> Figures {
    let body = body_of(scenario.body_bytes);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut sender in senders {
        let body = body.clone();
        let authority = authority.to_string();
        let count = scenario.requests_per_connection;
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(count);
            for _ in 0..count {
                let method = if body.is_empty() { "GET" } else { "POST" };
                let request = Request::builder()
                    .method(method)
                    .uri("/echo")
                    .header("host", &authority)
                    .body(Full::new(body.clone()))
                    .unwrap();
                let begun = Instant::now();
                let response = sender.send_request(request).await.unwrap();
                assert!(response.status().is_success());
                response.into_body().collect().await.unwrap();
                latencies.push(begun.elapsed());
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(result) = tasks.join_next().await {
        latencies.extend(result.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |fraction: f64| {
        latencies[((latencies.len() as f64 * fraction) as usize).min(latencies.len() - 1)]
    };
    Figures {
        requests_per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with(field))
                .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time a process has run, summed over its threads, from
/// `/proc/<pid>/task/*/schedstat` (nanoseconds). Threads that already
/// exited are not counted, so it is read around a phase whose threads
/// stay up (both runtimes' workers do).
fn cpu_time(pid: u32) -> Duration {
    let mut total = 0u64;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) {
                total += text
                    .split_whitespace()
                    .next()
                    .and_then(|ns| ns.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    Duration::from_nanos(total)
}

/// Environment of the proxy role.
const ROLE: &str = "BOT_BOTTLE_BENCH_PROXY";
const UPSTREAM_PORT: &str = "BOT_BOTTLE_BENCH_UPSTREAM_PORT";
const UPSTREAM_CA: &str = "BOT_BOTTLE_BENCH_UPSTREAM_CA";
/// Held secrets in the proxy's scanner, as in the DLP benchmark.
const HELD_SECRETS: usize = 50;

/// The proxy role: the sidecar's pieces (routes, CA, DLP inspector with
/// 50 held secrets) on loopback; prints its address, stops on stdin EOF.
fn proxy_role() {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = std::env::var("BOT_BOTTLE_BENCH_PROXY_THREADS")
        .ok()
        .and_then(|value| value.parse().ok())
    {
        builder.worker_threads(threads);
    }
    let runtime = builder.enable_all().build().unwrap();
    runtime.block_on(async {
        let port: u16 = std::env::var(UPSTREAM_PORT).unwrap().parse().unwrap();
        let ca_der = std::fs::read(std::env::var(UPSTREAM_CA).unwrap()).unwrap();
        let address: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let upstream = Upstream {
            https: address,
            websocket: address,
            http: address,
            ca_der: ca_der.into(),
            seen: Default::default(),
            sse_release: Default::default(),
        };
        let held: Vec<(String, String)> = (0..HELD_SECRETS)
            .map(|index| {
                (
                    format!("EGRESS_TOKEN_BENCH_{index}"),
                    format!("bench-secret-{index:02}-Qm7xK2pL9vR4tZ8wNb3H"),
                )
            })
            .collect();
        let scanner = bot_bottle_dlp::Scanner::new(bot_bottle_dlp::ScannerConfig {
            held: held
                .iter()
                .map(|(name, value)| bot_bottle_dlp::HeldSecret::new(name.clone(), value.clone()))
                .collect(),
            detectors: bot_bottle_dlp::DetectorSet::all(),
            ..bot_bottle_dlp::ScannerConfig::default()
        })
        .unwrap();
        let inspector = bot_bottle_egress::dlp_inspector::DlpInspector::new(
            bot_bottle_egress::dlp_inspector::DlpState::new(scanner),
        );
        let routes = format!(
            "routes:\n  - host: \"{}\"\n    outbound_on_match: block\n",
            upstream_authority(&upstream)
        );
        let proxy = start_proxy(
            &routes,
            &upstream,
            ProxyOptions {
                // `BOT_BOTTLE_BENCH_NO_DLP=1`: the proxy without the DLP
                // inspector, to see what the inspection costs.
                inspector: std::env::var_os("BOT_BOTTLE_BENCH_NO_DLP")
                    .is_none()
                    .then(|| Arc::new(inspector) as Arc<dyn bot_bottle_egress::inspect::Inspector>),
                ..ProxyOptions::default()
            },
        )
        .await;
        println!(
            "address={} ca={}",
            proxy.address,
            proxy.ca_pem_path.display()
        );
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        })
        .await
        .unwrap();
        proxy.stop().await;
    });
}

/// A request body shaped like agent traffic: JSON with code and prose.
fn body_of(bytes: usize) -> Bytes {
    let unit = br#"{"role":"user","content":"fn main() { let total: u64 = (1..=10).sum(); println!(\"{total}\"); } // the build log says: warning: unused variable `x` at src/lib.rs:42"},"#;
    Bytes::from(
        unit.iter()
            .copied()
            .cycle()
            .take(bytes)
            .collect::<Vec<u8>>(),
    )
}

/// `BOT_BOTTLE_BENCH_PIN=1`: the load generator and the upstream on CPU 0,
/// the proxy alone on CPU 1 (with `taskset`), as when the sidecar does not
/// share its core with the agent and the upstream is elsewhere.
const PIN: &str = "BOT_BOTTLE_BENCH_PIN";
const PINNED: &str = "BOT_BOTTLE_BENCH_PINNED";

fn main() {
    if std::env::var_os(ROLE).is_some() {
        return proxy_role();
    }
    let pin = std::env::var_os(PIN).is_some_and(|value| value == "1");
    if pin && std::env::var_os(PINNED).is_none() {
        if std::thread::available_parallelism().map_or(1, usize::from) < 2 {
            eprintln!("{PIN}=1 needs at least two CPUs");
            std::process::exit(2);
        }
        let status = std::process::Command::new("taskset")
            .args(["-c", "0"])
            .arg(std::env::current_exe().unwrap())
            .args(std::env::args_os().skip(1))
            .env(PINNED, "1")
            .status()
            .expect("taskset (util-linux) runs the pinned benchmark");
        std::process::exit(status.code().unwrap_or(1));
    }
    println!(
        "layout: {}",
        if pin {
            "load generator and upstream on CPU 0, proxy on CPU 1"
        } else {
            "load generator, upstream and proxy sharing every CPU"
        }
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let upstream = start_upstream().await;
        let ca_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(ca_file.path(), upstream.ca_der.as_ref()).unwrap();
        let mut command = if pin {
            let mut command = std::process::Command::new("taskset");
            command.args(["-c", "1"]).arg(std::env::current_exe().unwrap());
            command
        } else {
            std::process::Command::new(std::env::current_exe().unwrap())
        };
        let mut child = command
            .env(ROLE, "1")
            .env(UPSTREAM_PORT, upstream.https.port().to_string())
            .env(UPSTREAM_CA, ca_file.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let (address, ca) = line.trim().split_once(' ').unwrap();
        let address: std::net::SocketAddr =
            address.strip_prefix("address=").unwrap().parse().unwrap();
        let proxy = Proxy::remote(address, ca.strip_prefix("ca=").unwrap().into());
        tokio::time::sleep(Duration::from_millis(300)).await;
        println!(
            "memory: proxy process RSS {} KiB idle (DLP scanner with {HELD_SECRETS} held secrets built)",
            status_kib(pid, "VmRSS:")
        );
        let authority = upstream_authority(&upstream);
        println!(
            "{:<14} {:>12} {:>12} {:>7} {:>20} {:>20} {:>11}",
            "scenario", "direct rq/s", "proxy rq/s", "ratio", "direct p50/p99", "proxy p50/p99", "added p50"
        );
        // `BOT_BOTTLE_BENCH_SCENARIO=get|1k|1m` runs one scenario (for profiling).
        let only = std::env::var("BOT_BOTTLE_BENCH_SCENARIO").ok();
        let mut cpu_lines = Vec::new();
        for scenario in SCENARIOS
            .iter()
            .filter(|scenario| only.as_deref().is_none_or(|key| scenario.key == key))
        {
            let mut direct = Vec::new();
            let mut proxied = Vec::new();
            // `BOT_BOTTLE_BENCH_CONNECTIONS=N` overrides the scenario's count.
            let connections = std::env::var("BOT_BOTTLE_BENCH_CONNECTIONS")
                .ok()
                .and_then(|value| value.parse().ok())
                .unwrap_or(scenario.connections);
            let scenario = &Scenario { connections, ..*scenario };
            for _ in 0..scenario.connections {
                direct.push(direct_sender(&upstream).await);
                proxied.push(proxied_sender(&proxy, &upstream).await);
            }
            // Warm both paths (leaf certificate, pooled upstream connections).
            let warm = Scenario { name: "warm-up", key: "warm-up", body_bytes: 0, connections: 1, requests_per_connection: 20 };
            drive(vec![direct_sender(&upstream).await], &authority, &warm).await;
            drive(vec![proxied_sender(&proxy, &upstream).await], &authority, &warm).await;
            let requests = (scenario.connections * scenario.requests_per_connection) as f64;
            let me = std::process::id();
            let before = cpu_time(me);
            let direct_figures = drive(direct, &authority, scenario).await;
            let (middle, proxy_before) = (cpu_time(me), cpu_time(pid));
            let proxied_figures = drive(proxied, &authority, scenario).await;
            let (after, proxy_after) = (cpu_time(me), cpu_time(pid));
            cpu_lines.push(format!(
                "{:<14} {:>12.1} {:>12.1} {:>12.1} {:>7.2}",
                scenario.name,
                (middle - before).as_secs_f64() * 1e6 / requests,
                ((after - middle) + (proxy_after - proxy_before)).as_secs_f64() * 1e6 / requests,
                (proxy_after - proxy_before).as_secs_f64() * 1e6 / requests,
                (middle - before).as_secs_f64()
                    / ((after - middle) + (proxy_after - proxy_before)).as_secs_f64(),
            ));
            println!(
                "{:<14} {:>12.0} {:>12.0} {:>7.2} {:>20} {:>20} {:>11}",
                scenario.name,
                direct_figures.requests_per_second,
                proxied_figures.requests_per_second,
                proxied_figures.requests_per_second / direct_figures.requests_per_second,
                format!("{:.2?}/{:.2?}", direct_figures.p50, direct_figures.p99),
                format!("{:.2?}/{:.2?}", proxied_figures.p50, proxied_figures.p99),
                format!("{:.2?}", proxied_figures.p50.saturating_sub(direct_figures.p50)),
            );
        }
        // CPU per request: load generator and upstream (this process) for
        // the direct path, plus the proxy process for the proxied one. On a
        // CPU-bound machine the throughput ratio tends to the CPU ratio, and
        // unlike requests/s it does not move with other load on the machine.
        println!(
            "{:<14} {:>12} {:>12} {:>12} {:>7}",
            "cpu µs/rq", "direct", "proxied", "proxy alone", "ratio"
        );
        for line in &cpu_lines {
            println!("{line}");
        }
        println!(
            "memory: proxy process RSS {} KiB after the load, peak {} KiB",
            status_kib(pid, "VmRSS:"),
            status_kib(pid, "VmHWM:")
        );
        drop(child.stdin.take());
        child.wait().unwrap();
    });
}
