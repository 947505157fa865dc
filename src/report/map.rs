//! The pinning map of a recorded session (`pin-proxy report EVENTS...`): events files read
//! leniently (a malformed or cut line is reported with its file and line and skipped, never
//! fatal), a row per host with the proxy's own summary rules (`verdict::summary`, shared, not
//! copied), first and last seen, and the requests that were readable for a host that does not
//! pin (method and path; query values stay redacted as recorded). Rendered as the terminal
//! table, Markdown or JSON. Pure: the CLI reads the files.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::record::{ActionKind, ConnectionRecord};
use crate::verdict::summary::{HostSummary, Pinned, Summary};

/// The readable requests listed per host, at most.
pub const MAX_LISTED: usize = 20;

/// A line of an events file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Malformed {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: u64,
    /// What was wrong.
    pub error: String,
}

/// The records of one events file's text, and its unreadable lines.
pub fn read_events(file: &str, text: &str) -> (Vec<ConnectionRecord>, Vec<Malformed>) {
    let mut records = Vec::new();
    let mut malformed = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<ConnectionRecord>(line) {
            Ok(r) => records.push(r),
            Err(e) => malformed.push(Malformed {
                file: file.to_string(),
                line: line_no,
                error: if e.is_eof() {
                    "cut short (the proxy may still have been writing it)".to_string()
                } else {
                    e.to_string()
                },
            }),
        }
    }
    (records, malformed)
}

/// One host of the map.
#[derive(Debug, Clone, Serialize)]
pub struct HostRow {
    /// The host (`-` for connections that named none).
    pub host: String,
    /// Connections seen.
    pub connections: u64,
    /// Verdict counts.
    pub cancelled: u64,
    /// Verdict counts.
    pub proceeded: u64,
    /// Verdict counts.
    pub passthrough: u64,
    /// Verdict counts.
    pub upstream_failed: u64,
    /// Verdict counts.
    pub undecided: u64,
    /// `yes`, `no`, `mixed` or `unknown`, by the proxy's summary rules.
    pub pinned: &'static str,
    /// The first connection's start (RFC 3339).
    pub first_seen: String,
    /// The last connection's start.
    pub last_seen: String,
    /// Requests that were readable (plain HTTP, or through an intercept the client accepted),
    /// `METHOD path`, at most [`MAX_LISTED`].
    pub readable_requests: Vec<String>,
    /// How many readable requests there were in all.
    pub readable_count: u64,
}

/// The map of one or more events files.
#[derive(Debug, Clone, Serialize)]
pub struct PinningMap {
    /// The schema of this JSON (README, "report --format json").
    pub schema: u32,
    /// Hosts by name.
    pub hosts: Vec<HostRow>,
    /// Lines that could not be read.
    pub malformed: Vec<Malformed>,
}

/// The JSON schema number of [`PinningMap`].
pub const SCHEMA: u32 = 1;

impl PinningMap {
    /// Builds the map from records (any order) and the unreadable lines.
    pub fn build(records: &[ConnectionRecord], malformed: Vec<Malformed>) -> Self {
        let mut summary = Summary::default();
        let mut seen: BTreeMap<String, (String, String, Vec<String>, u64)> = BTreeMap::new();
        for r in records {
            summary.add(r);
            let host = r.host.clone().unwrap_or_else(|| "-".into());
            let entry = seen
                .entry(host)
                .or_insert_with(|| (r.started.clone(), r.started.clone(), Vec::new(), 0));
            if r.started < entry.0 {
                entry.0 = r.started.clone();
            }
            if r.started > entry.1 {
                entry.1 = r.started.clone();
            }
            let readable = r.action == Some(ActionKind::Http)
                || (r.action == Some(ActionKind::Intercept)
                    && r.verdict == crate::record::VerdictKind::Proceeded);
            if readable {
                entry.3 += r.request_count.max(r.requests.len() as u64);
                for q in &r.requests {
                    if entry.2.len() < MAX_LISTED {
                        entry.2.push(format!("{} {}", q.method, q.path));
                    }
                }
            }
        }
        let hosts = summary
            .hosts()
            .iter()
            .map(|(host, s)| row(host, s, seen.remove(host).unwrap_or_default()))
            .collect();
        PinningMap {
            schema: SCHEMA,
            hosts,
            malformed,
        }
    }

    /// The terminal table, the readable requests of hosts that do not pin, and the unreadable
    /// lines.
    pub fn terminal(&self) -> String {
        let width = self
            .hosts
            .iter()
            .map(|h| h.host.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<width$}  {:>5}  {:>9}  {:>9}  {:>11}  {:>8}  {:>9}  {:<7}  first seen / last seen",
            "host",
            "conns",
            "cancelled",
            "proceeded",
            "passthrough",
            "upstream",
            "undecided",
            "pinned?"
        );
        for h in &self.hosts {
            let _ = writeln!(
                out,
                "{:<width$}  {:>5}  {:>9}  {:>9}  {:>11}  {:>8}  {:>9}  {:<7}  {} / {}",
                h.host,
                h.connections,
                h.cancelled,
                h.proceeded,
                h.passthrough,
                h.upstream_failed,
                h.undecided,
                h.pinned,
                h.first_seen,
                h.last_seen
            );
        }
        for h in self.hosts.iter().filter(|h| h.readable_count > 0) {
            let _ = writeln!(
                out,
                "\nreadable requests to {} ({}):",
                h.host, h.readable_count
            );
            for q in &h.readable_requests {
                let _ = writeln!(out, "  {q}");
            }
        }
        self.malformed_lines(&mut out, "");
        out
    }

    /// A Markdown table and lists.
    pub fn markdown(&self) -> String {
        let mut out = String::from("# Pinning map\n\n");
        out.push_str("| host | connections | cancelled | proceeded | passthrough | upstream failed | undecided | pinned? | first seen | last seen |\n");
        out.push_str("|---|---:|---:|---:|---:|---:|---:|---|---|---|\n");
        for h in &self.hosts {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                h.host.replace('|', "\\|"),
                h.connections,
                h.cancelled,
                h.proceeded,
                h.passthrough,
                h.upstream_failed,
                h.undecided,
                h.pinned,
                h.first_seen,
                h.last_seen
            );
        }
        for h in self.hosts.iter().filter(|h| h.readable_count > 0) {
            let _ = writeln!(
                out,
                "\n## Readable requests to `{}` ({})\n",
                h.host, h.readable_count
            );
            for q in &h.readable_requests {
                let _ = writeln!(out, "- `{}`", q.replace('`', "'"));
            }
        }
        if !self.malformed.is_empty() {
            out.push_str("\n## Lines that could not be read\n\n");
        }
        self.malformed_lines(&mut out, "- ");
        out
    }

    fn malformed_lines(&self, out: &mut String, bullet: &str) {
        if !self.malformed.is_empty() && bullet.is_empty() {
            let _ = writeln!(
                out,
                "\n{} line(s) could not be read and were skipped:",
                self.malformed.len()
            );
        }
        for m in &self.malformed {
            let _ = writeln!(out, "{bullet}{}:{}: {}", m.file, m.line, m.error);
        }
    }
}

fn row(host: &str, s: &HostSummary, seen: (String, String, Vec<String>, u64)) -> HostRow {
    let pinned: Pinned = s.pinned();
    HostRow {
        host: host.to_string(),
        connections: s.connections,
        cancelled: s.cancelled,
        proceeded: s.proceeded,
        passthrough: s.passthrough,
        upstream_failed: s.upstream_failed,
        undecided: s.undecided,
        pinned: pinned.name(),
        first_seen: seen.0,
        last_seen: seen.1,
        readable_requests: seen.2,
        readable_count: seen.3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"schema":1,"id":1,"client":"127.0.0.1:5","host":"api.test","port":443,"action":"intercept","profile":"forged","verdict":"cancelled","stage":"handshake","reason":"alert:bad_certificate","requests":[],"request_count":0,"started":"2026-12-02T10:00:00.000Z","duration_ms":3,"bytes_up":1,"bytes_down":2}
{"schema":1,"id":2,"client":"127.0.0.1:6","host":"cdn.test","port":80,"action":"http","verdict":"proceeded","stage":"request","reason":"1 plain-HTTP request","requests":[{"method":"GET","path":"/img?q=<redacted>"}],"request_count":1,"started":"2026-12-02T10:00:01.000Z","duration_ms":3,"bytes_up":1,"bytes_down":2}
"#;

    #[test]
    fn a_map_of_hosts_with_readable_requests_and_bad_lines() {
        let text = format!("{GOOD}not json\n{{\"schema\":1,\"id\":3,");
        let (records, malformed) = read_events("e.jsonl", &text);
        assert_eq!(records.len(), 2, "{malformed:?}");
        assert_eq!(malformed.iter().map(|m| m.line).collect::<Vec<_>>(), [3, 4]);
        assert!(malformed[1].error.contains("cut short"));
        let map = PinningMap::build(&records, malformed);
        let api = &map.hosts[0];
        assert_eq!(
            (api.host.as_str(), api.pinned, api.cancelled),
            ("api.test", "yes", 1)
        );
        let cdn = &map.hosts[1];
        assert_eq!(cdn.readable_requests, ["GET /img?q=<redacted>"]);
        for text in [map.terminal(), map.markdown()] {
            assert!(
                text.contains("api.test") && text.contains("e.jsonl:3"),
                "{text}"
            );
        }
        let json = serde_json::to_value(&map).unwrap_or_default();
        assert_eq!(json["hosts"][0]["pinned"], "yes");
        assert_eq!(json["malformed"][0]["line"], 3);
    }
}
