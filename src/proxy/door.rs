//! What the SOCKS5 and transparent front doors share once they know a connection's target:
//! passthrough relays at once; otherwise the client's first bytes decide between the TLS
//! tunnel (the same one a CONNECT opens, verdicts and all) and plain HTTP, whose origin-form
//! requests are forwarded like a proxy's `http://` requests.

use std::sync::Arc;

use http::{Request, Uri};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;

use super::conn::Conn;
use super::io::{Counted, Rewind};
use super::upstream::text_response;
use super::{front, install_page, tunnel, Decision, Shared};
use crate::rules::Action;
use crate::verdict::Event;

/// Whether the first bytes of a stream are an HTTP/1 request line (`GET `, `POST `...).
pub(crate) fn looks_like_http(first: &[u8]) -> bool {
    let method = first.iter().take_while(|b| b.is_ascii_uppercase()).count();
    (3..=10).contains(&method) && first.get(method) == Some(&b' ')
}

/// Reads what the client sends first, within the handshake bound. Nothing (an end, an error,
/// the bound) is an empty prefix: the tunnel then meets the same end and records it.
pub(crate) async fn first_bytes(shared: &Shared, client: &mut Counted<TcpStream>) -> Vec<u8> {
    let mut first = vec![0u8; 4096];
    match tokio::time::timeout(shared.config.handshake_timeout, client.read(&mut first)).await {
        Ok(Ok(n)) => first.truncate(n),
        _ => first.clear(),
    }
    first
}

/// Serves a connection whose target is known: `host` (a name or an address, unbracketed) and
/// `port`. `first` is what was already read from the client (`None`: nothing yet). `origin` is
/// the origin's TCP connection when the front door opened it already.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve_target(
    shared: &Arc<Shared>,
    conn: &Arc<Conn>,
    mut client: Counted<TcpStream>,
    first: Option<Vec<u8>>,
    origin: Option<super::upstream::OriginTcp>,
    host: String,
    port: u16,
    decision: Decision,
) {
    let first = match (first, &decision.action) {
        (Some(first), _) => first,
        (None, Action::Passthrough) => Vec::new(),
        (None, Action::Intercept(_)) => first_bytes(shared, &mut client).await,
    };
    if decision.action != Action::Passthrough && looks_like_http(&first) {
        // Plain HTTP opens its own origin connections, one per request.
        drop(origin);
        return serve_plain(shared, conn, Rewind::new(first, client), host, port).await;
    }
    let client = Rewind::new(first, client);
    tunnel::run(shared, conn, client, origin, host, port, decision).await;
}

/// Plain HTTP on a connection to `host:port`: each origin-form request is forwarded there as
/// `http://host:port/path` (or answered from `--map-local`, or the install page). An address
/// target is recorded under the name the `Host` header gives, when it gives one.
async fn serve_plain(
    shared: &Arc<Shared>,
    conn: &Arc<Conn>,
    client: tunnel::ClientIo,
    host: String,
    port: u16,
) {
    let target = crate::rules::authority(&host, port);
    let by_address = host.parse::<std::net::IpAddr>().is_ok();
    let service = {
        let (shared, conn) = (shared.clone(), conn.clone());
        service_fn(move |req: Request<Incoming>| {
            let (shared, conn, target) = (shared.clone(), conn.clone(), target.clone());
            async move {
                if by_address {
                    if let Some(name) = header_host(&req) {
                        conn.with(|s| s.host = Some(name));
                    }
                }
                let named = conn.with(|s| s.host.clone()).unwrap_or_default();
                if named == install_page::MAGIC_HOST {
                    return Ok::<_, std::convert::Infallible>(front::install_page(
                        &shared, &conn, &req,
                    ));
                }
                let (mut parts, body) = req.into_parts();
                let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                match format!("http://{target}{path}").parse::<Uri>() {
                    Ok(uri) => parts.uri = uri,
                    Err(e) => {
                        conn.event(Event::BadProxyRequest {
                            reason: format!("400: unusable request target ({e})"),
                        });
                        return Ok(text_response(
                            http::StatusCode::BAD_REQUEST,
                            "pin-proxy: unusable request target\n".into(),
                        ));
                    }
                }
                let req = Request::from_parts(parts, body);
                Ok(front::plain_http(&shared, &conn, req).await)
            }
        })
    };
    let result = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.config.header_timeout)
        .max_buf_size(4 * front::MAX_HEAD)
        .serve_connection(TokioIo::new(client), service)
        .await;
    if let Err(e) = result {
        conn.event(Event::BadProxyRequest {
            reason: front::failure(&e),
        });
    }
}

/// The host name a request's `Host` header gives (lower-cased, without the port), unless it is
/// an address.
fn header_host<B>(req: &Request<B>) -> Option<String> {
    let value = req.headers().get(http::header::HOST)?.to_str().ok()?;
    let authority: http::uri::Authority = value.parse().ok()?;
    let host = crate::rules::unbracket(authority.host()).to_ascii_lowercase();
    if host.is_empty() || host.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    Some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_request_lines_are_told_from_tls_and_garbage() {
        assert!(looks_like_http(b"GET / HTTP/1.1\r\n"));
        assert!(looks_like_http(b"OPTIONS * HTTP/1.1\r\n"));
        assert!(!looks_like_http(&[0x16, 3, 1, 0, 200]));
        assert!(!looks_like_http(b"GE"));
        assert!(!looks_like_http(b"get / HTTP/1.1"));
        assert!(!looks_like_http(b"SSH-2.0-OpenSSH"));
        assert!(!looks_like_http(b""));
    }

    #[test]
    fn the_host_header_names_an_address_target() {
        let req = |host: &str| {
            Request::builder()
                .header("host", host)
                .body(())
                .unwrap_or_else(|_| unreachable!())
        };
        assert_eq!(
            header_host(&req("Plain.Test:80")),
            Some("plain.test".into())
        );
        assert_eq!(header_host(&req("plain.test")), Some("plain.test".into()));
        assert_eq!(header_host(&req("10.0.0.9")), None);
        assert_eq!(header_host(&req("[::1]:80")), None);
        assert_eq!(header_host(&req("bad host")), None);
    }
}
