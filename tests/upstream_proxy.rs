//! `--upstream-proxy` end to end: real curl through the real pin-proxy binary, whose origin
//! connections go through a small CONNECT proxy written here (it records each CONNECT target and
//! the `Proxy-Authorization` it got, then relays, or answers as the target's name tells it to).
//! Intercept, passthrough, plain HTTP and a `--map-local` host's late origin go through it; an unmapped host is asked for by name (it
//! does not resolve here, so there is no local DNS), a mapped one as its address; credentials
//! from a file, the environment and the URL (with its warning), right, wrong and missing; the
//! password in no output or record; the proxy's failures in the record; bypass globs go direct.

mod common;

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pin_proxy::ca::KeyType;
use pin_proxy::origin::pki::OriginPki;
use pin_proxy::origin::TestOrigin;
use pin_proxy::record::{ActionKind, ConnectionRecord, Stage, VerdictKind};

const SECRET: &str = "hunter2-Zq9";
const AUTH_ENV: &str = "PIN_PROXY_UPSTREAM_AUTH";

/// What the fake upstream proxy does with a CONNECT.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// 200, then relay to the target.
    Relay,
    /// This status line, then close.
    Status(&'static str),
    /// Bytes that are not HTTP.
    Garbage,
    /// A head that never ends within pin-proxy's limit.
    Oversized,
    /// Nothing: it reads until pin-proxy gives up.
    Silent,
}

/// One CONNECT the fake upstream proxy got.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    target: String,
    authorization: Option<String>,
}

/// A CONNECT proxy on 127.0.0.1: targets are routed by `routes` (name:port → address, and the
/// answer), else connected as the address they are.
struct FakeUpstream {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

#[derive(Clone, Default)]
struct FakeConfig {
    routes: HashMap<String, (Option<SocketAddr>, Answer)>,
    /// The `Proxy-Authorization` value required (a 407 otherwise).
    require: Option<String>,
}

impl FakeUpstream {
    fn start(config: FakeConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake upstream proxy");
        let addr = listener.local_addr().expect("its address");
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        let config = Arc::new(config);
        // The accept loop lives as long as the test binary; each connection has its thread.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, config) = (log.clone(), config.clone());
                std::thread::spawn(move || serve_fake(stream, &config, &log));
            }
        });
        Self { addr, seen }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("the log").clone()
    }

    fn targets(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.target).collect()
    }
}

fn serve_fake(mut client: TcpStream, config: &FakeConfig, log: &Mutex<Vec<Seen>>) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
        if head.len() > 16 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some("CONNECT"), Some(target)) = (parts.next(), parts.next()) else {
        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
        return;
    };
    let authorization = lines.find_map(|l| {
        l.split_once(':')
            .filter(|(name, _)| name.eq_ignore_ascii_case("proxy-authorization"))
            .map(|(_, v)| v.trim().to_string())
    });
    log.lock().expect("the log").push(Seen {
        target: target.to_string(),
        authorization: authorization.clone(),
    });
    if config.require.is_some() && authorization != config.require {
        let _ = client.write_all(
            b"HTTP/1.1 407 Proxy Authentication Required\r\n\
              Proxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\n\r\n",
        );
        return;
    }
    let (to, answer) = match config.routes.get(target) {
        Some((to, answer)) => (*to, *answer),
        None => (target.parse().ok(), Answer::Relay),
    };
    match answer {
        Answer::Status(line) => {
            let _ = write!(client, "HTTP/1.1 {line}\r\nContent-Length: 0\r\n\r\n");
        }
        Answer::Garbage => {
            let _ = client.write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n");
        }
        Answer::Oversized => {
            let _ = client.write_all(b"HTTP/1.1 200 OK\r\nX-Pad: ");
            let _ = client.write_all(&[b'a'; 20 * 1024]);
            let _ = client.read(&mut byte);
        }
        Answer::Silent => {
            // pin-proxy closes it at its --connect-timeout (the read timeout bounds the wait).
            let _ = client.read(&mut byte);
        }
        Answer::Relay => {
            let Some(origin) = to.and_then(|a| TcpStream::connect(a).ok()) else {
                let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                return;
            };
            let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
            relay(client, origin);
        }
    }
}

/// Copies both ways until each side has closed.
fn relay(client: TcpStream, origin: TcpStream) {
    let _ = client.set_read_timeout(None);
    let (Ok(mut client_read), Ok(mut origin_read)) = (client.try_clone(), origin.try_clone())
    else {
        return;
    };
    let (mut client_write, mut origin_write) = (client, origin);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut origin_write);
        let _ = origin_write.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut origin_read, &mut client_write);
    let _ = client_write.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}

/// The test origins: `api.test` over TLS (its own PKI) and a plain-HTTP one.
struct Origins {
    _rt: tokio::runtime::Runtime,
    tls: TestOrigin,
    plain: TestOrigin,
    pki: OriginPki,
    dir: tempfile::TempDir,
    root_pem: PathBuf,
}

impl Origins {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let pki = OriginPki::generate(KeyType::EcdsaP256, "api", &["current"]).expect("a PKI");
        let leaf = pki
            .leaf(&["api.test".to_string()], "current")
            .expect("a leaf");
        let tls = rt
            .block_on(TestOrigin::start(leaf))
            .expect("the TLS origin");
        let plain = rt
            .block_on(TestOrigin::start_plain())
            .expect("the plain origin");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root_pem = dir.path().join("origin-root.pem");
        std::fs::write(&root_pem, pki.root_pem()).expect("write the root");
        Self {
            _rt: rt,
            tls,
            plain,
            pki,
            dir,
            root_pem,
        }
    }

    /// The fake upstream's routes to these origins, by the names curl asks for.
    fn routes(&self) -> HashMap<String, (Option<SocketAddr>, Answer)> {
        HashMap::from([
            (
                "api.test:443".into(),
                (Some(self.tls.addr()), Answer::Relay),
            ),
            (
                "plain.test:80".into(),
                (Some(self.plain.addr()), Answer::Relay),
            ),
        ])
    }
}

/// A running pin-proxy, its stderr drained by a thread.
struct Run {
    child: Child,
    addr: SocketAddr,
    events: PathBuf,
    ca_pem: PathBuf,
    stderr: Arc<Mutex<String>>,
    drain: Option<std::thread::JoinHandle<()>>,
}

impl Run {
    /// Starts `pin-proxy proxy` trusting the origins' root, with `args` and `env`.
    fn start(origins: &Origins, name: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = origins.dir.path().join(name);
        let events = dir.join("events.jsonl");
        let ca_dir = dir.join("ca");
        let mut cmd = Command::new(common::bin());
        cmd.arg("--ca-dir")
            .arg(&ca_dir)
            .args(["proxy", "--listen", "127.0.0.1:0", "--quiet", "--events"])
            .arg(&events)
            .arg("--upstream-ca")
            .arg(&origins.root_pem)
            .args(["--decide-after", "3s"])
            .args(args)
            .env_remove(AUTH_ENV)
            .env_remove("PIN_PROXY_AUTH")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start pin-proxy");
        let mut reader = BufReader::new(child.stderr.take().expect("stderr"));
        let mut seen = String::new();
        let mut addr = None;
        for _ in 0..50 {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            seen.push_str(&line);
            if let Some(a) = line.trim().strip_prefix("pin-proxy listening on ") {
                addr = a.parse().ok();
                break;
            }
        }
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pin-proxy did not start:\n{seen}");
        };
        let stderr = Arc::new(Mutex::new(seen));
        let sink = stderr.clone();
        let drain = std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = reader.read_to_string(&mut rest);
            sink.lock().expect("stderr").push_str(&rest);
        });
        Self {
            child,
            addr,
            events,
            ca_pem: ca_dir.join("ca.pem"),
            stderr,
            drain: Some(drain),
        }
    }

    /// curl through this proxy (a 10 s bound); trusts the proxy's CA unless `args` give one.
    fn curl(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "10", "--noproxy", ""])
            .arg("--proxy")
            .arg(format!("http://{}", self.addr));
        if !args.contains(&"--cacert") {
            cmd.arg("--cacert").arg(&self.ca_pem);
        }
        cmd.args(args).output().expect("curl is installed")
    }

    /// Waits for `n` records, stops the proxy (SIGTERM) and returns the records, stdout,
    /// stderr and the events file's text.
    fn stop_after(mut self, n: usize) -> Stopped {
        common::wait_for_records(&self.events, n, Duration::from_secs(10));
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        let exit = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "pin-proxy did not stop");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_string(&mut stdout);
        }
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
        let stderr = self.stderr.lock().expect("stderr").clone();
        assert!(exit.success(), "pin-proxy exit {exit:?}; stderr: {stderr}");
        Stopped {
            records: common::read_events(&self.events),
            events: std::fs::read_to_string(&self.events).unwrap_or_default(),
            stdout,
            stderr,
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

struct Stopped {
    records: Vec<ConnectionRecord>,
    events: String,
    stdout: String,
    stderr: String,
}

impl Stopped {
    fn for_host(&self, host: &str) -> Vec<&ConnectionRecord> {
        self.records
            .iter()
            .filter(|r| r.host.as_deref() == Some(host))
            .collect()
    }

    /// The password appears nowhere pin-proxy writes.
    fn assert_no_secret(&self) {
        for (what, text) in [
            ("stdout", &self.stdout),
            ("stderr", &self.stderr),
            ("events", &self.events),
        ] {
            assert!(!text.contains(SECRET), "{what} holds the password: {text}");
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

fn basic(user_pass: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    )
}

#[test]
fn intercepted_https_reaches_the_origin_through_the_upstream_proxy() {
    let origins = Origins::start();
    let upstream = FakeUpstream::start(FakeConfig {
        routes: origins.routes(),
        ..FakeConfig::default()
    });
    let run = Run::start(
        &origins,
        "intercept",
        &["--upstream-proxy", &upstream.url()],
        &[],
    );
    // api.test does not resolve here: only the upstream proxy can find it.
    let ok = run.curl(&["https://api.test/through"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    // A client pinning the origin's key refuses the forged leaf, as it would without the
    // upstream proxy.
    let pin = format!(
        "sha256//{}",
        origins.pki.key_pin("current").expect("the pin")
    );
    let pinned = run.curl(&["--pinnedpubkey", &pin, "https://api.test/pinned"]);
    assert!(!pinned.status.success(), "{pinned:?}");
    let stopped = run.stop_after(2);
    let targets = upstream.targets();
    assert!(!targets.is_empty(), "the upstream proxy saw nothing");
    assert!(targets.iter().all(|t| t == "api.test:443"), "{targets:?}");
    assert!(upstream.seen().iter().all(|s| s.authorization.is_none()));
    let paths: Vec<String> = origins.tls.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/through"]);
    let records = stopped.for_host("api.test");
    assert_eq!(records.len(), 2, "{:#?}", stopped.records);
    let verdicts: Vec<VerdictKind> = records.iter().map(|r| r.verdict).collect();
    assert!(verdicts.contains(&VerdictKind::Proceeded), "{verdicts:?}");
    assert!(verdicts.contains(&VerdictKind::Cancelled), "{verdicts:?}");
    for r in records {
        assert_eq!(r.action, Some(ActionKind::Intercept));
        // The upstream proxy resolved the host: the origin's address is not known here.
        assert_eq!(r.upstream, None, "{r:?}");
    }
    assert!(
        stopped.stderr.contains(&format!(
            "origins via:  upstream proxy http://{}",
            upstream.addr
        )),
        "{}",
        stopped.stderr
    );
}

#[test]
fn a_map_local_host_reaches_its_origin_through_the_upstream_proxy_at_its_first_unmapped_request() {
    let origins = Origins::start();
    let upstream = FakeUpstream::start(FakeConfig {
        routes: origins.routes(),
        ..FakeConfig::default()
    });
    let run = Run::start(
        &origins,
        "map-local",
        &[
            "--upstream-proxy",
            &upstream.url(),
            "--map-local",
            "https://api.test/local=status:204",
        ],
        &[],
    );
    // One connection: the mapped request is answered here, the second goes to the origin.
    let out = run.curl(&[
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} ",
        "https://api.test/local",
        "https://api.test/remote",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "204 200 ");
    let stopped = run.stop_after(1);
    assert_eq!(upstream.targets(), ["api.test:443"]);
    let paths: Vec<String> = origins.tls.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/remote"]);
    let r = stopped.for_host("api.test");
    assert_eq!(r.len(), 1, "{:#?}", stopped.records);
    assert_eq!(r[0].verdict, VerdictKind::Proceeded);
    let mapped: Vec<bool> = r[0].requests.iter().map(|q| q.mapped_local).collect();
    assert_eq!(mapped, [true, false]);
}

#[test]
fn a_mapped_host_is_asked_for_as_its_address_and_only_mapped_still_refuses() {
    let origins = Origins::start();
    let upstream = FakeUpstream::start(FakeConfig::default());
    let map = format!("api.test={}", origins.tls.addr());
    let run = Run::start(
        &origins,
        "mapped",
        &[
            "--upstream-proxy",
            &upstream.url(),
            "--map",
            &map,
            "--only-mapped",
        ],
        &[],
    );
    let ok = run.curl(&["https://api.test/mapped"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let refused = run.curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_connect}",
        "https://other.test/",
    ]);
    assert_eq!(text(&refused.stdout), "502");
    let stopped = run.stop_after(2);
    assert_eq!(upstream.targets(), [origins.tls.addr().to_string()]);
    let r = stopped.for_host("api.test");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].verdict, VerdictKind::Proceeded);
    assert_eq!(r[0].upstream, Some(origins.tls.addr().to_string()));
    let other = stopped.for_host("other.test");
    assert_eq!(
        (other[0].verdict, other[0].reason.as_str()),
        (VerdictKind::UpstreamFailed, "not mapped")
    );
}

#[test]
fn passthrough_and_plain_http_go_through_the_upstream_proxy() {
    let origins = Origins::start();
    let upstream = FakeUpstream::start(FakeConfig {
        routes: origins.routes(),
        ..FakeConfig::default()
    });
    let run = Run::start(
        &origins,
        "passthrough",
        &[
            "--upstream-proxy",
            &upstream.url(),
            "--passthrough",
            "api.test",
        ],
        &[],
    );
    let root = origins.root_pem.to_str().expect("a path");
    let tunnel = run.curl(&["--cacert", root, "https://api.test/tunnel"]);
    assert!(tunnel.status.success(), "{}", text(&tunnel.stderr));
    let plain = run.curl(&["http://plain.test/p?q=1"]);
    assert!(plain.status.success(), "{}", text(&plain.stderr));
    assert!(text(&plain.stdout).contains("GET /p?q=1"), "{plain:?}");
    let stopped = run.stop_after(2);
    let mut targets = upstream.targets();
    targets.sort();
    assert_eq!(targets, ["api.test:443", "plain.test:80"]);
    let passed = stopped.for_host("api.test");
    assert_eq!(passed[0].verdict, VerdictKind::Passthrough);
    assert_eq!(
        origins.tls.handshakes()[0].sni.as_deref(),
        Some("api.test"),
        "curl's own handshake reached the origin"
    );
    let http = stopped.for_host("plain.test");
    assert_eq!(http[0].action, Some(ActionKind::Http));
    assert_eq!(http[0].verdict, VerdictKind::Proceeded);
    assert_eq!(http[0].requests[0].status, Some(200));
}

#[test]
fn credentials_from_the_file_and_the_environment_are_sent() {
    let origins = Origins::start();
    let user_pass = format!("alice:{SECRET}");
    let upstream = FakeUpstream::start(FakeConfig {
        routes: origins.routes(),
        require: Some(basic(&user_pass)),
    });
    let file = origins.dir.path().join("upstream-auth");
    std::fs::write(&file, format!("{user_pass}\n")).expect("write the auth file");
    let file = file.to_str().expect("a path");
    let from_file = Run::start(
        &origins,
        "auth-file",
        &[
            "--upstream-proxy",
            &upstream.url(),
            "--upstream-proxy-auth-file",
            file,
        ],
        &[],
    );
    let out = from_file.curl(&["https://api.test/file"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stopped = from_file.stop_after(1);
    stopped.assert_no_secret();
    assert!(
        stopped.stderr.contains("(Basic, user alice)"),
        "the banner names the user: {}",
        stopped.stderr
    );

    let from_env = Run::start(
        &origins,
        "auth-env",
        &["--upstream-proxy", &upstream.url()],
        &[(AUTH_ENV, &user_pass)],
    );
    let out = from_env.curl(&["http://plain.test/env"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    from_env.stop_after(1).assert_no_secret();
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen
        .iter()
        .all(|s| s.authorization.as_deref() == Some(basic(&user_pass).as_str())));
}

#[test]
fn missing_or_wrong_credentials_fail_the_connection_with_the_status_line() {
    let origins = Origins::start();
    let upstream = FakeUpstream::start(FakeConfig {
        routes: origins.routes(),
        require: Some(basic(&format!("alice:{SECRET}"))),
    });
    let missing = Run::start(
        &origins,
        "no-auth",
        &["--upstream-proxy", &upstream.url()],
        &[],
    );
    let out = missing.curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_connect}",
        "https://api.test/",
    ]);
    assert_eq!(text(&out.stdout), "502", "{out:?}");
    let plain = missing.curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "http://plain.test/",
    ]);
    assert_eq!(text(&plain.stdout), "502", "{plain:?}");
    let stopped = missing.stop_after(2);
    let address = upstream.addr;
    let r = stopped.for_host("api.test");
    assert_eq!(
        (r[0].verdict, r[0].stage),
        (VerdictKind::UpstreamFailed, Stage::Connect)
    );
    assert!(
        r[0].reason.starts_with(&format!(
            "upstream proxy {address} answered \"HTTP/1.1 407 Proxy Authentication Required\""
        )),
        "{}",
        r[0].reason
    );
    assert!(
        r[0].reason.contains("--upstream-proxy-auth-file") && r[0].reason.contains(AUTH_ENV),
        "{}",
        r[0].reason
    );
    let http = stopped.for_host("plain.test");
    assert_eq!(http[0].requests[0].status, Some(502));

    let wrong_pass = format!("alice:wrong-{SECRET}");
    let wrong = Run::start(
        &origins,
        "wrong-auth",
        &["--upstream-proxy", &upstream.url()],
        &[(AUTH_ENV, &wrong_pass)],
    );
    let out = wrong.curl(&["https://api.test/"]);
    assert!(!out.status.success());
    let stopped = wrong.stop_after(1);
    stopped.assert_no_secret();
    let r = stopped.for_host("api.test");
    assert_eq!(r[0].verdict, VerdictKind::UpstreamFailed);
    assert!(
        r[0].reason.contains("refused the credentials"),
        "{}",
        r[0].reason
    );
    assert!(
        origins.tls.handshakes().is_empty(),
        "nothing reached the origin"
    );
}

#[test]
fn upstream_proxy_failures_name_it_in_the_record() {
    let origins = Origins::start();
    let routes = HashMap::from([
        (
            "busy.test:443".to_string(),
            (None, Answer::Status("503 Service Unavailable")),
        ),
        ("garbage.test:443".to_string(), (None, Answer::Garbage)),
        ("huge.test:443".to_string(), (None, Answer::Oversized)),
        ("silent.test:443".to_string(), (None, Answer::Silent)),
    ]);
    let upstream = FakeUpstream::start(FakeConfig {
        routes,
        ..FakeConfig::default()
    });
    let run = Run::start(
        &origins,
        "failures",
        &[
            "--upstream-proxy",
            &upstream.url(),
            "--connect-timeout",
            "1s",
        ],
        &[],
    );
    for host in ["busy.test", "garbage.test", "huge.test", "silent.test"] {
        let out = run.curl(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_connect}",
            &format!("https://{host}/"),
        ]);
        assert_eq!(text(&out.stdout), "502", "{host}: {out:?}");
    }
    let stopped = run.stop_after(4);
    let a = upstream.addr;
    let expected = [
        (
            "busy.test",
            format!("upstream proxy {a} answered \"HTTP/1.1 503 Service Unavailable\""),
        ),
        (
            "garbage.test",
            format!("upstream proxy {a} sent a malformed answer to CONNECT garbage.test:443"),
        ),
        (
            "huge.test",
            format!("upstream proxy {a} sent an answer head over 16384 bytes"),
        ),
        ("silent.test", format!("upstream proxy {a} timed out")),
    ];
    for (host, reason) in expected {
        let r = stopped.for_host(host);
        assert_eq!(r.len(), 1, "{host}: {:#?}", stopped.records);
        assert_eq!(
            (r[0].verdict, r[0].stage),
            (VerdictKind::UpstreamFailed, Stage::Connect),
            "{host}"
        );
        assert!(r[0].reason.starts_with(&reason), "{host}: {}", r[0].reason);
    }

    // An upstream proxy nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let run = Run::start(
        &origins,
        "closed",
        &["--upstream-proxy", &format!("http://{closed}")],
        &[],
    );
    let out = run.curl(&["https://api.test/"]);
    assert!(!out.status.success());
    let stopped = run.stop_after(1);
    let r = stopped.for_host("api.test");
    assert!(
        r[0].reason
            .starts_with(&format!("cannot connect to the upstream proxy {closed}: ")),
        "{}",
        r[0].reason
    );
}

#[test]
fn bypassed_hosts_go_direct() {
    let origins = Origins::start();
    let upstream = FakeUpstream::start(FakeConfig {
        routes: origins.routes(),
        ..FakeConfig::default()
    });
    let map = format!("api.test={}", origins.tls.addr());
    let run = Run::start(
        &origins,
        "bypass",
        &[
            "--upstream-proxy",
            &upstream.url(),
            "--upstream-proxy-bypass",
            "api.*",
            "--map",
            &map,
        ],
        &[],
    );
    let direct = run.curl(&["https://api.test/direct"]);
    assert!(direct.status.success(), "{}", text(&direct.stderr));
    assert!(upstream.seen().is_empty(), "{:?}", upstream.seen());
    let via = run.curl(&["http://plain.test/via"]);
    assert!(via.status.success(), "{}", text(&via.stderr));
    let stopped = run.stop_after(2);
    assert_eq!(upstream.targets(), ["plain.test:80"]);
    let r = stopped.for_host("api.test");
    assert_eq!(r[0].upstream, Some(origins.tls.addr().to_string()));
    assert!(
        stopped.stderr.contains("direct: api.*"),
        "{}",
        stopped.stderr
    );
}

#[test]
fn credentials_in_the_url_work_with_a_warning_that_hides_them() {
    let origins = Origins::start();
    let user_pass = format!("alice:{SECRET}");
    let upstream = FakeUpstream::start(FakeConfig {
        routes: origins.routes(),
        require: Some(basic(&user_pass)),
    });
    let url = format!("http://{user_pass}@{}", upstream.addr);
    let run = Run::start(&origins, "url-auth", &["--upstream-proxy", &url], &[]);
    let out = run.curl(&["http://plain.test/url"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stopped = run.stop_after(1);
    stopped.assert_no_secret();
    assert!(
        stopped
            .stderr
            .contains("warning: --upstream-proxy: the URL holds a password")
            && stopped.stderr.contains("process list"),
        "{}",
        stopped.stderr
    );
}

#[test]
fn bad_upstream_proxy_urls_exit_2() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for url in [
        "https://proxy.corp:3128",
        "socks5://proxy.corp:1080",
        "proxy.corp:3128",
        "http://proxy.corp:0",
        "http://proxy.corp:3128/path",
        "http://alice:hunter2@proxy.corp:99999",
    ] {
        let (code, stderr) = common::run_cli(dir.path(), &["proxy", "--upstream-proxy", url]);
        assert_eq!(code, Some(2), "{url}: {stderr}");
        assert!(stderr.contains("--upstream-proxy"), "{url}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{url}: {stderr}");
    }
    let (code, stderr) = common::run_cli(
        dir.path(),
        &["proxy", "--upstream-proxy-bypass", "*.corp.test"],
    );
    assert_eq!(code, Some(2), "a bypass needs an upstream proxy: {stderr}");
    let missing = dir.path().join("missing-auth");
    let (code, stderr) = common::run_cli(
        dir.path(),
        &[
            "proxy",
            "--upstream-proxy",
            "http://127.0.0.1:3128",
            "--upstream-proxy-auth-file",
            missing.to_str().expect("a path"),
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("missing-auth"), "{stderr}");
}
