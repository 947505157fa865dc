//! The seed article's `URLSessionDelegate` (NSLog): `URLSessionDelegate: host <host> public key
//! hash <b64>` for each certificate of the chain, then `URLSessionDelegate: pinning invalid for
//! host <host> and certificate <i>'s public key info hash <b64>` for each certificate that did
//! not match; the app then sees `NSURLErrorDomain Code=-999 "cancelled"` (absorbed into this
//! failure). The consecutive `pinning invalid` lines of one host are one failure.
//!
//! Tested on: the seed article's log format (fixtures, SOURCES.md).

use super::{text, ChainCert, Format, Found, Kind, Line, Parser, PinKind};

const PREFIX: &str = "URLSessionDelegate: ";
/// Hash lines older than this are not the failing evaluation's.
const CONTEXT_LINES: u64 = 40;

#[derive(Default)]
pub(crate) struct Delegate {
    /// (line, host, pin) of the `host ... public key hash` lines, in order.
    hashes: Vec<(u64, String, String)>,
    open: Option<Found>,
}

impl Parser for Delegate {
    fn triggers(&self) -> &'static [&'static str] {
        &[PREFIX]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let Some(msg) = text::after(line.text, PREFIX) else {
            self.close(out);
            return false;
        };
        if let Some(rest) = msg.strip_prefix("pinning invalid for host ") {
            let host = text::word(rest).to_ascii_lowercase();
            let index = text::after(rest, "and certificate ")
                .and_then(|r| r.split('\'').next())
                .and_then(|i| i.trim().parse::<usize>().ok());
            let pin = text::after(rest, "public key info hash ")
                .map(|p| text::b64_run(p.trim()).to_string())
                .filter(|p| !p.is_empty());
            if self
                .open
                .as_ref()
                .is_some_and(|o| o.host.as_deref() != Some(host.as_str()))
            {
                self.close(out);
            }
            let hashes = &self.hashes;
            let open = self.open.get_or_insert_with(|| {
                let mut found = Found {
                    format: Some(Format::UrlsessionDelegate),
                    // The first `pinning invalid` line: the hash lines before it are printed for
                    // every connection, good or bad.
                    line: line.no,
                    host: Some(host.clone()),
                    kind: Kind::Pinning,
                    message: "pinning invalid".into(),
                    pin_kind: Some(PinKind::SpkiSha256),
                    ..Found::default()
                };
                for (position, (_, _, pin)) in hashes
                    .iter()
                    .filter(|(no, h, _)| *h == host && line.no - no <= CONTEXT_LINES)
                    .enumerate()
                {
                    found.presented_pins.push(pin.clone());
                    found.presented_chain.push(ChainCert {
                        position,
                        subject: None,
                        issuer: None,
                        pin: Some(pin.clone()),
                    });
                }
                found
            });
            if let Some(pin) = pin {
                if !open.presented_pins.contains(&pin) {
                    open.presented_chain.push(ChainCert {
                        position: index.unwrap_or(open.presented_pins.len()),
                        subject: None,
                        issuer: None,
                        pin: Some(pin.clone()),
                    });
                    open.presented_pins.push(pin);
                }
            }
            return true;
        }
        self.close(out);
        if let Some(rest) = msg.strip_prefix("host ") {
            let host = text::word(rest).to_ascii_lowercase();
            if let Some(pin) = text::after(rest, "public key hash ") {
                let pin = text::b64_run(pin.trim()).to_string();
                if !pin.is_empty() {
                    if self.hashes.len() >= 32 {
                        self.hashes.remove(0);
                    }
                    self.hashes.push((line.no, host, pin));
                }
            }
        }
        false
    }

    fn finish(&mut self, out: &mut Vec<Found>) {
        self.close(out);
    }
}

impl Delegate {
    fn close(&mut self, out: &mut Vec<Found>) {
        if let Some(done) = self.open.take() {
            if let Some(host) = &done.host {
                self.hashes.retain(|(_, h, _)| h != host);
            }
            out.push(done);
        }
    }
}
