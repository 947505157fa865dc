//! OkHttp 3.x to 5.x: the `Certificate pinning failure!` block of `CertificatePinner` (peer chain
//! as `sha256/<pin>: <subject DN>` lines, DNs with or without spaces, possibly empty, then
//! `Pinned certificates for <host>:`) and the `Hostname <host> not verified:` block of its host
//! name check (`certificate:`, `DN:`, `subjectAltNames:`). Approov on Android logs the same block
//! after `Pinning failure: `, and is told apart by that.
//!
//! Tested on: the public Burp Suite sample (`okhttp-logcat-burp-slash-pin.log`, a pin that starts
//! with `/`), the message templates of `okhttp3/CertificatePinner.kt` and
//! `okhttp3/internal/connection/RealConnection.kt`, and OkHttp 3.13 (Debian's libokhttp-java on
//! OpenJDK 17) run here through pin-proxy (tests/logs.rs): `printStackTrace` of a pin failure
//! against the forged chain (as is, behind a logcat threadtime prefix, with CRLF), of one against
//! a test origin's own chain through passthrough, and of `Hostname ... not verified` against the
//! `wrong-host` profile.

use super::{text, ChainCert, Format, Found, Kind, Line, Parser};

#[derive(Default)]
pub(crate) struct Okhttp {
    block: Option<Block>,
}

struct Block {
    found: Found,
    state: State,
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum State {
    Header,
    Chain,
    Pinned,
    Hostname,
}

/// Lines a block may span before it is closed whatever follows.
const MAX_BLOCK: u64 = 64;

impl Parser for Okhttp {
    fn triggers(&self) -> &'static [&'static str] {
        &["Certificate pinning failure!", " not verified"]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        if let Some(block) = &mut self.block {
            if block.take(line) {
                return true;
            }
            if let Some(done) = self.block.take() {
                out.push(done.found);
            }
        }
        self.start(line)
    }

    fn finish(&mut self, out: &mut Vec<Found>) {
        if let Some(done) = self.block.take() {
            out.push(done.found);
        }
    }
}

impl Okhttp {
    fn start(&mut self, line: Line<'_>) -> bool {
        let t = line.text;
        if t.contains("Certificate pinning failure!") {
            let format = if t.contains("Pinning failure: ") || t.contains("Approov") {
                Format::Approov
            } else {
                Format::Okhttp
            };
            self.block = Some(Block {
                found: Found {
                    format: Some(format),
                    line: line.no,
                    kind: Kind::Pinning,
                    message: "Certificate pinning failure!".into(),
                    ..Found::default()
                },
                state: State::Header,
            });
            return true;
        }
        if let Some(rest) = text::after(t, "Hostname ") {
            let Some(host) = rest.strip_suffix(" not verified:").or_else(|| {
                rest.find(" not verified")
                    .map(|i| &rest[..i])
                    .filter(|_| t.contains("SSLPeerUnverifiedException"))
            }) else {
                return false;
            };
            let Some((host, port)) = text::host_port(host) else {
                return false;
            };
            self.block = Some(Block {
                found: Found {
                    format: Some(Format::Okhttp),
                    line: line.no,
                    kind: Kind::Trust,
                    message: format!("Hostname {host} not verified"),
                    host: Some(host),
                    port,
                    ..Found::default()
                },
                state: State::Hostname,
            });
            return true;
        }
        false
    }
}

impl Block {
    /// Takes a line into the block; false when the line is not part of it.
    fn take(&mut self, line: Line<'_>) -> bool {
        if line.no.saturating_sub(self.found.line) > MAX_BLOCK {
            return false;
        }
        let t = line.text.trim();
        if self.state == State::Hostname {
            return self.hostname_line(t);
        }
        if t == "Peer certificate chain:" {
            self.state = State::Chain;
            return true;
        }
        if let Some(rest) = t.strip_prefix("Pinned certificates for ") {
            let host = rest.trim_end_matches(':');
            if let Some((host, port)) = text::host_port(host) {
                self.found.host = Some(host);
                self.found.port = port;
            }
            self.state = State::Pinned;
            return true;
        }
        if !(t.starts_with("sha256/") || t.starts_with("sha1/")) {
            return false;
        }
        match self.state {
            State::Chain => {
                let (pin_part, dn) = t.split_once(':').unwrap_or((t, ""));
                let Some((pin, kind)) = text::spki_pin(pin_part) else {
                    return false;
                };
                let dn = dn.trim();
                self.found.presented_chain.push(ChainCert {
                    position: self.found.presented_pins.len(),
                    subject: (!dn.is_empty()).then(|| dn.to_string()),
                    issuer: None,
                    pin: Some(pin.clone()),
                });
                self.found.presented_pins.push(pin);
                self.found.pin_kind.get_or_insert(kind);
                true
            }
            State::Pinned => {
                let Some((pin, kind)) = text::spki_pin(t) else {
                    return false;
                };
                self.found.pinned_pins.push(pin);
                self.found.pin_kind.get_or_insert(kind);
                true
            }
            State::Header | State::Hostname => false,
        }
    }

    fn hostname_line(&mut self, t: &str) -> bool {
        if let Some(rest) = t.strip_prefix("certificate:") {
            if let Some((pin, kind)) = text::spki_pin(rest) {
                self.found.presented_pins.push(pin.clone());
                self.found.pin_kind = Some(kind);
                self.cert0().pin = Some(pin);
            }
            return true;
        }
        if let Some(dn) = t.strip_prefix("DN:") {
            self.cert0().subject = Some(dn.trim().to_string());
            return true;
        }
        if let Some(names) = t.strip_prefix("subjectAltNames:") {
            let names = names.trim();
            self.found.message = format!("{} (the certificate is for {names})", self.found.message);
            return true;
        }
        false
    }

    fn cert0(&mut self) -> &mut ChainCert {
        if self.found.presented_chain.is_empty() {
            self.found.presented_chain.push(ChainCert {
                position: 0,
                subject: None,
                issuer: None,
                pin: None,
            });
        }
        &mut self.found.presented_chain[0]
    }
}
