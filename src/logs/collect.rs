//! `logs collect`: a TrustKit `report-uri` endpoint. TrustKit (iOS and Android) POSTs a JSON
//! pin-failure report to each URL of its configuration (`kTSKReportUris`, `<report-uri>`); this
//! server takes each one, appends it to a JSON Lines file that `logs explain` reads, and says
//! what it means.
//!
//! It owns the room's I/O: a small HTTP/1.1 server (hyper) on loopback; the bounds on what a
//! client may send (a body of at most [`MAX_BODY`] bytes, read through
//! `http_body_util::Limited`, the head and the body each within a timeout); the answer to every
//! request (204 for a report; 405, 408, 413, 415, 400, 503 or 500 otherwise, each with a
//! one-line text body; `GET /` a status line); and the reports file (opened for appending at
//! start, one `write_all` of a whole line per report, under a lock).
//!
//! It leaves what a report is and what it means to the parser `logs explain` runs on the file
//! later ([`super::trustkit::report_failure`], then [`super::diagnose`]): a body is accepted
//! exactly when that parser finds a failure in it, so what is collected is what can be
//! explained. Printing, flags and signals are the CLI's (`cli::logs`): the server sends one
//! [`Event`] per request, and per connection that never made one.
//!
//! Loopback only: an emulator or a simulator reaches it (`adb reverse`, the iOS Simulator's
//! shared loopback). Listening on a LAN address comes with an allow-list (`--allow-from`) in a
//! later release.

use crate::access::{self, AllowList};
use std::convert::Infallible;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use time::OffsetDateTime;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::Failure;
use crate::error::{Error, Result};
use crate::lock;

/// The largest body accepted: a report is a few KiB (TrustKit's sample, with three
/// certificates, is 7 KiB).
pub const MAX_BODY: usize = 256 << 10;
/// How long a client may take to send a request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a body, once its head arrived.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The path the start line suggests; any path is accepted.
pub const REPORT_PATH: &str = "/report";

/// What is read and thrown away of a refused body before answering, so that the client reads
/// the answer instead of a reset (a socket closed with unread bytes is reset).
const MAX_DRAIN: usize = 1 << 20;
/// How long that may take.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How long, at shutdown, a connection may take to finish the request it is serving.
const GRACE: Duration = Duration::from_secs(2);
/// The longest path quoted in a log line.
const MAX_LOGGED_PATH: usize = 200;

/// What the collector is told at start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen: loopback, or another address with `allow_from`; port 0 picks a free
    /// port.
    pub listen: SocketAddr,
    /// Who may connect besides loopback clients (`--allow-from`); required off loopback, since
    /// TrustKit cannot send credentials.
    pub allow_from: AllowList,
    /// The reports file, appended to (created if missing; its directory must exist).
    pub out: PathBuf,
    /// Accept this many reports, then answer 503 to more and report [`Collector::reached_max`].
    pub max_reports: Option<u64>,
}

/// What happened, one per request (and per connection that never made a request).
#[derive(Debug, Clone)]
pub enum Event {
    /// A report was appended to the file.
    Report(Box<Collected>),
    /// Anything else: the status page, a refusal, a connection that did not speak HTTP.
    Answered(Answered),
}

/// One report appended to the file.
#[derive(Debug, Clone)]
pub struct Collected {
    /// When it arrived: RFC 3339, UTC, milliseconds (the line's `received`).
    pub received: String,
    /// Who sent it.
    pub from: SocketAddr,
    /// The path (and query) it was posted to.
    pub path: String,
    /// What `logs explain` says of it.
    pub failure: Failure,
    /// How many reports were collected since start, this one included.
    pub number: u64,
}

/// `<time> <host>:<port> <diagnosis>: <explanation>`, the line printed for each report.
impl fmt::Display for Collected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}: {}",
            self.received,
            self.failure.host_port(),
            self.failure.diagnosis.name(),
            self.failure.explanation
        )
    }
}

/// A request that was not a report (or a connection that made no request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// When: RFC 3339, UTC, milliseconds.
    pub at: String,
    /// Who.
    pub peer: SocketAddr,
    /// The status answered; `None` when the connection ended without an answer.
    pub status: Option<u16>,
    /// Why, in words (the answer's body, for a refusal).
    pub reason: String,
}

/// `<time> <peer> <status> <reason>` (`-` for no status).
impl fmt::Display for Answered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "{} {} {status} {}", self.at, self.peer, self.reason),
            None => write!(f, "{} {} - {}", self.at, self.peer, self.reason),
        }
    }
}

/// A running collector; stops when dropped (without waiting for its connections).
pub struct Collector {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl fmt::Debug for Collector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collector")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Collector {
    /// Opens the reports file for appending and listens on `config.listen`. Refuses an address
    /// that is not loopback (an input error), a file whose directory does not exist (an input
    /// error) or that cannot be opened, and an address that cannot be bound. Each request's
    /// [`Event`] goes to `events`.
    pub async fn start(config: &Config, events: mpsc::UnboundedSender<Event>) -> Result<Self> {
        let listen = config.listen;
        access::check_server_listen(listen, &config.allow_from, "logs collect")
            .map_err(|e| Error::input("--listen", e))?;
        let store = Store::open(&config.out)?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| Error::runtime(format!("cannot listen on {listen}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::runtime(format!("cannot read the listening address: {e}")))?;
        let (done, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            addr,
            allow_from: config.allow_from.clone(),
            store: Mutex::new(store),
            max_reports: config.max_reports,
            events,
            done,
        });
        let (stop, stopped) = watch::channel(false);
        let server = tokio::spawn(serve(listener, shared.clone(), stopped));
        Ok(Self {
            addr,
            shared,
            stop,
            server: Some(server),
        })
    }

    /// Where it listens (with the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to configure in TrustKit: `http://ADDR/report`.
    pub fn report_url(&self) -> String {
        format!("http://{}{REPORT_PATH}", self.addr)
    }

    /// Reports collected since start.
    pub fn collected(&self) -> u64 {
        lock(&self.shared.store).count
    }

    /// Completes once `max_reports` reports were collected (never without a maximum).
    pub async fn reached_max(&self) {
        let mut done = self.shared.done.subscribe();
        if done.wait_for(|d| *d).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Stops accepting connections, lets each open one finish the request it is serving (for
    /// at most 2 s), closes the others, and syncs the reports file. Returns the number of
    /// reports collected.
    pub async fn shutdown(mut self) -> Result<u64> {
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        let store = lock(&self.shared.store);
        store
            .file
            .sync_all()
            .map_err(|e| Error::file(&store.path, "write the reports file", e))?;
        Ok(store.count)
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

struct Shared {
    addr: SocketAddr,
    allow_from: AllowList,
    store: Mutex<Store>,
    max_reports: Option<u64>,
    events: mpsc::UnboundedSender<Event>,
    /// Set once `max_reports` reports were collected.
    done: watch::Sender<bool>,
}

impl Shared {
    fn note(&self, peer: SocketAddr, status: Option<u16>, reason: String) {
        let _ = self.events.send(Event::Answered(Answered {
            at: now(),
            peer,
            status,
            reason,
        }));
    }
}

/// The reports file.
struct Store {
    file: File,
    path: PathBuf,
    count: u64,
    /// The file does not end with a line end (a line was cut by a crash or a failed write):
    /// the next line starts with one, so that it stays whole.
    cut: bool,
}

impl Store {
    fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(Error::input(
                    path.display().to_string(),
                    format!(
                        "the directory {} does not exist (logs collect does not create it)",
                        dir.display()
                    ),
                ));
            }
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| Error::file(path, "open the reports file", e))?;
        let cut = ends_cut(&mut file).map_err(|e| Error::file(path, "read the reports file", e))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            count: 0,
            cut,
        })
    }

    /// Appends `line` (which ends with `\n`) in one write.
    fn append(&mut self, line: &str) -> std::io::Result<()> {
        let written = if self.cut {
            let mut whole = String::with_capacity(line.len() + 1);
            whole.push('\n');
            whole.push_str(line);
            self.file.write_all(whole.as_bytes())
        } else {
            self.file.write_all(line.as_bytes())
        };
        match written.and_then(|()| self.file.flush()) {
            Ok(()) => {
                self.cut = false;
                self.count += 1;
                Ok(())
            }
            Err(e) => {
                // Part of the line may be in the file.
                self.cut = true;
                Err(e)
            }
        }
    }
}

/// Whether a non-empty file's last byte is not a line end.
fn ends_cut(file: &mut File) -> std::io::Result<bool> {
    if file.metadata()?.len() == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = stopped.wait_for(|s| *s) => break,
        };
        let Ok((tcp, peer)) = accepted else {
            // Out of file descriptors, most likely: do not spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if !shared.allow_from.allows(peer.ip()) {
            // Closed unread: a client outside the list learns nothing but that.
            drop(tcp);
            shared.note(peer, None, access::NOT_ALLOWED.to_string());
            continue;
        }
        let _ = tcp.set_nodelay(true);
        connections.spawn(connection(tcp, peer, shared.clone(), stopped.clone()));
    }
    drop(listener);
    let finished = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(GRACE + Duration::from_millis(500), finished).await;
    connections.abort_all();
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let requests = Arc::new(AtomicU64::new(0));
    let service = {
        let (shared, requests) = (shared.clone(), requests.clone());
        service_fn(move |req| {
            let (shared, requests) = (shared.clone(), requests.clone());
            async move {
                requests.fetch_add(1, Ordering::Relaxed);
                Ok::<_, Infallible>(answer(&shared, peer, req).await)
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(tcp), service);
    let mut conn = std::pin::pin!(conn);
    let mut stopping = false;
    let result = loop {
        tokio::select! {
            result = conn.as_mut() => break Some(result),
            _ = stopped.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep(GRACE), if stopping => break None,
        }
    };
    if let Some(Err(e)) = result {
        if let Some((status, reason)) = connection_error(&e, requests.load(Ordering::Relaxed)) {
            shared.note(peer, status, reason);
        }
    }
}

/// What to log of a connection that hyper ended with an error, if anything.
fn connection_error(e: &hyper::Error, requests: u64) -> Option<(Option<u16>, String)> {
    if e.is_parse_too_large() {
        // hyper answered 414 or 431 itself.
        let status = if e.to_string().contains("URI too long") {
            414
        } else {
            431
        };
        return Some((Some(status), format!("request head too large ({e})")));
    }
    if e.is_parse() {
        // hyper answered 400 itself (505 for an unknown HTTP version).
        return Some((Some(400), format!("not an HTTP/1.1 request ({e})")));
    }
    if requests > 0 {
        // A kept-alive connection that idled past the head timeout, or went away: its
        // requests were logged.
        return None;
    }
    if e.is_timeout() {
        return Some((
            None,
            format!("no request head within {}s; closed", HEAD_TIMEOUT.as_secs()),
        ));
    }
    if e.is_incomplete_message() {
        return Some((None, "closed in the middle of a request head".to_string()));
    }
    Some((None, format!("connection failed: {e}")))
}

async fn answer(
    shared: &Shared,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (head, mut body) = req.into_parts();
    let path = head
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let what = format!("{} {}", head.method, shorten(&path));
    let root = head.uri.path() == "/";
    match head.method {
        Method::POST => match post(shared, peer, &head, &path, &mut body).await {
            Ok(()) => {
                let mut resp = Response::new(Full::new(Bytes::new()));
                *resp.status_mut() = StatusCode::NO_CONTENT;
                resp
            }
            Err(refused) => refused.answer(shared, peer, &what),
        },
        Method::GET | Method::HEAD if root => {
            let n = lock(&shared.store).count;
            shared.note(peer, Some(200), format!("{what}: status page"));
            text(
                StatusCode::OK,
                &format!(
                    "pin-proxy logs collect: a TrustKit report-uri endpoint; POST pin-failure \
                     reports (JSON) to http://{}{REPORT_PATH} (any path); {n} report{} collected \
                     since start",
                    shared.addr,
                    if n == 1 { "" } else { "s" }
                ),
            )
        }
        _ => {
            if !expects_continue(&head.headers) {
                discard(&mut body).await;
            }
            let allow = if root { "GET, HEAD, POST" } else { "POST" };
            let mut resp = Refused {
                status: StatusCode::METHOD_NOT_ALLOWED,
                reason: "only POST is accepted here (a TrustKit report); GET / shows the status"
                    .to_string(),
                close: true,
            }
            .answer(shared, peer, &what);
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            resp
        }
    }
}

/// A request turned down: its status, why, and whether to close the connection after the
/// answer (its body was not read to the end).
struct Refused {
    status: StatusCode,
    reason: String,
    close: bool,
}

impl Refused {
    fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
            close: false,
        }
    }

    fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    /// Logs it and answers it.
    fn answer(self, shared: &Shared, peer: SocketAddr, what: &str) -> Response<Full<Bytes>> {
        shared.note(
            peer,
            Some(self.status.as_u16()),
            format!("{what}: {}", self.reason),
        );
        let mut resp = text(self.status, &self.reason);
        if self.close {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

/// A POST: read the body within its bounds, parse it as a report, append it.
async fn post(
    shared: &Shared,
    peer: SocketAddr,
    head: &Parts,
    path: &str,
    body: &mut Incoming,
) -> Result<(), Refused> {
    let declared = head
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let too_large = || {
        Refused::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {MAX_BODY} bytes (a TrustKit report is a few KiB)"),
        )
        .closing()
    };
    // A client that waits for `100 Continue` is told before it sends the body.
    if declared.is_some_and(|n| n > MAX_BODY as u64) && expects_continue(&head.headers) {
        return Err(too_large());
    }
    let bytes = match read_body(body).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge) => return Err(too_large()),
        Err(BodyError::TimedOut) => {
            return Err(Refused::new(
                StatusCode::REQUEST_TIMEOUT,
                format!("the body did not arrive within {}s", BODY_TIMEOUT.as_secs()),
            )
            .closing())
        }
        Err(BodyError::Failed(e)) => {
            return Err(Refused::new(
                StatusCode::BAD_REQUEST,
                format!("the body could not be read: {e}"),
            )
            .closing())
        }
    };
    let report = parse_report(&bytes).map_err(|refusal| match refusal {
        NotReport::Json(e) => match unexpected_type(&head.headers) {
            Some(ty) => Refused::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "content type {ty} and a body that is not JSON; TrustKit posts \
                     application/json"
                ),
            ),
            None => Refused::new(
                StatusCode::BAD_REQUEST,
                format!("the body is not JSON: {e}"),
            ),
        },
        NotReport::Fields => Refused::new(
            StatusCode::BAD_REQUEST,
            "JSON, but not a TrustKit report (an object with validated-certificate-chain or \
             known-pins)",
        ),
    })?;
    let received = now();
    let line = line(&received, peer.ip(), path, &report.json);
    let number = {
        let mut store = lock(&shared.store);
        if let Some(max) = shared.max_reports.filter(|max| store.count >= *max) {
            return Err(Refused::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the collector is stopping: it collected the {max} report(s) it was asked for"
                ),
            ));
        }
        store.append(&line).map_err(|e| {
            Refused::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot append to {}: {e}", store.path.display()),
            )
        })?;
        store.count
    };
    let _ = shared.events.send(Event::Report(Box::new(Collected {
        received,
        from: peer,
        path: path.to_string(),
        failure: report.failure,
        number,
    })));
    if shared.max_reports.is_some_and(|max| number >= max) {
        shared.done.send_replace(true);
    }
    Ok(())
}

enum BodyError {
    TooLarge,
    TimedOut,
    Failed(String),
}

/// Reads the whole body, at most [`MAX_BODY`] bytes within [`BODY_TIMEOUT`]. A body over the
/// bound is drained (up to [`MAX_DRAIN`] more bytes) so that the client reads the 413.
async fn read_body(body: &mut Incoming) -> Result<Bytes, BodyError> {
    let read = Limited::new(&mut *body, MAX_BODY).collect();
    match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Err(_) => Err(BodyError::TimedOut),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            discard(body).await;
            Err(BodyError::TooLarge)
        }
        Ok(Err(e)) => Err(BodyError::Failed(e.to_string())),
    }
}

/// Reads and drops what is left of a body, bounded in bytes and time.
async fn discard(body: &mut Incoming) {
    let drain = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                seen = seen.saturating_add(data.len());
                if seen > MAX_DRAIN {
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
}

fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// The request's content type when it says the body is something other than JSON or text
/// (`None` for `application/json`, `application/*+json`, `text/json`, `text/plain`, or none).
fn unexpected_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?;
    let Ok(text) = value.to_str() else {
        return Some("(not ASCII)".to_string());
    };
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json = matches!(
        essence.as_str(),
        "" | "application/json" | "text/json" | "text/plain"
    ) || (essence.starts_with("application/") && essence.ends_with("+json"));
    (!json).then(|| shorten(text))
}

/// A posted body that is a report.
#[derive(Debug)]
struct Report {
    /// The report as sent, on one line (the whitespace between tokens removed).
    json: String,
    /// What `logs explain` says of it.
    failure: Failure,
}

/// Why a body is not a report.
#[derive(Debug, PartialEq, Eq)]
enum NotReport {
    /// It is not JSON (serde's message).
    Json(String),
    /// It is JSON, but not an object with a report's fields.
    Fields,
}

/// A body → the report it holds: JSON whose value the TrustKit report parser finds a failure
/// in. Pure.
fn parse_report(body: &[u8]) -> Result<Report, NotReport> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| NotReport::Json(e.to_string()))?;
    let failure = super::trustkit::report_failure(&value).ok_or(NotReport::Fields)?;
    // Valid JSON is UTF-8, so compacting it cannot fail; say so rather than unwrap.
    let json = compact(body).ok_or_else(|| NotReport::Json("not UTF-8".to_string()))?;
    Ok(Report { json, failure })
}

/// Valid JSON without the whitespace between its tokens: one line, with the keys in the order
/// sent and the numbers as written (re-encoding a `serde_json::Value` would sort the keys).
/// JSON strings cannot hold a raw line end, so the result has none.
fn compact(json: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            in_string = b == b'"';
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// The reports-file line for one report, with its `\n`:
/// `{"received":"...","from":"<ip>","path":"/...","report":{...}}`.
fn line(received: &str, from: IpAddr, path: &str, report_json: &str) -> String {
    format!(
        "{{\"received\":{},\"from\":{},\"path\":{},\"report\":{report_json}}}\n",
        json_string(received),
        json_string(&from.to_string()),
        json_string(path)
    )
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(format!("{body}\n"))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// At most [`MAX_LOGGED_PATH`] characters of `s`, for a log line.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(MAX_LOGGED_PATH) {
        Some((end, _)) => format!("{}...", &s[..end]),
        None => s.to_string(),
    }
}

/// Now: RFC 3339, UTC, milliseconds.
fn now() -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let t = OffsetDateTime::now_utc();
    t.format(&fmt).unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../tests/data/trustkit-report-sample.json");

    fn explain(text: &str) -> Vec<Failure> {
        crate::logs::explain(text.as_bytes()).unwrap().failures
    }

    #[test]
    fn a_collected_line_reads_back_as_the_failure_it_was_accepted_as() {
        let report = parse_report(SAMPLE.as_bytes()).unwrap();
        assert_eq!(report.failure.host.as_deref(), Some("www.datatheorem.com"));
        assert_eq!(
            report.failure.diagnosis,
            super::super::Diagnosis::KeyRotated
        );
        let line = line(
            "2026-12-02T10:00:00.000Z",
            "127.0.0.1".parse().unwrap(),
            "/report?app=ios",
            &report.json,
        );
        assert!(line.ends_with("}\n") && !line[..line.len() - 1].contains('\n'));
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["from"], "127.0.0.1");
        assert_eq!(parsed["path"], "/report?app=ios");
        let sent: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
        assert_eq!(parsed["report"], sent);
        // Keys in the order sent, not sorted.
        assert!(line.contains(r#""report":{"app-bundle-id":"com.datatheorem.testtrustkit2","app-version":"1","app-vendor-id""#));
        assert_eq!(explain(&line), vec![report.failure.clone()]);
        // Two lines: the reader's line parser, not the whole-document path.
        let failures = explain(&format!("{line}{line}"));
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].count, 2);
        assert_eq!(failures[0].presented_chain, report.failure.presented_chain);
    }

    #[test]
    fn reports_with_other_chains_are_counted_apart() {
        let mut other: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
        if let Some(chain) = other["validated-certificate-chain"].as_array_mut() {
            chain.remove(0);
        }
        let other = parse_report(other.to_string().as_bytes()).unwrap();
        let sample = parse_report(SAMPLE.as_bytes()).unwrap();
        let at = "2026-12-02T10:00:00.000Z";
        let ip: IpAddr = "::1".parse().unwrap();
        let file = [&sample, &sample, &other, &sample]
            .iter()
            .map(|r| line(at, ip, "/report", &r.json))
            .collect::<String>();
        let failures = explain(&file);
        assert_eq!(failures.len(), 2, "{failures:#?}");
        assert_eq!((failures[0].line, failures[0].count), (1, 3));
        assert_eq!((failures[1].line, failures[1].count), (3, 1));
        assert_eq!(failures[1].presented_chain.len(), 2);
    }

    #[test]
    fn bodies_that_are_not_reports() {
        assert!(matches!(parse_report(b""), Err(NotReport::Json(_))));
        assert!(matches!(
            parse_report(b"hostname=a"),
            Err(NotReport::Json(_))
        ));
        assert!(matches!(
            parse_report(&[0xff, 0xfe, b'{']),
            Err(NotReport::Json(_))
        ));
        assert!(matches!(
            parse_report(b"{\"a\":1} x"),
            Err(NotReport::Json(_))
        ));
        let deep = "[".repeat(10_000);
        assert!(matches!(
            parse_report(deep.as_bytes()),
            Err(NotReport::Json(_))
        ));
        for json in [
            "{}",
            "[]",
            "1",
            "\"known-pins\"",
            r#"{"hostname":"a.test","port":443}"#,
            // A `logs collect` line is read by `logs explain`, not posted.
            r#"{"report":{"hostname":"a.test","known-pins":[]}}"#,
        ] {
            assert_eq!(
                parse_report(json.as_bytes()).unwrap_err(),
                NotReport::Fields,
                "{json}"
            );
        }
        let minimal = parse_report(br#"{"hostname":"a.test","known-pins":[]}"#).unwrap();
        assert_eq!(minimal.failure.host.as_deref(), Some("a.test"));
    }

    #[test]
    fn compact_keeps_strings_whole() {
        let json = br#" { "a b" : [ 1 , "x\" \\" , { } ] ,
            "c" : "\t" } "#;
        let out = compact(json).unwrap();
        assert_eq!(out, r#"{"a b":[1,"x\" \\",{}],"c":"\t"}"#);
        let before: serde_json::Value = serde_json::from_slice(json).unwrap();
        let after: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(before, after);
    }

    #[test]
    fn content_types() {
        let with = |ty: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ty).unwrap());
            unexpected_type(&h)
        };
        assert_eq!(unexpected_type(&HeaderMap::new()), None);
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "text/plain",
            "application/reports+json",
            "text/json",
        ] {
            assert_eq!(with(ok), None, "{ok}");
        }
        assert_eq!(
            with("application/x-www-form-urlencoded").as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(with("image/png").as_deref(), Some("image/png"));
    }

    #[test]
    fn a_cut_last_line_is_ended_before_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reports.jsonl");
        std::fs::write(&path, "{\"half\":").unwrap();
        let mut store = Store::open(&path).unwrap();
        store.append("{\"a\":1}\n").unwrap();
        store.append("{\"b\":2}\n").unwrap();
        drop(store);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"half\":\n{\"a\":1}\n{\"b\":2}\n"
        );
        let missing = dir.path().join("no/such/dir/reports.jsonl");
        let err = Store::open(&missing).err().unwrap();
        assert_eq!(err.exit_code(), crate::error::exit::INVALID_INPUT);
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn log_lines() {
        let answered = Answered {
            at: "2026-12-02T10:00:00.000Z".into(),
            peer: "127.0.0.1:5000".parse().unwrap(),
            status: Some(405),
            reason: "PUT /report: only POST".into(),
        };
        assert_eq!(
            answered.to_string(),
            "2026-12-02T10:00:00.000Z 127.0.0.1:5000 405 PUT /report: only POST"
        );
        let failure = parse_report(SAMPLE.as_bytes()).unwrap().failure;
        let collected = Collected {
            received: "2026-12-02T10:00:00.000Z".into(),
            from: "127.0.0.1:5000".parse().unwrap(),
            path: "/report".into(),
            failure,
            number: 1,
        };
        assert!(collected.to_string().starts_with(
            "2026-12-02T10:00:00.000Z www.datatheorem.com:443 key_rotated: TrustKit says"
        ));
        assert_eq!(
            shorten(&"é".repeat(300)).chars().count(),
            MAX_LOGGED_PATH + 3
        );
    }
}
