//! Dataloader phases against a scripted client on a paused clock: with requests
//! of exactly L and compute of exactly C, AU and the stall per batch can be
//! worked out by hand, and a search against a known capacity must find the
//! count that capacity implies.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::dataloader::{Order, batch_position, search, steps_per_epoch};
use super::tests::{Script, ScriptedConnector};
use super::*;
use crate::stats::dataloader::DataloaderStats;

const MS: u64 = 1_000_000;

fn plan(targets: usize, dataset: &str, phase: &str) -> Arc<Plan> {
    let mut text = String::new();
    for t in 0..targets {
        text.push_str(&format!(
            "[targets.t{t}]\nkind = \"general-purpose\"\nbucket = \"bench{t}\"\nregion = \"us-east-1\"\n\n"
        ));
    }
    text.push_str(&format!(
        "[dataset]\n{dataset}\n\n[[phase]]\nname = \"train\"\n{phase}\n"
    ));
    Arc::new(crate::scenario::parse(&text, Path::new("loader-test.toml")).expect("valid scenario"))
}

struct Ran {
    results: Vec<JobResult>,
    sent: u64,
}

/// Runs `jobs` one after another (kind, target), each on fresh paused-clock
/// engine threads: a paused clock runs ahead of the real one, so a job's
/// start must be taken on a clock that has not yet moved.
fn run(plan: Arc<Plan>, script: Script, threads: usize, jobs: &[(JobKind, usize)]) -> Ran {
    let sent = Arc::new(AtomicU64::new(0));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = jobs
        .iter()
        .map(|&(kind, target)| rt.block_on(run_one(&plan, &script, &sent, threads, kind, target)))
        .collect();
    Ran {
        results,
        sent: sent.load(Ordering::Relaxed),
    }
}

pub(super) async fn run_one(
    plan: &Arc<Plan>,
    script: &Script,
    sent: &Arc<AtomicU64>,
    threads: usize,
    kind: JobKind,
    target: usize,
) -> JobResult {
    let engine = Engine::start_with(
        ScriptedConnector {
            script: script.clone(),
            sent: sent.clone(),
            targets: plan.targets.len(),
            store: Default::default(),
        },
        threads,
        Arc::new(Cancel::default()),
        EngineOptions { paused_clock: true },
    )
    .expect("engine starts");
    let r = engine.run(job(plan, kind, target)).await.expect("job runs");
    engine.shutdown();
    r
}

fn job(plan: &Arc<Plan>, kind: JobKind, target: usize) -> Job {
    Job {
        plan: plan.clone(),
        kind,
        target,
        round: 1,
        run_prefix: Arc::from("s3bench/test/"),
        date: (2026, 12, 2),
        start: Instant::now() + Duration::from_millis(20),
    }
}

fn latency(ms: u64) -> Script {
    Script {
        latency: Duration::from_millis(ms),
        ..Script::default()
    }
}

fn loader(r: &JobResult) -> &DataloaderStats {
    r.loader.as_ref().expect("loader stats")
}

/// Read-bound: 8 samples per batch, 4 reads in flight of 10 ms each, so a
/// batch takes 20 ms to read; compute is 15 ms. From the second batch on,
/// every batch arrives 5 ms after the accelerator is ready for it, so AU is
/// 15 / 20 = 75% and the stall per batch is 5 ms. In 2 s: batch k >= 1 is
/// taken at 20(k+1) ms; the last is the one ready by the 2 s mark (k = 99).
#[test]
fn read_bound_au_is_compute_over_read_time() {
    let p = plan(
        1,
        "objects = 64\nsize = \"4KiB\"",
        "duration = \"2s\"\n[phase.loader]\naccelerators = 1\nbatch_size = 8\ncompute = \"15ms\"\nread_concurrency = 4\nprefetch = 2",
    );
    let ran = run(p, latency(10), 1, &[(JobKind::Phase(0), 0)]);
    let r = &ran.results[0];
    let l = loader(r);
    assert_eq!(l.accelerators, 1);
    assert_eq!(l.batches, 99, "{l:?}");
    assert_eq!(l.compute_ns, 99 * 15 * MS);
    assert_eq!(l.wall_ns, (2015 - 35) * MS, "{l:?}");
    assert!((l.au() - 0.75).abs() < 1e-9, "{}", l.au());
    assert_eq!(l.stall_ns, 99 * 5 * MS);
    // Every batch waited 5 ms (the histogram keeps 3 significant digits).
    assert_eq!(l.stall.len(), 99);
    assert!(
        l.stall.min() >= 4_995_000 && l.stall.max() <= 5_005_000,
        "{}..{}",
        l.stall.min(),
        l.stall.max()
    );
    // The requests are the loader's reads: the first batch is warm-up, and
    // the reads of the batches read ahead at the end are recorded too.
    let get = r.recorder.ops[OpKind::Get.index()].as_ref().unwrap();
    let warm = r.recorder.warmup[OpKind::Get.index()].as_ref().unwrap();
    assert_eq!(warm.count, 8);
    assert_eq!(get.count + warm.count, ran.sent);
    assert!(get.count >= 99 * 8 && get.count <= 101 * 8, "{}", get.count);
    assert_eq!(l.samples, 99 * 8);
    assert_eq!(l.bytes, 99 * 8 * 4096);
}

/// Compute-bound: the same reads, 50 ms of compute: the next batch is
/// always there (read in 20 ms during the compute), AU is 100%.
#[test]
fn compute_bound_au_is_full() {
    let p = plan(
        1,
        "objects = 64\nsize = \"4KiB\"",
        "duration = \"2s\"\n[phase.loader]\naccelerators = 2\nbatch_size = 8\ncompute = \"50ms\"\nread_concurrency = 4",
    );
    for threads in [1, 2] {
        let ran = run(p.clone(), latency(10), threads, &[(JobKind::Phase(0), 0)]);
        let l = loader(&ran.results[0]);
        assert_eq!(l.accelerators, 2, "threads {threads}");
        assert_eq!(l.stall_ns, 0, "threads {threads}: {l:?}");
        assert_eq!(l.au(), 1.0);
        assert_eq!(l.compute_ns, l.batches * 50 * MS);
    }
}

/// AU over time: 4 reads of 25 ms in flight per batch of 4 and 10 ms of
/// compute, so from the second batch on batch j arrives at 25(j + 1) ms
/// and every 25 ms holds 10 ms of compute and 15 ms of stall: AU per whole
/// second is compute / latency = 40%. Second 0 starts with the warm-up
/// step (to 35 ms); the phase stops at 2.51 s, after the batch taken at
/// 2.5 s computes. Two accelerators on two threads: the seconds add up,
/// and they sum to the totals.
#[test]
fn au_per_second_is_compute_over_latency_and_sums_to_the_totals() {
    let p = plan(
        1,
        "objects = 64\nsize = \"4KiB\"",
        "duration = \"2510ms\"\n[phase.loader]\naccelerators = 2\nbatch_size = 4\ncompute = \"10ms\"\nread_concurrency = 4\nprefetch = 2",
    );
    let ran = run(p, latency(25), 2, &[(JobKind::Phase(0), 0)]);
    let l = loader(&ran.results[0]);
    assert_eq!(l.accelerators, 2);
    assert_eq!(l.batches, 2 * 99, "{}", l.batches);
    // Second 0: 35..1000 ms measured (38 batches); second 1: 40 batches;
    // second 2: 2000..2510 ms, 21 batches. Timers fire on whole
    // milliseconds of the runtime's clock, so the steps run up to 1 ms
    // after the job's start: a stall across a second's edge may move up to
    // that much (per accelerator) into the next second.
    let expected = [(380, 585), (400, 600), (210, 300)];
    assert_eq!(l.per_second.len(), 3, "{:?}", l.per_second);
    for (s, (got, (compute, stall))) in l.per_second.iter().zip(expected).enumerate() {
        assert_eq!(got.compute_ns, 2 * compute * MS, "second {s}: {got:?}");
        assert!(
            got.stall_ns.abs_diff(2 * stall * MS) <= 2 * MS,
            "second {s}: {got:?}"
        );
    }
    assert!((2510 * MS..2511 * MS).contains(&l.end_ns), "{}", l.end_ns);
    let s1 = l.per_second[1];
    assert_eq!(
        s1.compute_ns * 5,
        (s1.compute_ns + s1.stall_ns) * 2,
        "AU 40%"
    );
    let compute: u64 = l.per_second.iter().map(|s| s.compute_ns).sum();
    let stall: u64 = l.per_second.iter().map(|s| s.stall_ns).sum();
    assert_eq!((compute, stall), (l.compute_ns, l.stall_ns));
    assert_eq!(compute + stall, l.wall_ns);
}

/// Records of a shard are ranged GETs at record boundaries; an epoch reads
/// every record once, and `epochs` stops the phase.
#[test]
fn records_are_ranged_gets_and_epochs_stop() {
    let p = plan(
        1,
        "objects = 4\nsize = \"64KiB\"",
        "[phase.loader]\naccelerators = 2\nbatch_size = 4\ncompute = \"5ms\"\nsample = \"8KiB\"\nepochs = 2",
    );
    let log = Arc::new(Mutex::new(Vec::new()));
    let ran = run(
        p,
        Script {
            latency: Duration::from_millis(1),
            log: Some(log.clone()),
            ..Script::default()
        },
        1,
        &[(JobKind::Phase(0), 0)],
    );
    // 32 records, 4 per batch, 2 accelerators: 4 batches each per epoch.
    let l = loader(&ran.results[0]);
    assert_eq!(l.batches, 2 * (2 * 4 - 1), "{l:?}");
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 64, "two epochs of 32 records");
    for (_, _, range) in log.iter() {
        let (a, b) = range.expect("a ranged GET");
        assert_eq!(a % 8192, 0);
        assert_eq!(b - a + 1, 8192);
    }
    let mut epoch1: Vec<_> = log[..32].iter().map(|(_, k, r)| (k.clone(), *r)).collect();
    epoch1.sort();
    epoch1.dedup();
    assert_eq!(epoch1.len(), 32, "each record once per epoch");
    assert!(ran.results[0].recorder.ops[OpKind::RangedGet.index()].is_some());
}

/// Both targets read the same samples in the same order; the order is a
/// shuffle that changes per epoch.
#[test]
fn every_target_sees_the_same_order() {
    let p = plan(
        2,
        "objects = 64\nsize = \"4KiB\"",
        "duration = \"1s\"\n[phase.loader]\naccelerators = 1\nbatch_size = 8\ncompute = \"10ms\"",
    );
    let log = Arc::new(Mutex::new(Vec::new()));
    run(
        p.clone(),
        Script {
            latency: Duration::from_millis(3),
            log: Some(log.clone()),
            ..Script::default()
        },
        1,
        &[(JobKind::Phase(0), 0), (JobKind::Phase(0), 1)],
    );
    let log = log.lock().unwrap();
    let of = |t: usize| -> Vec<String> {
        log.iter()
            .filter(|(tt, _, _)| *tt == t)
            .map(|(_, k, _)| k.clone())
            .collect()
    };
    let (a, b) = (of(0), of(1));
    assert!(a.len() > 64, "more than an epoch: {}", a.len());
    let n = a.len().min(b.len());
    assert_eq!(a[..n], b[..n]);
    // Not the data set in index order, and another order in epoch 2.
    let order = Order::new(&p, p.phases[0].loader.as_ref().unwrap());
    let e0: Vec<u64> = (0..64).map(|i| order.shuffled(0, i)).collect();
    let e1: Vec<u64> = (0..64).map(|i| order.shuffled(1, i)).collect();
    assert_ne!(e0, (0..64).collect::<Vec<_>>());
    assert_ne!(e0, e1);
}

/// The shuffle is a permutation for any size; batches of all accelerators
/// cover every sample at most once per epoch.
#[test]
fn shuffle_is_a_permutation_and_batches_partition_the_epoch() {
    let p = plan(
        1,
        "objects = 1000\nsize = \"4KiB\"",
        "duration = \"1s\"\n[phase.loader]\naccelerators = 3\nbatch_size = 7\ncompute = \"10ms\"",
    );
    let spec = p.phases[0].loader.clone().unwrap();
    let order = Order::new(&p, &spec);
    let mut seen: Vec<u64> = (0..1000).map(|i| order.shuffled(5, i)).collect();
    seen.sort();
    assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    let steps = steps_per_epoch(1000, 7, 3);
    assert_eq!(steps, 47);
    let mut starts = Vec::new();
    for a in 0..3 {
        for k in 0..steps {
            let (epoch, pos) = batch_position(1000, 7, 3, a, k);
            assert_eq!(epoch, 0);
            starts.push(pos);
        }
        assert_eq!(batch_position(1000, 7, 3, a, steps).0, 1);
    }
    starts.sort();
    starts.dedup();
    assert_eq!(starts.len(), 3 * 47);
    assert!(starts.iter().all(|s| s % 7 == 0 && s + 7 <= 1000));
}

/// An endpoint that serves 8 requests at once of 10 ms each (800 samples a
/// second); each accelerator needs 4 samples per 50 ms (80 a second) at
/// full AU. So n accelerators get AU = min(1, 10 / n): 13 keep 75% (77%),
/// 14 do not (71%). The search must find 13.
#[test]
fn search_finds_the_count_the_capacity_implies() {
    let p = plan(
        1,
        "objects = 2000\nsize = \"4KiB\"",
        "duration = \"3s\"\n[phase.loader]\naccelerators = { max = 64, au = 0.75 }\nbatch_size = 4\ncompute = \"50ms\"\nread_concurrency = 4",
    );
    let script = Script {
        latency: Duration::from_millis(10),
        slots: Some(Arc::new(tokio::sync::Semaphore::new(8))),
        ..Script::default()
    };
    let sent = Arc::new(AtomicU64::new(0));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cancel = Cancel::default();
    let (found, steps) = rt
        .block_on(search(64, 0.75, &cancel, |n| {
            let (p, script, sent) = (p.clone(), script.clone(), sent.clone());
            async move {
                let kind = JobKind::Dataloader {
                    phase: 0,
                    accelerators: n,
                };
                Ok(run_one(&p, &script, &sent, 1, kind, 0).await)
            }
        }))
        .expect("search runs");
    let tried: Vec<(u32, f64)> = steps
        .iter()
        .map(|s| (s.accelerators, loader(&s.result).au()))
        .collect();
    assert_eq!(found, 13, "{tried:?}");
    let counts: Vec<u32> = tried.iter().map(|t| t.0).collect();
    assert_eq!(counts, [1, 2, 4, 8, 16, 12, 14, 13], "{tried:?}");
    for (n, au) in &tried {
        let want = (10.0 / f64::from(*n)).min(1.0);
        assert!(
            (au - want).abs() < 0.03,
            "{n} accelerators: AU {au}, expected {want}"
        );
    }
}
