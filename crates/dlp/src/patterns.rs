//! Credential shapes: the compiled rules behind one keyword prefilter.
//!
//! Running 80 regexes over every byte would be far too slow for the proxy's
//! hot path. Instead one pass finds every rule keyword (ASCII
//! case-insensitive); each rule's regex then runs only in a window of its
//! maximum match length around its keywords' hits, with the bytes outside
//! the window still visible to `\b` and other look-arounds.
//!
//! The keyword pass is a *gram filter* when every keyword has at least
//! [`GRAM_KEYWORD_MIN_LEN`] bytes (the built-in rules do): each input
//! position's 3-byte gram is hashed into a 16 KiB bit set holding every case
//! variant of every keyword's first three bytes, and only the rare positions
//! whose bit is set are compared with the keywords that start with that
//! gram. There is no dependency between positions, so it runs several times
//! faster than an automaton's one state transition per byte, and it reports
//! every occurrence of every keyword (overlapping ones too). With a shorter
//! keyword (a user rule), one Aho-Corasick DFA finds them instead.

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

/// Keywords this long or longer can be found by the gram filter.
pub(crate) const GRAM_KEYWORD_MIN_LEN: usize = 3;

/// log2 of the number of bits in the keyword gram filter (2^17 bits =
/// 16 KiB, so it stays in the L1 cache).
const GRAM_FILTER_BITS: u32 = 17;

/// 64-bit words in the keyword gram filter.
const GRAM_FILTER_WORDS: usize = (1 << GRAM_FILTER_BITS) / 64;

/// Odd constant for multiplicative hashing of 3-byte grams (the 64-bit
/// golden ratio: a 32-bit multiplier left 7 % of text positions in the
/// filter, this one under 1 %).
const GRAM_HASH_MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// Gram positions tested per 8-byte load (the last two need bytes past it).
const GRAMS_PER_WORD: usize = 6;

/// Whether a 3-byte gram (the low 24 bits of `gram`) has its filter bit
/// set: 1 or 0. The top bits of the hash give the word, the next six the
/// bit, so the index is in range by construction.
#[inline]
fn gram_bit(filter: &[u64; GRAM_FILTER_WORDS], gram: u64) -> u64 {
    let hash = (gram & 0x00FF_FFFF).wrapping_mul(GRAM_HASH_MULTIPLIER);
    let word = (hash >> (64 - (GRAM_FILTER_BITS - 6))) as usize;
    let bit = (hash >> (64 - GRAM_FILTER_BITS)) & 63;
    (filter[word] >> bit) & 1
}

/// Sets a gram's filter bit.
fn set_gram_bit(filter: &mut [u64; GRAM_FILTER_WORDS], gram: u64) {
    let hash = (gram & 0x00FF_FFFF).wrapping_mul(GRAM_HASH_MULTIPLIER);
    let word = (hash >> (64 - (GRAM_FILTER_BITS - 6))) as usize;
    let bit = (hash >> (64 - GRAM_FILTER_BITS)) & 63;
    filter[word] |= 1 << bit;
}

/// Slots of the keyword-head table (a power of two; at most half are
/// used, or the gram filter is not used).
const HEAD_SLOTS: usize = 4096;

/// A lower-cased head's first slot in the head table.
#[inline]
fn head_slot(head: u64) -> usize {
    (head.wrapping_mul(GRAM_HASH_MULTIPLIER) >> 52) as usize & (HEAD_SLOTS - 1)
}

/// The first three bytes of `bytes` as the low 24 bits of a `u64`.
#[inline]
fn gram_of(bytes: &[u8]) -> u64 {
    u64::from(bytes[0]) | (u64::from(bytes[1]) << 8) | (u64::from(bytes[2]) << 16)
}

/// Eight bytes of `bytes` from `start` (zero past its end, which no
/// keyword byte equals) as a little-endian word, ASCII letters lower-cased.
#[inline]
fn lowered_word(bytes: &[u8], start: usize) -> u64 {
    let word = match bytes.get(start..start + 8) {
        Some(eight) => {
            let mut word = [0u8; 8];
            word.copy_from_slice(eight);
            u64::from_le_bytes(word)
        }
        None => {
            let mut word = [0u8; 8];
            for (slot, byte) in word.iter_mut().zip(bytes.get(start..).unwrap_or_default()) {
                *slot = *byte;
            }
            u64::from_le_bytes(word)
        }
    };
    // Per byte, without carries between bytes: the high bit of `at_least_a`
    // is set where the low seven bits are >= b'A', of `above_z` where they
    // are > b'Z'; ASCII (high bit clear) upper-case letters get 0x20.
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low = word & !HIGH;
    let at_least_a = low + ONES * (0x80 - u64::from(b'A'));
    let above_z = low + ONES * (0x80 - u64::from(b'Z') - 1);
    let upper = at_least_a & !above_z & !word & HIGH;
    word | (upper >> 2)
}

/// The keywords sharing one lower-cased head.
struct Head {
    /// The head (low 24 bits).
    gram: u64,
    /// Its keywords' range of [`GramFinder::prefixes`].
    first: usize,
    end: usize,
}

/// A keyword's first (up to) eight bytes, to reject most positions with
/// one compare.
struct KeywordPrefix {
    /// The lower-cased bytes, little-endian; zero above `mask`.
    prefix: u64,
    mask: u64,
    keyword: usize,
}

/// Finds every occurrence of keywords of at least three bytes, ASCII
/// case-insensitively.
struct GramFinder {
    /// One bit per gram slot: set for every case variant of every keyword's
    /// first three bytes.
    filter: Box<[u64; GRAM_FILTER_WORDS]>,
    /// Lower-cased first three bytes, with the range of `prefixes` of the
    /// keywords that start with them.
    heads: Vec<Head>,
    /// Each keyword's first (up to) eight bytes, grouped by head.
    prefixes: Vec<KeywordPrefix>,
    /// Open-addressing table from a lower-cased head's hash to its index in
    /// `heads` plus one (0: empty), probed linearly.
    head_slots: Box<[u16; HEAD_SLOTS]>,
    /// The vector prefilter over the heads (`simd.rs`).
    head_filter: crate::simd::HeadFilter,
    /// The keywords, lower-cased.
    keywords: Vec<Vec<u8>>,
}

impl GramFinder {
    /// `None` if a keyword is shorter than [`GRAM_KEYWORD_MIN_LEN`].
    fn new(keywords: &[String]) -> Option<Self> {
        let keywords: Vec<Vec<u8>> = keywords
            .iter()
            .map(|keyword| keyword.as_bytes().to_ascii_lowercase())
            .collect();
        if keywords
            .iter()
            .any(|keyword| keyword.len() < GRAM_KEYWORD_MIN_LEN)
        {
            return None;
        }
        let mut filter = Box::new([0u64; GRAM_FILTER_WORDS]);
        let mut heads: Vec<(u64, Vec<usize>)> = Vec::new();
        for (index, keyword) in keywords.iter().enumerate() {
            let head = gram_of(keyword);
            match heads.iter_mut().find(|(existing, _)| *existing == head) {
                Some((_, list)) => list.push(index),
                None => heads.push((head, vec![index])),
            }
            // Every case variant of the three bytes (ASCII letters only).
            for variant in 0..8u32 {
                let mut bytes = [keyword[0], keyword[1], keyword[2]];
                for (position, byte) in bytes.iter_mut().enumerate() {
                    if variant & (1 << position) != 0 {
                        *byte = byte.to_ascii_uppercase();
                    }
                }
                set_gram_bit(&mut filter, gram_of(&bytes));
            }
        }
        if heads.len() >= HEAD_SLOTS / 2 {
            return None;
        }
        let mut prefixes = Vec::with_capacity(keywords.len());
        let heads: Vec<Head> = heads
            .into_iter()
            .map(|(gram, list)| {
                let first = prefixes.len();
                for keyword in list {
                    let bytes = &keywords[keyword];
                    let length = bytes.len().min(8);
                    let mut word = [0u8; 8];
                    word[..length].copy_from_slice(&bytes[..length]);
                    let mask = if length == 8 {
                        u64::MAX
                    } else {
                        (1u64 << (8 * length)) - 1
                    };
                    prefixes.push(KeywordPrefix {
                        prefix: u64::from_le_bytes(word),
                        mask,
                        keyword,
                    });
                }
                Head {
                    gram,
                    first,
                    end: prefixes.len(),
                }
            })
            .collect();
        let mut head_slots = Box::new([0u16; HEAD_SLOTS]);
        for (index, head) in heads.iter().enumerate() {
            let mut slot = head_slot(head.gram);
            while head_slots[slot] != 0 {
                slot = (slot + 1) % HEAD_SLOTS;
            }
            head_slots[slot] = u16::try_from(index + 1).ok()?;
        }
        Some(Self {
            filter,
            heads,
            prefixes,
            head_slots,
            head_filter: crate::simd::HeadFilter::new(&keywords),
            keywords,
        })
    }

    /// Calls `found(keyword, start, end)` for every occurrence of every
    /// keyword in `input`.
    fn find(&self, input: &[u8], found: impl FnMut(usize, usize, usize)) {
        self.find_with(input, true, found);
    }

    /// [`GramFinder::find`], with or without the vector prefilter.
    fn find_with(&self, input: &[u8], vector: bool, mut found: impl FnMut(usize, usize, usize)) {
        if input.len() < GRAM_KEYWORD_MIN_LEN {
            return;
        }
        let filter = &*self.filter;
        // The vector prefilter first (where the CPU has it), each candidate
        // confirmed by the gram filter, then the portable loop from where it
        // stopped.
        let mut start = 0;
        if vector {
            start = self.head_filter.candidates(input, |position| {
                if gram_bit(filter, gram_of(&input[position..])) != 0 {
                    self.check(input, position, &mut found);
                }
            });
        }
        // Six gram positions per 8-byte load, one branch for all six.
        while start + 8 <= input.len() {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&input[start..start + 8]);
            let word = u64::from_le_bytes(bytes);
            let mut set = 0u64;
            for position in 0..GRAMS_PER_WORD {
                set |= gram_bit(filter, word >> (8 * position)) << position;
            }
            while set != 0 {
                let position = set.trailing_zeros() as usize;
                self.check(input, start + position, &mut found);
                set &= set - 1;
            }
            start += GRAMS_PER_WORD;
        }
        while start + GRAM_KEYWORD_MIN_LEN <= input.len() {
            if gram_bit(filter, gram_of(&input[start..])) != 0 {
                self.check(input, start, &mut found);
            }
            start += 1;
        }
    }

    /// Reports the keywords that occur at `start` (a position whose gram
    /// passed the filter).
    #[inline(never)]
    fn check(&self, input: &[u8], start: usize, found: &mut impl FnMut(usize, usize, usize)) {
        let word = lowered_word(input, start);
        let lowered = word & 0x00FF_FFFF;
        let mut slot = head_slot(lowered);
        let head = loop {
            match self.head_slots[slot] {
                0 => return,
                index => {
                    let head = &self.heads[usize::from(index) - 1];
                    if head.gram == lowered {
                        break head;
                    }
                }
            }
            slot = (slot + 1) % HEAD_SLOTS;
        };
        for prefix in &self.prefixes[head.first..head.end] {
            if word & prefix.mask != prefix.prefix {
                continue;
            }
            let bytes = &self.keywords[prefix.keyword];
            if bytes.len() > 8 {
                match input.get(start + 8..start + bytes.len()) {
                    Some(rest) if rest.eq_ignore_ascii_case(&bytes[8..]) => {}
                    _ => continue,
                }
            }
            found(prefix.keyword, start, start + bytes.len());
        }
    }
}

/// How the rule keywords are found.
enum KeywordSearch {
    /// Every keyword has at least three bytes: the gram filter, which
    /// reports every occurrence.
    Grams(GramFinder),
    /// A shorter keyword exists: one DFA, non-overlapping (so each keyword
    /// also triggers the rules of every keyword it can hide; see
    /// [`may_overlap`]).
    Automaton(AhoCorasick),
}

/// All rules of a scanner, with their prefilter.
pub(crate) struct PatternMatcher {
    rules: Vec<Rule>,
    /// Rules without keywords (imported gitleaks rules): they run over every
    /// input.
    keywordless: Vec<usize>,
    search: KeywordSearch,
    /// For each keyword, the rules that listed it (gram filter), or those
    /// plus the rules of every keyword it can hide (automaton).
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
        let search = match GramFinder::new(&keywords) {
            Some(grams) => KeywordSearch::Grams(grams),
            None => {
                // The automaton reports non-overlapping matches (much faster
                // than overlapping ones): a keyword that hides inside or
                // overlaps another in the text may go unreported, so each
                // keyword also triggers the rules of every keyword it can
                // overlap with.
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
                let automaton = AhoCorasick::builder()
                    .kind(Some(AhoCorasickKind::DFA))
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&keywords)
                    .map_err(|source| DlpError::Prefilter { source })?;
                KeywordSearch::Automaton(automaton)
            }
        };
        let longest_match = rules.iter().map(Rule::max_len).max().unwrap_or(0);
        let keywordless = rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| rule.keywords().is_empty())
            .map(|(index, _)| index)
            .collect();
        Ok(Self {
            rules,
            keywordless,
            search,
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
        let mut windows: Vec<(usize, usize, usize)> = self
            .keywordless
            .iter()
            .map(|&rule_index| (rule_index, 0, input.len()))
            .collect();
        let mut add = |keyword: usize, start: usize, end: usize| {
            for &rule_index in &self.keyword_rules[keyword] {
                let rule = &self.rules[rule_index];
                if rule.whole_input {
                    windows.push((rule_index, 0, input.len()));
                    continue;
                }
                let reach = rule.max_len;
                windows.push((
                    rule_index,
                    start.saturating_sub(reach),
                    (end + reach).min(input.len()),
                ));
            }
        };
        match &self.search {
            KeywordSearch::Grams(grams) => grams.find(input, add),
            KeywordSearch::Automaton(automaton) => {
                for hit in automaton.find_iter(input) {
                    add(hit.pattern().as_usize(), hit.start(), hit.end());
                }
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
            let span = rule.secret_span(&captures, whole.span());
            if span.is_empty() {
                continue;
            }
            if rule.accepts(input, (whole.start(), whole.end()), (span.start, span.end)) {
                out.push(Finding::new(
                    Detector::Patterns,
                    rule.id(),
                    "raw",
                    (span.start, span.end),
                    input[span.start..span.end].to_vec(),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin_keywords() -> Vec<String> {
        let mut keywords: Vec<String> = Vec::new();
        let sets = [RuleSet::builtin().unwrap_or_else(|error| panic!("{error}"))];
        for rule in sets[0].rules() {
            for keyword in rule.keywords() {
                let lowered = keyword.to_ascii_lowercase();
                if !keywords.contains(&lowered) {
                    keywords.push(lowered);
                }
            }
        }
        keywords
    }

    /// Every occurrence, as an overlapping Aho-Corasick search reports it.
    fn reference(keywords: &[String], input: &[u8]) -> Vec<(usize, usize, usize)> {
        let automaton = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(keywords)
            .unwrap_or_else(|error| panic!("{error}"));
        let mut out: Vec<(usize, usize, usize)> = automaton
            .find_overlapping_iter(input)
            .map(|found| (found.pattern().as_usize(), found.start(), found.end()))
            .collect();
        out.sort_unstable();
        out
    }

    /// The gram finder's occurrences, checked to be the same with and
    /// without the vector prefilter.
    fn grams(keywords: &[String], input: &[u8]) -> Vec<(usize, usize, usize)> {
        let finder = GramFinder::new(keywords).unwrap_or_else(|| panic!("long keywords"));
        let run = |vector: bool| {
            let mut out = Vec::new();
            finder.find_with(input, vector, |keyword, start, end| {
                out.push((keyword, start, end));
            });
            out.sort_unstable();
            out
        };
        let portable = run(false);
        assert_eq!(run(true), portable, "vector and portable keyword search");
        portable
    }

    #[test]
    fn builtin_keywords_all_use_the_gram_filter() {
        assert!(GramFinder::new(&builtin_keywords()).is_some());
    }

    #[test]
    fn a_short_keyword_falls_back_to_the_automaton() {
        assert!(GramFinder::new(&["ab".to_string(), "abcd".to_string()]).is_none());
    }

    #[test]
    fn gram_filter_finds_overlapping_keywords_at_every_position() {
        let keywords = builtin_keywords();
        let text = b"xSECRET=Secret_ASIAsk-ant-Sk0:AA://Hooks.Slack.Com/ghp_";
        // Shifts across a 64-byte vector block and past it.
        for shift in 0..140 {
            let mut input = vec![b'.'; shift];
            input.extend_from_slice(text);
            assert_eq!(grams(&keywords, &input), reference(&keywords, &input));
            // The keyword at the very end (the last three bytes).
            input.extend_from_slice(b"aws");
            assert_eq!(grams(&keywords, &input), reference(&keywords, &input));
        }
    }

    /// Every built-in keyword, in lower, upper and mixed case, at every
    /// offset of a 64-byte block, in a long input.
    #[test]
    fn every_keyword_is_found_in_any_case_at_every_block_offset() {
        let keywords = builtin_keywords();
        for keyword in &keywords {
            let mixed: String = keyword
                .chars()
                .enumerate()
                .map(|(index, c)| {
                    if index % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            for variant in [keyword.clone(), keyword.to_ascii_uppercase(), mixed] {
                let mut input = Vec::new();
                for offset in 0..64 {
                    input.extend(std::iter::repeat_n(b' ', 64 + offset));
                    input.extend_from_slice(variant.as_bytes());
                }
                let found = grams(&keywords, &input);
                assert_eq!(found, reference(&keywords, &input));
                let index = keywords
                    .iter()
                    .position(|k| k == keyword)
                    .unwrap_or(usize::MAX);
                let hits = found.iter().filter(|(k, _, _)| *k == index).count();
                assert!(hits >= 64, "{variant}: {hits} of 64");
            }
        }
    }

    /// The word `check` compares keyword prefixes with: exactly the ASCII
    /// capitals folded (not `@ [ ` { ` nor any byte from 0x80), zero past
    /// the end.
    #[test]
    fn lowered_word_folds_exactly_the_ascii_capitals() {
        for byte in 0..=255u8 {
            for position in 0..8 {
                let mut bytes = *b"AbC{@[`z";
                bytes[position] = byte;
                let mut expected = bytes;
                expected.make_ascii_lowercase();
                assert_eq!(
                    lowered_word(&bytes, 0),
                    u64::from_le_bytes(expected),
                    "byte {byte:#04x} at {position}"
                );
            }
        }
        assert_eq!(
            lowered_word(b"xYz", 1),
            u64::from(b'y') | (u64::from(b'z') << 8)
        );
        assert_eq!(lowered_word(b"xYz", 3), 0);
    }

    proptest::proptest! {
        /// Keywords (in any case, cut short or whole) among arbitrary
        /// bytes: the same occurrences as the automaton.
        #[test]
        fn gram_filter_equals_overlapping_automaton_on_any_bytes(
            pieces in proptest::collection::vec(
                (
                    proptest::prelude::any::<proptest::sample::Index>(),
                    proptest::prelude::any::<u32>(),
                    0usize..24,
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..6),
                ),
                0..40,
            )
        ) {
            let keywords = builtin_keywords();
            let mut input = Vec::new();
            for (which, case, length, noise) in pieces {
                let keyword = which.get(&keywords).as_bytes();
                for (index, &byte) in keyword.iter().take(length).enumerate() {
                    input.push(if case >> (index % 32) & 1 == 1 {
                        byte.to_ascii_uppercase()
                    } else {
                        byte
                    });
                }
                input.extend_from_slice(&noise);
            }
            proptest::prop_assert_eq!(grams(&keywords, &input), reference(&keywords, &input));
        }

        #[test]
        fn gram_filter_equals_overlapping_automaton(
            input in proptest::collection::vec(
                proptest::sample::select(b"sSkK0aAeEcCrRtT=_-:/.gGhHpPwWdDyYjJiI ".to_vec()),
                0..600,
            )
        ) {
            let keywords = builtin_keywords();
            proptest::prop_assert_eq!(grams(&keywords, &input), reference(&keywords, &input));
        }
    }
}
