//! `pin-proxy client` end to end: through the real proxy (intercept, passthrough, every profile,
//! `smuggle-chain` pinned on the verified path only)
//! against loopback origins, directly against an origin whose PKI openssl made (RSA leaves, an
//! extra certificate sent beside the chain), and its error paths. Asserts exit codes, log lines,
//! `--json` and what the proxy recorded.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::openssl::OpensslPki;
use common::{bin, only_for, Harness, Opts, HOST};
use serde_json::Value;

/// One run of the client: exit code, the `--json` object (when asked for), stderr.
struct Ran {
    code: i32,
    json: Value,
    stderr: String,
    stdout: String,
}

fn client(args: &[&str]) -> Ran {
    let out = Command::new(bin())
        .arg("client")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = out.status.code().expect("exited");
    // Usage (2) and local I/O (4) errors print one line on stderr and no result.
    let json = if args.contains(&"--json") && code != 2 && code != 4 {
        serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout}"))
    } else {
        Value::Null
    };
    Ran {
        code,
        json,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        stdout,
    }
}

/// `client` through the harness's proxy, trusting its bundle only, with `args` and `--json`.
fn via(h: &Harness, path: &str, args: &[&str]) -> Ran {
    let proxy = h.proxy_addr.to_string();
    let url = h.url(path);
    let mut all = vec![
        url.as_str(),
        "--proxy",
        proxy.as_str(),
        "--ca",
        h.bundle.to_str().unwrap(),
        "--no-system-roots",
        "--json",
    ];
    all.extend_from_slice(args);
    client(&all)
}

fn path_pins(json: &Value) -> Vec<String> {
    json["verified_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["pin"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn intercepted_the_forged_chain_is_checked_and_refused_with_close_notify() {
    let h = Harness::start();
    let current = h.pin("current");
    let ca = h.ca_pin();

    // Pinned to the origin's key: the forged leaf and the CA are the verified path, neither
    // matches, exit 10, close_notify before any request.
    let pinned = via(&h, "/pinned", &["--pin", &current]);
    assert_eq!(pinned.code, 10, "{}", pinned.stderr);
    assert_eq!(pinned.json["outcome"], "pin_mismatch");
    assert_eq!(pinned.json["exit"], 10);
    assert_eq!(pinned.json["pins_source"], "flags");
    let path = path_pins(&pinned.json);
    assert_eq!(path.len(), 2, "{}", pinned.json);
    assert_eq!(path[1], ca);
    assert_eq!(pinned.json["verified_path"][1]["source"], "trust_store");
    assert!(pinned.json["status"].is_null());
    for (i, pin) in path.iter().enumerate() {
        let line = format!(
            "pin-proxy client: pinning invalid for host {HOST} and certificate {i}'s public key hash {pin}"
        );
        assert!(pinned.stderr.contains(&line), "{line}\n{}", pinned.stderr);
    }
    assert!(pinned.stderr.contains(&format!(
        "pin-proxy client: host {HOST} expected one of 1 pin(s): {current}"
    )));
    assert!(pinned
        .stderr
        .ends_with("pin-proxy client: outcome pin_mismatch (exit 10)\n"));

    // Pinning the proxy's CA: chain mode matches it (position 1), leaf mode does not.
    let chain = via(&h, "/ca-chain", &["--pin", &format!("sha256/{ca}")]);
    assert_eq!(chain.code, 0, "{}", chain.stderr);
    assert_eq!(chain.json["matched_pin"]["position"], 1);
    assert_eq!(chain.json["status"], 200);
    let leaf = via(&h, "/ca-leaf", &["--pin", &ca, "--match", "leaf"]);
    assert_eq!(leaf.code, 10);

    // No pins: trust alone, and the request went through the proxy.
    let open = via(&h, "/open", &[]);
    assert_eq!(open.code, 0, "{}", open.stderr);
    assert_eq!(open.json["pins_source"], "none");
    assert!(open
        .stderr
        .contains("no pins configured: trust evaluation alone decides"));

    // /pinned, /ca-chain, /ca-leaf and /open.
    let (records, _) = h.stop_after(4);
    let forged_pin = records
        .iter()
        .find_map(|r| r.presented_pin.clone())
        .unwrap();
    assert_eq!(
        path[0], forged_pin,
        "the client's leaf is the one the proxy presented"
    );
    let by_path = |p: &str| {
        records
            .iter()
            .filter(|r| r.requests.iter().any(|q| q.path == p))
            .count()
    };
    let cancelled: Vec<_> = records
        .iter()
        .filter(|r| r.verdict.to_string() == "cancelled")
        .collect();
    assert_eq!(cancelled.len(), 2, "{records:#?}");
    for r in cancelled {
        assert_eq!(r.stage.to_string(), "after_handshake");
        assert_eq!(r.reason, "close_notify");
        assert_eq!(r.request_count, 0);
    }
    assert_eq!((by_path("/ca-chain"), by_path("/open")), (1, 1));
}

#[test]
fn through_smuggle_chain_the_verified_path_is_pinned_not_what_was_sent() {
    let h = Harness::with(Opts {
        args: vec!["--profile".into(), format!("{HOST}=smuggle-chain")],
        ..Opts::default()
    });
    let ca = h.ca_pin();
    let smuggled = [
        ("/leaf", h.pin("current")),
        (
            "/intermediate",
            h.pki.intermediate_pin().unwrap().to_string(),
        ),
        ("/root", h.pki.root_pin().to_string()),
    ];
    for (path, pin) in &smuggled {
        let ran = via(&h, path, &["--pin", pin]);
        assert_eq!(ran.code, 10, "{path}: {}", ran.stderr);
        assert_eq!(ran.json["outcome"], "pin_mismatch", "{path}");
        let verified = path_pins(&ran.json);
        assert_eq!(verified.len(), 2, "{path}: {}", ran.json);
        assert_eq!(verified[1], ca, "{path}: the path ends at the local CA");
        assert_eq!(ran.json["presented"].as_array().unwrap().len(), 5, "{path}");
        // The smuggled certificate is named as sent, off the path.
        assert!(
            ran.stderr.contains("sent certificate") && ran.stderr.contains(pin.as_str()),
            "{path}: {}",
            ran.stderr
        );
    }
    // Without pins, rustls's trust evaluation accepts the smuggled chain (leaf -> local CA, the
    // rest ignored): only a pin check can tell, so the profile tests pins and nothing else.
    let open = via(&h, "/unpinned", &[]);
    assert_eq!(open.code, 0, "{}", open.stderr);
    assert_eq!(open.json["status"], 200);
    let (records, _) = h.stop_after(4);
    assert_eq!(records.len(), 4);
    for r in records.iter().filter(|r| r.request_count == 0) {
        assert_eq!(r.verdict.to_string(), "cancelled", "{r:?}");
    }
    let cancelled = records
        .iter()
        .filter(|r| r.verdict.to_string() == "cancelled");
    assert_eq!(cancelled.count(), 3, "{records:?}");
}

#[test]
fn passed_through_the_origins_chain_is_the_path_and_pins_are_scoped_to_hosts() {
    let h = Harness::with(Opts {
        args: vec!["--passthrough".into(), HOST.into()],
        ..Opts::default()
    });
    let (current, next) = (h.pin("current"), h.pin("next"));
    let (int, root) = (h.pki.intermediate_pin().unwrap(), h.pki.root_pin());

    let ok = via(&h, "/status/404", &["--pin", &format!("{next},{current}")]);
    assert_eq!(
        ok.code, 0,
        "an HTTP error is still a request made: {}",
        ok.stderr
    );
    assert_eq!(ok.json["status"], 404);
    assert_eq!(ok.json["alpn"], "h2", "the origin speaks HTTP/2");
    assert_eq!(path_pins(&ok.json), [current.as_str(), int, root]);
    assert_eq!(ok.json["matched_pin"]["position"], 0);
    assert_eq!(ok.json["matched_pin"]["pin"], current.as_str());
    assert_eq!(ok.json["proxy"], h.proxy_addr.to_string());
    assert!(ok.stderr.contains(&format!(
        "pin-proxy client: pinning valid for host {HOST} and certificate 0's public key hash {current}"
    )));
    assert!(ok.stderr.contains(&format!(
        "pin-proxy client: GET https://{HOST}/status/404 -> 404 Not Found ("
    )));

    // The intermediate: chain mode matches it, leaf mode (curl's) does not.
    let chain = via(&h, "/int", &["--pin", int]);
    assert_eq!(
        (chain.code, chain.json["matched_pin"]["position"].clone()),
        (0, 1.into())
    );
    let leaf = via(&h, "/int-leaf", &["--pin", int, "--match", "leaf"]);
    assert_eq!(leaf.code, 10);
    assert_eq!(
        leaf.stderr.matches("pinning invalid").count(),
        1,
        "leaf mode checks one certificate: {}",
        leaf.stderr
    );

    // Pins scoped to another host: this host has none.
    let scoped = ["--pin", &current, "--pinned-host", "other.test"];
    let closed = via(&h, "/closed", &scoped);
    assert_eq!(closed.code, 12, "{}", closed.stderr);
    assert_eq!(closed.json["outcome"], "no_pins");
    assert!(closed.stderr.contains(&format!(
        "pin-proxy client: host {HOST} has no pins (pins are for other.test): cancelled (fail-closed)"
    )));
    let open = via(
        &h,
        "/open",
        &[&scoped[..], &["--missing-pin", "fail-open"]].concat(),
    );
    assert_eq!(open.code, 0, "{}", open.stderr);
    // Scoped to this host by a pattern: the pins apply.
    let glob = via(&h, "/glob", &["--pin", &next, "--pinned-host", "*.test"]);
    assert_eq!(glob.code, 10);

    // Method, headers and body reach the origin; the body goes to -o.
    let out = h.dir.path().join("body.txt");
    let post = via(
        &h,
        "/post",
        &[
            "-d",
            "hello",
            "-H",
            "X-Trace: 42",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(post.code, 0, "{}", post.stderr);
    let body = std::fs::read_to_string(&out).unwrap();
    assert!(
        body.contains("POST /post") && body.contains("x-trace: 42"),
        "{body}"
    );

    // Without --json the body is on stdout.
    let proxy = h.proxy_addr.to_string();
    let plain = client(&[
        &h.url("/plain"),
        "--proxy",
        &proxy,
        "--ca",
        h.bundle.to_str().unwrap(),
        "--no-system-roots",
    ]);
    assert_eq!(plain.code, 0);
    assert!(plain.stdout.contains("GET /plain"), "{}", plain.stdout);

    let requests: Vec<String> = h.origin.requests().into_iter().map(|r| r.path).collect();
    assert!(requests.contains(&"/post".to_string()));
    assert!(!requests.contains(&"/int-leaf".to_string()));
    assert!(!requests.contains(&"/closed".to_string()));
    assert!(requests.contains(&"/open".to_string()));
}

#[test]
fn every_forged_profile_fails_trust_evaluation_with_its_alert() {
    for (profile, failure, alert) in [
        ("expired", "expired", "alert:certificate_expired"),
        ("wrong-host", "wrong_name", "alert:bad_certificate"),
        ("untrusted-ca", "unknown_issuer", "alert:unknown_ca"),
        ("self-signed", "unknown_issuer", "alert:unknown_ca"),
    ] {
        let h = Harness::with(Opts {
            args: vec!["--profile".into(), format!("{HOST}={profile}")],
            ..Opts::default()
        });
        let ran = via(&h, "/", &["--pin", &h.pin("current")]);
        assert_eq!(ran.code, 11, "{profile}: {}", ran.stderr);
        assert_eq!(ran.json["outcome"], "trust_failure");
        assert_eq!(ran.json["trust_failure"], failure, "{profile}");
        assert!(ran.json["verified_path"].as_array().unwrap().is_empty());
        assert!(!ran.json["presented"].as_array().unwrap().is_empty());
        assert!(
            ran.stderr.contains(&format!(
                "pin-proxy client: trust evaluation failed for host {HOST}: "
            )),
            "{}",
            ran.stderr
        );
        assert!(ran
            .stderr
            .contains(&format!("host {HOST} sent certificate 0 ")));
        let (records, _) = h.stop_after(1);
        let r = only_for(&records, HOST);
        assert_eq!(
            (
                r.verdict.to_string(),
                r.stage.to_string(),
                r.reason.as_str()
            ),
            ("cancelled".into(), "handshake".into(), alert),
            "{profile}"
        );
    }
}

#[test]
fn an_openssl_pki_with_rsa_leaves_is_pinned_on_the_verified_path_not_on_what_was_sent() {
    let pki = OpensslPki::new();
    let (_server, port) = pki.serve();
    std::fs::write(pki.path("index.html"), "hello from openssl\n").unwrap();
    let url = format!("https://rsa.test:{port}/index.html");
    let map = format!("rsa.test:{port}=127.0.0.1:{port}");
    let root = pki.path("root.pem");
    let direct = |extra: &[&str]| {
        let mut args = vec![
            url.as_str(),
            "--map",
            &map,
            "--ca",
            root.to_str().unwrap(),
            "--no-system-roots",
            "--json",
        ];
        args.extend_from_slice(extra);
        client(&args)
    };
    let (leaf, int, root_pin, decoy) = (
        pki.pin("leaf"),
        pki.pin("int"),
        pki.pin("root"),
        pki.pin("decoy"),
    );

    let ok = direct(&["--pin", &leaf, "--match", "leaf"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(
        path_pins(&ok.json),
        [leaf.as_str(), int.as_str(), root_pin.as_str()]
    );
    assert_eq!(ok.json["verified_path"][0]["subject"], "CN=rsa.test");
    assert_eq!(
        ok.json["verified_path"][1]["subject"],
        "O=openssl test, CN=openssl test intermediate"
    );
    assert_eq!(ok.json["presented"].as_array().unwrap().len(), 3);
    assert!(
        ok.json["alpn"].is_null(),
        "openssl's server offers no ALPN: HTTP/1.1"
    );
    assert_eq!(ok.json["status"], 200);
    assert_eq!(ok.json["presented"][2]["pin"], decoy.as_str());

    // The root, pinned in chain mode, is on the path although the server never sent it.
    assert_eq!(direct(&["--pin", &root_pin]).code, 0);
    // The decoy was sent but is not on the verified path: pinning it matches nothing.
    let smuggled = direct(&["--pin", &decoy]);
    assert_eq!(smuggled.code, 10, "{}", smuggled.stderr);
    assert!(smuggled.stderr.contains(&format!(
        "pin-proxy client: host rsa.test sent certificate 2 public key hash {decoy} subject O=openssl test, CN=openssl decoy root"
    )), "{}", smuggled.stderr);
    // Trusting only the decoy: no path at all.
    let decoy_pem = pki.path("decoy.pem");
    let untrusted = client(&[
        &url,
        "--map",
        &map,
        "--ca",
        decoy_pem.to_str().unwrap(),
        "--no-system-roots",
        "--json",
    ]);
    assert_eq!(untrusted.code, 11, "{}", untrusted.stderr);
    assert_eq!(untrusted.json["trust_failure"], "unknown_issuer");

    // Through the proxy, passed through: the same path; intercepted: the proxy's forged chain.
    let h = Harness::with(Opts {
        args: vec![
            "--map".into(),
            map.clone(),
            "--passthrough".into(),
            "rsa.test".into(),
        ],
        ..Opts::default()
    });
    let proxy = h.proxy_addr.to_string();
    let through = client(&[
        &url,
        "--proxy",
        &proxy,
        "--ca",
        root.to_str().unwrap(),
        "--no-system-roots",
        "--json",
        "--pin",
        &int,
    ]);
    assert_eq!(through.code, 0, "{}", through.stderr);
    assert_eq!(
        path_pins(&through.json),
        [leaf.as_str(), int.as_str(), root_pin.as_str()]
    );
}

#[test]
fn network_failures_timeouts_and_bad_input_have_their_codes() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let authority = pin_proxy::ca::CertificateAuthority::create(
        &dir.path().join("ca"),
        Default::default(),
        false,
    )
    .unwrap();
    std::fs::write(&ca, authority.cert_pem()).unwrap();
    let ca = ca.to_str().unwrap();

    // Nothing listens on the proxy's port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let refused = client(&[
        "https://a.test/",
        "--proxy",
        &closed_addr,
        "--ca",
        ca,
        "--json",
    ]);
    assert_eq!(refused.code, 14, "{}", refused.stderr);
    assert_eq!(refused.json["outcome"], "network");
    assert!(refused.json["error"]
        .as_str()
        .unwrap()
        .starts_with(&format!("cannot connect to the proxy {closed_addr}")));

    // The proxy answers CONNECT with 502: it cannot reach the host.
    let h = Harness::with(Opts {
        map_to: Some(closed_addr.parse().unwrap()),
        ..Opts::default()
    });
    let bad_gateway = via(&h, "/", &[]);
    assert_eq!(bad_gateway.code, 14, "{}", bad_gateway.stderr);
    assert!(
        bad_gateway
            .stderr
            .contains("refused CONNECT api.test:443: 502"),
        "{}",
        bad_gateway.stderr
    );

    // A proxy that accepts and never answers: the connect timeout, then the whole-run timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let silent_run = |flag: &str, limit: &str| {
        client(&[
            "https://a.test/",
            "--proxy",
            &silent_addr,
            "--ca",
            ca,
            flag,
            limit,
            "--json",
        ])
    };
    let slow = silent_run("--connect-timeout", "300ms");
    assert_eq!(slow.code, 14);
    assert!(slow.json["error"]
        .as_str()
        .unwrap()
        .contains("took longer than 300ms (--connect-timeout)"));
    let slow = silent_run("--timeout", "200ms");
    assert_eq!(slow.code, 14);
    assert!(slow.json["error"]
        .as_str()
        .unwrap()
        .contains("timed out after 200ms (--timeout)"));
    drop(silent);

    // Usage errors: one line, exit 2, nothing run.
    let missing = dir.path().join("missing.pem");
    for (args, says) in [
        (vec!["http://a.test/", "--ca", ca], "only https:// URLs"),
        (
            vec!["https://a.test/", "--ca", ca, "--pin", "abc"],
            "--pin: \"abc\" is not a base64",
        ),
        (
            vec!["https://a.test/", "--ca", missing.to_str().unwrap()],
            "missing.pem",
        ),
        (
            vec!["https://a.test/", "--no-system-roots"],
            "leaves no trusted roots",
        ),
        (
            vec!["https://a.test/", "--ca", ca, "--proxy", "socks5://h:1"],
            "unsupported proxy scheme",
        ),
        (
            vec!["https://a.test/", "--ca", ca, "--timeout", "0s"],
            "--timeout: must be more than zero",
        ),
        (
            vec!["https://a.test/", "--ca", ca, "-H", "nocolon"],
            "--header",
        ),
    ] {
        let ran = client(&args);
        assert_eq!(ran.code, 2, "{args:?}: {}", ran.stderr);
        assert!(ran.stderr.contains(says), "{args:?}: {}", ran.stderr);
        assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    }

    // A body that cannot be written is a local I/O error (4), after the request was made.
    let h = Harness::with(Opts {
        args: vec!["--passthrough".into(), HOST.into()],
        ..Opts::default()
    });
    let ran = via(&h, "/", &["-o", dir.path().to_str().unwrap()]);
    assert_eq!(ran.code, 4, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("cannot write the response body"),
        "{}",
        ran.stderr
    );
    assert!(ran.stdout.is_empty(), "{}", ran.stdout);
}

fn suite_report(suite: &str, out: &Path) -> Vec<(String, String)> {
    let json = out.join(format!("{suite}.json"));
    let run = Command::new(bin())
        .args(["run", &format!("scenarios/{suite}.toml"), "--report-json"])
        .arg(&json)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{suite}: {}",
        String::from_utf8_lossy(&run.stdout)
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    report["suites"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["observed"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_reference_policies_agree_case_by_case_with_curl_and_the_node_recipe() {
    let out = tempfile::tempdir().unwrap();
    for (reference, peer) in [
        ("reference-leaf-fail-closed", "curl"),
        ("reference-chain-fail-open", "node"),
    ] {
        let ours = suite_report(reference, out.path());
        let theirs = suite_report(peer, out.path());
        let mut compared = 0;
        for (name, observed) in &theirs {
            if let Some((_, mine)) = ours.iter().find(|(n, _)| n == name) {
                assert_eq!(mine, observed, "{reference} vs {peer}: {name}");
                compared += 1;
            }
        }
        // Every case of the peer's matrix has its twin.
        assert!(
            compared >= 14,
            "{reference} vs {peer}: only {compared} cases in common"
        );
    }
}
