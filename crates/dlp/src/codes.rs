//! Character-code layers: text spelt as a list of byte values
//! (`[99, 97, 110, …]`, `String.fromCharCode(99,97,…)`, `bytes([0x63,
//! 0x61, …])`, `od -An -tu1` output) and text in EBCDIC (code pages 037
//! and 500, what `iconv -t IBM037` or Python's `encode("cp500")` write).
//!
//! Both are one call away for an agent and hid a held secret or a
//! credential shape from every other pass: a list of numbers projects to
//! a run of digits, and EBCDIC letters and digits are bytes above 0x80,
//! which the held-secret projection drops. Each is decoded as a layer
//! behind a cheap trigger, like the other decoding passes (`decode.rs`),
//! and every decoded byte maps back to the input bytes that carry it, so a
//! finding's span and redaction cover exactly them.
//!
//! - **Code lists**: a run of at least [`MIN_CODE_LIST`] integers, each
//!   0–255, decimal (one to three digits) or `0x` hex (one or two digits),
//!   separated by blanks, line breaks and at most one comma each. What
//!   surrounds the list (`[…]`, `(…)`, `bytes([…])`, `new
//!   Uint8Array([…])`) does not matter. A value over 255, a number glued to
//!   a letter, `.` or `-` (`1.5`, `-3`, `12px`), two commas in a row, or any
//!   other byte ends the run. The trigger is a digit followed by a
//!   separator and a digit or separator (`9, 9`, `9 9`, `9,9`, `0x67, `),
//!   found 64 bytes at a time by `simd::code_list_hints`; the stretch of
//!   list characters around a trigger is read once.
//! - **EBCDIC**: a run of at least [`MIN_EBCDIC_RUN`] bytes that are EBCDIC
//!   letters or digits (all of them above 0x80, so ASCII text never has
//!   one; found 64 bytes at a time by `simd::ebcdic_alnum_runs`, two
//!   nibble-table shuffles per vector and only a sign-bit test for ASCII),
//!   widened over the bytes either code page maps to printable ASCII, tab
//!   or a line break, is translated with code page 037 (and 500 too where the
//!   region holds one of the seven bytes where they differ: `[ ] ! ^ |`).
//!
//! All the regions of one kind in a layer make one decoded layer, joined by
//! a line break that maps to the text between them (so a scan costs one
//! more layer, not one per list).

use crate::decode::{Budget, CharRun, DecodeKind, Decoded};

/// Shortest run of integers decoded as character codes. Eight: shorter
/// runs are everywhere in ordinary JSON and code (coordinates, RGB
/// triples, dates, a matrix row of four), while eight values are already
/// fewer than any credential shape or the 12 characters the held-secret
/// window needs, so a value is not split into short lists unnoticed
/// unless each is shorter than this (a limit, see `docs/dlp.md`). A
/// benign list of eight small numbers decodes to a few control bytes and
/// costs one small layer.
pub const MIN_CODE_LIST: usize = 8;

/// Shortest run of EBCDIC letters and digits that triggers the EBCDIC
/// layer. In random binary data such a run turns up about once per 100 KB
/// (each byte is one with probability 62/256), in UTF-8 text rarely (a
/// continuation byte is one with probability 26/64): each costs a small
/// region of the layer.
pub const MIN_EBCDIC_RUN: usize = 8;

/// EBCDIC code page 037 (US/Canada) to ASCII: printable ASCII, tab, CR and
/// LF (NEL `0x15` too); 0 for the rest.
static CP037: [u8; 256] = [
    0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0D, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2E, 0x3C, 0x28, 0x2B, 0x7C,
    0x26, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x24, 0x2A, 0x29, 0x3B, 0x00,
    0x2D, 0x2F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2C, 0x25, 0x5F, 0x3E, 0x3F,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x60, 0x3A, 0x23, 0x40, 0x27, 0x3D, 0x22,
    0x00, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F, 0x70, 0x71, 0x72, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x7E, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x5E, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5B, 0x5D, 0x00, 0x00, 0x00, 0x00,
    0x7B, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x7D, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F, 0x50, 0x51, 0x52, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x5C, 0x00, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// The bytes where code page 500 (International) differs from 037, and
/// what 500 maps them to (0: not ASCII, `¢` and `¬`).
const CP500_CHANGES: [(u8, u8); 7] = [
    (0x4A, b'['),
    (0x4F, b'!'),
    (0x5A, b']'),
    (0x5F, b'^'),
    (0xB0, 0),
    (0xBA, 0),
    (0xBB, b'|'),
];

/// EBCDIC code page 500 to ASCII, as [`CP037`].
static CP500: [u8; 256] = {
    let mut table = CP037;
    let mut index = 0;
    while index < CP500_CHANGES.len() {
        let (byte, ascii) = CP500_CHANGES[index];
        table[byte as usize] = ascii;
        index += 1;
    }
    table
};

/// Whether `byte` is an EBCDIC letter or digit (the same in 037 and 500;
/// every one is above 0x80).
#[inline]
fn is_ebcdic_alnum(byte: u8) -> bool {
    crate::simd::is_ebcdic_alnum(byte)
}

/// Whether either code page maps `byte` to printable ASCII, a tab or a line
/// break: the bytes an EBCDIC region is widened over.
#[inline]
fn is_ebcdic_text(byte: u8) -> bool {
    CP037[usize::from(byte)] != 0 || CP500[usize::from(byte)] != 0
}

/// Every character-code and EBCDIC layer of `input` (the decoded layer
/// `parent`, if given) into `out`, within `budget`; `false` once the
/// budget is spent.
pub(crate) fn layers(
    input: &[u8],
    parent: Option<&Decoded>,
    budget: &mut Budget,
    out: &mut Vec<Decoded>,
) -> bool {
    let copied =
        |start: usize, end: usize| parent.is_some_and(|layer| layer.copied_run(start, end));
    let (lists, regions) = find(input);
    let lists: Vec<CodeRun> = lists
        .into_iter()
        .filter(|run| !copied(run.span().0, run.span().1))
        .collect();
    if let Some(layer) = code_layer(&lists)
        && !push(layer, budget, out)
    {
        return false;
    }
    let regions: Vec<(usize, usize)> = regions
        .into_iter()
        .filter(|&(start, end)| !copied(start, end))
        .collect();
    if regions.is_empty() {
        return true;
    }
    let differ = regions.iter().any(|&(start, end)| {
        input[start..end]
            .iter()
            .any(|&byte| CP037[usize::from(byte)] != CP500[usize::from(byte)])
    });
    if !push(ebcdic_layer(input, &regions, &CP037), budget, out) {
        return false;
    }
    !differ || push(ebcdic_layer(input, &regions, &CP500), budget, out)
}

/// Push `layer` if the budget allows.
fn push(layer: Decoded, budget: &mut Budget, out: &mut Vec<Decoded>) -> bool {
    if !budget.take(layer.bytes.len()) {
        return false;
    }
    out.push(layer);
    true
}

/// One run of character codes: each value and the input span of its
/// number (`0x` included).
#[derive(Debug, Clone, PartialEq, Eq)]
struct CodeRun {
    values: Vec<u8>,
    units: Vec<(usize, usize)>,
}

impl CodeRun {
    /// From the first number's start to the last one's end.
    fn span(&self) -> (usize, usize) {
        let start = self.units.first().map_or(0, |unit| unit.0);
        (start, self.units.last().map_or(start, |unit| unit.1))
    }
}

/// A byte that may belong to a code list: a digit, a hex letter, `x`, a
/// comma or a blank or line break.
#[inline]
fn is_list_byte(byte: u8) -> bool {
    byte.is_ascii_hexdigit() || matches!(byte, b'x' | b'X' | b',' | b' ' | b'\t' | b'\r' | b'\n')
}

/// A separator between numbers of a list.
#[inline]
fn is_separator(byte: u8) -> bool {
    matches!(byte, b',' | b' ' | b'\t' | b'\r' | b'\n')
}

/// A byte that glues onto a number and makes it something else (`1.5`,
/// `-3`, `12px`, `v2`).
#[inline]
fn glues(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'+' | b'_')
}

/// The byte value a list token spells: 1–3 decimal digits up to 255, or
/// `0x`/`0X` and 1–2 hex digits.
fn token_value(token: &[u8]) -> Option<u8> {
    if let [b'0', b'x' | b'X', digits @ ..] = token {
        if digits.is_empty() || digits.len() > 2 {
            return None;
        }
        return digits.iter().try_fold(0u8, |value, &digit| {
            let digit = char::from(digit).to_digit(16)?;
            Some(value * 16 + digit as u8)
        });
    }
    if token.is_empty() || token.len() > 3 {
        return None;
    }
    let value = token.iter().try_fold(0u16, |value, &digit| {
        digit
            .is_ascii_digit()
            .then(|| value * 10 + u16::from(digit - b'0'))
    })?;
    u8::try_from(value).ok()
}

/// The runs of at least [`MIN_CODE_LIST`] character codes in `input` and
/// its EBCDIC regions (see [`ebcdic_region`]), each in order, from one
/// pass over the triggers (`simd::code_triggers`, or a byte at a time
/// without vector instructions).
///
/// A code-list trigger is widened to the stretch of list bytes around it,
/// which is tokenised once; a later trigger inside a stretch already read
/// is skipped, so every byte is read a bounded number of times.
fn find(input: &[u8]) -> (Vec<CodeRun>, Vec<(usize, usize)>) {
    let mut runs = Vec::new();
    let mut regions: Vec<(usize, usize)> = Vec::new();
    let mut read_to = 0usize;
    let mut list = |hint: usize| {
        if hint < read_to {
            return;
        }
        let mut start = hint;
        while start > read_to && is_list_byte(input[start - 1]) {
            start -= 1;
        }
        let mut end = hint;
        while end < input.len() && is_list_byte(input[end]) {
            end += 1;
        }
        read_to = end;
        tokenise(input, start, end, &mut runs);
    };
    let mut ebcdic = |at: usize| ebcdic_region(input, at, &mut regions);
    let vector = MIN_EBCDIC_RUN == crate::simd::EBCDIC_ALNUM_RUN
        && crate::simd::code_triggers(input, &mut list, &mut ebcdic);
    if !vector {
        for index in 0..input.len() {
            if is_code_list_hint(input, index) {
                list(index);
            }
            if is_ebcdic_start(input, index) {
                ebcdic(index);
            }
        }
    }
    (runs, regions)
}

/// Whether a run of at least [`MIN_EBCDIC_RUN`] EBCDIC letters and digits
/// begins at `index`. (The reference for `simd::code_triggers`.)
fn is_ebcdic_start(input: &[u8], index: usize) -> bool {
    (index == 0 || !is_ebcdic_alnum(input[index - 1]))
        && input
            .get(index..index + MIN_EBCDIC_RUN)
            .is_some_and(|run| run.iter().all(|&byte| is_ebcdic_alnum(byte)))
}

/// Whether a code-list trigger starts at `index`: a digit, then a
/// separator, then a digit or a separator. A separator here is `,` or any
/// byte up to blank ([`crate::simd::is_hint_separator`]), one vector
/// compare fewer than the exact set; the tokeniser is exact. A list of hex
/// values triggers where one of them ends in a decimal digit (`0x67, `):
/// eight values whose low nibbles are all `a`–`f` do not (a limit, see
/// `docs/dlp.md`). (The reference for `simd::code_list_hints`.)
pub(crate) fn is_code_list_hint(input: &[u8], index: usize) -> bool {
    let separator =
        |byte: Option<&u8>| byte.is_some_and(|&byte| crate::simd::is_hint_separator(byte));
    let digit = |byte: Option<&u8>| byte.is_some_and(u8::is_ascii_digit);
    digit(input.get(index))
        && separator(input.get(index + 1))
        && (digit(input.get(index + 2)) || separator(input.get(index + 2)))
}

/// The runs of character codes in the stretch of list bytes
/// `input[start..end]`, appended to `runs`.
fn tokenise(input: &[u8], start: usize, end: usize, runs: &mut Vec<CodeRun>) {
    let mut current = CodeRun {
        values: Vec::new(),
        units: Vec::new(),
    };
    let mut flush = |current: &mut CodeRun| {
        if current.values.len() >= MIN_CODE_LIST {
            runs.push(std::mem::replace(
                current,
                CodeRun {
                    values: Vec::new(),
                    units: Vec::new(),
                },
            ));
        } else {
            current.values.clear();
            current.units.clear();
        }
    };
    let mut index = start;
    let mut commas = 0usize;
    while index < end {
        let byte = input[index];
        if is_separator(byte) {
            commas += usize::from(byte == b',');
            if commas > 1 {
                flush(&mut current);
                commas = 1;
            }
            index += 1;
            continue;
        }
        let mut token_end = index;
        while token_end < end && !is_separator(input[token_end]) {
            token_end += 1;
        }
        let glued = (index == start && index > 0 && glues(input[index - 1]))
            || (token_end == end && input.get(end).is_some_and(|&next| glues(next)));
        match token_value(&input[index..token_end]) {
            Some(value) if !glued => {
                current.values.push(value);
                current.units.push((index, token_end));
            }
            _ => flush(&mut current),
        }
        commas = 0;
        index = token_end;
    }
    flush(&mut current);
}

/// One layer of every code run, joined by a line break that maps to the
/// text between two runs.
fn code_layer(runs: &[CodeRun]) -> Option<Decoded> {
    let first = runs.first()?;
    let mut bytes = Vec::new();
    let mut units = Vec::new();
    let mut previous_end = first.span().0;
    for run in runs {
        let (start, end) = run.span();
        if !bytes.is_empty() {
            bytes.push(b'\n');
            units.push((previous_end, start.max(previous_end)));
        }
        bytes.extend_from_slice(&run.values);
        units.extend_from_slice(&run.units);
        previous_end = end;
    }
    Some(Decoded::with_units(DecodeKind::CharCodes, bytes, units))
}

/// The EBCDIC region of the run of letters and digits that begins at
/// `at` (at least [`MIN_EBCDIC_RUN`] long), appended to `regions` unless
/// an earlier region already covers it: the run widened over EBCDIC text
/// both ways, back no further than the previous region's end.
fn ebcdic_region(input: &[u8], at: usize, regions: &mut Vec<(usize, usize)>) {
    let floor = regions.last().map_or(0, |last| last.1);
    if at < floor {
        return;
    }
    let mut start = at;
    while start > floor && is_ebcdic_text(input[start - 1]) {
        start -= 1;
    }
    let mut end = at;
    while end < input.len() && is_ebcdic_text(input[end]) {
        end += 1;
    }
    regions.push((start, end));
}

/// One layer of every EBCDIC region translated with `table`, joined by a
/// line break that maps to the bytes between two regions; a byte the code
/// page does not map to ASCII becomes `?`.
fn ebcdic_layer(input: &[u8], regions: &[(usize, usize)], table: &[u8; 256]) -> Decoded {
    let mut bytes = Vec::new();
    let mut runs = Vec::with_capacity(regions.len() * 2);
    let mut previous_end = None;
    for &(start, end) in regions {
        if let Some(previous_end) = previous_end {
            runs.push(CharRun {
                decoded: bytes.len(),
                input: previous_end,
                out_len: 1,
                in_len: start.saturating_sub(previous_end).max(1),
            });
            bytes.push(b'\n');
        }
        runs.push(CharRun {
            decoded: bytes.len(),
            input: start,
            out_len: 1,
            in_len: 1,
        });
        bytes.extend(
            input[start..end]
                .iter()
                .map(|&byte| match table[usize::from(byte)] {
                    0 => b'?',
                    ascii => ascii,
                }),
        );
        previous_end = Some(end);
    }
    Decoded::with_char_runs(DecodeKind::Ebcdic, bytes, runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(input: &[u8]) -> Vec<Vec<u8>> {
        find(input).0.into_iter().map(|run| run.values).collect()
    }

    fn ebcdic_regions(input: &[u8]) -> Vec<(usize, usize)> {
        find(input).1
    }

    #[test]
    fn code_lists_in_their_usual_dress_are_read() {
        let expected = vec![b"canary_Q7".to_vec()];
        for text in [
            "[99, 97, 110, 97, 114, 121, 95, 81, 55]",
            "String.fromCharCode(99,97,110,97,114,121,95,81,55)",
            "bytes([0x63, 0x61, 0x6e, 0x61, 0x72, 0x79, 0x5f, 0x51, 0x37])",
            "new Uint8Array([0x63,0x61,0x6E,0x61,0x72,0x79,0x5F,0x51,0x37])",
            "  99  97 110  97 114 121  95  81  55\n",
            "[\n  99,\n  97,\n  110,\n  97,\n  114,\n  121,\n  95,\n  81,\n  55\n]",
        ] {
            assert_eq!(values(text.as_bytes()), expected, "{text}");
        }
    }

    #[test]
    fn numbers_that_are_not_codes_are_not_read() {
        for text in [
            "[1, 2, 3]",
            "[1, 2, 3, 4, 5, 6, 7]",
            "[101, 2023, 2003, 1037, 3793, 4937, 2003, 1037]",
            "[1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5]",
            "[-1, -2, -3, -4, -5, -6, -7, -8, -9]",
            "1,,2,,3,,4,,5,,6,,7,,8,,9",
            "12px 13px 14px 15px 16px 17px 18px 19px",
            "0xfff, 0x100, 0x1000, 0x10000, 0xabc, 0xdef, 0x123, 0x456",
        ] {
            assert_eq!(values(text.as_bytes()), Vec::<Vec<u8>>::new(), "{text}");
        }
    }

    #[test]
    fn a_value_over_255_ends_a_run() {
        let text = b"1, 2, 3, 4, 5, 6, 7, 8, 300, 9, 10, 11, 12, 13, 14, 15, 16";
        assert_eq!(
            values(text),
            vec![
                vec![1, 2, 3, 4, 5, 6, 7, 8],
                vec![9, 10, 11, 12, 13, 14, 15, 16]
            ]
        );
    }

    #[test]
    fn ebcdic_runs_are_translated_and_ascii_is_not() {
        let ebcdic: Vec<u8> =
            b"\x83\x81\x95\x81\x99\xa8\x6d\xd8\xf7\xa6\xf8\xc5\xf9\x99\xf0\xe3\xf1".to_vec();
        let mut input = b"note: ".to_vec();
        input.extend_from_slice(&ebcdic);
        input.extend_from_slice(b" tail");
        assert_eq!(ebcdic_regions(&input), vec![(6, 6 + ebcdic.len())]);
        let layer = ebcdic_layer(&input, &ebcdic_regions(&input), &CP037);
        assert_eq!(layer.bytes, b"canary_Q7w8E9r0T1");
        assert!(ebcdic_regions(b"plain ASCII text, nothing else: 0123456789").is_empty());
        assert!(ebcdic_regions("здравствуйте, 你好世界".as_bytes()).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn vector_and_scalar_triggers_agree(
            input in proptest::collection::vec(
                proptest::sample::select(
                    b"0123456789, \n\t\0xa(\xff\x81\x89\x8a\x90\xa1\xa2\xb5\xc1\xe2\xf0\xf9\xfa\x6d\x40\x80".to_vec(),
                ),
                0..400,
            ),
            ebcdic_heavy in proptest::bool::ANY,
        ) {
            // Mostly EBCDIC letters and digits, for long runs, or mixed.
            let input: Vec<u8> = if ebcdic_heavy {
                input.iter().map(|&byte| if byte < 0x80 && byte != b' ' { 0xC1 } else { byte }).collect()
            } else {
                input
            };
            let lists: Vec<usize> = (0..input.len())
                .filter(|&index| is_code_list_hint(&input, index))
                .collect();
            let runs: Vec<usize> = (0..input.len())
                .filter(|&index| is_ebcdic_start(&input, index))
                .collect();
            for vector in crate::simd::code_triggers_every_path(&input) {
                proptest::prop_assert_eq!(vector, (lists.clone(), runs.clone()));
            }
        }
    }

    #[test]
    fn the_nibble_tables_are_the_code_pages_letters_and_digits() {
        for byte in 0..=255u8 {
            let table = byte >= 0x80 && CP037[usize::from(byte)].is_ascii_alphanumeric();
            assert_eq!(is_ebcdic_alnum(byte), table, "{byte:#04x}");
            assert_eq!(
                CP037[usize::from(byte)].is_ascii_alphanumeric(),
                CP500[usize::from(byte)].is_ascii_alphanumeric()
            );
        }
    }
}
