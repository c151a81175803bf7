//! Fuzz `Scanner::scan` and the streaming form: any bytes give findings with
//! spans inside the input and masked previews, never a panic, and two-chunk
//! streaming finds exactly what one scan finds.
//!
//! Run: `cargo +nightly fuzz run --fuzz-dir crates/dlp/fuzz scan
//! crates/dlp/fuzz/corpus/scan crates/dlp/fuzz/corpus-seed` (new inputs go to the
//! first directory, which git ignores).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bot_bottle_dlp::fuzzing::scan(data);
});
