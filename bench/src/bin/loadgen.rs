//! The benchmark's load generator: HTTPS GETs to an origin, directly or through a proxy.
//!
//! Ways to the origin: an HTTP proxy's CONNECT (`--proxy`), a SOCKS5 proxy's CONNECT (`--socks5`,
//! no authentication) or plain TCP to `--target` (neither), which is also how an app behind a
//! transparent redirect connects. The TLS server name is `--name` (sent as SNI), else the
//! target's address (verified as an IP address, no SNI); CONNECT and SOCKS5 ask for that name
//! and the target's port.
//!
//! Modes: `new-conn` (each request is TCP connect, CONNECT, TLS handshake, one GET, close),
//! `keep-alive` (one TLS connection per worker, GETs back to back) and `idle` (open
//! `--connections` connections, one GET on each, then hold them until SIGTERM/SIGINT or
//! `--hold-max`). Certificates are verified against `--ca`. TLS resumption is off, so every
//! connection is a full handshake. Prints one JSON line; failed requests are counted in it.

use std::{
    io,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use clap::Parser;
use pin_proxy_bench::{load_roots, provider};
use rustls::{client::Resumption, pki_types::ServerName, ClientConfig};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};
use tokio_rustls::{client::TlsStream, TlsConnector};

/// Limit on one request (connect, tunnel, handshake, GET and response).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum Mode {
    NewConn,
    KeepAlive,
    Idle,
}

#[derive(Parser)]
struct Args {
    /// The origin (an IP address and port): connected to directly when no proxy is given;
    /// through a proxy, its port is the one asked for. Without `--name`, the origin's
    /// certificate must have this IP in a SAN.
    #[arg(long)]
    target: SocketAddr,
    /// The TLS server name (sent as SNI and verified), and the host that CONNECT and SOCKS5 ask
    /// for; without it, the target's address.
    #[arg(long)]
    name: Option<String>,
    /// Proxy to go through with HTTP CONNECT.
    #[arg(long, conflicts_with = "socks5")]
    proxy: Option<SocketAddr>,
    /// SOCKS5 proxy to go through (RFC 1928 CONNECT, no authentication): a domain name when
    /// `--name` is given, else the target's address.
    #[arg(long)]
    socks5: Option<SocketAddr>,
    /// Root certificates (PEM) to trust: the proxy's CA, or the origin's root.
    #[arg(long)]
    ca: PathBuf,
    #[arg(long, value_enum)]
    mode: Mode,
    /// Workers sending requests (in idle mode: connections opened at once).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Measured seconds, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before the measurement starts.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Connections to open and hold in idle mode.
    #[arg(long, default_value_t = 2000)]
    connections: usize,
    /// Longest hold in idle mode, in seconds.
    #[arg(long, default_value_t = 120.0)]
    hold_max: f64,
    /// A process (the proxy) whose CPU time over the measured window is reported.
    #[arg(long)]
    pid: Option<u32>,
    /// The origin process, whose CPU time is left out of `other_cpu_s`.
    #[arg(long)]
    origin_pid: Option<u32>,
    /// Clock ticks per second of /proc/PID/stat (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
}

/// How connections reach the origin.
#[derive(Clone, Copy)]
enum Via {
    /// Plain TCP to the target (the origin itself, or an address that a redirect takes over).
    Direct,
    /// An HTTP proxy's CONNECT.
    Http(SocketAddr),
    /// A SOCKS5 proxy's CONNECT.
    Socks5(SocketAddr),
}

impl Via {
    fn label(self) -> &'static str {
        match self {
            Via::Direct => "direct",
            Via::Http(_) => "http",
            Via::Socks5(_) => "socks5",
        }
    }
}

/// What the workers need to open connections and send requests.
struct Client {
    target: SocketAddr,
    via: Via,
    /// The host asked for: `--name`, else the target's address.
    host: Host,
    /// `host:port` as CONNECT and the `Host` header give it.
    authority: String,
    server_name: ServerName<'static>,
    tls: TlsConnector,
    request: Vec<u8>,
}

/// The host that CONNECT and SOCKS5 ask for.
enum Host {
    Name(String),
    Address(IpAddr),
}

impl Client {
    async fn open(&self) -> io::Result<TlsStream<TcpStream>> {
        let to = match self.via {
            Via::Direct => self.target,
            Via::Http(proxy) | Via::Socks5(proxy) => proxy,
        };
        let mut tcp = TcpStream::connect(to).await?;
        tcp.set_nodelay(true)?;
        match self.via {
            Via::Direct => {}
            Via::Http(_) => {
                let head = format!("CONNECT {0} HTTP/1.1\r\nHost: {0}\r\n\r\n", self.authority);
                tcp.write_all(head.as_bytes()).await?;
                let mut buf = Vec::with_capacity(256);
                let end = read_head(&mut tcp, &mut buf).await?;
                check_status(&buf[..end], "CONNECT")?;
                if buf.len() > end {
                    return Err(io::Error::other("bytes after the CONNECT response"));
                }
            }
            Via::Socks5(_) => socks5_connect(&mut tcp, &self.host, self.target.port()).await?,
        }
        self.tls.connect(self.server_name.clone(), tcp).await
    }

    /// One GET on `stream`; reads the whole response (Content-Length body).
    async fn get<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        buf: &mut Vec<u8>,
    ) -> io::Result<()> {
        stream.write_all(&self.request).await?;
        buf.clear();
        let end = read_head(stream, buf).await?;
        check_status(&buf[..end], "GET")?;
        let len = content_length(&buf[..end])
            .ok_or_else(|| io::Error::other("response without Content-Length"))?;
        while buf.len() < end + len {
            if stream.read_buf(buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(())
    }
}

/// SOCKS5 without authentication (RFC 1928): the greeting, then CONNECT to `host:port`. Each
/// reply is read exactly (no byte of the tunnel is taken); a refusal is an error naming it.
async fn socks5_connect(tcp: &mut TcpStream, host: &Host, port: u16) -> io::Result<()> {
    tcp.write_all(&[5, 1, 0]).await?;
    let mut choice = [0u8; 2];
    tcp.read_exact(&mut choice).await?;
    match choice {
        [5, 0] => {}
        [5, 0xff] => {
            return Err(io::Error::other(
                "SOCKS5: no acceptable method (the proxy wants authentication)",
            ))
        }
        other => {
            return Err(io::Error::other(format!(
                "SOCKS5 greeting: unexpected answer {other:?}"
            )))
        }
    }
    let mut request = vec![5, 1, 0];
    match host {
        Host::Name(name) => {
            let len = u8::try_from(name.len())
                .map_err(|_| io::Error::other("SOCKS5: the name is longer than 255 bytes"))?;
            request.extend_from_slice(&[3, len]);
            request.extend_from_slice(name.as_bytes());
        }
        Host::Address(IpAddr::V4(a)) => {
            request.push(1);
            request.extend_from_slice(&a.octets());
        }
        Host::Address(IpAddr::V6(a)) => {
            request.push(4);
            request.extend_from_slice(&a.octets());
        }
    }
    request.extend_from_slice(&port.to_be_bytes());
    tcp.write_all(&request).await?;
    // VER REP RSV ATYP, then the bound address (its length follows from ATYP) and port.
    let mut head = [0u8; 4];
    tcp.read_exact(&mut head).await?;
    if head[0] != 5 {
        return Err(io::Error::other(format!(
            "SOCKS5 reply of version {}",
            head[0]
        )));
    }
    if head[1] != 0 {
        return Err(io::Error::other(format!(
            "SOCKS5 CONNECT refused: {}",
            socks5_reply(head[1])
        )));
    }
    let addr_len = match head[3] {
        1 => 4,
        4 => 16,
        3 => {
            let mut len = [0u8; 1];
            tcp.read_exact(&mut len).await?;
            usize::from(len[0])
        }
        other => {
            return Err(io::Error::other(format!(
                "SOCKS5 reply with address type {other}"
            )))
        }
    };
    let mut bound = [0u8; 255 + 2];
    tcp.read_exact(&mut bound[..addr_len + 2]).await?;
    Ok(())
}

/// A SOCKS5 reply code as RFC 1928 names it.
fn socks5_reply(code: u8) -> String {
    let name = match code {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unassigned code",
    };
    format!("reply {code} ({name})")
}

/// Reads until the end of an HTTP head; returns the head's length (with the blank line).
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> io::Result<usize> {
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(i + 4);
        }
        if buf.len() > 64 * 1024 {
            return Err(io::Error::other("response head too long"));
        }
        buf.reserve(4096);
        if stream.read_buf(buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

fn check_status(head: &[u8], what: &str) -> io::Result<()> {
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    match line.split(' ').nth(1) {
        Some("200") => Ok(()),
        _ => Err(io::Error::other(format!("{what}: {line}"))),
    }
}

fn content_length(head: &[u8]) -> Option<usize> {
    String::from_utf8_lossy(head).lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })
}

/// One worker's results: latencies (µs) of requests that finished in the measured window.
#[derive(Default)]
struct Stats {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

impl Stats {
    fn record(&mut self, window: (Instant, Instant), started: Instant, result: io::Result<()>) {
        let now = Instant::now();
        let in_window = now >= window.0 && now < window.1;
        match result {
            Ok(()) if in_window => self.latencies_us.push((now - started).as_micros() as u32),
            Ok(()) => {}
            Err(e) => {
                self.errors += in_window as u64;
                self.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

fn timed_out<T>(r: Result<io::Result<T>, tokio::time::error::Elapsed>) -> io::Result<T> {
    r.unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "request timed out")))
}

async fn new_conn_worker(client: Arc<Client>, window: (Instant, Instant)) -> Stats {
    let mut stats = Stats::default();
    let mut buf = Vec::with_capacity(4096);
    while Instant::now() < window.1 {
        let started = Instant::now();
        let result = timeout(REQUEST_TIMEOUT, async {
            let mut stream = client.open().await?;
            client.get(&mut stream, &mut buf).await?;
            stream.shutdown().await
        })
        .await;
        let failed = !matches!(result, Ok(Ok(())));
        stats.record(window, started, timed_out(result));
        if failed {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    stats
}

async fn keep_alive_worker(client: Arc<Client>, window: (Instant, Instant)) -> Stats {
    let mut stats = Stats::default();
    let mut buf = Vec::with_capacity(4096);
    let mut conn: Option<TlsStream<TcpStream>> = None;
    while Instant::now() < window.1 {
        let started = Instant::now();
        let result = timeout(REQUEST_TIMEOUT, async {
            if conn.is_none() {
                conn = Some(client.open().await?);
            }
            client.get(conn.as_mut().unwrap(), &mut buf).await
        })
        .await;
        let result = timed_out(result);
        if result.is_err() {
            conn = None;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stats.record(window, started, result);
    }
    stats
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Busy and idle ticks of the whole machine (all CPUs, from /proc/stat). Busy is user, nice,
/// system and steal; interrupt time is left out, as most of it is our own loopback traffic.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let f: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    Some((
        f.get(..3)?.iter().sum::<u64>() + f.get(7)?,
        f.get(3)? + f.get(4)?,
    ))
}

/// CPU ticks of the given processes, then the machine's busy and idle ticks.
fn cpu_sample(pids: [Option<u32>; 3]) -> [Option<u64>; 5] {
    let [a, b, c] = pids.map(|pid| pid.and_then(cpu_ticks));
    let machine = machine_ticks();
    [a, b, c, machine.map(|m| m.0), machine.map(|m| m.1)]
}

fn tls_description(stream: &TlsStream<TcpStream>) -> String {
    let (_, conn) = stream.get_ref();
    let version = conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    let suite = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_default();
    let group = conn
        .negotiated_key_exchange_group()
        .map(|g| format!("{:?}", g.name()))
        .unwrap_or_default();
    format!("{version} {suite} {group}")
}

fn json_str(s: &str) -> String {
    let escaped: String = s
        .chars()
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c if c.is_control() => vec![' '],
            c => vec![c],
        })
        .collect();
    format!("\"{escaped}\"")
}

/// Idle mode: open the connections, print the JSON line, hold until a signal or `--hold-max`.
async fn idle(args: &Args, client: Arc<Client>) -> io::Result<()> {
    let started = Instant::now();
    let held = Arc::new(Mutex::new(Vec::with_capacity(args.connections)));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (client, held, next, total) =
            (client.clone(), held.clone(), next.clone(), args.connections);
        workers.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            let mut buf = Vec::with_capacity(4096);
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                let result = timeout(REQUEST_TIMEOUT, async {
                    let mut stream = client.open().await?;
                    client.get(&mut stream, &mut buf).await?;
                    Ok(stream)
                })
                .await;
                match timed_out(result) {
                    Ok(stream) => held.lock().unwrap().push(stream),
                    Err(e) => {
                        stats.errors += 1;
                        stats.first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            stats
        }));
    }
    let (mut errors, mut first_error) = (0, None);
    for worker in workers {
        let stats = worker.await.expect("worker");
        errors += stats.errors;
        first_error = first_error.or(stats.first_error);
    }
    let open = held.lock().unwrap().len();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"mode\":\"idle\",\"ready\":true,\"connections\":{open},\"errors\":{errors},\"seconds\":{seconds:.3},\"first_error\":{}}}",
        first_error.as_deref().map(json_str).unwrap_or("null".into())
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = tokio::time::sleep(Duration::from_secs_f64(args.hold_max)) => {}
    }
    Ok(())
}

#[tokio::main]
async fn main() -> io::Result<()> {
    let args = Args::parse();
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(load_roots(&args.ca)?)
        .with_no_client_auth();
    config.resumption = Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let via = match (args.proxy, args.socks5) {
        (Some(proxy), _) => Via::Http(proxy),
        (None, Some(socks5)) => Via::Socks5(socks5),
        (None, None) => Via::Direct,
    };
    let (host, authority, server_name) = match &args.name {
        Some(name) => (
            Host::Name(name.clone()),
            format!("{name}:{}", args.target.port()),
            ServerName::try_from(name.clone())
                .map_err(|e| io::Error::other(format!("--name {name:?}: {e}")))?,
        ),
        None => (
            Host::Address(args.target.ip()),
            args.target.to_string(),
            ServerName::IpAddress(args.target.ip().into()),
        ),
    };
    let client = Arc::new(Client {
        target: args.target,
        via,
        host,
        request: format!(
            "GET / HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: pin-proxy-bench\r\n\r\n"
        )
        .into_bytes(),
        authority,
        server_name,
        tls: TlsConnector::from(Arc::new(config)),
    });

    if args.mode == Mode::Idle {
        return idle(&args, client).await;
    }

    // Check the path once (and name the negotiated TLS parameters) before loading it.
    let probe = timeout(REQUEST_TIMEOUT, async {
        let mut probe = client.open().await?;
        client.get(&mut probe, &mut Vec::new()).await?;
        Ok(probe)
    })
    .await;
    let probe = timed_out(probe).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "the first request ({} to {}) failed: {e}",
                client.via.label(),
                client.authority
            ),
        )
    })?;
    let tls = tls_description(&probe);
    drop(probe);

    let start = Instant::now() + Duration::from_secs_f64(args.warmup);
    let window = (start, start + Duration::from_secs_f64(args.duration));
    // CPU over the measured window: the proxy's, ours, the origin's and the whole machine's.
    let pids = [args.pid, Some(std::process::id()), args.origin_pid];
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(window.0.into()).await;
        let before = cpu_sample(pids);
        tokio::time::sleep_until(window.1.into()).await;
        let after = cpu_sample(pids);
        let diff = |i: usize| Some(after[i]?.saturating_sub(before[i]?));
        [diff(0), diff(1), diff(2), diff(3), diff(4)]
    });
    let workers: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| {
            let client = client.clone();
            match args.mode {
                Mode::NewConn => tokio::spawn(new_conn_worker(client, window)),
                _ => tokio::spawn(keep_alive_worker(client, window)),
            }
        })
        .collect();

    let (mut latencies, mut errors, mut first_error) = (Vec::new(), 0, None);
    for worker in workers {
        let stats = worker.await.expect("worker");
        latencies.extend(stats.latencies_us);
        errors += stats.errors;
        first_error = first_error.or(stats.first_error);
    }
    let ticks = cpu.await.expect("cpu task");
    let seconds = |t: Option<u64>| t.map(|t| t as f64 / args.clk_tck as f64);
    let (cpu_s, loadgen_cpu_s) = (seconds(ticks[0]), seconds(ticks[1]));
    // Busy CPU time of everything else on the machine (other jobs disturb the measurement).
    let ours = ticks[0].unwrap_or(0) + ticks[1].unwrap_or(0) + ticks[2].unwrap_or(0);
    let other_cpu_s = seconds(ticks[3].map(|busy| busy.saturating_sub(ours)));
    let idle_cpu_s = seconds(ticks[4]);
    latencies.sort_unstable();
    let pct = |p: usize| {
        let i = (latencies.len() * p / 100).min(latencies.len().saturating_sub(1));
        latencies
            .get(i)
            .map(|&us| us as f64 / 1000.0)
            .unwrap_or(0.0)
    };
    let requests = latencies.len();
    let opt = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or("null".into());
    println!(
        "{{\"mode\":\"{}\",\"via\":\"{}\",\"requests\":{requests},\"errors\":{errors},\"seconds\":{:.3},\"rate\":{:.1},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"cpu_s\":{},\"cpu_per_1000\":{},\"loadgen_cpu_s\":{},\"other_cpu_s\":{},\"idle_cpu_s\":{},\"tls\":{},\"first_error\":{}}}",
        if args.mode == Mode::NewConn { "new-conn" } else { "keep-alive" },
        client.via.label(),
        args.duration,
        requests as f64 / args.duration,
        pct(50),
        pct(99),
        opt(cpu_s),
        opt(cpu_s.filter(|_| requests > 0).map(|c| c * 1000.0 / requests as f64)),
        opt(loadgen_cpu_s),
        opt(other_cpu_s),
        opt(idle_cpu_s),
        json_str(&tls),
        first_error.as_deref().map(json_str).unwrap_or("null".into()),
    );
    Ok(())
}
