//! A data set that grows in time order (`put` with `key = "dataset"`,
//! `get` with `newest`), the prepare step with fewer workers than threads,
//! and throttled requests counted by key prefix: on the paused clock
//! against the scripted client, exactly.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::time::Instant;

use super::tests::{Script, ScriptedConnector, Store};
use super::*;

fn plan(prepare: usize, key: &str, mix: &str) -> Arc<Plan> {
    let text = format!(
        r#"
[targets.t]
kind = "general-purpose"
bucket = "bench"
region = "us-east-1"

[dataset]
objects = 100
size = "4KiB"
key = "{key}"

[prepare]
concurrency = {prepare}

[[phase]]
name = "p"
duration = "2s"
rate = 100.0
mix = {mix}
"#
    );
    Arc::new(crate::scenario::parse(&text, Path::new("ordered.toml")).expect("valid scenario"))
}

/// Runs the jobs one after another on one engine (its threads, and what
/// they added to the data set, persist between jobs, as in a run).
fn run(
    plan: &Arc<Plan>,
    script: Script,
    threads: usize,
    jobs: &[JobKind],
) -> (Vec<JobResult>, Store) {
    let store = Store::default();
    let engine = Engine::start_with(
        ScriptedConnector {
            script,
            sent: Arc::new(AtomicU64::new(0)),
            targets: 1,
            store: store.clone(),
        },
        threads,
        Arc::new(Cancel::default()),
        EngineOptions { paused_clock: true },
    )
    .expect("engine starts");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = jobs
        .iter()
        .map(|&kind| {
            rt.block_on(engine.run(Job {
                plan: plan.clone(),
                kind,
                target: 0,
                round: 1,
                run_prefix: Arc::from("s3bench/test/"),
                date: (2026, 12, 2),
                start: Instant::now() + Duration::from_millis(20),
            }))
            .expect("job runs")
        })
        .collect();
    engine.shutdown();
    (results, store)
}

fn script(ms: u64) -> Script {
    Script {
        latency: Duration::from_millis(ms),
        ..Script::default()
    }
}

/// The index of a data set key `s3bench/test/<date>/<index:06>.bin`.
fn index(key: &str) -> u64 {
    key.rsplit('/').next().unwrap()[..6].parse().unwrap()
}

/// One prepare worker on two engine threads still writes every object
/// (the thread without a worker writes none, the other writes all).
#[test]
fn prepare_with_fewer_workers_than_threads_writes_every_object() {
    let p = plan(1, "{date}/{index:06}.bin", r#"[{ op = "get" }]"#);
    let (r, store) = run(&p, script(2), 2, &[JobKind::Prepare]);
    let written: BTreeSet<u64> = store.lock().unwrap().keys().map(|k| index(k)).collect();
    assert_eq!(written, (0..100).collect());
    assert_eq!(
        r[0].recorder.ops[OpKind::Put.index()]
            .as_ref()
            .unwrap()
            .count,
        100
    );
}

/// `key = "dataset"` PUTs write indices 100, 101, ... (thread i of T takes
/// every T-th), and `newest = 4` GETs read what the thread wrote last, the
/// data set's last 4 before it wrote any; a second phase goes on where the
/// first stopped.
#[test]
fn the_data_set_grows_in_index_order_and_newest_reads_follow_it() {
    let p = plan(
        4,
        "{date}/{index:06}.bin",
        r#"[{ op = "put", key = "dataset" }, { op = "get", newest = 4 }]"#,
    );
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = Script {
        log: Some(log.clone()),
        ..script(5)
    };
    let (r, store) = run(
        &p,
        s,
        2,
        &[JobKind::Prepare, JobKind::Phase(0), JobKind::Phase(0)],
    );
    let written: BTreeSet<u64> = store.lock().unwrap().keys().map(|k| index(k)).collect();
    let puts: u64 = r[1..]
        .iter()
        .map(|j| j.recorder.ops[OpKind::Put.index()].as_ref().unwrap().count)
        .sum();
    // The prepared 100 plus one new index per PUT: thread i of 2 wrote
    // 100 + i, 102 + i, 104 + i, ... with no gap, through both phases.
    assert_eq!(written.len() as u64, 100 + puts);
    for thread in 0..2u64 {
        let mine: Vec<u64> = written
            .iter()
            .copied()
            .filter(|i| *i >= 100 && i % 2 == thread)
            .collect();
        let want: Vec<u64> = (0..mine.len() as u64)
            .map(|k| 100 + thread + 2 * k)
            .collect();
        assert_eq!(mine, want, "thread {thread}");
    }
    let top = *written.last().unwrap();
    // Every GET read an object that exists, among the newest.
    let gets: Vec<u64> = log
        .lock()
        .unwrap()
        .iter()
        .map(|(_, k, _)| index(k))
        .collect();
    assert!(!gets.is_empty());
    for g in &gets {
        assert!(written.contains(g), "GET of {g}, never written");
    }
    // Before a thread wrote anything: the data set's last 4.
    assert!(
        gets.iter().take(2).all(|g| (96..100).contains(g)),
        "{:?}",
        &gets[..4]
    );
    // Each thread reads one of its own 4 newest, and its newest only
    // grows: no GET reads more than 3 of the thread's indices (6 apart)
    // below one it read before.
    for thread in 0..2u64 {
        let mut seen = 0;
        for g in gets.iter().filter(|i| *i % 2 == thread && **i >= 100) {
            assert!(g + 6 >= seen, "thread {thread} read {g} after {seen}");
            seen = seen.max(*g);
        }
        assert!(seen > 200, "thread {thread} read up to {seen}");
    }
    assert!(top > 250, "{top}");
}

/// Throttled requests are counted by key prefix: data set keys at the
/// template's first varying character, scratch keys by their folder; the
/// rest of the op's outcome is recorded as before.
#[test]
fn throttled_requests_are_counted_by_key_prefix() {
    let p = plan(
        4,
        "{date}/{index:06}.bin",
        r#"[{ op = "put", key = "dataset" }, { op = "put" }, { op = "get" }]"#,
    );
    // Every PUT is throttled: the new data set objects and the scratch keys.
    let s = Script {
        throttle: Some("/0001".into()),
        ..script(5)
    };
    let throttle_scratch = Script {
        throttle: Some("/put/".into()),
        ..script(5)
    };
    let (r, _) = run(&p, s, 2, &[JobKind::Prepare, JobKind::Phase(0)]);
    let rec = &r[1].recorder;
    let put = rec.ops[OpKind::Put.index()].as_ref().unwrap();
    let rows = rec.throttled_prefixes.rows();
    let by = |prefix: &str| -> u64 { rows.iter().filter(|r| r.1 == prefix).map(|r| r.2).sum() };
    // New objects 100..199 all match "/0001": their prefix is the date and
    // the index's first digit.
    assert_eq!(by("2026/12/02/0"), put.errors, "{rows:?}");
    assert!(put.errors > 50, "{put:?}");
    assert_eq!(rows.iter().map(|r| r.2).sum::<u64>(), put.errors);
    // Seconds follow the time series.
    assert!(rows.iter().all(|r| r.0 <= 2), "{rows:?}");
    let (r, _) = run(
        &p,
        throttle_scratch,
        1,
        &[JobKind::Prepare, JobKind::Phase(0)],
    );
    let rows = r[1].recorder.throttled_prefixes.rows();
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r.1 == "put/"),
        "{rows:?}"
    );
}
