//! Credential shapes: the compiled rules behind one keyword prefilter.
//!
//! Running 80 regexes over every byte would be far too slow for the proxy's
//! hot path. Instead one Aho-Corasick DFA (ASCII case-insensitive, measured
//! about 3x faster than the default kind with this many keywords) finds
//! every rule keyword in a single pass; each rule's regex then runs only in
//! a window of its maximum match length around its keywords' hits, with the
//! bytes outside the window still visible to `\b` and other look-arounds.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex_automata::Input;

use crate::config::Detector;
use crate::error::DlpError;
use crate::finding::Finding;
use crate::rules::{Rule, RuleSet};

/// Whether an occurrence of `first` can hide an occurrence of `second` from
/// a non-overlapping search: `first` inside `second`, or a suffix of `first`
/// that is a prefix of `second` (so `first` is reported and the search
/// resumes past the start of `second`).
fn may_overlap(first: &str, second: &str) -> bool {
    if second.contains(first) || first.contains(second) {
        return true;
    }
    let (first, second) = (first.as_bytes(), second.as_bytes());
    (1..first.len().min(second.len())).any(|length| first.ends_with(&second[..length]))
}

/// All rules of a scanner, with their prefilter.
pub(crate) struct PatternMatcher {
    rules: Vec<Rule>,
    prefilter: AhoCorasick,
    /// For each prefilter pattern, the rules that listed it as a keyword.
    keyword_rules: Vec<Vec<usize>>,
    longest_match: usize,
}

impl PatternMatcher {
    pub(crate) fn new(sets: &[RuleSet]) -> Result<Self, DlpError> {
        let mut rules: Vec<Rule> = Vec::new();
        for set in sets {
            for rule in set.rules() {
                if let Some(first) = rules.iter().find(|existing| existing.id() == rule.id()) {
                    return Err(DlpError::DuplicateRule {
                        source_name: set.source_name().to_string(),
                        rule_id: rule.id().to_string(),
                        first_source: first.source().to_string(),
                    });
                }
                rules.push(rule.clone());
            }
        }
        let mut keywords: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        for (rule_index, rule) in rules.iter().enumerate() {
            for keyword in rule.keywords() {
                let lowered = keyword.to_ascii_lowercase();
                match keywords.iter().position(|existing| *existing == lowered) {
                    Some(position) => keyword_rules[position].push(rule_index),
                    None => {
                        keywords.push(lowered);
                        keyword_rules.push(vec![rule_index]);
                    }
                }
            }
        }
        // The prefilter reports non-overlapping matches (much faster than
        // overlapping ones): a keyword that hides inside or overlaps another
        // in the text may go unreported, so each keyword also triggers the
        // rules of every keyword it can overlap with.
        let direct = keyword_rules.clone();
        for (index, keyword) in keywords.iter().enumerate() {
            for (other_index, other) in keywords.iter().enumerate() {
                if index != other_index && may_overlap(keyword, other) {
                    for &rule_index in &direct[other_index] {
                        if !keyword_rules[index].contains(&rule_index) {
                            keyword_rules[index].push(rule_index);
                        }
                    }
                }
            }
        }
        let prefilter = AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&keywords)
            .map_err(|source| DlpError::Prefilter { source })?;
        let longest_match = rules.iter().map(Rule::max_len).max().unwrap_or(0);
        Ok(Self {
            rules,
            prefilter,
            keyword_rules,
            longest_match,
        })
    }

    /// The longest match any rule can produce.
    pub(crate) fn longest_match(&self) -> usize {
        self.longest_match
    }

    /// Every rule match in `input`.
    pub(crate) fn scan(&self, input: &[u8], out: &mut Vec<Finding>) {
        if self.rules.is_empty() {
            return;
        }
        let mut windows: Vec<(usize, usize, usize)> = Vec::new();
        for hit in self.prefilter.find_iter(input) {
            for &rule_index in &self.keyword_rules[hit.pattern().as_usize()] {
                let reach = self.rules[rule_index].max_len;
                windows.push((
                    rule_index,
                    hit.start().saturating_sub(reach),
                    (hit.end() + reach).min(input.len()),
                ));
            }
        }
        if windows.is_empty() {
            return;
        }
        windows.sort_unstable();
        let mut merged: Vec<(usize, usize, usize)> = Vec::with_capacity(windows.len());
        for window in windows {
            match merged.last_mut() {
                Some(last) if last.0 == window.0 && window.1 <= last.2 => {
                    last.2 = last.2.max(window.2);
                }
                _ => merged.push(window),
            }
        }
        for (rule_index, start, end) in merged {
            self.scan_window(&self.rules[rule_index], input, start, end, out);
        }
    }

    fn scan_window(
        &self,
        rule: &Rule,
        input: &[u8],
        start: usize,
        end: usize,
        out: &mut Vec<Finding>,
    ) {
        let mut captures = rule.regex.create_captures();
        let mut position = start;
        while position < end {
            let search = Input::new(input).span(position..end);
            rule.regex.search_captures(&search, &mut captures);
            let Some(whole) = captures.get_match() else {
                break;
            };
            position = if whole.end() > whole.start() {
                whole.end()
            } else {
                whole.start() + 1
            };
            let span = captures
                .get_group(rule.secret_group)
                .unwrap_or_else(|| whole.span());
            if span.is_empty() {
                continue;
            }
            let secret = &input[span.start..span.end];
            if rule.accepts(secret) {
                out.push(Finding::new(
                    Detector::Patterns,
                    rule.id(),
                    "raw",
                    (span.start, span.end),
                    secret.to_vec(),
                ));
            }
        }
    }
}
