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
//!                       end\n
//! gate → reply FIFO:    m <text>\n …   (printed by the agent's git as `remote: <text>`)
//!                       v accept\n | v refuse\n
//! ```
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
if [ -z "$dir" ] || [ ! -p "$dir/request" ] || [ ! -p "$dir/reply" ]; then
    echo "git-gate: pushes to this mirror go through the gate only" >&2
    exit 1
fi
exec 3<"$dir/reply"
{
    printf 'quarantine %s\n' "${GIT_QUARANTINE_PATH:-}"
    while IFS= read -r update; do printf '%s\n' "$update"; done
    printf 'end\n'
} >"$dir/request"
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

/// Parse the hook's request text (without the final `end` line).
pub fn parse_request(text: &str) -> Result<PushRequest, String> {
    let mut lines = text.lines();
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
        if !is_oid(old) || !is_oid(new) || reference.is_empty() {
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

/// The gate's end of one push's hook conversation.
pub struct HookSession {
    dir: tempfile::TempDir,
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
        Ok(Self {
            dir,
            request,
            reply,
        })
    }

    /// The variable to pass to http-backend.
    pub fn env(&self) -> (String, String) {
        (
            HOOK_ENV.to_string(),
            self.dir.path().to_string_lossy().into_owned(),
        )
    }

    /// Wait for the hook's request.
    pub async fn read_request(&mut self) -> Result<PushRequest, String> {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(text) = complete_request(&buffer) {
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

/// The request text once the `end` line has arrived (`None`: not yet), or
/// why it is unusable.
fn complete_request(buffer: &[u8]) -> Option<Result<String, String>> {
    let body = buffer.strip_suffix(b"end\n")?;
    if !(body.is_empty() || body.ends_with(b"\n")) {
        return None;
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
        ] {
            assert!(parse_request(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn the_end_line_completes_a_request() {
        assert_eq!(
            complete_request(b"quarantine /q\nend\n"),
            Some(Ok("quarantine /q\n".to_string()))
        );
        assert_eq!(complete_request(b"quarantine /q\nen"), None);
        assert_eq!(complete_request(b"quarantine /qend\n"), None);
        // A ref name git allows but that is not UTF-8 ends the wait with an
        // error, not a hang.
        assert!(matches!(
            complete_request(b"quarantine /q\na b refs/heads/\xff\nend\n"),
            Some(Err(_))
        ));
    }
}
