//! The Express / General Purpose ratio of a report and how sure we are of
//! it: which targets are compared, and confidence intervals over rounds
//! (the method is [`crate::report::verdict`]).

use crate::report::model::{KIND_DIRECTORY, KIND_GENERAL_PURPOSE, TargetInfo, TargetPhaseResult};
use crate::report::verdict::{Judgement, RoundValue, Statistic, judge};

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

    /// "0.93 - 0.99": two decimals, or as many more (up to five) as it
    /// takes for the printed bounds to differ and for a bound that is not 1
    /// not to print as 1.00, so the printed interval agrees with its verdict.
    /// A bound under 0.1 or from 10 up keeps significant digits instead of
    /// decimals ("0.061 - 12.7", not "0.06 - 12.68").
    pub fn text(&self) -> String {
        let mut decimals = 2;
        loop {
            let bound = |v: f64| {
                let a = v.abs();
                if a >= 10.0 {
                    crate::report::format::sig(v, decimals as u32 + 1)
                } else if a > 0.0 && a < 0.1 {
                    crate::report::format::sig(v, decimals as u32)
                } else {
                    format!("{:.*}", decimals, v)
                }
            };
            let (lo, hi) = (bound(self.lo), bound(self.hi));
            let one = format!("{:.*}", decimals, 1.0);
            let clear = lo != hi && (lo != one || self.lo == 1.0) && (hi != one || self.hi == 1.0);
            if clear || decimals >= 5 {
                return format!("{lo} - {hi}");
            }
            decimals += 1;
        }
    }
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
    pub fn lower_is_better(self) -> bool {
        !matches!(self, Metric::OpsPerSec)
    }
}

/// What an interval was computed from: the rounds of each side (Express,
/// General Purpose) that measured the op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiSource {
    Rounds(usize, usize),
}

impl CiSource {
    pub fn describe(self) -> String {
        match self {
            CiSource::Rounds(a, b) => format!("{a} vs {b} rounds"),
        }
    }
}

/// The Express / General Purpose ratio of one metric, its 95% interval
/// (None with fewer than two rounds a side) and what it lets us say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatioCi {
    pub metric: Metric,
    pub ci: Option<Ci>,
    pub source: CiSource,
    pub judgement: Judgement,
}

impl RatioCi {
    /// Plain words for the comparison, Express named first.
    pub fn verdict(&self) -> String {
        let lower_better = self.metric.lower_is_better();
        match self.judgement {
            Judgement::Lower if lower_better => "Express faster".into(),
            Judgement::Higher if lower_better => "Express slower".into(),
            Judgement::Lower => "Express lower throughput".into(),
            Judgement::Higher => "Express higher throughput".into(),
            Judgement::NoDifference => "no measurable difference".into(),
            Judgement::TooFewRounds { rounds } => {
                format!("too few rounds to judge: use rounds = {rounds}")
            }
        }
    }

    /// True when the interval excludes 1.
    pub fn differs(&self) -> bool {
        matches!(self.judgement, Judgement::Lower | Judgement::Higher)
    }
}

/// Each round's value of `metric` for `op` with its sampling variance;
/// rounds in which the op never succeeded are left out.
pub fn round_values(t: &TargetPhaseResult, op: &str, metric: Metric) -> Vec<RoundValue> {
    t.rounds
        .iter()
        .filter_map(|r| r.ops.get(op))
        .filter(|o| o.count > o.errors)
        .map(|o| {
            let n = o.count - o.errors;
            let (value, stat) = match metric {
                Metric::P50 => (o.p50, Statistic::Median),
                Metric::P99 => (o.p99, Statistic::P99),
                Metric::OpsPerSec => (o.ops_per_sec, Statistic::Rate),
            };
            RoundValue {
                value,
                sampling_var: stat.sampling_var(n, o.p50, o.p99),
            }
        })
        .collect()
}

/// The 95% interval of `dir / gp` for one metric of one op over rounds
/// (Welch's t on log values, [`crate::report::verdict`]) and its verdict;
/// None when either side never ran the op successfully.
pub fn ratio_ci(
    dir: &TargetPhaseResult,
    gp: &TargetPhaseResult,
    op: &str,
    metric: Metric,
) -> Option<RatioCi> {
    let (d, g) = (round_values(dir, op, metric), round_values(gp, op, metric));
    if d.is_empty() || g.is_empty() {
        return None;
    }
    let (ci, judgement) = judge(&d, &g);
    Some(RatioCi {
        metric,
        ci: ci.map(|i| Ci { lo: i.lo, hi: i.hi }),
        source: CiSource::Rounds(d.len(), g.len()),
        judgement,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{RoundOp, RoundResult};

    #[test]
    fn printed_intervals_agree_with_their_verdict() {
        let ci = |lo, hi| Ci { lo, hi }.text();
        assert_eq!(ci(0.9312, 0.9876), "0.93 - 0.99");
        // Excludes 1 by a hair: never printed with a 1.00 edge.
        assert_eq!(ci(0.9312, 0.9987), "0.931 - 0.999");
        assert_eq!(ci(1.0004, 1.0912), "1.0004 - 1.0912");
        // Never a point.
        assert_eq!(ci(1.2801, 1.2804), "1.2801 - 1.2804");
        assert_eq!(ci(0.95, 1.05), "0.95 - 1.05");
        // Far from 1: significant digits, not decimals ("0.06 - 12.68").
        assert_eq!(ci(0.0612, 12.68), "0.061 - 12.7");
        assert_eq!(ci(0.0612, 0.0614), "0.0612 - 0.0614");
        assert_eq!(ci(12.31, 12.34), "12.31 - 12.34");
    }

    #[test]
    fn ratio_rejects_meaningless_quotients() {
        assert_eq!(ratio(1.0, 2.0), Some(0.5));
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(f64::NAN, 1.0), None);
        assert_eq!(ratio(1.0, f64::INFINITY), None);
    }

    pub(crate) fn target(rounds: &[(f64, f64, f64)]) -> TargetPhaseResult {
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
                            count: 1000,
                            errors: 0,
                            ops_per_sec: ops,
                            p50,
                            p99,
                        },
                    )]
                    .into(),
                })
                .collect(),
            timeseries: Vec::new(),
        }
    }

    #[test]
    fn ratio_ci_judges_over_rounds() {
        let dir = target(&[(4.0, 9.0, 100.0), (4.1, 9.5, 101.0)]);
        let gp = target(&[(10.0, 30.0, 50.0), (10.4, 31.0, 49.0)]);
        let p50 = ratio_ci(&dir, &gp, "get", Metric::P50).unwrap();
        assert_eq!(p50.source, CiSource::Rounds(2, 2));
        assert_eq!(p50.verdict(), "Express faster");
        assert!(p50.differs());
        let ops = ratio_ci(&dir, &gp, "get", Metric::OpsPerSec).unwrap();
        assert_eq!(ops.verdict(), "Express higher throughput", "{ops:?}");
        let p99 = ratio_ci(&gp, &dir, "get", Metric::P99).unwrap();
        assert_eq!(p99.verdict(), "Express slower", "{p99:?}");
        assert_eq!(ratio_ci(&dir, &gp, "put", Metric::P50), None, "no such op");
    }

    /// One round a side cannot be judged, whatever the per-second data:
    /// seconds inside a round are not independent looks.
    #[test]
    fn one_round_says_too_few_rounds() {
        let dir = target(&[(4.0, 9.0, 100.0)]);
        let gp = target(&[(10.0, 30.0, 50.0), (10.4, 31.0, 49.0)]);
        for m in Metric::ALL {
            let c = ratio_ci(&dir, &gp, "get", m).unwrap();
            assert_eq!(c.ci, None);
            assert!(!c.differs());
            assert!(
                c.verdict()
                    .starts_with("too few rounds to judge: use rounds = "),
                "{}",
                c.verdict()
            );
        }
    }

    #[test]
    fn agreeing_targets_show_no_difference() {
        let a = target(&[(20.0, 60.0, 800.0), (20.1, 61.0, 795.0)]);
        let b = target(&[(20.05, 60.5, 798.0), (19.95, 59.0, 801.0)]);
        let c = ratio_ci(&a, &b, "get", Metric::P50).unwrap();
        assert_eq!(c.verdict(), "no measurable difference", "{c:?}");
        let ci = c.ci.unwrap();
        assert!(ci.lo < ci.hi && ci.contains(1.0));
    }
}
