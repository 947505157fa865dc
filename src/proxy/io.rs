//! Stream adapters of the proxy shell: byte counting (and our own-certificate detection) on the
//! client socket, and replaying bytes that were read ahead.

use std::io::{self, IoSlice};
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
        self.wrote_vectored(&[IoSlice::new(bytes)], bytes.len());
    }

    /// Records the first `n` bytes of `bufs` as written.
    fn wrote_vectored(&self, bufs: &[IoSlice<'_>], n: usize) {
        self.down.fetch_add(n as u64, Ordering::Relaxed);
        if self.presented.load(Ordering::Relaxed) {
            return;
        }
        let mut flight = lock(&self.flight);
        let Some(f) = flight.as_mut() else {
            return;
        };
        let mut left = n;
        for buf in bufs {
            if left == 0 || f.done() {
                break;
            }
            let take = left.min(buf.len());
            left -= take;
            if f.feed(&buf[..take]) {
                self.presented.store(true, Ordering::Relaxed);
            }
        }
        if f.done() {
            *flight = None;
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

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = res {
            self.stats.wrote_vectored(bufs, n);
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
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

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// A TLS record carrying the start of a ServerHello (not a retry request).
    fn server_hello_record() -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[7; 32]);
        body.extend_from_slice(&[0; 40]);
        let mut msg = vec![2, 0, 0, u8::try_from(body.len()).unwrap()];
        msg.extend(body);
        let mut record = vec![22, 3, 3, 0, u8::try_from(msg.len()).unwrap()];
        record.extend(msg);
        record
    }

    async fn socket_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let connect = TcpStream::connect(listener.local_addr().unwrap());
        let (accepted, connected) = tokio::join!(listener.accept(), connect);
        (accepted.unwrap().0, connected.unwrap())
    }

    #[tokio::test]
    async fn vectored_writes_go_through_whole_and_are_scanned() {
        let (ours, mut peer) = socket_pair().await;
        let stats = Arc::new(IoStats::default());
        stats.watch_flight();
        let mut io = Rewind::new(b"read ahead".to_vec(), Counted::new(ours, stats.clone()));
        assert!(io.is_write_vectored());

        // The ServerHello split across slices, the way rustls hands over a flight.
        let hello = server_hello_record();
        let (a, b) = hello.split_at(7);
        let tail = [20u8, 3, 3, 0, 1, 1];
        let slices = [IoSlice::new(a), IoSlice::new(b), IoSlice::new(&tail)];
        let n = io.write_vectored(&slices).await.unwrap();
        let total = hello.len() + tail.len();
        assert_eq!(n, total, "one call writes every slice, not just the first");
        assert!(stats.presented());
        assert_eq!(stats.down.load(Ordering::Relaxed), total as u64);

        let mut got = vec![0u8; total];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(got, [hello.as_slice(), &tail].concat());
        // The read-ahead bytes still come first on the read side.
        let mut first = [0u8; 10];
        io.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"read ahead");
    }

    #[tokio::test]
    async fn a_partial_vectored_write_scans_only_what_was_written() {
        let stats = IoStats::default();
        stats.watch_flight();
        let hello = server_hello_record();
        let slices = [IoSlice::new(&hello[..5]), IoSlice::new(&hello[5..])];
        // Only the record header and the first bytes of the message went out.
        stats.wrote_vectored(&slices, 8);
        assert!(!stats.presented());
        assert_eq!(stats.down.load(Ordering::Relaxed), 8);
        stats.wrote(&hello[8..]);
        assert!(stats.presented());
    }
}
