//! Checks shared by the fuzz targets: the same contracts as `tests/properties.rs`, as panics.

use pin_proxy::record::{RequestRecord, Stage, VerdictKind};
use pin_proxy::verdict::{ClientEnd, Event, Tracker};

/// Panics unless `err` is ONE line `NAME:LINE: message` with LINE in `1..=lines + 1`.
pub fn check_file_error(name: &str, text: &str, err: &str) {
    assert!(
        !err.contains('\n') && !err.contains('\r'),
        "error is not one line: {err:?}"
    );
    let rest = err
        .strip_prefix(name)
        .and_then(|r| r.strip_prefix(':'))
        .unwrap_or_else(|| panic!("error does not start with {name}: {err:?}"));
    let (line, message) = rest
        .split_once(':')
        .unwrap_or_else(|| panic!("no line in {err:?}"));
    let line: usize = line
        .parse()
        .unwrap_or_else(|_| panic!("no line number in {err:?}"));
    let lines = text.lines().count();
    assert!(
        (1..=lines + 1).contains(&line),
        "line {line} outside 1..={} in {err:?}",
        lines + 1
    );
    assert!(
        message.starts_with(' ') && message.len() > 1,
        "no message in {err:?}"
    );
}

/// Panics unless `err` is one non-empty line.
pub fn check_value_error(err: &str) {
    assert!(!err.is_empty(), "empty error");
    assert!(
        !err.contains('\n') && !err.contains('\r'),
        "error is not one line: {err:?}"
    );
}

/// A reference wildcard matcher (`*` any run, `?` one byte, ASCII case ignored), by dynamic
/// programming over (pattern, host) prefixes.
pub fn reference_match(p: &[u8], h: &[u8]) -> bool {
    // m[j] = pattern[..i] matches host[..j]
    let mut m = vec![false; h.len() + 1];
    m[0] = true;
    for &pc in p {
        let mut next = vec![false; h.len() + 1];
        if pc == b'*' {
            let mut any = false;
            for j in 0..=h.len() {
                any |= m[j];
                next[j] = any;
            }
        } else {
            for j in 1..=h.len() {
                next[j] = m[j - 1] && (pc == b'?' || pc.eq_ignore_ascii_case(&h[j - 1]));
            }
        }
        m = next;
    }
    m[h.len()]
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

/// The verdict module's documented invariants over one event transcript (the tracker's state
/// is private, so everything is said about the events). Panics on a violation.
pub fn check_verdict(events: &[Event]) {
    let mut t = Tracker::new();
    t.feed(events.iter().cloned());
    let v = t.verdict();
    assert_eq!(t.verdict(), v, "verdict is a function of the events");
    let mut stopped = t.clone();
    stopped.on(Event::Stopped);
    assert_eq!(stopped.verdict(), v, "Stopped concludes nothing");
    // Listed in the order read; an answer sets the status of the request it names, if listed.
    let mut requests: Vec<RequestRecord> = Vec::new();
    for e in events {
        match e {
            Event::PlainRequest(r) | Event::InstallPage(r) | Event::Request(r) => {
                requests.push(r.clone())
            }
            Event::Answered { index, status } => {
                if let Some(r) = requests.get_mut(*index) {
                    r.status = *status;
                }
            }
            _ => {}
        }
    }
    assert_eq!(t.requests(), &requests[..]);

    let plain = events
        .iter()
        .filter(|e| matches!(e, Event::PlainRequest(_)))
        .count();
    let intercept_first = matches!(
        events
            .iter()
            .find(|e| matches!(e, Event::InterceptOpened | Event::PassthroughOpened)),
        Some(Event::InterceptOpened)
    );
    let first_upstream = events.iter().find_map(|e| match e {
        Event::UpstreamFailed { stage, reason } => Some((*stage, reason.clone())),
        _ => None,
    });
    let done = position(events, 0, |e| matches!(e, Event::HandshakeCompleted));
    let failed = position(events, 0, |e| matches!(e, Event::HandshakeFailed(_)));
    if plain > 0 {
        assert_eq!(v.kind, VerdictKind::Proceeded, "{events:?}");
        assert_eq!(v.reason, plural(plain, "plain-HTTP request"));
    }
    match v.kind {
        VerdictKind::Proceeded => {
            assert_eq!(v.stage, Stage::Request);
            if plain == 0 {
                assert!(intercept_first, "{events:?}");
                let done = done.expect("proceeded without a completed handshake");
                assert!(failed.is_none_or(|f| f > done), "{events:?}");
                let closed = position(events, done, |e| matches!(e, Event::ClientClosed(_)))
                    .unwrap_or(events.len());
                assert!(
                    events[done..closed]
                        .iter()
                        .any(|e| matches!(e, Event::ApplicationData | Event::Request(_))),
                    "proceeded without data: {events:?}"
                );
            }
        }
        VerdictKind::Cancelled => {
            assert!(intercept_first, "{events:?}");
            assert!(
                !events.iter().any(|e| matches!(
                    e,
                    Event::UpstreamFailed { .. }
                        | Event::BadProxyRequest { .. }
                        | Event::PlainRequest(_)
                )),
                "{events:?}"
            );
            match v.stage {
                Stage::Handshake => {
                    let failed = failed.expect("cancelled at handshake without a failure");
                    assert!(
                        events[..failed]
                            .iter()
                            .any(|e| matches!(e, Event::CertificatePresented)),
                        "cancelled without a presented certificate: {events:?}"
                    );
                    assert!(done.is_none_or(|d| d > failed), "{events:?}");
                    let Event::HandshakeFailed(end) = &events[failed] else {
                        unreachable!()
                    };
                    assert_ne!(end, &ClientEnd::TimedOut);
                    assert_eq!(v.reason, end.reason());
                }
                Stage::AfterHandshake => {
                    let done = done.expect("cancelled after a handshake that never completed");
                    assert!(failed.is_none_or(|f| f > done), "{events:?}");
                    let closed = position(events, done, |e| matches!(e, Event::ClientClosed(_)))
                        .expect("cancelled without a close");
                    assert!(
                        !events[done..closed].iter().any(|e| matches!(
                            e,
                            Event::ApplicationData | Event::Request(_) | Event::DecideDeadline
                        )),
                        "cancelled although data or the deadline came first: {events:?}"
                    );
                    let Event::ClientClosed(end) = &events[closed] else {
                        unreachable!()
                    };
                    assert_eq!(v.reason, end.reason());
                }
                other => panic!("cancelled at {other:?}: {events:?}"),
            }
        }
        VerdictKind::Passthrough => {
            assert_eq!(v.stage, Stage::Tunnel);
            assert!(events.iter().any(|e| matches!(e, Event::PassthroughOpened)));
            let data = position(events, 0, |e| {
                matches!(e, Event::ApplicationData | Event::Request(_))
            })
            .unwrap_or(events.len());
            assert!(
                !events[..data]
                    .iter()
                    .any(|e| matches!(e, Event::UpstreamFailed { .. })),
                "passthrough over an upstream failure: {events:?}"
            );
        }
        VerdictKind::UpstreamFailed => {
            assert_eq!(
                Some((v.stage, v.reason.clone())),
                first_upstream,
                "{events:?}"
            );
        }
        VerdictKind::Undecided => assert!(matches!(
            v.stage,
            Stage::Connect | Stage::Handshake | Stage::AfterHandshake
        )),
    }
}
