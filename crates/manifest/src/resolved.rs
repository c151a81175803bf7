//! The resolved bottle: `extends:` folded, defaults applied, provider routes
//! added, and where every value came from.
//!
//! Unlike the raw [`crate::model`] types, nothing here is optional where a
//! default applies (`supervise` is `true`, `egress.log` is `meta`, the
//! detector set is `[all]`, a manifest route's `outbound_on_match` is
//! `supervise` and a provider route's `redact`). What is still an `Option`
//! has no default (`description`, `image`, `git-gate.user.email`, …).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Serialize, Serializer};

use crate::error::Source;
use crate::model::{self, AgentProvider, EgressLog, HeaderMatch, OnMatch};
use crate::tree::FieldPath;

/// `egress.log` when no bottle sets it: method, host, path, status and
/// decision, never headers or bodies.
pub const DEFAULT_EGRESS_LOG: EgressLog = EgressLog::Meta;
/// `supervise` when no bottle sets it.
pub const DEFAULT_SUPERVISE: bool = true;
/// `egress.dlp.outbound_detectors` when no bottle sets it.
pub const DEFAULT_DETECTORS: &[&str] = &["all"];
/// A manifest route's `outbound_on_match` when it sets none.
pub const DEFAULT_ROUTE_ON_MATCH: OnMatch = OnMatch::Supervise;
/// A provider route's `outbound_on_match` when it sets none: the LLM API
/// carries the whole conversation, the worst source of token-shaped false
/// positives, so a match is scrubbed and forwarded rather than queued.
pub const DEFAULT_PROVIDER_ON_MATCH: OnMatch = OnMatch::Redact;

impl Serialize for Source {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Where a value was set: a file and, when known, the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub source: Source,
    pub line: Option<usize>,
}

impl fmt::Display for Origin {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.source)?;
        if let Some(line) = self.line {
            write!(formatter, ":{line}")?;
        }
        Ok(())
    }
}

/// Why a resolved value has the value it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// A bottle file set it.
    Set(Origin),
    /// No bottle set it; the documented default applies.
    Default,
    /// It came with the agent provider, chosen at `origin`.
    Provider {
        provider: AgentProvider,
        origin: Origin,
    },
}

impl fmt::Display for Provenance {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Set(origin) => write!(formatter, "{origin}"),
            Self::Default => formatter.write_str("default"),
            Self::Provider { provider, origin } => write!(
                formatter,
                "provider {} (agent_provider at {origin})",
                provider_name(*provider)
            ),
        }
    }
}

/// The lower-case name of a provider.
pub fn provider_name(provider: AgentProvider) -> &'static str {
    match provider {
        AgentProvider::Claude => "claude",
        AgentProvider::Codex => "codex",
        AgentProvider::None => "none",
    }
}

/// A bottle with `extends:` resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedBottle {
    /// The name it was asked for by (or the file stem, for `manifest check`).
    pub name: String,
    /// The file it was read from.
    pub source: Source,
    /// Its direct parents, as written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extends: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `none` when no bottle sets one.
    pub agent_provider: AgentProvider,
    pub supervise: bool,
    pub env: BTreeMap<String, String>,
    /// A prebuilt agent image. At most one of `image` and `dockerfile` is
    /// set; neither means the backend's default image for the provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A Dockerfile, anchored to the directory of the bottle file that set
    /// it (that directory is the build context). Built-in bottles' paths are
    /// left as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<PathBuf>,
    #[serde(rename = "git-gate")]
    pub git_gate: ResolvedGitGate,
    pub egress: ResolvedEgress,
    /// Where every value came from, keyed by field path (`env.FOO`,
    /// `egress.routes[2]`, `git-gate.repos[0].upstream`). A value's
    /// provenance is that of its longest path prefix in this map.
    #[serde(skip)]
    pub provenance: BTreeMap<FieldPath, Provenance>,
}

/// The resolved `git-gate:` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResolvedGitGate {
    pub user: model::GitUser,
    pub repos: Vec<ResolvedRepo>,
}

/// One repository behind the git gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedRepo {
    pub name: String,
    pub upstream: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy_key: Option<String>,
    pub push: ResolvedPush,
}

/// What the agent may push. With no `refs`, the repository is read-only
/// for the agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResolvedPush {
    pub refs: Vec<String>,
    pub force: bool,
    pub delete: bool,
}

/// The resolved `egress:` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedEgress {
    pub log: EgressLog,
    /// Provider routes first, then the manifests' routes in fold order.
    pub routes: Vec<ResolvedRoute>,
    pub dlp: ResolvedDlp,
}

/// The resolved `egress.dlp:` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedDlp {
    pub outbound_detectors: Vec<String>,
}

/// One allowed egress route with its policy decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedRoute {
    /// Set on a route the agent provider brought (not written in any
    /// bottle file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<AgentProvider>,
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<HeaderMatch>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_scheme: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_header: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    pub outbound_on_match: OnMatch,
}

impl ResolvedRoute {
    /// The route as the egress sidecar's `--routes` file writes it.
    pub fn to_route(&self) -> model::Route {
        model::Route {
            host: self.host.clone(),
            methods: self.methods.clone(),
            paths: self.paths.clone(),
            headers: self.headers.clone(),
            auth_scheme: self.auth_scheme.clone(),
            auth_header: self.auth_header.clone(),
            token_env: self.token_env.clone(),
            outbound_on_match: Some(self.outbound_on_match),
        }
    }

    /// A manifest route with the manifest default policy filled in.
    pub fn from_manifest(route: &model::Route) -> Self {
        Self {
            provider: None,
            host: route.host.clone(),
            methods: route.methods.clone(),
            paths: route.paths.clone(),
            headers: route.headers.clone(),
            auth_scheme: route.auth_scheme.clone(),
            auth_header: route.auth_header.clone(),
            token_env: route.token_env.clone(),
            outbound_on_match: route.outbound_on_match.unwrap_or(DEFAULT_ROUTE_ON_MATCH),
        }
    }
}

impl ResolvedEgress {
    /// The text of the egress sidecar's `--routes` file for this section:
    /// JSON, which is YAML (1.2) too, so every string is quoted and
    /// escaped by the serializer and no manifest value (a `"`, a `#`, a
    /// newline) can change the file's structure.
    pub fn routes_file_text(&self) -> Result<String, serde_json::Error> {
        let mut text = serde_json::to_string_pretty(&self.to_routes_file())?;
        text.push('\n');
        Ok(text)
    }

    /// This section as the egress sidecar's `--routes` file.
    pub fn to_routes_file(&self) -> model::Egress {
        model::Egress {
            log: Some(self.log),
            routes: self.routes.iter().map(ResolvedRoute::to_route).collect(),
            dlp: Some(model::Dlp {
                outbound_detectors: Some(self.dlp.outbound_detectors.clone()),
            }),
        }
    }
}

/// The routes a provider brings, before defaults.
pub fn provider_routes(provider: AgentProvider) -> Vec<model::Route> {
    let route = |host: &str,
                 auth_header: Option<&str>,
                 auth_scheme: Option<&str>,
                 token_env: Option<&str>| {
        model::Route {
            host: host.to_string(),
            auth_header: auth_header.map(str::to_string),
            auth_scheme: auth_scheme.map(str::to_string),
            token_env: token_env.map(str::to_string),
            ..model::Route::default()
        }
    };
    match provider {
        AgentProvider::Claude => vec![route(
            "api.anthropic.com",
            Some("x-api-key"),
            None,
            Some("EGRESS_TOKEN_ANTHROPIC"),
        )],
        AgentProvider::Codex => vec![
            route(
                "api.openai.com",
                None,
                Some("Bearer"),
                Some("EGRESS_TOKEN_OPENAI"),
            ),
            route("chatgpt.com", None, None, None),
        ],
        AgentProvider::None => Vec::new(),
    }
}

/// One line of `manifest show --explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainLine {
    pub path: FieldPath,
    /// The value as JSON (strings quoted, lists inline).
    pub value: String,
    pub provenance: Provenance,
}

impl ResolvedBottle {
    /// Every resolved leaf value with where it came from, in output order.
    pub fn explain(&self) -> Vec<ExplainLine> {
        let mut lines = Vec::new();
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(fields) = value {
            for (key, value) in fields {
                if matches!(key.as_str(), "name" | "source" | "extends") {
                    continue;
                }
                self.flatten(FieldPath::root().key(&key), &value, &mut lines);
            }
        }
        lines
    }

    fn flatten(&self, path: FieldPath, value: &serde_json::Value, lines: &mut Vec<ExplainLine>) {
        use serde_json::Value;
        let scalar_list = |items: &[Value]| {
            items
                .iter()
                .all(|item| !item.is_object() && !item.is_array())
        };
        match value {
            Value::Object(fields) if !fields.is_empty() => {
                for (key, value) in fields {
                    self.flatten(path.key(key), value, lines);
                }
            }
            Value::Array(items) if !items.is_empty() && !scalar_list(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.flatten(path.index(index), item, lines);
                }
            }
            _ => {
                let provenance = self.provenance_of(&path);
                lines.push(ExplainLine {
                    path,
                    value: value.to_string(),
                    provenance,
                });
            }
        }
    }

    /// The provenance of the value at `path` (that of its longest prefix
    /// with a record; `Default` when none).
    pub fn provenance_of(&self, path: &FieldPath) -> Provenance {
        (0..=path.0.len())
            .rev()
            .find_map(|length| self.provenance.get(&FieldPath(path.0[..length].to_vec())))
            .cloned()
            .unwrap_or(Provenance::Default)
    }

    /// `--explain` as text: `path = value    # source:line`, aligned.
    pub fn explain_text(&self) -> String {
        let lines = self.explain();
        let rendered: Vec<(String, String)> = lines
            .iter()
            .map(|line| {
                (
                    format!("{} = {}", line.path, line.value),
                    line.provenance.to_string(),
                )
            })
            .collect();
        let width = rendered
            .iter()
            .map(|(left, _)| left.chars().count())
            .max()
            .unwrap_or(0);
        let mut text = String::new();
        for (left, right) in rendered {
            let padding = width - left.chars().count() + 4;
            text.push_str(&left);
            text.push_str(&" ".repeat(padding));
            text.push_str("# ");
            text.push_str(&right);
            text.push('\n');
        }
        text
    }
}
