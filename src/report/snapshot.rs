//! The snapshot: a plain-text account of a run with everything that varies between runs and
//! machines redacted (ports, durations, generated keys, temporary paths), so that CI can check
//! it in and compare (`--snapshot FILE`, `--update-snapshot`).
//!
//! Pins are not blanked but named (`<api.current>`, `<proxy.forged>`): a snapshot then still
//! says *which* key was presented and pinned. Cases appear in file order whatever order they
//! finished in.

use std::fmt::Write as _;

use super::evidence::{self, Collected, PinNames};
use super::RunReporter;
use crate::case_record::{CaseRecord, RunEvent};
use crate::error::Result;

/// Renders the snapshot when the run finishes; the CLI compares or writes it.
#[derive(Default)]
pub struct SnapshotReporter {
    collected: Collected,
    text: Option<String>,
}

impl SnapshotReporter {
    /// A reporter with nothing collected yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The snapshot, once the run has finished.
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    fn render(&self) -> String {
        let mut s = String::from(
            "# pin-proxy scenario snapshot. Redacted: ports, durations, temporary paths;\n\
             # generated pins are shown by name. Update with --update-snapshot.\n",
        );
        for (i, suite) in self.collected.suites.iter().enumerate() {
            // The file's name only: the same run from another directory is the same snapshot.
            let file = std::path::Path::new(&suite.file)
                .file_name()
                .map_or_else(|| suite.file.clone(), |f| f.to_string_lossy().into_owned());
            let _ = writeln!(
                s,
                "\nsuite {} ({file}): {} case(s)",
                suite.name, suite.cases
            );
            for note in &suite.notes {
                let _ = writeln!(s, "  note: {note}");
            }
            let pins = self.collected.names.pairs(i);
            for r in self.collected.of_suite(i) {
                let _ = writeln!(s, "\ncase {}", r.name);
                for line in case_lines(r, &self.collected.names) {
                    let _ = writeln!(s, "  {}", redact(&line, &pins));
                }
            }
        }
        s
    }
}

fn case_lines(r: &CaseRecord, names: &PinNames) -> Vec<String> {
    if r.steps.is_empty() {
        return step_lines(r, names);
    }
    let mut out = Vec::new();
    for (i, step) in r.steps.iter().enumerate() {
        let exit = step
            .expected_exit
            .map_or_else(String::new, |code| format!(" · expects exit {code}"));
        out.push(format!("step {} {}{exit}", i + 1, step.name));
        out.extend(
            evidence::step_config_lines(step)
                .into_iter()
                .map(|l| format!("  {l}")),
        );
        out.extend(
            step_lines(&r.step_view(step), names)
                .into_iter()
                .map(|l| format!("  {l}")),
        );
    }
    out.push(format!("status:   {}", r.status));
    out
}

/// The lines of one case, or of one step seen as a case.
fn step_lines(r: &CaseRecord, names: &PinNames) -> Vec<String> {
    let mut out = vec![
        evidence::setup_line(r),
        format!("expected: {}", r.expected),
        evidence::observed_line(r),
    ];
    for c in &r.evidence.connections {
        let mut line = format!("proxy:    {} at {} ({})", c.verdict, c.stage, c.reason);
        if let Some(pin) = &c.presented_pin {
            let name = names
                .name(r.suite_index, pin)
                .map_or_else(|| "<other key>".to_string(), |n| format!("<{n}>"));
            line.push_str(&format!(" · presented {name}"));
        }
        if c.request_count > 0 {
            line.push_str(&format!(" · {} request(s)", c.request_count));
        }
        out.push(line);
        out.extend(evidence::chain_line(c, |pin| {
            names
                .name(r.suite_index, pin)
                .map_or_else(|| "<other key>".to_string(), |n| format!("<{n}>"))
        }));
    }
    out.extend(evidence::other_hosts_line(r));
    out.push(evidence::origin_line(r));
    out.push(format!("client:   {}", r.evidence.client.exit));
    for d in &r.disagreements {
        out.push(format!("note:     {d}"));
    }
    out.push(format!("status:   {}", r.status));
    out
}

/// Replaces what varies: generated texts (`(text, name)`, longest first: pins and CA common
/// names) by `<name>`, ports of loopback addresses by `<port>`, temporary directories by `<tmp>`.
pub fn redact(line: &str, pins: &[(&str, &str)]) -> String {
    let mut text = line.to_string();
    for &(pin, name) in pins {
        text = text.replace(pin, &format!("<{name}>"));
    }
    let text = redact_ports(&text);
    let text = redact_now(&text);
    redact_temp(&text)
}

/// `now 2026-12-02T00:28:33Z` (a clock reading in a refusal) → `now <now>`.
fn redact_now(text: &str) -> String {
    const SHAPE: &str = "dddd-dd-ddTdd:dd:ddZ";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("now ") {
        out.push_str(&rest[..i + 4]);
        rest = &rest[i + 4..];
        let stamp = rest.get(..SHAPE.len()).filter(|s| {
            s.bytes().zip(SHAPE.bytes()).all(|(c, want)| {
                if want == b'd' {
                    c.is_ascii_digit()
                } else {
                    c == want
                }
            })
        });
        if stamp.is_some() {
            out.push_str("<now>");
            rest = &rest[SHAPE.len()..];
        }
    }
    out.push_str(rest);
    out
}

fn redact_ports(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = ["127.0.0.1:", "[::1]:", "localhost:"]
        .iter()
        .filter_map(|p| rest.find(p).map(|i| (i, p.len())))
        .min()
    {
        let (i, len) = at;
        out.push_str(&rest[..i + len]);
        rest = &rest[i + len..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 {
            out.push_str("<port>");
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

fn redact_temp(text: &str) -> String {
    let tmp = std::env::temp_dir();
    let tmp = tmp.to_string_lossy();
    let tmp = tmp.trim_end_matches('/');
    if tmp.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(tmp) {
        out.push_str(&rest[..i]);
        out.push_str("<tmp>");
        rest = &rest[i + tmp.len()..];
        let end = rest
            .find(|c: char| c.is_whitespace() || c == ')' || c == ',')
            .unwrap_or(rest.len());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

impl RunReporter for SnapshotReporter {
    fn event(&mut self, event: &RunEvent<'_>) -> Result<()> {
        if self.collected.observe(event).is_some() {
            self.text = Some(self.render());
        }
        Ok(())
    }
}

/// A line diff of `old` → `new` with two lines of context, `-`/`+` prefixed; empty when equal.
pub fn diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    if a == b {
        return String::new();
    }
    // Longest common subsequence table; snapshots are small, but bound the work anyway.
    if a.len().saturating_mul(b.len()) > 16_000_000 {
        let first = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        return format!(
            "(too large for a line diff) first difference at line {}:\n- {}\n+ {}\n",
            first + 1,
            a.get(first).unwrap_or(&""),
            b.get(first).unwrap_or(&"")
        );
    }
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[at(i, j)] = if a[i] == b[j] {
                lcs[at(i + 1, j + 1)] + 1
            } else {
                lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
            };
        }
    }
    // Walk it into ' ', '-', '+' lines.
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[at(i + 1, j)] >= lcs[at(i, j + 1)]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    const CONTEXT: usize = 2;
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, (k, _))| *k != ' ')
        .map(|(i, _)| i)
        .collect();
    let mut out = String::new();
    let mut last_shown: Option<usize> = None;
    for (idx, (kind, line)) in ops.iter().enumerate() {
        let near = changed
            .iter()
            .any(|&c| idx + CONTEXT >= c && idx <= c + CONTEXT);
        if !near {
            continue;
        }
        if last_shown.is_some_and(|l| idx > l + 1) || (last_shown.is_none() && idx > 0) {
            out.push_str("  ...\n");
        }
        let _ = writeln!(out, "{kind} {line}");
        last_shown = Some(idx);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_temp_paths_are_redacted() {
        assert_eq!(
            redact_ports("connect to 127.0.0.1:41234 failed; [::1]:9 and localhost:x"),
            "connect to 127.0.0.1:<port> failed; [::1]:<port> and localhost:x"
        );
        let tmp = std::env::temp_dir().join("pin-proxy-run-abc/trust.pem");
        assert_eq!(
            redact_temp(&format!("file {} here", tmp.display())),
            "file <tmp> here"
        );
    }

    #[test]
    fn generated_pins_and_ca_names_are_replaced_by_their_names() {
        let suite = crate::case_record::SuiteInfo {
            name: "s".into(),
            file: "s.toml".into(),
            cases: 0,
            notes: Vec::new(),
            known_pins: [("api.root".to_string(), "UElO".to_string())].into(),
            known_subjects: [
                (
                    "api.root".to_string(),
                    "pin-proxy test root api 3f9c1a2b".to_string(),
                ),
                (
                    "proxy.ca".to_string(),
                    "pin-proxy scenario CA 0d1e2f3a".to_string(),
                ),
            ]
            .into(),
        };
        let names = PinNames::new(&[suite]);
        assert_eq!(
            redact(
                "subject CN=pin-proxy test root api 3f9c1a2b, O=x · hash UElO · issuer \
                 CN=pin-proxy scenario CA 0d1e2f3a",
                &names.pairs(0)
            ),
            "subject CN=<api.root>, O=x · hash <api.root> · issuer CN=<proxy.ca>"
        );
    }

    #[test]
    fn clock_readings_are_redacted() {
        assert_eq!(
            redact_now("expired at 2020-01-01T00:00:00Z (now 2026-12-02T00:28:33Z); now 5 known"),
            "expired at 2020-01-01T00:00:00Z (now <now>); now 5 known"
        );
    }

    #[test]
    fn diff_shows_changes_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\n";
        let new = "a\nb\nc\nD\ne\nf\ng\n";
        assert_eq!(diff(old, new), "  ...\n  b\n  c\n- d\n+ D\n  e\n  f\n");
        assert_eq!(diff(old, old), "");
        assert_eq!(diff("x\n", "x\ny\n"), "  x\n+ y\n");
    }
}
