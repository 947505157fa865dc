//! `pin-proxy run` end to end: the shipped suites against real clients (curl, Python's ssl,
//! Node's tls) with their checked-in snapshots, every family of the standard matrix, and what
//! happens with a wrong expectation, a tampered snapshot, malformed files, a hanging client, a
//! client that ignores the proxy and a client that does not exist.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::prelude::*;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The binary, run in `dir`, with its CA home in `dir` (no suite here uses it, but nothing may
/// touch the user's).
fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("pin-proxy")
        .unwrap()
        .current_dir(dir)
        .env("PIN_PROXY_HOME", dir.join("ca-home"))
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn cases(report: &Value) -> Vec<Value> {
    report["suites"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["cases"].as_array().unwrap().clone())
        .collect()
}

fn case<'a>(cases: &'a [Value], name: &str) -> &'a Value {
    cases
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

/// A scratch directory with `suite.toml` holding `toml`.
fn suite_dir(toml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("suite.toml"), toml).unwrap();
    dir
}

/// curl through the proxy, pinning whatever the case gives, by shell string and environment.
const CURL_SHELL: &str = r#"command = "curl -sS --max-time 10 -o /dev/null --cacert \"$PIN_PROXY_TRUST_BUNDLE\" ${PIN_PROXY_PINS_CURL:+--pinnedpubkey \"$PIN_PROXY_PINS_CURL\"} --proxy \"$PIN_PROXY_PROXY_URL\" \"$PIN_PROXY_URL\"""#;

#[test]
fn the_curl_suite_covers_every_family_and_matches_its_snapshot() {
    let out_dir = tempfile::tempdir().unwrap();
    let json = out_dir.path().join("report.json");
    let out = run_in(
        &repo(),
        &[
            "run",
            "scenarios/curl.toml",
            "--report-json",
            json.to_str().unwrap(),
            "--snapshot",
            "scenarios/curl.snap",
        ],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report = read_json(&json);
    assert_eq!(report["schema"], 1);
    let all = cases(&report);
    let families: BTreeSet<&str> = all.iter().filter_map(|c| c["family"].as_str()).collect();
    assert_eq!(
        families,
        BTreeSet::from(["chain", "missing-pin", "pinned", "rotated", "unpinned"])
    );
    assert!(all.iter().all(|c| c["status"] == "passed"));
    let pins = &report["suites"][0]["known_pins"];
    // Every generated CA has a name of its own, naming its origin.
    let subjects = &report["suites"][0]["known_subjects"];
    let api_root = subjects["api.root"].as_str().unwrap();
    assert!(
        api_root.starts_with("pin-proxy test root api "),
        "{subjects}"
    );
    assert!(subjects["cdn.root"]
        .as_str()
        .unwrap()
        .starts_with("pin-proxy test root cdn "));
    assert_ne!(subjects["api.intermediate"], subjects["cdn.intermediate"]);
    assert!(subjects["proxy.ca"]
        .as_str()
        .unwrap()
        .starts_with("pin-proxy scenario CA "));

    // Intercepted and pinned: the forged leaf (its own key, not the CA's) was presented and
    // curl closed after the handshake with its pin error.
    let pinned = case(&all, "api/pinned/intercept");
    let conn = &pinned["evidence"]["connections"][0];
    assert_eq!(conn["verdict"], "cancelled");
    assert_eq!(conn["stage"], "after_handshake");
    assert_eq!(conn["presented_pin"], pins["proxy.forged"]);
    assert_ne!(pins["proxy.forged"], pins["proxy.ca"]);
    assert_eq!(pinned["pins"][0]["pin"], pins["api.current"]);
    assert_eq!(pinned["evidence"]["client"]["exit"]["code"], 90);
    assert!(pinned["evidence"]["origin_requests"]
        .as_array()
        .unwrap()
        .is_empty());

    // Unpinned: the request was read by the proxy and reached the origin.
    let unpinned = case(&all, "api/unpinned/intercept");
    assert_eq!(
        unpinned["evidence"]["connections"][0]["requests"][0]["path"],
        "/pin-proxy/api/unpinned/intercept"
    );
    // Rotated with a backup pin: passthrough, so the origin (serving the next key) decides.
    let rotated = case(&all, "api/rotated/with-backup");
    assert_eq!(rotated["origin_key"], "next");
    assert_eq!(
        rotated["evidence"]["connections"][0]["verdict"],
        "passthrough"
    );
    assert_eq!(
        rotated["evidence"]["origin_requests"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let rotated_out = case(&all, "api/rotated/current-only");
    assert_eq!(rotated_out["observed"], "cancelled");
    assert!(rotated_out["evidence"]["origin_requests"]
        .as_array()
        .unwrap()
        .is_empty());
    // Missing pin: curl holds pins for the other origin only, and fails closed.
    let missing = case(&all, "api/missing-pin/intercept");
    assert_eq!(missing["pinned_host"], "cdn.example.test");
    assert_eq!(missing["observed"], "cancelled");
    // Chain: curl checks the leaf only, so an intermediate pin fails even without a proxy.
    assert_eq!(
        case(&all, "api/chain/intermediate-passthrough")["observed"],
        "cancelled"
    );
}

#[test]
fn the_other_shipped_suites_match_their_snapshots() {
    // wget links GnuTLS, which picks an issuer by name: its suite (two origins, both through the
    // matrix) is the regression test for test PKIs whose CAs share a name. The reference suites
    // drive `pin-proxy client` through `{bin}`, in each of its four policies.
    let suites = [
        (Some("python3"), "python"),
        (Some("node"), "node"),
        (Some("wget"), "wget"),
        (None, "reference-chain-fail-closed"),
        (None, "reference-chain-fail-open"),
        (None, "reference-leaf-fail-closed"),
        (None, "reference-leaf-fail-open"),
        (None, "dynamic-pinning"),
    ];
    for (client, suite) in suites {
        if let Some(client) = client {
            let found = Command::new(client).arg("--version").output();
            assert!(
                found.is_ok_and(|o| o.status.success()),
                "{client} is needed for the {suite} suite (.ci/run installs it)"
            );
        }
        let toml = format!("scenarios/{suite}.toml");
        let snap = format!("scenarios/{suite}.snap");
        let out = run_in(&repo(), &["run", &toml, "--snapshot", &snap]);
        assert!(
            out.status.success(),
            "{suite}: {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
}

/// The reference client through a static-pin rotation, one step at a time.
const STEPPED: &str = r#"[suite]
name = "stepped"

[client]
command = ["{bin}", "client", "{url}", "--proxy", "{proxy}", "--ca", "{trust_bundle}",
           "--no-system-roots", ["--pin", "{pins}"]]

[[origin]]
name = "api"
host = "api.example.test"

[[case]]
name = "rotation"
proxy = "passthrough"
pins = ["api.current"]
reason = "a static pin goes dark at the rotation; a backup pin saves it"

[[case.step]]
name = "before"
expect = "proceeded"
exit = 0

[[case.step]]
name = "rotated"
origin_key = "next"
expect = "cancelled"
exit = 10

[[case.step]]
name = "with-backup"
pins = ["api.current", "api.next"]
expect = "proceeded"
"#;

#[test]
fn a_stepped_case_carries_its_setup_from_step_to_step_and_reports_every_step() {
    let dir = suite_dir(STEPPED);
    let snap = dir.path().join("stepped.snap");
    let json = dir.path().join("report.json");
    let out = run_in(
        dir.path(),
        &[
            "run",
            "suite.toml",
            "--report-json",
            json.to_str().unwrap(),
            "--snapshot",
            snap.to_str().unwrap(),
            "--update-snapshot",
        ],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report = read_json(&json);
    let case = &cases(&report)[0];
    let steps = case["steps"].as_array().unwrap();
    let seen: Vec<(&str, &str, &str, &str)> = steps
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["origin_key"].as_str().unwrap(),
                s["observed"].as_str().unwrap(),
                s["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("before", "current", "proceeded", "passed"),
            // The rotation carries over into the next step.
            ("rotated", "next", "cancelled", "passed"),
            ("with-backup", "next", "proceeded", "passed"),
        ]
    );
    assert_eq!(steps[1]["expected_exit"], 10);
    assert_eq!(steps[1]["evidence"]["client"]["exit"]["code"], 10);
    assert_eq!(steps[2]["pins"].as_array().unwrap().len(), 2);
    // Each step's request names it at the origin.
    assert_eq!(
        steps[2]["evidence"]["origin_requests"][0]["path"],
        "/pin-proxy/rotation/with-backup"
    );
    let snapshot = std::fs::read_to_string(&snap).unwrap();
    for line in [
        "  step 1 before · expects exit 0",
        "  step 2 rotated · expects exit 10",
        "    setup:    api.example.test · proxy passthrough · origin key next · pins api.current",
        "  step 3 with-backup",
    ] {
        assert!(
            snapshot.contains(&format!("{line}\n")),
            "{line}\n{snapshot}"
        );
    }

    // A step whose exit code differs fails the case, and JUnit names the step.
    let wrong = STEPPED.replace("exit = 10", "exit = 11");
    let dir = suite_dir(&wrong);
    let out = run_in(dir.path(), &["run", "suite.toml", "--junit", "junit.xml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("step 2 rotated: expected cancelled, observed cancelled (failed)"),
        "{stdout}"
    );
    assert!(stdout.contains("step 1 before: expected proceeded, observed proceeded (passed)"));
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains(
            "message=\"expected cancelled, observed cancelled: step 2 (rotated): the client \
             completed the handshake with the origin and closed without a request; but the \
             client exited with code 10, not the 11 expected\""
        ),
        "{junit}"
    );
}

/// Origins with chains of their own: `api` of depth 4 with given subjects (ca2's generated),
/// `cdn` of depth 2 (the root signs the leaf). The reference client pins `api.ca2` and keeps its
/// `--json` result beside the suite; `openssl s_client` shows what the origin sends.
const DEEP_CHAIN: &str = r#"[suite]
name = "deep-chain"

[client]
command = '''if [ "$PIN_PROXY_CASE" = api/s_client ]; then printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$PIN_PROXY_PATH" "$PIN_PROXY_HOST" | openssl s_client -proxy "$PIN_PROXY_PROXY" -connect "$PIN_PROXY_HOST:443" -servername "$PIN_PROXY_HOST" -CAfile "$PIN_PROXY_TRUST_BUNDLE" -verify_return_error -ign_eof -nameopt RFC2253 2>&1 | grep -E '^ *[0-9]+ s:|^ +i:|^Verify return code|^HTTP/'; else "$PIN_PROXY_BIN" client "$PIN_PROXY_URL" --proxy "$PIN_PROXY_PROXY" --ca "$PIN_PROXY_TRUST_BUNDLE" --no-system-roots ${PIN_PROXY_PINS:+--pin "$PIN_PROXY_PINS"} --match chain --json > "$PIN_PROXY_SUITE_DIR/${PIN_PROXY_CASE##*/}.json"; code=$?; cat "$PIN_PROXY_SUITE_DIR/${PIN_PROXY_CASE##*/}.json"; exit $code; fi'''
timeout = "20s"

[[origin]]
name = "api"
host = "api.example.test"
depth = 4
chain = ["CN=leaf.example,O=Example", "CN=Example Issuing CA 1,O=Example", "", "CN=Example Root,O=Example,C=US"]

[[origin]]
name = "cdn"
host = "cdn.example.test"
depth = 2

[matrix]
origins = ["cdn"]
families = ["chain"]
chain_pins = true

[[case]]
name = "api/ca2-passthrough"
origin = "api"
proxy = "passthrough"
pins = ["api.ca2"]
expect = "proceeded"
reason = "a pin on the second intermediate matches the real chain"

[[case]]
name = "api/ca2-intercept"
origin = "api"
proxy = "intercept"
pins = ["api.ca2"]
expect = "cancelled"
reason = "the forged chain has no api.ca2"

[[case]]
name = "api/s_client"
origin = "api"
proxy = "passthrough"
expect = "proceeded"
reason = "openssl builds and verifies the chain the origin sends"
"#;

#[test]
fn an_origin_of_depth_4_with_given_subjects_sends_its_chain_and_a_pin_on_ca2_proceeds() {
    let found = Command::new("openssl").arg("version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "openssl is needed (.ci/run installs it)"
    );
    let dir = suite_dir(DEEP_CHAIN);
    let out = run_in(
        dir.path(),
        &[
            "run",
            "suite.toml",
            "--report-json",
            "r.json",
            "--snapshot",
            "s.snap",
            "--update-snapshot",
        ],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report = read_json(&dir.path().join("r.json"));
    let suite = &report["suites"][0];
    let all = cases(&report);
    let names: Vec<&str> = all.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "cdn/chain/root-passthrough",
            "cdn/chain/root-intercept",
            "api/ca2-passthrough",
            "api/ca2-intercept",
            "api/s_client"
        ],
        "at depth 2 the chain family has no intermediate variants"
    );
    assert!(all.iter().all(|c| c["status"] == "passed"));
    assert_eq!(
        suite["notes"][0],
        "chain: intermediate variants skipped for origin \"cdn\", whose chain of depth 2 has no \
         intermediate (the root signs the leaf)"
    );

    // One name per CA; only generated CA names are the run's to redact.
    let pins = &suite["known_pins"];
    for name in ["api.intermediate", "api.ca2", "api.root", "cdn.root"] {
        assert!(pins[name].is_string(), "{name}: {pins}");
    }
    assert!(pins.get("cdn.intermediate").is_none() && pins.get("api.ca1").is_none());
    let subjects = &suite["known_subjects"];
    assert!(subjects["api.ca2"]
        .as_str()
        .unwrap()
        .starts_with("pin-proxy test intermediate 2 api "));
    assert!(subjects["cdn.root"]
        .as_str()
        .unwrap()
        .starts_with("pin-proxy test root cdn "));
    assert!(subjects.get("api.root").is_none() && subjects.get("api.intermediate").is_none());

    // The reference client got leaf, ca1 and ca2 (not the root), built the path to the given
    // root from the trust bundle, and let the pin on ca2 through.
    let pinned = case(&all, "api/ca2-passthrough");
    assert_eq!(pinned["pins"][0]["reference"], "api.ca2");
    assert_eq!(pinned["pins"][0]["pin"], pins["api.ca2"]);
    assert_eq!(pinned["evidence"]["client"]["exit"]["code"], 0);
    let result = read_json(&dir.path().join("ca2-passthrough.json"));
    let common_names = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|c| c["common_name"].as_str().unwrap().to_string())
            .collect()
    };
    let generated = subjects["api.ca2"].as_str().unwrap();
    assert_eq!(
        common_names(&result["presented"]),
        ["leaf.example", "Example Issuing CA 1", generated]
    );
    assert_eq!(
        common_names(&result["verified_path"]),
        [
            "leaf.example",
            "Example Issuing CA 1",
            generated,
            "Example Root"
        ]
    );
    let path = result["verified_path"].as_array().unwrap();
    assert_eq!(path[3]["source"], "trust_store");
    assert_eq!(path[3]["pin"], pins["api.root"]);
    assert_eq!(path[1]["pin"], pins["api.intermediate"]);
    assert_eq!(result["matched_pin"]["position"], 2);
    assert_eq!(result["matched_pin"]["pin"], pins["api.ca2"]);
    assert_eq!(
        (&result["outcome"], &result["status"]),
        (&"ok".into(), &200.into())
    );

    // Through the proxy's forged chain the same pin matches nothing.
    let forged = case(&all, "api/ca2-intercept");
    assert_eq!(forged["observed"], "cancelled");
    assert_eq!(forged["evidence"]["client"]["exit"]["code"], 10);

    // OpenSSL sees the same three certificates, each subject printed as the suite wrote it,
    // and verifies them.
    let shown = case(&all, "api/s_client")["evidence"]["client"]["stdout_tail"]
        .as_str()
        .unwrap()
        .replace(generated, "GENERATED");
    assert_eq!(
        shown,
        " 0 s:CN=leaf.example,O=Example\n   i:CN=Example Issuing CA 1,O=Example\n \
         1 s:CN=Example Issuing CA 1,O=Example\n   \
         i:CN=GENERATED,O=pin-proxy test origin (throwaway)\n \
         2 s:CN=GENERATED,O=pin-proxy test origin (throwaway)\n   \
         i:CN=Example Root,O=Example,C=US\nVerify return code: 0 (ok)\nHTTP/1.1 200 OK",
    );

    // The snapshot names the pin as written and holds no generated CA name.
    let snap = std::fs::read_to_string(dir.path().join("s.snap")).unwrap();
    assert!(snap.contains("pins api.ca2\n"), "{snap}");
    assert!(!snap.contains(generated), "{snap}");
}

#[test]
fn a_wrong_expectation_fails_the_run_and_the_junit_file_carries_the_evidence() {
    let dir = suite_dir(&format!(
        r#"[suite]
name = "wrong"

[client]
{CURL_SHELL}

[[origin]]
name = "api"
host = "api.example.test"

[[case]]
name = "pinned-but-expected-to-proceed"
proxy = "intercept"
pins = ["api.current"]
expect = "proceeded"
reason = "deliberately wrong"

[[case]]
name = "unpinned"
proxy = "intercept"
expect = "proceeded"
reason = "right"
"#
    ));
    let out = run_in(
        dir.path(),
        &[
            "run",
            "suite.toml",
            "--junit",
            "out/junit.xml",
            "--snapshot",
            "out/run.snap",
            "--update-snapshot",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("1 passed, 1 failed, 0 error(s)"),
        "{stdout}"
    );
    // The mismatch shows its evidence: what was presented, the pins, curl's own words.
    assert!(stdout.contains("presented proxy.forged ("), "{stdout}");
    assert!(stdout.contains("pin:      api.current = "), "{stdout}");
    assert!(stdout.contains("stderr:   | curl: (90)"), "{stdout}");

    let junit = std::fs::read_to_string(dir.path().join("out/junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<testsuite name="wrong" tests="2" failures="1" errors="0""#),
        "{junit}"
    );
    let failure = junit
        .split("<testcase ")
        .find(|t| t.contains("pinned-but-expected-to-proceed"))
        .unwrap();
    assert!(
        failure.contains(
            r#"<failure type="expectation" message="expected proceeded, observed cancelled"#
        ),
        "{failure}"
    );
    assert!(
        failure.contains("cancelled at after_handshake"),
        "{failure}"
    );
    assert!(!junit
        .split("<testcase ")
        .find(|t| t.contains(r#"name="unpinned""#))
        .unwrap()
        .contains("<failure"));

    // The snapshot is stable: pins by name, no ports, no times.
    let snap = std::fs::read_to_string(dir.path().join("out/run.snap")).unwrap();
    insta::assert_snapshot!("wrong_expectation_run", snap);
}

#[test]
fn a_tampered_or_missing_snapshot_is_drift() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(repo().join("scenarios/curl.snap")).unwrap();
    let tampered = original.replacen("client:   exit 90", "client:   exit 0", 1);
    assert_ne!(tampered, original);
    let snap = dir.path().join("curl.snap");
    std::fs::write(&snap, tampered).unwrap();
    let suite = repo().join("scenarios/curl.toml");
    let out = run_in(
        &repo(),
        &[
            "run",
            suite.to_str().unwrap(),
            "--snapshot",
            snap.to_str().unwrap(),
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("differs from the snapshot"), "{stderr}");
    assert!(stderr.contains("-   client:   exit 0"), "{stderr}");
    assert!(stderr.contains("+   client:   exit 90"), "{stderr}");

    let out = run_in(
        &repo(),
        &[
            "run",
            suite.to_str().unwrap(),
            "--snapshot",
            dir.path().join("none.snap").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("--update-snapshot"));
}

#[test]
fn malformed_scenario_files_give_one_line_errors_naming_file_and_line() {
    let client = "[client]\ncommand = [\"curl\", \"{url}\"]\n";
    let origin = "[[origin]]\nname = \"api\"\nhost = \"api.example.test\"\n";
    let files = [
        (
            "unknown key",
            format!("{client}{origin}\n[[case]]\nname = \"a\"\nproxy = \"intercept\"\nexpect = \"cancelled\"\nexpected = \"cancelled\"\n"),
            "suite.toml:11:",
            "unknown field `expected`",
        ),
        (
            "bad pin",
            format!("{client}{origin}\n[[case]]\nname = \"a\"\nproxy = \"intercept\"\npins = [\"not-a-pin\"]\nexpect = \"cancelled\"\n"),
            "suite.toml:10: case.pins:",
            "neither a reference",
        ),
        (
            "missing client",
            format!("{origin}\n[[case]]\nname = \"a\"\nproxy = \"intercept\"\nexpect = \"cancelled\"\n"),
            "suite.toml:1:",
            "missing field `client`",
        ),
        (
            "unknown placeholder",
            format!("[client]\ncommand = [\"curl\", \"{{ulr}}\"]\n{origin}"),
            "suite.toml:2: client.command:",
            "unknown placeholder {ulr}",
        ),
        (
            "not TOML",
            "[client\n".to_string(),
            "suite.toml:1:",
            "",
        ),
    ];
    for (what, toml, prefix, needle) in files {
        let dir = suite_dir(&toml);
        for args in [&["run", "suite.toml"][..], &["run", "--list", "suite.toml"]] {
            let out = run_in(dir.path(), args);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{what}: one line: {stderr}");
            assert!(
                stderr.starts_with(&format!("pin-proxy: error: {prefix}"))
                    && stderr.contains(needle),
                "{what}: {stderr}"
            );
        }
    }
}

#[test]
fn a_hanging_client_is_killed_at_its_timeout_and_the_run_goes_on() {
    // The hanging case leaves a background child too; both must be gone afterwards.
    let marker = format!("{}.4242", std::process::id());
    let dir = suite_dir(&format!(
        r#"[client]
command = ["sh", "-c", "if [ \"$PIN_PROXY_CASE\" = hangs ]; then sleep {marker} & sleep {marker}; else curl -sS -o /dev/null --cacert \"$PIN_PROXY_TRUST_BUNDLE\" --proxy \"$PIN_PROXY_PROXY_URL\" \"$PIN_PROXY_URL\"; fi"]
timeout = "20s"

[[origin]]
name = "api"
host = "api.example.test"

[[case]]
name = "hangs"
proxy = "intercept"
expect = "cancelled"
timeout = "500ms"

[[case]]
name = "works"
proxy = "intercept"
expect = "proceeded"
"#
    ));
    let out = run_in(
        dir.path(),
        &["run", "suite.toml", "--report-json", "r.json", "-j", "2"],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stdout));
    let report = read_json(&dir.path().join("r.json"));
    let all = cases(&report);
    let hung = case(&all, "hangs");
    assert_eq!(hung["status"], "error");
    assert_eq!(hung["evidence"]["client"]["exit"]["kind"], "timed_out");
    assert_eq!(hung["evidence"]["client"]["exit"]["after_ms"], 500);
    assert_eq!(case(&all, "works")["status"], "passed");
    let leftovers: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&marker) && c.starts_with("sleep"))
        .collect();
    assert!(leftovers.is_empty(), "still running: {leftovers:?}");
}

#[test]
fn a_client_that_ignores_the_proxy_is_an_error_not_a_cancel() {
    // It fails on its own (nothing listens on port 1) and never reaches the proxy.
    let dir = suite_dir(
        r#"[client]
command = ["curl", "-sS", "--max-time", "5", "https://127.0.0.1:1/"]

[[origin]]
name = "api"
host = "api.example.test"

[[case]]
name = "no-proxy"
proxy = "intercept"
pins = ["api.current"]
expect = "cancelled"
"#,
    );
    let out = run_in(
        dir.path(),
        &["run", "suite.toml", "--report-json", "r.json"],
    );
    assert_eq!(out.status.code(), Some(4));
    let report = read_json(&dir.path().join("r.json"));
    let c = &cases(&report)[0];
    assert_eq!(c["observed"], "no_connection");
    assert_eq!(c["status"], "error");
    assert!(text(&out.stdout).contains("does the client use the proxy"));
}

#[test]
fn a_client_command_that_does_not_exist_stops_the_run() {
    let dir = suite_dir(
        "[client]\ncommand = [\"pin-proxy-no-such-client\", \"{url}\"]\n[[origin]]\nname = \"api\"\nhost = \"api.example.test\"\n[[case]]\nname = \"a\"\nproxy = \"intercept\"\nexpect = \"cancelled\"\n",
    );
    let out = run_in(dir.path(), &["run", "suite.toml"]);
    assert_eq!(out.status.code(), Some(4));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cannot start the client command `pin-proxy-no-such-client"),
        "{stderr}"
    );
}

#[test]
fn list_shows_the_expanded_matrix_and_partitions_split_it() {
    let out = run_in(&repo(), &["run", "--list", "scenarios/curl.toml"]);
    assert!(out.status.success());
    let list = text(&out.stdout);
    insta::assert_snapshot!("curl_list", list);

    let names = |args: &[&str]| -> BTreeSet<String> {
        let out = run_in(&repo(), args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("  ") && !l.trim_start().starts_with("note:"))
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect()
    };
    let all = names(&["run", "--list", "scenarios/curl.toml"]);
    let one = names(&["run", "--list", "--partition", "1/2", "scenarios/curl.toml"]);
    let two = names(&[
        "run",
        "--list",
        "--partition",
        "count:2/2",
        "scenarios/curl.toml",
    ]);
    assert!(one.is_disjoint(&two));
    assert_eq!(&one | &two, all);
    assert_eq!(one.len(), all.len().div_ceil(2));
    let filtered = names(&[
        "run",
        "--list",
        "--filter",
        "rotated",
        "scenarios/curl.toml",
    ]);
    assert_eq!(filtered.len(), 3, "{filtered:?}");

    let out = run_in(
        &repo(),
        &["run", "--partition", "3/2", "scenarios/curl.toml"],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_readme_example_is_a_valid_scenario() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme.find("A complete example:").expect("README example");
    let block = &readme[start..];
    let body = block
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .unwrap();
    let dir = suite_dir(body);
    let out = run_in(dir.path(), &["run", "--list", "suite.toml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = text(&out.stdout);
    assert!(list.contains("pinned/expired"), "{list}");
    assert!(list.contains("api/chain/root-passthrough"), "{list}");
}

#[test]
fn a_case_proxy_with_auth_hands_the_credentials_to_the_client_and_keeps_them_out_of_reports() {
    let dir = suite_dir(
        r#"[proxy]
auth = "tester:hunter2-pw"

[client]
command = ["curl", "-sS", "-v", "--max-time", "10", "-o", "/dev/null", "--cacert", "{trust_bundle}",
           "--proxy", "{proxy_url}", ["--proxy-user", "{proxy_auth}"], "{url}"]

[[origin]]
name = "api"
host = "api.example.test"

[[case]]
name = "through"
proxy = "intercept"
expect = "proceeded"
reason = "the client sends the proxy's credentials"
"#,
    );
    let out = run_in(
        dir.path(),
        &["run", "suite.toml", "--report-json", "r.json"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report = std::fs::read_to_string(dir.path().join("r.json")).unwrap();
    assert!(
        report.contains("tester:***"),
        "the command shows the user, redacted"
    );
    for secret in ["hunter2-pw", "dGVzdGVyOmh1bnRlcjItcHc="] {
        assert!(!report.contains(secret), "{secret} in the report");
        assert!(!text(&out.stdout).contains(secret) && !text(&out.stderr).contains(secret));
    }
}
