//! `pin-proxy client`: the reference pinning client. Turns flags into [`client::Options`] (roots
//! from the system and `--ca` files, pins, the request), runs one fetch, prints the log lines to
//! stderr, the body or the `--json` result to stdout, and exits with the outcome's code.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use http::{HeaderName, HeaderValue, Method};

use crate::client::policy::{MatchMode, MissingPin, Policy};
use crate::client::{self, Options, ProxySpec, Target};
use crate::error::{Error, Result};
use crate::pins;
use crate::rules::{HostGlob, HostMap};
use crate::trust::Roots;

#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// The https:// URL to fetch.
    url: String,
    /// Go through this HTTP proxy with CONNECT: host:port or http://[user:password@]host:port.
    #[arg(long, value_name = "ADDR")]
    proxy: Option<String>,
    /// Also trust the CA certificates in this PEM file. Repeatable.
    #[arg(long, value_name = "FILE")]
    ca: Vec<PathBuf>,
    /// Trust only the --ca files, not the system's roots.
    #[arg(long)]
    no_system_roots: bool,
    /// A pin: base64 SPKI SHA-256, bare or as sha256/... or sha256//...; repeatable, and a
    /// comma-separated list counts as several. Without any, there is no pinning.
    #[arg(long, value_name = "PIN")]
    pin: Vec<String>,
    /// The pins are for this host (a pattern: * matches any run of characters); repeatable.
    /// Without it they apply to every host.
    #[arg(long, value_name = "HOST")]
    pinned_host: Vec<String>,
    /// What a host without pins gets while pinning is configured.
    #[arg(long, value_enum, default_value_t)]
    missing_pin: MissingPin,
    /// Which certificates of the verified path a pin may match.
    #[arg(long = "match", value_enum, default_value_t)]
    match_mode: MatchMode,
    /// Fetch the pins from this signed pin config (http:// or https://, through --proxy)
    /// instead of --pin; needs --pins-key.
    #[arg(long, value_name = "URL", requires = "pins_key", conflicts_with_all = ["pin", "pinned_host"])]
    pins_url: Option<String>,
    /// The public key the pin config must be signed with (PEM, or a Wultra raw key).
    #[arg(long, value_name = "FILE", requires = "pins_url")]
    pins_key: Option<PathBuf>,
    /// Keep the last good pin config here (written atomically, 0600), and use it when the
    /// fetch fails or is refused.
    #[arg(long, value_name = "FILE", requires = "pins_url")]
    pins_cache: Option<PathBuf>,
    /// The pin config's format.
    #[arg(long, value_enum, default_value_t, requires = "pins_url")]
    pins_format: crate::pin_config::serve::Format,
    /// Print one JSON result object on stdout instead of the response body.
    #[arg(long)]
    json: bool,
    /// The request method (default GET, or POST with --data).
    #[arg(short = 'X', long, value_name = "METHOD")]
    method: Option<String>,
    /// A request header, "Name: value". Repeatable.
    #[arg(short = 'H', long, value_name = "HEADER")]
    header: Vec<String>,
    /// The request body; @FILE reads it from FILE.
    #[arg(short = 'd', long, value_name = "DATA")]
    data: Option<String>,
    /// Write the response body to FILE.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Connect to ADDR:PORT for HOST instead of resolving it (direct connections; as the
    /// proxy's --map). Repeatable.
    #[arg(long, value_name = "HOST[:PORT]=ADDR:PORT")]
    map: Vec<String>,
    /// Limit on connecting: TCP, the proxy's CONNECT and the TLS handshake.
    #[arg(long, default_value = "10s", value_parser = super::parse_duration, value_name = "DURATION")]
    connect_timeout: Duration,
    /// Limit on the whole run.
    #[arg(long, default_value = "30s", value_parser = super::parse_duration, value_name = "DURATION")]
    timeout: Duration,
}

pub(crate) fn run(args: ClientArgs) -> Result<i32> {
    let opts = options(&args)?;
    let rt = super::current_thread_runtime()?;
    let fetched = rt.block_on(client::fetch(&opts, &mut |line: &str| {
        eprintln!("{line}");
    }));
    let report = &fetched.report;
    if let Some(path) = &args.output {
        if report.status.is_some() {
            std::fs::write(path, &fetched.body)
                .map_err(|e| Error::file(path, "write the response body to", e))?;
        }
    }
    let mut stdout = std::io::stdout().lock();
    let written = if args.json {
        let text = serde_json::to_string(report)
            .map_err(|e| Error::runtime(format!("cannot encode the result: {e}")))?;
        writeln!(stdout, "{text}")
    } else if args.output.is_none() {
        stdout.write_all(&fetched.body)
    } else {
        Ok(())
    };
    written
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::runtime(format!("cannot write to stdout: {e}")))?;
    Ok(report.exit)
}

fn options(args: &ClientArgs) -> Result<Options> {
    let target = Target::parse(&args.url).map_err(|e| Error::input("URL", e))?;
    let proxy = args
        .proxy
        .as_deref()
        .map(ProxySpec::parse)
        .transpose()
        .map_err(|e| Error::input("--proxy", e))?;

    let roots = load_roots(&args.ca, args.no_system_roots)?;
    if roots.is_empty() {
        return Err(Error::input(
            "--ca",
            if args.no_system_roots {
                "--no-system-roots leaves no trusted roots: give --ca FILE"
            } else {
                "the system has no trusted roots: give --ca FILE"
            },
        ));
    }

    let mut pins_given = Vec::new();
    for spec in &args.pin {
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let pin = pins::parse_pin(item).ok_or_else(|| {
                Error::input(
                    "--pin",
                    format!("{item:?} is not a base64 SHA-256 pin (sha256/ and sha256// prefixes are allowed)"),
                )
            })?;
            if !pins_given.iter().any(|p| p == pin) {
                pins_given.push(pin.to_string());
            }
        }
    }
    let pinned_hosts = args
        .pinned_host
        .iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| HostGlob::parse(h).map_err(|e| Error::input("--pinned-host", e)))
        .collect::<Result<Vec<_>>>()?;
    let pins_source = if pins_given.is_empty() {
        "none"
    } else {
        "flags"
    };
    let policy = Policy::from_flags(pins_given, pinned_hosts, args.missing_pin, args.match_mode);

    let body = match args.data.as_deref() {
        None => Bytes::new(),
        Some(data) => match data.strip_prefix('@') {
            Some(file) => {
                let path = PathBuf::from(file);
                Bytes::from(std::fs::read(&path).map_err(|e| Error::file(&path, "read --data", e))?)
            }
            None => Bytes::from(data.to_string()),
        },
    };
    let method = match &args.method {
        Some(m) => Method::from_bytes(m.as_bytes())
            .map_err(|_| Error::input("--method", format!("{m:?} is not an HTTP method")))?,
        None if args.data.is_some() => Method::POST,
        None => Method::GET,
    };
    let headers = args
        .header
        .iter()
        .map(|h| header(h).map_err(|e| Error::input("--header", e)))
        .collect::<Result<Vec<_>>>()?;
    let maps = args
        .map
        .iter()
        .map(|m| HostMap::parse(m).map_err(|e| Error::input("--map", e)))
        .collect::<Result<Vec<_>>>()?;
    for (limit, flag) in [
        (args.connect_timeout, "--connect-timeout"),
        (args.timeout, "--timeout"),
    ] {
        if limit.is_zero() {
            return Err(Error::input(flag, "must be more than zero"));
        }
    }
    let pin_config = match (&args.pins_url, &args.pins_key) {
        (Some(url), Some(key)) => {
            let (url, https) = Target::parse_any(url).map_err(|e| Error::input("--pins-url", e))?;
            Some(client::ConfigOptions {
                url,
                https,
                key: crate::pin_config::VerifyingKey::load(key)?,
                cache: args.pins_cache.clone(),
                format: args.pins_format,
            })
        }
        _ => None,
    };
    let pins_source = if pin_config.is_some() {
        "config"
    } else {
        pins_source
    };
    Ok(Options {
        target,
        pin_config,
        proxy,
        maps,
        roots: Arc::new(roots),
        policy,
        pins_source,
        method,
        headers,
        body,
        connect_timeout: args.connect_timeout,
        timeout: args.timeout,
    })
}

/// The system's roots (unless `no_system_roots`) and the certificates of the `--ca` files.
pub(crate) fn load_roots(ca: &[PathBuf], no_system_roots: bool) -> Result<Roots> {
    let mut roots = Roots::default();
    if !no_system_roots {
        roots.add_parsable(rustls_native_certs::load_native_certs().certs);
    }
    for path in ca {
        let pem = std::fs::read(path).map_err(|e| Error::file(path, "read --ca", e))?;
        let where_ = path.display().to_string();
        for cert in pins::pem_certs(&pem).map_err(|e| Error::input(&where_, e))? {
            roots.add(cert).map_err(|e| Error::input(&where_, e))?;
        }
    }
    Ok(roots)
}

fn header(spec: &str) -> std::result::Result<(HeaderName, HeaderValue), String> {
    let (name, value) = spec
        .split_once(':')
        .ok_or_else(|| format!("expected \"Name: value\", got {spec:?}"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("{:?} is not a header name", name.trim()))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("the value of {name} is not a valid header value"))?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse() {
        let (n, v) = header("X-Trace: abc ").unwrap();
        assert_eq!((n.as_str(), v.to_str().unwrap()), ("x-trace", "abc"));
        assert!(header("no colon").is_err());
        assert!(header("Bad Name: x").is_err());
    }
}
