//! Blobs whose run of alphabet does not start where the encoding does: a
//! URL path's `/`, a prefix like `files/`, `id-`, `ab_` or `0x` joins the
//! run of base64 or hex alphabet and shifts the characters' alignment; a
//! percent-encoded (or `\/`-escaped) blob longer than the context decoded
//! around an escape was cut mid-run. Each was found clean before; each is
//! found now, its span maps back, and redaction scrubs it.

#![allow(clippy::expect_used, reason = "test setup panics on failure")]

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bot_bottle_dlp::{
    DECODE_BUDGET_RULE, DetectorSet, Finding, HeldSecret, Scanner, ScannerConfig,
};

const TOKEN: &str = "tok-9fK2mQ7xLp4RvT8wZb3Nq6Hd";

fn scanner() -> Scanner {
    Scanner::new(ScannerConfig {
        held: vec![HeldSecret::new("EGRESS_TOKEN_TEST", TOKEN)],
        detectors: DetectorSet::default(),
        ..ScannerConfig::default()
    })
    .expect("scanner builds")
}

fn github_token() -> String {
    ["gh", "p_", "Zq8Lm3Nv7Rt2Wx5Yb9Kc4Hd6Fj1Gs0PaE3uT"].concat()
}

fn github_findings(scanner: &Scanner, input: &[u8]) -> Vec<Finding> {
    scanner
        .scan(input)
        .into_vec()
        .into_iter()
        .filter(|finding| finding.rule == "github-pat-classic")
        .collect()
}

fn held_findings(scanner: &Scanner, input: &[u8]) -> Vec<Finding> {
    scanner
        .scan(input)
        .into_vec()
        .into_iter()
        .filter(|finding| finding.rule == "EGRESS_TOKEN_TEST")
        .collect()
}

/// The token is found (inside `blob_span` of `input`, the characters of its
/// encoding), and redacting the input leaves nothing to find.
fn assert_github_found(input: &[u8], blob_span: (usize, usize)) {
    let scanner = scanner();
    let findings = github_findings(&scanner, input);
    assert!(
        !findings.is_empty(),
        "not found in {:?}",
        String::from_utf8_lossy(&input[..input.len().min(200)])
    );
    for finding in &findings {
        assert!(
            finding.start >= blob_span.0 && finding.end <= blob_span.1,
            "{finding:?} outside {blob_span:?}"
        );
    }
    assert_redacts_clean(&scanner, input);
}

fn assert_redacts_clean(scanner: &Scanner, input: &[u8]) {
    let redaction = scanner.redact(input);
    assert!(
        redaction.unredactable.is_empty(),
        "{:?}",
        redaction.unredactable
    );
    let again = scanner.scan(&redaction.bytes);
    assert!(!again.blocks(), "{again:?}");
}

fn token_text() -> Vec<u8> {
    format!("token: {}\n", github_token()).into_bytes()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

#[test]
fn base64_after_a_url_path_slash_is_found() {
    let blob = STANDARD.encode(token_text());
    for head in ["GET /", "GET ?", "GET /files/", "GET /a/", "x=id-", "x=ab_"] {
        let input = format!("{head}{blob} HTTP/1.1\n");
        assert_github_found(input.as_bytes(), (head.len() - 3, head.len() + blob.len()));
    }
}

#[test]
fn a_held_secret_in_base64_of_gzip_after_a_slash_is_found() {
    let scanner = scanner();
    let blob = STANDARD.encode(gzip(format!("secret={TOKEN}").as_bytes()));
    for head in ["GET ?", "GET /", "GET /ab/", "GET /x"] {
        let input = format!("{head}{blob}\n");
        assert!(
            !held_findings(&scanner, input.as_bytes()).is_empty(),
            "{input}"
        );
        assert_redacts_clean(&scanner, input.as_bytes());
    }
}

#[test]
fn a_held_secret_in_base64_of_base64_after_a_slash_is_found() {
    let scanner = scanner();
    let blob = STANDARD.encode(STANDARD.encode(format!("secret={TOKEN}")));
    for head in ["GET ?", "GET /", "GET /a", "GET /ab", "GET /abc"] {
        let input = format!("{head}{blob}\n");
        assert!(
            !held_findings(&scanner, input.as_bytes()).is_empty(),
            "{input}"
        );
        assert_redacts_clean(&scanner, input.as_bytes());
    }
}

/// Every prefix of up to seven alphabet characters, of either base64
/// alphabet or none, before a blob of either alphabet.
#[test]
fn any_short_alphabet_prefix_keeps_the_blob_found() {
    let text = format!(
        "{}\nexport GITHUB_TOKEN={}\nmore text after it\n",
        "The quick brown fox jumps over the lazy dog. ".repeat(3),
        github_token()
    );
    let blobs = [STANDARD.encode(&text), URL_SAFE_NO_PAD.encode(&text)];
    let heads = [
        "", "/", "a", "ab-", "ab_", "Z9", "id-", "x/y", "0x", "abc/", "files/", "ab-cd_e",
        "A1b2C3d", "+", "-_", "__", "abcdefg", "a/b/c/d",
    ];
    for blob in &blobs {
        for head in heads {
            let input = format!("= {head}{blob} ;");
            assert_github_found(input.as_bytes(), (2, 2 + head.len() + blob.len()));
        }
    }
}

#[test]
fn percent_encoded_base64_longer_than_the_context_is_found() {
    let text = format!(
        "{}???\nexport GITHUB_TOKEN={}\n",
        "The quick brown fox jumps over the lazy dog. ".repeat(30),
        github_token()
    );
    let blob = STANDARD.encode(&text);
    let percent: String = blob
        .chars()
        .map(|character| match character {
            '+' => "%2B".to_owned(),
            '/' => "%2F".to_owned(),
            '=' => "%3D".to_owned(),
            other => other.to_string(),
        })
        .collect();
    let input = format!("POST /upload?data={percent} HTTP/1.1\n");
    assert_github_found(input.as_bytes(), (0, input.len()));
    let json = format!(r#"{{"file": "{}"}}"#, blob.replace('/', "\\/"));
    assert_github_found(json.as_bytes(), (0, json.len()));
}

/// The same with real text (this crate's sources, cut at many places and
/// lengths): the first escape lands anywhere in the blob.
#[test]
fn percent_encoded_base64_of_real_text_is_found() {
    let sources: [&[u8]; 4] = [
        include_bytes!("../src/decode.rs"),
        include_bytes!("../src/scanner.rs"),
        include_bytes!("../src/known.rs"),
        include_bytes!("../../../docs/dlp.md"),
    ];
    for source in sources {
        for (start, len) in [
            (0, 1500),
            (3000, 900),
            (5000, 2500),
            (7000, 600),
            (9000, 1200),
        ] {
            let mut text = source[start..start + len].to_vec();
            text.extend_from_slice(format!("\nGITHUB_TOKEN={}\n", github_token()).as_bytes());
            let blob = STANDARD.encode(&text);
            let percent = blob
                .replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D");
            let input = format!("POST /upload?data={percent} HTTP/1.1\n");
            assert_github_found(input.as_bytes(), (0, input.len()));
            let json = format!(r#"{{"file":"{}"}}"#, blob.replace('/', "\\/"));
            assert_github_found(json.as_bytes(), (0, json.len()));
        }
    }
}

/// A held secret in base64 of gzip, percent-encoded, longer than the
/// context: the gzip stream must be decoded from its start.
#[test]
fn percent_encoded_base64_of_gzip_is_found() {
    let scanner = scanner();
    let mut text = Vec::new();
    for index in 0..400u32 {
        text.extend_from_slice(format!("line {index} {}\n", index * 7919 % 1000).as_bytes());
    }
    text.extend_from_slice(format!("secret={TOKEN}\n").as_bytes());
    let blob = STANDARD.encode(gzip(&text));
    assert!(blob.len() > 1200);
    let percent = blob
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let input = format!("POST /upload?data={percent} HTTP/1.1\n");
    assert!(
        !held_findings(&scanner, input.as_bytes()).is_empty(),
        "{input}"
    );
}

#[test]
fn hex_after_0x_is_found() {
    let text = format!("token: {}\naws_key = x\n", github_token());
    let lower: String = text.bytes().map(|byte| format!("{byte:02x}")).collect();
    let upper = lower.to_uppercase();
    for input in [
        format!("0x{lower}"),
        format!("0X{upper}"),
        format!("SELECT 0x{lower} INTO OUTFILE '/tmp/x';"),
        format!("value = 0x{upper};"),
        format!("id-{lower}"),
        format!("a{lower}"),
        format!("z{upper}"),
    ] {
        assert_github_found(input.as_bytes(), (0, input.len()));
    }
}

/// Text with paths, identifiers and URLs is still clean and well inside the
/// budget.
#[test]
fn paths_and_identifiers_stay_clean() {
    let scanner = scanner();
    let mut input = String::new();
    for index in 0..2000 {
        input.push_str(&format!(
            "GET /api/v1/projects/bot-bottle/crates/dlp_src/known_secret_matcher_{index}/Foo_Bar2_baz HTTP/1.1\n\
             see https://example.com/a/b/c/some-long-path-segment_{index}/Index0x1f2e3d4c5b6a?x=1\n\
             0x{index:08x}deadbeefcafebabe0123456789abcdef id-{index:04}abcdefABCDEF0123\n"
        ));
    }
    let findings = scanner.scan(input.as_bytes());
    assert!(
        !findings
            .iter()
            .any(|finding| finding.rule == DECODE_BUDGET_RULE),
        "{findings:?}"
    );
    assert!(findings.is_empty(), "{findings:?}");
}

/// A long image-like binary blob with a path prefix costs no more than the
/// budget.
#[test]
fn a_large_binary_blob_stays_inside_the_budget() {
    let scanner = scanner();
    let binary: Vec<u8> = (0..3_000_000u32)
        .map(|index| (index.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let input = format!(
        r#"{{"type":"image","data":"/{}"}}"#,
        STANDARD.encode(&binary)
    );
    let findings = scanner.scan(input.as_bytes());
    assert!(
        !findings
            .iter()
            .any(|finding| finding.rule == DECODE_BUDGET_RULE),
        "{findings:?}"
    );
}
