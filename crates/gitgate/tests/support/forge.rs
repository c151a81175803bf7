//! A stand-in forge for tests and the benchmark: the bare repos under a
//! directory served over smart HTTP by `git http-backend` (through the
//! gate's own CGI runner), optionally behind a token check as a forge does
//! (`Authorization: Basic base64(x-access-token:<token>)` or 401), over TLS,
//! and with every answer delayed (a stand-in for a remote forge's round
//! trip).

use std::path::PathBuf;
use std::time::Duration;

/// How the forge behaves.
#[derive(Default)]
pub struct Forge {
    /// The only token accepted; `None`: no check.
    pub token: Option<String>,
    /// Serve HTTPS with this acceptor (the URL is then `https://`).
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Before each request is handled.
    pub delay: Duration,
    /// Every request's method, path and query (`GET /x.git/info/refs?…`),
    /// in arrival order.
    pub seen: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
}

/// Serve `project_root` as `forge` says, on a loopback port; the base URL
/// (`http://127.0.0.1:PORT`, or `https://…`) back.
pub async fn serve(project_root: PathBuf, forge: Forge) -> String {
    use base64::Engine;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let expected = forge.token.map(|token| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"))
        )
    });
    let scheme = if forge.tls.is_some() { "https" } else { "http" };
    let (tls, delay, seen) = (forge.tls, forge.delay, forge.seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, remote)) = listener.accept().await else {
                return;
            };
            let _ = stream.set_nodelay(true);
            let project_root = project_root.clone();
            let expected = expected.clone();
            let tls = tls.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let project_root = project_root.clone();
                    let expected = expected.clone();
                    if let Some(seen) = &seen {
                        let query = request.uri().query().unwrap_or("");
                        seen.lock().unwrap().push(format!(
                            "{} {}?{query}",
                            request.method(),
                            request.uri().path()
                        ));
                    }
                    async move {
                        tokio::time::sleep(delay).await;
                        let header = |name: &str| {
                            request
                                .headers()
                                .get(name)
                                .and_then(|value| value.to_str().ok())
                                .map(str::to_string)
                        };
                        if let Some(expected) = expected
                            && header("authorization").as_deref() != Some(expected.as_str())
                        {
                            let mut response = hyper::Response::new(
                                bot_bottle_gitgate::cgi::ChannelBody::full("no\n"),
                            );
                            *response.status_mut() = http::StatusCode::UNAUTHORIZED;
                            response.headers_mut().insert(
                                "www-authenticate",
                                http::HeaderValue::from_static("Basic realm=\"t\""),
                            );
                            return Ok::<_, std::convert::Infallible>(response);
                        }
                        let cgi = bot_bottle_gitgate::cgi::CgiRequest {
                            project_root,
                            path_info: request.uri().path().to_string(),
                            query: request.uri().query().unwrap_or("").to_string(),
                            method: request.method().to_string(),
                            content_type: header("content-type"),
                            content_encoding: header("content-encoding"),
                            git_protocol: header("git-protocol"),
                            remote_addr: remote.ip().to_string(),
                            extra_env: Default::default(),
                            timeout: Duration::from_secs(60),
                            body_idle: Duration::from_secs(60),
                            memory: None,
                        };
                        let answer = bot_bottle_gitgate::cgi::run(cgi, request.into_body(), ())
                            .await
                            .unwrap();
                        let head = answer.head.unwrap();
                        let mut response = hyper::Response::new(answer.body);
                        *response.status_mut() = head.status;
                        for (name, value) in head.headers {
                            response.headers_mut().append(name, value);
                        }
                        Ok(response)
                    }
                });
                let builder = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acceptor) => {
                        let Ok(stream) = acceptor.accept(stream).await else {
                            return;
                        };
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                    None => {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
            });
        }
    });
    format!("{scheme}://{address}")
}
