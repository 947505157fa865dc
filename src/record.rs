//! The connection record: the shared vocabulary of the proxy, the verdict core, the scenario
//! runner and the reporters.
//!
//! One [`ConnectionRecord`] is written per accepted connection, as one line of the JSON Lines
//! events file. This module only defines the types and their JSON form (schema [`SCHEMA`]); it
//! decides nothing (that is `verdict`) and writes nothing (that is `report`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::rules::Profile;

/// Version of the events-file schema. Bumped on any incompatible change.
pub const SCHEMA: u32 = 1;

/// What the client did with the certificate it was shown, in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    /// The client refused the connection after it saw our certificate: pinning or trust worked.
    Cancelled,
    /// The client sent application data through our certificate: its traffic was readable.
    Proceeded,
    /// The proxy relayed the bytes untouched; the client talked to the real server.
    Passthrough,
    /// The proxy could not reach or verify the origin. Never a cancel.
    UpstreamFailed,
    /// Nothing conclusive happened (idle, stopped, failed before any certificate was shown).
    Undecided,
}

impl VerdictKind {
    /// The name used in the events file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cancelled => "cancelled",
            Self::Proceeded => "proceeded",
            Self::Passthrough => "passthrough",
            Self::UpstreamFailed => "upstream_failed",
            Self::Undecided => "undecided",
        }
    }
}

impl fmt::Display for VerdictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where in the connection's life the verdict was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Before any TLS: the proxy request (CONNECT or plain HTTP) or the connection to the origin.
    Connect,
    /// During the client's TLS handshake with the proxy (or the proxy's with the origin).
    Handshake,
    /// After a completed handshake, before any application data.
    AfterHandshake,
    /// Application data flowed (requests were read).
    Request,
    /// A passthrough tunnel.
    Tunnel,
}

impl Stage {
    /// The name used in the events file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Handshake => "handshake",
            Self::AfterHandshake => "after_handshake",
            Self::Request => "request",
            Self::Tunnel => "tunnel",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the proxy did with the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// CONNECT tunnel whose TLS the proxy terminated with a certificate profile.
    Intercept,
    /// CONNECT tunnel relayed untouched.
    Passthrough,
    /// Plain `http://` requests forwarded by the proxy (readable by definition).
    Http,
}

/// Which of the proxy's front doors accepted the connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenerKind {
    /// The HTTP proxy listener (`--listen`): CONNECT or plain `http://` requests.
    #[default]
    Http,
    /// The SOCKS5 listener (`--socks5`).
    Socks5,
    /// The transparent listener (`--transparent`): connections redirected by iptables.
    Transparent,
}

impl ListenerKind {
    /// The name used in records and output.
    pub fn name(self) -> &'static str {
        match self {
            ListenerKind::Http => "http",
            ListenerKind::Socks5 => "socks5",
            ListenerKind::Transparent => "transparent",
        }
    }
}

/// One request the proxy read from the client and forwarded (or answered itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path and query (query values redacted unless `--keep-query`).
    pub path: String,
    /// Status the client got; `None` if the exchange broke before a response.
    pub status: Option<u16>,
    /// The proxy answered it from a `--map-local` entry; the origin was never asked. Always
    /// written; lines written before the field existed read as `false`.
    #[serde(default)]
    pub mapped_local: bool,
    /// Why the proxy answered it with an error of its own (a 502 when the origin failed, a 400
    /// when it could not be forwarded): the reason its response body gives. `None` when the
    /// origin or a `--map-local` entry answered. Written only when set; lines written before
    /// the field existed read as `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RequestRecord {
    /// A request with no status yet. Query values are replaced by `<redacted>` unless
    /// `keep_query` (names stay: they tell what was sent without leaking tokens).
    pub fn new(method: &str, path_and_query: &str, keep_query: bool) -> Self {
        Self {
            method: method.to_string(),
            path: if keep_query {
                path_and_query.to_string()
            } else {
                redact_query(path_and_query)
            },
            status: None,
            mapped_local: false,
            error: None,
        }
    }
}

/// `/a?token=x&b` → `/a?token=<redacted>&b`.
pub fn redact_query(path_and_query: &str) -> String {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return path_and_query.to_string();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) => format!("{name}=<redacted>"),
            None => pair.to_string(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

/// A verdict with its stage and a short machine-friendly reason (e.g. `alert:unknown_ca`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The verdict.
    pub kind: VerdictKind,
    /// Where it was reached.
    pub stage: Stage,
    /// Why, e.g. `alert:unknown_ca`, `close_notify`, `eof`, `2 requests`.
    pub reason: String,
}

/// One certificate of the chain the proxy presented to a client (the shape of the log reader's
/// `presented_chain` entries).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresentedCert {
    /// Its place in the chain as sent: 0 is the leaf.
    pub position: usize,
    /// Subject distinguished name, e.g. `CN=api.example.test`.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// SPKI SHA-256 pin, base64.
    pub pin: String,
}

/// One line of the events file: everything known about one accepted connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    /// Schema version ([`SCHEMA`]).
    pub schema: u32,
    /// Connection number, unique within one proxy run, in accept order.
    pub id: u64,
    /// The client's address.
    pub client: String,
    /// Host the client asked for (SNI, else the CONNECT authority, else the request's host).
    pub host: Option<String>,
    /// Port the client asked for.
    pub port: Option<u16>,
    /// Server name the client sent in its TLS ClientHello, if any.
    pub sni: Option<String>,
    /// What the proxy did.
    pub action: Option<ActionKind>,
    /// Certificate profile presented (intercept only).
    pub profile: Option<Profile>,
    /// SPKI SHA-256 (base64) of the leaf certificate presented to the client.
    pub presented_pin: Option<String>,
    /// Every certificate presented to the client, in the order sent (0 = the leaf). Written
    /// only when a certificate was presented; lines without it read as empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub presented_chain: Vec<PresentedCert>,
    /// The verdict.
    pub verdict: VerdictKind,
    /// Where it was reached.
    pub stage: Stage,
    /// Why.
    pub reason: String,
    /// Requests read from the client, in order: the first 100 (`verdict::MAX_LISTED_REQUESTS`).
    pub requests: Vec<RequestRecord>,
    /// How many requests the client sent, listed or not.
    #[serde(default)]
    pub request_count: u64,
    /// TLS version negotiated with the client, e.g. `TLSv1.3`.
    pub tls_version: Option<String>,
    /// ALPN protocol negotiated with the client, e.g. `h2`.
    pub alpn: Option<String>,
    /// When the connection was accepted (RFC 3339, UTC).
    pub started: String,
    /// How long the connection lasted, in milliseconds.
    pub duration_ms: u64,
    /// Bytes received from the client (raw, TLS included).
    pub bytes_up: u64,
    /// Bytes sent to the client (raw, TLS included).
    pub bytes_down: u64,
    /// Address of the origin the proxy connected to, if it did.
    pub upstream: Option<String>,
    /// This cancel taught learn mode (`--learn`) the host: its later connections are passed
    /// through. Written only when true; lines without it read as `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub learned: bool,
    /// The front door that accepted the connection. Lines written before the field existed
    /// were all accepted by the HTTP listener, and read as `http`.
    #[serde(default)]
    pub listener: ListenerKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_written_before_the_listener_field_reads_as_the_http_listener() {
        let old = r#"{"schema":1,"id":1,"client":"127.0.0.1:1","host":"a.test","port":443,
            "sni":null,"action":"intercept","profile":"forged","presented_pin":null,
            "verdict":"cancelled","stage":"handshake","reason":"alert:unknown_ca","requests":[],
            "request_count":0,"tls_version":null,"alpn":null,"started":"","duration_ms":1,
            "bytes_up":1,"bytes_down":1,"upstream":null}"#;
        let r: ConnectionRecord = serde_json::from_str(old).expect("an old line");
        assert_eq!(r.listener, ListenerKind::Http);
        let written = serde_json::to_string(&r).expect("a line");
        assert!(written.ends_with(r#""listener":"http"}"#), "{written}");
        let socks = written.replace(r#""listener":"http""#, r#""listener":"socks5""#);
        let back: ConnectionRecord = serde_json::from_str(&socks).expect("a new line");
        assert_eq!(back.listener, ListenerKind::Socks5);
    }

    #[test]
    fn the_presented_chain_is_written_when_there_is_one_and_read_as_empty_when_not() {
        let old = r#"{"schema":1,"id":1,"client":"127.0.0.1:1","host":"a.test","port":443,
            "sni":null,"action":"intercept","profile":"forged","presented_pin":"p0",
            "verdict":"cancelled","stage":"handshake","reason":"alert:unknown_ca","requests":[],
            "request_count":0,"tls_version":null,"alpn":null,"started":"","duration_ms":1,
            "bytes_up":1,"bytes_down":1,"upstream":null}"#;
        let mut r: ConnectionRecord = serde_json::from_str(old).expect("an old line");
        assert!(r.presented_chain.is_empty());
        assert!(!serde_json::to_string(&r)
            .expect("a line")
            .contains("presented_chain"));
        r.presented_chain = vec![PresentedCert {
            position: 0,
            subject: "CN=a.test".into(),
            issuer: "CN=pin-proxy CA".into(),
            pin: "p0".into(),
        }];
        let line = serde_json::to_string(&r).expect("a line");
        assert!(
            line.contains(r#""presented_chain":[{"position":0,"subject":"CN=a.test","issuer":"CN=pin-proxy CA","pin":"p0"}]"#),
            "{line}"
        );
        let back: ConnectionRecord = serde_json::from_str(&line).expect("a new line");
        assert_eq!(back, r);
    }

    #[test]
    fn query_values_are_redacted() {
        assert_eq!(redact_query("/a"), "/a");
        assert_eq!(
            redact_query("/a?token=s3cret&flag&b=2"),
            "/a?token=<redacted>&flag&b=<redacted>"
        );
        assert_eq!(RequestRecord::new("GET", "/a?x=1", true).path, "/a?x=1");
        assert_eq!(
            RequestRecord::new("GET", "/a?x=1", false).path,
            "/a?x=<redacted>"
        );
    }

    #[test]
    fn a_line_written_before_mapped_local_still_parses() {
        // An events line as the proxy wrote it before `mapped_local` existed (schema 1).
        let old = r#"{"schema":1,"id":1,"client":"127.0.0.1:48206","host":"api.test","port":443,"sni":"api.test","action":"intercept","profile":"forged","presented_pin":"DdjR1LG6kWkA6kFS/sxFdDWlnmWwrWnygor+ZhrtHqE=","verdict":"proceeded","stage":"request","reason":"1 request","requests":[{"method":"GET","path":"/v1/me?token=<redacted>","status":200}],"request_count":1,"tls_version":"TLSv1.3","alpn":"http/1.1","started":"2026-11-28T04:08:57.904Z","duration_ms":9,"bytes_up":822,"bytes_down":5780,"upstream":"127.0.0.1:18443"}"#;
        let record: ConnectionRecord = serde_json::from_str(old).unwrap();
        assert_eq!(record.schema, SCHEMA);
        assert_eq!(record.requests.len(), 1);
        assert!(!record.requests[0].mapped_local);
        // New lines always carry the field, false or true, and read back the same.
        let mut mapped = record.clone();
        mapped.requests[0].mapped_local = true;
        let line = serde_json::to_string(&mapped).unwrap();
        assert!(line.contains(r#""mapped_local":true"#), "{line}");
        let back: ConnectionRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back, mapped);
        let plain = serde_json::to_string(&record).unwrap();
        assert!(plain.contains(r#""mapped_local":false"#), "{plain}");
    }
}
