//! Blobs cut into pieces with more between them than a line break: lines
//! joined by spaces (`echo $(base64 f)`), prefixed per line (`# `, `// `,
//! `> `, ` * `), quoted string pieces (JS/Java `+`, Python implicit
//! concatenation, shell `\` continuations), a JSON array of lines, blocks
//! separated by blank lines, and a first partial line (`data: ` and 40
//! characters, then 76-wide lines). Each piece used to be decoded alone, so
//! a credential whose encoding straddled a cut was missed; each is found
//! now, its span maps back to the characters carrying it, and redaction
//! scrubs every piece. Benign text in the same layouts stays clean.

#![allow(clippy::expect_used, reason = "test setup panics on failure")]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bot_bottle_dlp::{
    DECODE_BUDGET_RULE, Detector, DetectorSet, Finding, HeldSecret, Scanner, ScannerConfig,
};

const TOKEN: &str = "tk_Qm7ZpX2vR9sLw4NcB8yKd3JfH6gT1aEo";
const CANARY: &str = "canary-7Hq2LmZ9xP4vWc8RtY3nB6kD";

fn scanner(detectors: DetectorSet) -> Scanner {
    Scanner::new(ScannerConfig {
        held: vec![
            HeldSecret::new("EGRESS_TOKEN_FRAMINGS", TOKEN),
            HeldSecret::new("CANARY", CANARY),
        ],
        detectors,
        ..ScannerConfig::default()
    })
    .expect("scanner builds")
}

fn github_token() -> String {
    ["gh", "p_", "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAB7C"].concat()
}

/// An AWS-key-shaped value (not a real key), split so that no contiguous
/// key-shaped string sits in the repository.
fn aws_key() -> String {
    ["AK", "IAQWERTYUIOPASDFGY"].concat()
}

/// Text with `secret` at byte `at` (at least 6), after `token `: at 43,
/// its base64 (characters 57..) straddles the first cut of 76-character
/// pieces.
fn plaintext_at(secret: &str, at: usize) -> Vec<u8> {
    let mut text = vec![b'x'; at - 6];
    text.extend_from_slice(b"token ");
    text.extend_from_slice(secret.as_bytes());
    text.push(b'\n');
    text.extend_from_slice(&[b'y'; 30]);
    text
}

/// How a blob is cut and framed: `open` before everything, each piece as
/// `start` + piece + `end`, `between` between pieces, `close` after all.
/// The first piece is `first` characters, the others `width`.
#[derive(Clone, Copy, Debug)]
struct Frame {
    name: &'static str,
    open: &'static str,
    start: &'static str,
    end: &'static str,
    between: &'static str,
    close: &'static str,
    first: usize,
    width: usize,
    /// Where the secret starts in the plaintext: its encoding straddles
    /// the first cut.
    at: usize,
}

impl Frame {
    const fn new(name: &'static str, start: &'static str, end: &'static str) -> Self {
        Self {
            name,
            open: "",
            start,
            end,
            between: "\n",
            close: "\n",
            first: 76,
            width: 76,
            at: 43,
        }
    }

    const fn between(mut self, between: &'static str) -> Self {
        self.between = between;
        self
    }

    const fn around(mut self, open: &'static str, close: &'static str) -> Self {
        self.open = open;
        self.close = close;
        self
    }

    const fn widths(mut self, first: usize, width: usize) -> Self {
        self.first = first;
        self.width = width;
        // The secret's encoding straddles the first cut.
        self.at = first * 6 / 8 - 10;
        if self.at < 6 {
            self.at = 6;
        }
        self
    }

    fn plaintext(&self, secret: &str) -> Vec<u8> {
        plaintext_at(secret, self.at)
    }

    /// The framed input and the input offset of every encoded character.
    fn apply(&self, encoded: &[u8]) -> (Vec<u8>, Vec<usize>) {
        let mut out = self.open.as_bytes().to_vec();
        let mut offsets = Vec::new();
        let mut rest = encoded;
        let mut width = self.first;
        while !rest.is_empty() {
            if !offsets.is_empty() {
                out.extend_from_slice(self.between.as_bytes());
            }
            let (piece, after) = rest.split_at(width.min(rest.len()));
            let number = format!("{:>6}", offsets.len() / self.width.max(1) + 1);
            out.extend_from_slice(self.start.replace("{n}", &number).as_bytes());
            for &byte in piece {
                offsets.push(out.len());
                out.push(byte);
            }
            out.extend_from_slice(self.end.as_bytes());
            rest = after;
            width = self.width;
        }
        out.extend_from_slice(self.close.as_bytes());
        (out, offsets)
    }
}

/// Every layout an agent could print base64 in, as far as this engine
/// knows them.
fn frames() -> Vec<Frame> {
    vec![
        // `echo $(base64 f)`: the lines joined by single spaces.
        Frame::new("spaces", "", "").between(" "),
        Frame::new("spaces-64", "", "").between(" ").widths(64, 64),
        Frame::new("paste -sd,", "", "").between(","),
        Frame::new("semicolons", "", "").between(";"),
        Frame::new("pipes", "", "").between(" | "),
        Frame::new("cat -n", "{n}\t", ""),
        Frame::new("listing with arrows", "{n}\u{2192}", ""),
        Frame::new("grep -n", "{n}:", ""),
        Frame::new("hash comment", "# ", ""),
        Frame::new("hash comment, no blank", "#", ""),
        Frame::new("slash comment", "// ", ""),
        Frame::new("indented slash comment", "    // ", ""),
        Frame::new("mail quoting", "> ", ""),
        Frame::new("nested mail quoting", ">> ", ""),
        Frame::new("block comment", " * ", "").around("/*\n", "\n */\n"),
        Frame::new("semicolon comment", "; ", ""),
        Frame::new("js concatenation", "\"", "\"")
            .between(" +\n  ")
            .around("const key = ", ";\n"),
        Frame::new("java leading plus", "\"", "\"")
            .between("\n    + ")
            .around("String key = ", ";\n"),
        Frame::new("single-quoted concatenation", "'", "'")
            .between(" +\n")
            .around("k = ", "\n"),
        Frame::new("php concatenation", "'", "'")
            .between(" .\n    ")
            .around("$key = ", ";\n"),
        Frame::new("lua concatenation", "\"", "\"")
            .between(" ..\n  ")
            .around("local key = ", "\n"),
        Frame::new("sql concatenation", "'", "'")
            .between(" ||\n  ")
            .around("SELECT ", ";\n"),
        Frame::new("go raw strings", "`", "`")
            .between(" +\n\t")
            .around("const key = ", "\n"),
        Frame::new("yaml list", "- ", "").around("lines:\n", "\n"),
        Frame::new("yaml list, quoted", "  - \"", "\"").around("lines:\n", "\n"),
        Frame::new("python bytes", "b\"", "\"")
            .between("\n    ")
            .around("key = (\n    ", "\n)\n"),
        Frame::new("python bytes one line", "rb'", "'")
            .between(" ")
            .around("key = (", ")\n"),
        Frame::new("c strings ending in \\n", "\"", "\\n\"")
            .widths(64, 64)
            .around("const char *key =\n", ";\n"),
        Frame::new("shell continuation", "\"", "\"")
            .between(" \\\n")
            .around("KEY=", "\n"),
        Frame::new("python implicit concatenation", "\"", "\"")
            .between("\n    ")
            .around("key = (\n    ", "\n)\n"),
        Frame::new("python one line", "\"", "\"")
            .between(" ")
            .around("key = (", ")\n"),
        Frame::new("js one line", "\"", "\"")
            .between(" + ")
            .around("k = ", ";\n"),
        Frame::new("json array", "\"", "\"")
            .between(",")
            .around("[", "]"),
        Frame::new("json array, spaced", "\"", "\"")
            .between(", ")
            .around("{\"lines\": [", "]}"),
        Frame::new("json array, pretty", "\"", "\"")
            .between(",\n  ")
            .around("[\n  ", "\n]\n"),
        Frame::new("json array in a json string", "\\\"", "\\\"")
            .between(",\\n  ")
            .around("{\"content\":\"[\\n  ", "\\n]\"}"),
        Frame::new("blank lines", "", "").between("\n\n"),
        Frame::new("blank lines, crlf", "", "").between("\r\n\r\n"),
        Frame::new("blank comment lines", "# ", "").between("\n#\n"),
        // `data: ` and 40 characters, then 76-wide lines.
        Frame::new("first partial line", "", "")
            .widths(40, 76)
            .around("data: ", "\n"),
        Frame::new("first partial line, 64", "", "")
            .widths(20, 64)
            .around("key: ", "\n"),
        Frame::new("first partial quoted piece", "\"", "\"")
            .between(" +\n  ")
            .widths(30, 76)
            .around("const key = ", ";\n"),
    ]
}

fn findings_of(scanner: &Scanner, input: &[u8], rule: &str) -> Vec<Finding> {
    scanner
        .scan(input)
        .into_vec()
        .into_iter()
        .filter(|finding| finding.rule == rule)
        .collect()
}

/// Redacting `input` leaves nothing `scanner` blocks, keeps the bytes around
/// `span`, and scrubs every encoded character of `span`.
fn assert_redacts_clean(scanner: &Scanner, input: &[u8], span: (usize, usize), name: &str) {
    let redaction = scanner.redact(input);
    assert!(
        redaction.unredactable.is_empty(),
        "{name}: {:?}",
        redaction.unredactable
    );
    let again = scanner.scan(&redaction.bytes);
    assert!(!again.blocks(), "{name}: {again:?}");
    assert!(redaction.bytes.starts_with(&input[..span.0]), "{name}");
    assert!(redaction.bytes.ends_with(&input[span.1..]), "{name}");
}

/// The input span of the encoded characters carrying plaintext bytes
/// `from..to` (6 bits per character).
fn carried(offsets: &[usize], from: usize, to: usize) -> (usize, usize) {
    (offsets[8 * from / 6], offsets[(8 * to).div_ceil(6) - 1] + 1)
}

#[test]
fn a_github_token_in_base64_is_found_in_every_framing() {
    let patterns = scanner(DetectorSet::empty().with(Detector::Patterns));
    let all = scanner(DetectorSet::default());
    let mut missed = Vec::new();
    for frame in frames() {
        let encoded = STANDARD.encode(frame.plaintext(&github_token()));
        let (input, offsets) = frame.apply(encoded.as_bytes());
        let findings = findings_of(&patterns, &input, "github-pat-classic");
        let Some(finding) = findings.first() else {
            missed.push(frame.name);
            continue;
        };
        assert_eq!(findings.len(), 1, "{}: {findings:?}", frame.name);
        assert!(
            finding.encoding.ends_with("in base64"),
            "{}: {}",
            frame.name,
            finding.encoding
        );
        let span = carried(&offsets, frame.at, frame.at + github_token().len());
        assert_eq!(
            (finding.start, finding.end),
            span,
            "{}: {:?}",
            frame.name,
            String::from_utf8_lossy(&input[finding.start..finding.end])
        );
        assert_redacts_clean(&all, &input, span, frame.name);
    }
    assert!(missed.is_empty(), "missed in {missed:?}");
}

#[test]
fn an_aws_key_in_base64_is_found_in_every_framing() {
    let scanner = scanner(DetectorSet::default());
    let mut missed = Vec::new();
    for frame in frames() {
        let encoded = STANDARD.encode(frame.plaintext(&aws_key()));
        let (input, offsets) = frame.apply(encoded.as_bytes());
        let findings = findings_of(&scanner, &input, "aws-access-key-id");
        if findings.is_empty() {
            missed.push(frame.name);
            continue;
        }
        let span = carried(&offsets, frame.at, frame.at + aws_key().len());
        assert!(
            findings.iter().all(|finding| finding.start >= offsets[0]
                && finding.end <= offsets[offsets.len() - 1] + 1),
            "{}: {findings:?}",
            frame.name
        );
        assert_redacts_clean(&scanner, &input, span, frame.name);
    }
    assert!(missed.is_empty(), "missed in {missed:?}");
}

/// A held secret (a token, the canary) straddling a cut. Held secrets in
/// plain base64 are also matched as encoded fragments, so this checks
/// the scan blocks and redaction leaves nothing behind.
#[test]
fn held_secrets_in_base64_are_found_in_every_framing() {
    let scanner = scanner(DetectorSet::empty().with(Detector::Known));
    let all = self::scanner(DetectorSet::default());
    for (name, secret) in [("EGRESS_TOKEN_FRAMINGS", TOKEN), ("CANARY", CANARY)] {
        let mut missed = Vec::new();
        for frame in frames() {
            let encoded = STANDARD.encode(frame.plaintext(secret));
            let (input, offsets) = frame.apply(encoded.as_bytes());
            if findings_of(&scanner, &input, name).is_empty() {
                missed.push(frame.name);
                continue;
            }
            let span = carried(&offsets, frame.at, frame.at + secret.len());
            assert_redacts_clean(&all, &input, (span.0.min(offsets[0]), span.1), frame.name);
        }
        assert!(missed.is_empty(), "{name} missed in {missed:?}");
    }
}

/// Base64 of base64 of a held secret, each layer framed: the inner layer
/// is wrapped at 76, the outer printed with `echo $(base64 f)`.
#[test]
fn a_held_secret_in_nested_base64_joined_by_spaces_is_found() {
    let scanner = scanner(DetectorSet::empty().with(Detector::Known));
    let mut text = b"export EGRESS_TOKEN=".to_vec();
    text.extend_from_slice(TOKEN.as_bytes());
    text.extend_from_slice(b"\n# end of file\n");
    let inner: Vec<u8> = STANDARD
        .encode(&text)
        .as_bytes()
        .chunks(16)
        .flat_map(|line| [line, b"\n"].concat())
        .collect();
    let (input, _) = Frame::new("spaces", "", "")
        .between(" ")
        .apply(STANDARD.encode(&inner).as_bytes());
    assert!(
        !findings_of(&scanner, &input, "EGRESS_TOKEN_FRAMINGS").is_empty(),
        "{}",
        String::from_utf8_lossy(&input)
    );
}

/// Hex cut the same ways (`xxd -p` is 60 wide).
#[test]
fn hex_in_framings_is_found() {
    let patterns = scanner(DetectorSet::empty().with(Detector::Patterns));
    for frame in [
        Frame::new("hex spaces", "", "").between(" ").widths(60, 60),
        Frame::new("hex comment", "# ", "").widths(60, 60),
        Frame::new("hex json array", "\"", "\"")
            .between(", ")
            .around("[", "]")
            .widths(60, 60),
    ] {
        let hex: Vec<u8> = frame
            .plaintext(&github_token())
            .iter()
            .flat_map(|byte| format!("{byte:02x}").into_bytes())
            .collect();
        let (input, _) = frame.apply(&hex);
        let findings = findings_of(&patterns, &input, "github-pat-classic");
        assert_eq!(findings.len(), 1, "{}: {findings:?}", frame.name);
        assert!(findings[0].encoding.ends_with("in hex"), "{}", frame.name);
    }
}

/// Text that is laid out the same ways but holds no blob: nothing found,
/// and the decoding stays within the budget.
#[test]
fn benign_text_in_the_same_layouts_is_clean() {
    let scanner = scanner(DetectorSet::default());
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    // Prose, one long line of words joined by single spaces.
    inputs.push(
        "The quick brown fox jumps over the lazy dog and keeps running far away. "
            .repeat(2000)
            .into_bytes(),
    );
    // Equal-width words and identifiers joined by spaces.
    inputs.push(
        (0..20_000)
            .map(|index| format!("Word{:04}", index % 10_000))
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes(),
    );
    inputs.push(
        (0..5_000)
            .map(|index| format!("user_{index:06}_Account{:03}", index % 999))
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes(),
    );
    // JSON arrays of ordinary words and ids.
    for separator in [",", ", ", ",\n  "] {
        inputs.push(
            format!(
                "[{}]",
                (0..10_000)
                    .map(|index| format!("\"item{:05}Name\"", index))
                    .collect::<Vec<_>>()
                    .join(separator)
            )
            .into_bytes(),
        );
        inputs.push(
            format!(
                "{{\"tags\": [{}]}}",
                ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
                    .repeat(500)
                    .iter()
                    .map(|word| format!("\"{word}\""))
                    .collect::<Vec<_>>()
                    .join(separator)
            )
            .into_bytes(),
        );
    }
    // UUIDs and hashes in a JSON array and joined by spaces.
    let hashes: Vec<String> = (0..3_000u64)
        .map(|index| {
            format!(
                "{:016x}{:016x}{:016x}{:016x}",
                index.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                index.wrapping_mul(0xC2B2_AE3D_27D4_EB4F),
                index.wrapping_mul(0x1656_67B1_9E37_79F9),
                index.wrapping_mul(0x27D4_EB2F_1656_67C5)
            )
        })
        .collect();
    inputs.push(hashes.join(" ").into_bytes());
    inputs.push(format!("[\"{}\"]", hashes.join("\", \"")).into_bytes());
    // Code comments, mail quoting and string concatenations of prose.
    let lines = [
        "This function returns the value of the counter",
        "and increments it by one for the next caller to",
        "see; it is not thread safe and must be guarded by",
        "the lock held in the outer struct at all times ok",
    ];
    for (start, between) in [
        ("# ", "\n# "),
        ("// ", "\n// "),
        ("> ", "\n> "),
        (" * ", "\n * "),
        ("\"", "\" +\n  \""),
        ("", "\n\n"),
    ] {
        let text = format!("{start}{}\n", lines.repeat(500).join(between));
        inputs.push(text.into_bytes());
    }
    inputs.push(hashes.join(",").into_bytes());
    inputs.push(hashes.join(";").into_bytes());
    // Source listed with line numbers, as a tool shows a file.
    for separator in ["\t", "\u{2192}", ":"] {
        let listing: String = String::from_utf8_lossy(include_bytes!("../src/scanner.rs"))
            .lines()
            .enumerate()
            .map(|(index, line)| format!("{:>6}{separator}{line}\n", index + 1))
            .collect();
        inputs.push(listing.into_bytes());
    }
    inputs.push(include_bytes!("../src/decode.rs").to_vec());
    inputs.push(include_bytes!("../../../docs/dlp.md").to_vec());
    for input in &inputs {
        let findings = scanner.scan(input);
        assert!(
            !findings
                .iter()
                .any(|finding| finding.rule == DECODE_BUDGET_RULE),
            "{:?}: {findings:?}",
            String::from_utf8_lossy(&input[..80.min(input.len())])
        );
        assert!(
            findings.is_empty(),
            "{:?}: {findings:?}",
            String::from_utf8_lossy(&input[..80.min(input.len())])
        );
    }
}
