//! `s3bench cleanup`: what a run left behind deleted (after --keep-data,
//! or a cleanup that could not finish): every key under
//! `s3bench/<run id>/` of the scenario's targets, nothing else.

use std::path::PathBuf;

use clap::Args;

use super::RunCommand;
use crate::exit::{ExitCode, InputError};

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// The scenario the run used (its targets are cleaned).
    pub scenario: PathBuf,
    /// The run id (printed by the run, and in result.json).
    #[arg(long)]
    pub run_id: String,
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl RunCommand for CleanupArgs {
    /// One line per target on stderr (with `--dry-run`, every key on
    /// stdout); exit code 4 when objects are left.
    async fn run(self) -> anyhow::Result<ExitCode> {
        let (run_id, dry_run) = (&self.run_id, self.dry_run);
        crate::plan::run_id::check(run_id).map_err(InputError)?;
        let plan = crate::scenario::load(&self.scenario)?;
        let prefix = format!("s3bench/{run_id}/");
        let mut left = 0u64;
        for (t, cfg) in plan
            .targets
            .iter()
            .zip(crate::targets::from_environment(&plan).await)
        {
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
            ExitCode::LeftBehind
        } else {
            ExitCode::Success
        })
    }
}
