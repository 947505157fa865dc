//! Local HTTPS test origins with known keys: a generated PKI (root → intermediate → named leaf
//! keys) and a small HTTP/1.1 + HTTP/2 server on loopback that records every request it gets.
//!
//! Scenario suites and the project's own tests use these so that every key and pin in a case is
//! known. The origin answers every request with 200 and a short text naming the host and path
//! (and echoing the request's `x-...` headers, and the subject of the client certificate it was
//! shown); `/status/NNN` answers with status NNN. An origin started with [`OriginTls`] speaks
//! one TLS version only, or requires a client certificate from a CA it is given (rustls'
//! `WebPkiClientVerifier`), as an mTLS API does.

pub mod pki;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

use crate::error::{Error, Result};

/// One request an origin received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginRequest {
    /// Server name the client sent (SNI), if any.
    pub sni: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The subject of the client certificate the connection presented (RFC 4514-ish, as
    /// x509-parser prints it), if one was.
    #[serde(default)]
    pub client_cert: Option<String>,
}

/// How a TLS test origin shakes hands, beyond the certificate it presents.
#[derive(Clone, Debug, Default)]
pub struct OriginTls {
    /// Only this TLS version (`rustls::version::TLS12` or `TLS13`); `None`: both.
    pub version: Option<&'static rustls::SupportedProtocolVersion>,
    /// Require a client certificate that chains to one of these CAs (empty: ask for none).
    pub client_cas: Vec<rustls::pki_types::CertificateDer<'static>>,
}

/// One TLS handshake an origin took part in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginHandshake {
    /// Server name the client sent (SNI), if any.
    pub sni: Option<String>,
    /// Why it failed, as the proxy words a client's end (`alert:bad_certificate`, `eof`,
    /// `reset`), or `None` if it completed.
    pub failure: Option<String>,
}

/// What an origin saw, shared with its connection tasks.
#[derive(Debug, Default)]
struct OriginLog {
    requests: Mutex<Vec<OriginRequest>>,
    handshakes: Mutex<Vec<OriginHandshake>>,
    open: AtomicUsize,
    closed: Notify,
}

/// A running test origin; stops when dropped.
#[derive(Debug)]
pub struct TestOrigin {
    addr: SocketAddr,
    log: Arc<OriginLog>,
    stop: watch::Sender<bool>,
}

impl TestOrigin {
    /// Starts a plain-HTTP (no TLS) origin on 127.0.0.1, for `http://` forwarding.
    pub async fn start_plain() -> Result<Self> {
        Self::start_inner(SocketAddr::from(([127, 0, 0, 1], 0)), None).await
    }

    /// Starts an origin on 127.0.0.1 (an ephemeral port) presenting `cert`.
    pub async fn start(cert: Arc<CertifiedKey>) -> Result<Self> {
        Self::start_at(SocketAddr::from(([127, 0, 0, 1], 0)), cert).await
    }

    /// Starts an origin on `addr` (e.g. `[::1]:0`) presenting `cert`.
    pub async fn start_at(addr: SocketAddr, cert: Arc<CertifiedKey>) -> Result<Self> {
        Self::start_with(addr, cert, OriginTls::default()).await
    }

    /// Starts an origin on `addr` presenting `cert`, with `tls`'s version and client
    /// authentication.
    pub async fn start_with(
        addr: SocketAddr,
        cert: Arc<CertifiedKey>,
        tls: OriginTls,
    ) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let alpn = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let versions = match tls.version {
            Some(v) => vec![v],
            None => rustls::ALL_VERSIONS.to_vec(),
        };
        let client_auth = if tls.client_cas.is_empty() {
            None
        } else {
            let mut roots = rustls::RootCertStore::empty();
            for ca in tls.client_cas {
                roots
                    .add(ca)
                    .map_err(|e| Error::runtime(format!("origin client CA: {e}")))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| Error::runtime(format!("origin client verifier: {e}")))?;
            Some(verifier)
        };
        let config = crate::tls::server_config_with(provider, cert, alpn, &versions, client_auth)
            .map_err(|e| Error::runtime(format!("origin {e}")))?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        Self::start_inner(addr, Some(acceptor)).await
    }

    async fn start_inner(
        addr: SocketAddr,
        acceptor: Option<tokio_rustls::TlsAcceptor>,
    ) -> Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::runtime(format!("cannot start a test origin: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::runtime(format!("test origin address: {e}")))?;
        let log: Arc<OriginLog> = Arc::default();
        let (stop, mut stopped) = watch::channel(false);
        let shared = log.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(_) => continue,
                    },
                    _ = stopped.wait_for(|s| *s) => return,
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, log, mut stopped) =
                    (acceptor.clone(), shared.clone(), stopped.clone());
                log.open.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    tokio::select! {
                        () = serve(acceptor, tcp, log.clone()) => {}
                        _ = stopped.wait_for(|s| *s) => {}
                    }
                    log.open.fetch_sub(1, Ordering::SeqCst);
                    log.closed.notify_waiters();
                });
            }
        });
        Ok(Self { addr, log, stop })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<OriginRequest> {
        crate::lock(&self.log.requests).clone()
    }

    /// TLS handshakes so far, completed or failed.
    pub fn handshakes(&self) -> Vec<OriginHandshake> {
        crate::lock(&self.log.handshakes).clone()
    }

    /// Completes when no client connection is open.
    pub async fn idle(&self) {
        loop {
            let notified = self.log.closed.notified();
            if self.log.open.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for TestOrigin {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn serve(acceptor: Option<tokio_rustls::TlsAcceptor>, tcp: TcpStream, log: Arc<OriginLog>) {
    let Some(acceptor) = acceptor else {
        return serve_http(tcp, Conn::default(), false, log).await;
    };
    // The ClientHello's SNI is kept even when the handshake fails (a client that rejects us).
    let start =
        match tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp).await
        {
            Ok(start) => start,
            Err(e) => return handshake_failed(&log, None, &e),
        };
    let sni = start.client_hello().server_name().map(str::to_string);
    let tls = match start.into_stream(acceptor.config().clone()).await {
        Ok(tls) => tls,
        Err(e) => return handshake_failed(&log, sni, &e),
    };
    crate::lock(&log.handshakes).push(OriginHandshake {
        sni: sni.clone(),
        failure: None,
    });
    let session = tls.get_ref().1;
    let h2 = session.alpn_protocol() == Some(b"h2");
    let client_cert = session
        .peer_certificates()
        .and_then(<[_]>::first)
        .map(|der| match x509_parser::parse_x509_certificate(der) {
            Ok((_, x)) => x.subject().to_string(),
            Err(_) => "(unparsable)".to_string(),
        });
    serve_http(tls, Conn { sni, client_cert }, h2, log).await;
}

/// What an origin knows about a client connection when it serves its requests.
#[derive(Clone, Debug, Default)]
struct Conn {
    sni: Option<String>,
    client_cert: Option<String>,
}

/// Records a failed handshake: a client that rejects the origin is evidence, not an error.
fn handshake_failed(log: &OriginLog, sni: Option<String>, e: &std::io::Error) {
    crate::lock(&log.handshakes).push(OriginHandshake {
        sni,
        failure: Some(crate::tls::peer_end(e).reason()),
    });
}

async fn serve_http<T>(io: T, conn: Conn, h2: bool, log: Arc<OriginLog>)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |mut req: Request<Incoming>| {
        let path = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let entry = OriginRequest {
            sni: conn.sni.clone(),
            method: req.method().to_string(),
            path: path.clone(),
            client_cert: conn.client_cert.clone(),
        };
        let mut body = format!(
            "pin-proxy test origin {}: {} {path}\n",
            conn.sni.as_deref().unwrap_or("-"),
            req.method()
        );
        if let Some(subject) = &conn.client_cert {
            body.push_str(&format!("client certificate: {subject}\n"));
        }
        // Request headers named x-..., echoed so a test can see what a client sent.
        for (name, value) in req.headers() {
            if name.as_str().starts_with("x-") {
                body.push_str(&format!(
                    "{name}: {}\n",
                    String::from_utf8_lossy(value.as_bytes())
                ));
            }
        }
        // `/status/NNN` answers with that status (for clients' handling of errors).
        let status = path
            .strip_prefix("/status/")
            .and_then(|s| s.parse::<u16>().ok())
            .and_then(|s| http::StatusCode::from_u16(s).ok())
            .filter(|s| !s.is_informational())
            .unwrap_or(http::StatusCode::OK);
        crate::lock(&log.requests).push(entry);
        // An `Upgrade` request gets a 101 and an echo of whatever follows (a WebSocket stand-in).
        let upgrade = req
            .headers()
            .get(http::header::UPGRADE)
            .cloned()
            .map(|proto| (proto, hyper::upgrade::on(&mut req)));
        async move {
            let Some((proto, on_upgrade)) = upgrade else {
                let mut resp = Response::new(Full::new(Bytes::from(body)));
                *resp.status_mut() = status;
                return Ok::<_, std::convert::Infallible>(resp);
            };
            tokio::spawn(async move {
                if let Ok(upgraded) = on_upgrade.await {
                    let (mut r, mut w) = tokio::io::split(TokioIo::new(upgraded));
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                }
            });
            let mut resp = Response::new(Full::new(Bytes::new()));
            *resp.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
            resp.headers_mut().insert(http::header::UPGRADE, proto);
            resp.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("upgrade"),
            );
            Ok(resp)
        }
    });
    crate::tls::serve_http(io, service, h2).await;
}
