//! urllib3's `assert_fingerprint` (`urllib3/util/ssl_.py`): `Fingerprints did not match.
//! Expected "<pinned>", got "<certificate digest hex>"` (the digest of the whole certificate,
//! SHA-256 for 64 hex digits, SHA-1 for 40), usually inside `HTTPSConnectionPool(host='<host>',
//! port=<n>): Max retries exceeded ... (Caused by SSLError(...))`.
//!
//! One request's failure is told several times, and each telling is placed here:
//! - A Python traceback repeats the message in each chained exception (`The above exception was
//!   the direct cause ...`): one occurrence. Its first line (the `SSLError`) names no host; the
//!   `MaxRetryError` line that ends the chain does, and gives it to the occurrence.
//! - With logging on (`logging.basicConfig()`), each retry is a `Retrying (Retry(...)) after
//!   connection broken by 'SSLError(...)'` warning before the traceback: one occurrence per
//!   attempt (one connection each), given the host of the traceback that follows.
//! - A new `Traceback` that no `During handling of the above exception` introduced is a new
//!   occurrence.
//!
//! Tested on: urllib3 2.7 (Python 3.11) run here through pin-proxy with `ProxyManager` and the
//! default retries, with and without logging (tests/logs.rs; the texts are in the tests below),
//! and the template in `urllib3/util/ssl_.py`.

use super::{text, Format, Found, Kind, Line, Parser};

#[derive(Default)]
pub(crate) struct Urllib3 {
    /// The fingerprints of the failure taken in the current traceback chain.
    taken: Option<(String, String)>,
    /// The last line said the next traceback continues this one.
    chained: bool,
    /// Occurrences of one failure waiting for a line that names their host.
    waiting: Vec<Found>,
}

/// urllib3's warning for a retried connection (with logging on).
const RETRYING: &str = "Retrying (";

impl Parser for Urllib3 {
    fn triggers(&self) -> &'static [&'static str] {
        &[
            "Fingerprints did not match",
            "Traceback (most recent call last)",
            "During handling of the above exception",
            "The above exception was the direct cause",
        ]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text;
        if t.contains("During handling of the above exception")
            || t.contains("The above exception was the direct cause")
        {
            self.chained = true;
            return false;
        }
        if t.contains("Traceback (most recent call last)") {
            if !self.chained {
                self.taken = None;
            }
            self.chained = false;
            return false;
        }
        let Some(rest) = text::after(t, "Fingerprints did not match. Expected ") else {
            return false;
        };
        let mut quoted = rest.split(['"', '\'']);
        let expected = quoted.nth(1).unwrap_or("");
        let got = quoted.nth(1).unwrap_or("");
        let pinned = text::hex_digest(expected);
        let presented = text::hex_digest(got);
        let pin_kind = presented.as_ref().or(pinned.as_ref()).map(|(_, k)| *k);
        let pinned_pins: Vec<String> = pinned.map(|(h, _)| h).into_iter().collect();
        let presented_pins: Vec<String> = presented.map(|(h, _)| h).into_iter().collect();
        let key = (expected.to_string(), got.to_string());
        let retry = t.contains(RETRYING);
        let repeat = !retry && self.taken.as_ref() == Some(&key);
        if !repeat {
            let other = self.waiting.first().is_some_and(|w| {
                w.presented_pins != presented_pins || w.pinned_pins != pinned_pins
            });
            if other {
                out.append(&mut self.waiting);
            }
            self.waiting.push(Found {
                format: Some(Format::Urllib3),
                line: line.no,
                pin_kind,
                presented_pins,
                pinned_pins,
                kind: Kind::Pinning,
                message: "Fingerprints did not match".into(),
                ..Found::default()
            });
            if !retry {
                self.taken = Some(key);
            }
        }
        if let Some((host, port)) = pool_host(t) {
            for w in &mut self.waiting {
                w.host.get_or_insert_with(|| host.clone());
                if w.port.is_none() {
                    w.port = port;
                }
            }
            out.append(&mut self.waiting);
        }
        false
    }

    fn finish(&mut self, out: &mut Vec<Found>) {
        out.append(&mut self.waiting);
    }
}

/// `HTTPSConnectionPool(host='<host>', port=<n>)` in a line.
fn pool_host(t: &str) -> Option<(String, Option<u16>)> {
    let rest = text::after(t, "HTTPSConnectionPool(host=")?;
    let host = rest.trim_start_matches(['\'', '"']);
    let host = host.split(['\'', '"']).next().unwrap_or("");
    let port = text::after(rest, "port=")
        .and_then(|p| p.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok());
    text::host_port(host).map(|(h, _)| (h, port))
}

#[cfg(test)]
mod tests {
    use crate::logs::explain;

    const EXPECTED: &str = "abababababababababababababababababababababababababababababababab";
    const GOT: &str = "23b0ad3d07a35a299080064625f35155a4a6aedd289713a9938f2a08ca6e9cfb";

    /// urllib3 2.7, `ProxyManager(..., assert_fingerprint=...)`, default retries, no logging:
    /// the chain's first line names no host, its last one does (File lines shortened).
    const TRACEBACK: &str = r#"Traceback (most recent call last):
  File "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/urllib3/connectionpool.py", line 774, in urlopen
    self._prepare_proxy(conn)
  File "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/urllib3/util/ssl_.py", line 136, in assert_fingerprint
    raise SSLError(
urllib3.exceptions.SSLError: Fingerprints did not match. Expected "abababababababababababababababababababababababababababababababab", got "23b0ad3d07a35a299080064625f35155a4a6aedd289713a9938f2a08ca6e9cfb"

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/tmp/rl/u.py", line 4, in <module>
    http.request("GET", url)
  File "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/urllib3/util/retry.py", line 543, in increment
    raise MaxRetryError(_pool, url, reason) from reason  # type: ignore[arg-type]
    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
urllib3.exceptions.MaxRetryError: HTTPSConnectionPool(host='api.test', port=443): Max retries exceeded with url: / (Caused by SSLError('Fingerprints did not match. Expected "abababababababababababababababababababababababababababababababab", got "23b0ad3d07a35a299080064625f35155a4a6aedd289713a9938f2a08ca6e9cfb"'))
"#;

    /// The same run with `logging.basicConfig()`: three retry warnings come first.
    const RETRIES: &str = r#"WARNING:urllib3.connectionpool:Retrying (Retry(total=2, connect=None, read=None, redirect=None, status=None)) after connection broken by 'SSLError('Fingerprints did not match. Expected "abababababababababababababababababababababababababababababababab", got "23b0ad3d07a35a299080064625f35155a4a6aedd289713a9938f2a08ca6e9cfb"')': /
WARNING:urllib3.connectionpool:Retrying (Retry(total=1, connect=None, read=None, redirect=None, status=None)) after connection broken by 'SSLError('Fingerprints did not match. Expected "abababababababababababababababababababababababababababababababab", got "23b0ad3d07a35a299080064625f35155a4a6aedd289713a9938f2a08ca6e9cfb"')': /
WARNING:urllib3.connectionpool:Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after connection broken by 'SSLError('Fingerprints did not match. Expected "abababababababababababababababababababababababababababababababab", got "23b0ad3d07a35a299080064625f35155a4a6aedd289713a9938f2a08ca6e9cfb"')': /
"#;

    #[test]
    fn the_host_at_the_end_of_a_chain_is_the_failure_s() {
        let e = explain(TRACEBACK.as_bytes()).unwrap();
        assert_eq!(e.failures.len(), 1, "{:#?}", e.failures);
        let f = &e.failures[0];
        assert_eq!(f.line, 6);
        assert_eq!(f.host.as_deref(), Some("api.test"));
        assert_eq!(f.port, Some(443));
        assert_eq!(f.presented_pins, [GOT]);
        assert_eq!(f.pinned_pins, [EXPECTED]);
        assert_eq!(f.count, 1);
    }

    #[test]
    fn each_logged_retry_is_an_attempt_of_the_same_failure() {
        let log = format!("{RETRIES}{TRACEBACK}");
        let e = explain(log.as_bytes()).unwrap();
        assert_eq!(e.failures.len(), 1, "{:#?}", e.failures);
        let f = &e.failures[0];
        assert_eq!((f.line, f.count), (1, 4));
        assert_eq!(f.host.as_deref(), Some("api.test"));
        assert_eq!(f.port, Some(443));
    }

    #[test]
    fn a_traceback_without_a_pool_line_keeps_no_host() {
        let first: String = TRACEBACK
            .lines()
            .take(6)
            .map(|l| format!("{l}\n"))
            .collect();
        let twice = format!("{first}{first}");
        let e = explain(twice.as_bytes()).unwrap();
        assert_eq!(e.failures.len(), 1, "{:#?}", e.failures);
        assert_eq!((e.failures[0].line, e.failures[0].count), (6, 2));
        assert_eq!(e.failures[0].host, None);
    }
}
