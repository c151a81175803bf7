//! UTF-16 text as a decoded layer: a file saved as UTF-16 (Windows tools,
//! PowerShell, `iconv -t UTF-16`) puts a NUL byte next to every ASCII
//! character, so neither the credential-shape rules nor an exact held
//! secret match its bytes. The text is transcoded to UTF-8 (lossily: an
//! unpaired surrogate becomes U+FFFD) and scanned like any decoded layer,
//! with a map from every decoded byte to the code unit (or surrogate pair)
//! it came from, so a finding covers whole UTF-16 characters of the input.
//!
//! Detection is cheap, because the scanner's hot path is ordinary ASCII and
//! UTF-8 request bodies:
//! - a byte order mark (`FF FE` little-endian, `FE FF` big-endian) at the
//!   start of the input: the whole input is transcoded;
//! - otherwise, only if the input holds a NUL byte (one `memchr`), runs of
//!   at least [`MIN_UTF16_RUN`] code units whose high byte is NUL and low
//!   byte is not (ASCII and Latin-1 text), at either alignment. An 8-byte word every 24 bytes is tested for the
//!   alternating NUL pattern (a run that long always contains one such
//!   word); a hit is extended byte by byte. Runs of the same alignment at
//!   most [`UTF16_MERGE_GAP`] units apart are one region, the
//!   units between them (other scripts, symbols) transcoded too.
//!
//! Without a byte order mark the byte order cannot be told from ASCII
//! text (`a\0b\0c\0` is `\0b\0c` shifted by a byte), and a run's ends
//! depend on its neighbours, so the input is read as little-endian (the
//! common order: Windows, .NET, PowerShell) unless it starts with
//! [`MIN_UTF16_RUN`] units of a NUL then a non-NUL byte (a big-endian file
//! without a mark). Big-endian text
//! read as little-endian gives the same ASCII, with every span one byte
//! late (the secret's non-NUL bytes are still covered), and may lose the
//! last character of a run that a non-Latin character follows. The
//! transcoded bytes count against the decoding budget.

use crate::decode::{Budget, CharRun, DecodeKind, Decoded};

/// Shortest run of code units with a NUL high byte that is decoded as
/// UTF-16 when the input has no byte order mark.
pub const MIN_UTF16_RUN: usize = 16;

/// Most code units between two such runs for them to be transcoded as one
/// region.
pub const UTF16_MERGE_GAP: usize = 16;

/// Distance between the tested words: a run of `2 * MIN_UTF16_RUN` bytes
/// always holds a whole 8-byte word starting at a multiple of it.
const SAMPLE_STRIDE: usize = 2 * MIN_UTF16_RUN - 8;

const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
/// [`zero_bytes`] of a word whose odd bytes (little-endian load) are NUL
/// and even bytes are not.
const ODD_NULS: u64 = 0x8000_8000_8000_8000;
/// The same with the even bytes NUL.
const EVEN_NULS: u64 = 0x0080_0080_0080_0080;

/// `0x80` in every byte of `word` that is zero, `0` in the others (exact:
/// no carries between bytes).
fn zero_bytes(word: u64) -> u64 {
    !(((word & LOW7) + LOW7) | word | LOW7)
}

/// Transcode the UTF-16 text of `input` into `out`, within `budget`;
/// `false` once the budget is spent (the scanner then reports the input as
/// not read whole).
pub(crate) fn layers(input: &[u8], budget: &mut Budget, out: &mut Vec<Decoded>) -> bool {
    let big_endian = match input {
        [0xff, 0xfe, ..] => Some(false),
        [0xfe, 0xff, ..] => Some(true),
        _ => None,
    };
    if let Some(big_endian) = big_endian {
        return push(input, (2, input.len(), big_endian), budget, out);
    }
    if input.len() < 2 * MIN_UTF16_RUN || memchr::memchr(0, input).is_none() {
        return true;
    }
    // Big-endian text without a mark: the input starts with a run of
    // units that are NUL then non-NUL.
    let big_endian = input
        .chunks_exact(2)
        .take(MIN_UTF16_RUN)
        .all(|unit| unit[0] == 0 && unit[1] != 0);
    for (start, end) in regions(input, big_endian) {
        if !push(input, (start, end, big_endian), budget, out) {
            return false;
        }
    }
    true
}

/// Transcode `start..end` of `input` into `out` if the budget allows.
fn push(
    input: &[u8],
    (start, end, big_endian): (usize, usize, bool),
    budget: &mut Budget,
    out: &mut Vec<Decoded>,
) -> bool {
    if start >= end {
        return true;
    }
    // Every code unit makes at least one byte: refuse before transcoding
    // what cannot fit.
    if (end - start) / 2 > budget.left {
        budget.exhausted = true;
        return false;
    }
    let decoded = transcode(input, start, end, big_endian);
    if decoded.bytes.is_empty() {
        return true;
    }
    if !budget.take(decoded.bytes.len()) {
        return false;
    }
    out.push(decoded);
    true
}

/// Regions of UTF-16 text without a byte order mark, read in the given
/// order: `(start, end)`, an even number of bytes each, in input order.
fn regions(input: &[u8], big_endian: bool) -> Vec<(usize, usize)> {
    let mut regions: Vec<(usize, usize)> = Vec::new();
    let mut floor = 0;
    let mut position = 0;
    while let Some(window) = input.get(position..position + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(window);
        let nuls = match zero_bytes(u64::from_le_bytes(word)) {
            ODD_NULS => (position + 1) % 2,
            EVEN_NULS => position % 2,
            _ => {
                position += SAMPLE_STRIDE;
                continue;
            }
        };
        // The maximal run of bytes that are NUL exactly at parity `nuls`.
        let fits = |index: usize| (index % 2 == nuls) == (input[index] == 0);
        let mut start = position;
        while start > floor && fits(start - 1) {
            start -= 1;
        }
        let mut end = position + 8;
        while end < input.len() && fits(end) {
            end += 1;
        }
        floor = end;
        position = end.next_multiple_of(SAMPLE_STRIDE);
        // The first unit starts on a NUL (high) byte in big-endian, on a
        // non-NUL (low) one in little-endian.
        let first = start + usize::from((input[start] == 0) != big_endian);
        let units = (end - first) / 2;
        if units < MIN_UTF16_RUN {
            continue;
        }
        let last = first + 2 * units;
        match regions.last_mut() {
            Some(region)
                if region.1 % 2 == first % 2
                    && region.1 <= first
                    && first - region.1 <= 2 * UTF16_MERGE_GAP =>
            {
                region.1 = last;
            }
            _ => regions.push((first, last)),
        }
    }
    regions
}

/// `input[start..end]` read as UTF-16 and written as UTF-8; a trailing odd
/// byte and unpaired surrogates become U+FFFD.
fn transcode(input: &[u8], start: usize, end: usize, big_endian: bool) -> Decoded {
    let text = &input[start..end];
    let pairs = text.chunks_exact(2);
    let odd = !pairs.remainder().is_empty();
    let units = pairs.map(|pair| {
        let bytes = [pair[0], pair.get(1).copied().unwrap_or(0)];
        if big_endian {
            u16::from_be_bytes(bytes)
        } else {
            u16::from_le_bytes(bytes)
        }
    });
    let mut bytes = Vec::with_capacity(text.len() / 2 + 8);
    let mut runs: Vec<CharRun> = Vec::new();
    let mut at = start;
    let mut buffer = [0u8; 4];
    let mut add = |character: char, in_len: usize, bytes: &mut Vec<u8>, at: &mut usize| {
        let encoded = character.encode_utf8(&mut buffer).as_bytes();
        match runs.last() {
            Some(run) if run.out_len == encoded.len() && run.in_len == in_len => {}
            _ => runs.push(CharRun {
                decoded: bytes.len(),
                input: *at,
                out_len: encoded.len(),
                in_len,
            }),
        }
        bytes.extend_from_slice(encoded);
        *at += in_len;
    };
    for decoded in char::decode_utf16(units) {
        match decoded {
            Ok(character) => add(character, 2 * character.len_utf16(), &mut bytes, &mut at),
            Err(_) => add(char::REPLACEMENT_CHARACTER, 2, &mut bytes, &mut at),
        }
    }
    if odd {
        add(char::REPLACEMENT_CHARACTER, 1, &mut bytes, &mut at);
    }
    Decoded::with_char_runs(DecodeKind::Utf16, bytes, runs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::budget_for;

    fn le(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    fn be(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_be_bytes).collect()
    }

    fn layers_of(input: &[u8]) -> Vec<Decoded> {
        let mut budget = budget_for(input.len());
        let mut out = Vec::new();
        assert!(layers(input, &mut budget, &mut out));
        out
    }

    #[test]
    fn zero_bytes_is_exact() {
        assert_eq!(zero_bytes(0), 0x8080_8080_8080_8080);
        assert_eq!(zero_bytes(u64::MAX), 0);
        assert_eq!(zero_bytes(0x0041_0042_0043_0044), ODD_NULS);
        assert_eq!(zero_bytes(0x4100_4200_4300_4400), EVEN_NULS);
        assert_eq!(zero_bytes(0x0080_0001_0100_7f00), 0x8000_8000_0080_0080);
    }

    #[test]
    fn a_byte_order_mark_transcodes_the_whole_input() {
        let text = "key = Zoë ☃ 𝄞 end";
        for (bom, encoded) in [([0xff, 0xfe], le(text)), ([0xfe, 0xff], be(text))] {
            let input = [bom.as_slice(), &encoded].concat();
            let layers = layers_of(&input);
            assert_eq!(layers.len(), 1);
            assert_eq!(layers[0].bytes, text.as_bytes());
            // Every character maps to its own code units.
            for (index, character) in text.char_indices() {
                let units = text[..index].encode_utf16().count();
                let span = layers[0].input_span(index, index + character.len_utf8());
                assert_eq!(
                    span,
                    (2 + 2 * units, 2 + 2 * (units + character.len_utf16()))
                );
            }
        }
    }

    #[test]
    fn runs_without_a_bom_in_either_order_and_alignment() {
        let text = "aws_access_key_id = AKIAQWERTYUIOPASDFGY";
        // Big-endian without a mark is recognised at the input's start.
        for (lead, big) in [(0, false), (1, false), (2, false), (3, false), (0, true)] {
            {
                let mut input = vec![0xe5; lead];
                input.extend(if big { be(text) } else { le(text) });
                input.extend([0xf0, 0x9f, 0xe1, 0xe2]);
                let layers = layers_of(&input);
                assert_eq!(layers.len(), 1, "lead {lead} big {big}");
                let offset = layers[0].bytes.len() - text.len();
                assert_eq!(&layers[0].bytes[offset..], text.as_bytes());
                let end = layers[0].bytes.len();
                assert_eq!(layers[0].input_span(end - 4, end).1, lead + 2 * text.len());
            }
        }
    }

    #[test]
    fn short_runs_and_sparse_nuls_are_not_utf16() {
        // Fifteen units: too short.
        let mut input = vec![0xe5; 9];
        input.extend(le("ABCDEFGHIJKLMNO"));
        input.extend([0xe6; 9]);
        assert!(layers_of(&input).is_empty());
        // C strings, NUL-separated lists.
        assert!(layers_of(b"name\0value\0other\0usr/bin\0usr/lib\0etc\0passwd\0").is_empty());
        assert!(layers_of(&[0u8; 200]).is_empty());
    }

    #[test]
    fn nearby_runs_are_one_region() {
        let input = [
            le("first part of the text,"),
            le("дальше по-русски"),
            le(" then ASCII again at the end"),
        ]
        .concat();
        let layers = layers_of(&[b"\x01\x02\x03".as_slice(), &input].concat());
        assert_eq!(layers.len(), 1);
        assert_eq!(
            layers[0].bytes,
            "first part of the text,дальше по-русски then ASCII again at the end".as_bytes()
        );
    }

    #[test]
    fn surrogates_and_odd_lengths_are_lossy_not_fatal() {
        let mut input = vec![0xff, 0xfe];
        input.extend([0x3d, 0xd8, 0x41, 0x00, 0x00, 0xdc, 0x3d, 0xd8]);
        input.push(0x42);
        let layers = layers_of(&input);
        assert_eq!(
            layers[0].bytes,
            "\u{FFFD}A\u{FFFD}\u{FFFD}\u{FFFD}".as_bytes()
        );
        let len = layers[0].bytes.len();
        assert_eq!(
            layers[0].input_span(len - 3, len),
            (input.len() - 1, input.len())
        );
        assert_eq!(layers[0].input_span(0, len), (2, input.len()));
    }

    #[test]
    fn the_budget_is_spent_and_refused() {
        let input = [[0xff, 0xfe].as_slice(), &le(&"x".repeat(1000))].concat();
        let mut budget = budget_for(input.len());
        budget.left = 999;
        let mut out = Vec::new();
        assert!(!layers(&input, &mut budget, &mut out));
        assert!(budget.exhausted && out.is_empty());
        let mut budget = budget_for(input.len());
        budget.left = 1000;
        assert!(layers(&input, &mut budget, &mut out));
        assert_eq!((budget.left, out.len()), (0, 1));
    }

    proptest::proptest! {
        /// Any bytes: every decoded byte maps inside the input, the
        /// characters tile each region left to right, and the budget holds.
        #[test]
        fn spans_stay_in_the_input(
            input in proptest::collection::vec(
                proptest::sample::select(vec![0u8, 0, 0, b'a', b'Z', 0xd8, 0xdc, 0xff, 0xfe, 0x3d]),
                0..400,
            )
        ) {
            let mut budget = budget_for(input.len());
            let before = budget.left;
            let mut out = Vec::new();
            layers(&input, &mut budget, &mut out);
            let total: usize = out.iter().map(|layer| layer.bytes.len()).sum();
            proptest::prop_assert_eq!(before - budget.left, total);
            for layer in &out {
                let mut previous = None;
                for index in 0..layer.bytes.len() {
                    let (from, to) = layer.input_span(index, index + 1);
                    proptest::prop_assert!(from < to && to <= input.len());
                    if let Some((_, previous_end)) = previous
                        && previous != Some((from, to))
                    {
                        proptest::prop_assert_eq!(previous_end, from);
                    }
                    previous = Some((from, to));
                }
            }
        }
    }
}
