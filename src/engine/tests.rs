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
}

pub(super) type GetLog = (usize, String, Option<(u64, u64)>);

pub(super) struct Scripted {
    script: Script,
    target: usize,
    epoch: Arc<std::sync::Mutex<Option<Instant>>>,
    sent: Arc<AtomicU64>,
}

impl Scripted {
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
        self.answer(range.map_or(4096, |(a, b)| b - a + 1)).await
    }
    async fn head(&self, _key: &str) -> Outcome {
        self.answer(0).await
    }
    async fn put(&self, _key: &str, len: u64) -> Outcome {
        self.answer(len).await
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
}

pub(super) struct ScriptedConnector {
    pub script: Script,
    pub sent: Arc<AtomicU64>,
    pub targets: usize,
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
        }
    }
}

fn plan(phase: &str) -> Arc<Plan> {
    let text = format!(
        r#"
[targets.t]
kind = "general-purpose"
bucket = "bench"
region = "us-east-1"

[dataset]
objects = 100
size = "4KiB"

[[phase]]
name = "p"
{phase}
mix = [{{ op = "get", weight = 1 }}]
"#
    );
    Arc::new(crate::scenario::parse(&text, Path::new("engine-test.toml")).expect("valid scenario"))
}

/// Runs phase 0 of `plan` on `threads` paused-clock engine threads.
fn run(plan: Arc<Plan>, script: Script, threads: usize) -> (JobResult, u64) {
    let sent = Arc::new(AtomicU64::new(0));
    let cancel = Arc::new(Cancel::default());
    let engine = Engine::start_with(
        ScriptedConnector {
            script,
            sent: sent.clone(),
            targets: 1,
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
    (r, sent.load(Ordering::Relaxed))
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
