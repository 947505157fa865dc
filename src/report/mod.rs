//! Consumers of what pin-proxy produces, plugged in by the CLI.
//!
//! For the proxy: the JSON Lines events file, the live terminal line per connection and the
//! per-host summary, each a [`RecordSink`]. For scenario runs: the terminal table, the JSON
//! report, JUnit XML and the redacted snapshot, each a [`RunReporter`] fed the runner's events.

pub mod evidence;
pub mod gate;
pub mod json;
pub mod junit;
pub mod live;
pub mod map;
pub mod map_html;
pub mod snapshot;
pub mod terminal;

use crate::error::Result;
use crate::record::ConnectionRecord;

/// Something that takes connection records as they are written.
pub trait RecordSink: Send {
    /// One connection's record.
    fn record(&mut self, record: &ConnectionRecord) -> Result<()>;
    /// No record is waiting: write out what is buffered (whole lines only).
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
    /// The proxy stopped; flush or print what is left.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Something that consumes a scenario run's events (terminal, JSON, JUnit, snapshot).
pub trait RunReporter {
    /// One event, in the order the runner emits them.
    fn event(&mut self, event: &crate::case_record::RunEvent<'_>) -> Result<()>;
}

/// Writes a report file, creating its directory (`out/junit.xml` in a fresh CI checkout).
pub(crate) fn write_file(path: &std::path::Path, text: &str, action: &'static str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| crate::error::Error::file(dir, action, e))?;
    }
    std::fs::write(path, text).map_err(|e| crate::error::Error::file(path, action, e))
}
