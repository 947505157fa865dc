//! The JSON report (`--report-json FILE`): the whole run in one document, schema
//! [`REPORT_SCHEMA`], written when the run finishes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::evidence::Collected;
use super::RunReporter;
use crate::case_record::{CaseRecord, RunEvent, RunSummary, REPORT_SCHEMA};
use crate::error::{Error, Result};

/// Writes the report to a file at the end of the run.
pub struct JsonReporter {
    path: PathBuf,
    collected: Collected,
}

#[derive(Serialize)]
struct Report<'a> {
    schema: u32,
    tool: &'static str,
    version: &'static str,
    summary: &'a RunSummary,
    suites: Vec<SuiteReport<'a>>,
}

#[derive(Serialize)]
struct SuiteReport<'a> {
    name: &'a str,
    file: &'a str,
    notes: &'a [String],
    known_pins: &'a BTreeMap<String, String>,
    known_subjects: &'a BTreeMap<String, String>,
    cases: Vec<&'a CaseRecord>,
}

impl JsonReporter {
    /// A reporter writing to `path`.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            collected: Collected::default(),
        }
    }
}

impl RunReporter for JsonReporter {
    fn event(&mut self, event: &RunEvent<'_>) -> Result<()> {
        let Some(summary) = self.collected.observe(event) else {
            return Ok(());
        };
        let c = &self.collected;
        let report = Report {
            schema: REPORT_SCHEMA,
            tool: "pin-proxy",
            version: env!("CARGO_PKG_VERSION"),
            summary: &summary,
            suites: c
                .suites
                .iter()
                .enumerate()
                .map(|(i, s)| SuiteReport {
                    name: &s.name,
                    file: &s.file,
                    notes: &s.notes,
                    known_pins: &s.known_pins,
                    known_subjects: &s.known_subjects,
                    cases: c.of_suite(i).collect(),
                })
                .collect(),
        };
        let mut text = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::runtime(format!("cannot encode the JSON report: {e}")))?;
        text.push('\n');
        super::write_file(&self.path, &text, "write the JSON report")
    }
}
