//! Checkpoint phases: one job is one step (every rank writes, or reads back,
//! its share of one checkpoint). All ranks start at the job's common start
//! instant, as after the barrier a training job passes before it saves;
//! each rank's time runs from there to its last byte (the last part of its
//! upload or read), and the step is over when the slowest rank is. Rank r runs on engine thread r mod threads (of
//! this process's ranks), so the ranks of one thread share its connection
//! pool as processes on one host share its network.
//!
//! A write is one multipart upload of the rank's share (parts up to
//! `PARTS_IN_FLIGHT` in flight), recorded as `multipart_put`; a read is
//! ranged GETs of `part_size` over the share, as many in flight, recorded
//! as `ranged_get`. A request that fails is retried (after a backoff when
//! there was no HTTP answer) until it succeeds or the run stops: a training
//! job cannot skip a checkpoint; failures show as time. See docs/loader.md.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::{BACKOFF_MAX, BACKOFF_MIN, Job, Shared, ThreadCtx, ops};
use crate::client::{ObjectClient, Outcome, SessionProbe};
use crate::s3::OpKind;
use crate::scenario::checkpoint::PARTS_IN_FLIGHT;
use crate::scenario::{CheckpointSpec, CheckpointStep, RankSet};
use crate::stats::Sample;
use crate::stats::checkpoint::RankTimes;

/// Runs this thread's ranks of one checkpoint step; each finished rank's
/// time goes into `shared.checkpoint`, so a stop keeps the ranks done.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run<C: ObjectClient + 'static>(
    ctx: &Rc<ThreadCtx<C>>,
    job: &Arc<Job>,
    phase: &str,
    spec: &CheckpointSpec,
    step: CheckpointStep,
    set: RankSet,
    shared: &Rc<Shared>,
    handles: &mut Vec<tokio::task::AbortHandle>,
) {
    *shared.checkpoint.borrow_mut() = Some(RankTimes::default());
    tokio::time::sleep_until(job.start).await;
    // The ranks' common start, on this thread's clock (a timer fires up to
    // a tick after the instant it was set for).
    let began = Instant::now();
    let mut mine = Vec::new();
    let ranks = set.ranks(spec.ranks);
    for rank in ranks.skip(ctx.index).step_by(ctx.threads) {
        let (ctx, job, spec, shared, phase) = (
            ctx.clone(),
            job.clone(),
            spec.clone(),
            shared.clone(),
            phase.to_string(),
        );
        let logged = shared.clone();
        mine.push(tokio::task::spawn_local(logged.logged(async move {
            let mut key = job.run_prefix.to_string();
            spec.key(&phase, step.index(), rank, &mut key);
            let share = spec.share(rank);
            let done = if step.is_write() {
                write(&ctx, job.target, &shared, &key, share, spec.part_size).await
            } else {
                read(&ctx, job.target, &shared, &key, share, spec.part_size).await
            };
            if let Some(done) = done {
                let ns = done.saturating_duration_since(began).as_nanos() as u64;
                if let Some(t) = shared.checkpoint.borrow_mut().as_mut() {
                    t.record(ns, share);
                }
            }
        })));
    }
    // A rank's upload stops itself on a stop (and aborts the upload); what
    // is still running after the stop's grace is abandoned like any request.
    handles.extend(mine.iter().map(|h| h.abort_handle()));
    for h in mine {
        let _ = h.await;
    }
}

/// Sends `op` until it succeeds, recording every attempt under `kind` as a
/// measured sample; the instant of the success, or None when the run
/// stopped first.
async fn until_done<C: ObjectClient, F, Fut>(
    ctx: &ThreadCtx<C>,
    client: &C,
    shared: &Shared,
    kind: OpKind,
    mut op: F,
) -> Option<Instant>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<Outcome>>,
{
    let mut backoff = Duration::ZERO;
    loop {
        if ctx.cancel.is_cancelled() {
            return None;
        }
        let before = client.session_marker();
        shared.in_flight.set(shared.in_flight.get() + 1);
        let sent = Instant::now();
        crate::oplog::set_due(sent.into_std(), crate::oplog::Stage::Measured);
        let out = op().await;
        let done = Instant::now();
        let in_flight = shared.in_flight.get();
        shared.in_flight.set(in_flight - 1);
        // Stopped by the run (the upload was aborted): nothing to record.
        let out = out?;
        ctx.live.ops.fetch_add(1, Ordering::Relaxed);
        let sample = Sample {
            behind_session: SessionProbe::overlapped(before, client.session_marker()),
            ..ops::sample(&out, sent, sent, done, kind.reads_body())
        };
        {
            let second = done
                .saturating_duration_since(shared.measure_start)
                .as_secs() as usize;
            let mut rec = shared.recorder.borrow_mut();
            rec.record(kind.index(), second, &sample);
            rec.note_in_flight(second, in_flight);
        }
        shared.last_done.set(shared.last_done.get().max(Some(done)));
        let Some(e) = &out.error else {
            return Some(done);
        };
        ctx.live.errors.fetch_add(1, Ordering::Relaxed);
        if e.status.is_none() {
            backoff = (backoff * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = ctx.cancel.cancelled() => return None,
            }
        }
    }
}

/// One multipart upload of the share.
async fn write<C: ObjectClient>(
    ctx: &ThreadCtx<C>,
    target: usize,
    shared: &Shared,
    key: &str,
    share: u64,
    part_size: u64,
) -> Option<Instant> {
    let client = &ctx.clients[target];
    until_done(ctx, client, shared, OpKind::MultipartPut, || {
        client.multipart_put_unless(key, share, part_size, ctx.cancel.cancelled())
    })
    .await
}

/// Ranged GETs of `part_size` over the share, `PARTS_IN_FLIGHT` in flight;
/// done when the last one is.
async fn read<C: ObjectClient + 'static>(
    ctx: &Rc<ThreadCtx<C>>,
    target: usize,
    shared: &Rc<Shared>,
    key: &str,
    share: u64,
    part_size: u64,
) -> Option<Instant> {
    let parts = share.div_ceil(part_size.max(1)).max(1);
    let next = Rc::new(Cell::new(0u64));
    let last = Rc::new(Cell::new(None::<Instant>));
    let stopped = Rc::new(Cell::new(false));
    let mut readers = Vec::new();
    for _ in 0..PARTS_IN_FLIGHT.min(parts as usize) {
        let (ctx, shared, next, last, stopped, key) = (
            ctx.clone(),
            shared.clone(),
            next.clone(),
            last.clone(),
            stopped.clone(),
            key.to_string(),
        );
        let logged = shared.clone();
        readers.push(tokio::task::spawn_local(logged.logged(async move {
            let client = &ctx.clients[target];
            loop {
                let p = next.get();
                if p >= parts || stopped.get() {
                    return;
                }
                next.set(p + 1);
                let first = p * part_size;
                let range = (first, (first + part_size).min(share) - 1);
                let got = until_done(&ctx, client, &shared, OpKind::RangedGet, || async {
                    Some(client.get(&key, Some(range)).await)
                })
                .await;
                match got {
                    Some(t) => last.set(last.get().max(Some(t))),
                    None => {
                        stopped.set(true);
                        return;
                    }
                }
            }
        })));
    }
    for r in readers {
        let _ = r.await;
    }
    if stopped.get() { None } else { last.get() }
}
