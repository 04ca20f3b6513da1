//! The command layer: one file per subcommand, each owning its clap
//! arguments, their conversion into the plain options the library takes
//! (ripgrep's low args -> high args), its output and its exit code
//! ([`crate::exit`]). Nothing below this module imports it.
//!
//! Adding a subcommand is a new file whose arguments implement [`RunCommand`],
//! and one line in the `commands!` table below.

mod batch;
mod cleanup;
mod compare;
mod doctor;
mod import;
mod k8s;
mod merge;
mod parse;
mod plan;
mod report;
mod run;
mod serve;
mod setup;
mod validate;
mod whatif;

use clap::{Parser, Subcommand};

use crate::exit::{ExitCode, InputError};

pub use batch::BatchArgs;
pub use cleanup::CleanupArgs;
pub use compare::CompareArgs;
pub use doctor::DoctorArgs;
pub use import::ImportArgs;
pub use k8s::K8sArgs;
pub use merge::MergeArgs;
pub use plan::PlanArgs;
pub use report::ReportArgs;
pub use run::RunArgs;
pub use serve::ServeArgs;
pub use setup::SetupArgs;
pub use validate::ValidateArgs;
pub use whatif::WhatifArgs;

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

/// A subcommand's parsed arguments, which know how to carry it out: convert
/// themselves into options, call the library, print, pick the exit code.
trait RunCommand {
    async fn run(self) -> anyhow::Result<ExitCode>;
}

/// The subcommands: each line is a variant of [`Command`] (its doc comment
/// is the command's help) and its row in [`dispatch`].
macro_rules! commands {
    ($( $(#[$doc:meta])* $variant:ident($args:ty); )+) => {
        #[derive(Debug, Subcommand)]
        pub enum Command {
            $( $(#[$doc])* $variant($args), )+
        }

        async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
            match command {
                $( Command::$variant(a) => a.run().await, )+
            }
        }
    };
}

commands! {
    /// Run a scenario and publish report.md + result.json under results/.
    Run(RunArgs);
    /// Check scenario files without touching the network.
    Validate(ValidateArgs);
    /// Print what a scenario will do per target (requests, bytes, peak data,
    /// time, cost) without touching the network.
    Plan(PlanArgs);
    /// Serve the embedded S3 endpoint (general-purpose and directory buckets) until Ctrl-C.
    Serve(ServeArgs);
    /// Re-render report.md from a stored result.json.
    Report(ReportArgs);
    /// Predict accelerator utilization (AU) and idle time per target from a
    /// stored result's measured request latencies, for other accelerator
    /// counts and loader settings (no network).
    Whatif(WhatifArgs);
    /// Compare two stored results op by op (Markdown on stdout).
    Compare(CompareArgs);
    /// Delete what a run left behind (after --keep-data, or a cleanup that
    /// could not finish): every key under s3bench/<run id>/ of the scenario's targets, nothing else.
    Cleanup(CleanupArgs);
    /// Create a General Purpose + directory bucket pair and print its [targets] block.
    Setup(SetupArgs);
    /// Check a scenario's targets before a run: credentials, buckets, CreateSession, clock, zone, TLS.
    Doctor(DoctorArgs);
    /// Merge the results of the shards of one array job, losslessly.
    Merge(MergeArgs);
    /// Print Kubernetes manifests (Indexed Job, merge Job, ConfigMap) for a distributed run.
    K8s(K8sArgs);
    /// Print an AWS Batch job definition and array-job submission (JSON) for a distributed run.
    Batch(BatchArgs);
    /// Derive a scenario from your own traffic: S3 server access logs,
    /// CloudTrail data events or a `run --op-log` file (docs/import.md).
    Import(ImportArgs);
}

impl Cli {
    /// The log level when `RUST_LOG` does not say: `warn`, or `error` under
    /// `run -q`, which promises no output but warnings s3bench itself
    /// prints (the AWS SDK's own WARN lines are not among them).
    pub fn log_level(&self) -> &'static str {
        match &self.command {
            Command::Run(a) if a.quiet => "error",
            _ => "warn",
        }
    }
}

/// Runs the command; returns the process exit code. Errors are printed here
/// with their whole chain, never as a panic.
pub async fn main(cli: Cli) -> i32 {
    match dispatch(cli.command).await {
        Ok(code) => code.code(),
        Err(e) => {
            eprintln!("error: {e:#}");
            error_exit_code(&e).code()
        }
    }
}

/// The exit code of a command that failed with `e`: bad input (the
/// scenario, a flag, a target found wrong before the run started) is 2,
/// anything else 1.
fn error_exit_code(e: &anyhow::Error) -> ExitCode {
    if e.downcast_ref::<crate::scenario::ScenarioError>().is_some()
        || e.downcast_ref::<InputError>().is_some()
        || e.downcast_ref::<crate::plan::OptionsError>().is_some()
        || e.downcast_ref::<crate::run::PreflightError>().is_some()
        || e.downcast_ref::<crate::report::checks::BadCheck>()
            .is_some()
    {
        ExitCode::BadInput
    } else {
        ExitCode::Failure
    }
}
