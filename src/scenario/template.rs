//! Client command templates: `{placeholder}` substitution with the per-case values, and the one
//! table of placeholders (each also passed as a `PIN_PROXY_*` environment variable).
//!
//! Pure: parsing checks every name when the scenario file is read, so a typo is an input error
//! naming the file and line, never a surprise at run time.

use std::collections::BTreeMap;
use std::fmt;

/// A value the runner hands to the client under test, per case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Placeholder {
    /// `127.0.0.1:PORT`, the proxy for this case.
    Proxy,
    /// `http://127.0.0.1:PORT`.
    ProxyUrl,
    /// The proxy's IP address.
    ProxyHost,
    /// The proxy's port.
    ProxyPort,
    /// `https://HOST/pin-proxy/CASE`, what the client should fetch.
    Url,
    /// The origin's host name.
    Host,
    /// The origin's port (443).
    Port,
    /// The path part of the URL.
    Path,
    /// PEM file: the proxy CA and every origin root (what a device with the CA installed trusts).
    TrustBundle,
    /// PEM file: the proxy CA alone.
    CaCert,
    /// The pins, base64, comma-separated.
    Pins,
    /// The pins as curl's `--pinnedpubkey` wants them: `sha256//A;sha256//B`.
    PinsCurl,
    /// The pins as OkHttp spells them: `sha256/A,sha256/B`.
    PinsOkhttp,
    /// The host the pins belong to (differs from `host` in a missing-pin case).
    PinnedHost,
    /// The case name.
    Case,
    /// The suite name.
    Suite,
    /// The directory of the scenario file (for client scripts kept beside it).
    SuiteDir,
    /// A scratch directory for this case, removed after the run.
    WorkDir,
    /// The path of the running pin-proxy binary (to drive `pin-proxy client` where it is not on
    /// PATH).
    Bin,
    /// The URL of the case's signed pin config (`http://HOST/pins`), with `[pin_config]`.
    PinsUrl,
    /// PEM file: the public key the pin configs are signed with, with `[pin_config]`.
    PinsKey,
    /// `USER:PASS` of `[proxy] auth` (empty without it, so an argv group with it vanishes);
    /// reports show it redacted.
    ProxyAuth,
}

impl Placeholder {
    /// Every placeholder, in the order the README's table lists them.
    pub const ALL: [Placeholder; 22] = [
        Placeholder::Proxy,
        Placeholder::ProxyUrl,
        Placeholder::ProxyHost,
        Placeholder::ProxyPort,
        Placeholder::Url,
        Placeholder::Host,
        Placeholder::Port,
        Placeholder::Path,
        Placeholder::TrustBundle,
        Placeholder::CaCert,
        Placeholder::Pins,
        Placeholder::PinsCurl,
        Placeholder::PinsOkhttp,
        Placeholder::PinnedHost,
        Placeholder::Case,
        Placeholder::Suite,
        Placeholder::SuiteDir,
        Placeholder::WorkDir,
        Placeholder::Bin,
        Placeholder::PinsUrl,
        Placeholder::PinsKey,
        Placeholder::ProxyAuth,
    ];

    /// The name written between braces.
    pub fn name(self) -> &'static str {
        match self {
            Placeholder::Proxy => "proxy",
            Placeholder::ProxyUrl => "proxy_url",
            Placeholder::ProxyHost => "proxy_host",
            Placeholder::ProxyPort => "proxy_port",
            Placeholder::Url => "url",
            Placeholder::Host => "host",
            Placeholder::Port => "port",
            Placeholder::Path => "path",
            Placeholder::TrustBundle => "trust_bundle",
            Placeholder::CaCert => "ca_cert",
            Placeholder::Pins => "pins",
            Placeholder::PinsCurl => "pins_curl",
            Placeholder::PinsOkhttp => "pins_okhttp",
            Placeholder::PinnedHost => "pinned_host",
            Placeholder::Case => "case",
            Placeholder::Suite => "suite",
            Placeholder::SuiteDir => "suite_dir",
            Placeholder::WorkDir => "work_dir",
            Placeholder::Bin => "bin",
            Placeholder::PinsUrl => "pins_url",
            Placeholder::PinsKey => "pins_key",
            Placeholder::ProxyAuth => "proxy_auth",
        }
    }

    /// The environment variable with the same value, e.g. `PIN_PROXY_TRUST_BUNDLE`.
    pub fn env(self) -> String {
        format!("PIN_PROXY_{}", self.name().to_ascii_uppercase())
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// The values of one case.
pub type Values = BTreeMap<Placeholder, String>;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Value(Placeholder),
}

/// A string with `{placeholder}`s; `{{` and `}}` are literal braces, and a shell's `${...}` is
/// left as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`, checking every placeholder name.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                // `${...}` is the shell's: copied as written, nested braces included.
                '$' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                    literal.push('$');
                    let mut depth = 0usize;
                    for (_, c) in chars.by_ref() {
                        literal.push(c);
                        match c {
                            '{' => depth += 1,
                            '}' => depth -= 1,
                            _ => {}
                        }
                        if depth == 0 {
                            break;
                        }
                    }
                    if depth != 0 {
                        return Err(format!("unclosed '${{' in {text:?}"));
                    }
                }
                '{' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|&(_, c)| c) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let rest = &text[at + 1..];
                    let Some(end) = rest.find('}') else {
                        return Err(format!(
                            "unclosed '{{' in {text:?} (write '{{{{' for a literal brace)"
                        ));
                    };
                    let name = &rest[..end];
                    let value = Placeholder::from_name(name).ok_or_else(|| {
                        let known: Vec<&str> = Placeholder::ALL.iter().map(|p| p.name()).collect();
                        format!(
                            "unknown placeholder {{{}}} (known: {})",
                            name.escape_debug(),
                            known.join(", ")
                        )
                    })?;
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Value(value));
                    for _ in 0..=name.chars().count() {
                        chars.next();
                    }
                }
                '}' => {
                    return Err(format!(
                        "unmatched '}}' in {text:?} (write '}}}}' for a literal brace)"
                    ))
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Self {
            source: text.to_string(),
            parts,
        })
    }

    /// The text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Substitutes `values` (a missing value is empty).
    pub fn render(&self, values: &Values) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Text(t) => t.as_str(),
                Part::Value(p) => values.get(p).map_or("", String::as_str),
            })
            .collect()
    }

    /// True if some placeholder in it has an empty (or no) value.
    pub fn has_empty_value(&self, values: &Values) -> bool {
        self.parts.iter().any(|part| match part {
            Part::Value(p) => values.get(p).is_none_or(String::is_empty),
            Part::Text(_) => false,
        })
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// One argument of an argv command: a template, or a group kept only when every placeholder
/// in it has a value (so `["--pinnedpubkey", "{pins_curl}"]` disappears for an unpinned case).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Always passed.
    One(Template),
    /// Passed only when none of its placeholders is empty.
    Group(Vec<Template>),
}

/// The client under test's command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// An argv list, run without a shell.
    Argv(Vec<Arg>),
    /// A string run by `sh -c` (placeholders are substituted first; prefer the environment
    /// variables in shell strings, they need no quoting).
    Shell(Template),
}

impl Command {
    /// The argv to execute for `values`.
    pub fn argv(&self, values: &Values) -> Vec<String> {
        match self {
            Command::Shell(t) => vec!["sh".into(), "-c".into(), t.render(values)],
            Command::Argv(args) => {
                let mut argv = Vec::new();
                for arg in args {
                    match arg {
                        Arg::One(t) => argv.push(t.render(values)),
                        Arg::Group(group) => {
                            if !group.iter().any(|t| t.has_empty_value(values)) {
                                argv.extend(group.iter().map(|t| t.render(values)));
                            }
                        }
                    }
                }
                argv
            }
        }
    }
}

/// Quotes an argv for display, as a shell would need it.
pub fn display_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values {
        let mut v = Values::new();
        v.insert(Placeholder::Url, "https://a.test/".into());
        v.insert(Placeholder::PinsCurl, String::new());
        v.insert(Placeholder::Proxy, "127.0.0.1:9".into());
        v
    }

    #[test]
    fn substitutes_and_escapes() {
        let t = Template::parse("x{url}y{{z}}").unwrap();
        assert_eq!(t.render(&values()), "xhttps://a.test/y{z}");
        assert_eq!(Template::parse("{{}}").unwrap().render(&values()), "{}");
        let shell = "${PIN_PROXY_PINS_CURL:+--pinnedpubkey \"${X}\"} {url}";
        assert_eq!(
            Template::parse(shell).unwrap().render(&values()),
            "${PIN_PROXY_PINS_CURL:+--pinnedpubkey \"${X}\"} https://a.test/"
        );
        assert!(Template::parse("${x").unwrap_err().contains("unclosed"));
    }

    #[test]
    fn rejects_unknown_and_unbalanced() {
        let e = Template::parse("{urll}").unwrap_err();
        assert!(
            e.contains("unknown placeholder {urll}") && e.contains("url"),
            "{e}"
        );
        assert!(Template::parse("{url").unwrap_err().contains("unclosed"));
        assert!(Template::parse("a}").unwrap_err().contains("unmatched"));
    }

    #[test]
    fn a_group_with_an_empty_value_is_dropped() {
        let cmd = Command::Argv(vec![
            Arg::One(Template::parse("curl").unwrap()),
            Arg::Group(vec![
                Template::parse("--pinnedpubkey").unwrap(),
                Template::parse("{pins_curl}").unwrap(),
            ]),
            Arg::Group(vec![
                Template::parse("-x").unwrap(),
                Template::parse("{proxy}").unwrap(),
            ]),
            Arg::One(Template::parse("{url}").unwrap()),
        ]);
        assert_eq!(
            cmd.argv(&values()),
            ["curl", "-x", "127.0.0.1:9", "https://a.test/"]
        );
    }

    #[test]
    fn env_names() {
        assert_eq!(Placeholder::TrustBundle.env(), "PIN_PROXY_TRUST_BUNDLE");
        assert_eq!(
            display_argv(&["a b".into(), "x".into(), "it's".into()]),
            r"'a b' x 'it'\''s'"
        );
    }
}
