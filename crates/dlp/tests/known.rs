//! Held secrets: one test per encoding, separators, partial chunks, approved
//! values, and the shapes of findings.

#![allow(clippy::expect_used, reason = "test setup panics on failure")]

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use bot_bottle_dlp::{
    Detector, DetectorSet, Finding, HeldSecret, PARTIAL_MATCH_MIN_LEN, Scanner, ScannerConfig,
};
use bot_bottle_secret::Redacted;

/// A random-looking held token (not a real credential).
const TOKEN: &str = "tk_Qm7ZpX2vR9sLw4NcB8yKd3JfH6gT1aEo";
const CANARY: &str = "c4n4ry-Ux81_Wq2Zr7mK9pLs3Vb6NdYe0TjHa5Fg";

fn scanner_with(detectors: DetectorSet, safe: &[&str]) -> Scanner {
    Scanner::new(ScannerConfig {
        held: vec![
            HeldSecret::new("EGRESS_TOKEN_GITHUB", TOKEN),
            HeldSecret::new("EGRESS_TOKEN_CANARY", CANARY),
        ],
        detectors,
        safe_values: safe
            .iter()
            .map(|value| Redacted::new((*value).to_string()))
            .collect(),
        extra_rules: Vec::new(),
    })
    .expect("scanner builds")
}

fn known_only() -> Scanner {
    scanner_with(DetectorSet::empty().with(Detector::Known), &[])
}

fn found(scanner: &Scanner, input: &[u8]) -> Vec<(String, String)> {
    scanner
        .scan(input)
        .iter()
        .map(|finding| (finding.rule.clone(), finding.encoding.clone()))
        .collect()
}

fn assert_found(input: &[u8], rule: &str, encoding: &str) {
    let findings = found(&known_only(), input);
    assert!(
        findings
            .iter()
            .any(|(found_rule, found_encoding)| found_rule == rule && found_encoding == encoding),
        "expected {rule} ({encoding}) in {:?}; found {findings:?}",
        String::from_utf8_lossy(input)
    );
}

fn percent_all(value: &str) -> String {
    value.bytes().map(|byte| format!("%{byte:02X}")).collect()
}

#[test]
fn raw() {
    assert_found(
        format!("{{\"auth\":\"{TOKEN}\"}}").as_bytes(),
        "EGRESS_TOKEN_GITHUB",
        "raw",
    );
    assert_found(CANARY.as_bytes(), "EGRESS_TOKEN_CANARY", "raw");
}

#[test]
fn base64_standard_and_url_safe_padded_or_not_at_every_alignment() {
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        for prefix in 0..6 {
            let mut blob = b"attachment:".to_vec();
            blob.extend(std::iter::repeat_n(0xA5u8, prefix));
            blob.extend_from_slice(TOKEN.as_bytes());
            blob.extend_from_slice(b"\x00\xff trailing bytes");
            let encoded = engine.encode(&blob);
            assert_found(
                format!("data: {encoded}").as_bytes(),
                "EGRESS_TOKEN_GITHUB",
                "base64",
            );
        }
        assert_found(
            engine.encode(TOKEN).as_bytes(),
            "EGRESS_TOKEN_GITHUB",
            "base64",
        );
    }
}

#[test]
fn hex_either_case() {
    let lower: String = TOKEN.bytes().map(|byte| format!("{byte:02x}")).collect();
    assert_found(lower.as_bytes(), "EGRESS_TOKEN_GITHUB", "hex");
    assert_found(
        lower.to_uppercase().as_bytes(),
        "EGRESS_TOKEN_GITHUB",
        "hex",
    );
}

#[test]
fn base32_at_every_alignment() {
    for prefix in 0..5 {
        let mut blob = vec![b'z'; prefix];
        blob.extend_from_slice(TOKEN.as_bytes());
        let encoded = data_encoding_base32(&blob);
        assert_found(encoded.as_bytes(), "EGRESS_TOKEN_GITHUB", "base32");
    }
}

fn data_encoding_base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut accumulator: u64 = 0;
    let mut bits = 0;
    for &byte in bytes {
        accumulator = (accumulator << 8) | u64::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((accumulator >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((accumulator << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[test]
fn percent_encoding_full_and_partial() {
    let full = percent_all(TOKEN);
    let findings = found(&known_only(), full.as_bytes());
    assert!(
        findings
            .iter()
            .any(|(rule, _)| rule == "EGRESS_TOKEN_GITHUB"),
        "{findings:?}"
    );
    let partial = format!("q={}%5F{}", &TOKEN[..2], &TOKEN[3..]);
    assert_found(
        partial.as_bytes(),
        "EGRESS_TOKEN_GITHUB",
        "raw in percent-encoding",
    );
    let mixed: String = TOKEN
        .bytes()
        .enumerate()
        .map(|(index, byte)| {
            if index % 3 == 0 {
                format!("%{byte:02x}")
            } else {
                (byte as char).to_string()
            }
        })
        .collect();
    assert_found(
        mixed.as_bytes(),
        "EGRESS_TOKEN_GITHUB",
        "raw in percent-encoding",
    );
}

#[test]
fn json_unicode_escapes() {
    let escaped: String = TOKEN
        .chars()
        .map(|character| format!("\\u{:04x}", character as u32))
        .collect();
    assert_found(
        format!("{{\"k\":\"{escaped}\"}}").as_bytes(),
        "EGRESS_TOKEN_GITHUB",
        "raw in JSON escapes",
    );
}

#[test]
fn html_numeric_entities() {
    let decimal: String = TOKEN.bytes().map(|byte| format!("&#{byte};")).collect();
    assert_found(
        decimal.as_bytes(),
        "EGRESS_TOKEN_GITHUB",
        "raw in HTML entities",
    );
    let hex: String = TOKEN.bytes().map(|byte| format!("&#x{byte:x};")).collect();
    assert_found(
        hex.as_bytes(),
        "EGRESS_TOKEN_GITHUB",
        "raw in HTML entities",
    );
}

fn assert_rule_found(input: &str, rule: &str) {
    let findings = found(&known_only(), input.as_bytes());
    assert!(
        findings.iter().any(|(found_rule, _)| found_rule == rule),
        "expected {rule} in {input:?}; found {findings:?}"
    );
}

/// `TOKEN` with every other character (odd offsets) replaced by `escape`
/// of it, so neither the raw value nor its hex (which a percent escape of
/// every byte projects to) is a run of the window's length.
fn every_other(escape: impl Fn(usize, u8) -> String) -> String {
    TOKEN
        .bytes()
        .enumerate()
        .map(|(index, byte)| {
            if index % 2 == 0 {
                char::from(byte).to_string()
            } else {
                escape(index, byte)
            }
        })
        .collect()
}

/// A secret whose characters are percent, JSON and HTML escapes by turns
/// (each decoding leaves the others' escapes for the next layer), in every
/// rotation of the three.
#[test]
fn percent_json_and_html_escapes_mixed_in_one_secret() {
    let schemes: [fn(u8) -> String; 3] = [
        |byte| format!("%{byte:02X}"),
        |byte| format!("\\u{byte:04x}"),
        |byte| format!("&#{byte};"),
    ];
    for rotation in 0..3 {
        let mixed = every_other(|index, byte| schemes[(index / 2 + rotation) % 3](byte));
        assert_rule_found(&mixed, "EGRESS_TOKEN_GITHUB");
    }
}

/// Escapes that decoding makes: a JSON escape that decodes to `%` in front
/// of two hex digits, an HTML entity for `%`, a percent-escaped `&#`, and a
/// percent-escaped backslash in front of `u00XX`.
#[test]
fn escapes_made_by_decoding_are_decoded_in_turn() {
    for made in [
        every_other(|_, byte| format!("\\u0025{byte:02X}")),
        every_other(|_, byte| format!("&#37;{byte:02X}")),
        every_other(|_, byte| format!("%26%23{byte};")),
        every_other(|_, byte| format!("%5Cu{byte:04x}")),
    ] {
        assert_rule_found(&made, "EGRESS_TOKEN_GITHUB");
    }
}

#[test]
fn nested_base64_of_base64_and_hex_of_base64() {
    let once = STANDARD.encode(TOKEN);
    let twice = STANDARD.encode(&once);
    let findings = found(&known_only(), twice.as_bytes());
    assert!(
        findings.contains(&(
            "EGRESS_TOKEN_GITHUB".to_string(),
            "base64 in base64".to_string()
        )),
        "{findings:?}"
    );
    let thrice = STANDARD.encode(&twice);
    let findings = found(&known_only(), thrice.as_bytes());
    assert!(
        findings
            .iter()
            .any(|(rule, _)| rule == "EGRESS_TOKEN_GITHUB"),
        "{findings:?}"
    );
    let hex_of_base64: String = once.bytes().map(|byte| format!("{byte:02x}")).collect();
    let findings = found(&known_only(), hex_of_base64.as_bytes());
    assert!(
        findings.contains(&(
            "EGRESS_TOKEN_GITHUB".to_string(),
            "base64 in hex".to_string()
        )),
        "{findings:?}"
    );
}

#[test]
fn separators_and_json_array_splits_are_projected_away() {
    let dashed: String = TOKEN
        .chars()
        .flat_map(|character| [character, '-'])
        .collect();
    assert_found(dashed.as_bytes(), "EGRESS_TOKEN_GITHUB", "separated");
    let split = format!(
        "[\"{}\", \"{}\",\n \"{}\"]",
        &TOKEN[..10],
        &TOKEN[10..20],
        &TOKEN[20..]
    );
    assert_found(split.as_bytes(), "EGRESS_TOKEN_GITHUB", "separated");
    let json_newlines = format!("\"{}\\n{}\"", &TOKEN[..17], &TOKEN[17..]);
    assert_found(json_newlines.as_bytes(), "EGRESS_TOKEN_GITHUB", "separated");
}

#[test]
fn sliding_window_finds_a_chunk_of_the_minimum_length_but_not_shorter() {
    let chunk = &TOKEN[5..5 + PARTIAL_MATCH_MIN_LEN];
    assert_found(
        format!("first part: {chunk} ...").as_bytes(),
        "EGRESS_TOKEN_GITHUB",
        "partial",
    );
    let shorter = &TOKEN[5..5 + PARTIAL_MATCH_MIN_LEN - 1];
    assert!(
        found(
            &known_only(),
            format!("first part: {shorter} ...").as_bytes()
        )
        .is_empty()
    );
}

#[test]
fn findings_mask_the_secret_and_carry_the_matched_bytes() {
    let input = format!("Authorization: Bearer {TOKEN}\r\n");
    let findings = known_only().scan(input.as_bytes());
    assert_eq!(findings.len(), 1, "{findings:?}");
    let finding: &Finding = &findings[0];
    assert_eq!(&input[finding.start..finding.end], TOKEN);
    assert_eq!(finding.preview, "tk***Eo(35 chars)");
    assert_eq!(finding.matched.expose().as_slice(), TOKEN.as_bytes());
    assert!(finding.redactable);
    let debug = format!("{findings:?}");
    assert!(!debug.contains(&TOKEN[3..20]), "{debug}");
}

#[test]
fn approved_values_are_skipped_and_scanning_continues_past_them() {
    let scanner = scanner_with(DetectorSet::default(), &[TOKEN]);
    let input = format!("a={TOKEN}&b={CANARY}");
    let findings = found(&scanner, input.as_bytes());
    assert_eq!(
        findings,
        vec![("EGRESS_TOKEN_CANARY".to_string(), "raw".to_string())]
    );
}

#[test]
fn an_approved_held_secret_skips_the_projection_passes_for_it() {
    // The seed's fix: a safe value equal to a held secret must not be
    // re-blocked by the projection (separated) or window (partial) passes.
    let scanner = scanner_with(DetectorSet::default(), &[TOKEN]);
    let dashed: String = TOKEN
        .chars()
        .flat_map(|character| [character, '-'])
        .collect();
    let input = format!("{TOKEN} {dashed} {}", &TOKEN[4..20]);
    assert!(found(&scanner, input.as_bytes()).is_empty());
    // … but its base64 is still a finding, as is the other secret.
    let input = format!("{} {CANARY}", STANDARD.encode(TOKEN));
    let rules: Vec<String> = found(&scanner, input.as_bytes())
        .into_iter()
        .map(|(rule, _)| rule)
        .collect();
    assert_eq!(rules, vec!["EGRESS_TOKEN_GITHUB", "EGRESS_TOKEN_CANARY"]);
}

#[test]
fn with_extra_safe_values_approves_at_runtime() {
    let scanner = scanner_with(DetectorSet::default(), &[]);
    let input = format!("x {CANARY} y");
    let findings = scanner.scan(input.as_bytes());
    assert_eq!(findings.len(), 1);
    let approved = findings[0].matched.expose().clone();
    let updated = scanner
        .with_extra_safe_values([Redacted::new(String::from_utf8(approved).expect("utf-8"))])
        .expect("rebuilds");
    assert!(updated.scan(input.as_bytes()).is_empty());
    assert_eq!(
        scanner.scan(input.as_bytes()).len(),
        1,
        "the original scanner is unchanged"
    );
}

#[test]
fn short_held_secrets_are_matched_exactly() {
    let scanner = Scanner::new(ScannerConfig {
        held: vec![HeldSecret::new("EGRESS_TOKEN_PIN", "pin-4242")],
        ..ScannerConfig::default()
    })
    .expect("builds");
    let findings = found(&scanner, b"the pin is pin-4242.");
    assert_eq!(
        findings,
        vec![("EGRESS_TOKEN_PIN".to_string(), "raw".to_string())]
    );
    assert!(found(&scanner, b"the pin is pin 4242.").is_empty());
}

#[test]
fn an_empty_held_secret_is_a_configuration_error() {
    let error = Scanner::new(ScannerConfig {
        held: vec![HeldSecret::new("EGRESS_TOKEN_EMPTY", "")],
        ..ScannerConfig::default()
    })
    .expect_err("empty secret");
    assert_eq!(error.to_string(), "held secret EGRESS_TOKEN_EMPTY is empty");
}

#[test]
fn scanner_is_send_and_sync_and_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Scanner>();
    let scanner = known_only();
    let input = TOKEN.to_string();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| assert_eq!(scanner.scan(input.as_bytes()).len(), 1));
        }
    });
}

/// Limiting the vector paths changes nothing a scan finds (the portable
/// and AVX2 code are the fallbacks of CPUs without AVX-512 or AVX2). The
/// limit is process-wide: this test binary's other tests may run on either.
#[test]
fn every_vector_limit_finds_the_same() {
    use bot_bottle_dlp::{VectorPaths, limit_vector_paths};
    let mut input = String::from("{\"text\":\"see \\u0041 and %41%42 &#65; ");
    input.push_str(&STANDARD.encode(TOKEN));
    input.push_str("\", \"key\":\"sk-ant-api03-");
    input.push_str(&"Ab9_".repeat(24));
    input.push_str("AA\", \"dashed\":\"");
    input.push_str(&TOKEN.chars().map(|c| format!("{c}-")).collect::<String>());
    input.push_str("\"}");
    let input = input.repeat(40);
    let scanner = scanner_with(DetectorSet::all().with(Detector::Entropy), &[]);
    let spans = || -> Vec<(usize, usize, String, String)> {
        scanner
            .scan(input.as_bytes())
            .iter()
            .map(|finding| {
                (
                    finding.start,
                    finding.end,
                    finding.rule.clone(),
                    finding.encoding.clone(),
                )
            })
            .collect()
    };
    let widest = spans();
    assert!(widest.len() >= 80, "{widest:?}");
    limit_vector_paths(VectorPaths::Avx2);
    let avx2 = spans();
    limit_vector_paths(VectorPaths::Portable);
    let portable = spans();
    limit_vector_paths(VectorPaths::Avx512);
    assert_eq!(avx2, widest);
    assert_eq!(portable, widest);
}

/// Padding an input with cheap escapes spends the decoding budget before
/// the payload is reached; the payload then goes unread. That is reported,
/// blocking and unredactable, instead of the input passing as clean.
#[test]
fn an_input_that_spends_the_decoding_budget_is_not_called_clean() {
    let scanner = known_only();
    // The canary, every fourth character percent-encoded, inside base64.
    let encoded: String = CANARY
        .chars()
        .enumerate()
        .map(|(index, character)| {
            if index % 4 == 3 {
                format!("%{:02X}", character as u32)
            } else {
                character.to_string()
            }
        })
        .collect();
    let inner = format!("{}{encoded}", format!("%20{}", " ".repeat(900)).repeat(20));
    let payload = STANDARD.encode(inner);
    // Without padding it is found, in its nested encoding.
    let alone = scanner.scan(payload.as_bytes());
    assert!(
        alone
            .iter()
            .any(|finding| finding.rule == "EGRESS_TOKEN_CANARY"),
        "{alone:?}"
    );
    // Padding whose decoded layers spend the budget first: escapes of the
    // three kinds, and escapes that decoding makes (`%2541`, `\\u0041`,
    // `&#38;#65;`), so every layer is decoded again, about 14x its size.
    let block = format!(
        "{}{}",
        "%41\\u0042&#67;%2541\\\\u0041&#38;#65;",
        " ".repeat(100)
    );
    let padded = format!("{} {payload}\n", block.repeat(1000));
    let findings = scanner.scan(padded.as_bytes());
    assert!(
        findings
            .iter()
            .any(|finding| finding.rule == "EGRESS_TOKEN_CANARY"
                || finding.rule == bot_bottle_dlp::DECODE_BUDGET_RULE),
        "the padded payload passed as clean"
    );
    let spent: Vec<&Finding> = findings
        .iter()
        .filter(|finding| finding.rule == bot_bottle_dlp::DECODE_BUDGET_RULE)
        .collect();
    assert!(
        spent
            .iter()
            .all(|finding| !finding.redactable && finding.end == padded.len())
    );
    assert!(!scanner.redact(padded.as_bytes()).unredactable.is_empty());
    // Ordinary text with a few escapes stays clean.
    let prose = format!("{}a%20b &#65; \\u0041\n", "plain words ".repeat(5000));
    assert!(scanner.scan(prose.as_bytes()).is_empty());
}

/// Nesting deeper than the decoder looks (base64 applied 5 and 6 times)
/// is not called clean: the scan reports that a layer at the deepest
/// depth would still decode, blocking and unredactable.
#[test]
fn nesting_deeper_than_the_decoding_depth_is_not_called_clean() {
    let scanner = known_only();
    let mut encoded = CANARY.to_string();
    for times in 1..=6 {
        encoded = STANDARD.encode(&encoded);
        let body = format!("{{\"file\":\"{encoded}\"}}");
        let findings = scanner.scan(body.as_bytes());
        let too_deep: Vec<&Finding> = findings
            .iter()
            .filter(|finding| finding.rule == bot_bottle_dlp::DECODE_DEPTH_RULE)
            .collect();
        assert!(
            findings
                .iter()
                .any(|finding| finding.rule == "EGRESS_TOKEN_CANARY")
                || !too_deep.is_empty(),
            "base64 applied {times} times passed as clean"
        );
        assert!(
            too_deep
                .iter()
                .all(|finding| !finding.redactable && finding.end == body.len())
        );
        if times > bot_bottle_dlp::MAX_DECODE_DEPTH + 1 {
            assert!(!too_deep.is_empty(), "{times}: {findings:?}");
            assert!(!scanner.redact(body.as_bytes()).unredactable.is_empty());
        }
    }
    // An escape-dense page (percent, JSON and HTML layers of each other)
    // in a base64 attachment does not use up the depth.
    let page = format!(
        "{{\"html\":\"{}\"}}",
        "<p>It&#39;s the caf\\u00e9 menu, see <a href=\\\"/q?a=caf%C3%A9%20b\\\">more<\\/a><\\/p>\\n"
            .repeat(300)
    );
    let attachment = format!("{{\"data\":\"{}\"}}", STANDARD.encode(&page));
    for body in [page, attachment] {
        let findings = scanner.scan(body.as_bytes());
        assert!(findings.is_empty(), "{findings:?}");
    }
}

/// Ordinary escape-dense text: a few hundred KB of JSON carrying HTML,
/// with an HTML entity, a JSON `\uXXXX` escape and a percent escape about
/// every 100 bytes (and `<\/p>`, `\"`, commit hashes in links), as a
/// Messages-API body posting a web page does. Every decoder decodes nearly
/// all of it and the layers decode each other's output, but it is clean and
/// within the decoding budget.
#[test]
fn escape_dense_json_with_html_is_clean_and_within_the_budget() {
    let words = [
        "the", "menu", "opens", "at", "noon", "and", "closes", "late", "every", "day",
    ];
    let mut content = String::new();
    let mut index = 0usize;
    while content.len() < 400 * 1024 {
        let word = words[index % words.len()];
        content.push_str(&format!(
            "<p class=\\\"item-{index}\\\">It&#39;s the caf\\u00e9 {word} number {index}, \
             see <a href=\\\"https://example.com/search?q=caf%C3%A9%20{word}&amp;page={index}\\\">more<\\/a>.<\\/p>\\n"
        ));
        if index.is_multiple_of(7) {
            content.push_str(&format!(
                "<li>Commit <a href=\\\"https://git.example.com/repo/commit/{:040x}\\\">{:07x}<\\/a> \
                 &#8212; \\u201cfix the caf\\u00e9 page\\u201d (50%25 done)<\\/li>\\n",
                (index as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835),
                index * 2_654_435_761 % 0x0fff_ffff
            ));
        }
        index += 1;
    }
    let body = format!(
        "{{\"model\":\"claude-sonnet\",\"max_tokens\":1024,\"messages\":[{{\"role\":\"user\",\
         \"content\":\"Summarise this page:\\n{content}\"}}]}}"
    );
    assert!(body.len() > 300 * 1024, "{}", body.len());
    assert_clean(&body);
}

/// `body` gives no finding, with the held secrets alone or every default
/// detector.
fn assert_clean(body: &str) {
    for scanner in [known_only(), scanner_with(DetectorSet::default(), &[])] {
        let findings = scanner.scan(body.as_bytes());
        assert!(
            findings.is_empty(),
            "{:?}",
            findings
                .iter()
                .map(|finding| (&finding.rule, &finding.encoding, finding.start))
                .take(5)
                .collect::<Vec<_>>()
        );
    }
}

/// An agent's request to a model carrying a tool's result: a JSON document
/// (an API's answer holding a fetched HTML page) inside a JSON string, so
/// every escape is escaped again. Ordinary traffic: clean, within budget.
#[test]
fn json_inside_json_carrying_html_is_clean_and_within_the_budget() {
    let mut page = String::new();
    let mut index = 0usize;
    while page.len() < 300 * 1024 {
        page.push_str(&format!(
            "<p class=\"item-{index}\">It&#39;s the caf\u{e9} number {index}, see \
             <a href=\"https://example.com/search?q=caf%C3%A9%20{index}&amp;page={index}\">more</a> \
             &#8212; \u{201c}fix{index}\u{201d} (50%25 done)</p>\n"
        ));
        index += 1;
    }
    // As Python's json.dumps writes it (ensure_ascii): every non-ASCII
    // character a \u escape, at both levels.
    let ascii_json = |value: &serde_json::Value| {
        let text = serde_json::to_string(value).expect("serialises");
        let mut out = String::with_capacity(text.len() * 2);
        for character in text.chars() {
            if character.is_ascii() {
                out.push(character);
            } else {
                let mut units = [0u16; 2];
                for unit in character.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
        out
    };
    let api_answer =
        serde_json::json!({"status": 200, "url": "https://example.com/", "body": page});
    let tool_result = ascii_json(&api_answer);
    let request = serde_json::json!({
        "model": "claude-sonnet",
        "messages": [
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": tool_result}
            ]}
        ]
    });
    let body = ascii_json(&request);
    assert!(body.len() > 300 * 1024, "{}", body.len());
    assert!(body.contains("\\\\u00e9"), "the page's é is escaped twice");
    assert_clean(&body);
}

/// A held secret's encoding behind binary noise, all in base64 (a binary
/// upload through a base64 API): the blob is decoded and scanned although
/// it is not text.
#[test]
fn a_secret_behind_binary_noise_in_base64_is_found() {
    let scanner = known_only();
    let noise: Vec<u8> = (0..400u32).map(|index| (index * 151 % 251) as u8).collect();
    let hex: String = CANARY.bytes().map(|byte| format!("{byte:02x}")).collect();
    let percent: String = CANARY.bytes().map(|byte| format!("%{byte:02X}")).collect();
    for inner in [hex, percent, STANDARD.encode(CANARY)] {
        let mut payload = noise.clone();
        payload.extend_from_slice(inner.as_bytes());
        payload.extend_from_slice(&noise[..100]);
        let body = format!("{{\"content\":\"{}\"}}", STANDARD.encode(&payload));
        let findings = found(&scanner, body.as_bytes());
        assert!(
            findings
                .iter()
                .any(|(rule, _)| rule == "EGRESS_TOKEN_CANARY"),
            "{inner}: {findings:?}"
        );
    }
}
