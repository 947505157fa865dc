//! `pin-proxy device`: the messages and exit codes against the real `adb` with no device (each
//! test starts its own adb server on its own port and kills it at the end, so no user's server is
//! touched), and setup/teardown against fake `adb` scripts that print canned device answers and
//! record their argv. The system-store and Settings paths are tested as plans only (the unit tests
//! of `device::plan`): no device or emulator runs here.
//!
//! A test that needs the real adb says so and passes when it is absent, except under `CI=true`,
//! where that is a failure (`.ci/run` installs it).

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pin-proxy"))
}

/// Runs `cmd`, failing the test if it takes more than 90 s.
fn run(mut cmd: Command) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pin-proxy");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(Duration::from_secs(90))
        .expect("pin-proxy finished within 90 s")
        .expect("pin-proxy's output")
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Where the real adb is, or a skip (a failure under `CI=true`).
fn real_adb() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("adb"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("not installed: adb; under CI=true that is a failure (.ci/run installs it)");
        }
        eprintln!("skipped: not installed: adb (.ci/run installs it)");
    }
    found
}

/// An adb server of this test's own, on a free port; killed on drop.
struct AdbServer {
    adb: PathBuf,
    port: u16,
}

impl AdbServer {
    fn new(adb: PathBuf) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self { adb, port }
    }

    /// pin-proxy with this server chosen by `ANDROID_ADB_SERVER_PORT`.
    fn pin_proxy(&self, ca_dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.arg("--ca-dir")
            .arg(ca_dir)
            .args(args)
            .env("ANDROID_ADB_SERVER_PORT", self.port.to_string())
            .env_remove("ADB_SERVER_SOCKET")
            .env_remove("ANDROID_SERIAL");
        cmd
    }
}

impl Drop for AdbServer {
    fn drop(&mut self) {
        let mut kill = Command::new(&self.adb);
        kill.args(["-P", &self.port.to_string(), "kill-server"]);
        let _ = run(kill);
    }
}

#[test]
fn no_device_exits_4_with_the_message() {
    let Some(adb) = real_adb() else { return };
    let server = AdbServer::new(adb);
    let ca = tempfile::tempdir().unwrap();
    for sub in ["setup", "status", "teardown"] {
        let out = run(server.pin_proxy(ca.path(), &["device", "android", sub]));
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(4), "{sub}: {stderr}");
        assert!(
            stderr.contains("no Android device: `adb devices` lists none"),
            "{sub}: {stderr}"
        );
    }
    // Setup made the CA first, and wrote no state file for a device it never found.
    let names: Vec<String> = fs::read_dir(ca.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with("device-")), "{names:?}");
}

#[test]
fn a_serial_adb_does_not_list_exits_4() {
    let Some(adb) = real_adb() else { return };
    let server = AdbServer::new(adb);
    let ca = tempfile::tempdir().unwrap();
    let out = run(server.pin_proxy(
        ca.path(),
        &["device", "android", "status", "--serial", "R58M0000"],
    ));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("no device R58M0000"), "{stderr}");
}

#[test]
fn adb_missing_exits_4_saying_to_install_it() {
    let empty = tempfile::tempdir().unwrap();
    let ca = tempfile::tempdir().unwrap();
    let out = run({
        let mut cmd = Command::new(bin());
        cmd.arg("--ca-dir")
            .arg(ca.path())
            .args(["device", "android", "status"])
            .env("PATH", empty.path());
        cmd
    });
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("adb not found on PATH: install adb"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// Fake adb: a shell script that answers like a device would and records its argv

const FAKE_ADB: &str = r#"#!/bin/sh
# Records its argv, answers from files in $FAKE_DIR, and changes them as a device would.
d="$FAKE_DIR"
echo "$*" >> "$d/argv"
if [ -n "$FAKE_FAIL" ]; then
  case "$*" in *"$FAKE_FAIL"*) echo "error: $FAKE_FAIL failed" >&2; exit 1;; esac
fi
case "$*" in
  "devices -l") cat "$d/devices";;
  *" shell getprop") cat "$d/props";;
  *" shell id -u") echo 2000;;
  *" shell settings get global http_proxy") cat "$d/proxy";;
  *" shell settings put global http_proxy "*) echo "$8" > "$d/proxy";;
  *" shell settings delete global http_proxy") echo null > "$d/proxy";;
  *" reverse --list") cat "$d/reverses";;
  *" reverse --remove "*) : > "$d/reverses";;
  *" reverse "*) echo "UsbFfs $4 $5" > "$d/reverses";;
  *" push "*) echo 1 > "$d/pushed"; echo "$4: 1 file pushed";;
  *" shell rm -f "*) rm -f "$d/pushed";;
  *" shell for f in "*) [ -f "$d/pushed" ] && echo /sdcard/Download/pin-proxy-ca.crt; true;;
  *" shell am start "*) echo "Starting: Intent { act=android.settings.SECURITY_SETTINGS }";;
esac
exit 0
"#;

struct Fake {
    dir: tempfile::TempDir,
    ca: tempfile::TempDir,
}

impl Fake {
    fn new(devices: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let adb = dir.path().join("adb");
        fs::write(&adb, FAKE_ADB).unwrap();
        fs::set_permissions(&adb, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(
            dir.path().join("devices"),
            format!("List of devices attached\n{devices}\n"),
        )
        .unwrap();
        fs::write(
            dir.path().join("props"),
            "[ro.build.version.sdk]: [33]\n[ro.build.version.release]: [13]\n\
             [ro.build.type]: [userdebug]\n[ro.debuggable]: [1]\n[ro.kernel.qemu]: [1]\n",
        )
        .unwrap();
        fs::write(dir.path().join("proxy"), "10.0.0.1:3128\n").unwrap();
        fs::write(dir.path().join("reverses"), "").unwrap();
        Self {
            dir,
            ca: tempfile::tempdir().unwrap(),
        }
    }

    fn pin_proxy(&self, args: &[&str]) -> Command {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![self.dir.path().to_path_buf()];
        paths.extend(std::env::split_paths(&path));
        let mut cmd = Command::new(bin());
        cmd.arg("--ca-dir")
            .arg(self.ca.path())
            .args(args)
            .env("PATH", std::env::join_paths(paths).unwrap())
            .env("FAKE_DIR", self.dir.path())
            .env_remove("FAKE_FAIL");
        cmd
    }

    /// The argv lines recorded since the last call.
    fn take_argv(&self) -> Vec<String> {
        let path = self.dir.path().join("argv");
        let lines = fs::read_to_string(&path).unwrap_or_default();
        let _ = fs::remove_file(&path);
        lines.lines().map(String::from).collect()
    }

    fn state_file(&self) -> PathBuf {
        self.ca.path().join("device-emulator-5554.json")
    }
}

const EMULATOR: &str =
    "emulator-5554          device product:sdk_gphone64_x86_64 model:sdk transport_id:1";

#[test]
fn several_devices_without_serial_exit_2_listing_them() {
    let fake = Fake::new(&format!(
        "{EMULATOR}\nR58M123ABC             device usb:1-1 transport_id:2"
    ));
    let out = run(fake.pin_proxy(&["device", "android", "setup"]));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "2 devices are attached (emulator-5554, R58M123ABC): choose one with --serial"
        ),
        "{stderr}"
    );
    assert_eq!(
        fake.take_argv(),
        ["devices -l"],
        "nothing run on any device"
    );
}

#[test]
fn unauthorized_device_exits_4_saying_to_accept_the_prompt() {
    let fake = Fake::new("R58M123ABC             unauthorized usb:1-1 transport_id:2");
    let out = run(fake.pin_proxy(&["device", "android", "setup"]));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("device R58M123ABC is unauthorized"),
        "{stderr}"
    );
    assert!(stderr.contains("RSA key prompt on the device"), "{stderr}");
}

fn queries(check: &str) -> Vec<String> {
    let s = "-s emulator-5554";
    vec![
        "devices -l".to_string(),
        format!("{s} shell getprop"),
        format!("{s} shell id -u"),
        format!("{s} shell settings get global http_proxy"),
        format!("{s} reverse --list"),
        format!("{s} shell for f in {check}; do [ -e \"$f\" ] && echo \"$f\"; done; true"),
    ]
}

#[test]
fn setup_then_teardown_run_the_planned_commands_and_keep_the_state_file() {
    let fake = Fake::new(EMULATOR);
    let out = run(fake.pin_proxy(&["device", "android", "setup"]));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let ca_pem = fake.ca.path().join("ca.pem");
    let hash = ca_hash(&fake.ca);
    let check = format!(
        "/sdcard/Download/pin-proxy-ca.crt /system/etc/security/cacerts/{hash}.0 \
         /apex/com.android.conscrypt/cacerts/{hash}.0"
    );
    let mut expected = queries(&check);
    expected.extend([
        "-s emulator-5554 reverse tcp:8080 tcp:8080".to_string(),
        "-s emulator-5554 shell settings put global http_proxy 127.0.0.1:8080".to_string(),
        format!(
            "-s emulator-5554 push {} /sdcard/Download/pin-proxy-ca.crt",
            ca_pem.display()
        ),
        "-s emulator-5554 shell am start -a android.settings.SECURITY_SETTINGS".to_string(),
    ]);
    assert_eq!(fake.take_argv(), expected);
    assert!(
        stdout.contains("was 10.0.0.1:3128; teardown puts it back"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Android 11+ installs a CA only by hand"),
        "{stdout}"
    );

    let state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(fake.state_file()).unwrap()).unwrap();
    assert_eq!(state["previous_http_proxy"], "10.0.0.1:3128");
    assert_eq!(state["added_reverse"], true);
    assert_eq!(state["pushed"][0], "/sdcard/Download/pin-proxy-ca.crt");

    let status = run(fake.pin_proxy(&["device", "android", "status"]));
    let (stdout, _) = text(&status);
    assert_eq!(status.status.code(), Some(0));
    assert!(
        stdout.contains("reverse:    tcp:8080 -> tcp:8080"),
        "{stdout}"
    );
    assert!(stdout.contains("ok: apps use the proxy"), "{stdout}");
    fake.take_argv();

    let out = run(fake.pin_proxy(&["device", "android", "teardown"]));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let mut expected = queries("/sdcard/Download/pin-proxy-ca.crt");
    expected.extend(
        [
            "reverse --remove tcp:8080",
            "shell settings put global http_proxy 10.0.0.1:3128",
            "shell rm -f /sdcard/Download/pin-proxy-ca.crt",
        ]
        .map(|c| format!("-s emulator-5554 {c}")),
    );
    assert_eq!(fake.take_argv(), expected);
    assert!(
        !fake.state_file().exists(),
        "teardown deletes the state file"
    );
    assert_eq!(
        fs::read_to_string(fake.dir.path().join("proxy"))
            .unwrap()
            .trim(),
        "10.0.0.1:3128"
    );

    // A second teardown has nothing to undo and says so.
    let again = run(fake.pin_proxy(&["device", "android", "teardown"]));
    assert_eq!(again.status.code(), Some(0));
    assert!(text(&again).0.contains("nothing to undo"));
}

#[test]
fn a_setup_that_fails_midway_leaves_the_state_teardown_undoes() {
    let fake = Fake::new(EMULATOR);
    let mut setup = fake.pin_proxy(&["device", "android", "setup"]);
    setup.env("FAKE_FAIL", "push");
    let out = run(setup);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("setup stopped"), "{stderr}");
    assert!(stderr.contains("error: push failed"), "{stderr}");
    assert!(
        fake.state_file().exists(),
        "written before the first change"
    );
    fake.take_argv();

    let out = run(fake.pin_proxy(&["device", "android", "teardown"]));
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let undo: Vec<String> = fake.take_argv().into_iter().skip(6).collect();
    assert_eq!(
        undo,
        [
            "-s emulator-5554 reverse --remove tcp:8080",
            "-s emulator-5554 shell settings put global http_proxy 10.0.0.1:3128",
        ],
        "the push never happened: nothing to remove"
    );
    assert!(!fake.state_file().exists());
}

#[test]
fn status_after_a_reboot_reports_the_dead_reverse() {
    let fake = Fake::new(EMULATOR);
    fs::write(fake.dir.path().join("proxy"), "127.0.0.1:8080\n").unwrap();
    let out = run(fake.pin_proxy(&["device", "android", "status"]));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("the reverse tcp:8080 is gone"), "{stdout}");
    assert!(stdout.contains("setup` again to repair it"), "{stdout}");
}

#[test]
fn system_on_a_production_build_exits_2() {
    let fake = Fake::new("R58M123ABC             device usb:1-1 transport_id:2");
    fs::write(
        fake.dir.path().join("props"),
        "[ro.build.version.sdk]: [34]\n[ro.build.type]: [user]\n[ro.debuggable]: [0]\n",
    )
    .unwrap();
    let out = run(fake.pin_proxy(&["device", "android", "setup", "--system"]));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`adb root` is impossible"), "{stderr}");
    assert!(!fake.ca.path().join("device-R58M123ABC.json").exists());
}

fn ca_hash(ca: &tempfile::TempDir) -> String {
    let out = run({
        let mut cmd = Command::new(bin());
        cmd.arg("--ca-dir").arg(ca.path()).args(["ca", "show"]);
        cmd
    });
    let (stdout, _) = text(&out);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("android:"))
        .and_then(|l| l.trim().split(".0").next())
        .expect("ca show's android line")
        .to_string()
}

#[test]
fn the_android_file_name_is_openssls_subject_hash_old() {
    let ca = tempfile::tempdir().unwrap();
    let init = run({
        let mut cmd = Command::new(bin());
        cmd.arg("--ca-dir").arg(ca.path()).args(["ca", "init"]);
        cmd
    });
    assert_eq!(init.status.code(), Some(0));
    let openssl = Command::new("openssl")
        .args(["x509", "-subject_hash_old", "-noout", "-in"])
        .arg(ca.path().join("ca.pem"))
        .output();
    let Ok(openssl) = openssl else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("not installed: openssl; under CI=true that is a failure");
        }
        eprintln!("skipped: not installed: openssl");
        return;
    };
    assert_eq!(
        ca_hash(&ca),
        String::from_utf8_lossy(&openssl.stdout).trim()
    );
}

#[test]
fn ios_simulator_without_xcrun_prints_the_commands_and_exits_0() {
    let empty = tempfile::tempdir().unwrap();
    let ca = tempfile::tempdir().unwrap();
    let out = run({
        let mut cmd = Command::new(bin());
        cmd.arg("--ca-dir")
            .arg(ca.path())
            .args(["device", "ios-simulator", "setup", "--port", "8081"])
            .env("PATH", empty.path());
        cmd
    });
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("xcrun not found"), "{stdout}");
    let pem = ca.path().join("ca.pem");
    assert!(
        stdout.contains(&format!(
            "xcrun simctl keychain booted add-root-cert {}",
            pem.display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("port 8081"), "{stdout}");
}

#[test]
fn ios_simulator_with_xcrun_runs_simctl() {
    let bin_dir = tempfile::tempdir().unwrap();
    let xcrun = bin_dir.path().join("xcrun");
    let argv = bin_dir.path().join("argv");
    fs::write(
        &xcrun,
        format!("#!/bin/sh\necho \"$*\" > '{}'\n", argv.display()),
    )
    .unwrap();
    fs::set_permissions(&xcrun, fs::Permissions::from_mode(0o755)).unwrap();
    let ca = tempfile::tempdir().unwrap();
    let out = run({
        let mut cmd = Command::new(bin());
        cmd.arg("--ca-dir")
            .arg(ca.path())
            .args(["device", "ios-simulator", "setup"])
            .env("PATH", bin_dir.path());
        cmd
    });
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.starts_with("created a new CA"), "{stdout}");
    assert!(stdout.contains("ran: xcrun simctl"), "{stdout}");
    assert_eq!(
        fs::read_to_string(&argv).unwrap().trim(),
        format!(
            "simctl keychain booted add-root-cert {}",
            ca.path().join("ca.pem").display()
        )
    );
}
