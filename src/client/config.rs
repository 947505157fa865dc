//! The reference client's dynamic pins (`--pins-url`, `--pins-key`, `--pins-cache`): which
//! config it uses, given what the fetch brought and what the cache holds. Pure: the fetch, the
//! clock and the files are the caller's.
//!
//! The rules, as a careful app would apply them: a fetched config is used only if its signature
//! verifies with the shipped key, it has not expired, and it is not older than the cached one
//! nor the cached version with other content (a replay). Otherwise, and when the fetch fails,
//! the last good config (the cache) is used if it still verifies and has not expired. With
//! neither, the client fails closed (exit 13).

use serde::Serialize;

use super::policy::{Decision, MatchMode, MissingPin, PinEntry, Policy};
use crate::pin_config::serve::Format;
use crate::pin_config::wultra::{self, CertValidation, Fingerprints};
use crate::pin_config::{accept, jws, Payload, Refusal, VerifyingKey};
use crate::rules::HostGlob;

/// Where the config in use came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigSource {
    /// Fetched and accepted in this run.
    Fetched,
    /// The cache: the last config accepted before.
    Cache,
}

impl ConfigSource {
    /// The name in `--json` and in scenario steps.
    pub fn name(self) -> &'static str {
        match self {
            ConfigSource::Fetched => "fetched",
            ConfigSource::Cache => "cache",
        }
    }
}

/// A config's pins, as its format says them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigPins {
    /// A JWS payload: SPKI pins per host.
    Jws(Payload),
    /// Wultra fingerprints: leaf certificate hashes per common name.
    Wultra(Fingerprints),
}

impl ConfigPins {
    /// Reads and verifies a signed document: the signature always, the time at `now`.
    pub fn verify(
        format: Format,
        document: &[u8],
        key: &VerifyingKey,
        now: u64,
    ) -> Result<Self, Refusal> {
        match format {
            Format::Jws => {
                let text = std::str::from_utf8(document)
                    .map_err(|_| Refusal::Malformed("not UTF-8 text".into()))?;
                jws::verify(text, key, now).map(ConfigPins::Jws)
            }
            Format::Wultra => {
                wultra::verify_fingerprints(document, key, now).map(ConfigPins::Wultra)
            }
        }
    }

    /// The content version (Wultra files have none).
    pub fn version(&self) -> Option<u64> {
        match self {
            ConfigPins::Jws(p) => Some(p.version),
            ConfigPins::Wultra(_) => None,
        }
    }

    /// When it expires: the payload's `expires_at`, or the last entry's.
    pub fn expires_at(&self) -> Option<u64> {
        match self {
            ConfigPins::Jws(p) => Some(p.expires_at),
            ConfigPins::Wultra(f) => f.entries.iter().map(|e| e.expires).max(),
        }
    }

    /// The policy of a JWS config: each host's pins, and `*.host` too with include_subdomains.
    /// `None` for Wultra, which is decided on the leaf certificate ([`ConfigPins::decide_leaf`]).
    pub fn policy(&self, missing_pin: MissingPin, match_mode: MatchMode) -> Option<Policy> {
        let ConfigPins::Jws(payload) = self else {
            return None;
        };
        let mut entries = Vec::new();
        for (host, set) in &payload.hosts {
            let mut patterns = vec![host.clone()];
            if set.include_subdomains {
                patterns.push(format!("*.{host}"));
            }
            for p in patterns {
                if let Ok(glob) = HostGlob::parse(&p) {
                    entries.push(PinEntry {
                        hosts: Some(glob),
                        pins: set.pins.clone(),
                    });
                }
            }
        }
        Some(Policy {
            entries,
            missing_pin,
            match_mode,
        })
    }

    /// A Wultra decision, as its SDK makes it: the leaf certificate's hash among the entries
    /// named by its common name; no entry for the name is `EMPTY` (a host without pins).
    pub fn decide_leaf(
        &self,
        common_name: &str,
        leaf_sha256: &str,
        now: u64,
        missing_pin: MissingPin,
    ) -> Option<Decision> {
        let ConfigPins::Wultra(f) = self else {
            return None;
        };
        Some(
            match f.validate_fingerprint(common_name, leaf_sha256, now) {
                CertValidation::Trusted => Decision::Matched {
                    position: 0,
                    pin: leaf_sha256.to_string(),
                },
                CertValidation::Untrusted => Decision::Mismatch { checked: 1 },
                CertValidation::Empty => Decision::NoPinsForHost(missing_pin),
            },
        )
    }
}

/// What the fetch brought.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetched {
    /// A document, not yet verified.
    Document(Vec<u8>),
    /// The fetch failed, in words (connect, status, timeout).
    Failed(String),
}

/// What the cache held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheState {
    /// No cache file (or no `--pins-cache`).
    None,
    /// A file that cannot be used, and why.
    Unusable(String),
    /// A document, not yet verified.
    Document(Vec<u8>),
}

/// Which config the client uses, and everything the run should say about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// The config in use and where it came from; `None`: fail closed.
    pub using: Option<(ConfigPins, ConfigSource)>,
    /// The fetched config's version, when one arrived and verified (even if refused later).
    pub fetched_version: Option<u64>,
    /// Why the fetched config was refused.
    pub refused: Option<Refusal>,
    /// Why the fetch failed.
    pub fetch_error: Option<String>,
    /// Why the cache could not be used (when it was needed or read).
    pub cache_error: Option<String>,
    /// Whether to write the fetched document to the cache.
    pub store: bool,
}

/// Decides which config to use (pure).
pub fn choose(
    format: Format,
    fetched: &Fetched,
    cache: &CacheState,
    key: &VerifyingKey,
    now: u64,
) -> Choice {
    // The cache: its signature is checked whatever its age (it bounds replays), its time only
    // when it is to be used.
    let (cached, mut cache_error) = match cache {
        CacheState::None => (None, None),
        CacheState::Unusable(why) => (None, Some(why.clone())),
        CacheState::Document(doc) => match verify_signature_only(format, doc, key) {
            Ok(pins) => (Some(pins), None),
            Err(r) => (None, Some(format!("the cached config is refused: {r}"))),
        },
    };
    let mut choice = Choice {
        using: None,
        fetched_version: None,
        refused: None,
        fetch_error: None,
        cache_error: None,
        store: false,
    };
    match fetched {
        Fetched::Failed(why) => choice.fetch_error = Some(why.clone()),
        Fetched::Document(doc) => match ConfigPins::verify(format, doc, key, now) {
            Err(r) => choice.refused = Some(r),
            Ok(pins) => {
                choice.fetched_version = pins.version();
                let rollback = match (&pins, &cached) {
                    (ConfigPins::Jws(new), Some(ConfigPins::Jws(old))) => accept(new, Some(old)),
                    _ => Ok(()),
                };
                match rollback {
                    Ok(()) => {
                        choice.using = Some((pins, ConfigSource::Fetched));
                        choice.store = true;
                        return choice;
                    }
                    Err(r) => choice.refused = Some(r),
                }
            }
        },
    }
    if let Some(pins) = cached {
        match still_valid(&pins, now) {
            Ok(()) => choice.using = Some((pins, ConfigSource::Cache)),
            Err(r) => cache_error = Some(format!("the cached config is refused: {r}")),
        }
    }
    choice.cache_error = cache_error;
    choice
}

/// The signature of a cached document, whatever its dates.
fn verify_signature_only(
    format: Format,
    doc: &[u8],
    key: &VerifyingKey,
) -> Result<ConfigPins, Refusal> {
    match format {
        Format::Jws => {
            let text = std::str::from_utf8(doc)
                .map_err(|_| Refusal::Malformed("not UTF-8 text".into()))?;
            jws::verify_signature(text, key).map(ConfigPins::Jws)
        }
        // Wultra entries carry their own dates; verified at a time when none has expired.
        Format::Wultra => wultra::verify_fingerprints(doc, key, 0).map(ConfigPins::Wultra),
    }
}

fn still_valid(pins: &ConfigPins, now: u64) -> Result<(), Refusal> {
    match pins {
        ConfigPins::Jws(p) => jws::check_time(p, now),
        ConfigPins::Wultra(f) => {
            if f.entries.iter().any(|e| e.expires >= now) {
                Ok(())
            } else {
                Err(Refusal::NoValidEntries {
                    expired: f.entries.len(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pin_config::source::parse;
    use crate::pin_config::{KeyType, SigningKey};

    const NOW: u64 = 1_900_000_000;
    const PIN: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    const OTHER: &str = "/7DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

    fn signed(key: &SigningKey, version: u64, pin: &str, expires: &str) -> Vec<u8> {
        let text = format!(
            "version = {version}\n{expires}\n[hosts.\"api.test\"]\npins = [\"{pin}\"]\ninclude_subdomains = true\n"
        );
        let source = parse(std::path::Path::new("pins.toml"), &text).unwrap();
        jws::sign(&source.payload(NOW), key).unwrap().into_bytes()
    }

    fn fresh(key: &SigningKey, version: u64, pin: &str) -> Vec<u8> {
        signed(key, version, pin, "valid_for = \"7d\"")
    }

    #[test]
    fn a_good_fetch_is_used_and_cached() {
        let key = SigningKey::generate(KeyType::Ed25519).unwrap();
        let pub_key = key.verifying_key();
        let c = choose(
            Format::Jws,
            &Fetched::Document(fresh(&key, 2, PIN)),
            &CacheState::None,
            pub_key,
            NOW,
        );
        let (pins, source) = c.using.clone().unwrap();
        assert_eq!(
            (source, pins.version(), c.store),
            (ConfigSource::Fetched, Some(2), true)
        );
        let policy = pins
            .policy(MissingPin::FailClosed, MatchMode::Chain)
            .unwrap();
        assert_eq!(policy.pins_for("api.test"), [PIN.to_string()]);
        assert_eq!(policy.pins_for("eu.api.test"), [PIN.to_string()]);
        assert!(policy.pins_for("cdn.test").is_empty());
    }

    #[test]
    fn refusals_fall_back_to_the_cache_and_without_one_fail_closed() {
        let key = SigningKey::generate(KeyType::Ed25519).unwrap();
        let attacker = SigningKey::generate(KeyType::Ed25519).unwrap();
        let pub_key = key.verifying_key();
        let cache = CacheState::Document(fresh(&key, 3, PIN));
        // (fetched, what, refused even without a cache)
        let cases: [(Fetched, &str, bool); 5] = [
            (
                Fetched::Document(fresh(&attacker, 9, OTHER)),
                "another key",
                true,
            ),
            (Fetched::Document(fresh(&key, 2, OTHER)), "older", false),
            (
                Fetched::Document(fresh(&key, 3, OTHER)),
                "same version",
                false,
            ),
            (Fetched::Document(b"not.a.jws".to_vec()), "malformed", true),
            (Fetched::Failed("503".into()), "failed", true),
        ];
        for (fetched, what, always) in cases {
            let c = choose(Format::Jws, &fetched, &cache, pub_key, NOW);
            let (pins, source) = c.using.clone().unwrap_or_else(|| panic!("{what}: {c:?}"));
            assert_eq!(
                (source, pins.version(), c.store),
                (ConfigSource::Cache, Some(3), false),
                "{what}"
            );
            assert!(c.refused.is_some() || c.fetch_error.is_some(), "{what}");
            // Without a cache: fail closed, but a replay can only be told against a cache.
            let c = choose(Format::Jws, &fetched, &CacheState::None, pub_key, NOW);
            assert_eq!(c.using.is_none(), always, "{what}");
        }
        // A newer version replaces the cache.
        let c = choose(
            Format::Jws,
            &Fetched::Document(fresh(&key, 4, OTHER)),
            &cache,
            pub_key,
            NOW,
        );
        assert_eq!(c.using.unwrap().0.version(), Some(4));
        // An expired fetch with an expired cache: nothing usable, and both say why.
        let old = signed(&key, 1, PIN, "expires = 2001-01-01T00:00:00Z");
        let c = choose(
            Format::Jws,
            &Fetched::Document(old.clone()),
            &CacheState::Document(old),
            pub_key,
            NOW,
        );
        assert!(c.using.is_none());
        assert!(matches!(c.refused, Some(Refusal::Expired { .. })));
        assert!(c.cache_error.unwrap().contains("refused"));
        // A cache file that cannot be read is said, not fatal.
        let c = choose(
            Format::Jws,
            &Fetched::Failed("x".into()),
            &CacheState::Unusable("bad".into()),
            pub_key,
            NOW,
        );
        assert_eq!((c.using, c.cache_error.as_deref()), (None, Some("bad")));
    }
}
