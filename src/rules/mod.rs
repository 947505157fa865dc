//! Host rules: which action the proxy takes for a host (intercept with a certificate profile, or
//! pass through untouched).
//!
//! Pure and I/O-free: this module parses globs, profile names and `--map` entries, and answers
//! "what do we do for this host?". Loading rule files from disk and issuing certificates are left
//! to `cli` and `ca`.
//!
//! Precedence is order-independent: the most specific matching pattern wins (an exact host beats
//! any glob; among globs, the one with more literal characters), and on a tie the rule given first.

pub mod file;
pub mod learn;

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How the proxy presents itself to a client for one host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// A leaf for the host signed by the local CA (the CA a tester installs on the device).
    Forged,
    /// A self-signed certificate for the host.
    SelfSigned,
    /// A leaf signed by the local CA for a different host name.
    WrongHost,
    /// A leaf signed by the local CA whose validity ended in the past.
    Expired,
    /// A leaf for the host signed by a second CA that nobody installs.
    UntrustedCa,
    /// A certificate and key the user supplied (`--cert HOST=cert.pem,key.pem`).
    Custom,
    /// The forged leaf (its own key, signed by the local CA), then the local CA, then every
    /// certificate the origin sent and the root that verified it: a client that checks its
    /// pins against the certificates sent rather than the verified path is fooled.
    SmuggleChain,
}

impl Profile {
    /// Every profile, in the order the help text lists them.
    pub const ALL: [Profile; 7] = [
        Profile::Forged,
        Profile::SelfSigned,
        Profile::WrongHost,
        Profile::Expired,
        Profile::UntrustedCa,
        Profile::Custom,
        Profile::SmuggleChain,
    ];

    /// The name used on the command line, in rule files and in the events file.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Forged => "forged",
            Profile::SelfSigned => "self-signed",
            Profile::WrongHost => "wrong-host",
            Profile::Expired => "expired",
            Profile::UntrustedCa => "untrusted-ca",
            Profile::Custom => "custom",
            Profile::SmuggleChain => "smuggle-chain",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let names: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
                format!(
                    "unknown profile {s:?} (expected one of {})",
                    names.join(", ")
                )
            })
    }
}

/// What the proxy does with a CONNECT to a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Terminate the client's TLS with a certificate of this profile and forward its requests.
    Intercept(Profile),
    /// Relay bytes untouched: the client sees the real server's certificate.
    Passthrough,
}

/// A host pattern: `*` matches any run of characters (dots included), `?` exactly one.
/// Matching ignores ASCII case. `*.example.com` matches `a.example.com` and `a.b.example.com`
/// but not `example.com`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostGlob {
    pattern: String,
}

impl HostGlob {
    /// Parses a glob; rejects empty patterns and characters that cannot be in a host name.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let pattern = pattern.trim();
        if pattern.is_empty() {
            return Err("empty host pattern".into());
        }
        if let Some(bad) = pattern.chars().find(|c| {
            !(c.is_ascii_alphanumeric()
                || matches!(c, '.' | '-' | '_' | '*' | '?' | ':' | '[' | ']'))
        }) {
            return Err(format!(
                "bad host pattern {pattern:?}: {bad:?} cannot appear in a host name (use * and ?)"
            ));
        }
        Ok(Self {
            pattern: pattern.to_ascii_lowercase(),
        })
    }

    /// The pattern as given (lower-cased).
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether the pattern has no wildcard.
    pub fn is_exact(&self) -> bool {
        !self.pattern.contains(['*', '?'])
    }

    /// How specific the pattern is: exact hosts first, then by the number of literal characters.
    fn specificity(&self) -> (bool, usize) {
        (
            self.is_exact(),
            self.pattern
                .chars()
                .filter(|c| !matches!(c, '*' | '?'))
                .count(),
        )
    }

    /// Whether `host` matches. Runs in O(pattern × host) time, no backtracking blow-up.
    pub fn matches(&self, host: &str) -> bool {
        let p: Vec<u8> = self.pattern.bytes().collect();
        let h: Vec<u8> = host.bytes().map(|b| b.to_ascii_lowercase()).collect();
        // Classic two-pointer wildcard match with one backtrack point.
        let (mut pi, mut hi) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while hi < h.len() {
            // A `*` in the pattern is a wildcard even against a `*` in the host.
            if pi < p.len() && p[pi] == b'*' {
                star = Some((pi, hi));
                pi += 1;
            } else if pi < p.len() && (p[pi] == b'?' || p[pi] == h[hi]) {
                pi += 1;
                hi += 1;
            } else if let Some((sp, sh)) = star {
                pi = sp + 1;
                hi = sh + 1;
                star = Some((sp, sh + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&c| c == b'*')
    }
}

impl fmt::Display for HostGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

/// One rule: a host pattern and what to do for hosts that match it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The hosts it applies to.
    pub hosts: HostGlob,
    /// What to do for them.
    pub action: Action,
}

impl Rule {
    /// Parses `GLOB=PROFILE` (the form of `--profile`).
    pub fn parse_profile(spec: &str) -> Result<Self, String> {
        let (glob, profile) = spec
            .split_once('=')
            .ok_or_else(|| format!("expected GLOB=PROFILE, got {spec:?}"))?;
        Ok(Self {
            hosts: HostGlob::parse(glob)?,
            action: Action::Intercept(profile.parse()?),
        })
    }
}

/// The ordered rule set; hosts no rule matches are intercepted with the `forged` profile.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// A rule set from rules in the order they were given (the order breaks ties only).
    pub fn new(rules: Vec<Rule>) -> Self {
        Self { rules }
    }

    /// The rules as given.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The most specific rule that matches `host`, if any.
    pub fn rule_for(&self, host: &str) -> Option<&Rule> {
        most_specific(&self.rules, |r| &r.hosts, host)
    }

    /// The action for `host`: the most specific matching rule, or intercept with `forged`.
    pub fn action_for(&self, host: &str) -> Action {
        self.rule_for(host)
            .map_or(Action::Intercept(Profile::Forged), |r| r.action)
    }
}

/// The item whose pattern matches `host` most specifically (an exact host beats any glob; among
/// globs, more literal characters win; on a tie, the earlier item).
pub fn most_specific<'a, T>(
    items: &'a [T],
    pattern: impl Fn(&T) -> &HostGlob,
    host: &str,
) -> Option<&'a T> {
    let mut best: Option<(&T, (bool, usize))> = None;
    for item in items.iter().filter(|i| pattern(i).matches(host)) {
        let spec = pattern(item).specificity();
        if best.is_none_or(|(_, b)| spec > b) {
            best = Some((item, spec));
        }
    }
    best.map(|(item, _)| item)
}

/// A host without the brackets of an IPv6 literal: `[::1]` → `::1`.
pub fn unbracket(host: &str) -> &str {
    host.trim_start_matches('[').trim_end_matches(']')
}

/// `host:port`, with an IPv6 address in brackets (`[::1]:443`), as records and output show it.
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A `--map HOST[:PORT]=ADDR:PORT` entry: connect to `to` instead of resolving the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostMap {
    /// Host name (lower-cased) the entry applies to.
    pub host: String,
    /// Port it applies to; `None` means every port.
    pub port: Option<u16>,
    /// Where to connect instead.
    pub to: SocketAddr,
}

impl HostMap {
    /// Parses `HOST[:PORT]=ADDR:PORT`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (from, to) = spec
            .split_once('=')
            .ok_or_else(|| format!("expected HOST[:PORT]=ADDR:PORT, got {spec:?}"))?;
        let to: SocketAddr = to.trim().parse().map_err(|_| {
            format!("{to:?} is not an ADDR:PORT socket address (e.g. 127.0.0.1:8443)")
        })?;
        let from = from.trim();
        let (host, port) = match from.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.ends_with(']') => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| format!("bad port {p:?} in {from:?}"))?;
                (h, Some(port))
            }
            _ => (from, None),
        };
        let host = unbracket(host);
        if host.is_empty() {
            return Err(format!("missing host in {spec:?}"));
        }
        let glob = HostGlob::parse(host).map_err(|e| format!("{spec:?}: {e}"))?;
        if !glob.is_exact() {
            return Err(format!(
                "{spec:?}: a map names one host, not a pattern (* and ? are not allowed)"
            ));
        }
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port,
            to,
        })
    }
}

/// Looks up the address for `host:port` in `maps`: an entry with the port beats one without.
pub fn mapped_addr(maps: &[HostMap], host: &str, port: u16) -> Option<SocketAddr> {
    let host = host.to_ascii_lowercase();
    maps.iter()
        .find(|m| m.host == host && m.port == Some(port))
        .or_else(|| maps.iter().find(|m| m.host == host && m.port.is_none()))
        .map(|m| m.to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_hosts_are_bracketed_with_their_port() {
        assert_eq!(authority("::1", 443), "[::1]:443");
        assert_eq!(authority("[::1]", 443), "[::1]:443");
        assert_eq!(authority("api.test", 443), "api.test:443");
        assert_eq!(authority("10.0.0.1", 80), "10.0.0.1:80");
    }

    fn glob(s: &str) -> HostGlob {
        HostGlob::parse(s).unwrap()
    }

    #[test]
    fn glob_matching() {
        assert!(glob("*.example.com").matches("a.example.com"));
        assert!(glob("*.example.com").matches("a.b.EXAMPLE.com"));
        assert!(!glob("*.example.com").matches("example.com"));
        assert!(glob("api.test").matches("API.test"));
        assert!(!glob("api.test").matches("api.test.evil"));
        assert!(glob("api?.test").matches("api1.test"));
        assert!(!glob("api?.test").matches("api.test"));
        assert!(glob("*").matches("anything"));
        assert!(glob("a*b*c").matches("aXXbYYc"));
        assert!(!glob("a*b*c").matches("aXXbYY"));
        assert!(glob("127.0.0.1").matches("127.0.0.1"));
    }

    #[test]
    fn glob_rejects_garbage() {
        assert!(HostGlob::parse("").is_err());
        assert!(HostGlob::parse("a b").is_err());
        assert!(HostGlob::parse("a/b").is_err());
        let err = HostGlob::parse("ex^mple.com").unwrap_err();
        assert!(err.contains("'^'"), "{err}");
    }

    #[test]
    fn most_specific_rule_wins_regardless_of_order() {
        let rules = Rules::new(vec![
            Rule {
                hosts: glob("*.example.com"),
                action: Action::Passthrough,
            },
            Rule::parse_profile("api.example.com=expired").unwrap(),
            Rule::parse_profile("*.cdn.example.com=self-signed").unwrap(),
        ]);
        assert_eq!(
            rules.action_for("api.example.com"),
            Action::Intercept(Profile::Expired)
        );
        assert_eq!(
            rules.action_for("img.cdn.example.com"),
            Action::Intercept(Profile::SelfSigned)
        );
        assert_eq!(rules.action_for("www.example.com"), Action::Passthrough);
        assert_eq!(
            rules.action_for("other.test"),
            Action::Intercept(Profile::Forged)
        );
    }

    #[test]
    fn profile_names_round_trip() {
        for p in Profile::ALL {
            assert_eq!(p.name().parse::<Profile>(), Ok(p));
        }
        assert!("bogus"
            .parse::<Profile>()
            .unwrap_err()
            .contains("self-signed"));
        assert!(Rule::parse_profile("api.test").is_err());
        assert!(Rule::parse_profile("api.test=nope").is_err());
    }

    #[test]
    fn host_maps() {
        let maps = vec![
            HostMap::parse("api.test=127.0.0.1:9000").unwrap(),
            HostMap::parse("API.test:8443=127.0.0.1:9001").unwrap(),
            HostMap::parse("[::1]:443=127.0.0.1:9002").unwrap(),
        ];
        assert_eq!(
            mapped_addr(&maps, "api.test", 443),
            Some("127.0.0.1:9000".parse().unwrap())
        );
        assert_eq!(
            mapped_addr(&maps, "api.test", 8443),
            Some("127.0.0.1:9001".parse().unwrap())
        );
        assert_eq!(
            mapped_addr(&maps, "::1", 443),
            Some("127.0.0.1:9002".parse().unwrap())
        );
        assert_eq!(mapped_addr(&maps, "other.test", 443), None);
        assert!(HostMap::parse("api.test=localhost").is_err());
        assert!(HostMap::parse("api.test:x=127.0.0.1:1").is_err());
        assert!(HostMap::parse("=127.0.0.1:1").is_err());
    }
}
