//! The proxy's reporters: the events file, the live terminal line, the summary at the end.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::RecordSink;
use crate::error::{Error, Result};
use crate::record::{ActionKind, ConnectionRecord, VerdictKind};
use crate::verdict::summary::Summary;

/// Appends one JSON object per line to a file. Lines are flushed whenever no other record is
/// waiting (so under load several go out in one write), and a flush only ever writes whole
/// lines: a reader (or a crash) never sees half a line.
pub struct EventsFile {
    path: PathBuf,
    out: BufWriter<File>,
}

impl EventsFile {
    /// Creates (truncates) the file.
    pub fn create(path: &Path) -> Result<Self> {
        let file =
            File::create(path).map_err(|e| Error::file(path, "create the events file", e))?;
        Ok(Self {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        })
    }
}

impl RecordSink for EventsFile {
    fn record(&mut self, record: &ConnectionRecord) -> Result<()> {
        let mut line = serde_json::to_vec(record)
            .map_err(|e| Error::runtime(format!("cannot encode a record: {e}")))?;
        line.push(b'\n');
        self.out
            .write_all(&line)
            .map_err(|e| Error::file(&self.path, "write the events file", e))
    }

    fn flush(&mut self) -> Result<()> {
        self.out
            .flush()
            .map_err(|e| Error::file(&self.path, "write the events file", e))
    }

    fn finish(&mut self) -> Result<()> {
        self.out
            .flush()
            .and_then(|()| self.out.get_ref().sync_all())
            .map_err(|e| Error::file(&self.path, "write the events file", e))
    }
}

/// One line per connection on a terminal (or any writer).
pub struct LiveLines<W: Write + Send> {
    out: W,
    color: bool,
}

impl<W: Write + Send> LiveLines<W> {
    /// Lines to `out`, in colour when `color`.
    pub fn new(out: W, color: bool) -> Self {
        Self { out, color }
    }
}

/// What the proxy did, as live lines and the pinning map show it: `intercept/forged`,
/// `passthrough`, `http`, `-`.
pub fn action(r: &ConnectionRecord) -> String {
    match (r.action, r.profile) {
        (Some(ActionKind::Intercept), Some(p)) => format!("intercept/{p}"),
        (Some(ActionKind::Intercept), None) => "intercept".into(),
        (Some(ActionKind::Passthrough), _) => "passthrough".into(),
        (Some(ActionKind::Http), _) => "http".into(),
        (None, _) => "-".into(),
    }
}

/// A request as live lines and the pinning map show it: `GET /v1/me -> 200` (`-` for no status).
pub fn request(q: &crate::record::RequestRecord) -> String {
    let status = q.status.map_or("-".into(), |s| s.to_string());
    format!("{} {} -> {status}", q.method, q.path)
}

/// The live line for a record, e.g.
/// `#3 api.test:443 intercept/forged CANCELLED after_handshake close_notify (12 ms)`. A request
/// answered from `--map-local` is marked `map-local`.
pub fn line(r: &ConnectionRecord, color: bool) -> String {
    let target = match (&r.host, r.port) {
        (Some(h), Some(p)) => crate::rules::authority(h, p),
        (Some(h), None) => h.clone(),
        _ => "-".into(),
    };
    // The HTTP listener's lines stay as they were; another front door is named.
    let target = match r.listener {
        crate::record::ListenerKind::Http => target,
        other => format!("{target} [{}]", other.name()),
    };
    let action = action(r);
    let verdict = r.verdict.name().to_ascii_uppercase();
    let verdict = if color {
        let code = match r.verdict {
            VerdictKind::Cancelled => "32",   // green: the client refused us
            VerdictKind::Proceeded => "31;1", // red: traffic was readable
            VerdictKind::Passthrough => "36",
            VerdictKind::UpstreamFailed => "35",
            VerdictKind::Undecided => "33",
        };
        format!("\x1b[{code}m{verdict}\x1b[0m")
    } else {
        verdict
    };
    let mut requests = String::new();
    if let Some(first) = r.requests.first() {
        let local = if first.mapped_local { " map-local" } else { "" };
        requests = format!(" {}{local}", request(first));
        if r.requests.len() > 1 {
            let more = r.requests.len() - 1;
            match r.requests[1..].iter().filter(|q| q.mapped_local).count() {
                0 => requests.push_str(&format!(" (+{more} more)")),
                n => requests.push_str(&format!(" (+{more} more, {n} map-local)")),
            }
        }
    }
    format!(
        "#{} {target} {action} {verdict} {} {}{requests} ({} ms)",
        r.id, r.stage, r.reason, r.duration_ms
    )
}

impl<W: Write + Send> RecordSink for LiveLines<W> {
    fn record(&mut self, record: &ConnectionRecord) -> Result<()> {
        let text = line(record, self.color);
        // A closed terminal must not stop the proxy or the events file.
        let _ = writeln!(self.out, "{text}");
        Ok(())
    }
}

/// Learn mode's notices: a line when a record taught the proxy its host, and at the end the hosts
/// learned during the run. Printed with `--quiet` too: the switch changes what the proxy does.
pub struct LearnNotices<W: Write + Send> {
    out: W,
    threshold: u64,
    file: Option<PathBuf>,
    learned: Vec<String>,
}

impl<W: Write + Send> LearnNotices<W> {
    /// Notices to `out`; `threshold` is `--learn=N`, `file` the learn file.
    pub fn new(out: W, threshold: u64, file: Option<PathBuf>) -> Self {
        Self {
            out,
            threshold,
            file,
            learned: Vec::new(),
        }
    }
}

impl<W: Write + Send> RecordSink for LearnNotices<W> {
    fn record(&mut self, record: &ConnectionRecord) -> Result<()> {
        if !record.learned {
            return Ok(());
        }
        let host = record.host.clone().unwrap_or_else(|| "-".into());
        let times = crate::rules::learn::times(self.threshold);
        let kept = self
            .file
            .as_ref()
            .map_or(String::new(), |f| format!("; kept in {}", f.display()));
        let _ = writeln!(
            self.out,
            "learned {host}: its client cancelled {times} (last: {} at {}); its next \
             connections are passed through{kept}",
            record.reason, record.stage
        );
        self.learned.push(host);
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        if !self.learned.is_empty() {
            let _ = writeln!(
                self.out,
                "\nlearned this run ({}): {}",
                self.learned.len(),
                self.learned.join(", ")
            );
        }
        Ok(())
    }
}

/// Collects records and prints the per-host summary at the end.
pub struct SummaryPrinter<W: Write + Send> {
    out: W,
    summary: Summary,
}

impl<W: Write + Send> SummaryPrinter<W> {
    /// Prints to `out` on finish.
    pub fn new(out: W) -> Self {
        Self {
            out,
            summary: Summary::default(),
        }
    }
}

impl<W: Write + Send> RecordSink for SummaryPrinter<W> {
    fn record(&mut self, record: &ConnectionRecord) -> Result<()> {
        self.summary.add(record);
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let text = if self.summary.hosts().is_empty() {
            "no connections\n".to_string()
        } else {
            self.summary.table()
        };
        let _ = write!(self.out, "\n{text}");
        let _ = self.out.flush();
        Ok(())
    }
}

/// Standard output, for sinks that print.
pub fn stdout() -> io::Stdout {
    io::stdout()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RequestRecord, Stage, SCHEMA};

    fn record(requests: &[(&str, bool)]) -> ConnectionRecord {
        ConnectionRecord {
            schema: SCHEMA,
            id: 7,
            client: "127.0.0.1:1".into(),
            host: Some("cfg.test".into()),
            port: Some(443),
            sni: Some("cfg.test".into()),
            action: Some(ActionKind::Intercept),
            profile: Some(crate::rules::Profile::Forged),
            presented_pin: None,
            presented_chain: Vec::new(),
            verdict: VerdictKind::Proceeded,
            stage: Stage::Request,
            reason: format!("{} requests", requests.len()),
            requests: requests
                .iter()
                .map(|(path, mapped)| RequestRecord {
                    status: Some(200),
                    mapped_local: *mapped,
                    ..RequestRecord::new("GET", path, false)
                })
                .collect(),
            request_count: requests.len() as u64,
            tls_version: None,
            alpn: None,
            started: String::new(),
            duration_ms: 3,
            bytes_up: 0,
            bytes_down: 0,
            upstream: None,
            learned: false,
            listener: crate::record::ListenerKind::Http,
        }
    }

    #[test]
    fn mapped_requests_are_marked() {
        assert_eq!(
            line(
                &record(&[("/pins", true), ("/a", false), ("/b", true)]),
                false
            ),
            "#7 cfg.test:443 intercept/forged PROCEEDED request 3 requests GET /pins -> 200 \
             map-local (+2 more, 1 map-local) (3 ms)"
        );
        assert_eq!(
            line(&record(&[("/a", false), ("/b", false)]), false),
            "#7 cfg.test:443 intercept/forged PROCEEDED request 2 requests GET /a -> 200 \
             (+1 more) (3 ms)"
        );
    }

    #[test]
    fn other_front_doors_and_ipv6_targets_show_in_the_line() {
        let mut r = record(&[("/a", false)]);
        r.listener = crate::record::ListenerKind::Socks5;
        r.host = Some("::1".into());
        assert_eq!(
            line(&r, false),
            "#7 [::1]:443 [socks5] intercept/forged PROCEEDED request 1 requests GET /a -> 200 \
             (3 ms)"
        );
    }
}
