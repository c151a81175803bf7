//! Text from queue files made safe to show on the operator's terminal.
//!
//! Everything in a proposal was written, in the end, by the agent (its words,
//! the route it asks for, a file name in a push). Printed raw, a control
//! character could move the cursor, recolour the screen or retitle the
//! window, and an invisible formatting character (a bidi override, a
//! zero-width space) could reorder or hide what the operator reads. Both the
//! `proposals` CLI and the TUI pass every such string through [`printable`].

/// Escape control characters and invisible formatting characters (bidi
/// overrides, zero-width) so file contents cannot move the cursor, recolour
/// the terminal or reorder what the operator reads.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        if character.is_control() || is_invisible(character) {
            out.extend(character.escape_default());
        } else {
            out.push(character);
        }
    }
    out
}

/// [`printable`], keeping line breaks, continuation lines indented.
pub fn printable_lines(text: &str, indent: &str) -> String {
    text.split('\n')
        .map(printable)
        .collect::<Vec<_>>()
        .join(&format!("\n{indent}"))
}

/// Formatting characters that render as nothing but change what is shown.
fn is_invisible(character: char) -> bool {
    matches!(character,
        '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_invisible_characters_are_escaped() {
        let table = [
            ("plain text", "plain text"),
            ("\u{1b}[2Jgone", "\\u{1b}[2Jgone"),
            ("bell\u{7}", "bell\\u{7}"),
            ("tab\there", "tab\\there"),
            ("line\nbreak", "line\\nbreak"),
            ("evil\u{202e}txt.exe", "evil\\u{202e}txt.exe"),
            ("zero\u{200b}width", "zero\\u{200b}width"),
            ("bom\u{feff}", "bom\\u{feff}"),
            ("ünïcödé ✓", "ünïcödé ✓"),
        ];
        for (input, want) in table {
            assert_eq!(printable(input), want, "{input:?}");
        }
    }

    #[test]
    fn lines_keep_their_breaks_and_are_indented() {
        assert_eq!(printable_lines("a\nb\u{1b}", "  "), "a\n  b\\u{1b}");
    }
}
