//! A [`Payload`] as a compact JWS (RFC 7515): `BASE64URL(header).BASE64URL(payload).BASE64URL(sig)`.
//!
//! The header is `{"typ":"JOSE","alg":"EdDSA","kid":"<the key's SPKI pin>"}` (`ES256` for a
//! P-256 key, whose signature is the 64-byte `r || s` RFC 7518 asks for). The signing and the
//! signature check are jsonwebtoken's (on aws-lc-rs); everything around them is ours: the
//! header is read first, so that an `alg` the key does not verify (`none`, `HS256`, ...) and a
//! `kid` naming another key are refused before any signature is tried; jsonwebtoken's JWT
//! claim checks (`exp`, `nbf`, `aud`) are off, and time is checked by [`check_time`] against the
//! payload's own fields. Pure: `now` comes from the caller.

use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use super::keys::{KeyType, SigningKey, VerifyingKey};
use super::{Payload, Refusal, MAX_CLOCK_SKEW_SECS};
use crate::error::{Error, Result};

/// The JWS `typ` header this format writes (RFC 7515 §4.1.9: the compact serialization).
pub const TYP: &str = "JOSE";

/// Every `alg` name the JOSE registry (RFC 7518 and successors) knows: one of these that is not
/// the key's is [`Refusal::WrongAlgorithm`], anything else [`Refusal::Malformed`].
const KNOWN_ALGS: &[&str] = &[
    "none", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "ES256K", "EdDSA", "Ed25519", "Ed448",
];

/// Signs `payload` with `key`: the compact JWS text (no trailing newline). The payload must
/// pass [`Payload::check`].
pub fn sign(payload: &Payload, key: &SigningKey) -> Result<String> {
    payload
        .check()
        .map_err(|e| Error::input("pin config payload", e))?;
    let (alg, encoding) = match key.key_type() {
        KeyType::Ed25519 => (Algorithm::EdDSA, EncodingKey::from_ed_der(key.pkcs8_der())),
        KeyType::EcdsaP256 => (Algorithm::ES256, EncodingKey::from_ec_der(key.pkcs8_der())),
    };
    let mut header = Header::new(alg);
    header.typ = Some(TYP.to_string());
    header.kid = Some(key.kid().to_string());
    jsonwebtoken::encode(&header, payload, &encoding)
        .map_err(|e| Error::runtime(format!("cannot sign the pin config: {e}")))
}

/// Verifies a compact JWS with `key` and checks its times at `now` (Unix seconds): the payload
/// a client may use, or why it must not. Surrounding whitespace is ignored. The rollback rule
/// against a cached config is separate ([`super::accept`]).
pub fn verify(text: &str, key: &VerifyingKey, now: u64) -> Result<Payload, Refusal> {
    let payload = verify_signature(text, key)?;
    check_time(&payload, now)?;
    Ok(payload)
}

/// Everything [`verify`] checks except time: the shape, the header's `alg` and `kid`, the
/// signature, and [`Payload::check`]. For a cached config, which may have expired since and
/// still bounds what replaces it.
pub fn verify_signature(text: &str, key: &VerifyingKey) -> Result<Payload, Refusal> {
    let malformed = |m: String| Refusal::Malformed(m);
    let text = text.trim();
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(malformed(format!(
            "not a compact JWS: expected three non-empty base64url parts separated by dots, \
             found {} part(s)",
            parts.len()
        )));
    }
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[0])
        .map_err(|e| malformed(format!("header: not base64url: {e}")))?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| malformed(format!("header: not a JSON object: {e}")))?;
    let alg = match header.get("alg") {
        Some(serde_json::Value::String(alg)) => alg.as_str(),
        Some(_) => return Err(malformed("header: alg is not a string".into())),
        None => return Err(malformed("header: no alg".into())),
    };
    let expected = key.key_type().jws_alg();
    if alg != expected {
        return Err(if KNOWN_ALGS.contains(&alg) {
            Refusal::WrongAlgorithm {
                alg: alg.to_string(),
                expected,
            }
        } else {
            malformed(format!("header: unknown alg {alg:?}"))
        });
    }
    let kid = match header.get("kid") {
        Some(serde_json::Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(malformed("header: kid is not a string".into())),
        None => None,
    };
    if kid != Some(key.kid()) {
        return Err(Refusal::WrongKey {
            kid: kid.map(str::to_string),
            expected: key.kid().to_string(),
        });
    }

    let (algorithm, decoding) = match key.key_type() {
        KeyType::Ed25519 => (
            Algorithm::EdDSA,
            DecodingKey::from_ed_der(key.raw_public_key()),
        ),
        KeyType::EcdsaP256 => (
            Algorithm::ES256,
            DecodingKey::from_ec_der(key.raw_public_key()),
        ),
    };
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    let data =
        jsonwebtoken::decode::<Payload>(text, &decoding, &validation).map_err(|e| {
            match e.kind() {
                ErrorKind::InvalidSignature => Refusal::BadSignature,
                ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
                    Refusal::WrongAlgorithm {
                        alg: alg.to_string(),
                        expected,
                    }
                }
                ErrorKind::Base64(e) => malformed(format!("not base64url: {e}")),
                ErrorKind::Json(e) => malformed(format!("payload: {e}")),
                ErrorKind::InvalidToken => malformed(
                    "header: a crit or b64 parameter this format does not use".to_string(),
                ),
                _ => malformed(e.to_string()),
            }
        })?;
    data.claims
        .check()
        .map_err(|e| malformed(format!("payload: {e}")))?;
    Ok(data.claims)
}

/// The time checks: [`Refusal::Expired`] when `now >= expires_at`, [`Refusal::NotYetValid`]
/// when `issued_at` is more than [`MAX_CLOCK_SKEW_SECS`] after `now`.
pub fn check_time(payload: &Payload, now: u64) -> Result<(), Refusal> {
    if now >= payload.expires_at {
        return Err(Refusal::Expired {
            expires_at: payload.expires_at,
            now,
        });
    }
    if payload.issued_at > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
        return Err(Refusal::NotYetValid {
            issued_at: payload.issued_at,
            now,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::pin_config::PinSet;

    const PIN_A: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    const NOW: u64 = 1_800_000_000;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn unb64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .unwrap()
    }

    fn payload() -> Payload {
        Payload {
            version: 3,
            issued_at: NOW,
            expires_at: NOW + 3600,
            hosts: BTreeMap::from([(
                "api.example.test".to_string(),
                PinSet {
                    pins: vec![PIN_A.to_string()],
                    include_subdomains: false,
                },
            )]),
        }
    }

    fn keys() -> Vec<SigningKey> {
        [KeyType::Ed25519, KeyType::EcdsaP256]
            .into_iter()
            .map(|t| SigningKey::generate(t).unwrap())
            .collect()
    }

    #[test]
    fn round_trip_with_the_documented_header() {
        for key in keys() {
            let jws = sign(&payload(), &key).unwrap();
            let header: serde_json::Value =
                serde_json::from_slice(&unb64(jws.split('.').next().unwrap())).unwrap();
            assert_eq!(header["alg"], key.key_type().jws_alg());
            assert_eq!(header["typ"], "JOSE");
            assert_eq!(header["kid"], key.kid());
            let sig_len = unb64(jws.rsplit('.').next().unwrap()).len();
            assert_eq!(sig_len, 64, "{}", key.key_type());
            let got = verify(&format!("  {jws}\n"), key.verifying_key(), NOW + 10).unwrap();
            assert_eq!(got, payload());
            // The payload JSON has exactly the documented fields.
            let json: serde_json::Value =
                serde_json::from_slice(&unb64(jws.split('.').nth(1).unwrap())).unwrap();
            assert_eq!(
                json,
                serde_json::json!({"version": 3, "issued_at": NOW, "expires_at": NOW + 3600,
                    "hosts": {"api.example.test": {"pins": [PIN_A], "include_subdomains": false}}})
            );
        }
    }

    #[test]
    fn expiry_and_clock_skew() {
        let key = SigningKey::generate(KeyType::Ed25519).unwrap();
        let jws = sign(&payload(), &key).unwrap();
        let vk = key.verifying_key();
        assert!(verify(&jws, vk, NOW + 3599).is_ok());
        assert_eq!(
            verify(&jws, vk, NOW + 3600),
            Err(Refusal::Expired {
                expires_at: NOW + 3600,
                now: NOW + 3600
            })
        );
        // Signed a little in the future is fine, far in the future is not.
        assert!(verify(&jws, vk, NOW - MAX_CLOCK_SKEW_SECS).is_ok());
        assert_eq!(
            verify(&jws, vk, NOW - MAX_CLOCK_SKEW_SECS - 1),
            Err(Refusal::NotYetValid {
                issued_at: NOW,
                now: NOW - MAX_CLOCK_SKEW_SECS - 1
            })
        );
        // The signature alone still verifies an expired config (for a cache).
        assert_eq!(verify_signature(&jws, vk), Ok(payload()));
    }

    #[test]
    fn another_key_is_refused_by_kid_and_a_forged_kid_by_signature() {
        for key in keys() {
            let other = SigningKey::generate(key.key_type()).unwrap();
            let jws = sign(&payload(), &other).unwrap();
            assert_eq!(
                verify(&jws, key.verifying_key(), NOW),
                Err(Refusal::WrongKey {
                    kid: Some(other.kid().to_string()),
                    expected: key.kid().to_string()
                })
            );
            // The other key signs a header that claims our kid.
            let mut forged = Header::new(match key.key_type() {
                KeyType::Ed25519 => Algorithm::EdDSA,
                KeyType::EcdsaP256 => Algorithm::ES256,
            });
            forged.kid = Some(key.kid().to_string());
            let enc = match key.key_type() {
                KeyType::Ed25519 => EncodingKey::from_ed_der(other.pkcs8_der()),
                KeyType::EcdsaP256 => EncodingKey::from_ec_der(other.pkcs8_der()),
            };
            let jws = jsonwebtoken::encode(&forged, &payload(), &enc).unwrap();
            assert_eq!(
                verify(&jws, key.verifying_key(), NOW),
                Err(Refusal::BadSignature)
            );
            // A key of the other type: the alg is refused before anything else.
            let wrong_type = keys()
                .into_iter()
                .find(|k| k.key_type() != key.key_type())
                .unwrap();
            assert!(matches!(
                verify(
                    &sign(&payload(), &wrong_type).unwrap(),
                    key.verifying_key(),
                    NOW
                ),
                Err(Refusal::WrongAlgorithm { .. })
            ));
        }
    }

    #[test]
    fn a_tampered_payload_or_header_is_a_bad_signature() {
        for key in keys() {
            let jws = sign(&payload(), &key).unwrap();
            let parts: Vec<&str> = jws.split('.').collect();
            // Flip one byte of the payload JSON (the version 3 becomes 2) and re-encode.
            let mut json = unb64(parts[1]);
            let at = json
                .windows(11)
                .position(|w| w == b"\"version\":3")
                .unwrap()
                + 10;
            json[at] ^= 0x01;
            let tampered = format!("{}.{}.{}", parts[0], b64(&json), parts[2]);
            assert_eq!(
                verify(&tampered, key.verifying_key(), NOW),
                Err(Refusal::BadSignature)
            );
            // A signature with one bit flipped.
            let mut sig = unb64(parts[2]);
            sig[10] ^= 0x80;
            let tampered = format!("{}.{}.{}", parts[0], parts[1], b64(&sig));
            assert_eq!(
                verify(&tampered, key.verifying_key(), NOW),
                Err(Refusal::BadSignature)
            );
            // A header with an extra field, same alg and kid.
            let mut header: serde_json::Value = serde_json::from_slice(&unb64(parts[0])).unwrap();
            header["cty"] = "x".into();
            let tampered = format!(
                "{}.{}.{}",
                b64(header.to_string().as_bytes()),
                parts[1],
                parts[2]
            );
            assert_eq!(
                verify(&tampered, key.verifying_key(), NOW),
                Err(Refusal::BadSignature)
            );
        }
    }

    #[test]
    fn malformed_input_and_foreign_algorithms_are_never_accepted() {
        let key = SigningKey::generate(KeyType::Ed25519).unwrap();
        let vk = key.verifying_key();
        let jws = sign(&payload(), &key).unwrap();
        let parts: Vec<&str> = jws.split('.').collect();
        let body = parts[1];
        let header =
            |alg: &str| b64(format!(r#"{{"alg":"{alg}","kid":"{}"}}"#, key.kid()).as_bytes());
        let malformed: Vec<String> = vec![
            String::new(),
            "no dots at all".into(),
            "a.b".into(),
            "a.b.c.d".into(),
            format!("{}.{}.", parts[0], body),
            format!("!!!.{body}.{}", parts[2]),
            format!("{}.{body}.{}", b64(b"not json"), parts[2]),
            format!("{}.{body}.{}", b64(b"[1]"), parts[2]),
            format!("{}.{body}.{}", b64(br#"{"kid":"x"}"#), parts[2]),
            format!("{}.{body}.{}", header("XYZ256"), parts[2]),
            format!("{}.{body}.{}", b64(br#"{"alg":"EdDSA","kid":7}"#), parts[2]),
            format!("{}.{}.{}", parts[0], body, "%%%"),
        ];
        for text in &malformed {
            match verify(text, vk, NOW) {
                Err(Refusal::Malformed(m)) => assert!(!m.is_empty()),
                other => panic!("{text:?}: {other:?}"),
            }
        }
        // alg none (with an empty or any signature), HS256 keyed with the public key (the
        // classic confusion), RS256: refused as the wrong algorithm, whatever the signature.
        let none = format!("{}.{body}.", header("none"));
        assert!(matches!(verify(&none, vk, NOW), Err(Refusal::Malformed(_))));
        let none = format!("{}.{body}.AAAA", header("none"));
        assert_eq!(
            verify(&none, vk, NOW),
            Err(Refusal::WrongAlgorithm {
                alg: "none".into(),
                expected: "EdDSA"
            })
        );
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some(key.kid().to_string());
        let hs = jsonwebtoken::encode(
            &hs,
            &payload(),
            &EncodingKey::from_secret(vk.raw_public_key()).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            verify(&hs, vk, NOW),
            Err(Refusal::WrongAlgorithm { alg, .. }) if alg == "HS256"
        ));
        let rs = format!("{}.{body}.{}", header("RS256"), parts[2]);
        assert!(matches!(
            verify(&rs, vk, NOW),
            Err(Refusal::WrongAlgorithm { .. })
        ));
        // No kid: this format requires one.
        let no_kid = format!("{}.{body}.{}", b64(br#"{"alg":"EdDSA"}"#), parts[2]);
        assert!(matches!(
            verify(&no_kid, vk, NOW),
            Err(Refusal::WrongKey { kid: None, .. })
        ));
    }

    #[test]
    fn a_validly_signed_payload_that_breaks_the_rules_is_malformed() {
        let key = SigningKey::generate(KeyType::EcdsaP256).unwrap();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.kid().to_string());
        let enc = EncodingKey::from_ec_der(key.pkcs8_der());
        let cases = [
            serde_json::json!({"version": 1, "issued_at": NOW, "expires_at": NOW + 1,
                "hosts": {"a.test": {"pins": ["abc"]}}}),
            serde_json::json!({"version": 1, "issued_at": NOW, "expires_at": NOW + 1,
                "hosts": {"a.test": {"pins": [PIN_A]}}, "enforce": false}),
            serde_json::json!({"version": 1, "issued_at": NOW, "hosts": {}}),
            serde_json::json!({"version": -1, "issued_at": NOW, "expires_at": NOW + 1,
                "hosts": {"a.test": {"pins": [PIN_A]}}}),
        ];
        for claims in cases {
            let jws = jsonwebtoken::encode(&header, &claims, &enc).unwrap();
            assert!(
                matches!(
                    verify(&jws, key.verifying_key(), NOW),
                    Err(Refusal::Malformed(_))
                ),
                "{claims}"
            );
        }
        assert!(sign(
            &Payload {
                hosts: BTreeMap::new(),
                ..payload()
            },
            &key
        )
        .is_err());
    }
}
