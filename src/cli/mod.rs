//! Command-line interface: clap definitions and dispatch, one file per subcommand. Maps every
//! error to one line on stderr and the exit code from the shared table (`error::exit`).

mod ca;
mod client;
mod device;
mod logs;
mod pin_config;
mod pins;
mod proxy;
mod report;
mod run;

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
    /// Run scenario suites: test origins, a proxy per case, the client under test, reports.
    Run(Box<run::RunArgs>),
    /// Create, show or export the local CA.
    #[command(subcommand)]
    Ca(ca::CaCommand),
    /// The reference pinning client: fetch one https:// URL under a known pinning policy.
    Client(Box<client::ClientArgs>),
    /// Signed pin configs: make a signing key, sign a pins file (JWS or Wultra), verify a signed
    /// config as a client would.
    #[command(subcommand)]
    PinConfig(pin_config::PinConfigCommand),
    /// Pins of certificates, keys and live hosts, in every platform's format; check a pin set
    /// against a host; make a backup key.
    #[command(subcommand)]
    Pins(pins::PinsCommand),
    /// The per-host pinning map of recorded events files: which hosts pin, which do not, and
    /// what was readable.
    Report(Box<report::ReportArgs>),
    /// Pinning-failure logs: explain the failures in a log.
    #[command(subcommand)]
    Logs(logs::LogsCommand),
    /// Prepare a device to use the proxy: Android through adb (reverse, proxy setting, CA;
    /// teardown undoes it), the iOS simulator through xcrun simctl.
    #[command(subcommand)]
    Device(device::DeviceCommand),
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
    // Only the commands that use the CA directory need one (and HOME to find it).
    let ca_dir = || match &cli.ca_dir {
        Some(dir) => Ok(dir.clone()),
        None => crate::ca::default_dir(),
    };
    match cli.command {
        Command::Proxy(args) => proxy::run(*args, &ca_dir()?),
        Command::Run(args) => run::run(*args, &ca_dir()?),
        Command::Ca(cmd) => ca::run(cmd, &ca_dir()?),
        Command::Client(args) => client::run(*args),
        Command::PinConfig(cmd) => pin_config::run(cmd),
        Command::Pins(cmd) => pins::run(cmd),
        Command::Logs(cmd) => logs::run(cmd),
        Command::Report(args) => report::run(*args),
        Command::Device(cmd) => device::run(cmd, &ca_dir()?),
    }
}

/// Parses a duration flag: `500ms`, `5s`, `2m`, or a plain number of seconds.
pub(crate) fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    crate::duration::parse(s)
}

/// Whether to colour standard output: it is a terminal and `NO_COLOR` is not set.
pub(crate) fn stdout_color() -> bool {
    use std::io::IsTerminal as _;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Completes on Ctrl-C or SIGTERM.
pub(crate) async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A tokio runtime for commands that do I/O.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::runtime(format!("cannot start the async runtime: {e}")))
}

/// A tokio runtime that runs everything on the calling thread: the least cost per connection
/// (no wake-ups across threads). The proxy adds threads of its own for `--threads`.
pub(crate) fn current_thread_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::runtime(format!("cannot start the async runtime: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
