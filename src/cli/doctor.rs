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

/// What `doctor --embedded` checks: not the scenario's own targets.
const EMBEDDED_SCOPE: &str = "checking the embedded endpoint this command just started on 127.0.0.1 \
with the scenario's buckets (what `run --embedded` uses), not the scenario's own endpoints: \
credentials (its own keys), bucket names, access, HeadBucket, CreateSession on directory buckets, \
a probe PUT/GET/DELETE, conditional writes and the clock";

/// The checks `doctor --embedded` skips, and why.
const EMBEDDED_SKIPS: [&str; 2] = [
    "zone: the embedded directory buckets live on this machine, not in an Availability Zone",
    "tls: the embedded endpoint speaks plain HTTP",
];

impl RunCommand for DoctorArgs {
    /// One line per finding, then a count; exit code 2 when any check failed.
    async fn run(self) -> anyhow::Result<ExitCode> {
        let plan = RunPlan::load(&self.scenario, self.embedded, RunOptions::default())?;
        if self.embedded {
            println!("{EMBEDDED_SCOPE}");
        }
        let s = crate::doctor::check_plan(&plan, |f| println!("{f}")).await?;
        if self.embedded {
            for skip in EMBEDDED_SKIPS {
                println!(" skip: {skip}");
            }
        }
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
