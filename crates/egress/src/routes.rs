//! The route table: which requests may leave the bottle.
//!
//! The `--routes` file has exactly the schema of a manifest's `egress:`
//! section ([`bot_bottle_manifest::model::Egress`]). It is compiled once into
//! a [`RouteTable`] (host patterns, method sets, path globs, header matchers,
//! the credential to inject) so that the per-request decision is a few
//! comparisons. Everything not matched by a route is denied.
//!
//! Matching rules (documented in `docs/egress.md`):
//!
//! - **Host**: compared case-insensitively, one trailing dot ignored. An exact
//!   host matches itself only; `*.example.com` matches every subdomain of
//!   `example.com` at any depth but not `example.com` itself. A route host
//!   without a port matches the scheme's default port only (443 for HTTPS,
//!   80 for plain HTTP); `host:port` matches that port only. IP literals
//!   (`10.0.0.5`, `[fd00::1]:8443`) match exactly and are the operator's
//!   explicit permission to reach that address.
//! - **Method**: any when the route lists none; otherwise one of the listed
//!   methods (case-insensitive in the file, upper-case on the wire).
//! - **Path**: any when the route lists none. An entry with a glob character
//!   (`*`, `?`, `[`, `{`) is a glob over the whole path in which `*` stays
//!   within one segment and `**` crosses segments; any other entry is a
//!   segment prefix (`/v1` matches `/v1` and `/v1/...`, not `/v1beta`; an
//!   entry ending in `/` matches everything under it). The query string is
//!   never part of the match.
//! - **Headers**: every listed header must be present; with a `value`, one of
//!   the request's values for it must equal the value (or match it as a glob
//!   when it has a glob character).
//!
//! Paths are normalised before matching: each segment is percent-decoded
//! once, and a request is refused outright when a segment is `.` or `..`
//! (also as `%2e%2e`, or with a `;` parameter), contains an encoded `/` or
//! `\`, a backslash, a NUL, or a still-encoded dot or slash after decoding
//! (double encoding). An upstream that normalises differently from us can
//! then never be steered outside an allowed prefix.
//!
//! The first route that matches wins: its credential is injected and its
//! `outbound_on_match` policy applies.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use bot_bottle_manifest::model::{Egress, EgressLog, HeaderMatch, OnMatch, Route};
use bot_bottle_manifest::validate::{has_glob_characters, last_label_is_numeric, route_glob};
use bot_bottle_secret::Redacted;
use globset::GlobMatcher;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use percent_encoding::percent_decode_str;
use serde::Serialize;

/// The tokens the sidecar holds, by variable name (`EGRESS_TOKEN_*`). Read
/// from the environment once by the CLI; this library never reads it.
pub type Tokens = BTreeMap<String, Redacted<String>>;

/// The default policy when a route sets no `outbound_on_match`.
pub const DEFAULT_ON_MATCH: OnMatch = OnMatch::Supervise;

/// The default `egress.log` level.
pub const DEFAULT_LOG: EgressLog = EgressLog::Meta;

/// Errors loading or compiling a routes file.
#[derive(Debug, thiserror::Error)]
pub enum RoutesError {
    #[error("cannot read routes file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("routes file {path} is not a valid `egress:` section: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    #[error("routes[{index}] (host {host:?}): {field}: {message}")]
    Invalid {
        index: usize,
        host: String,
        field: &'static str,
        message: String,
    },
    #[error("routes[{index}] (host {host:?}): {field}: bad glob {pattern:?}")]
    Glob {
        index: usize,
        host: String,
        field: &'static str,
        pattern: String,
        #[source]
        source: globset::Error,
    },
    #[error("dlp.outbound_detectors: {0}")]
    Detectors(String),
}

/// The scheme a request arrived with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain `http://` through the forward proxy.
    Http,
    /// `https://` inside an intercepted CONNECT tunnel.
    Https,
}

impl Scheme {
    /// The port used when a URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }

    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// A request host after normalisation: lower-case name without a trailing
/// dot, or an IP literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

impl Host {
    /// Parse and normalise a host as it appears in a URL, a `Host` header,
    /// a CONNECT target or an SNI (no port; IPv6 in brackets or bare).
    pub fn parse(text: &str) -> Result<Self, HostError> {
        if text.is_empty() {
            return Err(HostError::Empty);
        }
        if text.contains('@') {
            return Err(HostError::UserInfo);
        }
        if let Some(inner) = text.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(HostError::Malformed)?;
            return inner
                .parse::<std::net::Ipv6Addr>()
                .map(|v6| Self::Ip(IpAddr::V6(v6)))
                .map_err(|_| HostError::Malformed);
        }
        if let Ok(address) = text.parse::<IpAddr>() {
            return Ok(Self::Ip(address));
        }
        let lower = text.to_ascii_lowercase();
        let name = lower.strip_suffix('.').unwrap_or(&lower);
        if name.is_empty() || name.len() > 253 {
            return Err(HostError::Malformed);
        }
        for label in name.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(HostError::Malformed);
            }
            if !label
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
            {
                return Err(HostError::Malformed);
            }
        }
        // A name whose last label is numeric is an IPv4 address in some
        // spelling (`2130706433`, `0x7f.1`, `127.1`): resolvers disagree on
        // those, so refuse rather than guess.
        if last_label_is_numeric(name) {
            return Err(HostError::NumericName);
        }
        Ok(Self::Name(name.to_string()))
    }

    /// The host as written in a URL authority (IPv6 in brackets).
    pub fn to_authority_host(&self) -> String {
        match self {
            Self::Name(name) => name.clone(),
            Self::Ip(IpAddr::V4(v4)) => v4.to_string(),
            Self::Ip(IpAddr::V6(v6)) => format!("[{v6}]"),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.to_authority_host())
    }
}

/// Why a host string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("empty host")]
    Empty,
    #[error("user information in the host")]
    UserInfo,
    #[error("malformed host")]
    Malformed,
    #[error("a numeric host name (an IPv4 address in disguise)")]
    NumericName,
}

/// Why a request path was refused before matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path does not start with `/`")]
    NotAbsolute,
    #[error("the path has a `.` or `..` segment")]
    DotSegment,
    #[error("the path has an encoded `/` or `\\`, a backslash or a NUL")]
    EncodedSeparator,
    #[error("the path is percent-encoded twice")]
    DoubleEncoded,
    #[error("the path has a `%` that is not followed by two hex digits (such as IIS's `%u002e`)")]
    BadEscape,
    #[error(
        "the path decodes to bytes that are not UTF-8 (an overlong encoding such as `%C0%AE`?)"
    )]
    NotUtf8,
}

/// `text` as an NFKC-normalising upstream might read it, invisible format
/// characters dropped (only non-ASCII text is folded; ASCII is returned
/// as it is).
fn fold_lookalikes(text: &str) -> std::borrow::Cow<'_, str> {
    use unicode_normalization::UnicodeNormalization as _;
    if text.is_ascii() {
        return std::borrow::Cow::Borrowed(text);
    }
    let invisible = |character: &char| {
        matches!(
            *character,
            '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
        )
    };
    std::borrow::Cow::Owned(
        text.nfkc()
            .filter(|character| !invisible(character))
            .collect(),
    )
}

/// Normalise a request path (without query) for matching; see the module
/// documentation for what is refused.
pub fn normalize_path(raw: &str) -> Result<String, PathError> {
    let Some(rest) = raw.strip_prefix('/') else {
        return Err(PathError::NotAbsolute);
    };
    let mut normalized = String::with_capacity(raw.len());
    for segment in rest.split('/') {
        if segment.contains('\\') {
            return Err(PathError::EncodedSeparator);
        }
        // Every `%` starts a two-hex-digit escape: an upstream that reads
        // `%u002e` as `.` (IIS) must not see a segment this check did not.
        let bytes = segment.as_bytes();
        if bytes.iter().enumerate().any(|(index, &byte)| {
            byte == b'%'
                && !(bytes.get(index + 1).is_some_and(u8::is_ascii_hexdigit)
                    && bytes.get(index + 2).is_some_and(u8::is_ascii_hexdigit))
        }) {
            return Err(PathError::BadEscape);
        }
        let decoded_bytes: Vec<u8> = percent_decode_str(segment).collect();
        if decoded_bytes
            .iter()
            .any(|&byte| byte == b'/' || byte == b'\\' || byte == 0)
        {
            return Err(PathError::EncodedSeparator);
        }
        // Not lossily: an overlong `%C0%AE` is `.` to a lax decoder.
        let Ok(decoded) = std::str::from_utf8(&decoded_bytes) else {
            return Err(PathError::NotUtf8);
        };
        let before_parameter = decoded.split(';').next().unwrap_or("");
        // `..`, and what a server that trims trailing dots and spaces
        // (Windows) reads as `..` or `.`: `.. `, `...`, `. `; and, for an
        // upstream that applies NFKC, look-alikes (`．．`, `‥`) and dots
        // with invisible characters between them.
        let folded = fold_lookalikes(before_parameter);
        if folded.starts_with('.')
            && folded
                .chars()
                .all(|character| character == '.' || character.is_whitespace())
        {
            return Err(PathError::DotSegment);
        }
        if folded.contains(['/', '\\']) {
            return Err(PathError::EncodedSeparator);
        }
        let lower = decoded.to_ascii_lowercase();
        if ["%2e", "%2f", "%5c", "%25"]
            .iter()
            .any(|encoded| lower.contains(encoded))
        {
            return Err(PathError::DoubleEncoded);
        }
        normalized.push('/');
        normalized.push_str(decoded);
    }
    Ok(normalized)
}

#[derive(Debug, Clone)]
enum HostPattern {
    Exact(String),
    /// `*.suffix`: stores `.suffix`.
    Wildcard(String),
    Ip(IpAddr),
}

#[derive(Debug, Clone)]
enum PathPattern {
    Prefix(String),
    Glob(GlobMatcher),
}

#[derive(Debug, Clone)]
enum ValuePattern {
    Any,
    Exact(String),
    Glob(ValueGlob),
}

impl ValuePattern {
    /// Whether one instance of the header matches.
    fn matches(&self, value: &HeaderValue) -> bool {
        match self {
            ValuePattern::Any => true,
            ValuePattern::Exact(exact) => value.as_bytes() == exact.as_bytes(),
            ValuePattern::Glob(glob) => value.to_str().is_ok_and(|text| glob.is_match(text)),
        }
    }
}

/// A header value's glob, whose wildcards (`*`, `?`, `[…]`) never match a
/// comma: a comma in a header value separates list members (the form
/// several instances of a header take when joined), so `2022-*` must not
/// match `2022-11-28, 2099-01-01`. A value with commas matches only when
/// the glob matches it whole AND, cut at every comma, the value has as many
/// pieces as the glob and each value piece matches its glob piece.
#[derive(Debug, Clone)]
struct ValueGlob {
    whole: GlobMatcher,
    /// The glob cut at each comma; `None` when a piece is not a glob on
    /// its own (a comma inside `{…}` or `[…]`): then no value with a comma
    /// matches.
    pieces: Option<Vec<ValuePiece>>,
}

#[derive(Debug, Clone)]
enum ValuePiece {
    Exact(String),
    Glob(GlobMatcher),
}

impl ValueGlob {
    fn new(whole: GlobMatcher, pattern: &str) -> Self {
        let pieces = pattern
            .split(',')
            .map(|piece| {
                if has_glob_characters(piece) {
                    route_glob(piece, false)
                        .ok()
                        .map(|glob| ValuePiece::Glob(glob.compile_matcher()))
                } else {
                    Some(ValuePiece::Exact(piece.to_string()))
                }
            })
            .collect();
        Self { whole, pieces }
    }

    fn is_match(&self, value: &str) -> bool {
        if !self.whole.is_match(value) {
            return false;
        }
        if !value.contains(',') {
            return true;
        }
        let Some(pieces) = &self.pieces else {
            return false;
        };
        value.split(',').count() == pieces.len()
            && value
                .split(',')
                .zip(pieces)
                .all(|(text, piece)| match piece {
                    ValuePiece::Exact(exact) => text == exact,
                    ValuePiece::Glob(glob) => glob.is_match(text),
                })
    }
}

#[derive(Debug, Clone)]
struct HeaderRule {
    name: HeaderName,
    value: ValuePattern,
}

/// The credential a route injects.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The header that carries it (`authorization` unless `auth_header`).
    pub header: HeaderName,
    /// The variable it comes from (shown by introspection; never the value).
    pub token_env: String,
    /// The full header value (`<scheme> <token>` or the bare token), or
    /// `None` when the variable is not set in the sidecar's environment:
    /// requests on the route are then refused.
    pub value: Option<Redacted<HeaderValue>>,
}

/// One compiled route.
#[derive(Debug, Clone)]
pub struct CompiledRoute {
    /// Position in the routes file (0-based), for logs and proposals.
    pub index: usize,
    host: HostPattern,
    port: Option<u16>,
    methods: Option<Vec<Method>>,
    paths: Option<Vec<PathPattern>>,
    headers: Vec<HeaderRule>,
    /// What to inject, if anything.
    pub credential: Option<Credential>,
    /// The DLP policy (the default filled in).
    pub on_match: OnMatch,
    /// The route exactly as written in the file.
    pub spec: Route,
}

/// What a request looks like to the route table.
#[derive(Debug, Clone, Copy)]
pub struct RequestTarget<'a> {
    pub scheme: Scheme,
    pub host: &'a Host,
    pub port: u16,
    pub method: &'a Method,
    /// The raw path, without the query.
    pub path: &'a str,
    pub headers: &'a HeaderMap,
}

/// Why the table refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("no route allows host {host}")]
    NoRouteForHost { host: String },
    #[error("no route for {host} allows method {method}")]
    Method { host: String, method: String },
    #[error("no route for {host} allows path {path}")]
    Path { host: String, path: String },
    #[error("no route for {host} matches the request's headers (needs {header})")]
    Header { host: String, header: String },
    #[error("path refused: {0}")]
    BadPath(PathError),
    #[error(
        "the route for {host} limits methods or paths, and header {header} asks the upstream for another method or path"
    )]
    OverrideHeader { host: String, header: String },
}

/// Headers some upstreams (and the frameworks behind them) honour as the
/// request's real method or path: on a route that limits methods or paths
/// they would let the upstream act on what the route never checked. Each
/// is also refused spelt with `_` for any `-` (`X_Original_URL`): a server
/// that hands headers to its application as CGI variables
/// (`HTTP_X_ORIGINAL_URL`) maps both spellings to the same name.
pub const OVERRIDE_HEADERS: &[&str] = &[
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-method",
    "x-forwarded-method",
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
    "x-forwarded-uri",
    "x-forwarded-path",
    "x-forwarded-prefix",
    "x-envoy-original-path",
];

/// The query parameter some frameworks (Rails, Laravel, Symfony) honour as
/// the request's real method; refused like [`OVERRIDE_HEADERS`] on a route
/// that limits methods.
pub const METHOD_OVERRIDE_PARAMETER: &str = "_method";

/// Whether a request body names [`METHOD_OVERRIDE_PARAMETER`] as a field
/// the frameworks read: Rails (Rack) reads it from a form body (a
/// `application/x-www-form-urlencoded` one, or one with no content type)
/// and from any `multipart/*` body; Symfony from the form body before the
/// query; Laravel from a JSON body's top-level key too. `body` is the
/// decoded body; names are compared ignoring ASCII case (stricter than the
/// frameworks). The media type is read as Rack reads it: up to the first
/// `;` or `,`.
///
/// A multipart body is judged by each part's whole header block
/// ([`multipart_head_names_method`]), not by its `Content-Disposition`
/// line: Rack resolves a folded header, a `Content-ID` naming the part and
/// a backslash-escaped quoted name all to the field `_method`.
pub fn body_overrides_method(content_type: Option<&[u8]>, body: &[u8]) -> bool {
    let media = content_type
        .map(|value| {
            let text = String::from_utf8_lossy(value);
            text.split([';', ','])
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if media.is_empty() || media == "application/x-www-form-urlencoded" {
        return body.split(|byte| *byte == b'&').any(|pair| {
            let name = pair.split(|byte| *byte == b'=').next().unwrap_or(b"");
            // `+` is a space, then `%XX` decoded once; read as it is
            // decoded, never copied.
            form_name_is_method(
                name.iter()
                    .map(|byte| if *byte == b'+' { b' ' } else { *byte }),
            )
        });
    }
    if media.starts_with("multipart/") {
        return multipart_names_method(body);
    }
    if media == "application/json" || media.ends_with("+json") {
        // The top-level keys only, every value skipped: building the whole
        // body as a `serde_json::Value` took 32 bytes per number, on a
        // runtime worker and in no budget (audit round 8: a 31 MiB body of
        // `[0,0,…]` took 517 MiB more at its peak). Not JSON, or
        // not an object: no key.
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        return serde::Deserializer::deserialize_any(&mut deserializer, TopLevelKeys)
            .and_then(|found| deserializer.end().map(|()| found))
            .unwrap_or(false);
    }
    false
}

/// Reads a JSON document for a top-level key named `_method` (ASCII case
/// ignored), skipping every value unbuilt; anything but an object has none.
struct TopLevelKeys;

impl<'de> serde::de::Visitor<'de> for TopLevelKeys {
    type Value = bool;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON document")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            found |= key.eq_ignore_ascii_case(METHOD_OVERRIDE_PARAMETER);
            map.next_value::<serde::de::IgnoredAny>()?;
        }
        Ok(found)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(false)
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// Whether any part of a multipart body names `_method` in its header
/// block. Fails closed, without trusting the declared boundary: every line
/// that contains `--` may be a boundary line (Rack 3 wants the boundary at
/// a line's start, Rack 2 strips white space around the first one and
/// finds later ones anywhere, even mid-line), and
/// the header block after it runs to the first `CRLF CRLF` (Rack's end of
/// a part's head), or to the end of the body when there is none. Linear:
/// a boundary-looking line inside a block already read is not read again
/// (its block is part of the one read).
fn multipart_names_method(body: &[u8]) -> bool {
    let mut line_start = 0;
    while line_start < body.len() {
        let rest = body.get(line_start..).unwrap_or_default();
        let line_end = rest
            .iter()
            .position(|byte| *byte == b'\n')
            .map_or(body.len(), |at| line_start + at);
        let line = body.get(line_start..line_end).unwrap_or_default();
        let next_line = line_end.saturating_add(1);
        if !line.windows(2).any(|pair| pair == b"--") {
            line_start = next_line;
            continue;
        }
        // From the boundary line's own line end, so that an empty head
        // (`--XyZ CRLF CRLF`) ends right there.
        let search_from = line_end.saturating_sub(1).max(line_start);
        let head_end = body
            .get(search_from..)
            .unwrap_or_default()
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .map_or(body.len(), |at| search_from + at);
        let head = body.get(next_line..head_end).unwrap_or_default();
        if multipart_head_names_method(head) {
            return true;
        }
        line_start = head_end.max(next_line);
    }
    false
}

/// Whether a multipart part's header block names `_method`: the block with
/// backslashes, quotes, white space and control characters removed (so
/// folded lines are unfolded and quoted-pair escapes undone), `%XX` escapes
/// decoded once, compared ignoring ASCII case, anywhere in the block — a
/// `Content-Disposition` `name` or `filename`, a `Content-ID`, any header.
/// Stricter than any framework: a block that merely mentions `_method`
/// (a filename `_method.txt`) is refused on a route that limits methods.
fn multipart_head_names_method(head: &[u8]) -> bool {
    let kept = head.iter().copied().filter(|byte| {
        !(byte.is_ascii_whitespace()
            || byte.is_ascii_control()
            || matches!(byte, b'\\' | b'"' | b'\''))
    });
    let mut decoded = PercentDecoded(kept);
    let mut found = MethodFinder::default();
    decoded.any(|byte| found.push(byte))
}

/// Whether a form field's name, `+` already read as a space, is `_method`
/// once `%XX` escapes are decoded and ASCII white space trimmed (as
/// `percent_decode` then `trim_ascii` would read it, without the copies).
fn form_name_is_method(name: impl Iterator<Item = u8> + Clone) -> bool {
    let mut decoded = PercentDecoded(name).skip_while(u8::is_ascii_whitespace);
    let target = METHOD_OVERRIDE_PARAMETER.as_bytes();
    target.iter().all(|expected| {
        decoded
            .next()
            .is_some_and(|byte| byte.eq_ignore_ascii_case(expected))
    }) && decoded.all(|byte| byte.is_ascii_whitespace())
}

/// `%XX` escapes decoded once, as `percent_encoding::percent_decode` does:
/// a `%` not followed by two hex digits stays as it is, and what follows it
/// is read on its own.
struct PercentDecoded<I>(I);

impl<I: Iterator<Item = u8> + Clone> Iterator for PercentDecoded<I> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let byte = self.0.next()?;
        if byte != b'%' {
            return Some(byte);
        }
        let mut ahead = self.0.clone();
        let hex = |digit: Option<u8>| digit.and_then(|digit| char::from(digit).to_digit(16));
        match (hex(ahead.next()), hex(ahead.next())) {
            (Some(high), Some(low)) => {
                self.0 = ahead;
                u8::try_from(high * 16 + low).ok()
            }
            _ => Some(byte),
        }
    }
}

/// Finds `_method` (ASCII case ignored) in bytes pushed one at a time. The
/// name's first byte, `_`, occurs nowhere else in it, so after a mismatch
/// a match can only start again at that byte.
#[derive(Default)]
struct MethodFinder {
    matched: usize,
}

impl MethodFinder {
    /// Take the next byte; whether `_method` ends with it.
    fn push(&mut self, byte: u8) -> bool {
        let target = METHOD_OVERRIDE_PARAMETER.as_bytes();
        if target
            .get(self.matched)
            .is_some_and(|expected| byte.eq_ignore_ascii_case(expected))
        {
            self.matched += 1;
        } else {
            self.matched = usize::from(target.first() == Some(&byte));
        }
        self.matched == target.len()
    }
}

/// The compiled `--routes` file.
#[derive(Debug, Clone)]
pub struct RouteTable {
    routes: Vec<CompiledRoute>,
    log: EgressLog,
    detectors: bot_bottle_dlp::DetectorSet,
    source: Egress,
    /// The text this table was parsed from (the reloader's baseline).
    text: Option<String>,
}

impl RouteTable {
    /// Read, parse and compile a routes file.
    pub fn load(path: &Path, tokens: &Tokens) -> Result<Self, RoutesError> {
        let text = std::fs::read_to_string(path).map_err(|source| RoutesError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text, tokens)
    }

    /// Parse and compile routes text (`path` is used in errors only).
    pub fn parse(path: &Path, text: &str, tokens: &Tokens) -> Result<Self, RoutesError> {
        let egress: Option<Egress> =
            serde_saphyr::from_str(text).map_err(|source| RoutesError::Parse {
                path: path.to_path_buf(),
                source: Box::new(source),
            })?;
        let mut table = Self::compile(egress.unwrap_or_default(), tokens)?;
        table.text = Some(text.to_string());
        Ok(table)
    }

    /// The text the table was parsed from, when it came from text.
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    /// Compile an already-parsed `egress:` section.
    pub fn compile(egress: Egress, tokens: &Tokens) -> Result<Self, RoutesError> {
        let routes = egress
            .routes
            .iter()
            .enumerate()
            .map(|(index, route)| compile_route(index, route, tokens))
            .collect::<Result<Vec<_>, _>>()?;
        let detectors = match egress
            .dlp
            .as_ref()
            .and_then(|dlp| dlp.outbound_detectors.as_ref())
        {
            Some(names) if names.is_empty() => {
                return Err(RoutesError::Detectors(
                    "an empty list would switch outbound DLP off; list at least one detector, or leave the field out for the default `[all]`".into(),
                ));
            }
            Some(names) => bot_bottle_dlp::DetectorSet::parse(&names.join(","))
                .map_err(|error| RoutesError::Detectors(error.to_string()))?,
            None => bot_bottle_dlp::DetectorSet::all(),
        };
        Ok(Self {
            routes,
            log: egress.log.unwrap_or(DEFAULT_LOG),
            detectors,
            source: egress,
            text: None,
        })
    }

    /// The outbound DLP detectors (`dlp.outbound_detectors`, default `all`).
    pub fn detectors(&self) -> bot_bottle_dlp::DetectorSet {
        self.detectors
    }

    /// The `egress.log` level in force.
    pub fn log(&self) -> EgressLog {
        self.log
    }

    /// The compiled routes, in file order.
    pub fn routes(&self) -> &[CompiledRoute] {
        &self.routes
    }

    /// The section as loaded (for introspection; holds variable names,
    /// never token values).
    pub fn source(&self) -> &Egress {
        &self.source
    }

    /// Whether any route could match this host and port at all.
    pub fn allows_host(&self, scheme: Scheme, host: &Host, port: u16) -> bool {
        self.routes
            .iter()
            .any(|route| route.matches_host(scheme, host, port))
    }

    /// Decide a request: the first route that matches it, or why none does.
    pub fn decide(&self, target: &RequestTarget<'_>) -> Result<&CompiledRoute, Denial> {
        let path = normalize_path(target.path).map_err(Denial::BadPath)?;
        let host = target.host.to_string();
        let mut first_failure: Option<Denial> = None;
        for route in &self.routes {
            if !route.matches_host(target.scheme, target.host, target.port) {
                continue;
            }
            let failure = if !route.matches_method(target.method) {
                Denial::Method {
                    host: host.clone(),
                    method: target.method.to_string(),
                }
            } else if !route.matches_path(&path) {
                Denial::Path {
                    host: host.clone(),
                    path: target.path.to_string(),
                }
            } else if let Some(missing) = route.missing_header(target.headers) {
                Denial::Header {
                    host: host.clone(),
                    header: missing,
                }
            } else if let Some(header) = (route.methods.is_some() || route.paths.is_some())
                .then(|| {
                    target.headers.keys().find(|name| {
                        OVERRIDE_HEADERS
                            .iter()
                            .any(|header| same_but_underscores(name.as_str(), header))
                    })
                })
                .flatten()
            {
                Denial::OverrideHeader {
                    host: host.clone(),
                    header: header.as_str().to_string(),
                }
            } else {
                return Ok(route);
            };
            first_failure.get_or_insert(failure);
        }
        Err(first_failure.unwrap_or(Denial::NoRouteForHost { host }))
    }
}

/// Whether header name `name` (lower case, as `http` keeps names) is
/// `dashed` with any of its `-` written `_`.
fn same_but_underscores(name: &str, dashed: &str) -> bool {
    name.len() == dashed.len()
        && name
            .bytes()
            .zip(dashed.bytes())
            .all(|(sent, wanted)| sent == wanted || (sent == b'_' && wanted == b'-'))
}

impl CompiledRoute {
    /// Whether the route allows only some methods.
    pub fn limits_methods(&self) -> bool {
        self.methods.is_some()
    }

    fn matches_host(&self, scheme: Scheme, host: &Host, port: u16) -> bool {
        let wanted_port = self.port.unwrap_or(scheme.default_port());
        if port != wanted_port {
            return false;
        }
        match (&self.host, host) {
            (HostPattern::Exact(exact), Host::Name(name)) => exact == name,
            (HostPattern::Wildcard(suffix), Host::Name(name)) => {
                name.len() > suffix.len() && name.ends_with(suffix.as_str())
            }
            (HostPattern::Ip(route_ip), Host::Ip(ip)) => {
                canonical_ip(*route_ip) == canonical_ip(*ip)
            }
            _ => false,
        }
    }

    fn matches_method(&self, method: &Method) -> bool {
        self.methods
            .as_ref()
            .is_none_or(|methods| methods.contains(method))
    }

    fn matches_path(&self, normalized: &str) -> bool {
        let Some(patterns) = &self.paths else {
            return true;
        };
        patterns.iter().any(|pattern| match pattern {
            PathPattern::Prefix(prefix) if prefix.ends_with('/') => normalized.starts_with(prefix),
            PathPattern::Prefix(prefix) => {
                normalized == prefix
                    || normalized
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            }
            PathPattern::Glob(glob) => glob.is_match(normalized),
        })
    }

    /// The first required header the request lacks, if any: a required
    /// header must be present, and with a `value` EVERY instance of it must
    /// match (the upstream may read any one of them, or all joined).
    /// A name spelt with `_` for `-` counts as another instance: Rack and
    /// CGI-style servers read `X_Tenant` as `X-Tenant` (`HTTP_X_TENANT`).
    fn missing_header(&self, headers: &HeaderMap) -> Option<String> {
        self.headers.iter().find_map(|rule| {
            let satisfied = headers.contains_key(&rule.name)
                && headers
                    .iter()
                    .filter(|(name, _)| same_header_name(name, &rule.name))
                    .all(|(_, value)| rule.value.matches(value));
            (!satisfied).then(|| rule.name.to_string())
        })
    }
}

/// Whether two (lower-case) header names are the same once `_` is read
/// as `-` (as CGI-style servers read them).
pub(crate) fn same_header_name(name: &HeaderName, wanted: &HeaderName) -> bool {
    let dash = |byte: &u8| if *byte == b'_' { b'-' } else { *byte };
    name.as_str().len() == wanted.as_str().len()
        && name
            .as_str()
            .bytes()
            .zip(wanted.as_str().bytes())
            .all(|(left, right)| dash(&left) == dash(&right))
}

/// IPv4-mapped IPv6 literals compare equal to their IPv4 form.
fn canonical_ip(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn compile_route(
    index: usize,
    route: &Route,
    tokens: &Tokens,
) -> Result<CompiledRoute, RoutesError> {
    let invalid = |field: &'static str, message: String| RoutesError::Invalid {
        index,
        host: route.host.clone(),
        field,
        message,
    };
    let (host, port) = parse_route_host(&route.host).map_err(|message| invalid("host", message))?;

    let methods = match &route.methods {
        None => None,
        Some(methods) => Some(
            methods
                .iter()
                .map(|method| {
                    Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                        .map_err(|_| invalid("methods", format!("not an HTTP method: {method:?}")))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };

    let paths = match &route.paths {
        None => None,
        Some(paths) => Some(
            paths
                .iter()
                .map(|path| {
                    if !path.starts_with('/') {
                        return Err(invalid(
                            "paths",
                            format!("{path:?} does not start with `/`"),
                        ));
                    }
                    if has_glob_characters(path) {
                        compile_glob(path, true, index, &route.host, "paths").map(PathPattern::Glob)
                    } else {
                        Ok(PathPattern::Prefix(path.clone()))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };

    let headers = route
        .headers
        .iter()
        .flatten()
        .map(|entry| compile_header_rule(index, route, entry))
        .collect::<Result<Vec<_>, _>>()?;

    let credential = match (&route.token_env, &route.auth_scheme, &route.auth_header) {
        (None, None, None) => None,
        (None, _, _) => {
            return Err(invalid(
                "token_env",
                "auth_scheme/auth_header need token_env naming the sidecar variable".into(),
            ));
        }
        (Some(_), None, None) => {
            return Err(invalid(
                "auth_scheme",
                "token_env needs auth_scheme (e.g. Bearer) or auth_header".into(),
            ));
        }
        (Some(token_env), scheme, header) => {
            let header = match header {
                Some(name) => HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| invalid("auth_header", format!("not a header name: {name:?}")))?,
                None => http::header::AUTHORIZATION,
            };
            if let Some(scheme) = scheme
                && (scheme.is_empty() || !scheme.bytes().all(|byte| byte.is_ascii_graphic()))
            {
                return Err(invalid("auth_scheme", format!("not a scheme: {scheme:?}")));
            }
            let value = tokens.get(token_env).and_then(|token| {
                let text = match scheme {
                    Some(scheme) => format!("{scheme} {}", token.expose()),
                    None => token.expose().clone(),
                };
                let mut value = HeaderValue::from_str(&text).ok()?;
                value.set_sensitive(true);
                Some(Redacted::new(value))
            });
            Some(Credential {
                header,
                token_env: token_env.clone(),
                value,
            })
        }
    };

    Ok(CompiledRoute {
        index,
        host,
        port,
        methods,
        paths,
        headers,
        credential,
        on_match: route.outbound_on_match.unwrap_or(DEFAULT_ON_MATCH),
        spec: route.clone(),
    })
}

fn compile_header_rule(
    index: usize,
    route: &Route,
    entry: &HeaderMatch,
) -> Result<HeaderRule, RoutesError> {
    let name = HeaderName::from_bytes(entry.name.as_bytes()).map_err(|_| RoutesError::Invalid {
        index,
        host: route.host.clone(),
        field: "headers",
        message: format!("not a header name: {:?}", entry.name),
    })?;
    let value = match &entry.value {
        None => ValuePattern::Any,
        Some(value) if has_glob_characters(value) => ValuePattern::Glob(ValueGlob::new(
            compile_glob(value, false, index, &route.host, "headers")?,
            value,
        )),
        Some(value) => ValuePattern::Exact(value.clone()),
    };
    Ok(HeaderRule { name, value })
}

/// Compile a route's glob; `literal_separator` keeps `*` inside one path
/// segment (paths) or lets it span anything (header values, where
/// [`ValueGlob`] then keeps wildcards off commas).
fn compile_glob(
    pattern: &str,
    literal_separator: bool,
    index: usize,
    host: &str,
    field: &'static str,
) -> Result<GlobMatcher, RoutesError> {
    route_glob(pattern, literal_separator)
        .map(|glob| glob.compile_matcher())
        .map_err(|source| RoutesError::Glob {
            index,
            host: host.to_string(),
            field,
            pattern: pattern.to_string(),
            source,
        })
}

/// Split a route's `host` into a pattern and an optional port.
fn parse_route_host(text: &str) -> Result<(HostPattern, Option<u16>), String> {
    let (host_part, port) = split_host_port(text)?;
    if let Some(suffix) = host_part.strip_prefix("*.") {
        return match Host::parse(suffix) {
            Ok(Host::Name(name)) => Ok((HostPattern::Wildcard(format!(".{name}")), port)),
            Ok(Host::Ip(_)) => Err("a wildcard cannot cover an IP address".into()),
            Err(error) => Err(format!("{text:?}: {error}")),
        };
    }
    if host_part.contains('*') {
        return Err(format!(
            "{text:?}: `*` is only allowed as a whole first label (`*.example.com`)"
        ));
    }
    match Host::parse(host_part) {
        Ok(Host::Name(name)) => Ok((HostPattern::Exact(name), port)),
        Ok(Host::Ip(address)) => Ok((HostPattern::Ip(address), port)),
        Err(error) => Err(format!("{text:?}: {error}")),
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address.
fn split_host_port(text: &str) -> Result<(&str, Option<u16>), String> {
    let parse_port = |port: &str| {
        port.parse::<u16>()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(|| format!("{text:?}: bad port {port:?}"))
    };
    if text.starts_with('[') {
        let close = text
            .find(']')
            .ok_or_else(|| format!("{text:?}: unclosed `[`"))?;
        let (host, rest) = text.split_at(close + 1);
        return match rest.strip_prefix(':') {
            Some(port) => Ok((host, Some(parse_port(port)?))),
            None if rest.is_empty() => Ok((host, None)),
            None => Err(format!("{text:?}: junk after `]`")),
        };
    }
    if text.matches(':').count() > 1 {
        return Ok((text, None));
    }
    match text.split_once(':') {
        Some((host, port)) => Ok((host, Some(parse_port(port)?))),
        None => Ok((text, None)),
    }
}

/// What the introspection endpoint shows for one route.
#[derive(Debug, Serialize)]
pub struct RouteView<'a> {
    pub index: usize,
    #[serde(flatten)]
    pub route: &'a Route,
    pub outbound_on_match_in_force: OnMatch,
    /// Whether the named token is present in the sidecar (never its value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_present: Option<bool>,
}

/// What the introspection endpoint shows.
#[derive(Debug, Serialize)]
pub struct TableView<'a> {
    pub log: EgressLog,
    pub routes: Vec<RouteView<'a>>,
}

impl RouteTable {
    /// The view served by the introspection endpoint.
    pub fn view(&self) -> TableView<'_> {
        TableView {
            log: self.log,
            routes: self
                .routes
                .iter()
                .map(|route| RouteView {
                    index: route.index,
                    route: &route.spec,
                    outbound_on_match_in_force: route.on_match,
                    token_present: route
                        .credential
                        .as_ref()
                        .map(|credential| credential.value.is_some()),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    /// The form and multipart readings now decode as they go, without a
    /// copy; they must read every input as the copying versions did
    /// (`percent_decode` of a filtered or `+`-spaced copy, then a search or
    /// a trimmed comparison). Every string of up to five pieces from a set
    /// of awkward ones (escapes cut short, escapes of `_`, `%` itself,
    /// white space, quotes, `+`) is compared.
    #[test]
    fn the_copy_free_readings_agree_with_the_copying_ones() {
        let copying_head = |head: &[u8]| {
            let kept: Vec<u8> = head
                .iter()
                .copied()
                .filter(|byte| {
                    !(byte.is_ascii_whitespace()
                        || byte.is_ascii_control()
                        || matches!(byte, b'\\' | b'"' | b'\''))
                })
                .collect();
            let decoded: Vec<u8> = percent_encoding::percent_decode(&kept).collect();
            decoded
                .windows(super::METHOD_OVERRIDE_PARAMETER.len())
                .any(|window| window.eq_ignore_ascii_case(b"_method"))
        };
        let copying_name = |name: &[u8]| {
            let spaced: Vec<u8> = name
                .iter()
                .map(|byte| if *byte == b'+' { b' ' } else { *byte })
                .collect();
            let decoded: Vec<u8> = percent_encoding::percent_decode(&spaced).collect();
            decoded.trim_ascii().eq_ignore_ascii_case(b"_method")
        };
        let pieces: [&[u8]; 16] = [
            b"_", b"me", b"thod", b"_meth", b"%5F", b"%5f%6D", b"%", b"%2", b"%25", b"+", b" ",
            b"\"", b"\r\n\t", b"ETHOD", b"%6", b"_method",
        ];
        let mut input = Vec::new();
        let mut compared = 0;
        for length in 0..=5u32 {
            for mut index in 0..pieces.len().pow(length) {
                input.clear();
                for _ in 0..length {
                    input.extend_from_slice(pieces[index % pieces.len()]);
                    index /= pieces.len();
                }
                let spaced = input
                    .iter()
                    .map(|byte| if *byte == b'+' { b' ' } else { *byte });
                assert_eq!(
                    super::multipart_head_names_method(&input),
                    copying_head(&input),
                    "{}",
                    String::from_utf8_lossy(&input)
                );
                assert_eq!(
                    super::form_name_is_method(spaced),
                    copying_name(&input),
                    "{}",
                    String::from_utf8_lossy(&input)
                );
                compared += 1;
            }
        }
        assert!(compared > 1_000_000);
    }

    #[test]
    fn a_method_override_field_is_found_in_form_multipart_and_json_bodies() {
        use super::body_overrides_method as overrides;
        let form = Some(&b"application/x-www-form-urlencoded; charset=utf-8"[..]);
        for body in [
            &b"_method=DELETE"[..],
            b"a=1&_method=PUT",
            b"a=1&%5Fmethod=PUT",
            b"a=1&_METHOD=PUT",
            b"a=1&+_method+=PUT",
            b"_method",
        ] {
            assert!(overrides(form, body), "{}", String::from_utf8_lossy(body));
            assert!(overrides(None, body), "{}", String::from_utf8_lossy(body));
        }
        for body in [&b"a=_method"[..], b"x_method=1", b"", b"&&&"] {
            assert!(!overrides(form, body), "{}", String::from_utf8_lossy(body));
        }
        let multipart = Some(&b"multipart/form-data; boundary=XyZ"[..]);
        let part = |disposition: &str| {
            format!("--XyZ\r\n{disposition}\r\n\r\nDELETE\r\n--XyZ--\r\n").into_bytes()
        };
        for disposition in [
            "Content-Disposition: form-data; name=\"_method\"",
            "content-disposition: form-data; name=_method",
            "Content-Disposition: form-data; filename=\"a\"; name=\"_METHOD\"",
        ] {
            assert!(overrides(multipart, &part(disposition)), "{disposition}");
        }
        // Audit finding: Rack reads each part's whole header block, so a
        // folded header, a `Content-ID` naming the part and a backslash
        // inside the quoted name all make the field `_method`; the
        // line-by-line `Content-Disposition` check missed them. A
        // `filename` of `_method` (or a `name=` inside another parameter's
        // quotes) is refused too: anywhere in the block counts.
        for head in [
            "Content-Disposition: form-data;\r\n name=\"_method\"",
            "Content-Disposition: form-data;\r\n\tname=_method",
            "Content-Disposition:\r\n form-data; name=\"_me\r\n thod\"",
            "Content-ID: _method",
            "Content-ID: <_method>",
            "Content-Disposition: form-data; name=\"_met\\hod\"",
            "Content-Disposition: form-data; name=\"\\_\\m\\e\\t\\h\\o\\d\"",
            "Content-Disposition: form-data; filename=\"a;name=_method\"",
            "Content-Disposition: form-data; name=\"f\"; filename=\"_method\"",
            "Content-Disposition: form-data; name=\"%5Fmethod\"",
            "Content-Disposition: form-data; name*=UTF-8''%5fmethod",
            "Content-Disposition: form-data; name=\"_method[]\"",
            "X-Other: 1\r\nContent-Disposition: form-data; name='_method'",
        ] {
            assert!(overrides(multipart, &part(head)), "{head}");
        }
        // The boundary line with leading white space (Rack 2 strips it),
        // a header block never closed by a blank line, an LF-only body.
        for body in [
            &b"  --XyZ\r\nContent-ID: _method\r\n\r\nDELETE\r\n--XyZ--\r\n"[..],
            b"--XyZ\r\nContent-ID: _method\r\n",
            b"--XyZ\nContent-Disposition: form-data; name=\"_method\"\n\nDELETE\n--XyZ--\n",
            // Rack 2 finds a boundary mid-line.
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx--XyZ\r\nContent-ID: _method\r\n\r\nDELETE\r\n--XyZ--\r\n",
            b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--XyZ--\r\n",
        ] {
            assert!(
                overrides(multipart, body),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // Rack parses every `multipart/*` body (`multipart/mixed`,
        // `multipart/related`) and reads the media type up to a `;` or a
        // `,`.
        let plain = part("Content-Disposition: form-data; name=\"_method\"");
        for content_type in [
            &b"multipart/mixed; boundary=XyZ"[..],
            b"multipart/related; boundary=XyZ",
            b"Multipart/Form-Data; boundary=XyZ",
            b"multipart/form-data, boundary=XyZ",
            b"multipart/form-data",
        ] {
            assert!(
                overrides(Some(content_type), &plain),
                "{}",
                String::from_utf8_lossy(content_type)
            );
        }
        assert!(overrides(
            Some(b"application/x-www-form-urlencoded, text/plain"),
            b"_method=DELETE"
        ));
        for disposition in [
            "Content-Disposition: form-data; name=\"method\"",
            "Content-Disposition: form-data; name=\"f\"; filename=\"method.txt\"",
        ] {
            assert!(!overrides(multipart, &part(disposition)), "{disposition}");
        }
        // A part whose body (after the blank line) merely mentions
        // `_method` passes.
        assert!(!overrides(
            multipart,
            b"--XyZ\r\nContent-Disposition: form-data; name=\"code\"\r\n\r\nself._method = 1\r\n_method: x\r\n--XyZ--\r\n"
        ));
        let json = Some(&b"application/json"[..]);
        assert!(overrides(json, br#"{"_method": "DELETE", "a": 1}"#));
        assert!(overrides(
            Some(b"application/vnd.api+json"),
            br#"{"_Method": "PUT"}"#
        ));
        assert!(!overrides(json, br#"{"text": "self._method = x"}"#));
        assert!(!overrides(json, br#"[{"_method": "PUT"}]"#));
        assert!(!overrides(json, b"not json"));
        assert!(!overrides(Some(b"text/plain"), b"_method=DELETE"));
    }

    use super::*;

    fn table(yaml: &str) -> RouteTable {
        let mut tokens = Tokens::new();
        tokens.insert(
            "EGRESS_TOKEN_GH".into(),
            Redacted::new("ghp_realtoken".into()),
        );
        RouteTable::parse(Path::new("routes.yaml"), yaml, &tokens).unwrap()
    }

    fn check(
        table: &RouteTable,
        scheme: Scheme,
        host: &str,
        port: u16,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<usize, Denial> {
        let host = Host::parse(host).map_err(|_| Denial::NoRouteForHost { host: host.into() })?;
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        table
            .decide(&RequestTarget {
                scheme,
                host: &host,
                port,
                method: &method,
                path,
                headers: &map,
            })
            .map(|route| route.index)
    }

    const ROUTES: &str = r#"
routes:
  - host: api.allowed.com
    methods: [get, POST]
    paths: ["/v1", "/repos/*/issues", "/files/**"]
  - host: "*.wild.com"
  - host: headers.com
    headers:
      - name: X-Api-Version
        value: "2023-*"
      - name: X-Present
  - host: "api.allowed.com:8443"
  - host: 10.0.0.5
  - host: "[fd00::1]:8443"
  - host: github.com
    auth_scheme: Bearer
    token_env: EGRESS_TOKEN_GH
"#;

    #[test]
    fn route_table_decisions() {
        let table = table(ROUTES);
        use Scheme::{Http, Https};
        let allowed: &[(Scheme, &str, u16, &str, &str, usize)] = &[
            (Https, "api.allowed.com", 443, "GET", "/v1", 0),
            (Https, "API.Allowed.COM", 443, "GET", "/v1/messages", 0),
            (Https, "api.allowed.com.", 443, "POST", "/v1/x", 0),
            (Https, "api.allowed.com", 443, "GET", "/repos/abc/issues", 0),
            (Https, "api.allowed.com", 443, "GET", "/files/a/b/c", 0),
            (Https, "api.allowed.com", 443, "GET", "/v1/%41bc", 0),
            (Https, "a.wild.com", 443, "DELETE", "/anything", 1),
            (Https, "a.b.wild.com", 443, "GET", "/", 1),
            (Http, "a.wild.com", 80, "GET", "/", 1),
            (Https, "api.allowed.com", 8443, "PATCH", "/anything", 3),
            (Https, "10.0.0.5", 443, "GET", "/", 4),
            (Https, "[fd00::1]", 8443, "GET", "/", 5),
        ];
        for (scheme, host, port, method, path, index) in allowed {
            assert_eq!(
                check(&table, *scheme, host, *port, method, path, &[]),
                Ok(*index),
                "{host}:{port} {method} {path}"
            );
        }
    }

    /// On a route that limits methods or paths, a header asking the
    /// upstream for another method or path is refused; on a route that
    /// limits neither it changes nothing and passes.
    #[test]
    fn method_and_path_override_headers_are_refused_where_they_matter() {
        let table = table(ROUTES);
        // Each as listed, with every `-` an `_`, and with only the first.
        let spellings = OVERRIDE_HEADERS.iter().flat_map(|header| {
            [
                (*header).to_string(),
                header.replace('-', "_"),
                header.replacen('-', "_", 1),
            ]
        });
        for header in spellings {
            let denial = check(
                &table,
                Scheme::Https,
                "api.allowed.com",
                443,
                "GET",
                "/v1",
                &[(&header, "DELETE")],
            );
            assert_eq!(
                denial,
                Err(Denial::OverrideHeader {
                    host: "api.allowed.com".into(),
                    header: header.clone()
                }),
                "{header}"
            );
        }
        // A name that only resembles one passes.
        assert!(
            check(
                &table,
                Scheme::Https,
                "api.allowed.com",
                443,
                "GET",
                "/v1",
                &[("x-http-method-overrides", "DELETE"), ("x_http", "1")],
            )
            .is_ok()
        );
        assert_eq!(
            check(
                &table,
                Scheme::Https,
                "a.wild.com",
                443,
                "GET",
                "/",
                &[("x-http-method-override", "DELETE")]
            ),
            Ok(1)
        );
    }

    #[test]
    fn route_table_denials_and_bypass_attempts() {
        let table = table(ROUTES);
        use Scheme::Https;
        let denied: &[(&str, u16, &str, &str, &str)] = &[
            (
                "evil.com",
                443,
                "GET",
                "/v1",
                "no route allows host evil.com",
            ),
            // suffix and prefix tricks
            (
                "api.allowed.com.evil.com",
                443,
                "GET",
                "/v1",
                "no route allows host api.allowed.com.evil.com",
            ),
            (
                "evilapi.allowed.com",
                443,
                "GET",
                "/v1",
                "no route allows host evilapi.allowed.com",
            ),
            (
                "allowed.com",
                443,
                "GET",
                "/v1",
                "no route allows host allowed.com",
            ),
            // a wildcard does not cover its apex or look-alikes
            ("wild.com", 443, "GET", "/", "no route allows host wild.com"),
            (
                "evilwild.com",
                443,
                "GET",
                "/",
                "no route allows host evilwild.com",
            ),
            (
                "a.wild.com.evil.com",
                443,
                "GET",
                "/",
                "no route allows host a.wild.com.evil.com",
            ),
            // ports
            (
                "api.allowed.com",
                444,
                "GET",
                "/v1",
                "no route allows host api.allowed.com",
            ),
            (
                "a.wild.com",
                8080,
                "GET",
                "/",
                "no route allows host a.wild.com",
            ),
            ("10.0.0.6", 443, "GET", "/", "no route allows host 10.0.0.6"),
            // method, path
            (
                "api.allowed.com",
                443,
                "DELETE",
                "/v1",
                "no route for api.allowed.com allows method DELETE",
            ),
            (
                "api.allowed.com",
                443,
                "GET",
                "/v1beta",
                "no route for api.allowed.com allows path /v1beta",
            ),
            (
                "api.allowed.com",
                443,
                "GET",
                "/secret",
                "no route for api.allowed.com allows path /secret",
            ),
            (
                "api.allowed.com",
                443,
                "GET",
                "//v1",
                "no route for api.allowed.com allows path //v1",
            ),
            (
                "api.allowed.com",
                443,
                "GET",
                "/repos/a/b/issues",
                "no route for api.allowed.com allows path /repos/a/b/issues",
            ),
            // traversal in every spelling
            (
                "api.allowed.com",
                443,
                "GET",
                "/v1/../secret",
                "path refused: the path has a `.` or `..` segment",
            ),
            // what servers that trim trailing dots and spaces read as `..`
            (
                "api.allowed.com",
                443,
                "GET",
                "/v1/..%20/secret",
                "path refused: the path has a `.` or `..` segment",
            ),
            (
                "api.allowed.com",
                443,
                "GET",
                "/v1/.../secret",
                "path refused: the path has a `.` or `..` segment",
            ),
            // look-alikes an NFKC-normalising upstream reads as `..` or `/`
            (
                "api.allowed.com",
                443,
                "GET",
                "/v1/%EF%BC%8E%EF%BC%8E/secret",
                "path refused: the path has a `.` or `..` segment",
            ),
            (
                "api.allowed.com",
                443,
                "GET",
                "/v1/%E2%80%A5/secret",
                "path refused: the path has a `.` or `..` segment",
            ),
            (
                "api.allowed.com",
                443,
                "GET",
                "/v1/.%E2%80%8B./secret",
                "path refused: the path has a `.` or `..` segment",
            ),
            (
                "api.allowed.com",
                443,
                "GET",
                "/v1/a%EF%BC%8Fb",
                "path refused: the path has an encoded `/` or `\\`, a backslash or a NUL",
            ),
            // IIS's %u escape, and an overlong UTF-8 `.`
            (
                "api.allowed.com",
                443,
                "GET",
                "/v1/%u002e%u002e/secret",
                "path refused: the path has a `%` that is not followed by two hex digits (such as IIS's `%u002e`)",
            ),
            (
                "api.allowed.com",
                443,
                "GET",
                "/v1/%C0%AE%C0%AE/secret",
                "path refused: the path decodes to bytes that are not UTF-8 (an overlong encoding such as `%C0%AE`?)",
            ),
            (
                "api.allowed.com",
                443,
                "GET",
                "/v1/%2e%2e/secret",
                "path refused: the path has a `.` or `..` segment",
            ),
            (
                "api.allowed.com",
                443,
                "GET",
                "/v1/%2E%2e/secret",
                "path refused: the path has a `.` or `..` segment",
            ),
            (
                "api.allowed.com",
                443,
                "GET",
                "/v1/.%2e/secret",
                "path refused: the path has a `.` or `..` segment",
            ),
            (
                "api.allowed.com",
                443,
                "GET",
                "/v1/..;/secret",
                "path refused: the path has a `.` or `..` segment",
            ),
            (
                "api.allowed.com",
                443,
                "GET",
                "/v1/./x",
                "path refused: the path has a `.` or `..` segment",
            ),
            (
                "api.allowed.com",
                443,
                "GET",
                "/v1%2f..%2fsecret",
                "path refused: the path has an encoded `/` or `\\`, a backslash or a NUL",
            ),
            (
                "api.allowed.com",
                443,
                "GET",
                "/v1/..%5csecret",
                "path refused: the path has an encoded `/` or `\\`, a backslash or a NUL",
            ),
            (
                "api.allowed.com",
                443,
                "GET",
                "/v1\\..\\secret",
                "path refused: the path has an encoded `/` or `\\`, a backslash or a NUL",
            ),
            (
                "api.allowed.com",
                443,
                "GET",
                "/v1/%252e%252e/secret",
                "path refused: the path is percent-encoded twice",
            ),
            (
                "api.allowed.com",
                443,
                "GET",
                "v1",
                "path refused: the path does not start with `/`",
            ),
            // headers
            (
                "headers.com",
                443,
                "GET",
                "/",
                "no route for headers.com matches the request's headers (needs x-api-version)",
            ),
        ];
        for (host, port, method, path, message) in denied {
            let denial = check(&table, Https, host, *port, method, path, &[]).unwrap_err();
            assert_eq!(
                denial.to_string(),
                *message,
                "{host}:{port} {method} {path}"
            );
        }
    }

    #[test]
    fn header_entries_need_every_header_and_match_values() {
        let table = table(ROUTES);
        let https = Scheme::Https;
        assert_eq!(
            check(
                &table,
                https,
                "headers.com",
                443,
                "GET",
                "/",
                &[("x-api-version", "2023-06-01"), ("x-present", "")]
            ),
            Ok(2)
        );
        assert!(
            check(
                &table,
                https,
                "headers.com",
                443,
                "GET",
                "/",
                &[("x-api-version", "2024-01-01"), ("x-present", "1")]
            )
            .is_err()
        );
        let missing = check(
            &table,
            https,
            "headers.com",
            443,
            "GET",
            "/",
            &[("x-api-version", "2023-06-01")],
        );
        assert_eq!(
            missing.unwrap_err().to_string(),
            "no route for headers.com matches the request's headers (needs x-present)"
        );
    }

    /// Audit finding: a constrained header was satisfied by ONE of its
    /// instances (`X-Tenant: acme` plus `X-Tenant: evil` passed a route
    /// scoped to `acme`; the upstream reads the last or the joined value),
    /// and a glob's `*` spanned the commas of a joined list
    /// (`2022-*` matched `2022-11-28, 2099-01-01`). Every instance must now
    /// match, and a glob's wildcards never match a comma.
    #[test]
    fn a_scoping_header_must_match_in_every_instance_and_globs_stop_at_commas() {
        let table = table(
            r#"
routes:
  - host: tenant.com
    headers:
      - name: X-Tenant
        value: acme
  - host: version.com
    headers:
      - name: X-Api-Version
        value: "2022-*"
  - host: list.com
    headers:
      - name: X-List
        value: "a, b"
  - host: listglob.com
    headers:
      - name: X-List
        value: "v*, w*"
  - host: braces.com
    headers:
      - name: X-B
        value: "{a*,b}"
  - host: present.com
    headers:
      - name: X-Present
"#,
        );
        let decide = |host: &str, headers: &[(&str, &str)]| {
            check(&table, Scheme::Https, host, 443, "GET", "/", headers)
        };
        type Headers<'a> = &'a [(&'a str, &'a str)];
        let allowed: &[(&str, Headers, usize)] = &[
            ("tenant.com", &[("x-tenant", "acme")], 0),
            (
                "tenant.com",
                &[("x-tenant", "acme"), ("X-Tenant", "acme")],
                0,
            ),
            ("version.com", &[("x-api-version", "2022-11-28")], 1),
            (
                "version.com",
                &[
                    ("x-api-version", "2022-11-28"),
                    ("x-api-version", "2022-01-01"),
                ],
                1,
            ),
            // A literal pattern with a comma matches exactly that value.
            ("list.com", &[("x-list", "a, b")], 2),
            // A glob with a comma: one value piece per glob piece.
            ("listglob.com", &[("x-list", "v1, w2")], 3),
            ("braces.com", &[("x-b", "a1")], 4),
            ("braces.com", &[("x-b", "b")], 4),
            ("present.com", &[("x-present", "1"), ("x-present", "2")], 5),
            (
                "tenant.com",
                &[("x-tenant", "acme"), ("x_tenant", "acme")],
                0,
            ),
        ];
        for (host, headers, index) in allowed {
            assert_eq!(decide(host, headers), Ok(*index), "{host} {headers:?}");
        }
        let denied: &[(&str, Headers)] = &[
            ("tenant.com", &[("x-tenant", "acme"), ("x-tenant", "evil")]),
            ("tenant.com", &[("x-tenant", "evil"), ("x-tenant", "acme")]),
            ("tenant.com", &[("x-tenant", "acme"), ("x-tenant", "")]),
            ("tenant.com", &[("x-tenant", "acme, evil")]),
            ("tenant.com", &[]),
            (
                "version.com",
                &[("x-api-version", "2022-11-28, 2099-01-01")],
            ),
            ("version.com", &[("x-api-version", "2022-11-28,2099-01-01")]),
            ("version.com", &[("x-api-version", "2022-,")]),
            (
                "version.com",
                &[
                    ("x-api-version", "2022-11-28"),
                    ("x-api-version", "2099-01-01"),
                ],
            ),
            ("list.com", &[("x-list", "a"), ("x-list", " b")]),
            ("list.com", &[("x-list", "a, b, c")]),
            ("list.com", &[("x-list", "a, b"), ("x-list", "c")]),
            ("listglob.com", &[("x-list", "v1, x, w2")]),
            ("listglob.com", &[("x-list", "v1, w2, x")]),
            ("listglob.com", &[("x-list", "v1")]),
            ("braces.com", &[("x-b", "a1, evil")]),
            ("braces.com", &[("x-b", "a,b")]),
            // `X_Tenant` is `X-Tenant` to Rack: another instance.
            ("tenant.com", &[("x-tenant", "acme"), ("x_tenant", "evil")]),
            ("tenant.com", &[("x_tenant", "acme")]),
        ];
        for (host, headers) in denied {
            let denial = decide(host, headers);
            assert!(
                matches!(denial, Err(Denial::Header { .. })),
                "{host} {headers:?}: {denial:?}"
            );
        }
    }

    #[test]
    fn request_hosts_are_normalised_or_refused() {
        assert_eq!(
            Host::parse("Example.COM."),
            Ok(Host::Name("example.com".into()))
        );
        assert_eq!(Host::parse("user@example.com"), Err(HostError::UserInfo));
        assert_eq!(Host::parse("example..com"), Err(HostError::Malformed));
        assert_eq!(Host::parse("exa mple.com"), Err(HostError::Malformed));
        assert_eq!(Host::parse("2130706433"), Err(HostError::NumericName));
        assert_eq!(Host::parse("127.1"), Err(HostError::NumericName));
        assert_eq!(Host::parse("0x7f.0x1"), Err(HostError::NumericName));
        assert_eq!(Host::parse("[::1]"), Ok(Host::Ip("::1".parse().unwrap())));
        assert_eq!(Host::parse(""), Err(HostError::Empty));
    }

    #[test]
    fn credentials_are_compiled_with_the_token_and_never_printed() {
        let table = table(ROUTES);
        let credential = table.routes()[6].credential.as_ref().unwrap();
        assert_eq!(credential.header, http::header::AUTHORIZATION);
        let value = credential.value.as_ref().unwrap();
        assert_eq!(value.expose(), "Bearer ghp_realtoken");
        assert!(!format!("{:?}", table).contains("ghp_realtoken"));
        let view = serde_json::to_string(&table.view()).unwrap();
        assert!(!view.contains("ghp_realtoken"));
        assert!(view.contains("EGRESS_TOKEN_GH"));
        assert!(view.contains(r#""token_present":true"#));
    }

    #[test]
    fn a_missing_token_is_compiled_as_unavailable() {
        let table = RouteTable::parse(
            Path::new("r.yaml"),
            "routes:\n  - host: github.com\n    auth_scheme: token\n    token_env: EGRESS_TOKEN_ABSENT\n",
            &Tokens::new(),
        )
        .unwrap();
        assert!(
            table.routes()[0]
                .credential
                .as_ref()
                .unwrap()
                .value
                .is_none()
        );
    }

    #[test]
    fn invalid_routes_name_the_route_and_field() {
        let cases: &[(&str, &str)] = &[
            (
                "routes:\n  - host: 'ex*ample.com'\n",
                "routes[0] (host \"ex*ample.com\"): host:",
            ),
            (
                "routes:\n  - host: 'a.com:99999'\n",
                "routes[0] (host \"a.com:99999\"): host: \"a.com:99999\": bad port",
            ),
            (
                "routes:\n  - host: a.com\n    methods: ['G ET']\n",
                "routes[0] (host \"a.com\"): methods: not an HTTP method",
            ),
            (
                "routes:\n  - host: a.com\n    paths: ['v1']\n",
                "routes[0] (host \"a.com\"): paths: \"v1\" does not start with `/`",
            ),
            (
                "routes:\n  - host: a.com\n    token_env: EGRESS_TOKEN_X\n",
                "routes[0] (host \"a.com\"): auth_scheme: token_env needs",
            ),
            (
                "routes:\n  - host: a.com\n    auth_scheme: Bearer\n",
                "routes[0] (host \"a.com\"): token_env:",
            ),
            (
                "routes:\n  - host: '*.10.0.0.1'\n",
                "routes[0] (host \"*.10.0.0.1\"): host:",
            ),
        ];
        for (yaml, expected) in cases {
            let error = RouteTable::parse(Path::new("r.yaml"), yaml, &Tokens::new()).unwrap_err();
            assert!(
                error.to_string().starts_with(expected),
                "{yaml}: got {error}"
            );
        }
        let error = RouteTable::parse(
            Path::new("r.yaml"),
            "routes:\n  - hots: a.com\n",
            &Tokens::new(),
        )
        .unwrap_err();
        assert!(matches!(error, RoutesError::Parse { .. }), "{error}");
    }

    #[test]
    fn an_empty_file_denies_everything() {
        let table = RouteTable::parse(Path::new("r.yaml"), "", &Tokens::new()).unwrap();
        assert!(table.routes().is_empty());
        assert_eq!(table.log(), DEFAULT_LOG);
    }
}
