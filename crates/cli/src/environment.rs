//! Every environment variable the binary reads, in one place.
//!
//! Libraries never read the environment: the CLI reads it here and passes
//! typed values down. Keep this list and the README's table in step.
//!
//! | variable | meaning |
//! |---|---|
//! | `BOT_BOTTLE_LOG_LEVEL` | `debug`, `info` (default), `warn`, `error` |
//! | `XDG_CONFIG_HOME` | user bottles live in `$XDG_CONFIG_HOME/bot-bottle/bottles/` (default `~/.config`) |
//! | `XDG_STATE_HOME` | queues live under `$XDG_STATE_HOME/bot-bottle/` (default `~/.local/state`) |
//! | `HOME` | base of the two defaults above |
//! | `USER` (or `LOGNAME`) | recorded as `answered_by` when an operator answers a proposal |
//! | `EGRESS_TOKEN_*` | held secrets (sidecar tokens; `EGRESS_TOKEN_CANARY` is the canary) |
//! | `EGRESS_TOKEN_ALLOW_TIMEOUT_SECONDS` | `sidecar egress`: seconds a held request waits for the operator (default 300); not a held secret |
//! | `BOT_BOTTLE_SENSITIVE_PREFIXES` | comma list of extra variable-name prefixes whose values are held secrets |
//! | `GITEA_TOKEN` | `git-gate provision-key --forge gitea`: an API token that may add deploy keys |
//! | *(each repo's `token_env`)* | `sidecar git-gate`: the HTTPS token for that repo's upstream, named in its `--config` |

use std::path::PathBuf;

/// Name of the log-level variable.
pub const LOG_LEVEL: &str = "BOT_BOTTLE_LOG_LEVEL";
/// Prefix of the variables holding the sidecar's tokens.
pub const EGRESS_TOKEN_PREFIX: &str = "EGRESS_TOKEN_";
/// Seconds a held egress request waits for the operator.
pub const EGRESS_TOKEN_ALLOW_TIMEOUT_SECONDS: &str = "EGRESS_TOKEN_ALLOW_TIMEOUT_SECONDS";
/// Comma list of extra prefixes naming held secrets.
pub const SENSITIVE_PREFIXES: &str = "BOT_BOTTLE_SENSITIVE_PREFIXES";
/// The Gitea API token for deploy-key provisioning.
pub const GITEA_TOKEN: &str = "GITEA_TOKEN";

fn non_empty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

fn home() -> Option<PathBuf> {
    non_empty("HOME").map(PathBuf::from)
}

/// `$EGRESS_TOKEN_ALLOW_TIMEOUT_SECONDS`: `Ok(None)` when unset, `Err`
/// with the text when it is not a whole number of seconds.
pub fn egress_token_allow_timeout() -> Result<Option<std::time::Duration>, String> {
    match non_empty(EGRESS_TOKEN_ALLOW_TIMEOUT_SECONDS) {
        None => Ok(None),
        Some(text) => text
            .trim()
            .parse::<u64>()
            .map(|seconds| Some(std::time::Duration::from_secs(seconds)))
            .map_err(|_| text),
    }
}

/// `$GITEA_TOKEN`, when set and not empty.
pub fn gitea_token() -> Option<String> {
    non_empty(GITEA_TOKEN)
}

/// A variable named in a config file (a git-gate repo's `token_env`), when
/// set and not empty.
pub fn variable(name: &str) -> Option<String> {
    non_empty(name)
}

/// Who is answering proposals: `$USER`, else `$LOGNAME`.
pub fn operator_name() -> Option<String> {
    non_empty("USER").or_else(|| non_empty("LOGNAME"))
}

/// The requested log level, unparsed (`None` when unset).
pub fn log_level() -> Option<String> {
    non_empty(LOG_LEVEL)
}

/// `$XDG_CONFIG_HOME/bot-bottle`, defaulting to `~/.config/bot-bottle`.
pub fn config_dir() -> Option<PathBuf> {
    non_empty("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home().map(|home| home.join(".config")))
        .map(|base| base.join("bot-bottle"))
}

/// `$XDG_STATE_HOME/bot-bottle`, defaulting to `~/.local/state/bot-bottle`.
pub fn state_dir() -> Option<PathBuf> {
    non_empty("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| home().map(|home| home.join(".local/state")))
        .map(|base| base.join("bot-bottle"))
}

/// The held secrets exactly as the egress sidecar sees them: every
/// `EGRESS_TOKEN_*` variable plus every variable whose name starts with a
/// prefix listed in `BOT_BOTTLE_SENSITIVE_PREFIXES`. Returns
/// `(variable name, value)` pairs, empty values skipped, sorted by name.
pub fn held_secrets() -> Vec<(String, String)> {
    let mut prefixes = vec![EGRESS_TOKEN_PREFIX.to_string()];
    if let Some(extra) = non_empty(SENSITIVE_PREFIXES) {
        prefixes.extend(
            extra
                .split(',')
                .map(str::trim)
                .filter(|prefix| !prefix.is_empty())
                .map(str::to_string),
        );
    }
    let mut held: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .filter(|(name, value)| {
            !value.is_empty()
                && name != EGRESS_TOKEN_ALLOW_TIMEOUT_SECONDS
                && prefixes
                    .iter()
                    .any(|prefix| name.starts_with(prefix.as_str()))
        })
        .collect();
    held.sort();
    held
}
