//! Compressed data as a decoded layer: a gzip member (`1f 8b 08`) or a
//! zstd frame (`28 b5 2f fd`) at any offset, and a zlib stream at the start
//! of the input (`78` then a byte making the 16-bit header a multiple of
//! 31), are inflated and the output scanned like any decoded layer. The
//! common evasions are base64 of gzip (`H4sI…`), base64 of zlib (`eJ…`), a
//! bare gzip body and gzip of gzip.
//!
//! Inflating is bounded by the decoding budget: the output never grows past
//! what is left of it, so a decompression bomb spends the budget (and the
//! scan reports `decode-budget-exceeded`) instead of exhausting memory.
//! Every decoded byte maps to the whole compressed region (from the magic
//! to the end of what the decompressor consumed): a finding inside covers,
//! and redaction scrubs, all of it. A truncated or corrupt stream keeps the
//! output decoded before the error.

use std::io::Read;

use memchr::memmem;

use crate::decode::{Budget, DecodeKind, Decoded};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b, 0x08];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// Budget charged for every decompressor started, whatever it produces:
/// an input packed with magic numbers cannot start unbounded numbers of
/// them.
pub const DECOMPRESS_ATTEMPT_COST: usize = 1024;

/// Largest zstd window the decoder accepts (128 MiB, zstd's own default
/// limit); a frame's window must also fit [`zstd_window_allowed`].
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// A zstd window always accepted whatever the budget left (zstd's default
/// levels use windows up to 2 MiB).
const ZSTD_WINDOW_FLOOR: u64 = 2 * 1024 * 1024;

/// The largest zstd window a frame may declare: what is left of the budget
/// (at least [`ZSTD_WINDOW_FLOOR`], at most 2^[`ZSTD_WINDOW_LOG_MAX`]).
fn zstd_window_allowed(budget: &Budget) -> u64 {
    u64::try_from(budget.left)
        .unwrap_or(u64::MAX)
        .clamp(ZSTD_WINDOW_FLOOR, 1 << ZSTD_WINDOW_LOG_MAX)
}

/// The window size a zstd frame (starting with its magic) declares, from
/// its frame header: the window descriptor, or the content size of a
/// single-segment frame. `None` if the header is cut short or reserved.
fn zstd_window(frame: &[u8]) -> Option<u64> {
    let descriptor = *frame.get(4)?;
    if descriptor & 0x08 != 0 {
        return None;
    }
    let single_segment = descriptor & 0x20 != 0;
    if !single_segment {
        let window = *frame.get(5)?;
        let log = 10 + u32::from(window >> 3);
        let base = 1u64.checked_shl(log)?;
        return Some(base + (base / 8) * u64::from(window & 7));
    }
    let dictionary_bytes = [0usize, 1, 2, 4][usize::from(descriptor & 3)];
    let at = 5 + dictionary_bytes;
    let size_bytes = [1usize, 2, 4, 8][usize::from(descriptor >> 6)];
    let field = frame.get(at..at + size_bytes)?;
    let value = field
        .iter()
        .rev()
        .fold(0u64, |value, &byte| (value << 8) | u64::from(byte));
    Some(if size_bytes == 2 { value + 256 } else { value })
}

/// Bytes read from a decompressor at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Inflate the compressed data of `input` into `out`, within `budget`;
/// `false` once the budget is spent.
pub(crate) fn layers(input: &[u8], budget: &mut Budget, out: &mut Vec<Decoded>) -> bool {
    if input.len() >= 2 && is_zlib_header(input[0], input[1]) {
        let decoder = flate2::bufread::ZlibDecoder::new(input);
        if !inflate(input, 0, decoder, DecodeKind::Zlib, budget, out) {
            return false;
        }
    }
    for offset in memmem::find_iter(input, GZIP_MAGIC) {
        let decoder = flate2::bufread::GzDecoder::new(&input[offset..]);
        if !inflate(input, offset, decoder, DecodeKind::Gzip, budget, out) {
            return false;
        }
    }
    for offset in memmem::find_iter(input, ZSTD_MAGIC) {
        let Some(window) = zstd_window(&input[offset..]) else {
            continue;
        };
        // The decoder allocates the frame's window: one larger than the
        // budget allows (a frame may declare gigabytes) is refused like
        // output past the budget when the frame starts the input (a zstd
        // body, base64 of one), and skipped inside other data: four bytes
        // of binary (an image in a pushed repo) match the magic by chance
        // about once per 4 GiB of positions, and what follows then
        // declares a random window, usually a huge one.
        if window > zstd_window_allowed(budget) {
            if offset == 0 {
                budget.exhausted = true;
                return false;
            }
            continue;
        }
        let Ok(mut decoder) = zstd::stream::read::Decoder::with_buffer(&input[offset..]) else {
            continue;
        };
        if decoder.window_log_max(ZSTD_WINDOW_LOG_MAX).is_err() {
            continue;
        }
        if !inflate(input, offset, decoder, DecodeKind::Zstd, budget, out) {
            return false;
        }
    }
    true
}

/// The 16-bit zlib header check: deflate (`CM` = 8) with a 32 KiB window
/// (`0x78`), no preset dictionary, and `CMF·256 + FLG` a multiple of 31.
fn is_zlib_header(cmf: u8, flg: u8) -> bool {
    cmf == 0x78 && flg & 0x20 == 0 && (u16::from(cmf) * 256 + u16::from(flg)) % 31 == 0
}

/// A decompressor over a slice that can say how much of it was consumed.
trait Consumed: Read {
    fn remaining(&self) -> usize;
}

impl Consumed for flate2::bufread::GzDecoder<&[u8]> {
    fn remaining(&self) -> usize {
        self.get_ref().len()
    }
}

impl Consumed for flate2::bufread::ZlibDecoder<&[u8]> {
    fn remaining(&self) -> usize {
        self.get_ref().len()
    }
}

impl Consumed for zstd::stream::read::Decoder<'_, &[u8]> {
    fn remaining(&self) -> usize {
        self.get_ref().len()
    }
}

/// Read `decoder` (started at `input[offset..]`) to its end or to the
/// budget, and push what it produced as a layer mapped to the compressed
/// region. `false` once the budget is spent.
fn inflate(
    input: &[u8],
    offset: usize,
    mut decoder: impl Consumed,
    kind: DecodeKind,
    budget: &mut Budget,
    out: &mut Vec<Decoded>,
) -> bool {
    if !budget.take(DECOMPRESS_ATTEMPT_COST) {
        return false;
    }
    let mut bytes: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK.min(budget.left.max(1))];
    let mut over = false;
    loop {
        match decoder.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(read) => {
                if bytes.len() + read > budget.left {
                    over = true;
                    break;
                }
                if bytes.capacity() < bytes.len() + read {
                    // Grow by doubling, but never past the budget.
                    let want = (bytes.len() * 2).max(bytes.len() + read).min(budget.left);
                    bytes.reserve_exact(want - bytes.len());
                }
                bytes.extend_from_slice(&chunk[..read]);
            }
        }
    }
    let end = input.len() - decoder.remaining().min(input.len() - offset);
    drop(decoder);
    if over {
        budget.exhausted = true;
        return false;
    }
    if bytes.is_empty() {
        return true;
    }
    if !budget.take(bytes.len()) {
        return false;
    }
    out.push(Decoded::whole(kind, bytes, (offset, end.max(offset + 1))));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zlib_headers_are_the_standard_ones() {
        for flg in [0x01, 0x5e, 0x9c, 0xda] {
            assert!(is_zlib_header(0x78, flg), "{flg:#x}");
        }
        assert!(!is_zlib_header(0x78, 0x9d));
        assert!(!is_zlib_header(0x79, 0x9c));
        // A preset dictionary cannot be inflated without it.
        assert!(!is_zlib_header(0x78, 0xbb));
    }

    #[test]
    fn zstd_windows_are_read_from_the_frame_header() {
        // Window descriptor: exponent 11 (2 MiB), mantissa 0.
        assert_eq!(
            zstd_window(&[0x28, 0xb5, 0x2f, 0xfd, 0x00, 11 << 3]),
            Some(2 << 20)
        );
        // Mantissa 4: 1.5 times the base.
        assert_eq!(
            zstd_window(&[0x28, 0xb5, 0x2f, 0xfd, 0x00, (1 << 3) | 4]),
            Some(3 << 10)
        );
        // Single segment, 4-byte content size: the content size (1 GiB).
        assert_eq!(
            zstd_window(&[0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0, 0, 0, 0x40]),
            Some(1 << 30)
        );
        // Single segment, 2-byte content size: plus 256.
        assert_eq!(
            zstd_window(&[0x28, 0xb5, 0x2f, 0xfd, 0x60, 0x00, 0x01]),
            Some(512)
        );
        // Cut short, or the reserved bit set.
        assert_eq!(zstd_window(&[0x28, 0xb5, 0x2f, 0xfd]), None);
        assert_eq!(zstd_window(&[0x28, 0xb5, 0x2f, 0xfd, 0x08, 0x00]), None);
    }

    /// A frame declaring a window larger than the budget allows is
    /// refused as over the budget, not skipped.
    #[test]
    fn an_oversized_zstd_window_spends_the_budget() {
        let mut input = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 17 << 3];
        input.extend_from_slice(&[0u8; 32]);
        let mut budget = crate::decode::budget_for(input.len());
        let mut out = Vec::new();
        assert!(!layers(&input, &mut budget, &mut out));
        assert!(budget.exhausted);
        assert!(out.is_empty());
    }
}
