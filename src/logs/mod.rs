//! Pinning-failure logs: reading a log of any size and shape (logcat, syslog, Xcode, CI output,
//! a pasted issue), finding each pinning or trust failure a known client library logged, and
//! saying what it means (`logs explain`).
//!
//! The room is a pure core: [`read`] streams bytes into prefix-stripped lines and hands only the
//! lines that matter to the format parsers (one module per format, each naming the samples it
//! was tested on); [`diagnose`] turns what a parser found into a [`Failure`] with a diagnosis and
//! an explanation, and counts repeats. It opens no file and no socket: the CLI gives it a reader.

pub mod diagnose;
pub mod prefix;
pub mod read;
mod text;

mod alamofire;
mod approov;
mod chromium;
mod client;
mod curl;
mod delegate;
mod dotnet;
mod events;
mod flutter;
mod ios;
mod mitmproxy;
mod node;
mod nsc;
mod okhttp;
mod react_native;
mod trustkit;
mod urllib3;

use serde::{Deserialize, Serialize};

pub use read::{explain, Explained, ReadError};

/// The client library (or tool) whose text a failure was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Format {
    /// OkHttp 3.x to 5.x `CertificatePinner` and its host name check.
    Okhttp,
    /// Android's network security config (`Pin verification failed`, trust anchors).
    AndroidNsc,
    /// TrustKit on iOS (`=== TrustKit: ` lines).
    Trustkit,
    /// TrustKit-Android (`PinningTrustManager`).
    TrustkitAndroid,
    /// TrustKit's JSON pin-failure report (iOS and Android), as posted to its `report-uri`.
    TrustkitReport,
    /// curl's `--pinnedpubkey` (error 90) with its verbose output.
    Curl,
    /// Node's `checkServerIdentity` pinning recipe.
    Node,
    /// urllib3's `assert_fingerprint`.
    Urllib3,
    /// Chromium's net errors (WebView, Chrome, Cronet).
    Chromium,
    /// iOS `NSURLErrorDomain` errors and CFNetwork's `HTTP load failed`.
    Ios,
    /// Alamofire 5's server trust errors.
    Alamofire,
    /// Flutter (dart:io `HandshakeException`) and its pinning plugins.
    Flutter,
    /// React Native pinning libraries.
    ReactNative,
    /// .NET `HttpClient` / `SslStream` certificate rejections.
    Dotnet,
    /// Approov's pinning (Android and iOS).
    Approov,
    /// The seed article's `URLSessionDelegate` NSLog lines.
    UrlsessionDelegate,
    /// mitmproxy's `Client TLS handshake failed` line.
    Mitmproxy,
    /// `pin-proxy client`'s own log lines.
    PinProxyClient,
    /// A pin-proxy events file (JSON Lines of connection records).
    PinProxyEvents,
}

impl Format {
    /// The name used in `--json` and on the terminal.
    pub fn name(self) -> &'static str {
        match self {
            Format::Okhttp => "okhttp",
            Format::AndroidNsc => "android-nsc",
            Format::Trustkit => "trustkit",
            Format::TrustkitAndroid => "trustkit-android",
            Format::TrustkitReport => "trustkit-report",
            Format::Curl => "curl",
            Format::Node => "node",
            Format::Urllib3 => "urllib3",
            Format::Chromium => "chromium",
            Format::Ios => "ios",
            Format::Alamofire => "alamofire",
            Format::Flutter => "flutter",
            Format::ReactNative => "react-native",
            Format::Dotnet => "dotnet",
            Format::Approov => "approov",
            Format::UrlsessionDelegate => "urlsession-delegate",
            Format::Mitmproxy => "mitmproxy",
            Format::PinProxyClient => "pin-proxy-client",
            Format::PinProxyEvents => "pin-proxy-events",
        }
    }
}

/// What a failure's digests are hashes of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PinKind {
    /// SHA-256 of the SubjectPublicKeyInfo (base64): OkHttp, curl, TrustKit, Android, iOS.
    #[serde(rename = "spki-sha256")]
    SpkiSha256,
    /// SHA-256 of the whole DER certificate (hex or base64): urllib3, Flutter plugins, Wultra.
    #[serde(rename = "cert-sha256")]
    CertSha256,
    /// SHA-1 (of the SPKI or the certificate): old OkHttp `sha1/` pins, Flutter's SHA1 option.
    Sha1,
}

/// What the failure means, from the documented list (README, "Diagnoses").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Diagnosis {
    /// The chain came from an interception proxy's CA (or a proxy said the client refused it):
    /// pinning did its job, or the device is being intercepted.
    Intercepted,
    /// A plausible real chain that none of the pins match: the server's key changed.
    KeyRotated,
    /// The client has pins, but none for this host, and it refused.
    NoPinsForHost,
    /// Not a pinning failure: the CA is not trusted or the host name is wrong.
    TrustFailure,
    /// A pinning failure whose log does not say enough to tell why.
    Unknown,
}

impl Diagnosis {
    /// The name used in `--json` and on the terminal.
    pub fn name(self) -> &'static str {
        match self {
            Diagnosis::Intercepted => "intercepted",
            Diagnosis::KeyRotated => "key_rotated",
            Diagnosis::NoPinsForHost => "no_pins_for_host",
            Diagnosis::TrustFailure => "trust_failure",
            Diagnosis::Unknown => "unknown",
        }
    }
}

/// One certificate of a presented chain, as the log gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainCert {
    /// 0 = the leaf.
    pub position: usize,
    /// The subject DN as the log printed it.
    pub subject: Option<String>,
    /// The issuer DN as the log printed it.
    pub issuer: Option<String>,
    /// The certificate's pin as the log printed it (or computed from a PEM the log holds).
    pub pin: Option<String>,
}

/// One failure found in a log: the `--json` object (README, "logs explain --json").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The library whose text it is.
    pub format: Format,
    /// 1-based line of the failure's first line (of its first occurrence).
    pub line: u64,
    /// The host, where the log names it.
    pub host: Option<String>,
    /// The port, where the log names it.
    pub port: Option<u16>,
    /// The presented digests, leaf first (bare base64, or lowercase hex for certificate hashes).
    pub presented_pins: Vec<String>,
    /// The digests the client pinned.
    pub pinned_pins: Vec<String>,
    /// The presented certificates, where the log describes them.
    pub presented_chain: Vec<ChainCert>,
    /// What the digests are hashes of, when the log has any.
    pub pin_kind: Option<PinKind>,
    /// What it means.
    pub diagnosis: Diagnosis,
    /// What happened and what to do, in words.
    pub explanation: String,
    /// How many times the same failure appears (retries).
    pub count: u64,
}

/// What a parser saw, before it is diagnosed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Found {
    pub format: Option<Format>,
    pub line: u64,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub presented_pins: Vec<String>,
    pub pinned_pins: Vec<String>,
    pub presented_chain: Vec<ChainCert>,
    pub pin_kind: Option<PinKind>,
    pub kind: Kind,
    /// The library's own words for it, shortened (for the explanation).
    pub message: String,
    /// A consequence that another, richer line of the same event usually explains (iOS -999, a
    /// bare `Pin verification failed`): dropped when such a failure is close by.
    pub weak: bool,
}

/// The kind of failure the library reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) enum Kind {
    /// The chain verified but no pin matched.
    #[default]
    Pinning,
    /// Trust evaluation refused the chain (CA, host name, expiry).
    Trust,
    /// The client has no pins for the host and refused.
    NoPins,
    /// A proxy's log says the client refused the proxy's certificate.
    RefusedProxy,
    /// A pin-proxy record: the client cancelled a forged certificate.
    CancelledForged,
}

/// A line as the parsers see it: the text with the log's prefixes removed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    /// 1-based line number in the input.
    pub no: u64,
    /// The message, prefixes stripped, the line end removed; leading spaces kept.
    pub text: &'a str,
}

/// A format parser: offered every line that holds one of its triggers, and every line while it
/// says it is inside a block.
pub(crate) trait Parser {
    /// Phrases whose presence makes a line worth decoding (case-sensitive).
    fn triggers(&self) -> &'static [&'static str];
    /// Looks at a line; pushes what it completed. Returns true to be offered the next line
    /// whatever it holds (a block is open).
    fn line(&mut self, line: Line<'_>, out: &mut Vec<Found>) -> bool;
    /// The input ended: completes an open block.
    fn finish(&mut self, out: &mut Vec<Found>);
}

/// Every parser, in a fixed order.
pub(crate) fn parsers() -> Vec<Box<dyn Parser>> {
    vec![
        Box::new(okhttp::Okhttp::default()),
        Box::new(nsc::Nsc::default()),
        Box::new(trustkit::Trustkit::default()),
        Box::new(trustkit::TrustkitAndroid::default()),
        Box::new(trustkit::Report::default()),
        Box::new(curl::Curl::default()),
        Box::new(node::Node::default()),
        Box::new(urllib3::Urllib3::default()),
        Box::new(chromium::Chromium),
        Box::new(ios::Ios::default()),
        Box::new(alamofire::Alamofire),
        Box::new(flutter::Flutter::default()),
        Box::new(react_native::ReactNative),
        Box::new(dotnet::Dotnet),
        Box::new(approov::Approov),
        Box::new(delegate::Delegate::default()),
        Box::new(mitmproxy::Mitmproxy),
        Box::new(client::Client::default()),
        Box::new(events::Events),
    ]
}
