//! The verdict core: what happened on a connection in, one [`Verdict`] out. Sans-IO.
//!
//! This module owns the whole meaning of "cancelled", "proceeded" and "undecided". The proxy
//! shell observes a connection and feeds [`Event`]s into a [`Tracker`]; when the connection is
//! over it calls [`Tracker::verdict`]. Nothing here touches a socket or a clock: a verdict follows
//! the *order* of what happened, never how long it took. A client that closes 5 ms or 5 s after the
//! handshake without sending a byte has cancelled; only a connection that is still idle when the
//! shell's decide-after timer fires ([`Event::DecideDeadline`]) ends up undecided.
//!
//! The rules, in the order they apply:
//! 1. Application data from the client after our certificate (or any plain-HTTP request) →
//!    `proceeded`: the client's traffic was readable.
//! 2. A passthrough tunnel → `passthrough` (reason `relayed`, or learn mode's `learned: ...`).
//! 3. The origin could not be reached or verified before the client sent data → `upstream_failed`.
//! 4. The client ended the handshake (alert, close, reset) *after* our certificate was presented →
//!    `cancelled` at `handshake`; before it was presented (no shared version, not TLS) →
//!    `undecided`: that is not a pinning answer.
//! 5. The handshake completed and the client closed (close_notify, EOF, reset, alert) with no
//!    application data before the decide-after deadline → `cancelled` at `after_handshake`.
//! 6. Everything else (idle past the deadline, the proxy stopping first, a bad proxy request) →
//!    `undecided`, with the reason.

pub mod alert;
pub mod flight;
pub mod summary;

use crate::record::{RequestRecord, Stage, Verdict, VerdictKind};

/// How the client ended a handshake or a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEnd {
    /// It sent a fatal TLS alert (the alert code, e.g. 48 for `unknown_ca`).
    Alert(u8),
    /// It sent a TLS close_notify.
    CloseNotify,
    /// The TCP connection ended without a TLS close.
    Eof,
    /// The TCP connection was reset.
    Reset,
    /// The proxy's timer for this phase fired first.
    TimedOut,
    /// Any other error, in words.
    Error(String),
}

impl ClientEnd {
    /// The reason as written in the events file: `alert:unknown_ca`, `close_notify`, `eof`, ...
    pub fn reason(&self) -> String {
        match self {
            Self::Alert(code) => format!("alert:{}", alert::name(*code)),
            Self::CloseNotify => "close_notify".into(),
            Self::Eof => "eof".into(),
            Self::Reset => "reset".into(),
            Self::TimedOut => "timeout".into(),
            Self::Error(e) => format!("error: {e}"),
        }
    }
}

/// Something the proxy shell observed on a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The proxy request could not be used: malformed (400), headers too large (431), timed out,
    /// or the client closed before sending one.
    BadProxyRequest {
        /// What was wrong.
        reason: String,
    },
    /// A plain-HTTP request was read and forwarded (it is readable by definition).
    PlainRequest(RequestRecord),
    /// A request to the proxy itself (the CA install page) was answered.
    InstallPage(RequestRecord),
    /// The CONNECT was accepted and the tunnel will be relayed untouched.
    PassthroughOpened,
    /// The tunnel is relayed because learn mode learned its host (`--learn`); the passthrough
    /// verdict's reason is this one (`learned: cancelled N times`) instead of `relayed`.
    Learned {
        /// The reason, from `rules::learn::LearnedHost::reason`.
        reason: String,
    },
    /// The CONNECT was accepted and the tunnel's TLS will be terminated by the proxy.
    InterceptOpened,
    /// The origin could not be reached (at `connect`) or verified (at `handshake`).
    UpstreamFailed {
        /// Where it failed: `Stage::Connect` or `Stage::Handshake`.
        stage: Stage,
        /// Why.
        reason: String,
    },
    /// The first bytes on an intercepted tunnel were not a TLS ClientHello.
    NotTls {
        /// What they looked like.
        reason: String,
    },
    /// The client's ClientHello was read.
    ClientHello,
    /// The proxy's certificate went out to the client (a ServerHello that is not a retry request).
    CertificatePresented,
    /// The client's TLS handshake with the proxy failed.
    HandshakeFailed(ClientEnd),
    /// The client's TLS handshake with the proxy completed.
    HandshakeCompleted,
    /// The decide-after timer fired while the connection was idle after the handshake.
    DecideDeadline,
    /// The client sent application data (a request, or at least an HTTP/2 preface).
    ApplicationData,
    /// A request was read from the intercepted connection (its status may follow in
    /// [`Event::Answered`]).
    Request(RequestRecord),
    /// The response status of the request at `index` in the order they were read (502 when the
    /// origin failed). A request never answered keeps no status.
    Answered {
        /// Position of the request, counting from 0.
        index: usize,
        /// The status the client got.
        status: Option<u16>,
        /// The proxy's reason when it made the response itself (a 502 when the origin failed).
        error: Option<String>,
    },
    /// The client ended the connection after the handshake.
    ClientClosed(ClientEnd),
    /// The passthrough tunnel ended.
    TunnelClosed,
    /// The proxy stopped (or the connection's task ended) before anything else concluded it.
    Stopped,
}

/// Requests listed per connection; later ones are only counted.
pub const MAX_LISTED_REQUESTS: usize = 100;

/// Which kind of connection this is, once known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
enum Mode {
    #[default]
    Unknown,
    Passthrough,
    Intercept,
}

/// Accumulates a connection's events; [`Tracker::verdict`] turns them into exactly one verdict.
///
/// Any sequence of events is accepted (the shell may be interrupted anywhere); facts that cannot
/// change the outcome any more are ignored, so the first conclusive event wins.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    mode: Mode,
    bad_request: Option<String>,
    plain_requests: usize,
    install_page: bool,
    /// The first [`MAX_LISTED_REQUESTS`] requests; a long keep-alive connection must not grow
    /// without bound.
    requests: Vec<RequestRecord>,
    /// Every request, listed or not.
    request_count: usize,
    upstream_failure: Option<(Stage, String)>,
    not_tls: Option<String>,
    hello: bool,
    presented: bool,
    established: bool,
    past_deadline: bool,
    app_data: bool,
    handshake_end: Option<ClientEnd>,
    close: Option<ClientEnd>,
    tunnel_closed: bool,
    learned: Option<String>,
}

impl Tracker {
    /// A tracker for a newly accepted connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one event.
    pub fn on(&mut self, event: Event) {
        match event {
            Event::BadProxyRequest { reason } => {
                self.bad_request.get_or_insert(reason);
            }
            Event::PlainRequest(r) => {
                self.plain_requests += 1;
                self.list(r);
            }
            Event::Answered {
                index,
                status,
                error,
            } => {
                if let Some(r) = self.requests.get_mut(index) {
                    r.status = status;
                    r.error = error;
                }
            }
            Event::InstallPage(r) => {
                self.install_page = true;
                self.list(r);
            }
            Event::PassthroughOpened => {
                // An intercept decided at CONNECT may turn into passthrough once the ClientHello's
                // server name is known, as long as no certificate went out.
                if self.mode == Mode::Unknown || (self.mode == Mode::Intercept && !self.presented) {
                    self.mode = Mode::Passthrough;
                }
            }
            Event::Learned { reason } => {
                self.learned.get_or_insert(reason);
            }
            Event::InterceptOpened => {
                if self.mode == Mode::Unknown {
                    self.mode = Mode::Intercept;
                }
            }
            Event::UpstreamFailed { stage, reason } => {
                if !self.app_data {
                    self.upstream_failure.get_or_insert((stage, reason));
                }
            }
            Event::NotTls { reason } => {
                if !self.hello {
                    self.not_tls.get_or_insert(reason);
                }
            }
            Event::ClientHello => self.hello = true,
            Event::CertificatePresented => {
                if self.handshake_end.is_none() {
                    self.presented = true;
                }
            }
            Event::HandshakeFailed(end) => {
                if !self.established {
                    self.handshake_end.get_or_insert(end);
                }
            }
            Event::HandshakeCompleted => {
                if self.handshake_end.is_none() {
                    // A completed handshake implies the certificate went out.
                    self.presented = true;
                    self.established = true;
                }
            }
            Event::DecideDeadline => {
                if self.established && !self.app_data && self.close.is_none() {
                    self.past_deadline = true;
                }
            }
            Event::ApplicationData => {
                if self.established && self.close.is_none() {
                    self.app_data = true;
                }
            }
            Event::Request(r) => {
                // A request implies application data, whatever the shell reported before.
                if self.established && self.close.is_none() {
                    self.app_data = true;
                }
                self.list(r);
            }
            Event::ClientClosed(end) => {
                if self.established {
                    self.close.get_or_insert(end);
                }
            }
            Event::TunnelClosed => self.tunnel_closed = true,
            Event::Stopped => {}
        }
    }

    fn list(&mut self, request: RequestRecord) {
        self.request_count += 1;
        if self.requests.len() < MAX_LISTED_REQUESTS {
            self.requests.push(request);
        }
    }

    /// Feeds several events in order.
    pub fn feed(&mut self, events: impl IntoIterator<Item = Event>) {
        for e in events {
            self.on(e);
        }
    }

    /// Requests recorded so far (plain or intercepted), in order: the first
    /// [`MAX_LISTED_REQUESTS`].
    pub fn requests(&self) -> &[RequestRecord] {
        &self.requests
    }

    /// How many requests there were, listed or not.
    pub fn request_count(&self) -> usize {
        self.request_count
    }

    /// The verdict for everything seen so far, as if the connection ended now.
    pub fn verdict(&self) -> Verdict {
        let v = |kind, stage, reason: String| Verdict {
            kind,
            stage,
            reason,
        };
        if self.plain_requests > 0 {
            return v(
                VerdictKind::Proceeded,
                Stage::Request,
                plural(self.plain_requests, "plain-HTTP request"),
            );
        }
        if self.mode == Mode::Intercept && self.app_data {
            let reason = if self.request_count == 0 {
                "application data".to_string()
            } else {
                plural(self.request_count, "request")
            };
            return v(VerdictKind::Proceeded, Stage::Request, reason);
        }
        if self.mode == Mode::Passthrough && self.upstream_failure.is_none() {
            if let Some(reason) = &self.learned {
                return v(VerdictKind::Passthrough, Stage::Tunnel, reason.clone());
            }
            let reason = if self.tunnel_closed {
                "relayed"
            } else {
                "relayed until the proxy stopped"
            };
            return v(VerdictKind::Passthrough, Stage::Tunnel, reason.into());
        }
        if let Some((stage, reason)) = &self.upstream_failure {
            return v(VerdictKind::UpstreamFailed, *stage, reason.clone());
        }
        if let Some(reason) = &self.bad_request {
            return v(VerdictKind::Undecided, Stage::Connect, reason.clone());
        }
        if self.install_page && self.mode == Mode::Unknown {
            return v(
                VerdictKind::Undecided,
                Stage::Connect,
                "served the CA install page".into(),
            );
        }
        if self.mode != Mode::Intercept {
            return v(
                VerdictKind::Undecided,
                Stage::Connect,
                "no proxy request before the connection ended".into(),
            );
        }
        if let Some(reason) = &self.not_tls {
            return v(
                VerdictKind::Undecided,
                Stage::Handshake,
                format!("not TLS: {reason}"),
            );
        }
        if let Some(end) = &self.handshake_end {
            return match (self.presented, end) {
                (true, ClientEnd::TimedOut) => v(
                    VerdictKind::Undecided,
                    Stage::Handshake,
                    "handshake timed out after the certificate was presented".into(),
                ),
                (true, end) => v(VerdictKind::Cancelled, Stage::Handshake, end.reason()),
                (false, end) => v(
                    VerdictKind::Undecided,
                    Stage::Handshake,
                    format!(
                        "handshake failed before a certificate was presented: {}",
                        end.reason()
                    ),
                ),
            };
        }
        if self.established {
            return match (&self.close, self.past_deadline) {
                (Some(end), false) => {
                    v(VerdictKind::Cancelled, Stage::AfterHandshake, end.reason())
                }
                (Some(end), true) => v(
                    VerdictKind::Undecided,
                    Stage::AfterHandshake,
                    format!("idle past decide-after, then closed ({})", end.reason()),
                ),
                (None, true) => v(
                    VerdictKind::Undecided,
                    Stage::AfterHandshake,
                    "idle past decide-after".into(),
                ),
                (None, false) => v(
                    VerdictKind::Undecided,
                    Stage::AfterHandshake,
                    "proxy stopped before the client decided".into(),
                ),
            };
        }
        let reason = if self.hello {
            "proxy stopped during the handshake"
        } else {
            "proxy stopped before the client's TLS hello"
        };
        v(VerdictKind::Undecided, Stage::Handshake, reason.into())
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    //! Transcript tests: events in, verdict out, no sockets.
    use super::*;
    use Event::*;

    fn verdict_of(events: Vec<Event>) -> (VerdictKind, Stage, String) {
        let mut t = Tracker::new();
        t.feed(events);
        let v = t.verdict();
        (v.kind, v.stage, v.reason)
    }

    fn req(path: &str) -> RequestRecord {
        RequestRecord {
            method: "GET".into(),
            path: path.into(),
            status: Some(200),
            mapped_local: false,
            error: None,
        }
    }

    /// The common prefix of an intercepted connection up to a completed handshake.
    fn handshake() -> Vec<Event> {
        vec![
            InterceptOpened,
            ClientHello,
            CertificatePresented,
            HandshakeCompleted,
        ]
    }

    #[test]
    fn request_after_handshake_is_proceeded() {
        let mut ev = handshake();
        ev.extend([ApplicationData, Request(req("/a")), Request(req("/b"))]);
        ev.push(ClientClosed(ClientEnd::CloseNotify));
        assert_eq!(
            verdict_of(ev),
            (VerdictKind::Proceeded, Stage::Request, "2 requests".into())
        );
    }

    #[test]
    fn h2_preface_without_a_request_is_proceeded() {
        let mut ev = handshake();
        ev.extend([ApplicationData, ClientClosed(ClientEnd::Eof)]);
        assert_eq!(
            verdict_of(ev),
            (
                VerdictKind::Proceeded,
                Stage::Request,
                "application data".into()
            )
        );
    }

    #[test]
    fn close_after_handshake_without_data_is_cancelled_whatever_the_close() {
        for (end, reason) in [
            (ClientEnd::CloseNotify, "close_notify"),
            (ClientEnd::Eof, "eof"),
            (ClientEnd::Reset, "reset"),
            (ClientEnd::Alert(42), "alert:bad_certificate"),
        ] {
            let mut ev = handshake();
            ev.push(ClientClosed(end));
            assert_eq!(
                verdict_of(ev),
                (VerdictKind::Cancelled, Stage::AfterHandshake, reason.into())
            );
        }
    }

    #[test]
    fn alert_after_certificate_is_cancelled_at_handshake() {
        let ev = vec![
            InterceptOpened,
            ClientHello,
            CertificatePresented,
            HandshakeFailed(ClientEnd::Alert(48)),
        ];
        assert_eq!(
            verdict_of(ev),
            (
                VerdictKind::Cancelled,
                Stage::Handshake,
                "alert:unknown_ca".into()
            )
        );
    }

    #[test]
    fn plain_close_during_handshake_after_certificate_is_cancelled() {
        let ev = vec![
            InterceptOpened,
            ClientHello,
            CertificatePresented,
            HandshakeFailed(ClientEnd::Eof),
        ];
        assert_eq!(
            verdict_of(ev),
            (VerdictKind::Cancelled, Stage::Handshake, "eof".into())
        );
    }

    #[test]
    fn failure_before_certificate_is_not_a_pinning_answer() {
        let ev = vec![
            InterceptOpened,
            ClientHello,
            HandshakeFailed(ClientEnd::Error("no shared cipher".into())),
        ];
        let (kind, stage, reason) = verdict_of(ev);
        assert_eq!((kind, stage), (VerdictKind::Undecided, Stage::Handshake));
        assert!(reason.contains("before a certificate"), "{reason}");
    }

    #[test]
    fn handshake_timeout_after_certificate_is_undecided() {
        let ev = vec![
            InterceptOpened,
            ClientHello,
            CertificatePresented,
            HandshakeFailed(ClientEnd::TimedOut),
        ];
        assert_eq!(verdict_of(ev).0, VerdictKind::Undecided);
    }

    #[test]
    fn not_tls_is_undecided_with_reason() {
        let ev = vec![
            InterceptOpened,
            NotTls {
                reason: "looks like HTTP".into(),
            },
        ];
        assert_eq!(
            verdict_of(ev),
            (
                VerdictKind::Undecided,
                Stage::Handshake,
                "not TLS: looks like HTTP".into()
            )
        );
    }

    #[test]
    fn idle_at_deadline_is_undecided_even_if_it_closes_later() {
        let mut ev = handshake();
        ev.push(DecideDeadline);
        assert_eq!(
            verdict_of(ev.clone()),
            (
                VerdictKind::Undecided,
                Stage::AfterHandshake,
                "idle past decide-after".into()
            )
        );
        ev.push(ClientClosed(ClientEnd::Eof));
        let (kind, _, reason) = verdict_of(ev);
        assert_eq!(kind, VerdictKind::Undecided);
        assert!(reason.contains("then closed (eof)"), "{reason}");
    }

    #[test]
    fn data_after_the_deadline_is_still_proceeded() {
        let mut ev = handshake();
        ev.extend([DecideDeadline, ApplicationData, Request(req("/late"))]);
        assert_eq!(verdict_of(ev).0, VerdictKind::Proceeded);
    }

    #[test]
    fn close_before_deadline_then_deadline_stays_cancelled() {
        let mut ev = handshake();
        ev.extend([
            ClientClosed(ClientEnd::Eof),
            DecideDeadline,
            ApplicationData,
        ]);
        assert_eq!(
            verdict_of(ev),
            (VerdictKind::Cancelled, Stage::AfterHandshake, "eof".into())
        );
    }

    #[test]
    fn stopped_after_handshake_is_undecided() {
        let mut ev = handshake();
        ev.push(Stopped);
        assert_eq!(verdict_of(ev).0, VerdictKind::Undecided);
    }

    #[test]
    fn passthrough_and_upstream_failure() {
        assert_eq!(
            verdict_of(vec![
                Learned {
                    reason: "learned: cancelled 1 time".into()
                },
                PassthroughOpened,
                TunnelClosed
            ]),
            (
                VerdictKind::Passthrough,
                Stage::Tunnel,
                "learned: cancelled 1 time".into()
            )
        );
        assert_eq!(
            verdict_of(vec![PassthroughOpened, TunnelClosed]),
            (VerdictKind::Passthrough, Stage::Tunnel, "relayed".into())
        );
        assert_eq!(
            verdict_of(vec![UpstreamFailed {
                stage: Stage::Connect,
                reason: "connection refused".into()
            }]),
            (
                VerdictKind::UpstreamFailed,
                Stage::Connect,
                "connection refused".into()
            )
        );
        // An upstream TLS failure after the client hello is never a cancel, even if the client
        // then closes.
        let ev = vec![
            InterceptOpened,
            ClientHello,
            UpstreamFailed {
                stage: Stage::Handshake,
                reason: "invalid peer certificate: UnknownIssuer".into(),
            },
            HandshakeFailed(ClientEnd::Eof),
        ];
        assert_eq!(verdict_of(ev).0, VerdictKind::UpstreamFailed);
    }

    #[test]
    fn upstream_breaking_after_data_keeps_proceeded() {
        let mut ev = handshake();
        ev.extend([
            ApplicationData,
            UpstreamFailed {
                stage: Stage::Request,
                reason: "origin closed".into(),
            },
        ]);
        assert_eq!(verdict_of(ev).0, VerdictKind::Proceeded);
    }

    #[test]
    fn plain_http_and_bad_requests() {
        assert_eq!(
            verdict_of(vec![PlainRequest(req("/"))]),
            (
                VerdictKind::Proceeded,
                Stage::Request,
                "1 plain-HTTP request".into()
            )
        );
        assert_eq!(
            verdict_of(vec![BadProxyRequest {
                reason: "400 malformed request line".into()
            }]),
            (
                VerdictKind::Undecided,
                Stage::Connect,
                "400 malformed request line".into()
            )
        );
        assert_eq!(verdict_of(vec![]).1, Stage::Connect);
    }

    #[test]
    fn first_ending_wins() {
        let ev = vec![
            InterceptOpened,
            ClientHello,
            CertificatePresented,
            HandshakeFailed(ClientEnd::Alert(48)),
            HandshakeFailed(ClientEnd::Reset),
            HandshakeCompleted,
            ApplicationData,
        ];
        assert_eq!(
            verdict_of(ev),
            (
                VerdictKind::Cancelled,
                Stage::Handshake,
                "alert:unknown_ca".into()
            )
        );
    }

    #[test]
    fn a_long_keep_alive_connection_lists_only_its_first_requests() {
        let mut t = Tracker::new();
        t.feed([
            InterceptOpened,
            ClientHello,
            CertificatePresented,
            HandshakeCompleted,
        ]);
        for i in 0..250 {
            t.on(Request(req(&format!("/{i}"))));
        }
        t.on(Answered {
            index: 3,
            status: Some(204),
            error: None,
        });
        t.on(Answered {
            index: 200,
            status: Some(200),
            error: None,
        });
        assert_eq!(t.requests().len(), MAX_LISTED_REQUESTS);
        assert_eq!(t.request_count(), 250);
        assert_eq!(t.requests()[3].status, Some(204));
        assert_eq!(t.verdict().reason, "250 requests");
    }

    /// Any sequence of events, in any order, yields one verdict without panicking, and the
    /// rules hold: a cancel needs a certificate that went out and no application data.
    #[test]
    fn any_event_sequence_yields_a_consistent_verdict() {
        let all = |i: u64| -> Event {
            match i % 19 {
                0 => BadProxyRequest { reason: "x".into() },
                1 => PlainRequest(req("/p")),
                2 => PassthroughOpened,
                3 => InterceptOpened,
                4 => UpstreamFailed {
                    stage: Stage::Connect,
                    reason: "r".into(),
                },
                5 => NotTls { reason: "n".into() },
                6 => ClientHello,
                7 => CertificatePresented,
                8 => HandshakeFailed(ClientEnd::Alert((i % 256) as u8)),
                9 => HandshakeCompleted,
                10 => DecideDeadline,
                11 => ApplicationData,
                12 => Request(req("/r")),
                13 => ClientClosed(ClientEnd::Eof),
                14 => TunnelClosed,
                15 => InstallPage(req("/")),
                16 => Answered {
                    index: (i % 3) as usize,
                    status: Some(200),
                    error: None,
                },
                17 => Learned {
                    reason: "learned: cancelled 1 time".into(),
                },
                _ => Stopped,
            }
        };
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut t = Tracker::new();
            let mut events = Vec::new();
            for _ in 0..(x % 12) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                events.push(all(x));
            }
            t.feed(events.clone());
            let v = t.verdict();
            if v.kind == VerdictKind::Cancelled {
                assert!(t.presented, "{events:?}");
                assert!(!t.app_data && t.plain_requests == 0, "{events:?}");
                assert!(matches!(v.stage, Stage::Handshake | Stage::AfterHandshake));
            }
            if v.kind == VerdictKind::Proceeded {
                assert!(t.app_data || t.plain_requests > 0, "{events:?}");
            }
            assert_eq!(t.verdict(), v, "verdict is a function of the events");
        }
    }
}
