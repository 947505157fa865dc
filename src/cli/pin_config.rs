//! `pin-proxy pin-config keygen | sign | verify`: signed pin configs from the command line.
//! Reads the files, reads the clock, and prints; the formats and rules are in
//! [`crate::pin_config`].
//!
//! `verify` answers like a client: exit 0 and what it would use, or exit 1
//! ([`exit::EXPECTATION_FAILED`]) and one `refused: ...` line. Files that cannot be used (an
//! unreadable key, a malformed source) are errors, exit 2, as everywhere.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};

use crate::error::{exit, Error, Result};
use crate::pin_config::{self, jws, keys, source, wultra, KeyType, Refusal};
use crate::pin_config::{SigningKey, VerifyingKey};

#[derive(Debug, Subcommand)]
pub(crate) enum PinConfigCommand {
    /// Make a signing key: FILE (the private key, mode 0600) and FILE with .pub (the public key).
    Keygen {
        /// The key's algorithm (ecdsa-p256 for the Wultra format).
        #[arg(long, value_enum, default_value_t)]
        key_type: KeyType,
        /// Where to write the private key; the public key goes beside it with .pub.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Replace existing key files.
        #[arg(long)]
        force: bool,
    },
    /// Sign a pin config source (TOML) with a private key.
    Sign {
        /// The source file (pins.toml).
        source: PathBuf,
        /// The private key (from pin-config keygen, or any Ed25519/P-256 PKCS#8 or SEC1 PEM).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Write the signed config here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The signed format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Verify a signed pin config as a client would: exit 0 and what it would use, or exit 1
    /// and why it refuses.
    Verify {
        /// The signed config.
        file: PathBuf,
        /// The public key (a PUBLIC KEY or CERTIFICATE PEM, or a Wultra raw public key).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The signed format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        /// The config the client has cached (JWS): refuse an older version, or the same
        /// version with other content.
        #[arg(long, value_name = "CACHED.jws")]
        cache: Option<PathBuf>,
    },
}

/// The signed formats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A compact JWS (EdDSA or ES256) over the JSON payload.
    #[default]
    Jws,
    /// Wultra SSL pinning fingerprints (ECDSA P-256 keys only).
    Wultra,
}

pub(crate) fn run(cmd: PinConfigCommand) -> Result<i32> {
    match cmd {
        PinConfigCommand::Keygen {
            key_type,
            out,
            force,
        } => keygen(key_type, &out, force),
        PinConfigCommand::Sign {
            source,
            key,
            out,
            format,
        } => sign(&source, &key, out.as_deref(), format),
        PinConfigCommand::Verify {
            file,
            key,
            format,
            cache,
        } => verify(&file, &key, format, cache.as_deref()),
    }
}

/// The clock, in Unix seconds (0 if it is before 1970).
pub(crate) fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn keygen(key_type: KeyType, out: &Path, force: bool) -> Result<i32> {
    let (key, public) = keys::write_keypair(out, key_type, force)?;
    let mut lines = vec![
        format!(
            "private key: {} (mode 0600; keep it private)",
            out.display()
        ),
        format!("public key:  {}", public.display()),
        format!("key type:    {key_type}"),
        format!("kid:         {}", key.kid()),
    ];
    if key_type == KeyType::EcdsaP256 {
        lines.push(format!(
            "wultra public key: {}",
            wultra::public_key_base64(key.verifying_key())?
        ));
    }
    print_lines(&lines)?;
    Ok(exit::OK)
}

fn sign(source_path: &Path, key_path: &Path, out: Option<&Path>, format: Format) -> Result<i32> {
    let source = source::read(source_path)?;
    let key = SigningKey::load(key_path)?;
    let now = now_unix();
    let (text, summary) = match format {
        Format::Jws => {
            let payload = source.payload(now);
            let text = jws::sign(&payload, &key)?;
            let summary = format!(
                "signed version {} ({}), expires {}, kid {}",
                payload.version,
                count(payload.hosts.len(), "host", "hosts"),
                pin_config::rfc3339(payload.expires_at),
                key.kid()
            );
            (text, summary)
        }
        Format::Wultra => {
            let text = wultra::sign_fingerprints(&source, &key, now)?;
            let count_of = wultra::entries(&source, now)?.len();
            let summary = format!(
                "signed {} for Wultra clients, kid {}",
                count(count_of, "entry", "entries"),
                key.kid()
            );
            (text, summary)
        }
    };
    match out {
        Some(path) => {
            std::fs::write(path, &text)
                .map_err(|e| Error::file(path, "write the signed config", e))?;
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| {
                    if text.ends_with('\n') {
                        Ok(())
                    } else {
                        stdout.write_all(b"\n")
                    }
                })
                .and_then(|()| stdout.flush())
                .map_err(|e| Error::runtime(format!("cannot write to stdout: {e}")))?;
        }
    }
    eprintln!("pin-proxy: {summary}");
    Ok(exit::OK)
}

fn verify(file: &Path, key_path: &Path, format: Format, cache: Option<&Path>) -> Result<i32> {
    let key = VerifyingKey::load(key_path)?;
    if format == Format::Wultra && key.key_type() != KeyType::EcdsaP256 {
        return Err(Error::input(
            key_path.display().to_string(),
            format!(
                "the Wultra format is verified with an ECDSA P-256 key, and this is an {} key",
                key.key_type()
            ),
        ));
    }
    let bytes = std::fs::read(file).map_err(|e| Error::file(file, "read the signed config", e))?;
    let now = now_unix();
    let lines = match format {
        Format::Jws => {
            let cached = match cache {
                Some(path) => Some(read_cache(path, &key)?),
                None => None,
            };
            let text = String::from_utf8_lossy(&bytes);
            match jws::verify(&text, &key, now)
                .and_then(|p| pin_config::accept(&p, cached.as_ref()).map(|()| p))
            {
                Ok(payload) => accepted_jws(&payload, &key, cached.as_ref()),
                Err(refusal) => return refused(&refusal),
            }
        }
        Format::Wultra => {
            if cache.is_some() {
                return Err(Error::input(
                    "--cache",
                    "applies to the jws format only (Wultra clients merge updates into their \
                     store; the format has no version)",
                ));
            }
            match wultra::verify_fingerprints(&bytes, &key, now) {
                Ok(fingerprints) => accepted_wultra(&fingerprints),
                Err(refusal) => return refused(&refusal),
            }
        }
    };
    print_lines(&lines)?;
    Ok(exit::OK)
}

/// The cached config: verified with the same key, but not for time (it may have expired since;
/// it still bounds what replaces it).
fn read_cache(path: &Path, key: &VerifyingKey) -> Result<pin_config::Payload> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::file(path, "read the cached config", e))?;
    jws::verify_signature(&text, key).map_err(|refusal| {
        Error::input(
            path.display().to_string(),
            format!("the cached config does not verify: {refusal}"),
        )
    })
}

fn accepted_jws(
    payload: &pin_config::Payload,
    key: &VerifyingKey,
    cached: Option<&pin_config::Payload>,
) -> Vec<String> {
    let mut lines = vec![
        format!("accepted: version {}, kid {}", payload.version, key.kid()),
        format!("issued at:  {}", pin_config::rfc3339(payload.issued_at)),
        format!("expires at: {}", pin_config::rfc3339(payload.expires_at)),
    ];
    if let Some(cached) = cached {
        lines.push(if cached.version == payload.version {
            format!("cached:     version {} (the same config)", cached.version)
        } else {
            format!(
                "cached:     version {} (replaced by this one)",
                cached.version
            )
        });
    }
    for (host, set) in &payload.hosts {
        let scope = if set.include_subdomains {
            " and its subdomains"
        } else {
            ""
        };
        lines.push(format!(
            "host {host}{scope}: {}",
            count(set.pins.len(), "pin", "pins")
        ));
        lines.extend(set.pins.iter().map(|p| format!("  pin {p}")));
    }
    lines
}

fn accepted_wultra(fingerprints: &wultra::Fingerprints) -> Vec<String> {
    let mut lines = vec![format!(
        "accepted: {}, {} dropped as expired",
        count(fingerprints.entries.len(), "entry", "entries"),
        fingerprints.expired.len()
    )];
    let entry = |kind: &str, e: &wultra::Entry| {
        format!(
            "{kind} {} fingerprint {} expires {}",
            e.name,
            e.fingerprint,
            pin_config::rfc3339(e.expires)
        )
    };
    lines.extend(fingerprints.entries.iter().map(|e| entry("entry", e)));
    lines.extend(
        fingerprints
            .expired
            .iter()
            .map(|e| entry("dropped (expired)", e)),
    );
    lines
}

fn refused(refusal: &Refusal) -> Result<i32> {
    print_lines(&[format!("refused: {refusal}")])?;
    Ok(exit::EXPECTATION_FAILED)
}

/// `1 entry`, `2 entries`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn print_lines(lines: &[String]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    lines
        .iter()
        .try_for_each(|l| writeln!(stdout, "{l}"))
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::runtime(format!("cannot write to stdout: {e}")))
}
