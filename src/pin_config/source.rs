//! The source of a signed pin config: the TOML file an operator writes and `pin-config sign`
//! reads.
//!
//! ```toml
//! version = 3                      # a positive integer; never reused for other content
//! valid_for = "7d"                 # or: expires = 2027-01-01T00:00:00Z (exactly one of the two)
//! [hosts."api.example.test"]
//! pins = ["<b64>", "sha256/<b64>"] # SPKI SHA-256 pins (bare, sha256/ or sha256// spelling)
//! certificates = ["certs/api.pem"] # PEM (or DER) files, relative to this file
//! include_subdomains = false
//! ```
//!
//! This module owns that format: parsing, validation, and reading the certificate files it
//! names (each certificate gives its SPKI pin and its whole-certificate SHA-256). Unknown keys
//! are errors, and every error is one line, `FILE:LINE: FIELD: message`, as an
//! [`Error::Input`] (exit 2):
//! `pins.toml:4: hosts."api.example.test".pins[0]: "abc" is not a base64 SHA-256 pin`.
//!
//! Unlike the scenario and rules parsers, which derive serde types, this one walks toml's
//! spanned document ([`toml::de::DeTable`], the same [`Spanned`] values serde gets): with
//! derived types a wrong type or an unknown key comes back as toml's message without the field
//! it is about, and every error here must name its field.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::{quote_key, Payload, PinSet};
use crate::error::{Error, Result};
use crate::pins;
use crate::rules::file::{line_of, one_line};

/// A parsed, validated source file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The file as errors name it (the path given).
    pub file: String,
    /// The content version (positive).
    pub version: u64,
    /// How long a config signed from it is valid.
    pub expiry: Expiry,
    /// The hosts, lower-cased, by name (at least one).
    pub hosts: BTreeMap<String, HostPins>,
}

/// When a config signed from a source expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// `valid_for`: this long after signing (whole seconds, at least one).
    ValidFor(Duration),
    /// `expires`: at this instant, Unix seconds (the past is allowed, for rehearsals).
    At(u64),
}

/// One host's pins, as the source gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPins {
    /// SPKI SHA-256 pins, base64: those of `pins`, then those of every certificate, without
    /// repeats (at least one).
    pub pins: Vec<String>,
    /// The SHA-256 of every certificate (its whole DER), base64, without repeats.
    pub cert_hashes: Vec<String>,
    /// Whether the pins also apply to names below the host.
    pub include_subdomains: bool,
    /// The certificates read from `certificates`, in order.
    pub certificates: Vec<Certificate>,
    /// The line of the host's table, for errors about it.
    pub line: usize,
}

/// A certificate read from a `certificates` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    /// The file it was read from (resolved against the source's directory).
    pub file: PathBuf,
    /// The source line that names the file.
    pub line: usize,
    /// Its position in the file, from 0 (0 is the leaf in a chain file).
    pub position: usize,
    /// The subject's common name, if it has one.
    pub common_name: Option<String>,
    /// The end of its validity, Unix seconds (0 if before 1970).
    pub not_after: u64,
    /// Its SPKI SHA-256 pin, base64.
    pub spki_pin: String,
    /// The SHA-256 of its DER, base64 (what Wultra calls the fingerprint).
    pub cert_hash: String,
}

impl Source {
    /// When a config signed at `now` expires, Unix seconds.
    pub fn expires_at(&self, now: u64) -> u64 {
        match self.expiry {
            Expiry::ValidFor(d) => now.saturating_add(d.as_secs()),
            Expiry::At(at) => at,
        }
    }

    /// The payload a config signed at `now` carries: `issued_at = now`, `expires_at` from the
    /// expiry, and every host with its SPKI pins.
    pub fn payload(&self, now: u64) -> Payload {
        Payload {
            version: self.version,
            issued_at: now,
            expires_at: self.expires_at(now),
            hosts: self
                .hosts
                .iter()
                .map(|(host, h)| {
                    (
                        host.clone(),
                        PinSet {
                            pins: h.pins.clone(),
                            include_subdomains: h.include_subdomains,
                        },
                    )
                })
                .collect(),
        }
    }
}

/// A TOML date-time with an offset (`2027-01-01T00:00:00Z`) as Unix seconds; the error in
/// words (no offset, out of range, before 1970).
pub(crate) fn datetime_unix(dt: &toml::value::Datetime) -> std::result::Result<u64, String> {
    let (Some(date), Some(t), Some(offset)) = (dt.date, dt.time, dt.offset) else {
        return Err(format!(
            "{dt} has no UTC offset: write it as 2027-01-01T00:00:00Z (or +02:00)"
        ));
    };
    let minutes = match offset {
        toml::value::Offset::Z => 0,
        toml::value::Offset::Custom { minutes } => i32::from(minutes),
    };
    let convert = || -> std::result::Result<i64, time::error::ComponentRange> {
        let month = time::Month::try_from(date.month)?;
        let date = time::Date::from_calendar_date(i32::from(date.year), month, date.day)?;
        let t = time::Time::from_hms(t.hour, t.minute, t.second.unwrap_or(0))?;
        let offset = time::UtcOffset::from_whole_seconds(minutes * 60)?;
        Ok(time::PrimitiveDateTime::new(date, t)
            .assume_offset(offset)
            .unix_timestamp())
    };
    let unix = convert().map_err(|e| format!("{dt}: {e}"))?;
    u64::try_from(unix).map_err(|_| format!("{dt} is before 1970"))
}

/// Reads and parses a source file.
pub fn read(path: &Path) -> Result<Source> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::file(path, "read the pin config source", e))?;
    parse(path, &text)
}

/// Parses source `text`. `path` names the file in errors, and certificate files are read
/// relative to its directory.
pub fn parse(path: &Path, text: &str) -> Result<Source> {
    let file = path.display().to_string();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let doc = DeTable::parse(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(text, s.start));
        Error::input(format!("{file}:{line}"), one_line(e.message()))
    })?;
    Parser {
        file: &file,
        text,
        dir: &dir,
    }
    .source(doc.into_inner())
}

/// A host name as sources and payloads write it: lower-case, no trailing dot, letters, digits,
/// `-`, `_` and dots between non-empty labels, no wildcard.
pub fn normalize_host(host: &str) -> std::result::Result<String, String> {
    let lower = host.to_ascii_lowercase();
    if lower.starts_with("*.") {
        return Err(
            "a leading *. is not allowed: pin the parent host with include_subdomains = true"
                .into(),
        );
    }
    if lower.is_empty() || lower.len() > 253 {
        return Err(format!("{host:?} is not a host name (1 to 253 characters)"));
    }
    if let Some(bad) = lower
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(format!(
            "{host:?} is not a host name ({bad:?} cannot appear in one)"
        ));
    }
    if lower.split('.').any(|l| l.is_empty() || l.len() > 63) {
        return Err(format!(
            "{host:?} is not a host name (empty label, or one over 63 characters)"
        ));
    }
    Ok(lower)
}

struct Parser<'a> {
    file: &'a str,
    text: &'a str,
    dir: &'a Path,
}

type Value<'i> = Spanned<DeValue<'i>>;

impl Parser<'_> {
    fn err(&self, span: Range<usize>, field: &str, message: impl std::fmt::Display) -> Error {
        Error::input(
            format!("{}:{}", self.file, line_of(self.text, span.start)),
            one_line(&format!("{field}: {message}")),
        )
    }

    fn source(&self, doc: DeTable<'_>) -> Result<Source> {
        let mut version = None;
        let mut valid_for: Option<(Duration, Range<usize>)> = None;
        let mut expires: Option<(u64, Range<usize>)> = None;
        let mut hosts = None;
        for (key, value) in doc {
            let span = value.span();
            match key.get_ref().as_ref() {
                "version" => version = Some(self.version(&value)?),
                "valid_for" => valid_for = Some((self.valid_for(&value)?, span)),
                "expires" => expires = Some((self.expires(&value)?, span)),
                "hosts" => hosts = Some(self.hosts(value)?),
                other => {
                    return Err(self.err(
                        key.span(),
                        other,
                        "unknown key (expected version, valid_for, expires or hosts)",
                    ))
                }
            }
        }
        let version =
            version.ok_or_else(|| self.err(0..0, "version", "missing (a positive integer)"))?;
        let expiry = match (valid_for, expires) {
            (Some((d, _)), None) => Expiry::ValidFor(d),
            (None, Some((at, _))) => Expiry::At(at),
            (Some((_, a)), Some((_, b))) => {
                let second = a.start.max(b.start);
                return Err(self.err(
                    second..second,
                    if a.start > b.start {
                        "valid_for"
                    } else {
                        "expires"
                    },
                    "give valid_for or expires, not both",
                ));
            }
            (None, None) => {
                return Err(self.err(
                    0..0,
                    "valid_for",
                    "missing: give valid_for = \"7d\" or expires = 2027-01-01T00:00:00Z",
                ))
            }
        };
        let hosts = hosts.ok_or_else(|| {
            self.err(
                0..0,
                "hosts",
                "no hosts (add a [hosts.\"api.example.test\"] table)",
            )
        })?;
        Ok(Source {
            file: self.file.to_string(),
            version,
            expiry,
            hosts,
        })
    }

    fn version(&self, value: &Value<'_>) -> Result<u64> {
        match value.get_ref() {
            DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| {
                    self.err(
                        value.span(),
                        "version",
                        format!("{i} is not a positive integer"),
                    )
                }),
            other => Err(self.err(
                value.span(),
                "version",
                format!("expected a positive integer, found {}", kind(other)),
            )),
        }
    }

    fn valid_for(&self, value: &Value<'_>) -> Result<Duration> {
        let DeValue::String(s) = value.get_ref() else {
            return Err(self.err(
                value.span(),
                "valid_for",
                format!(
                    "expected a duration such as \"7d\", found {}",
                    kind(value.get_ref())
                ),
            ));
        };
        let d = crate::duration::parse(s).map_err(|e| self.err(value.span(), "valid_for", e))?;
        if d.as_secs() == 0 {
            return Err(self.err(value.span(), "valid_for", "must be at least 1s"));
        }
        Ok(Duration::from_secs(d.as_secs()))
    }

    fn expires(&self, value: &Value<'_>) -> Result<u64> {
        let err = |m: String| self.err(value.span(), "expires", m);
        let DeValue::Datetime(dt) = value.get_ref() else {
            return Err(err(format!(
                "expected a TOML date-time such as 2027-01-01T00:00:00Z, found {}",
                kind(value.get_ref())
            )));
        };
        datetime_unix(dt).map_err(err)
    }

    fn hosts(&self, value: Value<'_>) -> Result<BTreeMap<String, HostPins>> {
        let span = value.span();
        let DeValue::Table(table) = value.into_inner() else {
            return Err(self.err(
                span,
                "hosts",
                "expected a table of hosts ([hosts.\"api.example.test\"])",
            ));
        };
        let mut hosts: BTreeMap<String, HostPins> = BTreeMap::new();
        for (key, value) in table {
            let field = format!("hosts.{}", quote_key(key.get_ref()));
            let host =
                normalize_host(key.get_ref()).map_err(|e| self.err(key.span(), &field, e))?;
            let line = line_of(self.text, key.span().start);
            if let Some(first) = hosts.get(&host) {
                return Err(self.err(
                    key.span(),
                    &field,
                    format!("the same host as line {} ({host})", first.line),
                ));
            }
            let pins = self.host(&field, line, value)?;
            hosts.insert(host, pins);
        }
        if hosts.is_empty() {
            return Err(self.err(
                span,
                "hosts",
                "no hosts (add a [hosts.\"api.example.test\"] table)",
            ));
        }
        Ok(hosts)
    }

    fn host(&self, field: &str, line: usize, value: Value<'_>) -> Result<HostPins> {
        let span = value.span();
        let DeValue::Table(table) = value.into_inner() else {
            return Err(self.err(
                span,
                field,
                "expected a table with pins, certificates and include_subdomains",
            ));
        };
        let mut host = HostPins {
            pins: Vec::new(),
            cert_hashes: Vec::new(),
            include_subdomains: false,
            certificates: Vec::new(),
            line,
        };
        for (key, value) in table {
            let name = key.get_ref().as_ref();
            let sub = format!("{field}.{name}");
            match name {
                "pins" => {
                    for (i, item) in self.strings(&sub, &value)? {
                        let pin = pins::parse_pin(item.get_ref()).ok_or_else(|| {
                            self.err(
                                item.span(),
                                &format!("{sub}[{i}]"),
                                format!("{:?} is not a base64 SHA-256 pin", item.get_ref()),
                            )
                        })?;
                        push_new(&mut host.pins, pin);
                    }
                }
                "certificates" => {
                    for (i, item) in self.strings(&sub, &value)? {
                        let certs = self.certificates(&format!("{sub}[{i}]"), &item)?;
                        host.certificates.extend(certs);
                    }
                }
                "include_subdomains" => match value.get_ref() {
                    DeValue::Boolean(b) => host.include_subdomains = *b,
                    other => {
                        return Err(self.err(
                            value.span(),
                            &sub,
                            format!("expected true or false, found {}", kind(other)),
                        ))
                    }
                },
                _ => {
                    return Err(self.err(
                        key.span(),
                        &sub,
                        "unknown key (expected pins, certificates or include_subdomains)",
                    ))
                }
            }
        }
        for cert in &host.certificates {
            push_new(&mut host.pins, &cert.spki_pin);
            push_new(&mut host.cert_hashes, &cert.cert_hash);
        }
        if host.pins.is_empty() {
            return Err(self.err(
                span,
                field,
                "no pins: give pins = [...] or certificates = [...]",
            ));
        }
        Ok(host)
    }

    /// The items of an array of strings, with their positions.
    fn strings<'v, 'i>(
        &self,
        field: &str,
        value: &'v Value<'i>,
    ) -> Result<Vec<(usize, Spanned<&'v str>)>> {
        let DeValue::Array(items) = value.get_ref() else {
            return Err(self.err(
                value.span(),
                field,
                format!(
                    "expected an array of strings, found {}",
                    kind(value.get_ref())
                ),
            ));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item.get_ref() {
                DeValue::String(s) => Ok((i, Spanned::new(item.span(), s.as_ref()))),
                other => Err(self.err(
                    item.span(),
                    &format!("{field}[{i}]"),
                    format!("expected a string, found {}", kind(other)),
                )),
            })
            .collect()
    }

    fn certificates(&self, field: &str, item: &Spanned<&str>) -> Result<Vec<Certificate>> {
        let err = |m: String| self.err(item.span(), field, m);
        let path = self.dir.join(item.get_ref());
        let shown = path.display();
        let bytes = std::fs::read(&path).map_err(|e| err(format!("cannot read {shown}: {e}")))?;
        let ders = if bytes.first() == Some(&0x30) {
            vec![rustls::pki_types::CertificateDer::from(bytes)]
        } else {
            pins::pem_certs(&bytes).map_err(|e| err(format!("{shown}: {e}")))?
        };
        let line = line_of(self.text, item.span().start);
        ders.iter()
            .enumerate()
            .map(|(position, der)| {
                let (_, x509) = x509_parser::parse_x509_certificate(der).map_err(|e| {
                    err(format!(
                        "{shown}: certificate {position} is not an X.509 certificate: {e}"
                    ))
                })?;
                let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
                let common_name = x509
                    .subject()
                    .iter_common_name()
                    .next()
                    .and_then(|cn| cn.as_str().ok())
                    .map(str::to_string);
                Ok(Certificate {
                    file: path.clone(),
                    line,
                    position,
                    common_name,
                    not_after: u64::try_from(x509.validity().not_after.timestamp()).unwrap_or(0),
                    spki_pin: pins::spki_pin(x509.tbs_certificate.subject_pki.raw),
                    cert_hash: base64::engine::general_purpose::STANDARD.encode(digest.as_ref()),
                })
            })
            .collect()
    }
}

fn push_new(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|p| p == item) {
        list.push(item.to_string());
    }
}

/// A TOML value's kind, for "expected X, found Y".
fn kind(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIN_A: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    const PIN_B: &str = "/7DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

    fn parse_str(text: &str) -> Result<Source> {
        parse(Path::new("pins.toml"), text)
    }

    fn error(text: &str) -> String {
        let err = parse_str(text).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::exit::INVALID_INPUT, "{err}");
        let s = err.to_string();
        assert!(!s.contains('\n'), "{s}");
        s
    }

    /// A self-signed certificate for `cn`, written as PEM into `dir/name`.
    pub(crate) fn write_cert(dir: &Path, name: &str, cn: &str) -> (String, String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![cn.to_string()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join(name), cert.pem()).unwrap();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert.der());
        (
            pins::cert_pin(cert.der()).unwrap(),
            base64::engine::general_purpose::STANDARD.encode(digest.as_ref()),
            cert.pem(),
        )
    }

    #[test]
    fn a_good_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("certs")).unwrap();
        let (spki, hash, _) = write_cert(&dir.path().join("certs"), "api.pem", "api.example.test");
        let text = format!(
            "version = 3\nvalid_for = \"7d\"\n\n[hosts.\"API.example.test\"]\npins = [\"sha256/{PIN_A}\", \"sha256//{PIN_B}\", \"{PIN_A}\"]\ncertificates = [\"certs/api.pem\"]\n\n[hosts.\"cdn.example.test\"]\npins = [\"{PIN_B}\"]\ninclude_subdomains = true\n"
        );
        let source = parse(&dir.path().join("pins.toml"), &text).unwrap();
        assert_eq!(source.version, 3);
        assert_eq!(
            source.expiry,
            Expiry::ValidFor(Duration::from_secs(7 * 86_400))
        );
        let api = &source.hosts["api.example.test"];
        assert_eq!(
            api.pins,
            vec![PIN_A.to_string(), PIN_B.into(), spki.clone()]
        );
        assert_eq!(api.cert_hashes, vec![hash]);
        assert_eq!(api.line, 4);
        assert!(!api.include_subdomains);
        assert_eq!(api.certificates.len(), 1);
        assert_eq!(
            api.certificates[0].common_name.as_deref(),
            Some("api.example.test")
        );
        assert_eq!(api.certificates[0].line, 6);
        assert!(source.hosts["cdn.example.test"].include_subdomains);

        let payload = source.payload(1_000);
        assert_eq!(
            (payload.issued_at, payload.expires_at),
            (1_000, 1_000 + 7 * 86_400)
        );
        assert_eq!(payload.hosts["api.example.test"].pins, api.pins);
        assert!(payload.hosts["cdn.example.test"].include_subdomains);
        assert_eq!(payload.check(), Ok(()));

        // A fixed expiry, in the past (a rehearsal), with an offset.
        let text = format!(
            "version = 1\nexpires = 2020-01-01T02:00:00+02:00\n[hosts.\"a.test\"]\npins = [\"{PIN_A}\"]\n"
        );
        let source = parse_str(&text).unwrap();
        assert_eq!(source.expiry, Expiry::At(1_577_836_800));
        let payload = source.payload(1_700_000_000);
        assert_eq!(
            (payload.issued_at, payload.expires_at),
            (1_700_000_000, 1_577_836_800)
        );
    }

    #[test]
    fn every_error_is_one_line_with_file_line_and_field() {
        let host = "[hosts.\"api.example.test\"]";
        let cases: Vec<(String, &str)> = vec![
            (
                format!("version = 3\nvalid_for = \"7d\"\n{host}\npins = [\"abc\"]\n"),
                "pins.toml:4: hosts.\"api.example.test\".pins[0]: \"abc\" is not a base64 SHA-256 pin",
            ),
            (
                format!("version = 3\nvalid_for = \"7d\"\n{host}\npins = [\n  \"{PIN_A}\",\n  \"nope\",\n]\n"),
                "pins.toml:6: hosts.\"api.example.test\".pins[1]: \"nope\" is not",
            ),
            (
                format!("version = 0\nvalid_for = \"7d\"\n{host}\npins = [\"{PIN_A}\"]\n"),
                "pins.toml:1: version: 0 is not a positive integer",
            ),
            (
                format!("version = \"3\"\nvalid_for = \"7d\"\n{host}\npins = [\"{PIN_A}\"]\n"),
                "pins.toml:1: version: expected a positive integer, found a string",
            ),
            (
                format!("version = 3\nvalid_for = \"7 days\"\n{host}\npins = [\"{PIN_A}\"]\n"),
                "pins.toml:2: valid_for: ",
            ),
            (
                format!("version = 3\nvalid_for = \"400d\"\n{host}\npins = [\"{PIN_A}\"]\n"),
                "pins.toml:2: valid_for: \"400d\" is out of range",
            ),
            (
                format!("version = 3\nvalid_for = \"7d\"\nexpires = 2027-01-01T00:00:00Z\n{host}\npins = [\"{PIN_A}\"]\n"),
                "pins.toml:3: expires: give valid_for or expires, not both",
            ),
            (
                format!("version = 3\n{host}\npins = [\"{PIN_A}\"]\n"),
                "pins.toml:1: valid_for: missing",
            ),
            (
                format!("version = 3\nexpires = 2027-01-01T00:00:00\n{host}\npins = [\"{PIN_A}\"]\n"),
                "pins.toml:2: expires: 2027-01-01T00:00:00 has no UTC offset",
            ),
            (
                format!("valid_for = \"7d\"\n{host}\npins = [\"{PIN_A}\"]\n"),
                "pins.toml:1: version: missing",
            ),
            ("version = 3\nvalid_for = \"7d\"\n".to_string(), "pins.toml:1: hosts: no hosts"),
            (
                format!("version = 3\nvalid_for = \"7d\"\ncolour = 1\n{host}\npins = [\"{PIN_A}\"]\n"),
                "pins.toml:3: colour: unknown key",
            ),
            (
                format!("version = 3\nvalid_for = \"7d\"\n{host}\npins = [\"{PIN_A}\"]\npinz = []\n"),
                "pins.toml:5: hosts.\"api.example.test\".pinz: unknown key",
            ),
            (
                format!("version = 3\nvalid_for = \"7d\"\n{host}\ninclude_subdomains = true\n"),
                "pins.toml:3: hosts.\"api.example.test\": no pins",
            ),
            (
                format!("version = 3\nvalid_for = \"7d\"\n{host}\npins = \"{PIN_A}\"\n"),
                "pins.toml:4: hosts.\"api.example.test\".pins: expected an array of strings, found a string",
            ),
            (
                format!("version = 3\nvalid_for = \"7d\"\n{host}\npins = [\"{PIN_A}\"]\ninclude_subdomains = \"yes\"\n"),
                "pins.toml:5: hosts.\"api.example.test\".include_subdomains: expected true or false",
            ),
            (
                format!("version = 3\nvalid_for = \"7d\"\n[hosts.\"*.example.test\"]\npins = [\"{PIN_A}\"]\n"),
                "pins.toml:3: hosts.\"*.example.test\": a leading *. is not allowed",
            ),
            (
                format!("version = 3\nvalid_for = \"7d\"\n[hosts.\"a b.test\"]\npins = [\"{PIN_A}\"]\n"),
                "pins.toml:3: hosts.\"a b.test\": \"a b.test\" is not a host name",
            ),
            (
                format!("version = 3\nvalid_for = \"7d\"\n[hosts.\"A.test\"]\npins = [\"{PIN_A}\"]\n[hosts.\"a.test\"]\npins = [\"{PIN_A}\"]\n"),
                "pins.toml:5: hosts.\"a.test\": the same host as line 3",
            ),
            (
                format!("version = 3\nvalid_for = \"7d\"\n{host}\ncertificates = [\"missing.pem\"]\n"),
                "pins.toml:4: hosts.\"api.example.test\".certificates[0]: cannot read ./missing.pem",
            ),
            ("version = 3\nvalid_for = \n".to_string(), "pins.toml:2: "),
        ];
        for (text, want) in cases {
            let got = error(&text);
            assert!(
                got.starts_with(want),
                "\n got: {got}\nwant: {want}...\n{text}"
            );
        }
    }

    #[test]
    fn a_certificate_file_that_is_not_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("junk.pem"), "not pem").unwrap();
        let text =
            "version = 1\nvalid_for = \"1h\"\n[hosts.\"a.test\"]\ncertificates = [\"junk.pem\"]\n";
        let err = parse(&dir.path().join("pins.toml"), text)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pins.toml:4: hosts.\"a.test\".certificates[0]: "),
            "{err}"
        );
        assert!(
            err.contains("junk.pem: no CERTIFICATE block found"),
            "{err}"
        );
    }
}
