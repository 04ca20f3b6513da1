//! The result model: the JSON contract. `report`, `compare` and `merge` read
//! only this, so they work the same on a stored `result.json` as on a fresh
//! run. Bump `SCHEMA_VERSION` on any incompatible change and keep
//! `schema/result.schema.json` in step.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// 3: each phase says its role (`setup` or `measured`) and its load shape as
/// data (`shape`); `load` is a label rendered from it, never read back; each
/// failure group counts its HTTP statuses (`statuses`).
/// Version 2 results are read by converting them (`report::upgrade`).
///
/// 2: latency, ops/s and MiB/s describe successful operations only; failed
/// operations have their own counts and histograms per group (`failures`).
/// Version 1 mixed failures into the percentiles and is refused on read.
pub const SCHEMA_VERSION: u32 = 3;

/// One run of one scenario (or several shards merged).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunResult {
    /// Version of this JSON layout.
    pub schema_version: u32,
    /// Run id: UTC date, scenario and a short random id.
    pub run_id: String,
    /// Scenario name.
    pub scenario: String,
    /// Scenario file as given on the command line.
    pub scenario_file: String,
    /// s3bench version that produced the result.
    pub s3bench_version: String,
    /// aws-sdk-s3 version used.
    pub sdk_version: String,
    /// UTC start, RFC 3339.
    pub started_at: String,
    /// UTC end, RFC 3339.
    pub finished_at: String,
    /// Every object s3bench wrote lives under this key prefix.
    pub run_prefix: String,
    /// Client machine(s) that ran the load.
    pub hosts: Vec<HostInfo>,
    /// True when the targets were s3bench's embedded endpoint.
    pub embedded: bool,
    /// Injected latency/faults that shaped the numbers (empty = none): the
    /// numbers are then a model, not S3.
    pub injection: Vec<String>,
    /// Targets in scenario order.
    pub targets: Vec<TargetInfo>,
    /// Measured phases in order.
    pub phases: Vec<PhaseResult>,
    /// False when the run was interrupted (Ctrl-C, SIGTERM, the error policy); the phases hold what was measured.
    pub complete: bool,
    /// Why the run stopped early, if it did.
    pub interrupted: Option<String>,
    /// What the cleanup could not delete, if anything: the prefix, how many
    /// objects and the command that removes them.
    #[serde(default)]
    pub left_behind: Vec<LeftBehind>,
    /// What the client itself cost, to tell whether it was the bottleneck.
    pub client: ClientUsage,
    /// Number of shards merged into this result (1 for a single process).
    pub shards: u32,
    /// Warnings a reader must see (client CPU-bound, injection active, ...).
    pub warnings: Vec<String>,
    /// Pass/fail checks (the scenario's `[[check]]` tables and `--check`
    /// flags), judged on this result: one entry per check after wildcards
    /// expanded, in the order written. Empty without checks, and in results
    /// written before checks existed.
    #[serde(default)]
    pub checks: Vec<CheckResult>,
    /// USD per accelerator-hour (`--gpu-hour`, or the scenario's `[pricing]
    /// gpu_hour`): the report prices loader phases' idle accelerator time
    /// with it. Null when none was given.
    #[serde(default)]
    pub gpu_hour_usd: Option<f64>,
    /// The request logs written with `run --op-log`: one for a run, one per
    /// shard in a merged result (empty without `--op-log`).
    #[serde(default)]
    pub op_logs: Vec<OpLogInfo>,
}

/// One check judged on a result (`report::checks`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckResult {
    /// The check as written, normalised (`express/*/p99 < 10ms`): the same
    /// for every entry a wildcard expanded into. `report`, `compare` and
    /// `merge` judge it again from this text.
    pub expr: String,
    /// Where it was written: `scenario` (a `[[check]]` table) or `flag`
    /// (`--check`).
    pub source: String,
    /// The `[[check]]` table's `name`, if it has one.
    pub name: Option<String>,
    /// This entry, wildcards filled in (`express/get/p99 < 10ms`); equal to
    /// `expr` when it has none.
    pub instance: String,
    /// What the value covers: `phase mixed`, `phases a + b merged`, and for
    /// a ratio which targets (`express / standard, phase mixed`).
    pub covers: String,
    /// True when the value was measured and holds against the limit.
    pub passed: bool,
    /// The measured value in `unit`; null when the run did not produce the
    /// statistic (the check then fails, with `reason`).
    pub value: Option<f64>,
    /// The limit in `unit`.
    pub limit: f64,
    /// Unit of `value`, `limit` and `margin`: `us`, `fraction`, `ops/s`,
    /// `MiB/s`, `count` or `ratio`.
    pub unit: String,
    /// How far the value is on the passing side of the limit (negative: how
    /// far past it), in `unit`; null without a value.
    pub margin: Option<f64>,
    /// Why the check failed without a value.
    pub reason: Option<String>,
}

/// A request log (`run --op-log`): one CSV row per request (docs/op-log.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct OpLogInfo {
    /// The file, relative to the folder of the run (or shard) that wrote it.
    pub file: String,
    /// The shard that wrote it (None: a single-process run).
    #[serde(default)]
    pub shard: Option<u32>,
    /// Rows written: one per request sent.
    pub rows: u64,
    /// Rows recorded but not written (a write error, said in the warnings).
    #[serde(default)]
    pub lost: u64,
    /// Times an engine thread waited for the log's writer (the disk could
    /// not keep up), and for how long in all.
    #[serde(default)]
    pub stalls: u64,
    #[serde(default)]
    pub stalled_ms: f64,
}

/// Objects a run wrote and could not delete.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeftBehind {
    /// Target name.
    pub target: String,
    pub bucket: String,
    /// The key prefix they are under (`s3bench/<run id>/`).
    pub prefix: String,
    /// Objects found there when the cleanup gave up (a lower bound when
    /// listing failed too).
    pub objects: u64,
    /// Why the cleanup stopped.
    pub reason: String,
    /// The command that deletes them.
    pub command: String,
}

impl LeftBehind {
    /// "12 objects", or what is known when the count is not.
    pub fn count_text(&self) -> String {
        if self.objects > 0 {
            format!("{} objects", self.objects)
        } else {
            "an unknown number of objects (perhaps none: the listing that checks failed)".into()
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostInfo {
    /// Host name.
    pub hostname: String,
    /// `std::env::consts::OS` / `ARCH`.
    pub os: String,
    pub arch: String,
    /// Logical CPUs available to the process.
    pub cpus: usize,
    /// Shard index when run as an array job.
    pub shard: Option<u32>,
    /// This host's clock against the first target's endpoint (`Date`
    /// headers at preflight and at the start barrier); null for a
    /// single-process run, or when the endpoint sent no `Date`.
    #[serde(default)]
    pub clock_offset: Option<ClockOffset>,
    /// When this host's measured phases began, on its own clock (RFC 3339
    /// with milliseconds): after the start barrier or `--start-at`.
    #[serde(default)]
    pub measured_start_at: Option<String>,
    /// How long this shard waited at the start barrier, if it used one.
    #[serde(default)]
    pub barrier: Option<BarrierWait>,
}

/// A host's clock against an endpoint's: `offset_ms` > 0 means the
/// endpoint's clock is ahead. The true offset lies within
/// `offset_ms ± uncertainty_ms`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ClockOffset {
    pub offset_ms: f64,
    pub uncertainty_ms: f64,
    /// Responses with a `Date` header that went into the estimate.
    pub samples: u32,
}

impl ClockOffset {
    /// Both estimates bound the same offset: their intersection, or `other`
    /// when they are disjoint (a clock stepped in between).
    pub fn narrowed_by(self, other: ClockOffset) -> ClockOffset {
        let lo = (self.offset_ms - self.uncertainty_ms).max(other.offset_ms - other.uncertainty_ms);
        let hi = (self.offset_ms + self.uncertainty_ms).min(other.offset_ms + other.uncertainty_ms);
        if lo > hi {
            return other;
        }
        ClockOffset {
            offset_ms: (lo + hi) / 2.0,
            uncertainty_ms: (hi - lo) / 2.0,
            samples: self.samples + other.samples,
        }
    }
}

/// One shard's wait at the start barrier.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct BarrierWait {
    /// Seconds between writing its barrier object and seeing all shards'.
    pub waited_s: f64,
    /// The shard whose arrival (the latest) set the common start.
    pub last_arrival: u32,
    /// Seconds this shard started after the common start (0: on time).
    pub late_s: f64,
}

/// `TargetInfo::kind` of S3 Express One Zone directory buckets.
pub const KIND_DIRECTORY: &str = "directory";
/// `TargetInfo::kind` of S3 General Purpose buckets.
pub const KIND_GENERAL_PURPOSE: &str = "general-purpose";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TargetInfo {
    /// Name from `[targets.NAME]`.
    pub name: String,
    /// `general-purpose` or `directory`.
    pub kind: String,
    pub bucket: String,
    pub region: String,
    /// Endpoint override, if any (never carries credentials).
    pub endpoint: Option<String>,
    /// How GET, HEAD, PUT and DELETE were sent: `direct` (s3bench's own
    /// signed HTTP/1.1 requests; other operations via aws-sdk-s3) or
    /// `aws-sdk-s3` (everything through the SDK).
    #[serde(default = "sdk_path")]
    pub request_path: String,
    /// `[client] checksum`: the integrity checksum every upload carries and
    /// whole-object downloads are checked against (`none`, `crc32`,
    /// `crc32c`, `crc64nvme`, `sha256`).
    #[serde(default = "no_checksum")]
    pub checksum: String,
    /// With a checksum set: GETs of whole objects whose body was checked
    /// against the checksum the response carried (mismatches included).
    #[serde(default)]
    pub checksum_checked: u64,
    /// With a checksum set: GETs of whole objects that came without a
    /// checksum the client could check (the server returns none for them),
    /// so they were not checked.
    #[serde(default)]
    pub checksum_unchecked: u64,
    /// Requests the preflight checks sent before the load, by S3 operation
    /// name (`ListObjectsV2`, `HeadBucket`, `PutObject`, `GetObject`,
    /// `DeleteObject`, `CreateSession`): counted apart from every phase, so
    /// an endpoint's own counts equal the phases' plus these.
    #[serde(default)]
    pub preflight_requests: BTreeMap<String, u64>,
    /// Requests the audits sent after the phases' rounds (`HeadObject`,
    /// `CreateSession`), counted apart like the preflight's: the endpoint's
    /// own counts are the phases' plus the preflight's plus these.
    #[serde(default)]
    pub audit_requests: BTreeMap<String, u64>,
}

fn sdk_path() -> String {
    "aws-sdk-s3".into()
}

fn no_checksum() -> String {
    "none".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PhaseResult {
    /// Phase name from the scenario, or the name of the run's own stage
    /// (`prepare`, `cleanup`), which no scenario phase may take.
    pub name: String,
    /// Whether this is the run's own setup or a measured phase.
    pub role: PhaseRole,
    /// The load the phase sent, as data.
    pub shape: LoadShape,
    /// Human description of the load, rendered from `shape` when the result
    /// was written (e.g. `closed loop, 16 workers`). For people only: never
    /// parse it, read `shape`.
    pub load: String,
    /// Rounds per target.
    pub rounds: u32,
    /// Why this phase ended early (Ctrl-C, SIGTERM, the error policy), if it
    /// did: its numbers cover only what ran.
    #[serde(default)]
    pub interrupted: Option<String>,
    /// One entry per target, in scenario order.
    pub targets: Vec<TargetPhaseResult>,
}

impl PhaseResult {
    /// A phase of the scenario (not the run's own setup).
    pub fn is_measured(&self) -> bool {
        self.role == PhaseRole::Measured
    }
}

/// What a phase is to the run.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PhaseRole {
    /// The run's own work around the measurement: writing the data set
    /// (`prepare`) and deleting what the run wrote (`cleanup`). Reported
    /// in one compact table and in the bill; never headlined, plotted or
    /// compared.
    Setup,
    /// A phase of the scenario: the load it asks for, measured. Dataloader
    /// phases (`[phase.loader]`) are measured phases too.
    Measured,
}

/// The load a phase sent, as data: what the engine was told to do.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LoadShape {
    /// Stages run back to back (a plain phase has one), each a closed loop
    /// of workers or an open loop at a fixed arrival rate; a step ramp is
    /// several stages.
    Stages {
        stages: Vec<StageShape>,
        /// Warm-up at the start of each round, seconds, recorded apart
        /// (`warmup`); null when not recorded (converted from schema 2).
        warmup_s: Option<f64>,
        /// The phase stops (per target and round) after this many seconds
        /// or operations, whichever comes first; both null: the stages'
        /// durations end it (or, converted from schema 2, not recorded).
        stop_after_s: Option<f64>,
        stop_after_ops: Option<u64>,
        /// Directory-bucket ops that General Purpose targets ran as a
        /// stand-in (`gp_equivalent`), recorded under the op's name.
        #[serde(default)]
        gp_stand_ins: Vec<GpStandIn>,
        /// The op mix as configured, in scenario order; empty in results
        /// written before it was recorded.
        #[serde(default)]
        mix: Vec<MixOp>,
    },
    /// Simulated accelerators of a training job (`[phase.loader]`), each
    /// reading batches and computing on them.
    Dataloader {
        /// Accelerators simulated; with `search`, the upper bound of a
        /// search for the most that keep `au_target`.
        accelerators: u32,
        search: bool,
        /// Samples per batch.
        batch_size: u32,
        /// A sample is a record of this many bytes read with a ranged GET;
        /// null: a whole object.
        record_bytes: Option<u64>,
        /// Simulated compute per batch, seconds.
        compute_s: f64,
        /// Batches read ahead per accelerator.
        prefetch: u32,
        /// Reads in flight per accelerator.
        read_concurrency: u32,
        /// Passes over the data set that end the phase (null: its duration).
        epochs: Option<u32>,
        /// AU pass mark, 0..1.
        au_target: f64,
        /// Seconds per round (per search step); null when epochs alone end it.
        duration_s: Option<f64>,
    },
    /// Ranks writing and reading back a checkpoint (`[phase.checkpoint]`):
    /// each writes its share as one multipart upload, all at once, `writes`
    /// times, then reads it back with ranged GETs, `reads` times.
    Checkpoint {
        /// Writers (all shards together).
        ranks: u64,
        /// Bytes of one whole checkpoint.
        size_bytes: u64,
        /// Multipart part size, and the range size of the reads.
        part_size: u64,
        /// Parts (and ranged reads) of one rank in flight at once.
        parts_in_flight: u32,
        writes: u32,
        reads: u32,
        /// No checkpoint starts after this many seconds per target and
        /// round (null: none).
        stop_after_s: Option<f64>,
    },
    /// A recorded schedule of requests replayed open loop (`[phase.replay]`,
    /// written by `s3bench import --replay`).
    Replay {
        /// Requests in the schedule (per target and round).
        requests: u64,
        /// The schedule's file name.
        file: String,
        /// Replay speed: 2 = twice as fast as logged.
        speed: f64,
        /// How requests logged at one instant were spread: `even` or `poisson`.
        spread: String,
        /// Requests in flight at most per target.
        max_in_flight: u64,
        /// The phase stops (per target and round) after this many seconds
        /// or operations, whichever comes first.
        stop_after_s: Option<f64>,
        stop_after_ops: Option<u64>,
    },
    /// The run writing its data set before the measured phases.
    Prepare {
        /// Objects of the data set.
        objects: u64,
        /// PUTs in flight at once.
        concurrency: u64,
    },
    /// The run deleting what it wrote: ListObjectsV2 pages of the run
    /// prefix and DeleteObjects requests (a POST of up to 1,000 keys,
    /// recorded as `delete`).
    Cleanup,
    /// Not known: a result converted from schema version 2 whose label this
    /// version does not read; `load` still describes it.
    Unknown,
}

/// One op of a phase's mix, as the scenario configured it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MixOp {
    /// The op's key in `ops` (get, ranged_get, put, multipart_put, ...).
    pub op: String,
    /// Its weight; its share of the mix is weight / the weights' sum.
    pub weight: u32,
    /// The sizes it was configured with, for people: "64 KiB - 1 MiB" (a
    /// GET of the data set), "4 MiB" (a ranged GET's range, a PUT),
    /// "32 MiB in 8 MiB parts"; null for an op that moves no body (HEAD,
    /// LIST, DELETE).
    #[serde(default)]
    pub size: Option<String>,
}

/// One stage of a [`LoadShape::Stages`] phase.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(tag = "loop", rename_all = "snake_case")]
pub enum StageShape {
    /// `concurrency` workers, each sending its next request when the last
    /// returns.
    Closed {
        concurrency: u64,
        /// Seconds; null: until the phase stops.
        duration_s: Option<f64>,
    },
    /// A fixed arrival rate, requests per second, with at most
    /// `max_in_flight` requests outstanding (later ones start late).
    Open {
        rate: f64,
        max_in_flight: u64,
        /// Seconds; null: until the phase stops.
        duration_s: Option<f64>,
    },
}

impl StageShape {
    /// Seconds this stage lasts (None: until the phase stops).
    pub fn duration_s(&self) -> Option<f64> {
        match *self {
            StageShape::Closed { duration_s, .. } | StageShape::Open { duration_s, .. } => {
                duration_s
            }
        }
    }

    /// The offered rate of an open-loop stage.
    pub fn rate(&self) -> Option<f64> {
        match *self {
            StageShape::Open { rate, .. } => Some(rate),
            StageShape::Closed { .. } => None,
        }
    }
}

/// What a General Purpose target does instead of a directory-bucket op.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GpStandIn {
    /// `append` is a PUT of the whole object at its new size.
    AppendRewrite,
    /// `rename` is CopyObject to the final key, then DeleteObject.
    RenameCopyDelete,
}

impl LoadShape {
    /// The human label of this shape (what `PhaseResult::load` holds).
    pub fn label(&self) -> String {
        let secs =
            |s: f64| crate::units::format_duration(std::time::Duration::from_secs_f64(s.max(0.0)));
        match self {
            LoadShape::Stages {
                stages,
                gp_stand_ins,
                ..
            } => {
                let one = |s: &StageShape| match *s {
                    StageShape::Closed { concurrency, .. } => {
                        format!("closed loop, {concurrency} workers")
                    }
                    StageShape::Open {
                        rate,
                        max_in_flight,
                        ..
                    } => format!("open loop, {rate} req/s, at most {max_in_flight} in flight"),
                };
                let mut label = match stages.as_slice() {
                    [s] => one(s),
                    stages => {
                        let parts: Vec<String> = stages
                            .iter()
                            .map(|s| match s.duration_s() {
                                Some(d) => format!("{} for {}", one(s), secs(d)),
                                None => one(s),
                            })
                            .collect();
                        format!("stages: {}", parts.join("; "))
                    }
                };
                for s in gp_stand_ins {
                    label.push_str("; on General Purpose targets ");
                    label.push_str(match s {
                        GpStandIn::AppendRewrite => "append is a full rewrite of the object",
                        GpStandIn::RenameCopyDelete => "rename is CopyObject + DeleteObject",
                    });
                }
                label
            }
            LoadShape::Dataloader {
                accelerators,
                search,
                batch_size,
                record_bytes,
                compute_s,
                prefetch,
                read_concurrency,
                epochs,
                au_target,
                ..
            } => {
                let who = if *search {
                    format!(
                        "search for the most simulated accelerators (up to {accelerators}) at AU >= {}%",
                        au_target * 100.0
                    )
                } else {
                    format!("{accelerators} simulated accelerators")
                };
                let sample = match record_bytes {
                    None => "whole objects".to_string(),
                    Some(size) => format!(
                        "{} records of the shards",
                        crate::units::format_bytes(*size)
                    ),
                };
                let stop = match epochs {
                    Some(e) => format!(", {e} epochs"),
                    None => String::new(),
                };
                format!(
                    "loader: {who}, batches of {batch_size} samples ({sample}), {} compute per batch, {prefetch} batches read ahead, {read_concurrency} reads in flight per accelerator{stop}",
                    secs(*compute_s)
                )
            }
            LoadShape::Checkpoint {
                ranks,
                size_bytes,
                part_size,
                parts_in_flight,
                writes,
                reads,
                ..
            } => {
                let bytes = crate::units::format_bytes;
                format!(
                    "checkpoint: {ranks} ranks each write their share of a {} checkpoint (multipart, parts of {}, {parts_in_flight} in flight), {writes} times, then read it back with ranged GETs, {reads} times",
                    bytes(*size_bytes),
                    bytes(*part_size),
                )
            }
            LoadShape::Replay {
                requests,
                file,
                speed,
                spread,
                max_in_flight,
                ..
            } => format!(
                "replay of {requests} logged requests from {file} at {speed}x speed ({spread} spread), at most {max_in_flight} in flight"
            ),
            LoadShape::Prepare {
                objects,
                concurrency,
            } => format!("write {objects} objects, {concurrency} at once"),
            LoadShape::Cleanup => "list and delete everything under the run prefix".into(),
            LoadShape::Unknown => "unknown (not recorded)".into(),
        }
    }

    /// The offered rate over time of a phase with an open-loop stage: each
    /// stage's rate (None for a closed-loop stage) and length in seconds
    /// (None: until the phase stops). None when no stage is open loop.
    pub fn offered_schedule(&self) -> Option<Vec<(Option<f64>, Option<f64>)>> {
        let LoadShape::Stages { stages, .. } = self else {
            return None;
        };
        stages
            .iter()
            .any(|s| s.rate().is_some())
            .then(|| stages.iter().map(|s| (s.rate(), s.duration_s())).collect())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TargetPhaseResult {
    /// Target name.
    pub target: String,
    /// Measured wall time summed over rounds (warm-up excluded), seconds.
    pub elapsed_s: f64,
    /// Per operation (keys: get, ranged_get, put, multipart_put, head, list,
    /// delete, append, rename, conditional_put, copy).
    pub ops: BTreeMap<String, OpResult>,
    /// Warm-up, recorded separately and excluded from `ops`.
    pub warmup: BTreeMap<String, OpResult>,
    /// Directory-bucket CreateSession calls seen during this phase.
    pub sessions: SessionResult,
    /// Per-round headline numbers, for the uncertainty of comparisons.
    pub rounds: Vec<RoundResult>,
    /// One row per second per op.
    pub timeseries: Vec<SecondRow>,
    /// Per S3 operation (GetObject, PutObject, ...): every attempt, retries
    /// included. Recorded only when retries are enabled (`max_attempts > 1`);
    /// then the endpoint's request counts match these, not `ops.*.requests`.
    #[serde(default)]
    pub attempts: BTreeMap<String, AttemptResult>,
    /// Dataloader phases only: what the simulated accelerators measured (AU,
    /// GPU idle time, stall per batch, the search's steps).
    #[serde(default)]
    pub loader: Option<DataloaderResult>,
    /// Checkpoint phases only: MLPerf's duration (slowest rank) and
    /// throughput (lowest rank) of each checkpoint written and read.
    #[serde(default)]
    pub checkpoint: Option<CheckpointResult>,
    /// What the audits of this phase's ops read back after each round and
    /// found: whether the endpoint did what it answered success to.
    #[serde(default)]
    pub audits: Vec<OpAudit>,
    /// Open-loop and replay phases: how late requests started against when
    /// they were due, measured and warm-up alike (a client that could not
    /// keep up with the schedule shows here).
    #[serde(default)]
    pub lateness: Option<Lateness>,
    /// Throttled requests (503 SlowDown, 429) by key prefix and second:
    /// where on the key space the bucket pushed back. Null when nothing was
    /// throttled (and in results of versions that did not record it).
    #[serde(default)]
    pub throttled_by_prefix: Option<PrefixThrottling>,
}

/// Throttled requests by key prefix (see `TargetPhaseResult::throttled_by_prefix`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PrefixThrottling {
    /// How keys were grouped into prefixes, in words (from the data set's
    /// key template): e.g. "data set keys (`{hash:4}/{index:06}.bin`) by
    /// the first hex digit of `{hash:4}`, below the run prefix; ...".
    pub granularity: String,
    /// One row per round, second and prefix with at least one throttled
    /// request, in that order. Prefixes are below the run prefix; at most 64
    /// distinct ones per phase and target are kept, the rest count under
    /// `(other)`.
    pub rows: Vec<PrefixRow>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PrefixRow {
    /// Round number, from 1.
    pub round: u32,
    /// Seconds since the measured part of the round started (as `timeseries`).
    pub second: u32,
    /// The key prefix, below the run prefix.
    pub prefix: String,
    /// Throttled requests for keys under it in this second.
    pub throttled: u64,
}

/// A request that started more than this after it was due is late (1 ms).
pub const LATE_NS: u64 = 1_000_000;

/// How late scheduled requests started against when they were due.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Lateness {
    /// Requests with a due time.
    pub count: u64,
    /// Of them, started more than 1 ms after they were due.
    pub late: u64,
    /// Start minus due time, microseconds (0 = on time).
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    /// The delays, ns (HdrHistogram V2 + DEFLATE, base64), for merging shards.
    pub histogram: String,
}

impl Lateness {
    /// From the histogram of the delays (ns).
    pub fn from_histogram(h: &hdrhistogram::Histogram<u64>) -> Lateness {
        let us = |q: f64| h.value_at_quantile(q) as f64 / 1e3;
        Lateness {
            count: h.len(),
            late: h.count_between(LATE_NS + 1, u64::MAX),
            p50_us: us(0.5),
            p99_us: us(0.99),
            max_us: h.max() as f64 / 1e3,
            histogram: crate::stats::codec::encode(h),
        }
    }
}

// The checkpoint's part of the contract lives with its rendering and merge.
pub use super::checkpoint::{CheckpointResult, CheckpointStepResult, CheckpointSummary};
// The audits' part of the contract lives with their rendering and merge.
pub use super::audit::{AuditCheck, AuditVerdict, OpAudit};

// The loader's part of the contract lives with its rendering and merge.
pub use super::dataloader::{
    DataloaderMeasured, DataloaderResult, DataloaderSearch, DataloaderStep,
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AttemptResult {
    /// Attempts sent (first attempts and retries).
    pub count: u64,
    /// Attempts after the first of their operation.
    pub retries: u64,
    /// Latency of single attempts in microseconds.
    pub latency_us: LatencySummary,
    /// Serialized histogram of attempt latency, ns.
    pub histogram: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct OpResult {
    /// Completed operations, successful or not (attempted).
    pub count: u64,
    /// Successful operations (`count - errors`).
    pub successes: u64,
    /// Failed operations.
    pub errors: u64,
    /// Failures by kind: `503 SlowDown`, `timeout`, `connection`, `dispatch: ...`.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Failed operations by group (`throttled`: 503 SlowDown and 429; `http`:
    /// other error responses; `transport`: connection, timeout, reset;
    /// `conditional`: 412, 409 ConditionalRequestConflict and 400
    /// InvalidWriteOffset, the outcomes of conditional writes and appends
    /// that lost a race, which are no failure of the tool; `integrity`: a
    /// whole answer whose body does not match the checksum it came with),
    /// each with its own latency, so "General Purpose's 503s took p50 3 ms"
    /// is visible without touching the success percentiles.
    #[serde(default)]
    pub failures: BTreeMap<String, FailureResult>,
    /// HTTP requests sent by successful and failed operations alike
    /// (multipart PUT sends several per op); excludes CreateSession. This is
    /// what the endpoint counts.
    pub requests: u64,
    /// Payload bytes of successful operations (body bytes read or written).
    pub bytes: u64,
    /// Successful operations per second of measured time.
    pub ops_per_sec: f64,
    /// Completed operations per second, failures included.
    pub attempted_ops_per_sec: f64,
    /// Payload MiB per second of successful operations.
    pub mib_per_sec: f64,
    /// Requests that started later than scheduled because the in-flight cap was reached (open loop).
    pub late_starts: u64,
    /// Operations that overlapped a CreateSession on the same client (waited behind a session refresh).
    pub behind_session: u64,
    /// Total latency of successful operations in microseconds: from when the request was due (open loop) or sent (closed loop) to the last byte.
    pub latency_us: LatencySummary,
    /// Time to first byte in microseconds (GET-like ops only).
    pub ttfb_us: Option<LatencySummary>,
    /// Service time (sent -> done) in microseconds; differs from latency under open-loop pacing.
    pub service_us: Option<LatencySummary>,
    /// Serialized histograms (HdrHistogram V2 + DEFLATE, base64; values in nanoseconds).
    pub histograms: HistogramBlobs,
    /// The verdict of this op's audits on this target (the worst of its
    /// checks; null: not audited). `violated`: the endpoint answered
    /// success without doing what these operations ask, so these numbers
    /// time answers, not the operation; the target's `audits` say what was
    /// found.
    #[serde(default)]
    pub audit: Option<AuditVerdict>,
}

/// Failed operations of one group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FailureResult {
    /// Failed operations in this group.
    pub count: u64,
    /// How many of them were answered with each HTTP status (`throttled`:
    /// 503 and 429; none for `transport`, which had no answer).
    #[serde(default)]
    pub statuses: BTreeMap<u16, u64>,
    /// How long they took until they failed, microseconds.
    pub latency_us: LatencySummary,
    /// Serialized histogram of that latency (V2 + DEFLATE, base64; ns).
    pub histogram: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct HistogramBlobs {
    /// Total latency, ns.
    pub latency: String,
    /// Time to first byte, ns.
    pub ttfb: Option<String>,
    /// Service time, ns.
    pub service: Option<String>,
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct LatencySummary {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SessionResult {
    /// CreateSession requests sent (by the SDK's session cache).
    pub count: u64,
    /// Failed CreateSession requests.
    pub errors: u64,
    /// CreateSession latency in microseconds (None when count is 0).
    pub latency_us: Option<LatencySummary>,
    /// Serialized histogram of CreateSession latency, ns.
    pub histogram: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoundResult {
    /// Round number, from 1.
    pub round: u32,
    /// Measured seconds in this round.
    pub elapsed_s: f64,
    /// Per op: headline numbers of this round.
    pub ops: BTreeMap<String, RoundOp>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoundOp {
    /// Completed operations, successful or not.
    pub count: u64,
    pub errors: u64,
    /// Successful operations per second.
    pub ops_per_sec: f64,
    /// Success latency, microseconds.
    pub p50: f64,
    /// Success latency, microseconds.
    pub p99: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SecondRow {
    /// Round number, from 1.
    pub round: u32,
    /// Seconds since the measured part of the round started (warm-up excluded).
    pub second: u32,
    /// Operation key.
    pub op: String,
    /// Operations completed in this second, successful or not.
    pub count: u64,
    /// Failed operations in this second.
    pub errors: u64,
    /// Throttled failures (503 SlowDown, 429) in this second.
    pub throttled: u64,
    /// Payload bytes of the successful operations.
    pub bytes: u64,
    /// Success latency, microseconds (0 when nothing succeeded).
    pub p50: f64,
    /// Success latency, microseconds (0 when nothing succeeded).
    pub p99: f64,
    /// Most requests in flight at once during this second (all ops).
    pub in_flight: u64,
    /// Optional: this second's latency histogram (same encoding as
    /// `OpResult.histograms.latency`, ns), for the `.hlog` interval logs.
    /// Absent in results from engines that do not record it.
    #[serde(default)]
    pub histogram: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ClientUsage {
    /// CPU seconds (user + system) the s3bench client used during measured
    /// phases: the process's, less the in-process embedded endpoint's
    /// (`endpoint_cpu_s`).
    pub cpu_s: f64,
    /// The client's CPU microseconds per HTTP request (the in-process
    /// embedded endpoint's is `endpoint_cpu_us_per_request`).
    pub cpu_us_per_request: f64,
    /// CPU seconds the in-process embedded endpoint (`--embedded`) used
    /// during measured phases, apart from the client's; None when the
    /// endpoint ran elsewhere (AWS, `s3bench serve`, MinIO) or in results
    /// written before this field.
    #[serde(default)]
    pub endpoint_cpu_s: Option<f64>,
    /// The in-process embedded endpoint's CPU microseconds per request.
    #[serde(default)]
    pub endpoint_cpu_us_per_request: Option<f64>,
    /// Host CPU busy percentage during measured phases (all processes), if known.
    pub host_cpu_percent: Option<f64>,
    /// Worker threads (one current-thread runtime each).
    pub threads: usize,
}
