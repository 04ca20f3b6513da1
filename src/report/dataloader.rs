//! Dataloader phases in the report: the JSON model of what the simulated
//! accelerators measured (part of the contract, re-exported by `model`),
//! its lossless merge, the Markdown section and the headline sentence.

use serde::{Deserialize, Serialize};

use super::model::{LatencySummary, PhaseResult, RunResult, TargetPhaseResult};
use crate::report::format::{fmt_duration_us, fmt_secs, fmt_share, fmt_times, sig};
use crate::report::summary::summarize;
use crate::report::table::Table;
use crate::stats::codec;
use crate::units::format_bytes;

/// What a target's simulated accelerators measured in one loader phase
/// (every round; summed over shards).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct DataloaderResult {
    /// Accelerators simulated; in search mode the most that kept the AU
    /// mark in every round (summed over shards).
    pub accelerators: u64,
    /// Samples per batch.
    pub batch_size: u32,
    /// Bytes per sample: the record size, or the data set's mean object size.
    pub sample_bytes: u64,
    /// Simulated compute time per batch, milliseconds.
    pub compute_ms: f64,
    /// Batches read ahead per accelerator.
    pub prefetch: u32,
    /// Reads in flight per accelerator.
    pub read_concurrency: u32,
    /// The AU pass mark (0.90 = 90%).
    pub au_target: f64,
    /// Measured numbers (fixed mode: every round; search mode: each round's
    /// step at its answer).
    #[serde(flatten)]
    pub measured: DataloaderMeasured,
    /// Search mode: every step tried.
    #[serde(default)]
    pub search: Option<DataloaderSearch>,
    /// AU over time: compute and stall per second of each round, summed
    /// over accelerators (and shards), by (round, second). Fixed-count
    /// phases only (each step of a search restarts the clock).
    #[serde(default)]
    pub per_second: Vec<LoaderSecondRow>,
}

/// Compute and stall of the simulated accelerators in one second of one
/// round (seconds since the round's start; each accelerator's first step
/// excluded, as from the totals).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct LoaderSecondRow {
    /// Round number, from 1.
    pub round: u32,
    /// Whole second since the round's start.
    pub second: u32,
    /// How much of the second the round covered: 1, less for its last.
    pub span_s: f64,
    /// Compute, seconds summed over accelerators.
    pub compute_s: f64,
    /// Time accelerators waited for data, seconds summed over accelerators.
    pub stall_s: f64,
    /// AU of the second: compute_s / (compute_s + stall_s).
    pub au: f64,
}

impl LoaderSecondRow {
    /// Recomputes `au` from the sums.
    pub fn recompute(&mut self) {
        let busy = self.compute_s + self.stall_s;
        self.au = if busy > 0.0 {
            self.compute_s / busy
        } else {
            0.0
        };
    }
}

/// Adds `more` into `rows` second by second (same round and second: sums
/// add, the longer span is kept, AU is recomputed); sorted by (round,
/// second).
pub fn add_seconds(rows: &mut Vec<LoaderSecondRow>, more: &[LoaderSecondRow]) {
    let mut by: std::collections::BTreeMap<(u32, u32), LoaderSecondRow> =
        rows.drain(..).map(|r| ((r.round, r.second), r)).collect();
    for m in more {
        let e = by
            .entry((m.round, m.second))
            .or_insert_with(|| LoaderSecondRow {
                round: m.round,
                second: m.second,
                ..LoaderSecondRow::default()
            });
        e.span_s = e.span_s.max(m.span_s);
        e.compute_s += m.compute_s;
        e.stall_s += m.stall_s;
        e.recompute();
    }
    rows.extend(by.into_values());
}

/// Sums over accelerators (and rounds, shards), from which AU and the
/// throughputs are recomputed; each accelerator's first batch is excluded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct DataloaderMeasured {
    /// Accelerators these sums cover (accelerators x rounds x shards).
    pub accelerator_runs: u64,
    /// Measured batches.
    pub batches: u64,
    pub samples: u64,
    /// Payload bytes of the measured batches.
    pub bytes: u64,
    /// Simulated compute, seconds summed over accelerators.
    pub compute_s: f64,
    /// Wall time, seconds summed over accelerators.
    pub wall_s: f64,
    /// Time accelerators waited for data (GPU idle time), seconds summed
    /// over accelerators: wall - compute.
    pub stall_s: f64,
    /// Accelerator utilization: compute_s / wall_s.
    pub au: f64,
    /// Lowest AU of a single accelerator.
    pub au_min: f64,
    /// Wait per batch, microseconds, from when the accelerator was ready for it.
    pub stall_us: LatencySummary,
    /// Serialized histogram of the wait per batch (V2 + DEFLATE, base64; ns).
    pub stall_histogram: String,
    /// Throughput the accelerators need to never wait: accelerators x
    /// batch_size x sample_bytes / compute, MiB/s.
    pub needed_mib_per_sec: f64,
    /// Throughput they got: bytes / mean wall time, MiB/s.
    pub achieved_mib_per_sec: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct DataloaderSearch {
    /// Upper bound of the search.
    pub max: u32,
    /// The answer of each round (summed over shards).
    pub found_by_round: Vec<u64>,
    /// Every step, in the order run.
    pub steps: Vec<DataloaderStep>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct DataloaderStep {
    /// Round number, from 1.
    pub round: u32,
    /// Accelerators in this step (summed over shards).
    pub accelerators: u64,
    /// True when the step kept the AU mark.
    pub passed: bool,
    #[serde(flatten)]
    pub measured: DataloaderMeasured,
}

const MIB: f64 = 1024.0 * 1024.0;

impl DataloaderMeasured {
    /// Recomputes AU, stall summary and throughputs from the sums and the
    /// stall histogram; `accelerators` is how many ran at once.
    pub fn recompute(&mut self, accelerators: u64, per_accelerator_need: f64) {
        self.stall_s = (self.wall_s - self.compute_s).max(0.0);
        self.au = if self.wall_s > 0.0 {
            self.compute_s / self.wall_s
        } else {
            0.0
        };
        if let Ok(h) = codec::decode(&self.stall_histogram) {
            self.stall_us = summarize(&h);
        }
        self.needed_mib_per_sec = accelerators as f64 * per_accelerator_need / MIB;
        let mean_wall = if self.accelerator_runs > 0 {
            self.wall_s / self.accelerator_runs as f64
        } else {
            0.0
        };
        // Rounds run one after another: bytes per round over one round's wall.
        let rounds = if accelerators > 0 {
            (self.accelerator_runs as f64 / accelerators as f64).max(1.0)
        } else {
            1.0
        };
        self.achieved_mib_per_sec = if mean_wall > 0.0 {
            self.bytes as f64 / rounds / mean_wall / MIB
        } else {
            0.0
        };
    }

    /// Adds `o` (another round or shard): sums and histograms; call
    /// `recompute` after.
    pub fn add(&mut self, o: &DataloaderMeasured) -> anyhow::Result<()> {
        self.au_min = if self.accelerator_runs == 0 {
            o.au_min
        } else {
            self.au_min.min(o.au_min)
        };
        self.accelerator_runs += o.accelerator_runs;
        self.batches += o.batches;
        self.samples += o.samples;
        self.bytes += o.bytes;
        self.compute_s += o.compute_s;
        self.wall_s += o.wall_s;
        self.stall_histogram = add_blobs(&self.stall_histogram, &o.stall_histogram)?;
        Ok(())
    }
}

fn add_blobs(a: &str, b: &str) -> anyhow::Result<String> {
    if a.is_empty() {
        return Ok(b.to_string());
    }
    if b.is_empty() {
        return Ok(a.to_string());
    }
    let mut h = codec::decode(a)?;
    h.add(codec::decode(b)?)
        .map_err(|e| anyhow::anyhow!("stall histograms do not fit: {e:?}"))?;
    Ok(codec::encode(&h))
}

impl DataloaderResult {
    /// Throughput one accelerator needs, bytes/s.
    pub fn per_accelerator_need(&self) -> f64 {
        if self.compute_ms > 0.0 {
            f64::from(self.batch_size) * self.sample_bytes as f64 / (self.compute_ms / 1000.0)
        } else {
            0.0
        }
    }

    /// True when the measured AU keeps the mark.
    pub fn passed(&self) -> bool {
        self.measured.au >= self.au_target
    }
}

/// Merges the loader results of shards that ran the same phase at the same
/// time: accelerators add up (each shard simulates its own), sums and
/// histograms add, AU and throughputs are recomputed from the sums.
pub fn merge(parts: &[&DataloaderResult]) -> anyhow::Result<DataloaderResult> {
    let mut out = parts[0].clone();
    for p in &parts[1..] {
        out.accelerators += p.accelerators;
        out.measured.add(&p.measured)?;
        add_seconds(&mut out.per_second, &p.per_second);
        match (&mut out.search, &p.search) {
            (Some(a), Some(b)) => {
                for (x, y) in a.found_by_round.iter_mut().zip(&b.found_by_round) {
                    *x += y;
                }
                // Steps are matched by position: shards of one scenario
                // search alike until their answers differ; the rest is
                // appended as measured.
                for (i, s) in b.steps.iter().enumerate() {
                    match a.steps.get_mut(i) {
                        Some(t) if t.round == s.round => {
                            t.accelerators += s.accelerators;
                            t.measured.add(&s.measured)?;
                        }
                        _ => a.steps.push(s.clone()),
                    }
                }
            }
            (None, None) => {}
            _ => anyhow::bail!("one shard ran a loader search and another did not"),
        }
    }
    if let Some(s) = &mut out.search {
        out.accelerators = s.found_by_round.iter().copied().min().unwrap_or(0);
        let need = parts[0].per_accelerator_need();
        let mark = out.au_target;
        for st in &mut s.steps {
            st.measured.recompute(st.accelerators, need);
            st.passed = st.measured.au >= mark;
        }
    }
    let need = out.per_accelerator_need();
    let concurrent = if out.search.is_some() {
        // Each round's answer step: accelerator_runs / rounds at once.
        let rounds = out
            .search
            .as_ref()
            .map_or(1, |s| s.found_by_round.len().max(1)) as u64;
        out.measured.accelerator_runs / rounds
    } else {
        out.accelerators
    };
    out.measured.recompute(concurrent, need);
    Ok(out)
}

fn pct(x: f64) -> String {
    fmt_share(x, 3)
}

use crate::report::headline::pct as short_pct;

fn loaders(p: &PhaseResult) -> Vec<(&TargetPhaseResult, &DataloaderResult)> {
    p.targets
        .iter()
        .filter_map(|t| t.loader.as_ref().map(|l| (t, l)))
        .collect()
}

/// The loader section of a phase: AU per target side by side with the
/// Express / General Purpose ratio, GPU idle time, throughput needed vs
/// achieved, and the search's steps.
pub fn section(md: &mut String, p: &PhaseResult, pair: Option<(&str, &str)>) {
    let ls = loaders(p);
    let Some((_, first)) = ls.first() else { return };
    md.push_str("### Simulated accelerators\n\n");
    md.push_str(&format!(
        "Each accelerator takes a batch of {} samples of {}, computes on it for {} ms and asks for the next; \
         its loader reads up to {} batches ahead with {} requests in flight. \
         AU (accelerator utilization) = compute time / wall time, first batch excluded; pass mark {}.\n\n",
        first.batch_size,
        format_bytes(first.sample_bytes),
        sig(first.compute_ms, 3),
        first.prefetch,
        first.read_concurrency,
        pct(first.au_target),
    ));
    let mut header = vec!["".to_string()];
    header.extend(ls.iter().map(|(t, _)| t.target.clone()));
    let pair = pair.and_then(|(dn, gn)| {
        let di = ls.iter().position(|(t, _)| t.target == dn)?;
        let gi = ls.iter().position(|(t, _)| t.target == gn)?;
        Some((di, gi))
    });
    if pair.is_some() {
        header.push("Express / General Purpose".into());
    }
    // A ratio of what was measured; none of what was configured (a fixed
    // accelerator count is the same on both sides by construction).
    let ratio = |f: &dyn Fn(&DataloaderResult) -> f64| -> Option<String> {
        let (d, g) = pair?;
        fmt_times(f(ls[d].1), f(ls[g].1))
    };
    type Row<'a> = (
        &'a str,
        Box<dyn Fn(&DataloaderResult) -> String + 'a>,
        Option<Box<dyn Fn(&DataloaderResult) -> f64 + 'a>>,
    );
    let rows: Vec<Row<'_>> = vec![
        (
            "accelerators",
            Box::new(|l: &DataloaderResult| {
                if l.search.is_some() {
                    format!("{} (most at >= {})", l.accelerators, pct(l.au_target))
                } else {
                    l.accelerators.to_string()
                }
            }),
            // Searched: how many passed, a measurement; fixed: configured.
            Some(Box::new(|l: &DataloaderResult| {
                if l.search.is_some() {
                    l.accelerators as f64
                } else {
                    f64::NAN
                }
            })),
        ),
        (
            "AU",
            Box::new(|l: &DataloaderResult| {
                format!(
                    "{} ({})",
                    pct(l.measured.au),
                    if l.passed() { "pass" } else { "FAIL" }
                )
            }),
            Some(Box::new(|l: &DataloaderResult| l.measured.au)),
        ),
        (
            "lowest AU of one accelerator",
            Box::new(|l: &DataloaderResult| pct(l.measured.au_min)),
            None,
        ),
        (
            "GPU idle time (stall, all accelerators)",
            Box::new(|l: &DataloaderResult| {
                let share = if l.measured.wall_s > 0.0 {
                    l.measured.stall_s / l.measured.wall_s
                } else {
                    0.0
                };
                format!(
                    "{} of {} ({})",
                    fmt_secs(l.measured.stall_s),
                    fmt_secs(l.measured.wall_s),
                    fmt_share(share, 3)
                )
            }),
            Some(Box::new(|l: &DataloaderResult| l.measured.stall_s)),
        ),
        (
            "stall per batch p50 / p99 / max",
            Box::new(|l: &DataloaderResult| {
                let s = &l.measured.stall_us;
                format!(
                    "{} / {} / {}",
                    fmt_duration_us(s.p50),
                    fmt_duration_us(s.p99),
                    fmt_duration_us(s.max)
                )
            }),
            Some(Box::new(|l: &DataloaderResult| l.measured.stall_us.p99)),
        ),
        (
            "measured batches",
            Box::new(|l: &DataloaderResult| l.measured.batches.to_string()),
            None,
        ),
        (
            "throughput needed / achieved [MiB/s]",
            Box::new(|l: &DataloaderResult| {
                format!(
                    "{} / {}",
                    sig(l.measured.needed_mib_per_sec, 3),
                    sig(l.measured.achieved_mib_per_sec, 3)
                )
            }),
            Some(Box::new(|l: &DataloaderResult| {
                l.measured.achieved_mib_per_sec
            })),
        ),
    ];
    let mut table = Table::numeric(header);
    for (label, cell, num) in &rows {
        let mut row = vec![label.to_string()];
        row.extend(ls.iter().map(|(_, l)| cell(l)));
        if pair.is_some() {
            row.push(
                num.as_ref()
                    .and_then(|f| ratio(f.as_ref()))
                    .unwrap_or_default(),
            );
        }
        table.push(row);
    }
    md.push_str(&table.render());
    md.push('\n');
    seconds_line(md, &ls);
    search_tables(md, &ls);
}

/// AU per whole second of each target that kept its seconds, lowest /
/// median / highest (the timeline plot shows them over time).
fn seconds_line(md: &mut String, ls: &[(&TargetPhaseResult, &DataloaderResult)]) {
    let parts: Vec<String> = ls
        .iter()
        .filter_map(|(t, l)| {
            let mut au: Vec<f64> = l
                .per_second
                .iter()
                .filter(|s| s.span_s >= 1.0 - 1e-9)
                .map(|s| s.au)
                .collect();
            au.sort_by(f64::total_cmp);
            let (lo, hi) = (au.first()?, au.last()?);
            Some(format!(
                "{} {} / {} / {}",
                t.target,
                pct(*lo),
                pct(au[au.len() / 2]),
                pct(*hi)
            ))
        })
        .collect();
    if !parts.is_empty() {
        md.push_str(&format!(
            "AU per whole second (lowest / median / highest): {}.\n\n",
            parts.join("; ")
        ));
    }
}

/// Each search's steps: accelerators tried per round, and how each did.
fn search_tables(md: &mut String, ls: &[(&TargetPhaseResult, &DataloaderResult)]) {
    for (t, l) in ls {
        let Some(s) = &l.search else { continue };
        md.push_str(&format!(
            "Search on {} (doubling from 1 up to {}, then bisecting; a step passes at AU >= {}):\n\n",
            t.target,
            s.max,
            pct(l.au_target)
        ));
        let mut table = Table::numeric([
            "round",
            "accelerators",
            "AU",
            "result",
            "GPU idle [s]",
            "stall p99 [ms]",
            "needed [MiB/s]",
            "achieved [MiB/s]",
        ]);
        for st in &s.steps {
            table.push([
                st.round.to_string(),
                st.accelerators.to_string(),
                pct(st.measured.au),
                if st.passed { "pass" } else { "fail" }.into(),
                sig(st.measured.stall_s, 3),
                sig(st.measured.stall_us.p99 / 1000.0, 3),
                sig(st.measured.needed_mib_per_sec, 3),
                sig(st.measured.achieved_mib_per_sec, 3),
            ]);
        }
        md.push_str(&table.render());
        md.push('\n');
    }
}

use crate::report::format::target_kind_label as kind_label;

/// Headline sentences for loader phases: "General Purpose keeps 9 simulated
/// accelerators at >= 90% AU; Express keeps 24" (search), or the AU and GPU
/// idle time of each target (fixed count).
pub fn headline(r: &RunResult) -> Vec<String> {
    let mut out = Vec::new();
    for p in &r.phases {
        let ls = loaders(p);
        if ls.is_empty() {
            continue;
        }
        let parts: Vec<String> = ls
            .iter()
            .map(|(t, l)| {
                let who = kind_label(r, &t.target);
                if l.search.is_some() {
                    format!(
                        "{who} keeps {} at >= {} AU",
                        l.accelerators,
                        short_pct(l.au_target)
                    )
                } else {
                    let idle = if l.measured.wall_s > 0.0 {
                        l.measured.stall_s / l.measured.wall_s
                    } else {
                        0.0
                    };
                    format!(
                        "{who} {} AU ({} idle waiting for data)",
                        short_pct(l.measured.au),
                        short_pct(idle)
                    )
                }
            })
            .collect();
        let (_, l) = ls[0];
        let subject = if l.search.is_some() {
            "simulated accelerators".to_string()
        } else {
            format!("{} simulated accelerators", l.accelerators)
        };
        out.push(format!("**{} / {subject}**: {}.", p.name, parts.join("; ")));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::stats::recorder::{latency_hist, record};

    fn measured(runs: u64, compute: f64, wall: f64, stalls: &[u64]) -> DataloaderMeasured {
        let mut h = latency_hist();
        for &s in stalls {
            record(&mut h, s);
        }
        DataloaderMeasured {
            accelerator_runs: runs,
            batches: stalls.len() as u64,
            samples: stalls.len() as u64 * 8,
            bytes: stalls.len() as u64 * 8 * 1024,
            compute_s: compute,
            wall_s: wall,
            au_min: compute / wall,
            stall_histogram: codec::encode(&h),
            ..DataloaderMeasured::default()
        }
    }

    /// A loader result with fixed numbers: `au` of `runs` accelerators over
    /// 10 s each, stalls of `stall_ms` per batch.
    fn result(
        accelerators: u64,
        au: f64,
        stall_ms: u64,
        search: Option<DataloaderSearch>,
    ) -> DataloaderResult {
        let wall = 10.0 * accelerators as f64;
        let mut l = DataloaderResult {
            accelerators,
            batch_size: 400,
            sample_bytes: 114_660,
            compute_ms: 224.0,
            prefetch: 2,
            read_concurrency: 36,
            au_target: 0.9,
            measured: measured(
                accelerators,
                wall * au,
                wall,
                &vec![stall_ms * 1_000_000; 40],
            ),
            search,
            per_second: Vec::new(),
        };
        l.measured.au_min = au - 0.01;
        l.measured.bytes = 40 * 400 * 114_660;
        let need = l.per_accelerator_need();
        l.measured.recompute(accelerators, need);
        l
    }

    fn step(round: u32, n: u64, au: f64) -> DataloaderStep {
        let mut m = measured(n, 3.0 * n as f64 * au, 3.0 * n as f64, &[20_000_000; 10]);
        m.bytes = 10 * n * 400 * 114_660;
        m.recompute(n, 400.0 * 114_660.0 / 0.224);
        DataloaderStep {
            round,
            accelerators: n,
            passed: au >= 0.9,
            measured: m,
        }
    }

    pub(crate) fn loader_run() -> RunResult {
        let mut r = crate::report::fixtures::sample_result();
        r.phases.truncate(1);
        let p = &mut r.phases[0];
        p.name = "train".into();
        p.role = crate::report::model::PhaseRole::Measured;
        p.shape = crate::report::model::LoadShape::Dataloader {
            accelerators: 16,
            search: true,
            batch_size: 4,
            record_bytes: None,
            compute_s: 0.05,
            prefetch: 2,
            read_concurrency: 4,
            epochs: None,
            au_target: 0.9,
            duration_s: Some(10.0),
        };
        p.load = p.shape.label();
        let steps = |caps: &[(u64, f64)]| DataloaderSearch {
            max: 16,
            found_by_round: vec![
                caps.iter()
                    .filter(|c| c.1 >= 0.9)
                    .map(|c| c.0)
                    .max()
                    .unwrap_or(0),
            ],
            steps: caps.iter().map(|&(n, au)| step(1, n, au)).collect(),
        };
        p.targets[0].loader = Some(result(
            2,
            0.93,
            12,
            Some(steps(&[(1, 0.97), (2, 0.93), (4, 0.61), (3, 0.78)])),
        ));
        p.targets[1].loader = Some(result(
            8,
            0.95,
            3,
            Some(steps(&[
                (1, 1.0),
                (2, 1.0),
                (4, 0.99),
                (8, 0.95),
                (16, 0.52),
                (12, 0.71),
                (10, 0.86),
                (9, 0.89),
            ])),
        ));
        r
    }

    /// `loader_run` with a fixed count of 2 accelerators and two rounds of
    /// seconds per target: three whole seconds, a partial fourth (0.4 s)
    /// and a sliver (0.05 s); the first target at AU 90%, the second at 50%
    /// with its stall doubled in round 2's second 1.
    pub(crate) fn fixed_run() -> RunResult {
        let mut r = loader_run();
        for (i, t) in r.phases[0].targets.iter_mut().enumerate() {
            let l = t.loader.as_mut().unwrap();
            l.search = None;
            l.accelerators = 2;
            let (compute, stall) = if i == 0 { (1.8, 0.2) } else { (1.0, 1.0) };
            for round in 1..=2 {
                for (second, span) in [(0, 1.0), (1, 1.0), (2, 1.0), (3, 0.4), (4, 0.05)] {
                    let doubled = i == 1 && round == 2 && second == 1;
                    let mut row = LoaderSecondRow {
                        round,
                        second,
                        span_s: span,
                        compute_s: compute * span,
                        stall_s: stall * span * if doubled { 2.0 } else { 1.0 },
                        au: 0.0,
                    };
                    row.recompute();
                    l.per_second.push(row);
                }
            }
        }
        if let crate::report::model::LoadShape::Dataloader { search, .. } = &mut r.phases[0].shape {
            *search = false;
        }
        r.phases[0].load = r.phases[0].shape.label();
        r
    }

    #[test]
    fn loader_section_snapshot() {
        let r = loader_run();
        let mut md = String::new();
        section(&mut md, &r.phases[0], Some(("express", "standard")));
        insta::assert_snapshot!(md);
        let head = headline(&r);
        assert_eq!(
            head,
            [
                "**train / simulated accelerators**: General Purpose keeps 2 at >= 90% AU; Express keeps 8 at >= 90% AU."
            ]
        );
        // In the whole report: the headline on top, the section in its phase.
        let full = crate::report::markdown::render(&r);
        assert!(
            full.contains("- **train / simulated accelerators**"),
            "{full}"
        );
        assert!(full.contains("### Simulated accelerators"), "{full}");
    }

    /// The section sums up the seconds: lowest / median / highest AU of a
    /// whole second per target (partial seconds left out); a search, which
    /// keeps no seconds, gets no such line.
    #[test]
    fn section_gives_au_per_whole_second() {
        let r = fixed_run();
        let mut md = String::new();
        section(&mut md, &r.phases[0], Some(("express", "standard")));
        let want = format!(
            "AU per whole second (lowest / median / highest): standard {0} / {0} / {0}; express {1} / {2} / {2}.",
            pct(0.9),
            pct(1.0 / 3.0),
            pct(0.5)
        );
        assert!(md.contains(&want), "{md}");
        let mut searched = String::new();
        section(&mut searched, &loader_run().phases[0], None);
        assert!(!searched.contains("AU per whole second"), "{searched}");
    }

    #[test]
    fn fixed_count_headline_gives_au_and_idle_share() {
        let mut r = loader_run();
        for t in &mut r.phases[0].targets {
            t.loader.as_mut().unwrap().search = None;
        }
        assert_eq!(
            headline(&r),
            [
                "**train / 2 simulated accelerators**: General Purpose 93% AU (7.0% idle waiting for data); Express 95% AU (5.0% idle waiting for data)."
            ]
        );
    }

    #[test]
    fn merging_shards_adds_accelerators_and_recomputes_au() {
        let base = DataloaderResult {
            accelerators: 2,
            batch_size: 8,
            sample_bytes: 1024,
            compute_ms: 10.0,
            prefetch: 2,
            read_concurrency: 4,
            au_target: 0.9,
            measured: measured(2, 9.0, 10.0, &[1_000_000; 10]),
            search: None,
            per_second: Vec::new(),
        };
        let other = DataloaderResult {
            measured: measured(2, 5.0, 10.0, &[5_000_000; 10]),
            ..base.clone()
        };
        let m = merge(&[&base, &other]).unwrap();
        assert_eq!(m.accelerators, 4);
        assert!((m.measured.au - 0.7).abs() < 1e-12, "{}", m.measured.au);
        assert!((m.measured.stall_s - 6.0).abs() < 1e-12);
        assert!((m.measured.au_min - 0.5).abs() < 1e-12);
        let h = codec::decode(&m.measured.stall_histogram).unwrap();
        assert_eq!(h.len(), 20);
        // 4 accelerators x 8 samples x 1 KiB per 10 ms.
        assert!((m.measured.needed_mib_per_sec - 4.0 * 8.0 * 1024.0 / 0.01 / MIB).abs() < 1e-9);
    }

    /// A fixed-count loader run where Express barely stalls: the rendered
    /// report says it with a few significant digits and units (issue 29:
    /// "0.00148 s of 23.4 s (0.00634%)", "0.000225x", stall "[ms] 0.00148",
    /// "accelerators 4 / 4 / 1.00x", "$106.78" are gone).
    #[test]
    fn rendered_loader_report_numbers_mean_what_they_say() {
        let mut r = loader_run();
        let p = &mut r.phases[0];
        if let crate::report::model::LoadShape::Dataloader { search, .. } = &mut p.shape {
            *search = false;
        }
        p.load = p.shape.label();
        let mut gp = result(4, 0.713, 20, None);
        gp.measured.wall_s = 22.9;
        gp.measured.compute_s = 22.9 - 6.58;
        gp.measured.recompute(4, gp.per_accelerator_need());
        let mut ex = result(4, 0.99, 0, None);
        let mut h = latency_hist();
        for ns in [1_480, 1_480, 2_860, 614_000] {
            record(&mut h, ns);
        }
        ex.measured.stall_histogram = codec::encode(&h);
        ex.measured.wall_s = 23.4;
        ex.measured.compute_s = 23.4 - 0.00148;
        ex.measured.recompute(4, ex.per_accelerator_need());
        p.targets[0].loader = Some(gp);
        p.targets[1].loader = Some(ex);
        let md = crate::report::markdown::render(&r);
        for gone in [
            "0.00148 s",
            "0.00634%",
            "0.0063%",
            "0.000225x",
            "| 4 | 4 | 1.00x",
            "by chance alone",
        ] {
            assert!(!md.contains(gone), "{gone:?} still in:\n{md}");
        }
        for said in [
            "1.48 ms of 23.4 s (<0.01%)",
            "6.58 s of 22.9 s (28.7%)",
            "<0.01x",
            "(<0.01% idle waiting for data)",
        ] {
            assert!(md.contains(said), "{said:?} not in:\n{md}");
        }
        let stall = md
            .lines()
            .find(|l| l.contains("stall per batch p50 / p99 / max"))
            .unwrap();
        assert!(stall.contains("1.48 µs / "), "{stall}");
        let accelerators = md
            .lines()
            .find(|l| l.starts_with("| accelerators "))
            .unwrap();
        assert!(!accelerators.contains('x'), "{accelerators}");
        // Money follows one rule wherever it appears: whole dollars from
        // $100, at most cents from $1, at most 3 significant digits below.
        for (i, _) in md.match_indices('$') {
            let num: String = md[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
                .collect();
            let num = num.trim_end_matches(['.', ',']);
            let Ok(v) = num.replace(',', "").parse::<f64>() else {
                continue;
            };
            let decimals = num.split_once('.').map_or(0, |(_, d)| d.len());
            if v >= 100.0 {
                assert_eq!(decimals, 0, "${num}");
            } else if v >= 1.0 {
                assert!(decimals == 0 || decimals == 2, "${num}");
            } else {
                let digits = num.trim_start_matches(['0', '.']).len();
                assert!(digits <= 3, "${num}");
            }
        }
    }

    fn row(round: u32, second: u32, span_s: f64, compute_s: f64, stall_s: f64) -> LoaderSecondRow {
        let mut r = LoaderSecondRow {
            round,
            second,
            span_s,
            compute_s,
            stall_s,
            au: 0.0,
        };
        r.recompute();
        r
    }

    /// Two shards' seconds add row by row (round, second); a second only
    /// one shard has is kept; AU is recomputed from the sums.
    #[test]
    fn merging_shards_adds_their_seconds() {
        let a = DataloaderResult {
            accelerators: 2,
            batch_size: 8,
            sample_bytes: 1024,
            compute_ms: 10.0,
            au_target: 0.9,
            measured: measured(2, 9.0, 10.0, &[1_000_000; 10]),
            per_second: vec![
                row(1, 0, 1.0, 1.5, 0.5),
                row(1, 1, 0.375, 0.25, 0.5),
                row(2, 0, 1.0, 2.0, 0.0),
            ],
            ..DataloaderResult::default()
        };
        let b = DataloaderResult {
            per_second: vec![row(1, 0, 1.0, 0.5, 1.5), row(1, 1, 0.5, 0.125, 0.25)],
            ..a.clone()
        };
        let m = merge(&[&a, &b]).unwrap();
        assert_eq!(
            m.per_second,
            [
                row(1, 0, 1.0, 2.0, 2.0),
                row(1, 1, 0.5, 0.375, 0.75),
                row(2, 0, 1.0, 2.0, 0.0),
            ]
        );
        assert!((m.per_second[0].au - 0.5).abs() < 1e-12);
        assert!((m.per_second[1].au - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.per_second[2].au, 1.0);
        // The seconds sum to the totals they were measured with.
        let compute: f64 = m.per_second.iter().map(|r| r.compute_s).sum();
        assert!((compute - 4.375).abs() < 1e-12, "{compute}");
    }
}
