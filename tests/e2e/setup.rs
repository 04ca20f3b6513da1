//! `s3bench setup`: the bucket pair is created with the CreateBucket
//! configuration the embedded endpoint checks, the printed [targets] block
//! validates and a run uses it, a second setup refuses, and `--delete`
//! removes only a pair that holds nothing but s3bench/ keys.

use std::process::Output;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::create_bucket::CreateBucketError;
use aws_sdk_s3::types::{
    BucketInfo, BucketType, CreateBucketConfiguration, DataRedundancy, LocationInfo, LocationType,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use s3bench::server::EmbeddedServer;

use crate::common::{no_retry_client, s3bench_for, start_server};

/// Runs the binary with the endpoint's keys in the environment, as a user
/// with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY would.
fn run(server: &EmbeddedServer, args: &[&str]) -> Output {
    s3bench_for(server)
        .args(args)
        .output()
        .expect("s3bench runs")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const TAIL: &str = r#"
[dataset]
objects = 4
size = "4KiB"

[[phase]]
name = "get"
duration = "1s"
concurrency = 1
mix = [{ op = "get" }]
"#;

#[test]
fn setup_creates_the_pair_prints_a_valid_block_and_refuses_twice() {
    let s = start_server();
    let home = tempfile::tempdir().unwrap();
    let ep = s.endpoint();
    let args = [
        "setup",
        "--region",
        "us-east-1",
        "--zone-id",
        "use1-az4",
        "--name",
        "firstrun",
        "--endpoint",
        &ep,
    ];
    let o = run(&s, &args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Both buckets exist, made over HTTP by CreateBucket (the endpoint
    // checked the directory configuration; see the test below).
    let c = s.counters();
    for b in ["firstrun", "firstrun--use1-az4--x-s3"] {
        assert_eq!(s.object_count(b), Some(0), "{b} exists");
        let cb = c.get(b, "CreateBucket");
        assert_eq!((cb.requests, cb.errors), (1, 0), "{b}");
    }
    let block = String::from_utf8(o.stdout.clone()).unwrap();
    assert!(block.contains("[targets.express]"), "{block}");
    assert!(!block.contains(s.secret_key()), "{block}");

    // The block is a scenario's [targets]: validate accepts it ...
    let sc = home.path().join("first.toml");
    std::fs::write(&sc, format!("name = \"first\"\n\n{block}{TAIL}")).unwrap();
    let v = run(&s, &["validate", sc.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    // ... and a run (with the credentials from the environment) uses it.
    let out = home.path().join("results");
    let r = run(
        &s,
        &[
            "run",
            sc.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
            "--rounds",
            "1",
        ],
    );
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let c = s.counters();
    assert!(c.requests("firstrun", "GetObject") > 0, "{c:?}");
    assert!(
        c.requests("firstrun--use1-az4--x-s3", "GetObject") > 0,
        "{c:?}"
    );

    // A second setup with the same names refuses and creates nothing.
    let again = run(&s, &args);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("buckets 'firstrun' and 'firstrun--use1-az4--x-s3' already exist")
            && err.contains("--reuse"),
        "{err}"
    );
    assert_eq!(s.counters().get("firstrun", "CreateBucket").requests, 1);
    // --reuse takes them as they are.
    let mut reuse = args.to_vec();
    reuse.push("--reuse");
    let o = run(&s, &reuse);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(String::from_utf8(o.stdout).unwrap(), block);
}

#[test]
fn setup_writes_into_a_scenario_and_delete_removes_only_s3bench_data() {
    let s = start_server();
    let home = tempfile::tempdir().unwrap();
    let sc = home.path().join("mine.toml");
    let original = format!(
        "# my scenario\nname = \"mine\"\n\n[targets.standard]\nkind = \"general-purpose\"\nbucket = \"placeholder\"\nregion = \"us-east-1\"\n\n[targets.standard.embedded]\nlatency = \"3ms\"\n{TAIL}"
    );
    std::fs::write(&sc, &original).unwrap();
    let ep = s.endpoint();
    let base = [
        "setup",
        "--region",
        "us-east-1",
        "--zone-id",
        "use1-az4",
        "--name",
        "pair",
        "--endpoint",
        &ep,
    ];
    let mut write = base.to_vec();
    write.extend(["--scenario", sc.to_str().unwrap()]);
    let o = run(&s, &write);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let new = std::fs::read_to_string(&sc).unwrap();
    assert!(new.starts_with("# my scenario\nname = \"mine\"\n"), "{new}");
    assert!(!new.contains("placeholder"), "{new}");
    assert!(new.contains("bucket = \"pair--use1-az4--x-s3\""), "{new}");
    assert!(new.contains("latency = \"3ms\""), "{new}");
    assert!(new.ends_with(TAIL), "{new}");
    let plan = s3bench::scenario::load(&sc).unwrap();
    assert_eq!(plan.targets.len(), 2);

    // A foreign object keeps the pair: nothing is deleted.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = no_retry_client(&s);
    rt.block_on(async {
        c.put_object()
            .bucket("pair")
            .key("theirs/data.bin")
            .body(b"x".to_vec().into())
            .send()
            .await
            .unwrap();
        c.put_object()
            .bucket("pair")
            .key("s3bench/run-1/a")
            .body(b"y".to_vec().into())
            .send()
            .await
            .unwrap();
    });
    let mut del = base.to_vec();
    del.push("--delete");
    let o = run(&s, &del);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("bucket 'pair' holds 1 object(s) outside s3bench/ (e.g. 'theirs/data.bin')"),
        "{}",
        text(&o)
    );
    assert_eq!(s.object_count("pair"), Some(2));
    assert_eq!(s.object_count("pair--use1-az4--x-s3"), Some(0));

    // With only s3bench/ keys left, both go.
    rt.block_on(async {
        c.delete_object()
            .bucket("pair")
            .key("theirs/data.bin")
            .send()
            .await
            .unwrap();
    });
    let o = run(&s, &del);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(s.object_count("pair"), None);
    assert_eq!(s.object_count("pair--use1-az4--x-s3"), None);
}

fn directory_config(zone: &str, redundancy: Option<DataRedundancy>) -> CreateBucketConfiguration {
    CreateBucketConfiguration::builder()
        .location(
            LocationInfo::builder()
                .r#type(LocationType::AvailabilityZone)
                .name(zone)
                .build(),
        )
        .bucket(
            BucketInfo::builder()
                .r#type(BucketType::Directory)
                .set_data_redundancy(redundancy)
                .build(),
        )
        .build()
}

#[tokio::test]
async fn create_bucket_configuration_is_checked_like_s3() {
    let s = start_server();
    let c = no_retry_client(&s);
    fn fail<T>(r: Result<T, SdkError<CreateBucketError, HttpResponse>>) -> (u16, String, String) {
        let Err(e) = r else {
            panic!("CreateBucket should fail")
        };
        (
            e.raw_response().map_or(0, |r| r.status().as_u16()),
            e.code().unwrap_or_default().to_string(),
            e.message().unwrap_or_default().to_string(),
        )
    }
    let d = "cfg--use1-az4--x-s3";
    // A General Purpose style CreateBucket of a --x-s3 name.
    let (st, code, msg) = fail(c.create_bucket().bucket(d).send().await);
    assert_eq!((st, code.as_str()), (400, "InvalidBucketName"), "{msg}");
    assert!(msg.contains("reserved for directory buckets"), "{msg}");
    // The zone in the name and in the configuration differ.
    let (st, code, msg) = fail(
        c.create_bucket()
            .bucket(d)
            .create_bucket_configuration(directory_config(
                "use1-az6",
                Some(DataRedundancy::SingleAvailabilityZone),
            ))
            .send()
            .await,
    );
    assert_eq!((st, code.as_str()), (400, "InvalidArgument"));
    assert!(
        msg.contains("names zone use1-az4 but the configuration names use1-az6"),
        "{msg}"
    );
    // No data redundancy.
    let (st, _, msg) = fail(
        c.create_bucket()
            .bucket(d)
            .create_bucket_configuration(directory_config("use1-az4", None))
            .send()
            .await,
    );
    assert_eq!(st, 400);
    assert!(msg.contains("lacks Bucket/DataRedundancy"), "{msg}");
    // A directory configuration on a general purpose name.
    let (st, code, _) = fail(
        c.create_bucket()
            .bucket("plain-name")
            .create_bucket_configuration(directory_config(
                "use1-az4",
                Some(DataRedundancy::SingleAvailabilityZone),
            ))
            .send()
            .await,
    );
    assert_eq!((st, code.as_str()), (400, "InvalidBucketName"));
    assert_eq!(s.object_count(d), None);
    assert_eq!(s.object_count("plain-name"), None);
    // The full configuration works.
    c.create_bucket()
        .bucket(d)
        .create_bucket_configuration(directory_config(
            "use1-az4",
            Some(DataRedundancy::SingleAvailabilityZone),
        ))
        .send()
        .await
        .expect("a well-formed directory CreateBucket");
    assert_eq!(s.object_count(d), Some(0));
}

/// A server without directory buckets (here its CreateSession answers
/// NoSuchBucket, as moto's does): setup creates neither bucket, and says in
/// one sentence what the server lacks, not the SDK's raw chain.
#[test]
fn setup_creates_both_buckets_or_neither() {
    let s = start_server();
    let dir = "nodir--use1-az4--x-s3";
    s.set_injection(
        dir,
        s3bench::server::Injection {
            session_error_rate: 1.0,
            error_status: 404,
            error_code: "NoSuchBucket".into(),
            ..Default::default()
        },
    );
    let ep = s.endpoint();
    let o = run(
        &s,
        &[
            "setup",
            "--region",
            "us-east-1",
            "--zone-id",
            "use1-az4",
            "--name",
            "nodir",
            "--endpoint",
            &ep,
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    // (The hermetic environment's AWS_CONFIG_FILE names no file, which
    // aws-config logs as a WARN line: not setup's output.)
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("WARN"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", text(&o));
    assert!(
        lines[0].starts_with("error: could not create directory bucket 'nodir--use1-az4--x-s3': the endpoint has no directory buckets (S3 Express One Zone)")
            && lines[0].contains("CreateSession")
            && lines[0].contains("answered it NoSuchBucket")
            && lines[0].ends_with("nothing was created"),
        "{}",
        text(&o)
    );
    assert!(!err.contains("dispatch failure"), "{err}");
    // Neither bucket exists; the General Purpose one was never asked for.
    assert_eq!(s.object_count("nodir"), None);
    assert_eq!(s.object_count(dir), None);
    assert_eq!(s.counters().requests("nodir", "CreateBucket"), 0);
    assert!(
        o.stdout.is_empty(),
        "no [targets] block for a pair that is not there"
    );
}
