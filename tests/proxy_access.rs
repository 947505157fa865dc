//! Who may use the proxy: `--auth` (HTTP Basic on CONNECT and plain HTTP, checked with real
//! curl: none, wrong and right credentials; the origin sees nothing without them; the
//! credentials appear in no output or record), `--auth-file`, the refusal to listen on a LAN
//! address without `--auth` or `--allow-from`, and `--allow-from` in two network namespaces of
//! the test's own joined by a veth pair (a client outside the range is disconnected, one record).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Harness, Opts, HOST};
use pin_proxy::record::{Stage, VerdictKind};

const SECRET: &str = "s3cr:et-pw";

fn auth_harness(args: &[&str]) -> Harness {
    Harness::with(Opts {
        args: args.iter().map(|s| s.to_string()).collect(),
        ..Opts::default()
    })
}

#[test]
fn basic_auth_guards_connect_and_plain_http() {
    let h = auth_harness(&["--auth", &format!("tester:{SECRET}")]);
    let ca = h.ca_pem.to_str().expect("a path").to_string();
    let url = h.url("/");
    // No credentials, then wrong ones: 407, nothing reaches the origin.
    let none = h.curl(&["--cacert", &ca, &url]);
    assert!(!none.status.success());
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("407"),
        "{none:?}"
    );
    let wrong = h.curl(&["--proxy-user", "tester:nope", "--cacert", &ca, &url]);
    assert!(!wrong.status.success());
    let plain = h.curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("http://{HOST}/"),
    ]);
    assert_eq!(String::from_utf8_lossy(&plain.stdout), "407");
    assert!(
        h.origin.handshakes().is_empty(),
        "the origin saw a client without credentials"
    );
    // The right ones: through.
    let right = h.curl(&[
        "--proxy-user",
        &format!("tester:{SECRET}"),
        "--cacert",
        &ca,
        &url,
    ]);
    assert!(right.status.success(), "{right:?}");
    let events_path = h.events.clone();
    let (records, stderr) = h.stop_after(4);
    assert_eq!(records.len(), 4, "{records:#?}");
    let refused: Vec<_> = records
        .iter()
        .filter(|r| r.reason == pin_proxy::access::AUTH_REQUIRED)
        .collect();
    assert_eq!(refused.len(), 3, "{records:#?}");
    for r in &refused {
        assert_eq!(
            (r.verdict, r.stage),
            (VerdictKind::Undecided, Stage::Connect)
        );
        assert!(r.upstream.is_none(), "{r:?}");
    }
    assert!(records.iter().any(|r| r.verdict == VerdictKind::Proceeded));
    // Never the password: not in the output, not in the events file.
    let events = std::fs::read_to_string(&events_path).unwrap_or_default();
    for text in [&stderr, &events] {
        assert!(!text.contains(SECRET), "{text}");
    }
}

#[test]
fn credentials_come_from_a_file_too() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("auth");
    std::fs::write(&file, format!("tester:{SECRET}\n")).expect("write");
    let h = auth_harness(&["--auth-file", file.to_str().expect("a path")]);
    let ca = h.ca_pem.to_str().expect("a path").to_string();
    let url = h.url("/");
    assert!(!h.curl(&["--cacert", &ca, &url]).status.success());
    let right = h.curl(&[
        "--proxy-user",
        &format!("tester:{SECRET}"),
        "--cacert",
        &ca,
        &url,
    ]);
    assert!(right.status.success(), "{right:?}");
    let _ = h.stop_after(2);
}

#[test]
fn an_open_lan_listener_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for listen in ["0.0.0.0:0", "[::]:0", "192.0.2.1:8080"] {
        let (code, stderr) = common::run_cli(dir.path(), &["proxy", "--listen", listen]);
        assert_eq!(code, Some(2), "{listen}: {stderr}");
        assert!(
            stderr.contains("--auth") && stderr.contains("--allow-from"),
            "{stderr}"
        );
    }
    let (code, stderr) = common::run_cli(dir.path(), &["proxy", "--auth", "nocolon"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        !stderr.contains("nocolon"),
        "the value is not echoed: {stderr}"
    );
}

#[test]
fn allow_from_disconnects_clients_outside_its_ranges() {
    let Some(lan) = common::Lan::new("c") else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let events = dir.path().join("events.jsonl");
    let mut proxy = lan
        .server(&common::bin())
        .arg("--ca-dir")
        .arg(dir.path().join("ca"))
        .args([
            "proxy",
            "--quiet",
            "--listen",
            &format!("{}:0", lan.server_ip),
        ])
        .args(["--allow-from", "192.0.2.0/24", "--events"])
        .arg(&events)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the proxy");
    let mut stderr = BufReader::new(proxy.stderr.take().expect("stderr"));
    let mut addr = None;
    let mut seen = String::new();
    for _ in 0..50 {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if let Some(a) = line.trim().strip_prefix("pin-proxy listening on ") {
            addr = Some(a.to_string());
            break;
        }
        seen.push_str(&line);
    }
    let addr = addr.unwrap_or_else(|| panic!("the proxy did not start:\n{seen}"));
    let out = lan
        .client("curl")
        .args(["-sS", "--max-time", "5"])
        .args([
            "--proxy",
            &format!("http://{addr}"),
            "http://api.example.test/",
        ])
        .output()
        .expect("curl runs");
    assert!(!out.status.success(), "{out:?}");
    // The refusal's record, then stop.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    while Instant::now() < deadline {
        text = std::fs::read_to_string(&events).unwrap_or_default();
        if text.contains("refused: not in --allow-from") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = proxy.kill();
    let _ = proxy.wait();
    let records = common::read_events(&events);
    assert_eq!(records.len(), 1, "{text}");
    assert_eq!(records[0].reason, pin_proxy::access::NOT_ALLOWED);
    assert_eq!(
        (records[0].verdict, records[0].stage),
        (VerdictKind::Undecided, Stage::Connect)
    );
    assert!(
        records[0]
            .client
            .starts_with(&format!("{}:", lan.client_ip)),
        "{:?}",
        records[0].client
    );
}

#[test]
fn the_banner_warns_of_clear_text_and_never_shows_the_password() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut proxy = Command::new(common::bin())
        .arg("--ca-dir")
        .arg(dir.path().join("ca"))
        .args(["proxy", "--listen", "127.0.0.1:0", "--quiet"])
        .env("PIN_PROXY_AUTH", format!("tester:{SECRET}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the proxy");
    let mut stderr = BufReader::new(proxy.stderr.take().expect("stderr"));
    let mut banner = String::new();
    for _ in 0..50 {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        banner.push_str(&line);
        if line.contains("pin-proxy listening on ") {
            break;
        }
    }
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert!(
        banner.contains("proxy authentication on (Basic, user tester)"),
        "{banner}"
    );
    assert!(banner.contains("clear text"), "{banner}");
    assert!(!banner.contains(SECRET), "{banner}");
}

/// The QR code of a banner (Unicode half blocks, light modules drawn, quiet zone included) →
/// its text, with rqrr.
fn decode_qr(lines: &[String]) -> String {
    let rows: Vec<Vec<char>> = lines.iter().map(|l| l.chars().collect()).collect();
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let height = rows.len() * 2;
    // drawn[y][x]: a drawn half block is a light module.
    let drawn = |x: usize, y: usize| -> bool {
        let c = rows
            .get(y / 2)
            .and_then(|r| r.get(x))
            .copied()
            .unwrap_or(' ');
        matches!((c, y % 2), ('█', _) | ('▀', 0) | ('▄', 1))
    };
    let size = width - 8;
    assert!(height >= size + 8 - 1, "{height} rows for {size} modules");
    let grid = rqrr::SimpleGrid::from_func(size, |x, y| !drawn(x + 4, y + 4));
    let (_, text) = rqrr::Grid::new(grid).decode().expect("a readable QR code");
    text
}

#[test]
fn the_banner_lists_device_addresses_and_its_qr_code_opens_the_install_page() {
    let Some(lan) = common::Lan::new("c") else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut proxy = lan
        .server(&common::bin())
        .arg("--ca-dir")
        .arg(dir.path().join("ca"))
        .args([
            "proxy",
            "--quiet",
            "--listen",
            "0.0.0.0:0",
            "--allow-from",
            "10.0.0.0/8",
            "--qr",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the proxy");
    let mut stderr = BufReader::new(proxy.stderr.take().expect("stderr"));
    let mut banner: Vec<String> = Vec::new();
    for _ in 0..200 {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let line = line.trim_end_matches('\n').to_string();
        let done = line.contains("stop with Ctrl-C");
        banner.push(line);
        if done {
            break;
        }
    }
    let _ = proxy.kill();
    let _ = proxy.wait();
    let text = banner.join("\n");
    let port = text
        .split("listening on 0.0.0.0:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("{text}"))
        .to_string();
    let url = format!("http://{}:{port}/", lan.server_ip);
    let devices = banner
        .iter()
        .find(|l| l.contains("devices:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(devices.contains(&url), "{devices}");
    let start = banner
        .iter()
        .position(|l| l.contains("scan for the install page"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(banner[start].contains(&url), "{}", banner[start]);
    let code: Vec<String> = banner[start + 1..]
        .iter()
        .take_while(|l| !l.trim().is_empty() && !l.contains("stop with"))
        .cloned()
        .collect();
    assert_eq!(decode_qr(&code), url);
}
