//! The transparent front door (Linux): connections that iptables or nftables `REDIRECT` sent to
//! the listener. The original destination comes from `SO_ORIGINAL_DST` (rustix's safe call), the
//! host from the SNI (else the `Host` header, else the address), and the connection then goes
//! where a CONNECT would. A redirect loop (a connection made to the listener itself, or the
//! proxy's own origin connection sent back to it) is recorded and closed, never followed.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;

use super::conn::Conn;
use super::io::Counted;
use super::{door, Shared};
use crate::verdict::Event;

/// The destination the client connected to before the redirect.
#[cfg(target_os = "linux")]
fn original_destination(stream: &TcpStream) -> std::io::Result<SocketAddr> {
    use rustix::net::sockopt;
    match stream.local_addr()? {
        SocketAddr::V4(_) => Ok(SocketAddr::V4(sockopt::ip_original_dst(stream)?)),
        SocketAddr::V6(_) => Ok(SocketAddr::V6(sockopt::ipv6_original_dst(stream)?)),
    }
}

#[cfg(not(target_os = "linux"))]
fn original_destination(_stream: &TcpStream) -> std::io::Result<SocketAddr> {
    Err(std::io::Error::other("transparent mode needs Linux"))
}

/// An IPv4-mapped IPv6 destination (a dual-stack listener) as the IPv4 address it is.
fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

/// Serves one redirected connection to its end.
pub(crate) async fn serve(shared: &Arc<Shared>, conn: &Arc<Conn>, stream: TcpStream) {
    let (original, local) = match (original_destination(&stream), stream.local_addr()) {
        (Ok(original), Ok(local)) => (canonical(original), canonical(local)),
        (Err(e), _) | (_, Err(e)) => {
            return conn.event(Event::BadProxyRequest {
                reason: format!(
                    "no original destination (SO_ORIGINAL_DST: {e}): the transparent port \
                     takes connections redirected by iptables/nftables REDIRECT"
                ),
            })
        }
    };
    let host = original.ip().to_string();
    let port = original.port();
    conn.with(|s| {
        s.host = Some(host.clone());
        s.port = Some(port);
    });
    let mut client = Counted::new(stream, conn.stats.clone());
    // The first bytes before the loop check: a redirected connection of our own sends them only
    // after it has been noted (see `own`).
    let first = door::first_bytes(shared, &mut client).await;
    if let Some(found) = shared
        .own
        .as_ref()
        .and_then(|own| own.check(conn.client, original, local))
    {
        let reason = found.reason();
        eprintln!("pin-proxy: #{}: {reason}", conn.id);
        return conn.event(Event::BadProxyRequest { reason });
    }
    let decision = shared.decide(&host);
    door::serve_target(
        shared,
        conn,
        client,
        Some(first),
        None,
        host,
        port,
        decision,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_ipv4_destinations_read_as_ipv4() {
        let mapped: SocketAddr = "[::ffff:10.0.0.9]:443"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(canonical(mapped).to_string(), "10.0.0.9:443");
        let v6: SocketAddr = "[2001:db8::1]:443"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(canonical(v6), v6);
    }
}
