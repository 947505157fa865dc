//! .NET `HttpClient`/`SslStream` (`System.Net.Security` resources): `The remote certificate was
//! rejected by the provided RemoteCertificateValidationCallback.` (the app's own check, usually
//! its pinning) and the trust failures `The remote certificate is invalid because of errors in
//! the certificate chain: UntrustedRoot` / `... according to the validation procedure:
//! RemoteCertificateNameMismatch, RemoteCertificateChainErrors`. The host is the URL or
//! `(host:port)` on the line, if any.
//!
//! Tested on: the resource texts of dotnet/runtime `Strings.resx` (fixtures, SOURCES.md).

use super::{chromium, text, Format, Found, Kind, Line, Parser};

#[derive(Default)]
pub(crate) struct Dotnet;

impl Parser for Dotnet {
    fn triggers(&self) -> &'static [&'static str] {
        &[
            "rejected by the provided RemoteCertificateValidationCallback",
            "The remote certificate is invalid",
        ]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text.trim();
        let (kind, message) =
            if t.contains("rejected by the provided RemoteCertificateValidationCallback") {
                (
                    Kind::Pinning,
                    "The remote certificate was rejected by the provided \
                     RemoteCertificateValidationCallback."
                        .to_string(),
                )
            } else if let Some(rest) = text::after(t, "The remote certificate is invalid") {
                (
                    Kind::Trust,
                    format!("The remote certificate is invalid{}", rest.trim_end()),
                )
            } else {
                return false;
            };
        let host = chromium::first_url(t).or_else(|| {
            let inner = t.rsplit_once('(')?.1.strip_suffix(')')?;
            text::host_port(inner).filter(|(_, p)| p.is_some())
        });
        let (host, port) = host.map_or((None, None), |(h, p)| (Some(h), p));
        out.push(Found {
            format: Some(Format::Dotnet),
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
