//! The adb executor: runs `adb` (each command bounded by a timeout), parses what it prints into a
//! [`DeviceState`], keeps the state file, and runs a [`Plan`].
//!
//! Everything adb prints is parsed leniently and nothing from it is unwrapped: a device is input
//! we do not control. Output goes to temporary files, not pipes, so the adb server that the first
//! command forks (and that keeps its inherited descriptors open) never holds a read open. The
//! server is whichever adb talks to: `ANDROID_ADB_SERVER_PORT` or `ADB_SERVER_SOCKET` choose
//! another than the default 5037 (the tests use that).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::plan::{
    self, DeviceState, Listed, Plan, Refusal, Request, Reverse, Saved, Selection, APEX_CACERTS,
    DOWNLOADS_CA, SYSTEM_CACERTS,
};
use crate::error::{Error, Result};

/// How long `adb wait-for-device` may take after `adb root` restarted adbd.
const WAIT_FOR_DEVICE: Duration = Duration::from_secs(60);

/// The `adb` program and the bound on each of its commands.
#[derive(Clone, Debug)]
pub struct Adb {
    program: OsString,
    timeout: Duration,
}

/// What one adb command printed.
#[derive(Clone, Debug)]
pub struct Output {
    /// Its exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Adb {
    /// `adb` from `PATH`, each command given at most `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            program: OsString::from("adb"),
            timeout,
        }
    }

    /// Runs `adb ARGS`, killing it at the timeout.
    pub fn run(&self, args: &[String], timeout: Duration) -> Result<Output> {
        let shown = shown(args);
        let temp = |what: &str| {
            tempfile::tempfile().map_err(|e| {
                Error::runtime(format!("cannot make a temporary file for {what}: {e}"))
            })
        };
        let mut out = temp("adb's output")?;
        let mut err = temp("adb's errors")?;
        let stdout = out
            .try_clone()
            .map_err(|e| Error::runtime(format!("cannot use a temporary file: {e}")))?;
        let stderr = err
            .try_clone()
            .map_err(|e| Error::runtime(format!("cannot use a temporary file: {e}")))?;
        let mut child = Command::new(&self.program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => Error::runtime(
                    "adb not found on PATH: install adb (Debian/Ubuntu: `apt install adb`, macOS: \
                     `brew install android-platform-tools`, or the Android SDK's platform-tools) \
                     and run this again",
                ),
                _ => Error::runtime(format!("cannot start `{shown}`: {e}")),
            })?;
        let status = match super::wait_bounded(&mut child, timeout) {
            Ok(Some(status)) => status,
            Ok(None) => {
                return Err(Error::runtime(format!(
                    "`{shown}` did not finish within {} s (is the device responding? \
                     `adb kill-server` resets adb)",
                    timeout.as_secs()
                )))
            }
            Err(e) => return Err(Error::runtime(format!("cannot wait for `{shown}`: {e}"))),
        };
        Ok(Output {
            code: status.code(),
            stdout: read_back(&mut out)?,
            stderr: read_back(&mut err)?,
        })
    }

    /// Runs `adb ARGS` and fails unless it exits 0.
    fn checked(&self, args: &[String], timeout: Duration) -> Result<Output> {
        let output = self.run(args, timeout)?;
        if output.code == Some(0) {
            Ok(output)
        } else {
            Err(Error::runtime(format!(
                "`{}` failed ({}): {}",
                shown(args),
                output
                    .code
                    .map_or_else(|| "killed".to_string(), |c| format!("exit {c}")),
                first_line(&output.stderr, &output.stdout)
            )))
        }
    }

    fn on(&self, serial: &str, args: &[&str]) -> Result<Output> {
        let mut all = vec!["-s".to_string(), serial.to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        self.checked(&all, self.timeout)
    }

    /// `adb devices -l`.
    pub fn devices(&self) -> Result<Vec<Listed>> {
        let output = self.checked(&["devices".into(), "-l".into()], self.timeout)?;
        Ok(parse_devices(&output.stdout))
    }

    /// Reads what a plan needs from the device. `ca_hash` is the CA's old subject hash, to look
    /// for it in the system stores.
    pub fn read_state(&self, serial: &str, ca_hash: Option<&str>) -> Result<DeviceState> {
        let props = parse_getprop(&self.on(serial, &["shell", "getprop"])?.stdout);
        let prop = |k: &str| props.get(k).cloned().unwrap_or_default();
        let uid = self.on(serial, &["shell", "id", "-u"])?.stdout;
        let http_proxy = self.on(
            serial,
            &["shell", "settings", "get", "global", "http_proxy"],
        )?;
        let reverses = self.on(serial, &["reverse", "--list"])?;
        let mut files = vec![DOWNLOADS_CA.to_string()];
        if let Some(hash) = ca_hash {
            files.push(format!("{SYSTEM_CACERTS}/{hash}.0"));
            files.push(format!("{APEX_CACERTS}/{hash}.0"));
        }
        let check = format!(
            "for f in {}; do [ -e \"$f\" ] && echo \"$f\"; done; true",
            files.join(" ")
        );
        let present = self.on(serial, &["shell", &check])?.stdout;
        let present: Vec<&str> = present.lines().map(str::trim).collect();
        let has = |i: usize| files.get(i).is_some_and(|f| present.contains(&f.as_str()));
        Ok(DeviceState {
            serial: serial.to_string(),
            sdk: prop("ro.build.version.sdk").trim().parse().unwrap_or(0),
            release: prop("ro.build.version.release"),
            build_type: prop("ro.build.type"),
            debuggable: prop("ro.debuggable") == "1",
            shell_is_root: uid.trim() == "0",
            emulator: prop("ro.kernel.qemu") == "1"
                || prop("ro.boot.qemu") == "1"
                || serial.starts_with("emulator-"),
            http_proxy: parse_http_proxy(&http_proxy.stdout),
            reverses: parse_reverses(&reverses.stdout),
            ca_in_downloads: has(0),
            ca_in_system: has(1),
            ca_in_apex: has(2),
        })
    }

    /// Runs a plan's commands on `serial`. `stop_at_first` (setup) stops at the first failure;
    /// otherwise (teardown) every command is tried and the failures are reported together.
    pub fn execute(&self, serial: &str, plan: &Plan, stop_at_first: bool) -> Result<()> {
        let mut failures = Vec::new();
        for args in &plan.commands {
            let mut all = vec!["-s".to_string(), serial.to_string()];
            all.extend(args.iter().cloned());
            let timeout = if args.first().map(String::as_str) == Some("wait-for-device") {
                WAIT_FOR_DEVICE.max(self.timeout)
            } else {
                self.timeout
            };
            if let Err(e) = self.checked(&all, timeout) {
                if stop_at_first {
                    return Err(e);
                }
                failures.push(e.to_string());
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(Error::runtime(failures.join("; ")))
        }
    }
}

/// `adb devices -l` → its devices (the header and `* daemon ...` lines skipped).
pub fn parse_devices(text: &str) -> Vec<Listed> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('*') && !l.starts_with("List of devices"))
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let serial = words.next()?.to_string();
            let state = match words.next()? {
                "no" => "no permissions".to_string(),
                state => state.to_string(),
            };
            Some(Listed { serial, state })
        })
        .collect()
}

/// `getprop` (`[key]: [value]` lines) → a map.
pub fn parse_getprop(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.trim().split_once("]: [")?;
            let key = key.strip_prefix('[')?;
            let value = value.strip_suffix(']')?;
            Some((key.to_string(), value.to_string()))
        })
        .collect()
}

/// `settings get global http_proxy` → the value, `None` when unset (`null`, empty, `:0`).
pub fn parse_http_proxy(text: &str) -> Option<String> {
    let value = text.trim();
    match value {
        "" | "null" | ":0" => None,
        v => Some(v.to_string()),
    }
}

/// `adb reverse --list` (`<transport> <remote> <local>` lines) → the reverses.
pub fn parse_reverses(text: &str) -> Vec<Reverse> {
    text.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [.., remote, local] if remote.contains(':') && local.contains(':') => {
                    Some(Reverse {
                        remote: remote.to_string(),
                        local: local.to_string(),
                    })
                }
                _ => None,
            }
        })
        .collect()
}

/// The state file of `serial` in the CA directory: `device-<serial>.json` (characters other than
/// letters, digits, `.`, `_` and `-` replaced by `_`, as in `192.168.1.5_5555`).
pub fn state_path(ca_dir: &Path, serial: &str) -> PathBuf {
    let safe: String = serial
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    ca_dir.join(format!("device-{safe}.json"))
}

/// Reads a state file; `None` if there is none.
pub fn load_saved(path: &Path) -> Result<Option<Saved>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::file(path, "read the device state file", e)),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        Error::input(
            path.display().to_string(),
            format!("not a pin-proxy device state file ({e}); undo by hand and delete it"),
        )
    })
}

/// Writes a state file atomically: a temporary file in the same directory, then a rename.
pub fn write_saved(path: &Path, saved: &Saved) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::file(dir, "create the CA directory", e))?;
    let json = serde_json::to_string_pretty(saved)
        .map_err(|e| Error::runtime(format!("cannot encode the device state: {e}")))?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| Error::file(dir, "make a temporary file in", e))?;
    temp.write_all(format!("{json}\n").as_bytes())
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| Error::file(temp.path(), "write the device state file", e))?;
    temp.persist(path)
        .map_err(|e| Error::file(path, "write the device state file", e.error))?;
    Ok(())
}

/// What `device android ...` does, from the device's choice to the printed lines.
pub fn android(
    adb: &Adb,
    ca_dir: &Path,
    serial: Option<&str>,
    request: &Request,
    ca_hash: Option<&str>,
) -> Result<Vec<String>> {
    let devices = adb.devices()?;
    let device = plan::select(&devices, serial).map_err(|s| match s {
        Selection::Several(_) => Error::input("--serial", s.to_string()),
        other => Error::runtime(other.to_string()),
    })?;
    let state_file = state_path(ca_dir, &device.serial);
    let saved = load_saved(&state_file)?;
    let hash = ca_hash.or(saved
        .as_ref()
        .and_then(|s| s.system.as_ref())
        .and_then(|o| o.file.strip_suffix(".0")));
    let state = adb.read_state(&device.serial, hash)?;
    let planned = match plan::plan(&state, request, saved.as_ref()) {
        Ok(planned) => planned,
        Err(Refusal::NothingToUndo) => {
            return Ok(vec![format!(
                "{}: {}",
                device.serial,
                Refusal::NothingToUndo
            )])
        }
        Err(r @ Refusal::ProductionBuild { .. }) => {
            return Err(Error::input("--system", r.to_string()))
        }
        Err(r @ Refusal::Mismatch(_)) => return Err(Error::input("--port", r.to_string())),
    };
    let mut text = planned.text.clone();
    if let Some(save) = &planned.save {
        // Written before anything changes, so a crash midway leaves what teardown needs.
        write_saved(&state_file, save)?;
        adb.execute(&device.serial, &planned, true).map_err(|e| {
            Error::runtime(format!(
                "setup stopped: {e}. What it changed is in {}: `pin-proxy device android \
                 teardown` undoes it",
                state_file.display()
            ))
        })?;
        text.push(format!("state file: {}", state_file.display()));
    } else if planned.delete_state {
        adb.execute(&device.serial, &planned, false).map_err(|e| {
            Error::runtime(format!(
                "teardown did not undo everything: {e}. {} is kept: run teardown again",
                state_file.display()
            ))
        })?;
        fs::remove_file(&state_file)
            .map_err(|e| Error::file(&state_file, "delete the device state file", e))?;
        text.push(format!("state file {} deleted", state_file.display()));
    }
    Ok(text)
}

fn read_back(file: &mut fs::File) -> Result<String> {
    let mut bytes = Vec::new();
    file.rewind()
        .and_then(|()| file.read_to_end(&mut bytes))
        .map_err(|e| Error::runtime(format!("cannot read adb's output back: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn shown(args: &[String]) -> String {
    let mut all = vec!["adb".to_string()];
    all.extend(args.iter().map(|a| {
        if a.contains(' ') {
            format!("'{a}'")
        } else {
            a.clone()
        }
    }));
    all.join(" ")
}

fn first_line(stderr: &str, stdout: &str) -> String {
    [stderr, stdout]
        .iter()
        .flat_map(|t| t.lines())
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('*'))
        .unwrap_or("no output")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_list_with_header_daemon_lines_and_states() {
        let text = "* daemon not running; starting now at tcp:5037\n\
                    * daemon started successfully\n\
                    List of devices attached\n\
                    emulator-5554          device product:sdk_gphone64_x86_64 model:sdk transport_id:1\n\
                    R58M123ABC             unauthorized usb:1-1 transport_id:2\n\
                    0123456789ABCDEF       no permissions (user in plugdev group; are your udev rules wrong?); see [http://developer.android.com/tools/device.html] usb:1-2\n\
                    192.168.1.5:5555       offline\n\n";
        let states: Vec<(String, String)> = parse_devices(text)
            .into_iter()
            .map(|d| (d.serial, d.state))
            .collect();
        let expected = [
            ("emulator-5554", "device"),
            ("R58M123ABC", "unauthorized"),
            ("0123456789ABCDEF", "no permissions"),
            ("192.168.1.5:5555", "offline"),
        ];
        assert_eq!(
            states,
            expected
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        );
        assert!(parse_devices("List of devices attached\n\n").is_empty());
    }

    #[test]
    fn getprop_proxy_and_reverse_parsing() {
        let props = parse_getprop(
            "[ro.build.version.sdk]: [34]\n[ro.build.type]: [userdebug]\n[odd line\n[empty]: []\n",
        );
        assert_eq!(
            props.get("ro.build.version.sdk").map(String::as_str),
            Some("34")
        );
        assert_eq!(props.get("empty").map(String::as_str), Some(""));
        assert_eq!(props.len(), 3);
        assert_eq!(parse_http_proxy("null\n"), None);
        assert_eq!(parse_http_proxy(":0"), None);
        assert_eq!(
            parse_http_proxy("10.0.0.1:3128\r\n").as_deref(),
            Some("10.0.0.1:3128")
        );
        assert_eq!(
            parse_reverses("UsbFfs tcp:8080 tcp:8080\nhost-19 tcp:5000 tcp:6000\n\n"),
            vec![
                Reverse {
                    remote: "tcp:8080".into(),
                    local: "tcp:8080".into()
                },
                Reverse {
                    remote: "tcp:5000".into(),
                    local: "tcp:6000".into()
                }
            ]
        );
    }

    #[test]
    fn state_path_keeps_serials_file_safe() {
        assert_eq!(
            state_path(Path::new("/ca"), "192.168.1.5:5555"),
            Path::new("/ca/device-192.168.1.5_5555.json")
        );
    }

    #[test]
    fn state_file_round_trips_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(dir.path(), "emulator-5554");
        assert_eq!(load_saved(&path).unwrap(), None);
        let saved = Saved {
            schema: plan::STATE_SCHEMA,
            serial: "emulator-5554".into(),
            port: 8080,
            previous_http_proxy: Some("10.0.0.1:3128".into()),
            set_http_proxy: true,
            added_reverse: true,
            previous_reverse: None,
            pushed: vec![DOWNLOADS_CA.into()],
            system: None,
            ran_adb_root: false,
        };
        write_saved(&path, &saved).unwrap();
        assert_eq!(load_saved(&path).unwrap(), Some(saved));
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
        fs::write(&path, "{").unwrap();
        assert!(load_saved(&path).is_err());
    }
}
