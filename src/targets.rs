//! Where a scenario's targets are, resolved in one place for `run`,
//! `doctor`, `cleanup` and `serve`: the real endpoints (each target's
//! region, endpoint and credentials from aws-config's chain) or s3bench's
//! embedded endpoint on 127.0.0.1, with the scenario's buckets and the
//! injection of their `[targets.NAME.embedded]` tables.

use anyhow::Context as _;

use crate::client::TargetConfig;
use crate::s3::inject::Injection;
use crate::scenario::Plan;
use crate::server::{EmbeddedServer, ServerConfig};

/// A plan's targets, resolved; owns the embedded endpoint when there is one
/// (stopped by [`Resolved::shutdown`], or when dropped).
pub struct Resolved {
    /// One per target of the plan, in the plan's order.
    pub configs: Vec<TargetConfig>,
    server: Option<EmbeddedServer>,
}

impl Resolved {
    /// The embedded endpoint the targets point at, if they do.
    pub fn server(&self) -> Option<&EmbeddedServer> {
        self.server.as_ref()
    }

    /// True when the targets are the embedded endpoint's buckets (no AWS
    /// bill, no zone to compare).
    pub fn is_embedded(&self) -> bool {
        self.server.is_some()
    }

    /// Stops the embedded endpoint, if one was started.
    pub fn shutdown(self) {
        if let Some(s) = self.server {
            s.shutdown();
        }
    }
}

/// Resolves every target of `plan`: against a freshly started embedded
/// endpoint when `embedded` is set, else as the scenario declares them.
pub async fn resolve(plan: &Plan, embedded: bool) -> anyhow::Result<Resolved> {
    if !embedded {
        return Ok(Resolved {
            configs: from_environment(plan).await,
            server: None,
        });
    }
    let server = start_embedded(plan)?;
    Ok(Resolved {
        configs: embedded_targets(plan, &server),
        server: Some(server),
    })
}

/// Each target as the scenario declares it, with credentials from
/// aws-config's chain (the target's `profile`, if it names one).
pub async fn from_environment(plan: &Plan) -> Vec<TargetConfig> {
    let mut targets = Vec::with_capacity(plan.targets.len());
    for t in &plan.targets {
        targets.push(TargetConfig::from_environment(t, &plan.client).await);
    }
    targets
}

/// The buckets an embedded endpoint serving `plan` creates, each with the
/// injection of its target's `[targets.NAME.embedded]` table.
pub fn embedded_buckets(plan: &Plan) -> impl Iterator<Item = (&str, Option<&Injection>)> {
    plan.targets
        .iter()
        .map(|t| (t.bucket.as_str(), t.embedded.as_ref()))
}

/// Starts the embedded endpoint with the plan's buckets and injections.
pub fn start_embedded(plan: &Plan) -> anyhow::Result<EmbeddedServer> {
    start_embedded_with(plan, ServerConfig::default())
}

/// [`start_embedded`] with a server configuration of the caller's (a short
/// session lifetime, say, so a test sees sessions renewed mid-phase).
pub fn start_embedded_with(plan: &Plan, cfg: ServerConfig) -> anyhow::Result<EmbeddedServer> {
    let server = EmbeddedServer::start(cfg)
        .context("could not start the embedded S3 endpoint on 127.0.0.1")?;
    for (bucket, injection) in embedded_buckets(plan) {
        server
            .create_bucket(bucket)
            .map_err(|e| anyhow::anyhow!("embedded endpoint: bucket '{bucket}': {e}"))?;
        if let Some(inj) = injection {
            server.set_injection(bucket, inj.clone());
        }
    }
    Ok(server)
}

/// Points every target of the plan at `server`.
pub fn embedded_targets(plan: &Plan, server: &EmbeddedServer) -> Vec<TargetConfig> {
    plan.targets
        .iter()
        .map(|t| {
            TargetConfig::with_static_keys(
                t,
                &plan.client,
                &server.endpoint(),
                server.access_key(),
                server.secret_key(),
            )
        })
        .collect()
}
