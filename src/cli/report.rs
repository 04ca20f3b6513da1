//! `s3bench report`: report.md re-rendered from a stored result.json.

use std::path::PathBuf;

use clap::Args;

use super::RunCommand;
use crate::exit::ExitCode;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A result.json written by `s3bench run` or `s3bench merge`.
    pub result: PathBuf,
    /// Directory for the new report.md (default: next to result.json).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl RunCommand for ReportArgs {
    async fn run(self) -> anyhow::Result<ExitCode> {
        let path = crate::report::rerender(&self.result, self.out.as_deref())?;
        println!("{}", path.display());
        Ok(ExitCode::Success)
    }
}
