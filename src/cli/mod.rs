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
rate) and a Markdown + JSON report under results/.",
    after_help = FIRST_RUN
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What `s3bench --help` ends with: what to run first.
const FIRST_RUN: &str = "First run (no AWS account needed: a local S3 endpoint with both bucket kinds):
  s3bench run scenarios/mixed.toml --embedded --duration 5s
Before a run on AWS: `s3bench plan SCENARIO` (requests, bytes, cost), then `s3bench doctor SCENARIO`.";

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

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    /// `s3bench --help` says what to run first.
    #[test]
    fn help_says_what_to_run_first() {
        let help = Cli::command().render_long_help().to_string();
        assert!(
            help.contains("s3bench run scenarios/mixed.toml --embedded --duration 5s"),
            "{help}"
        );
    }

    /// What the docs said that the binary does not do (issue 29): a SIGTERM
    /// grace other than the engine's, a `cluster k8s` command, a CLI that
    /// "will" wire `serve`, a paragraph splitting the `[prepare]` table, a
    /// CI for every percentile.
    #[test]
    fn docs_agree_with_the_binary() {
        let one = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let distributed = one(include_str!("../../docs/distributed.md"));
        let grace = crate::engine::STOP_GRACE.as_secs();
        assert!(
            distributed.contains(&format!("gives in-flight requests {grace} s")),
            "docs/distributed.md gives another SIGTERM grace than {grace} s"
        );
        assert!(!distributed.contains("about 5 s") && !distributed.contains("~5 s"));
        let loader = include_str!("../../docs/loader.md");
        assert!(!loader.contains("cluster k8s"));
        let embedded = one(include_str!("../../docs/embedded-endpoint.md"));
        assert!(!embedded.contains("until the CLI wires it"));
        let format = include_str!("../../docs/scenario-format.md");
        let prepare = &format[format.find("## `[prepare]`").unwrap()..];
        let table: Vec<&str> = prepare
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .collect();
        for field in ["enabled", "concurrency", "multipart_threshold", "part_size"] {
            assert!(
                table.iter().any(|l| l.starts_with(&format!("| `{field}`"))),
                "[prepare] table lacks {field}: {table:?}"
            );
        }
        let readme = one(include_str!("../../README.md"));
        assert!(!readme.contains("ratio per percentile"));
    }

    /// The README's command table has a row for every subcommand, and that
    /// row names every flag of it, so a flag added without documenting it
    /// fails here.
    #[test]
    fn readme_command_table_names_every_subcommand_and_flag() {
        let readme = include_str!("../../README.md");
        let start = readme.find("## Commands").expect("README has ## Commands");
        let table: Vec<&str> = readme[start..]
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .collect();
        let mut missing = Vec::new();
        for sub in Cli::command().get_subcommands() {
            let name = sub.get_name();
            let row = table.iter().find(|l| {
                l.starts_with(&format!("| `s3bench {name} "))
                    || l.starts_with(&format!("| `s3bench {name}`"))
            });
            let Some(row) = row else {
                missing.push(format!("no row for `s3bench {name}`"));
                continue;
            };
            for arg in sub.get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                if arg.is_hide_set() || long == "help" || long == "version" {
                    continue;
                }
                let flag = format!("--{long}");
                let named = row.match_indices(&flag).any(|(i, _)| {
                    !row[i + flag.len()..]
                        .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
                });
                if !named {
                    missing.push(format!("`s3bench {name}` row lacks {flag}"));
                }
            }
        }
        assert!(missing.is_empty(), "README command table: {missing:#?}");
    }
}
