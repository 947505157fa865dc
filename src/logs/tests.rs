//! Whole-reader tests: a sample of each format through [`super::explain`], prefixes, wrapping,
//! repeats, chunk boundaries and bad input. The samples follow each library's own text (the
//! parsers' `Tested on:` lines); the fixtures under tests/fixtures/logs are run by tests/logs.rs.

use super::*;

const PIN_A: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const PIN_B: &str = "/ixgr6MMNrnKpNw7Z/QDrCB97il+b0DJnI7iUZ5L9Ms=";
const PIN_C: &str = "r/mIkG3eEpVdm+u/ko/cwxzOMo1bk4TyHIlByibiA5E=";

fn run(log: &str) -> Vec<Failure> {
    explain(log.as_bytes()).expect("a text log").failures
}

fn one(log: &str) -> Failure {
    let failures = run(log);
    assert_eq!(failures.len(), 1, "{failures:#?}");
    failures
        .into_iter()
        .next()
        .unwrap_or_else(|| unreachable!())
}

fn okhttp_block(host: &str, chain: &[(&str, &str)], pinned: &[&str]) -> String {
    let mut s = String::from("javax.net.ssl.SSLPeerUnverifiedException: Certificate pinning failure!\n  Peer certificate chain:\n");
    for (pin, dn) in chain {
        s.push_str(&format!("    sha256/{pin}: {dn}\n"));
    }
    s.push_str(&format!("  Pinned certificates for {host}:\n"));
    for pin in pinned {
        s.push_str(&format!("    sha256/{pin}\n"));
    }
    s.push_str("\tat okhttp3.CertificatePinner.check(CertificatePinner.kt:200)\n");
    s
}

#[test]
fn okhttp_rotated_intercepted_and_empty_chain() {
    let rotated = okhttp_block(
        "ecc384.badssl.com",
        &[
            (PIN_A, "CN=*.badssl.com"),
            (PIN_C, "CN=E7, O=Let's Encrypt, C=US"),
        ],
        &[PIN_B],
    );
    let f = one(&rotated);
    assert_eq!(f.format, Format::Okhttp);
    assert_eq!(f.host.as_deref(), Some("ecc384.badssl.com"));
    assert_eq!(f.presented_pins, [PIN_A, PIN_C]);
    assert_eq!(f.pinned_pins, [PIN_B]);
    assert_eq!(f.pin_kind, Some(PinKind::SpkiSha256));
    assert_eq!(f.diagnosis, Diagnosis::KeyRotated);
    assert_eq!(
        f.presented_chain[1].subject.as_deref(),
        Some("CN=E7, O=Let's Encrypt, C=US")
    );
    assert_eq!(f.line, 1);

    let proxied = okhttp_block(
        "api.example.com",
        &[
            (PIN_A, "CN=api.example.com"),
            (PIN_C, "CN=mitmproxy,O=mitmproxy"),
        ],
        &[PIN_B],
    );
    assert_eq!(one(&proxied).diagnosis, Diagnosis::Intercepted);

    let empty = okhttp_block("api.example.com", &[], &[PIN_B]);
    let f = one(&empty);
    assert!(f.presented_pins.is_empty());
    assert_eq!(f.diagnosis, Diagnosis::Unknown);
}

#[test]
fn okhttp_hostname_block_is_a_trust_failure() {
    let log = format!(
        "javax.net.ssl.SSLPeerUnverifiedException: Hostname api.example.com not verified:\n    certificate: sha256/{PIN_A}\n    DN: CN=other.example.com\n    subjectAltNames: [other.example.com]\n\tat okhttp3.internal.connection.RealConnection.connectTls(RealConnection.kt:389)\n"
    );
    let f = one(&log);
    assert_eq!(f.diagnosis, Diagnosis::TrustFailure);
    assert_eq!(f.host.as_deref(), Some("api.example.com"));
    assert_eq!(f.presented_pins, [PIN_A]);
}

#[test]
fn prefixes_retries_and_crlf() {
    let block = okhttp_block(
        "api.example.com",
        &[
            (PIN_A, "CN=api.example.com"),
            (PIN_C, "CN=R3,O=Let's Encrypt,C=US"),
        ],
        &[PIN_B],
    );
    let prefixes = [
        "12-01 10:00:00.123  1234  5678 W System.err: ",
        "W/System.err( 1234): ",
        "2021-07-15 19:00:41.822 12641-16010/com.example W/System.err: ",
        "2026-12-01T10:00:00.1234567Z ",
        "> ",
        "Dec  1 10:00:00 host app[123]: ",
    ];
    for prefix in prefixes {
        let mut log = String::from("noise line\r\n");
        for _ in 0..3 {
            for l in block.lines() {
                log.push_str(&format!("{prefix}{l}\r\n"));
            }
            log.push_str("retrying in 1s\r\n");
        }
        let f = one(&log);
        assert_eq!(f.count, 3, "{prefix:?}");
        assert_eq!(f.line, 2);
        assert_eq!(f.presented_pins, [PIN_A, PIN_C], "{prefix:?}");
        assert_eq!(f.diagnosis, Diagnosis::KeyRotated);
    }
}

#[test]
fn a_pin_wrapped_at_80_columns_is_joined() {
    let line = format!("    sha256/{PIN_A}: CN=api.example.com");
    let (a, b) = line.split_at(30);
    let log = format!(
        "javax.net.ssl.SSLPeerUnverifiedException: Certificate pinning failure!\n  Peer certificate chain:\n{a}\n{b}\n    sha256/{PIN_C}: CN=R3,O=Let's Encrypt,C=US\n  Pinned certificates for api.example.com:\n    sha256/{PIN_B}\n"
    );
    // The first half must be long enough to look cut: pad it as a wrapping terminal would.
    let padded = log.replace(&format!("{a}\n"), &format!("{}{a}\n", " ".repeat(20)));
    let f = one(&padded);
    assert_eq!(f.presented_pins, [PIN_A, PIN_C]);
}

#[test]
fn invalid_utf8_and_long_lines_are_tolerated() {
    let mut log: Vec<u8> = b"caf\xe9 \xff\xfe broken\n".to_vec();
    log.extend(vec![b'x'; read::MAX_LINE + 10]);
    log.push(b'\n');
    log.extend_from_slice(
        okhttp_block(
            "a.example",
            &[(PIN_A, "CN=a.example"), (PIN_C, "CN=Real CA")],
            &[PIN_B],
        )
        .as_bytes(),
    );
    let e = explain(&log[..]).expect("text");
    assert_eq!(e.failures.len(), 1);
    assert_eq!(e.failures[0].line, 3);
}

#[test]
fn failures_across_chunk_boundaries_keep_their_line_numbers() {
    let filler = "01-01 00:00:00.000  1  1 I Noise: nothing to see here, just a line of logcat\n";
    let mut log = String::new();
    let mut expected = Vec::new();
    let mut line = 1u64;
    for i in 0..40 {
        for _ in 0..(i * 97 % 4000) {
            log.push_str(filler);
            line += 1;
        }
        let host = format!("h{i}.example.com");
        expected.push(line);
        let block = okhttp_block(
            &host,
            &[(PIN_A, &format!("CN={host}")), (PIN_C, "CN=Real CA")],
            &[PIN_B],
        );
        line += block.lines().count() as u64;
        log.push_str(&block);
    }
    let e = explain(log.as_bytes()).expect("text");
    assert_eq!(e.lines, line - 1);
    let lines: Vec<u64> = e.failures.iter().map(|f| f.line).collect();
    assert_eq!(lines, expected);
}

#[test]
fn binary_input_is_refused() {
    assert!(matches!(
        explain(&b"abc\n\0\x01\x02"[..]),
        Err(ReadError::Binary { line: 2 })
    ));
}

#[test]
fn android_nsc_and_trustkit_android() {
    let f = one("java.security.cert.CertificateException: Pin verification failed\n\tat android.security.net.config.NetworkSecurityTrustManager.checkPins(NetworkSecurityTrustManager.java:148)\n");
    assert_eq!(
        (f.format, f.diagnosis),
        (Format::AndroidNsc, Diagnosis::Unknown)
    );

    let f = one("javax.net.ssl.SSLHandshakeException: java.security.cert.CertPathValidatorException: Trust anchor for certification path not found.\n\tat com.android.org.conscrypt.SSLUtils.toSSLHandshakeException(SSLUtils.java:362)\nCaused by: java.security.cert.CertificateException: java.security.cert.CertPathValidatorException: Trust anchor for certification path not found.\n\tat x\nCaused by: java.security.cert.CertPathValidatorException: Trust anchor for certification path not found.\n");
    assert_eq!(
        (f.format, f.diagnosis, f.count),
        (Format::AndroidNsc, Diagnosis::TrustFailure, 1)
    );

    let log = format!("E/TrustKit: java.security.cert.CertificateException: Pin verification failed\nE/TrustKit:   Configured pins: {PIN_B} {PIN_C} \nE/TrustKit:   Peer certificate chain: \nE/TrustKit:     {PIN_A} - CN=R3, O=Let's Encrypt, C=US\nE/TrustKit:     AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA= - CN=ISRG Root X1\n");
    let f = one(&log);
    assert_eq!(f.format, Format::TrustkitAndroid);
    assert_eq!(f.pinned_pins, [PIN_B, PIN_C]);
    assert_eq!(f.presented_pins[0], PIN_A);
    assert_eq!(f.diagnosis, Diagnosis::KeyRotated);
    assert_eq!(f.line, 1);
}

#[test]
fn trustkit_ios_hex_pins() {
    let hex = "1a2b3c4d 5e6f7081 92a3b4c5 d6e7f809 1a2b3c4d 5e6f7081 92a3b4c5 d6e7f809";
    let hex2 = "00112233 44556677 8899aabb ccddeeff 00112233 44556677 8899aabb ccddeeff";
    let log = format!(
        "2026-12-01 10:00:00.123456+0100 MyApp[123:4567] === TrustKit: Checking certificate with CN: mitmproxy\n\
         2026-12-01 10:00:00.123456+0100 MyApp[123:4567] === TrustKit: Testing SSL Pin <{hex2}>\n\
         2026-12-01 10:00:00.123456+0100 MyApp[123:4567] === TrustKit: Checking certificate with CN: api.example.com\n\
         2026-12-01 10:00:00.123456+0100 MyApp[123:4567] === TrustKit: Testing SSL Pin <{hex}>\n\
         2026-12-01 10:00:00.123456+0100 MyApp[123:4567] === TrustKit: Error: SSL Pin not found for api.example.com\n\
         2026-12-01 10:00:00.123456+0100 MyApp[123:4567] === TrustKit: Pin validation failed for api.example.com\n\
         2026-12-01 10:00:00.200000+0100 MyApp[123:4567] Task <1> finished with error [-999] Error Domain=NSURLErrorDomain Code=-999 \"cancelled\" UserInfo={{NSErrorFailingURLKey=https://api.example.com/}}\n"
    );
    let f = one(&log);
    assert_eq!(f.format, Format::Trustkit);
    assert_eq!(f.host.as_deref(), Some("api.example.com"));
    assert_eq!(f.line, 5, "the Error: line");
    assert_eq!(
        f.presented_pins[0],
        text::hex_to_b64(hex).unwrap_or_default()
    );
    assert_eq!(
        f.presented_chain[1].subject.as_deref(),
        Some("CN=mitmproxy")
    );
    assert_eq!(f.diagnosis, Diagnosis::Intercepted);
}

#[test]
fn curl_verbose_is_one_failure_with_its_chain() {
    let log = format!(
        "*   Trying 127.0.0.1:8080...\n* Connected to 127.0.0.1 (127.0.0.1) port 8080\n* Establish HTTP proxy tunnel to api.example.test:443\n> CONNECT api.example.test:443 HTTP/1.1\n< HTTP/1.1 200 Connection established\n* Server certificate:\n*  subject: CN=api.example.test\n*  issuer: O=pin-proxy (local interception CA); CN=pin-proxy local CA 1a2b3c4d\n*  SSL certificate verify ok.\n*  public key hash: sha256//{PIN_B}\n* SSL: public key does not match pinned public key\n* Closing connection\ncurl: (90) SSL: public key does not match pinned public key\n"
    );
    let f = one(&log);
    assert_eq!(f.format, Format::Curl);
    assert_eq!(f.host.as_deref(), Some("api.example.test"));
    assert_eq!(f.port, Some(443));
    assert_eq!(f.presented_pins, [PIN_B]);
    assert_eq!(f.diagnosis, Diagnosis::Intercepted);
    assert_eq!(f.line, 11, "the line that says it failed");
}

#[test]
fn urllib3_traceback_chain_counts_once() {
    let cert = "ab".repeat(32);
    let pinned = "CD:".repeat(31) + "CD";
    let msg = format!("urllib3.exceptions.SSLError: Fingerprints did not match. Expected \"{pinned}\", got \"{cert}\"");
    let log = format!(
        "Traceback (most recent call last):\n  File \"x.py\", line 1\n{msg}\n\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\nurllib3.exceptions.MaxRetryError: HTTPSConnectionPool(host='api.example.com', port=443): Max retries exceeded with url: / (Caused by SSLError(SSLError('Fingerprints did not match. Expected \"{pinned}\", got \"{cert}\"')))\n"
    );
    let f = one(&log);
    assert_eq!(f.format, Format::Urllib3);
    assert_eq!(f.count, 1);
    assert_eq!(f.presented_pins, [cert]);
    assert_eq!(f.pinned_pins, ["cd".repeat(32)]);
    assert_eq!(f.pin_kind, Some(PinKind::CertSha256));
}

#[test]
fn one_line_formats() {
    let cases: [(&str, Format, Diagnosis, Option<&str>); 14] = [
        ("Error: Certificate verification error: The public key of 'api.example.com' does not match our pinned fingerprint", Format::Node, Diagnosis::Unknown, Some("api.example.com")),
        ("[ERROR:ssl_client_socket_impl.cc] net::ERR_SSL_PINNED_KEY_NOT_IN_CERT_CHAIN https://api.example.com/v1", Format::Chromium, Diagnosis::Unknown, Some("api.example.com")),
        ("Failed to load resource: net::ERR_CERT_AUTHORITY_INVALID", Format::Chromium, Diagnosis::TrustFailure, None),
        ("Error Domain=NSURLErrorDomain Code=-1202 \"The certificate for this server is invalid. You might be connecting to a server that is pretending to be \u{201c}api.example.com\u{201d} which could put your confidential information at risk.\" UserInfo={NSErrorPeerCertificateChainKey=(\"<cert(0x1) s: api.example.com i: mitmproxy>\", \"<cert(0x2) s: mitmproxy i: mitmproxy>\"), NSUnderlyingError=0x1}", Format::Ios, Diagnosis::TrustFailure, Some("api.example.com")),
        ("Server trust evaluation failed due to reason: Public key pinning failed for host api.example.com.", Format::Alamofire, Diagnosis::Unknown, Some("api.example.com")),
        ("Server trust evaluation failed due to reason: Default evaluation failed for host api.example.com.", Format::Alamofire, Diagnosis::TrustFailure, Some("api.example.com")),
        ("Server trust evaluation failed due to reason: A ServerTrustEvaluating value is required for host cdn.example.com but none was found.", Format::Alamofire, Diagnosis::NoPinsForHost, Some("cdn.example.com")),
        ("HandshakeException: Handshake error in client (OS Error: CERTIFICATE_VERIFY_FAILED: unable to get local issuer certificate(handshake.cc:393))", Format::Flutter, Diagnosis::TrustFailure, None),
        ("PlatformException(CONNECTION_NOT_SECURE, Connection is not secure, null, null)", Format::Flutter, Diagnosis::Unknown, None),
        (" ---> System.Security.Authentication.AuthenticationException: The remote certificate was rejected by the provided RemoteCertificateValidationCallback.", Format::Dotnet, Diagnosis::Unknown, None),
        ("System.Security.Authentication.AuthenticationException: The remote certificate is invalid because of errors in the certificate chain: UntrustedRoot", Format::Dotnet, Diagnosis::TrustFailure, None),
        ("ApproovService: pin verification failed for api.example.com with no match for 2 pins", Format::Approov, Diagnosis::Unknown, Some("api.example.com")),
        ("[10:00:00.123][127.0.0.1:50000] Client TLS handshake failed. The client does not trust the proxy's certificate for api.example.com (OpenSSL Error([('SSL routines', '', 'sslv3 alert certificate unknown')]))", Format::Mitmproxy, Diagnosis::Intercepted, Some("api.example.com")),
        ("Error Domain=NSURLErrorDomain Code=-999 \"cancelled\" UserInfo={NSErrorFailingURLKey=https://api.example.com/v1}", Format::Ios, Diagnosis::Unknown, Some("api.example.com")),
    ];
    for (line, format, diagnosis, host) in cases {
        let f = one(&format!("{line}\n"));
        assert_eq!(
            (f.format, f.diagnosis, f.host.as_deref()),
            (format, diagnosis, host),
            "{line}"
        );
    }
}

#[test]
fn delegate_lines_absorb_the_cancel() {
    let log = format!(
        "URLSessionDelegate: host api.example.com public key hash {PIN_A}\nURLSessionDelegate: host api.example.com public key hash {PIN_C}\nURLSessionDelegate: pinning invalid for host api.example.com and certificate 0's public key info hash {PIN_A}\nURLSessionDelegate: pinning invalid for host api.example.com and certificate 1's public key info hash {PIN_C}\nError Domain=NSURLErrorDomain Code=-999 \"cancelled\"\n"
    );
    let f = one(&log);
    assert_eq!(f.format, Format::UrlsessionDelegate);
    assert_eq!(f.presented_pins, [PIN_A, PIN_C]);
    assert_eq!(f.line, 3, "the first pinning invalid line");
}

#[test]
fn pin_proxy_client_and_events() {
    let log = format!(
        "pin-proxy client: host api.example.test certificate 0 public key hash {PIN_A} subject CN=api.example.test\npin-proxy client: host api.example.test certificate 1 public key hash {PIN_C} subject O=pin-proxy (local interception CA), CN=pin-proxy local CA 1a2b3c4d\npin-proxy client: pinning invalid for host api.example.test and certificate 0's public key hash {PIN_A}\npin-proxy client: pinning invalid for host api.example.test and certificate 1's public key hash {PIN_C}\npin-proxy client: host api.example.test expected one of 1 pin(s): {PIN_B}\npin-proxy client: outcome pin-mismatch (exit 10)\n"
    );
    let f = one(&log);
    assert_eq!(f.format, Format::PinProxyClient);
    assert_eq!(f.presented_pins, [PIN_A, PIN_C]);
    assert_eq!(f.pinned_pins, [PIN_B]);
    assert_eq!(f.diagnosis, Diagnosis::Intercepted);
    assert_eq!(f.line, 3);

    let events = format!("{{\"schema\":1,\"id\":1,\"client\":\"127.0.0.1:5\",\"host\":\"api.example.test\",\"port\":443,\"presented_pin\":\"{PIN_A}\",\"verdict\":\"cancelled\",\"stage\":\"handshake\",\"reason\":\"alert:bad_certificate\"}}\n");
    let f = one(&events);
    assert_eq!(
        (f.format, f.diagnosis),
        (Format::PinProxyEvents, Diagnosis::Intercepted)
    );

    // A line with the chain presented: read as written, subjects and all.
    let chain = format!(
        "{{\"schema\":1,\"id\":2,\"client\":\"127.0.0.1:5\",\"host\":\"api.example.test\",\"port\":443,\"profile\":\"smuggle-chain\",\"presented_pin\":\"{PIN_A}\",\"presented_chain\":[{{\"position\":0,\"subject\":\"CN=api.example.test\",\"issuer\":\"O=pin-proxy (testing only; generated on this machine), CN=pin-proxy local CA 1a2b3c4d\",\"pin\":\"{PIN_A}\"}},{{\"position\":1,\"subject\":\"O=pin-proxy (testing only; generated on this machine), CN=pin-proxy local CA 1a2b3c4d\",\"issuer\":\"O=pin-proxy (testing only; generated on this machine), CN=pin-proxy local CA 1a2b3c4d\",\"pin\":\"{PIN_C}\"}}],\"verdict\":\"cancelled\",\"stage\":\"after_handshake\",\"reason\":\"close_notify\"}}\n"
    );
    let f = one(&chain);
    assert_eq!(
        (f.format, f.diagnosis),
        (Format::PinProxyEvents, Diagnosis::Intercepted)
    );
    let pins: Vec<Option<&str>> = f.presented_chain.iter().map(|c| c.pin.as_deref()).collect();
    assert_eq!(pins, [Some(PIN_A), Some(PIN_C)]);
    assert_eq!(f.presented_chain[1].position, 1);
    assert_eq!(
        f.presented_chain[0].subject.as_deref(),
        Some("CN=api.example.test")
    );
}

#[test]
fn a_log_without_failures_is_empty() {
    let e = explain(&b"one\ntwo\nthree"[..]).expect("text");
    assert!(e.failures.is_empty());
    assert_eq!(e.lines, 3);
}

#[test]
fn the_same_urllib3_failure_logged_twice_counts_twice() {
    let line = format!(
        "ERROR sync: SSLError: HTTPSConnectionPool(host='api.example.com', port=443): Max retries exceeded (Caused by SSLError(SSLError('Fingerprints did not match. Expected \"{}\", got \"{}\"')))\n",
        "ab".repeat(32),
        "cd".repeat(32)
    );
    let log = format!("{line}noise\n{line}");
    let f = one(&log);
    assert_eq!(f.count, 2);
    assert_eq!(f.host.as_deref(), Some("api.example.com"));
    assert_eq!(f.port, Some(443));
}

#[test]
fn an_okhttp_block_behind_an_unknown_prefix_is_still_read() {
    let block = okhttp_block(
        "api.example.com",
        &[
            (PIN_A, "CN=api.example.com"),
            (PIN_C, "CN=R3,O=Let's Encrypt,C=US"),
        ],
        &[PIN_B],
    );
    let log: String = block
        .lines()
        .map(|l| format!("0x1a2b3c   Default     0x0   4242   0    MyApp: {l}\n"))
        .collect();
    let f = one(&log);
    assert_eq!(f.presented_pins, [PIN_A, PIN_C]);
    assert_eq!(f.pinned_pins, [PIN_B]);
    assert_eq!(f.host.as_deref(), Some("api.example.com"));
}

mod never_panics {
    use proptest::prelude::*;

    /// Pieces of every format's text, glued with arbitrary text: the reader must never panic
    /// and must count every line.
    const PIECES: [&str; 24] = [
        "Certificate pinning failure!\n",
        "  Peer certificate chain:\n",
        "    sha256/",
        "  Pinned certificates for ",
        "Hostname é not verified:\n",
        "=== TrustKit: Testing SSL Pin <1a2b",
        "=== TrustKit: Pin validation failed for ",
        "Pin verification failed\n  Configured pins: ",
        "\"known-pins\" : [",
        "{\"validated-certificate-chain\":[\"",
        "public key hash: sha256//",
        "curl: (90) SSL: public key does not match pinned public key\n",
        "Fingerprints did not match. Expected \"",
        "HTTPSConnectionPool(host='",
        "NSURLErrorDomain Code=-1202 \u{201c}",
        "<cert(0x1) s: ",
        "URLSessionDelegate: pinning invalid for host ",
        "pin-proxy client: host ",
        "[1:2][127.0.0.1:5] server connect ",
        "Client TLS handshake failed. ",
        "ApproovService: pin verification ",
        "\\n",
        "12-01 10:00:00.123  1  2 W Tag: ",
        "{\"schema\":1,\"verdict\":\"cancelled\",\"host\":",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(150))]
        #[test]
        fn arbitrary_mixes_of_format_text(parts in proptest::collection::vec((0usize..PIECES.len(), "\\PC{0,12}", any::<bool>()), 0..40)) {
            let mut log = String::new();
            for (i, noise, newline) in parts {
                log.push_str(PIECES[i]);
                log.push_str(&noise);
                if newline {
                    log.push('\n');
                }
            }
            let explained = super::explain(log.as_bytes());
            prop_assert!(explained.is_ok());
            let lines = log.split('\n').count() as u64 - u64::from(log.ends_with('\n') || log.is_empty());
            prop_assert_eq!(explained.map(|e| e.lines).unwrap_or(0), lines);
        }
    }
}
