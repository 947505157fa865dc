//! Node's `checkServerIdentity` pinning recipe (the `tls` and `https` docs): the error
//! `Certificate verification error: The public key of '<CN>' does not match our pinned
//! fingerprint` (SPKI SHA-256) or `The certificate of '<CN>' ...` (certificate SHA-256), and the
//! recipe's informational lines (`Subject Common Name:`, `Certificate SHA256 fingerprint:`,
//! `Public key ping-sha256:`) when an app prints them before its check. Node's own trust errors
//! (`unable to verify the first certificate`, `self-signed certificate in certificate chain`,
//! `unable to get local issuer certificate`, `Hostname/IP does not match certificate's altnames`)
//! are trust failures, unless the line is libcurl's `SSL certificate problem: ...` (curl, git,
//! PHP print the same OpenSSL texts there; the curl parser owns them).
//!
//! The recipe's `sha256(cert.pubkey)` is the SPKI pin only for RSA keys: for an EC key Node's
//! `pubkey` is the bare public point, so its "pins" (the informational lines, the app's pinned
//! value) are not the `sha256/` pins other tools compute for the same certificate.
//!
//! Tested on: `node-checkserveridentity.log` (the recipe run here: its informational lines
//! belong to a passing run, so they are no failing chain), and Node 20 run here with the docs' recipe through pin-proxy (tests/logs.rs), with and
//! without the informational lines before the check (RSA keys; with EC keys the printed pins
//! were Node's, as said above).

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
    /// The recipe said its checks passed after the lines above.
    passed: bool,
}

impl Parser for Node {
    fn triggers(&self) -> &'static [&'static str] {
        &[
            "does not match our pinned fingerprint",
            "Subject Common Name:",
            "Certificate SHA256 fingerprint:",
            "Public key ping-sha256:",
            "Server matched our pinned cert or public key",
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
        if t.contains("Server matched our pinned cert or public key") {
            self.passed = true;
        } else if let Some(cn) = text::after(t, "Subject Common Name:") {
            if self.passed {
                self.certs.clear();
                self.passed = false;
            }
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
            // The recipe prints these only after both checks passed: a later failure is another
            // connection's, so they are not its chain unless they come right before it (an app
            // that prints them first).
            let passed = self.passed;
            let recent: Vec<_> = self
                .certs
                .drain(..)
                .filter(|c| line.no - c.0 <= CONTEXT_LINES && !passed)
                .collect();
            self.passed = false;
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
        } else if let Some(err) = TRUST.iter().find(|e| t.contains(*e)).filter(|_| {
            !t.contains("CERTIFICATE_VERIFY_FAILED") && !t.contains("SSL certificate problem")
        }) {
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

#[cfg(test)]
mod tests {
    use crate::logs::{explain, Format};

    /// curl 7.88 through pin-proxy's `untrusted-ca` profile: one trust failure, curl's, though its
    /// text is also one of Node's.
    const CURL_UNTRUSTED: &str = "\
* TLSv1.3 (IN), TLS handshake, Certificate (11):
* TLSv1.3 (OUT), TLS alert, unknown CA (560):
* SSL certificate problem: self-signed certificate in certificate chain
* Closing connection 0
curl: (60) SSL certificate problem: self-signed certificate in certificate chain
More details here: https://curl.se/docs/sslcerts.html
";

    /// Node 20, the recipe's `tls.connect` with a CA that did not sign the chain.
    const NODE_UNTRUSTED: &str = "\
Error: self-signed certificate in certificate chain
    at TLSSocket.onConnectSecure (node:_tls_wrap:1699:34)
    at TLSSocket.emit (node:events:524:28)
    at TLSSocket._finishInit (node:_tls_wrap:1097:8)
    at ssl.onhandshakedone (node:_tls_wrap:883:12) {
  code: 'SELF_SIGNED_CERT_IN_CHAIN'
}
";

    #[test]
    fn curl_s_wording_of_an_openssl_error_is_not_node_s() {
        let e = explain(CURL_UNTRUSTED.as_bytes()).unwrap();
        let formats: Vec<_> = e.failures.iter().map(|f| (f.format, f.line)).collect();
        assert_eq!(formats, [(Format::Curl, 3)]);
        let e = explain(NODE_UNTRUSTED.as_bytes()).unwrap();
        let formats: Vec<_> = e.failures.iter().map(|f| (f.format, f.line)).collect();
        assert_eq!(formats, [(Format::Node, 1)]);
    }
}
