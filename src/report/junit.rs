//! JUnit XML (`--junit FILE`): one `<testsuite>` per scenario file, one `<testcase>` per case;
//! a case not as expected is a `<failure>`, one that could not be judged an `<error>`, both
//! carrying the evidence. GitHub and GitLab CI render this format.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::evidence::{self, Collected};
use super::RunReporter;
use crate::case_record::{CaseRecord, RunEvent, RunSummary, Status};
use crate::error::Result;

/// Writes the XML to a file at the end of the run.
pub struct JunitReporter {
    path: PathBuf,
    collected: Collected,
}

impl JunitReporter {
    /// A reporter writing to `path`.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            collected: Collected::default(),
        }
    }

    fn render(&self, summary: &RunSummary) -> String {
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            x,
            "<testsuites name=\"pin-proxy\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{}\">",
            summary.total,
            summary.failed,
            summary.errors,
            secs(summary.duration_ms)
        );
        for (i, suite) in self.collected.suites.iter().enumerate() {
            let cases: Vec<&CaseRecord> = self.collected.of_suite(i).collect();
            let count = |s: Status| cases.iter().filter(|c| c.status == s).count();
            let time: u64 = cases.iter().map(|c| c.duration_ms).sum();
            let _ = writeln!(
                x,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{}\" file=\"{}\">",
                escape(&suite.name),
                cases.len(),
                count(Status::Failed),
                count(Status::Error),
                secs(time),
                escape(&suite.file)
            );
            for c in cases {
                let _ = writeln!(
                    x,
                    "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\">",
                    escape(&c.name),
                    escape(&suite.name),
                    secs(c.duration_ms)
                );
                let body = evidence::lines(c, &self.collected.names).join("\n");
                match c.status {
                    Status::Passed => {}
                    Status::Failed => {
                        let _ = writeln!(
                            x,
                            "      <failure type=\"expectation\" message=\"expected {}, observed {}: {}\">{}</failure>",
                            c.expected,
                            c.observed,
                            escape(&c.detail),
                            escape(&body)
                        );
                    }
                    Status::Error => {
                        let _ = writeln!(
                            x,
                            "      <error type=\"{}\" message=\"{}\">{}</error>",
                            c.observed,
                            escape(&c.detail),
                            escape(&body)
                        );
                    }
                }
                let client = &c.evidence.client;
                if !client.stdout_tail.is_empty() {
                    let _ = writeln!(
                        x,
                        "      <system-out>{}</system-out>",
                        escape(&client.stdout_tail)
                    );
                }
                if !client.stderr_tail.is_empty() {
                    let _ = writeln!(
                        x,
                        "      <system-err>{}</system-err>",
                        escape(&client.stderr_tail)
                    );
                }
                x.push_str("    </testcase>\n");
            }
            x.push_str("  </testsuite>\n");
        }
        x.push_str("</testsuites>\n");
        x
    }
}

impl RunReporter for JunitReporter {
    fn event(&mut self, event: &RunEvent<'_>) -> Result<()> {
        if let Some(summary) = self.collected.observe(event) {
            let xml = self.render(&summary);
            super::write_file(&self.path, &xml, "write the JUnit report")?;
        }
        Ok(())
    }
}

fn secs(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

/// Escapes text for XML content and attribute values; drops characters XML 1.0 cannot carry
/// (a client's stderr may contain any byte).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(escape("x\u{1b}[0m\ny"), "x\\x1b[0m\ny");
    }
}
