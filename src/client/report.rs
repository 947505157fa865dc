//! What the reference client tells: its outcome and exit code, the `--json` result object, and
//! the log lines it writes to stderr as it goes. Pure formatting; the line format is a contract
//! (documented in the README) that the log reader parses.
//!
//! Every line starts with [`PREFIX`] and follows the seed article's delegate
//! (`host H public key hash P`):
//!
//! ```text
//! pin-proxy client: host api.example.test certificate 0 public key hash <b64> subject CN=api.example.test
//! pin-proxy client: host api.example.test sent certificate 3 public key hash <b64> subject CN=...
//! pin-proxy client: pinning valid for host api.example.test and certificate 1's public key hash <b64>
//! pin-proxy client: pinning invalid for host api.example.test and certificate 0's public key hash <b64>
//! pin-proxy client: host api.example.test expected one of 2 pins: <b64>, <b64>
//! pin-proxy client: host cdn.example.test has no pins: cancelled (fail-closed)
//! pin-proxy client: trust evaluation failed for host api.example.test: <reason>
//! pin-proxy client: GET https://api.example.test/login -> 200 OK (78 bytes)
//! pin-proxy client: outcome pin_mismatch (exit 10)
//! ```

use serde::Serialize;

use super::policy::{Decision, MatchMode, MissingPin, Policy};
use crate::error::exit;
use crate::trust::{CertInfo, TrustFailure};

/// The start of every log line.
pub const PREFIX: &str = "pin-proxy client:";

/// How a run ended; each has its exit code in the CLI's reserved range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The request was made (whatever its HTTP status).
    Ok,
    /// The verified path has none of the host's pins.
    PinMismatch,
    /// Trust evaluation refused the chain (unknown issuer, expired, wrong host name, ...).
    TrustFailure,
    /// Pinning is configured but not for this host, and `--missing-pin fail-closed`.
    NoPins,
    /// A pin configuration was rejected and no usable cache was left (signed pin configs).
    ConfigRejected,
    /// Connecting, the proxy's CONNECT, the TLS handshake (other than trust) or the request
    /// failed, or the run timed out.
    Network,
}

impl Outcome {
    /// The exit code (README: "Exit codes").
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Ok => exit::OK,
            Outcome::PinMismatch => exit::PIN_MISMATCH,
            Outcome::TrustFailure => exit::TRUST_FAILURE,
            Outcome::NoPins => exit::NO_PINS,
            Outcome::ConfigRejected => exit::PIN_CONFIG_REJECTED,
            Outcome::Network => exit::NETWORK,
        }
    }

    /// The name in `--json` and in the outcome line.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::PinMismatch => "pin_mismatch",
            Outcome::TrustFailure => "trust_failure",
            Outcome::NoPins => "no_pins",
            Outcome::ConfigRejected => "config_rejected",
            Outcome::Network => "network",
        }
    }
}

/// The policy as the result object shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyInfo {
    /// `chain` or `leaf`.
    #[serde(rename = "match")]
    pub match_mode: MatchMode,
    /// `fail-closed` or `fail-open`.
    pub missing_pin: MissingPin,
    /// The pins by host pattern (`hosts` null: for every host).
    pub pins: Vec<PinEntryInfo>,
}

/// One entry of the policy's pins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PinEntryInfo {
    /// The host pattern, or null for every host.
    pub hosts: Option<String>,
    /// Its pins.
    pub pins: Vec<String>,
}

impl PolicyInfo {
    /// From the policy.
    pub fn of(policy: &Policy) -> Self {
        Self {
            match_mode: policy.match_mode,
            missing_pin: policy.missing_pin,
            pins: policy
                .entries
                .iter()
                .map(|e| PinEntryInfo {
                    hosts: e.hosts.as_ref().map(ToString::to_string),
                    pins: e.pins.clone(),
                })
                .collect(),
        }
    }
}

/// The pin that let the connection through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MatchedPin {
    /// Position in the verified path (0 is the leaf).
    pub position: usize,
    /// The pin.
    pub pin: String,
}

/// The signed pin config a run used (`--pins-url`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigInfo {
    /// Its URL.
    pub url: String,
    /// `jws` or `wultra`.
    pub format: &'static str,
    /// The version in use (null: none usable, or a Wultra file).
    pub version: Option<u64>,
    /// Where the config in use came from: `fetched` or `cache`; null when none was usable.
    pub source: Option<super::config::ConfigSource>,
    /// When the config in use expires, Unix seconds.
    pub expires_at: Option<u64>,
    /// The version fetched in this run, when it verified (even if refused as a replay).
    pub fetched_version: Option<u64>,
    /// Why the fetched config was refused.
    pub refused: Option<String>,
    /// Why the fetch failed.
    pub fetch_error: Option<String>,
    /// Why the cache could not be used.
    pub cache_error: Option<String>,
}

/// The `--json` result: one object per run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// How it ended.
    pub outcome: Outcome,
    /// The exit code.
    pub exit: i32,
    /// The URL fetched.
    pub url: String,
    /// Its host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The proxy used (`host:port`, never credentials), or null when direct.
    pub proxy: Option<String>,
    /// The pinning policy.
    pub policy: PolicyInfo,
    /// Where the pins came from: `flags`, `config` (`--pins-url`), or `none` without pins.
    pub pins_source: &'static str,
    /// The signed pin config, with `--pins-url`.
    pub pin_config: Option<ConfigInfo>,
    /// The path trust evaluation built: leaf first, trust anchor last. Empty when there is none.
    pub verified_path: Vec<CertInfo>,
    /// The certificates the server sent, in its order.
    pub presented: Vec<CertInfo>,
    /// The pin that matched, if pinning let it through.
    pub matched_pin: Option<MatchedPin>,
    /// Why trust evaluation refused the chain.
    pub trust_failure: Option<TrustFailure>,
    /// TLS version negotiated, `TLSv1.3` or `TLSv1.2`.
    pub tls_version: Option<String>,
    /// ALPN protocol negotiated, `h2` or `http/1.1`.
    pub alpn: Option<String>,
    /// The HTTP status, when the request was made.
    pub status: Option<u16>,
    /// Size of the response body, when the request was made.
    pub body_bytes: Option<u64>,
    /// What failed, in words (trust failures, network errors).
    pub error: Option<String>,
    /// How long the run took, in milliseconds.
    pub duration_ms: u64,
}

/// The lines for the verified path and the sent certificates that are not on it (or every sent
/// certificate when there is no path).
pub fn path_lines(host: &str, path: &[CertInfo], sent: &[CertInfo]) -> Vec<String> {
    let mut out: Vec<String> = path
        .iter()
        .map(|c| cert_line(host, "certificate", c))
        .collect();
    out.extend(
        sent.iter()
            .filter(|s| {
                !path
                    .iter()
                    .any(|p| p.pin == s.pin && p.subject == s.subject)
            })
            .map(|c| cert_line(host, "sent certificate", c)),
    );
    out
}

fn cert_line(host: &str, kind: &str, c: &CertInfo) -> String {
    format!(
        "{PREFIX} host {host} {kind} {} public key hash {} subject {}",
        c.position, c.pin, c.subject
    )
}

/// The lines that say what the policy decided.
pub fn decision_lines(
    host: &str,
    policy: &Policy,
    decision: &Decision,
    path: &[CertInfo],
) -> Vec<String> {
    match decision {
        Decision::NotPinning => vec![format!(
            "{PREFIX} no pins configured: trust evaluation alone decides for host {host}"
        )],
        Decision::Matched { position, pin } => vec![format!(
            "{PREFIX} pinning valid for host {host} and certificate {position}'s public key hash {pin}"
        )],
        Decision::Mismatch { checked } => {
            let mut out: Vec<String> = path
                .iter()
                .take(*checked)
                .map(|c| {
                    format!(
                        "{PREFIX} pinning invalid for host {host} and certificate {}'s public key hash {}",
                        c.position, c.pin
                    )
                })
                .collect();
            let pins = policy.pins_for(host);
            out.push(format!(
                "{PREFIX} host {host} expected one of {} pin(s): {}",
                pins.len(),
                pins.join(", ")
            ));
            out
        }
        Decision::NoPinsForHost(missing) => {
            let scope = policy.scope();
            let what = match missing {
                MissingPin::FailClosed => "cancelled (fail-closed)",
                MissingPin::FailOpen => "allowed on trust alone (fail-open)",
            };
            vec![format!(
                "{PREFIX} host {host} has no pins (pins are for {}): {what}",
                scope.join(", ")
            )]
        }
    }
}

/// The line of a trust failure.
pub fn trust_line(host: &str, failure: &TrustFailure) -> String {
    format!("{PREFIX} trust evaluation failed for host {host}: {failure}")
}

/// The line of a network failure.
pub fn network_line(error: &str) -> String {
    format!("{PREFIX} network error: {error}")
}

/// The line of the request made.
pub fn request_line(method: &str, url: &str, status: http::StatusCode, bytes: u64) -> String {
    let status = match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    };
    format!("{PREFIX} {method} {url} -> {status} ({bytes} bytes)")
}

/// The last line.
pub fn outcome_line(outcome: Outcome) -> String {
    format!(
        "{PREFIX} outcome {} (exit {})",
        outcome.name(),
        outcome.exit_code()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::HostGlob;
    use crate::trust::CertSource;

    fn cert(position: usize, pin: &str, subject: &str) -> CertInfo {
        CertInfo {
            position,
            subject: subject.into(),
            common_name: None,
            issuer: String::new(),
            pin: pin.into(),
            sha256: String::new(),
            not_after: None,
            source: CertSource::Sent,
        }
    }

    #[test]
    fn every_outcome_has_its_reserved_code() {
        let all = [
            (Outcome::Ok, 0),
            (Outcome::PinMismatch, 10),
            (Outcome::TrustFailure, 11),
            (Outcome::NoPins, 12),
            (Outcome::ConfigRejected, 13),
            (Outcome::Network, 14),
        ];
        for (outcome, code) in all {
            assert_eq!(outcome.exit_code(), code);
            assert_eq!(
                serde_json::to_value(outcome).unwrap(),
                serde_json::Value::from(outcome.name())
            );
        }
    }

    #[test]
    fn lines_have_the_documented_shape() {
        let path = [cert(0, "LEAF=", "CN=api.test"), cert(1, "INT=", "CN=int")];
        let sent = [
            cert(0, "LEAF=", "CN=api.test"),
            cert(1, "INT=", "CN=int"),
            cert(2, "SMUGGLED=", "CN=real int"),
        ];
        assert_eq!(
            path_lines("api.test", &path, &sent),
            [
                "pin-proxy client: host api.test certificate 0 public key hash LEAF= subject CN=api.test",
                "pin-proxy client: host api.test certificate 1 public key hash INT= subject CN=int",
                "pin-proxy client: host api.test sent certificate 2 public key hash SMUGGLED= subject CN=real int",
            ]
        );
        let policy = Policy::from_flags(
            vec!["A=".into(), "B=".into()],
            vec![HostGlob::parse("api.test").unwrap()],
            MissingPin::FailClosed,
            MatchMode::Chain,
        );
        assert_eq!(
            decision_lines("api.test", &policy, &Decision::Mismatch { checked: 2 }, &path),
            [
                "pin-proxy client: pinning invalid for host api.test and certificate 0's public key hash LEAF=",
                "pin-proxy client: pinning invalid for host api.test and certificate 1's public key hash INT=",
                "pin-proxy client: host api.test expected one of 2 pin(s): A=, B=",
            ]
        );
        assert_eq!(
            decision_lines(
                "cdn.test",
                &policy,
                &Decision::NoPinsForHost(MissingPin::FailClosed),
                &path
            ),
            ["pin-proxy client: host cdn.test has no pins (pins are for api.test): cancelled (fail-closed)"]
        );
        assert_eq!(
            decision_lines(
                "api.test",
                &policy,
                &Decision::Matched {
                    position: 1,
                    pin: "INT=".into()
                },
                &path
            ),
            ["pin-proxy client: pinning valid for host api.test and certificate 1's public key hash INT="]
        );
        assert_eq!(
            request_line("GET", "https://api.test/", http::StatusCode::NOT_FOUND, 9),
            "pin-proxy client: GET https://api.test/ -> 404 Not Found (9 bytes)"
        );
        assert_eq!(
            outcome_line(Outcome::TrustFailure),
            "pin-proxy client: outcome trust_failure (exit 11)"
        );
        assert_eq!(
            trust_line("api.test", &TrustFailure::UnknownIssuer),
            "pin-proxy client: trust evaluation failed for host api.test: the chain does not lead to a trusted root (unknown issuer)"
        );
    }
}
