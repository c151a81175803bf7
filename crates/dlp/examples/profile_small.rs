//! Per-call cost of scanning small inputs, such as the request line and
//! header values egress scans for every request: builds the benchmark's
//! held secrets (`benches/support/corpus.rs`) and scans a few short strings
//! many times with the default detectors, printing nanoseconds per scan.
//!
//! Run: `cargo run --release -p bot-bottle-dlp --example profile_small [rounds]`,
//! or under `valgrind --tool=callgrind` for instruction counts.

use bot_bottle_dlp::{DetectorSet, Scanner, ScannerConfig};

// Only the held secrets are used here, not the corpus.
#[allow(dead_code)]
#[path = "../benches/support/corpus.rs"]
mod support;

const INPUTS: [&str; 4] = [
    "GET /v1/messages?beta=true",
    "api.anthropic.com",
    "application/json",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
];

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|text| text.parse().ok())
        .unwrap_or(100_000);
    let mut random = support::Random(0x005E_ED0F_B07B_077E);
    let held = support::held_secrets(&mut random);
    let scanner = match Scanner::new(ScannerConfig {
        held,
        detectors: DetectorSet::default(),
        ..ScannerConfig::default()
    }) {
        Ok(scanner) => scanner,
        Err(error) => {
            eprintln!("scanner: {error}");
            std::process::exit(1);
        }
    };
    let started = std::time::Instant::now();
    let mut findings = 0;
    for _ in 0..rounds {
        for input in INPUTS {
            findings += scanner.scan(std::hint::black_box(input.as_bytes())).len();
        }
    }
    let scans = rounds * INPUTS.len();
    println!(
        "{scans} scans of short inputs, {findings} findings, {:.0} ns per scan",
        started.elapsed().as_secs_f64() * 1e9 / scans as f64
    );
}
