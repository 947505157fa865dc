//! The SOCKS5 front door (RFC 1928, with RFC 1929 username/password): the protocol's messages
//! as pure parsers and replies, and the exchange that ends in the same tunnel a CONNECT opens.
//!
//! Only CONNECT is served. BIND and UDP ASSOCIATE get "command not supported", an unknown
//! address type "address type not supported", SOCKS4 its own rejection and anything else a
//! close (an HTTP request gets a 400 saying which port is which); each is recorded.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::conn::Conn;
use super::io::Counted;
use super::{door, front, install_page, Shared};
use crate::verdict::Event;

/// SOCKS version 5.
const VERSION: u8 = 5;
/// Methods of the greeting.
const NO_AUTH: u8 = 0;
const USER_PASS: u8 = 2;
const NO_ACCEPTABLE: u8 = 0xff;
/// Largest message of the exchange: a request with a 255-byte name is 262 bytes.
const MAX_MESSAGE: usize = 600;

/// A reply code (RFC 1928, section 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    Succeeded = 0,
    GeneralFailure = 1,
    NotAllowed = 2,
    HostUnreachable = 4,
    ConnectionRefused = 5,
    CommandNotSupported = 7,
    AddressTypeNotSupported = 8,
}

/// What the client asks to reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Name(String),
    Address(IpAddr),
}

impl Target {
    /// The host as records hold it: a lower-cased name, or an address without brackets.
    pub(crate) fn host(&self) -> String {
        match self {
            Target::Name(n) => n.to_ascii_lowercase(),
            Target::Address(a) => a.to_string(),
        }
    }
}

/// A parse of the bytes read so far.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parse<T> {
    /// More bytes are needed.
    More,
    /// A message, and how many bytes it took.
    Done(T, usize),
    /// Not acceptable: the record's reason, and the reply to send (if any) before closing.
    Refused(String, Option<Vec<u8>>),
}

/// The first message: a SOCKS5 greeting and its methods; or why it is none.
pub(crate) fn greeting(buf: &[u8]) -> Parse<Vec<u8>> {
    match buf.first() {
        None => Parse::More,
        Some(&VERSION) => {
            let Some(&n) = buf.get(1) else {
                return Parse::More;
            };
            let end = 2 + usize::from(n);
            match buf.get(2..end) {
                Some(methods) if !methods.is_empty() => Parse::Done(methods.to_vec(), end),
                Some(_) => Parse::Refused(
                    "SOCKS5 greeting with no methods".into(),
                    Some(vec![VERSION, NO_ACCEPTABLE]),
                ),
                None => Parse::More,
            }
        }
        // SOCKS4 and 4a: "request rejected or failed" in SOCKS4's own reply format.
        Some(4) => Parse::Refused(
            "SOCKS4 is not supported: use SOCKS5 (curl --socks5-hostname)".into(),
            Some(vec![0, 0x5b, 0, 0, 0, 0, 0, 0]),
        ),
        Some(_) if door::looks_like_http(buf) => Parse::Refused(
            "400: an HTTP request on the SOCKS5 port".into(),
            Some(http_refusal()),
        ),
        Some(_) => Parse::Refused(format!("not SOCKS5 ({})", describe(buf)), None),
    }
}

/// The 400 for an HTTP request on the SOCKS5 port, saying which port is which.
fn http_refusal() -> Vec<u8> {
    let body = "pin-proxy: this port speaks SOCKS5; the HTTP proxy is on --listen\n";
    format!(
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The method the proxy picks: username/password when credentials are required, else none.
pub(crate) fn choose(methods: &[u8], auth: bool) -> Option<u8> {
    let wanted = if auth { USER_PASS } else { NO_AUTH };
    methods.contains(&wanted).then_some(wanted)
}

/// The username/password message (RFC 1929): (user, password).
pub(crate) fn user_pass(buf: &[u8]) -> Parse<(Vec<u8>, Vec<u8>)> {
    let Some(&version) = buf.first() else {
        return Parse::More;
    };
    if version != 1 {
        return Parse::Refused(
            format!("SOCKS5 username/password message of version {version}"),
            Some(vec![1, 1]),
        );
    }
    let Some(&ulen) = buf.get(1) else {
        return Parse::More;
    };
    let user_end = 2 + usize::from(ulen);
    let Some(&plen) = buf.get(user_end) else {
        return Parse::More;
    };
    let end = user_end + 1 + usize::from(plen);
    match (buf.get(2..user_end), buf.get(user_end + 1..end)) {
        (Some(user), Some(pass)) => Parse::Done((user.to_vec(), pass.to_vec()), end),
        _ => Parse::More,
    }
}

/// The request: CONNECT to a target and port.
pub(crate) fn request(buf: &[u8]) -> Parse<(Target, u16)> {
    let Some(head) = buf.get(..4) else {
        return Parse::More;
    };
    let refuse = |why: String, code: Reply| Parse::Refused(why, Some(reply(code)));
    if head[0] != VERSION {
        return refuse(
            format!("SOCKS request of version {}", head[0]),
            Reply::GeneralFailure,
        );
    }
    let (addr_end, target) = match head[3] {
        1 => {
            let Some(a) = buf.get(4..8) else {
                return Parse::More;
            };
            let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            (8, Target::Address(IpAddr::V4(ip)))
        }
        4 => {
            let Some(a) = buf.get(4..20).and_then(|a| <[u8; 16]>::try_from(a).ok()) else {
                return Parse::More;
            };
            (20, Target::Address(IpAddr::V6(Ipv6Addr::from(a))))
        }
        3 => {
            let Some(&n) = buf.get(4) else {
                return Parse::More;
            };
            let end = 5 + usize::from(n);
            let Some(name) = buf.get(5..end) else {
                return Parse::More;
            };
            let name = match std::str::from_utf8(name) {
                Ok(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic()) => n,
                _ => {
                    return refuse(
                        format!("SOCKS5 request for an unusable name ({})", describe(name)),
                        Reply::HostUnreachable,
                    )
                }
            };
            (end, Target::Name(name.to_string()))
        }
        other => {
            return refuse(
                format!("SOCKS5 address type {other} is not supported"),
                Reply::AddressTypeNotSupported,
            )
        }
    };
    let Some(p) = buf.get(addr_end..addr_end + 2) else {
        return Parse::More;
    };
    let port = u16::from_be_bytes([p[0], p[1]]);
    match head[1] {
        1 if port != 0 => Parse::Done((target, port), addr_end + 2),
        1 => refuse("SOCKS5 CONNECT to port 0".into(), Reply::GeneralFailure),
        2 => refuse(
            "SOCKS5 BIND is not supported (CONNECT only)".into(),
            Reply::CommandNotSupported,
        ),
        3 => refuse(
            "SOCKS5 UDP ASSOCIATE is not supported (CONNECT only; UDP, and with it QUIC, is \
             not proxied)"
                .into(),
            Reply::CommandNotSupported,
        ),
        other => refuse(
            format!("SOCKS5 command {other} is not supported"),
            Reply::CommandNotSupported,
        ),
    }
}

/// A reply with an all-zero IPv4 bound address (clients ignore it for CONNECT).
pub(crate) fn reply(code: Reply) -> Vec<u8> {
    vec![VERSION, code as u8, 0, 1, 0, 0, 0, 0, 0, 0]
}

/// The reply for an origin that could not be reached, from the connect failure's reason.
pub(crate) fn failure_reply(reason: &str) -> Reply {
    if reason == super::upstream::NOT_MAPPED {
        Reply::NotAllowed
    } else if reason.contains("refused") {
        Reply::ConnectionRefused
    } else if reason.contains("DNS") || reason.contains("timed out") {
        Reply::HostUnreachable
    } else {
        Reply::GeneralFailure
    }
}

fn describe(bytes: &[u8]) -> String {
    let shown: String = bytes
        .iter()
        .take(16)
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '.' })
        .collect();
    format!("first bytes {shown:?}")
}

/// Why the exchange ended before the tunnel.
enum Stop {
    /// A refusal: the record's reason; the reply was sent.
    Refused(String),
    /// The client went away or the bound passed: the record's reason.
    Ended(String),
}

/// Reads until `parse` has a message (bounded by [`MAX_MESSAGE`]); the bytes after it stay in
/// `buf`. A refusal's reply is sent before returning.
async fn read_message<T>(
    io: &mut Counted<TcpStream>,
    buf: &mut Vec<u8>,
    what: &str,
    parse: impl Fn(&[u8]) -> Parse<T>,
) -> Result<T, Stop> {
    let mut chunk = [0u8; 512];
    loop {
        match parse(buf) {
            Parse::Done(message, used) => {
                buf.drain(..used);
                return Ok(message);
            }
            Parse::Refused(reason, answer) => {
                if let Some(answer) = answer {
                    let _ = io.write_all(&answer).await;
                    let _ = io.flush().await;
                }
                return Err(Stop::Refused(reason));
            }
            Parse::More if buf.len() >= MAX_MESSAGE => {
                return Err(Stop::Refused(format!("SOCKS5 {what} too long")));
            }
            Parse::More => {}
        }
        match io.read(&mut chunk).await {
            Ok(0) => return Err(Stop::Ended(format!("client left during the SOCKS5 {what}"))),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(Stop::Ended(format!("SOCKS5 {what}: {e}"))),
        }
    }
}

async fn send(io: &mut Counted<TcpStream>, bytes: &[u8]) -> Result<(), Stop> {
    io.write_all(bytes)
        .await
        .map_err(|e| Stop::Ended(format!("cannot answer the SOCKS5 client: {e}")))
}

/// The exchange up to the request: greeting, method, credentials, request.
async fn negotiate(
    shared: &Shared,
    io: &mut Counted<TcpStream>,
    buf: &mut Vec<u8>,
) -> Result<(Target, u16), Stop> {
    let methods = read_message(io, buf, "greeting", greeting).await?;
    let auth = shared.config.auth.as_ref();
    let Some(method) = choose(&methods, auth.is_some()) else {
        send(io, &[VERSION, NO_ACCEPTABLE]).await?;
        return Err(Stop::Refused(match auth {
            Some(_) => format!(
                "{} (SOCKS5 username/password; the client offered none)",
                crate::access::AUTH_REQUIRED
            ),
            None => "no acceptable SOCKS5 method (the client wants authentication; the proxy \
                     has no --auth)"
                .into(),
        }));
    };
    send(io, &[VERSION, method]).await?;
    if let Some(auth) = auth {
        let (user, pass) = read_message(io, buf, "credentials", user_pass).await?;
        if !auth.check_user_pass(&user, &pass) {
            send(io, &[1, 1]).await?;
            return Err(Stop::Refused(format!(
                "{} (SOCKS5 credentials did not match)",
                crate::access::AUTH_REQUIRED
            )));
        }
        send(io, &[1, 0]).await?;
    }
    read_message(io, buf, "request", request).await
}

/// Serves one connection accepted on the SOCKS5 listener to its end.
pub(crate) async fn serve(shared: &Arc<Shared>, conn: &Arc<Conn>, stream: TcpStream) {
    let mut io = Counted::new(stream, conn.stats.clone());
    let mut buf = Vec::new();
    let negotiated = tokio::time::timeout(
        shared.config.header_timeout,
        negotiate(shared, &mut io, &mut buf),
    )
    .await;
    let (target, port) = match negotiated {
        Ok(Ok(t)) => t,
        Ok(Err(Stop::Refused(reason) | Stop::Ended(reason))) => {
            return conn.event(Event::BadProxyRequest { reason })
        }
        Err(_) => {
            return conn.event(Event::BadProxyRequest {
                reason: "timed out waiting for the SOCKS5 request".into(),
            })
        }
    };
    let host = target.host();
    let decision = shared.decide(&host);
    conn.with(|s| {
        s.host = Some(host.clone());
        s.port = Some(port);
    });
    let origin = if host == install_page::MAGIC_HOST {
        Ok(None)
    } else {
        front::reach_origin(shared, conn, &host, port, decision.action).await
    };
    let origin = match origin {
        Ok(origin) => origin,
        Err(reason) => {
            let _ = io.write_all(&reply(failure_reply(&reason))).await;
            return;
        }
    };
    if io.write_all(&reply(Reply::Succeeded)).await.is_err() {
        return conn.event(Event::BadProxyRequest {
            reason: "client left before the SOCKS5 reply".into(),
        });
    }
    // Bytes the client sent right behind its request are its first (optimistic data).
    let first = if buf.is_empty() { None } else { Some(buf) };
    door::serve_target(shared, conn, io, first, origin, host, port, decision).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_are_read_whole_and_other_protocols_are_told_apart() {
        assert_eq!(greeting(&[]), Parse::More);
        assert_eq!(greeting(&[5]), Parse::More);
        assert_eq!(greeting(&[5, 2, 0]), Parse::More);
        assert_eq!(greeting(&[5, 2, 0, 2, 9]), Parse::Done(vec![0, 2], 4));
        assert!(matches!(greeting(&[5, 0]), Parse::Refused(_, Some(r)) if r == [5, 0xff]));
        let Parse::Refused(why, Some(r)) = greeting(&[4, 1, 0, 80, 127, 0, 0, 1, 0]) else {
            panic!("SOCKS4 is refused");
        };
        assert!(why.contains("SOCKS4") && r[1] == 0x5b, "{why}");
        let Parse::Refused(why, Some(r)) = greeting(b"GET / HTTP/1.1\r\n") else {
            panic!("HTTP is refused");
        };
        assert!(why.starts_with("400") && r.starts_with(b"HTTP/1.1 400"));
        let len = r.len() - r.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) - 4;
        assert!(String::from_utf8_lossy(&r).contains(&format!("Content-Length: {len}\r\n")));
        assert!(matches!(greeting(b"\x00\xffjunk"), Parse::Refused(_, None)));
    }

    #[test]
    fn the_method_follows_the_proxys_auth() {
        assert_eq!(choose(&[0, 2], false), Some(0));
        assert_eq!(choose(&[0, 2], true), Some(2));
        assert_eq!(choose(&[0], true), None);
        assert_eq!(choose(&[2], false), None);
    }

    #[test]
    fn credentials_are_read_whole() {
        let msg = [1, 2, b'm', b'e', 3, b'p', b'w', b'd'];
        for n in 0..msg.len() {
            assert_eq!(user_pass(&msg[..n]), Parse::More, "{n} bytes");
        }
        assert_eq!(
            user_pass(&msg),
            Parse::Done((b"me".to_vec(), b"pwd".to_vec()), 8)
        );
        assert!(matches!(user_pass(&[5, 0]), Parse::Refused(_, Some(r)) if r == [1, 1]));
    }

    #[test]
    fn requests_name_a_host_an_ipv4_or_an_ipv6_address() {
        let name = [&[5, 1, 0, 3, 8][..], b"Api.Test", &[1, 187]].concat();
        for n in 0..name.len() {
            assert_eq!(request(&name[..n]), Parse::More, "{n} bytes");
        }
        let Parse::Done((target, port), used) = request(&name) else {
            panic!("a name");
        };
        assert_eq!(
            (target.host(), port, used),
            ("api.test".into(), 443, name.len())
        );
        let v4 = [5, 1, 0, 1, 127, 0, 0, 1, 0, 80];
        assert_eq!(
            request(&v4),
            Parse::Done((Target::Address([127, 0, 0, 1].into()), 80), 10)
        );
        let mut v6 = vec![5, 1, 0, 4];
        v6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        v6.extend_from_slice(&[1, 187]);
        let Parse::Done((target, 443), 22) = request(&v6) else {
            panic!("an IPv6 address");
        };
        assert_eq!(target.host(), "::1");
    }

    #[test]
    fn unsupported_requests_get_their_reply_code() {
        let code = |buf: &[u8]| match request(buf) {
            Parse::Refused(why, Some(r)) => (r[1], why),
            other => panic!("{other:?}"),
        };
        let bind = code(&[5, 2, 0, 1, 127, 0, 0, 1, 0, 80]);
        assert_eq!(bind.0, Reply::CommandNotSupported as u8);
        assert!(bind.1.contains("BIND"));
        let udp = code(&[5, 3, 0, 1, 127, 0, 0, 1, 0, 80]);
        assert!(udp.1.contains("UDP ASSOCIATE"));
        let atyp = code(&[5, 1, 0, 9, 0, 0]);
        assert_eq!(atyp.0, Reply::AddressTypeNotSupported as u8);
        assert_eq!(code(&[5, 1, 0, 1, 127, 0, 0, 1, 0, 0]).0, 1);
        assert_eq!(code(&[5, 1, 0, 3, 1, 0, 1, 187]).0, 4, "a NUL name");
        assert_eq!(code(&[6, 1, 0, 1]).0, 1);
    }

    #[test]
    fn connect_failures_map_to_reply_codes() {
        assert_eq!(failure_reply("not mapped"), Reply::NotAllowed);
        assert_eq!(
            failure_reply("connect to 127.0.0.1:9 failed: Connection refused (os error 111)"),
            Reply::ConnectionRefused
        );
        assert_eq!(
            failure_reply("DNS lookup of x failed: nope"),
            Reply::HostUnreachable
        );
        assert_eq!(failure_reply("something else"), Reply::GeneralFailure);
    }
}
