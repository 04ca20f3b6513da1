//! How a run is carried out: the command line's flags, checked in one place
//! before anything starts (ripgrep's low-args -> high-args), so every bad
//! flag is an input error (exit 2) with a sentence.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// A flag's value is wrong: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OptionsError(pub String);

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
    pub results: Option<crate::cluster::S3Url>,
    /// Endpoint override for the `--results` upload (tests, S3-compatible
    /// stores); credentials come from the aws-config default chain.
    pub results_endpoint: Option<String>,
    /// `--gpu-hour`: USD per accelerator-hour for the report's GPU cost
    /// (overrides the scenario's `[pricing] gpu_hour`).
    pub gpu_hour: Option<f64>,
}

/// Default `--barrier-timeout`: room for pods still pulling the image or
/// waiting for a node while others have finished preparing.
pub const DEFAULT_BARRIER_TIMEOUT: Duration = Duration::from_secs(600);

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
            resume: false,
            progress: false,
            scenario_file: String::new(),
            run_id: None,
            shard: None,
            start_at: None,
            barrier: None,
            results: None,
            results_endpoint: None,
            gpu_hour: None,
        }
    }
}

/// This process's shard: the index from `--shard-index`, else from the
/// engine's environment ([`crate::cluster::shard_index_from`]:
/// `JOB_COMPLETION_INDEX`, `AWS_BATCH_JOB_ARRAY_INDEX`, which must agree
/// when both are set), and the count from `--shard-count` /
/// `S3BENCH_SHARD_COUNT`. An index without a count, or a count without an
/// index, is an error: either would silently run as a single process.
pub fn shard_from(
    index_flag: Option<u32>,
    count: Option<u32>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Shard>, OptionsError> {
    let (index, source) = match index_flag {
        Some(i) => (Some(i), "--shard-index".to_string()),
        None => {
            let i =
                crate::cluster::shard_index_from(&env).map_err(|e| OptionsError(e.to_string()))?;
            let var = crate::cluster::SHARD_INDEX_VARS
                .iter()
                .find(|v| env(v).is_some_and(|x| !x.trim().is_empty()))
                .copied()
                .unwrap_or("the environment");
            (i, var.to_string())
        }
    };
    match (index, count) {
        (None, None) => Ok(None),
        (Some(index), Some(count)) => Ok(Some(Shard { index, count })),
        (Some(index), None) => Err(OptionsError(format!(
            "shard index {index} (from {source}) needs the number of shards: \
             pass --shard-count or set S3BENCH_SHARD_COUNT"
        ))),
        (None, Some(count)) => Err(OptionsError(format!(
            "--shard-count {count} needs this shard's index: pass --shard-index, or run where \
             JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or AWS_BATCH_JOB_ARRAY_INDEX \
             (AWS Batch array job) is set"
        ))),
    }
}

/// A run id is used in object keys and a directory name.
pub fn check_run_id(id: &str) -> Result<(), OptionsError> {
    if id.is_empty()
        || id.len() > 128
        || id == "."
        || id == ".."
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(OptionsError(format!(
            "run id '{id}' may hold only letters, digits, '-', '_' and '.' (1 to 128 of them)"
        )));
    }
    Ok(())
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
            crate::report::gpu::check_gpu_hour(g).map_err(OptionsError)?;
        }
        if let Some(id) = &self.run_id {
            check_run_id(id)?;
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
            crate::cluster::validate_start_at(at, SystemTime::now())
                .map_err(|e| OptionsError(e.to_string()))?;
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
    fn cluster_shard_index_precedence() {
        fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        }
        const BOTH: &[(&str, &str)] = &[
            ("JOB_COMPLETION_INDEX", "1"),
            ("AWS_BATCH_JOB_ARRAY_INDEX", "2"),
        ];
        let both = BOTH;
        // The flag wins over any environment.
        assert_eq!(
            shard_from(Some(0), Some(3), env(both)).unwrap(),
            Some(Shard { index: 0, count: 3 })
        );
        // Two engines disagreeing is an error, not a guess.
        let e = shard_from(None, Some(3), env(both))
            .unwrap_err()
            .to_string();
        assert!(e.contains("disagree"), "{e}");
        assert_eq!(
            shard_from(None, Some(3), env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "2")])).unwrap(),
            Some(Shard { index: 2, count: 3 })
        );
        assert_eq!(
            shard_from(None, Some(3), env(&[("JOB_COMPLETION_INDEX", "1")])).unwrap(),
            Some(Shard { index: 1, count: 3 })
        );
        assert_eq!(shard_from(None, None, env(&[])).unwrap(), None);
        let e = shard_from(None, None, env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "4")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("shard index 4 (from AWS_BATCH_JOB_ARRAY_INDEX) needs the number of shards"),
            "{e}"
        );
        let e = shard_from(None, Some(2), env(&[])).unwrap_err().to_string();
        assert!(
            e.contains("--shard-count 2 needs this shard's index"),
            "{e}"
        );
    }
}
