//! A throwaway PKI for test origins: a root, an intermediate it signs, and named leaf keys
//! (`current`, `next`, ...) whose leaves the intermediate signs. Generated in memory per run;
//! nothing is written unless the caller writes the root out for a client to trust.

use std::collections::BTreeMap;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData as _, SanType,
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
    keys: BTreeMap<String, KeyPair>,
}

impl std::fmt::Debug for OriginPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginPki")
            .field("root_pin", &self.root_pin)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn fail(what: &str) -> impl Fn(rcgen::Error) -> Error + '_ {
    move |e| Error::runtime(format!("cannot generate the test PKI ({what}): {e}"))
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.distinguished_name.push(
        DnType::OrganizationName,
        "pin-proxy test origin (throwaway)",
    );
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(30);
    params.serial_number = Some(crate::ca::random_serial());
    params
}

impl OriginPki {
    /// Generates a root, an intermediate and one leaf key per name.
    pub fn generate(key_type: KeyType, key_names: &[&str]) -> Result<Self> {
        let root_key = key_type.generate()?;
        let root_params = ca_params("pin-proxy test root");
        let root = root_params.self_signed(&root_key).map_err(fail("root"))?;
        let root_issuer = Issuer::new(root_params, root_key);

        let int_key = key_type.generate()?;
        let int_params = ca_params("pin-proxy test intermediate");
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
            keys,
        })
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
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(first) = hosts.first() {
            params
                .distinguished_name
                .push(DnType::CommonName, first.as_str());
        }
        for host in hosts {
            params.subject_alt_names.push(match host.parse() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(host.as_str().try_into().map_err(fail("host name"))?),
            });
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(30);
        params.serial_number = Some(crate::ca::random_serial());
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
