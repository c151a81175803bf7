//! Unicode evasion: folding look-alikes and invisible characters away.
//!
//! An agent can hide `ghp_…` as `ｇｈｐ＿…` (full-width), with Cyrillic or
//! Greek look-alikes, or with zero-width and bidi characters between the
//! letters. Folding removes invisible and format characters, applies NFKC
//! (full-width forms, mathematical alphanumerics, ligatures) and a map of
//! common Cyrillic/Greek/Latin look-alikes. The scanner re-runs the `known`
//! and `patterns` detectors on the folded text; a match whose span contains
//! a folded character is a `unicode-evasion` finding. Those cannot be
//! redacted (a partial scrub of a disguised value is not trustworthy), so
//! callers block them.

use unicode_normalization::UnicodeNormalization;

use crate::decode::{DecodeKind, Decoded};

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

/// The ASCII letter a common look-alike stands for.
pub fn confusable(character: char) -> Option<char> {
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
        '‐' | '‑' | '‒' | '–' | '—' | '−' => '-',
        _ => return None,
    };
    Some(ascii)
}

/// The folded form of `input`, with the input spans of every folded
/// character; `None` when folding changes nothing. Bytes that are not valid
/// UTF-8 are kept as they are.
pub(crate) fn fold(input: &[u8]) -> Option<(Decoded, Vec<(usize, usize)>)> {
    if input.is_ascii() {
        return None;
    }
    let mut bytes = Vec::with_capacity(input.len());
    let mut units = Vec::with_capacity(input.len());
    let mut changed: Vec<(usize, usize)> = Vec::new();
    let mut base = 0usize;
    let mut buffer = [0u8; 4];
    for chunk in input.utf8_chunks() {
        for (offset, character) in chunk.valid().char_indices() {
            let unit = (base + offset, base + offset + character.len_utf8());
            if character.is_ascii() {
                bytes.push(character as u8);
                units.push(unit);
                continue;
            }
            if is_invisible(character) {
                changed.push(unit);
                continue;
            }
            let mut folded = false;
            let direct = confusable(character);
            let replacement: Vec<char> = match direct {
                Some(ascii) => vec![ascii],
                None => character
                    .nfkc()
                    .map(|folded| confusable(folded).unwrap_or(folded))
                    .collect(),
            };
            if replacement.len() != 1 || replacement[0] != character {
                folded = true;
            }
            for replaced in replacement {
                for &byte in replaced.encode_utf8(&mut buffer).as_bytes() {
                    bytes.push(byte);
                    units.push(unit);
                }
            }
            if folded {
                changed.push(unit);
            }
        }
        base += chunk.valid().len();
        for (offset, &byte) in chunk.invalid().iter().enumerate() {
            bytes.push(byte);
            units.push((base + offset, base + offset + 1));
        }
        base += chunk.invalid().len();
    }
    if changed.is_empty() {
        return None;
    }
    Some((
        Decoded::with_units(DecodeKind::Unicode, bytes, units),
        changed,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(text: &str) -> Option<String> {
        fold(text.as_bytes())
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
    fn plain_text_and_ordinary_accents_are_left_alone() {
        assert_eq!(folded("plain ascii"), None);
        assert_eq!(folded("café naïve"), None);
    }

    #[test]
    fn folded_spans_map_to_the_original_characters() {
        let input = "x\u{200B}ｙz";
        let (decoded, changed) = fold(input.as_bytes()).expect("folds");
        assert_eq!(decoded.bytes, b"xyz");
        assert_eq!(changed, vec![(1, 4), (4, 7)]);
        assert_eq!(decoded.input_span(1, 2), (4, 7));
    }
}
