//! `pin-proxy pin-config keygen | sign | verify`: signed pin configs from the command line.
//! Reads the files, reads the clock, and prints; the formats and rules are in
//! [`crate::pin_config`].
//!
//! `verify` answers like a client: exit 0 and what it would use, or exit 1
//! ([`exit::EXPECTATION_FAILED`]) and one `refused: ...` line. Files that cannot be used (an
//! unreadable key, a malformed source) are errors, exit 2, as everywhere.

/// A line on stderr for a long-running service: a log reader that went away (a closed pipe)
/// must not stop the service, so a failed write is ignored where `eprintln!` would panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Subcommand;

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
    /// Serve the signed config at /pins, signing it again when the source file changes (a
    /// changed file whose version was not raised is refused, and the old config stays served).
    Serve {
        /// The source file (pins.toml).
        source: PathBuf,
        /// The private key.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Address to listen on; one that is not loopback needs --allow-from.
        #[arg(long, default_value = "127.0.0.1:9443", value_name = "ADDR")]
        listen: std::net::SocketAddr,
        /// Address ranges that may fetch besides loopback clients (`192.168.1.0/24`); others
        /// are disconnected. Repeatable or comma-separated.
        #[arg(long, value_name = "CIDR", value_delimiter = ',')]
        allow_from: Vec<crate::access::Cidr>,
        /// The signed format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key of --tls-cert (PEM).
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
}

/// The signed formats (`jws`, or `wultra` for ECDSA P-256 keys).
pub(crate) use crate::pin_config::serve::Format;

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
        PinConfigCommand::Serve {
            source,
            key,
            listen,
            allow_from,
            format,
            tls_cert,
            tls_key,
        } => serve(
            &source,
            &key,
            listen,
            crate::access::AllowList::new(allow_from),
            format,
            tls_cert.zip(tls_key),
        ),
    }
}

/// How often `serve` looks at the source file.
const POLL: std::time::Duration = std::time::Duration::from_millis(500);

fn serve(
    source_path: &Path,
    key_path: &Path,
    listen: std::net::SocketAddr,
    allow: crate::access::AllowList,
    format: Format,
    tls: Option<(PathBuf, PathBuf)>,
) -> Result<i32> {
    use crate::pin_config::serve::{self as served, ConfigServer, Update};
    crate::access::check_server_listen(listen, &allow, "pin-config serve")
        .map_err(|e| Error::input("--listen", e))?;
    let key = std::sync::Arc::new(SigningKey::load(key_path)?);
    if format == Format::Wultra && key.key_type() != KeyType::EcdsaP256 {
        return Err(Error::input(
            key_path.display().to_string(),
            "the Wultra format signs with ECDSA P-256: make a key with `pin-config keygen --key-type ecdsa-p256`",
        ));
    }
    let tls_config = tls
        .map(|(cert, key)| tls_server_config(&cert, &key))
        .transpose()?;
    let scheme = if tls_config.is_some() {
        "https"
    } else {
        "http"
    };
    let mut source = source::read(source_path)?;
    let signed = served::sign(&source, &key, format, now_unix())?;
    let kid = key.kid().to_string();
    let rt = super::runtime()?;
    rt.block_on(async move {
        let (log_tx, mut log_rx) = tokio::sync::mpsc::unbounded_channel();
        let server =
            ConfigServer::start_allowing(listen, allow, tls_config, key.clone(), Some(log_tx))
                .await?;
        let version = signed.version;
        server.publish(Some(signed));
        say!(
            "pin-config serve: version {version} of {} at {scheme}://{}{} ({}, kid {kid})",
            source_path.display(),
            server.addr(),
            served::PATH,
            format.name()
        );
        say!("pin-config serve: stop with Ctrl-C");
        let mut seen = file_stamp(source_path);
        let stop = super::stop_signal();
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(POLL);
        loop {
            tokio::select! {
                () = &mut stop => break,
                Some(fetch) = log_rx.recv() => say!("pin-config serve: {fetch}"),
                _ = tick.tick() => {
                    let stamp = file_stamp(source_path);
                    if stamp == seen {
                        continue;
                    }
                    seen = stamp;
                    let served_version = server.version().unwrap_or(source.version);
                    let new = match source::read(source_path) {
                        Ok(new) => new,
                        Err(e) => {
                            say!("pin-config serve: {e}; still serving version {served_version}");
                            continue;
                        }
                    };
                    match served::update(Some(&source), &new) {
                        Update::Unchanged => {}
                        Update::Refused(why) => {
                            say!("pin-config serve: refused: {why}; still serving version {served_version}");
                        }
                        Update::Publish => match served::sign(&new, &key, format, now_unix()) {
                            Ok(signed) => {
                                server.publish(Some(signed));
                                say!("pin-config serve: now serving version {} (was {served_version})", new.version);
                                source = new;
                            }
                            Err(e) => say!("pin-config serve: cannot sign version {}: {e}; still serving version {served_version}", new.version),
                        },
                    }
                }
            }
        }
        Ok::<_, Error>(())
    })?;
    Ok(exit::OK)
}

/// What tells that a file changed: its length, modification time and content hash.
fn file_stamp(path: &Path) -> Option<(u64, Option<std::time::SystemTime>, String)> {
    let meta = std::fs::metadata(path).ok()?;
    let bytes = std::fs::read(path).ok()?;
    Some((
        meta.len(),
        meta.modified().ok(),
        crate::pins::spki_pin(&bytes),
    ))
}

/// A TLS server configuration from a PEM chain and key.
fn tls_server_config(cert: &Path, key: &Path) -> Result<std::sync::Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject as _;
    let chain_pem = std::fs::read(cert).map_err(|e| Error::file(cert, "read --tls-cert", e))?;
    let key_pem = std::fs::read(key).map_err(|e| Error::file(key, "read --tls-key", e))?;
    let chain = crate::pins::pem_certs(&chain_pem)
        .map_err(|e| Error::input(cert.display().to_string(), e))?;
    let key_der = rustls::pki_types::PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        Error::input(
            key.display().to_string(),
            format!("no usable private key: {e}"),
        )
    })?;
    let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key_der)
        .map_err(|e| Error::input(key.display().to_string(), format!("unsupported key: {e}")))?;
    let certified = rustls::sign::CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| {
        Error::input(
            "--tls-key",
            format!("the key does not belong to {} ({e})", cert.display()),
        )
    })?;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = crate::tls::server_config(
        provider,
        std::sync::Arc::new(certified),
        vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    )
    .map_err(Error::runtime)?;
    Ok(std::sync::Arc::new(config))
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
