//! `pin-proxy pin-config keygen | sign | verify` end to end, and every signature checked by an
//! independent implementation: OpenSSL verifies our JWS signatures (Ed25519 as is, ES256 after
//! turning JOSE's `r || s` into DER) and our Wultra signatures (DER already), computes the key
//! ids, certificate fingerprints and the Wultra raw public key on its own, and signs configs with
//! our keys that our verifier must accept. `.ci/run` installs openssl.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use common::bin;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Runs `pin-proxy pin-config ARGS` in `dir`.
fn pc(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .arg("pin-config")
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts exit `code`; returns stdout.
fn expect(o: &Output, code: i32) -> String {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Runs openssl in `dir`; returns (success, stdout bytes, stderr text).
fn openssl(dir: &Path, args: &[&str]) -> (bool, Vec<u8>, String) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl is needed (.ci/run installs it)");
    let err = stderr(&out);
    (out.status.success(), out.stdout, err)
}

fn openssl_ok(dir: &Path, args: &[&str]) -> Vec<u8> {
    let (ok, out, err) = openssl(dir, args);
    assert!(ok, "openssl {args:?}: {err}");
    out
}

/// The SPKI pin of a public key PEM, by openssl: DER, SHA-256, base64.
fn openssl_spki_pin(dir: &Path, public: &str) -> String {
    let der = openssl_ok(dir, &["pkey", "-pubin", "-in", public, "-outform", "DER"]);
    std::fs::write(dir.join("spki.der"), der).unwrap();
    let digest = openssl_ok(dir, &["dgst", "-sha256", "-binary", "spki.der"]);
    B64.encode(digest)
}

/// A self-signed P-256 certificate for `cn` made by openssl, at `dir/name`.
fn openssl_cert(dir: &Path, name: &str, cn: &str) -> PathBuf {
    openssl_ok(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            name,
            "-subj",
            &format!("/CN={cn}"),
            "-days",
            "90",
        ],
    );
    dir.join(name)
}

fn keygen(dir: &Path, key_type: &str, out: &str) -> String {
    let o = pc(dir, &["keygen", "--key-type", key_type, "--out", out]);
    expect(&o, 0)
}

/// The value after `label` on the line that starts with it.
fn field(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in {text}"))
        .trim()
        .to_string()
}

/// A DER INTEGER for a big-endian unsigned number.
fn der_int(x: &[u8]) -> Vec<u8> {
    let mut x: Vec<u8> = x.iter().copied().skip_while(|b| *b == 0).collect();
    if x.is_empty() || x[0] & 0x80 != 0 {
        x.insert(0, 0);
    }
    let mut out = vec![0x02, x.len() as u8];
    out.extend(x);
    out
}

/// JOSE's ES256 `r || s` (64 bytes) as the DER `SEQUENCE { r, s }` OpenSSL takes.
fn rs_to_der(sig: &[u8]) -> Vec<u8> {
    assert_eq!(sig.len(), 64);
    let body = [der_int(&sig[..32]), der_int(&sig[32..])].concat();
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

/// DER `SEQUENCE { r, s }` back to `r || s`.
fn der_to_rs(der: &[u8]) -> Vec<u8> {
    assert_eq!(der[0], 0x30);
    let mut at = 2;
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[at], 0x02);
        let len = der[at + 1] as usize;
        let int = &der[at + 2..at + 2 + len];
        let int: Vec<u8> = int.iter().copied().skip_while(|b| *b == 0).collect();
        out.extend(std::iter::repeat_n(0u8, 32 - int.len()));
        out.extend(int);
        at += 2 + len;
    }
    out
}

fn pins_toml(dir: &Path, version: u64, expiry: &str, cert: &str) -> PathBuf {
    let text = format!(
        "version = {version}\n{expiry}\n\n[hosts.\"api.example.test\"]\ncertificates = [\"{cert}\"]\n\n[hosts.\"example.test\"]\npins = [\"sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"]\ninclude_subdomains = true\n"
    );
    let path = dir.join(format!("pins-{version}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn keygen_writes_a_private_0600_and_a_public_0644_file_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (key_type, name) in [("ed25519", "ed"), ("ecdsa-p256", "ec")] {
        let out = keygen(d, key_type, &format!("{name}.key"));
        let private = d.join(format!("{name}.key"));
        let public = d.join(format!("{name}.pub"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&private), 0o600, "{key_type}");
            assert_eq!(mode(&public), 0o644, "{key_type}");
        }
        assert_eq!(field(&out, "key type:"), key_type);
        // The kid is the public key's SPKI pin, as openssl computes it.
        let kid = field(&out, "kid:");
        assert_eq!(kid, openssl_spki_pin(d, &format!("{name}.pub")), "{out}");
        // openssl reads the private key, and its public half is our .pub.
        let derived = openssl_ok(d, &["pkey", "-in", &format!("{name}.key"), "-pubout"]);
        assert_eq!(
            String::from_utf8(derived).unwrap(),
            std::fs::read_to_string(&public).unwrap()
        );
        if key_type == "ecdsa-p256" {
            // The Wultra raw public key: the uncompressed point that ends the SPKI DER.
            let der = openssl_ok(d, &["pkey", "-pubin", "-in", "ec.pub", "-outform", "DER"]);
            assert_eq!(
                field(&out, "wultra public key:"),
                B64.encode(&der[der.len() - 65..])
            );
        } else {
            assert!(!out.contains("wultra"), "{out}");
        }

        // Again: refused, exit 2, one line, files untouched.
        let before = std::fs::read(&private).unwrap();
        let o = pc(
            d,
            &[
                "keygen",
                "--key-type",
                key_type,
                "--out",
                &format!("{name}.key"),
            ],
        );
        expect(&o, 2);
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
        assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
        assert_eq!(std::fs::read(&private).unwrap(), before);
        // With --force: a new key.
        let o = pc(
            d,
            &[
                "keygen",
                "--key-type",
                key_type,
                "--out",
                &format!("{name}.key"),
                "--force",
            ],
        );
        assert_ne!(field(&expect(&o, 0), "kid:"), kid);
    }
}

#[test]
fn sign_then_verify_prints_what_a_client_would_use() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("certs")).unwrap();
    openssl_cert(&d.join("certs"), "api.pem", "api.example.test");
    let cert_pin = {
        let pem = openssl_ok(d, &["x509", "-in", "certs/api.pem", "-pubkey", "-noout"]);
        std::fs::write(d.join("api-key.pub"), pem).unwrap();
        openssl_spki_pin(d, "api-key.pub")
    };
    let source = pins_toml(d, 3, "valid_for = \"1h\"", "certs/api.pem");
    let source = source.file_name().unwrap().to_str().unwrap();
    for key_type in ["ed25519", "ecdsa-p256"] {
        let kid = field(&keygen(d, key_type, &format!("{key_type}.key")), "kid:");
        let key = format!("{key_type}.key");
        let public = format!("{key_type}.pub");
        let o = pc(d, &["sign", source, "--key", &key, "--out", "pins.jws"]);
        expect(&o, 0);
        assert!(
            stderr(&o).contains("signed version 3 (2 hosts)"),
            "{}",
            stderr(&o)
        );
        // To stdout too: one line, a JWS that verifies the same.
        let o = pc(d, &["sign", source, "--key", &key]);
        let jws = expect(&o, 0);
        assert_eq!(jws.lines().count(), 1);
        assert_eq!(jws.trim().split('.').count(), 3);

        let out = expect(&pc(d, &["verify", "pins.jws", "--key", &public]), 0);
        assert_eq!(field(&out, "accepted:"), format!("version 3, kid {kid}"));
        let issued = field(&out, "issued at:");
        let expires = field(&out, "expires at:");
        assert!(
            issued.ends_with('Z') && expires.ends_with('Z') && issued < expires,
            "{out}"
        );
        assert!(out.contains("host api.example.test: 1 pin\n"), "{out}");
        assert!(out.contains(&format!("  pin {cert_pin}\n")), "{out}");
        assert!(
            out.contains("host example.test and its subdomains: 1 pin\n"),
            "{out}"
        );
        assert!(
            out.contains("  pin 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"),
            "{out}"
        );
        // A certificate of the key verifies as well as the .pub.
        openssl_ok(
            d,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                &key,
                "-subj",
                "/CN=signer",
                "-days",
                "1",
                "-out",
                "signer.pem",
            ],
        );
        expect(&pc(d, &["verify", "pins.jws", "--key", "signer.pem"]), 0);
    }
}

#[test]
fn refusals_exit_1_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl_cert(d, "api.pem", "api.example.test");
    keygen(d, "ed25519", "a.key");
    keygen(d, "ed25519", "b.key");
    keygen(d, "ecdsa-p256", "c.key");
    let sign = |source: &Path, key: &str, out: &str| {
        let o = pc(
            d,
            &["sign", source.to_str().unwrap(), "--key", key, "--out", out],
        );
        expect(&o, 0);
    };
    sign(
        &pins_toml(d, 3, "valid_for = \"1h\"", "api.pem"),
        "a.key",
        "v3.jws",
    );
    sign(
        &pins_toml(d, 2, "valid_for = \"1h\"", "api.pem"),
        "a.key",
        "v2.jws",
    );
    sign(
        &pins_toml(d, 4, "expires = 2020-01-01T00:00:00Z", "api.pem"),
        "a.key",
        "expired.jws",
    );
    // The same version 3, other content (another expiry).
    let mut other = std::fs::read_to_string(d.join("pins-3.toml")).unwrap();
    other = other.replace("valid_for = \"1h\"", "valid_for = \"2h\"");
    std::fs::write(d.join("other-3.toml"), other).unwrap();
    sign(&d.join("other-3.toml"), "a.key", "other-v3.jws");

    // The payload with one byte changed, re-encoded.
    let jws = std::fs::read_to_string(d.join("v3.jws")).unwrap();
    let parts: Vec<&str> = jws.split('.').collect();
    let mut payload = B64URL.decode(parts[1]).unwrap();
    let at = payload
        .windows(11)
        .position(|w| w == b"\"version\":3")
        .unwrap()
        + 10;
    payload[at] = b'9';
    let modified = format!("{}.{}.{}", parts[0], B64URL.encode(&payload), parts[2]);
    std::fs::write(d.join("modified.jws"), modified).unwrap();
    // alg none, with our kid.
    let header = B64URL.decode(parts[0]).unwrap();
    let none = String::from_utf8(header).unwrap().replace("EdDSA", "none");
    std::fs::write(
        d.join("none.jws"),
        format!("{}.{}.AAAA", B64URL.encode(none), parts[1]),
    )
    .unwrap();
    std::fs::write(d.join("garbage.jws"), "this is not a JWS\n").unwrap();

    let cases: &[(&[&str], &str)] = &[
        (
            &["verify", "v3.jws", "--key", "b.pub"],
            "refused: signed by another key: kid",
        ),
        (
            &["verify", "v3.jws", "--key", "c.pub"],
            "refused: alg \"EdDSA\" is not accepted",
        ),
        (
            &["verify", "modified.jws", "--key", "a.pub"],
            "refused: bad signature",
        ),
        (
            &["verify", "expired.jws", "--key", "a.pub"],
            "refused: expired at 2020-01-01T00:00:00Z (now ",
        ),
        (
            &["verify", "garbage.jws", "--key", "a.pub"],
            "refused: malformed: not a compact JWS",
        ),
        (
            &["verify", "none.jws", "--key", "a.pub"],
            "refused: alg \"none\" is not accepted",
        ),
        (
            &["verify", "v2.jws", "--key", "a.pub", "--cache", "v3.jws"],
            "refused: replay: version 2 is older than the cached version 3",
        ),
        (
            &[
                "verify",
                "other-v3.jws",
                "--key",
                "a.pub",
                "--cache",
                "v3.jws",
            ],
            "refused: version 3 reused",
        ),
    ];
    for (args, want) in cases {
        let o = pc(d, args);
        let out = expect(&o, 1);
        assert_eq!(out.lines().count(), 1, "{args:?}: {out}");
        assert!(out.starts_with(want), "{args:?}:\n got: {out}want: {want}");
        assert!(stderr(&o).is_empty(), "{args:?}: {}", stderr(&o));
    }
    // Newer than the cache, or the cache itself: accepted. An expired cache still counts.
    expect(
        &pc(
            d,
            &["verify", "v3.jws", "--key", "a.pub", "--cache", "v2.jws"],
        ),
        0,
    );
    expect(
        &pc(
            d,
            &["verify", "v3.jws", "--key", "a.pub", "--cache", "v3.jws"],
        ),
        0,
    );
    let o = pc(
        d,
        &[
            "verify",
            "v3.jws",
            "--key",
            "a.pub",
            "--cache",
            "expired.jws",
        ],
    );
    assert!(
        expect(&o, 1).starts_with("refused: replay: version 3 is older than the cached version 4")
    );
}

#[test]
fn unusable_files_exit_2_with_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    keygen(d, "ed25519", "a.key");
    openssl_cert(d, "api.pem", "api.example.test");
    let good = pins_toml(d, 1, "valid_for = \"1h\"", "api.pem");
    let good = good.to_str().unwrap();
    expect(
        &pc(d, &["sign", good, "--key", "a.key", "--out", "a.jws"]),
        0,
    );
    std::fs::write(
        d.join("bad.toml"),
        "version = 1\nvalid_for = \"1h\"\n[hosts.\"a.test\"]\npins = [\"abc\"]\n",
    )
    .unwrap();
    std::fs::write(
        d.join("nocert.toml"),
        "version = 1\nvalid_for = \"1h\"\n[hosts.\"a.test\"]\ncertificates = [\"gone.pem\"]\n",
    )
    .unwrap();
    std::fs::write(d.join("junk.key"), "junk").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["sign", "bad.toml", "--key", "a.key"],
            "bad.toml:4: hosts.\"a.test\".pins[0]: \"abc\" is not a base64 SHA-256 pin",
        ),
        (
            &["sign", "nocert.toml", "--key", "a.key"],
            "nocert.toml:4: hosts.\"a.test\".certificates[0]: cannot read ",
        ),
        (&["sign", "missing.toml", "--key", "a.key"], "missing.toml"),
        (&["sign", good, "--key", "missing.key"], "missing.key"),
        (
            &["sign", good, "--key", "junk.key"],
            "junk.key: no PRIVATE KEY",
        ),
        (
            &["sign", good, "--key", "a.key", "--format", "wultra"],
            "the Wultra format is signed with ECDSA P-256",
        ),
        (&["verify", "a.jws", "--key", "missing.pub"], "missing.pub"),
        (
            &["verify", "a.jws", "--key", "a.key"],
            "a.key: this is a private key",
        ),
        (
            &["verify", "a.jws", "--key", "a.pub", "--format", "wultra"],
            "verified with an ECDSA P-256 key",
        ),
        (
            &["verify", "a.jws", "--key", "a.pub", "--cache", "bad.toml"],
            "the cached config does not verify",
        ),
        (&["verify", "missing.jws", "--key", "a.pub"], "missing.jws"),
    ];
    for (args, want) in cases {
        let o = pc(d, args);
        expect(&o, 2);
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}:\n got: {err}want: {want}");
        assert!(stdout(&o).is_empty(), "{args:?}: {}", stdout(&o));
    }
}

/// The JWS signature and its signing input (`header.payload`), written to files for openssl.
fn jws_parts(dir: &Path, jws: &str) -> Vec<u8> {
    let (input, sig) = jws.trim().rsplit_once('.').unwrap();
    std::fs::write(dir.join("input"), input).unwrap();
    B64URL.decode(sig).unwrap()
}

#[test]
fn openssl_verifies_our_jws_signatures_and_we_accept_its() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl_cert(d, "api.pem", "api.example.test");
    let source = pins_toml(d, 5, "valid_for = \"1h\"", "api.pem");
    let source = source.to_str().unwrap();

    // Ed25519: the signature as is.
    let kid = field(&keygen(d, "ed25519", "ed.key"), "kid:");
    let jws = expect(&pc(d, &["sign", source, "--key", "ed.key"]), 0);
    std::fs::write(d.join("sig.bin"), jws_parts(d, &jws)).unwrap();
    let verify_ed = |d: &Path| {
        openssl(
            d,
            &[
                "pkeyutl", "-verify", "-pubin", "-inkey", "ed.pub", "-rawin", "-in", "input",
                "-sigfile", "sig.bin",
            ],
        )
    };
    let (ok, out, err) = verify_ed(d);
    assert!(ok, "{err} {}", String::from_utf8_lossy(&out));
    // Negative control: a changed signing input does not verify.
    std::fs::write(
        d.join("input"),
        jws.trim().rsplit_once('.').unwrap().0.replace('e', "f"),
    )
    .unwrap();
    assert!(!verify_ed(d).0);

    // ES256: JOSE's r || s, as DER for openssl.
    keygen(d, "ecdsa-p256", "ec.key");
    let jws = expect(&pc(d, &["sign", source, "--key", "ec.key"]), 0);
    let raw = jws_parts(d, &jws);
    assert_eq!(raw.len(), 64);
    std::fs::write(d.join("sig.der"), rs_to_der(&raw)).unwrap();
    let out = openssl_ok(
        d,
        &[
            "dgst",
            "-sha256",
            "-verify",
            "ec.pub",
            "-signature",
            "sig.der",
            "input",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out).trim(), "Verified OK");

    // The other way: openssl signs a JWS with our keys, we accept it.
    let payload = B64URL.encode(format!(
        r#"{{"version":9,"issued_at":{now},"expires_at":{later},"hosts":{{"openssl.test":{{"pins":["47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="]}}}}}}"#,
        now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
        later = 4_000_000_000u64,
    ));
    let header = B64URL.encode(format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#));
    std::fs::write(d.join("input"), format!("{header}.{payload}")).unwrap();
    let sig = openssl_ok(
        d,
        &[
            "pkeyutl", "-sign", "-inkey", "ed.key", "-rawin", "-in", "input",
        ],
    );
    std::fs::write(
        d.join("openssl-ed.jws"),
        format!("{header}.{payload}.{}", B64URL.encode(sig)),
    )
    .unwrap();
    let out = expect(&pc(d, &["verify", "openssl-ed.jws", "--key", "ed.pub"]), 0);
    assert!(
        out.contains("accepted: version 9") && out.contains("host openssl.test: 1 pin"),
        "{out}"
    );

    let ec_kid = openssl_spki_pin(d, "ec.pub");
    let header = B64URL.encode(format!(
        r#"{{"alg":"ES256","kid":"{ec_kid}","typ":"JOSE"}}"#
    ));
    std::fs::write(d.join("input"), format!("{header}.{payload}")).unwrap();
    let der = openssl_ok(d, &["dgst", "-sha256", "-sign", "ec.key", "input"]);
    let jws = format!("{header}.{payload}.{}", B64URL.encode(der_to_rs(&der)));
    std::fs::write(d.join("openssl-ec.jws"), &jws).unwrap();
    let out = expect(&pc(d, &["verify", "openssl-ec.jws", "--key", "ec.pub"]), 0);
    assert!(out.contains("accepted: version 9"), "{out}");
    // A DER signature where JOSE wants r || s is refused.
    std::fs::write(
        d.join("der.jws"),
        format!("{header}.{payload}.{}", B64URL.encode(&der)),
    )
    .unwrap();
    assert!(expect(&pc(d, &["verify", "der.jws", "--key", "ec.pub"]), 1)
        .starts_with("refused: bad signature"));
}

#[test]
fn keys_made_by_openssl_sign_configs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl_cert(d, "api.pem", "api.example.test");
    let source = pins_toml(d, 1, "valid_for = \"1h\"", "api.pem");
    let source = source.to_str().unwrap();
    let keys: &[(&str, &[&str])] = &[
        (
            "ed.key",
            &["genpkey", "-algorithm", "ed25519", "-out", "ed.key"],
        ),
        (
            "ec8.key",
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                "ec8.key",
            ],
        ),
        (
            "sec1.key",
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "sec1.key",
            ],
        ),
    ];
    for (key, make) in keys {
        openssl_ok(d, make);
        openssl_ok(d, &["pkey", "-in", key, "-pubout", "-out", "k.pub"]);
        expect(&pc(d, &["sign", source, "--key", key, "--out", "k.jws"]), 0);
        let out = expect(&pc(d, &["verify", "k.jws", "--key", "k.pub"]), 0);
        assert!(out.contains(&openssl_spki_pin(d, "k.pub")), "{key}: {out}");
    }
}

#[test]
fn wultra_fingerprints_round_trip_and_openssl_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl_cert(d, "api.pem", "api.example.test");
    openssl_cert(d, "cdn.pem", "cdn.example.test");
    std::fs::write(
        d.join("w.toml"),
        "version = 1\nvalid_for = \"7d\"\n[hosts.\"api.example.test\"]\ncertificates = [\"api.pem\"]\n[hosts.\"cdn.example.test\"]\ncertificates = [\"cdn.pem\"]\n",
    )
    .unwrap();
    let out = keygen(d, "ecdsa-p256", "w.key");
    let raw_key = field(&out, "wultra public key:");
    std::fs::write(d.join("w.raw"), format!("{raw_key}\n")).unwrap();
    let o = pc(
        d,
        &[
            "sign", "w.toml", "--key", "w.key", "--format", "wultra", "--out", "w.json",
        ],
    );
    expect(&o, 0);
    assert!(
        stderr(&o).contains("signed 2 entries for Wultra clients"),
        "{}",
        stderr(&o)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("w.json")).unwrap()).unwrap();
    let entries = json["fingerprints"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for (entry, cert) in entries.iter().zip(["api.pem", "cdn.pem"]) {
        let name = entry["name"].as_str().unwrap();
        let fingerprint = entry["fingerprint"].as_str().unwrap();
        let expires = entry["expires"].as_u64().unwrap();
        // The fingerprint is the SHA-256 of the whole certificate DER, by openssl.
        let der = openssl_ok(d, &["x509", "-in", cert, "-outform", "DER"]);
        std::fs::write(d.join("cert.der"), der).unwrap();
        let digest = openssl_ok(d, &["dgst", "-sha256", "-binary", "cert.der"]);
        assert_eq!(fingerprint, B64.encode(digest), "{name}");
        // openssl verifies the DER signature over name&fingerprint&expires.
        std::fs::write(
            d.join("signed.txt"),
            format!("{name}&{fingerprint}&{expires}"),
        )
        .unwrap();
        let sig = B64.decode(entry["signature"].as_str().unwrap()).unwrap();
        std::fs::write(d.join("sig.der"), sig).unwrap();
        let out = openssl_ok(
            d,
            &[
                "dgst",
                "-sha256",
                "-verify",
                "w.pub",
                "-signature",
                "sig.der",
                "signed.txt",
            ],
        );
        assert_eq!(String::from_utf8_lossy(&out).trim(), "Verified OK");
        // The README's order does not verify.
        std::fs::write(
            d.join("signed.txt"),
            format!("{name}&{expires}&{fingerprint}"),
        )
        .unwrap();
        assert!(
            !openssl(
                d,
                &[
                    "dgst",
                    "-sha256",
                    "-verify",
                    "w.pub",
                    "-signature",
                    "sig.der",
                    "signed.txt"
                ]
            )
            .0
        );
    }
    for key in ["w.pub", "w.raw"] {
        let out = expect(
            &pc(d, &["verify", "w.json", "--key", key, "--format", "wultra"]),
            0,
        );
        assert!(
            out.starts_with("accepted: 2 entries, 0 dropped as expired\n"),
            "{out}"
        );
        assert!(out.contains("entry api.example.test fingerprint "), "{out}");
    }

    // One tampered entry rejects the update.
    let mut tampered = json.clone();
    tampered["fingerprints"][1]["expires"] = (entries[1]["expires"].as_u64().unwrap() + 1).into();
    std::fs::write(d.join("t.json"), tampered.to_string()).unwrap();
    let out = expect(
        &pc(
            d,
            &["verify", "t.json", "--key", "w.pub", "--format", "wultra"],
        ),
        1,
    );
    assert_eq!(out, "refused: bad signature on entry 1 (\"cdn.example.test\"): Wultra clients reject the whole update\n");

    // An entry openssl signs with our key is accepted; an expired one is dropped unchecked.
    let fingerprint = B64.encode([7u8; 32]);
    std::fs::write(
        d.join("signed.txt"),
        format!("openssl.test&{fingerprint}&4000000000"),
    )
    .unwrap();
    let sig = openssl_ok(d, &["dgst", "-sha256", "-sign", "w.key", "signed.txt"]);
    let file = serde_json::json!({"fingerprints": [
        {"name": "openssl.test", "fingerprint": fingerprint, "expires": 4_000_000_000u64, "signature": B64.encode(sig)},
        {"name": "old.test", "fingerprint": fingerprint, "expires": 1_000_000_000u64, "signature": "AAAA"},
    ]});
    std::fs::write(d.join("o.json"), file.to_string()).unwrap();
    let out = expect(
        &pc(
            d,
            &["verify", "o.json", "--key", "w.pub", "--format", "wultra"],
        ),
        0,
    );
    assert!(
        out.starts_with("accepted: 1 entry, 1 dropped as expired\n"),
        "{out}"
    );
    assert!(out.contains("dropped (expired) old.test "), "{out}");
    // --cache is for the JWS format.
    expect(
        &pc(
            d,
            &[
                "verify", "o.json", "--key", "w.pub", "--format", "wultra", "--cache", "o.json",
            ],
        ),
        2,
    );
}
