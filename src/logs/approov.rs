//! Approov on iOS (`ApproovService` of approov-service-urlsession): `ApproovService: pin
//! verification failed for <host> with no match for <n> pins` (a pinning failure that names no
//! certificate), `pin verification <host> unpinned` and `pin verification <host> no pins` (the
//! host has no pins: the connection goes ahead, fail open) and `Error during Certificate Trust
//! Evaluation for host <host>` (the trust check before pinning). Approov on Android logs OkHttp's
//! block after `Pinning failure: ` (read by [`super::okhttp`], reported as approov).
//!
//! Tested on: the log texts of approov-service-urlsession (fixtures, SOURCES.md).

use super::{text, Format, Found, Kind, Line, Parser, PinKind};

#[derive(Default)]
pub(crate) struct Approov;

impl Parser for Approov {
    fn triggers(&self) -> &'static [&'static str] {
        &["ApproovService"]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text;
        let Some(msg) = text::after(t, "ApproovService") else {
            return false;
        };
        let (host, kind, message) =
            if let Some(rest) = text::after(msg, "pin verification failed for ") {
                let pins = text::after(rest, "no match for ")
                    .map(text::word)
                    .unwrap_or("");
                (
                    text::word(rest),
                    Kind::Pinning,
                    if pins.is_empty() {
                        "pin verification failed".to_string()
                    } else {
                        format!("pin verification failed with no match for {pins} pins")
                    },
                )
            } else if let Some(rest) = text::after(msg, "pin verification ") {
                let host = text::word(rest);
                let rest = &rest[rest.find(host).map_or(0, |i| i + host.len())..];
                let what = rest.trim();
                if what.starts_with("unpinned") || what.starts_with("no pins") {
                    (host, Kind::NoPinsOpen, format!("pin verification {what}"))
                } else {
                    return false;
                }
            } else if let Some(rest) = text::after(msg, "Certificate Trust Evaluation for host ") {
                (
                    text::word(rest),
                    Kind::Trust,
                    "Error during Certificate Trust Evaluation".to_string(),
                )
            } else {
                return false;
            };
        out.push(Found {
            format: Some(Format::Approov),
            line: line.no,
            host: text::host_port(host).map(|(h, _)| h),
            pin_kind: (kind == Kind::Pinning).then_some(PinKind::SpkiSha256),
            kind,
            message,
            ..Found::default()
        });
        false
    }

    fn finish(&mut self, _out: &mut Vec<Found>) {}
}
