//! `run --op-log`: one row per request, checked against the embedded
//! endpoint's own request counts, per bucket and S3 operation; and a run
//! killed with SIGTERM leaves a complete, readable file.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use s3bench::engine::Cancel;
use s3bench::oplog::read::{OpRow, read_all};
use s3bench::plan::RunOptions;
use s3bench::targets::{embedded_targets, start_embedded};

use crate::common::run_against;
use s3bench::server::EmbeddedServer;

const MIXED: &str = r#"
name = "oplog"
rounds = 2
[targets.standard]
kind = "general-purpose"
bucket = "oplog-gp"
region = "us-east-1"
[targets.express]
kind = "directory"
bucket = "oplog--use1-az4--x-s3"
region = "us-east-1"
[dataset]
objects = 20
size = { min = "4KiB", max = "64KiB" }
key = "{hash:2}/d,x/{index:05}.bin"
[prepare]
concurrency = 4
[[phase]]
name = "mixed"
duration = "700ms"
warmup = "200ms"
concurrency = 4
mix = [
  { op = "get", weight = 6 },
  { op = "ranged-get", weight = 3, range_size = "4KiB" },
  { op = "put", weight = 2, size = "8KiB" },
  { op = "multipart-put", weight = 1, size = "11MiB", part_size = "5MiB" },
  { op = "head", weight = 2 },
  { op = "list", weight = 1, page_size = 10 },
  { op = "delete", weight = 1 },
  { op = "copy", weight = 1 },
]
"#;

async fn run_logged(toml: &str, dir: &Path) -> (s3bench::report::model::RunResult, EmbeddedServer) {
    let plan = crate::common::scenario(toml);
    let server = start_embedded(&plan).unwrap();
    let targets = embedded_targets(&plan, &server);
    let opts = RunOptions {
        out: dir.to_path_buf(),
        threads: Some(2),
        op_log: true,
        ..RunOptions::default()
    };
    let out = run_against(plan, targets, opts, Arc::new(Cancel::default()))
        .await
        .expect("run succeeds");
    (out.result, server)
}

fn rows_of(dir: &Path, r: &s3bench::report::model::RunResult) -> Vec<OpRow> {
    assert_eq!(r.op_logs.len(), 1, "{:?}", r.op_logs);
    let run_dir = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("result.json").exists())
        .expect("a run folder");
    read_all(&run_dir.join(&r.op_logs[0].file)).expect("the op log reads back")
}

/// Rows per (target, S3 op) against the endpoint's own counts per (bucket, op).
fn assert_rows_match_endpoint(rows: &[OpRow], server: &EmbeddedServer, buckets: &[(&str, &str)]) {
    let mut logged: BTreeMap<(String, String), u64> = BTreeMap::new();
    for row in rows {
        *logged
            .entry((row.target.clone(), row.op.clone()))
            .or_default() += 1;
    }
    let c = server.counters();
    for (target, bucket) in buckets {
        let counted: BTreeMap<&String, u64> = c.buckets[*bucket]
            .iter()
            .filter(|(_, o)| o.requests > 0)
            .map(|(op, o)| (op, o.requests))
            .collect();
        let ours: BTreeMap<&String, u64> = logged
            .iter()
            .filter(|((t, _), _)| t == target)
            .map(|((_, op), n)| (op, *n))
            .collect();
        assert_eq!(
            ours, counted,
            "target {target}: op log rows vs the endpoint's counts"
        );
    }
}

/// Every request of a run (preflight, prepare, warm-up, phases, cleanup,
/// CreateSession) has its row, on the direct path and through aws-sdk-s3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn op_log_has_a_row_per_request_the_endpoint_counted() {
    for path in ["direct", "sdk"] {
        let toml = format!("{MIXED}\n[client]\nrequest_path = \"{path}\"\n");
        let dir = tempfile::tempdir().unwrap();
        let (r, server) = run_logged(&toml, dir.path()).await;
        assert!(r.complete);
        let rows = rows_of(dir.path(), &r);
        assert_eq!(rows.len() as u64, r.op_logs[0].rows);
        assert_rows_match_endpoint(
            &rows,
            &server,
            &[
                ("standard", "oplog-gp"),
                ("express", "oplog--use1-az4--x-s3"),
            ],
        );
        let stages: std::collections::BTreeSet<&str> =
            rows.iter().map(|r| r.stage.as_str()).collect();
        // (audit: the HEADs reading back the round's copies and uploads.)
        for s in [
            "preflight",
            "prepare",
            "warmup",
            "measured",
            "audit",
            "cleanup",
        ] {
            assert!(stages.contains(s), "{path}: no {s} rows in {stages:?}");
        }
        assert!(
            rows.iter()
                .any(|r| r.op == "CreateSession" && r.target == "express")
        );
        for row in &rows {
            assert!(row.sent_ns <= row.last_byte_ns, "{row:?}");
            if let Some(f) = row.first_byte_ns {
                assert!(row.sent_ns <= f && f <= row.last_byte_ns, "{row:?}");
            }
            if row.stage == "audit" {
                assert_eq!(row.phase, "mixed");
                assert!(
                    row.op == "HeadObject" || row.op == "CreateSession",
                    "{row:?}"
                );
                assert!(row.round == 1 || row.round == 2);
                assert!(row.thread.is_none() && row.due_ns.is_none(), "{row:?}");
            }
            if row.stage == "measured" || row.stage == "warmup" {
                assert_eq!(row.phase, "mixed");
                assert!(row.round == 1 || row.round == 2);
                assert!(row.thread.is_some() && row.due_ns.is_some_and(|d| d <= row.sent_ns));
            }
            assert_eq!(
                row.status.is_some_and(|s| s < 300),
                row.error.is_empty(),
                "{row:?}"
            );
        }
        // The data set's keys keep their comma (CSV quoting) and the run prefix.
        assert!(rows.iter().any(|r| r.op == "GetObject"
            && r.key.starts_with("s3bench/")
            && r.key.contains("/d,x/")));
        // Uploads carry their payload, reads what came back.
        let puts: Vec<&OpRow> = rows
            .iter()
            .filter(|r| r.op == "PutObject" && r.error.is_empty() && r.stage != "preflight")
            .collect();
        assert!(
            !puts.is_empty() && puts.iter().all(|r| r.bytes >= 1024),
            "{path}"
        );
        assert!(
            rows.iter()
                .any(|r| r.op == "UploadPart" && r.bytes == 5 << 20)
        );
        let ranged = rows
            .iter()
            .find(|r| r.op == "GetObject" && r.range.is_some())
            .unwrap();
        let (a, z) = ranged.range.unwrap();
        assert_eq!(ranged.bytes, z - a + 1, "{ranged:?}");
        let md = std::fs::read_to_string(
            std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.join("report.md").exists())
                .unwrap()
                .join("report.md"),
        )
        .unwrap();
        assert!(
            md.contains("## Request log") && md.contains("ops.csv.gz"),
            "{path}"
        );
    }
}

/// With retries on, each attempt is its own row (attempt 2, 3, ...), and
/// failed attempts carry their status, group and error kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn op_log_has_a_row_per_retry_attempt() {
    let toml = r#"
name = "retries"
rounds = 1
[targets.standard]
kind = "general-purpose"
bucket = "retry-gp"
region = "us-east-1"
[targets.standard.embedded]
error_rate = 0.3
[dataset]
objects = 8
size = "4KiB"
[prepare]
concurrency = 2
[client]
max_attempts = 3
[[phase]]
name = "reads"
ops = 150
concurrency = 3
mix = [{ op = "get", weight = 3 }, { op = "put", weight = 1, size = "1KiB" }]
"#;
    let dir = tempfile::tempdir().unwrap();
    let (r, server) = run_logged(toml, dir.path()).await;
    let rows = rows_of(dir.path(), &r);
    assert_rows_match_endpoint(&rows, &server, &[("standard", "retry-gp")]);
    let retried: Vec<&OpRow> = rows.iter().filter(|r| r.attempt >= 2).collect();
    assert!(!retried.is_empty());
    let failed = rows
        .iter()
        .find(|r| r.stage == "measured" && r.status == Some(503))
        .expect("a 503 was logged");
    assert_eq!(
        (failed.group.as_str(), failed.error.as_str()),
        ("throttled", "503 SlowDown")
    );
}

/// A checkpoint phase's requests (each rank's multipart upload, its
/// ranged reads, on both request paths) are logged like any phase's: one
/// row per request the endpoint counted, measured rows under the phase.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn op_log_has_a_row_per_checkpoint_request() {
    for path in ["direct", "sdk"] {
        let toml = format!(
            r#"
name = "ckpt-oplog"
rounds = 1
[targets.standard]
kind = "general-purpose"
bucket = "ckpt-log-gp"
region = "us-east-1"
[targets.express]
kind = "directory"
bucket = "ckpt-log--use1-az4--x-s3"
region = "us-east-1"
[client]
request_path = "{path}"
[[phase]]
name = "ckpt"
[phase.checkpoint]
size = "24MiB"
ranks = 2
part_size = "5MiB"
writes = 2
reads = 1
"#
        );
        let dir = tempfile::tempdir().unwrap();
        let (r, server) = run_logged(&toml, dir.path()).await;
        assert!(r.complete, "{path}");
        let rows = rows_of(dir.path(), &r);
        assert_eq!(rows.len() as u64, r.op_logs[0].rows);
        assert_rows_match_endpoint(
            &rows,
            &server,
            &[
                ("standard", "ckpt-log-gp"),
                ("express", "ckpt-log--use1-az4--x-s3"),
            ],
        );
        for target in ["standard", "express"] {
            let measured = |op: &str| {
                rows.iter()
                    .filter(|r| {
                        r.target == target
                            && r.stage == "measured"
                            && r.op == op
                            && r.phase == "ckpt"
                    })
                    .count()
            };
            // 2 ranks x 2 writes: a create, 3 parts (12 MiB in 5 MiB parts)
            // and a complete each; 2 ranks x 1 read: 3 ranged GETs each.
            assert_eq!(measured("CreateMultipartUpload"), 4, "{path} {target}");
            assert_eq!(measured("UploadPart"), 12, "{path} {target}");
            assert_eq!(measured("CompleteMultipartUpload"), 4, "{path} {target}");
            assert_eq!(measured("GetObject"), 6, "{path} {target}");
        }
        for row in rows.iter().filter(|r| r.stage == "measured") {
            assert!(
                row.thread.is_some() && row.due_ns.is_some_and(|d| d <= row.sent_ns),
                "{row:?}"
            );
        }
    }
}

/// SIGTERM mid-phase: the run stops, cleans up and leaves a complete gzip
/// file whose rows are the requests the endpoint counted.
#[test]
fn sigterm_leaves_a_complete_op_log() {
    let server = EmbeddedServer::start(Default::default()).unwrap();
    server.create_bucket("sigterm-gp").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("scenario.toml");
    std::fs::write(
        &scenario,
        format!(
            r#"
name = "sigterm-oplog"
rounds = 1
[targets.standard]
kind = "general-purpose"
bucket = "sigterm-gp"
region = "{region}"
endpoint = "{endpoint}"
path_style = true
[dataset]
objects = 16
size = "4KiB"
[[phase]]
name = "long"
duration = "60s"
concurrency = 4
mix = [{{ op = "put", weight = 1, size = "1KiB" }}, {{ op = "get", weight = 1 }}]
"#,
            region = server.region(),
            endpoint = server.endpoint()
        ),
    )
    .unwrap();
    let out = dir.path().join("results");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s3bench"));
    cmd.args([
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .args(["-q", "--op-log"])
    .env_remove("AWS_PROFILE")
    .env("AWS_EC2_METADATA_DISABLED", "true")
    .env("AWS_CONFIG_FILE", dir.path().join("no-config"))
    .env(
        "AWS_SHARED_CREDENTIALS_FILE",
        dir.path().join("no-credentials"),
    )
    .env("HOME", dir.path())
    .env("AWS_ACCESS_KEY_ID", server.access_key())
    .env("AWS_SECRET_ACCESS_KEY", server.secret_key())
    .env_remove("AWS_SESSION_TOKEN");
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    while server.counters().requests("sigterm-gp", "GetObject") < 50 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the phase never ran"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill() sends a signal to the child we started, by its PID.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("s3bench did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(143));
    let run_dir = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("result.json").exists())
        .expect("a run folder");
    let r = s3bench::report::json::read_result(&run_dir.join("result.json")).unwrap();
    assert!(!r.complete);
    // read_all fails on a gzip stream cut short: the file is complete.
    let rows = read_all(&run_dir.join("ops.csv.gz")).unwrap();
    assert_eq!(rows.len() as u64, r.op_logs[0].rows);
    assert!(rows.iter().any(|r| r.stage == "cleanup"));
    assert_rows_match_endpoint(&rows, &server, &[("standard", "sigterm-gp")]);
}
