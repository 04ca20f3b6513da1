//! What the ranks of one checkpoint step measured: how long each took and
//! how fast it moved its share. MLPerf Storage reports a checkpoint's
//! duration as the slowest rank's and its throughput as the lowest rank's
//! (mlcommons/storage `checkpointing/README.md`), so a step keeps the
//! maximum duration and the minimum throughput, plus sums: merging threads
//! or shards (max of maxima, min of minima, sums add) is exact.

/// The ranks of one write or read of one checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RankTimes {
    /// Ranks that finished.
    pub ranks: u64,
    /// Bytes they moved.
    pub bytes: u64,
    /// The slowest rank's time, ns.
    pub slowest_ns: u64,
    /// The fastest rank's time, ns.
    pub fastest_ns: u64,
    /// Rank times summed, ns (for the mean).
    pub sum_ns: u64,
    /// The lowest throughput of a rank, bytes per second (its share over
    /// its time); 0 when no rank finished.
    pub min_bytes_per_sec: f64,
}

impl RankTimes {
    /// A rank moved `bytes` in `ns`.
    pub fn record(&mut self, ns: u64, bytes: u64) {
        let ns = ns.max(1);
        let rate = bytes as f64 * 1e9 / ns as f64;
        self.merge(&RankTimes {
            ranks: 1,
            bytes,
            slowest_ns: ns,
            fastest_ns: ns,
            sum_ns: ns,
            min_bytes_per_sec: rate,
        });
    }

    pub fn merge(&mut self, o: &RankTimes) {
        if o.ranks == 0 {
            return;
        }
        if self.ranks == 0 {
            *self = *o;
            return;
        }
        self.ranks += o.ranks;
        self.bytes += o.bytes;
        self.slowest_ns = self.slowest_ns.max(o.slowest_ns);
        self.fastest_ns = self.fastest_ns.min(o.fastest_ns);
        self.sum_ns += o.sum_ns;
        self.min_bytes_per_sec = self.min_bytes_per_sec.min(o.min_bytes_per_sec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slowest_and_lowest_survive_any_merge_order() {
        let mut a = RankTimes::default();
        a.record(2_000_000_000, 100);
        a.record(1_000_000_000, 100);
        let mut b = RankTimes::default();
        b.record(4_000_000_000, 400);
        let mut ab = a;
        ab.merge(&b);
        let mut ba = b;
        ba.merge(&a);
        assert_eq!(ab, ba);
        assert_eq!((ab.ranks, ab.bytes), (3, 600));
        assert_eq!(
            (ab.slowest_ns, ab.fastest_ns),
            (4_000_000_000, 1_000_000_000)
        );
        assert_eq!(ab.sum_ns, 7_000_000_000);
        // 100 bytes in 2 s is the lowest rate, not the slowest rank's 100/s.
        assert_eq!(ab.min_bytes_per_sec, 50.0);
        let mut e = RankTimes::default();
        e.merge(&RankTimes::default());
        assert_eq!(e, RankTimes::default());
    }
}
