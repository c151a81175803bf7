//! What a scan reports.
//!
//! A [`Finding`] names the detector, the rule, where the match is and how it
//! was found, with a masked preview only. The raw matched bytes ride along
//! in [`Finding::matched`], wrapped in [`Redacted`], for the sidecar to
//! remember an approved value; they never reach a log or a proposal.

use std::ops::Deref;

use bot_bottle_secret::{Redacted, masked_preview};
use serde::Serialize;

use crate::config::Detector;

/// Whether a finding stops traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The request or push is refused (or redacted, or held for approval).
    Block,
    /// Reported only (the `entropy` detector).
    Warn,
}

/// Which part of the scanned input a finding's offsets refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case", tag = "part")]
pub enum Location {
    /// The bytes given to `scan`, `redact` or a stream (a body, a blob).
    Data,
    /// The request line given to `scan_request_head`.
    RequestLine,
    /// The name or value of header number `index` given to
    /// `scan_request_head` (offsets are into the value; a CRLF finding in the
    /// name has offsets into the name and `in_name` set).
    Header { index: usize, in_name: bool },
    /// Across the parts of a request head: the request line and the header
    /// values given to `scan_request_head`, joined in order one per line
    /// (a held secret spread over several headers). Offsets are into that
    /// joined text.
    Head,
}

/// One match.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Which detector found it.
    pub detector: Detector,
    /// The rule: a held secret's variable name, a rule id, `crlf-injection`,
    /// `unicode-evasion`, `high-entropy`.
    pub rule: String,
    /// How it was found: `raw`, `base64`, `hex`, `base32`, `separated`,
    /// `partial`, `… in percent-encoding`, `fullwidth/look-alike`, …
    pub encoding: String,
    /// Byte offset of the first byte of the match.
    pub start: usize,
    /// Byte offset one past the last byte of the match.
    pub end: usize,
    /// A masked preview of the matched text, safe to show an operator.
    pub preview: String,
    /// Whether `redact` can scrub it. Unicode evasion, CRLF and entropy
    /// findings cannot be redacted: callers block them.
    pub redactable: bool,
    /// Block or warn.
    pub severity: Severity,
    /// The raw matched bytes (for a match inside an encoding: the decoded
    /// bytes). Sidecar-only: used to remember approved values.
    #[serde(skip)]
    pub matched: Redacted<Vec<u8>>,
    /// Which part of the input `start`..`end` refer to.
    pub location: Location,
}

impl Finding {
    pub(crate) fn new(
        detector: Detector,
        rule: impl Into<String>,
        encoding: impl Into<String>,
        span: (usize, usize),
        matched: Vec<u8>,
    ) -> Self {
        let preview = masked_preview(&String::from_utf8_lossy(&matched));
        let (redactable, severity) = match detector {
            Detector::Known | Detector::Patterns => (true, Severity::Block),
            Detector::Unicode | Detector::Crlf => (false, Severity::Block),
            Detector::Entropy => (false, Severity::Warn),
        };
        Self {
            detector,
            rule: rule.into(),
            encoding: encoding.into(),
            start: span.0,
            end: span.1,
            preview,
            redactable,
            severity,
            matched: Redacted::new(matched),
            location: Location::Data,
        }
    }

    /// Whether the two findings' spans share at least one byte.
    pub fn overlaps(&self, other: &Finding) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// The findings of one scan, ordered by position.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings(Vec<Finding>);

impl Findings {
    pub(crate) fn from_unsorted(mut findings: Vec<Finding>) -> Self {
        findings.sort_by(|left, right| {
            (
                left.location,
                left.start,
                left.end,
                left.detector,
                &left.rule,
            )
                .cmp(&(
                    right.location,
                    right.start,
                    right.end,
                    right.detector,
                    &right.rule,
                ))
        });
        // One report per place: drop a finding lying inside another of the
        // same detector, rule and location (a partial run inside the whole
        // value, the same value seen through two encodings).
        let mut kept: Vec<Finding> = Vec::with_capacity(findings.len());
        for finding in findings {
            let covered = kept.iter().rev().any(|other| {
                other.detector == finding.detector
                    && other.rule == finding.rule
                    && other.location == finding.location
                    && other.start <= finding.start
                    && finding.end <= other.end
            });
            if !covered {
                kept.push(finding);
            }
        }
        Self(kept)
    }

    /// Whether any finding blocks (every detector but `entropy`).
    pub fn blocks(&self) -> bool {
        self.0
            .iter()
            .any(|finding| finding.severity == Severity::Block)
    }

    /// The findings as a vector.
    pub fn into_vec(self) -> Vec<Finding> {
        self.0
    }

    pub(crate) fn extend(&mut self, more: Findings) {
        let mut all = std::mem::take(&mut self.0);
        all.extend(more.0);
        *self = Self::from_unsorted(all);
    }
}

impl Deref for Findings {
    type Target = [Finding];

    fn deref(&self) -> &[Finding] {
        &self.0
    }
}

impl IntoIterator for Findings {
    type Item = Finding;
    type IntoIter = std::vec::IntoIter<Finding>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Findings {
    type Item = &'a Finding;
    type IntoIter = std::slice::Iter<'a, Finding>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl From<Findings> for Vec<Finding> {
    fn from(findings: Findings) -> Self {
        findings.0
    }
}
