//! Scenario files (TOML) into a typed, validated, expanded [`Suite`].
//!
//! Unknown keys are errors. Every error names the file, the line and the field:
//! `scenarios/app.toml:12: case.pins: "api.curent" is not a pin ...`. The format is documented
//! in the README ("Scenario files"); `tests/scenarios.rs` runs complete examples.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::ca::KeyType;
use crate::case_record::Expected;
use crate::dn::DistinguishedName;
use crate::error::{Error, Result};
use crate::origin::pki::ChainSpec;
use crate::rules::file::{line_of, one_line};
use crate::rules::{Action, HostGlob, Profile};

use super::matrix::{self, MatrixSpec};
use super::model::{
    CaChoice, Case, Client, ConfigSpec, Family, MapTarget, Origin, PinConfigSpec, PinRef,
    ProxySettings, Publish, Signer, Step, Suite, UpstreamTarget,
};
use super::template::{Arg, Command, Template};

/// The origin key reports show for a case against an upstream origin (it presents its own).
pub const UPSTREAM_KEY: &str = "upstream";

/// Default client timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `decide_after` of a case's proxy (shorter than the proxy command's: a test client
/// that idles this long after its handshake is not going to send a request).
pub const DEFAULT_DECIDE_AFTER: Duration = Duration::from_secs(3);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    suite: Option<RawSuite>,
    proxy: Option<Spanned<RawProxy>>,
    client: Spanned<RawClient>,
    #[serde(default)]
    origin: Vec<Spanned<RawOrigin>>,
    matrix: Option<Spanned<RawMatrix>>,
    #[serde(default)]
    case: Vec<Spanned<RawCase>>,
    pin_config: Option<Spanned<RawPinConfig>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPinConfig {
    host: Option<Spanned<String>>,
    key_type: Option<Spanned<String>>,
    #[serde(default)]
    configs: BTreeMap<String, Spanned<RawConfigSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfigSpec {
    version: Spanned<i64>,
    valid_for: Option<Spanned<String>>,
    expires: Option<Spanned<toml::value::Datetime>>,
    signed_by: Option<Spanned<String>>,
    tampered_from: Option<Spanned<String>>,
    #[serde(default)]
    hosts: BTreeMap<String, Spanned<RawConfigHost>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfigHost {
    #[serde(default)]
    pins: Vec<Spanned<String>>,
    #[serde(default)]
    include_subdomains: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuite {
    name: Option<Spanned<String>>,
    description: Option<String>,
    key_type: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProxy {
    listen: Option<Spanned<String>>,
    upstream_ca: Option<Spanned<Vec<String>>>,
    auth: Option<Spanned<String>>,
    allow_from: Option<Spanned<Vec<String>>>,
    decide_after: Option<Spanned<String>>,
    ca: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    command: Option<Spanned<toml::Value>>,
    before: Option<Spanned<toml::Value>>,
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<String>>,
    cwd: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrigin {
    name: Spanned<String>,
    host: Option<Spanned<String>>,
    upstream: Option<Spanned<String>>,
    keys: Option<Spanned<Vec<Spanned<String>>>>,
    depth: Option<Spanned<i64>>,
    chain: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatrix {
    origins: Option<Vec<Spanned<String>>>,
    families: Option<Vec<Spanned<String>>>,
    missing_pin: Option<Spanned<String>>,
    chain_pins: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: Spanned<String>,
    origin: Option<Spanned<String>>,
    proxy: Option<Spanned<String>>,
    origin_key: Option<Spanned<String>>,
    #[serde(default)]
    pins: Vec<Spanned<String>>,
    pinned_host: Option<Spanned<String>>,
    expect: Option<Spanned<String>>,
    #[serde(default)]
    reason: String,
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<String>>,
    before: Option<Spanned<toml::Value>>,
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
}

/// A `[[case.step]]`: each field changes the previous step's setup; `expect` is its own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: Option<Spanned<String>>,
    proxy: Option<Spanned<String>>,
    origin_key: Option<Spanned<String>>,
    pins: Option<Vec<Spanned<String>>>,
    pinned_host: Option<Spanned<String>>,
    expect: Spanned<String>,
    exit: Option<Spanned<i64>>,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    env: BTreeMap<String, Spanned<String>>,
    publish: Option<Spanned<String>>,
    #[serde(default)]
    map_local: BTreeMap<String, Spanned<String>>,
    config_version: Option<Spanned<i64>>,
    config_source: Option<Spanned<String>>,
}

/// Reads and parses a scenario file.
pub fn load(path: &std::path::Path) -> Result<Suite> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::file(path, "read the scenario file", e))?;
    let stem = path
        .file_stem()
        .map_or_else(|| "suite".to_string(), |s| s.to_string_lossy().into_owned());
    let mut suite = parse(&path.display().to_string(), &stem, &text)?;
    let dir = path.parent().unwrap_or(std::path::Path::new(""));
    let dir = if dir.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        dir
    };
    suite.dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    Ok(suite)
}

/// Parses scenario `text`; `file` names it in errors, `default_name` is the suite name when the
/// file gives none.
pub fn parse(file: &str, default_name: &str, text: &str) -> Result<Suite> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(text, s.start));
        Error::input(format!("{file}:{line}"), one_line(e.message()))
    })?;
    Parser { file, text }.suite(raw, default_name)
}

struct Parser<'a> {
    file: &'a str,
    text: &'a str,
}

impl Parser<'_> {
    fn err(&self, span: Range<usize>, field: &str, message: impl std::fmt::Display) -> Error {
        Error::input(
            format!("{}:{}", self.file, line_of(self.text, span.start)),
            format!("{field}: {message}"),
        )
    }

    fn suite(&self, raw: RawFile, default_name: &str) -> Result<Suite> {
        let (name, description, key_type) = match raw.suite {
            Some(s) => {
                let name = match s.name {
                    Some(n) if n.get_ref().trim().is_empty() => {
                        return Err(self.err(n.span(), "suite.name", "must not be empty"))
                    }
                    Some(n) => n.into_inner(),
                    None => default_name.to_string(),
                };
                let key_type = match s.key_type {
                    Some(k) => {
                        <KeyType as clap::ValueEnum>::from_str(k.get_ref(), true).map_err(|_| {
                            self.err(
                                k.span(),
                                "suite.key_type",
                                format!(
                                    "{:?}: expected \"ecdsa-p256\" or \"rsa2048\"",
                                    k.get_ref()
                                ),
                            )
                        })?
                    }
                    None => KeyType::default(),
                };
                (name, s.description, key_type)
            }
            None => (default_name.to_string(), None, KeyType::default()),
        };
        let proxy = self.proxy(raw.proxy)?;
        let client = self.client(raw.client)?;
        let origins = self.origins(raw.origin)?;
        let pin_config = match raw.pin_config {
            Some(p) => Some(self.pin_config(p, &origins)?),
            None => None,
        };
        let mut cases = Vec::new();
        let mut notes = Vec::new();
        if let Some(m) = raw.matrix {
            let span = m.span();
            if let Some(o) = origins.iter().find(|o| o.upstream.is_some()) {
                return Err(self.err(
                    span,
                    "matrix",
                    format!(
                        "origin {:?} is an upstream (real) host: the matrix needs origin keys the \
                         run generates; write its cases as [[case]] tables with literal pins",
                        o.name
                    ),
                ));
            }
            let spec = self.matrix(m.into_inner(), &origins)?;
            let (generated, n) =
                matrix::expand(&spec, &origins).map_err(|e| self.err(span.clone(), "matrix", e))?;
            cases.extend(generated);
            notes.extend(n);
        }
        let mut names: BTreeSet<String> = cases.iter().map(|c| c.name.clone()).collect();
        for raw_case in raw.case {
            let case = self.case(
                raw_case,
                &origins,
                pin_config.as_ref(),
                &mut names,
                client.command.is_some(),
            )?;
            cases.push(case);
        }
        if cases.is_empty() {
            return Err(Error::input(
                format!("{}:1", self.file),
                "no cases: add a [matrix] table or [[case]] tables",
            ));
        }
        Ok(Suite {
            name,
            file: self.file.to_string(),
            dir: std::path::PathBuf::from("."),
            description,
            key_type,
            proxy,
            client,
            origins,
            cases,
            notes,
            pin_config,
        })
    }

    fn pin_config(&self, raw: Spanned<RawPinConfig>, origins: &[Origin]) -> Result<PinConfigSpec> {
        let raw = raw.into_inner();
        let host = match &raw.host {
            Some(h) => {
                let host = h.get_ref().trim().to_ascii_lowercase();
                let glob =
                    HostGlob::parse(&host).map_err(|e| self.err(h.span(), "pin_config.host", e))?;
                if !glob.is_exact() || origins.iter().any(|o| o.host == host) {
                    return Err(self.err(
                        h.span(),
                        "pin_config.host",
                        "must be one host name, and not an origin's",
                    ));
                }
                host
            }
            None => "config.example.test".to_string(),
        };
        let key_type = match &raw.key_type {
            Some(k) => <crate::pin_config::KeyType as clap::ValueEnum>::from_str(k.get_ref(), true)
                .map_err(|_| {
                    self.err(
                        k.span(),
                        "pin_config.key_type",
                        format!("{:?}: expected \"ed25519\" or \"ecdsa-p256\"", k.get_ref()),
                    )
                })?,
            None => crate::pin_config::KeyType::default(),
        };
        let names: Vec<String> = raw.configs.keys().cloned().collect();
        let raw_tampered: Vec<bool> = raw
            .configs
            .values()
            .map(|c| c.get_ref().tampered_from.is_some())
            .collect();
        let mut configs = Vec::new();
        for (name, spec) in raw.configs {
            let span = spec.span();
            let field = |f: &str| format!("pin_config.configs.{name}.{f}");
            if !is_name(&name) {
                return Err(self.err(
                    span,
                    "pin_config.configs",
                    format!("{name:?}: use lower-case letters, digits, '-' and '_'"),
                ));
            }
            let spec = spec.into_inner();
            let version = u64::try_from(*spec.version.get_ref())
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| {
                    self.err(spec.version.span(), &field("version"), "a positive integer")
                })?;
            let expiry = match (&spec.valid_for, &spec.expires) {
                (Some(v), None) => crate::pin_config::source::Expiry::ValidFor(
                    self.duration(v, &field("valid_for"))?,
                ),
                (None, Some(e)) => crate::pin_config::source::Expiry::At(
                    crate::pin_config::source::datetime_unix(e.get_ref())
                        .map_err(|m| self.err(e.span(), &field("expires"), m))?,
                ),
                (Some(_), Some(e)) => {
                    return Err(self.err(
                        e.span(),
                        &field("expires"),
                        "give valid_for or expires, not both",
                    ))
                }
                (None, None) => {
                    return Err(self.err(
                        span,
                        &field("valid_for"),
                        "missing: give valid_for = \"7d\" or expires = 2020-01-01T00:00:00Z",
                    ))
                }
            };
            let signed_by = match &spec.signed_by {
                None => Signer::Signing,
                Some(s) => match s.get_ref().as_str() {
                    "signing" => Signer::Signing,
                    "attacker" => Signer::Attacker,
                    other => {
                        return Err(self.err(
                            s.span(),
                            &field("signed_by"),
                            format!("{other:?}: expected \"signing\" (the run's key, which the client holds) or \"attacker\" (another key)"),
                        ))
                    }
                },
            };
            let tampered_from = match &spec.tampered_from {
                None => None,
                Some(t) => Some(
                    names
                        .iter()
                        .position(|n| n == t.get_ref() && n != &name)
                        .ok_or_else(|| {
                            self.err(
                                t.span(),
                                &field("tampered_from"),
                                format!(
                                    "{:?} is not another config of [pin_config.configs]",
                                    t.get_ref()
                                ),
                            )
                        })?,
                ),
            };
            if spec.hosts.is_empty() {
                return Err(self.err(span, &field("hosts"), "needs at least one host"));
            }
            let mut hosts = Vec::new();
            for (h, entry) in spec.hosts {
                let entry_span = entry.span();
                let entry = entry.into_inner();
                let pins = entry
                    .pins
                    .iter()
                    .map(|p| self.pin(p, origins, &field("hosts.pins")))
                    .collect::<Result<Vec<_>>>()?;
                if pins.is_empty() {
                    return Err(self.err(
                        entry_span,
                        &field("hosts.pins"),
                        format!("{h:?} has no pins"),
                    ));
                }
                hosts.push((h.to_ascii_lowercase(), pins, entry.include_subdomains));
            }
            if let Some(from) = tampered_from {
                if raw_tampered[from] {
                    return Err(self.err(
                        span,
                        &field("tampered_from"),
                        "the config it borrows a signature from must be signed, not tampered",
                    ));
                }
            }
            configs.push(ConfigSpec {
                name,
                version,
                expiry,
                hosts,
                signed_by,
                tampered_from,
            });
        }
        Ok(PinConfigSpec {
            host,
            key_type,
            configs,
        })
    }

    fn proxy(&self, raw: Option<Spanned<RawProxy>>) -> Result<ProxySettings> {
        let mut settings = ProxySettings {
            listen: IpAddr::from([127, 0, 0, 1]),
            port: None,
            upstream_ca: Vec::new(),
            decide_after: DEFAULT_DECIDE_AFTER,
            ca: CaChoice::Ephemeral,
            auth: None,
            allow_from: crate::access::AllowList::default(),
        };
        let Some(raw) = raw else {
            return Ok(settings);
        };
        let span = raw.span();
        let raw = raw.into_inner();
        if let Some(auth) = &raw.auth {
            settings.auth = Some(
                crate::access::Credentials::parse(auth.get_ref())
                    .map_err(|e| self.err(auth.span(), "proxy.auth", e))?,
            );
        }
        if let Some(ranges) = &raw.allow_from {
            let parsed = ranges
                .get_ref()
                .iter()
                .map(|r| r.parse::<crate::access::Cidr>())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| self.err(ranges.span(), "proxy.allow_from", e))?;
            settings.allow_from = crate::access::AllowList::new(parsed);
        }
        let listen_span = raw.listen.as_ref().map_or(span.clone(), |l| l.span());
        if let Some(listen) = raw.listen {
            let text = listen.get_ref().trim();
            if let Ok(addr) = text.parse::<SocketAddr>() {
                if addr.port() == 0 {
                    return Err(self.err(
                        listen.span(),
                        "proxy.listen",
                        "port 0: give a fixed port (the device's proxy setting) or none at all \
                         (a fresh port per case)",
                    ));
                }
                settings.listen = addr.ip();
                settings.port = Some(addr.port());
            } else {
                settings.listen = text.parse().map_err(|_| {
                    self.err(
                        listen.span(),
                        "proxy.listen",
                        format!(
                            "{:?} is neither an IP address (a fresh port per case) nor IP:PORT \
                             (a fixed port, the device's proxy setting)",
                            listen.get_ref()
                        ),
                    )
                })?;
            }
        }
        if let Some(files) = raw.upstream_ca {
            if files.get_ref().iter().any(|f| f.trim().is_empty()) {
                return Err(self.err(files.span(), "proxy.upstream_ca", "a file name is empty"));
            }
            settings.upstream_ca = files
                .into_inner()
                .into_iter()
                .map(std::path::PathBuf::from)
                .collect();
        }
        crate::access::check_proxy_listen(
            SocketAddr::new(settings.listen, 0),
            settings.auth.is_some(),
            &settings.allow_from,
        )
        .map_err(|_| {
            self.err(
                listen_span,
                "proxy.listen",
                format!(
                    "{} is not a loopback address: a case proxy on the network needs \
                     proxy.auth = \"USER:PASS\" (the client gets it as {{proxy_auth}}) and/or \
                     proxy.allow_from = [\"CIDR\", ...]",
                    settings.listen
                ),
            )
        })?;
        if let Some(d) = raw.decide_after {
            settings.decide_after = self.duration(&d, "proxy.decide_after")?;
        }
        if let Some(ca) = raw.ca {
            settings.ca = match ca.get_ref().as_str() {
                "ephemeral" => CaChoice::Ephemeral,
                "local" => CaChoice::Local,
                other => {
                    return Err(self.err(
                        ca.span(),
                        "proxy.ca",
                        format!("{other:?}: expected \"ephemeral\" (a CA per run) or \"local\" (the CA in --ca-dir)"),
                    ))
                }
            };
        }
        Ok(settings)
    }

    fn duration(&self, d: &Spanned<String>, field: &str) -> Result<Duration> {
        match crate::duration::parse(d.get_ref()) {
            Ok(v) if !v.is_zero() => Ok(v),
            Ok(_) => Err(self.err(d.span(), field, "must be more than zero")),
            Err(e) => Err(self.err(d.span(), field, e)),
        }
    }

    fn template(&self, text: &str, span: Range<usize>, field: &str) -> Result<Template> {
        Template::parse(text).map_err(|e| self.err(span, field, e))
    }

    fn client(&self, raw: Spanned<RawClient>) -> Result<Client> {
        let raw = raw.into_inner();
        let command = match raw.command {
            Some(c) => Some(self.command(c, "client.command")?),
            None => None,
        };
        let before = match raw.before {
            Some(c) => Some(self.command(c, "client.before")?),
            None => None,
        };
        let timeout = match &raw.timeout {
            Some(t) => self.duration(t, "client.timeout")?,
            None => DEFAULT_TIMEOUT,
        };
        let env = self.env(raw.env, "client.env")?;
        let cwd = match raw.cwd {
            Some(c) if c.get_ref().trim().is_empty() => {
                return Err(self.err(c.span(), "client.cwd", "must not be empty"))
            }
            Some(c) => Some(std::path::PathBuf::from(c.into_inner())),
            None => None,
        };
        Ok(Client {
            command,
            before,
            timeout,
            env,
            cwd,
        })
    }

    /// A command: a string (run by `sh -c`) or a list of arguments, where a nested list is a
    /// group kept only when all its placeholders have values.
    fn command(&self, raw: Spanned<toml::Value>, field: &str) -> Result<Command> {
        let span = raw.span();
        let bad = || {
            self.err(
                span.clone(),
                field,
                "expected a string (run by sh -c) or a list of arguments, \
                 where a nested list is a group kept only when all its placeholders have values",
            )
        };
        Ok(match raw.into_inner() {
            toml::Value::String(s) if s.trim().is_empty() => {
                return Err(self.err(span, field, "must not be empty"))
            }
            toml::Value::String(s) => Command::Shell(self.template(&s, span.clone(), field)?),
            toml::Value::Array(items) if items.is_empty() => {
                return Err(self.err(span, field, "must not be empty"))
            }
            toml::Value::Array(items) => {
                let mut args = Vec::new();
                for (i, item) in items.into_iter().enumerate() {
                    args.push(match item {
                        toml::Value::String(s) => {
                            Arg::One(self.template(&s, span.clone(), field)?)
                        }
                        toml::Value::Array(group) if i > 0 && !group.is_empty() => Arg::Group(
                            group
                                .into_iter()
                                .map(|g| match g {
                                    toml::Value::String(s) => {
                                        self.template(&s, span.clone(), field)
                                    }
                                    _ => Err(bad()),
                                })
                                .collect::<Result<_>>()?,
                        ),
                        _ => return Err(bad()),
                    });
                }
                Command::Argv(args)
            }
            _ => return Err(bad()),
        })
    }

    fn env(
        &self,
        raw: BTreeMap<String, Spanned<String>>,
        field: &str,
    ) -> Result<Vec<(String, Template)>> {
        let mut env = Vec::new();
        for (name, value) in raw {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(self.err(
                    value.span(),
                    field,
                    format!("{name:?} is not a variable name"),
                ));
            }
            let template = self.template(value.get_ref(), value.span(), field)?;
            env.push((name, template));
        }
        Ok(env)
    }

    fn origins(&self, raw: Vec<Spanned<RawOrigin>>) -> Result<Vec<Origin>> {
        if raw.is_empty() {
            return Err(Error::input(
                format!("{}:1", self.file),
                "origin: at least one [[origin]] is needed (name = \"api\", host = \"api.example.test\")",
            ));
        }
        let mut origins: Vec<Origin> = Vec::new();
        for o in raw {
            let o = o.into_inner();
            let name = o.name.get_ref().clone();
            if name == "proxy" {
                return Err(self.err(
                    o.name.span(),
                    "origin.name",
                    "\"proxy\" is reserved: proxy.ca and proxy.forged name the case proxy's keys",
                ));
            }
            if !is_name(&name) {
                return Err(self.err(
                    o.name.span(),
                    "origin.name",
                    format!("{name:?}: use lower-case letters, digits, '-' and '_'"),
                ));
            }
            if origins.iter().any(|x| x.name == name) {
                return Err(self.err(
                    o.name.span(),
                    "origin.name",
                    format!("{name:?} is used twice"),
                ));
            }
            let upstream = match &o.upstream {
                Some(u) => Some(self.upstream(u)?),
                None => None,
            };
            let (host, host_span, host_field) =
                match (&o.host, &upstream) {
                    (Some(h), _) => (
                        h.get_ref().trim().to_ascii_lowercase(),
                        h.span(),
                        "origin.host",
                    ),
                    (None, Some((host, _))) => (
                        host.clone(),
                        o.upstream.as_ref().map_or(o.name.span(), Spanned::span),
                        "origin.upstream",
                    ),
                    (None, None) => return Err(self.err(
                        o.name.span(),
                        "origin.host",
                        "missing: the host name the origin serves (or upstream = \"HOST:PORT\" \
                         for a real host)",
                    )),
                };
            let glob =
                HostGlob::parse(&host).map_err(|e| self.err(host_span.clone(), host_field, e))?;
            if !glob.is_exact() {
                return Err(self.err(
                    host_span,
                    host_field,
                    "must be one host name, not a pattern",
                ));
            }
            if origins.iter().any(|x| x.host == host) {
                return Err(self.err(host_span, host_field, format!("{host:?} is used twice")));
            }
            if let (Some((up_host, _)), Some(u)) = (&upstream, &o.upstream) {
                if *up_host != host {
                    return Err(self.err(
                        u.span(),
                        "origin.upstream",
                        format!("names {up_host:?}, but origin.host is {host:?}: give one of them"),
                    ));
                }
                for (given, field) in [
                    (o.keys.as_ref().map(Spanned::span), "origin.keys"),
                    (o.depth.as_ref().map(Spanned::span), "origin.depth"),
                    (o.chain.as_ref().map(Spanned::span), "origin.chain"),
                ] {
                    if let Some(span) = given {
                        return Err(self.err(
                            span,
                            field,
                            "an upstream origin is a real host: the run generates no keys or \
                             chain for it (pin it with literal pins)",
                        ));
                    }
                }
                origins.push(Origin {
                    name,
                    host,
                    keys: Vec::new(),
                    chain: ChainSpec::default(),
                    upstream: upstream.map(|(_, target)| target),
                });
                continue;
            }
            let keys = match o.keys {
                None => vec!["current".to_string(), "next".to_string()],
                Some(keys) => {
                    let span = keys.span();
                    let mut names: Vec<String> = Vec::new();
                    for k in keys.into_inner() {
                        let key = k.get_ref().clone();
                        if !is_name(&key) || is_ca_word(&key) {
                            return Err(self.err(
                                k.span(),
                                "origin.keys",
                                format!("{key:?}: use lower-case letters, digits, '-' and '_' (not \"intermediate\", \"root\" or caN, which name the origin's CAs)"),
                            ));
                        }
                        if names.contains(&key) {
                            return Err(self.err(
                                k.span(),
                                "origin.keys",
                                format!("{key:?} is listed twice"),
                            ));
                        }
                        names.push(key);
                    }
                    if names.is_empty() {
                        return Err(self.err(span, "origin.keys", "needs at least one key name"));
                    }
                    names
                }
            };
            let chain = self.chain(o.depth, o.chain, &origins)?;
            origins.push(Origin {
                name,
                host,
                keys,
                chain,
                upstream: None,
            });
        }
        Ok(origins)
    }

    /// `upstream = "HOST:PORT"` or `"HOST:PORT=ADDR:PORT"` → the host and where it is.
    fn upstream(&self, u: &Spanned<String>) -> Result<(String, UpstreamTarget)> {
        let text = u.get_ref().trim();
        let bad = |why: String| self.err(u.span(), "origin.upstream", why);
        // `HOST:PORT=ADDR:PORT` is a `--map` entry; only its port is not optional here.
        let (host, port, connect) = if text.contains('=') {
            let map = crate::rules::HostMap::parse(text).map_err(bad)?;
            (map.host, map.port, Some(map.to))
        } else {
            match text.rsplit_once(':') {
                Some((h, p)) => (
                    crate::rules::unbracket(h).to_ascii_lowercase(),
                    p.parse::<u16>().ok(),
                    None,
                ),
                None => (String::new(), None, None),
            }
        };
        let port = port.filter(|p| *p != 0).ok_or_else(|| {
            bad(format!(
                "{text:?}: expected HOST:PORT (api.myapp.example:443), or HOST:PORT=ADDR:PORT \
                 to connect elsewhere"
            ))
        })?;
        if host.is_empty() {
            return Err(bad(format!("{text:?}: the host is missing")));
        }
        Ok((host, UpstreamTarget { port, connect }))
    }

    /// `depth` and `chain` of an `[[origin]]` → its chain; a given subject may not be a CA
    /// subject of another origin (`earlier`), nor another origin's leaf subject when it is a CA.
    fn chain(
        &self,
        depth: Option<Spanned<i64>>,
        chain: Option<Spanned<Vec<Spanned<String>>>>,
        earlier: &[Origin],
    ) -> Result<ChainSpec> {
        let range = ChainSpec::MIN_DEPTH..=ChainSpec::MAX_DEPTH;
        let depth = match depth {
            None => None,
            Some(d) => {
                let n = usize::try_from(*d.get_ref())
                    .ok()
                    .filter(|n| range.contains(n))
                    .ok_or_else(|| {
                        self.err(
                            d.span(),
                            "origin.depth",
                            format!(
                                "{}: a chain has {} to {} certificates, leaf and root included",
                                d.get_ref(),
                                range.start(),
                                range.end()
                            ),
                        )
                    })?;
                Some((n, d.span()))
            }
        };
        let Some(chain) = chain else {
            let n = depth.map_or(ChainSpec::DEFAULT_DEPTH, |(n, _)| n);
            return ChainSpec::generated(n)
                .map_err(|e| Error::input(format!("{}:1", self.file), e));
        };
        let span = chain.span();
        let entries = chain.into_inner();
        if !range.contains(&entries.len()) {
            return Err(self.err(
                span,
                "origin.chain",
                format!(
                    "{} subject(s): a chain has {} to {} certificates, leaf first, root last",
                    entries.len(),
                    range.start(),
                    range.end()
                ),
            ));
        }
        if let Some((n, depth_span)) = depth {
            if n != entries.len() {
                return Err(self.err(
                    depth_span,
                    "origin.depth",
                    format!(
                        "{n} disagrees with chain, which lists {} subjects (leave depth out: \
                         the chain's length is its depth)",
                        entries.len()
                    ),
                ));
            }
        }
        let mut subjects = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let text = entry.get_ref().trim();
            if text.is_empty() {
                subjects.push(None);
                continue;
            }
            let subject = DistinguishedName::parse(text).map_err(|e| {
                self.err(
                    entry.span(),
                    "origin.chain",
                    format!("entry {} {text:?}: {e}", i + 1),
                )
            })?;
            let is_ca = i > 0;
            for other in earlier {
                let clash = (0..other.depth()).find(|&k| {
                    (is_ca || k > 0)
                        && other
                            .chain
                            .subject(k)
                            .is_some_and(|s| s.same_name(&subject))
                });
                if let Some(k) = clash {
                    let theirs = match k {
                        0 => "leaf".to_string(),
                        k => format!(
                            "CA {}.{}",
                            other.name,
                            other.ca_reference(k).unwrap_or_default()
                        ),
                    };
                    return Err(self.err(
                        entry.span(),
                        "origin.chain",
                        format!(
                            "{text:?} is also the subject of origin {:?}'s {theirs}: a \
                             client that looks an issuer up by name would build the wrong path",
                            other.name
                        ),
                    ));
                }
            }
            subjects.push(Some(subject));
        }
        ChainSpec::new(subjects).map_err(|e| self.err(span, "origin.chain", e))
    }

    fn origin_index(
        &self,
        origins: &[Origin],
        name: &Spanned<String>,
        field: &str,
    ) -> Result<usize> {
        origins
            .iter()
            .position(|o| &o.name == name.get_ref())
            .ok_or_else(|| {
                let known: Vec<&str> = origins.iter().map(|o| o.name.as_str()).collect();
                self.err(
                    name.span(),
                    field,
                    format!(
                        "no origin named {:?} (origins: {})",
                        name.get_ref(),
                        known.join(", ")
                    ),
                )
            })
    }

    fn matrix(&self, raw: RawMatrix, origins: &[Origin]) -> Result<MatrixSpec> {
        let selected = match &raw.origins {
            None => (0..origins.len()).collect(),
            Some(names) => {
                let mut selected = Vec::new();
                for n in names {
                    let index = self.origin_index(origins, n, "matrix.origins")?;
                    if selected.contains(&index) {
                        return Err(self.err(
                            n.span(),
                            "matrix.origins",
                            format!("{:?} is listed twice", n.get_ref()),
                        ));
                    }
                    selected.push(index);
                }
                selected
            }
        };
        let (families, families_given) = match &raw.families {
            None => (Family::ALL.to_vec(), false),
            Some(names) => {
                let mut families = Vec::new();
                for n in names {
                    let f = Family::parse(n.get_ref())
                        .map_err(|e| self.err(n.span(), "matrix.families", e))?;
                    if !families.contains(&f) {
                        families.push(f);
                    }
                }
                (families, true)
            }
        };
        let missing_pin = match &raw.missing_pin {
            Some(m) => Some(self.expected(m, "matrix.missing_pin")?),
            None => None,
        };
        Ok(MatrixSpec {
            origins: selected,
            families,
            families_given,
            missing_pin,
            chain_pins: raw.chain_pins,
        })
    }

    fn expected(&self, s: &Spanned<String>, field: &str) -> Result<Expected> {
        match s.get_ref().as_str() {
            "cancelled" => Ok(Expected::Cancelled),
            "proceeded" => Ok(Expected::Proceeded),
            other => Err(self.err(
                s.span(),
                field,
                format!("{other:?}: expected \"cancelled\" or \"proceeded\""),
            )),
        }
    }

    fn case(
        &self,
        raw: Spanned<RawCase>,
        origins: &[Origin],
        pin_config: Option<&PinConfigSpec>,
        names: &mut BTreeSet<String>,
        has_command: bool,
    ) -> Result<Case> {
        let raw = raw.into_inner();
        let name = raw.name.get_ref().clone();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c))
        {
            return Err(self.err(
                raw.name.span(),
                "case.name",
                format!("{name:?}: use letters, digits, '.', '_', '/' and '-'"),
            ));
        }
        if !names.insert(name.clone()) {
            return Err(self.err(
                raw.name.span(),
                "case.name",
                format!("{name:?} is used twice"),
            ));
        }
        let origin = match &raw.origin {
            Some(o) => self.origin_index(origins, o, "case.origin")?,
            None if origins.len() == 1 => 0,
            None => {
                return Err(self.err(
                    raw.name.span(),
                    "case.origin",
                    "this suite has several origins: say which one the case uses",
                ))
            }
        };
        let case_span = raw.name.span();
        let action = match (&raw.proxy, raw.step.first()) {
            (Some(p), _) => Some(self.action(p, "case.proxy")?),
            (None, Some(_)) => None,
            (None, None) => {
                return Err(self.err(
                    case_span,
                    "case.proxy",
                    "missing: say what the proxy does (intercept, passthrough or a profile)",
                ))
            }
        };
        let origin_key = match &raw.origin_key {
            Some(k) => self.origin_key(k, &origins[origin], "case.origin_key")?,
            None => origins[origin]
                .keys
                .first()
                .cloned()
                .unwrap_or_else(|| UPSTREAM_KEY.to_string()),
        };
        let pins = raw
            .pins
            .iter()
            .map(|p| self.pin(p, origins, "case.pins"))
            .collect::<Result<Vec<_>>>()?;
        let pinned_host = match raw.pinned_host {
            Some(h) if pins.is_empty() => {
                return Err(self.err(h.span(), "case.pinned_host", "the case has no pins"))
            }
            Some(h) => Some(h.into_inner().trim().to_ascii_lowercase()),
            None => None,
        };
        let timeout = match &raw.timeout {
            Some(t) => Some(self.duration(t, "case.timeout")?),
            None => None,
        };
        let expect = match (&raw.expect, raw.step.is_empty()) {
            (Some(e), true) => self.expected(e, "case.expect")?,
            (None, true) => {
                return Err(self.err(
                    case_span,
                    "case.expect",
                    "missing: \"cancelled\" or \"proceeded\"",
                ))
            }
            (Some(e), false) => {
                return Err(self.err(
                    e.span(),
                    "case.expect",
                    "a case with steps expects per step: give each [[case.step]] its expect",
                ))
            }
            // Replaced by the first step's below.
            (None, false) => Expected::Proceeded,
        };
        let mut case = Case {
            name,
            family: None,
            origin,
            // Replaced by the first step's below when the case gives none.
            action: action.unwrap_or(Action::Passthrough),
            origin_key,
            pins,
            pinned_host,
            expect,
            reason: raw.reason,
            timeout,
            env: self.env(raw.env, "case.env")?,
            before: match raw.before {
                Some(c) => Some(self.command(c, "case.before")?),
                None => None,
            },
            steps: Vec::new(),
        };
        let mut step_names = BTreeSet::new();
        for (i, raw_step) in raw.step.into_iter().enumerate() {
            let previous = case.steps.last().map_or_else(
                || {
                    (
                        action,
                        case.origin_key.clone(),
                        case.pins.clone(),
                        case.pinned_host.clone(),
                    )
                },
                |s| {
                    (
                        Some(s.action),
                        s.origin_key.clone(),
                        s.pins.clone(),
                        s.pinned_host.clone(),
                    )
                },
            );
            let step = self.step(
                raw_step,
                i,
                previous,
                (&origins[origin], origins),
                pin_config,
                &mut step_names,
            )?;
            case.steps.push(step);
        }
        let passthrough = case.action == Action::Passthrough && case.steps.is_empty()
            || case.steps.iter().any(|s| s.action == Action::Passthrough);
        if passthrough && !has_command && origins[origin].upstream.is_some() {
            return Err(self.err(
                case_span.clone(),
                "case.proxy",
                format!(
                    "a passthrough case against the upstream origin {:?} is judged by the client's \
                     exit status (the proxy cannot see inside the tunnel, and there is no test \
                     origin): give [client] a command",
                    origins[origin].name
                ),
            ));
        }
        if let Some(first) = case.steps.first() {
            case.action = first.action;
            case.origin_key = first.origin_key.clone();
            case.pins = first.pins.clone();
            case.pinned_host = first.pinned_host.clone();
            case.expect = first.expect;
        }
        Ok(case)
    }

    fn action(&self, p: &Spanned<String>, field: &str) -> Result<Action> {
        Ok(match p.get_ref().as_str() {
            "intercept" => Action::Intercept(Profile::Forged),
            "passthrough" => Action::Passthrough,
            other => match other.parse::<Profile>() {
                Ok(Profile::Custom) => return Err(self.err(
                    p.span(),
                    field,
                    "the custom profile needs a certificate file; it is not available in scenarios",
                )),
                Ok(profile) => Action::Intercept(profile),
                Err(e) => {
                    return Err(self.err(
                        p.span(),
                        field,
                        format!("expected \"intercept\", \"passthrough\" or a profile: {e}"),
                    ))
                }
            },
        })
    }

    fn origin_key(&self, k: &Spanned<String>, origin: &Origin, field: &str) -> Result<String> {
        if origin.upstream.is_some() {
            return Err(self.err(
                k.span(),
                field,
                format!(
                    "origin {:?} is an upstream (real) host: it presents its own key",
                    origin.name
                ),
            ));
        }
        if origin.keys.contains(k.get_ref()) {
            return Ok(k.get_ref().clone());
        }
        Err(self.err(
            k.span(),
            field,
            format!(
                "origin {:?} has no key {:?} (keys: {})",
                origin.name,
                k.get_ref(),
                origin.keys.join(", ")
            ),
        ))
    }

    /// One `[[case.step]]`, starting from `previous` (the previous step's, or the case's, setup).
    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        raw: Spanned<RawStep>,
        index: usize,
        previous: (Option<Action>, String, Vec<PinRef>, Option<String>),
        (origin, origins): (&Origin, &[Origin]),
        pin_config: Option<&PinConfigSpec>,
        names: &mut BTreeSet<String>,
    ) -> Result<Step> {
        let span = raw.span();
        let raw = raw.into_inner();
        let (action, mut origin_key, mut pins, mut pinned_host) = previous;
        let name = match &raw.name {
            Some(n) => {
                let name = n.get_ref().clone();
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                {
                    return Err(self.err(
                        n.span(),
                        "case.step.name",
                        format!("{name:?}: use letters, digits, '.', '_' and '-'"),
                    ));
                }
                name
            }
            None => format!("step-{}", index + 1),
        };
        if !names.insert(name.clone()) {
            let at = raw.name.as_ref().map_or(span.clone(), Spanned::span);
            return Err(self.err(at, "case.step.name", format!("{name:?} is used twice")));
        }
        let action = match (&raw.proxy, action) {
            (Some(p), _) => self.action(p, "case.step.proxy")?,
            (None, Some(a)) => a,
            (None, None) => {
                return Err(self.err(
                    span,
                    "case.step.proxy",
                    "missing: the case gives no proxy, so its first step must",
                ))
            }
        };
        if let Some(k) = &raw.origin_key {
            origin_key = self.origin_key(k, origin, "case.step.origin_key")?;
        }
        if let Some(list) = &raw.pins {
            pins = list
                .iter()
                .map(|p| self.pin(p, origins, "case.step.pins"))
                .collect::<Result<Vec<_>>>()?;
            pinned_host = None;
        }
        if let Some(h) = raw.pinned_host {
            if pins.is_empty() {
                return Err(self.err(h.span(), "case.step.pinned_host", "the step has no pins"));
            }
            pinned_host = Some(h.into_inner().trim().to_ascii_lowercase());
        }
        let exit = match raw.exit {
            Some(e) => Some(
                i32::try_from(*e.get_ref())
                    .ok()
                    .filter(|c| (0..=255).contains(c))
                    .ok_or_else(|| {
                        self.err(e.span(), "case.step.exit", "an exit code is 0 to 255")
                    })?,
            ),
            None => None,
        };
        let config_index = |s: &Spanned<String>, field: &str| -> Result<usize> {
            let Some(pc) = pin_config else {
                return Err(self.err(s.span(), field, "the suite has no [pin_config] table"));
            };
            pc.configs
                .iter()
                .position(|c| &c.name == s.get_ref())
                .ok_or_else(|| {
                    let known: Vec<&str> = pc.configs.iter().map(|c| c.name.as_str()).collect();
                    self.err(
                        s.span(),
                        field,
                        format!(
                            "no config named {:?} (configs: {})",
                            s.get_ref(),
                            known.join(", ")
                        ),
                    )
                })
        };
        let publish = match &raw.publish {
            None => None,
            Some(p) if p.get_ref() == "none" => {
                if pin_config.is_none() {
                    return Err(self.err(
                        p.span(),
                        "case.step.publish",
                        "the suite has no [pin_config] table",
                    ));
                }
                Some(Publish::Nothing)
            }
            Some(p) if p.get_ref().ends_with(".toml") => {
                if pin_config.is_none() {
                    return Err(self.err(
                        p.span(),
                        "case.step.publish",
                        "the suite has no [pin_config] table",
                    ));
                }
                Some(Publish::File(std::path::PathBuf::from(p.get_ref())))
            }
            Some(p) => Some(Publish::Config(config_index(p, "case.step.publish")?)),
        };
        let mut map_local = Vec::new();
        for (url, target) in &raw.map_local {
            let field = "case.step.map_local";
            let url_template = self.template(url, target.span(), field)?;
            let value = target.get_ref().trim();
            let what = if let Some(code) = value.strip_prefix("status:") {
                let status = code
                    .parse::<u16>()
                    .ok()
                    .filter(|s| (200..=599).contains(s))
                    .ok_or_else(|| {
                        self.err(
                            target.span(),
                            field,
                            format!("{value:?}: a status is 200 to 599"),
                        )
                    })?;
                MapTarget::Status(status)
            } else if pin_config.is_some_and(|pc| pc.configs.iter().any(|c| c.name == value)) {
                MapTarget::Config(config_index(target, field)?)
            } else {
                MapTarget::File(std::path::PathBuf::from(value))
            };
            map_local.push((url_template, what));
        }
        let config_version = match &raw.config_version {
            Some(v) => Some(
                u64::try_from(*v.get_ref())
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or_else(|| {
                        self.err(v.span(), "case.step.config_version", "a positive integer")
                    })?,
            ),
            None => None,
        };
        let config_source = match &raw.config_source {
            Some(s) if ["fetched", "cache", "none"].contains(&s.get_ref().as_str()) => {
                Some(s.get_ref().clone())
            }
            Some(s) => {
                return Err(self.err(
                    s.span(),
                    "case.step.config_source",
                    format!(
                        "{:?}: expected \"fetched\", \"cache\" or \"none\"",
                        s.get_ref()
                    ),
                ))
            }
            None => None,
        };
        Ok(Step {
            name,
            action,
            origin_key,
            pins,
            pinned_host,
            expect: self.expected(&raw.expect, "case.step.expect")?,
            exit,
            reason: raw.reason,
            env: self.env(raw.env, "case.step.env")?,
            publish,
            map_local,
            config_version,
            config_source,
        })
    }

    fn pin(&self, p: &Spanned<String>, origins: &[Origin], field: &str) -> Result<PinRef> {
        let s = p.get_ref().trim();
        if let Some(what) = s.strip_prefix("proxy.") {
            if what == "ca" {
                return Ok(PinRef::Proxy(None));
            }
            return match what.parse::<Profile>() {
                Ok(Profile::Custom) | Err(_) => Err(self.err(
                    p.span(),
                    field,
                    format!(
                        "{s:?}: the proxy's pins are proxy.ca and proxy.PROFILE (forged, self-signed, wrong-host, expired, untrusted-ca, smuggle-chain)"
                    ),
                )),
                Ok(profile) => Ok(PinRef::Proxy(Some(profile))),
            };
        }
        if let Some((origin, what)) = s.split_once('.') {
            if let Some(o) = origins.iter().position(|x| x.name == origin) {
                if origins[o].upstream.is_some() {
                    return Err(self.err(
                        p.span(),
                        field,
                        format!(
                            "{s:?}: origin {origin:?} is an upstream (real) host, whose keys the \
                             run does not know: pin it with literal base64 pins (`pin-proxy pins \
                             --connect HOST` prints them)"
                        ),
                    ));
                }
                let depth = origins[o].depth();
                let cas = format!(
                    "its chain of {depth} has {origin}.ca1 to {origin}.ca{} (ca1 signs the leaf, ca{} is {origin}.root)",
                    depth - 1,
                    depth - 1
                );
                return match what {
                    "intermediate" if depth == 2 => Err(self.err(
                        p.span(),
                        field,
                        format!(
                            "{s:?}: origin {origin:?} has no intermediate at depth 2; use {origin}.root"
                        ),
                    )),
                    "intermediate" => Ok(PinRef::Intermediate(o)),
                    "root" => Ok(PinRef::Root(o)),
                    ca if is_ca_word(ca) => ca
                        .strip_prefix("ca")
                        .and_then(|k| k.parse::<usize>().ok())
                        .filter(|_| !ca.starts_with("ca0"))
                        .and_then(|k| PinRef::ca(o, k, depth))
                        .ok_or_else(|| {
                            self.err(
                                p.span(),
                                field,
                                format!("{s:?}: origin {origin:?} has no {ca}: {cas}"),
                            )
                        }),
                    key if origins[o].keys.iter().any(|k| k == key) => Ok(PinRef::Key {
                        origin: o,
                        key: key.to_string(),
                    }),
                    key => Err(self.err(
                        p.span(),
                        field,
                        format!(
                            "origin {origin:?} has no key {key:?} (use {origin}.{}, {origin}.intermediate, {origin}.root or {origin}.caK; {cas})",
                            origins[o].keys.join(&format!(", {origin}."))
                        ),
                    )),
                };
            }
        }
        if let Some(b64) = crate::pins::parse_pin(s) {
            return Ok(PinRef::Literal(b64.to_string()));
        }
        let examples: Vec<String> = origins
            .iter()
            .filter_map(|o| o.keys.first().map(|k| format!("{}.{k}", o.name)))
            .take(1)
            .collect();
        Err(self.err(
            p.span(),
            field,
            format!(
                "{s:?} is neither a reference ({}, ORIGIN.intermediate, ORIGIN.root, ORIGIN.caK) nor a base64 SHA-256 pin",
                examples.first().map_or("ORIGIN.KEY", String::as_str)
            ),
        ))
    }
}

/// Whether a leaf key name would read as one of the origin's CAs: `intermediate`, `root` or
/// `caN`.
fn is_ca_word(s: &str) -> bool {
    s == "intermediate"
        || s == "root"
        || s.strip_prefix("ca")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn is_name(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"[suite]
name = "demo"

[client]
command = ["curl", "-sS", "--proxy", "{proxy_url}", ["--pinnedpubkey", "{pins_curl}"], "{url}"]
timeout = "10s"

[[origin]]
name = "api"
host = "api.example.test"
"#;

    fn parse_ok(extra: &str) -> Suite {
        parse("s.toml", "s", &format!("{BASE}{extra}")).unwrap()
    }

    fn parse_err(extra: &str) -> String {
        parse("s.toml", "s", &format!("{BASE}{extra}"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_lan_proxy_needs_auth_or_allow_from() {
        let err = parse_err("[proxy]\nlisten = \"0.0.0.0\"\n\n[[case]]\nname = \"a\"\nproxy = \"intercept\"\nexpect = \"cancelled\"\n");
        assert!(
            err.contains("proxy.listen") && err.contains("proxy.auth"),
            "{err}"
        );
        let suite = parse_ok("[proxy]\nlisten = \"0.0.0.0\"\nauth = \"tester:pw\"\n\n[[case]]\nname = \"a\"\nproxy = \"intercept\"\nexpect = \"cancelled\"\n");
        assert_eq!(
            suite.proxy.auth.as_ref().map(|a| a.user().to_string()),
            Some("tester".into())
        );
        let suite = parse_ok("[proxy]\nlisten = \"0.0.0.0\"\nallow_from = [\"10.0.0.0/8\"]\n\n[[case]]\nname = \"a\"\nproxy = \"intercept\"\nexpect = \"cancelled\"\n");
        assert!(!suite.proxy.allow_from.is_empty());
        let err = parse_err("[proxy]\nauth = \"nocolon\"\n\n[[case]]\nname = \"a\"\nproxy = \"intercept\"\nexpect = \"cancelled\"\n");
        assert!(
            err.contains("proxy.auth") && !err.contains("nocolon"),
            "{err}"
        );
        let err = parse_err("[proxy]\nallow_from = [\"10.0.0.0/99\"]\n\n[[case]]\nname = \"a\"\nproxy = \"intercept\"\nexpect = \"cancelled\"\n");
        assert!(err.contains("proxy.allow_from"), "{err}");
    }

    #[test]
    fn parses_a_case() {
        let suite = parse_ok(
            "\n[[case]]\nname = \"pinned\"\nproxy = \"expired\"\npins = [\"api.current\", \"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]\nexpect = \"cancelled\"\nreason = \"why\"\n",
        );
        assert_eq!(suite.name, "demo");
        assert_eq!(suite.client.timeout, Duration::from_secs(10));
        let case = &suite.cases[0];
        assert_eq!(case.action, Action::Intercept(Profile::Expired));
        assert_eq!(case.origin_key, "current");
        assert_eq!(case.pins.len(), 2);
        assert!(matches!(&case.pins[1], PinRef::Literal(p) if p.starts_with("AAAA")));
        assert_eq!(case.expect, Expected::Cancelled);
    }

    #[test]
    fn steps_start_from_the_previous_step() {
        let suite = parse_ok(
            "\n[[case]]\nname = \"r\"\nproxy = \"passthrough\"\npins = [\"api.current\"]\n\
             [[case.step]]\nexpect = \"proceeded\"\n\
             [[case.step]]\nname = \"rotated\"\norigin_key = \"next\"\nexpect = \"cancelled\"\nexit = 10\n\
             [[case.step]]\nproxy = \"intercept\"\npins = []\nexpect = \"proceeded\"\nenv = { X = \"{case}\" }\n",
        );
        let case = &suite.cases[0];
        assert!(case.is_stepped());
        let steps: Vec<(&str, Action, &str, usize, Option<i32>)> = case
            .steps
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.action,
                    s.origin_key.as_str(),
                    s.pins.len(),
                    s.exit,
                )
            })
            .collect();
        assert_eq!(
            steps,
            [
                ("step-1", Action::Passthrough, "current", 1, None),
                ("rotated", Action::Passthrough, "next", 1, Some(10)),
                (
                    "step-3",
                    Action::Intercept(Profile::Forged),
                    "next",
                    0,
                    None
                ),
            ]
        );
        assert_eq!(case.steps[2].env[0].0, "X");
        // The case's own fields are its first step's.
        assert_eq!(
            (case.expect, case.origin_key.as_str()),
            (Expected::Proceeded, "current")
        );
        // A one-step case runs as itself.
        let plain =
            parse_ok("\n[[case]]\nname = \"p\"\nproxy = \"intercept\"\nexpect = \"cancelled\"\n");
        let run = plain.cases[0].run_steps();
        assert_eq!((run.len(), run[0].expect), (1, Expected::Cancelled));
        assert!(!plain.cases[0].is_stepped());
    }

    #[test]
    fn the_proxys_keys_can_be_pinned_by_name() {
        let suite = parse_ok(
            "\n[[case]]\nname = \"canary\"\nproxy = \"intercept\"\npins = [\"proxy.ca\", \"proxy.forged\"]\nexpect = \"proceeded\"\n",
        );
        assert_eq!(
            suite.cases[0].pins,
            [PinRef::Proxy(None), PinRef::Proxy(Some(Profile::Forged))]
        );
        assert_eq!(suite.cases[0].pins[1].label(&suite.origins), "proxy.forged");
        let e = parse_err("\n[[case]]\nname = \"c\"\nproxy = \"intercept\"\npins = [\"proxy.custom\"]\nexpect = \"proceeded\"\n");
        assert!(
            e.contains(
                "case.pins: \"proxy.custom\": the proxy's pins are proxy.ca and proxy.PROFILE"
            ),
            "{e}"
        );
        let e = parse(
            "s.toml",
            "s",
            "[client]\ncommand = \"x\"\n[[origin]]\nname = \"proxy\"\nhost = \"p.test\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("s.toml:4: origin.name: \"proxy\" is reserved"),
            "{e}"
        );
    }

    #[test]
    fn pin_configs_and_the_steps_that_publish_them() {
        let suite = parse_ok(
            "\n[pin_config]\n[pin_config.configs.v1]\nversion = 1\nvalid_for = \"7d\"\nhosts.\"api.example.test\".pins = [\"api.current\", \"proxy.forged\"]\n\
             [pin_config.configs.bad]\nversion = 2\nexpires = 2020-01-01T00:00:00Z\nsigned_by = \"attacker\"\ntampered_from = \"v1\"\nhosts.\"api.example.test\".pins = [\"api.next\"]\n\
             [[case]]\nname = \"c\"\nproxy = \"passthrough\"\n\
             [[case.step]]\npublish = \"v1\"\nexpect = \"proceeded\"\nconfig_version = 1\nconfig_source = \"fetched\"\n\
             [[case.step]]\nmap_local = { \"{pins_url}\" = \"bad\", \"http://x.test/a\" = \"status:503\" }\nexpect = \"proceeded\"\n",
        );
        let pc = suite.pin_config.as_ref().unwrap();
        assert_eq!(pc.host, "config.example.test");
        let names: Vec<&str> = pc.configs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["bad", "v1"]);
        assert_eq!(pc.configs[0].signed_by, Signer::Attacker);
        assert_eq!(pc.configs[0].tampered_from, Some(1));
        assert_eq!(
            pc.configs[0].expiry,
            crate::pin_config::source::Expiry::At(1_577_836_800)
        );
        let steps = &suite.cases[0].steps;
        assert_eq!(steps[0].publish, Some(Publish::Config(1)));
        let file = parse_ok(
            "\n[pin_config]\n[[case]]\nname = \"c\"\nproxy = \"passthrough\"\n[[case.step]]\npublish = \"pins/v3.toml\"\nexpect = \"proceeded\"\n",
        );
        assert_eq!(
            file.cases[0].steps[0].publish,
            Some(Publish::File("pins/v3.toml".into()))
        );
        assert_eq!(
            (steps[0].config_version, steps[0].config_source.as_deref()),
            (Some(1), Some("fetched"))
        );
        assert_eq!(steps[1].map_local.len(), 2);
        assert!(steps[1]
            .map_local
            .iter()
            .any(|(_, t)| *t == MapTarget::Config(0)));
        assert!(steps[1]
            .map_local
            .iter()
            .any(|(_, t)| *t == MapTarget::Status(503)));

        for (extra, want) in [
            ("[[case]]\nname = \"c\"\nproxy = \"intercept\"\n[[case.step]]\npublish = \"v1\"\nexpect = \"proceeded\"\n",
             "case.step.publish: the suite has no [pin_config] table"),
            ("[pin_config]\n[pin_config.configs.v1]\nversion = 0\nvalid_for = \"1d\"\nhosts.\"a.test\".pins = [\"api.current\"]\n[[case]]\nname = \"c\"\nproxy = \"intercept\"\nexpect = \"proceeded\"\n",
             "pin_config.configs.v1.version: a positive integer"),
            ("[pin_config]\n[pin_config.configs.v1]\nversion = 1\nhosts.\"a.test\".pins = [\"api.current\"]\n[[case]]\nname = \"c\"\nproxy = \"intercept\"\nexpect = \"proceeded\"\n",
             "pin_config.configs.v1.valid_for: missing"),
            ("[pin_config]\n[pin_config.configs.v1]\nversion = 1\nvalid_for = \"1d\"\nhosts.\"a.test\".pins = [\"api.nope\"]\n[[case]]\nname = \"c\"\nproxy = \"intercept\"\nexpect = \"proceeded\"\n",
             "pin_config.configs.v1.hosts.pins: origin \"api\" has no key \"nope\""),
            ("[pin_config]\n[pin_config.configs.v1]\nversion = 1\nvalid_for = \"1d\"\nhosts.\"a.test\".pins = [\"api.current\"]\n[[case]]\nname = \"c\"\nproxy = \"intercept\"\n[[case.step]]\npublish = \"v2\"\nexpect = \"proceeded\"\n",
             "case.step.publish: no config named \"v2\" (configs: v1)"),
            ("[pin_config]\n[[case]]\nname = \"c\"\nproxy = \"intercept\"\n[[case.step]]\nexpect = \"proceeded\"\nconfig_source = \"disk\"\n",
             "case.step.config_source: \"disk\": expected"),
        ] {
            let e = parse_err(&format!("\n{extra}"));
            assert!(e.contains(want), "{extra:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn step_errors_name_the_step_field() {
        let case = "\n[[case]]\nname = \"r\"\n";
        for (extra, want) in [
            (
                "proxy = \"passthrough\"\nexpect = \"proceeded\"\n[[case.step]]\nexpect = \"proceeded\"\n",
                "s.toml:15: case.expect: a case with steps expects per step",
            ),
            (
                "[[case.step]]\nexpect = \"proceeded\"\n",
                "case.step.proxy: missing: the case gives no proxy, so its first step must",
            ),
            (
                "proxy = \"intercept\"\n[[case.step]]\nname = \"a\"\nexpect = \"proceeded\"\n[[case.step]]\nname = \"a\"\nexpect = \"proceeded\"\n",
                "case.step.name: \"a\" is used twice",
            ),
            (
                "proxy = \"intercept\"\n[[case.step]]\nexpect = \"proceeded\"\nexit = 300\n",
                "s.toml:17: case.step.exit: an exit code is 0 to 255",
            ),
            (
                "proxy = \"intercept\"\n[[case.step]]\norigin_key = \"later\"\nexpect = \"proceeded\"\n",
                "case.step.origin_key: origin \"api\" has no key \"later\"",
            ),
            (
                "proxy = \"intercept\"\n[[case.step]]\npins = [\"api.nope\"]\nexpect = \"proceeded\"\n",
                "case.step.pins: origin \"api\" has no key \"nope\"",
            ),
            (
                "proxy = \"intercept\"\n[[case.step]]\nexpect = \"proceeded\"\nfoo = 1\n",
                "unknown field `foo`",
            ),
            ("", "case.proxy: missing"),
            ("proxy = \"intercept\"\n", "case.expect: missing"),
        ] {
            let e = parse_err(&format!("{case}{extra}"));
            assert!(e.contains(want), "{extra:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn client_cwd_and_case_env() {
        let suite = parse(
            "s.toml",
            "s",
            "[client]\ncommand = \"x\"\ncwd = \"tools\"\nenv = { A = \"{host}\" }\n[[origin]]\nname = \"api\"\nhost = \"a.test\"\n[[case]]\nname = \"c\"\nproxy = \"passthrough\"\nexpect = \"proceeded\"\nenv = { B = \"{case}\" }\n",
        )
        .unwrap();
        assert_eq!(
            suite.client.cwd.as_deref(),
            Some(std::path::Path::new("tools"))
        );
        assert_eq!(suite.client.env[0].0, "A");
        assert_eq!(suite.cases[0].env[0].0, "B");
        assert_eq!(suite.cases[0].env[0].1.source(), "{case}");
    }

    #[test]
    fn a_matrix_expands() {
        let suite = parse_ok("\n[matrix]\nchain_pins = false\n");
        assert_eq!(suite.cases.len(), 11);
        // A single origin has no missing-pin family, a leaf-only client no smuggle-chain one.
        assert_eq!(suite.notes.len(), 2, "{:?}", suite.notes);
        let suite = parse_ok("\n[matrix]\nchain_pins = true\n");
        assert_eq!(suite.cases.len(), 13);
        assert_eq!(suite.notes.len(), 1, "{:?}", suite.notes);
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let cases = [
            ("\n[[case]]\nname = \"x\"\nproxy = \"intercept\"\nexpect = \"cancelled\"\ncolour = 1\n", "s.toml:16:", "colour"),
            ("\n[[case]]\nname = \"x\"\nproxy = \"intercept\"\npins = [\"api.curent\"]\nexpect = \"cancelled\"\n", "s.toml:15: case.pins:", "no key \"curent\""),
            ("\n[[case]]\nname = \"x\"\nproxy = \"intercept\"\npins = [\"abc\"]\nexpect = \"cancelled\"\n", "s.toml:15: case.pins:", "neither a reference"),
            ("\n[[case]]\nname = \"x\"\nproxy = \"sideways\"\nexpect = \"cancelled\"\n", "s.toml:14: case.proxy:", "unknown profile"),
            ("\n[[case]]\nname = \"x\"\nproxy = \"intercept\"\nexpect = \"maybe\"\n", "s.toml:15: case.expect:", "\"cancelled\" or \"proceeded\""),
            ("\n[matrix]\nfamilies = [\"pinned\", \"sloppy\"]\n", "s.toml:13: matrix.families:", "unknown family"),
            ("\n[matrix]\nfamilies = [\"missing-pin\"]\nmissing_pin = \"proceeded\"\n", "s.toml:12: matrix:", "second origin"),
            ("\n[matrix]\n", "s.toml:12: matrix:", "chain_pins"),
            ("\n[[case]]\nname = \"x\"\nproxy = \"intercept\"\nexpect = \"cancelled\"\ntimeout = \"soon\"\n", "s.toml:16: case.timeout:", "not a duration"),
        ];
        for (extra, prefix, needle) in cases {
            let err = parse_err(extra);
            assert!(
                err.starts_with(prefix) && err.contains(needle),
                "{extra:?} gave {err}"
            );
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    /// A suite whose origins are `origins` (TOML of `[[origin]]` tables) and one case pinning
    /// `pins`.
    fn with_origins(origins: &str, pins: &str) -> std::result::Result<Suite, String> {
        parse(
            "s.toml",
            "s",
            &format!("[client]\ncommand = \"x\"\n{origins}\n[[case]]\nname = \"c\"\norigin = \"api\"\nproxy = \"passthrough\"\npins = [{pins}]\nexpect = \"proceeded\"\n"),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn origins_give_their_chains_depth_and_subjects() {
        let suite = with_origins(
            "[[origin]]\nname = \"api\"\nhost = \"api.test\"\ndepth = 4\nchain = [\"CN=leaf.example, O=Example\", \"CN=Example Issuing CA 1,O=Example\", \"\", \"CN=Example Root,O=Example,C=US\"]\n\
             [[origin]]\nname = \"cdn\"\nhost = \"cdn.test\"\ndepth = 2\n\
             [[origin]]\nname = \"web\"\nhost = \"web.test\"\n",
            "\"api.ca1\", \"api.ca2\", \"api.ca3\", \"api.intermediate\", \"api.root\", \"cdn.ca1\", \"cdn.root\", \"web.ca2\"",
        )
        .unwrap();
        let [api, cdn, web] = &suite.origins[..] else {
            panic!("three origins")
        };
        assert_eq!((api.depth(), cdn.depth(), web.depth()), (4, 2, 3));
        let given: Vec<Option<String>> = (0..4)
            .map(|k| api.chain.subject(k).map(ToString::to_string))
            .collect();
        assert_eq!(
            given,
            [
                Some("CN=leaf.example,O=Example".to_string()),
                Some("CN=Example Issuing CA 1,O=Example".to_string()),
                None,
                Some("CN=Example Root,O=Example,C=US".to_string()),
            ]
        );
        // One reference per certificate: ca1 is the intermediate, the last caK the root.
        let pins = &suite.cases[0].pins;
        assert_eq!(
            pins,
            &[
                PinRef::Intermediate(0),
                PinRef::Ca {
                    origin: 0,
                    level: 2
                },
                PinRef::Root(0),
                PinRef::Intermediate(0),
                PinRef::Root(0),
                PinRef::Root(1),
                PinRef::Root(1),
                PinRef::Root(2),
            ]
        );
        let labels: Vec<String> = pins.iter().map(|p| p.label(&suite.origins)).collect();
        assert_eq!(
            labels,
            [
                "api.intermediate",
                "api.ca2",
                "api.root",
                "api.intermediate",
                "api.root",
                "cdn.root",
                "cdn.root",
                "web.root"
            ]
        );
        let refs: Vec<Option<String>> = (0..5).map(|k| api.ca_reference(k)).collect();
        assert_eq!(
            refs,
            [
                None,
                Some("intermediate".to_string()),
                Some("ca2".to_string()),
                Some("root".to_string()),
                None
            ]
        );
        // A chain alone sets the depth; one that agrees with depth is fine.
        let suite = with_origins(
            "[[origin]]\nname = \"api\"\nhost = \"api.test\"\ndepth = 2\nchain = [\"\", \"CN=R\"]\n",
            "",
        )
        .unwrap();
        assert_eq!(suite.origins[0].depth(), 2);
        // Leaves may share a subject: no client looks a leaf up as an issuer.
        with_origins(
            "[[origin]]\nname = \"api\"\nhost = \"a.test\"\nchain = [\"CN=leaf\", \"\", \"\"]\n\
             [[origin]]\nname = \"b\"\nhost = \"b.test\"\nchain = [\"CN=leaf\", \"\", \"\"]\n",
            "",
        )
        .unwrap();
    }

    #[test]
    fn chain_errors_name_the_field() {
        let origin =
            |extra: &str| format!("[[origin]]\nname = \"api\"\nhost = \"api.test\"\n{extra}");
        for (origins, pins, want) in [
            (origin("depth = 1\n"), "", "s.toml:6: origin.depth: 1: a chain has 2 to 6 certificates"),
            (origin("depth = 7\n"), "", "s.toml:6: origin.depth: 7: a chain has 2 to 6"),
            (origin("depth = -3\n"), "", "s.toml:6: origin.depth: -3:"),
            (origin("chain = [\"CN=a\"]\n"), "", "s.toml:6: origin.chain: 1 subject(s): a chain has 2 to 6 certificates, leaf first, root last"),
            (origin("chain = [\"\", \"\", \"\", \"\", \"\", \"\", \"\"]\n"), "", "s.toml:6: origin.chain: 7 subject(s)"),
            (
                origin("depth = 4\nchain = [\"\", \"\", \"CN=Root\"]\n"),
                "",
                "s.toml:6: origin.depth: 4 disagrees with chain, which lists 3 subjects",
            ),
            (
                origin("chain = [\"\",\n  \"CN=CA,E=ca@example.com\", \"\"]\n"),
                "",
                "s.toml:7: origin.chain: entry 2 \"CN=CA,E=ca@example.com\": unknown attribute type \"E\" (known: CN, O, OU, C, ST, L)",
            ),
            (
                origin("chain = [\"CN=a+OU=b\", \"\"]\n"),
                "",
                "origin.chain: entry 1 \"CN=a+OU=b\": CN: multi-valued RDNs (+) are not supported",
            ),
            (
                origin("chain = [\"\", \"CN=Example CA\", \"cn=example ca\"]\n"),
                "",
                "s.toml:6: origin.chain: ca1 and the root (ca2) have the same subject \"CN=example ca\"",
            ),
            (
                format!("{}[[origin]]\nname = \"cdn\"\nhost = \"cdn.test\"\nchain = [\"\", \"\", \"\", \"CN=Example Root, O=Example\"]\n",
                    origin("depth = 4\nchain = [\"\", \"\", \"\", \"CN=Example Root,O=Example\"]\n")),
                "",
                "s.toml:11: origin.chain: \"CN=Example Root, O=Example\" is also the subject of origin \"api\"'s CA api.root: a client that looks an issuer up by name would build the wrong path",
            ),
            (
                format!("{}[[origin]]\nname = \"cdn\"\nhost = \"cdn.test\"\nchain = [\"CN=Issuing\", \"\", \"\"]\n",
                    origin("depth = 4\nchain = [\"\", \"\", \"CN=Issuing\", \"\"]\n")),
                "",
                "s.toml:11: origin.chain: \"CN=Issuing\" is also the subject of origin \"api\"'s CA api.ca2:",
            ),
            (
                format!("{}[[origin]]\nname = \"cdn\"\nhost = \"cdn.test\"\nchain = [\"\", \"CN=api.test\", \"\"]\n",
                    origin("chain = [\"CN=api.test\", \"\", \"\"]\n")),
                "",
                "origin.chain: \"CN=api.test\" is also the subject of origin \"api\"'s leaf:",
            ),
            (origin("depth = 2\n"), "\"api.intermediate\"", "s.toml:12: case.pins: \"api.intermediate\": origin \"api\" has no intermediate at depth 2; use api.root"),
            (origin("depth = 4\n"), "\"api.ca4\"", "case.pins: \"api.ca4\": origin \"api\" has no ca4: its chain of 4 has api.ca1 to api.ca3 (ca1 signs the leaf, ca3 is api.root)"),
            (origin(""), "\"api.ca0\"", "case.pins: \"api.ca0\": origin \"api\" has no ca0:"),
            (origin(""), "\"api.ca01\"", "has no ca01"),
            (origin(""), "\"api.curent\"", "origin \"api\" has no key \"curent\" (use api.current, api.next, api.intermediate, api.root or api.caK; its chain of 3 has api.ca1 to api.ca2"),
        ] {
            let e = with_origins(&origins, pins).unwrap_err();
            assert!(e.contains(want), "{origins:?} {pins:?}:\n{e}");
            assert!(!e.contains('\n'), "{e}");
        }
        for key in ["root", "intermediate", "ca1", "ca12"] {
            let e = with_origins(&origin(&format!("keys = [\"current\", \"{key}\"]\n")), "")
                .unwrap_err();
            assert!(
                e.starts_with(&format!(
                    "s.toml:6: origin.keys: \"{key}\": use lower-case letters"
                )) && e.contains("caN"),
                "{e}"
            );
        }
        // `ca` alone and `cafe` name no CA: they are key names like any other.
        let suite = with_origins(&origin("keys = [\"ca\", \"cafe\"]\n"), "\"api.cafe\"").unwrap();
        assert_eq!(suite.origins[0].keys, ["ca", "cafe"]);
    }

    #[test]
    fn client_and_origin_errors() {
        let err = parse("s.toml", "s", "[[origin]]\nname = \"api\"\nhost = \"a.test\"\n[[case]]\nname = \"x\"\nproxy = \"intercept\"\nexpect = \"cancelled\"\n").unwrap_err().to_string();
        assert!(
            err.starts_with("s.toml:1:") && err.contains("client"),
            "{err}"
        );
        let err = parse("s.toml", "s", "[client]\ncommand = \"curl {urll}\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("s.toml:2: client.command: unknown placeholder {urll}"),
            "{err}"
        );
        let err = parse("s.toml", "s", "[client]\ncommand = [[\"x\"]]\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("s.toml:2: client.command:"), "{err}");
        let err = parse(
            "s.toml",
            "s",
            "[client]\ncommand = \"x\"\n\n[[origin]]\nname = \"Api\"\nhost = \"a.test\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("s.toml:5: origin.name:"), "{err}");
        let err = parse(
            "s.toml",
            "s",
            "[client]\ncommand = \"x\"\n\n[[origin]]\nname = \"api\"\nhost = \"*.a.test\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("s.toml:6: origin.host:"), "{err}");
        let err = parse(
            "s.toml",
            "s",
            "[client]\ncommand = \"x\"\n[[origin]]\nname = \"api\"\nhost = \"a.test\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("no cases"), "{err}");
    }
}
