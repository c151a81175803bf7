//! Hex dump layers: the bytes a hex dump shows, read back from its hex
//! column (`xxd`, `xxd -g1`, `hexdump -C`, plain `hexdump`, `od -x`,
//! `od -tx1`, `od -An -tx1`).
//!
//! A dump prints every byte as spaced hex groups beside an offset column
//! (and, for `xxd` and `hexdump -C`, a text column where a value is cut
//! into 16-character pieces), so a credential shape in one was found by
//! no rule: the `patterns` detector needs the token contiguous. (A held
//! secret was already found, by the `known` projection.) Each run of
//! consecutive dump lines is decoded into the bytes it carries, as a layer
//! behind a cheap trigger like the other decoding passes (`decode.rs`),
//! and every decoded byte maps back to the hex digits that carry it, so a
//! finding's span and redaction cover exactly them.
//!
//! - **A dump line**: up to [`MAX_INDENT`] blanks; an optional offset
//!   column of [`MIN_OFFSET_DIGITS`] to [`MAX_OFFSET_DIGITS`] hex (or
//!   octal) digits, followed by `:` or a blank, then one or two blanks;
//!   then groups of 2 or 4 hex digits (either case), all of the first
//!   group's width but the last, which may be 2 digits in a line of 4,
//!   separated by single blanks (two once, after the eighth byte in a line
//!   of 2-digit groups: `hexdump -C`), 1 to [`MAX_LINE_BYTES`] bytes; then
//!   the end of the line, trailing blanks, or a text column after two or
//!   more blanks (`|…|` or `xxd`'s). A group glued to anything else, or a
//!   single blank followed by anything but a group, rejects the line.
//! - **A run**: consecutive lines (breaks are `\n`, `\r\n` or their JSON
//!   escapes, as in a dump pasted in a JSON string) that all have an
//!   offset column or all lack one, whose groups have the same width, and
//!   that carry the same number of bytes but for the last, which may carry
//!   fewer; at least [`MIN_DUMP_BYTES`] bytes in all. The line before a
//!   run's first line may hold a partial dump line after a quote (`"`,
//!   `'`, `` ` ``): a dump's first line in a JSON string or a string
//!   literal.
//! - **Byte order**: 2-digit groups are bytes. 4-digit groups are read
//!   big-endian, as `xxd` prints them (each byte mapped to its two
//!   digits), and, as a second layer, as little-endian 16-bit words, as
//!   `od -x` and plain `hexdump` print them (both bytes of a word mapped
//!   to its four digits, so a span never leaves half a word behind).
//!
//! The trigger is the line's first bytes: every line break is visited
//! (one `memchr2` per newline or backslash, see [`next_break`]) and a
//! line is rejected unless it starts, after a few blanks, with a hex
//! token of 2, 4 or 6–16 digits, which prose and code rarely do; a token
//! ends at its first other byte, so UUIDs (`-`), IPv6 addresses and timestamps (`:`
//! after fewer than 6 digits, `-`), SHA-256 lists (64 digits) and CSS
//! colours (`#`) end there. Lines of small numbers (`12 34 56 78`) are
//! read as `od -An -tx1` would print them: they decode to a small layer
//! at most a third of their size. All the runs of one byte order in a
//! layer make one decoded layer, joined by a line break that maps to the
//! text between them.

use crate::decode::{Budget, DecodeKind, Decoded};

/// Blanks that may indent a dump line (`od -An` prints one; a dump pasted
/// in Markdown or a comment may be indented further).
pub const MAX_INDENT: usize = 8;

/// Fewest digits of an offset column: `od` prints 7, `xxd` and `hexdump
/// -C` 8, `od -Ax` 6. Fewer are a group or something else (a `git log
/// --oneline` hash is 7 or more and followed by words, not groups).
pub const MIN_OFFSET_DIGITS: usize = 6;

/// Most digits of an offset column (a 64-bit offset).
pub const MAX_OFFSET_DIGITS: usize = 16;

/// Most bytes one dump line carries (every tool's default; `xxd -c 32`
/// and `od -w32` lines are not read).
pub const MAX_LINE_BYTES: usize = 16;

/// Fewest bytes a run of dump lines must carry to be decoded: fewer than
/// any credential shape or the 12 characters of the held-secret window,
/// as for character-code lists (`codes.rs`).
pub const MIN_DUMP_BYTES: usize = 8;

/// Where `hexdump -C` puts its extra blank: after this many bytes.
const HEXDUMP_GAP_AFTER: usize = 8;

/// One hex group of a dump line: where its digits start and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Group {
    at: usize,
    digits: usize,
}

/// What a dump line carries: its groups (a range of the shared list),
/// bytes, whether it has an offset column, and its groups' width.
#[derive(Debug, Clone, Copy)]
struct Line {
    groups: (usize, usize),
    bytes: usize,
    offset: bool,
    width: usize,
}

/// A run of dump lines: its lines' shape and its groups.
#[derive(Debug, Clone)]
struct Run {
    groups: (usize, usize),
    bytes: usize,
    offset: bool,
    width: usize,
    line_bytes: usize,
    /// A shorter line was taken: it was the last.
    closed: bool,
}

/// Every hex dump layer of `input` (the decoded layer `parent`, if given)
/// into `out`, within `budget`; `false` once the budget is spent.
pub(crate) fn layers(
    input: &[u8],
    parent: Option<&Decoded>,
    budget: &mut Budget,
    out: &mut Vec<Decoded>,
) -> bool {
    let mut groups = Vec::new();
    let runs = find(input, &mut groups);
    if runs.is_empty() {
        return true;
    }
    let span = |run: &Run| -> (usize, usize) {
        let first = groups.get(run.groups.0).map_or(0, |group| group.at);
        let last = groups
            .get(run.groups.1.saturating_sub(1))
            .map_or(first, |group| group.at + group.digits);
        (first, last.max(first))
    };
    let runs: Vec<&Run> = runs
        .iter()
        .filter(|run| {
            let (start, end) = span(run);
            !parent.is_some_and(|layer| layer.copied_run(start, end))
        })
        .collect();
    let big_endian = layer(input, &groups, &runs, false, DecodeKind::HexDump);
    if let Some(layer) = big_endian
        && !push(layer, budget, out)
    {
        return false;
    }
    let wide: Vec<&Run> = runs.into_iter().filter(|run| run.width == 4).collect();
    match layer(input, &groups, &wide, true, DecodeKind::HexDumpWords) {
        Some(layer) => push(layer, budget, out),
        None => true,
    }
}

/// Push `layer` if the budget allows.
fn push(layer: Decoded, budget: &mut Budget, out: &mut Vec<Decoded>) -> bool {
    if !budget.take(layer.bytes.len()) {
        return false;
    }
    out.push(layer);
    true
}

fn hex_value(byte: u8) -> u8 {
    match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        b'A'..=b'F' => byte - b'A' + 10,
        _ => 0,
    }
}

/// The byte spelt by the two hex digits at `at` (0 past the input).
fn byte_at(input: &[u8], at: usize) -> u8 {
    let digit = |offset: usize| input.get(at + offset).copied().map_or(0, hex_value);
    digit(0) << 4 | digit(1)
}

/// One layer of every run in `runs`, joined by a line break that maps to
/// the text between two runs; 4-digit groups read as little-endian words
/// with `swap`. `None` without runs.
fn layer(
    input: &[u8],
    groups: &[Group],
    runs: &[&Run],
    swap: bool,
    kind: DecodeKind,
) -> Option<Decoded> {
    let first = runs.first()?;
    let mut bytes = Vec::with_capacity(runs.iter().map(|run| run.bytes + 1).sum());
    let mut units = Vec::with_capacity(bytes.capacity());
    let mut previous_end = groups.get(first.groups.0).map_or(0, |group| group.at);
    for run in runs {
        let run_groups = groups.get(run.groups.0..run.groups.1).unwrap_or_default();
        let Some(head) = run_groups.first() else {
            continue;
        };
        if !bytes.is_empty() {
            bytes.push(b'\n');
            units.push((previous_end, head.at.max(previous_end)));
        }
        for group in run_groups {
            let at = group.at;
            if group.digits == 4 {
                let (high, low) = (byte_at(input, at), byte_at(input, at + 2));
                if swap {
                    bytes.extend_from_slice(&[low, high]);
                    units.extend_from_slice(&[(at, at + 4), (at, at + 4)]);
                } else {
                    bytes.extend_from_slice(&[high, low]);
                    units.extend_from_slice(&[(at, at + 2), (at + 2, at + 4)]);
                }
            } else {
                bytes.push(byte_at(input, at));
                units.push((at, at + 2));
            }
            previous_end = at + group.digits;
        }
    }
    Some(Decoded::with_units(kind, bytes, units))
}

/// The end of the run of hex digits from `at`.
fn hex_end(input: &[u8], at: usize, end: usize) -> usize {
    let mut index = at;
    while index < end && input.get(index).is_some_and(u8::is_ascii_hexdigit) {
        index += 1;
    }
    index
}

/// Whether `input[at]` (before `end`) is a blank.
fn blank(input: &[u8], at: usize, end: usize) -> bool {
    at < end && input.get(at) == Some(&b' ')
}

/// The dump line in `input[start..end]`, its groups appended to `groups`
/// (left as they were if it is not one).
fn parse_line(input: &[u8], start: usize, end: usize, groups: &mut Vec<Group>) -> Option<Line> {
    let mark = groups.len();
    let line = parse_groups(input, start, end, groups);
    if line.is_none() {
        groups.truncate(mark);
    }
    line
}

fn parse_groups(input: &[u8], start: usize, end: usize, groups: &mut Vec<Group>) -> Option<Line> {
    let mut at = start;
    while blank(input, at, end) && at - start < MAX_INDENT {
        at += 1;
    }
    let token_end = hex_end(input, at, end);
    let digits = token_end - at;
    let offset = (MIN_OFFSET_DIGITS..=MAX_OFFSET_DIGITS).contains(&digits);
    if offset {
        at = token_end;
        if input.get(at) == Some(&b':') && at < end {
            at += 1;
        }
        let blanks_from = at;
        while blank(input, at, end) && at - blanks_from < 2 {
            at += 1;
        }
        if at == blanks_from {
            return None;
        }
    } else if digits != 2 && digits != 4 {
        return None;
    }
    let first = groups.len();
    let mut width = 0;
    let mut bytes = 0;
    loop {
        let group_end = hex_end(input, at, end);
        let digits = group_end - at;
        if width == 0 && (digits == 2 || digits == 4) {
            width = digits;
        }
        if width == 0 || !(digits == width || digits == 2) {
            return None;
        }
        // A short group only last: what follows is checked below.
        let short = digits != width;
        groups.push(Group { at, digits });
        bytes += digits / 2;
        if bytes > MAX_LINE_BYTES {
            return None;
        }
        at = group_end;
        if at >= end {
            break;
        }
        if !blank(input, at, end) {
            // Glued to something else: `ab:cd`, `12px`, `1-2`.
            return None;
        }
        let blanks = {
            let mut index = at;
            while blank(input, index, end) {
                index += 1;
            }
            index - at
        };
        if at + blanks >= end {
            break;
        }
        let next = at + blanks;
        let next_digits = hex_end(input, next, end) - next;
        let next_ends = next + next_digits >= end || blank(input, next + next_digits, end);
        if blanks == 1 && !short && next_ends && (next_digits == width || next_digits == 2) {
            at = next;
            continue;
        }
        if blanks == 2 && width == 2 && bytes == HEXDUMP_GAP_AFTER && next_digits == 2 && next_ends
        {
            at = next;
            continue;
        }
        if blanks >= 2 {
            // The text column.
            break;
        }
        return None;
    }
    let count = groups.len() - first;
    // A 4-digit line's short last group may not stand alone with others
    // of 2 before it.
    if width == 4
        && groups[first..]
            .iter()
            .take(count.saturating_sub(1))
            .any(|group| group.digits != 4)
    {
        return None;
    }
    Some(Line {
        groups: (first, groups.len()),
        bytes,
        offset,
        width,
    })
}

/// Whether `line` continues `run`.
fn continues(run: &Run, line: &Line) -> bool {
    !run.closed
        && line.offset == run.offset
        && line.bytes <= run.line_bytes
        && (line.width == run.width || line.bytes == 1)
}

/// The first dump line in `input[start..end]` that starts right after a
/// quote and fits before a run of `next`'s shape (the line before it),
/// its groups appended to `groups`.
fn partial_line(
    input: &[u8],
    start: usize,
    end: usize,
    next: &Line,
    groups: &mut Vec<Group>,
) -> Option<Line> {
    let quotes = input.get(start..end)?;
    for at in memchr::memchr3_iter(b'"', b'\'', b'`', quotes) {
        let from = start + at + 1;
        if !input
            .get(from)
            .is_some_and(|&byte| byte == b' ' || byte.is_ascii_hexdigit())
        {
            continue;
        }
        let mark = groups.len();
        if let Some(line) = parse_line(input, from, end, groups) {
            if line.offset == next.offset && line.width == next.width && line.bytes >= next.bytes {
                return Some(line);
            }
            groups.truncate(mark);
        }
    }
    None
}

/// The runs of dump lines in `input` carrying at least [`MIN_DUMP_BYTES`]
/// bytes, in order, their groups in `groups` (the groups of shorter runs
/// are dropped again, so the list holds only what is decoded).
fn find(input: &[u8], groups: &mut Vec<Group>) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    let mut current: Option<Run> = None;
    // The previous line, if it was not a dump line: a partial first line.
    let mut previous: Option<(usize, usize)> = None;
    // A run's groups are the last in the list until the next is started.
    let finish = |run: Option<Run>, groups: &mut Vec<Group>, runs: &mut Vec<Run>| {
        if let Some(run) = run {
            if run.bytes >= MIN_DUMP_BYTES {
                runs.push(run);
            } else {
                groups.truncate(run.groups.0);
            }
        }
    };
    let mut next_start = 0;
    while next_start <= input.len() {
        let start = next_start;
        let end;
        (end, next_start) = next_break(input, start).unwrap_or((input.len(), input.len() + 1));
        let line = may_be_dump_line(input, start, end)
            .then(|| parse_line(input, start, end, groups))
            .flatten();
        let Some(line) = line else {
            finish(current.take(), groups, &mut runs);
            previous = Some((start, end));
            continue;
        };
        if let Some(run) = current.as_mut()
            && continues(run, &line)
        {
            run.groups.1 = line.groups.1;
            run.bytes += line.bytes;
            run.closed = line.bytes < run.line_bytes;
            previous = None;
            continue;
        }
        // A new run: this line's groups set aside while the last run is
        // finished and a partial line before it is looked for.
        let own: Vec<Group> = groups.drain(line.groups.0..).collect();
        finish(current.take(), groups, &mut runs);
        let head = previous
            .take()
            .and_then(|(before, end)| partial_line(input, before, end, &line, groups));
        let first = head.map_or(groups.len(), |head| head.groups.0);
        groups.extend(own);
        current = Some(match head {
            Some(head) => Run {
                groups: (first, groups.len()),
                bytes: head.bytes + line.bytes,
                offset: line.offset,
                width: line.width,
                line_bytes: head.bytes,
                closed: line.bytes < head.bytes,
            },
            None => Run {
                groups: (first, groups.len()),
                bytes: line.bytes,
                offset: line.offset,
                width: line.width,
                line_bytes: line.bytes,
                closed: false,
            },
        });
    }
    finish(current.take(), groups, &mut runs);
    runs
}

/// The next line break at or after `from`: where the line before it ends
/// (before a `\r` or `\\r` just before the break) and where the next
/// line starts; `None` if there is none. A break is `\n`, `\r\n` or their
/// JSON escapes, as for wrapped blobs (`decode::line_breaks`), but an
/// escaped backslash before an `n` (`\\\\n`) is not one. One `memchr2`
/// per newline or backslash: cheaper than merging a `memchr` and a
/// `memmem` pass where lines are short.
fn next_break(input: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut at = from;
    loop {
        let hit = at + memchr::memchr2(b'\n', b'\\', input.get(at..)?)?;
        let trim = |carriage: &[u8]| {
            hit.checked_sub(carriage.len())
                .filter(|&before| before >= from && input.get(before..hit) == Some(carriage))
                .unwrap_or(hit)
        };
        if input.get(hit) == Some(&b'\n') {
            return Some((trim(b"\r"), hit + 1));
        }
        match input.get(hit + 1) {
            Some(b'n') => return Some((trim(b"\\r"), hit + 2)),
            Some(b'\\') => at = hit + 2,
            _ => at = hit + 1,
        }
    }
}

/// Whether the line `input[start..end]` may be a dump line at all: after
/// at most [`MAX_INDENT`] blanks, a hex digit. Most prose and code lines
/// stop here.
fn may_be_dump_line(input: &[u8], start: usize, end: usize) -> bool {
    let mut at = start;
    while blank(input, at, end) && at - start < MAX_INDENT {
        at += 1;
    }
    at < end && input.get(at).is_some_and(u8::is_ascii_hexdigit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(input: &[u8]) -> Vec<(DecodeKind, Vec<u8>)> {
        let mut budget = crate::decode::budget_for(input.len());
        let mut out = Vec::new();
        assert!(layers(input, None, &mut budget, &mut out));
        out.into_iter()
            .map(|layer| (layer.kind, layer.bytes))
            .collect()
    }

    #[test]
    fn each_tool_s_dump_is_read() {
        let xxd = b"00000000: 6b65 793a 2074 6b5f 516d 375a 7058 3276  key: tk_Qm7ZpX2v\n\
00000010: 5239 734c 7734 4e63 4238 794b 6433 4a66  R9sLw4NcB8yKd3Jf\n\
00000020: 4836 6754 3161 456f 0a                   H6gT1aEo.\n";
        let text = b"key: tk_Qm7ZpX2vR9sLw4NcB8yKd3JfH6gT1aEo\n".to_vec();
        let layers = decoded(xxd);
        assert_eq!(layers[0], (DecodeKind::HexDump, text.clone()));
        let hexdump_c =
            b"00000000  6b 65 79 3a 20 74 6b 5f  51 6d 37 5a 70 58 32 76  |key: tk_Qm7ZpX2v|\n\
00000010  52 39 73 4c 77 34 4e 63  42 38 79 4b 64 33 4a 66  |R9sLw4NcB8yKd3Jf|\n\
00000020  48 36 67 54 31 61 45 6f  0a                       |H6gT1aEo.|\n\
00000029\n";
        assert_eq!(
            decoded(hexdump_c),
            vec![(DecodeKind::HexDump, text.clone())]
        );
        let od_x = b"0000000 656b 3a79 7420 5f6b 6d51 5a37 5870 7632\n\
0000020 3952 4c73 3477 634e 3842 4b79 3364 664a\n\
0000040 3648 5467 6131 6f45 000a\n\
0000051\n";
        let mut padded = text.clone();
        padded.push(0);
        assert_eq!(decoded(od_x)[1], (DecodeKind::HexDumpWords, padded));
        let od_an = b" 6b 65 79 3a 20 74 6b 5f 51 6d 37 5a 70 58 32 76\n\
\x2052 39 73 4c 77 34 4e 63 42 38 79 4b 64 33 4a 66\n\
\x2048 36 67 54 31 61 45 6f 0a\n";
        assert_eq!(decoded(od_an), vec![(DecodeKind::HexDump, text)]);
    }

    #[test]
    fn a_first_line_after_a_quote_is_read() {
        let json = b"{\"out\": \"00000000: 6b65 793a 2074 6b5f 516d 375a 7058 3276  key: tk_Qm7ZpX2v\\n00000010: 5239 734c  R9sL\\n\"}";
        let layers = decoded(json);
        assert_eq!(layers[0].1, b"key: tk_Qm7ZpX2vR9sL");
    }

    #[test]
    fn ordinary_text_is_not_a_dump() {
        for text in [
            "550e8400-e29b-41d4-a716-446655440000\n6ba7b810-9dad-11d1-80b4-00c04fd430c8\n",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a.txt\n\
             2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae  b.txt\n",
            "a1b2c3d Fix the build\nb2c3d4e add feature flags\ncafe123 bump deps\n",
            "fe80::1ff:fe23:4567:890a\n2001:0db8:85a3:0000:0000:8a2e:0370:7334\n",
            "a { color: #ff0000; }\n.b { background: #fff; }\n",
            "2024-01-01 12:00:00 INFO ready\n2024-01-01 12:00:01 INFO done\n",
            "fn main() {\n    let x = 1;\n    add(x, 2);\n}\n",
        ] {
            assert_eq!(decoded(text.as_bytes()), Vec::new(), "{text}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_input_maps_every_byte_inside_it(
            input in proptest::collection::vec(
                proptest::sample::select(b"0123456789abcdefAF :|\"\n\r\\nx".to_vec()),
                0..600,
            ),
        ) {
            let mut budget = crate::decode::budget_for(input.len());
            let mut out = Vec::new();
            layers(&input, None, &mut budget, &mut out);
            for layer in out {
                for index in 0..layer.bytes.len() {
                    let (start, end) = layer.input_span(index, index + 1);
                    proptest::prop_assert!(start <= end && end <= input.len());
                }
            }
        }
    }
}
