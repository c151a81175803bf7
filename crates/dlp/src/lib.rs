//! The DLP engine: finds held secrets in any encoding, well-known credential
//! shapes, Unicode evasion and CRLF injection, at memory speed.
//!
//! Used by the egress sidecar on every outbound request and by git-gate on
//! every pushed commit, so it is the hot path and the heart of the product's
//! promise. Pure: no I/O, no async, no environment. Build a [`Scanner`] once
//! from a [`ScannerConfig`] and share it by reference across threads.
//!
//! Layout:
//! - `config`: [`ScannerConfig`], [`HeldSecret`], [`Detector`], [`DetectorSet`]
//! - `scanner`: [`Scanner`] (scan, redact, request heads, approved values)
//! - `stream`: [`StreamScanner`] for chunked input
//! - `known`: held secrets (projection, encoded variants, sliding window)
//! - `rules`, `patterns`: credential-shape rule files and their matcher
//! - `gitleaks`: import of gitleaks v8 config files ([`GitleaksImport`])
//! - `decode`: percent, JSON, HTML, base64/hex/base32 decoding passes
//! - `unicode`: folding of look-alikes and invisible characters
//! - `codes`: character-code lists and EBCDIC decoded as layers
//! - `utf16`: UTF-16 text transcoded to UTF-8 as a decoded layer
//! - `crlf`: CR/LF injection in request heads, [`strip_crlf`]
//! - `entropy`: the warn-only entropy detector
//! - `finding`: [`Finding`], [`Findings`]
//!
//! `docs/dlp.md` documents the detectors, encodings, limits and rule format.

mod codes;
mod compress;
mod config;
mod crlf;
mod decode;
mod dumps;
mod entropy;
mod error;
mod finding;
mod framing;
#[doc(hidden)]
pub mod fuzzing;
mod gitleaks;
mod known;
mod patterns;
mod rules;
mod scanner;
mod simd;
mod stream;
mod unicode;
mod utf16;

use std::sync::LazyLock;

pub use codes::{MIN_CODE_LIST, MIN_EBCDIC_RUN};
pub use compress::DECOMPRESS_ATTEMPT_COST;
pub use config::{Detector, DetectorSet, HeldSecret, ScannerConfig};
pub use crlf::strip_crlf;
pub use decode::{
    DECODE_BUDGET_CAP, DECODE_BUDGET_FACTOR, DECODE_BUDGET_FLOOR, MAX_DECODE_DEPTH, MIN_BLOB_LEN,
    MIN_HEX_BLOB_LEN, OCTAL_ESCAPE_RUN, QP_ESCAPE_RUN,
};
pub use entropy::{ENTROPY_THRESHOLD, ENTROPY_WINDOW, shannon_entropy};
pub use error::DlpError;
pub use finding::{Finding, Findings, Location, Severity};
pub use gitleaks::{GITLEAKS_ID_PREFIX, GitleaksImport};
pub use known::{MIN_INDEXED_NEEDLE_LEN, PARTIAL_MATCH_MIN_LEN};
pub use rules::{
    BUILTIN_RULES, BUILTIN_SOURCE, FileNameRule, MAX_RULE_FILE_COMPILED_BYTES, MAX_RULE_MATCH_LEN,
    MAX_RULES_PER_FILE, Rule, RuleSet,
};
pub use scanner::{
    DECODE_BUDGET_RULE, DECODE_DEPTH_RULE, HeadRedaction, MAX_REDACT_ROUNDS, REDACTION_MARK,
    Redaction, Scanner,
};
pub use simd::{VectorPaths, limit_vector_paths};
pub use stream::{STREAM_SLICE, StreamScanner};
pub use unicode::{confusable, is_invisible};
pub use utf16::{MIN_UTF16_RUN, UTF16_MERGE_GAP};

/// A value at least this long with entropy at or above
/// [`CREDENTIAL_VALUE_ENTROPY`] looks like a credential even if no rule
/// knows its shape.
pub const CREDENTIAL_VALUE_MIN_LEN: usize = 24;

/// Bits per character above which a long, space-free value with letters and
/// digits looks random enough to be a credential. Random base62 of 24
/// characters measures about 4.3; English words and paths stay below 4.
pub const CREDENTIAL_VALUE_ENTROPY: f64 = 4.2;

/// The built-in rules only, for [`looks_like_credential`].
static SHAPES: LazyLock<Option<Scanner>> = LazyLock::new(|| {
    Scanner::new(ScannerConfig {
        detectors: DetectorSet::empty().with(Detector::Patterns),
        ..ScannerConfig::default()
    })
    .ok()
});

/// Whether a single value looks like a credential: a shape the built-in
/// rules know (also inside an encoding), or long, space-free, made of
/// letters and digits and high-entropy. Used by manifest validation to
/// refuse secrets in `env` values.
pub fn looks_like_credential(value: &str) -> bool {
    if let Some(scanner) = SHAPES.as_ref()
        && scanner.scan(value.as_bytes()).blocks()
    {
        return true;
    }
    let bytes = value.as_bytes();
    bytes.len() >= CREDENTIAL_VALUE_MIN_LEN
        && !bytes.iter().any(u8::is_ascii_whitespace)
        && bytes.iter().any(u8::is_ascii_alphabetic)
        && bytes.iter().any(u8::is_ascii_digit)
        && shannon_entropy(bytes) >= CREDENTIAL_VALUE_ENTROPY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_values_are_recognised() {
        let token = ["gh", "p_", "Zq3xR8mT2vLp9WnB4cYd7KsF1hJg6AeU0oXi"].concat();
        assert!(looks_like_credential(&token));
        assert!(looks_like_credential("q8Zr2LmX9vTb4NwK7pYc3HsD"));
        assert!(!looks_like_credential("info"));
        assert!(!looks_like_credential("/usr/local/bin:/usr/bin:/bin"));
        assert!(!looks_like_credential("https://example.com/some/path"));
        assert!(!looks_like_credential(
            "0123456789abcdef0123456789abcdef01234567"
        ));
        assert!(!looks_like_credential(
            "a sentence with words in it and 42 numbers"
        ));
    }
}
