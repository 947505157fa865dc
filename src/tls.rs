//! TLS and HTTP serving helpers shared by the proxy's client side, the test origins and the
//! reference client: a rustls server configuration for one certificate, serving HTTP/1.1 or
//! HTTP/2 on a stream, how a peer ended a stream, and TLS version names.

use std::sync::Arc;

use hyper::body::{Body, Incoming};
use hyper::service::HttpService;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::verdict::ClientEnd;

#[derive(Debug)]
struct OneCert(Arc<CertifiedKey>);

impl ResolvesServerCert for OneCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// A TLS version as records and reports write it: `TLSv1.3`, `TLSv1.2`.
pub(crate) fn version_name(version: rustls::ProtocolVersion) -> String {
    match version {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_string(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_string(),
        other => format!("{other:?}"),
    }
}

/// How an I/O error from a TLS peer's stream ended it: its alert, a close, a reset, a timeout.
/// The proxy reads its client's end with it, a test origin the end of a client that refused it.
pub(crate) fn peer_end(e: &std::io::Error) -> ClientEnd {
    use std::io::ErrorKind;
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return match tls {
            rustls::Error::AlertReceived(rustls::AlertDescription::CloseNotify) => {
                ClientEnd::CloseNotify
            }
            rustls::Error::AlertReceived(alert) => ClientEnd::Alert(u8::from(*alert)),
            other => ClientEnd::Error(other.to_string()),
        };
    }
    match e.kind() {
        ErrorKind::UnexpectedEof => ClientEnd::Eof,
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            ClientEnd::Reset
        }
        ErrorKind::TimedOut => ClientEnd::TimedOut,
        _ => ClientEnd::Error(e.to_string()),
    }
}

/// A server configuration presenting `cert` to every client, TLS 1.2 and 1.3, with `alpn`.
pub(crate) fn server_config(
    provider: Arc<CryptoProvider>,
    cert: Arc<CertifiedKey>,
    alpn: Vec<Vec<u8>>,
) -> Result<ServerConfig, String> {
    server_config_with(provider, cert, alpn, rustls::ALL_VERSIONS, None)
}

/// [`server_config`] for only `versions`, asking clients for a certificate that `client_auth`
/// verifies (`None`: no client authentication). For the test origins.
pub(crate) fn server_config_with(
    provider: Arc<CryptoProvider>,
    cert: Arc<CertifiedKey>,
    alpn: Vec<Vec<u8>>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    client_auth: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
) -> Result<ServerConfig, String> {
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS setup: {e}"))?;
    let builder = match client_auth {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(OneCert(cert)));
    config.alpn_protocols = alpn;
    Ok(config)
}

/// Serves HTTP on `io` until it ends: HTTP/2 when `h2`, else HTTP/1.1 with upgrades. Errors are
/// the peer going away mid-exchange; callers record what they need in the service.
pub(crate) async fn serve_http<I, S, B>(io: I, service: S, h2: bool)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: HttpService<Incoming, ResBody = B> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let io = TokioIo::new(io);
    if h2 {
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(io, service)
            .await;
    } else {
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .with_upgrades()
            .await;
    }
}
