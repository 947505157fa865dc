//! `pin-proxy report EVENTS...`: reads events files (a malformed or cut line is reported and
//! skipped), prints the per-host pinning map as a table, Markdown or JSON, to stdout or `--out`.
//! The map is [`crate::report::map`]; this file reads the files and writes the output.

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::error::{exit, Error, Result};
use crate::report::gate::{self, Expectation};
use crate::report::map::{self, PinningMap};
use crate::rules::HostGlob;

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// Events files written by `pin-proxy proxy --events` (any number; read in order).
    #[arg(required = true, value_name = "EVENTS")]
    files: Vec<PathBuf>,
    /// The output format.
    #[arg(long, value_enum, default_value_t = MapFormat::Terminal)]
    format: MapFormat,
    /// Write the output to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Gate: every host matching GLOB that was seen must be pinned (all its intercepted
    /// connections cancelled). Repeatable; exit 1 when one fails.
    #[arg(long, value_name = "GLOB")]
    expect_pinned: Vec<String>,
    /// Gate: every host matching GLOB that was seen must not be pinned. Repeatable.
    #[arg(long, value_name = "GLOB")]
    expect_unpinned: Vec<String>,
    /// Gate: a host matching HOST must have sent traffic. Repeatable.
    #[arg(long, value_name = "HOST")]
    expect_host: Vec<String>,
    /// Write the gate's results as JUnit XML (one test case per expectation).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MapFormat {
    /// The table of the proxy's summary, with first and last seen and the readable requests.
    Terminal,
    /// A Markdown table and lists.
    Markdown,
    /// JSON (schema in the README).
    Json,
    /// One self-contained HTML file: the summary, the sortable host table, each host's
    /// connections and readable requests, the legend.
    Html,
}

fn expectations(args: &ReportArgs) -> Result<Vec<Expectation>> {
    let glob =
        |flag: &str, s: &str| HostGlob::parse(s).map_err(|e| Error::input(format!("--{flag}"), e));
    let mut out = Vec::new();
    for g in &args.expect_pinned {
        out.push(Expectation::Pinned(glob("expect-pinned", g)?));
    }
    for g in &args.expect_unpinned {
        out.push(Expectation::Unpinned(glob("expect-unpinned", g)?));
    }
    for g in &args.expect_host {
        out.push(Expectation::Host(glob("expect-host", g)?));
    }
    Ok(out)
}

pub(crate) fn run(args: ReportArgs) -> Result<i32> {
    let expectations = expectations(&args)?;
    let mut records = Vec::new();
    let mut malformed = Vec::new();
    for path in &args.files {
        let bytes =
            std::fs::read(path).map_err(|e| Error::file(path, "read the events file", e))?;
        let text = String::from_utf8_lossy(&bytes);
        let (r, m) = map::read_events(&path.display().to_string(), &text);
        records.extend(r);
        malformed.extend(m);
    }
    let map = PinningMap::build(&records, malformed);
    let text = match args.format {
        MapFormat::Terminal => map.terminal(args.out.is_none() && super::stdout_color()),
        MapFormat::Markdown => map.markdown(),
        MapFormat::Html => map.html(),
        MapFormat::Json => serde_json::to_string_pretty(&map)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| Error::runtime(format!("cannot encode the map: {e}")))?,
    };
    for m in &map.malformed {
        eprintln!(
            "pin-proxy report: {}:{}: skipped: {}",
            m.file, m.line, m.error
        );
    }
    match &args.out {
        Some(path) => crate::report::write_file(path, &text, "write the map")?,
        None => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = out.write_all(text.as_bytes()) {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(Error::runtime(format!("cannot write the map: {e}")));
                }
            }
        }
    }
    if expectations.is_empty() {
        if args.junit.is_some() {
            return Err(Error::input(
                "--junit",
                "needs an --expect-pinned, --expect-unpinned or --expect-host",
            ));
        }
        return Ok(exit::OK);
    }
    let outcomes = gate::judge(&map, &expectations);
    for o in &outcomes {
        eprintln!("{} {}", if o.passed { "PASS" } else { "FAIL" }, o.name);
        for line in &o.evidence {
            eprintln!("  {line}");
        }
    }
    if let Some(path) = &args.junit {
        crate::report::write_file(path, &gate::junit(&outcomes), "write the JUnit file")?;
    }
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    eprintln!(
        "pin-proxy report: {} expectation(s), {failed} failed",
        outcomes.len()
    );
    Ok(if failed == 0 {
        exit::OK
    } else {
        exit::EXPECTATION_FAILED
    })
}
