//! `s3bench whatif` against a measured run: on endpoints with a fixed
//! latency, the prediction for the settings that ran must give the AU the
//! run measured, and other settings their analytic AU (a batch of B samples
//! with R reads in flight of latency L takes ceil(B / R) x L to read; AU =
//! min(1, compute / that)).

use std::time::Duration;

use s3bench::targets::start_embedded;
use s3bench::whatif::{WhatifOptions, predict};

use super::run::target;
use crate::common::{run_on, scenario as plan};

/// General Purpose answers in 50 ms, Express in 10 ms; 2 accelerators of 8
/// samples, 4 reads in flight, 50 ms of compute: read-bound on General
/// Purpose (AU about 50 / 100 = 50%), compute-bound on Express.
const SCENARIO: &str = r#"
name = "whatif"
rounds = 1
[targets.standard]
kind = "general-purpose"
bucket = "whatif-gp"
region = "us-east-1"
[targets.standard.embedded]
latency = "50ms"
[targets.express]
kind = "directory"
bucket = "whatif--use1-az4--x-s3"
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
"#;

fn au(w: &s3bench::whatif::Whatif, t: &str) -> f64 {
    w.targets.iter().find(|p| p.target == t).unwrap().au
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatif_predicts_the_measured_au_and_the_analytic_moves() {
    let plan = plan(SCENARIO);
    let server = start_embedded(&plan).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = run_on(&server, plan, dir.path()).await;
    assert!(r.complete);
    let measured = |t: &str| target(&r, "train", t).loader.clone().unwrap().measured.au;
    let base = WhatifOptions {
        phase: "train".into(),
        duration: Some(Duration::from_secs(20)),
        seed: 1,
        ..WhatifOptions::default()
    };
    // The settings that ran (taken from the loader phase): the run's AU.
    let w = predict(&r, &base).await.unwrap();
    for t in ["standard", "express"] {
        let p = w.targets.iter().find(|p| p.target == t).unwrap();
        assert_eq!(p.accelerators, 2);
        assert_eq!(p.measured_au, Some(measured(t)), "{t}");
        assert!(
            (p.au - measured(t)).abs() <= 0.05,
            "{t}: predicted {} against the measured {}",
            p.au,
            measured(t)
        );
    }
    assert!((au(&w, "standard") - 0.5).abs() <= 0.05, "read-bound");
    assert!(au(&w, "express") >= 0.95, "compute-bound");

    // The measured GET latency on General Purpose is L = 50 ms and a bit.
    let l = target(&r, "train", "standard").ops["get"].latency_us.p50 / 1e6;
    let with = |compute: u64, rc: u32| WhatifOptions {
        compute: Some(Duration::from_millis(compute)),
        read_concurrency: Some(rc),
        ..base.clone()
    };
    // Half the compute: 25 ms over 2 waves of L.
    let w = predict(&r, &with(25, 4)).await.unwrap();
    let want = 0.025 / (2.0 * l);
    assert!(
        (au(&w, "standard") - want).abs() <= 0.02,
        "{} against {want}",
        au(&w, "standard")
    );
    assert!(
        au(&w, "express") >= 0.95,
        "20 ms of reads under 25 ms of compute"
    );
    // 2 reads in flight: 4 waves.
    let w = predict(&r, &with(50, 2)).await.unwrap();
    let want = 0.050 / (4.0 * l);
    assert!(
        (au(&w, "standard") - want).abs() <= 0.02,
        "{} against {want}",
        au(&w, "standard")
    );
    // 8 in flight and 60 ms of compute: one wave of L per batch, hidden.
    let w = predict(&r, &with(60, 8)).await.unwrap();
    assert!(au(&w, "standard") >= 0.97, "{}", au(&w, "standard"));

    // The command: JSON lines with `target` and `au`; Markdown by default;
    // a wrong phase is one sentence and exit code 2.
    let json = dir.path().join("result.json");
    std::fs::write(&json, s3bench::report::json::to_json(&r)).unwrap();
    let bin = || {
        let mut c = crate::common::s3bench();
        c.arg("whatif").arg(&json);
        c
    };
    let o = bin()
        .args([
            "--phase",
            "train",
            "--json",
            "--duration",
            "10s",
            "--gpu-hour",
            "2.5",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for v in &lines {
        let t = v["target"].as_str().unwrap();
        let au = v["au"].as_f64().unwrap();
        assert!((au - measured(t)).abs() <= 0.05, "{t}: {au}");
        let idle = v["idle_gpu_hours_per_day"].as_f64().unwrap();
        assert!((idle - 2.0 * 24.0 * (1.0 - au)).abs() < 1e-9);
        assert!((v["idle_gpu_usd_per_day"].as_f64().unwrap() - 2.5 * idle).abs() < 1e-9);
    }
    let o = bin()
        .args(["--phase", "train", "--search", "8", "--duration", "5s"])
        .output()
        .unwrap();
    let md = String::from_utf8(o.stdout).unwrap();
    assert!(o.status.success(), "{md}");
    assert!(md.contains("| target ") && md.contains("Assumes:"), "{md}");
    assert!(md.contains("Search on express"), "{md}");
    let o = bin().args(["--phase", "nope"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(
        err.contains("--phase \"nope\": the result has no such phase"),
        "{err}"
    );
}
