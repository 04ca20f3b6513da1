//! `run --op-log`: one row per HTTP request the run sends (preflight,
//! prepare, warm-up and measured phases, cleanup; every retry attempt and
//! every CreateSession its own row), streamed to a gzip-compressed CSV file
//! in the run folder that DuckDB, pandas and Spark read as it is. Columns and
//! units: docs/op-log.md.
//!
//! How a row gets written, and what it costs the request:
//! - Whoever sends requests says where they belong with [`scope`]: a
//!   task-local [`Ctx`] (target, phase, round, stage, engine thread, and the
//!   time the operation was due, updated per operation by the engine's
//!   workers). Without a scope (no `--op-log`) the transports skip logging
//!   after one thread-local look-up.
//! - The transports (the direct path, and the SDK's HTTP client wrapper,
//!   which also sees CreateSession and every retry attempt) time the request
//!   itself and hand a [`Request`] to [`record`], which copies it into this
//!   thread's batch: a fixed-size row plus the key's bytes in the batch's
//!   text arena. No lock, no channel and no allocation per request.
//! - A full batch (1,024 rows) goes over a bounded channel to one writer
//!   thread that formats CSV and compresses it. Batches come back through a
//!   pool, so steady state allocates nothing.
//! - When the disk cannot keep up and the channel is full, the engine
//!   thread waits for the writer: every request keeps its row, and the wait
//!   is counted ([`Summary::stalls`], [`Summary::stalled_ms`]) and reported
//!   as a warning, since it delays that thread's next requests.
//! - The file is a sequence of gzip members, each finished every 8 MiB of
//!   CSV and at the end, so a run stopped by Ctrl-C, SIGTERM, the error
//!   policy or a second signal ([`finish_all_now`]) leaves a complete file.

pub mod read;
mod writer;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

/// The op log's file name in the run folder.
pub const FILE_NAME: &str = "ops.csv.gz";

/// The CSV header, in column order (docs/op-log.md documents each).
pub const COLUMNS: [&str; 18] = [
    "target",
    "phase",
    "round",
    "stage",
    "op",
    "key",
    "range_start",
    "range_end",
    "bytes",
    "due_ns",
    "sent_ns",
    "first_byte_ns",
    "last_byte_ns",
    "status",
    "group",
    "error",
    "attempt",
    "thread",
];

/// Rows per batch handed to the writer.
const BATCH_ROWS: usize = 1024;
/// Full batches waiting for the writer at most: with 1,024 rows of about
/// 120 bytes each, about 4 MiB, whatever the run's length.
const QUEUE_BATCHES: usize = 32;

/// Which part of the run a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The run's checks before anything is written (and a shard's clock probes).
    Preflight,
    /// Writing the data set.
    Prepare,
    /// A phase's warm-up (due before its measured time).
    Warmup,
    /// A phase's measured time.
    Measured,
    /// A distributed run's start barrier.
    Barrier,
    /// Deleting what the run wrote.
    Cleanup,
    /// A measured phase's audit after a round (`run::audit`): reads of what
    /// the answers said the endpoint holds.
    Audit,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Preflight => "preflight",
            Stage::Prepare => "prepare",
            Stage::Warmup => "warmup",
            Stage::Measured => "measured",
            Stage::Barrier => "barrier",
            Stage::Cleanup => "cleanup",
            Stage::Audit => "audit",
        }
    }
}

/// Where a request belongs: set by whoever sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ctx {
    /// Index into the run's targets.
    pub target: u16,
    /// Index into the plan's phases (warm-up and measured stages).
    pub phase: Option<u16>,
    pub round: u32,
    pub stage: Stage,
    /// Engine thread (None: the coordinator).
    pub thread: Option<u16>,
    /// When the operation this request belongs to was due.
    pub due: Option<Instant>,
}

impl Ctx {
    /// A request of the coordinator (preflight, barrier, cleanup).
    pub fn coordinator(target: usize, stage: Stage) -> Ctx {
        Ctx {
            target: target as u16,
            phase: None,
            round: 0,
            stage,
            thread: None,
            due: None,
        }
    }
}

/// One HTTP request as its transport saw it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// S3 API operation name (`GetObject`, `UploadPart`, `CreateSession`).
    pub op: &'static str,
    pub key: &'a str,
    /// Inclusive byte range asked for.
    pub range: Option<(u64, u64)>,
    /// Object payload moved: response body of a read, request body of a
    /// successful upload.
    pub bytes: u64,
    pub sent: Instant,
    pub first_byte: Option<Instant>,
    pub done: Instant,
    /// HTTP status; 0 = no HTTP answer.
    pub status: u16,
    /// Failure group (`throttled`, `http`, `transport`, `conditional`,
    /// `integrity`); "" = success.
    pub group: &'static str,
    /// Error kind as the report counts it (`503 SlowDown`); "" = success.
    pub error: &'a str,
    /// 1 for the first attempt of an operation, 2 for its first retry, ...
    pub attempt: u32,
}

/// A row as a batch keeps it: fixed size, text in the batch's arena.
#[derive(Debug, Clone, Copy)]
struct Row {
    ctx_target: u16,
    ctx_phase: Option<u16>,
    round: u32,
    stage: Stage,
    thread: Option<u16>,
    op: &'static str,
    key: (u32, u32),
    error: (u32, u32),
    range: Option<(u64, u64)>,
    bytes: u64,
    /// ns since the run's start; u64::MAX = none.
    due: u64,
    sent: u64,
    first_byte: u64,
    done: u64,
    status: u16,
    group: &'static str,
    attempt: u32,
}

const NONE: u64 = u64::MAX;

/// Rows on their way to the writer.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    rows: Vec<Row>,
    text: Vec<u8>,
}

impl Batch {
    fn with_capacity() -> Batch {
        Batch {
            rows: Vec::with_capacity(BATCH_ROWS),
            text: Vec::with_capacity(BATCH_ROWS * 64),
        }
    }

    fn push(&mut self, start: Instant, ctx: &Ctx, r: &Request<'_>) {
        let ns = |t: Instant| t.saturating_duration_since(start).as_nanos() as u64;
        let mut text = |s: &str| {
            let at = self.text.len() as u32;
            self.text.extend_from_slice(s.as_bytes());
            (at, s.len() as u32)
        };
        let key = text(r.key);
        let error = text(r.error);
        self.rows.push(Row {
            ctx_target: ctx.target,
            ctx_phase: ctx.phase,
            round: ctx.round,
            stage: ctx.stage,
            thread: ctx.thread,
            op: r.op,
            key,
            error,
            range: r.range,
            bytes: r.bytes,
            due: ctx.due.map_or(NONE, ns),
            sent: ns(r.sent),
            first_byte: r.first_byte.map_or(NONE, ns),
            done: ns(r.done),
            status: r.status,
            group: r.group,
            attempt: r.attempt,
        });
    }

    fn clear(&mut self) {
        self.rows.clear();
        self.text.clear();
    }
}

enum Msg {
    Rows(Batch),
    Finish,
}

/// The names the rows' indices refer to.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub targets: Vec<String>,
    pub phases: Vec<String>,
}

/// What the op log wrote, for the run's result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// The file, as created.
    pub path: PathBuf,
    /// Rows written (one per request).
    pub rows: u64,
    /// Rows recorded but not written (a write error: `error` says which).
    pub lost: u64,
    /// Times an engine thread found the writer's queue full and waited.
    pub stalls: u64,
    /// Milliseconds engine threads spent waiting for the writer.
    pub stalled_ms: f64,
    /// The first write error, if any.
    pub error: Option<String>,
}

/// The shared end of an op log: what the transports write into.
pub struct Sink {
    start: Instant,
    tx: SyncSender<Msg>,
    pool: Mutex<Vec<Batch>>,
    /// Rows of the coordinator (few: preflight, barrier, cleanup), which
    /// may run on any thread of a multi-thread runtime.
    coordinator: Mutex<Batch>,
    recorded: AtomicU64,
    unsent: AtomicU64,
    stalls: AtomicU64,
    stalled_ns: AtomicU64,
    /// Set by the writer when the file is complete.
    done: (Mutex<bool>, Condvar),
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("recorded", &self.recorded)
            .finish()
    }
}

impl Sink {
    fn fresh(&self) -> Batch {
        self.pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_else(Batch::with_capacity)
    }

    /// Hands a batch to the writer, waiting (and counting the wait) when
    /// its queue is full.
    fn send(&self, b: Batch) {
        if b.rows.is_empty() {
            self.pool.lock().unwrap_or_else(|e| e.into_inner()).push(b);
            return;
        }
        let n = b.rows.len() as u64;
        match self.tx.try_send(Msg::Rows(b)) {
            Ok(()) => {}
            Err(std::sync::mpsc::TrySendError::Full(m)) => {
                let t0 = Instant::now();
                if self.tx.send(m).is_err() {
                    self.unsent.fetch_add(n, Ordering::Relaxed);
                }
                self.stalls.fetch_add(1, Ordering::Relaxed);
                self.stalled_ns
                    .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                self.unsent.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    fn push(self: &Arc<Self>, ctx: &Ctx, batched: bool, r: &Request<'_>) {
        self.recorded.fetch_add(1, Ordering::Relaxed);
        if !batched {
            let full = {
                let mut b = self.coordinator.lock().unwrap_or_else(|e| e.into_inner());
                b.push(self.start, ctx, r);
                (b.rows.len() >= BATCH_ROWS).then(|| std::mem::take(&mut *b))
            };
            if let Some(b) = full {
                self.send(b);
            }
            return;
        }
        LOCAL.with(|l| {
            let mut l = l.borrow_mut();
            if !matches!(&*l, Some((s, _)) if Arc::ptr_eq(s, self)) {
                if let Some((s, b)) = l.take() {
                    s.send(b);
                }
                *l = Some((self.clone(), self.fresh()));
            }
            let Some((_, b)) = &mut *l else { return };
            b.push(self.start, ctx, r);
            if b.rows.len() >= BATCH_ROWS {
                let full = std::mem::replace(b, self.fresh());
                self.send(full);
            }
        });
    }

    fn flush_coordinator(&self) {
        let b = std::mem::take(&mut *self.coordinator.lock().unwrap_or_else(|e| e.into_inner()));
        self.send(b);
    }

    /// Asks the writer to finish the file and waits up to `timeout` for it.
    fn finish_within(&self, timeout: Duration) -> bool {
        self.flush_coordinator();
        let _ = self.tx.send(Msg::Finish);
        let (lock, cv) = &self.done;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (g, _) = cv
            .wait_timeout_while(guard, timeout, |done| !*done)
            .unwrap_or_else(|e| e.into_inner());
        *g
    }
}

thread_local! {
    /// This thread's batch (engine threads): no lock per request.
    static LOCAL: RefCell<Option<(Arc<Sink>, Batch)>> = const { RefCell::new(None) };
}

/// Sends this thread's batch to its writer. Engine threads call it at the
/// end of every job, so the file holds every row of a finished phase.
pub fn flush_thread() {
    if let Some((s, b)) = LOCAL.with(|l| l.borrow_mut().take()) {
        s.send(b);
    }
}

/// Where the requests of a future belong.
pub struct Scope {
    sink: Arc<Sink>,
    ctx: Cell<Ctx>,
    /// Rows go to this thread's batch (engine threads) instead of the
    /// coordinator's locked one.
    batched: bool,
}

tokio::task_local! {
    static SCOPE: Scope;
}

/// Runs `fut` with its requests logged under `ctx` (nothing without a sink).
pub fn scope<F: Future>(
    sink: Option<&Arc<Sink>>,
    ctx: Ctx,
    batched: bool,
    fut: F,
) -> futures_util::future::Either<impl Future<Output = F::Output> + use<F>, F> {
    match sink {
        Some(s) => futures_util::future::Either::Left(SCOPE.scope(
            Scope {
                sink: s.clone(),
                ctx: Cell::new(ctx),
                batched,
            },
            fut,
        )),
        None => futures_util::future::Either::Right(fut),
    }
}

/// True when the current task's requests are logged.
#[inline]
pub fn active() -> bool {
    SCOPE.try_with(|_| ()).is_ok()
}

/// Sets when the current task's next operation is due and which stage it
/// belongs to (engine workers, once per operation).
#[inline]
pub fn set_due(due: Instant, stage: Stage) {
    let _ = SCOPE.try_with(|s| {
        let mut c = s.ctx.get();
        c.due = Some(due);
        c.stage = stage;
        s.ctx.set(c);
    });
}

/// Records a request of the current task (nothing outside a scope).
#[inline]
pub fn record(r: &Request<'_>) {
    let _ = SCOPE.try_with(|s| s.sink.push(&s.ctx.get(), s.batched, r));
}

/// The current task's log and context, for a request that completes
/// outside the task's poll (a response body dropped elsewhere).
pub fn capture() -> Option<Captured> {
    SCOPE
        .try_with(|s| Captured {
            sink: s.sink.clone(),
            ctx: s.ctx.get(),
            batched: s.batched,
        })
        .ok()
}

/// A scope's log and context, taken when a request started.
#[derive(Clone)]
pub struct Captured {
    sink: Arc<Sink>,
    ctx: Ctx,
    batched: bool,
}

impl Captured {
    pub fn record(&self, r: &Request<'_>) {
        self.sink.push(&self.ctx, self.batched, r);
    }
}

impl std::fmt::Debug for Captured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Captured").field("ctx", &self.ctx).finish()
    }
}

/// Op logs open in this process, so a second signal can finish their files
/// before the process exits ([`finish_all_now`]).
static OPEN: Mutex<Vec<Weak<Sink>>> = Mutex::new(Vec::new());

/// The run's op log: the writer thread and its sink.
pub struct OpLog {
    sink: Arc<Sink>,
    writer: Option<std::thread::JoinHandle<writer::Outcome>>,
    path: PathBuf,
}

impl OpLog {
    /// Creates `dir/ops.csv.gz` and starts its writer. `start` is the run's
    /// start: every time column counts from it.
    pub fn create(dir: &Path, names: Names, start: Instant) -> std::io::Result<OpLog> {
        let path = dir.join(FILE_NAME);
        let file = std::fs::File::create(&path)?;
        let (tx, rx): (SyncSender<Msg>, Receiver<Msg>) =
            std::sync::mpsc::sync_channel(QUEUE_BATCHES);
        let sink = Arc::new(Sink {
            start,
            tx,
            pool: Mutex::new(Vec::new()),
            coordinator: Mutex::new(Batch::default()),
            recorded: AtomicU64::new(0),
            unsent: AtomicU64::new(0),
            stalls: AtomicU64::new(0),
            stalled_ns: AtomicU64::new(0),
            done: (Mutex::new(false), Condvar::new()),
        });
        let weak = Arc::downgrade(&sink);
        let writer = std::thread::Builder::new()
            .name("s3bench-oplog".into())
            .spawn(move || writer::run(file, names, rx, weak))?;
        let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|w| w.strong_count() > 0);
        open.push(Arc::downgrade(&sink));
        Ok(OpLog {
            sink,
            writer: Some(writer),
            path,
        })
    }

    pub fn sink(&self) -> &Arc<Sink> {
        &self.sink
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows recorded so far.
    pub fn recorded(&self) -> u64 {
        self.sink.recorded.load(Ordering::Relaxed)
    }

    /// Finishes the file and deletes it (a run that never started).
    pub fn discard(self) {
        let path = self.path.clone();
        self.finish();
        let _ = std::fs::remove_file(path);
    }

    /// Finishes the file (every engine thread has flushed by now) and says
    /// what was written.
    pub fn finish(mut self) -> Summary {
        self.sink.finish_within(Duration::from_secs(600));
        let out = self
            .writer
            .take()
            .and_then(|w| w.join().ok())
            .unwrap_or_default();
        let unsent = self.sink.unsent.load(Ordering::Relaxed);
        let recorded = self.sink.recorded.load(Ordering::Relaxed);
        Summary {
            path: self.path.clone(),
            rows: out.rows,
            lost: recorded.saturating_sub(out.rows).max(unsent),
            stalls: self.sink.stalls.load(Ordering::Relaxed),
            stalled_ms: self.sink.stalled_ns.load(Ordering::Relaxed) as f64 / 1e6,
            error: out.error,
        }
    }
}

impl Drop for OpLog {
    /// A run that ends on an error (`?`) still leaves a complete file.
    fn drop(&mut self) {
        if let Some(w) = self.writer.take()
            && self.sink.finish_within(Duration::from_secs(30))
        {
            let _ = w.join();
        }
    }
}

/// Finishes every open op log's file, waiting at most `timeout` in all:
/// the second Ctrl-C or SIGTERM calls it before the process exits, so the
/// file is complete even then (rows still in engine threads' batches are lost).
pub fn finish_all_now(timeout: Duration) {
    let open: Vec<Arc<Sink>> = OPEN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    let deadline = Instant::now() + timeout;
    for s in open {
        s.finish_within(deadline.saturating_duration_since(Instant::now()));
    }
}

/// Appends `v` to `out` as a CSV field (quoted when it needs to be).
pub(crate) fn csv_field(out: &mut Vec<u8>, v: &[u8]) {
    if v.iter().any(|&c| matches!(c, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for &c in v {
            if c == b'"' {
                out.push(b'"');
            }
            out.push(c);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(v);
    }
}

#[cfg(test)]
mod tests;
