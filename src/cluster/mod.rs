//! Running one scenario as many shards on an engine the user already has
//! (Kubernetes Indexed Jobs, AWS Batch array jobs): the manifests for those
//! engines, a start barrier the shards meet at in S3, and results published
//! to and merged from S3. Nothing here coordinates processes itself: the
//! engine starts the shards, S3 is the only shared state.

pub mod barrier;
pub mod batch;
pub mod clock;
pub mod k8s;
pub mod results;

pub use crate::s3::url::S3Url;

/// An S3 client for the cluster commands (barrier, results, merge): the
/// aws-config default chain (env, profile, IRSA / EKS Pod Identity, instance
/// role), region from the chain or us-east-1, and an optional endpoint
/// override for tests and S3-compatible stores (path-style addressing then,
/// since such endpoints rarely have per-bucket DNS names).
pub async fn s3_client(endpoint_url: Option<&str>) -> aws_sdk_s3::Client {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    let shared = loader.load().await;
    let mut b = aws_sdk_s3::config::Builder::from(&shared);
    if shared.region().is_none() {
        b = b.region(aws_sdk_s3::config::Region::new("us-east-1"));
    }
    if let Some(url) = endpoint_url {
        b = b.endpoint_url(url).force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}
