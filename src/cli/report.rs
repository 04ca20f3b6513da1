//! `s3bench report`: report.md re-rendered from a stored result.json.

use std::path::PathBuf;

use clap::Args;

use super::RunCommand;
use crate::exit::{ExitCode, InputError};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A result.json written by `s3bench run` or `s3bench merge`.
    pub result: PathBuf,
    /// Directory for the new report.md (default: next to result.json).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Judge the result on this check too (repeatable), with its own
    /// checks; exit code 7 when one fails.
    #[arg(long = "check", value_name = "EXPR")]
    pub checks: Vec<String>,
    /// USD per accelerator-hour: price the loader phases' idle accelerator
    /// time (instead of the price the run was given, if any).
    #[arg(long, value_name = "USD")]
    pub gpu_hour: Option<f64>,
}

impl RunCommand for ReportArgs {
    /// The report's path on stdout; exit code 7 when a check fails.
    async fn run(self) -> anyhow::Result<ExitCode> {
        if let Some(g) = self.gpu_hour {
            crate::scenario::check_gpu_hour(g).map_err(InputError)?;
        }
        let (path, passed) = crate::report::rerender_judged(
            &self.result,
            self.out.as_deref(),
            &self.checks,
            self.gpu_hour,
        )?;
        println!("{}", path.display());
        Ok(if passed {
            ExitCode::Success
        } else {
            ExitCode::ChecksFailed
        })
    }
}
