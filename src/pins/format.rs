//! Each platform's spelling of a pin set: OkHttp, curl, Android network security config, iOS
//! `NSPinnedDomains`, TrustKit, and pin-proxy's own listing (table) and JSON. Pure: a [`Shown`]
//! in, the text and any warnings about it out.

use serde::Serialize;

use super::input::{Item, Kind};

/// Which output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Every certificate and key: position, subject, issuer, not-after, key type, pin.
    #[default]
    Table,
    /// OkHttp `CertificatePinner.Builder().add(...)` lines (Kotlin).
    Okhttp,
    /// curl's `--pinnedpubkey` value: `sha256//a;sha256//b`.
    Curl,
    /// A complete Android `network_security_config.xml` with a `<pin-set>`.
    AndroidNsc,
    /// An iOS `Info.plist` `NSAppTransportSecurity` / `NSPinnedDomains` entry.
    IosPlist,
    /// A TrustKit `TSKConfiguration` (`kTSKPublicKeyHashes`) for Info.plist.
    Trustkit,
    /// One JSON object (documented in the README).
    Json,
}

impl Format {
    /// Whether it is an app config (needs a host) rather than a listing.
    pub fn is_config(self) -> bool {
        !matches!(self, Format::Table | Format::Json)
    }
}

/// Where iOS pins go: `NSPinnedLeafIdentities`, `NSPinnedCAIdentities`, or both (then App
/// Transport Security requires a match in each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum IosIdentities {
    /// The leaf's key must be one of the pins.
    Leaf,
    /// A CA certificate of the chain must be one of the pins.
    Ca,
    /// Both lists: a match is required in each.
    Both,
}

/// A live chain's connection, as the listing shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Connection {
    /// `HOST:PORT` connected to.
    pub connect: String,
    /// The server name sent (SNI) and checked.
    pub sni: String,
    /// Through this proxy, if any.
    pub proxy: Option<String>,
    /// The TLS version, when the handshake completed.
    pub tls_version: Option<String>,
    /// Whether trust evaluation accepted the chain (system roots and `--ca`).
    pub trusted: bool,
    /// Why not, when it did not.
    pub trust_failure: Option<String>,
    /// The verified path's pins, leaf first, when trusted (the last may be a root the server did
    /// not send).
    pub verified_path: Vec<PathCert>,
}

/// One certificate of a verified path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PathCert {
    /// 0 is the leaf.
    pub position: usize,
    /// Subject distinguished name.
    pub subject: String,
    /// SPKI SHA-256 pin.
    pub pin: String,
    /// `sent` or `trust_store`.
    pub source: String,
}

/// Everything one `pins show` prints.
#[derive(Clone, Debug, Default)]
pub struct Shown {
    /// The domain of the config formats.
    pub host: String,
    /// Each input's name and summary ("PEM, 3 certificates").
    pub inputs: Vec<(String, String)>,
    /// The certificates and keys, in input order.
    pub items: Vec<Item>,
    /// Backup keys (`--backup`): pins not in use yet.
    pub backups: Vec<Item>,
    /// Android pin-set expiration (`YYYY-MM-DD`), if any.
    pub expiration: Option<String>,
    /// Whether configs cover subdomains too.
    pub include_subdomains: bool,
    /// Where iOS pins go.
    pub ios: Option<IosIdentities>,
    /// Also show whole-certificate SHA-256 (`--hash cert`).
    pub cert_hash: bool,
    /// The live connection, for `--connect`.
    pub connection: Option<Connection>,
    /// The clock, Unix seconds (for "expires in N days").
    pub now: i64,
}

/// One pin of a config, with what it is.
struct Entry<'a> {
    pin: &'a str,
    comment: String,
    backup: bool,
    ca: bool,
}

impl Shown {
    /// The config's pins: each distinct pin once, items first, then backups.
    fn entries(&self) -> Vec<Entry<'_>> {
        let mut out: Vec<Entry<'_>> = Vec::new();
        for (item, backup) in self
            .items
            .iter()
            .map(|i| (i, false))
            .chain(self.backups.iter().map(|i| (i, true)))
        {
            if out.iter().any(|e| e.pin == item.pin) {
                continue;
            }
            out.push(Entry {
                pin: &item.pin,
                comment: comment(item, backup),
                backup,
                ca: item.acts_as_ca(),
            });
        }
        out
    }

    /// The default iOS list: leaf unless every pin is a CA certificate's.
    fn ios_identities(&self) -> IosIdentities {
        self.ios.unwrap_or_else(|| {
            if self.entries().iter().all(|e| e.ca) {
                IosIdentities::Ca
            } else {
                IosIdentities::Leaf
            }
        })
    }
}

fn comment(item: &Item, backup: bool) -> String {
    let what = match &item.cert {
        Some(c) => format!(
            "{}: {} {}, expires {}",
            c.subject,
            if c.is_ca {
                "CA certificate"
            } else {
                "certificate"
            },
            item.position,
            c.not_after.get(..10).unwrap_or(&c.not_after)
        ),
        None => item.label(),
    };
    if backup {
        format!("backup, not in use yet: {what}")
    } else {
        what
    }
}

/// The text of `format`, and warnings about it (for stderr).
pub fn render(shown: &Shown, format: Format) -> (String, Vec<String>) {
    let mut warnings = Vec::new();
    if format.is_config() {
        if shown.backups.is_empty() {
            warnings.push(
                "no backup pin: ship a spare key's pin too (pin-proxy pins backup, then --backup \
                 FILE) so that rotating the server's key does not take the app dark"
                    .to_string(),
            );
        }
        if shown.items.iter().any(|i| i.kind == Kind::PrivateKey) {
            warnings.push(
                "a private key was among the inputs: only its public half's pin is printed; keep \
                 the key itself out of the app"
                    .to_string(),
            );
        }
    }
    let text = match format {
        Format::Table => table(shown),
        Format::Json => json(shown),
        Format::Okhttp => okhttp(shown),
        Format::Curl => {
            if shown.items.iter().any(Item::acts_as_ca) {
                warnings.push(
                    "curl --pinnedpubkey matches the leaf's key only: the CA certificates' pins \
                     in this value never match"
                        .to_string(),
                );
            }
            curl(shown)
        }
        Format::AndroidNsc => android_nsc(shown),
        Format::IosPlist => {
            let ids = shown.ios_identities();
            let entries = shown.entries();
            let (leaf, ca) = ios_split(&entries, ids);
            if ids == IosIdentities::Both {
                warnings.push(
                    "iOS requires a match in NSPinnedLeafIdentities and in NSPinnedCAIdentities \
                     when both are present; --ios-identities leaf or ca makes a one-list set"
                        .to_string(),
                );
            }
            let dropped = entries.len() - leaf.len() - ca.len();
            if dropped > 0 {
                warnings.push(format!(
                    "{dropped} pin(s) left out: they do not belong in the {} list \
                     (--ios-identities chooses)",
                    if ids == IosIdentities::Ca {
                        "CA"
                    } else {
                        "leaf"
                    }
                ));
            }
            ios_plist(shown, &leaf, &ca)
        }
        Format::Trustkit => {
            let n = shown.entries().len();
            if n < 2 {
                warnings.push(format!(
                    "TrustKit refuses a domain with fewer than 2 pins when enforcing (this set has \
                     {n}): add a backup pin (--backup FILE)"
                ));
            }
            trustkit(shown)
        }
    };
    (text, warnings)
}

fn days(item: &Item, now: i64) -> String {
    let Some(c) = &item.cert else {
        return String::new();
    };
    let d = (c.not_after_unix - now).div_euclid(86_400);
    if c.not_after_unix < now {
        format!(" (expired {} day(s) ago)", -d)
    } else {
        format!(" (in {d} day(s))")
    }
}

fn table(shown: &Shown) -> String {
    let mut out = String::new();
    if let Some(c) = &shown.connection {
        let mut how = vec![format!("SNI {}", c.sni)];
        if let Some(v) = &c.tls_version {
            how.push(v.clone());
        }
        if let Some(p) = &c.proxy {
            how.push(format!("through the proxy {p}"));
        }
        out.push_str(&format!(
            "{} presented {} certificate(s) ({})\n",
            c.connect,
            shown.items.len(),
            how.join(", ")
        ));
        if c.trusted {
            let path: Vec<String> = c
                .verified_path
                .iter()
                .map(|p| {
                    if p.source == "trust_store" {
                        format!("{} (trust store)", p.subject)
                    } else {
                        p.subject.clone()
                    }
                })
                .collect();
            out.push_str(&format!("trust: verified: {}\n", path.join(" <- ")));
        } else {
            out.push_str(&format!(
                "trust: NOT verified: {} (the chain is shown all the same)\n",
                c.trust_failure.as_deref().unwrap_or("refused")
            ));
        }
    } else {
        for (source, summary) in &shown.inputs {
            out.push_str(&format!("{source}: {summary}\n"));
        }
    }
    let mut block = |item: &Item, backup: bool| {
        out.push('\n');
        let head = if backup {
            format!("backup {}", item.kind.name())
        } else {
            item.kind.name().to_string()
        };
        match &item.cert {
            Some(c) => {
                out.push_str(&format!("[{}] {head}  {}\n", item.position, c.subject));
                out.push_str(&format!("    issuer      {}\n", c.issuer));
                out.push_str(&format!(
                    "    not after   {}{}\n",
                    c.not_after,
                    days(item, shown.now)
                ));
                if c.is_ca {
                    out.push_str("    CA          yes\n");
                }
                if !c.dns_names.is_empty() {
                    out.push_str(&format!("    names       {}\n", c.dns_names.join(", ")));
                }
            }
            None => out.push_str(&format!(
                "[{}] {head}  {} ({}, {})\n",
                item.position,
                item.source,
                item.structure.name(),
                item.encoding.to_uppercase()
            )),
        }
        out.push_str(&format!("    key         {}\n", item.key_type));
        out.push_str(&format!("    pin         {}\n", item.pin));
        if shown.cert_hash {
            if let Some(c) = &item.cert {
                out.push_str(&format!("    cert sha256 {}\n", c.sha256_base64));
                out.push_str(&format!("    cert hex    {}\n", c.sha256_hex));
            }
        }
    };
    for item in &shown.items {
        block(item, false);
    }
    for item in &shown.backups {
        block(item, true);
    }
    out
}

/// The JSON object: schema 1.
#[derive(Serialize)]
struct JsonOut<'a> {
    schema: u32,
    host: &'a str,
    inputs: Vec<JsonInput<'a>>,
    items: &'a [Item],
    backups: &'a [Item],
    connection: Option<&'a Connection>,
}

#[derive(Serialize)]
struct JsonInput<'a> {
    source: &'a str,
    summary: &'a str,
}

fn json(shown: &Shown) -> String {
    let out = JsonOut {
        schema: 1,
        host: &shown.host,
        inputs: shown
            .inputs
            .iter()
            .map(|(source, summary)| JsonInput { source, summary })
            .collect(),
        items: &shown.items,
        backups: &shown.backups,
        connection: shown.connection.as_ref(),
    };
    let mut text =
        serde_json::to_string_pretty(&out).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    text.push('\n');
    text
}

/// A Kotlin string literal's content.
fn kotlin_str(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('$', "\\$")
}

fn okhttp(shown: &Shown) -> String {
    let host = kotlin_str(&shown.host);
    let mut out = format!(
        "// OkHttp CertificatePinner for {}: a match on any certificate of the verified chain passes.\n\
         val certificatePinner = CertificatePinner.Builder()\n",
        one_line(&shown.host)
    );
    for e in shown.entries() {
        out.push_str(&format!(
            "    .add(\"{host}\", \"sha256/{}\") // {}\n",
            e.pin,
            one_line(&e.comment)
        ));
    }
    out.push_str("    .build()\n");
    out
}

fn curl(shown: &Shown) -> String {
    let pins: Vec<String> = shown
        .entries()
        .iter()
        .map(|e| format!("sha256//{}", e.pin))
        .collect();
    format!("{}\n", pins.join(";"))
}

/// Text with no line breaks (for a `//` comment).
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// XML text content.
fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An XML comment's content: no `--`, no trailing `-`.
fn xml_comment(s: &str) -> String {
    let mut c = one_line(s);
    while c.contains("--") {
        c = c.replace("--", "- -");
    }
    if c.ends_with('-') {
        c.push(' ');
    }
    c
}

fn android_nsc(shown: &Shown) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <!-- res/xml/network_security_config.xml, named by the manifest's <application\n     \
         android:networkSecurityConfig=\"@xml/network_security_config\">. A match on any\n     \
         certificate of the verified chain passes; after the expiration date pinning is off. -->\n\
         <network-security-config>\n    <domain-config>\n",
    );
    out.push_str(&format!(
        "        <domain includeSubdomains=\"{}\">{}</domain>\n",
        shown.include_subdomains,
        xml_text(&shown.host)
    ));
    match &shown.expiration {
        Some(date) => out.push_str(&format!(
            "        <pin-set expiration=\"{}\">\n",
            xml_text(date)
        )),
        None => out.push_str("        <pin-set>\n"),
    }
    for e in shown.entries() {
        out.push_str(&format!(
            "            <!-- {} -->\n            <pin digest=\"SHA-256\">{}</pin>\n",
            xml_comment(&e.comment),
            e.pin
        ));
    }
    out.push_str("        </pin-set>\n    </domain-config>\n</network-security-config>\n");
    out
}

fn ios_split<'a, 'b>(
    entries: &'b [Entry<'a>],
    ids: IosIdentities,
) -> (Vec<&'b Entry<'a>>, Vec<&'b Entry<'a>>) {
    // A backup key is a spare for whichever list the set is: it goes where the others go.
    let leaf = entries
        .iter()
        .filter(|e| match ids {
            IosIdentities::Leaf => !e.ca,
            IosIdentities::Ca => false,
            IosIdentities::Both => !e.ca && !e.backup,
        })
        .collect();
    let ca = entries
        .iter()
        .filter(|e| match ids {
            IosIdentities::Leaf => false,
            IosIdentities::Ca => e.ca || e.backup,
            IosIdentities::Both => e.ca || e.backup,
        })
        .collect();
    (leaf, ca)
}

const PLIST_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
<plist version=\"1.0\">\n<dict>\n";

fn plist_bool(b: bool) -> &'static str {
    if b {
        "<true/>"
    } else {
        "<false/>"
    }
}

fn ios_plist(shown: &Shown, leaf: &[&Entry<'_>], ca: &[&Entry<'_>]) -> String {
    let mut out = String::from(PLIST_HEAD);
    out.push_str(
        "\t<!-- Merge into the app's Info.plist (iOS 14+). App Transport Security blocks the\n\t     \
         connection unless a pin below matches. -->\n",
    );
    out.push_str("\t<key>NSAppTransportSecurity</key>\n\t<dict>\n\t\t<key>NSPinnedDomains</key>\n\t\t<dict>\n");
    out.push_str(&format!(
        "\t\t\t<key>{}</key>\n\t\t\t<dict>\n\t\t\t\t<key>NSIncludesSubdomains</key>\n\t\t\t\t{}\n",
        xml_text(&shown.host),
        plist_bool(shown.include_subdomains)
    ));
    for (key, list) in [
        ("NSPinnedLeafIdentities", leaf),
        ("NSPinnedCAIdentities", ca),
    ] {
        if list.is_empty() {
            continue;
        }
        out.push_str(&format!("\t\t\t\t<key>{key}</key>\n\t\t\t\t<array>\n"));
        for e in list {
            out.push_str(&format!(
                "\t\t\t\t\t<!-- {} -->\n\t\t\t\t\t<dict>\n\t\t\t\t\t\t<key>SPKI-SHA256-BASE64</key>\n\t\t\t\t\t\t<string>{}</string>\n\t\t\t\t\t</dict>\n",
                xml_comment(&e.comment),
                e.pin
            ));
        }
        out.push_str("\t\t\t\t</array>\n");
    }
    out.push_str("\t\t\t</dict>\n\t\t</dict>\n\t</dict>\n</dict>\n</plist>\n");
    out
}

fn trustkit(shown: &Shown) -> String {
    let mut out = String::from(PLIST_HEAD);
    out.push_str(
        "\t<!-- TrustKit reads TSKConfiguration from Info.plist; in code the same keys are\n\t     \
         kTSKPinnedDomains, kTSKEnforcePinning, kTSKIncludeSubdomains, kTSKPublicKeyHashes. -->\n",
    );
    out.push_str(
        "\t<key>TSKConfiguration</key>\n\t<dict>\n\t\t<key>TSKPinnedDomains</key>\n\t\t<dict>\n",
    );
    out.push_str(&format!(
        "\t\t\t<key>{}</key>\n\t\t\t<dict>\n\t\t\t\t<key>TSKEnforcePinning</key>\n\t\t\t\t<true/>\n\t\t\t\t<key>TSKIncludeSubdomains</key>\n\t\t\t\t{}\n\t\t\t\t<key>TSKPublicKeyHashes</key>\n\t\t\t\t<array>\n",
        xml_text(&shown.host),
        plist_bool(shown.include_subdomains)
    ));
    for e in shown.entries() {
        out.push_str(&format!(
            "\t\t\t\t\t<!-- {} -->\n\t\t\t\t\t<string>{}</string>\n",
            xml_comment(&e.comment),
            e.pin
        ));
    }
    out.push_str("\t\t\t\t</array>\n\t\t\t</dict>\n\t\t</dict>\n\t</dict>\n</dict>\n</plist>\n");
    out
}

/// The host a config is for when `--host` is not given: the first DNS name of the first
/// certificate that is not a CA (of any certificate, for a self-signed one with names), else
/// that certificate's common name.
pub fn default_host(items: &[Item]) -> Option<String> {
    let certs: Vec<&Item> = items
        .iter()
        .filter(|i| i.kind == Kind::Certificate)
        .collect();
    let named = |i: &&&Item| i.cert.as_ref().is_some_and(|c| !c.dns_names.is_empty());
    let pick = certs
        .iter()
        .filter(|i| !i.acts_as_ca())
        .find(named)
        .or_else(|| certs.iter().find(named))
        .or_else(|| certs.iter().find(|i| !i.acts_as_ca()))?;
    let cert = pick.cert.as_ref()?;
    cert.dns_names.first().cloned().or_else(|| {
        cert.subject
            .split(", ")
            .find_map(|rdn| rdn.strip_prefix("CN="))
            .map(str::to_string)
    })
}

/// The Android expiration default: the earliest end of validity among the pinned certificates
/// (`YYYY-MM-DD`); none when only keys are pinned.
pub fn default_expiration(items: &[Item]) -> Option<String> {
    items
        .iter()
        .filter_map(|i| i.cert.as_ref())
        .min_by_key(|c| c.not_after_unix)
        .and_then(|c| c.not_after.get(..10).map(str::to_string))
}

/// Every spelling of one pin, for `pins backup`.
pub fn every_spelling(pin: &str, host: &str) -> Vec<(&'static str, String)> {
    vec![
        ("pin (SPKI SHA-256, base64)", pin.to_string()),
        (
            "okhttp",
            format!(".add(\"{}\", \"sha256/{pin}\")", kotlin_str(host)),
        ),
        ("curl", format!("sha256//{pin}")),
        (
            "android-nsc",
            format!("<pin digest=\"SHA-256\">{pin}</pin>"),
        ),
        (
            "ios-plist",
            format!("<dict><key>SPKI-SHA256-BASE64</key><string>{pin}</string></dict>"),
        ),
        ("trustkit", format!("<string>{pin}</string>")),
        ("json", format!("{{\"pin\":\"{pin}\"}}")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pins::input::{CertDetail, Structure};

    fn item(pin: &str, ca: bool, position: usize) -> Item {
        Item {
            source: "chain.pem".into(),
            position,
            kind: Kind::Certificate,
            structure: Structure::X509,
            encoding: "pem",
            line: Some(1),
            key_type: "ECDSA P-256".into(),
            pin: pin.into(),
            cert: Some(CertDetail {
                subject: if ca {
                    "CN=Int -- CA".into()
                } else {
                    "CN=api.example.test".into()
                },
                issuer: "CN=Int".into(),
                not_before: "2026-01-01T00:00:00Z".into(),
                not_after: if ca {
                    "2030-01-01T00:00:00Z".into()
                } else {
                    "2027-01-01T00:00:00Z".into()
                },
                not_after_unix: if ca { 1_893_456_000 } else { 1_798_761_600 },
                is_ca: ca,
                dns_names: if ca {
                    vec![]
                } else {
                    vec!["api.example.test".into()]
                },
                sha256_base64: "c2hh".into(),
                sha256_hex: "abcd".into(),
            }),
        }
    }

    fn shown() -> Shown {
        Shown {
            host: "api.example.test".into(),
            items: vec![item("LEAF=", false, 0), item("INT=", true, 1)],
            expiration: default_expiration(&[item("LEAF=", false, 0), item("INT=", true, 1)]),
            ..Shown::default()
        }
    }

    #[test]
    fn config_formats_carry_every_pin_once_with_the_host() {
        let mut s = shown();
        s.items.push(item("LEAF=", false, 2));
        let (curl, w) = render(&s, Format::Curl);
        assert_eq!(curl, "sha256//LEAF=;sha256//INT=\n");
        assert!(w.iter().any(|w| w.contains("leaf's key only")));
        assert!(w.iter().any(|w| w.starts_with("no backup pin")));
        let (ok, _) = render(&s, Format::Okhttp);
        assert_eq!(
            ok.matches(".add(\"api.example.test\", \"sha256/").count(),
            2
        );
        let (nsc, _) = render(&s, Format::AndroidNsc);
        assert!(nsc.contains("<pin-set expiration=\"2027-01-01\">"));
        assert!(nsc.contains("<!-- CN=Int - - CA"), "{nsc}");
        let (tk, w) = render(&s, Format::Trustkit);
        assert_eq!(tk.matches("<string>").count(), 2);
        assert!(!w.iter().any(|w| w.contains("fewer than 2")));
    }

    #[test]
    fn ios_lists_follow_the_certificates_role() {
        let s = shown();
        let (plist, w) = render(&s, Format::IosPlist);
        assert!(
            plist.contains("NSPinnedLeafIdentities") && !plist.contains("NSPinnedCAIdentities")
        );
        assert!(
            w.iter().any(|w| w.starts_with("1 pin(s) left out")),
            "{w:?}"
        );
        let mut ca = s.clone();
        ca.ios = Some(IosIdentities::Ca);
        let (plist, _) = render(&ca, Format::IosPlist);
        assert!(plist.contains("NSPinnedCAIdentities") && plist.contains("INT="));
        assert!(!plist.contains("LEAF="));
        let mut both = s.clone();
        both.ios = Some(IosIdentities::Both);
        let (plist, w) = render(&both, Format::IosPlist);
        assert!(plist.contains("NSPinnedCAIdentities") && plist.contains("NSPinnedLeafIdentities"));
        assert!(w
            .iter()
            .any(|w| w.contains("a match in NSPinnedLeafIdentities and")));
    }

    #[test]
    fn trustkit_warns_below_two_pins_and_backups_count() {
        let mut s = shown();
        s.items.truncate(1);
        let (_, w) = render(&s, Format::Trustkit);
        assert!(w.iter().any(|w| w.contains("fewer than 2 pins")));
        let mut backup = item("SPARE=", false, 0);
        backup.kind = Kind::PrivateKey;
        backup.cert = None;
        s.backups.push(backup);
        let (tk, w) = render(&s, Format::Trustkit);
        assert!(w.is_empty(), "{w:?}");
        assert!(tk.contains("backup, not in use yet"));
    }

    #[test]
    fn defaults_from_the_leaf() {
        let s = shown();
        assert_eq!(default_host(&s.items).as_deref(), Some("api.example.test"));
        assert_eq!(default_host(&s.items[1..]), None);
        assert_eq!(s.expiration.as_deref(), Some("2027-01-01"));
    }

    #[test]
    fn hostile_text_is_escaped() {
        assert_eq!(xml_text("a<b>&\""), "a&lt;b&gt;&amp;&quot;");
        assert_eq!(xml_comment("x---y-"), "x- - -y- ");
        assert_eq!(kotlin_str("a\"$b"), "a\\\"\\$b");
    }
}
