//! Live counters of a run, for an exporter to read while it goes on
//! (`--metrics-listen`). One [`LiveBlock`] per engine thread and (target,
//! phase): only its thread writes it, with a relaxed load and store per
//! counter (no read-modify-write, no lock, no cache line shared with
//! another writer), and any thread may read it at any time; the reader sums
//! the threads' blocks. A recorder that has a block updates it on every
//! sample it records, so the live numbers count exactly what the result
//! will.
//!
//! Single writer: a relaxed `store(load + n)` is exact only because no
//! other thread writes the same block. The engine gives each thread its own
//! block; anything else that writes one must be the only writer too.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::recorder::{FailureGroup, OpStats, Recorder, Sample};

/// Upper bounds (inclusive, ns) of the latency histogram's buckets: 100 µs
/// to 10 s in steps of 1, 2, 3, 5 and 7 per decade; one more bucket holds
/// what is above 10 s. Express GETs (a few ms) and General Purpose GETs
/// (tens of ms) each fall across several buckets, and `histogram_quantile`
/// interpolates within a step of at most 2x.
pub const LATENCY_BOUNDS_NS: [u64; 26] = [
    100_000,
    200_000,
    300_000,
    500_000,
    700_000,
    1_000_000,
    2_000_000,
    3_000_000,
    5_000_000,
    7_000_000,
    10_000_000,
    20_000_000,
    30_000_000,
    50_000_000,
    70_000_000,
    100_000_000,
    200_000_000,
    300_000_000,
    500_000_000,
    700_000_000,
    1_000_000_000,
    2_000_000_000,
    3_000_000_000,
    5_000_000_000,
    7_000_000_000,
    10_000_000_000,
];

/// The finite buckets and the one above the last bound.
pub const BUCKETS: usize = LATENCY_BOUNDS_NS.len() + 1;

/// Outcomes an operation is counted under: success, then the failure groups.
pub const OUTCOMES: usize = 1 + FailureGroup::ALL.len();

/// Names of the outcomes, in slot order: `success`, then the failure
/// groups' keys (`throttled`, `http`, `transport`, `conditional`).
pub fn outcome_name(i: usize) -> &'static str {
    match i {
        0 => "success",
        i => FailureGroup::ALL[i - 1].key(),
    }
}

#[inline]
fn bump(a: &AtomicU64, n: u64) {
    // Single writer (see the module doc): a plain load and store, which
    // costs what an ordinary add does, where `fetch_add` would lock the bus.
    a.store(a.load(Relaxed).wrapping_add(n), Relaxed);
}

/// The bucket of a latency of `ns`.
#[inline]
pub fn bucket_of(ns: u64) -> usize {
    LATENCY_BOUNDS_NS.partition_point(|&b| b < ns)
}

/// What one thread counted of one op.
#[derive(Debug, Default)]
pub struct LiveOp {
    /// Completed operations (warm-up included) by outcome.
    pub outcomes: [AtomicU64; OUTCOMES],
    /// Of those, the ones that completed during warm-up.
    pub warmup: AtomicU64,
    /// HTTP requests they sent (what an endpoint counts).
    pub requests: AtomicU64,
    /// Payload bytes of the successful ones.
    pub bytes: AtomicU64,
    /// Measured (not warm-up) successes by latency bucket.
    pub buckets: [AtomicU64; BUCKETS],
    /// Sum of those latencies, ns.
    pub latency_sum_ns: AtomicU64,
}

/// What one thread's simulated accelerators measured so far.
#[derive(Debug, Default)]
pub struct LiveDataloader {
    /// Compute time of measured batches, ns.
    pub compute_ns: AtomicU64,
    /// Time spent waiting for measured batches, ns.
    pub stall_ns: AtomicU64,
}

/// One thread's live counters for one (target, phase).
#[derive(Debug)]
pub struct LiveBlock {
    /// One per op slot.
    pub ops: Box<[LiveOp]>,
    /// Requests this thread has in flight now.
    pub in_flight: AtomicU64,
    pub dataloader: LiveDataloader,
}

impl LiveBlock {
    /// A block with `ops` op slots.
    pub fn new(ops: usize) -> LiveBlock {
        LiveBlock {
            ops: (0..ops).map(|_| LiveOp::default()).collect(),
            in_flight: AtomicU64::new(0),
            dataloader: LiveDataloader::default(),
        }
    }

    /// Counts one sample of op `op` (`measured`: not warm-up).
    #[inline]
    pub fn note(&self, op: usize, s: &Sample<'_>, measured: bool) {
        let Some(o) = self.ops.get(op) else { return };
        bump(&o.requests, s.requests);
        if !measured {
            bump(&o.warmup, 1);
        }
        match s.failure {
            None => {
                bump(&o.outcomes[0], 1);
                bump(&o.bytes, s.bytes);
                if measured {
                    bump(&o.buckets[bucket_of(s.latency_ns)], 1);
                    bump(&o.latency_sum_ns, s.latency_ns);
                }
            }
            Some(f) => bump(&o.outcomes[1 + f.group as usize], 1),
        }
    }

    #[inline]
    pub fn set_in_flight(&self, n: u64) {
        self.in_flight.store(n, Relaxed);
    }

    /// A measured batch an accelerator waited `stall_ns` for.
    pub fn note_stall(&self, stall_ns: u64) {
        bump(&self.dataloader.stall_ns, stall_ns);
    }

    /// Compute time an accelerator spent on a measured batch.
    pub fn note_compute(&self, compute_ns: u64) {
        bump(&self.dataloader.compute_ns, compute_ns);
    }

    /// Adds everything `rec` recorded (for work recorded outside the
    /// engine, like the cleanup's requests). The same single-writer rule.
    pub fn absorb<const N: usize>(&self, rec: &Recorder<N>) {
        for (i, s) in rec.ops.iter().enumerate() {
            if let Some(s) = s {
                self.absorb_op(i, s, true);
            }
        }
        for (i, s) in rec.warmup.iter().enumerate() {
            if let Some(s) = s {
                self.absorb_op(i, s, false);
            }
        }
    }

    fn absorb_op(&self, op: usize, s: &OpStats, measured: bool) {
        let Some(o) = self.ops.get(op) else { return };
        bump(&o.requests, s.requests);
        bump(&o.outcomes[0], s.successes());
        bump(&o.bytes, s.bytes);
        for (g, f) in s.failures.iter().enumerate() {
            if let Some(f) = f {
                bump(&o.outcomes[1 + g], f.count);
            }
        }
        if !measured {
            bump(&o.warmup, s.count);
            return;
        }
        for v in s.latency.iter_recorded() {
            let n = v.count_at_value();
            bump(&o.buckets[bucket_of(v.value_iterated_to())], n);
        }
        let sum = (s.latency.mean() * s.latency.len() as f64) as u64;
        bump(&o.latency_sum_ns, sum);
    }
}

/// One block per engine thread, for one (target, phase): thread `i` writes
/// block `i`.
pub type ThreadBlocks = std::sync::Arc<[std::sync::Arc<LiveBlock>]>;

/// The sum of several threads' blocks at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveTotals {
    /// Per op slot.
    pub ops: Vec<OpTotals>,
    pub in_flight: u64,
    pub compute_ns: u64,
    pub stall_ns: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpTotals {
    pub outcomes: [u64; OUTCOMES],
    pub warmup: u64,
    pub requests: u64,
    pub bytes: u64,
    pub buckets: [u64; BUCKETS],
    pub latency_sum_ns: u64,
}

impl OpTotals {
    /// Completed operations, any outcome.
    pub fn count(&self) -> u64 {
        self.outcomes.iter().sum()
    }
}

/// Sums `blocks` (each read with relaxed loads; a block being written may
/// be a sample behind, never torn within a counter).
pub fn sum<'a>(blocks: impl IntoIterator<Item = &'a LiveBlock>) -> LiveTotals {
    let mut t = LiveTotals::default();
    for b in blocks {
        if t.ops.len() < b.ops.len() {
            t.ops.resize(b.ops.len(), OpTotals::default());
        }
        for (acc, o) in t.ops.iter_mut().zip(b.ops.iter()) {
            for (a, x) in acc.outcomes.iter_mut().zip(&o.outcomes) {
                *a += x.load(Relaxed);
            }
            acc.warmup += o.warmup.load(Relaxed);
            acc.requests += o.requests.load(Relaxed);
            acc.bytes += o.bytes.load(Relaxed);
            for (a, x) in acc.buckets.iter_mut().zip(&o.buckets) {
                *a += x.load(Relaxed);
            }
            acc.latency_sum_ns += o.latency_sum_ns.load(Relaxed);
        }
        t.in_flight += b.in_flight.load(Relaxed);
        t.compute_ns += b.dataloader.compute_ns.load(Relaxed);
        t.stall_ns += b.dataloader.stall_ns.load(Relaxed);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::recorder::Failure;

    fn sample(ns: u64, failure: Option<Failure<'static>>) -> Sample<'static> {
        Sample {
            latency_ns: ns,
            service_ns: ns,
            ttfb_ns: None,
            bytes: 100,
            requests: 2,
            failure,
            late_start: false,
            behind_session: false,
        }
    }

    #[test]
    fn buckets_cover_100us_to_10s_and_bounds_are_inclusive() {
        let bounds = LATENCY_BOUNDS_NS.to_vec();
        assert_eq!(bounds.first(), Some(&100_000));
        assert_eq!(bounds.last(), Some(&10_000_000_000));
        assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(BUCKETS, bounds.len() + 1);
        assert_eq!(bucket_of(1), 0);
        assert_eq!(bucket_of(100_000), 0);
        assert_eq!(bucket_of(100_001), 1);
        assert_eq!(bucket_of(1_000_000_000), 20);
        assert_eq!(bucket_of(1_000_000_001), 21);
        assert_eq!(bucket_of(10_000_000_000), 25);
        assert_eq!(bucket_of(10_000_000_001), 26);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        for (i, b) in bounds.iter().enumerate() {
            assert_eq!(bucket_of(*b), i);
            assert_eq!(bucket_of(*b + 1), i + 1);
        }
    }

    /// A recorder with a block counts into it exactly what it records, and
    /// a block filled from a recorder afterwards says the same.
    #[test]
    fn a_recorders_block_counts_what_it_records() {
        let block = std::sync::Arc::new(LiveBlock::new(2));
        let mut rec: Recorder<2> = Recorder::with_live(block.clone());
        let throttled = Failure {
            kind: "503 SlowDown",
            group: FailureGroup::Throttled,
            status: Some(503),
        };
        rec.record(0, 0, &sample(150_000, None));
        rec.record(0, 1, &sample(4_000_000, None));
        rec.record(0, 1, &sample(2_000_000, Some(throttled)));
        rec.record_warmup(1, &sample(9_000_000, None));
        let t = sum([&*block]);
        let get = &t.ops[0];
        assert_eq!(get.outcomes, [2, 1, 0, 0, 0, 0]);
        assert_eq!(
            (get.count(), get.warmup, get.requests, get.bytes),
            (3, 0, 6, 200)
        );
        assert_eq!(get.buckets[bucket_of(150_000)], 1);
        assert_eq!(get.buckets[bucket_of(4_000_000)], 1);
        assert_eq!(get.buckets.iter().sum::<u64>(), 2);
        assert_eq!(get.latency_sum_ns, 4_150_000);
        let put = &t.ops[1];
        assert_eq!((put.count(), put.warmup, put.requests), (1, 1, 2));
        assert_eq!(
            put.buckets.iter().sum::<u64>(),
            0,
            "warm-up stays out of the histogram"
        );

        let copy = LiveBlock::new(2);
        copy.absorb(&rec);
        let c = sum([&copy]);
        assert_eq!(c.ops[0].outcomes, get.outcomes);
        assert_eq!(
            (c.ops[0].requests, c.ops[0].bytes),
            (get.requests, get.bytes)
        );
        assert_eq!(c.ops[0].buckets, get.buckets);
        assert_eq!(c.ops[1].warmup, 1);
        // Two threads' blocks add.
        let both = sum([&*block, &copy]);
        assert_eq!(both.ops[0].count(), 6);
    }
}
