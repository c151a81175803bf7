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

fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_graphic() && !matches!(byte, b'"' | b'\'' | b'`')
}

/// Report every run of token bytes holding a window at or above the
/// threshold, one warning per run.
pub(crate) fn scan(input: &[u8], out: &mut Vec<Finding>) {
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
        let run = &input[start..index];
        if run.len() < ENTROPY_WINDOW {
            continue;
        }
        if first_high_window(run).is_some() {
            out.push(Finding::new(
                Detector::Entropy,
                "high-entropy",
                "raw",
                (start, index),
                run.to_vec(),
            ));
        }
    }
}

/// The offset of the first window of `run` at or above the threshold,
/// computed incrementally (one update per byte).
fn first_high_window(run: &[u8]) -> Option<usize> {
    let mut counts = [0u32; 256];
    // sum of c*log2(c) over the window's counts: H = log2(W) - sum/W
    let c_log_c = |count: u32| -> f64 {
        if count == 0 {
            0.0
        } else {
            f64::from(count) * f64::from(count).log2()
        }
    };
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
