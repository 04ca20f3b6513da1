//! `s3bench import FORMAT FILE... --out SCENARIO.toml [--replay]`: a
//! scenario derived from the user's own traffic (docs/import.md).

use std::path::PathBuf;

use clap::Args;

use super::RunCommand;
use crate::exit::{ExitCode, InputError};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// access-log (S3 server access logs, text or CloudWatch Logs JSON),
    /// cloudtrail (data events, JSON, gzip or not) or op-log (run --op-log).
    #[arg(value_enum)]
    pub format: crate::import::Format,
    /// Log files (gzip or not).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The scenario to write (TOML).
    #[arg(long, value_name = "SCENARIO.toml")]
    pub out: PathBuf,
    /// Replay the log's object requests on their schedule (writes
    /// NAME.replay.csv.gz next to the scenario).
    #[arg(long)]
    pub replay: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

impl RunCommand for ImportArgs {
    /// The scenario's path on stdout, what was read on stderr; a file of
    /// another format (or unreadable) is exit code 2.
    async fn run(self) -> anyhow::Result<ExitCode> {
        let opts = crate::import::ImportOptions {
            format: self.format,
            files: self.files,
            out: self.out,
            replay: self.replay,
            progress: !self.quiet,
        };
        let done = tokio::task::spawn_blocking(move || crate::import::import(&opts))
            .await?
            .map_err(|e| match e.downcast::<crate::import::ImportError>() {
                Ok(i) => InputError(i.0).into(),
                Err(e) => e,
            })?;
        println!("{}", done.scenario.display());
        eprintln!(
            "{} requests read; scenario {}{}",
            done.requests,
            done.scenario.display(),
            match &done.schedule {
                Some(s) => format!(
                    ", replay schedule {} ({} requests)",
                    s.display(),
                    done.replayed
                ),
                None => String::new(),
            }
        );
        Ok(ExitCode::Success)
    }
}
