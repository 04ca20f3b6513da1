//! `s3bench plan` against what the run then does: the estimate's request
//! counts match the endpoint's within the op mix's randomness, its cost comes
//! from the same formula as the report's, and `run` refuses a costly AWS run
//! without `--yes` before sending anything.

use std::sync::Arc;

use crate::common::{DIR, GP, run_against, s3bench, scenario, scenario_text, two_targets};
use s3bench::engine::Cancel;
use s3bench::estimate::{EstimateOptions, estimate};
use s3bench::plan::RunOptions;
use s3bench::report::cost::{prices, run_costs};
use s3bench::targets::{embedded_targets, start_embedded};

const HEAD: &str = r#"
name = "plan-vs-run"
rounds = 1
"#;
const REST: &str = r#"
[dataset]
objects = 20
size = "4KiB"
[[phase]]
name = "mixed"
duration = "3s"
rate = 200
max_in_flight = 16
mix = [{ op = "get", weight = 3 }, { op = "put", weight = 1, size = "1KiB" }]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_counts_and_cost_match_the_run() {
    let plan = scenario(&scenario_text(HEAD, two_targets(), REST));
    let est = estimate(&plan, &EstimateOptions::default());
    let server = start_embedded(&plan).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let targets = embedded_targets(&plan, &server);
    let opts = RunOptions {
        out: dir.path().to_path_buf(),
        ..RunOptions::default()
    };
    let out = run_against(plan, targets, opts, Arc::new(Cancel::default()))
        .await
        .unwrap();
    let costs = run_costs(&out.result, prices());
    let c = server.counters();
    for (t, bucket) in [("standard", GP), ("express", DIR)] {
        let e = est.targets.iter().find(|e| e.target == t).unwrap();
        let ops = e.ops_by_op();
        // Open loop: 600 ops in all, exactly; the 3:1 mix splits them at random.
        let (gets, puts) = (ops["get"].requests, ops["put"].requests);
        assert_eq!(gets + puts, 600 + 20, "{t}: measured ops plus the data set");
        // The endpoint also served the preflight's probe, reported apart.
        let pre = |op: &str| crate::common::preflight(&out.result, t, op);
        let served_gets = c.requests(bucket, "GetObject") - pre("GetObject");
        let served_puts = c.requests(bucket, "PutObject") - pre("PutObject");
        assert_eq!(served_gets + served_puts, 620, "{t}");
        let near = |a: u64, b: u64| (a as f64 - b as f64).abs() <= 0.1 * b as f64;
        assert!(
            near(served_gets, gets),
            "{t}: GETs {served_gets} vs planned {gets}"
        );
        assert!(
            near(served_puts, puts),
            "{t}: PUTs {served_puts} vs planned {puts}"
        );
        // The same formula prices both: the plan's cost of the counts the run
        // made is the report's cost.
        let rc = costs.iter().find(|r| r.target == t).unwrap();
        let price = rc.price.as_ref().expect("us-east-1 is priced");
        assert_eq!(price.cost(&rc.usage), rc.cost.unwrap(), "{t}");
        let planned = e.cost.unwrap().total();
        let made = rc.cost.unwrap().total();
        assert!(
            (planned - made).abs() <= 0.15 * made,
            "{t}: planned ${planned} vs run ${made}"
        );
    }
}

/// A costly AWS run is refused without --yes when nobody can answer (no
/// terminal), before any request: exit 2 and one sentence.
#[test]
fn costly_aws_run_needs_yes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("costly.toml");
    std::fs::write(
        &path,
        r#"
[targets.gp]
kind = "general-purpose"
bucket = "bench"
region = "us-east-1"
[[phase]]
name = "p"
duration = "60s"
rate = 10000
mix = [{ op = "list" }]
"#,
    )
    .unwrap();
    let out = s3bench()
        .args(["run", path.to_str().unwrap(), "--confirm-above", "1", "-q"])
        .args(["--out", dir.path().join("r").to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("estimated to cost about $"), "{err}");
    assert!(err.contains("pass --yes"), "{err}");
    assert!(!dir.path().join("r").exists(), "nothing started");
}

/// `run` and `plan` read one run plan: with `--duration` and `--rounds`,
/// the cost `run` asks about (its question is in the refusal when nobody
/// can answer) is the estimate `plan` prints, and both differ from the
/// scenario's own length. Before, `run` priced the scenario before the flags
/// applied (a 5 s smoke run of a 10 min scenario was refused as costly).
#[test]
fn run_and_plan_ask_about_the_same_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.toml");
    // No endpoint: AWS targets, which the run prices and asks about.
    let rest = r#"
[dataset]
objects = 100
size = "1MiB"
[[phase]]
name = "p"
duration = "10m"
rate = 2000
mix = [{ op = "put", weight = 1, size = "64KiB" }, { op = "get", weight = 3 }]
"#;
    std::fs::write(&path, scenario_text("", two_targets(), rest)).unwrap();
    let s = path.to_str().unwrap();
    let planned = |flags: &[&str]| {
        let out = s3bench().args(["plan", s]).args(flags).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{text}");
        let cost = text
            .split("estimated cost ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .unwrap_or_else(|| panic!("plan prints a cost: {text}"));
        cost.to_string()
    };
    let asked = |flags: &[&str]| {
        let out = s3bench()
            .args(["run", s, "--confirm-above", "0", "-q"])
            .args(["--out", dir.path().join("r").to_str().unwrap()])
            .args(flags)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("pass --yes"), "{err}");
        assert!(!dir.path().join("r").exists(), "nothing started");
        let cost = err
            .split("estimated to cost about ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .unwrap_or_else(|| panic!("run asks about a cost: {err}"));
        (cost.to_string(), err)
    };
    let whole = planned(&[]);
    assert_eq!(asked(&[]).0, whole, "no flags");
    for flags in [
        &["--duration", "5s"][..],
        &["--rounds", "10"],
        &["--duration", "5s", "--rounds", "3"],
    ] {
        let plan = planned(flags);
        let (run, err) = asked(flags);
        assert_eq!(
            run, plan,
            "{flags:?}: run asks about {run}, plan prints {plan}"
        );
        assert_ne!(plan, whole, "{flags:?} changes the estimate");
        // The question names the plan command that prints the same estimate.
        let cmd = format!("`s3bench plan {s} {}`", flags.join(" "));
        assert!(err.contains(&cmd), "{err}");
    }
}
