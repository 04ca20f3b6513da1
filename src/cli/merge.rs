//! `s3bench merge`: the shards of one array job, merged losslessly.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{RunCommand, parse};
use crate::cluster::S3Url;
use crate::cluster::results::{MergeOptions, MergeSource, merge_run};
use crate::exit::{ExitCode, InputError};

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' result.json files, or one s3://BUCKET/PREFIX/RUN_ID/ URL
    /// under which each shard published shard-<i>/result.json.
    #[arg(required = true, value_name = "RESULTS")]
    pub inputs: Vec<String>,
    /// Base directory for the merged report.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Number of shards the run had: missing ones are named in the report.
    #[arg(long)]
    pub shards: Option<u32>,
    /// With an s3:// URL: wait up to this long for every shard's result.json
    /// (needs --shards), then merge what is there.
    #[arg(long, value_parser = parse::duration, requires = "shards")]
    pub wait: Option<Duration>,
    /// Also upload the merged report to s3://BUCKET/PREFIX/<run id>/merged/.
    #[arg(long, value_name = "S3_URL")]
    pub results: Option<String>,
    /// Exit 0 even when shards are missing (the report still names them);
    /// the default exit code then is 1.
    #[arg(long)]
    pub allow_missing: bool,
    /// S3 endpoint override (tests, S3-compatible stores); path-style addressing.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Judge the merged result on this check too (repeatable), with the
    /// shards' own checks; exit code 7 when one fails.
    #[arg(long = "check", value_name = "EXPR")]
    pub checks: Vec<String>,
}

impl MergeArgs {
    /// Local result.json files, or one `s3://.../RUN_ID/` URL.
    fn options(self) -> Result<MergeOptions, InputError> {
        let results = parse::results_url(self.results.as_deref())?;
        let source = if self.inputs.iter().any(|i| i.starts_with("s3://")) {
            let [url] = self.inputs.as_slice() else {
                return Err(InputError(
                    "merge takes either result.json files or one s3://BUCKET/PREFIX/RUN_ID/ URL"
                        .into(),
                ));
            };
            let run = S3Url::parse(url).map_err(|e| InputError(e.to_string()))?;
            if run.last_segment().is_none() {
                return Err(InputError(format!(
                    "{url} names no run: expected s3://BUCKET/PREFIX/RUN_ID/"
                )));
            }
            MergeSource::S3 {
                run,
                wait: self.wait.unwrap_or_default(),
            }
        } else {
            if self.wait.is_some() {
                return Err(InputError("--wait applies only to an s3:// URL".into()));
            }
            MergeSource::Files(self.inputs.iter().map(PathBuf::from).collect())
        };
        Ok(MergeOptions {
            source,
            out: self.out,
            shards: self.shards,
            results,
            endpoint_url: self.endpoint_url,
            checks: self.checks,
        })
    }
}

impl RunCommand for MergeArgs {
    /// Exit code 0, or 1 when shards are missing and `--allow-missing` is
    /// not given, else 7 when a check fails on the merged result (the
    /// merged report is written either way).
    async fn run(self) -> anyhow::Result<ExitCode> {
        let allow_missing = self.allow_missing;
        let merged = merge_run(self.options()?).await?;
        if let Some(to) = &merged.uploaded {
            eprintln!("uploaded: {to}");
        }
        println!("{}", merged.report.display());
        if merged.missing {
            eprintln!("warning: {}", merged.result.warnings[0]);
        }
        for c in merged.result.checks.iter().filter(|c| !c.passed) {
            eprintln!("check {}", crate::report::checks::sentence(c));
        }
        Ok(if merged.missing && !allow_missing {
            ExitCode::Failure
        } else if !crate::report::checks::all_passed(&merged.result.checks) {
            ExitCode::ChecksFailed
        } else {
            ExitCode::Success
        })
    }
}
