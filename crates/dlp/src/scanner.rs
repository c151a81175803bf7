//! The [`Scanner`]: built once from a [`ScannerConfig`], shared by
//! reference across threads, and the only entry point to the detectors.
//!
//! One scan is: the `known` and `patterns` detectors over the input;
//! Unicode folding of the input and a scan of the folded text; the decoding
//! passes (UTF-16 text among them), each decoded layer scanned and folded
//! the same way (to [`crate::decode::MAX_DECODE_DEPTH`]); entropy if
//! listed. Approved (safe) values are applied per
//! layer: a finding lying inside an occurrence of an approved value is
//! dropped and the scan goes on, so a second secret is still found.

use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use bot_bottle_secret::Redacted;

use crate::config::{Detector, DetectorSet, ScannerConfig};
use crate::decode::{self, Decoded};
use crate::entropy;
use crate::error::DlpError;
use crate::finding::{Finding, Findings, Location, Severity};
use crate::known::KnownMatcher;
use crate::patterns::PatternMatcher;
use crate::rules::{FileNameRule, RuleSet};
use crate::stream::StreamScanner;
use crate::{crlf, unicode};

/// What redaction puts in place of a scrubbed value.
pub const REDACTION_MARK: &[u8] = b"[REDACTED]";

/// Redact-and-rescan rounds before giving up: anything still found after
/// this many rounds is reported as unredactable.
pub const MAX_REDACT_ROUNDS: usize = 4;

/// How much longer than its projection a separated secret may be and still
/// be found whole across a streaming chunk boundary.
const SEPARATED_SPAN_ALLOWANCE: usize = 4;

/// The result of [`Scanner::redact`].
#[derive(Debug, Clone, PartialEq)]
pub struct Redaction {
    /// The input with every redactable finding replaced by [`REDACTION_MARK`].
    pub bytes: Vec<u8>,
    /// Blocking findings that redaction cannot scrub: the input's
    /// non-redactable findings (Unicode evasion; offsets into the input)
    /// and anything the last re-scan still found (offsets into `bytes`).
    /// Empty means the bytes are clean and may be forwarded.
    pub unredactable: Findings,
}

/// The result of [`Scanner::redact_request_head`].
#[derive(Debug, Clone, PartialEq)]
pub struct HeadRedaction {
    pub request_line: String,
    pub headers: Vec<(String, String)>,
    /// Blocking findings left, including every CRLF finding (structural:
    /// callers refuse the request).
    pub unredactable: Findings,
}

/// Approved values, searched for in every layer.
struct SafeMatcher {
    automaton: AhoCorasick,
}

impl SafeMatcher {
    fn new(values: &[Redacted<String>]) -> Result<Option<Self>, DlpError> {
        let patterns: Vec<&[u8]> = values
            .iter()
            .map(|value| value.expose().as_bytes())
            .filter(|value| !value.is_empty())
            .collect();
        if patterns.is_empty() {
            return Ok(None);
        }
        let automaton = AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::DFA))
            .match_kind(MatchKind::Standard)
            .build(patterns)
            .map_err(|source| DlpError::Matcher {
                what: "approved value",
                source,
            })?;
        Ok(Some(Self { automaton }))
    }

    /// Drop the findings lying inside an occurrence of an approved value.
    fn filter(&self, input: &[u8], findings: &mut Vec<Finding>) {
        if findings.is_empty() {
            return;
        }
        let spans: Vec<(usize, usize)> = self
            .automaton
            .find_overlapping_iter(input)
            .map(|found| (found.start(), found.end()))
            .collect();
        if spans.is_empty() {
            return;
        }
        findings.retain(|finding| {
            !spans
                .iter()
                .any(|(start, end)| *start <= finding.start && finding.end <= *end)
        });
    }
}

/// The DLP engine. Cheap to clone (the matchers are shared).
#[derive(Clone)]
pub struct Scanner {
    config: Arc<ScannerConfig>,
    detectors: DetectorSet,
    known: Arc<KnownMatcher>,
    patterns: Arc<PatternMatcher>,
    safe: Option<Arc<SafeMatcher>>,
    overlap: usize,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("detectors", &self.detectors)
            .field("held", &self.config.held.len())
            .field("safe_values", &self.config.safe_values.len())
            .field("overlap", &self.overlap)
            .finish_non_exhaustive()
    }
}

/// The rule of the finding made when an input's decoded layers would
/// exceed the decoding budget ([`decode::DECODE_BUDGET_FACTOR`]).
pub const DECODE_BUDGET_RULE: &str = "decode-budget-exceeded";

/// The rule of the finding made when a layer at the deepest decoding depth
/// ([`decode::MAX_DECODE_DEPTH`]) would still decode into something.
pub const DECODE_DEPTH_RULE: &str = "decode-depth-exceeded";

/// The rule of the finding made for a run of at least
/// [`unicode::HIDDEN_RUN_MIN`] Unicode tag characters or variation
/// selectors: text that renders as nothing ("ASCII smuggling", "emoji
/// smuggling"), whatever it says.
const HIDDEN_TEXT_RULE: &str = "unicode-hidden-text";

/// The finding for a run of hidden characters (`bytes`: the run). Its
/// preview says what the run is, never what it hides.
fn hidden_finding(run: &unicode::HiddenRun, bytes: &[u8]) -> Finding {
    let matched = bytes
        .get(run.span.0..run.span.1)
        .map_or_else(Vec::new, <[u8]>::to_vec);
    let mut finding = Finding::new(
        Detector::Unicode,
        HIDDEN_TEXT_RULE,
        format!("hidden text in {}", run.kind.label()),
        run.span,
        matched,
    );
    finding.preview = format!("{} {}", run.chars, run.kind.label());
    finding
}

/// An input whose decoding ran out of budget was not read whole: layers
/// past the budget might hide anything. It is reported, blocking and
/// unredactable, over the whole input, so no caller takes it for clean
/// (padding a payload with cheap escapes to spend the budget first is an
/// evasion).
fn budget_finding(len: usize, known: bool) -> Finding {
    unread_finding(
        len,
        known,
        DECODE_BUDGET_RULE,
        format!(
            "too many encoded layers to inspect within {}x the input's size",
            decode::DECODE_BUDGET_FACTOR
        ),
    )
}

/// Encodings nested deeper than [`decode::MAX_DECODE_DEPTH`] layers were not
/// read whole: the deepest layer would still decode. Reported like the
/// budget (blocking, unredactable, over the whole input): stopping there
/// silently let base64 applied five times hide a secret.
fn depth_finding(len: usize, known: bool) -> Finding {
    unread_finding(
        len,
        known,
        DECODE_DEPTH_RULE,
        format!(
            "encodings nested deeper than {} layers",
            decode::MAX_DECODE_DEPTH
        ),
    )
}

fn unread_finding(len: usize, known: bool, rule: &str, preview: String) -> Finding {
    let detector = if known {
        Detector::Known
    } else {
        Detector::Patterns
    };
    let mut finding = Finding::new(detector, rule, "nested encodings", (0, len), Vec::new());
    finding.preview = preview;
    finding.redactable = false;
    finding
}

/// What a scan of a layer and its decoded layers runs.
struct Layer<'a> {
    /// The held-secret matcher on each layer.
    known: bool,
    /// The credential-shape rules on each layer.
    patterns: bool,
    /// Unicode folding of each layer that holds non-ASCII bytes (see
    /// [`Scanner::scan_folded`]).
    unicode: bool,
    budget: &'a mut decode::Budget,
}

impl Scanner {
    /// Build a scanner: compiles the built-in rules plus `extra_rules`, and
    /// the held-secret matcher.
    pub fn new(config: ScannerConfig) -> Result<Self, DlpError> {
        let mut sets = vec![RuleSet::builtin()?];
        sets.extend(config.extra_rules.iter().cloned());
        let patterns = PatternMatcher::new(&sets)?;
        let known = KnownMatcher::new(&config.held, &config.safe_values)?;
        let safe = SafeMatcher::new(&config.safe_values)?.map(Arc::new);
        let overlap =
            (known.longest_needle() * SEPARATED_SPAN_ALLOWANCE).max(patterns.longest_match()) + 16;
        Ok(Self {
            detectors: config.detectors,
            config: Arc::new(config),
            known: Arc::new(known),
            patterns: Arc::new(patterns),
            safe,
            overlap,
        })
    }

    /// A scanner like this one with another detector set (the routes file's
    /// `dlp.outbound_detectors` changed). Nothing is recompiled: every
    /// matcher is built whatever the set, the set only says which run.
    pub fn with_detectors(&self, detectors: DetectorSet) -> Self {
        let mut config = (*self.config).clone();
        config.detectors = detectors;
        Self {
            detectors,
            config: Arc::new(config),
            ..self.clone()
        }
    }

    /// A scanner like this one that also skips `values`. Egress calls this
    /// when the operator approves a value, then swaps the new scanner in
    /// (e.g. through an `ArcSwap`); the rules are shared, not recompiled,
    /// and the held-secret matcher is rebuilt only if an approved value is
    /// itself a held secret.
    pub fn with_extra_safe_values(
        &self,
        values: impl IntoIterator<Item = Redacted<String>>,
    ) -> Result<Self, DlpError> {
        let mut config = (*self.config).clone();
        let before = config.safe_values.len();
        for value in values {
            if !value.expose().is_empty() && !config.safe_values.contains(&value) {
                config.safe_values.push(value);
            }
        }
        if config.safe_values.len() == before {
            return Ok(self.clone());
        }
        let approves_held = config.safe_values[before..].iter().any(|value| {
            config
                .held
                .iter()
                .any(|held| held.value.expose() == value.expose())
        });
        let known = if approves_held {
            Arc::new(KnownMatcher::new(&config.held, &config.safe_values)?)
        } else {
            Arc::clone(&self.known)
        };
        let safe = SafeMatcher::new(&config.safe_values)?.map(Arc::new);
        Ok(Self {
            config: Arc::new(config),
            detectors: self.detectors,
            known,
            patterns: Arc::clone(&self.patterns),
            safe,
            overlap: self.overlap,
        })
    }

    /// The configuration the scanner was built from.
    pub fn config(&self) -> &ScannerConfig {
        &self.config
    }

    /// The detectors that run.
    pub fn detectors(&self) -> DetectorSet {
        self.detectors
    }

    /// The rules on file names of every rule file this scanner holds, when
    /// the `patterns` detector runs. A content scan never applies them; the
    /// git gate checks each pushed file's path against them.
    pub fn file_name_rules(&self) -> impl Iterator<Item = &FileNameRule> {
        let on = self.detectors.contains(Detector::Patterns);
        self.config
            .extra_rules
            .iter()
            .filter(move |_| on)
            .flat_map(RuleSet::file_name_rules)
    }

    /// Bytes of overlap the streaming form keeps between chunks: the longest
    /// match any detector can make.
    pub fn stream_overlap(&self) -> usize {
        self.overlap
    }

    /// Scan a body, blob or file. CRLF is never checked here (see
    /// [`Scanner::scan_request_head`]).
    pub fn scan(&self, input: &[u8]) -> Findings {
        self.scan_with(input, self.detectors)
    }

    /// [`Scanner::scan`] with `detectors` in place of the scanner's own,
    /// for one call: no new scanner is built (the held secrets, rules and
    /// approved values are this one's).
    pub fn scan_with(&self, input: &[u8], detectors: DetectorSet) -> Findings {
        let mut out = Vec::new();
        let mut budget = decode::budget_for(input.len());
        let wants_known = detectors.contains(Detector::Known) && !self.known.is_empty();
        let wants_patterns = detectors.contains(Detector::Patterns);
        let wants_unicode = detectors.contains(Detector::Unicode);
        if wants_known || wants_patterns || wants_unicode {
            let mut layer = Layer {
                known: wants_known,
                patterns: wants_patterns,
                unicode: wants_unicode,
                budget: &mut budget,
            };
            self.scan_layer(input, None, 0, &mut layer, &mut out);
        }
        if budget.exhausted {
            out.push(budget_finding(input.len(), wants_known));
        }
        if budget.too_deep {
            out.push(depth_finding(input.len(), wants_known));
        }
        if detectors.contains(Detector::Entropy) {
            let mut warnings = Vec::new();
            entropy::scan(input, &mut warnings);
            if let Some(safe) = &self.safe {
                safe.filter(input, &mut warnings);
            }
            out.extend(warnings);
        }
        Findings::from_unsorted(out)
    }

    /// Scan `input` (the decoded layer `parent`, if given) and its decoded
    /// layers, to the depth bound.
    fn scan_layer(
        &self,
        input: &[u8],
        parent: Option<&decode::Decoded>,
        depth: usize,
        layer: &mut Layer<'_>,
        out: &mut Vec<Finding>,
    ) {
        let mut found = Vec::new();
        if layer.known {
            self.known.scan(input, &mut found);
        }
        if layer.patterns {
            self.patterns.scan(input, &mut found);
        }
        if let Some(safe) = &self.safe {
            safe.filter(input, &mut found);
        }
        // Every layer is folded, the input and each decoded one (a
        // full-width secret written as JSON `\u` escapes is ASCII until
        // decoded), but not a folded layer again.
        if layer.unicode && parent.is_none_or(|parent| parent.kind != decode::DecodeKind::Unicode) {
            self.scan_folded(input, parent.is_some(), depth, layer, &mut found);
        }
        for decoded in decode::decode_layer(input, parent, layer.budget) {
            // Percent, JSON and HTML layers taken in their commuting order
            // (see `decode::triggers`) are one layer deep: the chain is at
            // most three long, and an escape-dense page in a base64
            // attachment must not use up the depth.
            let inner_depth = if decode::continues_escapes(parent, &decoded) {
                depth
            } else {
                depth + 1
            };
            if inner_depth > decode::MAX_DECODE_DEPTH {
                // The deepest layer decodes again (the decoders return only
                // layers that changed something): what it holds is not
                // read whole, so the scan fails closed. The decoding was
                // charged to the budget like any other.
                layer.budget.too_deep = true;
                continue;
            }
            let mut inner = Vec::new();
            self.scan_layer(
                &decoded.bytes,
                Some(&decoded),
                inner_depth,
                layer,
                &mut inner,
            );
            // A UTF-16 layer is the text itself: its findings cover
            // whole code units, where the input's own (a held secret
            // `separated` by the NUL bytes) stop a byte short. So does a
            // quoted-printable finding that decoding made: it covers whole
            // escapes and soft line breaks, where the input's own (`hex`
            // through `=67=68…`, `separated` across soft breaks) start a
            // byte late or say nothing of the encoding.
            for finding in inner {
                // An EBCDIC region with a byte where code pages 037 and 500
                // differ is read with each: the exact value, in whichever
                // reads it so, replaces the other's `separated`.
                let replaces = decoded.kind == decode::DecodeKind::Utf16
                    || decoded.kind == decode::DecodeKind::QuotedPrintable
                        && decoded.decoded_within(finding.start, finding.end)
                    || decoded.kind == decode::DecodeKind::Ebcdic && finding.encoding == "raw";
                let mapped = map_finding(finding, &decoded, None);
                merge_decoded(&mut found, mapped, replaces);
            }
        }
        out.extend(found);
    }

    /// Fold `input` (a layer at `depth`; `decoded` says whether it is a
    /// decoded layer) and scan the folded regions with the held-secret
    /// matcher and the rules, whatever the detector list. A match is kept
    /// only if its span touches a character that folding changed; it
    /// becomes an unredactable `unicode-evasion` finding at `input`'s
    /// offsets.
    ///
    /// The input's folded regions are also decoded again (a full-width
    /// `％７４`, a base64 run broken by zero-width spaces); a decoded
    /// layer's are not: every decoded layer is folded in turn, so only an
    /// encoding whose own syntax is disguised inside another encoding is
    /// missed, and decoding each folded layer again would double the
    /// decoding of escape-dense non-ASCII text. What folding adds to a
    /// region's size (NFKC expands some characters up to 11 times) counts
    /// against the decoding budget. An all-ASCII layer costs one
    /// `is_ascii` pass.
    fn scan_folded(
        &self,
        input: &[u8],
        decoded: bool,
        depth: usize,
        layer: &mut Layer<'_>,
        out: &mut Vec<Finding>,
    ) {
        let folding = unicode::fold(input);
        for run in &folding.hidden {
            out.push(hidden_finding(run, input));
        }
        for (folded, region) in &folding.layers {
            let growth = folded.bytes.len().saturating_sub(region.1 - region.0);
            if !layer.budget.take(growth) {
                return;
            }
            let mut inner = Vec::new();
            if decoded {
                if !self.known.is_empty() {
                    self.known.scan(&folded.bytes, &mut inner);
                }
                self.patterns.scan(&folded.bytes, &mut inner);
                if let Some(safe) = &self.safe {
                    safe.filter(&folded.bytes, &mut inner);
                }
            } else {
                let mut inner_layer = Layer {
                    known: !self.known.is_empty(),
                    patterns: true,
                    unicode: true,
                    budget: &mut *layer.budget,
                };
                // Folding is not a layer of depth: a folded layer is never
                // folded again, and what it decodes into is one layer
                // deeper.
                self.scan_layer(
                    &folded.bytes,
                    Some(folded),
                    depth,
                    &mut inner_layer,
                    &mut inner,
                );
            }
            for finding in inner {
                if finding.detector == Detector::Unicode {
                    // Found by folding a layer decoded from the folded
                    // text: it touched a folded character there.
                    let mut finding = finding;
                    (finding.start, finding.end) = folded.input_span(finding.start, finding.end);
                    out.push(finding);
                    continue;
                }
                let mapped = map_finding(finding, folded, Some(Detector::Unicode));
                let touches_folded = folding
                    .changed
                    .iter()
                    .any(|(start, end)| *start < mapped.end && mapped.start < *end);
                if touches_folded {
                    out.push(mapped);
                }
            }
        }
    }

    /// Scan an HTTP request head: CRLF injection (raw or percent-encoded CR
    /// or LF) in the request line, header names and values, plus every
    /// other enabled detector on the request line and header values.
    /// Offsets are into the part named by each finding's `location`.
    pub fn scan_request_head(&self, request_line: &str, headers: &[(String, String)]) -> Findings {
        let mut out = Vec::new();
        let located = |findings: Vec<Finding>, location: Location, out: &mut Vec<Finding>| {
            out.extend(findings.into_iter().map(|mut finding| {
                finding.location = location;
                finding
            }));
        };
        if self.detectors.contains(Detector::Crlf) {
            let mut found = Vec::new();
            crlf::find(request_line, &mut found);
            located(found, Location::RequestLine, &mut out);
            for (index, (name, value)) in headers.iter().enumerate() {
                let mut found = Vec::new();
                crlf::find(name, &mut found);
                located(
                    found,
                    Location::Header {
                        index,
                        in_name: true,
                    },
                    &mut out,
                );
                let mut found = Vec::new();
                crlf::find(value, &mut found);
                located(
                    found,
                    Location::Header {
                        index,
                        in_name: false,
                    },
                    &mut out,
                );
            }
        }
        located(
            self.scan(request_line.as_bytes()).into_vec(),
            Location::RequestLine,
            &mut out,
        );
        for (index, (_, value)) in headers.iter().enumerate() {
            located(
                self.scan(value.as_bytes()).into_vec(),
                Location::Header {
                    index,
                    in_name: false,
                },
                &mut out,
            );
        }
        out.extend(self.scan_header_names(headers));
        out.extend(self.scan_across_head(request_line, headers));
        Findings::from_unsorted(out)
    }

    /// Held secrets spread over the head's parts, joined one per line
    /// through the held-secret matcher alone (its separated form ignores
    /// the line breaks), twice: the request line and the header values
    /// (pieces in adjacent values: a name between them would break the
    /// run), then the request line and each header's name and value in
    /// wire order (pieces alternating between names and values,
    /// `x-<piece 1>: <piece 2>`). Only matches that no single part holds
    /// are kept (those are reported per part). A spread that reorders its
    /// pieces is not found; nor is one over several requests.
    fn scan_across_head(&self, request_line: &str, headers: &[(String, String)]) -> Vec<Finding> {
        if !self.detectors.contains(Detector::Known) || self.known.is_empty() {
            return Vec::new();
        }
        // The values alone (pieces spread over adjacent values), then the
        // head in wire order (pieces alternating between names and values).
        let values =
            std::iter::once(request_line).chain(headers.iter().map(|(_, value)| value.as_str()));
        let found = self.scan_joined(values);
        if !found.is_empty() {
            return found;
        }
        let wire = std::iter::once(request_line).chain(
            headers
                .iter()
                .flat_map(|(name, value)| [name.as_str(), value.as_str()]),
        );
        self.scan_joined(wire)
    }

    /// `parts` joined one per line through the held-secret matcher alone;
    /// the matches no single part holds, at [`Location::Head`] (offsets
    /// into the joined text), unredactable.
    fn scan_joined<'a>(&self, parts: impl Iterator<Item = &'a str>) -> Vec<Finding> {
        let mut joined = Vec::new();
        let mut spans = Vec::new();
        for part in parts {
            let start = joined.len();
            joined.extend_from_slice(part.as_bytes());
            spans.push((start, joined.len()));
            joined.push(b'\n');
        }
        let mut found = Vec::new();
        self.known.scan(&joined, &mut found);
        if let Some(safe) = &self.safe {
            safe.filter(&joined, &mut found);
        }
        found
            .into_iter()
            .filter(|finding| {
                !spans
                    .iter()
                    .any(|(start, end)| *start <= finding.start && finding.end <= *end)
            })
            .map(|mut finding| {
                finding.location = Location::Head;
                finding.redactable = false;
                finding
            })
            .collect()
    }

    /// Every detector on the header names: a name is chosen by the sender
    /// as freely as a value (`x-<hex of a secret>: 1`). The names are
    /// scanned together, one per line (one scan, not one per header), and
    /// each finding is placed in the name it starts in.
    fn scan_header_names(&self, headers: &[(String, String)]) -> Vec<Finding> {
        let mut joined = Vec::new();
        let mut starts = Vec::with_capacity(headers.len());
        for (name, _) in headers {
            starts.push(joined.len());
            joined.extend_from_slice(name.as_bytes());
            joined.push(b'\n');
        }
        self.scan(&joined)
            .into_vec()
            .into_iter()
            .map(|mut finding| {
                let index = starts
                    .partition_point(|start| *start <= finding.start)
                    .saturating_sub(1);
                let offset = starts.get(index).copied().unwrap_or(0);
                let length = headers.get(index).map_or(0, |(name, _)| name.len());
                finding.start = (finding.start - offset).min(length);
                finding.end = finding
                    .end
                    .saturating_sub(offset)
                    .clamp(finding.start, length);
                finding.location = Location::Header {
                    index,
                    in_name: true,
                };
                finding
            })
            .collect()
    }

    /// Scrub every redactable finding from `input` and re-scan, up to
    /// [`MAX_REDACT_ROUNDS`] times. Warnings (entropy) are left alone.
    pub fn redact(&self, input: &[u8]) -> Redaction {
        let mut bytes = input.to_vec();
        // Structural findings of the input itself stay reported even if
        // scrubbing a neighbouring redactable finding happens to remove them:
        // an evasion attempt is refused, not laundered.
        let mut structural: Vec<Finding> = Vec::new();
        for round in 0..=MAX_REDACT_ROUNDS {
            let findings = self.scan(&bytes);
            if round == 0 {
                structural = findings
                    .iter()
                    .filter(|finding| !finding.redactable && finding.severity == Severity::Block)
                    .cloned()
                    .collect();
            }
            let spans: Vec<(usize, usize)> = findings
                .iter()
                .filter(|finding| finding.redactable && finding.severity == Severity::Block)
                .map(|finding| (finding.start, finding.end))
                .collect();
            if spans.is_empty() || round == MAX_REDACT_ROUNDS {
                let mut unredactable = blocking(findings).into_vec();
                if round > 0 {
                    unredactable.extend(structural);
                }
                return Redaction {
                    bytes,
                    unredactable: Findings::from_unsorted(unredactable),
                };
            }
            bytes = replace_spans(&bytes, spans);
        }
        Redaction {
            bytes,
            unredactable: Findings::from_unsorted(structural),
        }
    }

    /// [`Scanner::redact`] for a request head: the request line and each
    /// header value are scrubbed; CRLF findings are never scrubbed (they
    /// are structural) and come back in `unredactable`. Use
    /// [`crate::strip_crlf`] to remove CR/LF if a policy allows it.
    pub fn redact_request_head(
        &self,
        request_line: &str,
        headers: &[(String, String)],
    ) -> HeadRedaction {
        let mut unredactable = Vec::new();
        let line = self.redact(request_line.as_bytes());
        unredactable.extend(line.unredactable.into_vec().into_iter().map(|mut finding| {
            finding.location = Location::RequestLine;
            finding
        }));
        let mut redacted_headers = Vec::with_capacity(headers.len());
        for (index, (name, value)) in headers.iter().enumerate() {
            let redacted = self.redact(value.as_bytes());
            unredactable.extend(
                redacted
                    .unredactable
                    .into_vec()
                    .into_iter()
                    .map(|mut finding| {
                        finding.location = Location::Header {
                            index,
                            in_name: false,
                        };
                        finding
                    }),
            );
            redacted_headers.push((
                name.clone(),
                String::from_utf8_lossy(&redacted.bytes).into_owned(),
            ));
        }
        // Nor can a secret spread over several parts be scrubbed part by
        // part.
        unredactable.extend(self.scan_across_head(request_line, headers));
        // A name cannot be rewritten: a finding in one is unredactable.
        unredactable.extend(
            self.scan_header_names(headers)
                .into_iter()
                .filter(|finding| finding.severity == Severity::Block),
        );
        let request_line = String::from_utf8_lossy(&line.bytes).into_owned();
        let mut crlf_findings = Findings::default();
        if self.detectors.contains(Detector::Crlf) {
            let structural: Vec<Finding> = self
                .scan_request_head(&request_line, &redacted_headers)
                .into_iter()
                .filter(|finding| finding.detector == Detector::Crlf)
                .collect();
            crlf_findings = Findings::from_unsorted(structural);
        }
        let mut unredactable = Findings::from_unsorted(unredactable);
        unredactable.extend(crlf_findings);
        HeadRedaction {
            request_line,
            headers: redacted_headers,
            unredactable,
        }
    }

    /// A streaming scan: feed chunks, get findings (with offsets into the
    /// whole stream) as soon as they are certain. Memory is bounded by
    /// [`Scanner::stream_overlap`] plus one slice, whatever the input size.
    pub fn stream(&self) -> StreamScanner<'_> {
        StreamScanner::new(self)
    }
}

fn blocking(findings: Findings) -> Findings {
    Findings::from_unsorted(
        findings
            .into_iter()
            .filter(|finding| finding.severity == Severity::Block)
            .collect(),
    )
}

/// `bytes` with every span (merged where they overlap) replaced by the mark.
fn replace_spans(bytes: &[u8], mut spans: Vec<(usize, usize)>) -> Vec<u8> {
    spans.sort_unstable();
    let mut out = Vec::with_capacity(bytes.len());
    let mut position = 0;
    for (start, end) in spans {
        if end <= position {
            continue;
        }
        let start = start.max(position);
        out.extend_from_slice(&bytes[position..start]);
        out.extend_from_slice(REDACTION_MARK);
        position = end;
    }
    out.extend_from_slice(&bytes[position.min(bytes.len())..]);
    out
}

/// Add a finding from a decoded layer unless a whole (not `partial`)
/// finding of the same rule overlaps it; `partial` findings it covers (a
/// run that the decoded layer shows to be the whole secret) are replaced,
/// and with `replaces` (a UTF-16 layer) whole ones it covers too.
fn merge_decoded(found: &mut Vec<Finding>, mapped: Finding, replaces: bool) {
    let same_rule = |existing: &Finding| {
        existing.rule == mapped.rule
            && existing.detector == mapped.detector
            && existing.overlaps(&mapped)
    };
    let is_partial = |finding: &Finding| finding.encoding.contains("partial");
    let covered = |existing: &Finding| {
        same_rule(existing)
            && (replaces || is_partial(existing))
            && mapped.start <= existing.start
            && existing.end <= mapped.end
    };
    if found
        .iter()
        .any(|existing| same_rule(existing) && !is_partial(existing) && !covered(existing))
    {
        return;
    }
    found.retain(|existing| !covered(existing));
    found.push(mapped);
}

/// A finding of a decoded layer, moved to the encoded input's offsets.
fn map_finding(mut finding: Finding, decoded: &Decoded, detector: Option<Detector>) -> Finding {
    let (start, end) = decoded.input_span(finding.start, finding.end);
    finding.start = start;
    finding.end = end;
    match detector {
        Some(Detector::Unicode) => {
            finding.encoding = format!(
                "{} ({}) after Unicode folding",
                finding.rule, finding.encoding
            );
            finding.rule = "unicode-evasion".to_string();
            finding.detector = Detector::Unicode;
            finding.redactable = false;
            finding.severity = Severity::Block;
        }
        _ => {
            finding.encoding = format!("{} in {}", finding.encoding, decoded.kind.label());
        }
    }
    finding
}
