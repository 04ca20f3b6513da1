//! Checkpoint phases in the report: the JSON model of what the ranks
//! measured (part of the contract, re-exported by `model`), its exact merge
//! over shards, the Markdown section and the headline sentence.
//!
//! MLPerf Storage's definitions (mlcommons/storage `checkpointing/README.md`,
//! "Metrics and Results Reporting"): a checkpoint's duration is the maximum
//! time across all processes, its throughput the minimum across all
//! processes. Each step keeps both, so shards merge by max and min.

use serde::{Deserialize, Serialize};

use super::model::{PhaseResult, RunResult, TargetPhaseResult};
use crate::report::format::sig;
use crate::report::table::Table;
use crate::units::format_bytes;

const MIB: f64 = 1024.0 * 1024.0;

/// What a target's ranks measured in one checkpoint phase (every round;
/// over shards).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct CheckpointResult {
    /// Bytes of one whole checkpoint (all ranks together).
    pub size_bytes: u64,
    /// Ranks of the checkpoint (all shards together).
    pub ranks: u64,
    /// Multipart part size of each rank's upload, and the range size of its reads.
    pub part_size: u64,
    /// Parts (and ranged reads) of one rank in flight at once.
    pub parts_in_flight: u32,
    /// Checkpoints written per round.
    pub writes: u32,
    /// Checkpoints read back per round (read i reads checkpoint i mod writes).
    pub reads: u32,
    /// Written checkpoints: the slowest rank's duration and the lowest
    /// rank throughput, over the complete checkpoints of every round.
    pub write: CheckpointSummary,
    /// Read checkpoints, as `write`.
    pub read: CheckpointSummary,
    /// Every step in the order run (summed over shards).
    pub steps: Vec<CheckpointStepResult>,
}

/// One write or read of one checkpoint by every rank.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct CheckpointStepResult {
    /// Round number, from 1.
    pub round: u32,
    /// Position of the step in its round, from 0 (writes first, then reads).
    pub seq: u32,
    /// `write` or `read`.
    pub op: String,
    /// The checkpoint written or read (from 0).
    pub index: u32,
    /// Ranks that finished (summed over shards): the step is complete, and
    /// counts in the summaries, only when every rank of the checkpoint did.
    pub ranks: u64,
    /// Bytes those ranks moved.
    pub bytes: u64,
    /// The slowest rank's time from the step's start to its last byte, seconds.
    pub slowest_s: f64,
    /// The fastest rank's time, seconds.
    pub fastest_s: f64,
    /// Rank times summed, seconds.
    pub rank_s_sum: f64,
    /// The lowest throughput of one rank (its share over its time), MiB/s.
    pub min_rank_mib_per_sec: f64,
}

/// Writes (or reads) of a phase, over its complete steps.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct CheckpointSummary {
    /// Complete checkpoints (every rank finished).
    pub checkpoints: u64,
    /// Steps a stop or the phase's duration cut short (not in the numbers).
    pub incomplete: u64,
    /// MLPerf's duration (the slowest rank) of each checkpoint: mean, seconds.
    pub duration_mean_s: f64,
    pub duration_min_s: f64,
    pub duration_max_s: f64,
    /// MLPerf's throughput (the lowest rank's) of each checkpoint: mean, MiB/s.
    pub rank_mib_per_sec_mean: f64,
    /// The lowest over all checkpoints, MiB/s.
    pub rank_mib_per_sec_min: f64,
    /// The whole checkpoint over the slowest rank's time, mean over
    /// checkpoints, MiB/s: what the storage moved for the job.
    pub checkpoint_mib_per_sec: f64,
    /// Mean time of a rank (all ranks, all checkpoints), seconds: how far the
    /// slowest is from the typical.
    pub rank_mean_s: f64,
}

impl CheckpointResult {
    /// Recomputes both summaries from the steps.
    pub fn summarize(&mut self) {
        self.write = summary(&self.steps, "write", self.ranks, self.size_bytes);
        self.read = summary(&self.steps, "read", self.ranks, self.size_bytes);
    }
}

fn summary(steps: &[CheckpointStepResult], op: &str, ranks: u64, size: u64) -> CheckpointSummary {
    let mine: Vec<&CheckpointStepResult> = steps.iter().filter(|s| s.op == op).collect();
    let done: Vec<&&CheckpointStepResult> = mine
        .iter()
        .filter(|s| s.ranks >= ranks && s.slowest_s > 0.0)
        .collect();
    let n = done.len();
    let mut out = CheckpointSummary {
        checkpoints: n as u64,
        incomplete: (mine.len() - n) as u64,
        ..CheckpointSummary::default()
    };
    if n == 0 {
        return out;
    }
    let mean = |f: &dyn Fn(&CheckpointStepResult) -> f64| -> f64 {
        done.iter().map(|s| f(s)).sum::<f64>() / n as f64
    };
    out.duration_mean_s = mean(&|s| s.slowest_s);
    out.duration_min_s = done
        .iter()
        .map(|s| s.slowest_s)
        .fold(f64::INFINITY, f64::min);
    out.duration_max_s = done.iter().map(|s| s.slowest_s).fold(0.0, f64::max);
    out.rank_mib_per_sec_mean = mean(&|s| s.min_rank_mib_per_sec);
    out.rank_mib_per_sec_min = done
        .iter()
        .map(|s| s.min_rank_mib_per_sec)
        .fold(f64::INFINITY, f64::min);
    out.checkpoint_mib_per_sec = mean(&|s| size as f64 / MIB / s.slowest_s);
    let rank_runs: u64 = done.iter().map(|s| s.ranks).sum();
    out.rank_mean_s = done.iter().map(|s| s.rank_s_sum).sum::<f64>() / rank_runs.max(1) as f64;
    out
}

/// Merges the checkpoint results of shards that ran the same phase at the
/// same time: each shard ran its own ranks of every step, so a step's ranks
/// and bytes add up, its slowest rank is the slowest of any shard and its
/// lowest throughput the lowest of any (steps are matched by round and
/// position). A step a shard did not finish stays incomplete.
pub fn merge(parts: &[&CheckpointResult]) -> anyhow::Result<CheckpointResult> {
    let mut out = parts[0].clone();
    for p in &parts[1..] {
        if (p.size_bytes, p.ranks, p.writes, p.reads)
            != (out.size_bytes, out.ranks, out.writes, out.reads)
        {
            anyhow::bail!(
                "shards ran different checkpoint phases (size, ranks, writes or reads differ)"
            );
        }
        for s in &p.steps {
            match out
                .steps
                .iter_mut()
                .find(|t| (t.round, t.seq) == (s.round, s.seq))
            {
                Some(t) => {
                    if t.ranks == 0 {
                        *t = s.clone();
                        continue;
                    }
                    if s.ranks == 0 {
                        continue;
                    }
                    t.ranks += s.ranks;
                    t.bytes += s.bytes;
                    t.slowest_s = t.slowest_s.max(s.slowest_s);
                    t.fastest_s = t.fastest_s.min(s.fastest_s);
                    t.rank_s_sum += s.rank_s_sum;
                    t.min_rank_mib_per_sec = t.min_rank_mib_per_sec.min(s.min_rank_mib_per_sec);
                }
                None => out.steps.push(s.clone()),
            }
        }
    }
    out.steps.sort_by_key(|s| (s.round, s.seq));
    out.summarize();
    Ok(out)
}

fn checkpoints(p: &PhaseResult) -> Vec<(&TargetPhaseResult, &CheckpointResult)> {
    p.targets
        .iter()
        .filter_map(|t| t.checkpoint.as_ref().map(|c| (t, c)))
        .collect()
}

fn mibs(v: f64) -> String {
    sig(v, 3)
}

/// The checkpoint section of a phase: per target, MLPerf's duration and
/// throughput of writes and reads side by side, with the Express / General
/// Purpose ratio.
pub fn section(md: &mut String, p: &PhaseResult, pair: Option<(&str, &str)>) {
    let cs = checkpoints(p);
    let Some((_, first)) = cs.first() else { return };
    md.push_str("### Checkpoints\n\n");
    let share = first.size_bytes / first.ranks.max(1);
    md.push_str(&format!(
        "Each of {} ranks writes its share ({}) of a {} checkpoint as one multipart upload in parts of {} \
         ({} in flight), {} times, then reads it back with ranged GETs of {} ({} in flight), {} times. \
         As MLPerf Storage defines them: a checkpoint's duration is its slowest rank's time, its rank throughput \
         the lowest of any rank; checkpoint throughput = its size / its duration.\n\n",
        first.ranks,
        format_bytes(share),
        format_bytes(first.size_bytes),
        format_bytes(first.part_size),
        first.parts_in_flight,
        first.writes,
        format_bytes(first.part_size),
        first.parts_in_flight,
        first.reads,
    ));
    let mut header = vec!["".to_string()];
    header.extend(cs.iter().map(|(t, _)| t.target.clone()));
    let pair = pair.and_then(|(dn, gn)| {
        let di = cs.iter().position(|(t, _)| t.target == dn)?;
        let gi = cs.iter().position(|(t, _)| t.target == gn)?;
        Some((di, gi))
    });
    if pair.is_some() {
        header.push("Express / General Purpose".into());
    }
    type Cell<'a> = Box<dyn Fn(&CheckpointSummary) -> (String, Option<f64>) + 'a>;
    let rows: Vec<(&str, Cell<'_>)> = vec![
        (
            "checkpoints",
            Box::new(|s: &CheckpointSummary| {
                let extra = if s.incomplete > 0 {
                    format!(" ({} cut short)", s.incomplete)
                } else {
                    String::new()
                };
                (format!("{}{extra}", s.checkpoints), None)
            }),
        ),
        (
            "duration, slowest rank: mean (min - max) [s]",
            Box::new(|s: &CheckpointSummary| {
                (
                    format!(
                        "{} ({} - {})",
                        sig(s.duration_mean_s, 3),
                        sig(s.duration_min_s, 3),
                        sig(s.duration_max_s, 3)
                    ),
                    Some(s.duration_mean_s),
                )
            }),
        ),
        (
            "rank throughput, lowest rank: mean (min) [MiB/s]",
            Box::new(|s: &CheckpointSummary| {
                (
                    format!(
                        "{} ({})",
                        mibs(s.rank_mib_per_sec_mean),
                        mibs(s.rank_mib_per_sec_min)
                    ),
                    Some(s.rank_mib_per_sec_mean),
                )
            }),
        ),
        (
            "checkpoint throughput [MiB/s]",
            Box::new(|s: &CheckpointSummary| {
                (
                    mibs(s.checkpoint_mib_per_sec),
                    Some(s.checkpoint_mib_per_sec),
                )
            }),
        ),
        (
            "mean rank time [s]",
            Box::new(|s: &CheckpointSummary| (sig(s.rank_mean_s, 3), Some(s.rank_mean_s))),
        ),
    ];
    let mut table = Table::numeric(header);
    for (what, pick) in [
        (
            "write",
            (|c: &CheckpointResult| c.write) as fn(&CheckpointResult) -> CheckpointSummary,
        ),
        ("read", |c: &CheckpointResult| c.read),
    ] {
        for (label, cell) in &rows {
            let mut row = vec![format!("{what}: {label}")];
            let cells: Vec<(String, Option<f64>)> =
                cs.iter().map(|(_, c)| cell(&pick(c))).collect();
            row.extend(cells.iter().map(|c| c.0.clone()));
            if let Some((d, g)) = pair {
                let r = match (cells[d].1, cells[g].1) {
                    (Some(a), Some(b)) if a > 0.0 => {
                        crate::report::format::fmt_times(a, b).unwrap_or_default()
                    }
                    _ => String::new(),
                };
                row.push(r);
            }
            table.push(row);
        }
    }
    md.push_str(&table.render());
    md.push('\n');
}

use crate::report::format::target_kind_label as kind_label;

/// Headline sentences for checkpoint phases: "**ckpt / 256 MiB checkpoint,
/// 8 ranks**: General Purpose writes it in 1.2 s and reads it in 0.9 s;
/// Express ... (slowest rank, mean of 10)".
pub fn headline(r: &RunResult) -> Vec<String> {
    let mut out = Vec::new();
    for p in &r.phases {
        let cs = checkpoints(p);
        let Some((_, first)) = cs.first() else {
            continue;
        };
        let parts: Vec<String> = cs
            .iter()
            .map(|(t, c)| {
                let mut did = Vec::new();
                if c.write.checkpoints > 0 {
                    did.push(format!(
                        "writes it in {} s",
                        sig(c.write.duration_mean_s, 3)
                    ));
                }
                if c.read.checkpoints > 0 {
                    did.push(format!("reads it in {} s", sig(c.read.duration_mean_s, 3)));
                }
                if did.is_empty() {
                    did.push("finished no checkpoint".into());
                }
                format!("{} {}", kind_label(r, &t.target), did.join(" and "))
            })
            .collect();
        out.push(format!(
            "**{} / {} checkpoint, {} ranks**: {} (slowest rank, mean over checkpoints).",
            p.name,
            format_bytes(first.size_bytes),
            first.ranks,
            parts.join("; ")
        ));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A checkpoint result of 2 writes and 2 reads on 4 ranks, the second
    /// read cut short (3 of 4 ranks).
    pub(crate) fn fixture() -> CheckpointResult {
        result(
            vec![
                step(1, 0, "write", 4, 2.0, 10.0),
                step(1, 1, "write", 4, 4.0, 5.0),
                step(1, 2, "read", 4, 1.0, 20.0),
                step(1, 3, "read", 3, 9.0, 1.0),
            ],
            4,
        )
    }

    fn step(
        round: u32,
        seq: u32,
        op: &str,
        ranks: u64,
        slowest: f64,
        min_rate: f64,
    ) -> CheckpointStepResult {
        CheckpointStepResult {
            round,
            seq,
            op: op.into(),
            index: seq % 2,
            ranks,
            bytes: ranks * 100,
            slowest_s: slowest,
            fastest_s: slowest / 2.0,
            rank_s_sum: slowest * 0.75 * ranks as f64,
            min_rank_mib_per_sec: min_rate,
        }
    }

    fn result(steps: Vec<CheckpointStepResult>, ranks: u64) -> CheckpointResult {
        let mut c = CheckpointResult {
            size_bytes: 8 * MIB as u64,
            ranks,
            part_size: 5 << 20,
            parts_in_flight: 8,
            writes: 2,
            reads: 2,
            steps,
            ..CheckpointResult::default()
        };
        c.summarize();
        c
    }

    #[test]
    fn summaries_use_complete_steps_only() {
        let c = result(
            vec![
                step(1, 0, "write", 4, 2.0, 10.0),
                step(1, 1, "write", 4, 4.0, 5.0),
                step(1, 2, "read", 4, 1.0, 20.0),
                // Cut short: 3 of 4 ranks.
                step(1, 3, "read", 3, 9.0, 1.0),
            ],
            4,
        );
        assert_eq!((c.write.checkpoints, c.write.incomplete), (2, 0));
        assert_eq!(c.write.duration_mean_s, 3.0);
        assert_eq!((c.write.duration_min_s, c.write.duration_max_s), (2.0, 4.0));
        assert_eq!(c.write.rank_mib_per_sec_mean, 7.5);
        assert_eq!(c.write.rank_mib_per_sec_min, 5.0);
        // 8 MiB over 2 s and over 4 s.
        assert_eq!(c.write.checkpoint_mib_per_sec, (4.0 + 2.0) / 2.0);
        assert_eq!(c.write.rank_mean_s, (2.0 + 4.0) * 0.75 / 2.0);
        assert_eq!((c.read.checkpoints, c.read.incomplete), (1, 1));
        assert_eq!(c.read.duration_mean_s, 1.0);
    }

    /// Two shards of 2 ranks each: a step's slowest rank is the slower
    /// shard's, its lowest throughput the lower; a step one shard did not
    /// finish stays out of the numbers.
    #[test]
    fn merging_shards_keeps_the_slowest_rank() {
        let a = result(
            vec![
                step(1, 0, "write", 2, 2.0, 10.0),
                step(1, 1, "read", 2, 1.0, 30.0),
            ],
            4,
        );
        let b = result(
            vec![
                step(1, 0, "write", 2, 3.0, 12.0),
                step(1, 1, "read", 1, 0.5, 40.0),
            ],
            4,
        );
        // Each alone is incomplete: 2 of 4 ranks.
        assert_eq!(a.write.checkpoints, 0);
        let m = merge(&[&a, &b]).unwrap();
        assert_eq!(m.steps[0].ranks, 4);
        assert_eq!(m.steps[0].bytes, 400);
        assert_eq!(m.write.checkpoints, 1);
        assert_eq!(m.write.duration_mean_s, 3.0);
        assert_eq!(m.write.rank_mib_per_sec_min, 10.0);
        assert_eq!(m.steps[0].fastest_s, 1.0);
        assert_eq!((m.read.checkpoints, m.read.incomplete), (0, 1));
        // The same in the other order.
        assert_eq!(merge(&[&b, &a]).unwrap(), m);
        let other = CheckpointResult {
            ranks: 8,
            ..a.clone()
        };
        assert!(merge(&[&a, &other]).is_err());
    }
}
