//! The local certificate authority: created per install, stored as `ca.pem` + `ca.key` (0600) in
//! the CA directory, loaded by the proxy to sign forged leaves.
//!
//! This module owns the CA's files and identity. Leaf certificates per (host, profile) are in
//! [`leaf`]. Nothing here listens or serves: the install page is the proxy's.

pub mod leaf;
#[cfg(test)]
pub(crate) mod profile;
pub mod subject_hash;

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SerialNumber,
};
use rustls::pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

use crate::error::{Error, Result};
use crate::pins;

/// File name of the CA certificate (PEM) in the CA directory.
pub const CERT_FILE: &str = "ca.pem";
/// File name of the CA private key (PEM, mode 0600) in the CA directory.
pub const KEY_FILE: &str = "ca.key";

/// Key algorithm for the CA and for forged leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum KeyType {
    /// ECDSA on P-256 with SHA-256 (the default: fast, accepted everywhere).
    #[default]
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
    /// RSA 2048 with SHA-256 (for clients or pins that expect RSA).
    #[value(name = "rsa2048")]
    Rsa2048,
}

impl KeyType {
    /// Generates a fresh key of this type.
    pub fn generate(self) -> Result<KeyPair> {
        let key = match self {
            KeyType::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyType::Rsa2048 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
            }
        };
        key.map_err(|e| Error::runtime(format!("cannot generate a {self:?} key: {e}")))
    }
}

/// `N` (at most 16) random bytes. aws-lc's RNG does not fail in practice; should it, the clock's
/// low bytes serve rather than a panic.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        let nanos = OffsetDateTime::now_utc()
            .unix_timestamp_nanos()
            .to_be_bytes();
        bytes.copy_from_slice(&nanos[16 - N.min(16)..]);
    }
    bytes
}

/// Eight hex digits of randomness, which makes a generated CA's name unique (`pin-proxy local CA
/// 3f9c1a2b`): stacks that look an issuer up by name must never find two.
pub(crate) fn random_id() -> String {
    random_bytes::<4>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A random serial number, so no two certificates of one issuer share one.
pub(crate) fn random_serial() -> SerialNumber {
    let mut bytes = random_bytes::<16>();
    bytes[0] &= 0x7f; // positive
    bytes[0] |= 0x01; // and not starting with a zero byte
    SerialNumber::from_slice(&bytes)
}

/// Where a CA lives on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaPaths {
    /// The directory.
    pub dir: PathBuf,
    /// The certificate, PEM.
    pub cert: PathBuf,
    /// The private key, PEM, mode 0600.
    pub key: PathBuf,
}

impl CaPaths {
    /// The file names inside `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            cert: dir.join(CERT_FILE),
            key: dir.join(KEY_FILE),
        }
    }
}

/// The default CA directory: `$PIN_PROXY_HOME`, else `~/.pin-proxy`.
pub fn default_dir() -> Result<PathBuf> {
    if let Some(home) = std::env::var_os("PIN_PROXY_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".pin-proxy")),
        None => Err(Error::input(
            "--ca-dir",
            "neither PIN_PROXY_HOME nor HOME is set: give --ca-dir DIR",
        )),
    }
}

/// A certificate authority: its certificate and the key that signs with it.
pub struct CertificateAuthority {
    paths: Option<CaPaths>,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    subject: String,
    common_name: String,
    not_before: String,
    not_after: String,
    pin: String,
    fingerprint: String,
    subject_hash_old: String,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("subject", &self.subject)
            .field("pin", &self.pin)
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Creates a new CA in `dir` (created 0700 if missing). Refuses to replace an existing one
    /// unless `force`.
    pub fn create(dir: &Path, key_type: KeyType, force: bool) -> Result<Self> {
        let paths = CaPaths::in_dir(dir);
        if !force && (paths.cert.exists() || paths.key.exists()) {
            return Err(Error::input(
                dir.display().to_string(),
                "a CA already exists here (use --force to replace it; every device that trusts \
                 the old one must then install the new one)",
            ));
        }
        let (ca, key_pem) = Self::generate(key_type, "pin-proxy local CA")?;
        create_private_dir(dir)?;
        write_file(
            &paths.cert,
            ca.cert_pem.as_bytes(),
            0o644,
            "write the CA certificate",
        )?;
        write_file(&paths.key, key_pem.as_bytes(), 0o600, "write the CA key")?;
        Ok(Self {
            paths: Some(paths),
            ..ca
        })
    }

    /// An in-memory CA (for the `untrusted-ca` profile and for tests); nothing is written.
    pub fn ephemeral(key_type: KeyType, name: &str) -> Result<Self> {
        Self::generate(key_type, name).map(|(ca, _)| ca)
    }

    fn generate(key_type: KeyType, name: &str) -> Result<(Self, String)> {
        let key = key_type.generate()?;
        let mut params = CertificateParams::default();
        // Most significant first (O, then CN), the order the Baseline Requirements ask for.
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            DnType::OrganizationName,
            "pin-proxy (testing only; generated on this machine)",
        );
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} {}", random_id()));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        // rcgen writes the Subject Key Identifier of every CA; the Authority Key Identifier of a
        // self-signed root repeats it, as RFC 5280 and the Baseline Requirements recommend.
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        // Before the two days a fresh leaf reaches back, so a leaf's validity nests in its CA's.
        params.not_before = now - Duration::days(3);
        params.not_after = now + Duration::days(3650);
        params.serial_number = Some(random_serial());
        let cert = params
            .self_signed(&key)
            .map_err(|e| Error::runtime(format!("cannot sign the CA certificate: {e}")))?;
        let key_pem = key.serialize_pem();
        let ca = Self::from_parts(None, cert.pem(), key)?;
        Ok((ca, key_pem))
    }

    /// Loads the CA in `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let paths = CaPaths::in_dir(dir);
        let cert_pem = read_text(&paths.cert, "read the CA certificate")?;
        let key_pem = read_text(&paths.key, "read the CA key")?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| {
            Error::input(
                paths.key.display().to_string(),
                format!("not a PEM private key: {e}"),
            )
        })?;
        Self::from_parts(Some(paths), cert_pem, key)
    }

    /// Loads the CA in `dir`, creating one if the directory holds neither file. Returns whether
    /// it was created.
    pub fn load_or_create(dir: &Path, key_type: KeyType) -> Result<(Self, bool)> {
        let paths = CaPaths::in_dir(dir);
        match (paths.cert.exists(), paths.key.exists()) {
            (false, false) => Self::create(dir, key_type, false).map(|ca| (ca, true)),
            (true, true) => Self::load(dir).map(|ca| (ca, false)),
            (true, false) => Err(Error::input(
                paths.key.display().to_string(),
                "the CA certificate exists but its key is missing (restore it, or run \
                 `pin-proxy ca init --force` to make a new CA)",
            )),
            (false, true) => Err(Error::input(
                paths.cert.display().to_string(),
                "the CA key exists but its certificate is missing (restore it, or run \
                 `pin-proxy ca init --force` to make a new CA)",
            )),
        }
    }

    fn from_parts(paths: Option<CaPaths>, cert_pem: String, key: KeyPair) -> Result<Self> {
        let where_ = paths.as_ref().map_or_else(
            || "CA certificate".to_string(),
            |p| p.cert.display().to_string(),
        );
        let mut certs =
            pins::pem_certs(cert_pem.as_bytes()).map_err(|e| Error::input(&where_, e))?;
        let cert_der = certs.swap_remove(0);
        let (_, x509) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| Error::input(&where_, format!("not an X.509 certificate: {e}")))?;
        let spki = x509.tbs_certificate.subject_pki.raw;
        use rcgen::PublicKeyData as _;
        if key.subject_public_key_info() != spki {
            return Err(Error::input(
                &where_,
                "the CA key does not belong to this certificate",
            ));
        }
        let subject = x509.subject().to_string();
        let common_name = x509
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or_default()
            .to_string();
        let validity = x509.validity();
        let not_before = rfc3339(validity.not_before.to_datetime());
        let not_after = rfc3339(validity.not_after.to_datetime());
        let pin = pins::spki_pin(spki);
        let fingerprint = fingerprint(&cert_der);
        let subject_hash_old = subject_hash::subject_hash_old(x509.subject().as_raw());
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)
            .map_err(|e| Error::input(&where_, format!("cannot use it as an issuer: {e}")))?;
        Ok(Self {
            paths,
            cert_pem,
            cert_der,
            issuer,
            subject,
            common_name,
            not_before,
            not_after,
            pin,
            fingerprint,
            subject_hash_old,
        })
    }

    /// Where the CA is stored (`None` for an ephemeral CA).
    pub fn paths(&self) -> Option<&CaPaths> {
        self.paths.as_ref()
    }

    /// The certificate in PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The certificate in DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The subject distinguished name, e.g. `O=pin-proxy (...), CN=pin-proxy local CA 1a2b3c4d`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The subject's common name, e.g. `pin-proxy local CA 1a2b3c4d` (empty if it has none).
    pub fn common_name(&self) -> &str {
        &self.common_name
    }

    /// Start of validity (RFC 3339).
    pub fn not_before(&self) -> &str {
        &self.not_before
    }

    /// End of validity (RFC 3339).
    pub fn not_after(&self) -> &str {
        &self.not_after
    }

    /// SPKI SHA-256 pin of the CA key (base64).
    pub fn pin(&self) -> &str {
        &self.pin
    }

    /// SHA-256 of the whole certificate, upper-case hex in colon-separated pairs
    /// (`AB:CD:...`), as `openssl x509 -fingerprint -sha256` and the platforms' certificate
    /// details show it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// OpenSSL's old subject hash (`openssl x509 -subject_hash_old`), 8 hex digits: Android's
    /// system store names the CA file `<hash>.0`.
    pub fn subject_hash_old(&self) -> &str {
        &self.subject_hash_old
    }

    /// The issuer that signs leaves.
    pub(crate) fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }
}

/// SHA-256 of `der`, upper-case hex pairs joined by colons.
fn fingerprint(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

/// RFC 3339 in UTC, seconds precision.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&fmt).unwrap_or_else(|_| t.to_string())
}

fn read_text(path: &Path, action: &'static str) -> Result<String> {
    fs::read_to_string(path).map_err(|e| Error::file(path, action, e))
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| Error::file(dir, "create the CA directory", e))
}

/// Writes a file with `mode` from its creation on (no window where a key is world-readable).
pub(crate) fn write_file(path: &Path, bytes: &[u8], mode: u32, action: &'static str) -> Result<()> {
    #[cfg(not(unix))]
    let _ = mode;
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(mode);
    }
    let write = || -> io::Result<()> {
        let mut f = opts.open(path)?;
        #[cfg(unix)]
        {
            // `mode` only applies to new files: tighten an existing one too.
            use std::os::unix::fs::PermissionsExt as _;
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        f.write_all(bytes)?;
        f.sync_all()
    };
    write().map_err(|e| Error::file(path, action, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_load_round_trip_with_private_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let created = CertificateAuthority::create(dir.path(), KeyType::EcdsaP256, false).unwrap();
        let loaded = CertificateAuthority::load(dir.path()).unwrap();
        assert_eq!(created.pin(), loaded.pin());
        assert_eq!(created.fingerprint(), loaded.fingerprint());
        let fp = loaded.fingerprint();
        assert_eq!(fp.len(), 32 * 3 - 1, "{fp}");
        assert!(fp.split(':').all(|b| b.len() == 2
            && b.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())));
        assert_eq!(created.cert_der(), loaded.cert_der());
        assert!(
            loaded.subject().contains("pin-proxy local CA"),
            "{}",
            loaded.subject()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second create without force is refused; with force it makes a different CA.
        assert!(CertificateAuthority::create(dir.path(), KeyType::EcdsaP256, false).is_err());
        let replaced = CertificateAuthority::create(dir.path(), KeyType::Rsa2048, true).unwrap();
        assert_ne!(replaced.pin(), created.pin());
    }

    #[test]
    fn every_ca_meets_the_root_profile_and_has_a_name_of_its_own() {
        use profile::{assert_meets, Role};
        let dir = tempfile::tempdir().unwrap();
        let mut names = std::collections::HashSet::new();
        for key_type in [KeyType::EcdsaP256, KeyType::Rsa2048] {
            let local = CertificateAuthority::create(dir.path(), key_type, true).unwrap();
            let scenario =
                CertificateAuthority::ephemeral(key_type, "pin-proxy scenario CA").unwrap();
            for ca in [local, scenario] {
                assert_meets(ca.subject(), ca.cert_der(), ca.cert_der(), Role::Root);
                assert!(
                    names.insert(ca.common_name().to_string()),
                    "{}",
                    ca.subject()
                );
                assert!(ca.subject().contains(ca.common_name()));
            }
        }
        let untrusted = leaf::LeafIssuer::new(
            std::sync::Arc::new(CertificateAuthority::load(dir.path()).unwrap()),
            KeyType::EcdsaP256,
            Vec::new(),
        )
        .unwrap();
        let untrusted = untrusted.untrusted_ca();
        assert_meets(
            "untrusted CA",
            untrusted.cert_der(),
            untrusted.cert_der(),
            Role::Root,
        );
        assert!(names.insert(untrusted.common_name().to_string()));
    }

    #[test]
    fn mismatched_or_garbage_files_are_input_errors() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        CertificateAuthority::create(a.path(), KeyType::EcdsaP256, false).unwrap();
        CertificateAuthority::create(b.path(), KeyType::EcdsaP256, false).unwrap();
        fs::copy(b.path().join(KEY_FILE), a.path().join(KEY_FILE)).unwrap();
        let err = CertificateAuthority::load(a.path()).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::exit::INVALID_INPUT);
        assert!(err.to_string().contains("does not belong"), "{err}");

        fs::write(b.path().join(CERT_FILE), "garbage").unwrap();
        let err = CertificateAuthority::load(b.path()).unwrap_err();
        assert!(err.to_string().contains("ca.pem"), "{err}");

        let empty = tempfile::tempdir().unwrap();
        let err = CertificateAuthority::load(empty.path()).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::exit::INVALID_INPUT);
        fs::write(empty.path().join(KEY_FILE), "x").unwrap();
        assert!(CertificateAuthority::load_or_create(empty.path(), KeyType::EcdsaP256).is_err());
    }
}
