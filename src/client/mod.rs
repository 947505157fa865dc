//! The reference pinning client (`pin-proxy client`): one HTTPS request whose pinning policy is
//! known exactly and can be switched, so that suites, rotation rehearsals and log reproductions
//! have a client that behaves like the library they stand for.
//!
//! The policy is pure ([`policy`]); what it says and prints is in [`report`]; trust evaluation
//! that keeps the verified path is [`crate::trust`]. This module is the I/O around them: TCP
//! (direct, or an HTTP proxy's CONNECT), TLS with the path-keeping verifier, the pin check after
//! the handshake and before any request byte (as OkHttp and curl do: on a mismatch it sends
//! close_notify and closes), then one HTTP/1.1 or HTTP/2 request. It reads no files and prints
//! nothing itself: the CLI hands it roots, pins and a log sink.

pub mod chain;
pub mod config;
pub mod policy;
pub mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{header, HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;

use self::config::{CacheState, ConfigPins, ConfigSource};
use self::policy::{Decision, Policy};
use self::report::{ConfigInfo, MatchedPin, Outcome, PolicyInfo, Report};
use crate::pin_config::cache::{self, Cached};
use crate::pin_config::serve::Format;
use crate::pin_config::VerifyingKey;
use crate::rules::{mapped_addr, HostMap};
use crate::trust::{PathVerifier, Roots};

/// The most of a response body the client keeps.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// An `https://` URL, taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The URL as given.
    pub url: String,
    /// Host name or IP (without brackets), lower-cased.
    pub host: String,
    /// Port (443 unless given).
    pub port: u16,
    /// `host[:port]` as the Host header and CONNECT want it (IPv6 in brackets).
    pub authority: String,
    /// Path and query (`/` at least).
    pub path_and_query: String,
}

impl Target {
    /// Parses an `https://` URL.
    pub fn parse(url: &str) -> Result<Self, String> {
        match Self::parse_any(url)? {
            (target, true) => Ok(target),
            (_, false) => Err(format!(
                "{url:?}: only https:// URLs can be pinned (the client makes TLS connections)"
            )),
        }
    }

    /// Parses an `https://` or `http://` URL; says whether it is https.
    pub fn parse_any(url: &str) -> Result<(Self, bool), String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("{url:?}: expected an https:// (or http://) URL")),
        };
        let default_port = if https { 443 } else { 80 };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{url:?} has no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!("{url:?}: credentials in the URL are not supported"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        let port = authority.port_u16().unwrap_or(default_port);
        let host_part = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        Ok((
            Self {
                url: url.to_string(),
                authority: if port == default_port {
                    host_part
                } else {
                    format!("{host_part}:{port}")
                },
                host,
                port,
                path_and_query: uri
                    .path_and_query()
                    .map_or_else(|| "/".to_string(), |p| p.as_str().to_string()),
            },
            https,
        ))
    }

    /// `host:port` for CONNECT (IPv6 in brackets), always with the port.
    pub fn connect_authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// An HTTP proxy to CONNECT through.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxySpec {
    /// `host:port`.
    pub addr: String,
    /// Basic credentials (`user`, `password`), never printed.
    pub auth: Option<(String, String)>,
}

impl std::fmt::Debug for ProxySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxySpec")
            .field("addr", &self.addr)
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl ProxySpec {
    /// The `Proxy-Authorization` value for the credentials, if any.
    fn authorization(&self) -> Option<String> {
        self.auth.as_ref().map(|(user, pass)| {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            format!("Basic {token}")
        })
    }

    /// Parses `host:port`, `http://host:port` or `http://user:password@host:port`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let rest = match spec.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "unsupported proxy scheme {scheme:?}: give host:port or http://host:port"
                ))
            }
            None => spec,
        };
        let rest = rest.trim_end_matches('/');
        let (auth, addr) = match rest.rsplit_once('@') {
            Some((userinfo, addr)) => {
                let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                (Some((user.to_string(), pass.to_string())), addr)
            }
            None => (None, rest),
        };
        let port_ok = addr
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !port_ok {
            return Err(format!(
                "expected the proxy as host:port or http://host:port, got {:?}",
                redact_userinfo(spec)
            ));
        }
        Ok(Self {
            addr: addr.to_string(),
            auth,
        })
    }
}

/// `spec` without the credentials of a `user:password@` part.
fn redact_userinfo(spec: &str) -> String {
    match spec.rsplit_once('@') {
        Some((before, after)) => {
            let scheme = before.split_once("://").map_or("", |(s, _)| s);
            if scheme.is_empty() {
                format!("<credentials>@{after}")
            } else {
                format!("{scheme}://<credentials>@{after}")
            }
        }
        None => spec.to_string(),
    }
}

/// Everything one run needs.
#[derive(Debug)]
pub struct Options {
    /// What to fetch.
    pub target: Target,
    /// Through this proxy, or direct.
    pub proxy: Option<ProxySpec>,
    /// Direct connections to a mapped host go to its address instead of resolving it.
    pub maps: Vec<HostMap>,
    /// The trusted roots.
    pub roots: Arc<Roots>,
    /// The pinning policy.
    pub policy: Policy,
    /// Where the pins came from, for the report (`flags`, `none`, `config`).
    pub pins_source: &'static str,
    /// A signed pin config to fetch instead of fixed pins.
    pub pin_config: Option<ConfigOptions>,
    /// The request method.
    pub method: Method,
    /// Extra request headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The request body.
    pub body: Bytes,
    /// Limit on connecting: TCP, the proxy's CONNECT and the TLS handshake.
    pub connect_timeout: Duration,
    /// Limit on the whole run.
    pub timeout: Duration,
}

/// Where the signed pin config comes from (`--pins-url`, `--pins-key`, `--pins-cache`,
/// `--pins-format`).
#[derive(Debug)]
pub struct ConfigOptions {
    /// The config's URL (http or https), fetched through the same proxy.
    pub url: Target,
    /// Whether it is https.
    pub https: bool,
    /// The public key it must be signed with.
    pub key: VerifyingKey,
    /// The cache file of the last good config.
    pub cache: Option<PathBuf>,
    /// Its format.
    pub format: Format,
}

/// The most of a pin config the client reads.
const MAX_CONFIG: usize = 1024 * 1024;

/// A run's report and, when the request was made, the response body.
#[derive(Debug)]
pub struct Fetched {
    /// The result object.
    pub report: Report,
    /// The response body (empty unless the request was made).
    pub body: Bytes,
}

/// The clock, in Unix seconds (0 if it is before 1970).
pub(crate) fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Makes the request under the policy, writing log lines to `log` as it goes.
pub async fn fetch(opts: &Options, log: &mut (dyn FnMut(&str) + Send)) -> Fetched {
    let started = Instant::now();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(PathVerifier::new(opts.roots.clone(), provider.clone()));
    let mut run = Run {
        opts,
        report: Report {
            outcome: Outcome::Network,
            exit: Outcome::Network.exit_code(),
            url: opts.target.url.clone(),
            host: opts.target.host.clone(),
            port: opts.target.port,
            proxy: opts.proxy.as_ref().map(|p| p.addr.clone()),
            policy: PolicyInfo::of(&opts.policy),
            pins_source: opts.pins_source,
            verified_path: Vec::new(),
            presented: Vec::new(),
            matched_pin: None,
            pin_config: None,
            trust_failure: None,
            tls_version: None,
            alpn: None,
            status: None,
            body_bytes: None,
            error: None,
            duration_ms: 0,
        },
        body: Bytes::new(),
        log,
    };
    let result = tokio::time::timeout(opts.timeout, run.steps(provider, verifier)).await;
    let outcome = match result {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(error)) => run.network(error),
        Err(_) => run.network(format!(
            "timed out after {} (--timeout)",
            crate::duration::display(opts.timeout)
        )),
    };
    run.report.outcome = outcome;
    run.report.exit = outcome.exit_code();
    run.report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    (run.log)(&report::outcome_line(outcome));
    Fetched {
        report: run.report,
        body: run.body,
    }
}

struct Run<'a> {
    opts: &'a Options,
    report: Report,
    body: Bytes,
    log: &'a mut (dyn FnMut(&str) + Send),
}

impl Run<'_> {
    fn line(&mut self, line: &str) {
        (self.log)(line);
    }

    fn network(&mut self, error: String) -> Outcome {
        self.line(&report::network_line(&error));
        self.report.error = Some(error);
        Outcome::Network
    }

    /// Connect, handshake, decide, request. `Err` is a network error's words.
    async fn steps(
        &mut self,
        provider: Arc<rustls::crypto::CryptoProvider>,
        verifier: Arc<PathVerifier>,
    ) -> Result<Outcome, String> {
        let opts = self.opts;
        let target = &opts.target;
        let mut config_pins = None;
        if let Some(cfg) = &opts.pin_config {
            match self.load_config(cfg).await {
                Some(pins) => config_pins = Some(pins),
                None => return Ok(Outcome::ConfigRejected),
            }
        }
        let name = ServerName::try_from(target.host.clone())
            .map_err(|e| format!("{:?} cannot be a TLS server name: {e}", target.host))?;
        let handshake = tls_handshake(
            opts.proxy.as_ref(),
            &opts.maps,
            target,
            name,
            (provider, verifier.clone()),
            opts.connect_timeout,
        )
        .await?;
        let seen = verifier.seen();
        self.report.presented = seen.sent.clone();
        let path = match seen.path {
            Some(Ok(path)) => path,
            Some(Err(failure)) => {
                for line in report::path_lines(&target.host, &[], &seen.sent) {
                    self.line(&line);
                }
                self.line(&report::trust_line(&target.host, &failure));
                self.report.error = Some(failure.to_string());
                self.report.trust_failure = Some(failure);
                return Ok(Outcome::TrustFailure);
            }
            None => Vec::new(),
        };
        let mut tls = match handshake {
            Ok(tls) => tls,
            Err(e) => {
                return Err(format!(
                    "TLS handshake with {} failed: {e}",
                    target.authority
                ))
            }
        };
        for line in report::path_lines(&target.host, &path, &seen.sent) {
            self.line(&line);
        }
        let (_, session) = tls.get_ref();
        self.report.tls_version = session.protocol_version().map(crate::tls::version_name);
        self.report.alpn = session
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned());

        let pins: Vec<&str> = path.iter().map(|c| c.pin.as_str()).collect();
        let (missing, mode) = (opts.policy.missing_pin, opts.policy.match_mode);
        let config_policy = config_pins.as_ref().and_then(|c| c.policy(missing, mode));
        let policy = config_policy.as_ref().unwrap_or(&opts.policy);
        if config_policy.is_some() {
            self.report.policy = PolicyInfo::of(policy);
        }
        let leaf = path.first();
        let decision = match (&config_pins, leaf) {
            (Some(pins), Some(leaf)) => pins.decide_leaf(
                leaf.common_name.as_deref().unwrap_or_default(),
                &leaf.sha256,
                now_unix(),
                missing,
            ),
            _ => None,
        }
        .unwrap_or_else(|| policy.decide(&target.host, &pins));
        for line in report::decision_lines(&target.host, policy, &decision, &path) {
            self.line(&line);
        }
        self.report.verified_path = path;
        if let Decision::Matched { position, pin } = &decision {
            self.report.matched_pin = Some(MatchedPin {
                position: *position,
                pin: pin.clone(),
            });
        }
        if !decision.proceeds() {
            // As OkHttp and curl: close_notify, then close, before any request byte.
            let _ = tls.shutdown().await;
            return Ok(match decision {
                Decision::Mismatch { .. } => Outcome::PinMismatch,
                _ => Outcome::NoPins,
            });
        }
        self.request(tls).await
    }

    /// TCP to `target`, or to the proxy and through its CONNECT.
    async fn open(&self, target: &Target) -> Result<Box<dyn Io>, String> {
        open(self.opts.proxy.as_ref(), &self.opts.maps, target).await
    }

    /// Fetches the pin config, reads the cache, chooses, says so, and keeps the cache current.
    /// `None`: no usable config (fail closed).
    async fn load_config(&mut self, cfg: &ConfigOptions) -> Option<ConfigPins> {
        let now = now_unix();
        let url = cfg.url.url.clone();
        let cache_state = match &cfg.cache {
            None => CacheState::None,
            Some(path) => match cache::load(path) {
                Ok(None) => CacheState::None,
                Ok(Some(c)) if c.format != cfg.format => CacheState::Unusable(format!(
                    "the pin cache {} holds a {} config, not {}",
                    path.display(),
                    c.format.name(),
                    cfg.format.name()
                )),
                Ok(Some(c)) => CacheState::Document(c.document.into_bytes()),
                Err(why) => CacheState::Unusable(why),
            },
        };
        let fetched =
            match tokio::time::timeout(self.opts.connect_timeout, self.fetch_document(cfg)).await {
                Ok(Ok(doc)) => config::Fetched::Document(doc),
                Ok(Err(why)) => config::Fetched::Failed(why),
                Err(_) => config::Fetched::Failed(format!(
                    "no answer within {} (--connect-timeout)",
                    crate::duration::display(self.opts.connect_timeout)
                )),
            };
        let choice = config::choose(cfg.format, &fetched, &cache_state, &cfg.key, now);
        if let Some(why) = &choice.fetch_error {
            self.line(&format!(
                "{} pin config fetch from {url} failed: {why}",
                report::PREFIX
            ));
        }
        if let Some(refusal) = &choice.refused {
            self.line(&format!(
                "{} pin config from {url} refused: {refusal}",
                report::PREFIX
            ));
        }
        if let Some(why) = &choice.cache_error {
            self.line(&format!("{} pin cache: {why}", report::PREFIX));
        }
        let mut info = ConfigInfo {
            url: url.clone(),
            format: cfg.format.name(),
            version: None,
            source: None,
            expires_at: None,
            fetched_version: choice.fetched_version,
            refused: choice.refused.as_ref().map(ToString::to_string),
            fetch_error: choice.fetch_error.clone(),
            cache_error: choice.cache_error.clone(),
        };
        let using = match choice.using {
            None => {
                self.line(&format!(
                    "{} no usable pin config (no good fetch, no good cache): fail closed",
                    report::PREFIX
                ));
                None
            }
            Some((pins, source)) => {
                let version = pins
                    .version()
                    .map_or_else(|| "(no version)".to_string(), |v| format!("version {v}"));
                let expires = pins.expires_at().map_or_else(String::new, |e| {
                    format!(", expires {}", crate::pin_config::rfc3339(e))
                });
                self.line(&match source {
                    ConfigSource::Fetched => {
                        format!(
                            "{} pin config {version} fetched from {url}{expires}",
                            report::PREFIX
                        )
                    }
                    ConfigSource::Cache => {
                        format!(
                            "{} using the cached pin config {version}{expires}",
                            report::PREFIX
                        )
                    }
                });
                info.version = pins.version();
                info.source = Some(source);
                info.expires_at = pins.expires_at();
                if choice.store {
                    if let (Some(path), config::Fetched::Document(doc)) = (&cfg.cache, &fetched) {
                        let cached = Cached {
                            schema: cache::SCHEMA,
                            format: cfg.format,
                            document: String::from_utf8_lossy(doc).into_owned(),
                            url: url.clone(),
                            fetched_at: now,
                            version: pins.version(),
                        };
                        if let Err(e) = cache::store(path, &cached) {
                            self.line(&format!("{} pin cache not written: {e}", report::PREFIX));
                        }
                    }
                }
                Some(pins)
            }
        };
        self.report.pins_source = "config";
        self.report.pin_config = Some(info);
        using
    }

    /// GETs the signed config: over TLS through CONNECT for https, else as a plain-HTTP proxy
    /// request (or directly).
    async fn fetch_document(&self, cfg: &ConfigOptions) -> Result<Vec<u8>, String> {
        let t = &cfg.url;
        let via_proxy = if cfg.https {
            None
        } else {
            self.opts.proxy.as_ref()
        };
        let io: Box<dyn Io> = match via_proxy {
            Some(proxy) => Box::new(proxy_tcp(proxy).await?),
            None => self.open(t).await?,
        };
        let io: Box<dyn Io> = if cfg.https {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let verifier = Arc::new(PathVerifier::new(self.opts.roots.clone(), provider.clone()));
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(rustls::ALL_VERSIONS)
                .map_err(|e| format!("cannot set up TLS: {e}"))?
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            let name = ServerName::try_from(t.host.clone())
                .map_err(|e| format!("{:?} cannot be a TLS server name: {e}", t.host))?;
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, io)
                .await
                .map_err(|e| format!("TLS with {}: {e}", t.authority))?;
            Box::new(tls)
        } else {
            io
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| format!("HTTP with {}: {e}", t.authority))?;
        let conn = tokio::spawn(conn);
        let uri = if via_proxy.is_some() {
            t.url.clone()
        } else {
            t.path_and_query.clone()
        };
        let mut req = Request::builder()
            .uri(uri)
            .header(header::HOST, t.authority.as_str());
        if let Some(auth) = via_proxy.and_then(ProxySpec::authorization) {
            req = req.header(header::PROXY_AUTHORIZATION, auth);
        }
        let req = req
            .body(http_body_util::Empty::<Bytes>::new())
            .map_err(|e| format!("cannot build the config request: {e}"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("the request failed: {e}"))?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), MAX_CONFIG)
            .collect()
            .await
            .map_err(|e| format!("reading the config: {e}"))?
            .to_bytes();
        conn.abort();
        if status != http::StatusCode::OK {
            return Err(format!("the config service answered {status}"));
        }
        Ok(body.to_vec())
    }

    /// The one request over the verified connection.
    async fn request(
        &mut self,
        tls: tokio_rustls::client::TlsStream<Box<dyn Io>>,
    ) -> Result<Outcome, String> {
        let opts = self.opts;
        let target = &opts.target;
        let h2 = self.report.alpn.as_deref() == Some("h2");
        let uri = if h2 {
            format!("https://{}{}", target.authority, target.path_and_query)
        } else {
            target.path_and_query.clone()
        };
        let mut builder = Request::builder().method(opts.method.clone()).uri(uri);
        if !h2 {
            builder = builder.header(header::HOST, target.authority.as_str());
        }
        let mut req = builder
            .body(Full::new(opts.body.clone()))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        for (name, value) in &opts.headers {
            req.headers_mut().append(name.clone(), value.clone());
        }
        let io = TokioIo::new(tls);
        let (resp, conn) = if h2 {
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .map_err(|e| format!("HTTP/2 with {}: {e}", target.authority))?;
            let conn = tokio::spawn(conn);
            (sender.send_request(req).await, conn)
        } else {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|e| format!("HTTP/1.1 with {}: {e}", target.authority))?;
            let conn = tokio::spawn(conn);
            (sender.send_request(req).await, conn)
        };
        let resp = resp.map_err(|e| format!("the request to {} failed: {e}", target.authority))?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| format!("reading the response from {}: {e}", target.authority))?
            .to_bytes();
        conn.abort();
        let bytes = u64::try_from(body.len()).unwrap_or(u64::MAX);
        self.line(&report::request_line(
            opts.method.as_str(),
            &target.url,
            status,
            bytes,
        ));
        self.report.status = Some(status.as_u16());
        self.report.body_bytes = Some(bytes);
        self.body = body;
        Ok(Outcome::Ok)
    }
}

/// The client's TLS config: every TLS version, ALPN h2 then http/1.1, `verifier` deciding trust.
pub(crate) fn tls_config(
    provider: Arc<rustls::crypto::CryptoProvider>,
    verifier: Arc<PathVerifier>,
) -> Result<rustls::ClientConfig, String> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A finished handshake over [`open`]'s stream, or the handshake's own error.
pub(crate) type Handshake = std::io::Result<tokio_rustls::client::TlsStream<Box<dyn Io>>>;

/// TCP (or CONNECT through `proxy`) to `target`, then the TLS handshake as `name`, with the
/// verifier deciding trust (it keeps what it saw), all within `timeout` (`--connect-timeout`).
/// `Err` is a failure before the handshake or the timeout; the handshake's own result is the
/// caller's to read beside the verifier's findings.
pub(crate) async fn tls_handshake(
    proxy: Option<&ProxySpec>,
    maps: &[HostMap],
    target: &Target,
    name: ServerName<'static>,
    (provider, verifier): (Arc<rustls::crypto::CryptoProvider>, Arc<PathVerifier>),
    timeout: Duration,
) -> Result<Handshake, String> {
    let connect = async {
        let tcp = open(proxy, maps, target).await?;
        let config = tls_config(provider, verifier)?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        Ok::<_, String>(connector.connect(name, tcp).await)
    };
    tokio::time::timeout(timeout, connect).await.map_err(|_| {
        format!(
            "connecting to {} took longer than {} (--connect-timeout)",
            target.authority,
            crate::duration::display(timeout)
        )
    })?
}

/// TCP to the proxy.
async fn proxy_tcp(proxy: &ProxySpec) -> Result<TcpStream, String> {
    let stream = TcpStream::connect(proxy.addr.as_str())
        .await
        .map_err(|e| format!("cannot connect to the proxy {}: {e}", proxy.addr))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// TCP to `target` (or the address `maps` gives it), or to the proxy and through its CONNECT.
pub(crate) async fn open(
    proxy: Option<&ProxySpec>,
    maps: &[HostMap],
    target: &Target,
) -> Result<Box<dyn Io>, String> {
    let Some(proxy) = proxy else {
        let stream = match mapped_addr(maps, &target.host, target.port) {
            Some(addr) => TcpStream::connect(addr).await,
            None => TcpStream::connect((target.host.as_str(), target.port)).await,
        }
        .map_err(|e| format!("cannot connect to {}: {e}", target.authority))?;
        let _ = stream.set_nodelay(true);
        return Ok(Box::new(stream));
    };
    let stream = proxy_tcp(proxy).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("the proxy {}: {e}", proxy.addr))?;
    let conn = tokio::spawn(conn.with_upgrades());
    let authority = target.connect_authority();
    let mut req = Request::builder()
        .method(Method::CONNECT)
        .uri(authority.as_str())
        .header(header::HOST, authority.as_str());
    if let Some(auth) = proxy.authorization() {
        req = req.header(header::PROXY_AUTHORIZATION, auth);
    }
    let req = req
        .body(http_body_util::Empty::<Bytes>::new())
        .map_err(|e| format!("cannot build the CONNECT request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("the proxy {} did not answer CONNECT: {e}", proxy.addr))?;
    if !resp.status().is_success() {
        conn.abort();
        return Err(format!(
            "the proxy {} refused CONNECT {authority}: {}",
            proxy.addr,
            resp.status()
        ));
    }
    let upgraded = hyper::upgrade::on(resp)
        .await
        .map_err(|e| format!("the proxy {} tunnel: {e}", proxy.addr))?;
    Ok(Box::new(TokioIo::new(upgraded)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_https_urls_taken_apart() {
        let parts = |url| {
            let t = Target::parse(url).unwrap();
            (t.host, t.port, t.authority, t.path_and_query)
        };
        assert_eq!(
            parts("https://API.example.test/login?x=1"),
            (
                "api.example.test".into(),
                443,
                "api.example.test".into(),
                "/login?x=1".into()
            )
        );
        assert_eq!(
            parts("https://[::1]:8443"),
            ("::1".into(), 8443, "[::1]:8443".into(), "/".into())
        );
        let t = Target::parse("https://[::1]:8443").unwrap();
        assert_eq!(t.connect_authority(), "[::1]:8443");
        for bad in [
            "http://a.test/",
            "a.test",
            "https://u:p@a.test/",
            "https:///x",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn proxies_parse_and_never_show_their_password() {
        let p = ProxySpec::parse("127.0.0.1:8080").unwrap();
        assert_eq!((p.addr.as_str(), p.auth), ("127.0.0.1:8080", None));
        let p = ProxySpec::parse("http://[::1]:8080/").unwrap();
        assert_eq!(p.addr, "[::1]:8080");
        let p = ProxySpec::parse("http://tester:s3cret@10.0.0.2:3128").unwrap();
        assert_eq!(p.addr, "10.0.0.2:3128");
        assert_eq!(p.auth, Some(("tester".into(), "s3cret".into())));
        assert!(!format!("{p:?}").contains("s3cret"));
        for bad in ["socks5://h:1", "h", "h:0", "http://u:s3cret@h"] {
            let e = ProxySpec::parse(bad).unwrap_err();
            assert!(!e.contains("s3cret"), "{e}");
        }
    }
}
