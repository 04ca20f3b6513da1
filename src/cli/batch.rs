//! `s3bench batch`: an AWS Batch job definition and array-job submission
//! (JSON on stdout) for a distributed run.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::k8s::ClusterInputs;
use super::{RunCommand, parse};
use crate::cluster::batch::{BatchOptions, documents};
use crate::exit::{ExitCode, InputError};

#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Scenario file (TOML); its text travels in the job definition.
    pub scenario: PathBuf,
    /// Number of shards (array size, 2 to 10000).
    #[arg(long)]
    pub shards: u32,
    /// Container image with s3bench as its entrypoint (see Dockerfile).
    #[arg(long)]
    pub image: String,
    /// Batch job queue to submit to.
    #[arg(long)]
    pub job_queue: String,
    /// IAM role the containers run as (access to the buckets).
    #[arg(long)]
    pub job_role_arn: Option<String>,
    /// Where shards publish results: s3://BUCKET/PREFIX/.
    #[arg(long, value_name = "S3_URL")]
    pub results: String,
    /// Run id (default: UTC time, scenario name and a random suffix).
    #[arg(long)]
    pub run_id: Option<String>,
    /// How long each shard waits at the start barrier for the others.
    #[arg(long, default_value = "10m", value_parser = parse::duration)]
    pub barrier_timeout: Duration,
}

impl RunCommand for BatchArgs {
    async fn run(self) -> anyhow::Result<ExitCode> {
        let c = ClusterInputs::read(&self.scenario, self.run_id.as_deref(), &self.results)?;
        let opts = BatchOptions {
            shards: self.shards,
            image: self.image,
            job_queue: self.job_queue,
            job_role_arn: self.job_role_arn,
            results: c.results,
            run_id: c.run_id,
            barrier_timeout: self.barrier_timeout,
        };
        let (definition, submit) =
            documents(&c.plan, &c.text, &opts).map_err(|e| InputError(format!("{e:#}")))?;
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "registerJobDefinition": definition,
                "submitJob": submit,
            }))?
        );
        Ok(ExitCode::Success)
    }
}
