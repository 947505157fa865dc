//! `pin-proxy logs collect` end to end: the real binary on 127.0.0.1:0, TrustKit's own sample
//! report posted by real clients (curl, and Python's urllib.request), garbage of every kind
//! (other methods, oversized, non-JSON and non-report bodies, bytes that are not HTTP) with the
//! server still serving after it, the LAN rule (a LAN address needs `--allow-from`; in network
//! namespaces of the test's own, a client outside the list is disconnected and one inside is
//! collected), and `logs explain` on the collected file. Every wait is bounded.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// TrustKit's `docs/sample_report.json`, byte for byte (tests/data/README.md).
const SAMPLE: &str = "tests/data/trustkit-report-sample.json";
/// The SPKI pins of the sample's three certificates, leaf first (computed with Python's
/// cryptography when the sample was taken in, not by pin-proxy).
const SAMPLE_CHAIN_PINS: [&str; 3] = [
    "0SDf3cRToyZJaMsoS17oF72VMavLxj/N7WBNasNuiR8=",
    "J0HK633IekUIMgCxADcUXWl3I+wr1XIbHkr038xIyRk=",
    "HXXQgxueCIU5TTLHob/bPbwcKOKw6DkfsTWYHbxbqTY=",
];
const SAMPLE_KNOWN_PINS: [&str; 2] = [
    "rFjc3wG7lTZe43zeYTvPq8k4xdDEutCmIhI5dn4oCeE=",
    "TQEtdMbmwFgYUifM4LDF+xgEtd0z69mPGmkp014d6ZY=",
];
const WAIT: Duration = Duration::from_secs(10);

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(SAMPLE)
}

/// A running `logs collect`, its output lines as they come.
struct Collector {
    child: Child,
    addr: SocketAddr,
    out: PathBuf,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    /// Every stderr line read so far.
    seen: Vec<String>,
}

impl Collector {
    fn start(out: &Path, extra: &[&str]) -> Self {
        Self::start_in(None, "127.0.0.1:0", out, extra)
    }

    /// Started in a network namespace (`ip netns exec NS`) when one is given.
    fn start_in(lan: Option<&common::Lan>, listen: &str, out: &Path, extra: &[&str]) -> Self {
        let mut cmd = match lan {
            Some(lan) => lan.server(&common::bin()),
            None => Command::new(common::bin()),
        };
        let mut child = cmd
            .args(["logs", "collect", "--listen", listen, "--out"])
            .arg(out)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pin-proxy logs collect");
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        let mut collector = Self {
            child,
            addr: "127.0.0.1:0".parse().unwrap(),
            out: out.to_path_buf(),
            stdout,
            stderr,
            seen: Vec::new(),
        };
        let start = collector.stderr_line(|l| l.contains("listening on "));
        let addr = start
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .unwrap_or_default();
        collector.addr = addr.parse().unwrap_or_else(|e| panic!("{start}: {e}"));
        assert_ne!(collector.addr.port(), 0, "{start}");
        assert!(
            start.contains(&format!("report URL http://{}/report", collector.addr)),
            "{start}"
        );
        collector
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next report line on stdout.
    fn stdout_line(&self) -> String {
        self.stdout
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("no stdout line within {WAIT:?}: {e}"))
    }

    /// Reads stderr until a line matches (within [`WAIT`]).
    fn stderr_line(&mut self, matches: impl Fn(&str) -> bool) -> String {
        if let Some(l) = self.seen.iter().find(|l| matches(l)) {
            return l.clone();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if matches(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no such stderr line within {WAIT:?}; seen:\n{:#?}",
                    self.seen
                ),
            }
        }
    }

    /// The rest of stderr, once the process has exited.
    fn drain_stderr(&mut self) {
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
    }

    fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.wait_exit()
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.drain_stderr();
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "logs collect did not exit; stderr: {:#?}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The reports file, each line parsed.
    fn lines(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.out).unwrap();
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "half a line: {text}"
        );
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l}: {e}")))
            .collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn lines(from: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Runs a client to its end, killing it after 20 s.
fn run(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the client is installed");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// curl: (status, response head and body).
fn curl(args: &[&str]) -> (u16, String) {
    let output = run(Command::new("curl")
        .args(["-sS", "-i", "--max-time", "10", "--noproxy", "*"])
        .args(["-w", "\n%{http_code}"])
        .args(args));
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let (response, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let code = code.trim().parse().unwrap_or_else(|_| {
        panic!(
            "curl {args:?}: {text}; {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (code, response.to_string())
}

/// POSTs the file `body` with Python's urllib.request (`-` for no Content-Type of our own:
/// urllib then says application/x-www-form-urlencoded): (status, body).
fn urllib(url: &str, body: &Path, content_type: &str) -> (u16, String) {
    const SCRIPT: &str = r#"
import sys, urllib.request, urllib.error
url, path, ctype = sys.argv[1:4]
data = open(path, "rb").read()
headers = {} if ctype == "-" else {"Content-Type": ctype}
req = urllib.request.Request(url, data=data, headers=headers, method="POST")
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(req, timeout=10) as r:
        print(r.status)
        print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code)
    print(e.read().decode())
"#;
    let output = run(Command::new("python3")
        .args(["-c", SCRIPT, url])
        .arg(body)
        .arg(content_type));
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let (code, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let code = code.trim().parse().unwrap_or_else(|_| {
        panic!(
            "urllib: {text}; {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (code, rest.to_string())
}

fn post_file(url: &str, body: &Path, content_type: &str) -> (u16, String) {
    let data = format!("@{}", body.display());
    curl(&[
        "-X",
        "POST",
        "-H",
        &format!("Content-Type: {content_type}"),
        "--data-binary",
        &data,
        url,
    ])
}

fn explain(args: &[&str]) -> Output {
    run(Command::new(common::bin())
        .args(["logs", "explain"])
        .args(args))
}

fn assert_explained(line: &str) {
    assert!(
        line.contains(" www.datatheorem.com:443 key_rotated: TrustKit says"),
        "{line}"
    );
    // `<RFC 3339 UTC, ms> <host>:<port> <diagnosis>: <explanation>`
    let time = line.split(' ').next().unwrap_or_default();
    assert!(
        time.len() == 24 && time.as_bytes()[10] == b'T' && time.ends_with('Z'),
        "{line}"
    );
}

#[test]
fn reports_from_curl_and_urllib_are_collected_and_explained() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports.jsonl");
    let sample_path = sample();
    let sample: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sample_path).unwrap()).unwrap();
    let mut c = Collector::start(&out, &[]);

    let (status, page) = curl(&[&c.url("/")]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("TrustKit report-uri endpoint"), "{page}");
    assert!(page.contains("0 reports collected since start"), "{page}");

    // As TrustKit iOS posts it: application/json, a Content-Length.
    let (status, body) = post_file(&c.url("/report"), &sample_path, "application/json");
    assert_eq!(status, 204, "{body}");
    assert_explained(&c.stdout_line());

    // Python's urllib.request, to another path with a query.
    let (status, body) = urllib(
        &c.url("/trustkit/report?app=ios"),
        &sample_path,
        "application/json",
    );
    assert_eq!(status, 204, "{body}");
    assert_explained(&c.stdout_line());

    // As TrustKit-Android posts it: application/json in chunks (setChunkedStreamingMode).
    let data = format!("@{}", sample_path.display());
    let (status, body) = curl(&[
        "-H",
        "Content-Type: application/json",
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &data,
        &c.url("/report"),
    ]);
    assert_eq!(status, 204, "{body}");
    assert_explained(&c.stdout_line());

    // urllib's default content type (form-urlencoded): the body parses, so it is taken.
    let (status, body) = urllib(&c.url("/report"), &sample_path, "-");
    assert_eq!(status, 204, "{body}");
    assert_explained(&c.stdout_line());

    let (status, page) = curl(&[&c.url("/")]);
    assert_eq!(status, 200);
    assert!(page.contains("4 reports collected since start"), "{page}");

    assert!(c.terminate().success(), "{:#?}", c.seen);
    c.stderr_line(|l| l.contains("stopped; 4 reports collected into"));

    let lines = c.lines();
    assert_eq!(lines.len(), 4);
    let paths: Vec<&str> = lines.iter().filter_map(|l| l["path"].as_str()).collect();
    assert_eq!(
        paths,
        ["/report", "/trustkit/report?app=ios", "/report", "/report"]
    );
    for line in &lines {
        let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 4, "{line}");
        assert_eq!(line["from"], "127.0.0.1");
        let received = line["received"].as_str().unwrap();
        assert!(
            received.len() == 24 && received.ends_with('Z'),
            "{received}"
        );
        assert_eq!(line["report"], sample);
    }
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with(r#"{"received":""#)
            && text.contains(r#"","from":"127.0.0.1","path":"/report","report":{"app-bundle-id":"#),
        "{text}"
    );

    // logs explain reads the collected file: one failure, four times.
    let output = explain(&[out.to_str().unwrap(), "--json"]);
    assert!(output.status.success(), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let failures = json["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{json:#}");
    let f = &failures[0];
    assert_eq!(f["format"], "trustkit-report");
    assert_eq!(f["host"], "www.datatheorem.com");
    assert_eq!(f["port"], 443);
    assert_eq!(f["line"], 1);
    assert_eq!(f["count"], 4);
    assert_eq!(f["diagnosis"], "key_rotated");
    assert_eq!(f["pin_kind"], "spki-sha256");
    assert_eq!(f["pinned_pins"], serde_json::json!(SAMPLE_KNOWN_PINS));
    let chain: Vec<&str> = f["presented_chain"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["pin"].as_str())
        .collect();
    assert_eq!(chain, SAMPLE_CHAIN_PINS);
    let output = explain(&[out.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("trustkit-report · www.datatheorem.com:443 · key_rotated, 4 times"),
        "{text}"
    );

    // Started again on the same file, it appends; --max-reports 1 ends it after one report.
    let mut c = Collector::start(&out, &["--max-reports", "1"]);
    let (status, _) = post_file(&c.url("/report"), &sample_path, "text/plain");
    assert_eq!(status, 204);
    assert_explained(&c.stdout_line());
    assert!(c.wait_exit().success(), "{:#?}", c.seen);
    assert_eq!(c.lines().len(), 5);
}

#[test]
fn garbage_is_answered_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports.jsonl");
    let mut c = Collector::start(&out, &["--max-reports", "1"]);
    let file = |name: &str, data: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, data).unwrap();
        path
    };
    let big = file("big.json", &vec![b' '; 300 << 10]);
    let text = file("hello.txt", b"hello, not json");
    let empty = file("empty", b"");
    let object = file("object.json", br#"{"hello": "world"}"#);
    let array = file("array.json", b"[]");
    let report = c.url("/report");

    let (status, resp) = curl(&["-X", "PUT", "--data", "x", &report]);
    assert_eq!(status, 405, "{resp}");
    assert!(
        resp.to_ascii_lowercase().contains("\nallow: post\r"),
        "{resp}"
    );
    let (status, resp) = curl(&["-X", "DELETE", &c.url("/")]);
    assert_eq!(status, 405, "{resp}");
    assert!(
        resp.to_ascii_lowercase()
            .contains("\nallow: get, head, post\r"),
        "{resp}"
    );
    let (status, _) = curl(&[&report]);
    assert_eq!(status, 405);

    // 300 KiB: told before the body with Expect: 100-continue, after 256 KiB without, and
    // in chunks; each client reads the 413 (the rest of the body is drained, not reset).
    let data = format!("@{}", big.display());
    for extra in [
        ["-H", "Expect: 100-continue"],
        ["-H", "Expect:"],
        ["-H", "Transfer-Encoding: chunked"],
    ] {
        let mut args = vec!["-H", "Content-Type: application/json"];
        args.extend(extra);
        args.extend(["--data-binary", &data, &report]);
        let (status, resp) = curl(&args);
        assert_eq!(status, 413, "{extra:?}: {resp}");
        assert!(resp.contains("over 262144 bytes"), "{resp}");
    }
    let (status, resp) = urllib(&report, &big, "application/json");
    assert_eq!(status, 413, "{resp}");

    let (status, resp) = post_file(&report, &text, "text/plain");
    assert_eq!(status, 400, "{resp}");
    assert!(resp.contains("the body is not JSON"), "{resp}");
    let (status, resp) = post_file(&report, &text, "image/png");
    assert_eq!(status, 415, "{resp}");
    let (status, resp) = urllib(&report, &text, "-");
    assert_eq!(status, 415, "{resp}");
    assert!(resp.contains("application/x-www-form-urlencoded"), "{resp}");
    let (status, _) = post_file(&report, &empty, "application/json");
    assert_eq!(status, 400);
    for not_a_report in [&object, &array] {
        let (status, resp) = post_file(&report, not_a_report, "application/json");
        assert_eq!(status, 400, "{resp}");
        assert!(resp.contains("not a TrustKit report"), "{resp}");
    }

    // Bytes that are not HTTP (a TLS ClientHello's start): a 400 or a close, nothing else.
    let mut tcp = TcpStream::connect(c.addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03junk\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    // A connection that says nothing and goes away.
    drop(TcpStream::connect(c.addr).unwrap());

    for (status, what) in [
        (405, "PUT /report"),
        (405, "DELETE /"),
        (405, "GET /report"),
        (413, "POST /report"),
        (400, "POST /report: the body is not JSON"),
        (415, "POST /report: content type image/png"),
        (400, "POST /report: JSON, but not a TrustKit report"),
        (400, "not an HTTP/1.1 request"),
    ] {
        let needle = format!(" {status} {what}");
        let line = c.stderr_line(|l| l.contains(&needle));
        assert!(line.contains(" 127.0.0.1:"), "{line}");
    }
    let (status, page) = curl(&[&c.url("/")]);
    assert_eq!(status, 200);
    assert!(page.contains("0 reports collected"), "{page}");
    assert!(c.lines().is_empty());

    // Still serving: a report goes in, and --max-reports 1 ends the collector.
    let (status, body) = post_file(&report, &sample(), "application/json");
    assert_eq!(status, 204, "{body}");
    assert_explained(&c.stdout_line());
    assert!(c.wait_exit().success(), "{:#?}", c.seen);
    assert_eq!(c.lines().len(), 1);
}

#[test]
fn only_loopback_and_an_existing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports.jsonl");
    let out = out.to_str().unwrap();
    for lan in ["0.0.0.0:0", "[::]:0", "192.0.2.1:8765"] {
        let (code, stderr) = common::run_cli(
            dir.path(),
            &["logs", "collect", "--listen", lan, "--out", out],
        );
        assert_eq!(code, Some(2), "{lan}: {stderr}");
        assert!(stderr.contains("is not a loopback address"), "{stderr}");
        assert!(stderr.contains("needs --allow-from CIDR"), "{stderr}");
    }
    assert!(
        !Path::new(out).exists(),
        "refused before the file was opened"
    );
    let missing = dir.path().join("no-such-dir/reports.jsonl");
    let (code, stderr) = common::run_cli(
        dir.path(),
        &[
            "logs",
            "collect",
            "--listen",
            "127.0.0.1:0",
            "--out",
            missing.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
}

#[test]
fn explain_json_into_a_closed_pipe_is_not_an_error() {
    // 300 reports for 300 hosts: far more `--json` than a pipe holds, read by a consumer that
    // stops after one line (`| head -1`).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reports.jsonl");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sample()).unwrap()).unwrap();
    let mut lines = String::new();
    for i in 0..300 {
        let mut r = report.clone();
        r["hostname"] = format!("host{i}.example.com").into();
        let line = serde_json::json!({"received": "2026-12-02T10:00:00.000Z", "from": "127.0.0.1",
            "path": "/report", "report": r});
        lines.push_str(&format!("{line}\n"));
    }
    std::fs::write(&file, lines).unwrap();
    let mut child = Command::new(common::bin())
        .args(["logs", "explain", "--json"])
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first.trim(), "{");
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "logs explain did not exit");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(!stderr.contains("cannot write"), "{stderr}");
}

/// POSTs the sample report from the client namespace; curl's exit code and the status.
fn post_from(lan: &common::Lan, addr: SocketAddr) -> (Option<i32>, String) {
    let out = lan
        .client("curl")
        .args(["-sS", "--max-time", "5"])
        .args([
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "Content-Type: application/json",
        ])
        .arg("--data-binary")
        .arg(format!("@{}", sample().display()))
        .arg(format!("http://{addr}/report"))
        .output()
        .expect("curl runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

#[test]
fn a_lan_address_needs_allow_from_and_others_are_disconnected() {
    let Some(lan) = common::Lan::new("b") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports.jsonl");
    let listen = format!("{}:0", lan.server_ip);

    // Allowed: another host only. The client's connection is closed unread, and said so.
    let mut c = Collector::start_in(Some(&lan), &listen, &out, &["--allow-from", "192.0.2.0/24"]);
    let (code, status) = post_from(&lan, c.addr);
    assert_ne!(code, Some(0), "curl should fail: {status}");
    let refused = c.stderr_line(|l| l.contains("refused: not in --allow-from"));
    assert!(refused.contains(&lan.client_ip), "{refused}");
    assert!(c.lines().is_empty(), "nothing collected");
    let _ = c.child.kill();
    let _ = c.child.wait();

    // The client's range allowed: the report goes in.
    let range = format!("{}/24", lan.client_ip);
    let mut c = Collector::start_in(
        Some(&lan),
        &listen,
        &out,
        &["--allow-from", &range, "--max-reports", "1"],
    );
    let (code, status) = post_from(&lan, c.addr);
    assert_eq!((code, status.as_str()), (Some(0), "204"));
    assert_explained(&c.stdout_line());
    assert!(c.wait_exit().success(), "{:#?}", c.seen);
    assert_eq!(c.lines().len(), 1);
}
