//! Reaching upstreams: name resolution under the address policy, dialling,
//! TLS with ALPN, and the pooled HTTP client on top.
//!
//! The proxy resolves every upstream name itself (the agent has no DNS),
//! at connect time, and refuses the connection when any resolved address is
//! not public ([`crate::address`]) — so a name that resolves to 127.0.0.1 or
//! 169.254.169.254 is useless, and DNS rebinding between the check and the
//! dial is impossible (the checked addresses are the dialled ones). Two
//! exceptions, both the operator's explicit choice: a `--resolve` pin, and
//! an IP-literal host (which can only get here by matching a route that
//! names that IP). Connecting back to the proxy's own listening address is
//! refused as a loop.
//!
//! Upstream TLS verifies against the Mozilla roots (webpki-roots) plus any
//! `--upstream-ca`, offers ALPN `h2` and `http/1.1`, and tells the pooled
//! client which was chosen, so a request can go out over HTTP/2 whatever
//! the agent spoke.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::address::{self, AddressClass};
use crate::routes::Host;

/// Time allowed to resolve an upstream name and open the TCP connection.
pub const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for the TLS handshake with an upstream.
pub const UPSTREAM_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle pooled upstream connection is kept.
pub const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle pooled connections kept per upstream host.
pub const UPSTREAM_MAX_IDLE_PER_HOST: usize = 32;

/// A `--resolve HOST:PORT:ADDR` pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvePin {
    pub host: Host,
    pub port: u16,
    pub address: IpAddr,
}

/// A `--resolve` argument that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--resolve {0:?}: expected HOST:PORT:ADDRESS (e.g. api.example.com:443:10.0.0.5)")]
pub struct ResolvePinError(pub String);

impl FromStr for ResolvePin {
    type Err = ResolvePinError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ResolvePinError(text.to_string());
        let (host, rest) = text.split_once(':').ok_or_else(error)?;
        let (port, address) = rest.split_once(':').ok_or_else(error)?;
        let host = Host::parse(host).map_err(|_| error())?;
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(error)?;
        let address = address
            .strip_prefix('[')
            .and_then(|inner| inner.strip_suffix(']'))
            .unwrap_or(address)
            .parse::<IpAddr>()
            .map_err(|_| error())?;
        Ok(Self {
            host,
            port,
            address,
        })
    }
}

/// Why an upstream connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the upstream URL has no host")]
    NoHost,
    #[error("cannot resolve {host}")]
    Resolve {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("{host} resolves to no address")]
    NoAddress { host: String },
    #[error("{host} resolves to {address}, a {} address; the proxy does not connect there unless a route names that address or --resolve pins it", class.describe())]
    ForbiddenAddress {
        host: String,
        address: IpAddr,
        class: AddressClass,
    },
    #[error("{host} resolves to the proxy itself ({address}): refusing a loop")]
    Loop { host: String, address: SocketAddr },
    #[error("cannot connect to {host}")]
    Connect {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("timed out connecting to {host}")]
    ConnectTimeout { host: String },
    #[error("TLS handshake with {host} failed")]
    Tls {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("timed out in the TLS handshake with {host}")]
    TlsTimeout { host: String },
}

/// The stream to an upstream: plain TCP or TLS.
pub enum UpstreamStream {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
}

impl Connection for UpstreamStream {
    fn connected(&self) -> Connected {
        match self {
            Self::Plain(_) => Connected::new(),
            Self::Tls(stream) => {
                let (_, session) = stream.inner().get_ref();
                if session.alpn_protocol() == Some(b"h2") {
                    Connected::new().negotiated_h2()
                } else {
                    Connected::new()
                }
            }
        }
    }
}

impl hyper::rt::Read for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_read(context, buffer),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_read(context, buffer),
        }
    }
}

impl hyper::rt::Write for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_write(context, data),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_write(context, data),
        }
    }

    // Vectored writes go through, so hyper hands a body's buffers to TLS as
    // they are instead of first copying them into one flat buffer.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_write_vectored(context, buffers),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_write_vectored(context, buffers),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(stream) => stream.is_write_vectored(),
            Self::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_flush(context),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(context),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_shutdown(context),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(context),
        }
    }
}

/// Dials upstreams for the pooled client (a `tower` service over `Uri`).
#[derive(Clone)]
pub struct UpstreamConnector {
    tls: TlsConnector,
    pins: Arc<HashMap<(Host, u16), IpAddr>>,
    listen: SocketAddr,
}

impl UpstreamConnector {
    /// A connector trusting webpki roots plus `extra_roots`, honouring
    /// `pins`, refusing `listen` (the proxy's own address), offering `alpn`
    /// in upstream TLS.
    pub fn new(
        extra_roots: &[CertificateDer<'static>],
        pins: &[ResolvePin],
        listen: SocketAddr,
        alpn: &[&[u8]],
    ) -> Result<Self, rustls::Error> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for root in extra_roots {
            roots.add(root.clone())?;
        }
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
        let pins = pins
            .iter()
            .map(|pin| ((pin.host.clone(), pin.port), pin.address))
            .collect();
        Ok(Self {
            tls: TlsConnector::from(Arc::new(config)),
            pins: Arc::new(pins),
            listen,
        })
    }

    async fn addresses(&self, host: &Host, port: u16) -> Result<Vec<SocketAddr>, ConnectError> {
        if let Some(pinned) = self.pins.get(&(host.clone(), port)) {
            return Ok(vec![SocketAddr::new(*pinned, port)]);
        }
        let name = match host {
            // Only reachable through a route naming this literal address.
            Host::Ip(address) => return Ok(vec![SocketAddr::new(*address, port)]),
            Host::Name(name) => name,
        };
        let resolved: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), port))
            .await
            .map_err(|source| ConnectError::Resolve {
                host: name.clone(),
                source,
            })?
            .collect();
        if resolved.is_empty() {
            return Err(ConnectError::NoAddress { host: name.clone() });
        }
        // Refuse the name if any of its addresses is not public: a name that
        // mixes public and private answers is a rebinding attempt.
        if let Some(bad) = resolved
            .iter()
            .find(|address| !address::is_public(address.ip()))
        {
            return Err(ConnectError::ForbiddenAddress {
                host: name.clone(),
                address: bad.ip(),
                class: address::classify(bad.ip()),
            });
        }
        Ok(resolved)
    }

    fn is_self(&self, address: SocketAddr) -> bool {
        address == self.listen
            || (self.listen.ip().is_unspecified()
                && address.port() == self.listen.port()
                && !address::is_public(address.ip()))
    }

    async fn connect(self, uri: Uri) -> Result<UpstreamStream, ConnectError> {
        let raw_host = uri.host().ok_or(ConnectError::NoHost)?;
        let host = Host::parse(raw_host).map_err(|_| ConnectError::NoHost)?;
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let host_text = host.to_string();

        let dial = async {
            let addresses = self.addresses(&host, port).await?;
            let mut last_error = None;
            for address in addresses {
                if self.is_self(address) {
                    return Err(ConnectError::Loop {
                        host: host_text.clone(),
                        address,
                    });
                }
                match TcpStream::connect(address).await {
                    Ok(stream) => return Ok(stream),
                    Err(error) => last_error = Some(error),
                }
            }
            Err(ConnectError::Connect {
                host: host_text.clone(),
                source: last_error.unwrap_or_else(|| io::Error::other("no address")),
            })
        };
        let stream = tokio::time::timeout(UPSTREAM_CONNECT_TIMEOUT, dial)
            .await
            .map_err(|_| ConnectError::ConnectTimeout {
                host: host_text.clone(),
            })??;
        // Best effort: a proxy adds latency if Nagle holds small writes.
        let _ = stream.set_nodelay(true);
        if !https {
            return Ok(UpstreamStream::Plain(TokioIo::new(stream)));
        }
        let server_name = match &host {
            Host::Name(name) => {
                ServerName::try_from(name.clone()).map_err(|_| ConnectError::NoHost)?
            }
            Host::Ip(address) => ServerName::IpAddress((*address).into()),
        };
        let tls = tokio::time::timeout(
            UPSTREAM_TLS_HANDSHAKE_TIMEOUT,
            self.tls.connect(server_name, stream),
        )
        .await
        .map_err(|_| ConnectError::TlsTimeout {
            host: host_text.clone(),
        })?
        .map_err(|source| ConnectError::Tls {
            host: host_text.clone(),
            source,
        })?;
        Ok(UpstreamStream::Tls(Box::new(TokioIo::new(tls))))
    }
}

impl tower_service::Service<Uri> for UpstreamConnector {
    type Response = UpstreamStream;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<UpstreamStream, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(self.clone().connect(uri))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_pins_parse_like_curl() {
        let pin: ResolvePin = "API.example.com:8443:127.0.0.1".parse().unwrap();
        assert_eq!(pin.host, Host::Name("api.example.com".into()));
        assert_eq!(pin.port, 8443);
        assert_eq!(pin.address, "127.0.0.1".parse::<IpAddr>().unwrap());
        let v6: ResolvePin = "h.test:443:[::1]".parse().unwrap();
        assert_eq!(v6.address, "::1".parse::<IpAddr>().unwrap());
        let bare_v6: ResolvePin = "h.test:443:fd00::1".parse().unwrap();
        assert_eq!(bare_v6.address, "fd00::1".parse::<IpAddr>().unwrap());
        for bad in [
            "h.test",
            "h.test:443",
            "h.test:0:1.2.3.4",
            "h.test:x:1.2.3.4",
            "h.test:443:nope",
        ] {
            assert!(bad.parse::<ResolvePin>().is_err(), "{bad}");
        }
    }
}
