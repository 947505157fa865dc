//! Trust evaluation that keeps the verified path: the chain webpki built from the end-entity
//! certificate through the intermediates it used to a trust anchor, as opposed to the
//! certificates the server merely sent. Pins must be compared with that path (a forging proxy
//! can send the real server's intermediate beside its own CA: CVE-2016-2402).
//!
//! [`PathVerifier`] is a rustls `ServerCertVerifier` that does what rustls's own WebPKI verifier
//! does (chain to the roots for the TLS server usage, then the server name) and remembers the
//! path and the certificates sent. It does not decide anything about pins and does no I/O;
//! loading roots from files and the system is the caller's.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use serde::{Deserialize, Serialize};

use crate::lock;

/// Trusted roots: each anchor with the certificate it came from (to name and pin it).
#[derive(Debug, Default)]
pub struct Roots {
    anchors: Vec<TrustAnchor<'static>>,
    certs: Vec<CertificateDer<'static>>,
}

impl Roots {
    /// Adds a root certificate; errors when it cannot be a trust anchor.
    pub fn add(&mut self, cert: CertificateDer<'static>) -> Result<(), String> {
        let anchor = webpki::anchor_from_trusted_cert(&cert)
            .map_err(|e| format!("not a usable root certificate: {e}"))?
            .to_owned();
        self.anchors.push(anchor);
        self.certs.push(cert);
        Ok(())
    }

    /// Adds every certificate that can be a trust anchor; returns how many could not.
    pub fn add_parsable(
        &mut self,
        certs: impl IntoIterator<Item = CertificateDer<'static>>,
    ) -> usize {
        certs
            .into_iter()
            .filter(|c| self.add(c.clone()).is_err())
            .count()
    }

    /// How many roots there are.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// The certificate of the root that verifies `chain` (leaf first, as a server sent it) for
    /// TLS server use at `now`, whatever the server name; `None` when no root here does.
    pub fn anchor_cert(
        &self,
        chain: &[CertificateDer<'_>],
        provider: &CryptoProvider,
        now: UnixTime,
    ) -> Option<&CertificateDer<'static>> {
        let (leaf, intermediates) = chain.split_first()?;
        let cert = webpki::EndEntityCert::try_from(leaf).ok()?;
        let path = self.path(&cert, intermediates, provider, now).ok()?;
        self.cert_of(path.anchor())
    }

    /// The path webpki builds from `cert` through `intermediates` to one of these roots, for TLS
    /// server use at `now` (no revocation check): the one trust evaluation of this module.
    fn path<'p>(
        &'p self,
        cert: &'p webpki::EndEntityCert<'p>,
        intermediates: &'p [CertificateDer<'p>],
        provider: &CryptoProvider,
        now: UnixTime,
    ) -> Result<webpki::VerifiedPath<'p>, webpki::Error> {
        cert.verify_for_usage(
            provider.signature_verification_algorithms.all,
            &self.anchors,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
    }

    fn cert_of(&self, anchor: &TrustAnchor<'_>) -> Option<&CertificateDer<'static>> {
        self.anchors
            .iter()
            .position(|a| {
                a.subject == anchor.subject
                    && a.subject_public_key_info == anchor.subject_public_key_info
            })
            .and_then(|i| self.certs.get(i))
    }
}

/// Where a certificate of a path came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertSource {
    /// The server sent it.
    Sent,
    /// The trust store holds it (the trust anchor, whether or not the server sent it too).
    TrustStore,
}

/// One certificate, as the reports show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertInfo {
    /// Position: in the verified path 0 is the leaf and the last is the trust anchor; in the
    /// sent list, the order the server sent.
    pub position: usize,
    /// Subject distinguished name, e.g. `CN=api.example.test`.
    pub subject: String,
    /// The subject's common name, if it has one.
    pub common_name: Option<String>,
    /// Issuer distinguished name.
    pub issuer: String,
    /// SPKI SHA-256 pin, base64.
    pub pin: String,
    /// SHA-256 of the whole certificate (DER), base64: what Wultra, urllib3 and some Flutter
    /// plugins pin.
    pub sha256: String,
    /// End of validity (RFC 3339), when the certificate could be parsed.
    pub not_after: Option<String>,
    /// Where it came from.
    pub source: CertSource,
}

impl CertInfo {
    /// Describes a DER certificate (a certificate webpki accepted parses here too; anything
    /// else is described as unreadable rather than refused).
    pub fn of(der: &[u8], position: usize, source: CertSource) -> Self {
        match x509_parser::parse_x509_certificate(der) {
            Ok((_, x)) => Self {
                position,
                subject: x.subject().to_string(),
                common_name: x
                    .subject()
                    .iter_common_name()
                    .next()
                    .and_then(|c| c.as_str().ok())
                    .map(str::to_string),
                issuer: x.issuer().to_string(),
                pin: crate::pins::spki_pin(x.tbs_certificate.subject_pki.raw),
                sha256: crate::pins::sha256_base64(der),
                not_after: Some(crate::ca::rfc3339(x.validity().not_after.to_datetime())),
                source,
            },
            Err(e) => Self {
                position,
                subject: format!("(unreadable certificate: {e})"),
                common_name: None,
                issuer: String::new(),
                pin: crate::pins::spki_pin(der),
                sha256: crate::pins::sha256_base64(der),
                not_after: None,
                source,
            },
        }
    }
}

/// Why trust evaluation refused a chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TrustFailure {
    /// No path from the certificate to a trusted root.
    UnknownIssuer,
    /// A certificate of the path is past its validity.
    Expired,
    /// A certificate of the path is not valid yet.
    NotYetValid,
    /// The leaf does not name the host.
    WrongName,
    /// A signature in the chain does not verify.
    BadSignature,
    /// Anything else webpki refuses (encoding, usage, constraints), in its words.
    Other(String),
}

impl TrustFailure {
    fn from_webpki(e: &webpki::Error) -> Self {
        use webpki::Error as W;
        match e {
            W::UnknownIssuer => Self::UnknownIssuer,
            W::CertExpired { .. } | W::InvalidCertValidity => Self::Expired,
            W::CertNotValidYet { .. } => Self::NotYetValid,
            W::CertNotValidForName(_) => Self::WrongName,
            W::InvalidSignatureForPublicKey => Self::BadSignature,
            other => Self::Other(format!("{other:?}")),
        }
    }

    /// The rustls error (and so the alert) the handshake ends with, as rustls's own verifier
    /// would send it.
    fn to_rustls(&self) -> rustls::Error {
        match self {
            Self::UnknownIssuer => CertificateError::UnknownIssuer,
            Self::Expired => CertificateError::Expired,
            Self::NotYetValid => CertificateError::NotValidYet,
            Self::WrongName => CertificateError::NotValidForName,
            Self::BadSignature => CertificateError::BadSignature,
            Self::Other(_) => CertificateError::BadEncoding,
        }
        .into()
    }
}

impl std::fmt::Display for TrustFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownIssuer => {
                f.write_str("the chain does not lead to a trusted root (unknown issuer)")
            }
            Self::Expired => f.write_str("a certificate of the chain has expired"),
            Self::NotYetValid => f.write_str("a certificate of the chain is not valid yet"),
            Self::WrongName => f.write_str("the certificate is not valid for this host name"),
            Self::BadSignature => f.write_str("a signature in the chain does not verify"),
            Self::Other(m) => write!(f, "the chain is not acceptable ({m})"),
        }
    }
}

/// What one handshake's verification saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// The certificates the server sent, in its order.
    pub sent: Vec<CertInfo>,
    /// The same certificates, as sent (DER).
    pub sent_der: Vec<CertificateDer<'static>>,
    /// The verified path (leaf first, trust anchor last), or why there is none. `None` until
    /// the server's certificate arrived.
    pub path: Option<Result<Vec<CertInfo>, TrustFailure>>,
}

/// A rustls verifier that evaluates trust like rustls's WebPKI verifier and keeps what it saw
/// for the caller. Meant for one connection (it keeps the last handshake's findings).
#[derive(Debug)]
pub struct PathVerifier {
    roots: Arc<Roots>,
    provider: Arc<CryptoProvider>,
    seen: Mutex<Seen>,
}

impl PathVerifier {
    /// A verifier trusting `roots`.
    pub fn new(roots: Arc<Roots>, provider: Arc<CryptoProvider>) -> Self {
        Self {
            roots,
            provider,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// What the last handshake's verification saw.
    pub fn seen(&self) -> Seen {
        lock(&self.seen).clone()
    }

    /// Verifies `end_entity` with `intermediates` for `server_name` at `now`: the verified path,
    /// leaf first and trust anchor last.
    pub fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<Vec<CertInfo>, TrustFailure> {
        let fail = |e: webpki::Error| TrustFailure::from_webpki(&e);
        let cert = webpki::EndEntityCert::try_from(end_entity).map_err(fail)?;
        let path = self
            .roots
            .path(&cert, intermediates, &self.provider, now)
            .map_err(fail)?;
        cert.verify_is_valid_for_subject_name(server_name)
            .map_err(fail)?;
        let mut out = vec![CertInfo::of(end_entity, 0, CertSource::Sent)];
        for int in path.intermediate_certificates() {
            out.push(CertInfo::of(&int.der(), out.len(), CertSource::Sent));
        }
        let anchor = path.anchor();
        out.push(match self.roots.cert_of(anchor) {
            Some(der) => CertInfo::of(der, out.len(), CertSource::TrustStore),
            // Every anchor came from a certificate; should one not be found, still pin its key.
            None => CertInfo {
                position: out.len(),
                subject: "(trust anchor)".into(),
                common_name: None,
                issuer: String::new(),
                pin: crate::pins::spki_pin(&webpki::spki_for_anchor(anchor)),
                sha256: String::new(),
                not_after: None,
                source: CertSource::TrustStore,
            },
        });
        Ok(out)
    }
}

impl ServerCertVerifier for PathVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let sent = std::iter::once(end_entity)
            .chain(intermediates)
            .enumerate()
            .map(|(i, c)| CertInfo::of(c, i, CertSource::Sent))
            .collect();
        let path = self.verify(end_entity, intermediates, server_name, now);
        let result = match &path {
            Ok(_) => Ok(ServerCertVerified::assertion()),
            Err(failure) => Err(failure.to_rustls()),
        };
        *lock(&self.seen) = Seen {
            sent,
            sent_der: std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| c.clone().into_owned())
                .collect(),
            path: Some(path),
        };
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::KeyType;
    use crate::origin::pki::OriginPki;

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::aws_lc_rs::default_provider())
    }

    fn name(host: &str) -> ServerName<'static> {
        ServerName::try_from(host.to_string()).unwrap()
    }

    #[test]
    fn the_path_is_what_verification_built_not_what_was_sent() {
        let api = OriginPki::generate(KeyType::EcdsaP256, "api", &["current"]).unwrap();
        let other = OriginPki::generate(KeyType::EcdsaP256, "other", &["current"]).unwrap();
        let mut roots = Roots::default();
        roots.add(api.root_der().clone()).unwrap();
        let verifier = PathVerifier::new(Arc::new(roots), provider());
        let leaf = api.leaf(&["api.test".into()], "current").unwrap();
        // The server also sends another PKI's intermediate and root: they are not on the path.
        let foreign = other.leaf(&["x.test".into()], "current").unwrap();
        let sent = [
            leaf.cert[1].clone(),
            foreign.cert[1].clone(),
            other.root_der().clone(),
        ];
        let path = verifier
            .verify(&leaf.cert[0], &sent, &name("api.test"), UnixTime::now())
            .unwrap();
        let pins: Vec<&str> = path.iter().map(|c| c.pin.as_str()).collect();
        assert_eq!(
            pins,
            [
                api.key_pin("current").unwrap().as_str(),
                api.intermediate_pin().unwrap(),
                api.root_pin()
            ]
        );
        assert_eq!(path[2].source, CertSource::TrustStore);
        assert!(path[2].subject.contains(api.root_name()), "{:?}", path[2]);
        assert!(path[0].subject.contains("CN=api.test"));
        assert!(path[1].issuer.contains(api.root_name()));
    }

    #[test]
    fn the_anchor_certificate_is_the_root_that_verifies_a_sent_chain() {
        let api = OriginPki::generate(KeyType::EcdsaP256, "api", &["current"]).unwrap();
        let other = OriginPki::generate(KeyType::EcdsaP256, "other", &["current"]).unwrap();
        let mut roots = Roots::default();
        roots.add(other.root_der().clone()).unwrap();
        let leaf = api.leaf(&["api.test".into()], "current").unwrap();
        let now = UnixTime::now();
        assert_eq!(roots.anchor_cert(&leaf.cert, &provider(), now), None);
        roots.add(api.root_der().clone()).unwrap();
        assert_eq!(
            roots.anchor_cert(&leaf.cert, &provider(), now),
            Some(api.root_der())
        );
        // Whatever the name: the root of a chain, not a check of the server.
        let elsewhere = api.leaf(&["elsewhere.test".into()], "current").unwrap();
        assert_eq!(
            roots.anchor_cert(&elsewhere.cert, &provider(), now),
            Some(api.root_der())
        );
        assert_eq!(roots.anchor_cert(&[], &provider(), now), None);
    }

    #[test]
    fn failures_are_named() {
        let api = OriginPki::generate(KeyType::EcdsaP256, "api", &["current"]).unwrap();
        let other = OriginPki::generate(KeyType::EcdsaP256, "other", &["current"]).unwrap();
        let mut roots = Roots::default();
        roots.add(other.root_der().clone()).unwrap();
        let verifier = PathVerifier::new(Arc::new(roots), provider());
        let leaf = api.leaf(&["api.test".into()], "current").unwrap();
        let verify =
            |host| verifier.verify(&leaf.cert[0], &leaf.cert[1..], &name(host), UnixTime::now());
        assert_eq!(verify("api.test"), Err(TrustFailure::UnknownIssuer));

        let mut roots = Roots::default();
        roots.add(api.root_der().clone()).unwrap();
        let verifier = PathVerifier::new(Arc::new(roots), provider());
        let verify = |host, now| verifier.verify(&leaf.cert[0], &leaf.cert[1..], &name(host), now);
        assert_eq!(
            verify("other.test", UnixTime::now()),
            Err(TrustFailure::WrongName)
        );
        let later = UnixTime::since_unix_epoch(std::time::Duration::from_secs(4_000_000_000));
        assert_eq!(verify("api.test", later), Err(TrustFailure::Expired));
        assert!(Roots::default()
            .add(CertificateDer::from(vec![1, 2, 3]))
            .is_err());
    }
}
