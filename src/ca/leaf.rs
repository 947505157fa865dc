//! Leaf certificates the proxy presents, one per (host, profile), cached.
//!
//! Each profile signs with a key of its own, generated at start and reused across hosts, and none
//! of them is the CA's key: a pin on a forged leaf must never equal the CA's pin, or rotation cases
//! (leaf pin vs CA pin) could not be told apart. User-supplied certificates (`--cert`) are loaded
//! here too.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, PublicKeyData,
    SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use time::{Duration, OffsetDateTime};

use super::{random_serial, CertificateAuthority, KeyType};
use crate::error::{Error, Result};
use crate::record::PresentedCert;
use crate::rules::{most_specific, unbracket, HostGlob, Profile};
use crate::trust::{CertInfo, CertSource};
use crate::{lock, pins};

/// Host name the `wrong-host` profile's certificate is issued for.
pub const WRONG_HOST_NAME: &str = "wrong-host.pin-proxy.invalid";
/// Cache entries kept before the cache is emptied (keeps memory bounded on host scans).
const CACHE_LIMIT: usize = 10_000;

/// A certificate chain and key ready for rustls, with the pin of its leaf.
#[derive(Debug)]
pub struct Leaf {
    /// Chain (leaf first) and signing key.
    pub certified: Arc<CertifiedKey>,
    /// SPKI SHA-256 pin (base64) of the leaf.
    pub pin: String,
    /// The chain as the events file describes it (`presented_chain`), described once here.
    pub presented: Arc<[PresentedCert]>,
}

/// A certificate and key the user supplied for some hosts.
#[derive(Debug)]
pub struct CustomCert {
    /// Hosts it is presented for.
    pub hosts: HostGlob,
    /// The certificate.
    pub leaf: Arc<Leaf>,
}

impl CustomCert {
    /// Parses `HOST=cert.pem,key.pem` and loads both files (the cert file may hold a chain).
    pub fn load(spec: &str) -> Result<Self> {
        let bad = |m: String| Error::input("--cert", m);
        let (host, files) = spec
            .split_once('=')
            .ok_or_else(|| bad(format!("expected HOST=cert.pem,key.pem, got {spec:?}")))?;
        let (cert_path, key_path) = files
            .split_once(',')
            .ok_or_else(|| bad(format!("expected HOST=cert.pem,key.pem, got {spec:?}")))?;
        let hosts = HostGlob::parse(host).map_err(bad)?;
        let (cert_path, key_path) = (Path::new(cert_path.trim()), Path::new(key_path.trim()));
        let cert_pem = std::fs::read(cert_path)
            .map_err(|e| Error::file(cert_path, "read the --cert certificate", e))?;
        let key_pem =
            std::fs::read(key_path).map_err(|e| Error::file(key_path, "read the --cert key", e))?;
        let chain = pins::pem_certs(&cert_pem)
            .map_err(|e| Error::input(cert_path.display().to_string(), e))?;
        use rustls::pki_types::pem::PemObject as _;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            Error::input(
                key_path.display().to_string(),
                format!("no usable private key: {e}"),
            )
        })?;
        let leaf = certified(chain, key).map_err(|e| {
            bad(format!(
                "{} with {}: {e}",
                cert_path.display(),
                key_path.display()
            ))
        })?;
        Ok(Self {
            hosts,
            leaf: Arc::new(leaf),
        })
    }
}

/// Issues and caches the leaves of every profile.
pub struct LeafIssuer {
    ca: Arc<CertificateAuthority>,
    untrusted_ca: CertificateAuthority,
    keys: HashMap<Profile, KeyPair>,
    custom: Vec<CustomCert>,
    cache: Mutex<HashMap<(String, Profile), Arc<Leaf>>>,
}

impl std::fmt::Debug for LeafIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafIssuer").finish_non_exhaustive()
    }
}

impl LeafIssuer {
    /// Generates one key per generated profile (of `key_type`) and the untrusted second CA.
    pub fn new(
        ca: Arc<CertificateAuthority>,
        key_type: KeyType,
        custom: Vec<CustomCert>,
    ) -> Result<Self> {
        let mut keys = HashMap::new();
        for profile in Profile::ALL {
            if profile != Profile::Custom {
                keys.insert(profile, key_type.generate()?);
            }
        }
        let untrusted_ca =
            CertificateAuthority::ephemeral(KeyType::EcdsaP256, "pin-proxy untrusted CA")?;
        Ok(Self {
            ca,
            untrusted_ca,
            keys,
            custom,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The CA that signs `forged`, `wrong-host` and `expired` leaves.
    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// The second CA, generated at start, that signs `untrusted-ca` leaves and that nobody
    /// trusts.
    pub fn untrusted_ca(&self) -> &CertificateAuthority {
        &self.untrusted_ca
    }

    /// The pin of the key a generated profile signs with (the same for every host), or `None`
    /// for `custom`.
    pub fn profile_pin(&self, profile: Profile) -> Option<String> {
        self.keys
            .get(&profile)
            .map(|k| pins::spki_pin(&k.subject_public_key_info()))
    }

    /// The leaf for `host` under `profile`, issued on first use and cached.
    pub fn leaf(&self, host: &str, profile: Profile) -> Result<Arc<Leaf>> {
        let host = host.to_ascii_lowercase();
        if profile == Profile::Custom {
            // The most specific pattern wins, as for rules.
            return most_specific(&self.custom, |c| &c.hosts, &host)
                .map(|c| c.leaf.clone())
                .ok_or_else(|| {
                    Error::input("--profile", format!("no --cert certificate covers {host}"))
                });
        }
        let key = (host, profile);
        if let Some(leaf) = lock(&self.cache).get(&key) {
            return Ok(leaf.clone());
        }
        let leaf = Arc::new(self.issue(&key.0, profile)?);
        let mut cache = lock(&self.cache);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, leaf.clone());
        Ok(leaf)
    }

    fn issue(&self, host: &str, profile: Profile) -> Result<Leaf> {
        let key = self
            .keys
            .get(&profile)
            .ok_or_else(|| Error::runtime(format!("no key for profile {profile}")))?;
        let name = if profile == Profile::WrongHost {
            WRONG_HOST_NAME
        } else {
            host
        };
        let mut params = leaf_params(&[name], key)?;
        if profile == Profile::Expired {
            let now = OffsetDateTime::now_utc();
            params.not_before = now - Duration::days(60);
            params.not_after = now - Duration::days(30);
        }
        let fail = |e: rcgen::Error| {
            Error::runtime(format!("cannot issue a {profile} leaf for {host}: {e}"))
        };
        let (cert, issuer_der) = match profile {
            Profile::SelfSigned => {
                // Self-signed and no CA: no key identifiers to link (RFC 5280 lets it omit the
                // Authority Key Identifier), so it is refused for being self-signed only.
                params.use_authority_key_identifier_extension = false;
                (params.self_signed(key).map_err(fail)?, None)
            }
            Profile::UntrustedCa => (
                params
                    .signed_by(key, self.untrusted_ca.issuer())
                    .map_err(fail)?,
                Some(self.untrusted_ca.cert_der().clone()),
            ),
            _ => (
                params.signed_by(key, self.ca.issuer()).map_err(fail)?,
                Some(self.ca.cert_der().clone()),
            ),
        };
        let mut chain = vec![cert.der().clone()];
        chain.extend(issuer_der);
        let key_der = PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| Error::runtime(format!("cannot use the {profile} key: {e}")))?;
        certified(chain, key_der).map_err(Error::runtime)
    }
}

/// Parameters of a server leaf for `hosts` (the first is the common name; IP literals get IP
/// SANs), valid from two days ago for 180 days: under the 200 days the CA/Browser Forum allows
/// since March 2026 (and Apple's 398). Key usage follows the key: digitalSignature, plus keyEncipherment for RSA only (RFC
/// 8813 and the Baseline Requirements forbid it on an EC key). The Authority Key Identifier
/// names the issuer's key; rcgen writes no Subject Key Identifier for a leaf, which the
/// Baseline Requirements do not recommend there.
pub(crate) fn leaf_params(hosts: &[&str], key: &KeyPair) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(first) = hosts.first() {
        params.distinguished_name.push(DnType::CommonName, *first);
    }
    for host in hosts {
        params
            .subject_alt_names
            .push(match unbracket(host).parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*host).try_into().map_err(|e| {
                    Error::input(
                        "host",
                        format!("{host:?} cannot be a certificate name: {e}"),
                    )
                })?),
            });
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let rsa = [
        &rcgen::PKCS_RSA_SHA256,
        &rcgen::PKCS_RSA_SHA384,
        &rcgen::PKCS_RSA_SHA512,
    ];
    if rsa.contains(&key.algorithm()) {
        params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(2);
    params.not_after = now + Duration::days(180);
    params.serial_number = Some(random_serial());
    Ok(params)
}

/// A chain and its key as rustls presents them, the key checked to be the leaf's, with the
/// leaf's pin (for `--cert` leaves and `--client-cert` entries).
pub(crate) fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Leaf, String> {
    let first = chain.first().ok_or("empty certificate chain")?;
    let pin = pins::cert_pin(first)?;
    let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
        .map_err(|e| format!("unsupported private key: {e}"))?;
    let certified = CertifiedKey::new(chain, signing);
    // A key that is not the certificate's would make every handshake fail its signature
    // check: a "cancel" made up by a configuration mistake.
    certified
        .keys_match()
        .map_err(|e| format!("the key does not belong to the certificate ({e})"))?;
    let presented = describe(&certified.cert, 0).into();
    Ok(Leaf {
        certified: Arc::new(certified),
        pin,
        presented,
    })
}

/// The events file's description of `certs`, the first at `position` `first`.
pub fn describe(certs: &[CertificateDer<'_>], first: usize) -> Vec<PresentedCert> {
    certs
        .iter()
        .enumerate()
        .map(|(i, der)| {
            let info = CertInfo::of(der, first + i, CertSource::Sent);
            PresentedCert {
                position: info.position,
                subject: info.subject,
                issuer: info.issuer,
                pin: info.pin,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(key_type: KeyType) -> LeafIssuer {
        let ca = CertificateAuthority::ephemeral(KeyType::EcdsaP256, "test CA").unwrap();
        LeafIssuer::new(Arc::new(ca), key_type, vec![]).unwrap()
    }

    #[test]
    fn every_profile_has_its_own_key_and_none_is_the_cas() {
        let issuer = issuer(KeyType::EcdsaP256);
        let mut seen = std::collections::HashSet::new();
        seen.insert(issuer.ca().pin().to_string());
        for profile in Profile::ALL.into_iter().filter(|p| *p != Profile::Custom) {
            let leaf = issuer.leaf("api.test", profile).unwrap();
            assert_eq!(Some(leaf.pin.clone()), issuer.profile_pin(profile));
            assert!(seen.insert(leaf.pin.clone()), "{profile} reuses a key");
        }
    }

    #[test]
    fn leaves_are_cached_and_name_the_host() {
        let issuer = issuer(KeyType::EcdsaP256);
        let a = issuer.leaf("API.test", Profile::Forged).unwrap();
        let b = issuer.leaf("api.test", Profile::Forged).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let der = &a.certified.cert[0];
        let (_, x) = x509_parser::parse_x509_certificate(der).unwrap();
        let san = x.subject_alternative_name().unwrap().unwrap();
        assert_eq!(
            format!("{:?}", san.value.general_names),
            "[DNSName(\"api.test\")]"
        );
        assert_eq!(a.certified.cert.len(), 2, "leaf + CA");

        let ip = issuer.leaf("127.0.0.1", Profile::Forged).unwrap();
        let (_, x) = x509_parser::parse_x509_certificate(&ip.certified.cert[0]).unwrap();
        let san = x.subject_alternative_name().unwrap().unwrap();
        assert!(format!("{:?}", san.value.general_names).contains("IPAddress"));
    }

    #[test]
    fn every_profile_meets_the_server_certificate_profile_but_for_its_one_flaw() {
        use crate::ca::profile::{assert_meets, problems, Role};
        for key_type in [KeyType::EcdsaP256, KeyType::Rsa2048] {
            // A CA as `ca init` writes it and `proxy` loads it, so the issuer comes from a file.
            let dir = tempfile::tempdir().unwrap();
            CertificateAuthority::create(dir.path(), key_type, false).unwrap();
            let ca = CertificateAuthority::load(dir.path()).unwrap();
            let issuer = LeafIssuer::new(Arc::new(ca), key_type, vec![]).unwrap();
            let ca_der = issuer.ca().cert_der().clone();
            let untrusted = issuer.untrusted_ca().cert_der().clone();
            for profile in Profile::ALL.into_iter().filter(|p| *p != Profile::Custom) {
                let leaf = issuer.leaf("api.test", profile).unwrap();
                let chain = &leaf.certified.cert;
                let what = format!("{key_type:?} {profile}");
                match profile {
                    Profile::SelfSigned => {
                        assert_eq!(chain.len(), 1);
                        assert_meets(&what, &chain[0], &chain[0], Role::Leaf);
                    }
                    Profile::UntrustedCa => {
                        assert_eq!(chain[1], untrusted);
                        assert_meets(&what, &chain[0], &untrusted, Role::Leaf);
                    }
                    Profile::Expired => {
                        // Its one flaw: validity ended, and began before its CA's.
                        let p = problems(&chain[0], &ca_der, Role::Leaf);
                        assert_eq!(p, ["validity does not nest in the issuer's"], "{what}");
                    }
                    _ => {
                        assert_eq!(chain[1], ca_der);
                        assert_meets(&what, &chain[0], &ca_der, Role::Leaf);
                    }
                }
            }
        }
    }

    #[test]
    fn expired_and_wrong_host_look_the_part() {
        let issuer = issuer(KeyType::Rsa2048);
        let expired = issuer.leaf("api.test", Profile::Expired).unwrap();
        let (_, x) = x509_parser::parse_x509_certificate(&expired.certified.cert[0]).unwrap();
        assert!(!x.validity().is_valid());
        let wrong = issuer.leaf("api.test", Profile::WrongHost).unwrap();
        let (_, x) = x509_parser::parse_x509_certificate(&wrong.certified.cert[0]).unwrap();
        assert!(x.subject().to_string().contains(WRONG_HOST_NAME));
        let selfs = issuer.leaf("api.test", Profile::SelfSigned).unwrap();
        assert_eq!(selfs.certified.cert.len(), 1);
        assert!(issuer.leaf("api.test", Profile::Custom).is_err());
    }
}
