//! Held secrets in the cheap one-call forms of the fifth audit: reversed,
//! ROT13, EBCDIC (code pages 037 and 500) and base58 (Bitcoin alphabet).
//! Each is found for a held token and the canary, raw and inside a JSON
//! string, with a span that covers exactly the bytes that carry it and a
//! redaction of exactly that span; a part of at least 12 characters of
//! the reversed and ROT13 forms is found too. The audit's reproducers are
//! spelt out here (the canary of `/tmp/audit5/env.sh`).

#![allow(clippy::expect_used, reason = "test setup panics on failure")]

use bot_bottle_dlp::{DetectorSet, Scanner};

mod support;
use support::exact::{Encoding, assert_found_by, findings_of, scanner_holding};

/// A held token (not a real credential).
const HELD: &str = "tk_Qm7ZpX2vR9sLw4NcB8yKd3JfH6gT1aEo";
const HELD_RULE: &str = "EGRESS_TOKEN_TEST";
/// The audit's canary (not a real credential).
const CANARY: &str = "canary_Q7w8E9r0T1y2U3i4O5p6A7s8D9f0";
const CANARY_RULE: &str = "EGRESS_TOKEN_CANARY";

fn scanner() -> Scanner {
    scanner_holding(
        &[(HELD_RULE, HELD), (CANARY_RULE, CANARY)],
        DetectorSet::default(),
    )
}

fn values() -> [(&'static str, &'static str); 2] {
    [(HELD, HELD_RULE), (CANARY, CANARY_RULE)]
}

fn rot13(text: &str) -> Vec<u8> {
    text.bytes()
        .map(|byte| match byte {
            b'a'..=b'z' => b'a' + (byte - b'a' + 13) % 26,
            b'A'..=b'Z' => b'A' + (byte - b'A' + 13) % 26,
            other => other,
        })
        .collect()
}

fn reversed(text: &str) -> Vec<u8> {
    text.bytes().rev().collect()
}

/// Base58, Bitcoin alphabet (a reference independent of the engine's).
fn base58(bytes: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut number: Vec<u8> = bytes.to_vec();
    let mut out = Vec::new();
    while number.iter().any(|&byte| byte != 0) {
        let mut remainder = 0u32;
        for byte in &mut number {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = (value / 58) as u8;
            remainder = value % 58;
        }
        out.push(ALPHABET[remainder as usize]);
    }
    let zeros = bytes.iter().take_while(|&&byte| byte == 0).count();
    out.extend(std::iter::repeat_n(b'1', zeros));
    out.reverse();
    out
}

/// EBCDIC of ASCII letters, digits and `_` (the same in 037 and 500).
fn ebcdic(text: &str) -> Vec<u8> {
    text.bytes()
        .map(|byte| match byte {
            b'a'..=b'i' => 0x81 + (byte - b'a'),
            b'j'..=b'r' => 0x91 + (byte - b'j'),
            b's'..=b'z' => 0xA2 + (byte - b's'),
            b'A'..=b'I' => 0xC1 + (byte - b'A'),
            b'J'..=b'R' => 0xD1 + (byte - b'J'),
            b'S'..=b'Z' => 0xE2 + (byte - b'S'),
            b'0'..=b'9' => 0xF0 + (byte - b'0'),
            b'_' => 0x6D,
            b'-' => 0x60,
            b' ' => 0x40,
            b'!' => 0x5A,
            other => panic!("no EBCDIC for {other:?} in this test"),
        })
        .collect()
}

/// EBCDIC code page 500: as [`ebcdic`], but `!` is 0x4F there.
fn ebcdic_500(text: &str) -> Vec<u8> {
    text.bytes()
        .flat_map(|byte| match byte {
            b'!' => vec![0x4F],
            other => ebcdic(&char::from(other).to_string()),
        })
        .collect()
}

/// One finding of `rule` in `input` whose encoding contains `encoding`,
/// spanning exactly `span`; redaction replaces exactly that span and the
/// redacted input has no finding of `rule`.
fn assert_found(input: &[u8], rule: &str, encoding: &str, span: (usize, usize)) {
    assert_found_by(&scanner(), input, rule, Encoding::Contains(encoding), span);
}

/// `encoded` in a JSON string as the audit sent it, and bare in a line of
/// text: each input and where `encoded` starts.
fn framings(encoded: &[u8]) -> Vec<(Vec<u8>, usize)> {
    let json = b"{\"note\": \"".to_vec();
    let text = b"note: ".to_vec();
    vec![
        ([json.as_slice(), encoded, b"\"}"].concat(), json.len()),
        ([text.as_slice(), encoded, b"\n"].concat(), text.len()),
        (encoded.to_vec(), 0),
    ]
}

#[test]
fn the_audit_reproducers_are_found() {
    let cases: [(&[u8], &str); 4] = [
        (b"0f9D8s7A6p5O4i3U2y1T0r9E8w7Q_yranac", "reversed"),
        (b"pnanel_D7j8R9e0G1l2H3v4B5c6N7f8Q9s0", "rot13"),
        (b"Av942Rzsx1p7uM2fTcpfpEXZJC1VWYmq89PvZMqRajRSTA6j", "base58"),
        (
            b"\x83\x81\x95\x81\x99\xa8\x6d\xd8\xf7\xa6\xf8\xc5\xf9\x99\xf0\xe3\xf1\xa8\xf2\xe4\xf3\x89\xf4\xd6\xf5\x97\xf6\xc1\xf7\xa2\xf8\xc4\xf9\x86\xf0",
            "EBCDIC",
        ),
    ];
    for (encoded, encoding) in cases {
        let input = [b"{\"note\": \"".as_slice(), encoded, b"\"}"].concat();
        assert_found(&input, CANARY_RULE, encoding, (10, 10 + encoded.len()));
    }
}

#[test]
fn reversed_secrets_are_found() {
    for (value, rule) in values() {
        for (input, at) in framings(&reversed(value)) {
            assert_found(&input, rule, "reversed", (at, at + value.len()));
        }
    }
}

#[test]
fn rot13_secrets_are_found() {
    for (value, rule) in values() {
        for (input, at) in framings(&rot13(value)) {
            assert_found(&input, rule, "rot13", (at, at + value.len()));
        }
    }
}

#[test]
fn part_of_a_reversed_or_rot13_secret_is_found() {
    for (value, rule) in values() {
        for encoded in [reversed(value), rot13(value)] {
            let part = &encoded[9..9 + 14];
            for (input, at) in framings(part) {
                assert_found(&input, rule, "partial", (at, at + part.len()));
            }
        }
    }
}

#[test]
fn base58_secrets_are_found() {
    for (value, rule) in values() {
        let encoded = base58(value.as_bytes());
        for (input, at) in framings(&encoded) {
            assert_found(&input, rule, "base58", (at, at + encoded.len()));
        }
    }
}

#[test]
fn ebcdic_secrets_are_found_in_both_code_pages() {
    for (value, rule) in values() {
        for encoded in [ebcdic(value), ebcdic_500(value)] {
            for (input, at) in framings(&encoded) {
                assert_found(&input, rule, "raw in EBCDIC", (at, at + encoded.len()));
            }
        }
    }
}

#[test]
fn a_secret_with_a_byte_where_the_code_pages_differ_is_found_in_each() {
    let value = "Zx9!kQ2mW7pR4tY8vB3n";
    let scanner = scanner_holding(&[(HELD_RULE, value)], DetectorSet::default());
    for encoded in [ebcdic(value), ebcdic_500(value)] {
        let input = [b"note: ".as_slice(), &encoded, b"\n"].concat();
        let findings = findings_of(&scanner, &input, HELD_RULE);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].encoding, "raw in EBCDIC");
        assert_eq!((findings[0].start, findings[0].end), (6, 6 + encoded.len()));
    }
}

#[test]
fn a_credential_shape_in_ebcdic_is_found() {
    let token = ["gh", "p_", "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAB7C"].concat();
    let encoded = ebcdic(&token);
    let input = [b"{\"note\": \"".as_slice(), &encoded, b"\"}"].concat();
    assert_found(
        &input,
        "github-pat-classic",
        "EBCDIC",
        (10, 10 + encoded.len()),
    );
}

#[test]
fn ebcdic_text_and_non_latin_utf8_are_clean() {
    let scanner = scanner();
    let prose = ebcdic("The quick brown fox jumps over the lazy dog 0123456789 ");
    assert!(scanner.scan(&prose.repeat(50)).is_empty());
    let utf8 = "Съешь же ещё этих мягких французских булок, да выпей чаю. \
                我能吞下玻璃而不伤身体。 ἐδύνατο δέ τις τῶν ἐκεῖ. مرحبا بالعالم "
        .repeat(200);
    assert!(scanner.scan(utf8.as_bytes()).is_empty());
}
