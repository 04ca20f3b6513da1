//! Calibration of the verdict method by simulation (issue 29): thousands of
//! seeded simulated runs of a closed-loop mix, shaped like a real run of
//! `scenarios/mixed.toml` at the default settings (2 rounds, `--duration
//! 3s`), judged by the method the report uses ([`ratio_ci`]) and, for the
//! before/after numbers, by the method it replaced ([`legacy`]).
//!
//! A simulated round: 16 workers in a closed loop, each request one op of
//! the mix (GET 50, PUT 20, HEAD 15, DELETE 10, LIST 5), its latency
//! log-normal (p50 20 ms, p99 60 ms) times the round's weather: a per-round
//! offset (3% sd: the network on another minute) and an AR(1) process per
//! 100 ms (10% sd, 0.9 per step: autocorrelated seconds). Workers stop
//! sending at the duration and the round ends when the last request
//! returns, so the last second is partial, as in a real run. Each round's
//! p50, p99 and ops/s per op and its per-second p50s go into the same
//! model types `result.json` holds.

use std::collections::BTreeMap;

use crate::report::model::{RoundOp, RoundResult, SecondRow, TargetPhaseResult};
use crate::report::ratio::{Metric, ratio_ci};

/// The op mix of scenarios/mixed.toml.
const MIX: [(&str, u32); 5] = [
    ("get", 50),
    ("put", 20),
    ("head", 15),
    ("delete", 10),
    ("list", 5),
];

/// A target's latency model: log-normal with this p50 and p99 (us).
#[derive(Debug, Clone, Copy)]
pub struct Model {
    pub p50_us: f64,
    pub p99_us: f64,
}

/// The settings of one simulated phase.
#[derive(Debug, Clone, Copy)]
pub struct Sim {
    pub rounds: u32,
    pub duration_s: f64,
    pub concurrency: u32,
    /// sd of the log offset of a whole round.
    pub round_sd: f64,
    /// Stationary sd and per-step correlation of the AR(1) log weather.
    pub ar_sd: f64,
    pub ar_phi: f64,
    pub tick_s: f64,
}

/// Default settings: `rounds = 2`, `--duration 3s`, mixed's 16 workers.
pub const DEFAULT: Sim = Sim {
    rounds: 2,
    duration_s: 3.0,
    concurrency: 16,
    round_sd: 0.03,
    ar_sd: 0.10,
    ar_phi: 0.9,
    tick_s: 0.1,
};

fn normal(rng: &mut fastrand::Rng) -> f64 {
    // Box-Muller; 1 - f64() is in (0, 1].
    let (u, v) = (1.0 - rng.f64(), rng.f64());
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

fn pick_op(rng: &mut fastrand::Rng) -> usize {
    let total: u32 = MIX.iter().map(|m| m.1).sum();
    let mut x = rng.u32(..total);
    for (i, (_, w)) in MIX.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    MIX.len() - 1
}

/// Nearest-rank quantile of sorted data.
fn q(sorted: &[f64], p: f64) -> f64 {
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// One round: (per-op round numbers, per-second rows).
fn round(rng: &mut fastrand::Rng, m: Model, s: &Sim, n: u32) -> (RoundResult, Vec<SecondRow>) {
    let mu = m.p50_us.ln();
    let sigma = (m.p99_us / m.p50_us).ln() / 2.326_347_874;
    let offset = s.round_sd * normal(rng);
    let ticks = ((s.duration_s + 5.0) / s.tick_s) as usize + 1;
    let mut x = Vec::with_capacity(ticks);
    let mut cur = s.ar_sd * normal(rng);
    let innov = s.ar_sd * (1.0 - s.ar_phi * s.ar_phi).sqrt();
    for _ in 0..ticks {
        x.push(cur);
        cur = s.ar_phi * cur + innov * normal(rng);
    }
    // (completion s, latency us) per op.
    let mut done: Vec<Vec<(f64, f64)>> = vec![Vec::new(); MIX.len()];
    let mut end = s.duration_s;
    for _ in 0..s.concurrency {
        let mut t = 0.0;
        while t < s.duration_s {
            let k = ((t / s.tick_s) as usize).min(ticks - 1);
            let lat_us = (mu + sigma * normal(rng) + offset + x[k]).exp();
            t += lat_us / 1e6;
            done[pick_op(rng)].push((t, lat_us));
        }
        end = end.max(t);
    }
    let mut ops = BTreeMap::new();
    let mut seconds = Vec::new();
    for (i, samples) in done.iter().enumerate() {
        if samples.is_empty() {
            continue;
        }
        let mut lat: Vec<f64> = samples.iter().map(|s| s.1).collect();
        lat.sort_by(f64::total_cmp);
        ops.insert(
            MIX[i].0.to_string(),
            RoundOp {
                count: lat.len() as u64,
                errors: 0,
                ops_per_sec: lat.len() as f64 / end,
                p50: q(&lat, 0.5),
                p99: q(&lat, 0.99),
            },
        );
        let mut by_second: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
        for &(t, l) in samples {
            by_second.entry(t as u32).or_default().push(l);
        }
        for (second, mut v) in by_second {
            v.sort_by(f64::total_cmp);
            seconds.push(SecondRow {
                round: n,
                second,
                op: MIX[i].0.to_string(),
                count: v.len() as u64,
                errors: 0,
                throttled: 0,
                bytes: 0,
                p50: q(&v, 0.5),
                p99: q(&v, 0.99),
                in_flight: s.concurrency as u64,
                histogram: None,
            });
        }
    }
    let r = RoundResult {
        round: n,
        elapsed_s: end,
        ops,
    };
    (r, seconds)
}

/// One target's phase: `s.rounds` rounds of the mix against model `m`.
pub fn target(rng: &mut fastrand::Rng, m: Model, s: &Sim) -> TargetPhaseResult {
    let mut t = TargetPhaseResult {
        target: "t".into(),
        elapsed_s: 0.0,
        ops: Default::default(),
        warmup: Default::default(),
        sessions: Default::default(),
        attempts: Default::default(),
        loader: None,
        lateness: None,
        rounds: Vec::new(),
        timeseries: Vec::new(),
        checkpoint: None,
        audits: Vec::new(),
        throttled_by_prefix: None,
    };
    for n in 1..=s.rounds {
        let (r, secs) = round(rng, m, s, n);
        t.elapsed_s += r.elapsed_s;
        t.rounds.push(r);
        t.timeseries.extend(secs);
    }
    t
}

/// The method the report used before issue 29, kept to measure it: a
/// percentile bootstrap of mean(num) / mean(den) over rounds (2000
/// resamples, fixed seed), or with one round, over per-second p50s; a
/// difference whenever the interval excludes 1.
pub mod legacy {
    use super::*;

    const RESAMPLES: usize = 2000;
    const SEED: u64 = 0x0053_3342_656e_6368;

    fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
        let pos = q * (sorted.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
    }

    fn bootstrap(num: &[f64], den: &[f64]) -> Option<(f64, f64)> {
        if num.len() < 2 || den.len() < 2 {
            return None;
        }
        let mut rng = fastrand::Rng::with_seed(SEED);
        let mut draw = |v: &[f64]| {
            let mut sum = 0.0;
            for _ in 0..v.len() {
                sum += v[rng.usize(..v.len())];
            }
            sum / v.len() as f64
        };
        let mut ratios: Vec<f64> = (0..RESAMPLES).map(|_| draw(num) / draw(den)).collect();
        ratios.sort_by(f64::total_cmp);
        Some((
            quantile_sorted(&ratios, 0.025),
            quantile_sorted(&ratios, 0.975),
        ))
    }

    /// Whether the old method claimed a difference (None: no interval).
    pub fn differs(
        d: &TargetPhaseResult,
        g: &TargetPhaseResult,
        op: &str,
        m: Metric,
    ) -> Option<bool> {
        let rounds = |t: &TargetPhaseResult| -> Vec<f64> {
            t.rounds
                .iter()
                .filter_map(|r| r.ops.get(op))
                .map(|o| match m {
                    Metric::P50 => o.p50,
                    Metric::P99 => o.p99,
                    Metric::OpsPerSec => o.ops_per_sec,
                })
                .collect()
        };
        let seconds = |t: &TargetPhaseResult| -> Vec<f64> {
            t.timeseries
                .iter()
                .filter(|s| s.op == op && s.count > 0)
                .map(|s| s.p50)
                .collect()
        };
        let (a, b) = (rounds(d), rounds(g));
        let (lo, hi) = if a.len() >= 2 && b.len() >= 2 {
            bootstrap(&a, &b)?
        } else if m == Metric::P50 {
            bootstrap(&seconds(d), &seconds(g))?
        } else {
            return None;
        };
        Some(!(lo <= 1.0 && 1.0 <= hi))
    }
}

/// False-verdict counts over simulated A/A runs, per metric.
#[derive(Debug, Default)]
pub struct Tally {
    pub comparisons: [u64; 3],
    pub new_false: [u64; 3],
    pub old_false: [u64; 3],
    pub old_comparisons: [u64; 3],
    /// Runs with at least one false verdict (new method).
    pub runs_with_false: u64,
    /// Runs by how many false verdicts (new method) they had: index k
    /// counts runs with k of their 15 comparisons claiming a difference.
    pub false_verdicts_per_run: [u64; 16],
}

impl Tally {
    pub fn rate(false_: &[u64; 3], of: &[u64; 3]) -> f64 {
        false_.iter().sum::<u64>() as f64 / of.iter().sum::<u64>().max(1) as f64
    }
}

/// `runs` A/A runs: both targets the same model, independent weather.
pub fn aa(runs: u32, s: &Sim, seed: u64) -> Tally {
    let m = Model {
        p50_us: 20_000.0,
        p99_us: 60_000.0,
    };
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut tally = Tally::default();
    for _ in 0..runs {
        let (d, g) = (target(&mut rng, m, s), target(&mut rng, m, s));
        let mut any = false;
        let mut count = 0usize;
        for (op, _) in MIX {
            for (i, metric) in Metric::ALL.into_iter().enumerate() {
                if let Some(c) = ratio_ci(&d, &g, op, metric) {
                    tally.comparisons[i] += 1;
                    if c.differs() {
                        tally.new_false[i] += 1;
                        any = true;
                        count += 1;
                    }
                }
                if let Some(old) = legacy::differs(&d, &g, op, metric) {
                    tally.old_comparisons[i] += 1;
                    tally.old_false[i] += u64::from(old);
                }
            }
        }
        tally.runs_with_false += u64::from(any);
        tally.false_verdicts_per_run[count.min(15)] += 1;
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs of the A/A simulation. Comparisons inside a run are correlated
    /// (a round's weather moves every op's p50, p99 and ops/s together),
    /// so the bound counts runs, not comparisons, as its sample size: the
    /// standard error of a 5% rate over 4000 runs is 0.34 points, and the
    /// test allows 3 of them (5% + 1.03 = 6.03%), which a method calibrated
    /// at 5% exceeds with probability about 0.1%.
    const RUNS: u32 = 4000;

    fn bound(runs: u32) -> f64 {
        0.05 + 3.0 * (0.05 * 0.95 / runs as f64).sqrt()
    }

    fn print(name: &str, t: &Tally) {
        for (i, m) in Metric::ALL.iter().enumerate() {
            eprintln!(
                "{name} {:>12}: new {}/{} ({:.2}%), old {}/{} ({:.2}%)",
                m.label(),
                t.new_false[i],
                t.comparisons[i],
                100.0 * t.new_false[i] as f64 / t.comparisons[i].max(1) as f64,
                t.old_false[i],
                t.old_comparisons[i],
                100.0 * t.old_false[i] as f64 / t.old_comparisons[i].max(1) as f64,
            );
        }
        eprintln!(
            "{name} all: new {:.2}%, old {:.2}%; runs with a false verdict (new): {}/{}",
            100.0 * Tally::rate(&t.new_false, &t.comparisons),
            100.0 * Tally::rate(&t.old_false, &t.old_comparisons),
            t.runs_with_false,
            RUNS
        );
        eprintln!(
            "{name} runs by false verdicts: {:?}",
            t.false_verdicts_per_run
        );
    }

    #[test]
    fn simulated_rounds_look_like_a_real_run() {
        let mut rng = fastrand::Rng::with_seed(1);
        let m = Model {
            p50_us: 20_000.0,
            p99_us: 60_000.0,
        };
        let t = target(&mut rng, m, &DEFAULT);
        assert_eq!(t.rounds.len(), 2);
        let get = &t.rounds[0].ops["get"];
        // 16 workers x 3 s / ~24 ms mean x 50% GET: about 1000 GETs.
        assert!((700..1400).contains(&get.count), "{get:?}");
        assert!((15_000.0..27_000.0).contains(&get.p50), "{get:?}");
        // The last second is partial: a round lasts a little over 3 s.
        let e = t.rounds[0].elapsed_s;
        assert!(e > 3.0 && e < 3.5, "{e}");
        let last = t
            .timeseries
            .iter()
            .filter(|s| s.round == 1 && s.op == "get")
            .map(|s| s.second)
            .max();
        assert_eq!(last, Some(3), "a partial 4th second");
    }

    /// Issue 29's A/A test: identical latency on both targets at the
    /// default settings; false verdicts at most the nominal 5% per
    /// comparison (bound: see [`RUNS`]), and the method before it did worse.
    #[test]
    fn aa_false_verdicts_within_nominal_rate() {
        let t = aa(RUNS, &DEFAULT, 29);
        print("A/A rounds=2 3s", &t);
        let b = bound(RUNS);
        for (i, m) in Metric::ALL.iter().enumerate() {
            let rate = t.new_false[i] as f64 / t.comparisons[i] as f64;
            assert!(rate <= b, "{}: {rate} > {b}", m.label());
        }
        let new = Tally::rate(&t.new_false, &t.comparisons);
        let old = Tally::rate(&t.old_false, &t.old_comparisons);
        assert!(new <= b, "{new} > {b}");
        assert!(old > b, "the old method was miscalibrated: {old}");
        // tests/e2e/verdicts.rs claims at most 7 of 15 in one run.
        let over: u64 = t.false_verdicts_per_run[8..].iter().sum();
        assert_eq!(over, 0, "{:?}", t.false_verdicts_per_run);
    }

    /// With one round a side the old method bootstrapped per-second p50s;
    /// the method now says it cannot judge.
    #[test]
    fn aa_single_round_never_claims_a_difference() {
        let s = Sim {
            rounds: 1,
            ..DEFAULT
        };
        let t = aa(1000, &s, 30);
        print("A/A rounds=1 3s", &t);
        assert_eq!(t.new_false, [0, 0, 0]);
        let old = Tally::rate(&t.old_false, &t.old_comparisons);
        assert!(old > bound(1000), "{old}");
    }

    /// The A/B test: General Purpose p50 20 ms / p99 60 ms vs Express 4 ms
    /// / 10 ms, 3 s, 2 rounds, 500 runs x 5 ops. No comparison may point the
    /// wrong way. With two rounds a side Welch's interval has between 1 and
    /// 2 degrees of freedom (t 12.7 to 4.3), so a run whose Express rounds
    /// happen to disagree by 20% under this simulation's network weather
    /// while its General Purpose rounds agree may honestly not judge even a
    /// 5x difference (it then names the rounds that would). Seen: p50
    /// 98.1%, ops/s 96.8%, p99 91.3%; the bounds leave a point or two.
    #[test]
    fn ab_express_faster_is_found() {
        let gp = Model {
            p50_us: 20_000.0,
            p99_us: 60_000.0,
        };
        let ex = Model {
            p50_us: 4_000.0,
            p99_us: 10_000.0,
        };
        let mut rng = fastrand::Rng::with_seed(31);
        let (mut found, mut all) = ([0u32; 3], 0u32);
        for run in 0..500 {
            let (d, g) = (
                target(&mut rng, ex, &DEFAULT),
                target(&mut rng, gp, &DEFAULT),
            );
            for (op, _) in MIX {
                all += 1;
                for (i, m) in Metric::ALL.into_iter().enumerate() {
                    let c = ratio_ci(&d, &g, op, m).unwrap();
                    let v = c.verdict();
                    let want = if m == Metric::OpsPerSec {
                        "Express higher throughput"
                    } else {
                        "Express faster"
                    };
                    assert!(
                        v == want || !c.differs(),
                        "wrong way: run {run} {op}: {c:?}"
                    );
                    found[i] += u32::from(v == want);
                }
            }
        }
        eprintln!("A/B found (p50, p99, ops/s): {found:?} of {all}");
        assert!(found[0] * 100 >= all * 97, "p50 {found:?} of {all}");
        assert!(found[2] * 100 >= all * 95, "ops/s {found:?} of {all}");
        assert!(found[1] * 100 >= all * 85, "p99 {found:?} of {all}");
    }
}
