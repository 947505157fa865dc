//! How a case's evidence reads, shared by the terminal, JUnit and snapshot reporters: pins by
//! name (`api.current`, `proxy.forged`) instead of base64, and the lines that explain a result.

use std::collections::HashMap;

use crate::case_record::{CaseRecord, RunEvent, RunSummary, SuiteInfo};
use crate::rules::Profile;

/// Names for the pins and CA names generated in a run, per suite.
#[derive(Debug, Default, Clone)]
pub struct PinNames {
    /// Per suite: pin → name.
    by_suite: Vec<HashMap<String, String>>,
    /// Per suite: generated CA common name → name, for redacting text.
    subjects: Vec<HashMap<String, String>>,
}

impl PinNames {
    /// From the suites of a `Started` event.
    pub fn new(suites: &[SuiteInfo]) -> Self {
        let swap = |m: &std::collections::BTreeMap<String, String>| -> HashMap<String, String> {
            m.iter()
                .map(|(name, text)| (text.clone(), name.clone()))
                .collect()
        };
        Self {
            by_suite: suites.iter().map(|s| swap(&s.known_pins)).collect(),
            subjects: suites.iter().map(|s| swap(&s.known_subjects)).collect(),
        }
    }

    /// The name of `pin` in suite `suite`, if the run generated it.
    pub fn name(&self, suite: usize, pin: &str) -> Option<&str> {
        self.by_suite.get(suite)?.get(pin).map(String::as_str)
    }

    /// `name (pin)` when the pin is known, else the pin.
    pub fn show(&self, suite: usize, pin: &str) -> String {
        match self.name(suite, pin) {
            Some(name) => format!("{name} ({pin})"),
            None => pin.to_string(),
        }
    }

    /// Every generated text of a suite with its name, pins and CA common names alike, longest
    /// text first (for replacing in text: `<api.root>` stands for either).
    pub fn pairs(&self, suite: usize) -> Vec<(&str, &str)> {
        let pins = self.by_suite.get(suite).into_iter().flatten();
        let subjects = self.subjects.get(suite).into_iter().flatten();
        let mut pairs: Vec<(&str, &str)> = pins
            .map(|(p, n)| (p.as_str(), n.as_str()))
            .chain(subjects.map(|(t, n)| (t.as_str(), n.as_str())))
            .filter(|(t, _)| !t.is_empty())
            .collect();
        pairs.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(b.1)));
        pairs
    }
}

/// The pins a case gave its client, by reference: `api.current, api.next` or `none`.
pub fn pin_refs(record: &CaseRecord) -> String {
    if record.pins.is_empty() {
        return "none".to_string();
    }
    let refs: Vec<&str> = record.pins.iter().map(|p| p.reference.as_str()).collect();
    let mut text = refs.join(", ");
    if let Some(h) = &record.pinned_host {
        if h != &record.host {
            text.push_str(&format!(" (for {h})"));
        }
    }
    text
}

/// What the case set up: host, proxy action, origin key, pins.
pub fn setup_line(record: &CaseRecord) -> String {
    format!(
        "setup:    {} · proxy {} · origin key {} · pins {}",
        record.host,
        record.proxy,
        record.origin_key,
        pin_refs(record)
    )
}

/// What was observed, and how it was decided.
pub fn observed_line(record: &CaseRecord) -> String {
    format!("observed: {} — {}", record.observed, record.detail)
}

/// The other hosts the client asked the proxy for, if any.
pub fn other_hosts_line(record: &CaseRecord) -> Option<String> {
    let hosts = &record.evidence.other_hosts;
    (!hosts.is_empty()).then(|| format!("proxy:    also asked for {}", hosts.join(", ")))
}

/// The lines that explain a case's result to a person: setup, expectation, decision, each
/// connection the proxy saw, the origin's view, the client's exit and stderr, disagreements.
/// A stepped case lists every step's result, and explains in full each step that did not pass.
pub fn lines(record: &CaseRecord, names: &PinNames) -> Vec<String> {
    if record.steps.is_empty() {
        return one_step_lines(record, names);
    }
    let mut out = Vec::new();
    for (i, step) in record.steps.iter().enumerate() {
        out.push(step_heading(i, step));
        out.extend(
            step_config_lines(step)
                .into_iter()
                .map(|l| format!("  {l}")),
        );
        if step.status != crate::case_record::Status::Passed {
            let view = record.step_view(step);
            out.extend(
                one_step_lines(&view, names)
                    .into_iter()
                    .map(|l| format!("  {l}")),
            );
        }
    }
    out
}

/// What a step did with pin configs: what it published, what the proxy answered itself, and
/// which config the client said it used.
pub fn step_config_lines(step: &crate::case_record::StepRecord) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = &step.published {
        out.push(format!("publish:  {p}"));
    }
    for m in &step.map_local {
        out.push(format!("mapped:   {m}"));
    }
    if let Some(c) = &step.config {
        let version = c
            .version
            .map_or_else(|| "no config".to_string(), |v| format!("version {v}"));
        out.push(format!(
            "config:   the client used {version} ({})",
            c.source
        ));
        if let Some(why) = &c.refused {
            out.push(format!("config:   it turned down the fetch: {why}"));
        }
    }
    out
}

/// `step 2 after-rotation: expected proceeded, observed cancelled (failed)`.
pub fn step_heading(index: usize, step: &crate::case_record::StepRecord) -> String {
    format!(
        "step {} {}: expected {}, observed {} ({})",
        index + 1,
        step.name,
        step.expected,
        step.observed,
        step.status
    )
}

/// For a `smuggle-chain` connection, the line naming each certificate it was sent (with `show`
/// naming a pin), leaf first: what was smuggled.
pub(crate) fn chain_line(
    c: &crate::record::ConnectionRecord,
    show: impl Fn(&str) -> String,
) -> Option<String> {
    if c.profile != Some(Profile::SmuggleChain) {
        return None;
    }
    let sent: Vec<String> = c.presented_chain.iter().map(|p| show(&p.pin)).collect();
    Some(format!("chain:    sent {}", sent.join(", ")))
}

fn one_step_lines(record: &CaseRecord, names: &PinNames) -> Vec<String> {
    let s = record.suite_index;
    let mut out = vec![
        setup_line(record),
        if record.reason.is_empty() {
            format!("expected: {}", record.expected)
        } else {
            format!("expected: {} — {}", record.expected, record.reason)
        },
        observed_line(record),
    ];
    for c in &record.evidence.connections {
        let mut line = format!(
            "proxy:    #{} {} at {} ({})",
            c.id, c.verdict, c.stage, c.reason
        );
        if let Some(pin) = &c.presented_pin {
            line.push_str(&format!(" · presented {}", names.show(s, pin)));
        }
        if let Some(v) = &c.tls_version {
            line.push_str(&format!(" · {v}"));
        }
        if !c.requests.is_empty() {
            let reqs: Vec<String> = c
                .requests
                .iter()
                .map(|r| format!("{} {}", r.method, r.path))
                .collect();
            line.push_str(&format!(" · read {}", reqs.join(", ")));
        }
        out.push(line);
        out.extend(chain_line(c, |pin| names.show(s, pin)));
    }
    out.extend(other_hosts_line(record));
    for p in &record.pins {
        out.push(format!("pin:      {} = {}", p.reference, p.pin));
    }
    out.push(origin_line(record));
    let client = &record.evidence.client;
    out.push(format!("client:   {} · {}", client.exit, client.command));
    for line in client
        .stderr_tail
        .lines()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        out.push(format!("stderr:   | {line}"));
    }
    for d in &record.disagreements {
        out.push(format!("note:     {d}"));
    }
    out
}

/// What the origin saw, in one line. In a passthrough case its handshakes are the client's own;
/// in an intercept case they are the proxy's upstream leg, so only the requests count.
pub fn origin_line(record: &CaseRecord) -> String {
    let requests = record.evidence.origin_requests.len();
    if record.proxy != "passthrough" {
        return format!("origin:   {requests} request(s) forwarded by the proxy");
    }
    let hs = &record.evidence.origin_handshakes;
    let failed: Vec<&str> = hs.iter().filter_map(|h| h.failure.as_deref()).collect();
    let mut line = format!("origin:   {} handshake(s) with the client", hs.len());
    if !failed.is_empty() {
        line.push_str(&format!(
            ", {} failed ({})",
            failed.len(),
            failed.join(", ")
        ));
    }
    line.push_str(&format!(" · {requests} request(s)"));
    line
}

/// What the file-writing reporters keep of a run: the suites, their pin names and every case
/// record, handed back in suite and case order whatever order the cases finished in.
#[derive(Debug, Default)]
pub struct Collected {
    /// Suites as announced.
    pub suites: Vec<SuiteInfo>,
    /// Pin names of those suites.
    pub names: PinNames,
    /// Records, in arrival order until [`Collected::sorted`].
    pub records: Vec<CaseRecord>,
}

impl Collected {
    /// Takes in one event; returns the summary when the run has finished.
    pub fn observe(&mut self, event: &RunEvent<'_>) -> Option<RunSummary> {
        match event {
            RunEvent::Started { suites, .. } => {
                self.names = PinNames::new(suites);
                self.suites = suites.to_vec();
                None
            }
            RunEvent::CaseStarted { .. } | RunEvent::Prompt { .. } => None,
            RunEvent::CaseFinished(record) => {
                self.records.push((*record).clone());
                None
            }
            RunEvent::Finished(summary) => {
                self.sorted();
                Some(**summary)
            }
        }
    }

    /// Records in suite, then case order.
    pub fn sorted(&mut self) -> &[CaseRecord] {
        self.records.sort_by_key(|r| (r.suite_index, r.case_index));
        &self.records
    }

    /// Records of suite `i`, in case order (once sorted).
    pub fn of_suite(&self, i: usize) -> impl Iterator<Item = &CaseRecord> {
        self.records.iter().filter(move |r| r.suite_index == i)
    }
}
