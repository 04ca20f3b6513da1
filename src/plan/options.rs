//! How a run is carried out: the command line's flags, checked in one place
//! before anything starts (ripgrep's low-args -> high-args), so every bad
//! flag is an input error (exit 2) with a sentence.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::Shard;

/// A flag's value is wrong: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OptionsError(pub String);

/// How a run is carried out (the CLI's flags, minus the scenario).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Base directory for results (`results/` by default).
    pub out: PathBuf,
    /// Overrides every measured phase's duration (applied to the scenario
    /// once, by [`super::RunPlan::new`]).
    pub duration: Option<Duration>,
    /// Overrides the scenario's rounds (likewise).
    pub rounds: Option<u32>,
    /// Engine threads (one current-thread runtime each); default: CPUs.
    pub threads: Option<usize>,
    /// Skip deleting the run prefix at the end.
    pub keep_data: bool,
    /// Go on with a run prefix that already holds objects (an earlier run
    /// with this run id, e.g. one that kept its data): prepare keeps the
    /// objects already at the data set's keys instead of the run refusing.
    pub resume: bool,
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
    /// Meet the other shards at the start barrier in S3 before the measured
    /// phases, waiting at most this long (`--barrier`, `--barrier-timeout`).
    pub barrier: Option<Duration>,
    /// Upload the run's folder under this URL when the run ends
    /// (`--results s3://BUCKET/PREFIX/`).
    pub results: Option<crate::s3::url::S3Url>,
    /// Endpoint override for the `--results` upload (tests, S3-compatible
    /// stores); credentials come from the aws-config default chain.
    pub results_endpoint: Option<String>,
    /// `--check` expressions, judged on the result with the scenario's
    /// `[[check]]` tables; checked against the scenario before anything is sent.
    pub checks: Vec<String>,
    /// `--metrics-listen`: serve live Prometheus metrics at
    /// `http://ADDR/metrics` while the run goes on.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// How long the metrics endpoint stays up after the run has ended, so
    /// a last scrape sees the totals (`--metrics-linger`).
    pub metrics_linger: Duration,
    /// `--gpu-hour`: USD per accelerator-hour for the report's GPU cost
    /// (overrides the scenario's `[pricing] gpu_hour`).
    pub gpu_hour: Option<f64>,
    /// Write one row per request to `ops.csv.gz` in the run folder
    /// (`--op-log`, docs/op-log.md).
    pub op_log: bool,
}

/// Default `--metrics-linger`: a scrape every 5 s or more often sees the totals.
pub const DEFAULT_METRICS_LINGER: Duration = Duration::from_secs(5);

/// Default `--barrier-timeout`: room for pods still pulling the image or
/// waiting for a node while others have finished preparing.
pub const DEFAULT_BARRIER_TIMEOUT: Duration = Duration::from_secs(600);

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            out: PathBuf::from("results"),
            duration: None,
            rounds: None,
            threads: None,
            keep_data: false,
            resume: false,
            progress: false,
            scenario_file: String::new(),
            run_id: None,
            shard: None,
            start_at: None,
            barrier: None,
            results: None,
            results_endpoint: None,
            checks: Vec::new(),
            metrics_listen: None,
            metrics_linger: DEFAULT_METRICS_LINGER,
            gpu_hour: None,
            op_log: false,
        }
    }
}

/// A `--start-at` that cannot be honoured.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StartAtError {
    #[error(
        "--start-at {at} is {ago} in the past (this host's clock says {now}): \
         pick a later time, or drop --start-at and use --barrier"
    )]
    InThePast {
        at: String,
        now: String,
        ago: String,
    },
}

/// Refuses a `--start-at` that has already passed on this host's clock: a
/// shard that started late would measure alone while the others ran, and
/// every shard of a run given a past time (a pod retried later, a job
/// submitted again) would start at once without overlapping. Call before
/// any request is sent.
pub fn validate_start_at(at: SystemTime, now: SystemTime) -> Result<(), StartAtError> {
    match now.duration_since(at) {
        Ok(ago) if !ago.is_zero() => Err(StartAtError::InThePast {
            at: humantime::format_rfc3339_seconds(at).to_string(),
            now: humantime::format_rfc3339_seconds(now).to_string(),
            ago: humantime::format_duration(std::time::Duration::from_secs(ago.as_secs().max(1)))
                .to_string(),
        }),
        _ => Ok(()),
    }
}

impl RunOptions {
    /// Every check that needs no network, before anything starts.
    pub fn validate(&self) -> Result<(), OptionsError> {
        if self.rounds == Some(0) {
            return Err(OptionsError("--rounds must be at least 1".into()));
        }
        if self.threads == Some(0) {
            return Err(OptionsError("--threads must be at least 1".into()));
        }
        if self.duration == Some(Duration::ZERO) {
            return Err(OptionsError("--duration must be longer than 0s".into()));
        }
        if let Some(g) = self.gpu_hour {
            crate::scenario::check_gpu_hour(g).map_err(OptionsError)?;
        }
        if let Some(id) = &self.run_id {
            super::run_id::check(id).map_err(OptionsError)?;
        }
        if let Some(s) = self.shard
            && s.index >= s.count
        {
            return Err(OptionsError(format!(
                "--shard-index {} must be below --shard-count {}",
                s.index, s.count
            )));
        }
        if let Some(at) = self.start_at {
            validate_start_at(at, SystemTime::now()).map_err(|e| OptionsError(e.to_string()))?;
        }
        if let Some(s) = self.shard
            && s.count == 0
        {
            return Err(OptionsError("--shard-count must be at least 1".into()));
        }
        if let Some(t) = self.barrier {
            if self.start_at.is_some() {
                return Err(OptionsError(
                    "--barrier and --start-at both set when the measured phases start: use one"
                        .into(),
                ));
            }
            if self.shard.is_none() {
                return Err(OptionsError(
                    "--barrier needs the shards to meet: pass --shard-count and a shard index \
                     (--shard-index, JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX)"
                        .into(),
                ));
            }
            if t.is_zero() {
                return Err(OptionsError(
                    "--barrier-timeout must be longer than 0s".into(),
                ));
            }
        }
        if self.barrier.is_some() && self.run_id.is_none() {
            return Err(OptionsError(
                "--barrier needs a --run-id (or S3BENCH_RUN_ID) shared by every shard of the run"
                    .into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_flags_are_named() {
        let bad = |o: RunOptions| o.validate().unwrap_err().to_string();
        assert!(
            bad(RunOptions {
                rounds: Some(0),
                ..Default::default()
            })
            .contains("--rounds")
        );
        assert!(
            bad(RunOptions {
                run_id: Some("a/b".into()),
                ..Default::default()
            })
            .contains("run id")
        );
        assert!(
            bad(RunOptions {
                shard: Some(Shard { index: 3, count: 3 }),
                ..Default::default()
            })
            .contains("--shard-index 3")
        );
        assert!(
            bad(RunOptions {
                start_at: Some(SystemTime::now() - Duration::from_secs(5)),
                ..Default::default()
            })
            .contains("in the past")
        );
        let shard = Some(Shard { index: 0, count: 2 });
        let id = Some("r1".to_string());
        assert!(
            bad(RunOptions {
                barrier: Some(DEFAULT_BARRIER_TIMEOUT),
                run_id: id.clone(),
                ..Default::default()
            })
            .contains("--barrier needs the shards to meet")
        );
        assert!(
            bad(RunOptions {
                barrier: Some(DEFAULT_BARRIER_TIMEOUT),
                shard,
                ..Default::default()
            })
            .contains("--barrier needs a --run-id")
        );
        assert!(
            bad(RunOptions {
                barrier: Some(DEFAULT_BARRIER_TIMEOUT),
                start_at: Some(SystemTime::now() + Duration::from_secs(60)),
                shard,
                run_id: id.clone(),
                ..Default::default()
            })
            .contains("--barrier and --start-at")
        );
        assert!(
            RunOptions {
                barrier: Some(DEFAULT_BARRIER_TIMEOUT),
                shard,
                run_id: id,
                ..Default::default()
            }
            .validate()
            .is_ok()
        );
        assert!(RunOptions::default().validate().is_ok());
    }

    #[test]
    fn cluster_start_at_in_the_past_is_refused() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert!(validate_start_at(now + Duration::from_secs(30), now).is_ok());
        assert!(validate_start_at(now, now).is_ok());
        let e = validate_start_at(now - Duration::from_secs(90), now).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("1m 30s in the past"), "{s}");
        assert!(s.contains("2027-01-15T08:00:00Z"), "{s}");
    }
}
