//! The engine against a scripted client on a paused clock: pacing, stages,
//! op budgets, warm-up and coordinated-omission correction are checked
//! exactly, with no network and no wall-clock tolerance (hyperfine's mock
//! executor is the model). The real-endpoint end-to-end tests keep what only
//! a real endpoint shows.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::client::{ErrorKind, ObjectClient, Outcome};

/// Answers every request after a scripted latency, on the engine thread's
/// (paused) clock. `stall` makes requests sent inside a window wait until
/// its end, like a server that stops answering for a while; `fail_from`
/// makes every request from that instant on fail with a refused connection.
#[derive(Clone, Default)]
pub(super) struct Script {
    pub latency: Duration,
    /// (from, until) since the job's start.
    pub stall: Option<(Duration, Duration)>,
    pub fail_from: Option<Duration>,
    /// At most this many requests are served at once (over every client
    /// sharing the script), the rest queue: a capacity of
    /// `slots / latency` requests a second.
    pub slots: Option<Arc<tokio::sync::Semaphore>>,
    /// Every GET as (target, key, range), in the order sent.
    pub log: Option<Arc<std::sync::Mutex<Vec<GetLog>>>>,
    /// GETs and PUTs of keys containing this are answered 503 SlowDown.
    pub throttle: Option<String>,
}

pub(super) type GetLog = (usize, String, Option<(u64, u64)>);

pub(super) struct Scripted {
    script: Script,
    target: usize,
    epoch: Arc<std::sync::Mutex<Option<Instant>>>,
    sent: Arc<AtomicU64>,
    /// Objects written (key -> (version, length)), shared by every thread's
    /// client: enough of S3 for appends and conditional writes to race.
    store: Store,
}

pub(super) type Store = Arc<std::sync::Mutex<std::collections::HashMap<String, (u64, u64)>>>;

fn refused(status: u16, code: &str) -> Outcome {
    Outcome::failed(
        1,
        ErrorKind {
            key: format!("{status} {code}"),
            status: Some(status),
        },
    )
}

fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

impl Scripted {
    fn throttles(&self, key: &str) -> bool {
        self.script
            .throttle
            .as_ref()
            .is_some_and(|t| key.contains(t.as_str()))
    }

    async fn answer(&self, bytes: u64) -> Outcome {
        let _slot = match &self.script.slots {
            Some(s) => Some(s.clone().acquire_owned().await.expect("semaphore open")),
            None => None,
        };
        let now = Instant::now();
        self.sent.fetch_add(1, Ordering::Relaxed);
        let epoch = *self.epoch.lock().unwrap().get_or_insert(now);
        let t = now - epoch;
        if self.script.fail_from.is_some_and(|f| t >= f) {
            return Outcome::failed(
                1,
                ErrorKind {
                    key: "connection".into(),
                    status: None,
                },
            );
        }
        let mut wait = self.script.latency;
        if let Some((from, until)) = self.script.stall
            && t >= from
            && t < until
        {
            wait += until - t;
        }
        tokio::time::sleep(wait).await;
        let mut o = Outcome::ok(bytes);
        o.first_byte = Some(Instant::now());
        o
    }
}

impl ObjectClient for Scripted {
    async fn get(&self, key: &str, range: Option<(u64, u64)>) -> Outcome {
        if let Some(log) = &self.script.log {
            log.lock()
                .unwrap()
                .push((self.target, key.to_string(), range));
        }
        let out = self.answer(range.map_or(4096, |(a, b)| b - a + 1)).await;
        if self.throttles(key) {
            return refused(503, "SlowDown");
        }
        out
    }
    async fn head(&self, _key: &str) -> Outcome {
        self.answer(0).await
    }
    /// A plain PUT replaces the object: a new version of `len` bytes.
    async fn put(&self, key: &str, len: u64) -> Outcome {
        let out = self.answer(len).await;
        if self.throttles(key) {
            return refused(503, "SlowDown");
        }
        if out.error.is_none() {
            let mut m = self.store.lock().unwrap();
            let v = m.get(key).map_or(1, |o| o.0 + 1);
            m.insert(key.to_string(), (v, len));
        }
        out
    }
    async fn delete(&self, _key: &str) -> Outcome {
        self.answer(0).await
    }
    async fn multipart_put(&self, _key: &str, len: u64, _part: u64) -> Outcome {
        self.answer(len).await
    }
    async fn list(
        &self,
        _prefix: &str,
        _page: u32,
        _delimiter: bool,
        _token: Option<String>,
    ) -> (Outcome, Option<String>) {
        (self.answer(0).await, None)
    }
    /// The write is checked and applied when the response is due, in one
    /// step under the store's lock, like the endpoint's bucket lock.
    async fn append(&self, key: &str, offset: u64, len: u64) -> Outcome {
        let out = self.answer(len).await;
        let mut m = self.store.lock().unwrap();
        match m.get(key).map(|o| o.1) {
            Some(n) if n == offset => {}
            None if offset == 0 => {}
            _ => return refused(400, "InvalidWriteOffset"),
        }
        let v = m.get(key).map_or(1, |o| o.0 + 1);
        m.insert(key.to_string(), (v, offset + len));
        out
    }
    async fn put_if(
        &self,
        key: &str,
        len: u64,
        cond: crate::client::WriteCondition<'_>,
    ) -> (Outcome, Option<String>) {
        let out = self.answer(len).await;
        let mut m = self.store.lock().unwrap();
        let current = m.get(key).copied();
        let holds = match cond {
            crate::client::WriteCondition::CreateOnly => current.is_none(),
            crate::client::WriteCondition::IfMatch(e) => current.is_some_and(|c| etag(c.0) == e),
        };
        if !holds {
            return (refused(412, "PreconditionFailed"), None);
        }
        let v = current.map_or(1, |c| c.0 + 1);
        m.insert(key.to_string(), (v, len));
        (out, Some(etag(v)))
    }
    async fn stat(&self, key: &str) -> (Outcome, Option<(String, u64)>) {
        let out = self.answer(0).await;
        match self.store.lock().unwrap().get(key) {
            Some(&(v, n)) => (out, Some((etag(v), n))),
            None => (refused(404, "NotFound"), None),
        }
    }
    async fn rename(&self, from: &str, to: &str) -> Outcome {
        let out = self.answer(0).await;
        let mut m = self.store.lock().unwrap();
        match m.remove(from) {
            Some(o) => {
                m.insert(to.to_string(), o);
                out
            }
            None => refused(404, "NoSuchKey"),
        }
    }
    async fn copy(&self, _from: &str, _to: &str) -> Outcome {
        self.answer(0).await
    }
}

pub(super) struct ScriptedConnector {
    pub script: Script,
    pub sent: Arc<AtomicU64>,
    pub targets: usize,
    pub store: Store,
}

impl Connector for ScriptedConnector {
    type Client = Scripted;
    fn targets(&self) -> usize {
        self.targets
    }
    async fn connect(&self, target: usize) -> Scripted {
        Scripted {
            target,
            script: self.script.clone(),
            epoch: Arc::default(),
            sent: self.sent.clone(),
            store: self.store.clone(),
        }
    }
}

fn plan(phase: &str) -> Arc<Plan> {
    plan_mix(
        phase,
        r#"[{ op = "get", weight = 1 }]"#,
        "general-purpose",
        "bench",
    )
}

/// A one-phase plan with `mix` on one target of `kind` named `bucket`.
fn plan_mix(phase: &str, mix: &str, kind: &str, bucket: &str) -> Arc<Plan> {
    let text = format!(
        r#"
[targets.t]
kind = "{kind}"
bucket = "{bucket}"
region = "us-east-1"

[dataset]
objects = 100
size = "4KiB"

[[phase]]
name = "p"
{phase}
mix = {mix}
"#
    );
    Arc::new(crate::scenario::parse(&text, Path::new("engine-test.toml")).expect("valid scenario"))
}

/// Runs phase 0 of `plan` on `threads` paused-clock engine threads.
fn run(plan: Arc<Plan>, script: Script, threads: usize) -> (JobResult, u64) {
    let (r, sent, _) = run_stored(plan, script, threads);
    (r, sent)
}

/// `run`, also returning what the scripted store holds at the end.
fn run_stored(
    plan: Arc<Plan>,
    script: Script,
    threads: usize,
) -> (
    JobResult,
    u64,
    std::collections::HashMap<String, (u64, u64)>,
) {
    let sent = Arc::new(AtomicU64::new(0));
    let store = Store::default();
    let cancel = Arc::new(Cancel::default());
    let engine = Engine::start_with(
        ScriptedConnector {
            script,
            sent: sent.clone(),
            targets: 1,
            store: store.clone(),
        },
        threads,
        cancel,
        EngineOptions { paused_clock: true },
    )
    .expect("engine starts");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt
        .block_on(engine.run(Job {
            plan,
            kind: JobKind::Phase(0),
            target: 0,
            round: 1,
            run_prefix: Arc::from("s3bench/test/"),
            date: (2026, 12, 2),
            start: Instant::now() + Duration::from_millis(20),
        }))
        .expect("job runs");
    engine.shutdown();
    let stored = store.lock().unwrap().clone();
    (r, sent.load(Ordering::Relaxed), stored)
}

fn get(r: &JobResult) -> &crate::stats::OpStats {
    r.recorder.ops[OpKind::Get.index()]
        .as_ref()
        .expect("GETs recorded")
}

#[test]
fn shares_add_up() {
    for total in [0u64, 1, 7, 16, 1001] {
        for threads in 1..5 {
            let sum: u64 = (0..threads).map(|i| share(total, i, threads)).sum();
            assert_eq!(sum, total);
        }
    }
}

/// 200 req/s for 10 s is exactly 2,000 requests, on one thread or two.
#[test]
fn fixed_rate_gives_exactly_the_scheduled_count() {
    for threads in [1, 2] {
        let (r, sent) = run(
            plan("duration = \"10s\"\nrate = 200\nmax_in_flight = 8"),
            Script {
                latency: Duration::from_millis(2),
                ..Script::default()
            },
            threads,
        );
        let g = get(&r);
        assert_eq!(g.count, 2_000, "threads {threads}");
        assert_eq!(sent, 2_000);
        assert_eq!(g.late_starts, 0);
        // On a paused clock nothing but the scripted 2 ms is measured, give
        // or take tokio's 1 ms timer granularity (a sleep ends on the next
        // millisecond tick of the runtime's clock).
        assert!(g.latency.min() >= 1_998_000, "{}", g.latency.min());
        assert!(g.latency.max() <= 3_004_000, "{}", g.latency.max());
        let per_second: Vec<u64> = r.recorder.timeseries().iter().map(|s| s.count).collect();
        assert_eq!(per_second, vec![200; 10]);
    }
}

/// A 500 ms stall under a fixed rate shows in the latency counted from when
/// each request was due (coordinated-omission corrected) but not in the
/// service time of the requests that were sent late.
#[test]
fn stall_shows_in_corrected_latency_not_in_service_time() {
    let (r, _) = run(
        plan("duration = \"10s\"\nrate = 100\nmax_in_flight = 4"),
        Script {
            latency: Duration::from_millis(2),
            stall: Some((Duration::from_secs(3), Duration::from_millis(3_500))),
            ..Script::default()
        },
        1,
    );
    let g = get(&r);
    assert_eq!(g.count, 1_000);
    // 4 requests are caught in the stall; the 46 due behind them start late.
    assert!(g.late_starts >= 40, "{}", g.late_starts);
    let corrected_p99 = g.latency.value_at_quantile(0.99);
    let service_p99 = g.service.value_at_quantile(0.99);
    let max = g.latency.max();
    assert!(max >= 490_000_000, "max {max}");
    assert!(
        corrected_p99 >= 300_000_000,
        "corrected p99 {corrected_p99}"
    );
    // Only the 4 requests inside the stall waited in service (2 ms, plus at
    // most tokio's 1 ms timer tick).
    assert!(
        g.service.value_at_quantile(0.995) <= 3_004_000,
        "service p99.5 {}",
        g.service.value_at_quantile(0.995)
    );
    assert!(service_p99 <= 3_004_000, "service p99 {service_p99}");
}

/// Stages switch at their boundaries: 100/s then 300/s, 2 s each.
#[test]
fn stages_switch_at_their_boundaries() {
    let (r, sent) = run(
        plan(
            "stages = [\n  { rate = 100, max_in_flight = 8, duration = \"2s\" },\n  { rate = 300, max_in_flight = 8, duration = \"2s\" },\n]",
        ),
        Script {
            latency: Duration::from_millis(1),
            ..Script::default()
        },
        1,
    );
    assert_eq!(get(&r).count, 800);
    assert_eq!(sent, 800);
    let rows = r.recorder.timeseries();
    let counts: Vec<(u32, u64)> = rows.iter().map(|s| (s.second, s.count)).collect();
    // Completions land 1 ms after they are due, so a second's count can
    // move by one at a boundary, never more.
    for (second, n) in &counts {
        let want = if *second < 2 { 100 } else { 300 };
        assert!(n.abs_diff(want) <= 1, "{counts:?}");
    }
    assert_eq!(counts.len(), 4, "{counts:?}");
}

/// An op budget is exact over threads and workers; warm-up ops are kept
/// apart from it and from the measured numbers.
#[test]
fn op_budget_is_exact_and_warmup_apart() {
    for threads in [1, 2] {
        let (r, sent) = run(
            plan("ops = 777\nwarmup = \"1s\"\nconcurrency = 8"),
            Script {
                latency: Duration::from_millis(10),
                ..Script::default()
            },
            threads,
        );
        assert_eq!(get(&r).count, 777, "threads {threads}");
        let warm = r.recorder.warmup[OpKind::Get.index()].as_ref().unwrap();
        // 8 workers x 1 s / 10 ms, started before the warm-up ended.
        assert_eq!(warm.count, 800, "threads {threads}");
        assert_eq!(sent, 777 + 800);
        // 777 ops over 8 workers of 10 ms each take 98 rounds of 10 ms.
        assert!((r.elapsed_s - 0.98).abs() < 0.011, "{}", r.elapsed_s);
    }
}

/// A closed loop against a refusing endpoint backs off: every attempt is
/// recorded as a transport failure, but 4 workers make at most ~10 attempts
/// a second each once the backoff has grown, not tens of thousands.
#[test]
fn refused_connections_back_off_and_count() {
    let (r, sent) = run(
        plan("duration = \"10s\"\nconcurrency = 4"),
        Script {
            latency: Duration::from_millis(2),
            fail_from: Some(Duration::from_secs(2)),
            ..Script::default()
        },
        1,
    );
    let g = get(&r);
    let ok = g.successes();
    // 2 s of 2 ms requests on 4 workers succeed...
    assert!((3_990..=4_004).contains(&ok), "{ok}");
    // ...then 8 s of refusals at most every 100 ms per worker (plus the
    // doubling from 1 ms on the way up).
    let failed = g.errors;
    assert!((300..=400).contains(&failed), "{failed}");
    assert_eq!(sent, g.count);
    let t = g.failures[crate::stats::FailureGroup::Transport as usize]
        .as_ref()
        .unwrap();
    assert_eq!(t.count, failed);
    // Failures stay out of the success latency.
    assert_eq!(g.latency.len(), ok);
    assert!(g.latency.min() >= 1_999_000, "{}", g.latency.min());
}

fn stats(r: &JobResult, op: OpKind) -> &crate::stats::OpStats {
    r.recorder.ops[op.index()].as_ref().expect("op recorded")
}

fn conditional(o: &crate::stats::OpStats) -> u64 {
    o.failures[crate::stats::FailureGroup::Conditional as usize]
        .as_ref()
        .map_or(0, |f| f.count)
}

/// Eight workers on two threads share each create-only key: they move in
/// lockstep on the paused clock, so every key has exactly one winner and
/// seven 412s, which are outcomes (their own group), not successes.
#[test]
fn create_only_contention_has_one_winner_per_key() {
    let (r, sent, stored) = run_stored(
        plan_mix(
            "ops = 800\nconcurrency = 8",
            r#"[{ op = "conditional-put", mode = "create-only", contention = 8, size = "1KiB" }]"#,
            "general-purpose",
            "bench",
        ),
        Script {
            latency: Duration::from_millis(3),
            ..Script::default()
        },
        2,
    );
    let c = stats(&r, OpKind::ConditionalPut);
    assert_eq!((c.count, sent), (800, 800));
    let keys = stored.keys().filter(|k| k.contains("/lock/")).count() as u64;
    assert_eq!(keys, 100);
    assert_eq!(c.successes(), keys);
    assert_eq!(conditional(c), 700);
    assert_eq!(
        c.errors_by_kind,
        vec![("412 PreconditionFailed".to_string(), 700)]
    );
    // Success percentiles hold only the 100 winners.
    assert_eq!(c.latency.len(), 100);
    // The claims the audit counts: 100 keys, one winner each.
    assert_eq!(r.claims.create_only.len(), 100);
    assert!(r.claims.create_only.values().all(|&n| n == 1));
}

/// Compare-and-swap on one key shared by 8 workers loses no update: the
/// object grew by one byte per successful If-Match write. Losers re-read
/// with a HEAD, which counts as a request of their next op.
#[test]
fn compare_and_swap_loses_no_update() {
    let (r, sent, stored) = run_stored(
        plan_mix(
            "ops = 400\nconcurrency = 8",
            r#"[{ op = "conditional-put", mode = "compare-and-swap", contention = 8, size = "100B" }]"#,
            "general-purpose",
            "bench",
        ),
        Script {
            latency: Duration::from_millis(2),
            ..Script::default()
        },
        2,
    );
    let c = stats(&r, OpKind::ConditionalPut);
    assert_eq!(c.count, 400);
    let (_, (version, len)) = stored
        .iter()
        .find(|(k, _)| k.contains("/cas/"))
        .expect("the shared key");
    // One creation, then one byte per update.
    assert_eq!(c.successes(), *version);
    assert_eq!(*len, 100 + c.successes() - 1);
    assert!(c.successes() > 1 && conditional(c) > 0, "{c:?}");
    assert_eq!(c.errors, conditional(c));
    assert_eq!(c.requests, sent);
    assert!(c.requests > c.count, "stale ETags are read again");
}

/// Appends: each worker owns its objects, so no offset is ever wrong;
/// an object ends after `appends` and the next starts. A rename records
/// its checkpoint PUT under `put` and the RenameObject under `rename`.
#[test]
fn appends_grow_owned_objects_and_rename_records_its_put() {
    let (r, sent, stored) = run_stored(
        plan_mix(
            "ops = 120\nconcurrency = 4",
            r#"[{ op = "append", size = "1KiB", appends = 5, weight = 1 }, { op = "rename", size = "2KiB", weight = 1 }]"#,
            "directory",
            "bench--use1-az4--x-s3",
        ),
        Script {
            latency: Duration::from_millis(1),
            ..Script::default()
        },
        1,
    );
    let a = stats(&r, OpKind::Append);
    assert_eq!(a.errors, 0);
    assert_eq!(a.bytes, a.count * 1024);
    let appended: Vec<u64> = stored
        .iter()
        .filter(|(k, _)| k.contains("/append/"))
        .map(|(_, o)| o.1)
        .collect();
    assert_eq!(appended.iter().sum::<u64>(), a.count * 1024);
    assert!(appended.iter().all(|n| *n <= 5 * 1024 && n % 1024 == 0));
    let rn = stats(&r, OpKind::Rename);
    let put = stats(&r, OpKind::Put);
    assert_eq!(rn.count + a.count, 120);
    assert_eq!((put.count, rn.errors), (rn.count, 0));
    assert_eq!(sent, a.count + 2 * rn.count);
    let committed = stored.keys().filter(|k| k.contains("/ckpt/")).count() as u64;
    assert_eq!(committed, rn.count);
    assert!(!stored.keys().any(|k| k.contains("/tmp/")));
    // What the audit will read back: every appended object (finished or
    // not) at the size its appends made it, every rename.
    let cl = &r.claims;
    assert_eq!(cl.appends, a.count);
    assert_eq!(cl.appended.total, appended.len() as u64);
    let mut claimed: Vec<(String, u64)> = cl
        .appended
        .items()
        .map(|s| (s.key.clone(), s.size))
        .collect();
    claimed.sort();
    let mut held: Vec<(String, u64)> = stored
        .iter()
        .filter(|(k, _)| k.contains("/append/"))
        .map(|(k, o)| (k.clone(), o.1))
        .collect();
    held.sort();
    assert_eq!(claimed, held);
    assert_eq!(cl.renamed.total, rn.count);
    assert!(
        cl.renamed
            .items()
            .all(|m| m.size == 2048 && stored.contains_key(&m.to))
    );
}
