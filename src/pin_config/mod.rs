//! Signed pin configs: the pins an app fetches at run time, signed so that whoever serves them
//! cannot change them.
//!
//! This module owns the model and the pure rules: the [`Payload`] (what a signed config says),
//! [`Refusal`] (every reason a client turns one down), the rollback rule [`accept`] and the host
//! lookup [`Payload::pins_for`]. Beside them:
//! - [`source`]: the TOML file an operator writes (`pins.toml`), parsed into a [`Source`];
//! - [`jws`]: the payload as a compact JWS (RFC 7515), EdDSA or ES256, signed and verified;
//! - [`keys`]: signing and verifying keys, their files and their key id (the SPKI pin);
//! - [`wultra`]: the Wultra SSL pinning format (per-entry ECDSA signatures, challenge mode);
//! - [`serve`]: the config served at `/pins`, and the rule for replacing it;
//! - [`cache`]: the client's last good config, written atomically.
//!
//! Nothing here reads a clock: every check takes `now` (Unix seconds) from the caller. Only
//! [`source::read`], [`keys`]' `load` and `write_keypair` and [`cache`] touch files, and only
//! [`serve`] sockets. Fetching a config belongs to the reference client (`--pins-url`).

pub mod cache;
pub mod jws;
pub mod keys;
pub mod serve;
pub mod source;
pub mod wultra;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use keys::{KeyType, SigningKey, VerifyingKey};
pub use source::Source;

/// How far in the future a config's `issued_at` may be before it is refused as
/// [`Refusal::NotYetValid`]: device and server clocks differ by a few minutes.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;

/// What a signed pin config says: the JWS payload, as JSON.
///
/// ```json
/// {"version":3,"issued_at":1767225600,"expires_at":1767830400,
///  "hosts":{"api.example.test":{"pins":["<b64>","<b64>"],"include_subdomains":false}}}
/// ```
/// Unknown fields are refused (a field a client does not understand could change what the pins
/// mean), so a new field needs a client that knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    /// The content version, a positive integer that grows with every change and is never reused
    /// for other content. A client refuses a version older than the one it has cached
    /// ([`Refusal::Replay`]), and the same version with other content
    /// ([`Refusal::VersionReused`]).
    pub version: u64,
    /// When it was signed, Unix seconds.
    pub issued_at: u64,
    /// The first second at which it is no longer valid, Unix seconds ([`Refusal::Expired`]).
    pub expires_at: u64,
    /// The pinned hosts, lower-case, by name. A host that is not here has no pins in this
    /// config (the client's missing-pin policy decides).
    pub hosts: BTreeMap<String, PinSet>,
}

/// The pins of one host in a [`Payload`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinSet {
    /// SPKI SHA-256 pins, base64 (at least one). A connection matches when a certificate of its
    /// verified path has one of them.
    pub pins: Vec<String>,
    /// Whether the pins also apply to every name below the host (`a.host`, `a.b.host`) that has
    /// no entry of its own.
    #[serde(default)]
    pub include_subdomains: bool,
}

impl Payload {
    /// The pins for `host`: its own entry if it has one, else the entry of the nearest parent
    /// domain with `include_subdomains`. Returns the name of the entry that applies with it.
    /// `host` is compared without case and without a trailing dot.
    pub fn pins_for(&self, host: &str) -> Option<(&str, &PinSet)> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if let Some((name, set)) = self.hosts.get_key_value(host.as_str()) {
            return Some((name.as_str(), set));
        }
        let mut rest = host.as_str();
        while let Some((_, parent)) = rest.split_once('.') {
            if let Some((name, set)) = self.hosts.get_key_value(parent) {
                if set.include_subdomains {
                    return Some((name.as_str(), set));
                }
            }
            rest = parent;
        }
        None
    }

    /// Whether `other` says the same thing: the same hosts with the same pins (in any order)
    /// and subdomain flags, and the same expiry. `issued_at` is not content.
    pub fn same_content(&self, other: &Payload) -> bool {
        fn normalized(p: &Payload) -> BTreeMap<&str, (Vec<&str>, bool)> {
            p.hosts
                .iter()
                .map(|(host, set)| {
                    let mut pins: Vec<&str> = set.pins.iter().map(String::as_str).collect();
                    pins.sort_unstable();
                    pins.dedup();
                    (host.as_str(), (pins, set.include_subdomains))
                })
                .collect()
        }
        self.version == other.version
            && self.expires_at == other.expires_at
            && normalized(self) == normalized(other)
    }

    /// Checks what the types cannot say: at least one host, host names as [`source`] writes
    /// them, at least one well-formed pin per host, a positive version. The error names the
    /// field (`hosts."api.example.test".pins[1]: ...`).
    pub fn check(&self) -> Result<(), String> {
        if self.version == 0 {
            return Err("version: must be a positive integer".into());
        }
        if self.hosts.is_empty() {
            return Err("hosts: no hosts".into());
        }
        for (host, set) in &self.hosts {
            let field = format!("hosts.{}", quote_key(host));
            let normal = source::normalize_host(host).map_err(|e| format!("{field}: {e}"))?;
            if &normal != host {
                return Err(format!("{field}: host names are lower-case ({normal:?})"));
            }
            if set.pins.is_empty() {
                return Err(format!("{field}.pins: no pins"));
            }
            for (i, pin) in set.pins.iter().enumerate() {
                if !crate::pins::is_pin(pin) {
                    return Err(format!(
                        "{field}.pins[{i}]: {pin:?} is not a base64 SHA-256 pin"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The rollback rule: may a client that has `cached` replace it with `candidate`?
///
/// - no cached config, or a newer version: yes;
/// - the same version with the same content ([`Payload::same_content`]): yes (a re-fetch);
/// - the same version with other hosts, pins or expiry: [`Refusal::VersionReused`];
/// - an older version: [`Refusal::Replay`] (a served old config, perhaps with a key since
///   rotated away, must not roll the client back).
///
/// Signatures and times are checked before this ([`jws::verify`]); this only compares.
pub fn accept(candidate: &Payload, cached: Option<&Payload>) -> Result<(), Refusal> {
    let Some(cached) = cached else {
        return Ok(());
    };
    match candidate.version.cmp(&cached.version) {
        std::cmp::Ordering::Greater => Ok(()),
        std::cmp::Ordering::Less => Err(Refusal::Replay {
            version: candidate.version,
            cached: cached.version,
        }),
        std::cmp::Ordering::Equal if candidate.same_content(cached) => Ok(()),
        std::cmp::Ordering::Equal => Err(Refusal::VersionReused {
            version: candidate.version,
        }),
    }
}

/// Why a client refuses a pin config (JWS or Wultra). The `Display` form is one line, for a
/// log or a terminal.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// It is not a pin config at all: not a compact JWS (three base64url parts separated by
    /// dots), bad base64, bad JSON, a missing or unknown field, an unknown `alg`, a payload that
    /// fails [`Payload::check`], or Wultra JSON without the expected fields.
    Malformed(String),
    /// The header's `alg` is a known JWS algorithm the key does not verify: `none`, an HMAC,
    /// RSA or another curve, or ES256 for an Ed25519 key. Never tried, never accepted.
    WrongAlgorithm {
        /// The `alg` in the header.
        alg: String,
        /// The one algorithm the key verifies (`EdDSA` or `ES256`).
        expected: &'static str,
    },
    /// The header names another key (its `kid` is another key's SPKI pin), or names none: this
    /// format requires a `kid`.
    WrongKey {
        /// The header's `kid`, if it has one.
        kid: Option<String>,
        /// The verifying key's id.
        expected: String,
    },
    /// The signature does not verify with the key the `kid` names: the header or payload was
    /// changed after signing, or another key with the same `kid` signed it.
    BadSignature,
    /// The config expired: `now >= expires_at`.
    Expired {
        /// Its `expires_at`, Unix seconds.
        expires_at: u64,
        /// The client's clock, Unix seconds.
        now: u64,
    },
    /// `issued_at` is more than [`MAX_CLOCK_SKEW_SECS`] after `now`: a signer's clock far ahead,
    /// or a client's far behind.
    NotYetValid {
        /// Its `issued_at`, Unix seconds.
        issued_at: u64,
        /// The client's clock, Unix seconds.
        now: u64,
    },
    /// Its version is older than the cached config's: a rollback.
    Replay {
        /// The refused config's version.
        version: u64,
        /// The cached config's version.
        cached: u64,
    },
    /// Its version equals the cached config's but its content differs: versions must never be
    /// reused for other content.
    VersionReused {
        /// The version both have.
        version: u64,
    },
    /// Wultra: an entry's signature does not verify. Wultra clients then reject the whole
    /// update, not just the entry.
    BadEntrySignature {
        /// The entry's position in `fingerprints`, from 0.
        index: usize,
        /// The entry's `name`.
        name: String,
    },
    /// Wultra: no entry is left once expired ones are dropped. Wultra clients then keep their
    /// old store (`STORE_IS_EMPTY`).
    NoValidEntries {
        /// How many entries were dropped as expired.
        expired: usize,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(what) => write!(f, "malformed: {}", one_line(what)),
            Self::WrongAlgorithm { alg, expected } => write!(
                f,
                "alg {:?} is not accepted: the key verifies {expected} only",
                one_line(alg)
            ),
            Self::WrongKey {
                kid: Some(kid),
                expected,
            } => write!(
                f,
                "signed by another key: kid {:?}, expected {expected}",
                one_line(kid)
            ),
            Self::WrongKey {
                kid: None,
                expected,
            } => write!(
                f,
                "the header names no key (no kid); expected kid {expected}"
            ),
            Self::BadSignature => f.write_str(
                "bad signature: the config was changed after signing, or another key with the \
                 same kid signed it",
            ),
            Self::Expired { expires_at, now } => write!(
                f,
                "expired at {} (now {})",
                rfc3339(*expires_at),
                rfc3339(*now)
            ),
            Self::NotYetValid { issued_at, now } => write!(
                f,
                "not yet valid: issued at {}, more than {}s after now ({})",
                rfc3339(*issued_at),
                MAX_CLOCK_SKEW_SECS,
                rfc3339(*now)
            ),
            Self::Replay { version, cached } => write!(
                f,
                "replay: version {version} is older than the cached version {cached}"
            ),
            Self::VersionReused { version } => write!(
                f,
                "version {version} reused: the cached config has the same version with other \
                 content (hosts, pins or expiry)"
            ),
            Self::BadEntrySignature { index, name } => write!(
                f,
                "bad signature on entry {index} ({:?}): Wultra clients reject the whole update",
                one_line(name)
            ),
            Self::NoValidEntries { expired: 0 } => {
                f.write_str("no entries: Wultra clients keep their old store (STORE_IS_EMPTY)")
            }
            Self::NoValidEntries { expired } => write!(
                f,
                "no valid entries ({expired} expired): Wultra clients keep their old store \
                 (STORE_IS_EMPTY)"
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// Unix seconds as RFC 3339 in UTC (`2027-01-01T00:00:00Z`); the number itself if it is out of
/// the calendar's range.
pub fn rfc3339(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .map_or_else(|| unix.to_string(), crate::ca::rfc3339)
}

/// A host as a TOML/JSON key in field paths: `"api.example.test"`.
pub(crate) fn quote_key(host: &str) -> String {
    format!("{host:?}")
}

/// Text from a peer, on one line: line breaks and other control characters escaped.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().collect()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const PIN_A: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    pub(crate) const PIN_B: &str = "/7DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

    fn payload(version: u64, hosts: &[(&str, &[&str], bool)]) -> Payload {
        Payload {
            version,
            issued_at: 1_000,
            expires_at: 2_000,
            hosts: hosts
                .iter()
                .map(|(h, pins, sub)| {
                    (
                        h.to_string(),
                        PinSet {
                            pins: pins.iter().map(|p| p.to_string()).collect(),
                            include_subdomains: *sub,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn accept_rules_replay_reuse_and_newer() {
        let cached = payload(5, &[("api.test", &[PIN_A, PIN_B], false)]);
        // No cache, newer, same content (pins in another order, another issued_at): accepted.
        assert_eq!(accept(&cached, None), Ok(()));
        assert_eq!(
            accept(&payload(6, &[("x.test", &[PIN_A], false)]), Some(&cached)),
            Ok(())
        );
        let mut again = payload(5, &[("api.test", &[PIN_B, PIN_A], false)]);
        again.issued_at = 1_500;
        assert_eq!(accept(&again, Some(&cached)), Ok(()));
        // Older: replay.
        assert_eq!(
            accept(
                &payload(4, &[("api.test", &[PIN_A, PIN_B], false)]),
                Some(&cached)
            ),
            Err(Refusal::Replay {
                version: 4,
                cached: 5
            })
        );
        // Same version, other hosts, other pins, other flag, other expiry: reused.
        let reused = Err(Refusal::VersionReused { version: 5 });
        for other in [
            payload(5, &[("api.test", &[PIN_A], false)]),
            payload(5, &[("api.test", &[PIN_A, PIN_B], true)]),
            payload(
                5,
                &[
                    ("api.test", &[PIN_A, PIN_B], false),
                    ("b.test", &[PIN_A], false),
                ],
            ),
        ] {
            assert_eq!(accept(&other, Some(&cached)), reused, "{other:?}");
        }
        let mut later = cached.clone();
        later.expires_at += 1;
        assert_eq!(accept(&later, Some(&cached)), reused);
    }

    #[test]
    fn pins_for_exact_host_then_nearest_parent_with_subdomains() {
        let p = payload(
            1,
            &[
                ("example.test", &[PIN_A], true),
                ("api.example.test", &[PIN_B], false),
                ("plain.test", &[PIN_A], false),
            ],
        );
        assert_eq!(
            p.pins_for("API.example.test.").map(|m| m.0),
            Some("api.example.test")
        );
        // A child of api.example.test: api has no include_subdomains, example.test has.
        assert_eq!(
            p.pins_for("v2.api.example.test").map(|m| m.0),
            Some("example.test")
        );
        assert_eq!(
            p.pins_for("example.test").map(|m| m.0),
            Some("example.test")
        );
        assert_eq!(p.pins_for("a.plain.test"), None);
        assert_eq!(p.pins_for("other.test"), None);
        assert_eq!(p.pins_for("test"), None);
    }

    #[test]
    fn check_names_the_field() {
        assert_eq!(payload(1, &[("api.test", &[PIN_A], false)]).check(), Ok(()));
        let err = payload(1, &[("api.test", &[PIN_A, "abc"], false)])
            .check()
            .unwrap_err();
        assert_eq!(
            err,
            r#"hosts."api.test".pins[1]: "abc" is not a base64 SHA-256 pin"#
        );
        assert!(payload(0, &[("a.test", &[PIN_A], false)]).check().is_err());
        assert!(payload(1, &[]).check().is_err());
        assert!(payload(1, &[("a.test", &[], false)]).check().is_err());
        assert!(payload(1, &[("A.test", &[PIN_A], false)]).check().is_err());
        assert!(payload(1, &[("*.a.test", &[PIN_A], false)])
            .check()
            .is_err());
    }

    #[test]
    fn refusals_are_one_line() {
        let all = [
            Refusal::Malformed("bad\nthing".into()),
            Refusal::WrongAlgorithm {
                alg: "none".into(),
                expected: "EdDSA",
            },
            Refusal::WrongKey {
                kid: Some("k\r\n".into()),
                expected: PIN_A.into(),
            },
            Refusal::WrongKey {
                kid: None,
                expected: PIN_A.into(),
            },
            Refusal::BadSignature,
            Refusal::Expired {
                expires_at: 1_767_225_600,
                now: 1_767_225_601,
            },
            Refusal::NotYetValid {
                issued_at: u64::MAX,
                now: 0,
            },
            Refusal::Replay {
                version: 1,
                cached: 2,
            },
            Refusal::VersionReused { version: 2 },
            Refusal::BadEntrySignature {
                index: 0,
                name: "a\nb".into(),
            },
            Refusal::NoValidEntries { expired: 0 },
            Refusal::NoValidEntries { expired: 2 },
        ];
        for r in all {
            let s = r.to_string();
            assert!(!s.contains(['\n', '\r']), "{s}");
        }
        assert_eq!(
            Refusal::Expired {
                expires_at: 1_767_225_600,
                now: 1_767_225_601
            }
            .to_string(),
            "expired at 2026-01-01T00:00:00Z (now 2026-01-01T00:00:01Z)"
        );
    }
}
