//! Throughput of the DLP scan over a generated corpus shaped like real agent
//! traffic: Messages-API JSON requests carrying source code (JSON-escaped),
//! tool output and logs, and base64 image attachments; 50 held secrets, none
//! of which occurs in the corpus (the common case: every request is clean).
//!
//! Groups: `baseline` is a plain Aho-Corasick search for the 50 raw secrets
//! (what the cheapest possible exact matcher costs); `known` is the held-
//! secret detector with its encodings, projection and sliding window;
//! `all` is the default detector set; `all+entropy` adds the warn-only
//! entropy detector. Run with
//! `cargo bench -p bot-bottle-dlp --bench scan -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use aho_corasick::AhoCorasick;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use bot_bottle_dlp::{Detector, DetectorSet, HeldSecret, Scanner, ScannerConfig};

/// Size of the generated corpus in bytes (about).
const CORPUS_SIZE: usize = 4 * 1024 * 1024;

/// Number of held secrets.
const HELD_SECRETS: usize = 50;

/// A tiny deterministic generator (xorshift64*), so runs are comparable.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn string(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len())] as char)
            .collect()
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";

fn held_secrets(random: &mut Random) -> Vec<HeldSecret> {
    (0..HELD_SECRETS)
        .map(|index| {
            let value = match index % 5 {
                0 => format!("ghp_{}", random.string(ALNUM, 36)),
                1 => format!("sk-ant-api03-{}AA", random.string(ALNUM, 93)),
                2 => random.string(HEX, 40),
                3 => format!(
                    "xoxb-{}-{}",
                    random.string(b"0123456789", 12),
                    random.string(ALNUM, 24)
                ),
                _ => random.string(ALNUM, 43),
            };
            HeldSecret::new(format!("EGRESS_TOKEN_{index}"), value)
        })
        .collect()
}

fn json_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            other => out.push(other),
        }
    }
    out
}

const CODE: &[&str] = &[
    include_str!("../src/known.rs"),
    include_str!("../src/scanner.rs"),
    include_str!("../src/decode.rs"),
    include_str!("../src/rules.rs"),
];

fn log_lines(random: &mut Random, lines: usize) -> String {
    let mut out = String::new();
    for _ in 0..lines {
        out.push_str(&format!(
            "2026-11-28T10:{:02}:{:02}.{:03}Z INFO egress request id={} method=POST host=api.example.com path=/v1/messages status={} duration_ms={} bytes={}\n",
            random.below(60),
            random.below(60),
            random.below(1000),
            random.string(HEX, 16),
            [200, 200, 200, 404, 429][random.below(5)],
            random.below(3000),
            random.below(1_000_000),
        ));
    }
    out
}

fn corpus(random: &mut Random) -> Vec<u8> {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::with_capacity(CORPUS_SIZE + 1024 * 1024);
    let mut turn = 0;
    while out.len() < CORPUS_SIZE {
        let code = json_escape(CODE[turn % CODE.len()]);
        let logs = json_escape(&log_lines(random, 40));
        let attachment = if turn % 3 == 0 {
            format!(
                r#",{{"type":"image","source":{{"type":"base64","media_type":"image/png","data":"{}"}}}}"#,
                engine.encode(random.bytes(48 * 1024))
            )
        } else {
            String::new()
        };
        let request = format!(
            r#"{{"model":"claude-sonnet-4-5","max_tokens":8192,"stream":true,"system":[{{"type":"text","text":"You are a coding agent. Work in /workspace."}}],"messages":[{{"role":"user","content":[{{"type":"text","text":"Please fix the failing test in this file:\n{code}"}}{attachment}]}},{{"role":"assistant","content":[{{"type":"tool_use","id":"toolu_{}","name":"Bash","input":{{"command":"cargo test 2>&1 | tail -50"}}}}]}},{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"toolu_{}","content":"{logs}"}}]}}]}}"#,
            random.string(ALNUM, 24),
            random.string(ALNUM, 24),
        );
        out.extend_from_slice(request.as_bytes());
        out.push(b'\n');
        turn += 1;
    }
    out
}

fn scanner(held: &[HeldSecret], detectors: DetectorSet) -> Scanner {
    Scanner::new(ScannerConfig {
        held: held.to_vec(),
        detectors,
        ..ScannerConfig::default()
    })
    .unwrap_or_else(|error| panic!("scanner builds: {error}"))
}

fn bench_scan(criterion: &mut Criterion) {
    let mut random = Random(0x005E_ED0F_B07B_077E);
    let held = held_secrets(&mut random);
    let corpus = corpus(&mut random);

    let mut group = criterion.benchmark_group("scan");
    group.throughput(Throughput::Bytes(corpus.len() as u64));
    group.sample_size(20);

    let raw: Vec<&str> = held
        .iter()
        .map(|secret| secret.value.expose().as_str())
        .collect();
    let baseline =
        AhoCorasick::new(&raw).unwrap_or_else(|error| panic!("baseline builds: {error}"));
    group.bench_function("baseline-aho-corasick-raw-secrets", |bencher| {
        bencher.iter(|| black_box(baseline.find_iter(black_box(&corpus)).count()))
    });

    let known = scanner(&held, DetectorSet::empty().with(Detector::Known));
    assert!(
        known.scan(&corpus).is_empty(),
        "the corpus must be clean of held secrets"
    );
    group.bench_function("known", |bencher| {
        bencher.iter(|| black_box(known.scan(black_box(&corpus))))
    });

    let all = scanner(&held, DetectorSet::default());
    group.bench_function("all", |bencher| {
        bencher.iter(|| black_box(all.scan(black_box(&corpus))))
    });

    let everything = scanner(&held, DetectorSet::default().with(Detector::Entropy));
    group.bench_function("all+entropy", |bencher| {
        bencher.iter(|| black_box(everything.scan(black_box(&corpus))))
    });
    group.finish();
}

criterion_group!(benches, bench_scan);
criterion_main!(benches);
