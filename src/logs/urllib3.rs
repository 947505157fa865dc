//! urllib3's `assert_fingerprint` (`urllib3/util/ssl_.py`): `Fingerprints did not match.
//! Expected "<pinned>", got "<certificate digest hex>"` (the digest of the whole certificate,
//! SHA-256 for 64 hex digits, SHA-1 for 40), usually inside `HTTPSConnectionPool(host='<host>',
//! port=<n>): Max retries exceeded ... (Caused by SSLError(...))`. A Python traceback repeats the
//! message in each chained exception; those repeats are one failure, a new `Traceback` that no
//! `During handling of the above exception` introduced is a new one.
//!
//! Tested on: urllib3 2.x run here through pin-proxy (tests/logs.rs) and the template in
//! `urllib3/util/ssl_.py`.

use super::{text, Format, Found, Kind, Line, Parser};

#[derive(Default)]
pub(crate) struct Urllib3 {
    /// The last `host='...', port=...` seen.
    host: Option<(String, Option<u16>)>,
    /// The fingerprints of the failure taken in the current traceback chain.
    taken: Option<(String, String)>,
    /// The last line said the next traceback continues this one.
    chained: bool,
}

impl Parser for Urllib3 {
    fn triggers(&self) -> &'static [&'static str] {
        &[
            "Fingerprints did not match",
            "HTTPSConnectionPool(host=",
            "Traceback (most recent call last)",
            "During handling of the above exception",
            "The above exception was the direct cause",
        ]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text;
        if t.contains("During handling of the above exception")
            || t.contains("The above exception was the direct cause")
        {
            self.chained = true;
            return false;
        }
        if t.contains("Traceback (most recent call last)") {
            if !self.chained {
                self.taken = None;
            }
            self.chained = false;
            return false;
        }
        if let Some(rest) = text::after(t, "HTTPSConnectionPool(host=") {
            let host = rest.trim_start_matches(['\'', '"']);
            let host = host.split(['\'', '"']).next().unwrap_or("");
            let port = text::after(rest, "port=")
                .and_then(|p| p.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok());
            if let Some((h, _)) = text::host_port(host) {
                self.host = Some((h, port));
            }
        }
        let Some(rest) = text::after(t, "Fingerprints did not match. Expected ") else {
            return false;
        };
        let mut quoted = rest.split(['"', '\'']);
        let expected = quoted.nth(1).unwrap_or("");
        let got = quoted.nth(1).unwrap_or("");
        let pinned = text::hex_digest(expected);
        let presented = text::hex_digest(got);
        let key = (expected.to_string(), got.to_string());
        if self.taken.as_ref() == Some(&key) {
            return false;
        }
        self.taken = Some(key);
        let (host, port) = self
            .host
            .clone()
            .map_or((None, None), |(h, p)| (Some(h), p));
        out.push(Found {
            format: Some(Format::Urllib3),
            line: line.no,
            host,
            port,
            pin_kind: presented.as_ref().or(pinned.as_ref()).map(|(_, k)| *k),
            presented_pins: presented.map(|(h, _)| h).into_iter().collect(),
            pinned_pins: pinned.map(|(h, _)| h).into_iter().collect(),
            kind: Kind::Pinning,
            message: "Fingerprints did not match".into(),
            ..Found::default()
        });
        false
    }

    fn finish(&mut self, _out: &mut Vec<Found>) {}
}
