//! `s3bench run`: plan -> targets -> preflight -> prepare -> measured phases
//! (alternating rounds) -> cleanup, publishing the report after every phase
//! so an interrupted run still leaves what it measured.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use crate::engine::{Cancel, Engine, Job, JobKind, JobResult};
use crate::report::model::{
    AttemptResult, ClientUsage, HostInfo, OpResult, PhaseResult, RoundResult, RunResult,
    SCHEMA_VERSION, SessionResult, TargetInfo, TargetPhaseResult,
};
use crate::scenario::{InjectSpec, LatencySpec, Load, OpKind, Phase, Plan, TargetKind};
use crate::server::{EmbeddedServer, Injection, LatencyDist, PrefixLimit, ServerConfig};
use crate::stats::Recorder;
use crate::stats::summary::summarize;
use crate::target::{TargetConfig, describe_preflight};

/// How a run is carried out (the CLI's flags, minus the scenario).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Base directory for results (`results/` by default).
    pub out: PathBuf,
    /// Overrides every measured phase's duration.
    pub duration: Option<Duration>,
    /// Overrides the scenario's rounds.
    pub rounds: Option<u32>,
    /// Engine threads (one current-thread runtime each); default: CPUs.
    pub threads: Option<usize>,
    /// Skip deleting the run prefix at the end.
    pub keep_data: bool,
    /// Live progress on stderr.
    pub progress: bool,
    /// The scenario file as the user named it (for the report).
    pub scenario_file: String,
    /// Run id shared by all shards of an array job (default: generated).
    pub run_id: Option<String>,
    /// This process's shard of an array job.
    pub shard: Option<Shard>,
    /// UTC time at which the measured phases start (a barrier for shards).
    pub start_at: Option<SystemTime>,
}

/// One shard of an array job (e.g. a Kubernetes Indexed Job pod).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            out: PathBuf::from("results"),
            duration: None,
            rounds: None,
            threads: None,
            keep_data: false,
            progress: false,
            scenario_file: String::new(),
            run_id: None,
            shard: None,
            start_at: None,
        }
    }
}

/// A target is unreachable, the credentials are wrong or a bucket is
/// missing: found before the run starts, one sentence per target.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PreflightError(pub String);

/// What a finished (or interrupted) run leaves behind.
pub struct RunOutput {
    pub result: RunResult,
    /// Where `report.md` and `result.json` were written.
    pub dir: PathBuf,
}

/// Loads a scenario and runs it against its own targets, or against a
/// freshly started embedded endpoint when `embedded` is set.
pub async fn run_file(
    path: &Path,
    embedded: bool,
    opts: RunOptions,
    cancel: Arc<Cancel>,
) -> anyhow::Result<RunOutput> {
    let plan = crate::scenario::load(path)?;
    if !embedded {
        let mut targets = Vec::new();
        for t in &plan.targets {
            targets.push(TargetConfig::from_environment(t, &plan.client).await);
        }
        return execute(plan, targets, false, opts, cancel).await;
    }
    let server = start_embedded(&plan)?;
    let targets = embedded_targets(&plan, &server);
    let out = execute(plan, targets, true, opts, cancel).await;
    server.shutdown();
    out
}

/// Starts the embedded endpoint with the plan's buckets and injections.
pub fn start_embedded(plan: &Plan) -> anyhow::Result<EmbeddedServer> {
    let server = EmbeddedServer::start(ServerConfig::default())
        .context("could not start the embedded S3 endpoint on 127.0.0.1")?;
    for t in &plan.targets {
        server
            .create_bucket(&t.bucket)
            .map_err(|e| anyhow::anyhow!("embedded endpoint: bucket '{}': {e}", t.bucket))?;
        if let Some(inj) = &t.embedded {
            server.set_injection(&t.bucket, injection(inj));
        }
    }
    Ok(server)
}

/// Points every target of the plan at `server`.
pub fn embedded_targets(plan: &Plan, server: &EmbeddedServer) -> Vec<TargetConfig> {
    plan.targets
        .iter()
        .map(|t| {
            TargetConfig::with_static_keys(
                t,
                &plan.client,
                &server.endpoint(),
                server.access_key(),
                server.secret_key(),
            )
        })
        .collect()
}

/// Maps the scenario's injection settings onto the server's.
pub fn injection(s: &InjectSpec) -> Injection {
    Injection {
        latency: s.latency.as_ref().map(|l| match l {
            LatencySpec::Fixed(d) => LatencyDist::Fixed(*d),
            LatencySpec::Uniform { min, max } => LatencyDist::Uniform {
                min: *min,
                max: *max,
            },
            LatencySpec::LogNormal { p50, p99 } => LatencyDist::LogNormal {
                p50: *p50,
                p99: *p99,
            },
        }),
        bandwidth: s.bandwidth,
        error_rate: s.error_rate,
        error_status: s.error_status,
        error_code: s.error_code.clone(),
        prefix_limit: s.prefix_limit.as_ref().map(|p| PrefixLimit {
            reads_per_sec: p.reads_per_sec,
            writes_per_sec: p.writes_per_sec,
        }),
    }
}

fn describe_injection(target: &str, s: &InjectSpec) -> Option<String> {
    let mut parts = Vec::new();
    match &s.latency {
        Some(LatencySpec::Fixed(d)) => parts.push(format!("latency {d:?}")),
        Some(LatencySpec::Uniform { min, max }) => {
            parts.push(format!("latency uniform {min:?}..{max:?}"))
        }
        Some(LatencySpec::LogNormal { p50, p99 }) => {
            parts.push(format!("latency log-normal p50 {p50:?} p99 {p99:?}"))
        }
        None => {}
    }
    if let Some(b) = s.bandwidth {
        parts.push(format!("bandwidth {} MiB/s per request", b / (1024 * 1024)));
    }
    if s.error_rate > 0.0 {
        parts.push(format!(
            "{:.2}% errors ({} {})",
            s.error_rate * 100.0,
            s.error_status,
            s.error_code
        ));
    }
    if let Some(p) = &s.prefix_limit {
        parts.push(format!(
            "per-prefix limit {} reads/s, {} writes/s (503 SlowDown above)",
            p.reads_per_sec, p.writes_per_sec
        ));
    }
    (!parts.is_empty()).then(|| format!("{target}: {}", parts.join(", ")))
}

fn utc_now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// (year, month, day) of an RFC 3339 UTC timestamp.
fn date_of(ts: &str) -> (i32, u32, u32) {
    let num = |r: std::ops::Range<usize>| ts.get(r).and_then(|s| s.parse().ok()).unwrap_or(1);
    (num(0..4) as i32, num(5..7), num(8..10))
}

fn load_label(phase: &Phase) -> String {
    let one = |l: &Load| match l {
        Load::Closed { concurrency } => format!("closed loop, {concurrency} workers"),
        Load::Open {
            rate,
            max_in_flight,
        } => format!("open loop, {rate} req/s, at most {max_in_flight} in flight"),
    };
    match phase.stages.as_slice() {
        [s] => one(&s.load),
        stages => {
            let parts: Vec<String> = stages
                .iter()
                .map(|s| {
                    let d = s
                        .duration
                        .map(|d| format!(" for {d:?}"))
                        .unwrap_or_default();
                    format!("{}{d}", one(&s.load))
                })
                .collect();
            format!("stages: {}", parts.join("; "))
        }
    }
}

fn is_open_loop(phase: &Phase) -> bool {
    phase
        .stages
        .iter()
        .any(|s| matches!(s.load, Load::Open { .. }))
}

/// Process CPU time (user + system) in seconds.
fn process_cpu_s() -> f64 {
    // SAFETY: getrusage writes into the struct we pass and nothing else.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut u) != 0 {
            return 0.0;
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(u.ru_utime) + tv(u.ru_stime)
    }
}

/// (busy, total) jiffies of the whole host, from /proc/stat (Linux only).
fn host_cpu() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 5 {
        return None;
    }
    let total: u64 = v.iter().sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// Accumulates one target's numbers over the rounds of one phase.
struct TargetAcc {
    total: Recorder,
    elapsed_s: f64,
    rounds: Vec<RoundResult>,
    timeseries: Vec<crate::report::model::SecondRow>,
    sessions: SessionResult,
    session_hist: Option<hdrhistogram::Histogram<u64>>,
}

impl TargetAcc {
    fn new() -> Self {
        TargetAcc {
            total: Recorder::default(),
            elapsed_s: 0.0,
            rounds: Vec::new(),
            timeseries: Vec::new(),
            sessions: SessionResult::default(),
            session_hist: None,
        }
    }

    fn add_round(&mut self, round: u32, r: &JobResult) {
        self.total.merge(&r.recorder);
        self.elapsed_s += r.elapsed_s;
        let mut ops = BTreeMap::new();
        for k in OpKind::ALL {
            if let Some(o) = &r.recorder.ops[k.index()] {
                ops.insert(k.as_str().to_string(), o.round_op(r.elapsed_s));
            }
        }
        self.rounds.push(RoundResult {
            round,
            elapsed_s: r.elapsed_s,
            ops,
        });
        self.timeseries
            .extend(r.recorder.timeseries(round, |i| OpKind::ALL[i].as_str()));
    }

    fn add_sessions(&mut self, d: crate::target::SessionDelta) {
        self.sessions.count += d.count;
        self.sessions.errors += d.errors;
        if d.count > 0 {
            let h = self.session_hist.get_or_insert_with(|| {
                let mut h = hdrhistogram::Histogram::new(3).expect("valid precision");
                h.auto(true);
                h
            });
            let _ = h.add(&d.latency);
        }
    }

    fn finish(mut self, name: &str, warmup: Duration, open_loop: bool) -> TargetPhaseResult {
        let to_map = |ops: &[Option<crate::stats::OpStats>], elapsed: f64| {
            let mut m = BTreeMap::<String, OpResult>::new();
            for k in OpKind::ALL {
                if let Some(o) = &ops[k.index()] {
                    m.insert(k.as_str().to_string(), o.to_result(elapsed, open_loop));
                }
            }
            m
        };
        let warm_s = warmup.as_secs_f64() * self.rounds.len() as f64;
        if let Some(h) = self.session_hist.take() {
            self.sessions.latency_us = Some(summarize(&h));
            self.sessions.histogram = Some(crate::stats::codec::encode(&h));
        }
        TargetPhaseResult {
            target: name.to_string(),
            elapsed_s: self.elapsed_s,
            ops: to_map(&self.total.ops, self.elapsed_s),
            warmup: to_map(&self.total.warmup, warm_s),
            sessions: self.sessions,
            rounds: self.rounds,
            timeseries: self.timeseries,
            attempts: self
                .total
                .attempts
                .ops
                .iter()
                .map(|(k, a)| {
                    (
                        k.clone(),
                        AttemptResult {
                            count: a.count,
                            retries: a.retries,
                            latency_us: summarize(&a.latency),
                            histogram: crate::stats::codec::encode(&a.latency),
                        },
                    )
                })
                .collect(),
        }
    }
}

/// Runs `plan` against ready-made targets. Tests call this with targets
/// pointing at their own embedded endpoint.
pub async fn execute(
    mut plan: Plan,
    targets: Vec<TargetConfig>,
    embedded: bool,
    opts: RunOptions,
    cancel: Arc<Cancel>,
) -> anyhow::Result<RunOutput> {
    if let Some(d) = opts.duration {
        plan.override_duration(d);
    }
    if let Some(r) = opts.rounds {
        if r == 0 {
            bail!("--rounds must be at least 1");
        }
        plan.rounds = r;
    }
    let started_at = utc_now();
    let date = date_of(&started_at);
    let run_id = match &opts.run_id {
        Some(id) => id.clone(),
        None => format!(
            "{}-{}-{:06x}",
            started_at
                .get(..19)
                .unwrap_or("")
                .replace([':', '-'], "")
                .replace('T', "-"),
            plan.name,
            fastrand::u32(..0x100_0000)
        ),
    };
    if !run_id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || run_id.is_empty()
    {
        bail!("run id '{run_id}' may hold only letters, digits, '-', '_' and '.'");
    }
    // Each shard of an array job has its own prefix and result directory;
    // `s3bench merge` joins them.
    let (dir_name, run_prefix) = match opts.shard {
        Some(s) => (
            format!("{run_id}-shard{}", s.index),
            format!("s3bench/{run_id}/shard-{}/", s.index),
        ),
        None => (run_id.clone(), format!("s3bench/{run_id}/")),
    };
    // Validate where results go before any request is sent.
    let dir = crate::report::prepare_out_dir(&opts.out, &dir_name)?;
    let run_prefix: Arc<str> = Arc::from(run_prefix);

    // Preflight: one plain sentence per unreachable endpoint, bad
    // credential or missing bucket, before anything is written.
    let mut main_clients = Vec::new();
    let mut problems = Vec::new();
    for t in &targets {
        let client = t.build_client();
        if let Err(p) = preflight(&client, t, &run_prefix).await {
            problems.push(p);
        }
        main_clients.push(client);
    }
    if !problems.is_empty() {
        return Err(PreflightError(problems.join("\n")).into());
    }
    for t in &targets {
        // The preflight's own CreateSession is not part of any phase.
        let _ = t.probe.take();
    }

    let threads = opts
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let mut targets = targets;
    let max_conc = plan
        .phases
        .iter()
        .flat_map(|p| &p.stages)
        .map(|s| match s.load {
            Load::Closed { concurrency } => concurrency,
            Load::Open { max_in_flight, .. } => max_in_flight,
        })
        .chain([plan.prepare.concurrency])
        .max()
        .unwrap_or(1);
    for t in &mut targets {
        t.pool_size = max_conc.div_ceil(threads).max(1);
    }
    let engine = Engine::start(targets.clone(), threads, cancel.clone())?;

    let plan = Arc::new(plan);
    let mut result = RunResult {
        schema_version: SCHEMA_VERSION,
        run_id: run_id.clone(),
        scenario: plan.name.clone(),
        scenario_file: opts.scenario_file.clone(),
        s3bench_version: env!("CARGO_PKG_VERSION").to_string(),
        sdk_version: aws_sdk_s3::meta::PKG_VERSION.to_string(),
        started_at: started_at.clone(),
        finished_at: started_at.clone(),
        run_prefix: run_prefix.to_string(),
        hosts: vec![HostInfo {
            hostname: gethostname::gethostname().to_string_lossy().into_owned(),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            shard: opts.shard.map(|s| s.index),
        }],
        embedded,
        injection: if embedded {
            plan.targets
                .iter()
                .filter_map(|t| {
                    t.embedded
                        .as_ref()
                        .and_then(|i| describe_injection(&t.name, i))
                })
                .collect()
        } else {
            Vec::new()
        },
        targets: plan
            .targets
            .iter()
            .zip(&targets)
            .map(|(t, c)| TargetInfo {
                name: t.name.clone(),
                kind: t.kind.as_str().to_string(),
                bucket: t.bucket.clone(),
                region: t.region.clone(),
                endpoint: c.endpoint.clone(),
                request_path: c.request_path(threads),
            })
            .collect(),
        phases: Vec::new(),
        complete: false,
        interrupted: None,
        client: ClientUsage {
            threads,
            ..ClientUsage::default()
        },
        shards: 1,
        warnings: Vec::new(),
    };
    if embedded && plan.targets.iter().any(|t| t.kind == TargetKind::Directory) {
        result.warnings.push(
            "The embedded endpoint emulates directory buckets and session auth; latencies come from its injection model, not from S3.".into(),
        );
    }
    crate::report::publish(&result, &dir)?;

    let progress = Progress::new(opts.progress);
    let mut cpu_s = 0.0;
    let mut requests = 0u64;
    let mut host_busy = (0u64, 0u64);

    // Prepare: write the data set on every target.
    if plan.prepare.enabled && plan.dataset.objects > 0 {
        let mut prepared = Vec::new();
        for (ti, t) in plan.targets.iter().enumerate() {
            if cancel.is_cancelled() {
                break;
            }
            progress.start(&format!("prepare {}", t.name), &engine);
            let r = engine
                .run(Job {
                    plan: plan.clone(),
                    kind: JobKind::Prepare,
                    target: ti,
                    round: 1,
                    run_prefix: run_prefix.clone(),
                    date,
                    start: Instant::now() + Duration::from_millis(20),
                })
                .await?;
            progress.finish();
            let mut acc = TargetAcc::new();
            acc.add_round(1, &r);
            acc.add_sessions(targets[ti].probe.take());
            let failed: u64 = r.recorder.ops.iter().flatten().map(|o| o.errors).sum();
            if failed > 0 {
                result.warnings.push(format!(
                    "prepare: {failed} objects of the data set could not be written on target '{}'; reads of them will fail.",
                    t.name
                ));
            }
            prepared.push(acc.finish(&t.name, Duration::ZERO, false));
        }
        result.phases.push(PhaseResult {
            name: "prepare".into(),
            load: format!(
                "write {} objects, {} at once",
                plan.dataset.objects, plan.prepare.concurrency
            ),
            rounds: 1,
            targets: prepared,
        });
        crate::report::publish(&result, &dir)?;
    }

    if let Some(at) = opts.start_at {
        match at.duration_since(SystemTime::now()) {
            Ok(wait) => {
                progress.note(&format!("waiting {wait:?} for the common start time"));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = cancel.cancelled() => {}
                }
            }
            Err(_) => result.warnings.push(
                "The common start time had passed when this shard finished preparing: shards did not start together.".into(),
            ),
        }
    }

    // Measured phases: rounds alternate targets (A B A B) so drift on the
    // machine or network hits every target alike.
    'phases: for (pi, phase) in plan.phases.iter().enumerate() {
        let mut accs: Vec<TargetAcc> = plan.targets.iter().map(|_| TargetAcc::new()).collect();
        for round in 1..=plan.rounds {
            for (ti, t) in plan.targets.iter().enumerate() {
                if cancel.is_cancelled() {
                    break;
                }
                progress.start(
                    &format!("{} r{}/{} {}", phase.name, round, plan.rounds, t.name),
                    &engine,
                );
                let cpu0 = process_cpu_s();
                let host0 = host_cpu();
                let r = engine
                    .run(Job {
                        plan: plan.clone(),
                        kind: JobKind::Phase(pi),
                        target: ti,
                        round,
                        run_prefix: run_prefix.clone(),
                        date,
                        start: Instant::now() + Duration::from_millis(20),
                    })
                    .await?;
                progress.finish();
                cpu_s += process_cpu_s() - cpu0;
                requests += r.recorder.requests();
                if let (Some(a), Some(b)) = (host0, host_cpu()) {
                    host_busy.0 += b.0 - a.0;
                    host_busy.1 += b.1 - a.1;
                }
                accs[ti].add_round(round, &r);
                accs[ti].add_sessions(targets[ti].probe.take());
            }
        }
        let open = is_open_loop(phase);
        result.phases.push(PhaseResult {
            name: phase.name.clone(),
            load: load_label(phase),
            rounds: plan.rounds,
            targets: accs
                .into_iter()
                .zip(&plan.targets)
                .map(|(a, t)| a.finish(&t.name, phase.warmup, open))
                .collect(),
        });
        result.client.cpu_s = cpu_s;
        result.client.cpu_us_per_request = if requests > 0 {
            cpu_s * 1e6 / requests as f64
        } else {
            0.0
        };
        result.client.host_cpu_percent =
            (host_busy.1 > 0).then(|| 100.0 * host_busy.0 as f64 / host_busy.1 as f64);
        result.finished_at = utc_now();
        // Written after every phase: a later phase may fail or be interrupted.
        crate::report::publish(&result, &dir)?;
        if cancel.is_cancelled() {
            break 'phases;
        }
    }
    engine.shutdown();

    if cancel.is_cancelled() {
        result.interrupted =
            Some("interrupted (Ctrl-C): phases after the interruption did not run".into());
    }
    if let Some(p) = result.client.host_cpu_percent
        && p > 85.0
    {
        result.warnings.push(format!(
            "Host CPU was {p:.0}% busy during measurement: the client (or the embedded endpoint) may have been the bottleneck, so the numbers may measure s3bench, not S3."
        ));
    }

    // Cleanup runs even after Ctrl-C, so nothing s3bench wrote is left
    // behind; a second Ctrl-C ends the process.
    if plan.cleanup && !opts.keep_data {
        let mut cleaned = Vec::new();
        for ((t, c), client) in plan.targets.iter().zip(&targets).zip(&main_clients) {
            progress.note(&format!("cleanup {}", t.name));
            let rec = cleanup(client, &c.spec.bucket, &run_prefix).await;
            match rec {
                Ok(acc) => cleaned.push(acc.finish(&t.name, Duration::ZERO, false)),
                Err(e) => result
                    .warnings
                    .push(format!("cleanup of target '{}' failed: {e:#}", t.name)),
            }
        }
        result.phases.push(PhaseResult {
            name: "cleanup".into(),
            load: "list and delete everything under the run prefix".into(),
            rounds: 1,
            targets: cleaned,
        });
    }
    result.complete = !cancel.is_cancelled();
    result.finished_at = utc_now();
    crate::report::publish(&result, &dir)?;
    Ok(RunOutput { result, dir })
}

/// One ListObjectsV2 under the run prefix per target. Unlike HeadBucket its
/// error responses carry a body, so a wrong secret, an unknown key and a
/// missing bucket can each be named; on directory buckets it also exercises
/// CreateSession and session auth. Cleanup needs the same permission.
async fn preflight(
    client: &aws_sdk_s3::Client,
    t: &TargetConfig,
    run_prefix: &str,
) -> Result<(), String> {
    let endpoint = t
        .endpoint
        .clone()
        .unwrap_or_else(|| format!("AWS {}", t.spec.region));
    let (name, bucket) = (&t.spec.name, &t.spec.bucket);
    // A 5xx (503 SlowDown, an injected fault) is transient: ask again a
    // few times before calling the target broken.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(run_prefix)
            .max_keys(1)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) => {
                let transient = e
                    .raw_response()
                    .is_some_and(|r| r.status().is_server_error());
                if !transient || attempt >= 5 {
                    return Err(describe_preflight(name, bucket, &endpoint, &e));
                }
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
        }
    }
}

/// Deletes everything under the run prefix: it holds only what this run wrote.
async fn cleanup(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    run_prefix: &str,
) -> anyhow::Result<TargetAcc> {
    let mut rec = Recorder::default();
    let t0 = Instant::now();
    let mut token = None;
    loop {
        let start = Instant::now();
        let page = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(run_prefix)
            .set_continuation_token(token.take())
            .send()
            .await;
        record_simple(&mut rec, OpKind::List, start, t0, page.is_err());
        let page = page.context("listing the run prefix")?;
        let ids: Vec<ObjectIdentifier> = page
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .filter(|k| k.starts_with(run_prefix))
            .filter_map(|k| ObjectIdentifier::builder().key(k).build().ok())
            .collect();
        if !ids.is_empty() {
            let start = Instant::now();
            let del = client
                .delete_objects()
                .bucket(bucket)
                .delete(
                    Delete::builder()
                        .set_objects(Some(ids))
                        .quiet(true)
                        .build()?,
                )
                .send()
                .await;
            record_simple(&mut rec, OpKind::Delete, start, t0, del.is_err());
            del.context("deleting objects under the run prefix")?;
        }
        match page.next_continuation_token {
            Some(t) if page.is_truncated == Some(true) => token = Some(t),
            _ => break,
        }
    }
    let mut acc = TargetAcc::new();
    acc.add_round(
        1,
        &JobResult {
            recorder: rec,
            elapsed_s: t0.elapsed().as_secs_f64(),
            cancelled: false,
        },
    );
    Ok(acc)
}

fn record_simple(rec: &mut Recorder, op: OpKind, start: Instant, t0: Instant, failed: bool) {
    let ns = start.elapsed().as_nanos() as u64;
    rec.record(
        op.index(),
        t0.elapsed().as_secs() as usize,
        &crate::stats::Sample {
            latency_ns: ns,
            service_ns: ns,
            ttfb_ns: None,
            bytes: 0,
            requests: 1,
            error: failed.then_some("request failed"),
            throttled: false,
            late_start: false,
            behind_session: false,
        },
    );
}

/// Live progress: an indicatif spinner on a terminal, plain lines otherwise.
struct Progress {
    enabled: bool,
    tty: bool,
    state: std::sync::Mutex<Option<(indicatif::ProgressBar, tokio::task::JoinHandle<()>)>>,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        use std::io::IsTerminal;
        Progress {
            enabled,
            tty: std::io::stderr().is_terminal(),
            state: std::sync::Mutex::new(None),
        }
    }

    fn note(&self, msg: &str) {
        if self.enabled {
            eprintln!("{msg}");
        }
    }

    fn start(&self, label: &str, engine: &Engine) {
        if !self.enabled {
            return;
        }
        if !self.tty {
            eprintln!("{label} ...");
            return;
        }
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed:>4} {prefix}: {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        pb.set_prefix(label.to_string());
        let (ops0, err0) = engine.live();
        let counters = engine_live_reader(engine);
        let pb2 = pb.clone();
        let handle = tokio::spawn(async move {
            let mut last = (ops0, Instant::now());
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let (ops, errs) = counters();
                let dt = last.1.elapsed().as_secs_f64().max(1e-3);
                let rate = (ops - last.0) as f64 / dt;
                last = (ops, Instant::now());
                pb2.set_message(format!(
                    "{} ops, {:.0} ops/s, {} errors",
                    ops - ops0,
                    rate,
                    errs - err0
                ));
                pb2.tick();
            }
        });
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Some((pb, handle));
    }

    fn finish(&self) {
        if let Some((pb, h)) = self.state.lock().unwrap_or_else(|e| e.into_inner()).take() {
            h.abort();
            pb.finish();
        }
    }
}

fn engine_live_reader(engine: &Engine) -> impl Fn() -> (u64, u64) + Send + 'static {
    let lives = engine.live_handles();
    move || {
        lives.iter().fold((0, 0), |(o, e), l| {
            (
                o + l.ops.load(std::sync::atomic::Ordering::Relaxed),
                e + l.errors.load(std::sync::atomic::Ordering::Relaxed),
            )
        })
    }
}
