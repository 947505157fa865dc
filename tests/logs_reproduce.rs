//! `pin-proxy logs reproduce --run` on a real or fixture log of each diagnosis: the written suite
//! runs here (test origins on loopback, a proxy per case, `pin-proxy client` with the logged
//! library's policy) and its failure case ends `cancelled`, its fix `proceeded`. A log that lacks
//! what a reproduction needs is refused with exit 2.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pin-proxy"))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/logs")
        .join(name)
}

/// Runs `logs reproduce FIXTURE -o DIR/repro.toml --run` and returns (exit, stdout, suite text).
fn reproduce(log: &Path, extra: &[&str]) -> (Option<i32>, String, String, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("repro.toml");
    let output = Command::new(bin())
        .arg("--ca-dir")
        .arg(dir.path().join("ca"))
        .args(["logs", "reproduce"])
        .arg(log)
        .arg("-o")
        .arg(&out)
        .args(extra)
        .output()
        .expect("pin-proxy runs");
    let suite = std::fs::read_to_string(&out).unwrap_or_default();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
        suite,
    )
}

/// The results-table row of a case.
fn row<'a>(stdout: &'a str, case: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| (l.starts_with("PASSED") || l.starts_with("FAILED")) && l.contains(case))
        .unwrap_or_else(|| panic!("no row for {case} in:\n{stdout}"))
}

#[test]
fn each_diagnosis_fails_the_same_way_and_its_fix_passes() {
    let cases: [(&str, &[&str], &str, &str, &str); 5] = [
        (
            "trustkit-report-sample.log",
            &[],
            "key_rotated",
            "failure/key-rotated",
            "fix/backup-pin",
        ),
        (
            "okhttp-logcat-burp-slash-pin.log",
            &[],
            "intercepted",
            "failure/intercepted",
            "fix/passthrough",
        ),
        (
            "alamofire-reasons.log",
            &["--failure", "4"],
            "no_pins_for_host",
            "failure/no-pins-for-host",
            "fix/pins-for-host",
        ),
        (
            "android-trust-anchor-not-found.log",
            &[],
            "trust_failure",
            "failure/untrusted-ca",
            "fix/ca-trusted",
        ),
        (
            "curl-rotated.log",
            &[],
            "key_rotated",
            "failure/key-rotated",
            "fix/backup-pin",
        ),
    ];
    for (log, extra, diagnosis, failure, fix) in cases {
        let mut args = vec!["--run"];
        args.extend_from_slice(extra);
        let (code, stdout, stderr, suite) = reproduce(&fixture(log), &args);
        assert_eq!(code, Some(0), "{log}: {stderr}\n{stdout}\n{suite}");
        assert!(stderr.contains(diagnosis), "{log}: {stderr}");
        let failed = row(&stdout, failure);
        assert!(failed.contains("cancelled  cancelled"), "{log}: {failed}");
        let fixed = row(&stdout, fix);
        assert!(fixed.contains("proceeded  proceeded"), "{log}: {fixed}");
        // Every value names the log line it came from.
        assert!(suite.contains("# Source: "), "{suite}");
        assert!(suite.contains("(line "), "{suite}");
    }
}

#[test]
fn a_rotation_keeps_the_logged_depth_and_subjects() {
    let (code, _, stderr, suite) = reproduce(&fixture("trustkit-report-sample.log"), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        suite.contains("\"CN=Thawte SSL CA,O=Thawte\\\\, Inc.,C=US\""),
        "{suite}"
    );
    assert!(
        suite.contains("\"--match\", \"chain\", \"--missing-pin\", \"fail-closed\""),
        "{suite}"
    );
    let (_, _, _, okhttp) = reproduce(&fixture("okhttp-jvm-rotated.log"), &[]);
    assert!(
        okhttp.contains("\"--missing-pin\", \"fail-open\""),
        "{okhttp}"
    );
}

#[test]
fn a_users_own_client_goes_in_as_given() {
    let (code, _, stderr, suite) = reproduce(
        &fixture("curl-rotated.log"),
        &[
            "--client",
            "curl -sS --proxy \"$PIN_PROXY_PROXY_URL\" \"$PIN_PROXY_URL\"",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        suite.contains(
            "command = \"curl -sS --proxy \\\"$PIN_PROXY_PROXY_URL\\\" \\\"$PIN_PROXY_URL\\\"\""
        ),
        "{suite}"
    );
}

#[test]
fn what_cannot_be_reproduced_is_refused() {
    let (code, _, stderr, suite) = reproduce(
        &fixture("urllib3-fingerprint-mismatch.log"),
        &["--failure", "1"],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot be reproduced") && stderr.contains("names"),
        "{stderr}"
    );
    assert!(suite.is_empty());

    let (code, _, stderr, _) = reproduce(&fixture("no-failure.log"), &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("no pinning failure found in"), "{stderr}");

    let (code, _, stderr, _) = reproduce(&fixture("curl-rotated.log"), &["--failure", "9"]);
    assert_eq!(code, Some(2), "{stderr}");

    // An existing file is kept unless --force.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("mine.toml");
    std::fs::write(&out, "# my own suite\n").expect("write");
    let status = Command::new(bin())
        .args(["logs", "reproduce"])
        .arg(fixture("curl-rotated.log"))
        .arg("-o")
        .arg(&out)
        .output()
        .expect("pin-proxy runs");
    assert_eq!(status.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap_or_default(),
        "# my own suite\n"
    );
}
