//! `s3bench compare`: two stored results op by op, as Markdown on stdout.

use std::path::PathBuf;

use clap::Args;

use super::RunCommand;
use crate::exit::{ExitCode, InputError};

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
    /// The comparison on stdout. Exit code 2 when a file is missing or not
    /// a result, and when the two runs have no measured phase in common
    /// (unrelated scenarios: only their prepare and cleanup would be
    /// compared, which says nothing about the targets); exit code 7 when a
    /// check of B fails.
    async fn run(self) -> anyhow::Result<ExitCode> {
        let a = super::parse::result_file(&self.a)?;
        let b = super::parse::result_file(&self.b)?;
        if crate::report::measured_in_common(&a, &b).is_empty() {
            let names = |r| {
                let n = crate::report::measured_names(r);
                if n.is_empty() {
                    "none".to_string()
                } else {
                    n.join(", ")
                }
            };
            return Err(InputError(format!(
                "{} and {} have no measured phase in common (A: {}; B: {}): compare two runs of the same scenario",
                self.a.display(),
                self.b.display(),
                names(&a),
                names(&b)
            ))
            .into());
        }
        let (md, passed) = crate::report::compare_judged(&a, b, &self.a, &self.b, &self.checks)?;
        print!("{md}");
        Ok(if passed {
            ExitCode::Success
        } else {
            ExitCode::ChecksFailed
        })
    }
}
