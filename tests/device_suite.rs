//! Device cases in scenario files, with curl as the "device": an origin that is a real upstream
//! (`upstream = "HOST:443=127.0.0.1:PORT"`, a TLS server of the test's own on loopback, trusted
//! through `[proxy] upstream_ca`), the local CA (`[proxy] ca = "local"`), a fixed proxy port (the
//! device's proxy setting), a `before` command per case, the passthrough case judged by the
//! client's exit status, and the same JSON, JUnit and snapshot as a local suite. Then a suite
//! without a client command: the runner says which host to use and waits; the test plays the
//! person with the phone and runs curl when asked. Nobody using the host is an error, never a
//! cancel.

mod common;

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

use pin_proxy::ca::KeyType;
use pin_proxy::origin::pki::OriginPki;
use pin_proxy::origin::TestOrigin;
use serde_json::Value;

const HOST: &str = "api.device.test";

/// A free loopback port (bound and released: the suite's fixed port).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The upstream: a TLS origin for HOST with its own root, and that root's file.
struct Upstream {
    _rt: tokio::runtime::Runtime,
    origin: TestOrigin,
    pin: String,
}

fn upstream(dir: &Path) -> Upstream {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let pki = OriginPki::generate(KeyType::EcdsaP256, "device", &["live"]).expect("a PKI");
    let leaf = pki.leaf(&[HOST.to_string()], "live").expect("a leaf");
    let origin = rt.block_on(TestOrigin::start(leaf)).expect("the origin");
    std::fs::write(dir.join("upstream-root.pem"), pki.root_pem()).expect("write the root");
    let pin = pki.key_pin("live").expect("the pin");
    Upstream {
        _rt: rt,
        origin,
        pin,
    }
}

fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    common::outcome(
        Command::new(common::bin())
            .current_dir(dir)
            .arg("--ca-dir")
            .arg(dir.join("ca"))
            .arg("run")
            .args(args),
    )
}

#[test]
fn a_device_suite_through_a_fixed_port_against_an_upstream() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let up = upstream(dir.path());
    let port = free_port();
    let suite = format!(
        r#"[suite]
name = "device"

[proxy]
ca = "local"
listen = "127.0.0.1:{port}"
upstream_ca = ["upstream-root.pem"]

[client]
# The "device": curl through the fixed proxy port, trusting the local CA and the upstream's root.
command = ["curl", "-sS", "-o", "/dev/null", "--max-time", "10", "--noproxy", "",
           "--proxy", "http://127.0.0.1:{port}", "--cacert", "{{trust_bundle}}",
           ["--pinnedpubkey", "{{pins_curl}}"], "{{url}}"]
before = "echo {{case}} >> before.log"
timeout = "20s"

[[origin]]
name = "api"
upstream = "{HOST}:443={upstream}"

[[case]]
name = "pinned-intercepted"
proxy = "intercept"
pins = ["{pin}"]
expect = "cancelled"

[[case]]
name = "pinned-passthrough"
proxy = "passthrough"
pins = ["{pin}"]
expect = "proceeded"

[[case]]
name = "unpinned-intercepted"
proxy = "intercept"
expect = "proceeded"
"#,
        upstream = up.origin.addr(),
        pin = up.pin,
    );
    std::fs::write(dir.path().join("device.toml"), suite).expect("write the suite");
    let (code, stdout, stderr) = run(
        dir.path(),
        &[
            "device.toml",
            "-j",
            "4",
            "--report-json",
            "report.json",
            "--junit",
            "junit.xml",
            "--snapshot",
            "device.snap",
            "--update-snapshot",
        ],
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("3 case(s) from 1 suite(s), 1 at a time"),
        "{stderr}"
    );
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report.json")).expect("the report"),
    )
    .expect("JSON");
    let cases = report["suites"][0]["cases"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(cases.len(), 3, "{report}");
    for case in &cases {
        assert_eq!(case["status"], "passed", "{case}");
        assert_eq!(case["origin_key"], "upstream", "{case}");
        assert_eq!(case["disagreements"], Value::Array(Vec::new()), "{case}");
    }
    let passthrough = &cases[1];
    assert!(
        passthrough["detail"]
            .as_str()
            .is_some_and(|d| d.contains("judged by the client's exit status")),
        "{passthrough}"
    );
    // Through the passthrough tunnel curl reached the upstream itself; through the intercepts
    // it got the local CA's leaf (it trusts the CA, so only its pin refused one).
    let handshakes = up.origin.handshakes();
    assert!(handshakes.iter().any(|h| h.sni.as_deref() == Some(HOST)));
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).expect("the JUnit file");
    assert!(junit.contains("tests=\"3\" failures=\"0\""), "{junit}");
    let before = std::fs::read_to_string(dir.path().join("before.log")).expect("before ran");
    assert_eq!(
        before.lines().collect::<Vec<_>>(),
        [
            "pinned-intercepted",
            "pinned-passthrough",
            "unpinned-intercepted"
        ]
    );
    // The same suite again matches its snapshot (ports and paths are redacted).
    let (code, stdout, stderr) = run(dir.path(), &["device.toml", "--snapshot", "device.snap"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");

    // A before command that fails stops the run (exit 4) and says why.
    let failing = std::fs::read_to_string(dir.path().join("device.toml"))
        .expect("the suite")
        .replace(
            "before = \"echo {case} >> before.log\"",
            "before = \"echo no device >&2; exit 3\"",
        );
    std::fs::write(dir.path().join("failing.toml"), failing).expect("write");
    let (code, _, stderr) = run(dir.path(), &["failing.toml"]);
    assert_eq!(code, Some(4), "{stderr}");
    assert!(
        stderr.contains("the before command") && stderr.contains("no device"),
        "{stderr}"
    );
}

/// Runs `pin-proxy run` on a suite without a client command; for each prompt, `answer` plays
/// the person with the device. Returns (exit code, stderr, the JSON report).
fn run_with_person(dir: &Path, suite: &str, answer: impl Fn(&str)) -> (Option<i32>, String, Value) {
    std::fs::write(dir.join("person.toml"), suite).expect("write the suite");
    let mut child = Command::new(common::bin())
        .current_dir(dir)
        .arg("--ca-dir")
        .arg(dir.join("ca"))
        .args(["run", "person.toml", "--report-json", "person.json"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pin-proxy runs");
    let stderr = child.stderr.take().expect("stderr");
    let mut seen = String::new();
    for line in BufReader::new(stderr).lines().take(200) {
        let Ok(line) = line else { break };
        if line.starts_with(">>> ") {
            answer(&line);
        }
        seen.push_str(&line);
        seen.push('\n');
    }
    let status = child.wait().expect("pin-proxy ends");
    let report = std::fs::read_to_string(dir.join("person.json")).unwrap_or_default();
    (
        status.code(),
        seen,
        serde_json::from_str(&report).unwrap_or(Value::Null),
    )
}

#[test]
fn without_a_command_the_runner_asks_and_waits_for_the_host() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let up = upstream(dir.path());
    let port = free_port();
    let suite = format!(
        r#"[proxy]
ca = "local"
listen = "127.0.0.1:{port}"
upstream_ca = ["upstream-root.pem"]

[client]
timeout = "20s"

[[origin]]
name = "api"
upstream = "{HOST}:443={upstream}"

[[case]]
name = "pinned"
proxy = "intercept"
expect = "cancelled"

[[case]]
name = "readable"
proxy = "intercept"
expect = "proceeded"

[[case]]
name = "nobody"
proxy = "intercept"
expect = "cancelled"
timeout = "1s"
"#,
        upstream = up.origin.addr(),
    );
    let bundle = dir.path().join("bundle.pem");
    let pin = format!("sha256//{}", up.pin);
    let (code, stderr, report) = run_with_person(dir.path(), &suite, |prompt| {
        assert!(
            prompt.contains(&format!(
                "open the app now and use {HOST}: the device's proxy is 127.0.0.1:{port}"
            )),
            "{prompt}"
        );
        if prompt.contains("/ nobody:") {
            return;
        }
        // The CA exists by now (the runner made it): the "device" trusts it and the upstream.
        let mut trust = std::fs::read(dir.path().join("ca/ca.pem")).expect("the local CA");
        trust.extend(std::fs::read(dir.path().join("upstream-root.pem")).expect("the root"));
        std::fs::write(&bundle, trust).expect("write the bundle");
        let mut curl = Command::new("curl");
        curl.args([
            "-sS",
            "-o",
            "/dev/null",
            "--max-time",
            "10",
            "--noproxy",
            "",
        ])
        .arg("--proxy")
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("--cacert")
        .arg(&bundle);
        if prompt.contains("/ pinned:") {
            curl.args(["--pinnedpubkey", &pin]);
        }
        let _ = curl
            .arg(format!("https://{HOST}/home"))
            .output()
            .expect("curl runs");
    });
    // "nobody" is an error (exit 4, as for any case in error), and the other two passed.
    assert_eq!(code, Some(4), "{stderr}");
    let cases = &report["suites"][0]["cases"];
    let status: Vec<(&str, &str)> = cases
        .as_array()
        .map(|cases| {
            cases
                .iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or("?"),
                        c["status"].as_str().unwrap_or("?"),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        status,
        [
            ("pinned", "passed"),
            ("readable", "passed"),
            ("nobody", "error")
        ],
        "{stderr}"
    );
    let nobody = &cases[2];
    assert!(
        nobody["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no connection for api.device.test reached the proxy")),
        "{nobody}"
    );
    assert_eq!(nobody["evidence"]["client"]["exit"]["kind"], "no_command");
}

#[test]
fn device_suite_errors_name_the_field() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cases = [
        (
            "[client]\n[[origin]]\nname = \"api\"\nupstream = \"a.test:443\"\n[[case]]\nname = \"c\"\nproxy = \"passthrough\"\nexpect = \"proceeded\"\n",
            "bad.toml:6: case.proxy: a passthrough case against the upstream origin",
        ),
        (
            "[client]\ncommand = \"x\"\n[[origin]]\nname = \"api\"\nupstream = \"a.test:443\"\n[matrix]\n",
            "bad.toml:6: matrix: origin \"api\" is an upstream",
        ),
        (
            "[client]\ncommand = \"x\"\n[[origin]]\nname = \"api\"\nupstream = \"a.test\"\n[[case]]\nname = \"c\"\nproxy = \"intercept\"\nexpect = \"cancelled\"\n",
            "bad.toml:5: origin.upstream: \"a.test\": expected HOST:PORT",
        ),
        (
            "[client]\ncommand = \"x\"\n[[origin]]\nname = \"api\"\nupstream = \"a.test:443\"\n[[case]]\nname = \"c\"\nproxy = \"intercept\"\npins = [\"api.current\"]\nexpect = \"cancelled\"\n",
            "bad.toml:9: case.pins: \"api.current\": origin \"api\" is an upstream",
        ),
        (
            "[proxy]\nlisten = \"127.0.0.1:0\"\n[client]\ncommand = \"x\"\n",
            "bad.toml:2: proxy.listen: port 0",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(dir.path().join("bad.toml"), text).expect("write");
        let (code, _, stderr) = run(dir.path(), &["--list", "bad.toml"]);
        assert_eq!(code, Some(2), "{text}\n{stderr}");
        assert!(stderr.contains(want), "want {want:?} in {stderr}");
    }
}

#[test]
fn the_shipped_example_device_suite_parses() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/device.example.toml");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (code, stdout, stderr) = run(dir.path(), &["--list", example.to_str().expect("a path")]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("pinned-api"), "{stdout}");
}
