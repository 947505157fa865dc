//! The pinning map of a recorded session (`pin-proxy report EVENTS...`): events files read
//! leniently (a malformed or cut line is reported with its file and line and skipped, never
//! fatal), a row per host with the proxy's own summary rules (`verdict::summary`, shared, not
//! copied), first and last seen, and the requests that were readable for a host that does not
//! pin (method and path; query values stay redacted as recorded), whether learn mode learned the
//! host, and per client address whether it may simply not trust the CA. Rendered as the terminal
//! table, Markdown, JSON or HTML (`report::map_html`). Pure: the CLI reads the files.
//!
//! **Pinning or no trust at all?** A client that refuses every host it tried (two or more), or
//! refuses during the handshake with a trust alert (`unknown_ca`, `bad_certificate`,
//! `certificate_unknown`), may not trust the proxy's CA at all: Android 7+ apps ignore user CAs
//! unless their network security config says otherwise, iOS needs the Trust Settings switch.
//! That is said only when no intercepted connection of that client proceeded, since an Android
//! pin-set mismatch also ends in a handshake alert; a client is a source IP address.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::record::{ActionKind, ConnectionRecord, Stage, VerdictKind};
use crate::verdict::summary::{HostSummary, Pinned, Summary};

/// The readable requests listed per host, at most.
pub const MAX_LISTED: usize = 20;

/// The connections kept per host for the HTML map, at most (the rest are counted).
pub const MAX_CONNECTIONS_LISTED: usize = 200;

/// Handshake alerts that say "I do not trust this certificate" rather than "not this key".
const TRUST_ALERTS: [&str; 3] = [
    "alert:unknown_ca",
    "alert:bad_certificate",
    "alert:certificate_unknown",
];

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
    /// Learn mode passed the host through: one of its cancels taught it, or a connection was
    /// relayed with a `learned:` reason.
    pub learned: bool,
    /// Every client that cancelled this host may not trust the CA at all (see [`ClientRow`]):
    /// its `pinned` may be trust, not pinning. Shown as `yes?`.
    pub ca_doubt: bool,
    /// Its connections in file order, at most [`MAX_CONNECTIONS_LISTED`] (the HTML map's detail;
    /// not in the JSON, which the events file already holds).
    #[serde(skip)]
    pub connection_list: Vec<ConnLine>,
}

/// One connection as the HTML map lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnLine {
    /// The record's number in its run.
    pub id: u64,
    /// When it started.
    pub started: String,
    /// The client's address.
    pub client: String,
    /// `intercept/forged`, `passthrough`, `http`, `-`.
    pub action: String,
    /// The verdict.
    pub verdict: VerdictKind,
    /// Where it was reached.
    pub stage: Stage,
    /// Why.
    pub reason: String,
    /// `METHOD path -> status` of each listed request.
    pub requests: Vec<String>,
    /// For a `smuggle-chain` connection, each certificate sent (`subject (pin)`), leaf first:
    /// what was smuggled. Empty otherwise.
    pub sent: Vec<String>,
}

/// What one client address did, and whether it may not trust the CA at all.
#[derive(Debug, Clone, Serialize)]
pub struct ClientRow {
    /// The source IP address (no port).
    pub client: String,
    /// Its connections.
    pub connections: u64,
    /// The hosts it connected to.
    pub hosts: u64,
    /// Hosts whose intercepted connections it cancelled.
    pub refused_hosts: Vec<String>,
    /// Intercepted connections that proceeded.
    pub proceeded: u64,
    /// Handshake cancels with a trust alert (`unknown_ca`, `bad_certificate`,
    /// `certificate_unknown`).
    pub trust_alerts: u64,
    /// No intercepted connection proceeded, and it refused every host (two or more) or sent
    /// trust alerts: it may not trust the CA, rather than pin.
    pub may_not_trust_ca: bool,
    /// What to tell the user about it (set when `may_not_trust_ca`, or for a loopback client).
    pub note: Option<String>,
}

/// The map of one or more events files.
#[derive(Debug, Clone, Serialize)]
pub struct PinningMap {
    /// The schema of this JSON (README, "report --format json").
    pub schema: u32,
    /// Hosts by name.
    pub hosts: Vec<HostRow>,
    /// Client addresses, by address.
    pub clients: Vec<ClientRow>,
    /// Lines that could not be read.
    pub malformed: Vec<Malformed>,
}

/// The JSON schema number of [`PinningMap`].
pub const SCHEMA: u32 = 1;

impl PinningMap {
    /// Builds the map from records (any order) and the unreadable lines.
    pub fn build(records: &[ConnectionRecord], malformed: Vec<Malformed>) -> Self {
        let mut summary = Summary::default();
        let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
        for r in records {
            summary.add(r);
            let host = r.host.clone().unwrap_or_else(|| "-".into());
            let entry = seen.entry(host).or_insert_with(|| Seen {
                first: r.started.clone(),
                last: r.started.clone(),
                ..Seen::default()
            });
            if r.started < entry.first {
                entry.first = r.started.clone();
            }
            if r.started > entry.last {
                entry.last = r.started.clone();
            }
            entry.learned |= r.learned || crate::rules::learn::is_learned_reason(&r.reason);
            if entry.connections.len() < MAX_CONNECTIONS_LISTED {
                entry.connections.push(conn_line(r));
            }
            let readable = r.action == Some(ActionKind::Http)
                || (r.action == Some(ActionKind::Intercept) && r.verdict == VerdictKind::Proceeded);
            if readable {
                entry.readable_count += r.request_count.max(r.requests.len() as u64);
                for q in &r.requests {
                    if entry.readable.len() < MAX_LISTED {
                        entry.readable.push(format!("{} {}", q.method, q.path));
                    }
                }
            }
        }
        let clients = clients(records);
        let hosts = summary
            .hosts()
            .iter()
            .map(|(host, s)| {
                // Doubt: some client refused it, and every one that did may not trust the CA.
                let mut refusers = clients
                    .iter()
                    .filter(|c| c.refused_hosts.contains(host))
                    .peekable();
                let doubt = refusers.peek().is_some() && refusers.all(|c| c.may_not_trust_ca);
                row(host, s, seen.remove(host).unwrap_or_default(), doubt)
            })
            .collect();
        PinningMap {
            schema: SCHEMA,
            hosts,
            clients,
            malformed,
        }
    }

    /// How many hosts (not `-`) are pinned `yes`, `no`, `mixed` and `unknown`.
    pub fn pinned_counts(&self) -> [(&'static str, usize); 4] {
        ["yes", "no", "mixed", "unknown"].map(|p| {
            (
                p,
                self.hosts
                    .iter()
                    .filter(|h| h.host != "-" && h.pinned == p)
                    .count(),
            )
        })
    }

    /// The notes about clients: those that may not trust the CA, and the loopback remark.
    pub fn client_notes(&self) -> Vec<String> {
        self.clients
            .iter()
            .filter_map(|c| c.note.as_ref().map(|n| format!("{}: {n}", c.client)))
            .collect()
    }

    /// The terminal table (`pinned?` coloured when `color`), the readable requests of hosts
    /// that do not pin, the notes about clients, and the unreadable lines.
    pub fn terminal(&self, color: bool) -> String {
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
            "{:<width$}  {:>5}  {:>9}  {:>9}  {:>11}  {:>8}  {:>9}  {:<7}  {:<7}  first seen / last seen",
            "host",
            "conns",
            "cancelled",
            "proceeded",
            "passthrough",
            "upstream",
            "undecided",
            "pinned?",
            "learned"
        );
        for h in &self.hosts {
            let pinned = format!("{:<7}", h.pinned_shown());
            let pinned = match (color, h.pinned) {
                (true, "yes") => format!("\x1b[32m{pinned}\x1b[0m"),
                (true, "no") => format!("\x1b[31;1m{pinned}\x1b[0m"),
                (true, "mixed") => format!("\x1b[33m{pinned}\x1b[0m"),
                _ => pinned,
            };
            let _ = writeln!(
                out,
                "{:<width$}  {:>5}  {:>9}  {:>9}  {:>11}  {:>8}  {:>9}  {pinned}  {:<7}  {} / {}",
                h.host,
                h.connections,
                h.cancelled,
                h.proceeded,
                h.passthrough,
                h.upstream_failed,
                h.undecided,
                if h.learned { "learned" } else { "" },
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
        if self.hosts.iter().any(|h| h.ca_doubt) {
            let _ = writeln!(out, "{DOUBT_NOTE}");
        }
        let notes = self.client_notes();
        if !notes.is_empty() {
            out.push_str("\nclients:\n");
            for n in notes {
                let _ = writeln!(out, "  {n}");
            }
        }
        self.malformed_lines(&mut out, "");
        out
    }

    /// A Markdown table and lists.
    pub fn markdown(&self) -> String {
        let mut out = String::from("# Pinning map\n\n");
        out.push_str("| host | connections | cancelled | proceeded | passthrough | upstream failed | undecided | pinned? | learned | first seen | last seen |\n");
        out.push_str("|---|---:|---:|---:|---:|---:|---:|---|---|---|---|\n");
        for h in &self.hosts {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                h.host.replace('|', "\\|"),
                h.connections,
                h.cancelled,
                h.proceeded,
                h.passthrough,
                h.upstream_failed,
                h.undecided,
                h.pinned_shown(),
                if h.learned { "yes" } else { "" },
                h.first_seen,
                h.last_seen
            );
        }
        if self.hosts.iter().any(|h| h.ca_doubt) {
            let _ = writeln!(out, "\n{DOUBT_NOTE}");
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
        let notes = self.client_notes();
        if !notes.is_empty() {
            out.push_str("\n## Clients\n\n");
            for n in notes {
                let _ = writeln!(out, "- {n}");
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

impl HostRow {
    /// `pinned` as shown: `yes?` (or `mixed?`) when every client that refused it may not trust
    /// the CA.
    pub fn pinned_shown(&self) -> String {
        if self.ca_doubt {
            format!("{}?", self.pinned)
        } else {
            self.pinned.to_string()
        }
    }
}

/// Said under a table that shows a `?` after `pinned`.
pub const DOUBT_NOTE: &str =
    "?: every client that refused this host may not trust the CA at all (see clients)";

/// What the map keeps of a host's records besides the summary counts.
#[derive(Default)]
struct Seen {
    first: String,
    last: String,
    readable: Vec<String>,
    readable_count: u64,
    learned: bool,
    connections: Vec<ConnLine>,
}

fn row(host: &str, s: &HostSummary, seen: Seen, ca_doubt: bool) -> HostRow {
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
        first_seen: seen.first,
        last_seen: seen.last,
        readable_requests: seen.readable,
        readable_count: seen.readable_count,
        learned: seen.learned,
        ca_doubt,
        connection_list: seen.connections,
    }
}

fn conn_line(r: &ConnectionRecord) -> ConnLine {
    let action = super::live::action(r);
    ConnLine {
        id: r.id,
        started: r.started.clone(),
        client: r.client.clone(),
        action,
        verdict: r.verdict,
        stage: r.stage,
        reason: r.reason.clone(),
        requests: r.requests.iter().map(super::live::request).collect(),
        sent: if r.profile == Some(crate::rules::Profile::SmuggleChain) {
            r.presented_chain
                .iter()
                .map(|c| format!("{} ({})", c.subject, c.pin))
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// The IP address of a recorded client address (`127.0.0.1:5000`, `[::1]:5000`).
fn client_ip(client: &str) -> String {
    match client.parse::<std::net::SocketAddr>() {
        Ok(addr) => addr.ip().to_string(),
        Err(_) => client.to_string(),
    }
}

/// Per client address: what it did, and the "may not trust the CA" judgement.
fn clients(records: &[ConnectionRecord]) -> Vec<ClientRow> {
    #[derive(Default)]
    struct Acc {
        connections: u64,
        hosts: std::collections::BTreeSet<String>,
        refused: std::collections::BTreeSet<String>,
        proceeded: u64,
        trust_alerts: u64,
    }
    let mut by_ip: BTreeMap<String, Acc> = BTreeMap::new();
    for r in records {
        let Some(host) = r.host.clone() else {
            continue;
        };
        let acc = by_ip.entry(client_ip(&r.client)).or_default();
        acc.connections += 1;
        acc.hosts.insert(host.clone());
        if r.action != Some(ActionKind::Intercept) {
            continue;
        }
        match r.verdict {
            VerdictKind::Proceeded => acc.proceeded += 1,
            VerdictKind::Cancelled => {
                acc.refused.insert(host);
                if r.stage == Stage::Handshake && TRUST_ALERTS.contains(&r.reason.as_str()) {
                    acc.trust_alerts += 1;
                }
            }
            _ => {}
        }
    }
    by_ip
        .into_iter()
        .map(|(client, a)| {
            let may_not_trust = a.proceeded == 0
                && !a.refused.is_empty()
                && (a.refused.len() >= 2 || a.trust_alerts > 0);
            let loopback = client
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
            let mut note = Vec::new();
            if may_not_trust {
                let why = if a.trust_alerts > 0 {
                    format!(
                        "refused {} host(s) during the handshake with a trust alert ({} time(s))",
                        a.refused.len(),
                        a.trust_alerts
                    )
                } else {
                    format!("refused every host it tried ({})", a.refused.len())
                };
                note.push(format!(
                    "may not trust the CA rather than pin: it {why} and no intercepted connection \
                     proceeded. Android 7+ apps ignore user CAs unless their network security \
                     config trusts them, and iOS needs Settings > General > About > Certificate \
                     Trust Settings. Check: open http://pin-proxy.invalid/ through the proxy on \
                     the device (the CA and its fingerprint), run `pin-proxy client --ca CA.pem \
                     https://HOST --proxy http://PROXY` as a canary that trusts the CA and pins \
                     nothing (it must proceed), or try a debug build with <debug-overrides>."
                ));
            }
            if loopback {
                note.push(
                    "a loopback address: with `adb reverse` (or a client on this machine) every \
                     app is 127.0.0.1, so this may be several apps"
                        .to_string(),
                );
            }
            ClientRow {
                client,
                connections: a.connections,
                hosts: a.hosts.len() as u64,
                refused_hosts: a.refused.into_iter().collect(),
                proceeded: a.proceeded,
                trust_alerts: a.trust_alerts,
                may_not_trust_ca: may_not_trust,
                note: (!note.is_empty()).then(|| note.join("; ")),
            }
        })
        .collect()
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
        for text in [map.terminal(false), map.markdown()] {
            assert!(
                text.contains("api.test") && text.contains("e.jsonl:3"),
                "{text}"
            );
        }
        let json = serde_json::to_value(&map).unwrap_or_default();
        assert_eq!(json["hosts"][0]["pinned"], "yes");
        assert_eq!(json["malformed"][0]["line"], 3);
        assert!(json["hosts"][0].get("connection_list").is_none());
    }

    fn rec(id: u64, client: &str, host: &str, verdict: &str, stage: &str, reason: &str) -> String {
        format!(
            r#"{{"schema":1,"id":{id},"client":"{client}","host":"{host}","port":443,"action":"intercept","profile":"forged","verdict":"{verdict}","stage":"{stage}","reason":"{reason}","requests":[],"request_count":0,"started":"2026-12-02T10:00:0{id}.000Z","duration_ms":3,"bytes_up":1,"bytes_down":2}}"#
        )
    }

    fn map_of(lines: &[String]) -> PinningMap {
        let (records, malformed) = read_events("e.jsonl", &lines.join("\n"));
        assert!(malformed.is_empty(), "{malformed:?}");
        PinningMap::build(&records, malformed)
    }

    #[test]
    fn a_client_that_refuses_everything_may_not_trust_the_ca() {
        let map = map_of(&[
            // 10.0.0.7 refuses two hosts after the handshake, and proceeds nowhere.
            rec(
                1,
                "10.0.0.7:5000",
                "a.test",
                "cancelled",
                "after_handshake",
                "eof",
            ),
            rec(
                2,
                "10.0.0.7:5001",
                "b.test",
                "cancelled",
                "after_handshake",
                "eof",
            ),
            // 10.0.0.8 sends unknown_ca to its one host.
            rec(
                3,
                "10.0.0.8:5000",
                "a.test",
                "cancelled",
                "handshake",
                "alert:unknown_ca",
            ),
            // 10.0.0.9 refuses one host with unknown_ca but proceeds on another: it trusts
            // the CA, so that alert is pinning (an Android pin-set mismatch).
            rec(
                4,
                "10.0.0.9:5000",
                "a.test",
                "cancelled",
                "handshake",
                "alert:unknown_ca",
            ),
            rec(
                5,
                "10.0.0.9:5001",
                "c.test",
                "proceeded",
                "request",
                "1 request",
            ),
            // 10.0.0.10 refuses its one host after the handshake: plain pinning.
            rec(
                6,
                "10.0.0.10:5000",
                "a.test",
                "cancelled",
                "after_handshake",
                "close_notify",
            ),
            rec(
                7,
                "[::1]:5000",
                "d.test",
                "proceeded",
                "request",
                "1 request",
            ),
        ]);
        let flags: Vec<(&str, bool)> = map
            .clients
            .iter()
            .map(|c| (c.client.as_str(), c.may_not_trust_ca))
            .collect();
        assert_eq!(
            flags,
            [
                ("10.0.0.10", false),
                ("10.0.0.7", true),
                ("10.0.0.8", true),
                ("10.0.0.9", false),
                ("::1", false),
            ]
        );
        let notes = map.client_notes();
        assert!(
            notes[0].starts_with("10.0.0.7: may not trust the CA"),
            "{notes:?}"
        );
        assert!(
            notes[0].contains("refused every host it tried (2)"),
            "{notes:?}"
        );
        assert!(notes[1].contains("trust alert"), "{notes:?}");
        assert!(notes[0].contains(crate::proxy::MAGIC_HOST), "{notes:?}");
        assert!(
            notes[2].starts_with("::1: a loopback address: with `adb reverse`"),
            "{notes:?}"
        );
        assert_eq!(notes.len(), 3);
        let text = map.terminal(false);
        assert!(
            text.contains("clients:\n  10.0.0.7: may not trust"),
            "{text}"
        );
        // a.test was refused by 10.0.0.7, 10.0.0.8, 10.0.0.9 and 10.0.0.10: not all doubtful.
        // b.test only by 10.0.0.7.
        let doubt: Vec<(&str, String)> = map
            .hosts
            .iter()
            .map(|h| (h.host.as_str(), h.pinned_shown()))
            .collect();
        assert_eq!(
            doubt,
            [
                ("a.test", "yes".to_string()),
                ("b.test", "yes?".to_string()),
                ("c.test", "no".to_string()),
                ("d.test", "no".to_string()),
            ]
        );
        assert!(text.contains(DOUBT_NOTE), "{text}");
        assert!(map.markdown().contains("## Clients"));
    }

    #[test]
    fn learned_hosts_are_marked_and_pinned_is_coloured_on_a_terminal() {
        let mut learned = rec(
            1,
            "10.0.0.7:5000",
            "a.test",
            "cancelled",
            "handshake",
            "alert:bad_certificate",
        );
        learned.insert_str(learned.len() - 1, r#","learned":true"#);
        let relayed = rec(
            2,
            "10.0.0.7:5001",
            "b.test",
            "passthrough",
            "tunnel",
            "learned: cancelled 1 time",
        )
        .replace(r#""action":"intercept""#, r#""action":"passthrough""#);
        let map = map_of(&[
            learned,
            relayed,
            rec(
                3,
                "10.0.0.7:5002",
                "c.test",
                "proceeded",
                "request",
                "1 request",
            ),
        ]);
        let marks: Vec<(&str, bool)> = map
            .hosts
            .iter()
            .map(|h| (h.host.as_str(), h.learned))
            .collect();
        assert_eq!(
            marks,
            [("a.test", true), ("b.test", true), ("c.test", false)]
        );
        let plain = map.terminal(false);
        assert!(!plain.contains('\x1b'));
        assert!(
            plain.lines().nth(1).is_some_and(|l| l.contains("learned")),
            "{plain}"
        );
        let colored = map.terminal(true);
        assert!(colored.contains("\x1b[32myes    \x1b[0m"), "{colored}");
        assert!(colored.contains("\x1b[31;1mno     \x1b[0m"), "{colored}");
        assert_eq!(
            map.pinned_counts(),
            [("yes", 1), ("no", 1), ("mixed", 0), ("unknown", 1)]
        );
    }
}
