//! The certificate profile pin-proxy's generated certificates must meet (test-only): RFC 5280 as
//! browsers and the CA/Browser Forum Baseline Requirements apply it to TLS CA and server
//! certificates, for the parts a TLS stack may enforce. Unit tests of `ca` and `origin::pki` run
//! every certificate they generate through [`problems`]; `tests/pki.rs` adds OpenSSL's
//! `-x509_strict` and GnuTLS's `certtool` on the same kinds of chain.

use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::*;

/// What a certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// A self-signed trust anchor.
    Root,
    /// A CA below a root, with the pathLenConstraint it must carry: the number of CAs below it
    /// (0 for the one that signs leaves).
    Intermediate {
        /// The pathLenConstraint it must carry.
        path_len: u8,
    },
    /// A TLS server certificate.
    Leaf,
}

/// Every way `cert` (DER) falls short of its role's profile, as signed by `issuer` (DER; the
/// certificate itself for a root). Empty when it meets it.
pub(crate) fn problems(cert: &[u8], issuer: &[u8], role: Role) -> Vec<String> {
    let mut out = Vec::new();
    let Ok((_, x)) = parse_x509_certificate(cert) else {
        return vec!["not an X.509 certificate".into()];
    };
    let Ok((_, i)) = parse_x509_certificate(issuer) else {
        return vec!["the issuer is not an X.509 certificate".into()];
    };
    let mut fail = |m: String| out.push(m);

    if x.version() != X509Version::V3 {
        fail("not version 3".into());
    }
    let serial = x.raw_serial();
    if serial.is_empty() || serial.len() > 20 || serial[0] & 0x80 != 0 || serial.len() < 9 {
        fail(format!(
            "serial must be positive, 64 bits of randomness or more, at most 20 octets ({} octets)",
            serial.len()
        ));
    }
    if x.issuer().as_raw() != i.subject().as_raw() {
        fail("the issuer field is not byte for byte the issuer's subject".into());
    }
    if x.signature_algorithm != x.tbs_certificate.signature {
        fail("the two signature algorithm fields differ".into());
    }
    if x.verify_signature(Some(i.public_key())).is_err() {
        fail("the signature does not verify with the issuer's key".into());
    }
    if x.subject().iter_common_name().next().is_none() {
        fail("no common name".into());
    }
    let (nb, na) = (
        x.validity().not_before.timestamp(),
        x.validity().not_after.timestamp(),
    );
    if na <= nb {
        fail("validity ends before it starts".into());
    }
    if role != Role::Root {
        let (inb, ina) = (
            i.validity().not_before.timestamp(),
            i.validity().not_after.timestamp(),
        );
        if nb < inb || na > ina {
            fail("validity does not nest in the issuer's".into());
        }
    }

    let ski = x
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        });
    let issuer_ski = i
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        });
    let aki = x
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                Some(a.key_identifier.as_ref().map(|k| k.0.to_vec()))
            }
            _ => None,
        });
    let self_issued = x.subject().as_raw() == x.issuer().as_raw();
    match aki {
        // RFC 5280 4.2.1.1: a self-signed certificate may omit it.
        None if self_issued => {}
        None => fail("no Authority Key Identifier".into()),
        Some(None) => fail("the Authority Key Identifier has no keyIdentifier".into()),
        Some(Some(aki)) if Some(&aki) != issuer_ski.as_ref() => {
            fail("the Authority Key Identifier is not the issuer's Subject Key Identifier".into())
        }
        Some(Some(_)) => {}
    }
    for e in x.iter_extensions() {
        if let ParsedExtension::UnsupportedExtension { .. } = e.parsed_extension() {
            if e.critical {
                fail(format!("an unknown critical extension {}", e.oid));
            }
        }
    }

    let bc = x.basic_constraints().ok().flatten();
    let ku = x.key_usage().ok().flatten();
    let eku = x.extended_key_usage().ok().flatten();
    let ec = matches!(
        x.public_key().parsed(),
        Ok(x509_parser::public_key::PublicKey::EC(_))
    );
    if role == Role::Leaf {
        if bc.is_some_and(|b| b.value.ca) {
            fail("a leaf with cA=TRUE".into());
        }
        match &ku {
            None => fail("no key usage".into()),
            Some(k) => {
                if !k.critical {
                    fail("key usage is not critical".into());
                }
                if !k.value.digital_signature() {
                    fail("key usage lacks digitalSignature".into());
                }
                if ec && k.value.key_encipherment() {
                    fail("keyEncipherment on an EC key".into());
                }
                if k.value.key_cert_sign() || k.value.crl_sign() {
                    fail("a leaf that may sign certificates or CRLs".into());
                }
            }
        }
        match &eku {
            Some(e) if e.value.server_auth && !e.value.any => {}
            _ => {
                fail("extended key usage must name serverAuth (and not anyExtendedKeyUsage)".into())
            }
        }
        match x.subject_alternative_name().ok().flatten() {
            None => fail("no subjectAltName".into()),
            Some(san) => {
                if san.value.general_names.is_empty() {
                    fail("an empty subjectAltName".into());
                }
                let cn = x
                    .subject()
                    .iter_common_name()
                    .next()
                    .and_then(|c| c.as_str().ok())
                    .unwrap_or_default();
                let listed = san.value.general_names.iter().any(|n| match n {
                    GeneralName::DNSName(d) => d.eq_ignore_ascii_case(cn),
                    GeneralName::IPAddress(b) => ip_text(b).as_deref() == Some(cn),
                    _ => false,
                });
                if !listed {
                    fail(format!(
                        "the common name {cn:?} is not in the subjectAltName"
                    ));
                }
            }
        }
        if na - nb > 200 * 86_400 {
            fail("valid for more than the 200 days the Baseline Requirements allow".into());
        }
    } else {
        match &bc {
            Some(b) if b.critical && b.value.ca => {
                if let Role::Intermediate { path_len } = role {
                    if b.value.path_len_constraint != Some(u32::from(path_len)) {
                        fail(format!(
                            "an intermediate with {path_len} CA(s) below it should have pathLen \
                             {path_len} (it has {:?})",
                            b.value.path_len_constraint
                        ));
                    }
                }
            }
            _ => fail("basic constraints must be critical with cA=TRUE".into()),
        }
        match &ku {
            Some(k) if k.critical && k.value.key_cert_sign() && k.value.crl_sign() => {}
            _ => fail("key usage must be critical with keyCertSign and cRLSign".into()),
        }
        if ski.is_none() {
            fail("no Subject Key Identifier".into());
        }
        match (role, &eku) {
            (Role::Root, Some(_)) => fail("a root with an extended key usage".into()),
            (Role::Intermediate { .. }, Some(e)) if e.value.server_auth && !e.value.any => {}
            (Role::Intermediate { .. }, _) => {
                fail("a TLS intermediate's extended key usage must name serverAuth".into())
            }
            _ => {}
        }
        if role == Role::Root && !self_issued {
            fail("a root that is not self-issued".into());
        }
    }
    out
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| std::net::Ipv4Addr::from(b).to_string()),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| std::net::Ipv6Addr::from(b).to_string()),
        _ => None,
    }
}

/// Asserts that `cert` meets its role's profile, naming `what` on failure.
pub(crate) fn assert_meets(what: &str, cert: &[u8], issuer: &[u8], role: Role) {
    let problems = problems(cert, issuer, role);
    assert!(problems.is_empty(), "{what}: {}", problems.join("; "));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::{CertificateAuthority, KeyType};

    #[test]
    fn a_leaf_checked_as_a_ca_and_the_wrong_issuer_are_caught() {
        let ca = CertificateAuthority::ephemeral(KeyType::EcdsaP256, "a").unwrap();
        let other = CertificateAuthority::ephemeral(KeyType::EcdsaP256, "b").unwrap();
        let issuer = crate::ca::leaf::LeafIssuer::new(
            std::sync::Arc::new(ca),
            KeyType::EcdsaP256,
            Vec::new(),
        )
        .unwrap();
        let leaf = issuer
            .leaf("api.test", crate::rules::Profile::Forged)
            .unwrap();
        let leaf = &leaf.certified.cert[0];
        let ca_der = issuer.ca().cert_der();
        assert_meets("forged leaf", leaf, ca_der, Role::Leaf);
        let as_ca = problems(leaf, ca_der, Role::Intermediate { path_len: 0 });
        assert!(as_ca.iter().any(|p| p.contains("cA=TRUE")), "{as_ca:?}");
        let wrong = problems(leaf, other.cert_der(), Role::Leaf);
        assert!(
            wrong.iter().any(|p| p.contains("byte for byte")),
            "{wrong:?}"
        );
        assert!(
            wrong.iter().any(|p| p.contains("does not verify")),
            "{wrong:?}"
        );
        assert!(
            wrong.iter().any(|p| p.contains("Authority Key")),
            "{wrong:?}"
        );
    }
}
