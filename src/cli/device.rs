//! `pin-proxy device android setup | status | teardown` and `device ios-simulator setup`: flags,
//! the CA, and printing; the work is `device`'s.

use std::path::Path;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::ca::{CertificateAuthority, KeyType};
use crate::device::adb::{self, Adb};
use crate::device::ios;
use crate::device::plan::{Request, Store};
use crate::error::{exit, Error, Result};

#[derive(Debug, Subcommand)]
pub(crate) enum DeviceCommand {
    /// An Android device or emulator, through adb.
    #[command(subcommand)]
    Android(AndroidCommand),
    /// The booted iOS simulator, through xcrun simctl.
    #[command(subcommand)]
    IosSimulator(IosCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum AndroidCommand {
    /// adb reverse, the global proxy setting, the CA (Downloads and Settings, or --system); writes
    /// a state file first so teardown can undo it.
    Setup {
        #[command(flatten)]
        common: Common,
        /// Put the CA in the system store (root: an emulator image without Google Play, or a
        /// userdebug build), trusted by every app; gone at reboot.
        #[arg(long)]
        system: bool,
    },
    /// What is set now: reverses, the proxy setting, the CA files, the state file.
    Status {
        #[command(flatten)]
        common: Common,
    },
    /// Undo what setup changed, from its state file, then delete it.
    Teardown {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Args)]
pub(crate) struct Common {
    /// The device (a serial from `adb devices`); needed when several are attached.
    #[arg(long)]
    serial: Option<String>,
    /// The proxy's port: the device's 127.0.0.1:PORT is reversed to this machine's.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The longest any one adb command may take.
    #[arg(long, value_parser = super::parse_duration, default_value = "30s")]
    timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub(crate) enum IosCommand {
    /// Add the CA to the booted simulator (xcrun simctl keychain), or print the commands.
    Setup {
        /// The proxy's port, for the macOS proxy steps.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// The longest xcrun may take.
        #[arg(long, value_parser = super::parse_duration, default_value = "30s")]
        timeout: Duration,
    },
}

pub(crate) fn run(cmd: DeviceCommand, ca_dir: &Path) -> Result<i32> {
    let lines = match cmd {
        DeviceCommand::Android(cmd) => android(cmd, ca_dir)?,
        DeviceCommand::IosSimulator(IosCommand::Setup { port, timeout }) => {
            let (ca, created) = load_ca(ca_dir)?;
            let mut lines = created_line(created, ca_dir);
            lines.extend(ios::setup(&ca_file(&ca, ca_dir)?, port, timeout)?);
            lines
        }
    };
    for line in lines {
        println!("{line}");
    }
    Ok(exit::OK)
}

fn android(cmd: AndroidCommand, ca_dir: &Path) -> Result<Vec<String>> {
    match cmd {
        AndroidCommand::Setup { common, system } => {
            let (ca, created) = load_ca(ca_dir)?;
            let mut lines = created_line(created, ca_dir);
            let request = Request::Setup {
                port: common.port,
                store: if system { Store::System } else { Store::User },
                ca_file: ca_file(&ca, ca_dir)?,
                ca_hash: ca.subject_hash_old().to_string(),
            };
            lines.extend(run_android(
                &common,
                ca_dir,
                &request,
                Some(ca.subject_hash_old()),
            )?);
            Ok(lines)
        }
        AndroidCommand::Status { common } => {
            // Status creates nothing: without a CA it just cannot look for it in the stores.
            let ca = CertificateAuthority::load(ca_dir).ok();
            let hash = ca.as_ref().map(CertificateAuthority::subject_hash_old);
            let request = Request::Status { port: common.port };
            run_android(&common, ca_dir, &request, hash)
        }
        AndroidCommand::Teardown { common } => {
            run_android(&common, ca_dir, &Request::Teardown, None)
        }
    }
}

fn run_android(
    common: &Common,
    ca_dir: &Path,
    request: &Request,
    hash: Option<&str>,
) -> Result<Vec<String>> {
    let adb = Adb::new(common.timeout);
    adb::android(&adb, ca_dir, common.serial.as_deref(), request, hash)
}

fn load_ca(ca_dir: &Path) -> Result<(CertificateAuthority, bool)> {
    CertificateAuthority::load_or_create(ca_dir, KeyType::default())
}

fn created_line(created: bool, ca_dir: &Path) -> Vec<String> {
    if created {
        vec![format!("created a new CA in {}", ca_dir.display())]
    } else {
        Vec::new()
    }
}

fn ca_file(ca: &CertificateAuthority, ca_dir: &Path) -> Result<String> {
    let path = ca.paths().map(|p| p.cert.clone()).ok_or_else(|| {
        Error::runtime(format!(
            "the CA in {} has no certificate file",
            ca_dir.display()
        ))
    })?;
    path.to_str().map(str::to_string).ok_or_else(|| {
        Error::input(
            "--ca-dir",
            format!(
                "{} is not UTF-8: adb needs a path it can print",
                path.display()
            ),
        )
    })
}
