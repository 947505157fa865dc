//! `--map-local URL=FILE`: requests the proxy answers itself, with a file's bytes or a bare
//! status, instead of asking the origin (like mitmproxy's `map_local` and Charles's Map Local).
//!
//! A spec is `URL=FILE` or `URL=status:NNN`, optionally followed by `;content-type=TYPE`.
//! [`MapLocalSpec::parse`] is pure; [`MapLocal::load`] reads the file once, at start. A request
//! matches an entry only when its scheme, host (ignoring case), port (the scheme's default when
//! the URL names none), path and query are exactly the entry's: no globbing, no normalisation.
//!
//! [`MapLocals`] is the table the proxy consults. Its entries are grouped by origin (scheme,
//! host, port) once, at start, so an intercepted connection looks its origin up once
//! ([`MapLocals::origin`]) and a proxy without entries pays one `is_empty` check per connection
//! and per plain-HTTP request.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode, Uri};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use super::upstream::{full, Body};
use crate::error::{Error, Result};

/// What a spec answers with, before the file is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecAnswer {
    /// The bytes of this file, with status 200.
    File(PathBuf),
    /// This status (200 to 599) and an empty body: a failing fetch.
    Status(u16),
}

/// The URL of an entry, taken apart for matching.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MappedUrl {
    /// `https` (true) or `http` (false).
    pub https: bool,
    /// The host, lower-cased, without the brackets of an IPv6 literal.
    pub host: String,
    /// The port, the scheme's default when the URL names none.
    pub port: u16,
    /// Path and query, exactly as given (`/` when the URL has no path).
    pub path_and_query: String,
}

impl MappedUrl {
    /// The URL in a canonical form: `https://host/path`, with the port when not the default.
    pub fn canonical(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let default = if self.https { 443 } else { 80 };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default {
            format!("{scheme}://{host}{}", self.path_and_query)
        } else {
            format!("{scheme}://{host}:{}{}", self.port, self.path_and_query)
        }
    }
}

impl fmt::Display for MappedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

/// A parsed `--map-local` spec (no file read yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapLocalSpec {
    /// The URL it answers.
    pub url: MappedUrl,
    /// What it answers with.
    pub answer: SpecAnswer,
    /// The `;content-type=` given, if any.
    pub content_type: Option<String>,
}

/// The suffix that gives a content type.
const CONTENT_TYPE_SUFFIX: &str = ";content-type=";

impl MapLocalSpec {
    /// Parses `URL=FILE`, `URL=status:NNN`, either with `;content-type=TYPE` at the end. The
    /// URL is `http://` or `https://` with a host; it may have a query (with `=` in it: the
    /// last `=` before FILE separates them, so FILE cannot contain one). Pure: the file is not
    /// looked at.
    pub fn parse(spec: &str) -> std::result::Result<Self, String> {
        let spec = spec.trim();
        let (rest, content_type) = match spec.to_ascii_lowercase().rfind(CONTENT_TYPE_SUFFIX) {
            Some(at) => {
                let value = spec[at + CONTENT_TYPE_SUFFIX.len()..].trim();
                if value.is_empty() {
                    return Err(format!("{spec:?}: empty content-type"));
                }
                if HeaderValue::from_str(value).is_err() {
                    return Err(format!(
                        "{spec:?}: content-type {value:?} is not a valid header value"
                    ));
                }
                (&spec[..at], Some(value.to_string()))
            }
            None => (spec, None),
        };
        let Some((url, target)) = rest.rsplit_once('=') else {
            return Err(format!(
                "expected URL=FILE or URL=status:NNN (optionally ;content-type=TYPE), got {spec:?}"
            ));
        };
        let url = parse_url(url.trim()).map_err(|e| format!("{spec:?}: {e}"))?;
        let target = target.trim();
        let answer = if let Some(code) = target.strip_prefix("status:") {
            let code = code.trim();
            match code.parse::<u16>() {
                Ok(n) if (200..=599).contains(&n) => SpecAnswer::Status(n),
                _ => {
                    return Err(format!(
                        "{spec:?}: bad status {code:?} (expected status:NNN, a status from 200 \
                         to 599)"
                    ))
                }
            }
        } else if target.is_empty() {
            return Err(format!("{spec:?}: missing FILE after '='"));
        } else {
            SpecAnswer::File(PathBuf::from(target))
        };
        Ok(Self {
            url,
            answer,
            content_type,
        })
    }
}

/// Takes an `http://` or `https://` URL apart. No fragment (a client never sends one), no user
/// information.
fn parse_url(url: &str) -> std::result::Result<MappedUrl, String> {
    let lower = url.to_ascii_lowercase();
    let https = if lower.starts_with("https://") {
        true
    } else if lower.starts_with("http://") {
        false
    } else {
        let scheme = url.split_once("://").map_or("", |(s, _)| s);
        return Err(if scheme.is_empty() {
            format!("URL {url:?} must start with http:// or https://")
        } else {
            format!("unknown scheme {scheme:?} in {url:?} (expected http:// or https://)")
        });
    };
    if url.contains('#') {
        return Err(format!(
            "URL {url:?} has a fragment (#...), which a client never sends"
        ));
    }
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("URL {url:?} is not a valid URL: {e}"))?;
    let authority = uri
        .authority()
        .ok_or_else(|| format!("URL {url:?} has no host"))?;
    if authority.as_str().contains('@') {
        return Err(format!(
            "URL {url:?} has user information, which is not matched"
        ));
    }
    let host = crate::rules::unbracket(authority.host()).to_ascii_lowercase();
    if host.is_empty() {
        return Err(format!("URL {url:?} has no host"));
    }
    let port = match authority.port_u16() {
        Some(0) => return Err(format!("URL {url:?} has port 0")),
        Some(p) => p,
        None if authority.as_str().ends_with(':') => {
            return Err(format!("URL {url:?} has an empty port"))
        }
        None if https => 443,
        None => 80,
    };
    let path_and_query = match uri.path_and_query().map(|p| p.as_str()) {
        None | Some("") => "/".to_string(),
        Some(p) if p.starts_with('?') => format!("/{p}"),
        Some(p) => p.to_string(),
    };
    Ok(MappedUrl {
        https,
        host,
        port,
        path_and_query,
    })
}

/// The content type of a file, guessed from its extension (few on purpose; give
/// `;content-type=` for anything else).
pub fn guess_content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("json") => "application/json",
        Some("jws") => "application/jose",
        Some("html") => "text/html",
        Some("txt") => "text/plain",
        _ => "application/octet-stream",
    }
}

/// One entry, ready to answer.
#[derive(Clone, Debug)]
pub struct MapLocal {
    url: MappedUrl,
    status: StatusCode,
    body: Bytes,
    content_type: Option<HeaderValue>,
    /// What it answers with, for the banner: the file as given, or `status:NNN`.
    source: String,
}

impl MapLocal {
    /// Reads the spec's file (if it names one). A file that cannot be read is a usage error
    /// that names `--map-local` and the file.
    pub fn load(spec: MapLocalSpec) -> Result<Self> {
        let body = match &spec.answer {
            SpecAnswer::File(path) => std::fs::read(path).map_err(|e| {
                Error::input(
                    "--map-local",
                    format!(
                        "cannot read {} (for {}): {e}",
                        path.display(),
                        spec.url.canonical()
                    ),
                )
            })?,
            SpecAnswer::Status(_) => Vec::new(),
        };
        Self::with_body(spec, body).map_err(|e| Error::input("--map-local", e))
    }

    /// An entry from a spec and the file's bytes (ignored for a `status:` spec). Pure.
    pub fn with_body(spec: MapLocalSpec, body: Vec<u8>) -> std::result::Result<Self, String> {
        let (status, body, source, guessed) = match &spec.answer {
            SpecAnswer::File(path) => (
                StatusCode::OK,
                Bytes::from(body),
                path.display().to_string(),
                Some(guess_content_type(path)),
            ),
            SpecAnswer::Status(code) => (
                StatusCode::from_u16(*code).map_err(|e| format!("status {code}: {e}"))?,
                Bytes::new(),
                format!("status:{code}"),
                None,
            ),
        };
        let content_type = match (&spec.content_type, guessed) {
            (Some(given), _) => Some(
                HeaderValue::from_str(given)
                    .map_err(|_| format!("content-type {given:?} is not a valid header value"))?,
            ),
            (None, Some(guess)) => Some(HeaderValue::from_static(guess)),
            (None, None) => None,
        };
        Ok(Self {
            url: spec.url,
            status,
            body,
            content_type,
            source,
        })
    }

    /// The URL it answers.
    pub fn url(&self) -> &MappedUrl {
        &self.url
    }

    /// The status it answers with.
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// One line for the banner: `URL → FILE (TYPE, N bytes)` or `URL → status:NNN`.
    pub fn describe(&self) -> String {
        let mut line = format!("{} → {}", self.url, self.source);
        let content_type = self.content_type.as_ref().and_then(|v| v.to_str().ok());
        if self.status == StatusCode::OK {
            line.push_str(&format!(
                " ({}, {} bytes)",
                content_type.unwrap_or("no content type"),
                self.body.len()
            ));
        } else if let Some(ct) = content_type {
            line.push_str(&format!(" ({ct})"));
        }
        line
    }

    /// The response: the status, the body (shared, not copied), its `Content-Length`, and the
    /// content type.
    pub(crate) fn response(&self) -> Response<Body> {
        let mut resp = Response::new(full(self.body.clone()));
        *resp.status_mut() = self.status;
        let headers = resp.headers_mut();
        if let Some(ct) = &self.content_type {
            headers.insert(header::CONTENT_TYPE, ct.clone());
        }
        // 204 and 304 carry no body and no length.
        if !matches!(
            self.status,
            StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED
        ) {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(self.body.len()));
        }
        resp
    }
}

/// Most bytes of a request body read (and dropped) before a mapped answer; past it, the client's
/// connection is closed after the answer instead of being kept for its next request.
const MAX_DRAINED: usize = 1024 * 1024;

/// Reads and drops a mapped request's body, so that its connection can carry the next request
/// (hyper closes one whose request body was left unread).
pub(crate) async fn drain(mut body: Incoming) {
    let mut read = 0;
    while read <= MAX_DRAINED {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
            Some(Err(_)) | None => return,
        }
    }
}

/// The entries of one origin (scheme, host, port).
#[derive(Debug)]
pub(crate) struct OriginEntries {
    https: bool,
    port: u16,
    entries: Vec<MapLocal>,
}

impl OriginEntries {
    /// The entry for exactly this path and query.
    pub(crate) fn find(&self, path_and_query: &str) -> Option<&MapLocal> {
        self.entries
            .iter()
            .find(|e| e.url.path_and_query == path_and_query)
    }
}

/// Every `--map-local` entry, grouped by origin. Cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct MapLocals {
    /// By host, then by scheme and port.
    by_host: Arc<HashMap<String, Vec<Arc<OriginEntries>>>>,
    /// In the order given, for the banner.
    order: Arc<Vec<MappedUrl>>,
}

impl MapLocals {
    /// A table of `entries`; a URL given twice is an error.
    pub fn new(entries: Vec<MapLocal>) -> std::result::Result<Self, String> {
        let mut by_host: HashMap<String, Vec<OriginEntries>> = HashMap::new();
        let mut order = Vec::new();
        for entry in entries {
            let list = by_host.entry(entry.url.host.clone()).or_default();
            let origin = match list
                .iter_mut()
                .position(|o| o.https == entry.url.https && o.port == entry.url.port)
            {
                Some(i) => &mut list[i],
                None => {
                    list.push(OriginEntries {
                        https: entry.url.https,
                        port: entry.url.port,
                        entries: Vec::new(),
                    });
                    let last = list.len() - 1;
                    &mut list[last]
                }
            };
            if origin.find(&entry.url.path_and_query).is_some() {
                return Err(format!("{} is given twice", entry.url));
            }
            order.push(entry.url.clone());
            origin.entries.push(entry);
        }
        let by_host = by_host
            .into_iter()
            .map(|(host, list)| (host, list.into_iter().map(Arc::new).collect()))
            .collect();
        Ok(Self {
            by_host: Arc::new(by_host),
            order: Arc::new(order),
        })
    }

    /// Whether there are no entries (the proxy then never looks further).
    pub fn is_empty(&self) -> bool {
        self.by_host.is_empty()
    }

    /// The entries in the order given.
    pub fn entries(&self) -> impl Iterator<Item = &MapLocal> {
        self.order
            .iter()
            .filter_map(|url| self.find(url.https, &url.host, url.port, &url.path_and_query))
    }

    /// The entries of one origin, if it has any. `host` must be lower-cased.
    pub(crate) fn origin(&self, https: bool, host: &str, port: u16) -> Option<Arc<OriginEntries>> {
        if self.is_empty() {
            return None;
        }
        self.by_host
            .get(host)?
            .iter()
            .find(|o| o.https == https && o.port == port)
            .cloned()
    }

    /// Whether an `https://` entry is for this host and port: a CONNECT to it needs no origin
    /// before the first request that is not mapped. `host` must be lower-cased.
    pub fn covers(&self, host: &str, port: u16) -> bool {
        self.origin(true, host, port).is_some()
    }

    /// The entry for exactly this request. `host` must be lower-cased.
    pub fn find(
        &self,
        https: bool,
        host: &str,
        port: u16,
        path_and_query: &str,
    ) -> Option<&MapLocal> {
        if self.is_empty() {
            return None;
        }
        self.by_host
            .get(host)?
            .iter()
            .find(|o| o.https == https && o.port == port)?
            .find(path_and_query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> MapLocalSpec {
        MapLocalSpec::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        MapLocalSpec::parse(s).expect_err(s)
    }

    #[test]
    fn a_file_spec_with_a_content_type() {
        let s = spec("https://cfg.example.test/pins=forged.jws;content-type=application/jose");
        assert_eq!(
            s.url,
            MappedUrl {
                https: true,
                host: "cfg.example.test".into(),
                port: 443,
                path_and_query: "/pins".into(),
            }
        );
        assert_eq!(s.answer, SpecAnswer::File("forged.jws".into()));
        assert_eq!(s.content_type.as_deref(), Some("application/jose"));
    }

    #[test]
    fn urls_are_taken_apart_exactly() {
        let s = spec("HTTP://API.Test:8080/a/b?x=1&y=2=resp.json");
        assert!(!s.url.https);
        assert_eq!(s.url.host, "api.test");
        assert_eq!(s.url.port, 8080);
        assert_eq!(s.url.path_and_query, "/a/b?x=1&y=2");
        assert_eq!(s.answer, SpecAnswer::File("resp.json".into()));
        assert_eq!(spec("http://h=f").url.port, 80);
        assert_eq!(spec("http://h=f").url.path_and_query, "/");
        assert_eq!(spec("https://h?q=f").url.path_and_query, "/?q");
        assert_eq!(spec("https://[::1]:8443/x=f").url.host, "::1");
        assert_eq!(
            spec("https://[::1]:8443/x=f").url.canonical(),
            "https://[::1]:8443/x"
        );
        assert_eq!(spec("https://h:443/x=f").url.canonical(), "https://h/x");
        // The path keeps its case and its encoding.
        assert_eq!(spec("https://h/A%20b=f").url.path_and_query, "/A%20b");
    }

    #[test]
    fn status_specs() {
        let s = spec("https://h/x=status:503");
        assert_eq!(s.answer, SpecAnswer::Status(503));
        assert_eq!(s.content_type, None);
        assert_eq!(
            spec("https://h/x=status:204;content-type=text/plain").answer,
            SpecAnswer::Status(204)
        );
        for bad in [
            "status:100",
            "status:101",
            "status:199",
            "status:600",
            "status:abc",
            "status:",
        ] {
            let e = err(&format!("https://h/x={bad}"));
            assert!(e.contains("bad status"), "{bad}: {e}");
        }
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        assert!(err("https://h/x").contains("expected URL=FILE"));
        assert!(err("ftp://h/x=f").contains("unknown scheme \"ftp\""));
        assert!(err("h/x=f").contains("must start with http:// or https://"));
        assert!(err("https:///x=f").contains("URL"));
        assert!(err("https://h/x=").contains("missing FILE"));
        assert!(err("https://h/x#frag=f").contains("fragment"));
        assert!(err("https://u@h/x=f").contains("user information"));
        assert!(err("https://h:0/x=f").contains("port 0"));
        assert!(err("https://h/x=f;content-type=").contains("empty content-type"));
        assert!(err("https://h/x=f;content-type=a\u{1}b").contains("not a valid header"));
    }

    #[test]
    fn a_content_type_may_have_parameters() {
        let s = spec("https://h/x=f.txt;content-type=text/plain; charset=utf-8");
        assert_eq!(s.content_type.as_deref(), Some("text/plain; charset=utf-8"));
        assert_eq!(s.answer, SpecAnswer::File("f.txt".into()));
        let s = spec("https://h/x=f;Content-Type=a/b");
        assert_eq!(s.content_type.as_deref(), Some("a/b"));
    }

    #[test]
    fn content_types_are_guessed_from_a_few_extensions() {
        for (file, ct) in [
            ("a.json", "application/json"),
            ("a.JWS", "application/jose"),
            ("a.html", "text/html"),
            ("a.txt", "text/plain"),
            ("a.bin", "application/octet-stream"),
            ("noext", "application/octet-stream"),
        ] {
            assert_eq!(guess_content_type(Path::new(file)), ct, "{file}");
        }
    }

    fn entry(s: &str, body: &[u8]) -> MapLocal {
        MapLocal::with_body(spec(s), body.to_vec()).unwrap()
    }

    #[test]
    fn responses_carry_the_bytes_the_length_and_the_type() {
        let e = entry("https://h/x=a.json", b"{\"a\":1}");
        let resp = e.response();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(resp.headers()["content-length"], "7");
        let e = entry("https://h/x=status:503", b"ignored");
        let resp = e.response();
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()["content-length"], "0");
        assert!(!resp.headers().contains_key("content-type"));
        let resp = entry("https://h/x=status:204", b"").response();
        assert!(!resp.headers().contains_key("content-length"));
        assert_eq!(
            entry("https://h/x=f.bin;content-type=application/jose", b"").describe(),
            "https://h/x → f.bin (application/jose, 0 bytes)"
        );
        assert_eq!(
            entry("http://h:8080/x?a=1=status:503", b"").describe(),
            "http://h:8080/x?a=1 → status:503"
        );
    }

    #[test]
    fn matching_is_exact() {
        let table = MapLocals::new(vec![
            entry("https://cfg.test/pins=a.json", b"a"),
            entry("https://cfg.test/pins?v=2=b.json", b"b"),
            entry("https://cfg.test:8443/pins=c.json", b"c"),
            entry("http://cfg.test/pins=d.json", b"d"),
        ])
        .unwrap();
        assert!(!table.is_empty());
        let body = |https, port, path: &str| {
            table
                .find(https, "cfg.test", port, path)
                .map(|e| e.body.clone())
        };
        assert_eq!(body(true, 443, "/pins").as_deref(), Some(&b"a"[..]));
        assert_eq!(body(true, 443, "/pins?v=2").as_deref(), Some(&b"b"[..]));
        assert_eq!(body(true, 8443, "/pins").as_deref(), Some(&b"c"[..]));
        assert_eq!(body(false, 80, "/pins").as_deref(), Some(&b"d"[..]));
        for (https, port, path) in [
            (true, 443, "/pins/"),
            (true, 443, "/PINS"),
            (true, 443, "/pins?v=3"),
            (true, 443, "/pins?"),
            (true, 80, "/pins"),
            (false, 443, "/pins"),
        ] {
            assert_eq!(body(https, port, path), None, "{https} {port} {path}");
        }
        assert!(table.find(true, "other.test", 443, "/pins").is_none());
        assert!(table.covers("cfg.test", 443));
        assert!(table.covers("cfg.test", 8443));
        assert!(
            !table.covers("cfg.test", 80),
            "http:// entries are not in tunnels"
        );
        assert!(!table.covers("other.test", 443));
        let urls: Vec<String> = table.entries().map(|e| e.url().canonical()).collect();
        assert_eq!(
            urls,
            [
                "https://cfg.test/pins",
                "https://cfg.test/pins?v=2",
                "https://cfg.test:8443/pins",
                "http://cfg.test/pins"
            ]
        );
    }

    #[test]
    fn an_empty_table_matches_nothing_and_a_url_given_twice_is_refused() {
        let empty = MapLocals::default();
        assert!(empty.is_empty());
        assert!(!empty.covers("h", 443));
        assert!(empty.find(true, "h", 443, "/").is_none());
        let twice = MapLocals::new(vec![
            entry("https://h/x=a", b""),
            entry("https://H:443/x=status:503", b""),
        ]);
        assert!(twice.unwrap_err().contains("given twice"));
    }
}
