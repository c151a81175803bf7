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
//! patterns say, with git's own `check-ref-format` rules, and names longer
//! than the mirror's ref store can hold ([`MAX_REF_NAME_BYTES`],
//! [`MAX_REF_COMPONENT_BYTES`]). The same bounds ([`check_ref_length`])
//! decide which of upstream's refs the mirror's refresh leaves out.

use bot_bottle_manifest::model::PushPolicy;
use globset::{GlobSet, GlobSetBuilder};

use crate::error::{GateError, Result};

/// The ref patterns allowed when a repo's `push.refs` is absent.
pub const DEFAULT_PUSH_REFS: &[&str] = &["refs/heads/**"];

/// The longest ref name the gate takes, in bytes. Git sets no limit, but
/// the mirror keeps refs as files (`STATE/mirrors/NAME.git/` + the name +
/// `.lock` must fit in a path, 4096 bytes), while an upstream may store
/// longer ones (a reftable store, a shorter path): a push the mirror could
/// not record was forwarded, taken upstream, refused in the mirror, and the
/// ref then failed every refresh, refusing every later push. A ref over
/// the bounds made upstream by someone else is left out of the refresh.
pub const MAX_REF_NAME_BYTES: usize = 1024;

/// The longest component (between `/`) of a ref name, in bytes: a file
/// name may be 255 bytes, and git locks a ref as `<component>.lock`.
pub const MAX_REF_COMPONENT_BYTES: usize = 200;

/// Why git's `check-ref-format` (as `git receive-pack` applies it: the
/// name must start with `refs/`) would refuse `name`, or why the mirror
/// could not hold it (over [`MAX_REF_NAME_BYTES`] or with a component over
/// [`MAX_REF_COMPONENT_BYTES`]); `Ok` for a valid ref name. Git runs its
/// check only after the pre-receive hook, so the gate must: a name with a
/// `:` would otherwise be read as a refspec when the push is forwarded.
pub fn check_ref_name(name: &str) -> Result<(), String> {
    check_ref_length(name.as_bytes())?;
    check_ref_format(name.as_bytes())
}

/// Why the mirror could not (or must not) hold a ref named `name`: over
/// [`MAX_REF_NAME_BYTES`], or with a component over
/// [`MAX_REF_COMPONENT_BYTES`]. Bytes, since a name upstream advertises
/// need not be UTF-8. The refresh leaves such refs out
/// ([`crate::mirror::refresh`]).
pub fn check_ref_length(name: &[u8]) -> Result<(), String> {
    if name.len() > MAX_REF_NAME_BYTES {
        return Err(format!(
            "it is {} bytes long, over the gate's {MAX_REF_NAME_BYTES}",
            name.len()
        ));
    }
    if let Some(long) = name
        .split(|byte| *byte == b'/')
        .find(|component| component.len() > MAX_REF_COMPONENT_BYTES)
    {
        return Err(format!(
            "a component is {} bytes long, over the gate's {MAX_REF_COMPONENT_BYTES}",
            long.len()
        ));
    }
    Ok(())
}

/// Why git's `check-ref-format` (as `git receive-pack` applies it: the
/// name must start with `refs/`) would refuse `name`, whatever its length.
pub fn check_ref_format(name: &[u8]) -> Result<(), String> {
    if name == b"@" {
        return Err("it is `@`".into());
    }
    if !name.starts_with(b"refs/") {
        return Err("it does not start with `refs/`".into());
    }
    if let Some(bad) = name.iter().copied().find(|byte| {
        byte.is_ascii_control()
            || matches!(
                *byte,
                b' ' | b'~' | b'^' | b':' | b'?' | b'*' | b'[' | b'\\'
            )
    }) {
        return Err(if bad.is_ascii_control() || bad == b' ' {
            "it holds a space or a control character".into()
        } else {
            format!("it holds `{}`", char::from(bad))
        });
    }
    if name.windows(2).any(|pair| pair == b"..") {
        return Err("it holds `..`".into());
    }
    if name.windows(2).any(|pair| pair == b"@{") {
        return Err("it holds `@{`".into());
    }
    if name.ends_with(b"/") || name.ends_with(b".") {
        return Err("it ends with `/` or `.`".into());
    }
    for component in name.split(|byte| *byte == b'/') {
        if component.is_empty() {
            return Err("it holds `//`".into());
        }
        if component.starts_with(b".") {
            return Err("a component starts with `.`".into());
        }
        if component.ends_with(b".lock") {
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
        // At the length bounds and one byte over each.
        let component = "a".repeat(MAX_REF_COMPONENT_BYTES);
        let at_component = format!("refs/heads/{component}");
        assert_eq!(check_ref_name(&at_component), Ok(()));
        let mut at_total = String::from("refs/heads");
        while at_total.len() + 1 + MAX_REF_COMPONENT_BYTES <= MAX_REF_NAME_BYTES {
            at_total.push('/');
            at_total.push_str(&component);
        }
        let rest = MAX_REF_NAME_BYTES - at_total.len() - 1;
        at_total.push('/');
        at_total.push_str(&"b".repeat(rest));
        assert_eq!(at_total.len(), MAX_REF_NAME_BYTES);
        assert_eq!(check_ref_name(&at_total), Ok(()));
        assert!(check_ref_name(&format!("{at_component}a")).is_err());
        assert!(check_ref_name(&format!("{at_total}b")).is_err());
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
    fn names_upstream_advertises_are_checked_as_bytes() {
        // Not UTF-8, yet a valid ref name git could store.
        let odd = b"refs/heads/caf\xe9";
        assert_eq!(check_ref_length(odd), Ok(()));
        assert_eq!(check_ref_format(odd), Ok(()));
        let mut long = b"refs/heads/\xe9".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_REF_COMPONENT_BYTES));
        assert!(check_ref_length(&long).is_err());
        assert_eq!(check_ref_format(&long), Ok(()));
        assert!(check_ref_format(b"refs/heads/a\xe9:b").is_err());
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
