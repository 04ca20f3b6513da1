//! `s3bench doctor` and the preflight checks: each failure made to happen
//! for real against the embedded endpoint (wrong keys, a missing bucket, a
//! shifted server clock, a read-only key, a fake IMDS on 127.0.0.1), and its
//! one sentence checked.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use s3bench::client::{Auth, TargetConfig};
use s3bench::doctor::{Environment, Finding, Severity, check_target};
use s3bench::scenario::{Plan, TargetKind};
use s3bench::server::EmbeddedServer;

use crate::common::{
    DIR, GP, s3bench, s3bench_for, scenario, scenario_text, start_server, two_targets,
};

/// The pair's scenario: one GET phase, never run (the checks read only
/// its targets).
fn plan() -> Plan {
    let rest = r#"
[dataset]
objects = 2
size = "4KiB"

[[phase]]
name = "p"
duration = "1s"
concurrency = 1
mix = [{ op = "get" }]
"#;
    scenario(&scenario_text(r#"name = "doctor""#, two_targets(), rest))
}

fn server_with_pair() -> EmbeddedServer {
    let s = start_server();
    s.create_bucket(GP).unwrap();
    s.create_bucket(DIR).unwrap();
    s
}

/// A target of the plan against `server` with the given keys.
fn target(server: &EmbeddedServer, kind: TargetKind, ak: &str, sk: &str) -> TargetConfig {
    let p = plan();
    let spec = p.targets.iter().find(|t| t.kind == kind).unwrap();
    TargetConfig::with_static_keys(spec, &p.client, &server.endpoint(), ak, sk)
}

fn good(server: &EmbeddedServer, kind: TargetKind) -> TargetConfig {
    target(server, kind, server.access_key(), server.secret_key())
}

async fn findings(t: &TargetConfig) -> Vec<Finding> {
    check_target(t, &Environment::default()).await
}

/// The one error of a check run; panics with all findings otherwise.
fn the_error(fs: &[Finding]) -> &Finding {
    let errors: Vec<&Finding> = fs.iter().filter(|f| f.is_error()).collect();
    assert_eq!(errors.len(), 1, "expected one error, got {fs:#?}");
    errors[0]
}

fn no_secret(fs: &[Finding], secret: &str) {
    for f in fs {
        assert!(!f.sentence.contains(secret), "secret leaked: {f}");
    }
}

#[tokio::test]
async fn doctor_passes_on_a_good_pair_and_cleans_up() {
    let s = server_with_pair();
    for kind in [TargetKind::GeneralPurpose, TargetKind::Directory] {
        let fs = findings(&good(&s, kind)).await;
        assert!(
            fs.iter().all(|f| f.severity == Severity::Ok),
            "{kind:?}: {fs:#?}"
        );
        let checks: Vec<&str> = fs.iter().map(|f| f.check).collect();
        for c in [
            "credentials",
            "bucket",
            "probe",
            "conditional-writes",
            "contention",
            "clock",
        ] {
            assert!(checks.contains(&c), "{kind:?} lacks {c}: {checks:?}");
        }
        if kind == TargetKind::Directory {
            assert!(checks.contains(&"create-session"), "{checks:?}");
            assert!(
                fs.iter()
                    .any(|f| f.sentence.contains("a directory bucket in zone use1-az4")),
                "{fs:#?}"
            );
        }
        no_secret(&fs, s.secret_key());
    }
    // The probe wrote one object per bucket, create-only; a second
    // create-only PUT of it got 412 (the endpoint honours If-None-Match);
    // it was read and deleted again. Then 8 races of two create-only PUTs
    // on a fresh key: one winner and one 412 each, the key deleted again.
    let c = s.counters();
    for b in [GP, DIR] {
        let ops = &c.buckets[b];
        assert_eq!(ops["PutObject"].requests, 2 + 16, "{b}: {ops:?}");
        assert_eq!(ops["PutObject"].errors, 1 + 8, "{b}: {ops:?}");
        assert_eq!(ops["GetObject"].requests, 1, "{b}: {ops:?}");
        assert_eq!(ops["DeleteObject"].requests, 1 + 8, "{b}: {ops:?}");
        assert_eq!(s.object_count(b), Some(0), "{b}");
    }
    assert_eq!(c.buckets[DIR]["CreateSession"].errors, 0);
}

#[tokio::test]
async fn doctor_says_when_no_credentials_resolve() {
    let s = server_with_pair();
    let mut t = good(&s, TargetKind::GeneralPurpose);
    // aws-config with no provider at all: what the chain gives on a machine
    // with no env keys, profiles, SSO or role.
    t.auth = Auth::Shared(Box::new(
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build(),
    ));
    let fs = findings(&t).await;
    let e = the_error(&fs);
    assert_eq!(e.check, "credentials");
    assert!(
        e.sentence.contains("no AWS credentials were found")
            && e.sentence.contains("AWS_ACCESS_KEY_ID"),
        "{e}"
    );
    assert!(s.counters().buckets.is_empty(), "no request may go out");
}

#[tokio::test]
async fn doctor_names_a_wrong_secret() {
    let s = server_with_pair();
    let wrong = "wRoNgSeCrEtwRoNgSeCrEtwRoNgSeCrEtwRoNgSe";
    for kind in [TargetKind::GeneralPurpose, TargetKind::Directory] {
        let fs = findings(&target(&s, kind, s.access_key(), wrong)).await;
        let e = the_error(&fs);
        assert!(
            e.sentence
                .contains("the endpoint rejected the request signature: the secret key is wrong"),
            "{kind:?}: {e}"
        );
        no_secret(&fs, wrong);
    }
}

#[tokio::test]
async fn doctor_names_a_missing_bucket() {
    let s = start_server();
    let fs = findings(&good(&s, TargetKind::GeneralPurpose)).await;
    let e = the_error(&fs);
    assert_eq!(e.check, "bucket");
    assert!(
        e.sentence.contains(&format!("bucket '{GP}'"))
            && e.sentence
                .contains("the bucket does not exist: create it with `s3bench setup`"),
        "{e}"
    );
    let fs = findings(&good(&s, TargetKind::Directory)).await;
    let e = the_error(&fs);
    assert!(
        e.sentence.contains("the directory bucket does not exist"),
        "{e}"
    );
}

#[tokio::test]
async fn doctor_names_a_wrong_kind() {
    let s = server_with_pair();
    // A general purpose target pointed at a --x-s3 name (a spec built by
    // hand: the scenario validator already refuses this file).
    let mut t = good(&s, TargetKind::GeneralPurpose);
    t.spec.bucket = DIR.to_string();
    let fs = findings(&t).await;
    let e = the_error(&fs);
    assert_eq!(e.check, "kind");
    assert!(
        e.sentence
            .contains("is declared kind = \"general-purpose\" but its name ends with --x-s3"),
        "{e}"
    );
    let mut t = good(&s, TargetKind::Directory);
    t.spec.bucket = GP.to_string();
    let e = findings(&t).await;
    assert!(
        the_error(&e)
            .sentence
            .contains("lacks the --x-s3 suffix of a directory bucket"),
        "{e:#?}"
    );
}

#[tokio::test]
async fn doctor_names_a_wrong_region() {
    let s = server_with_pair();
    for kind in [TargetKind::GeneralPurpose, TargetKind::Directory] {
        let mut t = good(&s, kind);
        t.spec.region = "eu-west-1".to_string();
        let fs = findings(&t).await;
        let e = the_error(&fs);
        assert_eq!(e.check, "region", "{e}");
        assert!(
            e.sentence.contains(
                "the bucket is in region us-east-1, not the declared eu-west-1: set region = \"us-east-1\""
            ),
            "{kind:?}: {e}"
        );
    }
}

#[tokio::test]
async fn doctor_names_a_refused_create_session() {
    let s = server_with_pair();
    s.set_read_only_key("READONLYKEY", "read-only-secret-read-only-secret-00000");
    let fs = findings(&target(
        &s,
        TargetKind::Directory,
        "READONLYKEY",
        "read-only-secret-read-only-secret-00000",
    ))
    .await;
    let e = the_error(&fs);
    assert_eq!(e.check, "create-session");
    assert!(
        e.sentence
            .contains("CreateSession was refused (403 AccessDenied")
            && e.sentence.contains("s3express:CreateSession"),
        "{e}"
    );
    assert_eq!(s.counters().buckets[DIR]["CreateSession"].errors, 1);
}

#[tokio::test]
async fn doctor_names_a_denied_probe_put() {
    let s = server_with_pair();
    s.set_read_only_key("READONLYKEY", "read-only-secret-read-only-secret-00000");
    let fs = findings(&target(
        &s,
        TargetKind::GeneralPurpose,
        "READONLYKEY",
        "read-only-secret-read-only-secret-00000",
    ))
    .await;
    let e = the_error(&fs);
    assert_eq!(e.check, "probe");
    assert!(
        e.sentence.contains("the probe PUT of s3bench/doctor-")
            && e.sentence.contains("was denied (403 AccessDenied)")
            && e.sentence.contains("s3:PutObject"),
        "{e}"
    );
    // Reads worked: the bucket checks before the probe passed.
    assert!(
        fs.iter()
            .any(|f| f.check == "bucket" && f.severity == Severity::Ok),
        "{fs:#?}"
    );
    assert_eq!(s.object_count(GP), Some(0));
}

#[tokio::test]
async fn doctor_errors_past_15_minutes_of_clock_skew() {
    let s = server_with_pair();
    s.set_clock_offset_ms(20 * 60 * 1000);
    let fs = findings(&good(&s, TargetKind::GeneralPurpose)).await;
    let e = the_error(&fs);
    assert_eq!(e.check, "clock");
    assert!(
        e.sentence
            .contains("this machine's clock is more than 15 minutes off")
            && e.sentence.contains("the endpoint's clock is 20m ahead"),
        "{e}"
    );
}

#[tokio::test]
async fn doctor_warns_about_a_few_seconds_of_clock_skew() {
    let s = server_with_pair();
    s.set_clock_offset_ms(-40_000);
    let fs = findings(&good(&s, TargetKind::GeneralPurpose)).await;
    assert!(!fs.iter().any(Finding::is_error), "{fs:#?}");
    let w: Vec<&Finding> = fs.iter().filter(|f| f.severity == Severity::Warn).collect();
    assert_eq!(w.len(), 1, "{fs:#?}");
    assert_eq!(w[0].check, "clock");
    // 40 s, give or take the Date header's whole-second rounding.
    assert!(
        ["39s", "40s", "41s"]
            .iter()
            .any(|d| w[0].sentence.contains(&format!("clock is {d} behind"))),
        "{}",
        w[0]
    );
}

/// A fake IMDSv2 on 127.0.0.1: answers the token PUT and the zone GET, and
/// records the request lines it saw.
fn fake_imds(zone: &'static str) -> (String, Arc<Mutex<Vec<String>>>, TcpListener) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = l.try_clone().unwrap();
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { return };
            let mut buf = vec![0u8; 8192];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let line = req.lines().next().unwrap_or("").to_string();
            let token_ok = req
                .to_lowercase()
                .contains("x-aws-ec2-metadata-token: t0ken");
            log.lock().unwrap().push(line.clone());
            let (status, extra, body) = if line.starts_with("PUT /latest/api/token") {
                (
                    "200 OK",
                    "x-aws-ec2-metadata-token-ttl-seconds: 21600\r\n",
                    "t0ken",
                )
            } else if line.starts_with("GET /latest/meta-data/placement/availability-zone-id")
                && token_ok
            {
                ("200 OK", "", zone)
            } else {
                ("401 Unauthorized", "", "")
            };
            let _ = write!(
                c,
                "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://{addr}"), seen, l)
}

/// `s3bench doctor` on a directory target at `server` (not `--embedded`:
/// the zone check is for real endpoints), credentials from the environment.
fn doctor_bin(
    server: &EmbeddedServer,
    dir: &Path,
    env: &[(&str, &str)],
) -> (i32, String, Duration) {
    let scenario = dir.join("doctor.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"doctor\"\n\n[targets.express]\nkind = \"directory\"\nbucket = \"{DIR}\"\nregion = \"us-east-1\"\nendpoint = \"{}\"\n\n[dataset]\nobjects = 1\nsize = \"4KiB\"\n\n[[phase]]\nname = \"p\"\nduration = \"1s\"\nconcurrency = 1\nmix = [{{ op = \"get\" }}]\n",
            server.endpoint()
        ),
    )
    .unwrap();
    let mut cmd = s3bench_for(server);
    // Instance metadata on: these tests point it at a fake IMDS.
    cmd.arg("doctor")
        .arg(&scenario)
        .env_remove("AWS_EC2_METADATA_DISABLED");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let t0 = Instant::now();
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text, t0.elapsed())
}

#[test]
fn doctor_warns_when_imds_names_another_zone() {
    let s = server_with_pair();
    let dir = tempfile::tempdir().unwrap();
    let (endpoint, seen, _l) = fake_imds("use1-az6");
    let (code, out, _) = doctor_bin(
        &s,
        dir.path(),
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint)],
    );
    assert_eq!(code, 0, "warnings do not fail doctor:\n{out}");
    assert!(
        out.contains("warn: target 'express'")
            && out.contains("this client runs in zone use1-az6 but the bucket is in zone use1-az4"),
        "{out}"
    );
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|l| l.starts_with("PUT /latest/api/token"))
            && seen
                .iter()
                .any(|l| l.starts_with("GET /latest/meta-data/placement/availability-zone-id")),
        "IMDSv2 token then zone: {seen:?}"
    );

    let (endpoint, _seen, _l) = fake_imds("use1-az4");
    let (code, out, _) = doctor_bin(
        &s,
        dir.path(),
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint)],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("this client runs in the bucket's zone use1-az4"),
        "{out}"
    );
}

#[test]
fn doctor_skips_the_zone_check_quietly_without_imds() {
    let s = server_with_pair();
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: connection refused, as off EC2.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let (code, out, took) = doctor_bin(
        &s,
        dir.path(),
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint)],
    );
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("this client runs"), "{out}");
    assert!(!out.to_lowercase().contains("imds"), "{out}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn doctor_cli_names_the_credentials_provider_and_exits_2_on_errors() {
    let s = server_with_pair();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("aws.toml");
    let body = |bucket: &str| {
        format!(
            "name = \"doctor\"\n\n[targets.standard]\nkind = \"general-purpose\"\nbucket = \"{bucket}\"\nregion = \"us-east-1\"\nendpoint = \"{}\"\npath_style = true\n\n[dataset]\nobjects = 1\nsize = \"4KiB\"\n\n[[phase]]\nname = \"p\"\nduration = \"1s\"\nconcurrency = 1\nmix = [{{ op = \"get\" }}]\n",
            s.endpoint()
        )
    };
    let run = |bucket: &str| {
        std::fs::write(&p, body(bucket)).unwrap();
        let out = s3bench_for(&s).arg("doctor").arg(&p).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (code, out) = run(GP);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(
            "credentials come from the EnvironmentVariable provider of aws-config's chain"
        ),
        "{out}"
    );
    assert!(!out.contains(s.secret_key()), "{out}");
    let (code, out) = run("no-such-bucket");
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("the bucket does not exist"), "{out}");
}

#[test]
fn doctor_embedded_passes_on_a_shipped_scenario() {
    let out = s3bench()
        .args(["doctor", "scenarios/small-objects.toml", "--embedded"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}");
    let findings: Vec<&str> = text.lines().filter(|l| l.contains(": target '")).collect();
    assert!(
        findings.iter().all(|l| l.trim_start().starts_with("ok:")),
        "{text}"
    );
    for t in ["standard", "express"] {
        assert!(
            findings.iter().any(|l| l.contains(&format!("target '{t}'"))
                && l.contains("a probe PUT, GET and DELETE")),
            "{t}: {text}"
        );
    }
    assert!(
        text.contains("2 target(s), 0 error(s), 0 warning(s)"),
        "{text}"
    );
}

/// An endpoint that corrupts every GET body (one bit flipped): the probe is
/// read 10 times, each wrong, and the sentence says the endpoint corrupts
/// objects. One that stops after two: a warning that it corrupts data now
/// and then, naming how often, and no error.
#[tokio::test]
async fn doctor_tells_corruption_always_from_now_and_then() {
    let s = server_with_pair();
    let always = s3bench::server::Injection {
        corrupt_rate: 1.0,
        ..Default::default()
    };
    s.set_injection(GP, always.clone());
    let fs = findings(&good(&s, TargetKind::GeneralPurpose)).await;
    let e = the_error(&fs);
    assert_eq!(e.check, "probe");
    assert!(
        e.sentence
            .contains("returned other bytes than were PUT 10 times in 10")
            && e.sentence
                .contains("the endpoint corrupts or caches objects"),
        "{e}"
    );
    assert_eq!(s.counters().buckets[GP]["GetObject"].errors, 10);
    assert_eq!(s.object_count(GP), Some(0));
    // Corruption that stops once the endpoint has corrupted two bodies
    // (the probe waits 50 ms between its GETs; the watcher looks every ms).
    let s = Arc::new(server_with_pair());
    s.set_injection(GP, always);
    let watcher = std::thread::spawn({
        let s = s.clone();
        move || {
            let t0 = std::time::Instant::now();
            while s.counters().get(GP, "GetObject").errors < 2 {
                assert!(t0.elapsed() < Duration::from_secs(30), "no GETs");
                std::thread::sleep(Duration::from_millis(1));
            }
            s.set_injection(GP, s3bench::server::Injection::default());
        }
    });
    let fs = findings(&good(&s, TargetKind::GeneralPurpose)).await;
    watcher.join().unwrap();
    assert!(!fs.iter().any(Finding::is_error), "{fs:#?}");
    let w: Vec<&Finding> = fs.iter().filter(|f| f.severity == Severity::Warn).collect();
    assert_eq!(w.len(), 1, "{fs:#?}");
    let n = s.counters().get(GP, "GetObject").errors;
    assert!(
        w[0].sentence.contains(&format!(
            "returned other bytes than were PUT {n} times before it returned the right ones"
        )) && w[0].sentence.contains("corrupts data now and then"),
        "{}",
        w[0]
    );
    assert_eq!(s.object_count(GP), Some(0));
}

/// A server at `endpoint` answering every request with `status` and
/// `body` (text/html); the request lines it saw.
fn fake_web(status: &'static str, body: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { return };
            let mut buf = vec![0u8; 16384];
            let n = c.read(&mut buf).unwrap_or(0);
            let line = String::from_utf8_lossy(&buf[..n])
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            log.lock().unwrap().push(line);
            let _ = write!(
                c,
                "HTTP/1.1 {status}\r\nserver: not-s3\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://{addr}"), seen)
}

/// A web server (or a proxy) at the endpoint's address: not "the bucket
/// does not exist" but one sentence saying the endpoint is not S3, both
/// for bodiless 404s (which aws-sdk-s3 calls NotFound, as it does a HEAD's
/// 404; the first request is a GET, whose answer on S3 names NoSuchBucket)
/// and for a 200 web page.
#[tokio::test]
async fn doctor_tells_a_web_server_from_a_missing_bucket() {
    let p = plan();
    let spec = p
        .targets
        .iter()
        .find(|t| t.kind == TargetKind::GeneralPurpose)
        .unwrap();
    for (status, body, check, says) in [
        (
            "404 Not Found",
            "",
            "endpoint",
            "answered 404 Not Found without an S3 error",
        ),
        (
            "200 OK",
            "<html><body>hello</body></html>",
            "bucket",
            "answered HTTP 200 with a body that is not an S3 response (text/html)",
        ),
    ] {
        let (endpoint, seen) = fake_web(status, body);
        let t = TargetConfig::with_static_keys(spec, &p.client, &endpoint, "AK", "SK");
        let fs = findings(&t).await;
        let e = the_error(&fs);
        assert_eq!(e.check, check, "{e}");
        assert!(
            e.sentence.contains(says)
                && e.sentence
                    .contains("it does not look like an S3 endpoint; check endpoint =")
                && !e.sentence.contains("does not exist"),
            "{e}"
        );
        let lines = seen.lock().unwrap().clone();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("GET ") && l.contains("list-type=2")),
            "{lines:?}"
        );
    }
}

/// Conditional writes that are not atomic (the endpoint checks, then writes
/// a moment later, as s3s-fs does): the contention probe's two writers both
/// win, and doctor says so in one sentence, a warning. On a working bucket
/// it says exactly one won every race.
#[tokio::test]
async fn doctor_names_conditional_writes_that_are_not_atomic() {
    let s = server_with_pair();
    let racy = s3bench::server::Injection {
        broken: s3bench::server::Broken {
            racy_conditional_writes: true,
            ..Default::default()
        },
        ..Default::default()
    };
    s.set_injection(DIR, racy);
    let fs = findings(&good(&s, TargetKind::Directory)).await;
    assert!(!fs.iter().any(Finding::is_error), "{fs:#?}");
    let w: Vec<&Finding> = fs.iter().filter(|f| f.severity == Severity::Warn).collect();
    assert_eq!(w.len(), 1, "{fs:#?}");
    assert_eq!(w[0].check, "contention");
    assert!(
        w[0].sentence.contains("the endpoint's conditional writes are not atomic: in ")
            && w[0].sentence.contains(" of 8 races of two create-only PUTs (If-None-Match: *) on one key both writers were told they won"),
        "{}",
        w[0]
    );
    // The sequential check alone could not tell: it passed.
    assert!(
        fs.iter()
            .any(|f| f.check == "conditional-writes" && f.severity == Severity::Ok)
    );
    assert_eq!(s.object_count(DIR), Some(0));
    let fs = findings(&good(&s, TargetKind::GeneralPurpose)).await;
    let c = fs.iter().find(|f| f.check == "contention").expect("probed");
    assert_eq!(c.severity, Severity::Ok, "{c}");
    assert!(c.sentence.contains("exactly one won, 8 times in 8"), "{c}");
}

/// A server that sends no x-amz-bucket-region (s3rver, s3s-fs): doctor says
/// the declared region could not be checked, not that the bucket is in it.
#[tokio::test]
async fn doctor_says_when_the_region_could_not_be_checked() {
    let s = server_with_pair();
    s.set_no_region_header(true);
    let fs = findings(&good(&s, TargetKind::GeneralPurpose)).await;
    let b = fs
        .iter()
        .find(|f| f.check == "bucket" && f.severity == Severity::Ok)
        .expect("the bucket check passed");
    assert!(
        b.sentence
            .contains("HeadBucket sent no x-amz-bucket-region")
            && b.sentence
                .contains("the declared region us-east-1 could not be checked"),
        "{b}"
    );
    assert!(!b.sentence.contains("in region us-east-1"), "{b}");
    s.set_no_region_header(false);
    let fs = findings(&good(&s, TargetKind::GeneralPurpose)).await;
    assert!(
        fs.iter()
            .any(|f| f.check == "bucket" && f.sentence.contains("in region us-east-1")),
        "{fs:#?}"
    );
}

/// With AWS_S3_DISABLE_EXPRESS_SESSION_AUTH=true already set, a server that
/// refuses directory-bucket requests (501 NotImplemented) gets a sentence
/// that neither blames CreateSession (none was sent) nor advises setting
/// the variable again; doctor and the run's preflight say the same.
#[test]
fn doctor_does_not_advise_session_auth_off_when_it_is_off() {
    let s = server_with_pair();
    s.set_injection(
        DIR,
        s3bench::server::Injection {
            error_rate: 1.0,
            error_status: 501,
            error_code: "NotImplemented".into(),
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let off = [("AWS_S3_DISABLE_EXPRESS_SESSION_AUTH", "true")];
    let (code, out, _) = doctor_bin(&s, dir.path(), &off);
    assert_eq!(code, 2, "{out}");
    let said: Vec<&str> = out.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(said.len(), 1, "{out}");
    let e = said[0];
    assert!(
        e.contains("with S3 Express session auth already off: it has no directory buckets")
            && e.contains("AWS_S3_DISABLE_EXPRESS_SESSION_AUTH=true is already set")
            && !e.contains("set AWS_S3_DISABLE_EXPRESS_SESSION_AUTH=true (")
            && !e.contains("CreateSession"),
        "{e}"
    );
    // The run's preflight: the same sentence, before anything is written.
    let sc = dir.path().join("doctor.toml");
    let o = s3bench_for(&s)
        .args(["run", sc.to_str().unwrap(), "-q", "--out"])
        .arg(dir.path().join("results"))
        .envs(off)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("AWS_S3_DISABLE_EXPRESS_SESSION_AUTH=true is already set")
            && !err.contains("set AWS_S3_DISABLE_EXPRESS_SESSION_AUTH=true ("),
        "{err}"
    );
}
