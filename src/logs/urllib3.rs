//! urllib3's `assert_fingerprint` (`urllib3/util/ssl_.py`): `Fingerprints did not match.
//! Expected "<pinned>", got "<certificate digest hex>"` (the digest of the whole certificate,
//! SHA-256 for 64 hex digits, SHA-1 for 40), usually inside `HTTPSConnectionPool(host='<host>',
//! port=<n>): Max retries exceeded ... (Caused by SSLError(...))`. A Python traceback repeats the
//! message in each chained exception; those repeats are one failure, a new `Traceback` that no
//! `During handling of the above exception` introduced is a new one.
//!
//! Tested on: urllib3 2.x run here through pin-proxy (tests/logs.rs) and the template in
//! `urllib3/util/ssl_.py`.

use super::{text, Format, Found, Kind, Line, Parser};

#[derive(Default)]
pub(crate) struct Urllib3 {
    /// The last `host='...', port=...` seen.
    host: Option<(String, Option<u16>)>,
    /// The fingerprints of the failure taken in the current traceback chain.
    taken: Option<(String, String)>,
    /// The last line said the next traceback continues this one.
    chained: bool,
    /// A chained traceback began since the failure in `taken`: a repeat of it now is the same
    /// failure printed again by the chain.
    chain_since_taken: bool,
    /// Failures of the current request, held until the pool line that names the host (it comes
    /// last, in the `MaxRetryError`) or until they are [`HOLD_LINES`] old.
    held: Vec<Found>,
}

/// How long a failure waits for the line that names its host.
const HOLD_LINES: u64 = 400;

impl Parser for Urllib3 {
    fn triggers(&self) -> &'static [&'static str] {
        &[
            "Fingerprints did not match",
            "HTTPSConnectionPool(host=",
            "Traceback (most recent call last)",
            "During handling of the above exception",
            "The above exception was the direct cause",
        ]
    }

    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool {
        let t = line.text;
        if self
            .held
            .first()
            .is_some_and(|f| line.no - f.line > HOLD_LINES)
        {
            out.append(&mut self.held);
        }
        // Each logged retry is an attempt of its own.
        if t.contains("Retrying (") {
            self.taken = None;
        }
        if t.contains("During handling of the above exception")
            || t.contains("The above exception was the direct cause")
        {
            self.chained = true;
            self.chain_since_taken = self.taken.is_some();
            return false;
        }
        if t.contains("Traceback (most recent call last)") {
            if !self.chained {
                self.taken = None;
            }
            self.chained = false;
            return false;
        }
        if let Some(rest) = text::after(t, "HTTPSConnectionPool(host=") {
            let host = rest.trim_start_matches(['\'', '"']);
            let host = host.split(['\'', '"']).next().unwrap_or("");
            let port = text::after(rest, "port=")
                .and_then(|p| p.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok());
            if let Some((h, _)) = text::host_port(host) {
                for f in &mut self.held {
                    if f.host.is_none() {
                        f.host = Some(h.clone());
                        f.port = port;
                    }
                }
                self.host = Some((h, port));
            }
        }
        let Some(rest) = text::after(t, "Fingerprints did not match. Expected ") else {
            if t.contains("HTTPSConnectionPool(host=")
                && !self.held.is_empty()
                && !t.contains("Retrying")
            {
                out.append(&mut self.held);
            }
            return false;
        };
        let mut quoted = rest.split(['"', '\'']);
        let expected = quoted.nth(1).unwrap_or("");
        let got = quoted.nth(1).unwrap_or("");
        let pinned = text::hex_digest(expected);
        let presented = text::hex_digest(got);
        let key = (expected.to_string(), got.to_string());
        if self.chain_since_taken && self.taken.as_ref() == Some(&key) {
            return false;
        }
        self.taken = Some(key);
        self.chain_since_taken = false;
        let (host, port) = self
            .host
            .clone()
            .map_or((None, None), |(h, p)| (Some(h), p));
        self.held.push(Found {
            format: Some(Format::Urllib3),
            line: line.no,
            host,
            port,
            pin_kind: presented.as_ref().or(pinned.as_ref()).map(|(_, k)| *k),
            presented_pins: presented.map(|(h, _)| h).into_iter().collect(),
            pinned_pins: pinned.map(|(h, _)| h).into_iter().collect(),
            kind: Kind::Pinning,
            message: "Fingerprints did not match".into(),
            ..Found::default()
        });
        false
    }

    fn finish(&mut self, out: &mut Vec<Found>) {
        out.append(&mut self.held);
    }
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
