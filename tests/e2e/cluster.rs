//! Distributed runs: generated Kubernetes manifests validated against the
//! API schemas, the start barrier in S3, and results published to and
//! merged from S3, all against the embedded endpoint over HTTP.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use s3bench::cluster::{S3Url, barrier, results};
use s3bench::engine::Cancel;
use s3bench::run::{RunOptions, Shard, embedded_targets, execute, start_embedded};
use s3bench::scenario::parse;

use crate::common::{client, start_server};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_s3bench"))
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
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("run.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let v = Command::new("kubernetes-validate")
        .arg("--strict")
        .arg(&file)
        .output()
        .expect("kubernetes-validate is installed (.ci/run: pip install kubernetes-validate)");
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
    // Keys in the order people read them.
    assert!(
        yaml.contains("apiVersion: batch/v1\nkind: Job\nmetadata:\n"),
        "{yaml}"
    );
    assert!(yaml.contains("--timeout="), "{yaml}");

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
        let out = execute(plan.clone(), targets, true, o, Arc::new(Cancel::default()))
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
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
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
