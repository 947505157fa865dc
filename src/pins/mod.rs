//! SPKI pins: the base64 SHA-256 of a certificate's SubjectPublicKeyInfo, as apps pin them.
//!
//! Pure functions over DER and PEM bytes: what a pin can be computed from ([`input`]), each
//! platform's spelling of a pin set ([`format`]) and whether a set still matches a chain
//! ([`check`]). Reading files and connecting to live hosts belong to the CLI and the client.

pub mod check;
pub mod format;
pub mod input;

use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// The pin of a DER SubjectPublicKeyInfo: base64(SHA-256(spki)).
pub fn spki_pin(spki_der: &[u8]) -> String {
    sha256_base64(spki_der)
}

/// base64(SHA-256(bytes)): of a whole certificate, what Wultra and urllib3 pin.
pub fn sha256_base64(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// The DER SubjectPublicKeyInfo of a DER certificate.
pub fn cert_spki(cert_der: &[u8]) -> Result<Vec<u8>, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    Ok(cert.tbs_certificate.subject_pki.raw.to_vec())
}

/// The pin of a DER certificate's public key.
pub fn cert_pin(cert_der: &[u8]) -> Result<String, String> {
    cert_spki(cert_der).map(|spki| spki_pin(&spki))
}

/// Whether `s` has the shape of a pin: base64 of exactly 32 bytes.
pub fn is_pin(s: &str) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .is_ok_and(|b| b.len() == 32)
}

/// The base64 pin in `s`, written bare, as curl does (`sha256//<b64>`) or as OkHttp does
/// (`sha256/<b64>`, whose base64 may itself start with `/`); `None` when it is not a pin.
pub fn parse_pin(s: &str) -> Option<&str> {
    let s = s.trim();
    [
        s.strip_prefix("sha256//"),
        s.strip_prefix("sha256/"),
        Some(s),
    ]
    .into_iter()
    .flatten()
    .find(|b| is_pin(b))
}

/// Every certificate in a PEM text, in order. Errors on malformed PEM or when there is none.
pub fn pem_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("malformed PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no CERTIFICATE block found".into());
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_of_known_bytes() {
        // SHA-256 of the empty string, base64.
        assert_eq!(
            spki_pin(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert!(is_pin("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="));
        assert!(!is_pin("47DEQpj8HBSa"));
        assert!(!is_pin("not base64!"));
    }

    #[test]
    fn pins_in_every_spelling() {
        let pin = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        for s in [
            pin.to_string(),
            format!("sha256/{pin}"),
            format!("sha256//{pin}"),
        ] {
            assert_eq!(parse_pin(&s), Some(pin), "{s}");
        }
        // OkHttp's prefix before a pin whose base64 starts with a slash.
        let slash = "/7DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        assert_eq!(parse_pin(&format!("sha256/{slash}")), Some(slash));
        assert_eq!(parse_pin("sha1/AAAA"), None);
        assert_eq!(parse_pin(""), None);
    }

    #[test]
    fn pem_errors() {
        assert!(pem_certs(b"hello").is_err());
        assert!(cert_pin(b"\x30\x03\x02\x01\x00").is_err());
    }
}
