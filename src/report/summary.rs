//! Histogram -> the percentiles the result reports. The engine and `merge`
//! both call this, so a merged result's numbers are computed exactly as a
//! single run's.

use hdrhistogram::Histogram;

use super::model::LatencySummary;

const NS_PER_US: f64 = 1_000.0;

/// Summarizes a histogram of nanoseconds as microseconds.
///
/// Percentiles are HdrHistogram's (the highest value equivalent to the
/// sample at that rank), so they are reproducible from the stored histogram.
/// An empty histogram gives all zeros.
pub fn summarize(h: &Histogram<u64>) -> LatencySummary {
    if h.is_empty() {
        return LatencySummary::default();
    }
    let q = |quantile: f64| h.value_at_quantile(quantile) as f64 / NS_PER_US;
    LatencySummary {
        min: h.min() as f64 / NS_PER_US,
        mean: h.mean() / NS_PER_US,
        p50: q(0.50),
        p90: q(0.90),
        p99: q(0.99),
        p999: q(0.999),
        max: h.max() as f64 / NS_PER_US,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_histogram_is_all_zero() {
        let h = Histogram::<u64>::new(3).unwrap();
        assert_eq!(summarize(&h), LatencySummary::default());
    }

    #[test]
    fn converts_ns_to_us_and_orders_percentiles() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        // 1..=1000 µs, one sample each.
        for us in 1..=1000u64 {
            h.record(us * 1_000).unwrap();
        }
        let s = summarize(&h);
        // Three significant digits: each value is within 0.1% of the exact rank.
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 1e-9;
        assert!(close(s.min, 1.0), "min {}", s.min);
        assert!(close(s.p50, 500.0), "p50 {}", s.p50);
        assert!(close(s.p90, 900.0), "p90 {}", s.p90);
        assert!(close(s.p99, 990.0), "p99 {}", s.p99);
        assert!(close(s.p999, 999.0), "p999 {}", s.p999);
        assert!(close(s.max, 1000.0), "max {}", s.max);
        assert!(close(s.mean, 500.5), "mean {}", s.mean);
        assert!(s.min <= s.p50 && s.p50 <= s.p90 && s.p90 <= s.p99);
        assert!(s.p99 <= s.p999 && s.p999 <= s.max);
    }
}
