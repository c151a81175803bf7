//! UTF-16 text: held secrets and credential shapes in UTF-16 (with a byte
//! order mark, or little-endian without one inside a binary file) are found,
//! with offsets and redaction over the original UTF-16 bytes; ASCII with a
//! few NUL bytes is not taken for UTF-16; no input panics.

#![allow(clippy::expect_used, reason = "test setup panics on failure")]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bot_bottle_dlp::{
    Detector, DetectorSet, Finding, HeldSecret, REDACTION_MARK, Scanner, ScannerConfig,
};

/// A random-looking held token (not a real credential).
const TOKEN: &str = "tk_Qm7ZpX2vR9sLw4NcB8yKd3JfH6gT1aEo";

/// An AWS-key-shaped value (not a real key), split so that no contiguous
/// key-shaped string sits in the repository.
fn aws_key() -> String {
    ["AK", "IAQWERTYUIOPASDFGY"].concat()
}

fn scanner(detectors: DetectorSet) -> Scanner {
    Scanner::new(ScannerConfig {
        held: vec![HeldSecret::new("EGRESS_TOKEN_GITHUB", TOKEN)],
        detectors,
        ..ScannerConfig::default()
    })
    .expect("scanner builds")
}

fn default_scanner() -> Scanner {
    scanner(DetectorSet::default())
}

#[derive(Clone, Copy, Debug)]
enum Order {
    Little,
    Big,
}

fn utf16(text: &str, order: Order) -> Vec<u8> {
    text.encode_utf16()
        .flat_map(|unit| match order {
            Order::Little => unit.to_le_bytes(),
            Order::Big => unit.to_be_bytes(),
        })
        .collect()
}

/// Binary-looking filler: high bytes, NULs, control bytes, no text.
fn binary(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|index| {
            let value = (index.wrapping_mul(2_654_435_761) ^ seed) >> 13;
            match value % 5 {
                0 => 0,
                1 => 0xff,
                _ => (value % 256) as u8 | 0x80,
            }
        })
        .collect()
}

/// A UTF-16 document around `secret`, placed in `before`/`after` bytes,
/// and the byte span of the secret's code units in the result.
struct Document {
    bytes: Vec<u8>,
    span: (usize, usize),
}

fn document(before: &[u8], prefix: &str, secret: &str, suffix: &str, order: Order) -> Document {
    let mut bytes = before.to_vec();
    bytes.extend(utf16(prefix, order));
    let start = bytes.len();
    bytes.extend(utf16(secret, order));
    let end = bytes.len();
    bytes.extend(utf16(suffix, order));
    Document {
        bytes,
        span: (start, end),
    }
}

fn with_bom(order: Order) -> Vec<u8> {
    match order {
        Order::Little => vec![0xff, 0xfe],
        Order::Big => vec![0xfe, 0xff],
    }
}

/// The finding of `rule` in `document`, which must cover exactly the
/// secret's UTF-16 bytes and say it was found in UTF-16.
fn assert_found_in_utf16(document: &Document, rule: &str) -> Finding {
    let findings = default_scanner().scan(&document.bytes);
    let finding = findings
        .iter()
        .find(|finding| finding.rule == rule)
        .unwrap_or_else(|| panic!("no {rule} in {:?}: {findings:?}", document.bytes))
        .clone();
    assert_eq!(
        (finding.start, finding.end),
        document.span,
        "{rule} not over the secret's UTF-16 bytes: {finding:?}"
    );
    assert!(
        finding.encoding.ends_with("in UTF-16"),
        "{:?}",
        finding.encoding
    );
    assert!(finding.redactable, "{finding:?}");
    finding
}

/// Redaction replaces exactly the secret's UTF-16 bytes.
fn assert_redacted(document: &Document) {
    let redaction = default_scanner().redact(&document.bytes);
    assert!(
        redaction.unredactable.is_empty(),
        "{:?}",
        redaction.unredactable
    );
    let (start, end) = document.span;
    let mut expected = document.bytes[..start].to_vec();
    expected.extend_from_slice(REDACTION_MARK);
    expected.extend_from_slice(&document.bytes[end..]);
    assert_eq!(redaction.bytes, expected);
}

fn held_secret_document(order: Order, before: &[u8]) -> Document {
    document(
        before,
        "[github]\r\ntoken = ",
        TOKEN,
        "\r\nuser = Zoë ☃ 𝄞\r\n",
        order,
    )
}

fn aws_document(order: Order, before: &[u8]) -> Document {
    document(
        before,
        "[default]\r\naws_access_key_id = ",
        &aws_key(),
        "\r\nregion = eu-west-1\r\n",
        order,
    )
}

#[test]
fn held_secret_in_utf16le_with_bom() {
    let document = held_secret_document(Order::Little, &with_bom(Order::Little));
    assert_found_in_utf16(&document, "EGRESS_TOKEN_GITHUB");
    assert_redacted(&document);
}

#[test]
fn held_secret_in_utf16be_with_bom() {
    let document = held_secret_document(Order::Big, &with_bom(Order::Big));
    assert_found_in_utf16(&document, "EGRESS_TOKEN_GITHUB");
    assert_redacted(&document);
}

#[test]
fn aws_key_in_utf16le_with_bom() {
    let document = aws_document(Order::Little, &with_bom(Order::Little));
    let finding = assert_found_in_utf16(&document, "aws-access-key-id");
    assert_eq!(finding.detector, Detector::Patterns);
    assert_redacted(&document);
}

#[test]
fn aws_key_in_utf16be_with_bom() {
    let document = aws_document(Order::Big, &with_bom(Order::Big));
    assert_found_in_utf16(&document, "aws-access-key-id");
    assert_redacted(&document);
}

/// `make`'s document in UTF-16LE without a byte order mark, inside binary
/// data, at an even and an odd offset.
fn assert_found_without_bom(make: fn(Order, &[u8]) -> Document, rule: &str) {
    for lead in [301, 302] {
        let mut document = make(Order::Little, &binary(lead, 7));
        document.bytes.extend(binary(257, 11));
        assert_found_in_utf16(&document, rule);
        assert_redacted(&document);
    }
}

#[test]
fn held_secret_in_utf16le_without_bom_inside_binary() {
    assert_found_without_bom(held_secret_document, "EGRESS_TOKEN_GITHUB");
}

#[test]
fn aws_key_in_utf16le_without_bom_inside_binary() {
    assert_found_without_bom(aws_document, "aws-access-key-id");
}

/// PowerShell's `-EncodedCommand` is base64 of UTF-16LE: two layers.
#[test]
fn aws_key_in_base64_of_utf16le() {
    let inner = utf16(
        &format!("$env:AWS_ACCESS_KEY_ID = '{}'; aws s3 ls", aws_key()),
        Order::Little,
    );
    let input = format!("powershell -EncodedCommand {}", STANDARD.encode(&inner));
    let findings = default_scanner().scan(input.as_bytes());
    assert!(
        findings
            .iter()
            .any(|finding| finding.rule == "aws-access-key-id"
                && finding.encoding.contains("UTF-16")
                && finding.encoding.ends_with("in base64")),
        "{findings:?}"
    );
}

/// Text with a few NUL bytes (C strings, a NUL-separated list, a stray
/// NUL) is not decoded as UTF-16: a secret in it is found raw, as usual,
/// and nothing is reported "in UTF-16".
#[test]
fn ascii_with_a_few_nul_bytes_is_not_utf16() {
    let inputs: Vec<Vec<u8>> = vec![
        format!("name\0value\0{TOKEN}\0other\0").into_bytes(),
        format!("a\0b\0c\0d\0e\0f\0g\0 then plain text {TOKEN} and more\0").into_bytes(),
        format!("usr/bin\0usr/lib\0etc\0 key={TOKEN}\n").into_bytes(),
        format!("{}\0{TOKEN}", "x".repeat(100)).into_bytes(),
    ];
    let scanner = default_scanner();
    for input in inputs {
        let findings = scanner.scan(&input);
        assert!(
            findings
                .iter()
                .any(|finding| finding.rule == "EGRESS_TOKEN_GITHUB" && finding.encoding == "raw"),
            "{findings:?}"
        );
        assert!(
            !findings
                .iter()
                .any(|finding| finding.encoding.contains("UTF-16")),
            "{findings:?}"
        );
    }
    // Fifteen code units in a row are too few without a BOM.
    let short = utf16("tk_Qm7ZpX2vR9sL", Order::Little);
    let mut input = binary(64, 3);
    input.extend(short);
    input.extend(binary(64, 5));
    let everything = scanner.scan(&input);
    assert!(
        !everything
            .iter()
            .any(|finding| finding.encoding.contains("UTF-16")),
        "{everything:?}"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Arbitrary bytes never panic, and every finding lies in the input.
    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
        let scanner = default_scanner();
        for finding in &scanner.scan(&input) {
            proptest::prop_assert!(finding.start <= finding.end && finding.end <= input.len(), "{finding:?}");
        }
        let _ = scanner.redact(&input);
    }

    /// UTF-16 pieces (either byte order, with or without a BOM, with
    /// surrogates, truncated at any byte) mixed with binary and text at any
    /// offset: no panic, every finding in the input, and redaction either
    /// scrubs everything or reports what is left.
    #[test]
    fn utf16_fragments_never_panic(
        pieces in proptest::collection::vec(
            (0usize..6, 0usize..80, proptest::num::u32::ANY, proptest::bool::ANY),
            0..8,
        ),
        cut in proptest::num::usize::ANY,
    ) {
        let texts = [TOKEN.to_string(), aws_key(), "𝄞 surrogate pair ☃ and text".to_string()];
        let mut input = Vec::new();
        for (kind, len, seed, big) in pieces {
            let order = if big { Order::Big } else { Order::Little };
            match kind {
                0 => input.extend(with_bom(order)),
                1 => input.extend(binary(len, seed)),
                2 => {
                    let text = &texts[seed as usize % texts.len()];
                    let mut bytes = utf16(text, order);
                    bytes.truncate(len.min(bytes.len()).max(bytes.len().saturating_sub(len % 3)));
                    input.extend(bytes);
                }
                3 => {
                    // Lone and reversed surrogates, odd trailing bytes.
                    let units: [u16; 4] = [0xd83d, 0xdc00, 0xdbff, 0x0041];
                    for index in 0..len {
                        let unit = units[(index + seed as usize) % units.len()];
                        input.extend(match order {
                            Order::Little => unit.to_le_bytes(),
                            Order::Big => unit.to_be_bytes(),
                        });
                    }
                    if seed % 2 == 1 {
                        input.push(0xd8);
                    }
                }
                4 => input.extend(format!("token {TOKEN} ").bytes()),
                _ => input.extend(std::iter::repeat_n(0u8, len % 5)),
            }
        }
        if !input.is_empty() {
            input.truncate(cut % (input.len() + 1));
        }
        let scanner = default_scanner();
        for finding in &scanner.scan(&input) {
            proptest::prop_assert!(finding.start <= finding.end && finding.end <= input.len(), "{finding:?}");
        }
        let redaction = scanner.redact(&input);
        if redaction.unredactable.is_empty() {
            let rescan = scanner.scan(&redaction.bytes);
            proptest::prop_assert!(
                !rescan.iter().any(|finding| finding.severity == bot_bottle_dlp::Severity::Block),
                "{rescan:?}"
            );
        }
    }
}
