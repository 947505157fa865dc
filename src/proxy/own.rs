//! The proxy's own connections, as a transparent listener must know them to refuse a redirect
//! loop: its listening addresses (a connection whose original destination is one of them was
//! not redirected, or was redirected to the proxy twice) and its recent origin connections (one
//! that an iptables rule sent back to the proxy arrives from the same address, to the same
//! destination).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

/// How long an origin connection is remembered. A redirected connection's first bytes (our
/// own ClientHello or request) reach the transparent listener within the handshake bound, and
/// its check runs once they have; this is well past that.
const REMEMBER: Duration = Duration::from_secs(120);
/// Most origin connections remembered; the oldest are forgotten first past this.
const MOST: usize = 65_536;

/// Listening addresses and recent origin connections (local address → destination).
#[derive(Debug)]
pub(crate) struct OwnConnections {
    listeners: Vec<SocketAddr>,
    origins: Mutex<HashMap<SocketAddr, Origin>>,
}

/// One of the proxy's origin connections.
#[derive(Debug)]
struct Origin {
    to: SocketAddr,
    at: Instant,
    /// It came back to the transparent listener (and was closed there).
    looped: bool,
}

/// Why a transparent connection is refused as a loop.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Loop {
    /// Its original destination is one of the proxy's own listeners.
    ToListener(SocketAddr),
    /// It is the proxy's own origin connection, redirected back.
    OwnConnection(SocketAddr),
}

impl Loop {
    /// The record's reason.
    pub(crate) fn reason(&self) -> String {
        match self {
            Loop::ToListener(addr) => format!(
                "redirect loop: the original destination {addr} is this proxy's own listener \
                 (a connection made to the transparent port directly, or redirected twice); \
                 not followed"
            ),
            Loop::OwnConnection(addr) => format!(
                "redirect loop: this is the proxy's own connection to {addr}, redirected back \
                 to it; exclude the proxy's traffic from the rule (for example iptables \
                 `-m owner ! --uid-owner` of the user running pin-proxy); not followed"
            ),
        }
    }
}

impl OwnConnections {
    pub(crate) fn new(listeners: Vec<SocketAddr>) -> Self {
        Self {
            listeners,
            origins: Mutex::default(),
        }
    }

    /// Notes an origin connection just opened (before it sends its first byte).
    pub(crate) fn note(&self, tcp: &TcpStream) {
        let (Ok(local), Ok(peer)) = (tcp.local_addr(), tcp.peer_addr()) else {
            return;
        };
        self.note_addrs(local, peer, Instant::now());
    }

    fn note_addrs(&self, local: SocketAddr, peer: SocketAddr, now: Instant) {
        let mut origins = crate::lock(&self.origins);
        if origins.len() >= MOST {
            origins.retain(|_, o| now.duration_since(o.at) < REMEMBER);
            if origins.len() >= MOST {
                origins.clear();
            }
        }
        origins.insert(
            local,
            Origin {
                to: peer,
                at: now,
                looped: false,
            },
        );
    }

    /// Whether a connection from `client` to `original` (its destination before the redirect),
    /// accepted on `local`, is a loop. A connection made to the listener directly has itself
    /// as its original destination.
    pub(crate) fn check(
        &self,
        client: SocketAddr,
        original: SocketAddr,
        local: SocketAddr,
    ) -> Option<Loop> {
        if original == local || self.listeners.contains(&original) {
            return Some(Loop::ToListener(original));
        }
        let mut origins = crate::lock(&self.origins);
        match origins.get_mut(&client) {
            Some(o) if o.to == original && !o.looped && o.at.elapsed() < REMEMBER => {
                o.looped = true;
                Some(Loop::OwnConnection(original))
            }
            _ => None,
        }
    }

    /// Whether the origin connection from `local` came back to the transparent listener: its
    /// failure is then the loop's, not the origin's.
    pub(crate) fn looped(&self, local: SocketAddr) -> bool {
        crate::lock(&self.origins)
            .get(&local)
            .is_some_and(|o| o.looped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn a_destination_that_is_a_listener_is_a_loop() {
        let own = OwnConnections::new(vec![addr("127.0.0.1:1080"), addr("0.0.0.0:8443")]);
        let local = addr("10.0.0.1:8443");
        // Made to the (wildcard) transparent listener directly.
        assert_eq!(
            own.check(addr("10.0.0.2:5000"), local, local),
            Some(Loop::ToListener(local))
        );
        assert!(own
            .check(addr("127.0.0.1:5000"), addr("127.0.0.1:1080"), local)
            .is_some());
        assert_eq!(
            own.check(addr("10.0.0.2:5000"), addr("10.0.0.9:443"), local),
            None
        );
        // Another machine's port 8443 is not ours.
        assert_eq!(
            own.check(addr("10.0.0.2:5000"), addr("10.0.0.9:8443"), local),
            None
        );
    }

    #[test]
    fn the_proxys_own_connection_is_recognised_once_and_only_to_its_destination() {
        let local = addr("127.0.0.1:8443");
        let own = OwnConnections::new(vec![local]);
        let now = Instant::now();
        own.note_addrs(addr("10.0.0.1:40000"), addr("10.0.0.9:443"), now);
        // The same source port towards another destination is someone else's connection.
        let other = own.check(addr("10.0.0.1:40000"), addr("10.0.0.8:443"), local);
        assert_eq!(other, None);
        assert_eq!(
            own.check(addr("10.0.0.1:40000"), addr("10.0.0.9:443"), local),
            Some(Loop::OwnConnection(addr("10.0.0.9:443")))
        );
        let again = own.check(addr("10.0.0.1:40000"), addr("10.0.0.9:443"), local);
        assert_eq!(again, None);
        assert!(own.looped(addr("10.0.0.1:40000")));
        assert!(!own.looped(addr("10.0.0.1:40001")));
    }

    #[test]
    fn the_memory_is_bounded() {
        let own = OwnConnections::new(Vec::new());
        let long_ago = Instant::now()
            .checked_sub(REMEMBER * 2)
            .unwrap_or_else(Instant::now);
        for port in 0..u16::MAX {
            own.note_addrs(
                SocketAddr::from(([10, 0, 0, 1], port)),
                addr("10.0.0.9:443"),
                long_ago,
            );
        }
        own.note_addrs(addr("10.0.0.2:1"), addr("10.0.0.9:443"), Instant::now());
        assert!(crate::lock(&own.origins).len() <= MOST);
    }
}
