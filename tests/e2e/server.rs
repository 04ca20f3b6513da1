//! The embedded S3 endpoint, driven by the real aws-sdk-s3 client over HTTP.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketInfo, BucketType, CompletedMultipartUpload, CompletedPart, CreateBucketConfiguration,
    DataRedundancy, Delete, EncodingType, LocationInfo, LocationType, ObjectIdentifier,
    SessionMode,
};
use md5::{Digest as _, Md5};
use s3bench::server::{EmbeddedServer, Injection, LatencyDist, PrefixLimit, ServerConfig};
use s3bench::synthetic;

use crate::common::*;

const MIB: usize = 1024 * 1024;

/// Status and S3 error code of a failed SDK call.
fn failure<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, SdkError<E, HttpResponse>>,
) -> (u16, String) {
    let e = r.expect_err("the request should fail");
    let status = e.raw_response().map_or(0, |r| r.status().as_u16());
    (status, e.code().unwrap_or_default().to_string())
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(n as u64);
    (0..n).map(|_| rng.u8(..)).collect()
}

async fn create_bucket(c: &Client, name: &str) {
    let mut req = c.create_bucket().bucket(name);
    if let Some(az) = name
        .strip_suffix("--x-s3")
        .and_then(|s| s.rsplit_once("--"))
        .map(|(_, az)| az)
    {
        req = req.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location(
                    LocationInfo::builder()
                        .r#type(LocationType::AvailabilityZone)
                        .name(az)
                        .build(),
                )
                .bucket(
                    BucketInfo::builder()
                        .r#type(BucketType::Directory)
                        .data_redundancy(DataRedundancy::SingleAvailabilityZone)
                        .build(),
                )
                .build(),
        );
    }
    req.send().await.expect("create bucket");
}

async fn get_bytes(c: &Client, bucket: &str, key: &str, range: Option<&str>) -> Vec<u8> {
    let out = c
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_range(range.map(str::to_string))
        .send()
        .await
        .expect("get object");
    out.body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

/// Every key of a listing, following continuation tokens.
async fn list_all(
    c: &Client,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    max: i32,
) -> (Vec<String>, Vec<String>) {
    let (mut keys, mut prefixes) = (Vec::new(), Vec::new());
    let mut token = None;
    loop {
        let out = c
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_delimiter(delimiter.map(str::to_string))
            .max_keys(max)
            .set_continuation_token(token)
            .send()
            .await
            .expect("list");
        let n = out.contents().len() + out.common_prefixes().len();
        assert_eq!(out.key_count(), Some(n as i32));
        assert!(n <= max as usize);
        keys.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
        prefixes.extend(
            out.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_string)),
        );
        token = out.next_continuation_token().map(str::to_string);
        assert_eq!(out.is_truncated(), Some(token.is_some()));
        if token.is_none() {
            return (keys, prefixes);
        }
    }
}

/// Every object and bucket operation on one bucket, checked byte for byte.
async fn exercise_bucket(c: &Client, bucket: &str) {
    let directory = bucket.ends_with("--x-s3");
    create_bucket(c, bucket).await;
    assert_eq!(
        failure(c.create_bucket().bucket(bucket).send().await),
        (409, "BucketAlreadyOwnedByYou".into())
    );
    c.head_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("head bucket");

    // Keys that stress SigV4 path canonicalisation.
    let odd_key = "dir/ü ñ+%20x?&=.txt";
    let data = random_bytes(10_000);
    let put = c
        .put_object()
        .bucket(bucket)
        .key(odd_key)
        .content_type("text/plain")
        .metadata("color", "blue")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .expect("put");
    let md5_etag = format!("\"{}\"", hex::encode(Md5::digest(&data)));
    if directory {
        assert_ne!(
            put.e_tag(),
            Some(md5_etag.as_str()),
            "directory ETags are not MD5"
        );
    } else {
        assert_eq!(put.e_tag(), Some(md5_etag.as_str()));
    }
    let got = c
        .get_object()
        .bucket(bucket)
        .key(odd_key)
        .send()
        .await
        .expect("get");
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(got.content_length(), Some(10_000));
    assert_eq!(got.e_tag(), put.e_tag());
    assert_eq!(
        got.metadata()
            .and_then(|m| m.get("color"))
            .map(String::as_str),
        Some("blue")
    );
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        &data[..]
    );

    // Ranges, byte-exact.
    assert_eq!(
        get_bytes(c, bucket, odd_key, Some("bytes=0-99")).await,
        &data[..100]
    );
    assert_eq!(
        get_bytes(c, bucket, odd_key, Some("bytes=9990-")).await,
        &data[9990..]
    );
    assert_eq!(
        get_bytes(c, bucket, odd_key, Some("bytes=-25")).await,
        &data[10_000 - 25..]
    );
    assert_eq!(
        get_bytes(c, bucket, odd_key, Some("bytes=5000-99999")).await,
        &data[5000..]
    );
    let ranged = c
        .get_object()
        .bucket(bucket)
        .key(odd_key)
        .range("bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.content_range(), Some("bytes 10-19/10000"));
    let bad_range = c
        .get_object()
        .bucket(bucket)
        .key(odd_key)
        .range("bytes=10000-")
        .send()
        .await;
    assert_eq!(failure(bad_range), (416, "InvalidRange".into()));

    let head = c
        .head_object()
        .bucket(bucket)
        .key(odd_key)
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_length(), Some(10_000));
    assert!(head.last_modified().is_some());
    assert_eq!(
        failure(c.head_object().bucket(bucket).key("missing").send().await).0,
        404
    );
    assert_eq!(
        failure(c.get_object().bucket(bucket).key("missing").send().await),
        (404, "NoSuchKey".into())
    );

    // Copy within the bucket, then an empty object.
    c.copy_object()
        .bucket(bucket)
        .key("b/copy")
        .copy_source(format!("{bucket}/{}", urlencode(odd_key)))
        .send()
        .await
        .expect("copy");
    assert_eq!(get_bytes(c, bucket, "b/copy", None).await, data);
    c.put_object()
        .bucket(bucket)
        .key("empty")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(c, bucket, "empty", None).await, b"");

    // A file body is streamed: aws-chunked with a signed CRC32 trailer under
    // SDK defaults, a plain unsigned stream with checksums WhenRequired.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("body");
    let file_data = random_bytes(300_000);
    std::fs::write(&path, &file_data).unwrap();
    c.put_object()
        .bucket(bucket)
        .key("streamed")
        .body(ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .expect("streamed put");
    assert_eq!(get_bytes(c, bucket, "streamed", None).await, file_data);
    c.delete_object()
        .bucket(bucket)
        .key("streamed")
        .send()
        .await
        .unwrap();

    for k in ["a/1", "a/2", "a/sub/3", "c", "d e&f"] {
        c.put_object()
            .bucket(bucket)
            .key(k)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let all: BTreeSet<String> = [
        "a/1", "a/2", "a/sub/3", "b/copy", "c", "d e&f", "empty", odd_key,
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    for max in [1, 3, 1000] {
        let (keys, prefixes) = list_all(c, bucket, "", None, max).await;
        assert!(prefixes.is_empty());
        assert_eq!(
            keys.iter().cloned().collect::<BTreeSet<_>>(),
            all,
            "max {max}"
        );
        assert_eq!(keys.len(), all.len(), "no duplicates at max {max}");
        if !directory {
            assert!(
                keys.windows(2).all(|w| w[0] < w[1]),
                "general purpose listings are sorted"
            );
        }
        let (keys, prefixes) = list_all(c, bucket, "", Some("/"), max).await;
        assert_eq!(
            keys.into_iter().collect::<BTreeSet<_>>(),
            ["c", "d e&f", "empty"].map(String::from).into()
        );
        assert_eq!(
            prefixes.into_iter().collect::<BTreeSet<_>>(),
            ["a/", "b/", "dir/"].map(String::from).into()
        );
        let (keys, prefixes) = list_all(c, bucket, "a/", Some("/"), max).await;
        assert_eq!(
            keys.into_iter().collect::<BTreeSet<_>>(),
            ["a/1", "a/2"].map(String::from).into()
        );
        assert_eq!(prefixes, ["a/sub/"]);
    }
    let encoded = c
        .list_objects_v2()
        .bucket(bucket)
        .prefix("d ")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    assert_eq!(encoded.contents()[0].key(), Some("d%20e%26f"));
    if directory {
        let bad = c
            .list_objects_v2()
            .bucket(bucket)
            .prefix("a")
            .delimiter("/")
            .send()
            .await;
        assert_eq!(failure(bad), (400, "InvalidArgument".into()));
        let bad = c
            .list_objects_v2()
            .bucket(bucket)
            .delimiter("-")
            .send()
            .await;
        assert_eq!(failure(bad), (400, "InvalidArgument".into()));
    } else {
        let after = c
            .list_objects_v2()
            .bucket(bucket)
            .start_after("b/copy")
            .send()
            .await
            .unwrap();
        assert_eq!(after.contents()[0].key(), Some("c"));
    }

    // Deletes: absent keys are fine, a non-empty bucket is not.
    c.delete_object()
        .bucket(bucket)
        .key("c")
        .send()
        .await
        .unwrap();
    c.delete_object()
        .bucket(bucket)
        .key("c")
        .send()
        .await
        .expect("deleting an absent key succeeds");
    let ids = |keys: &[&str]| -> Vec<ObjectIdentifier> {
        keys.iter()
            .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
            .collect()
    };
    let del = c
        .delete_objects()
        .bucket(bucket)
        .delete(
            Delete::builder()
                .set_objects(Some(ids(&["a/1", "a/2"])))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(del.deleted().len(), 2);
    assert_eq!(
        failure(c.delete_bucket().bucket(bucket).send().await),
        (409, "BucketNotEmpty".into())
    );
    let del = c
        .delete_objects()
        .bucket(bucket)
        .delete(
            Delete::builder()
                .set_objects(Some(ids(&["a/sub/3", "b/copy", "d e&f", "empty", odd_key])))
                .quiet(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(del.deleted().is_empty(), "quiet mode lists nothing");
    let (keys, _) = list_all(c, bucket, "", None, 1000).await;
    assert!(keys.is_empty(), "left over: {keys:?}");
    c.delete_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("delete empty bucket");
    assert_eq!(failure(c.head_bucket().bucket(bucket).send().await).0, 404);
    assert_eq!(
        failure(c.get_object().bucket(bucket).key("x").send().await),
        (404, "NoSuchBucket".into())
    );
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn general_purpose_operations_with_chunked_and_plain_bodies() {
    let server = start_server();
    exercise_bucket(&client(&server), "gp-default").await;
    exercise_bucket(&plain_client(&server), "gp-plain").await;
    let names: Vec<String> = client(&server)
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    assert!(names.is_empty(), "both buckets were deleted: {names:?}");
}

#[tokio::test]
async fn directory_operations_with_chunked_and_plain_bodies() {
    let server = start_server();
    exercise_bucket(&client(&server), "dir-default--use1-az4--x-s3").await;
    exercise_bucket(&plain_client(&server), "dir-plain--use1-az5--x-s3").await;
    let c = client(&server);
    create_bucket(&c, "kept--use1-az4--x-s3").await;
    c.create_bucket().bucket("kept-gp").send().await.unwrap();
    // ListDirectoryBuckets cannot be tested with the SDK here: with a custom
    // endpoint its endpoint resolver fails ("A bucket was not set in
    // endpoint params") before sending. ListBuckets lists only GP buckets.
    let gp = c.list_buckets().send().await.unwrap();
    let names: Vec<_> = gp.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["kept-gp"]);
    let bad = c.create_bucket().bucket("Bad_Name").send().await;
    assert_eq!(failure(bad), (400, "InvalidBucketName".into()));
}

/// Uploads `parts` as one multipart object and returns the completed ETag.
async fn multipart(c: &Client, bucket: &str, key: &str, parts: &[Vec<u8>]) -> String {
    let up = c
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let r = c
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .expect("upload part");
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().unwrap())
                .build(),
        );
    }
    let listed = c
        .list_parts()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.parts().len(), parts.len());
    let out = c
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .expect("complete");
    out.e_tag().unwrap().to_string()
}

#[tokio::test]
async fn multipart_round_trip_is_byte_exact_and_validated() {
    let server = start_server();
    let c = client(&server);
    for bucket in ["mp-gp", "mp--use1-az4--x-s3"] {
        create_bucket(&c, bucket).await;
        let parts = vec![
            random_bytes(5 * MIB),
            random_bytes(5 * MIB + 1),
            random_bytes(MIB + 7),
        ];
        let etag = multipart(&c, bucket, "big/object", &parts).await;
        let whole = parts.concat();
        assert_eq!(get_bytes(&c, bucket, "big/object", None).await, whole);
        let off = 5 * MIB - 10;
        let across = get_bytes(
            &c,
            bucket,
            "big/object",
            Some(&format!("bytes={off}-{}", off + 19)),
        )
        .await;
        assert_eq!(across, &whole[off..off + 20]);
        // General purpose: S3's composite ETag (MD5 of the parts' MD5s, -3);
        // directory buckets' ETags are not MD5-based.
        let mut h = Md5::new();
        for p in &parts {
            h.update(Md5::digest(p));
        }
        let composite = format!("\"{}-3\"", hex::encode(h.finalize()));
        if bucket.ends_with("--x-s3") {
            assert!(!etag.contains(&hex::encode(Md5::digest(&whole))));
            assert_ne!(etag, composite, "directory ETags are not MD5-based");
        } else {
            assert_eq!(etag, composite);
        }

        // A copied part range, then the wrong ETag, a small middle part, an abort.
        let up = c
            .create_multipart_upload()
            .bucket(bucket)
            .key("copy")
            .send()
            .await
            .unwrap();
        let id = up.upload_id().unwrap();
        let cp = c
            .upload_part_copy()
            .bucket(bucket)
            .key("copy")
            .upload_id(id)
            .part_number(1)
            .copy_source(format!("{bucket}/big/object"))
            .copy_source_range("bytes=100-199")
            .send()
            .await
            .expect("upload part copy");
        let etag1 = cp
            .copy_part_result()
            .and_then(|r| r.e_tag())
            .unwrap()
            .to_string();
        let complete = |parts: Vec<CompletedPart>| {
            c.complete_multipart_upload()
                .bucket(bucket)
                .key("copy")
                .upload_id(id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
        };
        let wrong = CompletedPart::builder()
            .part_number(1)
            .e_tag("\"0000\"")
            .build();
        assert_eq!(
            failure(complete(vec![wrong]).await),
            (400, "InvalidPart".into())
        );
        let r2 = c
            .upload_part()
            .bucket(bucket)
            .key("copy")
            .upload_id(id)
            .part_number(2)
            .body(ByteStream::from_static(b"tail"))
            .send()
            .await
            .unwrap();
        let p1 = CompletedPart::builder()
            .part_number(1)
            .e_tag(&etag1)
            .build();
        let p2 = CompletedPart::builder()
            .part_number(2)
            .e_tag(r2.e_tag().unwrap())
            .build();
        assert_eq!(
            failure(complete(vec![p1.clone(), p2.clone()]).await),
            (400, "EntityTooSmall".into())
        );
        complete(vec![p1])
            .await
            .expect("a single small part is fine");
        assert_eq!(get_bytes(&c, bucket, "copy", None).await, &whole[100..200]);

        let up = c
            .create_multipart_upload()
            .bucket(bucket)
            .key("gone")
            .send()
            .await
            .unwrap();
        let id = up.upload_id().unwrap();
        c.abort_multipart_upload()
            .bucket(bucket)
            .key("gone")
            .upload_id(id)
            .send()
            .await
            .unwrap();
        let late = c
            .upload_part()
            .bucket(bucket)
            .key("gone")
            .upload_id(id)
            .part_number(1)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await;
        assert_eq!(failure(late), (404, "NoSuchUpload".into()));
    }
}

#[tokio::test]
async fn synthetic_content_is_stored_as_length_only() {
    let server = start_server();
    let c = plain_client(&server);
    for bucket in ["syn-gp", "syn--use1-az4--x-s3"] {
        create_bucket(&c, bucket).await;
        let part: Vec<u8> = synthetic::chunks(0, 16 * MIB as u64).flatten().collect();
        let etag = multipart(
            &c,
            bucket,
            "synthetic/64mib",
            &[part.clone(), part.clone(), part.clone(), part.clone()],
        )
        .await;
        if !bucket.ends_with("--x-s3") {
            assert!(etag.ends_with("-4\""), "{etag}");
        }
        c.put_object()
            .bucket(bucket)
            .key("synthetic/8mib")
            .body(ByteStream::from(part[..8 * MIB].to_vec()))
            .send()
            .await
            .unwrap();
        let s = server.storage(bucket).unwrap();
        assert_eq!(s.objects, 2);
        assert_eq!(s.logical_bytes, 72 * MIB as u64);
        assert_eq!(s.resident_bytes, 0, "synthetic bodies keep no bytes");

        let got = get_bytes(&c, bucket, "synthetic/64mib", None).await;
        assert_eq!(got.len(), 64 * MIB);
        for p in got.chunks(16 * MIB) {
            assert!(
                synthetic::matches(0, p),
                "each part is the pattern from offset 0"
            );
        }
        let off = 16 * MIB - 5;
        let across = get_bytes(
            &c,
            bucket,
            "synthetic/64mib",
            Some(&format!("bytes={off}-{}", off + 9)),
        )
        .await;
        assert_eq!(across, &got[off..off + 10]);

        // One flipped byte: the object is kept for real and read back exactly.
        let mut almost = part[..MIB].to_vec();
        almost[MIB - 1] ^= 1;
        c.put_object()
            .bucket(bucket)
            .key("real")
            .body(ByteStream::from(almost.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(get_bytes(&c, bucket, "real", None).await, almost);
        let s = server.storage(bucket).unwrap();
        assert!(
            s.resident_bytes > 0 && s.resident_bytes <= MIB as u64,
            "{s:?}"
        );
    }
}

async fn static_session_client(server: &EmbeddedServer, bucket: &str, mode: SessionMode) -> Client {
    let base = client(server);
    let out = base
        .create_session()
        .bucket(bucket)
        .session_mode(mode)
        .send()
        .await
        .expect("create session");
    let cr = out.credentials().expect("session credentials");
    let creds = Credentials::new(
        cr.access_key_id(),
        cr.secret_access_key(),
        Some(cr.session_token().to_string()),
        None,
        "static-session",
    );
    Client::from_conf(
        config(server)
            .express_credentials_provider(creds)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build(),
    )
}

#[tokio::test]
async fn sessions_refresh_expire_and_stay_in_their_bucket() {
    let server = EmbeddedServer::start(ServerConfig {
        session_lifetime: Duration::from_secs(12),
        ..ServerConfig::default()
    })
    .unwrap();
    let c = client(&server);
    let (a, b) = ("sess-a--use1-az4--x-s3", "sess-b--use1-az4--x-s3");
    create_bucket(&c, a).await;
    create_bucket(&c, b).await;
    c.put_object()
        .bucket(a)
        .key("k")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    c.put_object()
        .bucket(b)
        .key("k")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();

    let pinned = static_session_client(&server, a, SessionMode::ReadWrite).await;
    assert_eq!(get_bytes(&pinned, a, "k", None).await, b"hello");
    let other = pinned.get_object().bucket(b).key("k").send().await;
    assert_eq!(failure(other), (403, "AccessDenied".into()));

    let ro = static_session_client(&server, a, SessionMode::ReadOnly).await;
    assert_eq!(get_bytes(&ro, a, "k", None).await, b"hello");
    let write = ro
        .put_object()
        .bucket(a)
        .key("k2")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(failure(write), (403, "AccessDenied".into()));

    // The SDK refreshes a session 10 s before it expires, so with a 12 s
    // lifetime a steady reader needs a new one every ~2 s.
    let before = server.counters().requests(a, "CreateSession");
    let started = Instant::now();
    let mut gets = 0;
    while started.elapsed() < Duration::from_millis(12_500) {
        assert_eq!(get_bytes(&c, a, "k", None).await, b"hello");
        gets += 1;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let created = server.counters().requests(a, "CreateSession") - before;
    assert!(
        (3..=10).contains(&created),
        "{created} sessions for {gets} GETs in 12.5 s"
    );

    // The pinned session is now older than its lifetime.
    let expired = pinned.get_object().bucket(a).key("k").send().await;
    assert_eq!(failure(expired), (403, "ExpiredToken".into()));
}

#[tokio::test]
async fn bad_credentials_are_refused() {
    let server = start_server();
    let c = client(&server);
    c.create_bucket().bucket("auth").send().await.unwrap();
    c.put_object()
        .bucket("auth")
        .key("k")
        .body(ByteStream::from_static(b"secret"))
        .send()
        .await
        .unwrap();

    let wrong_secret = Client::from_conf(
        config(&server)
            .credentials_provider(Credentials::new(
                server.access_key(),
                "not-the-secret",
                None,
                None,
                "t",
            ))
            .build(),
    );
    let r = wrong_secret
        .get_object()
        .bucket("auth")
        .key("k")
        .send()
        .await;
    assert_eq!(failure(r), (403, "SignatureDoesNotMatch".into()));
    let wrong_key = Client::from_conf(
        config(&server)
            .credentials_provider(Credentials::new(
                "AKIANOBODY",
                server.secret_key(),
                None,
                None,
                "t",
            ))
            .build(),
    );
    let r = wrong_key.head_bucket().bucket("auth").send().await;
    assert_eq!(failure(r).0, 403);
    let r = wrong_key.list_objects_v2().bucket("auth").send().await;
    assert_eq!(failure(r), (403, "InvalidAccessKeyId".into()));

    let (status, body) = raw_request(server.addr(), "GET", "/auth/k", &[]).await;
    assert_eq!(status, 403);
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");

    // Presigned query auth works over a plain HTTP client, and only unaltered.
    let presigned = c
        .get_object()
        .bucket("auth")
        .key("k")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    let uri: http::Uri = presigned.uri().parse().unwrap();
    let pq = uri.path_and_query().unwrap().as_str().to_string();
    let (status, body) = raw_request(server.addr(), "GET", &pq, &[]).await;
    assert_eq!((status, body.as_str()), (200, "secret"));
    let tampered = pq.replace("/auth/k", "/auth/K");
    let (status, body) = raw_request(server.addr(), "GET", &tampered, &[]).await;
    assert_eq!(status, 403);
    assert!(body.contains("SignatureDoesNotMatch"), "{body}");
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test]
async fn injected_latency_is_precise() {
    let server = start_server();
    let c = plain_client(&server);
    for bucket in ["lat-gp", "lat--use1-az4--x-s3"] {
        create_bucket(&c, bucket).await;
        c.put_object()
            .bucket(bucket)
            .key("k")
            .body(ByteStream::from(vec![7u8; 4096]))
            .send()
            .await
            .unwrap();
        server.set_injection(
            bucket,
            Injection {
                latency: Some(LatencyDist::Fixed(Duration::from_millis(5))),
                ..Injection::default()
            },
        );
        // The SDK's own per-request work (0.25-1 ms on this VM: signing,
        // parsing, waking a thread after an idle wait) stretches when other
        // processes compete for the 2 cores, so a round may land near 6 ms
        // although the server is on time; the best of three rounds counts,
        // within 2 ms. No round may ever come in under 5 ms. The server's own
        // precision is held to 0.5 ms below, by a minimal client.
        let mut best = Duration::MAX;
        for round in 0..3 {
            let mut samples = Vec::new();
            for i in 0..200 {
                let t = Instant::now();
                if i % 2 == 0 {
                    c.head_object()
                        .bucket(bucket)
                        .key("k")
                        .send()
                        .await
                        .unwrap();
                } else {
                    assert_eq!(get_bytes(&c, bucket, "k", None).await.len(), 4096);
                }
                samples.push(t.elapsed());
            }
            let p50 = percentile(&mut samples, 0.5);
            let p99 = percentile(&mut samples, 0.99);
            eprintln!(
                "{bucket} round {round}: 5 ms injected -> SDK client p50 {p50:?}, p99 {p99:?}"
            );
            assert!(
                samples[0] >= Duration::from_millis(5),
                "a response came early: {:?}",
                samples[0]
            );
            best = best.min(p50);
            if best <= Duration::from_millis(7) {
                break;
            }
        }
        assert!(best <= Duration::from_millis(7), "best p50 {best:?}");
    }
    // The server's own accuracy, seen by a minimal keep-alive client whose
    // overhead is ~50 us (the SDK's is ~250 us and grows under CPU load).
    // Anonymous requests are refused, but after the injected latency too.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    s.set_nodelay(true).unwrap();
    let (mut samples, mut buf) = (Vec::new(), vec![0u8; 4096]);
    for _ in 0..200 {
        let t = Instant::now();
        s.write_all(b"HEAD /lat-gp/k HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed");
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 403"));
        samples.push(t.elapsed());
    }
    let p50 = percentile(&mut samples, 0.5);
    eprintln!(
        "raw client: 5 ms injected -> p50 {p50:?}, p99 {:?}",
        percentile(&mut samples, 0.99)
    );
    assert!(
        p50 >= Duration::from_millis(5) && p50 < Duration::from_micros(5500),
        "raw p50 {p50:?}"
    );
}

/// `workers` tasks, each issuing one GET every `period` for `run`, without
/// retries; returns (successes, SlowDown errors).
async fn paced_gets(
    c: &Client,
    bucket: &str,
    keys: Vec<String>,
    workers: usize,
    period: Duration,
    run: Duration,
) -> (usize, usize) {
    let mut tasks = Vec::new();
    let deadline = Instant::now() + run;
    for w in 0..workers {
        let c = c.clone();
        let bucket = bucket.to_string();
        let keys = keys.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let (mut ok, mut slow) = (0, 0);
            let mut n = w;
            while Instant::now() < deadline {
                tick.tick().await;
                match c
                    .get_object()
                    .bucket(&bucket)
                    .key(&keys[n % keys.len()])
                    .send()
                    .await
                {
                    Ok(out) => {
                        out.body.collect().await.unwrap();
                        ok += 1;
                    }
                    Err(e) => {
                        assert_eq!(e.code(), Some("SlowDown"), "{e:?}");
                        slow += 1;
                    }
                }
                n += 1;
            }
            (ok, slow)
        }));
    }
    let mut total = (0, 0);
    for t in tasks {
        let (ok, slow) = t.await.unwrap();
        total.0 += ok;
        total.1 += slow;
    }
    total
}

/// The partition model over HTTP with the real SDK: a fresh bucket is one
/// key range; a load three times its rate spread over 16 leading
/// characters is throttled until the range splits (1 s over its rate), and
/// again until the halves split, then not at all; the same load on one key
/// is throttled all along, because no split can spread one key. The 503s
/// are S3's `SlowDown` and the endpoint counts each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_limit_splits_a_busy_range_and_not_a_single_hot_key() {
    let server = start_server();
    let c = no_retry_client(&server);
    let spread: Vec<String> = (0..16).map(|i| format!("{i:x}/k")).collect();
    let single = vec!["hot/k".to_string()];
    for (bucket, keys) in [("spread", &spread), ("single", &single)] {
        c.create_bucket().bucket(bucket).send().await.unwrap();
        for k in keys {
            c.put_object()
                .bucket(bucket)
                .key(k)
                .body(ByteStream::from(vec![1u8; 4096]))
                .send()
                .await
                .unwrap();
        }
        server.set_injection(
            bucket,
            Injection {
                prefix_limit: Some(PrefixLimit {
                    reads_per_sec: 100,
                    writes_per_sec: 0,
                    split_after: Some(Duration::from_secs(1)),
                    max_partitions: 64,
                    split_points: Vec::new(),
                }),
                ..Injection::default()
            },
        );
    }
    assert_eq!(server.partitions("spread").unwrap().0.len(), 1);
    // 15 workers x 20/s = 300 GET/s, three times one range's rate.
    let period = Duration::from_millis(50);
    let second = Duration::from_secs(1);
    let (ok1, slow1) = paced_gets(&c, "spread", spread.clone(), 15, period, second).await;
    let (ok2, slow2) = paced_gets(&c, "spread", spread.clone(), 15, period, 3 * second).await;
    let (ok3, slow3) = paced_gets(&c, "spread", spread.clone(), 15, period, second).await;
    eprintln!(
        "spread over 16 prefixes at 300/s: second 1 {ok1} ok {slow1} SlowDown; seconds 2-4 {ok2} ok {slow2} SlowDown; second 5 {ok3} ok {slow3} SlowDown; ranges {:?}",
        server.partitions("spread")
    );
    // One range: its burst (25) and 100 a second get through.
    assert!((100..=160).contains(&ok1), "second 1: {ok1} ok");
    assert!(slow1 >= 120, "second 1: {slow1} SlowDown");
    // Split twice: four ranges, each taking a quarter of the load, 75/s.
    let (ranges, splits) = server.partitions("spread").unwrap();
    assert!(ranges.len() >= 4 && splits >= 3, "{ranges:?}");
    // Ranges start at the leading characters the load spread over.
    assert!(ranges[1..].iter().all(|r| r.start.len() == 1), "{ranges:?}");
    assert!(slow2 > 0 && slow2 < slow1 * 3, "{slow2}");
    assert!(
        slow3 * 50 <= ok3 + slow3,
        "second 5 still throttled: {slow3} of {}",
        ok3 + slow3
    );
    // One hot key: throttled about 2/3 of the time, never split.
    let (ok4, slow4) = paced_gets(&c, "single", single, 15, period, 2 * second).await;
    eprintln!("one key at 300/s: {ok4} ok, {slow4} SlowDown in 2 s");
    assert!(slow4 * 2 > ok4 + slow4, "{slow4} of {}", ok4 + slow4);
    assert_eq!(server.partitions("single").unwrap().0.len(), 1);
    let counted = |b: &str| server.counters().get(b, "GetObject");
    assert_eq!(
        counted("spread").requests as usize,
        ok1 + slow1 + ok2 + slow2 + ok3 + slow3
    );
    assert_eq!(counted("spread").errors as usize, slow1 + slow2 + slow3);
    assert_eq!(counted("single").errors as usize, slow4);
}

/// A directory bucket's `bucket_limit` is one rate for the whole bucket,
/// whatever the keys; a `prefix_limit` set on it is ignored (directory
/// buckets have no per-prefix limit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_limit_does_not_apply_to_a_directory_bucket_and_bucket_limit_does() {
    let server = start_server();
    let bucket = "rates--use1-az4--x-s3";
    server.create_bucket(bucket).unwrap();
    let c = no_retry_client(&server);
    let keys: Vec<String> = (0..16).map(|i| format!("{i:x}/k")).collect();
    for k in &keys {
        c.put_object()
            .bucket(bucket)
            .key(k)
            .body(ByteStream::from(vec![1u8; 4096]))
            .send()
            .await
            .unwrap();
    }
    let period = Duration::from_millis(40);
    server.set_injection(
        bucket,
        Injection {
            prefix_limit: Some(PrefixLimit::rates(10, 10)),
            ..Injection::default()
        },
    );
    assert!(server.partitions(bucket).is_none());
    let (_, slow) = paced_gets(
        &c,
        bucket,
        keys.clone(),
        8,
        period,
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(slow, 0);
    server.set_injection(
        bucket,
        Injection {
            bucket_limit: Some(s3bench::server::BucketLimit {
                reads_per_sec: 50,
                writes_per_sec: 0,
            }),
            ..Injection::default()
        },
    );
    // 200 GET/s over 16 prefixes against 50/s for the bucket: most refused.
    let (ok, slow) = paced_gets(&c, bucket, keys, 8, period, Duration::from_secs(1)).await;
    eprintln!("directory bucket at 200/s against 50/s: {ok} ok, {slow} SlowDown");
    assert!((40..=80).contains(&ok), "{ok} ok");
    assert!(slow > 100, "{slow}");
}

#[tokio::test]
async fn injected_errors_hit_about_the_configured_fraction() {
    let server = start_server();
    let c = no_retry_client(&server);
    c.create_bucket().bucket("flaky").send().await.unwrap();
    c.put_object()
        .bucket("flaky")
        .key("k")
        .body(ByteStream::from(vec![1u8; 4096]))
        .send()
        .await
        .unwrap();
    server.set_injection(
        "flaky",
        Injection {
            error_rate: 0.5,
            error_status: 500,
            error_code: "InjectedFault".into(),
            ..Injection::default()
        },
    );
    let mut errors = 0;
    for _ in 0..200 {
        match c.get_object().bucket("flaky").key("k").send().await {
            Ok(o) => assert_eq!(o.body.collect().await.unwrap().into_bytes().len(), 4096),
            Err(e) => {
                assert_eq!(e.code(), Some("InjectedFault"));
                assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(500));
                errors += 1;
            }
        }
    }
    assert!(
        (65..=135).contains(&errors),
        "{errors} errors of 200 at rate 0.5"
    );
    let counted = server.counters().get("flaky", "GetObject");
    assert_eq!((counted.requests, counted.errors), (200, errors));
    // Successful bodies plus one small XML error document per failure.
    let ok_bytes = (200 - errors) * 4096;
    assert!(counted.bytes_out > ok_bytes && counted.bytes_out < ok_bytes + errors * 400);
}

#[tokio::test]
async fn counters_match_the_requests_made() {
    let server = start_server();
    let c = no_retry_client(&server);
    c.create_bucket().bucket("count").send().await.unwrap();
    for (i, n) in [100usize, 200, 300].into_iter().enumerate() {
        c.put_object()
            .bucket("count")
            .key(format!("k{i}"))
            .body(ByteStream::from(vec![1u8; n]))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(get_bytes(&c, "count", "k0", None).await.len(), 100);
    assert_eq!(
        get_bytes(&c, "count", "k2", Some("bytes=0-9")).await.len(),
        10
    );
    c.head_object()
        .bucket("count")
        .key("k1")
        .send()
        .await
        .unwrap();
    c.list_objects_v2().bucket("count").send().await.unwrap();
    c.delete_object()
        .bucket("count")
        .key("k1")
        .send()
        .await
        .unwrap();
    failure(c.get_object().bucket("count").key("nope").send().await);
    c.list_buckets().send().await.unwrap();

    let d = "count--use1-az4--x-s3";
    create_bucket(&c, d).await;
    for i in 0..5 {
        c.put_object()
            .bucket(d)
            .key(format!("k{i}"))
            .body(ByteStream::from_static(b"abc"))
            .send()
            .await
            .unwrap();
        get_bytes(&c, d, &format!("k{i}"), None).await;
    }

    let snap = server.counters();
    let get = |b: &str, op: &str| snap.get(b, op);
    assert_eq!(get("count", "CreateBucket").requests, 1);
    let put = get("count", "PutObject");
    assert_eq!((put.requests, put.errors, put.bytes_in), (3, 0, 600));
    let g = get("count", "GetObject");
    assert_eq!((g.requests, g.errors), (3, 1));
    assert!(g.bytes_out > 110, "two bodies plus one error document");
    assert_eq!(get("count", "HeadObject").requests, 1);
    assert_eq!(get("count", "HeadObject").bytes_out, 0);
    assert_eq!(get("count", "ListObjectsV2").requests, 1);
    assert_eq!(get("count", "DeleteObject").requests, 1);
    assert_eq!(snap.total_requests("count"), 10);
    assert_eq!(snap.requests("", "ListBuckets"), 1);
    // One client, one session: CreateSession once, before CreateBucket.
    assert_eq!(get(d, "CreateSession").requests, 1);
    assert_eq!(get(d, "CreateBucket").requests, 1);
    let dp = get(d, "PutObject");
    assert_eq!((dp.requests, dp.bytes_in), (5, 15));
    let dg = get(d, "GetObject");
    assert_eq!((dg.requests, dg.bytes_out), (5, 15));
    assert_eq!(snap.total_requests(d), 12);
    assert_eq!(server.object_count("count"), Some(2));
    assert_eq!(server.object_count(d), Some(5));
    assert_eq!(server.object_count("absent"), None);
}

#[tokio::test]
async fn stall_holds_responses_and_bandwidth_paces_bodies() {
    let server = start_server();
    let c = plain_client(&server);
    c.create_bucket().bucket("slow").send().await.unwrap();
    let data = random_bytes(2 * MIB);
    c.put_object()
        .bucket("slow")
        .key("k")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();

    server.stall(Duration::from_millis(300));
    let t = Instant::now();
    c.head_object()
        .bucket("slow")
        .key("k")
        .send()
        .await
        .unwrap();
    let stalled = t.elapsed();
    assert!(
        stalled >= Duration::from_millis(290) && stalled < Duration::from_secs(2),
        "{stalled:?}"
    );
    let t = Instant::now();
    c.head_object()
        .bucket("slow")
        .key("k")
        .send()
        .await
        .unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "the stall is over"
    );

    server.set_injection(
        "slow",
        Injection {
            bandwidth: Some(8 * MIB as u64),
            ..Injection::default()
        },
    );
    let t = Instant::now();
    assert_eq!(get_bytes(&c, "slow", "k", None).await, data);
    let took = t.elapsed();
    // 2 MiB at 8 MiB/s is 250 ms.
    assert!(
        took >= Duration::from_millis(230) && took < Duration::from_millis(1000),
        "{took:?}"
    );
    server.set_injection("slow", Injection::default());
    let t = Instant::now();
    get_bytes(&c, "slow", "k", None).await;
    assert!(t.elapsed() < Duration::from_millis(150));
}

/// GetObject and HeadObject under `x-amz-checksum-mode: ENABLED` return the
/// object's full-object checksum, as S3 does: in the algorithm it was
/// uploaded with, CRC64NVME when it came with none (S3 adds one), over all
/// of an appended object's bytes, for a multipart upload and for a copy;
/// none for a byte range or without checksum mode. And `corrupt_rate`
/// flips exactly one bit of a whole body, which the SDK's response
/// validation refuses as a checksum mismatch.
#[tokio::test]
async fn get_returns_the_stored_checksum_and_corruption_fails_it() {
    use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
    use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
    use s3bench::client::checksum::upload_checksum;
    use s3bench::scenario::ChecksumMode as Mode;
    let server = start_server();
    // Checksums only when asked for, both ways: the SDK's defaults would
    // turn checksum mode on for every GET.
    let c = Client::from_conf(
        config(&server)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build(),
    );
    // aws-sdk-s3 1.157 under WhenRequired sends a chosen algorithm's name
    // (x-amz-sdk-checksum-algorithm) but no value: uploads that name one
    // go through a client with the SDK's defaults.
    let sums = client(&server);
    let body = synthetic::window(0, 100_000).to_vec();
    let sum = |m: Mode, b: &[u8]| upload_checksum(m, [b]).unwrap().1;
    for bucket in ["sums-gp", "sums--use1-az4--x-s3"] {
        create_bucket(&c, bucket).await;
        let put = |key: &'static str, alg: Option<ChecksumAlgorithm>, b: Vec<u8>| {
            if alg.is_some() { &sums } else { &c }
                .put_object()
                .bucket(bucket)
                .key(key)
                .set_checksum_algorithm(alg)
                .body(ByteStream::from(b))
                .send()
        };
        put("crc32c", Some(ChecksumAlgorithm::Crc32C), body.clone())
            .await
            .unwrap();
        put("sha256", Some(ChecksumAlgorithm::Sha256), body.clone())
            .await
            .unwrap();
        put("none", None, body.clone()).await.unwrap();
        let get = |key: &'static str| {
            c.get_object()
                .bucket(bucket)
                .key(key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
        };
        let o = get("crc32c").await.unwrap();
        assert_eq!(
            o.checksum_crc32_c(),
            Some(&*sum(Mode::Crc32c, &body)),
            "{bucket}"
        );
        assert_eq!(o.checksum_crc64_nvme(), None);
        assert_eq!(o.checksum_type().map(|t| t.as_str()), Some("FULL_OBJECT"));
        let o = get("sha256").await.unwrap();
        assert_eq!(
            o.checksum_sha256(),
            Some(&*sum(Mode::Sha256, &body)),
            "{bucket}"
        );
        let o = get("none").await.unwrap();
        assert_eq!(
            o.checksum_crc64_nvme(),
            Some(&*sum(Mode::Crc64Nvme, &body)),
            "{bucket}"
        );
        // HEAD says the same.
        let h = c
            .head_object()
            .bucket(bucket)
            .key("crc32c")
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(h.checksum_crc32_c(), Some(&*sum(Mode::Crc32c, &body)));
        // A byte range, or no checksum mode: no checksum.
        let o = c
            .get_object()
            .bucket(bucket)
            .key("crc32c")
            .range("bytes=0-99")
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(
            (o.checksum_crc32_c(), o.checksum_crc64_nvme()),
            (None, None)
        );
        let o = c
            .get_object()
            .bucket(bucket)
            .key("crc32c")
            .send()
            .await
            .unwrap();
        assert_eq!(o.checksum_crc32_c(), None);
        // A copy keeps the algorithm and the value.
        c.copy_object()
            .bucket(bucket)
            .key("copy")
            .copy_source(format!("{bucket}/crc32c"))
            .send()
            .await
            .unwrap();
        let o = get("copy").await.unwrap();
        assert_eq!(o.checksum_crc32_c(), Some(&*sum(Mode::Crc32c, &body)));
        // A multipart upload without checksums: CRC64NVME of the whole.
        let up = c
            .create_multipart_upload()
            .bucket(bucket)
            .key("mpu")
            .send()
            .await
            .unwrap();
        let id = up.upload_id().unwrap();
        let mut parts = Vec::new();
        let big: Vec<u8> = synthetic::chunks(0, 6 * MIB as u64).flatten().collect();
        for (n, chunk) in big.chunks(5 * MIB).enumerate() {
            let p = c
                .upload_part()
                .bucket(bucket)
                .key("mpu")
                .upload_id(id)
                .part_number(n as i32 + 1)
                .body(ByteStream::from(chunk.to_vec()))
                .send()
                .await
                .unwrap();
            parts.push(
                CompletedPart::builder()
                    .part_number(n as i32 + 1)
                    .set_e_tag(p.e_tag().map(str::to_string))
                    .build(),
            );
        }
        c.complete_multipart_upload()
            .bucket(bucket)
            .key("mpu")
            .upload_id(id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let o = get("mpu").await.unwrap();
        assert_eq!(o.checksum_crc64_nvme(), Some(&*sum(Mode::Crc64Nvme, &big)));
        if bucket.ends_with("--x-s3") {
            // An append: the checksum of all the object's bytes.
            sums.put_object()
                .bucket(bucket)
                .key("crc32c")
                .write_offset_bytes(body.len() as i64)
                .checksum_algorithm(ChecksumAlgorithm::Crc32C)
                .body(ByteStream::from(b"more".to_vec()))
                .send()
                .await
                .unwrap();
            let mut whole = body.clone();
            whole.extend_from_slice(b"more");
            let o = get("crc32c").await.unwrap();
            assert_eq!(o.checksum_crc32_c(), Some(&*sum(Mode::Crc32c, &whole)));
            assert_eq!(o.body.collect().await.unwrap().into_bytes(), whole);
        }
        // Every body corrupted: one bit differs, the length holds, and the
        // SDK's validation fails the read.
        server.set_injection(
            bucket,
            Injection {
                corrupt_rate: 1.0,
                ..Injection::default()
            },
        );
        let got = get_bytes(&c, bucket, "none", None).await;
        assert_eq!(got.len(), body.len());
        let flipped: u32 = got
            .iter()
            .zip(&body)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        assert_eq!(flipped, 1, "{bucket}");
        let err = get("none")
            .await
            .unwrap()
            .body
            .collect()
            .await
            .expect_err("a corrupted body fails validation");
        assert!(
            s3bench::client::is_checksum_mismatch(&err),
            "{bucket}: {err:?}"
        );
        let before = server.counters().get(bucket, "GetObject");
        server.set_injection(bucket, Injection::default());
        get("none").await.unwrap().body.collect().await.unwrap();
        let after = server.counters().get(bucket, "GetObject");
        // Each corrupted body was an endpoint error; the clean one is not.
        assert_eq!(after.errors, before.errors, "{bucket}");
        assert!(before.errors >= 2, "{bucket}: {before:?}");
    }
}
