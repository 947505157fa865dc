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

pub mod policy;
pub mod report;

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

use self::policy::{Decision, Policy};
use self::report::{MatchedPin, Outcome, PolicyInfo, Report};
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
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        if uri.scheme_str() != Some("https") {
            return Err(format!(
                "{url:?}: only https:// URLs can be pinned (the client makes TLS connections)"
            ));
        }
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
        let port = authority.port_u16().unwrap_or(443);
        let host_part = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        Ok(Self {
            url: url.to_string(),
            authority: if port == 443 {
                host_part
            } else {
                format!("{host_part}:{port}")
            },
            host,
            port,
            path_and_query: uri
                .path_and_query()
                .map_or_else(|| "/".to_string(), |p| p.as_str().to_string()),
        })
    }

    /// `host:port` for CONNECT (IPv6 in brackets), always with the port.
    fn connect_authority(&self) -> String {
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
    /// Where the pins came from, for the report (`flags`, `none`).
    pub pins_source: &'static str,
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

/// A run's report and, when the request was made, the response body.
#[derive(Debug)]
pub struct Fetched {
    /// The result object.
    pub report: Report,
    /// The response body (empty unless the request was made).
    pub body: Bytes,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
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
        let connect = async {
            let tcp = self.open().await?;
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(rustls::ALL_VERSIONS)
                .map_err(|e| format!("cannot set up TLS: {e}"))?
                .dangerous()
                .with_custom_certificate_verifier(verifier.clone())
                .with_no_client_auth();
            let mut config = config;
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            let name = ServerName::try_from(target.host.clone())
                .map_err(|e| format!("{:?} cannot be a TLS server name: {e}", target.host))?;
            let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
            Ok::<_, String>(connector.connect(name, tcp).await)
        };
        let handshake = tokio::time::timeout(opts.connect_timeout, connect)
            .await
            .map_err(|_| {
                format!(
                    "connecting to {} took longer than {} (--connect-timeout)",
                    target.authority,
                    crate::duration::display(opts.connect_timeout)
                )
            })??;
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
        let decision = opts.policy.decide(&target.host, &pins);
        for line in report::decision_lines(&target.host, &opts.policy, &decision, &path) {
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

    /// TCP to the origin, or to the proxy and through its CONNECT.
    async fn open(&self) -> Result<Box<dyn Io>, String> {
        let target = &self.opts.target;
        let Some(proxy) = &self.opts.proxy else {
            let stream = match mapped_addr(&self.opts.maps, &target.host, target.port) {
                Some(addr) => TcpStream::connect(addr).await,
                None => TcpStream::connect((target.host.as_str(), target.port)).await,
            }
            .map_err(|e| format!("cannot connect to {}: {e}", target.authority))?;
            let _ = stream.set_nodelay(true);
            return Ok(Box::new(stream));
        };
        let stream = TcpStream::connect(proxy.addr.as_str())
            .await
            .map_err(|e| format!("cannot connect to the proxy {}: {e}", proxy.addr))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("the proxy {}: {e}", proxy.addr))?;
        let conn = tokio::spawn(conn.with_upgrades());
        let authority = target.connect_authority();
        let mut req = Request::builder()
            .method(Method::CONNECT)
            .uri(authority.as_str())
            .header(header::HOST, authority.as_str());
        if let Some((user, pass)) = &proxy.auth {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            req = req.header(header::PROXY_AUTHORIZATION, format!("Basic {token}"));
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
