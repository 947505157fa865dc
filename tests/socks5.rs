//! The SOCKS5 listener against real clients: curl's `--socks5-hostname` and `--socks5` (pinned,
//! unpinned, passthrough, plain HTTP), SOCKS5 username/password right and wrong, and SOCKS4,
//! unsupported commands, HTTP and garbage on the SOCKS port, each answered and recorded while
//! others keep being served.

mod common;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::time::Duration;

use common::{only_for, Harness, Opts, HOST};
use pin_proxy::record::{ActionKind, ListenerKind, Stage, VerdictKind};

const SOCKS: &str = "pin-proxy SOCKS5 listening on ";

fn start(extra: &[&str]) -> (Harness, SocketAddr) {
    let mut args = vec!["--socks5".to_string(), "127.0.0.1:0".to_string()];
    args.extend(extra.iter().map(ToString::to_string));
    let mut h = Harness::with(Opts {
        args,
        ..Opts::default()
    });
    let socks = h.banner_addr(SOCKS);
    (h, socks)
}

/// curl through the SOCKS5 listener; `scheme` is `socks5h` (the proxy resolves) or `socks5`.
fn curl(socks: SocketAddr, scheme: &str, args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10", "--noproxy", ""])
        .arg("--proxy")
        .arg(format!("{scheme}://{socks}"))
        .args(args)
        .output()
        .expect("curl is installed")
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

#[test]
fn socks5_hostname_clients_get_the_same_verdicts_as_connect() {
    let (h, socks) = start(&[]);
    let bundle = h.bundle.to_str().unwrap().to_string();
    let unpinned = curl(socks, "socks5h", &["--cacert", &bundle, &h.url("/open")]);
    assert_eq!(
        code(&unpinned),
        0,
        "{}",
        String::from_utf8_lossy(&unpinned.stderr)
    );
    assert!(String::from_utf8_lossy(&unpinned.stdout).contains("pin-proxy test origin"));
    let pin = format!("sha256//{}", h.pin("current"));
    let pinned = curl(
        socks,
        "socks5h",
        &[
            "--cacert",
            &bundle,
            "--pinnedpubkey",
            &pin,
            &h.url("/pinned"),
        ],
    );
    assert_eq!(
        code(&pinned),
        90,
        "{}",
        String::from_utf8_lossy(&pinned.stderr)
    );
    // The HTTP listener serves beside it.
    let http = h.curl(&["--cacert", &bundle, &h.url("/http")]);
    assert_eq!(code(&http), 0);
    let (records, _) = h.stop_after(3);
    let by_path = |p: &str| {
        records
            .iter()
            .find(|r| r.requests.iter().any(|q| q.path == p))
            .unwrap_or_else(|| panic!("no record for {p}: {records:#?}"))
    };
    let open = by_path("/open");
    assert_eq!(open.verdict, VerdictKind::Proceeded);
    assert_eq!(open.listener, ListenerKind::Socks5);
    assert_eq!(open.host.as_deref(), Some(HOST));
    assert_eq!(
        (open.port, open.action),
        (Some(443), Some(ActionKind::Intercept))
    );
    let cancelled: Vec<_> = records
        .iter()
        .filter(|r| r.verdict == VerdictKind::Cancelled)
        .collect();
    assert_eq!(cancelled.len(), 1, "{records:#?}");
    assert_eq!(cancelled[0].stage, Stage::AfterHandshake);
    assert_eq!(cancelled[0].listener, ListenerKind::Socks5);
    assert_eq!(by_path("/http").listener, ListenerKind::Http);
}

#[test]
fn socks5_with_local_resolution_sends_an_address_and_the_sni_names_the_host() {
    // curl resolves api.test itself (to 127.0.0.2) and asks for the address; the proxy
    // connects to the address (mapped to the origin) and takes the host from the SNI.
    let mut h = Harness::with(Opts {
        args: vec!["--socks5".into(), "127.0.0.1:0".into()],
        also_map: vec!["127.0.0.2:443"],
        ..Opts::default()
    });
    let socks = h.banner_addr(SOCKS);
    let origin = h.origin.addr();
    let resolve = "api.test:443:127.0.0.2";
    let bundle = h.bundle.to_str().unwrap().to_string();
    let out = curl(
        socks,
        "socks5",
        &[
            "--resolve",
            resolve,
            "--cacert",
            &bundle,
            &h.url("/by-address"),
        ],
    );
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.sni.as_deref(), Some(HOST));
    assert_eq!(r.verdict, VerdictKind::Proceeded);
    assert_eq!(r.upstream.as_deref(), Some(origin.to_string().as_str()));
}

#[test]
fn passthrough_and_plain_http_over_socks5() {
    let (h, socks) = start(&["--passthrough", HOST]);
    let root = h.root_pem.to_str().unwrap().to_string();
    // Passed through: the client sees the real origin, verified against its root.
    let out = curl(socks, "socks5h", &["--cacert", &root, &h.url("/through")]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.verdict, VerdictKind::Passthrough);
    assert_eq!(r.listener, ListenerKind::Socks5);

    // Plain HTTP to a plain origin, and the install page by its magic host.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plain = rt
        .block_on(pin_proxy::origin::TestOrigin::start_plain())
        .unwrap();
    let (h, socks) = start(&["--map", &format!("plain.test={}", plain.addr())]);
    let out = curl(socks, "socks5h", &["http://plain.test/readable"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let page = curl(socks, "socks5h", &["http://pin-proxy.invalid/ca.pem"]);
    assert!(String::from_utf8_lossy(&page.stdout).contains("BEGIN CERTIFICATE"));
    let (records, _) = h.stop_after(2);
    let r = only_for(&records, "plain.test");
    assert_eq!(r.action, Some(ActionKind::Http));
    assert_eq!(r.verdict, VerdictKind::Proceeded);
    assert_eq!(r.requests[0].path, "/readable");
    assert_eq!(r.requests[0].status, Some(200));
    assert_eq!(r.listener, ListenerKind::Socks5);
    assert!(only_for(&records, pin_proxy::proxy::MAGIC_HOST).requests[0].path == "/ca.pem");
}

#[test]
fn socks5_credentials_are_required_and_checked() {
    let (h, socks) = start(&["--auth", "tester:s3cret-pw"]);
    let bundle = h.bundle.to_str().unwrap().to_string();
    let url = h.url("/");
    let right = curl(
        socks,
        "socks5h",
        &[
            "--proxy-user",
            "tester:s3cret-pw",
            "--cacert",
            &bundle,
            &url,
        ],
    );
    assert_eq!(
        code(&right),
        0,
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
    let wrong = curl(
        socks,
        "socks5h",
        &[
            "--proxy-user",
            "tester:nope-nope",
            "--cacert",
            &bundle,
            &url,
        ],
    );
    assert_ne!(code(&wrong), 0);
    let none = curl(socks, "socks5h", &["--cacert", &bundle, &url]);
    assert_ne!(code(&none), 0);
    let (records, stdout) = h.stop_after(3);
    assert_eq!(
        records
            .iter()
            .filter(|r| r.verdict == VerdictKind::Proceeded)
            .count(),
        1
    );
    let reasons: Vec<&str> = records.iter().map(|r| r.reason.as_str()).collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("credentials did not match")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("offered none")),
        "{reasons:?}"
    );
    let written = serde_json::to_string(&records).unwrap();
    assert!(!written.contains("s3cret-pw") && !written.contains("nope-nope"));
    assert!(!stdout.contains("s3cret-pw"));
}

/// Sends `bytes` to the SOCKS port and returns what came back before it closed.
fn exchange(socks: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(socks).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut back = Vec::new();
    let _ = s.read_to_end(&mut back);
    back
}

#[test]
fn socks4_garbage_http_and_unsupported_commands_are_answered_and_recorded() {
    let (h, socks) = start(&[]);
    // SOCKS4 CONNECT to 127.0.0.1:443: the SOCKS4 rejection.
    let socks4 = exchange(socks, &[4, 1, 1, 187, 127, 0, 0, 1, b'x', 0]);
    assert_eq!(socks4.get(..2), Some(&[0u8, 0x5b][..]), "{socks4:?}");
    // Curl's own SOCKS4 fails cleanly too.
    let curl4 = curl(socks, "socks4", &["-k", "https://127.0.0.1/"]);
    assert_ne!(code(&curl4), 0);
    // HTTP on the SOCKS port: a 400 that says which port is which.
    let http = exchange(socks, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let http = String::from_utf8_lossy(&http);
    assert!(
        http.starts_with("HTTP/1.1 400") && http.contains("SOCKS5"),
        "{http}"
    );
    // Garbage: closed.
    assert!(exchange(socks, b"\x00\x01\x02garbage\r\n").is_empty());
    // BIND and UDP ASSOCIATE: "command not supported" (7) after the method choice.
    let bind = exchange(socks, &[5, 1, 0, 5, 2, 0, 1, 127, 0, 0, 1, 0, 80]);
    assert_eq!(bind, [5, 0, 5, 7, 0, 1, 0, 0, 0, 0, 0, 0]);
    let udp = exchange(socks, &[5, 1, 0, 5, 3, 0, 1, 127, 0, 0, 1, 0, 80]);
    assert_eq!(udp.get(3), Some(&7));
    // An unknown address type: 8.
    let atyp = exchange(socks, &[5, 1, 0, 5, 1, 0, 9, 0, 0]);
    assert_eq!(atyp.get(3), Some(&8));
    // A host the proxy cannot reach: a failure reply, and the connection is upstream_failed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut refused = vec![5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1];
    refused.extend_from_slice(&port.to_be_bytes());
    assert_eq!(
        exchange(socks, &refused).get(3),
        Some(&5),
        "connection refused"
    );
    // And the listener still serves.
    let bundle = h.bundle.to_str().unwrap().to_string();
    let ok = curl(socks, "socks5h", &["--cacert", &bundle, &h.url("/still")]);
    assert_eq!(code(&ok), 0, "{}", String::from_utf8_lossy(&ok.stderr));
    let (records, _) = h.stop_after(9);
    let reasons: Vec<&str> = records.iter().map(|r| r.reason.as_str()).collect();
    for expected in [
        "SOCKS4 is not supported",
        "400: an HTTP request on the SOCKS5 port",
        "not SOCKS5",
        "BIND is not supported",
        "UDP ASSOCIATE is not supported",
        "address type 9",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(expected)),
            "{expected}: {reasons:?}"
        );
    }
    assert!(records.iter().all(|r| r.listener == ListenerKind::Socks5));
    assert!(records
        .iter()
        .any(|r| r.verdict == VerdictKind::UpstreamFailed && r.port == Some(port)));
    assert!(records.iter().any(|r| r.verdict == VerdictKind::Proceeded));
}

#[test]
fn a_socks5_listener_alone_starts_no_http_listener() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(common::bin())
        .arg("--ca-dir")
        .arg(dir.path().join("ca"))
        .args(["proxy", "--socks5", "127.0.0.1:0", "--quiet"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut banner = String::new();
    for _ in 0..40 {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() == 0 {
            break;
        }
        let done = line.contains("stop with Ctrl-C");
        banner.push_str(&line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(banner.contains(SOCKS), "{banner}");
    assert!(!banner.contains("pin-proxy listening on"), "{banner}");
    // A SOCKS5 listener on the network needs --auth or --allow-from, like the HTTP one.
    let (exit, err) = common::run_cli(dir.path(), &["proxy", "--socks5", "0.0.0.0:0"]);
    assert_eq!(exit, Some(2), "{err}");
    assert!(
        err.contains("--socks5") && err.contains("--allow-from"),
        "{err}"
    );
}
