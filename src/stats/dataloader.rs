//! What simulated accelerators measured: how long they computed, how long
//! they waited for their next batch (stall, per batch in an HdrHistogram)
//! and how much they read. Sums and one histogram, so merging threads,
//! rounds or shards is exact and accelerator utilization (AU = compute /
//! wall) is recomputed from the sums.

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
}

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
}
