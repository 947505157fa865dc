//! `pin-proxy logs explain|reproduce|collect`: reads a log file (or stdin), prints each pinning
//! or trust failure it holds with what it means (text or `--json`), writes (and runs) the
//! scenario that reproduces one, or runs the TrustKit `report-uri` endpoint until Ctrl-C,
//! SIGTERM or `--max-reports` (each report's explanation on stdout, every other request on
//! stderr). The reading, the meaning, the suite text and the server live in [`crate::logs`];
//! this file opens the input, writes the files, starts the runtime and prints.

use std::fmt::Display;
use std::fs::File;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::error::{exit, Error, Result};
use crate::logs::collect::{self, Collector, Event};
use crate::logs::{self, Failure, ReadError};

#[derive(Debug, Subcommand)]
pub(crate) enum LogsCommand {
    /// Each pinning or trust failure in a log (logcat, syslog, Xcode, CI output, a TrustKit
    /// report, a pin-proxy events file): what it means and what to do. Exit 1 when none is found.
    Explain(ExplainArgs),
    /// Write a scenario suite that fails the way a logged failure did, with its fix beside it
    /// (`--run` runs it at once). Exit 2 when the log lacks what a reproduction needs.
    Reproduce(ReproduceArgs),
    /// A TrustKit report-uri endpoint on loopback: each pin-failure report a device POSTs is
    /// appended to FILE (JSON Lines, which `logs explain` reads) and explained on stdout.
    Collect(CollectArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CollectArgs {
    /// Where to listen; port 0 picks a free port. An address that is not loopback needs
    /// --allow-from.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8765")]
    listen: SocketAddr,
    /// Address ranges that may post reports besides loopback clients (`192.168.1.0/24`,
    /// `10.0.0.7`, `fd00::/8`); repeatable or comma-separated. Others are disconnected.
    #[arg(long, value_name = "CIDR", value_delimiter = ',')]
    allow_from: Vec<crate::access::Cidr>,
    /// The reports file (JSON Lines), appended to; created if missing, in a directory that
    /// exists.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Stop after N reports were collected.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_reports: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct ReproduceArgs {
    /// The log; `-` reads stdin.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Where to write the suite (TOML).
    #[arg(long, short, value_name = "FILE")]
    out: PathBuf,
    /// Which failure, by its number in `logs explain` (default: the first that can be
    /// reproduced).
    #[arg(long, value_name = "N")]
    failure: Option<usize>,
    /// Your own client command (run by `sh -c` with the `PIN_PROXY_*` variables) instead of
    /// `pin-proxy client` with the logged library's policy.
    #[arg(long, value_name = "CMD")]
    client: Option<String>,
    /// Run the suite at once and print its table (the exit code is the run's).
    #[arg(long)]
    run: bool,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
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
        LogsCommand::Reproduce(args) => reproduce(&args),
        LogsCommand::Collect(args) => collect(&args),
    }
}

/// One line to stderr; a closed stderr is not a reason to stop collecting.
fn say(line: impl Display) {
    let _ = writeln!(io::stderr(), "{line}");
}

fn print_event(event: Event) {
    match event {
        Event::Report(collected) => {
            let _ = writeln!(io::stdout(), "{collected}");
        }
        Event::Answered(answered) => say(answered),
    }
}

fn collect(args: &CollectArgs) -> Result<i32> {
    let config = collect::Config {
        listen: args.listen,
        allow_from: crate::access::AllowList::new(args.allow_from.clone()),
        out: args.out.clone(),
        max_reports: args.max_reports,
    };
    let out = args.out.display().to_string();
    let rt = super::current_thread_runtime()?;
    rt.block_on(async move {
        let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
        let collector = Collector::start(&config, events).await?;
        say(format_args!(
            "pin-proxy logs collect: listening on {}; report URL {} (TrustKit: kTSKReportUris; \
             TrustKit-Android: <report-uri>); appending to {out}",
            collector.addr(),
            collector.report_url()
        ));
        match config.max_reports {
            Some(n) => say(format_args!(
                "pin-proxy logs collect: stops after {n} report(s), or on Ctrl-C"
            )),
            None => say("pin-proxy logs collect: stop with Ctrl-C"),
        }
        {
            let stop = super::stop_signal();
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    () = &mut stop => break,
                    () = collector.reached_max() => break,
                    Some(event) = received.recv() => print_event(event),
                }
            }
        }
        let n = collector.shutdown().await?;
        while let Ok(event) = received.try_recv() {
            print_event(event);
        }
        say(format_args!(
            "pin-proxy logs collect: stopped; {n} report{} collected into {out}",
            if n == 1 { "" } else { "s" }
        ));
        Ok::<_, Error>(())
    })?;
    Ok(exit::OK)
}

/// Reads a log (a file or `-`) and explains it.
fn read(file: &PathBuf) -> Result<logs::Explained> {
    let name = file.display().to_string();
    let result = if name == "-" {
        logs::explain(io::stdin().lock())
    } else {
        let f = File::open(file).map_err(|e| Error::file(file, "open the log", e))?;
        logs::explain(f)
    };
    match result {
        Ok(e) => Ok(e),
        Err(ReadError::Binary { line }) => Err(Error::input(
            name,
            format!(
                "binary or non-text input (a NUL byte on line {line}); give a text log \
                 (UTF-16 logs: convert with `iconv -f UTF-16 -t UTF-8`)"
            ),
        )),
        Err(ReadError::Io(e)) => Err(Error::file(file, "read the log", e)),
    }
}

fn reproduce(args: &ReproduceArgs) -> Result<i32> {
    let name = args.file.display().to_string();
    let explained = read(&args.file)?;
    if explained.failures.is_empty() {
        eprintln!(
            "pin-proxy logs: no pinning failure found in {} lines: nothing to reproduce",
            explained.lines
        );
        return Ok(exit::EXPECTATION_FAILED);
    }
    let n = explained.failures.len();
    let index = match args.failure {
        Some(0) => return Err(Error::input("--failure", "failures are numbered from 1")),
        Some(i) if i > n => {
            return Err(Error::input(
                "--failure",
                format!("{name} has {n} failure(s); `pin-proxy logs explain {name}` lists them"),
            ))
        }
        Some(i) => i,
        None => explained
            .failures
            .iter()
            .position(|f| f.diagnosis != logs::Diagnosis::Unknown)
            .map_or(1, |i| i + 1),
    };
    let failure = &explained.failures[index - 1];
    let text = logs::reproduce::suite(failure, &name, index, args.client.as_deref())
        .map_err(|r| Error::input(name.clone(), r.0))?;
    if args.out.exists() && !args.force {
        return Err(Error::input(
            "--out",
            format!("{} exists; give --force to replace it", args.out.display()),
        ));
    }
    write_atomically(&args.out, text.as_bytes())?;
    eprintln!(
        "pin-proxy logs: wrote {} for failure {index} of {n} ({}, line {}, {}): a failure case and its fix",
        args.out.display(),
        failure.format.name(),
        failure.line,
        failure.diagnosis.name()
    );
    if !args.run {
        eprintln!("run it: pin-proxy run {}", args.out.display());
        return Ok(exit::OK);
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::runtime(format!("cannot find pin-proxy's own binary: {e}")))?;
    let status = std::process::Command::new(exe)
        .arg("run")
        .arg(&args.out)
        .status()
        .map_err(|e| Error::runtime(format!("cannot run the suite: {e}")))?;
    Ok(status.code().unwrap_or(exit::RUNTIME))
}

/// Writes a file through a temporary file in the same directory and a rename.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    crate::files::replace(path, bytes, 0o644, "write the suite")
}

#[derive(Serialize)]
struct JsonOut<'a> {
    failures: &'a [Failure],
}

fn explain(args: &ExplainArgs) -> Result<i32> {
    let name = args.file.display().to_string();
    let explained = read(&args.file)?;
    let mut out = io::stdout().lock();
    let written = if args.json {
        serde_json::to_writer_pretty(
            &mut out,
            &JsonOut {
                failures: &explained.failures,
            },
        )
        // Keep the kind of a write error (a closed pipe is not a failure of ours).
        .map_err(|e| {
            e.io_error_kind()
                .map_or_else(|| io::Error::other(e), io::Error::from)
        })
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
        let host = f.host_port();
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
