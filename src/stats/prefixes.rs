//! Throttled requests by key prefix, per second: where on the key space a
//! bucket said "slow down". Only throttled requests are recorded here, and
//! they are rare and off the success path, so a short list of prefixes and
//! a string compare per throttle cost nothing the report would see. The
//! caller decides the prefix (a key's leading characters, at a granularity
//! that keeps their number small); at most [`MAX_PREFIXES`] distinct ones
//! are kept, the rest count under [`OTHER`], so no key layout can grow this
//! without bound.

/// Distinct prefixes kept per recorder; the rest count under [`OTHER`].
pub const MAX_PREFIXES: usize = 64;

/// The prefix name the throttles of untracked prefixes count under.
pub const OTHER: &str = "(other)";

/// Throttled requests per prefix per second (seconds since the measured
/// part began).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PrefixSeries {
    /// (prefix, throttled requests in second 0, 1, 2, ...), in first-seen order.
    prefixes: Vec<(String, Vec<u64>)>,
}

impl PrefixSeries {
    /// Counts one throttled request for `prefix` in `second`.
    pub fn record(&mut self, second: usize, prefix: &str) {
        self.add(second, prefix, 1);
    }

    fn add(&mut self, second: usize, prefix: &str, n: u64) {
        let i = match self.prefixes.iter().position(|(p, _)| p == prefix) {
            Some(i) => i,
            None if self.prefixes.len() < MAX_PREFIXES || prefix == OTHER => {
                self.prefixes.push((prefix.to_string(), Vec::new()));
                self.prefixes.len() - 1
            }
            None => return self.add(second, OTHER, n),
        };
        let counts = &mut self.prefixes[i].1;
        if counts.len() <= second {
            counts.resize(second + 1, 0);
        }
        counts[second] += n;
    }

    /// Adds another recorder's counts: exact while the two hold at most
    /// [`MAX_PREFIXES`] distinct prefixes together.
    pub fn merge(&mut self, other: &PrefixSeries) {
        for (p, counts) in &other.prefixes {
            for (s, n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
                self.add(s, p, *n);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    /// (second, prefix, throttled) for every non-zero count, by second then prefix.
    pub fn rows(&self) -> Vec<(u32, &str, u64)> {
        let mut rows: Vec<(u32, &str, u64)> = self
            .prefixes
            .iter()
            .flat_map(|(p, counts)| {
                counts
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(move |(s, n)| (s as u32, p.as_str(), *n))
            })
            .collect();
        rows.sort_unstable();
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counts_by_second_and_prefix() {
        let mut s = PrefixSeries::default();
        s.record(0, "a");
        s.record(2, "b");
        s.record(2, "a");
        s.record(2, "a");
        assert_eq!(s.rows(), vec![(0, "a", 1), (2, "a", 2), (2, "b", 1)]);
    }

    #[test]
    fn prefixes_beyond_the_cap_count_as_other() {
        let mut s = PrefixSeries::default();
        for i in 0..MAX_PREFIXES + 10 {
            s.record(1, &format!("p{i}"));
        }
        let rows = s.rows();
        assert_eq!(rows.len(), MAX_PREFIXES + 1);
        assert!(rows.contains(&(1, OTHER, 10)), "{rows:?}");
        assert_eq!(
            rows.iter().map(|r| r.2).sum::<u64>(),
            MAX_PREFIXES as u64 + 10
        );
    }

    proptest! {
        /// Recorders merged equal one recorder fed every throttle, in any
        /// split, while the prefixes fit under the cap.
        #[test]
        fn merge_is_exact(events in proptest::collection::vec((0usize..4, 0usize..30, 0u8..20), 0..300)) {
            let mut parts = vec![PrefixSeries::default(); 4];
            let mut one = PrefixSeries::default();
            for (part, second, p) in &events {
                let prefix = format!("k{p}/");
                parts[*part].record(*second, &prefix);
                one.record(*second, &prefix);
            }
            let mut merged = PrefixSeries::default();
            for p in &parts {
                merged.merge(p);
            }
            prop_assert_eq!(merged.rows(), one.rows());
        }
    }
}
