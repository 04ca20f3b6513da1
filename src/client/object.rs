//! The seam between the engine and S3: one trait for the operations a phase
//! sends, implemented by [`S3Client`] (aws-sdk-s3, with the direct request
//! path for the hot operations) and, in the engine's tests, by a scripted
//! client under `tokio::time::pause()`. The engine never sees the SDK.
//!
//! Every aws-sdk-s3 `send()` future is boxed (`boxed_local`): it is several
//! KiB, and an async fn's state is as large as its largest branch, so
//! inline it made every engine worker task as large whether or not it took
//! the SDK path (15.2 KiB a worker, 152 MB of 474 MB heap at 10,000 in
//! flight on the direct path; heaptrack, `bench/get-4k-10k.toml`). Boxed,
//! the SDK path pays one allocation per request, next to its dozens.

use std::future::Future;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use futures_util::FutureExt as _;
use futures_util::StreamExt as _;
use tokio::time::Instant;

use super::direct::{DirectClient, Reply};
use super::{ErrorKind, SessionProbe, classify, synthetic_body};
use crate::scenario::ChecksumMode;

/// At most this many parts of one multipart PUT are in flight at once, as a
/// checkpoint writer would upload them (a checkpoint rank reads its share
/// back with as many ranged GETs in flight: one number for both).
const PART_CONCURRENCY: usize = crate::scenario::checkpoint::PARTS_IN_FLIGHT;

/// What one operation did. Errors are data, never a panic or an `Err`.
#[derive(Debug, Default)]
pub struct Outcome {
    /// When the first body byte arrived (GET-like operations).
    pub first_byte: Option<Instant>,
    pub bytes: u64,
    /// HTTP requests this operation sent (multipart PUT sends several).
    pub requests: u64,
    pub error: Option<ErrorKind>,
    /// The object's size after the write, when the answer said it
    /// (`x-amz-object-size` of an append).
    pub object_size: Option<u64>,
}

impl Outcome {
    /// A successful single request moving `bytes`.
    pub fn ok(bytes: u64) -> Outcome {
        Outcome {
            bytes,
            requests: 1,
            ..Outcome::default()
        }
    }

    pub fn failed(requests: u64, e: ErrorKind) -> Outcome {
        Outcome {
            requests,
            error: Some(e),
            ..Outcome::default()
        }
    }
}

impl From<Reply> for Outcome {
    fn from(r: Reply) -> Outcome {
        Outcome {
            first_byte: r.first_byte,
            bytes: r.bytes,
            requests: 1,
            error: r.error,
            object_size: r.object_size,
        }
    }
}

/// The operations of a phase's mix, on one bucket, for one engine thread.
/// Futures need not be `Send`: each engine thread runs its own
/// current-thread runtime.
pub trait ObjectClient {
    /// GET (ranged when `range` is set, inclusive), streaming and counting the body.
    fn get(&self, key: &str, range: Option<(u64, u64)>) -> impl Future<Output = Outcome>;
    fn head(&self, key: &str) -> impl Future<Output = Outcome>;
    /// PUT of `len` bytes of the synthetic pattern.
    fn put(&self, key: &str, len: u64) -> impl Future<Output = Outcome>;
    fn delete(&self, key: &str) -> impl Future<Output = Outcome>;
    fn multipart_put(&self, key: &str, len: u64, part_size: u64) -> impl Future<Output = Outcome>;
    /// A data-set object's PUT during prepare: create-only (`If-None-Match:
    /// *`) where the endpoint honours it, so an object already at the key
    /// gets 412 PreconditionFailed and stays as it was.
    fn put_new(&self, key: &str, len: u64) -> impl Future<Output = Outcome> {
        self.put(key, len)
    }
    /// [`ObjectClient::put_new`] as a multipart upload (the condition is on
    /// CompleteMultipartUpload).
    fn multipart_put_new(
        &self,
        key: &str,
        len: u64,
        part_size: u64,
    ) -> impl Future<Output = Outcome> {
        self.multipart_put(key, len, part_size)
    }
    /// [`ObjectClient::multipart_put`] that gives up when `stop` completes
    /// before the parts are uploaded: the upload is then aborted
    /// (AbortMultipartUpload), so a stopped run leaves no incomplete upload
    /// behind, and the result is None (nothing to record: the run stopped
    /// it, the endpoint did not fail it).
    fn multipart_put_unless(
        &self,
        key: &str,
        len: u64,
        part_size: u64,
        stop: impl Future<Output = ()>,
    ) -> impl Future<Output = Option<Outcome>> {
        // A client that cannot stop an upload half-way runs it to its end.
        drop(stop);
        async move { Some(self.multipart_put(key, len, part_size).await) }
    }
    /// One ListObjectsV2 page; returns the next continuation token.
    fn list(
        &self,
        prefix: &str,
        page_size: u32,
        delimiter: bool,
        token: Option<String>,
    ) -> impl Future<Output = (Outcome, Option<String>)>;
    /// Changes whenever a session handshake (CreateSession) starts or ends
    /// on this client, so an op that overlapped one can be flagged.
    fn session_marker(&self) -> (u64, u64) {
        (0, 0)
    }
    /// PutObject of `len` bytes with `x-amz-write-offset-bytes: offset`: an
    /// append to an object whose current size is `offset` (0 creates it).
    fn append(&self, key: &str, offset: u64, len: u64) -> impl Future<Output = Outcome>;
    /// PutObject of `len` bytes under a condition; the new ETag on success.
    fn put_if(
        &self,
        key: &str,
        len: u64,
        cond: WriteCondition<'_>,
    ) -> impl Future<Output = (Outcome, Option<String>)>;
    /// HeadObject returning the object's (ETag, size).
    fn stat(&self, key: &str) -> impl Future<Output = (Outcome, Option<(String, u64)>)>;
    /// RenameObject `from` -> `to` within the bucket (directory buckets).
    fn rename(&self, from: &str, to: &str) -> impl Future<Output = Outcome>;
    /// CopyObject `from` -> `to` within the bucket.
    fn copy(&self, from: &str, to: &str) -> impl Future<Output = Outcome>;
}

/// The condition of a conditional PUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteCondition<'a> {
    /// `If-None-Match: *`: only if the key holds no object.
    CreateOnly,
    /// `If-Match: <etag>`: only if the key's object has this ETag.
    IfMatch(&'a str),
}

/// The SDK's name for a checksum algorithm (None: send none).
pub fn sdk_algorithm(c: ChecksumMode) -> Option<ChecksumAlgorithm> {
    match c {
        ChecksumMode::None => None,
        ChecksumMode::Crc32 => Some(ChecksumAlgorithm::Crc32),
        ChecksumMode::Crc32c => Some(ChecksumAlgorithm::Crc32C),
        ChecksumMode::Crc64Nvme => Some(ChecksumAlgorithm::Crc64Nvme),
        ChecksumMode::Sha256 => Some(ChecksumAlgorithm::Sha256),
    }
}

/// `key` URL-encoded for `x-amz-copy-source` / `x-amz-rename-source`
/// (`/` kept), as S3 expects.
fn source(bucket: Option<&str>, key: &str) -> String {
    let mut s = String::with_capacity(key.len() + 64);
    if let Some(b) = bucket {
        s.push_str(b);
        s.push('/');
    }
    super::direct::sign::encode_key(key, &mut s);
    s
}

/// The real client of one target on one engine thread.
pub struct S3Client {
    pub sdk: Client,
    /// The direct request path for GET, HEAD, PUT and DELETE, when the
    /// target's settings allow it.
    pub direct: Option<DirectClient>,
    pub bucket: String,
    pub probe: std::sync::Arc<SessionProbe>,
    /// Whether [`ObjectClient::put_new`] sends `If-None-Match: *`
    /// ([`crate::client::TargetConfig::create_only`]).
    pub create_only: bool,
    /// The checksum uploads carry (the SDK path names it per request).
    pub checksum: ChecksumMode,
    /// The target's count of whole-object GETs checked against a checksum.
    pub body_checks: std::sync::Arc<super::checksum::BodyChecks>,
}

/// The outcome of an operation that is one request with no payload.
fn one_request<T, E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static>(
    res: Result<
        T,
        aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
    >,
) -> Outcome {
    match res {
        Ok(_) => Outcome::ok(0),
        Err(e) => Outcome::failed(1, classify(&e)),
    }
}

impl S3Client {
    /// A PutObject of `len` synthetic bytes with the configured checksum.
    fn put_request(
        &self,
        key: &str,
        len: u64,
    ) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
        self.sdk
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(len as i64)
            .body(synthetic_body(len))
            .set_checksum_algorithm(sdk_algorithm(self.checksum))
    }

    /// PutObject, create-only (`If-None-Match: *`) when asked.
    async fn put_object(&self, key: &str, len: u64, create_only: bool) -> Outcome {
        if let Some(d) = &self.direct {
            return if create_only {
                d.put_if(key, len, WriteCondition::CreateOnly).await.into()
            } else {
                d.put(key, len).await.into()
            };
        }
        let mut req = self.put_request(key, len);
        if create_only {
            req = req.if_none_match("*");
        }
        match req.send().boxed_local().await {
            Ok(_) => Outcome::ok(len),
            Err(e) => Outcome::failed(1, classify(&e)),
        }
    }

    /// CreateMultipartUpload, parts (up to 8 in flight), Complete
    /// (create-only with `If-None-Match: *` when `create_only`); aborts on
    /// failure so no orphaned upload is left behind.
    async fn multipart(&self, key: &str, len: u64, part_size: u64, create_only: bool) -> Outcome {
        // A stop that never comes: the upload always runs to its end.
        self.multipart_stoppable(key, len, part_size, create_only, std::future::pending())
            .await
            .unwrap_or_else(|| {
                Outcome::failed(
                    0,
                    ErrorKind {
                        key: "stopped".into(),
                        status: None,
                    },
                )
            })
    }

    /// AbortMultipartUpload of `upload_id` (its answer is not needed: an
    /// upload it could not abort is the endpoint's to expire).
    async fn abort_upload(&self, key: &str, upload_id: &str) {
        let _ = self
            .sdk
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .boxed_local()
            .await;
    }

    /// [`S3Client::multipart`] that aborts the upload and returns None when
    /// `stop` completes while its parts are in flight.
    async fn multipart_stoppable(
        &self,
        key: &str,
        len: u64,
        part_size: u64,
        create_only: bool,
        stop: impl Future<Output = ()>,
    ) -> Option<Outcome> {
        let (client, bucket) = (&self.sdk, self.bucket.as_str());
        // FULL_OBJECT where S3 has it (the CRCs), so a GET of the whole
        // object can be checked against it; SHA-256 is COMPOSITE only.
        let checksum_type = match self.checksum {
            ChecksumMode::Crc32 | ChecksumMode::Crc32c | ChecksumMode::Crc64Nvme => {
                Some(aws_sdk_s3::types::ChecksumType::FullObject)
            }
            ChecksumMode::None | ChecksumMode::Sha256 => None,
        };
        let create = match client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .set_checksum_algorithm(sdk_algorithm(self.checksum))
            .set_checksum_type(checksum_type)
            .send()
            .boxed_local()
            .await
        {
            Ok(c) => c,
            Err(e) => return Some(Outcome::failed(1, classify(&e))),
        };
        let Some(upload_id) = create.upload_id else {
            return Some(Outcome::failed(
                1,
                ErrorKind {
                    key: "no upload id in response".into(),
                    status: None,
                },
            ));
        };
        let parts = len.div_ceil(part_size).max(1);
        let results = futures_util::stream::iter(0..parts)
            .map(|p| {
                let part_len = part_size.min(len - p * part_size);
                let upload_id = &upload_id;
                async move {
                    let n = (p + 1) as i32;
                    client
                        .upload_part()
                        .bucket(bucket)
                        .key(key)
                        .upload_id(upload_id)
                        .part_number(n)
                        .set_checksum_algorithm(sdk_algorithm(self.checksum))
                        .content_length(part_len as i64)
                        .body(synthetic_body(part_len))
                        .send()
                        .boxed_local()
                        .await
                        .map(|r| {
                            // An upload created with a checksum must name
                            // each part's in the complete request (S3
                            // answers 400 InvalidRequest otherwise).
                            CompletedPart::builder()
                                .part_number(n)
                                .set_e_tag(r.e_tag)
                                .set_checksum_crc32(r.checksum_crc32)
                                .set_checksum_crc32_c(r.checksum_crc32_c)
                                .set_checksum_crc64_nvme(r.checksum_crc64_nvme)
                                .set_checksum_sha1(r.checksum_sha1)
                                .set_checksum_sha256(r.checksum_sha256)
                                .build()
                        })
                        .map_err(|e| classify(&e))
                }
            })
            .buffered(PART_CONCURRENCY)
            .collect();
        // The parts are what takes long; a stop while they are in flight
        // drops them and aborts the upload.
        tokio::pin!(stop);
        let results: Vec<Result<CompletedPart, ErrorKind>> = tokio::select! {
            r = results => r,
            _ = &mut stop => {
                self.abort_upload(key, &upload_id).await;
                return None;
            }
        };
        let mut requests = 1 + parts;
        let mut completed = Vec::with_capacity(results.len());
        let mut failure = None;
        for r in results {
            match r {
                Ok(p) => completed.push(p),
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        if let Some(e) = failure {
            requests += 1;
            self.abort_upload(key, &upload_id).await;
            return Some(Outcome::failed(requests, e));
        }
        requests += 1;
        let mut complete = client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            );
        if create_only {
            complete = complete.if_none_match("*");
        }
        match complete.send().boxed_local().await {
            Ok(_) => Some(Outcome {
                bytes: len,
                requests,
                ..Outcome::default()
            }),
            Err(e) => {
                let kind = classify(&e);
                // A refused condition leaves the upload open: abort it.
                if kind.status == Some(412) || kind.status == Some(409) {
                    requests += 1;
                    self.abort_upload(key, &upload_id).await;
                }
                Some(Outcome::failed(requests, kind))
            }
        }
    }
}

impl ObjectClient for S3Client {
    async fn get(&self, key: &str, range: Option<(u64, u64)>) -> Outcome {
        if let Some(d) = &self.direct {
            return d.get(key, range).await.into();
        }
        let mut req = self.sdk.get_object().bucket(&self.bucket).key(key);
        if let Some((first, last)) = range {
            req = req.range(format!("bytes={first}-{last}"));
        }
        let resp = match req.send().boxed_local().await {
            Ok(r) => r,
            Err(e) => return Outcome::failed(1, classify(&e)),
        };
        let headers_at = Instant::now();
        // Whether the SDK will check this body: a whole object whose
        // response carries a full-object checksum (a part-level `...-N`
        // one it skips).
        let checked = (self.checksum != ChecksumMode::None && range.is_none()).then(|| {
            [
                resp.checksum_crc64_nvme(),
                resp.checksum_crc32_c(),
                resp.checksum_crc32(),
                resp.checksum_sha1(),
                resp.checksum_sha256(),
            ]
            .into_iter()
            .flatten()
            .next()
            .is_some_and(|v| !v.contains('-'))
        });
        let mut body: ByteStream = resp.body;
        let mut out = Outcome::ok(0);
        loop {
            match body.try_next().await {
                Ok(Some(chunk)) => {
                    if out.first_byte.is_none() && !chunk.is_empty() {
                        out.first_byte = Some(Instant::now());
                    }
                    out.bytes += chunk.len() as u64;
                }
                Ok(None) => break,
                Err(e) => {
                    // The SDK checks a whole object's body against its
                    // checksum (`response_checksum_validation`) and fails
                    // the stream's end on a mismatch.
                    out.error = Some(ErrorKind {
                        key: if super::errors::is_checksum_mismatch(&e) {
                            super::checksum::MISMATCH.into()
                        } else {
                            "body: connection".into()
                        },
                        status: None,
                    });
                    break;
                }
            }
        }
        if let Some(checked) = checked
            && out
                .error
                .as_ref()
                .is_none_or(|e| e.key == super::checksum::MISMATCH)
        {
            self.body_checks.count(checked);
        }
        // An empty body's first byte is its response head.
        out.first_byte.get_or_insert(headers_at);
        out
    }

    async fn head(&self, key: &str) -> Outcome {
        if let Some(d) = &self.direct {
            return d.head(key).await.into();
        }
        one_request(
            self.sdk
                .head_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .boxed_local()
                .await,
        )
    }

    async fn put(&self, key: &str, len: u64) -> Outcome {
        self.put_object(key, len, false).await
    }

    async fn put_new(&self, key: &str, len: u64) -> Outcome {
        self.put_object(key, len, self.create_only).await
    }

    async fn multipart_put_new(&self, key: &str, len: u64, part_size: u64) -> Outcome {
        self.multipart(key, len, part_size, self.create_only).await
    }

    async fn delete(&self, key: &str) -> Outcome {
        if let Some(d) = &self.direct {
            return d.delete(key).await.into();
        }
        one_request(
            self.sdk
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .boxed_local()
                .await,
        )
    }

    async fn multipart_put(&self, key: &str, len: u64, part_size: u64) -> Outcome {
        self.multipart(key, len, part_size, false).await
    }

    async fn multipart_put_unless(
        &self,
        key: &str,
        len: u64,
        part_size: u64,
        stop: impl Future<Output = ()>,
    ) -> Option<Outcome> {
        self.multipart_stoppable(key, len, part_size, false, stop)
            .await
    }

    async fn append(&self, key: &str, offset: u64, len: u64) -> Outcome {
        if let Some(d) = &self.direct {
            return d.append(key, offset, len).await.into();
        }
        match self
            .put_request(key, len)
            .write_offset_bytes(offset as i64)
            .send()
            .boxed_local()
            .await
        {
            Ok(o) => Outcome {
                object_size: o.size().and_then(|n| u64::try_from(n).ok()),
                ..Outcome::ok(len)
            },
            Err(e) => Outcome::failed(1, classify(&e)),
        }
    }

    async fn put_if(
        &self,
        key: &str,
        len: u64,
        cond: WriteCondition<'_>,
    ) -> (Outcome, Option<String>) {
        if let Some(d) = &self.direct {
            let r = d.put_if(key, len, cond).await;
            let etag = r.etag.clone();
            return (r.into(), etag);
        }
        let req = self.put_request(key, len);
        let req = match cond {
            WriteCondition::CreateOnly => req.if_none_match("*"),
            WriteCondition::IfMatch(etag) => req.if_match(etag),
        };
        match req.send().boxed_local().await {
            Ok(r) => (Outcome::ok(len), r.e_tag),
            Err(e) => (Outcome::failed(1, classify(&e)), None),
        }
    }

    async fn stat(&self, key: &str) -> (Outcome, Option<(String, u64)>) {
        if let Some(d) = &self.direct {
            let r = d.head(key).await;
            let meta = r.etag.clone().zip(r.size);
            return (r.into(), meta);
        }
        match self
            .sdk
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .boxed_local()
            .await
        {
            Ok(r) => (
                Outcome::ok(0),
                r.e_tag
                    .zip(r.content_length.and_then(|n| u64::try_from(n).ok())),
            ),
            Err(e) => (Outcome::failed(1, classify(&e)), None),
        }
    }

    async fn rename(&self, from: &str, to: &str) -> Outcome {
        one_request(
            self.sdk
                .rename_object()
                .bucket(&self.bucket)
                .key(to)
                .rename_source(source(None, from))
                .send()
                .boxed_local()
                .await,
        )
    }

    /// On a directory bucket aws-sdk-s3 signs CopyObject with the base
    /// credentials, not the session (the S3 model disables session auth
    /// for it), as S3 Express requires.
    async fn copy(&self, from: &str, to: &str) -> Outcome {
        one_request(
            self.sdk
                .copy_object()
                .bucket(&self.bucket)
                .key(to)
                .copy_source(source(Some(&self.bucket), from))
                .send()
                .boxed_local()
                .await,
        )
    }

    async fn list(
        &self,
        prefix: &str,
        page_size: u32,
        delimiter: bool,
        token: Option<String>,
    ) -> (Outcome, Option<String>) {
        let mut req = self
            .sdk
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .max_keys(page_size as i32)
            .set_continuation_token(token);
        if delimiter {
            req = req.delimiter("/");
        }
        match req.send().boxed_local().await {
            Ok(r) => (Outcome::ok(0), r.next_continuation_token),
            Err(e) => (Outcome::failed(1, classify(&e)), None),
        }
    }

    fn session_marker(&self) -> (u64, u64) {
        self.probe.marker()
    }
}
