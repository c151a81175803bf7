//! Deploy keys: generate an SSH key pair and register its public half on a
//! forge, so a bottle's git-gate can push with a key that opens one repo.
//!
//! Only Gitea is supported: `POST /api/v1/repos/{owner}/{repo}/keys` with
//! `{title, key, read_only: false}` and `Authorization: token <token>`,
//! answered `201 Created` with the key's JSON. Gitea answers `422` when the
//! title or the key is already registered on the repo; that is the typed
//! [`GateError::DeployKeyCollision`], naming repo and title. Key generation
//! (`ssh-keygen`) and the API call each have a timeout.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bot_bottle_secret::Redacted;
use bytes::Bytes;
use http::{Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::{GateError, Result};
use crate::git::{Invocation, stderr_excerpt};

/// Bound on `ssh-keygen`.
pub const KEYGEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on one forge API call (connect, request, response).
pub const FORGE_API_TIMEOUT: Duration = Duration::from_secs(30);
/// The most bytes of an error body quoted back.
pub const MAX_ERROR_BODY_BYTES: usize = 2048;

/// A generated key pair.
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// The private key file (mode 0600, written by ssh-keygen).
    pub private_key: PathBuf,
    /// The public key line (`ssh-ed25519 AAAA… comment`).
    pub public_key: String,
}

/// Generate an ed25519 key pair at `path` (and `path.pub`). Refuses to
/// overwrite an existing key.
pub async fn generate_key(path: &Path, comment: &str, timeout: Duration) -> Result<KeyPair> {
    if path.exists() {
        return Err(GateError::InvalidConfig {
            message: format!("{} already exists; not overwriting a key", path.display()),
        });
    }
    if comment.chars().any(char::is_control) {
        return Err(GateError::InvalidConfig {
            message: "the key comment contains a control character".into(),
        });
    }
    Invocation::program(
        "ssh-keygen",
        [
            "-q".into(),
            "-t".into(),
            "ed25519".into(),
            "-N".into(),
            "".into(),
            "-C".into(),
            comment.into(),
            "-f".into(),
            path.as_os_str().to_owned(),
        ],
    )
    .checked(b"", timeout)
    .await?;
    let public_path = PathBuf::from(format!("{}.pub", path.display()));
    let public_key = std::fs::read_to_string(&public_path)
        .map_err(|source| GateError::State {
            path: public_path.clone(),
            source,
        })?
        .trim()
        .to_string();
    Ok(KeyPair {
        private_key: path.to_path_buf(),
        public_key,
    })
}

/// A Gitea server.
#[derive(Debug, Clone)]
pub struct Gitea {
    base: Uri,
    token: Redacted<String>,
    timeout: Duration,
}

/// What Gitea answered for a new key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct RegisteredKey {
    pub id: u64,
    #[serde(default)]
    pub title: String,
}

/// `owner/name` with the characters Gitea allows.
pub fn validate_repo_path(repo: &str) -> Result<(&str, &str)> {
    let valid = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    match repo.split_once('/') {
        Some((owner, name)) if valid(owner) && valid(name) => Ok((owner, name)),
        _ => Err(GateError::InvalidConfig {
            message: format!("--repo {repo:?} must be OWNER/NAME"),
        }),
    }
}

impl Gitea {
    /// A client for the Gitea at `url` (`https://gitea.example.com`).
    pub fn new(url: &str, token: Redacted<String>, timeout: Duration) -> Result<Self> {
        let base: Uri =
            url.trim_end_matches('/')
                .parse()
                .map_err(|_| GateError::InvalidConfig {
                    message: format!("--url {url:?} is not a URL"),
                })?;
        match base.scheme_str() {
            Some("http" | "https") if base.host().is_some() => {}
            _ => {
                return Err(GateError::InvalidConfig {
                    message: format!("--url {url:?} must be http:// or https://"),
                });
            }
        }
        Ok(Self {
            base,
            token,
            timeout,
        })
    }

    /// Register `public_key` as a read-write deploy key titled `title` on
    /// `repo` (`owner/name`).
    pub async fn add_deploy_key(
        &self,
        repo: &str,
        title: &str,
        public_key: &str,
    ) -> Result<RegisteredKey> {
        let (owner, name) = validate_repo_path(repo)?;
        let prefix = self.base.path().trim_end_matches('/');
        let path = format!("{prefix}/api/v1/repos/{owner}/{name}/keys");
        let url = format!(
            "{}://{}{path}",
            self.base.scheme_str().unwrap_or("https"),
            self.base.authority().map(|a| a.as_str()).unwrap_or("")
        );
        let body = serde_json::json!({"title": title, "key": public_key, "read_only": false});
        let work = self.post(&path, body.to_string());
        let (status, body) = tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| GateError::ForgeTimeout {
                url: url.clone(),
                timeout: self.timeout,
            })?
            .map_err(|message| GateError::ForgeUnreachable {
                url: url.clone(),
                message,
            })?;
        match status {
            StatusCode::CREATED | StatusCode::OK => {
                serde_json::from_slice(&body).map_err(|error| GateError::ForgeApi {
                    url,
                    status: status.as_u16(),
                    body: format!("unreadable answer: {error}"),
                })
            }
            StatusCode::UNPROCESSABLE_ENTITY => Err(GateError::DeployKeyCollision {
                repo: repo.to_string(),
                title: title.to_string(),
            }),
            other => Err(GateError::ForgeApi {
                url,
                status: other.as_u16(),
                body: stderr_excerpt(&body[..body.len().min(MAX_ERROR_BODY_BYTES)]),
            }),
        }
    }

    async fn post(
        &self,
        path: &str,
        json: String,
    ) -> std::result::Result<(StatusCode, Bytes), String> {
        let host = self
            .base
            .host()
            .unwrap_or("")
            .trim_matches(['[', ']'])
            .to_string();
        let tls = self.base.scheme_str() == Some("https");
        let port = self.base.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let stream = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|error| error.to_string())?;
        let authority = self
            .base
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let request = Request::post(path)
            .header(header::HOST, authority)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .header(
                header::AUTHORIZATION,
                format!("token {}", self.token.expose()),
            )
            .body(Full::new(Bytes::from(json)))
            .map_err(|error| error.to_string())?;
        if tls {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|error| error.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
            let server_name = rustls_pki_types::ServerName::try_from(host.clone())
                .map_err(|error| error.to_string())?;
            let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(server_name, stream)
                .await
                .map_err(|error| error.to_string())?;
            send(TokioIo::new(stream), request).await
        } else {
            send(TokioIo::new(stream), request).await
        }
    }
}

async fn send<I>(
    io: I,
    request: Request<Full<Bytes>>,
) -> std::result::Result<(StatusCode, Bytes), String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|error| error.to_string())?;
    let driver = tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| error.to_string())?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|error| error.to_string())?
        .to_bytes();
    driver.abort();
    Ok((status, body))
}
