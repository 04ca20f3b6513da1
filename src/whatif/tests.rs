//! `whatif` against results whose latencies are known exactly: with every
//! GET taking L, a batch of B samples with R reads in flight takes
//! ceil(B / R) x L to read, so AU = min(1, compute / read time) (the
//! engine's loader tests prove that model on a paused clock); the
//! predictions must give those answers, and move the right way.

use std::time::Duration;

use super::*;
use crate::report::fixtures::sample_result;
use crate::stats::codec;
use crate::stats::recorder::{latency_hist, record};

/// The sample run's `mixed` phase with every GET of `standard` taking
/// `gp` and of `express` taking `ex` (as many as the fixture had), all
/// successful, 4 KiB each; one failed GET on `standard`.
fn measured(gp: &[Duration], ex: &[Duration]) -> RunResult {
    let mut r = sample_result();
    let p = r.phases.iter_mut().find(|p| p.name == "mixed").unwrap();
    for t in &mut p.targets {
        let lat = if t.target == "standard" { gp } else { ex };
        let o = t.ops.get_mut("get").unwrap();
        let mut h = latency_hist();
        for i in 0..2000 {
            record(&mut h, lat[i % lat.len()].as_nanos() as u64);
        }
        o.count = 2000;
        o.successes = 2000;
        o.errors = 0;
        o.bytes = 2000 * 4096;
        o.histograms.latency = codec::encode(&h);
        o.latency_us = crate::report::summary::summarize(&h);
    }
    r
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn opts(accelerators: u32, compute: u64, read_concurrency: u32) -> WhatifOptions {
    WhatifOptions {
        phase: "mixed".into(),
        accelerators: Some(accelerators),
        batch_size: Some(8),
        compute: Some(ms(compute)),
        read_concurrency: Some(read_concurrency),
        prefetch: Some(2),
        duration: Some(Duration::from_secs(10)),
        seed: 1,
        ..WhatifOptions::default()
    }
}

fn run(r: &RunResult, o: &WhatifOptions) -> Whatif {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(predict(r, o))
        .unwrap()
}

fn au(w: &Whatif, target: &str) -> f64 {
    w.targets.iter().find(|t| t.target == target).unwrap().au
}

/// General Purpose at 10 ms: 8 samples, 4 in flight, 20 ms per batch
/// against 15 ms of compute: AU 75% (read-bound). Express at 2 ms: 4 ms
/// per batch, AU 100% (compute-bound).
#[test]
fn read_bound_and_compute_bound_give_the_analytic_au() {
    let r = measured(&[ms(10)], &[ms(2)]);
    let w = run(&r, &opts(2, 15, 4));
    assert!((au(&w, "standard") - 0.75).abs() < 0.005, "{:?}", w.targets);
    assert!(au(&w, "express") > 0.999, "{:?}", w.targets);
    let gp = &w.targets[w
        .targets
        .iter()
        .position(|t| t.target == "standard")
        .unwrap()];
    assert!(!gp.passed && gp.au_mark == 0.90);
    // 2 accelerators x 24 h x 25% idle.
    assert!((gp.idle_gpu_hours_per_day - 12.0).abs() < 0.15, "{gp:?}");
    assert!((gp.stall_p50_ms - 5.0).abs() < 0.1, "{gp:?}");
    // 2 x 8 x 4 KiB per 15 ms.
    let need = 2.0 * 8.0 * 4096.0 / 0.015 / MIB;
    assert!((gp.needed_mib_per_sec - need).abs() < 1e-9);
    assert_eq!(gp.latency_op, "get");
    assert_eq!(gp.latency_requests, 2000);
    assert_eq!(gp.measured_au, None, "mixed is not a loader phase");
    assert_eq!(w.settings.sample_bytes, 4096);
}

/// Less compute, fewer reads in flight: more read-bound; more reads in
/// flight: compute-bound again. Each against its analytic answer.
#[test]
fn predictions_move_with_compute_and_read_concurrency() {
    let r = measured(&[ms(10)], &[ms(2)]);
    // Compute 5 ms against 20 ms of reads: 25%.
    let w = run(&r, &opts(2, 5, 4));
    assert!((au(&w, "standard") - 0.25).abs() < 0.005, "{:?}", w.targets);
    // 2 reads in flight: 40 ms per batch against 15 ms: 37.5%.
    let w = run(&r, &opts(2, 15, 2));
    assert!(
        (au(&w, "standard") - 0.375).abs() < 0.005,
        "{:?}",
        w.targets
    );
    // 8 in flight: one 10 ms wave per batch, within the 15 ms of compute.
    let w = run(&r, &opts(2, 15, 8));
    assert!(au(&w, "standard") > 0.999, "{:?}", w.targets);
    // Express at 2 ms with 1 read in flight: 16 ms per batch of 15 ms.
    let w = run(&r, &opts(2, 15, 1));
    assert!(
        (au(&w, "express") - 15.0 / 16.0).abs() < 0.005,
        "{:?}",
        w.targets
    );
}

/// Latency drawn independently of load: every count reads as fast, so a
/// search reaches its bound where one accelerator keeps the mark and finds
/// none where one does not; the answer does not depend on how many.
#[test]
fn a_search_sees_no_cap_the_measurement_did_not_hit() {
    let r = measured(&[ms(10)], &[ms(2)]);
    let o = WhatifOptions {
        accelerators: None,
        search: Some(16),
        ..opts(1, 15, 4)
    };
    let w = run(&r, &o);
    let ex = w.targets.iter().find(|t| t.target == "express").unwrap();
    assert_eq!(ex.accelerators, 16, "{ex:?}");
    let counts: Vec<u32> = ex.steps.iter().map(|s| s.accelerators).collect();
    assert_eq!(counts, [1, 2, 4, 8, 16]);
    let gp = w.targets.iter().find(|t| t.target == "standard").unwrap();
    assert_eq!(gp.accelerators, 0, "{gp:?}");
    assert!((gp.au - 0.75).abs() < 0.005);
    let md = render::markdown(&w);
    assert!(md.contains("Search on express"), "{md}");
    assert!(md.contains("16 (most at >= 90.0%)"), "{md}");
    assert!(
        md.contains("latency is assumed not to change with load"),
        "{md}"
    );
}

/// A spread of latencies: the same seed gives the same prediction, and
/// the AU lies between the all-fast and all-slow answers. (The same to a
/// millionth, not bit for bit: the simulated clock starts at an instant of
/// the real one, and an accelerator waiting when the time is up stops at
/// that instant, not on a timer tick.)
#[test]
fn predictions_are_deterministic_per_seed() {
    let r = measured(&[ms(5), ms(30)], &[ms(2)]);
    let a = run(&r, &opts(4, 15, 4));
    let b = run(&r, &opts(4, 15, 4));
    for (x, y) in a.targets.iter().zip(&b.targets) {
        assert!((x.au - y.au).abs() < 1e-6, "{x:?} {y:?}");
        assert_eq!(
            (x.stall_p50_ms, x.stall_p99_ms),
            (y.stall_p50_ms, y.stall_p99_ms)
        );
    }
    let c = run(
        &r,
        &WhatifOptions {
            seed: 2,
            ..opts(4, 15, 4)
        },
    );
    let (x, y) = (au(&a, "standard"), au(&c, "standard"));
    assert_ne!(x, y);
    assert!((x - y).abs() < 0.05, "{x} {y}");
    // All 5 ms: 10 ms per batch (AU 1); all 30 ms: 60 ms (AU 0.25).
    assert!(x > 0.25 && x < 1.0, "{x}");
}

/// The GPU-hour price turns idle hours into dollars; JSON has one object
/// per target with `target` and `au`.
#[test]
fn gpu_hours_and_json_lines() {
    let r = measured(&[ms(10)], &[ms(2)]);
    let w = run(
        &r,
        &WhatifOptions {
            gpu_hour: Some(3.0),
            ..opts(2, 15, 4)
        },
    );
    for t in &w.targets {
        let idle = 2.0 * 24.0 * (1.0 - t.au);
        assert!((t.idle_gpu_hours_per_day - idle).abs() < 1e-9);
        assert!((t.idle_gpu_usd_per_day.unwrap() - 3.0 * idle).abs() < 1e-9);
    }
    let lines = render::json_lines(&w).unwrap();
    let objs: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 2);
    for (o, t) in objs.iter().zip(&w.targets) {
        assert_eq!(o["target"], t.target.as_str());
        assert_eq!(o["au"].as_f64().unwrap(), t.au);
        assert_eq!(o["settings"]["batch_size"], 8);
    }
    assert!(render::markdown(&w).contains("idle GPU cost / day"));
}

/// A preset supplies the workload; flags override it; a sample size far
/// from the measured reads' is said.
#[test]
fn presets_fill_in_the_workload() {
    let r = measured(&[ms(10)], &[ms(2)]);
    let o = WhatifOptions {
        phase: "mixed".into(),
        accelerators: Some(1),
        preset: Some("unet3d-b200".into()),
        read_concurrency: Some(4),
        duration: Some(Duration::from_secs(20)),
        ..WhatifOptions::default()
    };
    let s = settings(&r, &o).unwrap();
    assert_eq!(
        (s.batch_size, s.compute_ms, s.au_mark, s.read_concurrency),
        (7, 162.0, 0.90, 4)
    );
    assert_eq!(s.preset.as_deref(), Some("unet3d-b200"));
    let w = run(&r, &o);
    assert!(
        w.assumptions
            .iter()
            .any(|a| a.contains("The preset's samples are")),
        "{:?}",
        w.assumptions
    );
}

#[test]
fn bad_flags_are_one_sentence() {
    let r = measured(&[ms(10)], &[ms(2)]);
    let err = |o: WhatifOptions| -> String {
        let e = settings(&r, &o).unwrap_err();
        assert!(e.downcast_ref::<WhatifError>().is_some(), "{e:#}");
        e.to_string()
    };
    assert!(
        err(WhatifOptions {
            phase: "nope".into(),
            ..opts(1, 10, 4)
        })
        .contains("no such phase (it has: prepare, mixed")
    );
    assert!(
        err(WhatifOptions {
            batch_size: None,
            ..opts(1, 10, 4)
        })
        .contains("not a loader phase: give --batch-size and --compute, or --preset NAME")
    );
    assert!(
        err(WhatifOptions {
            search: Some(8),
            ..opts(1, 10, 4)
        })
        .contains("not both")
    );
    assert!(
        err(WhatifOptions {
            preset: Some("gpt5-h200".into()),
            ..opts(1, 10, 4)
        })
        .contains("no such preset (there are: unet3d-b200")
    );
    assert!(
        err(WhatifOptions {
            phase: "cleanup".into(),
            ..opts(1, 10, 4)
        })
        .contains("no successful GET or ranged GET")
    );
    assert!(
        err(WhatifOptions {
            gpu_hour: Some(0.0),
            ..opts(1, 10, 4)
        })
        .contains("--gpu-hour must be")
    );
}
