//! Faults during a run: the endpoint killed mid-phase, 503 storms, stalls
//! past the operation timeout, SIGTERM, cleanup against a flaky endpoint,
//! and `s3bench cleanup`. Each run must end by itself, publish its report,
//! count failures by kind in the seconds they happened, keep them out of the
//! success percentiles, and leave nothing behind that it could delete.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use s3bench::engine::{Cancel, StopReason};
use s3bench::report::model::{OpResult, RunResult};
use s3bench::run::{RunOptions, embedded_targets, execute, start_embedded};
use s3bench::scenario::{Plan, parse};
use s3bench::server::EmbeddedServer;

fn plan(toml: &str) -> Plan {
    parse(toml, Path::new("faults.toml")).expect("valid test scenario")
}

fn opts(dir: &Path) -> RunOptions {
    RunOptions {
        out: dir.to_path_buf(),
        ..RunOptions::default()
    }
}

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
        async move { execute(plan, targets, true, opts(&dir), Arc::new(Cancel::default())).await }
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
    assert_eq!(out.exit_code(), 3);
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
    let out = execute(
        plan,
        targets,
        true,
        opts(dir.path()),
        Arc::new(Cancel::default()),
    )
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
    let out = execute(
        plan,
        targets,
        true,
        opts(dir.path()),
        Arc::new(Cancel::default()),
    )
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
    assert_eq!(out.exit_code(), 0);
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
    let out = execute(
        plan,
        targets,
        true,
        opts(dir.path()),
        Arc::new(Cancel::default()),
    )
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
    assert_eq!(out.exit_code(), 0);
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_s3bench")
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

fn with_keys(cmd: &mut Command, server: &EmbeddedServer, home: &Path) {
    cmd.env("AWS_ACCESS_KEY_ID", server.access_key())
        .env("AWS_SECRET_ACCESS_KEY", server.secret_key())
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("HOME", home);
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
    let mut cmd = Command::new(bin());
    cmd.args([
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    with_keys(&mut cmd, &server, dir.path());
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
    let run_dir = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("a run folder");
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
        let mut cmd = Command::new(bin());
        cmd.args(args);
        with_keys(&mut cmd, &server, dir.path());
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
