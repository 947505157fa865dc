//! Judging a case from its evidence: pure, no sockets.
//!
//! The proxy's records and the origin's log decide; the client's exit status is a second
//! opinion whose disagreement is reported, never hidden and never decisive:
//! - **intercept**: any connection that *proceeded* means the traffic was readable; otherwise a
//!   *cancelled* one means the client refused. The meaning of those verdicts lives in `verdict`.
//! - **passthrough**: the proxy cannot see inside, so the origin tells: a request means
//!   proceeded; a handshake (failed, or completed and closed) without one means cancelled.
//!   Against a real upstream there is no origin log: the client's exit status decides (0 is
//!   proceeded, anything else cancelled), and the detail says so.
//! - No connection for the host at all is an error (a client that ignores the proxy, a typo in
//!   the command), never a cancel. So is an unreachable test origin or a client that timed out.

use crate::case_record::{ClientExit, Evidence, Expected, Observed, Status, StepConfig};
use crate::record::VerdictKind;

/// The decision on a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgement {
    /// What the evidence says the client did.
    pub observed: Observed,
    /// The case's result.
    pub status: Status,
    /// One line on how `observed` was reached, or why the case is an error.
    pub detail: String,
    /// Signals that disagree with the decision.
    pub disagreements: Vec<String>,
}

/// What the proxy did with the case's host, and who can tell what the client did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tunnel {
    /// Intercepted: the proxy's records tell (and the test origin's log confirms).
    Intercepted,
    /// Intercepted, in front of a real upstream: the proxy's records tell, with no origin log.
    InterceptedUpstream,
    /// Passed through to a test origin: its log tells.
    ToTestOrigin,
    /// Passed through to a real upstream: only the client's exit status tells.
    ToUpstream,
}

/// Judges a case (or a step) for `host`, whose proxy did `tunnel` with it. When `expected_exit` is given, a client that exits otherwise fails the case
/// even if the observation matches (a step that checks the reference client's exit code).
pub fn judge(
    host: &str,
    tunnel: Tunnel,
    expected: Expected,
    expected_exit: Option<i32>,
    ev: &Evidence,
) -> Judgement {
    let passthrough = matches!(tunnel, Tunnel::ToTestOrigin | Tunnel::ToUpstream);
    let (observed, detail) = observe(host, tunnel, ev);
    let mut disagreements = Vec::new();
    let exit = &ev.client.exit;
    match (observed, exit) {
        (Observed::Proceeded, ClientExit::Exited { code }) if *code != 0 => disagreements.push(
            format!("the client exited with code {code} although its request went through"),
        ),
        (Observed::Cancelled, ClientExit::Exited { code: 0 }) => disagreements
            .push("the client exited with code 0 although it sent no request".to_string()),
        _ => {}
    }
    if !passthrough {
        let count = |k: VerdictKind| ev.connections.iter().filter(|c| c.verdict == k).count();
        let (cancelled, proceeded) = (count(VerdictKind::Cancelled), count(VerdictKind::Proceeded));
        if cancelled > 0 && proceeded > 0 {
            disagreements.push(format!(
                "{cancelled} connection(s) cancelled and {proceeded} proceeded: a retry that \
                 gave up pinning?"
            ));
        }
        let read: usize = ev.connections.iter().map(|c| c.requests.len()).sum();
        if read > 0 && ev.origin_requests.is_empty() && tunnel == Tunnel::Intercepted {
            disagreements.push(format!(
                "the proxy read {read} request(s) but the origin logged none"
            ));
        }
    }
    let (status, detail) = match (exit, observed) {
        (ClientExit::TimedOut { after_ms }, _) => (
            Status::Error,
            format!(
                "the client did not finish within {} and was killed; so far: {detail}",
                human_ms(*after_ms)
            ),
        ),
        // A client that refuses before it connects (a pin config that fails closed) shows no
        // connection at all: that is its cancel only when the step expects it, by exit code.
        (ClientExit::Exited { code }, Observed::NoConnection)
            if expected == Expected::Cancelled && *code != 0 && expected_exit == Some(*code) =>
        {
            (
                Status::Passed,
                format!("the client exited with code {code} before connecting to {host}, as the step expects"),
            )
        }
        (_, Observed::NoConnection | Observed::UpstreamFailed) => (Status::Error, detail),
        (ClientExit::Exited { code }, o) if o.matches(expected) => match expected_exit {
            Some(want) if want != *code => (
                Status::Failed,
                format!(
                    "{detail}; but the client exited with code {code}, not the {want} expected"
                ),
            ),
            _ => (Status::Passed, detail),
        },
        (_, o) if o.matches(expected) && expected_exit.is_none() => (Status::Passed, detail),
        (ClientExit::Signalled { signal }, o) if o.matches(expected) => (
            Status::Failed,
            format!(
                "{detail}; but the client was killed by signal {signal}, not exit {}",
                expected_exit.unwrap_or(0)
            ),
        ),
        (_, Observed::Proceeded) if expected == Expected::Cancelled && smuggled(ev) => (
            Status::Failed,
            format!("{SMUGGLED}: {detail}"),
        ),
        _ => (Status::Failed, detail),
    };
    Judgement {
        observed,
        status,
        detail,
        disagreements,
    }
}

/// Why a client that proceeds through `smuggle-chain` while it should not is exposed.
pub const SMUGGLED: &str = "exposed: pins matched a certificate that was sent but not part of \
     the verified chain (the CVE-2016-2402 class)";

/// Whether a connection of the case proceeded through a `smuggle-chain` leaf.
fn smuggled(ev: &Evidence) -> bool {
    ev.connections.iter().any(|c| {
        c.verdict == VerdictKind::Proceeded
            && c.profile == Some(crate::rules::Profile::SmuggleChain)
    })
}

/// The pin config a client said it used: from the last line of its stdout, its `--json`
/// object (`pin_config.version`, `pin_config.source`). `None` when stdout holds no such object.
pub fn client_config(stdout: &str) -> Option<StepConfig> {
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty())?;
    let value: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
    let config = value.get("pin_config")?;
    Some(StepConfig {
        version: config.get("version").and_then(serde_json::Value::as_u64),
        source: config
            .get("source")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("none")
            .to_string(),
        refused: ["refused", "fetch_error"]
            .iter()
            .find_map(|k| config.get(*k).and_then(serde_json::Value::as_str))
            .map(str::to_string),
    })
}

/// A step's judgement with its pin-config expectations applied: a passed step whose client
/// used another config version, or one from elsewhere, fails.
pub fn check_config(
    mut j: Judgement,
    want_version: Option<u64>,
    want_source: Option<&str>,
    seen: Option<&StepConfig>,
) -> Judgement {
    if j.status != Status::Passed || (want_version.is_none() && want_source.is_none()) {
        return j;
    }
    let Some(seen) = seen else {
        j.status = Status::Failed;
        j.detail = format!(
            "{}; but the client printed no --json result with a pin_config to check",
            j.detail
        );
        return j;
    };
    let mut wrong = Vec::new();
    if let Some(v) = want_version {
        if seen.version != Some(v) {
            let got = seen
                .version
                .map_or_else(|| "none".to_string(), |g| g.to_string());
            wrong.push(format!("config version {got}, not {v}"));
        }
    }
    if let Some(s) = want_source {
        if seen.source != s {
            wrong.push(format!("config from {}, not {s}", seen.source));
        }
    }
    if !wrong.is_empty() {
        j.status = Status::Failed;
        j.detail = format!("{}; but the client used {}", j.detail, wrong.join(" and "));
    }
    j
}

fn observe(host: &str, tunnel: Tunnel, ev: &Evidence) -> (Observed, String) {
    let conns = &ev.connections;
    if conns.is_empty() {
        let others = if ev.other_hosts.is_empty() {
            "no other host either".to_string()
        } else {
            format!("it asked for {}", ev.other_hosts.join(", "))
        };
        return (
            Observed::NoConnection,
            format!(
                "no connection for {host} reached the proxy ({others}): does the client use the \
                 proxy and the case's URL?"
            ),
        );
    }
    let first = |k: VerdictKind| conns.iter().find(|c| c.verdict == k);
    if tunnel == Tunnel::ToUpstream {
        if let Some(c) = first(VerdictKind::UpstreamFailed) {
            return (
                Observed::UpstreamFailed,
                format!("the proxy could not reach {host}: {}", c.reason),
            );
        }
        let by_exit = "judged by the client's exit status: the proxy cannot see inside a \
                       passthrough tunnel, and a real upstream keeps no origin log";
        return match &ev.client.exit {
            ClientExit::Exited { code: 0 } => (
                Observed::Proceeded,
                format!("the client exited 0 through the passthrough tunnel ({by_exit})"),
            ),
            ClientExit::Exited { code } => (
                Observed::Cancelled,
                format!("the client exited with code {code} ({by_exit})"),
            ),
            other => (
                Observed::Undecided,
                format!("the client's run ended: {other} ({by_exit})"),
            ),
        };
    }
    if tunnel == Tunnel::ToTestOrigin {
        if let Some(req) = ev.origin_requests.first() {
            return (
                Observed::Proceeded,
                format!(
                    "the origin received {} request(s), first {} {}",
                    ev.origin_requests.len(),
                    req.method,
                    req.path
                ),
            );
        }
        if let Some(hs) = ev.origin_handshakes.iter().find(|h| h.failure.is_some()) {
            return (
                Observed::Cancelled,
                format!(
                    "the client refused the origin's certificate during the handshake ({})",
                    hs.failure.as_deref().unwrap_or("?")
                ),
            );
        }
        if !ev.origin_handshakes.is_empty() {
            return (
                Observed::Cancelled,
                "the client completed the handshake with the origin and closed without a request"
                    .to_string(),
            );
        }
        if let Some(c) = first(VerdictKind::UpstreamFailed) {
            return (
                Observed::UpstreamFailed,
                format!("the proxy could not reach the test origin: {}", c.reason),
            );
        }
        return (
            Observed::Undecided,
            "a tunnel was opened but no TLS handshake reached the origin".to_string(),
        );
    }
    if let Some(c) = first(VerdictKind::Proceeded) {
        let first_req = c
            .requests
            .first()
            .map_or_else(String::new, |r| format!(", first {} {}", r.method, r.path));
        return (
            Observed::Proceeded,
            format!(
                "the client sent {} request(s) through the {} leaf{first_req}",
                c.request_count.max(1),
                c.profile.map_or("forged", |p| p.name())
            ),
        );
    }
    if let Some(c) = first(VerdictKind::Cancelled) {
        return (
            Observed::Cancelled,
            format!("cancelled at {} ({})", c.stage, c.reason),
        );
    }
    if let Some(c) = first(VerdictKind::UpstreamFailed) {
        return (
            Observed::UpstreamFailed,
            format!(
                "the proxy could not reach the origin of {host}: {}",
                c.reason
            ),
        );
    }
    let c = &conns[0];
    (
        Observed::Undecided,
        format!("undecided at {} ({})", c.stage, c.reason),
    )
}

fn human_ms(ms: u64) -> String {
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case_record::ClientRun;
    use crate::origin::{OriginHandshake, OriginRequest};
    use crate::record::{ActionKind, ConnectionRecord, RequestRecord, Stage};

    fn conn(verdict: VerdictKind, stage: Stage, reason: &str, requests: usize) -> ConnectionRecord {
        ConnectionRecord {
            schema: 1,
            id: 1,
            client: "127.0.0.1:1".into(),
            host: Some("api.test".into()),
            port: Some(443),
            sni: Some("api.test".into()),
            action: Some(ActionKind::Intercept),
            profile: None,
            presented_pin: None,
            presented_chain: Vec::new(),
            verdict,
            stage,
            reason: reason.into(),
            requests: (0..requests)
                .map(|_| RequestRecord::new("GET", "/x", false))
                .collect(),
            request_count: requests as u64,
            tls_version: None,
            alpn: None,
            started: String::new(),
            duration_ms: 1,
            bytes_up: 0,
            bytes_down: 0,
            upstream: None,
            learned: false,
            listener: crate::record::ListenerKind::Http,
        }
    }

    fn evidence(conns: Vec<ConnectionRecord>, code: i32) -> Evidence {
        Evidence {
            connections: conns,
            other_hosts: vec![],
            origin_handshakes: vec![],
            origin_requests: vec![],
            client: ClientRun {
                command: "c".into(),
                exit: ClientExit::Exited { code },
                duration_ms: 1,
                stdout_tail: String::new(),
                stderr_tail: String::new(),
                stdout_last_line: String::new(),
            },
        }
    }

    fn request() -> OriginRequest {
        OriginRequest {
            sni: Some("api.test".into()),
            method: "GET".into(),
            path: "/x".into(),
            client_cert: None,
        }
    }

    #[test]
    fn a_client_that_proceeds_through_a_smuggled_chain_is_called_exposed() {
        let intercepted =
            |expected, ev: &Evidence| judge("api.test", Tunnel::Intercepted, expected, None, ev);
        let mut smuggled = conn(VerdictKind::Proceeded, Stage::Request, "1 request", 1);
        smuggled.profile = Some(crate::rules::Profile::SmuggleChain);
        let ev = evidence(vec![smuggled.clone()], 0);
        let j = intercepted(Expected::Cancelled, &ev);
        assert_eq!(j.status, Status::Failed);
        assert!(j.detail.starts_with(SMUGGLED), "{}", j.detail);
        // Expected (a suite showing a naive client), it passes without the word.
        let j = intercepted(Expected::Proceeded, &ev);
        assert_eq!(j.status, Status::Passed);
        assert!(!j.detail.contains("exposed"), "{}", j.detail);
        // Through the forged profile, a proceeded client is not said to be fooled by a chain.
        smuggled.profile = Some(crate::rules::Profile::Forged);
        let j = intercepted(Expected::Cancelled, &evidence(vec![smuggled], 0));
        assert_eq!(j.status, Status::Failed);
        assert!(!j.detail.contains("exposed"), "{}", j.detail);
    }

    #[test]
    fn intercept_cancel_passes_a_cancel_expectation() {
        let ev = evidence(
            vec![conn(
                VerdictKind::Cancelled,
                Stage::AfterHandshake,
                "eof",
                0,
            )],
            90,
        );
        let j = judge(
            "api.test",
            Tunnel::Intercepted,
            Expected::Cancelled,
            None,
            &ev,
        );
        assert_eq!(
            (j.observed, j.status),
            (Observed::Cancelled, Status::Passed)
        );
        assert_eq!(j.detail, "cancelled at after_handshake (eof)");
        assert!(j.disagreements.is_empty());
        let j = judge(
            "api.test",
            Tunnel::Intercepted,
            Expected::Proceeded,
            None,
            &ev,
        );
        assert_eq!(j.status, Status::Failed);
    }

    #[test]
    fn config_expectations_read_the_clients_json() {
        let stdout =
            "noise\n{\"outcome\":\"ok\",\"pin_config\":{\"version\":2,\"source\":\"cache\"}}\n";
        let seen = client_config(stdout).unwrap();
        assert_eq!((seen.version, seen.source.as_str()), (Some(2), "cache"));
        let none = client_config("{\"pin_config\":{\"version\":null,\"source\":null}}").unwrap();
        assert_eq!((none.version, none.source.as_str()), (None, "none"));
        assert!(client_config("not json").is_none());
        let passed = || Judgement {
            observed: Observed::Proceeded,
            status: Status::Passed,
            detail: "d".into(),
            disagreements: vec![],
        };
        assert_eq!(
            check_config(passed(), Some(2), Some("cache"), Some(&seen)).status,
            Status::Passed
        );
        let j = check_config(passed(), Some(1), Some("fetched"), Some(&seen));
        assert_eq!(j.status, Status::Failed);
        assert_eq!(
            j.detail,
            "d; but the client used config version 2, not 1 and config from cache, not fetched"
        );
        let j = check_config(passed(), None, Some("none"), None);
        assert!(
            j.detail.contains("printed no --json result"),
            "{}",
            j.detail
        );
        assert_eq!(
            check_config(passed(), None, None, None).status,
            Status::Passed
        );
    }

    #[test]
    fn an_expected_exit_code_is_checked_beside_the_observation() {
        let ev = evidence(
            vec![conn(
                VerdictKind::Cancelled,
                Stage::AfterHandshake,
                "close_notify",
                0,
            )],
            12,
        );
        let j = judge(
            "api.test",
            Tunnel::Intercepted,
            Expected::Cancelled,
            Some(12),
            &ev,
        );
        assert_eq!(j.status, Status::Passed);
        let j = judge(
            "api.test",
            Tunnel::Intercepted,
            Expected::Cancelled,
            Some(10),
            &ev,
        );
        assert_eq!(j.status, Status::Failed);
        assert!(
            j.detail
                .ends_with("but the client exited with code 12, not the 10 expected"),
            "{}",
            j.detail
        );
        // The observation still decides first: a wrong observation fails whatever the code.
        let j = judge(
            "api.test",
            Tunnel::Intercepted,
            Expected::Proceeded,
            Some(12),
            &ev,
        );
        assert_eq!(
            (j.observed, j.status),
            (Observed::Cancelled, Status::Failed)
        );
        // No connection is a cancel only when the step expects that very exit code (a client
        // that fails closed before connecting).
        let none = evidence(vec![], 13);
        let j = judge(
            "api.test",
            Tunnel::Intercepted,
            Expected::Cancelled,
            Some(13),
            &none,
        );
        assert_eq!(
            (j.observed, j.status),
            (Observed::NoConnection, Status::Passed)
        );
        assert!(
            j.detail.contains("before connecting to api.test"),
            "{}",
            j.detail
        );
        for (expected, exit) in [
            (Expected::Cancelled, None),
            (Expected::Cancelled, Some(10)),
            (Expected::Proceeded, Some(13)),
        ] {
            let j = judge("api.test", Tunnel::Intercepted, expected, exit, &none);
            assert_eq!(j.status, Status::Error, "{expected:?} {exit:?}");
        }
    }

    #[test]
    fn any_proceeded_connection_means_readable_and_a_mix_is_reported() {
        let mut ev = evidence(
            vec![
                conn(VerdictKind::Cancelled, Stage::AfterHandshake, "eof", 0),
                conn(VerdictKind::Proceeded, Stage::Request, "1 request", 1),
            ],
            0,
        );
        ev.origin_requests.push(request());
        let j = judge(
            "api.test",
            Tunnel::Intercepted,
            Expected::Cancelled,
            None,
            &ev,
        );
        assert_eq!(
            (j.observed, j.status),
            (Observed::Proceeded, Status::Failed)
        );
        assert_eq!(j.disagreements.len(), 1, "{:?}", j.disagreements);
    }

    #[test]
    fn no_connection_is_an_error_never_a_cancel() {
        let mut ev = evidence(vec![], 6);
        ev.other_hosts.push("example.com".into());
        let j = judge(
            "api.test",
            Tunnel::Intercepted,
            Expected::Cancelled,
            None,
            &ev,
        );
        assert_eq!(
            (j.observed, j.status),
            (Observed::NoConnection, Status::Error)
        );
        assert!(j.detail.contains("example.com"), "{}", j.detail);
    }

    #[test]
    fn passthrough_is_judged_by_the_origin() {
        let tunnel = || conn(VerdictKind::Passthrough, Stage::Tunnel, "relayed", 0);
        let mut ev = evidence(vec![tunnel()], 0);
        ev.origin_requests.push(request());
        let j = judge(
            "api.test",
            Tunnel::ToTestOrigin,
            Expected::Proceeded,
            None,
            &ev,
        );
        assert_eq!(
            (j.observed, j.status),
            (Observed::Proceeded, Status::Passed)
        );

        let mut ev = evidence(vec![tunnel()], 60);
        ev.origin_handshakes.push(OriginHandshake {
            sni: None,
            failure: Some("alert:bad_certificate".into()),
        });
        let j = judge(
            "api.test",
            Tunnel::ToTestOrigin,
            Expected::Cancelled,
            None,
            &ev,
        );
        assert_eq!(
            (j.observed, j.status),
            (Observed::Cancelled, Status::Passed)
        );
        assert!(j.detail.contains("alert:bad_certificate"));

        let mut ev = evidence(vec![tunnel()], 0);
        ev.origin_handshakes.push(OriginHandshake {
            sni: None,
            failure: None,
        });
        let j = judge(
            "api.test",
            Tunnel::ToTestOrigin,
            Expected::Cancelled,
            None,
            &ev,
        );
        assert_eq!(j.observed, Observed::Cancelled);
        assert_eq!(j.disagreements.len(), 1, "exit 0 without a request");

        let ev = evidence(vec![tunnel()], 0);
        assert_eq!(
            judge(
                "api.test",
                Tunnel::ToTestOrigin,
                Expected::Cancelled,
                None,
                &ev
            )
            .observed,
            Observed::Undecided
        );
    }

    #[test]
    fn a_timeout_or_an_unreachable_origin_is_an_error() {
        let mut ev = evidence(
            vec![conn(
                VerdictKind::Cancelled,
                Stage::AfterHandshake,
                "eof",
                0,
            )],
            0,
        );
        ev.client.exit = ClientExit::TimedOut { after_ms: 2000 };
        let j = judge(
            "api.test",
            Tunnel::Intercepted,
            Expected::Cancelled,
            None,
            &ev,
        );
        assert_eq!(j.status, Status::Error);
        assert!(
            j.detail.starts_with("the client did not finish within 2 s"),
            "{}",
            j.detail
        );
        let ev = evidence(
            vec![conn(
                VerdictKind::UpstreamFailed,
                Stage::Connect,
                "refused",
                0,
            )],
            1,
        );
        let j = judge(
            "api.test",
            Tunnel::Intercepted,
            Expected::Cancelled,
            None,
            &ev,
        );
        assert_eq!(
            (j.observed, j.status),
            (Observed::UpstreamFailed, Status::Error)
        );
    }
}
