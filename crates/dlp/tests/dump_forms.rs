//! Held secrets in the encodings and dumps an agent gets from one call:
//! base85 (Python's `base64.b85encode`, RFC 1924, git's binary patches),
//! Ascii85 (`base64.a85encode`, PDF's `<~ ~>`, wrapped into lines), Z85,
//! uuencode (`binascii.b2a_uu`, `uuencode`), and hex dumps: `od -x` and
//! `hexdump` (little-endian 16-bit words, each pair of bytes swapped),
//! `xxd`, `hexdump -C` and `od -An -tx1` (spaced hex beside an offset
//! column). Base85, Ascii85, uuencode and `od -x` got a held token or the
//! canary through before (`bot-bottle dlp scan` found nothing in any of
//! them); the others were already caught and are kept here as a guard.
//!
//! The fixtures were written by the real tools (Python 3.13, GNU od, xxd,
//! hexdump) for the canary below; the alignment tests encode with this
//! file's own encoders, independent of the engine's, at every byte offset
//! inside a larger blob.

#![allow(clippy::expect_used, reason = "test setup panics on failure")]

use bot_bottle_dlp::{DetectorSet, Scanner};

mod support;
use support::exact::{findings_of, scanner_holding};

/// A held token (not a real credential).
const HELD: &str = "tk_Qm7ZpX2vR9sLw4NcB8yKd3JfH6gT1aEo";
const HELD_RULE: &str = "EGRESS_TOKEN_TEST";
/// The canary of the fixtures (not a real credential).
const CANARY: &str = "canary_Q7w8E9r0T1y2U3i4O5p6A7s8D9f0";
const CANARY_RULE: &str = "EGRESS_TOKEN_CANARY";

fn scanner() -> Scanner {
    scanner_holding(
        &[(HELD_RULE, HELD), (CANARY_RULE, CANARY)],
        DetectorSet::default(),
    )
}

/// `input` has a finding of `rule` whose encoding names `layer`, and the
/// redacted input has none.
fn assert_caught(scanner: &Scanner, input: &[u8], rule: &str, layer: &str) {
    let shown = String::from_utf8_lossy(input);
    let findings = findings_of(scanner, input, rule);
    assert!(
        findings
            .iter()
            .any(|finding| finding.encoding.contains(layer)),
        "{rule} in {layer} not found in {shown:?}: {findings:?}"
    );
    let redacted = scanner.redact(input);
    assert!(
        findings_of(scanner, &redacted.bytes, rule).is_empty(),
        "{rule} left after redaction: {:?}",
        String::from_utf8_lossy(&redacted.bytes)
    );
}

/// What the real tools wrote for [`CANARY`].
const TOOL_OUTPUTS: [(&str, &str, &str); 9] = [
    (
        "base64.b85encode",
        "V_|M#a(Q1-H+MKiIdU*mF?ljoGifwWHE=dTH*+{dIc6{",
        "base85",
    ),
    (
        "base64.a85encode",
        "@ps7`Ed;\"h2g75M3H?fQ0mPNS1MJ[A2/kH>2fgrH3G'r",
        "base85",
    ),
    (
        "base64.a85encode(b\"x\" + canary, adobe=True, wrapcol=24)",
        "<~G[k0\"@<-X#;)`\\Y76,BB<&\n&YR<AS>G:Gm)L5rWjE6oej5\n~>",
        "base85",
    ),
    (
        "binascii.b2a_uu",
        "C8V%N87)Y7U$W=SA%.7(P5#%Y,E4S:31/-7 V03=S.$0Y9C  \n",
        "uuencode",
    ),
    (
        "od -x",
        "0000000 6163 616e 7972 515f 7737 4538 7239 5430\n\
         0000020 7931 5532 6933 4f34 7035 4136 7337 4438\n\
         0000040 6639 0030\n\
         0000043\n",
        // The swapped-hex needle's `hex words`, or, since the hex dump
        // layer (`dumps.rs`), `raw in hex dump (little-endian words)`.
        "hex",
    ),
    (
        "printf ab%s | xxd",
        "00000000: 6162 6361 6e61 7279 5f51 3777 3845 3972  abcanary_Q7w8E9r\n\
         00000010: 3054 3179 3255 3369 344f 3570 3641 3773  0T1y2U3i4O5p6A7s\n\
         00000020: 3844 3966 30                             8D9f0\n",
        "hex",
    ),
    (
        "hexdump -C",
        "00000000  63 61 6e 61 72 79 5f 51  37 77 38 45 39 72 30 54  |canary_Q7w8E9r0T|\n\
         00000010  31 79 32 55 33 69 34 4f  35 70 36 41 37 73 38 44  |1y2U3i4O5p6A7s8D|\n\
         00000020  39 66 30                                          |9f0|\n\
         00000023\n",
        "hex",
    ),
    (
        "od -An -tx1",
        " 63 61 6e 61 72 79 5f 51 37 77 38 45 39 72 30 54\n\
         \x2031 79 32 55 33 69 34 4f 35 70 36 41 37 73 38 44\n\
         \x2039 66 30\n",
        "hex",
    ),
    ("z85 (ZeroMQ), from this file's encoder", "", "base85"),
];

#[test]
fn the_tools_outputs_for_the_canary_are_caught_bare_and_in_json() {
    let scanner = scanner();
    for (tool, output, layer) in TOOL_OUTPUTS {
        let output = if output.is_empty() {
            String::from_utf8(z85(CANARY.as_bytes())).expect("ASCII")
        } else {
            output.to_string()
        };
        assert_caught(&scanner, output.as_bytes(), CANARY_RULE, layer);
        // As an agent would post it: a JSON string, escaped.
        let json = serde_json::json!({ "note": output, "tool": tool }).to_string();
        assert_caught(&scanner, json.as_bytes(), CANARY_RULE, layer);
    }
}

/// RFC 1924 / Python's `b85encode` alphabet.
const B85: &[u8; 85] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~";
/// ZeroMQ's Z85 alphabet.
const Z85: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Base85 with `alphabet`, as Python writes it (a short last group
/// padded, then cut to one more character than it has bytes).
fn base85_with(bytes: &[u8], alphabet: &[u8; 85]) -> Vec<u8> {
    let mut out = Vec::new();
    for group in bytes.chunks(4) {
        let mut padded = [0u8; 4];
        padded[..group.len()].copy_from_slice(group);
        let mut number = u32::from_be_bytes(padded);
        let mut digits = [0u8; 5];
        for digit in digits.iter_mut().rev() {
            *digit = alphabet[(number % 85) as usize];
            number /= 85;
        }
        out.extend_from_slice(&digits[..=group.len()]);
    }
    out
}

fn b85(bytes: &[u8]) -> Vec<u8> {
    base85_with(bytes, B85)
}

fn z85(bytes: &[u8]) -> Vec<u8> {
    base85_with(bytes, Z85)
}

/// Ascii85 without its `z` shorthand (no group here is all zeros).
fn a85(bytes: &[u8]) -> Vec<u8> {
    let alphabet: Vec<u8> = (b'!'..=b'u').collect();
    let alphabet: [u8; 85] = alphabet.try_into().expect("85 characters");
    base85_with(bytes, &alphabet)
}

/// `binascii.b2a_uu`, line by line (45 bytes a line, each led by its
/// length).
fn uu(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in bytes.chunks(45) {
        out.push(32 + line.len() as u8);
        for group in line.chunks(3) {
            let mut padded = [0u8; 3];
            padded[..group.len()].copy_from_slice(group);
            let number =
                u32::from(padded[0]) << 16 | u32::from(padded[1]) << 8 | u32::from(padded[2]);
            for shift in [18, 12, 6, 0] {
                out.push(32 + ((number >> shift) & 0x3f) as u8);
            }
        }
        out.push(b'\n');
    }
    out
}

/// `od -x`: octal offsets, eight little-endian 16-bit words a line.
fn od_x(bytes: &[u8]) -> Vec<u8> {
    let mut out = String::new();
    for (line, chunk) in bytes.chunks(16).enumerate() {
        out.push_str(&format!("{:07o}", line * 16));
        for word in chunk.chunks(2) {
            let low = u16::from(word[0]);
            let high = u16::from(word.get(1).copied().unwrap_or(0));
            out.push_str(&format!(" {:04x}", high << 8 | low));
        }
        out.push('\n');
    }
    out.into_bytes()
}

/// An encoder of this file.
type Encode = fn(&[u8]) -> Vec<u8>;

/// Every form, with the layer its finding names.
fn forms() -> [(&'static str, Encode); 5] {
    [
        ("base85", b85),
        ("base85", z85),
        ("base85", a85),
        ("uuencode", uu),
        // `hex words` or `raw in hex dump (little-endian words)`.
        ("hex", od_x),
    ]
}

#[test]
fn held_secrets_are_caught_at_every_offset_inside_a_larger_blob() {
    let scanner = scanner();
    for (value, rule) in [(HELD, HELD_RULE), (CANARY, CANARY_RULE)] {
        for (layer, encode) in forms() {
            for offset in 0..4 {
                // 0 to 3 bytes before it: each alignment of its groups.
                let mut bytes = b"{\"c"[..offset].to_vec();
                bytes.extend_from_slice(value.as_bytes());
                bytes.extend_from_slice(b"\",\"more\":[1,2,3]}");
                let encoded = encode(&bytes);
                assert_caught(&scanner, &encoded, rule, layer);
            }
        }
    }
}

/// The same encodings of text without a held secret find nothing: the
/// needles are specific to the secrets, not to the shape of the dump.
#[test]
fn the_encodings_of_text_without_a_held_secret_are_clean() {
    let scanner = scanner();
    let text = "The quick brown fox jumps over the lazy dog; \
        fn main() { println!(\"{}\", 42); } -- token_placeholder_not_a_secret \
        {\"model\":\"claude\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}";
    let text = text.repeat(20);
    for (layer, encode) in forms() {
        let encoded = encode(text.as_bytes());
        for rule in [HELD_RULE, CANARY_RULE] {
            assert!(
                findings_of(&scanner, &encoded, rule).is_empty(),
                "{layer}: {rule} found in text that does not hold it"
            );
        }
    }
}
