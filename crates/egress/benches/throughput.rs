//! Throughput and latency, direct versus through the proxy, in one run.
//!
//! `cargo bench -p bot-bottle-egress --bench throughput` starts the test
//! HTTPS upstream (its own CA) on loopback and the proxy in a child process
//! (this same binary, re-run in its proxy role, so the proxy's memory is its
//! own), then drives each scenario both ways — straight to the upstream, and
//! through the proxy (CONNECT, TLS intercepted, upstream TLS, the DLP
//! inspector on with 50 held secrets and every default detector) — with the
//! same keep-alive HTTP/1.1 connections, for several rounds
//! (`BOT_BOTTLE_BENCH_ROUNDS`, default 5) in alternating order, and prints
//! requests/s, p50/p99 latency, the median ratio of the rounds with its
//! range, the CPU time per request, and the proxy process's resident memory
//! idle and at its peak under load. Scenarios: GET, 1 KiB and 1 MiB POSTs
//! under load (16 connections, 8 for 1 MiB), and an unloaded latency probe
//! (one connection, one request at a time) for the proxy's added latency.
//!
//! Two CPU layouts, both by default (`BOT_BOTTLE_BENCH_LAYOUT=shared|pinned|both`):
//! `shared`, where load generator, upstream and proxy share every CPU, and
//! `pinned`, where load generator and upstream keep CPU 0 (as in the direct
//! run) and the proxy has CPU 1 (`taskset`). The figures are for comparison
//! within one run on one machine, never absolute targets.
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
        requests_per_connection: 2000,
    },
    Scenario {
        name: "POST 1 KiB",
        key: "1k",
        body_bytes: 1024,
        connections: 16,
        requests_per_connection: 2000,
    },
    Scenario {
        name: "POST 1 MiB",
        key: "1m",
        body_bytes: 1024 * 1024,
        connections: 8,
        requests_per_connection: 60,
    },
];

/// The unloaded latency probe: one connection, one request at a time, so
/// the added median is the proxy's own cost per request, not queueing.
const LATENCY_PROBE: Scenario = Scenario {
    name: "GET, 1 conn",
    key: "latency",
    body_bytes: 0,
    connections: 1,
    requests_per_connection: 3000,
};

/// Rounds per scenario (`BOT_BOTTLE_BENCH_ROUNDS`): each round drives the
/// direct and the proxied path once, in alternating order, and the ratio is
/// reported as the median over the rounds with its range.
const DEFAULT_ROUNDS: usize = 5;

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

type H1Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Drive `scenario` over `senders`; the figures, and the senders back for
/// the next round.
async fn drive(
    senders: Vec<H1Sender>,
    authority: &str,
    scenario: &Scenario,
) -> (Figures, Vec<H1Sender>) {
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
            (latencies, sender)
        });
    }
    let mut latencies = Vec::new();
    let mut senders = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let (some, sender) = result.unwrap();
        latencies.extend(some);
        senders.push(sender);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |fraction: f64| {
        latencies[((latencies.len() as f64 * fraction) as usize).min(latencies.len() - 1)]
    };
    let figures = Figures {
        requests_per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    };
    (figures, senders)
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
            websocket_closes: Default::default(),
            open_connections: Default::default(),
            h2_goaway: address,
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
/// `shared`, `pinned` or `both` (the default): which CPU layouts to run.
const LAYOUT: &str = "BOT_BOTTLE_BENCH_LAYOUT";

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .filter(|value| *value > 0)
}

fn main() {
    if std::env::var_os(ROLE).is_some() {
        return proxy_role();
    }
    let layout = std::env::var(LAYOUT).unwrap_or_else(|_| {
        if std::env::var_os(PIN).is_some_and(|value| value == "1") {
            "pinned".into()
        } else {
            "both".into()
        }
    });
    let pin = match layout.as_str() {
        "shared" | "both" => false,
        "pinned" => true,
        other => {
            eprintln!("{LAYOUT}={other}: expected shared, pinned or both");
            std::process::exit(2);
        }
    };
    if pin && std::env::var_os(PINNED).is_none() {
        if std::thread::available_parallelism().map_or(1, usize::from) < 2 {
            eprintln!("the pinned layout needs at least two CPUs");
            std::process::exit(2);
        }
        let status = std::process::Command::new("taskset")
            .args(["-c", "0"])
            .arg(std::env::current_exe().unwrap())
            .args(std::env::args_os().skip(1))
            .env(PINNED, "1")
            .env(LAYOUT, "pinned")
            .status()
            .expect("taskset (util-linux) runs the pinned benchmark");
        std::process::exit(status.code().unwrap_or(1));
    }
    run_layout(pin);
    if layout == "both" {
        println!();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(std::env::args_os().skip(1))
            .env(LAYOUT, "pinned")
            .status()
            .unwrap();
        std::process::exit(status.code().unwrap_or(1));
    }
}

/// One layout: start the upstream and the proxy process, drive every
/// scenario for the rounds asked, print the figures.
fn run_layout(pin: bool) {
    println!(
        "layout: {}",
        if pin {
            "load generator and upstream on CPU 0, proxy on CPU 1 (pinned)"
        } else {
            "load generator, upstream and proxy sharing every CPU (shared)"
        }
    );
    let rounds = env_number("BOT_BOTTLE_BENCH_ROUNDS").unwrap_or(DEFAULT_ROUNDS);
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
            "{rounds} rounds per scenario; ratio = proxied / direct requests/s, median of the rounds [min–max]"
        );
        println!(
            "{:<14} {:>11} {:>11} {:>18} {:>20} {:>20} {:>10}",
            "scenario", "direct rq/s", "proxy rq/s", "ratio", "direct p50/p99", "proxy p50/p99", "added p50"
        );
        // `BOT_BOTTLE_BENCH_SCENARIO=get|1k|1m|latency` runs one scenario.
        let only = std::env::var("BOT_BOTTLE_BENCH_SCENARIO").ok();
        let mut cpu_lines = Vec::new();
        for scenario in SCENARIOS
            .iter()
            .chain(std::iter::once(&LATENCY_PROBE))
            .filter(|scenario| only.as_deref().is_none_or(|key| scenario.key == key))
        {
            // `BOT_BOTTLE_BENCH_CONNECTIONS=N` overrides the loaded
            // scenarios' connection count.
            let connections = match scenario.connections {
                1 => 1,
                count => env_number("BOT_BOTTLE_BENCH_CONNECTIONS").unwrap_or(count),
            };
            let scenario = &Scenario { connections, ..*scenario };
            let mut direct = Vec::new();
            let mut proxied = Vec::new();
            for _ in 0..scenario.connections {
                direct.push(direct_sender(&upstream).await);
                proxied.push(proxied_sender(&proxy, &upstream).await);
            }
            // Warm both paths (leaf certificate, pooled upstream connections).
            let warm = Scenario { name: "warm-up", key: "warm-up", body_bytes: 0, connections: 1, requests_per_connection: 20 };
            drive(vec![direct_sender(&upstream).await], &authority, &warm).await;
            drive(vec![proxied_sender(&proxy, &upstream).await], &authority, &warm).await;
            let requests = (scenario.connections * scenario.requests_per_connection * rounds) as f64;
            let me = std::process::id();
            let (mut direct_cpu, mut proxied_cpu, mut proxy_cpu) =
                (Duration::ZERO, Duration::ZERO, Duration::ZERO);
            let mut ratios = Vec::new();
            let mut direct_rates = Vec::new();
            let mut proxied_rates = Vec::new();
            let mut direct_p50 = Vec::new();
            let mut proxied_p50 = Vec::new();
            let mut direct_p99 = Vec::new();
            let mut proxied_p99 = Vec::new();
            for round in 0..rounds {
                // Alternate which path goes first, so drift in the
                // machine's speed hits both alike.
                let mut figures = [None, None];
                for step in 0..2 {
                    let through_proxy = (round + step) % 2 == 1;
                    let before = (cpu_time(me), cpu_time(pid));
                    let senders = if through_proxy {
                        std::mem::take(&mut proxied)
                    } else {
                        std::mem::take(&mut direct)
                    };
                    let (result, senders) = drive(senders, &authority, scenario).await;
                    let after = (cpu_time(me), cpu_time(pid));
                    // The test upstream records every request it saw; a
                    // benchmark needs none of it.
                    upstream.seen.lock().unwrap().clear();
                    if through_proxy {
                        proxied = senders;
                        proxied_cpu += (after.0 - before.0) + (after.1 - before.1);
                        proxy_cpu += after.1 - before.1;
                    } else {
                        direct = senders;
                        direct_cpu += after.0 - before.0;
                    }
                    figures[usize::from(through_proxy)] = Some(result);
                }
                let [Some(straight), Some(through)] = figures else { unreachable!() };
                ratios.push(through.requests_per_second / straight.requests_per_second);
                direct_rates.push(straight.requests_per_second);
                proxied_rates.push(through.requests_per_second);
                direct_p50.push(straight.p50.as_secs_f64());
                proxied_p50.push(through.p50.as_secs_f64());
                direct_p99.push(straight.p99.as_secs_f64());
                proxied_p99.push(through.p99.as_secs_f64());
            }
            let ratio = median(&mut ratios);
            let (low, high) = (ratios[0], ratios[ratios.len() - 1]);
            let (d50, p50) = (median(&mut direct_p50), median(&mut proxied_p50));
            let added = p50 - d50;
            let micros = |seconds: f64| format!("{:.0}µs", seconds * 1e6);
            println!(
                "{:<14} {:>11.0} {:>11.0} {:>18} {:>20} {:>20} {:>10}",
                scenario.name,
                median(&mut direct_rates),
                median(&mut proxied_rates),
                format!("{ratio:.2} [{low:.2}–{high:.2}]"),
                format!("{}/{}", micros(d50), micros(median(&mut direct_p99))),
                format!("{}/{}", micros(p50), micros(median(&mut proxied_p99))),
                micros(added),
            );
            cpu_lines.push(format!(
                "{:<14} {:>12.1} {:>12.1} {:>12.1} {:>7.2}",
                scenario.name,
                direct_cpu.as_secs_f64() * 1e6 / requests,
                proxied_cpu.as_secs_f64() * 1e6 / requests,
                proxy_cpu.as_secs_f64() * 1e6 / requests,
                direct_cpu.as_secs_f64() / proxied_cpu.as_secs_f64(),
            ));
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
