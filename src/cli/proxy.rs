//! `pin-proxy proxy`: runs the intercepting proxy until Ctrl-C or SIGTERM, with a live line per
//! connection, a JSON Lines events file, and a per-host summary at the end.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tokio::sync::mpsc;

use crate::ca::leaf::{CustomCert, LeafIssuer};
use crate::ca::{CertificateAuthority, KeyType};
use crate::error::{exit, Error, Result};
use crate::pins;
use crate::proxy::{
    ClientCert, ClientCertSpec, ClientCerts, LearnConfig, MapLocal, MapLocalSpec, MapLocals, Proxy,
    ProxyConfig, UpstreamProxy, UpstreamTrust, MAGIC_HOST,
};
use crate::record::{ConnectionRecord, ListenerKind};
use crate::report::live::{EventsFile, LearnNotices, LiveLines, SummaryPrinter};
use crate::report::RecordSink;
use crate::rules::{Action, HostGlob, HostMap, Profile, Rule, Rules};

#[derive(Debug, Args)]
pub(crate) struct ProxyArgs {
    /// The HTTP proxy listener's address [default: 127.0.0.1:8080, when no other listener is
    /// given]. An address that is not loopback needs --auth and/or --allow-from.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Also (or only) listen for SOCKS5 clients on ADDR (RFC 1928, CONNECT; --auth is asked as
    /// SOCKS5 username/password). An address that is not loopback needs --auth and/or
    /// --allow-from.
    #[arg(long, value_name = "ADDR")]
    socks5: Option<SocketAddr>,
    /// Also (or only) accept connections redirected by iptables/nftables REDIRECT on ADDR
    /// (Linux): the original destination is read from the socket. Redirected connections carry
    /// no credentials, so an address that is not loopback needs --allow-from.
    #[arg(long, value_name = "ADDR")]
    transparent: Option<SocketAddr>,
    /// Require HTTP Basic proxy credentials USER:PASS on every proxy request, loopback clients
    /// included (also --auth-file or PIN_PROXY_AUTH, which stay out of shell history).
    #[arg(long, value_name = "USER:PASS", conflicts_with = "auth_file")]
    auth: Option<String>,
    /// Read the USER:PASS credentials from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    auth_file: Option<PathBuf>,
    /// Only clients in these ranges (loopback aside) may connect; others are disconnected.
    /// Repeatable or comma-separated: 192.168.1.0/24, 10.0.0.7, fd00::/8.
    #[arg(long, value_name = "CIDR", value_delimiter = ',')]
    allow_from: Vec<crate::access::Cidr>,
    /// Write one JSON object per connection to this file (JSON Lines).
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Relay hosts matching GLOB untouched (the client sees the real server). Repeatable.
    #[arg(long, value_name = "GLOB")]
    passthrough: Vec<String>,
    /// Present certificate PROFILE to hosts matching GLOB: forged, self-signed, wrong-host,
    /// expired, untrusted-ca, custom, smuggle-chain. Repeatable.
    #[arg(long, value_name = "GLOB=PROFILE")]
    profile: Vec<String>,
    /// Present your own certificate (chain) and key to hosts matching GLOB. Repeatable.
    #[arg(long, value_name = "GLOB=CERT.pem,KEY.pem")]
    cert: Vec<String>,
    /// Read more rules from a TOML file ([[rule]] hosts = "...", action/profile = "...").
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Learn mode: once a host's client has cancelled N intercepted connections (default 1),
    /// pass the host through, so the app keeps working while it is mapped. Every cancel counts,
    /// during or after the handshake; an explicit rule matching the host wins.
    #[arg(
        long,
        value_name = "N",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "1"
    )]
    learn: Option<u64>,
    /// Keep learned hosts in FILE across runs: read at start, rewritten as hosts are learned,
    /// a passthrough rule per host (so also a --rules file). Needs --learn.
    #[arg(long, value_name = "FILE", requires = "learn")]
    learn_file: Option<PathBuf>,
    /// Connect to ADDR:PORT for HOST instead of resolving it (test origins). Repeatable.
    #[arg(long, value_name = "HOST[:PORT]=ADDR:PORT")]
    map: Vec<String>,
    /// Reach only hosts that a --map names: any other host is not resolved, and its connection
    /// is upstream_failed with reason "not mapped" (a 502). For browser tests and locked-down
    /// labs.
    #[arg(long)]
    only_mapped: bool,
    /// Answer requests for exactly URL (http:// or https://) with FILE's bytes, or with a bare
    /// status (URL=status:503), without asking the origin; `;content-type=TYPE` at the end sets
    /// the type. Repeatable.
    #[arg(long, value_name = "URL=FILE")]
    map_local: Vec<String>,
    /// Also trust this CA (PEM) when verifying origins. Repeatable.
    #[arg(long, value_name = "FILE")]
    upstream_ca: Vec<PathBuf>,
    /// Do not verify origins at all (prints a warning).
    #[arg(long)]
    upstream_insecure: bool,
    /// Connect to origins through this HTTP proxy's CONNECT: http://HOST[:PORT] (port 3128 if
    /// none). Credentials come from --upstream-proxy-auth-file, PIN_PROXY_UPSTREAM_AUTH, or
    /// http://USER:PASS@HOST:PORT (visible in the process list).
    #[arg(long, value_name = "URL")]
    upstream_proxy: Option<String>,
    /// Read the upstream proxy's USER:PASS from the first line of FILE.
    #[arg(long, value_name = "FILE", requires = "upstream_proxy")]
    upstream_proxy_auth_file: Option<PathBuf>,
    /// Connect to hosts matching GLOB directly, not through the upstream proxy. Repeatable.
    #[arg(long, value_name = "GLOB", requires = "upstream_proxy")]
    upstream_proxy_bypass: Vec<String>,
    /// Present the certificate chain in CERT (PEM) with the private key in KEY (PEM: PKCS#8,
    /// PKCS#1 RSA or SEC1 EC) to origins whose host matches GLOB when they ask for a client
    /// certificate. Repeatable; the first matching entry wins.
    #[arg(long, value_name = "GLOB=CERT,KEY")]
    client_cert: Vec<String>,
    /// Key algorithm of a CA created on first use.
    #[arg(long, value_enum, default_value_t)]
    key_type: KeyType,
    /// Key algorithm of the forged leaves (one key per profile).
    #[arg(long, value_enum, default_value_t)]
    leaf_key_type: KeyType,
    /// A connection idle this long after its handshake is undecided (e.g. 800ms, 5s).
    #[arg(long, default_value = "5s", value_parser = super::parse_duration, value_name = "DURATION")]
    decide_after: Duration,
    /// After decide-after, close a still idle connection after this long.
    #[arg(long, default_value = "60s", value_parser = super::parse_duration, value_name = "DURATION")]
    idle_timeout: Duration,
    /// Bound on a client's TLS handshake.
    #[arg(long, default_value = "10s", value_parser = super::parse_duration, value_name = "DURATION")]
    handshake_timeout: Duration,
    /// Bound on reading a proxy request's head.
    #[arg(long, default_value = "10s", value_parser = super::parse_duration, value_name = "DURATION")]
    header_timeout: Duration,
    /// Bound on connecting to an origin (TCP, then TLS).
    #[arg(long, default_value = "10s", value_parser = super::parse_duration, value_name = "DURATION")]
    connect_timeout: Duration,
    /// Keep an unused origin connection this long for the next client connection to the same
    /// origin (0 turns reuse off).
    #[arg(long, default_value = "30s", value_parser = super::parse_duration, value_name = "DURATION")]
    upstream_idle_timeout: Duration,
    /// Keep query values in recorded request paths (they are redacted by default).
    #[arg(long)]
    keep_query: bool,
    /// Write TLS secrets to FILE (SSLKEYLOGFILE format) for Wireshark.
    #[arg(long, value_name = "FILE")]
    keylog: Option<PathBuf>,
    /// Serving threads [default: one per core, at most 8]. New connections are dealt out to them
    /// in turn, and each thread serves its own start to end. One thread costs the least CPU per
    /// connection; more get more connections through a busy machine.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// No live line per connection (the summary is still printed).
    #[arg(long, short)]
    quiet: bool,
    /// Print the QR code of the install URL even when stderr is not a terminal.
    #[arg(long, conflicts_with = "no_qr")]
    qr: bool,
    /// Never print the QR code.
    #[arg(long)]
    no_qr: bool,
    /// The address the QR code shows (default: the first of a physical interface; docker and
    /// VPN interfaces often come first in the system's list).
    #[arg(long, value_name = "ADDR")]
    qr_address: Option<std::net::IpAddr>,
}

pub(crate) fn run(args: ProxyArgs, ca_dir: &Path) -> Result<i32> {
    if args.threads == Some(0) {
        return Err(Error::input("--threads", "must be at least 1"));
    }
    let custom = args
        .cert
        .iter()
        .map(|spec| CustomCert::load(spec))
        .collect::<Result<Vec<_>>>()?;
    let config = config(&args, &custom)?;
    if args.qr_address.is_some() {
        let listen = config.listen.or(config.socks5).unwrap_or(DEFAULT_LISTEN);
        let addrs = crate::device::lan::device_addresses(listen, &interfaces());
        crate::device::lan::qr_choice(&addrs, args.qr_address)
            .map_err(|e| Error::input("--qr-address", e))?;
    }
    let threads = config.threads;
    let (ca, created) = CertificateAuthority::load_or_create(ca_dir, args.key_type)?;
    let issuer = Arc::new(LeafIssuer::new(Arc::new(ca), args.leaf_key_type, custom)?);
    let mut sinks: Vec<Box<dyn RecordSink>> = Vec::new();
    if let Some(path) = &args.events {
        sinks.push(Box::new(EventsFile::create(path)?));
    }
    if !args.quiet {
        let color = super::stdout_color();
        sinks.push(Box::new(LiveLines::new(std::io::stdout(), color)));
    }
    if let Some(learn) = &config.learn {
        sinks.push(Box::new(LearnNotices::new(
            std::io::stdout(),
            learn.threshold,
            learn.file.clone(),
        )));
    }
    sinks.push(Box::new(SummaryPrinter::new(std::io::stdout())));

    if config.upstream.insecure {
        eprintln!("pin-proxy: warning: --upstream-insecure: origins are not verified");
    }
    for entry in config.map_local.entries() {
        let url = entry.url();
        if url.https && config.rules.action_for(&url.host) == Action::Passthrough {
            eprintln!(
                "pin-proxy: warning: --map-local {url}: {} is passed through (a passthrough \
                 rule covers it), so this entry never applies",
                url.host
            );
        }
    }
    let extra = banner_lines(&config);
    if let Some(auth) = &config.auth {
        eprintln!(
            "pin-proxy: proxy authentication on (Basic, user {}): Basic credentials cross the \
             network in clear text, so use them on a network you trust",
            auth.user()
        );
    }
    if !config.allow_from.is_empty() {
        let ranges: Vec<String> = config
            .allow_from
            .ranges()
            .iter()
            .map(ToString::to_string)
            .collect();
        eprintln!(
            "pin-proxy: clients allowed from {} (and loopback)",
            ranges.join(", ")
        );
    }
    super::current_thread_runtime()?.block_on(async move {
        let (tx, rx) = mpsc::unbounded_channel();
        let proxy = Proxy::bind(config, issuer.clone(), tx).await?;
        let addrs = proxy.addrs()?;
        print_banner(&addrs, ca_dir, created, &issuer, &args, threads, &extra);
        let writer = tokio::spawn(write_records(rx, sinks));
        proxy.run_until(super::stop_signal()).await?;
        writer
            .await
            .map_err(|e| Error::runtime(format!("the events writer failed: {e}")))??;
        Ok(exit::OK)
    })
}

fn config(args: &ProxyArgs, custom: &[CustomCert]) -> Result<ProxyConfig> {
    let mut rules = Vec::new();
    if let Some(path) = &args.rules {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::file(path, "read the rules file", e))?;
        let parsed = crate::rules::file::parse(&path.display().to_string(), &text)
            .map_err(|e| Error::input("--rules", e))?;
        rules.extend(parsed);
    }
    for spec in &args.profile {
        rules.push(Rule::parse_profile(spec).map_err(|e| Error::input("--profile", e))?);
    }
    for glob in &args.passthrough {
        rules.push(Rule {
            hosts: HostGlob::parse(glob).map_err(|e| Error::input("--passthrough", e))?,
            action: Action::Passthrough,
        });
    }
    rules.extend(custom.iter().map(|c| Rule {
        hosts: c.hosts.clone(),
        action: Action::Intercept(Profile::Custom),
    }));
    let custom_rule = rules
        .iter()
        .any(|r| r.action == Action::Intercept(Profile::Custom));
    if custom_rule && custom.is_empty() {
        return Err(Error::input(
            "--profile",
            "the custom profile needs --cert GLOB=cert.pem,key.pem",
        ));
    }
    let maps = args
        .map
        .iter()
        .map(|m| HostMap::parse(m).map_err(|e| Error::input("--map", e)))
        .collect::<Result<Vec<_>>>()?;
    let map_local = args
        .map_local
        .iter()
        .map(|spec| {
            MapLocalSpec::parse(spec)
                .map_err(|e| Error::input("--map-local", e))
                .and_then(MapLocal::load)
        })
        .collect::<Result<Vec<_>>>()?;
    let map_local = MapLocals::new(map_local).map_err(|e| Error::input("--map-local", e))?;
    let mut extra_cas = Vec::new();
    for path in &args.upstream_ca {
        let pem = std::fs::read(path).map_err(|e| Error::file(path, "read --upstream-ca", e))?;
        extra_cas.extend(
            pins::pem_certs(&pem).map_err(|e| Error::input(path.display().to_string(), e))?,
        );
    }
    if args.decide_after.is_zero() {
        return Err(Error::input("--decide-after", "must be more than zero"));
    }
    let auth = credentials(args)?;
    let upstream_proxy = upstream_proxy(args)?;
    let client_certs = client_certs(args)?;
    let allow_from = crate::access::AllowList::new(args.allow_from.clone());
    // The HTTP listener starts when asked for, or when no other listener is.
    let listen = match (args.listen, args.socks5, args.transparent) {
        (Some(listen), _, _) => Some(listen),
        (None, None, None) => Some(DEFAULT_LISTEN),
        (None, _, _) => None,
    };
    if let Some(listen) = listen {
        crate::access::check_proxy_listen(listen, auth.is_some(), &allow_from)
            .map_err(|e| Error::input("--listen", e))?;
    }
    if let Some(socks5) = args.socks5 {
        crate::access::check_proxy_listen(socks5, auth.is_some(), &allow_from)
            .map_err(|e| Error::input("--socks5", e))?;
    }
    if let Some(transparent) = args.transparent {
        crate::access::check_transparent_listen(transparent, &allow_from)
            .map_err(|e| Error::input("--transparent", e))?;
    }
    let rules = Rules::new(rules);
    let learn = learn_config(args)?;
    if let Some(learn) = &learn {
        for h in &learn.known {
            if rules.rule_for(&h.host).is_some() {
                eprintln!(
                    "pin-proxy: note: {} is in the learn file, but an explicit rule matches it \
                     and wins",
                    h.host
                );
            }
        }
    }
    Ok(ProxyConfig {
        listen,
        socks5: args.socks5,
        transparent: args.transparent,
        rules,
        maps,
        map_local,
        resolve_unmapped: !args.only_mapped,
        upstream: UpstreamTrust {
            extra_cas,
            insecure: args.upstream_insecure,
            system_roots: true,
        },
        upstream_proxy,
        client_certs,
        decide_after: args.decide_after,
        idle_timeout: args.idle_timeout,
        handshake_timeout: args.handshake_timeout,
        header_timeout: args.header_timeout,
        connect_timeout: args.connect_timeout,
        upstream_idle_timeout: args.upstream_idle_timeout,
        keep_query: args.keep_query,
        keylog: args.keylog.clone(),
        threads: args.threads.unwrap_or_else(default_threads),
        auth,
        allow_from,
        learn,
        proceeded: None,
    })
}

/// `--learn[=N]` and `--learn-file`: the file is read now (its errors name file, line and field)
/// and created when missing, so that a path that cannot be written fails at start, not at the
/// first learned host.
fn learn_config(args: &ProxyArgs) -> Result<Option<LearnConfig>> {
    let Some(threshold) = args.learn else {
        return Ok(None);
    };
    if threshold == 0 {
        return Err(Error::input(
            "--learn",
            "N must be at least 1 (the cancels after which a host is passed through)",
        ));
    }
    let mut known = Vec::new();
    if let Some(path) = &args.learn_file {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                known = crate::rules::learn::parse_file(&path.display().to_string(), &text)
                    .map_err(|e| Error::input("--learn-file", e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let empty = crate::rules::learn::Learner::new(threshold, Rules::default(), vec![]);
                crate::files::replace(
                    path,
                    empty.file_text().as_bytes(),
                    0o644,
                    "create the learn file",
                )?;
            }
            Err(e) => return Err(Error::file(path, "read the learn file", e)),
        }
    }
    Ok(Some(LearnConfig {
        threshold,
        file: args.learn_file.clone(),
        known,
    }))
}

/// The HTTP listener's address when no listener is given.
const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// Serving threads without `--threads`: one per core, at most [`MAX_DEFAULT_THREADS`].
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_DEFAULT_THREADS))
}

/// The most serving threads started without `--threads`.
const MAX_DEFAULT_THREADS: usize = 8;

fn print_banner(
    addrs: &[(ListenerKind, SocketAddr)],
    ca_dir: &Path,
    created: bool,
    issuer: &LeafIssuer,
    args: &ProxyArgs,
    threads: usize,
    extra: &[(&str, String)],
) {
    let ca = issuer.ca();
    let cert = ca.paths().map_or_else(
        || ca_dir.display().to_string(),
        |p| p.cert.display().to_string(),
    );
    for (kind, addr) in addrs {
        match kind {
            ListenerKind::Http => eprintln!("pin-proxy listening on {addr}"),
            ListenerKind::Socks5 => eprintln!("pin-proxy SOCKS5 listening on {addr}"),
            ListenerKind::Transparent => {
                eprintln!("pin-proxy transparent listening on {addr} (for iptables REDIRECT)");
            }
        }
    }
    eprintln!(
        "  CA:           {cert}{} (pin {})",
        if created { ", created now" } else { "" },
        ca.pin()
    );
    eprintln!("  CA sha256:    {}", ca.fingerprint());
    if let Some(pin) = issuer.profile_pin(Profile::Forged) {
        eprintln!("  forged leaves: key pin {pin} (not the CA's)");
    }
    eprintln!("  install page: http://{MAGIC_HOST}/ through this proxy");
    if args.only_mapped {
        eprintln!("  only-mapped:  hosts without a --map are not reached (reason \"not mapped\")");
    }
    if let Some(events) = &args.events {
        eprintln!("  events:       {}", events.display());
    }
    eprintln!("  threads:      {threads} (--threads)");
    for (label, entry) in extra {
        eprintln!("  {label:<13} {entry}");
    }
    // Devices are told the address of the listener they set as their proxy.
    if let Some((_, addr)) = addrs.iter().find(|(k, _)| *k != ListenerKind::Transparent) {
        devices(*addr, args);
    }
    eprintln!("  stop with Ctrl-C for a per-host summary");
}

/// The banner's lines about the upstream proxy, the `--client-cert` entries (glob, subject and
/// file; never the key), the `--map-local` entries and learn mode, as (label, text).
fn banner_lines(config: &ProxyConfig) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    if let Some(via) = &config.upstream_proxy {
        let mut text = format!("upstream proxy http://{}", via.address());
        if let Some(user) = via.user() {
            text.push_str(&format!(" (Basic, user {user})"));
        }
        if !via.bypass().is_empty() {
            let globs: Vec<String> = via.bypass().iter().map(ToString::to_string).collect();
            text.push_str(&format!("; direct: {}", globs.join(", ")));
        }
        lines.push(("origins via:", text));
    }
    for (i, cert) in config.client_certs.entries().enumerate() {
        lines.push((
            if i == 0 { "client certs:" } else { "" },
            format!(
                "{} -> {} ({})",
                cert.hosts(),
                cert.subject(),
                cert.cert_path().display()
            ),
        ));
    }
    for (i, entry) in config.map_local.entries().enumerate() {
        lines.push((if i == 0 { "map-local:" } else { "" }, entry.describe()));
    }
    if let Some(learn) = &config.learn {
        let after = if learn.threshold == 1 {
            "its first cancel".to_string()
        } else {
            format!("{} cancels", learn.threshold)
        };
        lines.push((
            "learn:",
            format!("a host is passed through after {after} (explicit rules win)"),
        ));
        if let Some(file) = &learn.file {
            lines.push((
                "learn file:",
                format!(
                    "{} ({} hosts learned before)",
                    file.display(),
                    learn.known.len()
                ),
            ));
        }
    }
    lines
}

/// The system's interface addresses (none when they cannot be listed).
fn interfaces() -> Vec<crate::device::lan::Interface> {
    if_addrs::get_if_addrs()
        .map(|list| {
            list.into_iter()
                .map(|i| crate::device::lan::Interface {
                    ip: i.ip(),
                    name: i.name,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The addresses a device can use, the install URL on each, and a QR code of one.
fn devices(addr: SocketAddr, args: &ProxyArgs) {
    use crate::device::lan;
    use std::io::IsTerminal as _;
    let addrs = lan::device_addresses(addr, &interfaces());
    for (i, (name, a)) in addrs.iter().enumerate() {
        let label = if i == 0 { "devices:" } else { "" };
        let name = if name.is_empty() {
            String::new()
        } else {
            format!(" ({name})")
        };
        eprintln!(
            "  {label:<13} proxy {a}, install page {}{name}",
            lan::install_url(*a)
        );
    }
    let show = args.qr || (!args.no_qr && std::io::stderr().is_terminal());
    if !show || addrs.is_empty() {
        return;
    }
    match lan::qr_choice(&addrs, args.qr_address) {
        Ok(Some(chosen)) => {
            let url = lan::install_url(chosen);
            match lan::qr_code(&url) {
                Ok(code) => {
                    eprintln!("  scan for the install page ({url}):");
                    eprint!("{code}");
                    eprintln!();
                }
                Err(e) => eprintln!("pin-proxy: warning: {e}"),
            }
        }
        Ok(None) => {}
        Err(e) => eprintln!("pin-proxy: warning: {e}"),
    }
}

async fn write_records(
    mut rx: mpsc::UnboundedReceiver<ConnectionRecord>,
    mut sinks: Vec<Box<dyn RecordSink>>,
) -> Result<()> {
    // A failing sink (a full disk) is reported at once and dropped; the others go on, and the
    // first error decides the exit code when the proxy stops.
    let mut first_error = None;
    let mut keep = |sinks: &mut Vec<Box<dyn RecordSink>>,
                    f: &dyn Fn(&mut dyn RecordSink) -> Result<()>| {
        sinks.retain_mut(|sink| match f(sink.as_mut()) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("pin-proxy: error: {e}");
                first_error.get_or_insert(e);
                false
            }
        });
    };
    while let Some(record) = rx.recv().await {
        keep(&mut sinks, &|sink| sink.record(&record));
        // Whatever else is already waiting goes out in the same write.
        while let Ok(record) = rx.try_recv() {
            keep(&mut sinks, &|sink| sink.record(&record));
        }
        keep(&mut sinks, &|sink| sink.flush());
    }
    for sink in &mut sinks {
        if let Err(e) = sink.finish() {
            eprintln!("pin-proxy: error: {e}");
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// `--auth`, `--auth-file` or `PIN_PROXY_AUTH`, in that order. Errors never quote the value.
fn credentials(args: &ProxyArgs) -> Result<Option<crate::access::Credentials>> {
    use crate::access::Credentials;
    if let Some(value) = &args.auth {
        return Credentials::parse(value)
            .map(Some)
            .map_err(|e| Error::input("--auth", e));
    }
    if let Some(path) = &args.auth_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::file(path, "read the --auth-file", e))?;
        return Credentials::from_file_text(&text)
            .map(Some)
            .map_err(|e| Error::input(path.display().to_string(), e));
    }
    match std::env::var("PIN_PROXY_AUTH") {
        Ok(value) if !value.is_empty() => Credentials::parse(&value)
            .map(Some)
            .map_err(|e| Error::input("PIN_PROXY_AUTH", e)),
        _ => Ok(None),
    }
}

/// `--upstream-proxy` with its credentials (`--upstream-proxy-auth-file`, then
/// `PIN_PROXY_UPSTREAM_AUTH`, then the URL's) and `--upstream-proxy-bypass`. Credentials in the
/// URL get a warning: other users see them in the process list. Errors never quote a password.
fn upstream_proxy(args: &ProxyArgs) -> Result<Option<UpstreamProxy>> {
    use crate::access::Credentials;
    let Some(url) = &args.upstream_proxy else {
        return Ok(None);
    };
    let mut proxy = UpstreamProxy::parse(url).map_err(|e| Error::input("--upstream-proxy", e))?;
    let in_url = proxy.has_auth();
    let mut from = None;
    if let Some(path) = &args.upstream_proxy_auth_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::file(path, "read the --upstream-proxy-auth-file", e))?;
        let auth = Credentials::from_file_text(&text)
            .map_err(|e| Error::input(path.display().to_string(), e))?;
        proxy = proxy.with_auth(auth);
        from = Some("--upstream-proxy-auth-file");
    } else if let Ok(value) = std::env::var(UPSTREAM_AUTH_ENV) {
        if !value.is_empty() {
            let auth =
                Credentials::parse(&value).map_err(|e| Error::input(UPSTREAM_AUTH_ENV, e))?;
            proxy = proxy.with_auth(auth);
            from = Some(UPSTREAM_AUTH_ENV);
        }
    }
    if in_url {
        let instead = from.map_or(String::new(), |f| format!(" ({f} is used instead)"));
        eprintln!(
            "pin-proxy: warning: --upstream-proxy: the URL holds a password, which other users \
             of this machine can read in the process list{instead}; give it with \
             --upstream-proxy-auth-file FILE or {UPSTREAM_AUTH_ENV}=USER:PASS"
        );
    }
    let bypass = args
        .upstream_proxy_bypass
        .iter()
        .map(|g| HostGlob::parse(g).map_err(|e| Error::input("--upstream-proxy-bypass", e)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(proxy.with_bypass(bypass)))
}

/// `--client-cert` entries, each read and checked now; an error names the flag, the entry and
/// the file (never the key's content). An expired certificate is loaded with a warning: the
/// origin will say whether it still takes it.
fn client_certs(args: &ProxyArgs) -> Result<ClientCerts> {
    let mut loaded = Vec::new();
    for entry in &args.client_cert {
        let cert = ClientCertSpec::parse(entry)
            .and_then(ClientCert::load)
            .map_err(|e| Error::input(format!("--client-cert '{entry}'"), e))?;
        if let Some(when) = cert.expired() {
            eprintln!(
                "pin-proxy: warning: --client-cert '{entry}': the certificate ({}) expired at \
                 {when}; origins that check it will refuse it",
                cert.subject()
            );
        }
        loaded.push(cert);
    }
    Ok(ClientCerts::new(loaded))
}

/// The environment variable with the upstream proxy's `USER:PASS`.
const UPSTREAM_AUTH_ENV: &str = "PIN_PROXY_UPSTREAM_AUTH";
