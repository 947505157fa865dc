//! Reusing origin connections across requests and client connections.
//!
//! An intercepted request needs an HTTP connection to its origin. Opening one costs a TCP
//! connect and a TLS handshake with the origin, more than the client's own handshake with us; so
//! connections are kept here. An HTTP/1.1 connection is lent for one request and comes back when
//! its response body has been passed on (a client connection that idles holds none); an HTTP/2
//! connection is shared by all. Entries idle longer than `--upstream-idle-timeout` are closed by
//! a periodic sweep (0 turns reuse off).
//!
//! Reuse changes nothing a verdict depends on: the client still gets its own handshake and its
//! own certificate; only the proxy's upstream leg is shared.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt as _;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};

use super::client_cert::ClientAuth;
use super::upstream::{self, Body, Lease, SendError, Sender, Upstream};
use super::Shared;

/// HTTP/1.1 connections kept per origin at most.
const MAX_IDLE_PER_ORIGIN: usize = 32;
/// Attempts at a request whose pooled connection turned out closed before it was written.
const ATTEMPTS: usize = 3;

/// Which origin: the CONNECT host and port (what the TCP address was derived from).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PoolKey {
    pub(crate) host: String,
    pub(crate) port: u16,
}

struct Entry {
    lease: Lease,
    last_used: Instant,
}

/// The pool. All methods lock briefly and never await.
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
        crate::lock(&self.entries)
            .get(key)
            .is_some_and(|list| list.iter().any(|e| !e.lease.sender.is_closed()))
    }

    /// Takes a connection for `server_name` whose protocol `accept` takes, preferring HTTP/2,
    /// then one that is ready now. An HTTP/2 connection stays in the pool (shared); an HTTP/1.1
    /// one is removed until it is put back.
    pub(crate) fn take(
        &self,
        key: &PoolKey,
        server_name: &str,
        accept: impl Fn(Option<&[u8]>) -> bool,
    ) -> Option<Lease> {
        let mut entries = crate::lock(&self.entries);
        let list = entries.get_mut(key)?;
        list.retain(|e| !e.lease.sender.is_closed());
        let fits =
            |e: &Entry| e.lease.server_name == server_name && accept(e.lease.alpn.as_deref());
        let index = list
            .iter()
            .position(|e| fits(e) && e.lease.sender.is_h2())
            .or_else(|| {
                list.iter()
                    .rposition(|e| fits(e) && e.lease.sender.is_ready())
            })
            .or_else(|| list.iter().rposition(fits))?;
        let entry = &mut list[index];
        if entry.lease.sender.is_h2() {
            entry.last_used = Instant::now();
            return Some(entry.lease.clone());
        }
        Some(list.swap_remove(index).lease)
    }

    /// Keeps a connection for reuse: a new HTTP/2 one to share, or an HTTP/1.1 one whose
    /// exchange is over (the next taker waits until it is ready, or finds it closed).
    pub(crate) fn put(&self, key: &PoolKey, lease: Lease) {
        if !self.enabled() || lease.sender.is_closed() {
            return;
        }
        let mut entries = crate::lock(&self.entries);
        // One lookup per returned connection; the key is cloned only for a new origin.
        if let Some(list) = entries.get_mut(key) {
            keep(list, lease);
        } else {
            let mut list = Vec::new();
            keep(&mut list, lease);
            entries.insert(key.clone(), list);
        }
    }

    /// Closes connections idle longer than the timeout (an HTTP/2 one only when no request or
    /// client connection uses it any more), and any that the origin closed.
    pub(crate) fn sweep(&self) {
        let now = Instant::now();
        let mut entries = crate::lock(&self.entries);
        entries.retain(|_, list| {
            list.retain(|e| {
                let in_use = Arc::strong_count(&e.lease.sender) > 1;
                !e.lease.sender.is_closed()
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

/// Adds `lease` to an origin's list, unless it is an HTTP/2 connection already there or the
/// list is full.
fn keep(list: &mut Vec<Entry>, lease: Lease) {
    if lease.sender.is_h2()
        && list
            .iter()
            .any(|e| Arc::ptr_eq(&e.lease.sender, &lease.sender))
    {
        return;
    }
    if list.len() < MAX_IDLE_PER_ORIGIN {
        list.push(Entry {
            lease,
            last_used: Instant::now(),
        });
    }
}

/// A client connection's way to its origin: the shared HTTP/2 connection, or HTTP/1.1
/// connections borrowed from the pool per request (opened when none is free).
pub(crate) struct Link {
    shared: Arc<Shared>,
    /// Shared with the responses in flight, which put their connection back under it.
    key: Arc<PoolKey>,
    server_name: String,
    /// The protocol every connection of this link speaks (the one the client was offered).
    alpn: Option<Vec<u8>>,
    h2: Option<Arc<Sender>>,
    /// The HTTP/2 connection's client authentication, when its origin asked for a certificate.
    h2_auth: Option<Arc<ClientAuth>>,
    /// The connection opened (or taken) before the client's handshake, until a request uses it.
    spare: Mutex<Option<Lease>>,
}

impl Link {
    /// A link whose first connection is `lease`.
    pub(crate) fn new(shared: Arc<Shared>, key: PoolKey, lease: Lease) -> Self {
        let h2 = lease.sender.is_h2().then(|| lease.sender.clone());
        let h2_auth = h2.as_ref().and(lease.client_auth.clone());
        if h2.is_some() {
            shared.pool.put(&key, lease.clone());
        }
        Self {
            key: Arc::new(key),
            server_name: lease.server_name.clone(),
            alpn: lease.alpn.clone(),
            h2,
            h2_auth,
            spare: Mutex::new(Some(lease)),
            shared,
        }
    }

    /// An HTTP/1.1 connection for one request: the spare, a pooled one, or a new one.
    async fn borrow(&self) -> Result<Lease, String> {
        if let Some(lease) = crate::lock(&self.spare).take() {
            return Ok(lease);
        }
        let alpn = self.alpn.clone();
        if let Some(lease) = self
            .shared
            .pool
            .take(&self.key, &self.server_name, |a| a == alpn.as_deref())
        {
            return Ok(lease);
        }
        // Boxed: opening a connection is the rare path, and its future is large; inline, it
        // would be part of every connection's per-request future (hyper keeps room for one).
        Box::pin(self.open()).await
    }

    async fn open(&self) -> Result<Lease, String> {
        let tcp = self.shared.connect(&self.key.host, self.key.port).await?;
        let offer = self
            .alpn
            .clone()
            .map_or_else(|| vec![b"http/1.1".to_vec()], |p| vec![p]);
        upstream::open(&self.shared, tcp, &self.server_name, offer).await
    }
}

impl Upstream for Link {
    fn is_h2(&self) -> bool {
        self.h2.is_some()
    }

    async fn send(&self, mut req: Request<Incoming>) -> Result<Response<Body>, String> {
        if let Some(h2) = &self.h2 {
            return Upstream::send(h2.as_ref(), req).await.map_err(|e| {
                upstream::refusal(self.h2_auth.as_deref(), &self.server_name).unwrap_or(e)
            });
        }
        let mut last = String::new();
        for _ in 0..ATTEMPTS {
            let lease = self.borrow().await?;
            match lease.sender.send(req).await {
                Ok(resp) => {
                    let back = GoesBack {
                        pool: self.shared.pool.clone(),
                        key: self.key.clone(),
                        lease: Some(lease),
                    };
                    return Ok(resp.map(|body| Returning { body, back }.boxed()));
                }
                // A kept connection the origin had closed: the request goes over another.
                Err(SendError::NotSent(r, e)) => {
                    // Unless the origin ended it refusing client authentication: another
                    // connection would end the same.
                    let refused =
                        upstream::refusal(lease.client_auth.as_deref(), &self.server_name);
                    if let Some(refused) = refused {
                        return Err(refused);
                    }
                    req = r;
                    last = e;
                }
                Err(SendError::Failed(e)) => return Err(lease.failure(e)),
            }
        }
        Err(last)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // An unused first connection (the client cancelled, or sent nothing) is kept for others.
        if let Some(lease) = crate::lock(&self.spare).take() {
            self.shared.pool.put(&self.key, lease);
        }
    }
}

/// A lent HTTP/1.1 connection that goes back to the pool when its response is done.
struct GoesBack {
    pool: Arc<Pool>,
    key: Arc<PoolKey>,
    lease: Option<Lease>,
}

impl GoesBack {
    fn now(&mut self) {
        if let Some(lease) = self.lease.take() {
            self.pool.put(&self.key, lease);
        }
    }
}

/// A response body that returns its connection once the body has been read to the end. A body
/// dropped before its end leaves the connection mid-response: hyper closes it, and `put`
/// (or the next taker) sees it closed.
struct Returning {
    body: Incoming,
    back: GoesBack,
}

impl HttpBody for Returning {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            self.back.now();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for GoesBack {
    fn drop(&mut self) {
        self.now();
    }
}
