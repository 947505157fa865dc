//! The CA install page in a real browser: headless Chromium loads `http://pin-proxy.invalid/`
//! through the real proxy binary (run with `--only-mapped`, so the browser reaches nothing but
//! the proxy itself), and the rendered DOM is checked against `pin-proxy ca show`; each download
//! is fetched through the proxy and checked byte for byte, the configuration profile with
//! Python's `plistlib`. Skips when `chromium` is missing, except under `CI=true`.

#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use common::{bin, browser, Harness, Opts};
use pin_proxy::record::{ActionKind, VerdictKind};

const PAGE: &str = "http://pin-proxy.invalid/";

#[test]
fn chromium_renders_the_install_page_and_every_download_is_the_ca() {
    let Some(chromium) = browser::chromium() else {
        return;
    };
    let mut h = Harness::with(Opts {
        args: vec!["--only-mapped".into()],
        ..Opts::default()
    });
    let banner = h.capture_stderr();
    let (pin, fingerprint) = ca_show(&h.dir.path().join("ca"));

    let dom = browser::dump_dom(&chromium, h.proxy_addr, PAGE);
    assert!(dom.contains("<title>pin-proxy CA</title>"), "{dom}");
    for (href, name) in [
        ("/ca.mobileconfig", "pin-proxy-ca.mobileconfig"),
        ("/ca.crt", "pin-proxy-ca.crt"),
        ("/ca.pem", "pin-proxy-ca.pem"),
    ] {
        assert!(
            dom.contains(&format!("href=\"{href}\">{name}</a>")),
            "{href}: {dom}"
        );
    }
    assert!(
        dom.contains(&format!("<code id=\"pin\">{pin}</code>")),
        "{pin}: {dom}"
    );
    assert!(
        dom.contains(&format!("<code id=\"fingerprint\">{fingerprint}</code>")),
        "{fingerprint}: {dom}"
    );
    // The snippet is text (escaped in the DOM's serialisation), not markup the browser ate.
    let snippet = "&lt;debug-overrides&gt;\n        &lt;trust-anchors&gt;\n            \
                   &lt;certificates src=\"user\"/&gt;\n        &lt;/trust-anchors&gt;\n    \
                   &lt;/debug-overrides&gt;";
    assert!(dom.contains(snippet), "{dom}");
    for step in [
        "Settings &gt; General &gt; About &gt; Certificate Trust Settings",
        "Install a certificate &gt; CA certificate",
        "10.0.2.2",
        "pin-proxy device android setup --system",
    ] {
        assert!(dom.contains(step), "{step}");
    }

    let ca_pem = std::fs::read(&h.ca_pem).unwrap();
    let ca_der = pin_proxy::pins::pem_certs(&ca_pem).unwrap().remove(0);
    let (headers, pem) = download(&h, "/ca.pem");
    assert_download(&headers, "application/x-pem-file", "pin-proxy-ca.pem");
    assert_eq!(pem, ca_pem);
    let (headers, der) = download(&h, "/ca.crt");
    assert_download(&headers, "application/x-x509-ca-cert", "pin-proxy-ca.crt");
    assert_eq!(der, ca_der.as_ref());
    let (headers, profile) = download(&h, "/ca.mobileconfig");
    assert_download(
        &headers,
        "application/x-apple-aspen-config",
        "pin-proxy-ca.mobileconfig",
    );
    let plist = parse_plist(&h.dir.path().join("profile.mobileconfig"), &profile);
    assert_eq!(plist["type"], "Configuration", "{plist}");
    assert_eq!(plist["version"], 1, "{plist}");
    let inner = plist["inner"].as_array().unwrap();
    assert_eq!(inner.len(), 1, "{plist}");
    assert_eq!(inner[0]["type"], "com.apple.security.root", "{plist}");
    assert_eq!(
        inner[0]["der"].as_str().unwrap(),
        base64::engine::general_purpose::STANDARD.encode(&ca_der),
        "the profile holds exactly the CA's DER"
    );
    assert_ne!(plist["uuid"], inner[0]["uuid"]);
    // The same CA gives the same identifiers.
    let (_, again) = download(&h, "/ca.mobileconfig");
    assert_eq!(again, profile);

    let (records, _) = h.stop();
    let stderr = banner.finish();
    assert!(stderr.contains(&pin), "the banner prints the pin: {stderr}");
    assert!(
        stderr.contains(&fingerprint),
        "the banner prints the fingerprint: {stderr}"
    );
    // Chromium reached nothing but the proxy: no record has an origin address.
    assert!(records.iter().all(|r| r.upstream.is_none()), "{records:#?}");
    assert!(
        records
            .iter()
            .any(|r| r.reason == "served the CA install page"),
        "{records:#?}"
    );
    // Whatever else Chromium tried (its update and account services, even with the
    // background-networking flags) was refused unresolved, and a
    // plain request is recorded as today: readable, answered 502; a preconnect it never used is a
    // connection without a request.
    for r in records
        .iter()
        .filter(|r| r.host.as_deref() != Some("pin-proxy.invalid"))
    {
        match &r.host {
            // Plain HTTP is recorded as today: a readable request, answered 502 by the proxy.
            Some(host) if r.action == Some(ActionKind::Http) => {
                assert!(r.requests.iter().all(|q| q.status == Some(502)), "{r:?}");
                eprintln!("chromium also sent plain HTTP to {host}: answered 502, not mapped");
            }
            Some(host) => {
                assert_eq!(r.verdict, VerdictKind::UpstreamFailed, "{r:?}");
                assert_eq!(r.reason, "not mapped", "{r:?}");
                eprintln!("chromium also asked for {host}: upstream_failed, not mapped");
            }
            None => assert_eq!(r.verdict, VerdictKind::Undecided, "{r:?}"),
        }
    }
}

/// The pin and the fingerprint `pin-proxy ca show` prints.
fn ca_show(ca_dir: &Path) -> (String, String) {
    let out = Command::new(bin())
        .arg("--ca-dir")
        .arg(ca_dir)
        .args(["ca", "show"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let field = |label: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(label))
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or_else(|| panic!("no {label} in {text}"))
            .to_string()
    };
    (field("spki pin:"), field("fingerprint:"))
}

/// GETs `path` on the install page through the proxy: (response head, body).
fn download(h: &Harness, path: &str) -> (String, Vec<u8>) {
    let body = h.dir.path().join("download");
    let out = h.curl(&[
        "-D",
        "-",
        "-o",
        &body.display().to_string(),
        &format!("http://pin-proxy.invalid{path}"),
    ]);
    assert!(out.status.success(), "{path}: {out:?}");
    (
        String::from_utf8_lossy(&out.stdout).to_ascii_lowercase(),
        std::fs::read(&body).unwrap(),
    )
}

fn assert_download(head: &str, content_type: &str, name: &str) {
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("content-type: {content_type}\r\n")),
        "{head}"
    );
    assert!(
        head.contains(&format!(
            "content-disposition: attachment; filename=\"{name}\"\r\n"
        )),
        "{head}"
    );
}

/// Parses a configuration profile with Python's `plistlib` and returns what the test checks.
fn parse_plist(path: &Path, bytes: &[u8]) -> serde_json::Value {
    const SCRIPT: &str = r#"
import base64, json, plistlib, sys
with open(sys.argv[1], "rb") as f:
    p = plistlib.load(f)
print(json.dumps({
    "type": p["PayloadType"], "version": p["PayloadVersion"], "uuid": p["PayloadUUID"],
    "id": p["PayloadIdentifier"], "name": p["PayloadDisplayName"],
    "inner": [{"type": x["PayloadType"], "uuid": x["PayloadUUID"],
               "version": x["PayloadVersion"], "id": x["PayloadIdentifier"],
               "der": base64.b64encode(x["PayloadContent"]).decode()}
              for x in p["PayloadContent"]],
}))
"#;
    std::fs::write(path, bytes).unwrap();
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(path)
        .output()
        .expect("python3 is installed");
    assert!(
        out.status.success(),
        "plistlib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
