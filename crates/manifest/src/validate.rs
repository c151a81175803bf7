//! Checks on one parsed bottle file that serde's types cannot express.
//!
//! Every check runs and every finding is returned, so `manifest check` lists
//! all of a file's problems at once. Paths are counted over the typed model;
//! [`crate::file`] maps them back to the file as written and adds lines.
//!
//! Values that end up in a git config or an HTTP header are checked for
//! control characters here, once, so the sidecars can trust them.
//!
//! Some rules are the sidecars' own, kept here so a file that checks clean
//! is one they load: route globs ([`route_glob`], which the egress proxy
//! compiles with), git-gate repository names, upstream URLs and push
//! patterns ([`check_repo_name`], [`check_upstream`], [`push_ref_glob`],
//! which the git gate calls).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use crate::model::{BottleFile, Egress, GitGate, Route};
use crate::tree::FieldPath;

/// Shortest `env` value the local entropy rule considers a credential.
pub const CREDENTIAL_MIN_LENGTH: usize = 20;
/// Shannon entropy (bits per character) at or above which a long,
/// token-shaped value is taken for a credential.
pub const CREDENTIAL_MIN_ENTROPY: f64 = 4.0;
/// Shortest `token_env` value taken for a pasted token rather than a
/// misspelt variable name (see `looks_like_token_value`).
pub const TOKEN_VALUE_MIN_LENGTH: usize = 16;
/// Longest host name (RFC 1035).
pub const MAX_HOST_LENGTH: usize = 253;
/// Longest DNS label (RFC 1035).
pub const MAX_LABEL_LENGTH: usize = 63;

/// HTTP methods a route may list.
pub const KNOWN_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];

/// Detector names `egress.dlp.outbound_detectors` accepts: `all` and the
/// DLP engine's own names (one list, so the two cannot drift apart).
pub fn known_detectors() -> Vec<&'static str> {
    std::iter::once("all")
        .chain(
            bot_bottle_dlp::Detector::EVERY
                .iter()
                .map(|detector| detector.name()),
        )
        .collect()
}

/// One finding: where, what, and optionally how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: FieldPath,
    pub message: String,
    pub hint: Option<String>,
}

struct Findings(Vec<Finding>);

impl Findings {
    fn add(&mut self, path: FieldPath, message: impl Into<String>) {
        self.0.push(Finding {
            path,
            message: message.into(),
            hint: None,
        });
    }

    fn add_with_hint(
        &mut self,
        path: FieldPath,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.0.push(Finding {
            path,
            message: message.into(),
            hint: Some(hint.into()),
        });
    }
}

/// Every problem in one bottle file.
pub fn validate(file: &BottleFile) -> Vec<Finding> {
    let mut findings = Findings(Vec::new());
    let root = FieldPath::root();
    if let Some(extends) = &file.extends {
        let many = matches!(extends, crate::model::Extends::Many(_));
        for (index, name) in extends.names().into_iter().enumerate() {
            let path = if many {
                root.key("extends").index(index)
            } else {
                root.key("extends")
            };
            if let Err(reason) = check_bottle_name(name) {
                findings.add(
                    path,
                    format!("`{name}` is not a valid bottle name: {reason}"),
                );
            }
        }
    }
    check_env(file, &mut findings);
    if let Some(image) = &file.image {
        check_plain_value(&root.key("image"), image, &mut findings);
    }
    if let Some(dockerfile) = &file.dockerfile {
        check_plain_value(&root.key("dockerfile"), dockerfile, &mut findings);
    }
    if file.image.is_some() && file.dockerfile.is_some() {
        findings.add_with_hint(
            root.key("dockerfile"),
            "`image` and `dockerfile` are both set",
            "set one: `image` names a prebuilt image, `dockerfile` builds one",
        );
    }
    if let Some(git_gate) = &file.git_gate {
        check_git_gate(&root.key("git-gate"), git_gate, &mut findings);
    }
    if let Some(egress) = &file.egress {
        check_egress(&root.key("egress"), egress, &mut findings);
    }
    findings.0
}

/// Every problem in one route on its own (a route an operator grants or an
/// agent asks for), held to the same rules as a route in a manifest. Paths
/// in the findings are relative to the route (`methods[0]`, `host`).
pub fn validate_route(route: &Route) -> Vec<Finding> {
    let mut findings = Findings(Vec::new());
    check_route(&FieldPath::root(), route, &mut findings);
    findings.0
}

/// Bottle names are file names: no separators, no `..`, nothing hidden.
pub fn check_bottle_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name == "." || name == ".." {
        return Err("`.` and `..` are not names");
    }
    if name.starts_with('.') {
        return Err("it must not start with `.`");
    }
    if name.contains(['/', '\\']) {
        return Err("it must not contain a path separator");
    }
    if !name
        .chars()
        .all(|character| character.is_ascii_alphanumeric() || matches!(character, '.' | '_' | '-'))
    {
        return Err("use only letters, digits, `.`, `_` and `-`");
    }
    Ok(())
}

/// Whether a route's path or header value is a glob (any other path is a
/// segment prefix, any other value an exact match).
pub fn has_glob_characters(text: &str) -> bool {
    text.contains(['*', '?', '[', '{'])
}

/// A route glob exactly as the egress proxy builds it: `literal_separator`
/// keeps `*` inside one path segment (paths) or lets it span anything
/// (header values). Validation builds every glob with it too, so a route
/// that validates is one egress compiles.
pub fn route_glob(pattern: &str, literal_separator: bool) -> Result<globset::Glob, globset::Error> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(literal_separator)
        .build()
}

const GLOB_HINT: &str = "in a glob `*` matches within a segment, `**` across segments, `?` one character, `[abc]` one of a set, `{a,b}` either; close every `[` and `{`";

fn is_variable_name(name: &str, allow_lowercase: bool) -> bool {
    let mut characters = name.chars();
    let first_ok = characters.next().is_some_and(|first| {
        first == '_'
            || first.is_ascii_uppercase()
            || (allow_lowercase && first.is_ascii_lowercase())
    });
    first_ok
        && characters.all(|character| {
            character == '_'
                || character.is_ascii_uppercase()
                || character.is_ascii_digit()
                || (allow_lowercase && character.is_ascii_lowercase())
        })
}

/// Shannon entropy of `value` in bits per character.
pub fn shannon_entropy(value: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut total = 0_u32;
    for character in value.chars() {
        *counts.entry(character).or_insert(0_u32) += 1;
        total += 1;
    }
    if total == 0 {
        return 0.0;
    }
    let total = f64::from(total);
    counts
        .values()
        .map(|&count| {
            let share = f64::from(count) / total;
            -share * share.log2()
        })
        .sum()
}

/// The local rule: at least [`CREDENTIAL_MIN_LENGTH`] characters, all of them
/// token characters (letters, digits, `+/=_-.~`; so no whitespace, and no
/// URL or list punctuation, which keeps `https://proxy.golang.org,direct`
/// out), letters *and* digits, and entropy of at least
/// [`CREDENTIAL_MIN_ENTROPY`] bits per character.
pub fn looks_random(value: &str) -> bool {
    value.chars().count() >= CREDENTIAL_MIN_LENGTH
        && value.chars().all(|character| {
            character.is_ascii_alphanumeric()
                || matches!(character, '+' | '/' | '=' | '_' | '-' | '.' | '~')
        })
        && value
            .chars()
            .any(|character| character.is_ascii_alphabetic())
        && value.chars().any(|character| character.is_ascii_digit())
        && shannon_entropy(value) >= CREDENTIAL_MIN_ENTROPY
}

/// A shape the DLP rules know, or long and random.
pub fn looks_like_credential(value: &str) -> bool {
    bot_bottle_dlp::looks_like_credential(value) || looks_random(value)
}

/// For `token_env`, which should be a short upper-case name: anything long
/// with lower-case letters and digits and no spaces is a pasted token, even
/// when it is not random enough for [`looks_like_credential`].
fn looks_like_token_value(value: &str) -> bool {
    looks_like_credential(value)
        || (value.chars().count() >= TOKEN_VALUE_MIN_LENGTH
            && !value.chars().any(char::is_whitespace)
            && value
                .chars()
                .any(|character| character.is_ascii_lowercase())
            && value.chars().any(|character| character.is_ascii_digit()))
}

fn has_control(value: &str) -> bool {
    value.chars().any(char::is_control)
}

fn check_env(file: &BottleFile, findings: &mut Findings) {
    let env = FieldPath::root().key("env");
    for (name, value) in &file.env {
        let path = env.key(name);
        if !is_variable_name(name, true) {
            findings.add(
                path.clone(),
                format!("`{name}` is not a variable name (letters, digits and `_`, not starting with a digit)"),
            );
        }
        if value.contains('\0') {
            findings.add(path.clone(), "the value contains a NUL byte");
        }
        if looks_like_credential(value) {
            findings.add_with_hint(
                path,
                format!(
                    "the value ({} characters) looks like a credential; env is visible to the agent and must never hold a secret",
                    value.chars().count()
                ),
                "give the token to the egress sidecar instead: an `egress.routes[].token_env` \
                 names the variable that holds it, and the sidecar injects it into matching requests",
            );
        }
    }
}

fn check_plain_value(path: &FieldPath, value: &str, findings: &mut Findings) {
    if value.trim().is_empty() {
        findings.add(path.clone(), "must not be empty");
    } else if has_control(value) {
        findings.add(
            path.clone(),
            "must not contain control characters or newlines",
        );
    }
}

/// A value written into git's config: one line, no control characters.
fn check_git_config_value(path: &FieldPath, value: &str, findings: &mut Findings) {
    if value.trim().is_empty() {
        findings.add(path.clone(), "must not be empty");
    } else if has_control(value) {
        findings.add(
            path.clone(),
            "must not contain newlines or control characters (it is written into a git config)",
        );
    }
}

fn check_token_env(path: &FieldPath, value: &str, findings: &mut Findings) {
    if is_variable_name(value, false) {
        return;
    }
    if looks_like_token_value(value) {
        findings.add_with_hint(
            path.clone(),
            format!(
                "this looks like a token value ({} characters), not the name of a variable",
                value.chars().count()
            ),
            "`token_env` names the sidecar variable that holds the token (e.g. `EGRESS_TOKEN_GITHUB`); \
             remove the value from this file and rotate it",
        );
    } else {
        findings.add(
            path.clone(),
            format!("`{value}` is not a variable name (upper-case letters, digits and `_`, e.g. `EGRESS_TOKEN_GITHUB`)"),
        );
    }
}

/// The longest git-gate repository name.
pub const MAX_REPO_NAME_LENGTH: usize = 100;

/// The schemes a git-gate upstream may use; everything else (notably git's
/// `ext::` and `fd::` remote helpers, which run commands) is refused.
pub const ALLOWED_UPSTREAM_SCHEMES: &[&str] = &["https", "http", "ssh", "git", "file"];

/// What kind of transport a git-gate upstream URL uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    Http,
    Ssh,
    Git,
    File,
}

/// A git-gate repository name (served as `<name>.git`): letters, digits,
/// `.`, `_`, `-`; not starting with `.` or `-`; not ending in `.git`. The
/// git gate applies the same rule when it loads its config.
pub fn check_repo_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.len() > MAX_REPO_NAME_LENGTH {
        return Err("it is longer than 100 characters");
    }
    if !name
        .chars()
        .all(|character| character.is_ascii_alphanumeric() || matches!(character, '.' | '_' | '-'))
    {
        return Err("use only letters, digits, `.`, `_` and `-`");
    }
    if name.starts_with(['.', '-']) {
        return Err("it must not start with `.` or `-`");
    }
    if name.ends_with(".git") {
        return Err("leave out `.git` (the gate adds it)");
    }
    Ok(())
}

/// Check a git-gate upstream URL: no control characters or whitespace, no
/// option look-alikes, one of [`ALLOWED_UPSTREAM_SCHEMES`] (or scp-like
/// `user@host:path`, or an absolute path). The reason, on refusal, reads
/// after the URL. The git gate applies the same rule when it loads its
/// config.
pub fn check_upstream(upstream: &str) -> Result<UpstreamKind, String> {
    if upstream.is_empty() {
        return Err("is empty".into());
    }
    if upstream
        .chars()
        .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err("contains whitespace or a control character (newline, NUL, …)".into());
    }
    if upstream.starts_with('-') {
        return Err("starts with `-`".into());
    }
    if upstream.contains("::") {
        return Err("uses a git remote helper (`<transport>::`), which is refused".into());
    }
    if let Some((scheme, rest)) = upstream.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        if !ALLOWED_UPSTREAM_SCHEMES.contains(&scheme.as_str()) {
            return Err(format!(
                "uses scheme `{scheme}`; allowed: {}",
                ALLOWED_UPSTREAM_SCHEMES.join(", ")
            ));
        }
        if rest.is_empty() {
            return Err("has nothing after the scheme".into());
        }
        return Ok(match scheme.as_str() {
            "https" | "http" => UpstreamKind::Http,
            "ssh" => UpstreamKind::Ssh,
            "git" => UpstreamKind::Git,
            _ => UpstreamKind::File,
        });
    }
    if upstream.starts_with('/') {
        return Ok(UpstreamKind::File);
    }
    // scp-like: [user@]host:path, with no slash before the colon.
    if let Some((host, path)) = upstream.split_once(':')
        && !host.is_empty()
        && !host.contains('/')
        && !path.is_empty()
    {
        return Ok(UpstreamKind::Ssh);
    }
    Err("is not a URL (https://…, ssh://…, user@host:path or an absolute path)".into())
}

/// A git-gate `push.refs` pattern as the gate builds it (`*` stays inside
/// one ref component, `\` escapes).
pub fn push_ref_glob(pattern: &str) -> Result<globset::Glob, globset::Error> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
}

fn check_git_gate(path: &FieldPath, git_gate: &GitGate, findings: &mut Findings) {
    if let Some(user) = &git_gate.user {
        let user_path = path.key("user");
        if let Some(name) = &user.name {
            check_git_config_value(&user_path.key("name"), name, findings);
        }
        if let Some(email) = &user.email {
            check_git_config_value(&user_path.key("email"), email, findings);
        }
    }
    let mut seen = BTreeSet::new();
    for (index, repo) in git_gate.repos.iter().enumerate() {
        let repo_path = path.key("repos").index(index);
        if let Err(reason) = check_repo_name(&repo.name) {
            findings.add(
                repo_path.key("name"),
                format!("`{}` is not a valid repository name: {reason}", repo.name),
            );
        }
        if !seen.insert(repo.name.as_str()) {
            findings.add_with_hint(
                repo_path.key("name"),
                format!("repository `{}` is listed twice in this file", repo.name),
                "merge the two entries into one",
            );
        }
        let mut kind = None;
        if let Some(upstream) = &repo.upstream {
            if has_control(upstream) || upstream.trim().is_empty() {
                check_git_config_value(&repo_path.key("upstream"), upstream, findings);
            } else if upstream.chars().any(char::is_whitespace) {
                findings.add(repo_path.key("upstream"), "must not contain whitespace");
            } else {
                match check_upstream(upstream) {
                    Ok(found) => kind = Some(found),
                    Err(why) => {
                        findings.add(repo_path.key("upstream"), format!("`{upstream}` {why}"))
                    }
                }
            }
        }
        // Which credential suits which transport, when both are in this file.
        match (kind, &repo.token_env, &repo.deploy_key) {
            (Some(kind), Some(_), None) if kind != UpstreamKind::Http => findings.add(
                repo_path.key("token_env"),
                "a token is sent over HTTPS: `token_env` needs an https:// upstream",
            ),
            (Some(kind), None, Some(_)) if kind != UpstreamKind::Ssh => findings.add(
                repo_path.key("deploy_key"),
                "a deploy key is used over SSH: `deploy_key` needs an ssh://… or user@host:path upstream",
            ),
            _ => {}
        }
        if let Some(token_env) = &repo.token_env {
            check_token_env(&repo_path.key("token_env"), token_env, findings);
        }
        if let Some(deploy_key) = &repo.deploy_key {
            check_plain_value(&repo_path.key("deploy_key"), deploy_key, findings);
        }
        if repo.token_env.is_some() && repo.deploy_key.is_some() {
            findings.add_with_hint(
                repo_path.key("deploy_key"),
                "`token_env` and `deploy_key` are both set",
                "a repository uses one credential: an HTTPS token or an SSH deploy key",
            );
        }
        if let Some(refs) = repo.push.as_ref().and_then(|push| push.refs.as_ref()) {
            for (ref_index, pattern) in refs.iter().enumerate() {
                let ref_path = repo_path.key("push").key("refs").index(ref_index);
                if !pattern.starts_with("refs/") {
                    findings.add_with_hint(
                        ref_path,
                        format!("`{pattern}` is not a ref pattern"),
                        "write full ref names, e.g. `refs/heads/agent/*`",
                    );
                } else if has_control(pattern) || pattern.contains(' ') {
                    findings.add(ref_path, "must not contain spaces or control characters");
                } else if let Err(error) = push_ref_glob(pattern) {
                    findings.add_with_hint(
                        ref_path,
                        format!("`{pattern}` is not a valid pattern: {}", error.kind()),
                        GLOB_HINT,
                    );
                }
            }
        }
    }
}

/// Whether a host name's last label is a number, decimal or `0x` hex
/// (`api.9`, `x.0x7f`, `2130706433`): an IPv4 address in some spelling to a
/// resolver. Both the manifest's host check and the egress proxy's host
/// parser refuse such names. Expects a lower-case name without a port.
pub fn last_label_is_numeric(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    let hex = last
        .strip_prefix("0x")
        .is_some_and(|rest| rest.bytes().all(|byte| byte.is_ascii_hexdigit()));
    last.bytes().all(|byte| byte.is_ascii_digit()) || hex
}

/// Check a host pattern: `name`, `*.name`, optionally `:port`; IPv4
/// literals allowed; lower-case letters, digits and `-` in each label.
pub fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("the host is empty".to_string());
    }
    if host
        .chars()
        .any(|character| character.is_whitespace() || character.is_control())
    {
        return Err("a host must not contain whitespace".to_string());
    }
    if host.contains("://") {
        return Err(
            "a host has no scheme: write `example.com`, not `https://example.com`".to_string(),
        );
    }
    if host.contains('/') {
        return Err("a host has no path: put paths under `paths:`".to_string());
    }
    if host.contains(['[', ']']) {
        return Err("IPv6 literals are not supported".to_string());
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) => {
            if port.is_empty() || !port.chars().all(|character| character.is_ascii_digit()) {
                return Err(format!(
                    "`{port}` is not a port (a port is `:` and digits, e.g. `:8443`)"
                ));
            }
            match port.parse::<u16>() {
                Ok(number) if number > 0 => {}
                _ => return Err(format!("port `{port}` is out of range (1-65535)")),
            }
            name
        }
        None => host,
    };
    let (wildcard, name) = match name.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, name),
    };
    if name.contains('*') {
        return Err("a wildcard is only allowed as a leading `*.`".to_string());
    }
    if name.is_empty() {
        return Err("the host is empty".to_string());
    }
    if name.len() > MAX_HOST_LENGTH {
        return Err(format!(
            "the host is longer than {MAX_HOST_LENGTH} characters"
        ));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels
        .iter()
        .all(|label| !label.is_empty() && label.chars().all(|c| c.is_ascii_digit()))
    {
        if wildcard {
            return Err("a wildcard cannot prefix an IP address".to_string());
        }
        return name
            .parse::<Ipv4Addr>()
            .map(|_| ())
            .map_err(|_| format!("`{name}` is not an IPv4 address"));
    }
    for label in labels {
        if label.is_empty() {
            return Err(
                "a host has no empty labels (no leading, trailing or doubled `.`)".to_string(),
            );
        }
        if label.len() > MAX_LABEL_LENGTH {
            return Err(format!(
                "the label `{label}` is longer than {MAX_LABEL_LENGTH} characters"
            ));
        }
        if label
            .chars()
            .any(|character| character.is_ascii_uppercase())
        {
            return Err(format!(
                "write hosts in lower case (`{}`)",
                host.to_ascii_lowercase()
            ));
        }
        if !label.chars().all(|character| {
            character.is_ascii_lowercase() || character.is_ascii_digit() || character == '-'
        }) {
            return Err(format!(
                "`{label}`: a label holds only lower-case letters, digits and `-`"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("`{label}`: a label cannot start or end with `-`"));
        }
    }
    // A numeric last label: the egress proxy refuses such names rather
    // than guess, so a route cannot name one either.
    if last_label_is_numeric(name) {
        return Err(format!(
            "`{name}`: a name whose last label is a number reads as an IPv4 address; write a name, or the address itself (e.g. `10.0.0.5`)"
        ));
    }
    Ok(())
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|character| {
            character.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(character)
        })
}

fn check_route(path: &FieldPath, route: &Route, findings: &mut Findings) {
    if let Err(message) = check_host(&route.host) {
        findings.add(path.key("host"), message);
    }
    if let Some(methods) = &route.methods {
        for (index, method) in methods.iter().enumerate() {
            if KNOWN_METHODS.contains(&method.as_str()) {
                continue;
            }
            let upper = method.to_ascii_uppercase();
            if KNOWN_METHODS.contains(&upper.as_str()) {
                findings.add(
                    path.key("methods").index(index),
                    format!("write methods in upper case: `{upper}`"),
                );
            } else {
                findings.add(
                    path.key("methods").index(index),
                    format!(
                        "`{method}` is not an HTTP method (one of {})",
                        crate::de::one_of(KNOWN_METHODS)
                    ),
                );
            }
        }
    }
    if let Some(paths) = &route.paths {
        for (index, route_path) in paths.iter().enumerate() {
            if !route_path.starts_with('/') {
                findings.add(
                    path.key("paths").index(index),
                    format!("`{route_path}` must start with `/`"),
                );
            } else if route_path
                .chars()
                .any(|character| character.is_whitespace() || character.is_control())
            {
                findings.add(
                    path.key("paths").index(index),
                    "a path must not contain whitespace",
                );
            } else if has_glob_characters(route_path)
                && let Err(error) = route_glob(route_path, true)
            {
                findings.add_with_hint(
                    path.key("paths").index(index),
                    format!("`{route_path}` is not a valid glob: {}", error.kind()),
                    GLOB_HINT,
                );
            }
        }
    }
    if let Some(headers) = &route.headers {
        for (index, header) in headers.iter().enumerate() {
            let header_path = path.key("headers").index(index);
            if !is_header_name(&header.name) {
                findings.add(
                    header_path.key("name"),
                    format!("`{}` is not an HTTP header name", header.name),
                );
            }
            if let Some(value) = &header.value {
                if has_control(value) {
                    findings.add(
                        header_path.key("value"),
                        "must not contain control characters or newlines",
                    );
                } else if has_glob_characters(value)
                    && let Err(error) = route_glob(value, false)
                {
                    findings.add_with_hint(
                        header_path.key("value"),
                        format!("`{value}` is not a valid glob: {}", error.kind()),
                        GLOB_HINT,
                    );
                }
            }
        }
    }
    if let Some(scheme) = &route.auth_scheme
        && (scheme.is_empty() || !scheme.chars().all(|character| character.is_ascii_graphic()))
    {
        findings.add(
            path.key("auth_scheme"),
            "an auth scheme is one word (e.g. `Bearer`, `token`)",
        );
    }
    if let Some(header) = &route.auth_header
        && !is_header_name(header)
    {
        findings.add(
            path.key("auth_header"),
            format!("`{header}` is not an HTTP header name"),
        );
    }
    match &route.token_env {
        Some(token_env) => {
            check_token_env(&path.key("token_env"), token_env, findings);
            // The egress sidecar refuses such a route (it cannot tell how
            // to send the token); refuse it here too, so a manifest, an
            // approved route and the routes file egress loads agree.
            if route.auth_scheme.is_none() && route.auth_header.is_none() {
                findings.add_with_hint(
                    path.key("auth_scheme"),
                    "`token_env` needs `auth_scheme` or `auth_header` to say how the token is sent",
                    "add `auth_scheme: Bearer` (sends `Authorization: Bearer <token>`) or `auth_header: x-api-key` (sends the token alone in that header)",
                );
            }
        }
        None => {
            for (field, set) in [
                ("auth_scheme", route.auth_scheme.is_some()),
                ("auth_header", route.auth_header.is_some()),
            ] {
                if set {
                    findings.add_with_hint(
                        path.key(field),
                        format!("`{field}` has no effect without `token_env`"),
                        "add `token_env: EGRESS_TOKEN_…` naming the variable the sidecar holds the token in",
                    );
                }
            }
        }
    }
}

fn check_egress(path: &FieldPath, egress: &Egress, findings: &mut Findings) {
    for (index, route) in egress.routes.iter().enumerate() {
        check_route(&path.key("routes").index(index), route, findings);
    }
    if let Some(detectors) = egress
        .dlp
        .as_ref()
        .and_then(|dlp| dlp.outbound_detectors.as_ref())
    {
        let detectors_path = path.key("dlp").key("outbound_detectors");
        if detectors.is_empty() {
            findings.add_with_hint(
                detectors_path.clone(),
                "an empty list would switch outbound DLP off",
                "list at least one detector, or leave the field out for the default `[all]`",
            );
        }
        let known = known_detectors();
        for (index, detector) in detectors.iter().enumerate() {
            if !known.contains(&detector.as_str()) {
                findings.add(
                    detectors_path.index(index),
                    format!(
                        "unknown detector `{detector}`, expected one of {}",
                        crate::de::one_of(&known)
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns() {
        let good = [
            "example.com",
            "*.example.com",
            "api.example.com:8443",
            "10.0.0.1",
            "10.0.0.1:80",
            "localhost",
            "a-b.c0.io",
        ];
        for host in good {
            assert_eq!(check_host(host), Ok(()), "{host}");
        }
        let bad = [
            ("", "the host is empty"),
            (
                "https://example.com",
                "a host has no scheme: write `example.com`, not `https://example.com`",
            ),
            (
                "example.com/v1",
                "a host has no path: put paths under `paths:`",
            ),
            (
                "example.com:https",
                "`https` is not a port (a port is `:` and digits, e.g. `:8443`)",
            ),
            (
                "example.com:",
                "`` is not a port (a port is `:` and digits, e.g. `:8443`)",
            ),
            (
                "example.com:70000",
                "port `70000` is out of range (1-65535)",
            ),
            ("exa mple.com", "a host must not contain whitespace"),
            (
                "example..com",
                "a host has no empty labels (no leading, trailing or doubled `.`)",
            ),
            (
                "example.com.",
                "a host has no empty labels (no leading, trailing or doubled `.`)",
            ),
            ("Example.com", "write hosts in lower case (`example.com`)"),
            ("api.*.com", "a wildcard is only allowed as a leading `*.`"),
            ("*", "a wildcard is only allowed as a leading `*.`"),
            ("*.10.0.0.1", "a wildcard cannot prefix an IP address"),
            ("300.0.0.1", "`300.0.0.1` is not an IPv4 address"),
            (
                "ex_ample.com",
                "`ex_ample`: a label holds only lower-case letters, digits and `-`",
            ),
            ("-x.com", "`-x`: a label cannot start or end with `-`"),
            ("[::1]", "IPv6 literals are not supported"),
        ];
        for (host, message) in bad {
            assert_eq!(check_host(host), Err(message.to_string()), "{host}");
        }
    }

    #[test]
    fn bottle_names() {
        for name in ["base", "my-bottle", "a.b_c", "x1"] {
            assert_eq!(check_bottle_name(name), Ok(()), "{name}");
        }
        for name in ["", ".", "..", "../x", "a/b", "a\\b", ".hidden", "a b"] {
            assert!(check_bottle_name(name).is_err(), "{name}");
        }
    }

    #[test]
    fn random_values_are_credentials_and_ordinary_values_are_not() {
        for value in [
            "ghp_abcdEFGH1234ijklMNOP5678qrstUVWX90ab",
            "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789",
            "0123456789abcdef0123456789abcdef",
        ] {
            assert!(looks_random(value), "{value}");
        }
        for value in [
            "/usr/local/bin:/usr/bin:/bin",
            "https://proxy.golang.org,direct",
            "en_US.UTF-8",
            "--max-old-space-size=4096",
            "/home/agent/workspace/project",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1",
            "short1A",
        ] {
            assert!(!looks_random(value), "{value}");
        }
    }
}
