//! `s3bench doctor`: a scenario's targets checked before a run, one
//! sentence per finding.

use std::path::PathBuf;

use clap::Args;

use super::RunCommand;
use crate::exit::ExitCode;
use crate::plan::{RunOptions, RunPlan};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Scenario file (TOML), or env:NAME for the TOML text in environment variable NAME.
    pub scenario: PathBuf,
    /// Check against a freshly started embedded endpoint instead.
    #[arg(long)]
    pub embedded: bool,
}

impl RunCommand for DoctorArgs {
    /// One line per finding, then a count; exit code 2 when any check failed.
    async fn run(self) -> anyhow::Result<ExitCode> {
        let plan = RunPlan::load(&self.scenario, self.embedded, RunOptions::default())?;
        let s = crate::doctor::check_plan(&plan, |f| println!("{f}")).await?;
        println!(
            "{}: {} target(s), {} error(s), {} warning(s)",
            self.scenario.display(),
            s.targets,
            s.errors,
            s.warnings
        );
        Ok(if s.errors > 0 {
            ExitCode::BadInput
        } else {
            ExitCode::Success
        })
    }
}
