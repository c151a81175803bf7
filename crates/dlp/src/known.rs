//! Held secrets: every token the sidecar holds, found raw, encoded,
//! separated or in part.
//!
//! The seed ran three passes per secret (exact variants, an alphanumeric
//! projection, a sliding window). Here they are one pass over the input:
//!
//! 1. The input is *projected*: every byte that is not an ASCII letter or
//!    digit is dropped (JSON escapes such as `\n` are dropped whole) and
//!    letters are lower-cased. Separators, spaces, newlines, quotes and JSON
//!    array splits between the characters of a secret disappear.
//! 2. Every held secret contributes *needles*, projected the same way: the
//!    raw value; its base64 (standard and URL-safe project to the same
//!    letters) at each of the 3 byte alignments with the edge characters that
//!    depend on neighbouring bytes stripped; its hex (either case, since the
//!    projection folds case); its base32 at each of the 5 alignments; the
//!    value reversed and rot13'd (each projects to the reverse or the rot13
//!    of the raw needle: the projection commutes with both); and base58
//!    (Bitcoin alphabet) of the whole value, case folded like the rest.
//!    Base58 is not alignment-free (it is one big number, every character
//!    depends on every byte), so only the base58 of the value alone is a
//!    needle, not its look inside a larger base58 blob. Then base85 at
//!    each of the 4 alignments, in the RFC 1924 alphabet (Python's
//!    `b85encode`, git's binary patches; Z85 projects the same) and in
//!    Ascii85's (`a85encode`, PDF's `<~ ~>`), every four-byte group wholly
//!    inside the secret; uuencode at each of the 3 alignments; and the hex
//!    of the value read as little-endian 16-bit words (`od -x`, `hexdump`)
//!    at an even and an odd offset. Dumps with an offset column and
//!    spaced hex (`xxd`, `hexdump -C`, `od -tx1`) need no needle of their
//!    own: the projection drops the spaces, and each line's run of hex is
//!    longer than the partial window.
//! 3. Any run of at least [`PARTIAL_MATCH_MIN_LEN`] characters of a needle
//!    (or the whole needle, if shorter) in the projected input is a finding.
//!    The needles' 8-byte grams sit in a hash table behind a bit filter; the
//!    projected input is probed every `stride` bytes, where `stride` is chosen
//!    so that every qualifying run contains a probed position. A hit is
//!    extended both ways to the longest common run.
//!
//! Percent-encoding, `\uXXXX` escapes, HTML entities and nested encodings are
//! left to the decoding passes (`decode.rs`), which re-run this matcher on
//! the decoded bytes.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use bot_bottle_secret::Redacted;
use data_encoding::{BASE32_NOPAD, BASE64_NOPAD, HEXLOWER};

use crate::config::{Detector, HeldSecret};
use crate::error::DlpError;
use crate::finding::Finding;

/// The shortest run of consecutive characters of a held secret (or of one of
/// its encodings), after projection, that counts as a finding. Chosen from
/// the false-positive rates measured on the benign corpus (see `docs/dlp.md`
/// and `examples/measure_partial.rs`).
pub const PARTIAL_MATCH_MIN_LEN: usize = 12;

/// Length of the grams indexed in the hash table (one `u64`).
const GRAM_LEN: usize = 8;

/// A needle shorter than this (after projection) is not indexed: a held
/// secret whose projection is this short is matched raw and exactly instead,
/// and its encodings are not searched.
pub const MIN_INDEXED_NEEDLE_LEN: usize = 12;

/// log2 of the number of bits in the gram filter (2^21 bits = 256 KiB, in
/// the L2 cache; measured against 2^20 and 2^22 on the bench corpus, where
/// halving the false positives of 2^20 paid for the larger table and 2^22
/// did not).
const FILTER_BITS: u32 = 21;

/// The projection records one checkpoint per this many input bytes, to map a
/// projected offset back to an input offset without a per-byte table.
pub(crate) const CHECKPOINT_SPACING: usize = 256;

/// Odd constant for multiplicative hashing (the 64-bit golden ratio).
const HASH_MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// Lower-cased ASCII letter or digit, else 0 (dropped).
static PROJECT: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 256 {
        let value = byte as u8;
        table[byte] = if value.is_ascii_digit() || value.is_ascii_lowercase() {
            value
        } else if value.is_ascii_uppercase() {
            value.to_ascii_lowercase()
        } else {
            0
        };
        byte += 1;
    }
    table
};

/// Characters that a preceding backslash turns into a JSON/JS escape that
/// the projection drops whole (`\n`, `\t`, `\\`, …). `\u` and `\x` are not
/// here: the decoding pass expands them.
pub(crate) static ESCAPE_CONSUMES: [bool; 256] = {
    let mut table = [false; 256];
    let consumed = b"ntrbf\"\\/'0";
    let mut index = 0;
    while index < consumed.len() {
        table[consumed[index] as usize] = true;
        index += 1;
    }
    table
};

/// Largest projection buffer kept for reuse by a thread (bytes); larger
/// ones are freed after the scan. 8 MiB: a large request body (a
/// Messages-API request carrying screenshots is several MiB) reuses its
/// buffer instead of allocating, zeroing and faulting in a fresh one each
/// time (on the 4.3 MB bench corpus that was 14 % of a `known` scan with
/// the 4 MiB this was before); a thread keeps at most this much after its
/// largest scan. The streaming form's buffers are slice-sized.
const MAX_REUSED_BUFFER: usize = 8 * 1024 * 1024;

thread_local! {
    /// A projection buffer reused across scans on the same thread, so a scan
    /// does not page-fault a fresh allocation in.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `(projected offset, input offset, pending backslash)` at the start of
/// every `CHECKPOINT_SPACING` input bytes.
pub(crate) type Checkpoints = Vec<(usize, usize, bool)>;

/// The projected input and enough to map offsets back.
pub(crate) struct Projection {
    /// The projected bytes; in [`KnownMatcher::scan`], a reused buffer whose
    /// first `written` bytes are the projection.
    pub(crate) bytes: Vec<u8>,
    /// `(projected offset, input offset, pending backslash)` at the start of
    /// every `CHECKPOINT_SPACING` input bytes.
    checkpoints: Checkpoints,
}

#[inline]
pub(crate) fn project_byte(byte: u8, escape: &mut bool) -> u8 {
    let consumed = *escape && ESCAPE_CONSUMES[byte as usize];
    *escape = byte == b'\\' && !consumed;
    if consumed { 0 } else { PROJECT[byte as usize] }
}

/// Project `input`: letters and digits only, lower-cased, JSON escapes gone.
pub(crate) fn project(input: &[u8]) -> Projection {
    let mut bytes = Vec::new();
    let (written, checkpoints) = project_into(input, &mut bytes);
    bytes.truncate(written);
    Projection { bytes, checkpoints }
}

/// Bytes per word of the word-at-a-time projection.
pub(crate) const WORD: usize = 8;

/// `0x01` in every byte of a word.
const ONES: u64 = 0x0101_0101_0101_0101;

/// `0x80` in every byte of a word.
const HIGH: u64 = 0x8080_8080_8080_8080;

/// For each 8-bit mask of kept bytes, the indices of the kept bytes in
/// order (then zeros): the permutation that compacts a word.
pub(crate) static COMPACT: [[u8; WORD]; 256] = {
    let mut table = [[0u8; WORD]; 256];
    let mut mask = 0;
    while mask < 256 {
        let mut count = 0;
        let mut bit = 0;
        while bit < WORD {
            if mask & (1 << bit) != 0 {
                table[mask][count] = bit as u8;
                count += 1;
            }
            bit += 1;
        }
        mask += 1;
    }
    table
};

/// Whether any byte of `word` is a backslash.
#[inline]
fn has_backslash(word: u64) -> bool {
    let flipped = word ^ (ONES * u64::from(b'\\'));
    flipped.wrapping_sub(ONES) & !flipped & HIGH != 0
}

/// `0x80` in every byte of `word` that is an ASCII letter (first) and in
/// every byte that is an ASCII letter or digit (second). Each byte's top bit
/// is cleared before the additions, so no carry crosses into the next byte.
#[inline]
fn classify(word: u64) -> (u64, u64) {
    let ascii = !word & HIGH;
    let low = word & !HIGH;
    let folded = low | (ONES * 0x20);
    let at_least = |bytes: u64, bound: u8| bytes + ONES * u64::from(0x80 - bound);
    let letters = at_least(folded, b'a') & !at_least(folded, b'z' + 1) & ascii;
    let digits = at_least(low, b'0') & !at_least(low, b'9' + 1) & ascii;
    (letters, letters | digits)
}

/// Project `input` into `bytes` (reusing its allocation and contents: only
/// growth is zeroed); returns the projected length, `bytes[..length]`, and
/// the checkpoints. `bytes` is left longer than that.
///
/// With AVX2 (`simd.rs`, 64 bytes per step), else [`project_into_portable`].
fn project_into(input: &[u8], bytes: &mut Vec<u8>) -> (usize, Checkpoints) {
    crate::simd::project_into(input, bytes).unwrap_or_else(|| project_into_portable(input, bytes))
}

/// The block loop of every projection: a checkpoint every
/// `CHECKPOINT_SPACING` input bytes, `step` on each `N`-byte piece of a
/// checkpoint block (it writes the piece's kept bytes at the start of the
/// slice it is given, may write up to 8 bytes past them, updates the
/// pending-backslash state and returns how many it kept), [`project_byte`]
/// on the block's tail.
///
/// `WORD` bytes of slack: a step's stores may reach past the input's length
/// (never past `WORD` beyond it, since `written + local` is at most the
/// offset of the byte being projected). Every byte below the returned
/// length is written before it is read, so stale contents of a reused
/// buffer do not matter and need no zeroing.
#[inline(always)]
pub(crate) fn project_blocks<const N: usize>(
    input: &[u8],
    bytes: &mut Vec<u8>,
    mut step: impl FnMut(&[u8; N], &mut [u8], &mut bool) -> usize,
) -> (usize, Checkpoints) {
    if bytes.len() < input.len() + WORD {
        bytes.resize(input.len() + WORD, 0);
    }
    let mut checkpoints = Vec::with_capacity(input.len() / CHECKPOINT_SPACING + 1);
    let mut written = 0usize;
    let mut escape = false;
    for (block_index, block) in input.chunks(CHECKPOINT_SPACING).enumerate() {
        checkpoints.push((written, block_index * CHECKPOINT_SPACING, escape));
        let out = &mut bytes[written..written + block.len() + WORD];
        let mut local = 0usize;
        let mut pieces = block.chunks_exact(N);
        for piece in &mut pieces {
            // `chunks_exact` pieces are exactly `N` bytes long.
            if let Ok(piece) = <&[u8; N]>::try_from(piece) {
                local += step(piece, &mut out[local..], &mut escape);
            }
        }
        for &byte in pieces.remainder() {
            let projected = project_byte(byte, &mut escape);
            out[local] = projected;
            local += usize::from(projected != 0);
        }
        written += local;
    }
    (written, checkpoints)
}

/// [`project_into`] without vector instructions.
///
/// Same result as [`project_byte`] applied to every byte, but a word
/// (8 bytes) at a time where the word holds no backslash: the word is
/// classified and lower-cased with a few 64-bit operations and its kept
/// bytes are gathered through a 256-entry permutation table, with no branch
/// that depends on the mix of kept and dropped bytes.
fn project_into_portable(input: &[u8], bytes: &mut Vec<u8>) -> (usize, Checkpoints) {
    project_blocks::<WORD>(input, bytes, |chunk, out, escape| {
        let word = u64::from_le_bytes(*chunk);
        if *escape || has_backslash(word) {
            let mut local = 0;
            for &byte in chunk {
                let projected = project_byte(byte, escape);
                out[local] = projected;
                local += usize::from(projected != 0);
            }
            return local;
        }
        let (letters, kept) = classify(word);
        // Setting bit 5 lower-cases a letter (0x80 >> 2 = 0x20).
        let lowered = (word | (letters >> 2)).to_le_bytes();
        // Gather the kept bytes through the permutation for the word's
        // mask: eight unconditional stores and no branch, whatever the mix
        // of kept and dropped bytes (the bytes past the kept ones are
        // overwritten later or cut off). Bit `i` of `mask` is the top bit of
        // byte `i` of `kept`.
        let mask = ((kept >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as usize & 0xFF;
        let order = &COMPACT[mask];
        for (slot, &from) in out[..WORD].iter_mut().zip(order.iter()) {
            *slot = lowered[usize::from(from) & (WORD - 1)];
        }
        mask.count_ones() as usize
    })
}

/// Project a needle (no checkpoints needed).
fn project_plain(input: &[u8]) -> Vec<u8> {
    project(input).bytes
}

impl Projection {
    /// The input offset of the byte that became projected byte `index`.
    fn input_offset(&self, input: &[u8], index: usize) -> usize {
        let slot = self
            .checkpoints
            .partition_point(|(projected, _, _)| *projected <= index)
            .saturating_sub(1);
        let Some(&(mut projected, start, mut escape)) = self.checkpoints.get(slot) else {
            return 0;
        };
        for (offset, &byte) in input.iter().enumerate().skip(start) {
            if project_byte(byte, &mut escape) != 0 {
                if projected == index {
                    return offset;
                }
                projected += 1;
            }
        }
        input.len()
    }

    /// The input span of projected span `start..end` (`end > start`).
    pub(crate) fn input_span(&self, input: &[u8], start: usize, end: usize) -> (usize, usize) {
        let first = self.input_offset(input, start);
        let last = self.input_offset(input, end - 1);
        (first, (last + 1).min(input.len()))
    }
}

/// How a needle was derived from its secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NeedleEncoding {
    Raw,
    Base64,
    Hex,
    Base32,
    Reversed,
    Rot13,
    Base58,
    Base85,
    Uuencode,
    SwappedHex,
}

impl NeedleEncoding {
    fn label(self) -> &'static str {
        match self {
            NeedleEncoding::Raw => "raw",
            NeedleEncoding::Base64 => "base64",
            NeedleEncoding::Hex => "hex",
            NeedleEncoding::Base32 => "base32",
            NeedleEncoding::Reversed => "reversed",
            NeedleEncoding::Rot13 => "rot13",
            NeedleEncoding::Base58 => "base58",
            NeedleEncoding::Base85 => "base85",
            NeedleEncoding::Uuencode => "uuencode",
            NeedleEncoding::SwappedHex => "hex words",
        }
    }
}

struct Needle {
    secret: usize,
    encoding: NeedleEncoding,
    bytes: Vec<u8>,
    min_len: usize,
}

/// A fast hasher for `u64` grams (the grams are already well mixed text).
#[derive(Default, Clone, Copy)]
struct GramHasher(u64);

impl Hasher for GramHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(HASH_MULTIPLIER);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0 ^ value).wrapping_mul(HASH_MULTIPLIER);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
}

/// Where each needle gram occurs: `(needle, offset)` pairs grouped by
/// gram in one flat array, and a map from a gram to its group. One
/// allocation for all the pairs rather than a `Vec` per gram: with 50
/// held secrets of about 40 characters and their 25 or so needles each,
/// that is about 40,000 grams, and a `Vec` per gram cost about 60 bytes
/// each where this costs about 25 (the sidecars' idle memory).
#[derive(Default)]
struct GramTable {
    /// A gram to its group: the index of its first pair, and how many.
    groups: HashMap<u64, (u32, u32), BuildHasherDefault<GramHasher>>,
    /// `(needle, offset)`, grouped by gram.
    pairs: Vec<(u32, u32)>,
}

impl GramTable {
    /// The table of `grams`: `(gram, needle, offset)` in any order.
    fn new(mut grams: Vec<(u64, u32, u32)>) -> Self {
        grams.sort_unstable();
        let mut table = Self {
            groups: HashMap::default(),
            pairs: Vec::with_capacity(grams.len()),
        };
        for (gram, needle, offset) in grams {
            let at = u32::try_from(table.pairs.len()).unwrap_or(u32::MAX);
            table
                .groups
                .entry(gram)
                .and_modify(|(_, count)| *count += 1)
                .or_insert((at, 1));
            table.pairs.push((needle, offset));
        }
        table.groups.shrink_to_fit();
        table
    }

    /// The `(needle, offset)` pairs of `gram` (none if it is not a
    /// needle's).
    fn get(&self, gram: u64) -> &[(u32, u32)] {
        self.groups
            .get(&gram)
            .and_then(|&(first, count)| {
                let first = first as usize;
                self.pairs.get(first..first + count as usize)
            })
            .unwrap_or_default()
    }
}

/// A run of a needle found in the projected input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Hit {
    start: usize,
    end: usize,
    needle: usize,
}

/// The held-secret matcher, built once per scanner.
pub(crate) struct KnownMatcher {
    names: Vec<String>,
    values: Vec<Redacted<Vec<u8>>>,
    needles: Vec<Needle>,
    table: GramTable,
    filter: Vec<u64>,
    stride: usize,
    /// Secrets too short to index, matched raw and exactly.
    short: Option<(AhoCorasick, Vec<usize>)>,
    longest_needle: usize,
}

fn gram_at(bytes: &[u8], index: usize) -> u64 {
    let mut gram = [0u8; GRAM_LEN];
    gram.copy_from_slice(&bytes[index..index + GRAM_LEN]);
    u64::from_le_bytes(gram)
}

fn filter_slot(gram: u64) -> usize {
    (gram.wrapping_mul(HASH_MULTIPLIER) >> (64 - FILTER_BITS)) as usize
}

/// The characters of `encoded(padding ++ secret)` that depend only on the
/// secret's bits, for `padding` = 0..`group` bytes: what the secret looks
/// like at each byte alignment inside a larger encoded blob.
fn aligned_cores(
    secret: &[u8],
    group: usize,
    bits_per_char: usize,
    encode: impl Fn(&[u8]) -> String,
) -> Vec<Vec<u8>> {
    (0..group)
        .filter_map(|padding| {
            let mut buffer = vec![0u8; padding];
            buffer.extend_from_slice(secret);
            let encoded = encode(&buffer).into_bytes();
            let first = (8 * padding).div_ceil(bits_per_char);
            let last = (8 * (padding + secret.len())) / bits_per_char;
            encoded.get(first..last).map(<[u8]>::to_vec)
        })
        .collect()
}

/// `bytes` with every ASCII letter rotated by 13 places (ROT13), other
/// bytes unchanged.
fn rot13(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .map(|&byte| match byte {
            b'a'..=b'z' => b'a' + (byte - b'a' + 13) % 26,
            b'A'..=b'Z' => b'A' + (byte - b'A' + 13) % 26,
            other => other,
        })
        .collect()
}

/// The base85 alphabet of RFC 1924, Python's `base64.b85encode`, git's
/// binary patches and Mercurial. Z85 (ZeroMQ) orders the same letters
/// with the cases swapped and other punctuation: the projection folds case
/// and drops punctuation, so both project to the same needle.
const BASE85_ALPHABET: &[u8; 85] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~";

/// `bytes` in base85, four bytes (big-endian) to five characters, a final
/// group of `n` bytes zero-filled and cut to `n + 1` characters; each digit
/// written as `digit(value)`.
fn base85(bytes: &[u8], digit: impl Fn(u8) -> u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len().div_ceil(4) * 5);
    for group in bytes.chunks(4) {
        let mut word = [0u8; 4];
        word[..group.len()].copy_from_slice(group);
        let mut value = u32::from_be_bytes(word);
        let mut chars = [0u8; 5];
        for slot in chars.iter_mut().rev() {
            *slot = digit((value % 85) as u8);
            value /= 85;
        }
        out.extend_from_slice(&chars[..group.len() + 1]);
    }
    out
}

/// The characters of base85 (`digit` per value) of `padding ++ secret`
/// that depend only on the secret, for `padding` = 0..4 bytes: the five
/// characters of every four-byte group wholly inside it. Unlike base64's,
/// a base85 character depends on its whole group, so the partial groups
/// at either edge are left out.
fn base85_cores(secret: &[u8], digit: impl Fn(u8) -> u8 + Copy) -> Vec<Vec<u8>> {
    (0..4)
        .filter_map(|padding| {
            let mut buffer = vec![0u8; padding];
            buffer.extend_from_slice(secret);
            let encoded = base85(&buffer, digit);
            let first = padding.div_ceil(4);
            let last = (padding + secret.len()) / 4;
            encoded.get(5 * first..5 * last).map(<[u8]>::to_vec)
        })
        .collect()
}

/// `bytes` uuencoded (`uuencode`, Python's `binascii.b2a_uu`): three bytes
/// to four characters of six bits each, value `v` written as `32 + v`
/// (a space for 0; some encoders write a backtick, which the projection
/// drops all the same). Line lengths and framing are left to the caller.
fn uuencode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let mut word = [0u8; 3];
        word[..group.len()].copy_from_slice(group);
        let value = u32::from(word[0]) << 16 | u32::from(word[1]) << 8 | u32::from(word[2]);
        for index in 0..=group.len() {
            let six = (value >> (18 - 6 * index)) & 0x3f;
            out.push(char::from(32 + six as u8));
        }
    }
    out
}

/// The hex of `bytes` read as little-endian 16-bit words, two bytes at a
/// time with each pair swapped (`od -x` and `hexdump` on a little-endian
/// machine: `ab` is `6261`); an odd last byte is left out (its word's
/// other byte is not the secret's).
fn swapped_hex(bytes: &[u8]) -> Vec<u8> {
    let mut swapped = Vec::with_capacity(bytes.len());
    for pair in bytes.chunks_exact(2) {
        swapped.push(pair[1]);
        swapped.push(pair[0]);
    }
    HEXLOWER.encode(&swapped).into_bytes()
}

/// The Bitcoin base58 alphabet (no `0`, `O`, `I`, `l`).
const BASE58_ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Longest held secret whose base58 is a needle (bytes): base58 is one
/// big number, so encoding costs the square of the length; held secrets
/// are tokens, far shorter.
const MAX_BASE58_SECRET: usize = 1024;

/// Base58 (Bitcoin alphabet) of `bytes`, each leading zero byte a `1`, as
/// `base58.b58encode` and `bs58` write it; `None` past
/// [`MAX_BASE58_SECRET`].
fn base58(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() > MAX_BASE58_SECRET {
        return None;
    }
    let zeros = bytes.iter().take_while(|&&byte| byte == 0).count();
    // Base-58 digits, least significant first.
    let mut digits: Vec<u8> = Vec::with_capacity(bytes.len() * 138 / 100 + 1);
    for &byte in &bytes[zeros..] {
        let mut carry = u32::from(byte);
        for digit in &mut digits {
            carry += u32::from(*digit) << 8;
            *digit = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let mut out = vec![b'1'; zeros];
    out.extend(
        digits
            .iter()
            .rev()
            .map(|&digit| BASE58_ALPHABET[usize::from(digit)]),
    );
    Some(out)
}

impl KnownMatcher {
    /// Build the matcher. A held secret whose value equals an approved value
    /// keeps its encoded needles but loses its raw one (the seed's rule: an
    /// approved exact value must not be re-blocked by the projection passes).
    pub(crate) fn new(
        held: &[HeldSecret],
        safe_values: &[Redacted<String>],
    ) -> Result<Self, DlpError> {
        Self::with_min_len(held, safe_values, PARTIAL_MATCH_MIN_LEN)
    }

    /// [`KnownMatcher::new`] with another sliding-window length (used to
    /// measure false-positive rates when choosing [`PARTIAL_MATCH_MIN_LEN`]).
    pub(crate) fn with_min_len(
        held: &[HeldSecret],
        safe_values: &[Redacted<String>],
        window: usize,
    ) -> Result<Self, DlpError> {
        let window = window.max(GRAM_LEN);
        let mut names = Vec::with_capacity(held.len());
        let mut values = Vec::with_capacity(held.len());
        let mut needles: Vec<Needle> = Vec::new();
        let mut short_patterns: Vec<Vec<u8>> = Vec::new();
        let mut short_secrets = Vec::new();
        for (secret_index, secret) in held.iter().enumerate() {
            let value = secret.value.expose().as_bytes();
            if value.is_empty() {
                return Err(DlpError::EmptySecret {
                    name: secret.name.clone(),
                });
            }
            names.push(secret.name.clone());
            values.push(Redacted::new(value.to_vec()));
            let approved = safe_values
                .iter()
                .any(|safe| safe.expose().as_bytes() == value);
            let raw = project_plain(value);
            if raw.len() < MIN_INDEXED_NEEDLE_LEN {
                if !approved {
                    short_patterns.push(value.to_vec());
                    short_secrets.push(secret_index);
                }
                continue;
            }
            let mut candidates: Vec<(NeedleEncoding, Vec<u8>)> = Vec::new();
            if !approved {
                candidates.push((NeedleEncoding::Raw, raw));
            }
            for core in aligned_cores(value, 3, 6, |bytes| BASE64_NOPAD.encode(bytes)) {
                candidates.push((NeedleEncoding::Base64, project_plain(&core)));
            }
            candidates.push((NeedleEncoding::Hex, HEXLOWER.encode(value).into_bytes()));
            for core in aligned_cores(value, 5, 5, |bytes| BASE32_NOPAD.encode(bytes)) {
                candidates.push((NeedleEncoding::Base32, project_plain(&core)));
            }
            // The projection commutes with reversing and with ROT13 (it
            // keeps or drops each byte alone and folds case), so these are
            // the raw needle reversed and rotated.
            let mut reversed = value.to_vec();
            reversed.reverse();
            candidates.push((NeedleEncoding::Reversed, project_plain(&reversed)));
            candidates.push((NeedleEncoding::Rot13, project_plain(&rot13(value))));
            if let Some(encoded) = base58(value) {
                candidates.push((NeedleEncoding::Base58, project_plain(&encoded)));
            }
            // Base85 (RFC 1924 and Z85 project alike) and Ascii85 (`!`
            // to `u`: `base64.a85encode`, PostScript and PDF's `<~ ~>`).
            for core in base85_cores(value, |digit| BASE85_ALPHABET[usize::from(digit)]) {
                candidates.push((NeedleEncoding::Base85, project_plain(&core)));
            }
            for core in base85_cores(value, |digit| b'!' + digit) {
                candidates.push((NeedleEncoding::Base85, project_plain(&core)));
            }
            for core in aligned_cores(value, 3, 6, uuencode) {
                candidates.push((NeedleEncoding::Uuencode, project_plain(&core)));
            }
            // At an even and at an odd offset in the dump.
            candidates.push((NeedleEncoding::SwappedHex, swapped_hex(value)));
            candidates.push((
                NeedleEncoding::SwappedHex,
                swapped_hex(value.get(1..).unwrap_or_default()),
            ));
            for (encoding, bytes) in candidates {
                if bytes.len() < MIN_INDEXED_NEEDLE_LEN
                    || needles
                        .iter()
                        .any(|needle| needle.secret == secret_index && needle.bytes == bytes)
                {
                    continue;
                }
                let min_len = window.min(bytes.len());
                needles.push(Needle {
                    secret: secret_index,
                    encoding,
                    bytes,
                    min_len,
                });
            }
        }

        let mut grams = Vec::new();
        let mut filter = vec![0u64; (1usize << FILTER_BITS) / 64];
        for (needle_index, needle) in needles.iter().enumerate() {
            for offset in 0..=needle.bytes.len() - GRAM_LEN {
                let gram = gram_at(&needle.bytes, offset);
                let slot = filter_slot(gram);
                filter[slot >> 6] |= 1 << (slot & 63);
                grams.push((
                    gram,
                    u32::try_from(needle_index).unwrap_or(u32::MAX),
                    u32::try_from(offset).unwrap_or(u32::MAX),
                ));
            }
        }
        let table = GramTable::new(grams);
        let stride = needles
            .iter()
            .map(|needle| needle.min_len - GRAM_LEN + 1)
            .min()
            .unwrap_or(1)
            .max(1);
        let longest_needle = needles
            .iter()
            .map(|needle| needle.bytes.len())
            .chain(short_patterns.iter().map(Vec::len))
            .max()
            .unwrap_or(0);
        let short = if short_patterns.is_empty() {
            None
        } else {
            let automaton = AhoCorasick::builder()
                .kind(Some(AhoCorasickKind::DFA))
                .match_kind(MatchKind::Standard)
                .build(&short_patterns)
                .map_err(|source| DlpError::Matcher {
                    what: "short held secret",
                    source,
                })?;
            Some((automaton, short_secrets))
        };
        Ok(Self {
            names,
            values,
            needles,
            table,
            filter,
            stride,
            short,
            longest_needle,
        })
    }

    /// The longest needle, in projected bytes (for the streaming overlap).
    pub(crate) fn longest_needle(&self) -> usize {
        self.longest_needle
    }

    /// Whether there is anything to look for.
    pub(crate) fn is_empty(&self) -> bool {
        self.needles.is_empty() && self.short.is_none()
    }

    fn probe(&self, projected: &[u8], hits: &mut Vec<Hit>) {
        if projected.len() < GRAM_LEN || self.needles.is_empty() {
            return;
        }
        let last = projected.len() - GRAM_LEN;
        // Eight probes at a time where the CPU can (`simd.rs`), then one at
        // a time from where that stopped.
        let mut index = crate::simd::probe_filter(
            projected,
            self.stride,
            &self.filter,
            HASH_MULTIPLIER,
            64 - FILTER_BITS,
            |index| self.lookup(projected, index, hits),
        );
        while index <= last {
            let slot = filter_slot(gram_at(projected, index));
            if (self.filter[slot >> 6] >> (slot & 63)) & 1 != 0 {
                self.lookup(projected, index, hits);
            }
            index += self.stride;
        }
    }

    /// The table entries of the gram at `index` (which passed the filter),
    /// each extended into a hit.
    fn lookup(&self, projected: &[u8], index: usize, hits: &mut Vec<Hit>) {
        for &(needle, offset) in self.table.get(gram_at(projected, index)) {
            self.extend_hit(projected, index, needle as usize, offset as usize, hits);
        }
    }

    fn extend_hit(
        &self,
        projected: &[u8],
        index: usize,
        needle_index: usize,
        offset: usize,
        hits: &mut Vec<Hit>,
    ) {
        let needle = &self.needles[needle_index].bytes;
        let (mut start, mut needle_start) = (index, offset);
        while start > 0 && needle_start > 0 && projected[start - 1] == needle[needle_start - 1] {
            start -= 1;
            needle_start -= 1;
        }
        let (mut end, mut needle_end) = (index + GRAM_LEN, offset + GRAM_LEN);
        while end < projected.len()
            && needle_end < needle.len()
            && projected[end] == needle[needle_end]
        {
            end += 1;
            needle_end += 1;
        }
        if end - start >= self.needles[needle_index].min_len {
            let hit = Hit {
                start,
                end,
                needle: needle_index,
            };
            if hits.last() != Some(&hit) {
                hits.push(hit);
            }
        }
    }

    /// Every held secret in `input`, as findings with offsets into `input`.
    pub(crate) fn scan(&self, input: &[u8], out: &mut Vec<Finding>) {
        if let Some((automaton, secrets)) = &self.short {
            for found in automaton.find_overlapping_iter(input) {
                let secret = secrets[found.pattern().as_usize()];
                out.push(Finding::new(
                    Detector::Known,
                    self.names[secret].clone(),
                    "raw",
                    (found.start(), found.end()),
                    input[found.start()..found.end()].to_vec(),
                ));
            }
        }
        if self.needles.is_empty() {
            return;
        }
        let mut buffer = SCRATCH.with(|scratch| scratch.take());
        let (written, checkpoints) = project_into(input, &mut buffer);
        let projection = Projection {
            bytes: buffer,
            checkpoints,
        };
        let mut hits = Vec::new();
        self.probe(&projection.bytes[..written], &mut hits);
        if !hits.is_empty() {
            self.report(input, &projection, hits, out);
        }
        if projection.bytes.capacity() <= MAX_REUSED_BUFFER {
            SCRATCH.with(|scratch| *scratch.borrow_mut() = projection.bytes);
        }
    }

    fn report(
        &self,
        input: &[u8],
        projection: &Projection,
        mut hits: Vec<Hit>,
        out: &mut Vec<Finding>,
    ) {
        hits.sort_unstable();
        hits.dedup();
        for hit in hits {
            let needle = &self.needles[hit.needle];
            let (start, end) = projection.input_span(input, hit.start, hit.end);
            let matched = input[start..end].to_vec();
            let whole = hit.end - hit.start == needle.bytes.len();
            let encoding = match (needle.encoding, whole) {
                (NeedleEncoding::Raw, true)
                    if matched.as_slice() == self.values[needle.secret].expose().as_slice() =>
                {
                    "raw".to_string()
                }
                (NeedleEncoding::Raw, true) => "separated".to_string(),
                (NeedleEncoding::Raw, false) => "partial".to_string(),
                (other, true) => other.label().to_string(),
                (other, false) => format!("{} partial", other.label()),
            };
            out.push(Finding::new(
                Detector::Known,
                self.names[needle.secret].clone(),
                encoding,
                (start, end),
                matched,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_drops_separators_escapes_and_case() {
        let projection = project(b"Ab-C d\\nE\\\\nF\\u0041");
        assert_eq!(projection.bytes, b"abcdenfu0041");
    }

    /// The projection one byte at a time, as [`project_byte`] defines it.
    fn reference_projection(input: &[u8]) -> (Vec<u8>, Checkpoints) {
        let mut bytes = Vec::new();
        let mut checkpoints = Vec::new();
        let mut escape = false;
        for (offset, &byte) in input.iter().enumerate() {
            if offset % CHECKPOINT_SPACING == 0 {
                checkpoints.push((bytes.len(), offset, escape));
            }
            let projected = project_byte(byte, &mut escape);
            if projected != 0 {
                bytes.push(projected);
            }
        }
        (bytes, checkpoints)
    }

    /// Every projection: the one in use, the portable one, and each vector
    /// path this CPU can run (AVX2, AVX-512), to compare with the
    /// byte-at-a-time reference.
    fn projections(input: &[u8]) -> Vec<(Vec<u8>, Checkpoints)> {
        let projection = project(input);
        let mut portable = Vec::new();
        let (written, checkpoints) = project_into_portable(input, &mut portable);
        portable.truncate(written);
        let mut all = vec![
            (projection.bytes, projection.checkpoints),
            (portable, checkpoints),
        ];
        all.extend(
            crate::simd::every_path(input)
                .into_iter()
                .map(|(_, result)| result),
        );
        all
    }

    #[test]
    fn the_vector_projection_is_in_use_where_the_cpu_has_avx2() {
        let paths: Vec<&str> = crate::simd::every_path(b"x")
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let in_use = crate::simd::project_into(b"x", &mut Vec::new()).is_some();
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            assert_eq!(
                paths.contains(&"avx2"),
                has!("avx2") && has!("popcnt") && has!("bmi1")
            );
        }
        assert_eq!(in_use, !paths.is_empty());
    }

    #[test]
    fn word_projection_equals_byte_projection_on_every_byte_value() {
        for first in 0..=255u8 {
            let mut input: Vec<u8> = (0..=255u8).map(|byte| byte.wrapping_add(first)).collect();
            input.extend(b"\\\\n\\AbC\\\\\\x\\");
            let expected = reference_projection(&input);
            for projection in projections(&input) {
                assert_eq!(projection, expected);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn word_projection_equals_byte_projection(
            input in proptest::collection::vec(
                proptest::sample::select(b"aZ09-_ \\\\n\"tu\xC3\x80x".to_vec()),
                0..1200,
            )
        ) {
            let expected = reference_projection(&input);
            for projection in projections(&input) {
                proptest::prop_assert_eq!(projection, expected.clone());
            }
        }
    }

    /// Every string of ten bytes over backslash, a consumed letter and a
    /// kept one, at every offset within a word and across the end of a
    /// 64-byte vector block (so backslash runs of every length and parity
    /// start and end at every byte of a word and cross into the next word
    /// and block), with and without a backslash run before it.
    #[test]
    fn word_projection_handles_every_backslash_run_at_every_alignment() {
        let alphabet = [b'\\', b'n', b'a'];
        for code in 0..3usize.pow(10) {
            let mut text = Vec::with_capacity(10);
            let mut rest = code;
            for _ in 0..10 {
                text.push(alphabet[rest % 3]);
                rest /= 3;
            }
            for prefix in (0..WORD).chain(54..64) {
                for lead in [b'x', b'\\'] {
                    let mut input = vec![lead; prefix];
                    input.extend_from_slice(&text);
                    input.extend_from_slice(&[b'0'; 64]);
                    let expected = reference_projection(&input);
                    for projection in projections(&input) {
                        assert_eq!(
                            projection,
                            expected,
                            "{:?}",
                            String::from_utf8_lossy(&input)
                        );
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn word_projection_equals_byte_projection_on_escape_heavy_text(
            input in proptest::collection::vec(
                proptest::sample::select(b"\\\\\\nrtbf0/'\"uxaZ9 ".to_vec()),
                0..700,
            )
        ) {
            let expected = reference_projection(&input);
            for projection in projections(&input) {
                proptest::prop_assert_eq!(projection, expected.clone());
            }
        }
    }

    #[test]
    fn projection_maps_offsets_back_across_checkpoints() {
        let mut input = vec![b'-'; 1000];
        input.extend_from_slice(b"secret");
        input.extend(vec![b' '; 600]);
        input.extend_from_slice(b"tail");
        let projection = project(&input);
        assert_eq!(projection.bytes, b"secrettail");
        assert_eq!(projection.input_span(&input, 0, 6), (1000, 1006));
        assert_eq!(projection.input_span(&input, 6, 10), (1606, 1610));
    }

    #[test]
    fn base58_matches_the_bitcoin_reference() {
        let cases: [(&[u8], &[u8]); 5] = [
            (b"", b""),
            (b"\0\0\x01", b"112"),
            (b"hello world", b"StV1DL6CwTryKyV"),
            (b"Hello World!", b"2NEpo7TZRRrLZSi2U"),
            (
                b"The quick brown fox jumps over the lazy dog.",
                b"USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(base58(input).as_deref(), Some(expected));
        }
        assert_eq!(rot13(b"Hello-World_09"), b"Uryyb-Jbeyq_09");
    }

    #[test]
    fn aligned_cores_appear_in_encodings_of_larger_blobs() {
        let secret = b"0123456789abcdefghij-secret";
        let cores = aligned_cores(secret, 3, 6, |bytes| BASE64_NOPAD.encode(bytes));
        for prefix_len in 0..9 {
            let mut blob = vec![b'x'; prefix_len];
            blob.extend_from_slice(secret);
            blob.extend_from_slice(b"yz");
            let encoded = BASE64_NOPAD.encode(&blob);
            let core = &cores[prefix_len % 3];
            assert!(
                encoded
                    .as_bytes()
                    .windows(core.len())
                    .any(|window| window == core),
                "alignment {prefix_len}"
            );
        }
    }
}
