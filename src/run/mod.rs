//! `s3bench run`, stage by stage: options ([`options`]) -> preflight
//! ([`preflight`]) -> prepare and measured phases in alternating rounds
//! ([`phases`]) -> cleanup ([`cleanup`]), with the result assembled from the
//! engine's recorders ([`assemble`]) and published after every phase, so an
//! interrupted run still leaves what it measured.

pub mod assemble;
mod checkpoint;
pub mod cleanup;
pub mod confirm;
pub mod host;
mod loader;
pub mod options;
pub mod phases;
pub mod policy;
pub mod preflight;
pub mod progress;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context as _;

use crate::client::TargetConfig;
use crate::engine::{Cancel, Engine, StopReason};
use crate::report::model::{ClientUsage, HostInfo, RunResult, SCHEMA_VERSION, TargetInfo};
use crate::scenario::{Load, Plan, TargetKind};
use crate::server::{EmbeddedServer, ServerConfig};

pub use options::{OptionsError, RunOptions, Shard};
pub use preflight::PreflightError;

/// What a finished (or interrupted) run leaves behind.
pub struct RunOutput {
    pub result: RunResult,
    /// Where `report.md` and `result.json` were written.
    pub dir: PathBuf,
    /// Why the run stopped early, if it did (decides the exit code).
    pub stopped: Option<StopReason>,
    /// The start barrier did not complete (timeout, or S3 refused its
    /// requests): no measured phase ran.
    pub start_failed: Option<String>,
    /// `--results` was given and the upload failed; the local copy in
    /// `dir` is complete.
    pub upload_failed: Option<String>,
}

impl RunOutput {
    /// The documented exit code of this outcome (see README "Exit codes").
    pub fn exit_code(&self) -> i32 {
        match &self.stopped {
            Some(r) => r.exit_code(),
            None if self.start_failed.is_some() => EXIT_BARRIER_FAILED,
            None if !self.result.left_behind.is_empty() => EXIT_LEFT_BEHIND,
            None if self.upload_failed.is_some() => EXIT_RESULTS_NOT_UPLOADED,
            None => 0,
        }
    }
}

/// Exit code of a run whose cleanup could not delete everything it wrote.
pub const EXIT_LEFT_BEHIND: i32 = 4;
/// Exit code of a shard whose start barrier did not complete (a shard never
/// arrived within `--barrier-timeout`, or S3 refused the barrier's
/// requests): it prepared and cleaned up, but measured nothing.
pub const EXIT_BARRIER_FAILED: i32 = 5;
/// Exit code of a run that finished but could not upload its results to
/// `--results` (the local copy is complete; stderr names it).
pub const EXIT_RESULTS_NOT_UPLOADED: i32 = 6;
/// How long the `--results` upload may take: the run's files are small,
/// and after SIGTERM the pod's grace period is running.
pub const RESULTS_UPLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Loads a scenario and runs it against its own targets, or against a
/// freshly started embedded endpoint when `embedded` is set.
pub async fn run_file(
    path: &Path,
    embedded: bool,
    opts: RunOptions,
    cancel: Arc<Cancel>,
) -> anyhow::Result<RunOutput> {
    opts.validate()?;
    let plan = crate::cluster::load_scenario(path)?;
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
    start_embedded_with(plan, ServerConfig::default())
}

/// [`start_embedded`] with a server configuration of the caller's (a short
/// session lifetime, say, so a test sees sessions renewed mid-phase).
pub fn start_embedded_with(plan: &Plan, cfg: ServerConfig) -> anyhow::Result<EmbeddedServer> {
    let server = EmbeddedServer::start(cfg)
        .context("could not start the embedded S3 endpoint on 127.0.0.1")?;
    for t in &plan.targets {
        server
            .create_bucket(&t.bucket)
            .map_err(|e| anyhow::anyhow!("embedded endpoint: bucket '{}': {e}", t.bucket))?;
        if let Some(inj) = &t.embedded {
            server.set_injection(&t.bucket, inj.clone());
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

/// Runs `plan` against ready-made targets. Tests call this with targets
/// pointing at their own embedded endpoint.
pub async fn execute(
    mut plan: Plan,
    targets: Vec<TargetConfig>,
    embedded: bool,
    opts: RunOptions,
    cancel: Arc<Cancel>,
) -> anyhow::Result<RunOutput> {
    opts.validate()?;
    if let Some(d) = opts.duration {
        plan.override_duration(d);
    }
    if let Some(r) = opts.rounds {
        plan.rounds = r;
    }
    let started_at = utc_now();
    let date = date_of(&started_at);
    let run_id = match &opts.run_id {
        Some(id) => id.clone(),
        None => crate::cluster::generate_run_id(&plan.name, SystemTime::now()),
    };
    options::check_run_id(&run_id)?;
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

    // Preflight: the doctor's checks, one plain sentence per problem,
    // before anything is written.
    let env = if embedded {
        // The embedded endpoint's buckets live on this machine: no zone.
        crate::doctor::Environment::default()
    } else {
        crate::doctor::Environment::detect().await
    };
    let mut main_clients = Vec::new();
    let mut problems = Vec::new();
    let mut preflights = Vec::new();
    for t in &targets {
        match preflight::check(t, &env, &run_prefix, opts.resume).await {
            Ok(p) => preflights.push(p),
            Err(p) => problems.push(p),
        }
        main_clients.push(t.build_client());
    }
    if !problems.is_empty() {
        // Nothing was measured: leave no empty run folder behind.
        let _ = std::fs::remove_dir(&dir);
        return Err(PreflightError(problems.join("\n")).into());
    }
    // A shard's clock against the endpoint, in its report: shards start
    // together only as well as their clocks agree. Its LISTs are the
    // preflight's too.
    let clock_offset = match opts.shard {
        Some(_) => {
            let probes = crate::cluster::clock::PROBES;
            let offset = crate::cluster::clock::measure(
                &main_clients[0],
                &targets[0].spec.bucket,
                &run_prefix,
                probes,
            )
            .await;
            *preflights[0]
                .requests
                .entry("ListObjectsV2".to_string())
                .or_default() += u64::from(probes);
            // Its client's CreateSession on a directory bucket, likewise.
            let sessions = targets[0].probe.take().count;
            if sessions > 0 {
                *preflights[0]
                    .requests
                    .entry("CreateSession".to_string())
                    .or_default() += sessions;
            }
            offset
        }
        None => None,
    };
    let mut targets = targets;
    for (t, p) in targets.iter_mut().zip(&preflights) {
        t.create_only = p.conditional_writes;
    }

    let threads = opts
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let max_conc = plan
        .phases
        .iter()
        .flat_map(|p| &p.stages)
        .map(|s| match s.load {
            Load::Closed { concurrency } => concurrency,
            Load::Open { max_in_flight, .. } => max_in_flight,
        })
        .chain([plan.prepare.concurrency])
        .chain(
            plan.phases
                .iter()
                .filter_map(|p| p.loader.as_ref())
                .map(|l| l.max_accelerators() as usize * l.read_concurrency as usize),
        )
        .chain(
            // A checkpoint's ranks each keep their parts in flight.
            plan.phases
                .iter()
                .filter_map(|p| p.checkpoint.as_ref())
                .map(|c| c.ranks as usize * crate::client::PART_CONCURRENCY),
        )
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
            clock_offset,
            measured_start_at: None,
            barrier: None,
        }],
        embedded,
        injection: if embedded {
            plan.targets
                .iter()
                .filter_map(|t| t.embedded.as_ref().and_then(|i| i.describe(&t.name)))
                .collect()
        } else {
            Vec::new()
        },
        targets: plan
            .targets
            .iter()
            .zip(&targets)
            .zip(&preflights)
            .map(|((t, c), p)| TargetInfo {
                name: t.name.clone(),
                kind: t.kind.as_str().to_string(),
                bucket: t.bucket.clone(),
                region: t.region.clone(),
                endpoint: c.endpoint.clone(),
                request_path: c.request_path(threads),
                checksum: c.settings.checksums.name().to_string(),
                checksum_checked: 0,
                checksum_unchecked: 0,
                preflight_requests: p.requests.clone(),
            })
            .collect(),
        phases: Vec::new(),
        complete: false,
        interrupted: None,
        left_behind: Vec::new(),
        client: ClientUsage {
            threads,
            ..ClientUsage::default()
        },
        shards: 1,
        warnings: preflights.iter().flat_map(|p| p.warnings.clone()).collect(),
        gpu_hour_usd: opts.gpu_hour.or(plan.pricing.gpu_hour),
    };
    if embedded && plan.targets.iter().any(|t| t.kind == TargetKind::Directory) {
        result.warnings.push(
            "The embedded endpoint emulates directory buckets and session auth; latencies come from its injection model, not from S3.".into(),
        );
    }
    crate::report::publish(&result, &dir)?;

    let progress = progress::Progress::new(opts.progress, phases::planned_time(&plan));
    let mut runner = phases::Runner {
        plan: plan.clone(),
        engine: &engine,
        targets: &targets,
        cancel: &cancel,
        progress: &progress,
        run_prefix: run_prefix.clone(),
        resume: opts.resume,
        date,
        dir: &dir,
        usage: phases::Usage::default(),
        shard: opts.shard,
    };
    runner.prepare(&mut result).await?;
    if let Some(at) = opts.start_at {
        runner.wait_until(at, &mut result).await;
    }
    let start_failed = match (opts.barrier, opts.shard) {
        (Some(timeout), Some(shard)) if !cancel.is_cancelled() => {
            meet_at_barrier(
                &runner,
                &main_clients[0],
                &targets[0].spec.bucket,
                &run_id,
                shard,
                timeout,
                &mut result,
            )
            .await
        }
        _ => None,
    };
    if start_failed.is_none() && !cancel.is_cancelled() {
        result.hosts[0].measured_start_at =
            Some(humantime::format_rfc3339_millis(SystemTime::now()).to_string());
        runner.measured_phases(&mut result).await?;
    }
    engine.shutdown();
    for (info, t) in result.targets.iter_mut().zip(&targets) {
        (info.checksum_checked, info.checksum_unchecked) = t.body_checks.get();
    }
    if let (Some(_), Some(shard)) = (opts.barrier, opts.shard) {
        // Its barrier object is no data set: it goes even with --keep-data,
        // so a shard retried later times out instead of measuring alone.
        let bucket = &targets[0].spec.bucket;
        if let Err(e) =
            crate::cluster::barrier::remove(&main_clients[0], bucket, &run_id, shard.index).await
        {
            let w = format!(
                "{e:#}; `s3bench cleanup {} --run-id {run_id}` removes it",
                if opts.scenario_file.is_empty() {
                    "SCENARIO"
                } else {
                    &opts.scenario_file
                }
            );
            progress.always(&format!("warning: {w}"));
            result.warnings.push(w);
        }
    }

    let stopped = cancel.reason();
    if let Some(r) = &stopped {
        result.interrupted = Some(r.describe());
    } else if let Some(why) = &start_failed {
        result.interrupted = Some(why.clone());
    }
    if let Some(p) = result.client.host_cpu_percent
        && p > 85.0
    {
        result.warnings.push(format!(
            "Host CPU was {p:.0}% busy during measurement: the client (or the embedded endpoint) may have been the bottleneck, so the numbers may measure s3bench, not S3."
        ));
    }

    // Cleanup runs even after Ctrl-C, SIGTERM or the error policy, so
    // nothing s3bench wrote is left behind; a second signal ends the process.
    if plan.cleanup && !opts.keep_data {
        phases::cleanup(
            &plan,
            &targets,
            &main_clients,
            &run_prefix,
            &run_id,
            &opts.scenario_file,
            &progress,
            &mut result,
        )
        .await;
    }
    result.complete = stopped.is_none() && start_failed.is_none();
    result.finished_at = utc_now();
    crate::report::publish(&result, &dir)?;
    for w in crate::report::markdown::failure_warnings(&result) {
        progress.always(&format!("warning: {w}"));
    }
    // Published last, complete or not: after SIGTERM, a failure-policy stop
    // or a failed barrier the partial result is what the merge reports.
    let upload_failed = match &opts.results {
        Some(dest) => upload_results(dest, opts.results_endpoint.as_deref(), &dir, &progress).await,
        None => None,
    };
    Ok(RunOutput {
        result,
        dir,
        stopped,
        start_failed,
        upload_failed,
    })
}

/// Waits at the start barrier, then until the common start. Records the
/// wait and the refined clock offset in the host's entry; returns why the
/// barrier failed, if it did (a signal while waiting is not a failure: the
/// stop reason says it).
async fn meet_at_barrier(
    runner: &phases::Runner<'_>,
    client: &aws_sdk_s3::Client,
    bucket: &str,
    run_id: &str,
    shard: Shard,
    timeout: std::time::Duration,
    result: &mut RunResult,
) -> Option<String> {
    use crate::cluster::barrier::{self, BarrierError};
    runner.progress.note(&format!(
        "start barrier: shard {} of {} waiting for the others (at most {})",
        shard.index,
        shard.count,
        humantime::format_duration(timeout)
    ));
    let met = barrier::wait(
        client,
        bucket,
        run_id,
        shard.index,
        shard.count,
        timeout,
        runner.cancel.cancelled(),
    )
    .await;
    let o = match met {
        Ok(o) => o,
        Err(BarrierError::Cancelled { .. }) => return None,
        Err(e) => return Some(e.to_string()),
    };
    let host = &mut result.hosts[0];
    host.clock_offset = match (host.clock_offset, o.clock_offset) {
        (Some(a), Some(b)) => Some(a.narrowed_by(b)),
        (a, b) => b.or(a),
    };
    host.barrier = Some(crate::report::model::BarrierWait {
        waited_s: o.waited.as_secs_f64(),
        last_arrival: o.last_arrival,
        late_s: o.late_by.map_or(0.0, |d| d.as_secs_f64()),
    });
    runner.wait_until(o.start_at, result).await;
    None
}

/// Uploads the run's folder under `dest`; returns the error to report, if
/// any (the local copy stays as it is either way).
async fn upload_results(
    dest: &crate::cluster::S3Url,
    endpoint: Option<&str>,
    dir: &Path,
    progress: &progress::Progress,
) -> Option<String> {
    let client = crate::cluster::s3_client(endpoint).await;
    let up = crate::cluster::results::upload_dir(&client, dest, dir);
    let why = match tokio::time::timeout(RESULTS_UPLOAD_TIMEOUT, up).await {
        Ok(Ok(keys)) => {
            let last = keys.last().map(String::as_str).unwrap_or("");
            progress.note(&format!(
                "results: uploaded {} files to s3://{}/{}",
                keys.len(),
                dest.bucket,
                last.rsplit_once('/').map_or("", |(p, _)| p)
            ));
            return None;
        }
        Ok(Err(e)) => format!("{e:#}"),
        Err(_) => format!(
            "not finished after {}",
            humantime::format_duration(RESULTS_UPLOAD_TIMEOUT)
        ),
    };
    let msg = format!(
        "results not uploaded to {dest}: {why}; the local copy is complete in {}",
        dir.display()
    );
    progress.always(&format!("error: {msg}"));
    Some(msg)
}

fn utc_now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// (year, month, day) of an RFC 3339 UTC timestamp.
fn date_of(ts: &str) -> (i32, u32, u32) {
    let num = |r: std::ops::Range<usize>| ts.get(r).and_then(|s| s.parse().ok()).unwrap_or(1);
    (num(0..4) as i32, num(5..7), num(8..10))
}
