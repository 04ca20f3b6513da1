//! The command line as a user meets it: bad input is said plainly, with the
//! right exit code, before anything runs.

use std::path::Path;
use std::sync::Arc;

use crate::common::run_against;
use clap::Parser;
use s3bench::cli::{Cli, main};
use s3bench::client::TargetConfig;
use s3bench::engine::Cancel;
use s3bench::plan::RunOptions;
use s3bench::run::PreflightError;
use s3bench::scenario::parse;
use s3bench::targets::start_embedded;

async fn exit_code(args: &[&str]) -> i32 {
    main(Cli::try_parse_from(args).expect("arguments parse")).await
}

#[tokio::test]
async fn every_shipped_scenario_validates() {
    let files: Vec<String> = ["scenarios", "bench"]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".toml"))
        .collect();
    assert!(files.len() >= 12, "{files:?}");
    let mut args = vec!["s3bench", "validate"];
    args.extend(files.iter().map(String::as_str));
    assert_eq!(exit_code(&args).await, 0);
}

#[tokio::test]
async fn broken_scenario_exits_2_without_running() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[targets.a]\nkind = \"general-purpose\"\nbucket = \"b\"\nregion = \"us-east-1\"\ncolour = 1\n",
    )
    .unwrap();
    let bad = bad.display().to_string();
    assert_eq!(exit_code(&["s3bench", "validate", &bad]).await, 2);
    let out = dir.path().join("results").display().to_string();
    assert_eq!(
        exit_code(&["s3bench", "run", &bad, "--embedded", "--out", &out, "-q"]).await,
        2
    );
    assert!(
        !Path::new(&out).exists(),
        "nothing may be written for a bad scenario"
    );
    let err = s3bench::scenario::load(Path::new(&bad))
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.toml:5:1"), "{err}");
    assert!(err.contains("colour"), "{err}");
}

const ONE_TARGET: &str = r#"
[targets.standard]
kind = "general-purpose"
bucket = "present"
region = "us-east-1"
[dataset]
objects = 2
size = "1KiB"
[[phase]]
name = "get"
ops = 10
concurrency = 1
mix = [{ op = "get", weight = 1 }]
"#;

/// Runs the one-target plan against `target` and returns the preflight sentence.
async fn preflight_error(target: TargetConfig) -> String {
    let plan = parse(ONE_TARGET, Path::new("t.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        out: dir.path().to_path_buf(),
        ..RunOptions::default()
    };
    let err = run_against(plan, vec![target], opts, Arc::new(Cancel::default()))
        .await
        .err()
        .expect("preflight must fail");
    assert!(err.downcast_ref::<PreflightError>().is_some(), "{err:#}");
    let msg = format!("{err:#}");
    assert_eq!(msg.lines().count(), 1, "one sentence: {msg}");
    msg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_missing_bucket_and_dead_endpoint_are_one_sentence_each() {
    let plan = parse(ONE_TARGET, Path::new("t.toml")).unwrap();
    let server = start_embedded(&plan).unwrap();
    let spec = &plan.targets[0];

    let wrong = TargetConfig::with_static_keys(
        spec,
        &plan.client,
        &server.endpoint(),
        server.access_key(),
        "not-the-secret",
    );
    let msg = preflight_error(wrong).await;
    assert!(msg.contains("secret key is wrong"), "{msg}");
    assert!(
        !msg.contains(server.secret_key()),
        "credentials leaked: {msg}"
    );

    let mut missing_spec = spec.clone();
    missing_spec.bucket = "absent-bucket".into();
    let missing = TargetConfig::with_static_keys(
        &missing_spec,
        &plan.client,
        &server.endpoint(),
        server.access_key(),
        server.secret_key(),
    );
    let msg = preflight_error(missing).await;
    // The doctor's sentence, which the preflight now shares.
    assert!(
        msg.contains("(bucket 'absent-bucket' at") && msg.contains("the bucket does not exist"),
        "{msg}"
    );

    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let dead = TargetConfig::with_static_keys(
        spec,
        &plan.client,
        &format!("http://127.0.0.1:{port}"),
        server.access_key(),
        server.secret_key(),
    );
    let msg = preflight_error(dead).await;
    assert!(msg.contains("refused"), "{msg}");
}

/// `env:NAME` is a scenario source of scenario loading itself, so every
/// command that reads a scenario takes it, not only `run` and `validate`:
/// `plan`, `doctor` and `serve --scenario` too.
#[test]
fn every_command_reads_a_scenario_from_env() {
    use std::io::BufRead as _;
    let text = std::fs::read_to_string("scenarios/small-objects.toml").unwrap();
    let with_env = || {
        let mut cmd = crate::common::s3bench();
        cmd.env("S3BENCH_SCENARIO_TOML", &text);
        cmd
    };
    let o = with_env()
        .args(["plan", "env:S3BENCH_SCENARIO_TOML"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("estimated cost $"), "{out}");
    let o = with_env()
        .args(["doctor", "env:S3BENCH_SCENARIO_TOML", "--embedded"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("env:S3BENCH_SCENARIO_TOML: 2 target(s), 0 error(s)"),
        "{out}"
    );
    // serve creates the scenario's buckets; stopped by its PID (SIGINT).
    let plan = s3bench::scenario::parse(&text, Path::new("x.toml")).unwrap();
    let mut child = with_env()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--scenario", "env:S3BENCH_SCENARIO_TOML"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut buckets = String::new();
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 && !line.starts_with("serving until") {
        if let Some(b) = line.strip_prefix("buckets: ") {
            buckets = b.trim().to_string();
        }
        line.clear();
    }
    // SAFETY: kill() sends SIGINT to the child we started, by its PID.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    assert!(child.wait().unwrap().success());
    for t in &plan.targets {
        assert!(buckets.contains(&t.bucket), "{} in {buckets:?}", t.bucket);
    }
    // Unset, the variable is named as a file would be.
    let o = crate::common::s3bench()
        .args(["doctor", "env:S3BENCH_SCENARIO_TOML", "--embedded"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains(
        "env:S3BENCH_SCENARIO_TOML: environment variable S3BENCH_SCENARIO_TOML is not set"
    ),);
}

/// `run -q` keeps the AWS SDK's WARN lines off stderr (here aws-config's,
/// about the config file AWS_CONFIG_FILE names, which the hermetic
/// environment points at nothing); without -q they are there, so the test
/// sees the difference. The run's own output under -q is its result paths.
#[test]
fn quiet_run_keeps_the_sdks_warnings_off_stderr() {
    let server = crate::common::start_server();
    server.create_bucket("quiet").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("quiet.toml");
    std::fs::write(
        &sc,
        format!(
            "name = \"quiet\"\n\n[targets.standard]\nkind = \"general-purpose\"\nbucket = \"quiet\"\nregion = \"us-east-1\"\nendpoint = \"{}\"\npath_style = true\n\n[dataset]\nobjects = 2\nsize = \"4KiB\"\n\n[[phase]]\nname = \"get\"\nops = 4\nconcurrency = 1\nmix = [{{ op = \"get\" }}]\n",
            server.endpoint()
        ),
    )
    .unwrap();
    for quiet in [false, true] {
        let mut cmd = crate::common::s3bench_for(&server);
        cmd.arg("run")
            .arg(&sc)
            .args(["--rounds", "1", "--out"])
            .arg(dir.path().join("results"));
        if quiet {
            cmd.arg("-q");
        }
        let o = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{err}");
        assert_eq!(err.contains("WARN"), !quiet, "quiet {quiet}:\n{err}");
    }
}
