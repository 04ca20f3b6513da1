//! What idle accelerators cost, next to what the bucket costs: per loader
//! phase and bucket kind, the idle accelerator-hours of a day of training
//! at the measured AU (and their price at `--gpu-hour`), beside a month of
//! storing the data set and reading it at the rate the accelerators read
//! it, from the S3 price list (`report::cost`). The headline puts the two
//! side by side: "Express: $X more per month for storage and requests, Y
//! fewer idle GPU-hours per day ($Z a day at $P per GPU-hour)".

use crate::report::cost::{PriceBook, Usage, fmt_usd, run_costs};
use crate::report::format::{fmt_amount, fmt_share};
use crate::report::model::{DataloaderMeasured, DataloaderResult, PhaseResult, RunResult};
use crate::report::table::Table;

/// Hours in a day of training.
pub const HOURS_PER_DAY: f64 = 24.0;
/// Hours in a month, as AWS prices a month of storage (365 x 24 / 12).
pub const HOURS_PER_MONTH: f64 = 730.0;

/// Idle accelerator-hours per day: `accelerators` x 24 h x (1 - AU).
pub fn idle_hours_per_day(accelerators: f64, au: f64) -> f64 {
    accelerators * HOURS_PER_DAY * (1.0 - au.clamp(0.0, 1.0))
}

/// One target's side of the comparison in one loader phase.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuCost {
    pub target: String,
    /// `general-purpose` or `directory`.
    pub kind: String,
    /// The fleet compared (the same on every target of the phase).
    pub accelerators: u64,
    /// AU of that fleet on this target.
    pub au: f64,
    pub idle_hours_per_day: f64,
    /// Idle hours x the GPU-hour price, when one was given.
    pub idle_usd_per_day: Option<f64>,
    /// Keeping the data set (what prepare wrote) for a month.
    pub storage_usd_month: Option<f64>,
    /// A month of the fleet's reads at its measured rate: requests and
    /// per-GB charges.
    pub reads_usd_month: Option<f64>,
}

impl GpuCost {
    /// Storage and reads per month, when both are known.
    pub fn bucket_usd_month(&self) -> Option<f64> {
        Some(self.storage_usd_month? + self.reads_usd_month?)
    }
}

/// The fleet a phase compares its targets at: a fixed count's
/// accelerators; for a search, the most accelerators every target ran a
/// step with (its answer may differ per target, the fleet may not).
/// Returns the count and, per target, that fleet's measured numbers (a
/// search's steps with the count, over every round).
pub fn fleet(p: &PhaseResult) -> Option<(u64, Vec<DataloaderMeasured>)> {
    let ls: Vec<&DataloaderResult> = p.targets.iter().filter_map(|t| t.loader.as_ref()).collect();
    if ls.is_empty() || ls.len() != p.targets.len() {
        return None;
    }
    if ls.iter().all(|l| l.search.is_none()) {
        let n = ls[0].accelerators;
        return Some((n, ls.iter().map(|l| l.measured.clone()).collect()));
    }
    let counts = |l: &DataloaderResult| -> Vec<u64> {
        l.search
            .as_ref()
            .map(|s| s.steps.iter().map(|st| st.accelerators).collect())
            .unwrap_or_else(|| vec![l.accelerators])
    };
    let n = counts(ls[0])
        .into_iter()
        .filter(|n| ls.iter().all(|l| counts(l).contains(n)))
        .max()?;
    let at = |l: &DataloaderResult| -> DataloaderMeasured {
        let Some(s) = &l.search else {
            return l.measured.clone();
        };
        let mut m = DataloaderMeasured::default();
        for st in s.steps.iter().filter(|st| st.accelerators == n) {
            m.accelerator_runs += st.measured.accelerator_runs;
            m.samples += st.measured.samples;
            m.bytes += st.measured.bytes;
            m.compute_s += st.measured.compute_s;
            m.wall_s += st.measured.wall_s;
        }
        m.au = if m.wall_s > 0.0 {
            m.compute_s / m.wall_s
        } else {
            0.0
        };
        m
    };
    Some((n, ls.iter().map(|l| at(l)).collect()))
}

/// The GPU and bucket cost of each target of a loader phase (None for
/// other phases), at `gpu_hour` USD per accelerator-hour if given.
pub fn phase_costs(
    r: &RunResult,
    p: &PhaseResult,
    gpu_hour: Option<f64>,
    book: &PriceBook,
) -> Option<Vec<GpuCost>> {
    let (n, measured) = fleet(p)?;
    let bills = run_costs(r, book);
    let out = p
        .targets
        .iter()
        .zip(measured)
        .map(|(t, m)| {
            let bill = bills.iter().find(|b| b.target == t.target);
            let kind = bill.map(|b| b.kind.clone()).unwrap_or_default();
            let price = bill.and_then(|b| b.price.as_ref());
            // The fleet's reads per second: each accelerator's samples
            // over its own wall time, times the fleet.
            let per_sec = |x: u64| {
                if m.wall_s > 0.0 {
                    x as f64 * n as f64 / m.wall_s
                } else {
                    0.0
                }
            };
            let month = HOURS_PER_MONTH * 3600.0;
            let op = if t.ops.contains_key("ranged_get") {
                "ranged_get"
            } else {
                "get"
            };
            let reads = price.map(|pr| {
                let u = Usage::of(
                    crate::report::cost::billing(op, false),
                    (per_sec(m.samples) * month).round() as u64,
                    (per_sec(m.bytes) * month).round() as u64,
                );
                pr.cost(&u).total()
            });
            let idle = idle_hours_per_day(n as f64, m.au);
            GpuCost {
                target: t.target.clone(),
                kind,
                accelerators: n,
                au: m.au,
                idle_hours_per_day: idle,
                idle_usd_per_day: gpu_hour.map(|g| idle * g),
                storage_usd_month: bill.and_then(|b| b.storage_month),
                reads_usd_month: reads,
            }
        })
        .collect();
    Some(out)
}

use crate::report::format::kind_label;

/// How to get the cost line, for a report without a GPU-hour price.
pub const HOW_TO: &str = "pass `--gpu-hour USD` to `s3bench run` or `s3bench report RESULT.json` (or set `gpu_hour` in the scenario's `[pricing]`) to put a price on the idle accelerator time next to the bucket's bill";

/// "1 accelerator", "8 accelerators".
fn accelerators(n: u64) -> String {
    if n == 1 {
        "1 accelerator".into()
    } else {
        format!("{n} accelerators")
    }
}

/// The phase's GPU cost table (under its loader section).
pub fn section(md: &mut String, r: &RunResult, p: &PhaseResult, book: &PriceBook) {
    let Some(costs) = phase_costs(r, p, r.gpu_hour_usd, book) else {
        return;
    };
    let Some(first) = costs.first() else { return };
    md.push_str(&format!(
        "What idle accelerators cost: {} training around the clock, at the AU each bucket kind kept them at{}; \
         beside it, a month ({} hours) of keeping the data set and reading it at the rate those accelerators read it, at the listed S3 prices.\n\n",
        accelerators(first.accelerators),
        match r.gpu_hour_usd {
            Some(g) => format!(", at {} per GPU-hour", fmt_usd(g)),
            None => String::new(),
        },
        HOURS_PER_MONTH
    ));
    let mut t = Table::numeric([
        "target",
        "accelerators",
        "AU",
        "idle GPU-hours / day",
        "idle GPU cost / day",
        "storage / month",
        "reads / month",
        "storage + reads / month",
    ]);
    let usd = |v: Option<f64>| v.map_or("-".into(), fmt_usd);
    for c in &costs {
        t.push([
            c.target.clone(),
            c.accelerators.to_string(),
            fmt_share(c.au, 3),
            fmt_amount(c.idle_hours_per_day, 0.01),
            usd(c.idle_usd_per_day),
            usd(c.storage_usd_month),
            usd(c.reads_usd_month),
            usd(c.bucket_usd_month()),
        ]);
    }
    md.push_str(&t.render());
    md.push('\n');
    if r.gpu_hour_usd.is_none() {
        md.push_str(&format!("No GPU-hour price was given: {HOW_TO}.\n\n"));
    }
}

/// The headline's cost line per loader phase with an Express and a General
/// Purpose target; without a GPU-hour price, the sentence that says how to
/// get it.
pub fn headline(r: &RunResult, book: &PriceBook) -> Vec<String> {
    let mut out = Vec::new();
    let mut hint = false;
    for p in &r.phases {
        let Some(costs) = phase_costs(r, p, r.gpu_hour_usd, book) else {
            continue;
        };
        let ex = costs.iter().find(|c| c.kind == "directory");
        let gp = costs.iter().find(|c| c.kind == "general-purpose");
        let (Some(ex), Some(gp)) = (ex, gp) else {
            continue;
        };
        let Some(g) = r.gpu_hour_usd else {
            hint = true;
            continue;
        };
        let bucket = match (ex.bucket_usd_month(), gp.bucket_usd_month()) {
            (Some(a), Some(b)) if a >= b => format!("{} more", fmt_usd(a - b)),
            (Some(a), Some(b)) => format!("{} less", fmt_usd(b - a)),
            _ => "no price for one bucket kind".into(),
        };
        let hours = gp.idle_hours_per_day - ex.idle_hours_per_day;
        let (fewer, hours) = if hours >= 0.0 {
            ("fewer", hours)
        } else {
            ("more", -hours)
        };
        out.push(format!(
            "**{} / GPU cost ({})**: {}: {bucket} per month for storage and requests, {} {fewer} idle GPU-hours per day ({} a day at {} per GPU-hour).",
            p.name,
            accelerators(ex.accelerators),
            kind_label(&ex.kind, &ex.target),
            fmt_amount(hours, 0.01),
            fmt_usd(hours * g),
            fmt_usd(g),
        ));
    }
    if hint {
        out.push(format!("**GPU cost**: {HOW_TO}."));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::cost::prices;
    use crate::report::format::sig;

    /// The loader fixture with a fixed count (2 accelerators, AU 93% on
    /// General Purpose and 95% on Express, 10 s each) after the sample
    /// run's prepare phase (its data set).
    fn fixed() -> RunResult {
        let mut r = crate::report::dataloader::tests::loader_run();
        for t in &mut r.phases[0].targets {
            let l = t.loader.as_mut().unwrap();
            l.search = None;
            l.accelerators = 2;
        }
        let prepare = crate::report::fixtures::sample_result().phases[0].clone();
        assert_eq!(prepare.name, "prepare");
        r.phases.insert(0, prepare);
        r
    }

    /// Every number checked against a hand calculation.
    #[test]
    fn gpu_cost_matches_a_hand_calculation() {
        let mut r = fixed();
        r.gpu_hour_usd = Some(2.5);
        let book = prices();
        let costs = phase_costs(&r, &r.phases[1], r.gpu_hour_usd, book).unwrap();
        let bills = run_costs(&r, book);
        for c in &costs {
            let t = r.phases[1]
                .targets
                .iter()
                .find(|t| t.target == c.target)
                .unwrap();
            let m = &t.loader.as_ref().unwrap().measured;
            assert_eq!(c.accelerators, 2);
            assert_eq!(c.au, m.au);
            // 2 accelerators x 24 h x (1 - AU), at $2.50 an hour.
            let idle = 2.0 * 24.0 * (1.0 - m.au);
            assert!((c.idle_hours_per_day - idle).abs() < 1e-9, "{c:?}");
            assert!((c.idle_usd_per_day.unwrap() - idle * 2.5).abs() < 1e-9);
            // Storage: the prepared bytes at the kind's GB-month price.
            let bill = bills.iter().find(|b| b.target == c.target).unwrap();
            let price = bill.price.as_ref().unwrap();
            let gb = bill.dataset_bytes.unwrap() as f64 / (1u64 << 30) as f64;
            assert!((c.storage_usd_month.unwrap() - gb * price.storage_gb_month).abs() < 1e-9);
            // Reads: samples per second of the fleet (samples x 2 / wall
            // seconds summed over both accelerators) for 730 hours, as GETs
            // at the tier-2 price plus, on Express, retrieval per GB.
            let gets = (m.samples as f64 * 2.0 / m.wall_s * 730.0 * 3600.0).round();
            let gbs =
                (m.bytes as f64 * 2.0 / m.wall_s * 730.0 * 3600.0).round() / (1u64 << 30) as f64;
            let want = gets * price.tier2_per_1000 / 1000.0 + gbs * price.retrieval_gb;
            assert!(
                (c.reads_usd_month.unwrap() - want).abs() < 1e-6 * want.max(1.0),
                "{c:?} against {want}"
            );
        }
        let gp = costs.iter().find(|c| c.kind == "general-purpose").unwrap();
        let ex = costs.iter().find(|c| c.kind == "directory").unwrap();
        assert!((gp.idle_hours_per_day - 48.0 * 0.07).abs() < 1e-9);
        assert!((ex.idle_hours_per_day - 48.0 * 0.05).abs() < 1e-9);
        let head = headline(&r, book);
        let bucket = ex.bucket_usd_month().unwrap() - gp.bucket_usd_month().unwrap();
        let fewer = 48.0 * 0.02;
        let want = format!(
            "**train / GPU cost (2 accelerators)**: Express: {} {} per month for storage and requests, {} fewer idle GPU-hours per day ({} a day at $2.50 per GPU-hour).",
            fmt_usd(bucket.abs()),
            if bucket >= 0.0 { "more" } else { "less" },
            sig(fewer, 3),
            fmt_usd(fewer * 2.5)
        );
        assert_eq!(head, [want]);
        // Without a price: the sentence that says how to get the line.
        r.gpu_hour_usd = None;
        assert_eq!(headline(&r, book), [format!("**GPU cost**: {HOW_TO}.")]);
        let mut md = String::new();
        section(&mut md, &r, &r.phases[1], book);
        assert!(md.contains("No GPU-hour price was given"), "{md}");
    }

    /// A search compares both targets at the most accelerators both ran:
    /// General Purpose stepped 1, 2, 4, 3 and Express 1, 2, 4, 8, ...: 4.
    #[test]
    fn a_search_compares_at_the_largest_common_count() {
        let r = crate::report::dataloader::tests::loader_run();
        let (n, m) = fleet(&r.phases[0]).unwrap();
        assert_eq!(n, 4);
        assert!((m[0].au - 0.61).abs() < 1e-9, "{:?}", m[0]);
        assert!((m[1].au - 0.99).abs() < 1e-9, "{:?}", m[1]);
        let costs = phase_costs(&r, &r.phases[0], None, prices()).unwrap();
        assert!((costs[0].idle_hours_per_day - 4.0 * 24.0 * 0.39).abs() < 1e-9);
        assert!(costs.iter().all(|c| c.idle_usd_per_day.is_none()));
    }
}
