//! The gate's configuration: the `git-gate:` section of a manifest, read
//! from the `--config` file, checked, and turned into typed settings.
//!
//! Reading is two steps so that commands that never touch upstream (`git-gate
//! gitconfig`) need no credentials: [`GateFile::load`] parses and validates
//! names, upstream URLs and push rules; [`GateFile::with_credentials`] then
//! resolves each repo's `token_env` through a lookup the CLI supplies (the
//! library never reads the environment) and yields the [`Repo`]s that
//! [`crate::server::run`] serves.

use std::path::{Path, PathBuf};

use bot_bottle_manifest::model::{self, GitGate};
use bot_bottle_secret::Redacted;

use crate::error::{GateError, Result};
use crate::policy::PushRules;

/// The rules a repo's name and upstream follow live in the manifest crate,
/// so `bot-bottle manifest check` refuses what the gate would.
pub use bot_bottle_manifest::validate::{
    ALLOWED_UPSTREAM_SCHEMES, MAX_REPO_NAME_LENGTH, UpstreamKind,
};

/// How the gate authenticates to a repo's upstream.
#[derive(Debug, Clone)]
pub enum Credential {
    /// No credential (a public or local upstream).
    None,
    /// An HTTPS token, sent as HTTP Basic (`x-access-token:<token>`) to the
    /// upstream's host only.
    Token(Redacted<String>),
    /// An SSH private key file.
    DeployKey(PathBuf),
}

/// Where a repo's credential comes from, before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    None,
    TokenEnv(String),
    DeployKey(PathBuf),
}

/// One repo, validated, credentials not yet resolved.
#[derive(Debug, Clone)]
pub struct RepoEntry {
    pub name: String,
    pub upstream: String,
    pub credential: CredentialSource,
    pub push: PushRules,
}

/// A repo the gate serves.
#[derive(Debug, Clone)]
pub struct Repo {
    /// The name in the gate's URL (`http://gate/<name>.git`).
    pub name: String,
    /// The real remote.
    pub upstream: String,
    pub credential: Credential,
    pub push: PushRules,
}

/// The commit identity for the agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    pub name: Option<String>,
    pub email: Option<String>,
}

/// A validated `--config` file.
#[derive(Debug, Clone)]
pub struct GateFile {
    pub user: User,
    pub repos: Vec<RepoEntry>,
}

impl GateFile {
    /// Read and validate a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| GateError::ReadConfig {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Validate config text (`path` is for messages).
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let raw: GitGate = if text.trim().is_empty() {
            GitGate::default()
        } else {
            serde_saphyr::from_str(text).map_err(|error| GateError::ParseConfig {
                path: path.to_path_buf(),
                message: error.to_string(),
            })?
        };
        Self::from_model(&raw)
    }

    /// Validate an already parsed `git-gate:` section.
    pub fn from_model(raw: &GitGate) -> Result<Self> {
        let mut repos: Vec<RepoEntry> = Vec::with_capacity(raw.repos.len());
        for repo in &raw.repos {
            let entry = validate_repo(repo)?;
            if repos.iter().any(|existing| existing.name == entry.name) {
                return Err(invalid(format!("repo `{}` is listed twice", entry.name)));
            }
            repos.push(entry);
        }
        let user = raw
            .user
            .as_ref()
            .map(|user| User {
                name: user.name.clone(),
                email: user.email.clone(),
            })
            .unwrap_or_default();
        Ok(Self { user, repos })
    }

    /// Resolve every repo's credential. `lookup` returns the value of an
    /// environment variable (the CLI passes `std::env::var`); a `token_env`
    /// naming an unset or empty variable is an error.
    pub fn with_credentials(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<Vec<Repo>> {
        self.repos
            .iter()
            .map(|entry| {
                let credential = match &entry.credential {
                    CredentialSource::None => Credential::None,
                    CredentialSource::DeployKey(path) => Credential::DeployKey(path.clone()),
                    CredentialSource::TokenEnv(variable) => {
                        match lookup(variable).filter(|value| !value.is_empty()) {
                            Some(token) => {
                                if entry.upstream.to_ascii_lowercase().starts_with("http://") {
                                    tracing::warn!(
                                        repo = %entry.name,
                                        "the token for this repo goes to a plain http:// upstream, readable on the way"
                                    );
                                }
                                Credential::Token(Redacted::new(token))
                            }
                            None => {
                                return Err(GateError::MissingToken {
                                    repo: entry.name.clone(),
                                    variable: variable.clone(),
                                });
                            }
                        }
                    }
                };
                Ok(Repo {
                    name: entry.name.clone(),
                    upstream: entry.upstream.clone(),
                    credential,
                    push: entry.push.clone(),
                })
            })
            .collect()
    }
}

fn invalid(message: String) -> GateError {
    GateError::InvalidConfig { message }
}

fn validate_repo(repo: &model::Repo) -> Result<RepoEntry> {
    let name = repo.name.as_str();
    validate_repo_name(name)?;
    let Some(upstream) = repo.upstream.as_deref() else {
        return Err(invalid(format!("repo `{name}` has no upstream")));
    };
    let kind = validate_upstream(name, upstream)?;
    let credential = match (&repo.token_env, &repo.deploy_key) {
        (Some(_), Some(_)) => {
            return Err(invalid(format!(
                "repo `{name}`: set token_env or deploy_key, not both"
            )));
        }
        (Some(variable), None) => {
            if variable.is_empty()
                || !variable
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(invalid(format!(
                    "repo `{name}`: token_env {variable:?} is not a variable name"
                )));
            }
            if kind != UpstreamKind::Http {
                return Err(invalid(format!(
                    "repo `{name}`: token_env needs an https:// upstream, not {upstream:?}"
                )));
            }
            CredentialSource::TokenEnv(variable.clone())
        }
        (None, Some(key)) => {
            if key.is_empty() || key.chars().any(char::is_control) {
                return Err(invalid(format!(
                    "repo `{name}`: deploy_key {key:?} is not a path"
                )));
            }
            if kind != UpstreamKind::Ssh {
                return Err(invalid(format!(
                    "repo `{name}`: deploy_key needs an ssh upstream (ssh://… or user@host:path), not {upstream:?}"
                )));
            }
            CredentialSource::DeployKey(PathBuf::from(key))
        }
        (None, None) => CredentialSource::None,
    };
    let push = PushRules::from_policy(name, repo.push.as_ref())?;
    Ok(RepoEntry {
        name: name.to_string(),
        upstream: upstream.to_string(),
        credential,
        push,
    })
}

/// A repo name: letters, digits, `.`, `_`, `-`; not starting with `.` or
/// `-`; not ending in `.git` (the gate adds that).
pub fn validate_repo_name(name: &str) -> Result<()> {
    match bot_bottle_manifest::validate::check_repo_name(name) {
        Ok(()) => Ok(()),
        Err(_) => Err(invalid(format!(
            "repo name {name:?} must be 1-{MAX_REPO_NAME_LENGTH} letters, digits, `.`, `_` or `-`, not start with `.` or `-`, and not end in `.git`"
        ))),
    }
}

/// Check an upstream URL ([`bot_bottle_manifest::validate::check_upstream`]).
pub fn validate_upstream(repo: &str, upstream: &str) -> Result<UpstreamKind> {
    bot_bottle_manifest::validate::check_upstream(upstream)
        .map_err(|why| invalid(format!("repo `{repo}`: upstream {upstream:?} {why}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<GateFile> {
        GateFile::parse(Path::new("gate.yaml"), text)
    }

    #[test]
    fn a_full_config_parses() {
        let file = parse(
            "user: {name: Agent, email: agent@example.com}\n\
             repos:\n\
             - name: app\n  upstream: https://git.example.com/o/app.git\n  token_env: APP_TOKEN\n  push: {refs: ['refs/heads/agent/*'], force: true}\n\
             - name: lib\n  upstream: git@example.com:o/lib.git\n  deploy_key: /keys/lib\n",
        )
        .unwrap();
        assert_eq!(file.user.name.as_deref(), Some("Agent"));
        assert_eq!(file.repos.len(), 2);
        assert_eq!(
            file.repos[0].credential,
            CredentialSource::TokenEnv("APP_TOKEN".into())
        );
        assert!(file.repos[0].push.force);
        assert!(!file.repos[0].push.delete);
        let repos = file
            .with_credentials(|name| (name == "APP_TOKEN").then(|| "t0k".to_string()))
            .unwrap();
        assert!(
            matches!(&repos[0].credential, Credential::Token(token) if token.expose() == "t0k")
        );
        assert!(
            matches!(&repos[1].credential, Credential::DeployKey(path) if path == Path::new("/keys/lib"))
        );
    }

    #[test]
    fn a_missing_token_names_repo_and_variable() {
        let file =
            parse("repos:\n- name: app\n  upstream: https://h/app.git\n  token_env: APP_TOKEN\n")
                .unwrap();
        let error = file.with_credentials(|_| None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "repo `app`: the variable APP_TOKEN (token_env) is not set or empty"
        );
        assert!(error.is_config());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let error = parse("repos:\n- name: app\n  upstream: /x\n  colour: red\n").unwrap_err();
        assert!(matches!(error, GateError::ParseConfig { .. }), "{error}");
    }

    #[test]
    fn bad_repos_are_refused() {
        for (text, expected) in [
            ("repos:\n- name: app\n", "has no upstream"),
            ("repos:\n- name: ../x\n  upstream: /x\n", "repo name"),
            ("repos:\n- name: app.git\n  upstream: /x\n", "repo name"),
            (
                "repos:\n- name: a\n  upstream: /x\n- name: a\n  upstream: /y\n",
                "listed twice",
            ),
            (
                "repos:\n- name: a\n  upstream: \"ext::sh -c evil\"\n",
                "whitespace",
            ),
            (
                "repos:\n- name: a\n  upstream: ext::evil\n",
                "remote helper",
            ),
            ("repos:\n- name: a\n  upstream: ftp://h/x\n", "scheme `ftp`"),
            (
                "repos:\n- name: a\n  upstream: \"-uevil\"\n",
                "starts with `-`",
            ),
            (
                "repos:\n- name: a\n  upstream: \"https://x\\n[core]\\nsshCommand=evil\"\n",
                "control character",
            ),
            (
                "repos:\n- name: a\n  upstream: https://h/a\n  deploy_key: /k\n",
                "needs an ssh upstream",
            ),
            (
                "repos:\n- name: a\n  upstream: git@h:a\n  token_env: T\n",
                "needs an https://",
            ),
            (
                "repos:\n- name: a\n  upstream: https://h/a\n  token_env: T\n  deploy_key: /k\n",
                "not both",
            ),
            (
                "repos:\n- name: a\n  upstream: https://h/a\n  token_env: \"A B\"\n",
                "not a variable name",
            ),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.to_string().contains(expected), "{text:?}: {error}");
            assert!(error.is_config());
        }
    }

    #[test]
    fn upstream_kinds() {
        for (url, kind) in [
            ("https://h/o/r.git", UpstreamKind::Http),
            ("HTTP://h/o/r", UpstreamKind::Http),
            ("ssh://git@h:2222/o/r.git", UpstreamKind::Ssh),
            ("git@h:o/r.git", UpstreamKind::Ssh),
            ("git://h/r", UpstreamKind::Git),
            ("file:///srv/r.git", UpstreamKind::File),
            ("/srv/r.git", UpstreamKind::File),
        ] {
            assert_eq!(validate_upstream("r", url).unwrap(), kind, "{url}");
        }
    }
}
