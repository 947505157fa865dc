//! pin-proxy's events file (JSON Lines of connection records, schema 1, read as JSON values so
//! that older and newer records both parse): each `cancelled` connection is a client refusing
//! the certificate pin-proxy forged for it.
//!
//! Tested on: events files written by `pin-proxy proxy --events` here (tests/logs.rs): a
//! proceeded and a cancelled `pin-proxy client` run, and urllib3's eight cancelled attempts.

use super::{text, ChainCert, Format, Found, Kind, Line, Parser, PinKind};

#[derive(Default)]
pub(crate) struct Events;

impl Parser for Events {
    fn triggers(&self) -> &'static [&'static str] {
        &["\"verdict\":\"cancelled\""]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text.trim();
        let Some(open) = t.find('{') else {
            return false;
        };
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&t[open..]) else {
            return false;
        };
        let field = |k: &str| str_at(&value, k);
        if field("verdict").as_deref() != Some("cancelled") || value.get("schema").is_none() {
            return false;
        }
        let host = field("host")
            .or_else(|| field("sni"))
            .and_then(|h| text::host_port(&h).map(|(h, _)| h));
        let port = value
            .get("port")
            .and_then(|v| v.as_u64())
            .and_then(|p| u16::try_from(p).ok());
        let pin = field("presented_pin");
        let profile = field("profile").unwrap_or_else(|| "forged".into());
        let stage = field("stage").unwrap_or_default();
        let reason = field("reason").unwrap_or_default();
        // The chain as written (`presented_chain`), else (an older line) the leaf's pin alone.
        let written = written_chain(&value);
        let presented_chain = if written.is_empty() {
            pin.iter()
                .map(|p| ChainCert {
                    position: 0,
                    subject: None,
                    issuer: Some(format!("pin-proxy's CA (profile {profile})")),
                    pin: Some(p.clone()),
                })
                .collect()
        } else {
            written
        };
        out.push(Found {
            format: Some(Format::PinProxyEvents),
            line: line.no,
            host,
            port,
            presented_pins: pin.iter().cloned().collect(),
            presented_chain,
            pin_kind: pin.as_ref().map(|_| PinKind::SpkiSha256),
            kind: Kind::CancelledForged,
            message: format!("cancelled at {stage} ({reason}), profile {profile}"),
            ..Found::default()
        });
        false
    }

    fn finish(&mut self, _out: &mut Vec<Found>) {}
}

/// The string at `key` of a JSON object.
fn str_at(value: &serde_json::Value, key: &str) -> Option<String> {
    value.get(key).and_then(|v| v.as_str()).map(str::to_string)
}

/// A record's `presented_chain`, as written (empty when it has none).
fn written_chain(record: &serde_json::Value) -> Vec<ChainCert> {
    let Some(certs) = record.get("presented_chain").and_then(|v| v.as_array()) else {
        return Vec::new();
    };
    certs
        .iter()
        .enumerate()
        .map(|(i, c)| ChainCert {
            position: c
                .get("position")
                .and_then(|v| v.as_u64())
                .and_then(|p| usize::try_from(p).ok())
                .unwrap_or(i),
            subject: str_at(c, "subject"),
            issuer: str_at(c, "issuer"),
            pin: str_at(c, "pin"),
        })
        .collect()
}
