//! Invariant checks shared by the fuzz targets (`crates/dlp/fuzz`) and the
//! test that replays their seed corpus. Not part of the API: each function
//! panics when an invariant breaks, which is what a fuzzer looks for.

use std::io::Write;
use std::sync::LazyLock;

use crate::config::{Detector, DetectorSet, HeldSecret, ScannerConfig};
use crate::decode::{self, MAX_DECODE_DEPTH};
use crate::finding::Finding;
use crate::finding::Severity;
use crate::known::KnownMatcher;
use crate::scanner::Scanner;

/// A held secret the fuzzers' scanner looks for.
pub const FUZZ_TOKEN: &str = "tk_Qm7ZpX2vR9sLw4NcB8yKd3JfH6gT1aEo";

static SCANNER: LazyLock<Option<Scanner>> = LazyLock::new(|| {
    Scanner::new(ScannerConfig {
        held: vec![
            HeldSecret::new("EGRESS_TOKEN_FUZZ", FUZZ_TOKEN),
            HeldSecret::new("EGRESS_TOKEN_SHORT", "pin-4242"),
        ],
        detectors: DetectorSet::all().with(Detector::Entropy),
        ..ScannerConfig::default()
    })
    .ok()
});

fn scanner() -> &'static Scanner {
    match SCANNER.as_ref() {
        Some(scanner) => scanner,
        None => panic!("the fuzzing scanner must build"),
    }
}

/// Scan, check every finding's span and masking, and check that streaming
/// the same bytes in two chunks finds the same findings.
pub fn scan(data: &[u8]) {
    let scanner = scanner();
    let findings = scanner.scan(data);
    for finding in &findings {
        assert!(
            finding.start <= finding.end && finding.end <= data.len(),
            "{finding:?}"
        );
        if finding.matched.expose().len() >= 12 {
            let shown = String::from_utf8_lossy(finding.matched.expose()).into_owned();
            assert!(
                !finding.preview.contains(&shown),
                "preview shows the whole value"
            );
        }
    }
    let split = data
        .first()
        .map_or(0, |byte| usize::from(*byte) % (data.len() + 1));
    let mut stream = scanner.stream();
    let mut streamed = stream.feed(&data[..split]).into_vec();
    streamed.extend(stream.feed(&data[split..]).into_vec());
    streamed.extend(stream.finish().into_vec());
    let spans = |list: &[crate::Finding]| -> Vec<(usize, usize, String)> {
        list.iter()
            .map(|finding| (finding.start, finding.end, finding.rule.clone()))
            .collect()
    };
    assert_eq!(
        spans(&streamed),
        spans(&findings),
        "streaming differs from one scan"
    );
}

/// Redact and check that the result is clean unless something is reported
/// as unredactable.
pub fn redact(data: &[u8]) {
    let scanner = scanner();
    let redaction = scanner.redact(data);
    if redaction.unredactable.is_empty() {
        let rescan = scanner.scan(&redaction.bytes);
        assert!(
            !rescan
                .iter()
                .any(|finding| finding.severity == Severity::Block),
            "redaction left blocking findings: {rescan:?}"
        );
    }
}

/// Run the decoding passes to full depth and check the span maps and the
/// work budget; then the same for `data` gzip-compressed after a prefix of
/// itself and zlib-compressed, so every input also exercises the
/// decompressed layers (their spans cover the compressed region).
pub fn decode(data: &[u8]) {
    decode_checked(data);
    let prefix = data.len() / 2;
    let mut gzip =
        flate2::write::GzEncoder::new(data[..prefix].to_vec(), flate2::Compression::fast());
    if gzip.write_all(data).is_ok()
        && let Ok(wrapped) = gzip.finish()
    {
        decode_checked(&wrapped);
    }
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    if zlib.write_all(data).is_ok()
        && let Ok(wrapped) = zlib.finish()
    {
        decode_checked(&wrapped);
    }
}

fn decode_checked(data: &[u8]) {
    let initial = decode::budget_for(data.len());
    let mut budget = initial;
    let mut layers = vec![(data.to_vec(), 0usize)];
    let mut decoded_total = 0usize;
    while let Some((bytes, depth)) = layers.pop() {
        if depth >= MAX_DECODE_DEPTH {
            continue;
        }
        for layer in decode::decode_all(&bytes, &mut budget) {
            decoded_total += layer.bytes.len();
            if !layer.bytes.is_empty() {
                let (start, end) = layer.input_span(0, layer.bytes.len());
                assert!(
                    start <= end && end <= bytes.len(),
                    "span {start}..{end} outside {}",
                    bytes.len()
                );
            }
            layers.push((layer.bytes, depth + 1));
        }
    }
    assert!(
        decoded_total <= initial.left,
        "decoded {decoded_total} bytes, budget {}",
        initial.left
    );
}

/// Import `data` as a gitleaks config; if it imports, check the warnings
/// are single lines, the rules (content and file-name ones) keep the
/// engine's invariants (prefixed, unique ids) and build a
/// scanner (always), and scan `data` itself with them.
pub fn gitleaks(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let import = match crate::rules::RuleSet::from_gitleaks_toml(text, "fuzz.gitleaks.toml") {
        Ok(import) => import,
        Err(error) => {
            assert!(
                !error.to_string().contains('\n'),
                "multi-line error: {error}"
            );
            return;
        }
    };
    for warning in &import.warnings {
        assert!(!warning.contains('\n'), "multi-line warning: {warning:?}");
    }
    let rules = import.rules.rules();
    for (index, rule) in rules.iter().enumerate() {
        assert!(
            rule.id().starts_with(crate::GITLEAKS_ID_PREFIX),
            "{}",
            rule.id()
        );
        assert!(rule.max_len() <= crate::MAX_RULE_MATCH_LEN, "{}", rule.id());
        assert!(
            !rules[..index].iter().any(|other| other.id() == rule.id()),
            "duplicate id {}",
            rule.id()
        );
    }
    let names = import.rules.file_name_rules();
    for (index, rule) in names.iter().enumerate() {
        assert!(
            rule.id().starts_with(crate::GITLEAKS_ID_PREFIX),
            "{}",
            rule.id()
        );
        assert!(
            !rules.iter().any(|other| other.id() == rule.id())
                && !names[..index].iter().any(|other| other.id() == rule.id()),
            "duplicate id {}",
            rule.id()
        );
        let _ = rule.matches(data);
    }
    let scanner = match Scanner::new(ScannerConfig {
        detectors: DetectorSet::empty().with(Detector::Patterns),
        extra_rules: vec![import.rules],
        ..ScannerConfig::default()
    }) {
        Ok(scanner) => scanner,
        Err(error) => panic!("an imported config must build a scanner: {error}"),
    };
    for finding in &scanner.scan(data) {
        assert!(
            finding.start <= finding.end && finding.end <= data.len(),
            "{finding:?}"
        );
    }
}

/// A held-secret matcher with a sliding window of another length than
/// [`crate::PARTIAL_MATCH_MIN_LEN`], for measuring false-positive rates
/// (`examples/measure_partial.rs`).
pub struct WindowMatcher(KnownMatcher);

impl WindowMatcher {
    pub fn new(held: &[HeldSecret], window: usize) -> Result<Self, crate::DlpError> {
        KnownMatcher::with_min_len(held, &[], window).map(Self)
    }

    /// The held-secret findings in `input`.
    pub fn scan(&self, input: &[u8]) -> Vec<Finding> {
        let mut out = Vec::new();
        self.0.scan(input, &mut out);
        out
    }
}
