//! Fuzz every parser of the git gate that reads untrusted or semi-trusted
//! bytes, and check what each one promises, not only that it does not
//! panic. The first input byte picks the parser; the rest is its input:
//!
//! 0. CGI header blocks from `git http-backend`: the end found is a blank
//!    line inside the buffer; a parsed status is a real HTTP status.
//! 1. The pre-receive hook's request: every accepted update has two object
//!    ids and a one-line, non-empty ref name.
//! 2. The git:// request line: extra parameters (`GIT_PROTOCOL`) keep to
//!    their safe alphabet.
//! 3. The `git log --raw` stream: split in pieces of any size it gives the
//!    commits splitting at once gives; quoted paths unquote.
//! 4. The agent's git config rendered from arbitrary names, upstreams and
//!    identities: either refused, or every line is one the renderer means
//!    to write and every value reads back as given (no injected key).
//! 5. A whole `--config` YAML file, then rendered as in 4.
//! 6. A push request's command section: walking it in pieces decides when
//!    a whole parse does; a complete one ends inside the input and keeps
//!    no `shallow` line.
//!
//! Run: `cargo +nightly fuzz run --fuzz-dir crates/gitgate/fuzz parsers`
//! (from the workspace root; new inputs go to `crates/gitgate/fuzz/corpus`,
//! which git ignores).

#![no_main]

use std::path::Path;

use bot_bottle_gitgate::config::{CredentialSource, RepoEntry};
use bot_bottle_gitgate::policy::PushRules;
use bot_bottle_gitgate::scan::{LogSplitter, split_log, unquote_path};
use bot_bottle_gitgate::push_request::{self, Parsed};
use bot_bottle_gitgate::{GateFile, User, cgi, daemon, gitconfig, hook};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    match selector % 7 {
        0 => cgi_head(input),
        1 => hook_request(input),
        2 => daemon_request(input),
        3 => log_stream(input),
        4 => gitconfig_fields(input),
        5 => config_file(input),
        _ => push_request(input),
    }
});

fn cgi_head(input: &[u8]) {
    if let Some(end) = cgi::header_end(input) {
        assert!(end <= input.len());
        let head = &input[..end];
        assert!(head.ends_with(b"\n\n") || head.ends_with(b"\n\r\n"), "{head:?}");
    }
    if let Ok(head) = cgi::parse_head(input) {
        assert!((100..=999).contains(&head.status.as_u16()));
        for (_, value) in &head.headers {
            assert!(!value.as_bytes().contains(&b'\n') && !value.as_bytes().contains(&b'\r'));
        }
    }
}

fn hook_request(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    if let Ok(request) = hook::parse_request(&text) {
        for update in &request.updates {
            for id in [&update.old, &update.new] {
                assert!(id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{id:?}");
            }
            assert!(!update.reference.is_empty());
            assert!(!update.reference.contains('\n'), "{:?}", update.reference);
        }
    }
}

fn daemon_request(input: &[u8]) {
    if let Ok(request) = daemon::parse_request(input) {
        if let Some(protocol) = &request.protocol {
            assert!(
                protocol
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"=._-:".contains(&b)),
                "{protocol:?}"
            );
        }
        assert!(!request.service.contains('\0'));
    }
}

fn log_stream(input: &[u8]) {
    let whole: Vec<String> = split_log(input).into_iter().map(|chunk| chunk.commit).collect();
    for piece in [1, 2, 7, 64, input.len().max(1)] {
        assert_eq!(
            LogSplitter::split_in_pieces(input, piece),
            whole,
            "pieces of {piece}"
        );
    }
    let _ = unquote_path(&String::from_utf8_lossy(input));
}

/// Five fields separated by 0x01: gate URL, repo name, upstream, user
/// name, user email (an empty identity field is left out).
fn gitconfig_fields(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let mut fields = text.split('\u{1}');
    let gate = fields.next().unwrap_or_default().to_string();
    let name = fields.next().unwrap_or_default().to_string();
    let upstream = fields.next().unwrap_or_default().to_string();
    let some = |field: Option<&str>| field.filter(|value| !value.is_empty()).map(str::to_string);
    let user = User {
        name: some(fields.next()),
        email: some(fields.next()),
    };
    let Ok(push) = PushRules::from_policy("fuzz", None) else {
        return;
    };
    let file = GateFile {
        user,
        repos: vec![RepoEntry {
            name,
            upstream,
            credential: CredentialSource::None,
            push,
        }],
    };
    check_render(&file, &gate);
}

fn config_file(input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    if let Ok(file) = GateFile::parse(Path::new("fuzz.yaml"), text) {
        check_render(&file, "http://git-gate:8080");
    }
}

/// A rendered config is exactly the lines the renderer means to write,
/// and each value reads back as the one given.
fn check_render(file: &GateFile, gate: &str) {
    let Ok(rendered) = gitconfig::render(file, gate) else {
        return;
    };
    let mut lines = rendered.lines();
    for repo in &file.repos {
        let section = lines.next().expect("a url section per repo");
        let alias = section
            .strip_prefix("[url ")
            .and_then(|rest| rest.strip_suffix(']'))
            .expect("a url section");
        assert_eq!(unquote(alias), gitconfig::gate_url(gate, &repo.name));
        let alias_inner = &alias[1..alias.len() - 1];
        assert!(!alias_inner.contains(['"', '\\']), "{alias:?}");
        let instead = lines
            .next()
            .and_then(|line| line.strip_prefix("\tinsteadOf = "))
            .expect("an insteadOf line");
        assert_eq!(unquote(instead), repo.upstream);
    }
    if file.user.name.is_some() || file.user.email.is_some() {
        assert_eq!(lines.next(), Some("[user]"));
        if let Some(name) = &file.user.name {
            let value = lines.next().and_then(|line| line.strip_prefix("\tname = "));
            assert_eq!(unquote(value.expect("a name line")), *name);
        }
        if let Some(email) = &file.user.email {
            let value = lines.next().and_then(|line| line.strip_prefix("\temail = "));
            assert_eq!(unquote(value.expect("an email line")), *email);
        }
    }
    assert_eq!(lines.next(), None, "an extra line in {rendered:?}");
    assert!(
        !rendered.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
        "{rendered:?}"
    );
}

/// Read a double-quoted git config value back (`\"` and `\\` escapes).
fn unquote(quoted: &str) -> String {
    let inner = quoted
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("not quoted: {quoted:?}"));
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(chars.next().expect("an escape is complete"));
        } else {
            assert!(c != '"', "an unescaped quote in {quoted:?}");
            out.push(c);
        }
    }
    out
}

fn push_request(input: &[u8]) {
    let whole = push_request::parse(input);
    let mut walked = 0;
    let mut decided = false;
    // The body arriving 7 bytes at a time.
    for end in (1..=input.len().div_ceil(7)).map(|pieces| (pieces * 7).min(input.len())) {
        if push_request::walk(&input[..end], &mut walked) {
            decided = true;
            assert_ne!(push_request::parse(&input[..end]), Parsed::Incomplete);
            break;
        }
    }
    assert_eq!(decided, whole != Parsed::Incomplete, "{whole:?}");
    if let Parsed::Complete { section, end, kept } = whole {
        assert!(end <= input.len());
        assert!(kept.len() <= end);
        assert!(section.shallow.is_empty() || kept.len() < end);
    }
}
