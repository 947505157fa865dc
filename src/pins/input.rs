//! What a pin can be computed from: certificates, chains and bundles, public keys and private
//! keys, in PEM or DER. Pure: bytes and the name of where they came from in, a described item per
//! certificate or key out, or an error that names the source, the line and what is wrong.

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::prelude::FromDer as _;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

/// What an item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An X.509 certificate.
    Certificate,
    /// A SubjectPublicKeyInfo (`PUBLIC KEY`).
    PublicKey,
    /// A private key; its pin is its public half's.
    PrivateKey,
}

impl Kind {
    /// The word for it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Certificate => "certificate",
            Kind::PublicKey => "public key",
            Kind::PrivateKey => "private key",
        }
    }
}

/// The structure it was encoded in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Structure {
    /// An X.509 certificate.
    X509,
    /// A SubjectPublicKeyInfo.
    Spki,
    /// A PKCS#8 private key (`PRIVATE KEY`).
    Pkcs8,
    /// A SEC1 EC private key (`EC PRIVATE KEY`).
    Sec1,
    /// A PKCS#1 RSA private key (`RSA PRIVATE KEY`).
    Pkcs1,
}

impl Structure {
    /// Its usual name.
    pub fn name(self) -> &'static str {
        match self {
            Structure::X509 => "X.509",
            Structure::Spki => "SPKI",
            Structure::Pkcs8 => "PKCS#8",
            Structure::Sec1 => "SEC1",
            Structure::Pkcs1 => "PKCS#1",
        }
    }
}

/// The details only a certificate has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertDetail {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Start of validity (RFC 3339).
    pub not_before: String,
    /// End of validity (RFC 3339).
    pub not_after: String,
    /// End of validity, Unix seconds.
    #[serde(skip)]
    pub not_after_unix: i64,
    /// Whether its basic constraints say it is a CA.
    pub is_ca: bool,
    /// The DNS names of its subjectAltName.
    pub dns_names: Vec<String>,
    /// SHA-256 of the whole certificate, base64 (what urllib3, Wultra and some Flutter plugins
    /// pin).
    pub sha256_base64: String,
    /// The same digest in lower-case hex.
    pub sha256_hex: String,
}

/// One certificate or key, described.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Item {
    /// Where it came from: a file name, `-` for stdin, or `HOST:PORT` for a live chain.
    pub source: String,
    /// Its position among the certificates of its source (for a live chain, the order the
    /// server sent), or among the keys; 0-based.
    pub position: usize,
    /// What it is.
    pub kind: Kind,
    /// The structure it was encoded in.
    pub structure: Structure,
    /// `pem` or `der`.
    pub encoding: &'static str,
    /// The line of its PEM `BEGIN` marker (1-based), for PEM input.
    pub line: Option<usize>,
    /// Its public key's type, e.g. `ECDSA P-256`, `RSA 2048`, `Ed25519`.
    pub key_type: String,
    /// The SPKI SHA-256 pin, base64.
    pub pin: String,
    /// Certificate details, for certificates.
    pub cert: Option<CertDetail>,
}

impl Item {
    /// A label for configs and listings: the subject for a certificate, else the kind and
    /// where it came from.
    pub fn label(&self) -> String {
        match &self.cert {
            Some(c) => c.subject.clone(),
            None => format!(
                "{} {} ({})",
                self.structure.name(),
                self.kind.name(),
                self.source
            ),
        }
    }

    /// Whether it is a CA certificate.
    pub fn is_ca(&self) -> bool {
        self.cert.as_ref().is_some_and(|c| c.is_ca)
    }

    /// Whether it stands as a CA in a pin set: a CA certificate, unless it is the first of its
    /// source and names hosts (a self-signed server certificate, which openssl marks as a CA,
    /// is that server's leaf).
    pub fn acts_as_ca(&self) -> bool {
        self.cert
            .as_ref()
            .is_some_and(|c| c.is_ca && (self.position != 0 || c.dns_names.is_empty()))
    }
}

/// A summary of one input: "PEM, 3 certificates".
pub fn summary(items: &[Item]) -> String {
    let encoding = items
        .first()
        .map_or("empty", |i| if i.encoding == "pem" { "PEM" } else { "DER" });
    let mut counts: Vec<(String, usize)> = Vec::new();
    for item in items {
        let word = match item.kind {
            Kind::Certificate => "certificate".to_string(),
            Kind::PublicKey => "public key".to_string(),
            Kind::PrivateKey => format!("{} private key", item.structure.name()),
        };
        match counts.iter_mut().find(|(w, _)| *w == word) {
            Some((_, n)) => *n += 1,
            None => counts.push((word, 1)),
        }
    }
    let parts: Vec<String> = counts
        .into_iter()
        .map(|(w, n)| {
            if n == 1 {
                format!("1 {w}")
            } else {
                format!("{n} {w}s")
            }
        })
        .collect();
    format!("{encoding}, {}", parts.join(", "))
}

/// Why an input could not be read: where (`file` or `file:line`) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadError {
    /// The source, with `:line` for PEM.
    pub at: String,
    /// What is wrong there.
    pub message: String,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// Reads every certificate and key in `bytes` (PEM with any number of blocks, or one DER
/// object). `source` names the input in items and errors. Errors name the source and, for PEM,
/// the line.
pub fn read(bytes: &[u8], source: &str) -> Result<Vec<Item>, ReadError> {
    read_text(bytes, source).map_err(|e| {
        // Every message below starts with `source` and then `: ` or `:LINE: `.
        let rest = e.strip_prefix(source).unwrap_or(&e);
        let (line, message) = match rest.strip_prefix(':').and_then(|r| r.split_once(": ")) {
            Some((n, m)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => (Some(n), m),
            _ => (None, rest.strip_prefix(": ").unwrap_or(rest)),
        };
        ReadError {
            at: match line {
                Some(n) => format!("{source}:{n}"),
                None => source.to_string(),
            },
            message: message.to_string(),
        }
    })
}

fn read_text(bytes: &[u8], source: &str) -> Result<Vec<Item>, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(format!("{source}: empty input: no certificate or key"));
    }
    let looks_pem = bytes.windows(11).any(|w| w == b"-----BEGIN ");
    if looks_pem {
        return read_pem(bytes, source);
    }
    if bytes.first() != Some(&0x30) {
        return Err(format!(
            "{source}: neither PEM (no -----BEGIN line) nor DER (DER starts with a SEQUENCE, 0x30)"
        ));
    }
    let (kind, structure) = der_kind(bytes).ok_or_else(|| {
        format!(
            "{source}: DER that is not a certificate, a public key (SPKI) or a private key \
             (PKCS#8, SEC1, PKCS#1); a truncated file reads like this"
        )
    })?;
    let item = describe(bytes, kind, structure, source, 0, "der", None)?;
    Ok(vec![item])
}

/// One PEM block: its label, the line of its `BEGIN`, its text (marker lines included).
struct Block<'a> {
    label: &'a str,
    line: usize,
    text: String,
}

fn blocks<'a>(text: &'a str, source: &str) -> Result<Vec<Block<'a>>, String> {
    let mut out = Vec::new();
    let mut open: Option<Block<'a>> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if let Some(rest) = line.strip_prefix("-----BEGIN ") {
            let label = rest.strip_suffix("-----").ok_or_else(|| {
                format!("{source}:{n}: malformed BEGIN line (it must end with -----)")
            })?;
            if let Some(b) = &open {
                return Err(format!(
                    "{source}:{n}: BEGIN {label} inside the {} block of line {} (its END line is missing)",
                    b.label, b.line
                ));
            }
            open = Some(Block {
                label,
                line: n,
                text: format!("{line}\n"),
            });
        } else if let Some(rest) = line.strip_prefix("-----END ") {
            let label = rest.strip_suffix("-----").unwrap_or(rest);
            match open.take() {
                Some(mut b) if b.label == label => {
                    b.text.push_str(line);
                    b.text.push('\n');
                    out.push(b);
                }
                Some(b) => {
                    return Err(format!(
                        "{source}:{n}: END {label} closes the {} block of line {}",
                        b.label, b.line
                    ))
                }
                None => return Err(format!("{source}:{n}: END {label} without a BEGIN")),
            }
        } else if let Some(b) = &mut open {
            b.text.push_str(line);
            b.text.push('\n');
        }
    }
    if let Some(b) = open {
        return Err(format!(
            "{source}:{}: the {} block has no END line (a truncated file?)",
            b.line, b.label
        ));
    }
    Ok(out)
}

fn read_pem(bytes: &[u8], source: &str) -> Result<Vec<Item>, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("{source}: PEM that is not UTF-8 text: {e}"))?;
    let mut items = Vec::new();
    let (mut certs, mut keys) = (0, 0);
    for block in blocks(text, source)? {
        let at = format!("{source}:{}", block.line);
        let (kind, structure) = match block.label {
            "CERTIFICATE" | "TRUSTED CERTIFICATE" | "X509 CERTIFICATE" => {
                (Kind::Certificate, Structure::X509)
            }
            "PUBLIC KEY" => (Kind::PublicKey, Structure::Spki),
            "PRIVATE KEY" => (Kind::PrivateKey, Structure::Pkcs8),
            "EC PRIVATE KEY" => (Kind::PrivateKey, Structure::Sec1),
            "RSA PRIVATE KEY" => (Kind::PrivateKey, Structure::Pkcs1),
            // Parameters beside a SEC1 key (openssl ecparam -genkey writes them): not a key.
            "EC PARAMETERS" => continue,
            "ENCRYPTED PRIVATE KEY" => {
                return Err(format!(
                    "{at}: an encrypted private key: decrypt it first (openssl pkey -in FILE), \
                     or give its certificate or public key"
                ))
            }
            "RSA PUBLIC KEY" => {
                return Err(format!(
                    "{at}: a PKCS#1 RSA PUBLIC KEY: convert it to a SubjectPublicKeyInfo first \
                     (openssl rsa -RSAPublicKey_in -pubout -in FILE)"
                ))
            }
            "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => {
                return Err(format!(
                    "{at}: a certificate request: give the certificate, or the key it was made with"
                ))
            }
            other => {
                return Err(format!(
                    "{at}: a PEM {other:?} block holds no certificate or key"
                ))
            }
        };
        let der =
            pem_der(&block.text).map_err(|e| format!("{at}: the {} block: {e}", block.label))?;
        let position = if kind == Kind::Certificate {
            certs += 1;
            certs - 1
        } else {
            keys += 1;
            keys - 1
        };
        items.push(describe(
            &der,
            kind,
            structure,
            source,
            position,
            "pem",
            Some(block.line),
        )?);
    }
    if items.is_empty() {
        return Err(format!("{source}: PEM with no certificate or key block"));
    }
    Ok(items)
}

/// The DER inside one PEM block's text.
fn pem_der(block: &str) -> Result<Vec<u8>, String> {
    let mut reader = block.as_bytes();
    match rustls::pki_types::pem::from_buf(&mut reader) {
        Ok(Some((_, der))) => Ok(der),
        Ok(None) => Err("no data".to_string()),
        Err(e) => Err(format!("bad base64 or markers ({e:?})")),
    }
}

/// What a DER object is, trying each structure strictly.
fn der_kind(der: &[u8]) -> Option<(Kind, Structure)> {
    if matches!(x509_parser::parse_x509_certificate(der), Ok((rest, _)) if rest.is_empty()) {
        return Some((Kind::Certificate, Structure::X509));
    }
    if matches!(SubjectPublicKeyInfo::from_der(der), Ok((rest, _)) if rest.is_empty()) {
        return Some((Kind::PublicKey, Structure::Spki));
    }
    let structure = private_shape(der)?;
    private_spki(der, structure)
        .is_ok()
        .then_some((Kind::PrivateKey, structure))
}

/// Which private-key structure a DER SEQUENCE has, by its second element: PKCS#8's algorithm
/// identifier (a SEQUENCE), SEC1's private key (an OCTET STRING) or PKCS#1's modulus (an
/// INTEGER). The key parsers accept more than one of these, so the shape decides the name.
fn private_shape(der: &[u8]) -> Option<Structure> {
    use x509_parser::der_parser::ber::BerObjectContent;
    let (rest, obj) = x509_parser::der_parser::der::parse_der(der).ok()?;
    if !rest.is_empty() {
        return None;
    }
    let seq = obj.as_sequence().ok()?;
    if !matches!(seq.first()?.content, BerObjectContent::Integer(_)) {
        return None;
    }
    match seq.get(1)?.content {
        BerObjectContent::Sequence(_) => Some(Structure::Pkcs8),
        BerObjectContent::OctetString(_) => Some(Structure::Sec1),
        BerObjectContent::Integer(_) => Some(Structure::Pkcs1),
        _ => None,
    }
}

/// The SubjectPublicKeyInfo of a private key.
fn private_spki(der: &[u8], structure: Structure) -> Result<Vec<u8>, String> {
    use rcgen::PublicKeyData as _;
    let key = match structure {
        Structure::Pkcs8 => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.to_vec())),
        Structure::Sec1 => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der.to_vec())),
        Structure::Pkcs1 => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der.to_vec())),
        Structure::X509 | Structure::Spki => return Err("not a private key".into()),
    };
    let pair = rcgen::KeyPair::try_from(&key).map_err(|_| {
        format!(
            "not a {} private key of a supported type (RSA, ECDSA P-256/P-384/P-521, Ed25519)",
            structure.name()
        )
    })?;
    Ok(pair.subject_public_key_info())
}

fn describe(
    der: &[u8],
    kind: Kind,
    structure: Structure,
    source: &str,
    position: usize,
    encoding: &'static str,
    line: Option<usize>,
) -> Result<Item, String> {
    let at = match line {
        Some(n) => format!("{source}:{n}"),
        None => source.to_string(),
    };
    let (spki, cert) = match kind {
        Kind::Certificate => {
            let (rest, x) = x509_parser::parse_x509_certificate(der)
                .map_err(|e| format!("{at}: not a valid X.509 certificate: {e}"))?;
            if !rest.is_empty() {
                return Err(format!(
                    "{at}: {} bytes after the certificate's end",
                    rest.len()
                ));
            }
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
            let not_after = x.validity().not_after.to_datetime();
            let dns_names = x
                .subject_alternative_name()
                .ok()
                .flatten()
                .map(|san| {
                    san.value
                        .general_names
                        .iter()
                        .filter_map(|g| match g {
                            x509_parser::extensions::GeneralName::DNSName(d) => {
                                Some((*d).to_string())
                            }
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            let detail = CertDetail {
                subject: x.subject().to_string(),
                issuer: x.issuer().to_string(),
                not_before: crate::ca::rfc3339(x.validity().not_before.to_datetime()),
                not_after: crate::ca::rfc3339(not_after),
                not_after_unix: not_after.unix_timestamp(),
                is_ca: x.is_ca(),
                dns_names,
                sha256_base64: super::sha256_base64(der),
                sha256_hex: hex(digest.as_ref()),
            };
            (x.tbs_certificate.subject_pki.raw.to_vec(), Some(detail))
        }
        Kind::PublicKey => {
            let (rest, _) = SubjectPublicKeyInfo::from_der(der)
                .map_err(|e| format!("{at}: not a valid SubjectPublicKeyInfo: {e}"))?;
            if !rest.is_empty() {
                return Err(format!(
                    "{at}: {} bytes after the public key's end",
                    rest.len()
                ));
            }
            (der.to_vec(), None)
        }
        Kind::PrivateKey => {
            match private_shape(der) {
                Some(shape) if shape == structure => {}
                Some(shape) => {
                    return Err(format!(
                        "{at}: the block is labelled {} but holds a {} key",
                        structure.name(),
                        shape.name()
                    ))
                }
                None => {
                    return Err(format!(
                        "{at}: not a {} private key of a supported type (RSA, ECDSA \
                         P-256/P-384/P-521, Ed25519)",
                        structure.name()
                    ))
                }
            }
            (
                private_spki(der, structure).map_err(|e| format!("{at}: {e}"))?,
                None,
            )
        }
    };
    Ok(Item {
        source: source.to_string(),
        position,
        kind,
        structure,
        encoding,
        line,
        key_type: key_type(&spki),
        pin: super::spki_pin(&spki),
        cert,
    })
}

/// `ECDSA P-256`, `RSA 2048`, `Ed25519`, or the algorithm's OID.
pub fn key_type(spki_der: &[u8]) -> String {
    let Ok((_, spki)) = SubjectPublicKeyInfo::from_der(spki_der) else {
        return "unknown".into();
    };
    let oid = spki.algorithm.algorithm.to_id_string();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("RSA {}", rsa.key_size()),
        Ok(PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => "ECDSA P-256".into(),
                Some("1.3.132.0.34") => "ECDSA P-384".into(),
                Some("1.3.132.0.35") => "ECDSA P-521".into(),
                Some(other) => format!("EC {other}"),
                None => "EC".into(),
            }
        }
        _ if oid == "1.3.101.112" => "Ed25519".into(),
        _ if oid == "1.3.101.113" => "Ed448".into(),
        _ => format!("algorithm {oid}"),
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Days from `now` until an item's certificate expires (negative once expired).
pub fn days_left(item: &Item, now: OffsetDateTime) -> Option<i64> {
    item.cert
        .as_ref()
        .map(|c| (c.not_after_unix - now.unix_timestamp()).div_euclid(86_400))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_and_key() -> (String, String, Vec<u8>, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["api.example.test".into()]).unwrap();
        params.is_ca = rcgen::IsCa::NoCa;
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec(), key)
    }

    #[test]
    fn a_certificate_its_key_and_its_public_key_have_one_pin() {
        use rcgen::PublicKeyData as _;
        let (cert_pem, key_pem, cert_der, key) = cert_and_key();
        let expected = crate::pins::spki_pin(&key.subject_public_key_info());
        let bundle = format!("{cert_pem}{key_pem}");
        let items = read(bundle.as_bytes(), "bundle.pem").unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!((items[0].kind, items[0].line), (Kind::Certificate, Some(1)));
        assert_eq!(
            (items[1].kind, items[1].structure),
            (Kind::PrivateKey, Structure::Pkcs8)
        );
        assert!(items
            .iter()
            .all(|i| i.pin == expected && i.key_type == "ECDSA P-256"));
        assert_eq!(summary(&items), "PEM, 1 certificate, 1 PKCS#8 private key");
        let cert = items[0].cert.as_ref().unwrap();
        assert_eq!(cert.dns_names, ["api.example.test"]);
        assert!(!cert.is_ca);
        assert_eq!(cert.sha256_base64, crate::pins::sha256_base64(&cert_der));
        assert_eq!(cert.sha256_hex.len(), 64);

        let der = read(&cert_der, "leaf.der").unwrap();
        assert_eq!(
            (der[0].encoding, der[0].pin.as_str()),
            ("der", expected.as_str())
        );
        let spki = read(&key.subject_public_key_info(), "key.der").unwrap();
        assert_eq!(
            (spki[0].kind, spki[0].pin.as_str()),
            (Kind::PublicKey, expected.as_str())
        );
        let pkcs8 = read(&key.serialize_der(), "key.p8").unwrap();
        assert_eq!(pkcs8[0].structure, Structure::Pkcs8);
    }

    #[test]
    fn rsa_keys_in_pkcs1_and_ec_keys_in_sec1() {
        use rcgen::PublicKeyData as _;
        let rsa =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .unwrap();
        let expected = crate::pins::spki_pin(&rsa.subject_public_key_info());
        // PKCS#8 wraps the PKCS#1 RSAPrivateKey in an OCTET STRING: take it out.
        let pkcs8 = rsa.serialize_der();
        let (_, info) = x509_parser::der_parser::parse_der(&pkcs8).unwrap();
        let seq = info.as_sequence().unwrap();
        let pkcs1 = seq[2].as_slice().unwrap().to_vec();
        let items = read(&pkcs1, "rsa.der").unwrap();
        assert_eq!(
            (
                items[0].structure,
                items[0].key_type.as_str(),
                items[0].pin.as_str()
            ),
            (Structure::Pkcs1, "RSA 2048", expected.as_str())
        );
        let pem = format!(
            "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &pkcs1)
        );
        assert_eq!(read(pem.as_bytes(), "rsa.pem").unwrap()[0].pin, expected);
    }

    #[test]
    fn garbage_empty_and_truncated_input_is_an_error_naming_source_and_line() {
        let (cert_pem, _, cert_der, _) = cert_and_key();
        for (input, want) in [
            (b"".to_vec(), "x: empty input"),
            (b"  \n".to_vec(), "x: empty input"),
            (b"hello world".to_vec(), "x: neither PEM"),
            (cert_der[..cert_der.len() / 2].to_vec(), "x: DER that is not"),
            (
                cert_pem.as_bytes()[..cert_pem.len() / 2].to_vec(),
                "x:1: the CERTIFICATE block has no END line",
            ),
            (
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(),
                "x:1: not a valid X.509 certificate",
            ),
            (
                b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n".to_vec(),
                "x:1: the CERTIFICATE block: bad base64",
            ),
            (
                format!("{cert_pem}-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA\n-----END ENCRYPTED PRIVATE KEY-----\n").into_bytes(),
                "x:",
            ),
            (
                b"-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n".to_vec(),
                "x:1: not a PKCS#8 private key",
            ),
            (b"-----BEGIN X509 CRL-----\nAA\n-----END X509 CRL-----\n".to_vec(), "x:1: a PEM"),
        ] {
            let err = read(&input, "x").unwrap_err().to_string();
            assert!(err.starts_with(want), "{err} (wanted {want})");
        }
        let encrypted = format!(
            "{cert_pem}-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
        );
        let line = cert_pem.lines().count() + 1;
        let err = read(encrypted.as_bytes(), "x").unwrap_err();
        assert_eq!(err.at, format!("x:{line}"));
        assert!(err.message.starts_with("an encrypted private key"), "{err}");
    }

    #[test]
    fn a_self_signed_server_certificate_is_a_leaf_in_a_pin_set() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["self.test".into()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let pem = params.self_signed(&key).unwrap().pem();
        let twice = format!("{pem}{pem}");
        let items = read(twice.as_bytes(), "s").unwrap();
        assert!(items.iter().all(Item::is_ca));
        assert_eq!(
            items.iter().map(Item::acts_as_ca).collect::<Vec<_>>(),
            [false, true]
        );
    }

    #[test]
    fn chain_positions_count_certificates_only() {
        let (a, key_pem, _, _) = cert_and_key();
        let (b, _, _, _) = cert_and_key();
        let text = format!("subject=whatever\n{a}{key_pem}{b}");
        let items = read(text.as_bytes(), "c").unwrap();
        let positions: Vec<(Kind, usize, Option<usize>)> =
            items.iter().map(|i| (i.kind, i.position, i.line)).collect();
        let a_lines = a.lines().count();
        let k_lines = key_pem.lines().count();
        assert_eq!(
            positions,
            [
                (Kind::Certificate, 0, Some(2)),
                (Kind::PrivateKey, 0, Some(2 + a_lines)),
                (Kind::Certificate, 1, Some(2 + a_lines + k_lines)),
            ]
        );
    }
}
