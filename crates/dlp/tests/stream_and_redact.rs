//! Streaming (every chunk-boundary position), redaction (redact then
//! re-scan is clean, as a property), request heads and CRLF, Unicode
//! evasion and entropy.

#![allow(clippy::expect_used, reason = "test setup panics on failure")]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bot_bottle_dlp::{
    Detector, DetectorSet, Finding, HeldSecret, Location, REDACTION_MARK, STREAM_SLICE, Scanner,
    ScannerConfig, Severity, strip_crlf,
};
use proptest::prelude::*;

const TOKEN: &str = "tk_Qm7ZpX2vR9sLw4NcB8yKd3JfH6gT1aEo";
const CANARY: &str = "c4n4ry-Ux81_Wq2Zr7mK9pLs3Vb6NdYe0TjHa5Fg";

fn scanner(detectors: DetectorSet) -> Scanner {
    Scanner::new(ScannerConfig {
        held: vec![
            HeldSecret::new("EGRESS_TOKEN_GITHUB", TOKEN),
            HeldSecret::new("EGRESS_TOKEN_CANARY", CANARY),
        ],
        detectors,
        ..ScannerConfig::default()
    })
    .expect("scanner builds")
}

fn summary(findings: &[Finding]) -> Vec<(String, usize, usize)> {
    findings
        .iter()
        .map(|finding| (finding.rule.clone(), finding.start, finding.end))
        .collect()
}

fn github_token() -> String {
    ["gh", "p_", "Zq3xR8mT2vLp9WnB4cYd7KsF1hJg6AeU0oXi"].concat()
}

#[test]
fn every_chunk_boundary_position_finds_the_same_findings_as_one_scan() {
    let scanner = scanner(DetectorSet::default());
    let input = format!(
        "{{\"text\":\"deploy with {TOKEN} now\",\"b\":\"{}\",\"gh\":\"{}\"}}",
        STANDARD.encode(CANARY),
        github_token()
    );
    let whole = summary(&scanner.scan(input.as_bytes()));
    assert_eq!(
        whole
            .iter()
            .map(|(rule, _, _)| rule.as_str())
            .collect::<Vec<_>>(),
        vec![
            "EGRESS_TOKEN_GITHUB",
            "EGRESS_TOKEN_CANARY",
            "github-pat-classic"
        ]
    );
    for split in 0..=input.len() {
        let mut stream = scanner.stream();
        let mut found = stream.feed(&input.as_bytes()[..split]).into_vec();
        found.extend(stream.feed(&input.as_bytes()[split..]).into_vec());
        found.extend(stream.finish().into_vec());
        assert_eq!(summary(&found), whole, "split at {split}");
    }
}

#[test]
fn matches_straddling_real_slice_boundaries_in_a_long_stream() {
    let scanner = scanner(DetectorSet::default());
    let mut input = vec![b'.'; 3 * STREAM_SLICE];
    let positions = [
        STREAM_SLICE - 10,
        2 * STREAM_SLICE - 3,
        3 * STREAM_SLICE - TOKEN.len() - 1,
    ];
    for position in positions {
        input[position..position + TOKEN.len()].copy_from_slice(TOKEN.as_bytes());
    }
    let mut stream = scanner.stream();
    let mut found = Vec::new();
    for chunk in input.chunks(1000) {
        found.extend(stream.feed(chunk).into_vec());
        assert!(stream.buffered() <= scanner.stream_overlap() + 2 * STREAM_SLICE);
    }
    found.extend(stream.finish().into_vec());
    let starts: Vec<usize> = found.iter().map(|finding| finding.start).collect();
    assert_eq!(starts, positions.to_vec());
}

#[test]
fn redaction_scrubs_and_the_rescan_is_clean() {
    let scanner = scanner(DetectorSet::default());
    let input = format!(
        "a={TOKEN}&b={}&c={}",
        STANDARD.encode(CANARY),
        github_token()
    );
    let redaction = scanner.redact(input.as_bytes());
    assert!(
        redaction.unredactable.is_empty(),
        "{:?}",
        redaction.unredactable
    );
    let text = String::from_utf8(redaction.bytes.clone()).expect("utf-8");
    assert_eq!(
        text.matches(std::str::from_utf8(REDACTION_MARK).expect("ascii"))
            .count(),
        3,
        "{text}"
    );
    assert!(text.starts_with("a=[REDACTED]&b="), "{text}");
    assert!(scanner.scan(&redaction.bytes).is_empty());
}

#[test]
fn unicode_evasion_is_found_and_not_redactable() {
    let scanner = scanner(DetectorSet::default());
    let fullwidth: String = TOKEN
        .chars()
        .map(|character| {
            char::from_u32(character as u32 + 0xFEE0)
                .filter(|_| character.is_ascii_alphanumeric())
                .unwrap_or(character)
        })
        .collect();
    let zero_width: String = github_token()
        .chars()
        .flat_map(|character| [character, '\u{200B}'])
        .collect();
    let cyrillic = TOKEN.replace('o', "о").replace('a', "а");
    for input in [fullwidth, zero_width, cyrillic] {
        let findings = scanner.scan(input.as_bytes());
        let evasion: Vec<&Finding> = findings
            .iter()
            .filter(|finding| finding.detector == Detector::Unicode)
            .collect();
        assert_eq!(evasion.len(), 1, "{input}: {findings:?}");
        assert_eq!(evasion[0].rule, "unicode-evasion");
        assert!(!evasion[0].redactable);
        let redaction = scanner.redact(input.as_bytes());
        assert!(
            redaction
                .unredactable
                .iter()
                .any(|finding| finding.detector == Detector::Unicode)
        );
    }
    let plain = scanner.scan("naïve café résumé — “quoted” ½".as_bytes());
    assert!(plain.is_empty(), "{plain:?}");
}

#[test]
fn request_head_crlf_raw_and_encoded_but_never_in_bodies() {
    let scanner = scanner(DetectorSet::default());
    let headers = vec![
        ("Host".to_string(), "api.example.com".to_string()),
        ("X-Note".to_string(), "a%0d%0aInjected: yes".to_string()),
        ("Authorization".to_string(), format!("Bearer {TOKEN}")),
    ];
    let findings = scanner.scan_request_head("GET /path%0A HTTP/1.1", &headers);
    let located: Vec<(Detector, Location)> = findings
        .iter()
        .map(|finding| (finding.detector, finding.location))
        .collect();
    assert_eq!(
        located,
        vec![
            (Detector::Crlf, Location::RequestLine),
            (
                Detector::Crlf,
                Location::Header {
                    index: 1,
                    in_name: false
                }
            ),
            (
                Detector::Crlf,
                Location::Header {
                    index: 1,
                    in_name: false
                }
            ),
            (
                Detector::Known,
                Location::Header {
                    index: 2,
                    in_name: false
                }
            ),
        ]
    );
    assert!(
        findings
            .iter()
            .filter(|finding| finding.detector == Detector::Crlf)
            .all(|finding| !finding.redactable)
    );
    // A body with CRLF, raw or encoded, is clean.
    assert!(scanner.scan(b"line one\r\nline two%0D%0Aa=b").is_empty());
    // Without the crlf detector the head is not checked for it.
    let no_crlf = self::scanner(DetectorSet::default().without(Detector::Crlf));
    assert!(
        no_crlf
            .scan_request_head("GET /a%0d%0a HTTP/1.1", &[])
            .is_empty()
    );
    assert_eq!(strip_crlf("GET /a%0d%0aX: y\r\n"), "GET /aX: y");
}

/// A header name is the sender's choice as much as a value: a held secret
/// (here hex-encoded) as a name is found, placed in that name, and cannot
/// be redacted.
#[test]
fn request_head_names_are_scanned_and_unredactable() {
    let scanner = scanner(DetectorSet::default());
    let hex: String = CANARY.bytes().map(|byte| format!("{byte:02x}")).collect();
    let headers = vec![
        ("accept".to_string(), "*/*".to_string()),
        (format!("x-{hex}"), "1".to_string()),
        ("user-agent".to_string(), "curl/8".to_string()),
    ];
    let findings = scanner.scan_request_head("GET / HTTP/1.1", &headers);
    let found: Vec<(Detector, Location, usize, usize)> = findings
        .iter()
        .map(|finding| {
            (
                finding.detector,
                finding.location,
                finding.start,
                finding.end,
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![(
            Detector::Known,
            Location::Header {
                index: 1,
                in_name: true
            },
            2,
            2 + hex.len()
        )]
    );
    let redaction = scanner.redact_request_head("GET / HTTP/1.1", &headers);
    assert_eq!(redaction.unredactable.len(), 1);
    assert!(
        scanner
            .scan_request_head("GET / HTTP/1.1", &headers[..1])
            .is_empty()
    );
}

/// A held secret spread over the head in wire order, its pieces
/// alternating between header names and values (`x-<piece 1>: <piece 2>`,
/// `x-<piece 3>: <piece 4>`, …; names lower-case, as HTTP/2 and hyper give
/// them): no single part holds a partial match, neither do the names or the
/// values joined alone; the head read in wire order does.
#[test]
fn a_secret_alternating_between_header_names_and_values_is_found() {
    let scanner = scanner(DetectorSet::default());
    let hex: String = CANARY.bytes().map(|byte| format!("{byte:02x}")).collect();
    let pieces: Vec<&str> = (0..hex.len())
        .step_by(10)
        .map(|start| &hex[start..(start + 10).min(hex.len())])
        .collect();
    let mut headers = vec![("accept".to_string(), "*/*".to_string())];
    for pair in pieces.chunks(2) {
        let name = format!("x-{}", pair[0]);
        let value = pair.get(1).copied().unwrap_or("1").to_string();
        headers.push((name, value));
    }
    headers.push(("user-agent".to_string(), "curl/8".to_string()));
    let findings = scanner.scan_request_head("GET / HTTP/1.1", &headers);
    assert!(
        findings
            .iter()
            .any(|finding| finding.rule == "EGRESS_TOKEN_CANARY"
                && finding.location == Location::Head
                && !finding.redactable),
        "{findings:?}"
    );
    let redaction = scanner.redact_request_head("GET / HTTP/1.1", &headers);
    assert!(
        redaction
            .unredactable
            .iter()
            .any(|finding| finding.rule == "EGRESS_TOKEN_CANARY"),
        "{:?}",
        redaction.unredactable
    );
    // Ordinary heads stay clean.
    let ordinary = vec![
        ("host".to_string(), "api.example.com".to_string()),
        ("x-request-id".to_string(), "0123456789".to_string()),
        ("content-type".to_string(), "application/json".to_string()),
    ];
    assert!(
        scanner
            .scan_request_head("POST /v1/messages HTTP/1.1", &ordinary)
            .is_empty()
    );
}

#[test]
fn redact_request_head_scrubs_values_and_reports_crlf() {
    let scanner = scanner(DetectorSet::default());
    let headers = vec![("Authorization".to_string(), format!("Bearer {TOKEN}"))];
    let redaction = scanner.redact_request_head(&format!("GET /?t={CANARY}%0d HTTP/1.1"), &headers);
    assert_eq!(redaction.request_line, "GET /?t=[REDACTED]%0d HTTP/1.1");
    assert_eq!(redaction.headers[0].1, "Bearer [REDACTED]");
    let kinds: Vec<Detector> = redaction
        .unredactable
        .iter()
        .map(|finding| finding.detector)
        .collect();
    assert_eq!(kinds, vec![Detector::Crlf]);
}

#[test]
fn entropy_is_warn_only_and_only_when_listed() {
    let noisy: String = (0..80u32)
        .map(|index| (b'!' + ((index * 37) % 94) as u8) as char)
        .filter(|character| !matches!(character, '"' | '\'' | '`'))
        .collect();
    let default = scanner(DetectorSet::default());
    assert!(default.scan(noisy.as_bytes()).is_empty());
    let with_entropy = scanner(DetectorSet::default().with(Detector::Entropy));
    let findings = with_entropy.scan(noisy.as_bytes());
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].severity, Severity::Warn);
    assert!(!findings.blocks());
    let redaction = with_entropy.redact(noisy.as_bytes());
    assert_eq!(
        redaction.bytes,
        noisy.as_bytes(),
        "warnings are not scrubbed"
    );
    assert!(redaction.unredactable.is_empty());
}

fn secret_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(TOKEN.to_string()),
        Just(CANARY.to_string()),
        Just(STANDARD.encode(TOKEN)),
        Just(
            TOKEN
                .bytes()
                .map(|byte| format!("%{byte:02x}"))
                .collect::<String>()
        ),
        Just(
            TOKEN
                .chars()
                .flat_map(|character| [character, ' '])
                .collect::<String>()
        ),
        Just(github_token()),
        Just(TOKEN[3..3 + 14].to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn redact_then_rescan_is_clean(
        pieces in proptest::collection::vec(("[ -~\n]{0,40}", secret_strategy()), 1..4),
        tail in "[ -~]{0,20}",
    ) {
        let scanner = scanner(DetectorSet::default());
        let mut input = String::new();
        for (filler, secret) in &pieces {
            input.push_str(filler);
            input.push_str(secret);
        }
        input.push_str(&tail);
        let redaction = scanner.redact(input.as_bytes());
        prop_assert!(redaction.unredactable.is_empty(), "unredactable: {:?}", redaction.unredactable);
        prop_assert!(scanner.scan(&redaction.bytes).is_empty());
    }

    #[test]
    fn any_split_of_any_input_streams_like_one_scan(
        prefix in "[ -~]{0,64}",
        suffix in "[ -~]{0,64}",
        split in 0usize..200,
    ) {
        let scanner = scanner(DetectorSet::default());
        let input = format!("{prefix}{TOKEN}{suffix}");
        let whole = summary(&scanner.scan(input.as_bytes()));
        let split = split.min(input.len());
        let mut stream = scanner.stream();
        let mut found = stream.feed(&input.as_bytes()[..split]).into_vec();
        found.extend(stream.feed(&input.as_bytes()[split..]).into_vec());
        found.extend(stream.finish().into_vec());
        prop_assert_eq!(summary(&found), whole);
    }
}
