//! Command line: clap definitions and the dispatch that `main` calls.
//! Exit codes: 0 success, 1 failure during the run, 2 bad input (scenario,
//! flags, unreachable targets), 130 interrupted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::engine::Cancel;
use crate::run::{RunOptions, run_file};

#[derive(Debug, Parser)]
#[command(
    name = "s3bench",
    version,
    about = "Load-test S3 General Purpose and S3 Express One Zone directory buckets side by side",
    long_about = "Load-test S3 General Purpose and S3 Express One Zone directory buckets side by side, \
on the same workload, with latency from HdrHistograms (coordinated-omission corrected under a fixed \
rate) and a Markdown + JSON report under results/."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario and publish report.md + result.json under results/.
    Run(RunArgs),
    /// Check scenario files without touching the network.
    Validate {
        /// Scenario files (TOML).
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
    /// Print what a scenario will do per target (requests, bytes, peak data,
    /// time, cost) without touching the network.
    Plan(PlanArgs),
    /// Serve the embedded S3 endpoint (general-purpose and directory buckets) until Ctrl-C.
    Serve(ServeArgs),
    /// Re-render report.md from a stored result.json.
    Report {
        /// A result.json written by `s3bench run` or `s3bench merge`.
        result: PathBuf,
        /// Directory for the new report.md (default: next to result.json).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Compare two stored results op by op (Markdown on stdout).
    Compare {
        /// Baseline result.json.
        a: PathBuf,
        /// Result.json to compare against the baseline.
        b: PathBuf,
    },
    /// Merge the result.json files of the shards of one array job, losslessly.
    Merge {
        /// Shard results (result.json of each shard).
        #[arg(required = true)]
        results: Vec<PathBuf>,
        /// Base directory for the merged report.
        #[arg(long, default_value = "results")]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Scenario file (TOML).
    pub scenario: PathBuf,
    /// Override every measured phase's duration, as `run --duration` does.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Alternating rounds per target, as `run --rounds` does.
    #[arg(long)]
    pub rounds: Option<u32>,
    /// Latency per operation assumed for closed-loop phases without an `ops`
    /// stop (default: 30ms General Purpose, 6ms Express).
    #[arg(long, value_parser = parse_duration)]
    pub assume_latency: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (TOML); see docs/scenario-format.md.
    pub scenario: PathBuf,
    /// Start the embedded S3 endpoint on 127.0.0.1 and point every target at it (no AWS account needed).
    #[arg(long)]
    pub embedded: bool,
    /// Base directory for results.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Override every measured phase's duration (e.g. 5s for a smoke run).
    #[arg(long, value_parser = parse_duration)]
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
    /// No live progress on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Run id shared by every shard of an array job (letters, digits, - _ .).
    #[arg(long, env = "S3BENCH_RUN_ID")]
    pub run_id: Option<String>,
    /// This shard's index in an array job (Kubernetes Indexed Jobs set JOB_COMPLETION_INDEX).
    #[arg(long, env = "JOB_COMPLETION_INDEX", requires = "shard_count")]
    pub shard_index: Option<u32>,
    /// Number of shards in the array job.
    #[arg(long, env = "S3BENCH_SHARD_COUNT", requires = "shard_index")]
    pub shard_count: Option<u32>,
    /// UTC time (RFC 3339, e.g. 2026-11-29T12:00:00Z) at which every shard starts its measured phases.
    #[arg(long, env = "S3BENCH_START_AT", value_parser = parse_time)]
    pub start_at: Option<std::time::SystemTime>,
}

fn parse_time(s: &str) -> Result<std::time::SystemTime, String> {
    humantime::parse_rfc3339_weak(s)
        .map_err(|e| format!("expected a UTC time like 2026-11-29T12:00:00Z: {e}"))
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. Only loopback unless you pass another address explicitly.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// Access key clients must sign with (default: random).
    #[arg(long, env = "S3BENCH_ACCESS_KEY")]
    pub access_key: Option<String>,
    /// Secret key clients must sign with (default: random).
    #[arg(long, env = "S3BENCH_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Region clients must sign for.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Directory-bucket session lifetime (S3: 5 minutes).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub session_lifetime: Duration,
    /// Buckets to create at start (names ending --x-s3 become directory buckets).
    #[arg(long = "bucket")]
    pub buckets: Vec<String>,
    /// Server threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Create the buckets of a scenario's targets, with the latency and
    /// faults of their `[targets.NAME.embedded]` tables.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Fixed latency added before every response head on the --bucket buckets.
    #[arg(long, value_parser = parse_duration)]
    pub latency: Option<Duration>,
    /// Fraction of requests (0..1) on the --bucket buckets answered with --error-status.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// HTTP status of injected errors.
    #[arg(long, default_value_t = 503)]
    pub error_status: u16,
    /// S3 error code of injected errors.
    #[arg(long, default_value = "SlowDown")]
    pub error_code: String,
    /// Per-prefix request-rate limit READS:WRITES per second on the --bucket
    /// buckets (S3: 5500:3500); above it requests get 503 SlowDown.
    #[arg(long, value_parser = parse_prefix_limit)]
    pub prefix_limit: Option<crate::server::PrefixLimit>,
}

fn parse_prefix_limit(s: &str) -> Result<crate::server::PrefixLimit, String> {
    let (r, w) = s
        .split_once(':')
        .ok_or_else(|| format!("expected READS:WRITES per second like 5500:3500, got {s:?}"))?;
    let n = |x: &str| {
        x.trim()
            .parse::<u32>()
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| format!("expected a positive whole number, got {x:?}"))
    };
    Ok(crate::server::PrefixLimit {
        reads_per_sec: n(r)?,
        writes_per_sec: n(w)?,
    })
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("expected a duration like \"30s\" or \"500ms\": {e}"))
}

/// Runs the command; returns the process exit code. Errors are printed here
/// with their whole chain, never as a panic.
pub async fn main(cli: Cli) -> i32 {
    match dispatch(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<crate::scenario::ScenarioError>().is_some()
                || e.downcast_ref::<InputError>().is_some()
            {
                2
            } else {
                1
            }
        }
    }
}

/// An error in what the user gave us (flags, targets): exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

async fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Run(a) => {
            let shard = match (a.shard_index, a.shard_count) {
                (Some(index), Some(count)) if index < count => {
                    Some(crate::run::Shard { index, count })
                }
                (Some(index), Some(count)) => {
                    return Err(InputError(format!(
                        "--shard-index {index} must be below --shard-count {count}"
                    ))
                    .into());
                }
                _ => None,
            };
            let cancel = Arc::new(Cancel::default());
            spawn_ctrl_c(cancel.clone());
            let opts = RunOptions {
                out: a.out,
                duration: a.duration,
                rounds: a.rounds,
                threads: a.threads,
                keep_data: a.keep_data,
                progress: !a.quiet,
                scenario_file: a.scenario.display().to_string(),
                run_id: a.run_id,
                shard,
                start_at: a.start_at,
            };
            let out = run_file(&a.scenario, a.embedded, opts, cancel.clone())
                .await
                .map_err(classify_run_error)?;
            let report = out.dir.join("report.md");
            println!("{}", report.display());
            eprintln!(
                "report: {}\njson:   {}",
                report.display(),
                out.dir.join("result.json").display()
            );
            Ok(if out.result.complete { 0 } else { 130 })
        }
        Command::Validate { scenarios } => {
            let mut bad = 0;
            for s in &scenarios {
                match crate::scenario::load(s) {
                    Ok(plan) => println!(
                        "{}: ok ({} targets, {} phases)",
                        s.display(),
                        plan.targets.len(),
                        plan.phases.len()
                    ),
                    Err(e) => {
                        eprintln!("{e}");
                        bad += 1;
                    }
                }
            }
            Ok(if bad > 0 { 2 } else { 0 })
        }
        Command::Plan(a) => {
            let mut plan = crate::scenario::load(&a.scenario)?;
            if let Some(d) = a.duration {
                if d.is_zero() {
                    return Err(InputError("--duration must be above zero".into()).into());
                }
                plan.override_duration(d);
            }
            if let Some(r) = a.rounds {
                if r == 0 {
                    return Err(InputError("--rounds must be at least 1".into()).into());
                }
                plan.rounds = r;
            }
            let opts = match a.assume_latency {
                Some(d) if d.is_zero() => {
                    return Err(InputError("--assume-latency must be above zero".into()).into());
                }
                Some(d) => crate::estimate::EstimateOptions::with_latency(d),
                None => crate::estimate::EstimateOptions::default(),
            };
            let e = crate::estimate::estimate(&plan, &opts);
            print!("{}", crate::estimate::render(&e));
            Ok(0)
        }
        Command::Serve(a) => {
            let mut cfg = crate::server::ServerConfig {
                listen: a.listen,
                region: a.region,
                session_lifetime: a.session_lifetime,
                threads: a.threads,
                ..crate::server::ServerConfig::default()
            };
            if let Some(k) = a.access_key {
                cfg.access_key = k;
            }
            if let Some(s) = a.secret_key {
                cfg.secret_key = s;
            }
            if !(0.0..=1.0).contains(&a.error_rate) {
                return Err(InputError(format!(
                    "--error-rate must be between 0 and 1, got {}",
                    a.error_rate
                ))
                .into());
            }
            let flags = crate::server::Injection {
                latency: a.latency.map(crate::server::LatencyDist::Fixed),
                bandwidth: None,
                error_rate: a.error_rate,
                error_status: a.error_status,
                error_code: a.error_code,
                prefix_limit: a.prefix_limit,
            };
            let mut buckets = a.buckets;
            let mut injections: Vec<(String, crate::server::Injection)> = Vec::new();
            if flags != crate::server::Injection::default() {
                injections.extend(buckets.iter().map(|b| (b.clone(), flags.clone())));
            }
            if let Some(path) = &a.scenario {
                let plan = crate::scenario::load(path)?;
                for t in &plan.targets {
                    buckets.push(t.bucket.clone());
                    if let Some(inj) = &t.embedded {
                        injections.push((t.bucket.clone(), crate::run::injection(inj)));
                    }
                }
            }
            crate::server::serve_forever(cfg, injections, buckets).await?;
            Ok(0)
        }
        Command::Report { result, out } => {
            let path = crate::report::rerender(&result, out.as_deref())?;
            println!("{}", path.display());
            Ok(0)
        }
        Command::Compare { a, b } => {
            print!("{}", crate::report::compare_files(&a, &b)?);
            Ok(0)
        }
        Command::Merge { results, out } => {
            let mut loaded = Vec::new();
            for r in &results {
                loaded.push(crate::report::json::read_result(r)?);
            }
            let merged = crate::report::merge::merge(&loaded)?;
            let dir = crate::report::prepare_out_dir(&out, &format!("{}-merged", merged.run_id))?;
            crate::report::publish(&merged, &dir)?;
            println!("{}", dir.join("report.md").display());
            Ok(0)
        }
    }
}

/// Preflight failures (unreachable endpoint, bad credentials, missing
/// bucket) and scenario errors are the user's input: exit code 2.
fn classify_run_error(e: anyhow::Error) -> anyhow::Error {
    if e.downcast_ref::<crate::scenario::ScenarioError>().is_some() {
        return e;
    }
    if e.downcast_ref::<crate::run::PreflightError>().is_some() {
        return InputError(format!("{e:#}")).into();
    }
    e
}

fn spawn_ctrl_c(cancel: Arc<Cancel>) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        eprintln!(
            "\ninterrupted: finishing the report with what was measured (Ctrl-C again to quit now)"
        );
        cancel.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    });
}
