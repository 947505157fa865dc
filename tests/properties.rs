//! Property tests for the pure core: the verdict tracker and the certificate-flight scanner,
//! host rules and the rules file, the scenario parser and its templates, pins and durations,
//! signed pin configs (the source parser, JWS and Wultra verification).
//!
//! Every property runs on generated input (proptest) through the public API only. Failures are
//! not persisted to files (`failure_persistence: None`): a failing case is printed shrunk, and
//! becomes a named regression test at the end of this file. Case counts are tuned so the file
//! runs in a few seconds in debug; `PIN_PROXY_PROPTEST_SCALE=N` multiplies them to dig deeper.
//! The same contracts are fuzzed by the targets in `fuzz/` (see `fuzz/run.sh`).
//!
//! The `bug_*` tests at the end pin bugs these properties found (all fixed).

use std::collections::BTreeSet;
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::Index;

use pin_proxy::case_record::Expected;
use pin_proxy::record::{RequestRecord, Stage, Verdict, VerdictKind};
use pin_proxy::rules::{self, Action, HostGlob, HostMap, Profile, Rule, Rules};
use pin_proxy::scenario::model::Family;
use pin_proxy::scenario::parse as scenario;
use pin_proxy::scenario::template::{Arg, Command, Placeholder, Template, Values};
use pin_proxy::verdict::flight::ServerFlight;
use pin_proxy::verdict::{ClientEnd, Event, Tracker};
use pin_proxy::{duration, pin_config, pins};

/// A config with `cases` cases and no failure files written next to the sources.
fn cfg(cases: u32) -> ProptestConfig {
    let scale: u32 = std::env::var("PIN_PROXY_PROPTEST_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    ProptestConfig {
        cases: cases.saturating_mul(scale.max(1)),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Shared checks
// ---------------------------------------------------------------------------------------------

/// An error of a file parser: ONE line, `NAME:LINE: message`, LINE in `1..=lines + 1`.
fn check_file_error(name: &str, text: &str, err: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        !err.contains('\n') && !err.contains('\r'),
        "error is not one line: {err:?}"
    );
    let rest = err.strip_prefix(&format!("{name}:"));
    prop_assert!(rest.is_some(), "error does not start with {name}: {err:?}");
    let (line, message) = rest.unwrap().split_once(':').unwrap_or(("", ""));
    let line: usize = match line.parse() {
        Ok(n) => n,
        Err(_) => return Err(TestCaseError::fail(format!("no line number in {err:?}"))),
    };
    let lines = text.lines().count();
    prop_assert!(
        (1..=lines + 1).contains(&line),
        "line {line} outside 1..={} in {err:?}",
        lines + 1
    );
    prop_assert!(
        message.starts_with(' ') && message.len() > 1,
        "no message after the line in {err:?}"
    );
    Ok(())
}

/// An error of a one-value parser: ONE non-empty line.
fn check_value_error(err: &str) -> Result<(), TestCaseError> {
    prop_assert!(!err.is_empty(), "empty error");
    prop_assert!(
        !err.contains('\n') && !err.contains('\r'),
        "error is not one line: {err:?}"
    );
    Ok(())
}

/// Edits applied to a valid file's bytes.
#[derive(Clone, Debug)]
enum Mutation {
    /// Replace one byte.
    Set(Index, u8),
    /// Insert a token (TOML syntax, placeholders, field names, odd bytes).
    Insert(Index, Vec<u8>),
    /// Delete up to `len` bytes.
    Delete(Index, usize),
    /// Copy a range of the text to another place.
    Copy(Index, usize, Index),
}

const TOKENS: &[&str] = &[
    "\"",
    "'",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "{{",
    "}}",
    "=",
    ",",
    "\n",
    "\r\n",
    "#",
    "\\",
    "\"\"\"",
    "'''",
    ".",
    "-",
    "*",
    "?",
    " ",
    "\t",
    "\u{0}",
    "\u{feff}",
    "é",
    "\u{10ffff}",
    "[[case]]",
    "[[origin]]",
    "[matrix]",
    "[client]",
    "[proxy]",
    "[suite]",
    "[[rule]]",
    "name",
    "host",
    "hosts",
    "keys",
    "pins",
    "proxy",
    "expect",
    "origin",
    "origin_key",
    "pinned_host",
    "timeout",
    "env",
    "cwd",
    "command",
    "action",
    "profile",
    "families",
    "missing_pin",
    "chain_pins",
    "decide_after",
    "listen",
    "ca",
    "key_type",
    "{url}",
    "{pins_curl}",
    "${X}",
    "{nope}",
    "\"passthrough\"",
    "\"intercept\"",
    "\"cancelled\"",
    "\"proceeded\"",
    "\"5s\"",
    "\"0s\"",
    "true",
    "1e400",
    "[]",
    "{}",
    "[[]]",
    "api.current",
    "api.root",
    "1979-05-27",
    "\"a\\nb\" = 1\n",
    "\"{\\n}\"",
    "origins = [\"api\", \"api\"]\n",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (
            any::<Index>(),
            prop_oneof![
                3 => proptest::sample::select(TOKENS).prop_map(|t| t.as_bytes().to_vec()),
                1 => proptest::collection::vec(any::<u8>(), 1..4),
            ]
        )
            .prop_map(|(i, t)| Mutation::Insert(i, t)),
        (any::<Index>(), 1usize..12).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<Index>(), 1usize..40, any::<Index>()).prop_map(|(a, n, b)| Mutation::Copy(a, n, b)),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut b = text.as_bytes().to_vec();
    for m in mutations {
        let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len + 1) };
        match m {
            Mutation::Set(i, v) => {
                if !b.is_empty() {
                    let i = i.index(b.len());
                    b[i] = *v;
                }
            }
            Mutation::Insert(i, t) => {
                let i = at(i, b.len());
                b.splice(i..i, t.iter().copied());
            }
            Mutation::Delete(i, n) => {
                if !b.is_empty() {
                    let i = i.index(b.len());
                    let end = (i + n).min(b.len());
                    b.drain(i..end);
                }
            }
            Mutation::Copy(a, n, to) => {
                if !b.is_empty() {
                    let a = a.index(b.len());
                    let end = (a + n).min(b.len());
                    let piece = b[a..end].to_vec();
                    let to = at(to, b.len());
                    b.splice(to..to, piece);
                }
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// Arbitrary text, biased towards the characters parsers care about.
fn messy_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~\\n\\t\\r]{0,64}",
        proptest::collection::vec(proptest::sample::select(TOKENS), 0..24).prop_map(|t| t.concat()),
    ]
}

// ---------------------------------------------------------------------------------------------
// 1. The verdict core
// ---------------------------------------------------------------------------------------------

fn text_payload() -> impl Strategy<Value = String> {
    // Mostly cheap ASCII: generating arbitrary Unicode is what costs time in debug.
    prop_oneof![
        2 => Just(String::new()),
        4 => "[a-z ]{1,8}",
        1 => "\\PC{1,6}",
    ]
}

fn request() -> impl Strategy<Value = RequestRecord> {
    (
        prop_oneof![Just("GET".to_string()), "[A-Z]{0,7}"],
        text_payload(),
        any::<Option<u16>>(),
        any::<bool>(),
        proptest::option::of(text_payload()),
    )
        .prop_map(
            |(method, path, status, mapped_local, error)| RequestRecord {
                method,
                path,
                status,
                mapped_local,
                error,
            },
        )
}

fn stage() -> impl Strategy<Value = Stage> {
    prop_oneof![
        Just(Stage::Connect),
        Just(Stage::Handshake),
        Just(Stage::AfterHandshake),
        Just(Stage::Request),
        Just(Stage::Tunnel),
    ]
}

fn client_end() -> impl Strategy<Value = ClientEnd> {
    prop_oneof![
        any::<u8>().prop_map(ClientEnd::Alert),
        Just(ClientEnd::CloseNotify),
        Just(ClientEnd::Eof),
        Just(ClientEnd::Reset),
        Just(ClientEnd::TimedOut),
        text_payload().prop_map(ClientEnd::Error),
    ]
}

/// Every `Event` variant with arbitrary payloads; the lifecycle of an intercepted tunnel is
/// weighted up so that cancels and proceeds are common.
fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        1 => text_payload().prop_map(|reason| Event::BadProxyRequest { reason }),
        1 => request().prop_map(Event::PlainRequest),
        1 => request().prop_map(Event::InstallPage),
        2 => Just(Event::PassthroughOpened),
        5 => Just(Event::InterceptOpened),
        1 => (stage(), text_payload()).prop_map(|(stage, reason)| Event::UpstreamFailed { stage, reason }),
        1 => text_payload().prop_map(|reason| Event::NotTls { reason }),
        4 => Just(Event::ClientHello),
        4 => Just(Event::CertificatePresented),
        3 => client_end().prop_map(Event::HandshakeFailed),
        4 => Just(Event::HandshakeCompleted),
        2 => Just(Event::DecideDeadline),
        2 => Just(Event::ApplicationData),
        2 => request().prop_map(Event::Request),
        1 => (
            0usize..6,
            proptest::option::of(100u16..600),
            proptest::option::of(text_payload())
        )
            .prop_map(|(index, status, error)| Event::Answered {
                index,
                status,
                error
            }),
        3 => client_end().prop_map(Event::ClientClosed),
        1 => Just(Event::TunnelClosed),
        1 => Just(Event::Stopped),
    ]
}

/// Events the shell can still send once the client's TLS handshake with the proxy has begun.
/// Left out: `BadProxyRequest`, `PlainRequest` and `InstallPage` (sent only on the proxy-request
/// side), `PassthroughOpened` (sent only between the ClientHello and the handshake), and
/// `UpstreamFailed` (sent only before the client handshake, or after application data).
fn late_event() -> impl Strategy<Value = Event> {
    event().prop_filter("an event of the tunnel's later life", |e| {
        !matches!(
            e,
            Event::BadProxyRequest { .. }
                | Event::PlainRequest(_)
                | Event::InstallPage(_)
                | Event::PassthroughOpened
                | Event::UpstreamFailed { .. }
        )
    })
}

fn verdict_of(events: &[Event]) -> (Tracker, Verdict) {
    let mut t = Tracker::new();
    t.feed(events.iter().cloned());
    let v = t.verdict();
    (t, v)
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn position(events: &[Event], from: usize, f: impl Fn(&Event) -> bool) -> Option<usize> {
    events[from..].iter().position(f).map(|i| i + from)
}

/// Whether the first `InterceptOpened`/`PassthroughOpened` is an intercept.
fn opened_as_intercept(events: &[Event]) -> bool {
    matches!(
        events
            .iter()
            .find(|e| matches!(e, Event::InterceptOpened | Event::PassthroughOpened)),
        Some(Event::InterceptOpened)
    )
}

/// The invariants of `verdict`'s module doc and README's verdict table, checked against the
/// event transcript (the tracker's state is private, so everything is said about the events).
fn check_verdict(events: &[Event]) -> Result<(), TestCaseError> {
    let (t, v) = verdict_of(events);

    // Exactly one verdict, and a function of the events: asking again, feeding one by one, or
    // asking a clone gives the same one.
    prop_assert_eq!(&t.verdict(), &v);
    let mut one_by_one = Tracker::new();
    for e in events {
        one_by_one.on(e.clone());
    }
    prop_assert_eq!(&one_by_one.verdict(), &v);
    prop_assert_eq!(&t.clone().verdict(), &v);

    // `Stopped` (what the shell feeds when the connection's record goes out) concludes nothing.
    let mut stopped = t.clone();
    stopped.on(Event::Stopped);
    prop_assert_eq!(&stopped.verdict(), &v);

    // Requests are kept in order, whatever the verdict, and an answer sets its request's status.
    let mut expected_requests: Vec<RequestRecord> = Vec::new();
    for e in events {
        match e {
            Event::PlainRequest(r) | Event::InstallPage(r) | Event::Request(r) => {
                expected_requests.push(r.clone());
            }
            Event::Answered {
                index,
                status,
                error,
            } => {
                if let Some(r) = expected_requests.get_mut(*index) {
                    r.status = *status;
                    r.error = error.clone();
                }
            }
            _ => {}
        }
    }
    prop_assert_eq!(t.requests(), &expected_requests[..]);
    prop_assert_eq!(t.request_count(), expected_requests.len());

    let count = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
    let plain = count(|e| matches!(e, Event::PlainRequest(_)));
    let upstream = events.iter().find_map(|e| match e {
        Event::UpstreamFailed { stage, reason } => Some((*stage, reason.clone())),
        _ => None,
    });

    // Rule 1: any plain-HTTP request is a proceed.
    if plain > 0 {
        prop_assert_eq!(v.kind, VerdictKind::Proceeded, "{:?}", events);
        prop_assert_eq!(&v.reason, &plural(plain, "plain-HTTP request"));
    }

    match v.kind {
        VerdictKind::Proceeded => {
            prop_assert_eq!(v.stage, Stage::Request);
            if plain == 0 {
                // Application data (or a request) after a completed handshake on an intercept.
                prop_assert!(opened_as_intercept(events), "{:?}", events);
                let done = position(events, 0, |e| matches!(e, Event::HandshakeCompleted));
                prop_assert!(
                    done.is_some(),
                    "proceeded without a handshake: {:?}",
                    events
                );
                let done = done.unwrap();
                prop_assert!(
                    !events[..done]
                        .iter()
                        .any(|e| matches!(e, Event::HandshakeFailed(_))),
                    "proceeded after a failed handshake: {:?}",
                    events
                );
                let closed = position(events, done, |e| matches!(e, Event::ClientClosed(_)))
                    .unwrap_or(events.len());
                prop_assert!(
                    events[done..closed]
                        .iter()
                        .any(|e| matches!(e, Event::ApplicationData | Event::Request(_))),
                    "proceeded without data before the close: {:?}",
                    events
                );
                let expected = if t.requests().is_empty() {
                    "application data".to_string()
                } else {
                    plural(t.requests().len(), "request")
                };
                prop_assert_eq!(&v.reason, &expected);
            }
        }
        VerdictKind::Cancelled => {
            // Only after our certificate went out, on an intercepted tunnel, and never with an
            // upstream failure, a bad proxy request or plain HTTP around.
            prop_assert!(opened_as_intercept(events), "{:?}", events);
            prop_assert!(
                !events.iter().any(|e| matches!(
                    e,
                    Event::UpstreamFailed { .. }
                        | Event::BadProxyRequest { .. }
                        | Event::PlainRequest(_)
                )),
                "{:?}",
                events
            );
            let hello = position(events, 0, |e| matches!(e, Event::ClientHello));
            prop_assert!(
                !events[..hello.unwrap_or(events.len())]
                    .iter()
                    .any(|e| matches!(e, Event::NotTls { .. })),
                "cancelled although the first bytes were not TLS: {:?}",
                events
            );
            match v.stage {
                Stage::Handshake => {
                    // The first handshake failure, after a presented certificate and before any
                    // completed handshake; a timeout is not a cancel.
                    let failed = position(events, 0, |e| matches!(e, Event::HandshakeFailed(_)));
                    prop_assert!(failed.is_some(), "{:?}", events);
                    let failed = failed.unwrap();
                    let before = &events[..failed];
                    prop_assert!(
                        before
                            .iter()
                            .any(|e| matches!(e, Event::CertificatePresented)),
                        "cancelled at handshake without a presented certificate: {:?}",
                        events
                    );
                    prop_assert!(
                        !before
                            .iter()
                            .any(|e| matches!(e, Event::HandshakeCompleted)),
                        "{:?}",
                        events
                    );
                    let Event::HandshakeFailed(end) = &events[failed] else {
                        unreachable!()
                    };
                    prop_assert_ne!(end, &ClientEnd::TimedOut);
                    prop_assert_eq!(&v.reason, &end.reason());
                }
                Stage::AfterHandshake => {
                    // A completed handshake, then the first close, with no data and no deadline
                    // in between.
                    let done = position(events, 0, |e| matches!(e, Event::HandshakeCompleted));
                    prop_assert!(done.is_some(), "{:?}", events);
                    let done = done.unwrap();
                    prop_assert!(
                        !events[..done]
                            .iter()
                            .any(|e| matches!(e, Event::HandshakeFailed(_))),
                        "{:?}",
                        events
                    );
                    let closed = position(events, done, |e| matches!(e, Event::ClientClosed(_)));
                    prop_assert!(closed.is_some(), "{:?}", events);
                    let closed = closed.unwrap();
                    prop_assert!(
                        !events[done..closed].iter().any(|e| matches!(
                            e,
                            Event::ApplicationData | Event::Request(_) | Event::DecideDeadline
                        )),
                        "cancelled although data or the deadline came first: {:?}",
                        events
                    );
                    let Event::ClientClosed(end) = &events[closed] else {
                        unreachable!()
                    };
                    prop_assert_eq!(&v.reason, &end.reason());
                }
                other => prop_assert!(false, "cancelled at {other:?}: {events:?}"),
            }
        }
        VerdictKind::Passthrough => {
            prop_assert_eq!(v.stage, Stage::Tunnel);
            // An upstream failure counts only before the client sent data (rule 3).
            let data = position(events, 0, |e| {
                matches!(e, Event::ApplicationData | Event::Request(_))
            })
            .unwrap_or(events.len());
            prop_assert!(
                plain == 0
                    && !events[..data]
                        .iter()
                        .any(|e| matches!(e, Event::UpstreamFailed { .. })),
                "{:?}",
                events
            );
            prop_assert!(
                events.iter().any(|e| matches!(e, Event::PassthroughOpened)),
                "{:?}",
                events
            );
            let closed = events.iter().any(|e| matches!(e, Event::TunnelClosed));
            prop_assert_eq!(
                v.reason.as_str(),
                if closed {
                    "relayed"
                } else {
                    "relayed until the proxy stopped"
                }
            );
        }
        VerdictKind::UpstreamFailed => {
            // Where and why the first upstream failure said.
            prop_assert!(plain == 0);
            prop_assert_eq!(Some((v.stage, v.reason.clone())), upstream, "{:?}", events);
        }
        VerdictKind::Undecided => {
            prop_assert!(
                matches!(
                    v.stage,
                    Stage::Connect | Stage::Handshake | Stage::AfterHandshake
                ),
                "undecided at {:?}",
                v.stage
            );
        }
    }
    Ok(())
}

/// The start of an intercepted tunnel whose handshake completed.
fn handshake() -> Vec<Event> {
    vec![
        Event::InterceptOpened,
        Event::ClientHello,
        Event::CertificatePresented,
        Event::HandshakeCompleted,
    ]
}

proptest! {
    #![proptest_config(cfg(2000))]

    #[test]
    fn any_event_sequence_yields_one_consistent_verdict(
        events in proptest::collection::vec(event(), 0..24)
    ) {
        check_verdict(&events)?;
    }
}

proptest! {
    #![proptest_config(cfg(500))]

    /// "Data sent later still makes it proceeded", and nothing undoes a proceed.
    #[test]
    fn proceeded_is_final(
        before in proptest::collection::vec(event(), 0..12),
        data in prop_oneof![Just(Event::ApplicationData), request().prop_map(Event::Request)],
        after in proptest::collection::vec(event(), 0..12),
    ) {
        let (_, v) = verdict_of(&before);
        if v.kind == VerdictKind::Proceeded {
            let all: Vec<Event> = before.iter().chain(&after).cloned().collect();
            prop_assert_eq!(verdict_of(&all).1.kind, VerdictKind::Proceeded);
        }
        // A completed intercept handshake followed by data proceeds whatever comes next.
        let mut all = handshake();
        all.push(data);
        all.extend(after);
        let v = verdict_of(&all).1;
        prop_assert_eq!((v.kind, v.stage), (VerdictKind::Proceeded, Stage::Request));
        check_verdict(&all)?;
    }

    /// A close after the handshake, before any data or deadline, is a cancel, and nothing the
    /// tunnel can still report undoes it (the first conclusive event wins).
    #[test]
    fn a_close_after_the_handshake_is_a_final_cancel(
        end in client_end(),
        after in proptest::collection::vec(late_event(), 0..16),
    ) {
        let mut all = handshake();
        all.push(Event::ClientClosed(end.clone()));
        all.extend(after);
        let v = verdict_of(&all).1;
        prop_assert_eq!(
            (v.kind, v.stage, v.reason),
            (VerdictKind::Cancelled, Stage::AfterHandshake, end.reason())
        );
    }

    /// A handshake failure after our certificate went out is a cancel at `handshake` (a timeout
    /// is undecided), before it went out it is undecided, and later tunnel events change nothing.
    #[test]
    fn a_handshake_failure_is_judged_by_the_certificate(
        presented in any::<bool>(),
        end in client_end(),
        after in proptest::collection::vec(late_event(), 0..16),
    ) {
        let mut all = vec![Event::InterceptOpened, Event::ClientHello];
        if presented {
            all.push(Event::CertificatePresented);
        }
        all.push(Event::HandshakeFailed(end.clone()));
        all.extend(after);
        let v = verdict_of(&all).1;
        if presented && end != ClientEnd::TimedOut {
            prop_assert_eq!(
                (v.kind, v.stage, v.reason),
                (VerdictKind::Cancelled, Stage::Handshake, end.reason())
            );
        } else {
            prop_assert_eq!((v.kind, v.stage), (VerdictKind::Undecided, Stage::Handshake));
        }
    }

    /// A connection with an upstream failure is never cancelled, whatever else happened
    /// (README: upstream_failed "is never a cancel").
    #[test]
    fn an_upstream_failure_is_never_a_cancel(
        before in proptest::collection::vec(event(), 0..8),
        stage in stage(),
        reason in text_payload(),
        after in proptest::collection::vec(late_event(), 0..16),
    ) {
        let mut all = before;
        all.push(Event::UpstreamFailed { stage, reason });
        all.extend(after);
        let v = verdict_of(&all).1;
        prop_assert_ne!(v.kind, VerdictKind::Cancelled);
        check_verdict(&all)?;
    }
}

/// A TLS record of `ctype` around `body`.
fn tls_record(ctype: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![ctype, 3, 3];
    r.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// Server-to-client bytes: plausible records (handshake messages of random types, a
/// ServerHello with a random or a HelloRetryRequest random, alerts, CCS) or raw bytes.
fn server_bytes() -> impl Strategy<Value = Vec<u8>> {
    const HRR: [u8; 32] = [
        0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8,
        0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8,
        0x33, 0x9c,
    ];
    let message = (
        prop_oneof![Just(2u8), any::<u8>()],
        any::<bool>(),
        any::<[u8; 32]>(),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(move |(kind, hrr, random, rest)| {
            let mut body = vec![3, 3];
            body.extend_from_slice(if hrr { &HRR } else { &random });
            body.extend(rest);
            let mut m = vec![kind];
            m.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
            m.extend(body);
            tls_record(22, &m)
        });
    let piece = prop_oneof![
        4 => message,
        1 => (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..20))
            .prop_map(|(t, b)| tls_record(t, &b)),
        1 => proptest::collection::vec(any::<u8>(), 0..20),
    ];
    proptest::collection::vec(piece, 0..6).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(cfg(500))]

    /// How our writes are split does not change whether the certificate went out, and once
    /// it has, it stays out.
    #[test]
    fn server_flight_ignores_write_boundaries(
        bytes in server_bytes(),
        cuts in proptest::collection::vec(any::<Index>(), 0..8),
    ) {
        let mut whole = ServerFlight::new();
        let presented = whole.feed(&bytes);
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        at.push(0);
        at.push(bytes.len());
        at.sort_unstable();
        let mut split = ServerFlight::new();
        let mut was = false;
        for w in at.windows(2) {
            let now = split.feed(&bytes[w[0]..w[1]]);
            prop_assert!(now || !was, "presented went back");
            was = now;
        }
        prop_assert_eq!(split.presented(), presented);
        if presented {
            prop_assert!(whole.done());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2. The scenario parser
// ---------------------------------------------------------------------------------------------

const SUITE_FILE: &str = "suite.toml";

/// A small valid suite in the README's format, with a matrix and hand-written cases.
const VALID_SUITE: &str = r#"[suite]
name = "demo"
description = "a demo"
key_type = "ecdsa-p256"

[proxy]
decide_after = "2s"
ca = "ephemeral"

[client]
command = ["curl", "-sS", "--proxy", "{proxy_url}", ["--pinnedpubkey", "{pins_curl}"], "{url}"]
timeout = "10s"
env = { TRUST = "{trust_bundle}", SHELL_LIKE = "${HOME}" }

[[origin]]
name = "api"
host = "api.example.test"

[[origin]]
name = "cdn"
host = "cdn.example.test"
keys = ["current", "next", "old"]

[matrix]
families = ["pinned", "unpinned", "rotated", "missing-pin", "chain"]
missing_pin = "proceeded"
chain_pins = false

[[case]]
name = "expired-leaf"
origin = "api"
proxy = "expired"
pins = ["api.current", "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="]
expect = "cancelled"
reason = "an expired leaf is refused"
timeout = "5s"

[[case]]
name = "old-key"
origin = "cdn"
origin_key = "old"
proxy = "passthrough"
pins = ["cdn.old", "cdn.root"]
pinned_host = "cdn.example.test"
expect = "proceeded"
env = { EXTRA = "{case}" }
"#;

/// Cases `VALID_SUITE` expands to: 2 origins × (2 + 2 + 3 + 2 + 4) + 2.
const VALID_SUITE_CASES: usize = 2 * 13 + 2;

fn parse_suite(text: &str) -> Result<pin_proxy::scenario::model::Suite, String> {
    scenario::parse(SUITE_FILE, "default", text).map_err(|e| e.to_string())
}

fn check_scenario(text: &str) -> Result<(), TestCaseError> {
    match parse_suite(text) {
        Ok(suite) => {
            prop_assert!(!suite.cases.is_empty());
            let names: BTreeSet<&str> = suite.cases.iter().map(|c| c.name.as_str()).collect();
            prop_assert!(names.len() == suite.cases.len(), "case names are unique");
            for case in &suite.cases {
                prop_assert!(case.origin < suite.origins.len());
            }
        }
        Err(e) => check_file_error(SUITE_FILE, text, &e)?,
    }
    Ok(())
}

#[test]
fn the_valid_suite_parses() {
    let suite = parse_suite(VALID_SUITE).unwrap();
    assert_eq!(suite.cases.len(), VALID_SUITE_CASES);
    assert_eq!(suite.origins.len(), 2);
}

/// One origin of a generated suite.
#[derive(Clone, Debug)]
struct OriginM {
    name: String,
    host: String,
    keys: Option<Vec<String>>,
}

impl OriginM {
    fn keys(&self) -> Vec<String> {
        self.keys
            .clone()
            .unwrap_or_else(|| vec!["current".into(), "next".into()])
    }
}

#[derive(Clone, Debug)]
struct MatrixM {
    origins: Option<Vec<usize>>,
    families: Option<Vec<Family>>,
    missing_pin: Option<Expected>,
    chain_pins: Option<bool>,
}

#[derive(Clone, Debug)]
enum PinM {
    Key(Index, Index),
    Intermediate(Index),
    Root(Index),
    Literal([u8; 32], u8),
}

#[derive(Clone, Debug)]
struct CaseM {
    name: String,
    origin: Index,
    write_origin: bool,
    proxy: &'static str,
    origin_key: Option<Index>,
    pins: Vec<PinM>,
    pinned_host: bool,
    expect: Expected,
    timeout: Option<u32>,
    env: bool,
}

#[derive(Clone, Debug)]
struct SuiteM {
    name: Option<String>,
    argv: bool,
    placeholders: Vec<Placeholder>,
    decide_after: Option<u32>,
    origins: Vec<OriginM>,
    matrix: Option<MatrixM>,
    cases: Vec<CaseM>,
}

fn expected_m() -> impl Strategy<Value = Expected> {
    prop_oneof![Just(Expected::Cancelled), Just(Expected::Proceeded)]
}

fn origin_m(i: usize) -> impl Strategy<Value = OriginM> {
    (
        "[a-z0-9_-]{0,5}",
        "[a-z0-9-]{0,5}",
        prop::option::of(proptest::collection::vec("[a-z0-9_-]{0,4}", 1..4)),
    )
        .prop_map(move |(name, host, keys)| OriginM {
            name: format!("o{i}{name}"),
            host: format!("h{i}{host}.example.test"),
            keys: keys.map(|k| {
                k.iter()
                    .enumerate()
                    .map(|(j, s)| format!("k{j}{s}"))
                    .collect()
            }),
        })
}

fn pin_m() -> impl Strategy<Value = PinM> {
    prop_oneof![
        3 => (any::<Index>(), any::<Index>()).prop_map(|(o, k)| PinM::Key(o, k)),
        1 => any::<Index>().prop_map(PinM::Intermediate),
        1 => any::<Index>().prop_map(PinM::Root),
        1 => (any::<[u8; 32]>(), 0u8..3).prop_map(|(b, p)| PinM::Literal(b, p)),
    ]
}

fn case_m(i: usize) -> impl Strategy<Value = CaseM> {
    (
        "[A-Za-z0-9._/-]{0,8}",
        any::<Index>(),
        any::<bool>(),
        proptest::sample::select(vec![
            "intercept",
            "passthrough",
            "forged",
            "self-signed",
            "wrong-host",
            "expired",
            "untrusted-ca",
        ]),
        prop::option::of(any::<Index>()),
        proptest::collection::vec(pin_m(), 0..3),
        any::<bool>(),
        expected_m(),
        prop::option::of(1u32..100),
        any::<bool>(),
    )
        .prop_map(
            move |(
                name,
                origin,
                write_origin,
                proxy,
                origin_key,
                pins,
                pinned_host,
                expect,
                timeout,
                env,
            )| {
                CaseM {
                    name: format!("c{i}_{name}"),
                    origin,
                    write_origin,
                    proxy,
                    origin_key,
                    pins,
                    pinned_host,
                    expect,
                    timeout,
                    env,
                }
            },
        )
}

fn matrix_m() -> impl Strategy<Value = MatrixM> {
    (
        prop::option::of(proptest::sample::subsequence(vec![0usize, 1, 2], 0..=3)),
        prop::option::of(proptest::sample::subsequence(Family::ALL.to_vec(), 0..=5)),
        prop::option::of(expected_m()),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(origins, families, missing_pin, chain_pins)| MatrixM {
            origins,
            families,
            missing_pin,
            chain_pins,
        })
}

fn suite_m() -> impl Strategy<Value = SuiteM> {
    (1usize..=3, 0usize..4)
        .prop_flat_map(|(n, c)| {
            let origins: Vec<_> = (0..n).map(origin_m).collect();
            let cases: Vec<_> = (0..c).map(case_m).collect();
            (
                prop::option::of("[a-z][a-z -]{0,7}"),
                any::<bool>(),
                proptest::collection::vec(
                    proptest::sample::select(Placeholder::ALL.to_vec()),
                    0..4,
                ),
                prop::option::of(1u32..10),
                origins,
                prop::option::of(matrix_m()),
                cases,
            )
        })
        .prop_map(
            |(name, argv, placeholders, decide_after, origins, matrix, cases)| SuiteM {
                name,
                argv,
                placeholders,
                decide_after,
                origins,
                matrix,
                cases,
            },
        )
}

impl SuiteM {
    fn case_origin(&self, c: &CaseM) -> usize {
        if c.write_origin || self.origins.len() > 1 {
            c.origin.index(self.origins.len())
        } else {
            0
        }
    }

    fn pin(&self, p: &PinM) -> String {
        let o = |i: &Index| &self.origins[i.index(self.origins.len())];
        match p {
            PinM::Key(i, k) => {
                let origin = o(i);
                let keys = origin.keys();
                format!("{}.{}", origin.name, keys[k.index(keys.len())])
            }
            PinM::Intermediate(i) => format!("{}.intermediate", o(i).name),
            PinM::Root(i) => format!("{}.root", o(i).name),
            PinM::Literal(bytes, prefix) => {
                use base64::Engine as _;
                let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
                let prefix = usize::from(*prefix);
                format!("{}{b64}", ["", "sha256/", "sha256//"][prefix])
            }
        }
    }

    fn matrix_origins(&self, m: &MatrixM) -> Vec<usize> {
        match &m.origins {
            None => (0..self.origins.len()).collect(),
            Some(o) => o
                .iter()
                .copied()
                .filter(|&i| i < self.origins.len())
                .collect(),
        }
    }

    /// The TOML text.
    fn render(&self) -> String {
        let q = |s: &str| format!("{s:?}");
        let mut t = String::new();
        if let Some(name) = &self.name {
            t += &format!("[suite]\nname = {}\n\n", q(name));
        }
        if let Some(d) = self.decide_after {
            t += &format!("[proxy]\ndecide_after = \"{d}s\"\n\n");
        }
        let holders: Vec<String> = self
            .placeholders
            .iter()
            .map(|p| format!("{{{}}}", p.name()))
            .collect();
        t += "[client]\n";
        if self.argv {
            let mut args = vec![q("client"), q("{{literal}}")];
            args.extend(holders.iter().map(|h| q(h)));
            if !holders.is_empty() {
                args.push(format!("[{}, {}]", q("--flag"), q(&holders[0])));
            }
            t += &format!("command = [{}]\n", args.join(", "));
        } else {
            t += &format!(
                "command = {}\n",
                q(&format!("client {}", holders.join(" ")))
            );
        }
        t += "\n";
        for o in &self.origins {
            t += &format!("[[origin]]\nname = {}\nhost = {}\n", q(&o.name), q(&o.host));
            if let Some(keys) = &o.keys {
                let keys: Vec<String> = keys.iter().map(|k| q(k)).collect();
                t += &format!("keys = [{}]\n", keys.join(", "));
            }
            t += "\n";
        }
        if let Some(m) = &self.matrix {
            t += "[matrix]\n";
            if m.origins.is_some() {
                let names: Vec<String> = self
                    .matrix_origins(m)
                    .iter()
                    .map(|&i| q(&self.origins[i].name))
                    .collect();
                t += &format!("origins = [{}]\n", names.join(", "));
            }
            if let Some(f) = &m.families {
                let names: Vec<String> = f.iter().map(|f| q(f.name())).collect();
                t += &format!("families = [{}]\n", names.join(", "));
            }
            if let Some(e) = m.missing_pin {
                t += &format!("missing_pin = {}\n", q(e.name()));
            }
            if let Some(c) = m.chain_pins {
                t += &format!("chain_pins = {c}\n");
            }
            t += "\n";
        }
        for c in &self.cases {
            let o = self.case_origin(c);
            let origin = &self.origins[o];
            t += &format!("[[case]]\nname = {}\n", q(&c.name));
            if c.write_origin || self.origins.len() > 1 {
                t += &format!("origin = {}\n", q(&origin.name));
            }
            t += &format!("proxy = {}\n", q(c.proxy));
            if let Some(k) = &c.origin_key {
                let keys = origin.keys();
                t += &format!("origin_key = {}\n", q(&keys[k.index(keys.len())]));
            }
            if !c.pins.is_empty() {
                let pins: Vec<String> = c.pins.iter().map(|p| q(&self.pin(p))).collect();
                t += &format!("pins = [{}]\n", pins.join(", "));
                if c.pinned_host {
                    t += &format!("pinned_host = {}\n", q(&origin.host));
                }
            }
            t += &format!("expect = {}\n", q(c.expect.name()));
            if let Some(s) = c.timeout {
                t += &format!("timeout = \"{s}s\"\n");
            }
            if c.env {
                t += "env = { CASE_NAME = \"{case}\" }\n";
            }
            t += "\n";
        }
        t
    }

    /// The number of cases the file expands to, or the field of the error it must give.
    fn expected(&self) -> Result<usize, &'static str> {
        let mut count = 0;
        if let Some(m) = &self.matrix {
            let selected = self.matrix_origins(m);
            let (families, given) = match &m.families {
                Some(f) => (f.clone(), true),
                None => (Family::ALL.to_vec(), false),
            };
            for f in families {
                let skip = match f {
                    Family::MissingPin => self.origins.len() < 2,
                    Family::Rotated => selected.iter().any(|&o| self.origins[o].keys().len() < 2),
                    // A leaf-only client cannot be fooled by smuggled CA certificates.
                    Family::SmuggleChain => m.chain_pins == Some(false),
                    _ => false,
                };
                if skip {
                    if given {
                        return Err("matrix");
                    }
                    continue;
                }
                if (f == Family::MissingPin && m.missing_pin.is_none())
                    || (matches!(f, Family::Chain | Family::SmuggleChain) && m.chain_pins.is_none())
                {
                    return Err("matrix");
                }
                let per_origin = match f {
                    Family::Pinned | Family::Unpinned | Family::MissingPin => 2,
                    Family::Rotated => 3,
                    Family::Chain => 4,
                    Family::SmuggleChain => 2,
                };
                count += per_origin * selected.len();
            }
        }
        count += self.cases.len();
        if count == 0 {
            return Err("no cases");
        }
        Ok(count)
    }
}

proptest! {
    #![proptest_config(cfg(400))]

    /// A generated valid file parses to the cases the matrix table and its `[[case]]`s say
    /// (or to the one error they make certain), with unique names and resolved references.
    #[test]
    fn a_generated_suite_parses_to_its_cases(m in suite_m()) {
        let text = m.render();
        match (m.expected(), parse_suite(&text)) {
            (Ok(n), Ok(suite)) => {
                prop_assert_eq!(suite.cases.len(), n, "{}", text);
                prop_assert_eq!(suite.origins.len(), m.origins.len());
                let names: BTreeSet<&str> = suite.cases.iter().map(|c| c.name.as_str()).collect();
                prop_assert_eq!(names.len(), n, "case names are unique");
                for c in &m.cases {
                    prop_assert!(names.contains(c.name.as_str()), "{} missing", c.name);
                }
                let own = &suite.cases[n - m.cases.len()..];
                for (got, want) in own.iter().zip(&m.cases) {
                    prop_assert_eq!(&got.name, &want.name);
                    prop_assert_eq!(got.origin, m.case_origin(want));
                    prop_assert_eq!(got.expect, want.expect);
                    prop_assert_eq!(got.pins.len(), want.pins.len());
                    prop_assert_eq!(got.timeout, want.timeout.map(|s| Duration::from_secs(s.into())));
                }
                if let Some(name) = &m.name {
                    prop_assert_eq!(&suite.name, name);
                }
            }
            (Err(field), Err(e)) => {
                check_file_error(SUITE_FILE, &text, &e)?;
                prop_assert!(e.contains(field), "expected a {} error, got {}\n{}", field, e, text);
            }
            (want, got) => prop_assert!(
                false,
                "expected {:?}, got {:?}\n{}",
                want,
                got.map(|s| s.cases.len()),
                text
            ),
        }
    }

    /// Byte-level mutations of a valid file never panic, and every error is one
    /// `suite.toml:LINE: ...` line.
    #[test]
    fn a_mutated_suite_never_panics_and_errors_are_one_line(
        mutations in proptest::collection::vec(mutation(), 1..6)
    ) {
        check_scenario(&mutate(VALID_SUITE, &mutations))?;
    }

    /// The same for mutations of generated suites (other shapes than `VALID_SUITE`).
    #[test]
    fn a_mutated_generated_suite_never_panics(
        m in suite_m(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        check_scenario(&mutate(&m.render(), &mutations))?;
    }

    /// Arbitrary text never panics the parser.
    #[test]
    fn any_text_is_a_suite_or_a_one_line_error(text in messy_string()) {
        check_scenario(&text)?;
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Templates
// ---------------------------------------------------------------------------------------------

fn values() -> impl Strategy<Value = Values> {
    proptest::collection::btree_map(
        proptest::sample::select(Placeholder::ALL.to_vec()),
        prop_oneof![3 => "[ -~]{0,8}", 1 => any::<String>()],
        0..8,
    )
}

/// A piece of a template: text without braces or `$`, an escaped brace, or a placeholder.
#[derive(Clone, Debug)]
enum Piece {
    Text(String),
    Open,
    Close,
    Value(Placeholder),
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        3 => "[^{}$]{0,8}".prop_map(Piece::Text),
        1 => Just(Piece::Open),
        1 => Just(Piece::Close),
        2 => proptest::sample::select(Placeholder::ALL.to_vec()).prop_map(Piece::Value),
    ]
}

proptest! {
    #![proptest_config(cfg(500))]

    #[test]
    fn template_parse_never_panics(text in messy_string(), values in values()) {
        match Template::parse(&text) {
            Ok(t) => {
                prop_assert_eq!(t.source(), text.as_str());
                let _ = t.render(&values);
                let _ = t.has_empty_value(&values);
            }
            Err(e) => check_value_error(&e)?,
        }
    }

    #[test]
    fn text_without_braces_renders_to_itself(text in "[^{}]{0,40}", values in values()) {
        let t = Template::parse(&text).unwrap();
        prop_assert_eq!(t.render(&values), text.clone());
        prop_assert!(!t.has_empty_value(&values));
    }

    /// `{{`/`}}` are literal braces and `{name}` is the value (empty when missing), however the
    /// pieces are put together.
    #[test]
    fn escapes_and_placeholders_render(
        pieces in proptest::collection::vec(piece(), 0..12),
        values in values(),
    ) {
        let mut source = String::new();
        let mut expected = String::new();
        let mut empty = false;
        for p in &pieces {
            match p {
                Piece::Text(s) => {
                    source += s;
                    expected += s;
                }
                Piece::Open => {
                    source += "{{";
                    expected += "{";
                }
                Piece::Close => {
                    source += "}}";
                    expected += "}";
                }
                Piece::Value(p) => {
                    source += &format!("{{{}}}", p.name());
                    let v = values.get(p).map_or("", String::as_str);
                    expected += v;
                    empty |= v.is_empty();
                }
            }
        }
        let t = Template::parse(&source).unwrap();
        prop_assert_eq!(t.render(&values), expected);
        prop_assert_eq!(t.has_empty_value(&values), empty);
    }

    #[test]
    fn every_placeholder_renders_its_value(
        p in proptest::sample::select(Placeholder::ALL.to_vec()),
        value in any::<String>(),
        before in "[^{}$]{0,6}",
        after in "[^{}$]{0,6}",
    ) {
        let t = Template::parse(&format!("{before}{{{}}}{after}", p.name())).unwrap();
        let mut v = Values::new();
        v.insert(p, value.clone());
        prop_assert_eq!(t.render(&v), format!("{before}{value}{after}"));
        prop_assert_eq!(t.render(&Values::new()), format!("{before}{after}"));
        prop_assert_eq!(p.env(), format!("PIN_PROXY_{}", p.name().to_ascii_uppercase()));
    }

    /// A shell's `${...}` (nested braces included) is left as written.
    #[test]
    fn shell_expansions_are_left_alone(inner in "[^{}$]{0,6}", nested in "[^{}$]{0,6}") {
        let text = format!("${{{inner}${{{nested}}}}} {{url}}");
        let t = Template::parse(&text).unwrap();
        let mut v = Values::new();
        v.insert(Placeholder::Url, "U".into());
        prop_assert_eq!(t.render(&v), format!("${{{inner}${{{nested}}}}} U"));
    }

    /// An argv group is dropped exactly when one of its placeholders has no value.
    #[test]
    fn argv_groups_vanish_when_a_value_is_empty(
        group in proptest::collection::vec(proptest::sample::select(Placeholder::ALL.to_vec()), 1..4),
        values in values(),
    ) {
        let templates: Vec<Template> = group
            .iter()
            .map(|p| Template::parse(&format!("{{{}}}", p.name())).unwrap())
            .collect();
        let cmd = Command::Argv(vec![
            Arg::One(Template::parse("client").unwrap()),
            Arg::Group(templates),
        ]);
        let argv = cmd.argv(&values);
        let kept = group.iter().all(|p| values.get(p).is_some_and(|v| !v.is_empty()));
        prop_assert_eq!(argv.len(), if kept { 1 + group.len() } else { 1 });
        prop_assert_eq!(&argv[0], "client");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Host rules, `--profile`, `--map` and the rules file
// ---------------------------------------------------------------------------------------------

/// A host name: labels of letters, digits and `-`.
fn host() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-zA-Z0-9-]{1,8}", 1..4).prop_map(|l| l.join("."))
}

/// A reference wildcard matcher: `*` any run (empty included), `?` exactly one byte, ASCII
/// case ignored. Exponential, for short inputs only.
fn reference_match(p: &[u8], h: &[u8]) -> bool {
    match (p.first(), h.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            reference_match(&p[1..], h) || (!h.is_empty() && reference_match(p, &h[1..]))
        }
        (Some(b'?'), Some(_)) => reference_match(&p[1..], &h[1..]),
        (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => reference_match(&p[1..], &h[1..]),
        _ => false,
    }
}

proptest! {
    #![proptest_config(cfg(1000))]

    #[test]
    fn host_glob_parse_never_panics(pattern in messy_string(), host in messy_string()) {
        let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_*?:[]".contains(c);
        let trimmed = pattern.trim();
        match HostGlob::parse(&pattern) {
            Ok(g) => {
                prop_assert!(!trimmed.is_empty() && trimmed.chars().all(allowed));
                prop_assert_eq!(g.as_str(), trimmed.to_ascii_lowercase());
                let _ = g.matches(&host);
            }
            Err(e) => {
                prop_assert!(trimmed.is_empty() || !trimmed.chars().all(allowed));
                check_value_error(&e)?;
            }
        }
    }

    #[test]
    fn an_exact_host_matches_itself_in_any_case(h in host(), other in host()) {
        let g = HostGlob::parse(&h).unwrap();
        prop_assert!(g.is_exact());
        prop_assert!(g.matches(&h));
        prop_assert!(g.matches(&h.to_uppercase()));
        prop_assert!(g.matches(&h.to_lowercase()));
        prop_assert_eq!(g.matches(&other), other.eq_ignore_ascii_case(&h));
        let (dotted, sub) = (format!("{h}."), format!("x.{h}"));
        prop_assert!(!g.matches(&dotted));
        prop_assert!(!g.matches(&sub));
    }

    /// `*.x` matches `a.x` and `a.b.x` but not `x` (README, "Rules").
    #[test]
    fn a_star_dot_glob_matches_subdomains_only(x in host(), a in host()) {
        let g = HostGlob::parse(&format!("*.{x}")).unwrap();
        prop_assert!(!g.is_exact());
        let (one, two) = (format!("{a}.{x}"), format!("{a}.{a}.{}", x.to_uppercase()));
        prop_assert!(g.matches(&one));
        prop_assert!(g.matches(&two));
        prop_assert!(!g.matches(&x));
        prop_assert!(HostGlob::parse("*").unwrap().matches(&a));
    }

    /// The matcher agrees with a naive recursive one (small alphabet so that stars and
    /// question marks meet real matches; hosts may hold `*` and `?` too: a client's SNI or
    /// CONNECT host is whatever it sends).
    #[test]
    fn host_glob_matches_like_the_reference(pattern in "[ab.*?]{1,8}", host in "[abAB.*?]{0,10}") {
        let g = HostGlob::parse(&pattern).unwrap();
        prop_assert_eq!(
            g.matches(&host),
            reference_match(pattern.as_bytes(), host.as_bytes()),
            "{} vs {}",
            pattern,
            host
        );
    }

    /// Precedence does not depend on the order the rules are given in when specificities
    /// differ; an exact host beats every glob.
    #[test]
    fn the_most_specific_rule_wins_in_any_order(
        h in host(),
        rotate in any::<Index>(),
    ) {
        let labels: Vec<&str> = h.split('.').collect();
        let mut list = vec![
            Rule { hosts: HostGlob::parse("*").unwrap(), action: Action::Passthrough },
            Rule { hosts: HostGlob::parse(&h).unwrap(), action: Action::Intercept(Profile::Expired) },
        ];
        if labels.len() > 1 {
            list.push(Rule {
                hosts: HostGlob::parse(&format!("*.{}", labels[1..].join("."))).unwrap(),
                action: Action::Intercept(Profile::SelfSigned),
            });
        }
        let n = list.len();
        list.rotate_left(rotate.index(n));
        let rules = Rules::new(list);
        prop_assert_eq!(rules.action_for(&h.to_uppercase()), Action::Intercept(Profile::Expired));
        prop_assert_eq!(rules.action_for(&format!("{h}_")), Action::Passthrough);
        if labels.len() > 1 {
            prop_assert_eq!(
                rules.action_for(&format!("not_h.{}", labels[1..].join("."))),
                Action::Intercept(Profile::SelfSigned)
            );
        }
    }

    #[test]
    fn parse_profile_never_panics(spec in messy_string()) {
        match Rule::parse_profile(&spec) {
            Ok(r) => prop_assert!(matches!(r.action, Action::Intercept(_))),
            Err(e) => check_value_error(&e)?,
        }
    }

    #[test]
    fn parse_profile_accepts_glob_eq_profile(
        g in "[a-z0-9*?.-]{1,10}",
        p in proptest::sample::select(Profile::ALL.to_vec()),
        upper in any::<bool>(),
    ) {
        let name = if upper { p.name().to_uppercase() } else { p.name().to_string() };
        let r = Rule::parse_profile(&format!(" {g} = {name} ")).unwrap();
        prop_assert_eq!(r.hosts.as_str(), g.as_str());
        prop_assert_eq!(r.action, Action::Intercept(p));
    }

    #[test]
    fn host_map_parse_never_panics(spec in messy_string()) {
        match HostMap::parse(&spec) {
            Ok(m) => prop_assert!(!m.host.is_empty()),
            Err(e) => check_value_error(&e)?,
        }
    }

    #[test]
    fn host_map_parses_what_it_documents(
        h in host(),
        port in prop::option::of(any::<u16>()),
        ip in any::<std::net::IpAddr>(),
        to_port in any::<u16>(),
    ) {
        let to = std::net::SocketAddr::new(ip, to_port);
        let from = match port {
            Some(p) => format!("{h}:{p}"),
            None => h.clone(),
        };
        let m = HostMap::parse(&format!("{from}={to}")).unwrap();
        prop_assert_eq!(&m.host, &h.to_ascii_lowercase());
        prop_assert_eq!(m.port, port);
        prop_assert_eq!(m.to, to);
        let found = rules::mapped_addr(std::slice::from_ref(&m), &h.to_uppercase(), port.unwrap_or(443));
        prop_assert_eq!(found, Some(to));
    }
}

const RULES_FILE: &str = "rules.toml";

#[derive(Clone, Debug)]
struct RuleM {
    glob: String,
    action: Option<bool>,
    profile: Option<Profile>,
    literal_strings: bool,
    comment: bool,
}

fn rule_m() -> impl Strategy<Value = RuleM> {
    (
        "[a-zA-Z0-9*?._-]{1,12}",
        prop::option::of(any::<bool>()),
        prop::option::of(proptest::sample::select(Profile::ALL.to_vec())),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(glob, action, profile, literal_strings, comment)| RuleM {
            glob,
            // A passthrough rule presents no certificate: keep generated files valid.
            profile: if action == Some(false) { None } else { profile },
            action,
            literal_strings,
            comment,
        })
}

fn render_rules(rules: &[RuleM]) -> String {
    let mut t = String::from("# generated\n");
    for r in rules {
        let s = |v: &str| {
            if r.literal_strings {
                format!("'{v}'")
            } else {
                format!("\"{v}\"")
            }
        };
        t += "\n[[rule]]\n";
        if r.comment {
            t += "# a comment\n";
        }
        t += &format!("hosts = {}\n", s(&r.glob));
        match r.action {
            Some(true) => t += &format!("action = {}\n", s("intercept")),
            Some(false) => t += &format!("action = {}\n", s("passthrough")),
            None => {}
        }
        if let Some(p) = r.profile {
            t += &format!("profile = {}\n", s(p.name()));
        }
    }
    t
}

const VALID_RULES: &str = "[[rule]]\nhosts = \"*.cdn.example.com\"\naction = \"passthrough\"\n\n[[rule]]\nhosts = \"api.example.com\"\nprofile = \"expired\"\n\n[[rule]]\nhosts = 'x?.test'\naction = 'intercept'\nprofile = 'self-signed'\n";

fn check_rules_file(text: &str) -> Result<(), TestCaseError> {
    match rules::file::parse(RULES_FILE, text) {
        Ok(rules) => {
            for r in rules {
                prop_assert!(!r.hosts.as_str().is_empty());
            }
        }
        Err(e) => check_file_error(RULES_FILE, text, &e)?,
    }
    Ok(())
}

proptest! {
    #![proptest_config(cfg(500))]

    #[test]
    fn a_generated_rules_file_round_trips(list in proptest::collection::vec(rule_m(), 0..6)) {
        let text = render_rules(&list);
        let parsed = rules::file::parse(RULES_FILE, &text).unwrap();
        prop_assert_eq!(parsed.len(), list.len());
        for (got, want) in parsed.iter().zip(&list) {
            prop_assert_eq!(got.hosts.as_str(), want.glob.to_ascii_lowercase());
            let action = match want.action {
                Some(false) => Action::Passthrough,
                _ => Action::Intercept(want.profile.unwrap_or(Profile::Forged)),
            };
            prop_assert_eq!(got.action, action);
        }
    }

    #[test]
    fn a_mutated_rules_file_never_panics(
        list in proptest::collection::vec(rule_m(), 1..4),
        mutations in proptest::collection::vec(mutation(), 1..5),
    ) {
        check_rules_file(&mutate(&render_rules(&list), &mutations))?;
        check_rules_file(&mutate(VALID_RULES, &mutations))?;
    }

    #[test]
    fn any_text_is_a_rules_file_or_a_one_line_error(text in messy_string()) {
        check_rules_file(&text)?;
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Pins and PEM
// ---------------------------------------------------------------------------------------------

fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut t = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        t += std::str::from_utf8(chunk).unwrap();
        t += "\n";
    }
    t += &format!("-----END {label}-----\n");
    t
}

/// One real certificate (an in-memory CA), made once.
fn real_cert() -> &'static (Vec<u8>, String, String) {
    static CERT: std::sync::OnceLock<(Vec<u8>, String, String)> = std::sync::OnceLock::new();
    CERT.get_or_init(|| {
        let ca =
            pin_proxy::ca::CertificateAuthority::ephemeral(pin_proxy::ca::KeyType::EcdsaP256, "p")
                .unwrap();
        (
            ca.cert_der().to_vec(),
            ca.cert_pem().to_string(),
            ca.pin().to_string(),
        )
    })
}

#[test]
fn a_real_certificate_has_the_pin_of_its_key() {
    let (der, pem, pin) = real_cert();
    assert_eq!(&pins::cert_pin(der).unwrap(), pin);
    assert_eq!(pins::spki_pin(&pins::cert_spki(der).unwrap()), *pin);
    let certs = pins::pem_certs(pem.as_bytes()).unwrap();
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0].as_ref(), &der[..]);
}

proptest! {
    #![proptest_config(cfg(600))]

    #[test]
    fn pin_functions_never_panic_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Err(e) = pins::pem_certs(&bytes) {
            check_value_error(&e)?;
        }
        match pins::cert_pin(&bytes) {
            Ok(p) => prop_assert!(pins::is_pin(&p)),
            Err(e) => check_value_error(&e)?,
        }
        let _ = pins::is_pin(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn spki_pin_is_always_a_pin(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let pin = pins::spki_pin(&bytes);
        prop_assert!(pins::is_pin(&pin), "{}", pin);
        prop_assert_eq!(pin.len(), 44);
    }

    #[test]
    fn is_pin_means_base64_of_32_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        prop_assert_eq!(pins::is_pin(&b64), bytes.len() == 32);
        let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&bytes);
        if unpadded != b64 {
            prop_assert!(!pins::is_pin(&unpadded));
        }
    }

    /// A CERTIFICATE block gives back exactly its bytes (parsing them is `cert_pin`'s job).
    #[test]
    fn pem_blocks_round_trip(ders in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..100), 1..4)) {
        let text: String = ders.iter().map(|d| pem_block("CERTIFICATE", d)).collect();
        let certs = pins::pem_certs(text.as_bytes()).unwrap();
        prop_assert_eq!(certs.len(), ders.len());
        for (c, d) in certs.iter().zip(&ders) {
            prop_assert_eq!(c.as_ref(), &d[..]);
        }
        let other = pem_block("PRIVATE KEY", &ders[0]);
        prop_assert!(pins::pem_certs(other.as_bytes()).is_err());
    }

    /// Mutations of a real certificate (DER and PEM) never panic the parsers.
    #[test]
    fn a_mutated_certificate_never_panics(mutations in proptest::collection::vec(mutation(), 1..6)) {
        let (der, pem, _) = real_cert();
        let mut b = der.clone();
        for m in &mutations {
            if let Mutation::Set(i, v) = m {
                let i = i.index(b.len());
                b[i] = *v;
            }
        }
        if let Ok(p) = pins::cert_pin(&b) {
            prop_assert!(pins::is_pin(&p));
        }
        let text = mutate(pem, &mutations);
        if let Ok(certs) = pins::pem_certs(text.as_bytes()) {
            for c in certs {
                let _ = pins::cert_pin(c.as_ref());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Durations
// ---------------------------------------------------------------------------------------------

const YEAR: Duration = Duration::from_secs(365 * 86_400);

proptest! {
    #![proptest_config(cfg(1000))]

    #[test]
    fn duration_parse_never_panics_and_stays_within_a_year(
        s in prop_oneof![messy_string(), "[0-9.]{0,12}(ms|s|m|h|d|)", "[ ]?[0-9]{1,6}(\\.[0-9]{0,4})?(ms|s|m|h|d)[ ]?"]
    ) {
        match duration::parse(&s) {
            Ok(d) => prop_assert!(d <= YEAR, "{:?} -> {:?}", s, d),
            Err(e) => check_value_error(&e)?,
        }
    }

    #[test]
    fn whole_units_parse_exactly(secs in 0u64..=365 * 86_400, pad in "[ \t]{0,2}") {
        prop_assert_eq!(duration::parse(&format!("{pad}{secs}s{pad}")), Ok(Duration::from_secs(secs)));
        prop_assert_eq!(duration::parse(&format!("{secs}")), Ok(Duration::from_secs(secs)));
        for (unit, size) in [("m", 60), ("h", 3600), ("d", 86_400)] {
            if secs * size <= 365 * 86_400 {
                prop_assert_eq!(duration::parse(&format!("{secs}{unit}")), Ok(Duration::from_secs(secs * size)));
            }
        }
        // Whatever unit a parsed value is written back in, it reads the same.
        let d = Duration::from_secs(secs);
        prop_assert_eq!(duration::parse(&duration::display(d)), Ok(d));
        let too_long = format!("{}s", secs + 365 * 86_400 + 1);
        prop_assert!(duration::parse(&too_long).is_err());
    }

    #[test]
    fn milliseconds_parse_exactly(ms in 0u64..=86_400_000) {
        prop_assert_eq!(duration::parse(&format!("{ms}ms")), Ok(Duration::from_millis(ms)));
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Signed pin configs
// ---------------------------------------------------------------------------------------------

const PIN_SOURCE: &str = "pins.toml";
const PIN_SOURCE_TEXT: &str = "version = 3\nvalid_for = \"7d\"\n\n[hosts.\"api.example.test\"]\npins = [\"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\", \"sha256//7DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"]\ninclude_subdomains = false\n\n[hosts.\"cdn.example.test\"]\npins = [\"sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"]\ninclude_subdomains = true\n";
const PIN_NOW: u64 = 1_800_000_000;

fn check_pin_source(text: &str) -> Result<(), TestCaseError> {
    match pin_config::source::parse(std::path::Path::new(PIN_SOURCE), text) {
        Ok(source) => {
            prop_assert!(source.version > 0);
            prop_assert_eq!(source.payload(PIN_NOW).check(), Ok(()));
        }
        Err(e) => {
            prop_assert_eq!(e.exit_code(), pin_proxy::error::exit::INVALID_INPUT);
            check_file_error(PIN_SOURCE, text, &e.to_string())?;
        }
    }
    Ok(())
}

/// One Ed25519 and one P-256 key, a JWS of the source's payload by each, and a Wultra file by
/// the P-256 key; made once.
struct Signed {
    keys: Vec<pin_config::SigningKey>,
    payload: pin_config::Payload,
    jws: Vec<String>,
    wultra: String,
    wultra_entries: Vec<pin_config::wultra::Entry>,
}

fn signed() -> &'static Signed {
    static SIGNED: std::sync::OnceLock<Signed> = std::sync::OnceLock::new();
    SIGNED.get_or_init(|| {
        use pin_config::source::{Certificate, HostPins};
        let source =
            pin_config::source::parse(std::path::Path::new(PIN_SOURCE), PIN_SOURCE_TEXT).unwrap();
        let payload = source.payload(PIN_NOW);
        let keys: Vec<_> = [pin_config::KeyType::Ed25519, pin_config::KeyType::EcdsaP256]
            .into_iter()
            .map(|t| pin_config::SigningKey::generate(t).unwrap())
            .collect();
        let jws = keys
            .iter()
            .map(|k| pin_config::jws::sign(&payload, k).unwrap())
            .collect();
        // A Wultra source needs certificates; these are made up (only their hashes matter).
        let cert = |name: &str, byte: u8| Certificate {
            file: name.into(),
            line: 1,
            position: 0,
            common_name: Some(name.to_string()),
            not_after: PIN_NOW + 86_400,
            spki_pin: base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                [byte; 32],
            ),
            cert_hash: base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                [byte ^ 0xff; 32],
            ),
        };
        let mut wultra_source = source.clone();
        wultra_source.hosts = ["a.test", "b.test", "c.test"]
            .iter()
            .zip(1u8..)
            .map(|(host, byte)| {
                let c = cert(host, byte);
                let pins = HostPins {
                    pins: vec![c.spki_pin.clone()],
                    cert_hashes: vec![c.cert_hash.clone()],
                    include_subdomains: false,
                    certificates: vec![c],
                    line: 1,
                };
                (host.to_string(), pins)
            })
            .collect();
        let wultra =
            pin_config::wultra::sign_fingerprints(&wultra_source, &keys[1], PIN_NOW).unwrap();
        let wultra_entries = pin_config::wultra::entries(&wultra_source, PIN_NOW).unwrap();
        Signed {
            keys,
            payload,
            jws,
            wultra,
            wultra_entries,
        }
    })
}

proptest! {
    #![proptest_config(cfg(300))]

    #[test]
    fn any_text_is_a_pin_config_source_or_a_one_line_error(text in messy_string()) {
        check_pin_source(&text)?;
    }

    #[test]
    fn a_mutated_pin_config_source_never_panics(
        mutations in proptest::collection::vec(mutation(), 1..5),
    ) {
        check_pin_source(&mutate(PIN_SOURCE_TEXT, &mutations))?;
    }

    /// A changed JWS is refused, or (whitespace around it) says exactly what was signed.
    #[test]
    fn a_mutated_jws_is_refused_or_says_what_was_signed(
        which in 0usize..2,
        mutations in proptest::collection::vec(mutation(), 1..4),
        now in prop_oneof![Just(PIN_NOW), any::<u64>()],
    ) {
        let s = signed();
        let text = mutate(&s.jws[which], &mutations);
        for key in &s.keys {
            match pin_config::jws::verify(&text, key.verifying_key(), now) {
                Ok(payload) => {
                    prop_assert_eq!(&payload, &s.payload);
                    prop_assert_eq!(key.kid(), s.keys[which].kid());
                }
                Err(refusal) => prop_assert!(!refusal.to_string().contains(['\n', '\r'])),
            }
        }
    }

    /// Whatever is changed in a Wultra file, only entries that were signed are accepted.
    #[test]
    fn a_mutated_wultra_file_accepts_only_signed_entries(
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let s = signed();
        let text = mutate(&s.wultra, &mutations);
        match pin_config::wultra::verify_fingerprints(text.as_bytes(), s.keys[1].verifying_key(), PIN_NOW) {
            Ok(got) => {
                for entry in &got.entries {
                    prop_assert!(s.wultra_entries.contains(entry), "{:?}", entry);
                }
            }
            Err(refusal) => prop_assert!(!refusal.to_string().contains(['\n', '\r'])),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions: inputs found by these properties or by the fuzz targets in fuzz/
// ---------------------------------------------------------------------------------------------

/// Deep nesting is a one-line error, not a stack overflow (toml's recursion limit).
#[test]
fn deeply_nested_toml_is_a_one_line_error() {
    for text in [
        format!("[client]\ncommand = {}", "[".repeat(20_000)),
        format!(
            "[client]\ncommand = {}{}\n",
            "[".repeat(2_000),
            "]".repeat(2_000)
        ),
        format!("[client]\ncommand = {}", "{ a = ".repeat(5_000)),
    ] {
        let e = parse_suite(&text).unwrap_err();
        assert!(e.starts_with("suite.toml:2: ") && !e.contains('\n'), "{e}");
    }
    let e = rules::file::parse(RULES_FILE, &format!("a = {}", "[".repeat(100_000))).unwrap_err();
    assert!(e.starts_with("rules.toml:1: ") && !e.contains('\n'), "{e}");
    let e = pin_config::source::parse(
        std::path::Path::new(PIN_SOURCE),
        &format!("version = {}", "[".repeat(100_000)),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("pins.toml:1: ") && !e.contains('\n'), "{e}");
}

/// Bug: an unknown placeholder's name is written raw into the error, so a name with a line
/// break (`"{\n}"` in TOML) gives an error of several lines (src/scenario/template.rs,
/// `Template::parse`, the `unknown placeholder {{{name}}}` message; reached from
/// `client.command`, `client.env` and `case.env` in src/scenario/parse.rs).
#[test]
fn bug_unknown_placeholder_error_is_one_line() {
    let e = Template::parse("{\n}").unwrap_err();
    assert!(!e.contains('\n'), "{e:?}");
    let e = Template::parse("{a\rb}").unwrap_err();
    assert!(!e.contains('\r'), "{e:?}");
    let text = "[client]\ncommand = \"{\\n}\"\n[[origin]]\nname = \"api\"\nhost = \"a.test\"\n[[case]]\nname = \"x\"\nproxy = \"intercept\"\nexpect = \"cancelled\"\n";
    let e = parse_suite(text).unwrap_err();
    assert!(
        e.starts_with("suite.toml:2: client.command: unknown placeholder") && !e.contains('\n'),
        "{e:?}"
    );
}

/// Bug: TOML errors are written with `e.message()`, which quotes an unknown key raw
/// (serde's "unknown field `a\nb`"), so a quoted key with a line break gives an error of several
/// lines (src/scenario/parse.rs `parse` and src/rules/file.rs `parse`, the `toml::from_str`
/// error mapping).
#[test]
fn bug_unknown_key_error_is_one_line() {
    let e = parse_suite("[client]\ncommand = \"x\"\n\"a\\nb\" = 1\n").unwrap_err();
    assert!(
        e.starts_with("suite.toml:3: ") && !e.contains('\n'),
        "{e:?}"
    );
    let e = rules::file::parse(RULES_FILE, "[[rule]]\nhosts = \"a\"\n\"c\\nd\" = 1\n").unwrap_err();
    assert!(
        e.starts_with("rules.toml:3: ") && !e.contains('\n'),
        "{e:?}"
    );
    let e = rules::file::parse(RULES_FILE, "\"c\\rd\" = 1\n").unwrap_err();
    assert!(
        e.starts_with("rules.toml:1: ") && !e.contains('\r'),
        "{e:?}"
    );
}

/// Bug: `[matrix] origins` may name an origin twice, and its cases are then generated twice
/// under the same names, although a suite's case names are unique (src/scenario/model.rs
/// `Case::name`; `[[case]]` duplicates are refused and `families` are deduplicated, but
/// src/scenario/parse.rs `Parser::matrix` keeps repeated origins and src/scenario/matrix.rs
/// `expand` expands each occurrence).
#[test]
fn bug_repeated_matrix_origin_gives_unique_cases_or_an_error() {
    let text = "[client]\ncommand = \"x\"\n[[origin]]\nname = \"api\"\nhost = \"a.test\"\n[matrix]\norigins = [\"api\", \"api\"]\nfamilies = [\"pinned\"]\n";
    match parse_suite(text) {
        Ok(suite) => {
            let names: BTreeSet<&str> = suite.cases.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(
                names.len(),
                suite.cases.len(),
                "duplicate case names: {names:?}"
            );
        }
        Err(e) => assert!(e.starts_with("suite.toml:7: matrix.origins:"), "{e}"),
    }
}

/// Bug: an OkHttp-style literal pin (`sha256/` + base64) whose base64 starts with `/` (a key
/// hash whose first byte is 0xfc or more: 1 pin in 64) is refused as "neither a reference nor
/// a base64 SHA-256 pin", although the README allows `sha256/` prefixes. The parser strips
/// `sha256//` first and never tries `sha256/` (src/scenario/parse.rs, `Parser::pin`, the
/// `strip_prefix("sha256//").or_else(|| s.strip_prefix("sha256/"))` chain). The two spellings
/// cannot both be pins: their base64 parts differ in length.
#[test]
fn bug_okhttp_pin_starting_with_a_slash_is_a_pin() {
    use base64::Engine as _;
    let mut key_hash = [0u8; 32];
    key_hash[0] = 0xfc;
    let b64 = base64::engine::general_purpose::STANDARD.encode(key_hash);
    assert!(b64.starts_with('/') && pins::is_pin(&b64));
    let text = format!(
        "[client]\ncommand = \"x\"\n[[origin]]\nname = \"api\"\nhost = \"a.test\"\n[[case]]\nname = \"c\"\nproxy = \"intercept\"\npins = [\"sha256/{b64}\"]\nexpect = \"cancelled\"\n"
    );
    let suite = parse_suite(&text).unwrap();
    assert_eq!(
        suite.cases[0].pins,
        [pin_proxy::scenario::model::PinRef::Literal(b64)]
    );
}

/// Bug: `HostGlob::matches` compares a pattern `*` with the host's byte as a literal first, so
/// when the host holds a `*` where the pattern has one, the star is used up as that one
/// character and its backtrack point is lost: `a*b` does not match `a*xb`, `*.bank.test` does
/// not match `*x.bank.test` (src/rules/mod.rs, `HostGlob::matches`: the
/// `p[pi] == b'?' || p[pi] == h[hi]` branch is tried before the `p[pi] == b'*'` one). Hosts come
/// from the client (CONNECT authority, SNI), so such a host escapes a glob rule, e.g. a
/// passthrough rule. Found by fuzz/fuzz_targets/host_glob.rs (`a*b?c*` vs `acdcb?c*\nacd`).
#[test]
fn bug_glob_star_against_a_star_in_the_host() {
    let g = |p: &str| HostGlob::parse(p).unwrap();
    assert!(g("a*b").matches("a*xb"));
    assert!(g("*b").matches("*xb"));
    assert!(g("*.bank.test").matches("*x.bank.test"));
    assert!(g("a*b?c*").matches("acdcb?c*\nacd"));
}
