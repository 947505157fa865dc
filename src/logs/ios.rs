//! iOS `NSURLErrorDomain` errors as apps and CFNetwork log them: `Code=-999 "cancelled"` (a
//! delegate cancelled the challenge: the consequence of a pinning refusal, or any cancel),
//! `Code=-1202` (an untrusted certificate; `NSErrorPeerCertificateChainKey=( "<cert(0x...) s: X
//! i: Y>", ...)` names the chain, often over the following lines), `-1200` (`An SSL error has
//! occurred`, CFNetwork's `HTTP load failed ... (error code: -1200 [3:-9838])`), `-1201`, `-1203`,
//! `-1204` (dates and roots). The host is `NSErrorFailingURLKey` / `NSErrorFailingURLStringKey`
//! or the name in “quotes”.
//!
//! Tested on: Apple's message texts in fixtures (SOURCES.md). A -999 close to a richer line of
//! the same event (TrustKit, a delegate, Alamofire) is that event's, not a failure of its own.

use super::{chromium, text, ChainCert, Format, Found, Kind, Line, Parser};

/// Lines the chain of a -1202 may take.
const MAX_CHAIN_LINES: u64 = 24;

#[derive(Default)]
pub(crate) struct Ios {
    /// A -1202 or -1200 whose chain may follow.
    open: Option<Found>,
}

impl Parser for Ios {
    fn triggers(&self) -> &'static [&'static str] {
        &[
            "NSURLErrorDomain",
            "error code: -1200",
            "HTTP load failed",
            "kCFStreamErrorDomainSSL",
        ]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text;
        if let Some(open) = &mut self.open {
            if line.no - open.line <= MAX_CHAIN_LINES && !starts_error(t) {
                take_certs(open, t);
                if open.host.is_none() {
                    set_host(open, t);
                }
                let ended = t.contains("NSUnderlyingError") || t.trim_end().ends_with('}');
                if !ended {
                    return true;
                }
            }
            if let Some(done) = self.open.take() {
                out.push(done);
            }
        }
        let Some(code) = code(t) else {
            return false;
        };
        let (kind, message, weak) = match code {
            -999 => (
                Kind::Pinning,
                "NSURLErrorDomain Code=-999 \"cancelled\"",
                true,
            ),
            -1200 => (
                Kind::Trust,
                "NSURLErrorDomain Code=-1200 (an SSL error has occurred)",
                false,
            ),
            -1201 => (
                Kind::Trust,
                "NSURLErrorDomain Code=-1201 (certificate has a bad date)",
                false,
            ),
            -1202 => (
                Kind::Trust,
                "NSURLErrorDomain Code=-1202 (the certificate for this server is invalid)",
                false,
            ),
            -1203 => (
                Kind::Trust,
                "NSURLErrorDomain Code=-1203 (certificate has an unknown root)",
                false,
            ),
            -1204 => (
                Kind::Trust,
                "NSURLErrorDomain Code=-1204 (certificate is not yet valid)",
                false,
            ),
            _ => return false,
        };
        let mut found = Found {
            format: Some(Format::Ios),
            line: line.no,
            kind,
            message: message.into(),
            weak,
            ..Found::default()
        };
        set_host(&mut found, t);
        take_certs(&mut found, t);
        if code == -999 {
            out.push(found);
            return false;
        }
        let closed = t.contains("NSUnderlyingError")
            && !t.contains("NSErrorPeerCertificateChainKey=(")
            || t.trim_end().ends_with('}');
        if closed {
            out.push(found);
            return false;
        }
        self.open = Some(found);
        true
    }

    fn finish(&mut self, out: &mut Vec<Found>) {
        if let Some(done) = self.open.take() {
            out.push(done);
        }
    }
}

/// The NSURLErrorDomain code a line reports.
fn code(t: &str) -> Option<i32> {
    if let Some(rest) = text::after(t, "error code: ") {
        return rest
            .split(|c: char| c != '-' && !c.is_ascii_digit())
            .next()?
            .parse()
            .ok();
    }
    let rest = text::after(t, "NSURLErrorDomain")?;
    let rest = text::after(rest, "Code=")
        .or_else(|| text::after(rest, "code "))
        .or_else(|| text::after(rest, "error "))?;
    rest.split(|c: char| c != '-' && !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn starts_error(t: &str) -> bool {
    t.contains("Error Domain=") || t.contains("HTTP load failed")
}

fn set_host(found: &mut Found, t: &str) {
    for key in [
        "NSErrorFailingURLKey=",
        "NSErrorFailingURLStringKey=",
        "_NSURLErrorFailingURLSessionTaskErrorKey",
    ] {
        if let Some(rest) = text::after(t, key) {
            if let Some((h, p)) = chromium::first_url(rest) {
                found.host = Some(h);
                found.port = p;
                return;
            }
        }
    }
    // “api.example.com” in the -1202 description.
    if let Some(rest) = text::after(t, "pretending to be \u{201c}") {
        if let Some(name) = rest.split('\u{201d}').next() {
            if let Some((h, p)) = text::host_port(name) {
                found.host = Some(h);
                found.port = p;
            }
        }
    }
}

/// `"<cert(0x...) s: api.example.com i: mitmproxy>"` entries on a line.
fn take_certs(found: &mut Found, t: &str) {
    let mut rest = t;
    while let Some(at) = rest.find("<cert(") {
        let entry = &rest[at..];
        let end = entry.find('>').unwrap_or(entry.len());
        let body = &entry[..end];
        let subject = text::after(body, " s: ")
            .map(|s| s.split(" i: ").next().unwrap_or(s).trim().to_string());
        let issuer = text::after(body, " i: ").map(|s| s.trim().to_string());
        found.presented_chain.push(ChainCert {
            position: found.presented_chain.len(),
            subject,
            issuer,
            pin: None,
        });
        rest = &entry[end..];
        if found.presented_chain.len() >= 16 {
            break;
        }
    }
}
