//! Dataloader phases in a run: what the simulated accelerators' stats become in
//! the JSON contract (`report::model::DataloaderResult`), accumulated over
//! rounds, and the search's steps run one job each.

use std::time::Duration;

use crate::engine::dataloader::SearchStep;
use crate::engine::{JobResult, OpRecorder};
use crate::report::dataloader::LoaderSecondRow;
use crate::report::model::{
    DataloaderMeasured, DataloaderResult, DataloaderSearch, DataloaderStep, LoadShape,
};
use crate::report::summary::summarize;
use crate::scenario::{Accelerators, DataloaderSpec, Phase, Plan, SampleUnit};
use crate::stats::codec;
use crate::stats::dataloader::DataloaderStats;

/// The contract's sums of one job's loader stats.
pub fn measured(s: &DataloaderStats) -> DataloaderMeasured {
    DataloaderMeasured {
        accelerator_runs: s.accelerators,
        batches: s.batches,
        samples: s.samples,
        bytes: s.bytes,
        compute_s: s.compute_ns as f64 / 1e9,
        wall_s: s.wall_ns as f64 / 1e9,
        stall_s: s.stall_ns as f64 / 1e9,
        au: s.au(),
        au_min: s.au_min,
        stall_us: summarize(&s.stall),
        stall_histogram: codec::encode(&s.stall),
        ..DataloaderMeasured::default()
    }
}

/// One round's compute and stall per second, as the contract's rows (a
/// second no accelerator measured in, as during a long warm-up, is left
/// out); the last second's span is where the last interval ended.
pub fn seconds(round: u32, s: &DataloaderStats) -> Vec<LoaderSecondRow> {
    s.per_second
        .iter()
        .enumerate()
        .filter(|(_, x)| x.compute_ns + x.stall_ns > 0)
        .map(|(i, x)| {
            let start = i as u64 * 1_000_000_000;
            let mut row = LoaderSecondRow {
                round,
                second: i as u32,
                span_s: (s.end_ns.saturating_sub(start) as f64 / 1e9).min(1.0),
                compute_s: x.compute_ns as f64 / 1e9,
                stall_s: x.stall_ns as f64 / 1e9,
                au: 0.0,
            };
            row.recompute();
            row
        })
        .collect()
}

/// Bytes per sample: the record size, or the data set's mean object size.
pub fn sample_bytes(plan: &Plan, spec: &DataloaderSpec) -> u64 {
    match spec.sample {
        SampleUnit::Record { size } => size,
        SampleUnit::Object => {
            let n = plan.dataset.objects.max(1);
            (0..plan.dataset.objects)
                .map(|i| plan.object_size(i))
                .sum::<u64>()
                / n
        }
    }
}

/// A loader phase's load shape for the result (its label says "loader:
/// 8 simulated accelerators, batches of 32 samples, ...").
pub fn shape(phase: &Phase, spec: &DataloaderSpec) -> LoadShape {
    let (accelerators, search) = match spec.accelerators {
        Accelerators::Fixed(n) => (n, false),
        Accelerators::Search { max } => (max, true),
    };
    LoadShape::Dataloader {
        accelerators,
        search,
        batch_size: spec.batch_size,
        record_bytes: match spec.sample {
            SampleUnit::Object => None,
            SampleUnit::Record { size } => Some(size),
        },
        compute_s: spec.compute.as_secs_f64(),
        prefetch: spec.prefetch,
        read_concurrency: spec.read_concurrency,
        epochs: spec.epochs,
        au_target: spec.au,
        duration_s: phase.stop.duration.map(|d| d.as_secs_f64()),
    }
}

/// Expected measured time of one round of a loader phase on one target (for
/// the ETA): its duration, times the search's likely steps.
pub fn round_time(p: &Phase) -> Option<Duration> {
    let spec = p.loader.as_ref()?;
    let d = p.stop.duration?;
    Some(d * spec.accelerators.most_steps())
}

/// One target's loader numbers over the rounds of one phase.
pub struct DataloaderAcc {
    out: DataloaderResult,
    per_accelerator_need: f64,
}

impl DataloaderAcc {
    pub fn new(plan: &Plan, spec: &DataloaderSpec) -> DataloaderAcc {
        let out = DataloaderResult {
            accelerators: match spec.accelerators {
                Accelerators::Fixed(n) => u64::from(n),
                Accelerators::Search { .. } => 0,
            },
            batch_size: spec.batch_size,
            sample_bytes: sample_bytes(plan, spec),
            compute_ms: spec.compute.as_secs_f64() * 1000.0,
            prefetch: spec.prefetch,
            read_concurrency: spec.read_concurrency,
            au_target: spec.au,
            measured: DataloaderMeasured::default(),
            search: match spec.accelerators {
                Accelerators::Fixed(_) => None,
                Accelerators::Search { max } => Some(DataloaderSearch {
                    max,
                    ..DataloaderSearch::default()
                }),
            },
            per_second: Vec::new(),
        };
        let per_accelerator_need = out.per_accelerator_need();
        DataloaderAcc {
            out,
            per_accelerator_need,
        }
    }

    /// Round `round` of a fixed-count loader phase: its sums, and its
    /// seconds after the earlier rounds'.
    pub fn add_round(&mut self, round: u32, r: &JobResult) -> anyhow::Result<()> {
        if let Some(s) = &r.loader {
            self.out.measured.add(&measured(s))?;
            self.out.per_second.extend(seconds(round, s));
        }
        Ok(())
    }

    /// A round of a search: every step, and the step at the answer (or the
    /// first step when not even one accelerator kept the mark) as the
    /// round's measured numbers.
    pub fn add_search(
        &mut self,
        round: u32,
        found: u32,
        steps: &[SearchStep],
    ) -> anyhow::Result<()> {
        let need = self.per_accelerator_need;
        let mark = self.out.au_target;
        let Some(search) = self.out.search.as_mut() else {
            return Ok(());
        };
        search.found_by_round.push(u64::from(found));
        let answer = steps
            .iter()
            .rposition(|s| s.accelerators == found)
            .unwrap_or(0);
        for (i, s) in steps.iter().enumerate() {
            let mut m = s.result.loader.as_ref().map(measured).unwrap_or_default();
            m.recompute(u64::from(s.accelerators), need);
            search.steps.push(DataloaderStep {
                round,
                accelerators: u64::from(s.accelerators),
                passed: m.au >= mark,
                measured: m.clone(),
            });
            if i == answer {
                self.out.measured.add(&m)?;
            }
        }
        Ok(())
    }

    pub fn finish(mut self) -> DataloaderResult {
        let concurrent = match &self.out.search {
            Some(s) => {
                self.out.accelerators = s.found_by_round.iter().copied().min().unwrap_or(0);
                self.out.measured.accelerator_runs / s.found_by_round.len().max(1) as u64
            }
            None => self.out.accelerators,
        };
        self.out
            .measured
            .recompute(concurrent, self.per_accelerator_need);
        self.out
    }
}

/// The steps of a search as one round's requests: their op totals added
/// (per-second rows are not kept, each step restarts the clock), elapsed
/// time summed.
pub fn steps_as_round(steps: &[SearchStep]) -> JobResult {
    let mut recorder = OpRecorder::default();
    for s in steps {
        super::assemble::merge_totals(&mut recorder, &s.result.recorder);
    }
    JobResult {
        recorder,
        elapsed_s: steps.iter().map(|s| s.result.elapsed_s).sum(),
        loader: None,
        checkpoint: None,
        claims: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::dataloader::Busy;

    /// Each round's seconds are kept apart, by round; the last second's
    /// span is where the round ended; AU per second = compute / (compute +
    /// stall).
    #[test]
    fn rounds_keep_their_seconds() {
        const S: u64 = 1_000_000_000;
        let round = |stall_from: u64| {
            let mut s = DataloaderStats::default();
            s.spread(S / 4, S, Busy::Compute);
            s.spread(S, stall_from, Busy::Compute);
            s.spread(stall_from, S + S / 2, Busy::Stall);
            s.finish_accelerator(crate::stats::dataloader::AcceleratorTotals {
                compute_ns: stall_from - S / 4,
                wall_ns: S + S / 4,
            });
            JobResult {
                recorder: OpRecorder::default(),
                elapsed_s: 1.5,
                loader: Some(s),
                checkpoint: None,
                claims: Default::default(),
            }
        };
        let plan = crate::scenario::parse(
            "[targets.t]\nkind = \"general-purpose\"\nbucket = \"bench0\"\nregion = \"us-east-1\"\n\n\
             [dataset]\nobjects = 4\nsize = \"1KiB\"\n\n[[phase]]\nname = \"train\"\nduration = \"1s\"\n\
             [phase.loader]\naccelerators = 1\nbatch_size = 1\ncompute = \"10ms\"\n",
            std::path::Path::new("t.toml"),
        )
        .unwrap();
        let spec = plan.phases[0].loader.clone().unwrap();
        let mut acc = DataloaderAcc::new(&plan, &spec);
        acc.add_round(1, &round(S + S / 4)).unwrap();
        acc.add_round(2, &round(S)).unwrap();
        let out = acc.finish();
        let rows: Vec<(u32, u32, f64, f64, f64, f64)> = out
            .per_second
            .iter()
            .map(|r| (r.round, r.second, r.span_s, r.compute_s, r.stall_s, r.au))
            .collect();
        assert_eq!(
            rows,
            [
                (1, 0, 1.0, 0.75, 0.0, 1.0),
                (1, 1, 0.5, 0.25, 0.25, 0.5),
                (2, 0, 1.0, 0.75, 0.0, 1.0),
                (2, 1, 0.5, 0.0, 0.5, 0.0),
            ]
        );
        assert!((out.measured.compute_s - 1.75).abs() < 1e-12);
        assert!((out.measured.stall_s - 0.75).abs() < 1e-12);
    }
}
