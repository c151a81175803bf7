//! Throughput of the DLP scan over a generated corpus shaped like real agent
//! traffic: Messages-API JSON requests carrying source code (JSON-escaped),
//! tool output and logs, and base64 image attachments; 50 held secrets, none
//! of which occurs in the corpus (the common case: every request is clean).
//!
//! Groups: `baseline-aho-corasick` is a plain Aho-Corasick search (default
//! settings, standard semantics) for the 50 raw secrets; `baseline-teddy`
//! the same with leftmost-first semantics, which enables aho-corasick's SIMD
//! searcher (the cheapest exact matcher for 50 needles); `baseline-memmem`
//! one secret with `memchr::memmem`; `known` is the held-
//! secret detector with its encodings, projection and sliding window;
//! `all` is the default detector set; `all+entropy` adds the warn-only
//! entropy detector. Run with
//! `cargo bench -p bot-bottle-dlp --bench scan -- --warm-up-time 1 --measurement-time 3`.
//!
//! `BOT_BOTTLE_BENCH_VECTOR=avx2` (or `portable`) limits the engine to
//! those paths, to measure what a CPU without AVX-512 (or AVX2) runs.

use std::hint::black_box;

use aho_corasick::{AhoCorasick, MatchKind};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use bot_bottle_dlp::{
    Detector, DetectorSet, HeldSecret, Scanner, ScannerConfig, VectorPaths, limit_vector_paths,
};

#[path = "support/corpus.rs"]
mod support;
use support::{Random, corpus, held_secrets};

fn scanner(held: &[HeldSecret], detectors: DetectorSet) -> Scanner {
    Scanner::new(ScannerConfig {
        held: held.to_vec(),
        detectors,
        ..ScannerConfig::default()
    })
    .unwrap_or_else(|error| panic!("scanner builds: {error}"))
}

fn bench_scan(criterion: &mut Criterion) {
    match std::env::var("BOT_BOTTLE_BENCH_VECTOR").as_deref() {
        Ok("portable") => limit_vector_paths(VectorPaths::Portable),
        Ok("avx2") => limit_vector_paths(VectorPaths::Avx2),
        Ok("avx512") | Err(_) => {}
        Ok(other) => panic!("BOT_BOTTLE_BENCH_VECTOR={other:?}: portable, avx2 or avx512"),
    }
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
    // The same 50 secrets with leftmost-first semantics, which lets
    // aho-corasick use its SIMD (Teddy) searcher: the fastest plain exact
    // matcher for this many needles.
    let teddy = AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(&raw)
        .unwrap_or_else(|error| panic!("baseline builds: {error}"));
    group.bench_function("baseline-teddy-raw-secrets", |bencher| {
        bencher.iter(|| black_box(teddy.find_iter(black_box(&corpus)).count()))
    });
    // One secret with memchr::memmem.
    let one = memchr::memmem::Finder::new(raw[0].as_bytes());
    group.bench_function("baseline-memmem-one-secret", |bencher| {
        bencher.iter(|| black_box(one.find_iter(black_box(&corpus)).count()))
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
