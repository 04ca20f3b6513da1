//! The express operations through the real engine (both request paths)
//! against the embedded endpoint: append, the rename checkpoint commit,
//! conditional-put contention and copy, with the endpoint's counters and
//! the objects it holds checked against the report; and every checksum
//! algorithm on both paths, proved sent by the endpoint's own checks.

use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use s3bench::client::checksum::upload_checksum;
use s3bench::client::direct::sign::{Creds, Signer, ToSign, amz_date};
use s3bench::report::model::{OpResult, RunResult};
use s3bench::scenario::{ChecksumMode, parse};
use s3bench::server::EmbeddedServer;
use s3bench::targets::start_embedded;

use crate::common::{self, DIR, GP, two_targets};

fn scenario(path: &str, cleanup: bool) -> String {
    format!(
        r#"
name = "express-ops-e2e"
rounds = 1
cleanup = {cleanup}
{targets}[dataset]
objects = 8
size = "8KiB"
[client]
request_path = "{path}"
checksum = "crc32c"
[[phase]]
name = "append"
ops = 60
concurrency = 4
mix = [{{ op = "append", size = "4KiB", appends = 5, gp_equivalent = "rewrite" }}]
[[phase]]
name = "commit"
ops = 20
concurrency = 2
mix = [{{ op = "rename", size = "16KiB", gp_equivalent = "copy-delete" }}]
[[phase]]
name = "locks"
ops = 96
concurrency = 8
mix = [{{ op = "conditional-put", mode = "create-only", contention = 8, size = "1KiB" }}]
[[phase]]
name = "cas"
ops = 80
concurrency = 8
mix = [{{ op = "conditional-put", mode = "compare-and-swap", contention = 8, size = "100B" }}]
[[phase]]
name = "copy"
ops = 20
concurrency = 2
mix = [{{ op = "copy" }}]
"#,
        targets = two_targets(),
    )
}

async fn run(server: &EmbeddedServer, toml: &str, dir: &Path) -> RunResult {
    common::run_on(server, common::scenario(toml), dir).await
}

fn op<'a>(r: &'a RunResult, phase: &str, target: &str, op: &str) -> &'a OpResult {
    r.phases
        .iter()
        .find(|p| p.name == phase)
        .and_then(|p| p.targets.iter().find(|t| t.target == target))
        .and_then(|t| t.ops.get(op))
        .unwrap_or_else(|| panic!("{phase}/{target}/{op} missing"))
}

/// Requests of `op` over every phase of `target`.
fn requests(r: &RunResult, target: &str, op: &str) -> u64 {
    r.phases
        .iter()
        .flat_map(|p| p.targets.iter().filter(|t| t.target == target))
        .filter_map(|t| t.ops.get(op))
        .map(|o| o.requests)
        .sum()
}

fn conditional(o: &OpResult) -> u64 {
    o.failures.get("conditional").map_or(0, |f| f.count)
}

/// (key, size) of every object under `prefix`.
async fn objects(c: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = c
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .expect("list");
        for o in page.contents() {
            out.push((o.key().unwrap().to_string(), o.size().unwrap() as u64));
        }
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            return out;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn express_ops_direct_path_counts_and_objects_match_the_report() {
    express_ops("direct", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn express_ops_sdk_path_counts_match_and_cleanup_removes_everything() {
    express_ops("sdk", true).await;
}

async fn express_ops(path: &str, cleanup: bool) {
    let toml = scenario(path, cleanup);
    let plan = parse(&toml, Path::new("inline.toml")).unwrap();
    let server = start_embedded(&plan).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = run(&server, &toml, dir.path()).await;
    let c = server.counters();
    assert!(r.complete);
    let want_path = if path == "sdk" {
        "aws-sdk-s3"
    } else {
        "direct"
    };
    for t in &r.targets {
        assert_eq!(t.request_path, want_path);
    }

    // Directory bucket: real appends and renames, counted by the endpoint.
    let n = |bucket: &str, op: &str| c.requests(bucket, op);
    let append = op(&r, "append", "express", "append");
    assert_eq!((append.count, append.errors), (60, 0), "{append:?}");
    assert_eq!(append.bytes, 60 * 4096);
    assert_eq!(n(DIR, "AppendObject"), append.requests);
    let rename = op(&r, "commit", "express", "rename");
    assert_eq!((rename.count, rename.errors), (20, 0));
    assert_eq!(op(&r, "commit", "express", "put").count, 20);
    assert_eq!(n(DIR, "RenameObject"), 20);
    // Copies are signed with the base credentials: a session-signed one
    // would be refused (403), so none failed.
    let copy = op(&r, "copy", "express", "copy");
    assert_eq!((copy.count, copy.errors), (20, 0));
    assert_eq!(n(DIR, "CopyObject"), 20);

    // General Purpose: the equivalents, named in the phase's load line,
    // and no directory-only request sent.
    let load = |phase: &str| &r.phases.iter().find(|p| p.name == phase).unwrap().load;
    assert!(load("append").ends_with("append is a full rewrite of the object"));
    assert!(load("commit").ends_with("rename is CopyObject + DeleteObject"));
    assert!(!load("locks").contains("General Purpose"));
    assert_eq!(n(GP, "AppendObject") + n(GP, "RenameObject"), 0);
    assert_eq!(op(&r, "append", "standard", "append").errors, 0);
    assert_eq!(n(GP, "CopyObject"), 20 + 20, "copy-delete commits + copies");
    assert_eq!(op(&r, "commit", "standard", "rename").requests, 40);

    for (name, bucket) in [("standard", GP), ("express", DIR)] {
        // Every PUT and HEAD the endpoint saw is in the report, and every
        // PutObject error is a lost race of a conditional put.
        assert_eq!(
            n(bucket, "PutObject") + n(bucket, "HeadObject"),
            requests(&r, name, "put")
                + requests(&r, name, "conditional_put")
                + requests(&r, name, "append") * u64::from(name == "standard")
                + crate::common::preflight(&r, name, "PutObject")
                + crate::common::preflight(&r, name, "HeadObject")
                + crate::common::audited(&r, name, "HeadObject"),
            "{name}"
        );
        // Every audit held: the endpoint did what it answered.
        for p in r.phases.iter().filter(|p| p.is_measured()) {
            let t = p.targets.iter().find(|t| t.target == name).unwrap();
            for a in &t.audits {
                assert_eq!(
                    a.verdict,
                    s3bench::report::model::AuditVerdict::Held,
                    "{name} {}: {a:?}",
                    p.name
                );
            }
        }
        let locks = op(&r, "locks", name, "conditional_put");
        let cas = op(&r, "cas", name, "conditional_put");
        assert_eq!(locks.count, 96);
        assert_eq!(
            locks.errors,
            conditional(locks),
            "{:?}",
            locks.errors_by_kind
        );
        assert_eq!(cas.errors, conditional(cas), "{:?}", cas.errors_by_kind);
        assert!(conditional(locks) > 0 && locks.successes > 0);
        assert_eq!(
            c.get(bucket, "PutObject").errors,
            // + the preflight's check that If-None-Match: * is honoured:
            // its second create-only probe PUT is refused with 412.
            conditional(locks) + conditional(cas) + 1,
            "{name}"
        );
        // Lost races are no failure: no warning names them.
        let md = std::fs::read_to_string(
            std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.is_dir())
                .unwrap()
                .join("report.md"),
        )
        .unwrap();
        assert!(md.contains("### Conditional outcomes"), "{md}");
        assert!(!md.contains("conditional_put (locks phase)"), "{md}");

        if cleanup {
            assert_eq!(
                server.object_count(bucket),
                Some(0),
                "{name} not cleaned up"
            );
            continue;
        }
        let sdk = common::client(&server);
        let prefix = &r.run_prefix;
        let held = |sub: &'static str| {
            let sdk = sdk.clone();
            async move { objects(&sdk, bucket, &format!("{prefix}{sub}")).await }
        };
        // Create-only: exactly one winner per key.
        assert_eq!(held("lock/").await.len() as u64, locks.successes, "{name}");
        // Compare-and-swap lost no update: each key's length counts its
        // successful writes (created at 100 B, one byte per update).
        let grown: u64 = held("cas/").await.iter().map(|(_, n)| n - 100 + 1).sum();
        assert_eq!(grown, cas.successes, "{name}");
        // Checkpoints are all in place, none left under tmp/.
        assert_eq!(held("ckpt/").await.len(), 20, "{name}");
        assert!(held("tmp/").await.is_empty(), "{name}");
        assert_eq!(held("copy/").await.len(), 20, "{name}");
        // Appended objects: 60 appends of 4 KiB in objects of at most 5.
        let appended = held("append/").await;
        assert_eq!(
            appended.iter().map(|(_, n)| n).sum::<u64>(),
            60 * 4096,
            "{name}"
        );
        assert!(appended.iter().all(|(_, n)| *n <= 5 * 4096));
    }
    if !cleanup {
        // Byte-exact: an appended object is its appends, back to back.
        let sdk = common::client(&server);
        let (key, size) = objects(&sdk, DIR, &format!("{}append/", r.run_prefix))
            .await
            .into_iter()
            .next()
            .unwrap();
        let body = sdk
            .get_object()
            .bucket(DIR)
            .key(&key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        let one = s3bench::synthetic::window(0, 4096);
        assert_eq!(body.len() as u64, size);
        for chunk in body.chunks(4096) {
            assert_eq!(chunk, &one[..]);
        }
        // Byte-exact: a renamed (or copied and deleted) checkpoint is the
        // PUT it was written as.
        for bucket in [DIR, GP] {
            let (key, _) = objects(&sdk, bucket, &format!("{}ckpt/", r.run_prefix))
                .await
                .into_iter()
                .next()
                .unwrap();
            let body = sdk
                .get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes();
            assert_eq!(body, s3bench::synthetic::window(0, 16 * 1024), "{bucket}");
        }
    }
}

/// Each checksum algorithm on both request paths: every upload is accepted
/// (the endpoint verifies each x-amz-checksum-* it gets), and two things
/// prove which algorithm was sent. Every object written (PUT, append,
/// create-only PUT) returns its checksum under checksum mode in that
/// algorithm, or in CRC64NVME (what S3 adds) for `none`, with the value of
/// its bytes; and the endpoint's append rule: an object remembers its
/// algorithm, and an append with another one is refused "Checksum Type
/// mismatch" (for `none`, with no algorithm recorded, a CRC32 append is
/// taken, which a CRC64NVME one would not make so).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_checksum_is_sent_and_verified_on_both_paths() {
    for path in ["direct", "sdk"] {
        for alg in ["none", "crc32", "crc32c", "crc64nvme", "sha256"] {
            let toml = format!(
                r#"
name = "checksums"
rounds = 1
cleanup = false
[targets.express]
kind = "directory"
bucket = "{DIR}"
region = "us-east-1"
[prepare]
enabled = false
[client]
request_path = "{path}"
checksum = "{alg}"
[[phase]]
name = "p"
ops = 12
concurrency = 2
mix = [
  {{ op = "append", size = "4KiB", appends = 3 }},
  {{ op = "put", size = "100KiB" }},
  {{ op = "conditional-put", mode = "create-only", size = "1KiB" }},
]
"#
            );
            let plan = parse(&toml, Path::new("inline.toml")).unwrap();
            let server = start_embedded(&plan).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let r = run(&server, &toml, dir.path()).await;
            let t = &r.phases.iter().find(|p| p.name == "p").unwrap().targets[0];
            let total: u64 = t.ops.values().map(|o| o.count).sum();
            let errors: u64 = t.ops.values().map(|o| o.errors).sum();
            assert_eq!((total, errors), (12, 0), "{path} {alg}: {:?}", t.ops);
            let sdk = common::client(&server);
            let written = objects(&sdk, DIR, &r.run_prefix).await;
            assert!(written.len() >= 3, "{path} {alg}: {written:?}");
            let want = if alg == "none" { "crc64nvme" } else { alg };
            for (key, size) in &written {
                let o = sdk
                    .get_object()
                    .bucket(DIR)
                    .key(key)
                    .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
                    .send()
                    .await
                    .unwrap();
                let sent: Vec<(&str, String)> = [
                    ("crc32", o.checksum_crc32()),
                    ("crc32c", o.checksum_crc32_c()),
                    ("crc64nvme", o.checksum_crc64_nvme()),
                    ("sha256", o.checksum_sha256()),
                ]
                .into_iter()
                .filter_map(|(n, v)| Some((n, v?.to_string())))
                .collect();
                let mode = ChecksumMode::ALL
                    .into_iter()
                    .find(|m| m.name() == want)
                    .unwrap();
                let ctx = format!("{path} {alg} {key}: {sent:?}");
                assert_eq!(sent.len(), 1, "{ctx}");
                assert_eq!(sent[0].0, want, "{ctx}");
                // The value is that of the object's bytes (SDK validated
                // it while reading; an append's is over all its appends).
                let bytes = o.body.collect().await.unwrap().into_bytes();
                assert_eq!(bytes.len() as u64, *size, "{ctx}");
                let (_, value) = upload_checksum(mode, [&bytes[..]]).unwrap();
                assert_eq!(sent[0].1, value, "{ctx}");
            }
            let (key, size) = objects(&sdk, DIR, &format!("{}append/", r.run_prefix))
                .await
                .into_iter()
                .next()
                .expect("an appended object");
            // Append with an algorithm the run did not use.
            let other = if alg == "crc32" {
                ChecksumAlgorithm::Sha256
            } else {
                ChecksumAlgorithm::Crc32
            };
            let res = sdk
                .put_object()
                .bucket(DIR)
                .key(&key)
                .write_offset_bytes(size as i64)
                .checksum_algorithm(other)
                .body(ByteStream::from_static(b"more"))
                .send()
                .await;
            if alg == "none" {
                assert!(res.is_ok(), "{path}: no checksum was recorded: {res:?}");
            } else {
                let e = res.expect_err("a checksum of another type is refused");
                let msg = format!("{:?}", e.into_service_error());
                assert!(
                    msg.contains(&format!("expected checksum Type: {alg}")),
                    "{path} {alg}: {msg}"
                );
            }
        }
    }
}

/// A wrong upload checksum is refused. The direct path's own pieces sign and
/// checksum the request as `DirectClient` does (the checksum header signed
/// with the rest); over the body the endpoint accepts it, over another body
/// it answers 400 BadDigest and stores nothing, for every algorithm.
/// (aws-sdk-s3 sending a wrong checksum: express_ops.rs.)
#[tokio::test]
async fn a_wrong_checksum_signed_by_the_direct_path_is_refused() {
    use sha2::Digest as _;
    let server = common::start_server();
    server.create_bucket(GP).unwrap();
    let host = server.addr().to_string();
    let signer = Signer::new(server.region(), "s3");
    let creds = Creds {
        access_key: server.access_key().to_string(),
        secret: server.secret_key().to_string(),
        token: None,
        expiry: None,
        fetched: std::time::SystemTime::now(),
        id: 1,
    };
    let body = s3bench::synthetic::window(0, 4096);
    let other = s3bench::synthetic::window(1, 4096);
    let payload_hash = hex::encode(sha2::Sha256::digest(&body));
    let mut stored = 0;
    for mode in ChecksumMode::ALL {
        let Some(_) = upload_checksum(mode, [&body[..]]) else {
            continue;
        };
        for (over, want) in [(&body, 200), (&other, 400)] {
            let (name, value) = upload_checksum(mode, [&over[..]]).unwrap();
            let path = format!("/{GP}/sum-{}-{want}", mode.name());
            let secs = std::time::UNIX_EPOCH.elapsed().unwrap().as_secs();
            let date = amz_date(secs);
            let auth = signer.authorization(
                &ToSign {
                    method: "PUT",
                    path: &path,
                    host: &host,
                    range: None,
                    payload_hash: &payload_hash,
                    amz_date: &date,
                    extra: &[(name, &value)],
                },
                &creds,
            );
            let (status, reply) = common::raw_request_with_body(
                server.addr(),
                "PUT",
                &path,
                &[
                    ("authorization", &auth),
                    ("x-amz-date", &date),
                    ("x-amz-content-sha256", &payload_hash),
                    (name, &value),
                ],
                &body,
            )
            .await;
            assert_eq!(status, want, "{mode:?}: {reply}");
            if want == 400 {
                assert!(reply.contains("<Code>BadDigest</Code>"), "{reply}");
            } else {
                stored += 1;
            }
        }
    }
    assert_eq!(stored, 4);
    assert_eq!(server.object_count(GP), Some(4));
}

/// A multipart PUT under every `[client] checksum` completes on both bucket
/// kinds: the complete request names each part's checksum, which S3 needs
/// of a COMPOSITE upload (SHA-256 here; the embedded endpoint refuses it
/// otherwise, as S3 does), and the object keeps the checksum S3 would give
/// it: s3bench asks for FULL_OBJECT where S3 has it (the CRCs, so a whole
/// GET can be checked), SHA-256 is COMPOSITE `-N` only. (Multipart goes
/// through aws-sdk-s3 on either request path.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_puts_carry_part_checksums_into_the_complete_request() {
    for alg in ["none", "crc32", "crc32c", "crc64nvme", "sha256"] {
        let toml = format!(
            r#"
name = "mpu-checksums"
rounds = 1
cleanup = false
{targets}[prepare]
enabled = false
[client]
checksum = "{alg}"
[[phase]]
name = "p"
ops = 4
concurrency = 1
mix = [{{ op = "multipart-put", size = "6MiB", part_size = "5MiB" }}]
"#,
            targets = two_targets(),
        );
        let plan = parse(&toml, Path::new("inline.toml")).unwrap();
        let server = start_embedded(&plan).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let r = run(&server, &toml, dir.path()).await;
        let sdk = common::client(&server);
        for (target, bucket) in [("standard", GP), ("express", DIR)] {
            let o = op(&r, "p", target, "multipart_put");
            let written = objects(&sdk, bucket, &r.run_prefix).await;
            assert!(o.count >= 1, "{alg} {target}: {o:?}");
            assert_eq!(
                (o.errors, written.len() as u64),
                (0, o.count),
                "{alg} {target}: {o:?}"
            );
            for (key, size) in written {
                assert_eq!(size, 6 << 20, "{alg} {target} {key}");
                let g = sdk
                    .get_object()
                    .bucket(bucket)
                    .key(&key)
                    .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
                    .send()
                    .await
                    .unwrap();
                let composite = alg == "sha256";
                let value = [
                    g.checksum_crc32(),
                    g.checksum_crc32_c(),
                    g.checksum_crc64_nvme(),
                    g.checksum_sha256(),
                ]
                .into_iter()
                .flatten()
                .next()
                .unwrap_or_default();
                assert_eq!(value.ends_with("-2"), composite, "{alg} {target}: {value}");
                let want = if alg == "none" { "crc64nvme" } else { alg };
                let named = match want {
                    "crc32" => g.checksum_crc32(),
                    "crc32c" => g.checksum_crc32_c(),
                    "crc64nvme" => g.checksum_crc64_nvme(),
                    _ => g.checksum_sha256(),
                };
                assert!(named.is_some(), "{alg} {target}: {value}");
            }
        }
    }
}
