//! The load engine: a fixed set of OS threads, each with its own
//! current-thread tokio runtime, its own SDK client per target and its own
//! recorder. One runtime per core costs 35-45% less CPU per request than one
//! multi-thread runtime (measured on the team's 2-core VM with aws-sdk-s3,
//! 4 KiB GETs, the client alone on one core: about 80-88 us of client CPU
//! per request against about 130 us), and lets workers record into an
//! `Rc<RefCell<Recorder>>`: no lock, no atomic RMW contention and no channel
//! send per request. Threads persist across phases and rounds so connection
//! pools and directory-bucket sessions carry over like in a real client.
//!
//! Load shape is composed from independent parts: the stop condition
//! (duration and/or op count), the pacing of each stage (closed loop or
//! fixed arrival rate) and the op mix.

pub mod checkpoint;
#[cfg(test)]
mod checkpoint_tests;
pub mod claims;
pub mod dataloader;
#[cfg(test)]
mod dataloader_tests;
pub mod ops;
#[cfg(test)]
mod ordered_tests;
mod replay;
#[cfg(test)]
mod tests;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::LocalSet;
use tokio::time::Instant;

use crate::client::direct::DirectClient;
use crate::client::{ErrorKind, ObjectClient, S3Client, SessionProbe, TargetConfig};
use crate::s3::OpKind;
use crate::scenario::{Load, OpSpec, Phase, Plan};
use crate::stats::{Recorder, Sample};
use ops::{Mix, OpContext, WorkerState};

/// A recorder with one slot per op of the vocabulary.
pub type OpRecorder = Recorder<{ OpKind::COUNT }>;

/// A request that starts more than this after it was due started late
/// because every worker was busy (the in-flight cap was reached).
const LATE_TOLERANCE: Duration = Duration::from_millis(1);

/// After a stop (Ctrl-C, SIGTERM, the error policy) no new request starts,
/// and requests in flight get this long to finish and be recorded before
/// they are abandoned: a few seconds, well inside Kubernetes' default 30 s
/// termination grace.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

/// A closed-loop worker whose request failed without an HTTP answer
/// (connection refused, reset, timeout) waits before the next one, doubling
/// from `BACKOFF_MIN` up to `BACKOFF_MAX`, so a dead endpoint is not hammered
/// at tens of thousands of attempts a second. Every attempt is recorded.
pub const BACKOFF_MIN: Duration = Duration::from_millis(1);
pub const BACKOFF_MAX: Duration = Duration::from_millis(100);

/// Why a run stopped before its plan was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// Ctrl-C (SIGINT).
    Interrupt,
    /// SIGTERM (e.g. Kubernetes evicting the pod).
    Terminate,
    /// The error policy (`stop_on_failures`): the sentence says why.
    FailurePolicy(String),
}

impl StopReason {
    pub fn describe(&self) -> String {
        match self {
            StopReason::Interrupt => {
                "interrupted (Ctrl-C): phases after the interruption did not run".into()
            }
            StopReason::Terminate => {
                "terminated (SIGTERM): phases after the signal did not run".into()
            }
            StopReason::FailurePolicy(why) => why.clone(),
        }
    }
}

/// Stops a run early (Ctrl-C, SIGTERM, the error policy). Checked once per
/// request.
#[derive(Debug, Default)]
pub struct Cancel {
    flag: AtomicBool,
    notify: Notify,
    reason: Mutex<Option<StopReason>>,
}

impl Cancel {
    /// Stops the run as Ctrl-C does.
    pub fn cancel(&self) {
        self.cancel_with(StopReason::Interrupt);
    }

    /// Stops the run; the first reason given is the one reported.
    pub fn cancel_with(&self, reason: StopReason) {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(reason);
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Why the run was stopped, if it was.
    pub fn reason(&self) -> Option<StopReason> {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    pub async fn cancelled(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// Builds each engine thread's client for each target, on that thread's
/// runtime (connection pools live there). The real one builds
/// [`S3Client`]s; the engine's tests use a scripted one.
pub trait Connector: Send + Sync + 'static {
    type Client: ObjectClient + 'static;
    fn targets(&self) -> usize;
    fn connect(&self, target: usize) -> impl Future<Output = Self::Client>;
}

/// The real connector: aws-sdk-s3 clients plus the direct request path.
pub struct S3Connector {
    pub targets: Vec<TargetConfig>,
}

impl Connector for S3Connector {
    type Client = S3Client;

    fn targets(&self) -> usize {
        self.targets.len()
    }

    async fn connect(&self, target: usize) -> S3Client {
        let t = &self.targets[target];
        let sdk = t.build_client();
        let direct = DirectClient::new(t, &sdk).await;
        S3Client {
            sdk,
            direct,
            bucket: t.spec.bucket.clone(),
            probe: t.probe.clone(),
            create_only: t.create_only,
            checksum: t.settings.checksums,
            body_checks: t.body_checks.clone(),
        }
    }
}

/// Live counters for the progress display: one per thread, written only by
/// that thread (relaxed adds, no contention), read once a second.
#[derive(Debug, Default)]
pub struct Live {
    pub ops: AtomicU64,
    pub errors: AtomicU64,
}

/// What a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Write the data set.
    Prepare,
    /// Measured phase by index into `plan.phases`.
    Phase(usize),
    /// A loader phase with this many accelerators (one step of a search;
    /// `Phase` runs a loader phase with its fixed count).
    Dataloader { phase: usize, accelerators: u32 },
    /// One step of a checkpoint phase (every rank of `ranks` writes or
    /// reads its share of one checkpoint).
    Checkpoint {
        phase: usize,
        step: crate::scenario::CheckpointStep,
        ranks: crate::scenario::RankSet,
    },
}

/// One unit of work for all engine threads: a phase (or the prepare step) on
/// one target in one round.
#[derive(Debug, Clone)]
pub struct Job {
    pub plan: Arc<Plan>,
    pub kind: JobKind,
    pub target: usize,
    pub round: u32,
    pub run_prefix: Arc<str>,
    pub date: (i32, u32, u32),
    /// Common start instant for all threads (a little in the future).
    pub start: Instant,
}

/// The merged result of one job.
#[derive(Debug)]
pub struct JobResult {
    pub recorder: OpRecorder,
    /// Measured seconds: from the end of warm-up to the last completion.
    pub elapsed_s: f64,
    /// What the simulated accelerators measured (loader phases only).
    pub loader: Option<crate::stats::dataloader::DataloaderStats>,
    /// The ranks' times (checkpoint steps only).
    pub checkpoint: Option<crate::stats::checkpoint::RankTimes>,
    /// What the answers say the job left on the endpoint, for its audit.
    pub claims: claims::Claims,
}

struct ThreadResult {
    recorder: OpRecorder,
    last_done: Option<Instant>,
    loader: Option<crate::stats::dataloader::DataloaderStats>,
    checkpoint: Option<crate::stats::checkpoint::RankTimes>,
    claims: claims::Claims,
}

struct Work {
    job: Arc<Job>,
    /// Live counters for an exporter: thread `i` counts into block `i`.
    live: Option<crate::stats::live::ThreadBlocks>,
    reply: oneshot::Sender<ThreadResult>,
    /// The run's op log (`run --op-log`), if any.
    log: Option<Arc<crate::oplog::Sink>>,
}

struct EngineThread {
    tx: mpsc::UnboundedSender<Work>,
    join: std::thread::JoinHandle<()>,
    live: Arc<Live>,
}

/// How the engine's threads run.
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineOptions {
    /// Start every thread's runtime with its clock paused (tokio's
    /// `start_paused`): time then advances only when all tasks wait, so
    /// pacing, stages and budgets can be tested exactly against a scripted
    /// client. Never for real endpoints.
    pub paused_clock: bool,
}

pub struct Engine {
    threads: Vec<EngineThread>,
    pub cancel: Arc<Cancel>,
    /// Every request of every job goes into this op log (`run --op-log`).
    op_log: Option<Arc<crate::oplog::Sink>>,
}

impl Engine {
    /// Starts `threads` engine threads, each building its own client per target.
    pub fn start(
        targets: Vec<TargetConfig>,
        threads: usize,
        cancel: Arc<Cancel>,
    ) -> anyhow::Result<Engine> {
        Self::start_with(
            S3Connector { targets },
            threads,
            cancel,
            EngineOptions::default(),
        )
    }

    /// Starts the engine with any connector (the tests' scripted one).
    pub fn start_with<C: Connector>(
        connector: C,
        threads: usize,
        cancel: Arc<Cancel>,
        options: EngineOptions,
    ) -> anyhow::Result<Engine> {
        let threads = threads.max(1);
        let connector = Arc::new(connector);
        let mut out = Vec::with_capacity(threads);
        // Each thread says when its clients are built, so what the report
        // says about them (the request path) is known before the first job.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        for index in 0..threads {
            let ready = ready_tx.clone();
            let (tx, rx) = mpsc::unbounded_channel::<Work>();
            let live = Arc::new(Live::default());
            let (connector, live2, cancel) = (connector.clone(), live.clone(), cancel.clone());
            let mut builder = tokio::runtime::Builder::new_current_thread();
            builder.enable_all();
            if options.paused_clock {
                builder.start_paused(true);
            }
            let rt = builder.build()?;
            let join = std::thread::Builder::new()
                .name(format!("s3bench-engine-{index}"))
                .spawn(move || {
                    let local = LocalSet::new();
                    local.block_on(
                        &rt,
                        thread_main(index, threads, connector, live2, cancel, rx, ready),
                    );
                    // Tasks abandoned at a stop log their requests as they
                    // are dropped: send those rows too.
                    drop(local);
                    crate::oplog::flush_thread();
                })?;
            out.push(EngineThread { tx, join, live });
        }
        drop(ready_tx);
        for _ in 0..threads {
            // A thread that died before building its clients drops its
            // sender; the first job then reports it.
            if ready_rx.recv_timeout(Duration::from_secs(30)).is_err() {
                break;
            }
        }
        Ok(Engine {
            threads: out,
            cancel,
            op_log: None,
        })
    }

    /// Logs every request of the jobs this engine runs (`run --op-log`).
    pub fn with_op_log(mut self, sink: Option<Arc<crate::oplog::Sink>>) -> Engine {
        self.op_log = sink;
        self
    }

    /// The threads' live counters, for a progress display.
    pub fn live_handles(&self) -> Vec<Arc<Live>> {
        self.threads.iter().map(|t| t.live.clone()).collect()
    }

    /// Sum of completed ops and errors over all threads since start.
    pub fn live(&self) -> (u64, u64) {
        self.threads.iter().fold((0, 0), |(o, e), t| {
            (
                o + t.live.ops.load(Ordering::Relaxed),
                e + t.live.errors.load(Ordering::Relaxed),
            )
        })
    }

    /// Runs one job on every thread and merges their recorders.
    pub async fn run(&self, job: Job) -> anyhow::Result<JobResult> {
        self.run_live(job, None).await
    }

    /// [`run`](Self::run), with each thread also counting into its block of
    /// `live` (one per thread) as it records, for a live exporter.
    pub async fn run_live(
        &self,
        job: Job,
        live: Option<crate::stats::live::ThreadBlocks>,
    ) -> anyhow::Result<JobResult> {
        let job = Arc::new(job);
        let mut replies = Vec::with_capacity(self.threads.len());
        for t in &self.threads {
            let (reply, rx) = oneshot::channel();
            t.tx.send(Work {
                job: job.clone(),
                live: live.clone(),
                reply,
                log: self.op_log.clone(),
            })
            .map_err(|_| anyhow::anyhow!("an engine thread has stopped"))?;
            replies.push(rx);
        }
        let mut recorder = OpRecorder::default();
        let mut elapsed_s = 0.0f64;
        let mut loader: Option<crate::stats::dataloader::DataloaderStats> = None;
        let mut checkpoint: Option<crate::stats::checkpoint::RankTimes> = None;
        let mut claims = claims::Claims::default();
        for rx in replies {
            let r = rx
                .await
                .map_err(|_| anyhow::anyhow!("an engine thread died during a phase"))?;
            recorder.merge(&r.recorder);
            claims.merge(r.claims);
            if let Some(l) = &r.loader {
                loader.get_or_insert_with(Default::default).merge(l);
            }
            if let Some(c) = &r.checkpoint {
                checkpoint.get_or_insert_with(Default::default).merge(c);
            }
            // Each thread measures on its own clock (tokio's, which a test
            // may pause), so each measures its own elapsed time.
            let measure_start = job.start + job_warmup(&job);
            if let Some(l) = r.last_done {
                elapsed_s = elapsed_s.max(l.saturating_duration_since(measure_start).as_secs_f64());
            }
        }
        Ok(JobResult {
            recorder,
            elapsed_s,
            loader,
            checkpoint,
            claims,
        })
    }

    /// Stops the threads and waits for them.
    pub fn shutdown(self) {
        for t in self.threads {
            drop(t.tx);
            let _ = t.join.join();
        }
    }
}

/// The load of stage `stage` of the job's phase (None for prepare).
fn phase_load(job: &Job, stage: usize) -> Option<Load> {
    match job.kind {
        JobKind::Prepare | JobKind::Dataloader { .. } | JobKind::Checkpoint { .. } => None,
        JobKind::Phase(i) => job.plan.phases[i].stages.get(stage).map(|s| s.load),
    }
}

fn job_warmup(job: &Job) -> Duration {
    match job.kind {
        JobKind::Prepare | JobKind::Dataloader { .. } | JobKind::Checkpoint { .. } => {
            Duration::ZERO
        }
        JobKind::Phase(i) => job.plan.phases[i].warmup,
    }
}

struct ThreadCtx<C> {
    index: usize,
    threads: usize,
    /// This thread's client per target.
    clients: Vec<C>,
    /// What this thread added to each target's data set (`key = "dataset"`).
    grown: Vec<RefCell<ops::Grown>>,
    live: Arc<Live>,
    cancel: Arc<Cancel>,
}

impl<C: ObjectClient> ThreadCtx<C> {
    fn op_context<'a>(&'a self, job: &'a Job) -> OpContext<'a, C> {
        OpContext {
            client: &self.clients[job.target],
            plan: &job.plan,
            run_prefix: &job.run_prefix,
            date: job.date,
            kind: job.plan.targets[job.target].kind,
            grown: &self.grown[job.target],
            thread: (self.index, self.threads),
        }
    }
}

async fn thread_main<C: Connector>(
    index: usize,
    threads: usize,
    connector: Arc<C>,
    live: Arc<Live>,
    cancel: Arc<Cancel>,
    mut rx: mpsc::UnboundedReceiver<Work>,
    ready: std::sync::mpsc::Sender<()>,
) {
    // Clients are built on this thread's runtime: their connection pools
    // live here.
    let mut clients = Vec::with_capacity(connector.targets());
    for t in 0..connector.targets() {
        clients.push(connector.connect(t).await);
    }
    let _ = ready.send(());
    let ctx = Rc::new(ThreadCtx {
        index,
        threads,
        grown: clients.iter().map(|_| RefCell::default()).collect(),
        clients,
        live,
        cancel,
    });
    while let Some(work) = rx.recv().await {
        let live = work.live.as_ref().and_then(|b| b.get(index).cloned());
        let result = run_job(&ctx, &work.job, live, work.log).await;
        // Every row of the job is in the writer's hands before its result
        // is: the log of a finished phase is complete.
        crate::oplog::flush_thread();
        let _ = work.reply.send(result);
    }
}

/// This thread's share of `total` when it is split over all threads.
fn share(total: u64, index: usize, threads: usize) -> u64 {
    let (t, i) = (threads as u64, index as u64);
    total / t + u64::from(i < total % t)
}

/// State shared by the workers of one thread during one job.
struct Shared {
    recorder: RefCell<OpRecorder>,
    in_flight: Cell<u64>,
    /// Measured ops this thread may still start (None = no op limit).
    budget: Cell<Option<u64>>,
    last_done: Cell<Option<Instant>>,
    measure_start: Instant,
    /// What this thread's accelerators measured (loader phases).
    loader: RefCell<Option<crate::stats::dataloader::DataloaderStats>>,
    /// What this thread's checkpoint ranks measured (checkpoint steps).
    checkpoint: RefCell<Option<crate::stats::checkpoint::RankTimes>>,
    /// What this thread's workers claim they left on the endpoint.
    claims: RefCell<claims::Claims>,
    /// With `S3BENCH_RECORD_GAP` set: ns from a response's completion to the
    /// same worker's next operation starting (closed loop): recording and
    /// choosing the next op. The next request's signing and send are part
    /// of its own latency, not of this gap. bench/run.sh reports it; off by default.
    gap: Option<RefCell<hdrhistogram::Histogram<u64>>>,
    /// This thread's live counters for the job, if an exporter reads them.
    live: Option<Arc<crate::stats::live::LiveBlock>>,
    /// The run's op log and where this job's requests belong in it.
    op_log: Option<Arc<crate::oplog::Sink>>,
    log_ctx: crate::oplog::Ctx,
}

impl Shared {
    /// Requests this thread has in flight, also for the live exporter.
    #[inline]
    fn set_in_flight(&self, n: u64) {
        self.in_flight.set(n);
        if let Some(l) = &self.live {
            l.set_in_flight(n);
        }
    }

    /// `fut` with its requests logged under this job (when logging).
    fn logged<F: Future>(&self, fut: F) -> impl Future<Output = F::Output> + use<F> {
        crate::oplog::scope(self.op_log.as_ref(), self.log_ctx, true, fut)
    }
}

/// Set to measure the recording gap (see `Shared::gap`).
pub const RECORD_GAP_ENV: &str = "S3BENCH_RECORD_GAP";

#[derive(Clone)]
enum Pacing {
    Closed,
    /// Slot k of this thread is due at `start + (offset + k * stride) / rate`.
    Open {
        start: Instant,
        first_ns: u64,
        stride_ns: f64,
        next_slot: Rc<Cell<u64>>,
    },
    /// Row k of a replay schedule is due at `start + t_ns(k) / speed`; this
    /// thread takes rows `next, next + stride, ...` in order.
    Replay {
        start: Instant,
        rows: Arc<Vec<crate::scenario::ReplayRow>>,
        next: Rc<Cell<usize>>,
        stride: usize,
        speed: f64,
    },
}

async fn run_job<C: ObjectClient + 'static>(
    ctx: &Rc<ThreadCtx<C>>,
    job: &Arc<Job>,
    live: Option<Arc<crate::stats::live::LiveBlock>>,
    op_log: Option<Arc<crate::oplog::Sink>>,
) -> ThreadResult {
    let warmup = job_warmup(job);
    let (phase, stage) = match job.kind {
        JobKind::Prepare => (None, crate::oplog::Stage::Prepare),
        JobKind::Phase(i)
        | JobKind::Dataloader { phase: i, .. }
        | JobKind::Checkpoint { phase: i, .. } => (Some(i as u16), crate::oplog::Stage::Measured),
    };
    let log_ctx = crate::oplog::Ctx {
        target: job.target as u16,
        phase,
        round: job.round,
        stage,
        thread: Some(ctx.index as u16),
        due: None,
    };
    let shared = Rc::new(Shared {
        recorder: RefCell::new(match &live {
            Some(b) => OpRecorder::with_live(b.clone()),
            None => OpRecorder::default(),
        }),
        in_flight: Cell::new(0),
        budget: Cell::new(None),
        last_done: Cell::new(None),
        measure_start: job.start + warmup,
        loader: RefCell::new(None),
        checkpoint: RefCell::new(None),
        claims: RefCell::new(claims::Claims::default()),
        gap: std::env::var_os(RECORD_GAP_ENV)
            .map(|_| RefCell::new(crate::stats::recorder::latency_hist())),
        live,
        op_log,
        log_ctx,
    });
    // Attempts recorded by this thread's clients before this job are not its own.
    let _ = crate::client::take_thread_log();
    let mut handles = Vec::new();
    {
        let work = async {
            match job.kind {
                JobKind::Prepare => run_prepare(ctx, job, &shared, &mut handles).await,
                JobKind::Phase(i) => {
                    run_phase(ctx, job, &job.plan.phases[i], &shared, &mut handles).await
                }
                JobKind::Dataloader {
                    phase,
                    accelerators,
                } => run_loader(ctx, job, phase, accelerators, &shared, &mut handles).await,
                JobKind::Checkpoint { phase, step, ranks } => {
                    let p = &job.plan.phases[phase];
                    if let Some(spec) = &p.checkpoint {
                        checkpoint::run(
                            ctx,
                            job,
                            &p.name,
                            spec,
                            step,
                            ranks,
                            &shared,
                            &mut handles,
                        )
                        .await;
                    }
                }
            }
        };
        tokio::pin!(work);
        tokio::select! {
            _ = &mut work => {}
            _ = ctx.cancel.cancelled() => {
                // No new request starts; those in flight may finish and be
                // recorded, for a short grace.
                let _ = tokio::time::timeout(STOP_GRACE, &mut work).await;
            }
        }
    }
    // What is still in flight after the grace is abandoned; what completed is kept.
    for h in &handles {
        h.abort();
    }
    if !handles.is_empty() {
        // Let the aborted tasks drop now, so their op log rows (`abandoned`)
        // belong to this job.
        tokio::task::yield_now().await;
    }
    shared.set_in_flight(0);
    if let (Some(g), JobKind::Phase(i) | JobKind::Dataloader { phase: i, .. }) =
        (&shared.gap, job.kind)
    {
        let g = g.borrow();
        if !g.is_empty() {
            eprintln!(
                "record-gap: phase {} thread {} n={} p50={}ns p99={}ns p999={}ns max={}ns",
                job.plan.phases[i].name,
                ctx.index,
                g.len(),
                g.value_at_quantile(0.5),
                g.value_at_quantile(0.99),
                g.value_at_quantile(0.999),
                g.max()
            );
        }
    }
    let mut recorder = std::mem::take(&mut *shared.recorder.borrow_mut());
    recorder.attempts = crate::client::take_thread_log();
    ThreadResult {
        recorder,
        last_done: shared.last_done.get(),
        loader: shared.loader.borrow_mut().take(),
        checkpoint: shared.checkpoint.borrow_mut().take(),
        claims: std::mem::take(&mut *shared.claims.borrow_mut()),
    }
}

/// A loader phase's accelerators on this thread; what they measured goes
/// into `shared.loader`.
async fn run_loader<C: ObjectClient + 'static>(
    ctx: &Rc<ThreadCtx<C>>,
    job: &Arc<Job>,
    phase: usize,
    accelerators: u32,
    shared: &Rc<Shared>,
    handles: &mut Vec<tokio::task::AbortHandle>,
) {
    let phase = &job.plan.phases[phase];
    let Some(spec) = &phase.loader else { return };
    dataloader::run(
        ctx,
        job,
        spec,
        phase.stop.duration,
        accelerators,
        shared,
        handles,
    )
    .await;
}

async fn run_phase<C: ObjectClient + 'static>(
    ctx: &Rc<ThreadCtx<C>>,
    job: &Arc<Job>,
    phase: &Phase,
    shared: &Rc<Shared>,
    handles: &mut Vec<tokio::task::AbortHandle>,
) {
    if let (Some(spec), JobKind::Phase(i)) = (&phase.loader, job.kind) {
        let n = spec.max_accelerators();
        return run_loader(ctx, job, i, n, shared, handles).await;
    }
    if let Some(ops) = phase.stop.ops {
        shared.budget.set(Some(share(ops, ctx.index, ctx.threads)));
    }
    let phase_end = phase.stop.duration.map(|d| shared.measure_start + d);
    let mix = Rc::new(Mix::new(&phase.mix));
    let mut stage_start = job.start;
    for (si, stage) in phase.stages.iter().enumerate() {
        let stage_end = match stage.duration {
            Some(d) => {
                let extra = if si == 0 {
                    phase.warmup
                } else {
                    Duration::ZERO
                };
                let end = stage_start + d + extra;
                Some(phase_end.map_or(end, |p| end.min(p)))
            }
            None => phase_end,
        };
        tokio::time::sleep_until(stage_start).await;
        let (workers, pacing) = match (&phase.replay, stage.load) {
            (Some(r), _) => (
                share(r.max_in_flight as u64, ctx.index, ctx.threads).max(1),
                Pacing::Replay {
                    start: stage_start,
                    rows: r.rows.clone(),
                    next: Rc::new(Cell::new(ctx.index)),
                    stride: ctx.threads,
                    speed: r.speed,
                },
            ),
            (None, Load::Closed { concurrency }) => (
                share(concurrency as u64, ctx.index, ctx.threads),
                Pacing::Closed,
            ),
            (
                None,
                Load::Open {
                    rate,
                    max_in_flight,
                },
            ) => (
                share(max_in_flight as u64, ctx.index, ctx.threads).max(1),
                Pacing::Open {
                    start: stage_start,
                    first_ns: (ctx.index as f64 * 1e9 / rate) as u64,
                    stride_ns: ctx.threads as f64 * 1e9 / rate,
                    next_slot: Rc::new(Cell::new(0)),
                },
            ),
        };
        let mut stage_handles = Vec::with_capacity(workers as usize);
        for w in 0..workers {
            let h = tokio::task::spawn_local(shared.logged(worker(
                ctx.clone(),
                job.clone(),
                shared.clone(),
                mix.clone(),
                pacing.clone(),
                w as usize,
                si,
                stage_end,
            )));
            stage_handles.push(h);
        }
        handles.extend(stage_handles.iter().map(|h| h.abort_handle()));
        for h in stage_handles {
            let _ = h.await;
        }
        if ctx.cancel.is_cancelled() || shared.budget.get() == Some(0) {
            break;
        }
        stage_start = stage_end.unwrap_or_else(Instant::now);
    }
}

/// A worker's own state: its random stream (seeded per round, thread,
/// stage and worker, so a run is reproducible), its slot among the stage's
/// workers on all threads, and the scope its keys are written under.
fn worker_state<C: ObjectClient>(
    ctx: &ThreadCtx<C>,
    job: &Job,
    mix: &Mix,
    w: usize,
    stage: usize,
) -> WorkerState {
    let plan = &*job.plan;
    let seed = plan.seed
        ^ (job.round as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ ((ctx.index as u64) << 40)
        ^ ((stage as u64) << 32)
        ^ w as u64;
    let mut st = WorkerState::new(
        seed,
        format!("r{}t{}s{}w{}", job.round, ctx.index, stage, w),
        plan.dataset.objects,
        if mix.deletes() {
            ops::REMEMBER_WRITTEN
        } else {
            0
        },
    );
    // The worker's index among the stage's workers on all threads (each
    // thread runs `share(total, thread)` of them, lower threads first).
    let total = match phase_load(job, stage) {
        Some(Load::Closed { concurrency }) => concurrency as u64,
        Some(Load::Open { max_in_flight, .. }) => max_in_flight as u64,
        None => 0,
    };
    let (t, i) = (ctx.threads as u64, ctx.index as u64);
    st.slot = i * (total / t) + i.min(total % t) + w as u64;
    if let JobKind::Phase(p) = job.kind {
        st.scope = format!("{}/r{}s{}", plan.phases[p].name, job.round, stage);
    }
    st
}

/// Records the request an op sent first (a rename's checkpoint PUT) as its
/// own sample, from when the op was due and sent to when that request
/// ended; the op's own sample starts there.
#[inline]
fn record_before<C: ObjectClient>(
    ctx: &ThreadCtx<C>,
    shared: &Shared,
    b: ops::Before,
    (due, sent, late): (Instant, Instant, bool),
    measured: bool,
) -> Instant {
    ctx.live.ops.fetch_add(1, Ordering::Relaxed);
    let s = Sample {
        late_start: late,
        ..ops::sample(&b.out, due, sent, b.done, false)
    };
    let mut rec = shared.recorder.borrow_mut();
    if measured {
        let second = b
            .done
            .saturating_duration_since(shared.measure_start)
            .as_secs() as usize;
        rec.record(b.kind.index(), second, &s);
    } else {
        rec.record_warmup(b.kind.index(), &s);
    }
    b.done
}

/// When the next request of a fixed rate or a replay is due (and the
/// replay's row); None when a replay's rows are done.
fn next_scheduled(pacing: &Pacing) -> Option<(Instant, Option<crate::scenario::ReplayRow>)> {
    match pacing {
        Pacing::Closed => Some((Instant::now(), None)),
        Pacing::Open {
            start,
            first_ns,
            stride_ns,
            next_slot,
        } => {
            let k = next_slot.get();
            next_slot.set(k + 1);
            let due = *start + Duration::from_nanos(first_ns + (k as f64 * stride_ns) as u64);
            Some((due, None))
        }
        Pacing::Replay {
            start,
            rows,
            next,
            stride,
            speed,
        } => {
            let k = next.get();
            let r = rows.get(k)?;
            next.set(k + stride);
            let due = *start + Duration::from_nanos((r.t_ns as f64 / speed) as u64);
            Some((due, Some(*r)))
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn worker<C: ObjectClient>(
    ctx: Rc<ThreadCtx<C>>,
    job: Arc<Job>,
    shared: Rc<Shared>,
    mix: Rc<Mix>,
    pacing: Pacing,
    w: usize,
    stage: usize,
    stage_end: Option<Instant>,
) {
    let mut st = worker_state(&ctx, &job, &mix, w, stage);
    let opctx = ctx.op_context(&job);
    let client = opctx.client;
    let mut prev_done: Option<Instant> = None;
    let mut backoff = Duration::ZERO;
    loop {
        if ctx.cancel.is_cancelled() {
            break;
        }
        let mut row = None;
        // When the next request is due: now in a closed loop, else on the
        // schedule (a fixed rate's slot, or a replay's row).
        let scheduled = match &pacing {
            Pacing::Closed => {
                if !backoff.is_zero() {
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = ctx.cancel.cancelled() => break,
                    }
                }
                None
            }
            scheduled => match next_scheduled(scheduled) {
                Some((due, r)) => {
                    row = r;
                    Some(due)
                }
                None => break,
            },
        };
        let (due, late) = match scheduled {
            None => (Instant::now(), false),
            Some(due) => {
                if stage_end.is_some_and(|end| due >= end) {
                    break;
                }
                let late = Instant::now() > due + LATE_TOLERANCE;
                if !late {
                    tokio::select! {
                        _ = tokio::time::sleep_until(due) => {}
                        _ = ctx.cancel.cancelled() => break,
                    }
                }
                (due, late)
            }
        };
        if stage_end.is_some_and(|end| due >= end) {
            break;
        }
        let measured = due >= shared.measure_start;
        if measured && let Some(b) = shared.budget.get() {
            if b == 0 {
                break;
            }
            shared.budget.set(Some(b - 1));
        }
        // A replay's row says what to send; otherwise the mix picks.
        let op: Option<&OpSpec> = match row {
            Some(_) => None,
            None => Some(mix.pick(&mut st.rng)),
        };
        crate::oplog::set_due(
            due.into_std(),
            if measured {
                crate::oplog::Stage::Measured
            } else {
                crate::oplog::Stage::Warmup
            },
        );
        let before = client.session_marker();
        shared.set_in_flight(shared.in_flight.get() + 1);
        let sent = Instant::now();
        if let (Some(g), Some(p), Pacing::Closed) = (&shared.gap, prev_done, &pacing) {
            crate::stats::recorder::record(
                &mut g.borrow_mut(),
                sent.saturating_duration_since(p).as_nanos() as u64,
            );
        }
        let out = match (&row, op) {
            (Some(r), _) => replay::execute(&opctx, r, &mut st).await,
            (None, Some(op)) => opctx.perform(op, &mut st).await,
            (None, None) => unreachable!("the mix picks when no row does"),
        };
        let done = Instant::now();
        let kind = st.record_as.take().unwrap_or(match (&row, op) {
            (Some(r), _) => replay::kind(r.op),
            (None, Some(op)) => op.kind(),
            (None, None) => OpKind::Get,
        });
        let in_flight = shared.in_flight.get();
        shared.set_in_flight(in_flight - 1);
        ctx.live.ops.fetch_add(1, Ordering::Relaxed);
        // A request the op sent first (a rename's checkpoint PUT) is its
        // own sample; the op's own starts when that one ended.
        let (due, sent) = match st.before.take() {
            Some(b) => {
                let done = record_before(&ctx, &shared, b, (due, sent, late), measured);
                (done, done)
            }
            None => (due, sent),
        };
        backoff = next_backoff(&ctx.live, out.error.as_ref(), backoff);
        let sample = Sample {
            late_start: late,
            behind_session: SessionProbe::overlapped(before, client.session_marker()),
            ..ops::sample(&out, due, sent, done, kind.reads_body())
        };
        let mut rec = shared.recorder.borrow_mut();
        if !matches!(pacing, Pacing::Closed) {
            // How late the request started against its schedule.
            rec.note_lateness(sent.saturating_duration_since(due).as_nanos() as u64);
        }
        if measured {
            let second = done
                .saturating_duration_since(shared.measure_start)
                .as_secs() as usize;
            rec.record(kind.index(), second, &sample);
            rec.note_in_flight(second, in_flight);
            note_throttled(&mut rec, &job, second, st.throttled.take());
            shared.last_done.set(shared.last_done.get().max(Some(done)));
        } else {
            rec.record_warmup(kind.index(), &sample);
            st.throttled = None;
        }
        prev_done = Some(done);
    }
    // Handed over once, when the worker stops (a worker cut off after the
    // stop grace claims nothing: its last answers are unknown).
    shared.claims.borrow_mut().merge(st.take_claims());
}

/// A closed-loop worker's pause before its next op after `error`, counting
/// the failure for the live error policy.
#[inline]
fn next_backoff(live: &Live, error: Option<&ErrorKind>, backoff: Duration) -> Duration {
    match error {
        None => Duration::ZERO,
        // A condition that did not hold is the answer the op asked
        // for, not a failure for the error policy.
        Some(e) if e.conditional() => Duration::ZERO,
        // No whole answer: back off. A body that failed its checksum
        // was a whole answer, so it does not.
        Some(e) if e.status.is_none() && !e.integrity() => {
            live.errors.fetch_add(1, Ordering::Relaxed);
            (backoff * 2).clamp(BACKOFF_MIN, BACKOFF_MAX)
        }
        Some(_) => {
            live.errors.fetch_add(1, Ordering::Relaxed);
            Duration::ZERO
        }
    }
}

/// A throttled request's key, counted under its prefix (below the run
/// prefix) in the second it ended; `data` says it was a data set key.
fn note_throttled(
    rec: &mut OpRecorder,
    job: &Job,
    second: usize,
    throttled: Option<(String, bool)>,
) {
    if let Some((key, data)) = throttled {
        let rel = key.strip_prefix(&*job.run_prefix).unwrap_or(&key);
        rec.throttled_prefixes
            .record(second, job.plan.throttle_prefix(rel, data));
    }
}

/// Attempts per object of the data set (backoff 50, 100, 200, 400 ms).
const PREPARE_ATTEMPTS: u32 = 5;

async fn run_prepare<C: ObjectClient + 'static>(
    ctx: &Rc<ThreadCtx<C>>,
    job: &Arc<Job>,
    shared: &Rc<Shared>,
    handles: &mut Vec<tokio::task::AbortHandle>,
) {
    let plan = &*job.plan;
    if !plan.prepare.enabled {
        return;
    }
    tokio::time::sleep_until(job.start).await;
    // Only threads with a worker write (fewer than all when the prepare
    // concurrency is below the thread count); active thread i writes
    // objects i, i + A, i + 2A, ... of the A active ones.
    let active = ctx.threads.min(plan.prepare.concurrency.max(1));
    if ctx.index >= active {
        return;
    }
    let next = Rc::new(Cell::new(ctx.index as u64));
    let workers = share(plan.prepare.concurrency as u64, ctx.index, ctx.threads);
    let mut hs = Vec::new();
    for _ in 0..workers {
        let (ctx, job, shared, next) = (ctx.clone(), job.clone(), shared.clone(), next.clone());
        let logged = shared.clone();
        hs.push(tokio::task::spawn_local(logged.logged(async move {
            let plan = &*job.plan;
            let client = &ctx.clients[job.target];
            let mut key = String::with_capacity(128);
            loop {
                if ctx.cancel.is_cancelled() {
                    break;
                }
                let i = next.get();
                if i >= plan.dataset.objects {
                    break;
                }
                next.set(i + active as u64);
                key.clear();
                key.push_str(&job.run_prefix);
                plan.key(i, job.date, &mut key);
                let size = plan.object_size(i);
                let sent = Instant::now();
                crate::oplog::set_due(sent.into_std(), crate::oplog::Stage::Prepare);
                let kind = if size >= plan.prepare.multipart_threshold {
                    OpKind::MultipartPut
                } else {
                    OpKind::Put
                };
                // Writing the data set is setup, not a measurement: a
                // throttle, a 5xx, a dropped connection or a failed
                // CreateSession is retried with backoff whatever the
                // phases' `max_attempts`; a 412 to a create-only PUT (an
                // object already at the key) is not. The op records every
                // request sent.
                let mut requests = 0;
                let mut attempt = 0;
                let mut out = loop {
                    let out = match kind {
                        OpKind::MultipartPut => {
                            client
                                .multipart_put_new(&key, size, plan.prepare.part_size)
                                .await
                        }
                        _ => client.put_new(&key, size).await,
                    };
                    requests += out.requests;
                    attempt += 1;
                    let retry = out
                        .error
                        .as_ref()
                        .is_some_and(|e| e.status.is_none_or(|s| s >= 500 || s == 429));
                    if !retry || attempt >= PREPARE_ATTEMPTS || ctx.cancel.is_cancelled() {
                        break out;
                    }
                    tokio::time::sleep(Duration::from_millis(50 << (attempt - 1))).await;
                };
                out.requests = requests;
                let done = Instant::now();
                ctx.live.ops.fetch_add(1, Ordering::Relaxed);
                if out.error.is_some() {
                    ctx.live.errors.fetch_add(1, Ordering::Relaxed);
                }
                let sample = ops::sample(&out, sent, sent, done, false);
                let second = done
                    .saturating_duration_since(shared.measure_start)
                    .as_secs() as usize;
                shared
                    .recorder
                    .borrow_mut()
                    .record(kind.index(), second, &sample);
                shared.last_done.set(shared.last_done.get().max(Some(done)));
            }
        })));
    }
    handles.extend(hs.iter().map(|h| h.abort_handle()));
    for h in hs {
        let _ = h.await;
    }
}
