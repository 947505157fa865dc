//! `pin-proxy client`'s own log (`client::report`, a documented contract): `host H certificate i
//! public key hash P subject S` for the verified path (and `sent certificate` for the others
//! sent), then `pinning invalid for host H and certificate i's public key hash P` and `host H
//! expected one of N pin(s): a, b`; `trust evaluation failed for host H: ...`; `host H has no pins
//! (pins are for ...): cancelled (fail-closed)`. `outcome O (exit N)`, always a run's last line,
//! ends the run: the certificates of one run are never another's.
//!
//! Tested on: `pin-proxy client` run here through pin-proxy (tests/logs.rs): pin mismatches
//! (intercepted, and through passthrough against a test origin), trust and no-pins failures, and
//! a successful run logged before a failing one (the text is in the tests below).

use crate::client::report::PREFIX;

use super::{text, ChainCert, Format, Found, Kind, Line, Parser, PinKind};

#[derive(Default)]
pub(crate) struct Client {
    /// (host, position, pin, subject, sent) of the certificate lines, in order.
    certs: Vec<(String, usize, String, String, bool)>,
    open: Option<Found>,
}

impl Parser for Client {
    fn triggers(&self) -> &'static [&'static str] {
        &[PREFIX]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let Some(msg) = text::after(line.text, PREFIX) else {
            return false;
        };
        let msg = msg.trim();
        if msg.starts_with("outcome ") {
            self.finish(out);
            self.certs.clear();
            return false;
        }
        if let Some(rest) = msg.strip_prefix("pinning invalid for host ") {
            let host = text::word(rest).to_string();
            if self.open.is_none() {
                let mut found = self.found(line.no, &host, Kind::Pinning, "pinning invalid");
                found.pin_kind = Some(PinKind::SpkiSha256);
                if found.presented_pins.is_empty() {
                    if let Some(pin) = text::after(rest, "public key hash ") {
                        found.presented_pins.push(text::b64_run(pin).to_string());
                    }
                }
                self.open = Some(found);
            }
            return false;
        }
        if let Some(rest) = msg.strip_prefix("host ") {
            let host = text::word(rest).to_string();
            let rest = rest
                .find(host.as_str())
                .map_or(rest, |i| &rest[i + host.len()..]);
            if let Some(pins) = text::after(rest, "pin(s): ") {
                let mut found = self.open.take().unwrap_or_else(|| {
                    self.found(line.no, &host, Kind::Pinning, "pinning invalid")
                });
                found.pinned_pins = pins
                    .split(',')
                    .filter_map(|p| text::spki_pin(p).map(|(p, _)| p))
                    .collect();
                found.pin_kind = Some(PinKind::SpkiSha256);
                out.push(found);
                self.certs.clear();
                return false;
            }
            if rest.contains("has no pins") && rest.contains("fail-closed") {
                let found = self.found(line.no, &host, Kind::NoPins, "has no pins (fail-closed)");
                out.push(found);
                self.certs.clear();
                return false;
            }
            let sent = rest.trim_start().starts_with("sent certificate ");
            let cert = text::after(rest, "certificate ");
            if let Some(cert) = cert {
                let position = text::word(cert).parse().unwrap_or(self.certs.len());
                let pin = text::after(cert, "public key hash ")
                    .map(text::word)
                    .unwrap_or("");
                let subject = text::after(cert, " subject ").unwrap_or("").trim();
                if self.certs.len() < 32 {
                    self.certs
                        .push((host, position, pin.to_string(), subject.to_string(), sent));
                }
            }
            return false;
        }
        if let Some(rest) = msg.strip_prefix("trust evaluation failed for host ") {
            let host = text::word(rest).to_string();
            let why = rest.split_once(": ").map(|(_, w)| w.trim()).unwrap_or("");
            let found = self.found(
                line.no,
                &host,
                Kind::Trust,
                &format!("trust evaluation failed: {why}"),
            );
            out.push(found);
            self.certs.clear();
        }
        false
    }

    fn finish(&mut self, out: &mut Vec<Found>) {
        if let Some(done) = self.open.take() {
            out.push(done);
        }
    }
}

impl Client {
    fn found(&self, no: u64, host: &str, kind: Kind, message: &str) -> Found {
        let (host, port) = text::host_port(host).map_or((None, None), |(h, p)| (Some(h), p));
        let mut found = Found {
            format: Some(Format::PinProxyClient),
            line: no,
            host: host.clone(),
            port,
            kind,
            message: message.to_string(),
            ..Found::default()
        };
        // The verified path; for a trust failure (no path), the certificates sent.
        let path: Vec<_> = self.certs.iter().filter(|c| !c.4).collect();
        let certs = if path.is_empty() {
            self.certs.iter().collect()
        } else {
            path
        };
        for (h, position, pin, subject, _) in certs {
            if host.as_deref().is_some_and(|x| x != h.to_ascii_lowercase()) {
                continue;
            }
            if !pin.is_empty() {
                found.presented_pins.push(pin.clone());
            }
            found.presented_chain.push(ChainCert {
                position: *position,
                subject: (!subject.is_empty()).then(|| subject.clone()),
                issuer: None,
                pin: (!pin.is_empty()).then(|| pin.clone()),
            });
        }
        if !found.presented_pins.is_empty() {
            found.pin_kind = Some(PinKind::SpkiSha256);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use crate::logs::{explain, Diagnosis};

    /// Two runs of `pin-proxy client` through pin-proxy: the first pins the forged leaf (ok), the
    /// second a key that is not on the path.
    const OK_THEN_MISMATCH: &str = "\
pin-proxy client: host api.test certificate 0 public key hash MLg5htqvWEh8iN8IvDbE0/Xsol2cOsNevYIMWZXE5Qo= subject CN=api.test
pin-proxy client: host api.test certificate 1 public key hash EFJzSRiRxaEK/P/qtBiJwHcn7qDY+4ItLVxtmZSokOY= subject O=pin-proxy (testing only; generated on this machine), CN=pin-proxy local CA d07e786e
pin-proxy client: pinning valid for host api.test and certificate 0's public key hash MLg5htqvWEh8iN8IvDbE0/Xsol2cOsNevYIMWZXE5Qo=
pin-proxy client: GET https://api.test/ -> 200 OK (3 bytes)
pin-proxy client: outcome ok (exit 0)
pin-proxy client: host api.test certificate 0 public key hash MLg5htqvWEh8iN8IvDbE0/Xsol2cOsNevYIMWZXE5Qo= subject CN=api.test
pin-proxy client: host api.test certificate 1 public key hash EFJzSRiRxaEK/P/qtBiJwHcn7qDY+4ItLVxtmZSokOY= subject O=pin-proxy (testing only; generated on this machine), CN=pin-proxy local CA d07e786e
pin-proxy client: pinning invalid for host api.test and certificate 0's public key hash MLg5htqvWEh8iN8IvDbE0/Xsol2cOsNevYIMWZXE5Qo=
pin-proxy client: pinning invalid for host api.test and certificate 1's public key hash EFJzSRiRxaEK/P/qtBiJwHcn7qDY+4ItLVxtmZSokOY=
pin-proxy client: host api.test expected one of 1 pin(s): AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
pin-proxy client: outcome pin_mismatch (exit 10)
";

    #[test]
    fn a_run_s_certificates_are_not_the_next_run_s() {
        let e = explain(OK_THEN_MISMATCH.as_bytes()).unwrap();
        assert_eq!(e.failures.len(), 1, "{:#?}", e.failures);
        let f = &e.failures[0];
        assert_eq!(f.line, 8);
        assert_eq!(
            f.presented_pins,
            [
                "MLg5htqvWEh8iN8IvDbE0/Xsol2cOsNevYIMWZXE5Qo=",
                "EFJzSRiRxaEK/P/qtBiJwHcn7qDY+4ItLVxtmZSokOY="
            ]
        );
        assert_eq!(
            f.pinned_pins,
            ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]
        );
        assert_eq!(f.diagnosis, Diagnosis::Intercepted);
    }
}
