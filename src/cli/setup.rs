//! `s3bench setup`: a General Purpose + directory bucket pair created (or
//! deleted), and its `[targets]` block printed or written into a scenario.

use std::path::PathBuf;

use clap::Args;

use super::RunCommand;
use crate::doctor::setup::{SetupOptions, setup};
use crate::exit::ExitCode;

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// AWS region of both buckets, e.g. us-east-1.
    #[arg(long)]
    pub region: String,
    /// Availability Zone ID of the directory bucket, e.g. use1-az4 (run the
    /// client in the same zone; `aws ec2 describe-availability-zones` lists them).
    #[arg(long)]
    pub zone_id: String,
    /// Base name: the General Purpose bucket; the directory bucket is BASE--ZONE--x-s3.
    #[arg(long)]
    pub name: String,
    /// S3 endpoint override (an S3-compatible server); default: AWS.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// aws-config profile for the credentials (default: the standard chain).
    #[arg(long)]
    pub profile: Option<String>,
    /// Write the [targets] block into this scenario (replacing its
    /// [targets], keeping the rest) instead of printing it.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Use buckets that already exist instead of refusing.
    #[arg(long)]
    pub reuse: bool,
    /// Delete the pair instead, only when it holds nothing but s3bench/ keys.
    #[arg(long, conflicts_with_all = ["reuse", "scenario"])]
    pub delete: bool,
}

impl From<SetupArgs> for SetupOptions {
    fn from(a: SetupArgs) -> SetupOptions {
        SetupOptions {
            region: a.region,
            zone_id: a.zone_id,
            name: a.name,
            endpoint: a.endpoint,
            profile: a.profile,
            scenario: a.scenario,
            reuse: a.reuse,
            delete: a.delete,
        }
    }
}

impl RunCommand for SetupArgs {
    async fn run(self) -> anyhow::Result<ExitCode> {
        setup(self.into()).await
    }
}
