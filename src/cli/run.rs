//! `pin-proxy run`: loads scenario files, runs (or lists) their cases, writes the reports, and
//! compares or updates the snapshot. Exit codes: 0 all as expected, 1 a case failed, 2 invalid
//! input, 3 snapshot drift, 4 a case could not be judged or the runner failed.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::error::{exit, Error, Result};
use crate::report::json::JsonReporter;
use crate::report::junit::JunitReporter;
use crate::report::snapshot::{self, SnapshotReporter};
use crate::report::terminal::TerminalReporter;
use crate::report::RunReporter;
use crate::scenario::model::{action_label, PinRef, Suite};
use crate::scenario::runner::{self, RunOptions, Selection};

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Scenario files (TOML).
    #[arg(required = true, value_name = "SCENARIO")]
    files: Vec<PathBuf>,
    /// Print the expanded cases and exit; nothing is run.
    #[arg(long)]
    list: bool,
    /// Cases run in parallel (default: the number of CPUs).
    #[arg(long, short, value_name = "N")]
    jobs: Option<usize>,
    /// Run only the K-th of N slices of the cases (K/N or count:K/N), to split a suite across
    /// CI machines.
    #[arg(long, value_name = "K/N")]
    partition: Option<String>,
    /// Run only cases whose "suite/case" name contains TEXT. Repeatable (any matches).
    #[arg(long, value_name = "TEXT")]
    filter: Vec<String>,
    /// Write the run as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    report_json: Option<PathBuf>,
    /// Write JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Compare the run's redacted snapshot with FILE; a difference exits 3 with a diff.
    #[arg(long, value_name = "FILE")]
    snapshot: Option<PathBuf>,
    /// Write the snapshot to the --snapshot FILE instead of comparing.
    #[arg(long, requires = "snapshot")]
    update_snapshot: bool,
}

pub(crate) fn run(args: RunArgs, ca_dir: &Path) -> Result<i32> {
    let suites = args
        .files
        .iter()
        .map(|f| crate::scenario::parse::load(f))
        .collect::<Result<Vec<Suite>>>()?;
    if args.snapshot.is_some() && (args.partition.is_some() || !args.filter.is_empty()) {
        return Err(Error::input(
            "--snapshot",
            "a snapshot covers a whole run; it cannot be combined with --partition or --filter",
        ));
    }
    let partition = args
        .partition
        .as_deref()
        .map(parse_partition)
        .transpose()
        .map_err(|e| Error::input("--partition", e))?;
    if args.jobs == Some(0) {
        return Err(Error::input("--jobs", "must be at least 1"));
    }
    for suite in &suites {
        if !suite.proxy.listen.is_loopback() && !args.list {
            eprintln!(
                "pin-proxy: warning: {}: the cases' proxies listen on {}: anyone who reaches it can use them",
                suite.file, suite.proxy.listen
            );
        }
    }
    let selections = select(suites, &args.filter, partition);
    if args.list {
        print_list(&selections);
        return Ok(exit::OK);
    }
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
    });
    let options = RunOptions {
        jobs,
        ca_dir: ca_dir.to_path_buf(),
        // `{bin}`: this binary, so a suite can drive `pin-proxy client` wherever it is.
        bin: std::env::current_exe()
            .map_err(|e| Error::runtime(format!("cannot tell where pin-proxy runs from: {e}")))?,
    };
    let color = super::stdout_color();
    let bar = std::io::stderr().is_terminal();
    let mut terminal = TerminalReporter::new(std::io::stdout(), std::io::stderr(), bar, color);
    let mut json = args.report_json.clone().map(JsonReporter::new);
    let mut junit = args.junit.clone().map(JunitReporter::new);
    let mut snapshot_reporter = SnapshotReporter::new();
    let mut reporters: Vec<&mut dyn RunReporter> = vec![&mut terminal];
    if let Some(r) = json.as_mut() {
        reporters.push(r);
    }
    if let Some(r) = junit.as_mut() {
        reporters.push(r);
    }
    if args.snapshot.is_some() {
        reporters.push(&mut snapshot_reporter);
    }
    let summary = super::runtime()?.block_on(runner::run(selections, &options, &mut reporters))?;
    drop(reporters);

    let mut code = if summary.errors > 0 {
        exit::RUNTIME
    } else if summary.failed > 0 {
        exit::EXPECTATION_FAILED
    } else {
        exit::OK
    };
    if let Some(path) = &args.snapshot {
        let text = snapshot_reporter.text().unwrap_or_default();
        if args.update_snapshot {
            crate::report::write_file(path, text, "write the snapshot")?;
            eprintln!("pin-proxy: snapshot written to {}", path.display());
        } else {
            match std::fs::read_to_string(path) {
                Ok(old) => {
                    let diff = snapshot::diff(&old, text);
                    if !diff.is_empty() {
                        eprintln!(
                            "pin-proxy: the run differs from the snapshot {} (- snapshot, + this run):",
                            path.display()
                        );
                        eprint!("{diff}");
                        eprintln!("pin-proxy: if the change is intended, run again with --update-snapshot");
                        if code == exit::OK {
                            code = exit::SNAPSHOT_DRIFT;
                        }
                    } else {
                        eprintln!("pin-proxy: snapshot {} matches", path.display());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    eprintln!(
                        "pin-proxy: no snapshot at {} yet: run with --update-snapshot to write it",
                        path.display()
                    );
                    if code == exit::OK {
                        code = exit::SNAPSHOT_DRIFT;
                    }
                }
                Err(e) => return Err(Error::file(path, "read the snapshot", e)),
            }
        }
    }
    Ok(code)
}

/// `K/N` or `count:K/N`, 1 ≤ K ≤ N.
fn parse_partition(s: &str) -> std::result::Result<(usize, usize), String> {
    let spec = s.strip_prefix("count:").unwrap_or(s);
    let parsed = spec.split_once('/').and_then(|(k, n)| {
        Some((
            k.trim().parse::<usize>().ok()?,
            n.trim().parse::<usize>().ok()?,
        ))
    });
    match parsed {
        Some((k, n)) if k >= 1 && k <= n => Ok((k, n)),
        _ => Err(format!("{s:?}: expected K/N with 1 <= K <= N, e.g. 2/4")),
    }
}

/// Applies the filter, then the partition (over the filtered cases of all suites, in order).
fn select(
    suites: Vec<Suite>,
    filter: &[String],
    partition: Option<(usize, usize)>,
) -> Vec<Selection> {
    let mut position = 0usize;
    suites
        .into_iter()
        .map(|suite| {
            let mut cases = Vec::new();
            for (i, case) in suite.cases.iter().enumerate() {
                let full = format!("{}/{}", suite.name, case.name);
                if !filter.is_empty() && !filter.iter().any(|f| full.contains(f.as_str())) {
                    continue;
                }
                let keep = partition.is_none_or(|(k, n)| position % n == k - 1);
                position += 1;
                if keep {
                    cases.push(i);
                }
            }
            Selection { suite, cases }
        })
        .collect()
}

fn print_list(selections: &[Selection]) {
    let mut total = 0;
    for s in selections {
        let suite = &s.suite;
        println!(
            "suite {} ({}): {} case(s)",
            suite.name,
            suite.file,
            s.cases.len()
        );
        for note in &suite.notes {
            println!("  note: {note}");
        }
        let pins = |pins: &[PinRef]| {
            if pins.is_empty() {
                return "none".to_string();
            }
            pins.iter()
                .map(|p| p.label(&suite.origins))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for &i in &s.cases {
            let c = &suite.cases[i];
            if c.is_stepped() {
                println!("  {:<40} {} step(s): {}", c.name, c.steps.len(), c.reason);
                for step in &c.steps {
                    println!(
                        "    {:<38} {:<12} key {:<8} pins {:<28} expect {}",
                        step.name,
                        action_label(step.action),
                        step.origin_key,
                        pins(&step.pins),
                        step.expect
                    );
                }
                continue;
            }
            println!(
                "  {:<40} {:<12} key {:<8} pins {:<28} expect {:<9} {}",
                c.name,
                c.proxy_label(),
                c.origin_key,
                pins(&c.pins),
                c.expect,
                c.reason
            );
        }
        total += s.cases.len();
    }
    println!("{total} case(s)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions() {
        assert_eq!(parse_partition("2/4"), Ok((2, 4)));
        assert_eq!(parse_partition("count:1/3"), Ok((1, 3)));
        assert!(parse_partition("0/3").is_err());
        assert!(parse_partition("4/3").is_err());
        assert!(parse_partition("hash:1/2").is_err());
    }
}
