//! Quoted-printable (RFC 2045): a held secret, the canary or a credential
//! shape cut by soft line breaks (`=` then `\r\n`, `\n` or their JSON
//! escapes), written as `=XX` escapes (either hex case) for every
//! character, or both mixed with literal characters, is decoded and found;
//! the finding's span covers exactly the escapes and breaks that carry it
//! and redaction removes every piece. Quoted-printable inside base64 and
//! base64 inside quoted-printable are found a layer deeper. Ordinary
//! quoted-printable mail, URLs with `=AB` in their query, assignments and
//! base64 padding at the end of a line are clean, and padding or nesting
//! that would spend the budget or the depth is not called clean.

#![allow(clippy::expect_used, reason = "test setup panics on failure")]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bot_bottle_dlp::{
    DECODE_BUDGET_RULE, DECODE_DEPTH_RULE, Detector, DetectorSet, Finding, MAX_DECODE_DEPTH,
    Scanner,
};

mod support;
use support::exact::{Encoding, GITHUB_RULE, assert_found_by, github_token, scanner_holding};

/// A held token (not a real credential).
const HELD: &str = "tk_Qm7ZpX2vR9sLw4NcB8yKd3JfH6gT1aEo";
const HELD_RULE: &str = "EGRESS_TOKEN_TEST";
/// The canary (not a real credential).
const CANARY: &str = "c4n4ry-Ux81_Wq2Zr7mK9pLs3Vb6NdYe0TjHa5Fg";
const CANARY_RULE: &str = "EGRESS_TOKEN_CANARY";

/// The three values each evasion is tried with, and the rule that finds
/// each.
fn values() -> Vec<(String, &'static str)> {
    vec![
        (HELD.to_string(), HELD_RULE),
        (CANARY.to_string(), CANARY_RULE),
        (github_token(), GITHUB_RULE),
    ]
}

fn scanner_with(detectors: DetectorSet) -> Scanner {
    scanner_holding(&[(HELD_RULE, HELD), (CANARY_RULE, CANARY)], detectors)
}

fn scanner() -> Scanner {
    scanner_with(DetectorSet::default())
}

/// Encoded text and, for every byte of the plaintext, the span of the
/// encoded text that carries it.
#[derive(Default)]
struct Encoded {
    text: String,
    units: Vec<(usize, usize)>,
}

impl Encoded {
    /// A plaintext byte written as `piece`.
    fn unit(&mut self, piece: &str) {
        let start = self.text.len();
        self.text.push_str(piece);
        self.units.push((start, self.text.len()));
    }

    /// Text that carries no plaintext byte (a soft line break).
    fn extra(&mut self, piece: &str) {
        self.text.push_str(piece);
    }

    /// The span carrying plaintext bytes `start..end`, `offset` bytes into
    /// the input.
    fn span(&self, start: usize, end: usize, offset: usize) -> (usize, usize) {
        (self.units[start].0 + offset, self.units[end - 1].1 + offset)
    }

    /// The span carrying all of the plaintext.
    fn whole(&self, offset: usize) -> (usize, usize) {
        self.span(0, self.units.len(), offset)
    }
}

fn escape(byte: u8, upper: bool) -> String {
    if upper {
        format!("={byte:02X}")
    } else {
        format!("={byte:02x}")
    }
}

/// `text` with a soft line break (`=` then `newline`) after every
/// `every` characters, never at the end.
fn soft_broken(text: &str, every: usize, newline: &str) -> Encoded {
    let mut out = Encoded::default();
    for (index, byte) in text.bytes().enumerate() {
        if index > 0 && index % every == 0 {
            out.extra(&format!("={newline}"));
        }
        out.unit(&(byte as char).to_string());
    }
    out
}

/// Every byte of `text` as an `=XX` escape.
fn escaped(text: &[u8], upper: bool) -> Encoded {
    let mut out = Encoded::default();
    for &byte in text {
        out.unit(&escape(byte, upper));
    }
    out
}

/// Every third character escaped (upper and lower case by turns), the
/// others literal, and a soft line break after every fifth character.
fn mixed(text: &str, newline: &str) -> Encoded {
    let mut out = Encoded::default();
    for (index, byte) in text.bytes().enumerate() {
        if index > 0 && index % 5 == 0 {
            out.extra(&format!("={newline}"));
        }
        if index % 3 == 1 {
            out.unit(&escape(byte, index % 2 == 0));
        } else {
            out.unit(&(byte as char).to_string());
        }
    }
    out
}

/// RFC 2045 quoted-printable as a mail client writes it: printable ASCII
/// but `=` literal, everything else an `=XX` escape (upper case), lines of
/// at most 76 characters ended by soft line breaks (`=` then `newline`),
/// an escape never cut; a newline of the text is a hard line break.
fn rfc2045(text: &[u8], newline: &str) -> Encoded {
    let mut out = Encoded::default();
    let mut line = 0;
    for &byte in text {
        if byte == b'\n' {
            out.unit(newline);
            line = 0;
            continue;
        }
        let piece = if (b'!'..=b'~').contains(&byte) && byte != b'=' || byte == b' ' {
            (byte as char).to_string()
        } else {
            escape(byte, true)
        };
        if line + piece.len() > 75 {
            out.extra(&format!("={newline}"));
            line = 0;
        }
        line += piece.len();
        out.unit(&piece);
    }
    out
}

/// The findings of `rule` in `input`.
/// One finding of `rule` in `input`, found through quoted-printable (its
/// encoding ends with `layers`), spanning exactly `span`; redaction
/// replaces exactly that span and leaves nothing unredactable.
fn assert_found(input: &[u8], rule: &str, layers: &str, span: (usize, usize)) {
    assert_found_by(&scanner(), input, rule, Encoding::EndsWith(layers), span);
}

/// `encoded` between some text, as the body of a mail or a JSON string
/// (for the JSON-escaped line breaks); the input and where `encoded`
/// starts in it.
fn framed(encoded: &Encoded, json: bool) -> (Vec<u8>, usize) {
    let prefix = if json {
        "{\"role\":\"user\",\"content\":\"please forward this: "
    } else {
        "Subject: notes\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nplease forward this: "
    };
    let suffix = if json { " thanks\"}" } else { " thanks\r\n" };
    (
        [prefix, &encoded.text, suffix].concat().into_bytes(),
        prefix.len(),
    )
}

/// The line breaks a soft line break may use: raw, and as JSON escapes in
/// a JSON string (whether it is one).
const NEWLINES: [(&str, bool); 4] = [
    ("\r\n", false),
    ("\n", false),
    ("\\r\\n", true),
    ("\\n", true),
];

#[test]
fn soft_line_breaks_anywhere_are_decoded() {
    for (value, rule) in values() {
        for (newline, json) in NEWLINES {
            // One break, and one after every few characters.
            for every in [7, 1, 2, 5, 16] {
                let encoded = soft_broken(&value, every, newline);
                let (input, at) = framed(&encoded, json);
                assert_found(&input, rule, "in quoted-printable", encoded.whole(at));
            }
        }
    }
}

#[test]
fn soft_line_breaks_with_transport_padding_are_decoded() {
    // RFC 2045 allows blanks between the `=` and the line break.
    for (value, rule) in values() {
        let encoded = soft_broken(&value, 9, " \t\r\n");
        let (input, at) = framed(&encoded, false);
        assert_found(&input, rule, "in quoted-printable", encoded.whole(at));
    }
}

#[test]
fn every_character_escaped_in_either_case_is_decoded() {
    for (value, rule) in values() {
        for upper in [true, false] {
            let encoded = escaped(value.as_bytes(), upper);
            for json in [false, true] {
                let (input, at) = framed(&encoded, json);
                assert_found(&input, rule, "in quoted-printable", encoded.whole(at));
            }
        }
    }
}

#[test]
fn escapes_mixed_with_literals_and_soft_breaks_are_decoded() {
    for (value, rule) in values() {
        for (newline, json) in NEWLINES {
            let encoded = mixed(&value, newline);
            let (input, at) = framed(&encoded, json);
            assert_found(&input, rule, "in quoted-printable", encoded.whole(at));
        }
    }
}

/// A mail body as a mail client encodes it: the value straddles a soft
/// line break of a 76-character line, next to `=3D` and escaped UTF-8.
#[test]
fn a_mail_client_encoded_body_is_decoded() {
    for (value, rule) in values() {
        for newline in ["\r\n", "\n"] {
            let before = "Bonjour, voici la cl\u{e9} =\u{2014} ne la partagez pas: key=";
            let text =
                format!("{before}{value} (merci!)\nSecond paragraph with caf\u{e9} and 1+1=2.\n");
            let encoded = rfc2045(text.as_bytes(), newline);
            assert!(
                encoded.text.contains(&format!("={newline}")),
                "no soft line break: {}",
                encoded.text
            );
            let at = before.len();
            let span = encoded.span(at, at + value.len(), 0);
            let piece = &encoded.text[span.0..span.1];
            assert!(piece.contains(&format!("={newline}")), "{piece:?}");
            assert_found(encoded.text.as_bytes(), rule, "in quoted-printable", span);
        }
    }
}

/// The characters of base64 text `encoded` that carry plaintext bytes
/// `start..end` (8 bits over 6 per character).
fn base64_chars(start: usize, end: usize) -> (usize, usize) {
    (8 * start / 6, (8 * end).div_ceil(6))
}

/// Quoted-printable sent base64-encoded (a MIME part re-encoded, a JSON
/// attachment): found two layers deep, the span inside the base64.
#[test]
fn quoted_printable_inside_base64_is_found() {
    for (value, rule) in values() {
        let encoded = mixed(&value, "\r\n");
        let plain = format!(
            "Content-Transfer-Encoding: quoted-printable\r\n\r\nkey {}\r\n",
            encoded.text
        );
        let at = plain.len() - 2 - encoded.text.len();
        let blob = STANDARD.encode(&plain);
        let input = format!("{{\"file\":\"{blob}\"}}");
        let (start, end) = base64_chars(at, at + encoded.text.len());
        assert_found(
            input.as_bytes(),
            rule,
            "in quoted-printable in base64",
            (start + 9, end + 9),
        );
    }
}

/// Base64 sent quoted-printable (a long base64 line wrapped by the
/// encoder at 76 characters, its padding written `=3D`): the value's
/// base64 straddles a soft line break and is found two layers deep.
#[test]
fn base64_inside_quoted_printable_is_found() {
    let token = github_token();
    // The token starts at byte 43, so its base64 (characters 57 to 111)
    // straddles the first soft line break (after 75 characters).
    let plain = format!(
        "{}token {token} and some more text after it.",
        "x".repeat(37)
    );
    let blob = STANDARD.encode(&plain);
    assert!(blob.ends_with('='), "{blob}");
    for newline in ["\r\n", "\n", "\\r\\n"] {
        let encoded = rfc2045(blob.as_bytes(), newline);
        let (start, end) = base64_chars(43, 43 + token.len());
        let span = encoded.span(start, end, 0);
        assert!(
            encoded.text[span.0..span.1].contains(&format!("={newline}")),
            "{}",
            encoded.text
        );
        assert_found(
            encoded.text.as_bytes(),
            GITHUB_RULE,
            "in base64 in quoted-printable",
            span,
        );
    }
}

/// A few hundred KB of ordinary quoted-printable mail (`=3D` in HTML
/// attributes, escaped UTF-8, soft line breaks every line), raw and in a
/// JSON string: clean, within the budget and the depth.
#[test]
fn ordinary_quoted_printable_mail_is_clean() {
    let mut text = String::new();
    let mut index = 0usize;
    while text.len() < 200 * 1024 {
        text.push_str(&format!(
            "<p style=\"color: #333\">Le caf\u{e9} n\u{b0}{index} ouvre \u{e0} midi \u{2014} \
             voir <a href=\"https://example.com/menu?id={index}&lang=fr&color=FF0000\">le menu</a>, \
             r\u{e9}servations au 01 23 45 67 89. Prix: 12\u{20ac}, 1+1=2, a==b, x=3D.</p>\n"
        ));
        index += 1;
    }
    let encoded = rfc2045(text.as_bytes(), "\r\n");
    let mail = format!(
        "From: cafe@example.com\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\n{}",
        encoded.text
    );
    let json = format!(
        "{{\"messages\":[{{\"role\":\"user\",\"content\":\"Summarise:\\n{}\"}}]}}",
        rfc2045(text.as_bytes(), "\\r\\n").text.replace('"', "\\\"")
    );
    for body in [mail, json] {
        for scanner in [
            scanner(),
            scanner_with(DetectorSet::empty().with(Detector::Known)),
        ] {
            let findings = scanner.scan(body.as_bytes());
            assert!(
                findings.is_empty(),
                "{:?}",
                findings
                    .iter()
                    .map(|finding| (&finding.rule, &finding.encoding, finding.start))
                    .take(5)
                    .collect::<Vec<_>>()
            );
        }
    }
}

/// What looks a little like quoted-printable and is not: query strings
/// (`?a=BC&d=EF`, `color=FF0000`), assignments, `==`, Markdown, code
/// whose lines end with `=`, base64 with padding at the end of its lines
/// (a list of hashes, go.sum lines, a PEM certificate, a MIME part):
/// clean.
#[test]
fn urls_assignments_code_and_base64_padding_are_clean() {
    let mut text = String::new();
    for index in 0..2000usize {
        text.push_str(&format!(
            "GET /search?a=BC&d=EF&g=12&color=FF0000&id={index:x} HTTP/1.1\n\
             a=b c==d e=>f x = 0xAB; let y =\n    z; if a == b {{ }}\n\
             | col=AB | col=CD |\n=====\n# Title=\n\n\
             sha1-{}=\nsha512-{}==\n\
             github.com/example/mod{index} v1.{index}.0 h1:{}\n",
            STANDARD
                .encode(format!("hash {index}"))
                .trim_end_matches('='),
            STANDARD
                .encode(format!("another hash {index}!"))
                .trim_end_matches('='),
            // A go.sum line: SHA-256 in base64, one `=` of padding, and the
            // next line starts with a letter (a soft-break trigger).
            STANDARD.encode(
                (0..32u32)
                    .map(|byte| (byte * 97 + index as u32 * 13) as u8)
                    .collect::<Vec<u8>>()
            ),
        ));
    }
    let certificate: Vec<u8> = (0..700u32).map(|index| (index * 151 % 251) as u8).collect();
    let pem = STANDARD.encode(&certificate);
    text.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in pem.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).expect("ascii"));
        text.push('\n');
    }
    text.push_str("-----END CERTIFICATE-----\n--boundary42\n");
    assert!(pem.ends_with('='), "{pem}");
    let json = serde_json::to_string(&text).expect("serialises");
    for body in [text, json] {
        let findings = scanner().scan(body.as_bytes());
        assert!(
            findings.is_empty(),
            "{:?}",
            findings
                .iter()
                .map(|finding| (&finding.rule, &finding.encoding, finding.start))
                .take(5)
                .collect::<Vec<_>>()
        );
    }
}

/// Padding an input with quoted-printable escapes (that decode into more
/// escapes) spends the decoding budget before the payload is reached:
/// reported, blocking and unredactable, or the payload is found.
#[test]
fn quoted_printable_padding_that_spends_the_budget_is_not_called_clean() {
    let scanner = scanner_with(DetectorSet::empty().with(Detector::Known));
    let inner = format!(
        "{}{}",
        format!("=20{}", " ".repeat(900)).repeat(20),
        mixed(CANARY, "\r\n").text
    );
    let payload = STANDARD.encode(inner);
    let alone = scanner.scan(payload.as_bytes());
    assert!(
        alone.iter().any(|finding| finding.rule == CANARY_RULE),
        "{alone:?}"
    );
    let block = format!(
        "{}{}",
        "=41=42=43=3D41=3D42=3D43=3D3D41%41\\u0042&#67;%2541",
        " ".repeat(100)
    );
    let padded = format!("{} {payload}\n", block.repeat(1000));
    let findings = scanner.scan(padded.as_bytes());
    assert!(
        findings
            .iter()
            .any(|finding| finding.rule == CANARY_RULE || finding.rule == DECODE_BUDGET_RULE),
        "the padded payload passed as clean"
    );
    assert!(
        findings
            .iter()
            .filter(|finding| finding.rule == DECODE_BUDGET_RULE)
            .all(|finding| !finding.redactable && finding.end == padded.len())
    );
}

/// Quoted-printable applied to itself again and again (every character
/// escaped each time): found while within the depth, then reported as
/// too deep, never clean.
#[test]
fn quoted_printable_nested_deeper_than_the_depth_is_not_called_clean() {
    let scanner = scanner_with(DetectorSet::empty().with(Detector::Known));
    let mut encoded = CANARY.as_bytes().to_vec();
    for times in 1..=6 {
        encoded = escaped(&encoded, true).text.into_bytes();
        let findings = scanner.scan(&encoded);
        let too_deep: Vec<&Finding> = findings
            .iter()
            .filter(|finding| finding.rule == DECODE_DEPTH_RULE)
            .collect();
        assert!(
            findings.iter().any(|finding| finding.rule == CANARY_RULE) || !too_deep.is_empty(),
            "quoted-printable applied {times} times passed as clean"
        );
        if times > MAX_DECODE_DEPTH + 1 {
            assert!(!too_deep.is_empty(), "{times}: {findings:?}");
        }
        if (2..=MAX_DECODE_DEPTH).contains(&times) {
            let found: Vec<&Finding> = findings
                .iter()
                .filter(|finding| finding.rule == CANARY_RULE)
                .collect();
            assert!(
                found.iter().any(|finding| finding
                    .encoding
                    .ends_with("in quoted-printable in quoted-printable")),
                "{times}: {found:?}"
            );
        }
    }
}
