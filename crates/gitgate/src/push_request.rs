//! The command section of a push request (`POST …/git-receive-pack`),
//! read by the gate before git sees it.
//!
//! `git receive-pack` marks some commands failed *before* the pre-receive
//! hook yet still hands them to it (pre-receive sees every command, the
//! failed ones unmarked), and the hook cannot tell: a gate that forwarded
//! such a command upstream would leave the push half-landed (upstream has
//! it, the mirror and the agent's `git push` say rejected). Two of those
//! marks come from the request itself and are dealt with here:
//!
//! - **`shallow <id>` lines** (a push from a shallow clone): receive-pack
//!   lets the pack's commits end at those ids (its `index-pack` grafts
//!   them parentless) and then refuses, as "shallow update not allowed",
//!   every command whose new commits reach one it cannot connect to its
//!   own refs. The gate drops the lines: receive-pack then checks the
//!   push as a complete one (every object a received object names must
//!   be in the pack or the mirror, `receive.fsckObjects`; every command's
//!   new history connected), which is exactly what the forward to
//!   upstream needs too. A shallow clone's push that builds on history the
//!   mirror has lands as before; one whose history the mirror lacks is
//!   refused whole before the hook runs (`did not receive expected
//!   object`), so nothing is forwarded. git never compresses a push, so a
//!   gzip body with `shallow` lines is refused rather than re-encoded.
//! - **A push certificate** (`push-cert`, a signed push): the mirror does
//!   not advertise signed pushes, and a certificate whose push options
//!   disagree with the request's fails every command ("inconsistent push
//!   options") before the hook. Refused.
//!
//! The section is parsed as receive-pack's `read_head_info` does:
//! pkt-lines up to the first flush (or delimiter) packet, `shallow` lines
//! anywhere among them, capabilities after a NUL on any line. A section
//! longer than [`MAX_COMMAND_SECTION_BYTES`] or a malformed pkt-line
//! refuses the request.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// The most bytes of command section (shallow lines, commands) read
/// before the pack; a longer one refuses the push.
pub const MAX_COMMAND_SECTION_BYTES: usize = 1024 * 1024;

/// What the section holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandSection {
    /// The `shallow` lines' ids, as sent.
    pub shallow: Vec<String>,
    /// Each command's ref name, in order.
    pub refs: Vec<String>,
    /// The capabilities the client asked for.
    pub capabilities: Vec<String>,
    /// A `push-cert` block was sent.
    pub push_cert: bool,
}

impl CommandSection {
    fn wants(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|held| held == capability)
    }
}

/// How far [`parse`] got.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed.
    Incomplete,
    /// The section ends at `end` (its flush packet included); `kept` is the
    /// section without its `shallow` lines.
    Complete {
        section: CommandSection,
        end: usize,
        kept: Vec<u8>,
    },
    /// Not a command section receive-pack would read.
    Malformed(String),
}

/// A pkt-line's length from its four hex digits.
fn pkt_length(header: &[u8]) -> Option<usize> {
    std::str::from_utf8(header)
        .ok()
        .filter(|text| text.bytes().all(|byte| byte.is_ascii_hexdigit()))
        .and_then(|text| usize::from_str_radix(text, 16).ok())
}

/// Walk whole pkt-lines of `bytes` from `from` (a line boundary, moved
/// on): whether [`parse`] can decide now (a flush, delimiter or response
/// end packet, or a length that is not one).
pub fn walk(bytes: &[u8], from: &mut usize) -> bool {
    loop {
        let Some(header) = bytes.get(*from..*from + 4) else {
            return false;
        };
        let Some(length) = pkt_length(header) else {
            return true;
        };
        if length < 4 {
            return true;
        }
        if bytes.len() < *from + length {
            return false;
        }
        *from += length;
    }
}

/// Parse the command section at the start of `bytes`.
pub fn parse(bytes: &[u8]) -> Parsed {
    let mut section = CommandSection::default();
    let mut kept = Vec::new();
    let mut at = 0;
    let mut in_cert = false;
    loop {
        let Some(header) = bytes.get(at..at + 4) else {
            return Parsed::Incomplete;
        };
        let Some(length) = pkt_length(header) else {
            return Parsed::Malformed(format!("bad pkt-line length {:?}", header.escape_ascii()));
        };
        if length < 4 {
            if length == 3 {
                return Parsed::Malformed("bad pkt-line length 3".into());
            }
            // Flush (0), delimiter (1), response end (2): the end of
            // receive-pack's command list.
            kept.extend_from_slice(header);
            return Parsed::Complete {
                section,
                end: at + 4,
                kept,
            };
        }
        let Some(line) = bytes.get(at..at + length) else {
            return Parsed::Incomplete;
        };
        let payload = &line[4..];
        let chomped = payload.strip_suffix(b"\n").unwrap_or(payload);
        at += length;
        if in_cert {
            // Certificate lines are the certificate's, not commands.
            if payload == b"push-cert-end\n" {
                in_cert = false;
            }
            kept.extend_from_slice(line);
            continue;
        }
        if chomped.len() > 8 && chomped.starts_with(b"shallow ") {
            section
                .shallow
                .push(String::from_utf8_lossy(&chomped[8..]).into_owned());
            continue;
        }
        let (text, features) = match memchr::memchr(0, chomped) {
            Some(nul) => (&chomped[..nul], Some(&chomped[nul + 1..])),
            None => (chomped, None),
        };
        if let Some(features) = features {
            for feature in features.split(|byte| *byte == b' ') {
                if !feature.is_empty() {
                    section
                        .capabilities
                        .push(String::from_utf8_lossy(feature).into_owned());
                }
            }
        }
        if text == b"push-cert" {
            section.push_cert = true;
            in_cert = true;
        } else if let Some(name) = text.splitn(3, |byte| *byte == b' ').nth(2) {
            section
                .refs
                .push(String::from_utf8_lossy(name).into_owned());
        }
        kept.extend_from_slice(line);
        if at > MAX_COMMAND_SECTION_BYTES {
            return Parsed::Malformed(format!(
                "the commands are longer than {MAX_COMMAND_SECTION_BYTES} bytes"
            ));
        }
    }
}

/// What to do with a push request.
pub enum Inspection {
    /// Hand git `prefix` (what was read, possibly without its `shallow`
    /// lines) and then the rest of the body.
    Pass {
        prefix: Bytes,
        rest: Option<Incoming>,
        section: Option<CommandSection>,
    },
    /// Refuse it: the report to send back (see [`refusal_report`]), once
    /// the rest of the body has been read (see [`drain`]).
    Refuse {
        why: String,
        report: Bytes,
        rest: Option<Incoming>,
    },
    /// The body could not be read as a push request.
    Malformed(String),
}

/// Read the start of a push request's `body` up to the end of its
/// command section (inflating a gzip body to look at it) and decide.
pub async fn inspect(body: Incoming, gzip: bool, idle: std::time::Duration) -> Inspection {
    let mut body = Some(body);
    let mut raw = Vec::new();
    let mut inflater = gzip.then(|| flate2::write::GzDecoder::new(Vec::new()));
    // Whole pkt-lines already walked: each piece of the body costs only its
    // own bytes, and the full parse runs once the section has ended.
    let mut walked = 0;
    loop {
        let plain: &[u8] = match &inflater {
            Some(decoder) => decoder.get_ref(),
            None => &raw,
        };
        let parsed = if walk(plain, &mut walked) {
            parse(plain)
        } else {
            Parsed::Incomplete
        };
        match parsed {
            Parsed::Malformed(why) => return Inspection::Malformed(why),
            Parsed::Complete { section, end, kept } => {
                return decide(section, raw, end, kept, gzip, body);
            }
            Parsed::Incomplete if plain.len() > MAX_COMMAND_SECTION_BYTES + 4 => {
                return Inspection::Malformed(format!(
                    "the commands are longer than {MAX_COMMAND_SECTION_BYTES} bytes"
                ));
            }
            Parsed::Incomplete => {}
        }
        let Some(reading) = body.as_mut() else {
            // The body ended inside the section: git reads the same cut
            // request and refuses it (or sees no command at all).
            return Inspection::Pass {
                prefix: raw.into(),
                rest: None,
                section: None,
            };
        };
        let data = match tokio::time::timeout(idle, reading.frame()).await {
            Ok(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Ok(None) => {
                body = None;
                continue;
            }
            Ok(Some(Err(error))) => {
                return Inspection::Malformed(format!("reading the request: {error}"));
            }
            Err(_) => {
                return Inspection::Malformed(format!(
                    "the request body paused more than {}s",
                    idle.as_secs()
                ));
            }
        };
        raw.extend_from_slice(&data);
        if let Some(decoder) = inflater.as_mut() {
            use std::io::Write;
            // At most a bounded amount at a time: a small compressed
            // frame can inflate a lot.
            for piece in data.chunks(4096) {
                if let Err(error) = decoder.write_all(piece) {
                    return Inspection::Malformed(format!("the gzip body is corrupt: {error}"));
                }
                if let Err(error) = decoder.flush() {
                    return Inspection::Malformed(format!("the gzip body is corrupt: {error}"));
                }
                if decoder.get_ref().len() > MAX_COMMAND_SECTION_BYTES + 4 {
                    break;
                }
            }
        }
    }
}

fn decide(
    section: CommandSection,
    raw: Vec<u8>,
    end: usize,
    kept: Vec<u8>,
    gzip: bool,
    rest: Option<Incoming>,
) -> Inspection {
    if section.push_cert {
        let why =
            "signed pushes (push certificates) are not accepted by the gate; push without --signed"
                .to_string();
        let report = refusal_report(&section, &why);
        return Inspection::Refuse { why, report, rest };
    }
    if section.shallow.is_empty() {
        return Inspection::Pass {
            prefix: raw.into(),
            rest,
            section: Some(section),
        };
    }
    if gzip {
        let why = "a compressed push from a shallow clone is not accepted by the gate; push uncompressed (as git does)".to_string();
        let report = refusal_report(&section, &why);
        return Inspection::Refuse { why, report, rest };
    }
    let mut prefix = kept;
    prefix.extend_from_slice(raw.get(end..).unwrap_or_default());
    Inspection::Pass {
        prefix: prefix.into(),
        rest,
        section: Some(section),
    }
}

/// Read and drop the rest of a refused request's body (a client still
/// sending would otherwise see the connection cut instead of the answer),
/// until it ends, pauses longer than `idle`, or `limit` has passed.
pub async fn drain(rest: Option<Incoming>, idle: std::time::Duration, limit: std::time::Duration) {
    let Some(mut body) = rest else {
        return;
    };
    let _ = tokio::time::timeout(limit, async {
        while let Ok(Some(Ok(_))) = tokio::time::timeout(idle, body.frame()).await {}
    })
    .await;
}

/// receive-pack's answer refusing every command of `section`: `why` as a
/// message (side band 2, printed as `remote: git-gate: …`) when the client
/// asked for a side band, and a report (`unpack …`, `ng <ref> …`) when it
/// asked for one, then the final flush.
pub fn refusal_report(section: &CommandSection, why: &str) -> Bytes {
    let clean = |text: &str| -> String {
        text.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let mut report = Vec::new();
    if section.wants("report-status") || section.wants("report-status-v2") {
        pkt(&mut report, b"unpack ok\n");
        if section.refs.is_empty() {
            // A certificate's commands are inside it: nothing to name.
            report.clear();
            pkt(&mut report, b"unpack refused by the git gate\n");
        }
        for name in &section.refs {
            pkt(
                &mut report,
                format!("ng {} refused by the git gate\n", clean(name)).as_bytes(),
            );
        }
        report.extend_from_slice(b"0000");
    }
    let mut out = Vec::new();
    if section.wants("side-band-64k") {
        let mut message = vec![2u8];
        message.extend_from_slice(format!("git-gate: push refused: {}\n", clean(why)).as_bytes());
        pkt(&mut out, &message);
        // Side band 1 carries the report, in pieces under the packet size.
        for piece in report.chunks(65_000) {
            let mut data = vec![1u8];
            data.extend_from_slice(piece);
            pkt(&mut out, &data);
        }
        out.extend_from_slice(b"0000");
    } else {
        out = report;
    }
    out.into()
}

fn pkt(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(format!("{:04x}", payload.len() + 4).as_bytes());
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(payload: &str) -> Vec<u8> {
        let mut out = Vec::new();
        pkt(&mut out, payload.as_bytes());
        out
    }

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";

    #[test]
    fn shallow_lines_are_dropped_wherever_they_are() {
        let mut body = line(&format!("shallow {A}\n"));
        body.extend(line(&format!(
            "{A} {B} refs/heads/x\0report-status side-band-64k\n"
        )));
        body.extend(line(&format!("shallow {B}")));
        body.extend(line(&format!("{A} {B} refs/notes/y\n")));
        body.extend_from_slice(b"0000PACK...");
        let Parsed::Complete { section, end, kept } = parse(&body) else {
            panic!("not complete");
        };
        assert_eq!(section.shallow, vec![A.to_string(), B.to_string()]);
        assert_eq!(section.refs, vec!["refs/heads/x", "refs/notes/y"]);
        assert!(section.wants("side-band-64k") && section.wants("report-status"));
        assert_eq!(&body[end..], b"PACK...");
        let mut expected = line(&format!(
            "{A} {B} refs/heads/x\0report-status side-band-64k\n"
        ));
        expected.extend(line(&format!("{A} {B} refs/notes/y\n")));
        expected.extend_from_slice(b"0000");
        assert_eq!(kept, expected);
    }

    #[test]
    fn walking_piece_by_piece_decides_when_a_whole_parse_does() {
        let mut body = line(&format!("shallow {A}\n"));
        body.extend(line(&format!("{A} {B} refs/heads/x\0report-status\n")));
        body.extend(line("push-cert\0x\n"));
        body.extend(line("push-cert-end\n"));
        body.extend_from_slice(b"0000PACK");
        let mut walked = 0;
        for end in 0..=body.len() {
            let prefix = &body[..end];
            let decided = walk(prefix, &mut walked);
            assert_eq!(
                decided,
                parse(prefix) != Parsed::Incomplete,
                "at {end} of {}",
                body.len()
            );
            if decided {
                walked = 0;
            }
        }
        let mut walked = 0;
        assert!(walk(b"00zz", &mut walked), "a bad length decides at once");
    }

    #[test]
    fn cut_and_malformed_sections() {
        let body = line(&format!("{A} {B} refs/heads/x\n"));
        assert_eq!(parse(&body), Parsed::Incomplete);
        assert_eq!(parse(&body[..10]), Parsed::Incomplete);
        assert_eq!(parse(b"00"), Parsed::Incomplete);
        assert!(matches!(parse(b"zzzz"), Parsed::Malformed(_)));
        assert!(matches!(parse(b"0003"), Parsed::Malformed(_)));
        // The probe a client sends before a large push.
        assert!(matches!(parse(b"0000"), Parsed::Complete { end: 4, .. }));
    }

    #[test]
    fn a_push_certificate_is_seen_and_its_lines_are_not_commands() {
        let mut body = line("push-cert\0report-status side-band-64k\n");
        body.extend(line("certificate version 0.1\n"));
        body.extend(line(&format!("shallow {A}\n")));
        body.extend(line("push-cert-end\n"));
        body.extend_from_slice(b"0000");
        let Parsed::Complete { section, kept, .. } = parse(&body) else {
            panic!("not complete");
        };
        assert!(section.push_cert);
        assert!(section.shallow.is_empty());
        assert_eq!(kept, body);
        let report = refusal_report(&section, "no");
        assert!(report.starts_with(b"0020\x02git-gate: push refused: no\n"));
    }

    #[test]
    fn the_refusal_names_every_ref() {
        let section = CommandSection {
            refs: vec!["refs/heads/a\nb".into()],
            capabilities: vec!["report-status".into()],
            ..Default::default()
        };
        let report = refusal_report(&section, "why");
        assert_eq!(
            &report[..],
            b"000eunpack ok\n002eng refs/heads/a b refused by the git gate\n0000"
        );
    }
}
