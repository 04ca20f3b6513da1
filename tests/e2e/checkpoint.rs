//! Checkpoint phases end to end: ranks writing and reading their shares
//! through the real request path against the embedded endpoint, whose
//! injected latency and per-request bandwidth fix what the slowest rank's
//! duration and throughput must come out (docs/loader.md, "Checkpoints"),
//! and whose counters must match the report's requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use s3bench::engine::Cancel;
use s3bench::plan::{RunOptions, Shard};
use s3bench::report::model::{CheckpointResult, RunResult};
use s3bench::targets::{embedded_targets, start_embedded};

use super::cluster::{Serve, keys, stderr_of, wait_exit};
use super::run::{reported, target};
use crate::common::{run_against, run_on, scenario as plan};

const MIB: f64 = 1024.0 * 1024.0;

/// Two targets with a fixed latency and the same fixed bandwidth per
/// request both ways (4 MiB/s); 4 ranks of a 40 MiB checkpoint, 10 MiB each
/// in 2 parts of 5 MiB. The rates are low on purpose: the paced transfer
/// (1.25 s a part) dwarfs what the client and the embedded endpoint spend
/// of their own per request on this host (measured: 20 to 30 ms per write
/// of 3 requests in a row with 8 parts in flight, a few ms per read).
fn scenario(writes: u32, reads: u32) -> String {
    format!(
        r#"
name = "ckpt"
rounds = 1
[targets.standard]
kind = "general-purpose"
bucket = "ckpt-gp"
region = "us-east-1"
[targets.standard.embedded]
latency = "50ms"
bandwidth = "4MiB"
upload_bandwidth = "4MiB"
[targets.express]
kind = "directory"
bucket = "ckpt--use1-az4--x-s3"
region = "us-east-1"
[targets.express.embedded]
latency = "5ms"
bandwidth = "4MiB"
upload_bandwidth = "4MiB"
[[phase]]
name = "ckpt"
[phase.checkpoint]
size = "40MiB"
ranks = 4
part_size = "5MiB"
writes = {writes}
reads = {reads}
"#
    )
}

/// What a rank's time must be: a write is CreateMultipartUpload (L), its
/// two parts at once (the upload of 5 MiB at the upload rate, then L) and
/// CompleteMultipartUpload (L); a read is its two ranged GETs at once (L,
/// then 5 MiB at the rate; the client has the whole body when the pacer
/// sends its last slice, one slice before the rate's end).
fn analytic(latency_s: f64, rate: f64) -> (f64, f64) {
    let part = 5.0 * MIB;
    let slice = (rate / 50.0).clamp(1024.0, 256.0 * 1024.0);
    (
        3.0 * latency_s + part / rate,
        latency_s + (part - slice) / rate,
    )
}

fn checkpoint(r: &RunResult, name: &str) -> CheckpointResult {
    target(r, "ckpt", name)
        .checkpoint
        .clone()
        .expect("checkpoint result")
}

/// Within 1% below (timer granularity) and 8% above (the client's own
/// time per request on a loaded host) the analytic answer; a miss is noted
/// in `off`, so a failure shows every number at once.
fn near(off: &mut Vec<String>, what: &str, got: f64, want: f64) {
    if !(got >= want * 0.99 && got <= want * 1.08) {
        off.push(format!("{what}: {got:.4} against the analytic {want:.4}"));
    }
}

/// The slowest rank's duration and the lowest rank throughput of every
/// checkpoint, written and read, are what the injected latency and
/// bandwidth imply; every request the ranks sent is one the endpoint
/// counted and one the report shows; nothing is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_slowest_rank_follows_injected_bandwidth() {
    let plan = plan(&scenario(2, 3));
    let server = start_embedded(&plan).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = run_on(&server, plan, dir.path()).await;
    assert!(r.complete);
    let c = server.counters();
    let mut off = Vec::new();
    for (name, bucket, latency, rate) in [
        ("standard", "ckpt-gp", 0.050, 4.0 * MIB),
        ("express", "ckpt--use1-az4--x-s3", 0.005, 4.0 * MIB),
    ] {
        let ck = checkpoint(&r, name);
        let (write, read) = analytic(latency, rate);
        eprintln!(
            "{name}: write {:.4} s (analytic {write:.4}), read {:.4} s (analytic {read:.4})",
            ck.write.duration_mean_s, ck.read.duration_mean_s
        );
        assert_eq!((ck.ranks, ck.size_bytes), (4, 40 << 20), "{name}");
        assert_eq!(
            (ck.write.checkpoints, ck.read.checkpoints),
            (2, 3),
            "{name}"
        );
        assert_eq!((ck.write.incomplete, ck.read.incomplete), (0, 0), "{name}");
        for s in &ck.steps {
            let want = if s.op == "write" { write } else { read };
            near(
                &mut off,
                &format!("{name} {} {} slowest", s.op, s.index),
                s.slowest_s,
                want,
            );
            assert_eq!((s.ranks, s.bytes), (4, 40 << 20), "{name}: {s:?}");
            // Equal shares: the lowest throughput is the slowest rank's.
            let lowest = 10.0 * MIB / s.slowest_s / MIB;
            assert!(
                (s.min_rank_mib_per_sec - lowest).abs() <= 0.01 * lowest,
                "{name}: {s:?}"
            );
        }
        near(
            &mut off,
            &format!("{name} write"),
            ck.write.duration_mean_s,
            write,
        );
        near(
            &mut off,
            &format!("{name} read"),
            ck.read.duration_mean_s,
            read,
        );
        near(
            &mut off,
            &format!("{name} write rank throughput"),
            10.0 / write,
            ck.write.rank_mib_per_sec_mean,
        );
        near(
            &mut off,
            &format!("{name} checkpoint throughput"),
            40.0 / read,
            ck.read.checkpoint_mib_per_sec,
        );

        // Every request is the endpoint's and the report's.
        let t = target(&r, "ckpt", name);
        assert_eq!(t.ops["multipart_put"].count, 2 * 4, "{name}");
        assert_eq!(t.ops["multipart_put"].requests, 2 * 4 * (2 + 2), "{name}");
        assert_eq!(t.ops["ranged_get"].count, 3 * 4 * 2, "{name}");
        assert_eq!(c.requests(bucket, "CreateMultipartUpload"), 2 * 4);
        assert_eq!(c.requests(bucket, "UploadPart"), 2 * 4 * 2);
        assert_eq!(c.requests(bucket, "CompleteMultipartUpload"), 2 * 4);
        assert_eq!(
            c.requests(bucket, "GetObject"),
            reported(&r, name, &["ranged_get"]) + crate::common::preflight(&r, name, "GetObject"),
            "{name}"
        );
    }
    assert!(off.is_empty(), "{off:#?}");
    // The real result, checkpoint steps and all, is what the schema says.
    let schema: serde_json::Value =
        serde_json::from_str(s3bench::report::schema::RESULT_SCHEMA).unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let instance = serde_json::to_value(&r).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert_eq!(errors, Vec::<String>::new());
    // Express writes faster (3 latencies of 5 ms against 50 ms), and the
    // report says so.
    let (gp, ex) = (checkpoint(&r, "standard"), checkpoint(&r, "express"));
    assert!(ex.write.duration_mean_s < gp.write.duration_mean_s);
    let md = s3bench::report::markdown::render(&r);
    assert!(md.contains("### Checkpoints"), "{md}");
    assert!(
        md.contains("**ckpt / 40 MiB checkpoint, 4 ranks**: General Purpose writes it in"),
        "{md}"
    );
    // Cleanup removed the checkpoints.
    let client = crate::common::client(&server);
    for bucket in ["ckpt-gp", "ckpt--use1-az4--x-s3"] {
        let left = client
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        assert_eq!(left.key_count(), Some(0), "{bucket}");
    }
}

/// Two shards of one run each run 2 of the 4 ranks against one endpoint;
/// alone, neither finished a whole checkpoint; merged, every step has its 4
/// ranks, its duration is the slower shard's slowest rank and its
/// throughput the lower shard's lowest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_shards_merge_to_the_slowest_rank_of_all() {
    let plan = plan(&scenario(2, 2));
    let server = start_embedded(&plan).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let shard = |index: u32| {
        let plan = plan.clone();
        let targets = embedded_targets(&plan, &server);
        let opts = RunOptions {
            out: dir.path().to_path_buf(),
            threads: Some(1),
            run_id: Some("ckpt-merge".into()),
            shard: Some(Shard { index, count: 2 }),
            ..RunOptions::default()
        };
        run_against(plan, targets, opts, Arc::new(Cancel::default()))
    };
    let (a, b) = tokio::join!(shard(0), shard(1));
    let (a, b) = (a.unwrap().result, b.unwrap().result);
    for r in [&a, &b] {
        let ck = checkpoint(r, "standard");
        assert_eq!(
            ck.write.checkpoints, 0,
            "2 of 4 ranks is no whole checkpoint"
        );
        assert!(ck.steps.iter().all(|s| s.ranks == 2), "{:?}", ck.steps);
    }
    let merged = s3bench::report::merge::merge(&[a.clone(), b.clone()]).unwrap();
    for name in ["standard", "express"] {
        let (ca, cb, m) = (
            checkpoint(&a, name),
            checkpoint(&b, name),
            checkpoint(&merged, name),
        );
        assert_eq!((m.write.checkpoints, m.read.checkpoints), (2, 2), "{name}");
        assert_eq!(m.steps.len(), 4);
        for ((s, x), y) in m.steps.iter().zip(&ca.steps).zip(&cb.steps) {
            assert_eq!((s.ranks, s.bytes), (4, 40 << 20), "{name}: {s:?}");
            assert_eq!(s.slowest_s, x.slowest_s.max(y.slowest_s), "{name}");
            assert_eq!(s.fastest_s, x.fastest_s.min(y.fastest_s), "{name}");
            assert_eq!(
                s.min_rank_mib_per_sec,
                x.min_rank_mib_per_sec.min(y.min_rank_mib_per_sec),
                "{name}"
            );
        }
        let writes: Vec<f64> = m
            .steps
            .iter()
            .filter(|s| s.op == "write")
            .map(|s| s.slowest_s)
            .collect();
        assert_eq!(
            m.write.duration_mean_s,
            writes.iter().sum::<f64>() / 2.0,
            "{name}"
        );
    }
    let md = s3bench::report::markdown::render(&merged);
    assert!(md.contains("### Checkpoints"), "{md}");
}

/// A run sent SIGTERM in the middle of a checkpoint phase stops, aborts the
/// uploads its ranks had in flight, publishes what it measured and cleans
/// up: the bucket lists empty, and every multipart upload the endpoint saw
/// begin was completed or aborted (none is left open, billed and invisible).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_stopped_by_sigterm_leaves_nothing_behind() {
    let home = tempfile::tempdir().unwrap();
    // 8 ranks, 4 parts of 8 MiB each at 4 MiB/s both ways: a checkpoint
    // takes about 2.2 s to write or read, the phase about 45 s; the signal
    // comes while the second write's parts are in flight.
    let text = |endpoint: &str| {
        format!(
            r#"name = "ckpt-stop"
rounds = 1
[targets.standard]
kind = "general-purpose"
bucket = "ckpt-stop"
region = "us-east-1"
endpoint = "{endpoint}"
path_style = true
[targets.standard.embedded]
latency = "50ms"
upload_bandwidth = "4MiB"
bandwidth = "4MiB"
[[phase]]
name = "ckpt"
[phase.checkpoint]
size = "256MiB"
ranks = 8
part_size = "8MiB"
writes = 10
reads = 10
"#
        )
    };
    let served = home.path().join("serve.toml");
    std::fs::write(&served, text("http://127.0.0.1:1")).unwrap();
    let serve = Serve::start_with(&["--scenario", served.to_str().unwrap()]);
    let scenario = home.path().join("ckpt.toml");
    std::fs::write(&scenario, text(&serve.endpoint)).unwrap();
    let mut child = serve
        .command()
        .arg("run")
        .arg(&scenario)
        .args(["-q", "--threads", "2", "--out"])
        .arg(home.path().join("out"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first checkpoint's objects appear when its ranks complete it.
    let c = serve.client();
    let began = Instant::now();
    while keys(&c, "ckpt-stop", "").await.len() < 8 {
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "no checkpoint was written"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    // SAFETY: kill() sends SIGTERM to a child we started, by its PID.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = wait_exit(&mut child, Duration::from_secs(60));
    let err = stderr_of(&mut child);
    assert_eq!(status.code(), Some(143), "{err}");
    assert_eq!(
        keys(&c, "ckpt-stop", "").await,
        Vec::<String>::new(),
        "the bucket lists empty"
    );
    // The partial result says what it measured.
    let out = home.path().join("out");
    let run_dir = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("a run folder");
    let r = s3bench::report::json::read_result(&run_dir.join("result.json")).unwrap();
    assert!(!r.complete);
    let ck = checkpoint(&r, "standard");
    assert!(ck.write.checkpoints >= 1, "{:?}", ck.write);
    assert!(ck.write.checkpoints < 10, "{:?}", ck.write);
    let counters = serve.stop();
    let n = |op: &str| {
        counters
            .get(&("ckpt-stop".to_string(), op.to_string()))
            .copied()
            .unwrap_or(0)
    };
    assert!(n("AbortMultipartUpload") > 0, "{counters:?}");
    assert_eq!(
        n("CreateMultipartUpload"),
        n("CompleteMultipartUpload") + n("AbortMultipartUpload"),
        "every upload begun was completed or aborted: {counters:?}"
    );
}
