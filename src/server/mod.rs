//! The embedded S3 endpoint.
//!
//! A small S3-compatible HTTP/1.1 server on loopback that the unmodified
//! aws-sdk-s3 client (and boto3, the aws CLI) talks to, for General Purpose
//! buckets and S3 Express One Zone directory buckets (`base--azid--x-s3`),
//! CreateSession included. It lives in the same binary as the load
//! generator but shares nothing with it: it runs on its own OS threads and
//! tokio runtimes, and the rest of s3bench reaches it only over HTTP (plus
//! [`EmbeddedServer::counters`]).
//!
//! # Storage model
//! Objects live in memory as lists of segments: real bytes, or a window of
//! the fixed pattern of [`crate::synthetic`], which costs no memory. A PUT
//! or UploadPart body is compared with the pattern as it streams in; if it
//! matches to the end, only its length is kept. A multipart object is the
//! concatenation of its parts' segments, so a 100 GiB data set written by
//! s3bench fits in a few MB. MD5 and checksums of synthetic bodies come from
//! a per-length cache, so the server does not spend 100 ms of CPU hashing
//! each 64 MiB PUT. Any other body is kept byte for byte.
//!
//! # Requests
//! Path style (`/bucket/key`) is the main mode; virtual-host style works
//! when the Host's first label is a known bucket or a `--x-s3` name. Every
//! request must carry a valid SigV4 signature (header or presigned query)
//! for the configured key, or for an S3 Express session of the bucket it
//! addresses. See `docs/embedded-endpoint.md` for operations, directory
//! bucket semantics, injection knobs and counters.
//!
//! # Module layout
//! `http` (routing, auth glue, bodies), `ops` (the S3 operations), `store`
//! (buckets, objects, listings, multipart), `ingest` (body reception and
//! digests), `sigv4`, `session`, `chunked` (aws-chunked decoding), `inject`
//! (latency, errors, precise timer), `partition` (the General Purpose
//! partition model and directory buckets' per-bucket rate), `xml`, `dates`,
//! `counters`.

mod chunked;
mod conditions;
mod counters;
mod dates;
mod error;
mod express;
mod hooks;
mod http;
mod ingest;
mod inject;
mod ops;
pub mod partition;
mod session;
mod sigv4;
mod store;
mod xml;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ::http::HeaderValue;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};

pub use counters::{Counters, OpCounter};
pub use hooks::temporary_token;
pub use inject::{Broken, BucketLimit, Injection, LatencyDist, PrefixLimit};
pub use partition::{Partitions, RangeInfo};
pub use store::StorageStats;

use counters::BucketCounters;
use inject::PreciseTimer;
use session::{SECRET_ALPHABET, Sessions, UPPER_ALNUM, random_string};

/// How to run the endpoint.
#[derive(Clone)]
pub struct ServerConfig {
    /// Address to bind; loopback with an ephemeral port unless asked otherwise.
    pub listen: SocketAddr,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    /// Lifetime of S3 Express session credentials (S3 uses 5 minutes; the
    /// SDK refreshes 10 s before expiry, so keep this above 10 s).
    pub session_lifetime: Duration,
    /// Server threads, each with its own current-thread runtime sharing the
    /// listening socket.
    pub threads: usize,
    /// Serve HTTPS with this certificate and key ([`tls_config`]); None = HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// A TLS server configuration from a PEM certificate chain (leaf first) and
/// its PEM private key, for [`ServerConfig::tls`].
pub fn tls_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the certificate file is not PEM: {e}"))?;
    if certs.is_empty() {
        return Err("the certificate file holds no CERTIFICATE block".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("the key file holds no PEM private key: {e}"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the certificate and key do not make a TLS identity: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Redacts the secret so a logged config cannot leak it.
impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("region", &self.region)
            .field("session_lifetime", &self.session_lifetime)
            .field("threads", &self.threads)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Default for ServerConfig {
    /// Fresh random credentials, so a stray client cannot guess them.
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            access_key: format!("S3BENCH{}", random_string(13, UPPER_ALNUM)),
            secret_key: random_string(40, SECRET_ALPHABET),
            region: "us-east-1".to_string(),
            session_lifetime: Duration::from_secs(300),
            threads: 1,
            tls: None,
        }
    }
}

/// Errors of the direct (non-HTTP) administration calls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerError {
    #[error("invalid bucket name: {0}")]
    InvalidBucketName(String),
    #[error("bucket {0} already exists")]
    BucketExists(String),
    #[error("{0}")]
    Other(String),
}

/// Counters and injection settings of one bucket name (the bucket itself
/// need not exist).
pub(crate) struct Site {
    pub(crate) counters: BucketCounters,
    injection: RwLock<Option<Arc<Injection>>>,
    /// The bucket's request-rate model (`prefix_limit` on a General
    /// Purpose bucket, `bucket_limit` on a directory bucket), if it has one.
    pub(crate) partitions: Mutex<Option<Partitions>>,
    /// The request slots of `Injection::max_in_flight` (a fair semaphore:
    /// waiting requests are served in arrival order).
    slots: RwLock<Option<Arc<tokio::sync::Semaphore>>>,
}

impl Site {
    fn new() -> Site {
        Site {
            counters: BucketCounters::default(),
            injection: RwLock::new(None),
            partitions: Mutex::new(None),
            slots: RwLock::new(None),
        }
    }

    /// Waits for one of the bucket's request slots when it has a
    /// `max_in_flight`; the slot is held until the permit is dropped.
    pub(crate) async fn slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let slots = self
            .slots
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        slots.acquire_owned().await.ok()
    }

    pub(crate) fn injection(&self) -> Option<Arc<Injection>> {
        self.injection
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Bucket names tracked for counters; requests naming further buckets are
/// counted under `"*other*"` so a client cannot grow this without bound.
const MAX_SITES: usize = 10_000;

pub(crate) struct State {
    pub(crate) access_key: String,
    pub(crate) secret_key: String,
    pub(crate) region: String,
    pub(crate) store: store::Store,
    pub(crate) sessions: Sessions,
    sites: RwLock<HashMap<String, Arc<Site>>>,
    pub(crate) timer: PreciseTimer,
    /// Nanoseconds after `epoch` until which responses are held; 0 = none.
    stall_until: AtomicU64,
    epoch: Instant,
    seq: AtomicU64,
    pub(crate) host_id: HeaderValue,
    pub(crate) hooks: hooks::Hooks,
}

impl State {
    pub(crate) fn site(&self, bucket: &str) -> Arc<Site> {
        if let Some(s) = self
            .sites
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(bucket)
        {
            return s.clone();
        }
        let mut map = self.sites.write().unwrap_or_else(|e| e.into_inner());
        let name = if map.len() >= MAX_SITES && !map.contains_key(bucket) {
            "*other*"
        } else {
            bucket
        };
        map.entry(name.to_string())
            .or_insert_with(|| Arc::new(Site::new()))
            .clone()
    }

    pub(crate) fn next_request_id(&self) -> String {
        format!("{:016X}", self.seq.fetch_add(1, Ordering::Relaxed) + 1)
    }

    pub(crate) async fn wait_stall(&self) {
        let until = self.stall_until.load(Ordering::Relaxed);
        if until == 0 {
            return;
        }
        let deadline = self.epoch + Duration::from_nanos(until);
        if deadline > Instant::now() {
            self.timer.sleep_until(deadline).await;
        }
    }
}

/// A running endpoint. Dropping it shuts it down.
pub struct EmbeddedServer {
    state: Arc<State>,
    addr: SocketAddr,
    shutdown: tokio::sync::watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
    tids: Arc<Mutex<Vec<i32>>>,
    /// Serving HTTPS.
    tls: bool,
}

impl EmbeddedServer {
    /// Binds, starts the server threads and returns once they accept.
    pub fn start(cfg: ServerConfig) -> std::io::Result<EmbeddedServer> {
        let listener = std::net::TcpListener::bind(cfg.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let tids = Arc::new(Mutex::new(Vec::new()));
        let timer = PreciseTimer::start(tids.clone())?;
        let host_id = HeaderValue::from_str(&random_string(24, UPPER_ALNUM))
            .unwrap_or_else(|_| HeaderValue::from_static("s3bench"));
        let state = Arc::new(State {
            access_key: cfg.access_key.clone(),
            secret_key: cfg.secret_key.clone(),
            region: cfg.region.clone(),
            store: store::Store::default(),
            sessions: Sessions::new(cfg.session_lifetime),
            sites: RwLock::new(HashMap::new()),
            timer,
            stall_until: AtomicU64::new(0),
            epoch: Instant::now(),
            seq: AtomicU64::new(0),
            host_id,
            hooks: hooks::Hooks::default(),
        });
        let (shutdown, rx) = tokio::sync::watch::channel(false);
        let mut server = EmbeddedServer {
            state,
            addr,
            shutdown,
            threads: Vec::new(),
            tids,
            tls: cfg.tls.is_some(),
        };
        let acceptor = cfg.tls.clone().map(tokio_rustls::TlsAcceptor::from);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
        for i in 0..cfg.threads.max(1) {
            let listener = listener.try_clone()?;
            let state = server.state.clone();
            let rx = rx.clone();
            let ready = ready_tx.clone();
            let tids = server.tids.clone();
            let acceptor = acceptor.clone();
            let t = std::thread::Builder::new()
                .name(format!("s3bench-srv-{i}"))
                .spawn(move || {
                    // SAFETY: gettid takes no arguments and cannot fail.
                    let tid = unsafe { libc::gettid() };
                    tids.lock().unwrap_or_else(|e| e.into_inner()).push(tid);
                    let rt = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = ready.send(Err(e));
                            return;
                        }
                    };
                    rt.block_on(async move {
                        let listener = match tokio::net::TcpListener::from_std(listener) {
                            Ok(l) => l,
                            Err(e) => {
                                let _ = ready.send(Err(e));
                                return;
                            }
                        };
                        let _ = ready.send(Ok(()));
                        accept_loop(listener, state, rx, acceptor).await;
                    });
                    // Dropping the runtime here ends every connection task.
                })?;
            server.threads.push(t);
        }
        drop(ready_tx);
        for _ in 0..server.threads.len() {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(std::io::Error::other(
                        "a server thread exited during start-up",
                    ));
                }
            }
        }
        Ok(server)
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS): an IP literal, so the
    /// SDK uses path style for directory buckets too.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn access_key(&self) -> &str {
        &self.state.access_key
    }

    pub fn secret_key(&self) -> &str {
        &self.state.secret_key
    }

    pub fn region(&self) -> &str {
        &self.state.region
    }

    /// Creates a bucket without HTTP; a `--x-s3` name makes a directory bucket.
    pub fn create_bucket(&self, name: &str) -> Result<(), ServerError> {
        self.state
            .store
            .create(name)
            .map(|_| ())
            .map_err(|e| match e.code.as_ref() {
                "InvalidBucketName" => ServerError::InvalidBucketName(e.message),
                "BucketAlreadyOwnedByYou" => ServerError::BucketExists(name.to_string()),
                _ => ServerError::Other(e.message),
            })
    }

    /// Sets (replaces) the injection of a bucket name, effective for the
    /// next request; the bucket need not exist yet.
    ///
    /// The rate model that applies to the bucket's kind (`prefix_limit` on
    /// a General Purpose name, `bucket_limit` on a `--x-s3` name) starts
    /// fresh (one range, or its split points) when it differs from the one
    /// in place; an unchanged one keeps the partitions it has made, as S3
    /// keeps them.
    pub fn set_injection(&self, bucket: &str, inj: Injection) {
        let site = self.state.site(bucket);
        let model = if bucket.ends_with(crate::s3::bucket::DIRECTORY_SUFFIX) {
            inj.bucket_limit.map(|b| b.as_one_range())
        } else {
            inj.prefix_limit.clone()
        };
        {
            let mut current = site.partitions.lock().unwrap_or_else(|e| e.into_inner());
            if current.as_ref().map(|p| p.config()) != model.as_ref() {
                *current = model.map(|m| Partitions::new(&m, Instant::now()));
            }
        }
        let slots = inj
            .max_in_flight
            .map(|n| Arc::new(tokio::sync::Semaphore::new(n as usize)));
        *site.slots.write().unwrap_or_else(|e| e.into_inner()) = slots;
        let value = (!inj.is_noop()).then(|| Arc::new(inj));
        *site.injection.write().unwrap_or_else(|e| e.into_inner()) = value;
    }

    /// The key ranges of a bucket's rate model in key order (None when the
    /// bucket has no `prefix_limit` / `bucket_limit`), and the splits made.
    pub fn partitions(&self, bucket: &str) -> Option<(Vec<RangeInfo>, u64)> {
        let site = self.state.site(bucket);
        let p = site.partitions.lock().unwrap_or_else(|e| e.into_inner());
        p.as_ref().map(|p| (p.ranges(), p.splits()))
    }

    /// Holds every response head until `d` from now.
    pub fn stall(&self, d: Duration) {
        let until = (Instant::now() + d)
            .duration_since(self.state.epoch)
            .as_nanos() as u64;
        self.state
            .stall_until
            .fetch_max(until.max(1), Ordering::Relaxed);
    }

    /// Test hook: shifts the server's clock (its `Date` header and the
    /// SigV4 clock-skew check) by `ms` milliseconds.
    pub fn set_clock_offset_ms(&self, ms: i64) {
        self.state.hooks.set_clock_offset_ms(ms);
    }

    /// Test hook: a second access key that may read but not write or
    /// CreateSession (403 AccessDenied, as for a read-only IAM principal).
    pub fn set_read_only_key(&self, access_key: &str, secret_key: &str) {
        self.state.hooks.set_read_only_key(access_key, secret_key);
    }

    /// Test hook: just before the first PutObject of `key` in `bucket` is
    /// handled, `body` is stored there, as by a rival writer that got there
    /// first (the request then meets an existing object).
    pub fn set_rival_put(&self, bucket: &str, key: &str, body: Vec<u8>) {
        self.state.hooks.set_rival_put(bucket, key, body);
    }

    /// Test hook: HeadBucket answers without `x-amz-bucket-region`, as
    /// s3rver and s3s-fs do.
    pub fn set_no_region_header(&self, on: bool) {
        self.state.hooks.set_no_region_header(on);
    }

    /// A snapshot of all counters.
    pub fn counters(&self) -> Counters {
        let sites = self.state.sites.read().unwrap_or_else(|e| e.into_inner());
        Counters {
            buckets: sites
                .iter()
                .map(|(name, s)| (name.clone(), s.counters.snapshot()))
                .filter(|(_, ops)| !ops.is_empty())
                .collect(),
        }
    }

    pub fn object_count(&self, bucket: &str) -> Option<usize> {
        self.state.store.get(bucket).map(|b| b.object_count())
    }

    /// Objects, logical bytes and the memory their content really holds.
    pub fn storage(&self, bucket: &str) -> Option<StorageStats> {
        self.state.store.get(bucket).map(|b| b.storage())
    }

    /// CPU time used so far by the server's threads (request threads and
    /// the timer thread), from `/proc/self/task/<tid>/schedstat`.
    pub fn cpu_time(&self) -> Option<Duration> {
        let tids = self.tids.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut total = 0u64;
        for tid in tids {
            let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
            total += s.split_whitespace().next()?.parse::<u64>().ok()?;
        }
        Some(Duration::from_nanos(total))
    }

    /// Stops accepting, ends the server threads and joins them.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.state.timer.stop();
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Longest a connection may wait for its next request head.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

async fn accept_loop(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut builder = http1::Builder::new();
    // hyper's header read timeout also ends idle keep-alive connections
    // (30 s by default). Keep it above the SDK's 90 s pool idle timeout so
    // the server never closes a connection the client is about to reuse.
    builder
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(IDLE_TIMEOUT);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            r = listener.accept() => r,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors or similar: back off instead of spinning.
                tracing::warn!("embedded S3 endpoint: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        // Without this, small responses wait ~40 ms on Nagle + delayed ACK.
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let service = service_fn(move |req| http::handle(state.clone(), req));
        match &tls {
            None => {
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                tokio::spawn(async move {
                    // A connection error is the client's business (reset, timeout).
                    let _ = conn.await;
                });
            }
            Some(acceptor) => {
                let (acceptor, builder) = (acceptor.clone(), builder.clone());
                tokio::spawn(async move {
                    // A client that does not trust the certificate aborts
                    // the handshake: its business too.
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

/// Runs the endpoint until Ctrl-C, for `s3bench serve`: creates `buckets`,
/// applies `injections`, and prints the endpoint and the credentials to
/// use (the one place s3bench prints credentials, on purpose).
pub async fn serve_forever(
    cfg: ServerConfig,
    injections: Vec<(String, Injection)>,
    buckets: Vec<String>,
) -> anyhow::Result<()> {
    let listen = cfg.listen;
    let server = EmbeddedServer::start(cfg)
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    for b in &buckets {
        server
            .create_bucket(b)
            .map_err(|e| anyhow::anyhow!("cannot create bucket {b}: {e}"))?;
    }
    for (b, inj) in injections {
        server.set_injection(&b, inj);
    }
    let ep = server.endpoint();
    let mut out = std::io::stdout().lock();
    writeln!(out, "s3bench embedded S3 endpoint")?;
    writeln!(out, "endpoint: {ep}")?;
    writeln!(out, "region: {}", server.region())?;
    writeln!(out, "access_key: {}", server.access_key())?;
    writeln!(out, "secret_key: {}", server.secret_key())?;
    if !server.addr().ip().is_loopback() {
        writeln!(
            out,
            "warning: listening on a non-loopback address; anyone who can reach it and knows the key can use it"
        )?;
    }
    if !buckets.is_empty() {
        writeln!(out, "buckets: {}", buckets.join(", "))?;
    }
    writeln!(out, "# for the aws CLI / boto3:")?;
    writeln!(out, "export AWS_ENDPOINT_URL={ep}")?;
    writeln!(out, "export AWS_ACCESS_KEY_ID={}", server.access_key())?;
    writeln!(out, "export AWS_SECRET_ACCESS_KEY={}", server.secret_key())?;
    writeln!(out, "export AWS_REGION={}", server.region())?;
    writeln!(
        out,
        "# aws s3api create-bucket --bucket demo && aws s3 cp ./file s3://demo/file"
    )?;
    // Listening for Ctrl-C before saying so: a SIGINT right after the line
    // stops the server and prints its counts, instead of killing it.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    writeln!(out, "serving until Ctrl-C")?;
    out.flush()?;
    drop(out);
    interrupt.recv().await;
    let counters = server.counters();
    let partitions: Vec<(String, (Vec<RangeInfo>, u64))> = counters
        .buckets
        .keys()
        .filter_map(|b| server.partitions(b).map(|p| (b.clone(), p)))
        .collect();
    // Joining the server threads blocks; keep it off the async workers.
    tokio::task::spawn_blocking(move || server.shutdown()).await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "requests served (bucket operation requests errors bytes_in bytes_out):"
    )?;
    for (bucket, ops) in &counters.buckets {
        let name = if bucket.is_empty() { "-" } else { bucket };
        for (op, c) in ops {
            writeln!(
                out,
                "{name} {op} {} {} {} {}",
                c.requests, c.errors, c.bytes_in, c.bytes_out
            )?;
        }
    }
    for (bucket, (ranges, splits)) in &partitions {
        let starts: Vec<String> = ranges.iter().map(|r| format!("{:?}", r.start)).collect();
        writeln!(
            out,
            "{bucket}: {} key ranges after {splits} splits, starting at {}",
            ranges.len(),
            starts.join(", ")
        )?;
    }
    out.flush()?;
    Ok(())
}
