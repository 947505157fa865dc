//! Android's network security config (AOSP `NetworkSecurityTrustManager.java`): `Pin verification
//! failed` (thrown after chain validation; it names neither host nor certificates), WebView and
//! Cronet's `X509Util: Failed to validate the certificate chain, error: ...`, and the trust
//! failure `Trust anchor for certification path not found.` A stack trace repeats its message in
//! each `Caused by:`; those repeats are one failure.
//!
//! Tested on: the AOSP message texts and logcat fixtures built from them (SOURCES.md).

use super::{Format, Found, Kind, Line, Parser};

#[derive(Default)]
pub(crate) struct Nsc {
    /// Inside the stack trace of a failure already taken.
    in_trace: bool,
}

impl Parser for Nsc {
    fn triggers(&self) -> &'static [&'static str] {
        &[
            "Pin verification failed",
            "Trust anchor for certification path not found",
            "Failed to validate the certificate chain",
        ]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text.trim();
        if self.in_trace && is_trace(t) {
            return true;
        }
        self.in_trace = false;
        let (kind, message, weak) = if t.contains("Trust anchor for certification path not found") {
            (
                Kind::Trust,
                "Trust anchor for certification path not found.",
                false,
            )
        } else if t.contains("Failed to validate the certificate chain") {
            if t.contains("Pin verification failed") {
                (Kind::Pinning, "Pin verification failed", false)
            } else {
                (
                    Kind::Trust,
                    "Failed to validate the certificate chain",
                    false,
                )
            }
        } else if t.contains("Pin verification failed") {
            (Kind::Pinning, "Pin verification failed", true)
        } else {
            return false;
        };
        out.push(Found {
            format: Some(Format::AndroidNsc),
            line: line.no,
            kind,
            message: message.into(),
            weak,
            ..Found::default()
        });
        self.in_trace = true;
        true
    }

    fn finish(&mut self, _out: &mut Vec<Found>) {}
}

/// A line of a Java stack trace (frames, causes, elisions).
pub(crate) fn is_trace(t: &str) -> bool {
    t.starts_with("at ")
        || t.starts_with("Caused by:")
        || t.starts_with("Suppressed:")
        || (t.starts_with("...") && t.ends_with("more"))
        || t.starts_with("javax.net.ssl.")
        || t.starts_with("java.security.cert.")
}
