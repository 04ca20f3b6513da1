//! The start barrier: the shards of one run meet in the benchmark's own
//! bucket, so they need no coordinator and no clock arithmetic from the user.
//!
//! Each shard writes `s3bench/<run id>/barrier/<shard>` (a small JSON body
//! with its wall-clock time), then lists that prefix until all N objects are
//! there. The common start is the last arrival's written time plus a fixed
//! margin, long enough for every other shard to notice the last arrival
//! (a poll interval, a LIST and reading the bodies). Every shard computes the
//! same instant from the same objects; each waits for it on its own clock,
//! so shards start together to within the hosts' clock offset (Amazon Time
//! Sync keeps EC2 clocks within about a millisecond). Each shard also
//! measures its offset against the endpoint's `Date` header and reports it,
//! so a host whose clock is off shows up in its report instead of silently
//! starting early or late.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::clock::{ClockEstimate, ClockOffset, DateObserver};

/// Polling and start margin; [`Default`] is what [`wait`] uses.
#[derive(Debug, Clone, Copy)]
pub struct BarrierOptions {
    /// First poll interval; grows by half each poll up to `poll_max`.
    pub poll_min: Duration,
    pub poll_max: Duration,
    /// Time from the last arrival's write to the common start.
    pub margin: Duration,
}

impl Default for BarrierOptions {
    fn default() -> Self {
        BarrierOptions {
            poll_min: Duration::from_millis(200),
            poll_max: Duration::from_secs(1),
            // poll_max + a LIST + N small GETs, with room for a slow request.
            margin: Duration::from_secs(3),
        }
    }
}

/// What a shard learned at the barrier.
#[derive(Debug, Clone, PartialEq)]
pub struct BarrierOutcome {
    /// The common start, on this host's clock.
    pub start_at: SystemTime,
    /// Shard whose arrival (latest written time) defined the start.
    pub last_arrival: u32,
    /// Time this shard spent between writing its object and seeing all N.
    pub waited: Duration,
    /// Each shard's written time, by shard index.
    pub arrivals: Vec<SystemTime>,
    /// None when the endpoint sent no `Date` header.
    pub clock_offset: Option<ClockOffset>,
    /// How late this shard saw the barrier complete, if after `start_at`
    /// (it then starts at once).
    pub late_by: Option<Duration>,
}

impl BarrierOutcome {
    /// Sleeps until the common start (returns at once when it has passed).
    pub async fn sleep_until_start(&self) {
        if let Ok(d) = self.start_at.duration_since(SystemTime::now()) {
            tokio::time::sleep(d).await;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BarrierError {
    #[error(
        "start barrier {location}: {arrived} of {count} shards arrived within {waited}; \
         missing: {missing} (never wrote its barrier object: not started yet, failed before \
         the barrier, or run with another run id or shard count){gone}",
        missing = list(.missing),
        gone = gone_note(.gone),
        waited = humantime::format_duration(Duration::from_secs(.waited.as_secs_f64().round() as u64))
    )]
    Timeout {
        location: String,
        count: u32,
        arrived: u32,
        missing: Vec<u32>,
        /// Shards that arrived but whose objects were gone at the end: they
        /// gave up (their own timeout ran out first) or ended.
        gone: Vec<u32>,
        waited: Duration,
    },
    #[error("start barrier {location}: cancelled while waiting for shards {}", list(.missing))]
    Cancelled { location: String, missing: Vec<u32> },
    #[error("start barrier: shard index {shard} is not below the shard count {count}")]
    BadShard { shard: u32, count: u32 },
    #[error("start barrier {location}: {op} failed: {message}")]
    S3 {
        location: String,
        op: &'static str,
        message: String,
    },
    #[error("start barrier: object {key} is not a barrier record: {why}")]
    BadObject { key: String, why: String },
}

fn gone_note(gone: &[u32]) -> String {
    if gone.is_empty() {
        return String::new();
    }
    format!(
        "; {} arrived but left again (gave up waiting, or ended)",
        list(gone)
    )
}

fn list(shards: &[u32]) -> String {
    const SHOWN: usize = 20;
    let mut s = shards
        .iter()
        .take(SHOWN)
        .map(|i| format!("shard {i}"))
        .collect::<Vec<_>>()
        .join(", ");
    if shards.len() > SHOWN {
        s.push_str(&format!(" and {} more", shards.len() - SHOWN));
    }
    s
}

/// The body of a barrier object.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    shard: u32,
    count: u32,
    /// Milliseconds since the Unix epoch, on the writer's clock.
    written_at_ms: u64,
    written_at: String,
    host: String,
}

/// Key prefix of a run's barrier objects.
pub fn prefix(run_id: &str) -> String {
    format!("s3bench/{run_id}/barrier/")
}

/// Writes this shard's barrier object and waits until all `count` shards
/// have written theirs, or `timeout` passes, or `cancel` completes.
pub async fn wait(
    client: &Client,
    bucket: &str,
    run_id: &str,
    shard: u32,
    count: u32,
    timeout: Duration,
    cancel: impl Future,
) -> Result<BarrierOutcome, BarrierError> {
    wait_with(
        client,
        bucket,
        run_id,
        shard,
        count,
        timeout,
        cancel,
        BarrierOptions::default(),
    )
    .await
}

/// [`wait`] with explicit polling and margin.
#[allow(clippy::too_many_arguments)]
pub async fn wait_with(
    client: &Client,
    bucket: &str,
    run_id: &str,
    shard: u32,
    count: u32,
    timeout: Duration,
    cancel: impl Future,
    opts: BarrierOptions,
) -> Result<BarrierOutcome, BarrierError> {
    if shard >= count {
        return Err(BarrierError::BadShard { shard, count });
    }
    let location = format!("s3://{bucket}/{}", prefix(run_id));
    // (never seen, seen but gone), for a wait that ends from outside.
    let missing = Mutex::new(((0..count).collect::<Vec<u32>>(), Vec::new()));
    let deadline = Instant::now() + timeout;
    let inner = meet(
        client, bucket, run_id, shard, count, deadline, opts, &missing, &location,
    );
    // The hard stop also bounds a request that hangs past the deadline.
    let hard_stop = tokio::time::sleep_until((deadline + Duration::from_secs(5)).into());
    let missing_now = || missing.lock().map(|m| m.clone()).unwrap_or_default();
    tokio::select! {
        r = inner => r,
        _ = cancel => Err(BarrierError::Cancelled { location: location.clone(), missing: missing_now().0 }),
        _ = hard_stop => {
            let (missing, gone) = missing_now();
            Err(BarrierError::Timeout {
                location: location.clone(),
                count,
                arrived: count - missing.len() as u32,
                missing,
                gone,
                waited: timeout,
            })
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn meet(
    client: &Client,
    bucket: &str,
    run_id: &str,
    shard: u32,
    count: u32,
    deadline: Instant,
    opts: BarrierOptions,
    missing: &Mutex<(Vec<u32>, Vec<u32>)>,
    location: &str,
) -> Result<BarrierOutcome, BarrierError> {
    let s3 = |op: &'static str, e: String| BarrierError::S3 {
        location: location.to_string(),
        op,
        message: e,
    };
    let clock = Arc::new(Mutex::new(ClockEstimate::default()));
    let pfx = prefix(run_id);
    let now = SystemTime::now();
    let record = Record {
        shard,
        count,
        written_at_ms: unix_ms(now),
        written_at: humantime::format_rfc3339_millis(now).to_string(),
        host: gethostname::gethostname().to_string_lossy().into_owned(),
    };
    let body = serde_json::to_vec(&record).expect("a record serializes");
    client
        .put_object()
        .bucket(bucket)
        .key(format!("{pfx}{shard}"))
        .content_type("application/json")
        .body(ByteStream::from(body))
        .customize()
        .interceptor(DateObserver::new(clock.clone()))
        .send()
        .await
        .map_err(|e| s3("PutObject", describe(&e)))?;
    let written = Instant::now();

    let mut interval = opts.poll_min;
    // A shard counts as arrived once seen: one that gave up before this
    // one did is not "missing", though all N must be there at once to meet.
    let mut seen = vec![false; count as usize];
    let keys = loop {
        let present = present(client, bucket, &pfx, count, &clock)
            .await
            .map_err(|e| s3("ListObjectsV2", e))?;
        for (s, p) in seen.iter_mut().zip(&present) {
            *s |= *p;
        }
        let done = present.iter().all(|p| *p);
        let now_missing: Vec<u32> = (0..count).filter(|i| !seen[*i as usize]).collect();
        let gone: Vec<u32> = (0..count)
            .filter(|i| seen[*i as usize] && !present[*i as usize])
            .collect();
        if let Ok(mut m) = missing.lock() {
            *m = (now_missing.clone(), gone.clone());
        }
        if done {
            break (0..count).map(|i| format!("{pfx}{i}")).collect::<Vec<_>>();
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(BarrierError::Timeout {
                location: location.to_string(),
                count,
                arrived: count - now_missing.len() as u32,
                missing: now_missing,
                gone,
                waited: written.elapsed(),
            });
        }
        // Jitter spreads the LISTs of many shards that started together.
        let jittered = interval.mul_f64(0.75 + fastrand::f64() * 0.5);
        tokio::time::sleep(jittered.min(left)).await;
        interval = (interval.mul_f64(1.5)).min(opts.poll_max);
    };
    let waited = written.elapsed();

    let arrivals = arrivals(client, bucket, keys, count, location).await?;
    let (last_arrival, last) = arrivals
        .iter()
        .enumerate()
        .max_by_key(|(_, t)| **t)
        .map(|(i, t)| (i as u32, *t))
        .expect("count >= 1");
    let start_at = last + opts.margin;
    let late_by = SystemTime::now().duration_since(start_at).ok();
    let clock_offset = clock.lock().ok().and_then(|c| c.estimate());
    Ok(BarrierOutcome {
        start_at,
        last_arrival,
        waited,
        arrivals,
        clock_offset,
        late_by,
    })
}

/// Which shards' barrier objects are there now (one LIST, paged).
async fn present(
    client: &Client,
    bucket: &str,
    pfx: &str,
    count: u32,
    clock: &Arc<Mutex<ClockEstimate>>,
) -> Result<Vec<bool>, String> {
    let mut present = vec![false; count as usize];
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(pfx)
            .set_continuation_token(token.take())
            .customize()
            .interceptor(DateObserver::new(clock.clone()))
            .send()
            .await
            .map_err(|e| describe(&e))?;
        for o in page.contents() {
            let i = o
                .key()
                .and_then(|k| k.strip_prefix(pfx))
                .and_then(|s| s.parse::<u32>().ok());
            if let Some(i) = i.filter(|i| *i < count) {
                present[i as usize] = true;
            }
        }
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => return Ok(present),
        }
    }
}

/// When each shard wrote its barrier object: every record read (16 at a
/// time) and checked to be of a run with as many shards as this one.
async fn arrivals(
    client: &Client,
    bucket: &str,
    keys: Vec<String>,
    count: u32,
    location: &str,
) -> Result<Vec<SystemTime>, BarrierError> {
    let s3 = |op: &'static str, e: String| BarrierError::S3 {
        location: location.to_string(),
        op,
        message: e,
    };
    let mut arrivals = vec![UNIX_EPOCH; count as usize];
    let mut reads = futures_util::stream::iter(keys.into_iter().map(|key| async move {
        let out = client.get_object().bucket(bucket).key(&key).send().await;
        (key, out)
    }))
    .buffer_unordered(16);
    while let Some((key, out)) = reads.next().await {
        let out = out.map_err(|e| s3("GetObject", describe(&e)))?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| s3("GetObject", e.to_string()))?
            .into_bytes();
        let r: Record = serde_json::from_slice(&bytes).map_err(|e| BarrierError::BadObject {
            key: key.clone(),
            why: e.to_string(),
        })?;
        if r.count != count {
            return Err(BarrierError::BadObject {
                key,
                why: format!(
                    "shard {} was started with {} shards, this one with {count}: \
                     every shard of a run needs the same --shard-count",
                    r.shard, r.count
                ),
            });
        }
        if let Some(slot) = arrivals.get_mut(r.shard as usize) {
            *slot = UNIX_EPOCH + Duration::from_millis(r.written_at_ms);
        }
    }
    Ok(arrivals)
}

/// Deletes this shard's barrier object (call once the shard's measured
/// phases are over, in its cleanup; a shard retried later then times out
/// at the barrier instead of measuring alone).
pub async fn remove(client: &Client, bucket: &str, run_id: &str, shard: u32) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let key = format!("{}{shard}", prefix(run_id));
    client
        .delete_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(describe(&e)))
        .with_context(|| format!("cannot delete s3://{bucket}/{key}"))?;
    Ok(())
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

fn describe<E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> String {
    match e.as_service_error() {
        Some(se) => format!(
            "{}: {}",
            se.code().unwrap_or("error"),
            se.message().unwrap_or("no message")
        ),
        None => aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_barrier_error_names_missing_shards() {
        let e = BarrierError::Timeout {
            location: "s3://b/s3bench/r/barrier/".into(),
            count: 3,
            arrived: 2,
            missing: vec![1],
            gone: Vec::new(),
            waited: Duration::from_secs(600),
        };
        let s = e.to_string();
        assert!(s.contains("2 of 3 shards arrived within 10m"), "{s}");
        assert!(s.contains("missing: shard 1 ("), "{s}");
        assert!(!s.contains("left again"), "{s}");
        let e = BarrierError::Timeout {
            location: "s3://b/s3bench/r/barrier/".into(),
            count: 3,
            arrived: 2,
            missing: vec![1],
            gone: vec![2],
            waited: Duration::from_secs(8),
        };
        assert!(
            e.to_string()
                .ends_with("; shard 2 arrived but left again (gave up waiting, or ended)"),
            "{e}"
        );
        let many = list(&(0..25).collect::<Vec<_>>());
        assert!(many.ends_with("shard 19 and 5 more"), "{many}");
    }
}
