//! A driver for instruction-counting profilers: builds the benchmark's
//! corpus and held secrets (`benches/support/corpus.rs`) and scans the
//! corpus a few times with one detector set. Instruction counts are
//! repeatable on a loaded machine, where the criterion timings are noisy.
//!
//! Run: `cargo build --release -p bot-bottle-dlp --example profile_scan`, then
//! `valgrind --tool=callgrind target/release/examples/profile_scan all 2`
//! (detector set `known`, `patterns`, `all` or `all+entropy`, or a baseline:
//! `baseline-aho-corasick` or `baseline-teddy`, as in the benchmark; number
//! of scans). It prints the throughput of the scans, so running it a few
//! times and keeping the best figure gives a timing less disturbed by other
//! work on a shared machine than one criterion run.

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
    let mut random = support::Random(0x005E_ED0F_B07B_077E);
    let held = support::held_secrets(&mut random);
    let corpus = support::corpus(&mut random);
    if let Some(kind) = set.strip_prefix("baseline-") {
        let raw: Vec<&str> = held
            .iter()
            .map(|secret| secret.value.expose().as_str())
            .collect();
        let builder = match kind {
            "aho-corasick" => aho_corasick::AhoCorasick::builder(),
            "teddy" => {
                let mut builder = aho_corasick::AhoCorasick::builder();
                builder.match_kind(aho_corasick::MatchKind::LeftmostFirst);
                builder
            }
            other => {
                eprintln!("unknown baseline {other:?}: aho-corasick or teddy");
                std::process::exit(64);
            }
        };
        let automaton = match builder.build(&raw) {
            Ok(automaton) => automaton,
            Err(error) => {
                eprintln!("baseline: {error}");
                std::process::exit(1);
            }
        };
        let started = std::time::Instant::now();
        let mut found = 0;
        for _ in 0..rounds {
            found += automaton.find_iter(std::hint::black_box(&corpus)).count();
        }
        report(
            &set,
            corpus.len(),
            rounds,
            found,
            started.elapsed().as_secs_f64(),
        );
        return;
    }
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
    report(
        &set,
        corpus.len(),
        rounds,
        findings,
        started.elapsed().as_secs_f64(),
    );
}

fn report(set: &str, len: usize, rounds: usize, findings: usize, seconds: f64) {
    println!(
        "{set}: {len} bytes x {rounds}, {findings} findings, {:.0} MB/s",
        (len * rounds) as f64 / seconds / 1e6
    );
}
