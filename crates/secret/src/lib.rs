//! Types that keep secrets out of logs and debug output.
//!
//! A held credential, a canary or any other value the operator would not
//! want printed is wrapped in [`Redacted`]. Its `Debug` and `Display` print a
//! fixed mask, so a `tracing` field or `{:?}` cannot leak the value by
//! accident; the inner value is reachable only through the explicit
//! [`Redacted::expose`] call, which is easy to grep for in review.

use std::fmt;

/// The text printed in place of a redacted value.
pub const MASK: &str = "[REDACTED]";

/// A value that must never reach a log line or an error message.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Redacted<T>(T);

impl<T> Redacted<T> {
    /// Wrap a secret value.
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself. Every call site is a place where the secret leaves
    /// its wrapper: keep them few and never pass the result to a logger.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwrap the secret, consuming the wrapper.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Redacted<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl<T> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// A short preview of a secret-like value that is safe to show an operator:
/// the first and last two characters of a long value, nothing of a short one.
pub fn masked_preview(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 12 {
        return format!("***({} chars)", chars.len());
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}***{tail}({} chars)", chars.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Redacted::new("sk-ant-api03-very-secret".to_string());
        assert_eq!(format!("{secret:?}"), MASK);
        assert_eq!(format!("{secret}"), MASK);
        assert_eq!(format!("{:?}", Some(&secret)), format!("Some({MASK})"));
        assert_eq!(secret.expose(), "sk-ant-api03-very-secret");
    }

    #[test]
    fn preview_hides_the_middle_and_short_values() {
        assert_eq!(masked_preview("abc"), "***(3 chars)");
        let preview = masked_preview("ghp_abcdefghijklmnopqrstuvwxyz0123456789");
        assert_eq!(preview, "gh***89(40 chars)");
        assert!(!preview.contains("abcdef"));
    }
}
