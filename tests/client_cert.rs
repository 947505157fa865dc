//! `--client-cert` end to end: real curl through the real pin-proxy binary to a test origin on
//! loopback that requires a client certificate from a CA of the test's own, at TLS 1.2 or 1.3
//! only. Every key and certificate is generated here at test time (rcgen; openssl for the
//! PKCS#1, SEC1 and PKCS#12 forms). A matching entry is presented (the origin echoes the
//! subject it verified); without one, TLS 1.2 is `upstream_failed` at the handshake and TLS 1.3
//! a 502 after the request, both naming the flag; a certificate the origin does not trust is
//! "refused", not "none configured"; the first matching entry wins; bad entries exit 2 naming
//! the entry and the file, and never print the key.

mod common;

use std::path::{Path, PathBuf};

use common::{only_for, Harness, Opts, HOST};
use pin_proxy::origin::OriginTls;
use pin_proxy::record::{ConnectionRecord, Stage, VerdictKind};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The subject of the certificate the app's CA issued.
const APP_CLIENT: &str = "CN=app client 1";
/// The subject of a certificate from a CA the origin does not trust.
const STRANGER: &str = "CN=stranger client";

/// A client CA, its PEM, and the files of the client certificates it issued.
struct ClientPki {
    dir: tempfile::TempDir,
    ca_der: rustls::pki_types::CertificateDer<'static>,
    ca_pem: PathBuf,
    ca_key: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

impl ClientPki {
    fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let key = KeyPair::generate().expect("a CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("the CA certificate");
        let ca_pem = dir.path().join("client-ca.pem");
        std::fs::write(&ca_pem, cert.pem()).expect("write the CA");
        let ca_key = dir.path().join("client-ca.key");
        write_key(&ca_key, &key.serialize_pem());
        Self {
            ca_der: cert.der().clone(),
            ca_pem,
            ca_key,
            issuer: Issuer::new(params, key),
            dir,
        }
    }

    /// A client certificate (`CN=cn`, clientAuth) and its PKCS#8 key, as `stem.pem` and
    /// `stem.key`; the certificate file holds the CA after the leaf, as an app's chain may.
    fn client(&self, stem: &str, cn: &str) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().expect("a client key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("the client certificate");
        let cert_path = self.dir.path().join(format!("{stem}.pem"));
        let ca = std::fs::read_to_string(&self.ca_pem).expect("the CA");
        std::fs::write(&cert_path, format!("{}{ca}", cert.pem())).expect("write the cert");
        let key_path = self.dir.path().join(format!("{stem}.key"));
        write_key(&key_path, &key.serialize_pem());
        (cert_path, key_path)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Writes a private key with mode 0600, as the README tells testers to keep theirs.
fn write_key(path: &Path, pem: &str) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .expect("create the key file");
    f.write_all(pem.as_bytes()).expect("write the key");
}

fn entry(glob: &str, cert: &Path, key: &Path) -> String {
    format!("{glob}={},{}", cert.display(), key.display())
}

/// A proxy in front of an origin that speaks only `version` and requires a certificate from
/// `pki`'s CA, with `--client-cert` entries `entries`.
fn harness(
    version: &'static rustls::SupportedProtocolVersion,
    pki: &ClientPki,
    entries: &[String],
) -> Harness {
    let args = entries
        .iter()
        .flat_map(|e| ["--client-cert".to_string(), e.clone()])
        .collect();
    Harness::with(Opts {
        args,
        origin_tls: Some(OriginTls {
            version: Some(version),
            client_cas: vec![pki.ca_der.clone()],
        }),
        ..Opts::default()
    })
}

/// curl through `h` to `path`: (HTTP status as curl printed it, body, curl's exit code).
fn fetch(h: &Harness, extra: &[&str], path: &str) -> (String, String, Option<i32>) {
    let mut args = vec![
        "--cacert",
        h.bundle.to_str().expect("a UTF-8 path"),
        "-w",
        "\n%{http_code}",
    ];
    args.extend_from_slice(extra);
    let url = h.url(path);
    args.push(&url);
    let out = h.curl(&args);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.to_string(), body.to_string(), out.status.code())
}

fn none_configured() -> String {
    format!(
        "the origin asked for a client certificate and none is configured for {HOST}: give \
         --client-cert '{HOST}=CERT,KEY'"
    )
}

/// The one record of the test's curl connection.
fn curl_record(records: &[ConnectionRecord]) -> &ConnectionRecord {
    only_for(records, HOST)
}

#[test]
fn tls12_and_tls13_origins_are_shown_the_configured_certificate() {
    let pki = ClientPki::new("app CA");
    let (cert, key) = pki.client("client", "app client 1");
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let mut h = harness(version, &pki, &[entry(HOST, &cert, &key)]);
        let log = h.capture_stderr();
        let (code, body, _) = fetch(&h, &[], "/hello");
        assert_eq!(code, "200", "{version:?}: {body}");
        // The origin verified the certificate against its CA and echoes its subject.
        assert!(
            body.contains(&format!("client certificate: {APP_CLIENT}\n")),
            "{version:?}: {body}"
        );
        let seen = h.origin.requests();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].client_cert.as_deref(), Some(APP_CLIENT));
        let (records, _) = h.stop_after(1);
        let r = curl_record(&records);
        assert_eq!(r.verdict, VerdictKind::Proceeded, "{r:#?}");
        assert_eq!(r.requests[0].status, Some(200));
        assert_eq!(r.requests[0].error, None);
        // The banner names the glob, the subject and the file, never the key.
        let stderr = log.finish();
        assert!(
            stderr.contains(&format!(
                "  client certs: {HOST} -> {APP_CLIENT} ({})",
                cert.display()
            )),
            "{stderr}"
        );
        let key_text = std::fs::read_to_string(&key).expect("the key");
        let key_body = key_text.lines().nth(1).expect("a key line");
        assert!(!stderr.contains(key_body), "{stderr}");
        assert!(!stderr.contains(&key.display().to_string()), "{stderr}");
    }
}

#[test]
fn tls12_without_a_configured_certificate_is_upstream_failed_naming_the_flag() {
    let pki = ClientPki::new("app CA");
    let h = harness(&rustls::version::TLS12, &pki, &[]);
    let (code, _, exit) = fetch(&h, &[], "/hello");
    // The origin refused the proxy's handshake before any certificate went to curl: the
    // tunnel closes during curl's handshake.
    assert_eq!(code, "000");
    assert_ne!(exit, Some(0));
    assert!(h.origin.requests().is_empty());
    let (records, _) = h.stop_after(1);
    let r = curl_record(&records);
    assert_eq!(r.verdict, VerdictKind::UpstreamFailed, "{r:#?}");
    assert_eq!(r.stage, Stage::Handshake);
    assert_eq!(r.presented_pin, None);
    assert!(r.reason.starts_with(&none_configured()), "{}", r.reason);
    assert!(
        r.reason
            .contains("(TLS with the origin failed: received fatal alert: "),
        "{}",
        r.reason
    );
}

#[test]
fn tls13_without_a_configured_certificate_gets_a_502_naming_the_flag() {
    let pki = ClientPki::new("app CA");
    // HTTP/1.1 and HTTP/2 towards the origin fail at different moments; both are told.
    for (extra, label) in [(&["--http1.1"][..], "http/1.1"), (&[][..], "h2")] {
        let mut h = harness(&rustls::version::TLS13, &pki, &[]);
        let log = h.capture_stderr();
        let (code, body, _) = fetch(&h, extra, "/hello?token=s3cret");
        assert_eq!(code, "502", "{label}: {body}");
        assert!(
            body.starts_with(&format!("pin-proxy: the origin {HOST}:443 failed: ")),
            "{label}: {body}"
        );
        assert!(body.contains(&none_configured()), "{label}: {body}");
        assert!(
            body.contains(
                "the origin ended the connection after the handshake: received fatal \
                           alert: CertificateRequired"
            ),
            "{label}: {body}"
        );
        assert!(h.origin.requests().is_empty());
        let (records, _) = h.stop_after(1);
        let r = curl_record(&records);
        // curl sent its request through our certificate: it proceeded, whatever the origin did.
        assert_eq!(r.verdict, VerdictKind::Proceeded, "{label}: {r:#?}");
        assert_eq!(r.alpn.as_deref(), Some(label));
        assert_eq!(r.requests.len(), 1);
        assert_eq!(r.requests[0].status, Some(502));
        let error = r.requests[0].error.as_deref().unwrap_or_default();
        assert!(error.starts_with(&none_configured()), "{label}: {error}");
        let stderr = log.finish();
        assert!(
            stderr.contains(&format!(
                "pin-proxy: #{} {HOST}:443: GET /hello?token=<redacted> -> 502: {}",
                r.id,
                none_configured()
            )),
            "{label}: {stderr}"
        );
    }
}

#[test]
fn an_entry_whose_glob_does_not_match_is_none_configured() {
    let pki = ClientPki::new("app CA");
    let (cert, key) = pki.client("client", "app client 1");
    let others = [entry("*.bank.example", &cert, &key)];
    let h = harness(&rustls::version::TLS13, &pki, &others);
    let (code, body, _) = fetch(&h, &[], "/hello");
    assert_eq!(code, "502", "{body}");
    assert!(body.contains(&none_configured()), "{body}");
    let (records, _) = h.stop_after(1);
    let r = curl_record(&records);
    let error = r.requests[0].error.as_deref().unwrap_or_default();
    assert!(error.starts_with(&none_configured()), "{error}");

    let h = harness(&rustls::version::TLS12, &pki, &others);
    let (code, _, _) = fetch(&h, &[], "/hello");
    assert_eq!(code, "000");
    let (records, _) = h.stop_after(1);
    let r = curl_record(&records);
    assert_eq!(r.verdict, VerdictKind::UpstreamFailed);
    assert!(r.reason.starts_with(&none_configured()), "{}", r.reason);
}

#[test]
fn a_certificate_the_origin_does_not_trust_is_refused_not_missing() {
    let pki = ClientPki::new("app CA");
    let stranger = ClientPki::new("stranger CA");
    let (cert, key) = stranger.client("stranger", "stranger client");
    let refused = format!(
        "the origin refused the configured client certificate for {HOST}, --client-cert {HOST} \
         ({STRANGER})"
    );
    let entries = [entry(HOST, &cert, &key)];

    let h = harness(&rustls::version::TLS12, &pki, &entries);
    let (code, _, _) = fetch(&h, &[], "/hello");
    assert_eq!(code, "000");
    let (records, _) = h.stop_after(1);
    let r = curl_record(&records);
    assert_eq!(r.verdict, VerdictKind::UpstreamFailed, "{r:#?}");
    assert_eq!(r.stage, Stage::Handshake);
    assert!(r.reason.starts_with(&refused), "{}", r.reason);
    assert!(!r.reason.contains("none is configured"), "{}", r.reason);

    let h = harness(&rustls::version::TLS13, &pki, &entries);
    let (code, body, _) = fetch(&h, &[], "/hello");
    assert_eq!(code, "502", "{body}");
    assert!(body.contains(&refused), "{body}");
    assert!(!body.contains("none is configured"), "{body}");
    // The origin was shown the certificate and its verifier turned it down.
    assert!(h.origin.requests().is_empty());
    let failed = h.origin.handshakes();
    assert!(failed.iter().any(|hs| hs.failure.is_some()), "{failed:?}");
    let (records, _) = h.stop_after(1);
    let r = curl_record(&records);
    assert_eq!(r.verdict, VerdictKind::Proceeded);
    let error = r.requests[0].error.as_deref().unwrap_or_default();
    assert!(error.starts_with(&refused), "{error}");
}

#[test]
fn the_first_matching_entry_wins_over_a_more_specific_later_one() {
    let pki = ClientPki::new("app CA");
    let stranger = ClientPki::new("stranger CA");
    let (good, good_key) = pki.client("client", "app client 1");
    let (bad, bad_key) = stranger.client("stranger", "stranger client");
    let h = harness(
        &rustls::version::TLS13,
        &pki,
        &[
            entry("*.test", &good, &good_key),
            entry(HOST, &bad, &bad_key),
        ],
    );
    let (code, body, _) = fetch(&h, &[], "/first");
    assert_eq!(code, "200", "{body}");
    assert!(body.contains(APP_CLIENT), "{body}");
    h.stop_after(1);

    let h = harness(
        &rustls::version::TLS13,
        &pki,
        &[
            entry(HOST, &bad, &bad_key),
            entry("*.test", &good, &good_key),
        ],
    );
    let (code, body, _) = fetch(&h, &[], "/first");
    assert_eq!(code, "502", "{body}");
    assert!(body.contains(STRANGER), "{body}");
    h.stop_after(1);
}

#[test]
fn sec1_pkcs1_and_a_pkcs12_bundle_turned_into_pem_are_presented() {
    let pki = ClientPki::new("app CA");
    let d = pki.dir.path();
    // SEC1: the EC key as "EC PRIVATE KEY".
    let (ec_cert, ec_key) = pki.client("ec", "app client 1");
    common::openssl::run(
        d,
        &[
            "pkey",
            "-in",
            "ec.key",
            "-traditional",
            "-out",
            "ec.sec1.key",
        ],
    );
    let sec1 = std::fs::read_to_string(pki.path("ec.sec1.key")).expect("the SEC1 key");
    assert!(sec1.starts_with("-----BEGIN EC PRIVATE KEY-----"), "{sec1}");
    // PKCS#1: an RSA key as "RSA PRIVATE KEY", its certificate signed by the same CA.
    std::fs::write(pki.path("client.ext"), "extendedKeyUsage=clientAuth\n").expect("ext");
    common::openssl::run(
        d,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "rsa.key",
            "-subj",
            "/CN=app client rsa",
            "-out",
            "rsa.csr",
        ],
    );
    let (ca_pem, ca_key) = (
        pki.ca_pem.display().to_string(),
        pki.ca_key.display().to_string(),
    );
    common::openssl::run(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "rsa.csr",
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "client.ext",
            "-out",
            "rsa.pem",
        ],
    );
    common::openssl::run(
        d,
        &[
            "pkey",
            "-in",
            "rsa.key",
            "-traditional",
            "-out",
            "rsa.pkcs1.key",
        ],
    );
    let pkcs1 = std::fs::read_to_string(pki.path("rsa.pkcs1.key")).expect("the PKCS#1 key");
    assert!(
        pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"),
        "{pkcs1}"
    );
    // PKCS#12: the app's bundle, turned back into PEM with the README's two commands.
    common::openssl::run(
        d,
        &[
            "pkcs12",
            "-export",
            "-in",
            "ec.pem",
            "-inkey",
            "ec.key",
            "-passout",
            "pass:bundle-pw",
            "-out",
            "app.p12",
        ],
    );
    common::openssl::run(
        d,
        &[
            "pkcs12",
            "-in",
            "app.p12",
            "-passin",
            "pass:bundle-pw",
            "-clcerts",
            "-nokeys",
            "-out",
            "p12.pem",
        ],
    );
    common::openssl::run(
        d,
        &[
            "pkcs12",
            "-in",
            "app.p12",
            "-passin",
            "pass:bundle-pw",
            "-nocerts",
            "-nodes",
            "-out",
            "p12.key",
        ],
    );
    let cases = [
        ("SEC1", ec_cert.clone(), pki.path("ec.sec1.key"), APP_CLIENT),
        (
            "PKCS#1",
            pki.path("rsa.pem"),
            pki.path("rsa.pkcs1.key"),
            "CN=app client rsa",
        ),
        (
            "PKCS#12",
            pki.path("p12.pem"),
            pki.path("p12.key"),
            APP_CLIENT,
        ),
    ];
    assert!(ec_key.exists());
    for (form, cert, key, subject) in cases {
        let h = harness(&rustls::version::TLS12, &pki, &[entry(HOST, &cert, &key)]);
        let (code, body, _) = fetch(&h, &[], "/form");
        assert_eq!(code, "200", "{form}: {body}");
        assert!(
            body.contains(&format!("client certificate: {subject}\n")),
            "{form}: {body}"
        );
        h.stop_after(1);
    }
}

#[test]
fn bad_entries_exit_2_naming_the_entry_and_the_file() {
    let pki = ClientPki::new("app CA");
    let (cert, key) = pki.client("client", "app client 1");
    let (_, other_key) = pki.client("other", "app client 2");
    let missing = pki.path("missing.pem");
    let key_text = std::fs::read_to_string(&other_key).expect("the key");
    let key_body = key_text.lines().nth(1).expect("a key line").to_string();
    let cases = [
        (
            format!("{HOST}:{}", cert.display()),
            "expected GLOB=CERT,KEY".to_string(),
        ),
        (
            format!("{HOST}={}", cert.display()),
            "expected GLOB=CERT,KEY".to_string(),
        ),
        (
            entry(HOST, &missing, &key),
            format!("cannot read the certificate {}", missing.display()),
        ),
        (
            entry(HOST, &cert, &missing),
            format!("cannot read the key {}", missing.display()),
        ),
        (
            entry(HOST, &key, &key),
            format!("no certificate in {}", key.display()),
        ),
        (
            entry(HOST, &cert, &cert),
            format!("no private key in {}", cert.display()),
        ),
        (
            entry(HOST, &cert, &other_key),
            "the key does not belong to the certificate".to_string(),
        ),
        (
            entry("api/test", &cert, &key),
            "bad host pattern".to_string(),
        ),
    ];
    let home = tempfile::tempdir().expect("a temporary directory");
    for (value, says) in cases {
        let out = assert_cmd::Command::new(common::bin())
            .arg("--ca-dir")
            .arg(home.path().join("ca"))
            .args([
                "proxy",
                "--listen",
                "127.0.0.1:0",
                "--quiet",
                "--client-cert",
            ])
            .arg(&value)
            .timeout(std::time::Duration::from_secs(10))
            .output()
            .expect("pin-proxy runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{value}: {stderr}");
        assert!(
            stderr.starts_with(&format!("pin-proxy: error: --client-cert '{value}': ")),
            "{value}: {stderr}"
        );
        assert!(stderr.contains(&says), "{value}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(!stderr.contains(&key_body), "{value}: {stderr}");
    }
}
