//! The Express / General Purpose ratio of a report and how sure we are of
//! it: which targets are compared, and percentile-bootstrap confidence
//! intervals over rounds (or, failing that, seconds).

use crate::report::model::{KIND_DIRECTORY, KIND_GENERAL_PURPOSE, TargetInfo, TargetPhaseResult};

/// Bootstrap resamples per confidence interval.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;
/// Fixed seed: the same result must render to the same report.
pub const BOOTSTRAP_SEED: u64 = 0x0053_3342_656e_6368; // "S3Bench"

/// `num / den`, or None when the quotient means nothing (zero or missing
/// denominator, non-finite input).
pub fn ratio(num: f64, den: f64) -> Option<f64> {
    (num.is_finite() && den.is_finite() && den > 0.0 && num >= 0.0).then(|| num / den)
}

/// The targets an Express / General Purpose ratio compares: the first
/// directory target and the first general-purpose target, by index.
pub fn comparison_pair(targets: &[TargetInfo]) -> Option<(usize, usize)> {
    let dir = targets.iter().position(|t| t.kind == KIND_DIRECTORY)?;
    let gp = targets
        .iter()
        .position(|t| t.kind == KIND_GENERAL_PURPOSE)?;
    Some((dir, gp))
}

/// A confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ci {
    pub lo: f64,
    pub hi: f64,
}

impl Ci {
    pub fn contains(&self, v: f64) -> bool {
        self.lo <= v && v <= self.hi
    }
}

/// Linear interpolation between order statistics (R type 7) of sorted data.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// Percentile bootstrap 95% CI of mean(num) / mean(den). The two samples are
/// resampled independently: the targets' rounds are not paired. Needs at
/// least two finite values on each side; one value has no spread to resample
/// and would give a falsely exact interval.
pub fn bootstrap_ratio_ci(num: &[f64], den: &[f64], resamples: usize, seed: u64) -> Option<Ci> {
    let num: Vec<f64> = num.iter().copied().filter(|v| v.is_finite()).collect();
    let den: Vec<f64> = den.iter().copied().filter(|v| v.is_finite()).collect();
    if num.len() < 2 || den.len() < 2 || resamples == 0 {
        return None;
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut draw = |v: &[f64]| {
        let mut sum = 0.0;
        for _ in 0..v.len() {
            sum += v[rng.usize(..v.len())];
        }
        sum / v.len() as f64
    };
    let mut ratios = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let n = draw(&num);
        let d = draw(&den);
        if let Some(r) = ratio(n, d) {
            ratios.push(r);
        }
    }
    // A denominator that is often zero makes the ratio meaningless, not narrow.
    if ratios.len() < resamples / 2 {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    Some(Ci {
        lo: quantile_sorted(&ratios, 0.025)?,
        hi: quantile_sorted(&ratios, 0.975)?,
    })
}

/// A headline number compared across targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    P50,
    P99,
    OpsPerSec,
}

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::P50, Metric::P99, Metric::OpsPerSec];

    pub fn label(self) -> &'static str {
        match self {
            Metric::P50 => "p50 latency",
            Metric::P99 => "p99 latency",
            Metric::OpsPerSec => "ops/s",
        }
    }

    /// Lower is better for latency, higher for throughput.
    fn lower_is_better(self) -> bool {
        !matches!(self, Metric::OpsPerSec)
    }
}

/// What the bootstrap resampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiSource {
    /// Per-round values; the counts of rounds (Express, General Purpose).
    Rounds(usize, usize),
    /// Per-second p50s of the time series; the counts of seconds.
    Seconds(usize, usize),
}

impl CiSource {
    pub fn describe(self) -> String {
        match self {
            CiSource::Rounds(a, b) => format!("{a} vs {b} rounds"),
            CiSource::Seconds(a, b) => format!("{a} vs {b} per-second p50s"),
        }
    }
}

/// The Express / General Purpose ratio of one metric and its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatioCi {
    pub metric: Metric,
    pub ci: Ci,
    pub source: CiSource,
}

impl RatioCi {
    /// Plain words for the interval. "within noise" when 1.0 is inside it.
    pub fn verdict(&self) -> &'static str {
        if self.ci.contains(1.0) {
            return "within noise";
        }
        let express_lower = self.ci.hi < 1.0;
        match (self.metric.lower_is_better(), express_lower) {
            (true, true) => "Express faster",
            (true, false) => "Express slower",
            (false, true) => "Express lower throughput",
            (false, false) => "Express higher throughput",
        }
    }
}

fn round_values(t: &TargetPhaseResult, op: &str, metric: Metric) -> Vec<f64> {
    t.rounds
        .iter()
        .filter_map(|r| r.ops.get(op))
        .filter(|o| o.count > 0)
        .map(|o| match metric {
            Metric::P50 => o.p50,
            Metric::P99 => o.p99,
            Metric::OpsPerSec => o.ops_per_sec,
        })
        .collect()
}

fn second_p50s(t: &TargetPhaseResult, op: &str) -> Vec<f64> {
    t.timeseries
        .iter()
        .filter(|s| s.op == op && s.count > 0)
        .map(|s| s.p50)
        .collect()
}

/// 95% bootstrap CI of `dir / gp` for one metric of one op.
///
/// Resamples rounds when both targets have at least two; otherwise, for p50
/// only, the per-second p50s of the time series (a weaker stand-in: seconds
/// are correlated); otherwise None.
pub fn ratio_ci(
    dir: &TargetPhaseResult,
    gp: &TargetPhaseResult,
    op: &str,
    metric: Metric,
) -> Option<RatioCi> {
    let (d, g) = (round_values(dir, op, metric), round_values(gp, op, metric));
    let (d, g, source) = if d.len() >= 2 && g.len() >= 2 {
        let source = CiSource::Rounds(d.len(), g.len());
        (d, g, source)
    } else if metric == Metric::P50 {
        let (d, g) = (second_p50s(dir, op), second_p50s(gp, op));
        let source = CiSource::Seconds(d.len(), g.len());
        (d, g, source)
    } else {
        return None;
    };
    let ci = bootstrap_ratio_ci(&d, &g, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED)?;
    Some(RatioCi { metric, ci, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{RoundOp, RoundResult, SecondRow};

    fn mean(v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / v.len() as f64
    }

    #[test]
    fn ratio_rejects_meaningless_quotients() {
        assert_eq!(ratio(1.0, 2.0), Some(0.5));
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(f64::NAN, 1.0), None);
        assert_eq!(ratio(1.0, f64::INFINITY), None);
    }

    #[test]
    fn quantile_interpolates() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile_sorted(&v, 0.0), Some(1.0));
        assert_eq!(quantile_sorted(&v, 0.5), Some(3.0));
        assert_eq!(quantile_sorted(&v, 1.0), Some(5.0));
        assert_eq!(quantile_sorted(&v, 0.125), Some(1.5));
        assert_eq!(quantile_sorted(&[], 0.5), None);
        assert_eq!(quantile_sorted(&v, 1.5), None);
    }

    #[test]
    fn bootstrap_is_deterministic_and_brackets_the_ratio() {
        let num = [4.0, 4.2, 3.9, 4.1, 4.05];
        let den = [10.0, 10.5, 9.8, 10.1, 9.9];
        let a = bootstrap_ratio_ci(&num, &den, 2000, 7).unwrap();
        let b = bootstrap_ratio_ci(&num, &den, 2000, 7).unwrap();
        assert_eq!(a, b, "same seed, same interval");
        let point = mean(&num) / mean(&den);
        assert!(a.lo < point && point < a.hi, "{a:?} vs {point}");
        assert!(
            !a.contains(1.0),
            "a 2.5x difference with tight rounds is not noise: {a:?}"
        );
        // Resampled means stay within the data's range.
        assert!(a.lo >= 3.9 / 10.5 && a.hi <= 4.2 / 9.8, "{a:?}");
    }

    #[test]
    fn bootstrap_overlapping_samples_contain_one() {
        let num = [9.0, 11.0, 10.0, 12.0, 8.0];
        let den = [10.0, 9.0, 11.0, 8.5, 11.5];
        let ci = bootstrap_ratio_ci(&num, &den, 2000, 1).unwrap();
        assert!(ci.contains(1.0), "{ci:?}");
    }

    #[test]
    fn bootstrap_needs_two_values_each() {
        assert_eq!(bootstrap_ratio_ci(&[1.0], &[1.0, 2.0], 100, 1), None);
        assert_eq!(
            bootstrap_ratio_ci(&[1.0, 2.0], &[f64::NAN, 2.0], 100, 1),
            None
        );
        assert_eq!(bootstrap_ratio_ci(&[1.0, 2.0], &[0.0, 0.0], 100, 1), None);
    }

    fn target(rounds: &[(f64, f64, f64)], seconds_p50: &[f64]) -> TargetPhaseResult {
        TargetPhaseResult {
            target: "t".into(),
            elapsed_s: 1.0,
            ops: Default::default(),
            warmup: Default::default(),
            sessions: Default::default(),
            attempts: Default::default(),
            loader: None,
            throttled_by_prefix: None,
            checkpoint: None,
            audits: Vec::new(),
            lateness: None,
            rounds: rounds
                .iter()
                .enumerate()
                .map(|(i, &(p50, p99, ops))| RoundResult {
                    round: i as u32 + 1,
                    elapsed_s: 1.0,
                    ops: [(
                        "get".to_string(),
                        RoundOp {
                            count: 10,
                            errors: 0,
                            ops_per_sec: ops,
                            p50,
                            p99,
                        },
                    )]
                    .into(),
                })
                .collect(),
            timeseries: seconds_p50
                .iter()
                .enumerate()
                .map(|(i, &p50)| SecondRow {
                    round: 1,
                    second: i as u32,
                    op: "get".into(),
                    count: 5,
                    errors: 0,
                    throttled: 0,
                    bytes: 0,
                    p50,
                    p99: p50 * 2.0,
                    in_flight: 1,
                    histogram: None,
                })
                .collect(),
        }
    }

    #[test]
    fn ratio_ci_uses_rounds_then_seconds_then_nothing() {
        let dir = target(&[(4.0, 9.0, 100.0), (4.1, 9.5, 101.0)], &[4.0, 4.2, 3.9]);
        let gp = target(
            &[(10.0, 30.0, 50.0), (10.4, 31.0, 49.0)],
            &[10.0, 10.3, 9.9],
        );
        let p50 = ratio_ci(&dir, &gp, "get", Metric::P50).unwrap();
        assert_eq!(p50.source, CiSource::Rounds(2, 2));
        assert_eq!(p50.verdict(), "Express faster");
        let ops = ratio_ci(&dir, &gp, "get", Metric::OpsPerSec).unwrap();
        assert_eq!(ops.verdict(), "Express higher throughput", "{ops:?}");
        assert_eq!(ratio_ci(&dir, &gp, "put", Metric::P50), None, "no such op");

        let dir1 = target(&[(4.0, 9.0, 100.0)], &[4.0, 4.2, 3.9]);
        let p50 = ratio_ci(&dir1, &gp, "get", Metric::P50).unwrap();
        assert_eq!(p50.source, CiSource::Seconds(3, 3));
        assert!(p50.ci.hi < 1.0);
        assert_eq!(ratio_ci(&dir1, &gp, "get", Metric::P99), None);

        let bare = target(&[(4.0, 9.0, 100.0)], &[]);
        assert_eq!(ratio_ci(&bare, &gp, "get", Metric::P50), None);
    }

    #[test]
    fn verdict_for_slower_express() {
        let r = RatioCi {
            metric: Metric::P99,
            ci: Ci { lo: 1.2, hi: 1.5 },
            source: CiSource::Rounds(3, 3),
        };
        assert_eq!(r.verdict(), "Express slower");
        let r = RatioCi {
            metric: Metric::OpsPerSec,
            ..r
        };
        assert_eq!(r.verdict(), "Express higher throughput");
        let r = RatioCi {
            ci: Ci { lo: 0.9, hi: 1.1 },
            ..r
        };
        assert_eq!(r.verdict(), "within noise");
    }
}
