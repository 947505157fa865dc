//! Stream adapters of the proxy shell: byte counting (and our own-certificate detection) on the
//! client socket, and replaying bytes that were read ahead.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::lock;
use crate::verdict::flight::ServerFlight;

/// Counters of one client connection, shared by the layers that observe it.
#[derive(Debug, Default)]
pub(crate) struct IoStats {
    /// Bytes read from the client.
    pub(crate) up: AtomicU64,
    /// Bytes written to the client.
    pub(crate) down: AtomicU64,
    /// Set once our certificate has gone out (see [`ServerFlight`]).
    presented: AtomicBool,
    /// The scanner, while it is watching writes (from the start of the tunnel's TLS).
    flight: Mutex<Option<ServerFlight>>,
}

impl IoStats {
    /// Starts watching what we write for a ServerHello (call when TLS starts on the stream).
    pub(crate) fn watch_flight(&self) {
        *lock(&self.flight) = Some(ServerFlight::new());
    }

    /// Whether our certificate went out.
    pub(crate) fn presented(&self) -> bool {
        self.presented.load(Ordering::Relaxed)
    }

    fn wrote(&self, bytes: &[u8]) {
        self.down.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if self.presented.load(Ordering::Relaxed) {
            return;
        }
        let mut flight = lock(&self.flight);
        if let Some(f) = flight.as_mut() {
            if f.feed(bytes) {
                self.presented.store(true, Ordering::Relaxed);
            }
            if f.done() {
                *flight = None;
            }
        }
    }
}

/// A stream that counts the bytes each way into [`IoStats`].
#[derive(Debug)]
pub(crate) struct Counted<T> {
    inner: T,
    stats: Arc<IoStats>,
}

impl<T> Counted<T> {
    pub(crate) fn new(inner: T, stats: Arc<IoStats>) -> Self {
        Self { inner, stats }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len().saturating_sub(before);
        self.stats.up.fetch_add(n as u64, Ordering::Relaxed);
        res
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            self.stats.wrote(&buf[..n.min(buf.len())]);
        }
        res
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A stream that first yields bytes already read from it, then reads on.
#[derive(Debug)]
pub(crate) struct Rewind<T> {
    prefix: Vec<u8>,
    pos: usize,
    /// No single read crosses this offset of `prefix` (0: no boundary).
    boundary: usize,
    inner: T,
}

impl<T> Rewind<T> {
    pub(crate) fn new(prefix: Vec<u8>, inner: T) -> Self {
        Self::with_boundary(prefix, 0, inner)
    }

    /// Like [`Rewind::new`], but the bytes before `boundary` come in reads of their own: a
    /// reader that stops after them (a TLS acceptor after the ClientHello) gets the rest on its
    /// next read instead of holding them unprocessed.
    pub(crate) fn with_boundary(prefix: Vec<u8>, boundary: usize, inner: T) -> Self {
        Self {
            prefix,
            pos: 0,
            boundary,
            inner,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pos < self.prefix.len() {
            let end = if self.pos < self.boundary && self.boundary < self.prefix.len() {
                self.boundary
            } else {
                self.prefix.len()
            };
            let n = buf.remaining().min(end - self.pos);
            let start = self.pos;
            buf.put_slice(&self.prefix[start..start + n]);
            self.pos += n;
            if self.pos == self.prefix.len() {
                self.prefix = Vec::new();
                self.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
