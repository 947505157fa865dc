//! The I/O shell: accepts client connections, answers CONNECT and plain-HTTP proxy requests,
//! terminates or relays TLS, forwards requests to origins, and feeds what it observes into the
//! verdict core.
//!
//! Built on tokio, tokio-rustls and hyper 1. It decides nothing about verdicts (that is
//! `verdict`), owns no certificates (that is `ca`) and writes no files except the key log: each
//! connection's [`ConnectionRecord`] goes out on a channel to whoever runs the proxy. With
//! [`ProxyConfig::threads`] above one, the caller's runtime accepts and deals connections out to
//! serving threads, each with its own single-threaded runtime and origin pool.

mod client_cert;
mod conn;
mod door;
mod front;
mod install_page;
mod io;
mod keylog;
mod learn;
mod map_local;
mod own;
mod pool;
mod socks;
mod transparent;
mod tunnel;
mod upstream;
mod upstream_proxy;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, KeyLog, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

pub use client_cert::{ClientCert, ClientCertSpec, ClientCerts};
pub use install_page::MAGIC_HOST;
pub use learn::LearnConfig;
pub use map_local::{guess_content_type, MapLocal, MapLocalSpec, MapLocals, MappedUrl, SpecAnswer};
pub use upstream::UpstreamTrust;
pub use upstream_proxy::UpstreamProxy;

use crate::ca::leaf::LeafIssuer;
use crate::error::{Error, Result};
use crate::record::{ConnectionRecord, ListenerKind};
use crate::rules::{Action, HostMap, Profile, Rules};

/// Everything the proxy needs to know besides its certificates.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// The HTTP proxy listener's address (default 127.0.0.1:8080); `None`: no HTTP listener.
    pub listen: Option<SocketAddr>,
    /// The SOCKS5 listener's address (`--socks5`).
    pub socks5: Option<SocketAddr>,
    /// The transparent listener's address (`--transparent`, Linux): connections redirected to
    /// it by iptables/nftables `REDIRECT`.
    pub transparent: Option<SocketAddr>,
    /// Host rules.
    pub rules: Rules,
    /// `--map` entries.
    pub maps: Vec<HostMap>,
    /// `--map-local` entries: requests the proxy answers itself, without asking the origin.
    pub map_local: MapLocals,
    /// Look up hosts that no `--map` entry names in DNS. The scenario runner turns this off so
    /// that a case never reaches past its own test origins.
    pub resolve_unmapped: bool,
    /// How origins are trusted.
    pub upstream: UpstreamTrust,
    /// `--upstream-proxy`: origin connections go through this HTTP proxy's CONNECT (hosts
    /// matching its bypass globs aside). `None`: every origin is connected directly.
    pub upstream_proxy: Option<UpstreamProxy>,
    /// `--client-cert`: the client certificates presented to origins that ask for one (the
    /// first entry matching the host).
    pub client_certs: ClientCerts,
    /// After a completed handshake, how long an idle connection may wait for its first byte
    /// before it is undecided (it is still served if data comes later).
    pub decide_after: Duration,
    /// How long an idle connection is kept after `decide_after` before the proxy closes it.
    pub idle_timeout: Duration,
    /// Bound on the client's TLS handshake (and on reading its ClientHello).
    pub handshake_timeout: Duration,
    /// Bound on reading a proxy request's head.
    pub header_timeout: Duration,
    /// Bound on connecting to (and handshaking with) an origin.
    pub connect_timeout: Duration,
    /// How long an unused origin connection is kept for reuse (zero: no reuse).
    pub upstream_idle_timeout: Duration,
    /// Keep query values in recorded request paths.
    pub keep_query: bool,
    /// Write TLS secrets here (SSLKEYLOGFILE format).
    pub keylog: Option<PathBuf>,
    /// Threads serving connections. The runtime that runs the proxy accepts every connection and
    /// hands them out in turn; each other thread has its own single-threaded runtime and origin
    /// pool and serves its connections start to end, so a connection never wakes another thread
    /// after it is handed over. 1 serves everything on the runtime that runs the proxy.
    pub threads: usize,
    /// `--auth`: every proxy request (CONNECT or plain HTTP) must carry these Basic
    /// credentials; the install page served directly is exempt.
    pub auth: Option<crate::access::Credentials>,
    /// `--allow-from`: clients outside these ranges (loopback aside) are disconnected.
    pub allow_from: crate::access::AllowList,
    /// `--learn`: pass through the hosts whose client cancelled (see `rules::learn`).
    pub learn: Option<LearnConfig>,
    /// Told the host of a connection the moment it first proceeds (application data through
    /// an intercept, or a plain-HTTP request), long before its record: the scenario runner
    /// waiting for a device's verdict. `None` costs nothing.
    pub proceeded: Option<mpsc::UnboundedSender<String>>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
            socks5: None,
            transparent: None,
            rules: Rules::default(),
            maps: Vec::new(),
            map_local: MapLocals::default(),
            resolve_unmapped: true,
            upstream: UpstreamTrust {
                system_roots: true,
                ..UpstreamTrust::default()
            },
            upstream_proxy: None,
            client_certs: ClientCerts::default(),
            decide_after: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            upstream_idle_timeout: Duration::from_secs(30),
            keep_query: false,
            keylog: None,
            threads: 1,
            auth: None,
            allow_from: crate::access::AllowList::default(),
            learn: None,
            proceeded: None,
        }
    }
}

/// What the proxy does for a host, and the reason when learn mode decided it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) action: Action,
    /// `learned: cancelled N times` when the host passes through because it was learned.
    pub(crate) learned: Option<String>,
}

/// The crypto provider for handshakes with clients: aws-lc-rs with AES-128-GCM/SHA-256 first.
/// Where SHA-256 has CPU instructions and SHA-384 does not, its key schedule is the cheaper one;
/// every suite stays available for clients that want another.
fn client_facing_provider() -> CryptoProvider {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    let preferred = [
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ];
    provider
        .cipher_suites
        .sort_by_key(|s| !preferred.contains(&s.suite()));
    provider
}

/// What a client-side TLS configuration depends on: host, profile, ALPN protocols.
pub(crate) type ServerConfigKey = (String, Profile, Vec<Vec<u8>>);
/// A kept client-side TLS configuration and the leaf it presents.
pub(crate) type KeptServerConfig = (Arc<CertifiedKey>, Arc<ServerConfig>);

/// State shared by every connection task.
pub(crate) struct Shared {
    pub(crate) config: ProxyConfig,
    pub(crate) issuer: Arc<LeafIssuer>,
    /// The provider for handshakes with clients (see [`client_facing_provider`]).
    pub(crate) client_provider: Arc<CryptoProvider>,
    pub(crate) upstream_tls: Arc<ClientConfig>,
    pub(crate) pool: Arc<pool::Pool>,
    /// Client-side TLS configurations by (host, profile, ALPN), with the leaf each presents.
    pub(crate) server_configs: Mutex<HashMap<ServerConfigKey, KeptServerConfig>>,
    pub(crate) keylog: Option<Arc<dyn KeyLog>>,
    pub(crate) records: mpsc::UnboundedSender<ConnectionRecord>,
    pub(crate) live: Arc<conn::Live>,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Learn mode's learner, shared by every serving thread.
    pub(crate) learn: Option<Arc<learn::LearnState>>,
    /// With a transparent listener: the proxy's own recent origin connections and its
    /// listening addresses, to refuse a redirect loop.
    pub(crate) own: Option<Arc<own::OwnConnections>>,
    /// The origins' roots as certificates, loaded at start when a rule presents
    /// `smuggle-chain` (see [`upstream::origin_roots`]).
    pub(crate) origin_roots: Option<Arc<crate::trust::Roots>>,
}

impl Shared {
    /// The action for `host`: an explicit rule, else a learned passthrough, else `forged`.
    pub(crate) fn decide(&self, host: &str) -> Decision {
        if let Some(reason) = self.learn.as_ref().and_then(|l| l.passthrough_reason(host)) {
            return Decision {
                action: Action::Passthrough,
                learned: Some(reason),
            };
        }
        Decision {
            action: self.config.rules.action_for(host),
            learned: None,
        }
    }

    /// The state of another serving thread: everything shared but the origin pool and the TLS
    /// configuration cache, which each thread keeps for itself.
    fn shard(&self) -> Shared {
        Shared {
            config: self.config.clone(),
            issuer: self.issuer.clone(),
            client_provider: self.client_provider.clone(),
            upstream_tls: self.upstream_tls.clone(),
            pool: Arc::new(pool::Pool::new(self.config.upstream_idle_timeout)),
            server_configs: Mutex::default(),
            keylog: self.keylog.clone(),
            records: self.records.clone(),
            live: self.live.clone(),
            shutdown: self.shutdown.clone(),
            learn: self.learn.clone(),
            own: self.own.clone(),
            origin_roots: self.origin_roots.clone(),
        }
    }

    /// The root certificate that verified an origin's `chain`, when the proxy holds it as a
    /// certificate (`--upstream-ca` files, the system's roots unless they are off).
    pub(crate) fn origin_root(
        &self,
        chain: &[rustls::pki_types::CertificateDer<'_>],
    ) -> Option<rustls::pki_types::CertificateDer<'static>> {
        let now = rustls::pki_types::UnixTime::now();
        self.origin_roots
            .as_ref()?
            .anchor_cert(chain, &self.client_provider, now)
            .cloned()
    }

    /// Opens TCP to an origin (see [`upstream::connect`]); with a transparent listener, the
    /// connection is noted first so that, redirected back to the proxy, it is recognised.
    pub(crate) async fn connect(
        &self,
        host: &str,
        port: u16,
    ) -> std::result::Result<upstream::OriginTcp, String> {
        let tcp = upstream::connect(host, port, &self.config).await?;
        if let Some(own) = &self.own {
            own.note(&tcp.stream);
        }
        Ok(tcp)
    }
}

/// Watches a proxy's open connections (see [`Proxy::connections`]).
#[derive(Clone, Debug)]
pub struct Connections(Arc<conn::Live>);

impl Connections {
    /// Completes when no connection is open, i.e. each accepted one has sent its record.
    pub async fn idle(&self) {
        self.0.all_done().await;
    }
}

/// A bound proxy, ready to run.
pub struct Proxy {
    /// Every front door, in the order HTTP, SOCKS5, transparent.
    listeners: Vec<(ListenerKind, TcpListener)>,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
}

impl Proxy {
    /// Binds the listener and prepares TLS. Records go to `records`, one per connection.
    pub async fn bind(
        config: ProxyConfig,
        issuer: Arc<LeafIssuer>,
        records: mpsc::UnboundedSender<ConnectionRecord>,
    ) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let keylog: Option<Arc<dyn KeyLog>> = match &config.keylog {
            Some(path) => Some(Arc::new(keylog::KeyLogFile::create(path)?)),
            None => None,
        };
        let upstream_tls = Arc::new(upstream::client_config(
            &config.upstream,
            provider.clone(),
            keylog.clone(),
        )?);
        let smuggles = config
            .rules
            .rules()
            .iter()
            .any(|r| r.action == Action::Intercept(Profile::SmuggleChain));
        let origin_roots = smuggles.then(|| Arc::new(upstream::origin_roots(&config.upstream)));
        let mut listeners = Vec::new();
        let doors = [
            (ListenerKind::Http, config.listen),
            (ListenerKind::Socks5, config.socks5),
            (ListenerKind::Transparent, config.transparent),
        ];
        for (kind, addr) in doors {
            let Some(addr) = addr else { continue };
            if kind == ListenerKind::Transparent && !cfg!(target_os = "linux") {
                return Err(Error::input(
                    "--transparent",
                    "transparent mode needs Linux (SO_ORIGINAL_DST)",
                ));
            }
            let listener = TcpListener::bind(addr).await.map_err(|e| {
                Error::runtime(format!("cannot listen on {addr} ({}): {e}", kind.name()))
            })?;
            listeners.push((kind, listener));
        }
        if listeners.is_empty() {
            return Err(Error::input("--listen", "no listener to start"));
        }
        let own = match config.transparent {
            Some(_) => {
                let addrs = listeners
                    .iter()
                    .filter_map(|(_, l)| l.local_addr().ok())
                    .collect();
                Some(Arc::new(own::OwnConnections::new(addrs)))
            }
            None => None,
        };
        let (shutdown, shutdown_rx) = watch::channel(false);
        let pool = Arc::new(pool::Pool::new(config.upstream_idle_timeout));
        let learn = config
            .learn
            .as_ref()
            .map(|l| Arc::new(learn::LearnState::new(l, &config.rules)));
        Ok(Self {
            listeners,
            shared: Arc::new(Shared {
                pool,
                server_configs: Mutex::default(),
                config,
                issuer,
                client_provider: Arc::new(client_facing_provider()),
                upstream_tls,
                keylog,
                records,
                live: Arc::default(),
                shutdown: shutdown_rx,
                learn,
                own,
                origin_roots,
            }),
            shutdown,
        })
    }

    /// The address actually bound by the first listener, the HTTP one when there is one
    /// (useful with port 0).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        match self.addrs()?.first() {
            Some((_, addr)) => Ok(*addr),
            None => Err(Error::runtime("no listener")),
        }
    }

    /// Every listener's kind and bound address, HTTP first.
    pub fn addrs(&self) -> Result<Vec<(ListenerKind, SocketAddr)>> {
        self.listeners
            .iter()
            .map(|(kind, l)| {
                l.local_addr()
                    .map(|a| (*kind, a))
                    .map_err(|e| Error::runtime(format!("cannot read the listening address: {e}")))
            })
            .collect()
    }

    /// A handle that tells when no connection is open (every record sent).
    pub fn connections(&self) -> Connections {
        Connections(self.shared.live.clone())
    }

    /// Serves until `stop` completes, then ends every connection and returns once each one's
    /// record has been sent.
    pub async fn run_until(self, stop: impl std::future::Future<Output = ()>) -> Result<()> {
        let Proxy {
            listeners,
            shared,
            shutdown,
        } = self;
        // The other serving threads, each on its own runtime, take the connections handed to
        // them and stop at the shutdown signal.
        let mut threads = Vec::new();
        let mut handoffs = Vec::new();
        for i in 1..shared.config.threads.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::runtime(format!("cannot start a serving thread: {e}")))?;
            let shard = Arc::new(shared.shard());
            let (handoff, handed) = mpsc::unbounded_channel();
            let thread = std::thread::Builder::new()
                .name(format!("pin-proxy-{}", i + 1))
                .spawn(move || {
                    runtime.block_on(async move {
                        let mut signal = shard.shutdown.clone();
                        let stop = async move {
                            let _ = signal.wait_for(|stop| *stop).await;
                        };
                        serve(Source::Handed(handed), &shard, stop, || {}).await;
                    });
                })
                .map_err(|e| Error::runtime(format!("cannot start a serving thread: {e}")))?;
            threads.push(thread);
            handoffs.push(handoff);
        }
        let source = Source::Accepted {
            listeners,
            turn: 0,
            next_id: 1,
            handoffs,
        };
        serve(source, &shared, stop, || {
            let _ = shutdown.send(true);
        })
        .await;
        for thread in threads {
            // Each has ended its connections within the same bounds as this one.
            let joined = tokio::task::spawn_blocking(move || thread.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                eprintln!("pin-proxy: a serving thread failed");
            }
        }
        Ok(())
    }
}

/// An accepted client connection on its way to the thread that serves it.
struct Handoff {
    stream: std::net::TcpStream,
    conn: Arc<conn::Conn>,
}

/// Where a serving thread's connections come from.
enum Source {
    /// The listener: connections are numbered in the order accepted and dealt out in turn, to
    /// this thread and then to each of `handoffs`.
    Accepted {
        listeners: Vec<(ListenerKind, TcpListener)>,
        /// The listener polled first next time, so that none starves the others.
        turn: usize,
        next_id: u64,
        handoffs: Vec<mpsc::UnboundedSender<Handoff>>,
    },
    /// Connections the accepting thread handed over.
    Handed(mpsc::UnboundedReceiver<Handoff>),
}

impl Source {
    /// The next connection for this thread. Its [`conn::Conn`] exists from the accept on, so a
    /// connection lost on the way still gets its record. Once there can be none, it stays
    /// pending: only the stop ends a serving loop. An error is the listener's.
    async fn next(&mut self, shared: &Shared) -> std::io::Result<(TcpStream, Arc<conn::Conn>)> {
        loop {
            match self {
                Source::Accepted {
                    listeners,
                    turn,
                    next_id,
                    handoffs,
                } => {
                    let (at, (stream, peer)) = accept(listeners, turn).await?;
                    let (kind, listener) = &listeners[at];
                    let id = *next_id;
                    *next_id += 1;
                    let conn = Arc::new(conn::Conn::new(id, peer, *kind, shared));
                    // A listener on loopback is reached from this machine only, from any of
                    // its addresses: an iptables REDIRECT keeps the app's source address.
                    if !shared.config.allow_from.allows(peer.ip())
                        && !listener
                            .local_addr()
                            .is_ok_and(|a| crate::access::canonical(a.ip()).is_loopback())
                    {
                        // Closed unread; its one record says why.
                        conn.event(crate::verdict::Event::BadProxyRequest {
                            reason: crate::access::NOT_ALLOWED.to_string(),
                        });
                        drop(stream);
                        continue;
                    }
                    let turn = usize::try_from(id % (handoffs.len() as u64 + 1)).unwrap_or(0);
                    let Some(handoff) = turn.checked_sub(1).and_then(|t| handoffs.get(t)) else {
                        return Ok((stream, conn));
                    };
                    // Out of this runtime and into the other's; should that thread be gone, the
                    // connection is served here.
                    let stream = match stream.into_std() {
                        Ok(s) => s,
                        Err(e) => {
                            eprintln!("pin-proxy: #{id}: cannot hand the connection over: {e}");
                            continue;
                        }
                    };
                    if let Err(mpsc::error::SendError(back)) =
                        handoff.send(Handoff { stream, conn })
                    {
                        match TcpStream::from_std(back.stream) {
                            Ok(stream) => return Ok((stream, back.conn)),
                            Err(e) => eprintln!("pin-proxy: #{id}: cannot serve it: {e}"),
                        }
                    }
                }
                Source::Handed(handed) => match handed.recv().await {
                    Some(h) => match TcpStream::from_std(h.stream) {
                        Ok(stream) => return Ok((stream, h.conn)),
                        Err(e) => eprintln!("pin-proxy: #{}: cannot serve it: {e}", h.conn.id),
                    },
                    None => std::future::pending::<()>().await,
                },
            }
        }
    }
}

/// The next connection on any of `listeners`, starting with the one at `turn` (then moved on),
/// with the index of the listener that accepted it.
async fn accept(
    listeners: &[(ListenerKind, TcpListener)],
    turn: &mut usize,
) -> std::io::Result<(usize, (TcpStream, SocketAddr))> {
    std::future::poll_fn(|cx| {
        let n = listeners.len();
        for i in 0..n {
            let at = (*turn + i) % n;
            if let std::task::Poll::Ready(result) = listeners[at].1.poll_accept(cx) {
                *turn = (at + 1) % n;
                return std::task::Poll::Ready(result.map(|accepted| (at, accepted)));
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// One serving thread's loop: serves what `source` gives until `stop`, then (after `stopped`,
/// which tells the other threads) ends its connections and lets its pool go.
async fn serve(
    mut source: Source,
    shared: &Arc<Shared>,
    stop: impl std::future::Future<Output = ()>,
    stopped: impl FnOnce(),
) {
    let mut tasks = JoinSet::new();
    let sweeper = {
        let pool = shared.pool.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(pool.sweep_every());
            loop {
                tick.tick().await;
                pool.sweep();
            }
        })
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            next = source.next(shared) => match next {
                Ok((stream, conn)) => {
                    let _ = stream.set_nodelay(true);
                    tasks.spawn(front::serve(shared.clone(), conn, stream));
                }
                Err(e) => {
                    // Out of file descriptors and the like: say so, back off, go on.
                    eprintln!("pin-proxy: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(source);
    stopped();
    // Connections end at the signal; give them a moment, then drop what is left.
    let _ = tokio::time::timeout(Duration::from_secs(2), shared.live.all_done()).await;
    tasks.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), shared.live.all_done()).await;
    sweeper.abort();
    shared.pool.clear();
}
