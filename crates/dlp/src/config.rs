//! What a [`crate::Scanner`] is built from: held secrets, the detector set,
//! approved values and extra rule files.
//!
//! Detector names are shared by `egress.dlp.outbound_detectors` in bottle
//! manifests and by `bot-bottle dlp scan --detectors`, so they are parsed here
//! once, with one error message.

use std::fmt;
use std::str::FromStr;

use bot_bottle_secret::Redacted;
use serde::Serialize;

use crate::error::DlpError;
use crate::rules::RuleSet;

/// One detector of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Detector {
    /// Held secrets (tokens, the canary) raw, encoded, separated or partial.
    Known,
    /// Credential shapes from the rule files.
    Patterns,
    /// A secret or shape found only after Unicode folding.
    Unicode,
    /// CR/LF injection in a request line or header.
    Crlf,
    /// High-entropy strings (warn-only).
    Entropy,
}

impl Detector {
    /// Every detector, in a stable order.
    pub const EVERY: [Detector; 5] = [
        Detector::Known,
        Detector::Patterns,
        Detector::Unicode,
        Detector::Crlf,
        Detector::Entropy,
    ];

    /// The name used in detector lists.
    pub const fn name(self) -> &'static str {
        match self {
            Detector::Known => "known",
            Detector::Patterns => "patterns",
            Detector::Unicode => "unicode",
            Detector::Crlf => "crlf",
            Detector::Entropy => "entropy",
        }
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Detector {
    type Err = DlpError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Detector::EVERY
            .into_iter()
            .find(|detector| detector.name() == name)
            .ok_or_else(|| DlpError::UnknownDetector {
                name: name.to_string(),
                list: name.to_string(),
            })
    }
}

/// A set of detectors. The default is `all`: every detector but `entropy`,
/// which is warn-only and on only when listed.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DetectorSet(u8);

impl DetectorSet {
    /// No detector at all.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// What `all` means: every detector but `entropy`.
    pub const fn all() -> Self {
        Self(
            Detector::Known.bit()
                | Detector::Patterns.bit()
                | Detector::Unicode.bit()
                | Detector::Crlf.bit(),
        )
    }

    /// Parse a comma list such as `known,patterns` or `all,entropy`.
    /// Names are trimmed and case-insensitive; an empty list is an error.
    pub fn parse(list: &str) -> Result<Self, DlpError> {
        let mut set = Self::empty();
        for name in list.split(',').map(str::trim) {
            let lowered = name.to_ascii_lowercase();
            if lowered == "all" {
                set = set.union(Self::all());
                continue;
            }
            let detector = lowered
                .parse::<Detector>()
                .map_err(|_| DlpError::UnknownDetector {
                    name: name.to_string(),
                    list: list.to_string(),
                })?;
            set = set.with(detector);
        }
        Ok(set)
    }

    /// This set plus `detector`.
    #[must_use]
    pub const fn with(self, detector: Detector) -> Self {
        Self(self.0 | detector.bit())
    }

    /// This set without `detector`.
    #[must_use]
    pub const fn without(self, detector: Detector) -> Self {
        Self(self.0 & !detector.bit())
    }

    /// Both sets together.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether `detector` is in the set.
    pub const fn contains(self, detector: Detector) -> bool {
        self.0 & detector.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The detectors in the set, in [`Detector::EVERY`] order.
    pub fn iter(self) -> impl Iterator<Item = Detector> {
        Detector::EVERY
            .into_iter()
            .filter(move |detector| self.contains(*detector))
    }
}

impl Default for DetectorSet {
    fn default() -> Self {
        Self::all()
    }
}

impl fmt::Debug for DetectorSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for DetectorSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Detector::name).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for DetectorSet {
    type Err = DlpError;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        Self::parse(list)
    }
}

/// A secret the sidecar holds: an `EGRESS_TOKEN_*` value, the canary, or a
/// variable named by `BOT_BOTTLE_SENSITIVE_PREFIXES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSecret {
    /// Where the value came from (an environment variable name). Shown to
    /// the operator as the finding's rule; never secret.
    pub name: String,
    /// The secret itself.
    pub value: Redacted<String>,
}

impl HeldSecret {
    /// A held secret named `name`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: Redacted::new(value.into()),
        }
    }
}

/// Everything a [`crate::Scanner`] is built from. The built-in rules are
/// always loaded; `extra_rules` come on top of them.
#[derive(Debug, Clone, Default)]
pub struct ScannerConfig {
    /// Secrets to find in any encoding.
    pub held: Vec<HeldSecret>,
    /// Which detectors run.
    pub detectors: DetectorSet,
    /// Approved values: a finding lying inside one of these is skipped.
    pub safe_values: Vec<Redacted<String>>,
    /// User rule files, loaded after the built-in rules.
    pub extra_rules: Vec<RuleSet>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_everything_but_entropy() {
        let set = DetectorSet::default();
        assert!(set.contains(Detector::Known));
        assert!(set.contains(Detector::Patterns));
        assert!(set.contains(Detector::Unicode));
        assert!(set.contains(Detector::Crlf));
        assert!(!set.contains(Detector::Entropy));
        assert_eq!(DetectorSet::parse("all").ok(), Some(set));
    }

    #[test]
    fn parses_lists_case_and_space_insensitively() {
        let set = DetectorSet::parse(" Known , patterns").expect("valid list");
        assert_eq!(set.to_string(), "known,patterns");
        let set = DetectorSet::parse("all,entropy").expect("valid list");
        assert_eq!(set.to_string(), "known,patterns,unicode,crlf,entropy");
    }

    #[test]
    fn unknown_names_are_errors_that_name_them() {
        let error = DetectorSet::parse("known,gitleaks").expect_err("gitleaks is not a detector");
        let message = error.to_string();
        assert!(message.contains("\"gitleaks\""), "{message}");
        assert!(message.contains("known,gitleaks"), "{message}");
        assert!(DetectorSet::parse("").is_err());
    }
}
