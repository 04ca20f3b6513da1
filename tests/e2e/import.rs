//! `s3bench import`: logs the tests write themselves in the documented
//! formats (S3 server access logs, their CloudWatch Logs JSON form,
//! CloudTrail data events, the op log), with the formats' awkward cases;
//! the derived scenario validates and runs on the embedded endpoint, and a
//! replay sends exactly the log's object requests, as the endpoint counts them.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use s3bench::engine::Cancel;
use s3bench::import::{Format, ImportOptions, import};
use s3bench::oplog::read::read_all;
use s3bench::plan::RunOptions;
use s3bench::targets::{embedded_targets, start_embedded};

use crate::common::run_against;

const SIZE_SMALL: u64 = 4096;
const SIZE_LARGE: u64 = 1 << 20;

fn key(i: u64) -> String {
    let h = s3bench::scenario::splitmix64(i) & 0xffff;
    format!("{h:04x}/set a/{i:06}.bin")
}

fn size(i: u64) -> u64 {
    if i < 70 { SIZE_SMALL } else { SIZE_LARGE }
}

/// One access log record; `extra` fields are appended as newer records do.
#[allow(clippy::too_many_arguments)]
fn record(
    sec: u64,
    op: &str,
    key: Option<&str>,
    uri: &str,
    status: u16,
    error: &str,
    bytes: Option<u64>,
    object: Option<u64>,
    extra: bool,
) -> String {
    let enc = |k: &str| k.replace(' ', "%20");
    let dash = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    let mut line = format!(
        "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be my-bucket [06/Feb/2019:00:00:{sec:02} +0000] 192.0.2.3 arn:aws:iam::123456789012:user/app 3E57427F3EXAMPLE {op} {} \"{uri}\" {status} {error} {} {} 7 5 \"-\" \"aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64 prompt/off\" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader my-bucket.s3.us-west-1.amazonaws.com TLSv1.2 - -",
        key.map_or("-".to_string(), enc),
        dash(bytes),
        dash(object),
    );
    if extra {
        line.push_str(" Yes us-west-1");
    }
    line
}

/// The known workload, as S3 would log it, over 3 seconds.
fn access_log() -> Vec<String> {
    let mut lines = Vec::new();
    let mut n = 0u64;
    let mut sec = || {
        n += 1;
        n % 3
    };
    for j in 0..600u64 {
        let i = j % 100;
        let k = key(i);
        let uri = format!("GET /my-bucket/{} HTTP/1.1", k.replace(' ', "%20"));
        let s = sec();
        lines.push(match j {
            // Error rows: still GETs the workload sent.
            100..=109 => record(
                s,
                "REST.GET.OBJECT",
                Some(&k),
                &uri,
                404,
                "NoSuchKey",
                None,
                None,
                false,
            ),
            110..=114 => record(
                s,
                "REST.GET.OBJECT",
                Some(&k),
                &uri,
                503,
                "SlowDown",
                None,
                None,
                true,
            ),
            _ => record(
                s,
                "REST.GET.OBJECT",
                Some(&k),
                &uri,
                200,
                "-",
                Some(size(i)),
                Some(size(i)),
                j % 2 == 0,
            ),
        });
    }
    for j in 0..200u64 {
        let k = key(j % 100);
        let uri = format!("GET /my-bucket/{} HTTP/1.1", k.replace(' ', "%20"));
        lines.push(record(
            sec(),
            "REST.GET.OBJECT",
            Some(&k),
            &uri,
            206,
            "-",
            Some(2048),
            Some(size(j % 100)),
            false,
        ));
    }
    for j in 0..100u64 {
        let k = format!("uploads/{j}.bin");
        lines.push(record(
            sec(),
            "REST.PUT.OBJECT",
            Some(&k),
            &format!("PUT /my-bucket/{k} HTTP/1.1"),
            200,
            "-",
            None,
            Some(8192),
            false,
        ));
    }
    for j in 0..50u64 {
        let k = key(j);
        lines.push(record(
            sec(),
            "REST.HEAD.OBJECT",
            Some(&k),
            "HEAD /my-bucket/x HTTP/1.1",
            200,
            "-",
            None,
            Some(size(j)),
            false,
        ));
    }
    for _ in 0..30 {
        lines.push(record(
            sec(),
            "REST.GET.BUCKET",
            None,
            "GET /my-bucket?list-type=2&prefix=a HTTP/1.1",
            200,
            "-",
            Some(512),
            None,
            false,
        ));
    }
    for j in 0..20u64 {
        let k = format!("uploads/{j}.bin");
        lines.push(record(
            sec(),
            "REST.DELETE.OBJECT",
            Some(&k),
            &format!("DELETE /my-bucket/{k} HTTP/1.1"),
            204,
            "-",
            None,
            None,
            false,
        ));
    }
    for j in 0..10u64 {
        let k = format!("mp/{j}.bin");
        let s = sec();
        lines.push(record(
            s,
            "REST.POST.UPLOADS",
            Some(&k),
            "POST /my-bucket/k?uploads HTTP/1.1",
            200,
            "-",
            Some(300),
            None,
            false,
        ));
        for p in 1..=3 {
            lines.push(record(
                s,
                "REST.PUT.PART",
                Some(&k),
                &format!("PUT /my-bucket/k?partNumber={p}&uploadId=x HTTP/1.1"),
                200,
                "-",
                None,
                Some(5 << 20),
                false,
            ));
        }
        lines.push(record(
            s,
            "REST.POST.UPLOAD",
            Some(&k),
            "POST /my-bucket/k?uploadId=x HTTP/1.1",
            200,
            "-",
            Some(400),
            Some(15 << 20),
            false,
        ));
    }
    // Bucket-level and unsupported operations, and a line that is no record.
    for _ in 0..3 {
        lines.push(record(
            sec(),
            "REST.GET.VERSIONING",
            None,
            "GET /my-bucket?versioning HTTP/1.1",
            200,
            "-",
            Some(113),
            None,
            false,
        ));
    }
    for j in 0..2u64 {
        let k = key(j);
        lines.push(record(
            sec(),
            "REST.GET.OBJECT_TAGGING",
            Some(&k),
            "GET /my-bucket/x?tagging HTTP/1.1",
            200,
            "-",
            Some(90),
            None,
            false,
        ));
    }
    lines.insert(7, "this line is not an access log record".into());
    lines
}

fn gzip(path: &Path, text: &str) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    w.write_all(text.as_bytes()).unwrap();
    w.finish().unwrap();
}

fn import_to(
    dir: &Path,
    format: Format,
    files: Vec<PathBuf>,
    replay: bool,
) -> anyhow::Result<PathBuf> {
    let out = dir.join("mine.toml");
    import(&ImportOptions {
        format,
        files,
        out: out.clone(),
        replay,
        progress: false,
    })?;
    Ok(out)
}

fn written_access_log(dir: &Path) -> PathBuf {
    let lines = access_log();
    // Two files, one gzip, as S3 delivers many.
    let half = lines.len() / 2;
    std::fs::write(dir.join("log-a"), lines[..half].join("\n")).unwrap();
    gzip(&dir.join("log-b.gz"), &(lines[half..].join("\n") + "\n"));
    dir.join("log-a")
}

/// The derived scenario holds the log's mix, sizes, key shape and counts.
#[test]
fn access_log_import_keeps_mix_sizes_and_shape() {
    let dir = tempfile::tempdir().unwrap();
    let a = written_access_log(dir.path());
    let out = import_to(
        dir.path(),
        Format::AccessLog,
        vec![a, dir.path().join("log-b.gz")],
        false,
    )
    .unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let plan = s3bench::scenario::load(&out).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(plan.dataset.objects, 100, "{text}");
    assert_eq!(
        plan.dataset.size,
        s3bench::scenario::SizeDist::Weighted(vec![(SIZE_SMALL, 70), (SIZE_LARGE, 30)])
    );
    assert_eq!(
        plan.dataset.key.source, "{hash:4}/p2/{index:06}.bin",
        "{text}"
    );
    let mix: BTreeMap<String, (u32, String)> = plan.phases[0]
        .mix
        .iter()
        .map(|w| {
            (
                w.op.kind().key().to_string(),
                (w.weight, format!("{:?}", w.op)),
            )
        })
        .collect();
    let weight = |k: &str| mix.get(k).map_or(0, |m| m.0);
    assert_eq!(
        [
            weight("get"),
            weight("ranged_get"),
            weight("put"),
            weight("multipart_put")
        ],
        [600, 200, 100, 10]
    );
    assert_eq!(
        [weight("head"), weight("list"), weight("delete")],
        [50, 30, 20]
    );
    assert!(mix["ranged_get"].1.contains("size: 2048"), "{mix:?}");
    assert!(mix["put"].1.contains("Fixed(8192)"), "{mix:?}");
    assert!(
        mix["multipart_put"]
            .1
            .contains("size: 15728640, part_size: 5242880"),
        "{mix:?}"
    );
    for needle in [
        "REST.GET.VERSIONING 3",
        "REST.GET.OBJECT_TAGGING 2",
        "Malformed records: 1 (first: ",
        "log-a:8",
        "503 SlowDown: 5",
        "Errors: 15",
        "total time p50",
        "2019-02-06T00:00:00Z",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(
        !text.contains("set a") && !text.contains("uploads"),
        "names copied:\n{text}"
    );
}

/// Import -> validate -> run --embedded: the scenario runs as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_scenario_runs_on_the_embedded_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let a = written_access_log(dir.path());
    let out = import_to(
        dir.path(),
        Format::AccessLog,
        vec![a, dir.path().join("log-b.gz")],
        false,
    )
    .unwrap();
    let mut plan = s3bench::scenario::load(&out).unwrap();
    plan.rounds = 1;
    let server = start_embedded(&plan).unwrap();
    let targets = embedded_targets(&plan, &server);
    let opts = RunOptions {
        out: dir.path().join("results"),
        threads: Some(2),
        ..RunOptions::default()
    };
    let r = run_against(plan, targets, opts, Arc::new(Cancel::default()))
        .await
        .unwrap()
        .result;
    assert!(r.complete, "{:?}", r.interrupted);
    let traffic = r.phases.iter().find(|p| p.name == "traffic").unwrap();
    for t in &traffic.targets {
        assert!(t.ops["get"].successes > 0, "{}", t.target);
        assert!(t.lateness.is_some(), "open loop: lateness is reported");
    }
}

fn run_dir(out: &Path) -> PathBuf {
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("result.json").exists())
        .expect("a run folder")
}

/// Requests per op of the replay phase of target `t`, from the run's op
/// log (whose rows equal the endpoint's counts: tests/e2e/oplog.rs).
fn replay_requests(rows: &[s3bench::oplog::read::OpRow], t: &str) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for r in rows
        .iter()
        // (Not the audit's reads of what the replay's uploads left.)
        .filter(|r| {
            r.target == t && r.phase == "replay" && r.stage != "audit" && r.op != "CreateSession"
        })
    {
        *m.entry(r.op.clone()).or_default() += 1;
    }
    m
}

async fn run_replay(
    scenario: &Path,
    out: &Path,
) -> (
    s3bench::report::model::RunResult,
    Vec<s3bench::oplog::read::OpRow>,
) {
    let plan = s3bench::scenario::load(scenario).unwrap_or_else(|e| panic!("{e}"));
    let server = start_embedded(&plan).unwrap();
    let targets = embedded_targets(&plan, &server);
    let opts = RunOptions {
        out: out.to_path_buf(),
        threads: Some(2),
        op_log: true,
        ..RunOptions::default()
    };
    let r = run_against(plan, targets, opts, Arc::new(Cancel::default()))
        .await
        .unwrap()
        .result;
    let rows = read_all(&run_dir(out).join("ops.csv.gz")).unwrap();
    // Every request the run sent is a row, as the endpoint counted it.
    let c = server.counters();
    for t in &r.targets {
        let counted: u64 = c.buckets[&t.bucket].values().map(|o| o.requests).sum();
        let logged = rows.iter().filter(|x| x.target == t.name).count() as u64;
        assert_eq!(logged, counted, "{}", t.name);
    }
    (r, rows)
}

/// A replay sends exactly the log's object requests on every target, in
/// every round, and reports the schedule's lateness.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_sends_the_logs_object_requests() {
    let dir = tempfile::tempdir().unwrap();
    let a = written_access_log(dir.path());
    let out = import_to(
        dir.path(),
        Format::AccessLog,
        vec![a, dir.path().join("log-b.gz")],
        true,
    )
    .unwrap();
    assert!(dir.path().join("mine.replay.csv.gz").exists());
    let sidecar = std::fs::read(dir.path().join("mine.replay.csv.gz")).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&sidecar[..]), &mut text)
        .unwrap();
    assert!(!text.contains("set a"), "the sidecar holds no key names");
    let (r, rows) = run_replay(&out, &dir.path().join("results")).await;
    assert!(r.complete, "{:?}", r.interrupted);
    let rounds = 2;
    let want: BTreeMap<String, u64> = [
        ("GetObject", 800),
        ("HeadObject", 50),
        ("PutObject", 100),
        ("ListObjectsV2", 30),
        ("DeleteObject", 20),
        ("CreateMultipartUpload", 10),
        ("UploadPart", 30),
        ("CompleteMultipartUpload", 10),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v * rounds))
    .collect();
    for t in ["standard", "express"] {
        assert_eq!(replay_requests(&rows, t), want, "{t}");
    }
    let phase = r.phases.iter().find(|p| p.name == "replay").unwrap();
    assert!(
        phase.load.contains("replay of 1010 logged requests"),
        "{}",
        phase.load
    );
    for t in &phase.targets {
        let l = t.lateness.as_ref().expect("replay lateness");
        assert_eq!(l.count, 1010 * rounds, "{}", t.target);
    }
    // A key read twice is read twice: the same data set object.
    let gets: Vec<&s3bench::oplog::read::OpRow> = rows
        .iter()
        .filter(|x| {
            x.phase == "replay"
                && x.op == "GetObject"
                && x.range.is_none()
                && x.target == "standard"
                && x.round == 1
        })
        .collect();
    let distinct: std::collections::BTreeSet<&str> = gets.iter().map(|x| x.key.as_str()).collect();
    assert!(
        distinct.len() <= 100,
        "{} distinct objects for 100 keys",
        distinct.len()
    );
}

/// `run --op-log` -> `import op-log --replay` -> run: the replay sends the
/// same requests, by op, as the logged run's first target and round did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn op_log_round_trips_through_import_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let toml = r#"
name = "source"
rounds = 1
[targets.standard]
kind = "general-purpose"
bucket = "src-gp"
region = "us-east-1"
[dataset]
objects = 12
size = [{ size = "4KiB", weight = 2 }, { size = "64KiB", weight = 1 }]
key = "{hash:3}/{index:04}.dat"
[[phase]]
name = "work"
duration = "1s"
warmup = "200ms"
rate = 150
mix = [
  { op = "get", weight = 4 },
  { op = "ranged-get", weight = 2, range_size = "1KiB" },
  { op = "head", weight = 1 },
  { op = "put", weight = 1, size = "2KiB" },
  { op = "multipart-put", weight = 1, size = "10MiB", part_size = "5MiB" },
  { op = "list", weight = 1 },
  { op = "delete", weight = 1 },
  { op = "copy", weight = 1 },
]
"#;
    let plan = s3bench::scenario::parse(toml, Path::new("source.toml")).unwrap();
    let server = start_embedded(&plan).unwrap();
    let targets = embedded_targets(&plan, &server);
    let first = dir.path().join("first");
    let opts = RunOptions {
        out: first.clone(),
        threads: Some(2),
        op_log: true,
        ..RunOptions::default()
    };
    run_against(plan, targets, opts, Arc::new(Cancel::default()))
        .await
        .unwrap();
    let log = run_dir(&first).join("ops.csv.gz");
    let mut sent: BTreeMap<String, u64> = BTreeMap::new();
    for r in read_all(&log).unwrap() {
        if (r.stage == "measured" || r.stage == "warmup") && r.op != "CreateSession" {
            *sent.entry(r.op).or_default() += 1;
        }
    }
    let out = import_to(dir.path(), Format::OpLog, vec![log], true).unwrap();
    let (r, rows) = run_replay(&out, &dir.path().join("second")).await;
    assert!(r.complete);
    let per_round: BTreeMap<String, u64> = replay_requests(&rows, "standard")
        .into_iter()
        .map(|(k, v)| (k, v / 2))
        .collect();
    assert_eq!(per_round, sent);
}

/// CloudTrail data events (gzip), with a management event and another
/// service's event in the file; the JSON form of access logs; and a file
/// of another format, refused with one sentence and nothing written.
#[test]
fn cloudtrail_and_json_access_logs_and_wrong_formats() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = Vec::new();
    for i in 0..40u64 {
        let (name, extra) = match i % 4 {
            0 | 1 => (
                "GetObject",
                format!(r#""bytesTransferredOut": {}.0"#, 4096 + i % 2),
            ),
            2 => ("PutObject", r#""bytesTransferredIn": 8192.0"#.to_string()),
            _ => ("HeadObject", r#""bytesTransferredOut": 0.0"#.to_string()),
        };
        let source = if i % 2 == 0 {
            "s3express.amazonaws.com"
        } else {
            "s3.amazonaws.com"
        };
        records.push(format!(
            r#"{{"eventVersion":"1.09","eventTime":"2024-03-01T10:00:{:02}Z","eventSource":"{source}","eventName":"{name}","awsRegion":"us-east-1","requestParameters":{{"bucketName":"b","key":"k/{:03}.bin"}},"additionalEventData":{{{extra}}},"eventCategory":"Data","managementEvent":false{}}}"#,
            i % 10,
            i % 8,
            if i == 5 { r#","errorCode":"SlowDown""# } else { "" }
        ));
    }
    records.push(r#"{"eventTime":"2024-03-01T10:00:01Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","requestParameters":{"bucketName":"b"},"eventCategory":"Management","managementEvent":true}"#.into());
    records.push(r#"{"eventTime":"2024-03-01T10:00:01Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","eventCategory":"Management"}"#.into());
    let trail = dir.path().join("trail.json.gz");
    gzip(&trail, &format!(r#"{{"Records":[{}]}}"#, records.join(",")));
    let out = import_to(dir.path(), Format::Cloudtrail, vec![trail.clone()], false).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let plan = s3bench::scenario::load(&out).unwrap();
    assert_eq!(plan.dataset.objects, 6, "{text}");
    assert!(text.contains("GET 20, HEAD 10, PUT 10"), "{text}");
    assert!(text.contains("Skipped: 1 S3 management events"), "{text}");
    assert!(
        text.contains("Skipped: 1 events of other AWS services"),
        "{text}"
    );
    assert!(text.contains("503 SlowDown: 1"), "{text}");

    // The JSON records CloudWatch Logs delivers.
    let cw: Vec<String> = (0..30u64)
        .map(|i| {
            format!(
                r#"{{"schema_version_id":"V_1_0","bucket_name":"b","request_time":"2024-03-01T10:00:0{}.{:03}Z","operation":"{}","key_name":"d/{:02}.bin","request_uri":"GET /d HTTP/1.1","http_status":200,"error_code":null,"bytes_sent":1024,"object_size":1024,"total_time":12,"turn_around_time":9,"user_agent":"boto3/1.34 md/Botocore#1.34"}}"#,
                i % 5,
                i,
                if i % 3 == 0 { "REST.PUT.OBJECT" } else { "REST.GET.OBJECT" },
                i % 10
            )
        })
        .collect();
    let cwf = dir.path().join("cw.json");
    std::fs::write(&cwf, cw.join("\n")).unwrap();
    let out = import_to(dir.path(), Format::AccessLog, vec![cwf], false).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("GET 20, PUT 10"), "{text}");
    assert!(text.contains("turn-around time p50 9"), "{text}");

    // Another format: one sentence naming what was expected; nothing written.
    let fresh = tempfile::tempdir().unwrap();
    let e = import_to(fresh.path(), Format::AccessLog, vec![trail.clone()], false).unwrap_err();
    assert!(
        e.to_string()
            .contains("is not an S3 server access log: expected"),
        "{e}"
    );
    let e = import_to(fresh.path(), Format::OpLog, vec![trail], true).unwrap_err();
    assert!(e.to_string().contains("is not an s3bench op log"), "{e}");
    let a = written_access_log(fresh.path());
    let e = import_to(fresh.path(), Format::Cloudtrail, vec![a], false).unwrap_err();
    assert!(
        e.to_string().contains("is not a CloudTrail log file"),
        "{e}"
    );
    assert!(!fresh.path().join("mine.toml").exists());
    assert!(!fresh.path().join("mine.replay.csv.gz").exists());
}

/// The command line: `s3bench import` writes a scenario `s3bench validate`
/// accepts; a file of another format is exit code 2 and one sentence.
#[test]
fn import_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let a = written_access_log(dir.path());
    let out = dir.path().join("cli.toml");
    let bin = env!("CARGO_BIN_EXE_s3bench");
    let run = |args: &[&str]| std::process::Command::new(bin).args(args).output().unwrap();
    let o = run(&[
        "import",
        "access-log",
        a.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--replay",
        "-q",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        out.to_str().unwrap()
    );
    let v = run(&["validate", out.to_str().unwrap()]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stderr)
    );
    let bad = dir.path().join("bad.toml");
    let o = run(&[
        "import",
        "cloudtrail",
        a.to_str().unwrap(),
        "--out",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is not a CloudTrail log file"), "{err}");
    assert!(!bad.exists());
}
