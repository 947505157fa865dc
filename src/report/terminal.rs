//! The terminal reporter: a progress bar on a terminal (plain lines otherwise), a line per
//! finished case, then a table of every case, the evidence for each one not as expected, and the
//! totals.

use std::io::Write;
use std::time::Instant;

use super::evidence::{self, Collected};
use super::RunReporter;
use crate::case_record::{CaseRecord, RunEvent, RunSummary, Status};
use crate::error::{Error, Result};

/// Writes progress to `progress` (stderr) and the results to `out` (stdout).
pub struct TerminalReporter<O: Write, P: Write> {
    out: O,
    progress: P,
    /// Redraw a one-line bar (only on a terminal).
    bar: bool,
    color: bool,
    collected: Collected,
    total: usize,
    done: usize,
    running: Vec<String>,
    started: Instant,
}

impl<O: Write, P: Write> TerminalReporter<O, P> {
    /// `bar`: draw a progress bar (stderr is a terminal); `color`: ANSI colours in `out`.
    pub fn new(out: O, progress: P, bar: bool, color: bool) -> Self {
        Self {
            out,
            progress,
            bar,
            color,
            collected: Collected::default(),
            total: 0,
            done: 0,
            running: Vec::new(),
            started: Instant::now(),
        }
    }

    fn paint(&self, status: Status) -> String {
        let (text, code) = match status {
            Status::Passed => ("PASS", "32"),
            Status::Failed => ("FAIL", "31"),
            Status::Error => ("ERROR", "33"),
        };
        if self.color {
            format!("\x1b[{code}m{text:<5}\x1b[0m")
        } else {
            format!("{text:<5}")
        }
    }

    fn draw_bar(&mut self) -> std::io::Result<()> {
        if !self.bar {
            return Ok(());
        }
        const WIDTH: usize = 24;
        let filled = (self.done * WIDTH).checked_div(self.total).unwrap_or(0);
        let current = self.running.last().cloned().unwrap_or_default();
        let mut current: String = current.chars().take(48).collect();
        if !current.is_empty() {
            current = format!(" running {current}");
        }
        write!(
            self.progress,
            "\r\x1b[2K[{}{}] {}/{} {:.0}s{current}",
            "=".repeat(filled),
            " ".repeat(WIDTH - filled),
            self.done,
            self.total,
            self.started.elapsed().as_secs_f64(),
        )?;
        self.progress.flush()
    }

    fn clear_bar(&mut self) -> std::io::Result<()> {
        if self.bar {
            write!(self.progress, "\r\x1b[2K")?;
        }
        Ok(())
    }

    fn finished_line(&self, r: &CaseRecord) -> String {
        format!(
            "{} {} / {}  expected {}, observed {} ({:.1} s)",
            self.paint(r.status),
            r.suite,
            r.name,
            r.expected,
            r.observed,
            r.duration_ms as f64 / 1000.0
        )
    }

    fn table(&mut self, summary: &RunSummary) -> std::io::Result<()> {
        // The run is over: the records are read here for the last time.
        let records = std::mem::take(&mut self.collected.records);
        let rows: Vec<[String; 7]> = records
            .iter()
            .map(|r| {
                [
                    r.status.name().to_ascii_uppercase(),
                    format!("{} / {}", r.suite, r.name),
                    r.proxy.clone(),
                    r.origin_key.clone(),
                    evidence::pin_refs(r),
                    r.expected.to_string(),
                    r.observed.to_string(),
                ]
            })
            .collect();
        let header = [
            "STATUS", "CASE", "PROXY", "KEY", "PINS", "EXPECTED", "OBSERVED",
        ];
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let fmt_row = |cells: &[String]| {
            cells
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        writeln!(self.out)?;
        writeln!(self.out, "{}", fmt_row(&header.map(String::from)))?;
        for (row, r) in rows.iter().zip(&records) {
            let mut line = fmt_row(row);
            if self.color && r.status != Status::Passed {
                line = format!(
                    "{}{}",
                    self.paint(r.status),
                    &line[row[0].len().min(line.len())..]
                );
            }
            writeln!(self.out, "{line}")?;
        }
        for r in records.iter().filter(|r| r.status != Status::Passed) {
            writeln!(self.out)?;
            writeln!(
                self.out,
                "{} {} / {}",
                self.paint(r.status),
                r.suite,
                r.name
            )?;
            for line in evidence::lines(r, &self.collected.names) {
                writeln!(self.out, "  {line}")?;
            }
        }
        let notes: Vec<String> = records
            .iter()
            .filter(|r| r.status == Status::Passed && !r.disagreements.is_empty())
            .flat_map(|r| {
                r.disagreements
                    .iter()
                    .map(move |d| format!("{} / {}: {d}", r.suite, r.name))
            })
            .collect();
        if !notes.is_empty() {
            writeln!(self.out)?;
            writeln!(self.out, "Passed, but the client disagreed:")?;
            for n in notes {
                writeln!(self.out, "  {n}")?;
            }
        }
        writeln!(self.out)?;
        writeln!(
            self.out,
            "{} case(s): {} passed, {} failed, {} error(s) in {:.1} s",
            summary.total,
            summary.passed,
            summary.failed,
            summary.errors,
            summary.duration_ms as f64 / 1000.0
        )?;
        self.out.flush()
    }
}

impl<O: Write, P: Write> RunReporter for TerminalReporter<O, P> {
    fn event(&mut self, event: &RunEvent<'_>) -> Result<()> {
        let io = |e: std::io::Error| Error::runtime(format!("cannot write to the terminal: {e}"));
        let finished = self.collected.observe(event);
        match event {
            RunEvent::Started { suites, jobs } => {
                self.total = suites.iter().map(|s| s.cases).sum();
                self.started = Instant::now();
                writeln!(
                    self.progress,
                    "pin-proxy: running {} case(s) from {} suite(s), {} at a time",
                    self.total,
                    suites.len(),
                    jobs
                )
                .map_err(io)?;
                for s in *suites {
                    for note in &s.notes {
                        writeln!(self.progress, "  {} ({}): {note}", s.name, s.file).map_err(io)?;
                    }
                }
                self.draw_bar().map_err(io)?;
            }
            RunEvent::CaseStarted { suite, case } => {
                self.running.push(format!("{suite} / {case}"));
                self.draw_bar().map_err(io)?;
            }
            RunEvent::Prompt { suite, case, text } => {
                self.clear_bar().map_err(io)?;
                writeln!(self.progress, ">>> {suite} / {case}: {text}").map_err(io)?;
                self.progress.flush().map_err(io)?;
                self.draw_bar().map_err(io)?;
            }
            RunEvent::CaseFinished(record) => {
                self.done += 1;
                let key = format!("{} / {}", record.suite, record.name);
                self.running.retain(|r| r != &key);
                self.clear_bar().map_err(io)?;
                let line = self.finished_line(record);
                writeln!(self.progress, "{line}").map_err(io)?;
                self.draw_bar().map_err(io)?;
            }
            RunEvent::Finished(_) => {
                self.clear_bar().map_err(io)?;
                self.progress.flush().map_err(io)?;
                if let Some(summary) = finished {
                    self.table(&summary).map_err(io)?;
                }
            }
        }
        Ok(())
    }
}
