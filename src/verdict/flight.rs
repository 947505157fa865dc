//! Reads the proxy's own server-to-client TLS bytes to learn whether the certificate went out.
//!
//! A handshake that fails before the certificate was presented (no shared version or cipher) is
//! not a pinning answer, so the verdict core must know the moment our certificate was sent. Both
//! TLS 1.2 and 1.3 send it in the same flight as a ServerHello; a TLS 1.3 HelloRetryRequest has the
//! ServerHello's shape but carries no certificate. [`ServerFlight`] parses the plaintext record and
//! handshake-message headers of what the server wrote and reports a ServerHello that is not a
//! retry request. Pure: bytes in, a flag out; it stops reading once it knows.

/// Record content types.
const HANDSHAKE: u8 = 22;
/// Handshake message type of a ServerHello.
const SERVER_HELLO: u8 = 2;
/// The fixed `random` of a HelloRetryRequest (RFC 8446 §4.1.3): SHA-256("HelloRetryRequest").
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];
/// Stop looking after this many bytes: a real first flight has shown a ServerHello long before.
const SCAN_LIMIT: usize = 64 * 1024;

/// Incremental scanner over the server-to-client byte stream.
#[derive(Clone, Debug, Default)]
pub struct ServerFlight {
    presented: bool,
    done: bool,
    seen: usize,
    /// Bytes of the current record header (5) not yet complete.
    header: Vec<u8>,
    /// Content type and bytes left of the current record body.
    record: Option<(u8, usize)>,
    /// Concatenated plaintext handshake-message bytes not yet consumed.
    handshake: Vec<u8>,
}

impl ServerFlight {
    /// A scanner at the start of a connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a ServerHello that is not a HelloRetryRequest (and so the certificate) went out.
    pub fn presented(&self) -> bool {
        self.presented
    }

    /// Whether the scanner has stopped reading (it knows, or gave up).
    pub fn done(&self) -> bool {
        self.done
    }

    /// Feeds bytes the server wrote, in order. Returns [`ServerFlight::presented`].
    pub fn feed(&mut self, mut bytes: &[u8]) -> bool {
        self.seen = self.seen.saturating_add(bytes.len());
        while !self.done && !bytes.is_empty() {
            match self.record {
                None => {
                    let need = 5 - self.header.len();
                    let take = need.min(bytes.len());
                    self.header.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    if self.header.len() == 5 {
                        let len = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                        self.record = Some((self.header[0], len));
                        self.header.clear();
                    }
                }
                Some((ctype, left)) => {
                    let take = left.min(bytes.len());
                    if ctype == HANDSHAKE {
                        self.handshake.extend_from_slice(&bytes[..take]);
                        self.scan_handshake();
                    }
                    bytes = &bytes[take..];
                    self.record = if left == take {
                        None
                    } else {
                        Some((ctype, left - take))
                    };
                }
            }
        }
        if self.seen >= SCAN_LIMIT {
            self.done = true;
        }
        self.presented
    }

    fn scan_handshake(&mut self) {
        while !self.done && self.handshake.len() >= 4 {
            let msg_type = self.handshake[0];
            let len = (usize::from(self.handshake[1]) << 16)
                | (usize::from(self.handshake[2]) << 8)
                | usize::from(self.handshake[3]);
            if msg_type == SERVER_HELLO {
                // body: legacy_version (2) then random (32)
                if self.handshake.len() < 4 + 2 + 32 {
                    return;
                }
                if self.handshake[6..38] != HRR_RANDOM {
                    self.presented = true;
                    self.done = true;
                    return;
                }
            }
            if len > SCAN_LIMIT {
                self.done = true;
                return;
            }
            if self.handshake.len() < 4 + len {
                return;
            }
            self.handshake.drain(..4 + len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_hello(random: [u8; 32], extra: usize) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&random);
        body.extend(std::iter::repeat_n(0u8, extra));
        let mut msg = vec![SERVER_HELLO];
        msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend(body);
        record(HANDSHAKE, &msg)
    }

    fn record(ctype: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![ctype, 0x03, 0x03];
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn server_hello_in_one_write() {
        let mut f = ServerFlight::new();
        assert!(f.feed(&server_hello([7; 32], 40)));
    }

    #[test]
    fn server_hello_split_byte_by_byte() {
        let bytes = server_hello([7; 32], 40);
        let mut f = ServerFlight::new();
        for (i, b) in bytes.iter().enumerate() {
            let p = f.feed(std::slice::from_ref(b));
            assert_eq!(p, i >= 4 + 5 + 2 + 31, "byte {i}");
        }
    }

    #[test]
    fn alert_only_is_not_presented() {
        let mut f = ServerFlight::new();
        assert!(!f.feed(&record(21, &[2, 40])));
    }

    #[test]
    fn retry_request_then_real_server_hello() {
        let mut f = ServerFlight::new();
        assert!(!f.feed(&server_hello(HRR_RANDOM, 10)));
        assert!(!f.feed(&record(20, &[1]))); // change_cipher_spec
        assert!(f.feed(&server_hello([1; 32], 10)));
    }

    #[test]
    fn garbage_never_panics_and_gives_up() {
        let mut f = ServerFlight::new();
        let mut x: u32 = 12345;
        for _ in 0..40_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let chunk = x.to_be_bytes();
            f.feed(&chunk[..(x as usize % 4) + 1]);
        }
        assert!(f.done());
    }
}
