//! `pin-proxy logs explain`: reads a log file (or stdin), prints each pinning or trust failure
//! it holds with what it means, as text or `--json`. The reading and the meaning live in
//! [`crate::logs`]; this file opens the input and prints.

use std::fs::File;
use std::io::{self, Write as _};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::error::{exit, Error, Result};
use crate::logs::{self, Failure, ReadError};

#[derive(Debug, Subcommand)]
pub(crate) enum LogsCommand {
    /// Each pinning or trust failure in a log (logcat, syslog, Xcode, CI output, a TrustKit
    /// report, a pin-proxy events file): what it means and what to do. Exit 1 when none is found.
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// The log; `-` reads stdin.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Print `{"failures": [...]}` (schema in the README) instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(cmd: LogsCommand) -> Result<i32> {
    match cmd {
        LogsCommand::Explain(args) => explain(&args),
    }
}

#[derive(Serialize)]
struct JsonOut<'a> {
    failures: &'a [Failure],
}

fn explain(args: &ExplainArgs) -> Result<i32> {
    let name = args.file.display().to_string();
    let result = if name == "-" {
        logs::explain(io::stdin().lock())
    } else {
        let file =
            File::open(&args.file).map_err(|e| Error::file(&args.file, "open the log", e))?;
        logs::explain(file)
    };
    let explained = match result {
        Ok(e) => e,
        Err(ReadError::Binary { line }) => {
            return Err(Error::input(
                name,
                format!(
                    "binary or non-text input (a NUL byte on line {line}); give a text log \
                     (UTF-16 logs: convert with `iconv -f UTF-16 -t UTF-8`)"
                ),
            ))
        }
        Err(ReadError::Io(e)) => return Err(Error::file(&args.file, "read the log", e)),
    };
    let mut out = io::stdout().lock();
    let written = if args.json {
        serde_json::to_writer_pretty(
            &mut out,
            &JsonOut {
                failures: &explained.failures,
            },
        )
        .map_err(io::Error::other)
        .and_then(|()| writeln!(out))
    } else {
        write_text(&mut out, &name, &explained)
    };
    if let Err(e) = written {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Err(Error::runtime(format!("cannot write the explanation: {e}")));
        }
    }
    if explained.failures.is_empty() {
        eprintln!(
            "pin-proxy logs: no pinning failure found in {} lines",
            explained.lines
        );
        return Ok(exit::EXPECTATION_FAILED);
    }
    Ok(exit::OK)
}

fn write_text(out: &mut impl io::Write, name: &str, explained: &logs::Explained) -> io::Result<()> {
    let n = explained.failures.len();
    if n == 0 {
        return Ok(());
    }
    writeln!(
        out,
        "{n} failure{} in {} lines of {name}",
        if n == 1 { "" } else { "s" },
        explained.lines
    )?;
    for (i, f) in explained.failures.iter().enumerate() {
        writeln!(out)?;
        let host = match (&f.host, f.port) {
            (Some(h), Some(p)) if h.contains(':') => format!("[{h}]:{p}"),
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.clone(),
            (None, _) => "host not logged".to_string(),
        };
        let times = if f.count > 1 {
            format!(", {} times", f.count)
        } else {
            String::new()
        };
        writeln!(
            out,
            "{}. line {} · {} · {} · {}{times}",
            i + 1,
            f.line,
            f.format.name(),
            host,
            f.diagnosis.name()
        )?;
        if !f.presented_chain.is_empty() {
            writeln!(out, "   presented:")?;
            for c in &f.presented_chain {
                let who = c
                    .subject
                    .as_deref()
                    .map(|s| s.to_string())
                    .or_else(|| c.issuer.as_deref().map(|i| format!("issued by {i}")))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "     {} {} {}",
                    c.position,
                    c.pin.as_deref().unwrap_or("(no pin logged)"),
                    who
                )?;
            }
        } else if !f.presented_pins.is_empty() {
            writeln!(out, "   presented: {}", f.presented_pins.join(", "))?;
        }
        if !f.pinned_pins.is_empty() {
            writeln!(out, "   pinned:    {}", f.pinned_pins.join(", "))?;
        }
        writeln!(out, "   {}", f.explanation)?;
    }
    Ok(())
}
