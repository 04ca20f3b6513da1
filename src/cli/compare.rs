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
}

impl RunCommand for CompareArgs {
    async fn run(self) -> anyhow::Result<ExitCode> {
        print!("{}", crate::report::compare_files(&self.a, &self.b)?);
        Ok(ExitCode::Success)
    }
}
