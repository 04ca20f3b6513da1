//! `s3bench run`: a scenario against its targets, published as report.md +
//! result.json; the cost question before a run that bills AWS; Ctrl-C and
//! SIGTERM handling.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::{RunCommand, parse};
use crate::engine::Cancel;
use crate::exit::{ExitCode, InputError};
use crate::plan::{RunOptions, RunPlan, shard_from};
use crate::run::confirm::question;
use crate::run::run_plan;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (TOML; see docs/scenario-format.md), or env:NAME for the
    /// TOML text in environment variable NAME (AWS Batch: env:S3BENCH_SCENARIO_TOML).
    pub scenario: PathBuf,
    /// Do not ask before a run whose estimated AWS cost is above --confirm-above.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Ask for confirmation when the estimated AWS cost (`s3bench plan`) is above this many US dollars.
    #[arg(long, value_name = "USD", env = "S3BENCH_CONFIRM_ABOVE", default_value_t = crate::run::confirm::DEFAULT_CONFIRM_ABOVE_USD)]
    pub confirm_above: f64,
    /// Start the embedded S3 endpoint on 127.0.0.1 and point every target at it (no AWS account needed).
    #[arg(long)]
    pub embedded: bool,
    /// Base directory for results.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Override every measured phase's duration (e.g. 5s for a smoke run).
    #[arg(long, value_parser = parse::duration)]
    pub duration: Option<Duration>,
    /// Alternating rounds per target (A B A B ...); overrides the scenario.
    #[arg(long)]
    pub rounds: Option<u32>,
    /// Engine threads, one current-thread runtime each (default: CPUs).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Leave the objects this run wrote in place (skip cleanup).
    #[arg(long)]
    pub keep_data: bool,
    /// Go on with a run prefix that already holds objects (an earlier run with
    /// this --run-id): keep the objects at the data set's keys instead of refusing.
    #[arg(long, requires = "run_id")]
    pub resume: bool,
    /// No live progress on stderr, and no log lines below errors (the AWS
    /// SDK's WARN lines); the run's own warnings are still printed.
    #[arg(long, short)]
    pub quiet: bool,
    /// Run id shared by every shard of an array job (letters, digits, - _ .).
    #[arg(long, env = "S3BENCH_RUN_ID")]
    pub run_id: Option<String>,
    /// This shard's index in an array job. Without the flag: JOB_COMPLETION_INDEX
    /// (Kubernetes Indexed Job) or AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch array
    /// job), which must agree when both are set.
    #[arg(long)]
    pub shard_index: Option<u32>,
    /// Number of shards in the array job.
    #[arg(long, env = "S3BENCH_SHARD_COUNT")]
    pub shard_count: Option<u32>,
    /// UTC time (RFC 3339, e.g. 2026-11-29T12:00:00Z) at which every shard starts its measured phases.
    #[arg(long, env = "S3BENCH_START_AT", value_parser = parse::time)]
    pub start_at: Option<std::time::SystemTime>,
    /// Meet the other shards in the first target's bucket after preparing
    /// (s3bench/<run id>/barrier/<shard>), then start the measured phases together.
    #[arg(long)]
    pub barrier: bool,
    /// How long a shard waits at the barrier before giving up (exit code 5).
    #[arg(long, default_value = "10m", value_parser = parse::duration, requires = "barrier")]
    pub barrier_timeout: Duration,
    /// Upload the run's folder to s3://BUCKET/PREFIX/<run id>/[shard-<i>/] when it ends
    /// (also after SIGTERM, Ctrl-C or the error policy).
    #[arg(long, value_name = "S3_URL")]
    pub results: Option<String>,
    /// S3 endpoint for the --results upload (tests, S3-compatible stores);
    /// credentials from the aws-config default chain.
    #[arg(long, value_name = "URL")]
    pub results_endpoint_url: Option<String>,
    /// A pass/fail check judged on the result, like 'express/get/p99 < 10ms'
    /// (repeatable; with the scenario's [[check]] tables); exit code 7 when
    /// one fails.
    #[arg(long = "check", value_name = "EXPR")]
    pub checks: Vec<String>,
    /// Serve live Prometheus metrics at http://ADDR/metrics while the run
    /// goes on (e.g. 127.0.0.1:9464; 0.0.0.0:9464 in a pod).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// How long --metrics-listen keeps serving after the run, so a last
    /// scrape sees the totals.
    #[arg(long, default_value = "5s", value_parser = parse::duration, requires = "metrics_listen")]
    pub metrics_linger: Duration,
    /// USD per accelerator-hour: the report prices the loader phases' idle
    /// accelerator time next to the bucket's bill (overrides the scenario's
    /// `[pricing] gpu_hour`).
    #[arg(long, value_name = "USD")]
    pub gpu_hour: Option<f64>,
    /// Write one row per request sent (preflight, prepare, phases, cleanup;
    /// each retry attempt and CreateSession too) to ops.csv.gz in the run
    /// folder: gzip CSV that DuckDB, pandas and Spark read (docs/op-log.md).
    #[arg(long)]
    pub op_log: bool,
}

impl RunArgs {
    /// Low args -> high: the flags as the run's options (the scenario and
    /// `--embedded` stay with the caller).
    fn options(&self) -> anyhow::Result<RunOptions> {
        let shard = shard_from(self.shard_index, self.shard_count, |k| {
            std::env::var(k).ok()
        })?;
        let results = parse::results_url(self.results.as_deref())?;
        Ok(RunOptions {
            out: self.out.clone(),
            duration: self.duration,
            rounds: self.rounds,
            threads: self.threads,
            keep_data: self.keep_data,
            resume: self.resume,
            progress: !self.quiet,
            scenario_file: self.scenario.display().to_string(),
            run_id: self.run_id.clone(),
            shard,
            start_at: self.start_at,
            barrier: self.barrier.then_some(self.barrier_timeout),
            results,
            results_endpoint: self.results_endpoint_url.clone(),
            checks: self.checks.clone(),
            metrics_listen: self.metrics_listen,
            metrics_linger: self.metrics_linger,
            gpu_hour: self.gpu_hour,
            op_log: self.op_log,
        })
    }
}

impl RunCommand for RunArgs {
    /// The report's path on stdout, where it and result.json are on stderr;
    /// the exit code says how the run ended.
    async fn run(self) -> anyhow::Result<ExitCode> {
        // One plan, the flags applied: the cost question prices the run
        // that then runs.
        let plan = RunPlan::load(&self.scenario, self.embedded, self.options()?)?;
        if !self.yes
            && let Some(q) = question(&plan, self.confirm_above)
            && !confirmed(&q)
        {
            return Err(
                InputError(format!("not started: {q}; pass --yes to run it anyway")).into(),
            );
        }
        let cancel = Arc::new(Cancel::default());
        spawn_signal_handlers(cancel.clone());
        let mut out = run_plan(plan, cancel.clone()).await?;
        let report = out.dir.join("report.md");
        println!("{}", report.display());
        eprintln!(
            "report: {}\njson:   {}",
            report.display(),
            out.dir.join("result.json").display()
        );
        if let Some(why) = &out.result.interrupted {
            eprintln!("incomplete: {why}");
        }
        // The metrics endpoint stays up a little, so a last scrape sees
        // the totals.
        out.linger(&cancel).await;
        Ok(out.exit_code())
    }
}

/// Asks on a terminal; without one (CI, a pod) there is nobody to ask, so no.
fn confirmed(question: &str) -> bool {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("{question}. Start it? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
}

/// Ctrl-C and SIGTERM (what Kubernetes sends a pod it evicts) stop the
/// load, let requests in flight finish for a short grace, publish the report
/// and clean up; a second signal exits at once with what is already written.
fn spawn_signal_handlers(cancel: Arc<Cancel>) {
    use crate::engine::StopReason;
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("warning: cannot listen for SIGTERM: {e}");
                    return;
                }
            };
        let first = tokio::select! {
            r = tokio::signal::ctrl_c() => match r {
                Ok(()) => StopReason::Interrupt,
                Err(_) => return,
            },
            _ = term.recv() => StopReason::Terminate,
        };
        let (name, again) = match first {
            StopReason::Terminate => ("terminated (SIGTERM)", "another signal"),
            _ => ("interrupted", "Ctrl-C again"),
        };
        eprintln!(
            "\n{name}: letting requests in flight finish, then publishing the report and cleaning up ({again} to quit now)"
        );
        let code = crate::run::stop_exit_code(&first).code();
        cancel.cancel_with(first);
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        // Leave a complete op log behind even now (`run --op-log`).
        crate::oplog::finish_all_now(std::time::Duration::from_secs(2));
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        std::process::exit(code);
    });
}
