//! Robustness of the proxy shell: thousands of concurrent connections, stalled clients, resets
//! and misbehaving origins, file descriptors after a burst, SIGTERM under load, and bad input at
//! every boundary (the proxy request, the tunnel's TLS, the command line and its files).
//!
//! Everything runs on loopback against the real binary (`Harness`), with real TLS (rustls, or
//! curl) and small hand-written origins where a fault is needed. Verdicts are read from the
//! events file and matched to connections by the client's address (the async clients each use
//! a loopback source address of their own, see `connect_from_a_fresh_source`).
//!
//! The load tests take `LOAD` so that they do not run at the same time: they are correctness
//! checks, not speed targets, and a stalled-client check that shares two cores with 2,000
//! handshakes would only measure the machine.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{
    bin, client_hello, connect_tunnel, run_cli, rustls_client, rustls_handshake, wait_for_records,
    Harness, Opts, StderrLog, HOST,
};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use pin_proxy::record::{ActionKind, ConnectionRecord, Stage, VerdictKind};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

// ---------------------------------------------------------------------------------------------
// Harness plumbing
// ---------------------------------------------------------------------------------------------

/// Load tests run one at a time (see the module comment).
static LOAD: Mutex<()> = Mutex::new(());

fn load_lock() -> MutexGuard<'static, ()> {
    LOAD.lock().unwrap_or_else(PoisonError::into_inner)
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_string()).collect()
}

/// A harness whose proxy is killed if the test fails before stopping it (a failed assertion
/// must not leave a proxy running), with its stderr drained in the background.
struct Running {
    h: Option<Harness>,
    stderr: Option<StderrLog>,
}

/// How a proxy ended after SIGTERM.
struct Ended {
    /// `None` when it did not exit within the bound and had to be killed.
    status: Option<ExitStatus>,
    /// The events file, as it is on disk.
    events: String,
    stdout: String,
    stderr: String,
    /// From the signal to the exit.
    took: Duration,
}

impl Running {
    fn start(opts: Opts<'_>) -> Self {
        let mut h = Harness::with(opts);
        let stderr = h.capture_stderr();
        Self {
            h: Some(h),
            stderr: Some(stderr),
        }
    }

    /// SIGTERM, then waits up to `within` for the exit (killing the proxy past it).
    fn sigterm(mut self, within: Duration) -> Ended {
        let mut h = self.h.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &h.proxy.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let signalled = Instant::now();
        let deadline = signalled + within;
        let status = loop {
            if let Some(s) = h.proxy.try_wait().unwrap() {
                break Some(s);
            }
            if Instant::now() >= deadline {
                let _ = h.proxy.kill();
                let _ = h.proxy.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let took = signalled.elapsed();
        let mut stdout = String::new();
        if let Some(mut out) = h.proxy.stdout.take() {
            let _ = out.read_to_string(&mut stdout);
        }
        let events = String::from_utf8(std::fs::read(&h.events).unwrap())
            .expect("the events file is not UTF-8");
        let stderr = self
            .stderr
            .take()
            .map(StderrLog::finish)
            .unwrap_or_default();
        Ended {
            status,
            events,
            stdout,
            stderr,
            took,
        }
    }

    /// Checks that a normal client is still served after whatever the test did, waits until
    /// `records` records are written (the test's and that client's), then [`Running::finish`].
    fn finish_after_a_normal_client(self, path: &str, records: usize) -> Vec<ConnectionRecord> {
        assert_serves_a_normal_client(&self, path);
        wait_for_records(&self.events, records, Duration::from_secs(10));
        self.finish()
    }

    /// Stops the proxy (SIGTERM, exit 0 within 15 s), checks that nothing panicked, and returns
    /// the records.
    fn finish(self) -> Vec<ConnectionRecord> {
        let ended = self.sigterm(Duration::from_secs(15));
        assert!(
            !ended.stderr.contains("panicked"),
            "the proxy panicked:\n{}",
            ended.stderr
        );
        let status = ended.status.unwrap_or_else(|| {
            panic!(
                "proxy did not exit after SIGTERM; stderr:\n{}",
                ended.stderr
            )
        });
        assert!(status.success(), "proxy exit {status:?}: {}", ended.stderr);
        parse_events(&ended.events)
    }
}

impl Deref for Running {
    type Target = Harness;
    fn deref(&self) -> &Harness {
        self.h.as_ref().unwrap()
    }
}

impl DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Harness {
        self.h.as_mut().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut h) = self.h.take() {
            let _ = h.proxy.kill();
            let _ = h.proxy.wait();
        }
    }
}

/// Parses a whole events file: every line a record, the last one ended by a newline.
fn parse_events(text: &str) -> Vec<ConnectionRecord> {
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "the events file ends with half a line: {:?}",
        text.lines().last()
    );
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a record: {l:?}: {e}")))
        .collect()
}

/// Ids are 1..=N in some order: none missing, none twice.
fn assert_ids_complete(records: &[ConnectionRecord]) {
    let mut ids: Vec<u64> = records.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    let expected: Vec<u64> = (1..=records.len() as u64).collect();
    if ids != expected {
        let seen: HashSet<u64> = ids.iter().copied().collect();
        let missing: Vec<u64> = expected
            .iter()
            .filter(|i| !seen.contains(i))
            .copied()
            .collect();
        let mut dups = ids.clone();
        dups.dedup();
        panic!(
            "ids are not 1..={}: missing {missing:?}, {} duplicates",
            records.len(),
            ids.len() - dups.len()
        );
    }
}

/// The one record of the connection from `client`.
fn record_of(records: &[ConnectionRecord], client: SocketAddr) -> &ConnectionRecord {
    let client = client.to_string();
    let found: Vec<_> = records.iter().filter(|r| r.client == client).collect();
    assert_eq!(found.len(), 1, "records for client {client}: {found:#?}");
    found[0]
}

fn verdict(r: &ConnectionRecord) -> (VerdictKind, Stage, &str) {
    (r.verdict, r.stage, r.reason.as_str())
}

/// Asserts that the connection proceeded with one request, for `path`, answered `status`.
fn assert_one_request(r: &ConnectionRecord, path: &str, status: Option<u16>) {
    assert_eq!(
        verdict(r),
        (VerdictKind::Proceeded, Stage::Request, "1 request"),
        "{r:#?}"
    );
    assert_eq!(r.requests.len(), 1, "{r:#?}");
    assert_eq!(r.requests[0].path, path, "{r:#?}");
    assert_eq!(r.requests[0].status, status, "{r:#?}");
}

/// A normal client (curl, trusting the proxy CA) is served through the proxy.
fn assert_serves_a_normal_client(h: &Harness, path: &str) {
    let out = h.curl(&["--cacert", h.bundle.to_str().unwrap(), &h.url(path)]);
    assert!(
        out.status.success(),
        "a normal client was not served: curl {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.contains(&format!("GET {path}")), "{body}");
}

/// Resets `tcp` (SO_LINGER 0, then close: the peer gets a TCP RST).
fn reset(h: &Harness, tcp: std::net::TcpStream) {
    let _rt = h.rt.enter();
    tcp.set_nonblocking(true).unwrap();
    let tcp = tokio::net::TcpStream::from_std(tcp).unwrap();
    tcp.set_zero_linger().unwrap();
    drop(tcp);
}

// ---------------------------------------------------------------------------------------------
// Async clients
// ---------------------------------------------------------------------------------------------

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn read_head<T: AsyncRead + Unpin>(io: &mut T) -> Result<Vec<u8>, BoxError> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if io.read(&mut byte).await? == 0 {
            return Err(format!("closed after {:?}", String::from_utf8_lossy(&head)).into());
        }
        head.push(byte[0]);
        if head.len() > 64 * 1024 {
            return Err("head over 64 KiB".into());
        }
    }
    Ok(head)
}

/// The next connection's source address. Each connection of the async clients comes from its
/// own loopback address (127.0.0.0/8 is all loopback), so that its record can be told apart by
/// the `client` field: on loopback the kernel hands out a just-used port again (even with the
/// old connection in TIME_WAIT), and two connections of one run may share an `IP:port`.
static NEXT_SOURCE: AtomicU32 = AtomicU32::new(0);

/// Connects to `to` from a loopback address no other connection of this process used.
async fn connect_from_a_fresh_source(to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let n = NEXT_SOURCE.fetch_add(1, Ordering::Relaxed);
    let second = u8::try_from(1 + n / 65_536).expect("fewer than 16 million connections");
    let ip = std::net::Ipv4Addr::new(127, second, (n / 256 % 256) as u8, (n % 256) as u8);
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((ip, 0)))?;
    let tcp = socket.connect(to).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// CONNECT through the proxy; the socket after the 200.
async fn open_tunnel(proxy: SocketAddr, target: &str) -> Result<tokio::net::TcpStream, BoxError> {
    let mut tcp = connect_from_a_fresh_source(proxy).await?;
    tcp.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await?;
    let head = read_head(&mut tcp).await?;
    if !head.starts_with(b"HTTP/1.1 200") {
        return Err(format!("CONNECT answered {}", String::from_utf8_lossy(&head)).into());
    }
    Ok(tcp)
}

async fn tls_connect(
    config: Arc<rustls::ClientConfig>,
    host: &str,
    tcp: tokio::net::TcpStream,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, BoxError> {
    let name = rustls::pki_types::ServerName::try_from(host.to_string())?;
    Ok(tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?)
}

/// What keeps a client connection open: dropping it closes the connection.
struct Held(Box<dyn std::any::Any + Send>);

/// One GET over HTTP/1.1 on `io`; the connection stays open while `Held` lives.
async fn http1_get<T>(io: T, path: &str) -> Result<(u16, String, Held), BoxError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    let driver = tokio::spawn(conn);
    let req = http::Request::get(path)
        .header(http::header::HOST, HOST)
        .body(Empty::<Bytes>::new())?;
    let resp = send.send_request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((
        status,
        String::from_utf8_lossy(&body).into_owned(),
        Held(Box::new((send, driver))),
    ))
}

/// One GET over HTTP/2 on `io`.
async fn http2_get<T>(io: T, path: &str) -> Result<(u16, String, Held), BoxError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io)).await?;
    let driver = tokio::spawn(conn);
    let req = http::Request::get(format!("https://{HOST}{path}")).body(Empty::<Bytes>::new())?;
    let resp = send.send_request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((
        status,
        String::from_utf8_lossy(&body).into_owned(),
        Held(Box::new((send, driver))),
    ))
}

fn with_alpn(config: &Arc<rustls::ClientConfig>, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut c = (**config).clone();
    c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(c)
}

// ---------------------------------------------------------------------------------------------
// Misbehaving origins
// ---------------------------------------------------------------------------------------------

/// What a fault origin does with each connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Misbehaviour {
    /// Sends a response head promising 100,000 bytes and 1,000 of them, then drops the
    /// connection (a TCP close with no close_notify).
    CloseMidResponse,
    /// Answers the request with bytes that are not HTTP, then closes.
    Garbage,
    /// Sends a 256 MiB body as fast as the proxy takes it, stopping at the first write error.
    EndlessBody,
    /// Speaks no TLS: answers the ClientHello with plain text and closes.
    NotTls,
    /// Completes TLS (h2 or http/1.1), reports the request, never answers, reads to the end.
    Silent,
    /// A well-behaved HTTP/1.1 keep-alive origin: `/big...` gets a 256 MiB body, any other path
    /// gets `small PATH`. A connection with no new request for `idle_close` is closed
    /// (close_notify, then FIN), like a server with a short keep-alive timeout.
    KeepAlive { idle_close: Duration },
}

/// A TLS origin for one host, signed by the harness's origin PKI, that misbehaves. Bind the
/// listener first (its address goes into `--map`), start the harness, then call this. Each
/// connection reports what happened on the returned channel.
/// A proxy that maps `host` to a new origin misbehaving `how`, and that origin's reports.
fn with_fault_origin(host: &str, how: Misbehaviour) -> (Running, mpsc::UnboundedReceiver<String>) {
    let (listener, addr) = fault_listener();
    let h = Running::start(Opts {
        args: vec!["--map".into(), format!("{host}={addr}")],
        ..Opts::default()
    });
    let reports = spawn_fault_origin(&h, listener, host, how);
    (h, reports)
}

fn spawn_fault_origin(
    h: &Harness,
    listener: std::net::TcpListener,
    host: &str,
    how: Misbehaviour,
) -> mpsc::UnboundedReceiver<String> {
    let leaf = h.pki.leaf(&[host.to_string()], "current").unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(leaf)));
    config.alpn_protocols = if how == Misbehaviour::Silent {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (tx, rx) = mpsc::unbounded_channel();
    listener.set_nonblocking(true).unwrap();
    let _rt = h.rt.enter();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    h.rt.spawn(async move {
        // Bounded: no test here sends more connections than this to one fault origin.
        for _ in 0..64 {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move { misbehave(acceptor, tcp, how, tx).await });
        }
    });
    rx
}

async fn misbehave(
    acceptor: tokio_rustls::TlsAcceptor,
    mut tcp: tokio::net::TcpStream,
    how: Misbehaviour,
    tx: mpsc::UnboundedSender<String>,
) {
    if how == Misbehaviour::NotTls {
        let mut hello = [0u8; 512];
        let _ = tcp.read(&mut hello).await;
        let _ = tcp
            .write_all(b"HTTP/1.1 200 OK\r\n\r\nthis is not TLS\r\n")
            .await;
        let _ = tx.send("wrote plain text".into());
        return;
    }
    let mut tls = match acceptor.accept(tcp).await {
        Ok(tls) => tls,
        Err(e) => {
            let _ = tx.send(format!("handshake failed: {e}"));
            return;
        }
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    if how == Misbehaviour::Silent {
        return silent(tls, h2, tx).await;
    }
    if let Misbehaviour::KeepAlive { idle_close } = how {
        return keep_alive(tls, idle_close, tx).await;
    }
    if let Err(e) = read_head(&mut tls).await {
        let _ = tx.send(format!("no request: {e}"));
        return;
    }
    let outcome = match how {
        Misbehaviour::CloseMidResponse => {
            let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".to_vec();
            resp.extend(std::iter::repeat_n(b'x', 1000));
            let _ = tls.write_all(&resp).await;
            let _ = tls.flush().await;
            // Dropped here: the TCP connection closes with no close_notify.
            "closed mid-response".to_string()
        }
        Misbehaviour::Garbage => {
            let _ = tls
                .write_all(b"\x00\x01\x02\xff\xfe this is not HTTP \x7f\r\n\r\n\x00")
                .await;
            let _ = tls.shutdown().await;
            "wrote garbage".to_string()
        }
        Misbehaviour::EndlessBody => {
            let total: usize = 256 << 20;
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n\r\n");
            match endless_body(&mut tls, head.as_bytes()).await {
                Ok(sent) => format!("sent all {sent} bytes"),
                Err(e) => e,
            }
        }
        Misbehaviour::NotTls | Misbehaviour::Silent | Misbehaviour::KeepAlive { .. } => {
            unreachable!()
        }
    };
    let _ = tx.send(outcome);
}

/// Writes a 256 MiB body after `head` until done or the first write error.
async fn endless_body<T: AsyncWrite + Unpin>(tls: &mut T, head: &[u8]) -> Result<usize, String> {
    let total: usize = 256 << 20;
    let chunk = vec![b'y'; 64 * 1024];
    let mut sent = 0;
    tls.write_all(head)
        .await
        .map_err(|e| format!("stopped after 0 bytes: {e}"))?;
    while sent < total {
        tls.write_all(&chunk)
            .await
            .map_err(|e| format!("stopped after {sent} bytes: {e}"))?;
        sent += chunk.len();
    }
    Ok(sent)
}

/// Serves requests on one connection (see [`Misbehaviour::KeepAlive`]); reports how it ended.
async fn keep_alive<T: AsyncRead + AsyncWrite + Unpin>(
    mut tls: T,
    idle_close: Duration,
    tx: mpsc::UnboundedSender<String>,
) {
    // Bounded: no test sends more requests than this on one connection.
    for served in 0..1000 {
        let head = match tokio::time::timeout(idle_close, read_head(&mut tls)).await {
            Err(_) => {
                let _ = tls.shutdown().await;
                let _ = tx.send(format!("closed idle after {served}"));
                return;
            }
            Ok(Err(_)) => {
                let _ = tx.send(format!("peer closed after {served}"));
                return;
            }
            Ok(Ok(head)) => head,
        };
        let head = String::from_utf8_lossy(&head).into_owned();
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        if path.starts_with("/big") {
            let total: usize = 256 << 20;
            let resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n\r\n");
            if let Err(e) = endless_body(&mut tls, resp.as_bytes()).await {
                let _ = tx.send(e);
                return;
            }
        } else {
            let body = format!("small {path}");
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if tls.write_all(resp.as_bytes()).await.is_err() {
                let _ = tx.send(format!("peer closed after {served}"));
                return;
            }
        }
    }
}

/// Reports "request" once a request arrived (an HTTP/2 HEADERS frame, or an HTTP/1.1 head),
/// then reads until the proxy closes the connection and reports "closed".
async fn silent<T: AsyncRead + AsyncWrite + Unpin>(
    mut tls: T,
    h2: bool,
    tx: mpsc::UnboundedSender<String>,
) {
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut reported = false;
    loop {
        match tls.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
        if !reported && has_request(&seen, h2) {
            reported = true;
            let _ = tx.send("request".into());
        }
        if seen.len() > 1 << 20 {
            seen.clear(); // only the first bytes matter
        }
    }
    let _ = tx.send("closed".into());
}

fn has_request(seen: &[u8], h2: bool) -> bool {
    if !h2 {
        return seen.windows(4).any(|w| w == b"\r\n\r\n");
    }
    // The 24-byte preface, then frames: a 9-byte header (length, type, flags, stream id).
    let mut at = 24;
    while seen.len() >= at + 9 {
        let len = usize::from(seen[at]) << 16
            | usize::from(seen[at + 1]) << 8
            | usize::from(seen[at + 2]);
        if seen[at + 3] == 0x1 {
            return true;
        }
        at += 9 + len;
    }
    false
}

/// Waits (bounded) for the next report of a fault origin.
fn next_report(h: &Harness, rx: &mut mpsc::UnboundedReceiver<String>, within: Duration) -> String {
    h.rt.block_on(async { tokio::time::timeout(within, rx.recv()).await })
        .unwrap_or_else(|_| panic!("the fault origin reported nothing within {within:?}"))
        .expect("fault origin gone")
}

fn fault_listener() -> (std::net::TcpListener, SocketAddr) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

// ---------------------------------------------------------------------------------------------
// 1. Concurrency
// ---------------------------------------------------------------------------------------------

/// 2,000 connections are open through the proxy at the same time (half intercepted, half
/// passed through), each has had one GET answered, and each gets exactly one record with the
/// right verdict. Connections are opened at most 64 at a time (the handshakes would otherwise
/// only queue behind each other on two cores), but none is closed until all 2,000 were served.
#[test]
fn two_thousand_concurrent_connections_get_one_record_each_with_the_right_verdict() {
    const N: usize = 2000;
    let _load = load_lock();
    let h = Running::start(Opts {
        // The passthrough clients CONNECT to the origin by address; the intercepted ones by name.
        // Two serving threads: connections are dealt out to them in turn.
        args: args(&[
            "--passthrough",
            "127.0.0.1",
            "--handshake-timeout",
            "60s",
            "--connect-timeout",
            "60s",
            "--threads",
            "2",
        ]),
        ..Opts::default()
    });
    let config = rustls_client(&[&h.ca_pem, &h.root_pem]);
    let (proxy, origin) = (h.proxy_addr, h.origin.addr());
    let path = |i: usize, passthrough: bool| {
        format!(
            "/{}/{i}",
            if passthrough {
                "passthrough"
            } else {
                "intercept"
            }
        )
    };

    let (clients, fds_while_open) = h.rt.block_on(async {
        let (done_tx, mut done_rx) =
            mpsc::unbounded_channel::<Result<(usize, SocketAddr), String>>();
        let (release, released) = watch::channel(false);
        let gate = Arc::new(Semaphore::new(64));
        let mut tasks = JoinSet::new();
        for i in 0..N {
            let (config, done_tx, mut released, gate) = (
                config.clone(),
                done_tx.clone(),
                released.clone(),
                gate.clone(),
            );
            let passthrough = i % 2 == 1;
            let path = path(i, passthrough);
            tasks.spawn(async move {
                let opened = {
                    let _permit = gate.acquire_owned().await.unwrap();
                    tokio::time::timeout(Duration::from_secs(90), async {
                        let target = if passthrough {
                            origin.to_string()
                        } else {
                            format!("{HOST}:443")
                        };
                        let tcp = open_tunnel(proxy, &target).await?;
                        let local = tcp.local_addr()?;
                        let tls = tls_connect(config, HOST, tcp).await?;
                        let (status, body, held) = http1_get(tls, &path).await?;
                        if status != 200 || !body.contains(&format!("GET {path}")) {
                            return Err(format!("answered {status}: {body}").into());
                        }
                        Ok::<_, BoxError>((local, held))
                    })
                    .await
                };
                match opened {
                    Ok(Ok((local, held))) => {
                        let _ = done_tx.send(Ok((i, local)));
                        // Hold the connection open until every client has been served.
                        let _ = tokio::time::timeout(
                            Duration::from_secs(120),
                            released.wait_for(|r| *r),
                        )
                        .await;
                        drop(held);
                    }
                    Ok(Err(e)) => {
                        let _ = done_tx.send(Err(format!("client {i}: {e}")));
                    }
                    Err(_) => {
                        let _ = done_tx.send(Err(format!("client {i}: timed out")));
                    }
                }
            });
        }
        drop(done_tx);
        let mut clients: HashMap<SocketAddr, usize> = HashMap::new();
        let mut failures = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while clients.len() + failures.len() < N {
            match tokio::time::timeout_at(deadline, done_rx.recv()).await {
                Ok(Some(Ok((i, local)))) => {
                    clients.insert(local, i);
                }
                Ok(Some(Err(e))) => failures.push(e),
                Ok(None) | Err(_) => break,
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {N} clients failed, e.g. {:?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
        assert_eq!(clients.len(), N, "not every client was served");
        // All N are open now: the proxy holds a socket for each client connection, and one
        // to the origin for each passthrough tunnel (intercepted connections may share pooled
        // origin connections, and an idle one holds none).
        let fds = h.open_fds();
        // Both serving threads took part (the main thread is `pin-proxy`, the other
        // `pin-proxy-2`): each slept between the events of its connections many times.
        let threads = h.serving_threads();
        assert_eq!(threads.len(), 2, "{threads:?}");
        assert!(threads.iter().all(|(_, s)| *s >= 100), "{threads:?}");
        release.send(true).unwrap();
        let joined = tokio::time::timeout(Duration::from_secs(60), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        assert!(joined.is_ok(), "clients did not close");
        (clients, fds)
    });
    assert!(
        fds_while_open >= N + N / 2,
        "the proxy had {fds_while_open} fds open with {N} connections open through it"
    );

    wait_for_records(&h.events, N, Duration::from_secs(60));
    let origin_paths: HashSet<String> = h.origin.requests().into_iter().map(|r| r.path).collect();
    let records = h.finish();
    assert_eq!(records.len(), N);
    assert_ids_complete(&records);
    for (local, i) in &clients {
        let passthrough = i % 2 == 1;
        let r = record_of(&records, *local);
        if passthrough {
            assert_eq!(
                verdict(r),
                (VerdictKind::Passthrough, Stage::Tunnel, "relayed"),
                "{r:#?}"
            );
            assert_eq!(r.action, Some(ActionKind::Passthrough));
            assert!(r.requests.is_empty() && r.presented_pin.is_none(), "{r:#?}");
        } else {
            assert_one_request(r, &path(*i, false), Some(200));
            assert_eq!(r.action, Some(ActionKind::Intercept));
        }
        assert!(
            origin_paths.contains(&path(*i, passthrough)),
            "origin missed {i}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Stalled clients
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stall {
    /// Sends `CONNECT api.test:4` and nothing more.
    PartialRequestLine,
    /// Completes the CONNECT, then sends nothing.
    SilentAfterConnect,
    /// Completes the CONNECT, then sends half a ClientHello.
    HalfClientHello,
}

/// 500 clients that never finish their CONNECT or their TLS hello do not keep a normal client
/// from being served while they hang. When the timeouts (5 s here) fire, each one is closed and
/// gets one record: undecided at connect (no complete proxy request), or undecided at handshake
/// (the hello never came, so no certificate went out: rule 4 of the verdict core).
///
/// "While they hang" is checked by the stalled sockets still being open once the normal client
/// has its answer. That bounds the time to open the 500 and serve one client by the timeout: a
/// proxy that the stalls block serves it only after the timeouts. On this machine it takes well
/// under a second; 5 s leaves room for a loaded one.
#[test]
fn five_hundred_stalled_clients_do_not_block_others_and_are_each_closed_and_recorded() {
    const N: usize = 500;
    let _load = load_lock();
    let h = Running::start(Opts {
        args: args(&["--header-timeout", "5s", "--handshake-timeout", "5s"]),
        ..Opts::default()
    });
    let hello = client_hello(rustls_client(&[&h.ca_pem]), HOST);
    let stalls = [
        Stall::PartialRequestLine,
        Stall::SilentAfterConnect,
        Stall::HalfClientHello,
    ];
    let first_opened = Instant::now();
    let slow: Vec<(Stall, std::net::TcpStream)> = (0..N)
        .map(|i| {
            let stall = stalls[i % 3];
            let s = match stall {
                Stall::PartialRequestLine => {
                    let mut s = std::net::TcpStream::connect(h.proxy_addr).unwrap();
                    s.write_all(b"CONNECT api.test:4").unwrap();
                    s
                }
                Stall::SilentAfterConnect => connect_tunnel(h.proxy_addr, &format!("{HOST}:443")),
                Stall::HalfClientHello => {
                    let mut s = connect_tunnel(h.proxy_addr, &format!("{HOST}:443"));
                    s.write_all(&hello[..hello.len() / 2]).unwrap();
                    s
                }
            };
            (stall, s)
        })
        .collect();

    // A normal client is served while the 500 hang...
    assert_serves_a_normal_client(&h, "/while-stalled");
    // ...and they were all still open when it was: the proxy had closed none of them.
    for (stall, s) in &slow {
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        match s.peek(&mut b) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!(
                "{stall:?} client was not hanging when the normal one was served, {:?} after \
                 the first stall: {other:?}",
                first_opened.elapsed()
            ),
        }
    }

    // After the timeouts, the proxy closes every one of them.
    for (stall, s) in &slow {
        let mut s = s;
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut rest = Vec::new();
        match s.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("{stall:?} client not closed by the proxy: {e}"),
        }
    }
    wait_for_records(&h.events, N + 1, Duration::from_secs(20));
    let records = h.finish();
    assert_eq!(records.len(), N + 1);
    assert_ids_complete(&records);
    for (stall, s) in &slow {
        let r = record_of(&records, s.local_addr().unwrap());
        match stall {
            Stall::PartialRequestLine => {
                assert_eq!(
                    verdict(r),
                    (
                        VerdictKind::Undecided,
                        Stage::Connect,
                        "timed out waiting for the request head"
                    ),
                    "{r:#?}"
                );
                assert_eq!(r.action, None);
            }
            Stall::SilentAfterConnect | Stall::HalfClientHello => {
                assert_eq!(
                    verdict(r),
                    (
                        VerdictKind::Undecided,
                        Stage::Handshake,
                        "handshake failed before a certificate was presented: timeout"
                    ),
                    "{stall:?}: {r:#?}"
                );
                assert_eq!(r.action, Some(ActionKind::Intercept));
                assert_eq!(r.host.as_deref(), Some(HOST));
                assert!(r.presented_pin.is_none());
            }
        }
    }
    let normal: Vec<_> = records
        .iter()
        .filter(|r| r.verdict == VerdictKind::Proceeded)
        .collect();
    assert_eq!(normal.len(), 1, "{normal:#?}");
    assert_eq!(normal[0].requests[0].path, "/while-stalled");
}

// ---------------------------------------------------------------------------------------------
// 3. Faults: clients that reset, origins that misbehave
// ---------------------------------------------------------------------------------------------

/// A client that resets during the handshake. Before the proxy's certificate went out (half a
/// ClientHello), that is no pinning answer: undecided at handshake. After it (the client has
/// read the proxy's certificate and resets instead of finishing), the client refused it:
/// cancelled at handshake, reason `reset` (rule 4).
#[test]
fn client_reset_mid_handshake_before_and_after_the_certificate() {
    let h = Running::start(Opts::default());
    let config = rustls_client(&[&h.ca_pem]);

    // Before: half a ClientHello, then RST.
    let mut before = connect_tunnel(h.proxy_addr, &format!("{HOST}:443"));
    let hello = client_hello(config.clone(), HOST);
    before.write_all(&hello[..hello.len() / 2]).unwrap();
    let before_addr = before.local_addr().unwrap();
    reset(&h, before);

    // After: read the server's flight until the certificate is in, then RST.
    let mut after = connect_tunnel(h.proxy_addr, &format!("{HOST}:443"));
    let after_addr = after.local_addr().unwrap();
    let name = rustls::pki_types::ServerName::try_from(HOST).unwrap();
    let mut tls = rustls::ClientConnection::new(config, name).unwrap();
    while tls.wants_write() {
        tls.write_tls(&mut after).unwrap();
    }
    for _ in 0..100 {
        if tls.peer_certificates().is_some() {
            break;
        }
        assert!(tls.read_tls(&mut after).unwrap() > 0, "proxy closed");
        tls.process_new_packets().unwrap();
    }
    assert!(tls.peer_certificates().is_some(), "no certificate came");
    // The client's Finished is queued in `tls` but never written: the proxy's handshake is
    // still waiting for it when the reset comes.
    reset(&h, after);

    let records = h.finish_after_a_normal_client("/after-resets", 3);
    assert_eq!(records.len(), 3);
    assert_ids_complete(&records);
    let r = record_of(&records, before_addr);
    assert_eq!(
        verdict(r),
        (
            VerdictKind::Undecided,
            Stage::Handshake,
            "handshake failed before a certificate was presented: reset"
        ),
        "{r:#?}"
    );
    assert!(r.presented_pin.is_none());
    let r = record_of(&records, after_addr);
    assert_eq!(
        verdict(r),
        (VerdictKind::Cancelled, Stage::Handshake, "reset"),
        "{r:#?}"
    );
    assert!(r.presented_pin.is_some());
}

/// A client that completes the handshake, sends half a request's headers inside TLS and
/// resets: its data was readable through our certificate, so it proceeded (rule 1), with
/// `application data` as the reason and no complete request listed.
#[test]
fn client_reset_mid_request_proceeded_with_application_data() {
    let h = Running::start(Opts::default());
    let tcp = connect_tunnel(h.proxy_addr, &format!("{HOST}:443"));
    // Without NODELAY, Nagle may still hold the half request in the send buffer when the reset
    // comes, and a reset discards it: the proxy would rightly see a bare reset.
    tcp.set_nodelay(true).unwrap();
    let addr = tcp.local_addr().unwrap();
    let mut tls = rustls_handshake(rustls_client(&[&h.ca_pem]), HOST, tcp);
    tls.write_all(b"GET /half HTTP/1.1\r\nHost: api.test\r\nX-Half: ")
        .unwrap();
    tls.flush().unwrap();
    // With NODELAY the segment has left by now, and TCP delivers it before the RST.
    let rustls::StreamOwned { sock, .. } = tls;
    reset(&h, sock);

    assert_serves_a_normal_client(&h, "/after-reset");
    wait_for_records(&h.events, 2, Duration::from_secs(10));
    // The origin never got the half request.
    let origin_paths: Vec<String> = h.origin.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(origin_paths, ["/after-reset"]);
    let records = h.finish();
    assert_eq!(records.len(), 2);
    let r = record_of(&records, addr);
    assert_eq!(
        verdict(r),
        (VerdictKind::Proceeded, Stage::Request, "application data"),
        "{r:#?}"
    );
    assert!(r.requests.is_empty(), "{r:#?}");
}

/// A client that resets while a large response is streaming to it: the request was answered
/// (200) before it left, so it proceeded with 1 request, and the proxy stops pulling the body
/// from the origin (the origin's writes fail well before its 256 MiB are out).
#[test]
fn client_reset_mid_response_proceeded_and_the_origin_transfer_stops() {
    let (h, mut reports) = with_fault_origin("big.test", Misbehaviour::EndlessBody);
    let tcp = connect_tunnel(h.proxy_addr, "big.test:443");
    let client = tcp.local_addr().unwrap();
    let mut tls = rustls_handshake(rustls_client(&[&h.ca_pem]), "big.test", tcp);
    tls.write_all(b"GET /big HTTP/1.1\r\nHost: big.test\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    for _ in 0..1000 {
        if got.len() >= 256 * 1024 {
            break;
        }
        let n = tls.read(&mut buf).unwrap();
        assert!(n > 0, "response ended early");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        &got[..40.min(got.len())]
    );
    assert!(got.len() >= 256 * 1024);
    let rustls::StreamOwned { sock, .. } = tls;
    reset(&h, sock);

    let outcome = next_report(&h, &mut reports, Duration::from_secs(15));
    assert!(outcome.starts_with("stopped after"), "origin: {outcome}");
    let records = h.finish_after_a_normal_client("/after-reset", 2);
    let r = record_of(&records, client);
    assert_one_request(r, "/big", Some(200));
}

/// Origin connections are pooled and an HTTP/1.1 one is lent per request. After a client
/// reset cut a response short, the origin connection it was lent is mid-response: the proxy
/// must close it, not lend it again, and the next client must get its own answer (a reused
/// connection would hand it the rest of the first body).
#[test]
fn an_origin_connection_cut_short_is_not_lent_to_the_next_client() {
    let (h, mut reports) = with_fault_origin(
        "keep.test",
        Misbehaviour::KeepAlive {
            idle_close: Duration::from_secs(30),
        },
    );
    let tcp = connect_tunnel(h.proxy_addr, "keep.test:443");
    let first = tcp.local_addr().unwrap();
    let config = with_alpn(&rustls_client(&[&h.ca_pem]), &[b"http/1.1"]);
    let mut tls = rustls_handshake(config, "keep.test", tcp);
    tls.write_all(b"GET /big HTTP/1.1\r\nHost: keep.test\r\n\r\n")
        .unwrap();
    let mut got = 0;
    let mut buf = [0u8; 16 * 1024];
    for _ in 0..1000 {
        if got >= 256 * 1024 {
            break;
        }
        let n = tls.read(&mut buf).unwrap();
        assert!(n > 0, "response ended early");
        got += n;
    }
    let rustls::StreamOwned { sock, .. } = tls;
    reset(&h, sock);
    let outcome = next_report(&h, &mut reports, Duration::from_secs(15));
    assert!(outcome.starts_with("stopped after"), "origin: {outcome}");

    for path in ["/small/1", "/small/2"] {
        let out = h.curl(&[
            "--cacert",
            h.bundle.to_str().unwrap(),
            &format!("https://keep.test{path}"),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("small {path}")
        );
    }
    wait_for_records(&h.events, 3, Duration::from_secs(10));
    let records = h.finish();
    let r = record_of(&records, first);
    assert_eq!(
        verdict(r),
        (VerdictKind::Proceeded, Stage::Request, "1 request"),
        "{r:#?}"
    );
    let statuses: Vec<_> = records
        .iter()
        .flat_map(|r| r.requests.iter().map(|q| (q.path.clone(), q.status)))
        .collect();
    assert_eq!(statuses.len(), 3, "{statuses:?}");
    assert!(
        statuses.iter().all(|(_, s)| *s == Some(200)),
        "{statuses:?}"
    );
}

/// An origin that closes kept connections after 200 ms without a request (a short keep-alive
/// timeout, common in servers). The next client's request must not fail on the closed pooled
/// connection: it goes over a new one.
#[test]
fn a_kept_connection_the_origin_closed_is_not_a_failure_for_the_next_client() {
    let (h, mut reports) = with_fault_origin(
        "keep.test",
        Misbehaviour::KeepAlive {
            idle_close: Duration::from_millis(200),
        },
    );
    for (round, path) in ["/one", "/two", "/three"].into_iter().enumerate() {
        let out = h.curl(&[
            "--cacert",
            h.bundle.to_str().unwrap(),
            "-w",
            " %{http_code}",
            &format!("https://keep.test{path}"),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("small {path} 200"),
            "round {round}"
        );
        // The origin closes the connection the proxy kept.
        let closed = next_report(&h, &mut reports, Duration::from_secs(5));
        assert!(closed.starts_with("closed idle after"), "{closed}");
    }
    wait_for_records(&h.events, 3, Duration::from_secs(10));
    let records = h.finish();
    assert_eq!(records.len(), 3);
    for r in &records {
        assert_eq!(
            verdict(r),
            (VerdictKind::Proceeded, Stage::Request, "1 request"),
            "{r:#?}"
        );
        assert_eq!(r.requests[0].status, Some(200), "{r:#?}");
    }
}

/// An origin that closes in the middle of its response body: the client's request went through
/// (proceeded, 1 request, the 200 it started to get), the client sees a truncated transfer
/// rather than a hang, and the proxy goes on serving.
#[test]
fn origin_closing_mid_response() {
    let (h, mut reports) = with_fault_origin("closing.test", Misbehaviour::CloseMidResponse);
    let out = h.curl(&[
        "--cacert",
        h.bundle.to_str().unwrap(),
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{size_download}",
        "https://closing.test/cut",
    ]);
    // 18: partial file; 56: failure receiving data. Either way, not a success and not a hang.
    let code = out.status.code();
    assert!(
        matches!(code, Some(18 | 56 | 92)),
        "curl {code:?}: {} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("200 "));
    assert_eq!(
        next_report(&h, &mut reports, Duration::from_secs(5)),
        "closed mid-response"
    );
    let records = h.finish_after_a_normal_client("/after-cut", 2);
    let r = common::only_for(&records, "closing.test");
    assert_one_request(r, "/cut", Some(200));
}

/// An origin that answers with bytes that are not HTTP: the client gets a 502 from the proxy,
/// and its request is listed with that 502. It still proceeded: the request was readable.
#[test]
fn origin_sending_garbage_instead_of_http_gives_a_502() {
    let (h, mut reports) = with_fault_origin("garbage.test", Misbehaviour::Garbage);
    let out = h.curl(&[
        "--cacert",
        h.bundle.to_str().unwrap(),
        "-w",
        "\n%{http_code}",
        "https://garbage.test/junk",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.ends_with("\n502"), "{stdout}");
    assert!(
        stdout.contains("pin-proxy: the origin garbage.test:443 failed"),
        "{stdout}"
    );
    assert_eq!(
        next_report(&h, &mut reports, Duration::from_secs(5)),
        "wrote garbage"
    );
    let records = h.finish_after_a_normal_client("/after-garbage", 2);
    let r = common::only_for(&records, "garbage.test");
    assert_one_request(r, "/junk", Some(502));
}

/// An origin that does not speak TLS at all: the proxy cannot verify it, so the verdict is
/// upstream_failed at handshake (rule 3), and no certificate goes out to the client.
#[test]
fn origin_that_does_not_speak_tls_is_upstream_failed_before_any_certificate() {
    let (h, mut reports) = with_fault_origin("plain.test", Misbehaviour::NotTls);
    let out = h.curl(&[
        "--cacert",
        h.bundle.to_str().unwrap(),
        "https://plain.test/",
    ]);
    assert!(!out.status.success());
    assert_eq!(
        next_report(&h, &mut reports, Duration::from_secs(5)),
        "wrote plain text"
    );
    let records = h.finish_after_a_normal_client("/after-plain", 2);
    let r = common::only_for(&records, "plain.test");
    assert_eq!(
        (r.verdict, r.stage),
        (VerdictKind::UpstreamFailed, Stage::Handshake),
        "{r:#?}"
    );
    assert!(
        r.reason.starts_with("TLS with the origin failed"),
        "{}",
        r.reason
    );
    assert!(
        r.presented_pin.is_none() && r.tls_version.is_none(),
        "{r:#?}"
    );
}

/// A client sends a request that the origin never answers, then gives up (close_notify, FIN).
/// Returns the connection's record and what the origin saw after the client left (`closed`
/// once the proxy closed the origin connection, or `None` if it had not within 10 s).
fn give_up_on_a_silent_origin() -> (ConnectionRecord, Option<String>) {
    let (h, mut reports) = with_fault_origin("silent.test", Misbehaviour::Silent);
    let tcp = connect_tunnel(h.proxy_addr, "silent.test:443");
    tcp.set_nodelay(true).unwrap();
    let client = tcp.local_addr().unwrap();
    let config = with_alpn(&rustls_client(&[&h.ca_pem]), &[b"http/1.1"]);
    let mut tls = rustls_handshake(config, "silent.test", tcp);
    tls.write_all(b"GET /never HTTP/1.1\r\nHost: silent.test\r\n\r\n")
        .unwrap();
    tls.flush().unwrap();
    assert_eq!(
        next_report(&h, &mut reports, Duration::from_secs(10)),
        "request"
    );
    tls.conn.send_close_notify();
    let _ = tls.conn.complete_io(&mut tls.sock);
    tls.sock.shutdown(std::net::Shutdown::Both).unwrap();
    drop(tls);
    let after = h
        .rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(10), reports.recv()).await })
        .ok()
        .flatten();
    assert_serves_a_normal_client(&h, "/after-silent");
    let records = h.finish();
    (record_of(&records, client).clone(), after)
}

/// The proxy notices a client that gave up on an unanswered request: it closes its origin
/// connection instead of holding both sockets for as long as the origin stays silent, and the
/// connection proceeded (its request was readable).
#[test]
fn client_giving_up_on_a_silent_origin_is_closed_and_recorded() {
    let (r, after) = give_up_on_a_silent_origin();
    assert_eq!(
        after.as_deref(),
        Some("closed"),
        "the origin connection outlived the client by 10 s"
    );
    assert_eq!(
        (r.verdict, r.stage),
        (VerdictKind::Proceeded, Stage::Request),
        "{r:#?}"
    );
}

/// The README: `requests` lists "the requests read from the client", each with a `status` that
/// is "null if the exchange broke before a response". A request that was read and forwarded but
/// never answered should therefore be listed, with a null status.
#[test]
fn a_request_left_unanswered_is_listed_with_a_null_status() {
    let (r, _) = give_up_on_a_silent_origin();
    assert_eq!(r.reason, "1 request", "{r:#?}");
    assert_eq!(r.requests.len(), 1, "{r:#?}");
    assert_eq!(r.requests[0].path, "/never");
    assert_eq!(r.requests[0].status, None);
}

/// SIGTERM while an HTTP/2 request waits on an origin that never answers: the proxy still
/// exits 0 promptly with a complete events file.
#[test]
fn sigterm_with_an_http2_request_waiting_on_a_silent_origin_exits() {
    let (h, mut reports) = with_fault_origin("silent.test", Misbehaviour::Silent);
    let config = with_alpn(&rustls_client(&[&h.ca_pem]), &[b"h2"]);
    let proxy = h.proxy_addr;
    let client = h.rt.spawn(async move {
        let tcp = open_tunnel(proxy, "silent.test:443").await?;
        let tls = tls_connect(config, "silent.test", tcp).await?;
        http2_get(tls, "/never").await.map(|(status, _, _)| status)
    });
    assert_eq!(
        next_report(&h, &mut reports, Duration::from_secs(10)),
        "request"
    );
    let ended = h.sigterm(Duration::from_secs(15));
    client.abort();
    assert!(!ended.stderr.contains("panicked"), "{}", ended.stderr);
    assert!(
        ended.status.is_some(),
        "the proxy did not exit within 15 s of SIGTERM; stderr:\n{}",
        ended.stderr
    );
    assert!(ended.status.unwrap().success());
    let records = parse_events(&ended.events);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0].verdict, VerdictKind::Proceeded);
}

// ---------------------------------------------------------------------------------------------
// Kinds of connection, shared by the burst and the SIGTERM tests
// ---------------------------------------------------------------------------------------------

/// One connection through the proxy, from start to a known state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Intercepted, one GET over HTTP/1.1, then closed.
    H1,
    /// Intercepted, one GET over HTTP/2, then closed.
    H2,
    /// Passed through (CONNECT by address), one GET with the origin itself, then closed.
    Passthrough,
    /// Intercepted, handshake, then close_notify and FIN without a byte of data.
    CancelAfterHandshake,
    /// A proxy request that is not HTTP: 400.
    BadRequest,
    /// CONNECT to a mapped port where nothing listens: 502.
    Unreachable,
    /// Intercepted, one GET answered, then kept open until the proxy closes it.
    HoldAfterGet,
    /// Intercepted, TLS 1.2 handshake (the proxy's Finished comes last, so the proxy has seen
    /// the whole handshake once the client has), then idle until the proxy closes it.
    IdleAfterHandshake,
    /// CONNECT answered, then nothing until the proxy closes it.
    SilentAfterConnect,
    /// Half a CONNECT head, then nothing until the proxy closes it.
    PartialHead,
}

/// Kinds that end by themselves.
const FINITE: [Kind; 6] = [
    Kind::H1,
    Kind::H2,
    Kind::Passthrough,
    Kind::CancelAfterHandshake,
    Kind::BadRequest,
    Kind::Unreachable,
];

/// Kinds that wait for the proxy to close them.
const HANGING: [Kind; 4] = [
    Kind::HoldAfterGet,
    Kind::IdleAfterHandshake,
    Kind::SilentAfterConnect,
    Kind::PartialHead,
];

/// Where the clients go and what they trust.
#[derive(Clone)]
struct Target {
    proxy: SocketAddr,
    origin: SocketAddr,
    /// Trusts the proxy CA and the origin root; no ALPN.
    config: Arc<rustls::ClientConfig>,
    /// The same, TLS 1.2 only.
    tls12: Arc<rustls::ClientConfig>,
}

impl Target {
    fn of(h: &Harness) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        for path in [&h.ca_pem, &h.root_pem] {
            for cert in pin_proxy::pins::pem_certs(&std::fs::read(path).unwrap()).unwrap() {
                roots.add(cert).unwrap();
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls12 = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self {
            proxy: h.proxy_addr,
            origin: h.origin.addr(),
            config: rustls_client(&[&h.ca_pem, &h.root_pem]),
            tls12: Arc::new(tls12),
        }
    }
}

/// Reads until the peer closes (EOF or an error), at most `within`.
async fn until_closed<T: AsyncRead + Unpin>(io: &mut T, within: Duration) -> Result<(), BoxError> {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .map_err(|_| "the proxy did not close the connection".into())
}

/// Runs one connection of `kind`. Returns the client's address once the connection is in its
/// known state: done for the finite kinds; for the hanging kinds, `ready` is sent the address
/// when the state is reached, and the function returns when the proxy has closed it (at most
/// `hold`).
async fn exercise(
    kind: Kind,
    t: &Target,
    path: &str,
    ready: Option<&mpsc::UnboundedSender<(Kind, SocketAddr)>>,
    hold: Duration,
) -> Result<SocketAddr, BoxError> {
    let reached = |local: SocketAddr| {
        if let Some(tx) = ready {
            let _ = tx.send((kind, local));
        }
    };
    let api = format!("{HOST}:443");
    match kind {
        Kind::H1 | Kind::H2 | Kind::Passthrough | Kind::HoldAfterGet => {
            let target = if kind == Kind::Passthrough {
                t.origin.to_string()
            } else {
                api
            };
            let tcp = open_tunnel(t.proxy, &target).await?;
            let local = tcp.local_addr()?;
            let h2 = kind == Kind::H2;
            let alpn: &[&[u8]] = if h2 { &[b"h2"] } else { &[b"http/1.1"] };
            let tls = tls_connect(with_alpn(&t.config, alpn), HOST, tcp).await?;
            let (status, body, held) = if h2 {
                http2_get(tls, path).await?
            } else {
                http1_get(tls, path).await?
            };
            if status != 200 || !body.contains(&format!("GET {path}")) {
                return Err(format!("{kind:?}: answered {status}: {body}").into());
            }
            if kind == Kind::HoldAfterGet {
                reached(local);
                // The connection's driver task ends when the proxy closes the connection.
                let Held(parts) = held;
                let (send, driver) = *parts
                    .downcast::<(
                        hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
                        tokio::task::JoinHandle<hyper::Result<()>>,
                    )>()
                    .map_err(|_| "not an HTTP/1.1 connection")?;
                let ended = tokio::time::timeout(hold, driver).await;
                drop(send);
                if ended.is_err() {
                    return Err("the proxy did not close the connection".into());
                }
            }
            Ok(local)
        }
        Kind::CancelAfterHandshake | Kind::IdleAfterHandshake => {
            let tcp = open_tunnel(t.proxy, &api).await?;
            let local = tcp.local_addr()?;
            let config = if kind == Kind::IdleAfterHandshake {
                t.tls12.clone()
            } else {
                t.config.clone()
            };
            let mut tls = tls_connect(config, HOST, tcp).await?;
            if kind == Kind::CancelAfterHandshake {
                tls.shutdown().await?;
                until_closed(&mut tls, Duration::from_secs(10)).await?;
            } else {
                reached(local);
                until_closed(&mut tls, hold).await?;
            }
            Ok(local)
        }
        Kind::SilentAfterConnect => {
            let mut tcp = open_tunnel(t.proxy, &api).await?;
            let local = tcp.local_addr()?;
            reached(local);
            until_closed(&mut tcp, hold).await?;
            Ok(local)
        }
        Kind::PartialHead | Kind::BadRequest | Kind::Unreachable => {
            let mut tcp = connect_from_a_fresh_source(t.proxy).await?;
            let local = tcp.local_addr()?;
            let (request, expect): (&[u8], &[u8]) = match kind {
                Kind::PartialHead => (b"CONNECT api.test:443 HTTP/1.1\r\nHost: api", b""),
                Kind::BadRequest => (b"\x16\x03\x01 not a proxy request\r\n\r\n", b"HTTP/1.1 400"),
                _ => (b"CONNECT dead.test:443 HTTP/1.1\r\n\r\n", b"HTTP/1.1 502"),
            };
            tcp.write_all(request).await?;
            if kind == Kind::PartialHead {
                reached(local);
                until_closed(&mut tcp, hold).await?;
                return Ok(local);
            }
            let head = read_head(&mut tcp).await?;
            if !head.starts_with(expect) {
                return Err(
                    format!("{kind:?}: answered {}", String::from_utf8_lossy(&head)).into(),
                );
            }
            until_closed(&mut tcp, Duration::from_secs(10)).await?;
            Ok(local)
        }
    }
}

/// The verdict a finished connection of a finite kind must have. With `stopped`, the proxy may
/// have been stopped before it saw a passthrough tunnel's last bytes (the client does not wait
/// for the tunnel's far end to close).
fn assert_finite_verdict(kind: Kind, r: &ConnectionRecord, stopped: bool) {
    match kind {
        Kind::H1 | Kind::H2 | Kind::HoldAfterGet => {
            assert_eq!(
                verdict(r),
                (VerdictKind::Proceeded, Stage::Request, "1 request"),
                "{kind:?}: {r:#?}"
            );
            let alpn = if kind == Kind::H2 { "h2" } else { "http/1.1" };
            assert_eq!(r.alpn.as_deref(), Some(alpn), "{kind:?}: {r:#?}");
        }
        Kind::Passthrough => {
            assert_eq!(
                (r.verdict, r.stage),
                (VerdictKind::Passthrough, Stage::Tunnel),
                "{r:#?}"
            );
            let until_stop = stopped && r.reason == "relayed until the proxy stopped";
            assert!(r.reason == "relayed" || until_stop, "{r:#?}");
        }
        // A stop can come between the client's close and the proxy reading it (in TLS 1.3,
        // even before the proxy has read the client's Finished): the client cannot tell that
        // close from the one the stop causes.
        Kind::CancelAfterHandshake if stopped && r.reason.starts_with("proxy stopped") => {
            assert_eq!(r.verdict, VerdictKind::Undecided, "{r:#?}");
        }
        Kind::CancelAfterHandshake => assert_eq!(
            verdict(r),
            (
                VerdictKind::Cancelled,
                Stage::AfterHandshake,
                "close_notify"
            ),
            "{r:#?}"
        ),
        Kind::BadRequest => {
            assert_eq!(
                (r.verdict, r.stage),
                (VerdictKind::Undecided, Stage::Connect),
                "{r:#?}"
            );
            assert!(
                r.reason.starts_with("400: malformed proxy request"),
                "{r:#?}"
            );
        }
        Kind::Unreachable => {
            assert_eq!(
                (r.verdict, r.stage),
                (VerdictKind::UpstreamFailed, Stage::Connect),
                "{r:#?}"
            );
            assert!(r.reason.contains("refused"), "{r:#?}");
        }
        Kind::IdleAfterHandshake | Kind::SilentAfterConnect | Kind::PartialHead => {
            unreachable!("{kind:?} does not end by itself")
        }
    }
}

/// A loopback port where nothing listens.
fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Whether this build's `pin-proxy proxy` has FLAG (from its `--help`).
fn proxy_supports(flag: &str) -> bool {
    let out = Command::new(bin())
        .args(["proxy", "--help"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).contains(flag)
}

// ---------------------------------------------------------------------------------------------
// 4. No leak
// ---------------------------------------------------------------------------------------------

/// Runs `n` finite connections (kinds in turn), at most 32 at a time; all must succeed.
fn burst(h: &Harness, t: &Target, n: usize, tag: &str) -> Vec<(Kind, SocketAddr)> {
    h.rt.block_on(async {
        let gate = Arc::new(Semaphore::new(32));
        let mut tasks = JoinSet::new();
        for i in 0..n {
            let (t, gate) = (t.clone(), gate.clone());
            let kind = FINITE[i % FINITE.len()];
            let path = format!("/{tag}/{i}");
            tasks.spawn(async move {
                let _permit = gate.acquire_owned().await.unwrap();
                let r = tokio::time::timeout(
                    Duration::from_secs(30),
                    exercise(kind, &t, &path, None, Duration::ZERO),
                )
                .await;
                match r {
                    Ok(Ok(local)) => Ok((kind, local)),
                    Ok(Err(e)) => Err(format!("{kind:?} {i}: {e}")),
                    Err(_) => Err(format!("{kind:?} {i}: timed out")),
                }
            });
        }
        let mut done = Vec::new();
        let all = tokio::time::timeout(Duration::from_secs(90), async {
            while let Some(r) = tasks.join_next().await {
                done.push(r.unwrap().unwrap_or_else(|e| panic!("{e}")));
            }
        })
        .await;
        assert!(all.is_ok(), "the burst did not finish");
        done
    })
}

/// Waits until the origin has no open connection and the proxy's fd count holds still; returns
/// that count.
fn settled_fds(h: &Harness) -> usize {
    let idle = h
        .rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(15), h.origin.idle()).await });
    assert!(idle.is_ok(), "the proxy kept origin connections open");
    let mut last = h.open_fds();
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(50));
        let now = h.open_fds();
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// After a burst of 300 connections of every finite kind, the proxy's open file descriptors
/// come back to what they were before it (polled, at most 15 s), and every connection of the
/// burst got its record.
///
/// Origin connections are pooled: idle ones stay open until `--upstream-idle-timeout` (30 s by
/// default), which is not a leak. The proxy gets a short one (500 ms) so that they expire well
/// within the bound. The flag is passed only when `proxy --help` lists it: this test was written
/// before the pool, when each origin connection closed with its client connection, and holds
/// for both.
#[test]
fn open_file_descriptors_return_to_the_baseline_after_a_burst() {
    const BURST: usize = 300;
    let _load = load_lock();
    let mut a = args(&["--passthrough", "127.0.0.1"]);
    a.extend(["--map".to_string(), format!("dead.test={}", closed_port())]);
    if proxy_supports("--upstream-idle-timeout") {
        a.extend(args(&["--upstream-idle-timeout", "500ms"]));
    }
    let h = Running::start(Opts {
        args: a,
        ..Opts::default()
    });
    let t = Target::of(&h);
    let at_start = h.open_fds();
    // Warm-up: one connection of each kind, so that what the proxy creates once and keeps
    // (cached leaves, blocking-pool threads for DNS) is in the baseline.
    let warm = burst(&h, &t, FINITE.len(), "warm");
    wait_for_records(&h.events, warm.len(), Duration::from_secs(10));
    let baseline = settled_fds(&h);

    let done = burst(&h, &t, BURST, "burst");
    let peak = h.open_fds();
    wait_for_records(&h.events, warm.len() + BURST, Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut now = h.open_fds();
    while now > baseline && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        now = h.open_fds();
    }
    assert!(
        now <= baseline,
        "the proxy holds {now} fds after the burst, {baseline} before it (at start {at_start}, \
         right after the burst {peak})"
    );
    let idle = h
        .rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(15), h.origin.idle()).await });
    assert!(
        idle.is_ok(),
        "origin connections still open after the burst"
    );

    let records = h.finish();
    assert_eq!(records.len(), warm.len() + BURST);
    assert_ids_complete(&records);
    for (kind, local) in warm.iter().chain(&done) {
        assert_finite_verdict(*kind, record_of(&records, *local), false);
    }
}

// ---------------------------------------------------------------------------------------------
// 5. SIGTERM under load
// ---------------------------------------------------------------------------------------------

/// 200 clients, SIGTERM in the middle: half of them keep opening finite connections of every
/// kind, the other half sit in a state only the proxy can end (a held keep-alive connection,
/// idle after the handshake, silent after the CONNECT, half a CONNECT head). The proxy exits
/// 0, the events file is whole JSON Lines (every line parses, a newline at the end), the ids
/// are 1..N with none missing, every connection the clients know was accepted has its record,
/// and those that had reached a known state have the right verdict. Three serving threads, so
/// that the stop reaches connections on every thread.
#[test]
fn sigterm_under_load_leaves_a_complete_events_file_and_exits_0() {
    const CLIENTS: usize = 200;
    let _load = load_lock();
    // Timeouts far beyond the test, so that the hanging clients are still in the state they
    // reached when the SIGTERM comes, however slow the machine.
    let mut a = args(&[
        "--passthrough",
        "127.0.0.1",
        "--handshake-timeout",
        "120s",
        "--header-timeout",
        "120s",
        "--threads",
        "3",
    ]);
    a.extend(["--map".to_string(), format!("dead.test={}", closed_port())]);
    let h = Running::start(Opts {
        args: a,
        decide_after: Some("120s"),
        ..Opts::default()
    });
    let t = Target::of(&h);
    // The clients run on their own runtime: the harness's goes away with the proxy.
    let clients_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (finished_tx, mut finished_rx) = mpsc::unbounded_channel::<(Kind, SocketAddr)>();
    let (hanging_tx, mut hanging_rx) = mpsc::unbounded_channel::<(Kind, SocketAddr)>();
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for i in 0..CLIENTS {
        let (t, finished_tx, hanging_tx, stopped) = (
            t.clone(),
            finished_tx.clone(),
            hanging_tx.clone(),
            stopped.clone(),
        );
        tasks.spawn_on(
            async move {
                if i % 2 == 1 {
                    // One finite connection, then a hanging one until the proxy ends it.
                    let path = format!("/hang/{i}");
                    if let Ok(local) =
                        exercise(FINITE[i % FINITE.len()], &t, &path, None, Duration::ZERO).await
                    {
                        let _ = finished_tx.send((FINITE[i % FINITE.len()], local));
                    }
                    let kind = HANGING[(i / 2) % HANGING.len()];
                    if let Ok(local) =
                        exercise(kind, &t, &path, Some(&hanging_tx), Duration::from_secs(120)).await
                    {
                        if kind == Kind::HoldAfterGet {
                            // Its GET was answered before the stop.
                            let _ = finished_tx.send((kind, local));
                        }
                    }
                    return;
                }
                // Busy: finite connections one after another until the proxy is gone.
                for round in 0..1000 {
                    if *stopped.borrow() {
                        return;
                    }
                    let kind = FINITE[(i / 2 + round) % FINITE.len()];
                    let path = format!("/busy/{i}/{round}");
                    let done = tokio::time::timeout(
                        Duration::from_secs(20),
                        exercise(kind, &t, &path, None, Duration::ZERO),
                    )
                    .await;
                    match done {
                        Ok(Ok(local)) => {
                            let _ = finished_tx.send((kind, local));
                        }
                        _ => return,
                    }
                }
            },
            clients_rt.handle(),
        );
    }
    drop((finished_tx, hanging_tx));

    // Wait until every hanging client is in place and the busy ones have done some rounds.
    let mut finished: Vec<(Kind, SocketAddr)> = Vec::new();
    let mut hanging: Vec<(Kind, SocketAddr)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while hanging.len() < CLIENTS / 2 || finished.len() < CLIENTS {
        while let Ok(f) = finished_rx.try_recv() {
            finished.push(f);
        }
        while let Ok(f) = hanging_rx.try_recv() {
            hanging.push(f);
        }
        assert!(
            Instant::now() < deadline,
            "load never built up: {} hanging, {} finished",
            hanging.len(),
            finished.len()
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    let ended = h.sigterm(Duration::from_secs(15));
    stop.send(true).unwrap();
    let joined = clients_rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), async {
            while tasks.join_next().await.is_some() {}
        })
        .await
    });
    assert!(
        joined.is_ok(),
        "clients did not finish after the proxy stopped"
    );
    while let Ok(f) = finished_rx.try_recv() {
        finished.push(f);
    }

    assert!(!ended.stderr.contains("panicked"), "{}", ended.stderr);
    let status = ended
        .status
        .unwrap_or_else(|| panic!("no exit within 15 s of SIGTERM; stderr:\n{}", ended.stderr));
    assert_eq!(
        status.code(),
        Some(0),
        "exit after {:?}: {}",
        ended.took,
        ended.stderr
    );
    assert!(
        ended.stdout.contains("pinned?"),
        "no summary: {}",
        ended.stdout
    );
    let records = parse_events(&ended.events);
    assert_ids_complete(&records);
    for (kind, local) in &finished {
        assert_finite_verdict(*kind, record_of(&records, *local), true);
    }
    for (kind, local) in &hanging {
        let r = record_of(&records, *local);
        match kind {
            Kind::HoldAfterGet => {} // checked with the finished ones
            Kind::IdleAfterHandshake => assert_eq!(
                verdict(r),
                (
                    VerdictKind::Undecided,
                    Stage::AfterHandshake,
                    "proxy stopped before the client decided"
                ),
                "{r:#?}"
            ),
            Kind::SilentAfterConnect => assert_eq!(
                verdict(r),
                (
                    VerdictKind::Undecided,
                    Stage::Handshake,
                    "proxy stopped before the client's TLS hello"
                ),
                "{r:#?}"
            ),
            Kind::PartialHead => assert_eq!(
                (r.verdict, r.stage),
                (VerdictKind::Undecided, Stage::Connect),
                "{r:#?}"
            ),
            _ => unreachable!(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Bad input at every boundary
// ---------------------------------------------------------------------------------------------

/// Sends `bytes` as a proxy request; returns the answer (until the proxy closes) and the
/// client's address.
fn raw_exchange(proxy: SocketAddr, bytes: &[u8]) -> (String, SocketAddr) {
    let mut s = std::net::TcpStream::connect(proxy).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let local = s.local_addr().unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap_or_else(|e| {
        panic!(
            "the proxy did not close after {:?}: {e}",
            &bytes[..bytes.len().min(60)]
        )
    });
    (String::from_utf8_lossy(&out).into_owned(), local)
}

/// Bad proxy requests the CLI tests do not already send: each gets a 4xx and a closed
/// connection, and one record: undecided at connect, with the reason. Others are still served.
#[test]
fn bad_proxy_requests_get_a_4xx_a_close_and_one_record_each() {
    let h = Running::start(Opts::default());
    let mut long_line = b"CONNECT ".to_vec();
    long_line.extend(std::iter::repeat_n(b'a', 70_000));
    long_line.extend_from_slice(b".test:443 HTTP/1.1\r\n\r\n");
    let mut many_headers = b"CONNECT api.test:443 HTTP/1.1\r\n".to_vec();
    for i in 0..200 {
        many_headers.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many_headers.extend_from_slice(b"\r\n");
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "binary junk",
            b"\x00\x01\x02\xff\xfe\x80 junk \r\n\r\n".to_vec(),
            "HTTP/1.1 400",
            "400: malformed proxy request",
        ),
        (
            "control bytes in the CONNECT target",
            b"CONNECT \x7f\x01:443 HTTP/1.1\r\n\r\n".to_vec(),
            "HTTP/1.1 400",
            "400: malformed proxy request",
        ),
        (
            "port out of range",
            b"CONNECT api.test:99999 HTTP/1.1\r\n\r\n".to_vec(),
            "HTTP/1.1 400",
            "400: CONNECT target \"api.test:99999\" is not host:port",
        ),
        (
            "port 0",
            b"CONNECT api.test:0 HTTP/1.1\r\n\r\n".to_vec(),
            "HTTP/1.1 400",
            "400: CONNECT target",
        ),
        (
            "no host",
            b"CONNECT :443 HTTP/1.1\r\n\r\n".to_vec(),
            "HTTP/1.1 400",
            "400: CONNECT target",
        ),
        (
            "NUL in a header value",
            b"CONNECT api.test:443 HTTP/1.1\r\nHost: a\x00b\r\n\r\n".to_vec(),
            "HTTP/1.1 400",
            "400: malformed proxy request",
        ),
        (
            "space in a header name",
            b"CONNECT api.test:443 HTTP/1.1\r\nBad Name: x\r\n\r\n".to_vec(),
            "HTTP/1.1 400",
            "400: malformed proxy request",
        ),
        (
            "control byte in a header name",
            b"CONNECT api.test:443 HTTP/1.1\r\nX\x01: x\r\n\r\n".to_vec(),
            "HTTP/1.1 400",
            "400: malformed proxy request",
        ),
        (
            "unknown HTTP version",
            b"CONNECT api.test:443 HTTP/9.9\r\n\r\n".to_vec(),
            "HTTP/1.1 400",
            "400: malformed proxy request",
        ),
        (
            "200 header lines",
            many_headers,
            "HTTP/1.1 431",
            "431: request head too large",
        ),
        // hyper answers a request line over 64 KiB with 414 (the reason says 431: see
        // oversized_request_line_is_recorded_with_the_status_the_client_got).
        ("a 70 KB request line", long_line, "HTTP/1.1 4", "4"),
    ];
    let mut sent = Vec::new();
    for (what, bytes, status, reason) in &cases {
        let (resp, local) = raw_exchange(h.proxy_addr, bytes);
        assert!(resp.starts_with(status), "{what}: answered {resp:?}");
        sent.push((what, local, reason));
    }
    let records = h.finish_after_a_normal_client("/after-bad-requests", cases.len() + 1);
    assert_eq!(records.len(), cases.len() + 1);
    for (what, local, reason) in sent {
        let r = record_of(&records, local);
        assert_eq!(
            (r.verdict, r.stage, r.action),
            (VerdictKind::Undecided, Stage::Connect, None),
            "{what}: {r:#?}"
        );
        assert!(r.reason.starts_with(reason), "{what}: {}", r.reason);
        assert!(
            r.presented_pin.is_none() && r.upstream.is_none(),
            "{what}: {r:#?}"
        );
    }
}

/// A request line over 64 KiB: hyper answers 414, and the record should say what the client
/// got.
#[test]
fn oversized_request_line_is_recorded_with_the_status_the_client_got() {
    let h = Running::start(Opts::default());
    let mut line = b"CONNECT ".to_vec();
    line.extend(std::iter::repeat_n(b'a', 70_000));
    line.extend_from_slice(b".test:443 HTTP/1.1\r\n\r\n");
    let (resp, local) = raw_exchange(h.proxy_addr, &line);
    let status = &resp[9..12];
    wait_for_records(&h.events, 1, Duration::from_secs(10));
    let records = h.finish();
    let r = record_of(&records, local);
    assert!(
        r.reason.starts_with(status),
        "the client got {status}, the record says {:?}",
        r.reason
    );
}

/// After a valid CONNECT, bytes that are not a usable ClientHello: garbage TLS records, a
/// record too large, a handshake message that is not a hello, an empty record, application
/// data first, random bytes, and a truncated hello followed by EOF or by a reset. Each one is
/// closed without a byte from the proxy (no certificate went out) and is undecided at
/// handshake (rule 4: before the certificate, a failure is no pinning answer).
#[test]
fn garbage_tls_after_a_valid_connect_is_closed_and_undecided_before_any_certificate() {
    let h = Running::start(Opts::default());
    let hello = client_hello(rustls_client(&[&h.ca_pem]), HOST);
    let half = hello[..hello.len() / 2].to_vec();
    let bad_hello = "handshake failed before a certificate was presented: error: bad ClientHello";
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "garbage record",
            b"\x16\x03\x01\x00\x10abcdefghijklmnop".to_vec(),
            "",
            bad_hello,
        ),
        (
            "record over the size limit",
            [b"\x16\x03\x01\xff\xff".to_vec(), vec![0u8; 100]].concat(),
            "eof",
            bad_hello,
        ),
        (
            "a ServerHello instead of a ClientHello",
            b"\x16\x03\x01\x00\x08\x02\x00\x00\x04abcd".to_vec(),
            "",
            bad_hello,
        ),
        (
            "empty record",
            b"\x16\x03\x01\x00\x00".to_vec(),
            "",
            bad_hello,
        ),
        (
            "application data first",
            b"\x17\x03\x03\x00\x05hello".to_vec(),
            "",
            "not TLS: first bytes",
        ),
        (
            "random bytes",
            (0..500u32).map(|i| (i * 7919 % 251) as u8 | 0x80).collect(),
            "",
            "not TLS: first bytes",
        ),
        (
            "truncated hello, then EOF",
            half.clone(),
            "eof",
            "handshake failed before a certificate was presented: eof",
        ),
        (
            "truncated hello, then reset",
            half,
            "reset",
            "handshake failed before a certificate was presented: reset",
        ),
    ];
    let mut sent = Vec::new();
    for (what, bytes, end, _) in &cases {
        let mut s = connect_tunnel(h.proxy_addr, &format!("{HOST}:443"));
        s.set_nodelay(true).unwrap();
        let local = s.local_addr().unwrap();
        s.write_all(bytes).unwrap();
        match *end {
            "reset" => reset(&h, s),
            _ => {
                if *end == "eof" {
                    s.shutdown(std::net::Shutdown::Write).unwrap();
                }
                let mut out = Vec::new();
                s.read_to_end(&mut out)
                    .unwrap_or_else(|e| panic!("{what}: not closed by the proxy: {e}"));
                assert!(out.is_empty(), "{what}: the proxy answered {out:?}");
            }
        }
        sent.push((what, local));
    }
    let records = h.finish_after_a_normal_client("/after-garbage-tls", cases.len() + 1);
    for ((what, local), (_, _, _, reason)) in sent.into_iter().zip(&cases) {
        let r = record_of(&records, local);
        assert_eq!(
            (r.verdict, r.stage, r.action),
            (
                VerdictKind::Undecided,
                Stage::Handshake,
                Some(ActionKind::Intercept)
            ),
            "{what}: {r:#?}"
        );
        assert!(r.reason.starts_with(reason), "{what}: {}", r.reason);
        assert!(r.presented_pin.is_none(), "{what}: {r:#?}");
    }
}

/// A valid ClientHello followed, in the same write, by garbage. The proxy answers the hello
/// (its certificate goes out) and already holds the garbage, which makes the handshake fail:
/// by the verdict core's rule 4 and the README's verdict table, a handshake that fails after
/// the certificate was presented is `cancelled` at handshake with reason `error: ...`. The
/// proxy should get there at once, not wait for bytes that never come.
///
/// (Whether garbage the client sent before it could have seen the certificate should count as
/// a cancel at all is a question for the verdict core; this test asserts its rules as they
/// are.)
#[test]
fn valid_hello_then_garbage_in_the_same_write_is_decided_at_once() {
    let h = Running::start(Opts {
        args: args(&["--handshake-timeout", "30s"]),
        ..Opts::default()
    });
    let mut bytes = client_hello(rustls_client(&[&h.ca_pem]), HOST);
    bytes.extend_from_slice(b"junkjunkjunk");
    let mut s = connect_tunnel(h.proxy_addr, &format!("{HOST}:443"));
    s.set_nodelay(true).unwrap();
    let local = s.local_addr().unwrap();
    s.write_all(&bytes).unwrap();
    // A generous bound that proves progress: the handshake timeout is 30 s.
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    let closed = s.read_to_end(&mut out);
    assert_eq!(out.first(), Some(&0x16), "the server flight went out");
    assert!(
        closed.is_ok(),
        "the proxy still had not failed the handshake 10 s later: {closed:?}"
    );
    wait_for_records(&h.events, 1, Duration::from_secs(10));
    let records = h.finish();
    let r = record_of(&records, local);
    assert_eq!(
        (r.verdict, r.stage),
        (VerdictKind::Cancelled, Stage::Handshake),
        "{r:#?}"
    );
    assert!(r.reason.starts_with("error: "), "{}", r.reason);
    assert!(r.presented_pin.is_some());
}

// ---------------------------------------------------------------------------------------------
// 6. Bad input on the command line and in files
// ---------------------------------------------------------------------------------------------

/// Each case: exit 2, and stderr is exactly one line, `pin-proxy: error: ...` containing
/// `needle`.
fn assert_input_errors(dir: &Path, cases: &[(Vec<String>, String)]) {
    let mut failures = Vec::new();
    for (args, needle) in cases {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stderr) = run_cli(dir, &argv);
        let one_line = stderr.lines().count() == 1 && stderr.starts_with("pin-proxy: error: ");
        if code != Some(2) || !one_line || !stderr.contains(needle.as_str()) {
            failures.push(format!(
                "{args:?}: exit {code:?}, stderr {stderr:?} (want {needle:?})"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn proxy_args(extra: &[&str]) -> Vec<String> {
    let mut a = args(&["--ca-dir", "ca", "proxy", "--listen", "127.0.0.1:0"]);
    a.extend(args(extra));
    a
}

/// Writes a self-signed certificate for `host` and its key; returns (cert, key) file names.
fn write_cert(dir: &Path, name: &str, host: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![host.to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (c, k) = (format!("{name}.pem"), format!("{name}.key"));
    std::fs::write(dir.join(&c), cert.pem()).unwrap();
    std::fs::write(dir.join(&k), key.serialize_pem()).unwrap();
    (c, k)
}

/// Makes a CA directory `name` holding `ca.pem` and `ca.key` as given (`None`: a fresh CA's).
fn ca_dir(dir: &Path, name: &str, pem: Option<&[u8]>, key: Option<&[u8]>) -> String {
    let (code, stderr) = run_cli(dir, &["--ca-dir", name, "ca", "init"]);
    assert_eq!(code, Some(0), "{stderr}");
    if let Some(pem) = pem {
        std::fs::write(dir.join(name).join("ca.pem"), pem).unwrap();
    }
    if let Some(key) = key {
        std::fs::write(dir.join(name).join("ca.key"), key).unwrap();
    }
    name.to_string()
}

/// Bad globs and host specs (beyond the `--passthrough "bad host"` and unknown-profile cases of
/// tests/cli.rs), unreadable `--cert` files, broken rules files and corrupt CA directories:
/// each is refused at start with exit 2 and one line that names the flag or the file.
#[test]
fn bad_flags_and_files_exit_2_with_one_error_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (cert, key) = write_cert(dir, "good", HOST);
    std::fs::write(dir.join("notpem.pem"), "hello, I am not PEM\n").unwrap();
    std::fs::write(
        dir.join("badbase64.pem"),
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("notx509.pem"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let rules = [
        ("syntax.toml", "[[rule]\nhosts = \"a\"\n", "syntax.toml:1:"),
        (
            "glob.toml",
            "[[rule]]\nhosts = \"bad host\"\naction = \"passthrough\"\n",
            "glob.toml:2: hosts: bad host pattern",
        ),
        (
            "empty.toml",
            "[[rule]]\nhosts = \"\"\naction = \"passthrough\"\n",
            "empty.toml:2: hosts: empty host pattern",
        ),
        (
            "profile.toml",
            "[[rule]]\nhosts = \"api.test\"\nprofile = \"nope\"\n",
            "profile.toml:3: profile:",
        ),
        (
            "unknown.toml",
            "[[rule]]\nhosts = \"api.test\"\nprofle = \"expired\"\n",
            "unknown.toml:3:",
        ),
    ];
    for (name, text, _) in &rules {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let other_ca_key = {
        let other = ca_dir(dir, "other", None, None);
        std::fs::read(dir.join(other).join("ca.key")).unwrap()
    };
    let good_ca_pem = {
        let good = ca_dir(dir, "good-ca", None, None);
        std::fs::read(dir.join(good).join("ca.pem")).unwrap()
    };
    let corrupt_pem = ca_dir(dir, "corrupt-pem", Some(b"garbage\n"), None);
    let corrupt_der = ca_dir(
        dir,
        "corrupt-der",
        Some(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        None,
    );
    let corrupt_key = ca_dir(
        dir,
        "corrupt-key",
        None,
        Some(b"-----BEGIN PRIVATE KEY-----\nAAAA\n"),
    );
    let foreign_key = ca_dir(dir, "foreign-key", None, Some(&other_ca_key));
    let truncated = ca_dir(
        dir,
        "truncated",
        Some(&good_ca_pem[..good_ca_pem.len() / 2]),
        None,
    );
    std::fs::create_dir(dir.join("key-only")).unwrap();
    std::fs::write(dir.join("key-only").join("ca.key"), &other_ca_key).unwrap();

    let spec = |c: &str, k: &str| format!("{HOST}={c},{k}");
    let mut cases: Vec<(Vec<String>, String)> = vec![
        (
            proxy_args(&["--profile", "bad host=forged"]),
            "--profile: bad host pattern".into(),
        ),
        (
            proxy_args(&["--profile", "=forged"]),
            "--profile: empty host pattern".into(),
        ),
        (
            proxy_args(&["--profile", "api.test"]),
            "--profile: expected GLOB=PROFILE".into(),
        ),
        (
            proxy_args(&["--passthrough", "api/test"]),
            "--passthrough: bad host pattern".into(),
        ),
        (
            proxy_args(&["--map", "=127.0.0.1:1"]),
            "--map: missing host".into(),
        ),
        (
            proxy_args(&["--map", "api.test:99999=127.0.0.1:1"]),
            "--map: bad port".into(),
        ),
        (
            proxy_args(&["--cert", &format!("bad host={cert},{key}")]),
            "--cert: bad host pattern".into(),
        ),
        (
            proxy_args(&["--cert", HOST]),
            "--cert: expected HOST=cert.pem,key.pem".into(),
        ),
        (
            proxy_args(&["--cert", &spec("notpem.pem", &key)]),
            "notpem.pem: no CERTIFICATE block found".into(),
        ),
        (
            proxy_args(&["--cert", &spec("badbase64.pem", &key)]),
            "badbase64.pem: malformed PEM".into(),
        ),
        (
            proxy_args(&["--cert", &spec("notx509.pem", &key)]),
            "not an X.509 certificate".into(),
        ),
        (
            proxy_args(&["--cert", &spec(&cert, "notpem.pem")]),
            "notpem.pem: no usable private key".into(),
        ),
        (
            proxy_args(&["--cert", &spec(&cert, "missing.key")]),
            "cannot read the --cert key missing.key".into(),
        ),
        (
            proxy_args(&["--rules", "missing.toml"]),
            "cannot read the rules file missing.toml".into(),
        ),
    ];
    for (name, _, needle) in &rules {
        cases.push((proxy_args(&["--rules", name]), format!("--rules: {needle}")));
    }
    for (ca, needle) in [
        (
            &corrupt_pem,
            "corrupt-pem/ca.pem: no CERTIFICATE block found",
        ),
        (&corrupt_der, "corrupt-der/ca.pem: not an X.509 certificate"),
        (&corrupt_key, "corrupt-key/ca.key: not a PEM private key"),
        (
            &foreign_key,
            "the CA key does not belong to this certificate",
        ),
        (&truncated, "truncated/ca.pem:"),
        (&"key-only".to_string(), "its certificate is missing"),
    ] {
        cases.push((
            args(&["--ca-dir", ca, "proxy", "--listen", "127.0.0.1:0"]),
            needle.into(),
        ));
        cases.push((args(&["--ca-dir", ca, "ca", "export"]), needle.into()));
    }
    // `ca show` and `ca export` load the CA without creating one: only both files missing is
    // different there (tests/cli.rs).
    cases.retain(|(a, n)| {
        !(a.contains(&"export".to_string()) && n.contains("its certificate is missing"))
    });
    assert_input_errors(dir, &cases);
}

/// Files that are binary junk (not UTF-8): a rules file, a scenario file, a CA certificate and
/// a CA key. The README's exit-code table: 2 for "a malformed scenario, rules or PEM file".
#[test]
fn binary_junk_files_exit_2_with_one_error_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let junk: Vec<u8> = (0..600u32).map(|i| (i * 7919 % 256) as u8 | 0x80).collect();
    std::fs::write(dir.join("junk.toml"), &junk).unwrap();
    let junk_pem = ca_dir(dir, "junk-pem", Some(&junk), None);
    let junk_key = ca_dir(dir, "junk-key", None, Some(&junk));
    let cases = vec![
        (
            proxy_args(&["--rules", "junk.toml"]),
            "junk.toml".to_string(),
        ),
        (args(&["run", "junk.toml"]), "junk.toml".to_string()),
        (
            args(&["run", "--list", "junk.toml"]),
            "junk.toml".to_string(),
        ),
        (
            args(&["--ca-dir", &junk_pem, "proxy", "--listen", "127.0.0.1:0"]),
            "junk-pem/ca.pem".to_string(),
        ),
        (
            args(&["--ca-dir", &junk_pem, "ca", "show"]),
            "junk-pem/ca.pem".to_string(),
        ),
        (
            args(&["--ca-dir", &junk_key, "proxy", "--listen", "127.0.0.1:0"]),
            "junk-key/ca.key".to_string(),
        ),
    ];
    assert_input_errors(dir, &cases);
}

/// `--map HOST[:PORT]=ADDR:PORT` takes a host, and matching is exact: a glob or a name with a
/// space can never match, so such an entry is silently useless (and the host it was meant for
/// is resolved in DNS instead). It should be refused like the other host flags.
#[test]
fn map_with_a_glob_or_a_bad_host_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = vec![
        (
            proxy_args(&["--map", "*.test=127.0.0.1:1"]),
            "--map".to_string(),
        ),
        (
            proxy_args(&["--map", "bad host=127.0.0.1:1"]),
            "--map".to_string(),
        ),
        (
            proxy_args(&["--map", "api.te?t:443=127.0.0.1:1"]),
            "--map".to_string(),
        ),
    ];
    assert_input_errors(tmp.path(), &cases);
}

/// `--cert` with a key that does not belong to the certificate. Accepted, it makes the proxy
/// sign its handshakes with the wrong key; a client that trusts the certificate then fails the
/// signature check (alert decrypt_error) and the connection is recorded as `cancelled` with
/// `pinned? yes` in the summary: a pinning result made up by a configuration mistake.
#[test]
fn cert_whose_key_does_not_match_is_refused_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (cert, _) = write_cert(dir, "a", HOST);
    let (_, other_key) = write_cert(dir, "b", HOST);
    let cases = vec![(
        proxy_args(&["--cert", &format!("{HOST}={cert},{other_key}")]),
        "--cert".to_string(),
    )];
    assert_input_errors(dir, &cases);
}
