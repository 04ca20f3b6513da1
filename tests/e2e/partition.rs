//! Issue 25 end to end: the shipped prefix-layout pair on the embedded
//! endpoint, whose General Purpose bucket runs the partition model. The
//! hash-first file's 503s fall away as the ranges split; the date-first
//! file's stay on the newest keys; the directory bucket is never
//! throttled; every run folder has the throttling-by-prefix plot; the
//! endpoint's own 503 counts match the report's. And `s3bench plan` warns
//! about the date-first layout only.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use s3bench::engine::Cancel;
use s3bench::plan::RunOptions;
use s3bench::report::model::{RunResult, TargetPhaseResult};
use s3bench::server::EmbeddedServer;
use s3bench::targets::{embedded_targets, start_embedded};

use crate::common::{run_against, s3bench};

fn shipped(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file)
}

struct Ran {
    result: RunResult,
    dir: PathBuf,
    server: EmbeddedServer,
    took: Duration,
    _out: tempfile::TempDir,
}

/// Runs a shipped file as `s3bench run --embedded` does (default options),
/// keeping the endpoint to read its counters and partitions.
async fn run_shipped(file: &str) -> Ran {
    let plan = s3bench::scenario::load(&shipped(file)).expect("the shipped file loads");
    let server = start_embedded(&plan).unwrap();
    let out = tempfile::tempdir().unwrap();
    let targets = embedded_targets(&plan, &server);
    let opts = RunOptions {
        out: out.path().to_path_buf(),
        ..RunOptions::default()
    };
    let t0 = Instant::now();
    let ran = run_against(plan, targets, opts, Arc::new(Cancel::default()))
        .await
        .expect("the run completes");
    Ran {
        took: t0.elapsed(),
        dir: ran.dir,
        result: ran.result,
        server,
        _out: out,
    }
}

fn target<'a>(r: &'a RunResult, phase: &str, name: &str) -> &'a TargetPhaseResult {
    r.phases
        .iter()
        .find(|p| p.name == phase)
        .unwrap_or_else(|| panic!("no phase {phase}"))
        .targets
        .iter()
        .find(|t| t.target == name)
        .unwrap_or_else(|| panic!("no target {name}"))
}

/// (throttled, completed) operations of a target in a phase.
fn throttled(t: &TargetPhaseResult) -> (u64, u64) {
    t.ops.values().fold((0, 0), |(thr, n), o| {
        (
            thr + o.failures.get("throttled").map_or(0, |f| f.count),
            n + o.count,
        )
    })
}

/// The throttled share of the seconds in `from..to` (all rounds).
fn share_of_seconds(t: &TargetPhaseResult, from: u32, to: u32) -> f64 {
    let (thr, n) = t
        .timeseries
        .iter()
        .filter(|s| (from..to).contains(&s.second))
        .fold((0, 0), |(thr, n), s| (thr + s.throttled, n + s.count));
    thr as f64 / n.max(1) as f64
}

/// What the report said against what the endpoint counted, and what every
/// report must hold.
fn check_run(r: &Ran, file: &str) {
    eprintln!("{file}: ran {:.1} s", r.took.as_secs_f64());
    // Each file runs in about a minute.
    assert!(r.took < Duration::from_secs(80), "{file} took {:?}", r.took);
    let gp = target(&r.result, "ingest", "standard");
    let ex = target(&r.result, "ingest", "express");
    // The directory bucket is never throttled, not even once.
    assert_eq!(throttled(ex).0, 0, "{file}: express throttled");
    assert!(ex.throttled_by_prefix.is_none());
    let c = r.server.counters();
    let express = "s3bench--use1-az4--x-s3";
    assert_eq!(c.get(express, "GetObject").errors, 0, "{file}");
    // The one error the directory bucket answered is the preflight's
    // second create-only PUT of its probe key (412, by design).
    assert!(c.get(express, "PutObject").errors <= 1, "{file}");
    // Every 503 the endpoint sent for a GET is one the report counted (GETs
    // run only in the measured phase; nothing else failed).
    assert_eq!(
        c.get("s3bench-gp", "GetObject").errors,
        gp.ops["get"]
            .failures
            .get("throttled")
            .map_or(0, |f| f.count),
        "{file}: the endpoint's GET 503s"
    );
    assert_eq!(
        gp.ops["get"].errors,
        gp.ops["get"].failures["throttled"].count
    );
    // So is every PutObject the endpoint answered: the preflight's, the
    // prepare's (retries included) and the phase's.
    let prepare = target(&r.result, "prepare", "standard");
    let preflight = r.result.targets[0]
        .preflight_requests
        .get("PutObject")
        .copied()
        .unwrap_or(0);
    assert_eq!(
        c.get("s3bench-gp", "PutObject").requests,
        preflight + prepare.ops["put"].requests + gp.ops["put"].requests,
        "{file}: the endpoint's PUTs"
    );
    // Throttles by prefix add up to the throttled operations.
    let by_prefix: u64 = gp
        .throttled_by_prefix
        .as_ref()
        .expect("throttles by prefix")
        .rows
        .iter()
        .map(|r| r.throttled)
        .sum();
    assert_eq!(by_prefix, throttled(gp).0, "{file}");
    // The run folder has the plot and the report its table.
    let plot = r.dir.join("throttling-by-prefix-ingest.svg");
    let svg = std::fs::read_to_string(&plot).unwrap_or_else(|e| panic!("{}: {e}", plot.display()));
    assert!(svg.contains("by key prefix"), "{file}");
    let md = std::fs::read_to_string(r.dir.join("report.md")).unwrap();
    assert!(md.contains("### Throttling by key prefix"), "{file}");
    assert!(md.contains("throttling-by-prefix-ingest.svg"), "{file}");
}

/// The shipped pair (issue 25's "Done when"): both start throttled on a
/// fresh bucket; the hash-first file's throttling falls away as the
/// bucket's ranges split (last third under half the first third), the
/// date-first file's stays on the newest keys (at least five times the
/// hash-first file's throttled share).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_layout_pair_hash_first_recovers_and_date_first_stays_throttled() {
    let hash = run_shipped("prefix-layout.toml").await;
    check_run(&hash, "prefix-layout.toml");
    let date = run_shipped("prefix-layout-date-first.toml").await;
    check_run(&date, "prefix-layout-date-first.toml");

    let (gh, gd) = (
        target(&hash.result, "ingest", "standard"),
        target(&date.result, "ingest", "standard"),
    );
    let share = |t| {
        let (thr, n) = throttled(t);
        thr as f64 / n as f64
    };
    let (sh, sd) = (share(gh), share(gd));
    let seconds = gh.timeseries.iter().map(|s| s.second).max().unwrap() + 1;
    let third = seconds / 3;
    let (first, last) = (
        share_of_seconds(gh, 0, third),
        share_of_seconds(gh, seconds - third, seconds),
    );
    eprintln!(
        "throttled share: hash-first {:.1}% (first third {:.1}%, last third {:.1}%), date-first {:.1}% (first third {:.1}%, last third {:.1}%); ranges: hash-first {}, date-first {}",
        100.0 * sh,
        100.0 * first,
        100.0 * last,
        100.0 * sd,
        100.0 * share_of_seconds(gd, 0, third),
        100.0 * share_of_seconds(gd, seconds - third, seconds),
        hash.server.partitions("s3bench-gp").unwrap().0.len(),
        date.server.partitions("s3bench-gp").unwrap().0.len(),
    );
    // Both start throttled on a fresh bucket.
    assert!(share_of_seconds(gh, 0, 1) > 0.4, "hash-first second 0");
    assert!(share_of_seconds(gd, 0, 1) > 0.4, "date-first second 0");
    // Date-first: at least five times the hash-first share.
    assert!(sd >= 5.0 * sh, "date-first {sd:.3} vs hash-first {sh:.3}");
    // Hash-first: the last third throttled under half as much as the first.
    assert!(
        last < first / 2.0,
        "first third {first:.3}, last third {last:.3}"
    );
    // The date-first layout stays throttled to the end.
    assert!(share_of_seconds(gd, seconds - third, seconds) > 0.4);
    // Where: the date-first throttles sit on one prefix (the date and the
    // index's first digit), the hash-first ones spread over the hash's
    // first hex digits.
    let prefixes = |t: &TargetPhaseResult| -> std::collections::BTreeSet<String> {
        t.throttled_by_prefix
            .as_ref()
            .unwrap()
            .rows
            .iter()
            .map(|r| r.prefix.clone())
            .collect()
    };
    let (ph, pd) = (prefixes(gh), prefixes(gd));
    assert_eq!(pd.len(), 1, "{pd:?}");
    assert!(pd.iter().all(|p| p.len() == "2026/01/01/0".len()), "{pd:?}");
    assert!(ph.len() >= 12, "{ph:?}");
    assert!(ph.iter().all(|p| p.len() == 1), "{ph:?}");
    // The endpoint split both buckets: the hash-first one into enough
    // ranges to carry the load, the date-first one behind its newest keys.
    let (rh, _) = hash.server.partitions("s3bench-gp").unwrap();
    let (rd, _) = date.server.partitions("s3bench-gp").unwrap();
    assert!(rh.len() >= 4, "{rh:?}");
    assert!(rd.len() >= 6, "{rd:?}");
    let run_prefix = &date.result.run_prefix;
    assert!(
        rd[2..]
            .iter()
            .all(|r| r.start.starts_with(run_prefix.as_str())),
        "{rd:?}"
    );
}

/// `s3bench plan` warns about the date-first layout, with the advice and
/// its consequence; the hash-first file gets no warning.
#[test]
fn prefix_layout_plan_warns_about_the_date_first_file_only() {
    let plan = |file: &str| {
        let out = s3bench()
            .args(["plan"])
            .arg(shipped(file))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let date = plan("prefix-layout-date-first.toml");
    assert!(date.contains("## Key layout"), "{date}");
    assert!(
        date.contains("**Warning:** the key template `{date}/{index:06}.bin` puts a date"),
        "{date}"
    );
    assert!(date.contains("one hot partition"), "{date}");
    assert!(date.contains("`{hash:4}/{date}/{index:06}.bin`"), "{date}");
    assert!(date.contains("5,500") && date.contains("3,500"), "{date}");
    let hash = plan("prefix-layout.toml");
    assert!(hash.contains("## Key layout"), "{hash}");
    assert!(!hash.contains("Warning"), "{hash}");
    assert!(hash.contains("spread over 16 prefixes"), "{hash}");
}

/// `serve` takes the model as flags, checked by the scenario's rules: a
/// refinement of the partition model without `--prefix-limit` is refused
/// before the endpoint starts (exit 2, one sentence naming the flag).
#[test]
fn serve_refuses_a_partition_refinement_without_a_prefix_limit() {
    let out = s3bench()
        .args(["serve", "--listen", "127.0.0.1:0", "--split-after", "2s"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--split-after") && err.contains("give prefix_limit"),
        "{err}"
    );
    let out = s3bench()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--prefix-limit",
            "300:100",
        ])
        .args(["--max-partitions", "0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--max-partitions: expected at least 1, got 0"),
        "{err}"
    );
}
