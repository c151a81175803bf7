//! The two text inputs of the TUI: a one-line prompt (reasons, answers) and
//! a small multi-line editor (the route YAML of a modify). Pure state: keys
//! in, text out; positions count characters, never bytes, so no edit can
//! split a UTF-8 sequence.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Spaces a Tab inserts in the editor (YAML indents with spaces only).
const TAB_WIDTH: usize = 2;

/// A one-line text input with a cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineInput {
    text: String,
    /// Cursor position in characters.
    cursor: usize,
}

impl LineInput {
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text before the cursor (the view measures it to place the cursor).
    pub fn before_cursor(&self) -> &str {
        &self.text[..byte_index(&self.text, self.cursor)]
    }

    /// Apply an editing key; `false` when the key is not an editing key.
    pub fn edit(&mut self, key: KeyEvent) -> bool {
        let length = self.text.chars().count();
        match key.code {
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.text.clear();
                self.cursor = 0;
            }
            KeyCode::Char(character) if !has_command_modifier(key) => {
                self.text
                    .insert(byte_index(&self.text, self.cursor), character);
                self.cursor += 1;
            }
            KeyCode::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                self.text.remove(byte_index(&self.text, self.cursor));
            }
            KeyCode::Delete if self.cursor < length => {
                self.text.remove(byte_index(&self.text, self.cursor));
            }
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(length),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = length,
            KeyCode::Backspace | KeyCode::Delete => {}
            _ => return false,
        }
        true
    }
}

/// A multi-line text editor with a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextArea {
    lines: Vec<String>,
    /// Cursor line.
    row: usize,
    /// Cursor position in characters within the line.
    column: usize,
}

impl TextArea {
    /// An editor holding `text`, the cursor at the start.
    pub fn new(text: &str) -> Self {
        let text = text.strip_suffix('\n').unwrap_or(text);
        let lines = text.split('\n').map(str::to_string).collect();
        Self {
            lines,
            row: 0,
            column: 0,
        }
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The whole text, lines joined with `\n` and a final newline.
    pub fn text(&self) -> String {
        let mut text = self.lines.join("\n");
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text
    }

    /// Cursor line, and the text of that line before the cursor.
    pub fn cursor(&self) -> (usize, &str) {
        let line = &self.lines[self.row];
        (self.row, &line[..byte_index(line, self.column)])
    }

    fn line_length(&self, row: usize) -> usize {
        self.lines[row].chars().count()
    }

    /// Apply an editing key; `false` when the key is not an editing key.
    pub fn edit(&mut self, key: KeyEvent) -> bool {
        match key.code {
            KeyCode::Char(character) if !has_command_modifier(key) => self.insert(character),
            KeyCode::Tab => {
                for _ in 0..TAB_WIDTH {
                    self.insert(' ');
                }
            }
            KeyCode::Enter => {
                let line = &mut self.lines[self.row];
                let rest = line.split_off(byte_index(line, self.column));
                self.row += 1;
                self.column = 0;
                self.lines.insert(self.row, rest);
            }
            KeyCode::Backspace => {
                if self.column > 0 {
                    self.column -= 1;
                    let line = &mut self.lines[self.row];
                    line.remove(byte_index(line, self.column));
                } else if self.row > 0 {
                    let line = self.lines.remove(self.row);
                    self.row -= 1;
                    self.column = self.line_length(self.row);
                    self.lines[self.row].push_str(&line);
                }
            }
            KeyCode::Delete => {
                if self.column < self.line_length(self.row) {
                    let line = &mut self.lines[self.row];
                    line.remove(byte_index(line, self.column));
                } else if self.row + 1 < self.lines.len() {
                    let next = self.lines.remove(self.row + 1);
                    self.lines[self.row].push_str(&next);
                }
            }
            KeyCode::Left => {
                if self.column > 0 {
                    self.column -= 1;
                } else if self.row > 0 {
                    self.row -= 1;
                    self.column = self.line_length(self.row);
                }
            }
            KeyCode::Right => {
                if self.column < self.line_length(self.row) {
                    self.column += 1;
                } else if self.row + 1 < self.lines.len() {
                    self.row += 1;
                    self.column = 0;
                }
            }
            KeyCode::Up if self.row > 0 => {
                self.row -= 1;
                self.column = self.column.min(self.line_length(self.row));
            }
            KeyCode::Down if self.row + 1 < self.lines.len() => {
                self.row += 1;
                self.column = self.column.min(self.line_length(self.row));
            }
            KeyCode::Up | KeyCode::Down => {}
            KeyCode::Home => self.column = 0,
            KeyCode::End => self.column = self.line_length(self.row),
            _ => return false,
        }
        true
    }

    fn insert(&mut self, character: char) {
        let line = &mut self.lines[self.row];
        line.insert(byte_index(line, self.column), character);
        self.column += 1;
    }
}

/// Control or Alt held: a command, not text (Shift is text).
fn has_command_modifier(key: KeyEvent) -> bool {
    key.modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
}

/// The byte offset of character `index` in `text` (the end when past it).
fn byte_index(text: &str, index: usize) -> usize {
    text.char_indices()
        .nth(index)
        .map_or(text.len(), |(offset, _)| offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn type_text(input: &mut LineInput, text: &str) {
        for character in text.chars() {
            assert!(input.edit(key(KeyCode::Char(character))));
        }
    }

    #[test]
    fn line_input_edits_by_character() {
        let mut input = LineInput::default();
        type_text(&mut input, "héllo");
        input.edit(key(KeyCode::Left));
        input.edit(key(KeyCode::Left));
        input.edit(key(KeyCode::Backspace));
        assert_eq!(input.text(), "hélo");
        assert_eq!(input.before_cursor(), "hé");
        input.edit(key(KeyCode::Home));
        input.edit(key(KeyCode::Delete));
        assert_eq!(input.text(), "élo");
        input.edit(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        assert_eq!(input.text(), "");
        assert!(!input.edit(key(KeyCode::Enter)));
        assert!(!input.edit(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL)));
    }

    #[test]
    fn text_area_splits_and_joins_lines() {
        let mut area = TextArea::new("host: a\n");
        assert_eq!(area.lines(), ["host: a"]);
        area.edit(key(KeyCode::End));
        area.edit(key(KeyCode::Enter));
        for character in "paths: [/v1/]".chars() {
            area.edit(key(KeyCode::Char(character)));
        }
        assert_eq!(area.text(), "host: a\npaths: [/v1/]\n");
        area.edit(key(KeyCode::Home));
        area.edit(key(KeyCode::Backspace));
        assert_eq!(area.lines(), ["host: apaths: [/v1/]"]);
        assert_eq!(area.cursor(), (0, "host: a"));
        area.edit(key(KeyCode::Enter));
        area.edit(key(KeyCode::Tab));
        assert_eq!(area.cursor(), (1, "  "));
        area.edit(key(KeyCode::Down));
        area.edit(key(KeyCode::Up));
        assert_eq!(area.cursor(), (0, "ho"));
    }
}
