//! `s3bench run`, stage by stage: options ([`options`]) -> preflight
//! ([`preflight`]) -> prepare and measured phases in alternating rounds
//! ([`phases`]) -> cleanup ([`cleanup`]), with the result assembled from the
//! engine's recorders ([`assemble`]) and published after every phase, so an
//! interrupted run still leaves what it measured.

pub mod assemble;
pub mod audit;
mod checkpoint;
pub mod cleanup;
pub mod confirm;
mod dataloader;
pub mod host;
mod mix;
pub mod phases;
pub mod policy;
pub mod preflight;
pub mod progress;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::client::TargetConfig;
use anyhow::Context as _;

use crate::engine::{Cancel, Engine, StopReason};
use crate::exit::ExitCode;
use crate::oplog::Stage;
use crate::plan::{RunOptions, RunPlan, Shard};
use crate::report::model::{ClientUsage, HostInfo, RunResult, SCHEMA_VERSION, TargetInfo};
use crate::scenario::TargetKind;

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
    /// The `--metrics-listen` server, still serving the final totals, and
    /// how long it should go on after the run ([`RunOutput::linger`]).
    pub metrics: Option<(crate::metrics::MetricsServer, std::time::Duration)>,
}

impl RunOutput {
    /// The documented exit code of this outcome (see README "Exit codes"):
    /// a stopped or failed run keeps its own; a failed check is the last
    /// word on a run that went right otherwise. A shard of an array job
    /// judges its checks on its own slice and reports them, but `merge`
    /// gives the run's verdict (exit code 7 there).
    pub fn exit_code(&self) -> ExitCode {
        let shard = self.result.hosts.first().is_some_and(|h| h.shard.is_some());
        match &self.stopped {
            Some(r) => stop_exit_code(r),
            // The shard prepared and cleaned up, but measured nothing.
            None if self.start_failed.is_some() => ExitCode::BarrierFailed,
            None if !self.result.left_behind.is_empty() => ExitCode::LeftBehind,
            // The local copy in `dir` is complete; stderr names the upload.
            None if self.upload_failed.is_some() => ExitCode::ResultsNotUploaded,
            None if !shard && !crate::report::checks::all_passed(&self.result.checks) => {
                ExitCode::ChecksFailed
            }
            None => ExitCode::Success,
        }
    }

    /// Keeps the metrics endpoint up for `--metrics-linger` after the run,
    /// so a last scrape sees the totals, then stops it. A Ctrl-C or SIGTERM
    /// during the wait ends it (after a run a signal stopped, the signal
    /// handler's second signal does).
    pub async fn linger(&mut self, cancel: &Cancel) {
        if let Some((_, d)) = &self.metrics {
            if self.stopped.is_some() || cancel.is_cancelled() {
                tokio::time::sleep(*d).await;
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(*d) => {}
                    _ = cancel.cancelled() => {}
                }
            }
        }
        self.metrics = None;
    }
}

/// The exit code of a run stopped early for `r`.
pub fn stop_exit_code(r: &StopReason) -> ExitCode {
    match r {
        StopReason::Interrupt => ExitCode::Interrupted,
        StopReason::Terminate => ExitCode::Terminated,
        StopReason::FailurePolicy(_) => ExitCode::FailurePolicy,
    }
}

/// How long the `--results` upload may take: the run's files are small,
/// and after SIGTERM the pod's grace period is running.
pub const RESULTS_UPLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `plan` against its targets: the scenario's own, or a freshly
/// started embedded endpoint's when the plan says `embedded`.
pub async fn run_plan(plan: RunPlan, cancel: Arc<Cancel>) -> anyhow::Result<RunOutput> {
    let resolved = crate::targets::resolve(&plan.scenario, plan.embedded).await?;
    let configs = resolved.configs.clone();
    let out = run_on_targets(plan, configs, cancel).await;
    resolved.shutdown();
    out
}

/// Runs `plan` against ready-made targets, one per target of its scenario.
/// Tests call this with targets pointing at their own embedded endpoint.
/// The stages: where the run writes, preflight, pool sizing, engine start,
/// the first publication, prepare and the measured phases (after the start
/// barrier of a shard), then cleanup and the last publication.
pub async fn run_on_targets(
    run: RunPlan,
    targets: Vec<TargetConfig>,
    cancel: Arc<Cancel>,
) -> anyhow::Result<RunOutput> {
    let started_at = utc_now();
    let threads = run.threads();
    let RunPlan {
        scenario: plan,
        embedded,
        run_id,
        options: opts,
        checks,
    } = run;
    let place = Place::of(&run_id, opts.shard);
    // Validate where results go before any request is sent.
    let dir = run_dir(&opts, &place.dir_name)?;
    let metrics = serve_metrics(&opts, &plan, &run_id, threads, &targets, &dir)?;
    let run_prefix: Arc<str> = Arc::from(place.run_prefix);
    // Every request from here on gets its row (`--op-log`).
    let mut targets = targets;
    let mut logged = open_op_log(opts.op_log, &plan, &dir, &mut targets)?;
    let Checked {
        clients,
        mut preflights,
    } = preflight_or_leave_nothing(&targets, embedded, &run_prefix, &opts, &mut logged, &dir)
        .await?;
    let (op_log, sink) = logged;
    let clock_offset = match opts.shard {
        Some(_) => {
            let probe = shard_clock(&targets[0], &clients[0], &run_prefix, &mut preflights[0]);
            coordinator(sink.as_ref(), Stage::Preflight, probe).await
        }
        None => None,
    };
    for (t, p) in targets.iter_mut().zip(&preflights) {
        t.create_only = p.conditional_writes;
    }
    let pool_size = crate::plan::max_in_flight(&plan).div_ceil(threads).max(1);
    for t in &mut targets {
        t.pool_size = pool_size;
    }
    let engine = Engine::start(targets.clone(), threads, cancel.clone())?.with_op_log(sink.clone());

    let plan = Arc::new(plan);
    let start = Start {
        run_id: &run_id,
        scenario_file: &opts.scenario_file,
        started_at: &started_at,
        run_prefix: &run_prefix,
        embedded,
        threads,
        shard: opts.shard,
        clock_offset,
        gpu_hour: opts.gpu_hour.or(plan.pricing.gpu_hour),
    };
    let mut result = initial_result(&plan, &targets, &preflights, &start);
    crate::report::publish(&result, &dir)?;
    preflight_metrics(metrics.as_ref().map(|(m, _)| m), &result);

    let progress = progress::Progress::new(opts.progress, phases::planned_time(&plan));
    let mut runner = phases::Runner {
        plan: plan.clone(),
        engine: &engine,
        targets: &targets,
        cancel: &cancel,
        progress: &progress,
        run_prefix: run_prefix.clone(),
        resume: opts.resume,
        date: date_of(&started_at),
        dir: &dir,
        usage: phases::Usage::default(),
        metrics: metrics.as_ref().map(|(m, _)| m.clone()),
        shard: opts.shard,
        auditor: audit::Auditor::new(&targets).with_op_log(sink.clone()),
    };
    // The coordinator's requests while measuring are the start barrier's
    // (the engine's threads log their own).
    let measured = measure(&mut runner, &opts, &clients[0], &run_id, &mut result);
    let start_failed = coordinator(sink.as_ref(), Stage::Barrier, measured).await?;
    engine.shutdown();
    for (info, t) in result.targets.iter_mut().zip(&targets) {
        (info.checksum_checked, info.checksum_unchecked) = t.body_checks.get();
    }
    if let (Some(_), Some(shard)) = (opts.barrier, opts.shard) {
        let removed = remove_barrier(
            &clients[0],
            &targets[0],
            &run_id,
            shard,
            &opts,
            &progress,
            &mut result,
        );
        coordinator(sink.as_ref(), Stage::Barrier, removed).await;
    }

    let stopped = cancel.reason();
    note_how_it_ended(&mut result, stopped.as_ref(), start_failed.as_deref());

    // Cleanup runs even after Ctrl-C, SIGTERM or the error policy, so
    // nothing s3bench wrote is left behind; a second signal ends the process.
    if plan.cleanup && !opts.keep_data {
        phases::cleanup(
            &plan,
            &targets,
            &clients,
            &run_prefix,
            &run_id,
            &opts.scenario_file,
            &progress,
            &mut result,
            metrics.as_ref().map(|(m, _)| m),
            sink.as_ref(),
        )
        .await;
    }
    drop(sink);
    if let Some(l) = op_log {
        // Finished before the last publish, stopped run or not: the file
        // is complete, and the result says how many rows it holds.
        finish_op_log(l, opts.shard, &mut result);
    }
    let complete = stopped.is_none() && start_failed.is_none();
    let said = metrics.as_ref().map(|(m, _)| m);
    publish_last(&mut result, complete, &checks, &dir, said, &progress)?;
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
        metrics: metrics.map(|(_, server)| (server, opts.metrics_linger)),
    })
}

/// The last publication: how complete the run is, its checks judged on
/// what it measured, the files written, then the checks and the warnings
/// said on the terminal.
fn publish_last(
    result: &mut RunResult,
    complete: bool,
    checks: &[crate::scenario::CheckSpec],
    dir: &Path,
    metrics: Option<&crate::metrics::Metrics>,
    progress: &progress::Progress,
) -> anyhow::Result<()> {
    result.complete = complete;
    result.finished_at = utc_now();
    result.checks = crate::report::checks::judge(checks, result);
    crate::report::publish(result, dir)?;
    report_checks(result, metrics, progress);
    for w in crate::report::audit::warnings(result)
        .into_iter()
        .chain(crate::report::markdown::failure_warnings(result))
    {
        progress.always(&format!("warning: {w}"));
    }
    Ok(())
}

/// The preflight, its requests logged. When it fails nothing was measured:
/// no empty run folder is left behind, nor a request log of the checks.
async fn preflight_or_leave_nothing(
    targets: &[TargetConfig],
    embedded: bool,
    run_prefix: &str,
    opts: &RunOptions,
    (op_log, sink): &mut OpLogged,
    dir: &Path,
) -> anyhow::Result<Checked> {
    match preflight_all(targets, embedded, run_prefix, opts.resume, sink.as_ref()).await {
        Ok(c) => Ok(c),
        Err(e) => {
            if let Some(l) = op_log.take() {
                l.discard();
            }
            let _ = std::fs::remove_dir(dir);
            Err(e.into())
        }
    }
}

/// `--metrics-listen`: the run's live metrics, served from now on. The
/// address is bound here, so one in use is bad input, said before anything
/// is sent.
fn serve_metrics(
    opts: &RunOptions,
    plan: &crate::scenario::Plan,
    run_id: &str,
    threads: usize,
    targets: &[TargetConfig],
    dir: &Path,
) -> anyhow::Result<Option<(crate::metrics::Metrics, crate::metrics::MetricsServer)>> {
    let Some(addr) = opts.metrics_listen else {
        return Ok(None);
    };
    let names: Vec<String> = plan.targets.iter().map(|t| t.name.clone()).collect();
    let shard = opts.shard.map(|s| s.index);
    let m = crate::metrics::Metrics::new(run_id, &plan.name, shard, threads, &names, plan.rounds);
    let server = m.serve(addr).map_err(|e| {
        // Nothing was measured: leave no empty run folder behind.
        let _ = std::fs::remove_dir(dir);
        crate::plan::OptionsError(format!("--metrics-listen {addr}: cannot listen there: {e}"))
    })?;
    eprintln!("metrics: http://{}/metrics", server.local_addr());
    for t in targets {
        let probe = t.probe.clone();
        m.add_sessions(&t.spec.name, Arc::new(move || probe.totals()));
    }
    Ok(Some((m, server)))
}

/// The checks' verdicts on stderr (a count, and a line per failed check)
/// and in the live metrics, which then say the run has ended.
fn report_checks(
    result: &RunResult,
    metrics: Option<&crate::metrics::Metrics>,
    progress: &progress::Progress,
) {
    let failed: Vec<_> = result.checks.iter().filter(|c| !c.passed).collect();
    if let Some(m) = metrics {
        m.finish(result.checks.len() - failed.len(), failed.len());
    }
    if result.checks.is_empty() {
        return;
    }
    progress.always(&format!(
        "checks: {} passed, {} failed{}",
        result.checks.len() - failed.len(),
        failed.len(),
        if result.complete {
            ""
        } else {
            " (judged on an incomplete run)"
        }
    ));
    for c in failed {
        progress.always(&format!("  {}", crate::report::checks::sentence(c)));
    }
}

/// The run's op log (`--op-log`) in its folder, and its sink, which the
/// targets' clients then tag their requests for.
type OpLogged = (Option<crate::oplog::OpLog>, Option<Arc<crate::oplog::Sink>>);

fn open_op_log(
    on: bool,
    plan: &crate::scenario::Plan,
    dir: &std::path::Path,
    targets: &mut [TargetConfig],
) -> anyhow::Result<OpLogged> {
    for t in targets.iter_mut() {
        t.op_log = on;
    }
    if !on {
        return Ok((None, None));
    }
    let names = crate::oplog::Names {
        targets: plan.targets.iter().map(|t| t.name.clone()).collect(),
        phases: plan.phases.iter().map(|p| p.name.clone()).collect(),
    };
    let log =
        crate::oplog::OpLog::create(dir, names, std::time::Instant::now()).with_context(|| {
            format!(
                "--op-log: cannot create {}",
                dir.join(crate::oplog::FILE_NAME).display()
            )
        })?;
    let sink = log.sink().clone();
    Ok((Some(log), Some(sink)))
}

/// `fut` with the coordinator's requests logged under the first target
/// and `stage` (when logging).
fn coordinator<F: std::future::Future>(
    sink: Option<&Arc<crate::oplog::Sink>>,
    stage: Stage,
    fut: F,
) -> impl std::future::Future<Output = F::Output> + use<F> {
    crate::oplog::scope(sink, crate::oplog::Ctx::coordinator(0, stage), false, fut)
}

/// Finishes the op log and says in the result what it holds.
fn finish_op_log(l: crate::oplog::OpLog, shard: Option<Shard>, result: &mut RunResult) {
    let s = l.finish();
    if let Some(e) = &s.error {
        result.warnings.push(format!(
            "The op log {} is incomplete: writing it failed ({e}); {} rows were not written.",
            s.path.display(),
            s.lost
        ));
    } else if s.lost > 0 {
        result.warnings.push(format!(
            "The op log {} lacks {} rows of requests recorded after it was finished.",
            s.path.display(),
            s.lost
        ));
    }
    if s.stalls > 0 {
        result.warnings.push(format!(
            "The op log's writer fell behind {} times: engine threads waited {:.1} ms in all for the disk, which delayed their next requests.",
            s.stalls, s.stalled_ms
        ));
    }
    result.op_logs.push(crate::report::model::OpLogInfo {
        file: crate::oplog::FILE_NAME.to_string(),
        shard: shard.map(|s| s.index),
        rows: s.rows,
        lost: s.lost,
        stalls: s.stalls,
        stalled_ms: s.stalled_ms,
    });
}

/// Why the run ended early (a signal, the error policy, a failed start
/// barrier), and whether the host was too busy to trust, in the result.
fn note_how_it_ended(
    result: &mut RunResult,
    stopped: Option<&StopReason>,
    start_failed: Option<&str>,
) {
    if let Some(r) = stopped {
        result.interrupted = Some(r.describe());
    } else if let Some(why) = start_failed {
        result.interrupted = Some(why.to_string());
    }
    if let Some(p) = result.client.host_cpu_percent
        && p > 85.0
    {
        result.warnings.push(format!(
            "Host CPU was {p:.0}% busy during measurement: the client (or the embedded endpoint) may have been the bottleneck, so the numbers may measure s3bench, not S3."
        ));
    }
}

/// The run's local folder, `<out>/<dir>/`, created; a reused run id is
/// refused first ([`refuse_reused_dir`]).
fn run_dir(opts: &RunOptions, dir: &str) -> anyhow::Result<PathBuf> {
    refuse_reused_dir(&opts.out, dir, opts.resume)?;
    crate::report::prepare_out_dir(&opts.out, dir)
}

/// The preflight's requests per target, in the live metrics from the start.
fn preflight_metrics(m: Option<&crate::metrics::Metrics>, result: &RunResult) {
    let Some(m) = m else { return };
    for t in &result.targets {
        m.set_preflight(&t.name, &t.preflight_requests);
    }
}

/// A reused `--run-id` is refused (bad input, exit code 2) when
/// `<out>/<dir>/` already holds a run's result: the new run would replace
/// that report. `--resume` says the reuse is meant.
fn refuse_reused_dir(out: &Path, dir: &str, resume: bool) -> Result<(), crate::exit::InputError> {
    let earlier = out.join(dir).join(crate::report::RESULT_FILE);
    if resume || !earlier.exists() {
        return Ok(());
    }
    Err(crate::exit::InputError(format!(
        "run id {dir:?} was used before: {} holds its result; choose another --run-id (or leave it out for a fresh one), move that folder away, or pass --resume to go on with it",
        earlier.display()
    )))
}

/// Where a run writes: its local folder's name and its S3 prefix. Each
/// shard of an array job has its own of both; `s3bench merge` joins them.
struct Place {
    dir_name: String,
    run_prefix: String,
}

impl Place {
    fn of(run_id: &str, shard: Option<Shard>) -> Place {
        match shard {
            Some(s) => Place {
                dir_name: format!("{run_id}-shard{}", s.index),
                run_prefix: format!("s3bench/{run_id}/shard-{}/", s.index),
            },
            None => Place {
                dir_name: run_id.to_string(),
                run_prefix: format!("s3bench/{run_id}/"),
            },
        }
    }
}

/// What the preflight of every target gave: one client per target for the
/// run's own requests (barrier, cleanup) and each target's findings.
struct Checked {
    clients: Vec<aws_sdk_s3::Client>,
    preflights: Vec<preflight::Preflight>,
}

/// Preflight: the doctor's checks on every target, one plain sentence per
/// problem, before anything is written.
async fn preflight_all(
    targets: &[TargetConfig],
    embedded: bool,
    run_prefix: &str,
    resume: bool,
    sink: Option<&Arc<crate::oplog::Sink>>,
) -> Result<Checked, PreflightError> {
    let env = crate::doctor::Environment::for_targets(embedded).await;
    let mut clients = Vec::new();
    let mut problems = Vec::new();
    let mut preflights = Vec::new();
    for (ti, t) in targets.iter().enumerate() {
        let checked = crate::oplog::scope(
            sink,
            crate::oplog::Ctx::coordinator(ti, Stage::Preflight),
            false,
            preflight::check(t, &env, run_prefix, resume),
        );
        match checked.await {
            Ok(p) => preflights.push(p),
            Err(p) => problems.push(p),
        }
        clients.push(t.build_client());
    }
    if !problems.is_empty() {
        return Err(PreflightError(problems.join("\n")));
    }
    Ok(Checked {
        clients,
        preflights,
    })
}

/// A shard's clock against the endpoint, in its report: shards start
/// together only as well as their clocks agree. Its requests (LISTs, and
/// the client's CreateSession on a directory bucket) are the preflight's.
async fn shard_clock(
    target: &TargetConfig,
    client: &aws_sdk_s3::Client,
    run_prefix: &str,
    preflight: &mut preflight::Preflight,
) -> Option<crate::report::model::ClockOffset> {
    let probes = crate::cluster::clock::PROBES;
    let offset =
        crate::cluster::clock::measure(client, &target.spec.bucket, run_prefix, probes).await;
    *preflight
        .requests
        .entry("ListObjectsV2".to_string())
        .or_default() += u64::from(probes);
    let sessions = target.probe.take().count;
    if sessions > 0 {
        *preflight
            .requests
            .entry("CreateSession".to_string())
            .or_default() += sessions;
    }
    offset
}

/// What the result's header says about how the run started.
struct Start<'a> {
    run_id: &'a str,
    scenario_file: &'a str,
    started_at: &'a str,
    run_prefix: &'a str,
    embedded: bool,
    threads: usize,
    shard: Option<Shard>,
    clock_offset: Option<crate::report::model::ClockOffset>,
    /// USD per accelerator-hour for the report (`--gpu-hour`, else the
    /// scenario's `[pricing] gpu_hour`).
    gpu_hour: Option<f64>,
}

/// The result before any phase ran: who, where and what, each target with
/// what its preflight sent and found. Published at once, so even a run
/// that dies in prepare leaves it.
fn initial_result(
    plan: &crate::scenario::Plan,
    targets: &[TargetConfig],
    preflights: &[preflight::Preflight],
    s: &Start<'_>,
) -> RunResult {
    let mut result = RunResult {
        schema_version: SCHEMA_VERSION,
        run_id: s.run_id.to_string(),
        scenario: plan.name.clone(),
        scenario_file: s.scenario_file.to_string(),
        s3bench_version: env!("CARGO_PKG_VERSION").to_string(),
        sdk_version: aws_sdk_s3::meta::PKG_VERSION.to_string(),
        started_at: s.started_at.to_string(),
        finished_at: s.started_at.to_string(),
        run_prefix: s.run_prefix.to_string(),
        hosts: vec![HostInfo {
            hostname: gethostname::gethostname().to_string_lossy().into_owned(),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            shard: s.shard.map(|s| s.index),
            clock_offset: s.clock_offset,
            measured_start_at: None,
            barrier: None,
        }],
        embedded: s.embedded,
        injection: if s.embedded {
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
            .zip(targets)
            .zip(preflights)
            .map(|((t, c), p)| TargetInfo {
                name: t.name.clone(),
                kind: t.kind.as_str().to_string(),
                bucket: t.bucket.clone(),
                region: t.region.clone(),
                endpoint: c.endpoint.clone(),
                request_path: c.request_path(s.threads),
                checksum: c.settings.checksums.name().to_string(),
                checksum_checked: 0,
                checksum_unchecked: 0,
                preflight_requests: p.requests.clone(),
                audit_requests: Default::default(),
            })
            .collect(),
        phases: Vec::new(),
        complete: false,
        interrupted: None,
        left_behind: Vec::new(),
        client: ClientUsage {
            threads: s.threads,
            ..ClientUsage::default()
        },
        shards: 1,
        warnings: preflights.iter().flat_map(|p| p.warnings.clone()).collect(),
        checks: Vec::new(),
        gpu_hour_usd: s.gpu_hour,
        op_logs: Vec::new(),
    };
    if s.embedded && plan.targets.iter().any(|t| t.kind == TargetKind::Directory) {
        result.warnings.push(
            "The embedded endpoint emulates directory buckets and session auth; latencies come from its injection model, not from S3.".into(),
        );
    }
    result
}

/// Prepare, then (after `--start-at`, or a shard's start barrier) the
/// measured phases. Returns why the barrier failed, if it did: then no
/// measured phase ran.
async fn measure(
    runner: &mut phases::Runner<'_>,
    opts: &RunOptions,
    client: &aws_sdk_s3::Client,
    run_id: &str,
    result: &mut RunResult,
) -> anyhow::Result<Option<String>> {
    runner.prepare(result).await?;
    if let Some(at) = opts.start_at {
        runner.wait_until(at, result).await;
    }
    let start_failed = match (opts.barrier, opts.shard) {
        (Some(timeout), Some(shard)) if !runner.cancel.is_cancelled() => {
            let bucket = &runner.targets[0].spec.bucket;
            meet_at_barrier(runner, client, bucket, run_id, shard, timeout, result).await
        }
        _ => None,
    };
    if start_failed.is_none() && !runner.cancel.is_cancelled() {
        result.hosts[0].measured_start_at =
            Some(humantime::format_rfc3339_millis(SystemTime::now()).to_string());
        runner.measured_phases(result).await?;
    }
    Ok(start_failed)
}

/// Removes a shard's barrier object. It is no data set: it goes even with
/// `--keep-data`, so a shard retried later times out instead of measuring
/// alone. A failure is a warning naming the cleanup command.
async fn remove_barrier(
    client: &aws_sdk_s3::Client,
    target: &TargetConfig,
    run_id: &str,
    shard: Shard,
    opts: &RunOptions,
    progress: &progress::Progress,
    result: &mut RunResult,
) {
    let bucket = &target.spec.bucket;
    if let Err(e) = crate::cluster::barrier::remove(client, bucket, run_id, shard.index).await {
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
