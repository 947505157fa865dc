//! The generated certificates as other TLS stacks see them: every chain pin-proxy builds (test
//! origins, the local CA from disk, the scenario CA, each forged profile) is verified by
//! OpenSSL with `-x509_strict` and by GnuTLS's `certtool`, against one trust bundle holding
//! several origins' roots, as a scenario's trust bundle does. GnuTLS picks an issuer by name,
//! so two roots with one subject, or a certificate without key identifiers, fail here.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use pin_proxy::ca::leaf::LeafIssuer;
use pin_proxy::ca::{CertificateAuthority, KeyType};
use pin_proxy::origin::pki::OriginPki;
use pin_proxy::rules::Profile;
use rustls::pki_types::CertificateDer;

const HOST: &str = "api.example.test";

fn pem(certs: &[&CertificateDer<'_>]) -> String {
    let mut out = String::new();
    for cert in certs {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn tool(name: &str, version_flag: &str) {
    let found = Command::new(name).arg(version_flag).output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "{name} is needed (.ci/run installs openssl and gnutls-bin)"
    );
}

/// `openssl verify -x509_strict` of `leaf` with `untrusted` intermediates against `bundle`;
/// returns (success, output).
fn openssl(bundle: &Path, untrusted: Option<&Path>, leaf: &Path, extra: &[&str]) -> (bool, String) {
    let mut cmd = Command::new("openssl");
    cmd.args(["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile"])
        .arg(bundle);
    if let Some(u) = untrusted {
        cmd.arg("-untrusted").arg(u);
    }
    let out = cmd.args(extra).arg(leaf).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `certtool --verify` of `chain` (leaf first) against `bundle`, for the TLS server purpose and
/// `host`; returns (success, output).
fn certtool(bundle: &Path, chain: &Path, host: &str) -> (bool, String) {
    let out = Command::new("certtool")
        .arg("--verify")
        .arg("--load-ca-certificate")
        .arg(bundle)
        .arg("--infile")
        .arg(chain)
        .arg(format!("--verify-hostname={host}"))
        .arg("--verify-purpose=1.3.6.1.5.5.7.3.1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn openssl_strict_and_gnutls_build_and_verify_every_generated_chain() {
    tool("openssl", "version");
    tool("certtool", "--version");
    for key_type in [KeyType::EcdsaP256, KeyType::Rsa2048] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // As `ca init` writes it and `proxy` loads it.
        let ca_dir = d.join("ca");
        CertificateAuthority::create(&ca_dir, key_type, false).unwrap();
        let ca = Arc::new(CertificateAuthority::load(&ca_dir).unwrap());
        let scenario_ca =
            Arc::new(CertificateAuthority::ephemeral(key_type, "pin-proxy scenario CA").unwrap());
        let origins: Vec<OriginPki> = ["api", "cdn", "auth"]
            .iter()
            .map(|name| OriginPki::generate(key_type, name, &["current", "next"]).unwrap())
            .collect();
        // One bundle for all, as the runner's `{trust_bundle}`: both proxy CAs and every root.
        let mut bundle = format!("{}{}", ca.cert_pem(), scenario_ca.cert_pem());
        for pki in &origins {
            bundle.push_str(pki.root_pem());
        }
        let bundle = write(d, "bundle.pem", &bundle);

        for (i, pki) in origins.iter().enumerate() {
            for key in ["current", "next"] {
                let leaf = pki.leaf(&[HOST.to_string()], key).unwrap();
                let what = format!("{key_type:?} origin {i} key {key}");
                let leaf_pem = write(d, "leaf.pem", &pem(&[&leaf.cert[0]]));
                let int_pem = write(d, "int.pem", &pem(&[&leaf.cert[1]]));
                let chain = write(d, "chain.pem", &pem(&[&leaf.cert[0], &leaf.cert[1]]));
                let (ok, out) = openssl(
                    &bundle,
                    Some(&int_pem),
                    &leaf_pem,
                    &["-verify_hostname", HOST],
                );
                assert!(ok, "{what}: openssl: {out}");
                let (ok, out) = certtool(&bundle, &chain, HOST);
                assert!(ok, "{what}: certtool: {out}");
            }
        }

        for issuer_ca in [ca.clone(), scenario_ca.clone()] {
            let issuer = LeafIssuer::new(issuer_ca, key_type, Vec::new()).unwrap();
            let leaf_of = |profile| {
                let leaf = issuer.leaf(HOST, profile).unwrap();
                let chain: Vec<&CertificateDer<'_>> = leaf.certified.cert.iter().collect();
                (
                    write(d, "p-leaf.pem", &pem(&chain[..1])),
                    write(d, "p-chain.pem", &pem(&chain)),
                )
            };
            let what = format!("{key_type:?} {}", issuer.ca().subject());

            let (leaf, chain) = leaf_of(Profile::Forged);
            let (ok, out) = openssl(&bundle, None, &leaf, &["-verify_hostname", HOST]);
            assert!(ok, "{what} forged: openssl: {out}");
            let (ok, out) = certtool(&bundle, &chain, HOST);
            assert!(ok, "{what} forged: certtool: {out}");

            // wrong-host: a good chain, for another name.
            let (leaf, chain) = leaf_of(Profile::WrongHost);
            assert!(openssl(&bundle, None, &leaf, &[]).0, "{what} wrong-host");
            let (ok, out) = openssl(&bundle, None, &leaf, &["-verify_hostname", HOST]);
            assert!(!ok && out.contains("hostname mismatch"), "{what}: {out}");
            let (ok, out) = certtool(&bundle, &chain, HOST);
            assert!(!ok && out.contains("does not match"), "{what}: {out}");

            // expired: refused for its dates, and for nothing else.
            let (leaf, _) = leaf_of(Profile::Expired);
            let (ok, out) = openssl(&bundle, None, &leaf, &[]);
            assert!(
                !ok && out.contains("certificate has expired"),
                "{what}: {out}"
            );
            let (ok, out) = openssl(&bundle, None, &leaf, &["-no_check_time"]);
            assert!(ok, "{what} expired, clock ignored: {out}");

            // untrusted-ca: a sound chain to a CA that no bundle holds.
            let (leaf, chain) = leaf_of(Profile::UntrustedCa);
            let (ok, out) = certtool(&bundle, &chain, HOST);
            assert!(!ok, "{what} untrusted-ca passed: {out}");
            let own = write(d, "untrusted.pem", issuer.untrusted_ca().cert_pem());
            let (ok, out) = openssl(&own, None, &leaf, &["-verify_hostname", HOST]);
            assert!(ok, "{what} untrusted-ca, its own CA trusted: {out}");
            let (ok, out) = certtool(&own, &chain, HOST);
            assert!(ok, "{what} untrusted-ca, its own CA trusted: {out}");
        }
    }
}
