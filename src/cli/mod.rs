//! Command-line interface: clap definitions and dispatch, one file per subcommand. Maps every
//! error to one line on stderr and the exit code from the shared table (`error::exit`).

mod ca;
mod proxy;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::error::{exit, Error, Result};

/// Tells, per connection and with evidence, whether a client's certificate pinning works.
#[derive(Debug, Parser)]
#[command(name = "pin-proxy", version, about, long_about = None)]
pub struct Cli {
    /// Directory of the local CA (default: $PIN_PROXY_HOME, else ~/.pin-proxy).
    #[arg(long, global = true, value_name = "DIR")]
    ca_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the intercepting proxy and record a verdict for every connection.
    Proxy(Box<proxy::ProxyArgs>),
    /// Create, show or export the local CA.
    #[command(subcommand)]
    Ca(ca::CaCommand),
}

/// Runs the CLI with the process arguments; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::INVALID_INPUT
            } else {
                exit::OK
            };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pin-proxy: error: {e}");
            e.exit_code()
        }
    }
}

fn run(cli: Cli) -> Result<i32> {
    let ca_dir = match cli.ca_dir {
        Some(dir) => dir,
        None => crate::ca::default_dir()?,
    };
    match cli.command {
        Command::Proxy(args) => proxy::run(*args, &ca_dir),
        Command::Ca(cmd) => ca::run(cmd, &ca_dir),
    }
}

/// Parses a duration: `500ms`, `5s`, `2m`, or a plain number of seconds.
pub(crate) fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 500ms, 5s, 2m)"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s or m)")),
    };
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("{s:?} is out of range (0 to 24 hours)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A tokio runtime for commands that do I/O.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::runtime(format!("cannot start the async runtime: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
