//! Distinguished names as people write and read them: RFC 4514 strings such as
//! `CN=Example Issuing CA 1,O=Example,C=US`, the form Java's `X500Principal.getName()` (and so
//! OkHttp's pinning failure text) and `openssl x509 -noout -subject -nameopt RFC2253` print.
//!
//! An RFC 4514 string lists the most significant RDN last, so the RDN sequence of a certificate
//! is the reverse of the string: `CN=a,O=b,C=US` is encoded C, then O, then CN, and prints back
//! as the same string. Pure: parsing, printing, comparing, and the rcgen form to encode.
//!
//! It knows the attribute types test chains need (CN, O, OU, C, ST, L), one RDN per attribute and
//! each type once (rcgen encodes a name as one single-valued RDN per attribute type). Anything
//! else (other types, OIDs, multi-valued RDNs with `+`, `#` hex values) is an error that says so.
//! It does not decode names from certificates (`x509-parser` does that).

use std::fmt;

/// An attribute type of a distinguished name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Attribute {
    /// `CN`, commonName (2.5.4.3).
    CommonName,
    /// `O`, organizationName (2.5.4.10).
    Organization,
    /// `OU`, organizationalUnitName (2.5.4.11).
    OrganizationalUnit,
    /// `C`, countryName (2.5.4.6): two letters, encoded as a PrintableString.
    Country,
    /// `ST`, stateOrProvinceName (2.5.4.8).
    State,
    /// `L`, localityName (2.5.4.7).
    Locality,
}

impl Attribute {
    /// Every attribute type, in the order the error messages list them.
    pub const ALL: [Attribute; 6] = [
        Attribute::CommonName,
        Attribute::Organization,
        Attribute::OrganizationalUnit,
        Attribute::Country,
        Attribute::State,
        Attribute::Locality,
    ];

    /// The keyword RFC 4514, Java and OpenSSL print (`CN`, `O`, ...).
    pub fn keyword(self) -> &'static str {
        match self {
            Attribute::CommonName => "CN",
            Attribute::Organization => "O",
            Attribute::OrganizationalUnit => "OU",
            Attribute::Country => "C",
            Attribute::State => "ST",
            Attribute::Locality => "L",
        }
    }

    fn from_keyword(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.keyword().eq_ignore_ascii_case(s))
    }

    fn rcgen(self) -> rcgen::DnType {
        match self {
            Attribute::CommonName => rcgen::DnType::CommonName,
            Attribute::Organization => rcgen::DnType::OrganizationName,
            Attribute::OrganizationalUnit => rcgen::DnType::OrganizationalUnitName,
            Attribute::Country => rcgen::DnType::CountryName,
            Attribute::State => rcgen::DnType::StateOrProvinceName,
            Attribute::Locality => rcgen::DnType::LocalityName,
        }
    }
}

/// A distinguished name, its attributes in the order of its RFC 4514 string (most specific
/// first, as `CN=leaf.example,O=Example` reads). Never empty; each attribute type at most once;
/// a country is two ASCII letters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistinguishedName {
    attributes: Vec<(Attribute, String)>,
}

impl DistinguishedName {
    /// Parses an RFC 4514 string: `CN=a,O=b,C=US`, also with spaces around `,` and `=`
    /// (`CN=a, O=b`), backslash escapes of the special characters (`\,`, `\+`, `\\`, `\"`, ...)
    /// and `\XX` hex pairs of UTF-8 bytes. The error says what is wrong, in one line.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Err("an empty name".to_string());
        }
        let mut attributes: Vec<(Attribute, String)> = Vec::new();
        for rdn in split_unescaped(s, ',')? {
            let (attribute, value) = rdn_pair(&rdn)?;
            if attributes.iter().any(|(a, _)| *a == attribute) {
                return Err(format!(
                    "{} is given twice: each attribute type can appear once",
                    attribute.keyword()
                ));
            }
            attributes.push((attribute, value));
        }
        Ok(Self { attributes })
    }

    /// The attributes of a logged name that a test certificate can carry: those of the types
    /// above, each type's first occurrence, in string order; `None` when none is left. For names
    /// read from logs (`logs reproduce`), where a name may repeat a type (two `OU`) or use others.
    pub fn parse_lenient(s: &str) -> Option<Self> {
        let mut attributes: Vec<(Attribute, String)> = Vec::new();
        for rdn in split_unescaped(s, ',').ok()? {
            let Ok((attribute, value)) = rdn_pair(&rdn) else {
                continue;
            };
            if !attributes.iter().any(|(a, _)| *a == attribute) {
                attributes.push((attribute, value));
            }
        }
        Self::from_attributes(attributes).ok()
    }

    /// A name of `(type, value)` attributes in string order (most specific first). Errors as
    /// [`DistinguishedName::parse`] does for what no string could hold.
    pub fn from_attributes(attributes: Vec<(Attribute, String)>) -> Result<Self, String> {
        let text = attributes
            .iter()
            .map(|(a, v)| format!("{}={}", a.keyword(), escape(v)))
            .collect::<Vec<_>>()
            .join(",");
        let parsed = Self::parse(&text)?;
        if parsed.attributes != attributes {
            return Err(format!("{text:?} does not read back as given"));
        }
        Ok(parsed)
    }

    /// The attributes, in string order (most specific first).
    pub fn attributes(&self) -> &[(Attribute, String)] {
        &self.attributes
    }

    /// The common name, if the name has one.
    pub fn common_name(&self) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(a, _)| *a == Attribute::CommonName)
            .map(|(_, v)| v.as_str())
    }

    /// Whether two names are the same name as a client comparing issuers would see them:
    /// the same attribute types in the same order, values equal ignoring case and runs of
    /// white space (RFC 5280 7.1, simplified).
    pub fn same_name(&self, other: &DistinguishedName) -> bool {
        let fold = |v: &str| {
            v.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        };
        self.attributes.len() == other.attributes.len()
            && self
                .attributes
                .iter()
                .zip(&other.attributes)
                .all(|((a, x), (b, y))| a == b && fold(x) == fold(y))
    }

    /// The name for rcgen to encode: the RDN sequence is the reverse of the string (the most
    /// significant RDN first), each attribute its own single-valued RDN. Values are UTF8Strings,
    /// a country a PrintableString.
    pub fn to_rcgen(&self) -> rcgen::DistinguishedName {
        let mut dn = rcgen::DistinguishedName::new();
        for (attribute, value) in self.attributes.iter().rev() {
            let value = match attribute {
                // Two ASCII letters, checked at parse time: always a PrintableString.
                Attribute::Country => rcgen::string::PrintableString::try_from(value.as_str())
                    .map_or_else(
                        |_| rcgen::DnValue::Utf8String(value.clone()),
                        rcgen::DnValue::PrintableString,
                    ),
                _ => rcgen::DnValue::Utf8String(value.clone()),
            };
            dn.push(attribute.rcgen(), value);
        }
        dn
    }
}

impl std::str::FromStr for DistinguishedName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

/// The RFC 4514 string, with no spaces after commas and the special characters escaped, as
/// Java's `X500Principal.getName()` prints it (OpenSSL's `-nameopt RFC2253` prints the same for
/// ASCII values, and escapes other bytes as `\XX`).
impl fmt::Display for DistinguishedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (attribute, value)) in self.attributes.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}={}", attribute.keyword(), escape(value))?;
        }
        Ok(())
    }
}

/// Splits at `sep` where it is not escaped by a backslash; the parts keep their escapes.
fn split_unescaped(s: &str, sep: char) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            part.push(c);
            match chars.next() {
                Some(next) => part.push(next),
                None => return Err("a trailing backslash escapes nothing".to_string()),
            }
        } else if c == sep {
            parts.push(std::mem::take(&mut part));
        } else {
            part.push(c);
        }
    }
    parts.push(part);
    Ok(parts)
}

/// `TYPE=value` (one RDN, escapes still in) → the attribute and its unescaped value.
fn rdn_pair(rdn: &str) -> Result<(Attribute, String), String> {
    let Some((keyword, raw)) = rdn.split_once('=') else {
        return Err(if rdn.trim().is_empty() {
            "an empty RDN (two commas in a row, or one at an end)".to_string()
        } else {
            format!("{:?} is not TYPE=value", rdn.trim())
        });
    };
    let keyword = keyword.trim();
    let attribute = Attribute::from_keyword(keyword).ok_or_else(|| {
        let known: Vec<&str> = Attribute::ALL.iter().map(|a| a.keyword()).collect();
        format!(
            "unknown attribute type {keyword:?} (known: {})",
            known.join(", ")
        )
    })?;
    let value = unescape(raw, attribute)?;
    if value.is_empty() {
        return Err(format!("{} has an empty value", attribute.keyword()));
    }
    if attribute == Attribute::Country
        && !(value.len() == 2 && value.chars().all(|c| c.is_ascii_alphabetic()))
    {
        return Err(format!(
            "C={value:?}: a country is two letters (ISO 3166, e.g. C=US)"
        ));
    }
    Ok((attribute, value))
}

/// The characters RFC 4514 lets a backslash escape (besides hex pairs).
const ESCAPABLE: &[char] = &[' ', '"', '#', '+', ',', ';', '<', '=', '>', '\\'];

/// A value as written (after `=`) → the value: outer unescaped spaces trimmed, escapes decoded.
fn unescape(raw: &str, attribute: Attribute) -> Result<String, String> {
    let key = attribute.keyword();
    let raw = raw.trim_start_matches(' ');
    if raw.starts_with('#') {
        return Err(format!(
            "{key}={raw}: hex-encoded (#...) values are not supported; write the text"
        ));
    }
    let mut bytes: Vec<u8> = Vec::new();
    // Where the value ends if trailing unescaped spaces are trimmed.
    let mut kept = 0;
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars.next().unwrap_or('\\');
                if next.is_ascii_hexdigit() {
                    let low = chars
                        .next()
                        .filter(char::is_ascii_hexdigit)
                        .ok_or_else(|| {
                            format!("{key}: \\{next} starts a hex pair (\\XX) but is not one")
                        })?;
                    let pair = format!("{next}{low}");
                    let byte = u8::from_str_radix(&pair, 16)
                        .map_err(|_| format!("{key}: \\{pair} is not a hex pair"))?;
                    bytes.push(byte);
                } else if ESCAPABLE.contains(&next) {
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(next.encode_utf8(&mut buf).as_bytes());
                } else {
                    return Err(format!(
                        "{key}: \\{next} is not an escape (escape one of {} or write \\XX)",
                        ESCAPABLE.iter().collect::<String>().trim()
                    ));
                }
                kept = bytes.len();
            }
            '+' => {
                return Err(format!(
                    "{key}: multi-valued RDNs (+) are not supported; write a literal + as \\+"
                ))
            }
            ';' => {
                return Err(format!(
                    "{key}: separate RDNs with commas; write a literal ; as \\;"
                ))
            }
            '"' => return Err(format!("{key}: write a literal \" as \\\"")),
            c if c.is_control() => {
                return Err(format!(
                    "{key}: a control character {c:?}; write it as \\XX"
                ))
            }
            c => {
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                if c != ' ' {
                    kept = bytes.len();
                }
            }
        }
    }
    bytes.truncate(kept);
    String::from_utf8(bytes).map_err(|_| format!("{key}: the \\XX bytes are not UTF-8"))
}

/// A value as RFC 4514 writes it: `"+,;<>\` escaped everywhere, a leading `#` or space and a
/// trailing space escaped, control characters as `\XX`.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dn(s: &str) -> DistinguishedName {
        DistinguishedName::parse(s).unwrap()
    }

    #[test]
    fn parses_java_and_openssl_forms_and_prints_the_canonical_one() {
        let d = dn("CN=Example Issuing CA 1, O=Example,C=US");
        assert_eq!(
            d.attributes(),
            [
                (Attribute::CommonName, "Example Issuing CA 1".to_string()),
                (Attribute::Organization, "Example".to_string()),
                (Attribute::Country, "US".to_string()),
            ]
        );
        assert_eq!(d.to_string(), "CN=Example Issuing CA 1,O=Example,C=US");
        assert_eq!(d.common_name(), Some("Example Issuing CA 1"));
        for canonical in [
            "CN=leaf.example,O=Example",
            r"CN=Acme\, Inc. Root,OU=Certs \+ Keys,O=Acme\; Corp,L=Z\\rich,ST=Zug,C=CH",
            r"CN=\#1 CA,O=\ padded\ ",
            "CN=Café,O=Ex=ample",
        ] {
            assert_eq!(dn(canonical).to_string(), canonical);
        }
        assert_eq!(
            dn(r"cn = a\2Cb , o=\C3\A9").attributes(),
            [
                (Attribute::CommonName, "a,b".to_string()),
                (Attribute::Organization, "é".to_string()),
            ]
        );
        let built = DistinguishedName::from_attributes(vec![
            (Attribute::CommonName, "a, b".into()),
            (Attribute::Organization, " x".into()),
        ])
        .unwrap();
        assert_eq!(built.to_string(), r"CN=a\, b,O=\ x");
    }

    #[test]
    fn what_it_cannot_encode_is_an_error_saying_so() {
        for (s, want) in [
            ("", "empty name"),
            ("CN=a,,O=b", "empty RDN"),
            ("CN=a,", "empty RDN"),
            ("CN", "not TYPE=value"),
            (
                "CN=a,E=x@y",
                "unknown attribute type \"E\" (known: CN, O, OU, C, ST, L)",
            ),
            ("2.5.4.3=a", "unknown attribute type \"2.5.4.3\""),
            ("CN=a+O=b", "multi-valued RDNs"),
            ("CN=a;O=b", "separate RDNs with commas"),
            ("CN=#0403616263", "hex-encoded"),
            ("CN=", "CN has an empty value"),
            ("CN=a,C=USA", "a country is two letters"),
            ("OU=a,OU=b", "OU is given twice"),
            (r"CN=a\q", r"\q is not an escape"),
            (r"CN=a\4", "hex pair"),
            (r"CN=a\FF", "not UTF-8"),
            ("CN=a\\", "trailing backslash"),
            ("CN=\"a\"", "literal \""),
        ] {
            let e = DistinguishedName::parse(s).unwrap_err();
            assert!(e.contains(want), "{s:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn same_name_ignores_case_and_spacing_but_not_order() {
        assert!(dn("CN=Example  Root,O=Example").same_name(&dn("cn=example root, o=EXAMPLE")));
        assert!(!dn("CN=Example Root,O=Example").same_name(&dn("O=Example,CN=Example Root")));
        assert!(!dn("CN=Example Root").same_name(&dn("CN=Example Root,O=Example")));
    }

    #[test]
    fn the_certificate_lists_the_rdns_in_reverse() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = dn("CN=Example Root,O=Example,C=US").to_rcgen();
        let cert = params.self_signed(&key).unwrap();
        let (_, x) = x509_parser::parse_x509_certificate(cert.der()).unwrap();
        let order: Vec<String> = x
            .subject()
            .iter_attributes()
            .map(|a| {
                let tag = a.attr_value().header.tag();
                format!("{} {tag:?} {}", a.attr_type(), a.as_str().unwrap())
            })
            .collect();
        assert_eq!(
            order,
            [
                "2.5.4.6 Tag(19) US",
                "2.5.4.10 Tag(12) Example",
                "2.5.4.3 Tag(12) Example Root",
            ],
            "C (a PrintableString) first, CN (UTF8String) last"
        );
    }
}
