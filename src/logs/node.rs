//! Node's `checkServerIdentity` pinning recipe (the `tls` and `https` docs): the error
//! `Certificate verification error: The public key of '<CN>' does not match our pinned
//! fingerprint` (SPKI SHA-256) or `The certificate of '<CN>' ...` (certificate SHA-256), and the
//! recipe's informational lines (`Subject Common Name:`, `Certificate SHA256 fingerprint:`,
//! `Public key ping-sha256:`) when an app prints them before its check. Node's own trust errors
//! (`unable to verify the first certificate`, `self-signed certificate in certificate chain`,
//! `unable to get local issuer certificate`, `Hostname/IP does not match certificate's altnames`)
//! are trust failures.
//!
//! Tested on: Node 20 run here with the docs' recipe through pin-proxy (tests/logs.rs).

use super::{text, ChainCert, Format, Found, Kind, Line, Parser, PinKind};

/// Informational lines older than this are not the failing connection's.
const CONTEXT_LINES: u64 = 40;
/// Node's trust error texts.
const TRUST: [&str; 6] = [
    "unable to verify the first certificate",
    "self-signed certificate in certificate chain",
    "self signed certificate in certificate chain",
    "unable to get local issuer certificate",
    "Hostname/IP does not match certificate's altnames",
    "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
];

#[derive(Default)]
pub(crate) struct Node {
    /// The recipe's informational lines: (line, common name, cert sha256, spki sha256).
    certs: Vec<(u64, String, Option<String>, Option<String>)>,
}

impl Parser for Node {
    fn triggers(&self) -> &'static [&'static str] {
        &[
            "does not match our pinned fingerprint",
            "Subject Common Name:",
            "Certificate SHA256 fingerprint:",
            "Public key ping-sha256:",
            "unable to verify the first certificate",
            "self-signed certificate in certificate chain",
            "self signed certificate in certificate chain",
            "unable to get local issuer certificate",
            "does not match certificate's altnames",
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
        ]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text.trim();
        if let Some(cn) = text::after(t, "Subject Common Name:") {
            if self.certs.len() >= 16 {
                self.certs.clear();
            }
            self.certs
                .push((line.no, cn.trim().to_string(), None, None));
        } else if let Some(fp) = text::after(t, "Certificate SHA256 fingerprint:") {
            if let Some(last) = self.certs.last_mut() {
                last.2 = text::hex_digest(fp.trim()).map(|(h, _)| h);
            }
        } else if let Some(pin) = text::after(t, "Public key ping-sha256:") {
            if let Some(last) = self.certs.last_mut() {
                last.3 = text::spki_pin(pin.trim()).map(|(p, _)| p);
            }
        } else if let Some(rest) = text::after(t, "Certificate verification error: The ") {
            let public_key = rest.starts_with("public key of");
            let cn = rest.split('\'').nth(1).unwrap_or("").to_string();
            let mut found = Found {
                format: Some(Format::Node),
                line: line.no,
                host: text::host_port(&cn)
                    .filter(|(h, _)| !h.contains('*'))
                    .map(|(h, _)| h),
                kind: Kind::Pinning,
                message: if public_key {
                    format!("The public key of '{cn}' does not match our pinned fingerprint")
                } else {
                    format!("The certificate of '{cn}' does not match our pinned fingerprint")
                },
                pin_kind: Some(if public_key {
                    PinKind::SpkiSha256
                } else {
                    PinKind::CertSha256
                }),
                ..Found::default()
            };
            let recent: Vec<_> = self
                .certs
                .drain(..)
                .filter(|c| line.no - c.0 <= CONTEXT_LINES)
                .collect();
            for (position, (_, cn, cert, spki)) in recent.into_iter().enumerate() {
                let pin = if public_key { spki } else { cert };
                found.presented_pins.extend(pin.clone());
                found.presented_chain.push(ChainCert {
                    position,
                    subject: Some(format!("CN={cn}")),
                    issuer: None,
                    pin,
                });
            }
            if found.presented_chain.is_empty() && !cn.is_empty() {
                found.presented_chain.push(ChainCert {
                    position: 0,
                    subject: Some(format!("CN={cn}")),
                    issuer: None,
                    pin: None,
                });
            }
            out.push(found);
        } else if let Some(err) = TRUST.iter().find(|e| t.contains(*e)) {
            let host = text::after(t, "Host: ").and_then(|h| text::host_port(text::word(h)));
            out.push(Found {
                format: Some(Format::Node),
                line: line.no,
                host: host.map(|(h, _)| h),
                kind: Kind::Trust,
                message: (*err).to_string(),
                ..Found::default()
            });
        }
        false
    }

    fn finish(&mut self, _out: &mut Vec<Found>) {}
}
