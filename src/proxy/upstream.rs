//! The proxy's side towards origins: TCP connect (honouring `--map`, directly or through
//! `--upstream-proxy`), TLS with verification and the host's `--client-cert`, and forwarding
//! requests over HTTP/1.1 or HTTP/2 (with WebSocket upgrades relayed).
//!
//! An origin connection is a [`Lease`]: `pool` keeps and lends them, and imports this module;
//! this module knows nothing of the pool.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, KeyLog, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::client_cert::{ClientAuth, Watched};
use super::ProxyConfig;
use crate::error::{Error, Result};
use crate::rules::mapped_addr;

/// Response body type of every response the proxy returns.
pub(crate) type Body = BoxBody<Bytes, hyper::Error>;

/// A complete body from bytes.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A small text response, e.g. a 502 with the reason.
pub(crate) fn text_response(status: StatusCode, text: String) -> Response<Body> {
    let mut resp = Response::new(full(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// How origins are trusted.
#[derive(Clone, Debug, Default)]
pub struct UpstreamTrust {
    /// Extra CA certificates to trust (e.g. a local test origin's root).
    pub extra_cas: Vec<CertificateDer<'static>>,
    /// Skip verification entirely (`--upstream-insecure`).
    pub insecure: bool,
    /// Trust the operating system's roots (on by default; tests turn it off).
    pub system_roots: bool,
}

/// Builds the TLS client configuration for origins.
pub(crate) fn client_config(
    trust: &UpstreamTrust,
    provider: Arc<CryptoProvider>,
    keylog: Option<Arc<dyn KeyLog>>,
) -> Result<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| Error::runtime(format!("cannot set up upstream TLS: {e}")))?;
    let mut config = if trust.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        if trust.system_roots {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
        for ca in &trust.extra_cas {
            roots.add(ca.clone()).map_err(|e| {
                Error::input("--upstream-ca", format!("not a usable CA certificate: {e}"))
            })?;
        }
        if roots.is_empty() {
            return Err(Error::input(
                "--upstream-ca",
                "no trusted roots for origins: the system has none; give --upstream-ca FILE \
                 (or --upstream-insecure)",
            ));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    if let Some(keylog) = keylog {
        config.key_log = keylog;
    }
    Ok(config)
}

/// The roots of [`client_config`] as certificates (`--upstream-ca` files, then the system's
/// unless they are off), for naming the root that verified an origin (`smuggle-chain`).
/// Certificates `client_config` refused never get this far.
pub(crate) fn origin_roots(trust: &UpstreamTrust) -> crate::trust::Roots {
    let mut roots = crate::trust::Roots::default();
    roots.add_parsable(trust.extra_cas.iter().cloned());
    if trust.system_roots {
        roots.add_parsable(rustls_native_certs::load_native_certs().certs);
    }
    roots
}

/// Verifies nothing but the handshake signatures: for `--upstream-insecure` only.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The reason of a connection to a host no `--map` names when unmapped hosts are not resolved
/// (`--only-mapped`, scenario runs).
pub(crate) const NOT_MAPPED: &str = "not mapped";

/// A TCP connection towards an origin: to the origin itself, or a tunnel through the upstream
/// proxy (`--upstream-proxy`) that carries the same bytes.
pub(crate) struct OriginTcp {
    pub(crate) stream: TcpStream,
    /// The origin's address, as records show it: the one connected to, or the `--map` address
    /// the upstream proxy was asked for; `None` when the upstream proxy resolved the host.
    pub(crate) addr: Option<SocketAddr>,
}

/// Opens a TCP connection to `host:port` (or its `--map` address), NODELAY set: directly, or
/// through the upstream proxy's CONNECT unless a bypass glob matches the host (the proxy then
/// resolves an unmapped host; there is no DNS here). Without [`ProxyConfig::resolve_unmapped`],
/// a host no `--map` names fails at once with [`NOT_MAPPED`], with or without an upstream proxy.
pub(crate) async fn connect(
    host: &str,
    port: u16,
    config: &ProxyConfig,
) -> std::result::Result<OriginTcp, String> {
    let timeout = config.connect_timeout;
    let mapped = mapped_addr(&config.maps, host, port);
    if mapped.is_none() && !config.resolve_unmapped {
        // `--only-mapped` (and every scenario run): no DNS, no connection, one fixed reason.
        return Err(NOT_MAPPED.to_string());
    }
    if let Some(via) = config.upstream_proxy.as_ref().filter(|p| !p.bypasses(host)) {
        let stream = via.connect(host, port, mapped, timeout).await?;
        return Ok(OriginTcp {
            stream,
            addr: mapped,
        });
    }
    let addrs: Vec<SocketAddr> = match mapped {
        Some(addr) => vec![addr],
        None => {
            let lookup = tokio::time::timeout(timeout, tokio::net::lookup_host((host, port)))
                .await
                .map_err(|_| format!("DNS lookup of {host} timed out"))?
                .map_err(|e| format!("DNS lookup of {host} failed: {e}"))?;
            lookup.take(4).collect()
        }
    };
    let mut last = format!("{host} resolved to no address");
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(OriginTcp {
                    stream,
                    addr: Some(addr),
                });
            }
            Ok(Err(e)) => last = format!("connect to {addr} failed: {e}"),
            Err(_) => last = format!("connect to {addr} timed out after {timeout:?}"),
        }
    }
    Err(last)
}

/// A connection to an origin that requests are sent over.
pub(crate) enum Sender {
    /// HTTP/1.1: one request at a time.
    H1(tokio::sync::Mutex<hyper::client::conn::http1::SendRequest<Incoming>>),
    /// HTTP/2: multiplexed.
    H2(hyper::client::conn::http2::SendRequest<Incoming>),
}

impl Sender {
    /// Starts HTTP (h2 when `h2`) on an established stream; the connection is driven by a task.
    pub(crate) async fn handshake<T>(io: T, h2: bool) -> std::result::Result<Self, String>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(io);
        if h2 {
            let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|e| format!("HTTP/2 with the origin failed: {e}"))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(Sender::H2(send))
        } else {
            let (send, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|e| format!("HTTP/1.1 with the origin failed: {e}"))?;
            tokio::spawn(async move {
                let _ = conn.with_upgrades().await;
            });
            Ok(Sender::H1(tokio::sync::Mutex::new(send)))
        }
    }

    pub(crate) fn is_h2(&self) -> bool {
        matches!(self, Sender::H2(_))
    }

    /// Whether the origin (or an error) closed the connection. One lent out for a request is
    /// not closed.
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            Sender::H1(send) => send.try_lock().is_ok_and(|s| s.is_closed()),
            Sender::H2(send) => send.is_closed(),
        }
    }

    /// Whether the connection can take a request now.
    pub(crate) fn is_ready(&self) -> bool {
        match self {
            Sender::H1(send) => send.try_lock().is_ok_and(|s| s.is_ready()),
            Sender::H2(send) => send.is_ready(),
        }
    }

    /// Sends one request. A request that never left (the connection was closed or broke
    /// before it was written) comes back with the error, so it can go over another connection.
    pub(crate) async fn send(
        &self,
        req: Request<Incoming>,
    ) -> std::result::Result<Response<Incoming>, SendError> {
        fn failed<T>(mut e: hyper::client::conn::TrySendError<T>) -> SendError<T> {
            match e.take_message() {
                Some(req) => SendError::NotSent(req, e.into_error().to_string()),
                None => SendError::Failed(e.into_error().to_string()),
            }
        }
        match self {
            Sender::H1(send) => {
                let mut send = send.lock().await;
                if let Err(e) = send.ready().await {
                    return Err(SendError::NotSent(
                        req,
                        format!("origin connection closed: {e}"),
                    ));
                }
                send.try_send_request(req).await.map_err(failed)
            }
            Sender::H2(send) => {
                let mut send = send.clone();
                if let Err(e) = send.ready().await {
                    return Err(SendError::NotSent(
                        req,
                        format!("origin connection closed: {e}"),
                    ));
                }
                send.try_send_request(req).await.map_err(failed)
            }
        }
    }
}

/// Why a request got no response.
pub(crate) enum SendError<T = Request<Incoming>> {
    /// It was never written: it can be sent over another connection.
    NotSent(T, String),
    /// It was written (or partly) and the exchange failed.
    Failed(String),
}

/// Something requests can be forwarded through: one connection, or a pooled link.
pub(crate) trait Upstream {
    /// Whether requests go out as HTTP/2.
    fn is_h2(&self) -> bool;
    /// Sends one request and returns the response (its body streamed).
    fn send(
        &self,
        req: Request<Incoming>,
    ) -> impl std::future::Future<Output = std::result::Result<Response<Body>, String>> + Send;
}

impl Upstream for Sender {
    fn is_h2(&self) -> bool {
        Sender::is_h2(self)
    }

    async fn send(&self, req: Request<Incoming>) -> std::result::Result<Response<Body>, String> {
        match Sender::send(self, req).await {
            Ok(resp) => Ok(resp.map(BodyExt::boxed)),
            Err(SendError::NotSent(_, e) | SendError::Failed(e)) => Err(e),
        }
    }
}

/// An origin connection, lent out of (or about to enter) the pool.
#[derive(Clone)]
pub(crate) struct Lease {
    pub(crate) sender: Arc<Sender>,
    /// The server name the origin's TLS was opened with (the client's SNI, or the host).
    pub(crate) server_name: String,
    /// The protocol the origin chose by ALPN (`None`: it chose none, HTTP/1.1).
    pub(crate) alpn: Option<Vec<u8>>,
    /// The origin's address (`None`: the upstream proxy resolved its host).
    pub(crate) addr: Option<SocketAddr>,
    /// Its client authentication, when the origin asked for a certificate: a request that
    /// fails on it is told whether the origin refused it for that (see [`Lease::failure`]).
    pub(crate) client_auth: Option<Arc<ClientAuth>>,
    /// The certificates the origin sent, leaf first (what `smuggle-chain` passes on).
    pub(crate) chain: Arc<[CertificateDer<'static>]>,
}

impl Lease {
    /// The reason of a request that failed on this connection with `e`: the origin's refusal of
    /// client authentication when that is what ended it, else `e`.
    pub(crate) fn failure(&self, e: String) -> String {
        refusal(self.client_auth.as_deref(), &self.server_name).unwrap_or(e)
    }
}

/// The origin's refusal of client authentication on a connection whose origin asked for a
/// certificate, once it ended the connection for it.
pub(crate) fn refusal(auth: Option<&ClientAuth>, server_name: &str) -> Option<String> {
    auth.and_then(|a| a.refusal(server_name))
}

/// Opens TLS and then HTTP to an origin over `tcp`, offering `alpn`, verifying it as
/// `server_name`, presenting the first `--client-cert` whose glob matches it if the origin asks
/// for a certificate. HTTP/2 when the origin picks it.
pub(crate) async fn open(
    shared: &super::Shared,
    tcp: OriginTcp,
    server_name: &str,
    alpn: Vec<Vec<u8>>,
) -> std::result::Result<Lease, String> {
    let OriginTcp { stream: tcp, addr } = tcp;
    // With a transparent listener, this connection may be redirected back to the proxy.
    let local = shared.own.as_ref().and_then(|_| tcp.local_addr().ok());
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|e| format!("{server_name:?} is not a valid server name: {e}"))?;
    let mut config = (*shared.upstream_tls).clone();
    config.alpn_protocols = alpn;
    // Chosen here, by the server name: rustls does not tell a resolver which server asks.
    let auth = shared.config.client_certs.auth_for(server_name);
    config.client_auth_cert_resolver = auth.clone();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tls =
        match tokio::time::timeout(shared.config.connect_timeout, connector.connect(name, tcp))
            .await
        {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                let looped = shared
                    .own
                    .as_ref()
                    .zip(local)
                    .is_some_and(|(own, local)| own.looped(local));
                if looped {
                    return Err(format!(
                        "TLS with the origin failed: {e}: the connection to it was redirected \
                         back to this proxy (a redirect loop, recorded on its own); exclude \
                         the proxy's own traffic from the redirect rule"
                    ));
                }
                let failure = format!("TLS with the origin failed: {e}");
                return Err(auth.explain(server_name, &e, &failure).unwrap_or(failure));
            }
            Err(_) => return Err("TLS with the origin timed out".into()),
        };
    let session = tls.get_ref().1;
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    let chain = session.peer_certificates().unwrap_or_default().into();
    let h2 = alpn.as_deref() == Some(b"h2");
    // A connection whose origin asked for a certificate is watched for the alert that refuses
    // it after the handshake (TLS 1.3); any other is used as it is.
    let (sender, client_auth) = if auth.asked() {
        let watched = Watched::new(tls, auth.clone());
        let sender = Sender::handshake(watched, h2)
            .await
            .map_err(|e| auth.refusal(server_name).unwrap_or(e))?;
        (sender, Some(auth))
    } else {
        (Sender::handshake(tls, h2).await?, None)
    };
    Ok(Lease {
        sender: Arc::new(sender),
        server_name: server_name.to_string(),
        alpn,
        addr,
        client_auth,
        chain,
    })
}

/// Where a forwarded request goes.
pub(crate) struct Target<'a> {
    pub(crate) scheme: &'static str,
    pub(crate) host: &'a str,
    pub(crate) port: u16,
}

/// What the client gets for a request: the response, its status, and the proxy's reason when
/// it made the response itself.
pub(crate) struct Answer {
    pub(crate) resp: Response<Body>,
    pub(crate) status: u16,
    /// Why the proxy answered with an error of its own (its body says the same).
    pub(crate) error: Option<String>,
}

impl Answer {
    /// The proxy's own error response, `status` with `body`, for `reason`.
    pub(crate) fn error(status: StatusCode, body: String, reason: String) -> Self {
        Self {
            resp: text_response(status, body),
            status: status.as_u16(),
            error: Some(reason),
        }
    }
}

/// Forwards one request and returns the client's answer (400 when the request cannot be
/// forwarded, 502 when the origin failed). The caller records the request. WebSocket (and other
/// HTTP/1.1) upgrades are relayed until either side closes or `shutdown`.
pub(crate) async fn forward<U: Upstream>(
    sender: &U,
    mut req: Request<Incoming>,
    target: &Target<'_>,
    shutdown: watch::Receiver<bool>,
) -> Answer {
    let client_upgrade = is_upgrade(&req).then(|| hyper::upgrade::on(&mut req));
    let req = match prepare(req, target, sender.is_h2()) {
        Ok(req) => req,
        Err(e) => return Answer::error(StatusCode::BAD_REQUEST, e.clone(), e),
    };
    match sender.send(req).await {
        Ok(mut resp) => {
            let status = resp.status();
            if status == StatusCode::SWITCHING_PROTOCOLS {
                if let Some(client_upgrade) = client_upgrade {
                    let origin_upgrade = hyper::upgrade::on(&mut resp);
                    tokio::spawn(relay_upgrade(client_upgrade, origin_upgrade, shutdown));
                }
            }
            Answer {
                resp,
                status: status.as_u16(),
                error: None,
            }
        }
        Err(e) => Answer::error(
            StatusCode::BAD_GATEWAY,
            format!(
                "pin-proxy: the origin {}:{} failed: {e}\n",
                target.host, target.port
            ),
            e,
        ),
    }
}

fn is_upgrade<B>(req: &Request<B>) -> bool {
    req.headers().contains_key(header::UPGRADE)
        && req
            .headers()
            .get(header::CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("upgrade"))
}

/// Rewrites a client request for the origin connection: origin-form URI and a Host header for
/// HTTP/1.1, absolute URI for HTTP/2; proxy-only headers removed.
fn prepare<B>(
    mut req: Request<B>,
    target: &Target<'_>,
    h2: bool,
) -> std::result::Result<Request<B>, String> {
    let default_port = if target.scheme == "https" { 443 } else { 80 };
    // Needed for an HTTP/2 URI, or for the Host header of an HTTP/1.1 request without one.
    let authority =
        (h2 || !req.headers().contains_key(header::HOST)).then(|| match req.uri().authority() {
            Some(a) => a.as_str().to_string(),
            None => match req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
            {
                Some(h) => h.to_string(),
                None if target.port == default_port => target.host.to_string(),
                None => format!("{}:{}", target.host, target.port),
            },
        });
    *req.uri_mut() = if let (true, Some(authority)) = (h2, &authority) {
        let path_and_query = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let uri = format!("{}://{authority}{path_and_query}", target.scheme);
        uri.parse::<Uri>()
            .map_err(|e| format!("cannot forward {uri:?}: {e}"))?
    } else {
        // Origin form: the request's own path and query, already parsed.
        Uri::from(
            req.uri()
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
        )
    };
    let headers = req.headers_mut();
    headers.remove("proxy-connection");
    headers.remove(header::PROXY_AUTHORIZATION);
    if h2 {
        for h in [
            "connection",
            "keep-alive",
            "transfer-encoding",
            "upgrade",
            "host",
        ] {
            headers.remove(h);
        }
    } else if let Some(authority) = &authority {
        let value =
            HeaderValue::from_str(authority).map_err(|_| format!("bad authority {authority:?}"))?;
        headers.insert(header::HOST, value);
    }
    *req.version_mut() = if h2 {
        http::Version::HTTP_2
    } else {
        http::Version::HTTP_11
    };
    Ok(req)
}

async fn relay_upgrade(
    client: hyper::upgrade::OnUpgrade,
    origin: hyper::upgrade::OnUpgrade,
    mut shutdown: watch::Receiver<bool>,
) {
    let (Ok(client), Ok(origin)) = (client.await, origin.await) else {
        return;
    };
    let mut client = TokioIo::new(client);
    let mut origin = TokioIo::new(origin);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut origin) => {}
        _ = shutdown.wait_for(|stop| *stop) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: Target<'static> = Target {
        scheme: "https",
        host: "api.test",
        port: 443,
    };

    fn request(uri: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn http1_keeps_the_host_header_and_sends_origin_form() {
        let req = request(
            "/a?b=c",
            &[("host", "api.test"), ("proxy-connection", "keep-alive")],
        );
        let out = prepare(req, &TARGET, false).unwrap();
        assert_eq!(out.uri().to_string(), "/a?b=c");
        assert_eq!(out.headers()["host"], "api.test");
        assert!(!out.headers().contains_key("proxy-connection"));
        assert_eq!(out.version(), http::Version::HTTP_11);
    }

    #[test]
    fn http1_without_host_gets_one_from_the_uri_or_the_target() {
        let out = prepare(request("https://other.test:8443/x", &[]), &TARGET, false).unwrap();
        assert_eq!(out.headers()["host"], "other.test:8443");
        assert_eq!(out.uri().to_string(), "/x");
        let out = prepare(request("/x", &[]), &TARGET, false).unwrap();
        assert_eq!(out.headers()["host"], "api.test");
        let odd_port = Target {
            port: 8443,
            ..TARGET
        };
        let out = prepare(request("/x", &[]), &odd_port, false).unwrap();
        assert_eq!(out.headers()["host"], "api.test:8443");
    }

    #[test]
    fn http2_gets_an_absolute_uri_and_no_connection_headers() {
        let req = request(
            "/x?y",
            &[
                ("host", "api.test:443"),
                ("connection", "keep-alive"),
                ("proxy-authorization", "Basic Zm9v"),
            ],
        );
        let out = prepare(req, &TARGET, true).unwrap();
        assert_eq!(out.uri().to_string(), "https://api.test:443/x?y");
        for h in ["host", "connection", "proxy-authorization"] {
            assert!(!out.headers().contains_key(h), "{h}");
        }
        assert_eq!(out.version(), http::Version::HTTP_2);
    }
}
