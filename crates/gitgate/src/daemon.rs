//! The git daemon protocol (`git://ADDR/<name>.git`), fetch only, as the
//! seed had it.
//!
//! The first pkt-line names the service, the path and the host, and may
//! carry extra parameters (`version=2`):
//! `git-upload-pack /app.git\0host=gate\0\0version=2\0`. Only
//! `git-upload-pack` is served — a push over git:// could not carry the
//! operator's approval, so it is refused with an `ERR` line naming smart
//! HTTP instead. The mirror is refreshed as for an HTTP advertisement, then
//! `git upload-pack --strict` serves the connection, bounded by
//! [`crate::Timeouts::http_backend`] overall and by git's own inactivity
//! `--timeout`.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

/// Time allowed for the client's request line.
pub const DAEMON_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest pkt-line (git's own limit).
pub const MAX_PKT_LINE_BYTES: usize = 65520;

/// The first request of a git:// connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonRequest {
    pub service: String,
    /// The repo name (path without `/` and `.git`).
    pub repo: String,
    /// Extra parameters joined with `:` (the `GIT_PROTOCOL` value).
    pub protocol: Option<String>,
}

/// Parse the payload of the first pkt-line.
pub fn parse_request(payload: &[u8]) -> Result<DaemonRequest, String> {
    let text = std::str::from_utf8(payload).map_err(|_| "the request is not UTF-8".to_string())?;
    let mut parts = text.split('\0');
    let command = parts.next().unwrap_or("").trim_end_matches('\n');
    let (service, path) = command
        .split_once(' ')
        .ok_or_else(|| format!("malformed request {command:?}"))?;
    let repo = path.strip_prefix('/').unwrap_or(path).trim_end_matches('/');
    let repo = repo.strip_suffix(".git").unwrap_or(repo).to_string();
    // host=…, then an empty field, then extra parameters.
    let mut extra = Vec::new();
    let mut after_empty = false;
    for part in parts {
        if part.is_empty() {
            after_empty = true;
            continue;
        }
        if after_empty {
            if !part
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || b"=._-".contains(&byte))
            {
                return Err(format!("malformed extra parameter {part:?}"));
            }
            extra.push(part.to_string());
        }
    }
    Ok(DaemonRequest {
        service: service.to_string(),
        repo,
        protocol: (!extra.is_empty()).then(|| extra.join(":")),
    })
}

/// Read one pkt-line's payload.
pub async fn read_pkt_line(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut length = [0u8; 4];
    stream
        .read_exact(&mut length)
        .await
        .map_err(|error| format!("reading the request: {error}"))?;
    let length = std::str::from_utf8(&length)
        .ok()
        .and_then(|text| usize::from_str_radix(text, 16).ok())
        .ok_or("the request does not start with a pkt-line length")?;
    if !(5..=MAX_PKT_LINE_BYTES).contains(&length) {
        return Err(format!("pkt-line length {length} out of range"));
    }
    let mut payload = vec![0u8; length - 4];
    stream
        .read_exact(&mut payload)
        .await
        .map_err(|error| format!("reading the request: {error}"))?;
    Ok(payload)
}

/// Write an `ERR` pkt-line (git prints it as `fatal: remote error: …`).
pub async fn send_error(stream: &mut TcpStream, message: &str) {
    let payload = format!("ERR git-gate: {message}\n");
    let line = format!("{:04x}{payload}", payload.len() + 4);
    let _ = stream.write_all(line.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Serve an upload-pack for `mirror` on `stream`, bounded by `timeout`.
pub async fn serve_upload_pack(
    mut stream: TcpStream,
    mirror: &std::path::Path,
    protocol: Option<&str>,
    timeout: Duration,
) {
    let mut command = Command::new("git");
    command
        .args(["upload-pack", "--strict"])
        .arg(format!("--timeout={}", timeout.as_secs().max(1)))
        .arg(mirror)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(protocol) = protocol {
        command.env("GIT_PROTOCOL", protocol);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            tracing::error!(error = %error, "cannot start git upload-pack");
            send_error(&mut stream, "internal error").await;
            return;
        }
    };
    let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return;
    };
    let (mut reader, mut writer) = stream.split();
    let work = async {
        // The answer ending ends the connection (the client may keep its
        // half open), so the upload side never finishes the select.
        let upload = async {
            let _ = tokio::io::copy(&mut reader, &mut stdin).await;
            // Dropping (not shutting down) the pipe is what gives
            // upload-pack its EOF.
            drop(stdin);
            std::future::pending::<()>().await;
        };
        let download = async {
            let _ = tokio::io::copy(&mut stdout, &mut writer).await;
            let _ = writer.shutdown().await;
        };
        tokio::select! {
            () = upload => {}
            () = download => {}
        }
        let _ = child.wait().await;
    };
    if tokio::time::timeout(timeout, work).await.is_err() {
        tracing::warn!(mirror = %mirror.display(), "git upload-pack over git:// timed out; killed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse() {
        assert_eq!(
            parse_request(b"git-upload-pack /app.git\0host=gate:9418\0").unwrap(),
            DaemonRequest {
                service: "git-upload-pack".into(),
                repo: "app".into(),
                protocol: None
            }
        );
        assert_eq!(
            parse_request(b"git-upload-pack /app\0host=gate\0\0version=2\0").unwrap(),
            DaemonRequest {
                service: "git-upload-pack".into(),
                repo: "app".into(),
                protocol: Some("version=2".into())
            }
        );
        assert_eq!(
            parse_request(b"git-receive-pack /app.git\0host=x\0")
                .unwrap()
                .service,
            "git-receive-pack"
        );
    }

    #[test]
    fn malformed_requests_are_errors() {
        assert!(parse_request(b"nonsense").is_err());
        assert!(parse_request(b"git-upload-pack /a\0host=x\0\0version=2;rm\0").is_err());
        assert!(parse_request(&[0xff, 0xfe]).is_err());
    }
}
