//! `pin-proxy pins show|check|backup` end to end: chains made by openssl and by pin-proxy, live
//! hosts (openssl s_server, a test origin, the intercepting proxy), every output format parsed
//! back by a real parser (Python's XML and plist parsers, serde, real curl using the value),
//! every key type and encoding against the pin the openssl pipeline computes, and bad input.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use common::openssl::OpensslPki;
use common::{bin, Harness, HOST};
use serde_json::Value;

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

fn pins_in(args: &[&str], stdin: &[u8]) -> Ran {
    let mut child = Command::new(bin())
        .arg("pins")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    Ran {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn pins(args: &[&str]) -> Ran {
    pins_in(args, b"")
}

fn ok(args: &[&str]) -> Ran {
    let ran = pins(args);
    assert_eq!(ran.code, 0, "pins {args:?}: {}", ran.stderr);
    ran
}

fn json(args: &[&str]) -> Value {
    let ran = ok(args);
    serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {}", ran.stdout))
}

fn sh(dir: &Path, cmd: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", cmd])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The pin of a key file as the openssl pipeline computes it (any private or public key form
/// `openssl pkey` reads).
fn openssl_key_pin(dir: &Path, file: &str, pubin: bool) -> String {
    let pubin = if pubin { "-pubin" } else { "" };
    sh(
        dir,
        &format!(
            "openssl pkey {pubin} -in {file} -pubout -outform der | openssl dgst -sha256 -binary | base64"
        ),
    )
}

/// Runs a Python script on `input` (stdin) and returns its stdout parsed as JSON: the real XML
/// and plist parsers read the configs back.
fn python(script: &str, input: &str) -> Value {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python: {}\n{input}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_format_of_an_openssl_chain_parses_back_to_the_pins_openssl_computes() {
    let pki = OpensslPki::new();
    let d = pki.dir.path();
    sh(d, "cat leaf.pem int.pem root.pem > chain.pem");
    let expected = [pki.pin("leaf"), pki.pin("int"), pki.pin("root")];
    let chain = pki.path("chain.pem");
    let chain = chain.to_str().unwrap();

    // A backup key: its pin as openssl computes it.
    let backup = pki.path("backup.pem");
    let made = ok(&["backup", "--out", backup.to_str().unwrap()]);
    let backup_pin = openssl_key_pin(d, "backup.pem", false);
    assert!(
        made.stdout.contains(&format!("sha256//{backup_pin}")),
        "{}",
        made.stdout
    );
    let with_backup = ["--backup", backup.to_str().unwrap()];

    // JSON: pins, subjects, whole-certificate digests, key types.
    let shown = json(&["show", chain, "--format", "json"]);
    assert_eq!(shown["schema"], 1);
    assert_eq!(shown["host"], "rsa.test");
    assert_eq!(shown["inputs"][0]["summary"], "PEM, 3 certificates");
    let items = shown["items"].as_array().unwrap();
    let got: Vec<&str> = items.iter().map(|i| i["pin"].as_str().unwrap()).collect();
    assert_eq!(got, expected);
    assert_eq!(items[0]["cert"]["subject"], "CN=rsa.test");
    assert_eq!(items[0]["cert"]["is_ca"], false);
    assert_eq!(items[1]["cert"]["is_ca"], true);
    assert_eq!(
        items[2]["line"],
        sh(d, "cat leaf.pem int.pem | wc -l")
            .parse::<u64>()
            .unwrap()
            + 1
    );
    assert!(items.iter().all(|i| i["key_type"] == "RSA 2048"));
    let hex = sh(
        d,
        "openssl x509 -in leaf.pem -outform der | openssl dgst -sha256 -hex",
    );
    assert!(
        hex.ends_with(items[0]["cert"]["sha256_hex"].as_str().unwrap()),
        "{hex}"
    );
    let b64 = sh(
        d,
        "openssl x509 -in leaf.pem -outform der | openssl dgst -sha256 -binary | base64",
    );
    assert_eq!(items[0]["cert"]["sha256_base64"], b64.as_str());

    // The table: every certificate, and with --hash cert the whole-certificate digests.
    let table = ok(&["show", chain, "--hash", "cert"]).stdout;
    assert!(
        table.starts_with(&format!("{chain}: PEM, 3 certificates\n")),
        "{table}"
    );
    for (i, pin) in expected.iter().enumerate() {
        assert!(table.contains(&format!("[{i}] certificate")), "{table}");
        assert!(
            table.contains(&format!("    pin         {pin}\n")),
            "{table}"
        );
    }
    assert!(table.contains(&format!("    cert sha256 {b64}\n")));

    let all: Vec<String> = expected
        .iter()
        .cloned()
        .chain([backup_pin.clone()])
        .collect();

    // OkHttp: the .add lines.
    let kotlin = ok(&[&["show", chain, "--format", "okhttp"][..], &with_backup].concat()).stdout;
    let added: Vec<String> = kotlin
        .lines()
        .filter_map(|l| l.trim().strip_prefix(".add(\"rsa.test\", \"sha256/"))
        .map(|l| l.split('"').next().unwrap().to_string())
        .collect();
    assert_eq!(added, all, "{kotlin}");
    assert!(
        kotlin.contains("CertificatePinner.Builder()") && kotlin.trim_end().ends_with(".build()")
    );

    // curl: one value.
    let curl = ok(&[&["show", chain, "--format", "curl"][..], &with_backup].concat());
    let value: Vec<String> = curl
        .stdout
        .trim()
        .split(';')
        .map(|p| p.strip_prefix("sha256//").unwrap().to_string())
        .collect();
    assert_eq!(value, all);
    assert!(
        curl.stderr.contains("matches the leaf's key only"),
        "{}",
        curl.stderr
    );

    // Android: a whole network_security_config.xml, read by an XML parser.
    let nsc = ok(&[
        &["show", chain, "--format", "android-nsc"][..],
        &with_backup,
    ]
    .concat())
    .stdout;
    let parsed = python(
        "import sys, json, xml.etree.ElementTree as E\n\
         r = E.fromstring(sys.stdin.read())\n\
         d = r.find('domain-config')\n\
         s = d.find('pin-set')\n\
         print(json.dumps({'root': r.tag, 'domain': d.find('domain').text,\n\
           'sub': d.find('domain').get('includeSubdomains'), 'exp': s.get('expiration'),\n\
           'digests': [p.get('digest') for p in s.findall('pin')],\n\
           'pins': [p.text for p in s.findall('pin')]}))",
        &nsc,
    );
    assert_eq!(parsed["root"], "network-security-config");
    assert_eq!(parsed["domain"], "rsa.test");
    assert_eq!(parsed["sub"], "false");
    assert_eq!(strings(&parsed["pins"]), all);
    assert!(strings(&parsed["digests"]).iter().all(|d| d == "SHA-256"));
    let earliest = items
        .iter()
        .map(|i| i["cert"]["not_after"].as_str().unwrap()[..10].to_string())
        .min()
        .unwrap();
    assert_eq!(parsed["exp"], earliest.as_str());
    let later = ok(&[
        "show",
        chain,
        "--format",
        "android-nsc",
        "--expiration",
        "2031-02-03",
    ])
    .stdout;
    assert!(later.contains("<pin-set expiration=\"2031-02-03\">"));
    let none = ok(&[
        "show",
        chain,
        "--format",
        "android-nsc",
        "--expiration",
        "none",
    ])
    .stdout;
    assert!(none.contains("<pin-set>\n"));

    // iOS: NSPinnedDomains, read by plistlib; leaf identities by default, CA ones on request.
    let read_ios = "import sys, json, plistlib\n\
         p = plistlib.loads(sys.stdin.buffer.read())\n\
         d = p['NSAppTransportSecurity']['NSPinnedDomains']['rsa.test']\n\
         ids = lambda k: [e['SPKI-SHA256-BASE64'] for e in d.get(k, [])]\n\
         print(json.dumps({'sub': d['NSIncludesSubdomains'], 'leaf': ids('NSPinnedLeafIdentities'),\n\
           'ca': ids('NSPinnedCAIdentities')}))";
    let ios = ok(&[&["show", chain, "--format", "ios-plist"][..], &with_backup].concat());
    let parsed = python(read_ios, &ios.stdout);
    assert_eq!(parsed["sub"], false);
    assert_eq!(
        strings(&parsed["leaf"]),
        [expected[0].clone(), backup_pin.clone()]
    );
    assert!(strings(&parsed["ca"]).is_empty());
    assert!(ios.stderr.contains("2 pin(s) left out"), "{}", ios.stderr);
    let ios_ca = ok(&[
        &[
            "show",
            chain,
            "--format",
            "ios-plist",
            "--ios-identities",
            "ca",
            "--include-subdomains",
        ][..],
        &with_backup,
    ]
    .concat());
    let parsed = python(read_ios, &ios_ca.stdout);
    assert_eq!(parsed["sub"], true);
    assert_eq!(
        strings(&parsed["ca"]),
        [expected[1].clone(), expected[2].clone(), backup_pin.clone()]
    );

    // TrustKit: TSKConfiguration, read by plistlib; fewer than 2 pins warns.
    let read_tk = "import sys, json, plistlib\n\
         p = plistlib.loads(sys.stdin.buffer.read())\n\
         d = p['TSKConfiguration']['TSKPinnedDomains']['rsa.test']\n\
         print(json.dumps({'enforce': d['TSKEnforcePinning'], 'hashes': d['TSKPublicKeyHashes']}))";
    let tk = ok(&[&["show", chain, "--format", "trustkit"][..], &with_backup].concat());
    let parsed = python(read_tk, &tk.stdout);
    assert_eq!(parsed["enforce"], true);
    assert_eq!(strings(&parsed["hashes"]), all);
    let leaf = pki.path("leaf.pem");
    let lonely = ok(&["show", leaf.to_str().unwrap(), "--format", "trustkit"]);
    assert!(
        lonely.stderr.contains("fewer than 2 pins"),
        "{}",
        lonely.stderr
    );
    assert_eq!(
        strings(&python(read_tk, &lonely.stdout)["hashes"]),
        [expected[0].clone()]
    );

    // --host names the domain; --only picks certificates.
    let named = ok(&[
        "show", chain, "--format", "curl", "--only", "ca", "--host", "x.test",
    ])
    .stdout;
    assert_eq!(
        named.trim(),
        format!("sha256//{};sha256//{}", expected[1], expected[2])
    );
    let host = ok(&["show", chain, "--format", "okhttp", "--host", "other.test"]).stdout;
    assert!(host.contains(".add(\"other.test\""));
}

#[test]
fn a_live_chain_is_shown_with_its_trust_result_and_its_curl_value_works_in_real_curl() {
    let pki = OpensslPki::new();
    let (_server, port) = pki.serve();
    let root = pki.path("root.pem");
    let root = root.to_str().unwrap();
    let connect = format!("127.0.0.1:{port}");
    let live = |extra: &[&str]| {
        let args = [
            &[
                "show",
                "--connect",
                &connect,
                "--sni",
                "rsa.test",
                "--no-system-roots",
            ][..],
            extra,
        ]
        .concat();
        ok(&args)
    };

    // What was sent (leaf, intermediate, the decoy) and the verified path (to the root).
    let shown: Value =
        serde_json::from_str(&live(&["--ca", root, "--format", "json"]).stdout).unwrap();
    let sent: Vec<&str> = shown["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["pin"].as_str().unwrap())
        .collect();
    assert_eq!(sent, [pki.pin("leaf"), pki.pin("int"), pki.pin("decoy")]);
    let c = &shown["connection"];
    assert_eq!(c["trusted"], true);
    assert_eq!(c["sni"], "rsa.test");
    let path: Vec<&str> = c["verified_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pin"].as_str().unwrap())
        .collect();
    assert_eq!(path, [pki.pin("leaf"), pki.pin("int"), pki.pin("root")]);
    assert_eq!(c["verified_path"][2]["source"], "trust_store");
    let table = live(&["--ca", root]).stdout;
    assert!(
        table.contains(&format!("127.0.0.1:{port} presented 3 certificate(s)")),
        "{table}"
    );
    assert!(
        table.contains("trust: verified: CN=rsa.test <- "),
        "{table}"
    );

    // Untrusted (no roots at all): shown, not refused.
    let untrusted = live(&["--format", "json"]);
    let shown: Value = serde_json::from_str(&untrusted.stdout).unwrap();
    assert_eq!(shown["connection"]["trusted"], false);
    assert!(
        shown["connection"]["trust_failure"]
            .as_str()
            .unwrap()
            .contains("issuer"),
        "{shown}"
    );
    assert_eq!(shown["items"][0]["pin"], pki.pin("leaf").as_str());

    // The curl value, used by real curl against the same server.
    let curl = |pin: &str| {
        Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "--max-time",
                "10",
                "--noproxy",
                "*",
                "--cacert",
                root,
            ])
            .args(["--resolve", &format!("rsa.test:{port}:127.0.0.1")])
            .args(["--pinnedpubkey", pin])
            .arg(format!("https://rsa.test:{port}/"))
            .status()
            .unwrap()
            .code()
    };
    let value = live(&["--ca", root, "--format", "curl"]).stdout;
    assert_eq!(curl(value.trim()), Some(0), "{value}");
    // curl checks the leaf only: the CA pins alone do not let it through.
    let ca_only = live(&["--ca", root, "--format", "curl", "--only", "ca"]).stdout;
    assert_eq!(curl(ca_only.trim()), Some(90), "{ca_only}");

    // pins check against the live host.
    let checked = pins(&[
        "check",
        "--connect",
        &connect,
        "--sni",
        "rsa.test",
        "--ca",
        root,
        "--no-system-roots",
        "--pin",
        &pki.pin("int"),
        "--pin",
        &format!("sha256/{}", pki.pin("root")),
    ]);
    assert_eq!(checked.code, 0, "{}", checked.stderr);
    assert!(
        checked
            .stdout
            .contains(&format!("pin {} matches certificate 1 (", pki.pin("int"))),
        "{}",
        checked.stdout
    );
    assert!(
        checked.stdout.contains("from the trust store"),
        "{}",
        checked.stdout
    );
    assert!(
        checked.stdout.contains("warning: no backup pin"),
        "{}",
        checked.stdout
    );
}

#[test]
fn through_the_proxy_the_forged_chain_is_what_is_shown_and_checked() {
    let h = Harness::start();
    let proxy = h.proxy_addr.to_string();
    let bundle = h.bundle.to_str().unwrap();
    let connect = format!("{HOST}:443");
    let shown = json(&[
        "show",
        "--connect",
        &connect,
        "--proxy",
        &proxy,
        "--ca",
        bundle,
        "--no-system-roots",
        "--format",
        "json",
    ]);
    assert_eq!(shown["connection"]["trusted"], true);
    assert_eq!(shown["connection"]["proxy"], proxy.as_str());
    assert_eq!(shown["host"], HOST);
    let forged = shown["items"][0]["pin"].as_str().unwrap().to_string();
    assert_ne!(forged, h.pin("current"));

    // The app's pins (the origin's key and a spare) do not match what the proxy presents.
    let checked = pins(&[
        "check",
        "--connect",
        &connect,
        "--proxy",
        &proxy,
        "--ca",
        bundle,
        "--no-system-roots",
        "--pin",
        &h.pin("current"),
        "--pin",
        &h.pin("next"),
        "--json",
    ]);
    assert_eq!(checked.code, 1, "{}", checked.stderr);
    let out: Value = serde_json::from_str(&checked.stdout).unwrap();
    assert_eq!(out["matched"], false);
    assert_eq!(out["exit"], 1);
    assert!(out["pins"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["matched"].is_null()));

    // Directly to the origin: its real key, pinned with the spare as backup, passes cleanly.
    let origin = h.origin.addr().to_string();
    let root = h.root_pem.to_str().unwrap();
    let direct = pins(&[
        "check",
        "--connect",
        &origin,
        "--sni",
        HOST,
        "--ca",
        root,
        "--no-system-roots",
        "--pin",
        &h.pin("current"),
        "--pin",
        &h.pin("next"),
    ]);
    assert_eq!(direct.code, 0, "{}", direct.stdout);
    assert!(
        direct
            .stdout
            .contains(&format!("pin {} matches certificate 0 (", h.pin("current"))),
        "{}",
        direct.stdout
    );
    assert!(direct
        .stdout
        .contains(&format!("pin {} matches no certificate", h.pin("next"))));
    assert!(
        !direct.stdout.contains("no backup pin"),
        "{}",
        direct.stdout
    );

    // Two handshakes through the proxy, each closed with close_notify before any request.
    let (records, _) = h.stop_after(2);
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r.host.as_deref(), Some(HOST));
        assert_eq!(r.presented_pin.as_deref(), Some(forged.as_str()));
        assert_eq!(r.request_count, 0);
        assert_eq!(r.verdict.to_string(), "cancelled", "{r:#?}");
    }
}

#[test]
fn keys_of_every_type_and_encoding_give_the_pin_openssl_gives() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sh(
        d,
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256.pem 2>/dev/null && \
         openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.pem 2>/dev/null && \
         openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem 2>/dev/null && \
         openssl genpkey -algorithm ed25519 -out ed.pem && \
         openssl ec -in p256.pem -out p256-sec1.pem 2>/dev/null && \
         openssl ec -in p256.pem -outform DER -out p256-sec1.der 2>/dev/null && \
         openssl rsa -in rsa.pem -traditional -out rsa-pkcs1.pem 2>/dev/null && \
         openssl rsa -in rsa.pem -traditional -outform DER -out rsa-pkcs1.der 2>/dev/null && \
         for k in p256 p384 rsa ed; do \
           openssl pkcs8 -topk8 -nocrypt -in $k.pem -outform DER -out $k.der && \
           openssl pkey -in $k.pem -pubout -out $k.pub.pem && \
           openssl pkey -in $k.pem -pubout -outform DER -out $k.pub.der; done",
    );
    assert!(std::fs::read_to_string(d.join("p256-sec1.pem"))
        .unwrap()
        .contains("BEGIN EC PRIVATE KEY"));
    assert!(std::fs::read_to_string(d.join("rsa-pkcs1.pem"))
        .unwrap()
        .contains("BEGIN RSA PRIVATE KEY"));
    for (key, key_type) in [
        ("p256", "ECDSA P-256"),
        ("p384", "ECDSA P-384"),
        ("rsa", "RSA 2048"),
        ("ed", "Ed25519"),
    ] {
        let expected = openssl_key_pin(d, &format!("{key}.pem"), false);
        let mut files = vec![
            (format!("{key}.pem"), "private_key", "pkcs8", "pem"),
            (format!("{key}.der"), "private_key", "pkcs8", "der"),
            (format!("{key}.pub.pem"), "public_key", "spki", "pem"),
            (format!("{key}.pub.der"), "public_key", "spki", "der"),
        ];
        if key == "p256" {
            files.push(("p256-sec1.pem".into(), "private_key", "sec1", "pem"));
            files.push(("p256-sec1.der".into(), "private_key", "sec1", "der"));
        }
        if key == "rsa" {
            files.push(("rsa-pkcs1.pem".into(), "private_key", "pkcs1", "pem"));
            files.push(("rsa-pkcs1.der".into(), "private_key", "pkcs1", "der"));
        }
        for (file, kind, structure, encoding) in files {
            let path = d.join(&file);
            let shown = json(&["show", path.to_str().unwrap(), "--format", "json"]);
            let item = &shown["items"][0];
            assert_eq!(item["pin"], expected.as_str(), "{file}");
            assert_eq!(
                (
                    item["kind"].as_str(),
                    item["structure"].as_str(),
                    item["encoding"].as_str()
                ),
                (Some(kind), Some(structure), Some(encoding)),
                "{file}"
            );
            assert_eq!(item["key_type"], key_type, "{file}");
        }
    }
    // stdin, and a private key among config inputs is said.
    let pem = std::fs::read(d.join("p256.pem")).unwrap();
    let ran = pins_in(&["show", "-", "--format", "curl", "--host", "k.test"], &pem);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(
        ran.stdout.trim(),
        format!("sha256//{}", openssl_key_pin(d, "p256.pem", false))
    );
    assert!(
        ran.stderr
            .contains("pin-proxy pins: -: PEM, 1 PKCS#8 private key"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("only its public half's pin is printed"));
    // A key names no domain: the config formats ask for --host.
    let no_host = pins_in(&["show", "-", "--format", "okhttp"], &pem);
    assert_eq!(no_host.code, 2);
    assert!(no_host.stderr.contains("give --host"), "{}", no_host.stderr);
}

#[test]
fn garbage_empty_and_truncated_input_is_a_clear_error_with_exit_2() {
    let pki = OpensslPki::new();
    let d = pki.dir.path();
    let leaf = std::fs::read(pki.path("leaf.pem")).unwrap();
    let der = sh(
        d,
        "openssl x509 -in leaf.pem -outform der -out leaf.der && echo ok",
    );
    assert_eq!(der, "ok");
    let leaf_der = std::fs::read(pki.path("leaf.der")).unwrap();
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        ("empty.pem", Vec::new(), ": empty input".into()),
        (
            "garbage.txt",
            b"this is not a certificate\n".to_vec(),
            ": neither PEM".into(),
        ),
        (
            "half.pem",
            leaf[..leaf.len() / 2].to_vec(),
            ":1: the CERTIFICATE block has no END line".into(),
        ),
        (
            "half.der",
            leaf_der[..leaf_der.len() / 2].to_vec(),
            ": DER that is not".into(),
        ),
        (
            "csr.pem",
            std::fs::read(pki.path("leaf.csr")).unwrap(),
            ":1: a certificate request".into(),
        ),
        (
            "second-bad.pem",
            [
                &leaf[..],
                b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            ]
            .concat(),
            format!(
                ":{}: not a valid X.509 certificate",
                String::from_utf8_lossy(&leaf).lines().count() + 1
            ),
        ),
    ];
    for (name, bytes, suffix) in cases {
        let path = d.join(name);
        std::fs::write(&path, &bytes).unwrap();
        for sub in ["show", "check"] {
            let mut args = vec![sub, path.to_str().unwrap()];
            if sub == "check" {
                args.extend(["--pin", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="]);
            }
            let ran = pins(&args);
            assert_eq!(ran.code, 2, "{name} {sub}: {}", ran.stderr);
            let want = format!("pin-proxy: error: {}{suffix}", path.display());
            assert!(ran.stderr.starts_with(&want), "{name}: {}", ran.stderr);
            assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
            assert!(ran.stdout.is_empty());
        }
    }
    let missing = pins(&["show", d.join("nope.pem").to_str().unwrap()]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("nope.pem"), "{}", missing.stderr);
    for (args, want) in [
        (vec!["show"], "give certificate or key files"),
        (
            vec!["check", "--pin", "nope", "x.pem"],
            "\"nope\" is not a base64 SHA-256 pin",
        ),
        (
            vec!["show", "--connect", "https://x.test/"],
            "expected HOST[:PORT], not a URL",
        ),
        (
            vec!["show", "--connect", "127.0.0.1:99999"],
            "is not HOST[:PORT]",
        ),
        (
            vec!["show", "--connect", "127.0.0.1:"],
            "is not HOST[:PORT]",
        ),
        (vec!["show", "--connect", "[::1"], "is not HOST[:PORT]"),
        (vec!["show", "--connect", "::1"], "is not HOST[:PORT]"),
        (
            vec!["show", "x.pem", "--format", "okhttp", "--hash", "cert"],
            "--hash cert is for",
        ),
        (
            vec!["show", "x.pem", "--expiration", "next year"],
            "is not a YYYY-MM-DD date",
        ),
    ] {
        let ran = pins(&args);
        assert_eq!(ran.code, 2, "{args:?}: {}", ran.stderr);
        assert!(ran.stderr.contains(want), "{args:?}: {}", ran.stderr);
    }
    // Nothing listens: a runtime error, exit 4, naming the address.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ran = pins(&[
        "show",
        "--connect",
        &format!("127.0.0.1:{port}"),
        "--no-system-roots",
    ]);
    assert_eq!(ran.code, 4, "{}", ran.stderr);
    assert!(
        ran.stderr.contains(&format!("127.0.0.1:{port}")),
        "{}",
        ran.stderr
    );
}

#[test]
fn check_warns_about_an_expiring_leaf_only_set_and_exits_1_when_nothing_matches() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sh(
        d,
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key \
         -out leaf.pem -days 10 -subj /CN=soon.test -addext basicConstraints=CA:FALSE \
         -addext subjectAltName=DNS:soon.test 2>/dev/null",
    );
    let leaf = d.join("leaf.pem");
    let leaf = leaf.to_str().unwrap();
    let pin = openssl_key_pin(d, "leaf.key", false);
    let ran = pins(&["check", leaf, "--pin", &pin]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stdout
            .contains(&format!("pin {pin} matches certificate 0 (CN=soon.test)")),
        "{}",
        ran.stdout
    );
    // Ten days, less the moments since openssl made it (9 unless within the same second).
    assert!(
        ["9", "10"].iter().any(|n| ran.stdout.contains(&format!(
            "warning: only the leaf is pinned and it expires in {n} day(s)"
        ))),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("warning: no backup pin"));
    assert!(ran.stdout.ends_with("ok: the pin set matches\n"));

    // A backup key file: the spare is known, so no backup warning and no "matches nothing".
    let backup = d.join("spare.pem");
    ok(&[
        "backup",
        "--out",
        backup.to_str().unwrap(),
        "--key-type",
        "rsa2048",
    ]);
    let ran = pins(&[
        "check",
        leaf,
        "--pin",
        &pin,
        "--backup",
        backup.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(ran.code, 0);
    let out: Value = serde_json::from_str(&ran.stdout).unwrap();
    let warnings = strings(&out["warnings"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("only the leaf is pinned"));
    assert_eq!(out["pins"][1]["backup"], true);
    assert!(out["pins"][1]["matched"].is_null());

    // A stale pin alone: exit 1 and said.
    let stale = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let ran = pins(&["check", leaf, "--pin", &format!("sha256//{stale}")]);
    assert_eq!(ran.code, 1);
    assert!(ran
        .stdout
        .contains(&format!("warning: pin {stale} matches no certificate")));
    assert!(ran
        .stdout
        .ends_with("FAILED: no pin matches: an app with these pins refuses this host\n"));
}

#[test]
fn backup_writes_a_0600_key_whose_pin_openssl_agrees_with_and_never_overwrites_silently() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (key_type, word) in [("ecdsa-p256", "ECDSA P-256"), ("rsa2048", "RSA 2048")] {
        let out = d.join(format!("{key_type}.pem"));
        let made = ok(&[
            "backup",
            "--out",
            out.to_str().unwrap(),
            "--key-type",
            key_type,
            "--host",
            "api.x.test",
        ]);
        let pin = openssl_key_pin(d, &format!("{key_type}.pem"), false);
        assert!(
            made.stdout
                .contains(&format!("({word}, PKCS#8 PEM, mode 0600)")),
            "{}",
            made.stdout
        );
        for line in [
            format!("pin (SPKI SHA-256, base64)   {pin}"),
            format!(".add(\"api.x.test\", \"sha256/{pin}\")"),
            format!("sha256//{pin}"),
            format!("<pin digest=\"SHA-256\">{pin}</pin>"),
            format!("<key>SPKI-SHA256-BASE64</key><string>{pin}</string>"),
        ] {
            assert!(made.stdout.contains(&line), "{line}\n{}", made.stdout);
        }
        assert!(made.stdout.contains("Ship this pin now"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Again: refused, the key kept; --force replaces it.
        let before = std::fs::read(&out).unwrap();
        let again = pins(&["backup", "--out", out.to_str().unwrap()]);
        assert_eq!(again.code, 2);
        assert!(again.stderr.contains("already exists"), "{}", again.stderr);
        assert_eq!(std::fs::read(&out).unwrap(), before);
        ok(&["backup", "--out", out.to_str().unwrap(), "--force"]);
        assert_ne!(std::fs::read(&out).unwrap(), before);
    }
    let no_tmp: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(no_tmp.is_empty());
}
