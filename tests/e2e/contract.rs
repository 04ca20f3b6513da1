//! result.json as a contract, through the s3bench binary: a stored result of
//! the previous schema version still renders, compares and merges; phase
//! names the run uses for its own stages are refused before anything runs.

use std::path::{Path, PathBuf};
use std::process::Output;

/// A real schema-2 result.json, written by the s3bench of 56ac1d5 from
/// tests/fixtures/v2-result.toml.
const V2_RESULT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v2-result.json");

/// The binary, run with no AWS environment of the developer's
/// ([`crate::common::s3bench`]).
fn s3bench(args: &[&str]) -> Output {
    crate::common::s3bench()
        .args(args)
        .output()
        .expect("the s3bench binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A copy of the v2 fixture in `dir` (as a user's stored result would be).
fn stored_v2(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, std::fs::read(V2_RESULT).unwrap()).unwrap();
    p
}

#[test]
fn a_stored_v2_result_still_renders() {
    let dir = tempfile::tempdir().unwrap();
    let json = stored_v2(dir.path(), "result.json");
    let out_dir = dir.path().join("again");
    std::fs::create_dir(&out_dir).unwrap();
    let o = s3bench(&[
        "report",
        json.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    // Measured phases are headlined (throttled as throttled), setup phases
    // get their compact table, and the ramp's offered rate, read from its
    // version-2 label into a shape, is still plotted.
    assert!(
        md.contains("- **ramp / GET 4 KiB** (100% of requests): Express p50")
            && md.contains("General Purpose throttled"),
        "{md}"
    );
    assert!(!md.contains("**prepare /"), "{md}");
    assert!(md.contains("## Phase 1/5: prepare"), "{md}");
    assert!(md.contains("(rate-ramp.svg)"), "{md}");
    for plot in [
        "rate-ramp.svg",
        "timeseries-ramp.svg",
        "latency-steady-get.svg",
    ] {
        let svg = std::fs::read_to_string(out_dir.join(plot)).unwrap();
        assert!(svg.starts_with("<svg"), "{plot}");
    }
    assert!(!out_dir.join("rate-steady.svg").exists(), "closed loop");
    // The stored file is left as it was: read forward, never rewritten.
    assert_eq!(
        std::fs::read(&json).unwrap(),
        std::fs::read(V2_RESULT).unwrap()
    );
}

#[test]
fn a_stored_v2_result_compares_and_merges() {
    let dir = tempfile::tempdir().unwrap();
    let a = stored_v2(dir.path(), "a.json");
    let b = stored_v2(dir.path(), "b.json");
    let o = s3bench(&["compare", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let md = text(&o.stdout);
    for phase in ["steady", "ramp", "train"] {
        assert!(md.contains(&format!("## Phase {phase}")), "{md}");
    }
    assert!(!md.contains("load differs"), "{md}");

    let out = dir.path().join("merged");
    let o = s3bench(&[
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let report = PathBuf::from(text(&o.stdout).trim());
    let merged = s3bench::report::json::read_result(&report.with_file_name("result.json")).unwrap();
    // Written as this version, with the roles and shapes read from version 2.
    assert_eq!(
        merged.schema_version,
        s3bench::report::model::SCHEMA_VERSION
    );
    assert_eq!(merged.shards, 2);
    let one = s3bench::report::json::read_result(Path::new(V2_RESULT)).unwrap();
    for (m, p) in merged.phases.iter().zip(&one.phases) {
        assert_eq!((m.role, &m.shape), (p.role, &p.shape), "{}", p.name);
        for (mt, pt) in m.targets.iter().zip(&p.targets) {
            for (op, o) in &pt.ops {
                assert_eq!(mt.ops[op].count, 2 * o.count, "{} {op}", p.name);
            }
        }
    }
}

/// A scenario whose one phase is called `name`.
fn scenario_with_phase(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join("named.toml");
    std::fs::write(
        &path,
        format!(
            r#"name = "named"
[targets.standard]
kind = "general-purpose"
bucket = "named-gp"
region = "us-east-1"
[dataset]
objects = 2
size = "1KiB"
[[phase]]
name = "{name}"
ops = 10
concurrency = 1
mix = [{{ op = "get", weight = 1 }}]
"#
        ),
    )
    .unwrap();
    path
}

/// A phase named like one of the run's own stages is refused by `validate`
/// and by `run` (before anything starts), in one sentence with file, line
/// and field, exit code 2.
#[test]
fn a_phase_named_like_a_run_stage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["cleanup", "prepare", "preflight"] {
        let file = scenario_with_phase(dir.path(), name);
        let f = file.to_str().unwrap();
        let want = format!(
            "{f}:10:8: phase[0].name: expected a phase name other than the run's own stages (preflight, prepare, cleanup), got \"{name}\""
        );
        let o = s3bench(&["validate", f]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
        let err = text(&o.stderr);
        assert!(err.contains(&want), "{err}");
        assert_eq!(err.matches(f).count(), 1, "one sentence: {err}");

        let results = dir.path().join("results");
        let o = s3bench(&[
            "run",
            f,
            "--embedded",
            "--out",
            results.to_str().unwrap(),
            "-q",
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
        assert!(text(&o.stderr).contains(&want), "{}", text(&o.stderr));
        assert!(!results.exists(), "nothing may be written");
    }
    // The same file with another name runs.
    let file = scenario_with_phase(dir.path(), "cleanup-heavy");
    let o = s3bench(&["validate", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}
