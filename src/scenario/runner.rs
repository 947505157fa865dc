//! The runner: per suite a throwaway PKI, CA and trust bundle; per case a test origin presenting
//! the case's key, a proxy with the case's rule (on fresh loopback ports, reaching nothing but
//! that origin), and the client under test. Cases run in parallel up to `jobs`.
//!
//! Device cases: an origin may be a real upstream host (`upstream = "HOST:PORT[=ADDR:PORT]"`:
//! no test origin, the proxy verifies it with the system roots and `[proxy] upstream_ca`); the
//! client may be any command that drives a device, or none, and then the runner asks for the
//! host to be used (a [`RunEvent::Prompt`]) and waits for its verdict. A suite on a fixed port
//! (`[proxy] listen = "IP:PORT"`, the device's proxy setting) runs its cases one at a time, and a
//! case may run a `before` command first (force-stop the app) so that no TLS session cache
//! carries one case's decision into the next.
//!
//! It emits [`RunEvent`]s to the reporters it is given and judges each case with
//! [`super::judge`]; it prints nothing itself.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinSet;

use crate::ca::leaf::LeafIssuer;
use crate::ca::CertificateAuthority;
use crate::case_record::{
    CasePin, CaseRecord, Evidence, RunEvent, RunSummary, Status, StepRecord, SuiteInfo,
};
use crate::error::{Error, Result};
use crate::origin::pki::OriginPki;
use crate::origin::TestOrigin;
use crate::proxy::{Proxy, ProxyConfig, UpstreamTrust};
use crate::record::ConnectionRecord;
use crate::report::RunReporter;
use crate::rules::{Action, HostGlob, HostMap, Profile, Rule, Rules};

use super::client::{self, ClientSpec};
use super::judge::Tunnel;
use super::judge::{check_config, client_config, judge};
use super::model::{action_label, CaChoice, Case, MapTarget, PinRef, Publish, Signer, Step, Suite};
use super::template::{Placeholder, Values};
use crate::pin_config::serve::{ConfigServer, Format as ConfigFormat, Signed};
use crate::pin_config::source::Expiry;
use crate::pin_config::{jws, Payload, PinSet, SigningKey};
use crate::proxy::{MapLocal, MapLocalSpec, MapLocals};

/// The port test URLs use; the proxy maps `host:443` to the case's origin.
const ORIGIN_PORT: u16 = 443;
/// How long, after the client exits, the proxy and origin get to see its connections close.
const SETTLE: Duration = Duration::from_secs(2);

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Cases in parallel (at least 1).
    pub jobs: usize,
    /// The local CA's directory, for suites with `[proxy] ca = "local"`.
    pub ca_dir: PathBuf,
    /// The pin-proxy binary, the `{bin}` placeholder.
    pub bin: PathBuf,
}

/// A suite and the indices of its cases to run.
#[derive(Debug)]
pub struct Selection {
    /// The suite.
    pub suite: Suite,
    /// Which of its cases run, in order.
    pub cases: Vec<usize>,
}

/// Everything a suite's cases share.
struct SuiteEnv {
    index: usize,
    suite: Suite,
    dir: tempfile::TempDir,
    trust_bundle: PathBuf,
    ca_cert: PathBuf,
    issuer: Arc<LeafIssuer>,
    /// Per origin, its generated PKI; `None` for an upstream origin.
    pkis: Vec<Option<OriginPki>>,
    /// The test origins' roots and `[proxy] upstream_ca`: what the case proxies trust.
    roots: Vec<CertificateDer<'static>>,
    bin: String,
    pin_config: Option<SuitePins>,
}

/// The keys of a suite's `[pin_config]`, and where the client finds the public one.
struct SuitePins {
    signing: Arc<SigningKey>,
    attacker: SigningKey,
    public_key: PathBuf,
}

enum Progress {
    Started(usize, usize),
    /// Something a person must do now (suite, case, what).
    Prompt(usize, usize, String),
    Finished(Result<Box<CaseRecord>>),
}

/// Runs the selected cases, telling `reporters` as it goes; returns the counts.
pub async fn run(
    selections: Vec<Selection>,
    options: &RunOptions,
    reporters: &mut [&mut dyn RunReporter],
) -> Result<RunSummary> {
    let started = Instant::now();
    let mut envs = Vec::new();
    let mut infos = Vec::new();
    for (index, selection) in selections.into_iter().enumerate() {
        let (env, known) = prepare(index, selection.suite, options)?;
        infos.push(SuiteInfo {
            name: env.suite.name.clone(),
            file: env.suite.file.clone(),
            cases: selection.cases.len(),
            notes: env.suite.notes.clone(),
            known_pins: known.pins,
            known_subjects: known.subjects,
        });
        envs.push((Arc::new(env), selection.cases));
    }
    // A fixed port (the device's proxy setting) holds one case's proxy at a time.
    let fixed_port = envs.iter().any(|(env, _)| env.suite.proxy.port.is_some());
    let jobs = if fixed_port { 1 } else { options.jobs.max(1) };
    emit(
        reporters,
        &RunEvent::Started {
            suites: &infos,
            jobs,
        },
    )?;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let permits = Arc::new(Semaphore::new(jobs));
    // Cases start in file order (a person at a device sees the prompts in the suite's order),
    // as permits come free; the dispatcher owns the case tasks, so dropping it (an error
    // returned below) stops them and kills their clients.
    let order: Vec<(Arc<SuiteEnv>, usize)> = envs
        .iter()
        .flat_map(|(env, cases)| cases.iter().map(|&c| (env.clone(), c)))
        .collect();
    let dispatcher = tokio::spawn(async move {
        let mut tasks = JoinSet::new();
        for (env, case) in order {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let tx = tx.clone();
            tasks.spawn(async move {
                let _permit = permit;
                let _ = tx.send(Progress::Started(env.index, case));
                let result = run_case(&env, case, &tx).await.map(Box::new);
                let _ = tx.send(Progress::Finished(result));
            });
        }
        while tasks.join_next().await.is_some() {}
    });
    let _dispatcher = AbortOnDrop(dispatcher);
    let mut summary = RunSummary::default();
    while let Some(progress) = rx.recv().await {
        match progress {
            Progress::Started(suite, case) => {
                let env = &envs[suite].0;
                emit(
                    reporters,
                    &RunEvent::CaseStarted {
                        suite: &env.suite.name,
                        case: &env.suite.cases[case].name,
                    },
                )?;
            }
            Progress::Prompt(suite, case, text) => {
                let env = &envs[suite].0;
                emit(
                    reporters,
                    &RunEvent::Prompt {
                        suite: &env.suite.name,
                        case: &env.suite.cases[case].name,
                        text: &text,
                    },
                )?;
            }
            Progress::Finished(Ok(record)) => {
                summary.add(record.status);
                emit(reporters, &RunEvent::CaseFinished(&record))?;
            }
            // The dispatcher is aborted on return: the other cases stop and their clients die.
            Progress::Finished(Err(e)) => return Err(e),
        }
    }
    summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    emit(reporters, &RunEvent::Finished(&summary))?;
    Ok(summary)
}

/// Aborts a task when dropped (with it, the tasks it owns).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn emit(reporters: &mut [&mut dyn RunReporter], event: &RunEvent<'_>) -> Result<()> {
    reporters.iter_mut().try_for_each(|r| r.event(event))
}

/// What a suite generated, by name (`api.root`, `proxy.ca`): pins, and the CAs' common names.
#[derive(Default)]
struct Known {
    pins: BTreeMap<String, String>,
    subjects: BTreeMap<String, String>,
}

impl Known {
    fn add(&mut self, name: String, pin: &str, subject: Option<&str>) {
        if let Some(subject) = subject {
            self.subjects.insert(name.clone(), subject.to_string());
        }
        self.pins.insert(name, pin.to_string());
    }
}

/// Generates the suite's CA, origin PKIs and trust bundle; returns the pins and CA names by name
/// too.
fn prepare(index: usize, suite: Suite, options: &RunOptions) -> Result<(SuiteEnv, Known)> {
    let ca = match suite.proxy.ca {
        CaChoice::Ephemeral => {
            CertificateAuthority::ephemeral(suite.key_type, "pin-proxy scenario CA")?
        }
        CaChoice::Local => CertificateAuthority::load_or_create(&options.ca_dir, suite.key_type)?.0,
    };
    let issuer = Arc::new(LeafIssuer::new(Arc::new(ca), suite.key_type, Vec::new())?);
    let mut known = Known::default();
    let ca = issuer.ca();
    known.add("proxy.ca".into(), ca.pin(), Some(ca.common_name()));
    let untrusted = issuer.untrusted_ca();
    known.add(
        "proxy.untrusted-root".into(),
        untrusted.pin(),
        Some(untrusted.common_name()),
    );
    for profile in Profile::ALL {
        if let Some(pin) = issuer.profile_pin(profile) {
            known.add(format!("proxy.{}", profile.name()), &pin, None);
        }
    }
    let mut pkis = Vec::new();
    let mut roots = Vec::new();
    let mut bundle = issuer.ca().cert_pem().to_string();
    for origin in &suite.origins {
        if origin.upstream.is_some() {
            pkis.push(None);
            continue;
        }
        let names: Vec<&str> = origin.keys.iter().map(String::as_str).collect();
        let pki = OriginPki::generate_chain(suite.key_type, &origin.name, &origin.chain, &names)?;
        for key in &origin.keys {
            if let Some(pin) = pki.key_pin(key) {
                known.add(format!("{}.{key}", origin.name), &pin, None);
            }
        }
        // Each CA under one name (`api.intermediate`, `api.ca2`, `api.root`); only generated
        // names are the run's own, to redact: a subject the suite gives is the user's text.
        for level in 1..pki.depth() {
            if let (Some(reference), Some(pin)) = (origin.ca_reference(level), pki.ca_pin(level)) {
                known.add(
                    format!("{}.{reference}", origin.name),
                    pin,
                    pki.generated_ca_name(level),
                );
            }
        }
        bundle.push_str(pki.root_pem());
        roots.push(pki.root_der().clone());
        pkis.push(Some(pki));
    }
    for file in &suite.proxy.upstream_ca {
        let path = suite.dir.join(file);
        let pem =
            std::fs::read(&path).map_err(|e| Error::file(&path, "read proxy.upstream_ca", e))?;
        let certs = crate::pins::pem_certs(&pem)
            .map_err(|e| Error::input(path.display().to_string(), e))?;
        if certs.is_empty() {
            return Err(Error::input(
                path.display().to_string(),
                "proxy.upstream_ca: no certificate in the file",
            ));
        }
        roots.extend(certs);
        // The client trusts them too: a passthrough case reaches the upstream itself.
        bundle.push_str(&String::from_utf8_lossy(&pem));
        if !bundle.ends_with('\n') {
            bundle.push('\n');
        }
    }
    let dir = tempfile::Builder::new()
        .prefix("pin-proxy-run-")
        .tempdir()
        .map_err(|e| Error::runtime(format!("cannot create a temporary directory: {e}")))?;
    let pin_config = match &suite.pin_config {
        None => None,
        Some(pc) => {
            let signing = SigningKey::generate(pc.key_type)?;
            let attacker = SigningKey::generate(pc.key_type)?;
            known.add("pins.signing".into(), signing.kid(), None);
            known.add("pins.attacker".into(), attacker.kid(), None);
            let public_key = dir.path().join("pins-signing.pub");
            write(&public_key, &signing.verifying_key().public_key_pem())?;
            Some(SuitePins {
                signing: Arc::new(signing),
                attacker,
                public_key,
            })
        }
    };
    let trust_bundle = dir.path().join("trust-bundle.pem");
    let ca_cert = dir.path().join("proxy-ca.pem");
    write(&trust_bundle, &bundle)?;
    write(&ca_cert, issuer.ca().cert_pem())?;
    Ok((
        SuiteEnv {
            index,
            suite,
            dir,
            trust_bundle,
            ca_cert,
            issuer,
            pkis,
            roots,
            bin: options.bin.display().to_string(),
            pin_config,
        },
        known,
    ))
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::file(path, "write", e))
}

impl SuiteEnv {
    /// Named config `index`, signed at `now` as its spec says (by the run's key or the
    /// attacker's; under another config's signature when tampered).
    fn sign_config(&self, index: usize, now: u64) -> Result<String> {
        let (Some(spec), Some(keys)) = (&self.suite.pin_config, &self.pin_config) else {
            return Err(Error::runtime("the suite has no [pin_config]"));
        };
        let config = &spec.configs[index];
        let payload = Payload {
            version: config.version,
            issued_at: now,
            expires_at: match config.expiry {
                Expiry::ValidFor(d) => now.saturating_add(d.as_secs()),
                Expiry::At(at) => at,
            },
            hosts: config
                .hosts
                .iter()
                .map(|(host, pins, include_subdomains)| {
                    (
                        host.clone(),
                        PinSet {
                            pins: pins.iter().map(|p| self.pin(p)).collect(),
                            include_subdomains: *include_subdomains,
                        },
                    )
                })
                .collect(),
        };
        let key = match config.signed_by {
            Signer::Signing => keys.signing.as_ref(),
            Signer::Attacker => &keys.attacker,
        };
        let signed = jws::sign(&payload, key)?;
        let Some(from) = config.tampered_from else {
            return Ok(signed);
        };
        // This payload under the other config's header and signature.
        let base = self.sign_config(from, now)?;
        let (b, s) = (
            base.split('.').collect::<Vec<_>>(),
            signed.split('.').collect::<Vec<_>>(),
        );
        match (b.as_slice(), s.as_slice()) {
            ([header, _, signature], [_, payload, _]) => {
                Ok(format!("{header}.{payload}.{signature}"))
            }
            _ => Err(Error::runtime("a signed config is not a compact JWS")),
        }
    }

    fn pin(&self, pin: &PinRef) -> String {
        match pin {
            PinRef::Key { origin, key } => self.pkis[*origin]
                .as_ref()
                .and_then(|pki| pki.key_pin(key))
                .unwrap_or_default(),
            PinRef::Intermediate(o) | PinRef::Root(o) | PinRef::Ca { origin: o, .. } => self.pkis
                [*o]
                .as_ref()
                .and_then(|pki| {
                    pin.ca_level(pki.depth())
                        .and_then(|level| pki.ca_pin(level))
                })
                .unwrap_or_default()
                .to_string(),
            PinRef::Proxy(None) => self.issuer.ca().pin().to_string(),
            PinRef::Proxy(Some(profile)) => self.issuer.profile_pin(*profile).unwrap_or_default(),
            PinRef::Literal(p) => p.clone(),
        }
    }
}

async fn run_case(
    env: &SuiteEnv,
    index: usize,
    progress: &mpsc::UnboundedSender<Progress>,
) -> Result<CaseRecord> {
    let started = Instant::now();
    let suite = &env.suite;
    let case = &suite.cases[index];
    let host = suite.origins[case.origin].host.clone();
    // One scratch directory for the whole case: what a client keeps (a pin cache) lives
    // across its steps.
    let work_dir = env.dir.path().join(format!("case-{index}"));
    std::fs::create_dir_all(&work_dir)
        .map_err(|e| Error::file(&work_dir, "create the case directory", e))?;
    // The case's config service lives across its steps: what one publishes, the next serves.
    let config_server = match &env.pin_config {
        Some(keys) => Some(
            ConfigServer::start(
                SocketAddr::from(([127, 0, 0, 1], 0)),
                None,
                keys.signing.clone(),
                None,
            )
            .await?,
        ),
        None => None,
    };
    if let Some(before) = case.before.as_ref().or(suite.client.before.as_ref()) {
        run_before(env, case, before, &host, &work_dir).await?;
    }
    let prompt = |text: String| {
        let _ = progress.send(Progress::Prompt(env.index, index, text));
    };
    let mut steps = Vec::new();
    for step in case.run_steps() {
        steps.push(
            run_step(
                env,
                case,
                &step,
                &host,
                &work_dir,
                config_server.as_ref(),
                &prompt,
            )
            .await?,
        );
    }
    // The first step that did not pass decides; else the last.
    let deciding = steps
        .iter()
        .position(|s| s.status != Status::Passed)
        .unwrap_or(steps.len().saturating_sub(1));
    let decided = steps
        .get(deciding)
        .cloned()
        .ok_or_else(|| Error::runtime(format!("case {} has no step", case.name)))?;
    let detail = if case.is_stepped() {
        format!(
            "step {} ({}): {}",
            deciding + 1,
            decided.name,
            decided.detail
        )
    } else {
        decided.detail.clone()
    };
    Ok(CaseRecord {
        suite_index: env.index,
        case_index: index,
        suite: suite.name.clone(),
        name: case.name.clone(),
        family: case.family.map(|f| f.name().to_string()),
        host,
        proxy: decided.proxy.clone(),
        origin_key: decided.origin_key.clone(),
        pins: decided.pins.clone(),
        pinned_host: decided.pinned_host.clone(),
        expected: decided.expected,
        reason: decided.reason.clone(),
        observed: decided.observed,
        status: decided.status,
        detail,
        disagreements: decided.disagreements.clone(),
        evidence: decided.evidence.clone(),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        steps: if case.is_stepped() { steps } else { Vec::new() },
    })
}

/// The case's `before` command (force-stop the app, clear its data). A failure stops the run:
/// the device is not in the state the cases assume.
async fn run_before(
    env: &SuiteEnv,
    case: &Case,
    before: &super::template::Command,
    host: &str,
    work_dir: &Path,
) -> Result<()> {
    let suite = &env.suite;
    let proxy = SocketAddr::new(suite.proxy.listen, suite.proxy.port.unwrap_or(0));
    let port = origin_port(suite, case);
    let values = values(
        env,
        &case.name,
        (host, port),
        "",
        proxy,
        &[],
        None,
        work_dir,
    );
    let spec = ClientSpec {
        timeout: case.timeout.unwrap_or(suite.client.timeout),
        ..process_spec(suite, before, &values, &[&case.env])
    };
    let run = client::run(&spec).await?;
    if !matches!(run.exit, crate::case_record::ClientExit::Exited { code: 0 }) {
        let said = run.stderr_tail.trim();
        return Err(Error::runtime(format!(
            "case {}: the before command `{}` failed ({}){}",
            case.name,
            run.command,
            run.exit,
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        )));
    }
    Ok(())
}

/// A process the runner starts for a case (the client, or its `before` command): `command`
/// rendered with `values`, which it also gets as `PIN_PROXY_*` variables, then `[client] env`
/// and each of `layers` (the case's, a step's) over it, in `[client] cwd`, bounded by the
/// client timeout.
fn process_spec(
    suite: &Suite,
    command: &super::template::Command,
    values: &Values,
    layers: &[&[(String, super::template::Template)]],
) -> ClientSpec {
    let mut env: Vec<(String, String)> = values.iter().map(|(p, v)| (p.env(), v.clone())).collect();
    env.extend(
        std::iter::once(suite.client.env.as_slice())
            .chain(layers.iter().copied())
            .flatten()
            .map(|(k, t)| (k.clone(), t.render(values))),
    );
    ClientSpec {
        argv: command.argv(values),
        env,
        cwd: suite.client.cwd.as_ref().map(|c| suite.dir.join(c)),
        timeout: suite.client.timeout,
    }
}

/// The port the case's client asks for: 443 for a test origin, an upstream's own.
fn origin_port(suite: &Suite, case: &Case) -> u16 {
    suite.origins[case.origin]
        .upstream
        .map_or(ORIGIN_PORT, |u| u.port)
}

/// One step: an origin presenting the step's key, a proxy with the step's rule, the client, and
/// the judgement of what they saw.
async fn run_step(
    env: &SuiteEnv,
    case: &Case,
    step: &Step,
    host: &str,
    work_dir: &Path,
    config_server: Option<&ConfigServer>,
    prompt: &(dyn Fn(String) + Sync),
) -> Result<StepRecord> {
    let started = Instant::now();
    let suite = &env.suite;
    let upstream = suite.origins[case.origin].upstream;
    let port = origin_port(suite, case);
    let now = crate::client::now_unix();
    let mut published = None;
    if let (Some(publish), Some(server)) = (&step.publish, config_server) {
        match publish {
            Publish::Nothing => {
                server.publish(None);
                published = Some("none".to_string());
            }
            Publish::File(file) => {
                let keys = env
                    .pin_config
                    .as_ref()
                    .ok_or_else(|| Error::runtime("the suite has no [pin_config]"))?;
                let source = crate::pin_config::source::read(&suite.dir.join(file))?;
                server.publish(Some(crate::pin_config::serve::sign(
                    &source,
                    &keys.signing,
                    ConfigFormat::Jws,
                    now,
                )?));
                published = Some(file.display().to_string());
            }
            Publish::Config(i) => {
                let document = env.sign_config(*i, now)?;
                let version = suite
                    .pin_config
                    .as_ref()
                    .map_or(0, |p| p.configs[*i].version);
                server.publish(Some(Signed {
                    version,
                    body: bytes::Bytes::from(document),
                    format: ConfigFormat::Jws,
                }));
                published = suite
                    .pin_config
                    .as_ref()
                    .map(|p| p.configs[*i].name.clone());
            }
        }
    }
    let origin = match &env.pkis[case.origin] {
        Some(pki) => {
            Some(TestOrigin::start(pki.leaf(&[host.to_string()], &step.origin_key)?).await?)
        }
        None => None,
    };
    let hosts = HostGlob::parse(host).map_err(Error::runtime)?;
    let mut maps = Vec::new();
    // A real upstream without an address is resolved: the device talks to the real network
    // anyway. Everything else reaches only what the case maps.
    let mut resolve_unmapped = false;
    match origin
        .as_ref()
        .map(TestOrigin::addr)
        .or(upstream.and_then(|u| u.connect))
    {
        Some(to) => maps.push(HostMap {
            host: host.to_string(),
            port: Some(port),
            to,
        }),
        None => resolve_unmapped = true,
    }
    if let (Some(pc), Some(server)) = (&suite.pin_config, config_server) {
        maps.push(HostMap {
            host: pc.host.clone(),
            port: Some(80),
            to: server.addr(),
        });
    }
    // Map-local URLs may use every placeholder but the proxy's own (it is not bound yet).
    let early = values(
        env,
        &case.name,
        (host, port),
        "",
        SocketAddr::from(([0, 0, 0, 0], 0)),
        &[],
        None,
        work_dir,
    );
    let mut map_entries = Vec::new();
    let mut map_labels = Vec::new();
    for (n, (url, target)) in step.map_local.iter().enumerate() {
        let url = url.render(&early);
        let (spec, label) = match target {
            MapTarget::Status(code) => (format!("{url}=status:{code}"), format!("status {code}")),
            MapTarget::File(file) => (
                format!("{url}={}", suite.dir.join(file).display()),
                file.display().to_string(),
            ),
            MapTarget::Config(i) => {
                let file = work_dir.join(format!("map-local-{}-{n}.jws", step.name));
                std::fs::write(&file, env.sign_config(*i, now)?)
                    .map_err(|e| Error::file(&file, "write", e))?;
                let name = suite
                    .pin_config
                    .as_ref()
                    .map_or("", |p| p.configs[*i].name.as_str());
                (
                    format!("{url}={};content-type=application/jose", file.display()),
                    format!("config {name}"),
                )
            }
        };
        let parsed = MapLocalSpec::parse(&spec)
            .map_err(|e| Error::runtime(format!("case {}: map_local {url}: {e}", case.name)))?;
        map_entries.push(MapLocal::load(parsed)?);
        map_labels.push(format!("{url} → {label}"));
    }
    let map_local = MapLocals::new(map_entries)
        .map_err(|e| Error::runtime(format!("case {}: map_local: {e}", case.name)))?;
    let device = suite.client.command.is_none();
    let (proceeded_tx, mut proceeded_rx) = mpsc::unbounded_channel();
    let config = ProxyConfig {
        listen: Some(SocketAddr::new(
            suite.proxy.listen,
            suite.proxy.port.unwrap_or(0),
        )),
        rules: Rules::new(vec![Rule {
            hosts,
            action: step.action,
        }]),
        maps,
        map_local,
        resolve_unmapped,
        upstream: UpstreamTrust {
            extra_cas: env.roots.clone(),
            insecure: false,
            // A real upstream is verified as the device would: the system's roots.
            system_roots: upstream.is_some(),
        },
        decide_after: suite.proxy.decide_after,
        auth: suite.proxy.auth.clone(),
        allow_from: suite.proxy.allow_from.clone(),
        proceeded: device.then_some(proceeded_tx),
        ..ProxyConfig::default()
    };
    let (records_tx, mut records_rx) = mpsc::unbounded_channel();
    let proxy = Proxy::bind(config, env.issuer.clone(), records_tx).await?;
    let proxy_addr = proxy.local_addr()?;
    let connections = proxy.connections();
    let (stop, stopped) = oneshot::channel::<()>();
    let proxy_task = tokio::spawn(proxy.run_until(async move {
        let _ = stopped.await;
    }));

    let pins: Vec<CasePin> = step
        .pins
        .iter()
        .map(|p| CasePin {
            reference: p.label(&suite.origins),
            pin: env.pin(p),
        })
        .collect();
    let pinned_host = if pins.is_empty() {
        None
    } else {
        Some(step.pinned_host.clone().unwrap_or_else(|| {
            step.pins
                .iter()
                .find_map(PinRef::origin)
                .map_or_else(|| host.to_string(), |o| suite.origins[o].host.clone())
        }))
    };
    // A stepped case's requests name the step: the origin's log tells the steps apart.
    let path = if case.is_stepped() {
        format!("/pin-proxy/{}/{}", case.name, step.name)
    } else {
        format!("/pin-proxy/{}", case.name)
    };
    let values = values(
        env,
        &case.name,
        (host, port),
        &path,
        proxy_addr,
        &pins,
        pinned_host.as_deref(),
        work_dir,
    );
    let timeout = case.timeout.unwrap_or(suite.client.timeout);
    let mut early_records = Vec::new();
    let client_run = match &suite.client.command {
        Some(command) => {
            let spec = ClientSpec {
                timeout,
                ..process_spec(suite, command, &values, &[&case.env, &step.env])
            };
            client::run(&spec).await.map(|run| match &suite.proxy.auth {
                // The credentials never reach a report: not in the command shown, not in the
                // output.
                Some(auth) => crate::case_record::ClientRun {
                    command: auth.redact(&run.command),
                    stdout_tail: auth.redact(&run.stdout_tail),
                    stderr_tail: auth.redact(&run.stderr_tail),
                    stdout_last_line: auth.redact(&run.stdout_last_line),
                    ..run
                },
                None => run,
            })
        }
        None => {
            let step_name = if case.is_stepped() {
                format!(" (step {})", step.name)
            } else {
                String::new()
            };
            prompt(format!(
                "open the app now and use {host}{step_name}: the device's proxy is {proxy_addr}; \
                 waiting up to {} s for its verdict",
                timeout.as_secs()
            ));
            Ok(wait_for_device(
                host,
                timeout,
                &mut records_rx,
                &mut proceeded_rx,
                &mut early_records,
            )
            .await)
        }
    };

    // Let the proxy see the client's connections end, stop it (which closes the origin
    // connections it kept for reuse), then let the origin see its connections end.
    let _ = tokio::time::timeout(SETTLE, connections.idle()).await;
    let _ = stop.send(());
    match proxy_task.await {
        Ok(result) => result?,
        Err(e) => return Err(Error::runtime(format!("the case's proxy failed: {e}"))),
    }
    if let Some(origin) = &origin {
        let _ = tokio::time::timeout(SETTLE, origin.idle()).await;
    }
    let client_run = client_run?;
    let mut records: Vec<ConnectionRecord> = early_records;
    while let Ok(r) = records_rx.try_recv() {
        records.push(r);
    }
    records.sort_by_key(|r| r.id);
    let (connections, others): (Vec<_>, Vec<_>) = records
        .into_iter()
        .partition(|r| r.host.as_deref() == Some(host));
    // Each host once, in the order first asked for (`dedup` alone keeps a, b, a).
    let mut other_hosts: Vec<String> = Vec::new();
    for r in &others {
        let name = r.host.clone().unwrap_or_else(|| "(no host)".to_string());
        if !other_hosts.contains(&name) {
            other_hosts.push(name);
        }
    }
    let evidence = Evidence {
        connections,
        other_hosts,
        origin_handshakes: origin
            .as_ref()
            .map(TestOrigin::handshakes)
            .unwrap_or_default(),
        origin_requests: origin
            .as_ref()
            .map(TestOrigin::requests)
            .unwrap_or_default(),
        client: client_run,
    };
    let tunnel = match (step.action, upstream) {
        (Action::Passthrough, None) => Tunnel::ToTestOrigin,
        (Action::Passthrough, Some(_)) => Tunnel::ToUpstream,
        (Action::Intercept(_), None) => Tunnel::Intercepted,
        (Action::Intercept(_), Some(_)) => Tunnel::InterceptedUpstream,
    };
    let config = client_config(&evidence.client.stdout_last_line);
    let checks_config = step.config_version.is_some() || step.config_source.is_some();
    let verdict = check_config(
        judge(host, tunnel, step.expect, step.exit, &evidence),
        step.config_version,
        step.config_source.as_deref(),
        config.as_ref(),
    );
    Ok(StepRecord {
        name: step.name.clone(),
        proxy: action_label(step.action),
        origin_key: step.origin_key.clone(),
        pins,
        pinned_host,
        expected: step.expect,
        expected_exit: step.exit,
        reason: step.reason.clone(),
        observed: verdict.observed,
        status: verdict.status,
        detail: verdict.detail,
        disagreements: verdict.disagreements,
        evidence,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        published,
        map_local: map_labels,
        config: config.filter(|_| checks_config),
    })
}

/// No command: waits until the host's verdict is known (a connection proceeded, or a record for
/// the host that is not undecided), at most `timeout`. The records read meanwhile go to `kept`.
async fn wait_for_device(
    host: &str,
    timeout: Duration,
    records: &mut mpsc::UnboundedReceiver<ConnectionRecord>,
    proceeded: &mut mpsc::UnboundedReceiver<String>,
    kept: &mut Vec<ConnectionRecord>,
) -> crate::case_record::ClientRun {
    let started = Instant::now();
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => break,
            Some(record) = records.recv() => {
                let decided = record.host.as_deref() == Some(host)
                    && record.verdict != crate::record::VerdictKind::Undecided;
                kept.push(record);
                if decided {
                    break;
                }
            }
            Some(proceeded_host) = proceeded.recv() => {
                if proceeded_host == host {
                    break;
                }
            }
        }
    }
    let waited_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    crate::case_record::ClientRun {
        command: "(none: a person drives the device)".to_string(),
        exit: crate::case_record::ClientExit::NoCommand { waited_ms },
        duration_ms: waited_ms,
        stdout_tail: String::new(),
        stderr_tail: String::new(),
        stdout_last_line: String::new(),
    }
}

#[allow(clippy::too_many_arguments)]
fn values(
    env: &SuiteEnv,
    case: &str,
    (host, port): (&str, u16),
    path: &str,
    proxy: SocketAddr,
    pins: &[CasePin],
    pinned_host: Option<&str>,
    work_dir: &Path,
) -> Values {
    let b64: Vec<&str> = pins.iter().map(|p| p.pin.as_str()).collect();
    let join = |prefix: &str, sep: &str| {
        b64.iter()
            .map(|p| format!("{prefix}{p}"))
            .collect::<Vec<_>>()
            .join(sep)
    };
    let mut v = Values::new();
    v.insert(Placeholder::Proxy, proxy.to_string());
    v.insert(Placeholder::ProxyUrl, format!("http://{proxy}"));
    v.insert(Placeholder::ProxyHost, proxy.ip().to_string());
    v.insert(Placeholder::ProxyPort, proxy.port().to_string());
    let authority = if port == ORIGIN_PORT {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    v.insert(Placeholder::Url, format!("https://{authority}{path}"));
    v.insert(Placeholder::Host, host.to_string());
    v.insert(Placeholder::Port, port.to_string());
    v.insert(Placeholder::Path, path.to_string());
    v.insert(
        Placeholder::TrustBundle,
        env.trust_bundle.display().to_string(),
    );
    v.insert(Placeholder::CaCert, env.ca_cert.display().to_string());
    v.insert(Placeholder::Pins, b64.join(","));
    v.insert(Placeholder::PinsCurl, join("sha256//", ";"));
    v.insert(Placeholder::PinsOkhttp, join("sha256/", ","));
    v.insert(
        Placeholder::PinnedHost,
        pinned_host.unwrap_or_default().to_string(),
    );
    v.insert(Placeholder::Case, case.to_string());
    v.insert(Placeholder::Suite, env.suite.name.clone());
    v.insert(Placeholder::SuiteDir, env.suite.dir.display().to_string());
    v.insert(Placeholder::WorkDir, work_dir.display().to_string());
    v.insert(Placeholder::Bin, env.bin.clone());
    v.insert(
        Placeholder::ProxyAuth,
        env.suite
            .proxy
            .auth
            .as_ref()
            .map(crate::access::Credentials::user_pass)
            .unwrap_or_default(),
    );
    let (pins_url, pins_key) = match (&env.suite.pin_config, &env.pin_config) {
        (Some(spec), Some(keys)) => (
            format!("http://{}{}", spec.host, crate::pin_config::serve::PATH),
            keys.public_key.display().to_string(),
        ),
        _ => (String::new(), String::new()),
    };
    v.insert(Placeholder::PinsUrl, pins_url);
    v.insert(Placeholder::PinsKey, pins_key);
    v
}
