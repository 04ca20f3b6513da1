//! The direct request path: GET, ranged GET, HEAD, PUT and DELETE sent
//! over this thread's own HTTP/1.1 connections ([`http1`]), signed with SigV4 by
//! [`sign`], to the URL aws-sdk-s3's own endpoint resolver gives for the
//! bucket. It exists because the SDK's per-request machinery (runtime
//! plugins, interceptors, identity and endpoint resolution, a freshly
//! derived signing key) cost more client CPU per 4 KiB GET than the request
//! itself; see bench/RESULTS.md.
//!
//! What stays with the SDK: credentials (the SDK client's provider, i.e.
//! aws-config's chain), CreateSession for directory buckets (sent through the
//! SDK client, so the [`SessionProbe`](super::SessionProbe) counts and times
//! it), endpoint rules, and every other operation. The direct path is used
//! only when a request needs none of what it leaves out: retries off, no
//! stalled-stream protection. Upload checksums (`[client] checksum`) are
//! computed here on every PUT and sent as an `x-amz-checksum-*` header;
//! with one set, GETs ask for the object's checksum and check the body.
//! Appends (`x-amz-write-offset-bytes`) and conditional PUTs (`If-Match`,
//! `If-None-Match`) take this path too.

mod http1;
mod identity;
pub mod sign;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::time::Instant;

use aws_sdk_s3::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use aws_smithy_types::Document;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use sha2::{Digest, Sha256};
use tower_service::Service as _;

use self::http1::{Body, Conn, Failed, ReadBuffer};
use self::identity::Identity;
use self::sign::{AmzClock, EMPTY_SHA256, Signer, ToSign, UNSIGNED_PAYLOAD};
use super::WriteCondition;
use super::body::SyntheticBody;
use super::checksum::{BodyCheck, MISMATCH, upload_checksum};
use super::resolve::Resolver;
use super::{ErrorKind, TargetConfig};
use crate::scenario::{ChecksumMode, RequestPath};
use crate::synthetic;

/// Bodies up to this size are signed with their SHA-256 (as the SDK does
/// for in-memory bodies); larger ones stream as UNSIGNED-PAYLOAD.
const HASHED_BODY_MAX: u64 = 64 * 1024;
/// Body hashes kept per thread.
const HASH_CACHE_MAX: usize = 256;
/// The pattern's SHA-256 state is kept every this many bytes.
const HASH_STEP: usize = 4096;

/// Every synthetic body starts at offset 0 of the same pattern, so the
/// SHA-256 state after each 4 KiB prefix is computed once and a body's hash
/// only adds its last partial step.
static PREFIX_STATES: LazyLock<Vec<Sha256>> = LazyLock::new(|| {
    let data = synthetic::window(0, HASHED_BODY_MAX as usize);
    let mut h = Sha256::new();
    let mut out = vec![h.clone()];
    for chunk in data.chunks(HASH_STEP) {
        h.update(chunk);
        out.push(h.clone());
    }
    out
});

/// SHA-256 of the first `len` (<= 64 KiB) bytes of the synthetic pattern.
fn synthetic_sha256(len: u64) -> [u8; 32] {
    let len = len as usize;
    let step = len / HASH_STEP;
    let mut h = PREFIX_STATES[step].clone();
    let from = step * HASH_STEP;
    h.update(synthetic::window(from as u64, len - from));
    h.finalize().into()
}

/// The `x-amz-sdk-checksum-algorithm` value of a checksum mode.
fn sdk_algorithm_name(mode: ChecksumMode) -> &'static str {
    match mode {
        ChecksumMode::None => "",
        ChecksumMode::Crc32 => "CRC32",
        ChecksumMode::Crc32c => "CRC32C",
        ChecksumMode::Crc64Nvme => "CRC64NVME",
        ChecksumMode::Sha256 => "SHA256",
    }
}

/// Error bodies are read up to this size for their `<Code>`.
const ERROR_BODY_MAX: usize = 64 * 1024;

/// What one direct request produced.
#[derive(Debug, Default)]
pub struct Reply {
    pub first_byte: Option<Instant>,
    pub bytes: u64,
    pub error: Option<ErrorKind>,
    /// The response's ETag (PUT, HEAD).
    pub etag: Option<String>,
    /// The response's Content-Length (HEAD: the object's size).
    pub size: Option<u64>,
    /// `x-amz-object-size` of a PUT's answer (an append's new size).
    pub object_size: Option<u64>,
    /// The response's HTTP status (0: none came).
    pub status: u16,
}

impl Reply {
    fn failed(e: ErrorKind) -> Reply {
        Reply {
            error: Some(e),
            ..Reply::default()
        }
    }
}

/// True when the target's settings let GET/HEAD/PUT/DELETE take the direct
/// path (the endpoint's auth scheme is checked when the client is built).
pub fn eligible(t: &TargetConfig) -> bool {
    let s = &t.settings;
    s.request_path == RequestPath::Direct && s.max_attempts <= 1 && !s.stalled_stream_protection
}

/// One thread's direct client for one target.
pub struct DirectClient {
    connector: HttpsConnector<HttpConnector<Resolver>>,
    /// `scheme://authority` to connect to.
    origin: Uri,
    host: HeaderValue,
    /// Path of the bucket's base URL (`/bucket` path-style, empty virtual-host).
    base_path: String,
    signer: Signer,
    identity: Identity,
    clock: AmzClock,
    /// Idle connections, most recently used last.
    idle: RefCell<Vec<Conn>>,
    /// The read buffer all of this client's connections share (see [`http1`]).
    read_buf: ReadBuffer,
    pool_max: usize,
    op_timeout: Option<Duration>,
    /// SHA-256 (hex) of the synthetic body of recent lengths (bounded).
    body_hashes: RefCell<HashMap<u64, HeaderValue>>,
    path: RefCell<String>,
    /// The checksum every upload carries.
    checksum: ChecksumMode,
    /// The target's count of whole-object GETs checked against a checksum.
    body_checks: Arc<super::checksum::BodyChecks>,
}

static USER_AGENT_VALUE: LazyLock<HeaderValue> = LazyLock::new(|| {
    HeaderValue::from_static(concat!("s3bench/", env!("CARGO_PKG_VERSION"), " direct"))
});

/// The system's CA store (or `SSL_CERT_FILE`), loaded once per process.
static NATIVE_TLS: LazyLock<Arc<rustls::ClientConfig>> = LazyLock::new(|| {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    tls_config(roots)
});

fn tls_config(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(cfg)
}

/// What the target's TLS trusts: its `ca_file` alone when it has one (as
/// the SDK's client does), the system's store otherwise.
fn target_tls(t: &TargetConfig) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    match &t.spec.ca_file {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            // Validation parsed every certificate already.
            roots.add_parsable_certificates(
                CertificateDer::pem_slice_iter(&ca.pem).filter_map(Result::ok),
            );
            tls_config(roots)
        }
        None => NATIVE_TLS.clone(),
    }
}

impl DirectClient {
    /// Builds the direct client for `t`, or None when the target needs the
    /// SDK for everything (settings, or an auth scheme other than SigV4 /
    /// S3 Express sessions). `sdk` is this thread's SDK client for the
    /// target: it provides credentials and sends CreateSession.
    pub async fn new(t: &TargetConfig, sdk: &aws_sdk_s3::Client) -> Option<DirectClient> {
        if !eligible(t) {
            return None;
        }
        let endpoint = match resolve(t).await {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!("direct path off for {}: {e}", t.spec.name);
                return None;
            }
        };
        let (scheme, signing_name, region) = auth_scheme(&endpoint, &t.spec.region)?;
        let url: Uri = endpoint.url().parse().ok()?;
        let authority = url.authority()?.clone();
        let origin = Uri::builder()
            .scheme(url.scheme()?.clone())
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .ok()?;
        let base_path = url.path().trim_end_matches('/').to_string();
        let identity = if scheme == "sigv4-s3express" {
            Identity::session(sdk.clone(), t.spec.bucket.clone())
        } else {
            Identity::base(match &t.auth {
                super::Auth::Shared(c) => c.credentials_provider()?,
                super::Auth::Static(c) => {
                    aws_credential_types::provider::SharedCredentialsProvider::new(c.clone())
                }
            })
        };
        let mut http = HttpConnector::new_with_resolver(match t.spec.resolve {
            Some(ip) => Resolver::Fixed(ip),
            None => Resolver::System(hyper_util::client::legacy::connect::dns::GaiResolver::new()),
        });
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(t.settings.connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*target_tls(t)).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let host = HeaderValue::from_str(authority.as_str()).ok()?;
        t.direct_threads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(DirectClient {
            connector,
            origin,
            host,
            base_path,
            signer: Signer::new(&region, &signing_name),
            identity,
            clock: AmzClock::default(),
            idle: RefCell::new(Vec::new()),
            read_buf: ReadBuffer::new(),
            pool_max: t.pool_size.max(1),
            op_timeout: t.settings.operation_timeout,
            body_hashes: RefCell::new(HashMap::new()),
            path: RefCell::new(String::with_capacity(128)),
            checksum: t.settings.checksums,
            body_checks: t.body_checks.clone(),
        })
    }

    /// GET `key` (bytes `range.0..=range.1` if given), reading the body and
    /// counting it; `first_byte` is when the first body byte arrived (the
    /// response head for an empty body).
    pub async fn get(&self, key: &str, range: Option<(u64, u64)>) -> Reply {
        let span = range;
        let range = range.map(|(a, b)| format!("bytes={a}-{b}"));
        // With checksums on, ask for the object's checksum (S3 sends one
        // for a whole object only) and check the body against it.
        let mode = [("x-amz-checksum-mode", HeaderValue::from_static("ENABLED"))];
        let extra: &[_] = if self.checksum == ChecksumMode::None {
            &[]
        } else {
            &mode
        };
        self.timed("GetObject", key, span, 0, async {
            let mut got = Got::new(Method::GET);
            got.want_check = !extra.is_empty();
            let sent = self
                .send(
                    Method::GET,
                    key,
                    range.as_deref(),
                    Body::Empty,
                    None,
                    extra,
                    &mut got,
                )
                .await;
            if let Some(e) = got.error(&sent) {
                return Reply::failed(e);
            }
            // A whole object only: a server that sent the object's
            // checksum with a byte range would fail every ranged GET.
            let whole = got.want_check && got.status == 200;
            let mut out = Reply {
                status: got.status,
                bytes: got.bytes,
                first_byte: got.first_byte.or(got.headers_at),
                ..Reply::default()
            };
            if sent.is_err() {
                out.error = Some(kind("body: connection"));
                return out;
            }
            if whole {
                self.body_checks.count(got.check.is_some());
            }
            if got.check.is_some_and(|c| !c.matches()) {
                out.error = Some(kind(MISMATCH));
            }
            out
        })
        .await
    }

    pub async fn head(&self, key: &str) -> Reply {
        self.simple("HeadObject", Method::HEAD, key, Body::Empty, None, &[])
            .await
    }

    pub async fn delete(&self, key: &str) -> Reply {
        self.simple("DeleteObject", Method::DELETE, key, Body::Empty, None, &[])
            .await
    }

    /// PUT `len` bytes of the synthetic pattern.
    pub async fn put(&self, key: &str, len: u64) -> Reply {
        self.put_with(key, len, None, None).await
    }

    /// PUT with `x-amz-write-offset-bytes: offset`: an append.
    pub async fn append(&self, key: &str, offset: u64, len: u64) -> Reply {
        let offset = HeaderValue::from(offset);
        self.put_with(key, len, None, Some(offset)).await
    }

    /// PUT under `If-None-Match: *` or `If-Match: <etag>`.
    pub async fn put_if(&self, key: &str, len: u64, cond: WriteCondition<'_>) -> Reply {
        let c = match cond {
            WriteCondition::CreateOnly => ("if-none-match", HeaderValue::from_static("*")),
            WriteCondition::IfMatch(etag) => match HeaderValue::from_str(etag) {
                Ok(v) => ("if-match", v),
                Err(_) => return Reply::failed(kind("request not built: ETag is no header value")),
            },
        };
        self.put_with(key, len, Some(c), None).await
    }

    async fn put_with(
        &self,
        key: &str,
        len: u64,
        cond: Option<(&'static str, HeaderValue)>,
        offset: Option<HeaderValue>,
    ) -> Reply {
        let mut extra: Vec<(&'static str, HeaderValue)> = Vec::new();
        if let Some(c) = cond {
            extra.push(c);
        }
        if let Some(o) = offset {
            extra.push(("x-amz-write-offset-bytes", o));
        }
        // Computed over the body on every request: its cost is what a
        // scenario with a checksum measures.
        let sum = if len <= HASHED_BODY_MAX {
            upload_checksum(self.checksum, [&synthetic::window(0, len as usize)[..]])
        } else {
            let chunks: Vec<Bytes> = synthetic::chunks(0, len).collect();
            upload_checksum(self.checksum, chunks.iter().map(|c| &c[..]))
        };
        if let Some((name, value)) = sum {
            match HeaderValue::from_str(&value) {
                Ok(v) => extra.push((name, v)),
                Err(_) => return Reply::failed(kind("request not built: checksum")),
            }
            // Named as the SDKs name it: S3 takes the value header alone,
            // but some S3-compatible servers (moto) store a checksum only
            // when this header names its algorithm.
            extra.push((
                "x-amz-sdk-checksum-algorithm",
                HeaderValue::from_static(sdk_algorithm_name(self.checksum)),
            ));
        }
        let (body, hash) = if len <= HASHED_BODY_MAX {
            let data = synthetic::window(0, len as usize);
            let mut cache = self.body_hashes.borrow_mut();
            let hash = match cache.get(&len) {
                Some(h) => h.clone(),
                None => {
                    let h = HeaderValue::from_str(&hex::encode(synthetic_sha256(len)))
                        .expect("hex is a valid header value");
                    // Sizes drawn from a range are mostly distinct: keep the
                    // cache small; a miss costs at most 4 KiB of hashing.
                    if cache.len() >= HASH_CACHE_MAX {
                        cache.clear();
                    }
                    cache.insert(len, h.clone());
                    h
                }
            };
            (Body::Bytes(data), hash)
        } else {
            (
                Body::Synthetic(SyntheticBody::new(len)),
                HeaderValue::from_static(UNSIGNED_PAYLOAD),
            )
        };
        // Named as the endpoint counts it: S3 bills an append as a PutObject.
        let op = if extra.iter().any(|(n, _)| *n == "x-amz-write-offset-bytes") {
            "AppendObject"
        } else {
            "PutObject"
        };
        let mut r = self
            .simple(op, Method::PUT, key, body, Some(hash), &extra)
            .await;
        if r.error.is_none() {
            r.bytes = len;
        }
        r
    }

    /// A request whose response body is not measured.
    async fn simple(
        &self,
        op: &'static str,
        method: Method,
        key: &str,
        body: Body,
        payload_hash: Option<HeaderValue>,
        extra: &[(&'static str, HeaderValue)],
    ) -> Reply {
        let up = body.len().unwrap_or(0);
        self.timed(op, key, None, up, async {
            let mut got = Got::new(method.clone());
            let sent = self
                .send(method, key, None, body, payload_hash, extra, &mut got)
                .await;
            if let Some(e) = got.error(&sent) {
                return Reply::failed(e);
            }
            if sent.is_err() {
                return Reply::failed(kind("body: connection"));
            }
            Reply {
                etag: got.etag,
                size: got.size,
                object_size: got.object_size,
                status: got.status,
                ..Reply::default()
            }
        })
        .await
    }

    /// Runs one request under the operation timeout; with `run --op-log`
    /// it also times the request on its own and logs it (a request
    /// abandoned mid-way, at a stop, is logged as `abandoned`).
    async fn timed(
        &self,
        op: &'static str,
        key: &str,
        range: Option<(u64, u64)>,
        up: u64,
        f: impl Future<Output = Reply>,
    ) -> Reply {
        let mut logged = crate::oplog::active().then(|| Logged {
            op,
            key,
            range,
            sent: std::time::Instant::now(),
            done: false,
        });
        let r = match self.op_timeout {
            Some(d) => tokio::time::timeout(d, f)
                .await
                .unwrap_or_else(|_| Reply::failed(kind("timeout"))),
            None => f.await,
        };
        if let Some(l) = &mut logged {
            l.done = true;
            let e = r.error.as_ref();
            crate::oplog::record(&crate::oplog::Request {
                op,
                key,
                range,
                // An upload's payload is its request body.
                bytes: if e.is_none() && up > 0 { up } else { r.bytes },
                sent: l.sent,
                first_byte: r.first_byte.map(Instant::into_std),
                done: std::time::Instant::now(),
                status: e.and_then(|e| e.status).unwrap_or(r.status),
                group: e.map_or("", |e| e.group().key()),
                error: e.map_or("", |e| e.key.as_str()),
                attempt: 1,
            });
        }
        r
    }

    /// Signs and sends one request on an idle or new connection and reads
    /// its response into `got`. Err before `got.status` is set: no
    /// response came (the transport's error kind); after: its body broke.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        method: Method,
        key: &str,
        range: Option<&str>,
        mut body: Body,
        payload_hash: Option<HeaderValue>,
        extra: &[(&'static str, HeaderValue)],
        got: &mut Got,
    ) -> Result<(), ErrorKind> {
        if extra.len() > MAX_EXTRA {
            return Err(kind("request not built: too many headers"));
        }
        let creds = self.identity.get().await?;
        let payload_hash = payload_hash.unwrap_or(HeaderValue::from_static(EMPTY_SHA256));
        let head = {
            let mut path = self.path.borrow_mut();
            path.clear();
            path.push_str(&self.base_path);
            path.push('/');
            sign::encode_key(key, &mut path);
            let amz_date = self.clock.now();
            let mut extra_str: [(&'static str, &str); MAX_EXTRA] = [("", ""); MAX_EXTRA];
            for (slot, (n, v)) in extra_str.iter_mut().zip(extra) {
                *slot = (*n, v.to_str().unwrap_or(""));
            }
            let auth = self.signer.authorization(
                &ToSign {
                    method: method.as_str(),
                    path: &path,
                    host: self.host.to_str().unwrap_or(""),
                    range,
                    payload_hash: payload_hash.to_str().unwrap_or(""),
                    amz_date: &amz_date,
                    extra: &extra_str[..extra.len().min(MAX_EXTRA)],
                },
                &creds,
            );
            let mut h = RequestHead::new(method.as_str(), &path);
            h.header("host", self.host.as_bytes());
            h.header("user-agent", USER_AGENT_VALUE.as_bytes());
            h.header("x-amz-content-sha256", payload_hash.as_bytes());
            h.header("x-amz-date", amz_date.as_bytes());
            if let Some(r) = range {
                h.header("range", r.as_bytes());
            }
            for (n, v) in extra {
                h.header(n, v.as_bytes());
            }
            if let Some((name, value)) = &creds.token {
                if !http1::valid_value(value.as_bytes()) {
                    return Err(kind("request not built: session token is no header value"));
                }
                h.header(name, value.as_bytes());
            }
            if let Some(n) = body.len() {
                h.header("content-length", itoa(n, &mut [0u8; 20]));
            }
            h.header("authorization", auth.as_bytes());
            h.finish()
        };
        let head_request = method == Method::HEAD;
        let mut pooled = self.take_idle();
        // A pooled connection the server closed before our request left is
        // replaced once; the request never reached the server.
        loop {
            let reused = pooled.is_some();
            let mut conn = match pooled.take() {
                Some(c) => c,
                None => self.connect().await?,
            };
            let this = if reused {
                body.clone()
            } else {
                std::mem::replace(&mut body, Body::Empty)
            };
            match conn
                .exchange(&head, this, head_request, &self.read_buf, got)
                .await
            {
                Ok(reusable) => {
                    if reusable {
                        self.release(conn);
                    }
                    return Ok(());
                }
                Err(Failed::Write(_)) if reused => {}
                Err(Failed::Write(e) | Failed::Head(e)) => return Err(io_error(&e)),
                Err(Failed::Body(e)) => {
                    tracing::debug!("direct path: response body: {e}");
                    return Err(kind("body: connection"));
                }
            }
        }
    }

    /// The most recently used idle connection the server has not closed.
    fn take_idle(&self) -> Option<Conn> {
        let mut idle = self.idle.borrow_mut();
        while let Some(mut c) = idle.pop() {
            if c.usable() {
                return Some(c);
            }
        }
        None
    }

    fn release(&self, conn: Conn) {
        let mut idle = self.idle.borrow_mut();
        if idle.len() < self.pool_max {
            idle.push(conn);
        }
    }

    async fn connect(&self) -> Result<Conn, ErrorKind> {
        let mut connector = self.connector.clone();
        let io = connector
            .call(self.origin.clone())
            .await
            .map_err(|e| connect_error(&*e))?;
        Ok(Conn::new(io))
    }
}

/// Headers beyond the fixed ones a request can carry (a PUT's condition,
/// append offset, checksum and its algorithm's name).
const MAX_EXTRA: usize = 4;

/// A request head as it goes on the wire.
struct RequestHead(Vec<u8>);

impl RequestHead {
    fn new(method: &str, path: &str) -> RequestHead {
        // An S3 request head with its signature is about 500 bytes.
        let mut v = Vec::with_capacity(640);
        v.extend_from_slice(method.as_bytes());
        v.push(b' ');
        v.extend_from_slice(path.as_bytes());
        v.extend_from_slice(b" HTTP/1.1\r\n");
        RequestHead(v)
    }

    fn header(&mut self, name: &str, value: &[u8]) {
        self.0.extend_from_slice(name.as_bytes());
        self.0.extend_from_slice(b": ");
        self.0.extend_from_slice(value);
        self.0.extend_from_slice(b"\r\n");
    }

    fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(b"\r\n");
        self.0
    }
}

/// `n` in decimal, written into `buf`.
fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// What the direct path keeps of one response while it is read (the
/// [`Sink`] of [`http1`]): its head's few headers of interest, the body's
/// count, timing and checksum, or an error response's body.
struct Got {
    method: Method,
    /// A whole-object GET with checksums on: check the body.
    want_check: bool,
    status: u16,
    headers_at: Option<Instant>,
    first_byte: Option<Instant>,
    bytes: u64,
    etag: Option<String>,
    /// HEAD: the object's size (the response's Content-Length).
    size: Option<u64>,
    /// `x-amz-object-size` (an append's answer: the object's new size).
    object_size: Option<u64>,
    check: Option<BodyCheck>,
    /// A non-2xx response's body, for its `<Code>` (bounded).
    error_body: Option<Vec<u8>>,
    /// The error body was longer than [`ERROR_BODY_MAX`].
    error_cut: bool,
}

impl Got {
    fn new(method: Method) -> Got {
        Got {
            method,
            want_check: false,
            status: 0,
            headers_at: None,
            first_byte: None,
            bytes: 0,
            etag: None,
            size: None,
            object_size: None,
            check: None,
            error_body: None,
            error_cut: false,
        }
    }

    /// The request's failure before its body counts: no response (the
    /// transport's kind) or a non-2xx one (`<status> <Code>`, as the SDK
    /// classifies it).
    fn error(&self, sent: &Result<(), ErrorKind>) -> Option<ErrorKind> {
        if self.status == 0 {
            return Some(sent.clone().err().unwrap_or_else(|| kind("connection")));
        }
        let status = StatusCode::from_u16(self.status).ok()?;
        if status.is_success() {
            return None;
        }
        let body: &[u8] = match &self.error_body {
            _ if self.method == Method::HEAD => b"",
            Some(b) if sent.is_ok() && !self.error_cut => b,
            _ => b"?",
        };
        Some(error_kind(status, body))
    }
}

impl http1::Sink for Got {
    fn head(&mut self, h: &http1::Head<'_>) {
        self.status = h.status;
        self.headers_at = Some(Instant::now());
        if !(200..300).contains(&h.status) {
            self.error_body = Some(Vec::new());
            return;
        }
        if self.method == Method::GET {
            if self.want_check && h.status == 200 {
                self.check = BodyCheck::from_lookup(|n| h.get(n));
            }
            return;
        }
        self.etag = h
            .get("etag")
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_string);
        let number = |name| {
            h.get(name)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.trim().parse().ok())
        };
        if self.method == Method::HEAD {
            self.size = number("content-length");
        }
        self.object_size = number("x-amz-object-size");
    }

    fn data(&mut self, d: &[u8]) -> bool {
        if let Some(e) = &mut self.error_body {
            if e.len() + d.len() > ERROR_BODY_MAX {
                self.error_cut = true;
                return false;
            }
            e.extend_from_slice(d);
            return true;
        }
        if self.first_byte.is_none() && !d.is_empty() {
            self.first_byte = Some(Instant::now());
        }
        self.bytes += d.len() as u64;
        if let Some(c) = &mut self.check {
            c.update(d);
        }
        true
    }
}

/// A logged direct request in flight: dropped before its reply (the
/// engine abandons what is still in flight after a stop's grace), it is
/// logged as `abandoned`, so every request sent has its row.
struct Logged<'a> {
    op: &'static str,
    key: &'a str,
    range: Option<(u64, u64)>,
    sent: std::time::Instant,
    done: bool,
}

impl Drop for Logged<'_> {
    fn drop(&mut self) {
        if !self.done {
            crate::oplog::record(&crate::oplog::Request {
                op: self.op,
                key: self.key,
                range: self.range,
                bytes: 0,
                sent: self.sent,
                first_byte: None,
                done: std::time::Instant::now(),
                status: 0,
                group: "transport",
                error: "abandoned",
                attempt: 1,
            });
        }
    }
}

/// `<status> <Code>` as the SDK reports it: an empty 404 body is
/// `NotFound` (HEAD), a body that is not an S3 error document is
/// `unparsable response`.
pub fn error_kind(status: StatusCode, body: &[u8]) -> ErrorKind {
    let s = status.as_u16();
    let key = if body.is_empty() {
        if s == 404 {
            format!("{s} NotFound")
        } else {
            s.to_string()
        }
    } else {
        let text = String::from_utf8_lossy(body);
        match error_code(&text) {
            Some(code) if !code.is_empty() => format!("{s} {code}"),
            Some(_) => s.to_string(),
            None if text.trim_start().starts_with('<') => s.to_string(),
            None => format!("{s} unparsable response"),
        }
    };
    ErrorKind {
        key,
        status: Some(s),
    }
}

fn error_code(xml: &str) -> Option<&str> {
    let start = xml.find("<Code>")? + "<Code>".len();
    let len = xml[start..].find("</Code>")?;
    Some(xml[start..start + len].trim())
}

fn kind(key: &str) -> ErrorKind {
    ErrorKind {
        key: key.to_string(),
        status: None,
    }
}

fn root_message(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Connection failures are `timeout` or `connection`, as on the SDK path.
fn connect_error(e: &(dyn std::error::Error + Send + Sync + 'static)) -> ErrorKind {
    let msg = root_message(e).to_lowercase();
    if msg.contains("timed out") || msg.contains("timeout") {
        kind("timeout")
    } else {
        kind("connection")
    }
}

/// A request that got no response: `timeout` or `connection`, as on the
/// SDK path.
fn io_error(e: &std::io::Error) -> ErrorKind {
    if e.kind() == std::io::ErrorKind::TimedOut {
        kind("timeout")
    } else {
        kind("connection")
    }
}

async fn resolve(t: &TargetConfig) -> Result<aws_smithy_types::endpoint::Endpoint, String> {
    let (fips, dual) = match &t.auth {
        super::Auth::Shared(sdk) => (sdk.use_fips(), sdk.use_dual_stack()),
        super::Auth::Static(_) => (None, None),
    };
    let endpoint = t.endpoint.clone().or_else(|| match &t.auth {
        super::Auth::Shared(sdk) => sdk.endpoint_url().map(str::to_string),
        super::Auth::Static(_) => None,
    });
    let params = Params::builder()
        .bucket(&t.spec.bucket)
        .region(&t.spec.region)
        .set_use_fips(fips)
        .set_use_dual_stack(dual)
        .set_endpoint(endpoint)
        .force_path_style(t.path_style)
        .disable_s3_express_session_auth(t.session_auth_off())
        .build()
        .map_err(|e| e.to_string())?;
    DefaultResolver::new()
        .resolve_endpoint(&params)
        .await
        .map_err(|e| e.to_string())
}

/// (scheme name, signing name, signing region) of the endpoint's first
/// SigV4 auth scheme; None for SigV4a-only endpoints.
fn auth_scheme(
    e: &aws_smithy_types::endpoint::Endpoint,
    region: &str,
) -> Option<(String, String, String)> {
    let str_of = |d: Option<&Document>| match d {
        Some(Document::String(s)) => Some(s.clone()),
        _ => None,
    };
    let mut schemes: Vec<(String, Option<String>, Option<String>)> = e
        .auth_schemes()
        .iter()
        .map(|s| {
            (
                s.name().to_string(),
                str_of(s.get("signingName")),
                str_of(s.get("signingRegion")),
            )
        })
        .collect();
    if schemes.is_empty()
        && let Some(Document::Array(list)) = e.properties().get("authSchemes")
    {
        for s in list {
            if let Document::Object(m) = s {
                schemes.push((
                    str_of(m.get("name")).unwrap_or_default(),
                    str_of(m.get("signingName")),
                    str_of(m.get("signingRegion")),
                ));
            }
        }
    }
    if schemes.is_empty() {
        return Some(("sigv4".into(), "s3".into(), region.to_string()));
    }
    schemes
        .into_iter()
        .find(|(n, _, _)| n == "sigv4" || n == "sigv4-s3express")
        .map(|(n, name, reg)| {
            let default_name = if n == "sigv4" { "s3" } else { "s3express" };
            (
                n,
                name.unwrap_or_else(|| default_name.into()),
                reg.unwrap_or_else(|| region.to_string()),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{ClientSettings, TargetKind, TargetSpec};

    fn target(bucket: &str, endpoint: Option<&str>, path_style: bool) -> TargetConfig {
        let spec = TargetSpec {
            name: "t".into(),
            kind: if bucket.ends_with("--x-s3") {
                TargetKind::Directory
            } else {
                TargetKind::GeneralPurpose
            },
            bucket: bucket.into(),
            region: "us-west-2".into(),
            endpoint: None,
            profile: None,
            path_style,
            resolve: None,
            ca_file: None,
            embedded: None,
        };
        let mut t =
            TargetConfig::with_static_keys(&spec, &ClientSettings::default(), "http://x", "a", "s");
        t.endpoint = endpoint.map(str::to_string);
        t.path_style = path_style;
        t
    }

    /// The URLs and signing scopes the SDK's own endpoint rules give, which
    /// the direct path then uses.
    #[tokio::test]
    async fn endpoints_follow_the_sdk_rules() {
        let case = async |bucket: &str, endpoint: Option<&str>, path_style: bool| {
            let e = resolve(&target(bucket, endpoint, path_style))
                .await
                .unwrap();
            let (scheme, name, region) = auth_scheme(&e, "us-west-2").unwrap();
            (e.url().to_string(), scheme, name, region)
        };
        let s = |v: &str| v.to_string();
        assert_eq!(
            case("data", None, false).await,
            (
                s("https://data.s3.us-west-2.amazonaws.com"),
                s("sigv4"),
                s("s3"),
                s("us-west-2")
            )
        );
        assert_eq!(
            case("b--usw2-az1--x-s3", None, false).await,
            (
                s("https://b--usw2-az1--x-s3.s3express-usw2-az1.us-west-2.amazonaws.com"),
                s("sigv4-s3express"),
                s("s3express"),
                s("us-west-2")
            )
        );
        assert_eq!(
            case("data", Some("http://127.0.0.1:9000"), true).await.0,
            "http://127.0.0.1:9000/data"
        );
        assert_eq!(
            case("data", Some("http://minio.local:9000"), false).await.0,
            "http://data.minio.local:9000"
        );
        let zonal = case("b--usw2-az1--x-s3", Some("http://s3.test:9000"), false).await;
        assert_eq!(zonal.0, "http://b--usw2-az1--x-s3.s3.test:9000");
        assert_eq!(zonal.1, "sigv4-s3express");
    }

    #[test]
    fn body_hash_from_prefix_states_is_exact() {
        for len in [0u64, 1, 4095, 4096, 4097, 12_345, 65_535, 65_536] {
            let direct: [u8; 32] = Sha256::digest(synthetic::window(0, len as usize)).into();
            assert_eq!(synthetic_sha256(len), direct, "{len}");
        }
    }

    #[test]
    fn error_kinds_match_the_sdk() {
        let k = |s: u16, b: &str| error_kind(StatusCode::from_u16(s).unwrap(), b.as_bytes()).key;
        assert_eq!(k(404, ""), "404 NotFound");
        assert_eq!(k(403, ""), "403");
        assert_eq!(
            k(
                503,
                "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>x</Message></Error>"
            ),
            "503 SlowDown"
        );
        assert_eq!(k(502, "<html>bad gateway</html>"), "502");
        assert_eq!(k(500, "oops"), "500 unparsable response");
    }
}
