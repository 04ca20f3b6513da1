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
        if let Some(at) = self.start_at
            && at < SystemTime::now()
        {
            return Err(OptionsError(format!(
                "--start-at {} is in the past: give a time a little ahead, the same for every shard",
                humantime::format_rfc3339_seconds(at)
            )));
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
        assert!(RunOptions::default().validate().is_ok());
    }
}
