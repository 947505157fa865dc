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
    let out = Command::new(common::bin())
        .arg("report")
        .args(args)
        .output()
        .expect("pin-proxy runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
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
    let junit = dir.path().join("junit.xml");
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
