//! Request plumbing: routing, authentication, fault injection, body
//! reception, response bodies and the per-request bookkeeping.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use percent_encoding::percent_decode_str;

use super::chunked::ChunkedDecoder;
use super::counters::Op;
use super::error::S3Error;
use super::ingest::{Alg, Expectation, Ingest, Ingested, decode_b64};
use super::inject::Injection;
use super::sigv4::{self, PayloadHash, SignedRequest};
use super::store::SegmentChunks;
use super::{State, ops, xml};

pub(crate) type Resp = Response<RespBody>;

/// Decoded query parameters, in request order.
#[derive(Debug, Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: Option<&str>) -> Query {
        let Some(raw) = raw else {
            return Query::default();
        };
        Query(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    let dec = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
                    (dec(k), dec(v))
                })
                .collect(),
        )
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

/// Query parameters that select no sub-resource and may accompany any operation.
const PASSIVE_PARAMS: &[&str] = &[
    "x-id",
    "list-type",
    "prefix",
    "delimiter",
    "max-keys",
    "continuation-token",
    "start-after",
    "marker",
    "encoding-type",
    "fetch-owner",
    "max-parts",
    "part-number-marker",
    "max-buckets",
    "max-directory-buckets",
    "bucket-region",
    "response-content-type",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-cache-control",
    "response-expires",
];

/// Query parameters that select an operation this endpoint implements.
const OP_PARAMS: &[&str] = &[
    "uploads",
    "uploadId",
    "partNumber",
    "delete",
    "session",
    "location",
    "renameObject",
];

/// Where a request points.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Target {
    pub bucket: Option<String>,
    pub key: Option<String>,
}

fn decode_path_part(s: &str) -> Result<String, S3Error> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| {
            S3Error::new(
                400,
                "InvalidURI",
                "The request path is not valid UTF-8 after decoding.",
            )
        })
}

/// Path style `/bucket/key`, or virtual-host style when the Host's first
/// label is a known bucket or a directory bucket name.
pub(crate) fn parse_target(
    host: Option<&str>,
    path: &str,
    is_bucket: impl Fn(&str) -> bool,
) -> Result<Target, S3Error> {
    let path = path.strip_prefix('/').unwrap_or(path);
    if let Some(host) = host {
        let name = host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        let is_ip = name.parse::<std::net::IpAddr>().is_ok() || name.starts_with('[');
        if !is_ip
            && let Some((label, _)) = name.split_once('.')
            && (is_bucket(label) || label.ends_with("--x-s3"))
        {
            return Ok(Target {
                bucket: Some(label.to_string()),
                key: (!path.is_empty())
                    .then(|| decode_path_part(path))
                    .transpose()?,
            });
        }
    }
    if path.is_empty() {
        return Ok(Target::default());
    }
    let (bucket, key) = match path.split_once('/') {
        Some((b, k)) => (b, (!k.is_empty()).then_some(k)),
        None => (path, None),
    };
    Ok(Target {
        bucket: Some(decode_path_part(bucket)?),
        key: key.map(decode_path_part).transpose()?,
    })
}

/// The operation a request names, or the 501 that explains what is missing.
pub(crate) fn classify(
    method: &Method,
    target: &Target,
    q: &Query,
    headers: &http::HeaderMap,
) -> Result<Op, S3Error> {
    let copy_source = headers.contains_key("x-amz-copy-source");
    if let Some((name, _)) = q.0.iter().find(|(k, _)| {
        !PASSIVE_PARAMS.contains(&k.as_str())
            && !OP_PARAMS.contains(&k.as_str())
            && !k.starts_with("X-Amz-")
    }) {
        return Err(S3Error::not_implemented(&format!(
            "the '{name}' sub-resource"
        )));
    }
    let unsupported = |what: &str| Err(S3Error::not_implemented(what));
    let Some(_) = &target.bucket else {
        return match *method {
            Method::GET if q.get("x-id") == Some("ListDirectoryBuckets") => {
                Ok(Op::ListDirectoryBuckets)
            }
            Method::GET => Ok(Op::ListBuckets),
            _ => unsupported(&format!("{method} on the service root")),
        };
    };
    if target.key.is_none() {
        return match *method {
            Method::GET if q.has("session") => Ok(Op::CreateSession),
            Method::GET if q.has("location") => Ok(Op::GetBucketLocation),
            Method::GET if q.has("uploads") => unsupported("ListMultipartUploads"),
            Method::GET if q.get("list-type") == Some("2") => Ok(Op::ListObjectsV2),
            Method::GET => Ok(Op::ListObjects),
            Method::PUT => Ok(Op::CreateBucket),
            Method::HEAD => Ok(Op::HeadBucket),
            Method::DELETE => Ok(Op::DeleteBucket),
            Method::POST if q.has("delete") => Ok(Op::DeleteObjects),
            _ => unsupported(&format!("{method} on a bucket")),
        };
    }
    Ok(match *method {
        Method::GET if q.has("uploadId") => Op::ListParts,
        Method::GET | Method::HEAD if q.has("partNumber") => {
            return unsupported("GetObject by partNumber");
        }
        Method::GET => Op::GetObject,
        Method::HEAD => Op::HeadObject,
        Method::PUT if q.has("partNumber") && q.has("uploadId") && copy_source => {
            Op::UploadPartCopy
        }
        Method::PUT if q.has("partNumber") && q.has("uploadId") => Op::UploadPart,
        Method::PUT if q.has("renameObject") => Op::RenameObject,
        Method::PUT if copy_source => Op::CopyObject,
        Method::PUT if headers.contains_key("x-amz-write-offset-bytes") => Op::AppendObject,
        Method::PUT => Op::PutObject,
        Method::DELETE if q.has("uploadId") => Op::AbortMultipartUpload,
        Method::DELETE => Op::DeleteObject,
        Method::POST if q.has("uploads") => Op::CreateMultipartUpload,
        Method::POST if q.has("uploadId") => Op::CompleteMultipartUpload,
        _ => return unsupported(&format!("{method} on an object")),
    })
}

/// One request in flight.
pub(crate) struct Req<'a> {
    pub state: &'a State,
    pub parts: &'a Parts,
    body: Option<Incoming>,
    pub bucket: String,
    pub key: String,
    pub query: Query,
    pub op: Op,
    pub auth: Option<SignedRequest>,
    pub bytes_in: u64,
    /// When the request was fully received; injected latency counts from here.
    pub received_at: Instant,
    pub request_id: String,
    /// How the bucket is broken on purpose (`Injection::broken`).
    pub broken: crate::s3::inject::Broken,
}

impl Req<'_> {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn is_head(&self) -> bool {
        self.parts.method == Method::HEAD
    }

    fn payload(&self) -> PayloadHash {
        self.auth
            .as_ref()
            .map_or(PayloadHash::Unsigned, |a| a.payload.clone())
    }

    /// Receives the body, decoding aws-chunked framing, computing `algs`
    /// plus whatever the client asked to be checked, and verifying those.
    pub(crate) async fn read_body(
        &mut self,
        mut algs: Vec<Alg>,
        max: u64,
    ) -> Result<Ingested, S3Error> {
        let payload = self.payload();
        let chunked = payload.is_streaming()
            || self
                .header("content-encoding")
                .is_some_and(|v| v.split(',').any(|e| e.trim() == "aws-chunked"));
        let mut expect = Vec::new();
        if let PayloadHash::Sha256(h) = payload {
            expect.push(Expectation {
                alg: Alg::Sha256,
                value: Some(h.to_vec()),
                source: "x-amz-content-sha256".into(),
            });
        }
        if let Some(md5) = self.header("content-md5") {
            let value = decode_b64(md5).filter(|v| v.len() == 16).ok_or_else(|| {
                S3Error::new(
                    400,
                    "InvalidDigest",
                    "The Content-MD5 you specified is not valid.",
                )
            })?;
            expect.push(Expectation {
                alg: Alg::Md5,
                value: Some(value),
                source: "content-md5".into(),
            });
        }
        // On CompleteMultipartUpload these headers carry the whole object's
        // checksum, not the XML body's.
        let checksum_headers = self.op != Op::CompleteMultipartUpload;
        for (name, value) in &self.parts.headers {
            if !checksum_headers {
                break;
            }
            if let Some(alg) = Alg::from_checksum_header(name.as_str()) {
                let value = value.to_str().ok().and_then(decode_b64).ok_or_else(|| {
                    S3Error::invalid_request(format!("The {name} header is not valid base64."))
                })?;
                expect.push(Expectation {
                    alg,
                    value: Some(value),
                    source: name.as_str().to_string(),
                });
            }
        }
        if chunked && let Some(trailer) = self.header("x-amz-trailer") {
            for name in trailer.split(',').map(|t| t.trim().to_ascii_lowercase()) {
                if let Some(alg) = Alg::from_checksum_header(&name) {
                    expect.push(Expectation {
                        alg,
                        value: None,
                        source: name,
                    });
                }
            }
        }
        for e in &expect {
            if !algs.contains(&e.alg) {
                algs.push(e.alg);
            }
        }
        let declared = if chunked {
            self.header("x-amz-decoded-content-length")
        } else {
            self.header("content-length")
        }
        .map(|v| {
            v.trim().parse::<u64>().map_err(|_| {
                S3Error::invalid_argument("The content length header is not a number.")
            })
        })
        .transpose()?;
        let too_large = || {
            S3Error::new(
                400,
                "EntityTooLarge",
                format!("Your proposed upload exceeds the maximum allowed size of {max} bytes."),
            )
        };
        if declared.is_some_and(|d| d > max) {
            return Err(too_large());
        }
        let mut ingest = Ingest::new(algs, declared.unwrap_or(0));
        let mut decoder = chunked.then(ChunkedDecoder::default);
        let mut decoded = Vec::new();
        if let Some(mut body) = self.body.take() {
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| {
                    S3Error::new(
                        400,
                        "IncompleteBody",
                        format!("The request body could not be read: {e}."),
                    )
                })?;
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                match &mut decoder {
                    Some(d) => {
                        d.feed(data, &mut decoded)
                            .map_err(|e| S3Error::new(400, "IncompleteBody", e.to_string()))?;
                        for c in decoded.drain(..) {
                            ingest.push(&c);
                        }
                    }
                    None => ingest.push(&data),
                }
                if ingest.len() > max {
                    return Err(too_large());
                }
            }
        }
        if let Some(d) = decoder {
            let trailers = d
                .finish()
                .map_err(|e| S3Error::new(400, "IncompleteBody", e.to_string()))?;
            for (name, value) in trailers {
                if let Some(e) = expect
                    .iter_mut()
                    .find(|e| e.source == name && e.value.is_none())
                {
                    e.value = Some(decode_b64(&value).ok_or_else(|| {
                        S3Error::invalid_request(format!("The {name} trailer is not valid base64."))
                    })?);
                }
            }
        }
        if declared.is_some_and(|d| d != ingest.len()) {
            return Err(S3Error::new(
                400,
                "IncompleteBody",
                "You did not provide the number of bytes specified by the length header.",
            ));
        }
        let mut got = ingest.finish();
        self.bytes_in = got.len;
        self.received_at = Instant::now();
        got.verify(&expect)?;
        got.checksum = expect
            .iter()
            .find(|e| e.source.starts_with("x-amz-checksum-") && e.value.is_some())
            .map(|e| e.alg);
        Ok(got)
    }

    /// Discards an unread body so the connection stays usable.
    async fn drain(&mut self) {
        if let Some(mut body) = self.body.take() {
            while let Some(Ok(_)) = body.frame().await {}
            self.received_at = Instant::now();
        }
    }
}

/// Response body: empty, one buffer, or object chunks, optionally paced.
pub(crate) struct RespBody {
    inner: Inner,
    remaining: u64,
    pace: Option<Pace>,
    /// Bytes still to send before the body fails (an injected reset).
    cut_in: Option<u64>,
    /// Bytes still to send before the one whose lowest bit is flipped (an
    /// injected corruption).
    flip_in: Option<u64>,
    /// A pause before failing, so hyper flushes the head and the bytes sent
    /// (it writes them together with the next frame otherwise, and a failed
    /// body before the first flush would look like a refused request).
    cut_pause: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The bucket's request slot (`max_in_flight`), freed when hyper drops
    /// the body: after its last byte was written, or the connection closed.
    slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

enum Inner {
    Full(Option<Bytes>),
    Chunks(SegmentChunks),
}

struct Pace {
    bytes_per_sec: u64,
    chunk: usize,
    start: Option<Instant>,
    sent: u64,
    pending: Option<Bytes>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl RespBody {
    pub(crate) fn empty() -> RespBody {
        RespBody {
            inner: Inner::Full(None),
            remaining: 0,
            pace: None,
            cut_in: None,
            flip_in: None,
            cut_pause: None,
            slot: None,
        }
    }

    pub(crate) fn full(b: impl Into<Bytes>) -> RespBody {
        let b: Bytes = b.into();
        RespBody {
            remaining: b.len() as u64,
            inner: Inner::Full((!b.is_empty()).then_some(b)),
            pace: None,
            cut_in: None,
            flip_in: None,
            cut_pause: None,
            slot: None,
        }
    }

    pub(crate) fn chunks(c: SegmentChunks, len: u64) -> RespBody {
        RespBody {
            inner: Inner::Chunks(c),
            remaining: len,
            pace: None,
            cut_in: None,
            flip_in: None,
            cut_pause: None,
            slot: None,
        }
    }

    fn paced(mut self, bytes_per_sec: u64) -> RespBody {
        if bytes_per_sec > 0 {
            self.pace = Some(Pace {
                bytes_per_sec,
                // About 20 ms of data per write, so pacing is smooth but cheap.
                chunk: (bytes_per_sec / 50).clamp(1024, 256 * 1024) as usize,
                start: None,
                sent: 0,
                pending: None,
                sleep: None,
            });
        }
        self
    }

    /// Sends the first half of the body, then fails it: hyper then closes
    /// the connection without finishing the response, so the client reads
    /// fewer bytes than Content-Length announced.
    fn cut_half_way(mut self) -> RespBody {
        self.cut_in = Some(self.remaining / 2);
        self
    }

    /// Flips one bit of one byte at a random offset: the whole body goes
    /// out, with the announced length, wrong.
    fn corrupted(mut self) -> RespBody {
        if self.remaining > 0 {
            self.flip_in = Some(fastrand::u64(..self.remaining));
        }
        self
    }

    /// Applies a pending flip to the next chunk (copying that one chunk).
    fn flip(flip_in: &mut Option<u64>, chunk: Bytes) -> Bytes {
        let Some(at) = *flip_in else {
            return chunk;
        };
        let n = chunk.len() as u64;
        if at >= n {
            *flip_in = Some(at - n);
            return chunk;
        }
        *flip_in = None;
        let mut v = bytes::BytesMut::from(&chunk[..]);
        v[at as usize] ^= 1;
        v.freeze()
    }

    /// Applies a pending cut to the next chunk: shortens it to what may
    /// still go out, or fails once nothing may.
    fn cut(&mut self, mut chunk: Bytes) -> Result<Bytes, std::io::Error> {
        let Some(left) = self.cut_in.as_mut() else {
            return Ok(chunk);
        };
        if *left == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected reset mid-body",
            ));
        }
        if chunk.len() as u64 > *left {
            chunk.truncate(*left as usize);
        }
        *left -= chunk.len() as u64;
        Ok(chunk)
    }

    pub(crate) fn len(&self) -> u64 {
        self.remaining
    }

    fn next_chunk(&mut self) -> Option<Bytes> {
        match &mut self.inner {
            Inner::Full(b) => b.take(),
            Inner::Chunks(c) => c.next(),
        }
    }
}

impl Body for RespBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if this.cut_in == Some(0) {
            let pause = this
                .cut_pause
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(2))));
            if pause.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            return Poll::Ready(Some(this.cut(Bytes::new()).map(Frame::data)));
        }
        let Some(pace) = &mut this.pace else {
            let chunk = this.next_chunk();
            let chunk = match chunk.map(|c| this.cut(c)) {
                Some(Ok(c)) => RespBody::flip(&mut this.flip_in, c),
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => return Poll::Ready(None),
            };
            this.remaining = this.remaining.saturating_sub(chunk.len() as u64);
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        };
        if let Some(sleep) = &mut pace.sleep {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            pace.sleep = None;
        }
        let next = match pace.pending.take() {
            Some(p) => Some(p),
            None => match &mut this.inner {
                Inner::Full(b) => b.take(),
                Inner::Chunks(c) => c.next(),
            },
        };
        let Some(mut chunk) = next else {
            return Poll::Ready(None);
        };
        if chunk.len() > pace.chunk {
            pace.pending = Some(chunk.split_off(pace.chunk));
        }
        if let Some(left) = this.cut_in {
            if chunk.len() as u64 > left {
                chunk.truncate(left as usize);
            }
            this.cut_in = Some(left - chunk.len() as u64);
        }
        let chunk = RespBody::flip(&mut this.flip_in, chunk);
        let start = *pace.start.get_or_insert_with(Instant::now);
        pace.sent += chunk.len() as u64;
        this.remaining = this.remaining.saturating_sub(chunk.len() as u64);
        let due = start + Duration::from_secs_f64(pace.sent as f64 / pace.bytes_per_sec as f64);
        if due > Instant::now() {
            pace.sleep = Some(Box::pin(tokio::time::sleep_until(due.into())));
        }
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0 && self.pace.as_ref().is_none_or(|p| p.sleep.is_none())
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

fn error_response(e: &S3Error, req: &Req<'_>) -> Resp {
    let resource = req.parts.uri.path();
    let mut resp = if req.is_head() {
        Response::new(RespBody::empty())
    } else {
        let body = xml::error_body(&e.code, &e.message, &req.request_id, resource);
        let mut r = Response::new(RespBody::full(body));
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        r
    };
    *resp.status_mut() = e.status;
    resp
}

fn authenticate(req: &mut Req<'_>) -> Result<(), S3Error> {
    let state = req.state;
    let now = state.hooks.now();
    let signed = sigv4::parse(req.parts, &state.region, now)?;
    if let Some(token) = &signed.security_token {
        super::hooks::check_temporary_token(token, &state.secret_key, now)?;
    }
    let unknown_key = || {
        S3Error::new(
            403,
            "InvalidAccessKeyId",
            "The AWS access key ID you provided does not exist in our records.",
        )
    };
    let session = match &signed.session_token {
        Some(token) => {
            let s = state.sessions.lookup(token, now)?;
            if s.access_key != signed.access_key {
                return Err(unknown_key());
            }
            sigv4::verify(req.parts, &signed, &s.secret_key)?;
            Some(s)
        }
        None if signed.access_key == state.access_key => {
            sigv4::verify(req.parts, &signed, &state.secret_key)?;
            None
        }
        None => {
            // Test hook: the read-only principal (see `hooks`).
            let secret = state
                .hooks
                .read_only_secret(&signed.access_key)
                .ok_or_else(unknown_key)?;
            sigv4::verify(req.parts, &signed, &secret)?;
            super::hooks::deny_read_only(req.op, &req.parts.method)?;
            None
        }
    };
    if let Some(s) = &session {
        if req.op == Op::CreateSession {
            return Err(S3Error::access_denied(
                "CreateSession must be signed with account credentials, not a session.",
            ));
        }
        if req.bucket != s.bucket {
            return Err(S3Error::access_denied(format!(
                "The session token was issued for bucket {}, not {}.",
                s.bucket,
                if req.bucket.is_empty() {
                    "the service root"
                } else {
                    &req.bucket
                }
            )));
        }
        // The S3 model marks CopyObject and UploadPartCopy
        // `DisableS3ExpressSessionAuth`, so the SDK signs them with the base
        // (IAM) credentials; S3 requires that ("you must use IAM credentials
        // to authenticate and authorize your access to the CopyObject API
        // operation, instead of using the temporary security credentials
        // through the CreateSession API operation", CopyObject reference).
        if matches!(req.op, Op::CopyObject | Op::UploadPartCopy) {
            return Err(S3Error::access_denied(format!(
                "{} on a directory bucket is authorized with IAM credentials (the access key), not an S3 Express session token.",
                req.op.name()
            )));
        }
        if s.read_only && is_write(&req.parts.method) {
            return Err(S3Error::access_denied(
                "The session is ReadOnly and cannot be used to modify the bucket.",
            ));
        }
    }
    req.auth = Some(signed);
    Ok(())
}

fn is_write(m: &Method) -> bool {
    matches!(*m, Method::PUT | Method::POST | Method::DELETE)
}

/// What refused a request before it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// `error_rate` / `session_error_rate`: answered after the injected latency.
    Injected,
    /// The bucket's rate model (503 SlowDown): answered at once unless the
    /// injection gives faults their own latency, as S3 answers SlowDown.
    Throttled,
}

/// Fault injection for object-level operations, after authentication.
fn inject_fault(
    req: &Req<'_>,
    site: &super::Site,
    inj: &Injection,
) -> Result<(), (S3Error, Fault)> {
    let injected = || {
        let code = if inj.error_code.is_empty() {
            "InternalError"
        } else {
            &inj.error_code
        };
        let status = if inj.error_status == 0 {
            500
        } else {
            inj.error_status
        };
        Err((
            S3Error::custom(status, code, "Injected error."),
            Fault::Injected,
        ))
    };
    if req.op == Op::CreateSession {
        if inj.session_error_rate > 0.0 && fastrand::f64() < inj.session_error_rate {
            return injected();
        }
        return Ok(());
    }
    if req.op.is_control_plane() || req.op == Op::HeadBucket {
        return Ok(());
    }
    if inj.error_rate > 0.0 && fastrand::f64() < inj.error_rate {
        return injected();
    }
    if inj.prefix_limit.is_some() || inj.bucket_limit.is_some() {
        // A listing is served by the range its prefix falls in.
        let key = match req.op {
            Op::ListObjectsV2 | Op::ListObjects => req.query.get("prefix").unwrap_or(""),
            Op::DeleteObjects => return Ok(()),
            _ => &req.key,
        };
        let write = is_write(&req.parts.method);
        let mut model = site.partitions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = model.as_mut()
            && !m.admit(key, write, Instant::now())
        {
            return Err((
                S3Error::new(503, "SlowDown", "Please reduce your request rate."),
                Fault::Throttled,
            ));
        }
    }
    Ok(())
}

/// The hyper service function.
pub(crate) async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Resp, Infallible> {
    let (parts, body) = request.into_parts();
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.host());
    let query = Query::parse(parts.uri.query());
    let routed = parse_target(host, parts.uri.path(), |b| state.store.get(b).is_some())
        .and_then(|t| classify(&parts.method, &t, &query, &parts.headers).map(|op| (t, op)));
    let (target, op, route_err) = match routed {
        Ok((t, op)) => (t, op, None),
        Err(e) => (Target::default(), Op::Unsupported, Some(e)),
    };
    let mut req = Req {
        state: &state,
        parts: &parts,
        body: Some(body),
        bucket: target.bucket.unwrap_or_default(),
        key: target.key.unwrap_or_default(),
        query,
        op,
        auth: None,
        bytes_in: 0,
        received_at: Instant::now(),
        request_id: state.next_request_id(),
        broken: Default::default(),
    };
    let site = state.site(&req.bucket);
    let inj = site.injection();
    req.broken = inj.as_deref().map(|i| i.broken).unwrap_or_default();
    // A request waits for a slot before anything else happens to it: its
    // body is not read and its latency has not started (drain and the
    // latency both count from after this).
    let slot = site.slot().await;
    req.received_at = Instant::now();
    // When the endpoint began reading the request (its upload's start).
    let began = req.received_at;
    let mut injected_fault = None;
    let mut body_faulted = false;
    let result = match route_err {
        Some(e) => match authenticate(&mut req) {
            Ok(()) => Err(e),
            Err(auth) => Err(auth),
        },
        None => match authenticate(&mut req) {
            Err(e) => Err(e),
            Ok(()) => match inj.as_deref().map(|i| inject_fault(&req, &site, i)) {
                Some(Err((e, fault))) => {
                    injected_fault = Some(fault);
                    Err(e)
                }
                _ => ops::serve_op(&mut req).await,
            },
        },
    };
    req.drain().await;
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => error_response(&e, &req),
    };
    if let Some(inj) = inj.as_deref() {
        let lat = match (&inj.error_latency, injected_fault) {
            (Some(e), Some(_)) => Some(e),
            (None, Some(Fault::Throttled)) => None,
            _ => inj.latency.as_ref(),
        };
        // A paced upload is fully received no sooner than its bytes at
        // the upload rate after it began.
        let received = match inj.upload_bandwidth {
            Some(bw) if bw > 0 => req
                .received_at
                .max(began + Duration::from_secs_f64(req.bytes_in as f64 / bw as f64)),
            _ => req.received_at,
        };
        if let Some(lat) = lat {
            state.timer.sleep_until(received + lat.sample()).await;
        } else if received > req.received_at {
            state.timer.sleep_until(received).await;
        }
        if let Some(bw) = inj.bandwidth {
            let body = std::mem::replace(resp.body_mut(), RespBody::empty());
            *resp.body_mut() = body.paced(bw);
        }
        // Body faults on a GET's body: a reset half-way (bodies of 2 bytes
        // or more), else one flipped bit.
        let body_len = resp.body().len();
        let roll = |rate: f64| rate > 0.0 && fastrand::f64() < rate;
        let fault: Option<fn(RespBody) -> RespBody> =
            if op != Op::GetObject || !resp.status().is_success() || body_len == 0 {
                None
            } else if body_len >= 2 && roll(inj.body_reset_rate) {
                Some(RespBody::cut_half_way)
            } else if roll(inj.corrupt_rate) {
                Some(RespBody::corrupted)
            } else {
                None
            };
        if let Some(fault) = fault {
            let body = std::mem::replace(resp.body_mut(), RespBody::empty());
            *resp.body_mut() = fault(body);
            body_faulted = true;
        }
    }
    resp.body_mut().slot = slot;
    state.wait_stall().await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&req.request_id) {
        h.insert("x-amz-request-id", v);
    }
    h.insert("x-amz-id-2", state.host_id.clone());
    h.insert(http::header::SERVER, HeaderValue::from_static("s3bench"));
    if let Some(date) = state.hooks.date_header() {
        h.insert(http::header::DATE, date);
    }
    let status = resp.status();
    let bytes_out = if req.is_head() { 0 } else { resp.body().len() };
    // A cut or corrupted body is an error the endpoint made, counted as one.
    site.counters.record(
        op,
        status.as_u16() >= 400 || body_faulted,
        req.bytes_in,
        bytes_out,
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, path: &str) -> Target {
        parse_target(Some(host), path, |b| b == "known").unwrap()
    }

    #[test]
    fn path_and_virtual_host_addressing() {
        let t = |b: &str, k: Option<&str>| Target {
            bucket: Some(b.into()),
            key: k.map(Into::into),
        };
        assert_eq!(
            target("127.0.0.1:9000", "/b/k%20x/y"),
            t("b", Some("k x/y"))
        );
        assert_eq!(target("127.0.0.1:9000", "/b/"), t("b", None));
        assert_eq!(target("127.0.0.1:9000", "/b"), t("b", None));
        assert_eq!(target("127.0.0.1:9000", "/"), Target::default());
        assert_eq!(target("known.localhost:9000", "/k"), t("known", Some("k")));
        assert_eq!(
            target(
                "x--use1-az4--x-s3.s3express-use1-az4.us-east-1.amazonaws.com",
                "/"
            ),
            t("x--use1-az4--x-s3", None)
        );
        assert_eq!(target("localhost:9000", "/b/k"), t("b", Some("k")));
        assert_eq!(target("unknown.localhost", "/b/k"), t("b", Some("k")));
        assert!(parse_target(None, "/b/%FF", |_| false).is_err());
    }

    #[test]
    fn operations_are_classified_from_method_and_query() {
        let obj = Target {
            bucket: Some("b".into()),
            key: Some("k".into()),
        };
        let bucket = Target {
            bucket: Some("b".into()),
            key: None,
        };
        let none = http::HeaderMap::new();
        let c = |m: Method, t: &Target, q: &str| classify(&m, t, &Query::parse(Some(q)), &none);
        assert_eq!(c(Method::GET, &obj, "x-id=GetObject"), Ok(Op::GetObject));
        assert_eq!(
            c(Method::PUT, &obj, "partNumber=1&uploadId=u"),
            Ok(Op::UploadPart)
        );
        assert_eq!(
            c(Method::POST, &obj, "uploads"),
            Ok(Op::CreateMultipartUpload)
        );
        assert_eq!(
            c(Method::DELETE, &obj, "uploadId=u"),
            Ok(Op::AbortMultipartUpload)
        );
        assert_eq!(c(Method::GET, &bucket, "session"), Ok(Op::CreateSession));
        assert_eq!(
            c(Method::GET, &bucket, "list-type=2&prefix=a"),
            Ok(Op::ListObjectsV2)
        );
        assert_eq!(c(Method::POST, &bucket, "delete"), Ok(Op::DeleteObjects));
        assert_eq!(
            c(Method::GET, &Target::default(), "x-id=ListDirectoryBuckets"),
            Ok(Op::ListDirectoryBuckets)
        );
        assert_eq!(
            c(Method::GET, &obj, "acl").unwrap_err().code,
            "NotImplemented"
        );
        assert_eq!(c(Method::GET, &bucket, ""), Ok(Op::ListObjects));
        assert_eq!(
            c(Method::GET, &bucket, "marker=a&max-keys=2"),
            Ok(Op::ListObjects)
        );
        assert_eq!(c(Method::PUT, &obj, "renameObject"), Ok(Op::RenameObject));
        let mut h = http::HeaderMap::new();
        h.insert("x-amz-copy-source", HeaderValue::from_static("/b/k"));
        let copy = classify(&Method::PUT, &obj, &Query::default(), &h);
        assert_eq!(copy, Ok(Op::CopyObject));
        let mut h = http::HeaderMap::new();
        h.insert("x-amz-write-offset-bytes", HeaderValue::from_static("0"));
        let append = classify(&Method::PUT, &obj, &Query::default(), &h);
        assert_eq!(append, Ok(Op::AppendObject));
    }
}
