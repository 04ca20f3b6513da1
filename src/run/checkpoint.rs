//! Checkpoint phases in a run: each round on a target runs the phase's
//! steps (every write, then every read) one job each, and what the ranks
//! measured becomes the JSON contract's `CheckpointResult`.

use std::time::Duration;

use tokio::time::Instant;

use super::phases::Runner;
use crate::engine::{JobKind, JobResult, OpRecorder};
use crate::report::model::{CheckpointResult, CheckpointStepResult, LoadShape};
use crate::scenario::{CheckpointSpec, CheckpointStep, Phase, RankSet};
use crate::stats::checkpoint::RankTimes;

const MIB: f64 = 1024.0 * 1024.0;

/// The ranks a process runs: all of them, or a shard's share.
pub fn rank_set(shard: Option<super::Shard>) -> RankSet {
    match shard {
        Some(s) => RankSet {
            first: s.index,
            stride: s.count.max(1),
        },
        None => RankSet::ALL,
    }
}

/// One step's rank times in the contract's form.
pub fn step_result(
    round: u32,
    seq: u32,
    step: CheckpointStep,
    t: &RankTimes,
) -> CheckpointStepResult {
    CheckpointStepResult {
        round,
        seq,
        op: if step.is_write() { "write" } else { "read" }.into(),
        index: step.index(),
        ranks: t.ranks,
        bytes: t.bytes,
        slowest_s: t.slowest_ns as f64 / 1e9,
        fastest_s: t.fastest_ns as f64 / 1e9,
        rank_s_sum: t.sum_ns as f64 / 1e9,
        min_rank_mib_per_sec: t.min_bytes_per_sec / MIB,
    }
}

/// A checkpoint phase's load as the result records it.
pub fn shape(phase: &Phase, spec: &CheckpointSpec) -> LoadShape {
    LoadShape::Checkpoint {
        ranks: u64::from(spec.ranks),
        size_bytes: spec.size,
        part_size: spec.part_size,
        parts_in_flight: crate::scenario::checkpoint::PARTS_IN_FLIGHT as u32,
        writes: spec.writes,
        reads: spec.reads,
        stop_after_s: phase.stop.duration.map(|d| d.as_secs_f64()),
    }
}

/// One target's checkpoint numbers over the rounds of one phase.
pub struct CheckpointAcc {
    out: CheckpointResult,
}

impl CheckpointAcc {
    pub fn new(spec: &CheckpointSpec) -> CheckpointAcc {
        CheckpointAcc {
            out: CheckpointResult {
                size_bytes: spec.size,
                ranks: u64::from(spec.ranks),
                part_size: spec.part_size,
                parts_in_flight: crate::scenario::checkpoint::PARTS_IN_FLIGHT as u32,
                writes: spec.writes,
                reads: spec.reads,
                ..CheckpointResult::default()
            },
        }
    }

    /// Runs one round of the phase on one target, step by step; stops
    /// starting steps when the run is stopped or the phase's `duration` has
    /// passed. Returns the steps' requests as one round (op totals; no
    /// per-second rows, each step restarts the clock).
    pub async fn round(
        &mut self,
        runner: &Runner<'_>,
        phase_index: usize,
        phase: &Phase,
        spec: &CheckpointSpec,
        target: usize,
        round: u32,
    ) -> anyhow::Result<JobResult> {
        let began = Instant::now();
        let mut recorder = OpRecorder::default();
        let mut elapsed_s = 0.0;
        for (seq, step) in spec.steps().enumerate() {
            if runner.cancel.is_cancelled()
                || phase.stop.duration.is_some_and(|d| began.elapsed() >= d)
            {
                break;
            }
            let kind = JobKind::Checkpoint {
                phase: phase_index,
                step,
                ranks: rank_set(runner.shard),
            };
            let r = runner.run_watched(runner.job(kind, target, round)).await?;
            super::assemble::merge_totals(&mut recorder, &r.recorder);
            elapsed_s += r.elapsed_s;
            let times = r.checkpoint.unwrap_or_default();
            self.out
                .steps
                .push(step_result(round, seq as u32, step, &times));
        }
        Ok(JobResult {
            recorder,
            elapsed_s,
            loader: None,
            checkpoint: None,
            claims: Default::default(),
        })
    }

    pub fn finish(mut self) -> CheckpointResult {
        self.out.summarize();
        self.out
    }
}

/// Rough time of one round of a checkpoint phase on one target (for the
/// ETA): its `duration` when it has one, else unknown.
pub fn round_time(p: &Phase) -> Option<Duration> {
    p.checkpoint.as_ref()?;
    p.stop.duration
}
