//! The verdict method: a 95% confidence interval for the ratio of one metric
//! between two targets, and what it lets a report say.
//!
//! The unit of replication is the round. Targets run in alternating rounds,
//! so each round's p50, p99 and ops/s is one independent look at a target;
//! the seconds inside a round are not (they share the round's network
//! weather and are autocorrelated), so they never stand in for rounds.
//!
//! On the log scale the ratio is a difference of means, and Welch's t
//! interval (Satterthwaite degrees of freedom) is the interval for a
//! difference of means with few, possibly unequally spread, samples. With
//! two rounds per target it has about two degrees of freedom (t = 4.3), so
//! it is wide: honest, and still narrow enough to see a 5x difference.
//!
//! Each target's variance is at least the histogram's 0.1% resolution, so
//! two rounds that agree to the last digit never give an interval of zero
//! width. With a single round there is no interval; the sampling variance
//! inside the round (a quantile's standard error from the round's count
//! and spread, a count's Poisson error) then only sizes the suggestion of
//! how many rounds would do.
//!
//! Calibration (src/report/calibration.rs, docs/measurement.md): over
//! thousands of simulated A/A runs at the default settings the share of
//! false verdicts stays at or below the nominal 5% per comparison.

use std::f64::consts::PI;

/// Two-sided confidence level of every interval.
pub const LEVEL: f64 = 0.95;
/// An interval inside [1/(1+x), 1+x] with x = this says "no measurable
/// difference"; a wider one that contains 1 says "too few rounds to judge".
pub const RESOLVE: f64 = 0.10;
/// The most rounds a suggestion names.
pub const MAX_SUGGESTED_ROUNDS: u32 = 20;
/// Relative resolution of the stored percentiles (HdrHistogram, 3
/// significant digits): a floor under every per-round standard error.
const RESOLUTION: f64 = 1e-3;

/// One round's value of a metric and the variance of its log that sampling
/// inside the round alone implies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundValue {
    pub value: f64,
    pub sampling_var: f64,
}

/// Which statistic a round value is, for its sampling variance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    Median,
    P99,
    Rate,
}

/// z of the 99th percentile of a standard normal.
const Z99: f64 = 2.326_347_874;

impl Statistic {
    /// Variance of the log of this statistic over one round of `count`
    /// operations whose p50 and p99 are given (log-normal model: sigma from
    /// ln(p99 / p50) / z99; a quantile q's standard error is
    /// sqrt(q(1-q)) / (f(x_q) sqrt(n)); a count's is Poisson).
    pub fn sampling_var(self, count: u64, p50: f64, p99: f64) -> f64 {
        let n = count.max(1) as f64;
        let sigma = if p50 > 0.0 && p99 > p50 {
            (p99 / p50).ln() / Z99
        } else {
            0.0
        };
        let v = match self {
            Statistic::Median => PI / 2.0 * sigma * sigma / n,
            Statistic::P99 => {
                let phi = (-Z99 * Z99 / 2.0).exp() / (2.0 * PI).sqrt();
                0.99 * 0.01 / (phi * phi) * sigma * sigma / n
            }
            Statistic::Rate => 1.0 / n,
        };
        v + RESOLUTION * RESOLUTION
    }
}

/// A confidence interval of a ratio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
    /// Welch-Satterthwaite degrees of freedom.
    pub df: f64,
}

impl Interval {
    pub fn contains(&self, v: f64) -> bool {
        self.lo <= v && v <= self.hi
    }
}

/// What one comparison lets the report say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Judgement {
    /// The interval excludes 1: the first target's value is lower (`true`)
    /// or higher than the second's.
    Lower,
    Higher,
    /// The interval contains 1 and lies within +-[`RESOLVE`]: no difference
    /// this size or larger.
    NoDifference,
    /// The interval contains 1 but is too wide to rule out a difference:
    /// `rounds` rounds per target would likely resolve +-[`RESOLVE`].
    TooFewRounds {
        rounds: u32,
    },
}

/// Per-target spread of log values: the sample variance of the rounds
/// (what Welch's t is exact for), at least the histogram's resolution so
/// rounds that agree to the last digit still leave an interval; with one
/// round, the sampling variance inside it (used only to suggest rounds).
///
/// Not floored at the within-round sampling variance: that is a lower
/// bound of the true variance, but taking the larger of it and a
/// one-degree-of-freedom estimate biases the spread up and made the A/A
/// false-verdict rate 0.6% instead of 5% (the calibration test), i.e.
/// intervals wider than the data justify.
fn log_var(v: &[RoundValue]) -> f64 {
    let n = v.len() as f64;
    if v.len() < 2 {
        return v.iter().map(|r| r.sampling_var).sum::<f64>() / n;
    }
    let mean = v.iter().map(|r| r.value.ln()).sum::<f64>() / n;
    let s2 = v.iter().map(|r| (r.value.ln() - mean).powi(2)).sum::<f64>() / (n - 1.0);
    s2.max(RESOLUTION * RESOLUTION)
}

fn usable(v: &[RoundValue]) -> Vec<RoundValue> {
    v.iter()
        .copied()
        .filter(|r| r.value.is_finite() && r.value > 0.0)
        .collect()
}

/// Welch: (standard error of the difference of means, degrees of freedom).
fn welch(var_a: f64, n_a: f64, var_b: f64, n_b: f64) -> (f64, f64) {
    let (a, b) = (var_a / n_a, var_b / n_b);
    let se2 = a + b;
    let df = se2 * se2 / (a * a / (n_a - 1.0) + b * b / (n_b - 1.0));
    (se2.sqrt(), df)
}

/// The 95% interval of geomean(a) / geomean(b) over rounds; None unless each
/// side has at least two positive finite rounds.
pub fn interval(a: &[RoundValue], b: &[RoundValue]) -> Option<Interval> {
    let (a, b) = (usable(a), usable(b));
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let mean = |v: &[RoundValue]| v.iter().map(|r| r.value.ln()).sum::<f64>() / v.len() as f64;
    let d = mean(&a) - mean(&b);
    let (se, df) = welch(log_var(&a), a.len() as f64, log_var(&b), b.len() as f64);
    let t = t_quantile(0.5 + LEVEL / 2.0, df);
    Some(Interval {
        lo: (d - t * se).exp(),
        hi: (d + t * se).exp(),
        df,
    })
}

/// The verdict of a comparison from the rounds of both sides.
pub fn judge(a: &[RoundValue], b: &[RoundValue]) -> (Option<Interval>, Judgement) {
    let Some(ci) = interval(a, b) else {
        return (
            None,
            Judgement::TooFewRounds {
                rounds: suggest(a, b),
            },
        );
    };
    let j = if ci.hi < 1.0 {
        Judgement::Lower
    } else if ci.lo > 1.0 {
        Judgement::Higher
    } else if ci.lo >= 1.0 / (1.0 + RESOLVE) && ci.hi <= 1.0 + RESOLVE {
        Judgement::NoDifference
    } else {
        Judgement::TooFewRounds {
            rounds: suggest(a, b),
        }
    };
    (Some(ci), j)
}

/// Rounds per target at which the interval would likely lie within
/// +-[`RESOLVE`], from the spread seen so far (or, with a single round,
/// from the sampling floor); at least one more than now.
pub fn suggest(a: &[RoundValue], b: &[RoundValue]) -> u32 {
    let (a, b) = (usable(a), usable(b));
    if a.is_empty() || b.is_empty() {
        return 2;
    }
    let now = a.len().min(b.len()) as u32;
    let (va, vb) = (log_var(&a), log_var(&b));
    let target = (1.0 + RESOLVE).ln();
    for n in (now + 1).max(2)..=MAX_SUGGESTED_ROUNDS {
        let (se, df) = welch(va, n as f64, vb, n as f64);
        if t_quantile(0.5 + LEVEL / 2.0, df) * se <= target {
            return n;
        }
    }
    MAX_SUGGESTED_ROUNDS
}

// ---- Student's t -------------------------------------------------------

/// ln Gamma(x) for x > 0 (Lanczos, g = 7, 9 terms; ~1e-15 relative).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (PI / (PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Continued fraction of the regularized incomplete beta (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// Regularized incomplete beta I_x(a, b).
fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, 1.0 - x) / b
    }
}

/// P(T <= t) for Student's t with `df` degrees of freedom (df > 0, real).
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * inc_beta(df / 2.0, 0.5, df / (df + t * t));
    if t >= 0.0 { 1.0 - tail } else { tail }
}

/// The `p` quantile (0.5 < p < 1) of Student's t with `df` degrees of
/// freedom, by bisection of [`t_cdf`]; df below 1 is taken as 1 (the most
/// cautious Welch can honestly claim with two rounds a side).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    let df = if df.is_finite() { df.max(1.0) } else { 1e6 };
    let (mut lo, mut hi) = (0.0_f64, 1e4_f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-12 * hi.max(1.0) {
            break;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rv(values: &[f64]) -> Vec<RoundValue> {
        values
            .iter()
            .map(|&value| RoundValue {
                value,
                sampling_var: 1e-6,
            })
            .collect()
    }

    /// Textbook values of t_{0.975}.
    #[test]
    fn t_quantiles_match_tables() {
        for (df, t) in [
            (1.0, 12.706),
            (2.0, 4.303),
            (3.0, 3.182),
            (5.0, 2.571),
            (10.0, 2.228),
            (30.0, 2.042),
            (1e6, 1.960),
        ] {
            let q = t_quantile(0.975, df);
            assert!((q - t).abs() < 1e-3, "df {df}: {q} vs {t}");
        }
        assert!((t_cdf(0.0, 3.0) - 0.5).abs() < 1e-12);
        assert!((t_cdf(-2.0, 4.0) + t_cdf(2.0, 4.0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn welch_interval_is_the_textbook_one() {
        // ln values: a = [0, 0.1], b = [0.5, 0.7]; var a = 0.005, var b = 0.02,
        // se = sqrt(0.0025 + 0.01), df = 0.0125^2 / (0.0025^2 + 0.01^2).
        let a = rv(&[1.0, 0.1f64.exp()]);
        let b = rv(&[0.5f64.exp(), 0.7f64.exp()]);
        let ci = interval(&a, &b).unwrap();
        let se = 0.0125f64.sqrt();
        let df = 0.0125f64.powi(2) / (0.0025f64.powi(2) + 0.01f64.powi(2));
        assert!((ci.df - df).abs() < 1e-9, "{ci:?}");
        let t = t_quantile(0.975, df);
        assert!((ci.lo.ln() - (-0.55 - t * se)).abs() < 1e-9);
        assert!((ci.hi.ln() - (-0.55 + t * se)).abs() < 1e-9);
    }

    /// Two rounds that agree exactly still give an interval of width: the
    /// sampling floor.
    #[test]
    fn interval_never_collapses_to_a_point() {
        let same = [RoundValue {
            value: 20_000.0,
            sampling_var: Statistic::Median.sampling_var(1000, 20_000.0, 60_000.0),
        }; 2];
        let (ci, j) = judge(&same, &same);
        let ci = ci.unwrap();
        assert!(ci.lo < 0.999 && ci.hi > 1.001, "{ci:?}");
        assert_eq!(j, Judgement::NoDifference);
        // Deterministic latency (p99 == p50): the resolution floor alone.
        let flat = [RoundValue {
            value: 20_000.0,
            sampling_var: Statistic::Median.sampling_var(1000, 20_000.0, 20_000.0),
        }; 2];
        let ci = interval(&flat, &flat).unwrap();
        assert!(ci.lo < 0.999 && ci.hi > 1.001, "{ci:?}");
    }

    #[test]
    fn judgements() {
        let (_, j) = judge(&rv(&[4.0, 4.1]), &rv(&[20.0, 20.5]));
        assert_eq!(j, Judgement::Lower);
        let (_, j) = judge(&rv(&[20.0, 20.5]), &rv(&[4.0, 4.1]));
        assert_eq!(j, Judgement::Higher);
        // Rounds that disagree by 30%: cannot judge; more rounds named.
        let (ci, j) = judge(&rv(&[10.0, 13.0]), &rv(&[11.0, 12.0]));
        assert!(ci.unwrap().contains(1.0));
        match j {
            Judgement::TooFewRounds { rounds } => assert!((3..=20).contains(&rounds), "{rounds}"),
            other => panic!("{other:?}"),
        }
        // One round a side: no interval, a suggestion.
        let (ci, j) = judge(&rv(&[4.0]), &rv(&[20.0, 20.5]));
        assert_eq!(ci, None);
        assert!(matches!(j, Judgement::TooFewRounds { rounds } if rounds >= 2));
        // Non-positive values are not rounds.
        assert_eq!(interval(&rv(&[0.0, 4.0]), &rv(&[1.0, 2.0])), None);
    }

    #[test]
    fn sampling_variance_shrinks_with_count() {
        let m = |n| Statistic::Median.sampling_var(n, 20.0, 60.0);
        assert!(m(100) > m(10_000));
        assert!(Statistic::P99.sampling_var(100, 20.0, 60.0) > m(100));
        assert!((Statistic::Rate.sampling_var(100, 0.0, 0.0) - (0.01 + 1e-6)).abs() < 1e-12);
    }
}
