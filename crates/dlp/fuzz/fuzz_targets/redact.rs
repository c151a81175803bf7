//! Fuzz `Scanner::redact`: any bytes, once redacted, re-scan clean unless
//! something is reported as unredactable; never a panic.
//!
//! Run: `cargo +nightly fuzz run --fuzz-dir crates/dlp/fuzz redact
//! crates/dlp/fuzz/corpus/redact crates/dlp/fuzz/corpus-seed` (new inputs go to the
//! first directory, which git ignores).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bot_bottle_dlp::fuzzing::redact(data);
});
