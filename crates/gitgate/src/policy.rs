//! Which refs the agent may push, and how.
//!
//! A repo's `push:` section lists ref patterns and whether force-pushes and
//! deletions are allowed. Defaults, when `push:` (or a field of it) is
//! absent, are the safe ones:
//!
//! | field | default | meaning |
//! |---|---|---|
//! | `refs` | `["refs/heads/**"]` | any branch; no tags, notes or other refs |
//! | `force` | `false` | a non-fast-forward update is refused |
//! | `delete` | `false` | deleting a ref is refused |
//!
//! Patterns are globs over the full ref name: `*` matches within one path
//! component, `**` across components (`refs/heads/agent/*` allows
//! `refs/heads/agent/fix` but not `refs/heads/agent/a/b`). A pattern must
//! start with `refs/`. Whatever the patterns say, a push to a name git itself
//! would refuse (`HEAD`, names with `..`, control characters) never gets this
//! far: `git receive-pack` checks ref names first.

use bot_bottle_manifest::model::PushPolicy;
use globset::{GlobSet, GlobSetBuilder};

use crate::error::{GateError, Result};

/// The ref patterns allowed when a repo's `push.refs` is absent.
pub const DEFAULT_PUSH_REFS: &[&str] = &["refs/heads/**"];

/// A repo's push rules, compiled.
#[derive(Debug, Clone)]
pub struct PushRules {
    patterns: Vec<String>,
    matcher: GlobSet,
    /// Non-fast-forward updates allowed.
    pub force: bool,
    /// Deletions allowed.
    pub delete: bool,
}

impl PushRules {
    /// Compile a repo's `push:` section (absent → the defaults above).
    pub fn from_policy(repo: &str, policy: Option<&PushPolicy>) -> Result<Self> {
        let patterns: Vec<String> = match policy.and_then(|policy| policy.refs.clone()) {
            Some(patterns) => patterns,
            None => DEFAULT_PUSH_REFS
                .iter()
                .map(|pattern| pattern.to_string())
                .collect(),
        };
        let mut builder = GlobSetBuilder::new();
        for pattern in &patterns {
            if !pattern.starts_with("refs/") || pattern.chars().any(char::is_control) {
                return Err(GateError::InvalidConfig {
                    message: format!(
                        "repo `{repo}`: push.refs pattern {pattern:?} must be a full ref pattern starting with `refs/`"
                    ),
                });
            }
            let glob = bot_bottle_manifest::validate::push_ref_glob(pattern).map_err(|error| {
                GateError::InvalidConfig {
                    message: format!("repo `{repo}`: push.refs pattern {pattern:?}: {error}"),
                }
            })?;
            builder.add(glob);
        }
        let matcher = builder.build().map_err(|error| GateError::InvalidConfig {
            message: format!("repo `{repo}`: push.refs: {error}"),
        })?;
        Ok(Self {
            patterns,
            matcher,
            force: policy.and_then(|policy| policy.force).unwrap_or(false),
            delete: policy.and_then(|policy| policy.delete).unwrap_or(false),
        })
    }

    /// Whether the agent may update `reference` at all.
    pub fn allows_ref(&self, reference: &str) -> bool {
        self.matcher.is_match(reference)
    }

    /// The patterns, for messages.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(refs: Option<&[&str]>, force: Option<bool>, delete: Option<bool>) -> PushRules {
        let policy = PushPolicy {
            refs: refs.map(|refs| refs.iter().map(|pattern| pattern.to_string()).collect()),
            force,
            delete,
        };
        PushRules::from_policy("r", Some(&policy)).unwrap()
    }

    #[test]
    fn defaults_allow_branches_only_without_force_or_delete() {
        let defaults = PushRules::from_policy("r", None).unwrap();
        assert!(defaults.allows_ref("refs/heads/main"));
        assert!(defaults.allows_ref("refs/heads/agent/deep/branch"));
        assert!(!defaults.allows_ref("refs/tags/v1"));
        assert!(!defaults.allows_ref("refs/notes/commits"));
        assert!(!defaults.force);
        assert!(!defaults.delete);
    }

    #[test]
    fn single_star_stays_within_one_component() {
        let agent = rules(Some(&["refs/heads/agent/*"]), None, None);
        assert!(agent.allows_ref("refs/heads/agent/fix"));
        assert!(!agent.allows_ref("refs/heads/agent/a/b"));
        assert!(!agent.allows_ref("refs/heads/main"));
    }

    #[test]
    fn listed_fields_override_defaults() {
        let open = rules(None, Some(true), Some(true));
        assert!(open.allows_ref("refs/heads/x"));
        assert!(open.force && open.delete);
    }

    #[test]
    fn bad_patterns_are_config_errors() {
        for bad in ["main", "heads/*", "refs/heads/[", "refs/heads/\nx"] {
            let policy = PushPolicy {
                refs: Some(vec![bad.to_string()]),
                ..PushPolicy::default()
            };
            let error = PushRules::from_policy("r", Some(&policy)).unwrap_err();
            assert!(error.is_config(), "{bad:?}: {error}");
        }
    }
}
