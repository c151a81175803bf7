//! Fuzz the gitleaks config import: never a panic, single-line errors and
//! warnings, imported rules keep the engine's invariants and always build a
//! scanner, which then scans the input itself.
//!
//! Run: `cargo +nightly fuzz run --fuzz-dir crates/dlp/fuzz gitleaks
//! crates/dlp/fuzz/corpus/gitleaks crates/dlp/fuzz/corpus-seed` (new inputs go
//! to the first directory, which git ignores). The seeds include the
//! `gitleaks-*.toml` configs; `-dict=crates/dlp/fuzz/gitleaks.dict` helps it
//! find the config's keys.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bot_bottle_dlp::fuzzing::gitleaks(data);
});
