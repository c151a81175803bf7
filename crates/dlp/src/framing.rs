//! What may stand between two pieces of a blob cut into pieces, for the
//! wrapped-blob pass of `decode.rs` (`wrapped_runs`): the small grammar of
//! the framings an encoder's output is printed in, read at a cut.
//!
//! Between a piece's alphabet and the next piece's there may be:
//!
//! - a **line break** (`\n`, `\r\n`, or their JSON escapes `\\n`,
//!   `\\r\\n`), with around it: blanks trailing the line, a closing quote
//!   (`"`, `'`, `` ` ``, or a quote escaped with `\` in a JSON string) and
//!   after it an operator (`,`, `+`, `.`, `..`, `&`, `||`), or a `\`
//!   continuation; then blank lines, each line's indentation, a comment or
//!   quoting prefix (`#`, `;`, `%`, `>` and nested `> >`, a block
//!   comment's `*`, and `//`, `///` or `--` followed by a blank), a leading
//!   operator before a quote, and an opening quote. So `base64` output in a
//!   comment block or a quoted mail, a JS/Java/PHP/Lua/SQL concatenation
//!   (`"…" +` or `+ "…"`), Python's implicit concatenation, a shell
//!   continuation, a pretty-printed JSON array of lines and blocks
//!   separated by blank lines all read as one blob;
//! - **inline**, on one line: blanks alone (`echo $(base64 f)` joins the
//!   lines with single spaces), or a closing quote, blanks, operators,
//!   blanks and an opening quote (`["…","…"]`, `"…" "…"`, `"…" + "…"`).
//!   Inline cuts are read only next to a long run of alphabet (at least
//!   `MIN_BLOB_LEN` characters, as the run finders report them): after
//!   it, and before it when quoted (a short first piece). So prose words
//!   joined by spaces cost nothing, and pieces narrower than
//!   `MIN_BLOB_LEN` on one line do not join.
//!
//! Each function reads a bounded stretch at one cut (blanks, at most two
//! quotes, two operator bytes, a prefix), except blank lines, which are
//! read once by the one cut before them. None indexes past the input.

use crate::decode::{break_len, is_blob_byte, is_line_alphabet};

/// Whether `byte` may indent a line or trail it, or stand between pieces.
fn is_blank(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

fn skip_blanks(input: &[u8], mut at: usize) -> usize {
    while input.get(at).copied().is_some_and(is_blank) {
        at += 1;
    }
    at
}

fn skip_blanks_back(input: &[u8], mut at: usize) -> usize {
    while at > 0 && input.get(at - 1).copied().is_some_and(is_blank) {
        at -= 1;
    }
    at
}

fn is_quote(byte: u8) -> bool {
    matches!(byte, b'"' | b'\'' | b'`')
}

/// Whether `byte` joins string pieces (`,` in a list; `+`, `.`, `..`, `&`,
/// `||` concatenate in JS/Java, PHP, Lua, VB, SQL).
fn is_operator(byte: u8) -> bool {
    matches!(byte, b',' | b'+' | b'.' | b'&' | b'|')
}

/// Past at most two operator bytes at `at`.
fn skip_operators(input: &[u8], at: usize) -> usize {
    let mut end = at;
    while end < at + 2 && input.get(end).copied().is_some_and(is_operator) {
        end += 1;
    }
    end
}

/// Before at most two operator bytes ending at `at`.
fn skip_operators_back(input: &[u8], at: usize) -> usize {
    let mut start = at;
    while start + 2 > at && start > 0 && input.get(start - 1).copied().is_some_and(is_operator) {
        start -= 1;
    }
    start
}

/// Past the quote at `at` (`"`, `'`, or either escaped with `\`), if one is
/// there.
fn quote_at(input: &[u8], at: usize) -> Option<usize> {
    match input.get(at..)? {
        [quote, ..] if is_quote(*quote) => Some(at + 1),
        [b'\\', quote, ..] if is_quote(*quote) => Some(at + 2),
        _ => None,
    }
}

/// Whether `byte` may prefix a string literal's opening quote (Python's
/// `b"…"`, `r"…"`, `f"…"`, `u"…"`, `rb"…"`).
fn is_string_prefix(byte: u8) -> bool {
    matches!(byte, b'b' | b'B' | b'r' | b'R' | b'f' | b'F' | b'u' | b'U')
}

/// Past the opening quote at `at`, with up to two string prefix letters
/// before it, if one is there.
fn open_quote_at(input: &[u8], at: usize) -> Option<usize> {
    let mut quote = at;
    while quote < at + 2 && input.get(quote).copied().is_some_and(is_string_prefix) {
        quote += 1;
    }
    quote_at(input, quote).or_else(|| quote_at(input, at))
}

/// Where the opening quote ending just before `at` starts, with up to two
/// string prefix letters before it (when no other alphabet precedes them).
fn open_quote_before(input: &[u8], at: usize) -> Option<usize> {
    let quote = quote_before(input, at)?;
    let mut start = quote;
    while start + 2 > quote
        && start > 0
        && input.get(start - 1).copied().is_some_and(is_string_prefix)
    {
        start -= 1;
    }
    Some(if start > 0 && is_line_alphabet(input, start - 1) {
        quote
    } else {
        start
    })
}

/// Where the quote ending just before `at` starts (its `\` included when
/// escaped), if one is there.
fn quote_before(input: &[u8], at: usize) -> Option<usize> {
    let quote = at.checked_sub(1)?;
    if !input.get(quote).copied().is_some_and(is_quote) {
        return None;
    }
    Some(match quote.checked_sub(1) {
        Some(escape) if input.get(escape) == Some(&b'\\') => escape,
        _ => quote,
    })
}

/// Before a `\\n` or `\\r\\n` escape ending at `at` (a C string's
/// `"…\\n"`), or `at`.
fn escaped_break_before(input: &[u8], at: usize) -> usize {
    let before = |suffix: &[u8]| {
        at.checked_sub(suffix.len())
            .filter(|&start| input.get(start..at) == Some(suffix))
    };
    before(b"\\r\\n").or_else(|| before(b"\\n")).unwrap_or(at)
}

/// Where a piece's alphabet ends on the line whose break starts at `at`:
/// before trailing blanks, a closing quote and an operator after it
/// (`"…" +`, `"…",`, `"…" .`, `"…" \`), or a bare `\` continuation.
/// `None` unless blob alphabet is there.
pub(crate) fn piece_end_before(input: &[u8], at: usize) -> Option<usize> {
    let mut end = skip_blanks_back(input, at);
    let last = *input.get(end.checked_sub(1)?)?;
    if is_operator(last) || last == b'\\' {
        let operators = if last == b'\\' {
            end - 1
        } else {
            skip_operators_back(input, end)
        };
        let before = skip_blanks_back(input, operators);
        if let Some(quote) = quote_before(input, before) {
            end = escaped_break_before(input, quote);
        } else if last == b'\\' {
            // A `\` continuation of an unquoted line.
            end = before;
        }
        // `+` with no quote before it is the line's last alphabet byte;
        // another operator fails below.
    } else if let Some(quote) = quote_before(input, end) {
        end = escaped_break_before(input, quote);
    }
    (end > 0 && is_line_alphabet(input, end - 1)).then_some(end)
}

/// Whether the piece whose alphabet ends at `at` ends its line: trailing
/// blanks, a closing quote and an operator (the forms
/// [`piece_end_before`] reads back), then a line break or the end of the
/// input.
pub(crate) fn line_ends_after(input: &[u8], at: usize) -> bool {
    let mut at = skip_blanks(input, at);
    if break_len(input, at).is_some() {
        return true;
    }
    let quoted = if let Some(after) = quote_at(input, at) {
        at = skip_blanks(input, after);
        if break_len(input, at).is_some() {
            return true;
        }
        true
    } else {
        false
    };
    let after = match input.get(at) {
        Some(&byte) if quoted && is_operator(byte) => skip_operators(input, at),
        Some(b'\\') => at + 1,
        _ => return false,
    };
    break_len(input, skip_blanks(input, after)).is_some()
}

/// Past a comment, quoting, list or line-number prefix at `at` (`#`,
/// `//`, `///`, `--` or `-` followed by a blank, `;`, `%`, `>` and nested
/// `> >`, a block comment's `*` not closing it, digits followed by a tab,
/// `→`, `:` or `|`); `at` if there is none.
fn skip_prefix(input: &[u8], at: usize) -> usize {
    let Some(&first) = input.get(at) else {
        return at;
    };
    let mut end = at;
    match first {
        b'0'..=b'9' => {
            // A line number (`cat -n`, `nl`, a tool's listing): digits,
            // then a tab, `→`, or `:` or `|` (and blanks).
            while end < at + 9 && input.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
            return match input.get(end..) {
                Some([b'\t' | b':' | b'|', ..]) => end + 1,
                Some([0xE2, 0x86, 0x92, ..]) => end + 3,
                _ => at,
            };
        }
        b'#' | b';' | b'%' => {
            while input.get(end) == Some(&first) {
                end += 1;
            }
        }
        b'>' => {
            while input.get(end) == Some(&b'>') {
                end = skip_blanks(input, end + 1);
            }
        }
        b'*' if input.get(at + 1) != Some(&b'/') => end += 1,
        b'/' | b'-' => {
            while input.get(end) == Some(&first) {
                end += 1;
            }
            // Both are alphabet: a prefix only when a blank follows (a
            // YAML or Markdown list's `- `, `//`, `--`).
            let least = if first == b'/' { 2 } else { 1 };
            if end - at < least || !input.get(end).copied().is_some_and(is_blank) {
                return at;
            }
        }
        _ => {}
    }
    end
}

/// Where the next piece's alphabet starts after a line break ending at
/// `at`: past blank lines (blank but for a prefix), indentation, a comment
/// or quoting prefix, a leading operator before a quote, and an opening
/// quote. `None` unless blob alphabet is there.
pub(crate) fn piece_start_after(input: &[u8], at: usize) -> Option<usize> {
    let mut at = at;
    loop {
        at = skip_blanks(input, at);
        at = skip_blanks(input, skip_prefix(input, at));
        match break_len(input, at) {
            Some(len) if len > 0 => at += len,
            _ => break,
        }
    }
    if input.get(at).copied().is_some_and(is_operator) {
        let after = skip_blanks(input, skip_operators(input, at));
        if open_quote_at(input, after).is_some() {
            at = after;
        }
    }
    if let Some(after) = open_quote_at(input, at) {
        at = after;
    }
    input
        .get(at)
        .is_some_and(|&byte| is_blob_byte(byte))
        .then_some(at)
}

/// Where the next piece's alphabet starts after an inline cut at `at` (the
/// end of a piece's alphabet): blanks alone, a bare `,`, `;` or `|` with
/// blanks around it (`paste -sd,`, `tr '\n' ';'`), or a closing quote,
/// blanks, operators, blanks and an opening quote. `None` unless there is
/// one and blob alphabet follows.
pub(crate) fn inline_next(input: &[u8], at: usize) -> Option<usize> {
    let after = skip_blanks(input, at);
    let next = if matches!(input.get(after), Some(b',' | b';' | b'|')) {
        skip_blanks(input, after + 1)
    } else if after > at {
        after
    } else {
        let next = skip_blanks(input, quote_at(input, at)?);
        let next = skip_blanks(input, skip_operators(input, next));
        open_quote_at(input, next)?
    };
    input
        .get(next)
        .is_some_and(|&byte| is_blob_byte(byte))
        .then_some(next)
}

/// Where the piece before a quoted inline cut ending at `at` (the start
/// of a piece's alphabet) ends: the cut [`inline_next`] reads forward, read
/// back, so a short first piece (`["QUtJ", "…76…", …]`) joins the long run
/// after it. Not blanks alone: a word before a long run (`Bearer …`) is
/// too common to join. `None` unless there is one and blob alphabet
/// precedes it.
pub(crate) fn inline_previous(input: &[u8], at: usize) -> Option<usize> {
    let end = skip_blanks_back(input, open_quote_before(input, at)?);
    let end = skip_blanks_back(input, skip_operators_back(input, end));
    let end = quote_before(input, end)?;
    (end > 0 && is_line_alphabet(input, end - 1) && inline_next(input, end) == Some(at))
        .then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_read_forward_and_back() {
        let input = br#"x = "AAAA" +
    "BBBB",
  # CCCC
  + "DDDD" \
>> EEEE

 * FFFF
"GGGG", "HHHH" + 'IIII' 'JJJJ' KKKK LLLL"#;
        let at = |text: &str| {
            input
                .windows(text.len())
                .position(|window| window == text.as_bytes())
                .unwrap_or(usize::MAX)
        };
        let newline =
            |from: usize| from + input[from..].iter().position(|&b| b == b'\n').unwrap_or(0);
        for (piece, next) in [
            ("AAAA", "BBBB"),
            ("BBBB", "CCCC"),
            ("CCCC", "DDDD"),
            ("DDDD", "EEEE"),
            ("EEEE", "FFFF"),
            ("FFFF", "GGGG"),
        ] {
            let end = at(piece) + 4;
            let line = newline(end);
            assert_eq!(piece_end_before(input, line), Some(end), "{piece}");
            assert!(line_ends_after(input, end), "{piece}");
            assert_eq!(
                piece_start_after(input, line + 1),
                Some(at(next)),
                "{piece}"
            );
        }
        for (piece, next) in [("GGGG", "HHHH"), ("HHHH", "IIII"), ("IIII", "JJJJ")] {
            let end = at(piece) + 4;
            assert_eq!(inline_next(input, end), Some(at(next)), "{piece}");
            assert_eq!(inline_previous(input, at(next)), Some(end), "{piece}");
        }
        // Blanks alone: read forward only; a quote on one side only is no
        // cut.
        let end = at("KKKK") + 4;
        assert_eq!(inline_next(input, end), Some(at("LLLL")));
        assert_eq!(inline_previous(input, at("LLLL")), None);
        assert_eq!(inline_next(input, at("JJJJ") + 4), None);
        // Other operators and quotes.
        let input = b"$k = 'AAAA' .\n  'BBBB' ..\n `CCCC` ||\n \"DDDD\" &\n \"EEEE\"";
        let at = |text: &str| {
            input
                .windows(text.len())
                .position(|window| window == text.as_bytes())
                .unwrap_or(usize::MAX)
        };
        for (piece, next) in [
            ("AAAA", "BBBB"),
            ("BBBB", "CCCC"),
            ("CCCC", "DDDD"),
            ("DDDD", "EEEE"),
        ] {
            let end = at(piece) + 4;
            let line = end + input[end..].iter().position(|&b| b == b'\n').unwrap_or(0);
            assert_eq!(piece_end_before(input, line), Some(end), "{piece}");
            assert!(line_ends_after(input, end), "{piece}");
            assert_eq!(
                piece_start_after(input, line + 1),
                Some(at(next)),
                "{piece}"
            );
        }
        assert_eq!(inline_next(b"'AAAA' . 'BBBB'", 5), Some(10));
        assert_eq!(inline_previous(b"'AAAA' || 'BBBB'", 11), Some(5));
        assert_eq!(inline_next(b"'AAAA' +++ 'BBBB'", 5), None);
        assert_eq!(inline_next(b"AAAA,BBBB", 4), Some(5));
        assert_eq!(inline_next(b"AAAA ; BBBB", 4), Some(7));
        assert_eq!(inline_next(b"AAAA ,, BBBB", 4), None);
        // Line numbers.
        for (line, at) in [
            (&b"    12\tAAAA"[..], 7),
            ("    12\u{2192}AAAA".as_bytes(), 9),
            (b"12:AAAA", 3),
            (b"12 AAAA", 0),
        ] {
            assert_eq!(piece_start_after(line, 0), Some(at), "{line:?}");
        }
        // `+` with no quote is alphabet; `*/` closes a comment; `//` is a
        // prefix only before a blank.
        assert_eq!(piece_end_before(b"AAAA+\n", 5), Some(5));
        assert_eq!(piece_start_after(b" */\n", 0), None);
        assert_eq!(piece_start_after(b"//AAAA", 0), Some(0));
        assert_eq!(piece_start_after(b"// AAAA", 0), Some(3));
        assert_eq!(piece_start_after(b"\n\n\n", 0), None);
        assert_eq!(inline_next(b"AAAA.", 4), None);
        assert_eq!(inline_previous(b"\"", 1), None);
        assert_eq!(inline_previous(b"", 0), None);
    }
}
