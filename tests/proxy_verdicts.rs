//! The proxy's verdicts against real clients: curl (OpenSSL) with and without `--pinnedpubkey`,
//! and a rustls client, through a real local HTTPS origin. Each verdict is read from the events
//! file the proxy writes.

mod common;

use std::io::{Read as _, Write as _};
use std::time::Duration;

use common::{connect_tunnel, only_for, rustls_client, rustls_handshake, Harness, Opts, HOST};
use pin_proxy::record::{ActionKind, Stage, VerdictKind};
use pin_proxy::rules::Profile;

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

#[test]
fn unpinned_client_proceeds_and_its_requests_are_listed() {
    let h = Harness::start();
    let out = h.curl(&[
        "--cacert",
        h.bundle.to_str().unwrap(),
        &h.url("/hello?token=s3cret"),
    ]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("pin-proxy test origin"));
    let ca_pin = {
        let ca = std::fs::read(&h.ca_pem).unwrap();
        let ca = pin_proxy::pins::pem_certs(&ca).unwrap();
        pin_proxy::pins::cert_pin(&ca[0]).unwrap()
    };
    let (records, stdout) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.verdict, VerdictKind::Proceeded);
    assert_eq!(r.stage, Stage::Request);
    assert_eq!(r.action, Some(ActionKind::Intercept));
    assert_eq!(r.profile, Some(Profile::Forged));
    assert_eq!(r.sni.as_deref(), Some(HOST));
    assert_eq!(r.requests.len(), 1);
    assert_eq!(r.requests[0].method, "GET");
    assert_eq!(r.requests[0].path, "/hello?token=<redacted>");
    assert_eq!(r.requests[0].status, Some(200));
    let presented = r.presented_pin.as_deref().unwrap();
    assert_ne!(presented, ca_pin, "leaf must not use the CA key");
    assert!(r.tls_version.is_some());
    assert!(r.bytes_up > 0 && r.bytes_down > 0);
    assert!(stdout.contains("pinned?"), "summary missing: {stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(HOST) && l.ends_with("no")),
        "{stdout}"
    );
}

#[test]
fn curl_pinned_to_the_origin_key_cancels_after_the_handshake() {
    let h = Harness::start();
    let pin = format!("sha256//{}", h.pin("current"));
    let out = h.curl(&[
        "--cacert",
        h.bundle.to_str().unwrap(),
        "--pinnedpubkey",
        &pin,
        &h.url("/"),
    ]);
    assert_eq!(
        code(&out),
        90,
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (records, stdout) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.verdict, VerdictKind::Cancelled, "{r:#?}");
    assert_eq!(r.stage, Stage::AfterHandshake);
    assert!(r.requests.is_empty());
    assert!(
        ["close_notify", "eof", "reset"].contains(&r.reason.as_str()),
        "{}",
        r.reason
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(HOST) && l.ends_with("yes")),
        "{stdout}"
    );
}

#[test]
fn client_not_trusting_the_proxy_ca_cancels_in_the_handshake_with_its_alert() {
    let h = Harness::start();
    let out = h.curl(&["--cacert", h.root_pem.to_str().unwrap(), &h.url("/")]);
    assert_eq!(
        code(&out),
        60,
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.verdict, VerdictKind::Cancelled, "{r:#?}");
    assert_eq!(r.stage, Stage::Handshake);
    assert_eq!(r.reason, "alert:unknown_ca");
}

#[test]
fn passthrough_lets_the_pinned_client_through_untouched() {
    let h = Harness::with(Opts {
        args: vec!["--passthrough".into(), "*.test".into()],
        ..Opts::default()
    });
    let pin = format!("sha256//{}", h.pin("current"));
    let out = h.curl(&[
        "--cacert",
        h.bundle.to_str().unwrap(),
        "--pinnedpubkey",
        &pin,
        &h.url("/through"),
    ]);
    assert_eq!(
        code(&out),
        0,
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(h.origin.requests().len(), 1);
    assert_eq!(h.origin.requests()[0].path, "/through");
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.verdict, VerdictKind::Passthrough);
    assert_eq!(r.stage, Stage::Tunnel);
    assert_eq!(r.action, Some(ActionKind::Passthrough));
    assert!(r.presented_pin.is_none());
    assert!(r.bytes_up > 0 && r.bytes_down > 0);
}

#[test]
fn unreachable_origin_is_upstream_failed_with_a_502() {
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let h = Harness::with(Opts {
        map_to: Some(closed),
        ..Opts::default()
    });
    let out = h.curl(&["-v", "--cacert", h.bundle.to_str().unwrap(), &h.url("/")]);
    assert_ne!(code(&out), 0);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("502"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.verdict, VerdictKind::UpstreamFailed);
    assert_eq!(r.stage, Stage::Connect);
    assert!(r.reason.contains("refused"), "{}", r.reason);
}

#[test]
fn http2_client_proceeds_over_h2() {
    let h = Harness::start();
    let out = h.curl(&[
        "--http2",
        "-w",
        "%{http_version}",
        "-o",
        "/dev/null",
        "--cacert",
        h.bundle.to_str().unwrap(),
        &h.url("/h2"),
    ]);
    assert_eq!(
        code(&out),
        0,
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2");
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.verdict, VerdictKind::Proceeded);
    assert_eq!(r.alpn.as_deref(), Some("h2"));
    assert_eq!(r.requests[0].path, "/h2");
    assert_eq!(h_origin_paths(&records), 1);
}

fn h_origin_paths(records: &[pin_proxy::record::ConnectionRecord]) -> usize {
    records.iter().map(|r| r.requests.len()).sum()
}

#[test]
fn slow_rejecter_closing_after_600ms_is_still_cancelled() {
    let h = Harness::with(Opts {
        decide_after: Some("5s"),
        ..Opts::default()
    });
    let tcp = connect_tunnel(h.proxy_addr, &format!("{HOST}:443"));
    let config = rustls_client(&[&h.ca_pem]);
    let mut tls = rustls_handshake(config, HOST, tcp);
    std::thread::sleep(Duration::from_millis(600));
    tls.conn.send_close_notify();
    tls.conn.complete_io(&mut tls.sock).unwrap();
    drop(tls);
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.verdict, VerdictKind::Cancelled, "{r:#?}");
    assert_eq!(r.stage, Stage::AfterHandshake);
    assert_eq!(r.reason, "close_notify");
    assert!(r.duration_ms >= 600);
}

#[test]
fn rustls_client_that_sends_a_request_proceeds() {
    let h = Harness::start();
    let tcp = connect_tunnel(h.proxy_addr, &format!("{HOST}:443"));
    let mut tls = rustls_handshake(rustls_client(&[&h.ca_pem]), HOST, tcp);
    write!(
        tls,
        "GET /rustls HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = Vec::new();
    let _ = tls.read_to_end(&mut body);
    assert!(String::from_utf8_lossy(&body).starts_with("HTTP/1.1 200"));
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.verdict, VerdictKind::Proceeded);
    assert_eq!(r.requests[0].path, "/rustls");
}

#[test]
fn idle_past_decide_after_is_undecided_even_when_it_closes_later() {
    let h = Harness::with(Opts {
        decide_after: Some("300ms"),
        ..Opts::default()
    });
    let tcp = connect_tunnel(h.proxy_addr, &format!("{HOST}:443"));
    let mut tls = rustls_handshake(rustls_client(&[&h.ca_pem]), HOST, tcp);
    std::thread::sleep(Duration::from_millis(900));
    tls.conn.send_close_notify();
    tls.conn.complete_io(&mut tls.sock).unwrap();
    drop(tls);
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.verdict, VerdictKind::Undecided, "{r:#?}");
    assert_eq!(r.stage, Stage::AfterHandshake);
    assert!(r.reason.contains("idle past decide-after"), "{}", r.reason);
}

#[test]
fn idle_connection_at_shutdown_is_undecided() {
    let h = Harness::start();
    let tcp = connect_tunnel(h.proxy_addr, &format!("{HOST}:443"));
    // TLS 1.2: the server's Finished comes last, so once the client is done the proxy has seen
    // the whole handshake too (in TLS 1.3 the client finishes first and the stop could race it).
    let mut roots = rustls::RootCertStore::empty();
    let ca = pin_proxy::pins::pem_certs(&std::fs::read(&h.ca_pem).unwrap()).unwrap();
    roots.add(ca[0].clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let _tls = rustls_handshake(std::sync::Arc::new(config), HOST, tcp);
    // Still open: its record is written only at the stop.
    let (records, _) = h.stop();
    let r = only_for(&records, HOST);
    assert_eq!(r.verdict, VerdictKind::Undecided, "{r:#?}");
    assert_eq!(r.stage, Stage::AfterHandshake);
    assert_eq!(r.tls_version.as_deref(), Some("TLSv1.2"));
}

#[test]
fn certificate_profiles_are_refused_by_a_trusting_client() {
    for (profile, curl_exit) in [
        ("expired", 60),
        ("self-signed", 60),
        ("untrusted-ca", 60),
        ("wrong-host", 60),
    ] {
        let h = Harness::with(Opts {
            args: vec!["--profile".into(), format!("{HOST}={profile}")],
            ..Opts::default()
        });
        let out = h.curl(&["--cacert", h.bundle.to_str().unwrap(), &h.url("/")]);
        assert_eq!(
            code(&out),
            curl_exit,
            "{profile}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (records, _) = h.stop_after(1);
        let r = only_for(&records, HOST);
        assert_eq!(r.profile.map(|p| p.name()), Some(profile));
        assert_eq!(r.verdict, VerdictKind::Cancelled, "{profile}: {r:#?}");
        assert!(
            matches!(r.stage, Stage::Handshake | Stage::AfterHandshake),
            "{profile}: {r:#?}"
        );
    }
}

#[test]
fn non_tls_bytes_on_an_intercepted_tunnel_are_recorded_and_closed() {
    let h = Harness::start();
    let mut tcp = connect_tunnel(h.proxy_addr, &format!("{HOST}:443"));
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: api.test\r\n\r\n")
        .unwrap();
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest);
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.verdict, VerdictKind::Undecided);
    assert_eq!(r.stage, Stage::Handshake);
    assert!(r.reason.starts_with("not TLS"), "{}", r.reason);
}

#[test]
fn custom_certificate_is_presented_for_its_host() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec![HOST.to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let spec = format!("{HOST}={},{}", cert_path.display(), key_path.display());
    let h = Harness::with(Opts {
        args: vec!["--cert".into(), spec],
        ..Opts::default()
    });
    // A client that trusts exactly this certificate proceeds through it.
    let out = h.curl(&["--cacert", cert_path.to_str().unwrap(), &h.url("/custom")]);
    assert_eq!(
        code(&out),
        0,
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.profile, Some(Profile::Custom));
    assert_eq!(r.verdict, VerdictKind::Proceeded);
    let expected = pin_proxy::pins::cert_pin(cert.der()).unwrap();
    assert_eq!(r.presented_pin.as_deref(), Some(expected.as_str()));
}

#[test]
fn client_without_sni_is_named_by_the_connect_authority() {
    let h = Harness::start();
    // CONNECT by host name, then a TLS client that sends no SNI (as Java does for some hosts).
    let tcp = connect_tunnel(h.proxy_addr, &format!("{HOST}:443"));
    let mut config = (*rustls_client(&[&h.ca_pem])).clone();
    config.enable_sni = false;
    let mut tls = rustls_handshake(std::sync::Arc::new(config), HOST, tcp);
    write!(
        tls,
        "GET /nosni HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = Vec::new();
    let _ = tls.read_to_end(&mut body);
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.sni, None);
    assert_eq!(r.verdict, VerdictKind::Proceeded, "{r:#?}");
}

#[test]
fn websocket_upgrade_is_relayed_both_ways() {
    let h = Harness::start();
    let tcp = connect_tunnel(h.proxy_addr, &format!("{HOST}:443"));
    let mut tls = rustls_handshake(rustls_client(&[&h.ca_pem]), HOST, tcp);
    write!(
        tls,
        "GET /ws HTTP/1.1\r\nHost: {HOST}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(tls.read(&mut byte).unwrap(), 1);
        head.push(byte[0]);
    }
    assert!(
        String::from_utf8_lossy(&head).starts_with("HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    tls.write_all(b"ping through the tunnel").unwrap();
    let mut echo = [0u8; 23];
    tls.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"ping through the tunnel");
    drop(tls);
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.verdict, VerdictKind::Proceeded);
    assert_eq!(r.requests[0].status, Some(101));
}

/// Completed handshakes the origin saw (each is one origin connection the proxy opened).
fn origin_connections(h: &Harness) -> usize {
    h.origin
        .handshakes()
        .iter()
        .filter(|hs| hs.failure.is_none())
        .count()
}

/// A proxy serving on one thread. Origin connections are reused per serving thread, and new
/// client connections are dealt out to the threads in turn; the tests that count origin
/// connections therefore use one.
fn one_thread() -> Harness {
    Harness::with(Opts {
        args: vec!["--threads".into(), "1".into()],
        ..Opts::default()
    })
}

#[test]
fn origin_connections_are_reused_across_client_connections() {
    let h = one_thread();
    let bundle = h.bundle.to_str().unwrap().to_string();
    // A pinned client that cancels leaves its (unused) origin connection for the next one.
    let pinned = format!("sha256//{}", h.pin("current"));
    let out = h.curl(&["--cacert", &bundle, "--pinnedpubkey", &pinned, &h.url("/a")]);
    assert_eq!(out.status.code(), Some(90));
    for path in ["/b", "/c", "/d"] {
        let out = h.curl(&["--cacert", &bundle, &h.url(path)]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(origin_connections(&h), 1, "{:?}", h.origin.handshakes());
    let paths: Vec<String> = h.origin.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/b", "/c", "/d"]);
    let (records, _) = h.stop();
    let verdicts: Vec<VerdictKind> = records.iter().map(|r| r.verdict).collect();
    assert_eq!(
        verdicts
            .iter()
            .filter(|v| **v == VerdictKind::Proceeded)
            .count(),
        3
    );
    assert_eq!(
        verdicts
            .iter()
            .filter(|v| **v == VerdictKind::Cancelled)
            .count(),
        1
    );
    // Every record names the origin it used, pooled or not.
    assert!(records.iter().all(|r| r.upstream.is_some()), "{records:#?}");
}

#[test]
fn an_http2_origin_connection_is_shared_and_reuse_can_be_turned_off() {
    let h = one_thread();
    let bundle = h.bundle.to_str().unwrap().to_string();
    for path in ["/1", "/2"] {
        let out = h.curl(&["--http2", "--cacert", &bundle, &h.url(path)]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(origin_connections(&h), 1);
    drop(h);

    let h = Harness::with(Opts {
        args: ["--upstream-idle-timeout", "0", "--threads", "1"]
            .map(String::from)
            .to_vec(),
        ..Opts::default()
    });
    let bundle = h.bundle.to_str().unwrap().to_string();
    for path in ["/1", "/2"] {
        let out = h.curl(&["--cacert", &bundle, &h.url(path)]);
        assert!(out.status.success());
    }
    assert_eq!(origin_connections(&h), 2);
}

#[test]
fn an_idle_origin_connection_expires() {
    let h = Harness::with(Opts {
        args: vec!["--upstream-idle-timeout".into(), "2s".into()],
        ..Opts::default()
    });
    let bundle = h.bundle.to_str().unwrap().to_string();
    let out = h.curl(&["--cacert", &bundle, &h.url("/1")]);
    assert!(out.status.success());
    h.rt.block_on(async {
        // Kept open after the client left...
        assert!(
            tokio::time::timeout(Duration::from_millis(100), h.origin.idle())
                .await
                .is_err(),
            "the origin connection was closed at once"
        );
        // ...and closed by the sweep once idle past the timeout.
        tokio::time::timeout(Duration::from_secs(15), h.origin.idle())
            .await
            .expect("the kept connection was never closed");
    });
    let out = h.curl(&["--cacert", &bundle, &h.url("/2")]);
    assert!(out.status.success());
    assert_eq!(origin_connections(&h), 2);
}

/// Sends one keep-alive GET over `tls` and reads the whole response (the test origin's answers
/// carry a Content-Length).
fn keep_alive_get(tls: &mut (impl std::io::Read + std::io::Write), path: &str) -> String {
    write!(tls, "GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(tls.read(&mut byte).unwrap(), 1, "closed mid-response");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut body = vec![0u8; length];
    tls.read_exact(&mut body).unwrap();
    head
}

#[test]
fn a_client_connection_that_idles_holds_no_origin_connection() {
    let h = one_thread();
    let config = rustls_client(&[&h.ca_pem]);
    let mut first = rustls_handshake(
        config.clone(),
        HOST,
        connect_tunnel(h.proxy_addr, &format!("{HOST}:443")),
    );
    assert!(keep_alive_get(&mut first, "/first").starts_with("http/1.1 200"));
    // `first` stays open and idle; the second client connection gets the same origin one.
    let mut second = rustls_handshake(
        config,
        HOST,
        connect_tunnel(h.proxy_addr, &format!("{HOST}:443")),
    );
    assert!(keep_alive_get(&mut second, "/second").starts_with("http/1.1 200"));
    assert!(keep_alive_get(&mut first, "/first-again").starts_with("http/1.1 200"));
    assert_eq!(origin_connections(&h), 1, "{:?}", h.origin.handshakes());
    drop((first, second));
    let (records, _) = h.stop();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.verdict == VerdictKind::Proceeded));
}

#[test]
fn the_proxy_prefers_aes_128_gcm_sha256_over_the_clients_order() {
    let h = Harness::start();
    let bundle = h.bundle.to_str().unwrap().to_string();
    // curl (OpenSSL) lists TLS_AES_256_GCM_SHA384 first; the proxy's order wins.
    let out = h.curl(&["-v", "--cacert", &bundle, &h.url("/suite")]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TLSv1.3 / TLS_AES_128_GCM_SHA256"),
        "{stderr}"
    );
}

#[test]
fn several_worker_threads_give_the_same_verdicts() {
    let h = Harness::with(Opts {
        args: vec!["--threads".into(), "3".into()],
        ..Opts::default()
    });
    let bundle = h.bundle.to_str().unwrap().to_string();
    let pinned = format!("sha256//{}", h.pin("current"));
    let out = h.curl(&["--cacert", &bundle, &h.url("/open")]);
    assert!(out.status.success());
    let out = h.curl(&[
        "--cacert",
        &bundle,
        "--pinnedpubkey",
        &pinned,
        &h.url("/pinned"),
    ]);
    assert_eq!(out.status.code(), Some(90));
    let (records, _) = h.stop_after(2);
    let mut verdicts: Vec<VerdictKind> = records.iter().map(|r| r.verdict).collect();
    verdicts.sort_by_key(|v| v.name());
    assert_eq!(verdicts, [VerdictKind::Cancelled, VerdictKind::Proceeded]);
}

#[test]
fn the_origin_words_a_refusing_client_as_the_proxy_does() {
    let h = Harness::with(Opts {
        args: vec!["--passthrough".into(), "*.test".into()],
        ..Opts::default()
    });
    // Through the tunnel, curl meets the origin's chain and trusts only the proxy CA.
    let out = h.curl(&["--cacert", h.ca_pem.to_str().unwrap(), &h.url("/refused")]);
    assert_eq!(out.status.code(), Some(60));
    h.rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), h.origin.idle())
            .await
            .expect("the origin saw the connection end");
    });
    let failures: Vec<Option<String>> = h
        .origin
        .handshakes()
        .into_iter()
        .map(|hs| hs.failure)
        .collect();
    assert_eq!(failures, [Some("alert:unknown_ca".to_string())]);
}
