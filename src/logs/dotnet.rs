//! .NET `HttpClient`/`SslStream` (`System.Net.Security` resources): `The remote certificate was
//! rejected by the provided RemoteCertificateValidationCallback.` (the app's own check, usually
//! its pinning) and the trust failures `The remote certificate is invalid because of errors in
//! the certificate chain: UntrustedRoot` / `... according to the validation procedure:
//! RemoteCertificateNameMismatch, RemoteCertificateChainErrors`. The inner exception follows
//! `HttpRequestException: The SSL connection could not be established`: that line is where the
//! failure begins. The host is a URL on these lines or on the line before.
//!
//! Tested on: public excerpts (`dotnet-untrustedroot.log`, `dotnet-validation-procedure.log`) and
//! the resource texts of dotnet/runtime (SOURCES.md).

use super::{chromium, text, Format, Found, Kind, Line, Parser};

/// A host and the port the log gives with it.
type HostPort = (String, Option<u16>);

/// Lines between the `HttpRequestException` and its inner exception.
const INNER_LINES: u64 = 3;

#[derive(Default)]
pub(crate) struct Dotnet {
    /// The last `The SSL connection could not be established` line, and a host it named.
    outer: Option<(u64, Option<HostPort>)>,
}

impl Parser for Dotnet {
    fn triggers(&self) -> &'static [&'static str] {
        &[
            "rejected by the provided RemoteCertificateValidationCallback",
            "The remote certificate is invalid",
            "HttpRequestException: The SSL connection could not be established",
        ]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text.trim();
        let here = chromium::first_url(t).or_else(|| {
            let inner = t.rsplit_once('(')?.1.strip_suffix(')')?;
            text::host_port(inner).filter(|(_, p)| p.is_some())
        });
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
                if t.contains("HttpRequestException: The SSL connection could not be established") {
                    let host = here.or_else(|| chromium::first_url(line.prev));
                    self.outer = Some((line.no, host));
                }
                return false;
            };
        let (start, outer_host) = match self.outer.take() {
            Some((l, h)) if line.no - l <= INNER_LINES => (l, h),
            _ => (line.no, None),
        };
        let (host, port) = here
            .or(outer_host)
            .map_or((None, None), |(h, p)| (Some(h), p));
        out.push(Found {
            format: Some(Format::Dotnet),
            line: start,
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
