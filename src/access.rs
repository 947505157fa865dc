//! Who may use a listener: the `--allow-from` ranges (CIDR; loopback clients are always
//! allowed), the proxy's `--auth` credentials (HTTP Basic, compared in constant time, never
//! printed), and the rules that a LAN address needs one of them. Pure: the listeners (the proxy
//! and `logs collect` today; its SOCKS5 and transparent doors and `pin-config serve` next) ask
//! it about an address or a header.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// An address range: `192.168.1.0/24`, `10.0.0.7` (one host), `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u128::from(u32::from(n)), self.prefix, 32)
                    == masked(u128::from(u32::from(a)), self.prefix, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                masked(u128::from(n), self.prefix, 128) == masked(u128::from(a), self.prefix, 128)
            }
            _ => false,
        }
    }
}

pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The top `prefix` bits of a `width`-bit value.
fn masked(value: u128, prefix: u8, width: u32) -> u128 {
    let prefix = u32::from(prefix).min(width);
    if prefix == 0 {
        return 0;
    }
    let keep = u128::MAX << (128 - prefix);
    (value << (128 - width)) & keep
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| {
                format!("{s:?} is not an address range (e.g. 192.168.1.0/24, 10.0.0.7, fd00::/8)")
            })?;
        let network = canonical(network);
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {width}"))?,
        };
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The `--allow-from` list. Empty: only loopback clients.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(Vec<Cidr>);

impl AllowList {
    /// A list of ranges.
    pub fn new(ranges: Vec<Cidr>) -> Self {
        AllowList(ranges)
    }

    /// Whether no range was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a client at `ip` may connect: loopback always, others when a range holds them.
    pub fn allows(&self, ip: IpAddr) -> bool {
        canonical(ip).is_loopback() || self.0.iter().any(|c| c.contains(ip))
    }

    /// The ranges, for the start line.
    pub fn ranges(&self) -> &[Cidr] {
        &self.0
    }
}

/// The reason recorded for a client outside the list.
pub const NOT_ALLOWED: &str = "refused: not in --allow-from";

/// Whether a server that cannot ask for credentials (a TrustKit report endpoint, a pin config
/// service) may listen on `listen`: on loopback always, elsewhere only with an allow-list. The
/// error names the flag. `what` names the command in the message.
pub fn check_server_listen(
    listen: SocketAddr,
    allow: &AllowList,
    what: &str,
) -> Result<(), String> {
    if canonical(listen.ip()).is_loopback() || !allow.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{listen} is not a loopback address: {what} on the LAN needs --allow-from CIDR (the \
         devices' range, e.g. 192.168.1.0/24); loopback clients are always allowed, and an \
         emulator reaches a loopback listener through `adb reverse tcp:PORT tcp:PORT`"
    ))
}

/// The reason recorded for a proxy request without the right credentials.
pub const AUTH_REQUIRED: &str = "proxy authentication required";

/// The proxy's `--auth` credentials. `Debug` and every message show the user name at most.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    user: String,
    /// `user:password`, the bytes a Basic header carries.
    expected: Vec<u8>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// `USER:PASS` (the password may hold `:`; neither part may be empty). The error never
    /// quotes the value.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim_end_matches(['\r', '\n']);
        let Some((user, pass)) = s.split_once(':') else {
            return Err("credentials must be USER:PASS".into());
        };
        if user.is_empty() || pass.is_empty() {
            return Err("credentials must be USER:PASS, with neither part empty".into());
        }
        if s.chars().any(char::is_control) {
            return Err("credentials must not hold control characters".into());
        }
        Ok(Credentials {
            user: user.to_string(),
            expected: s.as_bytes().to_vec(),
        })
    }

    /// The first line of an `--auth-file`.
    pub fn from_file_text(text: &str) -> Result<Self, String> {
        Self::parse(text.lines().next().unwrap_or(""))
    }

    /// The user name (for the banner).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// `USER:PASS`, for a scenario's `{proxy_auth}` (the client under test needs it). Never
    /// print it: [`Credentials::redact`] removes it from what a report shows.
    pub fn user_pass(&self) -> String {
        String::from_utf8_lossy(&self.expected).into_owned()
    }

    /// `text` with the password, `USER:PASS` and its Basic token (as `curl -v` prints the
    /// header) replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        use base64::Engine as _;
        let pair = self.user_pass();
        let token = base64::engine::general_purpose::STANDARD.encode(&self.expected);
        let pass = pair.split_once(':').map_or("", |(_, p)| p).to_string();
        let mut out = text
            .replace(&token, "***")
            .replace(&pair, &format!("{}:***", self.user));
        if !pass.is_empty() {
            out = out.replace(&pass, "***");
        }
        out
    }

    /// The `Proxy-Authorization` value that sends these credentials (`Basic` and the token),
    /// for a proxy that pin-proxy itself goes through (`--upstream-proxy`). Never print it.
    pub fn basic_header(&self) -> String {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(&self.expected)
        )
    }

    /// Whether a `Proxy-Authorization` value is `Basic` with these credentials. The decoded
    /// bytes are compared in constant time.
    pub fn check(&self, header: Option<&[u8]>) -> bool {
        let Some(value) = header.and_then(|h| std::str::from_utf8(h).ok()) else {
            return false;
        };
        let value = value.trim();
        let Some((scheme, token)) = value.split_once(' ') else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        use base64::Engine as _;
        let Ok(given) = base64::engine::general_purpose::STANDARD.decode(token.trim()) else {
            return false;
        };
        aws_lc_rs::constant_time::verify_slices_are_equal(&given, &self.expected).is_ok()
    }
}

impl Credentials {
    /// Whether a user name and password (SOCKS5's RFC 1929 message) are these credentials,
    /// compared in constant time.
    pub fn check_user_pass(&self, user: &[u8], pass: &[u8]) -> bool {
        // A user with `:` could shift the split; the configured one never has one.
        if user.contains(&b':') {
            return false;
        }
        let given = [user, b":", pass].concat();
        aws_lc_rs::constant_time::verify_slices_are_equal(&given, &self.expected).is_ok()
    }
}

/// Whether the proxy may listen on `listen`: on loopback always; elsewhere only with `--auth`
/// or `--allow-from` (or both). The error names both flags.
pub fn check_proxy_listen(listen: SocketAddr, auth: bool, allow: &AllowList) -> Result<(), String> {
    if canonical(listen.ip()).is_loopback() || auth || !allow.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{listen} is not a loopback address: an open proxy on the network would serve anyone who \
         reaches it. Give --auth USER:PASS (or --auth-file FILE, or PIN_PROXY_AUTH) and/or \
         --allow-from CIDR (the devices' range, e.g. 192.168.1.0/24). For an emulator or a USB \
         device, a loopback listener and `adb reverse tcp:PORT tcp:PORT` need neither"
    ))
}

/// Whether the transparent listener may listen on `listen`: on loopback always (an OUTPUT
/// redirect on the same machine); elsewhere only with `--allow-from`, since a redirected
/// connection cannot carry credentials.
pub fn check_transparent_listen(listen: SocketAddr, allow: &AllowList) -> Result<(), String> {
    if canonical(listen.ip()).is_loopback() || !allow.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{listen} is not a loopback address: redirected connections carry no credentials, so a \
         transparent listener on the network needs --allow-from CIDR (the range whose traffic \
         is redirected, e.g. 10.0.0.0/8)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn socks5_user_and_password_are_checked_whole() {
        let c = Credentials::parse("tester:pa:ss").expect("credentials");
        assert!(c.check_user_pass(b"tester", b"pa:ss"));
        assert!(!c.check_user_pass(b"tester", b"pa"));
        assert!(
            !c.check_user_pass(b"tester:pa", b"ss"),
            "the split cannot shift"
        );
        assert!(!c.check_user_pass(b"", b""));
    }

    #[test]
    fn a_transparent_listener_off_loopback_needs_an_allow_list() {
        let lan: SocketAddr = "0.0.0.0:8443".parse().expect("an address");
        assert!(check_transparent_listen(lan, &AllowList::default()).is_err());
        let allow = AllowList::new(vec!["10.0.0.0/8".parse().expect("a range")]);
        assert!(check_transparent_listen(lan, &allow).is_ok());
        let local: SocketAddr = "127.0.0.1:8443".parse().expect("an address");
        assert!(check_transparent_listen(local, &AllowList::default()).is_ok());
    }

    #[test]
    fn ranges_hold_what_they_should() {
        let lan: Cidr = "192.168.1.0/24".parse().expect("a range");
        assert!(lan.contains(ip("192.168.1.77")));
        assert!(!lan.contains(ip("192.168.2.1")));
        assert!(lan.contains(ip("::ffff:192.168.1.9")), "IPv4-mapped");
        let host: Cidr = "10.0.0.7".parse().expect("a host");
        assert!(host.contains(ip("10.0.0.7")) && !host.contains(ip("10.0.0.8")));
        let v6: Cidr = "fd00::/8".parse().expect("a v6 range");
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        let all: Cidr = "0.0.0.0/0".parse().expect("everything");
        assert!(all.contains(ip("8.8.8.8")) && !all.contains(ip("::2")));
        assert_eq!(lan.to_string(), "192.168.1.0/24");
        for bad in ["", "192.168.1.0/33", "nope", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_is_always_allowed_and_lan_needs_a_list() {
        let none = AllowList::default();
        assert!(none.allows(ip("127.0.0.1")) && none.allows(ip("::1")));
        assert!(!none.allows(ip("192.168.1.5")));
        let some = AllowList::new(vec!["192.168.1.0/24".parse().expect("a range")]);
        assert!(some.allows(ip("192.168.1.5")) && !some.allows(ip("10.1.1.1")));

        let lan: SocketAddr = "0.0.0.0:8765".parse().expect("an address");
        let local: SocketAddr = "127.0.0.1:8765".parse().expect("an address");
        assert!(check_server_listen(local, &none, "logs collect").is_ok());
        let err = check_server_listen(lan, &none, "logs collect").expect_err("refused");
        assert!(err.contains("--allow-from"), "{err}");
        assert!(check_server_listen(lan, &some, "logs collect").is_ok());
    }
}

#[cfg(test)]
mod credential_tests {
    use super::*;
    use base64::Engine as _;

    fn basic(s: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
        .into_bytes()
    }

    #[test]
    fn basic_credentials_are_checked_and_never_shown() {
        let c = Credentials::parse("tester:se:cret").expect("credentials");
        assert!(c.check(Some(&basic("tester:se:cret"))));
        assert!(c.check(Some(
            format!(
                "basic {}",
                base64::engine::general_purpose::STANDARD.encode("tester:se:cret")
            )
            .as_bytes()
        )));
        for wrong in ["tester:secret", "other:se:cret", "tester:se:cret2", ""] {
            assert!(!c.check(Some(&basic(wrong))), "{wrong}");
        }
        assert!(!c.check(None));
        assert!(!c.check(Some(b"Bearer abc")));
        assert!(!c.check(Some(b"Basic !!!")));
        assert!(!format!("{c:?}").contains("se:cret"));
        for bad in ["nocolon", ":pass", "user:", "us\u{7}er:p"] {
            let e = Credentials::parse(bad).expect_err("refused");
            assert!(!e.contains(bad) || bad.is_empty(), "{e}");
        }
        assert!(
            c.check(Some(c.basic_header().as_bytes())),
            "the header it sends it accepts"
        );
        assert_eq!(
            Credentials::from_file_text("a:b\nignored\n").map(|c| c.user().to_string()),
            Ok("a".into())
        );
    }

    #[test]
    fn an_open_lan_proxy_is_refused() {
        let lan: SocketAddr = "0.0.0.0:8080".parse().expect("an address");
        let err = check_proxy_listen(lan, false, &AllowList::default()).expect_err("refused");
        assert!(
            err.contains("--auth") && err.contains("--allow-from"),
            "{err}"
        );
        assert!(check_proxy_listen(lan, true, &AllowList::default()).is_ok());
        let some = AllowList::new(vec!["10.0.0.0/8".parse().expect("a range")]);
        assert!(check_proxy_listen(lan, false, &some).is_ok());
        assert!(check_proxy_listen(
            "[::1]:8080".parse().expect("v6"),
            false,
            &AllowList::default()
        )
        .is_ok());
    }
}
