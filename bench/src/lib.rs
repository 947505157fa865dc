//! Helpers shared by the benchmark binaries: key types, a throwaway CA, PEM roots and a listener
//! whose accepted sockets have TCP_NODELAY.

use std::{io, net::SocketAddr, path::Path, sync::Arc};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::{crypto::CryptoProvider, pki_types::pem::PemObject, pki_types::CertificateDer};
use tokio::net::{TcpListener, TcpSocket};

/// Key algorithm of a generated CA or leaf.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum KeyType {
    /// ECDSA P-256 with SHA-256.
    Ecdsa,
    /// RSA 2048 with SHA-256.
    Rsa,
}

impl KeyType {
    pub fn generate(self) -> KeyPair {
        match self {
            KeyType::Ecdsa => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyType::Rsa => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
            }
        }
        .expect("key generation")
    }
}

/// The crypto provider every binary uses (the same as pin-proxy's).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A self-signed root CA: its issuer (holding the key) and its certificate in PEM.
pub fn new_ca(name: &str, key: KeyPair) -> (rcgen::Issuer<'static, KeyPair>, String) {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).expect("self-signed CA");
    (rcgen::Issuer::new(params, key), cert.pem())
}

/// Certificate parameters for a server leaf: an IP SAN when `host` is an address, else a DNS SAN.
pub fn leaf_params(host: &str) -> CertificateParams {
    let mut params = CertificateParams::new(vec![host.to_string()]).expect("leaf SAN");
    params.distinguished_name.push(DnType::CommonName, host);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params
}

/// Every certificate in a PEM file, as a root store.
pub fn load_roots(path: &Path) -> io::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(io::Error::other)? {
        roots
            .add(cert.map_err(io::Error::other)?)
            .map_err(io::Error::other)?;
    }
    if roots.is_empty() {
        return Err(io::Error::other(format!(
            "no certificate in {}",
            path.display()
        )));
    }
    Ok(roots)
}

/// A listener with TCP_NODELAY set on it; Linux copies the option to every accepted socket.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}
