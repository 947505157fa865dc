//! Devices: preparing an Android device (adb) or the iOS simulator (simctl) to use the proxy.
//!
//! [`plan`] decides, from what a device reports and what the user asked, which adb commands to run
//! and what to tell the user; it is pure and unit-tested per device state. [`adb`] is the thin
//! executor: it runs `adb` (every command bounded by a timeout), parses what adb prints, and keeps
//! the state file that lets `teardown` undo exactly what `setup` changed. [`ios`] is the simulator:
//! `xcrun simctl keychain` where Xcode exists, printed steps where it does not. Nothing here knows
//! the CLI or the proxy: the CA file and the port are arguments. [`lan`] is what the proxy's banner
//! tells a device on the network: its addresses, the install URLs and a QR code.

pub mod adb;
pub mod ios;
pub mod lan;
pub mod plan;

/// Waits for `child` at most `timeout`; kills and reaps it then. `Ok(None)`: it timed out.
pub(crate) fn wait_bounded(
    child: &mut std::process::Child,
    timeout: std::time::Duration,
) -> std::io::Result<Option<std::process::ExitStatus>> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
