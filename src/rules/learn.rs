//! Learn mode's memory (`proxy --learn[=N]`, `--learn-file`): which hosts the client cancelled
//! often enough that the proxy passes them through from then on, and the learn file.
//!
//! Pure: records in, decisions and file text out. The shell (`proxy::learn`) holds a [`Learner`]
//! behind a lock, feeds it each connection's record before the record goes out, asks it about
//! every host it is about to intercept, and writes the file it renders.
//!
//! Every cancel counts, during the handshake or after it (a client that completes the handshake
//! and then closes, as curl's `--pinnedpubkey` and OkHttp's `CertificatePinner` do, has refused
//! just as much as one that sends an alert). Only intercepted connections count: a passthrough
//! or an upstream failure tells nothing about the client. An explicit rule (`--passthrough`,
//! `--profile`, `--rules`, exact or glob) that matches a host beats learning: such a host is
//! never learned, and one read from the learn file is ignored for it.
//!
//! The learn file is a `--rules` file, so it can be given to `--rules` as it is: one
//! passthrough rule per host, each after a comment that holds the evidence.
//!
//! ```toml
//! # learned: cancelled 2 times; last alert:unknown_ca at handshake, from 10.0.0.7:51234, 2026-12-02T10:00:00.123Z
//! [[rule]]
//! hosts = "api.example.com"
//! action = "passthrough"
//! ```

use std::collections::{BTreeMap, HashMap};

use super::{file, Action, Rules};
use crate::record::{ActionKind, ConnectionRecord, VerdictKind};

/// The first line of a rule's comment in the learn file, before the count.
const EVIDENCE_PREFIX: &str = "learned: cancelled ";

/// A host learn mode passes through, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LearnedHost {
    /// The host (lower-cased), as the records name it: the SNI, else the CONNECT host.
    pub host: String,
    /// Cancels counted when it was learned.
    pub cancels: u64,
    /// The evidence, one line: `learned: cancelled N times; last REASON at STAGE, from CLIENT,
    /// WHEN`, or whatever comment the learn file held for it.
    pub evidence: String,
}

/// How every reason of a learned passthrough begins.
const REASON_PREFIX: &str = "learned:";

/// Whether a record's reason is that of a passthrough learn mode decided.
pub fn is_learned_reason(reason: &str) -> bool {
    reason.starts_with(REASON_PREFIX)
}

impl LearnedHost {
    /// The reason its passthrough records carry: `learned: cancelled N times` (or, for an entry
    /// written into the learn file by hand, `learned: listed in the learn file`).
    pub fn reason(&self) -> String {
        if self.cancels == 0 {
            return format!("{REASON_PREFIX} listed in the learn file");
        }
        format!("{REASON_PREFIX} cancelled {}", times(self.cancels))
    }
}

/// `1 time`, `3 times`.
pub fn times(n: u64) -> String {
    if n == 1 {
        "1 time".into()
    } else {
        format!("{n} times")
    }
}

/// Counts cancels per host and remembers the hosts it has learned.
#[derive(Clone, Debug)]
pub struct Learner {
    threshold: u64,
    explicit: Rules,
    cancels: HashMap<String, u64>,
    learned: BTreeMap<String, LearnedHost>,
}

impl Learner {
    /// A learner that passes a host through after `threshold` cancels (at least 1), with the
    /// proxy's explicit rules (which it never overrides) and the hosts of a learn file.
    pub fn new(threshold: u64, explicit: Rules, known: Vec<LearnedHost>) -> Self {
        let learned = known
            .into_iter()
            .map(|h| (h.host.to_ascii_lowercase(), h))
            .collect();
        Self {
            threshold: threshold.max(1),
            explicit,
            cancels: HashMap::new(),
            learned,
        }
    }

    /// The cancels after which a host is learned.
    pub fn threshold(&self) -> u64 {
        self.threshold
    }

    /// Whether an explicit rule matches `host` (then learning has no say).
    fn ruled(&self, host: &str) -> bool {
        self.explicit.rule_for(host).is_some()
    }

    /// The learned entry that decides `host`: `None` when the host is not learned or an explicit
    /// rule matches it.
    pub fn passthrough_for(&self, host: &str) -> Option<&LearnedHost> {
        if self.learned.is_empty() {
            return None;
        }
        let entry = self.learned.get(&host.to_ascii_lowercase())?;
        (!self.ruled(host)).then_some(entry)
    }

    /// Counts one connection's record. Returns the host's entry when this record is the cancel
    /// that taught it (the count reached the threshold just now).
    pub fn observe(&mut self, record: &ConnectionRecord) -> Option<&LearnedHost> {
        if record.verdict != VerdictKind::Cancelled || record.action != Some(ActionKind::Intercept)
        {
            return None;
        }
        let host = record.host.as_deref()?.to_ascii_lowercase();
        if self.learned.contains_key(&host) || self.ruled(&host) {
            return None;
        }
        let count = self.cancels.entry(host.clone()).or_insert(0);
        *count += 1;
        if *count < self.threshold {
            return None;
        }
        let cancels = *count;
        self.cancels.remove(&host);
        let evidence = one_line(&format!(
            "{EVIDENCE_PREFIX}{}; last {} at {}, from {}, {}",
            times(cancels),
            record.reason,
            record.stage,
            record.client,
            record.started
        ));
        let entry = LearnedHost {
            host: host.clone(),
            cancels,
            evidence,
        };
        Some(self.learned.entry(host).or_insert(entry))
    }

    /// The learned hosts, by name.
    pub fn hosts(&self) -> impl Iterator<Item = &LearnedHost> {
        self.learned.values()
    }

    /// The learn file's text: a header, then one commented passthrough rule per host, by name.
    pub fn file_text(&self) -> String {
        let mut out = String::from(
            "# pin-proxy learn file: hosts whose client cancelled intercepted connections, passed\n\
             # through untouched by `pin-proxy proxy --learn --learn-file`. It is also a --rules\n\
             # file. An explicit rule (--rules, --passthrough, --profile) beats an entry here;\n\
             # delete an entry to intercept its host again.\n",
        );
        for h in self.learned.values() {
            out.push_str(&format!(
                "\n# {}\n[[rule]]\nhosts = \"{}\"\naction = \"passthrough\"\n",
                h.evidence, h.host
            ));
        }
        out
    }
}

/// A comment line cannot hold a line break or a control character.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Reads a learn file (`name` is used in errors, `name:line: field: message`): every rule must be
/// a passthrough for one host. The comment right above a rule is its evidence, and its count is
/// read back from `learned: cancelled N time(s)`; an entry added by hand counts 0.
pub fn parse_file(name: &str, text: &str) -> Result<Vec<LearnedHost>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (rule, line) in file::parse_with_lines(name, text)? {
        if rule.action != Action::Passthrough {
            return Err(format!(
                "{name}:{line}: action: a learn file holds passthrough rules only; put a \
                 profile rule in --rules"
            ));
        }
        if !rule.hosts.is_exact() {
            return Err(format!(
                "{name}:{line}: hosts: a learn file names one host per rule, not a pattern \
                 ({:?}); put it in --rules",
                rule.hosts.as_str()
            ));
        }
        let evidence = comment_above(&lines, line);
        let cancels = evidence
            .strip_prefix(EVIDENCE_PREFIX)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let evidence = if evidence.is_empty() {
            format!("{EVIDENCE_PREFIX}? (added to {name} by hand)")
        } else {
            evidence
        };
        out.push(LearnedHost {
            host: rule.hosts.as_str().to_string(),
            cancels,
            evidence,
        });
    }
    Ok(out)
}

/// The comment lines right above the `[[rule]]` that holds line `hosts_line` (1-based), joined.
fn comment_above(lines: &[&str], hosts_line: usize) -> String {
    // Walk up from the hosts line to its table header, then over the comments above that.
    let mut i = hosts_line.saturating_sub(1);
    while i > 0
        && !lines
            .get(i)
            .is_some_and(|l| l.trim_start().starts_with("[["))
    {
        i -= 1;
    }
    let mut comment = Vec::new();
    while i > 0 {
        i -= 1;
        match lines.get(i).map(|l| l.trim()) {
            Some(l) if l.starts_with('#') => comment.push(l.trim_start_matches('#').trim()),
            _ => break,
        }
    }
    comment.reverse();
    comment.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Stage, SCHEMA};
    use crate::rules::{HostGlob, Rule};

    fn record(host: &str, verdict: VerdictKind, stage: Stage, reason: &str) -> ConnectionRecord {
        ConnectionRecord {
            schema: SCHEMA,
            id: 1,
            client: "127.0.0.1:5000".into(),
            host: Some(host.into()),
            port: Some(443),
            sni: Some(host.into()),
            action: Some(ActionKind::Intercept),
            profile: None,
            presented_pin: None,
            presented_chain: Vec::new(),
            verdict,
            stage,
            reason: reason.into(),
            requests: Vec::new(),
            request_count: 0,
            tls_version: None,
            alpn: None,
            started: "2026-12-02T10:00:00.123Z".into(),
            duration_ms: 1,
            bytes_up: 0,
            bytes_down: 0,
            upstream: None,
            learned: false,
            listener: crate::record::ListenerKind::Http,
        }
    }

    fn cancel(host: &str) -> ConnectionRecord {
        record(
            host,
            VerdictKind::Cancelled,
            Stage::AfterHandshake,
            "close_notify",
        )
    }

    #[test]
    fn a_host_is_learned_at_the_threshold_and_only_once() {
        let mut l = Learner::new(2, Rules::default(), Vec::new());
        assert!(l.observe(&cancel("api.test")).is_none());
        assert!(l.passthrough_for("api.test").is_none());
        let learned = l.observe(&cancel("API.test")).cloned().unwrap();
        assert_eq!(learned.host, "api.test");
        assert_eq!(learned.reason(), "learned: cancelled 2 times");
        assert!(is_learned_reason(&learned.reason()));
        assert!(!is_learned_reason("relayed"));
        assert_eq!(
            learned.evidence,
            "learned: cancelled 2 times; last close_notify at after_handshake, from \
             127.0.0.1:5000, 2026-12-02T10:00:00.123Z"
        );
        assert_eq!(l.passthrough_for("Api.Test"), Some(&learned));
        // Another cancel (a connection already under way) teaches nothing new.
        assert!(l.observe(&cancel("api.test")).is_none());
        assert_eq!(l.hosts().count(), 1);
    }

    #[test]
    fn only_cancels_of_intercepted_connections_count() {
        let mut l = Learner::new(1, Rules::default(), Vec::new());
        let mut passthrough = cancel("a.test");
        passthrough.action = Some(ActionKind::Passthrough);
        assert!(l.observe(&passthrough).is_none());
        for kind in [
            VerdictKind::Proceeded,
            VerdictKind::Undecided,
            VerdictKind::UpstreamFailed,
            VerdictKind::Passthrough,
        ] {
            assert!(l
                .observe(&record("a.test", kind, Stage::Handshake, "x"))
                .is_none());
        }
        let mut hostless = cancel("a.test");
        hostless.host = None;
        assert!(l.observe(&hostless).is_none());
        let handshake = record(
            "a.test",
            VerdictKind::Cancelled,
            Stage::Handshake,
            "alert:unknown_ca",
        );
        assert_eq!(
            l.observe(&handshake).map(LearnedHost::reason).as_deref(),
            Some("learned: cancelled 1 time")
        );
    }

    #[test]
    fn explicit_rules_beat_learning_exact_or_glob() {
        let rules = Rules::new(vec![
            Rule::parse_profile("*.pinned.test=expired").unwrap(),
            Rule {
                hosts: HostGlob::parse("relay.test").unwrap(),
                action: Action::Passthrough,
            },
        ]);
        let known = vec![LearnedHost {
            host: "a.pinned.test".into(),
            cancels: 1,
            evidence: "learned: cancelled 1 time".into(),
        }];
        let mut l = Learner::new(1, rules, known);
        assert!(l.passthrough_for("a.pinned.test").is_none());
        assert!(l.observe(&cancel("b.pinned.test")).is_none());
        assert!(l.observe(&cancel("relay.test")).is_none());
        assert!(l.observe(&cancel("other.test")).is_some());
    }

    #[test]
    fn the_file_round_trips_and_is_a_rules_file() {
        let mut l = Learner::new(1, Rules::default(), Vec::new());
        l.observe(&cancel("b.test"));
        l.observe(&record(
            "a.test",
            VerdictKind::Cancelled,
            Stage::Handshake,
            "error: two\nlines",
        ));
        let text = l.file_text();
        let rules = file::parse("learn.toml", &text).unwrap();
        assert_eq!(rules.len(), 2);
        assert!(rules.iter().all(|r| r.action == Action::Passthrough));
        let back = parse_file("learn.toml", &text).unwrap();
        assert_eq!(back, l.hosts().cloned().collect::<Vec<_>>());
        assert_eq!(back[0].host, "a.test");
        assert!(back[0].evidence.contains("error: two lines"), "{back:?}");
        // Read back, the learner passes them through and rewrites the same text.
        let again = Learner::new(1, Rules::default(), back);
        assert_eq!(again.file_text(), text);
        assert!(again.passthrough_for("b.test").is_some());
    }

    #[test]
    fn a_hand_written_entry_and_bad_entries() {
        let text = "[[rule]]\nhosts = \"x.test\"\naction = \"passthrough\"\n";
        let back = parse_file("l.toml", text).unwrap();
        assert_eq!(back[0].cancels, 0);
        assert_eq!(back[0].reason(), "learned: listed in the learn file");
        assert!(back[0].evidence.contains("by hand"), "{back:?}");
        let err = parse_file(
            "l.toml",
            "\n[[rule]]\nhosts = \"*.test\"\naction = \"passthrough\"\n",
        )
        .unwrap_err();
        assert!(err.starts_with("l.toml:3: hosts:"), "{err}");
        let err = parse_file(
            "l.toml",
            "[[rule]]\nhosts = \"x.test\"\nprofile = \"expired\"\n",
        )
        .unwrap_err();
        assert!(err.starts_with("l.toml:2: action:"), "{err}");
        let err = parse_file("l.toml", "[[rule]]\nhosts = \"x.test\"\ncolour = 1\n").unwrap_err();
        assert!(err.starts_with("l.toml:3:"), "{err}");
    }
}
