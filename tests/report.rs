//! `pin-proxy report` on events files recorded by real runs: curl refusing the forged leaf
//! (`--pinnedpubkey`) and curl accepting it, through the real proxy; the per-host map in every
//! format, the readable requests, malformed and cut lines reported with their line and skipped,
//! and a missing file.

mod common;

use std::io::Write as _;
use std::process::Command;

use common::{Harness, HOST};
use serde_json::Value;

fn report(args: &[&str]) -> (Option<i32>, String, String) {
    common::outcome(Command::new(common::bin()).arg("report").args(args))
}

#[test]
fn the_map_of_a_real_session_in_every_format() {
    let h = Harness::start();
    let ca = h.ca_pem.to_str().expect("a path").to_string();
    let wrong = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let refused = h.curl(&["--cacert", &ca, "--pinnedpubkey", wrong, &h.url("/first")]);
    assert!(!refused.status.success());
    let accepted = h.curl(&[
        "--cacert",
        &ca,
        "-o",
        "/dev/null",
        &h.url("/secret?token=abc"),
    ]);
    assert!(accepted.status.success(), "{accepted:?}");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let events = dir.path().join("events.jsonl");
    common::wait_for_records(&h.events, 2, std::time::Duration::from_secs(10));
    std::fs::copy(&h.events, &events).expect("copy the events file");
    let _ = h.stop();
    // A line the proxy did not finish, and garbage.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&events)
        .expect("open");
    writeln!(f, "garbage").expect("write");
    write!(f, "{{\"schema\":1,\"id\":9,").expect("write");
    drop(f);
    let path = events.to_str().expect("a path");

    let (code, json, stderr) = report(&[path, "--format", "json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let map: Value = serde_json::from_str(&json).expect("JSON");
    let host = &map["hosts"][0];
    assert_eq!(host["host"], HOST);
    assert_eq!(
        (host["cancelled"].as_u64(), host["proceeded"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(host["pinned"], "mixed");
    let readable: Vec<&str> = host["readable_requests"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(readable, ["GET /secret?token=<redacted>"]);
    let lines: Vec<u64> = map["malformed"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["line"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(lines, [3, 4]);
    assert!(stderr.contains(":4: skipped: cut short"), "{stderr}");

    let (code, table, _) = report(&[path]);
    assert_eq!(code, Some(0));
    assert!(table.contains(HOST) && table.contains("mixed"), "{table}");
    // It proceeded through the forged leaf once: it trusts the CA.
    assert!(!table.contains("may not trust"), "{table}");
    assert!(table.contains("readable requests to"), "{table}");
    let md = dir.path().join("map.md");
    let (code, _, _) = report(&[
        path,
        "--format",
        "markdown",
        "--out",
        md.to_str().expect("a path"),
    ]);
    assert_eq!(code, Some(0));
    let md = std::fs::read_to_string(&md).expect("the Markdown file");
    assert!(
        md.starts_with("# Pinning map") && md.contains(&format!("| `{HOST}` |")),
        "{md}"
    );
    assert!(md.contains(":3:"), "{md}");

    let (code, _, stderr) = report(&["no-such-events.jsonl"]);
    assert_eq!(code, Some(2), "{stderr}");

    // The gate, both ways, with JUnit.
    // Its directory is created, as `run --junit out/junit.xml` does in a fresh checkout.
    let junit = dir.path().join("out/junit.xml");
    let junit_s = junit.to_str().expect("a path");
    let (code, _, stderr) = report(&[
        path,
        "--expect-unpinned",
        HOST,
        "--expect-host",
        "*.test",
        "--junit",
        junit_s,
    ]);
    assert_eq!(code, Some(1), "mixed is not unpinned: {stderr}");
    let (code, _, stderr) = report(&[
        path,
        "--expect-pinned",
        HOST,
        "--expect-host",
        "nothing.test",
        "--junit",
        junit_s,
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("FAIL expect-pinned") && stderr.contains("no traffic for nothing.test"),
        "{stderr}"
    );
    let xml = std::fs::read_to_string(&junit).expect("the JUnit file");
    assert!(xml.contains("tests=\"2\" failures=\"2\""), "{xml}");
    assert!(
        xml.contains("proceeded through the forged certificate"),
        "{xml}"
    );
    let (code, _, stderr) = report(&[path, "--expect-host", HOST]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, _) = report(&[path, "--expect-pinned", "bad/host"]);
    assert_eq!(code, Some(2));
}

/// The hosts of the `#hosts` table in DOM order.
fn row_order(dom: &str) -> Vec<String> {
    dom.split("<tr data-host=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_html_map_in_headless_chromium_sorts_on_a_click() {
    let Some(chromium) = common::browser::chromium() else {
        return;
    };
    // Two hosts with different counts: api.test refused once and read once, aaa.test
    // unreachable (a closed port).
    let h = Harness::with(common::Opts {
        args: vec![
            "--map".into(),
            "aaa.test=127.0.0.1:1".into(),
            "--only-mapped".into(),
        ],
        ..common::Opts::default()
    });
    let ca = h.ca_pem.to_str().expect("a path").to_string();
    let wrong = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    assert!(!h
        .curl(&["--cacert", &ca, "--pinnedpubkey", wrong, &h.url("/first")])
        .status
        .success());
    assert!(h
        .curl(&[
            "--cacert",
            &ca,
            "-o",
            "/dev/null",
            &h.url("/leak?token=abc")
        ])
        .status
        .success());
    assert!(!h
        .curl(&["--cacert", &ca, "https://aaa.test/"])
        .status
        .success());
    common::wait_for_records(&h.events, 3, std::time::Duration::from_secs(10));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let events = dir.path().join("events.jsonl");
    std::fs::copy(&h.events, &events).expect("copy the events file");
    writeln!(
        std::fs::OpenOptions::new()
            .append(true)
            .open(&events)
            .expect("open"),
        "<not a record>"
    )
    .expect("write");
    let html_path = dir.path().join("map.html");
    let (code, _, stderr) = report(&[
        events.to_str().expect("a path"),
        "--format",
        "html",
        "--out",
        html_path.to_str().expect("a path"),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let html = std::fs::read_to_string(&html_path).expect("the HTML file");
    for external in ["src=", "href=\"http", "<link", "@import", "url("] {
        assert!(!html.contains(external), "an external asset ({external})");
    }

    // As loaded: by host name, the summary, the leaked request, the bad line, the legend.
    let url = |p: &std::path::Path| format!("file://{}", p.display());
    let dom = common::browser::dump_dom(&chromium, h.proxy_addr, &url(&html_path));
    assert_eq!(row_order(&dom), ["aaa.test", HOST], "{dom}");
    assert!(dom.contains("2 host(s), 3 connection(s)"), "{dom}");
    assert!(dom.contains("data-pinned=\"mixed\">1 mixed"), "{dom}");
    assert!(
        dom.contains("<code>GET /leak?token=&lt;redacted&gt;</code>"),
        "{dom}"
    );
    assert!(dom.contains("events.jsonl:4</code>"), "{dom}");
    assert!(dom.contains("<dt><code>cancelled</code></dt>"), "{dom}");
    assert!(
        dom.contains("<details id=\"host-api.test\" data-host=\"api.test\" open=\"\">"),
        "the host with readable requests is open: {dom}"
    );

    // One click on "connections": most first. A second: fewest first.
    let click = |name: &str, clicks: usize| {
        let script = "document.querySelector('th[data-key=connections]').click();".repeat(clicks);
        let page = dir.path().join(name);
        std::fs::write(
            &page,
            html.replace("</body>", &format!("<script>{script}</script></body>")),
        )
        .expect("write the page");
        common::browser::dump_dom(&chromium, h.proxy_addr, &url(&page))
    };
    let once = click("once.html", 1);
    assert_eq!(row_order(&once), [HOST, "aaa.test"], "{once}");
    assert!(
        once.contains("data-key=\"connections\" data-type=\"num\" aria-sort=\"descending\""),
        "{once}"
    );
    let twice = click("twice.html", 2);
    assert_eq!(row_order(&twice), ["aaa.test", HOST], "{twice}");
    assert!(twice.contains("aria-sort=\"ascending\""), "{twice}");
}

#[test]
fn a_client_that_does_not_trust_the_ca_is_not_called_pinned() {
    let h = Harness::start();
    // curl trusts only the origin's root: it refuses the forged leaf with unknown_ca, which a
    // device without the CA installed does to every host.
    let root = h.root_pem.to_str().expect("a path").to_string();
    assert!(!h.curl(&["--cacert", &root, &h.url("/")]).status.success());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let events = dir.path().join("events.jsonl");
    common::wait_for_records(&h.events, 1, std::time::Duration::from_secs(10));
    std::fs::copy(&h.events, &events).expect("copy the events file");
    let _ = h.stop();
    let path = events.to_str().expect("a path");
    let (code, table, _) = report(&[path]);
    assert_eq!(code, Some(0));
    assert!(
        table.contains("127.0.0.1: may not trust the CA rather than pin"),
        "{table}"
    );
    assert!(table.contains("with `adb reverse`"), "{table}");
    assert!(
        table.contains(" yes? "),
        "the pinned cell carries the doubt: {table}"
    );
    let (_, json, _) = report(&[path, "--format", "json"]);
    let map: Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(map["clients"][0]["client"], "127.0.0.1");
    assert_eq!(map["clients"][0]["may_not_trust_ca"], true);
    assert_eq!(map["clients"][0]["trust_alerts"], 1);
    assert_eq!(map["hosts"][0]["ca_doubt"], true);
    // The gate still passes on the cancel, but says the doubt.
    let (code, _, stderr) = report(&[path, "--expect-pinned", HOST]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("may not trust the CA at all"), "{stderr}");
}
