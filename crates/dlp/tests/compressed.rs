//! Compressed data inside content: gzip members and zstd frames at any
//! offset, zlib streams at the start of a layer, are inflated (within the
//! decoding budget) and scanned as decoded layers.

#![allow(clippy::expect_used, reason = "test setup panics on failure")]

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bot_bottle_dlp::{Detector, DetectorSet, HeldSecret, Scanner, ScannerConfig};
use proptest::prelude::*;

const CANARY: &str = "c4n4ry-Ux81_Wq2Zr7mK9pLs3Vb6NdYe0TjHa5Fg";

fn scanner() -> Scanner {
    Scanner::new(ScannerConfig {
        held: vec![HeldSecret::new("EGRESS_TOKEN_CANARY", CANARY)],
        detectors: DetectorSet::default(),
        ..ScannerConfig::default()
    })
    .expect("scanner builds")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("zlib");
    encoder.finish().expect("zlib")
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).expect("zstd")
}

/// A config file with the canary among log lines: compressible, so the
/// compressor codes it (a short, incompressible input would be stored
/// raw, and found without decompressing).
fn document() -> Vec<u8> {
    let mut text = String::new();
    for line in 0..60 {
        text.push_str(&format!(
            "2026-12-07T10:{:02}:00Z INFO request served status=200 path=/v1/items/{line}\n",
            line % 60
        ));
        if line == 30 {
            text.push_str(&format!(
                "{{\"config\":{{\"token\":\"{CANARY}\",\"retries\":3}}}}\n"
            ));
        }
    }
    text.into_bytes()
}

/// The canary is found in `input` through the compressed layer `kind`
/// (its finding's encoding names it), and every canary finding lies inside
/// `region` (the compressed bytes, or their encoding).
fn assert_found(input: &[u8], region: (usize, usize), kind: &str, what: &str) {
    let findings = scanner().scan(input);
    let canary: Vec<_> = findings
        .iter()
        .filter(|finding| finding.rule == "EGRESS_TOKEN_CANARY")
        .collect();
    assert!(
        canary.iter().any(|finding| finding.encoding.contains(kind)),
        "{what}: {findings:?}"
    );
    for finding in canary {
        assert!(
            region.0 <= finding.start && finding.end <= region.1,
            "{what}: {finding:?} outside {region:?}"
        );
    }
}

#[test]
fn base64_of_gzip_is_found() {
    let blob = STANDARD.encode(gzip(&document()));
    assert!(blob.starts_with("H4sI"));
    let body = format!("{{\"attachment\":\"{blob}\"}}");
    let start = body.find(&blob).expect("blob");
    assert_found(
        body.as_bytes(),
        (start, start + blob.len()),
        "gzip",
        "base64(gzip)",
    );
}

#[test]
fn base64_of_zlib_is_found() {
    let blob = STANDARD.encode(zlib(&document()));
    assert!(blob.starts_with("eJ"));
    let body = format!("{{\"state\":\"{blob}\"}}");
    let start = body.find(&blob).expect("blob");
    assert_found(
        body.as_bytes(),
        (start, start + blob.len()),
        "zlib",
        "base64(zlib)",
    );
}

#[test]
fn a_bare_gzip_body_and_a_gzip_member_inside_binary_are_found() {
    let compressed = gzip(&document());
    assert_found(&compressed, (0, compressed.len()), "gzip", "gzip body");
    let mut binary: Vec<u8> = (0..500u32).map(|index| (index * 151 % 251) as u8).collect();
    let start = binary.len();
    binary.extend_from_slice(&compressed);
    binary.extend(std::iter::repeat_n(0xA5u8, 300));
    assert_found(
        &binary,
        (start, start + compressed.len()),
        "gzip",
        "gzip in binary",
    );
}

#[test]
fn gzip_of_gzip_is_found() {
    let twice = gzip(&gzip(&document()));
    assert_found(&twice, (0, twice.len()), "gzip in gzip", "gzip(gzip)");
}

#[test]
fn zstd_frames_bare_and_in_base64_are_found() {
    let frame = zstd(&document());
    assert_found(&frame, (0, frame.len()), "zstd", "zstd");
    let blob = STANDARD.encode(&frame);
    let body = format!("{{\"blob\":\"{blob}\"}}");
    let start = body.find(&blob).expect("blob");
    assert_found(
        body.as_bytes(),
        (start, start + blob.len()),
        "zstd",
        "base64(zstd)",
    );
}

#[test]
fn compressed_text_without_secrets_is_clean() {
    let text: Vec<u8> = b"fn main() { println!(\"hello, world\"); }\n"
        .iter()
        .copied()
        .cycle()
        .take(100_000)
        .collect();
    let scanner = scanner();
    for compressed in [gzip(&text), zlib(&text), zstd(&text)] {
        let body = format!("{{\"data\":\"{}\"}}", STANDARD.encode(&compressed));
        assert!(scanner.scan(&compressed).is_empty());
        assert!(scanner.scan(body.as_bytes()).is_empty());
    }
}

proptest! {
    /// Random binary with an accidental gzip, zstd or zlib header (and
    /// pieces of real streams, truncated) never panics, and every finding
    /// lies inside the input.
    #[test]
    fn accidental_magic_in_random_binary_does_not_panic(
        noise in proptest::collection::vec(any::<u8>(), 0..600),
        at in any::<prop::sample::Index>(),
        magic in 0usize..5,
        cut in any::<prop::sample::Index>(),
    ) {
        let real = match magic {
            0 => vec![0x1f, 0x8b, 0x08],
            1 => vec![0x28, 0xb5, 0x2f, 0xfd],
            2 => vec![0x78, 0x9c],
            3 => gzip(&document()),
            _ => zstd(&document()),
        };
        let real = &real[..cut.index(real.len()) + 1];
        let mut input = noise.clone();
        let at = if input.is_empty() { 0 } else { at.index(input.len()) };
        input.splice(at..at, real.iter().copied());
        let scanner = scanner();
        for data in [input.clone(), [real, &noise[..]].concat()] {
            for finding in &scanner.scan(&data) {
                prop_assert!(finding.start <= finding.end && finding.end <= data.len());
            }
            bot_bottle_dlp::fuzzing::decode(&data);
        }
    }
}

/// Only `known`: the same with another detector set.
#[test]
fn known_only_finds_the_compressed_canary_too() {
    let scanner = Scanner::new(ScannerConfig {
        held: vec![HeldSecret::new("EGRESS_TOKEN_CANARY", CANARY)],
        detectors: DetectorSet::empty().with(Detector::Known),
        ..ScannerConfig::default()
    })
    .expect("scanner builds");
    let findings = scanner.scan(&gzip(&document()));
    assert!(
        findings
            .iter()
            .any(|finding| finding.rule == "EGRESS_TOKEN_CANARY"),
        "{findings:?}"
    );
}

/// Binary data (an image in a pushed repo) that happens to hold the zstd
/// magic, followed by bytes that declare a huge window, is not reported:
/// only a frame that starts its input is refused for its window.
#[test]
fn an_accidental_zstd_magic_in_binary_is_not_a_finding() {
    let mut binary: Vec<u8> = (0..4096u32)
        .map(|index| (index * 151 % 251) as u8)
        .collect();
    // The magic, then a window descriptor of 2^41 bytes, then noise.
    let at = 1000;
    binary[at..at + 6].copy_from_slice(&[0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xf8]);
    let findings = scanner().scan(&binary);
    assert!(findings.is_empty(), "{findings:?}");
    // The same frame header starting the input is refused.
    let findings = scanner().scan(&binary[at..]);
    assert!(
        findings
            .iter()
            .any(|finding| finding.rule == bot_bottle_dlp::DECODE_BUDGET_RULE),
        "{findings:?}"
    );
}
