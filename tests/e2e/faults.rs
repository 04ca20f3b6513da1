//! Faults during a run: the endpoint killed mid-phase, 503 storms, stalls
//! past the operation timeout, SIGTERM, cleanup against a flaky endpoint,
//! and `s3bench cleanup`. Each run must end by itself, publish its report,
//! count failures by kind in the seconds they happened, keep them out of the
//! success percentiles, and leave nothing behind that it could delete.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{opts, run_against, scenario as plan};
use s3bench::engine::{Cancel, StopReason};
use s3bench::report::model::{OpResult, RunResult};
use s3bench::scenario::Plan;
use s3bench::server::EmbeddedServer;
use s3bench::targets::{embedded_targets, start_embedded};

fn op<'a>(r: &'a RunResult, phase: &str, target: &str, op: &str) -> &'a OpResult {
    let p = r.phases.iter().find(|p| p.name == phase).expect("phase");
    let t = p
        .targets
        .iter()
        .find(|t| t.target == target)
        .expect("target");
    &t.ops[op]
}

fn one_target(embedded: &str, client: &str, phase: &str) -> String {
    format!(
        r#"
name = "faults"
rounds = 1
[targets.standard]
kind = "general-purpose"
bucket = "faults-gp"
region = "us-east-1"
[targets.standard.embedded]
{embedded}
[dataset]
objects = 16
size = "4KiB"
[prepare]
concurrency = 4
[client]
{client}
{phase}
"#
    )
}

/// 20 ms injected, the endpoint killed 3 s into a phase: the successes
/// keep p50 >= 20 ms, the failures are connection errors in the seconds
/// after the kill, the error policy ends the run by itself, the report warns,
/// and the cleanup that cannot reach the endpoint says what is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_endpoint_is_counted_apart_and_stops_the_run() {
    let plan = plan(&one_target(
        r#"latency = "20ms""#,
        r#"stop_on_failures = { share = 1.0, for = "2s" }"#,
        r#"[[phase]]
name = "get"
duration = "60s"
concurrency = 4
mix = [{ op = "get", weight = 1 }]"#,
    ));
    let server = start_embedded(&plan).unwrap();
    let targets = embedded_targets(&plan, &server);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let run = tokio::spawn({
        let dir = dir.path().to_path_buf();
        async move { run_against(plan, targets, opts(&dir), Arc::new(Cancel::default())).await }
    });
    // Prepare takes well under a second; the phase then runs.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let served = server.counters().requests("faults-gp", "GetObject");
    server.shutdown();
    let out = run.await.unwrap().expect("the run ends with a result");
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
    let r = &out.result;
    assert!(
        matches!(out.stopped, Some(StopReason::FailurePolicy(_))),
        "{:?}",
        out.stopped
    );
    assert_eq!(out.exit_code(), s3bench::exit::ExitCode::FailurePolicy);
    assert!(!r.complete);
    let get = op(r, "get", "standard", "get");
    assert!(get.successes > 50, "{}", get.successes);
    assert!(get.successes <= served, "{} > {served}", get.successes);
    assert!(
        get.latency_us.min >= 20_000.0,
        "success min {}",
        get.latency_us.min
    );
    assert!(
        get.latency_us.p50 >= 20_000.0,
        "success p50 {}",
        get.latency_us.p50
    );
    let transport = get.failures.get("transport").expect("transport failures");
    assert_eq!(transport.count, get.errors);
    assert!(
        get.errors_by_kind.keys().all(|k| k.contains("connection")),
        "{:?}",
        get.errors_by_kind
    );
    // A closed loop of 4 that backs off makes tens of attempts a second, not
    // tens of thousands.
    assert!(get.errors < 4 * 12 * 10, "{} attempts", get.errors);
    // The failures sit in the seconds after the kill, none before.
    let p = r.phases.iter().find(|p| p.name == "get").unwrap();
    assert!(
        p.interrupted
            .as_deref()
            .is_some_and(|w| w.contains("error policy"))
    );
    let ts = &p.targets[0].timeseries;
    let first_err = ts
        .iter()
        .filter(|s| s.errors > 0)
        .map(|s| s.second)
        .min()
        .unwrap();
    let last_ok = ts
        .iter()
        .filter(|s| s.count > s.errors)
        .map(|s| s.second)
        .max()
        .unwrap();
    assert!(
        first_err >= 2 && last_ok <= first_err,
        "errors from {first_err}, successes until {last_ok}"
    );
    let md = std::fs::read_to_string(out.dir.join("report.md")).unwrap();
    assert!(md.contains("## Warnings"), "{md}");
    assert!(md.contains("failed (connection"), "{md}");
    assert!(md.contains("the endpoint stopped answering"), "{md}");
    assert!(
        md.contains("**Interrupted: stopped by the error policy"),
        "{md}"
    );
    // Cleanup could not reach the endpoint: it says so, with the command.
    assert_eq!(r.left_behind.len(), 1, "{:?}", r.left_behind);
    assert!(r.left_behind[0].command.starts_with("s3bench cleanup "));
    assert!(md.contains("## Objects left behind"));
}

/// Half the GETs answered with a fast 503 (no latency), the rest after
/// 20 ms: the success percentiles stay at 20 ms, the 503s have their own
/// histogram, and ops/s counts successes only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_503s_never_make_a_bucket_look_faster() {
    let plan = plan(&one_target(
        r#"latency = "20ms"
error_rate = 0.4
error_latency = "0ms""#,
        "",
        r#"[[phase]]
name = "get"
duration = "3s"
concurrency = 4
mix = [{ op = "get", weight = 1 }]"#,
    ));
    let server = start_embedded(&plan).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let targets = embedded_targets(&plan, &server);
    let out = run_against(plan, targets, opts(dir.path()), Arc::new(Cancel::default()))
        .await
        .unwrap();
    let get = op(&out.result, "get", "standard", "get");
    assert!(get.errors > 100 && get.successes > 100, "{get:?}");
    assert!(
        get.latency_us.min >= 20_000.0,
        "success min {}",
        get.latency_us.min
    );
    assert!(
        get.latency_us.p50 >= 20_000.0,
        "success p50 {}",
        get.latency_us.p50
    );
    // Half the data set's PUTs were refused too, so some GETs find no
    // object: those 404s are failures of their own group.
    let thr = &get.failures["throttled"];
    assert_eq!(
        thr.count, get.errors_by_kind["503 SlowDown"],
        "{:?}",
        get.errors_by_kind
    );
    let missing = get
        .errors_by_kind
        .get("404 NoSuchKey")
        .copied()
        .unwrap_or(0);
    assert_eq!(get.failures.get("http").map_or(0, |f| f.count), missing);
    assert_eq!(thr.count + missing, get.errors, "{:?}", get.errors_by_kind);
    assert!(
        thr.latency_us.p50 < 5_000.0,
        "503 p50 {}",
        thr.latency_us.p50
    );
    assert!(get.ops_per_sec < get.attempted_ops_per_sec * 0.7);
    // The endpoint counted every one of them.
    let c = server.counters();
    assert_eq!(
        c.requests("faults-gp", "GetObject"),
        get.requests + crate::common::preflight(&out.result, "standard", "GetObject")
    );
    assert!(out.result.left_behind.is_empty());
    assert_eq!(server.object_count("faults-gp"), Some(0));
}

/// A stall longer than the operation timeout: the stalled requests are
/// `timeout` failures in the stalled seconds; the run goes on afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_past_the_operation_timeout_is_a_timeout() {
    let plan = plan(&one_target(
        r#"latency = "5ms""#,
        r#"operation_timeout = "300ms""#,
        r#"[[phase]]
name = "get"
duration = "5s"
concurrency = 2
mix = [{ op = "get", weight = 1 }]"#,
    ));
    let server = Arc::new(start_embedded(&plan).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let targets = embedded_targets(&plan, &server);
    let s2 = server.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        s2.stall(Duration::from_millis(1500));
    });
    let out = run_against(plan, targets, opts(dir.path()), Arc::new(Cancel::default()))
        .await
        .unwrap();
    let get = op(&out.result, "get", "standard", "get");
    assert!(get.errors >= 2, "{get:?}");
    assert!(
        get.errors_by_kind.keys().all(|k| k == "timeout"),
        "{:?}",
        get.errors_by_kind
    );
    assert_eq!(get.failures["transport"].count, get.errors);
    let timeout = &get.failures["transport"].latency_us;
    assert!(
        timeout.min >= 299_000.0 && timeout.max < 400_000.0,
        "{timeout:?}"
    );
    assert!(get.latency_us.p50 >= 5_000.0);
    assert!(
        get.latency_us.max < 300_000.0,
        "a timed-out request counted as success"
    );
    assert!(out.result.complete);
    assert_eq!(out.exit_code(), s3bench::exit::ExitCode::Success);
}

/// With 20% of every object request answered 503 (PUTs, GETs, LISTs and
/// DELETEs alike) and the default client settings, the run leaves the
/// bucket empty: cleanup retries whatever the phases' `max_attempts`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaky_endpoint_still_gets_cleaned_up() {
    let plan = plan(&one_target(
        "error_rate = 0.2",
        "",
        r#"[[phase]]
name = "writes"
duration = "2s"
concurrency = 8
mix = [{ op = "put", weight = 1, size = "1KiB" }, { op = "get", weight = 1 }]"#,
    ));
    let server = start_embedded(&plan).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let targets = embedded_targets(&plan, &server);
    let out = run_against(plan, targets, opts(dir.path()), Arc::new(Cancel::default()))
        .await
        .unwrap();
    let put = op(&out.result, "writes", "standard", "put");
    assert!(put.successes > 100 && put.errors > 10, "{put:?}");
    assert!(
        out.result.left_behind.is_empty(),
        "{:?}",
        out.result.left_behind
    );
    assert_eq!(server.object_count("faults-gp"), Some(0));
    assert_eq!(out.exit_code(), s3bench::exit::ExitCode::Success);
}

/// A scenario file for the s3bench binary, pointing at `server`.
fn scenario_file(dir: &Path, server: &EmbeddedServer, phase: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
name = "sigterm"
rounds = 1
[targets.standard]
kind = "general-purpose"
bucket = "faults-gp"
region = "{region}"
endpoint = "{endpoint}"
path_style = true
[dataset]
objects = 16
size = "4KiB"
{phase}
"#,
        region = server.region(),
        endpoint = server.endpoint()
    );
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// SIGTERM mid-phase (a Kubernetes eviction): the report is written with
/// the phase marked, the bucket is empty afterwards, the exit code is 143.
#[test]
fn sigterm_publishes_cleans_up_and_exits_143() {
    let server = EmbeddedServer::start(Default::default()).unwrap();
    server.create_bucket("faults-gp").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario_file(
        dir.path(),
        &server,
        r#"[[phase]]
name = "long"
duration = "60s"
concurrency = 4
mix = [{ op = "put", weight = 1, size = "1KiB" }, { op = "get", weight = 1 }]"#,
    );
    let out = dir.path().join("results");
    let mut cmd = crate::common::s3bench_for(&server);
    cmd.args([
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        server.object_count("faults-gp").unwrap() > 16,
        "the phase was writing"
    );
    // SAFETY: kill() sends a signal to the child we started, by its PID.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let signalled = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if signalled.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("s3bench did not exit within 20 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "{:?}",
        signalled.elapsed()
    );
    assert_eq!(status.code(), Some(143));
    // The run's folder, next to the results index (README.md).
    let run_dir = run_folder(&out);
    let r = s3bench::report::json::read_result(&run_dir.join("result.json")).unwrap();
    assert!(!r.complete);
    let long = r
        .phases
        .iter()
        .find(|p| p.name == "long")
        .expect("the interrupted phase is kept");
    assert!(
        long.interrupted
            .as_deref()
            .is_some_and(|w| w.contains("SIGTERM"))
    );
    assert!(long.targets[0].ops["put"].successes > 0);
    assert_eq!(server.object_count("faults-gp"), Some(0), "cleanup ran");
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(md.contains("terminated (SIGTERM)"));
}

/// `s3bench cleanup` removes a run prefix left by `--keep-data`, and nothing
/// else: objects outside it (another run's, someone else's) survive.
#[test]
fn cleanup_command_removes_only_the_run_prefix() {
    let server = EmbeddedServer::start(Default::default()).unwrap();
    server.create_bucket("faults-gp").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario_file(
        dir.path(),
        &server,
        r#"[[phase]]
name = "writes"
ops = 40
concurrency = 2
mix = [{ op = "put", weight = 1, size = "1KiB" }]"#,
    );
    // Foreign objects: another run's prefix and a key outside s3bench/.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sdk = crate::common::plain_client(&server);
    for key in [
        "keep/me.txt",
        "s3bench/other-run/x",
        "s3bench/keep-run-but-longer/y",
    ] {
        rt.block_on(
            sdk.put_object()
                .bucket("faults-gp")
                .key(key)
                .body(aws_sdk_s3::primitives::ByteStream::from_static(b"mine"))
                .send(),
        )
        .unwrap();
    }
    let out = dir.path().join("results");
    let run = |args: &[&str]| {
        let mut cmd = crate::common::s3bench_for(&server);
        cmd.args(args);
        cmd.output().unwrap()
    };
    let s = scenario.to_str().unwrap();
    let o = run(&[
        "run",
        s,
        "--out",
        out.to_str().unwrap(),
        "--keep-data",
        "--run-id",
        "keep-run",
        "-q",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(server.object_count("faults-gp"), Some(3 + 16 + 40));

    let dry = run(&["cleanup", s, "--run-id", "keep-run", "--dry-run"]);
    assert!(dry.status.success());
    let listed = String::from_utf8_lossy(&dry.stdout);
    assert_eq!(listed.lines().count(), 56, "{listed}");
    assert!(
        listed
            .lines()
            .all(|l| l.starts_with("s3://faults-gp/s3bench/keep-run/"))
    );
    assert_eq!(
        server.object_count("faults-gp"),
        Some(59),
        "a dry run deletes nothing"
    );

    let done = run(&["cleanup", s, "--run-id", "keep-run"]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(String::from_utf8_lossy(&done.stderr).contains("deleted 56 objects"));
    assert_eq!(
        server.object_count("faults-gp"),
        Some(3),
        "only the run's prefix went"
    );
    let keys: Vec<String> = rt
        .block_on(sdk.list_objects_v2().bucket("faults-gp").send())
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    assert_eq!(
        keys,
        [
            "keep/me.txt",
            "s3bench/keep-run-but-longer/y",
            "s3bench/other-run/x"
        ]
    );
    // A reused run id is refused before anything is written.
    let o = run(&[
        "run",
        s,
        "--out",
        out.to_str().unwrap(),
        "--run-id",
        "other-run",
        "-q",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("already holds objects"));
}

/// A third of the GET bodies cut half-way (the endpoint closes the
/// connection after half the bytes): every cut body is a `body: connection`
/// transport failure, never a short success, on both request paths. The
/// endpoint's own count of cut bodies equals the report's failures, and the
/// success bytes are whole objects only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_reset_mid_way_are_failures_never_short_successes() {
    for path in ["direct", "sdk"] {
        let plan = plan(&one_target(
            r#"latency = "2ms"
body_reset_rate = 0.3"#,
            &format!(r#"request_path = "{path}""#),
            r#"[[phase]]
name = "get"
duration = "2s"
concurrency = 4
mix = [{ op = "get", weight = 1 }]"#,
        ));
        let plan = Plan {
            dataset: s3bench::scenario::Dataset {
                size: s3bench::scenario::SizeDist::Fixed(64 << 10),
                ..plan.dataset.clone()
            },
            ..plan
        };
        let (out, server, _dir) = run_plan(plan).await;
        let get = op(&out.result, "get", "standard", "get");
        let ctx = format!("{path}: {get:?}");
        assert!(get.successes > 100 && get.errors > 30, "{ctx}");
        assert_eq!(get.errors_by_kind.len(), 1, "{ctx}");
        assert_eq!(get.errors_by_kind["body: connection"], get.errors, "{ctx}");
        assert_eq!(get.failures["transport"].count, get.errors, "{ctx}");
        // Whole objects only in the success bytes.
        assert_eq!(get.bytes, get.successes * (64 << 10), "{ctx}");
        // The endpoint counted each cut body as an error it made.
        let c = server.counters().get("faults-gp", "GetObject");
        let pre = crate::common::preflight(&out.result, "standard", "GetObject");
        assert_eq!(c.requests, get.requests + pre, "{ctx}");
        // The preflight's probe GET is retried until a body arrives whole:
        // all its GETs but the last were cut.
        assert_eq!(c.errors, get.errors + pre.saturating_sub(1), "{ctx}");
        // 30% injected: binomial over a few thousand requests.
        let share = get.errors as f64 / get.count as f64;
        assert!((0.2..0.4).contains(&share), "{path}: share {share}");
        assert!(get.latency_us.p50 >= 2_000.0, "{ctx}");
        let md = std::fs::read_to_string(out.dir.join("report.md")).unwrap();
        assert!(md.contains("failed (body: connection"), "{path}: {md}");
        assert_eq!(server.object_count("faults-gp"), Some(0));
    }
}

/// A quarter of the GET bodies with one bit flipped (whole, the right
/// length, wrong), on a General Purpose and a directory bucket, on both
/// request paths. With `checksum = "crc32c"` the client asks for the
/// objects' checksums and checks each body: every corrupted GET is a
/// `body: checksum mismatch` failure, exactly as many as the endpoint
/// corrupted, never a success. With `checksum = "none"` the same
/// corruption passes as success: the report cannot see it, which is what
/// response validation buys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_bodies_are_caught_only_by_response_checksums() {
    use crate::common::{DIR, GP, scenario_text, two_targets};
    let targets = two_targets()
        .standard("[targets.standard.embedded]\ncorrupt_rate = 0.25")
        .express("[targets.express.embedded]\ncorrupt_rate = 0.25");
    for path in ["direct", "sdk"] {
        for checksum in ["crc32c", "none"] {
            let rest = format!(
                r#"
[dataset]
objects = 8
size = "64KiB"
[prepare]
concurrency = 4
[client]
request_path = "{path}"
checksum = "{checksum}"
stop_on_failures = "never"
[[phase]]
name = "get"
ops = 200
concurrency = 2
mix = [{{ op = "get", weight = 1 }}]
"#
            );
            let toml = scenario_text("name = \"corrupt\"\nrounds = 1", &targets, &rest);
            let (out, server, _dir) = run_plan(plan(&toml)).await;
            let r = &out.result;
            for (target, bucket) in [("standard", GP), ("express", DIR)] {
                let get = op(r, "get", target, "get");
                let ctx = format!("{path} {checksum} {target}: {get:?}");
                let c = server.counters().get(bucket, "GetObject");
                let pre = crate::common::preflight(r, target, "GetObject");
                assert_eq!(get.count, 200, "{ctx}");
                assert_eq!(c.requests, get.requests + pre, "{ctx}");
                // The preflight's probe GET is retried until the bytes come
                // back right: all its GETs but the last were corrupted, and
                // then the report warns.
                let pre_corrupted = pre.saturating_sub(1);
                let warned = r.warnings.iter().any(|w| {
                    w.contains(&format!("target '{target}'"))
                        && w.contains("corrupts data now and then")
                });
                assert_eq!(warned, pre_corrupted > 0, "{ctx}: {:?}", r.warnings);
                // 25% injected: binomial over 200 GETs (p < 1e-6 outside).
                let corrupted = c.errors - pre_corrupted;
                assert!(
                    (15..90).contains(&corrupted),
                    "{ctx}: {corrupted} corrupted"
                );
                let info = r.targets.iter().find(|t| t.name == target).unwrap();
                if checksum == "none" {
                    assert_eq!((get.errors, get.successes), (0, 200), "{ctx}");
                    assert_eq!((info.checksum_checked, info.checksum_unchecked), (0, 0));
                    continue;
                }
                // Every GET was of a whole object that came with its checksum.
                assert_eq!(
                    (info.checksum_checked, info.checksum_unchecked),
                    (200, 0),
                    "{ctx}"
                );
                assert_eq!(get.errors, corrupted, "{ctx}");
                assert_eq!(
                    get.errors_by_kind.get("body: checksum mismatch"),
                    Some(&corrupted),
                    "{ctx}"
                );
                assert_eq!(get.errors_by_kind.len(), 1, "{ctx}");
                // Their own group: wrong bytes, not a dead connection.
                assert_eq!(get.failures["integrity"].count, corrupted, "{ctx}");
                assert!(!get.failures.contains_key("transport"), "{ctx}");
                assert_eq!(get.successes + get.errors, 200, "{ctx}");
                // Whole, verified objects only in the success bytes.
                assert_eq!(get.bytes, get.successes * (64 << 10), "{ctx}");
            }
            let md = std::fs::read_to_string(out.dir.join("report.md")).unwrap();
            assert!(md.contains("one bit flipped"), "{path} {checksum}: {md}");
            // Their own sentence, with the cause a share like this points
            // at, and never "the endpoint stopped answering".
            assert_eq!(
                md.contains("whole GETs came back with a body that does not match its checksum")
                    && md.contains("while other GETs came back intact"),
                checksum == "crc32c",
                "{path} {checksum}: {md}"
            );
            assert!(!md.contains("stopped answering"), "{path} {checksum}: {md}");
            assert_eq!(
                md.contains("Checksum on standard, express: CRC32C on every upload, and every GET of a whole object checked"),
                checksum == "crc32c",
                "{path} {checksum}: {md}"
            );
            assert_eq!(r.targets[0].checksum, checksum);
        }
    }
}

/// A directory bucket whose CreateSession fails 70% of the time once the
/// data set is written, while sessions last 5 s (direct path: renewed a
/// fifth of their life early) or 16 s (the SDK renews 10-15 s early): the
/// failed handshakes are counted as session errors, and the data requests
/// they failed are HTTP failures named after CreateSession (not transport
/// errors, not fast successes) that never reached the endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_create_session_is_counted_apart_from_the_data_requests() {
    for (path, lifetime) in [("direct", 5), ("sdk", 16)] {
        let bucket = "faults--use1-az4--x-s3";
        let toml = format!(
            r#"
name = "sessions"
rounds = 1
[targets.express]
kind = "directory"
bucket = "{bucket}"
region = "us-east-1"
[targets.express.embedded]
latency = "2ms"
[dataset]
objects = 16
size = "4KiB"
[prepare]
concurrency = 4
[client]
request_path = "{path}"
stop_on_failures = "never"
[[phase]]
name = "get"
duration = "8s"
concurrency = 4
mix = [{{ op = "get", weight = 1 }}]
"#
        );
        let plan = plan(&toml);
        let cfg = s3bench::server::ServerConfig {
            session_lifetime: Duration::from_secs(lifetime),
            ..Default::default()
        };
        let server = Arc::new(s3bench::targets::start_embedded_with(&plan, cfg).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let targets = embedded_targets(&plan, &server);
        let run = tokio::spawn({
            let dir = dir.path().to_path_buf();
            async move { run_against(plan, targets, opts(&dir), Arc::new(Cancel::default())).await }
        });
        // Once the data set is written, the handshakes start failing.
        let t0 = Instant::now();
        while server.counters().requests(bucket, "PutObject") < 16 {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "prepare never ended"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let failing = |rate: f64| s3bench::server::Injection {
            latency: Some(s3bench::server::LatencyDist::Fixed(Duration::from_millis(
                2,
            ))),
            session_error_rate: rate,
            error_status: 500,
            error_code: "InternalError".into(),
            ..Default::default()
        };
        // Every handshake fails until the first one of the measured phase
        // has, then 70% do: a phase with only two or three renewals would
        // otherwise see none fail about one run in ten (0.3^2 = 9%), and
        // then there is nothing to count.
        server.set_injection(bucket, failing(1.0));
        let before = server.counters().get(bucket, "CreateSession").errors;
        while server.counters().get(bucket, "CreateSession").errors == before && !run.is_finished()
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        server.set_injection(bucket, failing(0.7));
        let out = run.await.unwrap().unwrap();
        let r = &out.result;
        let p = r.phases.iter().find(|p| p.name == "get").unwrap();
        let t = &p.targets[0];
        let get = &t.ops["get"];
        let ctx = format!("{path}: sessions {:?} get {get:?}", t.sessions);
        assert!(t.sessions.errors > 0, "{ctx}");
        assert!(t.sessions.count > t.sessions.errors, "{ctx}");
        assert!(get.successes > 100, "{ctx}");
        assert!(get.errors > 0, "{ctx}");
        assert_eq!(
            get.errors_by_kind.keys().collect::<Vec<_>>(),
            ["CreateSession: 500 InternalError"],
            "{ctx}"
        );
        assert_eq!(get.failures["http"].count, get.errors, "{ctx}");
        assert!(get.latency_us.p50 >= 2_000.0, "{ctx}");
        // The report's handshakes are those of prepare and the measured
        // phase; the endpoint also answered preflight's and cleanup's.
        let reported: (u64, u64) = r
            .phases
            .iter()
            .flat_map(|p| &p.targets)
            .fold((0, 0), |(n, e), t| {
                (n + t.sessions.count, e + t.sessions.errors)
            });
        let c = server.counters().get(bucket, "CreateSession");
        assert!(
            reported.0 <= c.requests && reported.1 <= c.errors && reported.1 > 0,
            "endpoint {c:?} vs report {reported:?}"
        );
        // A data request failed by its handshake never reached the endpoint.
        let served = server.counters().requests(bucket, "GetObject");
        let pre = crate::common::preflight(r, &t.target, "GetObject");
        assert_eq!(served, get.successes + pre, "{ctx}");
        // The handshakes still fail 70% of the time during cleanup: when
        // each of its 6 attempts at a request makes one CreateSession, all
        // fail with odds 0.7^6 = 12%. Then nothing is lost silently: the
        // report names what may be left and the command to remove it. Its
        // count is a lower bound: 0 when even the listing that checks
        // failed, although the deletes before it may have emptied the
        // prefix.
        match r.left_behind.as_slice() {
            [] => assert_eq!(server.object_count(bucket), Some(0), "{ctx}"),
            [l] => {
                assert_eq!(l.bucket, bucket, "{ctx}");
                assert!(l.command.starts_with("s3bench cleanup "), "{l:?}");
                assert!(!l.reason.is_empty(), "{l:?}");
                let held = server.object_count(bucket).unwrap_or(0) as u64;
                assert!(held >= l.objects, "{l:?}: the endpoint holds {held}");
            }
            more => panic!("{more:?}"),
        }
    }
}

fn ramp_plan(prefix_limit: &str) -> Plan {
    plan(&format!(
        r#"
name = "ramp"
rounds = 1
[targets.standard]
kind = "general-purpose"
bucket = "ramp-gp"
region = "us-east-1"
[targets.standard.embedded]
latency = "20ms"
error_latency = "0ms"
{prefix_limit}
[targets.express]
kind = "directory"
bucket = "ramp--use1-az4--x-s3"
region = "us-east-1"
[targets.express.embedded]
latency = "4ms"
[dataset]
objects = 16
size = "4KiB"
key = "ramp/{{index:06}}.bin"
[prepare]
concurrency = 4
[client]
stop_on_failures = "never"
[[phase]]
name = "ramp"
stages = [
  {{ rate = 60, duration = "2s" }},
  {{ rate = 300, duration = "3s" }},
]
mix = [{{ op = "get", weight = 1 }}]
"#
    ))
}

async fn run_plan(plan: Plan) -> (s3bench::run::RunOutput, EmbeddedServer, tempfile::TempDir) {
    let server = start_embedded(&plan).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let targets = embedded_targets(&plan, &server);
    let out = run_against(plan, targets, opts(dir.path()), Arc::new(Cancel::default()))
        .await
        .unwrap();
    (out, server, dir)
}

/// scenarios/ramp.toml's model, scaled down: an open-loop ramp to 3x a
/// General Purpose prefix's read limit, whose 503s come back at once. The
/// successes' p50 is not lower than the same ramp's without the limit (fast
/// 503s kept out of it), the 503s have their own fast histogram, and the
/// headline names the throttled share the JSON holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ramp_past_the_prefix_limit_keeps_throttles_out_of_the_success_p50() {
    let (free, _s, _d) = run_plan(ramp_plan("")).await;
    let (limited, server, _dir) =
        run_plan(ramp_plan("prefix_limit = { reads = 100, writes = 1000 }")).await;
    let base = op(&free.result, "ramp", "standard", "get");
    let gp = op(&limited.result, "ramp", "standard", "get");
    let ex = op(&limited.result, "ramp", "express", "get");
    assert_eq!(base.errors, 0, "{base:?}");
    assert_eq!(ex.errors, 0, "{ex:?}");
    // 60/s for 2 s and 300/s for 3 s against 100/s: about 600 of 1,020 throttled.
    let thr = gp.failures.get("throttled").map_or(0, |f| f.count);
    assert_eq!(thr, gp.errors, "{gp:?}");
    let share = thr as f64 / gp.count as f64;
    assert!((0.45..0.7).contains(&share), "throttled share {share}");
    assert_eq!(
        server.counters().get("ramp-gp", "GetObject").errors,
        thr,
        "the endpoint's 503s"
    );
    // Success latency: at least the injected 20 ms, and within the run-to-run
    // noise (1 ms) of the unthrottled ramp, never pulled down by the 503s.
    assert!(gp.latency_us.p50 >= 20_000.0, "{}", gp.latency_us.p50);
    assert!(
        gp.latency_us.p50 >= base.latency_us.p50 - 1_000.0,
        "throttled p50 {} vs unthrottled {}",
        gp.latency_us.p50,
        base.latency_us.p50
    );
    assert!(gp.failures["throttled"].latency_us.p50 < 5_000.0);
    let md = std::fs::read_to_string(limited.dir.join("report.md")).unwrap();
    let named = format!(
        "General Purpose throttled {} (503)",
        s3bench::report::headline::pct(
            s3bench::report::headline::failure_share(gp).throttled_share()
        )
    );
    assert!(md.contains(&named), "{named} not in\n{md}");
}

/// A `credential_process` profile whose credentials last `lifetime` s (the
/// endpoint answers 400 ExpiredToken after that) and that stops issuing any
/// `fail_after` s from now; the script logs each call into `log`.
fn expiring_profile(
    dir: &Path,
    server: &EmbeddedServer,
    lifetime: u64,
    fail_after: u64,
) -> std::path::PathBuf {
    let log = dir.join("creds.log");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let script = dir.join("creds.py");
    std::fs::write(
        &script,
        format!(
            r#"import datetime, hashlib, hmac, json, sys, time
open({log:?}, "a").write("call\n")
if time.time() >= {stop}:
    sys.stderr.write("the SSO session has expired\n")
    sys.exit(1)
exp = int(time.time()) + {lifetime}
mac = hmac.new({secret:?}.encode(), str(exp).encode(), hashlib.sha256).hexdigest()
print(json.dumps({{"Version": 1, "AccessKeyId": {ak:?}, "SecretAccessKey": {secret:?},
  "SessionToken": "s3bench-temp:%d:%s" % (exp, mac),
  "Expiration": datetime.datetime.fromtimestamp(exp, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}}))
"#,
            log = log.to_str().unwrap(),
            stop = now + fail_after,
            secret = server.secret_key(),
            ak = server.access_key(),
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("config"),
        format!(
            "[profile expiring]\ncredential_process = python3 {}\nregion = {}\n",
            script.display(),
            server.region()
        ),
    )
    .unwrap();
    log
}

/// The binary ([`crate::common::s3bench`]) whose credentials come from
/// profile `expiring` of the config file in `home`.
fn with_profile(home: &Path) -> Command {
    let mut cmd = crate::common::s3bench();
    cmd.env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_PROFILE", "expiring")
        .env("HOME", home);
    cmd
}

/// Base credentials from a `credential_process` that last 6 s, on the
/// direct path (which refreshes them itself, a fifth of their life early):
/// a 10 s phase renews them without one failure. Then the process stops
/// issuing credentials 5 s in: once the last ones expire, every request
/// fails by kind (`credentials: ...`), the error policy ends the run by
/// itself, and the report is written.
#[test]
fn base_credentials_that_expire_mid_run_are_renewed_or_counted() {
    let phase = |secs: u32| {
        format!(
            r#"[client]
stop_on_failures = {{ share = 1.0, for = "2s" }}
[[phase]]
name = "get"
duration = "{secs}s"
concurrency = 2
mix = [{{ op = "get", weight = 1 }}]"#
        )
    };
    // Renewed.
    let server = EmbeddedServer::start(Default::default()).unwrap();
    server.create_bucket("faults-gp").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = expiring_profile(dir.path(), &server, 6, 3_600);
    let scenario = scenario_file(dir.path(), &server, &phase(10));
    let out = dir.path().join("results");
    let mut cmd = with_profile(dir.path());
    cmd.args(["run", scenario.to_str().unwrap(), "--out"])
        .arg(&out)
        .arg("-q");
    let o = cmd.output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r = read_run(&out);
    let get = op(&r, "get", "standard", "get");
    assert_eq!(get.errors, 0, "{get:?}");
    assert!(get.successes > 100, "{get:?}");
    let calls = std::fs::read_to_string(&log).unwrap().lines().count();
    assert!(calls >= 3, "credential_process ran {calls} times in 10 s");
    assert_eq!(server.counters().get("faults-gp", "GetObject").errors, 0);
    assert_eq!(server.object_count("faults-gp"), Some(0));

    // Not renewed: the run stops itself once the credentials are gone.
    let server = EmbeddedServer::start(Default::default()).unwrap();
    server.create_bucket("faults-gp").unwrap();
    let dir = tempfile::tempdir().unwrap();
    expiring_profile(dir.path(), &server, 6, 5);
    let scenario = scenario_file(dir.path(), &server, &phase(60));
    let out = dir.path().join("results");
    let started = Instant::now();
    let mut cmd = with_profile(dir.path());
    cmd.args(["run", scenario.to_str().unwrap(), "--out"])
        .arg(&out)
        .arg("-q");
    let o = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(40));
    let r = read_run(&out);
    let get = op(&r, "get", "standard", "get");
    assert!(get.successes > 50, "{get:?}");
    assert!(get.errors > 0, "{get:?}");
    assert!(
        get.errors_by_kind
            .keys()
            .all(|k| k.starts_with("credentials:") || k == "400 ExpiredToken"),
        "{:?}",
        get.errors_by_kind
    );
    assert!(get.latency_us.p50 > 0.0);
    assert!(!stderr.contains(server.secret_key()), "no secret in output");
    // Without credentials the cleanup cannot delete either: it says what is
    // left and the command that removes it.
    assert!(!r.left_behind.is_empty());
    assert!(stderr.contains("s3bench cleanup"), "{stderr}");
    let run_dir = run_folder(&out);
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(md.contains("## Warnings"), "{md}");
    assert!(!md.contains(server.secret_key()));
}

fn run_folder(out: &Path) -> std::path::PathBuf {
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("a run folder")
}

fn read_run(out: &Path) -> RunResult {
    s3bench::report::json::read_result(&run_folder(out).join("result.json")).unwrap()
}
