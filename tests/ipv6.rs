//! IPv6 end to end on `::1`: a proxy listening on `[::1]`, an origin reached over IPv6, CONNECT
//! and SOCKS5 to IPv6 literals (no SNI: the leaf names the address), and bracketed addresses in
//! records and output.

mod common;

use std::process::{Command, Output};

use common::{only_for, Harness, Opts, HOST};
use pin_proxy::record::{ListenerKind, Stage, VerdictKind};

/// A harness on `::1` (proxy, SOCKS5 listener and origin), or `None` where the machine has no
/// IPv6 loopback (skipped, but a failure under `CI=true`).
fn harness() -> Option<(Harness, std::net::SocketAddr)> {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        let why = "no IPv6 loopback (::1) on this machine";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("skipped: {why}");
        return None;
    }
    let mut h = Harness::with(Opts {
        listen: Some("[::1]:0"),
        origin_v6: true,
        args: vec!["--socks5".into(), "[::1]:0".into()],
        ..Opts::default()
    });
    let socks = h.banner_addr("pin-proxy SOCKS5 listening on ");
    Some((h, socks))
}

fn curl(proxy: &str, args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10", "--noproxy", ""])
        .args(["--proxy", proxy])
        .args(args)
        .output()
        .expect("curl is installed")
}

#[test]
fn a_proxy_on_ipv6_reaches_an_ipv6_origin_by_name_and_by_literal() {
    let Some((h, socks)) = harness() else { return };
    assert!(h.proxy_addr.is_ipv6(), "{}", h.proxy_addr);
    let origin = h.origin.addr();
    assert!(origin.is_ipv6());
    let proxy = format!("http://{}", h.proxy_addr);
    let bundle = h.bundle.to_str().unwrap().to_string();
    // By name: the --map sends api.test to [::1]:PORT.
    let named = curl(&proxy, &["--cacert", &bundle, &h.url("/by-name")]);
    assert_eq!(
        named.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&named.stderr)
    );
    // CONNECT [::1]:PORT: no SNI, so the leaf is issued for the address.
    let literal_url = format!("https://[::1]:{}/literal", origin.port());
    let literal = curl(&proxy, &["--cacert", &bundle, &literal_url]);
    assert_eq!(
        literal.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&literal.stderr)
    );
    // SOCKS5 with an IPv6 address (curl resolves, sends address type 4), pinned: cancelled.
    let pin = format!("sha256//{}", h.pin("current"));
    let pinned = curl(
        &format!("socks5://{socks}"),
        &["--cacert", &bundle, "--pinnedpubkey", &pin, &literal_url],
    );
    assert_eq!(
        pinned.status.code(),
        Some(90),
        "{}",
        String::from_utf8_lossy(&pinned.stderr)
    );
    let (records, _) = h.stop_after(3);
    let by_name = only_for(&records, HOST);
    assert_eq!(by_name.verdict, VerdictKind::Proceeded);
    assert_eq!(
        by_name.upstream.as_deref(),
        Some(origin.to_string().as_str())
    );
    assert!(by_name.client.starts_with("[::1]:"), "{}", by_name.client);
    let literals: Vec<_> = records
        .iter()
        .filter(|r| r.host.as_deref() == Some("::1"))
        .collect();
    assert_eq!(literals.len(), 2, "{records:#?}");
    for r in &literals {
        assert_eq!(r.port, Some(origin.port()));
        assert_eq!(r.sni, None);
        assert_eq!(r.upstream.as_deref(), Some(origin.to_string().as_str()));
    }
    let http = literals
        .iter()
        .find(|r| r.listener == ListenerKind::Http)
        .expect("the CONNECT one");
    assert_eq!(http.verdict, VerdictKind::Proceeded);
    let socks = literals
        .iter()
        .find(|r| r.listener == ListenerKind::Socks5)
        .expect("the SOCKS5 one");
    assert_eq!(
        (socks.verdict, socks.stage),
        (VerdictKind::Cancelled, Stage::AfterHandshake)
    );
}

#[test]
fn live_lines_and_the_report_bracket_ipv6_targets() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "no ::1");
        return eprintln!("skipped: no IPv6 loopback (::1) on this machine");
    }
    let h = Harness::with(Opts {
        listen: Some("[::1]:0"),
        origin_v6: true,
        live: true,
        ..Opts::default()
    });
    let origin = h.origin.addr();
    let bundle = h.bundle.to_str().unwrap().to_string();
    let url = format!("https://[::1]:{}/", origin.port());
    let out = curl(
        &format!("http://{}", h.proxy_addr),
        &["--cacert", &bundle, &url],
    );
    assert_eq!(out.status.code(), Some(0));
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("events.jsonl");
    common::wait_for_records(&h.events, 1, std::time::Duration::from_secs(10));
    std::fs::copy(&h.events, &copy).unwrap();
    let (_, stdout) = h.stop();
    let bracketed = format!("#1 [::1]:{} intercept/forged PROCEEDED", origin.port());
    assert!(stdout.contains(&bracketed), "{stdout}");
    let report = Command::new(common::bin())
        .args(["report", copy.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(report.status.code(), Some(0));
    let report = String::from_utf8_lossy(&report.stdout);
    assert!(report.lines().any(|l| l.starts_with("::1 ")), "{report}");
}
