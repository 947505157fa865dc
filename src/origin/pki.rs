//! A throwaway PKI for test origins: a chain of 2 to 6 certificates (a root, the intermediates
//! it signs down to the one that signs leaves, and named leaf keys `current`, `next`, ... whose
//! leaves that last CA signs). Root → intermediate → leaf unless the caller asks for another
//! [`ChainSpec`]. Generated in memory per run; nothing is written unless the caller writes the
//! root out for a client to trust.
//!
//! The certificates follow the RFC 5280 profile that browsers and the CA/Browser Forum apply, so
//! that no TLS stack has a reason to refuse them: each generated CA's subject names its origin
//! and is unique per run (`CN=pin-proxy test root api 3f9c1a2b`), every certificate carries an
//! Authority Key Identifier equal to its issuer's Subject Key Identifier, every CA carries a
//! Subject Key Identifier, and each intermediate's pathLenConstraint is the number of CAs below
//! it. Stacks that pick an issuer by name (GnuTLS, mbedTLS, wolfSSL) would otherwise take
//! another origin's root from a shared trust bundle and fail the signature. A subject the caller
//! gives (to reproduce a logged chain) is used as given; keeping given CA subjects apart from
//! other origins' is the caller's part (`scenario::parse` refuses a shared one).

use std::collections::BTreeMap;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData as _,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use time::{Duration, OffsetDateTime};

use crate::ca::KeyType;
use crate::dn::{Attribute, DistinguishedName};
use crate::error::{Error, Result};
use crate::pins;

/// The organization of every generated CA subject.
const GENERATED_ORGANIZATION: &str = "pin-proxy test origin (throwaway)";

/// The shape of an origin's chain: how many certificates it has (its depth, leaf and root
/// included) and, per position, the subject to use or `None` for a generated one. Position 0 is
/// the leaf; position K (1 ..= depth - 1) is the CA called `caK`: ca1 signs the leaf, the last
/// is the root. Always 2 to 6 positions, no two given subjects the same name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainSpec {
    subjects: Vec<Option<DistinguishedName>>,
}

impl ChainSpec {
    /// The shortest chain: a root that signs the leaf.
    pub const MIN_DEPTH: usize = 2;
    /// The longest chain: a root, four intermediates and the leaf.
    pub const MAX_DEPTH: usize = 6;
    /// Root → intermediate → leaf.
    pub const DEFAULT_DEPTH: usize = 3;

    /// A chain of `depth` certificates with generated subjects.
    pub fn generated(depth: usize) -> std::result::Result<Self, String> {
        Self::new(vec![None; depth])
    }

    /// A chain with these subjects, leaf first and root last (`None`: generated); its length is
    /// the depth. Errors (in words, for the caller to place) when the depth is outside
    /// [`MIN_DEPTH`](Self::MIN_DEPTH) ..= [`MAX_DEPTH`](Self::MAX_DEPTH) or two positions
    /// are given the same name.
    pub fn new(subjects: Vec<Option<DistinguishedName>>) -> std::result::Result<Self, String> {
        let depth = subjects.len();
        if !(Self::MIN_DEPTH..=Self::MAX_DEPTH).contains(&depth) {
            return Err(format!(
                "a chain of {depth} certificate(s): a chain has {} to {} (leaf and root included)",
                Self::MIN_DEPTH,
                Self::MAX_DEPTH
            ));
        }
        for (i, a) in subjects.iter().enumerate() {
            let Some(a) = a else { continue };
            if let Some(j) = subjects[..i]
                .iter()
                .position(|b| b.as_ref().is_some_and(|b| b.same_name(a)))
            {
                return Err(format!(
                    "{} and {} have the same subject {:?}: each certificate of a chain needs \
                     its own, or a client takes one for the other's issuer",
                    position_name(j, depth),
                    position_name(i, depth),
                    a.to_string()
                ));
            }
        }
        Ok(Self { subjects })
    }

    /// The number of certificates, leaf and root included.
    pub fn depth(&self) -> usize {
        self.subjects.len()
    }

    /// The subject given for `position` (0: the leaf, K: caK), or `None` when it is generated
    /// (or there is no such position).
    pub fn subject(&self, position: usize) -> Option<&DistinguishedName> {
        self.subjects.get(position).and_then(Option::as_ref)
    }

    /// The given CA subjects with their level (K of caK), ca1 first.
    pub fn given_cas(&self) -> impl Iterator<Item = (usize, &DistinguishedName)> {
        self.subjects
            .iter()
            .enumerate()
            .skip(1)
            .filter_map(|(k, s)| s.as_ref().map(|s| (k, s)))
    }
}

impl Default for ChainSpec {
    /// Root → intermediate → leaf, all generated.
    fn default() -> Self {
        Self {
            subjects: vec![None; Self::DEFAULT_DEPTH],
        }
    }
}

/// `the leaf`, `ca1`, ..., `the root (caN)`: a position in words, for errors.
fn position_name(position: usize, depth: usize) -> String {
    match position {
        0 => "the leaf".to_string(),
        p if p + 1 == depth => format!("the root (ca{p})"),
        p => format!("ca{p}"),
    }
}

/// A CA of the chain.
struct Ca {
    der: CertificateDer<'static>,
    pem: String,
    pin: String,
    subject: DistinguishedName,
    /// Its common name (the whole subject when it has none).
    name: String,
    /// Whether the subject was generated (unique to the run) rather than given.
    generated: bool,
}

/// A chain's CAs (ca1, the leaves' issuer, first; the root last), the leaf subject if one was
/// given, and named leaf keys.
pub struct OriginPki {
    cas: Vec<Ca>,
    /// ca1, which signs the leaves.
    signer: Issuer<'static, KeyPair>,
    leaf_subject: Option<DistinguishedName>,
    keys: BTreeMap<String, KeyPair>,
}

impl std::fmt::Debug for OriginPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginPki")
            .field("depth", &self.depth())
            .field("root", &self.root_name())
            .field("root_pin", &self.root_pin())
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn fail(what: &str) -> impl Fn(rcgen::Error) -> Error + '_ {
    move |e| Error::runtime(format!("cannot generate the test PKI ({what}): {e}"))
}

/// A CA's parameters: its subject, the Subject Key Identifier (rcgen writes it for every CA) and
/// an Authority Key Identifier (the root's own, as RFC 5280 recommends; an intermediate's names
/// its issuer's key). `path_len` is `None` for the root and, for an intermediate, the number of
/// CAs below it (0 for the one that signs leaves). An intermediate also carries the serverAuth
/// EKU, as the CA/Browser Forum requires of a TLS subordinate CA; a root carries none.
/// All CAs of a PKI take the same `now`, so each one's validity nests in its issuer's to the
/// second.
fn ca_params(
    subject: &DistinguishedName,
    path_len: Option<u8>,
    now: OffsetDateTime,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    // Most significant first (O, then CN for generated names), the order the Baseline
    // Requirements ask for: the reverse of the RFC 4514 string.
    params.distinguished_name = subject.to_rcgen();
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

/// The generated common name of CA `level` of a chain of `depth`: `pin-proxy test root api
/// 3f9c1a2b` for the root, `pin-proxy test intermediate api 3f9c1a2b` for ca1 and
/// `pin-proxy test intermediate K api 3f9c1a2b` for caK between them.
fn generated_name(level: usize, depth: usize, origin: &str, id: &str) -> String {
    match level {
        l if l + 1 == depth => format!("pin-proxy test root {origin} {id}"),
        1 => format!("pin-proxy test intermediate {origin} {id}"),
        l => format!("pin-proxy test intermediate {l} {origin} {id}"),
    }
}

impl OriginPki {
    /// Generates a root, an intermediate and one leaf key per name, for the origin called
    /// `origin` (its name goes into the CA subjects, with an id unique to this PKI): the
    /// default [`ChainSpec`].
    pub fn generate(key_type: KeyType, origin: &str, key_names: &[&str]) -> Result<Self> {
        Self::generate_chain(key_type, origin, &ChainSpec::default(), key_names)
    }

    /// Generates the chain `chain` describes (its depth; given subjects as given, the others
    /// named after `origin` with an id unique to this PKI) and one leaf key per name.
    pub fn generate_chain(
        key_type: KeyType,
        origin: &str,
        chain: &ChainSpec,
        key_names: &[&str],
    ) -> Result<Self> {
        let depth = chain.depth();
        let id = crate::ca::random_id();
        let now = OffsetDateTime::now_utc();
        // From the root down: each CA is signed by the one generated before it.
        let mut cas: Vec<Ca> = Vec::new();
        let mut issuer: Option<Issuer<'static, KeyPair>> = None;
        for level in (1..depth).rev() {
            let (subject, generated) = match chain.subject(level) {
                Some(given) => (given.clone(), false),
                None => (
                    DistinguishedName::from_attributes(vec![
                        (
                            Attribute::CommonName,
                            generated_name(level, depth, origin, &id),
                        ),
                        (Attribute::Organization, GENERATED_ORGANIZATION.to_string()),
                    ])
                    .map_err(|e| Error::runtime(format!("cannot name a test CA: {e}")))?,
                    true,
                ),
            };
            let key = key_type.generate()?;
            let pin = pins::spki_pin(&key.subject_public_key_info());
            // ca1 signs only leaves (0 CAs below it), ca2 signs ca1 (1), ...; the root is free.
            let path_len = (level + 1 < depth).then(|| u8::try_from(level - 1).unwrap_or(u8::MAX));
            let params = ca_params(&subject, path_len, now);
            let what = position_name(level, depth);
            let cert = match &issuer {
                None => params.self_signed(&key).map_err(fail(&what))?,
                Some(above) => params.signed_by(&key, above).map_err(fail(&what))?,
            };
            let name = subject
                .common_name()
                .map_or_else(|| subject.to_string(), str::to_string);
            cas.push(Ca {
                der: cert.der().clone(),
                pem: cert.pem(),
                pin,
                subject,
                name,
                generated,
            });
            issuer = Some(Issuer::new(params, key));
        }
        cas.reverse();
        let signer = issuer.ok_or_else(|| Error::runtime("a test PKI needs at least a root"))?;

        let mut keys = BTreeMap::new();
        for name in key_names {
            keys.insert((*name).to_string(), key_type.generate()?);
        }
        Ok(Self {
            cas,
            signer,
            leaf_subject: chain.subject(0).cloned(),
            keys,
        })
    }

    /// The number of certificates in the chain, leaf and root included.
    pub fn depth(&self) -> usize {
        self.cas.len() + 1
    }

    fn ca(&self, level: usize) -> Option<&Ca> {
        self.cas.get(level.checked_sub(1)?)
    }

    fn root(&self) -> &Ca {
        // `generate_chain` makes at least a root.
        &self.cas[self.cas.len() - 1]
    }

    /// Pin of CA `level` (1: the CA that signs the leaves, `depth() - 1`: the root).
    pub fn ca_pin(&self, level: usize) -> Option<&str> {
        self.ca(level).map(|c| c.pin.as_str())
    }

    /// CA `level`'s certificate, DER.
    pub fn ca_der(&self, level: usize) -> Option<&CertificateDer<'static>> {
        self.ca(level).map(|c| &c.der)
    }

    /// CA `level`'s certificate, PEM.
    pub fn ca_pem(&self, level: usize) -> Option<&str> {
        self.ca(level).map(|c| c.pem.as_str())
    }

    /// CA `level`'s subject, as encoded (given, or generated: `CN=pin-proxy test root api
    /// 3f9c1a2b,O=pin-proxy test origin (throwaway)`).
    pub fn ca_subject(&self, level: usize) -> Option<&DistinguishedName> {
        self.ca(level).map(|c| &c.subject)
    }

    /// CA `level`'s common name (its whole subject when it has none).
    pub fn ca_name(&self, level: usize) -> Option<&str> {
        self.ca(level).map(|c| c.name.as_str())
    }

    /// CA `level`'s common name when it was generated (unique to this PKI, so reports can
    /// redact it); `None` for a subject the caller gave, or no such CA.
    pub fn generated_ca_name(&self, level: usize) -> Option<&str> {
        self.ca(level)
            .filter(|c| c.generated)
            .map(|c| c.name.as_str())
    }

    /// The leaf subject the chain gives, if any (else a leaf's is `CN=` its first host).
    pub fn leaf_subject(&self) -> Option<&DistinguishedName> {
        self.leaf_subject.as_ref()
    }

    /// The root's common name, unique to this PKI when generated
    /// (`pin-proxy test root api 3f9c1a2b`).
    pub fn root_name(&self) -> &str {
        &self.root().name
    }

    /// The intermediate's (ca1's) common name; `None` at depth 2, where the root signs leaves.
    pub fn intermediate_name(&self) -> Option<&str> {
        self.intermediate().map(|c| c.name.as_str())
    }

    /// The root certificate, PEM (what a client trusts).
    pub fn root_pem(&self) -> &str {
        &self.root().pem
    }

    /// The root certificate, DER.
    pub fn root_der(&self) -> &CertificateDer<'static> {
        &self.root().der
    }

    /// Pin of the root key.
    pub fn root_pin(&self) -> &str {
        &self.root().pin
    }

    /// Pin of the intermediate (ca1) key; `None` at depth 2.
    pub fn intermediate_pin(&self) -> Option<&str> {
        self.intermediate().map(|c| c.pin.as_str())
    }

    fn intermediate(&self) -> Option<&Ca> {
        (self.depth() > 2).then(|| self.ca(1)).flatten()
    }

    /// Pin of the named leaf key.
    pub fn key_pin(&self, name: &str) -> Option<String> {
        self.keys
            .get(name)
            .map(|k| pins::spki_pin(&k.subject_public_key_info()))
    }

    /// A leaf for `hosts` (its subjectAltName; its subject is the chain's given leaf subject,
    /// else `CN=` the first host) with the named key, signed by ca1. The chain it presents is
    /// the leaf and every intermediate, leaf first, without the root: at depth 2 the leaf alone.
    pub fn leaf(&self, hosts: &[String], key_name: &str) -> Result<Arc<CertifiedKey>> {
        let (cert, key) = self.signed_leaf(hosts, key_name)?;
        let key_der = PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| Error::runtime(format!("origin key: {e}")))?;
        let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key_der)
            .map_err(|e| Error::runtime(format!("origin key: {e}")))?;
        let mut chain = vec![cert.der().clone()];
        chain.extend(self.cas[..self.cas.len() - 1].iter().map(|c| c.der.clone()));
        Ok(Arc::new(CertifiedKey::new(chain, signing)))
    }

    /// The same leaf as PEM files hold it, for a server that is not ours (a test's own
    /// process): the chain (leaf first, every intermediate, no root) and the leaf's private key.
    pub fn leaf_pem(&self, hosts: &[String], key_name: &str) -> Result<(String, String)> {
        let (cert, key) = self.signed_leaf(hosts, key_name)?;
        let mut chain = cert.pem();
        for ca in &self.cas[..self.cas.len() - 1] {
            chain.push_str(&ca.pem);
        }
        Ok((chain, key.serialize_pem()))
    }

    fn signed_leaf(
        &self,
        hosts: &[String],
        key_name: &str,
    ) -> Result<(rcgen::Certificate, &KeyPair)> {
        let key = self
            .keys
            .get(key_name)
            .ok_or_else(|| Error::runtime(format!("no origin key named {key_name:?}")))?;
        let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
        let mut params = crate::ca::leaf::leaf_params(&hosts, key)?;
        if let Some(subject) = &self.leaf_subject {
            params.distinguished_name = subject.to_rcgen();
        }
        let cert = params.signed_by(key, &self.signer).map_err(fail("leaf"))?;
        Ok((cert, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::profile::{assert_meets, problems, Role};
    use crate::trust::{PathVerifier, Roots};
    use rustls::client::danger::ServerCertVerifier as _;
    use rustls::pki_types::{ServerName, UnixTime};

    const HOST: &str = "api.example.test";

    fn dn(s: &str) -> DistinguishedName {
        DistinguishedName::parse(s).unwrap()
    }

    /// The chain `leaf` presents verified by webpki (as rustls calls it, through `PathVerifier`)
    /// and by rustls's own verifier, against `pki`'s root alone: the path, leaf first.
    fn verified_path(pki: &OriginPki, leaf: &CertifiedKey) -> Vec<crate::trust::CertInfo> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let name = ServerName::try_from(HOST.to_string()).unwrap();
        let mut store = rustls::RootCertStore::empty();
        store.add(pki.root_der().clone()).unwrap();
        let rustls_verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(store),
            provider.clone(),
        )
        .build()
        .unwrap();
        rustls_verifier
            .verify_server_cert(&leaf.cert[0], &leaf.cert[1..], &name, &[], UnixTime::now())
            .unwrap();
        let mut roots = Roots::default();
        roots.add(pki.root_der().clone()).unwrap();
        PathVerifier::new(Arc::new(roots), provider)
            .verify(&leaf.cert[0], &leaf.cert[1..], &name, UnixTime::now())
            .unwrap()
    }

    fn path_len(der: &[u8]) -> Option<u32> {
        let (_, x) = x509_parser::parse_x509_certificate(der).unwrap();
        x.basic_constraints()
            .unwrap()
            .and_then(|b| b.value.path_len_constraint)
    }

    #[test]
    fn each_origin_has_its_own_names_and_every_certificate_meets_its_profile() {
        for key_type in [KeyType::EcdsaP256, KeyType::Rsa2048] {
            let api = OriginPki::generate(key_type, "api", &["current", "next"]).unwrap();
            let cdn = OriginPki::generate(key_type, "cdn", &["current"]).unwrap();
            let again = OriginPki::generate(key_type, "api", &["current"]).unwrap();
            let names = [
                api.root_name(),
                api.intermediate_name().unwrap(),
                cdn.root_name(),
                cdn.intermediate_name().unwrap(),
                again.root_name(),
                again.intermediate_name().unwrap(),
            ];
            let unique: std::collections::HashSet<_> = names.iter().collect();
            assert_eq!(unique.len(), names.len(), "{names:?}");
            assert!(api.root_name().starts_with("pin-proxy test root api "));
            assert!(cdn
                .intermediate_name()
                .unwrap()
                .starts_with("pin-proxy test intermediate cdn "));

            for pki in [&api, &cdn] {
                let root = pki.root_der();
                assert_meets(pki.root_name(), root, root, Role::Root);
                let leaf = pki
                    .leaf(&["api.example.test".into(), "127.0.0.1".into()], "current")
                    .unwrap();
                assert_eq!(leaf.cert.len(), 2, "leaf and intermediate, no root");
                let (leaf, int) = (&leaf.cert[0], &leaf.cert[1]);
                let int_name = pki.intermediate_name().unwrap();
                assert_meets(int_name, int, root, Role::Intermediate { path_len: 0 });
                assert_meets("leaf", leaf, int, Role::Leaf);
                assert_eq!(
                    Some(crate::pins::cert_pin(int).unwrap().as_str()),
                    pki.intermediate_pin()
                );
            }
        }
    }

    #[test]
    fn chains_of_every_depth_verify_with_the_path_lengths_they_need() {
        for key_type in [KeyType::EcdsaP256, KeyType::Rsa2048] {
            for depth in ChainSpec::MIN_DEPTH..=ChainSpec::MAX_DEPTH {
                let chain = ChainSpec::generated(depth).unwrap();
                let pki = OriginPki::generate_chain(key_type, "api", &chain, &["current"]).unwrap();
                let what = format!("{key_type:?} depth {depth}");
                assert_eq!(pki.depth(), depth);
                let leaf = pki.leaf(&[HOST.to_string()], "current").unwrap();
                // The leaf and every intermediate, not the root.
                assert_eq!(leaf.cert.len(), depth - 1, "{what}");
                for (k, sent) in leaf.cert.iter().enumerate().skip(1) {
                    assert_eq!(Some(sent), pki.ca_der(k), "{what}: position {k}");
                }
                let path = verified_path(&pki, &leaf);
                let pins: Vec<&str> = path.iter().map(|c| c.pin.as_str()).collect();
                let mut want = vec![pki.key_pin("current").unwrap()];
                want.extend((1..depth).map(|k| pki.ca_pin(k).unwrap().to_string()));
                assert_eq!(pins, want, "{what}: the path is leaf, ca1, ..., root");
                assert_eq!(pki.ca_pin(depth - 1), Some(pki.root_pin()));
                assert_eq!(pki.ca_pin(depth), None);
                assert_eq!(pki.ca_pin(0), None);

                // pathLen: the number of CAs below; the root unconstrained.
                for k in 1..depth - 1 {
                    let der = pki.ca_der(k).unwrap();
                    assert_eq!(
                        path_len(der),
                        Some(u32::try_from(k - 1).unwrap()),
                        "{what} ca{k}"
                    );
                    let issuer = pki.ca_der(k + 1).unwrap();
                    let role = Role::Intermediate {
                        path_len: u8::try_from(k - 1).unwrap(),
                    };
                    assert_meets(&format!("{what} ca{k}"), der, issuer, role);
                }
                let root = pki.root_der();
                assert_eq!(path_len(root), None, "{what} root");
                assert_meets(&format!("{what} root"), root, root, Role::Root);
                assert_meets(
                    &format!("{what} leaf"),
                    &leaf.cert[0],
                    pki.ca_der(1).unwrap(),
                    Role::Leaf,
                );

                // Generated names: ca1 as before, caK numbered, the root as before.
                assert_eq!(pki.intermediate_pin().is_some(), depth > 2);
                for k in 1..depth {
                    let name = pki.generated_ca_name(k).unwrap();
                    let want = match k {
                        k if k == depth - 1 => "pin-proxy test root api ".to_string(),
                        1 => "pin-proxy test intermediate api ".to_string(),
                        k => format!("pin-proxy test intermediate {k} api "),
                    };
                    assert!(name.starts_with(&want), "{what}: ca{k} is {name}");
                    assert_eq!(
                        pki.ca_subject(k).unwrap().to_string(),
                        format!("CN={name},O=pin-proxy test origin (throwaway)")
                    );
                }
            }
        }
    }

    #[test]
    fn given_subjects_are_used_in_order_and_the_san_stays_the_host() {
        let chain = ChainSpec::new(vec![
            Some(dn("CN=leaf.example,O=Example")),
            Some(dn("CN=Example Issuing CA 1, O=Example")),
            None,
            Some(dn("CN=Example Root,O=Example,C=US")),
        ])
        .unwrap();
        let pki =
            OriginPki::generate_chain(KeyType::EcdsaP256, "api", &chain, &["current"]).unwrap();
        let leaf = pki.leaf(&[HOST.to_string()], "current").unwrap();
        assert_eq!(leaf.cert.len(), 3);
        let path = verified_path(&pki, &leaf);
        assert_eq!(path.len(), 4);

        // Each certificate's subject in certificate order (most significant RDN first) and as
        // RFC 4514 reads it (the reverse).
        let subjects: Vec<(String, String)> =
            [&leaf.cert[0], &leaf.cert[1], &leaf.cert[2], pki.root_der()]
                .iter()
                .map(|der| {
                    let (_, x) = x509_parser::parse_x509_certificate(der).unwrap();
                    let parts: Vec<String> = x
                        .subject()
                        .iter_attributes()
                        .map(|a| {
                            let key = x509_parser::objects::oid2abbrev(
                                a.attr_type(),
                                x509_parser::objects::oid_registry(),
                            )
                            .unwrap();
                            format!("{key}={}", a.as_str().unwrap())
                        })
                        .collect();
                    let mut rfc4514 = parts.clone();
                    rfc4514.reverse();
                    (parts.join(","), rfc4514.join(","))
                })
                .collect();
        let generated = pki.generated_ca_name(2).unwrap();
        assert!(
            generated.starts_with("pin-proxy test intermediate 2 api "),
            "{generated}"
        );
        assert_eq!(
            subjects,
            [
                (
                    "O=Example,CN=leaf.example".to_string(),
                    "CN=leaf.example,O=Example".to_string()
                ),
                (
                    "O=Example,CN=Example Issuing CA 1".into(),
                    "CN=Example Issuing CA 1,O=Example".into()
                ),
                (
                    format!("O=pin-proxy test origin (throwaway),CN={generated}"),
                    format!("CN={generated},O=pin-proxy test origin (throwaway)"),
                ),
                (
                    "C=US,O=Example,CN=Example Root".into(),
                    "CN=Example Root,O=Example,C=US".into()
                ),
            ]
        );
        assert_eq!(pki.generated_ca_name(1), None, "given, so not redacted");
        assert_eq!(pki.generated_ca_name(3), None);
        assert_eq!(pki.root_name(), "Example Root");
        assert_eq!(pki.ca_name(1), Some("Example Issuing CA 1"));

        // The SAN is the host: the leaf's CN is the one departure from the profile.
        let (_, x) = x509_parser::parse_x509_certificate(&leaf.cert[0]).unwrap();
        let san = x.subject_alternative_name().unwrap().unwrap();
        assert_eq!(
            format!("{:?}", san.value.general_names),
            format!("[DNSName({HOST:?})]")
        );
        assert_eq!(
            problems(&leaf.cert[0], &leaf.cert[1], Role::Leaf),
            ["the common name \"leaf.example\" is not in the subjectAltName"]
        );
        assert_meets(
            "ca1",
            &leaf.cert[1],
            &leaf.cert[2],
            Role::Intermediate { path_len: 0 },
        );
        assert_meets(
            "ca2",
            &leaf.cert[2],
            pki.root_der(),
            Role::Intermediate { path_len: 1 },
        );
        assert_meets("root", pki.root_der(), pki.root_der(), Role::Root);
    }

    #[test]
    fn openssl_prints_a_given_subject_back_as_it_was_written() {
        let written = [
            "CN=leaf.example,O=Example",
            r"CN=Example Issuing CA 1,OU=Certs \+ Keys,O=Example\, Inc.,L=Zurich,ST=ZH,C=CH",
            "CN=Example Root,O=Example,C=US",
        ];
        let chain = ChainSpec::new(written.iter().map(|s| Some(dn(s))).collect()).unwrap();
        let pki =
            OriginPki::generate_chain(KeyType::EcdsaP256, "api", &chain, &["current"]).unwrap();
        let leaf = pki.leaf(&[HOST.to_string()], "current").unwrap();
        let certs = [
            leaf.cert[0].clone(),
            leaf.cert[1].clone(),
            pki.root_der().clone(),
        ];
        for (der, want) in certs.iter().zip(written) {
            let mut child = std::process::Command::new("openssl")
                .args([
                    "x509", "-inform", "DER", "-noout", "-subject", "-nameopt", "RFC2253",
                ])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("openssl is needed (.ci/run installs it)");
            std::io::Write::write_all(&mut child.stdin.take().unwrap(), der).unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success());
            let text = String::from_utf8(out.stdout).unwrap();
            assert_eq!(text.trim().strip_prefix("subject="), Some(want));
        }
    }

    #[test]
    fn openssl_strict_verifies_every_depth_as_a_tls_server_chain() {
        use base64::Engine as _;
        let pem = |der: &[u8]| {
            let b64 = base64::engine::general_purpose::STANDARD.encode(der);
            let lines: Vec<&str> = b64
                .as_bytes()
                .chunks(64)
                .map(|l| std::str::from_utf8(l).unwrap())
                .collect();
            format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                lines.join("\n")
            )
        };
        let dir = tempfile::tempdir().unwrap();
        for depth in ChainSpec::MIN_DEPTH..=ChainSpec::MAX_DEPTH {
            // Given subjects on the leaf and the root, generated between.
            let mut subjects = vec![None; depth];
            subjects[0] = Some(dn("CN=leaf.example,O=Example"));
            subjects[depth - 1] = Some(dn("CN=Example Root,O=Example,C=US"));
            let chain = ChainSpec::new(subjects).unwrap();
            let pki =
                OriginPki::generate_chain(KeyType::EcdsaP256, "api", &chain, &["current"]).unwrap();
            let leaf = pki.leaf(&[HOST.to_string()], "current").unwrap();
            let write = |name: &str, text: String| {
                let path = dir.path().join(name);
                std::fs::write(&path, text).unwrap();
                path
            };
            let root = write("root.pem", pki.root_pem().to_string());
            let leaf_pem = write("leaf.pem", pem(&leaf.cert[0]));
            let mut cmd = std::process::Command::new("openssl");
            cmd.args(["verify", "-x509_strict", "-purpose", "sslserver"])
                .args(["-verify_hostname", HOST, "-CAfile"])
                .arg(&root);
            if depth > 2 {
                let ints: String = leaf.cert[1..].iter().map(|c| pem(c)).collect();
                cmd.arg("-untrusted").arg(write("ints.pem", ints));
            }
            let out = cmd
                .arg(&leaf_pem)
                .output()
                .expect("openssl is needed (.ci/run installs it)");
            assert!(
                out.status.success(),
                "depth {depth}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn a_chain_spec_refuses_what_no_chain_can_be() {
        assert_eq!(ChainSpec::default().depth(), 3);
        assert_eq!(ChainSpec::default(), ChainSpec::generated(3).unwrap());
        for depth in [0, 1, 7] {
            let e = ChainSpec::generated(depth).unwrap_err();
            assert!(e.contains("a chain has 2 to 6"), "{e}");
        }
        let e = ChainSpec::new(vec![
            Some(dn("CN=Example CA,O=Example")),
            Some(dn("cn=example  ca, o=example")),
        ])
        .unwrap_err();
        assert!(
            e.starts_with(
                "the leaf and the root (ca1) have the same subject \"CN=example  ca,O=example\""
            ),
            "{e}"
        );
        let spec = ChainSpec::new(vec![None, Some(dn("CN=a")), Some(dn("CN=b"))]).unwrap();
        let given: Vec<usize> = spec.given_cas().map(|(k, _)| k).collect();
        assert_eq!(given, [1, 2]);
    }

    #[test]
    fn a_leaf_as_pem_is_the_chain_the_leaf_presents_and_its_own_key() {
        let chain = ChainSpec::generated(3).unwrap();
        let pki =
            OriginPki::generate_chain(KeyType::EcdsaP256, "api", &chain, &["current"]).unwrap();
        let (certs, key) = pki.leaf_pem(&[HOST.to_string()], "current").unwrap();
        let certs = pins::pem_certs(certs.as_bytes()).unwrap();
        let presented = pki.leaf(&[HOST.to_string()], "current").unwrap();
        assert_eq!(
            certs.len(),
            presented.cert.len(),
            "leaf and intermediate, no root"
        );
        assert_eq!(certs[1], presented.cert[1]);
        assert!(!certs.contains(pki.root_der()));
        let key = KeyPair::from_pem(&key).unwrap();
        assert_eq!(
            Some(pins::spki_pin(&key.subject_public_key_info())),
            pki.key_pin("current")
        );
        assert!(pki.leaf_pem(&[HOST.to_string()], "other").is_err());
    }
}
