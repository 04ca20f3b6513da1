//! Distributed runs: generated Kubernetes manifests validated against the
//! API schemas, the start barrier in S3, and results published to and
//! merged from S3, all against the embedded endpoint over HTTP.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::common::run_against;
use s3bench::cluster::{S3Url, barrier, results};
use s3bench::engine::Cancel;
use s3bench::plan::{RunOptions, Shard};
use s3bench::scenario::parse;
use s3bench::targets::{embedded_targets, start_embedded};

use crate::common::{client, start_server};

/// The binary, hermetic ([`crate::common::s3bench`]).
fn bin() -> Command {
    crate::common::s3bench()
}

/// Every YAML document of a multi-document string.
fn documents(yaml: &str) -> Vec<serde_json::Value> {
    use serde::Deserialize as _;
    yaml_serde::Deserializer::from_str(yaml)
        .map(|d| serde_json::Value::deserialize(d).expect("each document parses as YAML"))
        .collect()
}

fn kind<'a>(docs: &'a [serde_json::Value], kind: &str, suffix: &str) -> &'a serde_json::Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"].as_str().unwrap().ends_with(suffix))
        .unwrap_or_else(|| panic!("no {kind} *{suffix} in {docs:#?}"))
}

#[test]
fn cluster_k8s_manifests_validate_and_carry_the_scenario() {
    let scenario = "scenarios/ml-shards.toml";
    let out = bin()
        .args([
            "k8s",
            scenario,
            "--shards",
            "6",
            "--image",
            "registry.example/s3bench:0.1.0",
            "--namespace",
            "bench",
            "--service-account",
            "s3bench",
            "--results",
            "s3://bench-results/runs",
            "--karpenter",
            "--run-id",
            "ml-2026-12-02a",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    let docs = documents(&yaml);
    assert_eq!(docs.len(), 5, "{yaml}");

    let cm = kind(&docs, "ConfigMap", "-scenario");
    let text = std::fs::read_to_string(scenario).unwrap();
    assert_eq!(
        cm["data"]["ml-shards.toml"].as_str().unwrap(),
        text,
        "the ConfigMap holds the file as is"
    );

    let job = kind(&docs, "Job", "s3bench-ml-2026-12-02a");
    let spec = &job["spec"];
    assert_eq!(job["metadata"]["namespace"], "bench");
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(
        (spec["completions"].as_u64(), spec["parallelism"].as_u64()),
        (Some(6), Some(6))
    );
    assert_eq!(spec["backoffLimitPerIndex"], 1);
    let rules = spec["podFailurePolicy"]["rules"].as_array().unwrap();
    assert!(
        rules
            .iter()
            .any(|r| r["action"] == "FailIndex" && r["onExitCodes"]["values"][0] == 2)
    );
    // A shard past the barrier is not retried: SIGTERM (143), barrier
    // timeout (5), upload failure (6) end its index.
    for code in [5, 6, 130, 143] {
        assert!(
            rules.iter().any(|r| r["action"] == "FailIndex"
                && r["onExitCodes"]["values"]
                    .as_array()
                    .unwrap()
                    .contains(&code.into())),
            "{code}: {rules:?}"
        );
    }
    let pod = &spec["template"];
    assert_eq!(
        pod["metadata"]["annotations"]["karpenter.sh/do-not-disrupt"],
        "true"
    );
    let ps = &pod["spec"];
    assert_eq!(ps["terminationGracePeriodSeconds"], 120);
    assert_eq!(ps["serviceAccountName"], "s3bench");
    assert_eq!(ps["restartPolicy"], "Never");
    let term = &ps["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        [0]["matchExpressions"][0];
    assert_eq!(term["key"], "topology.k8s.aws/zone-id");
    assert_eq!(term["operator"], "In");
    assert_eq!(term["values"], serde_json::json!(["use1-az4"]));
    let c = &ps["containers"][0];
    assert_eq!(c["image"], "registry.example/s3bench:0.1.0");
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        &args[..5],
        [
            "run",
            "/scenario/ml-shards.toml",
            "--results",
            "s3://bench-results/runs/",
            "--barrier"
        ]
    );
    let env = |n: &str| {
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == n)
            .unwrap()["value"]
            .clone()
    };
    // Live metrics: on all interfaces of the pod, a named port, and the
    // scrape annotations Prometheus' kubernetes-pods job reads.
    let at = args.iter().position(|a| *a == "--metrics-listen").unwrap();
    assert_eq!(args[at + 1], "0.0.0.0:9464");
    assert!(
        args.windows(2).any(|w| w == ["--metrics-linger", "30s"]),
        "{args:?}"
    );
    assert_eq!(
        c["ports"],
        serde_json::json!([{ "name": "metrics", "containerPort": 9464, "protocol": "TCP" }])
    );
    let notes = &pod["metadata"]["annotations"];
    assert_eq!(notes["prometheus.io/scrape"], "true");
    assert_eq!(notes["prometheus.io/port"], "9464");
    assert_eq!(notes["prometheus.io/path"], "/metrics");
    assert_eq!(env("S3BENCH_RUN_ID"), "ml-2026-12-02a");
    assert_eq!(env("S3BENCH_SHARD_COUNT"), "6");
    // ml-shards.toml: 16 workers -> 1 CPU, 256 + 32 MiB.
    assert_eq!(c["resources"]["requests"]["cpu"], "1");
    assert_eq!(c["resources"]["limits"]["memory"], "288Mi");
    assert!(c["resources"]["limits"].get("cpu").is_none());

    let merge = kind(&docs, "Job", "-merge");
    let margs: Vec<&str> = merge["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        &margs[..4],
        [
            "merge",
            "s3://bench-results/runs/ml-2026-12-02a/",
            "--shards",
            "6"
        ]
    );
    // A merged run that fails a check (7) or bad input (2) is not retried.
    assert_eq!(
        merge["spec"]["podFailurePolicy"]["rules"][0],
        serde_json::json!({ "action": "FailJob", "onExitCodes": {
            "containerName": "merge", "operator": "In", "values": [2, 7] } })
    );

    let pool = kind(&docs, "NodePool", "s3bench");
    let reqs = pool["spec"]["template"]["spec"]["requirements"]
        .as_array()
        .unwrap();
    let req = |k: &str| {
        reqs.iter()
            .find(|r| r["key"] == k)
            .unwrap_or_else(|| panic!("{k}"))["values"]
            .clone()
    };
    assert_eq!(
        req("karpenter.sh/capacity-type"),
        serde_json::json!(["on-demand"])
    );
    assert_eq!(
        req("topology.k8s.aws/zone-id"),
        serde_json::json!(["use1-az4"])
    );
    assert!(
        req("karpenter.k8s.aws/instance-family")
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "c6in")
    );
    assert_eq!(
        pool["spec"]["disruption"]["consolidationPolicy"],
        "WhenEmpty"
    );
    assert!(
        pool["metadata"].get("namespace").is_none(),
        "NodePools are cluster-scoped"
    );
    kind(&docs, "EC2NodeClass", "s3bench");

    // The file as a user applies it, against the Kubernetes API schemas
    // (offline, strict: unknown fields are errors). Karpenter's kinds are
    // CRDs the validator has no schema for (it warns); their fields are
    // checked above.
    // Keys in the order people read them.
    assert!(
        yaml.contains("apiVersion: batch/v1\nkind: Job\nmetadata:\n"),
        "{yaml}"
    );
    assert!(yaml.contains("--timeout="), "{yaml}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("run.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let Ok(v) = Command::new("kubernetes-validate")
        .arg("--strict")
        .arg(&file)
        .output()
    else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "kubernetes-validate is not installed but CI=true: .ci/run must install it (pip install kubernetes-validate)"
        );
        eprintln!(
            "SKIPPED the schema check: kubernetes-validate is not installed (pip install kubernetes-validate); CI installs it and runs it"
        );
        return;
    };
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(v.status.success(), "{report}");
    for r in [
        "configmap/s3bench-ml-2026-12-02a-scenario",
        "job/s3bench-ml-2026-12-02a ",
        "job/s3bench-ml-2026-12-02a-merge",
    ] {
        assert!(
            report.contains(&format!("passed for resource {r}")),
            "{r}: {report}"
        );
    }
    assert_eq!(
        report.matches("Couldn't find schema").count(),
        2,
        "{report}"
    );

    // A broken manifest does fail the validator (the check can fail).
    let mut broken = job.clone();
    broken["spec"]["completionMode"] = serde_json::json!(7);
    let p = dir.path().join("broken.yaml");
    std::fs::write(&p, yaml_serde::to_string(&broken).unwrap()).unwrap();
    let v = Command::new("kubernetes-validate")
        .arg("--strict")
        .arg(&p)
        .output()
        .unwrap();
    assert!(!v.status.success());
}

/// `--metrics-port 0`: no metrics flag, port or scrape annotation.
#[test]
fn cluster_k8s_metrics_can_be_turned_off() {
    let out = bin()
        .args([
            "k8s",
            "scenarios/mixed.toml",
            "--shards",
            "2",
            "--image",
            "i:1",
        ])
        .args([
            "--results",
            "s3://bench-results/p/",
            "--run-id",
            "r1",
            "--metrics-port",
            "0",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    let docs = documents(&yaml);
    let pod = &kind(&docs, "Job", "s3bench-r1")["spec"]["template"];
    assert!(pod["spec"]["containers"][0].get("ports").is_none());
    assert!(
        pod["metadata"]["annotations"]
            .get("prometheus.io/scrape")
            .is_none()
    );
    assert!(!yaml.contains("--metrics-listen"), "{yaml}");
    assert!(yaml.contains("Live metrics: off"), "{yaml}");
}

#[test]
fn cluster_k8s_bad_input_is_named() {
    let run = |args: &[&str]| {
        let o = bin().args(args).output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let base = [
        "k8s",
        "scenarios/mixed.toml",
        "--shards",
        "2",
        "--image",
        "i:1",
    ];
    let (code, err) = run(&[&base[..], &["--results", "bench-results/runs"]].concat());
    assert_eq!(code, Some(2));
    assert!(
        err.contains("\"bench-results/runs\" is not an S3 URL"),
        "{err}"
    );
    let (code, err) = run(&[&base[..], &["--results", "s3://b12/x", "--run-id", "a/b"]].concat());
    assert_eq!(code, Some(2));
    assert!(err.contains("run id \"a/b\""), "{err}");
    let (code, err) = run(&[
        "k8s",
        "scenarios/mixed.toml",
        "--shards",
        "0",
        "--image",
        "i:1",
        "--results",
        "s3://b12/x",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--shards must be at least 1"), "{err}");
}

const BARRIER_BUCKET: &str = "bench--use1-az4--x-s3";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_barrier_three_shards_meet() {
    let server = start_server();
    server.create_bucket(BARRIER_BUCKET).unwrap();
    let c = client(&server);
    let opts = barrier::BarrierOptions {
        poll_min: Duration::from_millis(50),
        poll_max: Duration::from_millis(200),
        margin: Duration::from_millis(500),
    };
    let begun = SystemTime::now();
    let tasks: Vec<_> = (0..3u32)
        .map(|shard| {
            let c = c.clone();
            tokio::spawn(async move {
                // Shards arrive 0, 300 and 600 ms apart.
                tokio::time::sleep(Duration::from_millis(300 * shard as u64)).await;
                barrier::wait_with(
                    &c,
                    BARRIER_BUCKET,
                    "meet-1",
                    shard,
                    3,
                    Duration::from_secs(20),
                    std::future::pending::<()>(),
                    opts,
                )
                .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap().expect("all three meet"));
    }
    let first = &outcomes[0];
    assert_eq!(first.last_arrival, 2);
    assert_eq!(first.arrivals.len(), 3);
    for o in &outcomes {
        assert_eq!(
            o.start_at, first.start_at,
            "every shard computes the same start"
        );
        assert_eq!(o.arrivals, first.arrivals);
        assert!(o.late_by.is_none(), "{o:?}");
        let off = o.clock_offset.expect("the endpoint sends Date");
        // Same host: the true offset is 0 and lies within the bounds.
        assert!(off.offset_ms.abs() <= off.uncertainty_ms + 1.0, "{off:?}");
        assert!(off.uncertainty_ms <= 1000.0 && off.samples >= 2, "{off:?}");
    }
    assert_eq!(
        first.start_at,
        first.arrivals[2] + Duration::from_millis(500)
    );
    let spread = first.arrivals[2].duration_since(first.arrivals[0]).unwrap();
    assert!(spread >= Duration::from_millis(550), "{spread:?}");
    assert!(first.start_at.duration_since(begun).unwrap() < Duration::from_secs(5));
    // Shard 0 waited for shard 2.
    assert!(
        outcomes[0].waited >= Duration::from_millis(500),
        "{:?}",
        outcomes[0].waited
    );
    assert_eq!(server.counters().requests(BARRIER_BUCKET, "PutObject"), 3);
    assert_eq!(server.object_count(BARRIER_BUCKET), Some(3));
    // Each shard removes its own object at the end; nothing else is touched.
    for s in 0..3 {
        barrier::remove(&c, BARRIER_BUCKET, "meet-1", s)
            .await
            .unwrap();
    }
    assert_eq!(server.object_count(BARRIER_BUCKET), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_barrier_missing_shard_times_out_naming_it() {
    let server = start_server();
    server.create_bucket(BARRIER_BUCKET).unwrap();
    let c = client(&server);
    let began = Instant::now();
    // Shards 0 and 2 of 3 start; shard 1 never does.
    let tasks: Vec<_> = [0u32, 2]
        .into_iter()
        .map(|shard| {
            let c = c.clone();
            tokio::spawn(async move {
                barrier::wait(
                    &c,
                    BARRIER_BUCKET,
                    "lonely",
                    shard,
                    3,
                    Duration::from_secs(2),
                    std::future::pending::<()>(),
                )
                .await
            })
        })
        .collect();
    for t in tasks {
        let e = t.await.unwrap().expect_err("the barrier cannot complete");
        let s = e.to_string();
        assert!(
            matches!(e, barrier::BarrierError::Timeout { ref missing, .. } if missing == &[1]),
            "{s}"
        );
        assert!(
            s.contains("2 of 3 shards arrived") && s.contains("missing: shard 1 ("),
            "{s}"
        );
        assert!(
            s.contains("s3://bench--use1-az4--x-s3/s3bench/lonely/barrier/"),
            "{s}"
        );
    }
    let took = began.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "{took:?}"
    );

    // Cancellation ends a wait at once, naming who it was waiting for.
    let t = Instant::now();
    let e = barrier::wait(
        &c,
        BARRIER_BUCKET,
        "lonely",
        0,
        3,
        Duration::from_secs(60),
        tokio::time::sleep(Duration::from_millis(300)),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, barrier::BarrierError::Cancelled { .. }), "{e}");
    assert!(e.to_string().contains("shard 1"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(3));
    let e = barrier::wait(
        &c,
        BARRIER_BUCKET,
        "lonely",
        3,
        3,
        Duration::from_secs(1),
        std::future::pending::<()>(),
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("shard index 3 is not below the shard count 3"),
        "{e}"
    );
}

/// Three shards run against one endpoint, each publishes its directory to
/// S3; `s3bench merge s3://...` (the binary, aws-config's default chain,
/// --endpoint-url) reads them back: the merged counts are the sum of the
/// shards' and the endpoint's own counters. Then one shard's result is
/// removed and the merge says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_results_upload_and_merge_from_s3() {
    let toml = r#"
name = "sharded"
rounds = 1
[targets.standard]
kind = "general-purpose"
bucket = "acc-gp"
region = "us-east-1"
[targets.standard.embedded]
latency = "1ms"
[dataset]
objects = 16
size = "4KiB"
[[phase]]
name = "get"
ops = 150
concurrency = 4
mix = [{ op = "get", weight = 1 }]
"#;
    let plan = parse(toml, Path::new("sharded.toml")).unwrap();
    let server = start_embedded(&plan).unwrap();
    server.create_bucket("bench-results").unwrap();
    let c = client(&server);
    let dest = S3Url::parse("s3://bench-results/runs/").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut shard_counts = Vec::new();
    for index in 0..3 {
        let o = RunOptions {
            out: dir.path().to_path_buf(),
            threads: Some(1),
            run_id: Some("merge-me".into()),
            shard: Some(Shard { index, count: 3 }),
            ..RunOptions::default()
        };
        let targets = embedded_targets(&plan, &server);
        let out = run_against(plan.clone(), targets, o, Arc::new(Cancel::default()))
            .await
            .unwrap();
        shard_counts.push(get_count(&out.result));
        let keys = results::upload_dir(&c, &dest, &out.dir).await.unwrap();
        assert_eq!(
            keys.last().unwrap(),
            &format!("runs/merge-me/shard-{index}/result.json"),
            "{keys:?}"
        );
        assert!(
            keys.contains(&format!("runs/merge-me/shard-{index}/report.md")),
            "{keys:?}"
        );
    }
    assert_eq!(shard_counts, [150, 150, 150]);

    let merge = |out: &Path, extra: &[&str]| {
        let o = bin()
            .args([
                "merge",
                "s3://bench-results/runs/merge-me/",
                "--shards",
                "3",
                "--out",
            ])
            .arg(out)
            .args(["--endpoint-url", &server.endpoint()])
            .args(extra)
            .env("AWS_ACCESS_KEY_ID", server.access_key())
            .env("AWS_SECRET_ACCESS_KEY", server.secret_key())
            .env("AWS_REGION", server.region())
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let out = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = merge(out.path(), &["--results", "s3://bench-results/runs/"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        !stderr.contains(server.secret_key()),
        "credentials never appear"
    );
    let merged_dir = out.path().join("merge-me-merged");
    assert_eq!(
        stdout.trim(),
        merged_dir.join("report.md").display().to_string()
    );
    let merged = s3bench::report::json::read_result(&merged_dir.join("result.json")).unwrap();
    let get = &get_op(&merged);
    assert_eq!(get.count, shard_counts.iter().sum::<u64>());
    // The endpoint also served each shard's preflight probe GET, which the
    // merged result adds up.
    assert_eq!(
        crate::common::preflight(&merged, "standard", "GetObject"),
        3
    );
    assert_eq!(
        get.count + crate::common::preflight(&merged, "standard", "GetObject"),
        server.counters().requests("acc-gp", "GetObject")
    );
    assert_eq!(merged.shards, 3);
    assert!(merged.complete);
    let md = std::fs::read_to_string(merged_dir.join("report.md")).unwrap();
    assert!(md.contains("## Shards") && !md.contains("MISSING"), "{md}");
    for i in 0..3 {
        assert!(md.contains(&format!("| {i} | ")), "{md}");
    }
    // The merged report went to S3 too.
    let keys: Vec<String> = c
        .list_objects_v2()
        .bucket("bench-results")
        .prefix("runs/merge-me/merged/")
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(String::from))
        .collect();
    assert!(
        keys.contains(&"runs/merge-me/merged/result.json".to_string()),
        "{keys:?}"
    );

    // The same merge from the local files gives the same numbers.
    let local = tempfile::tempdir().unwrap();
    let o = bin()
        .arg("merge")
        .args((0..3).map(|i| dir.path().join(format!("merge-me-shard{i}/result.json"))))
        .arg("--out")
        .arg(local.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = s3bench::report::json::read_result(&local.path().join("merge-me-merged/result.json"))
        .unwrap();
    assert_eq!(get_op(&m).count, get.count);
    assert_eq!(get_op(&m).histograms.latency, get.histograms.latency);

    // Shard 1's result disappears: the merge still writes a report, marks
    // it incomplete, names the shard and exits 1.
    c.delete_object()
        .bucket("bench-results")
        .key("runs/merge-me/shard-1/result.json")
        .send()
        .await
        .unwrap();
    let out2 = tempfile::tempdir().unwrap();
    let (code, _, stderr) = merge(out2.path(), &["--wait", "1s"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("MISSING SHARDS: 1 of 3 shards published no result (1)"),
        "{stderr}"
    );
    let (code, _, _) = merge(out2.path(), &["--allow-missing"]);
    assert_eq!(code, Some(0));
    let md = std::fs::read_to_string(out2.path().join("merge-me-merged/report.md")).unwrap();
    assert!(md.contains("| 1 | - | **MISSING**"), "{md}");
    let partial =
        s3bench::report::json::read_result(&out2.path().join("merge-me-merged/result.json"))
            .unwrap();
    assert_eq!(get_count(&partial), 300);
    assert!(!partial.complete);

    let (code, _, stderr) = merge(out2.path(), &["--results", "bucket-without-scheme"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("--results: \"bucket-without-scheme\" is not an S3 URL"),
        "{stderr}"
    );
}

fn get_op(r: &s3bench::report::model::RunResult) -> &s3bench::report::model::OpResult {
    let phase = r
        .phases
        .iter()
        .find(|p| p.name == "get")
        .expect("phase get");
    &phase.targets[0].ops["get"]
}

fn get_count(r: &s3bench::report::model::RunResult) -> u64 {
    get_op(r).count
}

/// What can be checked of the Dockerfile without docker.
#[test]
fn cluster_dockerfile_builds_what_ci_builds() {
    let docker = std::fs::read_to_string("Dockerfile").unwrap();
    let cargo: toml::Table = std::fs::read_to_string("Cargo.toml")
        .unwrap()
        .parse()
        .unwrap();
    let rust = cargo["package"]["rust-version"].as_str().unwrap();
    let bin = cargo["bin"].as_array().unwrap()[0]["name"]
        .as_str()
        .unwrap();
    assert!(
        docker.contains(&format!("FROM rust:{rust}-bookworm AS builder")),
        "builder is Rust {rust}"
    );
    let build = docker
        .lines()
        .find(|l| l.contains("cargo build"))
        .expect("a cargo build line");
    assert!(
        build.contains("--release") && build.contains("--locked"),
        "{build}"
    );
    assert!(
        docker.contains(&format!("COPY --from=builder /src/target/release/{bin} ")),
        "copies cargo's release binary"
    );
    assert!(docker.contains("WORKDIR /src"));
    assert!(docker.contains(&format!("ENTRYPOINT [\"{bin}\"]")));
    assert!(docker.contains("FROM debian:bookworm-slim") && docker.contains("ca-certificates"));
    let user = docker
        .lines()
        .rev()
        .find(|l| l.starts_with("USER "))
        .expect("a USER line");
    assert!(!user.contains("root") && !user.contains(" 0"), "{user}");
    let ignore = std::fs::read_to_string(".dockerignore").unwrap();
    for p in ["target/", "results/", ".git"] {
        assert!(ignore.lines().any(|l| l.trim() == p), "{p}");
    }
    // No CARGO_TARGET_DIR or profile override moves the binary elsewhere.
    assert!(!docker.contains("CARGO_TARGET_DIR") && !docker.contains("--target "));
}

/// `s3bench serve` as its own process on 127.0.0.1:0: the endpoint a
/// cluster's shards share. Stopped by PID (SIGINT) in [`Serve::stop`],
/// which returns the request counters it prints on the way out.
pub(crate) struct Serve {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    pub(crate) endpoint: String,
}

const SERVE_KEY: &str = "cluster-access";
const SERVE_SECRET: &str = "cluster-secret-not-shown";

impl Serve {
    fn start(buckets: &[&str]) -> Serve {
        let mut args = vec!["--latency", "1ms"];
        for b in buckets {
            args.extend(["--bucket", b]);
        }
        Serve::start_with(&args)
    }

    /// `s3bench serve` with these arguments after its address and keys
    /// (`--scenario FILE` for a scenario's buckets and injection).
    pub(crate) fn start_with(args: &[&str]) -> Serve {
        use std::io::BufRead as _;
        let mut cmd = bin();
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--access-key",
            SERVE_KEY,
        ])
        .args(["--secret-key", SERVE_SECRET])
        .args(args);
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("s3bench serve starts");
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut endpoint = None;
        let mut line = String::new();
        loop {
            line.clear();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "serve exited");
            if let Some(ep) = line.trim().strip_prefix("endpoint: ") {
                endpoint = Some(ep.to_string());
            }
            if line.starts_with("serving until Ctrl-C") {
                break;
            }
        }
        Serve {
            child,
            stdout,
            endpoint: endpoint.expect("serve prints its endpoint"),
        }
    }

    /// Requests per (bucket, operation), as serve prints them at exit.
    pub(crate) fn stop(mut self) -> std::collections::HashMap<(String, String), u64> {
        use std::io::Read as _;
        // SAFETY: kill() sends SIGINT to the child we started, by its PID.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        assert!(self.child.wait().unwrap().success(), "{rest}");
        rest.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                match f.as_slice() {
                    [b, op, req, _, _, _] => {
                        Some(((b.to_string(), op.to_string()), req.parse().ok()?))
                    }
                    _ => None,
                }
            })
            .collect()
    }

    /// The s3bench binary (hermetic) with credentials for this endpoint only.
    pub(crate) fn command(&self) -> Command {
        let mut cmd = bin();
        cmd.env("AWS_ACCESS_KEY_ID", SERVE_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SERVE_SECRET)
            .env("AWS_REGION", "us-east-1");
        cmd
    }

    pub(crate) fn client(&self) -> aws_sdk_s3::Client {
        use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::new()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(&self.endpoint)
                .credentials_provider(Credentials::new(SERVE_KEY, SERVE_SECRET, None, None, "t"))
                .force_path_style(true)
                .build(),
        )
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A shard scenario on `endpoint`: 16 objects, one measured phase.
fn shard_scenario(endpoint: &str, phase: &str) -> String {
    format!(
        r#"name = "cluster"
rounds = 1
[targets.standard]
kind = "general-purpose"
bucket = "cl-bench"
region = "us-east-1"
endpoint = "{endpoint}"
path_style = true
[dataset]
objects = 16
size = "4KiB"
[[phase]]
name = "get"
{phase}
concurrency = 4
mix = [{{ op = "get", weight = 1 }}]
"#
    )
}

/// Every key in a bucket.
pub(crate) async fn keys(c: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    c.list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(String::from))
        .collect()
}

/// Waits for a child, killing it after `limit`.
pub(crate) fn wait_exit(
    child: &mut std::process::Child,
    limit: Duration,
) -> std::process::ExitStatus {
    let began = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if began.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("s3bench did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn stderr_of(child: &mut std::process::Child) -> String {
    use std::io::Read as _;
    let mut s = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut s).unwrap();
    }
    s
}

/// The shard index the way each engine passes it: shard 0 from Kubernetes
/// (JOB_COMPLETION_INDEX), shard 1 from AWS Batch (AWS_BATCH_JOB_ARRAY_INDEX,
/// scenario in an environment variable), shard 2 by flag.
fn shard_command(
    serve: &Serve,
    home: &Path,
    scenario: &Path,
    text: &str,
    index: u32,
    run_id: &str,
    extra: &[&str],
) -> Command {
    let mut cmd = serve.command();
    cmd.arg("run");
    match index {
        0 => {
            cmd.arg(scenario).env("JOB_COMPLETION_INDEX", "0");
        }
        1 => {
            cmd.arg("env:S3BENCH_SCENARIO_TOML")
                .env("S3BENCH_SCENARIO_TOML", text)
                .env("AWS_BATCH_JOB_ARRAY_INDEX", "1");
        }
        i => {
            cmd.arg(scenario).args(["--shard-index", &i.to_string()]);
        }
    }
    cmd.args([
        "--shard-count",
        "3",
        "--run-id",
        run_id,
        "--barrier",
        "-q",
        "--threads",
        "1",
    ])
    .args(["--results", "s3://cl-results/runs/"])
    .args(["--results-endpoint-url", &serve.endpoint])
    .arg("--out")
    .arg(home.join(format!("out-{index}")))
    .args(extra)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped());
    cmd
}

fn merge_from_s3(
    serve: &Serve,
    home: &Path,
    run_id: &str,
) -> (Option<i32>, String, std::path::PathBuf) {
    let out = home.join("merged");
    let o = serve
        .command()
        .args([
            "merge",
            &format!("s3://cl-results/runs/{run_id}/"),
            "--shards",
            "3",
        ])
        .args(["--endpoint-url", &serve.endpoint, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let dir = out.join(format!("{run_id}-merged"));
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        dir,
    )
}

/// A shard's result.json as uploaded.
async fn uploaded(
    c: &aws_sdk_s3::Client,
    run_id: &str,
    i: u32,
) -> s3bench::report::model::RunResult {
    let o = c
        .get_object()
        .bucket("cl-results")
        .key(format!("runs/{run_id}/shard-{i}/result.json"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("shard {i} uploaded its result.json: {e:?}"));
    let bytes = o.body.collect().await.unwrap().into_bytes();
    s3bench::report::json::parse_result(std::str::from_utf8(&bytes).unwrap()).unwrap()
}

fn measured_start(r: &s3bench::report::model::RunResult) -> SystemTime {
    let h = &r.hosts[0];
    humantime::parse_rfc3339_weak(h.measured_start_at.as_deref().expect("measured phases ran"))
        .unwrap()
}

/// Three shard processes against one `s3bench serve`, each told its index
/// another way, shard 2 started 4 s after the others: the barrier makes all
/// three begin their measured phases at the same instant (within the
/// scheduling noise of a loaded host, far below the 4 s stagger and below
/// the barrier's 200 ms first poll interval), each uploads its result, and
/// `merge s3://...` adds them up to the endpoint's own counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_run_three_shards_meet_upload_and_merge() {
    let serve = Serve::start(&["cl-bench", "cl-results"]);
    let home = tempfile::tempdir().unwrap();
    let text = shard_scenario(&serve.endpoint, "ops = 200");
    let scenario = home.path().join("cluster.toml");
    std::fs::write(&scenario, &text).unwrap();
    let run_id = "meet-3";
    let mut children = Vec::new();
    for i in 0..3u32 {
        if i == 2 {
            // More than the up to 3 s the preflight's clock probes take.
            std::thread::sleep(Duration::from_secs(4));
        }
        let mut cmd = shard_command(&serve, home.path(), &scenario, &text, i, run_id, &[]);
        children.push(cmd.spawn().unwrap());
    }
    for (i, child) in children.iter_mut().enumerate() {
        let status = wait_exit(child, Duration::from_secs(60));
        let err = stderr_of(child);
        assert_eq!(status.code(), Some(0), "shard {i}: {err}");
        assert!(!err.contains(SERVE_SECRET), "credentials never appear");
    }
    let c = serve.client();
    let mut shards = Vec::new();
    for i in 0..3 {
        let r = uploaded(&c, run_id, i).await;
        assert!(r.complete, "shard {i}");
        assert_eq!(r.hosts[0].shard, Some(i));
        // The same as the local copy.
        let local = s3bench::report::json::read_result(
            &home
                .path()
                .join(format!("out-{i}/{run_id}-shard{i}/result.json")),
        )
        .unwrap();
        assert_eq!(local, r);
        shards.push(r);
    }
    let starts: Vec<SystemTime> = shards.iter().map(measured_start).collect();
    let first = *starts.iter().min().unwrap();
    let spread = starts
        .iter()
        .map(|s| s.duration_since(first).unwrap())
        .max()
        .unwrap();
    eprintln!(
        "measured phases began within {spread:?}; clock offsets {:?}",
        shards
            .iter()
            .map(|r| r.hosts[0].clock_offset)
            .collect::<Vec<_>>()
    );
    assert!(spread < Duration::from_millis(200), "{starts:?}");
    for (i, r) in shards.iter().enumerate() {
        let h = &r.hosts[0];
        let b = h.barrier.expect("met at the barrier");
        assert_eq!(b.last_arrival, 2, "shard {i}: shard 2 came last");
        assert_eq!(b.late_s, 0.0, "shard {i}");
        if i < 2 {
            assert!(b.waited_s >= 0.5, "shard {i} waited for shard 2: {b:?}");
        }
        // One host, one clock: the true offset (0) lies in the bounds.
        let off = h.clock_offset.expect("the endpoint sends Date");
        assert!(off.offset_ms.abs() <= off.uncertainty_ms + 1.0, "{off:?}");
        assert!(off.uncertainty_ms < 250.0, "{off:?}");
        assert!(
            r.warnings.iter().all(|w| !w.contains("common start")),
            "{:?}",
            r.warnings
        );
    }

    let (code, stderr, dir) = merge_from_s3(&serve, home.path(), run_id);
    assert_eq!(code, Some(0), "{stderr}");
    let merged = s3bench::report::json::read_result(&dir.join("result.json")).unwrap();
    assert!(merged.complete);
    assert_eq!(merged.shards, 3);
    assert_eq!(
        get_count(&merged),
        shards.iter().map(get_count).sum::<u64>()
    );
    assert_eq!(get_count(&merged), 600);
    // Per-shard offsets survive the merge and show in its report.
    assert_eq!(merged.hosts.len(), 3);
    assert!(merged.hosts.iter().all(|h| h.clock_offset.is_some()));
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("| measured from |") && md.contains("endpoint clock "),
        "{md}"
    );
    assert!(!md.contains("did not start together"), "{md}");
    // Nothing is left in the benchmark bucket: data sets and barrier
    // objects are gone.
    assert_eq!(keys(&c, "cl-bench", "").await, Vec::<String>::new());

    let counters = serve.stop();
    let n = |b: &str, op: &str| counters.get(&(b.into(), op.into())).copied().unwrap_or(0);
    // Each shard also read the 3 barrier records from the bucket, and its
    // preflight's probe object once.
    assert_eq!(n("cl-bench", "GetObject"), get_count(&merged) + 3 * 3 + 3);
    // 16 objects per shard, plus one barrier object each and the two
    // create-only probe PUTs of each shard's preflight.
    assert_eq!(n("cl-bench", "PutObject"), 3 * 16 + 3 + 3 * 2);
}

/// One shard of three is sent SIGTERM mid-phase: it publishes and uploads
/// its partial result, exits 143, and the merged report marks it PARTIAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_run_sigterm_shard_uploads_partial_result() {
    let serve = Serve::start(&["cl-bench", "cl-results"]);
    let home = tempfile::tempdir().unwrap();
    let text = shard_scenario(&serve.endpoint, "duration = \"8s\"");
    let scenario = home.path().join("cluster.toml");
    std::fs::write(&scenario, &text).unwrap();
    let run_id = "term-1";
    let mut children: Vec<_> = (0..3u32)
        .map(|i| {
            shard_command(&serve, home.path(), &scenario, &text, i, run_id, &[])
                .spawn()
                .unwrap()
        })
        .collect();
    // The barrier completes when all three objects are there; the phase
    // starts 3 s later. Terminate shard 1 2 s into it.
    let c = serve.client();
    let began = Instant::now();
    while keys(&c, "cl-bench", &format!("s3bench/{run_id}/barrier/"))
        .await
        .len()
        < 3
    {
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "the shards never met"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    // SAFETY: kill() sends SIGTERM to a child we started, by its PID.
    unsafe {
        libc::kill(children[1].id() as i32, libc::SIGTERM);
    }
    for (i, child) in children.iter_mut().enumerate() {
        let status = wait_exit(child, Duration::from_secs(60));
        let err = stderr_of(child);
        let want = if i == 1 { 143 } else { 0 };
        assert_eq!(status.code(), Some(want), "shard {i}: {err}");
    }
    let partial = uploaded(&c, run_id, 1).await;
    assert!(!partial.complete);
    assert!(
        partial
            .interrupted
            .as_deref()
            .is_some_and(|w| w.contains("SIGTERM")),
        "{:?}",
        partial.interrupted
    );
    let partial_gets = get_count(&partial);
    assert!(partial_gets > 0, "it measured before the signal");

    let (code, stderr, dir) = merge_from_s3(&serve, home.path(), run_id);
    assert_eq!(code, Some(0), "{stderr}");
    let merged = s3bench::report::json::read_result(&dir.join("result.json")).unwrap();
    assert!(!merged.complete);
    assert!(
        merged
            .interrupted
            .as_deref()
            .is_some_and(|w| w.contains("shard 1: terminated (SIGTERM)")),
        "{:?}",
        merged.interrupted
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let row = md
        .lines()
        .find(|l| l.starts_with("| 1 | "))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(row.contains("PARTIAL: terminated (SIGTERM)"), "{row}");
    let mut total = 0;
    for i in 0..3 {
        total += get_count(&uploaded(&c, run_id, i).await);
    }
    assert_eq!(get_count(&merged), total);
    assert_eq!(keys(&c, "cl-bench", "").await, Vec::<String>::new());
    let counters = serve.stop();
    assert_eq!(
        counters[&("cl-bench".to_string(), "GetObject".to_string())],
        total + 3 * 3 + 3
    );
}

/// Two of three shards start; shard 1 never does. Both end after the
/// barrier timeout with exit code 5 and a message naming shard 1, upload a
/// result that says why nothing was measured, and leave the bucket as they
/// found it: their data sets and barrier objects are gone, another run's
/// objects are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_run_barrier_timeout_names_the_missing_shard() {
    let serve = Serve::start(&["cl-bench", "cl-results"]);
    let c = serve.client();
    for key in ["s3bench/other-run/barrier/1", "unrelated.txt"] {
        c.put_object()
            .bucket("cl-bench")
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let home = tempfile::tempdir().unwrap();
    let text = shard_scenario(&serve.endpoint, "ops = 50");
    let scenario = home.path().join("cluster.toml");
    std::fs::write(&scenario, &text).unwrap();
    let run_id = "alone-1";
    let began = Instant::now();
    let mut children: Vec<_> = [0u32, 2]
        .into_iter()
        .map(|i| {
            shard_command(
                &serve,
                home.path(),
                &scenario,
                &text,
                i,
                run_id,
                // More than the up to 3 s by which the clock probes can
                // delay one shard's arrival against the other's.
                &["--barrier-timeout", "8s"],
            )
            .spawn()
            .unwrap()
        })
        .collect();
    for child in &mut children {
        let status = wait_exit(child, Duration::from_secs(60));
        let err = stderr_of(child);
        assert_eq!(status.code(), Some(5), "{err}");
        assert!(
            err.contains("2 of 3 shards arrived within 8s; missing: shard 1 ("),
            "{err}"
        );
    }
    assert!(began.elapsed() < Duration::from_secs(40));
    for i in [0, 2] {
        let r = uploaded(&c, run_id, i).await;
        assert!(!r.complete);
        assert!(
            r.interrupted
                .as_deref()
                .is_some_and(|w| w.contains("missing: shard 1")),
            "{:?}",
            r.interrupted
        );
        assert!(r.hosts[0].measured_start_at.is_none());
        assert!(r.phases.iter().all(|p| p.name != "get"), "nothing measured");
    }
    let mut left = keys(&c, "cl-bench", "").await;
    left.sort();
    assert_eq!(left, ["s3bench/other-run/barrier/1", "unrelated.txt"]);

    // A shard killed with SIGKILL leaves its barrier object (and data):
    // `s3bench cleanup --run-id` removes the run's prefix, nothing else.
    for key in ["s3bench/alone-1/barrier/0", "s3bench/alone-1/shard-0/obj-1"] {
        c.put_object()
            .bucket("cl-bench")
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let o = serve
        .command()
        .arg("cleanup")
        .arg(&scenario)
        .args(["--run-id", run_id])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut left = keys(&c, "cl-bench", "").await;
    left.sort();
    assert_eq!(left, ["s3bench/other-run/barrier/1", "unrelated.txt"]);
    drop(serve.stop());
}

/// `--results` pointing at a bucket that does not exist: the run still
/// measures and publishes locally, says the upload failed and where the
/// local copy is, and exits 6.
#[test]
fn cluster_run_failed_upload_keeps_the_local_copy_and_exits_6() {
    let serve = Serve::start(&["cl-bench"]);
    let home = tempfile::tempdir().unwrap();
    let scenario = home.path().join("cluster.toml");
    std::fs::write(&scenario, shard_scenario(&serve.endpoint, "ops = 40")).unwrap();
    let o = serve
        .command()
        .arg("run")
        .arg(&scenario)
        .args([
            "-q",
            "--run-id",
            "lost-1",
            "--results",
            "s3://no-such-bucket/runs/",
        ])
        .args(["--results-endpoint-url", &serve.endpoint, "--out"])
        .arg(home.path().join("out"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(6), "{err}");
    let local = home.path().join("out/lost-1");
    assert!(
        err.contains("results not uploaded to s3://no-such-bucket/runs/: ")
            && err.contains(&format!(
                "the local copy is complete in {}",
                local.display()
            )),
        "{err}"
    );
    assert!(err.contains("NoSuchBucket"), "{err}");
    let r = s3bench::report::json::read_result(&local.join("result.json")).unwrap();
    assert!(r.complete);
    assert_eq!(get_count(&r), 40);
    drop(serve.stop());
}

/// The preflight's clock probes find an endpoint clock 2.345 s ahead to
/// within their stated bounds, which four bisection probes narrow to well
/// under the 500 ms that one `Date` header gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_clock_probes_bisect_the_endpoint_offset() {
    let server = start_server();
    server.create_bucket("clock-b").unwrap();
    server.set_clock_offset_ms(2345);
    let c = client(&server);
    let began = Instant::now();
    let off = s3bench::cluster::clock::measure(&c, "clock-b", "s3bench/x/", 4)
        .await
        .expect("the endpoint sends Date");
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    assert!(
        (off.offset_ms - 2345.0).abs() <= off.uncertainty_ms + 1.0,
        "{off:?}"
    );
    assert!(off.uncertainty_ms < 150.0, "{off:?}");
    assert_eq!(off.samples, 4);
    eprintln!("clock offset against a +2345 ms endpoint: {off:?}");
}

/// A scenario in an environment variable (AWS Batch): problems name the
/// variable where they would name a file.
#[test]
fn cluster_scenario_from_env_names_the_variable() {
    let bad = "name = \"x\"\n[targets.a]\nkind = \"general-purpose\"\nbucket = \"b\"\nregion = \"us-east-1\"\n[[phase]]\nname = \"p\"\nops = -1\nconcurrency = 1\nmix = [{ op = \"get\", weight = 1 }]\n";
    let o = bin()
        .args(["validate", "env:S3BENCH_SCENARIO_TOML"])
        .env("S3BENCH_SCENARIO_TOML", bad)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("env:S3BENCH_SCENARIO_TOML:8:"), "{err}");
    assert!(err.contains("phase[0].ops"), "{err}");
    let o = bin()
        .args(["run", "env:S3BENCH_SCENARIO_TOML", "--embedded", "-q"])
        .env_remove("S3BENCH_SCENARIO_TOML")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "env:S3BENCH_SCENARIO_TOML: environment variable S3BENCH_SCENARIO_TOML is not set"
        ),
        "{err}"
    );
    // Two engines' indexes that disagree stop the run before it starts.
    let o = bin()
        .args([
            "run",
            "scenarios/mixed.toml",
            "--embedded",
            "-q",
            "--shard-count",
            "3",
        ])
        .env("JOB_COMPLETION_INDEX", "1")
        .env("AWS_BATCH_JOB_ARRAY_INDEX", "2")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("disagree"));
}

/// The container arguments `s3bench k8s` and `s3bench batch` write are
/// s3bench command lines: each parses with the real `Cli` into the command
/// and values the generator meant, for several option combinations, and
/// the environment variables the containers set are ones `run` reads.
#[test]
fn cluster_manifest_arguments_parse_with_the_real_cli() {
    use clap::{CommandFactory as _, Parser as _};
    use s3bench::cli::{Cli, Command as Cmd};
    use s3bench::cluster::{batch, k8s};

    let path = Path::new("scenarios/ml-shards.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let plan = parse(&text, path).unwrap();
    let parse_args = |args: &[serde_json::Value]| -> Cmd {
        let argv: Vec<&str> = std::iter::once("s3bench")
            .chain(
                args.iter()
                    .map(|a| a.as_str().expect("arguments are strings")),
            )
            .collect();
        Cli::try_parse_from(&argv)
            .unwrap_or_else(|e| panic!("{argv:?} does not parse: {e}"))
            .command
    };
    let run_env: Vec<String> = Cli::command()
        .find_subcommand("run")
        .unwrap()
        .get_arguments()
        .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
        .collect();
    let env_names = |env: &serde_json::Value| -> Vec<String> {
        env.as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    };

    for (results, timeout, run_id, karpenter, namespace) in [
        (
            "s3://bench-results/runs/",
            Duration::from_secs(600),
            "nightly-42",
            false,
            None,
        ),
        (
            "s3://b12/",
            Duration::from_secs(90),
            "Run_A.1",
            true,
            Some("bench"),
        ),
        (
            "s3://b12/deep/er/prefix",
            Duration::from_secs(3900),
            &*"x".repeat(63),
            true,
            None,
        ),
    ] {
        let url = S3Url::parse(results).unwrap();
        let o = k8s::K8sOptions {
            shards: 3,
            image: "registry.example/s3bench:1".into(),
            namespace: namespace.map(str::to_string),
            service_account: Some("s3bench".into()),
            results: url.clone(),
            karpenter,
            run_id: run_id.to_string(),
            zone_id: None,
            barrier_timeout: timeout,
            metrics_port: (!karpenter).then_some(9464),
        };
        let docs = k8s::manifests(&plan, "ml-shards.toml", &text, &o).unwrap();
        let jobs: Vec<&serde_json::Value> = docs
            .iter()
            .map(|d| &d.object)
            .filter(|o| o["kind"] == "Job")
            .collect();
        assert_eq!(jobs.len(), 2, "{run_id}");
        let shard = &jobs[0]["spec"]["template"]["spec"]["containers"][0];
        match parse_args(shard["args"].as_array().unwrap()) {
            Cmd::Run(a) => {
                assert_eq!(a.scenario, Path::new("/scenario/ml-shards.toml"));
                assert_eq!(a.results.as_deref(), Some(url.to_string().as_str()));
                assert!(a.barrier && a.quiet, "{run_id}");
                assert_eq!(a.barrier_timeout, timeout, "{run_id}");
                assert_eq!(a.out, Path::new("/results"));
                // Live metrics on the pod's port, up for the last scrape.
                let want = o.metrics_port.map(|p| ([0, 0, 0, 0], p).into());
                assert_eq!(a.metrics_listen, want, "{run_id}");
                if want.is_some() {
                    assert_eq!(a.metrics_linger, Duration::from_secs(30));
                }
            }
            other => panic!("the shard container runs {other:?}"),
        }
        for name in env_names(&shard["env"]) {
            assert!(
                run_env.contains(&name),
                "{name} is not read by run: {run_env:?}"
            );
        }
        let merge = &jobs[1]["spec"]["template"]["spec"]["containers"][0];
        match parse_args(merge["args"].as_array().unwrap()) {
            Cmd::Merge(m) => {
                assert_eq!(m.inputs, [url.join(run_id).to_string()]);
                assert_eq!(m.shards, Some(3));
                assert!(m.wait.is_some_and(|w| w > timeout), "{:?}", m.wait);
                assert_eq!(m.results.as_deref(), Some(url.to_string().as_str()));
                assert!(m.allow_missing);
            }
            other => panic!("the merge container runs {other:?}"),
        }

        let b = batch::BatchOptions {
            shards: 4,
            image: "123.dkr.ecr.us-east-1.amazonaws.com/s3bench:1".into(),
            job_queue: "bench".into(),
            job_role_arn: None,
            results: url.clone(),
            run_id: run_id.to_string(),
            barrier_timeout: timeout,
        };
        let (def, _) = batch::documents(&plan, &text, &b).unwrap();
        let c = &def["containerProperties"];
        match parse_args(c["command"].as_array().unwrap()) {
            Cmd::Run(a) => {
                assert_eq!(a.scenario, Path::new("env:S3BENCH_SCENARIO_TOML"));
                assert_eq!(a.results.as_deref(), Some(url.to_string().as_str()));
                assert!(a.barrier && a.quiet);
                assert_eq!(a.barrier_timeout, timeout);
            }
            other => panic!("the Batch container runs {other:?}"),
        }
        for name in env_names(&c["environment"]) {
            // The scenario's text is read by the scenario source `env:NAME`.
            assert!(
                name == batch::SCENARIO_ENV || run_env.contains(&name),
                "{name} is not read by run: {run_env:?}"
            );
        }
    }
}
