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
//! start with `refs/`.
//!
//! The patterns are not what keeps out a name git itself would refuse:
//! `git receive-pack` checks ref names only *after* the pre-receive hook,
//! so the gate sees names like `refs/heads/x:refs/heads/main` (and `**`
//! matches `:`). [`check_ref_name`] refuses those first, whatever the
//! patterns say, with git's own `check-ref-format` rules.

use bot_bottle_manifest::model::PushPolicy;
use globset::{GlobSet, GlobSetBuilder};

use crate::error::{GateError, Result};

/// The ref patterns allowed when a repo's `push.refs` is absent.
pub const DEFAULT_PUSH_REFS: &[&str] = &["refs/heads/**"];

/// Why git's `check-ref-format` (as `git receive-pack` applies it: the
/// name must start with `refs/`) would refuse `name`; `Ok` for a valid ref
/// name. Git runs this check only after the pre-receive hook, so the gate
/// must: a name with a `:` would otherwise be read as a refspec when the
/// push is forwarded.
pub fn check_ref_name(name: &str) -> Result<(), String> {
    if name == "@" {
        return Err("it is `@`".into());
    }
    if !name.starts_with("refs/") {
        return Err("it does not start with `refs/`".into());
    }
    if let Some(bad) = name.chars().find(|c| {
        c.is_ascii_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\')
    }) {
        return Err(if bad.is_ascii_control() || bad == ' ' {
            "it holds a space or a control character".into()
        } else {
            format!("it holds `{bad}`")
        });
    }
    if name.contains("..") {
        return Err("it holds `..`".into());
    }
    if name.contains("@{") {
        return Err("it holds `@{`".into());
    }
    if name.ends_with('/') || name.ends_with('.') {
        return Err("it ends with `/` or `.`".into());
    }
    for component in name.split('/') {
        if component.is_empty() {
            return Err("it holds `//`".into());
        }
        if component.starts_with('.') {
            return Err("a component starts with `.`".into());
        }
        if component.ends_with(".lock") {
            return Err("a component ends with `.lock`".into());
        }
    }
    Ok(())
}

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
    fn ref_names_git_refuses_are_refused() {
        for good in [
            "refs/heads/main",
            "refs/heads/agent/fix-1",
            "refs/tags/v1.2",
            "refs/heads/caf\u{e9}",
            "refs/heads/a@b",
            "refs/heads/x.lockx",
        ] {
            assert_eq!(check_ref_name(good), Ok(()), "{good:?}");
        }
        for bad in [
            "refs/heads/x:refs/heads/main",
            "refs/heads/a..b",
            "refs/heads/a b",
            "refs/heads/a\tb",
            "refs/heads/a\x7fb",
            "refs/heads/a~1",
            "refs/heads/a^",
            "refs/heads/a?",
            "refs/heads/a*",
            "refs/heads/a[",
            "refs/heads/a\\b",
            "refs/heads/a@{1}",
            "refs/heads/x/",
            "refs/heads/x.lock",
            "refs/heads/x.lock/y",
            "refs/heads/x.",
            "refs/heads/.x",
            "refs//heads/x",
            "refs/",
            "heads/main",
            "HEAD",
            "@",
            "",
        ] {
            assert!(check_ref_name(bad).is_err(), "{bad:?}");
        }
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
