//! The DLP engine's inner loops with AVX2 and AVX-512, chosen at run time
//! (`is_x86_feature_detected!`), each with the portable code as the
//! fallback and as its reference:
//!
//! - the held-secret projection, 64 input bytes per step: the letter, digit
//!   and backslash masks and the lower-cased bytes from vector compares,
//!   JSON escapes resolved on the 64-bit backslash mask with simdjson's
//!   odd-run carry arithmetic, the kept bytes compacted with `vpcompressb`
//!   (AVX-512 VBMI2) or one `pshufb` per 8-byte word (AVX2);
//! - the held-secret probe's filter test, eight grams per step with gathers
//!   (AVX-512 DQ);
//! - the rule keywords' head prefilter, 64 positions per step with byte
//!   tables (AVX-512 VBMI);
//! - the decoding passes' escape finder and long-blob-run finder, and
//!   the character-code layers' triggers (code lists, EBCDIC runs).
//!
//! The only `unsafe` code of the workspace: every block is a load or store
//! whose bounds are a slice's, or a call to a `#[target_feature]` function
//! after checking the CPU has the features. Tests compare every path this
//! CPU can run with the portable code or a byte-at-a-time reference
//! (`known.rs`, `patterns.rs`, `decode.rs` and the tests below).
#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{
    __m256i, __m512i, _mm_cvtsi64_si128, _mm_cvtsi128_si64, _mm_shuffle_epi8, _mm256_and_si256,
    _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_min_epu8, _mm256_movemask_epi8, _mm256_or_si256,
    _mm256_set1_epi8, _mm256_shuffle_epi8, _mm256_srli_epi16, _mm256_storeu_si256, _mm256_sub_epi8,
    _mm512_add_epi64, _mm512_and_si512, _mm512_cmpeq_epi8_mask, _mm512_cmple_epu8_mask,
    _mm512_i64gather_epi64, _mm512_loadu_si512, _mm512_mask_blend_epi8, _mm512_mask_storeu_epi8,
    _mm512_maskz_compress_epi8, _mm512_mullo_epi64, _mm512_or_si512, _mm512_permutex2var_epi8,
    _mm512_set_epi64, _mm512_set1_epi8, _mm512_set1_epi64, _mm512_shuffle_epi8, _mm512_srli_epi16,
    _mm512_srli_epi64, _mm512_srlv_epi64, _mm512_sub_epi8, _mm512_test_epi8_mask,
    _mm512_test_epi64_mask,
};

use std::sync::atomic::{AtomicU8, Ordering};

#[cfg(target_arch = "x86_64")]
use crate::known::Checkpoints;
#[cfg(target_arch = "x86_64")]
use crate::known::{COMPACT, ESCAPE_CONSUMES, project_blocks};

/// The vector instructions the engine may use, widest last. It picks the
/// widest its CPU has, up to the limit set by [`limit_vector_paths`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum VectorPaths {
    /// The portable code only.
    Portable,
    /// Up to AVX2.
    Avx2,
    /// Up to AVX-512 (the default).
    Avx512,
}

/// The process-wide limit, as `VectorPaths as u8`.
static LIMIT: AtomicU8 = AtomicU8::new(VectorPaths::Avx512 as u8);

/// Limit the vector instructions every scanner of this process may use
/// from now on: for benchmarks that measure what a CPU without AVX-512 (or
/// without AVX2) would run, and for ruling the vector code out when
/// diagnosing. The results are the same on every path; only speed differs.
pub fn limit_vector_paths(paths: VectorPaths) {
    LIMIT.store(paths as u8, Ordering::Relaxed);
}

/// Whether the limit allows `paths`.
#[inline]
fn allows(paths: VectorPaths) -> bool {
    LIMIT.load(Ordering::Relaxed) >= paths as u8
}

/// The widest path the byte-mask loops (escape starts, blob and token runs)
/// may take: AVX-512 BW or AVX2, each with POPCNT and BMI1, within the
/// limit; `Portable` when neither.
#[inline]
fn mask_paths() -> VectorPaths {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("popcnt") && has!("bmi1") {
            if allows(VectorPaths::Avx512) && has!("avx512bw") {
                return VectorPaths::Avx512;
            }
            if allows(VectorPaths::Avx2) && has!("avx2") {
                return VectorPaths::Avx2;
            }
        }
    }
    VectorPaths::Portable
}

/// Bytes per vector step.
#[cfg(target_arch = "x86_64")]
const BLOCK: usize = 64;

/// Project `input` into `bytes` as `known::project_into` does (same
/// contract, same result), or `None` when this CPU has no AVX2.
pub(crate) fn project_into(input: &[u8], bytes: &mut Vec<u8>) -> Option<(usize, Checkpoints)> {
    #[cfg(target_arch = "x86_64")]
    {
        // Each check is a load after the first (the standard library
        // caches the CPU's features).
        use std::arch::is_x86_feature_detected as has;
        if has!("popcnt") && has!("bmi1") {
            if allows(VectorPaths::Avx512) && has!("avx512bw") && has!("avx512vbmi2") {
                // SAFETY: the CPU has every feature the function enables.
                return Some(unsafe { project_into_avx512(input, bytes) });
            }
            if allows(VectorPaths::Avx2) && has!("avx2") {
                // SAFETY: as above.
                return Some(unsafe { project_into_avx2(input, bytes) });
            }
        }
    }
    let _ = (input, bytes);
    None
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1")]
fn project_into_avx2(input: &[u8], bytes: &mut Vec<u8>) -> (usize, Checkpoints) {
    project_blocks::<BLOCK>(input, bytes, |block, out, escape| {
        project_block(block, out, escape)
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw,avx512vbmi2,popcnt,bmi1")]
fn project_into_avx512(input: &[u8], bytes: &mut Vec<u8>) -> (usize, Checkpoints) {
    project_blocks::<BLOCK>(input, bytes, |block, out, escape| {
        project_block_avx512(block, out, escape)
    })
}

/// [`project_block`] with AVX-512: one load, three mask compares, one
/// compress and one masked store of exactly the kept bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw,avx512vbmi2,popcnt,bmi1")]
#[inline]
fn project_block_avx512(block: &[u8; BLOCK], out: &mut [u8], escape: &mut bool) -> usize {
    // SAFETY: the unaligned 64-byte load reads exactly `block`.
    let bytes = unsafe { _mm512_loadu_si512(block.as_ptr().cast::<__m512i>()) };
    let splat = |byte: u8| _mm512_set1_epi8(byte as i8);
    let folded = _mm512_or_si512(bytes, splat(0x20));
    let letters = _mm512_cmple_epu8_mask(_mm512_sub_epi8(folded, splat(b'a')), splat(25));
    let digits = _mm512_cmple_epu8_mask(_mm512_sub_epi8(bytes, splat(b'0')), splat(9));
    let backslashes = _mm512_cmpeq_epi8_mask(bytes, splat(b'\\'));
    let lower = _mm512_mask_blend_epi8(letters, bytes, folded);
    let kept = letters | digits;
    let kept = kept & !escaped_drops(block, kept, backslashes, escape);
    let count = kept.count_ones() as usize;
    let compressed = _mm512_maskz_compress_epi8(kept, lower);
    let target = &mut out[..count];
    // SAFETY: the masked store writes the low `count` bytes only (a mask
    // of `count` low bits; masked-off bytes are neither written nor
    // faulted), and `target` holds exactly `count` bytes.
    unsafe {
        _mm512_mask_storeu_epi8(
            target.as_mut_ptr().cast::<i8>(),
            low_bits(count),
            compressed,
        );
    }
    count
}

/// A mask of the `count` low bits (`count <= 64`).
#[cfg(target_arch = "x86_64")]
#[inline]
fn low_bits(count: usize) -> u64 {
    if count >= 64 {
        u64::MAX
    } else {
        (1u64 << count) - 1
    }
}

/// Project one 64-byte block into `out` (its first bytes receive the kept
/// bytes; up to 8 bytes past them are scratch, so `out` must be at least as
/// long as the block's last word reaches). `escape` is the pending-backslash
/// state before the block, updated to the state after it. Returns the
/// number of bytes kept.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1")]
#[inline]
fn project_block(block: &[u8; BLOCK], out: &mut [u8], escape: &mut bool) -> usize {
    let mut lowered = [0u8; BLOCK];
    let mut kept = 0u64;
    let mut backslashes = 0u64;
    for half in 0..2 {
        // SAFETY: `32 * half + 32 <= 64`: the unaligned load reads inside
        // `block`.
        let vector = unsafe { _mm256_loadu_si256(block.as_ptr().add(32 * half).cast::<__m256i>()) };
        let (lower, letters_or_digits, slashes) = classify_half(vector);
        // SAFETY: the unaligned store writes inside `lowered`, as above.
        unsafe {
            _mm256_storeu_si256(lowered.as_mut_ptr().add(32 * half).cast::<__m256i>(), lower);
        }
        kept |= u64::from(letters_or_digits) << (32 * half);
        backslashes |= u64::from(slashes) << (32 * half);
    }
    let kept = kept & !escaped_drops(block, kept, backslashes, escape);
    let mut written = 0usize;
    for word in 0..BLOCK / 8 {
        let mask = ((kept >> (8 * word)) & 0xFF) as usize;
        let mut eight = [0u8; 8];
        eight.copy_from_slice(&lowered[8 * word..8 * word + 8]);
        let gathered = gather(u64::from_le_bytes(eight), COMPACT[mask]);
        out[written..written + 8].copy_from_slice(&gathered.to_le_bytes());
        written += mask.count_ones() as usize;
    }
    written
}

/// The bits of letters and digits that an escaping backslash drops, from
/// the backslash mask: the byte after an odd run of backslashes is escaped,
/// and so is byte 0 when the previous block ended escaping. Updates
/// `escape` to the state after the block.
#[cfg(target_arch = "x86_64")]
#[inline]
fn escaped_drops(block: &[u8; BLOCK], kept: u64, backslashes: u64, escape: &mut bool) -> u64 {
    if backslashes == 0 && !*escape {
        return 0;
    }
    // The escaped bytes, without a loop (the odd-backslash-run carry
    // arithmetic of simdjson, Langdale and Lemire 2019): adding a run's
    // first bit to the mask carries through the run to the byte after it,
    // which is escaped when the run is odd, that is when it started at an
    // even position and ended at an odd one or the reverse. A run left odd
    // at the end of the previous block flips the parity of a run that
    // continues it at bit 0, and escapes bit 0 itself.
    const EVEN: u64 = 0x5555_5555_5555_5555;
    let carried = u64::from(*escape);
    let starts = backslashes & !(backslashes << 1);
    let even_start_mask = EVEN ^ carried;
    let even_starts = starts & even_start_mask;
    let odd_starts = starts & !even_start_mask;
    let even_carries = backslashes.wrapping_add(even_starts);
    let (odd_carries, ends_odd) = backslashes.overflowing_add(odd_starts);
    let odd_carries = odd_carries | carried;
    *escape = ends_odd;
    let escaped = (even_carries & !backslashes & !EVEN) | (odd_carries & !backslashes & EVEN);
    let mut candidates = escaped & kept;
    let mut drops = 0u64;
    while candidates != 0 {
        let index = candidates.trailing_zeros();
        if ESCAPE_CONSUMES[usize::from(block[index as usize])] {
            drops |= 1 << index;
        }
        candidates &= candidates - 1;
    }
    drops
}

/// `byte` in all 32 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1")]
#[inline]
fn splat(byte: u8) -> __m256i {
    _mm256_set1_epi8(byte as i8)
}

/// `0xFF` in every lane whose unsigned byte is at most `limit`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1")]
#[inline]
fn at_most(bytes: __m256i, limit: u8) -> __m256i {
    _mm256_cmpeq_epi8(_mm256_min_epu8(bytes, splat(limit)), bytes)
}

/// One 32-byte half: (lower-cased bytes, letter-or-digit bits, backslash
/// bits; bit `i` for byte `i`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1")]
#[inline]
fn classify_half(bytes: __m256i) -> (__m256i, u32, u32) {
    // Setting bit 5 folds a letter to lower case; only letters land in
    // `a..=z` after it.
    let folded = _mm256_or_si256(bytes, splat(0x20));
    let letters = at_most(_mm256_sub_epi8(folded, splat(b'a')), 25);
    let digits = at_most(_mm256_sub_epi8(bytes, splat(b'0')), 9);
    let lower = _mm256_or_si256(bytes, _mm256_and_si256(letters, splat(0x20)));
    let kept = _mm256_movemask_epi8(_mm256_or_si256(letters, digits)) as u32;
    let slashes = _mm256_movemask_epi8(_mm256_cmpeq_epi8(bytes, splat(b'\\'))) as u32;
    (lower, kept, slashes)
}

/// The bytes of `word` picked by the indices `order`, in that order (one
/// `pshufb`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1")]
#[inline]
fn gather(word: u64, order: [u8; 8]) -> u64 {
    let shuffled = _mm_shuffle_epi8(
        _mm_cvtsi64_si128(word as i64),
        _mm_cvtsi64_si128(u64::from_le_bytes(order) as i64),
    );
    _mm_cvtsi128_si64(shuffled) as u64
}

/// Every vector path this CPU can run, by name, on `input`: the projected
/// bytes and the checkpoints (so tests compare each path with the
/// reference, not only the one [`project_into`] picks).
#[cfg(test)]
pub(crate) fn every_path(input: &[u8]) -> Vec<(&'static str, (Vec<u8>, Checkpoints))> {
    let mut results = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let finish = |mut bytes: Vec<u8>, (written, checkpoints): (usize, Vec<_>)| {
            bytes.truncate(written);
            (bytes, checkpoints)
        };
        if has!("popcnt") && has!("bmi1") && has!("avx2") {
            let mut bytes = Vec::new();
            // SAFETY: the CPU has every feature the function enables.
            let projected = unsafe { project_into_avx2(input, &mut bytes) };
            results.push(("avx2", finish(bytes, projected)));
        }
        if has!("popcnt") && has!("bmi1") && has!("avx512bw") && has!("avx512vbmi2") {
            let mut bytes = Vec::new();
            // SAFETY: as above.
            let projected = unsafe { project_into_avx512(input, &mut bytes) };
            results.push(("avx512", finish(bytes, projected)));
        }
    }
    let _ = input;
    results
}

/// Calls `found(byte, offset)`, in order, for `%`, `\` and `&` bytes of
/// `input` that may start a percent, JSON or HTML escape: at least every
/// `%` before two hex digits, `\` before `u`, `x` or `/`, and `&` before
/// `#`, and perhaps other `%`, `\` and `&` bytes (the caller checks each).
/// With AVX-512, 64 bytes per step and only those (backslashes are dense in
/// JSON-escaped code, and most start `\n` or `\"`); with AVX2, every `%`,
/// `\` and `&`, 32 bytes per step (where `memchr` restarts per match cost
/// more than the search); else one `memchr3` pass.
pub(crate) fn each_escape_start(input: &[u8], mut found: impl FnMut(u8, usize)) {
    // SAFETY (each call): `mask_paths` checked that the CPU has every
    // feature the function enables.
    #[cfg(target_arch = "x86_64")]
    match mask_paths() {
        VectorPaths::Avx512 => return unsafe { each_escape_start_avx512(input, &mut found) },
        VectorPaths::Avx2 => return unsafe { each_escape_start_avx2(input, &mut found) },
        VectorPaths::Portable => {}
    }
    for offset in memchr::memchr3_iter(b'%', b'\\', b'&', input) {
        found(input[offset], offset);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw,popcnt,bmi1")]
fn each_escape_start_avx512(input: &[u8], found: &mut impl FnMut(u8, usize)) {
    let splat = |byte: u8| _mm512_set1_epi8(byte as i8);
    let load = |offset: usize| {
        let window = &input[offset..offset + 64];
        // SAFETY: the unaligned 64-byte load reads exactly `window`.
        unsafe { _mm512_loadu_si512(window.as_ptr().cast::<__m512i>()) }
    };
    let hex = |bytes: __m512i| {
        let folded = _mm512_or_si512(bytes, splat(0x20));
        _mm512_cmple_epu8_mask(_mm512_sub_epi8(bytes, splat(b'0')), splat(9))
            | _mm512_cmple_epu8_mask(_mm512_sub_epi8(folded, splat(b'a')), splat(5))
    };
    let mut base = 0usize;
    // Each step reads the two bytes after its last position too.
    while base + 66 <= input.len() {
        let (here, next, after) = (load(base), load(base + 1), load(base + 2));
        let percent = _mm512_cmpeq_epi8_mask(here, splat(b'%')) & hex(next) & hex(after);
        let json = _mm512_cmpeq_epi8_mask(here, splat(b'\\'))
            & (_mm512_cmpeq_epi8_mask(next, splat(b'u'))
                | _mm512_cmpeq_epi8_mask(next, splat(b'x'))
                | _mm512_cmpeq_epi8_mask(next, splat(b'/'))
                | _mm512_cmple_epu8_mask(_mm512_sub_epi8(next, splat(b'0')), splat(7)));
        let html =
            _mm512_cmpeq_epi8_mask(here, splat(b'&')) & _mm512_cmpeq_epi8_mask(next, splat(b'#'));
        let mut mask = percent | json | html;
        while mask != 0 {
            let index = base + mask.trailing_zeros() as usize;
            found(input[index], index);
            mask &= mask - 1;
        }
        base += 64;
    }
    for (index, &byte) in input.iter().enumerate().skip(base) {
        if matches!(byte, b'%' | b'\\' | b'&') {
            found(byte, index);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1")]
fn each_escape_start_avx2(input: &[u8], found: &mut impl FnMut(u8, usize)) {
    let mut chunks = input.chunks_exact(32);
    let mut base = 0usize;
    for chunk in &mut chunks {
        // SAFETY: the unaligned 32-byte load reads exactly `chunk`.
        let bytes = unsafe { _mm256_loadu_si256(chunk.as_ptr().cast::<__m256i>()) };
        let hits = _mm256_or_si256(
            _mm256_or_si256(
                _mm256_cmpeq_epi8(bytes, splat(b'%')),
                _mm256_cmpeq_epi8(bytes, splat(b'\\')),
            ),
            _mm256_cmpeq_epi8(bytes, splat(b'&')),
        );
        let mut mask = _mm256_movemask_epi8(hits) as u32;
        while mask != 0 {
            let index = mask.trailing_zeros() as usize;
            found(chunk[index], base + index);
            mask &= mask - 1;
        }
        base += 32;
    }
    for (index, &byte) in chunks.remainder().iter().enumerate() {
        if matches!(byte, b'%' | b'\\' | b'&') {
            found(byte, base + index);
        }
    }
}

/// The held-secret probe's filter test, eight probes per step with AVX-512
/// gathers: for `index` = 0, `stride`, 2 `stride`, … while the 8-byte gram
/// at `index` fits in `projected`, calls `passed(index)` (in order) when the
/// gram's bit is set in `filter`, the bit being the top `64 - shift` bits of
/// `gram * multiplier` (as `known.rs` computes it). Returns the first index
/// not probed (0 without AVX-512 DQ, or under a lower limit); the caller
/// probes on from there. `filter` must hold `2^(64 - shift) / 64` words.
pub(crate) fn probe_filter(
    projected: &[u8],
    stride: usize,
    filter: &[u64],
    multiplier: u64,
    shift: u32,
    mut passed: impl FnMut(usize),
) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let words = 1usize.checked_shl(64 - shift).map_or(0, |bits| bits / 64);
        if allows(VectorPaths::Avx512)
            && has!("avx512f")
            && has!("avx512dq")
            && filter.len() == words
            && words > 0
            && stride > 0
        {
            // SAFETY: the CPU has every feature the function enables; the
            // filter's length is checked above (the gathers rely on it).
            return unsafe {
                probe_filter_avx512(projected, stride, filter, multiplier, shift, &mut passed)
            };
        }
    }
    let _ = (projected, stride, filter, multiplier, shift, &mut passed);
    0
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,bmi1")]
fn probe_filter_avx512(
    projected: &[u8],
    stride: usize,
    filter: &[u64],
    multiplier: u64,
    shift: u32,
    passed: &mut impl FnMut(usize),
) -> usize {
    let step = stride * 8;
    let lanes = _mm512_mullo_epi64(
        _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0),
        _mm512_set1_epi64(stride as i64),
    );
    let multiplier = _mm512_set1_epi64(multiplier as i64);
    let shift = _mm512_set1_epi64(i64::from(shift));
    let low_six = _mm512_set1_epi64(63);
    let one = _mm512_set1_epi64(1);
    let mut index = 0usize;
    // The last lane's gram is bytes `index + 7 stride .. + 8`.
    while index + 7 * stride + 8 <= projected.len() {
        let offsets = _mm512_add_epi64(_mm512_set1_epi64(index as i64), lanes);
        // SAFETY: every lane's 8-byte read, at `index + lane * stride` for
        // lane 0..8, ends at or before `index + 7 stride + 8`, which the
        // loop condition keeps within `projected`.
        let grams =
            unsafe { _mm512_i64gather_epi64::<1>(offsets, projected.as_ptr().cast::<i64>()) };
        let slots = _mm512_srlv_epi64(_mm512_mullo_epi64(grams, multiplier), shift);
        let word_indices = _mm512_srli_epi64::<6>(slots);
        // SAFETY: a slot is below `2^(64 - shift)`, so its word index is
        // below `filter.len()` (checked by the caller to be that size / 64).
        let words =
            unsafe { _mm512_i64gather_epi64::<8>(word_indices, filter.as_ptr().cast::<i64>()) };
        let bits = _mm512_srlv_epi64(words, _mm512_and_si512(slots, low_six));
        let mut hits = _mm512_test_epi64_mask(bits, one);
        while hits != 0 {
            passed(index + hits.trailing_zeros() as usize * stride);
            hits &= hits - 1;
        }
        index += step;
    }
    index
}

/// Bit `i` set where byte `i` of `window` (32 bytes) is blob alphabet.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1")]
#[inline]
fn blob_mask(window: &[u8]) -> u32 {
    let window = &window[..32];
    // SAFETY: the unaligned 32-byte load reads exactly `window`.
    let bytes = unsafe { _mm256_loadu_si256(window.as_ptr().cast::<__m256i>()) };
    let folded = _mm256_or_si256(bytes, splat(0x20));
    let letters = at_most(_mm256_sub_epi8(folded, splat(b'a')), 25);
    let digits = at_most(_mm256_sub_epi8(bytes, splat(b'0')), 9);
    let specials = _mm256_or_si256(
        _mm256_or_si256(
            _mm256_cmpeq_epi8(bytes, splat(b'+')),
            _mm256_cmpeq_epi8(bytes, splat(b'/')),
        ),
        _mm256_or_si256(
            _mm256_cmpeq_epi8(bytes, splat(b'-')),
            _mm256_cmpeq_epi8(bytes, splat(b'_')),
        ),
    );
    let blob = _mm256_or_si256(_mm256_or_si256(letters, digits), specials);
    _mm256_movemask_epi8(blob) as u32
}

/// Calls `run(start, end)`, in order, for every maximal run of at least 24
/// blob-alphabet bytes ([`crate::decode::is_blob_byte`]) in `input`, until
/// `run` returns `false`. Returns `false` without AVX2, or under a portable
/// limit (nothing was called; the caller finds the runs itself).
///
/// 64 bytes per step: the blob masks of this block and the next, ANDed with
/// themselves shifted (1, 2, 4, 8, then 8 more), leave a bit where 24 blob
/// bytes begin; most blocks of text have none, and the first one found is
/// extended to its run's bounds, the scan resuming past the run.
pub(crate) fn long_blob_runs(input: &[u8], mut run: impl FnMut(usize, usize) -> bool) -> bool {
    // SAFETY (each call): `mask_paths` checked that the CPU has every
    // feature the function enables.
    #[cfg(target_arch = "x86_64")]
    match mask_paths() {
        VectorPaths::Avx512 => unsafe { long_blob_runs_avx512(input, &mut run) },
        VectorPaths::Avx2 => unsafe { long_blob_runs_avx2(input, &mut run) },
        VectorPaths::Portable => return false,
    }
    let _ = (input, &mut run);
    // A vector path ran; there is none off x86_64.
    cfg!(target_arch = "x86_64")
}

/// The run length [`long_blob_runs`] reports from.
pub(crate) const LONG_BLOB_RUN: usize = 24;

/// Bit `i` set where byte `offset + i` of `input` is blob alphabet, for the
/// 64 bytes from `offset` (bytes past the end count as not blob).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1")]
#[inline]
fn blob_mask64(input: &[u8], offset: usize) -> u64 {
    if offset + 64 <= input.len() {
        let low = u64::from(blob_mask(&input[offset..offset + 32]));
        let high = u64::from(blob_mask(&input[offset + 32..offset + 64]));
        return low | (high << 32);
    }
    mask_tail(input, offset, crate::decode::is_blob_byte)
}

/// Bit `i` set where byte `offset + i` of `input` is a `member`, for the up
/// to 64 bytes from `offset`, a byte at a time: the last block of the input
/// for the vector masks.
fn mask_tail(input: &[u8], offset: usize, member: impl Fn(u8) -> bool) -> u64 {
    let mut mask = 0u64;
    for (index, &byte) in input.iter().skip(offset).take(64).enumerate() {
        if member(byte) {
            mask |= 1 << index;
        }
    }
    mask
}

/// [`blob_mask64`] with one 64-byte load and mask compares.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw,popcnt,bmi1")]
#[inline]
fn blob_mask64_avx512(input: &[u8], offset: usize) -> u64 {
    let Some(window) = input.get(offset..offset + 64) else {
        return mask_tail(input, offset, crate::decode::is_blob_byte);
    };
    // SAFETY: the unaligned 64-byte load reads exactly `window`.
    let bytes = unsafe { _mm512_loadu_si512(window.as_ptr().cast::<__m512i>()) };
    let splat = |byte: u8| _mm512_set1_epi8(byte as i8);
    let folded = _mm512_or_si512(bytes, splat(0x20));
    let letters = _mm512_cmple_epu8_mask(_mm512_sub_epi8(folded, splat(b'a')), splat(25));
    let digits = _mm512_cmple_epu8_mask(_mm512_sub_epi8(bytes, splat(b'0')), splat(9));
    let specials = _mm512_cmpeq_epi8_mask(bytes, splat(b'+'))
        | _mm512_cmpeq_epi8_mask(bytes, splat(b'/'))
        | _mm512_cmpeq_epi8_mask(bytes, splat(b'-'))
        | _mm512_cmpeq_epi8_mask(bytes, splat(b'_'));
    letters | digits | specials
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1")]
fn long_blob_runs_avx2(input: &[u8], run: &mut impl FnMut(usize, usize) -> bool) {
    long_blob_runs_with(input, run, |input, offset| blob_mask64(input, offset));
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw,popcnt,bmi1")]
fn long_blob_runs_avx512(input: &[u8], run: &mut impl FnMut(usize, usize) -> bool) {
    long_blob_runs_with(input, run, |input, offset| {
        blob_mask64_avx512(input, offset)
    });
}

/// The loop of [`long_blob_runs`] over `mask64` (the blob mask of the 64
/// bytes from an offset, bytes past the end not blob).
#[inline(always)]
fn long_blob_runs_with(
    input: &[u8],
    run: &mut impl FnMut(usize, usize) -> bool,
    mask64: impl Fn(&[u8], usize) -> u64,
) {
    // 1 + 2 + 4 + 8 + 8 = 23: a set bit then starts 24 members.
    long_runs_with(
        input,
        run,
        mask64,
        crate::decode::is_blob_byte,
        &[1, 2, 4, 8, 8],
    );
}

/// Calls `run(start, end)`, in order, for every maximal run of members
/// (`mask64` gives the membership bits of the 64 bytes from an offset,
/// bytes past the end not members; `member` tests one byte) at least
/// `1 + shifts.iter().sum()` bytes long (at most 64), until `run` returns
/// `false`: the masks of this block and the next ANDed with themselves
/// shifted by each of `shifts` leave a bit where such a run begins, and the
/// first one found is extended to its bounds, 64 bytes per step.
#[inline(always)]
fn long_runs_with(
    input: &[u8],
    run: &mut impl FnMut(usize, usize) -> bool,
    mask64: impl Fn(&[u8], usize) -> u64,
    member: impl Fn(u8) -> bool,
    shifts: &[u32],
) {
    let mut offset = 0usize;
    let mut current = mask64(input, 0);
    while offset < input.len() {
        let next = mask64(input, offset + 64);
        let mut starts = u128::from(current) | (u128::from(next) << 64);
        for &shift in shifts {
            starts &= starts >> shift;
        }
        let starts = starts as u64;
        if starts == 0 {
            offset += 64;
            current = next;
            continue;
        }
        let at = offset + starts.trailing_zeros() as usize;
        let mut start = at;
        while start >= 64 {
            let length = mask64(input, start - 64).leading_ones() as usize;
            start -= length;
            if length < 64 {
                break;
            }
        }
        while start > 0 && start < 64 && member(input[start - 1]) {
            start -= 1;
        }
        let mut end = at;
        loop {
            let length = mask64(input, end).trailing_ones() as usize;
            end += length;
            if length < 64 {
                break;
            }
        }
        if !run(start, end) {
            return;
        }
        offset = end;
        current = mask64(input, offset);
    }
}

/// The shortest run [`long_token_runs`] reports.
pub(crate) const LONG_TOKEN_RUN: usize = 64;

/// Calls `run(start, end)`, in order, for every maximal run of at least 64
/// entropy-token bytes ([`crate::entropy::is_token_byte`]: printable ASCII
/// but quotes) in `input`. Returns `false` without AVX2, or under a portable
/// limit (nothing was called; the caller finds the runs itself).
pub(crate) fn long_token_runs(input: &[u8], mut run: impl FnMut(usize, usize)) -> bool {
    let mut sink = |start, end| {
        run(start, end);
        true
    };
    // SAFETY (each call): `mask_paths` checked that the CPU has every
    // feature the function enables.
    #[cfg(target_arch = "x86_64")]
    match mask_paths() {
        VectorPaths::Avx512 => unsafe { long_token_runs_avx512(input, &mut sink) },
        VectorPaths::Avx2 => unsafe { long_token_runs_avx2(input, &mut sink) },
        VectorPaths::Portable => return false,
    }
    let _ = (input, &mut sink);
    // A vector path ran; there is none off x86_64.
    cfg!(target_arch = "x86_64")
}

/// 1 + 2 + 4 + 8 + 16 + 32 = 64 token bytes.
const TOKEN_SHIFTS: [u32; 6] = [1, 2, 4, 8, 16, 32];

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1")]
fn long_token_runs_avx2(input: &[u8], run: &mut impl FnMut(usize, usize) -> bool) {
    let mask64 = |input: &[u8], offset: usize| {
        let Some(window) = input.get(offset..offset + 64) else {
            return mask_tail(input, offset, crate::entropy::is_token_byte);
        };
        let half = |bytes: &[u8]| {
            // SAFETY: the unaligned 32-byte load reads exactly `bytes`.
            let bytes = unsafe { _mm256_loadu_si256(bytes[..32].as_ptr().cast::<__m256i>()) };
            let printable = at_most(_mm256_sub_epi8(bytes, splat(0x21)), 0x7E - 0x21);
            let quotes = _mm256_or_si256(
                _mm256_or_si256(
                    _mm256_cmpeq_epi8(bytes, splat(b'"')),
                    _mm256_cmpeq_epi8(bytes, splat(b'\'')),
                ),
                _mm256_cmpeq_epi8(bytes, splat(b'`')),
            );
            let printable = _mm256_movemask_epi8(printable) as u32;
            let quotes = _mm256_movemask_epi8(quotes) as u32;
            u64::from(printable & !quotes)
        };
        half(&window[..32]) | (half(&window[32..]) << 32)
    };
    long_runs_with(
        input,
        run,
        mask64,
        crate::entropy::is_token_byte,
        &TOKEN_SHIFTS,
    );
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw,popcnt,bmi1")]
fn long_token_runs_avx512(input: &[u8], run: &mut impl FnMut(usize, usize) -> bool) {
    let mask64 = |input: &[u8], offset: usize| {
        let Some(window) = input.get(offset..offset + 64) else {
            return mask_tail(input, offset, crate::entropy::is_token_byte);
        };
        // SAFETY: the unaligned 64-byte load reads exactly `window`.
        let bytes = unsafe { _mm512_loadu_si512(window.as_ptr().cast::<__m512i>()) };
        let splat = |byte: u8| _mm512_set1_epi8(byte as i8);
        let printable =
            _mm512_cmple_epu8_mask(_mm512_sub_epi8(bytes, splat(0x21)), splat(0x7E - 0x21));
        let quotes = _mm512_cmpeq_epi8_mask(bytes, splat(b'"'))
            | _mm512_cmpeq_epi8_mask(bytes, splat(b'\''))
            | _mm512_cmpeq_epi8_mask(bytes, splat(b'`'));
        printable & !quotes
    };
    long_runs_with(
        input,
        run,
        mask64,
        crate::entropy::is_token_byte,
        &TOKEN_SHIFTS,
    );
}

/// The shortest run of EBCDIC letters and digits [`code_triggers`]
/// reports.
pub(crate) const EBCDIC_ALNUM_RUN: usize = 8;

/// EBCDIC letters and digits by nibble: a byte is one when the entry of
/// its low nibble and the entry of its high nibble share a bit. Bit 0: low
/// nibble 1–9 with high nibble 8, 9, C or D (`a–i`, `j–r`, `A–I`, `J–R`);
/// bit 1: low 2–9 with high A or E (`s–z`, `S–Z`); bit 2: low 0–9 with
/// high F (digits).
const EBCDIC_LOW_NIBBLE: [u8; 16] = [4, 5, 7, 7, 7, 7, 7, 7, 7, 7, 0, 0, 0, 0, 0, 0];
const EBCDIC_HIGH_NIBBLE: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 1, 1, 2, 4];

/// Whether `byte` is an EBCDIC letter or digit (code pages 037 and 500),
/// by the nibble tables the vector paths use.
pub(crate) fn is_ebcdic_alnum(byte: u8) -> bool {
    EBCDIC_LOW_NIBBLE[usize::from(byte & 0x0F)] & EBCDIC_HIGH_NIBBLE[usize::from(byte >> 4)] != 0
}

/// Byte padding the last block of the code masks: in no class.
const CODE_PAD: u8 = 0xFF;

/// Whether `byte` counts as a separator for a code-list trigger: `,` or
/// any byte up to blank (the tokeniser then takes only blank, tab, CR and
/// LF; control bytes in binary data cost a look, nothing more).
#[inline]
pub(crate) fn is_hint_separator(byte: u8) -> bool {
    byte <= b' ' || byte == b','
}

/// The triggers of the character-code layers (`codes.rs`), in one pass:
/// calls `list(index)`, in order, for every index where a code-list
/// trigger starts (`codes::is_code_list_hint`: a digit, a separator, then
/// a digit or separator), and `ebcdic(index)`, in order, for the first
/// byte of every maximal run of at least [`EBCDIC_ALNUM_RUN`] EBCDIC
/// letters and digits ([`is_ebcdic_alnum`]). Returns `false` without AVX2,
/// or under a portable limit (nothing was called).
///
/// 64 bytes per step: digit, separator and EBCDIC masks (the EBCDIC one
/// from two nibble-table shuffles, skipped for a vector of ASCII), the next
/// block's shifted in.
pub(crate) fn code_triggers(
    input: &[u8],
    mut list: impl FnMut(usize),
    mut ebcdic: impl FnMut(usize),
) -> bool {
    // SAFETY (each call): `mask_paths` checked that the CPU has every
    // feature the function enables.
    #[cfg(target_arch = "x86_64")]
    match mask_paths() {
        VectorPaths::Avx512 => unsafe { code_triggers_avx512(input, &mut list, &mut ebcdic) },
        VectorPaths::Avx2 => unsafe { code_triggers_avx2(input, &mut list, &mut ebcdic) },
        VectorPaths::Portable => return false,
    }
    let _ = (input, &mut list, &mut ebcdic);
    cfg!(target_arch = "x86_64")
}

/// The 64 bytes from `offset` (`input` padded with `pad` past its end)
/// given to `mask`: the last block of a vector mask loop without a byte at
/// a time.
#[inline(always)]
fn padded_block<T>(input: &[u8], offset: usize, pad: u8, mask: impl Fn(&[u8]) -> T) -> T {
    match input.get(offset..offset + 64) {
        Some(window) => mask(window),
        None => {
            let mut bytes = [pad; 64];
            let rest = input.get(offset..).unwrap_or_default();
            bytes[..rest.len()].copy_from_slice(rest);
            mask(&bytes)
        }
    }
}

/// The loop of [`code_triggers`] over `masks` (the digit, separator and
/// above-0x7F bits of the 64 bytes of a window) and `letters` (the EBCDIC
/// letter-and-digit bits of a window, asked for only where eight bytes
/// above 0x7F in a row begin: rarely in text, in about a fifth of the
/// blocks of random binary data); the last block is padded with
/// [`CODE_PAD`] (above 0x7F, but neither a letter nor a digit).
#[inline(always)]
fn code_triggers_with(
    input: &[u8],
    list: &mut impl FnMut(usize),
    ebcdic: &mut impl FnMut(usize),
    masks: impl Fn(&[u8]) -> (u64, u64, u64),
    letters: impl Fn(&[u8]) -> u64,
) {
    let block = |offset: usize| {
        if offset < input.len() {
            padded_block(input, offset, CODE_PAD, &masks)
        } else {
            (0, 0, 0)
        }
    };
    let letters_at = |offset: usize| {
        if offset < input.len() {
            padded_block(input, offset, CODE_PAD, &letters)
        } else {
            0
        }
    };
    // Bit `i` set where bits `i..i + 8` of `low` then `high` are all set.
    let eight = |low: u64, high: u64| {
        let mut runs = u128::from(low) | (u128::from(high) << 64);
        runs &= runs >> 1;
        runs &= runs >> 2;
        runs &= runs >> 4;
        runs as u64
    };
    let mut offset = 0usize;
    let (mut digits, mut separators, mut high) = block(0);
    while offset < input.len() {
        let (next_digits, next_separators, next_high) = block(offset + 64);
        let either = digits | separators;
        let next_either = next_digits | next_separators;
        let mut hints = digits
            & ((separators >> 1) | (next_separators << 63))
            & ((either >> 2) | (next_either << 62));
        while hints != 0 {
            list(offset + hints.trailing_zeros() as usize);
            hints &= hints - 1;
        }
        if eight(high, next_high) != 0 {
            let here = letters_at(offset);
            let before = offset
                .checked_sub(1)
                .is_some_and(|last| is_ebcdic_alnum(input[last]));
            let begins = here & !((here << 1) | u64::from(before));
            let mut starts = eight(here, letters_at(offset + 64)) & begins;
            while starts != 0 {
                ebcdic(offset + starts.trailing_zeros() as usize);
                starts &= starts - 1;
            }
        }
        offset += 64;
        (digits, separators, high) = (next_digits, next_separators, next_high);
    }
}

/// A 16-byte table in both 128-bit lanes, for `pshufb`.
#[cfg(target_arch = "x86_64")]
fn lanes32(table: &[u8; 16]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(table);
    out[16..].copy_from_slice(table);
    out
}

/// The digit, separator and above-0x7F bits of `bytes[..32]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1")]
#[inline]
fn code_masks_avx2(bytes: &[u8]) -> (u64, u64, u64) {
    // SAFETY: the unaligned 32-byte load reads exactly `bytes[..32]`.
    let bytes = unsafe { _mm256_loadu_si256(bytes[..32].as_ptr().cast::<__m256i>()) };
    let digits = at_most(_mm256_sub_epi8(bytes, splat(b'0')), 9);
    let separators = _mm256_or_si256(at_most(bytes, b' '), _mm256_cmpeq_epi8(bytes, splat(b',')));
    (
        u64::from(_mm256_movemask_epi8(digits) as u32),
        u64::from(_mm256_movemask_epi8(separators) as u32),
        u64::from(_mm256_movemask_epi8(bytes) as u32),
    )
}

/// The EBCDIC letter-and-digit bits of `bytes[..32]`, by the nibble tables
/// `low` and `high` (in both lanes).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1")]
#[inline]
fn ebcdic_mask_avx2(bytes: &[u8], low: __m256i, high: __m256i) -> u64 {
    // SAFETY: the unaligned 32-byte load reads exactly `bytes[..32]`.
    let bytes = unsafe { _mm256_loadu_si256(bytes[..32].as_ptr().cast::<__m256i>()) };
    let nibbles = splat(0x0F);
    let by_low = _mm256_shuffle_epi8(low, _mm256_and_si256(bytes, nibbles));
    let by_high = _mm256_shuffle_epi8(high, _mm256_and_si256(_mm256_srli_epi16(bytes, 4), nibbles));
    let none = _mm256_cmpeq_epi8(_mm256_and_si256(by_low, by_high), splat(0));
    u64::from(!(_mm256_movemask_epi8(none) as u32))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1")]
fn code_triggers_avx2(input: &[u8], list: &mut impl FnMut(usize), ebcdic: &mut impl FnMut(usize)) {
    let (low, high) = (lanes32(&EBCDIC_LOW_NIBBLE), lanes32(&EBCDIC_HIGH_NIBBLE));
    // SAFETY: each unaligned 32-byte load reads exactly its array.
    let low = unsafe { _mm256_loadu_si256(low.as_ptr().cast::<__m256i>()) };
    // SAFETY: as above.
    let high = unsafe { _mm256_loadu_si256(high.as_ptr().cast::<__m256i>()) };
    code_triggers_with(
        input,
        list,
        ebcdic,
        |window| {
            let first = code_masks_avx2(&window[..32]);
            let second = code_masks_avx2(&window[32..64]);
            (
                first.0 | (second.0 << 32),
                first.1 | (second.1 << 32),
                first.2 | (second.2 << 32),
            )
        },
        |window| {
            ebcdic_mask_avx2(&window[..32], low, high)
                | (ebcdic_mask_avx2(&window[32..64], low, high) << 32)
        },
    );
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw,popcnt,bmi1")]
fn code_triggers_avx512(
    input: &[u8],
    list: &mut impl FnMut(usize),
    ebcdic: &mut impl FnMut(usize),
) {
    let (low, high) = (lanes32(&EBCDIC_LOW_NIBBLE), lanes32(&EBCDIC_HIGH_NIBBLE));
    let (low, high) = ([low, low].concat(), [high, high].concat());
    // SAFETY: each unaligned 64-byte load reads exactly its 64-byte vector.
    let low = unsafe { _mm512_loadu_si512(low.as_ptr().cast::<__m512i>()) };
    // SAFETY: as above.
    let high = unsafe { _mm512_loadu_si512(high.as_ptr().cast::<__m512i>()) };
    let splat = |byte: u8| _mm512_set1_epi8(byte as i8);
    // SAFETY (both): the unaligned 64-byte load reads exactly `window[..64]`.
    let load =
        |window: &[u8]| unsafe { _mm512_loadu_si512(window[..64].as_ptr().cast::<__m512i>()) };
    code_triggers_with(
        input,
        list,
        ebcdic,
        |window| {
            let bytes = load(window);
            (
                _mm512_cmple_epu8_mask(_mm512_sub_epi8(bytes, splat(b'0')), splat(9)),
                _mm512_cmple_epu8_mask(bytes, splat(b' '))
                    | _mm512_cmpeq_epi8_mask(bytes, splat(b',')),
                _mm512_test_epi8_mask(bytes, splat(0x80)),
            )
        },
        |window| {
            let bytes = load(window);
            let nibbles = splat(0x0F);
            let by_low = _mm512_shuffle_epi8(low, _mm512_and_si512(bytes, nibbles));
            let by_high =
                _mm512_shuffle_epi8(high, _mm512_and_si512(_mm512_srli_epi16(bytes, 4), nibbles));
            _mm512_test_epi8_mask(by_low, by_high)
        },
    );
}

/// The code-list and EBCDIC triggers every vector path this CPU can run
/// reports (for tests).
#[cfg(test)]
pub(crate) fn code_triggers_every_path(input: &[u8]) -> Vec<(Vec<usize>, Vec<usize>)> {
    let mut results = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("popcnt") && has!("bmi1") {
            let (mut lists, mut runs) = (Vec::new(), Vec::new());
            // SAFETY: the CPU has every feature the function enables.
            unsafe {
                code_triggers_avx2(input, &mut |index| lists.push(index), &mut |index| {
                    runs.push(index)
                });
            }
            results.push((lists, runs));
        }
        if has!("avx512bw") && has!("popcnt") && has!("bmi1") {
            let (mut lists, mut runs) = (Vec::new(), Vec::new());
            // SAFETY: as above.
            unsafe {
                code_triggers_avx512(input, &mut |index| lists.push(index), &mut |index| {
                    runs.push(index)
                });
            }
            results.push((lists, runs));
        }
    }
    let _ = input;
    results
}

/// The runs every vector path this CPU can run reports (for tests).
#[cfg(test)]
pub(crate) fn token_runs_every_path(input: &[u8]) -> Vec<Vec<(usize, usize)>> {
    let mut results = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("popcnt") && has!("bmi1") {
            let mut runs = Vec::new();
            // SAFETY: the CPU has every feature the function enables.
            unsafe {
                long_token_runs_avx2(input, &mut |start, end| {
                    runs.push((start, end));
                    true
                });
            }
            results.push(runs);
        }
        if has!("avx512bw") && has!("popcnt") && has!("bmi1") {
            let mut runs = Vec::new();
            // SAFETY: as above.
            unsafe {
                long_token_runs_avx512(input, &mut |start, end| {
                    runs.push((start, end));
                    true
                });
            }
            results.push(runs);
        }
    }
    let _ = input;
    results
}

/// A prefilter for the rule keywords' first four bytes, 64 positions per
/// step with AVX-512 VBMI byte-table lookups. Bytes are folded with bit 5
/// set (`| 0x20`, which folds ASCII case and merges a few other pairs); the
/// keywords are put in 8 buckets, by their first byte (all three-byte
/// keywords together, apart: their fourth byte is anything); for each of
/// the four positions a 128-entry table maps a folded byte (its low 7 bits)
/// to the buckets that have it there (every bucket of a three-byte keyword,
/// at the fourth). A position whose four bytes share a bucket is a
/// candidate. Every occurrence of every keyword, in any case, is a
/// candidate (the tables only over-approximate), so the caller's exact
/// check decides. Against three tables (the heads alone), a fourth halves
/// the candidates on agent-shaped text and keeps most true-head
/// non-matches (every `println` for the `pri` of `private_key`) from the
/// exact check.
pub(crate) struct HeadFilter {
    tables: Box<[[u8; 128]; HEAD_FILTER_BYTES]>,
}

/// Bytes of each position the head filter looks at.
const HEAD_FILTER_BYTES: usize = 4;

impl HeadFilter {
    /// The filter for `keywords` (lower-cased, each at least three bytes).
    pub(crate) fn new(keywords: &[Vec<u8>]) -> Self {
        let mut tables = Box::new([[0u8; 128]; HEAD_FILTER_BYTES]);
        let fold = |byte: u8| usize::from((byte | 0x20) & 0x7F);
        // A keyword's group: its folded first byte, or 0x80 for every
        // three-byte keyword (never a folded byte).
        let group = |keyword: &[u8]| match keyword {
            [first, _, _, _, ..] => fold(*first),
            _ => 0x80,
        };
        let mut groups: Vec<usize> = keywords.iter().map(|keyword| group(keyword)).collect();
        groups.sort_unstable();
        groups.dedup();
        for keyword in keywords.iter().filter(|keyword| keyword.len() >= 3) {
            let rank = groups.binary_search(&group(keyword)).unwrap_or(0);
            let bucket = 1u8 << (rank % 8);
            for (position, &byte) in keyword.iter().take(HEAD_FILTER_BYTES).enumerate() {
                tables[position][fold(byte)] |= bucket;
            }
            if keyword.len() < HEAD_FILTER_BYTES {
                for entry in tables[HEAD_FILTER_BYTES - 1].iter_mut() {
                    *entry |= bucket;
                }
            }
        }
        Self { tables }
    }

    /// Calls `candidate(offset)`, in order, for every candidate offset
    /// below the returned bound (0 without AVX-512 VBMI, or under a lower
    /// limit); the caller examines the offsets from the bound on itself.
    pub(crate) fn candidates(&self, input: &[u8], mut candidate: impl FnMut(usize)) -> usize {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if allows(VectorPaths::Avx512) && has!("avx512bw") && has!("avx512vbmi") && has!("bmi1")
            {
                // SAFETY: the CPU has every feature the function enables.
                return unsafe { self.candidates_avx512(input, &mut candidate) };
            }
        }
        let _ = (input, &mut candidate);
        0
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512bw,avx512vbmi,bmi1")]
    fn candidates_avx512(&self, input: &[u8], candidate: &mut impl FnMut(usize)) -> usize {
        let load = |bytes: &[u8]| {
            let bytes = &bytes[..64];
            // SAFETY: the unaligned 64-byte load reads exactly `bytes`.
            unsafe { _mm512_loadu_si512(bytes.as_ptr().cast::<__m512i>()) }
        };
        let halves: [(__m512i, __m512i); HEAD_FILTER_BYTES] = std::array::from_fn(|position| {
            let table = &self.tables[position];
            (load(&table[..64]), load(&table[64..]))
        });
        let fold = _mm512_set1_epi8(0x20);
        let mut offset = 0usize;
        // Each step reads 64 + 3 bytes: the last position's other three.
        while offset + 64 + HEAD_FILTER_BYTES - 1 <= input.len() {
            let mut buckets = _mm512_set1_epi8(-1);
            for (position, (low, high)) in halves.iter().enumerate() {
                let bytes = _mm512_or_si512(load(&input[offset + position..]), fold);
                buckets = _mm512_and_si512(buckets, _mm512_permutex2var_epi8(*low, bytes, *high));
            }
            let mut hits = _mm512_test_epi8_mask(buckets, buckets);
            while hits != 0 {
                candidate(offset + hits.trailing_zeros() as usize);
                hits &= hits - 1;
            }
            offset += 64;
        }
        offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a run finder under test calls back.
    type RunSink<'a> = dyn FnMut(usize, usize) -> bool + 'a;

    proptest::proptest! {
        /// Every vector path reports exactly the maximal blob runs of at
        /// least 24 bytes, in order, and stops when told to.
        #[test]
        fn long_blob_runs_on_every_path(
            pieces in proptest::collection::vec(
                (0usize..200, proptest::sample::select(b" .=\"\n\xC3".to_vec())),
                0..10,
            ),
            stop_after in 0usize..4,
        ) {
            let mut input = Vec::new();
            for (len, separator) in pieces {
                input.extend((0..len).map(|index| b"AZaz09+/-_"[index % 10]));
                input.push(separator);
            }
            let mut expected = Vec::new();
            let mut index = 0;
            while index < input.len() {
                if !crate::decode::is_blob_byte(input[index]) {
                    index += 1;
                    continue;
                }
                let start = index;
                while index < input.len() && crate::decode::is_blob_byte(input[index]) {
                    index += 1;
                }
                if index - start >= LONG_BLOB_RUN {
                    expected.push((start, index));
                }
            }
            let collect = |finder: &dyn Fn(&mut RunSink<'_>)| {
                let mut runs = Vec::new();
                finder(&mut |start, end| {
                    runs.push((start, end));
                    runs.len() <= stop_after
                });
                runs
            };
            let wanted: Vec<(usize, usize)> =
                expected.iter().copied().take(stop_after + 1).collect();
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::is_x86_feature_detected as has;
                if has!("avx2") && has!("popcnt") && has!("bmi1") {
                    // SAFETY: the CPU has every feature the function enables.
                    let runs = collect(&|run| unsafe { long_blob_runs_avx2(&input, &mut |a, b| run(a, b)) });
                    proptest::prop_assert_eq!(&runs, &wanted);
                }
                if has!("avx512bw") && has!("popcnt") && has!("bmi1") {
                    // SAFETY: as above.
                    let runs = collect(&|run| unsafe { long_blob_runs_avx512(&input, &mut |a, b| run(a, b)) });
                    proptest::prop_assert_eq!(&runs, &wanted);
                }
            }
            let _ = (&collect, &wanted);
        }
    }

    proptest::proptest! {
        /// The vector probe passes exactly the positions the one-at-a-time
        /// filter test passes, up to where it stops, and stops less than
        /// eight probes short of the end.
        #[test]
        fn probe_filter_matches_the_scalar_test(
            projected in proptest::collection::vec(proptest::num::u8::ANY, 0..700),
            stride in 1usize..12,
            seed in proptest::num::u64::ANY,
        ) {
            const SHIFT: u32 = 64 - 12;
            const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;
            // A filter with about a third of its bits set, from the seed.
            let filter: Vec<u64> = (0..(1u64 << 12) / 64)
                .map(|word| {
                    let mixed = (word ^ seed).wrapping_mul(MULTIPLIER);
                    mixed & (mixed >> 7)
                })
                .collect();
            let scalar_passes = |index: usize| {
                let mut gram = [0u8; 8];
                gram.copy_from_slice(&projected[index..index + 8]);
                let slot = (u64::from_le_bytes(gram).wrapping_mul(MULTIPLIER) >> SHIFT) as usize;
                (filter[slot >> 6] >> (slot & 63)) & 1 != 0
            };
            let mut passed = Vec::new();
            let stop = probe_filter(&projected, stride, &filter, MULTIPLIER, SHIFT, |index| {
                passed.push(index);
            });
            let expected: Vec<usize> = (0..stop)
                .step_by(stride)
                .filter(|&index| scalar_passes(index))
                .collect();
            proptest::prop_assert_eq!(passed, expected);
            proptest::prop_assert_eq!(stop % stride, 0);
            if stop > 0 {
                proptest::prop_assert!(stop + 7 * stride + 8 > projected.len());
            }
        }
    }

    proptest::proptest! {
        /// Every path reports every escape start, in order, and nothing but
        /// `%`, `\` and `&` bytes (AVX2: all of them, as `memchr3` does),
        /// at every length (block tails included).
        #[test]
        fn escape_starts_cover_every_escape(
            input in proptest::collection::vec(
                proptest::sample::select(b"%\\&a#u0x/ \xC3".to_vec()),
                0..300,
            )
        ) {
            let every: Vec<(u8, usize)> = memchr::memchr3_iter(b'%', b'\\', b'&', &input)
                .map(|offset| (input[offset], offset))
                .collect();
            let hex = |offset: usize| input.get(offset).is_some_and(u8::is_ascii_hexdigit);
            let required: Vec<(u8, usize)> = every
                .iter()
                .copied()
                .filter(|&(byte, offset)| match byte {
                    b'%' => hex(offset + 1) && hex(offset + 2),
                    b'\\' => matches!(input.get(offset + 1), Some(b'u' | b'x' | b'/')),
                    _ => input.get(offset + 1) == Some(&b'#'),
                })
                .collect();
            // Every required start, in order, and nothing that is not a
            // `%`, `\` or `&`.
            let check = |found: &[(u8, usize)]| {
                found.windows(2).all(|pair| pair[0].1 < pair[1].1)
                    && found.iter().all(|entry| every.contains(entry))
                    && required.iter().all(|entry| found.contains(entry))
            };
            let mut found = Vec::new();
            each_escape_start(&input, |byte, offset| found.push((byte, offset)));
            proptest::prop_assert!(check(&found), "{:?}", found);
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::is_x86_feature_detected as has;
                if has!("avx2") && has!("popcnt") && has!("bmi1") {
                    let mut found = Vec::new();
                    // SAFETY: the CPU has every feature the function enables.
                    unsafe { each_escape_start_avx2(&input, &mut |byte, offset| found.push((byte, offset))) };
                    proptest::prop_assert_eq!(&found, &every);
                }
                if has!("avx512bw") && has!("popcnt") && has!("bmi1") {
                    let mut found = Vec::new();
                    // SAFETY: as above.
                    unsafe { each_escape_start_avx512(&input, &mut |byte, offset| found.push((byte, offset))) };
                    proptest::prop_assert!(check(&found), "{:?}", found);
                }
            }
        }
    }
}
