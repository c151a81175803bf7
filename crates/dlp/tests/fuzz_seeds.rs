//! Replays the fuzz targets' seed corpus (`fuzz/corpus-seed`) through the
//! same checks the fuzz targets run, so every ordinary test run exercises
//! them without nightly or libFuzzer.

#![allow(clippy::expect_used, reason = "test setup panics on failure")]

use std::path::Path;

#[test]
fn every_seed_passes_every_fuzz_check() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus-seed");
    let mut seeds: Vec<_> = std::fs::read_dir(&directory)
        .expect("the seed corpus exists")
        .map(|entry| entry.expect("readable entry").path())
        .collect();
    seeds.sort();
    assert!(
        seeds.len() >= 10,
        "{} seeds in {}",
        seeds.len(),
        directory.display()
    );
    for seed in seeds {
        let data = std::fs::read(&seed).expect("readable seed");
        bot_bottle_dlp::fuzzing::scan(&data);
        bot_bottle_dlp::fuzzing::redact(&data);
        bot_bottle_dlp::fuzzing::decode(&data);
        bot_bottle_dlp::fuzzing::gitleaks(&data);
    }
}
