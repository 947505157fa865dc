//! A throwaway PKI for test origins: a root, an intermediate it signs, and named leaf keys
//! (`current`, `next`, ...) whose leaves the intermediate signs. Generated in memory per run;
//! nothing is written unless the caller writes the root out for a client to trust.
//!
//! The certificates follow the RFC 5280 profile that browsers and the CA/Browser Forum apply, so
//! that no TLS stack has a reason to refuse them: each CA's subject names its origin and is
//! unique per run (`CN=pin-proxy test root api 3f9c1a2b`), every certificate carries an
//! Authority Key Identifier equal to its issuer's Subject Key Identifier, and every CA carries a
//! Subject Key Identifier. Stacks that pick an issuer by name (GnuTLS, mbedTLS, wolfSSL) would
//! otherwise take another origin's root from a shared trust bundle and fail the signature.

use std::collections::BTreeMap;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData as _,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use time::{Duration, OffsetDateTime};

use crate::ca::KeyType;
use crate::error::{Error, Result};
use crate::pins;

/// Root, intermediate and named leaf keys.
pub struct OriginPki {
    root_der: CertificateDer<'static>,
    root_pem: String,
    intermediate_der: CertificateDer<'static>,
    intermediate: Issuer<'static, KeyPair>,
    root_pin: String,
    intermediate_pin: String,
    root_name: String,
    intermediate_name: String,
    keys: BTreeMap<String, KeyPair>,
}

impl std::fmt::Debug for OriginPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginPki")
            .field("root", &self.root_name)
            .field("root_pin", &self.root_pin)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn fail(what: &str) -> impl Fn(rcgen::Error) -> Error + '_ {
    move |e| Error::runtime(format!("cannot generate the test PKI ({what}): {e}"))
}

/// A CA's parameters: `CN=<name>`, the Subject Key Identifier (rcgen writes it for every CA) and
/// an Authority Key Identifier (the root's own, as RFC 5280 recommends; the intermediate's names
/// the root's key). `path_len` is `None` for the root, `Some(0)` for the intermediate, which
/// signs only leaves. The intermediate also carries the serverAuth EKU, as the CA/Browser
/// Forum requires of a TLS subordinate CA; a root carries none.
/// Both CAs of a PKI take the same `now`, so the intermediate's validity nests in the root's to
/// the second.
fn ca_params(name: &str, path_len: Option<u8>, now: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    // Most significant first (O, then CN), the order the Baseline Requirements ask for.
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        DnType::OrganizationName,
        "pin-proxy test origin (throwaway)",
    );
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(match path_len {
        None => BasicConstraints::Unconstrained,
        Some(n) => BasicConstraints::Constrained(n),
    });
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    if path_len.is_some() {
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    }
    params.use_authority_key_identifier_extension = true;
    // Around the leaves' validity (two days back, 180 days ahead), so a leaf's nests in its CA's.
    params.not_before = now - Duration::days(3);
    params.not_after = now + Duration::days(400);
    params.serial_number = Some(crate::ca::random_serial());
    params
}

impl OriginPki {
    /// Generates a root, an intermediate and one leaf key per name, for the origin called
    /// `origin` (its name goes into the CA subjects, with an id unique to this PKI).
    pub fn generate(key_type: KeyType, origin: &str, key_names: &[&str]) -> Result<Self> {
        let id = crate::ca::random_id();
        let root_name = format!("pin-proxy test root {origin} {id}");
        let intermediate_name = format!("pin-proxy test intermediate {origin} {id}");
        let root_key = key_type.generate()?;
        let now = OffsetDateTime::now_utc();
        let root_params = ca_params(&root_name, None, now);
        let root = root_params.self_signed(&root_key).map_err(fail("root"))?;
        let root_issuer = Issuer::new(root_params, root_key);

        let int_key = key_type.generate()?;
        let int_params = ca_params(&intermediate_name, Some(0), now);
        let int_cert = int_params
            .signed_by(&int_key, &root_issuer)
            .map_err(fail("intermediate"))?;
        let intermediate_pin = pins::spki_pin(&int_key.subject_public_key_info());
        let root_pin = pins::spki_pin(&root_issuer.key().subject_public_key_info());

        let mut keys = BTreeMap::new();
        for name in key_names {
            keys.insert((*name).to_string(), key_type.generate()?);
        }
        Ok(Self {
            root_der: root.der().clone(),
            root_pem: root.pem(),
            intermediate_der: int_cert.der().clone(),
            intermediate: Issuer::new(int_params, int_key),
            root_pin,
            intermediate_pin,
            root_name,
            intermediate_name,
            keys,
        })
    }

    /// The root's common name, unique to this PKI (`pin-proxy test root api 3f9c1a2b`).
    pub fn root_name(&self) -> &str {
        &self.root_name
    }

    /// The intermediate's common name, unique to this PKI.
    pub fn intermediate_name(&self) -> &str {
        &self.intermediate_name
    }

    /// The root certificate, PEM (what a client trusts).
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// The root certificate, DER.
    pub fn root_der(&self) -> &CertificateDer<'static> {
        &self.root_der
    }

    /// Pin of the root key.
    pub fn root_pin(&self) -> &str {
        &self.root_pin
    }

    /// Pin of the intermediate key.
    pub fn intermediate_pin(&self) -> &str {
        &self.intermediate_pin
    }

    /// Pin of the named leaf key.
    pub fn key_pin(&self, name: &str) -> Option<String> {
        self.keys
            .get(name)
            .map(|k| pins::spki_pin(&k.subject_public_key_info()))
    }

    /// A leaf for `hosts` with the named key, chained leaf → intermediate.
    pub fn leaf(&self, hosts: &[String], key_name: &str) -> Result<Arc<CertifiedKey>> {
        let key = self
            .keys
            .get(key_name)
            .ok_or_else(|| Error::runtime(format!("no origin key named {key_name:?}")))?;
        let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
        let params = crate::ca::leaf::leaf_params(&hosts, key)?;
        let cert = params
            .signed_by(key, &self.intermediate)
            .map_err(fail("leaf"))?;
        let key_der = PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| Error::runtime(format!("origin key: {e}")))?;
        let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key_der)
            .map_err(|e| Error::runtime(format!("origin key: {e}")))?;
        Ok(Arc::new(CertifiedKey::new(
            vec![cert.der().clone(), self.intermediate_der.clone()],
            signing,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::profile::{assert_meets, Role};

    #[test]
    fn each_origin_has_its_own_names_and_every_certificate_meets_its_profile() {
        for key_type in [KeyType::EcdsaP256, KeyType::Rsa2048] {
            let api = OriginPki::generate(key_type, "api", &["current", "next"]).unwrap();
            let cdn = OriginPki::generate(key_type, "cdn", &["current"]).unwrap();
            let again = OriginPki::generate(key_type, "api", &["current"]).unwrap();
            let names = [
                api.root_name(),
                api.intermediate_name(),
                cdn.root_name(),
                cdn.intermediate_name(),
                again.root_name(),
                again.intermediate_name(),
            ];
            let unique: std::collections::HashSet<_> = names.iter().collect();
            assert_eq!(unique.len(), names.len(), "{names:?}");
            assert!(api.root_name().starts_with("pin-proxy test root api "));
            assert!(cdn
                .intermediate_name()
                .starts_with("pin-proxy test intermediate cdn "));

            for pki in [&api, &cdn] {
                let root = pki.root_der();
                assert_meets(pki.root_name(), root, root, Role::Root);
                let leaf = pki
                    .leaf(&["api.example.test".into(), "127.0.0.1".into()], "current")
                    .unwrap();
                let (leaf, int) = (&leaf.cert[0], &leaf.cert[1]);
                assert_meets(pki.intermediate_name(), int, root, Role::Intermediate);
                assert_meets("leaf", leaf, int, Role::Leaf);
                assert_eq!(crate::pins::cert_pin(int).unwrap(), pki.intermediate_pin());
            }
        }
    }
}
