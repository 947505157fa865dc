//! `--map-local`: requests the proxy answers itself, end to end with the real binary, curl and a
//! rustls client. The origin of a mapped host is a listener that counts the connections it
//! accepts (or the test origin, when unmapped requests must reach it), so a test shows that the
//! origin was never asked, not even for TCP.

mod common;

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{
    bin, connect_tunnel, only_for, run_cli, rustls_client, rustls_handshake, Harness, Opts, HOST,
};
use pin_proxy::record::{ActionKind, ConnectionRecord, Stage, VerdictKind};

/// A listener that counts the connections it accepts (and closes them).
struct CountingListener {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CountingListener {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted: Arc<AtomicUsize> = Arc::default();
        let stop: Arc<AtomicBool> = Arc::default();
        let thread = {
            let (accepted, stop) = (accepted.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok(_) => {
                            accepted.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Self {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    fn accepted(&self) -> usize {
        // One more turn of the accept loop, so a connection already queued is counted.
        std::thread::sleep(Duration::from_millis(30));
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for CountingListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Writes `content` to `name` in a directory that outlives the proxy.
fn file(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn map_local(spec: String) -> Vec<String> {
    vec!["--map-local".into(), spec]
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the test origin saw: (handshakes, request paths).
fn origin_saw(h: &Harness) -> (usize, Vec<String>) {
    let handshakes = h.origin.handshakes().len();
    let paths = h.origin.requests().into_iter().map(|r| r.path).collect();
    (handshakes, paths)
}

const JWS: &[u8] = b"eyJhbGciOiJFUzI1NiJ9.eyJwaW5zIjpbXX0.c2lnbmF0dXJl";

#[test]
fn a_mapped_https_request_is_answered_without_the_origin_not_even_tcp() {
    let files = tempfile::tempdir().unwrap();
    let jws = file(&files, "forged.jws", JWS);
    let json = file(&files, "config.json", br#"{"feature":true}"#);
    let origin = CountingListener::start();
    let mut args = map_local(format!(
        "https://{HOST}/pins={};content-type=application/jose",
        jws.display()
    ));
    args.extend(map_local(format!(
        "https://{HOST}/config={}",
        json.display()
    )));
    let h = Harness::with(Opts {
        args,
        map_to: Some(origin.addr),
        ..Opts::default()
    });
    let bundle = h.bundle.to_str().unwrap().to_string();
    let out = h.curl(&[
        "-D",
        "-",
        "--suppress-connect-headers",
        "--cacert",
        &bundle,
        &h.url("/pins"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: application/jose"), "{head}");
    assert!(
        head.contains(&format!("content-length: {}", JWS.len())),
        "{head}"
    );
    assert_eq!(body.as_bytes(), JWS);
    // The type guessed from the extension.
    let out = h.curl(&[
        "-sS",
        "-w",
        "\n%{content_type}",
        "--cacert",
        &bundle,
        &h.url("/config"),
    ]);
    assert_eq!(stdout(&out), "{\"feature\":true}\napplication/json");

    assert_eq!(origin.accepted(), 0, "the origin was asked for TCP");
    assert_eq!(origin_saw(&h), (0, Vec::new()));
    let (records, _) = h.stop();
    assert_eq!(records.len(), 2, "{records:#?}");
    for r in &records {
        assert_eq!(r.verdict, VerdictKind::Proceeded, "{r:#?}");
        assert_eq!(r.stage, Stage::Request);
        assert_eq!(r.action, Some(ActionKind::Intercept));
        assert_eq!(r.requests.len(), 1);
        assert!(r.requests[0].mapped_local, "{r:#?}");
        assert_eq!(r.requests[0].status, Some(200));
        assert_eq!(r.upstream, None, "no origin connection: {r:#?}");
        assert!(r.presented_pin.is_some());
    }
}

#[test]
fn an_unmapped_path_on_the_same_connection_goes_to_the_origin_lazily() {
    let files = tempfile::tempdir().unwrap();
    let jws = file(&files, "forged.jws", JWS);
    let h = Harness::with(Opts {
        args: map_local(format!("https://{HOST}/pins={}", jws.display())),
        ..Opts::default()
    });
    // curl offers h2 and http/1.1; a mapped host is presented with http/1.1, and both URLs go
    // over one keep-alive connection.
    let out = h.curl(&[
        "--http2",
        "--cacert",
        h.bundle.to_str().unwrap(),
        &h.url("/pins"),
        &h.url("/unmapped?token=x"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(std::str::from_utf8(JWS).unwrap()),
        "{text}"
    );
    assert!(text.contains("pin-proxy test origin"), "{text}");
    let (handshakes, paths) = origin_saw(&h);
    assert_eq!(handshakes, 1);
    assert_eq!(paths, ["/unmapped?token=x"]);
    let origin_addr = h.origin.addr().to_string();
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.verdict, VerdictKind::Proceeded);
    assert_eq!(r.alpn.as_deref(), Some("http/1.1"));
    let listed: Vec<(&str, Option<u16>, bool)> = r
        .requests
        .iter()
        .map(|q| (q.path.as_str(), q.status, q.mapped_local))
        .collect();
    assert_eq!(
        listed,
        [
            ("/pins", Some(200), true),
            ("/unmapped?token=<redacted>", Some(200), false)
        ]
    );
    assert_eq!(r.upstream.as_deref(), Some(origin_addr.as_str()));
}

/// Sends one keep-alive GET over `tls` and reads the whole response; returns (head, body).
fn keep_alive_get(
    tls: &mut (impl std::io::Read + std::io::Write),
    path: &str,
) -> (String, Vec<u8>) {
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
        .unwrap_or_else(|| panic!("no content-length: {head}"))
        .trim()
        .parse()
        .unwrap();
    let mut body = vec![0u8; length];
    tls.read_exact(&mut body).unwrap();
    (head, body)
}

#[test]
fn the_origin_is_connected_at_the_first_unmapped_request_and_not_before() {
    let files = tempfile::tempdir().unwrap();
    let jws = file(&files, "forged.jws", JWS);
    let h = Harness::with(Opts {
        args: map_local(format!("https://{HOST}/pins={}", jws.display())),
        ..Opts::default()
    });
    let tcp = connect_tunnel(h.proxy_addr, &format!("{HOST}:443"));
    let mut tls = rustls_handshake(rustls_client(&[&h.ca_pem]), HOST, tcp);
    let (head, body) = keep_alive_get(&mut tls, "/pins");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body, JWS);
    assert_eq!(
        origin_saw(&h),
        (0, Vec::new()),
        "asked before a request needed it"
    );
    let (head, _) = keep_alive_get(&mut tls, "/second");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let (head, body) = keep_alive_get(&mut tls, "/pins");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body, JWS);
    let (_, _) = keep_alive_get(&mut tls, "/third");
    assert_eq!(origin_saw(&h), (1, vec!["/second".into(), "/third".into()]));
    drop(tls);
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    let mapped: Vec<bool> = r.requests.iter().map(|q| q.mapped_local).collect();
    assert_eq!(mapped, [true, false, true, false]);
}

#[test]
fn a_status_entry_answers_with_the_status() {
    let origin = CountingListener::start();
    let h = Harness::with(Opts {
        args: map_local(format!("https://{HOST}/pins?v=2=status:503")),
        map_to: Some(origin.addr),
        ..Opts::default()
    });
    let out = h.curl(&[
        "-w",
        "%{http_code}",
        "--cacert",
        h.bundle.to_str().unwrap(),
        &h.url("/pins?v=2"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "503");
    assert_eq!(origin.accepted(), 0);
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.verdict, VerdictKind::Proceeded);
    assert_eq!(r.requests.len(), 1);
    assert_eq!(r.requests[0].status, Some(503));
    assert!(r.requests[0].mapped_local);
    assert_eq!(r.requests[0].path, "/pins?v=<redacted>");
}

#[test]
fn an_unreachable_origin_fails_only_the_unmapped_request() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let files = tempfile::tempdir().unwrap();
    let jws = file(&files, "forged.jws", JWS);
    let h = Harness::with(Opts {
        args: map_local(format!("https://{HOST}/pins={}", jws.display())),
        map_to: Some(closed),
        ..Opts::default()
    });
    let out = h.curl(&[
        "-w",
        " %{http_code}\n",
        "--cacert",
        h.bundle.to_str().unwrap(),
        &h.url("/pins"),
        &h.url("/elsewhere"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(" 200\n"), "{text}");
    assert!(
        text.contains("cannot reach api.test:443") && text.ends_with(" 502\n"),
        "{text}"
    );
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    // The client sent requests through our certificate: proceeded, whatever the origin did.
    assert_eq!(r.verdict, VerdictKind::Proceeded, "{r:#?}");
    let statuses: Vec<(Option<u16>, bool)> = r
        .requests
        .iter()
        .map(|q| (q.status, q.mapped_local))
        .collect();
    assert_eq!(statuses, [(Some(200), true), (Some(502), false)]);
}

#[test]
fn a_mapped_plain_http_request_is_answered_by_the_proxy() {
    let files = tempfile::tempdir().unwrap();
    let page = file(&files, "page.html", b"<p>local</p>");
    let origin = CountingListener::start();
    let h = Harness::with(Opts {
        args: map_local(format!("http://{HOST}/index?lang=en={}", page.display())),
        map_to: Some(origin.addr),
        ..Opts::default()
    });
    let out = h.curl(&[
        "-w",
        "\n%{content_type}",
        &format!("http://{HOST}/index?lang=en"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "<p>local</p>\ntext/html");
    assert_eq!(origin.accepted(), 0);
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.action, Some(ActionKind::Http));
    assert_eq!(r.verdict, VerdictKind::Proceeded);
    assert_eq!(r.requests.len(), 1);
    assert!(r.requests[0].mapped_local);
    assert_eq!(r.requests[0].status, Some(200));
    assert_eq!(r.upstream, None);
}

#[test]
fn a_client_that_refuses_the_certificate_of_a_mapped_host_is_still_cancelled() {
    let files = tempfile::tempdir().unwrap();
    let jws = file(&files, "forged.jws", JWS);
    let origin = CountingListener::start();
    let h = Harness::with(Opts {
        args: map_local(format!("https://{HOST}/pins={}", jws.display())),
        map_to: Some(origin.addr),
        ..Opts::default()
    });
    // Pinned to the real origin's key: the forged leaf does not match.
    let pin = format!("sha256//{}", h.pin("current"));
    let out = h.curl(&[
        "--cacert",
        h.bundle.to_str().unwrap(),
        "--pinnedpubkey",
        &pin,
        &h.url("/pins"),
    ]);
    assert_eq!(out.status.code(), Some(90), "{}", stderr(&out));
    assert_eq!(origin.accepted(), 0);
    let (records, stdout) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.verdict, VerdictKind::Cancelled, "{r:#?}");
    assert_eq!(r.stage, Stage::AfterHandshake);
    assert!(r.requests.is_empty());
    assert!(r.presented_pin.is_some());
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(HOST) && l.ends_with("yes")),
        "{stdout}"
    );
}

#[test]
fn the_sni_decides_too() {
    let files = tempfile::tempdir().unwrap();
    let jws = file(&files, "forged.jws", JWS);
    let origin = CountingListener::start();
    // CONNECT names a host without entries, the SNI one with: the CONNECT step opens TCP as it
    // always does, and the handshake still needs no origin.
    let mut args = map_local(format!("https://{HOST}/pins={}", jws.display()));
    args.extend(["--map".into(), format!("other.test={}", origin.addr)]);
    let h = Harness::with(Opts {
        args,
        map_to: Some(origin.addr),
        ..Opts::default()
    });
    let tcp = connect_tunnel(h.proxy_addr, "other.test:443");
    let mut tls = rustls_handshake(rustls_client(&[&h.ca_pem]), HOST, tcp);
    let (head, body) = keep_alive_get(&mut tls, "/pins");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body, JWS);
    drop(tls);
    assert_eq!(origin.accepted(), 1, "only the CONNECT step's TCP");
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.verdict, VerdictKind::Proceeded);
    assert!(r.requests[0].mapped_local);
}

#[test]
fn a_connect_to_a_mapped_host_whose_sni_is_not_mapped_reaches_its_origin() {
    let files = tempfile::tempdir().unwrap();
    let jws = file(&files, "forged.jws", JWS);
    let mut args = map_local(format!("https://{HOST}/pins={}", jws.display()));
    // The origin's certificate is for api.test, and the proxy verifies it as the SNI.
    args.push("--upstream-insecure".into());
    let h = Harness::with(Opts {
        args,
        ..Opts::default()
    });
    // CONNECT api.test (mapped: no TCP before the 200), SNI other.test (not mapped).
    let tcp = connect_tunnel(h.proxy_addr, &format!("{HOST}:443"));
    let mut tls = rustls_handshake(rustls_client(&[&h.ca_pem]), "other.test", tcp);
    let (head, body) = keep_alive_get(&mut tls, "/pins");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("pin-proxy test origin"));
    drop(tls);
    let seen: Vec<(Option<String>, String)> = h
        .origin
        .requests()
        .into_iter()
        .map(|r| (r.sni, r.path))
        .collect();
    assert_eq!(
        seen,
        [(Some("other.test".to_string()), "/pins".to_string())]
    );
    let (records, _) = h.stop();
    let r = only_for(&records, "other.test");
    assert_eq!(r.verdict, VerdictKind::Proceeded);
    assert!(!r.requests[0].mapped_local);
}

#[test]
fn an_http2_only_client_gets_h2_and_its_unmapped_requests_still_reach_the_origin() {
    let files = tempfile::tempdir().unwrap();
    let jws = file(&files, "forged.jws", JWS);
    let h = Harness::with(Opts {
        args: map_local(format!("https://{HOST}/pins={}", jws.display())),
        ..Opts::default()
    });
    let tcp = connect_tunnel(h.proxy_addr, &format!("{HOST}:443"));
    let mut config = (*rustls_client(&[&h.ca_pem])).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let config = Arc::new(config);
    let got: Vec<(u16, Vec<u8>)> = h.rt.block_on(async move {
        use http_body_util::{BodyExt as _, Empty};
        tcp.set_nonblocking(true).unwrap();
        let tcp = tokio::net::TcpStream::from_std(tcp).unwrap();
        let name = rustls::pki_types::ServerName::try_from(HOST).unwrap();
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (mut send, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tls),
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        let mut got = Vec::new();
        for path in ["/pins", "/from-origin"] {
            let req = http::Request::get(format!("https://{HOST}{path}"))
                .body(Empty::<bytes::Bytes>::new())
                .unwrap();
            let resp = send.send_request(req).await.unwrap();
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            got.push((status, body.to_vec()));
        }
        got
    });
    assert_eq!(got[0], (200, JWS.to_vec()));
    assert_eq!(got[1].0, 200);
    assert!(String::from_utf8_lossy(&got[1].1).contains("pin-proxy test origin"));
    assert_eq!(origin_saw(&h).1, ["/from-origin"]);
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.alpn.as_deref(), Some("h2"));
    let mapped: Vec<bool> = r.requests.iter().map(|q| q.mapped_local).collect();
    assert_eq!(mapped, [true, false]);
}

#[test]
fn a_proxy_without_entries_still_opens_the_origin_before_the_certificate() {
    // The unchanged path: an unreachable origin is upstream_failed and no certificate goes out.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let files = tempfile::tempdir().unwrap();
    let jws = file(&files, "forged.jws", JWS);
    let h = Harness::with(Opts {
        // An entry for another host changes nothing for this one.
        args: map_local(format!("https://other.test/pins={}", jws.display())),
        map_to: Some(closed),
        ..Opts::default()
    });
    let out = h.curl(&["--cacert", h.bundle.to_str().unwrap(), &h.url("/pins")]);
    assert_ne!(out.status.code(), Some(0));
    let (records, _) = h.stop();
    let r: &ConnectionRecord = only_for(&records, HOST);
    assert_eq!(r.verdict, VerdictKind::UpstreamFailed);
    assert_eq!(r.stage, Stage::Connect);
    assert!(r.presented_pin.is_none());
}

#[test]
fn bad_specs_exit_2_with_one_line_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let ok = file(&dir, "ok.json", b"{}");
    for (spec, says) in [
        (format!("https://{HOST}/pins"), "expected URL=FILE"),
        (
            format!("ftp://{HOST}/pins={}", ok.display()),
            "unknown scheme",
        ),
        (
            format!("https://{HOST}/pins={}", missing.display()),
            "missing.json",
        ),
        (format!("https://{HOST}/pins=status:99"), "bad status"),
        (format!("https://{HOST}/pins=status:101"), "bad status"),
        (format!("https://{HOST}/pins=status:nope"), "bad status"),
    ] {
        let (code, stderr) = run_cli(
            dir.path(),
            &["proxy", "--listen", "127.0.0.1:0", "--map-local", &spec],
        );
        assert_eq!(code, Some(2), "{spec}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{spec}: {stderr}");
        assert!(stderr.contains("--map-local"), "{spec}: {stderr}");
        assert!(stderr.contains(says), "{spec}: {stderr}");
    }
    // The same URL twice.
    let spec = format!("https://{HOST}/pins={}", ok.display());
    let (code, stderr) = run_cli(
        dir.path(),
        &[
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--map-local",
            &spec,
            "--map-local",
            &format!("https://{HOST}:443/pins=status:503"),
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--map-local") && stderr.contains("given twice"),
        "{stderr}"
    );
}

/// Starts the proxy with `args`, reads its stderr up to the end of the banner, and stops it.
fn banner(args: &[String]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin())
        .arg("--ca-dir")
        .arg(dir.path().join("ca"))
        .args(["proxy", "--listen", "127.0.0.1:0", "--quiet"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut text = String::new();
    for _ in 0..50 {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        text.push_str(&line);
        if line.contains("stop with Ctrl-C") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    text
}

#[test]
fn the_banner_lists_the_entries_and_warns_about_passed_through_hosts() {
    let files = tempfile::tempdir().unwrap();
    let jws = file(&files, "forged.jws", JWS);
    let text = banner(&[
        "--map-local".into(),
        format!(
            "https://cfg.example.test/pins={};content-type=application/jose",
            jws.display()
        ),
        "--map-local".into(),
        "https://cdn.example.test/x=status:503".into(),
        "--passthrough".into(),
        "cdn.*".into(),
    ]);
    assert!(
        text.contains(&format!(
            "  map-local:    https://cfg.example.test/pins → {} (application/jose, {} bytes)",
            jws.display(),
            JWS.len()
        )),
        "{text}"
    );
    assert!(
        text.contains("                https://cdn.example.test/x → status:503"),
        "{text}"
    );
    let warning = text
        .lines()
        .find(|l| l.starts_with("pin-proxy: warning: --map-local"))
        .unwrap_or_else(|| panic!("no warning: {text}"));
    assert!(warning.contains("https://cdn.example.test/x"), "{warning}");
    assert!(!text.contains("warning: --map-local https://cfg"), "{text}");
}

#[test]
fn a_mapped_request_with_a_body_keeps_its_connection() {
    let files = tempfile::tempdir().unwrap();
    let json = file(&files, "a.json", br#"{"a":1}"#);
    let upload = file(&files, "upload.bin", &vec![7u8; 200_000]);
    let origin = CountingListener::start();
    let h = Harness::with(Opts {
        args: map_local(format!("https://{HOST}/a={}", json.display())),
        map_to: Some(origin.addr),
        ..Opts::default()
    });
    let bundle = h.bundle.to_str().unwrap().to_string();
    let proxy = format!("http://{}", h.proxy_addr);
    let data = format!("@{}", upload.display());
    let out = h.curl(&[
        "--cacert",
        &bundle,
        "--data-binary",
        &data,
        "-w",
        " %{http_code}\n",
        &h.url("/a"),
        "--next",
        "--proxy",
        &proxy,
        "--cacert",
        &bundle,
        "-w",
        " %{http_code}\n",
        &h.url("/a"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "{\"a\":1} 200\n{\"a\":1} 200\n");
    assert_eq!(origin.accepted(), 0);
    let (records, _) = h.stop();
    // One connection: the upload was read and dropped, not left to close the connection.
    let r = only_for(&records, HOST);
    let methods: Vec<(&str, bool)> = r
        .requests
        .iter()
        .map(|q| (q.method.as_str(), q.mapped_local))
        .collect();
    assert_eq!(methods, [("POST", true), ("GET", true)]);
    assert!(r.bytes_up > 200_000, "{}", r.bytes_up);
}
