//! The case record: the scenario runner's shared vocabulary. What a case expected, what was
//! observed, the evidence, and the events a run emits, read by every reporter.
//!
//! This module only defines the types and their JSON form (report schema [`REPORT_SCHEMA`]); the
//! runner (`scenario`) fills them and the reporters (`report`) render them.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::origin::{OriginHandshake, OriginRequest};
use crate::record::ConnectionRecord;

/// Version of the JSON report's schema. Bumped on any incompatible change.
pub const REPORT_SCHEMA: u32 = 1;

/// What a case expects the client to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expected {
    /// The client refuses the connection (its pinning or trust check fires).
    Cancelled,
    /// The client sends its request.
    Proceeded,
}

impl Expected {
    /// The name used in scenario files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cancelled => "cancelled",
            Self::Proceeded => "proceeded",
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the evidence says the client did, for the case's host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Observed {
    /// It refused: no request reached the proxy (intercept) or the origin (passthrough).
    Cancelled,
    /// It sent a request.
    Proceeded,
    /// Connections were seen but none was conclusive (idle, not TLS, no shared cipher).
    Undecided,
    /// The proxy could not reach the test origin: a harness problem, not a client verdict.
    UpstreamFailed,
    /// No connection for the host reached the proxy at all.
    NoConnection,
}

impl Observed {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cancelled => "cancelled",
            Self::Proceeded => "proceeded",
            Self::Undecided => "undecided",
            Self::UpstreamFailed => "upstream_failed",
            Self::NoConnection => "no_connection",
        }
    }

    /// Whether this is what `expected` asks for.
    pub fn matches(self, expected: Expected) -> bool {
        matches!(
            (self, expected),
            (Self::Cancelled, Expected::Cancelled) | (Self::Proceeded, Expected::Proceeded)
        )
    }
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A case's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Observed what was expected.
    Passed,
    /// Observed something else: an expectation failed.
    Failed,
    /// The case could not be judged: no connection seen, the client timed out, the harness's
    /// origin was unreachable.
    Error,
}

impl Status {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Error => "error",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One pin a case handed to the client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CasePin {
    /// How the scenario named it: `api.current`, `api.intermediate`, or `literal`.
    pub reference: String,
    /// The pin (base64 SPKI SHA-256).
    pub pin: String,
}

/// How the client under test ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ClientExit {
    /// It exited with this code.
    Exited {
        /// The exit code.
        code: i32,
    },
    /// A signal ended it.
    Signalled {
        /// The signal number.
        signal: i32,
    },
    /// It ran past its timeout and was killed (with its process group).
    TimedOut {
        /// The timeout, in milliseconds.
        after_ms: u64,
    },
    /// No command: a person drove the device, and the runner waited this long for the host's
    /// verdict (up to the timeout).
    NoCommand {
        /// How long it waited, in milliseconds.
        waited_ms: u64,
    },
}

impl fmt::Display for ClientExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exited { code } => write!(f, "exit {code}"),
            Self::Signalled { signal } => write!(f, "killed by signal {signal}"),
            Self::TimedOut { after_ms } => write!(f, "timed out after {after_ms} ms, killed"),
            Self::NoCommand { waited_ms } => {
                write!(f, "no command: waited {waited_ms} ms for the device")
            }
        }
    }
}

/// The client's run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRun {
    /// The command line as run (shell-quoted).
    pub command: String,
    /// How it ended.
    pub exit: ClientExit,
    /// How long it ran, in milliseconds.
    pub duration_ms: u64,
    /// The last lines of its standard output.
    pub stdout_tail: String,
    /// The last lines of its standard error.
    pub stderr_tail: String,
    /// The last non-empty line of its standard output, whole (a `--json` result, which steps
    /// read); not written to reports.
    #[serde(default, skip)]
    pub stdout_last_line: String,
}

/// Everything seen during a case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The proxy's records for the case's host, in accept order.
    pub connections: Vec<ConnectionRecord>,
    /// Other hosts the client asked the proxy for (not test origins of this case).
    pub other_hosts: Vec<String>,
    /// TLS handshakes the case's origin took part in.
    pub origin_handshakes: Vec<OriginHandshake>,
    /// Requests the case's origin received.
    pub origin_requests: Vec<OriginRequest>,
    /// The client under test.
    pub client: ClientRun,
}

/// One case: what it was, what was expected, what happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRecord {
    /// Position of the suite in the run (for a stable order).
    pub suite_index: usize,
    /// Position of the case in its suite.
    pub case_index: usize,
    /// Suite name.
    pub suite: String,
    /// Case name, unique within its suite.
    pub name: String,
    /// Standard-matrix family (`pinned`, `unpinned`, `rotated`, `missing-pin`, `chain`), if any.
    pub family: Option<String>,
    /// The origin host the client was pointed at.
    pub host: String,
    /// What the proxy did for the host: `intercept`, `passthrough`, or a profile name.
    pub proxy: String,
    /// The origin key the test origin presented.
    pub origin_key: String,
    /// The pins the client was given.
    pub pins: Vec<CasePin>,
    /// The host the pins belong to, if any.
    pub pinned_host: Option<String>,
    /// What was expected.
    pub expected: Expected,
    /// Why (from the scenario).
    pub reason: String,
    /// What the evidence says.
    pub observed: Observed,
    /// The result.
    pub status: Status,
    /// One line on how `observed` was reached (or why the case errored).
    pub detail: String,
    /// Signals that disagree with the decision (e.g. the client exited 0 but sent no request).
    pub disagreements: Vec<String>,
    /// What was seen.
    pub evidence: Evidence,
    /// How long the case took, in milliseconds.
    pub duration_ms: u64,
    /// A stepped case's steps, in order (absent for a one-step case). The case's own setup,
    /// expectation, observation, status and evidence are those of the step that decided it:
    /// the first that did not pass, else the last; its `detail` names that step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepRecord>,
}

impl CaseRecord {
    /// Step `step` seen as a case of its own, for reporters that render cases (its `name` is
    /// the step's).
    pub fn step_view(&self, step: &StepRecord) -> CaseRecord {
        CaseRecord {
            name: step.name.clone(),
            proxy: step.proxy.clone(),
            origin_key: step.origin_key.clone(),
            pins: step.pins.clone(),
            pinned_host: step.pinned_host.clone(),
            expected: step.expected,
            reason: step.reason.clone(),
            observed: step.observed,
            status: step.status,
            detail: step.detail.clone(),
            disagreements: step.disagreements.clone(),
            evidence: step.evidence.clone(),
            duration_ms: step.duration_ms,
            steps: Vec::new(),
            ..self.clone()
        }
    }
}

/// One step of a stepped case: its setup, what it expected, what was seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Step name, unique in its case.
    pub name: String,
    /// What the proxy did for the host in this step.
    pub proxy: String,
    /// The key the origin presented.
    pub origin_key: String,
    /// The pins the client was given.
    pub pins: Vec<CasePin>,
    /// The host the pins belong to, if any.
    pub pinned_host: Option<String>,
    /// What was expected.
    pub expected: Expected,
    /// The client exit code the step expected, if it checks one.
    pub expected_exit: Option<i32>,
    /// Why (from the scenario).
    pub reason: String,
    /// What the evidence says.
    pub observed: Observed,
    /// The step's result.
    pub status: Status,
    /// One line on how `observed` was reached.
    pub detail: String,
    /// Signals that disagree with the decision.
    pub disagreements: Vec<String>,
    /// What was seen.
    pub evidence: Evidence,
    /// How long the step took, in milliseconds.
    pub duration_ms: u64,
    /// The pin config the step published (a config name, or `none`), if it published one.
    #[serde(default)]
    pub published: Option<String>,
    /// URLs the proxy answered itself in this step: `URL → what`.
    #[serde(default)]
    pub map_local: Vec<String>,
    /// The pin config the client said it used (from its `--json`), when the step checks it.
    #[serde(default)]
    pub config: Option<StepConfig>,
}

/// The pin config a client said it used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepConfig {
    /// The version, if one was in use.
    pub version: Option<u64>,
    /// `fetched`, `cache`, or `none` (nothing usable).
    pub source: String,
    /// Why the client refused the config it fetched, or why the fetch failed, in its words.
    #[serde(default)]
    pub refused: Option<String>,
}

/// A suite as the run announces it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuiteInfo {
    /// Suite name.
    pub name: String,
    /// The scenario file, as given.
    pub file: String,
    /// Cases of this suite that will run (after filter and partition).
    pub cases: usize,
    /// Remarks from expanding the suite (e.g. a matrix family that did not apply).
    pub notes: Vec<String>,
    /// Every pin generated for the run, by name (`api.current`, `proxy.ca`, `proxy.forged`):
    /// lets reports name a pin, and snapshots redact it.
    pub known_pins: BTreeMap<String, String>,
    /// The common name of every CA generated for the run, by the same names (`api.root`,
    /// `api.intermediate`, `proxy.ca`, `proxy.untrusted-root`): each is unique to the run, so
    /// snapshots redact it like a pin.
    pub known_subjects: BTreeMap<String, String>,
}

/// Counts at the end of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Cases run.
    pub total: usize,
    /// Cases that passed.
    pub passed: usize,
    /// Cases whose expectation failed.
    pub failed: usize,
    /// Cases that could not be judged.
    pub errors: usize,
    /// Wall time of the run, in milliseconds.
    pub duration_ms: u64,
}

impl RunSummary {
    /// Adds one case's status.
    pub fn add(&mut self, status: Status) {
        self.total += 1;
        match status {
            Status::Passed => self.passed += 1,
            Status::Failed => self.failed += 1,
            Status::Error => self.errors += 1,
        }
    }
}

/// What the runner tells its reporters, in order: `Started`, then per case `CaseStarted` and
/// `CaseFinished` (interleaved when cases run in parallel), then `Finished`.
#[derive(Clone, Copy, Debug)]
pub enum RunEvent<'a> {
    /// The run begins.
    Started {
        /// The suites, in order.
        suites: &'a [SuiteInfo],
        /// Cases in parallel.
        jobs: usize,
    },
    /// A case begins.
    CaseStarted {
        /// Suite name.
        suite: &'a str,
        /// Case name.
        case: &'a str,
    },
    /// Something a person must do now: a case without a client command waits for the device
    /// to be used ("open the app now and use HOST").
    Prompt {
        /// Suite name.
        suite: &'a str,
        /// Case name.
        case: &'a str,
        /// What to do, one line.
        text: &'a str,
    },
    /// A case ended.
    CaseFinished(&'a CaseRecord),
    /// The run ended.
    Finished(&'a RunSummary),
}
