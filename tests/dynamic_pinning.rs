//! Dynamic pinning end to end, with every part a real process: `pin-config serve` (the binary)
//! publishing a signed config, `pin-proxy proxy` in front of it and of an API origin, and
//! `pin-proxy client --pins-url` fetching the config through that proxy. Each attack on the
//! config (a wrong key, a modified payload, an expired config, a replay, a reused version, a
//! malformed document, a substitution by the proxy's `--map-local`, a failing fetch) is checked
//! with the pin cache's state afterwards.
//! A Wultra config is served and matched on the leaf certificate hash, as that SDK does.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{bin, Harness, Opts, HOST};
use serde_json::Value;

/// `pin-config serve` as a child process; killed when dropped.
struct Serve {
    child: Child,
    addr: String,
    log: std::sync::mpsc::Receiver<String>,
}

impl Serve {
    fn start(dir: &Path) -> Self {
        Self::start_in(dir, None, "127.0.0.1:0", &[])
    }

    /// Started in the server namespace of `lan` when one is given.
    fn start_in(dir: &Path, lan: Option<&common::Lan>, listen: &str, extra: &[&str]) -> Self {
        let mut cmd = match lan {
            Some(lan) => lan.server(&bin()),
            None => Command::new(bin()),
        };
        let mut child = cmd
            .current_dir(dir)
            .args(["pin-config", "serve", "pins.toml", "--key", "signing.key"])
            .args(["--listen", listen])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tx, log) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = log
            .recv_timeout(Duration::from_secs(10))
            .expect("pin-config serve starts");
        let addr = first
            .split(" at http://")
            .nth(1)
            .and_then(|rest| rest.split("/pins").next())
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_string();
        Self { child, addr, log }
    }

    /// Waits for a log line containing `text`.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(line) = self.log.recv_timeout(Duration::from_millis(200)) {
                if line.contains(text) {
                    return line;
                }
            }
        }
        panic!("pin-config serve never said {text:?}");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_source(dir: &Path, version: u64, pins: &[&str], expiry: &str) {
    let pins: Vec<String> = pins.iter().map(|p| format!("\"{p}\"")).collect();
    std::fs::write(
        dir.join("pins.toml"),
        format!(
            "version = {version}\n{expiry}\n[hosts.\"{HOST}\"]\npins = [{}]\n",
            pins.join(", ")
        ),
    )
    .unwrap();
}

fn sign(dir: &Path, key: &str, out: &str) {
    let o = Command::new(bin())
        .current_dir(dir)
        .args([
            "pin-config",
            "sign",
            "pins.toml",
            "--key",
            key,
            "--out",
            out,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn keygen(dir: &Path, out: &str) {
    let o = Command::new(bin())
        .current_dir(dir)
        .args(["pin-config", "keygen", "--out", out])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A proxy passing the API host through, mapping `pins.test` to the config service. With
/// `origin`, the API host goes to that (another harness's) origin instead of its own.
fn proxy(serve: &Serve, origin: Option<std::net::SocketAddr>, extra: &[String]) -> Harness {
    let mut args = vec![
        "--passthrough".to_string(),
        HOST.to_string(),
        "--map".to_string(),
        format!("pins.test:80={}", serve.addr),
    ];
    args.extend_from_slice(extra);
    Harness::with(Opts {
        args,
        map_to: origin,
        ..Opts::default()
    })
}

/// The client through `h`, with the config from `http://pins.test/pins`: (exit, its JSON).
fn client(h: &Harness, bundle: &Path, dir: &Path, key: &str, cache: &str) -> (i32, Value, String) {
    let out = Command::new(bin())
        .current_dir(dir)
        .arg("client")
        .arg(h.url("/api"))
        .args(["--proxy", &h.proxy_addr.to_string()])
        .arg("--ca")
        .arg(bundle)
        .args([
            "--no-system-roots",
            "--json",
            "--pins-url",
            "http://pins.test/pins",
        ])
        .args(["--pins-key", key, "--pins-cache", cache])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (
        out.status.code().unwrap(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cached_version(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: Value = serde_json::from_str(&text).unwrap();
    v["version"].as_u64()
}

fn config(json: &Value) -> (Option<u64>, String, String) {
    let c = &json["pin_config"];
    (
        c["version"].as_u64(),
        c["source"].as_str().unwrap_or("none").to_string(),
        c["refused"]
            .as_str()
            .or(c["fetch_error"].as_str())
            .unwrap_or("")
            .to_string(),
    )
}

/// The pins of a proxy harness's origin, which must be in the published config: every harness
/// generates its own PKI, so the test publishes after starting it.
fn pins_of(h: &Harness) -> (String, String) {
    (h.pin("current"), h.pin("next"))
}

#[test]
fn dynamic_pinning_through_real_processes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    keygen(d, "signing.key");
    keygen(d, "attacker.key");
    let cache: PathBuf = d.join("cache.json");
    let cache_s = cache.to_str().unwrap().to_string();

    // The service starts with a config that pins nothing of this run's origin yet.
    write_source(
        d,
        1,
        &["47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="],
        "valid_for = \"7d\"",
    );
    let serve = Serve::start(d);
    let h = proxy(&serve, None, &[]);
    let (current, next) = pins_of(&h);

    // Version 2 pins this run's current and next keys: the service signs it again.
    write_source(d, 2, &[&current, &next], "valid_for = \"7d\"");
    serve.wait_for("now serving version 2");
    let (code, json, err) = client(&h, &h.bundle, d, "signing.pub", &cache_s);
    assert_eq!(code, 0, "{err}");
    assert_eq!(config(&json), (Some(2), "fetched".into(), String::new()));
    assert_eq!(json["pins_source"], "config");
    assert_eq!(cached_version(&cache), Some(2));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let v2 = {
        let o = Command::new("curl")
            .args(["-sS", &format!("http://{}/pins", serve.addr)])
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap()
    };

    // The same version with other content is refused by the service, which keeps serving 2.
    write_source(d, 2, &[&next], "valid_for = \"7d\"");
    serve.wait_for("refused: pins.toml: the content changed but the version did not go up");
    let (code, json, _) = client(&h, &h.bundle, d, "signing.pub", &cache_s);
    assert_eq!((code, config(&json).0), (0, Some(2)));
    // A malformed source names file, line and field, and leaves version 2 served.
    let text = std::fs::read_to_string(d.join("pins.toml")).unwrap();
    std::fs::write(d.join("pins.toml"), format!("{text}pins = oops\n")).unwrap();
    let line = serve.wait_for("still serving version 2");
    assert!(line.contains("pins.toml:5:"), "{line}");
    let (code, json, _) = client(&h, &h.bundle, d, "signing.pub", &cache_s);
    assert_eq!((code, config(&json).0), (0, Some(2)));
    // From here on, every refusal must leave the cache exactly as it is now.
    let good_cache = std::fs::read_to_string(&cache).unwrap();

    // A wrong key on the client's side: the fetched config and the cache are both refused.
    let (code, json, err) = client(&h, &h.bundle, d, "attacker.pub", &cache_s);
    assert_eq!(code, 13, "{err}");
    assert_eq!(json["outcome"], "config_rejected");
    let (v, source, why) = config(&json);
    assert_eq!((v, source.as_str()), (None, "none"));
    assert!(why.starts_with("signed by another key"), "{why}");
    assert!(err.contains("no usable pin config"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&cache).unwrap(),
        good_cache,
        "the cache is left alone"
    );

    // What a forging proxy can answer the config request with, each through --map-local;
    // signed from sources in a directory of their own (the service watches pins.toml).
    let a = d.join("attack");
    std::fs::create_dir(&a).unwrap();
    let key = |name: &str| d.join(name).display().to_string();
    // Each pins a key the origin does not have: had the client taken it, the API call would
    // fail (exit 10); it keeps the cached version 2 and succeeds.
    const BOGUS: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    write_source(&a, 9, &[BOGUS], "valid_for = \"7d\"");
    sign(&a, &key("attacker.key"), "forged.jws");
    write_source(&a, 1, &[BOGUS], "valid_for = \"7d\"");
    sign(&a, &key("signing.key"), "older.jws");
    write_source(&a, 1, &[&current], "expires = 2020-01-01T00:00:00Z");
    sign(&a, &key("signing.key"), "expired.jws");
    let parts: Vec<&str> = v2.trim().split('.').collect();
    let mut payload: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    payload["hosts"][HOST]["pins"] = serde_json::json!([BOGUS]);
    let modified = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
    std::fs::write(
        a.join("modified.jws"),
        format!("{}.{modified}.{}", parts[0], parts[2]),
    )
    .unwrap();
    std::fs::write(a.join("garbage.jws"), "not a jws at all").unwrap();

    for (answer, refusal) in [
        ("forged.jws", "signed by another key"),
        ("modified.jws", "bad signature"),
        (
            "older.jws",
            "replay: version 1 is older than the cached version 2",
        ),
        ("garbage.jws", "malformed"),
        ("status:503", "the config service answered 503"),
    ] {
        let target = if answer.starts_with("status:") {
            answer.to_string()
        } else {
            a.join(answer).display().to_string()
        };
        let h2 = proxy(
            &serve,
            Some(h.origin.addr()),
            &[
                "--map-local".into(),
                format!("http://pins.test/pins={target}"),
            ],
        );
        let (code, json, err) = client(&h2, &h.bundle, d, "signing.pub", &cache_s);
        assert_eq!(code, 0, "{answer}: {err}");
        let (v, source, why) = config(&json);
        assert_eq!((v, source.as_str()), (Some(2), "cache"), "{answer}");
        assert!(why.contains(refusal), "{answer}: {why}");
        assert!(
            err.contains("using the cached pin config version 2"),
            "{answer}: {err}"
        );
        assert_eq!(
            std::fs::read_to_string(&cache).unwrap(),
            good_cache,
            "{answer}: the cache is kept"
        );
        let (records, _) = h2.stop();
        let mapped: Vec<_> = records
            .iter()
            .flat_map(|r| &r.requests)
            .filter(|q| q.mapped_local)
            .collect();
        assert_eq!(
            mapped.len(),
            1,
            "{answer}: the proxy answered the config request itself"
        );
    }

    // An expired config and no cache: nothing to trust, fail closed, no cache written.
    let fresh = d.join("fresh-cache.json");
    let h2 = proxy(
        &serve,
        Some(h.origin.addr()),
        &[
            "--map-local".into(),
            format!("http://pins.test/pins={}", a.join("expired.jws").display()),
        ],
    );
    let (code, json, _) = client(&h2, &h.bundle, d, "signing.pub", fresh.to_str().unwrap());
    assert_eq!(code, 13);
    assert!(
        config(&json)
            .2
            .starts_with("expired at 2020-01-01T00:00:00Z"),
        "{json}"
    );
    assert!(!fresh.exists());

    // On a LAN address the service needs --allow-from.
    let o = Command::new(bin())
        .current_dir(d)
        .args([
            "pin-config",
            "serve",
            "pins.toml",
            "--key",
            "signing.key",
            "--listen",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("needs --allow-from CIDR"));
}

/// The leaf certificate `addr` presents for `host`, PEM, as openssl sees it.
fn presented_leaf(addr: std::net::SocketAddr, host: &str) -> String {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            host,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("openssl is installed (.ci/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a certificate");
    let end = text.find("-----END CERTIFICATE-----").expect("its end") + 25;
    format!("{}\n", &text[start..end])
}

#[test]
fn a_wultra_config_pins_the_leaf_certificate_hash_as_that_sdk_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = Command::new(bin())
        .current_dir(d)
        .args([
            "pin-config",
            "keygen",
            "--key-type",
            "ecdsa-p256",
            "--out",
            "signing.key",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    // Start the service with a placeholder certificate, then publish the origin's real leaf.
    let h0 = Harness::start();
    std::fs::write(d.join("leaf.pem"), presented_leaf(h0.origin.addr(), HOST)).unwrap();
    let source = |version: u64| {
        format!(
            "version = {version}\nvalid_for = \"7d\"\n[hosts.\"{HOST}\"]\ncertificates = [\"leaf.pem\"]\n"
        )
    };
    std::fs::write(d.join("pins.toml"), source(1)).unwrap();
    let serve_wultra = |d: &Path| {
        let mut child = Command::new(bin())
            .current_dir(d)
            .args([
                "pin-config",
                "serve",
                "pins.toml",
                "--key",
                "signing.key",
                "--format",
                "wultra",
            ])
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Only the first line is read, then the pipe closes: the service must go on serving
        // (and logging) without its log reader.
        let mut first = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let addr = first
            .split(" at http://")
            .nth(1)
            .and_then(|rest| rest.split("/pins").next())
            .unwrap_or_else(|| panic!("{first}"))
            .to_string();
        (child, addr)
    };
    let (mut child, addr) = serve_wultra(d);
    let h = Harness::with(Opts {
        args: vec![
            "--passthrough".into(),
            HOST.into(),
            "--map".into(),
            format!("pins.test:80={addr}"),
        ],
        map_to: Some(h0.origin.addr()),
        ..Opts::default()
    });
    let run = |d: &Path| {
        let out = Command::new(bin())
            .current_dir(d)
            .arg("client")
            .arg(h.url("/w"))
            .args(["--proxy", &h.proxy_addr.to_string()])
            .arg("--ca")
            .arg(&h0.bundle)
            .args([
                "--no-system-roots",
                "--json",
                "--pins-url",
                "http://pins.test/pins",
            ])
            .args(["--pins-key", "signing.pub", "--pins-format", "wultra"])
            .output()
            .unwrap();
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code().unwrap(), json)
    };
    let (code, json) = run(d);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["pin_config"]["format"], "wultra");
    assert_eq!(json["pin_config"]["source"], "fetched");
    // What matched is the leaf certificate's hash, the same the client reports for the leaf.
    assert_eq!(
        json["matched_pin"]["pin"],
        json["verified_path"][0]["sha256"]
    );
    let _ = child.kill();
    let _ = child.wait();

    // A file for another certificate of the same name (a re-issued leaf): Untrusted, exit 10.
    let h1 = Harness::start();
    std::fs::write(d.join("leaf.pem"), presented_leaf(h1.origin.addr(), HOST)).unwrap();
    std::fs::write(d.join("pins.toml"), source(2)).unwrap();
    let (mut child, addr2) = serve_wultra(d);
    drop(h);
    let h = Harness::with(Opts {
        args: vec![
            "--passthrough".into(),
            HOST.into(),
            "--map".into(),
            format!("pins.test:80={addr2}"),
        ],
        map_to: Some(h0.origin.addr()),
        ..Opts::default()
    });
    let out = Command::new(bin())
        .current_dir(d)
        .arg("client")
        .arg(h.url("/w"))
        .args(["--proxy", &h.proxy_addr.to_string()])
        .arg("--ca")
        .arg(&h0.bundle)
        .args([
            "--no-system-roots",
            "--json",
            "--pins-url",
            "http://pins.test/pins",
        ])
        .args(["--pins-key", "signing.pub", "--pins-format", "wultra"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(10),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn on_a_lan_address_the_service_serves_only_its_allow_from_ranges() {
    let Some(lan) = common::Lan::new("d") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    keygen(d, "signing.key");
    write_source(
        d,
        1,
        &["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="],
        "valid_for = \"7d\"",
    );
    let listen = format!("{}:0", lan.server_ip);
    let fetch = |addr: &str| {
        lan.client("curl")
            .args([
                "-sS",
                "--max-time",
                "5",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ])
            .arg(format!("http://{addr}/pins"))
            .output()
            .unwrap()
    };
    let outside = Serve::start_in(d, Some(&lan), &listen, &["--allow-from", "192.0.2.0/24"]);
    assert!(!fetch(&outside.addr).status.success());
    let line = outside.wait_for("refused: not in --allow-from");
    assert!(line.contains(&lan.client_ip), "{line}");
    drop(outside);
    let range = format!("{}/24", lan.client_ip);
    let inside = Serve::start_in(d, Some(&lan), &listen, &["--allow-from", &range]);
    let o = fetch(&inside.addr);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "200", "{o:?}");
}
