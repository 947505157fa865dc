//! Chromium's net errors (Chrome, WebView, Cronet; `net/base/net_error_list.h`):
//! `ERR_SSL_PINNED_KEY_NOT_IN_CERT_CHAIN` (-150, a pinning failure that names no certificate)
//! and the trust errors `ERR_CERT_AUTHORITY_INVALID` (-202), `ERR_CERT_COMMON_NAME_INVALID`
//! (-200), `ERR_CERT_DATE_INVALID` (-201). The host is the URL on the same line, if any.
//!
//! Tested on: the error names of `net_error_list.h` in console and WebView log lines
//! (fixtures, SOURCES.md) and headless Chromium's own output.

use super::{text, Format, Found, Kind, Line, Parser};

const ERRORS: [(&str, Kind); 4] = [
    ("ERR_SSL_PINNED_KEY_NOT_IN_CERT_CHAIN", Kind::Pinning),
    ("ERR_CERT_AUTHORITY_INVALID", Kind::Trust),
    ("ERR_CERT_COMMON_NAME_INVALID", Kind::Trust),
    ("ERR_CERT_DATE_INVALID", Kind::Trust),
];

#[derive(Default)]
pub(crate) struct Chromium;

impl Parser for Chromium {
    fn triggers(&self) -> &'static [&'static str] {
        &[
            "ERR_SSL_PINNED_KEY_NOT_IN_CERT_CHAIN",
            "ERR_CERT_AUTHORITY_INVALID",
            "ERR_CERT_COMMON_NAME_INVALID",
            "ERR_CERT_DATE_INVALID",
        ]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text;
        let Some((name, kind)) = ERRORS.iter().find(|(n, _)| t.contains(n)) else {
            return false;
        };
        let (host, port) = first_url(t).map_or((None, None), |(h, p)| (Some(h), p));
        out.push(Found {
            format: Some(Format::Chromium),
            line: line.no,
            host,
            port,
            kind: *kind,
            message: format!("net::{name}"),
            ..Found::default()
        });
        false
    }

    fn finish(&mut self, _out: &mut Vec<Found>) {}
}

/// The host and port of the first `http(s)://` URL on a line.
pub(crate) fn first_url(t: &str) -> Option<(String, Option<u16>)> {
    let at = t.find("https://").or_else(|| t.find("http://"))?;
    let url = t[at..]
        .split(|c: char| {
            c.is_whitespace() || c == '"' || c == '\'' || c == ',' || c == ')' || c == '>'
        })
        .next()?;
    text::url_host(url)
}
