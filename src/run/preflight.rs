//! Preflight: before anything is written, one ListObjectsV2 under the run
//! prefix per target. Unlike HeadBucket its error responses carry a body, so
//! a wrong secret, an unknown key and a missing bucket can each be named in
//! one sentence; on directory buckets it also exercises CreateSession and
//! session auth. Cleanup needs the same permission.

use std::time::Duration;

use crate::client::{TargetConfig, describe_preflight};

/// A target is unreachable, the credentials are wrong or a bucket is
/// missing: found before the run starts, one sentence per target.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PreflightError(pub String);

/// Checks one target; `Err` is the sentence that says what is wrong.
pub async fn check(
    client: &aws_sdk_s3::Client,
    t: &TargetConfig,
    run_prefix: &str,
) -> Result<(), String> {
    let endpoint = t
        .endpoint
        .clone()
        .unwrap_or_else(|| format!("AWS {}", t.spec.region));
    let (name, bucket) = (&t.spec.name, &t.spec.bucket);
    // A 5xx (503 SlowDown, an injected fault) is transient: ask again a
    // few times before calling the target broken.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(run_prefix)
            .max_keys(1)
            .send()
            .await
        {
            Ok(page) => {
                // A reused run id would mix this run's objects with an
                // earlier one's, and its cleanup would delete both.
                if page.key_count().unwrap_or(0) > 0 || !page.contents().is_empty() {
                    return Err(format!(
                        "target '{name}': the run prefix {run_prefix} in bucket '{bucket}' already holds objects \
                         (a reused --run-id?): pick another run id, or remove them with `s3bench cleanup`"
                    ));
                }
                return Ok(());
            }
            Err(e) => {
                let transient = e
                    .raw_response()
                    .is_some_and(|r| r.status().is_server_error());
                if !transient || attempt >= 8 {
                    return Err(describe_preflight(name, bucket, &endpoint, &e));
                }
                // 0.2 s doubling to 2 s: about 10 s in all before giving up.
                tokio::time::sleep(Duration::from_millis((100u64 << attempt).min(2_000))).await;
            }
        }
    }
}
