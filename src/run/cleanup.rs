//! Deleting what a run wrote. Cleanup is not a measurement: it retries with
//! backoff whatever the measured phases' `max_attempts` is, checks the
//! per-key errors DeleteObjects returns inside a 200, and lists again until
//! the run prefix is empty, so a flaky endpoint cannot leave objects behind
//! silently. What it cannot delete is said on stderr and in the report with
//! the command that removes it (`s3bench cleanup`).

use std::time::{Duration, Instant};

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use tokio::time::sleep;

use crate::engine::OpRecorder;
use crate::report::model::LeftBehind;
use crate::s3::OpKind;
use crate::stats::Sample;

/// Attempts per request before the cleanup gives up on it: 0.1 + 0.2 + ...
/// + 1.6 s = 3.1 s of backoff, so a dead endpoint costs seconds, not minutes.
const ATTEMPTS: u32 = 6;
/// Passes of list-and-delete over the prefix before giving up.
const PASSES: u32 = 6;
/// First backoff; doubles per attempt up to `MAX_BACKOFF`.
const BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(3);

/// `Cleaned::left`'s reason after a dry run that listed every key.
pub const DRY_RUN: &str = "dry run";

/// What one target's cleanup did.
pub struct Cleaned {
    /// Its LIST and DELETE requests, for the report's cleanup phase.
    pub recorder: OpRecorder,
    pub elapsed_s: f64,
    /// Objects deleted.
    pub deleted: u64,
    /// Objects still there, and why, when the cleanup gave up.
    pub left: Option<(u64, String)>,
}

/// Deletes everything under `prefix` in `bucket` (every key there is this
/// run's own), or with `dry_run` only lists it. Never fails: what it could
/// not do is in `Cleaned::left`.
pub async fn delete_prefix(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    dry_run: bool,
    mut on_key: impl FnMut(&str),
) -> Cleaned {
    let t0 = Instant::now();
    let mut rec = OpRecorder::default();
    let mut deleted = 0u64;
    let mut last_error = String::new();
    for _pass in 0..PASSES {
        let mut token: Option<String> = None;
        let mut seen = 0u64;
        let mut failed = false;
        let deleted_before = deleted;
        loop {
            let page = retry(&mut rec, OpKind::List, t0, || {
                client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(prefix)
                    .set_continuation_token(token.clone())
                    .send()
            })
            .await;
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    last_error = format!("listing {prefix} failed: {e}");
                    failed = true;
                    break;
                }
            };
            let keys: Vec<String> = page
                .contents()
                .iter()
                .filter_map(|o| o.key())
                // Only keys under the run prefix: a server that ignores
                // `prefix` must not make us delete someone else's data.
                .filter(|k| k.starts_with(prefix))
                .map(str::to_string)
                .collect();
            seen += keys.len() as u64;
            for k in &keys {
                on_key(k);
            }
            if !dry_run && !keys.is_empty() {
                match delete_keys(client, bucket, &keys, &mut rec, t0).await {
                    Ok(n) => deleted += n,
                    Err(e) => {
                        last_error = e;
                        failed = true;
                    }
                }
            }
            match page.next_continuation_token {
                Some(t) if page.is_truncated == Some(true) => token = Some(t),
                _ => break,
            }
        }
        if dry_run {
            return Cleaned {
                recorder: rec,
                elapsed_s: t0.elapsed().as_secs_f64(),
                deleted: 0,
                // A listing that failed is said (it is not "nothing there").
                left: if failed {
                    Some((seen, last_error))
                } else {
                    (seen > 0).then(|| (seen, DRY_RUN.to_string()))
                },
            };
        }
        if seen == 0 && !failed {
            return Cleaned {
                recorder: rec,
                elapsed_s: t0.elapsed().as_secs_f64(),
                deleted,
                left: None,
            };
        }
        if failed && deleted == deleted_before {
            // Nothing moved in a whole pass of retried requests: the endpoint
            // is gone or refuses us; more passes would only wait longer.
            break;
        }
        // Something was deleted (or failed) in this pass: list again to be
        // sure the prefix is empty (DeleteObjects may report errors inside a
        // 200, or answer 500 after deleting).
    }
    let remaining = count_remaining(client, bucket, prefix).await;
    let left = match remaining {
        Some(0) => None,
        Some(n) => Some((n, last_error)),
        None => Some((0, last_error)),
    };
    Cleaned {
        recorder: rec,
        elapsed_s: t0.elapsed().as_secs_f64(),
        deleted,
        left,
    }
}

/// Deletes `keys` with DeleteObjects, retrying the request and then the
/// keys it reports as not deleted. Returns how many were deleted.
async fn delete_keys(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    keys: &[String],
    rec: &mut OpRecorder,
    t0: Instant,
) -> Result<u64, String> {
    let mut todo: Vec<String> = keys.to_vec();
    let mut backoff = BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let ids: Vec<ObjectIdentifier> = todo
            .iter()
            .filter_map(|k| ObjectIdentifier::builder().key(k).build().ok())
            .collect();
        let delete = Delete::builder()
            .set_objects(Some(ids))
            .quiet(true)
            .build()
            .map_err(|e| e.to_string())?;
        let start = Instant::now();
        let res = client
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await;
        let kind = res.as_ref().err().map(crate::client::classify);
        note(rec, OpKind::Delete, start, t0, kind.as_ref());
        match res {
            Ok(out) => {
                let failed: Vec<String> = out
                    .errors()
                    .iter()
                    .filter_map(|e| e.key().map(str::to_string))
                    .collect();
                if failed.is_empty() {
                    return Ok(keys.len() as u64);
                }
                todo = failed;
            }
            Err(e) if attempt == ATTEMPTS => {
                return Err(format!(
                    "deleting objects failed: {}",
                    crate::client::classify(&e).key
                ));
            }
            Err(_) => {}
        }
        sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    Err(format!(
        "{} objects were refused by DeleteObjects {ATTEMPTS} times",
        todo.len()
    ))
}

async fn count_remaining(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Option<u64> {
    let mut n = 0;
    let mut token = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .ok()?;
        n += page
            .contents()
            .iter()
            .filter(|o| o.key().is_some_and(|k| k.starts_with(prefix)))
            .count() as u64;
        match page.next_continuation_token {
            Some(t) if page.is_truncated == Some(true) => token = Some(t),
            _ => return Some(n),
        }
    }
}

/// Sends a request up to `ATTEMPTS` times with exponential backoff,
/// recording every attempt.
async fn retry<T, E, F, Fut>(
    rec: &mut OpRecorder,
    op: OpKind,
    t0: Instant,
    f: F,
) -> Result<T, String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<
            Output = Result<
                T,
                aws_sdk_s3::error::SdkError<
                    E,
                    aws_smithy_runtime_api::client::orchestrator::HttpResponse,
                >,
            >,
        >,
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut backoff = BACKOFF;
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        let start = Instant::now();
        match f().await {
            Ok(v) => {
                note(rec, op, start, t0, None);
                return Ok(v);
            }
            Err(e) => {
                let kind = crate::client::classify(&e);
                note(rec, op, start, t0, Some(&kind));
                last = kind.key;
                // Bad input (403, 404) will not get better by asking again.
                if e.raw_response()
                    .is_some_and(|r| r.status().is_client_error() && r.status().as_u16() != 429)
                {
                    break;
                }
            }
        }
        sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    Err(last)
}

fn note(
    rec: &mut OpRecorder,
    op: OpKind,
    start: Instant,
    t0: Instant,
    failed: Option<&crate::client::ErrorKind>,
) {
    let ns = start.elapsed().as_nanos() as u64;
    rec.record(
        op.index(),
        t0.elapsed().as_secs() as usize,
        &Sample {
            latency_ns: ns,
            service_ns: ns,
            ttfb_ns: None,
            bytes: 0,
            requests: 1,
            failure: failed.map(|e| e.failure()),
            late_start: false,
            behind_session: false,
        },
    );
}

/// The report's and stderr's record of objects a cleanup could not delete.
pub fn left_behind(
    target: &str,
    bucket: &str,
    prefix: &str,
    objects: u64,
    reason: String,
    scenario_file: &str,
    run_id: &str,
) -> LeftBehind {
    LeftBehind {
        target: target.to_string(),
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
        objects,
        reason,
        command: format!("s3bench cleanup {scenario_file} --run-id {run_id}"),
    }
}

/// One line for stderr about objects left behind.
pub fn describe_left(l: &LeftBehind) -> String {
    let count = l.count_text();
    format!(
        "cleanup could not finish on target '{}': {count} left under s3://{}/{} ({}). Remove them with: {}",
        l.target, l.bucket, l.prefix, l.reason, l.command
    )
}
