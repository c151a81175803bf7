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

/// A zstd window always accepted whatever the budget left: 8 MiB, what
/// `zstd -19` writes when it does not know the input's size (a pipe);
/// the default levels use 2 MiB at most. The decoder's window is memory
/// for the length of one decode, not output: the output stays within the
/// budget.
const ZSTD_WINDOW_FLOOR: u64 = 8 * 1024 * 1024;

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

/// Largest window log a zstd decoder supports at all (zstd's
/// `ZSTD_WINDOWLOG_MAX_64`): a frame declaring more is not one.
const ZSTD_WINDOW_LOG_LIMIT: u32 = 31;

/// Largest zstd block (`Block_Maximum_Size`).
const ZSTD_BLOCK_MAX: u32 = 128 * 1024;

/// Whether `frame` (starting with the zstd magic) begins like a real frame:
/// a window zstd can have at all, and a first block header that is not
/// the reserved type and not larger than a block may be. Random bytes after
/// an accidental magic pass about one time in forty.
fn zstd_frame_plausible(frame: &[u8]) -> bool {
    let Some(&descriptor) = frame.get(4) else {
        return false;
    };
    if descriptor & 0x08 != 0 {
        return false;
    }
    let single_segment = descriptor & 0x20 != 0;
    let mut at = 5;
    if !single_segment {
        let Some(&window) = frame.get(5) else {
            return false;
        };
        if 10 + u32::from(window >> 3) > ZSTD_WINDOW_LOG_LIMIT {
            return false;
        }
        at += 1;
    }
    at += [0usize, 1, 2, 4][usize::from(descriptor & 3)];
    at += match descriptor >> 6 {
        0 if single_segment => 1,
        0 => 0,
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let Some(header) = frame.get(at..at + 3) else {
        return false;
    };
    let header = u32::from(header[0]) | u32::from(header[1]) << 8 | u32::from(header[2]) << 16;
    let block_type = (header >> 1) & 3;
    block_type != 3 && header >> 3 <= ZSTD_BLOCK_MAX
}

/// What the header of a gzip member (at `member`, with its magic and
/// deflate method) says about inflating it.
#[derive(Debug, PartialEq, Eq)]
enum GzipHeader {
    /// Complete, and a first deflate block that is not the reserved type.
    Plausible,
    /// Not a member: a reserved flag, a field running past the input, the
    /// reserved block type. Nothing to inflate.
    Not,
    /// A file name or comment with no end within
    /// [`GZIP_HEADER_FIELD_MAX`] bytes while the input goes on: reading it
    /// is unbounded work per member, so the input is refused (a run of
    /// magic numbers with such flags took 14 s for 16 MB before).
    Unbounded,
}

fn gzip_header(member: &[u8]) -> GzipHeader {
    const FHCRC: u8 = 0x02;
    const FEXTRA: u8 = 0x04;
    const FNAME: u8 = 0x08;
    const FCOMMENT: u8 = 0x10;
    let Some(&flags) = member.get(3) else {
        return GzipHeader::Not;
    };
    if flags & 0xe0 != 0 {
        return GzipHeader::Not;
    }
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let Some(length) = member.get(at..at + 2) else {
            return GzipHeader::Not;
        };
        at += 2 + usize::from(u16::from_le_bytes([length[0], length[1]]));
    }
    for field in [FNAME, FCOMMENT] {
        if flags & field != 0 {
            let Some(rest) = member.get(at..) else {
                return GzipHeader::Not;
            };
            let window = &rest[..rest.len().min(GZIP_HEADER_FIELD_MAX)];
            match memchr::memchr(0, window) {
                Some(end) => at += end + 1,
                None if rest.len() > GZIP_HEADER_FIELD_MAX => return GzipHeader::Unbounded,
                None => return GzipHeader::Not,
            }
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    match member.get(at) {
        Some(&block) if (block >> 1) & 3 != 3 => GzipHeader::Plausible,
        _ => GzipHeader::Not,
    }
}

/// Longest gzip file name or comment looked through for its end before a
/// member counts as not one.
const GZIP_HEADER_FIELD_MAX: usize = 64 * 1024;

/// Bytes read from a decompressor at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Inflate the compressed data of `input` into `out`, within `budget`;
/// `false` once the budget is spent.
pub(crate) fn layers(input: &[u8], budget: &mut Budget, out: &mut Vec<Decoded>) -> bool {
    // One read buffer for every stream of this input, made at the first.
    let mut chunk = Vec::new();
    if input.len() >= 2 && is_zlib_header(input[0], input[1]) {
        let decoder = flate2::bufread::ZlibDecoder::new(input);
        if !inflate(input, 0, decoder, DecodeKind::Zlib, budget, &mut chunk, out) {
            return false;
        }
    }
    for offset in memmem::find_iter(input, GZIP_MAGIC) {
        match gzip_header(&input[offset..]) {
            GzipHeader::Plausible => {}
            GzipHeader::Not => continue,
            GzipHeader::Unbounded => {
                budget.exhausted = true;
                return false;
            }
        }
        let decoder = flate2::bufread::GzDecoder::new(&input[offset..]);
        if !inflate(
            input,
            offset,
            decoder,
            DecodeKind::Gzip,
            budget,
            &mut chunk,
            out,
        ) {
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
        // body, base64 of one) or begins like a real frame anywhere (a
        // `zstd -19` file in a multipart upload: an 8 MiB window), and
        // skipped when it does not: four bytes of binary (an image in a
        // pushed repo) match the magic by chance about once per 4 GiB of
        // positions, and what follows then declares a random window,
        // usually a huge one, and rarely a plausible first block.
        if window > zstd_window_allowed(budget) {
            if offset == 0 || zstd_frame_plausible(&input[offset..]) {
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
        if !inflate(
            input,
            offset,
            decoder,
            DecodeKind::Zstd,
            budget,
            &mut chunk,
            out,
        ) {
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
/// region. `chunk` is the read buffer (kept between calls). `false` once
/// the budget is spent.
fn inflate(
    input: &[u8],
    offset: usize,
    mut decoder: impl Consumed,
    kind: DecodeKind,
    budget: &mut Budget,
    chunk: &mut Vec<u8>,
    out: &mut Vec<Decoded>,
) -> bool {
    if !budget.take(DECOMPRESS_ATTEMPT_COST) {
        return false;
    }
    let mut bytes: Vec<u8> = Vec::new();
    let size = READ_CHUNK.min(budget.left.max(1));
    if chunk.len() < size {
        chunk.resize(size, 0);
    }
    let chunk = &mut chunk[..size];
    let mut over = false;
    loop {
        match decoder.read(chunk) {
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

    /// What `zstd -19` writes for a pipe: an 8 MiB window (log 23).
    fn zstd_19_pipe(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), 19).unwrap();
        encoder.include_contentsize(false).unwrap();
        encoder.window_log(23).unwrap();
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// An 8 MiB window, as `zstd -19` declares it for a pipe, is decoded
    /// wherever the frame is (it was refused at the start of the input and
    /// silently skipped elsewhere).
    #[test]
    fn a_zstd_19_frame_is_decoded_anywhere() {
        let frame = zstd_19_pipe(b"the token is tok-9fK2mQ7xLp4RvT8wZb3Nq6Hd, keep it");
        assert_eq!(zstd_window(&frame), Some(8 << 20));
        assert!(zstd_frame_plausible(&frame));
        let mut input = b"--boundary\r\nContent-Type: application/zstd\r\n\r\n".to_vec();
        input.extend_from_slice(&frame);
        for input in [&frame[..], &input[..]] {
            let mut budget = crate::decode::budget_for(input.len());
            let mut out = Vec::new();
            assert!(layers(input, &mut budget, &mut out));
            assert!(!budget.exhausted);
            assert!(
                out.iter().any(
                    |layer| memmem::find(&layer.bytes, b"tok-9fK2mQ7xLp4RvT8wZb3Nq6Hd").is_some()
                ),
                "{out:?}"
            );
        }
    }

    /// A frame beyond the floor that begins like a real one fails closed
    /// anywhere; one that cannot be a frame is skipped inside other data.
    #[test]
    fn an_oversized_plausible_zstd_frame_fails_closed_anywhere() {
        // Window log 27 (128 MiB), then a raw block of 5 bytes, last.
        let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 17 << 3];
        frame.extend_from_slice(&[(5 << 3) | 1, 0, 0]);
        frame.extend_from_slice(b"hello");
        assert!(zstd_frame_plausible(&frame));
        let mut input = vec![b'x'; 100];
        input.extend_from_slice(&frame);
        let mut budget = crate::decode::budget_for(input.len());
        assert!(!layers(&input, &mut budget, &mut Vec::new()));
        assert!(budget.exhausted);
        // The reserved block type: not a frame.
        let mut noise = input.clone();
        noise[100 + 6] = 0b110;
        let mut budget = crate::decode::budget_for(noise.len());
        assert!(layers(&noise, &mut budget, &mut Vec::new()));
        assert!(!budget.exhausted);
    }

    /// A run of gzip magic numbers: each one used to start a decoder that
    /// read its unterminated file name to the end of the input (a 16 MB
    /// run took 14 s before the budget ran out). Refused at the first.
    #[test]
    fn a_run_of_gzip_magic_numbers_is_refused_at_once() {
        let input = [0x1f, 0x8b, 0x08].repeat(100_000);
        let mut budget = crate::decode::budget_for(input.len());
        let left = budget.left;
        let mut out = Vec::new();
        assert!(!layers(&input, &mut budget, &mut out));
        assert!(budget.exhausted);
        assert_eq!(budget.left, left, "a decompressor was started");
    }

    #[test]
    fn gzip_headers_are_read_as_far_as_they_go() {
        let member = |flags: u8, rest: &[u8]| {
            let mut member = vec![0x1f, 0x8b, 0x08, flags, 0, 0, 0, 0, 0, 3];
            member.extend_from_slice(rest);
            member
        };
        // No flags, then a fixed-Huffman block (type 1).
        assert_eq!(gzip_header(&member(0, &[0b011])), GzipHeader::Plausible);
        // The reserved block type, a reserved flag, a header cut short.
        assert_eq!(gzip_header(&member(0, &[0b111])), GzipHeader::Not);
        assert_eq!(gzip_header(&member(0x20, &[0b011])), GzipHeader::Not);
        assert_eq!(gzip_header(&member(0, &[])), GzipHeader::Not);
        // A name, ended; one that never ends, in a short input and a long one.
        assert_eq!(
            gzip_header(&member(0x08, b"a.txt\0\x03")),
            GzipHeader::Plausible
        );
        assert_eq!(gzip_header(&member(0x08, b"a.txt")), GzipHeader::Not);
        let long = vec![b'a'; GZIP_HEADER_FIELD_MAX + 1];
        assert_eq!(gzip_header(&member(0x10, &long)), GzipHeader::Unbounded);
        // An extra field longer than the input.
        assert_eq!(
            gzip_header(&member(0x04, &[0xff, 0xff, 1])),
            GzipHeader::Not
        );
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
