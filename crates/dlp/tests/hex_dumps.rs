//! Hex dumps: a credential shape (a GitHub token, an AWS access key id)
//! and a held token in the dumps an agent gets from one call — `xxd`,
//! `xxd -g1`, `hexdump -C`, plain `hexdump` and `od -x` (little-endian
//! 16-bit words, each pair of bytes swapped), `od -tx1`, `od -An -tx1` —
//! bare and inside a JSON string, are found with the right rule and
//! redacted; a credential shape's finding spans exactly the hex digits
//! that carry it (whole words in the little-endian dumps). Ordinary text
//! with hex in it (UUIDs, SHA-256 lists, `git log`, IPv6, CSS, tables of
//! numbers) stays clean.
//!
//! The fixtures were written by the real tools (xxd 2024-era, util-linux
//! hexdump, GNU od) for `printf 'key: %s\n' VALUE`: the value starts at
//! byte 5, an odd offset, so in the word dumps it starts in the second
//! half of a word.

#![allow(clippy::expect_used, reason = "test setup panics on failure")]

use bot_bottle_dlp::{DetectorSet, Scanner};

mod support;
use support::exact::{
    Encoding, GITHUB_RULE, assert_found_by, findings_of, github_token, scanner_holding,
};

/// A held token (not a real credential).
const HELD: &str = "tk_Qm7ZpX2vR9sLw4NcB8yKd3JfH6gT1aEo";
const HELD_RULE: &str = "EGRESS_TOKEN_TEST";
/// An AWS-access-key-id-shaped value (not a real key), split so that no
/// contiguous key-shaped string sits in the repository.
fn aws_key() -> String {
    ["AK", "IA", "QWERTYUIOPASDFGH"].concat()
}
const AWS_RULE: &str = "aws-access-key-id";

/// Where the value starts in the dumped bytes (`key: `).
const VALUE_AT: usize = 5;

fn scanner() -> Scanner {
    scanner_holding(&[(HELD_RULE, HELD)], DetectorSet::default())
}

/// How a tool lays its dump out, for this file's own reading of it: the
/// offset column's width, where the hex column ends (a text column after
/// it), and whether 4-digit groups are little-endian words.
#[derive(Debug, Clone, Copy)]
struct Layout {
    tool: &'static str,
    offset_width: usize,
    hex_end: usize,
    words: bool,
}

const XXD: Layout = Layout {
    tool: "xxd",
    offset_width: 10,
    hex_end: 49,
    words: false,
};
const XXD_G1: Layout = Layout {
    tool: "xxd -g1",
    offset_width: 10,
    hex_end: 57,
    words: false,
};
const HEXDUMP_C: Layout = Layout {
    tool: "hexdump -C",
    offset_width: 10,
    hex_end: 58,
    words: false,
};
const HEXDUMP: Layout = Layout {
    tool: "hexdump",
    offset_width: 8,
    hex_end: usize::MAX,
    words: true,
};
const OD_X: Layout = Layout {
    tool: "od -x",
    offset_width: 8,
    hex_end: usize::MAX,
    words: true,
};
const OD_TX1: Layout = Layout {
    tool: "od -tx1",
    offset_width: 8,
    hex_end: usize::MAX,
    words: false,
};
const OD_AN_TX1: Layout = Layout {
    tool: "od -An -tx1",
    offset_width: 0,
    hex_end: usize::MAX,
    words: false,
};

/// For every byte the dump in `text` shows, the span of the hex digits
/// carrying it (both bytes of a little-endian word: the word's four) and
/// the byte, its lines separated by `separator` (`\n`, or `\\n` in a JSON
/// string).
fn read_dump(text: &str, separator: &str, layout: Layout) -> Vec<((usize, usize), u8)> {
    let mut spans = Vec::new();
    let mut line_start = 0;
    for line in text.split(separator) {
        let bytes = line.as_bytes();
        let end = layout.hex_end.min(bytes.len());
        let mut at = layout.offset_width.min(end);
        while at < end {
            if !bytes[at].is_ascii_hexdigit() {
                at += 1;
                continue;
            }
            let mut group_end = at;
            while group_end < end && bytes[group_end].is_ascii_hexdigit() {
                group_end += 1;
            }
            let (start, stop) = (line_start + at, line_start + group_end);
            let byte = |from: usize| {
                u8::from_str_radix(&line[from..from + 2], 16).expect("two hex digits")
            };
            match group_end - at {
                2 => spans.push(((start, stop), byte(at))),
                4 if layout.words => {
                    spans.extend([((start, stop), byte(at + 2)), ((start, stop), byte(at))])
                }
                4 => spans.extend([
                    ((start, start + 2), byte(at)),
                    ((start + 2, stop), byte(at + 2)),
                ]),
                other => panic!("a group of {other} digits in {line:?}"),
            }
            at = group_end;
        }
        line_start += line.len() + separator.len();
    }
    spans
}

/// The span of the hex digits carrying `len` bytes from [`VALUE_AT`].
fn value_span(spans: &[((usize, usize), u8)], len: usize) -> (usize, usize) {
    let carrying = &spans[VALUE_AT..VALUE_AT + len];
    (
        carrying
            .iter()
            .map(|(span, _)| span.0)
            .min()
            .expect("bytes"),
        carrying
            .iter()
            .map(|(span, _)| span.1)
            .max()
            .expect("bytes"),
    )
}

/// `dump` bare, in a JSON string and with CRLF line breaks, each with the
/// span of the digits carrying a value of `len` bytes.
fn inputs(dump: &str, layout: Layout, len: usize) -> Vec<(Vec<u8>, (usize, usize))> {
    let bare = value_span(&read_dump(dump, "\n", layout), len);
    let prefix = "{\"tool\": \"bash\", \"output\": \"";
    let escaped = dump.replace('\n', "\\n");
    assert!(!escaped.contains('"'), "{escaped}");
    let json = format!("{prefix}{escaped}\"}}");
    let inner = value_span(&read_dump(&escaped, "\\n", layout), len);
    let crlf = dump.replace('\n', "\r\n");
    let crlf_span = value_span(&read_dump(&crlf, "\r\n", layout), len);
    vec![
        (dump.as_bytes().to_vec(), bare),
        (
            json.into_bytes(),
            (prefix.len() + inner.0, prefix.len() + inner.1),
        ),
        (crlf.into_bytes(), crlf_span),
    ]
}

/// One finding of `rule` in `input`, read from a hex dump, spanning
/// exactly `span`; redaction replaces exactly that span.
fn assert_found_exactly(scanner: &Scanner, input: &[u8], rule: &str, span: (usize, usize)) {
    assert_found_by(scanner, input, rule, Encoding::Contains("hex dump"), span);
}

fn github_dumps() -> [(&'static str, Layout); 7] {
    [
        (GITHUB_XXD, XXD),
        (GITHUB_XXD_G1, XXD_G1),
        (GITHUB_HEXDUMP_C, HEXDUMP_C),
        (GITHUB_HEXDUMP, HEXDUMP),
        (GITHUB_OD_X, OD_X),
        (GITHUB_OD_TX1, OD_TX1),
        (GITHUB_OD_AN_TX1, OD_AN_TX1),
    ]
}

fn aws_dumps() -> [(&'static str, Layout); 7] {
    [
        (AWS_XXD, XXD),
        (AWS_XXD_G1, XXD_G1),
        (AWS_HEXDUMP_C, HEXDUMP_C),
        (AWS_HEXDUMP, HEXDUMP),
        (AWS_OD_X, OD_X),
        (AWS_OD_TX1, OD_TX1),
        (AWS_OD_AN_TX1, OD_AN_TX1),
    ]
}

fn held_dumps() -> [(&'static str, Layout); 7] {
    [
        (HELD_XXD, XXD),
        (HELD_XXD_G1, XXD_G1),
        (HELD_HEXDUMP_C, HEXDUMP_C),
        (HELD_HEXDUMP, HEXDUMP),
        (HELD_OD_X, OD_X),
        (HELD_OD_TX1, OD_TX1),
        (HELD_OD_AN_TX1, OD_AN_TX1),
    ]
}

#[test]
fn the_fixtures_are_the_values_dumps() {
    // This file's own reading of each fixture gives back the value.
    for (dumps, value) in [
        (github_dumps(), github_token()),
        (aws_dumps(), aws_key()),
        (held_dumps(), HELD.to_string()),
    ] {
        for (dump, layout) in dumps {
            let bytes: Vec<u8> = read_dump(dump, "\n", layout)
                .into_iter()
                .map(|(_, byte)| byte)
                .collect();
            let mut expected = format!("key: {value}\n").into_bytes();
            if layout.words && expected.len() % 2 == 1 {
                // `od -x` and `hexdump` pad the last word with a NUL.
                expected.push(0);
            }
            assert_eq!(bytes, expected, "{}", layout.tool);
        }
    }
}

#[test]
fn a_github_token_in_every_dump_is_found_and_redacted() {
    let scanner = scanner();
    let token = github_token();
    for (dump, layout) in github_dumps() {
        for (input, span) in inputs(dump, layout, token.len()) {
            assert_found_exactly(&scanner, &input, GITHUB_RULE, span);
        }
    }
}

#[test]
fn an_aws_key_id_in_every_dump_is_found_and_redacted() {
    let scanner = scanner();
    for (dump, layout) in aws_dumps() {
        for (input, span) in inputs(dump, layout, aws_key().len()) {
            assert_found_exactly(&scanner, &input, AWS_RULE, span);
        }
    }
}

#[test]
fn a_held_token_in_every_dump_is_found_and_redacted() {
    let scanner = scanner();
    for (dump, layout) in held_dumps() {
        for (input, span) in inputs(dump, layout, HELD.len()) {
            let shown = String::from_utf8_lossy(&input);
            let findings = findings_of(&scanner, &input, HELD_RULE);
            assert_eq!(
                findings.len(),
                1,
                "{}: {findings:?} in {shown}",
                layout.tool
            );
            let finding = &findings[0];
            assert!(
                finding.start <= span.0 && span.1 <= finding.end,
                "{}: {finding:?} does not cover {span:?} in {shown}",
                layout.tool
            );
            let redaction = scanner.redact(&input);
            assert!(findings_of(&scanner, &redaction.bytes, HELD_RULE).is_empty());
        }
    }
}

#[test]
fn ordinary_text_with_hex_in_it_is_clean() {
    let scanner = scanner();
    let mut texts: Vec<String> = vec![
        "The quick brown fox jumps over the lazy dog.\nA bead, a face, a cafe: dead beef.\n"
            .to_string(),
        "fn main() {\n    let added = 0xdead_beef;\n    println!(\"{added:x}\");\n}\n".to_string(),
        "550e8400-e29b-41d4-a716-446655440000\n6ba7b810-9dad-11d1-80b4-00c04fd430c8\n"
            .to_string(),
        "commit 4262171d0c5f8a3b9e2d1f0a6b7c8d9e0f1a2b3c\nAuthor: A <a@b.c>\nDate:   Tue Dec 8 04:54:17 2026 +0000\n\n    Merge branch 'egress-audit8'\n"
            .to_string(),
        "4262171 Merge branch 'egress-audit8'\nfe2491f add the four-byte prefilter\ncafe123 bead face\nabc1234 12 34 56 78\n"
            .to_string(),
        "fe80::1ff:fe23:4567:890a\n2001:0db8:85a3:0000:0000:8a2e:0370:7334\n::1\n".to_string(),
        "a { color: #ff0000; }\n.b { background: #fff; border: 1px solid #abcdef; }\n"
            .to_string(),
        "  10  20  30  40  50  60  70  80\n  11  21  31  41  51  61  71  81\n".to_string(),
        "2024-01-01 12:00:00 INFO ready\n2024-01-01 12:00:01 INFO done in 12 34 ms\n".to_string(),
    ];
    // A SHA-256 list, as `sha256sum` prints it.
    texts.push(
        (0..50)
            .map(|index: u64| {
                let word = |salt: u64| (index ^ salt).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                format!(
                    "{:016x}{:016x}{:016x}{:016x}  file-{index}.txt\n",
                    word(1),
                    word(2),
                    word(3),
                    word(4)
                )
            })
            .collect(),
    );
    // A dump of ordinary text is clean too.
    texts.push(HEXDUMP_OF_PROSE.to_string());
    for text in &texts {
        let findings = scanner.scan(text.as_bytes());
        assert!(findings.is_empty(), "{findings:?} in {text}");
        let json = format!(
            "{{\"output\": {}}}",
            serde_json::to_string(text).expect("JSON")
        );
        let findings = scanner.scan(json.as_bytes());
        assert!(findings.is_empty(), "{findings:?} in {json}");
    }
}

#[test]
fn tables_of_numbers_are_cheap() {
    // 1 MB of lines that read as `od -An -tx1` dumps (two-digit numbers
    // separated by single blanks) stays within the budget and clean.
    let scanner = scanner();
    let mut body = String::new();
    let mut index = 0u32;
    while body.len() < 1 << 20 {
        let row: Vec<String> = (0..16)
            .map(|column| format!("{:02}", (index * 7 + column) % 100))
            .collect();
        body.push(' ');
        body.push_str(&row.join(" "));
        body.push('\n');
        index += 1;
    }
    let started = std::time::Instant::now();
    let findings = scanner.scan(body.as_bytes());
    assert!(findings.is_empty(), "{findings:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// Pieces of dumps, glued at random: every fuzz check holds (spans inside
/// the input, streaming equals one scan, redaction leaves nothing, the
/// decoding budget), whatever the lines look like.
const PIECES: [&str; 16] = [
    "00000000: ",
    "0000020 ",
    "00000010  ",
    "6b65 ",
    "5f41 6233 ",
    "67 68 70 5f ",
    "41 ",
    "0a",
    "  ",
    "  |ghp_Ab3d|",
    "\n",
    "\\n",
    "\r\n",
    "\"",
    "746b5f516d37",
    " ",
];

proptest::proptest! {
    #[test]
    fn dump_pieces_keep_every_fuzz_invariant(
        picks in proptest::collection::vec(0..PIECES.len(), 0..200),
    ) {
        let input: String = picks.iter().map(|&pick| PIECES[pick]).collect();
        bot_bottle_dlp::fuzzing::scan(input.as_bytes());
        bot_bottle_dlp::fuzzing::redact(input.as_bytes());
        bot_bottle_dlp::fuzzing::decode(input.as_bytes());
    }
}

/// `printf 'The quick brown fox jumps over the lazy dog.\n' | hexdump -C`
const HEXDUMP_OF_PROSE: &str = "\
00000000  54 68 65 20 71 75 69 63  6b 20 62 72 6f 77 6e 20  |The quick brown |\n\
00000010  66 6f 78 20 6a 75 6d 70  73 20 6f 76 65 72 20 74  |fox jumps over t|\n\
00000020  68 65 20 6c 61 7a 79 20  64 6f 67 2e 0a           |he lazy dog..|\n\
0000002d\n\
";

/// `printf 'key: %s\n' github | xxd`
const GITHUB_XXD: &str = "\
00000000: 6b65 793a 2067 6870 5f41 6233 6445 6636  key: ghp_Ab3dEf6\n\
00000010: 6849 6a39 6b4c 6d32 6e4f 7035 7152 7338  hIj9kLm2nOp5qRs8\n\
00000020: 7455 7631 7758 7934 7a41 4237 430a       tUv1wXy4zAB7C.\n\
";

/// `printf 'key: %s\n' github | xxd -g1`
const GITHUB_XXD_G1: &str = "\
00000000: 6b 65 79 3a 20 67 68 70 5f 41 62 33 64 45 66 36  key: ghp_Ab3dEf6\n\
00000010: 68 49 6a 39 6b 4c 6d 32 6e 4f 70 35 71 52 73 38  hIj9kLm2nOp5qRs8\n\
00000020: 74 55 76 31 77 58 79 34 7a 41 42 37 43 0a        tUv1wXy4zAB7C.\n\
";

/// `printf 'key: %s\n' github | hexdump -C`
const GITHUB_HEXDUMP_C: &str = "\
00000000  6b 65 79 3a 20 67 68 70  5f 41 62 33 64 45 66 36  |key: ghp_Ab3dEf6|\n\
00000010  68 49 6a 39 6b 4c 6d 32  6e 4f 70 35 71 52 73 38  |hIj9kLm2nOp5qRs8|\n\
00000020  74 55 76 31 77 58 79 34  7a 41 42 37 43 0a        |tUv1wXy4zAB7C.|\n\
0000002e\n\
";

/// `printf 'key: %s\n' github | hexdump`
const GITHUB_HEXDUMP: &str = "\
0000000 656b 3a79 6720 7068 415f 3362 4564 3666\n\
0000010 4968 396a 4c6b 326d 4f6e 3570 5271 3873\n\
0000020 5574 3176 5877 3479 417a 3742 0a43     \n\
000002e\n\
";

/// `printf 'key: %s\n' github | od -x`
const GITHUB_OD_X: &str = "\
0000000 656b 3a79 6720 7068 415f 3362 4564 3666\n\
0000020 4968 396a 4c6b 326d 4f6e 3570 5271 3873\n\
0000040 5574 3176 5877 3479 417a 3742 0a43\n\
0000056\n\
";

/// `printf 'key: %s\n' github | od -tx1`
const GITHUB_OD_TX1: &str = "\
0000000 6b 65 79 3a 20 67 68 70 5f 41 62 33 64 45 66 36\n\
0000020 68 49 6a 39 6b 4c 6d 32 6e 4f 70 35 71 52 73 38\n\
0000040 74 55 76 31 77 58 79 34 7a 41 42 37 43 0a\n\
0000056\n\
";

/// `printf 'key: %s\n' github | od -An -tx1`
const GITHUB_OD_AN_TX1: &str = "\
\x206b 65 79 3a 20 67 68 70 5f 41 62 33 64 45 66 36\n\
\x2068 49 6a 39 6b 4c 6d 32 6e 4f 70 35 71 52 73 38\n\
\x2074 55 76 31 77 58 79 34 7a 41 42 37 43 0a\n\
";

/// `printf 'key: %s\n' aws | xxd`
const AWS_XXD: &str = "\
00000000: 6b65 793a 2041 4b49 4151 5745 5254 5955  key: AKIAQWERTYU\n\
00000010: 494f 5041 5344 4647 480a                 IOPASDFGH.\n\
";

/// `printf 'key: %s\n' aws | xxd -g1`
const AWS_XXD_G1: &str = "\
00000000: 6b 65 79 3a 20 41 4b 49 41 51 57 45 52 54 59 55  key: AKIAQWERTYU\n\
00000010: 49 4f 50 41 53 44 46 47 48 0a                    IOPASDFGH.\n\
";

/// `printf 'key: %s\n' aws | hexdump -C`
const AWS_HEXDUMP_C: &str = "\
00000000  6b 65 79 3a 20 41 4b 49  41 51 57 45 52 54 59 55  |key: AKIAQWERTYU|\n\
00000010  49 4f 50 41 53 44 46 47  48 0a                    |IOPASDFGH.|\n\
0000001a\n\
";

/// `printf 'key: %s\n' aws | hexdump`
const AWS_HEXDUMP: &str = "\
0000000 656b 3a79 4120 494b 5141 4557 5452 5559\n\
0000010 4f49 4150 4453 4746 0a48               \n\
000001a\n\
";

/// `printf 'key: %s\n' aws | od -x`
const AWS_OD_X: &str = "\
0000000 656b 3a79 4120 494b 5141 4557 5452 5559\n\
0000020 4f49 4150 4453 4746 0a48\n\
0000032\n\
";

/// `printf 'key: %s\n' aws | od -tx1`
const AWS_OD_TX1: &str = "\
0000000 6b 65 79 3a 20 41 4b 49 41 51 57 45 52 54 59 55\n\
0000020 49 4f 50 41 53 44 46 47 48 0a\n\
0000032\n\
";

/// `printf 'key: %s\n' aws | od -An -tx1`
const AWS_OD_AN_TX1: &str = "\
\x206b 65 79 3a 20 41 4b 49 41 51 57 45 52 54 59 55\n\
\x2049 4f 50 41 53 44 46 47 48 0a\n\
";

/// `printf 'key: %s\n' held | xxd`
const HELD_XXD: &str = "\
00000000: 6b65 793a 2074 6b5f 516d 375a 7058 3276  key: tk_Qm7ZpX2v\n\
00000010: 5239 734c 7734 4e63 4238 794b 6433 4a66  R9sLw4NcB8yKd3Jf\n\
00000020: 4836 6754 3161 456f 0a                   H6gT1aEo.\n\
";

/// `printf 'key: %s\n' held | xxd -g1`
const HELD_XXD_G1: &str = "\
00000000: 6b 65 79 3a 20 74 6b 5f 51 6d 37 5a 70 58 32 76  key: tk_Qm7ZpX2v\n\
00000010: 52 39 73 4c 77 34 4e 63 42 38 79 4b 64 33 4a 66  R9sLw4NcB8yKd3Jf\n\
00000020: 48 36 67 54 31 61 45 6f 0a                       H6gT1aEo.\n\
";

/// `printf 'key: %s\n' held | hexdump -C`
const HELD_HEXDUMP_C: &str = "\
00000000  6b 65 79 3a 20 74 6b 5f  51 6d 37 5a 70 58 32 76  |key: tk_Qm7ZpX2v|\n\
00000010  52 39 73 4c 77 34 4e 63  42 38 79 4b 64 33 4a 66  |R9sLw4NcB8yKd3Jf|\n\
00000020  48 36 67 54 31 61 45 6f  0a                       |H6gT1aEo.|\n\
00000029\n\
";

/// `printf 'key: %s\n' held | hexdump`
const HELD_HEXDUMP: &str = "\
0000000 656b 3a79 7420 5f6b 6d51 5a37 5870 7632\n\
0000010 3952 4c73 3477 634e 3842 4b79 3364 664a\n\
0000020 3648 5467 6131 6f45 000a               \n\
0000029\n\
";

/// `printf 'key: %s\n' held | od -x`
const HELD_OD_X: &str = "\
0000000 656b 3a79 7420 5f6b 6d51 5a37 5870 7632\n\
0000020 3952 4c73 3477 634e 3842 4b79 3364 664a\n\
0000040 3648 5467 6131 6f45 000a\n\
0000051\n\
";

/// `printf 'key: %s\n' held | od -tx1`
const HELD_OD_TX1: &str = "\
0000000 6b 65 79 3a 20 74 6b 5f 51 6d 37 5a 70 58 32 76\n\
0000020 52 39 73 4c 77 34 4e 63 42 38 79 4b 64 33 4a 66\n\
0000040 48 36 67 54 31 61 45 6f 0a\n\
0000051\n\
";

/// `printf 'key: %s\n' held | od -An -tx1`
const HELD_OD_AN_TX1: &str = "\
\x206b 65 79 3a 20 74 6b 5f 51 6d 37 5a 70 58 32 76\n\
\x2052 39 73 4c 77 34 4e 63 42 38 79 4b 64 33 4a 66\n\
\x2048 36 67 54 31 61 45 6f 0a\n\
";
