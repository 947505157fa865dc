//! Serving a signed pin config at `/pins` (`pin-config serve`, and the scenario runner's
//! in-process config service): the current signed document, a small HTTP/1.1 (or, over TLS,
//! HTTP/2) server on loopback, the rule that decides whether a changed source may replace what
//! is served, and a log of every fetch.
//!
//! The update rule is pure ([`update`]); the server holds what it serves behind a mutex and does
//! no file I/O (the CLI watches the source file and calls [`ConfigServer::publish`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::source::Source;
use super::{jws, wultra, SigningKey};
use crate::error::{Error, Result};
use crate::lock;

/// The path the config is served at.
pub const PATH: &str = "/pins";

/// What a config is published as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A compact JWS (`application/jose`).
    #[default]
    Jws,
    /// Wultra's fingerprints file (`application/json`), with challenge mode.
    Wultra,
}

impl Format {
    /// The name flags and files use: `jws`, `wultra`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jws => "jws",
            Format::Wultra => "wultra",
        }
    }

    /// The content type it is served with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jws => "application/jose",
            Format::Wultra => "application/json",
        }
    }
}

/// A signed document ready to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// The content version it carries.
    pub version: u64,
    /// The bytes served.
    pub body: Bytes,
    /// How.
    pub format: Format,
}

/// Signs `source` at `now` in `format`.
pub fn sign(source: &Source, key: &SigningKey, format: Format, now: u64) -> Result<Signed> {
    let body = match format {
        Format::Jws => jws::sign(&source.payload(now), key)?,
        Format::Wultra => wultra::sign_fingerprints(source, key, now)?,
    };
    Ok(Signed {
        version: source.version,
        body: Bytes::from(body),
        format,
    })
}

/// What a changed source does to the served config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Update {
    /// The first config, or a new version: sign and serve it.
    Publish,
    /// The same content (the file was touched or reformatted): keep serving what is signed.
    Unchanged,
    /// Refused, with the reason: the old config stays served.
    Refused(String),
}

/// Whether `new` may replace `current` (pure). A version is never reused for other content, and
/// never goes down: a client that cached the newer one would refuse it as a replay.
pub fn update(current: Option<&Source>, new: &Source) -> Update {
    let Some(current) = current else {
        return Update::Publish;
    };
    if same_content(current, new) {
        return Update::Unchanged;
    }
    if new.version > current.version {
        return Update::Publish;
    }
    Update::Refused(format!(
        "{}: the content changed but the version did not go up ({} now, {} served): raise \
         `version`, or clients that cached version {} refuse it",
        new.file, new.version, current.version, current.version
    ))
}

/// Same version, expiry, hosts, pins and certificate hashes (line numbers and file names aside).
fn same_content(a: &Source, b: &Source) -> bool {
    a.version == b.version
        && a.expiry == b.expiry
        && a.hosts.len() == b.hosts.len()
        && a.hosts.iter().zip(&b.hosts).all(|((ha, pa), (hb, pb))| {
            ha == hb
                && pa.pins == pb.pins
                && pa.cert_hashes == pb.cert_hashes
                && pa.include_subdomains == pb.include_subdomains
        })
}

/// One request the server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetch {
    /// Who asked.
    pub client: SocketAddr,
    /// Method and path.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// The version served, if a config was.
    pub version: Option<u64>,
}

impl std::fmt::Display for Fetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} from {} -> {}",
            self.method, self.path, self.client, self.status
        )?;
        if let Some(v) = self.version {
            write!(f, " (version {v})")?;
        }
        Ok(())
    }
}

struct Shared {
    current: Mutex<Option<Signed>>,
    key: Arc<SigningKey>,
    fetches: Mutex<Vec<Fetch>>,
    log: Option<mpsc::UnboundedSender<Fetch>>,
}

/// A running config server; stops when dropped.
pub struct ConfigServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for ConfigServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ConfigServer {
    /// Listens on `listen` (TLS with `tls` when given), serving nothing (404) until
    /// [`ConfigServer::publish`]. `key` signs Wultra challenge responses. Each fetch is also
    /// sent to `log` when given.
    pub async fn start(
        listen: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        key: Arc<SigningKey>,
        log: Option<mpsc::UnboundedSender<Fetch>>,
    ) -> Result<Self> {
        Self::start_allowing(listen, crate::access::AllowList::default(), tls, key, log).await
    }

    /// [`ConfigServer::start`] for a LAN address: clients outside `allow` (loopback aside) are
    /// disconnected unread, each logged as a fetch answered with status 0 and path `-`.
    pub async fn start_allowing(
        listen: SocketAddr,
        allow: crate::access::AllowList,
        tls: Option<Arc<rustls::ServerConfig>>,
        key: Arc<SigningKey>,
        log: Option<mpsc::UnboundedSender<Fetch>>,
    ) -> Result<Self> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| Error::runtime(format!("cannot listen on {listen}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::runtime(format!("cannot read the listening address: {e}")))?;
        let shared = Arc::new(Shared {
            current: Mutex::new(None),
            key,
            fetches: Mutex::new(Vec::new()),
            log,
        });
        let (stop, mut stopped) = watch::channel(false);
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let accept_shared = shared.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(_) => continue,
                    },
                    _ = stopped.wait_for(|s| *s) => return,
                };
                if !allow.allows(peer.ip()) {
                    drop(tcp);
                    if let Some(log) = &accept_shared.log {
                        let _ = log.send(Fetch {
                            client: peer,
                            method: "-".into(),
                            path: crate::access::NOT_ALLOWED.into(),
                            status: 0,
                            version: None,
                        });
                    }
                    continue;
                }
                let _ = tcp.set_nodelay(true);
                let (shared, acceptor, mut stopped) =
                    (accept_shared.clone(), acceptor.clone(), stopped.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let answer = answer(&shared, peer, &req);
                        async move { Ok::<_, std::convert::Infallible>(answer) }
                    });
                    let serve = async {
                        match acceptor {
                            None => crate::tls::serve_http(tcp, service, false).await,
                            Some(acceptor) => {
                                if let Ok(tls) = acceptor.accept(tcp).await {
                                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                                    crate::tls::serve_http(tls, service, h2).await;
                                }
                            }
                        }
                    };
                    tokio::select! {
                        () = serve => {}
                        _ = stopped.wait_for(|s| *s) => {}
                    }
                });
            }
        });
        Ok(Self { addr, shared, stop })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `signed` from now on, or nothing (404) for `None`.
    pub fn publish(&self, signed: Option<Signed>) {
        *lock(&self.shared.current) = signed;
    }

    /// The version served, if any.
    pub fn version(&self) -> Option<u64> {
        lock(&self.shared.current).as_ref().map(|s| s.version)
    }

    /// Every request answered so far.
    pub fn fetches(&self) -> Vec<Fetch> {
        lock(&self.shared.fetches).clone()
    }
}

impl Drop for ConfigServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn answer(shared: &Shared, client: SocketAddr, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let current = lock(&shared.current).clone();
    let mut version = None;
    let mut resp = match (req.method().as_str(), req.uri().path(), current) {
        ("GET" | "HEAD", PATH, Some(signed)) => {
            version = Some(signed.version);
            let challenge = req
                .headers()
                .get(wultra::CHALLENGE_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let mut resp = Response::new(Full::new(signed.body.clone()));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(signed.format.content_type()),
            );
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if let (Format::Wultra, Some(challenge)) = (signed.format, challenge) {
                match wultra::sign_challenge(&challenge, &signed.body, &shared.key)
                    .ok()
                    .and_then(|s| HeaderValue::from_str(&s).ok())
                {
                    Some(signature) => {
                        resp.headers_mut()
                            .insert(wultra::SIGNATURE_HEADER, signature);
                    }
                    None => resp = text(StatusCode::BAD_REQUEST, "bad X-Cert-Pinning-Challenge"),
                }
            }
            resp
        }
        ("GET" | "HEAD", PATH, None) => text(StatusCode::NOT_FOUND, "no pin config is published"),
        (_, PATH, _) => text(StatusCode::METHOD_NOT_ALLOWED, "GET /pins"),
        _ => text(StatusCode::NOT_FOUND, "the pin config is at /pins"),
    };
    if req.method() == http::Method::HEAD {
        *resp.body_mut() = Full::new(Bytes::new());
    }
    let fetch = Fetch {
        client,
        method: req.method().to_string(),
        path,
        status: resp.status().as_u16(),
        version: version.filter(|_| resp.status().is_success()),
    };
    if let Some(log) = &shared.log {
        let _ = log.send(fetch.clone());
    }
    lock(&shared.fetches).push(fetch);
    resp
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(format!("{body}\n"))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(version: u64, pin: &str) -> Source {
        let text = format!(
            "version = {version}\nvalid_for = \"7d\"\n[hosts.\"api.test\"]\npins = [\"{pin}\"]\n"
        );
        super::super::source::parse(std::path::Path::new("pins.toml"), &text).unwrap()
    }

    const A: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    const B: &str = "/7DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

    #[test]
    fn a_changed_source_needs_a_higher_version() {
        assert_eq!(update(None, &source(3, A)), Update::Publish);
        assert_eq!(
            update(Some(&source(3, A)), &source(3, A)),
            Update::Unchanged
        );
        assert_eq!(update(Some(&source(3, A)), &source(4, B)), Update::Publish);
        let Update::Refused(why) = update(Some(&source(3, A)), &source(3, B)) else {
            panic!("same version, other pins");
        };
        assert!(
            why.starts_with(
                "pins.toml: the content changed but the version did not go up (3 now, 3 served)"
            ),
            "{why}"
        );
        assert!(matches!(
            update(Some(&source(3, A)), &source(2, B)),
            Update::Refused(_)
        ));
    }
}
