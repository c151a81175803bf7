//! CR/LF injection in a request line or header.
//!
//! A raw or percent-encoded CR or LF in the request line or a header can
//! split the request and smuggle a second one past the proxy. In a body it
//! cannot (the body is delimited by `Content-Length` or chunking), and form
//! bodies legitimately contain `%0D%0A`: the seed learned this when it
//! blocked a login flow. So this detector only ever sees the request line
//! and headers; `Scanner::scan` never runs it.

use crate::config::Detector;
use crate::finding::Finding;

/// How many rounds of percent-decoding are looked through (`%250d` is
/// `%0d` after one round).
pub const MAX_PERCENT_ROUNDS: usize = 3;

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Spans of raw CR/LF and of `%0d`/`%0a` (any case, also percent-encoded
/// again up to [`MAX_PERCENT_ROUNDS`] times) in `text`.
pub(crate) fn find(text: &str, out: &mut Vec<Finding>) {
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'\r' || byte == b'\n' {
            let start = index;
            while index < bytes.len() && (bytes[index] == b'\r' || bytes[index] == b'\n') {
                index += 1;
            }
            out.push(Finding::new(
                Detector::Crlf,
                "crlf-injection",
                "raw",
                (start, index),
                bytes[start..index].to_vec(),
            ));
            continue;
        }
        if byte == b'%'
            && let Some(length) = encoded_crlf_len(&bytes[index..])
        {
            out.push(Finding::new(
                Detector::Crlf,
                "crlf-injection",
                "percent-encoded",
                (index, index + length),
                bytes[index..index + length].to_vec(),
            ));
            index += length;
            continue;
        }
        index += 1;
    }
}

/// If `bytes` starts with a percent-encoded CR or LF, possibly encoded
/// again (`%250a`: `%` then `25` repeated, then `0d` or `0a`), its length.
fn encoded_crlf_len(bytes: &[u8]) -> Option<usize> {
    if bytes.first() != Some(&b'%') {
        return None;
    }
    let mut at = 1;
    let mut rounds = 1;
    loop {
        let pair = bytes.get(at..at + 2)?;
        let value = hex_value(pair[0])? * 16 + hex_value(pair[1])?;
        if value == 0x0d || value == 0x0a {
            return Some(at + 2);
        }
        if value != b'%' || rounds >= MAX_PERCENT_ROUNDS {
            return None;
        }
        at += 2;
        rounds += 1;
    }
}

/// Remove raw CR/LF and percent-encoded CR/LF (at any of the encoding
/// depths the CRLF detector recognises) from `text`, repeating until none is left.
/// The seed's `strip_crlf`, for a `redact` policy that chooses to forward
/// a scrubbed head.
pub fn strip_crlf(text: &str) -> String {
    let mut current = text.to_string();
    loop {
        let mut found = Vec::new();
        find(&current, &mut found);
        if found.is_empty() {
            return current;
        }
        let bytes = current.as_bytes();
        let mut kept = Vec::with_capacity(bytes.len());
        let mut position = 0;
        for finding in &found {
            kept.extend_from_slice(&bytes[position..finding.start]);
            position = finding.end;
        }
        kept.extend_from_slice(&bytes[position..]);
        // Only ASCII was removed, so the rest is still valid UTF-8.
        current = String::from_utf8_lossy(&kept).into_owned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(text: &str) -> Vec<(usize, usize, String)> {
        let mut found = Vec::new();
        find(text, &mut found);
        found
            .into_iter()
            .map(|finding| (finding.start, finding.end, finding.encoding))
            .collect()
    }

    #[test]
    fn finds_raw_and_encoded_crlf() {
        assert_eq!(
            spans("GET /a\r\nHost: x HTTP/1.1"),
            vec![(6, 8, "raw".to_string())]
        );
        assert_eq!(
            spans("/a%0d%0AX-Injected: 1"),
            vec![
                (2, 5, "percent-encoded".to_string()),
                (5, 8, "percent-encoded".to_string())
            ]
        );
        assert_eq!(
            spans("/a%250d%250a"),
            vec![
                (2, 7, "percent-encoded".to_string()),
                (7, 12, "percent-encoded".to_string())
            ]
        );
        assert!(spans("/a%20b%0g%2").is_empty());
    }

    #[test]
    fn strip_crlf_removes_every_form() {
        assert_eq!(strip_crlf("GET /a\r\nX: 1"), "GET /aX: 1");
        assert_eq!(strip_crlf("/a%0D%0aB"), "/aB");
        assert_eq!(strip_crlf("/a%%0d0aB"), "/aB");
        assert_eq!(strip_crlf("/a%250aB"), "/aB");
        assert_eq!(strip_crlf("plain"), "plain");
    }
}
