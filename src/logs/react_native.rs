//! React Native pinning libraries: react-native-ssl-public-key-pinning (TrustKit on iOS, OkHttp
//! on Android, whose own lines the other parsers read) and react-native-ssl-pinning, as their
//! JavaScript errors reach the Metro or device log. Only the library's JS-side texts are read
//! here.
//!
//! Tested on: the libraries' error texts (fixtures, SOURCES.md).

use super::{chromium, Format, Found, Kind, Line, Parser};

/// JS-side texts and what they mean.
const TEXTS: [(&str, Kind); 3] = [
    ("SSL Pinning failed", Kind::Pinning),
    ("Public key pinning failed", Kind::Pinning),
    ("ssl pinning failed", Kind::Pinning),
];

#[derive(Default)]
pub(crate) struct ReactNative;

impl Parser for ReactNative {
    fn triggers(&self) -> &'static [&'static str] {
        &[
            "SSL Pinning failed",
            "ssl pinning failed",
            "Public key pinning failed",
        ]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text;
        // Alamofire's `Public key pinning failed for host` is Alamofire's.
        if t.contains("pinning failed for host ") {
            return false;
        }
        let Some((text, kind)) = TEXTS.iter().find(|(x, _)| t.contains(x)) else {
            return false;
        };
        let (host, port) = chromium::first_url(t).map_or((None, None), |(h, p)| (Some(h), p));
        out.push(Found {
            format: Some(Format::ReactNative),
            line: line.no,
            host,
            port,
            kind: *kind,
            message: (*text).to_string(),
            ..Found::default()
        });
        false
    }

    fn finish(&mut self, _out: &mut Vec<Found>) {}
}
