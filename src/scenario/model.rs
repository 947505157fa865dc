//! The typed scenario: what a parsed, validated, expanded suite is. Values of these types are
//! correct by construction (references resolve, names are unique), so the runner never checks.

use std::net::IpAddr;
use std::time::Duration;

use crate::ca::KeyType;
use crate::case_record::Expected;
use crate::origin::pki::ChainSpec;
use crate::rules::{Action, Profile};

use super::template::{Command, Template};

/// One scenario file, with its matrix expanded into cases.
#[derive(Clone, Debug)]
pub struct Suite {
    /// Name (from `[suite] name`, else the file stem).
    pub name: String,
    /// The file, as given.
    pub file: String,
    /// The file's directory, absolute when it could be resolved.
    pub dir: std::path::PathBuf,
    /// Free text.
    pub description: Option<String>,
    /// Key algorithm of the origins' PKI.
    pub key_type: KeyType,
    /// How each case's proxy runs.
    pub proxy: ProxySettings,
    /// The client under test.
    pub client: Client,
    /// The test origins.
    pub origins: Vec<Origin>,
    /// Every case, matrix first, then the file's own `[[case]]`s.
    pub cases: Vec<Case>,
    /// Remarks from expansion (a matrix family that did not apply, and why).
    pub notes: Vec<String>,
    /// The signed pin configs the runner serves to each case (`[pin_config]`).
    pub pin_config: Option<PinConfigSpec>,
}

/// `[pin_config]`: a config service per case, its signing key, and the named configs steps
/// publish or have the proxy substitute.
#[derive(Clone, Debug)]
pub struct PinConfigSpec {
    /// The host `{pins_url}` names (`http://HOST/pins`); each step's proxy maps it to the case's
    /// config service, never resolving it.
    pub host: String,
    /// The signing key's type.
    pub key_type: crate::pin_config::KeyType,
    /// The named configs, in file order.
    pub configs: Vec<ConfigSpec>,
}

/// Who signs a named config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signer {
    /// The run's signing key, whose public key the client holds (`{pins_key}`).
    Signing,
    /// Another key generated for the run: a forging proxy's own.
    Attacker,
}

/// A named pin config of a suite.
#[derive(Clone, Debug)]
pub struct ConfigSpec {
    /// Its name (`[pin_config.configs.NAME]`).
    pub name: String,
    /// Its content version.
    pub version: u64,
    /// When it expires.
    pub expiry: crate::pin_config::source::Expiry,
    /// Each host with its pins (references resolved by the runner) and subdomain flag.
    pub hosts: Vec<(String, Vec<PinRef>, bool)>,
    /// Who signs it.
    pub signed_by: Signer,
    /// When set, the document is this config's payload under the signature of the named config
    /// (index into the configs): a payload modified after signing.
    pub tampered_from: Option<usize>,
}

/// What a step publishes at the config service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Publish {
    /// A named config (index into [`PinConfigSpec::configs`]).
    Config(usize),
    /// A pins source file (`pins.toml`, literal pins), relative to the scenario file.
    File(std::path::PathBuf),
    /// Nothing: the service answers 404.
    Nothing,
}

/// What the proxy answers a mapped URL with in a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapTarget {
    /// A named config, signed for the step.
    Config(usize),
    /// A status and no body.
    Status(u16),
    /// A file (relative to the scenario file's directory).
    File(std::path::PathBuf),
}

/// Which CA the proxy signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaChoice {
    /// A CA generated for this run (the trust bundle carries it). The default.
    Ephemeral,
    /// The local CA (`--ca-dir`), for devices that have it installed.
    Local,
}

/// Per-suite proxy settings.
#[derive(Clone, Debug)]
pub struct ProxySettings {
    /// Address the proxy listens on.
    pub listen: IpAddr,
    /// `listen = "IP:PORT"`: every case's proxy on this port (the device's proxy setting), the
    /// cases one at a time. `None`: a fresh port per case.
    pub port: Option<u16>,
    /// `upstream_ca = [FILE, ...]` (PEM, relative to the suite's directory): CAs the proxy also
    /// trusts when it verifies an upstream origin (as `proxy --upstream-ca`).
    pub upstream_ca: Vec<std::path::PathBuf>,
    /// The proxy's `--decide-after`.
    pub decide_after: Duration,
    /// The CA.
    pub ca: CaChoice,
    /// `auth = "USER:PASS"`: the case proxy's `--auth` (handed to the client as `{proxy_auth}`).
    pub auth: Option<crate::access::Credentials>,
    /// `allow_from = [CIDR, ...]`: the case proxy's `--allow-from`.
    pub allow_from: crate::access::AllowList,
}

/// The client under test.
#[derive(Clone, Debug)]
pub struct Client {
    /// What to run. `None`: a person drives the device; the runner says which host to use and
    /// waits for its verdict, up to the timeout.
    pub command: Option<Command>,
    /// Run before each case (force-stop the app, clear its data), so that nothing (a TLS
    /// session cache) carries a decision from one case into the next. A case may give its own.
    pub before: Option<Command>,
    /// Killed (with its process group) after this long.
    pub timeout: Duration,
    /// Extra environment variables (values may use placeholders).
    pub env: Vec<(String, Template)>,
    /// Working directory (relative paths are relative to the scenario file's directory);
    /// `None` keeps the runner's.
    pub cwd: Option<std::path::PathBuf>,
}

/// A test origin.
#[derive(Clone, Debug)]
pub struct Origin {
    /// Short name used in references (`api` in `api.current`).
    pub name: String,
    /// Host name it serves.
    pub host: String,
    /// Leaf key names; the first is what the origin presents by default.
    pub keys: Vec<String>,
    /// Its chain's depth and given subjects (`depth`, `chain`); root → intermediate → leaf with
    /// generated names by default.
    pub chain: ChainSpec,
    /// `upstream = "HOST:PORT[=ADDR:PORT]"`: a real host instead of a test origin. It has no keys
    /// the run knows (literal pins only, no matrix) and no origin log.
    pub upstream: Option<UpstreamTarget>,
}

/// Where a real upstream origin is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpstreamTarget {
    /// The port the client asks for.
    pub port: u16,
    /// `=ADDR:PORT`: connect here instead of resolving the host (the tests, a staging server).
    pub connect: Option<std::net::SocketAddr>,
}

impl Origin {
    /// The number of certificates in its chain, leaf and root included.
    pub fn depth(&self) -> usize {
        self.chain.depth()
    }

    /// How references and reports name the CA at `level` (K of `caK`: 1 signs the leaf,
    /// `depth() - 1` is the root): `root` for the root, `intermediate` for ca1 of a chain of 3
    /// or more, `caK` for the others. `None` when there is no such CA.
    pub fn ca_reference(&self, level: usize) -> Option<String> {
        Some(match PinRef::ca(0, level, self.depth())? {
            PinRef::Root(_) => "root".to_string(),
            PinRef::Intermediate(_) => "intermediate".to_string(),
            _ => format!("ca{level}"),
        })
    }
}

/// A standard-matrix family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    /// Pins the current key.
    Pinned,
    /// No pins at all.
    Unpinned,
    /// The origin moved to its next key.
    Rotated,
    /// The client has pins for another host only.
    MissingPin,
    /// Pins the intermediate or the root.
    Chain,
    /// Pins the intermediate or the root, while the proxy sends them after its own CA.
    SmuggleChain,
}

impl Family {
    /// Every family, in expansion order.
    pub const ALL: [Family; 6] = [
        Family::Pinned,
        Family::Unpinned,
        Family::Rotated,
        Family::MissingPin,
        Family::Chain,
        Family::SmuggleChain,
    ];

    /// The name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Family::Pinned => "pinned",
            Family::Unpinned => "unpinned",
            Family::Rotated => "rotated",
            Family::MissingPin => "missing-pin",
            Family::Chain => "chain",
            Family::SmuggleChain => "smuggle-chain",
        }
    }

    /// Parses a family name.
    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|f| f.name()).collect();
                format!(
                    "unknown family {s:?} (expected one of {})",
                    names.join(", ")
                )
            })
    }
}

/// A pin given to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinRef {
    /// A leaf key of an origin (`api.current`).
    Key {
        /// Index into [`Suite::origins`].
        origin: usize,
        /// Key name.
        key: String,
    },
    /// An origin's intermediate CA, ca1, the one that signs its leaves (`api.intermediate`, or
    /// `api.ca1`, in a chain of 3 or more).
    Intermediate(usize),
    /// An origin's root CA (`api.root`, or `api.caK` for the last K).
    Root(usize),
    /// One of an origin's CAs between ca1 and the root (`api.ca2` in a chain of 4 or more).
    /// Build it with [`PinRef::ca`], which gives ca1 and the root their own variants.
    Ca {
        /// Index into [`Suite::origins`].
        origin: usize,
        /// K of `caK`, 2 ..= depth - 2.
        level: usize,
    },
    /// The case proxy's CA (`proxy.ca`), or the key a forged profile signs with
    /// (`proxy.forged`, `proxy.expired`, ...): what a forging proxy would publish as its pins.
    Proxy(Option<Profile>),
    /// A literal base64 pin.
    Literal(String),
}

impl PinRef {
    /// The pin of CA `level` (K of `caK`: 1 signs the leaf, `depth - 1` is the root) of origin
    /// `origin` (an index into [`Suite::origins`]) whose chain has `depth` certificates:
    /// [`PinRef::Intermediate`] for ca1 (depth 3 or more), [`PinRef::Root`] for the root,
    /// [`PinRef::Ca`] between; `None` when there is no such CA. One certificate, one reference,
    /// so reports name it one way.
    pub fn ca(origin: usize, level: usize, depth: usize) -> Option<PinRef> {
        match level {
            0 => None,
            l if l + 1 == depth => Some(PinRef::Root(origin)),
            l if l + 1 > depth => None,
            1 => Some(PinRef::Intermediate(origin)),
            level => Some(PinRef::Ca { origin, level }),
        }
    }

    /// The CA level it names (K of `caK`) for an origin whose chain has `depth` certificates;
    /// `None` for a leaf key, the proxy's keys and literals.
    pub fn ca_level(&self, depth: usize) -> Option<usize> {
        match self {
            PinRef::Intermediate(_) => Some(1),
            PinRef::Root(_) => Some(depth.saturating_sub(1)),
            PinRef::Ca { level, .. } => Some(*level),
            PinRef::Key { .. } | PinRef::Proxy(_) | PinRef::Literal(_) => None,
        }
    }

    /// How to name it in reports (`api.current`, `literal`).
    pub fn label(&self, origins: &[Origin]) -> String {
        let name = |i: usize| origins.get(i).map_or("?", |o| o.name.as_str());
        match self {
            PinRef::Key { origin, key } => format!("{}.{key}", name(*origin)),
            PinRef::Intermediate(o) => format!("{}.intermediate", name(*o)),
            PinRef::Root(o) => format!("{}.root", name(*o)),
            PinRef::Ca { origin, level } => format!("{}.ca{level}", name(*origin)),
            PinRef::Proxy(None) => "proxy.ca".to_string(),
            PinRef::Proxy(Some(p)) => format!("proxy.{}", p.name()),
            PinRef::Literal(_) => "literal".to_string(),
        }
    }

    /// The origin it belongs to, if any.
    pub fn origin(&self) -> Option<usize> {
        match self {
            PinRef::Key { origin, .. }
            | PinRef::Intermediate(origin)
            | PinRef::Root(origin)
            | PinRef::Ca { origin, .. } => Some(*origin),
            PinRef::Proxy(_) | PinRef::Literal(_) => None,
        }
    }
}

/// One case of a suite.
#[derive(Clone, Debug)]
pub struct Case {
    /// Name, unique in the suite (`[A-Za-z0-9._/-]`).
    pub name: String,
    /// Matrix family, for generated cases.
    pub family: Option<Family>,
    /// Index into [`Suite::origins`]: the host the client is pointed at.
    pub origin: usize,
    /// What the proxy does for that host.
    pub action: Action,
    /// The origin's key for this case.
    pub origin_key: String,
    /// Pins handed to the client.
    pub pins: Vec<PinRef>,
    /// The host the pins belong to; `None` means the case's own host (when it has pins).
    pub pinned_host: Option<String>,
    /// What the client should do.
    pub expect: Expected,
    /// Why.
    pub reason: String,
    /// Overrides the client timeout.
    pub timeout: Option<Duration>,
    /// Environment variables for this case only, over the client's.
    pub env: Vec<(String, Template)>,
    /// `before`: this case's own command to run first, instead of the client's.
    pub before: Option<Command>,
    /// The steps of a case written with `[[case.step]]`, in order; empty for a one-step case,
    /// whose own fields above are its one step. In a stepped case those fields are the first
    /// step's setup.
    pub steps: Vec<Step>,
}

/// One step of a stepped case: its whole setup (a step starts from the previous step's and
/// changes what it names), the client run, and what that run must show.
#[derive(Clone, Debug)]
pub struct Step {
    /// Name, unique in the case (`[A-Za-z0-9._-]`); `step-N` when the file gives none.
    pub name: String,
    /// What the proxy does for the case's host.
    pub action: Action,
    /// The key the origin presents.
    pub origin_key: String,
    /// Pins handed to the client.
    pub pins: Vec<PinRef>,
    /// The host the pins belong to; `None` means the case's own host.
    pub pinned_host: Option<String>,
    /// What the client should do.
    pub expect: Expected,
    /// The client's exit code, when the step checks it.
    pub exit: Option<i32>,
    /// Why.
    pub reason: String,
    /// Environment variables for this step, over the case's.
    pub env: Vec<(String, Template)>,
    /// What the config service serves from this step on (it keeps serving it after).
    pub publish: Option<Publish>,
    /// URLs the proxy answers itself in this step only (the URL may hold placeholders).
    pub map_local: Vec<(Template, MapTarget)>,
    /// The config version the client's `--json` must say it used.
    pub config_version: Option<u64>,
    /// Where the client's `--json` must say that config came from: `fetched`, `cache` or
    /// `none`.
    pub config_source: Option<String>,
}

impl Case {
    /// How the proxy action reads in reports: `intercept`, `passthrough`, or a profile name.
    pub fn proxy_label(&self) -> String {
        action_label(self.action)
    }

    /// Whether the case was written with steps (reports then list them).
    pub fn is_stepped(&self) -> bool {
        !self.steps.is_empty()
    }

    /// The steps to run: the written ones, or the case itself as its one step.
    pub fn run_steps(&self) -> Vec<Step> {
        if self.is_stepped() {
            return self.steps.clone();
        }
        vec![Step {
            name: String::new(),
            action: self.action,
            origin_key: self.origin_key.clone(),
            pins: self.pins.clone(),
            pinned_host: self.pinned_host.clone(),
            expect: self.expect,
            exit: None,
            reason: self.reason.clone(),
            env: Vec::new(),
            publish: None,
            map_local: Vec::new(),
            config_version: None,
            config_source: None,
        }]
    }
}

/// `intercept` for the forged profile, the profile's name for the others, or `passthrough`.
pub fn action_label(action: Action) -> String {
    match action {
        Action::Passthrough => "passthrough".to_string(),
        Action::Intercept(Profile::Forged) => "intercept".to_string(),
        Action::Intercept(p) => p.name().to_string(),
    }
}
