//! Exact-span assertions shared by the encoding tests: one finding of a
//! rule, spanning exactly the encoded value, and a redaction that replaces
//! exactly that span and leaves nothing of the rule behind.

use bot_bottle_dlp::{Finding, REDACTION_MARK, Scanner};

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
