//! A client that answers every GET after a latency drawn from a measured
//! histogram: the engine's `Connector` seam turned into a simulator. Drawn
//! with a seeded generator, so a prediction is the same every time.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use crate::client::{ErrorKind, ObjectClient, Outcome, WriteCondition};
use crate::engine::Connector;

/// The measured latency distribution, ready to draw from: each recorded
/// bucket of the histogram with its cumulative count.
#[derive(Debug)]
pub struct Sampler {
    /// (cumulative count up to and including this bucket, lowest and
    /// highest value of the bucket, ns).
    buckets: Vec<(u64, u64, u64)>,
    total: u64,
}

impl Sampler {
    /// None when the histogram is empty.
    pub fn new(h: &Histogram<u64>) -> Option<Sampler> {
        let mut buckets = Vec::new();
        let mut total = 0u64;
        for v in h.iter_recorded() {
            total += v.count_at_value();
            let x = v.value_iterated_to();
            buckets.push((total, h.lowest_equivalent(x), h.highest_equivalent(x)));
        }
        (total > 0).then_some(Sampler { buckets, total })
    }

    /// One latency: a recorded value chosen with its measured frequency,
    /// spread uniformly within its histogram bucket (3 significant digits).
    pub fn draw(&self, rng: &mut fastrand::Rng) -> Duration {
        let k = rng.u64(0..self.total);
        let i = self.buckets.partition_point(|b| b.0 <= k);
        let (_, lo, hi) = self.buckets[i.min(self.buckets.len() - 1)];
        Duration::from_nanos(if hi > lo { rng.u64(lo..=hi) } else { lo })
    }
}

/// One engine thread's simulated client.
pub struct Drawn {
    sampler: Arc<Sampler>,
    rng: RefCell<fastrand::Rng>,
    /// Bytes each GET returns (the sample size).
    bytes: u64,
    /// The simulation's slow-down: every latency is this many times the draw.
    scale: u32,
}

fn not_simulated() -> Outcome {
    Outcome::failed(
        1,
        ErrorKind {
            key: "not simulated".into(),
            status: Some(501),
        },
    )
}

impl ObjectClient for Drawn {
    async fn get(&self, _key: &str, range: Option<(u64, u64)>) -> Outcome {
        let wait = self.sampler.draw(&mut self.rng.borrow_mut()) * self.scale;
        tokio::time::sleep(wait).await;
        let mut o = Outcome::ok(range.map_or(self.bytes, |(a, b)| b - a + 1));
        o.first_byte = Some(Instant::now());
        o
    }
    async fn head(&self, _key: &str) -> Outcome {
        not_simulated()
    }
    async fn put(&self, _key: &str, _len: u64) -> Outcome {
        not_simulated()
    }
    async fn delete(&self, _key: &str) -> Outcome {
        not_simulated()
    }
    async fn multipart_put(&self, _key: &str, _len: u64, _part: u64) -> Outcome {
        not_simulated()
    }
    async fn list(
        &self,
        _prefix: &str,
        _page: u32,
        _delimiter: bool,
        _token: Option<String>,
    ) -> (Outcome, Option<String>) {
        (not_simulated(), None)
    }
    async fn append(&self, _key: &str, _offset: u64, _len: u64) -> Outcome {
        not_simulated()
    }
    async fn put_if(
        &self,
        _key: &str,
        _len: u64,
        _cond: WriteCondition<'_>,
    ) -> (Outcome, Option<String>) {
        (not_simulated(), None)
    }
    async fn stat(&self, _key: &str) -> (Outcome, Option<(String, u64)>) {
        (not_simulated(), None)
    }
    async fn rename(&self, _from: &str, _to: &str) -> Outcome {
        not_simulated()
    }
    async fn copy(&self, _from: &str, _to: &str) -> Outcome {
        not_simulated()
    }
}

/// Builds the one engine thread's [`Drawn`] client of one target.
pub struct DrawnConnector {
    pub sampler: Arc<Sampler>,
    pub seed: u64,
    pub bytes: u64,
    /// Every latency is this many times its draw (see `whatif::time_scale`).
    pub scale: u32,
}

impl Connector for DrawnConnector {
    type Client = Drawn;
    fn targets(&self) -> usize {
        1
    }
    async fn connect(&self, _target: usize) -> Drawn {
        Drawn {
            sampler: self.sampler.clone(),
            rng: RefCell::new(fastrand::Rng::with_seed(self.seed)),
            bytes: self.bytes,
            scale: self.scale,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draws follow the measured distribution: a histogram of 90% 10 ms and
    /// 10% 100 ms gives about that mix, within the histogram's precision.
    #[test]
    fn draws_follow_the_histogram() {
        let mut h = crate::stats::recorder::latency_hist();
        for _ in 0..900 {
            crate::stats::recorder::record(&mut h, 10_000_000);
        }
        for _ in 0..100 {
            crate::stats::recorder::record(&mut h, 100_000_000);
        }
        let s = Sampler::new(&h).unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        let draws: Vec<Duration> = (0..20_000).map(|_| s.draw(&mut rng)).collect();
        let slow = draws
            .iter()
            .filter(|d| **d > Duration::from_millis(50))
            .count();
        assert!((1_800..2_200).contains(&slow), "{slow}");
        for d in &draws {
            let ms = d.as_secs_f64() * 1e3;
            assert!(
                (9.98..=10.02).contains(&ms) || (99.8..=100.2).contains(&ms),
                "{ms}"
            );
        }
        assert!(Sampler::new(&crate::stats::recorder::latency_hist()).is_none());
    }
}
