//! `pin-proxy ca init | show | export`: the local CA's life cycle.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};

use crate::ca::{CertificateAuthority, KeyType};
use crate::error::{exit, Error, Result};

#[derive(Debug, Subcommand)]
pub(crate) enum CaCommand {
    /// Create a new CA (ca.pem + ca.key, mode 0600) in the CA directory.
    Init {
        /// Key algorithm of the CA.
        #[arg(long, value_enum, default_value_t)]
        key_type: KeyType,
        /// Replace an existing CA (devices that trust the old one must install the new one).
        #[arg(long)]
        force: bool,
    },
    /// Print the CA's subject, validity, files, SPKI pin and SHA-256 fingerprint.
    Show,
    /// Write the CA certificate (never the key) to stdout or a file.
    Export {
        /// Encoding.
        #[arg(long, value_enum, default_value_t = Format::Pem)]
        format: Format,
        /// Write here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Format {
    /// Base64 text (`-----BEGIN CERTIFICATE-----`), for curl, Linux, macOS, iOS.
    Pem,
    /// Binary, for Android (`.crt`) and Windows (`.cer`).
    Der,
}

pub(crate) fn run(cmd: CaCommand, dir: &Path) -> Result<i32> {
    match cmd {
        CaCommand::Init { key_type, force } => {
            let ca = CertificateAuthority::create(dir, key_type, force)?;
            println!("created a new CA in {}", dir.display());
            print_info(&ca);
        }
        CaCommand::Show => print_info(&CertificateAuthority::load(dir)?),
        CaCommand::Export { format, out } => {
            let ca = CertificateAuthority::load(dir)?;
            let bytes = match format {
                Format::Pem => ca.cert_pem().as_bytes().to_vec(),
                Format::Der => ca.cert_der().to_vec(),
            };
            match out {
                Some(path) => std::fs::write(&path, bytes)
                    .map_err(|e| Error::file(&path, "write the exported CA", e))?,
                None => std::io::stdout()
                    .write_all(&bytes)
                    .map_err(|e| Error::runtime(format!("cannot write to stdout: {e}")))?,
            }
        }
    }
    Ok(exit::OK)
}

fn print_info(ca: &CertificateAuthority) {
    println!("subject:     {}", ca.subject());
    println!("valid from:  {}", ca.not_before());
    println!("valid until: {}", ca.not_after());
    if let Some(paths) = ca.paths() {
        println!("certificate: {}", paths.cert.display());
        println!("key:         {} (keep it private)", paths.key.display());
    }
    println!(
        "fingerprint: {} (SHA-256 of the certificate)",
        ca.fingerprint()
    );
    println!("spki pin:    {}", ca.pin());
    println!("  okhttp:    sha256/{}", ca.pin());
    println!("  curl:      --pinnedpubkey 'sha256//{}'", ca.pin());
    println!(
        "android:     {}.0 (the system store's file name, openssl -subject_hash_old)",
        ca.subject_hash_old()
    );
}
