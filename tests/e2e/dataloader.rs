//! Dataloader phases end to end: simulated accelerators reading through the real
//! request path from the embedded endpoint, whose injected latency fixes
//! what AU must come out (docs/loader.md), and whose counters must match the
//! report's requests.

use super::run::{reported, target};
use crate::common::{run_on, scenario as plan};
use s3bench::targets::start_embedded;

/// 8 samples per batch, 4 reads in flight, 50 ms compute. General Purpose
/// answers in 50 ms: a batch takes ceil(8/4) x 50 = 100 ms to read, so AU
/// is about 50 / 100 = 50% (read-bound). Express answers in 10 ms: a batch
/// is read in 20 ms during the 50 ms of compute, so AU is about 100%
/// (compute-bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loader_au_follows_injected_latency() {
    let plan = plan(
        r#"
name = "loader"
rounds = 1
[targets.standard]
kind = "general-purpose"
bucket = "loader-gp"
region = "us-east-1"
[targets.standard.embedded]
latency = "50ms"
[targets.express]
kind = "directory"
bucket = "loader--use1-az4--x-s3"
region = "us-east-1"
[targets.express.embedded]
latency = "10ms"
[dataset]
objects = 64
size = "4KiB"
[prepare]
concurrency = 8
[[phase]]
name = "train"
duration = "3s"
[phase.loader]
accelerators = 2
batch_size = 8
compute = "50ms"
read_concurrency = 4
prefetch = 2
"#,
    );
    let server = start_embedded(&plan).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = run_on(&server, plan, dir.path()).await;
    assert!(r.complete);
    let gp = target(&r, "train", "standard")
        .loader
        .clone()
        .expect("loader result");
    let ex = target(&r, "train", "express")
        .loader
        .clone()
        .expect("loader result");
    // Read-bound: compute / read time, within 3 points.
    assert!(
        (gp.measured.au - 0.5).abs() <= 0.03,
        "GP AU {}",
        gp.measured.au
    );
    // Compute-bound.
    assert!(ex.measured.au >= 0.97, "Express AU {}", ex.measured.au);
    for l in [&gp, &ex] {
        assert_eq!(l.accelerators, 2);
        assert_eq!(l.measured.accelerator_runs, 2);
        // wall = compute + idle, and about 3 s per accelerator.
        assert!((l.measured.wall_s - l.measured.compute_s - l.measured.stall_s).abs() < 1e-6);
        assert!(
            l.measured.wall_s > 2.0 * 2.5 && l.measured.wall_s < 2.0 * 3.3,
            "{}",
            l.measured.wall_s
        );
        assert_eq!(l.measured.samples, l.measured.batches * 8);
        assert_eq!(l.measured.bytes, l.measured.samples * 4096);
    }
    // General Purpose waits about 50 ms per batch, Express about none.
    assert!(
        (45_000.0..=56_000.0).contains(&gp.measured.stall_us.p50),
        "GP stall p50 {} us",
        gp.measured.stall_us.p50
    );
    assert!(
        ex.measured.stall_us.p99 < 5_000.0,
        "Express stall p99 {} us",
        ex.measured.stall_us.p99
    );

    // Every loader read is a GET the endpoint counted, and the report's.
    let c = server.counters();
    for (name, bucket) in [
        ("standard", "loader-gp"),
        ("express", "loader--use1-az4--x-s3"),
    ] {
        let t = target(&r, "train", name);
        assert!(
            t.ops["get"].count > 0 && t.warmup["get"].count == 16,
            "{name}"
        );
        assert_eq!(
            c.requests(bucket, "GetObject"),
            reported(&r, name, &["get"]) + crate::common::preflight(&r, name, "GetObject"),
            "{name}"
        );
    }

    // AU over time: round 1's seconds add up to the totals; each whole
    // second is read-bound on General Purpose, compute-bound on Express
    // (wide margins: a second holds only about 10 batches).
    for (l, lo, hi) in [(&gp, 0.35, 0.65), (&ex, 0.9, 1.0)] {
        let rows = &l.per_second;
        assert!(
            rows.len() >= 3 && rows.iter().all(|s| s.round == 1),
            "{rows:?}"
        );
        let compute: f64 = rows.iter().map(|s| s.compute_s).sum();
        let stall: f64 = rows.iter().map(|s| s.stall_s).sum();
        assert!((compute - l.measured.compute_s).abs() < 1e-6, "{rows:?}");
        assert!((stall - l.measured.stall_s).abs() < 1e-6, "{rows:?}");
        for s in rows.iter().filter(|s| s.span_s == 1.0 && s.second >= 1) {
            assert!((lo..=hi).contains(&s.au), "{s:?}");
        }
    }

    // The report says it: a loader section, and a headline per target.
    let md = s3bench::report::markdown::render(&r);
    assert!(md.contains("(loader-timeline-train.svg)"), "{md}");
    assert!(md.contains("### Simulated accelerators"), "{md}");
    assert!(md.contains("General Purpose 5"), "{md}");
    assert!(md.contains("GPU idle time"), "{md}");
}

/// Search mode against buckets that cap throughput: each works on at most
/// N requests at once (`max_in_flight`) of 10 ms each, so it serves N x 100
/// GETs per second. An accelerator needs 8 samples per 50 ms = 160 GETs/s,
/// so AU >= 90% holds up to floor(N x 100 x 0.05 / (8 x 0.9)) accelerators:
/// 2 for General Purpose (N = 3), 4 for Express (N = 6). Per accelerator
/// reads are not the limit (2 x 10 ms per batch against 50 ms of compute).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loader_search_finds_the_accelerators_a_throughput_cap_implies() {
    let plan = plan(
        r#"
name = "loader-search"
rounds = 1
[targets.standard]
kind = "general-purpose"
bucket = "search-gp"
region = "us-east-1"
[targets.standard.embedded]
latency = "10ms"
max_in_flight = 3
[targets.express]
kind = "directory"
bucket = "search--use1-az4--x-s3"
region = "us-east-1"
[targets.express.embedded]
latency = "10ms"
max_in_flight = 6
[dataset]
objects = 64
size = "4KiB"
[prepare]
concurrency = 3
[[phase]]
name = "search"
duration = "2s"
[phase.loader]
accelerators = { max = 8, au = 0.90 }
batch_size = 8
compute = "50ms"
read_concurrency = 4
prefetch = 2
"#,
    );
    let server = start_embedded(&plan).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = run_on(&server, plan, dir.path()).await;
    assert!(r.complete);
    let c = server.counters();
    for (name, bucket, slots, implied) in [
        ("standard", "search-gp", 3.0, 2u64),
        ("express", "search--use1-az4--x-s3", 6.0, 4u64),
    ] {
        let t = target(&r, "search", name);
        let l = t.loader.clone().expect("loader result");
        let s = l.search.clone().expect("search steps");
        let tried: Vec<u64> = s.steps.iter().map(|st| st.accelerators).collect();
        // Within one step of what the cap implies.
        assert!(
            l.accelerators.abs_diff(implied) <= 1,
            "{name}: found {} (steps {tried:?}), the cap implies {implied}",
            l.accelerators
        );
        assert_eq!(s.found_by_round, vec![l.accelerators], "{name}");
        // Doubling from 1, then bisecting: the answer passed, one more failed.
        assert_eq!(&tried[..3], &[1, 2, 4], "{name}: {tried:?}");
        let passed = |n: u64| s.steps.iter().any(|st| st.accelerators == n && st.passed);
        assert!(passed(l.accelerators), "{name}: {tried:?}");
        assert!(
            s.steps
                .iter()
                .any(|st| st.accelerators == l.accelerators + 1 && !st.passed),
            "{name}: {tried:?}"
        );
        // Saturated steps get what the cap gives: AU = cap / need.
        for st in &s.steps {
            let need = st.accelerators as f64 * 160.0;
            let cap = slots * 100.0;
            if need >= 1.25 * cap {
                let au = cap / need;
                assert!(
                    (st.measured.au - au).abs() <= 0.04,
                    "{name}: {} accelerators AU {} against {au}",
                    st.accelerators,
                    st.measured.au
                );
                assert!(!st.passed, "{name}: {}", st.accelerators);
            }
            if need <= 0.6 * cap {
                assert!(st.passed && st.measured.au >= 0.97, "{name}: {st:?}");
            }
        }
        // Every step's reads are in the request tables, as the endpoint counted.
        assert_eq!(
            c.requests(bucket, "GetObject"),
            reported(&r, name, &["get"]) + crate::common::preflight(&r, name, "GetObject"),
            "{name}"
        );
    }
    let md = s3bench::report::markdown::render(&r);
    assert!(
        md.contains("Search on standard") && md.contains("loader-search-search.svg"),
        "{md}"
    );
}
