//! What a device on the network is told at the proxy's start: every address it can use (each
//! non-loopback interface address with the port, for a wildcard listener), the install page's
//! URL on each, and a QR code of one of them, for the phone's camera. The QR code points at the
//! page served directly on the listen address, so it works before the device uses the proxy.
//! Pure: the interfaces are an argument (the CLI reads them).

use std::net::{IpAddr, SocketAddr};

use qrcode::render::unicode::Dense1x2;
use qrcode::QrCode;

/// An interface address, as the system lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// `eth0`, `wlan0`, `docker0`, ...
    pub name: String,
    /// One of its addresses.
    pub ip: IpAddr,
}

/// Interface names that are seldom what a phone reaches: containers, VMs, VPNs.
const VIRTUAL: [&str; 17] = [
    "docker",
    "br-",
    "veth",
    "virbr",
    "vmnet",
    "vboxnet",
    "tun",
    "tap",
    "wg",
    "utun",
    "tailscale",
    "zt",
    "lxc",
    "lxd",
    "cni",
    "flannel",
    "cali",
];

/// The addresses a device can use for a proxy listening on `listen`: for a wildcard address,
/// every non-loopback, non-link-local address of the family (IPv6 wildcard: both), physical
/// interfaces first; for a specific address, that address. Loopback gives none.
pub fn device_addresses(listen: SocketAddr, interfaces: &[Interface]) -> Vec<(String, SocketAddr)> {
    let ip = listen.ip();
    if ip.is_loopback() {
        return Vec::new();
    }
    if !ip.is_unspecified() {
        let name = interfaces
            .iter()
            .find(|i| i.ip == ip)
            .map_or_else(String::new, |i| i.name.clone());
        return vec![(name, listen)];
    }
    let mut out: Vec<(String, SocketAddr)> = interfaces
        .iter()
        .filter(|i| !i.ip.is_loopback() && !link_local(i.ip))
        .filter(|i| ip.is_ipv6() || i.ip.is_ipv4())
        .map(|i| (i.name.clone(), SocketAddr::new(i.ip, listen.port())))
        .collect();
    out.sort_by_key(|(name, addr)| (is_virtual(name), addr.is_ipv6()));
    out.dedup();
    out
}

fn link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// Whether an interface name looks like a container, VM or VPN interface.
pub fn is_virtual(name: &str) -> bool {
    VIRTUAL.iter().any(|v| name.starts_with(v))
}

/// The address the QR code shows: `wanted` (`--qr-address`), which must be one of `addrs`, or
/// else the first (physical interfaces come first).
pub fn qr_choice(
    addrs: &[(String, SocketAddr)],
    wanted: Option<IpAddr>,
) -> Result<Option<SocketAddr>, String> {
    match wanted {
        Some(ip) => addrs
            .iter()
            .find(|(_, a)| a.ip() == ip)
            .map(|(_, a)| Some(*a))
            .ok_or_else(|| {
                let known: Vec<String> = addrs.iter().map(|(_, a)| a.ip().to_string()).collect();
                format!(
                    "--qr-address {ip} is not an address this proxy can be reached on ({})",
                    if known.is_empty() {
                        "none: it listens on loopback".to_string()
                    } else {
                        known.join(", ")
                    }
                )
            }),
        None => Ok(addrs.first().map(|(_, a)| *a)),
    }
}

/// The install page served directly on `addr`: `http://192.168.1.5:8080/`.
pub fn install_url(addr: SocketAddr) -> String {
    format!("http://{addr}/")
}

/// A QR code of `text` in Unicode half blocks, light modules drawn (for a dark terminal),
/// with its quiet zone.
pub fn qr_code(text: &str) -> Result<String, String> {
    let code = QrCode::new(text.as_bytes()).map_err(|e| format!("cannot make a QR code: {e}"))?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str, ip: &str) -> Interface {
        Interface {
            name: name.into(),
            ip: ip.parse().unwrap_or_else(|_| unreachable!()),
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn a_wildcard_lists_the_reachable_addresses_physical_first() {
        let ifs = [
            iface("lo", "127.0.0.1"),
            iface("docker0", "172.17.0.1"),
            iface("wlan0", "192.168.1.5"),
            iface("wlan0", "fe80::1"),
            iface("wlan0", "2001:db8::5"),
        ];
        let v4 = device_addresses(addr("0.0.0.0:8080"), &ifs);
        let names: Vec<String> = v4.iter().map(|(n, a)| format!("{n} {a}")).collect();
        assert_eq!(names, ["wlan0 192.168.1.5:8080", "docker0 172.17.0.1:8080"]);
        let all = device_addresses(addr("[::]:8080"), &ifs);
        assert_eq!(all.len(), 3, "{all:?}");
        assert!(device_addresses(addr("127.0.0.1:8080"), &ifs).is_empty());
        let one = device_addresses(addr("192.168.1.5:8080"), &ifs);
        assert_eq!(one, [("wlan0".to_string(), addr("192.168.1.5:8080"))]);
    }

    #[test]
    fn the_qr_address_is_chosen_or_refused() {
        let addrs = vec![
            ("wlan0".to_string(), addr("192.168.1.5:8080")),
            ("docker0".to_string(), addr("172.17.0.1:8080")),
        ];
        assert_eq!(qr_choice(&addrs, None), Ok(Some(addr("192.168.1.5:8080"))));
        let docker = "172.17.0.1".parse().ok();
        assert_eq!(qr_choice(&addrs, docker), Ok(Some(addr("172.17.0.1:8080"))));
        let other = "10.0.0.1".parse().ok();
        assert!(qr_choice(&addrs, other).is_err_and(|e| e.contains("192.168.1.5")));
        assert_eq!(
            install_url(addr("[2001:db8::5]:8080")),
            "http://[2001:db8::5]:8080/"
        );
        let code = qr_code("http://192.168.1.5:8080/").unwrap_or_default();
        assert!(code.contains('█') && code.lines().count() > 10);
    }
}
