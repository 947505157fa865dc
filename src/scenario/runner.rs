//! The runner: per suite a throwaway PKI, CA and trust bundle; per case a test origin presenting
//! the case's key, a proxy with the case's rule (on fresh loopback ports, reaching nothing but
//! that origin), and the client under test. Cases run in parallel up to `jobs`.
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
    pkis: Vec<OriginPki>,
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
    let jobs = options.jobs.max(1);
    emit(
        reporters,
        &RunEvent::Started {
            suites: &infos,
            jobs,
        },
    )?;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let permits = Arc::new(Semaphore::new(jobs));
    let mut tasks = JoinSet::new();
    for (env, cases) in &envs {
        for &case in cases {
            let (env, tx, permits) = (env.clone(), tx.clone(), permits.clone());
            tasks.spawn(async move {
                let Ok(_permit) = permits.acquire_owned().await else {
                    return;
                };
                let _ = tx.send(Progress::Started(env.index, case));
                let result = run_case(&env, case).await.map(Box::new);
                let _ = tx.send(Progress::Finished(result));
            });
        }
    }
    drop(tx);
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
            Progress::Finished(Ok(record)) => {
                summary.add(record.status);
                emit(reporters, &RunEvent::CaseFinished(&record))?;
            }
            // The JoinSet is dropped on return: the other cases stop and their clients die.
            Progress::Finished(Err(e)) => return Err(e),
        }
    }
    summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    emit(reporters, &RunEvent::Finished(&summary))?;
    Ok(summary)
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
        pkis.push(pki);
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
            PinRef::Key { origin, key } => self.pkis[*origin].key_pin(key).unwrap_or_default(),
            PinRef::Intermediate(o) | PinRef::Root(o) | PinRef::Ca { origin: o, .. } => {
                let pki = &self.pkis[*o];
                pin.ca_level(pki.depth())
                    .and_then(|level| pki.ca_pin(level))
                    .unwrap_or_default()
                    .to_string()
            }
            PinRef::Proxy(None) => self.issuer.ca().pin().to_string(),
            PinRef::Proxy(Some(profile)) => self.issuer.profile_pin(*profile).unwrap_or_default(),
            PinRef::Literal(p) => p.clone(),
        }
    }
}

async fn run_case(env: &SuiteEnv, index: usize) -> Result<CaseRecord> {
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
    let mut steps = Vec::new();
    for step in case.run_steps() {
        steps.push(run_step(env, case, &step, &host, &work_dir, config_server.as_ref()).await?);
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

/// One step: an origin presenting the step's key, a proxy with the step's rule, the client, and
/// the judgement of what they saw.
async fn run_step(
    env: &SuiteEnv,
    case: &Case,
    step: &Step,
    host: &str,
    work_dir: &Path,
    config_server: Option<&ConfigServer>,
) -> Result<StepRecord> {
    let started = Instant::now();
    let suite = &env.suite;
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
    let cert = env.pkis[case.origin].leaf(&[host.to_string()], &step.origin_key)?;
    let origin = TestOrigin::start(cert).await?;
    let hosts = HostGlob::parse(host).map_err(Error::runtime)?;
    let mut maps = vec![HostMap {
        host: host.to_string(),
        port: Some(ORIGIN_PORT),
        to: origin.addr(),
    }];
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
        host,
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
    let config = ProxyConfig {
        listen: SocketAddr::new(suite.proxy.listen, 0),
        rules: Rules::new(vec![Rule {
            hosts,
            action: step.action,
        }]),
        maps,
        map_local,
        resolve_unmapped: false,
        upstream: UpstreamTrust {
            extra_cas: env.roots.clone(),
            insecure: false,
            system_roots: false,
        },
        decide_after: suite.proxy.decide_after,
        auth: suite.proxy.auth.clone(),
        allow_from: suite.proxy.allow_from.clone(),
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
        host,
        &path,
        proxy_addr,
        &pins,
        pinned_host.as_deref(),
        work_dir,
    );
    let mut child_env: Vec<(String, String)> =
        values.iter().map(|(p, v)| (p.env(), v.clone())).collect();
    child_env.extend(
        suite
            .client
            .env
            .iter()
            .chain(&case.env)
            .chain(&step.env)
            .map(|(k, t)| (k.clone(), t.render(&values))),
    );
    let spec = ClientSpec {
        argv: suite.client.command.argv(&values),
        env: child_env,
        cwd: suite.client.cwd.as_ref().map(|c| suite.dir.join(c)),
        timeout: case.timeout.unwrap_or(suite.client.timeout),
    };
    let client_run = client::run(&spec).await.map(|run| match &suite.proxy.auth {
        // The credentials never reach a report: not in the command shown, not in the output.
        Some(auth) => crate::case_record::ClientRun {
            command: auth.redact(&run.command),
            stdout_tail: auth.redact(&run.stdout_tail),
            stderr_tail: auth.redact(&run.stderr_tail),
            stdout_last_line: auth.redact(&run.stdout_last_line),
            ..run
        },
        None => run,
    });

    // Let the proxy see the client's connections end, stop it (which closes the origin
    // connections it kept for reuse), then let the origin see its connections end.
    let _ = tokio::time::timeout(SETTLE, connections.idle()).await;
    let _ = stop.send(());
    match proxy_task.await {
        Ok(result) => result?,
        Err(e) => return Err(Error::runtime(format!("the case's proxy failed: {e}"))),
    }
    let _ = tokio::time::timeout(SETTLE, origin.idle()).await;
    let client_run = client_run?;
    let mut records: Vec<ConnectionRecord> = Vec::new();
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
        origin_handshakes: origin.handshakes(),
        origin_requests: origin.requests(),
        client: client_run,
    };
    let config = client_config(&evidence.client.stdout_last_line);
    let checks_config = step.config_version.is_some() || step.config_source.is_some();
    let verdict = check_config(
        judge(
            host,
            step.action == Action::Passthrough,
            step.expect,
            step.exit,
            &evidence,
        ),
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

#[allow(clippy::too_many_arguments)]
fn values(
    env: &SuiteEnv,
    case: &str,
    host: &str,
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
    v.insert(Placeholder::Url, format!("https://{host}{path}"));
    v.insert(Placeholder::Host, host.to_string());
    v.insert(Placeholder::Port, ORIGIN_PORT.to_string());
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
