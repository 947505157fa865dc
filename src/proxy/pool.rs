//! Reusing origin connections across client connections.
//!
//! An intercepted client connection needs an HTTP connection to its origin. Opening one costs a
//! TCP connect and a TLS handshake with the origin, more than the client's own handshake with
//! us; so finished connections are kept here and handed to the next client connection for the
//! same origin. HTTP/1.1 connections are lent to one client connection at a time and come back
//! when it ends; an HTTP/2 connection is shared by all. Entries idle longer than
//! `--upstream-idle-timeout` are closed by a periodic sweep (0 turns pooling off).
//!
//! Reuse changes nothing a verdict depends on: the client still gets its own handshake and its
//! own certificate; only the proxy's upstream leg is shared.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::upstream::Sender;

/// HTTP/1.1 connections kept per origin at most.
const MAX_IDLE_PER_ORIGIN: usize = 32;

/// Which origin: the CONNECT host and port (what the TCP address was derived from).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PoolKey {
    pub(crate) host: String,
    pub(crate) port: u16,
}

/// A connection lent out of (or about to enter) the pool.
#[derive(Clone)]
pub(crate) struct Lease {
    pub(crate) sender: Arc<Sender>,
    /// The server name the origin's TLS was opened with (the client's SNI, or the host).
    pub(crate) server_name: String,
    /// The protocol the origin chose by ALPN (`None`: it chose none, HTTP/1.1).
    pub(crate) alpn: Option<Vec<u8>>,
    /// The origin's address.
    pub(crate) addr: SocketAddr,
}

struct Entry {
    lease: Lease,
    last_used: Instant,
}

/// The pool. Cheap to share; all methods lock briefly and never await.
pub(crate) struct Pool {
    idle_timeout: Duration,
    entries: Mutex<HashMap<PoolKey, Vec<Entry>>>,
}

impl Pool {
    /// A pool whose entries expire after `idle_timeout` (zero: nothing is ever kept).
    pub(crate) fn new(idle_timeout: Duration) -> Self {
        Self {
            idle_timeout,
            entries: Mutex::default(),
        }
    }

    fn enabled(&self) -> bool {
        !self.idle_timeout.is_zero()
    }

    /// Whether a live connection to this origin is kept (the CONNECT answer can skip its own
    /// connection check).
    pub(crate) fn has(&self, key: &PoolKey) -> bool {
        let entries = crate::lock(&self.entries);
        entries
            .get(key)
            .is_some_and(|list| list.iter().any(|e| e.lease.sender.is_usable()))
    }

    /// Takes a connection for `server_name` whose protocol `accept` takes, preferring HTTP/2.
    /// An HTTP/2 connection stays in the pool (shared); an HTTP/1.1 one is removed until
    /// [`Pool::give_back`].
    pub(crate) fn take(
        &self,
        key: &PoolKey,
        server_name: &str,
        accept: impl Fn(Option<&[u8]>) -> bool,
    ) -> Option<Lease> {
        let mut entries = crate::lock(&self.entries);
        let list = entries.get_mut(key)?;
        list.retain(|e| e.lease.sender.is_usable());
        let fits =
            |e: &Entry| e.lease.server_name == server_name && accept(e.lease.alpn.as_deref());
        let index = list
            .iter()
            .position(|e| fits(e) && e.lease.sender.is_h2())
            .or_else(|| list.iter().position(fits))?;
        let entry = &mut list[index];
        if entry.lease.sender.is_h2() {
            entry.last_used = Instant::now();
            return Some(entry.lease.clone());
        }
        Some(list.swap_remove(index).lease)
    }

    /// Offers a new HTTP/2 connection for sharing.
    pub(crate) fn share(&self, key: PoolKey, lease: &Lease) {
        if self.enabled() && lease.sender.is_h2() {
            self.insert(key, lease.clone());
        }
    }

    /// Returns an HTTP/1.1 connection after its client connection ended, once it is ready for
    /// another request (a response still in flight, an upgrade or a close: it is dropped).
    pub(crate) fn give_back(self: &Arc<Self>, key: PoolKey, lease: Lease) {
        if !self.enabled() || lease.sender.is_h2() {
            return;
        }
        let pool = self.clone();
        tokio::spawn(async move {
            let ready =
                tokio::time::timeout(Duration::from_millis(200), lease.sender.ready()).await;
            if matches!(ready, Ok(true)) {
                pool.insert(key, lease);
            }
        });
    }

    fn insert(&self, key: PoolKey, lease: Lease) {
        let mut entries = crate::lock(&self.entries);
        let list = entries.entry(key).or_default();
        if list.len() < MAX_IDLE_PER_ORIGIN {
            list.push(Entry {
                lease,
                last_used: Instant::now(),
            });
        }
    }

    /// Closes connections idle longer than the timeout (an HTTP/2 one only when no client
    /// connection uses it any more), and any that the origin closed.
    pub(crate) fn sweep(&self) {
        let now = Instant::now();
        let mut entries = crate::lock(&self.entries);
        entries.retain(|_, list| {
            list.retain(|e| {
                let in_use = Arc::strong_count(&e.lease.sender) > 1;
                e.lease.sender.is_usable()
                    && (in_use || now.duration_since(e.last_used) < self.idle_timeout)
            });
            !list.is_empty()
        });
    }

    /// How often [`Pool::sweep`] should run.
    pub(crate) fn sweep_every(&self) -> Duration {
        (self.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(5))
    }

    /// Drops every kept connection (at shutdown).
    pub(crate) fn clear(&self) {
        crate::lock(&self.entries).clear();
    }
}
