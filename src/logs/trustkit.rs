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
//!   (a `logs collect` file: `{"report": {...}}`), or pretty-printed inside a longer log.
//!
//! Tested on: TrustKit's own `docs/sample_report.json` (`trustkit-report-sample.log`), the
//! message templates of the files above, and reports built from generated chains.

use super::{text, ChainCert, Format, Found, Kind, Line, Parser};

/// The prefix of every TrustKit iOS log line.
const TSK: &str = "=== TrustKit: ";
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
        &[TSK]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let Some(msg) = text::after(line.text, TSK) else {
            return false;
        };
        let msg = msg.trim();
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
    fn cause(&mut self, no: u64, kind: Kind) {
        let eval = self.eval.get_or_insert_with(|| Eval {
            line: no,
            ..Eval::default()
        });
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
        if !found.presented_pins.is_empty() {
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
    /// The line of the last `Pin verification failed`, for a block that follows it.
    pvf_line: Option<u64>,
    block: Option<Found>,
    in_chain: bool,
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
                out.push(done);
            }
            self.in_chain = false;
        }
        if t.contains("Pin verification failed") {
            self.pvf_line = Some(line.no);
            // The whole message may be on one line when a logger joined it.
            if !t.contains("Configured pins:") {
                return true;
            }
        }
        if let Some(pins) = text::after(t, "Configured pins:") {
            let start = match self.pvf_line {
                Some(no) if no + 1 >= line.no => no,
                _ => line.no,
            };
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
            out.push(done);
        }
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

/// A report (or `{"report": {...}}`) → what it says.
fn from_value(value: &serde_json::Value, line: u64) -> Option<Found> {
    let report = value.get("report").unwrap_or(value);
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
                x.subject().to_string(),
                x.issuer().to_string(),
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
