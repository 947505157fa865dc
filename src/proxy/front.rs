//! The proxy-facing side of a client connection: reads proxy requests with hyper's HTTP/1.1
//! server (400 for malformed, 431 for oversized heads, a header timeout), answers CONNECT after
//! opening the origin's TCP connection (not for a host with `--map-local` entries), forwards
//! plain `http://` requests or answers them from `--map-local`, and serves the CA install page.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;

use super::conn::Conn;
use super::io::{Counted, Rewind};
use super::pool::PoolKey;
use super::upstream::{self, text_response, Answer, Body, OriginTcp, Sender, Target};
use super::Decision;
use super::{install_page, tunnel, Shared};
use crate::record::{ActionKind, ListenerKind, RequestRecord};
use crate::rules::Action;
use crate::verdict::Event;

/// Largest proxy request head accepted; larger gets a 431.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// A CONNECT that was answered 200: what the tunnel needs once hyper hands the socket back.
pub(crate) struct PendingTunnel {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) decision: Decision,
    /// The origin's TCP connection, unless a pooled connection to it is known to be alive.
    pub(crate) origin: Option<upstream::OriginTcp>,
    on_upgrade: hyper::upgrade::OnUpgrade,
}

/// Serves one accepted client connection to its end, by the front door that accepted it.
pub(crate) async fn serve(shared: Arc<Shared>, conn: Arc<Conn>, stream: TcpStream) {
    let mut shutdown = shared.shutdown.clone();
    let door = async {
        match conn.listener {
            ListenerKind::Http => serve_inner(&shared, &conn, stream).await,
            ListenerKind::Socks5 => super::socks::serve(&shared, &conn, stream).await,
            ListenerKind::Transparent => super::transparent::serve(&shared, &conn, stream).await,
        }
    };
    tokio::select! {
        () = door => {}
        _ = shutdown.wait_for(|stop| *stop) => {}
    }
}

async fn serve_inner(shared: &Arc<Shared>, conn: &Arc<Conn>, stream: TcpStream) {
    let io = TokioIo::new(Counted::new(stream, conn.stats.clone()));
    let pending: Arc<Mutex<Option<PendingTunnel>>> = Arc::default();
    let service = {
        let (shared, conn, pending) = (shared.clone(), conn.clone(), pending.clone());
        service_fn(move |req| {
            let (shared, conn, pending) = (shared.clone(), conn.clone(), pending.clone());
            async move { Ok::<_, Infallible>(proxy_request(&shared, &conn, &pending, req).await) }
        })
    };
    let result = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.config.header_timeout)
        .max_buf_size(4 * MAX_HEAD)
        .serve_connection(io, service)
        .with_upgrades()
        .await;
    if let Err(e) = result {
        conn.event(Event::BadProxyRequest {
            reason: failure(&e),
        });
    }
    let tunnel = crate::lock(&pending).take();
    let Some(tunnel) = tunnel else {
        return;
    };
    let upgraded = match tunnel.on_upgrade.await {
        Ok(u) => u,
        Err(e) => {
            conn.event(Event::BadProxyRequest {
                reason: format!("client left before the tunnel opened: {e}"),
            });
            return;
        }
    };
    match upgraded.downcast::<TokioIo<Counted<TcpStream>>>() {
        Ok(parts) => {
            // Copy what hyper read ahead and let its buffer go now, not when the tunnel ends.
            let client = Rewind::new(parts.read_buf.to_vec(), parts.io.into_inner());
            drop(parts.read_buf);
            tunnel::run(
                shared,
                conn,
                client,
                tunnel.origin,
                tunnel.host,
                tunnel.port,
                tunnel.decision,
            )
            .await;
        }
        Err(_) => conn.event(Event::BadProxyRequest {
            reason: "internal: the tunnel's socket could not be recovered".into(),
        }),
    }
}

/// The record's reason for a connection hyper's server gave up on.
pub(crate) fn failure(e: &hyper::Error) -> String {
    // hyper answers an over-long request line 414 and over-long headers 431.
    if e.is_parse_too_large() && e.to_string().contains("URI too long") {
        "414: request URI too long".to_string()
    } else if e.is_parse_too_large() {
        "431: request head too large".to_string()
    } else if e.is_parse() {
        format!("400: malformed proxy request ({e})")
    } else if e.is_timeout() {
        "timed out waiting for the request head".to_string()
    } else {
        format!("proxy request failed: {e}")
    }
}

async fn proxy_request(
    shared: &Arc<Shared>,
    conn: &Arc<Conn>,
    pending: &Mutex<Option<PendingTunnel>>,
    req: Request<Incoming>,
) -> Response<Body> {
    let head_size = req.uri().to_string().len()
        + req
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum::<usize>();
    if head_size > MAX_HEAD {
        conn.event(Event::BadProxyRequest {
            reason: format!("431: request head too large ({head_size} bytes)"),
        });
        return close(text_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("pin-proxy: request head over {MAX_HEAD} bytes\n"),
        ));
    }
    // The install page asked for directly (no proxy request) is exempt: a device fetches it
    // before it is set up to send credentials.
    let direct = req.method() != Method::CONNECT && req.uri().scheme().is_none();
    if let (Some(auth), false) = (&shared.config.auth, direct) {
        let given = req
            .headers()
            .get(hyper::header::PROXY_AUTHORIZATION)
            .map(|v| v.as_bytes());
        if !auth.check(given) {
            conn.event(Event::BadProxyRequest {
                reason: crate::access::AUTH_REQUIRED.to_string(),
            });
            let mut resp = text_response(
                StatusCode::PROXY_AUTHENTICATION_REQUIRED,
                "pin-proxy: proxy authentication required\n".into(),
            );
            resp.headers_mut().insert(
                hyper::header::PROXY_AUTHENTICATE,
                hyper::header::HeaderValue::from_static("Basic realm=\"pin-proxy\""),
            );
            return close(resp);
        }
    }
    if req.method() == Method::CONNECT {
        return connect(shared, conn, pending, req).await;
    }
    let host = req.uri().host().map(str::to_ascii_lowercase);
    match host {
        Some(h) if h == install_page::MAGIC_HOST => install_page(shared, conn, &req),
        None if req.uri().scheme().is_none() => install_page(shared, conn, &req),
        Some(_) if req.uri().scheme_str() == Some("http") => plain_http(shared, conn, req).await,
        _ => {
            conn.event(Event::BadProxyRequest {
                reason: format!(
                    "400: unsupported proxy request {} {}",
                    req.method(),
                    req.uri()
                ),
            });
            close(text_response(
                StatusCode::BAD_REQUEST,
                "pin-proxy: send CONNECT host:port, or an absolute http:// URL\n".into(),
            ))
        }
    }
}

pub(crate) fn install_page(
    shared: &Shared,
    conn: &Conn,
    req: &Request<Incoming>,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    let resp = install_page::respond(shared.issuer.ca(), &path);
    let mut record = RequestRecord::new(req.method().as_str(), &path, false);
    record.status = Some(resp.status().as_u16());
    conn.with(|s| {
        s.host
            .get_or_insert_with(|| install_page::MAGIC_HOST.to_string());
    });
    conn.event(Event::InstallPage(record));
    resp
}

async fn connect(
    shared: &Shared,
    conn: &Conn,
    pending: &Mutex<Option<PendingTunnel>>,
    mut req: Request<Incoming>,
) -> Response<Body> {
    let authority = req.uri().authority().cloned();
    let (host, port) = match authority.as_ref().map(|a| (a.host(), a.port_u16())) {
        Some((host, Some(port))) if !host.is_empty() && port != 0 => {
            (crate::rules::unbracket(host).to_ascii_lowercase(), port)
        }
        _ => {
            conn.event(Event::BadProxyRequest {
                reason: format!(
                    "400: CONNECT target {:?} is not host:port",
                    req.uri().to_string()
                ),
            });
            return close(text_response(
                StatusCode::BAD_REQUEST,
                "pin-proxy: CONNECT needs host:port\n".into(),
            ));
        }
    };
    let decision = shared.decide(&host);
    conn.with(|s| {
        s.host = Some(host.clone());
        s.port = Some(port);
    });
    let origin = match reach_origin(shared, conn, &host, port, decision.action).await {
        Ok(origin) => origin,
        Err(reason) => return close(unreachable(&host, port, &reason)),
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    *crate::lock(pending) = Some(PendingTunnel {
        host,
        port,
        decision,
        origin,
        on_upgrade,
    });
    Response::new(upstream::full(""))
}

/// Before a tunnel is answered (a CONNECT's 200, a SOCKS5 success reply): the origin must be
/// reachable. A live pooled connection says so, and a host with `--map-local` entries needs
/// none: its origin is reached, if ever, at the first request that is not mapped. Otherwise the
/// origin's TCP connection is opened now and handed to the tunnel. A failure is recorded as the
/// connection's upstream failure, and its reason comes back for the client's answer.
pub(crate) async fn reach_origin(
    shared: &Shared,
    conn: &Conn,
    host: &str,
    port: u16,
    action: Action,
) -> Result<Option<OriginTcp>, String> {
    let key = PoolKey {
        host: host.to_string(),
        port,
    };
    if action != Action::Passthrough
        && (shared.pool.has(&key) || shared.config.map_local.covers(host, port))
    {
        return Ok(None);
    }
    match tunnel::connect_origin(shared, conn, &key).await {
        Ok(tcp) => Ok(Some(tcp)),
        Err(reason) => {
            conn.with(|s| {
                s.action = Some(match action {
                    Action::Passthrough => ActionKind::Passthrough,
                    Action::Intercept(_) => ActionKind::Intercept,
                });
            });
            Err(reason)
        }
    }
}

/// Forwards one plain `http://` request (absolute URI) or answers it from `--map-local`.
pub(crate) async fn plain_http(
    shared: &Arc<Shared>,
    conn: &Conn,
    req: Request<Incoming>,
) -> Response<Body> {
    let host = req.uri().host().unwrap_or_default().to_ascii_lowercase();
    let port = req.uri().port_u16().unwrap_or(80);
    conn.with(|s| {
        s.action = Some(ActionKind::Http);
        s.host.get_or_insert_with(|| host.clone());
        s.port.get_or_insert(port);
    });
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let mut record = RequestRecord::new(req.method().as_str(), &path, shared.config.keep_query);
    if !shared.config.map_local.is_empty() {
        let mapped =
            shared
                .config
                .map_local
                .find(false, crate::rules::unbracket(&host), port, &path);
        if let Some(entry) = mapped {
            super::map_local::drain(req.into_body()).await;
            let resp = entry.response();
            record.status = Some(resp.status().as_u16());
            record.mapped_local = true;
            conn.event(Event::PlainRequest(record));
            return resp;
        }
    }
    let sender = match shared.connect(&host, port).await {
        Ok(tcp) => {
            if let Some(addr) = tcp.addr {
                conn.with(|s| {
                    s.upstream.get_or_insert_with(|| addr.to_string());
                });
            }
            Sender::handshake(tcp.stream, false).await
        }
        Err(e) => Err(e),
    };
    let answer = match sender {
        Ok(sender) => {
            let target = Target {
                scheme: "http",
                host: &host,
                port,
            };
            upstream::forward(&sender, req, &target, shared.shutdown.clone()).await
        }
        Err(e) => Answer {
            resp: unreachable(&host, port, &e),
            status: 502,
            error: Some(e),
        },
    };
    if let Some(error) = &answer.error {
        let request = format!("{} {}", record.method, record.path);
        conn.request_failed(&request, answer.status, error);
    }
    record.status = Some(answer.status);
    record.error = answer.error;
    conn.event(Event::PlainRequest(record));
    answer.resp
}

/// The 502 for an origin the proxy could not connect to.
fn unreachable(host: &str, port: u16, reason: &str) -> Response<Body> {
    text_response(
        StatusCode::BAD_GATEWAY,
        format!("pin-proxy: cannot reach {host}:{port}: {reason}\n"),
    )
}

/// Marks a response as the last on its connection.
fn close(mut resp: Response<Body>) -> Response<Body> {
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}
