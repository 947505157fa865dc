//! Transparent mode against real iptables `REDIRECT` rules, in network namespaces of the test's
//! own: the device case (an `OUTPUT -m owner` rule catches one user's connections, as on a rooted
//! Android device or emulator, and curl runs as that user), the gateway case (two namespaces
//! joined by a veth pair, a `PREROUTING` rule on the gateway), redirect loops (a rule that also
//! catches the proxy's own connections, a connection straight to the listener), plain HTTP on
//! port 80, and the guard on a listener off loopback. The origin is a Python TLS server on an
//! address of the namespace (`203.0.113.10`, as an app would dial an origin on the internet).
//! Without namespaces or iptables the tests skip, saying why; under `CI=true` that is a failure.

mod common;

use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pin_proxy::ca::KeyType;
use pin_proxy::origin::pki::OriginPki;
use pin_proxy::record::{ActionKind, ConnectionRecord, ListenerKind, Stage, VerdictKind};

const BANNER: &str = "pin-proxy transparent listening on ";
/// The address apps dial (TEST-NET-3), held by the origin's namespace.
const ORIGIN_IP: &str = "203.0.113.10";
/// The user whose connections the device rule redirects (`nobody`), as an app's uid on Android.
const APP_UID: &str = "65534";

/// An HTTPS origin on ADDR:443 and a plain one on ADDR:80: each answers every GET with
/// `origin SCHEME HOST`, where HOST is the request's `Host` header.
const ORIGIN_PY: &str = r#"
import http.server, ssl, sys, threading
addr, chain, key = sys.argv[1], sys.argv[2], sys.argv[3]
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = ("origin %s %s\n" % (self.server.scheme, self.headers.get("Host", ""))).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
tls = http.server.ThreadingHTTPServer((addr, 443), Handler)
tls.scheme = "https"
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(chain, key)
tls.socket = ctx.wrap_socket(tls.socket, server_side=True, do_handshake_on_connect=False)
plain = http.server.ThreadingHTTPServer((addr, 80), Handler)
plain.scheme = "http"
threading.Thread(target=plain.serve_forever, daemon=True).start()
print("ready", flush=True)
tls.serve_forever()
"#;

/// Skips (returns `None`, saying why) unless `ok`; under `CI=true` a missing tool fails.
fn needed(ok: bool, why: &str) -> Option<()> {
    if ok {
        return Some(());
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
    eprintln!("skipped: {why}");
    None
}

/// A network namespace of the test's own, `lo` up; removed on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn new(tag: &str) -> Option<Netns> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ns = Netns {
            name: format!("pp{tag}{n}-dev-{}", std::process::id()),
        };
        let made =
            ip(&["netns", "add", &ns.name]) && ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        needed(
            made,
            "cannot make a network namespace (ip netns add: needs root)",
        )?;
        Some(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `program` run in namespace `ns`.
fn in_ns(ns: &str, program: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, program]);
    c
}

/// Adds one rule to namespace `ns`'s nat table (`iptables -t nat RULE...`).
fn nat_rule(ns: &str, rule: &[&str]) -> Option<()> {
    let out = in_ns(ns, "iptables")
        .args(["-t", "nat"])
        .args(rule)
        .output();
    let why = match &out {
        Ok(o) if o.status.success() => return Some(()),
        Ok(o) => format!(
            "iptables -t nat {} failed: {}",
            rule.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("cannot run iptables ({e}; .ci/run installs it)"),
    };
    needed(false, &why)
}

/// curl with a 10 s bound, in `ns`, as the app's user when `as_app`.
fn curl(ns: &str, as_app: bool, args: &[&str]) -> Output {
    let mut cmd = if as_app {
        let mut c = in_ns(ns, "setpriv");
        c.args([
            &format!("--reuid={APP_UID}"),
            &format!("--regid={APP_UID}"),
            "--clear-groups",
            "curl",
        ]);
        c
    } else {
        in_ns(ns, "curl")
    };
    cmd.args(["-sS", "--max-time", "10", "--noproxy", "*"])
        .args(args)
        .output()
        .expect("curl and setpriv are installed")
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The origin (Python, on `ORIGIN_IP` in its namespace) and pin-proxy's transparent listener in
/// the same namespace, with the files a client needs.
struct Rig {
    /// The files below; removed when the rig is dropped.
    _dir: tempfile::TempDir,
    pki: OriginPki,
    origin: Child,
    proxy: Child,
    /// The transparent listener's address, from the banner.
    listener: std::net::SocketAddr,
    events: PathBuf,
    stderr: Arc<Mutex<String>>,
    /// Proxy CA + origin root: a device with the proxy's CA installed.
    bundle: PathBuf,
    /// The origin's root alone: a client that never went through the proxy.
    root: PathBuf,
}

impl Rig {
    /// Starts both in `ns`; `ORIGIN_IP` must be an address there. `listen` is the transparent
    /// listener's address; `extra` more proxy arguments.
    fn start(ns: &str, listen: &str, extra: &[&str]) -> Rig {
        let dir = tempfile::tempdir().expect("a temporary directory");
        // The app's user reads the CA files.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let pki = OriginPki::generate(KeyType::EcdsaP256, "transparent", &["current"])
            .expect("an origin PKI");
        let hosts = ["api.test".to_string(), "pass.test".to_string()];
        let (chain, key) = pki.leaf_pem(&hosts, "current").expect("a leaf");
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            path
        };
        let chain = write("origin-chain.pem", &chain);
        let key = write("origin-key.pem", &key);
        let script = write("origin.py", ORIGIN_PY);
        let root = write("origin-root.pem", pki.root_pem());
        let mut origin = in_ns(ns, "python3")
            .arg(&script)
            .args([ORIGIN_IP])
            .arg(&chain)
            .arg(&key)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs");
        let mut ready = String::new();
        let _ = BufReader::new(origin.stdout.take().expect("stdout")).read_line(&mut ready);
        assert_eq!(ready.trim(), "ready", "the origin did not start");

        let events = dir.path().join("events.jsonl");
        let mut proxy = in_ns(ns, common::bin().to_str().expect("a UTF-8 path"))
            .arg("--ca-dir")
            .arg(dir.path().join("ca"))
            .args(["proxy", "--transparent", listen, "--decide-after", "3s"])
            .arg("--events")
            .arg(&events)
            .arg("--upstream-ca")
            .arg(&root)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pin-proxy");
        let mut err = BufReader::new(proxy.stderr.take().expect("stderr"));
        let mut seen = String::new();
        let mut listener = None;
        for _ in 0..80 {
            let mut line = String::new();
            if err.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            if let Some(rest) = line.trim().strip_prefix(BANNER) {
                listener = rest.split_whitespace().next().and_then(|a| a.parse().ok());
                break;
            }
            seen.push_str(&line);
        }
        let listener = listener.unwrap_or_else(|| panic!("no transparent listener:\n{seen}"));
        let stderr: Arc<Mutex<String>> = Arc::new(Mutex::new(seen));
        let sink = stderr.clone();
        std::thread::spawn(move || loop {
            let mut line = String::new();
            match err.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => sink.lock().expect("lock").push_str(&line),
            }
        });
        let mut both = std::fs::read(dir.path().join("ca").join("ca.pem")).expect("the CA");
        both.extend_from_slice(pki.root_pem().as_bytes());
        let bundle = dir.path().join("bundle.pem");
        std::fs::write(&bundle, both).expect("write");
        Rig {
            _dir: dir,
            pki,
            origin,
            proxy,
            listener,
            events,
            stderr,
            bundle,
            root,
        }
    }

    /// What the proxy wrote to stderr so far (for failure messages).
    fn log(&self) -> String {
        self.stderr.lock().expect("lock").clone()
    }

    fn port(&self) -> String {
        self.listener.port().to_string()
    }

    fn path(p: &Path) -> &str {
        p.to_str().expect("a UTF-8 path")
    }

    /// Waits for `n` records, stops the proxy (SIGTERM) and returns the records, stdout (live
    /// lines and summary) and stderr.
    fn stop_after(mut self, n: usize) -> (Vec<ConnectionRecord>, String, String) {
        common::wait_for_records(&self.events, n, Duration::from_secs(10));
        let _ = Command::new("kill")
            .args(["-TERM", &self.proxy.id().to_string()])
            .status();
        let status = self.proxy.wait().expect("the proxy ends");
        let mut out = String::new();
        if let Some(mut s) = self.proxy.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        let err = self.stderr.lock().expect("lock").clone();
        assert!(status.success(), "proxy exit {status:?}; stderr: {err}");
        (common::read_events(&self.events), out, err)
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for child in [&mut self.proxy, &mut self.origin] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn a_device_rule_redirects_the_apps_connections_and_gets_the_verdicts_a_connect_gets() {
    let Some(ns) = Netns::new("t") else { return };
    assert!(ip(&[
        "-n",
        &ns.name,
        "addr",
        "add",
        &format!("{ORIGIN_IP}/32"),
        "dev",
        "lo"
    ]));
    let rig = Rig::start(&ns.name, "127.0.0.1:0", &["--passthrough", "pass.test"]);
    let port = rig.port();
    // The README's rule for a rooted device: the app's uid only, so the proxy's own
    // connections (root here) go out untouched.
    let rule = [
        "-A",
        "OUTPUT",
        "-p",
        "tcp",
        "-m",
        "owner",
        "--uid-owner",
        APP_UID,
        "-m",
        "multiport",
        "--dports",
        "80,443",
        "-j",
        "REDIRECT",
        "--to-ports",
        &port,
    ];
    let Some(()) = nat_rule(&ns.name, &rule) else {
        return;
    };
    let bundle = Rig::path(&rig.bundle);
    let resolve = |host: &str, port: u16| format!("{host}:{port}:{ORIGIN_IP}");

    let unpinned = curl(
        &ns.name,
        true,
        &[
            "--cacert",
            bundle,
            "--resolve",
            &resolve("api.test", 443),
            "https://api.test/open",
        ],
    );
    assert_eq!(code(&unpinned), 0, "{unpinned:?}\n{}", rig.log());
    assert_eq!(stdout(&unpinned), "origin https api.test\n");

    let pin = format!("sha256//{}", rig.pki.key_pin("current").expect("a pin"));
    let pinned = curl(
        &ns.name,
        true,
        &[
            "--cacert",
            bundle,
            "--pinnedpubkey",
            &pin,
            "--resolve",
            &resolve("api.test", 443),
            "https://api.test/pinned",
        ],
    );
    assert_eq!(code(&pinned), 90, "curl's pin mismatch: {pinned:?}");

    let passed = curl(
        &ns.name,
        true,
        &[
            "--cacert",
            Rig::path(&rig.root),
            "--pinnedpubkey",
            &pin,
            "--resolve",
            &resolve("pass.test", 443),
            "https://pass.test/through",
        ],
    );
    assert_eq!(
        code(&passed),
        0,
        "passthrough keeps the origin's chain: {passed:?}"
    );
    assert_eq!(stdout(&passed), "origin https pass.test\n");

    let plain = curl(
        &ns.name,
        true,
        &[
            "--resolve",
            &resolve("plain.test", 80),
            "http://plain.test/page",
        ],
    );
    assert_eq!(code(&plain), 0, "{plain:?}");
    assert_eq!(stdout(&plain), "origin http plain.test\n");

    // Another user's connection (root's, like the proxy's own) is not redirected: it reaches
    // the origin straight, with the origin's own certificate, and is not recorded.
    let direct = curl(
        &ns.name,
        false,
        &[
            "--cacert",
            Rig::path(&rig.root),
            "--pinnedpubkey",
            &pin,
            "--resolve",
            &resolve("api.test", 443),
            "https://api.test/direct",
        ],
    );
    assert_eq!(code(&direct), 0, "{direct:?}");

    let (records, out, _) = rig.stop_after(4);
    assert_eq!(records.len(), 4, "{records:#?}");
    for r in &records {
        assert_eq!(r.listener, ListenerKind::Transparent, "{r:?}");
    }
    let intercepted: Vec<_> = records
        .iter()
        .filter(|r| r.host.as_deref() == Some("api.test"))
        .collect();
    assert_eq!(intercepted.len(), 2, "{records:#?}");
    for r in &intercepted {
        assert_eq!(r.sni.as_deref(), Some("api.test"));
        assert_eq!(r.port, Some(443));
        assert_eq!(r.action, Some(ActionKind::Intercept));
        assert_eq!(r.upstream.as_deref(), Some("203.0.113.10:443"), "{r:?}");
    }
    let verdicts: Vec<_> = intercepted.iter().map(|r| r.verdict).collect();
    assert!(verdicts.contains(&VerdictKind::Proceeded), "{verdicts:?}");
    let cancelled = intercepted
        .iter()
        .find(|r| r.verdict == VerdictKind::Cancelled)
        .unwrap_or_else(|| panic!("the pinned connection: {intercepted:#?}"));
    assert_eq!(cancelled.stage, Stage::AfterHandshake);
    assert!(cancelled.requests.is_empty());
    let proceeded = intercepted
        .iter()
        .find(|r| r.verdict == VerdictKind::Proceeded)
        .expect("the unpinned connection");
    assert_eq!(proceeded.requests.len(), 1);
    assert_eq!(proceeded.requests[0].path, "/open");
    assert_eq!(proceeded.requests[0].status, Some(200));

    let passed = common::only_for(&records, "pass.test");
    assert_eq!(passed.action, Some(ActionKind::Passthrough));
    let plain = common::only_for(&records, "plain.test");
    assert_eq!(plain.action, Some(ActionKind::Http), "{plain:?}");
    assert_eq!(plain.port, Some(80));
    assert_eq!(plain.requests.len(), 1);
    assert_eq!(plain.requests[0].path, "/page");
    assert_eq!(plain.requests[0].status, Some(200));
    assert!(
        out.contains("[transparent]"),
        "live lines name the door:\n{out}"
    );
}

#[test]
fn a_rule_that_catches_the_proxy_too_is_a_loop_that_is_refused_not_followed() {
    let Some(ns) = Netns::new("l") else { return };
    assert!(ip(&[
        "-n",
        &ns.name,
        "addr",
        "add",
        &format!("{ORIGIN_IP}/32"),
        "dev",
        "lo"
    ]));
    let rig = Rig::start(&ns.name, "127.0.0.1:0", &[]);
    let port = rig.port();
    // No owner match: the proxy's own connection to the origin is redirected back to it.
    let rule = [
        "-A",
        "OUTPUT",
        "-p",
        "tcp",
        "-d",
        ORIGIN_IP,
        "--dport",
        "443",
        "-j",
        "REDIRECT",
        "--to-ports",
        &port,
    ];
    let Some(()) = nat_rule(&ns.name, &rule) else {
        return;
    };
    let looped = curl(
        &ns.name,
        true,
        &[
            "--cacert",
            Rig::path(&rig.bundle),
            "--resolve",
            &format!("api.test:443:{ORIGIN_IP}"),
            "https://api.test/",
        ],
    );
    assert_ne!(code(&looped), 0, "{looped:?}");
    // A connection made to the listener itself, not redirected.
    let straight = curl(
        &ns.name,
        false,
        &["-k", &format!("https://{}/", rig.listener)],
    );
    assert_ne!(code(&straight), 0, "{straight:?}");

    let (records, _, err) = rig.stop_after(3);
    assert_eq!(records.len(), 3, "one record each, no more: {records:#?}");
    let loops: Vec<_> = records
        .iter()
        .filter(|r| r.reason.starts_with("redirect loop"))
        .collect();
    assert_eq!(loops.len(), 2, "{records:#?}");
    for r in &loops {
        assert_eq!(r.listener, ListenerKind::Transparent);
        assert_eq!(r.verdict, VerdictKind::Undecided, "{r:?}");
    }
    assert!(
        loops.iter().any(|r| r.reason.contains("own connection")),
        "the proxy's own origin connection is named: {loops:#?}"
    );
    assert!(
        loops
            .iter()
            .any(|r| r.reason.contains("is this proxy's own listener")),
        "the connection to the listener is named: {loops:#?}"
    );
    let client = records
        .iter()
        .find(|r| r.host.as_deref() == Some("api.test"))
        .expect("the app's connection");
    assert_eq!(client.verdict, VerdictKind::UpstreamFailed, "{client:?}");
    assert!(
        client.reason.contains("redirected back to this proxy"),
        "the app's connection names the loop: {client:?}"
    );
    assert!(err.contains("redirect loop"), "{err}");
}

/// The gateway case: the origin and the proxy (`--transparent 0.0.0.0:0 --allow-from` the
/// range `allow` gives) in a LAN's server namespace, a `PREROUTING` rule on its end of the veth
/// pair, and the client namespace routed to `ORIGIN_IP` through it.
fn gateway(tag: &str, allow: impl FnOnce(&common::Lan) -> String) -> Option<(common::Lan, Rig)> {
    let lan = common::Lan::new(tag)?;
    let gw = lan.server_ns.as_str();
    let origin_cidr = format!("{ORIGIN_IP}/32");
    assert!(ip(&["-n", gw, "addr", "add", &origin_cidr, "dev", "lo"]));
    let via = ["route", "add", "203.0.113.0/24", "via", &lan.server_ip];
    assert!(ip(&[&["-n", lan.client_ns.as_str()][..], &via].concat()));
    let rig = Rig::start(gw, "0.0.0.0:0", &["--allow-from", &allow(&lan)]);
    let port = rig.port();
    let rule = [
        "-A",
        "PREROUTING",
        "-i",
        &lan.server_if,
        "-p",
        "tcp",
        "--dport",
        "443",
        "-j",
        "REDIRECT",
        "--to-ports",
        &port,
    ];
    nat_rule(gw, &rule)?;
    Some((lan, rig))
}

#[test]
fn a_gateway_rule_redirects_a_lan_clients_connections() {
    let Some((lan, rig)) = gateway("t", |lan| format!("{}/32", lan.client_ip)) else {
        return;
    };
    let pin = format!("sha256//{}", rig.pki.key_pin("current").expect("a pin"));
    let resolve = format!("api.test:443:{ORIGIN_IP}");
    let bundle = Rig::path(&rig.bundle);
    let unpinned = curl(
        &lan.client_ns,
        false,
        &[
            "--cacert",
            bundle,
            "--resolve",
            &resolve,
            "https://api.test/lan",
        ],
    );
    assert_eq!(code(&unpinned), 0, "{unpinned:?}\n{}", rig.log());
    assert_eq!(stdout(&unpinned), "origin https api.test\n");
    let pinned = curl(
        &lan.client_ns,
        false,
        &[
            "--cacert",
            bundle,
            "--pinnedpubkey",
            &pin,
            "--resolve",
            &resolve,
            "https://api.test/lan",
        ],
    );
    assert_eq!(code(&pinned), 90, "{pinned:?}");
    let (records, _, _) = rig.stop_after(2);
    assert_eq!(records.len(), 2, "{records:#?}");
    let mut verdicts: Vec<_> = records.iter().map(|r| r.verdict).collect();
    verdicts.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(verdicts, [VerdictKind::Cancelled, VerdictKind::Proceeded]);
    for r in &records {
        assert_eq!(r.listener, ListenerKind::Transparent);
        assert!(
            r.client.starts_with(&format!("{}:", lan.client_ip)),
            "the LAN client's own address: {r:?}"
        );
        assert_eq!(r.upstream.as_deref(), Some("203.0.113.10:443"));
    }
}

#[test]
fn a_gateway_client_outside_allow_from_is_refused_and_recorded() {
    let Some((lan, rig)) = gateway("u", |_| "192.0.2.0/24".to_string()) else {
        return;
    };
    let out = curl(
        &lan.client_ns,
        false,
        &[
            "--cacert",
            Rig::path(&rig.bundle),
            "--resolve",
            &format!("api.test:443:{ORIGIN_IP}"),
            "https://api.test/",
        ],
    );
    assert_ne!(code(&out), 0, "{out:?}");
    let (records, _, _) = rig.stop_after(1);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0].reason, pin_proxy::access::NOT_ALLOWED);
    assert_eq!(records[0].listener, ListenerKind::Transparent);
}

#[test]
fn a_transparent_listener_off_loopback_needs_allow_from() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for args in [
        &["proxy", "--transparent", "0.0.0.0:0"][..],
        &[
            "proxy",
            "--transparent",
            "[::]:0",
            "--auth",
            "tester:secret",
        ][..],
    ] {
        let (code, stderr) = common::run_cli(dir.path(), args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("--allow-from"), "{stderr}");
        assert!(
            stderr.contains("redirected connections carry no credentials"),
            "{stderr}"
        );
        assert!(!stderr.contains("secret"), "{stderr}");
    }
}
