//! Fuzz the bottle-file parser: any bytes must give diagnostics, never a
//! panic, a hang or unbounded memory (serde-saphyr's budget limits alias
//! expansion).
//!
//! Run: `cargo +nightly fuzz run --fuzz-dir crates/manifest/fuzz parse_manifest
//! crates/manifest/fuzz/corpus-seed`.

#![no_main]

use bot_bottle_manifest::{Source, parse_manifest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = parse_manifest(Source::BuiltIn("fuzz"), &text);
    // A file with no diagnostics must have produced a value, and every
    // diagnostic must render.
    if parsed.diagnostics.is_empty() {
        assert!(parsed.file.is_some());
    }
    for diagnostic in &parsed.diagnostics {
        let _ = diagnostic.to_string();
    }
});
