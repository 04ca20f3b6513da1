//! Checkpoint phases (`[phase.checkpoint]`): `ranks` writers each write
//! their share of a checkpoint of `size` bytes as one multipart upload, then
//! read it back, `writes` and `reads` times, as MLPerf Storage's
//! checkpointing workload does (10 and 10). This file holds the raw TOML
//! model of the table, its validated form, its checks and the layout of what
//! it writes, so the rest of the scenario code only forwards to it.
//!
//! The format is documented in `docs/scenario-format.md` and the model in
//! `docs/loader.md` ("Checkpoints").

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::plan::{Phase, Stop};
use super::raw::RawPhase;
use super::validate::Ctx;
use crate::s3::limits::{MAX_OBJECT_SIZE, MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE};
use crate::units::ByteSize;

/// MLPerf Storage's checkpointing workload: 10 writes, then 10 reads
/// (mlcommons/storage `checkpointing/README.md`, `num_checkpoints_write` and
/// `num_checkpoints_read`).
pub const DEFAULT_WRITES: u32 = 10;
pub const DEFAULT_READS: u32 = 10;
/// Part size when the table names none.
pub const DEFAULT_PART_SIZE: u64 = 16 * 1024 * 1024;
/// Parts of one rank's upload, and ranged reads of its read-back, in flight
/// at once (the client's multipart uploads keep as many).
pub const PARTS_IN_FLIGHT: usize = 8;
const MAX_RANKS: i64 = 100_000;
const MAX_CHECKPOINTS: i64 = 1000;

/// A validated `[phase.checkpoint]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointSpec {
    /// Bytes of one whole checkpoint (all ranks together).
    pub size: u64,
    /// Writers (MPI processes in MLPerf): each writes and reads its share.
    pub ranks: u32,
    /// Multipart part size of each rank's upload, and the range size of its
    /// read-back.
    pub part_size: u64,
    /// Checkpoints written per round, one after another.
    pub writes: u32,
    /// Checkpoints read back per round after the writes (read `i` reads
    /// checkpoint `i mod writes`).
    pub reads: u32,
}

/// One step of a checkpoint phase: all ranks write (or read) checkpoint
/// `index` at once; the step ends when the slowest rank is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointStep {
    Write(u32),
    Read(u32),
}

impl CheckpointStep {
    /// The checkpoint this step writes or reads.
    pub fn index(self) -> u32 {
        match self {
            CheckpointStep::Write(i) | CheckpointStep::Read(i) => i,
        }
    }

    pub fn is_write(self) -> bool {
        matches!(self, CheckpointStep::Write(_))
    }
}

/// Which of a checkpoint's ranks one process runs: ranks `first`,
/// `first + stride`, ... (a distributed run's shard i of n runs i, i + n, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankSet {
    pub first: u32,
    pub stride: u32,
}

impl RankSet {
    /// Every rank (a single process).
    pub const ALL: RankSet = RankSet {
        first: 0,
        stride: 1,
    };

    /// The ranks of `total` in this set, in order.
    pub fn ranks(self, total: u32) -> impl Iterator<Item = u32> {
        (self.first..total).step_by(self.stride.max(1) as usize)
    }
}

impl CheckpointSpec {
    /// Bytes rank `r` writes and reads: the checkpoint split as evenly as
    /// bytes allow (the first `size % ranks` ranks hold one byte more).
    pub fn share(&self, rank: u32) -> u64 {
        let n = u64::from(self.ranks.max(1));
        self.size / n + u64::from(u64::from(rank) < self.size % n)
    }

    /// Parts (and ranged reads) of rank `r`'s share.
    pub fn parts(&self, rank: u32) -> u64 {
        self.share(rank).div_ceil(self.part_size.max(1)).max(1)
    }

    /// The steps of one round: every write, then every read.
    pub fn steps(&self) -> impl Iterator<Item = CheckpointStep> + '_ {
        let writes = self.writes;
        (0..self.writes)
            .map(CheckpointStep::Write)
            .chain((0..self.reads).map(move |i| CheckpointStep::Read(i % writes.max(1))))
    }

    /// The key rank `rank`'s share of checkpoint `index` lives at, below the
    /// run prefix: `<phase>/ckpt-<index>/rank-<rank>` (every round writes the
    /// same keys again, so a round holds at most `writes` checkpoints).
    pub fn key(&self, phase: &str, index: u32, rank: u32, out: &mut String) {
        use std::fmt::Write as _;
        let _ = write!(out, "{phase}/ckpt-{index:04}/rank-{rank:05}");
    }

    /// Requests one rank sends to write its share once: CreateMultipartUpload,
    /// its parts, CompleteMultipartUpload.
    pub fn write_requests(&self, rank: u32) -> u64 {
        self.parts(rank) + 2
    }

    /// Parts of one whole checkpoint (every rank's): the ranged GETs that
    /// read it back once. Shares differ by at most a byte, so ranks with
    /// the larger share have the same part count or one more.
    pub fn parts_total(&self) -> u64 {
        let n = u64::from(self.ranks);
        let big = self.size % n;
        big * self.parts(0) + (n - big) * self.parts(self.ranks - 1)
    }

    /// One step's time if every request took `latency` and moved its bytes
    /// instantly: a lower bound, for `plan`'s ETA. Parts go
    /// `parts_in_flight` at a time; a write adds its create and complete.
    pub fn step_time_at(&self, latency: Duration, write: bool, parts_in_flight: u64) -> Duration {
        let waves = self.parts(0).div_ceil(parts_in_flight.max(1));
        let requests = waves + if write { 2 } else { 0 };
        latency * requests as u32
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheckpoint {
    pub size: Spanned<ByteSize>,
    pub ranks: Spanned<i64>,
    pub part_size: Option<Spanned<ByteSize>>,
    pub writes: Option<Spanned<i64>>,
    pub reads: Option<Spanned<i64>>,
}

/// Validates a phase with a `[phase.checkpoint]` table. The phase-level load
/// fields do not apply (the ranks are the load); `duration`, if given, caps
/// the phase: no checkpoint starts after it has passed.
pub(super) fn phase(
    cx: &mut Ctx<'_>,
    base: &str,
    name: String,
    p: &RawPhase,
    c: &Spanned<RawCheckpoint>,
) -> Phase {
    let cb = format!("{base}.checkpoint");
    let not_here = p.fields_set(&[
        "concurrency",
        "rate",
        "max_in_flight",
        "stages",
        "ops",
        "mix",
        "warmup",
        "loader",
        "replay",
    ]);
    for (field, span) in not_here {
        let why = match field {
            "warmup" => "every checkpoint counts, as in MLPerf",
            "loader" | "replay" => "a checkpoint phase is a phase of its own kind",
            _ => "the ranks are the load: set them in [phase.checkpoint]",
        };
        cx.report(
            Some(span),
            &format!("{base}.{field}"),
            format!("expected no `{field}` in a checkpoint phase: {why}"),
        );
    }
    let duration = p
        .duration
        .as_ref()
        .and_then(|d| cx.positive_duration(d, &format!("{base}.duration")));
    let raw = c.get_ref();
    let ranks = cx
        .int(&raw.ranks, &format!("{cb}.ranks"), 1, MAX_RANKS)
        .unwrap_or(1) as u32;
    let size = cx
        .size(
            &raw.size,
            &format!("{cb}.size"),
            (u64::from(ranks), "a byte for each rank"),
            (
                MAX_OBJECT_SIZE.saturating_mul(u64::from(ranks)),
                "S3's largest object for each rank",
            ),
        )
        .unwrap_or(u64::from(ranks));
    let writes = raw
        .writes
        .as_ref()
        .and_then(|v| cx.int(v, &format!("{cb}.writes"), 0, MAX_CHECKPOINTS))
        .map_or(DEFAULT_WRITES, |v| v as u32);
    let reads = raw
        .reads
        .as_ref()
        .and_then(|v| cx.int(v, &format!("{cb}.reads"), 0, MAX_CHECKPOINTS))
        .map_or(DEFAULT_READS, |v| v as u32);
    if writes == 0
        && let Some(r) = &raw.writes
    {
        let why = if reads > 0 {
            "the reads read back what this phase wrote"
        } else {
            "a phase with neither writes nor reads does nothing"
        };
        cx.at(
            r,
            &format!("{cb}.writes"),
            format!("expected at least 1 checkpoint write: {why}"),
        );
    }
    let mut spec = CheckpointSpec {
        size,
        ranks,
        part_size: DEFAULT_PART_SIZE,
        writes,
        reads,
    };
    // The largest share decides the parts; one part needs no minimum.
    let share = spec.share(0);
    if let Some(ps) = &raw.part_size {
        let min = if share <= ps.get_ref().0 {
            (1, "")
        } else {
            (MIN_PART_SIZE, "S3's smallest part but the last")
        };
        if let Some(v) = cx.size(
            ps,
            &format!("{cb}.part_size"),
            min,
            (MAX_PART_SIZE, "S3's largest part"),
        ) {
            spec.part_size = v;
        }
    }
    let parts = share.div_ceil(spec.part_size);
    if parts > MAX_PARTS as u64 {
        let field = format!("{cb}.part_size");
        let msg = format!(
            "expected at most {MAX_PARTS} parts per rank (S3's limit), got {parts}: each rank writes {} in parts of {}; raise part_size to at least {}",
            ByteSize(share),
            ByteSize(spec.part_size),
            ByteSize(share.div_ceil(MAX_PARTS as u64))
        );
        match &raw.part_size {
            Some(ps) => cx.at(ps, &field, msg),
            None => cx.at(&raw.size, &field, msg),
        }
    }
    Phase {
        name,
        stop: Stop {
            duration,
            ops: None,
        },
        warmup: Duration::ZERO,
        stages: Vec::new(),
        mix: Vec::new(),
        loader: None,
        checkpoint: Some(spec),
        replay: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{BASE, ok, one, problems};
    use super::*;

    /// BASE with its phase replaced by a checkpoint phase (`name` on line 18).
    fn ckpt(body: &str) -> String {
        let head = BASE.split("[[phase]]").next().unwrap();
        format!("{head}[[phase]]\nname = \"ckpt\"\n{body}")
    }

    #[test]
    fn a_checkpoint_phase_maps_onto_the_plan() {
        let plan = ok(&ckpt(
            "[phase.checkpoint]\nsize = \"105GB\"\nranks = 8\npart_size = \"64MiB\"\n",
        ));
        let p = &plan.phases[0];
        assert!(p.mix.is_empty() && p.stages.is_empty() && p.loader.is_none());
        assert_eq!(p.stop.duration, None);
        let c = p.checkpoint.as_ref().unwrap();
        assert_eq!(
            *c,
            CheckpointSpec {
                size: 105_000_000_000,
                ranks: 8,
                part_size: 64 << 20,
                writes: 10,
                reads: 10,
            }
        );
        // 13.125 GB per rank in 64 MiB parts.
        assert_eq!(c.parts(0), 196);
        assert_eq!(c.parts_total(), 8 * 196);
        // Only writes, capped at a minute; a share smaller than a part may
        // use any part size.
        let plan = ok(&ckpt(
            "duration = \"1m\"\n[phase.checkpoint]\nsize = \"1MiB\"\nranks = 4\npart_size = \"1MiB\"\nreads = 0\n",
        ));
        let p = &plan.phases[0];
        assert_eq!(p.stop.duration, Some(Duration::from_secs(60)));
        assert_eq!(p.checkpoint.as_ref().unwrap().reads, 0);
    }

    /// The shipped checkpointing preset: Llama-3 8B's 8 ranks, 10 writes
    /// and 10 reads, its 105 GB scaled by 1/1000.
    #[test]
    fn the_mlperf_checkpoint_preset_is_llama3_8b_scaled() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios/mlperf-v3-checkpoint.toml");
        let plan = crate::scenario::load(&path).unwrap();
        let c = plan.phases[0].checkpoint.as_ref().unwrap();
        assert_eq!((c.ranks, c.writes, c.reads), (8, 10, 10));
        assert_eq!(c.size, 105_000_000_000 / 1000);
        assert_eq!(c.parts(0), 2);
        assert!(plan.description.as_deref().unwrap().contains("v3.0"));
    }

    #[test]
    fn checkpoint_mistakes_are_named() {
        let p = one(
            &ckpt("[phase.checkpoint]\nsize = \"1GiB\"\nranks = 2\npart_size = \"1MiB\"\n"),
            22,
            13,
            "phase[0].checkpoint.part_size",
        );
        assert!(
            p.message
                .contains("at least 5 MiB (S3's smallest part but the last)"),
            "{p}"
        );
        let p = one(
            &ckpt("[phase.checkpoint]\nsize = \"1TiB\"\nranks = 1\npart_size = \"5MiB\"\n"),
            22,
            13,
            "phase[0].checkpoint.part_size",
        );
        assert!(p.message.contains("at most 10000 parts per rank"), "{p}");
        let p = one(
            &ckpt("[phase.checkpoint]\nsize = \"1GiB\"\nranks = 2\nwrites = 0\n"),
            22,
            10,
            "phase[0].checkpoint.writes",
        );
        assert!(
            p.message
                .contains("the reads read back what this phase wrote"),
            "{p}"
        );
        let p = one(
            &ckpt("concurrency = 4\n[phase.checkpoint]\nsize = \"1GiB\"\nranks = 2\n"),
            19,
            15,
            "phase[0].concurrency",
        );
        assert!(p.message.contains("the ranks are the load"), "{p}");
        let p = one(
            &ckpt("[phase.checkpoint]\nsize = 3\nranks = 4\n"),
            20,
            8,
            "phase[0].checkpoint.size",
        );
        assert!(p.message.contains("a byte for each rank"), "{p}");
        let ps = problems(&ckpt(
            "[phase.checkpoint]\nsize = \"1GiB\"\nranks = 2\n[phase.loader]\naccelerators = 1\nbatch_size = 1\ncompute = \"1ms\"\n",
        ));
        assert!(
            ps.iter()
                .any(|p| p.field == "phase[0].loader" && p.message.contains("of its own kind")),
            "{ps:?}"
        );
    }

    fn spec(size: u64, ranks: u32, part_size: u64) -> CheckpointSpec {
        CheckpointSpec {
            size,
            ranks,
            part_size,
            writes: 3,
            reads: 5,
        }
    }

    #[test]
    fn shares_add_up_to_the_checkpoint() {
        let s = spec(100, 8, 5);
        let shares: Vec<u64> = (0..8).map(|r| s.share(r)).collect();
        assert_eq!(shares, [13, 13, 13, 13, 12, 12, 12, 12]);
        assert_eq!(shares.iter().sum::<u64>(), 100);
        assert_eq!(s.parts(0), 3);
        assert_eq!(s.write_requests(0), 5);
        assert_eq!(spec(10, 10, 1 << 20).parts(3), 1);
    }

    #[test]
    fn steps_write_then_read_back_in_order() {
        let s = spec(100, 2, 10);
        let steps: Vec<CheckpointStep> = s.steps().collect();
        use CheckpointStep::*;
        assert_eq!(
            steps,
            [
                Write(0),
                Write(1),
                Write(2),
                Read(0),
                Read(1),
                Read(2),
                Read(0),
                Read(1)
            ]
        );
        let mut k = String::new();
        s.key("ckpt", 7, 12, &mut k);
        assert_eq!(k, "ckpt/ckpt-0007/rank-00012");
    }

    #[test]
    fn rank_sets_split_ranks_over_shards() {
        let all: Vec<u32> = RankSet::ALL.ranks(5).collect();
        assert_eq!(all, [0, 1, 2, 3, 4]);
        let s1: Vec<u32> = RankSet {
            first: 1,
            stride: 3,
        }
        .ranks(8)
        .collect();
        assert_eq!(s1, [1, 4, 7]);
        assert_eq!(
            RankSet {
                first: 4,
                stride: 5
            }
            .ranks(3)
            .count(),
            0
        );
    }
}
