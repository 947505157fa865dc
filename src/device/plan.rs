//! The Android plan: a device's state and a request in, the adb commands and the user's steps out.
//!
//! Pure: no process, no file. [`DeviceState`] is what the executor read from the device (its
//! properties, `settings get global http_proxy`, `adb reverse --list`, which CA files exist);
//! [`Saved`] is the state file of an earlier `setup` (what it changed, so `teardown` can put it
//! back, and a second `setup` keeps the first one's "previous" values). A [`Plan`] is a list of
//! adb argument vectors (the executor adds `-s SERIAL`), the state to save before running them,
//! and the text for the user.
//!
//! The system store follows HTTP Toolkit's recipe (its android-ssl-pinning-demo and Android set-up docs): the CA is pushed to
//! `/data/local/tmp`, a tmpfs is mounted over `/system/etc/security/cacerts` holding the existing
//! certificates plus ours, and on Android 14+ (SDK 34) that directory is bind-mounted over the
//! conscrypt APEX store inside the zygotes' and the apps' mount namespaces. It needs root only,
//! not a `-writable-system` emulator nor `adb remount`, and it changes nothing that survives a
//! reboot.

use serde::{Deserialize, Serialize};

/// Where the CA goes in the device's Downloads.
pub const DOWNLOADS_CA: &str = "/sdcard/Download/pin-proxy-ca.crt";
/// The system store directory.
pub const SYSTEM_CACERTS: &str = "/system/etc/security/cacerts";
/// Android 14+'s store, in the conscrypt APEX.
pub const APEX_CACERTS: &str = "/apex/com.android.conscrypt/cacerts";
/// The first SDK level whose trust store is the conscrypt APEX (Android 14).
pub const SDK_APEX_STORE: u32 = 34;
/// The first SDK level that no longer installs a CA from an intent (Android 11).
pub const SDK_NO_INTENT_INSTALL: u32 = 30;
/// Version of the state file's layout.
pub const STATE_SCHEMA: u32 = 1;

/// One line of `adb devices -l`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// The serial (`emulator-5554`, `R58M...`, `192.168.1.5:5555`).
    pub serial: String,
    /// The state column: `device`, `unauthorized`, `offline`, `no permissions`, ...
    pub state: String,
}

/// What the executor read from a selected device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceState {
    /// Its serial.
    pub serial: String,
    /// `ro.build.version.sdk`.
    pub sdk: u32,
    /// `ro.build.version.release` (for the text only).
    pub release: String,
    /// `ro.build.type`: `user`, `userdebug` or `eng`.
    pub build_type: String,
    /// `ro.debuggable` is `1`.
    pub debuggable: bool,
    /// The shell already runs as root (`id -u` is 0: `adb root` was run before).
    pub shell_is_root: bool,
    /// An emulator (`ro.kernel.qemu` or `ro.boot.qemu` is 1, or an `emulator-` serial).
    pub emulator: bool,
    /// `settings get global http_proxy`, `None` when unset (`null`, empty or `:0`).
    pub http_proxy: Option<String>,
    /// `adb reverse --list`.
    pub reverses: Vec<Reverse>,
    /// `/sdcard/Download/pin-proxy-ca.crt` exists.
    pub ca_in_downloads: bool,
    /// `<hash>.0` is in the system store (`/system/etc/security/cacerts`).
    pub ca_in_system: bool,
    /// `<hash>.0` is in the APEX store (Android 14+).
    pub ca_in_apex: bool,
}

/// One reverse forward: the device's `remote` reaches the host's `local`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reverse {
    /// On the device, e.g. `tcp:8080`.
    pub remote: String,
    /// On the host, e.g. `tcp:8080`.
    pub local: String,
}

/// Which trust store `setup` puts the CA in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// The user store: the CA is pushed to Downloads and the user installs it in Settings.
    User,
    /// The system store (root: a writable emulator image or a userdebug build).
    System,
}

/// What the user asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Reverse, proxy setting, CA.
    Setup {
        /// The proxy's port (on the host and, through the reverse, on the device).
        port: u16,
        /// Where the CA goes.
        store: Store,
        /// The CA's PEM file on the host.
        ca_file: String,
        /// The CA's old subject hash (its system-store name is `<hash>.0`).
        ca_hash: String,
    },
    /// What is set now.
    Status {
        /// The port to look for when there is no state file.
        port: u16,
    },
    /// Undo what the state file says `setup` changed.
    Teardown,
}

/// The state file: what `setup` changed, written before it changes anything.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    /// [`STATE_SCHEMA`].
    pub schema: u32,
    /// The device.
    pub serial: String,
    /// The proxy's port.
    pub port: u16,
    /// `http_proxy` before the first `setup` (`None`: unset).
    pub previous_http_proxy: Option<String>,
    /// Whether `setup` set `http_proxy` (false when it already had our value).
    pub set_http_proxy: bool,
    /// Whether `setup` added the reverse for the port.
    pub added_reverse: bool,
    /// The host end the device's port forwarded to before, if it forwarded elsewhere.
    pub previous_reverse: Option<String>,
    /// Files `setup` pushed to the device.
    pub pushed: Vec<String>,
    /// The system-store overlay, if `setup --system` made one.
    pub system: Option<SystemOverlay>,
    /// Whether `setup` ran `adb root` (teardown runs `adb unroot`).
    pub ran_adb_root: bool,
}

/// The tmpfs overlay `setup --system` mounted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemOverlay {
    /// The CA's file name in the store, `<hash>.0`.
    pub file: String,
    /// Whether it was also bind-mounted over the APEX store (Android 14+).
    pub apex: bool,
}

/// What to run and what to say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// adb argument vectors, in order (without `-s SERIAL`).
    pub commands: Vec<Vec<String>>,
    /// What to write to the state file before running the commands (`setup`).
    pub save: Option<Saved>,
    /// Whether to delete the state file once the commands succeeded (`teardown`).
    pub delete_state: bool,
    /// The lines for the user.
    pub text: Vec<String>,
}

/// Why a request cannot be planned for this device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `--system` on a production build: `adb root` is impossible.
    ProductionBuild {
        /// `ro.build.type`.
        build_type: String,
    },
    /// `teardown` with no state file.
    NothingToUndo,
    /// The state file is for another port than `--port` or another device.
    Mismatch(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ProductionBuild { build_type } => write!(
                f,
                "--system needs root, and this is a production build (ro.build.type={build_type}, \
                 ro.debuggable=0): `adb root` is impossible. Use an emulator image without Google \
                 Play (a \"Google APIs\" or AOSP image), a userdebug build, or the user store (setup \
                 without --system; the app must trust user CAs)"
            ),
            Self::NothingToUndo => f.write_str(
                "no state file for this device: `setup` was not run (or `teardown` already undid \
                 it), so there is nothing to undo",
            ),
            Self::Mismatch(message) => f.write_str(message),
        }
    }
}

/// Chooses the device: the `--serial` one, else the only one. A device that is not ready
/// (unauthorized, offline) is refused with what to do.
pub fn select(devices: &[Listed], serial: Option<&str>) -> Result<Listed, Selection> {
    let chosen = match serial {
        Some(serial) => {
            devices
                .iter()
                .find(|d| d.serial == serial)
                .ok_or_else(|| Selection::NotFound {
                    serial: serial.to_string(),
                    seen: devices.iter().map(|d| d.serial.clone()).collect(),
                })?
        }
        None => match devices {
            [] => return Err(Selection::NoDevice),
            [one] => one,
            several => {
                return Err(Selection::Several(
                    several.iter().map(|d| d.serial.clone()).collect(),
                ))
            }
        },
    };
    match chosen.state.as_str() {
        "device" => Ok(chosen.clone()),
        _ => Err(Selection::NotReady(chosen.clone())),
    }
}

/// Why no device was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// adb lists no device.
    NoDevice,
    /// Several devices and no `--serial` (a usage error).
    Several(Vec<String>),
    /// `--serial` names a device adb does not list.
    NotFound {
        /// The asked serial.
        serial: String,
        /// The serials adb lists.
        seen: Vec<String>,
    },
    /// The device is unauthorized, offline or otherwise not usable.
    NotReady(Listed),
}

impl std::fmt::Display for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoDevice => f.write_str(
                "no Android device: `adb devices` lists none. Connect a device with USB debugging \
                 on, or start an emulator",
            ),
            Self::Several(serials) => write!(
                f,
                "{} devices are attached ({}): choose one with --serial",
                serials.len(),
                serials.join(", ")
            ),
            Self::NotFound { serial, seen } if seen.is_empty() => {
                write!(f, "no device {serial}: `adb devices` lists none")
            }
            Self::NotFound { serial, seen } => write!(
                f,
                "no device {serial}: `adb devices` lists {}",
                seen.join(", ")
            ),
            Self::NotReady(d) => match d.state.as_str() {
                "unauthorized" => write!(
                    f,
                    "device {} is unauthorized: accept the \"Allow USB debugging?\" RSA key prompt \
                     on the device (unlock it first), then run this again",
                    d.serial
                ),
                "offline" => write!(
                    f,
                    "device {} is offline: reconnect it (or run `adb kill-server`), accept the RSA \
                     key prompt on the device if it shows one, then run this again",
                    d.serial
                ),
                state => write!(
                    f,
                    "device {} is not ready ({state}): `adb devices` must show it as \"device\"",
                    d.serial
                ),
            },
        }
    }
}

/// Plans `request` for `device`, given the state file of an earlier setup (`saved`).
pub fn plan(
    device: &DeviceState,
    request: &Request,
    saved: Option<&Saved>,
) -> Result<Plan, Refusal> {
    match request {
        Request::Setup {
            port,
            store,
            ca_file,
            ca_hash,
        } => setup(device, *port, *store, ca_file, ca_hash, saved),
        Request::Status { port } => Ok(status(device, *port, saved)),
        Request::Teardown => teardown(device, saved),
    }
}

/// Whether `adb root` can work: a debuggable build (userdebug, eng, most emulator images).
pub fn root_possible(device: &DeviceState) -> bool {
    device.shell_is_root || device.debuggable
}

/// `127.0.0.1:PORT`, the proxy as the device sees it through the reverse.
pub fn proxy_value(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn tcp(port: u16) -> String {
    format!("tcp:{port}")
}

fn setup(
    device: &DeviceState,
    port: u16,
    store: Store,
    ca_file: &str,
    ca_hash: &str,
    saved: Option<&Saved>,
) -> Result<Plan, Refusal> {
    if store == Store::System && !root_possible(device) {
        return Err(Refusal::ProductionBuild {
            build_type: device.build_type.clone(),
        });
    }
    if let Some(saved) = saved {
        if saved.port != port {
            return Err(Refusal::Mismatch(format!(
                "an earlier setup of {} used port {}: run `teardown` first, or setup --port {}",
                device.serial, saved.port, saved.port
            )));
        }
    }
    let mut commands = Vec::new();
    let mut text = Vec::new();
    let mut state = saved.cloned().unwrap_or(Saved {
        schema: STATE_SCHEMA,
        serial: device.serial.clone(),
        port,
        previous_http_proxy: device.http_proxy.clone(),
        set_http_proxy: false,
        added_reverse: false,
        previous_reverse: None,
        pushed: Vec::new(),
        system: None,
        ran_adb_root: false,
    });

    // 1. The reverse: the device's 127.0.0.1:PORT is the host's.
    let ours = tcp(port);
    match device.reverses.iter().find(|r| r.remote == ours) {
        Some(r) if r.local == ours => {
            text.push(format!(
                "reverse {ours} -> {ours}: already there, left alone"
            ));
        }
        existing => {
            if !state.added_reverse {
                state.previous_reverse = existing.map(|r| r.local.clone());
            }
            state.added_reverse = true;
            commands.push(args(&["reverse", &ours, &ours]));
            if saved.is_some() {
                text.push(format!(
                    "reverse {ours} -> {ours}: was gone (a reboot or an adb restart drops it), added again"
                ));
            } else {
                text.push(format!(
                    "reverse {ours} -> {ours}: the device's 127.0.0.1:{port} is this machine's"
                ));
            }
        }
    }

    // 2. The global proxy setting.
    let value = proxy_value(port);
    if device.http_proxy.as_deref() == Some(value.as_str()) {
        text.push(format!("http_proxy {value}: already set"));
    } else {
        state.set_http_proxy = true;
        commands.push(args(&[
            "shell",
            "settings",
            "put",
            "global",
            "http_proxy",
            &value,
        ]));
        match &device.http_proxy {
            Some(previous) => text.push(format!(
                "http_proxy {value} (was {previous}; teardown puts it back)"
            )),
            None => text.push(format!("http_proxy {value}")),
        }
    }

    // 3. The CA.
    match store {
        Store::User => {
            commands.push(vec!["push".into(), ca_file.into(), DOWNLOADS_CA.into()]);
            if !state.pushed.iter().any(|p| p == DOWNLOADS_CA) {
                state.pushed.push(DOWNLOADS_CA.into());
            }
            commands.push(args(&[
                "shell",
                "am",
                "start",
                "-a",
                "android.settings.SECURITY_SETTINGS",
            ]));
            text.push(format!(
                "CA pushed to {DOWNLOADS_CA}; Settings opened on the device"
            ));
            text.extend(user_store_steps(device.sdk));
        }
        Store::System => {
            let file = format!("{ca_hash}.0");
            let trusted = device.ca_in_system && (device.sdk < SDK_APEX_STORE || device.ca_in_apex);
            if !device.shell_is_root {
                commands.push(args(&["root"]));
                commands.push(args(&["wait-for-device"]));
                state.ran_adb_root = true;
                text.push("adb root: adbd restarted as root".to_string());
            }
            if trusted && state.system.is_some() {
                text.push(format!("system store: {file} already mounted, left alone"));
            } else if trusted {
                text.push(format!(
                    "system store: {file} is already there (not by pin-proxy), left alone"
                ));
            } else {
                let staged = format!("/data/local/tmp/{file}");
                commands.push(vec!["push".into(), ca_file.into(), staged.clone()]);
                // The script moves it into the store; listed so that a teardown after a script
                // that failed midway removes it too (`rm -f`: harmless when it is gone).
                if !state.pushed.contains(&staged) {
                    state.pushed.push(staged.clone());
                }
                commands.push(vec![
                    "shell".into(),
                    system_overlay_script(&staged, device.sdk >= SDK_APEX_STORE),
                ]);
                state.system = Some(SystemOverlay {
                    file: file.clone(),
                    apex: device.sdk >= SDK_APEX_STORE,
                });
                text.push(format!(
                    "system store: tmpfs over {SYSTEM_CACERTS} with the device's CAs plus {file}{}",
                    if device.sdk >= SDK_APEX_STORE {
                        format!(
                            ", bind-mounted over {APEX_CACERTS} for the zygotes and running apps"
                        )
                    } else {
                        String::new()
                    }
                ));
                text.push(
                    "every app trusts the CA now; a reboot removes it (teardown unmounts it)"
                        .to_string(),
                );
            }
        }
    }
    text.push(format!(
        "the proxy must listen on 127.0.0.1:{port} on this machine, without --auth (Android's \
         proxy setting cannot carry credentials)"
    ));
    text.push("undo all of it with `pin-proxy device android teardown`".to_string());
    Ok(Plan {
        commands,
        save: Some(state),
        delete_state: false,
        text,
    })
}

/// How the user installs the CA from Downloads, per Android version.
pub fn user_store_steps(sdk: u32) -> Vec<String> {
    let mut steps = Vec::new();
    if sdk >= SDK_NO_INTENT_INSTALL {
        steps.push(format!(
            "Android 11+ installs a CA only by hand (no app or intent can): in Settings, open \
             Security (or \"Security & privacy\") → More security settings → Encryption & \
             credentials → Install a certificate → CA certificate → Install anyway, and pick \
             pin-proxy-ca.crt in Download{}",
            if sdk >= SDK_APEX_STORE {
                " (Android 14: Settings → Security & privacy → More security & privacy)"
            } else {
                ""
            }
        ));
    } else {
        steps.push(
            "in Settings, open Security → Advanced → Encryption & credentials → Install from \
             storage (or open pin-proxy-ca.crt from Download in the Files app), name it, and \
             choose \"VPN and apps\""
                .to_string(),
        );
    }
    steps.push(
        "a user CA is trusted only by apps that target API 23 or lower, or whose network security \
         config has <certificates src=\"user\"/> (debug builds: under <debug-overrides>); use \
         --system on an emulator to reach the others"
            .to_string(),
    );
    steps
}

/// The root shell script of HTTP Toolkit's recipe: the store copied to a tmpfs with our CA, and on
/// Android 14+ bind-mounted over the APEX store in every zygote and app mount namespace.
pub fn system_overlay_script(staged: &str, apex: bool) -> String {
    let mut script = format!(
        "set -e; \
         tmp=/data/local/tmp/pin-proxy-cacerts; rm -rf $tmp; mkdir -p -m 700 $tmp; \
         cp {src}/* $tmp/; \
         mount -t tmpfs tmpfs {SYSTEM_CACERTS}; \
         mv $tmp/* {SYSTEM_CACERTS}/; \
         mv {staged} {SYSTEM_CACERTS}/; \
         chown root:root {SYSTEM_CACERTS}/*; \
         chmod 644 {SYSTEM_CACERTS}/*; \
         chcon u:object_r:system_file:s0 {SYSTEM_CACERTS}/*; \
         rm -rf $tmp",
        src = if apex { APEX_CACERTS } else { SYSTEM_CACERTS },
    );
    if apex {
        script.push_str(&format!(
            "; zygotes=\"$(pidof zygote || true) $(pidof zygote64 || true)\"; \
             for z in $zygotes; do \
             nsenter --mount=/proc/$z/ns/mnt -- /bin/mount --bind {SYSTEM_CACERTS} {APEX_CACERTS}; \
             done; \
             for z in $zygotes; do for p in $(ps -o PID -P $z | grep -v PID); do \
             nsenter --mount=/proc/$p/ns/mnt -- /bin/mount --bind {SYSTEM_CACERTS} {APEX_CACERTS} || true; \
             done; done"
        ));
    }
    script
}

/// The script that removes the overlay: the APEX bind mounts first, then the tmpfs.
pub fn system_unmount_script(apex: bool) -> String {
    let mut script = String::new();
    if apex {
        script.push_str(&format!(
            "zygotes=\"$(pidof zygote || true) $(pidof zygote64 || true)\"; \
             for z in $zygotes; do for p in $(ps -o PID -P $z | grep -v PID); do \
             nsenter --mount=/proc/$p/ns/mnt -- /bin/umount {APEX_CACERTS} || true; \
             done; \
             nsenter --mount=/proc/$z/ns/mnt -- /bin/umount {APEX_CACERTS} || true; \
             done; "
        ));
    }
    script.push_str(&format!("umount {SYSTEM_CACERTS}"));
    script
}

fn teardown(device: &DeviceState, saved: Option<&Saved>) -> Result<Plan, Refusal> {
    let saved = saved.ok_or(Refusal::NothingToUndo)?;
    if saved.serial != device.serial {
        return Err(Refusal::Mismatch(format!(
            "the state file is for {}, not {}",
            saved.serial, device.serial
        )));
    }
    let mut commands = Vec::new();
    let mut text = Vec::new();
    let ours = tcp(saved.port);

    if saved.added_reverse {
        let now = device.reverses.iter().find(|r| r.remote == ours);
        match (&saved.previous_reverse, now) {
            (Some(previous), _) => {
                commands.push(args(&["reverse", &ours, previous]));
                text.push(format!("reverse {ours} -> {previous}: put back"));
            }
            (None, Some(_)) => {
                commands.push(args(&["reverse", "--remove", &ours]));
                text.push(format!("reverse {ours}: removed"));
            }
            (None, None) => text.push(format!("reverse {ours}: already gone")),
        }
    } else {
        text.push(format!(
            "reverse {ours}: was there before setup, left alone"
        ));
    }

    if saved.set_http_proxy {
        match &saved.previous_http_proxy {
            Some(previous) => {
                commands.push(args(&[
                    "shell",
                    "settings",
                    "put",
                    "global",
                    "http_proxy",
                    previous,
                ]));
                text.push(format!("http_proxy {previous}: put back"));
            }
            None => {
                // `:0` first: deleting alone leaves apps with the proxy until they restart.
                commands.push(args(&[
                    "shell",
                    "settings",
                    "put",
                    "global",
                    "http_proxy",
                    ":0",
                ]));
                commands.push(args(&[
                    "shell",
                    "settings",
                    "delete",
                    "global",
                    "http_proxy",
                ]));
                text.push("http_proxy: cleared (it was unset before setup)".to_string());
            }
        }
    } else {
        text.push("http_proxy: not set by setup, left alone".to_string());
    }

    for file in &saved.pushed {
        let present = file != DOWNLOADS_CA || device.ca_in_downloads;
        if present {
            commands.push(args(&["shell", "rm", "-f", file]));
            text.push(format!("{file}: removed"));
        } else {
            text.push(format!("{file}: already gone"));
        }
    }
    if saved.pushed.iter().any(|p| p == DOWNLOADS_CA) {
        text.push(
            "a CA installed from it stays in Settings → Encryption & credentials → User \
             credentials: remove it there"
                .to_string(),
        );
    }

    if let Some(system) = &saved.system {
        if device.ca_in_system {
            if !device.shell_is_root {
                commands.push(args(&["root"]));
                commands.push(args(&["wait-for-device"]));
            }
            commands.push(vec!["shell".into(), system_unmount_script(system.apex)]);
            text.push(format!(
                "system store: overlay unmounted ({} gone; apps started before keep it until they \
                 restart)",
                system.file
            ));
        } else {
            text.push("system store: overlay already gone (the device rebooted)".to_string());
        }
    }
    if saved.ran_adb_root {
        commands.push(args(&["unroot"]));
        text.push("adb unroot: adbd back to its normal user".to_string());
    }
    Ok(Plan {
        commands,
        save: None,
        delete_state: true,
        text,
    })
}

fn status(device: &DeviceState, port: u16, saved: Option<&Saved>) -> Plan {
    let port = saved.map_or(port, |s| s.port);
    let ours = tcp(port);
    let value = proxy_value(port);
    let mut text = vec![format!(
        "device:     {} (Android {}, SDK {}, {}{})",
        device.serial,
        if device.release.is_empty() {
            "?"
        } else {
            &device.release
        },
        device.sdk,
        if device.build_type.is_empty() {
            "?"
        } else {
            &device.build_type
        },
        if device.emulator { ", emulator" } else { "" }
    )];
    if device.reverses.is_empty() {
        text.push("reverse:    none".to_string());
    }
    for r in &device.reverses {
        text.push(format!("reverse:    {} -> {}", r.remote, r.local));
    }
    text.push(format!(
        "http_proxy: {}",
        device.http_proxy.as_deref().unwrap_or("unset")
    ));
    text.push(format!(
        "CA:         {} in Download; {}",
        if device.ca_in_downloads {
            "present"
        } else {
            "not"
        },
        if device.ca_in_system {
            "in the system store"
        } else {
            "not in the system store"
        }
    ));
    text.push(match saved {
        Some(s) => format!("state file: setup for port {} (teardown undoes it)", s.port),
        None => "state file: none (setup was not run, or teardown undid it)".to_string(),
    });
    let reverse_alive = device
        .reverses
        .iter()
        .any(|r| r.remote == ours && r.local == ours);
    let proxied = device.http_proxy.as_deref() == Some(value.as_str());
    if proxied && !reverse_alive {
        text.push(format!(
            "problem: http_proxy is {value} but the reverse {ours} is gone (a device reboot or an \
             adb restart drops it, the setting stays): apps reach nothing. Run `pin-proxy device \
             android setup` again to repair it, or `teardown`"
        ));
    } else if proxied {
        text.push(format!(
            "ok: apps use the proxy at this machine's 127.0.0.1:{port}"
        ));
    }
    Plan {
        commands: Vec::new(),
        save: None,
        delete_state: false,
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "/ca/ca.pem";
    const HASH: &str = "3dccab30";

    fn device(sdk: u32) -> DeviceState {
        DeviceState {
            serial: "emulator-5554".into(),
            sdk,
            release: String::new(),
            build_type: "userdebug".into(),
            debuggable: true,
            emulator: true,
            ..DeviceState::default()
        }
    }

    fn production(sdk: u32) -> DeviceState {
        DeviceState {
            serial: "R58M1234".into(),
            build_type: "user".into(),
            debuggable: false,
            emulator: false,
            ..device(sdk)
        }
    }

    fn setup_req(store: Store) -> Request {
        Request::Setup {
            port: 8080,
            store,
            ca_file: CA.into(),
            ca_hash: HASH.into(),
        }
    }

    fn cmd(line: &str) -> Vec<String> {
        line.split(' ').map(String::from).collect()
    }

    fn text(plan: &Plan) -> String {
        plan.text.join("\n")
    }

    fn user_setup_commands() -> Vec<Vec<String>> {
        vec![
            cmd("reverse tcp:8080 tcp:8080"),
            cmd("shell settings put global http_proxy 127.0.0.1:8080"),
            cmd("push /ca/ca.pem /sdcard/Download/pin-proxy-ca.crt"),
            cmd("shell am start -a android.settings.SECURITY_SETTINGS"),
        ]
    }

    #[test]
    fn android_10_user_store_installs_from_storage() {
        let plan = plan(&device(29), &setup_req(Store::User), None).unwrap();
        assert_eq!(plan.commands, user_setup_commands());
        assert!(
            text(&plan).contains("Install from storage"),
            "{}",
            text(&plan)
        );
        assert!(!text(&plan).contains("Android 11+"));
        let saved = plan.save.unwrap();
        assert_eq!(saved.previous_http_proxy, None);
        assert!(saved.added_reverse && saved.set_http_proxy);
        assert_eq!(saved.pushed, vec![DOWNLOADS_CA.to_string()]);
        assert_eq!(saved.system, None);
    }

    #[test]
    fn android_11_user_store_says_it_is_by_hand() {
        let plan = plan(&production(30), &setup_req(Store::User), None).unwrap();
        assert_eq!(plan.commands, user_setup_commands());
        let t = text(&plan);
        assert!(t.contains("Android 11+ installs a CA only by hand"), "{t}");
        assert!(t.contains("Install a certificate → CA certificate"), "{t}");
        assert!(t.contains("without --auth"), "{t}");
    }

    #[test]
    fn android_14_user_store_names_the_new_menu() {
        let plan = plan(&device(34), &setup_req(Store::User), None).unwrap();
        assert!(text(&plan).contains("Android 14: Settings → Security & privacy"));
    }

    #[test]
    fn production_build_refuses_system() {
        let refusal = plan(&production(33), &setup_req(Store::System), None).unwrap_err();
        assert_eq!(
            refusal,
            Refusal::ProductionBuild {
                build_type: "user".into()
            }
        );
        let message = refusal.to_string();
        assert!(message.contains("ro.build.type=user"), "{message}");
        assert!(message.contains("`adb root` is impossible"), "{message}");
    }

    #[test]
    fn writable_emulator_image_gets_the_tmpfs_overlay() {
        let plan = plan(&device(33), &setup_req(Store::System), None).unwrap();
        let staged = "/data/local/tmp/3dccab30.0";
        assert_eq!(
            plan.commands[..5],
            [
                cmd("reverse tcp:8080 tcp:8080"),
                cmd("shell settings put global http_proxy 127.0.0.1:8080"),
                cmd("root"),
                cmd("wait-for-device"),
                vec!["push".into(), CA.into(), staged.into()],
            ]
        );
        let script = &plan.commands[5][1];
        assert_eq!(plan.commands.len(), 6);
        assert!(script.starts_with("set -e;"), "{script}");
        assert!(script.contains("cp /system/etc/security/cacerts/* $tmp/"));
        assert!(script.contains("mount -t tmpfs tmpfs /system/etc/security/cacerts"));
        assert!(script.contains("mv /data/local/tmp/3dccab30.0 /system/etc/security/cacerts/"));
        assert!(script.contains("chmod 644 /system/etc/security/cacerts/*"));
        assert!(script.contains("chcon u:object_r:system_file:s0"));
        assert!(
            !script.contains("nsenter"),
            "no APEX store before 14: {script}"
        );
        let saved = plan.save.unwrap();
        assert!(saved.ran_adb_root);
        assert_eq!(
            saved.system,
            Some(SystemOverlay {
                file: "3dccab30.0".into(),
                apex: false
            })
        );
        assert_eq!(saved.pushed, vec![staged.to_string()]);
    }

    #[test]
    fn android_14_system_store_binds_over_the_apex_in_the_zygotes() {
        let mut d = device(34);
        d.shell_is_root = true;
        let plan = plan(&d, &setup_req(Store::System), None).unwrap();
        assert!(!plan.commands.contains(&cmd("root")), "already root");
        let script = &plan.commands.last().unwrap()[1];
        assert!(
            script.contains("cp /apex/com.android.conscrypt/cacerts/* $tmp/"),
            "{script}"
        );
        assert!(script.contains("pidof zygote64"));
        assert!(script.contains(
            "nsenter --mount=/proc/$z/ns/mnt -- /bin/mount --bind /system/etc/security/cacerts \
             /apex/com.android.conscrypt/cacerts"
        ));
        assert!(text(&plan).contains("zygotes"));
        let saved = plan.save.unwrap();
        assert!(!saved.ran_adb_root);
        assert!(saved.system.unwrap().apex);
    }

    #[test]
    fn existing_proxy_setting_is_recorded_and_put_back() {
        let mut d = device(33);
        d.http_proxy = Some("10.0.0.1:3128".into());
        let setup = plan(&d, &setup_req(Store::User), None).unwrap();
        let saved = setup.save.unwrap();
        assert_eq!(saved.previous_http_proxy.as_deref(), Some("10.0.0.1:3128"));
        assert!(text_has(&setup.text, "was 10.0.0.1:3128"));

        // After setup the device has our value and the reverse.
        d.http_proxy = Some("127.0.0.1:8080".into());
        d.reverses = vec![rev("tcp:8080", "tcp:8080")];
        d.ca_in_downloads = true;
        let down = plan(&d, &Request::Teardown, Some(&saved)).unwrap();
        assert_eq!(
            down.commands,
            vec![
                cmd("reverse --remove tcp:8080"),
                cmd("shell settings put global http_proxy 10.0.0.1:3128"),
                cmd("shell rm -f /sdcard/Download/pin-proxy-ca.crt"),
            ]
        );
        assert!(down.delete_state);
    }

    fn text_has(lines: &[String], needle: &str) -> bool {
        lines.iter().any(|l| l.contains(needle))
    }

    fn rev(remote: &str, local: &str) -> Reverse {
        Reverse {
            remote: remote.into(),
            local: local.into(),
        }
    }

    #[test]
    fn existing_reverse_is_left_alone_by_setup_and_teardown() {
        let mut d = device(33);
        d.reverses = vec![rev("tcp:8080", "tcp:8080"), rev("tcp:5000", "tcp:5000")];
        let setup = plan(&d, &setup_req(Store::User), None).unwrap();
        assert!(!setup.commands.iter().any(|c| c[0] == "reverse"));
        let saved = setup.save.unwrap();
        assert!(!saved.added_reverse);
        d.ca_in_downloads = true;
        d.http_proxy = Some("127.0.0.1:8080".into());
        let down = plan(&d, &Request::Teardown, Some(&saved)).unwrap();
        assert!(!down.commands.iter().any(|c| c[0] == "reverse"));
        assert!(text_has(&down.text, "was there before setup, left alone"));
    }

    #[test]
    fn a_reverse_to_elsewhere_is_replaced_and_put_back() {
        let mut d = device(33);
        d.reverses = vec![rev("tcp:8080", "tcp:9090")];
        let saved = plan(&d, &setup_req(Store::User), None)
            .unwrap()
            .save
            .unwrap();
        assert_eq!(saved.previous_reverse.as_deref(), Some("tcp:9090"));
        let down = plan(&d, &Request::Teardown, Some(&saved)).unwrap();
        assert_eq!(down.commands[0], cmd("reverse tcp:8080 tcp:9090"));
    }

    #[test]
    fn teardown_from_a_state_file_unset_proxy_clears_then_deletes() {
        let saved = Saved {
            schema: STATE_SCHEMA,
            serial: "emulator-5554".into(),
            port: 8080,
            previous_http_proxy: None,
            set_http_proxy: true,
            added_reverse: true,
            previous_reverse: None,
            pushed: vec![DOWNLOADS_CA.into()],
            system: Some(SystemOverlay {
                file: "3dccab30.0".into(),
                apex: true,
            }),
            ran_adb_root: true,
        };
        let mut d = device(34);
        d.shell_is_root = true;
        d.reverses = vec![rev("tcp:8080", "tcp:8080")];
        d.ca_in_downloads = true;
        d.ca_in_system = true;
        let down = plan(&d, &Request::Teardown, Some(&saved)).unwrap();
        assert_eq!(
            down.commands[..4],
            [
                cmd("reverse --remove tcp:8080"),
                cmd("shell settings put global http_proxy :0"),
                cmd("shell settings delete global http_proxy"),
                cmd("shell rm -f /sdcard/Download/pin-proxy-ca.crt"),
            ]
        );
        let unmount = &down.commands[4][1];
        assert!(
            unmount.contains("/bin/umount /apex/com.android.conscrypt/cacerts"),
            "{unmount}"
        );
        assert!(unmount.ends_with("umount /system/etc/security/cacerts"));
        assert_eq!(down.commands[5], cmd("unroot"));
        assert_eq!(down.commands.len(), 6);
        assert!(down.save.is_none() && down.delete_state);
    }

    #[test]
    fn teardown_after_a_reboot_skips_what_is_already_gone() {
        let saved = plan(&device(33), &setup_req(Store::System), None)
            .unwrap()
            .save
            .unwrap();
        // Rebooted: the reverse, the overlay and root are gone; the setting stays.
        let mut d = device(33);
        d.http_proxy = Some("127.0.0.1:8080".into());
        let down = plan(&d, &Request::Teardown, Some(&saved)).unwrap();
        assert_eq!(
            down.commands,
            vec![
                cmd("shell settings put global http_proxy :0"),
                cmd("shell settings delete global http_proxy"),
                cmd("shell rm -f /data/local/tmp/3dccab30.0"),
                cmd("unroot"),
            ]
        );
        assert!(text_has(&down.text, "reverse tcp:8080: already gone"));
        assert!(text_has(&down.text, "overlay already gone"));
    }

    #[test]
    fn teardown_without_a_state_file_is_refused() {
        assert_eq!(
            plan(&device(33), &Request::Teardown, None).unwrap_err(),
            Refusal::NothingToUndo
        );
    }

    #[test]
    fn second_setup_repairs_the_reverse_and_keeps_the_first_previous_values() {
        let mut d = device(33);
        d.http_proxy = Some("10.0.0.1:3128".into());
        let first = plan(&d, &setup_req(Store::User), None)
            .unwrap()
            .save
            .unwrap();
        // Rebooted: our setting stayed, the reverse died.
        d.http_proxy = Some("127.0.0.1:8080".into());
        d.ca_in_downloads = true;
        let again = plan(&d, &setup_req(Store::User), Some(&first)).unwrap();
        assert_eq!(again.commands[0], cmd("reverse tcp:8080 tcp:8080"));
        assert!(!again
            .commands
            .iter()
            .any(|c| c.contains(&"put".to_string())));
        assert!(text_has(&again.text, "was gone"));
        let saved = again.save.unwrap();
        assert_eq!(saved.previous_http_proxy.as_deref(), Some("10.0.0.1:3128"));
        assert!(saved.set_http_proxy);
    }

    #[test]
    fn status_with_a_dead_reverse_says_to_run_setup_again() {
        let mut d = device(33);
        d.http_proxy = Some("127.0.0.1:8080".into());
        let plan = plan(&d, &Request::Status { port: 8080 }, None).unwrap();
        assert!(plan.commands.is_empty());
        let t = text(&plan);
        assert!(t.contains("reverse:    none"), "{t}");
        assert!(t.contains("the reverse tcp:8080 is gone"), "{t}");
        assert!(
            t.contains("Run `pin-proxy device android setup` again"),
            "{t}"
        );
    }

    #[test]
    fn status_when_all_is_set() {
        let mut d = device(33);
        d.http_proxy = Some("127.0.0.1:8080".into());
        d.reverses = vec![rev("tcp:8080", "tcp:8080")];
        d.ca_in_downloads = true;
        let t = text(&plan(&d, &Request::Status { port: 8080 }, None).unwrap());
        assert!(t.contains("reverse:    tcp:8080 -> tcp:8080"), "{t}");
        assert!(t.contains("CA:         present in Download"), "{t}");
        assert!(t.contains("ok: apps use the proxy"), "{t}");
    }

    fn listed(serial: &str, state: &str) -> Listed {
        Listed {
            serial: serial.into(),
            state: state.into(),
        }
    }

    #[test]
    fn selection_covers_none_several_unauthorized_offline_and_serial() {
        assert_eq!(select(&[], None), Err(Selection::NoDevice));
        let two = [listed("emulator-5554", "device"), listed("R58M", "device")];
        let err = select(&two, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "2 devices are attached (emulator-5554, R58M): choose one with --serial"
        );
        assert_eq!(select(&two, Some("R58M")).unwrap().serial, "R58M");
        assert!(matches!(
            select(&two, Some("X")),
            Err(Selection::NotFound { .. })
        ));
        let unauthorized = select(&[listed("R58M", "unauthorized")], None).unwrap_err();
        assert!(unauthorized.to_string().contains("RSA key prompt"));
        let offline = select(&[listed("R58M", "offline")], None).unwrap_err();
        assert!(offline.to_string().contains("is offline"));
    }
}
