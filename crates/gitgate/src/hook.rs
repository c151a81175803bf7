//! The pre-receive hook and its conversation with the gate.
//!
//! The checks (push policy, secret scan, the operator's approval, forwarding
//! upstream) run inside the gate process, which holds the scanner, the
//! queue and the credentials. The hook git runs is a small POSIX `sh`
//! script ([`HOOK_SCRIPT`]) that only relays: for each push the gate makes a
//! private session directory (mode 0700) with two FIFOs and names it in
//! `BOT_BOTTLE_GIT_GATE_HOOK` in http-backend's environment, which git
//! passes down to the hook.
//!
//! ```text
//! hook → request FIFO:  quarantine <GIT_QUARANTINE_PATH>\n
//!                       <old> <new> <ref>\n …   (git's pre-receive stdin)
//!                       <token> end\n   (or <token> bad\n: the hook refused a line)
//! gate → reply FIFO:    m <text>\n …   (printed by the agent's git as `remote: <text>`)
//!                       v accept\n | v refuse\n
//! ```
//!
//! The ref names in git's input are the agent's: receive-pack checks them
//! only after this hook, so one can hold a newline and forge lines of its
//! own. So the framing cannot be forged and nothing loose gets through:
//! the request ends with a per-session random `<token>` (in
//! [`HOOK_TOKEN_ENV`], which only git's environment carries, never the
//! agent's data); the hook passes on only strictly formed update lines
//! (`<hex id> <hex id> refs/…`, no control characters) and for anything
//! else ends with `bad` and exits non-zero, refusing the push; and the gate
//! refuses a request with a malformed line, a token anywhere but in the
//! final line, or anything after it.
//!
//! The gate opens both FIFOs read-write (Linux semantics), so neither side's
//! `open` blocks and buffered data survives until the hook has read it; the
//! hook opens the reply FIFO before writing its request. When the gate
//! closes the reply the hook reads EOF and exits 0 only if it saw
//! `v accept`; if the gate goes away mid-push the hook exits 1 and git
//! refuses every ref. The hook refuses any push that does not come through
//! a gate session (no variable, or no FIFOs there).

use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;

use crate::error::{GateError, Result, state_error};
use crate::git::{is_null_oid, is_oid};

/// The variable naming the session directory.
pub const HOOK_ENV: &str = "BOT_BOTTLE_GIT_GATE_HOOK";
/// The variable holding the session's request terminator token.
pub const HOOK_TOKEN_ENV: &str = "BOT_BOTTLE_GIT_GATE_HOOK_TOKEN";
/// The most bytes of ref updates accepted from one hook run.
pub const MAX_HOOK_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// The longest single message line sent to the agent.
pub const MAX_MESSAGE_LINE_CHARS: usize = 1000;

/// The pre-receive hook installed in every mirror.
pub const HOOK_SCRIPT: &str = r#"#!/bin/sh
# pre-receive hook installed by the bot-bottle git gate. It hands the ref
# updates to the gate and relays the gate's answer: the gate decides.
# A push that does not come through a gate session is refused.
dir="${BOT_BOTTLE_GIT_GATE_HOOK:-}"
token="${BOT_BOTTLE_GIT_GATE_HOOK_TOKEN:-}"
if [ -z "$dir" ] || [ -z "$token" ] || [ ! -p "$dir/request" ] || [ ! -p "$dir/reply" ]; then
    echo "git-gate: pushes to this mirror go through the gate only" >&2
    exit 1
fi
# Only `<id> <id> refs/...` lines (40 or 64 lowercase hex digits, no
# control characters) are passed on: a ref name is the agent's and can
# hold a newline that would forge lines of its own.
x='[0-9a-f]'
h8="$x$x$x$x$x$x$x$x"
h40="$h8$h8$h8$h8$h8"
h64="$h8$h8$h8$h8$h8$h8$h8$h8"
exec 3<"$dir/reply"
status=0
{
    printf 'quarantine %s\n' "${GIT_QUARANTINE_PATH:-}"
    while IFS= read -r update || [ -n "$update" ]; do
        case "$update" in
            *[[:cntrl:]]*) status=1; break ;;
            $h40" "$h40" refs/"?*|$h64" "$h64" refs/"?*) printf '%s\n' "$update" ;;
            *) status=1; break ;;
        esac
        update=
    done
    if [ "$status" = 0 ]; then printf '%s end\n' "$token"; else printf '%s bad\n' "$token"; fi
} >"$dir/request"
if [ "$status" != 0 ]; then
    echo "git-gate: push refused: a ref update is malformed (a ref name with a control character?)" >&2
    exit 1
fi
status=1
while IFS= read -r line <&3; do
    case "$line" in
        "m "*) printf '%s\n' "${line#m }" >&2 ;;
        "v accept") status=0 ;;
    esac
done
exit $status
"#;

/// One ref update from git's pre-receive input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    pub old: String,
    pub new: String,
    pub reference: String,
}

impl RefUpdate {
    pub fn is_create(&self) -> bool {
        is_null_oid(&self.old)
    }
    pub fn is_delete(&self) -> bool {
        is_null_oid(&self.new)
    }
}

/// What the hook sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRequest {
    /// Where the push's new objects wait (absent for a delete-only push).
    pub quarantine: Option<PathBuf>,
    pub updates: Vec<RefUpdate>,
}

/// Parse the hook's request text (without the final token line): every
/// line must be strictly formed (see the module's description).
pub fn parse_request(text: &str) -> Result<PushRequest, String> {
    // Split at `\n` only (`str::lines` would also drop a `\r`).
    let mut lines = text.strip_suffix('\n').unwrap_or(text).split('\n');
    if text.is_empty() {
        return Err("empty request".to_string());
    }
    if let Some(line) = text
        .split('\n')
        .find(|line| line.chars().any(char::is_control))
    {
        return Err(format!(
            "a request line holds a control character: {line:?}"
        ));
    }
    let quarantine = match lines.next() {
        Some(line) => match line.strip_prefix("quarantine ") {
            Some("") => None,
            Some(path) => Some(PathBuf::from(path)),
            None if line == "quarantine" => None,
            None => return Err(format!("expected the quarantine line, got {line:?}")),
        },
        None => return Err("empty request".to_string()),
    };
    let mut updates = Vec::new();
    for line in lines {
        let mut fields = line.splitn(3, ' ');
        let (Some(old), Some(new), Some(reference)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(format!("malformed ref update {line:?}"));
        };
        if !is_lower_oid(old)
            || !is_lower_oid(new)
            || old.len() != new.len()
            || !reference.starts_with("refs/")
            || reference.len() == "refs/".len()
        {
            return Err(format!("malformed ref update {line:?}"));
        }
        updates.push(RefUpdate {
            old: old.to_string(),
            new: new.to_string(),
            reference: reference.to_string(),
        });
    }
    Ok(PushRequest {
        quarantine,
        updates,
    })
}

/// A full object id as git writes it: 40 or 64 lowercase hex digits.
fn is_lower_oid(oid: &str) -> bool {
    is_oid(oid) && !oid.bytes().any(|byte| byte.is_ascii_uppercase())
}

/// The gate's end of one push's hook conversation.
pub struct HookSession {
    dir: tempfile::TempDir,
    /// Ends the hook's request; random per session (see the module's
    /// description).
    token: String,
    request: pipe::Receiver,
    reply: pipe::Sender,
}

impl HookSession {
    /// Make the session directory and FIFOs under `parent`.
    pub fn create(parent: &Path) -> Result<Self> {
        std::fs::create_dir_all(parent).map_err(state_error(parent))?;
        let dir = tempfile::Builder::new()
            .prefix("push-")
            .tempdir_in(parent)
            .map_err(state_error(parent))?;
        let mut open = pipe::OpenOptions::new();
        open.read_write(true);
        let make = |name: &str| -> Result<PathBuf> {
            let path = dir.path().join(name);
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &path,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
                0,
            )
            .map_err(|error| GateError::State {
                path: path.clone(),
                source: error.into(),
            })?;
            Ok(path)
        };
        let request_path = make("request")?;
        let reply_path = make("reply")?;
        let request = open
            .open_receiver(&request_path)
            .map_err(state_error(&request_path))?;
        let reply = open
            .open_sender(&reply_path)
            .map_err(state_error(&reply_path))?;
        let token = random_token().map_err(state_error(Path::new("/dev/urandom")))?;
        Ok(Self {
            dir,
            token,
            request,
            reply,
        })
    }

    /// The variables to pass to http-backend (git passes them to the hook).
    pub fn env(&self) -> [(String, String); 2] {
        [
            (
                HOOK_ENV.to_string(),
                self.dir.path().to_string_lossy().into_owned(),
            ),
            (HOOK_TOKEN_ENV.to_string(), self.token.clone()),
        ]
    }

    /// Wait for the hook's request.
    pub async fn read_request(&mut self) -> Result<PushRequest, String> {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(text) = complete_request(&buffer, &self.token) {
                // The hook writes nothing after its final line.
                let mut more = [0u8; 1];
                if let Ok(read) = self.request.try_read(&mut more)
                    && read > 0
                {
                    return Err("the hook sent more after the request's end".to_string());
                }
                return text.and_then(|text| parse_request(&text));
            }
            if buffer.len() > MAX_HOOK_REQUEST_BYTES {
                return Err(format!(
                    "ref updates longer than {MAX_HOOK_REQUEST_BYTES} bytes"
                ));
            }
            match self.request.read(&mut chunk).await {
                Ok(0) => return Err("the hook went away".to_string()),
                Ok(read) => buffer.extend_from_slice(&chunk[..read]),
                Err(error) => return Err(format!("reading the hook: {error}")),
            }
        }
    }

    /// Send a message the agent's git prints as `remote: …`.
    pub async fn say(&mut self, text: &str) {
        for line in text.lines() {
            let clean: String = line
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(MAX_MESSAGE_LINE_CHARS)
                .collect();
            let _ = self
                .reply
                .write_all(format!("m {clean}\n").as_bytes())
                .await;
        }
    }

    /// Send the verdict and close the conversation.
    pub async fn finish(mut self, accept: bool) {
        let verdict: &[u8] = if accept { b"v accept\n" } else { b"v refuse\n" };
        let _ = self.reply.write_all(verdict).await;
        let _ = self.reply.flush().await;
    }
}

/// 128 random bits, in hex.
fn random_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// The request text once the final `<token> end` line has arrived
/// (`None`: not yet), or why it is unusable: the hook refused a line
/// (`<token> bad`), the token is anywhere but at the start of the last
/// line, or anything follows that line.
fn complete_request(buffer: &[u8], token: &str) -> Option<Result<String, String>> {
    let at = memchr::memmem::find(buffer, token.as_bytes())?;
    let (body, last) = buffer.split_at(at);
    let end = format!("{token} end\n");
    let bad = format!("{token} bad\n");
    if last.len() < end.len()
        && (end.as_bytes().starts_with(last) || bad.as_bytes().starts_with(last))
    {
        return None;
    }
    if last == bad.as_bytes() {
        return Some(Err("the hook refused a malformed ref update".to_string()));
    }
    if last != end.as_bytes() {
        return Some(Err(
            "the request's end is malformed or followed by more".to_string()
        ));
    }
    if !body.ends_with(b"\n") {
        return Some(Err(
            "the request's end is not on a line of its own".to_string()
        ));
    }
    Some(String::from_utf8(body.to_vec()).map_err(|_| "a ref name is not UTF-8".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const Z: &str = "0000000000000000000000000000000000000000";

    #[test]
    fn requests_parse() {
        let request = parse_request(&format!(
            "quarantine /m/objects/incoming-x\n{A} {B} refs/heads/main\n{Z} {A} refs/tags/v1\n"
        ))
        .unwrap();
        assert_eq!(
            request.quarantine.as_deref(),
            Some(Path::new("/m/objects/incoming-x"))
        );
        assert_eq!(request.updates.len(), 2);
        assert!(request.updates[1].is_create());
        let delete = parse_request(&format!("quarantine \n{A} {Z} refs/heads/x\n")).unwrap();
        assert_eq!(delete.quarantine, None);
        assert!(delete.updates[0].is_delete());
    }

    #[test]
    fn malformed_requests_are_errors() {
        for text in [
            "",
            "nope\n",
            "quarantine /q\nabc def refs/heads/x\n",
            &format!("quarantine /q\n{A} {B}\n"),
            &format!("quarantine /q\n{A} {B} refs/heads/x\r\n"),
            &format!("quarantine /q\n{A} {B} refs/heads/x\tend\n"),
            &format!("quarantine /q\n{A} {B} heads/x\n"),
            &format!("quarantine /q\n{A} {B} refs/\n"),
            &format!(
                "quarantine /q\n{A} {} refs/heads/x\n",
                "ABCDEF0123".repeat(4)
            ),
            &format!("quarantine /q\n{A} {B}{B} refs/heads/x\n"),
            &format!("quarantine /q\n{A} {B} refs/heads/x\n\n"),
            &format!("quarantine /q\x1b\n{A} {B} refs/heads/x\n"),
        ] {
            assert!(parse_request(text).is_err(), "{text:?}");
        }
    }

    const T: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn the_token_line_completes_a_request() {
        let complete = |text: &[u8]| complete_request(text, T);
        assert_eq!(
            complete(format!("quarantine /q\n{T} end\n").as_bytes()),
            Some(Ok("quarantine /q\n".to_string()))
        );
        assert_eq!(complete(b"quarantine /q\nend\n"), None);
        assert_eq!(complete(format!("quarantine /q\n{T} en").as_bytes()), None);
        assert_eq!(
            complete(format!("quarantine /q\n{}", &T[..5]).as_bytes()),
            None
        );
        for text in [
            format!("quarantine /q{T} end\n"),
            format!("quarantine /q\n{T} bad\n"),
            format!("quarantine /q\n{T} end\nmore\n"),
            format!("quarantine /q\n{T} end\n{T} end\n"),
            format!("quarantine /q\n{T} nope\n"),
        ] {
            assert!(
                matches!(complete(text.as_bytes()), Some(Err(_))),
                "{text:?}"
            );
        }
        // A ref name git allows but that is not UTF-8 ends the wait with an
        // error, not a hang.
        let mut text = b"quarantine /q\na b refs/heads/\xff\n".to_vec();
        text.extend_from_slice(format!("{T} end\n").as_bytes());
        assert!(matches!(complete(&text), Some(Err(_))));
    }
}
