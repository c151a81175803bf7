//! Decompression bombs: compressed data that expands far past the decoding
//! budget is refused with the budget finding, quickly and without large
//! allocations. One test in its own binary, so the counting allocator
//! below sees only this scan.

#![allow(clippy::expect_used, reason = "test setup panics on failure")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bot_bottle_dlp::{DECODE_BUDGET_RULE, DetectorSet, HeldSecret, Scanner, ScannerConfig};

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counters are only statistics.
#[allow(unsafe_code, reason = "a counting global allocator for the test")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `alloc` above with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// `total` zero bytes gzip-compressed as one member, fed in 1 MiB chunks.
fn gzip_zeros(total: usize) -> Vec<u8> {
    let chunk = vec![0u8; 1 << 20];
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..total / chunk.len() {
        encoder.write_all(&chunk).expect("gzip");
    }
    encoder.finish().expect("gzip")
}

fn zstd_zeros(total: usize) -> Vec<u8> {
    let chunk = vec![0u8; 1 << 20];
    let mut encoder = zstd::Encoder::new(Vec::new(), 1).expect("zstd");
    encoder
        .set_pledged_src_size(Some(total as u64))
        .expect("pledged size");
    for _ in 0..total / chunk.len() {
        encoder.write_all(&chunk).expect("zstd");
    }
    encoder.finish().expect("zstd")
}

#[test]
fn decompression_bombs_hit_the_budget_quickly_and_in_little_memory() {
    let scanner = Scanner::new(ScannerConfig {
        held: vec![HeldSecret::new(
            "EGRESS_TOKEN_CANARY",
            "c4n4ry-Ux81_Wq2Zr7mK9pLs3Vb6NdYe0TjHa5Fg",
        )],
        detectors: DetectorSet::default(),
        ..ScannerConfig::default()
    })
    .expect("scanner builds");
    // 1 GiB in about 1 MB: 1024 gzip members of 1 MiB of zeros each (a
    // multi-member gzip file), one gzip member of 64 MiB, one zstd frame
    // of 1 GiB, and base64 of the 64 MiB member.
    let member = gzip_zeros(1 << 20);
    let members = member.repeat(1024);
    let big = gzip_zeros(64 << 20);
    let frame = zstd_zeros(1 << 30);
    let in_base64 = format!("{{\"data\":\"{}\"}}", STANDARD.encode(&big)).into_bytes();
    assert!(members.len() < 2 << 20, "{}", members.len());
    for (what, bomb) in [
        ("1024 gzip members", members),
        ("one gzip member", big),
        ("zstd frame", frame),
        ("base64 of gzip", in_base64),
    ] {
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let findings = scanner.scan(&bomb);
        let elapsed = started.elapsed();
        let peak = PEAK.load(Ordering::Relaxed) - before;
        eprintln!(
            "{what}: {} bytes, {elapsed:?}, peak {peak} bytes",
            bomb.len()
        );
        assert!(
            findings
                .iter()
                .any(|finding| finding.rule == DECODE_BUDGET_RULE && !finding.redactable),
            "{what}: {findings:?}"
        );
        // The budget is 8x the input (at least 1 MiB); the scan's other
        // buffers are a few times the input. Far below the expansion.
        let limit = 64 * bomb.len().max(1 << 20);
        assert!(peak < limit, "{what}: peak {peak} bytes, limit {limit}");
        assert!(
            elapsed < std::time::Duration::from_secs(20),
            "{what}: {elapsed:?}"
        );
    }
}
