//! `--upstream-proxy`: origin connections through an HTTP proxy's `CONNECT` (a corporate proxy).
//!
//! It owns the proxy's URL (`http://[USER:PASS@]HOST[:PORT]`, parsed once at start), the bypass
//! globs, the `CONNECT` head with its Basic credentials, and reading the answer: bounded by
//! [`MAX_ANSWER_HEAD`], parsed with httparse, and never consuming a byte past the head, so the
//! stream that comes back is the tunnel itself, as a plain `TcpStream`. The parts that decide
//! (URL, head, answer) are pure and unit-tested; [`UpstreamProxy::connect`] is the I/O around
//! them. Which connections go through it is `upstream::connect`'s, the one place origin TCP
//! connections are opened; the credentials come from the CLI, and appear in no reason it returns.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::access::Credentials;
use crate::rules::HostGlob;

/// The port of an upstream proxy URL that names none: Squid's, the usual corporate proxy's.
pub const DEFAULT_PORT: u16 = 3128;

/// The largest `CONNECT` answer head read; a longer one fails the connection.
pub(crate) const MAX_ANSWER_HEAD: usize = 16 * 1024;

/// Headers an answer may have (a proxy's 200 has a few at most).
const MAX_ANSWER_HEADERS: usize = 64;

/// Addresses of the upstream proxy's name tried, in the resolver's order.
const MAX_ADDRESSES: usize = 4;

/// The longest status line quoted in a reason.
const MAX_QUOTED: usize = 200;

/// An HTTP proxy that origin connections go through (`--upstream-proxy`), with its credentials
/// and the hosts that go direct. `Debug` shows no password.
#[derive(Clone)]
pub struct UpstreamProxy {
    /// Host name or IP, without brackets, lower-cased.
    host: String,
    port: u16,
    auth: Option<Credentials>,
    bypass: Vec<HostGlob>,
}

impl fmt::Debug for UpstreamProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamProxy")
            .field("address", &self.address())
            .field("user", &self.user())
            .field("bypass", &self.bypass)
            .finish()
    }
}

impl UpstreamProxy {
    /// Parses `http://HOST[:PORT][/]`, with `USER:PASS@` before the host if the URL carries
    /// credentials (percent-encoded as in any URL). The port is [`DEFAULT_PORT`] when none is
    /// given; an IPv6 address is in brackets (`http://[::1]:3128`). Errors never quote the
    /// credentials.
    pub fn parse(url: &str) -> Result<Self, String> {
        let shown = without_userinfo(url);
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "{shown:?}: unsupported scheme {scheme:?}: the upstream proxy must be an \
                     http:// URL (http://HOST:PORT; the CONNECT to it is plain HTTP, the \
                     tunnels through it stay TLS)"
                ))
            }
            None => {
                return Err(format!(
                    "{shown:?} is not a URL: give the upstream proxy as http://HOST:PORT"
                ))
            }
        };
        // The authority ends at the first `/`, `?` or `#` (none is allowed unencoded before).
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if !(tail.is_empty() || tail == "/") {
            return Err(format!(
                "{shown:?}: an upstream proxy URL has no path or query (http://HOST:PORT)"
            ));
        }
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority),
        };
        let parsed: http::uri::Authority = host_port
            .parse()
            .map_err(|_| format!("{shown:?}: {host_port:?} is not HOST[:PORT]"))?;
        let host = crate::rules::unbracket(parsed.host()).to_ascii_lowercase();
        if host.is_empty() {
            return Err(format!("{shown:?} has no host"));
        }
        // What follows the host (its brackets included) is nothing or `:PORT`.
        let port = match host_port.get(parsed.host().len()..).unwrap_or("") {
            "" => DEFAULT_PORT,
            after => after
                .strip_prefix(':')
                .and_then(|p| p.parse::<u16>().ok())
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{shown:?}: the port must be 1 to 65535"))?,
        };
        let auth = match userinfo {
            None => None,
            Some(userinfo) => {
                let decoded = percent_decode(userinfo).ok_or_else(|| {
                    format!("{shown:?}: the credentials in the URL are not valid percent-encoding")
                })?;
                Some(
                    Credentials::parse(&decoded)
                        .map_err(|e| format!("{shown:?}: in the URL, {e}"))?,
                )
            }
        };
        Ok(Self {
            host,
            port,
            auth,
            bypass: Vec::new(),
        })
    }

    /// Whether it has credentials (from the URL until [`UpstreamProxy::with_auth`]).
    pub fn has_auth(&self) -> bool {
        self.auth.is_some()
    }

    /// The same proxy with these credentials instead of the URL's.
    pub fn with_auth(self, auth: Credentials) -> Self {
        Self {
            auth: Some(auth),
            ..self
        }
    }

    /// The same proxy, with hosts matching any of `bypass` connected directly.
    pub fn with_bypass(self, bypass: Vec<HostGlob>) -> Self {
        Self { bypass, ..self }
    }

    /// `HOST:PORT` (an IPv6 address in brackets), as reasons and the banner name it.
    pub fn address(&self) -> String {
        authority(&self.host, self.port)
    }

    /// The user name of its credentials, if any (for the banner).
    pub fn user(&self) -> Option<&str> {
        self.auth.as_ref().map(Credentials::user)
    }

    /// The bypass globs (for the banner).
    pub fn bypass(&self) -> &[HostGlob] {
        &self.bypass
    }

    /// Whether `host` goes direct (`--upstream-proxy-bypass`).
    pub(crate) fn bypasses(&self, host: &str) -> bool {
        self.bypass.iter().any(|g| g.matches(host))
    }

    /// A TCP connection to the upstream proxy and, through its `CONNECT`, to `host:port` (or to
    /// `mapped`, a `--map` address, asked for as `ADDR:PORT`). The proxy resolves `host`: there
    /// is no local DNS for it. `timeout` bounds the whole exchange. The reason of a failure
    /// names the upstream proxy and, when it answered, quotes its status line.
    pub(crate) async fn connect(
        &self,
        host: &str,
        port: u16,
        mapped: Option<SocketAddr>,
        timeout: Duration,
    ) -> Result<TcpStream, String> {
        let target = mapped.map_or_else(|| authority(host, port), |a| a.to_string());
        let head = connect_head(&target, self.auth.as_ref())?;
        let address = self.address();
        match tokio::time::timeout(timeout, self.exchange(&target, &head)).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "upstream proxy {address} timed out after {timeout:?} (CONNECT {target}; \
                 --connect-timeout)"
            )),
        }
    }

    async fn exchange(&self, target: &str, head: &[u8]) -> Result<TcpStream, String> {
        let address = self.address();
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("upstream proxy {address}: DNS lookup failed: {e}"))?
            .take(MAX_ADDRESSES)
            .collect();
        let mut last = format!("upstream proxy {address}: its name resolved to no address");
        let mut stream = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = format!("cannot connect to the upstream proxy {address}: {e}"),
            }
        }
        let mut stream = stream.ok_or(last)?;
        let _ = stream.set_nodelay(true);
        stream.write_all(head).await.map_err(|e| {
            format!("upstream proxy {address}: sending CONNECT {target} failed: {e}")
        })?;
        let answer = read_answer(&mut stream).await.map_err(|e| match e {
            ReadError::Closed => format!(
                "upstream proxy {address} closed the connection before answering CONNECT \
                 {target}"
            ),
            ReadError::Io(e) => {
                format!(
                    "upstream proxy {address}: reading its answer to CONNECT {target} failed: {e}"
                )
            }
            ReadError::Malformed(e) => format!(
                "upstream proxy {address} sent a malformed answer to CONNECT {target} ({e})"
            ),
            ReadError::TooLarge => format!(
                "upstream proxy {address} sent an answer head over {MAX_ANSWER_HEAD} bytes to \
                 CONNECT {target}"
            ),
        })?;
        answer.check(&address, self.auth.is_some())?;
        Ok(stream)
    }
}

/// `host:port` with an IPv6 address in brackets.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The `CONNECT` request head for `target` (`host:port`), with `Proxy-Authorization` when there
/// are credentials. A target that could break the head (whitespace, control characters) is
/// refused; hosts reach here parsed by hyper, so this is a guard, not a filter.
fn connect_head(target: &str, auth: Option<&Credentials>) -> Result<Vec<u8>, String> {
    if target.is_empty() || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!("cannot ask the upstream proxy for {target:?}"));
    }
    let mut head = format!(
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: pin-proxy/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(auth) = auth {
        head.push_str("Proxy-Authorization: ");
        head.push_str(&auth.basic_header());
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    Ok(head.into_bytes())
}

/// The status of an upstream proxy's answer to `CONNECT`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    /// The minor HTTP version (`HTTP/1.x`).
    minor: u8,
    code: u16,
    reason: String,
}

impl Answer {
    /// The status line as the proxy sent it (its reason phrase cut at [`MAX_QUOTED`]).
    fn status_line(&self) -> String {
        let line = format!("HTTP/1.{} {} {}", self.minor, self.code, self.reason);
        let line = line.trim_end();
        match line.char_indices().nth(MAX_QUOTED) {
            Some((cut, _)) => format!("{}...", &line[..cut]),
            None => line.to_string(),
        }
    }

    /// `Ok` for a 2xx (the tunnel is open), else the connection's reason: the status line
    /// quoted, with what to do about a 407.
    fn check(&self, address: &str, sent_auth: bool) -> Result<(), String> {
        if (200..300).contains(&self.code) {
            return Ok(());
        }
        let mut reason = format!("upstream proxy {address} answered {:?}", self.status_line());
        if self.code == 407 {
            reason.push_str(if sent_auth {
                ": it refused the credentials; check --upstream-proxy-auth-file or \
                 PIN_PROXY_UPSTREAM_AUTH"
            } else {
                ": it wants credentials; give them with --upstream-proxy-auth-file FILE or \
                 PIN_PROXY_UPSTREAM_AUTH=USER:PASS"
            });
        }
        Err(reason)
    }
}

/// Why an answer could not be read.
#[derive(Debug)]
enum ReadError {
    /// The proxy closed before a complete head.
    Closed,
    Io(std::io::Error),
    /// Not an HTTP/1.x response head (httparse's word for what is wrong).
    Malformed(String),
    /// No complete head within [`MAX_ANSWER_HEAD`] bytes.
    TooLarge,
}

/// Parses an answer head from the start of `bytes`: `Ok(None)` while it is incomplete, else
/// its length and status. What follows the head is not looked at.
fn parse_answer(bytes: &[u8]) -> Result<Option<(usize, Answer)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_ANSWER_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(bytes) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(len)) => {
            let (Some(minor), Some(code)) = (response.version, response.code) else {
                return Err("no status line".into());
            };
            Ok(Some((
                len,
                Answer {
                    minor,
                    code,
                    reason: response.reason.unwrap_or("").to_string(),
                },
            )))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Reads the answer head and nothing after it: what the socket holds is peeked, and only the
/// head's bytes are taken. While the head is incomplete every peeked byte belongs to it, so each
/// round takes at least one byte and waits for more; [`MAX_ANSWER_HEAD`] bounds the rounds.
async fn read_answer(stream: &mut TcpStream) -> Result<Answer, ReadError> {
    let mut head: Vec<u8> = Vec::new();
    let mut window = vec![0u8; 2048];
    loop {
        let n = stream.peek(&mut window).await.map_err(ReadError::Io)?;
        if n == 0 {
            return Err(ReadError::Closed);
        }
        let had = head.len();
        head.extend_from_slice(&window[..n]);
        match parse_answer(&head).map_err(ReadError::Malformed)? {
            Some((len, answer)) => {
                // `len > had`: the head was incomplete at `had` bytes.
                let take = len.saturating_sub(had);
                stream
                    .read_exact(&mut window[..take])
                    .await
                    .map_err(ReadError::Io)?;
                return Ok(answer);
            }
            None if head.len() >= MAX_ANSWER_HEAD => return Err(ReadError::TooLarge),
            None => {
                stream
                    .read_exact(&mut window[..n])
                    .await
                    .map_err(ReadError::Io)?;
            }
        }
    }
}

/// `%XX` sequences decoded; `None` for a broken sequence or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `url` with a `USER:PASS@` part replaced, for error messages.
fn without_userinfo(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((_, host)) => {
            let sep = if scheme.is_empty() { "" } else { "://" };
            format!("{scheme}{sep}<credentials>@{host}{}", &rest[end..])
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> UpstreamProxy {
        UpstreamProxy::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn urls_give_host_port_and_credentials() {
        let p = parsed("http://corp-proxy:3128");
        assert_eq!((p.address(), p.user()), ("corp-proxy:3128".into(), None));
        assert_eq!(
            parsed("http://Corp.Example:8080/").address(),
            "corp.example:8080"
        );
        assert_eq!(
            parsed("HTTP://10.0.0.1").address(),
            "10.0.0.1:3128",
            "default port"
        );
        assert_eq!(parsed("http://[::1]:3128").address(), "[::1]:3128");
        assert_eq!(parsed("http://[fd00::7]").address(), "[fd00::7]:3128");
        let p = parsed("http://alice:pa%40ss:w%2Frd@proxy.corp:3128");
        assert_eq!(p.user(), Some("alice"));
        let auth = p.auth.as_ref().map(Credentials::user_pass);
        assert_eq!(auth.as_deref(), Some("alice:pa@ss:w/rd"));
        assert!(!format!("{p:?}").contains("pa@ss"), "{p:?}");
        let p = p.with_auth(Credentials::parse("bob:other").expect("credentials"));
        assert_eq!(p.user(), Some("bob"));
    }

    #[test]
    fn bad_urls_are_refused_without_their_password() {
        for bad in [
            "https://proxy:3128",
            "socks5://proxy:1080",
            "proxy:3128",
            "http://",
            "http://proxy:0",
            "http://proxy:99999",
            "http://proxy:",
            "http://proxy:3128/path",
            "http://proxy:3128?x=1",
            "http://::1:3128",
            "http://a b:3128",
        ] {
            let e = UpstreamProxy::parse(bad).expect_err(bad);
            assert!(!e.is_empty(), "{bad}");
        }
        let e = UpstreamProxy::parse("https://u:hunter2@proxy:3128").expect_err("https");
        assert!(e.contains("http://") && !e.contains("hunter2"), "{e}");
        for bad in [
            "http://u:%zz@proxy",
            "http://u@proxy",
            "http://:hunter2@proxy",
        ] {
            let e = UpstreamProxy::parse(bad).expect_err(bad);
            assert!(!e.contains("hunter2") && !e.contains("%zz"), "{e}");
        }
    }

    #[test]
    fn bypass_globs_pick_direct_hosts() {
        let globs = ["*.corp.test", "localhost"]
            .iter()
            .map(|g| HostGlob::parse(g).expect("a glob"))
            .collect();
        let p = parsed("http://proxy:3128").with_bypass(globs);
        assert!(p.bypasses("git.corp.test") && p.bypasses("LOCALHOST"));
        assert!(!p.bypasses("api.test") && !p.bypasses("corp.test"));
    }

    #[test]
    fn the_connect_head_names_the_target_and_the_credentials() {
        let head = connect_head("api.test:443", None).expect("a head");
        let head = String::from_utf8(head).expect("text");
        assert!(head.starts_with("CONNECT api.test:443 HTTP/1.1\r\nHost: api.test:443\r\n"));
        assert!(head.ends_with("\r\n\r\n") && !head.contains("Proxy-Authorization"));
        let auth = Credentials::parse("alice:s3cret").expect("credentials");
        let head = connect_head(&authority("::1", 8443), Some(&auth)).expect("a head");
        let head = String::from_utf8(head).expect("text");
        assert!(
            head.starts_with("CONNECT [::1]:8443 HTTP/1.1\r\n"),
            "{head}"
        );
        // base64("alice:s3cret")
        assert!(head.contains("\r\nProxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n"));
        for bad in ["", "a b:1", "a\r\nX: y:1", "a\u{7f}:1"] {
            assert!(connect_head(bad, None).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn answers_are_parsed_up_to_their_head() {
        let ok = b"HTTP/1.1 200 Connection established\r\nVia: squid\r\n\r\n\x16\x03\x01";
        let (len, answer) = parse_answer(ok).expect("parsed").expect("complete");
        assert_eq!(
            len,
            ok.len() - 3,
            "the bytes after the head are not the head's"
        );
        assert_eq!(answer.code, 200);
        assert!(answer.check("p:3128", false).is_ok());
        assert_eq!(parse_answer(b"HTTP/1.1 200 OK\r\nVia: x"), Ok(None));
        assert_eq!(parse_answer(b""), Ok(None));
        assert!(parse_answer(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").is_err());
        assert!(parse_answer(b"HTTP/1.1 2x0 OK\r\n\r\n").is_err());
        let (_, answer) = parse_answer(b"HTTP/1.0 204 \r\n\r\n")
            .expect("parsed")
            .expect("complete");
        assert!(
            answer.check("p:3128", false).is_ok(),
            "any 2xx opens the tunnel"
        );
    }

    #[test]
    fn refusals_quote_the_status_line_and_say_what_to_do() {
        let answer = |raw: &[u8]| parse_answer(raw).expect("parsed").expect("complete").1;
        let e = answer(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
            .check("127.0.0.1:3128", false)
            .expect_err("refused");
        assert!(
            e.starts_with(
                "upstream proxy 127.0.0.1:3128 answered \"HTTP/1.1 407 Proxy Authentication \
                 Required\": it wants credentials"
            ),
            "{e}"
        );
        assert!(e.contains("--upstream-proxy-auth-file") && e.contains("PIN_PROXY_UPSTREAM_AUTH"));
        let e = answer(b"HTTP/1.1 407 Nope\r\n\r\n")
            .check("p:1", true)
            .expect_err("refused");
        assert!(e.contains("refused the credentials"), "{e}");
        let e = answer(b"HTTP/1.1 503 Service Unavailable\r\n\r\n")
            .check("p:1", false)
            .expect_err("refused");
        assert_eq!(
            e,
            "upstream proxy p:1 answered \"HTTP/1.1 503 Service Unavailable\""
        );
        let long = format!("HTTP/1.1 502 {}\r\n\r\n", "x".repeat(1000));
        let e = answer(long.as_bytes())
            .check("p:1", false)
            .expect_err("refused");
        assert!(e.len() < 300 && e.contains("..."), "{e}");
    }

    #[test]
    fn percent_decoding_and_redaction() {
        assert_eq!(percent_decode("a%3Ab%25c").as_deref(), Some("a:b%c"));
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
        assert_eq!(
            without_userinfo("http://u:secret@proxy:3128/x"),
            "http://<credentials>@proxy:3128/x"
        );
        assert_eq!(without_userinfo("http://proxy:3128"), "http://proxy:3128");
        assert_eq!(without_userinfo("u:secret@proxy"), "<credentials>@proxy");
    }
}
