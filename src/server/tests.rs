//! Raw-HTTP tests for what the SDK cannot be made to send: broken
//! checksums, mismatched payload hashes, skewed clocks, virtual-host
//! addressing, ListDirectoryBuckets with a custom endpoint.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::sigv4::sign_for_test;
use super::{EmbeddedServer, ServerConfig};

const EMPTY_SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Raw<'a> {
    server: &'a EmbeddedServer,
    host: Option<String>,
    service: &'static str,
    now: SystemTime,
    secret: Option<String>,
    access_key: Option<String>,
}

impl<'a> Raw<'a> {
    fn new(server: &'a EmbeddedServer) -> Raw<'a> {
        Raw {
            server,
            host: None,
            service: "s3",
            now: SystemTime::now(),
            secret: None,
            access_key: None,
        }
    }

    /// Sends one signed request over a fresh connection.
    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        payload: &str,
        body: &[u8],
    ) -> (u16, String) {
        let mut s = self.start(method, path, headers, payload, body.len()).await;
        s.write_all(body).await.unwrap();
        finish(s).await
    }

    /// Sends a signed request head over a fresh connection; the caller
    /// writes `body_len` bytes of body and calls [`finish`].
    async fn start(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        payload: &str,
        body_len: usize,
    ) -> tokio::net::TcpStream {
        let host = self
            .host
            .clone()
            .unwrap_or_else(|| self.server.addr().to_string());
        let mut b = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &host);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        if body_len > 0 || method == "PUT" || method == "POST" {
            b = b.header("content-length", body_len.to_string());
        }
        let mut req = b.body(()).unwrap();
        let secret = self
            .secret
            .clone()
            .unwrap_or_else(|| self.server.secret_key().to_string());
        let access_key = self
            .access_key
            .clone()
            .unwrap_or_else(|| self.server.access_key().to_string());
        sign_for_test(
            &mut req,
            &access_key,
            &secret,
            self.server.region(),
            self.service,
            self.now,
            payload,
        );
        let mut wire = format!("{method} {path} HTTP/1.1\r\n");
        for (k, v) in req.headers() {
            wire.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
        }
        wire.push_str("connection: close\r\n\r\n");
        let mut s = tokio::net::TcpStream::connect(self.server.addr())
            .await
            .unwrap();
        s.write_all(wire.as_bytes()).await.unwrap();
        s
    }
}

/// Reads the response of a request sent with [`Raw::start`].
async fn finish(mut s: tokio::net::TcpStream) -> (u16, String) {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn crc32_b64(b: &[u8]) -> String {
    let c = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, b) as u32;
    base64::engine::general_purpose::STANDARD.encode(c.to_be_bytes())
}

fn chunked(data: &[u8], trailer: &str) -> Vec<u8> {
    let mut v = format!("{:x}\r\n", data.len()).into_bytes();
    v.extend_from_slice(data);
    v.extend_from_slice(format!("\r\n0\r\n{trailer}\r\n\r\n").as_bytes());
    v
}

fn server() -> EmbeddedServer {
    let s = EmbeddedServer::start(ServerConfig::default()).unwrap();
    s.create_bucket("raw").unwrap();
    s.create_bucket("raw--use1-az4--x-s3").unwrap();
    s
}

#[tokio::test]
async fn aws_chunked_trailers_are_verified() {
    let s = server();
    let r = Raw::new(&s);
    let data = b"hello chunked world";
    let headers = [
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "19"),
        ("x-amz-trailer", "x-amz-checksum-crc32"),
    ];
    let good = chunked(data, &format!("x-amz-checksum-crc32:{}", crc32_b64(data)));
    let payload = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
    let (st, body) = r.send("PUT", "/raw/c", &headers, payload, &good).await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = r.send("GET", "/raw/c", &[], EMPTY_SHA, b"").await;
    assert_eq!((st, body.as_str()), (200, "hello chunked world"));

    let bad = chunked(
        data,
        &format!("x-amz-checksum-crc32:{}", crc32_b64(b"other")),
    );
    let (st, body) = r.send("PUT", "/raw/c2", &headers, payload, &bad).await;
    assert_eq!(st, 400);
    assert!(body.contains("<Code>BadDigest</Code>"), "{body}");

    let short = [
        headers[0],
        ("x-amz-decoded-content-length", "25"),
        headers[2],
    ];
    let (st, body) = r.send("PUT", "/raw/c3", &short, payload, &good).await;
    assert_eq!(st, 400);
    assert!(body.contains("IncompleteBody"), "{body}");
    assert_eq!(s.object_count("raw"), Some(1));
}

#[tokio::test]
async fn payload_hashes_and_content_md5_are_checked() {
    let s = server();
    let r = Raw::new(&s);
    let (st, _) = r
        .send("PUT", "/raw/ok", &[], &sha_hex(b"hello"), b"hello")
        .await;
    assert_eq!(st, 200);
    let (st, body) = r
        .send("PUT", "/raw/bad", &[], &sha_hex(b"other"), b"hello")
        .await;
    assert_eq!(st, 400);
    assert!(body.contains("XAmzContentSHA256Mismatch"), "{body}");
    let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(b"nope"));
    let (st, body) = r
        .send(
            "PUT",
            "/raw/bad",
            &[("content-md5", &md5)],
            "UNSIGNED-PAYLOAD",
            b"hello",
        )
        .await;
    assert_eq!(st, 400);
    assert!(body.contains("BadDigest"), "{body}");
    let crc = crc32_b64(b"nope");
    let (st, body) = r
        .send(
            "PUT",
            "/raw/bad",
            &[("x-amz-checksum-crc32", &crc)],
            "UNSIGNED-PAYLOAD",
            b"hello",
        )
        .await;
    assert_eq!(st, 400);
    assert!(body.contains("BadDigest"), "{body}");
    assert_eq!(s.object_count("raw"), Some(1));
}

#[tokio::test]
async fn clock_skew_wrong_secret_and_unknown_subresources() {
    let s = server();
    let mut r = Raw::new(&s);
    r.now = SystemTime::now() - Duration::from_secs(20 * 60);
    let (st, body) = r.send("GET", "/raw/x", &[], EMPTY_SHA, b"").await;
    assert_eq!(st, 403);
    assert!(body.contains("RequestTimeTooSkewed"), "{body}");
    r.now = SystemTime::now();
    r.secret = Some("wrong".into());
    let (st, body) = r.send("GET", "/raw/x", &[], EMPTY_SHA, b"").await;
    assert_eq!(st, 403);
    assert!(body.contains("SignatureDoesNotMatch"), "{body}");
    r.secret = None;
    let (st, body) = r.send("GET", "/raw/x?acl", &[], EMPTY_SHA, b"").await;
    assert_eq!(st, 501);
    assert!(body.contains("NotImplemented"), "{body}");
    let (st, body) = r.send("GET", "/raw", &[], EMPTY_SHA, b"").await;
    assert_eq!(st, 200, "ListObjects v1: {body}");
    assert!(body.contains("<Marker></Marker>"), "{body}");
}

#[tokio::test]
async fn virtual_host_addressing_and_directory_bucket_listing() {
    let s = server();
    let mut r = Raw::new(&s);
    r.host = Some(format!("raw.localhost:{}", s.addr().port()));
    let (st, _) = r.send("PUT", "/vh/key", &[], &sha_hex(b"v"), b"v").await;
    assert_eq!(st, 200);
    r.host = None;
    let (st, body) = r.send("GET", "/raw/vh/key", &[], EMPTY_SHA, b"").await;
    assert_eq!((st, body.as_str()), (200, "v"));

    r.service = "s3express";
    let (st, body) = r
        .send("GET", "/?x-id=ListDirectoryBuckets", &[], EMPTY_SHA, b"")
        .await;
    assert_eq!(st, 200);
    assert!(body.contains("<Name>raw--use1-az4--x-s3</Name>"), "{body}");
    assert!(!body.contains("<Name>raw</Name>"), "{body}");
    let (st, body) = r
        .send(
            "GET",
            "/raw--use1-az4--x-s3/?session",
            &[("x-amz-create-session-mode", "Bogus")],
            EMPTY_SHA,
            b"",
        )
        .await;
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("Session mode"), "{body}");
    let (st, body) = r.send("GET", "/raw/?session", &[], EMPTY_SHA, b"").await;
    assert_eq!(st, 400, "CreateSession on a general purpose bucket: {body}");
    assert!(body.contains("only for directory buckets"), "{body}");
}

const DIR: &str = "raw--use1-az4--x-s3";

#[tokio::test]
async fn express_raw_append_past_10000_parts_is_too_many_parts() {
    let s = server();
    let b = s.state.store.get(DIR).unwrap();
    b.put(
        "full",
        super::store::Object {
            segments: vec![super::store::Segment::Synthetic { offset: 0, len: 10 }].into(),
            len: 10,
            etag: "\"e\"".into(),
            last_modified: SystemTime::now(),
            content_type: None,
            metadata: vec![],
            checksum: None,
            checksum_value: Default::default(),
            composite_parts: 0,
            parts: 10_000,
        },
    );
    let mut r = Raw::new(&s);
    r.service = "s3express";
    let h = [("x-amz-write-offset-bytes", "10")];
    let (st, body) = r
        .send(
            "PUT",
            "/raw--use1-az4--x-s3/full",
            &h,
            "UNSIGNED-PAYLOAD",
            b"x",
        )
        .await;
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("<Code>TooManyParts</Code>"), "{body}");
    // A copy onto itself resets the count (REPLACE: a self-copy must change
    // something), and the append then works.
    let h = [
        ("x-amz-copy-source", "/raw--use1-az4--x-s3/full"),
        ("x-amz-metadata-directive", "REPLACE"),
    ];
    let (st, body) = r
        .send("PUT", "/raw--use1-az4--x-s3/full", &h, EMPTY_SHA, b"")
        .await;
    assert_eq!(st, 200, "{body}");
    let h = [("x-amz-write-offset-bytes", "10")];
    let (st, body) = r
        .send(
            "PUT",
            "/raw--use1-az4--x-s3/full",
            &h,
            "UNSIGNED-PAYLOAD",
            b"x",
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(b.get("full").unwrap().len, 11);
}

#[tokio::test]
async fn express_raw_copy_with_a_session_token_is_refused_but_put_is_not() {
    let s = server();
    s.state.store.get(DIR).unwrap().put(
        "src",
        super::store::Object {
            segments: vec![super::store::Segment::Synthetic { offset: 0, len: 5 }].into(),
            len: 5,
            etag: "\"e\"".into(),
            last_modified: SystemTime::now(),
            content_type: None,
            metadata: vec![],
            checksum: None,
            checksum_value: Default::default(),
            composite_parts: 0,
            parts: 1,
        },
    );
    let session = s.state.sessions.create(DIR, false, SystemTime::now());
    let mut r = Raw::new(&s);
    r.service = "s3express";
    r.access_key = Some(session.access_key.clone());
    r.secret = Some(session.secret_key.clone());
    let tok = session.token.clone();
    let h = [("x-amz-s3session-token", tok.as_str())];
    let (st, body) = r
        .send(
            "PUT",
            "/raw--use1-az4--x-s3/p",
            &h,
            "UNSIGNED-PAYLOAD",
            b"ok",
        )
        .await;
    assert_eq!(st, 200, "a session PUT: {body}");
    let h = [
        ("x-amz-s3session-token", tok.as_str()),
        ("x-amz-copy-source", "/raw--use1-az4--x-s3/src"),
    ];
    let (st, body) = r
        .send("PUT", "/raw--use1-az4--x-s3/c", &h, EMPTY_SHA, b"")
        .await;
    assert_eq!(st, 403, "{body}");
    assert!(body.contains("IAM credentials"), "{body}");
    // The same copy signed with the base credentials works.
    let mut r = Raw::new(&s);
    r.service = "s3express";
    let (st, body) = r
        .send("PUT", "/raw--use1-az4--x-s3/c", &h[1..], EMPTY_SHA, b"")
        .await;
    assert_eq!(st, 200, "{body}");
}

/// A conditional write whose condition holds at commit but which another
/// write to its key overtook while its body arrived gets 409.
#[tokio::test]
async fn express_raw_conditional_write_overtaken_mid_body_is_409() {
    let s = server();
    for bucket in ["raw", DIR] {
        let mut r = Raw::new(&s);
        if bucket == DIR {
            r.service = "s3express";
        }
        let path = format!("/{bucket}/race");
        let h = [("if-none-match", "*")];
        let mut slow = r.start("PUT", &path, &h, "UNSIGNED-PAYLOAD", 10).await;
        slow.write_all(b"hello").await.unwrap();
        // Let the server register the request before the other writes.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (st, _) = r
            .send("PUT", &path, &[], "UNSIGNED-PAYLOAD", b"other")
            .await;
        assert_eq!(st, 200);
        let (st, _) = r.send("DELETE", &path, &[], EMPTY_SHA, b"").await;
        assert_eq!(st, 204);
        slow.write_all(b"world").await.unwrap();
        let (st, body) = finish(slow).await;
        assert_eq!(st, 409, "{bucket}: {body}");
        assert!(body.contains("ConditionalRequestConflict"), "{body}");
        assert!(s.state.store.get(bucket).unwrap().get("race").is_none());
        // Not overtaken: the same create-only write succeeds.
        let (st, body) = r
            .send("PUT", &path, &h, "UNSIGNED-PAYLOAD", b"helloworld")
            .await;
        assert_eq!(st, 200, "{body}");
    }
}
