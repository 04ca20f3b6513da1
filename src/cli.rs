//! Command line: clap definitions and the dispatch that `main` calls.
//! Exit codes: 0 success, 1 failure during the run, 2 bad input (scenario,
//! flags, unreachable targets), 3 stopped by the error policy, 4 the cleanup
//! left objects behind, 5 the start barrier did not complete, 6 the results
//! could not be uploaded to `--results`, 130 interrupted (Ctrl-C), 143
//! terminated (SIGTERM).

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
        /// Scenario files (TOML), or env:NAME for the text of environment variable NAME.
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
    /// Delete what a run left behind (after --keep-data, or a cleanup that
    /// could not finish): every key under s3bench/<run id>/ of the scenario's targets, nothing else.
    Cleanup {
        /// The scenario the run used (its targets are cleaned).
        scenario: PathBuf,
        /// The run id (printed by the run, and in result.json).
        #[arg(long)]
        run_id: String,
        /// List what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Create a General Purpose + directory bucket pair and print its [targets] block.
    Setup(crate::doctor::setup::SetupArgs),
    /// Check a scenario's targets before a run: credentials, buckets, CreateSession, clock, zone, TLS.
    Doctor {
        /// Scenario file (TOML).
        scenario: PathBuf,
        /// Check against a freshly started embedded endpoint instead.
        #[arg(long)]
        embedded: bool,
    },
    /// Merge the results of the shards of one array job, losslessly.
    Merge(MergeArgs),
    /// Print Kubernetes manifests (Indexed Job, merge Job, ConfigMap) for a distributed run.
    K8s(K8sArgs),
    /// Print an AWS Batch job definition and array-job submission (JSON) for a distributed run.
    Batch(BatchArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' result.json files, or one s3://BUCKET/PREFIX/RUN_ID/ URL
    /// under which each shard published shard-<i>/result.json.
    #[arg(required = true, value_name = "RESULTS")]
    pub inputs: Vec<String>,
    /// Base directory for the merged report.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Number of shards the run had: missing ones are named in the report.
    #[arg(long)]
    pub shards: Option<u32>,
    /// With an s3:// URL: wait up to this long for every shard's result.json
    /// (needs --shards), then merge what is there.
    #[arg(long, value_parser = parse_duration, requires = "shards")]
    pub wait: Option<Duration>,
    /// Also upload the merged report to s3://BUCKET/PREFIX/<run id>/merged/.
    #[arg(long, value_name = "S3_URL")]
    pub results: Option<String>,
    /// Exit 0 even when shards are missing (the report still names them);
    /// the default exit code then is 1.
    #[arg(long)]
    pub allow_missing: bool,
    /// S3 endpoint override (tests, S3-compatible stores); path-style addressing.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct K8sArgs {
    /// Scenario file (TOML); its text goes into a ConfigMap as is.
    pub scenario: PathBuf,
    /// Number of shards (pods), each running the whole scenario.
    #[arg(long)]
    pub shards: u32,
    /// Container image with s3bench as its entrypoint (see Dockerfile).
    #[arg(long)]
    pub image: String,
    /// Namespace for the Jobs and the ConfigMap (default: kubectl's).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Service account whose IAM role (IRSA / EKS Pod Identity) reaches the buckets.
    #[arg(long)]
    pub service_account: Option<String>,
    /// Where shards publish results: s3://BUCKET/PREFIX/ (pods have no shared disk).
    #[arg(long, value_name = "S3_URL")]
    pub results: String,
    /// Also print an example Karpenter NodePool and EC2NodeClass for benchmark nodes.
    #[arg(long)]
    pub karpenter: bool,
    /// Run id (default: UTC time, scenario name and a random suffix).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Zone ID to pin pods to (default: the directory bucket's, from its name).
    #[arg(long)]
    pub zone_id: Option<String>,
    /// How long each shard waits at the start barrier for the others.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub barrier_timeout: Duration,
}

#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Scenario file (TOML); its text travels in the job definition.
    pub scenario: PathBuf,
    /// Number of shards (array size, 2 to 10000).
    #[arg(long)]
    pub shards: u32,
    /// Container image with s3bench as its entrypoint (see Dockerfile).
    #[arg(long)]
    pub image: String,
    /// Batch job queue to submit to.
    #[arg(long)]
    pub job_queue: String,
    /// IAM role the containers run as (access to the buckets).
    #[arg(long)]
    pub job_role_arn: Option<String>,
    /// Where shards publish results: s3://BUCKET/PREFIX/.
    #[arg(long, value_name = "S3_URL")]
    pub results: String,
    /// Run id (default: UTC time, scenario name and a random suffix).
    #[arg(long)]
    pub run_id: Option<String>,
    /// How long each shard waits at the start barrier for the others.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub barrier_timeout: Duration,
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
    /// Go on with a run prefix that already holds objects (an earlier run with
    /// this --run-id): keep the objects at the data set's keys instead of refusing.
    #[arg(long, requires = "run_id")]
    pub resume: bool,
    /// No live progress on stderr.
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
    #[arg(long, env = "S3BENCH_START_AT", value_parser = parse_time)]
    pub start_at: Option<std::time::SystemTime>,
    /// Meet the other shards in the first target's bucket after preparing
    /// (s3bench/<run id>/barrier/<shard>), then start the measured phases together.
    #[arg(long)]
    pub barrier: bool,
    /// How long a shard waits at the barrier before giving up (exit code 5).
    #[arg(long, default_value = "10m", value_parser = parse_duration, requires = "barrier")]
    pub barrier_timeout: Duration,
    /// Upload the run's folder to s3://BUCKET/PREFIX/<run id>/[shard-<i>/] when it ends
    /// (also after SIGTERM, Ctrl-C or the error policy).
    #[arg(long, value_name = "S3_URL")]
    pub results: Option<String>,
    /// S3 endpoint for the --results upload (tests, S3-compatible stores);
    /// credentials from the aws-config default chain.
    #[arg(long, value_name = "URL")]
    pub results_endpoint_url: Option<String>,
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
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
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
    /// The partition model on the General Purpose --bucket buckets: READS:WRITES
    /// per second per key range (S3: 5500:3500), one range at first, ranges
    /// over their rate split (see --split-after); above it 503 SlowDown.
    #[arg(long, value_parser = parse_rates)]
    pub prefix_limit: Option<(u32, u32)>,
    /// How long a key range stays over its rate before it splits (default
    /// 5s, scaled for a laptop: S3 takes minutes), or "never".
    #[arg(long, value_parser = parse_split_after)]
    pub split_after: Option<Option<Duration>>,
    /// The most key ranges a bucket is split into (default 256).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_partitions: Option<u32>,
    /// A key where a range starts on a fresh bucket (repeatable): a bucket
    /// S3 has already partitioned.
    #[arg(long = "split-point")]
    pub split_points: Vec<String>,
    /// The per-bucket rate of the directory --bucket buckets, READS:WRITES
    /// per second (S3 Express: 200000:100000); above it 503 SlowDown.
    #[arg(long, value_parser = parse_rates)]
    pub bucket_limit: Option<(u32, u32)>,
    /// Fraction of GET responses (0..1) on the --bucket buckets whose body
    /// is cut half-way by closing the connection.
    #[arg(long, default_value_t = 0.0)]
    pub body_reset_rate: f64,
    /// Fraction of GET responses (0..1) on the --bucket buckets with one
    /// bit of the body flipped (caught only by response checksums).
    #[arg(long, default_value_t = 0.0)]
    pub corrupt_rate: f64,
    /// Fraction of CreateSession requests (0..1) on the --bucket buckets
    /// answered with --error-status.
    #[arg(long, default_value_t = 0.0)]
    pub session_error_rate: f64,
    /// The most requests each --bucket bucket works on at once; the rest
    /// queue before their latency starts (an aggregate throughput cap of
    /// N / latency requests per second).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: Option<u32>,
}

fn parse_split_after(s: &str) -> Result<Option<Duration>, String> {
    if s.trim().eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    parse_duration(s)
        .and_then(|d| {
            (!d.is_zero())
                .then_some(d)
                .ok_or("expected more than 0".into())
        })
        .map(Some)
        .map_err(|e| format!("{e}, or \"never\""))
}

fn parse_rates(s: &str) -> Result<(u32, u32), String> {
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
    Ok((n(r)?, n(w)?))
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
                || e.downcast_ref::<crate::run::OptionsError>().is_some()
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
            if !a.yes {
                let plan = crate::cluster::load_scenario(&a.scenario)?;
                if let Some(q) = crate::run::confirm::question(&plan, a.embedded, a.confirm_above)
                    && !confirmed(&q)
                {
                    return Err(InputError(format!(
                        "not started: {q}; pass --yes to run it anyway"
                    ))
                    .into());
                }
            }
            let shard = crate::run::options::shard_from(a.shard_index, a.shard_count, |k| {
                std::env::var(k).ok()
            })?;
            let results = a
                .results
                .as_deref()
                .map(crate::cluster::S3Url::parse)
                .transpose()
                .map_err(|e| InputError(format!("--results: {e}")))?;
            let cancel = Arc::new(Cancel::default());
            spawn_signal_handlers(cancel.clone());
            let opts = RunOptions {
                out: a.out,
                duration: a.duration,
                rounds: a.rounds,
                threads: a.threads,
                keep_data: a.keep_data,
                resume: a.resume,
                progress: !a.quiet,
                scenario_file: a.scenario.display().to_string(),
                run_id: a.run_id,
                shard,
                start_at: a.start_at,
                barrier: a.barrier.then_some(a.barrier_timeout),
                results,
                results_endpoint: a.results_endpoint_url,
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
            if let Some(why) = &out.result.interrupted {
                eprintln!("incomplete: {why}");
            }

            Ok(out.exit_code())
        }
        Command::Cleanup {
            scenario,
            run_id,
            dry_run,
        } => {
            crate::run::options::check_run_id(&run_id)?;
            let plan = crate::cluster::load_scenario(&scenario)?;
            let prefix = format!("s3bench/{run_id}/");
            let mut left = 0u64;
            for t in &plan.targets {
                let cfg = crate::client::TargetConfig::from_environment(t, &plan.client).await;
                let client = cfg.build_client();
                let done =
                    crate::run::cleanup::delete_prefix(&client, &t.bucket, &prefix, dry_run, |k| {
                        if dry_run {
                            println!("s3://{}/{k}", t.bucket);
                        }
                    })
                    .await;
                match (&done.left, dry_run) {
                    (Some((n, _)), true) => {
                        eprintln!(
                            "{}: would delete {n} objects under s3://{}/{prefix}",
                            t.name, t.bucket
                        )
                    }
                    (None, true) => {
                        eprintln!("{}: nothing under s3://{}/{prefix}", t.name, t.bucket)
                    }
                    (Some((n, why)), false) => {
                        left += (*n).max(1);
                        eprintln!(
                            "{}: deleted {}, but {n} objects are left under s3://{}/{prefix}: {why}",
                            t.name, done.deleted, t.bucket
                        );
                    }
                    (None, false) => eprintln!(
                        "{}: deleted {} objects under s3://{}/{prefix}",
                        t.name, done.deleted, t.bucket
                    ),
                }
            }
            Ok(if left > 0 {
                crate::run::EXIT_LEFT_BEHIND
            } else {
                0
            })
        }
        Command::Validate { scenarios } => {
            let mut bad = 0;
            for s in &scenarios {
                match crate::cluster::load_scenario(s) {
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
            let mut plan = crate::cluster::load_scenario(&a.scenario)?;
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
            if let (Some(cert), Some(key)) = (&a.tls_cert, &a.tls_key) {
                let read = |p: &PathBuf| {
                    std::fs::read(p)
                        .map_err(|e| InputError(format!("cannot read {}: {e}", p.display())))
                };
                cfg.tls = Some(
                    crate::server::tls_config(&read(cert)?, &read(key)?).map_err(|e| {
                        InputError(format!(
                            "--tls-cert {} / --tls-key {}: {e}",
                            cert.display(),
                            key.display()
                        ))
                    })?,
                );
            }
            for (flag, v) in [
                ("--error-rate", a.error_rate),
                ("--body-reset-rate", a.body_reset_rate),
                ("--corrupt-rate", a.corrupt_rate),
                ("--session-error-rate", a.session_error_rate),
            ] {
                if !(0.0..=1.0).contains(&v) {
                    return Err(
                        InputError(format!("{flag} must be between 0 and 1, got {v}")).into(),
                    );
                }
            }
            let (prefix_limit, bucket_limit) = crate::s3::inject::RateFlags {
                prefix_limit: a.prefix_limit,
                split_after: a.split_after,
                max_partitions: a.max_partitions,
                split_points: a.split_points,
                bucket_limit: a.bucket_limit,
            }
            .models()
            .map_err(InputError)?;
            let flags = crate::server::Injection {
                latency: a.latency.map(crate::server::LatencyDist::Fixed),
                error_latency: None,
                bandwidth: None,
                error_rate: a.error_rate,
                error_status: a.error_status,
                error_code: a.error_code,
                prefix_limit,
                bucket_limit,
                body_reset_rate: a.body_reset_rate,
                corrupt_rate: a.corrupt_rate,
                session_error_rate: a.session_error_rate,
                max_in_flight: a.max_in_flight,
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
                        injections.push((t.bucket.clone(), inj.clone()));
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
        Command::Setup(a) => crate::doctor::setup::setup(a).await,
        Command::Doctor { scenario, embedded } => crate::doctor::doctor(&scenario, embedded).await,
        Command::Merge(a) => crate::cluster::results::merge_command(a).await,
        Command::K8s(a) => {
            let (plan, text, run_id, results) =
                cluster_inputs(&a.scenario, a.run_id.as_deref(), &a.results)?;
            let file_name = a
                .scenario
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let opts = crate::cluster::k8s::K8sOptions {
                shards: a.shards,
                image: a.image,
                namespace: a.namespace,
                service_account: a.service_account,
                results,
                karpenter: a.karpenter,
                run_id,
                zone_id: a.zone_id,
                barrier_timeout: a.barrier_timeout,
            };
            let docs = crate::cluster::k8s::manifests(&plan, &file_name, &text, &opts)
                .map_err(|e| InputError(format!("{e:#}")))?;
            print!("{}", crate::cluster::k8s::to_yaml(&docs)?);
            Ok(0)
        }
        Command::Batch(a) => {
            let (plan, text, run_id, results) =
                cluster_inputs(&a.scenario, a.run_id.as_deref(), &a.results)?;
            let opts = crate::cluster::batch::BatchOptions {
                shards: a.shards,
                image: a.image,
                job_queue: a.job_queue,
                job_role_arn: a.job_role_arn,
                results,
                run_id,
                barrier_timeout: a.barrier_timeout,
            };
            let (definition, submit) = crate::cluster::batch::documents(&plan, &text, &opts)
                .map_err(|e| InputError(format!("{e:#}")))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "registerJobDefinition": definition,
                    "submitJob": submit,
                }))?
            );
            Ok(0)
        }
    }
}

/// The scenario (text and plan), run id and results URL of `k8s` and `batch`.
fn cluster_inputs(
    scenario: &std::path::Path,
    run_id: Option<&str>,
    results: &str,
) -> anyhow::Result<(crate::scenario::Plan, String, String, crate::cluster::S3Url)> {
    let text = std::fs::read_to_string(scenario).map_err(|e| {
        InputError(format!(
            "cannot read the scenario file {}: {e}",
            scenario.display()
        ))
    })?;
    let plan = crate::scenario::parse(&text, scenario)?;
    let run_id = match run_id {
        Some(id) => id.to_string(),
        None => crate::cluster::generate_run_id(&plan.name, std::time::SystemTime::now()),
    };
    crate::cluster::check_run_id(&run_id).map_err(InputError)?;
    let results =
        crate::cluster::S3Url::parse(results).map_err(|e| InputError(format!("--results: {e}")))?;
    Ok((plan, text, run_id, results))
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

/// Preflight failures (unreachable endpoint, bad credentials, missing
/// bucket) and scenario errors are the user's input: exit code 2.
fn classify_run_error(e: anyhow::Error) -> anyhow::Error {
    if e.downcast_ref::<crate::scenario::ScenarioError>().is_some() {
        return e;
    }
    if e.downcast_ref::<crate::run::PreflightError>().is_some()
        || e.downcast_ref::<crate::run::OptionsError>().is_some()
    {
        return InputError(format!("{e:#}")).into();
    }
    e
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
        let code = first.exit_code();
        cancel.cancel_with(first);
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        std::process::exit(code);
    });
}
