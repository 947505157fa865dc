//! From what the parsers found to the failures `logs explain` lists: the diagnosis (the
//! documented list in the README), the explanation a person can act on, the interception CAs
//! known by name, and the counting of repeats. Pure.

use std::collections::HashMap;

use super::{ChainCert, Diagnosis, Failure, Format, Found, Kind};

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

/// Lines after which a found failure is settled: no later line changes it (parsers hold a
/// failure for at most this long after its first line).
const SETTLE_LINES: u64 = 2_000;
/// Unsettled failures held before a settling pass runs.
const SETTLE_BATCH: usize = 256;

/// Gathers what the parsers find, and turns it into failures as the input goes: same-line
/// duplicates and weak consequences are dropped, repeats are counted. Memory stays bounded by
/// the distinct failures, whatever the length of the log.
#[derive(Default)]
pub(crate) struct Collector {
    /// Found, not yet settled (parsers push here).
    pub incoming: Vec<Found>,
    /// Strong failures settled recently: (line, format), for the weak ones after them.
    recent: std::collections::VecDeque<(u64, Format)>,
    out: Vec<Failure>,
    index: HashMap<String, usize>,
    last: Option<(u64, Kind)>,
}

impl Collector {
    /// Adds a found failure.
    pub fn push(&mut self, found: Found) {
        self.incoming.push(found);
    }

    /// Settles what is older than [`SETTLE_LINES`] before `now`, when enough is waiting.
    pub fn settle(&mut self, now: u64) {
        if self.incoming.len() >= SETTLE_BATCH {
            self.settle_before(now.saturating_sub(SETTLE_LINES));
        }
    }

    /// Everything, in the order of first lines.
    pub fn finish(mut self) -> Vec<Failure> {
        self.settle_before(u64::MAX);
        self.out
    }

    fn settle_before(&mut self, limit: u64) {
        self.incoming.sort_by_key(|f| (f.line, f.weak));
        let cut = self.incoming.partition_point(|f| f.line < limit);
        let ready: Vec<Found> = self.incoming.drain(..cut).collect();
        for f in ready {
            // The same line found by two parsers: the first (richer) one stays.
            if self.last == Some((f.line, f.kind)) {
                continue;
            }
            self.last = Some((f.line, f.kind));
            let Some(format) = f.format else { continue };
            if f.weak && self.explained(&f, format) {
                continue;
            }
            if !f.weak {
                self.recent.push_back((f.line, format));
                while self
                    .recent
                    .front()
                    .is_some_and(|(l, _)| l + SAME_EVENT_LINES < f.line)
                {
                    self.recent.pop_front();
                }
            }
            self.add(f, format);
        }
    }

    /// A weak failure that a richer one of the same event, close by, explains.
    fn explained(&self, f: &Found, format: Format) -> bool {
        let near = |line: u64, other: Format| {
            line.abs_diff(f.line) <= SAME_EVENT_LINES && absorbs(other, format)
        };
        self.recent.iter().any(|(l, o)| near(*l, *o))
            || self
                .incoming
                .iter()
                .filter(|o| !o.weak)
                .any(|o| o.format.is_some_and(|of| near(o.line, of)))
    }

    fn add(&mut self, f: Found, format: Format) {
        let (diagnosis, explanation) = diagnose(&f);
        // The chain's pins too: a TrustKit report gives its chain as PEMs, with no pins of its
        // own, and two reports for one host with other chains are two failures.
        let chain_pins: Vec<Option<&str>> =
            f.presented_chain.iter().map(|c| c.pin.as_deref()).collect();
        let key = format!(
            "{}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{}",
            format.name(),
            f.host,
            f.port,
            f.presented_pins,
            f.pinned_pins,
            chain_pins,
            diagnosis.name(),
            f.message
        );
        if let Some(i) = self.index.get(&key) {
            self.out[*i].count += 1;
            return;
        }
        self.index.insert(key, self.out.len());
        self.out.push(Failure {
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
}

/// The failures of a list of found ones, as a whole log would give them.
pub(crate) fn assemble(found: Vec<Found>) -> Vec<Failure> {
    let mut collector = Collector::default();
    for f in found {
        collector.push(f);
    }
    collector.finish()
}

/// Whether a failure of `strong`'s format explains a weak one of `weak`'s close by: iOS's -999
/// follows the refusal of TrustKit, a delegate, Alamofire or Approov; Android's bare `Pin
/// verification failed` is TrustKit-Android's.
fn absorbs(strong: Format, weak: Format) -> bool {
    match weak {
        Format::Ios => matches!(
            strong,
            Format::Trustkit
                | Format::UrlsessionDelegate
                | Format::Alamofire
                | Format::Approov
                | Format::ReactNative
                | Format::Ios
        ),
        Format::AndroidNsc => matches!(strong, Format::TrustkitAndroid),
        _ => false,
    }
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
        Kind::NoPinsOpen => (
            Diagnosis::NoPinsForHost,
            format!(
                "{said}{host} has no pins, so the library let the connection through on trust \
                 alone (fail open): if {host} should be pinned, its entry is missing or does not \
                 cover it (check the domain and include-subdomains)."
            ),
        ),
        Kind::Unclear => (
            Diagnosis::Unknown,
            format!(
                "{said}The client refused {host}, but the log does not say whether a pin or the \
                 trust check refused it. Run the client with its pinning log on, or check it with \
                 `pin-proxy logs reproduce` and a known chain."
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

#[cfg(test)]
mod tests {
    use super::super::{Format, PinKind};
    use super::*;

    fn report(line: u64, chain: &[&str]) -> Found {
        Found {
            format: Some(Format::TrustkitReport),
            line,
            host: Some("api.example.com".into()),
            port: Some(443),
            pinned_pins: vec!["AAAA".into()],
            presented_chain: chain
                .iter()
                .enumerate()
                .map(|(position, pin)| ChainCert {
                    position,
                    subject: Some(format!("CN=cert {position}")),
                    issuer: Some(format!("CN=cert {}", position + 1)),
                    pin: Some(pin.to_string()),
                })
                .collect(),
            pin_kind: Some(PinKind::SpkiSha256),
            message: "validation-result 1".into(),
            ..Found::default()
        }
    }

    #[test]
    fn repeats_are_counted_and_other_chains_are_not_repeats() {
        let failures = assemble(vec![
            report(1, &["leaf1", "ca"]),
            report(2, &["leaf1", "ca"]),
            report(3, &["leaf2", "ca"]),
            report(4, &["leaf1", "ca"]),
        ]);
        let seen: Vec<(u64, u64)> = failures.iter().map(|f| (f.line, f.count)).collect();
        assert_eq!(seen, [(1, 3), (3, 1)]);
    }
}
