//! The bottle manifest as written in a YAML file, field for field.
//!
//! These are the *raw* types: every field a child may leave to its parents is
//! an `Option` (or an empty collection), so that `extends:` resolution can
//! tell "not set" from "set to the default". Unknown fields are refused
//! (`deny_unknown_fields`) everywhere. The egress section is also the schema
//! of the egress sidecar's `--routes` file, and the git-gate section the
//! schema of the git-gate sidecar's `--config` file.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One bottle file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BottleFile {
    /// One parent bottle name, or a list folded left to right.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<Extends>,
    /// Free text shown by `manifest show`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Which coding agent runs in the bottle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_provider: Option<AgentProvider>,
    /// Run the supervise sidecar (default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervise: Option<bool>,
    /// Environment variables for the agent. Never a secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// A prebuilt agent image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A Dockerfile for the agent image, relative to this file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// The git sidecar: identity and the repositories it fronts.
    #[serde(default, rename = "git-gate", skip_serializing_if = "Option::is_none")]
    pub git_gate: Option<GitGate>,
    /// The HTTPS egress proxy: routes, logging and DLP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Egress>,
}

/// `extends:` — a single name or a list of names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Extends {
    One(String),
    Many(Vec<String>),
}

impl Extends {
    /// The parent names in fold order.
    pub fn names(&self) -> Vec<&str> {
        match self {
            Self::One(name) => vec![name.as_str()],
            Self::Many(names) => names.iter().map(String::as_str).collect(),
        }
    }
}

/// The coding agent a bottle runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentProvider {
    Claude,
    Codex,
    None,
}

/// The `git-gate:` section (also the git-gate sidecar's `--config` file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitGate {
    /// Commit identity installed in the agent's git config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<GitUser>,
    /// Repositories the gate mirrors and forwards pushes to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repos: Vec<Repo>,
}

/// `git-gate.user`: overlaid field by field across parents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// One repository behind the git gate. Repos are merged by `name`; every
/// other field is overlaid (a later bottle wins per field).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Repo {
    /// The name the agent uses (`http://gate/<name>.git`).
    #[schemars(pattern(r"^[A-Za-z0-9._-]+$"))]
    pub name: String,
    /// The real remote URL (https://… or ssh://… / scp-like).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Name of the sidecar environment variable holding an HTTPS token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[A-Z_][A-Z0-9_]*$"))]
    pub token_env: Option<String>,
    /// Path of an SSH deploy key file held by the sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_key: Option<String>,
    /// Which refs the agent may push, and how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushPolicy>,
}

/// What the agent may push to one repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PushPolicy {
    /// Ref patterns (globs such as `refs/heads/agent/*`) the agent may update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refs: Option<Vec<String>>,
    /// Allow non-fast-forward updates (default `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    /// Allow deleting refs (default `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<bool>,
}

/// The `egress:` section (also the egress sidecar's `--routes` file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Egress {
    /// How much of each request the proxy logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<EgressLog>,
    /// Allowed routes; everything else is denied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// Outbound data-loss-prevention settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dlp: Option<Dlp>,
}

/// `egress.log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EgressLog {
    /// Nothing per request.
    Off,
    /// Method, host, path, status and decision.
    Meta,
    /// Headers and bodies too, always redacted.
    Full,
}

/// `egress.dlp`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dlp {
    /// Detector names: `known`, `patterns`, `unicode`, `crlf`, `entropy`,
    /// `all` (the default: every one but `entropy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_detectors: Option<Vec<String>>,
}

/// What the proxy does when an outbound DLP detector matches on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnMatch {
    /// Scrub the value, re-scan, forward if clean.
    Redact,
    /// Refuse with 403.
    Block,
    /// Hold the request and ask the operator.
    Supervise,
}

/// One allowed egress route.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Exact host name or a `*.` wildcard, optionally with `:port`.
    #[schemars(pattern(r"^(\*\.)?[a-z0-9.-]+(:[0-9]+)?$"))]
    pub host: String,
    /// Allowed methods (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    /// Allowed path prefixes or globs (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
    /// Headers the request must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<HeaderMatch>>,
    /// Scheme for the injected `Authorization` header (`Bearer`, `token`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_scheme: Option<String>,
    /// Header to inject the token into instead of `Authorization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_header: Option<String>,
    /// Name of the sidecar variable (`EGRESS_TOKEN_*`) holding the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[A-Z_][A-Z0-9_]*$"))]
    pub token_env: Option<String>,
    /// Policy when a DLP detector matches (default `supervise`; provider
    /// routes default to `redact`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_on_match: Option<OnMatch>,
}

/// A header a request must carry to match a route.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    /// Header name (case-insensitive).
    pub name: String,
    /// Exact value or glob; any value when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}
