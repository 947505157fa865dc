//! One accepted client connection as the shell sees it: what is known about it, its verdict
//! tracker, and the guarantee of exactly one record.
//!
//! [`Conn`] is shared (`Arc`) by every task working on the connection. When the last of them lets
//! go — the connection ended, failed, or the proxy stopped and dropped its tasks — `Drop` asks the
//! verdict core for the verdict and sends the one [`ConnectionRecord`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use time::OffsetDateTime;
use tokio::sync::{mpsc, Notify};

use super::io::IoStats;
use super::learn::LearnState;
use crate::record::{ActionKind, ConnectionRecord, ListenerKind, SCHEMA};
use crate::rules::Profile;
use crate::verdict::{Event, Tracker};

/// Number of connections whose record is not yet sent, with a wake-up when it changes.
#[derive(Debug, Default)]
pub(crate) struct Live {
    count: AtomicUsize,
    changed: Notify,
}

impl Live {
    /// Waits until every connection's record has been sent.
    pub(crate) async fn all_done(&self) {
        loop {
            let notified = self.changed.notified();
            if self.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// What the shell has learned about a connection, besides the tracker.
#[derive(Debug, Default)]
pub(crate) struct ConnState {
    pub(crate) tracker: Tracker,
    pub(crate) host: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) sni: Option<String>,
    pub(crate) action: Option<ActionKind>,
    pub(crate) profile: Option<Profile>,
    pub(crate) presented_pin: Option<String>,
    /// The whole chain presented (shared with the leaf cache; copied into the record at the end).
    pub(crate) presented_chain: Option<Arc<[crate::record::PresentedCert]>>,
    pub(crate) tls_version: Option<String>,
    pub(crate) alpn: Option<String>,
    pub(crate) upstream: Option<String>,
    /// The `proceeded` watcher has been told about this connection.
    pub(crate) told_proceeded: bool,
}

/// A client connection; sends its record when dropped.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) id: u64,
    pub(crate) client: SocketAddr,
    /// The front door that accepted it.
    pub(crate) listener: ListenerKind,
    started_wall: OffsetDateTime,
    started: Instant,
    pub(crate) stats: Arc<IoStats>,
    state: Mutex<ConnState>,
    records: mpsc::UnboundedSender<ConnectionRecord>,
    live: Arc<Live>,
    learn: Option<Arc<LearnState>>,
    /// `ProxyConfig::proceeded`: told the host once, when the connection first proceeds.
    proceeded: Option<mpsc::UnboundedSender<String>>,
}

impl Conn {
    pub(crate) fn new(
        id: u64,
        client: SocketAddr,
        listener: ListenerKind,
        shared: &super::Shared,
    ) -> Self {
        let live = shared.live.clone();
        live.count.fetch_add(1, Ordering::SeqCst);
        Self {
            id,
            client,
            listener,
            started_wall: OffsetDateTime::now_utc(),
            started: Instant::now(),
            stats: Arc::default(),
            state: Mutex::default(),
            records: shared.records.clone(),
            live,
            learn: shared.learn.clone(),
            proceeded: shared.config.proceeded.clone(),
        }
    }

    /// Runs `f` on the connection's state.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut ConnState) -> R) -> R {
        f(&mut crate::lock(&self.state))
    }

    /// Feeds one event to the verdict core.
    pub(crate) fn event(&self, event: Event) {
        let data = matches!(event, Event::ApplicationData | Event::PlainRequest(_));
        let proceeded = self.with(|s| {
            s.tracker.on(event);
            self.should_tell(data, s)
        });
        self.tell(proceeded);
    }

    /// Records a request as read (before it is answered); returns its index for
    /// [`Event::Answered`].
    pub(crate) fn request_read(&self, request: crate::record::RequestRecord) -> usize {
        let (index, proceeded) = self.with(|s| {
            s.tracker.on(Event::Request(request));
            (
                s.tracker.request_count().saturating_sub(1),
                self.should_tell(true, s),
            )
        });
        self.tell(proceeded);
        index
    }

    /// Says on stderr that the proxy answered `request` (`METHOD PATH`) with an error of its
    /// own, e.g. `pin-proxy: #4 api.test:443: GET /v1 -> 502: the origin ...`; its record keeps
    /// the reason too.
    pub(crate) fn request_failed(&self, request: &str, status: u16, reason: &str) {
        let target = self.with(|s| match (&s.host, s.port) {
            (Some(h), Some(p)) => crate::rules::authority(h, p),
            (Some(h), None) => h.clone(),
            _ => "-".to_string(),
        });
        eprintln!(
            "pin-proxy: #{} {target}: {request} -> {status}: {reason}",
            self.id
        );
    }

    /// `METHOD PATH` of the request read at `index`, as its record has it (the path redacted
    /// unless `--keep-query`); `request N` past the listed ones.
    pub(crate) fn request_line(&self, index: usize) -> String {
        self.with(|s| {
            s.tracker
                .requests()
                .get(index)
                .map(|r| format!("{} {}", r.method, r.path))
        })
        .unwrap_or_else(|| format!("request {}", index + 1))
    }

    /// The host to tell a `proceeded` watcher about: only with a watcher, only for data, only
    /// once, and only when the tracker agrees the connection has proceeded.
    fn should_tell(&self, data: bool, s: &mut ConnState) -> Option<String> {
        if !data || self.proceeded.is_none() || s.told_proceeded {
            return None;
        }
        if s.tracker.verdict().kind != crate::record::VerdictKind::Proceeded {
            return None;
        }
        s.told_proceeded = true;
        s.host.clone()
    }

    fn tell(&self, host: Option<String>) {
        if let (Some(tx), Some(host)) = (&self.proceeded, host) {
            let _ = tx.send(host);
        }
    }

    fn record(&mut self) -> ConnectionRecord {
        let state = std::mem::take(
            self.state
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let verdict = state.tracker.verdict();
        ConnectionRecord {
            schema: SCHEMA,
            id: self.id,
            client: self.client.to_string(),
            host: state.host,
            port: state.port,
            sni: state.sni,
            action: state.action,
            profile: state.profile,
            presented_pin: state.presented_pin,
            presented_chain: state
                .presented_chain
                .map(|chain| chain.to_vec())
                .unwrap_or_default(),
            verdict: verdict.kind,
            stage: verdict.stage,
            reason: verdict.reason,
            requests: state.tracker.requests().to_vec(),
            request_count: u64::try_from(state.tracker.request_count()).unwrap_or(u64::MAX),
            tls_version: state.tls_version,
            alpn: state.alpn,
            started: rfc3339_millis(self.started_wall),
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            bytes_up: self.stats.up.load(Ordering::Relaxed),
            bytes_down: self.stats.down.load(Ordering::Relaxed),
            upstream: state.upstream,
            learned: false,
            listener: self.listener,
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.event(Event::Stopped);
        let mut record = self.record();
        // Learned before the record goes out: whoever reads it can count on the next
        // connection to the host being passed through.
        if let Some(learn) = &self.learn {
            record.learned = learn.observe(&record);
        }
        // The receiver is gone only when the proxy is being torn down; nothing to write to then.
        let _ = self.records.send(record);
        self.live.count.fetch_sub(1, Ordering::SeqCst);
        self.live.changed.notify_waiters();
    }
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-28T04:00:00.123Z`.
pub(crate) fn rfc3339_millis(t: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| t.to_string())
}
