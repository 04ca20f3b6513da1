//! The run's preflight runs doctor's checks, and the data set is written
//! create-only: an object another writer put at a key of the data set is
//! never overwritten nor deleted.

use std::path::Path;
use std::sync::Arc;

use crate::common::run_against;
use s3bench::engine::Cancel;
use s3bench::plan::RunOptions;
use s3bench::run::phases::PrepareCollision;
use s3bench::scenario::Plan;
use s3bench::targets::{embedded_targets, start_embedded};

use crate::common::{self, DIR, GP, client, preflight, scenario, scenario_text, two_targets};

fn plan(request_path: &str, objects: u64) -> Plan {
    let rest = format!(
        r#"
[dataset]
objects = {objects}
size = "2KiB"
[client]
request_path = "{request_path}"
[[phase]]
name = "get"
ops = 20
concurrency = 2
mix = [{{ op = "get" }}]
"#
    );
    scenario(&scenario_text("name = \"race\"", two_targets(), &rest))
}

/// [`common::opts`] with a run id.
fn opts(dir: &Path, run_id: &str) -> RunOptions {
    RunOptions {
        run_id: Some(run_id.to_string()),
        ..common::opts(dir)
    }
}

async fn body_of(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    let o = c.get_object().bucket(bucket).key(key).send().await.unwrap();
    o.body.collect().await.unwrap().into_bytes().to_vec()
}

/// Another writer puts an object at a data-set key after the preflight saw
/// the prefix empty (the embedded endpoint's rival-PUT hook stores it just
/// before the run's own PUT of that key arrives). The create-only PUT gets
/// 412, the run stops with one sentence before measuring, and the rival's
/// object keeps its content and is not deleted; on both request paths and
/// both bucket kinds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_never_overwrites_or_deletes_a_rivals_object() {
    for path in ["direct", "sdk"] {
        let plan = plan(path, 12);
        let server = start_embedded(&plan).unwrap();
        let run_id = format!("race-{path}");
        let key = format!("s3bench/{run_id}/00000005");
        let rival = b"written by someone else".to_vec();
        for b in [GP, DIR] {
            server.set_rival_put(b, &key, rival.clone());
        }
        let dir = tempfile::tempdir().unwrap();
        let targets = embedded_targets(&plan, &server);
        let err = match run_against(
            plan,
            targets,
            opts(dir.path(), &run_id),
            Arc::new(Cancel::default()),
        )
        .await
        {
            Ok(_) => panic!("{path}: the run went on over a rival's object"),
            Err(e) => e,
        };
        assert!(err.downcast_ref::<PrepareCollision>().is_some(), "{err:#}");
        let msg = err.to_string();
        for b in [GP, DIR] {
            assert!(
                msg.contains(&format!(
                    "1 object(s) of the data set already existed in bucket '{b}'"
                )),
                "{path}: {msg}"
            );
        }
        assert!(msg.contains("412 PreconditionFailed"), "{msg}");
        assert!(msg.contains("overwrote and deleted nothing"), "{msg}");
        let c = client(&server);
        for b in [GP, DIR] {
            assert_eq!(
                body_of(&c, b, &key).await,
                rival,
                "{path} {b}: rival's content"
            );
            // Nothing was deleted: the 11 objects this run wrote and the rival's.
            assert_eq!(server.object_count(b), Some(12), "{path} {b}");
            let n = server.counters();
            assert_eq!(n.requests(b, "DeleteObjects"), 0, "{path} {b}: no cleanup");
            // The preflight's second create-only probe PUT and the data
            // set's PUT of the rival's key: the two 412s.
            assert_eq!(n.get(b, "PutObject").errors, 2, "{path} {b}");
        }
        // The result says what happened, with the prepare phase's counts.
        let json = std::fs::read_to_string(dir.path().join(&run_id).join("result.json")).unwrap();
        let r: s3bench::report::model::RunResult = serde_json::from_str(&json).unwrap();
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("another writer uses this run prefix")),
            "{:?}",
            r.warnings
        );
        let prepare = r.phases.iter().find(|p| p.name == "prepare").unwrap();
        for t in &prepare.targets {
            assert_eq!(
                t.ops["put"].errors_by_kind["412 PreconditionFailed"], 1,
                "{path}"
            );
            assert_eq!(preflight(&r, &t.target, "PutObject"), 2);
        }
        server.shutdown();
    }
}

/// An object already under the run prefix before the run (a reused run id):
/// the preflight refuses in one sentence, and the object keeps its content
/// and is not deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_run_prefix_is_refused_and_left_alone() {
    let plan = plan("direct", 4);
    let server = start_embedded(&plan).unwrap();
    let c = client(&server);
    let key = "s3bench/reused/00000001";
    let old = b"an earlier run's object".to_vec();
    c.put_object()
        .bucket(GP)
        .key(key)
        .body(old.clone().into())
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let targets = embedded_targets(&plan, &server);
    let err = run_against(
        plan,
        targets,
        opts(dir.path(), "reused"),
        Arc::new(Cancel::default()),
    )
    .await
    .err()
    .expect("the run is refused");
    assert!(
        err.downcast_ref::<s3bench::run::PreflightError>().is_some(),
        "{err:#}"
    );
    let msg = err.to_string();
    assert_eq!(msg.lines().count(), 1, "one sentence: {msg}");
    assert!(
        msg.contains("the run prefix s3bench/reused/ already holds objects"),
        "{msg}"
    );
    assert_eq!(body_of(&c, GP, key).await, old);
    assert_eq!(server.object_count(GP), Some(1));
    // Nothing was written: no PUT but the test's own.
    assert_eq!(server.counters().requests(GP, "PutObject"), 1);
    assert!(!dir.path().join("reused").exists(), "no run folder");
}

/// The embedded endpoint serving HTTPS with the committed test certificate
/// (tests/fixtures/tls, made by its gen.sh), with the plan's buckets.
fn tls_server(plan: &Plan) -> s3bench::server::EmbeddedServer {
    let tls = s3bench::server::tls_config(
        include_bytes!("../fixtures/tls/server.pem"),
        include_bytes!("../fixtures/tls/server.key"),
    )
    .unwrap();
    let server = s3bench::server::EmbeddedServer::start(s3bench::server::ServerConfig {
        tls: Some(tls),
        ..Default::default()
    })
    .unwrap();
    for t in &plan.targets {
        server.create_bucket(&t.bucket).unwrap();
    }
    server
}

fn with_ca_file(request_path: &str) -> Plan {
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/ca.pem");
    let rest = format!(
        r#"
[dataset]
objects = 8
size = "2KiB"
[client]
request_path = "{request_path}"
[[phase]]
name = "get"
ops = 40
concurrency = 2
mix = [{{ op = "get" }}, {{ op = "put" }}]
"#
    );
    let targets = two_targets().both(&format!("ca_file = \"{ca}\""));
    scenario(&scenario_text("name = \"tls\"\nrounds = 1", targets, &rest))
}

/// Over HTTPS with a private CA: a target's `ca_file` is what both the
/// SDK's client and the direct path trust, CreateSession included, and the
/// endpoint's counts match the report's. Without it the run stops in the
/// preflight with one sentence per target about TLS trust.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_endpoint_with_a_private_ca_needs_ca_file() {
    for path in ["direct", "sdk"] {
        let plan = with_ca_file(path);
        let server = tls_server(&plan);
        assert!(server.endpoint().starts_with("https://127.0.0.1:"));
        let dir = tempfile::tempdir().unwrap();
        let targets = embedded_targets(&plan, &server);
        let out = run_against(
            plan,
            targets,
            opts(dir.path(), &format!("tls-{path}")),
            Arc::new(Cancel::default()),
        )
        .await
        .unwrap_or_else(|e| panic!("{path}: {e:#}"));
        let r = &out.result;
        assert!(r.complete);
        let want = if path == "direct" {
            "direct"
        } else {
            "aws-sdk-s3"
        };
        let c = server.counters();
        for (name, bucket) in [("standard", GP), ("express", DIR)] {
            let t = r.targets.iter().find(|t| t.name == name).unwrap();
            assert_eq!(t.request_path, want, "{path} {name}");
            let get = r.phases.iter().find(|p| p.name == "get").unwrap();
            let ops = &get.targets.iter().find(|t| t.target == name).unwrap().ops;
            assert_eq!(ops["get"].errors + ops["put"].errors, 0, "{path} {name}");
            assert_eq!(ops["get"].count + ops["put"].count, 40);
            assert_eq!(
                c.requests(bucket, "GetObject"),
                ops["get"].requests + preflight(r, name, "GetObject"),
                "{path} {name}"
            );
        }
        assert!(c.requests(DIR, "CreateSession") > 0);
        server.shutdown();
    }

    // The same endpoint without ca_file: the system's store does not know
    // the test CA.
    let mut plan = with_ca_file("direct");
    for t in &mut plan.targets {
        t.ca_file = None;
    }
    let server = tls_server(&plan);
    let dir = tempfile::tempdir().unwrap();
    let targets = embedded_targets(&plan, &server);
    let err = run_against(
        plan,
        targets,
        opts(dir.path(), "tls-untrusted"),
        Arc::new(Cancel::default()),
    )
    .await
    .err()
    .expect("an untrusted certificate stops the run");
    assert!(
        err.downcast_ref::<s3bench::run::PreflightError>().is_some(),
        "{err:#}"
    );
    let msg = err.to_string();
    let lines: Vec<&str> = msg.lines().collect();
    assert_eq!(lines.len(), 2, "one sentence per target: {msg}");
    for (line, name) in lines.iter().zip(["standard", "express"]) {
        assert!(line.starts_with(&format!("target '{name}'")), "{line}");
        assert!(
            line.contains("TLS does not trust the endpoint's certificate (invalid peer certificate: UnknownIssuer)"),
            "{line}"
        );
        assert!(line.contains("set ca_file = \"path/to/ca.pem\""), "{line}");
    }
    // Nothing got past the handshake.
    assert!(
        server.counters().buckets.is_empty(),
        "{:?}",
        server.counters()
    );
    assert!(!dir.path().join("tls-untrusted").exists());
}

/// `run --resume` goes on with a run prefix an earlier run with the same
/// run id left its data set in (`--keep-data`): the preflight warns instead
/// of refusing, prepare's create-only PUTs get 412 at every key and keep the
/// earlier objects (one of them given a marker body), the measured GETs
/// find them all, and the report says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_keeps_an_earlier_runs_data_set() {
    let plan = plan("direct", 6);
    let server = start_embedded(&plan).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = RunOptions {
        keep_data: true,
        ..opts(dir.path(), "again")
    };
    let targets = embedded_targets(&plan, &server);
    run_against(plan.clone(), targets, first, Arc::new(Cancel::default()))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    for b in [GP, DIR] {
        assert_eq!(server.object_count(b), Some(6), "{b}: the kept data set");
    }
    // Mark one object of the kept data set (same size), to see it survive.
    let c = client(&server);
    let key = "s3bench/again/00000003";
    let marker = vec![b'm'; 2048];
    c.put_object()
        .bucket(GP)
        .key(key)
        .body(marker.clone().into())
        .send()
        .await
        .unwrap();
    let puts_before = server.counters().requests(GP, "PutObject");

    let second = RunOptions {
        resume: true,
        keep_data: true,
        ..opts(dir.path(), "again")
    };
    let targets = embedded_targets(&plan, &server);
    let out = run_against(plan, targets, second, Arc::new(Cancel::default()))
        .await
        .unwrap_or_else(|e| panic!("--resume: {e:#}"));
    let r = &out.result;
    assert!(r.complete);
    for name in ["standard", "express"] {
        assert!(
            r.warnings
                .iter()
                .any(|w| w.starts_with(&format!("target '{name}'"))
                    && w.contains(
                        "resuming (--resume): the run prefix s3bench/again/ already holds objects"
                    )),
            "{:?}",
            r.warnings
        );
        assert!(
            r.warnings.iter().any(|w| w.contains(&format!(
                "prepare (--resume): 6 object(s) of the data set were already under s3bench/again/ on target '{name}' and were kept"
            ))),
            "{:?}",
            r.warnings
        );
        let prepare = r.phases.iter().find(|p| p.name == "prepare").unwrap();
        let t = prepare.targets.iter().find(|t| t.target == name).unwrap();
        assert_eq!(t.ops["put"].errors_by_kind["412 PreconditionFailed"], 6);
        let get = r.phases.iter().find(|p| p.name == "get").unwrap();
        let t = get.targets.iter().find(|t| t.target == name).unwrap();
        assert_eq!(t.ops["get"].errors, 0, "{name}: {:?}", t.ops["get"]);
        assert_eq!(t.ops["get"].count, 20 * u64::from(get.rounds), "{name}");
    }
    // The second run's PUTs: prepare's six 412s and the preflight's probe.
    assert_eq!(
        server.counters().requests(GP, "PutObject") - puts_before,
        6 + preflight(r, "standard", "PutObject")
    );
    // The marker was not overwritten, and nothing was added or deleted.
    assert_eq!(body_of(&c, GP, key).await, marker);
    for b in [GP, DIR] {
        assert_eq!(server.object_count(b), Some(6), "{b}");
    }
    server.shutdown();
}
