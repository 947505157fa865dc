//! mitmproxy's event log (`mitmproxy/proxy/layers/tls.py`): `Client TLS handshake failed. The
//! client does not trust the proxy's certificate for <host> (<error>)` (also the older `may not
//! trust`): the client refused the proxy, by a pin or a missing CA; and `The client disconnected
//! during the handshake. If this happens consistently for <host>, this may indicate ...`, which
//! mitmproxy itself only suspects. The port is the one of the connection's `server connect
//! <host>:<port>` line (lines carry `[time][client address]`).
//!
//! Tested on: a public event log (`mitmproxy-justtrustme.log`) and mitmproxy 10/11's texts.

use std::collections::HashMap;

use super::{text, Format, Found, Kind, Line, Parser};

/// Client connections whose `server connect` line is remembered.
const MAX_CONNECTIONS: usize = 1024;

#[derive(Default)]
pub(crate) struct Mitmproxy {
    /// Client address → (host, port) of its `server connect` line.
    servers: HashMap<String, (String, Option<u16>)>,
}

impl Parser for Mitmproxy {
    fn triggers(&self) -> &'static [&'static str] {
        &["Client TLS handshake failed", "] server connect "]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text;
        let client = client_address(t);
        if let Some(rest) = text::after(t, "] server connect ") {
            if let (Some(client), Some(server)) = (client, text::host_port(text::word(rest))) {
                if self.servers.len() >= MAX_CONNECTIONS {
                    self.servers.clear();
                }
                self.servers.insert(client.to_string(), server);
            }
            return false;
        }
        let Some(rest) = text::after(t, "Client TLS handshake failed.") else {
            return false;
        };
        let kind = if rest.contains("disconnected during the handshake") {
            Kind::Unclear
        } else if rest.contains("does not trust") || rest.contains("may not trust the proxy") {
            Kind::RefusedProxy
        } else {
            Kind::Unclear
        };
        let named = text::after(rest, "certificate for ")
            .or_else(|| text::after(rest, "consistently for "))
            .and_then(|h| text::host_port(text::word(h)));
        let server = client.and_then(|c| self.servers.get(c)).cloned();
        let host = named
            .map(|(h, _)| h)
            .or_else(|| server.as_ref().map(|(h, _)| h.clone()));
        let port = server.and_then(|(h, p)| (Some(&h) == host.as_ref()).then_some(p).flatten());
        let message = rest.trim();
        let message = message.split(" (").next().unwrap_or(message);
        let message = message.split(". If this happens").next().unwrap_or(message);
        out.push(Found {
            format: Some(Format::Mitmproxy),
            line: line.no,
            host,
            port,
            kind,
            message: format!("Client TLS handshake failed. {message}"),
            ..Found::default()
        });
        false
    }

    fn finish(&mut self, _out: &mut Vec<Found>) {}
}

/// The `[client address]` of `[10:18:01.102][127.0.0.1:53412] ...` (the time may have been
/// stripped as a prefix already).
fn client_address(t: &str) -> Option<&str> {
    let mut rest = t;
    for _ in 0..2 {
        let inner = rest.strip_prefix('[')?;
        let (content, tail) = inner.split_once(']')?;
        let is_time = content
            .bytes()
            .all(|c| c.is_ascii_digit() || c == b':' || c == b'.')
            && content.bytes().filter(|c| *c == b'.').count() <= 1;
        if !is_time {
            return Some(content);
        }
        rest = tail;
    }
    None
}
