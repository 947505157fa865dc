//! The Wultra SSL pinning format (wultra/ssl-pinning-android, ssl-pinning-ios, the
//! ssl-pinning-tool that signs it, mobile-utility-server that serves it), signed and verified
//! as its clients do.
//!
//! The static file is `{"fingerprints":[{"name","fingerprint","expires","signature"}, ...]}`:
//! - `name`: compared, exactly, with the common name of the server's leaf certificate;
//! - `fingerprint`: base64 of the SHA-256 of the leaf certificate's DER (not of its SPKI);
//! - `expires`: Unix seconds; an entry with `expires < now` is dropped;
//! - `signature`: base64 of an ASN.1 DER ECDSA P-256/SHA-256 signature over the UTF-8 string
//!   `name + "&" + fingerprint + "&" + expires`. That is the order the signing tool and both
//!   clients use; the signing tool's README shows an openssl recipe with `expires` before
//!   `fingerprint`, whose signatures the clients reject ("Invalid signature detected").
//!
//! Clients are configured with the public key as the raw uncompressed P-256 point in base64
//! ([`public_key_base64`]). An update is all or nothing: one entry with a bad signature rejects
//! it ([`Refusal::BadEntrySignature`]), and an update left with no entry once expired ones are
//! dropped leaves the old store in place ([`Refusal::NoValidEntries`]). Entries already expired
//! are dropped before their signature is looked at, as the clients do.
//!
//! Challenge mode: the client sends [`CHALLENGE_HEADER`] (base64 of 16 random bytes; servers
//! accept 16 to 32), the server answers with [`SIGNATURE_HEADER`], base64 of an ECDSA signature
//! over the challenge header's text, `&`, and the response body's bytes. Clients then check
//! that signature instead of the entries' own.
//!
//! Where this is stricter than the clients: a `fingerprint` must be 32 bytes (a shorter one can
//! never match), and `expires` must be a whole non-negative number.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::keys::{KeyType, SigningKey, VerifyingKey};
use super::source::Source;
use super::{quote_key, Refusal};
use crate::error::{Error, Result};
use crate::rules::file::one_line;

/// The request header of challenge mode: base64 of 16 to 32 random bytes.
pub const CHALLENGE_HEADER: &str = "X-Cert-Pinning-Challenge";
/// The response header of challenge mode: base64 of the DER ECDSA signature over
/// `challenge & body`.
pub const SIGNATURE_HEADER: &str = "X-Cert-Pinning-Signature";

/// One accepted entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The leaf certificate's common name it is for.
    pub name: String,
    /// SHA-256 of the leaf certificate's DER, base64.
    pub fingerprint: String,
    /// When it expires, Unix seconds (valid while `now <= expires`).
    pub expires: u64,
}

/// What a client keeps from an update: the accepted entries, and those dropped as expired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fingerprints {
    /// Entries that verified and have not expired, in file order, without repeats.
    pub entries: Vec<Entry>,
    /// Entries dropped because they had expired (their signatures were not checked).
    pub expired: Vec<Entry>,
}

/// What a Wultra client says about a server certificate (its `ValidationResult`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertValidation {
    /// An entry for the common name has the certificate's fingerprint.
    Trusted,
    /// There are entries for the common name, none with this fingerprint.
    Untrusted,
    /// No entry for the common name: the clients' docs say to cancel the connection.
    Empty,
}

impl Fingerprints {
    /// Validates a server's leaf certificate as the clients do: entries still valid at `now`
    /// whose name equals `common_name`, compared by fingerprint.
    pub fn validate(&self, common_name: &str, leaf_der: &[u8], now: u64) -> CertValidation {
        self.validate_fingerprint(common_name, &b64(&sha256(leaf_der)), now)
    }

    /// [`Fingerprints::validate`] for a leaf whose fingerprint (base64 SHA-256 of its DER) is
    /// already known.
    pub fn validate_fingerprint(
        &self,
        common_name: &str,
        fingerprint: &str,
        now: u64,
    ) -> CertValidation {
        let mut attempts = 0;
        for entry in self.entries.iter().filter(|e| e.expires >= now) {
            if entry.name == common_name {
                if entry.fingerprint == fingerprint {
                    return CertValidation::Trusted;
                }
                attempts += 1;
            }
        }
        if attempts > 0 {
            CertValidation::Untrusted
        } else {
            CertValidation::Empty
        }
    }
}

/// The string an entry's signature covers: `name&fingerprint&expires`.
pub fn signed_string(name: &str, fingerprint: &str, expires: u64) -> String {
    format!("{name}&{fingerprint}&{expires}")
}

/// The entries a signed file for `source` has at `now`: for each host, the first certificate of
/// each of its `certificates` files (the leaf of a chain file), named by that certificate's
/// common name, expiring at the earlier of the certificate's end and the config's expiry.
///
/// Errors (as `FILE:LINE: FIELD: message`) when the source cannot be said in this format: a
/// host without certificates, a pin that is not one of its certificates' keys, a host with
/// `include_subdomains`, a leaf without a common name or whose common name is not the host
/// (nor a wildcard over it).
pub fn entries(source: &Source, now: u64) -> Result<Vec<Entry>> {
    let config_expires = source.expires_at(now);
    let mut out: Vec<Entry> = Vec::new();
    for (host, pins) in &source.hosts {
        let field = format!("hosts.{}", quote_key(host));
        let err = |line: usize, field: &str, m: String| {
            Error::input(
                format!("{}:{line}", source.file),
                one_line(&format!("{field}: {m}")),
            )
        };
        if pins.certificates.is_empty() {
            return Err(err(
                pins.line,
                &field,
                "the Wultra format pins certificate hashes: give certificates = [...] (SPKI \
                 pins cannot be turned into certificate hashes)"
                    .into(),
            ));
        }
        if let Some(pin) = pins
            .pins
            .iter()
            .find(|p| !pins.certificates.iter().any(|c| &c.spki_pin == *p))
        {
            return Err(err(
                pins.line,
                &format!("{field}.pins"),
                format!(
                    "{pin} is not the key of one of its certificates: the Wultra format \
                     carries certificate hashes only (drop it, or give its certificate)"
                ),
            ));
        }
        if pins.include_subdomains {
            return Err(err(
                pins.line,
                &format!("{field}.include_subdomains"),
                "cannot be said in the Wultra format: clients match an entry's name with the \
                 leaf's common name exactly"
                    .into(),
            ));
        }
        for cert in pins.certificates.iter().filter(|c| c.position == 0) {
            let at = format!("{field}.certificates");
            let shown = cert.file.display();
            let Some(cn) = &cert.common_name else {
                return Err(err(
                    cert.line,
                    &at,
                    format!(
                        "{shown} has no subject common name, which Wultra clients match an \
                         entry's name against"
                    ),
                ));
            };
            if !cn_covers(cn, host) {
                return Err(err(
                    cert.line,
                    &at,
                    format!(
                        "{shown} is for {cn:?}, not {host}: Wultra clients match an entry's \
                         name with the leaf's common name"
                    ),
                ));
            }
            let entry = Entry {
                name: cn.clone(),
                fingerprint: cert.cert_hash.clone(),
                expires: config_expires.min(cert.not_after),
            };
            if !out.contains(&entry) {
                out.push(entry);
            }
        }
    }
    Ok(out)
}

/// The signed static file for `source` at `now` (pretty JSON, with a final newline). `key`
/// must be an ECDSA P-256 key.
pub fn sign_fingerprints(source: &Source, key: &SigningKey, now: u64) -> Result<String> {
    need_p256(key.key_type(), key.verifying_key().source())?;
    let mut fingerprints = Vec::new();
    for entry in entries(source, now)? {
        let signature = sign_p256(
            key,
            signed_string(&entry.name, &entry.fingerprint, entry.expires).as_bytes(),
        )?;
        fingerprints.push(RawEntry {
            name: entry.name,
            fingerprint: entry.fingerprint,
            expires: entry.expires,
            signature: Some(signature),
        });
    }
    let text = serde_json::to_string_pretty(&RawFile { fingerprints })
        .map_err(|e| Error::runtime(format!("cannot encode the fingerprints: {e}")))?;
    Ok(text + "\n")
}

/// Verifies a static file as a client with `key` does at `now` (per-entry signatures).
pub fn verify_fingerprints(
    json: &[u8],
    key: &VerifyingKey,
    now: u64,
) -> Result<Fingerprints, Refusal> {
    read_fingerprints(json, Some(key), now)
}

/// Whether `challenge` is what servers accept: base64 of 16 to 32 bytes.
pub fn check_challenge(challenge: &str) -> std::result::Result<(), String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(challenge)
        .map_err(|_| format!("{CHALLENGE_HEADER} is not base64"))?;
    if (16..=32).contains(&bytes.len()) {
        Ok(())
    } else {
        Err(format!(
            "{CHALLENGE_HEADER} must be base64 of 16 to 32 bytes, not {}",
            bytes.len()
        ))
    }
}

/// A fresh challenge as clients make them: base64 of 16 random bytes.
pub fn new_challenge() -> Result<String> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| Error::runtime("cannot draw random bytes for a challenge"))?;
    Ok(b64(&bytes))
}

/// The [`SIGNATURE_HEADER`] value for a response `body` to `challenge` (which must pass
/// [`check_challenge`]); `key` must be an ECDSA P-256 key.
pub fn sign_challenge(challenge: &str, body: &[u8], key: &SigningKey) -> Result<String> {
    check_challenge(challenge).map_err(|e| Error::input(CHALLENGE_HEADER, e))?;
    need_p256(key.key_type(), key.verifying_key().source())?;
    sign_p256(key, &challenge_message(challenge, body))
}

/// Checks a challenge-mode response's signature header (`None` when the response had none).
pub fn verify_challenge(
    challenge: &str,
    body: &[u8],
    signature: Option<&str>,
    key: &VerifyingKey,
) -> Result<(), Refusal> {
    if key.key_type() != KeyType::EcdsaP256 {
        return Err(not_p256(key));
    }
    let signature =
        signature.ok_or_else(|| Refusal::Malformed(format!("no {SIGNATURE_HEADER} header")))?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| Refusal::Malformed(format!("{SIGNATURE_HEADER} is not base64")))?;
    if key.verify_asn1(&challenge_message(challenge, body), &signature) {
        Ok(())
    } else {
        Err(Refusal::BadSignature)
    }
}

/// Verifies a challenge-mode response as a client does: the signature header first, then the
/// entries, whose own signatures clients do not check in this mode.
pub fn verify_challenge_response(
    challenge: &str,
    body: &[u8],
    signature: Option<&str>,
    key: &VerifyingKey,
    now: u64,
) -> Result<Fingerprints, Refusal> {
    verify_challenge(challenge, body, signature, key)?;
    read_fingerprints(body, None, now)
}

/// The public key as Wultra clients are configured with it: base64 of the 65-byte uncompressed
/// P-256 point (what the signing tool's `export` prints).
pub fn public_key_base64(key: &VerifyingKey) -> Result<String> {
    need_p256(key.key_type(), key.source())?;
    Ok(b64(key.raw_public_key()))
}

#[derive(Serialize, Deserialize)]
struct RawFile {
    fingerprints: Vec<RawEntry>,
}

#[derive(Serialize, Deserialize)]
struct RawEntry {
    name: String,
    fingerprint: String,
    expires: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
}

/// Reads the fingerprints, checking each entry's signature with `key` (static mode) or not
/// (challenge mode, `None`).
fn read_fingerprints(
    json: &[u8],
    key: Option<&VerifyingKey>,
    now: u64,
) -> Result<Fingerprints, Refusal> {
    if let Some(key) = key {
        if key.key_type() != KeyType::EcdsaP256 {
            return Err(not_p256(key));
        }
    }
    let file: RawFile = serde_json::from_slice(json)
        .map_err(|e| Refusal::Malformed(format!("not Wultra fingerprints JSON: {e}")))?;
    // Clients decode every entry before looking at any (a bad one fails the whole parse).
    let mut decoded = Vec::with_capacity(file.fingerprints.len());
    for (index, raw) in file.fingerprints.into_iter().enumerate() {
        let at = format!("entry {index} ({:?})", raw.name);
        let fingerprint = base64::engine::general_purpose::STANDARD
            .decode(&raw.fingerprint)
            .map_err(|_| Refusal::Malformed(format!("{at}: fingerprint is not base64")))?;
        if fingerprint.len() != 32 {
            return Err(Refusal::Malformed(format!(
                "{at}: fingerprint is {} bytes, not a SHA-256 (32)",
                fingerprint.len()
            )));
        }
        let signature = raw
            .signature
            .as_deref()
            .map(|s| base64::engine::general_purpose::STANDARD.decode(s))
            .transpose()
            .map_err(|_| Refusal::Malformed(format!("{at}: signature is not base64")))?;
        let entry = Entry {
            name: raw.name,
            // Clients sign-check the canonical base64 of the decoded bytes.
            fingerprint: b64(&fingerprint),
            expires: raw.expires,
        };
        decoded.push((index, entry, signature));
    }
    let mut out = Fingerprints::default();
    for (index, entry, signature) in decoded {
        if entry.expires < now {
            out.expired.push(entry);
            continue;
        }
        if out.entries.contains(&entry) {
            continue;
        }
        if let Some(key) = key {
            let Some(signature) = signature else {
                return Err(Refusal::Malformed(format!(
                    "entry {index} ({:?}): no signature",
                    entry.name
                )));
            };
            let message = signed_string(&entry.name, &entry.fingerprint, entry.expires);
            if !key.verify_asn1(message.as_bytes(), &signature) {
                return Err(Refusal::BadEntrySignature {
                    index,
                    name: entry.name,
                });
            }
        }
        out.entries.push(entry);
    }
    if out.entries.is_empty() {
        return Err(Refusal::NoValidEntries {
            expired: out.expired.len(),
        });
    }
    Ok(out)
}

/// `challenge & body`, the bytes a challenge-mode signature covers.
fn challenge_message(challenge: &str, body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(challenge.len() + 1 + body.len());
    message.extend_from_slice(challenge.as_bytes());
    message.push(b'&');
    message.extend_from_slice(body);
    message
}

/// Whether a certificate common name `cn` names `host`: the same name ignoring case, or a
/// wildcard `*.parent` over a direct child of `parent`.
fn cn_covers(cn: &str, host: &str) -> bool {
    let cn = cn.to_ascii_lowercase();
    if cn == host {
        return true;
    }
    match cn.strip_prefix("*.") {
        Some(parent) => host.split_once('.').is_some_and(|(_, rest)| rest == parent),
        None => false,
    }
}

fn need_p256(key_type: KeyType, source: &str) -> Result<()> {
    match key_type {
        KeyType::EcdsaP256 => Ok(()),
        other => Err(Error::input(
            source,
            format!(
                "the Wultra format is signed with ECDSA P-256, and this is an {other} key (make \
                 one with pin-config keygen --key-type ecdsa-p256)"
            ),
        )),
    }
}

fn not_p256(key: &VerifyingKey) -> Refusal {
    Refusal::WrongAlgorithm {
        alg: "ES256 (Wultra)".into(),
        expected: key.key_type().jws_alg(),
    }
}

fn sign_p256(key: &SigningKey, message: &[u8]) -> Result<String> {
    need_p256(key.key_type(), key.verifying_key().source())?;
    let signature = key
        .sign_ecdsa_asn1(message)
        .ok_or_else(|| Error::runtime("cannot sign with ECDSA: not a P-256 key"))??;
    Ok(b64(&signature))
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::pin_config::source;

    const NOW: u64 = 1_800_000_000;

    /// A self-signed leaf for `cn`, valid to about 2027-2030 (rcgen's default not_after is
    /// 4096-01-01; we set one).
    fn leaf(dir: &Path, name: &str, cn: &str) -> (Vec<u8>, u64) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec![cn.trim_start_matches("*.").into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let not_after =
            time::OffsetDateTime::from_unix_timestamp(NOW as i64 + 90 * 86_400).unwrap();
        params.not_after = not_after;
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join(name), cert.pem()).unwrap();
        (cert.der().to_vec(), NOW + 90 * 86_400)
    }

    fn source_with(dir: &Path, hosts: &str) -> Source {
        let text = format!("version = 7\nvalid_for = \"30d\"\n{hosts}");
        source::parse(&dir.join("pins.toml"), &text).unwrap()
    }

    fn p256() -> SigningKey {
        SigningKey::generate(KeyType::EcdsaP256).unwrap()
    }

    #[test]
    fn sign_and_verify_round_trip_and_validation() {
        let dir = tempfile::tempdir().unwrap();
        let (api_der, api_end) = leaf(dir.path(), "api.pem", "api.example.test");
        let (wild_der, _) = leaf(dir.path(), "wild.pem", "*.example.test");
        let source = source_with(
            dir.path(),
            "[hosts.\"api.example.test\"]\ncertificates = [\"api.pem\"]\n\
             [hosts.\"cdn.example.test\"]\ncertificates = [\"wild.pem\"]\n\
             [hosts.\"img.example.test\"]\ncertificates = [\"wild.pem\"]\n",
        );
        let key = p256();
        let json = sign_fingerprints(&source, &key, NOW).unwrap();
        let raw: serde_json::Value = serde_json::from_str(&json).unwrap();
        let list = raw["fingerprints"].as_array().unwrap();
        // One entry per leaf; the wildcard leaf shared by two hosts is listed once.
        assert_eq!(list.len(), 2, "{json}");
        assert_eq!(list[0]["name"], "api.example.test");
        assert_eq!(list[0]["fingerprint"], b64(&sha256(&api_der)));
        // The earlier of the certificate's end (90 days) and the config's (30 days).
        assert_eq!(list[0]["expires"], NOW + 30 * 86_400);
        assert!(api_end > NOW + 30 * 86_400);
        assert_eq!(list[1]["name"], "*.example.test");

        let got = verify_fingerprints(json.as_bytes(), key.verifying_key(), NOW).unwrap();
        assert_eq!(got.entries.len(), 2);
        assert!(got.expired.is_empty());
        assert_eq!(
            got.validate("api.example.test", &api_der, NOW),
            CertValidation::Trusted
        );
        assert_eq!(
            got.validate("api.example.test", &wild_der, NOW),
            CertValidation::Untrusted
        );
        assert_eq!(
            got.validate("*.example.test", &wild_der, NOW),
            CertValidation::Trusted
        );
        assert_eq!(
            got.validate("other.test", &api_der, NOW),
            CertValidation::Empty
        );
        // After the entries expire, nothing is trusted.
        let later = NOW + 31 * 86_400;
        assert_eq!(
            got.validate("api.example.test", &api_der, later),
            CertValidation::Empty
        );
        assert_eq!(
            verify_fingerprints(json.as_bytes(), key.verifying_key(), later),
            Err(Refusal::NoValidEntries { expired: 2 })
        );
    }

    /// The signed file with one field of entry `index` replaced.
    fn tamper(json: &str, index: usize, field: &str, value: serde_json::Value) -> String {
        let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
        v["fingerprints"][index][field] = value;
        v.to_string()
    }

    #[test]
    fn one_tampered_entry_rejects_the_update() {
        let dir = tempfile::tempdir().unwrap();
        leaf(dir.path(), "a.pem", "a.test");
        leaf(dir.path(), "b.pem", "b.test");
        let source = source_with(
            dir.path(),
            "[hosts.\"a.test\"]\ncertificates = [\"a.pem\"]\n[hosts.\"b.test\"]\ncertificates = [\"b.pem\"]\n",
        );
        let key = p256();
        let json = sign_fingerprints(&source, &key, NOW).unwrap();
        let vk = key.verifying_key();
        let bad = |index, name: &str| {
            Err(Refusal::BadEntrySignature {
                index,
                name: name.into(),
            })
        };
        assert_eq!(
            verify_fingerprints(
                tamper(&json, 1, "name", "c.test".into()).as_bytes(),
                vk,
                NOW
            ),
            bad(1, "c.test")
        );
        let other = b64(&[7u8; 32]);
        assert_eq!(
            verify_fingerprints(
                tamper(&json, 0, "fingerprint", other.into()).as_bytes(),
                vk,
                NOW
            ),
            bad(0, "a.test")
        );
        let longer = NOW + 40 * 86_400;
        assert_eq!(
            verify_fingerprints(
                tamper(&json, 0, "expires", longer.into()).as_bytes(),
                vk,
                NOW
            ),
            bad(0, "a.test")
        );
        // Another key.
        assert_eq!(
            verify_fingerprints(json.as_bytes(), p256().verifying_key(), NOW),
            bad(0, "a.test")
        );
        // The README's order (name&expires&fingerprint) is not what clients check.
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let e = &v["fingerprints"][0];
        let readme_order = format!(
            "{}&{}&{}",
            e["name"].as_str().unwrap(),
            e["expires"],
            e["fingerprint"].as_str().unwrap()
        );
        let sig = sign_p256(&key, readme_order.as_bytes()).unwrap();
        assert_eq!(
            verify_fingerprints(
                tamper(&json, 0, "signature", sig.into()).as_bytes(),
                vk,
                NOW
            ),
            bad(0, "a.test")
        );
        // An expired entry is dropped before its signature is looked at.
        let expired = tamper(
            &tamper(&json, 0, "expires", (NOW - 1).into()),
            0,
            "signature",
            "AAAA".into(),
        );
        let got = verify_fingerprints(expired.as_bytes(), vk, NOW).unwrap();
        assert_eq!(got.expired.len(), 1);
        assert_eq!(got.entries.len(), 1);
        assert_eq!(got.entries[0].name, "b.test");
    }

    #[test]
    fn malformed_files() {
        let key = p256();
        let vk = key.verifying_key();
        let fp = b64(&[1u8; 32]);
        for text in [
            "",
            "[]",
            "{}",
            r#"{"fingerprints": 3}"#,
            &format!(
                r#"{{"fingerprints":[{{"name":"a","fingerprint":"{fp}","expires":-1,"signature":"AA=="}}]}}"#
            ),
            &format!(
                r#"{{"fingerprints":[{{"name":"a","fingerprint":"!!","expires":{NOW},"signature":"AA=="}}]}}"#
            ),
            &format!(
                r#"{{"fingerprints":[{{"name":"a","fingerprint":"AAAA","expires":{NOW},"signature":"AA=="}}]}}"#
            ),
            &format!(r#"{{"fingerprints":[{{"name":"a","fingerprint":"{fp}","expires":{NOW}}}]}}"#),
            &format!(
                r#"{{"fingerprints":[{{"name":"a","fingerprint":"{fp}","expires":{NOW},"signature":"%%"}}]}}"#
            ),
        ] {
            assert!(
                matches!(
                    verify_fingerprints(text.as_bytes(), vk, NOW),
                    Err(Refusal::Malformed(_))
                ),
                "{text}"
            );
        }
        assert_eq!(
            verify_fingerprints(br#"{"fingerprints":[]}"#, vk, NOW),
            Err(Refusal::NoValidEntries { expired: 0 })
        );
        let ed = SigningKey::generate(KeyType::Ed25519).unwrap();
        assert!(matches!(
            verify_fingerprints(br#"{"fingerprints":[]}"#, ed.verifying_key(), NOW),
            Err(Refusal::WrongAlgorithm { .. })
        ));
    }

    #[test]
    fn sources_the_format_cannot_carry_are_errors_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        leaf(dir.path(), "api.pem", "api.example.test");
        let pin = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        let cases = [
            (format!("[hosts.\"a.test\"]\npins = [\"{pin}\"]\n"), "pins.toml:3: hosts.\"a.test\": the Wultra format pins certificate hashes"),
            (format!("[hosts.\"api.example.test\"]\npins = [\"{pin}\"]\ncertificates = [\"api.pem\"]\n"), "pins.toml:3: hosts.\"api.example.test\".pins: 47DEQ"),
            ("[hosts.\"api.example.test\"]\ncertificates = [\"api.pem\"]\ninclude_subdomains = true\n".to_string(), "pins.toml:3: hosts.\"api.example.test\".include_subdomains: cannot be said"),
            ("[hosts.\"other.example.test\"]\n\ncertificates = [\"api.pem\"]\n".to_string(), "pins.toml:5: hosts.\"other.example.test\".certificates: "),
        ];
        for (hosts, want) in cases {
            let source = source_with(dir.path(), &hosts);
            let err = sign_fingerprints(&source, &p256(), NOW)
                .unwrap_err()
                .to_string();
            let err = err.replace(&format!("{}/", dir.path().display()), "");
            assert!(err.starts_with(want), "\n got: {err}\nwant: {want}");
            assert!(!err.contains('\n'));
        }
        // A leaf without a common name.
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["nocn.test".into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        std::fs::write(
            dir.path().join("nocn.pem"),
            params.self_signed(&key).unwrap().pem(),
        )
        .unwrap();
        let source = source_with(
            dir.path(),
            "[hosts.\"nocn.test\"]\ncertificates = [\"nocn.pem\"]\n",
        );
        let err = sign_fingerprints(&source, &p256(), NOW)
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no subject common name"), "{err}");
        // An Ed25519 key.
        let source = source_with(
            dir.path(),
            "[hosts.\"api.example.test\"]\ncertificates = [\"api.pem\"]\n",
        );
        let ed = SigningKey::generate(KeyType::Ed25519).unwrap();
        let err = sign_fingerprints(&source, &ed, NOW)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ECDSA P-256"), "{err}");
    }

    #[test]
    fn challenge_mode() {
        let key = p256();
        let challenge = new_challenge().unwrap();
        assert_eq!(check_challenge(&challenge), Ok(()));
        assert!(check_challenge(&b64(&[0u8; 15])).is_err());
        assert!(check_challenge(&b64(&[0u8; 33])).is_err());
        assert!(check_challenge("not base64!").is_err());
        let body = br#"{"fingerprints":[{"name":"a.test","fingerprint":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=","expires":1900000000}]}"#;
        let sig = sign_challenge(&challenge, body, &key).unwrap();
        let vk = key.verifying_key();
        assert_eq!(verify_challenge(&challenge, body, Some(&sig), vk), Ok(()));
        // Entries need no signature of their own in this mode.
        let got = verify_challenge_response(&challenge, body, Some(&sig), vk, NOW).unwrap();
        assert_eq!(got.entries[0].name, "a.test");
        // Another challenge, another body, no header, another key.
        let other = new_challenge().unwrap();
        assert_eq!(
            verify_challenge(&other, body, Some(&sig), vk),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            verify_challenge(&challenge, b"{}", Some(&sig), vk),
            Err(Refusal::BadSignature)
        );
        assert!(matches!(
            verify_challenge(&challenge, body, None, vk),
            Err(Refusal::Malformed(_))
        ));
        assert_eq!(
            verify_challenge(&challenge, body, Some(&sig), p256().verifying_key()),
            Err(Refusal::BadSignature)
        );
        // The signed bytes are exactly challenge & body.
        let message = [challenge.as_bytes(), b"&", body].concat();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&sig)
            .unwrap();
        assert!(vk.verify_asn1(&message, &raw));
        assert!(sign_challenge("short", body, &key).is_err());
    }

    #[test]
    fn the_public_key_is_the_raw_point() {
        let key = p256();
        let raw = public_key_base64(key.verifying_key()).unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&raw)
            .unwrap();
        assert_eq!(bytes.len(), 65);
        assert_eq!(bytes[0], 4);
        assert_eq!(&key.verifying_key().spki_der()[26..], &bytes[..]);
        let ed = SigningKey::generate(KeyType::Ed25519).unwrap();
        assert!(public_key_base64(ed.verifying_key()).is_err());
    }
}
