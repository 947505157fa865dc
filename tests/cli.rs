//! The CLI and the proxy's handling of bad input: clear one-line errors with the documented exit
//! codes, 400/431 for broken proxy requests while other clients keep being served, the CA
//! commands, the install page, plain-HTTP forwarding, and a complete events file after SIGTERM.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use assert_cmd::prelude::*;
use common::{bin, only_for, Harness, Opts, HOST};
use pin_proxy::record::{ActionKind, Stage, VerdictKind};

fn raw_request(proxy: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(proxy).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn garbage_and_oversized_requests_get_400_and_431_and_others_are_still_served() {
    let h = Harness::start();
    let resp = raw_request(h.proxy_addr, b"HELLO THERE\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    let resp = raw_request(h.proxy_addr, b"CONNECT nohostport HTTP/1.1\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    let mut big = b"GET http://api.test/ HTTP/1.1\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 100_000));
    big.extend_from_slice(b"\r\n\r\n");
    let resp = raw_request(h.proxy_addr, &big);
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp}");
    // The proxy is still fine for everyone else.
    let out = h.curl(&["--cacert", h.bundle.to_str().unwrap(), &h.url("/after")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (records, _) = h.stop();
    assert_eq!(records.len(), 4, "{records:#?}");
    let bad: Vec<_> = records
        .iter()
        .filter(|r| r.stage == Stage::Connect)
        .collect();
    assert_eq!(bad.len(), 3);
    assert!(bad.iter().all(|r| r.verdict == VerdictKind::Undecided));
    assert!(bad.iter().any(|r| r.reason.starts_with("431")), "{bad:#?}");
    assert_eq!(only_for(&records, HOST).verdict, VerdictKind::Proceeded);
}

#[test]
fn a_client_that_never_finishes_its_headers_is_timed_out() {
    let h = Harness::with(Opts {
        args: vec!["--header-timeout".into(), "300ms".into()],
        ..Opts::default()
    });
    let resp = raw_request(h.proxy_addr, b"CONNECT api.test:443 HTTP/1.1\r\nHost: api");
    assert!(!resp.starts_with("HTTP/1.1 200"), "{resp}");
    let (records, _) = h.stop();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].stage, Stage::Connect);
    assert!(
        records[0].reason.contains("timed out"),
        "{}",
        records[0].reason
    );
}

#[test]
fn install_page_serves_the_ca_in_pem_and_der() {
    let h = Harness::start();
    let page = h.curl(&["http://pin-proxy.invalid/"]);
    let page = String::from_utf8_lossy(&page.stdout);
    assert!(
        page.contains("BEGIN CERTIFICATE") && page.contains("Android"),
        "{page}"
    );
    let der = h.curl(&["http://pin-proxy.invalid/ca.crt"]).stdout;
    let exported = Command::new(bin())
        .arg("--ca-dir")
        .arg(h.dir.path().join("ca"))
        .args(["ca", "export", "--format", "der"])
        .output()
        .unwrap();
    assert!(exported.status.success());
    assert_eq!(der, exported.stdout);
    let (records, _) = h.stop();
    assert_eq!(records.len(), 2);
    assert!(records
        .iter()
        .all(|r| r.reason == "served the CA install page"));
}

#[test]
fn only_mapped_reaches_mapped_hosts_and_refuses_the_rest_unresolved() {
    let h = Harness::with(Opts {
        args: vec!["--only-mapped".into()],
        ..Opts::default()
    });
    let bundle = h.bundle.display().to_string();
    let ok = h.curl(&[
        "--cacert",
        &bundle,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &h.url("/"),
    ]);
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "200");
    // `.invalid` names never resolve anyway; a real name would be looked up without the flag.
    for url in [
        "https://unmapped.invalid/",
        "https://localhost:9/",
        "http://localhost:9/x",
    ] {
        let out = h.curl(&["-o", "/dev/null", "-w", "%{http_connect} %{http_code}", url]);
        let codes = String::from_utf8_lossy(&out.stdout).to_string();
        let expected = if url.starts_with("https") {
            "502 000"
        } else {
            "000 502"
        };
        assert_eq!(codes, expected, "{url}");
    }
    let body = h.curl(&["http://localhost:9/x"]).stdout;
    assert_eq!(
        String::from_utf8_lossy(&body),
        "pin-proxy: cannot reach localhost:9: not mapped\n"
    );
    let (records, _) = h.stop_after(5);
    assert_eq!(only_for(&records, HOST).verdict, VerdictKind::Proceeded);
    let unmapped = only_for(&records, "unmapped.invalid");
    assert_eq!(unmapped.verdict, VerdictKind::UpstreamFailed);
    assert_eq!(unmapped.stage, Stage::Connect);
    assert_eq!(unmapped.reason, "not mapped");
    assert_eq!(unmapped.upstream, None);
    let local: Vec<_> = records
        .iter()
        .filter(|r| r.host.as_deref() == Some("localhost"))
        .collect();
    assert_eq!(local.len(), 3, "{records:#?}");
    // CONNECT: upstream_failed; plain HTTP: recorded as any unreachable origin is, its request
    // answered 502.
    for r in local {
        assert_eq!(r.upstream, None, "{r:?}");
        if r.action == Some(ActionKind::Http) {
            assert_eq!(r.requests[0].status, Some(502), "{r:?}");
        } else {
            assert_eq!(r.verdict, VerdictKind::UpstreamFailed, "{r:?}");
            assert_eq!(r.reason, "not mapped");
        }
    }
}

#[test]
fn plain_http_is_forwarded_and_recorded_as_readable() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let plain = rt
        .block_on(pin_proxy::origin::TestOrigin::start_plain())
        .unwrap();
    std::thread::spawn(move || rt.block_on(std::future::pending::<()>()));
    let h = Harness::with(Opts {
        args: vec!["--map".into(), format!("plain.test={}", plain.addr())],
        ..Opts::default()
    });
    let out = h.curl(&["http://plain.test/p?q=1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("GET /p?q=1"));
    assert_eq!(plain.requests().len(), 1);
    let (records, _) = h.stop();
    let r = only_for(&records, "plain.test");
    assert_eq!(r.action, Some(ActionKind::Http));
    assert_eq!(r.verdict, VerdictKind::Proceeded);
    assert_eq!(r.requests[0].path, "/p?q=<redacted>");
}

#[test]
fn rules_file_and_keylog() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nhosts = \"api.*\"\naction = \"passthrough\"\n",
    )
    .unwrap();
    let keylog = dir.path().join("keys.log");
    let h = Harness::with(Opts {
        args: vec![
            "--rules".into(),
            rules.display().to_string(),
            "--keylog".into(),
            keylog.display().to_string(),
        ],
        ..Opts::default()
    });
    let out = h.curl(&["--cacert", h.bundle.to_str().unwrap(), &h.url("/")]);
    assert!(out.status.success());
    let (records, _) = h.stop();
    assert_eq!(only_for(&records, HOST).verdict, VerdictKind::Passthrough);
    // Passthrough TLS is not ours: only the CONNECT was seen, so no secrets for it. The key log
    // exists and is private.
    let meta = std::fs::metadata(&keylog).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

#[test]
fn keylog_records_intercepted_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let keylog = dir.path().join("keys.log");
    let h = Harness::with(Opts {
        args: vec!["--keylog".into(), keylog.display().to_string()],
        ..Opts::default()
    });
    let out = h.curl(&["--cacert", h.bundle.to_str().unwrap(), &h.url("/")]);
    assert!(out.status.success());
    h.stop();
    let text = std::fs::read_to_string(&keylog).unwrap();
    // Both legs: client<->proxy and proxy<->origin, TLS 1.3 traffic secrets.
    assert!(
        text.lines()
            .filter(|l| l.starts_with("CLIENT_TRAFFIC_SECRET_0 "))
            .count()
            >= 2,
        "{text}"
    );
}

#[test]
fn ca_init_show_export() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    Command::new(bin())
        .arg("--ca-dir")
        .arg(&ca)
        .args(["ca", "init", "--key-type", "rsa2048"])
        .assert()
        .success();
    let show = Command::new(bin())
        .arg("--ca-dir")
        .arg(&ca)
        .args(["ca", "show"])
        .output()
        .unwrap();
    let show = String::from_utf8_lossy(&show.stdout);
    assert!(
        show.contains("subject:") && show.contains("spki pin:"),
        "{show}"
    );
    // init again without --force is refused as invalid input.
    Command::new(bin())
        .arg("--ca-dir")
        .arg(&ca)
        .args(["ca", "init"])
        .assert()
        .code(2);
    let pem = Command::new(bin())
        .arg("--ca-dir")
        .arg(&ca)
        .args(["ca", "export"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&pem.stdout).starts_with("-----BEGIN CERTIFICATE-----"));
    let out = dir.path().join("ca.der");
    Command::new(bin())
        .arg("--ca-dir")
        .arg(&ca)
        .args(["ca", "export", "--format", "der", "--out"])
        .arg(&out)
        .assert()
        .success();
    assert_eq!(std::fs::read(&out).unwrap()[0], 0x30);
}

#[test]
fn bad_input_gives_one_clear_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["ca", "show"], "cannot read the CA certificate"),
        (
            vec!["proxy", "--profile", "api.test=bogus"],
            "unknown profile",
        ),
        (
            vec!["proxy", "--passthrough", "bad host"],
            "bad host pattern",
        ),
        (vec!["proxy", "--map", "api.test=nowhere"], "--map"),
        (
            vec!["proxy", "--upstream-ca", "/nonexistent/ca.pem"],
            "/nonexistent/ca.pem",
        ),
        (vec!["proxy", "--decide-after", "soon"], "not a duration"),
        (vec!["proxy", "--bogus-flag"], "--bogus-flag"),
        (
            vec!["proxy", "--profile", "api.test=custom"],
            "needs --cert",
        ),
    ];
    for (args, needle) in cases {
        let out = Command::new(bin())
            .arg("--ca-dir")
            .arg(dir.path().join("ca"))
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn a_port_in_use_is_a_runtime_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .arg("--ca-dir")
        .arg(dir.path())
        .args([
            "proxy",
            "--listen",
            &taken.local_addr().unwrap().to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot listen on"), "{stderr}");

    // Nor can a second proxy share the port of one that serves on several threads (listeners
    // that share a port with SO_REUSEPORT would let it take half the connections).
    let h = Harness::with(Opts {
        args: vec!["--threads".into(), "2".into()],
        ..Opts::default()
    });
    let ca_dir = dir.path().join("ca");
    let addr = h.proxy_addr.to_string();
    let argv = [
        "--ca-dir",
        ca_dir.to_str().unwrap(),
        "proxy",
        "--threads",
        "2",
        "--listen",
        &addr,
    ];
    let (code, stderr) = common::run_cli(dir.path(), &argv);
    assert_eq!(code, Some(4), "a second proxy served on {addr}: {stderr}");
    assert!(stderr.contains("cannot listen on"), "{stderr}");
}

#[test]
fn sigterm_under_load_leaves_a_complete_events_file() {
    let h = Harness::start();
    let bundle = h.bundle.to_str().unwrap().to_string();
    let url = h.url("/load");
    let proxy = format!("http://{}", h.proxy_addr);
    // Clients still running when the proxy stops: their records must be whole lines.
    let children: Vec<_> = (0..8)
        .map(|_| {
            Command::new("curl")
                .args([
                    "-s",
                    "-o",
                    "/dev/null",
                    "--max-time",
                    "10",
                    "--proxy",
                    &proxy,
                    "--cacert",
                    &bundle,
                ])
                .args([&url, &url, &url])
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(150));
    // stop() reads the events file and checks that it ends with a whole line.
    let (records, stdout) = h.stop();
    for mut c in children {
        let _ = c.wait();
    }
    assert!(!records.is_empty());
    let ids: std::collections::HashSet<u64> = records.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), records.len(), "one record per connection");
    // Ids are given in accept order from 1: none missing means no connection lost its record.
    assert_eq!(ids.iter().max().copied(), Some(records.len() as u64));
    assert!(stdout.contains("pinned?"));
}
