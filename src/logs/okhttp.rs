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
            let mut block = Block {
                found: Found {
                    format: Some(format),
                    line: line.no,
                    kind: Kind::Pinning,
                    message: "Certificate pinning failure!".into(),
                    ..Found::default()
                },
                state: State::Header,
            };
            if let Some(rest) = text::after(t, "Certificate pinning failure!") {
                for segment in segments(rest) {
                    if !segment.trim().is_empty() && !block.take_text(segment) {
                        break;
                    }
                }
            }
            self.block = Some(block);
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
        if self.state == State::Hostname {
            return self.take_text(line.text);
        }
        // A paste that lost its line breaks holds several entries on one line; what comes
        // before the first entry is a prefix.
        let mut parts = segments(line.text);
        if parts.len() > 1 && !starts_entry(parts[0].trim()) {
            parts.remove(0);
        }
        parts.into_iter().all(|t| self.take_text(t))
    }

    fn take_text(&mut self, t: &str) -> bool {
        let t = unprefixed(t.trim());
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

/// A line that begins with one of a block's own words.
fn starts_entry(t: &str) -> bool {
    [
        "Peer certificate chain:",
        "Pinned certificates for ",
        "sha256/",
        "sha1/",
        "certificate:",
        "DN:",
        "subjectAltNames:",
    ]
    .iter()
    .any(|m| t.starts_with(m))
}

/// A block line behind a prefix the reader does not know (`log show`'s columns, a custom
/// logger): the text from the block's own first word on. Lines without one stay as they are.
fn unprefixed(t: &str) -> &str {
    const MARKERS: [&str; 8] = [
        "Peer certificate chain:",
        "Pinned certificates for ",
        " sha256/",
        " sha1/",
        " certificate: ",
        " DN: ",
        " subjectAltNames: ",
        "\tsha256/",
    ];
    if starts_entry(t) {
        return t;
    }
    MARKERS
        .iter()
        .filter_map(|m| t.find(m).map(|i| (i, m)))
        .min_by_key(|(i, _)| *i)
        .map_or(t, |(i, m)| {
            t[i..]
                .trim_start_matches(|c: char| c.is_whitespace() && m.starts_with([' ', '\t']))
                .trim_start()
        })
}

/// A line cut where a block's entries begin (`Peer certificate chain:`, `Pinned certificates
/// for`, `sha256/`, `sha1/` after whitespace): one piece for an ordinary line.
fn segments(t: &str) -> Vec<&str> {
    const STARTS: [&str; 4] = [
        "Peer certificate chain:",
        "Pinned certificates for ",
        "sha256/",
        "sha1/",
    ];
    let b = t.as_bytes();
    let mut cuts: Vec<usize> = Vec::new();
    for start in STARTS {
        let mut from = 0;
        while let Some(i) = t[from..].find(start) {
            let at = from + i;
            if at > 0 && b[at - 1].is_ascii_whitespace() && !t[..at].trim().is_empty() {
                cuts.push(at);
            }
            from = at + start.len();
        }
    }
    cuts.sort_unstable();
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut prev = 0;
    for cut in cuts {
        out.push(&t[prev..cut]);
        prev = cut;
    }
    out.push(&t[prev..]);
    out
}
