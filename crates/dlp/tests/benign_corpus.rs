//! The benign corpus: at least 20 MB of real text found on this machine must
//! produce no credential-shape finding and no held-secret finding (with 50
//! random held secrets shaped like real tokens). A finding here is a false
//! positive to fix in the rules, not to paper over in the test.

#![allow(clippy::expect_used, reason = "test setup panics on failure")]

mod support;

use bot_bottle_dlp::{Detector, DetectorSet, Scanner, ScannerConfig};

/// The corpus must be at least this big for the test to mean anything.
const MINIMUM_CORPUS: usize = 20 * 1024 * 1024;

#[test]
fn twenty_megabytes_of_real_text_yield_no_findings() {
    let corpus = support::corpus::gather();
    assert!(
        corpus.total >= MINIMUM_CORPUS,
        "could only gather {} bytes of benign text (need {MINIMUM_CORPUS}); looked in:\n{}",
        corpus.total,
        corpus.looked.join("\n")
    );
    eprintln!(
        "benign corpus: {} bytes in {} files\n{}",
        corpus.total,
        corpus.files.len(),
        corpus.looked.join("\n")
    );
    let scanner = Scanner::new(ScannerConfig {
        held: support::secrets::held_secrets(),
        detectors: DetectorSet::default().without(Detector::Crlf),
        ..ScannerConfig::default()
    })
    .expect("scanner builds");
    let mut false_positives = Vec::new();
    for (path, bytes) in &corpus.files {
        for finding in scanner.scan(bytes) {
            false_positives.push(format!(
                "{}:{}..{}: {} {} ({}) {}",
                path.display(),
                finding.start,
                finding.end,
                finding.detector,
                finding.rule,
                finding.encoding,
                finding.preview
            ));
        }
    }
    // The scanner is live: a token planted in a corpus file is found.
    let (_, first) = &corpus.files[0];
    let mut planted = first.clone();
    planted.extend_from_slice(
        ["\ngh", "p_", "Zq3xR8mT2vLp9WnB4cYd7KsF1hJg6AeU0oXi\n"]
            .concat()
            .as_bytes(),
    );
    assert_eq!(scanner.scan(&planted).len(), 1 + scanner.scan(first).len());
    assert!(
        false_positives.is_empty(),
        "{} false positives in {} bytes:\n{}",
        false_positives.len(),
        corpus.total,
        false_positives.join("\n")
    );
}
