//! The `smuggle-chain` profile end to end: the chain read back with `openssl s_client
//! -showcerts` (forged leaf, local CA, then the origin's certificates and its root), the record's
//! `presented_chain`, an unreachable origin, and the standard matrix's family calling a naive
//! client (pyOpenSSL, the chain as sent) exposed. `pin-proxy client` against it is in
//! tests/client.rs.

mod common;

use std::process::{Command, Stdio};

use common::{bin, only_for, Harness, Opts, HOST};

/// The harness with `opts`, its proxy presenting `smuggle-chain` to HOST.
fn smuggling(opts: Opts<'_>) -> Harness {
    Harness::with(Opts {
        args: vec!["--profile".into(), format!("{HOST}=smuggle-chain")],
        ..opts
    })
}

/// The pins of the certificates `openssl s_client -showcerts` printed, in the order sent.
fn sent_by_openssl(h: &Harness) -> Vec<String> {
    let out = Command::new("openssl")
        .args(["s_client", "-showcerts", "-servername", HOST])
        .args(["-proxy", &h.proxy_addr.to_string()])
        .args(["-connect", &format!("{HOST}:443")])
        .arg("-CAfile")
        .arg(&h.bundle)
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client (apt-get install openssl)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("BEGIN CERTIFICATE"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // s_client verified the chain it built (leaf -> local CA) and ignored the rest.
    assert!(stdout.contains("Verify return code: 0 (ok)"), "{stdout}");
    pin_proxy::pins::pem_certs(stdout.as_bytes())
        .unwrap()
        .iter()
        .map(|c| pin_proxy::pins::cert_pin(c).unwrap())
        .collect()
}

#[test]
fn the_smuggled_chain_is_the_forged_leaf_the_local_ca_then_the_origins_chain_and_root() {
    let h = smuggling(Opts::default());
    let sent = sent_by_openssl(&h);
    let ca = h.ca_pin();
    let (current, intermediate, root) = (
        h.pin("current"),
        h.pki.intermediate_pin().unwrap().to_string(),
        h.pki.root_pin().to_string(),
    );
    assert_eq!(sent.len(), 5, "{sent:?}");
    assert_eq!(sent[1..], [ca.clone(), current, intermediate, root]);
    assert_ne!(sent[0], ca, "the forged leaf has a key of its own");

    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(
        r.profile.map(|p| p.to_string()).as_deref(),
        Some("smuggle-chain")
    );
    assert_eq!(r.presented_pin.as_deref(), Some(sent[0].as_str()));
    let pins: Vec<&str> = r.presented_chain.iter().map(|c| c.pin.as_str()).collect();
    assert_eq!(pins, sent.iter().map(String::as_str).collect::<Vec<_>>());
    let positions: Vec<usize> = r.presented_chain.iter().map(|c| c.position).collect();
    assert_eq!(positions, [0, 1, 2, 3, 4]);
    let chain = &r.presented_chain;
    assert_eq!(chain[0].subject, format!("CN={HOST}"));
    assert_eq!(
        chain[0].issuer, chain[1].subject,
        "the leaf is the local CA's"
    );
    assert_eq!(chain[2].subject, format!("CN={HOST}"));
    assert_eq!(
        chain[2].issuer, chain[3].subject,
        "the origin's leaf, then its issuer"
    );
    assert_eq!(
        chain[3].issuer, chain[4].subject,
        "then the root that signed it"
    );
    assert_eq!(chain[4].subject, chain[4].issuer, "a root signs itself");
}

#[test]
fn the_forged_profile_records_its_chain_of_two() {
    let h = Harness::start();
    let sent = sent_by_openssl(&h);
    assert_eq!(sent.len(), 2, "{sent:?}");
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    let pins: Vec<&str> = r.presented_chain.iter().map(|c| c.pin.as_str()).collect();
    assert_eq!(pins, [sent[0].as_str(), sent[1].as_str()]);
}

#[test]
fn without_the_origins_chain_the_connection_is_upstream_failed() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let h = smuggling(Opts {
        map_to: Some(addr),
        ..Opts::default()
    });
    let out = h.curl(&["--cacert", h.bundle.to_str().unwrap(), &h.url("/")]);
    assert!(!out.status.success());
    let (records, _) = h.stop_after(1);
    let r = only_for(&records, HOST);
    assert_eq!(r.verdict.to_string(), "upstream_failed", "{r:?}");
    assert!(r.presented_chain.is_empty(), "nothing was presented");
}

fn has_pyopenssl() -> bool {
    Command::new("python3")
        .args(["-c", "import OpenSSL"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn the_matrix_family_calls_a_client_that_pins_the_chain_as_sent_exposed() {
    if !has_pyopenssl() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have pyOpenSSL (python3-openssl) for the naive client"
        );
        eprintln!("skipped: python3 has no pyOpenSSL (apt-get install python3-openssl)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let client = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/clients/naive_chain_client.py"
    );
    let suite = dir.path().join("naive-matrix.toml");
    std::fs::write(
        &suite,
        format!(
            "[suite]\nname = \"naive-matrix\"\n\n[client]\ncommand = [\"python3\", {client:?}]\n\
             timeout = \"30s\"\n\n[[origin]]\nname = \"api\"\nhost = \"api.example.test\"\n\n\
             [matrix]\nfamilies = [\"smuggle-chain\"]\nchain_pins = true\n"
        ),
    )
    .unwrap();
    let out = Command::new(bin())
        .arg("--ca-dir")
        .arg(dir.path().join("ca"))
        .arg("run")
        .arg(&suite)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    for case in ["api/smuggle-chain/intermediate", "api/smuggle-chain/root"] {
        assert!(
            stdout.contains(&format!("FAIL  naive-matrix / {case}")),
            "{case}: {stdout}"
        );
    }
    assert_eq!(
        stdout
            .matches("exposed: pins matched a certificate that was sent but not part of the verified chain")
            .count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains("chain:    sent "), "{stdout}");
}
