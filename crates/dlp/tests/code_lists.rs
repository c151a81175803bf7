//! Character codes: a held secret, the canary or a credential shape spelt
//! as a list of byte values (a JSON or Python list, `bytes([…])`,
//! `String.fromCharCode(…)`, `new Uint8Array([…])`, `od -An -tu1` output,
//! decimal or `0x` hex) or as octal escapes (`\147\150…`, as printf, bash,
//! Python and C write them) is decoded and found; the finding's span runs
//! from the first number (or escape) that carries it to the last, and
//! redaction replaces exactly that. A code list in base64 is found a layer
//! deeper. Ordinary numbers (arrays of ids, coordinates, timestamps,
//! floats, short lists, Windows paths) are clean and cost little.

#![allow(clippy::expect_used, reason = "test setup panics on failure")]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bot_bottle_dlp::{DetectorSet, Scanner};

mod support;
use support::exact::{
    Encoding, GITHUB_RULE, assert_found_by, findings_of, github_token, scanner_holding,
};

/// A held token (not a real credential).
const HELD: &str = "tk_Qm7ZpX2vR9sLw4NcB8yKd3JfH6gT1aEo";
const HELD_RULE: &str = "EGRESS_TOKEN_TEST";
/// The audit's canary (not a real credential).
const CANARY: &str = "canary_Q7w8E9r0T1y2U3i4O5p6A7s8D9f0";
const CANARY_RULE: &str = "EGRESS_TOKEN_CANARY";

fn values() -> Vec<(String, &'static str)> {
    vec![
        (HELD.to_string(), HELD_RULE),
        (CANARY.to_string(), CANARY_RULE),
        (github_token(), GITHUB_RULE),
    ]
}

fn scanner() -> Scanner {
    scanner_holding(
        &[(HELD_RULE, HELD), (CANARY_RULE, CANARY)],
        DetectorSet::default(),
    )
}

/// Encoded text and where the encoding of the value starts and ends in it.
struct Encoded {
    text: String,
    span: (usize, usize),
}

/// `value`'s bytes written by `each` and joined by `separator`, between
/// `open` and `close`.
fn list(value: &str, open: &str, each: fn(u8) -> String, separator: &str, close: &str) -> Encoded {
    let body = value.bytes().map(each).collect::<Vec<_>>().join(separator);
    let blanks = body.len() - body.trim_start().len();
    Encoded {
        text: format!("{open}{body}{close}"),
        span: (open.len() + blanks, open.len() + body.len()),
    }
}

fn decimal(byte: u8) -> String {
    byte.to_string()
}

fn hex(byte: u8) -> String {
    format!("0x{byte:02x}")
}

fn hex_upper(byte: u8) -> String {
    format!("0x{byte:02X}")
}

fn octal(byte: u8) -> String {
    format!("\\{byte:03o}")
}

/// `od -An -tu1` style: right-aligned in four columns.
fn od(byte: u8) -> String {
    format!("{byte:>3}")
}

/// Every dress a code list comes in.
fn dresses(value: &str) -> Vec<Encoded> {
    vec![
        list(value, "[", decimal, ", ", "]"),
        list(value, "String.fromCharCode(", decimal, ",", ")"),
        list(value, "bytes([", decimal, ", ", "])"),
        list(value, "bytes([", hex, ", ", "])"),
        list(value, "new Uint8Array([", hex_upper, ",", "])"),
        list(value, "(", decimal, " , ", ")"),
        list(value, "", decimal, " ", ""),
        list(value, "", od, " ", "\n"),
        list(value, "[\n  ", decimal, ",\n  ", "\n]"),
        list(value, "", hex, " ", ""),
    ]
}

/// One finding of `rule` in `input` whose encoding contains `encoding`,
/// spanning exactly `span`; redaction replaces exactly that span and the
/// redacted input has no finding of `rule`.
fn assert_found(input: &[u8], rule: &str, encoding: &str, span: (usize, usize)) {
    assert_found_by(&scanner(), input, rule, Encoding::Contains(encoding), span);
}

/// `encoded` in a JSON string and in a line of code: each input and the
/// offset of `encoded` in it.
fn framed(encoded: &Encoded) -> Vec<(Vec<u8>, usize)> {
    let json = "{\"note\": \"";
    let code = "const s = ";
    vec![
        (
            format!("{json}{}\"}}", encoded.text).into_bytes(),
            json.len(),
        ),
        (
            format!("{code}{};\n", encoded.text).into_bytes(),
            code.len(),
        ),
    ]
}

#[test]
fn the_audit_reproducers_are_found() {
    let decimal_list = b"{\"note\": \"[99, 97, 110, 97, 114, 121, 95, 81, 55, 119, 56, 69, 57, 114, 48, 84, 49, 121, 50, 85, 51, 105, 52, 79, 53, 112, 54, 65, 55, 115, 56, 68, 57, 102, 48]\"}";
    assert_found(
        decimal_list,
        CANARY_RULE,
        "character codes",
        (11, decimal_list.len() - 3),
    );
    let from_char_code = b"{\"note\": \"String.fromCharCode(99,97,110,97,114,121,95,81,55,119,56,69,57,114,48,84,49,121,50,85,51,105,52,79,53,112,54,65,55,115,56,68,57,102,48)\"}";
    assert_found(
        from_char_code,
        CANARY_RULE,
        "character codes",
        (30, from_char_code.len() - 3),
    );
}

#[test]
fn code_lists_in_every_dress_are_found() {
    for (value, rule) in values() {
        for encoded in dresses(&value) {
            for (input, at) in framed(&encoded) {
                assert_found(
                    &input,
                    rule,
                    "raw in character codes",
                    (at + encoded.span.0, at + encoded.span.1),
                );
            }
        }
    }
}

#[test]
fn a_github_token_as_a_decimal_list_and_as_from_char_code_is_found() {
    let token = github_token();
    for encoded in [
        list(&token, "[", decimal, ", ", "]"),
        list(&token, "String.fromCharCode(", decimal, ",", ")"),
    ] {
        let input = format!("x = {};", encoded.text).into_bytes();
        assert_found(
            &input,
            GITHUB_RULE,
            "raw in character codes",
            (4 + encoded.span.0, 4 + encoded.span.1),
        );
    }
}

#[test]
fn octal_escapes_are_found() {
    for (value, rule) in values() {
        let escaped = list(&value, "", octal, "", "");
        for encoded in [
            Encoded {
                text: format!("printf '{}'", escaped.text),
                span: (8, 8 + escaped.text.len()),
            },
            Encoded {
                text: format!("$'{}'", escaped.text),
                span: (2, 2 + escaped.text.len()),
            },
        ] {
            let input = format!("run: {}\n", encoded.text).into_bytes();
            assert_found(
                &input,
                rule,
                "raw in JSON escapes",
                (5 + encoded.span.0, 5 + encoded.span.1),
            );
        }
        // Inside a JSON string every backslash is doubled.
        let doubled = escaped.text.replace('\\', "\\\\");
        let input = format!("{{\"cmd\": \"printf '{doubled}'\"}}").into_bytes();
        let at = "{\"cmd\": \"printf '".len();
        assert_found(&input, rule, "JSON escapes", (at, at + doubled.len()));
    }
}

#[test]
fn a_code_list_in_base64_is_found() {
    for (value, rule) in values() {
        let encoded = list(&value, "[", decimal, ", ", "]");
        let blob = STANDARD.encode(encoded.text.as_bytes());
        let input = format!("{{\"data\": \"{blob}\"}}").into_bytes();
        let at = "{\"data\": \"".len();
        // The span covers the base64 characters carrying the list's numbers.
        let findings = findings_of(&scanner(), &input, rule);
        assert_eq!(findings.len(), 1, "{rule}: {findings:?}");
        let finding = &findings[0];
        assert!(
            finding.encoding.ends_with("in character codes in base64"),
            "{}",
            finding.encoding
        );
        assert!(
            finding.start >= at && finding.end <= at + blob.len(),
            "{finding:?} in {at}..{}",
            at + blob.len()
        );
        assert!(
            finding.start <= at + 1 && finding.end >= at + blob.len() - 4,
            "{finding:?} in {at}..{}",
            at + blob.len()
        );
        let redaction = scanner().redact(&input);
        assert!(findings_of(&scanner(), &redaction.bytes, rule).is_empty());
    }
}

#[test]
fn ordinary_numbers_are_clean() {
    let scanner = scanner();
    let mut body = String::from("{\"items\": [");
    for index in 0..2000u32 {
        body.push_str(&format!(
            "{{\"id\": {}, \"pos\": [{}, {}], \"rgb\": [{}, {}, {}], \"ts\": {}, \"tags\": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], \"scores\": [0.{index}, 1.5, 2.25, 3.125, 4.5, 5.5, 6.5, 7.5, 8.5], \"tokens\": [101, {}, 2003, 1037, 3793, 4937, 2003, 102]}},",
            index * 7919,
            index % 640,
            index % 480,
            index % 256,
            (index * 3) % 256,
            (index * 7) % 256,
            1_700_000_000 + index,
            2000 + index,
        ));
    }
    body.push_str("]}");
    let started = std::time::Instant::now();
    let findings = scanner.scan(body.as_bytes());
    assert!(findings.is_empty(), "{findings:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    for text in [
        "C:\\100\\200\\300\\files and \\1\\2\\3\\4 back-references",
        "matrix = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]",
        "  10  20  30  40  50  60  70  80  90 100 110 120 130 140 150 160",
        "0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a",
        "2024-01-01 12:00:00 INFO took 12 ms, 3 retries, 0 errors, 255 max",
    ] {
        assert!(scanner.scan(text.as_bytes()).is_empty(), "{text}");
    }
}

#[test]
fn values_over_255_stop_the_run() {
    // The canary's codes with a value over 255 after every seventh: no run
    // of eight codes, no finding.
    let scanner = scanner();
    let codes: Vec<String> = CANARY
        .bytes()
        .enumerate()
        .flat_map(|(index, byte)| {
            let mut out = vec![byte.to_string()];
            if index % 7 == 6 {
                out.push("1000".to_string());
            }
            out
        })
        .collect();
    let input = format!("[{}]", codes.join(", "));
    assert!(
        findings_of(&scanner, input.as_bytes(), CANARY_RULE).is_empty(),
        "{input}"
    );
}
