//! Per-host summary of a proxy run: connections, verdict counts and "pinned? yes/no/mixed/unknown".
//!
//! Pure: records in, a table out. The shell prints it when the proxy stops.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::record::{ActionKind, ConnectionRecord, VerdictKind};

/// Whether a host's client pins, judged from the intercepted connections seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pinned {
    /// Every decided intercepted connection was cancelled.
    Yes,
    /// Every decided intercepted connection proceeded: traffic was readable.
    No,
    /// Some cancelled, some proceeded (different apps or libraries, or a bypass).
    Mixed,
    /// No intercepted connection reached a decision.
    Unknown,
}

impl Pinned {
    /// As printed.
    pub fn name(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
            Self::Mixed => "mixed",
            Self::Unknown => "unknown",
        }
    }
}

/// Counts for one host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostSummary {
    /// Connections seen.
    pub connections: u64,
    /// Intercepted connections the client cancelled.
    pub cancelled: u64,
    /// Intercepted (or plain-HTTP) connections that proceeded.
    pub proceeded: u64,
    /// Passthrough tunnels.
    pub passthrough: u64,
    /// Upstream failures.
    pub upstream_failed: u64,
    /// Undecided connections.
    pub undecided: u64,
    intercepted_cancelled: u64,
    intercepted_proceeded: u64,
}

impl HostSummary {
    /// Adds one record.
    pub fn add(&mut self, r: &ConnectionRecord) {
        self.connections += 1;
        let intercepted = r.action == Some(ActionKind::Intercept);
        match r.verdict {
            VerdictKind::Cancelled => {
                self.cancelled += 1;
                self.intercepted_cancelled += u64::from(intercepted);
            }
            VerdictKind::Proceeded => {
                self.proceeded += 1;
                self.intercepted_proceeded += u64::from(intercepted);
            }
            VerdictKind::Passthrough => self.passthrough += 1,
            VerdictKind::UpstreamFailed => self.upstream_failed += 1,
            VerdictKind::Undecided => self.undecided += 1,
        }
    }

    /// The pinning judgement for this host.
    pub fn pinned(&self) -> Pinned {
        match (
            self.intercepted_cancelled > 0,
            self.intercepted_proceeded > 0,
        ) {
            (true, false) => Pinned::Yes,
            (false, true) => Pinned::No,
            (true, true) => Pinned::Mixed,
            (false, false) => Pinned::Unknown,
        }
    }
}

/// Summaries keyed by host (records without a host are grouped under `-`).
#[derive(Clone, Debug, Default)]
pub struct Summary {
    hosts: BTreeMap<String, HostSummary>,
}

impl Summary {
    /// Adds one record.
    pub fn add(&mut self, r: &ConnectionRecord) {
        let host = r.host.clone().unwrap_or_else(|| "-".into());
        self.hosts.entry(host).or_default().add(r);
    }

    /// The per-host summaries, by host name.
    pub fn hosts(&self) -> &BTreeMap<String, HostSummary> {
        &self.hosts
    }

    /// A plain-text table, one row per host.
    pub fn table(&self) -> String {
        let width = self.hosts.keys().map(String::len).max().unwrap_or(4).max(4);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<width$}  {:>5}  {:>9}  {:>9}  {:>11}  {:>8}  {:>9}  pinned?",
            "host", "conns", "cancelled", "proceeded", "passthrough", "upstream", "undecided"
        );
        for (host, s) in &self.hosts {
            let _ = writeln!(
                out,
                "{:<width$}  {:>5}  {:>9}  {:>9}  {:>11}  {:>8}  {:>9}  {}",
                host,
                s.connections,
                s.cancelled,
                s.proceeded,
                s.passthrough,
                s.upstream_failed,
                s.undecided,
                s.pinned().name()
            );
        }
        out
    }
}
