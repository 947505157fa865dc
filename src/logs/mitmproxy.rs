//! mitmproxy's event log (`mitmproxy/addons/tlsconfig.py` and `proxy/layers/tls.py`): `Client TLS
//! handshake failed. The client does not trust the proxy's certificate for <host> (<error>)`,
//! the older `The client may not trust ...`, and `The client disconnected during the handshake.
//! If this happens consistently for <host>, ...`. Each is the client refusing the proxy: pinning
//! (or a missing CA) at work.
//!
//! Tested on: the message templates of mitmproxy 10 and 11 (fixtures, SOURCES.md).

use super::{text, Format, Found, Kind, Line, Parser};

#[derive(Default)]
pub(crate) struct Mitmproxy;

impl Parser for Mitmproxy {
    fn triggers(&self) -> &'static [&'static str] {
        &["Client TLS handshake failed"]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text;
        let Some(rest) = text::after(t, "Client TLS handshake failed.") else {
            return false;
        };
        let host = text::after(rest, "certificate for ")
            .or_else(|| text::after(rest, "consistently for "))
            .and_then(|h| text::host_port(text::word(h)));
        let (host, port) = host.map_or((None, None), |(h, p)| (Some(h), p));
        let message = rest.trim();
        let message = message.split(" (").next().unwrap_or(message);
        out.push(Found {
            format: Some(Format::Mitmproxy),
            line: line.no,
            host,
            port,
            kind: Kind::RefusedProxy,
            message: format!("Client TLS handshake failed. {message}"),
            ..Found::default()
        });
        false
    }

    fn finish(&mut self, _out: &mut Vec<Found>) {}
}
