//! Unicode evasion: folding look-alikes and invisible characters away.
//!
//! An agent can hide `ghp_…` as `ｇｈｐ＿…` (full-width), with Cyrillic or
//! Greek look-alikes, or with zero-width and bidi characters between the
//! letters, or write it in invisible tag characters or variation
//! selectors. Folding decodes tag characters to the ASCII they mirror and
//! runs of variation selectors to the bytes they carry, removes the other
//! invisible and format characters, applies NFKC
//! (full-width forms, mathematical alphanumerics, ligatures) and a map of
//! common Cyrillic/Greek/Latin look-alikes. The scanner re-runs the `known`
//! and `patterns` detectors on the folded text; a match whose span contains
//! a folded character is a `unicode-evasion` finding. Those cannot be
//! redacted (a partial scrub of a disguised value is not trustworthy), so
//! callers block them.

use std::sync::LazyLock;

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkd_quick};

use crate::decode::{DECODE_CONTEXT, DecodeKind, Decoded};

/// Characters that render as nothing (or only change direction/shaping) and
/// are dropped by folding: soft hyphen, combining grapheme joiner, Arabic
/// letter mark, Hangul fillers, Khmer vowel inherents, Mongolian selectors,
/// zero-width and bidi controls, word joiner and invisible operators,
/// variation selectors, byte order mark, interlinear annotation, musical
/// formatting and tag characters.
pub fn is_invisible(character: char) -> bool {
    matches!(
        character,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E007F}'
            | '\u{E0100}'..='\u{E01EF}'
    )
}

/// The ASCII letter a common look-alike stands for: Cyrillic, Greek,
/// Coptic, Armenian, Cherokee (both cases), Lisu, Latin small capitals and
/// letters with a stroke, dashes and low lines. Hand-written from Unicode's
/// confusables data (no dependency carries it); NFKC covers the full-width,
/// mathematical, circled and other compatibility forms before this map.
pub fn confusable(character: char) -> Option<char> {
    // Cherokee small letters mirror the capitals (U+AB70 is U+13A0's,
    // U+13F8 is U+13F0's) and look like their small capitals.
    let code = u32::from(character);
    let capital = match code {
        0xAB70..=0xABBF => char::from_u32(code - 0xAB70 + 0x13A0),
        0x13F8..=0x13FD => char::from_u32(code - 0x13F8 + 0x13F0),
        _ => None,
    };
    if let Some(capital) = capital {
        return confusable(capital).map(|ascii| ascii.to_ascii_lowercase());
    }
    let ascii = match character {
        // Cyrillic lower case
        'а' => 'a',
        'в' => 'b',
        'е' => 'e',
        'һ' => 'h',
        'і' => 'i',
        'ј' => 'j',
        'к' => 'k',
        'м' => 'm',
        'н' => 'h',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'т' => 't',
        'у' => 'y',
        'х' => 'x',
        'ѕ' => 's',
        'ԁ' => 'd',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'ɡ' => 'g',
        // Cyrillic upper case
        'А' => 'A',
        'В' => 'B',
        'Е' => 'E',
        'З' => '3',
        'І' => 'I',
        'Ј' => 'J',
        'К' => 'K',
        'М' => 'M',
        'Н' => 'H',
        'О' => 'O',
        'Р' => 'P',
        'С' => 'C',
        'Т' => 'T',
        'У' => 'Y',
        'Х' => 'X',
        'Ѕ' => 'S',
        'Ԁ' => 'D',
        'Ԛ' => 'Q',
        'Ԝ' => 'W',
        // Greek
        'α' => 'a',
        'ε' => 'e',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'Α' => 'A',
        'Β' => 'B',
        'Ε' => 'E',
        'Ζ' => 'Z',
        'Η' => 'H',
        'Ι' => 'I',
        'Κ' => 'K',
        'Μ' => 'M',
        'Ν' => 'N',
        'Ο' => 'O',
        'Ρ' => 'P',
        'Τ' => 'T',
        'Υ' => 'Y',
        'Χ' => 'X',
        // Latin look-alikes
        'ı' => 'i',
        'ɑ' => 'a',
        'ʟ' => 'L',
        'ǀ' => 'l',
        '‐' | '‑' | '‒' | '–' | '—' | '−' | '⁃' | '˗' => '-',
        'ˍ' | 'ߺ' => '_',
        // More Cyrillic
        'ь' | 'Ь' => 'b',
        'ӏ' | 'Ӏ' => 'l',
        'ү' => 'y',
        'Ү' => 'Y',
        'ѵ' => 'v',
        'Ѵ' => 'V',
        'ѡ' => 'w',
        'ҽ' => 'e',
        'б' => '6',
        // More Greek and Coptic
        'ϲ' => 'c',
        'Ϲ' => 'C',
        'ϳ' => 'j',
        'Ϳ' => 'J',
        'γ' => 'y',
        'η' => 'n',
        'ω' => 'w',
        'Ϝ' => 'F',
        'ⲟ' => 'o',
        'Ⲟ' => 'O',
        'ⲣ' => 'p',
        'Ⲣ' => 'P',
        'ⲥ' => 'c',
        'Ⲥ' => 'C',
        // Armenian
        'ս' => 'u',
        'Ս' => 'U',
        'օ' => 'o',
        'Օ' => 'O',
        'զ' => 'q',
        'ց' => 'g',
        'ո' => 'n',
        'հ' => 'h',
        'ա' => 'w',
        'Տ' => 'S',
        'Լ' => 'L',
        // Cherokee capitals
        'Ꭰ' => 'D',
        'Ꭱ' | 'Ꮢ' => 'R',
        'Ꭲ' => 'T',
        'Ꭵ' => 'i',
        'Ꭹ' => 'Y',
        'Ꭺ' => 'A',
        'Ꭻ' => 'J',
        'Ꭼ' => 'E',
        'Ꮃ' | 'Ꮤ' => 'W',
        'Ꮇ' => 'M',
        'Ꮋ' => 'H',
        'Ꮐ' => 'G',
        'Ꮒ' => 'h',
        'Ꮓ' => 'Z',
        'Ꮞ' => '4',
        'Ꮟ' => 'b',
        'Ꮥ' | 'Ꮪ' => 'S',
        'Ꮩ' => 'V',
        'Ꮮ' => 'L',
        'Ꮯ' => 'C',
        'Ꮲ' => 'P',
        'Ꮶ' => 'K',
        'Ᏼ' => 'B',
        // Lisu
        'ꓐ' => 'B',
        'ꓑ' => 'P',
        'ꓓ' => 'D',
        'ꓔ' => 'T',
        'ꓖ' => 'G',
        'ꓗ' => 'K',
        'ꓙ' => 'J',
        'ꓚ' => 'C',
        'ꓜ' => 'Z',
        'ꓝ' => 'F',
        'ꓟ' => 'M',
        'ꓠ' => 'N',
        'ꓡ' => 'L',
        'ꓢ' => 'S',
        'ꓣ' => 'R',
        'ꓦ' => 'V',
        'ꓧ' => 'H',
        'ꓪ' => 'W',
        'ꓫ' => 'X',
        'ꓬ' => 'Y',
        'ꓮ' => 'A',
        'ꓰ' => 'E',
        'ꓲ' => 'I',
        'ꓳ' => 'O',
        'ꓴ' => 'U',
        // Latin small capitals
        'ᴀ' => 'a',
        'ʙ' => 'b',
        'ᴄ' => 'c',
        'ᴅ' => 'd',
        'ᴇ' => 'e',
        'ꜰ' => 'f',
        'ɢ' => 'g',
        'ʜ' => 'h',
        'ɪ' => 'i',
        'ᴊ' => 'j',
        'ᴋ' => 'k',
        'ᴍ' => 'm',
        'ɴ' => 'n',
        'ᴏ' => 'o',
        'ᴘ' => 'p',
        'ʀ' => 'r',
        'ꜱ' => 's',
        'ᴛ' => 't',
        'ᴜ' => 'u',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'ʏ' => 'y',
        'ᴢ' => 'z',
        // Latin letters with a stroke or hook (no decomposition)
        'ø' => 'o',
        'Ø' => 'O',
        'đ' => 'd',
        'Đ' => 'D',
        'ħ' => 'h',
        'Ħ' => 'H',
        'ł' => 'l',
        'Ł' => 'L',
        'ŧ' => 't',
        'Ŧ' => 'T',
        'ƀ' => 'b',
        'ƅ' => 'b',
        'ɨ' => 'i',
        'ɩ' => 'i',
        'ʉ' => 'u',
        'ǥ' => 'g',
        'Ǥ' => 'G',
        'ƚ' => 'l',
        'Ɩ' => 'l',
        'ȷ' => 'j',
        'ɵ' => 'o',
        _ => return None,
    };
    Some(ascii)
}

/// CJK unified ideographs and Hangul syllables, which folding leaves as
/// they are: the bulk of Chinese, Japanese and Korean text, told apart by
/// range before any table lookup.
fn is_plain_ideograph(character: char) -> bool {
    matches!(
        character,
        '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{AC00}'..='\u{D7A3}'
    )
}

/// `character` folded, into `out`: its look-alike's ASCII letter, or its
/// compatibility decomposition (NFKD) without combining marks (general
/// category M: `unicode-normalization` tells marks apart, not Mn and Me
/// from the spacing Mc, so all three are dropped), each character of it
/// mapped through [`confusable`], recomposed (NFC: Hangul syllables).
/// NFKC alone composed a combining mark into the letter before it
/// (`g` + U+0301 is `ǵ`), so one mark defeated every rule.
fn fold_char(character: char, out: &mut Vec<char>) {
    let code = u32::from(character);
    if (LATIN_START..LATIN_END).contains(&code)
        && let Some(&(length, folded)) = usize::try_from(code - LATIN_START)
            .ok()
            .and_then(|index| LATIN.get(index))
        && let Some(folded) = folded.get(..usize::from(length))
    {
        out.extend_from_slice(folded);
        return;
    }
    fold_char_slowly(character, out);
}

/// The Latin-1 supplement and Latin Extended-A and -B (accented European
/// text), folded once: [`fold_char`] looks them up.
const LATIN_START: u32 = 0x80;
const LATIN_END: u32 = 0x250;

/// [`fold_char_slowly`] of every character from [`LATIN_START`] to
/// [`LATIN_END`], as a length and the folded characters (a length past 3:
/// not in the table).
static LATIN: LazyLock<Vec<(u8, [char; 3])>> = LazyLock::new(|| {
    let mut scratch = Vec::with_capacity(4);
    (LATIN_START..LATIN_END)
        .map(|code| {
            scratch.clear();
            if let Some(character) = char::from_u32(code) {
                fold_char_slowly(character, &mut scratch);
            }
            let mut folded = ['\0'; 3];
            for (slot, &part) in folded.iter_mut().zip(&scratch) {
                *slot = part;
            }
            (u8::try_from(scratch.len()).unwrap_or(u8::MAX), folded)
        })
        .collect()
});

/// [`fold_char`] without the table.
fn fold_char_slowly(character: char, out: &mut Vec<char>) {
    if let Some(ascii) = confusable(character) {
        out.push(ascii);
        return;
    }
    // Most characters (CJK, Arabic, Hebrew letters, ...) are their own
    // NFKD and not marks, and a Hangul syllable recomposes to itself:
    // nothing to do.
    if is_plain_ideograph(character)
        || (!is_combining_mark(character)
            && is_nfkd_quick(std::iter::once(character)) == IsNormalized::Yes)
    {
        out.push(character);
        return;
    }
    let start = out.len();
    out.extend(
        character
            .nfkd()
            .filter(|part| !is_combining_mark(*part))
            .map(|part| confusable(part).unwrap_or(part)),
    );
    // Once the marks are gone, only Hangul jamo compose (a compatibility
    // syllable such as U+3200's parenthesised one).
    if out[start..]
        .iter()
        .any(|part| ('\u{1100}'..='\u{11FF}').contains(part))
    {
        let composed: Vec<char> = out[start..].iter().copied().nfc().collect();
        out.truncate(start);
        out.extend(composed);
    }
}

/// Whether folding changes `character` (`scratch`: a buffer to reuse).
fn folds(character: char, scratch: &mut Vec<char>) -> bool {
    if is_plain_ideograph(character) {
        return false;
    }
    if is_invisible(character) || confusable(character).is_some() {
        return true;
    }
    scratch.clear();
    fold_char(character, scratch);
    scratch.len() != 1 || scratch[0] != character
}

/// Offsets of every character that folding changes. ASCII blocks are
/// skipped 64 bytes at a time; only lead bytes of multi-byte sequences are
/// decoded and checked.
fn triggers(input: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut scratch = Vec::with_capacity(4);
    for (block_index, block) in input.chunks(64).enumerate() {
        if block.is_ascii() {
            continue;
        }
        let block_start = block_index * 64;
        for (offset, &byte) in block.iter().enumerate() {
            if byte < 0xC0 {
                continue;
            }
            let start = block_start + offset;
            let length = match byte {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            let Some(sequence) = input.get(start..start + length) else {
                continue;
            };
            if let Ok(text) = std::str::from_utf8(sequence)
                && let Some(character) = text.chars().next()
                && folds(character, &mut scratch)
            {
                out.push(start);
            }
        }
    }
    out
}

/// A run of at least this many tag characters, or of variation selectors,
/// is hidden text in itself (see [`HiddenRun`]).
pub(crate) const HIDDEN_RUN_MIN: usize = 8;

/// The ASCII character a Unicode tag character (U+E0020–U+E007E) stands
/// for: tags mirror printable ASCII, and "ASCII smuggling" writes text in
/// them, which renders as nothing.
fn tag_ascii(character: char) -> Option<u8> {
    let code = u32::from(character);
    (0xE0020..=0xE007E)
        .contains(&code)
        .then(|| u8::try_from(code - 0xE0000).ok())
        .flatten()
}

/// Whether `character` is a Unicode tag character (U+E0000–U+E007F).
fn is_tag(character: char) -> bool {
    ('\u{E0000}'..='\u{E007F}').contains(&character)
}

/// The byte a variation selector carries in "emoji smuggling": U+FE00 +
/// b for b below 16, U+E0100 + (b − 16) for the others.
fn selector_byte(character: char) -> Option<u8> {
    let code = u32::from(character);
    match code {
        0xFE00..=0xFE0F => u8::try_from(code - 0xFE00).ok(),
        0xE0100..=0xE01EF => u8::try_from(code - 0xE0100 + 16).ok(),
        _ => None,
    }
}

/// What a run of hidden characters was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HiddenKind {
    Tags,
    Selectors,
}

impl HiddenKind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            HiddenKind::Tags => "Unicode tag characters",
            HiddenKind::Selectors => "variation selectors",
        }
    }
}

/// A run of at least [`HIDDEN_RUN_MIN`] tag characters or variation
/// selectors: text nobody sees. No script needs one (an emoji flag's tag
/// sequence is at most 7 tags, a character takes one selector).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HiddenRun {
    pub(crate) kind: HiddenKind,
    /// Input offsets of the run.
    pub(crate) span: (usize, usize),
    /// How many characters it has.
    pub(crate) chars: usize,
}

/// The run of hidden characters being read by [`fold_region`].
#[derive(Default)]
struct RunTracker {
    current: Option<HiddenRun>,
}

impl RunTracker {
    /// `unit` holds a character of `kind` (or of neither, `None`).
    fn step(&mut self, kind: Option<HiddenKind>, unit: (usize, usize), out: &mut Vec<HiddenRun>) {
        match (&mut self.current, kind) {
            (Some(run), Some(kind)) if run.kind == kind && run.span.1 == unit.0 => {
                run.span.1 = unit.1;
                run.chars += 1;
                return;
            }
            _ => {}
        }
        self.finish(out);
        self.current = kind.map(|kind| HiddenRun {
            kind,
            span: unit,
            chars: 1,
        });
    }

    fn finish(&mut self, out: &mut Vec<HiddenRun>) {
        if let Some(run) = self.current.take()
            && run.chars >= HIDDEN_RUN_MIN
        {
            out.push(run);
        }
    }
}

/// Fold one region of the input; `offset` is where it starts. Tag
/// characters become the ASCII they stand for and a run of two variation
/// selectors or more becomes the bytes they carry, in place (a lone
/// selector, as after an emoji, is dropped); long runs of either go to
/// `hidden`.
fn fold_region(
    input: &[u8],
    offset: usize,
    changed: &mut Vec<(usize, usize)>,
    hidden: &mut Vec<HiddenRun>,
) -> Decoded {
    let mut bytes = Vec::with_capacity(input.len());
    let mut units = Vec::with_capacity(input.len());
    let mut base = offset;
    let mut buffer = [0u8; 4];
    let mut runs = RunTracker::default();
    let mut replacement = Vec::with_capacity(4);
    for chunk in input.utf8_chunks() {
        let mut characters = chunk.valid().char_indices().peekable();
        let mut after_selector = false;
        while let Some((position, character)) = characters.next() {
            let unit = (base + position, base + position + character.len_utf8());
            let selector = selector_byte(character);
            let kind = if is_tag(character) {
                Some(HiddenKind::Tags)
            } else if selector.is_some() {
                Some(HiddenKind::Selectors)
            } else {
                None
            };
            runs.step(kind, unit, hidden);
            if character.is_ascii() {
                after_selector = false;
                bytes.push(character as u8);
                units.push(unit);
                continue;
            }
            if let Some(byte) = selector {
                let in_run = after_selector
                    || characters
                        .peek()
                        .is_some_and(|(_, next)| selector_byte(*next).is_some());
                after_selector = true;
                changed.push(unit);
                if in_run {
                    bytes.push(byte);
                    units.push(unit);
                }
                continue;
            }
            after_selector = false;
            if let Some(ascii) = tag_ascii(character) {
                changed.push(unit);
                bytes.push(ascii);
                units.push(unit);
                continue;
            }
            if is_invisible(character) {
                changed.push(unit);
                continue;
            }
            replacement.clear();
            fold_char(character, &mut replacement);
            if replacement.len() != 1 || replacement[0] != character {
                changed.push(unit);
            }
            for &replaced in &replacement {
                for &byte in replaced.encode_utf8(&mut buffer).as_bytes() {
                    bytes.push(byte);
                    units.push(unit);
                }
            }
        }
        base += chunk.valid().len();
        for (position, &byte) in chunk.invalid().iter().enumerate() {
            runs.step(None, (base + position, base + position + 1), hidden);
            bytes.push(byte);
            units.push((base + position, base + position + 1));
        }
        base += chunk.invalid().len();
    }
    runs.finish(hidden);
    Decoded::with_units(DecodeKind::Unicode, bytes, units)
}

/// What [`fold`] makes of an input.
#[derive(Debug, Default)]
pub(crate) struct Folding {
    /// The folded form of every region of the input around a character
    /// that folding changes, with the region (input offsets).
    pub(crate) layers: Vec<(Decoded, (usize, usize))>,
    /// The input span of every character that folding changed.
    pub(crate) changed: Vec<(usize, usize)>,
    /// Long runs of tag characters or variation selectors.
    pub(crate) hidden: Vec<HiddenRun>,
}

/// The folded form of every region of `input` around a character that
/// folding changes (within [`DECODE_CONTEXT`] bytes), with the input spans
/// of every folded character; empty when folding changes nothing. Bytes
/// that are not valid UTF-8 are kept as they are.
pub(crate) fn fold(input: &[u8]) -> Folding {
    let mut folding = Folding::default();
    if input.is_ascii() {
        return folding;
    }
    let triggers = triggers(input);
    let mut regions: Vec<(usize, usize)> = Vec::new();
    for trigger in triggers {
        let start = trigger.saturating_sub(DECODE_CONTEXT);
        let end = (trigger + DECODE_CONTEXT).min(input.len());
        match regions.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => regions.push((start, end)),
        }
    }
    for (start, end) in regions {
        // Widen to character boundaries so no character is cut in two.
        let start = (0..=start)
            .rev()
            .find(|&index| index == 0 || (input[index] & 0xC0) != 0x80)
            .unwrap_or(0);
        let end = (end..=input.len())
            .find(|&index| index == input.len() || (input[index] & 0xC0) != 0x80)
            .unwrap_or(input.len());
        let folded = fold_region(
            &input[start..end],
            start,
            &mut folding.changed,
            &mut folding.hidden,
        );
        folding.layers.push((folded, (start, end)));
    }
    folding
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(text: &str) -> Option<String> {
        fold(text.as_bytes())
            .layers
            .first()
            .map(|(decoded, _)| String::from_utf8_lossy(&decoded.bytes).into_owned())
    }

    #[test]
    fn folds_fullwidth_lookalikes_and_invisibles() {
        assert_eq!(folded("ｇｈｐ＿abc").as_deref(), Some("ghp_abc"));
        assert_eq!(folded("gh\u{200B}p_a\u{202E}b").as_deref(), Some("ghp_ab"));
        assert_eq!(folded("ghр_аbc").as_deref(), Some("ghp_abc"));
        assert_eq!(folded("𝐠𝐡𝐩").as_deref(), Some("ghp"));
    }

    #[test]
    fn tags_and_selector_runs_are_decoded_in_place() {
        let tags: String = "key1"
            .bytes()
            .filter_map(|byte| char::from_u32(0xE0000 + u32::from(byte)))
            .collect();
        assert_eq!(folded(&format!("a{tags}b")).as_deref(), Some("akey1b"));
        // Two selectors or more carry bytes; a lone one is dropped.
        assert_eq!(
            folded("x\u{FE01}\u{E0100}\u{E0141}y").as_deref(),
            Some("x\u{1}\u{10}Qy")
        );
        assert_eq!(folded("\u{2764}\u{FE0F}!").as_deref(), Some("\u{2764}!"));
        // Long runs are reported, short ones are not.
        let eight: String = std::iter::repeat_n('\u{E0061}', 8).collect();
        let folding = fold(format!("ab{eight}c").as_bytes());
        assert_eq!(folding.hidden.len(), 1);
        assert_eq!(folding.hidden[0].span, (2, 34));
        assert_eq!(folding.hidden[0].chars, 8);
        let seven: String = std::iter::repeat_n('\u{E0061}', 7).collect();
        assert!(fold(format!("ab{seven}c").as_bytes()).hidden.is_empty());
    }

    #[test]
    fn plain_text_is_left_alone_and_marks_are_dropped() {
        assert_eq!(folded("plain ascii"), None);
        // Precomposed or not, a letter loses its marks (the scanner keeps
        // a match only if it touches a folded character, and ordinary
        // words match nothing: `tests/unicode_layers.rs`).
        assert_eq!(folded("café naïve").as_deref(), Some("cafe naive"));
        assert_eq!(
            folded("g\u{301}h\u{332}p\u{20DD}_").as_deref(),
            Some("ghp_")
        );
        // Text of other scripts keeps its letters; Hangul is recomposed.
        assert_eq!(folded("中文，한국어").as_deref(), Some("中文,한국어"));
        assert_eq!(folded("중"), None);
    }

    #[test]
    fn extended_look_alikes_fold() {
        assert_eq!(folded("սօզᏚЬӏᴜ").as_deref(), Some("uoqSblu"));
        assert_eq!(folded("\u{ABAA}ꓢ").as_deref(), Some("sS"));
    }

    #[test]
    fn folded_spans_map_to_the_original_characters() {
        let input = "x\u{200B}ｙz";
        let folding = fold(input.as_bytes());
        let decoded = &folding.layers[0].0;
        assert_eq!(decoded.bytes, b"xyz");
        assert_eq!(folding.changed, vec![(1, 4), (4, 7)]);
        assert_eq!(decoded.input_span(1, 2), (4, 7));
    }
}
