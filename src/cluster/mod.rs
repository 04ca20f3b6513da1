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
pub mod s3url;

use std::time::SystemTime;

pub use s3url::S3Url;

/// Environment variables that carry a shard index, by engine.
pub const SHARD_INDEX_VARS: [&str; 2] = ["JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"];

/// A shard index from the environment that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShardEnvError {
    #[error("{var}={value:?} is not a shard index (expected a whole number from 0)")]
    NotANumber { var: &'static str, value: String },
    #[error(
        "JOB_COMPLETION_INDEX={k8s} and AWS_BATCH_JOB_ARRAY_INDEX={batch} disagree: \
         unset one, or pass --shard-index"
    )]
    Disagree { k8s: u32, batch: u32 },
}

/// This process's shard index as set by the engine that started it:
/// `JOB_COMPLETION_INDEX` (Kubernetes Indexed Job) or
/// `AWS_BATCH_JOB_ARRAY_INDEX` (AWS Batch array job). None when neither is
/// set (or both are empty). Both set to the same number is fine (a Batch job
/// on EKS); different numbers are an error, since either could be right.
pub fn shard_index_from_env() -> Result<Option<u32>, ShardEnvError> {
    shard_index_from(|k| std::env::var(k).ok())
}

/// [`shard_index_from_env`] over any variable lookup (for tests).
pub fn shard_index_from(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<u32>, ShardEnvError> {
    let read = |var: &'static str| -> Result<Option<u32>, ShardEnvError> {
        match get(var) {
            None => Ok(None),
            Some(v) if v.trim().is_empty() => Ok(None),
            Some(v) => v
                .trim()
                .parse::<u32>()
                .map(Some)
                .map_err(|_| ShardEnvError::NotANumber { var, value: v }),
        }
    };
    let k8s = read(SHARD_INDEX_VARS[0])?;
    let batch = read(SHARD_INDEX_VARS[1])?;
    match (k8s, batch) {
        (Some(k), Some(b)) if k != b => Err(ShardEnvError::Disagree { k8s: k, batch: b }),
        (k, b) => Ok(k.or(b)),
    }
}

/// A `--start-at` that cannot be honoured.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StartAtError {
    #[error(
        "--start-at {at} is {ago} in the past (this host's clock says {now}): \
         pick a later time, or drop --start-at and use --barrier"
    )]
    InThePast {
        at: String,
        now: String,
        ago: String,
    },
}

/// Refuses a `--start-at` that has already passed on this host's clock: a
/// shard that started late would measure alone while the others ran, and
/// every shard of a run given a past time (a pod retried later, a job
/// submitted again) would start at once without overlapping. Call before
/// any request is sent.
pub fn validate_start_at(at: SystemTime, now: SystemTime) -> Result<(), StartAtError> {
    match now.duration_since(at) {
        Ok(ago) if !ago.is_zero() => Err(StartAtError::InThePast {
            at: humantime::format_rfc3339_seconds(at).to_string(),
            now: humantime::format_rfc3339_seconds(now).to_string(),
            ago: humantime::format_duration(std::time::Duration::from_secs(ago.as_secs().max(1)))
                .to_string(),
        }),
        _ => Ok(()),
    }
}

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

/// A run id for a run that was not given one: UTC time, scenario name and a
/// random suffix (the same shape `s3bench run` generates).
pub fn generate_run_id(scenario: &str, now: SystemTime) -> String {
    let t = humantime::format_rfc3339_seconds(now).to_string();
    let stamp = t
        .get(..19)
        .unwrap_or("")
        .replace([':', '-'], "")
        .replace('T', "-");
    let name: String = scenario
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{stamp}-{name}-{:06x}", fastrand::u32(..0x100_0000))
}

/// Run ids name S3 prefixes, directories and Kubernetes labels: letters,
/// digits, '-', '_' and '.', at most 63 characters.
pub fn check_run_id(id: &str) -> Result<(), String> {
    if id.is_empty()
        || id.len() > 63
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || !id.starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Err(format!(
            "run id {id:?} must be 1 to 63 letters, digits, '-', '_' or '.', starting with a letter or digit"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn cluster_shard_index_from_either_engine() {
        assert_eq!(shard_index_from(env(&[])), Ok(None));
        assert_eq!(
            shard_index_from(env(&[("JOB_COMPLETION_INDEX", "3")])),
            Ok(Some(3))
        );
        assert_eq!(
            shard_index_from(env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "7")])),
            Ok(Some(7))
        );
        assert_eq!(
            shard_index_from(env(&[
                ("JOB_COMPLETION_INDEX", "2"),
                ("AWS_BATCH_JOB_ARRAY_INDEX", "2")
            ])),
            Ok(Some(2))
        );
        assert_eq!(
            shard_index_from(env(&[("JOB_COMPLETION_INDEX", "")])),
            Ok(None)
        );
        let e = shard_index_from(env(&[
            ("JOB_COMPLETION_INDEX", "1"),
            ("AWS_BATCH_JOB_ARRAY_INDEX", "2"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("disagree"), "{e}");
        let e = shard_index_from(env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "-1")])).unwrap_err();
        assert!(
            e.to_string().contains("AWS_BATCH_JOB_ARRAY_INDEX=\"-1\""),
            "{e}"
        );
        let e = shard_index_from(env(&[("JOB_COMPLETION_INDEX", "one")])).unwrap_err();
        assert!(e.to_string().contains("JOB_COMPLETION_INDEX"), "{e}");
    }

    #[test]
    fn cluster_start_at_in_the_past_is_refused() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert!(validate_start_at(now + Duration::from_secs(30), now).is_ok());
        assert!(validate_start_at(now, now).is_ok());
        let e = validate_start_at(now - Duration::from_secs(90), now).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("1m 30s in the past"), "{s}");
        assert!(s.contains("2027-01-15T08:00:00Z"), "{s}");
    }
}
