//! The git configuration installed in the agent: `url.<gate>/<name>.git.insteadOf
//! <upstream>` per repo, plus `user.name` / `user.email`.
//!
//! The output is a git config *file* (for `git config --file` or
//! `GIT_CONFIG_GLOBAL`). Every value written is validated first, including the
//! derived alias (the gate URL joined with the repo name): a newline, NUL or
//! any other control character could end the value and start a new key (the
//! seed once let `upstream: "https://x\n[core]\nsshCommand=evil"` through),
//! so it is refused, never escaped. Subsection names (`[url "…"]`) also refuse
//! `"` and `\`. Values are always written double-quoted with `"` and `\`
//! escaped, so `;` or `#` cannot start a comment.

use crate::config::{GateFile, validate_repo_name};
use crate::error::{GateError, Result};

fn refuse(field: &str, reason: &str) -> GateError {
    GateError::UnsafeGitconfigValue {
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

/// Refuse anything that could break out of a git config value.
pub fn validate_value(field: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(refuse(field, "empty"));
    }
    if let Some(bad) = value.chars().find(|c| c.is_control()) {
        return Err(refuse(
            field,
            &format!(
                "contains the control character {bad:?} (a newline could inject a config key)"
            ),
        ));
    }
    Ok(())
}

/// Refuse anything that could break out of a `[section "subsection"]` name.
pub fn validate_subsection(field: &str, value: &str) -> Result<()> {
    validate_value(field, value)?;
    if value.contains(['"', '\\']) {
        return Err(refuse(field, "contains `\"` or `\\`"));
    }
    Ok(())
}

fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The gate URL a repo is served at: `<gate>/<name>.git`.
pub fn gate_url(gate: &str, name: &str) -> String {
    format!("{}/{name}.git", gate.trim_end_matches('/'))
}

/// Render the agent's git config for `file`, with the gate at `gate`
/// (`http://git-gate:8080`).
pub fn render(file: &GateFile, gate: &str) -> Result<String> {
    validate_subsection("gate URL", gate)?;
    let lowered = gate.to_ascii_lowercase();
    if !(lowered.starts_with("http://") || lowered.starts_with("https://")) {
        return Err(refuse("gate URL", "must start with http:// or https://"));
    }
    if gate.contains(char::is_whitespace) {
        return Err(refuse("gate URL", "contains whitespace"));
    }
    let mut out = String::new();
    for repo in &file.repos {
        validate_repo_name(&repo.name)?;
        let alias = gate_url(gate, &repo.name);
        validate_subsection(&format!("repos[{}] alias", repo.name), &alias)?;
        validate_value(&format!("repos[{}].upstream", repo.name), &repo.upstream)?;
        out.push_str(&format!(
            "[url {}]\n\tinsteadOf = {}\n",
            quoted(&alias),
            quoted(&repo.upstream)
        ));
    }
    let user = &file.user;
    if user.name.is_some() || user.email.is_some() {
        out.push_str("[user]\n");
        if let Some(name) = &user.name {
            validate_value("user.name", name)?;
            out.push_str(&format!("\tname = {}\n", quoted(name)));
        }
        if let Some(email) = &user.email {
            validate_value("user.email", email)?;
            out.push_str(&format!("\temail = {}\n", quoted(email)));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CredentialSource, RepoEntry, User};
    use crate::policy::PushRules;

    fn file(upstreams: &[(&str, &str)], user: User) -> GateFile {
        GateFile {
            user,
            repos: upstreams
                .iter()
                .map(|(name, upstream)| RepoEntry {
                    name: name.to_string(),
                    upstream: upstream.to_string(),
                    credential: CredentialSource::None,
                    push: PushRules::from_policy(name, None).unwrap(),
                })
                .collect(),
        }
    }

    #[test]
    fn renders_insteadof_and_user() {
        let text = render(
            &file(
                &[("app", "https://git.example.com/o/app.git")],
                User {
                    name: Some("Agent \"Bot\"".into()),
                    email: Some("agent@example.com".into()),
                },
            ),
            "http://git-gate:8080/",
        )
        .unwrap();
        assert_eq!(
            text,
            "[url \"http://git-gate:8080/app.git\"]\n\tinsteadOf = \"https://git.example.com/o/app.git\"\n\
             [user]\n\tname = \"Agent \\\"Bot\\\"\"\n\temail = \"agent@example.com\"\n"
        );
    }

    #[test]
    fn injection_attempts_are_refused() {
        type Case<'a> = (&'a [(&'a str, &'a str)], User, &'a str);
        let cases: &[Case] = &[
            (
                &[("app", "https://x\n[core]\nsshCommand=evil")],
                User::default(),
                "repos[app].upstream",
            ),
            (
                &[("app", "https://x\r\n[core]")],
                User::default(),
                "repos[app].upstream",
            ),
            (
                &[("app", "https://x\0y")],
                User::default(),
                "repos[app].upstream",
            ),
            (
                &[("app", "https://x/app.git")],
                User {
                    name: Some("a\n[core]\n\tsshCommand = evil".into()),
                    email: None,
                },
                "user.name",
            ),
            (
                &[("app", "https://x/app.git")],
                User {
                    name: None,
                    email: Some("a@b\tc".into()),
                },
                "user.email",
            ),
        ];
        for (repos, user, field) in cases {
            let error = render(&file(repos, user.clone()), "http://gate").unwrap_err();
            assert!(
                matches!(&error, GateError::UnsafeGitconfigValue { field: got, .. } if got == field),
                "{repos:?} {user:?}: {error}"
            );
        }
        for gate in [
            "http://gate\n[core]",
            "http://ga\"te",
            "http://ga\\te",
            "file:///x",
            "http://a b",
        ] {
            let error = render(
                &file(&[("app", "https://x/app.git")], User::default()),
                gate,
            )
            .unwrap_err();
            assert!(
                matches!(error, GateError::UnsafeGitconfigValue { .. }),
                "{gate:?}: {error}"
            );
        }
        // The derived alias is checked too: a repo name cannot smuggle a quote.
        let error = render(
            &file(&[("a\"b", "https://x/app.git")], User::default()),
            "http://gate",
        )
        .unwrap_err();
        assert!(error.is_config(), "{error}");
    }

    #[test]
    fn output_is_a_config_file_git_reads_back() {
        let text = render(
            &file(
                &[("app", "https://x/o/app.git"), ("lib", "git@x:o/lib.git")],
                User::default(),
            ),
            "http://gate:1",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, text).unwrap();
        let output = std::process::Command::new("git")
            .args(["config", "--file"])
            .arg(&path)
            .args(["--list"])
            .output()
            .unwrap();
        assert!(output.status.success());
        assert_eq!(
            String::from_utf8(output.stdout).unwrap(),
            "url.http://gate:1/app.git.insteadof=https://x/o/app.git\nurl.http://gate:1/lib.git.insteadof=git@x:o/lib.git\n"
        );
    }
}
