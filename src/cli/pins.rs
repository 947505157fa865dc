//! `pin-proxy pins show|check|backup`: pins of certificate and key files or of a live host's
//! chain, in every platform's format; whether a pin set still matches; a spare key to ship
//! before it is used. Reads files and stdin, connects through [`client::chain`], writes the key;
//! the meaning lives in [`crate::pins`].

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use crate::client::chain::{self, ChainRequest};
use crate::client::{ProxySpec, Target};
use crate::error::{exit, Error, Result};
use crate::pins::check::{self, Candidate};
use crate::pins::format::{self, Connection, Format, IosIdentities, PathCert, Shown};
use crate::pins::input::{self, Item, Kind};
use crate::trust::CertSource;

#[derive(Debug, Subcommand)]
pub(crate) enum PinsCommand {
    /// Every certificate and key of the inputs (or of a live host's chain) with its pin, as a
    /// listing or as an app's pinning config.
    Show(ShowArgs),
    /// Whether a pin set still matches what a host presents: which certificate each pin
    /// matches, and warnings (no backup, a leaf about to expire, a pin matching nothing). Exit 1
    /// when no pin matches.
    Check(CheckArgs),
    /// Make a spare key (0600) and print its pin in every format, to ship before it is used.
    Backup(BackupArgs),
}

/// Where the certificates come from: files or a live host.
#[derive(Debug, Args)]
pub(crate) struct Source {
    /// Certificate, chain, bundle or key files (PEM or DER; PKCS#8, SEC1 and PKCS#1 private
    /// keys); `-` reads stdin.
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Fetch the chain a live host presents: HOST[:PORT] (443 by default; IPv6 in brackets).
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "files")]
    connect: Option<String>,
    /// Connect through this HTTP proxy with CONNECT (shows what an intercepting proxy
    /// presents): host:port or http://[user:password@]host:port.
    #[arg(long, value_name = "ADDR", requires = "connect")]
    proxy: Option<String>,
    /// The server name to send and check (default: the --connect host).
    #[arg(long, value_name = "NAME", requires = "connect")]
    sni: Option<String>,
    /// Also trust the CA certificates in this PEM file, for the trust result. Repeatable.
    #[arg(long, value_name = "FILE", requires = "connect")]
    ca: Vec<PathBuf>,
    /// Trust only the --ca files, not the system's roots.
    #[arg(long, requires = "connect")]
    no_system_roots: bool,
    /// Limit on TCP, the proxy's CONNECT and the TLS handshake.
    #[arg(long, default_value = "10s", value_parser = super::parse_duration, value_name = "DURATION")]
    connect_timeout: Duration,
}

/// Which digest to show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Hash {
    /// The SPKI SHA-256 pin only.
    #[default]
    Spki,
    /// Also the whole certificate's SHA-256, base64 and hex (what urllib3, Wultra and some
    /// Flutter plugins pin).
    Cert,
}

/// Which certificates' pins go into the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Only {
    /// Certificates that are not CAs, and keys.
    Leaf,
    /// CA certificates (intermediates and roots).
    Ca,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    #[command(flatten)]
    source: Source,
    /// The output: a listing, JSON, or an app's pinning config.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// The domain the config formats pin (default: the --connect or --sni name, else the leaf
    /// certificate's first DNS name).
    #[arg(long, value_name = "HOST")]
    host: Option<String>,
    /// A backup key or certificate (any input form): its pin is added as a spare. Repeatable.
    #[arg(long, value_name = "FILE")]
    backup: Vec<PathBuf>,
    /// Also show each certificate's whole SHA-256 (table; json always has it).
    #[arg(long, value_enum, default_value_t)]
    hash: Hash,
    /// Only these certificates' pins.
    #[arg(long, value_enum)]
    only: Option<Only>,
    /// The Android pin-set expiration: YYYY-MM-DD, or `none` (default: the earliest
    /// not-after of the pinned certificates).
    #[arg(long, value_name = "DATE")]
    expiration: Option<String>,
    /// Pin the domain's subdomains too (Android includeSubdomains, iOS NSIncludesSubdomains,
    /// TrustKit TSKIncludeSubdomains).
    #[arg(long)]
    include_subdomains: bool,
    /// Where the iOS pins go (default: leaf, unless every pin is a CA certificate's).
    #[arg(long, value_enum)]
    ios_identities: Option<IosIdentities>,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    source: Source,
    /// A pin the app ships: base64 SPKI SHA-256, bare or as sha256/... or sha256//...;
    /// repeatable, and a comma-separated list counts as several.
    #[arg(long, value_name = "PIN", required = true)]
    pin: Vec<String>,
    /// A backup key (any input form): its pin is a known spare. Repeatable.
    #[arg(long, value_name = "FILE")]
    backup: Vec<PathBuf>,
    /// Print one JSON object instead of lines.
    #[arg(long)]
    json: bool,
}

/// The key types `pins backup` makes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum BackupKeyType {
    /// ECDSA on P-256.
    #[default]
    EcdsaP256,
    /// RSA, 2048 bits.
    Rsa2048,
}

#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// Write the new private key here (PKCS#8 PEM, 0600).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The key's type: what the server's certificate will use when it moves to this key.
    #[arg(long, value_enum, default_value_t)]
    key_type: BackupKeyType,
    /// The domain for the printed config lines.
    #[arg(long, value_name = "HOST", default_value = "api.example.com")]
    host: String,
    /// Replace an existing file.
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(cmd: PinsCommand) -> Result<i32> {
    match cmd {
        PinsCommand::Show(args) => show(&args),
        PinsCommand::Check(args) => check_cmd(&args),
        PinsCommand::Backup(args) => backup(&args),
    }
}

/// Reads one input (`-` is stdin) into items.
fn read_input(path: &Path) -> Result<(String, Vec<Item>)> {
    let (name, bytes) = if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| Error::runtime(format!("cannot read stdin: {e}")))?;
        ("-".to_string(), buf)
    } else {
        let bytes = std::fs::read(path).map_err(|e| Error::file(path, "read", e))?;
        (path.display().to_string(), bytes)
    };
    let items = input::read(&bytes, &name).map_err(|e| Error::input(e.at, e.message))?;
    Ok((name, items))
}

/// The chain and the connection, from a live host.
struct Live {
    items: Vec<Item>,
    connection: Connection,
    /// The verified path's anchor when the server did not send it: (subject, pin).
    anchor: Option<(String, String)>,
}

fn live(source: &Source, connect: &str) -> Result<Live> {
    if connect.contains('/') || connect.contains('@') {
        return Err(Error::input(
            "--connect",
            format!("{connect:?}: expected HOST[:PORT], not a URL"),
        ));
    }
    let bad = || {
        Error::input(
            "--connect",
            format!("{connect:?} is not HOST[:PORT] (a port from 1 to 65535; IPv6 in brackets)"),
        )
    };
    let (host, port) = split_host_port(connect).ok_or_else(bad)?;
    let target = Target::parse(&format!("https://{host}:{port}/")).map_err(|_| bad())?;
    let proxy = source
        .proxy
        .as_deref()
        .map(ProxySpec::parse)
        .transpose()
        .map_err(|e| Error::input("--proxy", e))?;
    if source.connect_timeout.is_zero() {
        return Err(Error::input("--connect-timeout", "must be more than zero"));
    }
    // No roots at all is allowed here: the chain is shown, as untrusted.
    let roots = super::client::load_roots(&source.ca, source.no_system_roots)?;
    let sni = source.sni.clone().unwrap_or_else(|| target.host.clone());
    let authority = target.connect_authority();
    let req = ChainRequest {
        target,
        sni: sni.clone(),
        proxy: proxy.clone(),
        roots: Arc::new(roots),
        timeout: source.connect_timeout,
    };
    let rt = super::current_thread_runtime()?;
    let chain = rt.block_on(chain::fetch(&req)).map_err(Error::runtime)?;
    let mut items = Vec::new();
    for (i, der) in chain.sent.iter().enumerate() {
        let mut item = input::read(der.as_ref(), &authority)
            .ok()
            .and_then(|v| v.into_iter().next())
            .unwrap_or_else(|| unreadable(der.as_ref(), &authority));
        item.position = i;
        items.push(item);
    }
    let (trusted, trust_failure, verified_path) = match &chain.path {
        Ok(path) => (
            true,
            None,
            path.iter()
                .map(|c| PathCert {
                    position: c.position,
                    subject: c.subject.clone(),
                    pin: c.pin.clone(),
                    source: match c.source {
                        CertSource::Sent => "sent".into(),
                        CertSource::TrustStore => "trust_store".into(),
                    },
                })
                .collect(),
        ),
        Err(failure) => (false, Some(failure.to_string()), Vec::new()),
    };
    let anchor = match &chain.path {
        Ok(path) => path
            .last()
            .filter(|c| c.source == CertSource::TrustStore)
            .map(|c| (c.subject.clone(), c.pin.clone())),
        Err(_) => None,
    };
    Ok(Live {
        items,
        connection: Connection {
            connect: authority,
            sni,
            proxy: proxy.map(|p| p.addr),
            tls_version: chain.tls_version,
            trusted,
            trust_failure,
            verified_path,
        },
        anchor,
    })
}

/// `HOST[:PORT]` (443 by default; IPv6 in brackets) → (host as a URL authority wants it, port).
fn split_host_port(spec: &str) -> Option<(&str, u16)> {
    let (host, port) = if spec.starts_with('[') {
        let end = spec.find(']')?;
        match &spec[end + 1..] {
            "" => (&spec[..=end], None),
            rest => (&spec[..=end], Some(rest.strip_prefix(':')?)),
        }
    } else {
        match spec.split_once(':') {
            // A second colon: an IPv6 address without brackets.
            Some((_, rest)) if rest.contains(':') => return None,
            Some((host, port)) => (host, Some(port)),
            None => (spec, None),
        }
    };
    let port = match port {
        None => 443,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0)?,
    };
    (!host.is_empty() && host != "[]").then_some((host, port))
}

/// A certificate the server sent that does not parse: still pinned (over its bytes), and said.
fn unreadable(der: &[u8], source: &str) -> Item {
    Item {
        source: source.to_string(),
        position: 0,
        kind: Kind::Certificate,
        structure: input::Structure::X509,
        encoding: "der",
        line: None,
        key_type: "unreadable certificate".into(),
        pin: crate::pins::spki_pin(der),
        cert: None,
    }
}

/// The items of the files, or of the live host.
enum Gathered {
    /// Each file's name and summary, and all their items in order.
    Files(Vec<(String, String)>, Vec<Item>),
    /// The live chain.
    Live(Live),
}

fn gather(source: &Source) -> Result<Gathered> {
    if let Some(connect) = &source.connect {
        return Ok(Gathered::Live(live(source, connect)?));
    }
    if source.files.is_empty() {
        return Err(Error::input(
            "pins",
            "give certificate or key files (- for stdin), or --connect HOST:PORT",
        ));
    }
    let (mut inputs, mut items) = (Vec::new(), Vec::new());
    for path in &source.files {
        let (name, mut got) = read_input(path)?;
        inputs.push((name, input::summary(&got)));
        items.append(&mut got);
    }
    Ok(Gathered::Files(inputs, items))
}

fn read_backups(files: &[PathBuf]) -> Result<Vec<Item>> {
    let mut out = Vec::new();
    for path in files {
        let (_, items) = read_input(path)?;
        out.extend(items);
    }
    Ok(out)
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn write_stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::runtime(format!("cannot write to stdout: {e}")))
}

fn show(args: &ShowArgs) -> Result<i32> {
    if args.hash == Hash::Cert && args.format.is_config() {
        return Err(Error::input(
            "--hash",
            "the platforms' configs pin the public key (SPKI); --hash cert is for --format table \
             (json always carries both)",
        ));
    }
    let expiration = match args.expiration.as_deref() {
        None => None,
        Some("none") => Some(None),
        Some(date) => {
            let fmt = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(date, &fmt).map_err(|_| {
                Error::input(
                    "--expiration",
                    format!("{date:?} is not a YYYY-MM-DD date or none"),
                )
            })?;
            Some(Some(date.to_string()))
        }
    };
    let (inputs, mut items, connection) = match gather(&args.source)? {
        Gathered::Files(inputs, items) => (inputs, items, None),
        Gathered::Live(live) => (Vec::new(), live.items, Some(live.connection)),
    };
    let host_default = connection.as_ref().map(|c| c.sni.clone());
    if let Some(only) = args.only {
        items.retain(|i| match only {
            Only::Leaf => !i.acts_as_ca(),
            Only::Ca => i.acts_as_ca(),
        });
        if items.is_empty() {
            return Err(Error::input(
                "--only",
                format!(
                    "no {} certificate among the inputs",
                    if only == Only::Ca { "CA" } else { "leaf" }
                ),
            ));
        }
    }
    let backups = read_backups(&args.backup)?;
    let host = args
        .host
        .clone()
        .or(host_default)
        .or_else(|| format::default_host(&items));
    let host = match host {
        Some(h) => h,
        None if args.format.is_config() => {
            return Err(Error::input(
                "--host",
                "no leaf certificate names the domain: give --host",
            ))
        }
        None => String::new(),
    };
    // The table and json name the inputs themselves; a config is all stdout carries.
    if connection.is_none() && args.format.is_config() {
        for (source, summary) in &inputs {
            eprintln!("pin-proxy pins: {source}: {summary}");
        }
    }
    let shown = Shown {
        host,
        inputs,
        expiration: expiration.unwrap_or_else(|| format::default_expiration(&items)),
        items,
        backups,
        include_subdomains: args.include_subdomains,
        ios: args.ios_identities,
        cert_hash: args.hash == Hash::Cert,
        connection,
        now: now_unix(),
    };
    if let Some(c) = &shown.connection {
        if args.format.is_config() && !c.trusted {
            eprintln!(
                "pin-proxy pins: warning: {} presented a chain that trust evaluation refused ({}): \
                 check that these are the pins you mean to ship",
                c.connect,
                c.trust_failure.as_deref().unwrap_or("refused")
            );
        }
    }
    let (text, warnings) = format::render(&shown, args.format);
    for w in warnings {
        eprintln!("pin-proxy pins: warning: {w}");
    }
    write_stdout(&text)?;
    Ok(exit::OK)
}

/// `pins check`'s JSON object.
#[derive(Serialize)]
struct CheckOut<'a> {
    #[serde(flatten)]
    checked: &'a check::Checked,
    candidates: &'a [Candidate],
    connection: Option<&'a Connection>,
}

fn check_cmd(args: &CheckArgs) -> Result<i32> {
    let mut pins = Vec::new();
    for spec in &args.pin {
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let pin = crate::pins::parse_pin(item).ok_or_else(|| {
                Error::input(
                    "--pin",
                    format!("{item:?} is not a base64 SHA-256 pin (sha256/ and sha256// prefixes are allowed)"),
                )
            })?;
            pins.push(pin.to_string());
        }
    }
    if pins.is_empty() {
        return Err(Error::input("--pin", "give at least one pin"));
    }
    let backups: Vec<String> = read_backups(&args.backup)?
        .into_iter()
        .map(|i| i.pin)
        .collect();
    let (items, anchor, connection) = match gather(&args.source)? {
        Gathered::Live(l) => (l.items, l.anchor, Some(l.connection)),
        Gathered::Files(_, items) => (
            items
                .into_iter()
                .filter(|i| i.kind == Kind::Certificate)
                .collect(),
            None,
            None,
        ),
    };
    if items.is_empty() {
        return Err(Error::input(
            "input",
            "no certificate to check the pins against",
        ));
    }
    let candidates = Candidate::list(&items, anchor);
    let checked = check::check(&candidates, &pins, &backups, now_unix());
    if args.json {
        let out = CheckOut {
            checked: &checked,
            candidates: &candidates,
            connection: connection.as_ref(),
        };
        let text = serde_json::to_string(&out)
            .map_err(|e| Error::runtime(format!("cannot encode the result: {e}")))?;
        write_stdout(&format!("{text}\n"))?;
    } else {
        let mut out = String::new();
        match &connection {
            Some(c) => {
                out.push_str(&format!(
                    "{} presented {} certificate(s); trust: {}\n",
                    c.connect,
                    items.len(),
                    if c.trusted {
                        "verified".to_string()
                    } else {
                        format!(
                            "NOT verified ({})",
                            c.trust_failure.as_deref().unwrap_or("refused")
                        )
                    }
                ));
            }
            None => out.push_str(&format!("{} certificate(s) from the files\n", items.len())),
        }
        for m in &checked.pins {
            let what = if m.backup { "backup pin" } else { "pin" };
            match &m.matched {
                Some(c) => out.push_str(&format!(
                    "{what} {} matches certificate {} ({}{})\n",
                    m.pin,
                    c.position,
                    c.subject,
                    if c.source == "trust_store" {
                        ", from the trust store"
                    } else {
                        ""
                    }
                )),
                None => out.push_str(&format!("{what} {} matches no certificate\n", m.pin)),
            }
        }
        for w in &checked.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out.push_str(if checked.matched {
            "ok: the pin set matches\n"
        } else {
            "FAILED: no pin matches: an app with these pins refuses this host\n"
        });
        write_stdout(&out)?;
    }
    Ok(checked.exit)
}

const BACKUP_REASON: &str = "\
Ship this pin now, beside the pins of the keys in use. An app accepts only keys it already
knows, and installed apps update slowly: when the server's key must change (a compromise, a new
CA, a rotation), the server moves to this key and the apps already in the field keep working.
Keep the key secret and offline until then; put its pin, never the key, into the app.";

fn backup(args: &BackupArgs) -> Result<i32> {
    use rcgen::PublicKeyData as _;
    if args.out.exists() && !args.force {
        return Err(Error::input(
            args.out.display().to_string(),
            "already exists (use --force to replace it; a pin already shipped for the old key \
             then has no key)",
        ));
    }
    let key = match args.key_type {
        BackupKeyType::EcdsaP256 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        BackupKeyType::Rsa2048 => {
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        }
    }
    .map_err(|e| Error::runtime(format!("cannot generate the key: {e}")))?;
    let tmp = args.out.with_extension("tmp");
    crate::ca::write_file(&tmp, key.serialize_pem().as_bytes(), 0o600, "write the key")?;
    std::fs::rename(&tmp, &args.out).map_err(|e| Error::file(&args.out, "write the key", e))?;
    let spki = key.subject_public_key_info();
    let pin = crate::pins::spki_pin(&spki);
    let mut out = format!(
        "wrote {} ({}, PKCS#8 PEM, mode 0600)\n\n",
        args.out.display(),
        input::key_type(&spki)
    );
    for (name, line) in format::every_spelling(&pin, &args.host) {
        out.push_str(&format!("{name:<28} {line}\n"));
    }
    out.push('\n');
    out.push_str(BACKUP_REASON);
    out.push_str(&format!(
        "\n\nAdd it to a config: pin-proxy pins show CHAIN --format okhttp --backup {}\n",
        args.out.display()
    ));
    write_stdout(&out)?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::split_host_port;

    #[test]
    fn host_and_port() {
        assert_eq!(split_host_port("a.test"), Some(("a.test", 443)));
        assert_eq!(split_host_port("a.test:8443"), Some(("a.test", 8443)));
        assert_eq!(split_host_port("[::1]:9"), Some(("[::1]", 9)));
        assert_eq!(split_host_port("[::1]"), Some(("[::1]", 443)));
        for bad in [
            "a.test:",
            "a.test:0",
            "a.test:65536",
            "::1",
            "[::1",
            "[::1]x",
            ":443",
            "[]",
        ] {
            assert_eq!(split_host_port(bad), None, "{bad}");
        }
    }
}
