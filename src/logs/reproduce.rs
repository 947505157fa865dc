//! `logs reproduce`: a scenario suite (TOML text) that fails the way a logged failure did, with
//! the fix beside it, on local test origins. Pure: it takes a [`Failure`] and returns the text;
//! the CLI writes it and may run it.
//!
//! By diagnosis: `key_rotated` (the origin presents a new key, the client pins the old one; the
//! fix adds the new key as a backup pin), `intercepted` (the proxy intercepts, the client pins
//! the origin's keys at the logged positions; the fix passes the host through), `no_pins_for_host`
//! (a fail-closed client with pins for another host only; the fix adds pins for this host),
//! `trust_failure` (the proxy's CA is not trusted; the fix trusts it). `unknown` is refused with
//! what the log lacks. The origin has the logged host, and for a rotation the logged chain's depth
//! and subjects; the client is `pin-proxy client` with the logged library's policy, or the user's
//! command. Every value says in a comment which log line it came from.

use super::{ChainCert, Diagnosis, Failure, Format};
use crate::dn::{Attribute, DistinguishedName};

/// The host used when the log names none (or only a redacted one).
pub const FALLBACK_HOST: &str = "api.example.test";
/// The other host of a `no_pins_for_host` suite.
const OTHER_HOST: &str = "pinned.example.test";

/// Why a failure cannot be reproduced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// The suite text for one failure. `source` names the log, `index` is the failure's 1-based
/// number in `logs explain`, `client` the user's own command (run by `sh -c`) if any.
pub fn suite(
    f: &Failure,
    source: &str,
    index: usize,
    client: Option<&str>,
) -> Result<String, Refused> {
    if f.diagnosis == Diagnosis::Unknown {
        return Err(Refused(format!(
            "failure {index} (line {}, {}) cannot be reproduced: {}",
            f.line,
            f.format.name(),
            lacking(f)
        )));
    }
    let line = f.line;
    let (host, host_note) = match f.host.as_deref().filter(|h| valid_host(h)) {
        Some(h) => (h.to_string(), format!("line {line}")),
        None => (
            FALLBACK_HOST.to_string(),
            format!("the log names no usable host (line {line}): a stand-in"),
        ),
    };
    let policy = Policy::of(f.format);
    let mut out = String::new();
    header(&mut out, f, source, index);
    let slug = f.diagnosis.name().replace('_', "-");
    out.push_str(&format!(
        "[suite]\nname = {}\ndescription = {}\n\n",
        quote(&format!("repro-{slug}")),
        quote(&format!(
            "{} failure at line {line} of {source}: {}",
            f.format.name(),
            f.diagnosis.name()
        ))
    ));
    client_section(&mut out, &policy, f, client);
    match f.diagnosis {
        Diagnosis::KeyRotated => key_rotated(&mut out, f, &host, &host_note),
        Diagnosis::Intercepted => intercepted(&mut out, f, &host, &host_note),
        Diagnosis::NoPinsForHost => no_pins(&mut out, &host, &host_note, line),
        Diagnosis::TrustFailure => trust(&mut out, f, &host, &host_note),
        Diagnosis::Unknown => {}
    }
    Ok(out)
}

/// What the log would need for a reproduction.
fn lacking(f: &Failure) -> String {
    let mut missing = Vec::new();
    if f.presented_chain
        .iter()
        .all(|c| c.subject.is_none() && c.issuer.is_none())
    {
        missing.push(
            "the presented certificates' names (to tell a rotated key from an interception proxy)",
        );
    }
    if f.presented_pins.is_empty() {
        missing.push("the presented pins");
    }
    if f.host.is_none() {
        missing.push("the host");
    }
    if missing.is_empty() {
        missing.push("what refused the connection (a pin or the trust check)");
    }
    format!(
        "the log does not give {}. Capture the client's own pinning log (for OkHttp its \
         exception message, for curl -v) and run `pin-proxy logs explain` on it",
        missing.join(", nor ")
    )
}

/// The logged library's policy, as `pin-proxy client` flags.
struct Policy {
    library: &'static str,
    /// `chain` (a pin on any certificate of the verified path) or `leaf`.
    matching: &'static str,
    /// `fail-open` or `fail-closed` for a host without pins.
    missing: &'static str,
}

impl Policy {
    fn of(format: Format) -> Policy {
        let (library, matching, missing) = match format {
            Format::Okhttp | Format::Approov => {
                ("OkHttp's CertificatePinner", "chain", "fail-open")
            }
            Format::AndroidNsc => ("Android's network security config", "chain", "fail-open"),
            Format::TrustkitAndroid => ("TrustKit-Android", "chain", "fail-open"),
            Format::Trustkit | Format::TrustkitReport => ("TrustKit", "chain", "fail-closed"),
            Format::UrlsessionDelegate | Format::Ios | Format::Alamofire => {
                ("a URLSession delegate", "chain", "fail-closed")
            }
            Format::Curl => ("curl --pinnedpubkey", "leaf", "fail-closed"),
            Format::Node => ("Node's checkServerIdentity recipe", "leaf", "fail-closed"),
            Format::Urllib3 => ("urllib3's assert_fingerprint", "leaf", "fail-closed"),
            Format::Flutter | Format::ReactNative | Format::Dotnet | Format::Chromium => {
                ("the app's pinning", "leaf", "fail-closed")
            }
            Format::Mitmproxy | Format::PinProxyEvents | Format::PinProxyClient => {
                ("a pinning client", "chain", "fail-closed")
            }
        };
        Policy {
            library,
            matching,
            missing,
        }
    }
}

fn header(out: &mut String, f: &Failure, source: &str, index: usize) {
    out.push_str(
        "# Written by `pin-proxy logs reproduce`: a suite that fails the way the logged\n",
    );
    out.push_str("# failure did, with its fix. Run it with `pin-proxy run THIS-FILE`.\n#\n");
    out.push_str(&format!(
        "# Source: {source}, failure {index}: {} at line {}{}.\n",
        f.format.name(),
        f.line,
        if f.count > 1 {
            format!(" (seen {} times)", f.count)
        } else {
            String::new()
        }
    ));
    if let Some(host) = &f.host {
        out.push_str(&format!("# Host (line {}): {host}\n", f.line));
    }
    out.push_str(&format!("# Diagnosis: {}.\n", f.diagnosis.name()));
    for chunk in wrap(&f.explanation, 96) {
        out.push_str(&format!("#   {chunk}\n"));
    }
    if !f.presented_chain.is_empty() {
        out.push_str(&format!(
            "# Logged presented chain (line {}), leaf first:\n",
            f.line
        ));
        for c in &f.presented_chain {
            out.push_str(&format!(
                "#   {} {} {}\n",
                c.position,
                c.pin.as_deref().unwrap_or("(no pin logged)"),
                c.subject
                    .as_deref()
                    .map(str::to_string)
                    .or_else(|| c.issuer.as_ref().map(|i| format!("issued by {i}")))
                    .unwrap_or_default()
            ));
        }
    } else if !f.presented_pins.is_empty() {
        out.push_str(&format!(
            "# Logged presented pins (line {}): {}\n",
            f.line,
            f.presented_pins.join(", ")
        ));
    }
    if !f.pinned_pins.is_empty() {
        out.push_str(&format!(
            "# Logged pinned pins (line {}): {}\n",
            f.line,
            f.pinned_pins.join(", ")
        ));
    }
    out.push_str(
        "# The pins below are this suite's own origin keys at the positions the logged ones had;\n\
         # the logged values above are kept for reference only.\n\n",
    );
}

fn client_section(out: &mut String, policy: &Policy, f: &Failure, client: Option<&str>) {
    out.push_str("[client]\n");
    match client {
        Some(cmd) => {
            out.push_str(
                "# Your own command (`--client`), run by `sh -c` with the PIN_PROXY_* variables.\n",
            );
            out.push_str(&format!("command = {}\n", quote(cmd)));
        }
        None => {
            let missing = if f.diagnosis == Diagnosis::NoPinsForHost {
                // The logged client refused a host without pins: it fails closed, whatever its
                // library's default.
                "fail-closed"
            } else {
                policy.missing
            };
            out.push_str(&format!(
                "# {} (the logged format, line {}): pins match {} of the verified path; a host\n\
                 # without pins is {}. Put your own client in with `--client 'CMD'`.\n",
                policy.library,
                f.line,
                if policy.matching == "chain" {
                    "any certificate"
                } else {
                    "the leaf"
                },
                if missing == "fail-open" {
                    "let through (fail-open)"
                } else {
                    "refused (fail-closed)"
                }
            ));
            out.push_str(&format!(
                "command = [\n  \"{{bin}}\", \"client\", \"{{url}}\", \"--proxy\", \"{{proxy}}\",\n  \
                 \"--ca\", \"{{trust_bundle}}\", \"--no-system-roots\",\n  \
                 [\"--pin\", \"{{pins}}\"], [\"--pinned-host\", \"{{pinned_host}}\"],\n  \
                 \"--match\", \"{}\", \"--missing-pin\", \"{}\",\n  \
                 \"--connect-timeout\", \"10s\", \"--timeout\", \"15s\",\n]\n",
                policy.matching, missing
            ));
        }
    }
    out.push_str("timeout = \"20s\"\n\n");
}

fn key_rotated(out: &mut String, f: &Failure, host: &str, host_note: &str) {
    let old: Vec<String> = (0..f.pinned_pins.len().max(1))
        .map(|i| {
            if i == 0 {
                "old".to_string()
            } else {
                format!("old{}", i + 1)
            }
        })
        .collect();
    let mut keys = old.clone();
    keys.push("new".into());
    origin(out, "server", host, host_note, &keys, chain_of(f), f.line);
    let old_refs: Vec<String> = old.iter().map(|k| format!("server.{k}")).collect();
    let mut fixed = old_refs.clone();
    fixed.push("server.new".into());
    case(
        out,
        "failure/key-rotated",
        "passthrough",
        Some("new"),
        &old_refs,
        None,
        "cancelled",
        &format!(
            "the server now presents a new key and the client pins only the old one{} (the logged \
             refusal, line {})",
            if old.len() > 1 { "s" } else { "" },
            f.line
        ),
    );
    case(
        out,
        "fix/backup-pin",
        "passthrough",
        Some("new"),
        &fixed,
        None,
        "proceeded",
        "the old pin plus the new key as a backup pin: the rotation goes through",
    );
}

fn intercepted(out: &mut String, f: &Failure, host: &str, host_note: &str) {
    origin(
        out,
        "server",
        host,
        host_note,
        &["current".into()],
        None,
        f.line,
    );
    // The logged pins, in order, become the origin's leaf, intermediate and root.
    let refs = ["server.current", "server.intermediate", "server.root"];
    let pins: Vec<String> = refs
        .iter()
        .take(f.pinned_pins.len().clamp(1, refs.len()))
        .map(|r| r.to_string())
        .collect();
    case(
        out,
        "failure/intercepted",
        "intercept",
        None,
        &pins,
        None,
        "cancelled",
        &format!(
            "an interception proxy presents its own chain and the client pins the server's keys \
             (the logged refusal, line {})",
            f.line
        ),
    );
    case(
        out,
        "fix/passthrough",
        "passthrough",
        None,
        &pins,
        None,
        "proceeded",
        "the same client with the host passed through (no interception): the server's own keys \
         match",
    );
}

fn no_pins(out: &mut String, host: &str, host_note: &str, line: u64) {
    origin(
        out,
        "server",
        host,
        host_note,
        &["current".into()],
        None,
        line,
    );
    origin(
        out,
        "other",
        OTHER_HOST,
        "a host the client does have pins for",
        &["current".into()],
        None,
        line,
    );
    case(
        out,
        "failure/no-pins-for-host",
        "passthrough",
        None,
        &["other.current".into()],
        Some(OTHER_HOST),
        "cancelled",
        &format!(
            "a fail-closed client with pins for another host only refuses {host} (the logged \
             refusal, line {line})"
        ),
    );
    case(
        out,
        "fix/pins-for-host",
        "passthrough",
        None,
        &["server.current".into()],
        Some(host),
        "proceeded",
        &format!("pins for {host} added: the host is pinned and matches"),
    );
}

fn trust(out: &mut String, f: &Failure, host: &str, host_note: &str) {
    origin(
        out,
        "server",
        host,
        host_note,
        &["current".into()],
        None,
        f.line,
    );
    case(
        out,
        "failure/untrusted-ca",
        "untrusted-ca",
        None,
        &[],
        None,
        "cancelled",
        &format!(
            "the proxy's CA is not in the client's trust store: trust evaluation refuses the chain \
             (the logged refusal, line {})",
            f.line
        ),
    );
    case(
        out,
        "fix/ca-trusted",
        "intercept",
        None,
        &[],
        None,
        "proceeded",
        "the proxy's CA in the trust bundle: the chain verifies",
    );
}

/// The logged chain's depth and subjects, for an origin that looks like the logged server.
fn chain_of(f: &Failure) -> Option<(Vec<String>, Vec<String>)> {
    if f.presented_chain.len() < 2 {
        return None;
    }
    let mut subjects: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let logged: Vec<&ChainCert> = f.presented_chain.iter().take(6).collect();
    for c in &logged {
        let given = c.subject.as_deref().and_then(rfc4514);
        let taken = given.filter(|s| !subjects.contains(s));
        match taken {
            Some(s) => {
                notes.push(format!("position {} as logged", c.position));
                subjects.push(s);
            }
            None => {
                notes.push(format!(
                    "position {}: generated (no usable logged name)",
                    c.position
                ));
                subjects.push(String::new());
            }
        }
    }
    Some((subjects, notes))
}

/// A logged DN in the RFC 4514 order the suite takes (most specific first); x509-parser's and
/// OpenSSL's one-line forms (`C=US, O=..., CN=...`) are reversed.
fn rfc4514(s: &str) -> Option<String> {
    let dn = DistinguishedName::parse(s)
        .ok()
        .or_else(|| DistinguishedName::parse_lenient(s))?;
    let attrs = dn.attributes();
    let cn_last = attrs.len() > 1
        && attrs
            .last()
            .is_some_and(|(a, _)| *a == Attribute::CommonName)
        && attrs
            .first()
            .is_some_and(|(a, _)| *a != Attribute::CommonName);
    let dn = if cn_last {
        DistinguishedName::from_attributes(attrs.iter().rev().cloned().collect()).ok()?
    } else {
        dn
    };
    Some(dn.to_string())
}

fn origin(
    out: &mut String,
    name: &str,
    host: &str,
    host_note: &str,
    keys: &[String],
    chain: Option<(Vec<String>, Vec<String>)>,
    line: u64,
) {
    out.push_str("[[origin]]\n");
    out.push_str(&format!("name = {}\n", quote(name)));
    out.push_str(&format!("host = {}   # {host_note}\n", quote(host)));
    out.push_str(&format!(
        "keys = [{}]\n",
        keys.iter().map(|k| quote(k)).collect::<Vec<_>>().join(", ")
    ));
    if let Some((subjects, notes)) = chain {
        out.push_str(&format!(
            "# The logged chain (line {line}): {} certificates, leaf first.\n",
            subjects.len()
        ));
        out.push_str("chain = [\n");
        for (s, note) in subjects.iter().zip(&notes) {
            out.push_str(&format!("  {},   # {note}\n", quote(s)));
        }
        out.push_str("]\n");
    }
    out.push('\n');
}

#[allow(clippy::too_many_arguments)]
fn case(
    out: &mut String,
    name: &str,
    proxy: &str,
    origin_key: Option<&str>,
    pins: &[String],
    pinned_host: Option<&str>,
    expect: &str,
    reason: &str,
) {
    out.push_str("[[case]]\n");
    out.push_str(&format!("name = {}\n", quote(name)));
    out.push_str("origin = \"server\"\n");
    out.push_str(&format!("proxy = {}\n", quote(proxy)));
    if let Some(key) = origin_key {
        out.push_str(&format!("origin_key = {}\n", quote(key)));
    }
    out.push_str(&format!(
        "pins = [{}]\n",
        pins.iter().map(|p| quote(p)).collect::<Vec<_>>().join(", ")
    ));
    if let Some(h) = pinned_host {
        out.push_str(&format!("pinned_host = {}\n", quote(h)));
    }
    out.push_str(&format!("expect = {}\n", quote(expect)));
    out.push_str(&format!("reason = {}\n\n", quote(reason)));
}

/// A TOML basic string: JSON's string escapes (`\"`, `\\`, `\n`, `\uXXXX`) are all TOML's too.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.contains('.')
        && !h.contains('*')
        && h.split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        if !cur.is_empty() && cur.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;

    fn failure(diagnosis: Diagnosis, format: Format) -> Failure {
        Failure {
            format,
            line: 7,
            host: Some("api.example.com".into()),
            port: None,
            presented_pins: vec!["AAAA".into()],
            pinned_pins: vec!["BBBB".into(), "CCCC".into()],
            presented_chain: vec![
                ChainCert {
                    position: 0,
                    subject: Some("CN=api.example.com, O=Example".into()),
                    issuer: None,
                    pin: Some("AAAA".into()),
                },
                ChainCert {
                    position: 1,
                    subject: Some("C=US, O=Let's Encrypt, CN=R3".into()),
                    issuer: None,
                    pin: Some("DDDD".into()),
                },
            ],
            pin_kind: None,
            diagnosis,
            explanation: "an explanation".into(),
            count: 2,
        }
    }

    #[test]
    fn every_diagnosis_but_unknown_gives_a_suite_that_parses() {
        for d in [
            Diagnosis::KeyRotated,
            Diagnosis::Intercepted,
            Diagnosis::NoPinsForHost,
            Diagnosis::TrustFailure,
        ] {
            for format in [Format::Okhttp, Format::Curl, Format::Trustkit] {
                let text = suite(&failure(d, format), "log.txt", 1, None).expect("a suite");
                let parsed = parse::parse("repro.toml", "repro", &text);
                assert!(
                    parsed.is_ok(),
                    "{d:?} {format:?}: {:?}\n{text}",
                    parsed.err()
                );
            }
        }
        let err = suite(
            &failure(Diagnosis::Unknown, Format::Okhttp),
            "log.txt",
            3,
            None,
        );
        assert!(err.is_err_and(|e| e.0.contains("failure 3")));
    }

    #[test]
    fn a_rotation_keeps_the_logged_chain_and_policy() {
        let text = suite(
            &failure(Diagnosis::KeyRotated, Format::Okhttp),
            "log.txt",
            1,
            None,
        )
        .expect("a suite");
        assert!(text.contains("\"CN=R3,O=Let's Encrypt,C=US\""), "{text}");
        assert!(text.contains("\"--match\", \"chain\", \"--missing-pin\", \"fail-open\""));
        assert!(text.contains("pins = [\"server.old\", \"server.old2\"]"));
        assert!(text.contains("pins = [\"server.old\", \"server.old2\", \"server.new\"]"));
        let curl = suite(
            &failure(Diagnosis::KeyRotated, Format::Curl),
            "log.txt",
            1,
            None,
        )
        .expect("a suite");
        assert!(curl.contains("\"--match\", \"leaf\""));
        let own = suite(
            &failure(Diagnosis::KeyRotated, Format::Curl),
            "l",
            1,
            Some("my-app --x"),
        )
        .expect("a suite");
        assert!(own.contains("command = \"my-app --x\""));
    }
}
