//! A driver for instruction-counting profilers: builds the benchmark's
//! corpus and held secrets (`benches/support/corpus.rs`) and scans the
//! corpus a few times with one detector set. Instruction counts are
//! repeatable on a loaded machine, where the criterion timings are noisy.
//!
//! Run: `cargo build --release -p bot-bottle-dlp --example profile_scan`, then
//! `valgrind --tool=callgrind target/release/examples/profile_scan all 2`
//! (detector set `known`, `all` or `all+entropy`; number of scans).

use bot_bottle_dlp::{Detector, DetectorSet, Scanner, ScannerConfig};

#[path = "../benches/support/corpus.rs"]
mod support;

fn main() {
    let mut arguments = std::env::args().skip(1);
    let set = arguments.next().unwrap_or_else(|| "all".to_string());
    let rounds: usize = arguments
        .next()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1);
    let detectors = match set.as_str() {
        "known" => DetectorSet::empty().with(Detector::Known),
        "patterns" => DetectorSet::empty().with(Detector::Patterns),
        "all" => DetectorSet::default(),
        "all+entropy" => DetectorSet::default().with(Detector::Entropy),
        other => {
            eprintln!("unknown detector set {other:?}: known, patterns, all or all+entropy");
            std::process::exit(64);
        }
    };
    let mut random = support::Random(0x005E_ED0F_B07B_077E);
    let held = support::held_secrets(&mut random);
    let corpus = support::corpus(&mut random);
    let scanner = match Scanner::new(ScannerConfig {
        held,
        detectors,
        ..ScannerConfig::default()
    }) {
        Ok(scanner) => scanner,
        Err(error) => {
            eprintln!("scanner: {error}");
            std::process::exit(1);
        }
    };
    let mut findings = 0;
    let started = std::time::Instant::now();
    for _ in 0..rounds {
        findings += scanner.scan(std::hint::black_box(&corpus)).len();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{set}: {} bytes x {rounds}, {findings} findings, {:.0} MB/s",
        corpus.len(),
        (corpus.len() * rounds) as f64 / seconds / 1e6
    );
}
