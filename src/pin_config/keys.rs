//! The keys that sign and verify pin configs: Ed25519 (the default) or ECDSA P-256, their PEM
//! files, and their key id.
//!
//! This module owns the key files (`signing.key`, PKCS#8 PEM, mode 0600; `signing.pub`, SPKI
//! PEM, mode 0644), loading them (a private key as PKCS#8 or SEC1 PEM; a public key as SPKI PEM,
//! as a certificate whose key is used, or as the Wultra raw EC point in base64), and the key id
//! every signed config names: the key's SPKI pin (base64 SHA-256 of its SubjectPublicKeyInfo
//! DER, as [`crate::pins::spki_pin`] computes it), so `kid` is the same string a pin list would
//! hold for that key. Encrypted private keys are not read. The signatures themselves are made in
//! [`super::jws`] and [`super::wultra`].

use std::fmt;
use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ParsedPublicKey,
};
use base64::Engine as _;
use rustls::pki_types::pem::{PemObject as _, SectionKind};
use x509_parser::prelude::FromDer as _;

use crate::error::{Error, Result};
use crate::pins;

/// The algorithm of a pin-config signing key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum KeyType {
    /// Ed25519, signing as JWS `EdDSA` (the default: small, fast, deterministic).
    #[default]
    #[value(name = "ed25519")]
    Ed25519,
    /// ECDSA on P-256 with SHA-256, signing as JWS `ES256`; the one the Wultra format takes.
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
}

impl KeyType {
    /// The name the CLI takes (`ed25519`, `ecdsa-p256`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::EcdsaP256 => "ecdsa-p256",
        }
    }

    /// The JWS `alg` this key signs with (`EdDSA`, `ES256`).
    pub fn jws_alg(self) -> &'static str {
        match self {
            Self::Ed25519 => "EdDSA",
            Self::EcdsaP256 => "ES256",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The DER prefix of a P-256 SubjectPublicKeyInfo (id-ecPublicKey, prime256v1, a 66-byte BIT
/// STRING), before the 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A public key that verifies pin configs.
#[derive(Clone)]
pub struct VerifyingKey {
    key_type: KeyType,
    spki_der: Vec<u8>,
    /// The raw key: 32 bytes (Ed25519) or the 65-byte uncompressed point (P-256).
    raw: Vec<u8>,
    kid: String,
    source: String,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("key_type", &self.key_type)
            .field("kid", &self.kid)
            .field("source", &self.source)
            .finish()
    }
}

impl PartialEq for VerifyingKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

impl Eq for VerifyingKey {}

impl VerifyingKey {
    /// Reads a public key file: a `PUBLIC KEY` PEM, a `CERTIFICATE` PEM (its key is used), or
    /// the Wultra raw public key (base64 of the 65-byte P-256 point). Errors name the file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::file(path, "read the key", e))?;
        Self::from_pem(&bytes, &path.display().to_string())
    }

    /// Parses what [`load`](Self::load) reads; `source` names it in errors.
    pub fn from_pem(text: &[u8], source: &str) -> Result<Self> {
        let bad = |m: String| Error::input(source, m);
        let sections = <(SectionKind, Vec<u8>)>::pem_slice_iter(text)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("malformed PEM: {e}")))?;
        for (kind, der) in sections {
            match kind {
                SectionKind::PublicKey => return Self::from_spki_der(&der, source),
                SectionKind::Certificate => {
                    let spki = pins::cert_spki(&der).map_err(bad)?;
                    return Self::from_spki_der(&spki, source);
                }
                SectionKind::PrivateKey
                | SectionKind::EcPrivateKey
                | SectionKind::RsaPrivateKey => {
                    return Err(bad(
                        "this is a private key: verify with the public key (the .pub file \
                         pin-config keygen wrote)"
                            .into(),
                    ))
                }
                _ => {}
            }
        }
        // The Wultra raw public key: base64 of an uncompressed P-256 point.
        let trimmed = String::from_utf8_lossy(text);
        if let Ok(point) = base64::engine::general_purpose::STANDARD.decode(trimmed.trim()) {
            if point.len() == 65 && point[0] == 0x04 {
                let mut spki = P256_SPKI_PREFIX.to_vec();
                spki.extend_from_slice(&point);
                return Self::from_spki_der(&spki, source);
            }
        }
        Err(bad(
            "no public key found: expected a PUBLIC KEY or CERTIFICATE PEM, or a Wultra raw \
             public key (base64 of a P-256 point)"
                .into(),
        ))
    }

    /// A key from SubjectPublicKeyInfo DER (Ed25519, or P-256 with an uncompressed point).
    pub fn from_spki_der(der: &[u8], source: &str) -> Result<Self> {
        use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_SIG_ED25519};
        let bad = |m: &str| Error::input(source, m.to_string());
        let (rest, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| Error::input(source, format!("not a SubjectPublicKeyInfo: {e}")))?;
        if !rest.is_empty() {
            return Err(bad("trailing bytes after the SubjectPublicKeyInfo"));
        }
        let alg = &spki.algorithm;
        let raw = spki.subject_public_key.data.to_vec();
        let (key_type, verify): (KeyType, &'static dyn sig::VerificationAlgorithm) =
            if alg.algorithm == OID_SIG_ED25519 {
                (KeyType::Ed25519, &sig::ED25519)
            } else if alg.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
                let curve = alg.parameters.as_ref().and_then(|p| p.as_oid().ok());
                if curve.as_ref() != Some(&OID_EC_P256) {
                    return Err(bad(
                        "an EC key on another curve than P-256 (only Ed25519 and ECDSA P-256 \
                         sign pin configs)",
                    ));
                }
                if raw.len() != 65 || raw[0] != 0x04 {
                    return Err(bad("a P-256 key whose point is not uncompressed"));
                }
                (KeyType::EcdsaP256, &sig::ECDSA_P256_SHA256_ASN1)
            } else {
                return Err(Error::input(
                    source,
                    format!(
                        "a key of type {} (only Ed25519 and ECDSA P-256 sign pin configs)",
                        alg.algorithm
                    ),
                ));
            };
        ParsedPublicKey::new(verify, &raw)
            .map_err(|e| Error::input(source, format!("not a valid {key_type} public key: {e}")))?;
        Ok(Self {
            key_type,
            kid: pins::spki_pin(der),
            spki_der: der.to_vec(),
            raw,
            source: source.to_string(),
        })
    }

    /// The key's algorithm.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The key id: the key's SPKI pin (base64 SHA-256 of [`spki_der`](Self::spki_der)).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The raw public key: 32 bytes (Ed25519) or the 65-byte uncompressed point (P-256), as
    /// JOSE and Wultra carry it.
    pub fn raw_public_key(&self) -> &[u8] {
        &self.raw
    }

    /// Where the key came from (a file name), as errors name it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The key as a `PUBLIC KEY` PEM (SPKI).
    pub fn public_key_pem(&self) -> String {
        pem("PUBLIC KEY", &self.spki_der)
    }

    /// Whether `signature` (ASN.1 DER for P-256, 64 bytes for Ed25519) signs `message`.
    pub(crate) fn verify_asn1(&self, message: &[u8], signature: &[u8]) -> bool {
        let alg: &'static dyn sig::VerificationAlgorithm = match self.key_type {
            KeyType::Ed25519 => &sig::ED25519,
            KeyType::EcdsaP256 => &sig::ECDSA_P256_SHA256_ASN1,
        };
        sig::UnparsedPublicKey::new(alg, &self.raw)
            .verify(message, signature)
            .is_ok()
    }
}

/// A private key that signs pin configs.
pub struct SigningKey {
    key_type: KeyType,
    /// PKCS#8 v1 DER, what jsonwebtoken and OpenSSL read.
    pkcs8: Vec<u8>,
    /// For ECDSA signatures in ASN.1 DER (Wultra); `None` for Ed25519.
    ecdsa: Option<EcdsaKeyPair>,
    public: VerifyingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_type", &self.key_type)
            .field("kid", &self.public.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new random key.
    pub fn generate(key_type: KeyType) -> Result<Self> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let fail = |_| Error::runtime(format!("cannot generate an {key_type} key"));
        let pkcs8 = match key_type {
            // v1, not the v2 `generate_pkcs8` writes: the OpenSSL CLI reads v1.
            KeyType::Ed25519 => Ed25519KeyPair::generate_pkcs8v1(&rng).map_err(fail)?,
            KeyType::EcdsaP256 => {
                EcdsaKeyPair::generate_pkcs8(&sig::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
                    .map_err(fail)?
            }
        };
        Self::from_pkcs8_der(pkcs8.as_ref(), "generated key")
    }

    /// Reads a private key file: PKCS#8 (`PRIVATE KEY`) or, for P-256, SEC1 (`EC PRIVATE
    /// KEY`) PEM, unencrypted. Errors name the file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::file(path, "read the key", e))?;
        Self::from_pem(&bytes, &path.display().to_string())
    }

    /// Parses what [`load`](Self::load) reads; `source` names it in errors.
    pub fn from_pem(text: &[u8], source: &str) -> Result<Self> {
        let bad = |m: &str| Error::input(source, m.to_string());
        let sections = <(SectionKind, Vec<u8>)>::pem_slice_iter(text)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::input(source, format!("malformed PEM: {e}")))?;
        for (kind, der) in sections {
            match kind {
                SectionKind::PrivateKey => return Self::from_pkcs8_der(&der, source),
                SectionKind::EcPrivateKey => {
                    let key = EcdsaKeyPair::from_private_key_der(
                        &sig::ECDSA_P256_SHA256_ASN1_SIGNING,
                        &der,
                    )
                    .map_err(|e| {
                        Error::input(source, format!("not a P-256 EC private key: {e}"))
                    })?;
                    let pkcs8 = key
                        .to_pkcs8v1()
                        .map_err(|_| bad("cannot re-encode the EC key as PKCS#8"))?;
                    return Self::from_pkcs8_der(pkcs8.as_ref(), source);
                }
                SectionKind::RsaPrivateKey => {
                    return Err(bad(
                        "an RSA key: pin configs are signed with Ed25519 or ECDSA P-256 \
                         (pin-config keygen makes one)",
                    ))
                }
                SectionKind::PublicKey | SectionKind::Certificate => {
                    return Err(bad(
                        "this is a public key or certificate: signing needs the private key",
                    ))
                }
                _ => {}
            }
        }
        if String::from_utf8_lossy(text).contains("ENCRYPTED PRIVATE KEY") {
            return Err(bad(
                "an encrypted private key: decrypt it first (openssl pkcs8 -topk8 -nocrypt)",
            ));
        }
        Err(bad("no PRIVATE KEY or EC PRIVATE KEY PEM block found"))
    }

    /// A key from unencrypted PKCS#8 DER (Ed25519 v1 or v2, or P-256).
    pub fn from_pkcs8_der(der: &[u8], source: &str) -> Result<Self> {
        let cannot = |what: &str| Error::runtime(format!("{source}: cannot encode the {what}"));
        if let Ok(ed) = Ed25519KeyPair::from_pkcs8(der) {
            let pkcs8 = ed
                .to_pkcs8v1()
                .map_err(|_| cannot("Ed25519 key as PKCS#8"))?
                .as_ref()
                .to_vec();
            let spki = ed.public_key().as_der().map_err(|_| cannot("public key"))?;
            return Ok(Self {
                key_type: KeyType::Ed25519,
                pkcs8,
                ecdsa: None,
                public: VerifyingKey::from_spki_der(spki.as_ref(), source)?,
            });
        }
        match EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_ASN1_SIGNING, der) {
            Ok(ec) => {
                let spki = ec.public_key().as_der().map_err(|_| cannot("public key"))?;
                let public = VerifyingKey::from_spki_der(spki.as_ref(), source)?;
                Ok(Self {
                    key_type: KeyType::EcdsaP256,
                    pkcs8: der.to_vec(),
                    ecdsa: Some(ec),
                    public,
                })
            }
            Err(e) => Err(Error::input(
                source,
                format!("not an Ed25519 or ECDSA P-256 private key (PKCS#8): {e}"),
            )),
        }
    }

    /// The key's algorithm.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The key id: the SPKI pin of its public key.
    pub fn kid(&self) -> &str {
        self.public.kid()
    }

    /// The public half.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.public
    }

    /// The key as an unencrypted PKCS#8 `PRIVATE KEY` PEM. Keep it private.
    pub fn private_key_pem(&self) -> String {
        pem("PRIVATE KEY", &self.pkcs8)
    }

    /// PKCS#8 DER, for jsonwebtoken's `EncodingKey`.
    pub(crate) fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// An ECDSA P-256/SHA-256 signature of `message` in ASN.1 DER; `None` for an Ed25519 key.
    pub(crate) fn sign_ecdsa_asn1(&self, message: &[u8]) -> Option<Result<Vec<u8>>> {
        let ec = self.ecdsa.as_ref()?;
        let rng = aws_lc_rs::rand::SystemRandom::new();
        Some(
            ec.sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| Error::runtime("cannot sign with the ECDSA key")),
        )
    }
}

/// A new key pair as PEM text: (private PKCS#8 `PRIVATE KEY`, public SPKI `PUBLIC KEY`).
pub fn keygen(key_type: KeyType) -> Result<(String, String)> {
    let key = SigningKey::generate(key_type)?;
    Ok((key.private_key_pem(), key.verifying_key().public_key_pem()))
}

/// Where [`write_keypair`] puts the public key of `private`: the same path with the extension
/// `.pub` (`signing.key` → `signing.pub`, `signing` → `signing.pub`).
pub fn public_key_path(private: &Path) -> PathBuf {
    private.with_extension("pub")
}

/// Generates a key pair and writes it: the private key to `private` (mode 0600 from its
/// creation) and the public key to [`public_key_path`] (0644). Refuses to replace either file
/// unless `force`. Returns the key and the public key's path.
pub fn write_keypair(
    private: &Path,
    key_type: KeyType,
    force: bool,
) -> Result<(SigningKey, PathBuf)> {
    let public = public_key_path(private);
    if public == private {
        return Err(Error::input(
            private.display().to_string(),
            "the private key file must not end in .pub (that is the public key's name)",
        ));
    }
    if !force {
        for path in [private, public.as_path()] {
            if path.exists() {
                return Err(Error::input(
                    path.display().to_string(),
                    "already exists (use --force to replace it; configs signed with the old key \
                     then no longer verify with the new one)",
                ));
            }
        }
    }
    let key = SigningKey::generate(key_type)?;
    crate::ca::write_file(
        private,
        key.private_key_pem().as_bytes(),
        0o600,
        "write the private key",
    )?;
    crate::ca::write_file(
        &public,
        key.verifying_key().public_key_pem().as_bytes(),
        0o644,
        "write the public key",
    )?;
    Ok((key, public))
}

/// PEM text: `-----BEGIN LABEL-----`, base64 in 64-column lines, `-----END LABEL-----`.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_through_pem() {
        for key_type in [KeyType::Ed25519, KeyType::EcdsaP256] {
            let (private, public) = keygen(key_type).unwrap();
            assert!(
                private.starts_with("-----BEGIN PRIVATE KEY-----\n"),
                "{private}"
            );
            assert!(
                public.starts_with("-----BEGIN PUBLIC KEY-----\n"),
                "{public}"
            );
            let signing = SigningKey::from_pem(private.as_bytes(), "k").unwrap();
            let verifying = VerifyingKey::from_pem(public.as_bytes(), "k.pub").unwrap();
            assert_eq!(signing.key_type(), key_type);
            assert_eq!(verifying.key_type(), key_type);
            assert_eq!(signing.kid(), verifying.kid());
            assert_eq!(verifying.kid(), pins::spki_pin(verifying.spki_der()));
            assert_eq!(signing.private_key_pem(), private);
            let raw_len = match key_type {
                KeyType::Ed25519 => 32,
                KeyType::EcdsaP256 => 65,
            };
            assert_eq!(verifying.raw_public_key().len(), raw_len);
        }
    }

    #[test]
    fn ed25519_spki_is_the_rfc8410_prefix_and_the_key() {
        let key = SigningKey::generate(KeyType::Ed25519).unwrap();
        let spki = key.verifying_key().spki_der();
        assert_eq!(
            &spki[..12],
            &[0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]
        );
        assert_eq!(&spki[12..], key.verifying_key().raw_public_key());
    }

    #[test]
    fn a_certificate_or_a_wultra_raw_key_verifies_too() {
        let key = SigningKey::generate(KeyType::EcdsaP256).unwrap();
        // The Wultra raw key form gives back the same key.
        let raw =
            base64::engine::general_purpose::STANDARD.encode(key.verifying_key().raw_public_key());
        let from_raw = VerifyingKey::from_pem(format!("{raw}\n").as_bytes(), "wultra.txt").unwrap();
        assert_eq!(&from_raw, key.verifying_key());
        assert_eq!(from_raw.kid(), key.kid());
        // A certificate for the key.
        let kp = rcgen::KeyPair::try_from(key.pkcs8_der()).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["signer.test".into()])
            .unwrap()
            .self_signed(&kp)
            .unwrap();
        let from_cert = VerifyingKey::from_pem(cert.pem().as_bytes(), "cert.pem").unwrap();
        assert_eq!(from_cert.kid(), key.kid());
    }

    #[test]
    fn wrong_key_files_are_input_errors_that_name_the_file() {
        let (private, public) = keygen(KeyType::Ed25519).unwrap();
        let rsa = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let p384 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let cases: Vec<(bool, String, &str)> = vec![
            (true, public.clone(), "this is a public key"),
            (true, "garbage".into(), "no PRIVATE KEY"),
            (true, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n".into(), "encrypted"),
            (true, rsa.serialize_pem(), "not an Ed25519 or ECDSA P-256"),
            (true, p384.serialize_pem(), "not an Ed25519 or ECDSA P-256"),
            (false, private.clone(), "this is a private key"),
            (false, "garbage".into(), "no public key found"),
            (false, rsa.public_key_pem(), "only Ed25519 and ECDSA P-256"),
            (false, p384.public_key_pem(), "another curve"),
        ];
        for (signing, text, want) in cases {
            let err = if signing {
                SigningKey::from_pem(text.as_bytes(), "my.key").unwrap_err()
            } else {
                VerifyingKey::from_pem(text.as_bytes(), "my.key").unwrap_err()
            };
            assert_eq!(err.exit_code(), crate::error::exit::INVALID_INPUT, "{err}");
            let s = err.to_string();
            assert!(s.starts_with("my.key: ") && s.contains(want), "{want}: {s}");
        }
    }

    #[test]
    fn write_keypair_modes_and_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("signing.key");
        let (key, public) = write_keypair(&private, KeyType::EcdsaP256, false).unwrap();
        assert_eq!(public, dir.path().join("signing.pub"));
        assert_eq!(SigningKey::load(&private).unwrap().kid(), key.kid());
        assert_eq!(VerifyingKey::load(&public).unwrap().kid(), key.kid());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&private), 0o600);
            assert_eq!(mode(&public), 0o644);
        }
        let err = write_keypair(&private, KeyType::EcdsaP256, false).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        let (again, _) = write_keypair(&private, KeyType::Ed25519, true).unwrap();
        assert_ne!(again.kid(), key.kid());
        assert!(write_keypair(&dir.path().join("x.pub"), KeyType::Ed25519, false).is_err());
    }
}
