//! `s3bench plan`: what a run of a scenario will do per target and what it
//! will cost, without touching the network.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{RunCommand, parse};
use crate::estimate::{EstimateOptions, estimate, render};
use crate::exit::{ExitCode, InputError};
use crate::plan::{RunOptions, RunPlan};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Scenario file (TOML), or env:NAME for the TOML text in environment variable NAME.
    pub scenario: PathBuf,
    /// Override every measured phase's duration, as `run --duration` does.
    #[arg(long, value_parser = parse::duration)]
    pub duration: Option<Duration>,
    /// Alternating rounds per target, as `run --rounds` does.
    #[arg(long)]
    pub rounds: Option<u32>,
    /// Latency per operation assumed for closed-loop phases without an `ops`
    /// stop (default: 30ms General Purpose, 6ms Express).
    #[arg(long, value_parser = parse::duration)]
    pub assume_latency: Option<Duration>,
}

impl RunCommand for PlanArgs {
    async fn run(self) -> anyhow::Result<ExitCode> {
        // The run plan `run` would build from these flags, so both print
        // and ask about the same estimate.
        let options = RunOptions {
            duration: self.duration,
            rounds: self.rounds,
            ..RunOptions::default()
        };
        let plan = RunPlan::load(&self.scenario, false, options)?;
        let opts = match self.assume_latency {
            Some(d) if d.is_zero() => {
                return Err(InputError("--assume-latency must be above zero".into()).into());
            }
            Some(d) => EstimateOptions::with_latency(d),
            None => EstimateOptions::default(),
        };
        print!("{}", render(&estimate(&plan.scenario, &opts)));
        Ok(ExitCode::Success)
    }
}
