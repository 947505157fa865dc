//! Android's network security config (AOSP `NetworkSecurityTrustManager.java`): `Pin verification
//! failed` (thrown after chain validation; it names neither host nor certificates), WebView and
//! Cronet's `X509Util: Failed to validate the certificate chain, error: ...`, and the trust
//! failure `Trust anchor for certification path not found.` The failure's line is its stack
//! trace's first (`javax.net.ssl.SSLHandshakeException: ...`) when the message comes in a
//! `Caused by:` further down, and the trace's repeats of it are one failure.
//!
//! Tested on: public logcat excerpts (`android-trust-anchor-not-found.log`,
//! `android-nsc-pin-verification-failed.log`) and the AOSP message texts (SOURCES.md).

use super::{Format, Found, Kind, Line, Parser};

/// Lines a stack trace may take before its header no longer counts as the failure's start.
const MAX_TRACE: u64 = 200;

#[derive(Default)]
pub(crate) struct Nsc {
    /// The current stack trace: its first line, and whether its failure was taken.
    trace: Option<(u64, bool)>,
}

impl Parser for Nsc {
    fn triggers(&self) -> &'static [&'static str] {
        &[
            "Pin verification failed",
            "Trust anchor for certification path not found",
            "Failed to validate the certificate chain",
            "SSLHandshakeException",
        ]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text.trim();
        let in_trace = match self.trace {
            Some((start, _)) => is_trace(t) && line.no - start <= MAX_TRACE,
            None => false,
        };
        if !in_trace {
            self.trace = None;
            if t.contains("Exception") && !t.starts_with("Caused by:") {
                self.trace = Some((line.no, false));
            }
        }
        let Some((kind, message, weak)) = failure(t) else {
            return self.trace.is_some();
        };
        let (start, taken) = self.trace.unwrap_or((line.no, false));
        if !taken {
            out.push(Found {
                format: Some(Format::AndroidNsc),
                line: start,
                kind,
                message: message.into(),
                weak,
                ..Found::default()
            });
        }
        self.trace = Some((start, true));
        true
    }

    fn finish(&mut self, _out: &mut Vec<Found>) {}
}

fn failure(t: &str) -> Option<(Kind, &'static str, bool)> {
    if t.contains("Trust anchor for certification path not found") {
        Some((
            Kind::Trust,
            "Trust anchor for certification path not found.",
            false,
        ))
    } else if t.contains("Failed to validate the certificate chain") {
        Some(if t.contains("Pin verification failed") {
            (Kind::Pinning, "Pin verification failed", false)
        } else {
            (
                Kind::Trust,
                "Failed to validate the certificate chain",
                false,
            )
        })
    } else if t.contains("Pin verification failed") {
        Some((Kind::Pinning, "Pin verification failed", true))
    } else {
        None
    }
}

/// A line of a Java stack trace (frames, causes, elisions, TrustKit-Android's indented details).
pub(crate) fn is_trace(t: &str) -> bool {
    t.starts_with("at ")
        || t.starts_with("Caused by:")
        || t.starts_with("Suppressed:")
        || t.starts_with("...")
        || t.starts_with("Configured pins:")
        || t.starts_with("Peer certificate chain:")
        || t.contains(" - CN=")
        || t.contains("Exception")
}
