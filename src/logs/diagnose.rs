//! From what the parsers found to the failures `logs explain` lists: the diagnosis (the
//! documented list in the README), the explanation a person can act on, the interception CAs
//! known by name, and the counting of repeats. Pure.

use std::collections::HashMap;

use super::{ChainCert, Diagnosis, Failure, Found, Kind};

/// Interception CAs by a piece of their subject (lower case) → the product's name.
/// The test origins' roots (`pin-proxy test root ...`) are deliberately absent: a chain from them
/// is the "real" server of a scenario.
const INTERCEPTION_CAS: [(&str, &str); 19] = [
    ("pin-proxy local ca", "pin-proxy's local CA"),
    ("pin-proxy scenario ca", "pin-proxy's scenario CA"),
    ("pin-proxy untrusted ca", "pin-proxy's untrusted CA"),
    ("mitmproxy", "mitmproxy"),
    ("charles proxy", "Charles Proxy"),
    ("charlesproxy", "Charles Proxy"),
    ("xk72", "Charles Proxy"),
    ("portswigger", "Burp Suite (PortSwigger)"),
    ("burp", "Burp Suite"),
    ("do_not_trust", "Fiddler"),
    ("fiddler", "Fiddler"),
    ("http toolkit", "HTTP Toolkit"),
    ("httptoolkit", "HTTP Toolkit"),
    ("proxyman", "Proxyman"),
    ("owasp zap", "OWASP ZAP"),
    ("zed attack proxy", "OWASP ZAP"),
    ("zscaler", "Zscaler (a corporate TLS inspection proxy)"),
    ("netskope", "Netskope (a corporate TLS inspection proxy)"),
    ("fortigate", "FortiGate (a corporate TLS inspection proxy)"),
];

/// How far (in lines) a weak failure is looked at from a richer one of the same event.
const SAME_EVENT_LINES: u64 = 40;

/// The interception product a DN or message names, if any.
pub fn interception_ca(text: &str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    INTERCEPTION_CAS
        .iter()
        .find(|(needle, _)| lower.contains(needle))
        .map(|(_, name)| *name)
}

/// Orders, merges and diagnoses what the parsers found.
pub(crate) fn assemble(mut found: Vec<Found>) -> Vec<Failure> {
    found.sort_by_key(|f| f.line);
    // The same line found by two parsers: the first (richer) one stays.
    found.dedup_by(|b, a| a.line == b.line && a.kind == b.kind);
    let strong: Vec<u64> = found.iter().filter(|f| !f.weak).map(|f| f.line).collect();
    found.retain(|f| {
        !f.weak
            || !strong
                .iter()
                .any(|s| s.abs_diff(f.line) <= SAME_EVENT_LINES)
    });
    let mut out: Vec<Failure> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for f in found {
        let Some(format) = f.format else { continue };
        let (diagnosis, explanation) = diagnose(&f);
        let key = format!(
            "{}|{:?}|{:?}|{:?}|{:?}|{}|{}",
            format.name(),
            f.host,
            f.port,
            f.presented_pins,
            f.pinned_pins,
            diagnosis.name(),
            f.message
        );
        if let Some(i) = seen.get(&key) {
            out[*i].count += 1;
            continue;
        }
        seen.insert(key, out.len());
        out.push(Failure {
            format,
            line: f.line,
            host: f.host,
            port: f.port,
            presented_pins: f.presented_pins,
            pinned_pins: f.pinned_pins,
            presented_chain: f.presented_chain,
            pin_kind: f.pin_kind,
            diagnosis,
            explanation,
            count: 1,
        });
    }
    out
}

/// The diagnosis and explanation of one failure.
pub(crate) fn diagnose(f: &Found) -> (Diagnosis, String) {
    let host = f.host.as_deref().unwrap_or("the host");
    let said = if f.message.is_empty() {
        String::new()
    } else {
        format!("{} says \"{}\". ", library(f), f.message)
    };
    let proxy = f
        .presented_chain
        .iter()
        .flat_map(|c| [c.subject.as_deref(), c.issuer.as_deref()])
        .flatten()
        .find_map(interception_ca)
        .or_else(|| interception_ca(&f.message));
    match f.kind {
        Kind::Trust => {
            let why = match proxy {
                Some(ca) => format!(
                    "The chain comes from {ca} and the client does not trust that CA. To test \
                     pinning, install and trust the proxy's CA first (iOS: also Settings > General > \
                     About > Certificate Trust Settings; Android 7+: a network security config that \
                     trusts user CAs, in a debug build)."
                ),
                None => "The client does not trust the chain or the host name does not match it: \
                         check that the server sends its intermediate, the device's clock, and the \
                         name in the URL against the certificate's names."
                    .to_string(),
            };
            (
                Diagnosis::TrustFailure,
                format!("{said}Not a pinning failure: trust evaluation refused {host}. {why}"),
            )
        }
        Kind::RefusedProxy => (
            Diagnosis::Intercepted,
            format!(
                "{said}The client refused the interception proxy's certificate for {host}: it pins \
                 the real key or does not trust the proxy's CA. If this is your own test, the \
                 client is protected for this host."
            ),
        ),
        Kind::CancelledForged => (
            Diagnosis::Intercepted,
            format!(
                "{said}The client refused pin-proxy's forged certificate for {host}: pinning (or the \
                 trust check) worked against interception for this host."
            ),
        ),
        Kind::NoPins => (
            Diagnosis::NoPinsForHost,
            format!(
                "{said}The client has pins, but none for {host}, and refuses hosts without pins. Add \
                 pins for {host} (with a backup pin), or declare it unpinned in the pinning \
                 configuration."
            ),
        ),
        Kind::Pinning => pinning(f, host, &said, proxy),
    }
}

fn pinning(f: &Found, host: &str, said: &str, proxy: Option<&str>) -> (Diagnosis, String) {
    if let Some(ca) = proxy {
        return (
            Diagnosis::Intercepted,
            format!(
                "{said}The chain presented for {host} comes from {ca}, an interception proxy: \
                 pinning refused it, as it should. If this was your own test, the pinning works; if \
                 not, this device's traffic is being intercepted."
            ),
        );
    }
    let pins = &f.presented_pins;
    if let Some(leaf) = pins.first() {
        if pins.len() > 1 && pins[1..].contains(leaf) {
            return (
                Diagnosis::Intercepted,
                format!(
                    "{said}The leaf presented for {host} has the same key as its CA ({leaf}), as the \
                     certificates interception proxies generate often do: pinning refused an \
                     interception, as it should."
                ),
            );
        }
    }
    if !f.pinned_pins.is_empty() && f.pinned_pins.iter().any(|p| pins.contains(p)) {
        return (
            Diagnosis::Unknown,
            format!(
                "{said}A pinned key was among those presented for {host}, yet the client refused: \
                 the pins may belong to another host's entry, or the client checks another chain \
                 than the one logged (the verified path, not the certificates sent)."
            ),
        );
    }
    let cas = ca_names(&f.presented_chain);
    if cas.is_empty() {
        let what = if pins.is_empty() {
            "does not say which certificates were presented".to_string()
        } else {
            format!("gives the presented digest {} but names no CA", pins[0])
        };
        return (
            Diagnosis::Unknown,
            format!(
                "{said}The pin check for {host} failed, but the log {what}, so a rotated server key \
                 cannot be told from an interception proxy. Compare with the server's own chain: \
                 `pin-proxy pins show --connect {host}:443`."
            ),
        );
    }
    let pinned = if f.pinned_pins.is_empty() {
        "the client's pins".to_string()
    } else {
        format!("the {} pinned pin(s)", f.pinned_pins.len())
    };
    (
        Diagnosis::KeyRotated,
        format!(
            "{said}{host} presented a plausible real chain ({}) that matches none of {pinned}: the \
             server's key or CA changed and this build does not know the new one. Roll the server \
             back to a pinned key, or ship an update pinning the new key beside the old one (a \
             spare: `pin-proxy pins backup`) before the next rotation. `pin-proxy logs reproduce` \
             rehearses it.",
            cas.join(" < ")
        ),
    )
}

/// The CA names of a chain: every issuer, and the subjects past the leaf.
fn ca_names(chain: &[ChainCert]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in chain {
        let mut names: Vec<&str> = Vec::new();
        if c.position > 0 {
            names.extend(c.subject.as_deref());
        }
        names.extend(c.issuer.as_deref());
        for n in names {
            let n = n.trim();
            if !n.is_empty() && !out.iter().any(|o| o == n) {
                out.push(n.to_string());
            }
        }
    }
    out
}

fn library(f: &Found) -> &'static str {
    f.format.map_or("The log", |f| match f {
        super::Format::Okhttp => "OkHttp",
        super::Format::AndroidNsc => "Android",
        super::Format::Trustkit
        | super::Format::TrustkitAndroid
        | super::Format::TrustkitReport => "TrustKit",
        super::Format::Curl => "curl",
        super::Format::Node => "Node",
        super::Format::Urllib3 => "urllib3",
        super::Format::Chromium => "Chromium",
        super::Format::Ios => "iOS",
        super::Format::Alamofire => "Alamofire",
        super::Format::Flutter => "Flutter",
        super::Format::ReactNative => "The React Native pinning library",
        super::Format::Dotnet => ".NET",
        super::Format::Approov => "Approov",
        super::Format::UrlsessionDelegate => "The URLSession delegate",
        super::Format::Mitmproxy => "mitmproxy",
        super::Format::PinProxyClient => "pin-proxy client",
        super::Format::PinProxyEvents => "pin-proxy's events file",
    })
}
