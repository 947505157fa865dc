//! Learn mode (`proxy --learn[=N]`, `--learn-file`) with real curl through the real proxy: a host
//! whose client cancelled is passed through from then on, so the "app" keeps working. Both kinds
//! of cancel teach it: after the handshake (curl `--pinnedpubkey` with the origin's real pin
//! refuses the forged leaf once the handshake is done) and during it (curl without the proxy's CA
//! sends `unknown_ca`). The threshold, the learn file across two runs (it is a `--rules` file),
//! explicit rules beating learned hosts, and bad learn-file input.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{wait_for_records, Harness, Opts, HOST};
use pin_proxy::record::{ActionKind, ConnectionRecord, Stage, VerdictKind};

fn learn_harness(args: &[&str]) -> Harness {
    Harness::with(Opts {
        args: args.iter().map(|s| s.to_string()).collect(),
        ..Opts::default()
    })
}

/// curl through the proxy, pinning the origin's real key (`current`); returns whether it got
/// the origin's answer.
fn pinned_curl(h: &Harness, trust: &Path) -> bool {
    let pin = format!("sha256//{}", h.pin("current"));
    let out = h.curl(&[
        "--cacert",
        trust.to_str().expect("a path"),
        "--pinnedpubkey",
        &pin,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &h.url("/v1/me"),
    ]);
    out.status.success() && out.stdout == b"200"
}

fn kinds(records: &[ConnectionRecord]) -> Vec<(VerdictKind, Stage, String, bool)> {
    records
        .iter()
        .map(|r| (r.verdict, r.stage, r.reason.clone(), r.learned))
        .collect()
}

#[test]
fn an_after_handshake_cancel_switches_the_host_to_passthrough() {
    let h = learn_harness(&["--learn"]);
    let bundle = h.bundle.clone();
    // The forged leaf is trusted (the bundle has the proxy CA) but not the pinned key: curl
    // completes the handshake, then refuses.
    assert!(!pinned_curl(&h, &bundle));
    let first = wait_for_records(&h.events, 1, Duration::from_secs(10));
    assert_eq!(
        (first[0].verdict, first[0].stage, first[0].learned),
        (VerdictKind::Cancelled, Stage::AfterHandshake, true),
        "{first:#?}"
    );
    // From now on the client talks to the real origin, and its pin holds.
    assert!(pinned_curl(&h, &bundle));
    assert!(pinned_curl(&h, &bundle));
    let (records, stdout) = h.stop_after(3);
    let k = kinds(&records);
    assert_eq!(
        k[1..],
        [
            (
                VerdictKind::Passthrough,
                Stage::Tunnel,
                "learned: cancelled 1 time".into(),
                false
            ),
            (
                VerdictKind::Passthrough,
                Stage::Tunnel,
                "learned: cancelled 1 time".into(),
                false
            ),
        ],
        "{records:#?}"
    );
    assert!(records[1..]
        .iter()
        .all(|r| r.action == Some(ActionKind::Passthrough) && r.presented_pin.is_none()));
    // The switch is printed (with --quiet too), and the run's learned hosts at the end.
    let notice = stdout
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                "learned {HOST}: its client cancelled 1 time (last: "
            ))
        })
        .unwrap_or_else(|| panic!("no learn notice: {stdout}"));
    assert!(
        notice.contains(" at after_handshake); its next connections are passed through"),
        "{notice}"
    );
    assert!(
        stdout.contains(&format!("learned this run (1): {HOST}")),
        "{stdout}"
    );
}

#[test]
fn a_handshake_cancel_teaches_it_too_and_the_threshold_counts() {
    let h = learn_harness(&["--learn=2"]);
    let root = h.root_pem.clone();
    // Only the origin's root: the forged leaf is refused during the handshake.
    assert!(!pinned_curl(&h, &root));
    let one = wait_for_records(&h.events, 1, Duration::from_secs(10));
    assert_eq!(
        (one[0].verdict, one[0].stage, one[0].learned),
        (VerdictKind::Cancelled, Stage::Handshake, false),
        "one cancel of two: {one:#?}"
    );
    assert!(!pinned_curl(&h, &root));
    let two = wait_for_records(&h.events, 2, Duration::from_secs(10));
    assert!(two[1].reason.starts_with("alert:"), "{two:#?}");
    assert!(two[1].learned, "{two:#?}");
    assert!(pinned_curl(&h, &root));
    let (records, stdout) = h.stop_after(3);
    assert_eq!(
        (records[2].verdict, records[2].reason.as_str()),
        (VerdictKind::Passthrough, "learned: cancelled 2 times"),
        "{records:#?}"
    );
    assert!(
        stdout.contains(&format!("learned {HOST}: its client cancelled 2 times")),
        "{stdout}"
    );
}

#[test]
fn the_learn_file_keeps_hosts_across_runs_and_explicit_rules_win() {
    let keep = tempfile::tempdir().expect("a temporary directory");
    let file = keep.path().join("learned.toml");
    let file_arg = file.to_str().expect("a path").to_string();

    // Run 1 learns the host and writes the file (created empty at start).
    let h = learn_harness(&["--learn", "--learn-file", &file_arg]);
    let start = std::fs::read_to_string(&file).expect("the learn file exists from the start");
    assert!(pin_proxy::rules::learn::parse_file("f", &start)
        .expect("parses")
        .is_empty());
    let bundle = h.bundle.clone();
    assert!(!pinned_curl(&h, &bundle));
    h.stop_after(1);
    let text = std::fs::read_to_string(&file).expect("the learn file");
    assert!(
        text.contains(&format!(
            "[[rule]]\nhosts = \"{HOST}\"\naction = \"passthrough\"\n"
        )),
        "{text}"
    );
    assert!(
        text.contains("# learned: cancelled 1 time; last "),
        "the evidence is in the comment: {text}"
    );
    // It is a rules file as it is.
    let rules = pin_proxy::rules::file::parse("learned.toml", &text).expect("a --rules file");
    assert_eq!(rules.len(), 1);

    // Run 2 passes the host through from its first connection.
    let h = learn_harness(&["--learn", "--learn-file", &file_arg]);
    let bundle = h.bundle.clone();
    assert!(pinned_curl(&h, &bundle));
    let (records, _) = h.stop_after(1);
    assert_eq!(
        (records[0].verdict, records[0].reason.as_str()),
        (VerdictKind::Passthrough, "learned: cancelled 1 time"),
        "{records:#?}"
    );

    // Run 3: an explicit glob rule matching the host beats the learned entry, and the cancel it
    // gets teaches nothing.
    let h = learn_harness(&[
        "--learn",
        "--learn-file",
        &file_arg,
        "--profile",
        "*.test=forged",
    ]);
    let bundle = h.bundle.clone();
    assert!(!pinned_curl(&h, &bundle));
    let (records, stdout) = h.stop_after(1);
    assert_eq!(
        (records[0].verdict, records[0].learned),
        (VerdictKind::Cancelled, false),
        "{records:#?}"
    );
    assert!(!stdout.contains("learned this run"), "{stdout}");
    // The file still holds its one host, unchanged.
    assert_eq!(
        std::fs::read_to_string(&file).expect("the learn file"),
        text
    );
    // Also as --rules: the host is passed through (reason `relayed`: a rule, not learning).
    let h = learn_harness(&["--rules", &file_arg]);
    let bundle = h.bundle.clone();
    assert!(pinned_curl(&h, &bundle));
    let (records, _) = h.stop_after(1);
    assert_eq!(
        (records[0].verdict, records[0].reason.as_str()),
        (VerdictKind::Passthrough, "relayed")
    );
}

#[test]
fn bad_learn_input_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let bad = dir.path().join("learned.toml");
    std::fs::write(
        &bad,
        "[[rule]]\nhosts = \"*.test\"\naction = \"passthrough\"\n",
    )
    .unwrap();
    let bad_arg = bad.to_str().expect("a path");
    let (code, stderr) = common::run_cli(
        dir.path(),
        &[
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--learn",
            "--learn-file",
            bad_arg,
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("learned.toml:2: hosts:"), "{stderr}");
    let (code, stderr) = common::run_cli(
        dir.path(),
        &["proxy", "--listen", "127.0.0.1:0", "--learn=0"],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--learn"), "{stderr}");
    let (code, stderr) = common::run_cli(
        dir.path(),
        &["proxy", "--listen", "127.0.0.1:0", "--learn-file", bad_arg],
    );
    assert_eq!(code, Some(2), "--learn-file needs --learn: {stderr}");
}
