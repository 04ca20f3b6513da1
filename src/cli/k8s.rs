//! `s3bench k8s`: the Kubernetes manifests (Indexed Job, merge Job,
//! ConfigMap) of a distributed run, as YAML on stdout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::{RunCommand, parse};
use crate::cluster::S3Url;
use crate::cluster::k8s::{K8sOptions, manifests, to_yaml};
use crate::exit::{ExitCode, InputError};
use crate::scenario::Plan;

#[derive(Debug, Args)]
pub struct K8sArgs {
    /// Scenario file (TOML); its text goes into a ConfigMap as is.
    pub scenario: PathBuf,
    /// Number of shards (pods), each running the whole scenario.
    #[arg(long)]
    pub shards: u32,
    /// Container image with s3bench as its entrypoint (see Dockerfile).
    #[arg(long)]
    pub image: String,
    /// Namespace for the Jobs and the ConfigMap (default: kubectl's).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Service account whose IAM role (IRSA / EKS Pod Identity) reaches the buckets.
    #[arg(long)]
    pub service_account: Option<String>,
    /// Where shards publish results: s3://BUCKET/PREFIX/ (pods have no shared disk).
    #[arg(long, value_name = "S3_URL")]
    pub results: String,
    /// Also print an example Karpenter NodePool and EC2NodeClass for benchmark nodes.
    #[arg(long)]
    pub karpenter: bool,
    /// Run id (default: UTC time, scenario name and a random suffix).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Zone ID to pin pods to (default: the directory bucket's, from its name).
    #[arg(long)]
    pub zone_id: Option<String>,
    /// How long each shard waits at the start barrier for the others.
    #[arg(long, default_value = "10m", value_parser = parse::duration)]
    pub barrier_timeout: Duration,
    /// Port of each shard's live Prometheus metrics (container port
    /// `metrics`, prometheus.io/* scrape annotations); 0: none.
    #[arg(long, default_value_t = crate::cluster::k8s::METRICS_PORT)]
    pub metrics_port: u16,
}

impl RunCommand for K8sArgs {
    async fn run(self) -> anyhow::Result<ExitCode> {
        let c = ClusterInputs::read(&self.scenario, self.run_id.as_deref(), &self.results)?;
        let file_name = self
            .scenario
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let opts = K8sOptions {
            shards: self.shards,
            image: self.image,
            namespace: self.namespace,
            service_account: self.service_account,
            results: c.results,
            karpenter: self.karpenter,
            run_id: c.run_id,
            zone_id: self.zone_id,
            barrier_timeout: self.barrier_timeout,
            metrics_port: (self.metrics_port != 0).then_some(self.metrics_port),
        };
        let docs = manifests(&c.plan, &file_name, &c.text, &opts)
            .map_err(|e| InputError(format!("{e:#}")))?;
        print!("{}", to_yaml(&docs)?);
        Ok(ExitCode::Success)
    }
}

/// What `k8s` and `batch` both start from: the scenario (its text travels
/// as is), the run id and the results URL.
pub(super) struct ClusterInputs {
    pub plan: Plan,
    pub text: String,
    pub run_id: String,
    pub results: S3Url,
}

impl ClusterInputs {
    pub fn read(scenario: &Path, run_id: Option<&str>, results: &str) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(scenario).map_err(|e| {
            InputError(format!(
                "cannot read the scenario file {}: {e}",
                scenario.display()
            ))
        })?;
        let plan = crate::scenario::parse(&text, scenario)?;
        let run_id = match run_id {
            Some(id) => id.to_string(),
            None => crate::plan::run_id::generate(&plan.name, std::time::SystemTime::now()),
        };
        crate::plan::run_id::check(&run_id).map_err(InputError)?;
        let results = parse::results_url(Some(results))?.expect("given");
        Ok(ClusterInputs {
            plan,
            text,
            run_id,
            results,
        })
    }
}
