//! Replays the fuzz seed corpus (and any crash reproducers committed
//! beside it) through the parser, so the fuzz inputs run in every CI.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

use std::path::{Path, PathBuf};

use bot_bottle_manifest::{Source, parse_manifest};

#[test]
fn every_seed_input_parses_without_panicking() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus-seed");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    assert!(
        entries.len() >= 5,
        "the seed corpus is missing: {entries:?}"
    );
    for path in entries {
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let parsed = parse_manifest(Source::File(path.clone()), &text);
        // Whatever the input, every diagnostic names the file.
        for diagnostic in &parsed.diagnostics {
            assert!(
                diagnostic
                    .to_string()
                    .starts_with(&path.display().to_string())
            );
        }
    }
}
