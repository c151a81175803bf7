//! Streaming scans: findings that straddle chunk boundaries, in memory that
//! does not grow with the input.
//!
//! The regex engine has no streaming mode, so the stream keeps a tail of
//! [`crate::Scanner::stream_overlap`] bytes (the longest match any detector
//! can make) and scans tail + new data once at least [`STREAM_SLICE`] new
//! bytes have arrived. A finding is emitted once it starts before the tail
//! (every byte it could cover has then been seen); the rest wait for the
//! next round. Offsets are into the whole stream.

use crate::finding::{Finding, Findings};
use crate::scanner::Scanner;

/// New bytes gathered before a scan runs. Memory is at most the overlap
/// plus two slices.
pub const STREAM_SLICE: usize = 64 * 1024;

/// A scan in progress over a stream of chunks. Built by
/// [`Scanner::stream`].
pub struct StreamScanner<'a> {
    scanner: &'a Scanner,
    buffer: Vec<u8>,
    /// Stream offset of `buffer[0]`.
    base: usize,
    /// Emitted findings that may reach into the buffer (stream offsets).
    emitted: Vec<(usize, usize, String)>,
}

impl<'a> StreamScanner<'a> {
    pub(crate) fn new(scanner: &'a Scanner) -> Self {
        Self {
            scanner,
            buffer: Vec::new(),
            base: 0,
            emitted: Vec::new(),
        }
    }

    /// Add a chunk; returns the findings that became certain.
    pub fn feed(&mut self, chunk: &[u8]) -> Findings {
        let mut out = Vec::new();
        for slice in chunk.chunks(STREAM_SLICE) {
            self.buffer.extend_from_slice(slice);
            if self.buffer.len() >= self.scanner.stream_overlap() + STREAM_SLICE {
                self.scan_buffer(false, &mut out);
            }
        }
        Findings::from_unsorted(out)
    }

    /// End of stream: the remaining findings.
    pub fn finish(mut self) -> Findings {
        let mut out = Vec::new();
        self.scan_buffer(true, &mut out);
        Findings::from_unsorted(out)
    }

    /// Bytes currently held (for tests of the memory bound).
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    fn scan_buffer(&mut self, last: bool, out: &mut Vec<Finding>) {
        let cut = if last {
            self.buffer.len()
        } else {
            self.buffer
                .len()
                .saturating_sub(self.scanner.stream_overlap())
        };
        for mut finding in self.scanner.scan(&self.buffer) {
            if finding.start >= cut {
                continue;
            }
            finding.start += self.base;
            finding.end += self.base;
            let repeated = self.emitted.iter().any(|(start, end, rule)| {
                *rule == finding.rule && *start <= finding.start && finding.end <= *end
            });
            if repeated {
                continue;
            }
            self.emitted
                .push((finding.start, finding.end, finding.rule.clone()));
            out.push(finding);
        }
        self.buffer.drain(..cut);
        self.base += cut;
        let base = self.base;
        self.emitted.retain(|(_, end, _)| *end > base);
    }
}
