//! Small text helpers the format parsers share: digests (base64 and hex, `sha256/` prefixes,
//! digests cut by line wrapping), host names from URLs and `host:port`, and words after a
//! phrase. Pure.

use base64::Engine as _;

use super::PinKind;

const B64: fn(u8) -> bool = |c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';

/// The text after `needle`, if the line holds it.
pub fn after<'a>(text: &'a str, needle: &str) -> Option<&'a str> {
    text.find(needle).map(|i| &text[i + needle.len()..])
}

/// The first word of `text` (up to whitespace), with trailing punctuation `.,;:)"'` removed.
pub fn word(text: &str) -> &str {
    let text = text.trim_start();
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    text[..end].trim_end_matches(['.', ',', ';', ':', ')', '"', '\'', '”', '’', ']'])
}

/// A base64 digest of `bytes` decoded bytes (32 for SHA-256, 20 for SHA-1), padding included.
pub fn is_b64_digest(s: &str) -> Option<PinKind> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    match bytes.len() {
        32 => Some(PinKind::SpkiSha256),
        20 => Some(PinKind::Sha1),
        _ => None,
    }
}

/// A run of base64 characters (with `=` padding) at the start of `s`.
pub fn b64_run(s: &str) -> &str {
    let b = s.as_bytes();
    let mut n = b.iter().take_while(|c| B64(**c)).count();
    n += b[n..].iter().take(2).take_while(|c| **c == b'=').count();
    &s[..n]
}

/// A pin as OkHttp, TrustKit-Android and most libraries print it: `sha256/<b64>` (the b64 may
/// itself start with `/`), `sha1/<b64>`, or bare base64. Returns the bare digest and its kind.
pub fn spki_pin(token: &str) -> Option<(String, PinKind)> {
    let token = token.trim().trim_matches(['"', '\'', ',', ';']);
    let (rest, kind) = if let Some(r) = token.strip_prefix("sha256/") {
        (r, PinKind::SpkiSha256)
    } else if let Some(r) = token.strip_prefix("sha1/") {
        (r, PinKind::Sha1)
    } else if let Some(r) = token.strip_prefix("pin-sha256=") {
        (r.trim_matches('"'), PinKind::SpkiSha256)
    } else {
        (token, PinKind::SpkiSha256)
    };
    let pin = b64_run(rest);
    if pin.len() < 4 {
        return None;
    }
    let kind = is_b64_digest(pin).unwrap_or(kind);
    Some((pin.to_string(), kind))
}

/// Hex digits with optional `:` or space separators → lowercase hex without separators, when it
/// is 40 (SHA-1) or 64 (SHA-256) digits long.
pub fn hex_digest(s: &str) -> Option<(String, PinKind)> {
    let hex: String = s
        .chars()
        .filter(|c| *c != ':' && *c != ' ')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    match hex.len() {
        64 => Some((hex, PinKind::CertSha256)),
        40 => Some((hex, PinKind::Sha1)),
        _ => None,
    }
}

/// Hex bytes (as NSData prints them) → base64.
pub fn hex_to_b64(hex: &str) -> Option<String> {
    let clean: Vec<u8> = hex.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if clean.len() % 2 != 0 || clean.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(clean.len() / 2);
    for pair in clean.chunks(2) {
        let s = std::str::from_utf8(pair).ok()?;
        out.push(u8::from_str_radix(s, 16).ok()?);
    }
    Some(base64::engine::general_purpose::STANDARD.encode(out))
}

/// `https://host:port/path` → host and port (the scheme's default when absent).
pub fn url_host(url: &str) -> Option<(String, Option<u16>)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let (host, port) = host_port(authority)?;
    let port = port.or(match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => Some(443),
        "http" | "ws" => Some(80),
        _ => None,
    });
    Some((host, port))
}

/// `host`, `host:port`, `[v6]:port` → host and port.
pub fn host_port(s: &str) -> Option<(String, Option<u16>)> {
    let s = s
        .trim()
        .trim_end_matches(['.', ',', ';', ':', ')', '"', '\'']);
    if let Some(rest) = s.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
        return Some((host.to_string(), port));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => {
            (h, p.parse().ok())
        }
        _ => (s, None),
    };
    is_host(host).then(|| (host.to_ascii_lowercase(), port))
}

/// A DNS name or an IP literal.
pub fn is_host(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes().all(|c| {
            c.is_ascii_alphanumeric()
                || c == b'.'
                || c == b'-'
                || c == b'*'
                || c == b'_'
                || c == b':'
        })
        && s.bytes()
            .any(|c| c.is_ascii_alphabetic() || c == b'.' || c == b':')
}

/// A line whose last word looks like a digest cut by wrapping: a base64 run of 8 to 43
/// characters with no padding, or a hex run of 8 to 63 digits, ending the line.
pub fn looks_cut(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() < 40 {
        return false;
    }
    let tail = b.iter().rev().take_while(|c| B64(**c)).count();
    (8..44).contains(&tail) && b.len() - tail > 0 && !text.ends_with(char::is_whitespace)
}

/// Joins a cut digest with the start of the next line when together they make a whole one.
pub fn join_cut(first: &str, next: &str) -> Option<String> {
    let b = first.as_bytes();
    let tail_len = b.iter().rev().take_while(|c| B64(**c)).count();
    let tail = &first[first.len() - tail_len..];
    let head = b64_run(next);
    if head.is_empty() {
        return None;
    }
    let joined = format!("{tail}{head}");
    let hex_len = joined
        .bytes()
        .all(|c| c.is_ascii_hexdigit())
        .then_some(joined.len());
    let whole = is_b64_digest(&joined).is_some()
        || (joined.starts_with("sha256/") && is_b64_digest(&joined[7..]).is_some())
        || matches!(hex_len, Some(64) | Some(40));
    // A base64 tail must also not already be a whole digest on its own.
    let tail_whole = is_b64_digest(tail).is_some();
    (whole && !tail_whole).then(|| format!("{first}{next}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_keep_a_leading_slash() {
        let (pin, kind) = spki_pin("sha256//ixgr6MMNrnKpNw7Z/QDrCB97il+b0DJnI7iUZ5L9Ms=").unwrap();
        assert_eq!(pin, "/ixgr6MMNrnKpNw7Z/QDrCB97il+b0DJnI7iUZ5L9Ms=");
        assert_eq!(kind, PinKind::SpkiSha256);
        assert_eq!(spki_pin("sha256/AAAA").unwrap().0, "AAAA");
        assert_eq!(
            spki_pin("sha1/AAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap().1,
            PinKind::Sha1
        );
    }

    #[test]
    fn hex_and_hosts() {
        let hex = "AB:".repeat(31) + "AB";
        assert_eq!(hex_digest(&hex).unwrap().0, "ab".repeat(32));
        assert_eq!(hex_to_b64("00 01").as_deref(), Some("AAE="));
        assert_eq!(
            url_host("https://api.example.com/v1?x=1"),
            Some(("api.example.com".into(), Some(443)))
        );
        assert_eq!(host_port("[::1]:8443"), Some(("::1".into(), Some(8443))));
        assert_eq!(
            host_port("api.example.com."),
            Some(("api.example.com".into(), None))
        );
    }

    #[test]
    fn a_wrapped_pin_is_joined_and_a_whole_one_is_not() {
        let pin = "/ixgr6MMNrnKpNw7Z/QDrCB97il+b0DJnI7iUZ5L9Ms=";
        let first = format!("      some text before the pin sha256/{}", &pin[..20]);
        assert!(looks_cut(&first));
        let joined = join_cut(&first, &format!("{}: CN=x", &pin[20..])).unwrap();
        assert!(joined.ends_with(&format!("{pin}: CN=x")));
        assert!(join_cut(&first, "Peer certificate chain:").is_none());
        assert!(!looks_cut("short"));
    }
}
