//! Exact-span assertions shared by the encoding tests: one finding of a
//! rule, spanning exactly the encoded value, and a redaction that replaces
//! exactly that span and leaves nothing of the rule behind.

use bot_bottle_dlp::{DetectorSet, Finding, HeldSecret, REDACTION_MARK, Scanner, ScannerConfig};

/// The rule that finds [`github_token`].
pub const GITHUB_RULE: &str = "github-pat-classic";

/// A GitHub-token-shaped value (not a real token), split so that no
/// contiguous token-shaped string sits in the repository.
pub fn github_token() -> String {
    ["gh", "p_", "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAB7C"].concat()
}

/// A scanner holding each `(rule, value)` of `held`, with `detectors`.
pub fn scanner_holding(held: &[(&str, &str)], detectors: DetectorSet) -> Scanner {
    Scanner::new(ScannerConfig {
        held: held
            .iter()
            .map(|&(rule, value)| HeldSecret::new(rule, value))
            .collect(),
        detectors,
        ..ScannerConfig::default()
    })
    .expect("scanner builds")
}

/// The findings of `rule` in `input`.
pub fn findings_of(scanner: &Scanner, input: &[u8], rule: &str) -> Vec<Finding> {
    scanner
        .scan(input)
        .into_vec()
        .into_iter()
        .filter(|finding| finding.rule == rule)
        .collect()
}

/// How the one finding's encoding must read.
#[derive(Debug, Clone, Copy)]
pub enum Encoding<'a> {
    /// It names this layer somewhere.
    Contains(&'a str),
    /// Its last layers are these.
    EndsWith(&'a str),
}

/// One finding of `rule` in `input` whose encoding reads as `encoding`,
/// spanning exactly `span`; redaction replaces exactly that span, leaves
/// nothing unredactable, and the redacted input has no finding of `rule`.
pub fn assert_found_by(
    scanner: &Scanner,
    input: &[u8],
    rule: &str,
    encoding: Encoding<'_>,
    span: (usize, usize),
) {
    let findings = findings_of(scanner, input, rule);
    let shown = String::from_utf8_lossy(input);
    assert_eq!(findings.len(), 1, "{rule}: {findings:?} in {shown:?}");
    let finding = &findings[0];
    let reads = match encoding {
        Encoding::Contains(layer) => finding.encoding.contains(layer),
        Encoding::EndsWith(layers) => finding.encoding.ends_with(layers),
    };
    assert!(
        reads,
        "{rule}: {} is not {encoding:?} in {shown:?}",
        finding.encoding
    );
    assert_eq!(
        (finding.start, finding.end),
        span,
        "{rule}: {:?} in {shown:?}",
        String::from_utf8_lossy(&input[finding.start..finding.end])
    );
    assert!(finding.redactable, "{finding:?}");
    let redaction = scanner.redact(input);
    assert!(
        redaction.unredactable.is_empty(),
        "{:?}",
        redaction.unredactable
    );
    let expected = [&input[..span.0], REDACTION_MARK, &input[span.1..]].concat();
    assert_eq!(
        String::from_utf8_lossy(&redaction.bytes),
        String::from_utf8_lossy(&expected)
    );
    assert!(findings_of(scanner, &redaction.bytes, rule).is_empty());
}
