//! Dataloader phases: simulated accelerators, as MLPerf Storage (DLIO) models a
//! training job. Each accelerator takes a batch of `batch_size` samples,
//! "computes" on it for `compute`, and asks for the next; meanwhile its
//! loader keeps `read_concurrency` reads in flight for up to `prefetch`
//! batches ahead. The time an accelerator waits for its next batch, counted
//! from when it became ready for it (the end of its previous compute), is
//! its stall; AU = compute / wall. See docs/loader.md.
//!
//! The sample order is a seeded shuffle per epoch that depends only on the
//! scenario's seed and the epoch, so every target (and round) reads the
//! same samples in the same order. Batches go round robin to accelerators
//! (batch b of an epoch to accelerator b mod A, like a distributed sampler
//! with `drop_last`).
//!
//! Every read is an ordinary GET (whole object) or ranged GET (a record) on
//! the same request path as other phases, recorded as such; each
//! accelerator's first batch is warm-up, as MLPerf excludes the first step.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{BACKOFF_MAX, BACKOFF_MIN, Cancel, Job, JobResult, Shared, ThreadCtx, ops};
use crate::client::{ObjectClient, SessionProbe};
use crate::s3::OpKind;
use crate::scenario::{DataloaderSpec, Plan, SampleUnit, dataloader::records_in, splitmix64};
use crate::stats::Sample;
use crate::stats::dataloader::{AcceleratorTotals, Busy, DataloaderStats};

/// The data set as a sequence of samples, and their order per epoch.
pub struct Order {
    sample: SampleUnit,
    /// Records before object i (object mode: i); `objects + 1` entries in
    /// record mode, empty in object mode.
    before: Vec<u64>,
    /// Samples in the data set.
    pub total: u64,
    /// Object sizes (for whole-object bytes), by index.
    sizes: Vec<u64>,
    seed: u64,
    /// Bits of each half of the Feistel network (its domain is 4^half).
    half: u32,
}

impl Order {
    pub fn new(plan: &Plan, spec: &DataloaderSpec) -> Order {
        let objects = plan.dataset.objects;
        let sizes: Vec<u64> = (0..objects).map(|i| plan.object_size(i)).collect();
        let (before, total) = match spec.sample {
            SampleUnit::Object => (Vec::new(), objects),
            SampleUnit::Record { .. } => {
                let mut acc = 0u64;
                let mut v = Vec::with_capacity(sizes.len() + 1);
                v.push(0);
                for &s in &sizes {
                    acc += records_in(spec.sample, s);
                    v.push(acc);
                }
                (v, acc)
            }
        };
        let bits = 64 - total.max(2).saturating_sub(1).leading_zeros();
        Order {
            sample: spec.sample,
            before,
            total,
            sizes,
            seed: splitmix64(plan.seed ^ 0x6c6f_6164_6572), // "loader"
            half: bits.div_ceil(2).max(1),
        }
    }

    /// The sample at position `pos` of `epoch`'s shuffled order: a
    /// bijection of 0..total (a 4-round Feistel network, cycle-walked into
    /// range), so no order is ever materialized and every process agrees.
    pub fn shuffled(&self, epoch: u64, pos: u64) -> u64 {
        let mask = (1u64 << self.half) - 1;
        let key = splitmix64(self.seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut x = pos;
        loop {
            let (mut l, mut r) = (x >> self.half, x & mask);
            for round in 0..4u64 {
                let f = splitmix64(key ^ (round << 56) ^ r) & mask;
                (l, r) = (r, l ^ f);
            }
            x = (l << self.half) | r;
            if x < self.total {
                return x;
            }
        }
    }

    /// Sample `s` as (object index, byte range or None for the whole object,
    /// payload bytes).
    pub fn locate(&self, s: u64) -> (u64, Option<(u64, u64)>, u64) {
        match self.sample {
            SampleUnit::Object => (s, None, self.sizes[s as usize]),
            SampleUnit::Record { size } => {
                // The last object whose first record is at or before s.
                let i = self.before.partition_point(|&b| b <= s) - 1;
                let off = (s - self.before[i]) * size;
                (i as u64, Some((off, off + size - 1)), size)
            }
        }
    }
}

/// Which samples accelerator `a` of `accelerators` reads for its `k`-th
/// batch: (epoch, first position in that epoch's order).
pub fn batch_position(
    order_total: u64,
    batch: u32,
    accelerators: u32,
    a: u32,
    k: u64,
) -> (u64, u64) {
    let steps = steps_per_epoch(order_total, batch, accelerators).max(1);
    let (epoch, j) = (k / steps, k % steps);
    let b = j * u64::from(accelerators) + u64::from(a);
    (epoch, b * u64::from(batch))
}

/// Batches each accelerator takes per epoch (the remainder is dropped).
pub fn steps_per_epoch(order_total: u64, batch: u32, accelerators: u32) -> u64 {
    order_total / u64::from(batch.max(1)) / u64::from(accelerators.max(1))
}

/// One accelerator's loader state, shared by its reader tasks and itself.
struct Feed {
    /// Batches handed to the accelerator so far.
    taken: Cell<u64>,
    /// Next sample to read: (batch, index in batch).
    cursor: Cell<(u64, u32)>,
    /// (samples still missing, bytes read) of batches `base..`, in order.
    batches: RefCell<VecDeque<(u32, u64)>>,
    base: Cell<u64>,
    /// The accelerator has stopped: readers start nothing new.
    done: Cell<bool>,
    moved: Notify,
    loaded: Notify,
}

impl Feed {
    fn remaining(&self, k: u64) -> (u32, u64) {
        let b = self.batches.borrow();
        b.get((k - self.base.get()) as usize)
            .copied()
            .unwrap_or((1, 0))
    }
}

/// Waits until `ready()` holds, re-checking on each `notify` wake-up; the
/// waiter is registered before each check, so no wake-up is lost.
async fn wait_for(notify: &Notify, ready: impl Fn() -> bool) {
    loop {
        let n = notify.notified();
        tokio::pin!(n);
        n.as_mut().enable();
        if ready() {
            return;
        }
        n.await;
    }
}

/// Runs this thread's accelerators of a loader job (accelerator a runs on
/// thread a mod threads); what they measure goes into `shared.loader` as
/// they go, so a stop that abandons the job keeps what was measured.
pub(super) async fn run<C: ObjectClient + 'static>(
    ctx: &Rc<ThreadCtx<C>>,
    job: &Arc<Job>,
    spec: &DataloaderSpec,
    stop: Option<Duration>,
    accelerators: u32,
    shared: &Rc<Shared>,
    handles: &mut Vec<tokio::task::AbortHandle>,
) {
    let order = Rc::new(Order::new(&job.plan, spec));
    *shared.loader.borrow_mut() = Some(DataloaderStats::default());
    tokio::time::sleep_until(job.start).await;
    let end = stop.map(|d| job.start + d);
    let steps = spec.epochs.map_or(u64::MAX, |e| {
        u64::from(e) * steps_per_epoch(order.total, spec.batch_size, accelerators)
    });
    let mut mine = Vec::new();
    for a in (ctx.index as u32..accelerators).step_by(ctx.threads) {
        let (ctx, job, spec, order, shared) = (
            ctx.clone(),
            job.clone(),
            spec.clone(),
            order.clone(),
            shared.clone(),
        );
        mine.push(tokio::task::spawn_local(async move {
            accelerator(
                &ctx,
                &job,
                &spec,
                &order,
                &shared,
                a,
                accelerators,
                steps,
                end,
            )
            .await
        }));
    }
    handles.extend(mine.iter().map(|h| h.abort_handle()));
    for h in mine {
        let _ = h.await;
    }
}

/// A measured batch's compute (`from..to`), into the accelerator's totals,
/// the seconds of the phase and the live counters.
fn computed(shared: &Shared, totals: &mut AcceleratorTotals, from: Instant, to: Instant) {
    let ns = to.saturating_duration_since(from).as_nanos() as u64;
    totals.compute_ns += ns;
    spread(shared, from, to, Busy::Compute);
    if let Some(l) = &shared.live {
        l.note_compute(ns);
    }
}

/// An interval of compute or stall of a measured step, spread over the
/// seconds since the phase's start (AU per second).
fn spread(shared: &Shared, from: Instant, to: Instant, what: Busy) {
    let at = |t: Instant| t.saturating_duration_since(shared.measure_start).as_nanos() as u64;
    with_stats(shared, |s| s.spread(at(from), at(to), what));
}

fn with_stats(shared: &Shared, f: impl FnOnce(&mut DataloaderStats)) {
    if let Some(s) = shared.loader.borrow_mut().as_mut() {
        f(s);
    }
}

#[allow(clippy::too_many_arguments)]
async fn accelerator<C: ObjectClient + 'static>(
    ctx: &Rc<ThreadCtx<C>>,
    job: &Arc<Job>,
    spec: &DataloaderSpec,
    order: &Rc<Order>,
    shared: &Rc<Shared>,
    a: u32,
    accelerators: u32,
    steps: u64,
    end: Option<Instant>,
) {
    let feed = Rc::new(Feed {
        taken: Cell::new(0),
        cursor: Cell::new((0, 0)),
        batches: RefCell::new(VecDeque::new()),
        base: Cell::new(0),
        done: Cell::new(false),
        moved: Notify::new(),
        loaded: Notify::new(),
    });
    let mut readers = Vec::new();
    for _ in 0..spec.read_concurrency {
        let (ctx, job, spec, order, shared, feed) = (
            ctx.clone(),
            job.clone(),
            spec.clone(),
            order.clone(),
            shared.clone(),
            feed.clone(),
        );
        let logged = shared.clone();
        readers.push(tokio::task::spawn_local(logged.logged(async move {
            reader(
                &ctx,
                &job,
                &spec,
                &order,
                &shared,
                &feed,
                a,
                accelerators,
                steps,
            )
            .await
        })));
    }
    let mut totals = AcceleratorTotals::default();
    let mut first: Option<Instant> = None;
    let mut ready = Instant::now();
    let mut k = 0u64;
    while k < steps && !ctx.cancel.is_cancelled() {
        if k > 0 && end.is_some_and(|e| ready >= e) {
            break;
        }
        let loaded = wait_for(&feed.loaded, || feed.remaining(k).0 == 0);
        let deadline = async {
            match end {
                // The first batch is warm-up: it is waited for whatever the
                // deadline, or nothing would be measured.
                Some(e) if k > 0 => tokio::time::sleep_until(e).await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            // A batch that arrives at the deadline is taken.
            biased;
            _ = loaded => {}
            // A wait cut short (only measured steps wait on the deadline)
            // is stall up to the cut.
            _ = deadline => {
                let cut = end.unwrap_or(ready);
                spread(shared, ready, cut, Busy::Stall);
                ready = cut;
                break;
            }
            _ = ctx.cancel.cancelled() => {
                let cut = Instant::now();
                if k > 0 {
                    spread(shared, ready, cut, Busy::Stall);
                }
                ready = cut;
                break;
            }
        }
        let got = Instant::now();
        let (_, bytes) = feed.remaining(k);
        {
            // Drop the finished batch's slot and open the read-ahead window.
            let mut b = feed.batches.borrow_mut();
            b.pop_front();
            feed.base.set(k + 1);
        }
        feed.taken.set(k + 1);
        feed.moved.notify_waiters();
        if k > 0 {
            let stall = got.saturating_duration_since(ready).as_nanos() as u64;
            with_stats(shared, |s| {
                s.record_batch(stall, u64::from(spec.batch_size), bytes)
            });
            spread(shared, ready, got, Busy::Stall);
            if let Some(l) = &shared.live {
                l.note_stall(stall);
            }
        }
        let computing = got;
        tokio::select! {
            biased;
            // Compute is what the accelerator spent (a timer may overshoot
            // `compute` a little), so wall = compute + stall exactly.
            _ = tokio::time::sleep(spec.compute) => {
                ready = Instant::now();
                if k > 0 {
                    computed(shared, &mut totals, computing, ready);
                }
            }
            _ = ctx.cancel.cancelled() => {
                ready = Instant::now();
                if k > 0 {
                    computed(shared, &mut totals, computing, ready);
                }
                break;
            }
        }
        if k == 0 {
            // The first step (its wait and its compute) is warm-up, as
            // MLPerf excludes it: measurement starts when the accelerator
            // is ready for its second batch.
            first = Some(ready);
        }
        k += 1;
    }
    feed.done.set(true);
    feed.moved.notify_waiters();
    if let Some(f) = first {
        totals.wall_ns = ready.saturating_duration_since(f).as_nanos() as u64;
        with_stats(shared, |s| s.finish_accelerator(totals));
    }
    // Reads already sent finish and are recorded (the endpoint counted
    // them); nothing new starts.
    for r in readers {
        let _ = r.await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn reader<C: ObjectClient>(
    ctx: &Rc<ThreadCtx<C>>,
    job: &Arc<Job>,
    spec: &DataloaderSpec,
    order: &Order,
    shared: &Shared,
    feed: &Feed,
    a: u32,
    accelerators: u32,
    steps: u64,
) {
    let opctx = ctx.op_context(job);
    let client = opctx.client;
    let kind = match spec.sample {
        SampleUnit::Object => OpKind::Get,
        SampleUnit::Record { .. } => OpKind::RangedGet,
    };
    let mut key = String::with_capacity(128);
    loop {
        // The next sample, once its batch is inside the read-ahead window.
        wait_for(&feed.moved, || {
            feed.done.get() || feed.cursor.get().0 < feed.taken.get() + u64::from(spec.prefetch)
        })
        .await;
        let (k, s) = feed.cursor.get();
        if feed.done.get() || ctx.cancel.is_cancelled() || k >= steps {
            return;
        }
        feed.cursor.set(if s + 1 == spec.batch_size {
            (k + 1, 0)
        } else {
            (k, s + 1)
        });
        if s == 0 {
            feed.batches.borrow_mut().push_back((spec.batch_size, 0));
        }
        let (epoch, pos) = batch_position(order.total, spec.batch_size, accelerators, a, k);
        let (object, range, _) = order.locate(order.shuffled(epoch, pos + u64::from(s)));
        key.clear();
        key.push_str(&job.run_prefix);
        job.plan.key(object, job.date, &mut key);
        // A sample is read until it arrives: a training job cannot skip it.
        // Every attempt is recorded; failures without an answer back off.
        let mut backoff = Duration::ZERO;
        loop {
            let before = client.session_marker();
            shared.set_in_flight(shared.in_flight.get() + 1);
            let sent = Instant::now();
            crate::oplog::set_due(sent.into_std(), crate::oplog::Stage::Measured);
            let out = client.get(&key, range).await;
            let done = Instant::now();
            let in_flight = shared.in_flight.get();
            shared.set_in_flight(in_flight - 1);
            ctx.live.ops.fetch_add(1, Ordering::Relaxed);
            let sample = Sample {
                behind_session: SessionProbe::overlapped(before, client.session_marker()),
                ..ops::sample(&out, sent, sent, done, true)
            };
            {
                let mut rec = shared.recorder.borrow_mut();
                if k == 0 {
                    rec.record_warmup(kind.index(), &sample);
                } else {
                    let second = done
                        .saturating_duration_since(shared.measure_start)
                        .as_secs() as usize;
                    rec.record(kind.index(), second, &sample);
                    rec.note_in_flight(second, in_flight);
                    if out.error.as_ref().is_some_and(|e| e.throttled()) {
                        let rel = key.strip_prefix(&*job.run_prefix).unwrap_or(&key);
                        rec.throttled_prefixes
                            .record(second, job.plan.throttle_prefix(rel, true));
                    }
                }
            }
            shared.last_done.set(shared.last_done.get().max(Some(done)));
            let Some(e) = &out.error else {
                let mut b = feed.batches.borrow_mut();
                if let Some(slot) = b.get_mut((k - feed.base.get()) as usize) {
                    slot.0 -= 1;
                    slot.1 += out.bytes;
                    if slot.0 == 0 {
                        feed.loaded.notify_waiters();
                    }
                }
                break;
            };
            ctx.live.errors.fetch_add(1, Ordering::Relaxed);
            if e.status.is_none() {
                backoff = (backoff * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = ctx.cancel.cancelled() => return,
                }
            }
            if feed.done.get() || ctx.cancel.is_cancelled() {
                return;
            }
        }
    }
}

/// Finds the most accelerators (at most `max`) whose AU stays at or above
/// `au`: doubling from 1 until a step fails or `max` is reached, then
/// bisecting between the largest pass and the smallest failure.
#[derive(Debug, Clone)]
pub struct Search {
    max: u32,
    au: f64,
    /// Largest count that passed (0: none yet).
    lo: u32,
    /// Smallest count that failed.
    hi: Option<u32>,
    next: Option<u32>,
}

impl Search {
    pub fn new(max: u32, au: f64) -> Search {
        Search {
            max: max.max(1),
            au,
            lo: 0,
            hi: None,
            next: Some(1),
        }
    }

    /// The accelerator count to try next; None when the search is done.
    pub fn next(&self) -> Option<u32> {
        self.next
    }

    /// Takes the AU the step with `n` accelerators measured.
    pub fn observe(&mut self, n: u32, au: f64) {
        if au >= self.au {
            self.lo = self.lo.max(n);
        } else {
            self.hi = Some(self.hi.map_or(n, |h| h.min(n)));
        }
        self.next = match self.hi {
            None if n >= self.max => None,
            None => Some(n.saturating_mul(2).min(self.max)),
            Some(h) if h <= self.lo + 1 => None,
            Some(h) => Some(self.lo + (h - self.lo) / 2),
        };
    }

    /// The answer so far: the most accelerators that kept the mark.
    pub fn found(&self) -> u32 {
        self.lo
    }

    /// True when `au` keeps the mark.
    pub fn passes(&self, au: f64) -> bool {
        au >= self.au
    }
}

/// One step of a search: its accelerator count and what it measured.
pub struct SearchStep {
    pub accelerators: u32,
    pub result: JobResult,
}

/// Runs a search, one job per step through `step` (the caller's way to run
/// a job: the run's watchdog, or a test's engine). Stops early, keeping the
/// steps done, when the run is cancelled.
pub async fn search<F, Fut>(
    max: u32,
    au: f64,
    cancel: &Cancel,
    mut step: F,
) -> anyhow::Result<(u32, Vec<SearchStep>)>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = anyhow::Result<JobResult>>,
{
    let mut s = Search::new(max, au);
    let mut steps = Vec::new();
    while let Some(n) = s.next() {
        let result = step(n).await?;
        if cancel.is_cancelled() {
            steps.push(SearchStep {
                accelerators: n,
                result,
            });
            break;
        }
        let got = result.loader.as_ref().map_or(0.0, DataloaderStats::au);
        s.observe(n, got);
        steps.push(SearchStep {
            accelerators: n,
            result,
        });
    }
    Ok((s.found(), steps))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass_below(capacity: u32, max: u32) -> (u32, Vec<u32>) {
        let mut s = Search::new(max, 0.9);
        let mut tried = Vec::new();
        while let Some(n) = s.next() {
            tried.push(n);
            s.observe(n, if n <= capacity { 0.95 } else { 0.5 });
        }
        (s.found(), tried)
    }

    #[test]
    fn search_doubles_then_bisects() {
        assert_eq!(pass_below(9, 64), (9, vec![1, 2, 4, 8, 16, 12, 10, 9]));
        assert_eq!(pass_below(64, 64).0, 64);
        assert_eq!(pass_below(100, 48), (48, vec![1, 2, 4, 8, 16, 32, 48]));
        assert_eq!(pass_below(0, 64), (0, vec![1]));
        assert_eq!(pass_below(1, 1), (1, vec![1]));
        for cap in 0..70 {
            assert_eq!(pass_below(cap, 64).0, cap.min(64), "capacity {cap}");
        }
    }

    /// The bound a run's duration estimate uses holds for every capacity,
    /// and is reached.
    #[test]
    fn search_steps_stay_within_the_estimate() {
        for max in 1..=130 {
            let most = crate::scenario::plan::Accelerators::Search { max }.most_steps();
            let longest = (0..=max + 1)
                .map(|cap| pass_below(cap, max).1.len() as u32)
                .max()
                .unwrap();
            assert!(longest <= most, "max {max}: {longest} steps > {most}");
            if max.is_power_of_two() && max > 1 {
                assert_eq!(longest, most, "max {max}");
            }
        }
    }
}
