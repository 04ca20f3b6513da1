//! Interop with an independent S3 server: moto's (`pip install
//! 'moto[server]'`, installed by .ci/run). A General Purpose scenario runs
//! against it through the s3bench binary and the report is checked against
//! what moto holds; a directory target fails in doctor with the sentence
//! that says moto has no CreateSession.
//!
//! Skipped (with a message) only when moto is absent and CI is not set; in
//! CI a missing moto fails the test.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

/// moto_server on 127.0.0.1:<free port>, stopped by PID when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The command that starts moto's server, or None when moto is not
/// installed: `moto_server` on PATH, else `python3 -m moto.server` (a fresh
/// pip install may not have put the script on PATH yet).
fn moto_command() -> Option<Vec<String>> {
    let works = |argv: &[&str]| {
        Command::new(argv[0])
            .args(&argv[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            let p = d.join("moto_server");
            if let Some(p) = p.to_str()
                && Path::new(p).is_file()
                && works(&[p, "--help"])
            {
                return Some(vec![p.to_string()]);
            }
        }
    }
    works(&["python3", "-c", "import moto.server"])
        .then(|| ["python3", "-m", "moto.server"].map(String::from).to_vec())
}

fn start_moto() -> Option<Moto> {
    let Some(cmd) = moto_command() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "moto_server is not installed but CI=true: .ci/run must install it (pip install 'moto[server]')"
        );
        eprintln!(
            "SKIPPED: moto_server is not installed (pip install 'moto[server]'); CI installs it and runs this test"
        );
        return None;
    };
    // A free port: bind, read it, release it for moto.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&cmd[0])
        .args(&cmd[1..])
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not listen in 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(moto)
}

fn client(endpoint: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .force_path_style(true)
            .build(),
    )
}

fn s3bench(args: &[&str]) -> std::process::Output {
    s3bench_env(args, &[])
}

/// The binary (hermetic, [`crate::common::s3bench`]) with moto's keys.
fn s3bench_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    crate::common::s3bench()
        .args(args)
        .envs(env.iter().copied())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .expect("s3bench runs")
}

fn text(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `s3bench run <scenario>` of one round into `out` under `run_id`,
/// keeping its data (`extra` added); it must exit 0. Its result.json.
fn run_kept(sc: &Path, out: &Path, run_id: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "run",
        sc.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--run-id",
        run_id,
        "--rounds",
        "1",
        "--keep-data",
        "-q",
    ];
    args.extend_from_slice(extra);
    let o = s3bench(&args);
    assert_eq!(o.status.code(), Some(0), "{run_id}: {}", text(&o));
    serde_json::from_slice(
        &std::fs::read(out.join(run_id).join("result.json")).expect("result.json"),
    )
    .unwrap()
}

/// Successful requests of one op in the report. The report model's error
/// accounting is being reworked; this is the one place that reads it.
fn successes(op: &serde_json::Value) -> u64 {
    op["count"].as_u64().unwrap_or(0) - op["errors"].as_u64().unwrap_or(0)
}

fn scenario(dir: &Path, endpoint: &str, bucket: &str, kind: &str) -> PathBuf {
    let p = dir.join(format!("moto-{kind}.toml"));
    let path_style = if kind == "general-purpose" {
        "path_style = true\n"
    } else {
        ""
    };
    std::fs::write(
        &p,
        format!(
            r#"name = "moto"

[targets.moto]
kind = "{kind}"
bucket = "{bucket}"
region = "us-east-1"
endpoint = "{endpoint}"
{path_style}
[dataset]
objects = 6
size = "4KiB"

[[phase]]
name = "get"
duration = "1s"
concurrency = 2
mix = [{{ op = "get" }}]

[[phase]]
name = "put"
duration = "1s"
concurrency = 2
mix = [{{ op = "put", size = "8KiB" }}]
"#
        ),
    )
    .unwrap();
    p
}

#[test]
fn moto_general_purpose_run_matches_what_moto_holds() {
    let Some(moto) = start_moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = client(&moto.endpoint);
    rt.block_on(async { c.create_bucket().bucket("interop").send().await.unwrap() });
    let sc = scenario(dir.path(), &moto.endpoint, "interop", "general-purpose");
    let out = dir.path().join("results");
    let run_id = format!("moto-{:06x}", fastrand::u32(..0x100_0000));
    let o = s3bench(&[
        "run",
        sc.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--run-id",
        &run_id,
        "--rounds",
        "1",
        "--keep-data",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let result: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join(&run_id).join("result.json")).expect("result.json"),
    )
    .unwrap();
    let phase = |name: &str| {
        result["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("phase {name} in {result}"))
            .clone()
    };
    let get = phase("get")["targets"][0]["ops"]["get"].clone();
    let put = phase("put")["targets"][0]["ops"]["put"].clone();
    assert_eq!(get["errors"], 0, "{get}");
    assert_eq!(put["errors"], 0, "{put}");
    let gets = successes(&get);
    let puts = successes(&put);
    assert!(gets > 0 && puts > 0, "get {get} put {put}");
    assert_eq!(get["bytes"].as_u64(), Some(gets * 4096), "{get}");
    assert_eq!(put["bytes"].as_u64(), Some(puts * 8192), "{put}");

    // What moto holds under the run prefix: the data set plus every PUT.
    let prefix = format!("s3bench/{run_id}/");
    let (mut n4, mut n8, mut other) = (0u64, 0u64, 0u64);
    rt.block_on(async {
        let mut pages = c
            .list_objects_v2()
            .bucket("interop")
            .prefix(&prefix)
            .into_paginator()
            .send();
        while let Some(p) = pages.next().await {
            for o in p.unwrap().contents() {
                match o.size() {
                    Some(4096) => n4 += 1,
                    Some(8192) => n8 += 1,
                    _ => other += 1,
                }
            }
        }
    });
    assert_eq!((n4, n8, other), (6, puts, 0), "objects under {prefix}");
    assert_eq!(result["targets"][0]["endpoint"], moto.endpoint.as_str());
    drop(moto);
}

/// `checksum = "crc32c"` against moto, an S3 server s3bench's tests do not
/// write, on both request paths: moto verifies every upload's checksum and
/// returns the stored one under checksum mode, and s3bench checks whole
/// GETs against it. No request fails (no false mismatch on whole or ranged
/// GETs), and what moto holds carries the CRC32C of its bytes.
#[test]
fn moto_checksums_pass_an_independent_server_on_both_paths() {
    let Some(moto) = start_moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = client(&moto.endpoint);
    rt.block_on(async { c.create_bucket().bucket("sums").send().await.unwrap() });
    for path in ["direct", "sdk"] {
        let sc = dir.path().join(format!("moto-sums-{path}.toml"));
        std::fs::write(
            &sc,
            format!(
                r#"name = "moto-sums"

[targets.moto]
kind = "general-purpose"
bucket = "sums"
region = "us-east-1"
endpoint = "{}"
path_style = true

[dataset]
objects = 4
size = "64KiB"

[client]
request_path = "{path}"
checksum = "crc32c"

[[phase]]
name = "mixed"
duration = "1s"
concurrency = 2
mix = [
  {{ op = "get", weight = 2 }},
  {{ op = "ranged-get", range_size = "4KiB" }},
  {{ op = "put", size = "8KiB" }},
]
"#,
                moto.endpoint
            ),
        )
        .unwrap();
        let out = dir.path().join("results");
        let run_id = format!("moto-sums-{path}-{:06x}", fastrand::u32(..0x100_0000));
        let result = run_kept(&sc, &out, &run_id, &[]);
        let phase = result["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "mixed")
            .unwrap_or_else(|| panic!("phase mixed in {result}"));
        let ops = &phase["targets"][0]["ops"];
        for op in ["get", "ranged_get", "put"] {
            assert_eq!(ops[op]["errors"], 0, "{path} {op}: {ops}");
            assert!(successes(&ops[op]) > 0, "{path} {op}: {}", ops[op]);
        }
        assert_eq!(result["targets"][0]["checksum"], "crc32c");
        // moto returned the checksum of every whole object read.
        assert_eq!(result["targets"][0]["checksum_unchecked"], 0, "{path}");
        assert_eq!(
            result["targets"][0]["checksum_checked"], ops["get"]["count"],
            "{path}"
        );
        // Every object the run wrote: its stored CRC32C is that of its
        // bytes (so the direct path's header was taken, not ignored).
        let prefix = format!("s3bench/{run_id}/");
        rt.block_on(async {
            let listed = c
                .list_objects_v2()
                .bucket("sums")
                .prefix(&prefix)
                .send()
                .await
                .unwrap();
            let keys: Vec<String> = listed
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string))
                .collect();
            assert!(!keys.is_empty(), "{path}: nothing under {prefix}");
            // Each object, data set and PUTs alike (a few dozen).
            for key in &keys {
                let got = c
                    .get_object()
                    .bucket("sums")
                    .key(key)
                    .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
                    .send()
                    .await
                    .unwrap();
                let sent = got.checksum_crc32_c().map(str::to_string);
                let bytes = got.body.collect().await.unwrap().into_bytes();
                let want = s3bench::client::checksum::upload_checksum(
                    s3bench::scenario::ChecksumMode::Crc32c,
                    [&bytes[..]],
                )
                .unwrap()
                .1;
                assert_eq!(sent.as_deref(), Some(want.as_str()), "{path} {key}");
            }
        });
    }
    drop(moto);
}

/// A report never claims a check that did not happen: moto returns no
/// checksum for an object uploaded without one (S3 would add CRC64NVME).
/// A data set written with `checksum = "none"`, then read by a run with
/// `checksum = "crc32c"` (`--resume`), on both paths: every whole GET is
/// counted as unchecked, none as checked, and report.md says so.
#[test]
fn moto_gets_without_a_checksum_are_reported_unchecked() {
    let Some(moto) = start_moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = client(&moto.endpoint);
    rt.block_on(async { c.create_bucket().bucket("plain").send().await.unwrap() });
    let write = |name: &str, path: &str, checksum: &str| {
        let sc = dir.path().join(name);
        std::fs::write(
            &sc,
            format!(
                r#"name = "moto-plain"

[targets.moto]
kind = "general-purpose"
bucket = "plain"
region = "us-east-1"
endpoint = "{}"
path_style = true

[dataset]
objects = 4
size = "16KiB"

[client]
request_path = "{path}"
checksum = "{checksum}"

[[phase]]
name = "get"
duration = "1s"
concurrency = 2
mix = [{{ op = "get" }}]
"#,
                moto.endpoint
            ),
        )
        .unwrap();
        sc
    };
    for path in ["direct", "sdk"] {
        let run_id = format!("moto-plain-{path}-{:06x}", fastrand::u32(..0x100_0000));
        let out = dir.path().join(format!("results-{path}"));
        let none = write(&format!("none-{path}.toml"), path, "none");
        run_kept(&none, &out, &run_id, &[]);
        let crc = write(&format!("crc-{path}.toml"), path, "crc32c");
        let r = run_kept(&crc, &out, &run_id, &["--resume"]);
        let t = &r["targets"][0];
        let get = r["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "get")
            .unwrap()["targets"][0]["ops"]["get"]
            .clone();
        assert_eq!(get["errors"], 0, "{path}: {get}");
        assert!(successes(&get) > 0, "{path}: {get}");
        assert_eq!(t["checksum"], "crc32c", "{path}");
        assert_eq!(t["checksum_checked"], 0, "{path}: {t}");
        assert_eq!(t["checksum_unchecked"], get["count"], "{path}: {t}");
    }
    drop(moto);
}

#[test]
fn moto_directory_target_fails_doctor_with_one_sentence() {
    let Some(moto) = start_moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let bucket = "interop--use1-az4--x-s3";
    let sc = scenario(dir.path(), &moto.endpoint, bucket, "directory");
    // Before the bucket exists, the run's preflight says so (its
    // CreateSession gets NoSuchBucket).
    let out = dir.path().join("results");
    let o = s3bench(&[
        "run",
        sc.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!(
            "(bucket '{bucket}' at {}): the directory bucket does not exist",
            moto.endpoint
        )),
        "{}",
        text(&o)
    );
    // moto takes the name as a plain bucket; create it without the SDK's
    // directory-bucket path (which would CreateSession first).
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (status, body) = crate::common::raw_request(
            moto.endpoint.trim_start_matches("http://").parse().unwrap(),
            "PUT",
            &format!("/{bucket}"),
            &[("Content-Length", "0")],
        )
        .await;
        assert_eq!(status, 200, "{body}");
    });
    let o = s3bench(&["doctor", sc.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{out}");
    assert!(
        errors[0]
            .contains("the endpoint does not implement CreateSession (S3 Express session auth)")
            && errors[0].contains("kind = \"general-purpose\"")
            && errors[0].contains("AWS_S3_DISABLE_EXPRESS_SESSION_AUTH=true"),
        "{out}"
    );
    // The run's preflight stops on the same sentence, before any PUT.
    let o = s3bench(&[
        "run",
        sc.to_str().unwrap(),
        "--out",
        dir.path().join("refused").to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("does not implement CreateSession"))
        .collect();
    assert_eq!(said.len(), 1, "{stderr}");
    assert!(
        said[0].contains("to run this workload on it as a plain bucket")
            && said[0].contains("AWS_S3_DISABLE_EXPRESS_SESSION_AUTH=true"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("refused").exists()
            || std::fs::read_dir(dir.path().join("refused"))
                .unwrap()
                .next()
                .is_none()
    );

    // Run as a plain bucket on purpose, with aws-sdk-s3's switch for
    // session auth: the run works and its report says how it ran.
    let out = dir.path().join("plain");
    let o = s3bench_env(
        &[
            "run",
            sc.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--run-id",
            "moto-plain",
            "--rounds",
            "1",
            "-q",
        ],
        &[("AWS_S3_DISABLE_EXPRESS_SESSION_AUTH", "true")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let result: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join("moto-plain").join("result.json")).expect("result.json"),
    )
    .unwrap();
    let warnings = result["warnings"].to_string();
    assert!(
        warnings.contains("S3 Express session auth is off")
            && warnings.contains("runs as on a plain bucket")
            && warnings.contains("does not emulate directory buckets"),
        "{warnings}"
    );
    let md = std::fs::read_to_string(out.join("moto-plain").join("report.md")).unwrap();
    assert!(md.contains("runs as on a plain bucket"), "{md}");
    let get = &result["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "get")
        .unwrap()["targets"][0]["ops"]["get"];
    assert_eq!(get["errors"], 0, "{get}");
    assert!(successes(get) > 0, "{get}");
    // No CreateSession at all: the preflight sent none either.
    assert!(
        result["targets"][0]["preflight_requests"]
            .get("CreateSession")
            .is_none(),
        "{result}"
    );
    drop(moto);
}

/// The moto that runs the tests: its version and whether its optional
/// `crc32c` package is there (without it moto computes CRC32C as CRC32).
fn moto_version() -> (Vec<u32>, bool) {
    let out = Command::new("python3")
        .args([
            "-c",
            "import moto, importlib.util; print(moto.__version__, importlib.util.find_spec('crc32c') is not None)",
        ])
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut parts = text.split_whitespace();
    let version = parts
        .next()
        .unwrap_or_default()
        .split('.')
        .map(|n| n.parse().unwrap_or(0))
        .collect();
    (version, parts.next() == Some("True"))
}

/// What multipart uploads do against the moto installed here, on both
/// request paths, as the README says. moto 5.2.1 answers
/// CompleteMultipartUpload with a `<CompleteMultipartUploadResponse>` root
/// that aws-sdk-s3 cannot read: every multipart-put fails as `200
/// unparsable response`. moto 5.2.6 completes them, and the audit reads
/// each back at the size uploaded; without its optional `crc32c` package it
/// then names a CRC32 as the CRC32C of such an object, so every whole GET
/// of one fails its checksum, in the integrity group, with the sentence
/// that names that cause.
#[test]
fn moto_multipart_puts_do_what_the_installed_version_does() {
    let Some(moto) = start_moto() else { return };
    let (version, has_crc32c) = moto_version();
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = client(&moto.endpoint);
    rt.block_on(async { c.create_bucket().bucket("mpu").send().await.unwrap() });
    let mut completes = Vec::new();
    for path in ["direct", "sdk"] {
        let sc = dir.path().join(format!("moto-mpu-{path}.toml"));
        std::fs::write(
            &sc,
            format!(
                r#"name = "moto-mpu"

[targets.moto]
kind = "general-purpose"
bucket = "mpu"
region = "us-east-1"
endpoint = "{}"
path_style = true

[client]
request_path = "{path}"
checksum = "crc32c"
stop_on_failures = "never"

[dataset]
objects = 2
size = "6MiB"

[prepare]
multipart_threshold = "5MiB"
part_size = "5MiB"

[[phase]]
name = "upload"
ops = 4
concurrency = 2
mix = [{{ op = "multipart-put", size = "6MiB", part_size = "5MiB" }}]

[[phase]]
name = "get"
ops = 4
concurrency = 2
mix = [{{ op = "get" }}]
"#,
                moto.endpoint
            ),
        )
        .unwrap();
        let out = dir.path().join("results");
        let run_id = format!("moto-mpu-{path}-{:06x}", fastrand::u32(..0x100_0000));
        let o = s3bench(&[
            "run",
            sc.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--run-id",
            &run_id,
            "--rounds",
            "1",
            "-q",
        ]);
        let r: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out.join(&run_id).join("result.json")).expect("result.json"),
        )
        .unwrap();
        let phase = |name: &str| {
            r["phases"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("{name} in {r}"))["targets"][0]
                .clone()
        };
        let up = phase("upload");
        let mpu = &up["ops"]["multipart_put"];
        let ctx = format!("moto {version:?} {path}: {}", text(&o));
        if mpu["errors"] == mpu["count"] {
            // All failed, each the same way.
            assert_eq!(
                mpu["errors_by_kind"]["200 unparsable response"], mpu["count"],
                "{ctx}"
            );
            completes.push(false);
            continue;
        }
        assert_eq!(o.status.code(), Some(0), "{ctx}");
        assert_eq!(mpu["errors"], 0, "{ctx}");
        let audit = &up["audits"][0];
        assert_eq!(
            (audit["check"].as_str(), audit["verdict"].as_str()),
            (Some("multipart_size"), Some("held")),
            "{ctx}"
        );
        let get = &phase("get")["ops"]["get"];
        if has_crc32c {
            assert_eq!(get["errors"], 0, "{ctx}");
        } else {
            assert_eq!(get["failures"]["integrity"]["count"], get["count"], "{ctx}");
            assert_eq!(get["errors"], get["count"], "{ctx}");
            let md = std::fs::read_to_string(out.join(&run_id).join("report.md")).unwrap();
            assert!(
                md.contains("whole GETs came back with a body that does not match its checksum")
                    && md.contains("a server bug rather than damage in transit")
                    && !md.contains("stopped answering"),
                "{ctx}\n{md}"
            );
        }
        completes.push(true);
    }
    // Both paths alike, and as the README says of this version.
    assert_eq!(completes[0], completes[1], "{completes:?}");
    if version.as_slice() <= [5, 2, 1].as_slice() {
        assert!(
            !completes[0],
            "moto {version:?} completed multipart uploads"
        );
    }
    if version.as_slice() >= [5, 2, 6].as_slice() {
        assert!(completes[0], "moto {version:?} failed multipart uploads");
    }
    drop(moto);
}
