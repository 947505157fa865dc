//! `pin-proxy logs explain --json` on logs that real clients wrote while they failed pinning
//! through a real pin-proxy: OkHttp 3.13 (Debian's libokhttp-java, in a Java program compiled
//! here), curl -v, urllib3 2.x, Node's `checkServerIdentity` recipe, `pin-proxy client` and the
//! proxy's own events file; then one mixed log of them, and input that is no log.
//!
//! Every expectation comes from outside the parser: the pins from what the proxy recorded
//! (`presented_pin`), its CA file, the test origin's PKI and the certificate a TLS client was
//! sent; the pinned pins from what the test configured; the line numbers from the captured text.
//! A test whose client is not installed says so and passes, except under `CI=true`, where
//! `.ci/run` has installed every client and a missing one fails.

mod common;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{bin, pem_pin, Harness, Opts, HOST};
use pin_proxy::record::{ConnectionRecord, VerdictKind};
use serde_json::Value;

/// A well-formed pin that no key has: a pinned spare.
const NOBODY: &str = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=";

// ---------------------------------------------------------------------------------------------
// OkHttp

#[test]
fn okhttp_certificate_pinner_refusing_the_forged_chain() {
    let Some(java) = okhttp() else { return };
    let h = Harness::start();
    let current = h.pin("current");
    let ca = pem_pin(&h.ca_pem);
    let log = java.run(&h, &h.ca_pem, &[&current, NOBODY]);
    let (records, _) = h.stop_after(1);
    let leaf = cancelled_pin(&records);
    assert!(log.contains("Certificate pinning failure!"), "{log}");

    let want = Want {
        format: "okhttp",
        line: line_of(&log, "Certificate pinning failure!"),
        host: HOST,
        port: None,
        presented: vec![leaf.clone(), ca.clone()],
        pinned: vec![current.clone(), NOBODY.to_string()],
        pin_kind: Some("spki-sha256"),
        diagnosis: "intercepted",
        count: 1,
    };
    let dir = tempfile::tempdir().unwrap();
    let failures = explain_ok(&write(dir.path(), "okhttp.log", &log));
    want.only(&failures, &log);
    // The chain names pin-proxy's CA, leaf first.
    let chain = &failures[0]["presented_chain"];
    assert_eq!(chain[0]["subject"], format!("CN={HOST}"));
    assert!(chain[1]["subject"]
        .as_str()
        .unwrap()
        .contains("CN=pin-proxy local CA"));

    // The same text through logcat (every line prefixed, as `adb logcat` prints System.err).
    let logcat: String = log
        .lines()
        .map(|l| format!("12-01 10:00:00.123  1234  5678 W System.err: {l}\n"))
        .collect();
    want.only(
        &explain_ok(&write(dir.path(), "logcat.log", &logcat)),
        &logcat,
    );

    // And with CRLF line ends (a log saved on Windows).
    let crlf = log.replace('\n', "\r\n");
    want.only(&explain_ok(&write(dir.path(), "crlf.log", &crlf)), &crlf);
}

#[test]
fn okhttp_s_chain_cleaner_is_not_fooled_by_a_smuggled_chain() {
    let Some(java) = okhttp() else { return };
    let h = Harness::with(Opts {
        args: vec!["--profile".into(), format!("{HOST}=smuggle-chain")],
        ..Opts::default()
    });
    let intermediate = h.pki.intermediate_pin().unwrap().to_string();
    // OkHttp trusts the proxy's CA and the origin's root, and pins the origin's intermediate,
    // which the proxy sends after its own CA: its CertificateChainCleaner (the CVE-2016-2402
    // fix) pins the path it cleaned, leaf -> local CA, and refuses.
    let log = java.run(&h, &h.bundle, &[&intermediate]);
    let (records, _) = h.stop_after(1);
    assert!(log.contains("Certificate pinning failure!"), "{log}");
    let r = &records[0];
    assert_eq!(r.verdict, VerdictKind::Cancelled, "{r:?}");
    assert_eq!(r.presented_chain.len(), 5, "{r:?}");
    assert!(r.presented_chain.iter().any(|c| c.pin == intermediate));
    // The chain OkHttp names is the cleaned one: the forged leaf and the local CA only.
    let dir = tempfile::tempdir().unwrap();
    let failures = explain_ok(&write(dir.path(), "okhttp.log", &log));
    assert_eq!(failures.len(), 1, "{failures:?}");
    let presented: Vec<&str> = failures[0]["presented_pins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let sent: Vec<&str> = r.presented_chain.iter().map(|c| c.pin.as_str()).collect();
    assert_eq!(presented, sent[..2], "{log}");
    assert_eq!(failures[0]["diagnosis"], "intercepted");
}

#[test]
fn okhttp_hostname_not_verified_is_a_trust_failure() {
    let Some(java) = okhttp() else { return };
    let h = Harness::with(Opts {
        args: args(&["--profile", &format!("{HOST}=wrong-host")]),
        ..Opts::default()
    });
    let current = h.pin("current");
    let log = java.run(&h, &h.ca_pem, &[&current]);
    let (records, _) = h.stop_after(1);
    assert!(
        log.contains(&format!("Hostname {HOST} not verified")),
        "{log}"
    );
    let dir = tempfile::tempdir().unwrap();
    let failures = explain_ok(&write(dir.path(), "okhttp.log", &log));
    Want {
        format: "okhttp",
        line: line_of(&log, "not verified"),
        host: HOST,
        port: None,
        presented: vec![cancelled_pin(&records)],
        pinned: vec![],
        pin_kind: Some("spki-sha256"),
        diagnosis: "trust_failure",
        count: 1,
    }
    .only(&failures, &log);
    assert_eq!(
        failures[0]["presented_chain"][0]["subject"],
        "CN=wrong-host.pin-proxy.invalid"
    );
}

#[test]
fn okhttp_against_the_origin_s_own_chain_is_a_rotated_key() {
    let Some(java) = okhttp() else { return };
    let h = Harness::with(Opts {
        args: args(&["--passthrough", HOST]),
        ..Opts::default()
    });
    let next = h.pin("next");
    let presented = origin_path(&h);
    let log = java.run(&h, &h.root_pem, &[&next]);
    let (records, _) = h.stop_after(1);
    assert_eq!(records[0].verdict, VerdictKind::Passthrough);
    let dir = tempfile::tempdir().unwrap();
    let failures = explain_ok(&write(dir.path(), "okhttp.log", &log));
    Want {
        format: "okhttp",
        line: line_of(&log, "Certificate pinning failure!"),
        host: HOST,
        port: None,
        presented,
        pinned: vec![next],
        pin_kind: Some("spki-sha256"),
        diagnosis: "key_rotated",
        count: 1,
    }
    .only(&failures, &log);
}

// ---------------------------------------------------------------------------------------------
// curl

#[test]
fn curl_pinnedpubkey_refusing_the_forged_leaf() {
    let h = Harness::start();
    let current = h.pin("current");
    // As a CI job's `set -x` shows it: the command line (with its pins), then curl's output.
    let log = curl_x(&h, &[&current, NOBODY]);
    let (records, _) = h.stop_after(1);
    assert!(log.contains("curl: (90)"), "{log}");
    // curl says it twice: `* SSL: public key does not match ...` and `curl: (90) SSL: ...`.
    assert_eq!(
        log.matches("public key does not match pinned public key")
            .count(),
        2
    );
    let dir = tempfile::tempdir().unwrap();
    let failures = explain_ok(&write(dir.path(), "curl.log", &log));
    Want {
        format: "curl",
        line: line_of(&log, "public key does not match pinned public key"),
        host: HOST,
        port: Some(443),
        presented: vec![cancelled_pin(&records)],
        pinned: vec![current.clone(), NOBODY.to_string()],
        pin_kind: Some("spki-sha256"),
        diagnosis: "intercepted",
        count: 1,
    }
    .only(&failures, &log);
    let issuer = failures[0]["presented_chain"][0]["issuer"]
        .as_str()
        .unwrap();
    assert!(issuer.contains("CN=pin-proxy local CA"), "{issuer}");

    // Without the command line the log does not say what was pinned.
    let bare: String = log
        .lines()
        .filter(|l| !l.starts_with("+ "))
        .map(|l| format!("{l}\n"))
        .collect();
    let failures = explain_ok(&write(dir.path(), "bare.log", &bare));
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert_eq!(failures[0]["pinned_pins"], Value::Array(vec![]));
    assert_eq!(failures[0]["diagnosis"], "intercepted");
}

#[test]
fn curl_against_an_untrusted_ca_is_a_trust_failure() {
    let h = Harness::with(Opts {
        args: args(&["--profile", &format!("{HOST}=untrusted-ca")]),
        ..Opts::default()
    });
    let current = h.pin("current");
    let log = curl_x(&h, &[&current]);
    h.stop_after(1);
    assert!(log.contains("curl: (60)"), "{log}");
    let dir = tempfile::tempdir().unwrap();
    let failures = explain_ok(&write(dir.path(), "curl.log", &log));
    // One failure: curl's, though the OpenSSL text it quotes is also one of Node's.
    Want {
        format: "curl",
        line: line_of(&log, "SSL certificate problem"),
        host: HOST,
        port: Some(443),
        presented: vec![],
        pinned: vec![current],
        pin_kind: None,
        diagnosis: "trust_failure",
        count: 1,
    }
    .only(&failures, &log);
}

#[test]
fn curl_against_the_origin_s_own_chain_is_a_rotated_key() {
    let h = Harness::with(Opts {
        args: args(&["--passthrough", HOST]),
        ..Opts::default()
    });
    let next = h.pin("next");
    let root = h.root_pem.clone();
    let log = curl_x_trusting(&h, &root, &[&next]);
    let current = h.pin("current");
    let intermediate = h
        .pki
        .intermediate_name()
        .expect("depth 3 has an intermediate")
        .to_string();
    h.stop_after(1);
    let dir = tempfile::tempdir().unwrap();
    let failures = explain_ok(&write(dir.path(), "curl.log", &log));
    Want {
        format: "curl",
        line: line_of(&log, "public key does not match pinned public key"),
        host: HOST,
        port: Some(443),
        presented: vec![current],
        pinned: vec![next],
        pin_kind: Some("spki-sha256"),
        diagnosis: "key_rotated",
        count: 1,
    }
    .only(&failures, &log);
    let issuer = failures[0]["presented_chain"][0]["issuer"]
        .as_str()
        .unwrap();
    assert!(issuer.contains(&intermediate), "{issuer} / {intermediate}");
}

// ---------------------------------------------------------------------------------------------
// urllib3

#[test]
fn urllib3_assert_fingerprint_refusing_the_forged_leaf() {
    if !required("python3 with urllib3 2.x", has_urllib3()) {
        return;
    }
    let h = Harness::start();
    // The pinned fingerprint as people paste it: upper case, colons (the origin root's SHA-256).
    let pinned = hex(&sha256(h.pki.root_der().as_ref()));
    let colons = pinned
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap().to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(":");
    let plain = urllib3(&h, &colons, false);
    let logged = urllib3(&h, &colons, true);
    // What the proxy sent, seen by a TLS client of our own (the leaf is cached per host).
    let leaf_der = forged_leaf_der(&h);
    // Default retries: four attempts per run, each a connection the client cancelled.
    let (records, events) = stop_with_events(h, 9);
    let leaf_pin = cancelled_pin(&records);
    assert_eq!(pin_proxy::pins::cert_pin(&leaf_der).unwrap(), leaf_pin);
    let leaf_hex = hex(&sha256(&leaf_der));

    let dir = tempfile::tempdir().unwrap();
    let mut want = Want {
        format: "urllib3",
        line: line_of(&plain, "Fingerprints did not match"),
        host: HOST,
        port: Some(443),
        presented: vec![leaf_hex],
        pinned: vec![pinned],
        pin_kind: Some("cert-sha256"),
        diagnosis: "unknown",
        count: 1,
    };
    // The traceback chain repeats the message (SSLError, then MaxRetryError with the host): one.
    assert_eq!(
        plain.matches("Fingerprints did not match").count(),
        2,
        "{plain}"
    );
    want.only(&explain_ok(&write(dir.path(), "plain.log", &plain)), &plain);

    // With logging on, each of the three retries is logged first: four attempts, one failure.
    assert_eq!(logged.matches("Retrying (").count(), 3, "{logged}");
    want.line = line_of(&logged, "Fingerprints did not match");
    want.count = 4;
    want.only(
        &explain_ok(&write(dir.path(), "logged.log", &logged)),
        &logged,
    );

    // The proxy's events file tells the same: eight cancelled connections with that leaf (and
    // the one our own client closed after its handshake).
    let cancelled: Vec<_> = records
        .iter()
        .filter(|r| r.verdict == VerdictKind::Cancelled)
        .collect();
    assert_eq!(cancelled.len(), 9, "{records:#?}");
    let failures = explain_ok(&write(dir.path(), "events.jsonl", &events));
    // One failure per way of cancelling (stage and reason), each counting its connections:
    // urllib3's eight attempts end alike (it closes the socket after the handshake), our own
    // client's close_notify is another.
    let mut counts: Vec<u64> = failures
        .iter()
        .map(|f| {
            assert_eq!(f["format"], "pin-proxy-events", "{f:#}");
            assert_eq!(f["diagnosis"], "intercepted", "{f:#}");
            assert_eq!(f["host"], HOST, "{f:#}");
            assert_eq!(strs(&f["presented_pins"]), std::slice::from_ref(&leaf_pin));
            f["count"].as_u64().unwrap()
        })
        .collect();
    counts.sort();
    assert_eq!(counts.iter().sum::<u64>(), 9, "{failures:#?}");
    assert!(counts.last() >= Some(&8), "{failures:#?}");
}

// ---------------------------------------------------------------------------------------------
// Node

#[test]
fn node_check_server_identity_recipe() {
    if !required("node", has("node", "--version")) {
        return;
    }
    // RSA keys: the recipe's sha256(cert.pubkey) is the SPKI pin only for RSA (src/logs/node.rs).
    let h = Harness::with(Opts {
        args: args(&["--key-type", "rsa2048", "--leaf-key-type", "rsa2048"]),
        ..Opts::default()
    });
    let current = h.pin("current");
    let ca = pem_pin(&h.ca_pem);
    let docs = node(&h, &current, false);
    let informational = node(&h, &current, true);
    let (records, _) = h.stop_after(2);
    let leaf = cancelled_pin(&records);
    let dir = tempfile::tempdir().unwrap();

    // The docs' recipe: the error names the CN, nothing else.
    let mut want = Want {
        format: "node",
        line: line_of(&docs, "does not match our pinned fingerprint"),
        host: HOST,
        port: None,
        presented: vec![],
        pinned: vec![],
        pin_kind: Some("spki-sha256"),
        diagnosis: "unknown",
        count: 1,
    };
    want.only(&explain_ok(&write(dir.path(), "docs.log", &docs)), &docs);

    // The recipe's informational loop printed before the check: the chain, leaf first.
    want.line = line_of(&informational, "does not match our pinned fingerprint");
    want.presented = vec![leaf, ca];
    want.diagnosis = "intercepted";
    want.only(
        &explain_ok(&write(dir.path(), "info.log", &informational)),
        &informational,
    );
}

// ---------------------------------------------------------------------------------------------
// pin-proxy client and the events file

#[test]
fn pin_proxy_client_pin_mismatch_trust_failure_and_no_pins() {
    let h = Harness::start();
    let current = h.pin("current");
    let ca = pem_pin(&h.ca_pem);
    // The pin `ca show` prints is the one computed from ca.pem.
    let show = bounded(
        Command::new(bin())
            .arg("--ca-dir")
            .arg(h.ca_pem.parent().unwrap())
            .args(["ca", "show"]),
        Duration::from_secs(10),
    );
    assert!(String::from_utf8_lossy(&show.stdout).contains(&ca));
    let ca_pem = h.ca_pem.display().to_string();
    let mismatch = client(&h, &["--ca", &ca_pem, "--pin", &current], 10);
    let untrusted = client(&h, &["--pin", &current], 11);
    let no_pins = client(
        &h,
        &[
            "--ca",
            &ca_pem,
            "--pin",
            &current,
            "--pinned-host",
            "other.example.test",
        ],
        12,
    );
    let (records, _) = h.stop_after(3);
    let leaf = records[0].presented_pin.clone().unwrap();
    assert!(records
        .iter()
        .all(|r| r.presented_pin.as_deref() == Some(&leaf)));
    let dir = tempfile::tempdir().unwrap();

    let mut want = Want {
        format: "pin-proxy-client",
        line: line_of(&mismatch, "pinning invalid"),
        host: HOST,
        port: None,
        presented: vec![leaf.clone(), ca.clone()],
        pinned: vec![current],
        pin_kind: Some("spki-sha256"),
        diagnosis: "intercepted",
        count: 1,
    };
    want.only(
        &explain_ok(&write(dir.path(), "mismatch.log", &mismatch)),
        &mismatch,
    );

    // No --ca: the system roots do not know pin-proxy's CA. The sent certificates stand in for
    // the path that was never built.
    want.line = line_of(&untrusted, "trust evaluation failed");
    want.pinned = vec![];
    want.diagnosis = "trust_failure";
    want.only(
        &explain_ok(&write(dir.path(), "untrusted.log", &untrusted)),
        &untrusted,
    );

    want.line = line_of(&no_pins, "has no pins");
    want.diagnosis = "no_pins_for_host";
    want.only(
        &explain_ok(&write(dir.path(), "no-pins.log", &no_pins)),
        &no_pins,
    );
}

#[test]
fn pin_proxy_client_against_the_origin_s_own_chain_is_a_rotated_key() {
    let h = Harness::with(Opts {
        args: args(&["--passthrough", HOST]),
        ..Opts::default()
    });
    let next = h.pin("next");
    let root = h.root_pem.display().to_string();
    let log = client(&h, &["--ca", &root, "--pin", &next], 10);
    let presented = origin_path(&h);
    h.stop_after(1);
    let dir = tempfile::tempdir().unwrap();
    Want {
        format: "pin-proxy-client",
        line: line_of(&log, "pinning invalid"),
        host: HOST,
        port: None,
        presented,
        pinned: vec![next],
        pin_kind: Some("spki-sha256"),
        diagnosis: "key_rotated",
        count: 1,
    }
    .only(&explain_ok(&write(dir.path(), "client.log", &log)), &log);
}

#[test]
fn events_file_after_a_cancelled_connection() {
    let h = Harness::start();
    let ca = pem_pin(&h.ca_pem);
    let ca_pem = h.ca_pem.display().to_string();
    // First a client that accepts the CA (proceeded), then one pinning the origin's key.
    client(&h, &["--ca", &ca_pem, "--pin", &ca, "-o", "/dev/null"], 0);
    client(&h, &["--ca", &ca_pem, "--pin", &h.pin("current")], 10);
    let dir = tempfile::tempdir().unwrap();
    let (records, text) = stop_with_events(h, 2);
    let cancelled: Vec<&ConnectionRecord> = records
        .iter()
        .filter(|r| r.verdict == VerdictKind::Cancelled)
        .collect();
    assert_eq!(cancelled.len(), 1, "{records:#?}");
    Want {
        format: "pin-proxy-events",
        line: line_of(&text, "\"verdict\":\"cancelled\""),
        host: HOST,
        port: Some(443),
        presented: vec![cancelled[0].presented_pin.clone().unwrap()],
        pinned: vec![],
        pin_kind: Some("spki-sha256"),
        diagnosis: "intercepted",
        count: 1,
    }
    .only(
        &explain_ok(&write(dir.path(), "events.jsonl", &text)),
        &text,
    );
}

// ---------------------------------------------------------------------------------------------
// A mixed log

/// A part of the mixed log, and the failure it must give (its line counted in the part).
struct Piece {
    text: String,
    want: Option<Want>,
}

impl Piece {
    fn noise(n: usize, tag: &str) -> Piece {
        let text = (0..n)
            .map(|i| {
                format!(
                    "2026-12-01T10:00:{:02}.000Z INFO {tag}: request {i} -> 200 (3 ms)\n",
                    i % 60
                )
            })
            .collect();
        Piece { text, want: None }
    }
}

#[test]
fn mixed_log_of_several_clients_with_noise_and_a_repeated_failure() {
    let h = Harness::start();
    let current = h.pin("current");
    let ca = pem_pin(&h.ca_pem);
    let ca_pem = h.ca_pem.display().to_string();
    // The forged leaf, as a TLS client of our own receives it (one connection).
    let leaf_der = forged_leaf_der(&h);
    let leaf = pin_proxy::pins::cert_pin(&leaf_der).unwrap();
    let mut connections = 1;
    let intercepted =
        |format, text: &str, needle, presented: &[&String], pinned: &[&String]| Want {
            format,
            line: line_of(text, needle),
            host: HOST,
            port: None,
            presented: presented.iter().map(|p| p.to_string()).collect(),
            pinned: pinned.iter().map(|p| p.to_string()).collect(),
            pin_kind: Some("spki-sha256"),
            diagnosis: "intercepted",
            count: 1,
        };
    let mut pieces = vec![Piece::noise(30, "app")];

    // Real output that holds trigger phrases but no failure: a curl -v that succeeds and a
    // pin-proxy client whose pin (the CA's) matches.
    pieces.push(Piece {
        text: curl_ok(&h),
        want: None,
    });
    pieces.push(Piece {
        text: client(&h, &["--ca", &ca_pem, "--pin", &ca, "-o", "/dev/null"], 0),
        want: None,
    });
    connections += 2;
    // The same pin mismatch, three runs of curl, with noise between.
    for i in 0..3 {
        pieces.push(Piece::noise(7 + i, "retry"));
        let text = curl_x(&h, &[&current]);
        let want = (i == 0).then(|| Want {
            port: Some(443),
            count: 3,
            ..intercepted(
                "curl",
                &text,
                "public key does not match pinned public key",
                &[&leaf],
                &[&current],
            )
        });
        pieces.push(Piece { text, want });
        connections += 1;
    }
    pieces.push(Piece::noise(12, "app"));
    let text = client(&h, &["--ca", &ca_pem, "--pin", &current], 10);
    let want_client = intercepted(
        "pin-proxy-client",
        &text,
        "pinning invalid",
        &[&leaf, &ca],
        &[&current],
    );
    pieces.push(Piece {
        want: Some(want_client),
        text,
    });
    connections += 1;
    if let Some(java) = okhttp() {
        pieces.push(Piece::noise(5, "app"));
        let logcat: String = java
            .run(&h, &h.ca_pem, &[&current])
            .lines()
            .map(|l| format!("12-01 10:00:00.123  1234  5678 W System.err: {l}\n"))
            .collect();
        let want_okhttp = intercepted(
            "okhttp",
            &logcat,
            "Certificate pinning failure!",
            &[&leaf, &ca],
            &[&current],
        );
        pieces.push(Piece {
            want: Some(want_okhttp),
            text: logcat,
        });
        connections += 1;
    }
    if required("python3 with urllib3 2.x", has_urllib3()) {
        pieces.push(Piece::noise(3, "app"));
        let pinned = "ab".repeat(32);
        let text = urllib3(&h, &pinned, false);
        let leaf_hex = hex(&sha256(&leaf_der));
        let want_urllib3 = Want {
            port: Some(443),
            pin_kind: Some("cert-sha256"),
            diagnosis: "unknown",
            ..intercepted(
                "urllib3",
                &text,
                "Fingerprints did not match",
                &[&leaf_hex],
                &[&pinned],
            )
        };
        pieces.push(Piece {
            want: Some(want_urllib3),
            text,
        });
        connections += 4;
    }
    if required("node", has("node", "--version")) {
        pieces.push(Piece::noise(4, "app"));
        let text = node(&h, &current, false);
        let want_node = Want {
            diagnosis: "unknown",
            ..intercepted(
                "node",
                &text,
                "does not match our pinned fingerprint",
                &[],
                &[],
            )
        };
        pieces.push(Piece {
            want: Some(want_node),
            text,
        });
        connections += 1;
    }
    pieces.push(Piece::noise(20, "app"));
    let (records, _) = h.stop_after(connections);
    assert_eq!(cancelled_pin(&records), leaf);

    let mut log = String::new();
    let mut wants = Vec::new();
    for piece in pieces {
        let offset = log.lines().count() as u64;
        if let Some(mut want) = piece.want {
            want.line += offset;
            wants.push(want);
        }
        log.push_str(&piece.text);
    }
    let dir = tempfile::tempdir().unwrap();
    let failures = explain_ok(&write(dir.path(), "mixed.log", &log));
    assert_eq!(
        failures.len(),
        wants.len(),
        "{}\n{failures:#?}",
        numbered(&log)
    );
    for (want, got) in wants.iter().zip(&failures) {
        want.check(got, &log);
    }
}

// ---------------------------------------------------------------------------------------------
// Input that is no log

#[test]
fn binary_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Pseudo-random bytes (xorshift), a NUL among them.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8 | 1
        })
        .collect();
    bytes[1000] = 0;
    let path = dir.path().join("random.bin");
    std::fs::write(&path, &bytes).unwrap();
    let out = explain(&path);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("binary or non-text input"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

#[test]
fn a_long_log_without_failures_says_how_many_lines_it_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = String::new();
    for i in 0..50_000 {
        // Lines that hold trigger phrases of several parsers, none a failure.
        let line = match i % 1000 {
            0 => "* Connected to api.test (127.0.0.1) port 443 (#0)".to_string(),
            1 => "*  subject: CN=api.test".to_string(),
            2 => "Traceback (most recent call last):".to_string(),
            3 => "ValueError: not a pinning failure".to_string(),
            4 => format!("{{\"schema\":1,\"id\":{i},\"verdict\":\"proceeded\"}}"),
            6 => "{\"job\":\"deploy\",\"verdict\":\"cancelled\"}".to_string(),
            5 => "pin-proxy client: outcome ok (exit 0)".to_string(),
            _ => format!("2026-12-01T10:00:00.000Z INFO request {i} -> 200 (3 ms)"),
        };
        log.push_str(&line);
        log.push('\n');
    }
    let path = write(dir.path(), "quiet.log", &log);
    let out = explain(&path);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("no pinning failure found in 50000 lines"),
        "{}",
        out.stderr
    );
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["failures"], Value::Array(vec![]));
}

#[test]
fn a_missing_file_and_an_unreadable_one() {
    let dir = tempfile::tempdir().unwrap();
    // A file that does not exist is the user's input being wrong (exit 2, the README's table).
    let out = explain(&dir.path().join("nope.log"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("cannot open the log"), "{}", out.stderr);
    // One that cannot be read (a directory) is an I/O error: exit 4.
    let out = explain(dir.path());
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("cannot read the log"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------------------------
// What a failure must be

struct Want {
    format: &'static str,
    line: u64,
    host: &'static str,
    port: Option<u16>,
    presented: Vec<String>,
    pinned: Vec<String>,
    pin_kind: Option<&'static str>,
    diagnosis: &'static str,
    count: u64,
}

impl Want {
    /// `failures` is this one failure.
    fn only(&self, failures: &[Value], log: &str) {
        assert_eq!(failures.len(), 1, "{}\n{failures:#?}", numbered(log));
        self.check(&failures[0], log);
    }

    fn check(&self, f: &Value, log: &str) {
        let ctx = || format!("{}\n{f:#}", numbered(log));
        assert_eq!(f["format"], self.format, "{}", ctx());
        assert_eq!(f["line"], self.line, "{}", ctx());
        assert_eq!(f["host"], self.host, "{}", ctx());
        assert_eq!(f["port"].as_u64(), self.port.map(u64::from), "{}", ctx());
        assert_eq!(strs(&f["presented_pins"]), self.presented, "{}", ctx());
        assert_eq!(strs(&f["pinned_pins"]), self.pinned, "{}", ctx());
        assert_eq!(f["pin_kind"].as_str(), self.pin_kind, "{}", ctx());
        assert_eq!(f["diagnosis"], self.diagnosis, "{}", ctx());
        assert_eq!(f["count"], self.count, "{}", ctx());
        assert!(
            !f["explanation"].as_str().unwrap_or("").is_empty(),
            "{}",
            ctx()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Running things, each within a bound

/// Whether a test's client is there; a missing one is a skip, or a failure under `CI=true`.
fn required(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("not installed: {what}; under CI=true that is a failure (.ci/run installs it)");
    }
    eprintln!("skipped: not installed: {what} (.ci/run installs it)");
    false
}

/// `cmd arg` starts and exits 0.
fn has(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Python 3 with urllib3 2.x (whose `assert_fingerprint` message the parser was tested on).
fn has_urllib3() -> bool {
    Command::new("python3")
        .args([
            "-c",
            "import sys, urllib3; sys.exit(urllib3.__version__.split('.')[0] != '2')",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `cmd` to its end, at most `within`; a command still running then is killed and fails
/// the test.
fn bounded(cmd: &mut Command, within: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_thread = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still running after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out_thread.join().unwrap(),
        stderr: err_thread.join().unwrap(),
    }
}

struct Explained {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `pin-proxy logs explain FILE --json`.
fn explain(path: &Path) -> Explained {
    let out = bounded(
        Command::new(bin())
            .args(["logs", "explain"])
            .arg(path)
            .arg("--json"),
        Duration::from_secs(30),
    );
    Explained {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The failures of a log that has some (exit 0).
fn explain_ok(path: &Path) -> Vec<Value> {
    let out = explain(path);
    let log = std::fs::read_to_string(path).unwrap_or_default();
    assert_eq!(out.code, 0, "{}\n{}", out.stderr, numbered(&log));
    let json: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.stdout));
    json["failures"].as_array().unwrap().clone()
}

/// The Java program, compiled once per test run; `None` (after [`required`]) without a JDK or
/// Debian's OkHttp jars.
fn okhttp() -> Option<&'static Java> {
    static JAVA: OnceLock<Option<Java>> = OnceLock::new();
    JAVA.get_or_init(|| {
        let jars = ["okhttp.jar", "okio.jar"].map(|j| Path::new("/usr/share/java").join(j));
        let present =
            has("java", "-version") && has("javac", "-version") && jars.iter().all(|j| j.exists());
        if !required(
            "java, javac and libokhttp-java (/usr/share/java/okhttp.jar, okio.jar)",
            present,
        ) {
            return None;
        }
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("logs-okhttp");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Pin.java"), PIN_JAVA).unwrap();
        let classpath = format!(
            "{}:{}:{}",
            jars[0].display(),
            jars[1].display(),
            dir.display()
        );
        let out = bounded(
            Command::new("javac")
                .arg("-cp")
                .arg(&classpath)
                .arg("-d")
                .arg(&dir)
                .arg(dir.join("Pin.java")),
            Duration::from_secs(120),
        );
        assert!(
            out.status.success(),
            "javac: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Java { classpath })
    })
    .as_ref()
}

struct Java {
    classpath: String,
}

impl Java {
    /// OkHttp through the harness's proxy, trusting `trust`, pinning HOST to `pins`: it exits 1,
    /// and this is its stderr.
    fn run(&self, h: &Harness, trust: &Path, pins: &[&str]) -> String {
        let out = bounded(
            Command::new("java")
                .arg("-cp")
                .arg(&self.classpath)
                .arg("Pin")
                .arg(h.proxy_addr.ip().to_string())
                .arg(h.proxy_addr.port().to_string())
                .arg(trust)
                .arg(h.url("/"))
                .arg(HOST)
                .args(pins),
            Duration::from_secs(60),
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        stderr
    }
}

/// OkHttp 3.13 with `CertificatePinner`, through an HTTP proxy, trusting only the PEM file's
/// certificates; the exception as `printStackTrace` prints it.
const PIN_JAVA: &str = r#"import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import okhttp3.CertificatePinner;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.Response;

/** Usage: Pin PROXY_HOST PROXY_PORT TRUST.pem URL PINNED_HOST PIN... */
public class Pin {
  public static void main(String[] args) throws Exception {
    KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
    store.load(null, null);
    CertificateFactory factory = CertificateFactory.getInstance("X.509");
    try (InputStream in = new FileInputStream(args[2])) {
      int i = 0;
      for (Certificate c : factory.generateCertificates(in)) {
        store.setCertificateEntry("ca" + i++, c);
      }
    }
    TrustManagerFactory tmf =
        TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(store);
    X509TrustManager trust = (X509TrustManager) tmf.getTrustManagers()[0];
    SSLContext tls = SSLContext.getInstance("TLS");
    tls.init(null, new TrustManager[] {trust}, null);
    CertificatePinner.Builder pins = new CertificatePinner.Builder();
    for (int i = 5; i < args.length; i++) {
      pins.add(args[4], "sha256/" + args[i]);
    }
    InetSocketAddress proxy = new InetSocketAddress(args[0], Integer.parseInt(args[1]));
    OkHttpClient client = new OkHttpClient.Builder()
        .proxy(new Proxy(Proxy.Type.HTTP, proxy))
        .sslSocketFactory(tls.getSocketFactory(), trust)
        .certificatePinner(pins.build())
        .connectTimeout(10, TimeUnit.SECONDS)
        .readTimeout(10, TimeUnit.SECONDS)
        .callTimeout(20, TimeUnit.SECONDS)
        .retryOnConnectionFailure(false)
        .build();
    try (Response response = client.newCall(new Request.Builder().url(args[3]).build()).execute()) {
      System.out.println("status " + response.code());
    } catch (IOException e) {
      e.printStackTrace();
      System.exit(1);
    }
  }
}
"#;

/// curl -v through the proxy trusting pin-proxy's CA, pinning `pins`, run by `bash -x` as a CI
/// job's shell shows it; stderr (the command line, then curl's verbose output).
fn curl_x(h: &Harness, pins: &[&str]) -> String {
    curl_x_trusting(h, &h.ca_pem, pins)
}

fn curl_x_trusting(h: &Harness, trust: &Path, pins: &[&str]) -> String {
    let pinned = pins
        .iter()
        .map(|p| format!("sha256//{p}"))
        .collect::<Vec<_>>()
        .join(";");
    let script = format!(
        "curl -v -sS --max-time 10 --noproxy '' --proxy http://{} --cacert '{}' --pinnedpubkey '{pinned}' {} -o /dev/null",
        h.proxy_addr,
        trust.display(),
        h.url("/")
    );
    let out = bounded(
        Command::new("bash").arg("-xc").arg(script),
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    stderr
}

/// A curl -v through the proxy that succeeds (no pin).
fn curl_ok(h: &Harness) -> String {
    let out = h.curl(&[
        "-v",
        "--cacert",
        h.ca_pem.to_str().unwrap(),
        "-o",
        "/dev/null",
        &h.url("/"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

/// urllib3's `ProxyManager` through the proxy, trusting pin-proxy's CA, with
/// `assert_fingerprint` and the default retries; the traceback (stderr).
fn urllib3(h: &Harness, fingerprint: &str, logging: bool) -> String {
    let script = r#"
import sys
import urllib3
if sys.argv[5] == "log":
    import logging
    logging.basicConfig()
proxy, ca, url, fingerprint = sys.argv[1:5]
http = urllib3.ProxyManager(proxy, ca_certs=ca, assert_fingerprint=fingerprint, timeout=10.0)
http.request("GET", url)
"#;
    let out = bounded(
        Command::new("python3")
            .args(["-c", script])
            .arg(format!("http://{}", h.proxy_addr))
            .arg(&h.ca_pem)
            .arg(h.url("/"))
            .arg(fingerprint)
            .arg(if logging { "log" } else { "quiet" }),
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    stderr
}

/// Node's `checkServerIdentity` recipe (the https docs) over a CONNECT tunnel through the proxy,
/// trusting pin-proxy's CA, pinning `pin`; stdout and stderr as a terminal shows them.
fn node(h: &Harness, pin: &str, informational: bool) -> String {
    let script = r#"
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const tls = require('node:tls');
const [proxyHost, proxyPort, caFile, host, pin, informational] = process.argv.slice(1);
function sha256(s) {
  return crypto.createHash('sha256').update(s).digest('base64');
}
setTimeout(() => { console.error('timed out'); process.exit(3); }, 15000).unref();
const sock = net.connect(Number(proxyPort), proxyHost, () => {
  sock.write(`CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\n\r\n`);
});
let head = '';
sock.on('data', function onData(chunk) {
  head += chunk.toString('latin1');
  if (!head.includes('\r\n\r\n')) return;
  sock.removeListener('data', onData);
  if (!head.startsWith('HTTP/1.1 200')) { console.error('CONNECT answered ' + head); process.exit(2); }
  const conn = tls.connect({
    socket: sock,
    servername: host,
    ca: fs.readFileSync(caFile),
    checkServerIdentity: function(host, cert) {
      const err = tls.checkServerIdentity(host, cert);
      if (err) return err;
      if (informational === 'yes') {
        let c = cert, last;
        do {
          console.log('Subject Common Name:', c.subject.CN);
          console.log('  Certificate SHA256 fingerprint:', c.fingerprint256);
          console.log('  Public key ping-sha256:', sha256(c.pubkey));
          last = c.fingerprint256;
          c = c.issuerCertificate;
        } while (c && c.fingerprint256 !== last);
      }
      if (sha256(cert.pubkey) !== pin) {
        const msg = 'Certificate verification error: ' +
          `The public key of '${cert.subject.CN}' ` +
          'does not match our pinned fingerprint';
        return new Error(msg);
      }
    },
  });
  conn.on('secureConnect', () => { console.log('connected'); conn.end(); });
  conn.on('error', (err) => { console.error(err); process.exitCode = 1; sock.destroy(); });
});
sock.on('error', (err) => { console.error(err); process.exit(1); });
"#;
    let out = bounded(
        Command::new("sh")
            .arg("-c")
            .arg("exec node -e \"$0\" \"$@\" 2>&1")
            .arg(script)
            .arg(h.proxy_addr.ip().to_string())
            .arg(h.proxy_addr.port().to_string())
            .arg(&h.ca_pem)
            .arg(HOST)
            .arg(pin)
            .arg(if informational { "yes" } else { "no" }),
        Duration::from_secs(30),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    text
}

/// `pin-proxy client URL --proxy ADDR --no-system-roots? ...` through the harness; its stderr
/// (the log lines), after checking its exit code.
fn client(h: &Harness, args: &[&str], code: i32) -> String {
    let out = bounded(
        Command::new(bin())
            .arg("client")
            .arg(h.url("/"))
            .arg("--proxy")
            .arg(format!("http://{}", h.proxy_addr))
            .args(args),
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    stderr
}

// ---------------------------------------------------------------------------------------------
// Pins and certificates, from outside the parser

/// Waits for `n` records, stops the proxy, and returns the records with the events file's text
/// (the file goes with the harness).
fn stop_with_events(h: Harness, n: usize) -> (Vec<ConnectionRecord>, String) {
    common::wait_for_records(&h.events, n, Duration::from_secs(10));
    let text = std::fs::read_to_string(&h.events).unwrap();
    let (records, _) = h.stop();
    (records, text)
}

/// The one forged leaf pin the proxy presented to the cancelled connections for HOST.
fn cancelled_pin(records: &[ConnectionRecord]) -> String {
    let pins: Vec<&str> = records
        .iter()
        .filter(|r| r.host.as_deref() == Some(HOST) && r.verdict == VerdictKind::Cancelled)
        .filter_map(|r| r.presented_pin.as_deref())
        .collect();
    assert!(!pins.is_empty(), "no cancelled connection: {records:#?}");
    assert!(pins.iter().all(|p| *p == pins[0]), "{records:#?}");
    pins[0].to_string()
}

/// The test origin's chain as a client that trusts its root builds it: leaf, intermediate, root.
fn origin_path(h: &Harness) -> Vec<String> {
    vec![
        h.pin("current"),
        h.pki
            .intermediate_pin()
            .expect("depth 3 has an intermediate")
            .to_string(),
        h.pki.root_pin().to_string(),
    ]
}

/// The leaf the proxy presents for HOST, as a rustls client trusting its CA receives it.
fn forged_leaf_der(h: &Harness) -> Vec<u8> {
    let tcp = common::connect_tunnel(h.proxy_addr, &format!("{HOST}:443"));
    let mut tls = common::rustls_handshake(common::rustls_client(&[&h.ca_pem]), HOST, tcp);
    let leaf = tls.conn.peer_certificates().unwrap()[0].as_ref().to_vec();
    tls.conn.send_close_notify();
    let _ = tls.conn.complete_io(&mut tls.sock);
    leaf
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The 1-based number of the first line holding `needle`.
fn line_of(text: &str, needle: &str) -> u64 {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line holds {needle:?}:\n{text}")) as u64
        + 1
}

/// The log with line numbers, for a failing assertion's message.
fn numbered(log: &str) -> String {
    log.lines()
        .enumerate()
        .map(|(i, l)| format!("{:>5} {l}\n", i + 1))
        .collect()
}
