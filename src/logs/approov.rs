//! Approov on iOS (`ApproovService` of approov-service-urlsession): `ApproovService: pin
//! verification failed for <host> with no match for <n> pins` (a pinning failure that names no
//! certificate). Its `host <host> not pinned` / `unpinned` / `no pins` lines are not refusals.
//! Approov on Android logs OkHttp's block after `Pinning failure: ` (read by [`super::okhttp`]).
//!
//! Tested on: the log texts of approov-service-urlsession (fixtures, SOURCES.md).

use super::{text, Format, Found, Kind, Line, Parser};

#[derive(Default)]
pub(crate) struct Approov;

impl Parser for Approov {
    fn triggers(&self) -> &'static [&'static str] {
        &["pin verification failed for "]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text;
        if !t.contains("Approov") {
            return false;
        }
        let Some(rest) = text::after(t, "pin verification failed for ") else {
            return false;
        };
        let host = text::host_port(text::word(rest)).map(|(h, _)| h);
        let pins = text::after(rest, "no match for ")
            .map(text::word)
            .unwrap_or("");
        out.push(Found {
            format: Some(Format::Approov),
            line: line.no,
            message: if pins.is_empty() {
                "pin verification failed".to_string()
            } else {
                format!("pin verification failed with no match for {pins} pins")
            },
            host,
            kind: Kind::Pinning,
            ..Found::default()
        });
        false
    }

    fn finish(&mut self, _out: &mut Vec<Found>) {}
}
