//! A CONNECT tunnel after the 200: relay it untouched, or read the ClientHello, connect TLS to
//! the origin, present a leaf of the host's profile, watch how the client ends the handshake and
//! what it does after it, and serve its requests. For a host with `--map-local` entries the
//! origin comes last: the leaf goes out without it, mapped requests are answered here, and the
//! origin is connected at the first request that is not mapped.

use std::sync::Arc;

use http::StatusCode;
use hyper::service::service_fn;
use rustls::pki_types::CertificateDer;
use rustls::server::Acceptor;
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio::net::TcpStream;
use tokio::sync::OnceCell;

use super::conn::Conn;
use super::io::{Counted, Rewind};
use super::map_local;
use super::pool::{Link, PoolKey};
use super::upstream::{self, Answer, OriginTcp, Target, Upstream as _};
use super::{Decision, Shared};
use crate::record::{ActionKind, PresentedCert, RequestRecord, Stage};
use crate::rules::{Action, Profile};
use crate::verdict::{ClientEnd, Event};

/// The client side of a tunnel: the counted socket, with bytes hyper had read ahead.
pub(crate) type ClientIo = Rewind<Counted<TcpStream>>;

/// Most bytes read while waiting for a complete ClientHello.
const MAX_HELLO: usize = 64 * 1024;
const ALPN_H2: &[u8] = b"h2";
const ALPN_H1: &[u8] = b"http/1.1";
/// Server configurations kept before the cache is emptied (bounded like the leaf cache).
const SERVER_CONFIG_CACHE: usize = 10_000;

/// Runs a tunnel to its end.
pub(crate) async fn run(
    shared: &Arc<Shared>,
    conn: &Arc<Conn>,
    client: ClientIo,
    origin: Option<OriginTcp>,
    host: String,
    port: u16,
    decision: Decision,
) {
    let key = PoolKey { host, port };
    let host = key.host.clone();
    let profile = match decision.action {
        Action::Passthrough => {
            return passthrough(shared, conn, client, origin, &key, Vec::new(), decision).await;
        }
        Action::Intercept(profile) => profile,
    };
    conn.with(|s| s.action = Some(ActionKind::Intercept));
    conn.event(Event::InterceptOpened);
    let mut client = client;
    let hello = match tokio::time::timeout(
        shared.config.handshake_timeout,
        read_client_hello(&mut client),
    )
    .await
    {
        Ok(Ok(hello)) => hello,
        Ok(Err(HelloError::NotTls(reason))) => {
            eprintln!(
                "pin-proxy: #{} {host}:{port}: not TLS ({reason}); closed",
                conn.id
            );
            return conn.event(Event::NotTls { reason });
        }
        Ok(Err(HelloError::Ended(end))) => return conn.event(Event::HandshakeFailed(end)),
        Err(_) => return conn.event(Event::HandshakeFailed(ClientEnd::TimedOut)),
    };
    conn.event(Event::ClientHello);
    // The server name decides the rule when the client sent one (CONNECT may name an address).
    let host = hello.sni.clone().unwrap_or(host);
    conn.with(|s| {
        s.sni = hello.sni.clone();
        s.host = Some(host.clone());
    });
    let decision = shared.decide(&host);
    let profile = match decision.action {
        Action::Passthrough => {
            return passthrough(shared, conn, client, origin, &key, hello.raw, decision).await
        }
        Action::Intercept(p) if hello.sni.is_some() => p,
        Action::Intercept(_) => profile,
    };
    conn.with(|s| s.profile = Some(profile));
    intercept(shared, conn, client, origin, hello, &key, &host, profile).await;
}

/// The origin's TCP connection: the one opened before the 200, else a new one.
async fn tcp_to_origin(
    shared: &Shared,
    conn: &Conn,
    origin: Option<OriginTcp>,
    key: &PoolKey,
) -> Option<OriginTcp> {
    match origin {
        Some(tcp) => Some(tcp),
        None => connect_origin(shared, conn, key).await.ok(),
    }
}

/// Opens TCP to the connection's origin and notes its address. A failure is the connection's
/// upstream failure at connect; its reason comes back too (for a 502).
pub(crate) async fn connect_origin(
    shared: &Shared,
    conn: &Conn,
    key: &PoolKey,
) -> Result<OriginTcp, String> {
    match shared.connect(&key.host, key.port).await {
        Ok(tcp) => {
            conn.with(|s| s.upstream = tcp.addr.map(|a| a.to_string()));
            Ok(tcp)
        }
        Err(reason) => {
            conn.event(Event::UpstreamFailed {
                stage: Stage::Connect,
                reason: reason.clone(),
            });
            Err(reason)
        }
    }
}

async fn passthrough(
    shared: &Shared,
    conn: &Conn,
    client: ClientIo,
    origin: Option<OriginTcp>,
    key: &PoolKey,
    hello: Vec<u8>,
    decision: Decision,
) {
    conn.with(|s| s.action = Some(ActionKind::Passthrough));
    let Some(mut origin) = tcp_to_origin(shared, conn, origin, key).await else {
        return;
    };
    if let Some(reason) = decision.learned {
        conn.event(Event::Learned { reason });
    }
    conn.event(Event::PassthroughOpened);
    let mut client = Rewind::new(hello, client);
    // Errors (a reset from either side) end the tunnel like a close does.
    let _ = tokio::io::copy_bidirectional(&mut client, &mut origin.stream).await;
    conn.event(Event::TunnelClosed);
}

/// What the ClientHello said, and its raw bytes to replay.
struct Hello {
    raw: Vec<u8>,
    /// Where the records carrying the ClientHello end in `raw` (bytes after it came with it).
    hello_end: usize,
    sni: Option<String>,
    alpn: Vec<Vec<u8>>,
}

enum HelloError {
    NotTls(String),
    Ended(ClientEnd),
}

async fn read_client_hello<T: AsyncRead + Unpin>(io: &mut T) -> Result<Hello, HelloError> {
    let mut raw = Vec::new();
    let mut acceptor = Acceptor::default();
    // On the heap: an array would be part of the connection's future for its whole life.
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match io.read(&mut buf).await {
            Ok(0) => return Err(HelloError::Ended(ClientEnd::Eof)),
            Ok(n) => n,
            Err(e) => return Err(HelloError::Ended(crate::tls::peer_end(&e))),
        };
        if raw.is_empty() && buf[0] != 0x16 {
            return Err(HelloError::NotTls(describe_bytes(&buf[..n])));
        }
        raw.extend_from_slice(&buf[..n]);
        let mut chunk = &buf[..n];
        while !chunk.is_empty() {
            match acceptor.read_tls(&mut chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(HelloError::NotTls(format!("unreadable TLS record: {e}"))),
            }
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => {
                let hello = accepted.client_hello();
                let sni = hello.server_name().map(str::to_ascii_lowercase);
                let alpn = hello
                    .alpn()
                    .map(|protocols| protocols.map(<[u8]>::to_vec).collect())
                    .unwrap_or_default();
                let hello_end = hello_records_len(&raw).unwrap_or(raw.len());
                return Ok(Hello {
                    raw,
                    hello_end,
                    sni,
                    alpn,
                });
            }
            Ok(None) => {}
            Err((e, _alert)) => {
                return Err(HelloError::Ended(ClientEnd::Error(format!(
                    "bad ClientHello: {e}"
                ))))
            }
        }
        if raw.len() > MAX_HELLO {
            return Err(HelloError::NotTls("ClientHello larger than 64 KiB".into()));
        }
    }
}

/// The length of the TLS records that carry the first handshake message (the ClientHello) at
/// the start of `raw`, or `None` if they are not all there or not well formed.
fn hello_records_len(raw: &[u8]) -> Option<usize> {
    let mut at = 0;
    let mut payload: Vec<u8> = Vec::new();
    loop {
        let header = raw.get(at..at + 5)?;
        if header[0] != 0x16 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        payload.extend_from_slice(raw.get(at + 5..at + 5 + len)?);
        at += 5 + len;
        if let Some(h) = payload.get(..4) {
            let message =
                4 + (usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]));
            if payload.len() >= message {
                return Some(at);
            }
        }
    }
}

/// A short printable description of the first bytes of a non-TLS stream.
fn describe_bytes(bytes: &[u8]) -> String {
    let shown: String = bytes
        .iter()
        .take(24)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    format!("first bytes {shown:?}")
}

#[allow(clippy::too_many_arguments)]
async fn intercept(
    shared: &Arc<Shared>,
    conn: &Arc<Conn>,
    client: ClientIo,
    origin: Option<OriginTcp>,
    hello: Hello,
    key: &PoolKey,
    host: &str,
    profile: Profile,
) {
    let offered: Vec<Vec<u8>> = hello
        .alpn
        .iter()
        .filter(|p| p.as_slice() == ALPN_H2 || p.as_slice() == ALPN_H1)
        .cloned()
        .collect();
    // 1. An HTTP connection to the origin first (a kept one, or TLS offering what the client
    //    offered), so both sides speak the same HTTP version and an origin failure is reported
    //    before any certificate goes out. Not for a host with --map-local entries: its origin
    //    is reached at the first request that is not mapped, if one comes.
    //    `smuggle-chain` needs the origin's chain before its certificate goes out, mapped or not.
    let mapped = shared.config.map_local.origin(true, host, key.port);
    let smuggle = profile == Profile::SmuggleChain;
    let (origin, client_alpn, h2, origin_chain) = if mapped.is_none() || smuggle {
        match ready_link(shared, conn, origin, &offered, key, host).await {
            Some(ready) => ready,
            None => return,
        }
    } else {
        // No origin to follow: HTTP/1.1 when the client offers it (or nothing), HTTP/2 only
        // for a client that offers nothing else.
        let h2 = !offered.is_empty() && !offered.iter().any(|p| p == ALPN_H1);
        let client_alpn = offered
            .iter()
            .find(|p| p.as_slice() == if h2 { ALPN_H2 } else { ALPN_H1 })
            .cloned()
            .into_iter()
            .collect();
        // A TCP connection opened before the 200 (the CONNECT host had no entries, the SNI
        // has) is let go: it could be stale by the time a request needs the origin.
        drop(origin);
        let lazy = LazyLink {
            shared: shared.clone(),
            key: key.clone(),
            server_name: host.to_string(),
            h2_client: h2,
            link: OnceCell::new(),
        };
        (OriginLink::Lazy(Arc::new(lazy)), client_alpn, h2, None)
    };
    let port = key.port;

    // 2. Our certificate for the host.
    let leaf = match shared.issuer.leaf(host, profile) {
        Ok(leaf) => leaf,
        Err(e) => {
            eprintln!("pin-proxy: #{} {host}: {e}", conn.id);
            return conn.event(Event::HandshakeFailed(ClientEnd::Error(e.to_string())));
        }
    };
    let (certified, presented) = match origin_chain.filter(|_| smuggle) {
        Some(origin_chain) => smuggled(shared, &leaf, &origin_chain),
        None => (leaf.certified.clone(), leaf.presented.clone()),
    };
    let config = match server_config(shared, host, profile, &certified, client_alpn) {
        Ok(c) => c,
        Err(e) => return conn.event(Event::HandshakeFailed(ClientEnd::Error(e))),
    };

    // 3. The client's handshake, replaying the ClientHello we read.
    conn.stats.watch_flight();
    let client = Rewind::with_boundary(hello.raw, hello.hello_end, client);
    let accepted = tokio::time::timeout(shared.config.handshake_timeout, async {
        let start = tokio_rustls::LazyConfigAcceptor::new(Acceptor::default(), client).await?;
        start.into_stream(config).await
    })
    .await;
    if conn.stats.presented() || matches!(accepted, Ok(Ok(_))) {
        conn.with(|s| {
            s.presented_pin = Some(leaf.pin.clone());
            s.presented_chain = Some(presented);
        });
        conn.event(Event::CertificatePresented);
    }
    let mut tls = match accepted {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return conn.event(Event::HandshakeFailed(crate::tls::peer_end(&e))),
        Err(_) => return conn.event(Event::HandshakeFailed(ClientEnd::TimedOut)),
    };
    let (_, session) = tls.get_ref();
    let version = session.protocol_version().map(crate::tls::version_name);
    let alpn = session
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    conn.with(|s| {
        s.tls_version = version;
        s.alpn = alpn;
    });
    conn.event(Event::HandshakeCompleted);

    // 4. The client's first move: data, a close, or nothing until decide-after.
    let mut first = vec![0u8; 16 * 1024];
    let mut waits = [shared.config.decide_after, shared.config.idle_timeout].into_iter();
    let n = loop {
        let Some(wait) = waits.next() else {
            return; // idle past both bounds: the proxy closes it; the verdict stays undecided
        };
        match tokio::time::timeout(wait, tls.read(&mut first)).await {
            Ok(Ok(0)) => return conn.event(Event::ClientClosed(ClientEnd::CloseNotify)),
            Ok(Ok(n)) => break n,
            Ok(Err(e)) => return conn.event(Event::ClientClosed(crate::tls::peer_end(&e))),
            Err(_) => conn.event(Event::DecideDeadline),
        }
    };
    first.truncate(n);
    conn.event(Event::ApplicationData);

    // 5. Serve its requests through the origin connection.
    let io = Rewind::new(first, tls);
    let service = {
        let conn = conn.clone();
        // Shared by every request's future (a clone per request is a count, not a copy).
        let host: Arc<str> = Arc::from(host);
        let keep_query = shared.config.keep_query;
        let shutdown = shared.shutdown.clone();
        service_fn(move |req| {
            let (conn, host, origin, mapped, shutdown) = (
                conn.clone(),
                host.clone(),
                origin.clone(),
                mapped.clone(),
                shutdown.clone(),
            );
            async move {
                let target = Target {
                    scheme: "https",
                    host: &host,
                    port,
                };
                // Listed when read: a request never answered still shows in the record.
                let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
                let local = mapped.as_deref().and_then(|m| m.find(path));
                let mut record = RequestRecord::new(req.method().as_str(), path, keep_query);
                record.mapped_local = local.is_some();
                let index = conn.request_read(record);
                let answer = if let Some(entry) = local {
                    map_local::drain(req.into_body()).await;
                    let resp = entry.response();
                    Answer {
                        status: resp.status().as_u16(),
                        resp,
                        error: None,
                    }
                } else {
                    let lazy_link;
                    let link = match &origin {
                        OriginLink::Ready(link) => Ok(link.as_ref()),
                        OriginLink::Lazy(lazy) => match lazy.get(&conn).await {
                            Ok(link) => {
                                lazy_link = link;
                                Ok(lazy_link.as_ref())
                            }
                            Err(e) => Err(e),
                        },
                    };
                    match link {
                        Ok(link) => upstream::forward(link, req, &target, shutdown).await,
                        Err(e) => Answer::error(
                            StatusCode::BAD_GATEWAY,
                            format!("pin-proxy: cannot reach {host}:{port}: {e}\n"),
                            e,
                        ),
                    }
                };
                if let Some(error) = &answer.error {
                    conn.request_failed(&conn.request_line(index), answer.status, error);
                }
                conn.event(Event::Answered {
                    index,
                    status: Some(answer.status),
                    error: answer.error,
                });
                Ok::<_, std::convert::Infallible>(answer.resp)
            }
        })
    };
    crate::tls::serve_http(io, service, h2).await;
}

/// A client connection's way to its origin.
#[derive(Clone)]
enum OriginLink {
    /// Opened (or taken from the pool) before the client's handshake.
    Ready(Arc<Link>),
    /// A host with `--map-local` entries: opened at the first request that is not mapped.
    Lazy(Arc<LazyLink>),
}

/// The origin connection of a client connection that has none yet, and the protocol its client
/// was given (the origin's own choice is followed on the origin's side only).
struct LazyLink {
    shared: Arc<Shared>,
    key: PoolKey,
    server_name: String,
    /// The client speaks HTTP/2: any origin protocol will do (requests are rewritten for it).
    h2_client: bool,
    link: OnceCell<Arc<Link>>,
}

impl LazyLink {
    /// The link, opened now if it is not yet. A failure is this request's (a 502); the next
    /// request tries again.
    async fn get(&self, conn: &Conn) -> Result<Arc<Link>, String> {
        if let Some(link) = self.link.get() {
            return Ok(link.clone());
        }
        // Boxed: the rare path, kept out of every request's future.
        Box::pin(self.link.get_or_try_init(|| self.open(conn)))
            .await
            .cloned()
    }

    async fn open(&self, conn: &Conn) -> Result<Arc<Link>, String> {
        let h2_client = self.h2_client;
        let fits = |alpn: Option<&[u8]>| h2_client || alpn.is_none_or(|p| p == ALPN_H1);
        let lease = match self.shared.pool.take(&self.key, &self.server_name, fits) {
            Some(lease) => lease,
            None => {
                let tcp = self.shared.connect(&self.key.host, self.key.port).await?;
                let offer = if h2_client {
                    vec![ALPN_H2.to_vec(), ALPN_H1.to_vec()]
                } else {
                    vec![ALPN_H1.to_vec()]
                };
                upstream::open(&self.shared, tcp, &self.server_name, offer).await?
            }
        };
        conn.with(|s| s.upstream = lease.addr.map(|a| a.to_string()));
        Ok(Arc::new(Link::new(
            self.shared.clone(),
            self.key.clone(),
            lease,
        )))
    }
}

/// The `smuggle-chain` chain: the forged leaf and the local CA (`leaf`), then every certificate
/// the origin sent, in its order, then the root that verified them when the proxy holds it and
/// the origin did not send it. The leaf's key signs; the record describes every certificate.
fn smuggled(
    shared: &Shared,
    leaf: &crate::ca::leaf::Leaf,
    origin_chain: &[CertificateDer<'static>],
) -> (Arc<CertifiedKey>, Arc<[PresentedCert]>) {
    let mut added = origin_chain.to_vec();
    if let Some(root) = shared.origin_root(origin_chain) {
        if !added.contains(&root) {
            added.push(root);
        }
    }
    let mut chain = leaf.certified.cert.clone();
    let first = chain.len();
    chain.extend(added.iter().cloned());
    let mut presented = leaf.presented.to_vec();
    presented.extend(crate::ca::leaf::describe(&added, first));
    let certified = CertifiedKey::new(chain, leaf.certified.key.clone());
    (Arc::new(certified), presented.into())
}

/// Step 1 for a host without `--map-local` entries (or presented `smuggle-chain`): an origin
/// connection before the client's handshake, the protocol to offer the client (the origin's)
/// and the certificates the origin sent. `None`: the origin failed, and the connection's
/// upstream failure is recorded.
async fn ready_link(
    shared: &Arc<Shared>,
    conn: &Conn,
    origin: Option<OriginTcp>,
    offered: &[Vec<u8>],
    key: &PoolKey,
    host: &str,
) -> Option<(OriginLink, Vec<Vec<u8>>, bool, Option<OriginChain>)> {
    let fits = |alpn: Option<&[u8]>| match alpn {
        Some(p) => offered.iter().any(|o| o == p),
        None => offered.is_empty() || offered.iter().any(|o| o == ALPN_H1),
    };
    let lease = match shared.pool.take(key, host, fits) {
        Some(lease) => {
            conn.with(|s| s.upstream = lease.addr.map(|a| a.to_string()));
            lease
        }
        None => {
            let tcp = tcp_to_origin(shared, conn, origin, key).await?;
            match upstream::open(shared, tcp, host, offered.to_vec()).await {
                Ok(lease) => lease,
                Err(reason) => {
                    conn.event(Event::UpstreamFailed {
                        stage: Stage::Handshake,
                        reason,
                    });
                    return None;
                }
            }
        }
    };
    let origin_alpn = lease.alpn.clone();
    let origin_chain = lease.chain.clone();
    // Requests borrow origin connections through the link; whatever it holds when the client
    // connection ends goes back to the pool.
    let link = Arc::new(Link::new(shared.clone(), key.clone(), lease));
    let client_alpn = match origin_alpn {
        Some(p) => vec![p],
        None if offered.iter().any(|p| p == ALPN_H1) => vec![ALPN_H1.to_vec()],
        None => Vec::new(),
    };
    let h2 = link.is_h2();
    Some((OriginLink::Ready(link), client_alpn, h2, Some(origin_chain)))
}

/// The certificates an origin sent, leaf first.
type OriginChain = Arc<[CertificateDer<'static>]>;

/// The server configuration for (host, profile, ALPN), built once and kept: building one per
/// connection costs more than the lookup.
fn server_config(
    shared: &Shared,
    host: &str,
    profile: Profile,
    cert: &Arc<CertifiedKey>,
    alpn: Vec<Vec<u8>>,
) -> Result<Arc<ServerConfig>, String> {
    let key = (host.to_string(), profile, alpn);
    if let Some((kept_cert, config)) = crate::lock(&shared.server_configs).get(&key) {
        // Only for the same leaf: the leaf cache may have issued a new one since. A smuggled
        // chain is made per connection: the same certificates are the same chain.
        let same = Arc::ptr_eq(kept_cert, cert)
            || (profile == Profile::SmuggleChain && kept_cert.cert == cert.cert);
        if same {
            return Ok(config.clone());
        }
    }
    let mut config =
        crate::tls::server_config(shared.client_provider.clone(), cert.clone(), key.2.clone())?;
    // Our suite order (cheapest first) over the client's: the certificate and the verdict do
    // not depend on the suite.
    config.ignore_client_order = true;
    // No resumption: every connection must see (and judge) the certificate.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    if let Some(keylog) = &shared.keylog {
        config.key_log = keylog.clone();
    }
    let config = Arc::new(config);
    let mut configs = crate::lock(&shared.server_configs);
    if configs.len() >= SERVER_CONFIG_CACHE {
        configs.clear();
    }
    configs.insert(key, (cert.clone(), config.clone()));
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::hello_records_len;

    fn record(payload: &[u8]) -> Vec<u8> {
        let len = u16::try_from(payload.len()).unwrap().to_be_bytes();
        [&[0x16, 3, 1, len[0], len[1]][..], payload].concat()
    }

    #[test]
    fn the_client_hello_records_are_measured_without_what_follows() {
        // A 6-byte handshake message (type 1, length 2).
        let hello = [1, 0, 0, 2, 0xaa, 0xbb];
        let one = record(&hello);
        assert_eq!(hello_records_len(&one), Some(one.len()));
        let mut with_more = one.clone();
        with_more.extend_from_slice(b"junk");
        assert_eq!(hello_records_len(&with_more), Some(one.len()));
        // Split across two records.
        let two = [record(&hello[..3]), record(&hello[3..])].concat();
        assert_eq!(hello_records_len(&two), Some(two.len()));
        assert_eq!(hello_records_len(&two[..two.len() - 1]), None);
        assert_eq!(hello_records_len(b"GET / HTTP/1.1"), None);
    }
}
