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
                    "{}: ok ({}, {})",
                    s.display(),
                    counted(plan.targets.len(), "target"),
                    counted(plan.phases.len(), "phase")
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

/// "1 phase", "3 phases".
pub(super) fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_are_singular_for_one() {
        assert_eq!(super::counted(1, "phase"), "1 phase");
        assert_eq!(super::counted(2, "target"), "2 targets");
        assert_eq!(super::counted(0, "phase"), "0 phases");
    }
}
