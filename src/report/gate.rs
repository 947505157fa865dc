//! The CI gate of `pin-proxy report`: `--expect-pinned GLOB`, `--expect-unpinned GLOB` and
//! `--expect-host HOST` judged against a [`PinningMap`], each expectation one result (and one
//! JUnit test case) whose failure text carries the evidence. A glob that matched no host fails
//! ("no traffic for ..."), never passes. Pure.

use std::fmt::Write as _;

use super::junit::escape;
use super::map::{HostRow, PinningMap};
use crate::rules::HostGlob;

/// What the user expects of some hosts.
#[derive(Debug, Clone)]
pub enum Expectation {
    /// Every matching host seen is pinned: its intercepted connections were all cancelled.
    Pinned(HostGlob),
    /// Every matching host seen is not pinned: it proceeded through interception, or spoke
    /// plain HTTP.
    Unpinned(HostGlob),
    /// Some matching host sent traffic.
    Host(HostGlob),
}

impl Expectation {
    /// The expectation as the flag spells it.
    pub fn name(&self) -> String {
        match self {
            Expectation::Pinned(g) => format!("expect-pinned {}", g.as_str()),
            Expectation::Unpinned(g) => format!("expect-unpinned {}", g.as_str()),
            Expectation::Host(g) => format!("expect-host {}", g.as_str()),
        }
    }

    fn glob(&self) -> &HostGlob {
        match self {
            Expectation::Pinned(g) | Expectation::Unpinned(g) | Expectation::Host(g) => g,
        }
    }
}

/// The judgement of one expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The expectation, as the flag spells it.
    pub name: String,
    /// Whether it holds.
    pub passed: bool,
    /// One line per matching host (or the reason none matched).
    pub evidence: Vec<String>,
}

/// Judges every expectation.
pub fn judge(map: &PinningMap, expectations: &[Expectation]) -> Vec<Outcome> {
    expectations.iter().map(|e| judge_one(map, e)).collect()
}

fn judge_one(map: &PinningMap, e: &Expectation) -> Outcome {
    let hosts: Vec<&HostRow> = map
        .hosts
        .iter()
        .filter(|h| h.host != "-" && e.glob().matches(&h.host))
        .collect();
    if hosts.is_empty() {
        return Outcome {
            name: e.name(),
            passed: false,
            evidence: vec![format!(
                "no traffic for {}: the app never connected through the proxy to a matching host \
                 (apps built with Flutter and some SDKs ignore the system proxy)",
                e.glob().as_str()
            )],
        };
    }
    let mut passed = true;
    let mut evidence = Vec::new();
    for h in hosts {
        let (ok, why) = match e {
            Expectation::Pinned(_) => {
                let (ok, mut why) = pinned(h);
                // A pass that may be the client's distrust of the CA, not pinning, says so.
                let doubt: Vec<&str> = map
                    .clients
                    .iter()
                    .filter(|c| c.may_not_trust_ca && c.refused_hosts.contains(&h.host))
                    .map(|c| c.client.as_str())
                    .collect();
                if ok && !doubt.is_empty() {
                    why.push_str(&format!(
                        "; but {} may not trust the CA at all, so the cancels may be trust, not \
                         pinning (see the report's clients; a canary host that proceeds clears it)",
                        doubt.join(", ")
                    ));
                }
                (ok, why)
            }
            Expectation::Unpinned(_) => unpinned(h),
            Expectation::Host(_) => (true, format!("{} connection(s)", h.connections)),
        };
        passed &= ok;
        evidence.push(format!(
            "{} {}: {why}",
            if ok { "ok  " } else { "FAIL" },
            h.host
        ));
    }
    Outcome {
        name: e.name(),
        passed,
        evidence,
    }
}

fn counts(h: &HostRow) -> String {
    format!(
        "{} connection(s): {} cancelled, {} proceeded, {} passthrough, {} upstream failed, {} undecided",
        h.connections, h.cancelled, h.proceeded, h.passthrough, h.upstream_failed, h.undecided
    )
}

fn pinned(h: &HostRow) -> (bool, String) {
    match h.pinned {
        "yes" if h.readable_count == 0 => (true, format!("pinned ({})", counts(h))),
        "yes" => (
            false,
            format!(
                "{} request(s) were readable ({})",
                h.readable_count,
                counts(h)
            ),
        ),
        "no" | "mixed" => (
            false,
            format!(
                "a connection proceeded through the forged certificate: not pinned ({})",
                counts(h)
            ),
        ),
        _ if h.readable_count > 0 => (
            false,
            format!(
                "plain HTTP requests: readable, so not pinned ({})",
                counts(h)
            ),
        ),
        _ if h.undecided == h.connections => (
            false,
            format!(
                "only undecided connections: no evidence either way ({})",
                counts(h)
            ),
        ),
        _ => (
            false,
            format!(
                "never intercepted, so pinning was not tested ({})",
                counts(h)
            ),
        ),
    }
}

fn unpinned(h: &HostRow) -> (bool, String) {
    match h.pinned {
        "no" => (true, format!("not pinned ({})", counts(h))),
        _ if h.readable_count > 0 && h.cancelled == 0 => {
            (true, format!("readable ({})", counts(h)))
        }
        "yes" | "mixed" => (
            false,
            format!(
                "the client refused the forged certificate: pinned ({})",
                counts(h)
            ),
        ),
        _ => (
            false,
            format!(
                "never intercepted, so not shown to be unpinned ({})",
                counts(h)
            ),
        ),
    }
}

/// The outcomes as JUnit XML: one `<testsuite name="pin-proxy report">`, one `<testcase>` per
/// expectation, a `<failure>` with the evidence for each that does not hold.
pub fn junit(outcomes: &[Outcome]) -> String {
    let failures = outcomes.iter().filter(|o| !o.passed).count();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"pin-proxy report\" tests=\"{}\" failures=\"{failures}\">",
        outcomes.len()
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"pin-proxy report\" tests=\"{}\" failures=\"{failures}\">",
        outcomes.len()
    );
    for o in outcomes {
        let name = escape(&o.name);
        let text = escape(&o.evidence.join("\n"));
        if o.passed {
            let _ = writeln!(
                x,
                "    <testcase classname=\"pin-proxy report\" name=\"{name}\">\n      <system-out>{text}</system-out>\n    </testcase>"
            );
        } else {
            let first = escape(o.evidence.first().map_or("", String::as_str));
            let _ = writeln!(
                x,
                "    <testcase classname=\"pin-proxy report\" name=\"{name}\">\n      <failure message=\"{first}\">{text}</failure>\n    </testcase>"
            );
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::map::HostRow;

    fn host(
        name: &str,
        cancelled: u64,
        proceeded: u64,
        readable: u64,
        pinned: &'static str,
    ) -> HostRow {
        HostRow {
            host: name.into(),
            connections: cancelled + proceeded,
            cancelled,
            proceeded,
            passthrough: 0,
            upstream_failed: 0,
            undecided: 0,
            pinned,
            first_seen: String::new(),
            last_seen: String::new(),
            readable_requests: Vec::new(),
            readable_count: readable,
            learned: false,
            ca_doubt: false,
            connection_list: Vec::new(),
        }
    }

    fn glob(s: &str) -> HostGlob {
        HostGlob::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn expectations_hold_or_fail_with_their_evidence() {
        let map = PinningMap {
            schema: 1,
            hosts: vec![
                host("api.myapp.example", 2, 0, 0, "yes"),
                host("auth.myapp.example", 1, 1, 1, "mixed"),
                host("cdn.example", 0, 3, 3, "no"),
            ],
            clients: Vec::new(),
            malformed: Vec::new(),
        };
        let out = judge(
            &map,
            &[
                Expectation::Pinned(glob("api.myapp.example")),
                Expectation::Pinned(glob("*.myapp.example")),
                Expectation::Unpinned(glob("cdn.*")),
                Expectation::Unpinned(glob("api.myapp.example")),
                Expectation::Host(glob("analytics.example")),
                Expectation::Host(glob("cdn.example")),
            ],
        );
        let passed: Vec<bool> = out.iter().map(|o| o.passed).collect();
        assert_eq!(passed, [true, false, true, false, false, true]);
        assert!(out[1]
            .evidence
            .iter()
            .any(|l| l.contains("FAIL auth.myapp.example")));
        assert!(out[4].evidence[0].contains("no traffic for analytics.example"));
        let xml = junit(&out);
        assert!(
            xml.contains("failures=\"3\"") && xml.contains("<failure message=\"no traffic"),
            "{xml}"
        );
    }
}
