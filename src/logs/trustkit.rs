//! TrustKit, three ways:
//! - iOS (`TSKLog`, lines prefixed `=== TrustKit: `, `ssl_pin_verifier.m` and
//!   `TSKPinningValidator.m`): `Checking certificate with CN: <summary>` and `Testing SSL Pin
//!   <NSData hex>` per certificate, root first; then `Error: SSL Pin not found for <host>` (no
//!   pin matched) or `Error: default SSL validation failed for <host>: ...` (trust), and `Pin
//!   validation failed for <host>` closing the evaluation. NSData prints `<1a2b3c4d ...>` (and
//!   since iOS 13 `{length = 32, bytes = 0x1a2b... }`, cut with `...` when long): the digest is
//!   given in base64 when it is whole.
//! - Android (`PinningTrustManager.java`): the exception `Pin verification failed`, then
//!   `Configured pins: <pin> <pin> `, `Peer certificate chain: ` and `<pin> - <issuer DN>` lines
//!   (the DN printed is the issuer's); `Certificate validation failed for <host>` (trust).
//! - The pin-failure report (JSON, `TSKReportsRateLimiter`/`TSKPinFailureReport`): `hostname`,
//!   `port`, `known-pins` (`pin-sha256="<b64>"`), `validated-certificate-chain` (PEM),
//!   `validation-result` (1 no pin matched, 2 chain not trusted), as a whole file, one JSON line
//!   (a `logs collect` file: `{"received": ..., "report": {...}}`), or pretty-printed inside a
//!   longer log. [`report_failure`] is the same parser for one posted report (`logs collect`).
//!
//! Tested on: TrustKit's own `docs/sample_report.json` (`trustkit-report-sample.log`), the
//! message templates of the files above, and reports built from generated chains.

use super::{text, ChainCert, Format, Found, Kind, Line, Parser};

/// The prefix of every TrustKit iOS log line (`TSKLog`), and the one apps that copy TrustKit's
/// demo logger print.
const TSK: [&str; 2] = ["=== TrustKit: ", "TrustKit log: "];
/// A report's keys, any of which starts a pretty-printed report inside a log.
const REPORT_KEYS: [&str; 14] = [
    "\"validated-certificate-chain\"",
    "\"known-pins\"",
    "\"noted-hostname\"",
    "\"validation-result\"",
    "\"app-bundle-id\"",
    "\"enforce-pinning\"",
    "\"include-subdomains\"",
    "\"hostname\"",
    "\"app-platform\"",
    "\"app-platform-version\"",
    "\"app-vendor-id\"",
    "\"app-version\"",
    "\"trustkit-version\"",
    "\"date-time\"",
];
/// Limits on a pretty-printed report.
const MAX_REPORT_LINES: u64 = 600;
const MAX_REPORT_BYTES: usize = 1 << 20;
/// Certificates kept of one iOS evaluation.
const MAX_CHAIN: usize = 16;

/// TrustKit on iOS.
#[derive(Default)]
pub(crate) struct Trustkit {
    eval: Option<Eval>,
}

#[derive(Default)]
struct Eval {
    line: u64,
    /// (summary, pins) in log order: root first.
    certs: Vec<(String, Vec<String>)>,
    cause: Option<Kind>,
    truncated_pin: bool,
}

impl Parser for Trustkit {
    fn triggers(&self) -> &'static [&'static str] {
        &TSK
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let Some(msg) = TSK.iter().find_map(|p| text::after(line.text, p)) else {
            return false;
        };
        let msg = msg.trim();
        if let Some(host) = not_pinned(msg) {
            out.push(Found {
                format: Some(Format::Trustkit),
                line: line.no,
                host: text::host_port(host).map(|(h, _)| h),
                kind: Kind::NoPinsOpen,
                message: "Domain is not pinned".into(),
                ..Found::default()
            });
            return false;
        }
        if let Some(cn) = msg.strip_prefix("Checking certificate with CN:") {
            let eval = self.eval.get_or_insert_with(|| Eval {
                line: line.no,
                ..Eval::default()
            });
            if eval.certs.len() < MAX_CHAIN {
                eval.certs.push((cn.trim().to_string(), Vec::new()));
            }
        } else if let Some(data) = msg.strip_prefix("Testing SSL Pin") {
            let eval = self.eval.get_or_insert_with(|| Eval {
                line: line.no,
                ..Eval::default()
            });
            match nsdata_b64(data) {
                Some(pin) => {
                    if eval.certs.is_empty() {
                        eval.certs.push((String::new(), Vec::new()));
                    }
                    if let Some(last) = eval.certs.last_mut() {
                        last.1.push(pin);
                    }
                }
                None => eval.truncated_pin = true,
            }
        } else if msg.starts_with("Error: SSL Pin not found for") {
            self.cause(line.no, Kind::Pinning);
        } else if msg.starts_with("Error: default SSL validation failed for") {
            self.cause(line.no, Kind::Trust);
        } else if let Some(host) = msg.strip_prefix("Pin validation failed for") {
            let eval = self.eval.take().unwrap_or(Eval {
                line: line.no,
                ..Eval::default()
            });
            out.push(eval.found(text::word(host)));
        } else if msg.starts_with("Pin validation succeeded")
            || msg.starts_with("SSL Pin found for")
            || msg.starts_with("Domain not pinned")
        {
            self.eval = None;
        }
        false
    }

    fn finish(&mut self, out: &mut Vec<Found>) {
        // An evaluation that logged its error but not its closing line (a cut log).
        if let Some(eval) = self.eval.take() {
            if eval.cause.is_some() {
                out.push(eval.found(""));
            }
        }
    }
}

impl Trustkit {
    /// The line that says what failed: where the failure begins (the `Checking certificate`
    /// lines before it are logged for every evaluation, good or bad).
    fn cause(&mut self, no: u64, kind: Kind) {
        let eval = self.eval.get_or_insert_with(Eval::default);
        eval.line = no;
        eval.cause = Some(kind);
    }
}

impl Eval {
    fn found(self, host: &str) -> Found {
        let kind = self.cause.unwrap_or(Kind::Pinning);
        let mut found = Found {
            format: Some(Format::Trustkit),
            line: self.line,
            host: text::host_port(host).map(|(h, _)| h),
            kind,
            message: match kind {
                Kind::Trust => "Error: default SSL validation failed".into(),
                _ => "Error: SSL Pin not found".into(),
            },
            ..Found::default()
        };
        // Logged root first: the leaf is the last.
        for (position, (cn, pins)) in self.certs.into_iter().rev().enumerate() {
            found.presented_pins.extend(pins.iter().cloned());
            found.presented_chain.push(ChainCert {
                position,
                subject: (!cn.is_empty()).then(|| format!("CN={cn}")),
                issuer: None,
                pin: pins.first().cloned(),
            });
        }
        if kind == Kind::Pinning || !found.presented_pins.is_empty() {
            found.pin_kind = Some(super::PinKind::SpkiSha256);
        }
        if self.truncated_pin {
            found
                .message
                .push_str(" (some digests were cut by NSData's description)");
        }
        found
    }
}

/// `Domain X is not pinned` (configuration_utils.m) and `Domain not pinned - X` (older
/// TSKPinningValidator.m) → X.
fn not_pinned(msg: &str) -> Option<&str> {
    if let Some(rest) = msg.strip_prefix("Domain not pinned - ") {
        return Some(text::word(rest));
    }
    let rest = msg.strip_prefix("Domain ")?;
    rest.strip_suffix(" is not pinned").map(str::trim)
}

/// NSData's description → base64: `<1a2b3c4d 5e6f...>` or `{length = 32, bytes = 0x1a2b... }`.
fn nsdata_b64(data: &str) -> Option<String> {
    let data = data.trim();
    let hex = if let Some(inner) = data.strip_prefix('<') {
        inner.split('>').next()?
    } else if let Some(bytes) = text::after(data, "bytes = 0x") {
        let inner = bytes.split('}').next()?;
        if inner.contains("...") {
            return None;
        }
        inner
    } else {
        data
    };
    text::hex_to_b64(hex)
}

/// TrustKit-Android.
#[derive(Default)]
pub(crate) struct TrustkitAndroid {
    /// The line of the last `Pin verification failed`, for a block that follows it, and whether
    /// it was a `Caused by:` (the same exception's message again).
    pvf_line: Option<(u64, bool)>,
    /// The last failure taken: its line and its pins, so a `Caused by:` repeat is not counted.
    last: Option<(u64, Vec<String>, Vec<String>)>,
    block: Option<Found>,
    in_chain: bool,
    /// The open block is a `Caused by:` repeat candidate.
    repeat: bool,
    /// The line of the last trust failure taken.
    trust_line: Option<u64>,
}

impl Parser for TrustkitAndroid {
    fn triggers(&self) -> &'static [&'static str] {
        &[
            "Pin verification failed",
            "Configured pins:",
            "Certificate validation failed for",
        ]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text.trim();
        if let Some(block) = &mut self.block {
            if let Some(rest) = t.strip_prefix("Peer certificate chain:") {
                self.in_chain = true;
                let _ = rest;
                return true;
            }
            if self.in_chain {
                if let Some((pin, dn)) = t.split_once(" - ") {
                    // The pin is the last word before ` - ` (a prefix may come before it).
                    let pin = pin.split_whitespace().last().unwrap_or(pin);
                    if let Some((pin, kind)) = text::spki_pin(pin) {
                        block.presented_chain.push(ChainCert {
                            position: block.presented_pins.len(),
                            subject: None,
                            issuer: Some(dn.trim().to_string()),
                            pin: Some(pin.clone()),
                        });
                        block.presented_pins.push(pin);
                        block.pin_kind.get_or_insert(kind);
                        return true;
                    }
                }
            }
            if let Some(done) = self.block.take() {
                self.take(done, out);
            }
            self.in_chain = false;
        }
        if t.contains("Pin verification failed") {
            self.pvf_line = Some((line.no, t.starts_with("Caused by:")));
            // The whole message may be on one line when a logger joined it.
            if !t.contains("Configured pins:") {
                return true;
            }
        }
        if let Some(pins) = text::after(t, "Configured pins:") {
            let (start, caused_by) = match self.pvf_line {
                Some((no, caused_by)) if no + 1 >= line.no => (no, caused_by),
                _ => (line.no, false),
            };
            self.repeat = caused_by;
            let mut found = Found {
                format: Some(Format::TrustkitAndroid),
                line: start,
                kind: Kind::Pinning,
                message: "Pin verification failed".into(),
                ..Found::default()
            };
            for token in pins.split_whitespace() {
                if let Some((pin, kind)) = text::spki_pin(token) {
                    found.pinned_pins.push(pin);
                    found.pin_kind.get_or_insert(kind);
                }
            }
            self.block = Some(found);
            self.pvf_line = None;
            return true;
        }
        if let Some(host) = text::after(t, "Certificate validation failed for") {
            if t.starts_with("Caused by:")
                && self.trust_line.is_some_and(|l| line.no - l <= REPEAT_LINES)
            {
                return false;
            }
            self.trust_line = Some(line.no);
            out.push(Found {
                format: Some(Format::TrustkitAndroid),
                line: line.no,
                host: text::host_port(text::word(host)).map(|(h, _)| h),
                kind: Kind::Trust,
                message: "Certificate validation failed".into(),
                ..Found::default()
            });
        }
        // Only the line right after `Pin verification failed` can open the block.
        false
    }

    fn finish(&mut self, out: &mut Vec<Found>) {
        if let Some(done) = self.block.take() {
            self.take(done, out);
        }
    }
}

/// Lines within which a `Caused by:` repeats the exception it is part of.
const REPEAT_LINES: u64 = 60;

impl TrustkitAndroid {
    fn take(&mut self, done: Found, out: &mut Vec<Found>) {
        let pins = (done.presented_pins.clone(), done.pinned_pins.clone());
        let repeat = self.repeat
            && self.last.as_ref().is_some_and(|(l, p, q)| {
                done.line - l <= REPEAT_LINES && *p == pins.0 && *q == pins.1
            });
        self.repeat = false;
        if repeat {
            return;
        }
        self.last = Some((done.line, pins.0, pins.1));
        out.push(done);
    }
}

/// The TrustKit report, on one line or pretty-printed inside a log.
#[derive(Default)]
pub(crate) struct Report {
    collecting: Option<(u64, String)>,
}

impl Parser for Report {
    fn triggers(&self) -> &'static [&'static str] {
        &REPORT_KEYS
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text.trim();
        if let Some((start, buf)) = &mut self.collecting {
            buf.push_str(t);
            buf.push('\n');
            let too_long = line.no - *start > MAX_REPORT_LINES || buf.len() > MAX_REPORT_BYTES;
            if let Some(end) = balanced_end(buf) {
                let start = *start;
                let doc = buf[..end].to_string();
                self.collecting = None;
                if let Ok(value) = serde_json::from_str::<serde_json::Value>(&doc) {
                    out.extend(from_value(&value, start));
                }
                return false;
            }
            if too_long {
                self.collecting = None;
            }
            return self.collecting.is_some();
        }
        if !REPORT_KEYS.iter().any(|k| t.contains(k)) {
            return false;
        }
        // A whole object on the line (JSON Lines, a collected report, a logged dictionary).
        if let Some(open) = t.find('{') {
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&t[open..]) {
                out.extend(from_value(&value, line.no));
                return false;
            }
        }
        // A pretty-printed report: it opened on the line before its first key.
        if t.starts_with('"') {
            let mut buf = String::from("{\n");
            buf.push_str(t);
            buf.push('\n');
            self.collecting = Some((line.no.saturating_sub(1).max(1), buf));
            return true;
        }
        false
    }

    fn finish(&mut self, _out: &mut Vec<Found>) {
        self.collecting = None;
    }
}

/// Where the first JSON value in `buf` ends (strings and escapes respected), if it is closed.
fn balanced_end(buf: &str) -> Option<usize> {
    let mut depth = 0i32;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in buf.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// A whole input that is one JSON document: a report, an array of reports, a collected line.
/// `None` when it is not one of those (the line parsers' results stand).
pub(crate) fn document(bytes: &[u8]) -> Option<Vec<Found>> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let found: Vec<Found> = match &value {
        serde_json::Value::Array(items) => items.iter().filter_map(|v| from_value(v, 1)).collect(),
        other => from_value(other, 1).into_iter().collect(),
    };
    (!found.is_empty()).then_some(found)
}

/// A report as TrustKit posts it to its `report-uri` (the bare object, not a `logs collect`
/// line) → the failure `logs explain` would list for it, or `None` when the value is not a
/// report. `logs collect` runs it on each body it gets: one parser for both.
pub(crate) fn report_failure(report: &serde_json::Value) -> Option<super::Failure> {
    let found = report_found(report, 1)?;
    super::diagnose::assemble(vec![found]).into_iter().next()
}

/// A report (or `{"report": {...}}`) → what it says.
fn from_value(value: &serde_json::Value, line: u64) -> Option<Found> {
    report_found(value.get("report").unwrap_or(value), line)
}

/// A bare report → what it says: an object with `validated-certificate-chain` or `known-pins`.
fn report_found(report: &serde_json::Value, line: u64) -> Option<Found> {
    let obj = report.as_object()?;
    if !obj.contains_key("validated-certificate-chain") && !obj.contains_key("known-pins") {
        return None;
    }
    let host = obj
        .get("hostname")
        .and_then(|v| v.as_str())
        .and_then(|h| text::host_port(h).map(|(h, _)| h));
    let port = obj
        .get("port")
        .and_then(|v| v.as_u64())
        .and_then(|p| u16::try_from(p).ok());
    let result = obj.get("validation-result").and_then(|v| v.as_u64());
    let kind = match result {
        Some(2) => Kind::Trust,
        _ => Kind::Pinning,
    };
    let pinned_pins: Vec<String> = obj
        .get("known-pins")
        .and_then(|v| v.as_array())
        .map(|pins| {
            pins.iter()
                .filter_map(|p| p.as_str())
                .filter_map(|p| text::spki_pin(p.trim()).map(|(pin, _)| pin))
                .collect()
        })
        .unwrap_or_default();
    let presented_chain: Vec<ChainCert> = obj
        .get("validated-certificate-chain")
        .and_then(|v| v.as_array())
        .map(|certs| {
            certs
                .iter()
                .filter_map(|c| c.as_str())
                .enumerate()
                .map(|(position, pem)| pem_cert(position, pem))
                .collect()
        })
        .unwrap_or_default();
    Some(Found {
        format: Some(Format::TrustkitReport),
        line,
        host,
        port,
        presented_pins: Vec::new(),
        pin_kind: Some(super::PinKind::SpkiSha256),
        pinned_pins,
        presented_chain,
        kind,
        message: match result {
            Some(2) => "validation-result 2 (the certificate chain is not trusted)".into(),
            Some(n) => format!("validation-result {n} (no pinned key in the validated chain)"),
            None => "pin failure report".into(),
        },
        weak: false,
    })
}

/// One PEM of the report → its subject, issuer and SPKI pin (computed: the report has no pins).
fn pem_cert(position: usize, pem: &str) -> ChainCert {
    let pem = pem.replace("\\/", "/");
    let parsed = crate::pins::pem_certs(pem.as_bytes())
        .ok()
        .and_then(|certs| {
            let der = certs.into_iter().next()?;
            let (_, x) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
            Some((
                rfc4514(x.subject()),
                rfc4514(x.issuer()),
                crate::pins::spki_pin(x.tbs_certificate.subject_pki.raw),
            ))
        });
    match parsed {
        Some((subject, issuer, pin)) => ChainCert {
            position,
            subject: Some(subject),
            issuer: Some(issuer),
            pin: Some(pin),
        },
        None => ChainCert {
            position,
            subject: None,
            issuer: None,
            pin: None,
        },
    }
}

/// A certificate name as Java and `openssl -nameopt RFC2253` print it: most specific first
/// (`CN=www.datatheorem.com,OU=...,O=Data Theorem\, Inc.,C=US`), the way OkHttp's and
/// TrustKit-Android's logs show names.
fn rfc4514(name: &x509_parser::x509::X509Name<'_>) -> String {
    let mut parts: Vec<String> = Vec::new();
    for rdn in name.iter_rdn() {
        for attr in rdn.iter() {
            let key = match attr.attr_type().to_id_string().as_str() {
                "2.5.4.3" => "CN".to_string(),
                "2.5.4.10" => "O".to_string(),
                "2.5.4.11" => "OU".to_string(),
                "2.5.4.6" => "C".to_string(),
                "2.5.4.8" => "ST".to_string(),
                "2.5.4.7" => "L".to_string(),
                "2.5.4.5" => "SERIALNUMBER".to_string(),
                "1.2.840.113549.1.9.1" => "EMAILADDRESS".to_string(),
                other => other.to_string(),
            };
            // Old certificates use T61String, which x509-parser does not decode: its bytes are
            // ASCII in practice.
            let value = match attr.as_str() {
                Ok(v) => escape(v),
                Err(_) => escape(&String::from_utf8_lossy(attr.attr_value().data)),
            };
            parts.push(format!("{key}={value}"));
        }
    }
    parts.reverse();
    parts.join(",")
}

/// RFC 4514 escaping of an attribute value.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        let edge = (i == 0 && (c == ' ' || c == '#')) || (i + 1 == v.chars().count() && c == ' ');
        if edge || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
