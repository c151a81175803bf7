//! Fuzz the decoding passes (percent, JSON escapes, HTML entities, base64,
//! hex, base32) to full depth: spans map inside their input and the work
//! budget holds; never a panic.
//!
//! Run: `cargo +nightly fuzz run --fuzz-dir crates/dlp/fuzz decode
//! crates/dlp/fuzz/corpus/decode crates/dlp/fuzz/corpus-seed` (new inputs go to the
//! first directory, which git ignores).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bot_bottle_dlp::fuzzing::decode(data);
});
