//! Pass/fail checks end to end, through the s3bench binary against the
//! embedded endpoint: a check that cannot hold (injected latency above its
//! limit) ends with exit code 7, a report that names it with the measured
//! value and JUnit XML; checks that hold exit 0; a bad expression exits 2
//! with its sentence before any request is sent; `report`, `compare` and
//! `merge` judge stored results again.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use s3bench::report::model::RunResult;
use s3bench::server::EmbeddedServer;

use crate::common::{s3bench, s3bench_for};

fn bin() -> Command {
    s3bench()
}

/// The scenario: one General Purpose target with 5 ms of injected latency
/// on the test's own endpoint, a GET phase with an op budget.
fn scenario(dir: &Path, server: &EmbeddedServer, extra: &str) -> PathBuf {
    let text = format!(
        r#"
name = "checks"
rounds = 1
[targets.standard]
kind = "general-purpose"
bucket = "checks-gp"
region = "{region}"
endpoint = "{endpoint}"
path_style = true
[dataset]
objects = 8
size = "4KiB"
[[phase]]
name = "reads"
ops = 120
concurrency = 4
mix = [{{ op = "get", weight = 1 }}]
{extra}"#,
        region = server.region(),
        endpoint = server.endpoint()
    );
    let path = dir.join("checks.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn server() -> EmbeddedServer {
    let s = EmbeddedServer::start(Default::default()).unwrap();
    s.create_bucket("checks-gp").unwrap();
    s.set_injection(
        "checks-gp",
        s3bench::server::Injection {
            latency: Some(s3bench::server::LatencyDist::Fixed(
                std::time::Duration::from_millis(5),
            )),
            ..Default::default()
        },
    );
    s
}

fn run(server: &EmbeddedServer, scenario: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut cmd = s3bench_for(server);
    cmd.args([
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ])
    .args(extra);
    cmd.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The run folder a run printed (its report.md's directory).
fn run_dir(o: &Output) -> PathBuf {
    let stdout = String::from_utf8_lossy(&o.stdout);
    let report = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("{}", text(o)));
    Path::new(report).parent().unwrap().to_path_buf()
}

fn result(dir: &Path) -> RunResult {
    s3bench::report::json::read_result(&dir.join("result.json")).unwrap()
}

#[test]
fn a_check_that_cannot_hold_exits_7_with_report_and_junit() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let scenario = scenario(
        tmp.path(),
        &server,
        "[[check]]\nexpr = \"standard/get/p50 < 2ms\"\nname = \"GET p50 SLO\"\n\n[[check]]\nexpr = \"standard/*/error_rate == 0\"\n",
    );
    let out = tmp.path().join("results");
    let o = run(&server, &scenario, &out, &["--check", "*/get/count >= 120"]);
    assert_eq!(o.status.code(), Some(7), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("checks: 2 passed, 1 failed"), "{stderr}");
    assert!(
        stderr.contains("FAIL: GET p50 SLO (standard/get/p50 < 2ms): measured "),
        "{stderr}"
    );
    let dir = run_dir(&o);
    let r = result(&dir);
    assert!(r.complete, "the run itself went right");
    let get = &r.phases.iter().find(|p| p.name == "reads").unwrap().targets[0].ops["get"];
    let verdicts: Vec<(&str, bool, Option<f64>)> = r
        .checks
        .iter()
        .map(|c| (c.instance.as_str(), c.passed, c.value))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("standard/get/p50 < 2ms", false, Some(get.latency_us.p50)),
            ("standard/get/error_rate == 0", true, Some(0.0)),
            ("standard/get/count >= 120", true, Some(120.0)),
        ]
    );
    assert!(get.latency_us.p50 >= 5_000.0, "{:?}", get.latency_us);
    assert_eq!(r.checks[0].source, "scenario");
    assert_eq!(r.checks[2].source, "flag");
    // The report names it, with the measured value, at the top.
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let checks_at = md.find("## Checks").expect("a Checks section");
    assert!(
        md[..checks_at].lines().all(|l| !l.starts_with("## ")),
        "{md}"
    );
    let row = md
        .lines()
        .find(|l| l.contains("`standard/get/p50 < 2ms`"))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(row.contains("**FAIL**"), "{row}");
    let ms = format!(
        "{} ms",
        s3bench::report::format::sig(get.latency_us.p50 / 1e3, 3)
    );
    assert!(row.contains(&ms), "{row} should hold {ms}");
    assert!(md.contains("**1 of 3 checks failed**"), "{md}");
    // JUnit XML for CI.
    let junit = std::fs::read_to_string(dir.join("checks.junit.xml")).unwrap();
    assert!(junit.contains("tests=\"3\" failures=\"1\""), "{junit}");
    let sentence = s3bench::report::checks::sentence(&r.checks[0]);
    assert!(stderr.contains(&sentence), "{stderr}\n{sentence}");
    assert!(sentence.ends_with(" ms past the limit"), "{sentence}");
    assert!(
        junit.contains(&format!(
            "<failure message=\"{}\"",
            sentence.replace('<', "&lt;")
        )),
        "{junit}"
    );

    // `report` judges the stored result again, the same way; a check added
    // there that holds keeps the exit code of the one that does not.
    let rendered = bin()
        .args(["report", dir.join("result.json").to_str().unwrap()])
        .args(["--out", tmp.path().to_str().unwrap()])
        .args(["--check", "standard/get/p50 >= 5ms"])
        .output()
        .unwrap();
    assert_eq!(rendered.status.code(), Some(7), "{}", text(&rendered));
    let md2 = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
    assert!(md2.contains("**1 of 4 checks failed**"), "{md2}");
    assert!(md2.contains("`standard/get/p50 >= 5ms`"), "{md2}");
    let junit2 = std::fs::read_to_string(tmp.path().join("checks.junit.xml")).unwrap();
    assert!(junit2.contains("tests=\"4\" failures=\"1\""), "{junit2}");
}

#[test]
fn checks_that_hold_exit_0_and_compare_judges_b() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let scenario = scenario(tmp.path(), &server, "");
    let out = tmp.path().join("results");
    let o = run(
        &server,
        &scenario,
        &out,
        &[
            "--check",
            "standard/get/p50 >= 5ms",
            "--check",
            "reads:*/*/throttle_rate < 1%",
            "--check",
            "standard/get/ops_per_sec > 10",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let a = run_dir(&o);
    let r = result(&a);
    assert_eq!(r.checks.len(), 3);
    assert!(r.checks.iter().all(|c| c.passed), "{:#?}", r.checks);
    assert!(a.join("checks.junit.xml").is_file());
    // Without checks: no section, no JUnit file, exit 0.
    let o = run(&server, &scenario, &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let b = run_dir(&o);
    assert!(result(&b).checks.is_empty());
    assert!(!b.join("checks.junit.xml").exists());
    assert!(
        !std::fs::read_to_string(b.join("report.md"))
            .unwrap()
            .contains("## Checks")
    );
    // compare judges B on its flags.
    let cmp = |check: &str| {
        bin()
            .args(["compare"])
            .arg(a.join("result.json"))
            .arg(b.join("result.json"))
            .args(["--check", check])
            .output()
            .unwrap()
    };
    let held = cmp("standard/get/p99 < 10s");
    assert_eq!(held.status.code(), Some(0), "{}", text(&held));
    let stdout = String::from_utf8_lossy(&held.stdout);
    assert!(stdout.contains("## Checks of B ("), "{stdout}");
    assert!(stdout.contains("All 1 checks passed."), "{stdout}");
    let broke = cmp("standard/get/p99 < 1ms");
    assert_eq!(broke.status.code(), Some(7), "{}", text(&broke));
    let bad = cmp("standard/get/p99 < 1");
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));

    // merge judges the union of the shards' checks on the merged result.
    let merged = tmp.path().join("merged");
    let m = bin()
        .arg("merge")
        .arg(a.join("result.json"))
        .arg(b.join("result.json"))
        .args(["--out", merged.to_str().unwrap()])
        .args(["--check", "standard/get/count >= 240"])
        .output()
        .unwrap();
    assert_eq!(m.status.code(), Some(0), "{}", text(&m));
    let md = String::from_utf8_lossy(&m.stdout);
    let mr = s3bench::report::json::read_result(
        &Path::new(md.lines().last().unwrap())
            .parent()
            .unwrap()
            .join("result.json"),
    )
    .unwrap();
    let got: Vec<(&str, bool)> = mr
        .checks
        .iter()
        .map(|c| (c.instance.as_str(), c.passed))
        .collect();
    assert_eq!(
        got,
        [
            ("standard/get/p50 >= 5ms", true),
            ("reads:standard/get/throttle_rate < 1%", true),
            ("standard/get/ops_per_sec > 10", true),
            ("standard/get/count >= 240", true),
        ]
    );
    // The merged count is both shards': 2 x 120.
    let count = mr
        .checks
        .iter()
        .find(|c| c.instance.contains("count"))
        .unwrap();
    assert_eq!(count.value, Some(240.0));
}

/// A malformed check, or one naming what the scenario lacks, is bad input:
/// exit 2 with one sentence pointing at its column, before any request.
#[test]
fn bad_checks_exit_2_before_anything_is_sent() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let scenario_path = scenario(tmp.path(), &server, "");
    let out = tmp.path().join("results");
    for (check, says) in [
        (
            "standard/get/p99 < 10",
            "--check \"standard/get/p99 < 10\": column 22: `p99` is a duration: give the limit a unit (ns, us, ms or s), like 10ms",
        ),
        (
            "express/get/p99 < 10ms",
            "--check \"express/get/p99 < 10ms\": column 1: the scenario has no target `express`; expected one of `standard` or `*`",
        ),
        (
            "standard/put/p99 < 10ms",
            "column 10: no `put` in any measured phase of the scenario",
        ),
        (
            "writes:standard/get/p99 < 10ms",
            "column 1: the scenario has no measured phase `writes`",
        ),
    ] {
        let o = run(&server, &scenario_path, &out, &["--check", check]);
        assert_eq!(o.status.code(), Some(2), "{check}: {}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains(says), "{check}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
    }
    // In the scenario: file, line and column of the mistake.
    let bad = scenario(
        tmp.path(),
        &server,
        "[[check]]\nexpr = \"standard/get/p99 <= 10 parsecs\"\n",
    );
    let o = run(&server, &bad, &out, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("checks.toml:19:32: check[0].expr: unit `parsecs` does not fit `p99`"),
        "{stderr}"
    );
    // Nothing was sent, nothing was written.
    assert_eq!(server.counters().total_requests("checks-gp"), 0);
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
}
