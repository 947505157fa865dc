//! Alamofire 5 (`Source/Core/AFError.swift`): `Server trust evaluation failed due to reason: `
//! then `Certificate pinning failed for host X.` or `Public key pinning failed for host X.`
//! (pinning), `Default evaluation failed for host X.`, `Host validation failed for host X.`,
//! `Revocation check failed for host X.` (trust), `A ServerTrustEvaluating value is required for
//! host X but none was found.` (a session with pinning for some hosts only). The reasons are
//! recognised on their own too (`errorDescription` printed without the prefix).
//!
//! Tested on: the `errorDescription` texts of AFError.swift (fixtures, SOURCES.md).

use super::{text, Format, Found, Kind, Line, Parser};

const REASONS: [(&str, Kind); 6] = [
    ("Certificate pinning failed for host ", Kind::Pinning),
    ("Public key pinning failed for host ", Kind::Pinning),
    ("Default evaluation failed for host ", Kind::Trust),
    ("Host validation failed for host ", Kind::Trust),
    ("Revocation check failed for host ", Kind::Trust),
    (
        "A ServerTrustEvaluating value is required for host ",
        Kind::NoPins,
    ),
];

#[derive(Default)]
pub(crate) struct Alamofire;

impl Parser for Alamofire {
    fn triggers(&self) -> &'static [&'static str] {
        &[
            "pinning failed for host ",
            "evaluation failed for host ",
            "validation failed for host ",
            "check failed for host ",
            "A ServerTrustEvaluating value is required for host ",
        ]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text;
        let Some((reason, rest, kind)) = REASONS
            .iter()
            .find_map(|(r, k)| text::after(t, r).map(|rest| (*r, rest, *k)))
        else {
            return false;
        };
        let host = text::host_port(text::word(rest)).map(|(h, _)| h);
        out.push(Found {
            format: Some(Format::Alamofire),
            line: line.no,
            message: format!("{}{}", reason, host.as_deref().unwrap_or("?")),
            host,
            kind,
            ..Found::default()
        });
        false
    }

    fn finish(&mut self, _out: &mut Vec<Found>) {}
}
