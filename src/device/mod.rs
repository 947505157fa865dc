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
