//! Every error case of one bottle file: a table (one case, one expected
//! message with its path and line) and a snapshot of the full messages.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

use std::path::PathBuf;

use bot_bottle_manifest::{Source, parse_manifest};

fn diagnostics(text: &str) -> Vec<String> {
    parse_manifest(Source::File(PathBuf::from("dev.yaml")), text)
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// (what, YAML, the one expected message)
const CASES: &[(&str, &str, &str)] = &[
    (
        "outbound_on_match outside its set",
        "egress:\n  routes:\n    - host: a.example\n      outbound_on_match: allow\n",
        "dev.yaml:4: egress.routes[0].outbound_on_match: unknown value `allow`, expected one of `redact`, `block` or `supervise`",
    ),
    (
        "unknown top-level field with a hint",
        "supervize: true\n",
        "dev.yaml:1: supervize: unknown field `supervize`; did you mean `supervise`?",
    ),
    (
        "unknown route field with a hint",
        "egress:\n  routes:\n    - host: a.example\n    - host: b.example\n    - host: c.example\n      outbound_on_matc: block\n",
        "dev.yaml:6: egress.routes[2].outbound_on_matc: unknown field `outbound_on_matc`; did you mean `outbound_on_match`?",
    ),
    (
        "unknown push field with a hint",
        "git-gate:\n  repos:\n    - name: app\n      upstream: https://f.example/app.git\n      push: {forse: true}\n",
        "dev.yaml:5: git-gate.repos[0].push.forse: unknown field `forse`; did you mean `force`?",
    ),
    (
        "unknown field without a close name",
        "egress: {colour: red}\n",
        "dev.yaml:1: egress.colour: unknown field `colour`; known fields: `log`, `routes` or `dlp`",
    ),
    (
        "host with a scheme",
        "egress: {routes: [{host: 'https://a.example'}]}\n",
        "dev.yaml:1: egress.routes[0].host: a host has no scheme: write `example.com`, not `https://example.com`",
    ),
    (
        "host with a path",
        "egress: {routes: [{host: a.example/v1}]}\n",
        "dev.yaml:1: egress.routes[0].host: a host has no path: put paths under `paths:`",
    ),
    (
        "host with a named port",
        "egress: {routes: [{host: 'a.example:https'}]}\n",
        "dev.yaml:1: egress.routes[0].host: `https` is not a port (a port is `:` and digits, e.g. `:8443`)",
    ),
    (
        "host with a wildcard in the middle",
        "egress: {routes: [{host: 'a.*.example'}]}\n",
        "dev.yaml:1: egress.routes[0].host: a wildcard is only allowed as a leading `*.`",
    ),
    (
        "host with an empty label",
        "egress: {routes: [{host: a..example}]}\n",
        "dev.yaml:1: egress.routes[0].host: a host has no empty labels (no leading, trailing or doubled `.`)",
    ),
    (
        "token_env holding a token",
        "egress:\n  routes:\n    - host: api.github.com\n      token_env: ghp_abcdEFGH1234ijklMNOP5678qrstUVWX90ab\n      auth_scheme: Bearer\n",
        "dev.yaml:4: egress.routes[0].token_env: this looks like a token value (40 characters), not the name of a variable; `token_env` names the sidecar variable that holds the token (e.g. `EGRESS_TOKEN_GITHUB`); remove the value from this file and rotate it",
    ),
    (
        "token_env that is not a variable name",
        "git-gate: {repos: [{name: app, upstream: 'https://f.example/app.git', token_env: egress-token}]}\n",
        "dev.yaml:1: git-gate.repos[0].token_env: `egress-token` is not a variable name (upper-case letters, digits and `_`, e.g. `EGRESS_TOKEN_GITHUB`)",
    ),
    (
        "env value that looks like a credential",
        "env:\n  HOME_DIR: /home/agent\n  API_KEY: 'Zx8Qm2Lp9Rt4Vw7Yb3Nc6Hd1Kf5Gj0S'\n",
        "dev.yaml:3: env.API_KEY: the value (31 characters) looks like a credential; env is visible to the agent and must never hold a secret; give the token to the egress sidecar instead: an `egress.routes[].token_env` names the variable that holds it, and the sidecar injects it into matching requests",
    ),
    (
        "env key that is not a variable name",
        "env:\n  MY-VAR: x\n",
        "dev.yaml:2: env.MY-VAR: `MY-VAR` is not a variable name (letters, digits and `_`, not starting with a digit)",
    ),
    (
        "duplicate repository names",
        "git-gate:\n  repos:\n    - {name: app, upstream: 'https://f.example/a.git'}\n    - {name: app, upstream: 'https://f.example/b.git'}\n",
        "dev.yaml:4: git-gate.repos[1].name: repository `app` is listed twice in this file; merge the two entries into one",
    ),
    (
        "lower-case method",
        "egress: {routes: [{host: a.example, methods: [GET, post]}]}\n",
        "dev.yaml:1: egress.routes[0].methods[1]: write methods in upper case: `POST`",
    ),
    (
        "unknown method",
        "egress: {routes: [{host: a.example, methods: [FETCH]}]}\n",
        "dev.yaml:1: egress.routes[0].methods[0]: `FETCH` is not an HTTP method (one of `GET`, `HEAD`, `POST`, `PUT`, `DELETE`, `PATCH`, `OPTIONS`, `CONNECT` or `TRACE`)",
    ),
    (
        "path without a leading slash",
        "egress: {routes: [{host: a.example, paths: [v1/chat]}]}\n",
        "dev.yaml:1: egress.routes[0].paths[0]: `v1/chat` must start with `/`",
    ),
    (
        "unsafe repository name",
        "git-gate: {repos: [{name: '../escape', upstream: 'https://f.example/a.git'}]}\n",
        "dev.yaml:1: git-gate.repos[0].name: `../escape` is not a valid repository name: use only letters, digits, `.`, `_` and `-`",
    ),
    (
        "repository named ..",
        "git-gate: {repos: [{name: '..', upstream: 'https://f.example/a.git'}]}\n",
        "dev.yaml:1: git-gate.repos[0].name: `..` is not a valid repository name: it must not start with `.` or `-`",
    ),
    (
        "newline in the git user name",
        "git-gate:\n  user:\n    name: \"Agent\\n[core]\\n\\tsshCommand = evil\"\n",
        "dev.yaml:3: git-gate.user.name: must not contain newlines or control characters (it is written into a git config)",
    ),
    (
        "newline in an upstream",
        "git-gate:\n  repos:\n    - name: app\n      upstream: \"https://f.example/a.git\\n[url]\"\n",
        "dev.yaml:4: git-gate.repos[0].upstream: must not contain newlines or control characters (it is written into a git config)",
    ),
    (
        "wrong type for a boolean",
        "supervise: yes\n",
        "dev.yaml:1: supervise: invalid type: string \"yes\", expected `true` or `false`",
    ),
    (
        "extends that is neither a name nor a list",
        "extends: {name: base}\n",
        "dev.yaml:1: extends: expected a bottle name or a list of bottle names",
    ),
    (
        "invalid parent name",
        "extends: [base, 'a/b']\n",
        "dev.yaml:1: extends[1]: `a/b` is not a valid bottle name: it must not contain a path separator",
    ),
    (
        "env as a list",
        "env: [A, B]\n",
        "dev.yaml:1: env: invalid type: sequence, expected a mapping",
    ),
    (
        "route without a host",
        "egress:\n  routes:\n    - methods: [GET]\n",
        "dev.yaml:3: egress.routes[0]: missing field `host`",
    ),
    (
        "image and dockerfile together",
        "image: agent:1\ndockerfile: Dockerfile\n",
        "dev.yaml:2: dockerfile: `image` and `dockerfile` are both set; set one: `image` names a prebuilt image, `dockerfile` builds one",
    ),
    (
        "token_env and deploy_key together",
        "git-gate: {repos: [{name: app, upstream: 'ssh://git@f.example/a.git', token_env: EGRESS_TOKEN_F, deploy_key: /keys/app}]}\n",
        "dev.yaml:1: git-gate.repos[0].deploy_key: `token_env` and `deploy_key` are both set; a repository uses one credential: an HTTPS token or an SSH deploy key",
    ),
    (
        "auth_scheme without token_env",
        "egress: {routes: [{host: a.example, auth_scheme: Bearer}]}\n",
        "dev.yaml:1: egress.routes[0].auth_scheme: `auth_scheme` has no effect without `token_env`; add `token_env: EGRESS_TOKEN_…` naming the variable the sidecar holds the token in",
    ),
    (
        "token_env without auth_scheme or auth_header",
        "egress: {routes: [{host: a.example, token_env: EGRESS_TOKEN_A}]}\n",
        "dev.yaml:1: egress.routes[0].auth_scheme: `token_env` needs `auth_scheme` or `auth_header` to say how the token is sent; add `auth_scheme: Bearer` (sends `Authorization: Bearer <token>`) or `auth_header: x-api-key` (sends the token alone in that header)",
    ),
    (
        "a host whose last label is a number",
        "egress: {routes: [{host: api.9}]}\n",
        "dev.yaml:1: egress.routes[0].host: `api.9`: a name whose last label is a number reads as an IPv4 address; write a name, or the address itself (e.g. `10.0.0.5`)",
    ),
    (
        "a path glob egress cannot build",
        "egress: {routes: [{host: a.example, paths: ['/files/[abc']}]}\n",
        "dev.yaml:1: egress.routes[0].paths[0]: `/files/[abc` is not a valid glob: unclosed character class; missing ']'; in a glob `*` matches within a segment, `**` across segments, `?` one character, `[abc]` one of a set, `{a,b}` either; close every `[` and `{`",
    ),
    (
        "a header-value glob egress cannot build",
        "egress: {routes: [{host: a.example, headers: [{name: x-v, value: 'v[b-a]'}]}]}\n",
        "dev.yaml:1: egress.routes[0].headers[0].value: `v[b-a]` is not a valid glob: invalid range; 'b' > 'a'; in a glob `*` matches within a segment, `**` across segments, `?` one character, `[abc]` one of a set, `{a,b}` either; close every `[` and `{`",
    ),
    (
        "a git-gate upstream through a remote helper",
        "git-gate: {repos: [{name: app, upstream: 'ext::sh -c evil'}]}\n",
        "dev.yaml:1: git-gate.repos[0].upstream: must not contain whitespace",
    ),
    (
        "a git-gate upstream with a scheme the gate refuses",
        "git-gate: {repos: [{name: app, upstream: 'ftp://f.example/a.git'}]}\n",
        "dev.yaml:1: git-gate.repos[0].upstream: `ftp://f.example/a.git` uses scheme `ftp`; allowed: https, http, ssh, git, file",
    ),
    (
        "a git-gate repo name ending in .git",
        "git-gate: {repos: [{name: app.git, upstream: 'https://f.example/a.git'}]}\n",
        "dev.yaml:1: git-gate.repos[0].name: `app.git` is not a valid repository name: leave out `.git` (the gate adds it)",
    ),
    (
        "a token for an ssh upstream",
        "git-gate: {repos: [{name: app, upstream: 'git@f.example:o/a.git', token_env: EGRESS_TOKEN_F}]}\n",
        "dev.yaml:1: git-gate.repos[0].token_env: a token is sent over HTTPS: `token_env` needs an https:// upstream",
    ),
    (
        "a deploy key for an https upstream",
        "git-gate: {repos: [{name: app, upstream: 'https://f.example/a.git', deploy_key: /keys/app}]}\n",
        "dev.yaml:1: git-gate.repos[0].deploy_key: a deploy key is used over SSH: `deploy_key` needs an ssh://… or user@host:path upstream",
    ),
    (
        "a push ref pattern the gate cannot build",
        "git-gate: {repos: [{name: app, upstream: 'https://f.example/a.git', push: {refs: ['refs/heads/[agent']}}]}\n",
        "dev.yaml:1: git-gate.repos[0].push.refs[0]: `refs/heads/[agent` is not a valid pattern: unclosed character class; missing ']'; in a glob `*` matches within a segment, `**` across segments, `?` one character, `[abc]` one of a set, `{a,b}` either; close every `[` and `{`",
    ),
    (
        "unknown detector",
        "egress: {dlp: {outbound_detectors: [known, magic]}}\n",
        "dev.yaml:1: egress.dlp.outbound_detectors[1]: unknown detector `magic`, expected one of `all`, `known`, `patterns`, `unicode`, `crlf` or `entropy`",
    ),
    (
        "empty detector list",
        "egress: {dlp: {outbound_detectors: []}}\n",
        "dev.yaml:1: egress.dlp.outbound_detectors: an empty list would switch outbound DLP off; list at least one detector, or leave the field out for the default `[all]`",
    ),
    (
        "push ref that is not a ref",
        "git-gate: {repos: [{name: app, upstream: 'https://f.example/a.git', push: {refs: [main]}}]}\n",
        "dev.yaml:1: git-gate.repos[0].push.refs[0]: `main` is not a ref pattern; write full ref names, e.g. `refs/heads/agent/*`",
    ),
];

#[test]
fn each_error_case_gives_its_message_with_path_and_line() {
    for (what, text, expected) in CASES {
        assert_eq!(diagnostics(text), vec![expected.to_string()], "{what}");
    }
}

#[test]
fn yaml_syntax_errors_name_the_line() {
    let found = diagnostics("env:\n  A: x\n  B: [unclosed\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("dev.yaml:"), "{found:?}");
    assert!(found[0].contains("not valid YAML"), "{found:?}");
    insta::assert_snapshot!(found.join("\n"));
}

#[test]
fn a_second_yaml_document_is_refused() {
    let found = diagnostics("supervise: true\n---\nsupervise: false\n");
    assert_eq!(found.len(), 1, "{found:?}");
    insta::assert_snapshot!(found.join("\n"));
}

#[test]
fn duplicate_keys_are_refused() {
    let found = diagnostics("supervise: true\nsupervise: false\n");
    assert_eq!(found.len(), 1, "{found:?}");
    insta::assert_snapshot!(found.join("\n"));
}

#[test]
fn a_file_with_many_problems_lists_every_one_in_line_order() {
    let text = "\
extends: [base, ../x]
supervize: true
env:
  TOKEN: 'Zx8Qm2Lp9Rt4Vw7Yb3Nc6Hd1Kf5Gj0S'
egress:
  log: verbose
  routes:
    - host: API.example.com
      methods: [get]
    - host: ok.example
      outbound_on_matc: block
      token_env: sk-proj-abc123def456ghi789jkl012
git-gate:
  repos:
    - {name: app, upstream: 'https://f.example/a.git'}
    - {name: app, upstream: 'https://f.example/b.git'}
";
    insta::assert_snapshot!(diagnostics(text).join("\n"));
}

#[test]
fn ordinary_env_values_are_accepted() {
    let text = "\
env:
  PATH_EXTRA: /usr/local/bin:/usr/bin:/bin
  GOPROXY: https://proxy.golang.org,direct
  LANG: en_US.UTF-8
  NODE_OPTIONS: --max-old-space-size=4096
  PORT: 8080
  DEBUG: true
  lower_case_ok: x
";
    assert_eq!(diagnostics(text), Vec::<String>::new());
}

#[test]
fn valid_hosts_are_accepted() {
    let text = "\
egress:
  routes:
    - host: api.example.com
    - host: '*.example.com'
    - host: registry.example.com:8443
    - host: 10.0.0.1
    - host: 10.0.0.1:3128
";
    assert_eq!(diagnostics(text), Vec::<String>::new());
}
