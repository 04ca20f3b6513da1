//! What simulated accelerators measured: how long they computed, how long
//! they waited for their next batch (stall, per batch in an HdrHistogram)
//! and how much they read. Sums and one histogram, so merging threads,
//! rounds or shards is exact and accelerator utilization (AU = compute /
//! wall) is recomputed from the sums. Compute and stall are also kept per
//! second of the phase (`per_second`), so AU over time adds up the same way.

use hdrhistogram::Histogram;

use super::recorder::{latency_hist, record};

#[derive(Debug, Clone)]
pub struct DataloaderStats {
    /// Accelerators that contributed (summed over merged parts).
    pub accelerators: u64,
    /// Measured batches (each accelerator's first batch is warm-up).
    pub batches: u64,
    pub samples: u64,
    /// Payload bytes of the measured batches' samples.
    pub bytes: u64,
    /// Simulated compute time, summed over accelerators, ns.
    pub compute_ns: u64,
    /// Wall time from each accelerator's first batch to its end, summed, ns.
    pub wall_ns: u64,
    /// Time accelerators waited for a batch, summed, ns: wall - compute, so
    /// it includes a wait the end of the phase cut short.
    pub stall_ns: u64,
    /// Stall per measured batch, ns (from when the accelerator was ready).
    pub stall: Histogram<u64>,
    /// Lowest AU of a single accelerator (1.0 when none was measured).
    pub au_min: f64,
    /// Compute and stall per whole second since the phase's start (index =
    /// second), summed over accelerators; each accelerator's first step is
    /// excluded, as from the sums.
    pub per_second: Vec<LoaderSecond>,
    /// End of the last interval spread over `per_second`, ns since the
    /// phase's start: the last second is partial up to here.
    pub end_ns: u64,
}

/// Accelerator time in one second of a loader phase, summed over
/// accelerators, ns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoaderSecond {
    pub compute_ns: u64,
    pub stall_ns: u64,
}

/// What an accelerator was doing over an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    Compute,
    Stall,
}

const SECOND_NS: u64 = 1_000_000_000;

impl Default for DataloaderStats {
    fn default() -> Self {
        DataloaderStats {
            accelerators: 0,
            batches: 0,
            samples: 0,
            bytes: 0,
            compute_ns: 0,
            wall_ns: 0,
            stall_ns: 0,
            stall: latency_hist(),
            au_min: 1.0,
            per_second: Vec::new(),
            end_ns: 0,
        }
    }
}

/// One accelerator's totals, folded into [`DataloaderStats`] when it ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AcceleratorTotals {
    pub compute_ns: u64,
    pub wall_ns: u64,
}

impl DataloaderStats {
    /// One measured batch: how long the accelerator waited for it.
    pub fn record_batch(&mut self, stall_ns: u64, samples: u64, bytes: u64) {
        self.batches += 1;
        self.samples += samples;
        self.bytes += bytes;
        record(&mut self.stall, stall_ns);
    }

    /// An accelerator has finished.
    pub fn finish_accelerator(&mut self, t: AcceleratorTotals) {
        self.accelerators += 1;
        self.compute_ns += t.compute_ns;
        self.wall_ns += t.wall_ns;
        self.stall_ns += t.wall_ns.saturating_sub(t.compute_ns);
        if t.wall_ns > 0 {
            self.au_min = self.au_min.min(t.compute_ns as f64 / t.wall_ns as f64);
        }
    }

    /// An interval `[from_ns, to_ns)` (ns since the phase's start) of
    /// compute or stall, split over the whole seconds it covers.
    pub fn spread(&mut self, from_ns: u64, to_ns: u64, what: Busy) {
        if to_ns <= from_ns {
            return;
        }
        self.end_ns = self.end_ns.max(to_ns);
        let last = ((to_ns - 1) / SECOND_NS) as usize;
        if self.per_second.len() <= last {
            self.per_second.resize(last + 1, LoaderSecond::default());
        }
        let mut at = from_ns;
        while at < to_ns {
            let second = at / SECOND_NS;
            let upto = to_ns.min((second + 1) * SECOND_NS);
            let slot = &mut self.per_second[second as usize];
            match what {
                Busy::Compute => slot.compute_ns += upto - at,
                Busy::Stall => slot.stall_ns += upto - at,
            }
            at = upto;
        }
    }

    /// Accelerator utilization: compute time over wall time, all
    /// accelerators together (0 when nothing was measured).
    pub fn au(&self) -> f64 {
        if self.wall_ns == 0 {
            0.0
        } else {
            self.compute_ns as f64 / self.wall_ns as f64
        }
    }

    pub fn merge(&mut self, o: &DataloaderStats) {
        self.accelerators += o.accelerators;
        self.batches += o.batches;
        self.samples += o.samples;
        self.bytes += o.bytes;
        self.compute_ns += o.compute_ns;
        self.wall_ns += o.wall_ns;
        self.stall_ns += o.stall_ns;
        if self.stall.add(&o.stall).is_err() {
            for v in o.stall.iter_recorded() {
                for _ in 0..v.count_at_value() {
                    record(&mut self.stall, v.value_iterated_to());
                }
            }
        }
        self.au_min = self.au_min.min(o.au_min);
        if self.per_second.len() < o.per_second.len() {
            self.per_second
                .resize(o.per_second.len(), LoaderSecond::default());
        }
        for (a, b) in self.per_second.iter_mut().zip(&o.per_second) {
            a.compute_ns += b.compute_ns;
            a.stall_ns += b.stall_ns;
        }
        self.end_ns = self.end_ns.max(o.end_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn au_comes_from_sums_and_merges_exactly() {
        let mut a = DataloaderStats::default();
        a.record_batch(0, 4, 400);
        a.finish_accelerator(AcceleratorTotals {
            compute_ns: 90,
            wall_ns: 100,
        });
        let mut b = DataloaderStats::default();
        b.record_batch(50, 4, 400);
        b.finish_accelerator(AcceleratorTotals {
            compute_ns: 50,
            wall_ns: 100,
        });
        a.merge(&b);
        assert_eq!(
            (a.accelerators, a.batches, a.samples, a.bytes),
            (2, 2, 8, 800)
        );
        assert!((a.au() - 0.7).abs() < 1e-12);
        assert!((a.au_min - 0.5).abs() < 1e-12);
        assert_eq!(a.stall.len(), 2);
        assert_eq!(a.stall_ns, 60);
    }

    #[test]
    fn intervals_spread_over_seconds_and_merge_by_index() {
        const S: u64 = SECOND_NS;
        let mut a = DataloaderStats::default();
        a.spread(S / 2, 2 * S + S / 4, Busy::Compute);
        a.spread(2 * S + S / 4, 2 * S + S / 2, Busy::Stall);
        a.spread(7, 7, Busy::Stall);
        assert_eq!(
            a.per_second,
            [
                LoaderSecond {
                    compute_ns: S / 2,
                    stall_ns: 0
                },
                LoaderSecond {
                    compute_ns: S,
                    stall_ns: 0
                },
                LoaderSecond {
                    compute_ns: S / 4,
                    stall_ns: S / 4
                },
            ]
        );
        assert_eq!(a.end_ns, 2 * S + S / 2);
        let mut b = DataloaderStats::default();
        b.spread(0, S, Busy::Stall);
        b.spread(3 * S, 3 * S + 5, Busy::Compute);
        a.merge(&b);
        assert_eq!(a.per_second.len(), 4);
        assert_eq!(a.per_second[0].stall_ns, S);
        assert_eq!(a.per_second[0].compute_ns, S / 2);
        assert_eq!(a.per_second[3].compute_ns, 5);
        assert_eq!(a.end_ns, 3 * S + 5);
    }
}
