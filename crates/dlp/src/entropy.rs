//! Shannon entropy: the warn-only `entropy` detector and the helper used by
//! rule entropy floors and [`crate::looks_like_credential`].
//!
//! As in the seed, a window of printable, non-space text whose entropy is at
//! least [`ENTROPY_THRESHOLD`] bits per character is reported as a warning.
//! It is off unless listed: random-looking text is common in legitimate
//! traffic (hashes, IDs, compressed data), so it never blocks.

use crate::config::Detector;
use crate::finding::Finding;

/// Bits per character at or above which a window is reported (the seed's
/// figure).
pub const ENTROPY_THRESHOLD: f64 = 5.5;

/// Width of the sliding window, in bytes. 5.5 bits needs at least 46
/// distinct characters, so only wide-alphabet random strings reach it.
pub const ENTROPY_WINDOW: usize = 64;

/// Shannon entropy of `bytes`, in bits per byte (0 for empty input).
pub fn shannon_entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &byte in bytes {
        counts[byte as usize] += 1;
    }
    let total = bytes.len() as f64;
    counts
        .iter()
        .filter(|count| **count > 0)
        .map(|count| {
            let probability = f64::from(*count) / total;
            -probability * probability.log2()
        })
        .sum()
}

/// Whether `byte` can be part of an entropy token: printable ASCII but
/// quotes.
pub(crate) fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_graphic() && !matches!(byte, b'"' | b'\'' | b'`')
}

/// Report every run of token bytes holding a window at or above the
/// threshold, one warning per run.
pub(crate) fn scan(input: &[u8], out: &mut Vec<Finding>) {
    // The runs long enough to hold a window come from a vector mask pass
    // where the CPU has one; else from the byte loop below.
    let mut report = |start: usize, end: usize| {
        let run = &input[start..end];
        if first_high_window(run).is_some() {
            out.push(Finding::new(
                Detector::Entropy,
                "high-entropy",
                "raw",
                (start, end),
                run.to_vec(),
            ));
        }
    };
    if ENTROPY_WINDOW == crate::simd::LONG_TOKEN_RUN
        && crate::simd::long_token_runs(input, &mut report)
    {
        return;
    }
    scan_runs(input, report);
}

/// [`scan`]'s runs a byte at a time: `report` on every maximal run of token
/// bytes at least a window long.
fn scan_runs(input: &[u8], mut report: impl FnMut(usize, usize)) {
    let mut index = 0;
    while index < input.len() {
        if !is_token_byte(input[index]) {
            index += 1;
            continue;
        }
        let start = index;
        while index < input.len() && is_token_byte(input[index]) {
            index += 1;
        }
        if index - start >= ENTROPY_WINDOW {
            report(start, index);
        }
    }
}

/// `c * log2(c)` for every count a window can hold (0 for 0), computed
/// once: the sliding window looks its terms up instead of taking two
/// logarithms per byte.
static C_LOG_C: std::sync::LazyLock<[f64; ENTROPY_WINDOW + 1]> = std::sync::LazyLock::new(|| {
    std::array::from_fn(|count| {
        if count == 0 {
            0.0
        } else {
            let count = count as f64;
            count * count.log2()
        }
    })
});

/// The offset of the first window of `run` at or above the threshold,
/// computed incrementally (one update per byte).
fn first_high_window(run: &[u8]) -> Option<usize> {
    let mut counts = [0u32; 256];
    // sum of c*log2(c) over the window's counts: H = log2(W) - sum/W. The
    // terms are the same values as `count * log2(count)` computed each
    // time, so the sums are too.
    let table = &*C_LOG_C;
    let c_log_c = |count: u32| -> f64 { table[count as usize] };
    let width = ENTROPY_WINDOW as f64;
    let mut sum = 0.0;
    for &byte in &run[..ENTROPY_WINDOW] {
        let count = &mut counts[byte as usize];
        sum -= c_log_c(*count);
        *count += 1;
        sum += c_log_c(*count);
    }
    let entropy_of = |sum: f64| width.log2() - sum / width;
    if entropy_of(sum) >= ENTROPY_THRESHOLD {
        return Some(0);
    }
    for offset in 1..=run.len() - ENTROPY_WINDOW {
        let leaving = run[offset - 1] as usize;
        sum -= c_log_c(counts[leaving]);
        counts[leaving] -= 1;
        sum += c_log_c(counts[leaving]);
        let entering = run[offset + ENTROPY_WINDOW - 1] as usize;
        sum -= c_log_c(counts[entering]);
        counts[entering] += 1;
        sum += c_log_c(counts[entering]);
        if entropy_of(sum) >= ENTROPY_THRESHOLD {
            return Some(offset);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The vector run finders (each path the CPU can run) report the
        /// same runs as the byte loop.
        #[test]
        fn vector_and_byte_loop_token_runs_agree(
            pieces in proptest::collection::vec(
                (0usize..200, proptest::sample::select(b" \"'`\n\x7F\x80\t".to_vec())),
                0..10,
            )
        ) {
            let mut input = Vec::new();
            for (len, separator) in pieces {
                input.extend((0..len).map(|index| b"!~aZ09+/{}"[index % 10]));
                input.push(separator);
            }
            let mut expected = Vec::new();
            scan_runs(&input, |start, end| expected.push((start, end)));
            let mut found = Vec::new();
            if crate::simd::long_token_runs(&input, |start, end| found.push((start, end))) {
                proptest::prop_assert_eq!(&found, &expected);
            }
            for runs in crate::simd::token_runs_every_path(&input) {
                proptest::prop_assert_eq!(&runs, &expected);
            }
        }
    }

    #[test]
    fn the_table_holds_c_log2_c() {
        for (count, &value) in C_LOG_C.iter().enumerate() {
            let expected = if count == 0 {
                0.0
            } else {
                count as f64 * (count as f64).log2()
            };
            assert_eq!(value.to_bits(), expected.to_bits());
        }
    }

    #[test]
    fn entropy_of_simple_inputs() {
        assert_eq!(shannon_entropy(b""), 0.0);
        assert_eq!(shannon_entropy(b"aaaa"), 0.0);
        assert!((shannon_entropy(b"abab") - 1.0).abs() < 1e-9);
        let all: Vec<u8> = (0u8..=255).collect();
        assert!((shannon_entropy(&all) - 8.0).abs() < 1e-9);
    }

    #[test]
    fn flags_a_wide_alphabet_random_token_but_not_prose_or_hex() {
        let token: Vec<u8> = (0..96u32)
            .map(|index| b'!' + ((index * 37) % 94) as u8)
            .filter(|byte| is_token_byte(*byte))
            .collect();
        let mut found = Vec::new();
        scan(&token, &mut found);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].detector, Detector::Entropy);
        let mut found = Vec::new();
        scan(
            b"the quick brown fox jumps over the lazy dog again and again and again",
            &mut found,
        );
        scan(
            b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123",
            &mut found,
        );
        assert!(found.is_empty());
    }
}
