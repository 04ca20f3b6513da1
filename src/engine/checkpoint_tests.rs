//! Checkpoint steps against a scripted client on a paused clock: every
//! request takes exactly L, so a rank's time, the slowest rank and the
//! lowest throughput can be worked out by hand.

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::dataloader_tests::run_one;
use super::tests::Script;
use super::*;
use crate::scenario::{CheckpointStep, RankSet};

const MS: u64 = 1_000_000;
const MIB: u64 = 1 << 20;

/// 4 ranks, a 400 MiB checkpoint: 100 MiB per rank in 20 parts of 5 MiB.
fn plan() -> Arc<Plan> {
    let text = r#"
[targets.t]
kind = "general-purpose"
bucket = "bench"
region = "us-east-1"

[[phase]]
name = "ckpt"
[phase.checkpoint]
size = "400MiB"
ranks = 4
part_size = "5MiB"
writes = 2
reads = 3
"#;
    Arc::new(crate::scenario::parse(text, Path::new("ckpt-test.toml")).expect("valid scenario"))
}

fn step(
    plan: &Arc<Plan>,
    script: &Script,
    threads: usize,
    step: CheckpointStep,
    ranks: RankSet,
) -> JobResult {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let kind = JobKind::Checkpoint {
        phase: 0,
        step,
        ranks,
    };
    rt.block_on(run_one(plan, script, &sent, threads, kind, 0))
}

fn latency(ms: u64) -> Script {
    Script {
        latency: Duration::from_millis(ms),
        ..Script::default()
    }
}

/// A write is one multipart upload per rank (the scripted client answers
/// it after L): every rank takes exactly L. A read is 20 ranged GETs of
/// 5 MiB per rank, 8 in flight: 3 waves, 3 L, covering each share once.
#[test]
fn steps_time_every_rank_from_the_common_start() {
    let p = plan();
    for threads in [1, 2] {
        let w = step(
            &p,
            &latency(10),
            threads,
            CheckpointStep::Write(1),
            RankSet::ALL,
        );
        let t = w.checkpoint.expect("rank times");
        assert_eq!((t.ranks, t.bytes), (4, 400 * MIB), "threads {threads}");
        assert_eq!((t.slowest_ns, t.fastest_ns), (10 * MS, 10 * MS));
        assert_eq!(t.sum_ns, 40 * MS);
        assert_eq!(t.min_bytes_per_sec, 100.0 * MIB as f64 / 0.010);
        let mp = w.recorder.ops[OpKind::MultipartPut.index()]
            .as_ref()
            .unwrap();
        assert_eq!(mp.count, 4);

        let log = Arc::new(Mutex::new(Vec::new()));
        let script = Script {
            log: Some(log.clone()),
            ..latency(10)
        };
        let r = step(&p, &script, threads, CheckpointStep::Read(1), RankSet::ALL);
        let t = r.checkpoint.expect("rank times");
        assert_eq!((t.ranks, t.bytes), (4, 400 * MIB));
        assert_eq!(
            (t.slowest_ns, t.fastest_ns),
            (30 * MS, 30 * MS),
            "threads {threads}"
        );
        let gets = r.recorder.ops[OpKind::RangedGet.index()].as_ref().unwrap();
        assert_eq!(gets.count, 80);
        let log = log.lock().unwrap();
        for rank in 0..4 {
            let key = format!("s3bench/test/ckpt/ckpt-0001/rank-{rank:05}");
            let mut ranges: Vec<(u64, u64)> = log
                .iter()
                .filter(|(_, k, _)| *k == key)
                .map(|(_, _, r)| r.expect("ranged"))
                .collect();
            ranges.sort();
            let want: Vec<(u64, u64)> = (0..20)
                .map(|i| (i * 5 * MIB, (i + 1) * 5 * MIB - 1))
                .collect();
            assert_eq!(ranges, want, "rank {rank}");
        }
    }
}

/// The endpoint serves 4 requests at once: the ranks' 80 reads queue, the
/// step takes 80 x 10 ms / 4 = 200 ms, and the ranks finish at different
/// times: the step's duration is the slowest rank's, its throughput the
/// lowest rank's.
#[test]
fn a_shared_bottleneck_makes_a_slowest_rank() {
    let p = plan();
    let script = Script {
        slots: Some(Arc::new(tokio::sync::Semaphore::new(4))),
        ..latency(10)
    };
    let r = step(&p, &script, 1, CheckpointStep::Read(0), RankSet::ALL);
    let t = r.checkpoint.unwrap();
    assert_eq!(t.ranks, 4);
    assert_eq!(t.slowest_ns, 200 * MS, "{t:?}");
    assert!(t.fastest_ns < t.slowest_ns, "{t:?}");
    let lowest = 100.0 * MIB as f64 / 0.2;
    assert!(
        (t.min_bytes_per_sec - lowest).abs() < 1e-6 * lowest,
        "{t:?}"
    );
}

/// A shard runs its ranks only: shard 1 of 3 runs ranks 1 and... of 4
/// ranks, rank 1 alone (1, 4, 7, ... below 4).
#[test]
fn a_shard_runs_its_share_of_the_ranks() {
    let p = plan();
    let log = Arc::new(Mutex::new(Vec::new()));
    let script = Script {
        log: Some(log.clone()),
        ..latency(5)
    };
    let set = RankSet {
        first: 1,
        stride: 3,
    };
    let r = step(&p, &script, 2, CheckpointStep::Read(0), set);
    let t = r.checkpoint.unwrap();
    assert_eq!((t.ranks, t.bytes), (1, 100 * MIB));
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 20);
    assert!(
        log.iter().all(|(_, k, _)| k.ends_with("rank-00001")),
        "{log:?}"
    );
}
