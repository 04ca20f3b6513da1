//! `s3bench compare`: two stored results op by op, as Markdown on stdout.

use std::path::PathBuf;

use clap::Args;

use super::RunCommand;
use crate::exit::ExitCode;

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Baseline result.json.
    pub a: PathBuf,
    /// Result.json to compare against the baseline.
    pub b: PathBuf,
    /// Judge B on this check (repeatable); exit code 7 when one fails.
    #[arg(long = "check", value_name = "EXPR")]
    pub checks: Vec<String>,
}

impl RunCommand for CompareArgs {
    async fn run(self) -> anyhow::Result<ExitCode> {
        let (md, passed) = crate::report::compare_judged(&self.a, &self.b, &self.checks)?;
        print!("{md}");
        Ok(if passed {
            ExitCode::Success
        } else {
            ExitCode::ChecksFailed
        })
    }
}
