//! `s3bench validate`: scenario files checked without touching the network.

use std::path::PathBuf;

use clap::Args;

use super::RunCommand;
use crate::exit::ExitCode;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Scenario files (TOML), or env:NAME for the text of environment variable NAME.
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
}

impl RunCommand for ValidateArgs {
    /// One line per good file on stdout, every problem of a bad one on
    /// stderr; exit code 2 when any file is bad.
    async fn run(self) -> anyhow::Result<ExitCode> {
        let mut bad = 0;
        for s in &self.scenarios {
            match crate::scenario::load(s) {
                Ok(plan) => println!(
                    "{}: ok ({} targets, {} phases)",
                    s.display(),
                    plan.targets.len(),
                    plan.phases.len()
                ),
                Err(e) => {
                    eprintln!("{e}");
                    bad += 1;
                }
            }
        }
        Ok(if bad > 0 {
            ExitCode::BadInput
        } else {
            ExitCode::Success
        })
    }
}
