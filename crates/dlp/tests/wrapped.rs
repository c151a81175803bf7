//! Blobs wrapped into lines (`base64`, Python's `base64.encodebytes`, MIME,
//! PEM, `xxd -p`): a run of blob alphabet broken only by line breaks is
//! decoded as one blob, findings map back into the input across the breaks
//! and redaction scrubs them.

#![allow(clippy::expect_used, reason = "test setup panics on failure")]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bot_bottle_dlp::{
    DECODE_BUDGET_RULE, Detector, DetectorSet, Finding, HeldSecret, Scanner, ScannerConfig,
};

const TOKEN: &str = "tk_Qm7ZpX2vR9sLw4NcB8yKd3JfH6gT1aEo";

fn scanner(detectors: DetectorSet) -> Scanner {
    Scanner::new(ScannerConfig {
        held: vec![HeldSecret::new("EGRESS_TOKEN_FUZZ", TOKEN)],
        detectors,
        ..ScannerConfig::default()
    })
    .expect("scanner builds")
}

fn patterns() -> Scanner {
    scanner(DetectorSet::empty().with(Detector::Patterns))
}

fn github_token() -> String {
    ["gh", "p_", "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAB7C"].concat()
}

/// The plaintext of the bug report: the token starts at byte 43, so its
/// base64 straddles the first break of 76-character lines.
fn plaintext() -> Vec<u8> {
    let mut text = vec![b'x'; 37];
    text.extend_from_slice(b"token ");
    text.extend_from_slice(github_token().as_bytes());
    text.push(b'\n');
    text.extend_from_slice(&[b'y'; 30]);
    text
}

/// `encoded` cut into lines of `width` joined by `newline`, each line
/// prefixed by `indent`, a final newline after the last.
fn wrap(encoded: &[u8], width: usize, newline: &str, indent: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in encoded.chunks(width) {
        out.extend_from_slice(indent.as_bytes());
        out.extend_from_slice(line);
        out.extend_from_slice(newline.as_bytes());
    }
    out
}

fn hex(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .flat_map(|byte| format!("{byte:02x}").into_bytes())
        .collect()
}

fn base32(bytes: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::new();
    let (mut accumulator, mut held) = (0u32, 0u32);
    for &byte in bytes {
        accumulator = (accumulator << 8) | u32::from(byte);
        held += 8;
        while held >= 5 {
            held -= 5;
            out.push(ALPHABET[((accumulator >> held) & 31) as usize]);
        }
        accumulator &= (1 << held) - 1;
    }
    if held > 0 {
        out.push(ALPHABET[((accumulator << (5 - held)) & 31) as usize]);
    }
    while out.len() % 8 != 0 {
        out.push(b'=');
    }
    out
}

fn github_findings(scanner: &Scanner, input: &[u8]) -> Vec<Finding> {
    scanner
        .scan(input)
        .into_vec()
        .into_iter()
        .filter(|finding| finding.rule == "github-pat-classic")
        .collect()
}

/// The input offsets of the encoded characters `chars` (a range of the
/// encoding with the line structure removed) in `input`: the offsets of
/// the alphabet and padding bytes, in order.
fn char_offsets(input: &[u8]) -> Vec<usize> {
    input
        .iter()
        .enumerate()
        .filter(|(_, byte)| byte.is_ascii_alphanumeric() || b"+/=-_".contains(byte))
        .map(|(index, _)| index)
        .collect()
}

/// Asserts one `github-pat-classic` finding whose encoding names `layer`
/// and whose span is exactly the encoded characters carrying the token's
/// bits (`bits` per character): from the character holding its first bit
/// to the one holding its last.
fn assert_token_found(input: &[u8], layer: &str, bits: usize) {
    assert_token_found_after(input, 0, layer, bits);
}

/// [`assert_token_found`] for an encoding that starts at `body` in `input`.
fn assert_token_found_after(input: &[u8], body: usize, layer: &str, bits: usize) {
    let findings = github_findings(&patterns(), input);
    assert_eq!(
        findings.len(),
        1,
        "{findings:?} in {:?}",
        String::from_utf8_lossy(input)
    );
    let finding = &findings[0];
    assert!(
        finding.encoding.ends_with(&format!("in {layer}")),
        "{}",
        finding.encoding
    );
    let token_at = 43;
    let token_end = token_at + github_token().len();
    let offsets: Vec<usize> = char_offsets(&input[body..])
        .into_iter()
        .map(|offset| offset + body)
        .collect();
    let first = offsets[8 * token_at / bits];
    let last = offsets[(8 * token_end).div_ceil(bits) - 1] + 1;
    assert_eq!(
        (finding.start, finding.end),
        (first, last),
        "{:?}",
        String::from_utf8_lossy(&input[finding.start..finding.end])
    );
}

#[test]
fn unwrapped_base64_is_found_as_before() {
    let encoded = STANDARD.encode(plaintext());
    assert_token_found(encoded.as_bytes(), "base64", 6);
}

#[test]
fn base64_wrapped_at_76_straddling_a_break_is_found() {
    let input = wrap(STANDARD.encode(plaintext()).as_bytes(), 76, "\n", "");
    let findings = github_findings(&patterns(), &input);
    assert_eq!(findings.len(), 1, "{findings:?}");
    // The token's characters straddle the first line break.
    assert!(findings[0].start < 76 && findings[0].end > 77);
    assert_token_found(&input, "base64", 6);
}

#[test]
fn base64_wrapped_at_16_is_found() {
    let input = wrap(STANDARD.encode(plaintext()).as_bytes(), 16, "\n", "");
    assert_token_found(&input, "base64", 6);
}

#[test]
fn base64_wrapped_at_16_with_crlf_is_found() {
    let input = wrap(STANDARD.encode(plaintext()).as_bytes(), 16, "\r\n", "");
    assert_token_found(&input, "base64", 6);
}

#[test]
fn base64_wrapped_at_any_width_is_found() {
    let encoded = STANDARD.encode(plaintext());
    for width in [1, 3, 4, 5, 7, 23, 24, 25, 57, 60, 64, 76, 100] {
        for newline in ["\n", "\r\n"] {
            let input = wrap(encoded.as_bytes(), width, newline, "");
            let findings = github_findings(&patterns(), &input);
            assert_eq!(findings.len(), 1, "width {width}: {findings:?}");
        }
    }
}

#[test]
fn an_indented_pem_style_block_is_found() {
    let body = wrap(STANDARD.encode(plaintext()).as_bytes(), 64, "\n", "    ");
    let mut input = b"key: |\n    -----BEGIN OPENSSH PRIVATE KEY-----\n".to_vec();
    input.extend_from_slice(&body);
    input.extend_from_slice(b"    -----END OPENSSH PRIVATE KEY-----\n");
    assert_token_found_after(&input, 47, "base64", 6);
    // Tabs and trailing blanks too.
    let body = wrap(STANDARD.encode(plaintext()).as_bytes(), 64, " \t\r\n", "\t");
    assert_token_found(&body, "base64", 6);
}

/// A MIME part: the boundary line (URL-safe alphabet's `-`) right after
/// the last line and a header line before the blank line must not spoil
/// the body's decoding.
#[test]
fn a_mime_part_is_found_whatever_follows_it() {
    // A length that is a multiple of 3: no padding ends the last line.
    let mut text = plaintext();
    text.truncate(text.len() / 3 * 3);
    let head = b"--b1\r\nContent-Transfer-Encoding: base64\r\n\r\n";
    let mut input = head.to_vec();
    input.extend_from_slice(&wrap(STANDARD.encode(&text).as_bytes(), 76, "\r\n", ""));
    input.extend_from_slice(b"--b1--\r\n");
    assert_token_found_after(&input, head.len(), "base64", 6);
    // A one-word line right above the body.
    let mut input = b"Attachment\n".to_vec();
    input.extend_from_slice(&wrap(STANDARD.encode(&text).as_bytes(), 76, "\n", ""));
    assert_token_found_after(&input, 11, "base64", 6);
}

#[test]
fn hex_wrapped_as_xxd_writes_it_is_found() {
    let input = wrap(&hex(&plaintext()), 60, "\n", "");
    assert_token_found(&input, "hex", 4);
    let input = wrap(&hex(&plaintext()), 16, "\r\n", "");
    assert_token_found(&input, "hex", 4);
}

#[test]
fn base32_wrapped_is_found() {
    let input = wrap(&base32(&plaintext()), 76, "\n", "");
    assert_token_found(&input, "base32", 5);
    let input = wrap(&base32(&plaintext()), 16, "\n", "");
    assert_token_found(&input, "base32", 5);
}

#[test]
fn a_held_secret_in_base64_of_base64_wrapped_at_16_is_found() {
    let known = scanner(DetectorSet::empty().with(Detector::Known));
    let mut text = b"export EGRESS_TOKEN=".to_vec();
    text.extend_from_slice(TOKEN.as_bytes());
    text.extend_from_slice(b"\n# end of file\n");
    let inner = wrap(STANDARD.encode(&text).as_bytes(), 16, "\n", "");
    let input = wrap(STANDARD.encode(&inner).as_bytes(), 16, "\n", "");
    let findings = known.scan(&input).into_vec();
    assert!(
        findings
            .iter()
            .any(|finding| finding.rule == "EGRESS_TOKEN_FUZZ"
                && finding.encoding.ends_with("in base64")),
        "{findings:?}"
    );
}

#[test]
fn redacting_a_wrapped_finding_scrubs_both_lines() {
    let scanner = scanner(DetectorSet::default());
    for (width, newline) in [(76, "\n"), (16, "\n"), (16, "\r\n"), (5, "\n")] {
        let input = wrap(STANDARD.encode(plaintext()).as_bytes(), width, newline, "");
        let findings = github_findings(&scanner, &input);
        assert_eq!(findings.len(), 1, "{findings:?}");
        let (start, end) = (findings[0].start, findings[0].end);
        assert!(
            input[start..end].contains(&b'\n'),
            "the span crosses a break"
        );
        let redaction = scanner.redact(&input);
        assert!(
            redaction.unredactable.is_empty(),
            "{:?}",
            redaction.unredactable
        );
        assert!(!scanner.scan(&redaction.bytes).blocks());
        // Everything before and after the span is kept.
        assert!(redaction.bytes.starts_with(&input[..start]));
        assert!(redaction.bytes.ends_with(&input[end..]));
    }
}

/// Prose, code and word lists with many short lines: nothing found, and the
/// decoding stays well within the budget.
#[test]
fn prose_with_many_short_lines_is_clean() {
    let scanner = scanner(DetectorSet::default());
    let mut input = Vec::new();
    let words = [
        "hello", "world", "alpha", "bravo", "Delta", "ECHO", "golf", "x", "fn", "main", "else",
        "done", "Cargo", "toml", "a1b2c3", "Zz9",
    ];
    for index in 0..20_000 {
        input.extend_from_slice(words[index % words.len()].as_bytes());
        input.push(b'\n');
        if index % 7 == 0 {
            input.extend_from_slice(b"The quick brown fox jumps over the lazy dog.\n");
        }
        if index % 11 == 0 {
            input.extend_from_slice(b"  let value = compute(x, y);\r\n");
        }
    }
    let findings = scanner.scan(&input);
    assert!(findings.is_empty(), "{findings:?}");
    // The same words one per line with equal widths (the worst case for
    // joining): still clean and within the budget.
    let mut input = Vec::new();
    for index in 0..50_000usize {
        input.extend_from_slice(format!("Word{:04}\n", index % 10_000).as_bytes());
    }
    let findings = scanner.scan(&input);
    assert!(
        !findings
            .iter()
            .any(|finding| finding.rule == DECODE_BUDGET_RULE),
        "{findings:?}"
    );
    assert!(findings.is_empty(), "{findings:?}");
}

/// A wrapped blob pasted into a JSON string: its line breaks are `\n`
/// escapes (as `json.dumps` writes a PEM file's text).
#[test]
fn base64_wrapped_in_a_json_string_is_found() {
    let body = wrap(STANDARD.encode(plaintext()).as_bytes(), 64, "\n", "");
    let text = [
        b"-----BEGIN CERTIFICATE-----\n".as_slice(),
        &body,
        b"-----END CERTIFICATE-----\n",
    ]
    .concat();
    for newline in ["\\n", "\\r\\n"] {
        let escaped = String::from_utf8_lossy(&text).replace('\n', newline);
        let input = format!(r#"{{"role":"tool","content":"{escaped}"}}"#);
        let body_start = input.find("CERTIFICATE-----").expect("header") + 16 + newline.len();
        // The escapes' `n`s are alphabet: skip them when counting.
        let findings = github_findings(&patterns(), input.as_bytes());
        assert_eq!(findings.len(), 1, "{findings:?}");
        let spanned = &input.as_bytes()[findings[0].start..findings[0].end];
        assert!(findings[0].start > body_start);
        assert!(
            spanned.windows(2).any(|pair| pair == b"\\n"),
            "crosses a break"
        );
        let scanner = scanner(DetectorSet::default());
        let redaction = scanner.redact(input.as_bytes());
        assert!(redaction.unredactable.is_empty());
        assert!(!scanner.scan(&redaction.bytes).blocks());
    }
}
