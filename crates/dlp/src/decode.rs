//! Decoding passes: find held secrets and credential shapes inside
//! encodings.
//!
//! Each pass runs only when a cheap trigger says it can change something
//! (`%` followed by two hex digits, `\u`/`\x`/`\/`, `&#`, a long run of
//! base64/hex/base32 alphabet), produces the decoded bytes with a map back
//! to input offsets, and the scanner re-runs the `known` and `patterns`
//! detectors on the result, then the passes again, up to
//! [`MAX_DECODE_DEPTH`] layers. The total number of decoded bytes per scan
//! is capped at [`DECODE_BUDGET_FACTOR`] times the input (at least
//! [`DECODE_BUDGET_FLOOR`]), so a crafted input cannot make a scan
//! quadratic.
//!
//! A blob wrapped into lines (`base64`, MIME, PEM, `xxd -p`: a run of
//! alphabet broken only by `\n`, `\r\n` or their JSON escapes, lines
//! indented or trailed by blanks) is decoded as one run, its layer mapping
//! each decoded byte back to the characters on whichever lines carry its
//! bits; see [`wrapped_runs`] for what joins.
//!
//! Held secrets in plain base64, hex and base32 are already found without
//! decoding (see `known.rs`); these passes add percent-encoding, JSON/JS
//! escapes, HTML numeric entities, quoted-printable, nested encodings
//! (base64 of base64, hex of base64, …) and credential shapes inside any of
//! them.
//!
//! Quoted-printable (RFC 2045: `=XX` escapes, `=` ending a line as a soft
//! line break) is decoded only near a narrow trigger, since `=` and two hex
//! digits are everywhere in URLs and assignments (`?color=FF0000`): a soft
//! line break inside a word, or [`QP_ESCAPE_RUN`] escapes in a row; see
//! [`qp_triggers`].
//!
//! UTF-16 text (a byte order mark at the start, or a long run of code
//! units with a NUL byte each) is transcoded to UTF-8 as a layer too, by
//! `utf16.rs`; it runs first, and only when the input starts with a byte
//! order mark or holds a NUL byte.
//!
//! Character-code lists (`[99, 97, …]`, `String.fromCharCode(…)`) and
//! EBCDIC text are layers too, made by `codes.rs` after the compressed
//! ones; octal escapes (`\147`, [`OCTAL_ESCAPE_RUN`] in a row) are decoded
//! by the JSON/JS escape pass.
//!
//! Hex dumps (`xxd`, `hexdump -C`, `od -x`, …: spaced hex groups beside
//! an offset column) are read back into the bytes they show by
//! `dumps.rs`, after the character-code layers.

use memchr::memmem;

use crate::framing;

/// How many layers of encoding are looked through (the input itself is
/// layer 0; base64 of base64 of a secret is found at layer 2).
pub const MAX_DECODE_DEPTH: usize = 3;

/// Shortest run of base64 or base32 alphabet that is decoded (characters;
/// a blob wrapped into lines counts all its lines).
pub const MIN_BLOB_LEN: usize = 24;

/// Shortest run of hex digits that is decoded (characters).
pub const MIN_HEX_BLOB_LEN: usize = 32;

/// Bytes of context decoded on each side of an escape: a percent, JSON or
/// HTML escape is decoded (and the result scanned) only within this
/// distance of an escape, so a body with a few `%20`s or `\u00e9`s is not
/// decoded and re-scanned whole. A match in decoded text must lie within
/// this many bytes of an escape.
pub const DECODE_CONTEXT: usize = 512;

/// Consecutive `=XX` escapes (`=67=68=70`) that trigger the
/// quoted-printable pass without a soft line break. One or two are
/// ordinary text: a query or an assignment with a hex-looking value
/// (`?color=FF0000`, `page=12`, `?a=BC&d=EF`), a `key=ab=cd` pair. A mail
/// encoder writes three or more only for bytes that must be escaped (a
/// UTF-8 character of three bytes, `=E2=80=94`; runs of non-ASCII text),
/// and an encoder that escapes every byte writes one per character.
pub const QP_ESCAPE_RUN: usize = 3;

/// Consecutive octal escapes (`\147\150\160\137`, as printf, bash's
/// `$'…'`, Python and C write a byte) that trigger the JSON/JS escape pass
/// on their own. One to three are ordinary text: a Windows path
/// (`C:\100\200\300`), a regex's back-reference (`\1`), a C string's
/// `\0`. Each escape is a backslash and three octal digits, the first at
/// most `3`; a doubled backslash before one (`\\147`, the escape inside
/// a JSON string) counts too.
pub const OCTAL_ESCAPE_RUN: usize = 4;

/// Decoded bytes allowed per scan, as a multiple of the input's length.
/// Text dense with percent, JSON and HTML escapes all at once (a web page
/// posted in a JSON body) costs about 7x: each of the three decodes
/// nearly all of it, and the layers decode each other's escapes (percent
/// then JSON, percent then HTML, JSON then HTML, all three). The same page
/// inside a JSON document inside a JSON string, as Python's `json.dumps`
/// writes it (a tool's result in a request to a model) costs 8–10x; 16x
/// leaves room, since running out refuses the input.
pub const DECODE_BUDGET_FACTOR: usize = 16;

/// Decoded bytes allowed per scan however small the input.
pub const DECODE_BUDGET_FLOOR: usize = 1024 * 1024;

/// Decoded bytes allowed per scan however large the input (memory: the
/// layers being scanned are held at once). Inputs over 16 MiB get less
/// than [`DECODE_BUDGET_FACTOR`] times their size.
pub const DECODE_BUDGET_CAP: usize = 256 * 1024 * 1024;

/// The decoding budget for an input of `len` bytes.
pub(crate) fn budget_for(len: usize) -> Budget {
    Budget {
        left: len
            .saturating_mul(DECODE_BUDGET_FACTOR)
            .clamp(DECODE_BUDGET_FLOOR, DECODE_BUDGET_CAP),
        exhausted: false,
        too_deep: false,
    }
}

/// Decoded bytes a scan may still make, and whether a decoding was ever
/// refused for want of them: then part of the input went unread, and the
/// scanner reports that (fails closed) instead of calling it clean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    pub(crate) left: usize,
    pub(crate) exhausted: bool,
    /// A layer at [`MAX_DECODE_DEPTH`] would have decoded into something:
    /// what it holds was not read whole either.
    pub(crate) too_deep: bool,
}

impl Budget {
    /// Spend `bytes`; `false` (and exhausted from now on) if they are not
    /// there.
    pub(crate) fn take(&mut self, bytes: usize) -> bool {
        if bytes > self.left {
            self.exhausted = true;
            return false;
        }
        self.left -= bytes;
        true
    }
}

/// What a layer was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeKind {
    Percent,
    JsonEscape,
    HtmlEntity,
    QuotedPrintable,
    Base64,
    Hex,
    Base32,
    Unicode,
    Utf16,
    Gzip,
    Zlib,
    Zstd,
    CharCodes,
    Ebcdic,
    HexDump,
    HexDumpWords,
}

impl DecodeKind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            DecodeKind::Percent => "percent-encoding",
            DecodeKind::JsonEscape => "JSON escapes",
            DecodeKind::HtmlEntity => "HTML entities",
            DecodeKind::QuotedPrintable => "quoted-printable",
            DecodeKind::Base64 => "base64",
            DecodeKind::Hex => "hex",
            DecodeKind::Base32 => "base32",
            DecodeKind::Unicode => "Unicode folding",
            DecodeKind::Utf16 => "UTF-16",
            DecodeKind::Gzip => "gzip",
            DecodeKind::Zlib => "zlib",
            DecodeKind::Zstd => "zstd",
            DecodeKind::CharCodes => "character codes",
            DecodeKind::Ebcdic => "EBCDIC",
            DecodeKind::HexDump => "hex dump",
            DecodeKind::HexDumpWords => "hex dump (little-endian words)",
        }
    }
}

/// A piece of a decoded layer: decoded bytes from `decoded` on (to the next
/// piece) that came from input span `input`, either copied one for one
/// (`verbatim`: decoded byte `decoded + i` is input byte `input.0 + i`) or
/// all decoded from one escape (each maps to the whole of `input`).
#[derive(Debug, Clone, Copy)]
struct Piece {
    decoded: usize,
    input: (usize, usize),
    verbatim: bool,
}

/// A run of characters of a transcoded layer (UTF-16): from decoded offset
/// `decoded` on (to the next run), each character is `out_len` decoded
/// bytes made from the `in_len` input bytes that follow the previous
/// character's, the first starting at input offset `input`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CharRun {
    pub(crate) decoded: usize,
    pub(crate) input: usize,
    pub(crate) out_len: usize,
    pub(crate) in_len: usize,
}

/// The input span of decoded bytes `start..end`, given the input span of
/// each decoded byte (`None` past the end): from the first byte's unit to
/// the last's (the first byte's alone for an empty span).
fn unit_span(
    start: usize,
    end: usize,
    unit: impl Fn(usize) -> Option<(usize, usize)>,
) -> (usize, usize) {
    let first = unit(start).map_or(0, |unit| unit.0);
    let last = unit(end.saturating_sub(1).max(start)).map_or(first, |unit| unit.1);
    (first, last.max(first))
}

/// How decoded offsets map back to the encoded input.
#[derive(Debug)]
enum SpanMap {
    /// For every decoded byte, the input span of the unit it came from.
    Units(Vec<(usize, usize)>),
    /// The same map as `Units`, stored as pieces in decoded order (a run
    /// copied between escapes is one piece, not one entry per byte), with
    /// input offsets relative to `base`.
    Pieces { base: usize, pieces: Vec<Piece> },
    /// A blob at `offset` where every input character carries
    /// `bits_per_char` bits.
    Blob { offset: usize, bits_per_char: usize },
    /// A blob wrapped into lines: its characters, concatenated, carry
    /// `bits_per_char` bits each; `lines` holds, for each line in order,
    /// the index of its first character in the concatenation and that
    /// character's input offset (relative to `base`), starting at
    /// character 0; `chars` is how many characters there are.
    Wrapped {
        base: usize,
        bits_per_char: usize,
        lines: Vec<(usize, usize)>,
        chars: usize,
    },
    /// Transcoded text: every decoded byte maps to the input bytes of the
    /// character it belongs to (a UTF-16 code unit or surrogate pair).
    /// Input offsets are relative to `base`.
    CharRuns { base: usize, runs: Vec<CharRun> },
    /// Every decoded byte maps to the whole input span (decompressed
    /// data: no output byte can be told from which input bytes it came).
    Whole { span: (usize, usize) },
}

/// One decoded layer.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) kind: DecodeKind,
    pub(crate) bytes: Vec<u8>,
    map: SpanMap,
}

impl Decoded {
    pub(crate) fn with_units(kind: DecodeKind, bytes: Vec<u8>, units: Vec<(usize, usize)>) -> Self {
        Self {
            kind,
            bytes,
            map: SpanMap::Units(units),
        }
    }

    /// A layer transcoded character by character (`runs` in decoded
    /// order, starting at decoded offset 0, input offsets absolute).
    pub(crate) fn with_char_runs(kind: DecodeKind, bytes: Vec<u8>, runs: Vec<CharRun>) -> Self {
        Self {
            kind,
            bytes,
            map: SpanMap::CharRuns { base: 0, runs },
        }
    }

    /// A layer every byte of which came from the whole input span `span`.
    pub(crate) fn whole(kind: DecodeKind, bytes: Vec<u8>, span: (usize, usize)) -> Self {
        Self {
            kind,
            bytes,
            map: SpanMap::Whole { span },
        }
    }

    /// Move a layer decoded from `input[offset..]` to `input`'s offsets.
    fn shift(&mut self, offset: usize) {
        match &mut self.map {
            SpanMap::Units(units) => {
                for unit in units.iter_mut() {
                    unit.0 += offset;
                    unit.1 += offset;
                }
            }
            SpanMap::Pieces { base, .. }
            | SpanMap::CharRuns { base, .. }
            | SpanMap::Wrapped { base, .. } => *base += offset,
            SpanMap::Blob { offset: start, .. } => *start += offset,
            SpanMap::Whole { span } => {
                span.0 += offset;
                span.1 += offset;
            }
        }
    }

    /// The input span (without the base) of the character that decoded
    /// byte `index` belongs to.
    fn char_run_unit(runs: &[CharRun], index: usize) -> Option<(usize, usize)> {
        let slot = runs.partition_point(|run| run.decoded <= index);
        let run = runs.get(slot.checked_sub(1)?)?;
        let character = (index - run.decoded) / run.out_len.max(1);
        let at = run.input + character * run.in_len;
        Some((at, at + run.in_len))
    }

    /// The input span (without the base) of decoded byte `index`, which is
    /// below the layer's length.
    fn piece_unit(pieces: &[Piece], index: usize) -> Option<(usize, usize)> {
        let slot = pieces.partition_point(|piece| piece.decoded <= index);
        let piece = pieces.get(slot.checked_sub(1)?)?;
        Some(if piece.verbatim {
            let at = piece.input.0 + (index - piece.decoded);
            (at, at + 1)
        } else {
            piece.input
        })
    }

    /// Whether any decoded byte in `start..end` came out of an escape (was
    /// not copied verbatim from the layer's input). Layers mapped per unit
    /// or as a blob count as decoded throughout.
    pub(crate) fn decoded_within(&self, start: usize, end: usize) -> bool {
        match &self.map {
            SpanMap::Pieces { pieces, .. } => {
                let first = pieces
                    .partition_point(|piece| piece.decoded <= start)
                    .saturating_sub(1);
                pieces[first..]
                    .iter()
                    .take_while(|piece| piece.decoded < end)
                    .any(|piece| !piece.verbatim)
            }
            SpanMap::Units(_)
            | SpanMap::Blob { .. }
            | SpanMap::Wrapped { .. }
            | SpanMap::CharRuns { .. }
            | SpanMap::Whole { .. } => true,
        }
    }

    /// Whether decoded bytes `start..end` of a percent, JSON, HTML or
    /// quoted-printable layer were all copied verbatim from the layer's
    /// input.
    pub(crate) fn copied_run(&self, start: usize, end: usize) -> bool {
        escape_rank(self.kind).is_some()
            && matches!(self.map, SpanMap::Pieces { .. })
            && !self.decoded_within(start, end)
    }

    /// The input span that decoded span `start..end` came from.
    pub(crate) fn input_span(&self, start: usize, end: usize) -> (usize, usize) {
        match &self.map {
            SpanMap::Units(units) => unit_span(start, end, |index| units.get(index).copied()),
            SpanMap::Pieces { base, pieces } => {
                // The same answers as `Units` over the per-byte list.
                let len = self.bytes.len();
                unit_span(start, end, |index| {
                    (index < len)
                        .then(|| Self::piece_unit(pieces, index))
                        .flatten()
                        .map(|(from, to)| (from + base, to + base))
                })
            }
            SpanMap::CharRuns { base, runs } => {
                let len = self.bytes.len();
                unit_span(start, end, |index| {
                    (index < len)
                        .then(|| Self::char_run_unit(runs, index))
                        .flatten()
                        .map(|(from, to)| (from + base, to + base))
                })
            }
            SpanMap::Whole { span } => *span,
            SpanMap::Blob {
                offset,
                bits_per_char,
            } => (
                offset + (8 * start) / bits_per_char,
                offset + (8 * end).div_ceil(*bits_per_char),
            ),
            SpanMap::Wrapped {
                base,
                bits_per_char,
                lines,
                chars,
            } => {
                // The characters holding bits of the span, from the first
                // to the last (the input bytes between them, line breaks
                // included, belong to the span).
                let first = (8 * start) / bits_per_char;
                let last = (8 * end).div_ceil(*bits_per_char).max(first + 1) - 1;
                let at = |character: usize| {
                    let character = character.min(chars.saturating_sub(1));
                    let slot = lines.partition_point(|line| line.0 <= character);
                    lines
                        .get(slot.saturating_sub(1))
                        .map_or(0, |line| base + line.1 + character.saturating_sub(line.0))
                };
                let from = at(first);
                let to = if end > start { at(last) + 1 } else { from };
                (from, to.max(from))
            }
        }
    }
}

/// Decoded bytes and their pieces, built by the unit decoders.
#[derive(Default)]
struct Builder {
    bytes: Vec<u8>,
    pieces: Vec<Piece>,
    changed: bool,
}

impl Builder {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(capacity),
            pieces: Vec::new(),
            changed: false,
        }
    }

    /// Copy `input[start..end]` unchanged.
    fn copy(&mut self, input: &[u8], start: usize, end: usize) {
        if start >= end {
            return;
        }
        match self.pieces.last_mut() {
            Some(last) if last.verbatim && last.input.1 == start => last.input.1 = end,
            _ => self.pieces.push(Piece {
                decoded: self.bytes.len(),
                input: (start, end),
                verbatim: true,
            }),
        }
        self.bytes.extend_from_slice(&input[start..end]);
    }

    /// `decoded` came from the escape at input span `unit`.
    fn unit(&mut self, decoded: &[u8], unit: (usize, usize)) {
        self.pieces.push(Piece {
            decoded: self.bytes.len(),
            input: unit,
            verbatim: false,
        });
        self.bytes.extend_from_slice(decoded);
        self.changed = true;
    }

    fn char(&mut self, character: char, unit: (usize, usize)) {
        let mut buffer = [0u8; 4];
        self.unit(character.encode_utf8(&mut buffer).as_bytes(), unit);
    }

    /// The layer, if an escape was decoded.
    fn finish(self, kind: DecodeKind) -> Option<Decoded> {
        self.changed.then_some(Decoded {
            kind,
            bytes: self.bytes,
            map: SpanMap::Pieces {
                base: 0,
                pieces: self.pieces,
            },
        })
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Where the next `stop` byte at or after `index` is (or the end).
fn next_stop(input: &[u8], index: usize, stop: u8) -> usize {
    memchr::memchr(stop, &input[index..]).map_or(input.len(), |offset| index + offset)
}

/// Every `%XX` decoded; `None` if there is none.
fn percent(input: &[u8]) -> Option<Decoded> {
    hex_escapes(input, b'%', false, DecodeKind::Percent)
}

/// Every `marker` followed by two hex digits (either case) decoded to its
/// byte; with `soft_breaks`, every soft line break at a `marker` (see
/// [`soft_break_end`]) decoded to nothing (a piece of the layer that
/// decodes to no byte, so a span across it covers it); anything else
/// copied. `None` if there is no `marker` or nothing was decoded.
fn hex_escapes(input: &[u8], marker: u8, soft_breaks: bool, kind: DecodeKind) -> Option<Decoded> {
    memchr::memchr(marker, input)?;
    let mut out = Builder::with_capacity(input.len());
    let mut index = 0;
    while index < input.len() {
        if input[index] != marker {
            let end = next_stop(input, index, marker);
            out.copy(input, index, end);
            index = end;
            continue;
        }
        if soft_breaks && let Some(end) = soft_break_end(input, index) {
            out.unit(&[], (index, end));
            index = end;
            continue;
        }
        if let Some(pair) = input.get(index + 1..index + 3)
            && let (Some(high), Some(low)) = (hex_value(pair[0]), hex_value(pair[1]))
        {
            out.unit(&[high * 16 + low], (index, index + 3));
            index += 3;
            continue;
        }
        out.copy(input, index, index + 1);
        index += 1;
    }
    out.finish(kind)
}

fn hex4(bytes: &[u8]) -> Option<u32> {
    if bytes.len() < 4 {
        return None;
    }
    bytes[..4].iter().try_fold(0u32, |value, &byte| {
        hex_value(byte).map(|digit| value * 16 + u32::from(digit))
    })
}

/// The octal escape at `at` (a backslash, then two or three octal digits,
/// three only while the value stays a byte): its byte and its length.
fn octal_at(input: &[u8], at: usize) -> Option<(u8, usize)> {
    if input.get(at) != Some(&b'\\') {
        return None;
    }
    let octal = |offset: usize| {
        input
            .get(at + offset)
            .filter(|byte| (b'0'..=b'7').contains(byte))
            .map(|byte| u16::from(byte - b'0'))
    };
    let value = octal(1)? * 8 + octal(2)?;
    match octal(3) {
        Some(last) if value < 0o40 => Some(((value * 8 + last) as u8, 4)),
        _ => Some((value as u8, 3)),
    }
}

/// The end of the run of octal escapes from `at` (each may follow a
/// doubled backslash, `\\\\147` in a JSON string) and how many there are.
fn octal_run(input: &[u8], at: usize) -> (usize, usize) {
    let (mut end, mut count) = (at, 0);
    loop {
        let next = if input.get(end + 1) == Some(&b'\\') && input.get(end) == Some(&b'\\') {
            end + 1
        } else {
            end
        };
        match octal_at(input, next) {
            Some((_, len)) => {
                end = next + len;
                count += 1;
            }
            None => return (end, count),
        }
    }
}

/// JSON and JavaScript string escapes decoded (`\uXXXX` with surrogate
/// pairs, `\xHH`, `\n`, `\/`, …) and octal escapes (`\147`, two or three
/// digits, as printf, bash, Python and C write them); `None` unless a
/// `\u`, `\x`, `\/` or octal escape is present (the others are handled by
/// the projection).
fn json_escapes(input: &[u8]) -> Option<Decoded> {
    if memmem::find(input, b"\\u").is_none()
        && memmem::find(input, b"\\x").is_none()
        && memmem::find(input, b"\\/").is_none()
        && !memchr::memchr_iter(b'\\', input).any(|at| octal_at(input, at).is_some())
    {
        return None;
    }
    let mut out = Builder::with_capacity(input.len());
    let mut index = 0;
    while index < input.len() {
        if input[index] != b'\\' {
            let end = next_stop(input, index, b'\\');
            out.copy(input, index, end);
            index = end;
            continue;
        }
        if index + 1 >= input.len() {
            out.copy(input, index, index + 1);
            index += 1;
            continue;
        }
        let escape = input[index + 1];
        let simple = match escape {
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'r' => Some(b'\r'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'"' | b'\\' | b'/' | b'\'' => Some(escape),
            _ => None,
        };
        if let Some(byte) = simple {
            out.unit(&[byte], (index, index + 2));
            index += 2;
            continue;
        }
        if escape == b'x'
            && let Some(pair) = input.get(index + 2..index + 4)
            && let (Some(high), Some(low)) = (hex_value(pair[0]), hex_value(pair[1]))
        {
            out.unit(&[high * 16 + low], (index, index + 4));
            index += 4;
            continue;
        }
        if let Some((byte, len)) = octal_at(input, index) {
            out.unit(&[byte], (index, index + len));
            index += len;
            continue;
        }
        if escape == b'u'
            && let Some(unit) = hex4(&input[index + 2..])
        {
            let mut end = index + 6;
            let mut code = unit;
            if (0xD800..0xDC00).contains(&unit)
                && input.get(end..end + 2) == Some(b"\\u")
                && let Some(low) = hex4(&input[end + 2..])
                && (0xDC00..0xE000).contains(&low)
            {
                code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                end += 6;
            }
            let character = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
            out.char(character, (index, end));
            index = end;
            continue;
        }
        out.copy(input, index, index + 1);
        index += 1;
    }
    out.finish(DecodeKind::JsonEscape)
}

/// HTML numeric character references (`&#65;`, `&#x41;`, semicolon
/// optional) decoded; `None` if there is none.
fn html_entities(input: &[u8]) -> Option<Decoded> {
    memmem::find(input, b"&#")?;
    let mut out = Builder::with_capacity(input.len());
    let mut index = 0;
    while index < input.len() {
        if input[index] != b'&' {
            let end = next_stop(input, index, b'&');
            out.copy(input, index, end);
            index = end;
            continue;
        }
        if input.get(index + 1) == Some(&b'#') {
            let hex = matches!(input.get(index + 2), Some(b'x' | b'X'));
            let digits_start = index + if hex { 3 } else { 2 };
            let mut end = digits_start;
            let mut code: u32 = 0;
            while end < input.len() && end - digits_start < 8 {
                let digit = if hex {
                    hex_value(input[end]).map(u32::from)
                } else {
                    input[end]
                        .is_ascii_digit()
                        .then(|| u32::from(input[end] - b'0'))
                };
                let Some(digit) = digit else { break };
                code = code * if hex { 16 } else { 10 } + digit;
                end += 1;
            }
            if end > digits_start {
                if input.get(end) == Some(&b';') {
                    end += 1;
                }
                let character = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                out.char(character, (index, end));
                index = end;
                continue;
            }
        }
        out.copy(input, index, index + 1);
        index += 1;
    }
    out.finish(DecodeKind::HtmlEntity)
}

/// Where the soft line break whose `=` is at `at` ends: `=`, blanks
/// (RFC 2045 lets an encoder pad a line), then `\n`, `\r\n` or their JSON
/// escapes (`\\n`, `\\r\\n`, as a mail pasted in a JSON string has them);
/// `None` if there is none there.
fn soft_break_end(input: &[u8], at: usize) -> Option<usize> {
    let mut after = at + 1;
    while matches!(input.get(after), Some(b' ' | b'\t')) {
        after += 1;
    }
    match break_len(input, after)? {
        0 => None,
        len => Some(after + len),
    }
}

/// Whether `input[at..]` starts with an `=XX` escape (either hex case).
fn qp_escape_at(input: &[u8], at: usize) -> bool {
    input.get(at) == Some(&b'=') && is_hex(input.get(at + 1)) && is_hex(input.get(at + 2))
}

/// Quoted-printable (RFC 2045) decoded: every `=XX` escape (either hex
/// case) becomes its byte, every soft line break (see [`soft_break_end`])
/// disappears (a piece of the layer that decodes to no byte, so a span
/// across it covers it), any other `=` is copied; `None` if nothing was
/// decoded.
fn quoted_printable(input: &[u8]) -> Option<Decoded> {
    hex_escapes(input, b'=', true, DecodeKind::QuotedPrintable)
}

/// Whether the `=` at `at` starts a soft line break that triggers the
/// quoted-printable pass: one inside a word, the byte before the `=` and
/// the byte after the break both printable and not blank, as where an
/// encoder (or an attacker) cuts a value in two. Not one after another
/// `=` (base64 padding `…AB==` ending a line, a `====` rule), nor one
/// before `--` (the `-----END …` line under PEM base64 ending in `=`, a
/// MIME boundary), nor after a blank or before an indented or blank line
/// (code continuing an assignment, `let x =`, on the next line). A line of
/// base64 that ends with one `=` of padding right above a line starting
/// with alphabet does trigger: that is also exactly how a soft break cut
/// after the fourth, eighth, … character of a value looks, so it cannot
/// be told apart; its layer joins the two lines, and a blob run copied
/// from the input is not decoded again there (see [`Decoded::copied_run`]).
fn soft_break_trigger(input: &[u8], at: usize) -> Option<usize> {
    let end = soft_break_end(input, at)?;
    let before = *input.get(at.checked_sub(1)?)?;
    let after = *input.get(end)?;
    (before.is_ascii_graphic()
        && before != b'='
        && after.is_ascii_graphic()
        && !input[end..].starts_with(b"--"))
    .then_some(end)
}

/// Offsets that trigger the quoted-printable pass, in order: a soft line
/// break inside a word ([`soft_break_trigger`]), and the first of
/// [`QP_ESCAPE_RUN`] or more consecutive `=XX` escapes. One `memchr`
/// pass over the `=` bytes, each looked at a few bytes on; an escape run
/// is read once.
fn qp_triggers(input: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    // The end of the escape run last read: the `=`s inside it are done.
    let mut read_to = 0;
    for at in memchr::memchr_iter(b'=', input) {
        if at < read_to {
            continue;
        }
        // Most `=` in code and prose are followed by a blank or a letter
        // and preceded by a blank (`x = y`) or a letter (`a=b`): two byte
        // tests rule them out before anything is read further.
        let next = input.get(at + 1).copied().unwrap_or(b' ');
        let breaks = matches!(next, b'\n' | b'\r' | b'\\' | b' ' | b'\t')
            && at
                .checked_sub(1)
                .is_some_and(|before| input[before].is_ascii_graphic() && input[before] != b'=');
        if breaks && soft_break_trigger(input, at).is_some() {
            out.push(at);
            continue;
        }
        if !next.is_ascii_hexdigit() {
            continue;
        }
        let mut end = at;
        let mut escapes = 0;
        while qp_escape_at(input, end) {
            end += 3;
            escapes += 1;
        }
        if escapes >= QP_ESCAPE_RUN {
            out.push(at);
        }
        read_to = end;
    }
    out
}

const CLASS_UPPER: u8 = 1;
const CLASS_LOWER: u8 = 2;
const CLASS_DIGIT: u8 = 4;
const CLASS_HEX: u8 = 8;
const CLASS_STD: u8 = 16;
const CLASS_URL: u8 = 32;
const CLASS_BASE32: u8 = 64;
/// Set for every byte of the base64 (either alphabet), hex or base32
/// alphabets.
const CLASS_BLOB: u8 = 128;

/// The character classes of every byte, for finding and classifying blob
/// runs in one pass.
static BLOB_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 256 {
        let value = byte as u8;
        let mut class = 0;
        if value.is_ascii_uppercase() {
            class |= CLASS_UPPER | CLASS_BASE32 | CLASS_BLOB;
        }
        if value.is_ascii_lowercase() {
            class |= CLASS_LOWER | CLASS_BLOB;
        }
        if value.is_ascii_digit() {
            class |= CLASS_DIGIT | CLASS_BLOB;
            if value >= b'2' && value <= b'7' {
                class |= CLASS_BASE32;
            }
        }
        if value.is_ascii_hexdigit() {
            class |= CLASS_HEX;
        }
        if value == b'+' || value == b'/' {
            class |= CLASS_STD | CLASS_BLOB;
        }
        if value == b'-' || value == b'_' {
            class |= CLASS_URL | CLASS_BLOB;
        }
        table[byte] = class;
        byte += 1;
    }
    table
};

/// Decode `run` carrying `bits` bits per character through `value_of`,
/// ignoring trailing bits (lenient: any alignment, any length).
fn decode_bits(run: &[u8], bits: u32, value_of: impl Fn(u8) -> Option<u32>) -> Vec<u8> {
    let mut out = Vec::with_capacity(run.len() * bits as usize / 8 + 1);
    let mut accumulator: u32 = 0;
    let mut held: u32 = 0;
    for &byte in run {
        let Some(value) = value_of(byte) else { break };
        accumulator = (accumulator << bits) | value;
        held += bits;
        if held >= 8 {
            held -= 8;
            out.push((accumulator >> held) as u8);
            accumulator &= (1 << held) - 1;
        }
    }
    out
}

fn base64_value(byte: u8, url_safe: bool) -> Option<u32> {
    match byte {
        b'A'..=b'Z' => Some(u32::from(byte - b'A')),
        b'a'..=b'z' => Some(u32::from(byte - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(byte - b'0') + 52),
        b'+' if !url_safe => Some(62),
        b'/' if !url_safe => Some(63),
        b'-' if url_safe => Some(62),
        b'_' if url_safe => Some(63),
        _ => None,
    }
}

fn base32_value(byte: u8) -> Option<u32> {
    match byte {
        b'A'..=b'Z' => Some(u32::from(byte - b'A')),
        b'a'..=b'z' => Some(u32::from(byte - b'a')),
        b'2'..=b'7' => Some(u32::from(byte - b'2') + 26),
        _ => None,
    }
}

/// The encoding a run of `len` characters whose classes are `any` (OR)
/// and `all` (AND) is decoded as, if it looks like one.
fn run_kind(len: usize, any: u8, all: u8) -> Option<DecodeKind> {
    let upper = any & CLASS_UPPER != 0;
    let lower = any & CLASS_LOWER != 0;
    let digit = any & CLASS_DIGIT != 0;
    let std_only = any & CLASS_STD != 0;
    let url_only = any & CLASS_URL != 0;
    let hex_only = all & CLASS_HEX != 0;
    let base32_only = all & CLASS_BASE32 != 0;
    // Binary content is decoded and scanned too: a secret's encoding
    // behind a few hundred bytes of noise is still there (an earlier
    // version skipped blobs that did not decode to text, and missed it).
    if hex_only && len >= MIN_HEX_BLOB_LEN && digit && !(upper && lower) {
        return Some(DecodeKind::Hex);
    }
    if base32_only && upper && digit {
        return Some(DecodeKind::Base32);
    }
    if std_only && url_only || !(upper && lower && digit) {
        return None;
    }
    Some(DecodeKind::Base64)
}

/// Decode one run of blob alphabet if it looks like an encoding: the
/// kind, the decoded bytes and the bits each character carries. `any` and
/// `all` are the OR and AND of the run's byte classes.
fn decode_run(run: &[u8], any: u8, all: u8) -> Option<(DecodeKind, Vec<u8>, usize)> {
    match run_kind(run.len(), any, all)? {
        DecodeKind::Hex => {
            let decoded = decode_bits(run, 4, |byte| hex_value(byte).map(u32::from));
            Some((DecodeKind::Hex, decoded, 4))
        }
        DecodeKind::Base32 => Some((DecodeKind::Base32, decode_bits(run, 5, base32_value), 5)),
        _ => {
            let url_only = any & CLASS_URL != 0;
            let decoded = decode_bits(run, 6, |byte| base64_value(byte, url_only));
            Some((DecodeKind::Base64, decoded, 6))
        }
    }
}

/// How far into a run of blob alphabet its encoding may start: the run is
/// decoded from every start in its first `BLOB_HEAD` characters that
/// gives a new (encoding, alignment), so a prefix that joined the run (a
/// URL path's `/`, `files/`, `id-`, `ab_`, `0x`, a heading of the lines'
/// width) neither shifts the alignment nor, being of another alphabet,
/// spoils the classification.
pub const BLOB_HEAD: usize = 72;

/// Decode `run` at every alignment its first [`BLOB_HEAD`] characters
/// allow, calling `each(skip, kind, bytes, bits_per_char)` for each
/// decoding of `run[skip..]` (in order of `skip`) until it returns
/// `false`; returns `false` then.
///
/// Each start `skip` is classified by the classes of `run[skip..]` (as
/// [`decode_run`] does the whole run) and keyed by its encoding and its
/// alignment (`skip` modulo 4 characters for base64, 2 for hex, 8 for
/// base32: the bit offsets a character can start a byte at). Only the
/// first start of each key is decoded: a later start of the same key
/// decodes to a suffix of the same bytes (a run that classifies at an
/// earlier start does not mix the base64 alphabets, so both read the
/// shared characters alike). So a run is decoded at most 4 times as
/// base64 (each alignment), twice as hex and 8 times as base32, however
/// long its head; a start after the first must leave at least
/// [`MIN_BLOB_LEN`] characters.
fn each_alignment(
    run: &[u8],
    mut each: impl FnMut(usize, DecodeKind, Vec<u8>, usize) -> bool,
) -> bool {
    let head = run.len().min(BLOB_HEAD);
    // The classes of `run[skip..]` for every start in the head.
    let mut suffix = [(0u8, u8::MAX); BLOB_HEAD + 1];
    suffix[head] = classes(&run[head..]);
    for index in (0..head).rev() {
        let class = BLOB_CLASS[usize::from(run[index])];
        let (any, all) = suffix[index + 1];
        suffix[index] = (any | class, all & class);
    }
    // Alignments decoded so far: one bit per alignment, per encoding.
    let (mut base64, mut hex, mut base32) = (0u8, 0u8, 0u8);
    for skip in 0..head {
        if skip > 0 && run.len() - skip < MIN_BLOB_LEN {
            break;
        }
        let (any, all) = suffix[skip];
        let Some(kind) = run_kind(run.len() - skip, any, all) else {
            continue;
        };
        let (seen, period) = match kind {
            DecodeKind::Hex => (&mut hex, 2),
            DecodeKind::Base32 => (&mut base32, 8),
            _ => (&mut base64, 4),
        };
        let bit = 1u8 << (skip % period);
        if *seen & bit != 0 {
            continue;
        }
        *seen |= bit;
        let Some((kind, bytes, bits_per_char)) = decode_run(&run[skip..], any, all) else {
            continue;
        };
        if !bytes.is_empty() && !each(skip, kind, bytes, bits_per_char) {
            return false;
        }
    }
    true
}

/// The encoding a run's classes (`any`, `all`) point to, before its length
/// and its mix of letters and digits are weighed: lines join into one
/// wrapped blob only while this stays the same, so a line of another
/// alphabet after hex or base32 (or a MIME boundary's `-` after standard
/// base64) ends the blob instead of spoiling its decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Hex,
    Base32,
    Base64,
    /// Both base64 alphabets' own characters (`+` or `/` and `-` or `_`).
    Mixed,
}

fn family(any: u8, all: u8) -> Family {
    if any & CLASS_STD != 0 && any & CLASS_URL != 0 {
        Family::Mixed
    } else if all & CLASS_HEX != 0 && !(any & CLASS_UPPER != 0 && any & CLASS_LOWER != 0) {
        Family::Hex
    } else if all & CLASS_BASE32 != 0 {
        Family::Base32
    } else {
        Family::Base64
    }
}

/// A blob wrapped into lines or cut into other pieces: the alphabet runs of
/// two or more pieces (`segments`, input spans in order) read as one run.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WrappedRun {
    segments: Vec<(usize, usize)>,
    /// The characters of a full piece: every piece but the last (and a
    /// shorter first one, see `head`) has exactly as many.
    width: usize,
    /// Where the alphabet of the last full piece ends: the run continues
    /// at a cut there; `None` once its last piece is in.
    continues_at: Option<usize>,
    /// The OR and AND of the classes of the pieces (after a `head`).
    any: u8,
    all: u8,
    /// The classes of a first piece shorter than the second (a partial
    /// first line, `data: ` and 40 characters before 76-wide lines), kept
    /// apart: the piece is dropped when the run is done if it would change
    /// the run's alphabet (a `-----BEGIN …-----` heading's `-` above
    /// standard base64).
    head: Option<(u8, u8)>,
    chars: usize,
}

/// How wide a second piece may be when the first is shorter (a partial
/// first line): wider lines are not wrapped output.
const MAX_HEAD_WIDTH: usize = 1024;

/// Whether `input[at]` is blob alphabet and not the `n` of a `\n` escape.
pub(crate) fn is_line_alphabet(input: &[u8], at: usize) -> bool {
    input.get(at).is_some_and(|&byte| is_blob_byte(byte))
        && !(input[at] == b'n' && at > 0 && input[at - 1] == b'\\')
}

/// The length of the line break at `at` (`\n`, `\r\n`, `\\n`, `\\r\\n`), 0
/// if there is none; the end of the input counts as a break.
pub(crate) fn break_len(input: &[u8], at: usize) -> Option<usize> {
    let rest = input.get(at..)?;
    [b"\n".as_slice(), b"\r\n", b"\\n", b"\\r\\n"]
        .into_iter()
        .find(|newline| rest.starts_with(newline))
        .map(<[u8]>::len)
        .or(rest.is_empty().then_some(0))
}

impl WrappedRun {
    /// A run starting with the alphabet that ends at `end` (its last byte
    /// is blob alphabet), its segments kept in `segments` (cleared first: a
    /// spare buffer, so the words prose joins allocate nothing).
    fn start(input: &[u8], end: usize, mut segments: Vec<(usize, usize)>) -> Self {
        let mut first = end;
        while first > 0 && is_line_alphabet(input, first - 1) {
            first -= 1;
        }
        let (any, all) = classes(&input[first..end]);
        segments.clear();
        segments.push((first, end));
        Self {
            segments,
            width: end - first,
            continues_at: None,
            any,
            all,
            head: None,
            chars: end - first,
        }
    }

    /// Add the piece whose alphabet starts at `start` if it continues the
    /// run: no longer than a full piece, and if it ends the run, of the
    /// same alphabet. The run continues after a full piece (whole
    /// alphabet, as wide as the first piece, unpadded, then a cut: the end
    /// of its line, see [`framing::line_ends_after`], or an inline cut,
    /// see [`framing::inline_next`]). A second piece wider than the first
    /// (at most [`MAX_HEAD_WIDTH`]) sets the width, the first becoming the
    /// run's `head` (a partial first line). `inline`: the cut before the
    /// piece is on one line. Returns whether the piece joined and whether
    /// a cut follows it (then where its alphabet ends).
    fn extend(&mut self, input: &[u8], start: usize, inline: bool) -> (bool, Option<usize>) {
        let may_head = self.segments.len() == 1 && self.head.is_none();
        let cap = if may_head {
            self.width.max(MAX_HEAD_WIDTH)
        } else {
            self.width
        };
        // One byte past the widest allowed is enough to refuse the piece.
        let limit = input.len().min(start.saturating_add(cap + 1));
        let mut alphabet_end = start;
        while alphabet_end < limit && is_blob_byte(input[alphabet_end]) {
            alphabet_end += 1;
        }
        let len = alphabet_end - start;
        if len > cap {
            return (false, None);
        }
        let mut padding_end = alphabet_end;
        while input.get(padding_end) == Some(&b'=') {
            padding_end += 1;
        }
        let padded = padding_end > alphabet_end;
        // An inline cut is read only after a long run (see `cuts`).
        let cut = framing::line_ends_after(input, padding_end)
            || !padded
                && len >= MIN_BLOB_LEN
                && framing::inline_next(input, alphabet_end).is_some();
        let whole = cut.then_some(alphabet_end);
        let head = len > self.width;
        let full = cut && !padded && (head || len == self.width);
        let (any, all) = classes(&input[start..alphabet_end]);
        if head {
            if family(any, all) == Family::Mixed {
                return (false, None);
            }
            self.head = Some((self.any, self.all));
            self.any = any;
            self.all = all;
            self.width = len;
        } else {
            // A full piece comes from the same encoder and may show what
            // the first did not (a short line of base64 can be all hex
            // digits); a last piece must not change the alphabet.
            // Nor, after an inline cut, bring upper case, lower case or
            // digits the run lacked: the word after a long run (`SELECT
            // 0x… INTO`) would spoil its decoding at every alignment.
            let joined = family(self.any | any, self.all & all);
            let new = any & !self.any & (CLASS_UPPER | CLASS_LOWER | CLASS_DIGIT);
            if joined == Family::Mixed
                || !full && (joined != family(self.any, self.all) || inline && new != 0)
            {
                return (false, None);
            }
            self.any |= any;
            self.all &= all;
        }
        self.segments.push((start, alphabet_end));
        self.chars += len;
        self.continues_at = if full { whole } else { None };
        (true, whole)
    }

    /// Drop a head whose alphabet would change the run's (see `head`).
    fn settle_head(&mut self) {
        let Some((any, all)) = self.head.take() else {
            return;
        };
        if family(any | self.any, all & self.all) != family(self.any, self.all)
            && self.segments.len() > 1
        {
            let (from, to) = self.segments.remove(0);
            self.chars -= to - from;
        }
    }

    fn span(&self) -> (usize, usize) {
        let start = self.segments.first().map_or(0, |segment| segment.0);
        let end = self.segments.last().map_or(start, |segment| segment.1);
        (start, end)
    }
}

/// Every line break of `input`, in order: where the line before it ends
/// (before a `\r` that precedes it) and where the next line starts. A
/// break is a newline (`\n`, `\r\n`) or its JSON/JS escape (`\\n`,
/// `\\r\\n`), as a wrapped blob pasted in a JSON string has it. Two
/// vector searches merged (`memchr` and `memmem`), so text pays per line
/// and JSON per escaped line, not per backslash.
fn line_breaks(input: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut newlines = memchr::memchr_iter(b'\n', input).peekable();
    let mut escapes = memmem::find_iter(input, b"\\n").peekable();
    std::iter::from_fn(move || {
        let escaped = match (newlines.peek(), escapes.peek()) {
            (None, None) => return None,
            (Some(newline), Some(escape)) => escape < newline,
            (newline, _) => newline.is_none(),
        };
        let (at, len, carriage): (usize, usize, &[u8]) = if escaped {
            (escapes.next()?, 2, b"\\r")
        } else {
            (newlines.next()?, 1, b"\r")
        };
        let end = match at.checked_sub(carriage.len()) {
            Some(before) if input[before..at] == *carriage => before,
            _ => at,
        };
        Some((end, at + len))
    })
}

/// Every cut between two pieces of a blob that may stand in `input`, in
/// order: where a piece's alphabet ends and where the next one's starts.
/// Line breaks ([`line_breaks`]) with what may frame them (see
/// [`framing::piece_end_before`], [`framing::piece_start_after`]), and
/// inline cuts (blanks, `", "`, `" + "`, …; see [`framing::inline_next`])
/// next to the long runs of alphabet `long_runs` (in order), merged; each
/// with whether it is inline.
fn cuts<'a>(
    input: &'a [u8],
    long_runs: &'a [(usize, usize)],
) -> impl Iterator<Item = (usize, usize, bool)> + 'a {
    let mut lines = line_breaks(input)
        .filter_map(|(line_end, next_line)| {
            let end = framing::piece_end_before(input, line_end)?;
            Some((end, framing::piece_start_after(input, next_line)?, false))
        })
        .peekable();
    let mut inline = long_runs
        .iter()
        .flat_map(|&(start, end)| {
            [
                framing::inline_previous(input, start).map(|before| (before, start, true)),
                framing::inline_next(input, end).map(|next| (end, next, true)),
            ]
        })
        .flatten()
        .peekable();
    std::iter::from_fn(move || match (lines.peek(), inline.peek()) {
        (Some(line), Some(cut)) if cut.0 < line.0 => inline.next(),
        (Some(_), _) => lines.next(),
        (None, _) => inline.next(),
    })
}

/// Every blob wrapped into lines or cut into pieces in `input`, in order:
/// runs of blob alphabet that continue across cuts, read as one run.
///
/// Lines are split at `\n`, `\r\n` and their escapes `\\n`, `\\r\\n`;
/// blanks (spaces, tabs) that indent or trail a line, blank lines, comment
/// and quoting prefixes and the quotes and operators of string pieces are
/// ignored, and pieces on one line may be cut by blanks or quotes next to
/// a long run (see `framing.rs` for the forms). A run starts with the
/// alphabet that ends a piece and goes on while the next piece starts with
/// alphabet after the cut: each further piece is whole alphabet exactly as
/// long as the first, except the last, which may be shorter, end in `=`
/// padding or go on with other text, and the second, which may be longer
/// than the first (a partial first line; then it sets the width, and the
/// first piece is dropped if its alphabet differs). So a heading line
/// (`-----BEGIN … KEY-----`, a prefix before a quoted blob) joins only as a
/// head of the same alphabet or if it is exactly as wide as the lines
/// below, and a line of another alphabet (a MIME boundary's `-` below
/// standard base64, a word below hex) ends the run. Only runs of two
/// pieces or more with at least [`MIN_BLOB_LEN`] characters are kept.
/// Each cut costs a few byte tests unless alphabet meets alphabet across
/// it; then the pieces on both sides are read up to their first
/// non-alphabet byte, so each piece is read a bounded number of times.
fn wrapped_runs(input: &[u8], long_runs: &[(usize, usize)]) -> Vec<WrappedRun> {
    let mut out = Vec::new();
    let mut run: Option<WrappedRun> = None;
    let mut spare = Vec::new();
    let mut keep = |run: Option<WrappedRun>, spare: &mut Vec<(usize, usize)>| {
        if let Some(mut run) = run {
            run.settle_head();
            if run.segments.len() >= 2 && run.chars >= MIN_BLOB_LEN {
                out.push(run);
            } else {
                *spare = run.segments;
            }
        }
    };
    // The cut after a whole piece that ended a run: that piece does not
    // start another.
    let mut ended_at = None;
    // Where the last cut's next piece starts: a cut before it is inside
    // that cut (a blank line's break, the same inline cut read from both
    // of its pieces).
    let mut consumed = 0;
    for (end, next, inline) in cuts(input, long_runs) {
        if end < consumed {
            continue;
        }
        consumed = next;
        if run
            .as_ref()
            .is_some_and(|open| open.continues_at != Some(end))
        {
            keep(run.take(), &mut spare);
        }
        if run.is_none() {
            if ended_at == Some(end) {
                continue;
            }
            run = Some(WrappedRun::start(input, end, std::mem::take(&mut spare)));
        }
        let Some(open) = run.as_mut() else { continue };
        let (joined, whole) = open.extend(input, next, inline);
        if !joined {
            keep(run.take(), &mut spare);
        } else if open.continues_at.is_none() {
            keep(run.take(), &mut spare);
            ended_at = whole;
        }
    }
    keep(run, &mut spare);
    out
}

/// Whether `byte` belongs to some blob alphabet (base64, hex or base32):
/// an ASCII letter or digit, `+`, `/`, `-` or `_` (the vector blob masks
/// of `simd.rs` classify the same bytes).
#[inline]
pub(crate) fn is_blob_byte(byte: u8) -> bool {
    BLOB_CLASS[usize::from(byte)] & CLASS_BLOB != 0
}

/// Long runs of base64, hex or base32 alphabet, decoded, and blobs wrapped
/// into lines ([`wrapped_runs`]). The runs come from a vector mask pass
/// where the CPU has one (`simd::long_blob_runs`), else from
/// [`sampled_runs`]. `parent` is the layer `input` is, if any (see
/// [`blob`]).
fn blobs(input: &[u8], parent: Option<&Decoded>, budget: &mut Budget, out: &mut Vec<Decoded>) {
    let mut runs = Vec::new();
    // With vector instructions, the runs come from a mask pass instead of
    // the samples below.
    let vector = MIN_BLOB_LEN == crate::simd::LONG_BLOB_RUN
        && crate::simd::long_blob_runs(input, |start, end| {
            runs.push((start, end));
            true
        });
    if !vector {
        runs.clear();
        sampled_runs(input, |start, end| {
            runs.push((start, end));
            true
        });
    }
    BlobPass::new(input, parent, budget, out, &runs).all(&runs);
}

/// [`blobs`] without vector instructions (the reference the vector pass is
/// tested against).
#[cfg(test)]
fn blob_samples(
    input: &[u8],
    parent: Option<&Decoded>,
    budget: &mut Budget,
    out: &mut Vec<Decoded>,
) {
    let mut runs = Vec::new();
    sampled_runs(input, |start, end| {
        runs.push((start, end));
        true
    });
    BlobPass::new(input, parent, budget, out, &runs).all(&runs);
}

/// The blob pass over one layer: the long runs a run finder reports, in
/// order, and the wrapped blobs, decoded in the order they start. A run
/// that is one line of a wrapped blob is decoded as part of it, not alone.
struct BlobPass<'a> {
    input: &'a [u8],
    parent: Option<&'a Decoded>,
    budget: &'a mut Budget,
    out: &'a mut Vec<Decoded>,
    wrapped: Vec<WrappedRun>,
    /// Wrapped blobs decoded so far (`wrapped[..next]`).
    next: usize,
    /// The budget ran out: nothing more is decoded.
    stopped: bool,
}

impl<'a> BlobPass<'a> {
    fn new(
        input: &'a [u8],
        parent: Option<&'a Decoded>,
        budget: &'a mut Budget,
        out: &'a mut Vec<Decoded>,
        long_runs: &[(usize, usize)],
    ) -> Self {
        Self {
            input,
            parent,
            budget,
            out,
            wrapped: wrapped_runs(input, long_runs),
            next: 0,
            stopped: false,
        }
    }

    /// Decode the wrapped blobs that start before `before`.
    fn wrapped_before(&mut self, before: usize) -> bool {
        while !self.stopped
            && let Some(run) = self.wrapped.get(self.next)
            && run.span().0 < before
        {
            self.next += 1;
            if !wrapped_blob(self.input, run, self.parent, self.budget, self.out) {
                self.stopped = true;
            }
        }
        !self.stopped
    }

    /// The long run `start..end`; `false` once the budget is spent.
    fn run(&mut self, start: usize, end: usize) -> bool {
        if !self.wrapped_before(end) {
            return false;
        }
        // Runs do not cross line breaks: a run overlapping a wrapped blob
        // is one of its lines (with the `n` of a `\\n` before it, maybe).
        let inside = self.next > 0
            && self.wrapped.get(self.next - 1).is_some_and(|run| {
                let (from, to) = run.span();
                from < end && start < to
            });
        if inside {
            return true;
        }
        if !blob(self.input, start, end, self.parent, self.budget, self.out) {
            self.stopped = true;
        }
        !self.stopped
    }

    /// The long runs `runs` (in order) and the wrapped blobs, until the
    /// budget is spent.
    fn all(mut self, runs: &[(usize, usize)]) {
        for &(start, end) in runs {
            if !self.run(start, end) {
                return;
            }
        }
        self.wrapped_before(usize::MAX);
    }
}

/// Decode the blob run `start..end` (at least `MIN_BLOB_LEN` bytes) into
/// `out` if it is one; `false` once the budget is spent.
///
/// A run that a percent, JSON or HTML layer (`parent`) copied verbatim
/// from its own input is skipped: that input holds the same characters
/// and its blob pass decoded them, one layer less deep. (The input's run
/// may start earlier, with an escape's hex digits, or a region's cut:
/// it is decoded at every alignment of its head, see [`each_alignment`],
/// and regions are widened not to cut a blob, see [`regions`].) A run
/// with any byte that decoding made is decoded, at every alignment of its
/// head too.
fn blob(
    input: &[u8],
    start: usize,
    end: usize,
    parent: Option<&Decoded>,
    budget: &mut Budget,
    out: &mut Vec<Decoded>,
) -> bool {
    if parent.is_some_and(|layer| layer.copied_run(start, end)) {
        return true;
    }
    each_alignment(&input[start..end], |skip, kind, bytes, bits_per_char| {
        if !budget.take(bytes.len()) {
            return false;
        }
        out.push(Decoded {
            kind,
            bytes,
            map: SpanMap::Blob {
                offset: start + skip,
                bits_per_char,
            },
        });
        true
    })
}

/// [`blob`] for a blob wrapped into lines: its lines' characters are
/// decoded as one run, and the layer maps each decoded byte back to the
/// characters on whichever lines carry its bits. Skipped, like a run, when
/// a percent, JSON or HTML layer copied it (line breaks included)
/// verbatim.
fn wrapped_blob(
    input: &[u8],
    run: &WrappedRun,
    parent: Option<&Decoded>,
    budget: &mut Budget,
    out: &mut Vec<Decoded>,
) -> bool {
    let (start, end) = run.span();
    if parent.is_some_and(|layer| layer.copied_run(start, end)) {
        return true;
    }
    let mut joined = Vec::with_capacity(run.chars);
    let mut lines = Vec::with_capacity(run.segments.len());
    for &(from, to) in &run.segments {
        lines.push((joined.len(), from));
        joined.extend_from_slice(&input[from..to]);
    }
    each_alignment(&joined, |skip, kind, bytes, bits_per_char| {
        if !budget.take(bytes.len()) {
            return false;
        }
        out.push(Decoded {
            kind,
            bytes,
            map: SpanMap::Wrapped {
                base: 0,
                bits_per_char,
                lines: skipped_lines(&lines, skip),
                chars: joined.len() - skip,
            },
        });
        true
    })
}

/// The line map of a wrapped blob's characters (`lines`: each line's first
/// character in the concatenation and its input offset) without its first
/// `skip` characters.
fn skipped_lines(lines: &[(usize, usize)], skip: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(lines.len());
    for (index, &(first, offset)) in lines.iter().enumerate() {
        let next = lines.get(index + 1).map_or(usize::MAX, |line| line.0);
        if next <= skip {
            continue;
        }
        out.push((
            first.saturating_sub(skip),
            offset + skip.saturating_sub(first),
        ));
    }
    out
}

/// The long runs of blob alphabet without vector instructions, in order,
/// until `run` returns `false`. Positions are sampled every `MIN_BLOB_LEN`
/// bytes: a run that long always contains a sampled position, so prose
/// costs one table lookup per 24 bytes plus the short runs around samples.
/// A run's bounds are found first, with one test per byte; the classes of
/// its bytes are gathered only when it is decoded.
fn sampled_runs(input: &[u8], mut run: impl FnMut(usize, usize) -> bool) {
    let mut index = MIN_BLOB_LEN - 1;
    while index < input.len() {
        if !is_blob_byte(input[index]) {
            index += MIN_BLOB_LEN;
            continue;
        }
        let mut start = index;
        while start > 0 && is_blob_byte(input[start - 1]) {
            start -= 1;
        }
        let mut end = index + 1;
        while end < input.len() && is_blob_byte(input[end]) {
            end += 1;
        }
        if end - start >= MIN_BLOB_LEN && !run(start, end) {
            return;
        }
        index = end + MIN_BLOB_LEN;
    }
}

/// The OR and AND of the classes of `bytes`.
fn classes(bytes: &[u8]) -> (u8, u8) {
    bytes.iter().fold((0u8, u8::MAX), |(any, all), &byte| {
        let class = BLOB_CLASS[usize::from(byte)];
        (any | class, all & class)
    })
}

fn is_hex(byte: Option<&u8>) -> bool {
    byte.is_some_and(u8::is_ascii_hexdigit)
}

/// Offsets of the escapes each unit decoder expands: percent (`%XX`),
/// JSON/JS (`\uXXXX`, `\xHH`, `\/`, [`OCTAL_ESCAPE_RUN`] octal escapes in a
/// row) and HTML (`&#` then a digit or `x`),
/// found in one pass over the input, then quoted-printable's triggers
/// ([`qp_triggers`], a pass over the `=` bytes).
///
/// `parent` is the layer `input` is (if it is one). Decodings commute when
/// their escapes are apart, so of the orders percent, JSON, HTML only the
/// non-decreasing ones are taken: in a JSON layer, a `%XX` copied verbatim
/// from the layer's input is not decoded again (the percent layer of that
/// input, then its JSON layer, reach the same bytes), while one that
/// decoding made (any byte of it out of an escape, as `\u0025` makes `%`)
/// is. Quoted-printable comes last in that order, so its triggers are
/// always taken.
fn triggers(input: &[u8], parent: Option<&Decoded>) -> [Vec<usize>; 4] {
    let (mut percent, mut json, mut html) = (Vec::new(), Vec::new(), Vec::new());
    let parent_rank = parent.and_then(|layer| escape_rank(layer.kind).map(|rank| (layer, rank)));
    // `len`: the bytes of the escape at `index`.
    let wanted = |trigger_rank: usize, index: usize, len: usize| match parent_rank {
        Some((layer, rank)) if trigger_rank < rank => layer.decoded_within(index, index + len),
        _ => true,
    };
    // The end of the run of octal escapes last read: the backslashes
    // inside it are done.
    let mut octal_read_to = 0;
    crate::simd::each_escape_start(input, |byte, index| match byte {
        b'%' => {
            if is_hex(input.get(index + 1)) && is_hex(input.get(index + 2)) && wanted(0, index, 3) {
                percent.push(index);
            }
        }
        b'\\' => {
            let len = match input.get(index + 1) {
                Some(b'u') if (2..6).all(|offset| is_hex(input.get(index + offset))) => 6,
                Some(b'x') if is_hex(input.get(index + 2)) && is_hex(input.get(index + 3)) => 4,
                Some(b'/') => 2,
                Some(b'0'..=b'7') if index >= octal_read_to => {
                    let (end, count) = octal_run(input, index);
                    octal_read_to = end;
                    if count >= OCTAL_ESCAPE_RUN {
                        end - index
                    } else {
                        0
                    }
                }
                _ => 0,
            };
            if len > 0 && wanted(1, index, len) {
                json.push(index);
            }
        }
        _ => {
            if input.get(index + 1) == Some(&b'#')
                && matches!(input.get(index + 2), Some(b'0'..=b'9' | b'x' | b'X'))
                && wanted(
                    2,
                    index,
                    input[index..]
                        .iter()
                        .take(LONGEST_ESCAPE)
                        .position(|&byte| byte == b';')
                        .map_or(LONGEST_ESCAPE, |semicolon| semicolon + 1),
                )
            {
                html.push(index);
            }
        }
    });
    [percent, json, html, qp_triggers(input)]
}

/// Whether `byte` may belong to a run of blob alphabet in a percent, JSON
/// or HTML layer: blob alphabet, or a character of an escape that may
/// decode to some (`%2F`, `\/`, `\u002B`, `&#x2F;`).
fn continues_blob(byte: u8) -> bool {
    is_blob_byte(byte) || matches!(byte, b'%' | b'\\' | b'&' | b'#' | b';')
}

/// [`continues_blob`] for a quoted-printable layer: its escapes start
/// with `=` (`=2F`, and a run of escapes for every character).
fn continues_qp_blob(byte: u8) -> bool {
    continues_blob(byte) || byte == b'='
}

/// Regions of `DECODE_CONTEXT` around every trigger, merged, each widened
/// to the bounds of a run of blob alphabet (with escapes: `continues`) it
/// would cut: a layer that started or ended mid-blob would decode the
/// blob's rest at the wrong alignment, or a compressed stream without its
/// header. Each byte is read at most once by the widening (a region widens
/// back only to the previous region's end, and forward only past it), so
/// it stays linear.
fn regions(input: &[u8], triggers: &[usize], continues: fn(u8) -> bool) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &trigger in triggers {
        let floor = out.last().map_or(0, |last| last.1);
        let mut start = trigger.saturating_sub(DECODE_CONTEXT);
        while start > floor && continues(input[start - 1]) {
            start -= 1;
        }
        let mut end = (trigger + DECODE_CONTEXT).min(input.len());
        if end > floor {
            while end < input.len() && continues(input[end]) {
                end += 1;
            }
        }
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// Where percent, JSON, HTML and quoted-printable decodings stand in their
/// commuting order (escapes that are apart decode alike in any order).
fn escape_rank(kind: DecodeKind) -> Option<usize> {
    match kind {
        DecodeKind::Percent => Some(0),
        DecodeKind::JsonEscape => Some(1),
        DecodeKind::HtmlEntity => Some(2),
        DecodeKind::QuotedPrintable => Some(3),
        _ => None,
    }
}

/// Whether `decoded`, decoded from the layer `parent`, continues a chain of
/// percent, JSON, HTML and quoted-printable decodings in their commuting
/// order (percent, JSON, HTML, quoted-printable): such a chain is at most
/// four long and counts as one layer of depth.
pub(crate) fn continues_escapes(parent: Option<&Decoded>, decoded: &Decoded) -> bool {
    match (
        parent.and_then(|layer| escape_rank(layer.kind)),
        escape_rank(decoded.kind),
    ) {
        (Some(outer), Some(inner)) => inner > outer,
        _ => false,
    }
}

/// Bytes an HTML numeric entity spans at most (`&#x10FFFF;`).
const LONGEST_ESCAPE: usize = 10;

/// Every decoded layer of `input`, within `budget` decoded bytes.
pub(crate) fn decode_all(input: &[u8], budget: &mut Budget) -> Vec<Decoded> {
    decode_layer(input, None, budget)
}

/// [`decode_all`] of `input`, which is the layer `parent` when given (see
/// [`triggers`] for what that changes).
pub(crate) fn decode_layer(
    input: &[u8],
    parent: Option<&Decoded>,
    budget: &mut Budget,
) -> Vec<Decoded> {
    type UnitDecoder = fn(&[u8]) -> Option<Decoded>;
    // Each decoder, and which bytes widen its regions (see `regions`).
    type Widens = fn(u8) -> bool;
    let decoders: [(UnitDecoder, Widens); 4] = [
        (percent, continues_blob),
        (json_escapes, continues_blob),
        (html_entities, continues_blob),
        (quoted_printable, continues_qp_blob),
    ];
    let mut out = Vec::new();
    if !crate::utf16::layers(input, budget, &mut out) {
        return out;
    }
    if !crate::compress::layers(input, budget, &mut out) {
        return out;
    }
    if !crate::codes::layers(input, parent, budget, &mut out) {
        return out;
    }
    if !crate::dumps::layers(input, parent, budget, &mut out) {
        return out;
    }
    for (triggers, (decoder, continues)) in triggers(input, parent).into_iter().zip(decoders) {
        for (start, end) in regions(input, &triggers, continues) {
            let Some(mut decoded) = decoder(&input[start..end]) else {
                continue;
            };
            if !budget.take(decoded.bytes.len()) {
                return out;
            }
            decoded.shift(start);
            out.push(decoded);
        }
    }
    blobs(input, parent, budget, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a blob layer was decoded from a later start than its run's
    /// first character (another alignment, see [`each_alignment`]).
    fn realigned(input: &[u8], layer: &Decoded) -> bool {
        matches!(layer.map, SpanMap::Blob { .. } | SpanMap::Wrapped { .. }) && {
            let first = layer.input_span(0, 0).0;
            first > 0 && is_line_alphabet(input, first - 1)
        }
    }

    /// The layers of `input` decoded from where their runs start.
    fn decoded(input: &[u8]) -> Vec<(DecodeKind, Vec<u8>)> {
        let mut budget = budget_for(input.len());
        decode_all(input, &mut budget)
            .into_iter()
            .filter(|layer| !realigned(input, layer))
            .map(|layer| (layer.kind, layer.bytes))
            .collect()
    }

    /// A run is decoded at every alignment of its head: a prefix of
    /// alphabet before a blob (`/`, `ab_`, `0x`) does not hide it, and no
    /// alignment is decoded twice.
    #[test]
    fn runs_are_decoded_at_every_alignment_of_their_head() {
        use base64::Engine;
        let text = b"password=hunter2026! and some more";
        let encoded = base64::engine::general_purpose::STANDARD.encode(text);
        let all = |input: &[u8]| -> Vec<(DecodeKind, Vec<u8>)> {
            let mut budget = budget_for(input.len());
            decode_all(input, &mut budget)
                .into_iter()
                .map(|layer| (layer.kind, layer.bytes))
                .collect()
        };
        for prefix in ["", "/", "ab", "ab_", "files/", "id-x/", "abcdefg"] {
            let input = format!("{prefix}{encoded}");
            let layers = all(input.as_bytes());
            // Decoded from the earliest start of its alignment: the
            // prefix's bits come first.
            assert!(
                layers
                    .iter()
                    .any(|(kind, bytes)| *kind == DecodeKind::Base64 && bytes.ends_with(text)),
                "{prefix:?}: {layers:?}"
            );
            assert!(layers.len() <= 4, "{prefix:?}: {layers:?}");
        }
        let hex: String = text.iter().map(|byte| format!("{byte:02x}")).collect();
        for prefix in ["", "0x", "0X", "a", "id-", "x"] {
            let input = format!("{prefix}{hex}");
            let layers = all(input.as_bytes());
            assert!(
                layers
                    .iter()
                    .any(|(kind, bytes)| *kind == DecodeKind::Hex && bytes.ends_with(text)),
                "{prefix:?}: {layers:?}"
            );
        }
    }

    #[test]
    fn percent_partial_and_full() {
        let layers = decoded(b"a%62c%2Fd");
        assert_eq!(layers, vec![(DecodeKind::Percent, b"abc/d".to_vec())]);
    }

    #[test]
    fn json_unicode_escapes_with_surrogates() {
        let layers = decoded(br#"x\u0041\ud83d\ude00\/y"#);
        assert_eq!(
            layers,
            vec![(DecodeKind::JsonEscape, "xA\u{1F600}/y".as_bytes().to_vec())]
        );
    }

    #[test]
    fn html_numeric_entities() {
        let layers = decoded(b"&#104;&#x69;&#33");
        assert_eq!(layers, vec![(DecodeKind::HtmlEntity, b"hi!".to_vec())]);
    }

    #[test]
    fn base64_hex_and_base32_blobs() {
        let layers = decoded(b"cGFzc3dvcmQ9aHVudGVyMjAyNiE= 70617373776f72643d68756e74657232 OBQXG43XN5ZGIPJSGAZDMIJBPA");
        assert_eq!(
            layers[0],
            (DecodeKind::Base64, b"password=hunter2026!".to_vec())
        );
        assert_eq!(layers[1], (DecodeKind::Hex, b"password=hunter2".to_vec()));
        assert_eq!(
            layers[2],
            (DecodeKind::Base32, b"password=2026!!x".to_vec())
        );
    }

    /// Long runs: text and binary are decoded whole, in either alphabet;
    /// and a run that mixes the two alphabets is not base64.
    #[test]
    fn long_blobs_are_decoded_by_their_whole_run() {
        use base64::Engine;
        let text: Vec<u8> = b"fn main() { println!(\"hello\"); } // ok\n"
            .iter()
            .copied()
            .cycle()
            .take(3000)
            .collect();
        for engine in [
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            let layers = decoded(engine.encode(&text).as_bytes());
            assert_eq!(layers, vec![(DecodeKind::Base64, text.clone())]);
        }
        let binary: Vec<u8> = (0..3000u32)
            .map(|index| (index * 151 % 251) as u8)
            .collect();
        let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&binary);
        assert_eq!(
            decoded(encoded.as_bytes()),
            vec![(DecodeKind::Base64, binary.clone())]
        );
        let mut mixed = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&text);
        mixed.push_str("+-");
        mixed.push_str(&base64::engine::general_purpose::STANDARD_NO_PAD.encode(&text));
        assert!(decoded(mixed.as_bytes()).is_empty());
    }

    proptest::proptest! {
        /// The vector run finder and the sampling loop decode the same
        /// blobs (text and binary base64, hex, short and long runs, split
        /// by separators at random).
        #[test]
        fn vector_and_sampled_blob_runs_agree(
            pieces in proptest::collection::vec(
                (
                    0usize..7,
                    1usize..140,
                    1usize..80,
                    proptest::sample::select(vec![" ", ".", ",", "=", "\"", "\n", ":", "\r\n", " \n\t", "\\n", "\n\n"]),
                ),
                0..12,
            )
        ) {
            use base64::Engine;
            let mut input = Vec::new();
            for (kind, len, width, separator) in pieces {
                let text: Vec<u8> = b"the quick brown fox jumps over ".iter().copied().cycle().take(len).collect();
                let hex: Vec<u8> = text.iter().flat_map(|byte| format!("{byte:02x}").into_bytes()).collect();
                let wrapped = |encoded: &[u8]| -> Vec<u8> {
                    encoded.chunks(width).collect::<Vec<_>>().join(separator.as_bytes())
                };
                match kind {
                    0 => input.extend(base64::engine::general_purpose::STANDARD_NO_PAD.encode(&text).bytes()),
                    1 => input.extend_from_slice(&hex),
                    2 => input.extend((0..len).map(|index| b"AZaz09+/-_"[index % 10])),
                    3 => input.extend(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode((0..len).map(|index| (index * 97 % 256) as u8).collect::<Vec<u8>>()).bytes()),
                    4 => input.extend(wrapped(base64::engine::general_purpose::STANDARD.encode(&text).as_bytes())),
                    5 => input.extend(wrapped(&hex)),
                    _ => input.extend_from_slice(&text),
                }
                input.extend_from_slice(separator.as_bytes());
            }
            let summary = |layers: Vec<Decoded>| -> Vec<(DecodeKind, Vec<u8>, (usize, usize))> {
                layers
                    .into_iter()
                    .map(|layer| {
                        let span = layer.input_span(0, layer.bytes.len());
                        (layer.kind, layer.bytes, span)
                    })
                    .collect()
            };
            let (mut vector, mut sampled) = (Vec::new(), Vec::new());
            let (mut budget_a, mut budget_b) = (budget_for(input.len()), budget_for(input.len()));
            blobs(&input, None, &mut budget_a, &mut vector);
            blob_samples(&input, None, &mut budget_b, &mut sampled);
            proptest::prop_assert_eq!(summary(vector), summary(sampled));
            proptest::prop_assert_eq!(budget_a, budget_b);
        }
    }

    /// A blob run a JSON layer copied verbatim is not decoded again in that
    /// layer (the input's blob pass decoded it); one with a byte the layer
    /// decoded is.
    #[test]
    fn copied_blob_runs_are_not_decoded_again() {
        let kinds = |input: &[u8]| -> Vec<Vec<DecodeKind>> {
            let mut budget = budget_for(input.len());
            decode_all(input, &mut budget)
                .iter()
                .filter(|layer| layer.kind == DecodeKind::JsonEscape)
                .map(|layer| {
                    decode_layer(&layer.bytes, Some(layer), &mut budget)
                        .iter()
                        .map(|inner| inner.kind)
                        .collect()
                })
                .collect()
        };
        assert_eq!(
            kinds(br"\u0041 cGFzc3dvcmQ9aHVudGVyMjAyNiE="),
            vec![Vec::<DecodeKind>::new()]
        );
        assert_eq!(
            kinds(br"\u0041 cGFzc3dvcmQ9aHVudGVyMjAy\u004eiE="),
            // At each of the 4 alignments of its head (27 characters).
            vec![vec![DecodeKind::Base64; 4]]
        );
    }

    #[test]
    fn prose_and_paths_are_not_decoded() {
        assert!(decoded(b"the quick brown fox jumps over the lazy dog").is_empty());
        assert!(decoded(b"crates/dlp/src/known_secret_matcher_module.rs").is_empty());
    }

    /// Every decoded byte's unit (`input_span(i, i + 1)`): the units tile
    /// the input left to right with no gap or overlap, a one-byte unit is a
    /// byte copied unchanged, and decoding a unit alone gives exactly the
    /// decoded bytes mapped to it (`gate` is appended to the unit first, so
    /// a decoder that needs a trigger escape to run at all does run; it
    /// decodes to `gate_decoded`).
    fn assert_units_tile(
        decoder: fn(&[u8]) -> Option<Decoded>,
        (gate, gate_decoded): (&[u8], &[u8]),
        input: &[u8],
    ) {
        let Some(layer) = decoder(input) else {
            return;
        };
        let mut position = 0;
        let mut index = 0;
        while index < layer.bytes.len() {
            let unit = layer.input_span(index, index + 1);
            let mut end = index + 1;
            while end < layer.bytes.len() && layer.input_span(end, end + 1) == unit {
                end += 1;
            }
            assert_eq!(
                unit.0, position,
                "gap or overlap before {unit:?} in {input:?}"
            );
            assert!(unit.1 > unit.0 && unit.1 <= input.len());
            let piece = &input[unit.0..unit.1];
            if piece.len() == 1 {
                assert_eq!(&layer.bytes[index..end], piece);
            } else {
                let mut expected = layer.bytes[index..end].to_vec();
                expected.extend_from_slice(gate_decoded);
                let alone = decoder(&[piece, gate].concat()).map(|decoded| decoded.bytes);
                assert_eq!(alone, Some(expected), "{piece:?}");
                assert_eq!(layer.input_span(index, end), unit);
            }
            position = unit.1;
            index = end;
        }
        assert_eq!(position, input.len(), "{input:?}");
    }

    proptest::proptest! {
        #[test]
        fn unit_decoders_map_every_byte_back(
            input in proptest::collection::vec(
                proptest::sample::select(b"%&#;\\uxX0aF9d8Dnt/\"zq".to_vec()),
                0..200,
            )
        ) {
            assert_units_tile(percent, (b"", b""), &input);
            assert_units_tile(json_escapes, (b"\\/", b"/"), &input);
            assert_units_tile(html_entities, (b"", b""), &input);
        }
    }

    #[test]
    fn unit_decoder_spans_after_shifting() {
        let input = b"0123456789 a%41b\\u0042c&#67;d";
        let mut budget = budget_for(input.len());
        let layers = decode_all(input, &mut budget);
        assert_eq!(layers.len(), 3);
        for layer in &layers {
            // "a" is copied, the escape after it decodes to one letter.
            let at = layer.bytes.iter().position(|&byte| byte == b'a');
            let at = at.unwrap_or_else(|| panic!("{:?}", layer.bytes));
            assert_eq!(layer.input_span(at, at + 1), (11, 12));
            let escape_end = match layer.kind {
                DecodeKind::Percent => 15,
                DecodeKind::JsonEscape => 19,
                _ => 23,
            };
            let escape_start = if layer.kind == DecodeKind::Percent {
                12
            } else {
                0
            };
            if escape_start > 0 {
                assert_eq!(layer.input_span(at + 1, at + 2), (escape_start, escape_end));
            }
            // Past the end: the same fallbacks as the per-byte map.
            let len = layer.bytes.len();
            assert_eq!(layer.input_span(len, len + 3), (0, 0));
            assert_eq!(layer.input_span(0, len).0, 0);
        }
    }

    /// `encoded` cut into lines of `width`, each written `indent`, line,
    /// `newline`.
    fn wrap(encoded: &[u8], width: usize, newline: &str, indent: &str) -> Vec<u8> {
        encoded
            .chunks(width)
            .flat_map(|line| [indent.as_bytes(), line, newline.as_bytes()].concat())
            .collect()
    }

    /// A blob wrapped into lines decodes as one run whatever the width,
    /// line break and indentation; lines of hex too; a run of lines ends
    /// at a blank line or padding.
    #[test]
    fn wrapped_blobs_are_decoded_as_one_run() {
        use base64::Engine;
        let text = b"password=hunter2026! and then some more text to wrap";
        let encoded = base64::engine::general_purpose::STANDARD.encode(text);
        for width in [4, 16, 23, 24, 64, 76] {
            for (newline, indent) in [
                ("\n", ""),
                ("\r\n", ""),
                ("\n", "  "),
                (" \t\n", "\t"),
                ("\\n", ""),
                ("\\r\\n", ""),
            ] {
                let input = wrap(encoded.as_bytes(), width, newline, indent);
                assert_eq!(
                    decoded(&input),
                    vec![(DecodeKind::Base64, text.to_vec())],
                    "{width} {newline:?} {indent:?}"
                );
            }
        }
        let hex: Vec<u8> = text
            .iter()
            .flat_map(|byte| format!("{byte:02x}").into_bytes())
            .collect();
        assert_eq!(
            decoded(&wrap(&hex, 30, "\n", "")),
            vec![(DecodeKind::Hex, text.to_vec())]
        );
        // Two blobs apart: a blank line between them, or padding ending
        // the first.
        let two = [
            wrap(encoded.as_bytes(), 16, "\n", ""),
            b"\n".to_vec(),
            wrap(encoded.as_bytes(), 16, "\n", ""),
        ]
        .concat();
        assert_eq!(decoded(&two).len(), 2);
        let padded = base64::engine::general_purpose::STANDARD.encode(&text[..20]);
        let two = [
            wrap(padded.as_bytes(), 16, "\n", ""),
            wrap(encoded.as_bytes(), 16, "\n", ""),
        ]
        .concat();
        // One `=` of padding right above a line of alphabet is also how a
        // quoted-printable soft line break inside a value looks: that
        // layer is made too (see `soft_break_trigger`), and the blobs are
        // decoded as before.
        let layers = decoded(&two);
        assert_eq!(layers[0].0, DecodeKind::QuotedPrintable);
        assert_eq!(
            layers[1..],
            [
                (DecodeKind::Base64, text[..20].to_vec()),
                (DecodeKind::Base64, text.to_vec())
            ]
        );
    }

    /// What joins: equal lines and a shorter last one; a heading of
    /// another width, a trailing line of another alphabet (a MIME boundary
    /// below standard base64, a word below hex) and prose do not.
    #[test]
    fn wrapped_runs_join_equal_lines_of_one_alphabet() {
        let runs = |input: &[u8]| -> Vec<Vec<(usize, usize)>> {
            let mut long = Vec::new();
            sampled_runs(input, |start, end| {
                long.push((start, end));
                true
            });
            wrapped_runs(input, &long)
                .into_iter()
                .map(|run| run.segments)
                .collect()
        };
        // A shorter heading of the same alphabet joins as a partial first
        // line (the blob is decoded at every alignment of its head); one of
        // another alphabet is dropped.
        assert_eq!(
            runs(b"Heading\nabcdefghijklmnop\nABCDEFGHIJKLMNO+\n0123456789\n--b1--\n"),
            vec![vec![(0, 7), (8, 24), (25, 41), (42, 52)]]
        );
        assert_eq!(
            runs(b"--b1--\nabcdefghijklmnop\nABCDEFGHIJKLMNO+\n0123456789\n--b1--\n"),
            vec![vec![(7, 23), (24, 40), (41, 51)]]
        );
        assert_eq!(
            runs(b"0123456789abcdef0123\n0123456789abcdef0123\ndone\n"),
            vec![vec![(0, 20), (21, 41)]]
        );
        assert_eq!(
            runs(b"key: \"abcdefghijklmnop\nABCDEFGHIJKLMNOP\nxyz==\",\n"),
            vec![vec![(6, 22), (23, 39), (40, 43)]]
        );
        assert!(runs(b"The quick brown fox\njumps over the lazy\ndog and so on.\n").is_empty());
        // Blank lines, comment prefixes, quotes and operators between the
        // pieces; inline cuts next to long runs.
        assert_eq!(
            runs(b"abcdefghijklmnop\n\nABCDEFGHIJKLMNOP\n"),
            vec![vec![(0, 16), (18, 34)]]
        );
        assert_eq!(
            runs(b"# abcdefghijklmnop\n#\n# ABCDEFGHIJKLMNOP\n"),
            vec![vec![(2, 18), (23, 39)]]
        );
        assert_eq!(
            runs(b"x = \"abcdefghijklmnop\" +\n    \"ABCDEFGH\";\n"),
            vec![vec![(5, 21), (30, 38)]]
        );
        let long = "abcdefghijklmnopqrstuvwxyz0123456789";
        assert_eq!(
            runs(format!("[\"{long}\", \"{long}\",\"xyz\"]").as_bytes()),
            vec![vec![(2, 38), (42, 78), (81, 84)]]
        );
        assert_eq!(
            runs(format!("{long} {long} xyz").as_bytes()),
            vec![vec![(0, 36), (37, 73), (74, 77)]]
        );
        // Pieces on one line narrower than a long run do not join.
        assert!(runs(b"abcdefghijklmnop ABCDEFGHIJKLMNOP abc").is_empty());
        assert!(runs(b"abcdefghijklmnop==\nABCDEFGHIJKLMNOP\n").is_empty());
    }

    #[test]
    fn wrapped_blob_spans_map_back_across_the_breaks() {
        // "password=hunter2026!" in base64, wrapped at 8 with CRLF.
        let input = b"xx\r\ncGFzc3dv\r\ncmQ9aHVu\r\ndGVyMjAy\r\nNiE=\r\n";
        let mut budget = budget_for(input.len());
        // The `xx` line joins as a partial first line; the blob is decoded
        // at its own alignment too.
        let layers: Vec<Decoded> = decode_all(input, &mut budget)
            .into_iter()
            .filter(|layer| layer.bytes == b"password=hunter2026!")
            .collect();
        assert_eq!(layers.len(), 1);
        // "hunter" is decoded bytes 9..15: characters 12..20, the last four
        // of the second line and the first four of the third.
        assert_eq!(layers[0].input_span(9, 15), (14 + 4, 24 + 4));
        assert_eq!(&input[18..28], b"aHVu\r\ndGVy");
        // The whole layer: from the first character to the last.
        assert_eq!(layers[0].input_span(0, 20), (4, 37));
        // Past the end and empty spans stay inside the blob.
        let (start, end) = layers[0].input_span(20, 30);
        assert!(start <= end && end <= 37);
        assert_eq!(layers[0].input_span(3, 3), (8, 8));
    }

    proptest::proptest! {
        /// Random bytes in base64 or hex wrapped at any width, with any
        /// line break and indentation, decode whole, and every decoded
        /// byte maps to the characters that carry its bits.
        #[test]
        fn wrapped_blobs_decode_whole_and_map_every_byte(
            data in proptest::collection::vec(proptest::num::u8::ANY, 18..200),
            width in 1usize..90,
            hex in proptest::bool::ANY,
            newline in proptest::sample::select(vec!["\n", "\r\n", "\\n", " \n  "]),
        ) {
            use base64::Engine;
            let encoded: Vec<u8> = if hex {
                data.iter().flat_map(|byte| format!("{byte:02X}").into_bytes()).collect()
            } else {
                base64::engine::general_purpose::STANDARD.encode(&data).into_bytes()
            };
            // Only an encoding the unwrapped run would be decoded as: base64
            // of mostly zero bytes can lack a digit or a lower-case letter
            // (`jHAALAAAAFA+ADAABAAAAAAA`), or be all upper case and 2–7
            // (valid base32, read as the narrower). Text a secret is in
            // never encodes so.
            let alphabet = &encoded[..encoded.iter().position(|&byte| byte == b'=').unwrap_or(encoded.len())];
            let (any, all) = classes(alphabet);
            let kind = if hex { DecodeKind::Hex } else { DecodeKind::Base64 };
            proptest::prop_assume!(run_kind(alphabet.len(), any, all) == Some(kind));
            let input = [b"head: ".as_slice(), b"\n", &wrap(&encoded, width, newline, "")].concat();
            let mut budget = budget_for(input.len());
            let layers = decode_all(&input, &mut budget);
            // A line of base64 without a digit or a letter of both cases
            // decodes as nothing alone; wrapped, whole.
            let Some(layer) = layers.iter().find(|layer| layer.bytes == data) else {
                return Err(proptest::test_runner::TestCaseError::fail(format!("{layers:?}")));
            };
            let bits = if hex { 4 } else { 6 };
            let chars: Vec<usize> = (0..input.len())
                .filter(|&index| index >= 7 && is_blob_byte(input[index]) && !(input[index] == b'n' && input[index - 1] == b'\\'))
                .collect();
            for index in 0..data.len() {
                let expected = (chars[8 * index / bits], chars[(8 * index + 8).div_ceil(bits) - 1] + 1);
                proptest::prop_assert_eq!(layer.input_span(index, index + 1), expected);
            }
        }
    }

    #[test]
    fn blob_spans_map_back_to_the_encoded_characters() {
        let input = b"xx cGFzc3dvcmQ9aHVudGVyMjAyNiE= yy";
        let mut budget = budget_for(input.len());
        let layers = decode_all(input, &mut budget);
        // "hunter" is decoded bytes 9..15: base64 characters 12..20.
        assert_eq!(layers[0].input_span(9, 15), (3 + 12, 3 + 20));
    }

    /// The layers of `input` and the budget they spent.
    fn decoded_with_budget(input: &[u8]) -> (Vec<(DecodeKind, Vec<u8>)>, usize) {
        let mut budget = budget_for(input.len());
        let before = budget.left;
        let layers = decode_all(input, &mut budget)
            .into_iter()
            .map(|layer| (layer.kind, layer.bytes))
            .collect();
        (layers, before - budget.left)
    }

    /// What triggers the quoted-printable pass: a soft line break inside a
    /// word (`\n`, `\r\n`, their JSON escapes, blanks before them), or
    /// three escapes in a row; then every escape and soft break in the
    /// region is decoded.
    #[test]
    fn quoted_printable_triggers_and_decodes() {
        for input in [
            b"ghp_abc=\r\ndef".as_slice(),
            b"ghp_abc=\ndef",
            b"ghp_abc=\\r\\ndef",
            b"ghp_abc=\\ndef",
            b"ghp_abc= \t\r\ndef",
            b"gh=\n=\np_abc=\ndef",
            b"=67=68=70_abcdef",
            b"=67=68=70=5f=61=62=63=64=65=66",
            b"=67=68=70=5F=61=62=63=64=65=66",
            b"=67h=70_abc=\r\ndef",
        ] {
            let (layers, spent) = decoded_with_budget(input);
            assert_eq!(
                layers,
                vec![(DecodeKind::QuotedPrintable, b"ghp_abcdef".to_vec())],
                "{:?}",
                String::from_utf8_lossy(input)
            );
            assert_eq!(spent, 10);
        }
        // An escape that is not one, or cut by the end, is copied.
        assert_eq!(
            decoded(b"=41=42=43 =4 =ZZ =4"),
            vec![(DecodeKind::QuotedPrintable, b"ABC =4 =ZZ =4".to_vec())]
        );
    }

    /// What does not trigger it, observed on the budget (nothing decoded):
    /// query strings and assignments with hex-looking values, one or two
    /// escapes in a row, base64 padding `==` or padding above a `-----END`
    /// line or a MIME boundary, `=` ending a line after a blank or above an
    /// indented or blank line, a `=` at the very end.
    #[test]
    fn urls_assignments_and_padding_do_not_trigger_quoted_printable() {
        for input in [
            b"GET /q?a=BC&d=EF&g=12 HTTP/1.1".as_slice(),
            b"color=FF0000; page=12; x=ab=cd",
            b"a=b\nc=d\ne==f\n",
            b"AB==\nCDEF\n",
            b"xyzABC=\n-----END CERTIFICATE-----\n",
            b"xyzABC=\n--boundary42\n",
            b"let x =\n    y;\nVAR=\n\nnext\n",
            b"=====\n# Title=\n\nend=",
            b"=41=42 =43",
        ] {
            let (layers, spent) = decoded_with_budget(input);
            assert!(
                layers.is_empty() && spent == 0,
                "{:?}: {layers:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// Every decoded byte of a quoted-printable layer maps to the one
    /// input byte it was copied from or to the whole escape it came from,
    /// and the input bytes no decoded byte maps to are exactly the soft
    /// line breaks; decoding an escape alone gives its byte.
    fn assert_qp_units(input: &[u8]) {
        let Some(layer) = quoted_printable(input) else {
            return;
        };
        let mut position = 0;
        let mut index = 0;
        while index < layer.bytes.len() {
            let unit = layer.input_span(index, index + 1);
            assert!(unit.0 >= position, "overlap at {unit:?} in {input:?}");
            // The gap before a unit is soft line breaks.
            let mut at = position;
            while at < unit.0 {
                let end = soft_break_end(input, at);
                assert!(
                    input[at] == b'=' && end.is_some_and(|end| end <= unit.0),
                    "gap {position}..{} in {input:?}",
                    unit.0
                );
                at = end.unwrap_or(unit.0);
            }
            let piece = &input[unit.0..unit.1];
            assert!(piece.len() == 1 || piece.len() == 3, "{piece:?}");
            if piece.len() == 1 {
                assert_eq!(layer.bytes[index], piece[0]);
            } else {
                let alone = quoted_printable(piece).map(|decoded| decoded.bytes);
                assert_eq!(alone, Some(vec![layer.bytes[index]]), "{piece:?}");
            }
            position = unit.1;
            index += 1;
        }
        let mut at = position;
        while at < input.len() {
            let end = soft_break_end(input, at);
            assert!(end.is_some(), "tail {position}.. in {input:?}");
            at = end.unwrap_or(input.len());
        }
    }

    proptest::proptest! {
        #[test]
        fn quoted_printable_maps_every_byte_back(
            input in proptest::collection::vec(
                proptest::sample::select(b"==\r\n\\ \tnaF09g".to_vec()),
                0..200,
            )
        ) {
            assert_qp_units(&input);
            // The trigger pass never panics and reports `=` bytes in order.
            let triggers = qp_triggers(&input);
            proptest::prop_assert!(triggers.windows(2).all(|pair| pair[0] < pair[1]));
            proptest::prop_assert!(triggers.iter().all(|&at| input[at] == b'='));
        }
    }
}
