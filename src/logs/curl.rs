//! curl: `curl: (90) SSL: public key does not match pinned public key` (and the verbose `* SSL:`
//! line before it), with the verbose context of the same connection: ` public key hash:
//! sha256//<b64>` (curl's own `sha256//` prefix, then the pin), the server certificate's
//! `subject:` and `issuer:`, `Establish HTTP proxy tunnel to <host>:<port>` or `Connected to
//! <host> (...) port <n>`; a `--pinnedpubkey` on an echoed command line gives the pinned pins.
//! Trust failures: `(60) SSL certificate problem: ...`, `(51) ... no alternative certificate
//! subject name matches ...`.
//!
//! Tested on: curl 7.88 (Debian 12) run here through pin-proxy under `bash -x` (tests/logs.rs):
//! `-v --pinnedpubkey` against the forged leaf (three runs in one log) and against a test
//! origin's own leaf through passthrough, `--cacert` against the `untrusted-ca` profile, and a
//! run that succeeds; real runs in tests/fixtures/logs (`curl-forging-proxy.log`,
//! `curl-rotated.log`); and the message templates of curl's `lib/vtls/vtls.c` and
//! `lib/vtls/openssl.c`.

use super::{text, ChainCert, Format, Found, Kind, Line, Parser};

/// The error text curl prints for a pin mismatch (both in `* SSL:` and `curl: (90)`).
const MISMATCH: &str = "public key does not match pinned public key";
/// How close the `curl: (NN)` line is to the `* SSL:` line it repeats.
const REPEAT_LINES: u64 = 12;

#[derive(Default)]
pub(crate) struct Curl {
    host: Option<(String, Option<u16>)>,
    subject: Option<String>,
    issuer: Option<String>,
    hash: Option<String>,
    pinned: Vec<String>,
    /// The line and message of the last failure, so curl's repeat of it is not counted again.
    last: Option<(u64, Kind)>,
}

impl Parser for Curl {
    fn triggers(&self) -> &'static [&'static str] {
        &[
            MISMATCH,
            "public key hash: sha256//",
            "Establish HTTP proxy tunnel to",
            "Connected to ",
            " subject: ",
            " issuer: ",
            "--pinnedpubkey",
            "SSL certificate problem",
            "no alternative certificate subject name matches",
        ]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text;
        let star = t.trim_start().strip_prefix('*').map(str::trim_start);
        if let Some(rest) = text::after(t, "Establish HTTP proxy tunnel to ") {
            self.reset();
            self.host = text::host_port(text::word(rest));
        } else if let Some(rest) = text::after(t, "Connected to ") {
            // Through a proxy, the tunnel line names the host; this one is the proxy.
            if star.is_some() && self.host.is_none() {
                let host = text::word(rest);
                let port = text::after(rest, " port ").and_then(|p| text::word(p).parse().ok());
                self.host = text::host_port(host).map(|(h, _)| (h, port));
            }
        } else if let Some(rest) = text::after(t, "public key hash: sha256//") {
            self.hash = Some(text::b64_run(rest.trim()).to_string()).filter(|h| !h.is_empty());
        } else if let Some(subject) = star.and_then(|s| s.strip_prefix("subject: ")) {
            self.subject = Some(subject.trim().to_string());
        } else if let Some(issuer) = star.and_then(|s| s.strip_prefix("issuer: ")) {
            self.issuer = Some(issuer.trim().to_string());
        } else if t.contains("--pinnedpubkey") {
            self.command(t);
        } else if t.contains(MISMATCH) {
            self.fail(
                line.no,
                Kind::Pinning,
                "SSL: public key does not match pinned public key",
                out,
            );
        } else if let Some(rest) = text::after(t, "SSL certificate problem: ") {
            self.fail(
                line.no,
                Kind::Trust,
                &format!("SSL certificate problem: {}", rest.trim()),
                out,
            );
        } else if t.contains("no alternative certificate subject name matches") {
            self.fail(
                line.no,
                Kind::Trust,
                "SSL: no alternative certificate subject name matches target host name",
                out,
            );
        }
        false
    }

    fn finish(&mut self, _out: &mut Vec<Found>) {}
}

impl Curl {
    fn reset(&mut self) {
        self.host = None;
        self.subject = None;
        self.issuer = None;
        self.hash = None;
    }

    /// `curl ... --pinnedpubkey 'sha256//a;sha256//b' https://host/`.
    fn command(&mut self, t: &str) {
        let mut words = t.split_whitespace().map(|w| w.trim_matches(['\'', '"']));
        let mut pinned = Vec::new();
        while let Some(w) = words.next() {
            let value = match w.strip_prefix("--pinnedpubkey=") {
                Some(v) => Some(v),
                None if w == "--pinnedpubkey" => words.next(),
                None => None,
            };
            if let Some(value) = value {
                for pin in value.split(';') {
                    if let Some(p) = pin.trim().strip_prefix("sha256//") {
                        pinned.push(text::b64_run(p).to_string());
                    }
                }
            } else if let Some((host, port)) = text::url_host(w) {
                self.host = Some((host, port));
            }
        }
        if !pinned.is_empty() {
            self.pinned = pinned;
        }
    }

    fn fail(&mut self, no: u64, kind: Kind, message: &str, out: &mut Vec<Found>) {
        if let Some((last, last_kind)) = self.last {
            if last_kind == kind && no - last <= REPEAT_LINES {
                return;
            }
        }
        self.last = Some((no, kind));
        let (host, port) = self
            .host
            .clone()
            .map_or((None, None), |(h, p)| (Some(h), p));
        // The failure begins where curl says something failed: the ` public key hash:` line
        // before it is printed for every pinned connection, good or bad.
        let line = no;
        let mut found = Found {
            format: Some(Format::Curl),
            line,
            host,
            port,
            kind,
            message: message.to_string(),
            pinned_pins: self.pinned.clone(),
            ..Found::default()
        };
        if let Some(hash) = &self.hash {
            found.presented_pins.push(hash.clone());
            found.pin_kind = Some(super::PinKind::SpkiSha256);
        }
        if self.hash.is_some() || self.subject.is_some() || self.issuer.is_some() {
            found.presented_chain.push(ChainCert {
                position: 0,
                subject: self.subject.clone(),
                issuer: self.issuer.clone(),
                pin: self.hash.clone(),
            });
        }
        out.push(found);
        self.reset();
    }
}
