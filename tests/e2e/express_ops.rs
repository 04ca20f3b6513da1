//! The 2024-2025 operations on the embedded endpoint, driven by the real
//! aws-sdk-s3 client: append, RenameObject, conditional writes and deletes
//! (with contention), CopyObject across bucket kinds, checksums, and
//! ListObjects v1 / SigV2 answers for older tools.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketInfo, BucketType, ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart,
    CreateBucketConfiguration, DataRedundancy, Delete, LocationInfo, LocationType,
    ObjectIdentifier,
};
use s3bench::server::{EmbeddedServer, ServerConfig};
use s3bench::synthetic;

use crate::common::*;

use crate::common::{DIR, GP};

/// Status and S3 error code of a failed SDK call.
fn failure<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, SdkError<E, HttpResponse>>,
) -> (u16, String) {
    let e = r.expect_err("the request should fail");
    let status = e.raw_response().map_or(0, |r| r.status().as_u16());
    (status, e.code().unwrap_or_default().to_string())
}

/// Status of an SDK call: 200 or the error status.
fn status<T, E>(r: &Result<T, SdkError<E, HttpResponse>>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(e) => e.raw_response().map_or(0, |r| r.status().as_u16()),
    }
}

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n).map(|_| rng.u8(..)).collect()
}

async fn create_buckets(c: &Client) {
    c.create_bucket()
        .bucket(GP)
        .send()
        .await
        .expect("GP bucket");
    c.create_bucket()
        .bucket(DIR)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location(
                    LocationInfo::builder()
                        .r#type(LocationType::AvailabilityZone)
                        .name("use1-az4")
                        .build(),
                )
                .bucket(
                    BucketInfo::builder()
                        .r#type(BucketType::Directory)
                        .data_redundancy(DataRedundancy::SingleAvailabilityZone)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("directory bucket");
}

/// A server with both buckets and a no-retry SDK client (every 4xx/5xx
/// reaches the test).
async fn setup() -> (EmbeddedServer, Client) {
    let s = start_server();
    let c = no_retry_client(&s);
    create_buckets(&c).await;
    (s, c)
}

async fn get(c: &Client, bucket: &str, key: &str) -> Vec<u8> {
    c.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

async fn put(c: &Client, bucket: &str, key: &str, body: &[u8]) -> String {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .expect("put")
        .e_tag()
        .expect("etag")
        .to_string()
}

async fn append(
    c: &Client,
    key: &str,
    offset: i64,
    body: &[u8],
) -> Result<
    aws_sdk_s3::operation::put_object::PutObjectOutput,
    SdkError<aws_sdk_s3::operation::put_object::PutObjectError, HttpResponse>,
> {
    c.put_object()
        .bucket(DIR)
        .key(key)
        .write_offset_bytes(offset)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
}

#[tokio::test]
async fn express_append_grows_objects_byte_exact_and_refuses_wrong_offsets() {
    let (s, c) = setup().await;
    let a = random_bytes(3000, 1);
    let b = random_bytes(5000, 2);
    // Offset 0 creates the object; each append answers the new size.
    let out = append(&c, "log", 0, &a).await.expect("create by append");
    assert_eq!(out.size(), Some(3000));
    let out = append(&c, "log", 3000, &b).await.expect("append");
    assert_eq!(out.size(), Some(8000));
    let mut want = a.clone();
    want.extend_from_slice(&b);
    assert_eq!(get(&c, DIR, "log").await, want, "content after appends");

    // A wrong offset (a second writer that lost the race) is refused.
    assert_eq!(
        failure(append(&c, "log", 3000, &b).await),
        (400, "InvalidWriteOffset".into())
    );
    assert_eq!(
        failure(append(&c, "missing", 10, &b).await),
        (400, "InvalidWriteOffset".into())
    );
    assert_eq!(
        failure(append(&c, "log", 8000, b"").await),
        (400, "InvalidRequest".into()),
        "empty append body"
    );
    let meta = c
        .put_object()
        .bucket(DIR)
        .key("log")
        .write_offset_bytes(8000)
        .metadata("k", "v")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(failure(meta), (400, "InvalidRequest".into()), "metadata");
    assert_eq!(
        get(&c, DIR, "log").await,
        want,
        "failed appends change nothing"
    );

    // Synthetic bodies (what s3bench sends) are stored as lengths, and the
    // appended object reads back as the concatenation that was sent.
    let syn: Vec<u8> = synthetic::chunks(0, 200_000).flatten().collect();
    append(&c, "syn", 0, &syn).await.expect("synthetic create");
    append(&c, "syn", 200_000, &syn[..70_000])
        .await
        .expect("synthetic append");
    let mut want = syn.clone();
    want.extend_from_slice(&syn[..70_000]);
    assert_eq!(get(&c, DIR, "syn").await, want);
    let st = s.storage(DIR).unwrap();
    assert_eq!(
        st.resident_bytes, 8000,
        "only the random bodies take memory"
    );

    // General Purpose buckets have no append.
    let gp = c
        .put_object()
        .bucket(GP)
        .key("log")
        .write_offset_bytes(0)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(failure(gp), (501, "NotImplemented".into()));

    let n = s.counters();
    let ap = n.get(DIR, "AppendObject");
    assert_eq!((ap.requests, ap.errors), (8, 4), "{n:?}");
    // Refused appends were received too (the offset is checked at commit).
    assert_eq!(
        ap.bytes_in,
        3000 + 5000 + 5000 + 5000 + 1 + 200_000 + 70_000
    );
    assert_eq!(n.requests(DIR, "PutObject"), 0, "appends are counted apart");
    assert_eq!(n.get(GP, "AppendObject").errors, 1);

    // The SDK sent CRC32 with every upload above; an append with another
    // checksum algorithm than the object's is refused, the same one works.
    let with = |alg: ChecksumAlgorithm, offset: i64| {
        c.put_object()
            .bucket(DIR)
            .key("log")
            .write_offset_bytes(offset)
            .checksum_algorithm(alg)
            .body(ByteStream::from_static(b"tail"))
            .send()
    };
    assert_eq!(
        failure(with(ChecksumAlgorithm::Crc32C, 8000).await),
        (400, "InvalidRequest".into())
    );
    let out = with(ChecksumAlgorithm::Crc32, 8000)
        .await
        .expect("same algorithm");
    assert_eq!(out.size(), Some(8004));
}

#[tokio::test]
async fn express_rename_moves_content_atomically_with_conditions_and_idempotency() {
    let (s, c) = setup().await;
    let body = random_bytes(10_000, 3);
    let etag = put(&c, DIR, "tmp/ckpt-1", &body).await;
    c.rename_object()
        .bucket(DIR)
        .key("ckpt")
        .rename_source("tmp/ckpt-1")
        .destination_if_none_match("*")
        .send()
        .await
        .expect("rename into place");
    assert_eq!(get(&c, DIR, "ckpt").await, body, "byte-exact after rename");
    let head = c
        .head_object()
        .bucket(DIR)
        .key("ckpt")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag(), Some(etag.as_str()), "the ETag moves with it");
    assert_eq!(
        failure(c.head_object().bucket(DIR).key("tmp/ckpt-1").send().await).0,
        404
    );

    // Create-only commit onto an existing checkpoint: 412, nothing moves.
    put(&c, DIR, "tmp/ckpt-2", b"second").await;
    let r = c
        .rename_object()
        .bucket(DIR)
        .key("ckpt")
        .rename_source("tmp/ckpt-2")
        .destination_if_none_match("*")
        .send()
        .await;
    assert_eq!(failure(r), (412, "PreconditionFailed".into()));
    // Destination If-Match on the current ETag: replaces it.
    c.rename_object()
        .bucket(DIR)
        .key("ckpt")
        .rename_source(format!("/{DIR}/tmp/ckpt-2"))
        .destination_if_match(&etag)
        .send()
        .await
        .expect("compare-and-swap rename");
    assert_eq!(get(&c, DIR, "ckpt").await, b"second");

    // Source conditions.
    let e3 = put(&c, DIR, "src3", b"third").await;
    let r = c
        .rename_object()
        .bucket(DIR)
        .key("dst3")
        .rename_source("src3")
        .source_if_match("\"00000000000000000000000000000000\"")
        .send()
        .await;
    assert_eq!(failure(r), (412, "PreconditionFailed".into()));
    let r = c
        .rename_object()
        .bucket(DIR)
        .key("dst3")
        .rename_source("src3")
        .source_if_none_match(&e3)
        .send()
        .await;
    assert_eq!(failure(r), (412, "PreconditionFailed".into()));
    let r = c
        .rename_object()
        .bucket(DIR)
        .key("dst3")
        .rename_source("src3")
        .source_if_modified_since(DateTime::from(
            SystemTime::now() + Duration::from_secs(3600),
        ))
        .send()
        .await;
    assert_eq!(failure(r), (412, "PreconditionFailed".into()));

    // Idempotency: a retry with the same token succeeds again although the
    // source is gone; the same token with other parameters is refused.
    let ok = c
        .rename_object()
        .bucket(DIR)
        .key("dst3")
        .rename_source("src3")
        .client_token("tok-1")
        .send()
        .await;
    assert!(ok.is_ok(), "{ok:?}");
    let again = c
        .rename_object()
        .bucket(DIR)
        .key("dst3")
        .rename_source("src3")
        .client_token("tok-1")
        .send()
        .await;
    assert!(again.is_ok(), "a retry with the same token: {again:?}");
    put(&c, DIR, "src4", b"4").await;
    let r = c
        .rename_object()
        .bucket(DIR)
        .key("dst4")
        .rename_source("src4")
        .client_token("tok-1")
        .send()
        .await;
    assert_eq!(failure(r), (400, "IdempotencyParameterMismatch".into()));
    assert_eq!(get(&c, DIR, "dst3").await, b"third");

    // Errors: missing source, keys ending in '/', General Purpose bucket.
    let r = c
        .rename_object()
        .bucket(DIR)
        .key("x")
        .rename_source("nope")
        .send()
        .await;
    assert_eq!(failure(r), (404, "NoSuchKey".into()));
    let r = c
        .rename_object()
        .bucket(DIR)
        .key("dir/")
        .rename_source("src4")
        .send()
        .await;
    assert_eq!(failure(r), (400, "InvalidRequest".into()));
    put(&c, GP, "a", b"a").await;
    let r = c
        .rename_object()
        .bucket(GP)
        .key("b")
        .rename_source("a")
        .send()
        .await;
    assert_eq!(failure(r), (501, "NotImplemented".into()));

    let n = s.counters();
    let rn = n.get(DIR, "RenameObject");
    assert_eq!((rn.requests, rn.errors), (11, 7), "{n:?}");
    assert_eq!(s.object_count(DIR), Some(3), "ckpt, dst3, src4");
}

/// Create-only and compare-and-swap PUTs, CompleteMultipartUpload and
/// CopyObject conditions, on one bucket.
async fn conditional_writes(c: &Client, bucket: &str) {
    let put_if = |key: &str, body: &'static [u8], if_match: Option<&str>, create_only: bool| {
        c.put_object()
            .bucket(bucket)
            .key(key)
            .set_if_match(if_match.map(str::to_string))
            .set_if_none_match(create_only.then(|| "*".to_string()))
            .body(ByteStream::from_static(body))
            .send()
    };
    let e1 = put_if("k", b"one", None, true)
        .await
        .expect("create-only on a new key");
    let e1 = e1.e_tag().unwrap().to_string();
    assert_eq!(
        failure(put_if("k", b"two", None, true).await),
        (412, "PreconditionFailed".into())
    );
    assert_eq!(
        failure(put_if("k", b"two", Some("\"0123\""), false).await),
        (412, "PreconditionFailed".into())
    );
    assert_eq!(
        failure(put_if("absent", b"two", Some(&e1), false).await),
        (404, "NoSuchKey".into()),
        "If-Match on a missing key"
    );
    put_if("k", b"two", Some(&e1), false)
        .await
        .expect("swap on the current ETag");
    assert_eq!(get(c, bucket, "k").await, b"two");

    // CompleteMultipartUpload with If-None-Match onto an existing key: 412,
    // and the upload survives: it completes once the key is free.
    let up = c
        .create_multipart_upload()
        .bucket(bucket)
        .key("k")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let part = c
        .upload_part()
        .bucket(bucket)
        .key("k")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"multipart"))
        .send()
        .await
        .unwrap();
    let parts = CompletedMultipartUpload::builder()
        .parts(
            CompletedPart::builder()
                .part_number(1)
                .e_tag(part.e_tag().unwrap())
                .build(),
        )
        .build();
    let complete = |none_match: bool| {
        c.complete_multipart_upload()
            .bucket(bucket)
            .key("k")
            .upload_id(id)
            .multipart_upload(parts.clone())
            .set_if_none_match(none_match.then(|| "*".into()))
            .send()
    };
    assert_eq!(
        failure(complete(true).await),
        (412, "PreconditionFailed".into())
    );
    c.delete_object()
        .bucket(bucket)
        .key("k")
        .send()
        .await
        .unwrap();
    complete(true)
        .await
        .expect("the upload is still there and now completes");
    assert_eq!(get(c, bucket, "k").await, b"multipart");

    // CopyObject: destination conditions and source conditions.
    let copy = c
        .copy_object()
        .bucket(bucket)
        .key("k")
        .copy_source(format!("{bucket}/k"))
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .if_none_match("*")
        .send()
        .await;
    assert_eq!(failure(copy), (412, "PreconditionFailed".into()));
    let copy = c
        .copy_object()
        .bucket(bucket)
        .key("copy")
        .copy_source(format!("{bucket}/k"))
        .copy_source_if_match("\"0123\"")
        .send()
        .await;
    assert_eq!(failure(copy), (412, "PreconditionFailed".into()));
    c.copy_object()
        .bucket(bucket)
        .key("copy")
        .copy_source(format!("{bucket}/k"))
        .if_none_match("*")
        .send()
        .await
        .expect("create-only copy");
    assert_eq!(get(c, bucket, "copy").await, b"multipart");

    // Conditional deletes.
    let del = |key: &str, if_match: &str| {
        c.delete_object()
            .bucket(bucket)
            .key(key)
            .if_match(if_match)
            .send()
    };
    assert_eq!(
        failure(del("copy", "\"0123\"").await),
        (412, "PreconditionFailed".into())
    );
    assert_eq!(failure(del("absent", "*").await), (404, "NoSuchKey".into()));
    let etag = c
        .head_object()
        .bucket(bucket)
        .key("copy")
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();
    del("copy", &etag)
        .await
        .expect("delete on the current ETag");
    del("k", "*").await.expect("delete if it exists");
    assert_eq!(
        failure(c.head_object().bucket(bucket).key("k").send().await).0,
        404
    );
}

#[tokio::test]
async fn express_conditional_writes_and_deletes_on_both_bucket_kinds() {
    let (s, c) = setup().await;
    conditional_writes(&c, GP).await;
    conditional_writes(&c, DIR).await;

    // Directory buckets also match on size and Last-Modified time.
    let body = random_bytes(777, 4);
    put(&c, DIR, "sized", &body).await;
    let head = c
        .head_object()
        .bucket(DIR)
        .key("sized")
        .send()
        .await
        .unwrap();
    let lm = *head.last_modified().unwrap();
    let r = c
        .delete_object()
        .bucket(DIR)
        .key("sized")
        .if_match_size(778)
        .send()
        .await;
    assert_eq!(failure(r), (412, "PreconditionFailed".into()));
    let r = c
        .delete_object()
        .bucket(DIR)
        .key("sized")
        .if_match_last_modified_time(DateTime::from_secs(lm.secs() - 10))
        .send()
        .await;
    assert_eq!(failure(r), (412, "PreconditionFailed".into()));
    c.delete_object()
        .bucket(DIR)
        .key("sized")
        .if_match_size(777)
        .if_match_last_modified_time(lm)
        .send()
        .await
        .expect("size and time match");
    assert_eq!(s.object_count(DIR), Some(0));
    // ...which General Purpose buckets do not have.
    put(&c, GP, "sized", &body).await;
    let r = c
        .delete_object()
        .bucket(GP)
        .key("sized")
        .if_match_size(777)
        .send()
        .await;
    assert_eq!(failure(r), (501, "NotImplemented".into()));
    assert_eq!(s.object_count(GP), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn express_contention_create_only_has_one_winner_and_cas_loses_no_update() {
    // Four server threads, so racing requests really run in parallel.
    let s = EmbeddedServer::start(ServerConfig {
        threads: 4,
        ..ServerConfig::default()
    })
    .expect("server");
    let c = no_retry_client(&s);
    create_buckets(&c).await;
    for bucket in [GP, DIR] {
        // 8 writers race create-only on each of 10 keys.
        for round in 0..10 {
            let key = format!("lock-{round}");
            let tasks: Vec<_> = (0..8)
                .map(|w| {
                    let c = c.clone();
                    let key = key.clone();
                    tokio::spawn(async move {
                        let r = c
                            .put_object()
                            .bucket(bucket)
                            .key(&key)
                            .if_none_match("*")
                            .body(ByteStream::from(format!("owner {w}").into_bytes()))
                            .send()
                            .await;
                        (w, status(&r))
                    })
                })
                .collect();
            let mut winners = Vec::new();
            let mut refused = 0;
            for t in tasks {
                match t.await.unwrap() {
                    (w, 200) => winners.push(w),
                    (_, 412) => refused += 1,
                    (w, other) => panic!("writer {w} got {other}"),
                }
            }
            assert_eq!((winners.len(), refused), (1, 7), "{bucket} {key}");
            let owner = get(&c, bucket, &key).await;
            assert_eq!(owner, format!("owner {}", winners[0]).into_bytes());
        }

        // 8 tasks increment a counter by compare-and-swap, 15 attempts each.
        put(&c, bucket, "counter", b"0").await;
        let successes = Arc::new(AtomicU64::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let c = c.clone();
                let successes = successes.clone();
                tokio::spawn(async move {
                    let mut outcomes = [0u32; 3];
                    for _ in 0..15 {
                        let cur = c
                            .get_object()
                            .bucket(bucket)
                            .key("counter")
                            .send()
                            .await
                            .unwrap();
                        let etag = cur.e_tag().unwrap().to_string();
                        let text = cur.body.collect().await.unwrap().into_bytes();
                        let n: u64 = std::str::from_utf8(&text).unwrap().parse().unwrap();
                        let r = c
                            .put_object()
                            .bucket(bucket)
                            .key("counter")
                            .if_match(etag)
                            .body(ByteStream::from((n + 1).to_string().into_bytes()))
                            .send()
                            .await;
                        match status(&r) {
                            200 => {
                                successes.fetch_add(1, Ordering::Relaxed);
                                outcomes[0] += 1;
                            }
                            412 => outcomes[1] += 1,
                            409 => outcomes[2] += 1,
                            other => panic!("CAS PUT got {other}"),
                        }
                    }
                    outcomes
                })
            })
            .collect();
        let mut total = [0u32; 3];
        for t in tasks {
            let o = t.await.unwrap();
            for i in 0..3 {
                total[i] += o[i];
            }
        }
        let final_value: u64 = String::from_utf8(get(&c, bucket, "counter").await)
            .unwrap()
            .parse()
            .unwrap();
        let won = successes.load(Ordering::Relaxed);
        assert_eq!(final_value, won, "{bucket}: no lost update ({total:?})");
        assert!(
            won >= 15,
            "{bucket}: at least one success per round ({total:?})"
        );
        assert_eq!(total.iter().sum::<u32>(), 120);
    }
    // The endpoint counted every PUT: 10 + 80 create-only + 1 + 120 CAS per bucket.
    let n = s.counters();
    for bucket in [GP, DIR] {
        assert_eq!(n.requests(bucket, "PutObject"), 80 + 1 + 120, "{bucket}");
    }
}

#[tokio::test]
async fn express_copy_within_and_across_buckets_uses_base_credentials() {
    let (s, c) = setup().await;
    let body = random_bytes(20_000, 5);
    put(&c, GP, "src", &body).await;
    put(&c, DIR, "dsrc", &body[..1000]).await;
    let sessions_before = s.counters().requests(DIR, "CreateSession");
    for (bucket, source, want) in [
        (GP, format!("{GP}/src"), &body[..]),
        (DIR, format!("{DIR}/dsrc"), &body[..1000]),
        (DIR, format!("{GP}/src"), &body[..]),
        (GP, format!("{DIR}/dsrc"), &body[..1000]),
    ] {
        let key = format!("copy-of-{}", source.replace('/', "-"));
        c.copy_object()
            .bucket(bucket)
            .key(&key)
            .copy_source(&source)
            .send()
            .await
            .unwrap_or_else(|e| panic!("copy {source} -> {bucket}: {e:?}"));
        assert_eq!(get(&c, bucket, &key).await, want, "{source} -> {bucket}");
    }
    let n = s.counters();
    assert_eq!(n.requests(GP, "CopyObject"), 2);
    assert_eq!(n.requests(DIR, "CopyObject"), 2);
    assert_eq!(
        n.total_errors(DIR),
        0,
        "the endpoint refuses a session-signed copy, so none was sent"
    );
    assert_eq!(
        n.requests(DIR, "CreateSession"),
        sessions_before,
        "copies need no session"
    );
}

#[tokio::test]
async fn express_checksums_are_verified_and_directory_buckets_refuse_md5() {
    let s = start_server();
    let c = no_retry_client(&s);
    create_buckets(&c).await;
    let body = random_bytes(100_000, 6);
    for bucket in [GP, DIR] {
        for alg in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32C,
            ChecksumAlgorithm::Crc64Nvme,
            ChecksumAlgorithm::Sha1,
            ChecksumAlgorithm::Sha256,
        ] {
            let key = format!("sum-{}", alg.as_str());
            c.put_object()
                .bucket(bucket)
                .key(&key)
                .checksum_algorithm(alg.clone())
                .body(ByteStream::from(body.clone()))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{bucket} {alg:?}: {e:?}"));
            assert_eq!(get(&c, bucket, &key).await, body);
        }
        // A checksum that does not match the body, sent as a header.
        let bad = c
            .put_object()
            .bucket(bucket)
            .key("bad")
            .checksum_crc32("AAAAAA==")
            .body(ByteStream::from(body.clone()))
            .send()
            .await;
        assert_eq!(failure(bad), (400, "BadDigest".into()), "{bucket}");
        let bad = c
            .put_object()
            .bucket(bucket)
            .key("bad")
            .checksum_crc64_nvme("AAAAAAAAAAA=")
            .body(ByteStream::from(body.clone()))
            .send()
            .await;
        assert_eq!(failure(bad), (400, "BadDigest".into()), "{bucket}");
    }
    // Content-MD5: checked on General Purpose, refused by directory buckets.
    let md5 = {
        use base64::Engine as _;
        use md5::Digest as _;
        base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&body))
    };
    let plain = plain_client(&s);
    for (bucket, want) in [(GP, 200), (DIR, 501)] {
        let r = plain
            .put_object()
            .bucket(bucket)
            .key("md5")
            .content_md5(&md5)
            .body(ByteStream::from(body.clone()))
            .send()
            .await;
        assert_eq!(status(&r), want, "{bucket}: {r:?}");
    }
    assert_eq!(s.object_count(GP), Some(6));
    assert_eq!(s.object_count(DIR), Some(5));
}

#[tokio::test]
async fn express_list_objects_v1_pages_with_markers_and_sigv2_is_named() {
    let (s, c) = setup().await;
    for k in ["a", "a/1", "a/2", "a/b/3", "b/1", "b0", "c/d/e", "z"] {
        put(&c, GP, k, k.as_bytes()).await;
    }
    // Without a delimiter: pages of 3, continuing from the last key.
    let mut keys = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = c
            .list_objects()
            .bucket(GP)
            .max_keys(3)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("ListObjects v1");
        assert!(
            out.next_marker().is_none(),
            "NextMarker only with a delimiter"
        );
        let page: Vec<String> = out
            .contents()
            .iter()
            .map(|o| o.key().unwrap().to_string())
            .collect();
        assert!(page.len() <= 3);
        keys.extend(page.clone());
        if !out.is_truncated().unwrap_or(false) {
            break;
        }
        marker = page.last().cloned();
    }
    assert_eq!(
        keys,
        ["a", "a/1", "a/2", "a/b/3", "b/1", "b0", "c/d/e", "z"]
    );
    // With a delimiter: NextMarker may be a common prefix, whose keys the
    // next page skips.
    let (mut keys, mut prefixes) = (Vec::new(), Vec::new());
    let mut marker: Option<String> = None;
    for _ in 0..10 {
        let out = c
            .list_objects()
            .bucket(GP)
            .delimiter("/")
            .max_keys(1)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        keys.extend(out.contents().iter().map(|o| o.key().unwrap().to_string()));
        prefixes.extend(
            out.common_prefixes()
                .iter()
                .map(|p| p.prefix().unwrap().to_string()),
        );
        if !out.is_truncated().unwrap_or(false) {
            marker = None;
            break;
        }
        marker = Some(
            out.next_marker()
                .expect("NextMarker with a delimiter")
                .to_string(),
        );
    }
    assert!(marker.is_none(), "the listing ended");
    assert_eq!(keys, ["a", "b0", "z"]);
    assert_eq!(prefixes, ["a/", "b/", "c/"]);
    let out = c
        .list_objects()
        .bucket(GP)
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(out.contents().len(), 2);
    assert_eq!(out.common_prefixes()[0].prefix(), Some("a/b/"));
    // Directory buckets have ListObjectsV2 only, as in S3.
    assert_eq!(
        failure(c.list_objects().bucket(DIR).send().await),
        (501, "NotImplemented".into())
    );

    // SigV2, as s3cmd (signature_v2 = True) or an old presigned URL sends it.
    let (st, body) = raw_request(
        s.addr(),
        "GET",
        &format!("/{GP}/a"),
        &[
            (
                "Authorization",
                "AWS AKIDEXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
            ),
            ("Date", "Tue, 27 Mar 2007 19:36:42 +0000"),
        ],
    )
    .await;
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("Signature Version 2"), "{body}");
    assert!(!body.contains("Anonymous"), "{body}");
    let (st, body) = raw_request(
        s.addr(),
        "GET",
        &format!("/{GP}/a?AWSAccessKeyId=AKIDEXAMPLE&Expires=1175139620&Signature=abc%3D"),
        &[],
    )
    .await;
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("Signature Version 2"), "{body}");
    let n = s.counters();
    assert_eq!(n.requests(GP, "ListObjects"), 3 + 6 + 1);
    assert_eq!(n.get(DIR, "ListObjects").errors, 1);
}

#[tokio::test]
async fn express_delete_objects_honours_per_object_conditions() {
    let (s, c) = setup().await;
    for bucket in [GP, DIR] {
        let ea = put(&c, bucket, "a", b"aaa").await;
        put(&c, bucket, "b", b"bbb").await;
        put(&c, bucket, "c", b"ccc").await;
        let id = |k: &str| ObjectIdentifier::builder().key(k);
        let mut objects = vec![
            id("a").e_tag(&ea).build().unwrap(),
            id("b").e_tag("\"0123\"").build().unwrap(),
            id("c").build().unwrap(),
            id("gone").e_tag("*").build().unwrap(),
        ];
        if bucket == DIR {
            objects.push(id("c2").size(3).build().unwrap());
        }
        if bucket == DIR {
            put(&c, bucket, "c2", b"ccc").await;
        }
        let out = c
            .delete_objects()
            .bucket(bucket)
            .delete(
                Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("DeleteObjects");
        let mut errors: Vec<(String, String)> = out
            .errors()
            .iter()
            .map(|e| (e.key().unwrap().to_string(), e.code().unwrap().to_string()))
            .collect();
        errors.sort();
        assert_eq!(
            errors,
            [
                ("b".to_string(), "PreconditionFailed".to_string()),
                ("gone".to_string(), "NoSuchKey".to_string())
            ],
            "{bucket}"
        );
        assert_eq!(s.object_count(bucket), Some(1), "{bucket}: only b is left");
        assert_eq!(get(&c, bucket, "b").await, b"bbb");
    }
}

/// Multipart checksums as S3 keeps them, on both bucket kinds: a COMPOSITE
/// upload needs each part's checksum in the complete request (400
/// InvalidRequest naming the part otherwise), a FULL_OBJECT one may name
/// them, and a wrong one is InvalidPart; CRC32 defaults to COMPOSITE (the checksum of the parts'
/// checksums, `-N`), CRC64NVME is FULL_OBJECT only, SHA-256 COMPOSITE only;
/// a COMPOSITE upload refuses a part with another algorithm's checksum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_checksums_are_composite_or_full_object_as_on_s3() {
    use aws_sdk_s3::types::{ChecksumMode as GetMode, ChecksumType};
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use s3bench::client::checksum::upload_checksum;
    use s3bench::scenario::ChecksumMode;
    let (_s, c) = setup().await;
    let parts = [random_bytes(5 << 20, 1), random_bytes(1000, 2)];
    let whole: Vec<u8> = parts.concat();
    for bucket in [GP, DIR] {
        for (alg, mode, kind, want_composite) in [
            (ChecksumAlgorithm::Crc32, ChecksumMode::Crc32, None, true),
            (
                ChecksumAlgorithm::Crc32C,
                ChecksumMode::Crc32c,
                Some(ChecksumType::FullObject),
                false,
            ),
            (
                ChecksumAlgorithm::Crc64Nvme,
                ChecksumMode::Crc64Nvme,
                None,
                false,
            ),
            (ChecksumAlgorithm::Sha256, ChecksumMode::Sha256, None, true),
        ] {
            let ctx = format!("{bucket} {alg:?} {kind:?}");
            let key = format!("mpu-{}", alg.as_str());
            let up = c
                .create_multipart_upload()
                .bucket(bucket)
                .key(&key)
                .checksum_algorithm(alg.clone())
                .set_checksum_type(kind.clone())
                .send()
                .await
                .expect("create");
            let id = up.upload_id().unwrap().to_string();
            let want_type = if want_composite {
                ChecksumType::Composite
            } else {
                ChecksumType::FullObject
            };
            assert_eq!(up.checksum_type(), Some(&want_type), "{ctx}");
            let mut done = Vec::new();
            for (i, body) in parts.iter().enumerate() {
                let r = c
                    .upload_part()
                    .bucket(bucket)
                    .key(&key)
                    .upload_id(&id)
                    .part_number(i as i32 + 1)
                    .checksum_algorithm(alg.clone())
                    .body(ByteStream::from(body.clone()))
                    .send()
                    .await
                    .expect("part");
                let value = [
                    r.checksum_crc32(),
                    r.checksum_crc32_c(),
                    r.checksum_crc64_nvme(),
                    r.checksum_sha256(),
                ]
                .into_iter()
                .flatten()
                .next()
                .unwrap_or_else(|| panic!("{ctx}: part {i} names no checksum"))
                .to_string();
                assert_eq!(
                    value,
                    upload_checksum(mode, [&body[..]]).unwrap().1,
                    "{ctx}"
                );
                done.push((r.e_tag().unwrap().to_string(), value));
            }
            let complete = |with: Option<usize>, wrong: bool| {
                let parts: Vec<CompletedPart> = done
                    .iter()
                    .enumerate()
                    .map(|(i, (etag, v))| {
                        let v = if wrong {
                            done[1 - i].1.clone()
                        } else {
                            v.clone()
                        };
                        let v = (with.is_none_or(|skip| skip != i)).then_some(v);
                        let b = CompletedPart::builder()
                            .part_number(i as i32 + 1)
                            .e_tag(etag);
                        match mode {
                            ChecksumMode::Crc32 => b.set_checksum_crc32(v),
                            ChecksumMode::Crc32c => b.set_checksum_crc32_c(v),
                            ChecksumMode::Crc64Nvme => b.set_checksum_crc64_nvme(v),
                            _ => b.set_checksum_sha256(v),
                        }
                        .build()
                    })
                    .collect();
                c.complete_multipart_upload()
                    .bucket(bucket)
                    .key(&key)
                    .upload_id(&id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .send()
            };
            // Swapped checksums: InvalidPart; the upload stays.
            let e = complete(None, true)
                .await
                .expect_err("wrong part checksums");
            assert_eq!(failure::<(), _>(Err(e)).1, "InvalidPart", "{ctx}");
            if want_composite {
                // Part 2's checksum left out: refused, naming it.
                let e = complete(Some(1), false)
                    .await
                    .expect_err("no part checksum");
                let msg = e
                    .as_service_error()
                    .and_then(|e| e.message())
                    .unwrap_or("")
                    .to_string();
                assert_eq!(failure::<(), _>(Err(e)).1, "InvalidRequest", "{ctx}");
                assert!(
                    msg.contains(&format!("created using a {} checksum", mode.name()))
                        && msg.contains("missing for part 2"),
                    "{ctx}: {msg}"
                );
                complete(None, false).await.expect("complete");
            } else {
                // FULL_OBJECT: the parts' checksums may be left out.
                complete(Some(1), false).await.expect("complete");
            }
            let o = c
                .get_object()
                .bucket(bucket)
                .key(&key)
                .checksum_mode(GetMode::Enabled)
                .send()
                .await
                .expect("get");
            assert_eq!(o.checksum_type(), Some(&want_type), "{ctx}");
            let got = [
                o.checksum_crc32(),
                o.checksum_crc32_c(),
                o.checksum_crc64_nvme(),
                o.checksum_sha256(),
            ]
            .into_iter()
            .flatten()
            .next()
            .unwrap_or_else(|| panic!("{ctx}: GET names no checksum"))
            .to_string();
            let want = if want_composite {
                let joined: Vec<u8> = done
                    .iter()
                    .flat_map(|(_, v)| STANDARD.decode(v).unwrap())
                    .collect();
                format!("{}-2", upload_checksum(mode, [&joined[..]]).unwrap().1)
            } else {
                upload_checksum(mode, [&whole[..]]).unwrap().1
            };
            assert_eq!(got, want, "{ctx}");
            // The SDK validated a FULL_OBJECT body and skips a COMPOSITE one.
            let bytes = o.body.collect().await.unwrap().into_bytes();
            assert!(bytes[..] == whole[..], "{ctx}");
        }
        // What S3 refuses at creation, and a COMPOSITE part without one.
        let e = c
            .create_multipart_upload()
            .bucket(bucket)
            .key("bad")
            .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
            .checksum_type(ChecksumType::Composite)
            .send()
            .await;
        assert_eq!(failure(e).1, "InvalidRequest", "{bucket}");
        let e = c
            .create_multipart_upload()
            .bucket(bucket)
            .key("bad")
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_type(ChecksumType::FullObject)
            .send()
            .await;
        assert_eq!(failure(e).1, "InvalidRequest", "{bucket}");
        let id = c
            .create_multipart_upload()
            .bucket(bucket)
            .key("bad")
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .send()
            .await
            .expect("create")
            .upload_id
            .unwrap();
        let e = c
            .upload_part()
            .bucket(bucket)
            .key("bad")
            .upload_id(&id)
            .part_number(1)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(ByteStream::from_static(b"part"))
            .send()
            .await;
        let (status, code) = failure(e);
        assert_eq!((status, code.as_str()), (400, "InvalidRequest"), "{bucket}");
    }
}
