//! Flutter (dart:io): `HandshakeException: Handshake error in client (OS Error:
//! CERTIFICATE_VERIFY_FAILED: <reason>(handshake.cc:NNN))`, often inside a `DioException` /
//! `DioError` (a trust failure: dart:io's own verification, or a `badCertificateCallback` that
//! returned false); the pinning plugins' refusals: http_certificate_pinning and ssl_pinning_plugin
//! (`CONNECTION_NOT_SECURE`, `CertificateNotVerifiedException: Connection is not secure`) and
//! Dio's `validateCertificate` (`The certificate of the response is not approved.`). None of them
//! prints the certificates.
//!
//! Tested on: the texts of dart:io's `secure_socket.cc` errors and the plugins' sources
//! (fixtures, SOURCES.md).

use super::{chromium, Format, Found, Kind, Line, Parser};

#[derive(Default)]
pub(crate) struct Flutter {
    /// The last line taken, so the same exception printed by Dio and by the app counts once.
    last: Option<(u64, Kind)>,
}

/// Lines within which a repeat of the same exception is one event.
const SAME_EVENT_LINES: u64 = 3;

impl Parser for Flutter {
    fn triggers(&self) -> &'static [&'static str] {
        &[
            "CERTIFICATE_VERIFY_FAILED",
            "CONNECTION_NOT_SECURE",
            "CertificateNotVerifiedException",
            "The certificate of the response is not approved",
        ]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text;
        let (kind, message) = if t.contains("CERTIFICATE_VERIFY_FAILED") {
            let reason = t
                .split("CERTIFICATE_VERIFY_FAILED:")
                .nth(1)
                .map(|r| {
                    r.split("(handshake.cc")
                        .next()
                        .unwrap_or(r)
                        .trim()
                        .to_string()
                })
                .unwrap_or_default();
            (
                Kind::Trust,
                if reason.is_empty() {
                    "HandshakeException: CERTIFICATE_VERIFY_FAILED".to_string()
                } else {
                    format!("HandshakeException: CERTIFICATE_VERIFY_FAILED: {reason}")
                },
            )
        } else if t.contains("CONNECTION_NOT_SECURE")
            || t.contains("CertificateNotVerifiedException")
        {
            (
                Kind::Pinning,
                "CONNECTION_NOT_SECURE: Connection is not secure".to_string(),
            )
        } else if t.contains("The certificate of the response is not approved") {
            (
                Kind::Pinning,
                "The certificate of the response is not approved.".to_string(),
            )
        } else {
            return false;
        };
        if let Some((last, last_kind)) = self.last {
            if last_kind == kind && line.no - last <= SAME_EVENT_LINES {
                self.last = Some((line.no, kind));
                return false;
            }
        }
        self.last = Some((line.no, kind));
        let (host, port) = chromium::first_url(t).map_or((None, None), |(h, p)| (Some(h), p));
        out.push(Found {
            format: Some(Format::Flutter),
            line: line.no,
            host,
            port,
            kind,
            message,
            ..Found::default()
        });
        false
    }

    fn finish(&mut self, _out: &mut Vec<Found>) {}
}
