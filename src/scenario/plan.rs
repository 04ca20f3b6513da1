//! The validated plan: what the engine runs. Built from the raw TOML model in
//! `raw.rs` by `validate`; every value here has already been checked, so the
//! engine never has to second-guess it.

use std::path::PathBuf;
use std::time::Duration;

/// A scenario after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Scenario name: the `name` field, or the file stem.
    pub name: String,
    /// The file it came from (for the report header).
    pub source: PathBuf,
    pub description: Option<String>,
    /// Targets in file order.
    pub targets: Vec<TargetSpec>,
    pub dataset: Dataset,
    /// Write the data set before the measured phases (default true).
    pub prepare: Prepare,
    /// Measured phases, in order.
    pub phases: Vec<Phase>,
    /// Delete everything under the run prefix at the end (default true).
    pub cleanup: bool,
    pub client: ClientSettings,
    /// Alternating rounds per target (A B A B ...); default 2.
    pub rounds: u32,
    /// Seed for sizes, key hashes and op choice, so every target sees the same workload.
    pub seed: u64,
    /// `[[check]]` tables: pass/fail checks judged on the result, their
    /// names already checked against the targets, phases and mixes.
    pub checks: Vec<CheckSpec>,
    /// `[pricing]`: prices the report uses beside the S3 price list.
    pub pricing: Pricing,
}

/// The scenario's `[pricing]` table.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pricing {
    /// USD per accelerator-hour (`gpu_hour`): what idle accelerator time
    /// costs in the report (`run --gpu-hour` overrides it).
    pub gpu_hour: Option<f64>,
}

/// A GPU-hour price given as a flag (`--gpu-hour`): US dollars above zero,
/// the rule `[pricing] gpu_hour` follows too.
pub fn check_gpu_hour(usd: f64) -> Result<(), String> {
    if usd.is_finite() && usd > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "--gpu-hour must be US dollars per accelerator-hour above 0 (e.g. 2.50), got {usd}"
        ))
    }
}

pub use crate::check::CheckSpec;

/// A target's bucket kind (the shared S3 domain type).
pub use crate::s3::BucketKind as TargetKind;

#[derive(Debug, Clone, PartialEq)]
pub struct TargetSpec {
    /// The table name under `[targets.NAME]`.
    pub name: String,
    pub kind: TargetKind,
    pub bucket: String,
    pub region: String,
    /// Endpoint override (MinIO, a local server); None = AWS.
    pub endpoint: Option<String>,
    /// aws-config profile name.
    pub profile: Option<String>,
    /// Path-style addressing (MinIO). Ignored by the SDK for `--x-s3` names.
    pub path_style: bool,
    /// Connect to this address whatever the endpoint's host names resolve
    /// to (like curl's `--resolve`); Host, TLS name and signature keep the name.
    pub resolve: Option<std::net::IpAddr>,
    /// CA certificates (PEM) this target's TLS trusts instead of the
    /// system's store, for an endpoint with a private CA.
    pub ca_file: Option<CaFile>,
    /// Fault and latency injection applied by the embedded endpoint to this
    /// target's bucket; ignored against any other endpoint.
    pub embedded: Option<Injection>,
}

pub use crate::s3::inject::{BucketLimit, Injection, LatencyDist, PrefixLimit};

/// A target's `ca_file`, read and checked when the scenario is validated.
#[derive(Debug, Clone, PartialEq)]
pub struct CaFile {
    /// The path as resolved (relative paths against the scenario's folder).
    pub path: std::path::PathBuf,
    /// The file's PEM text: one or more CERTIFICATE blocks.
    pub pem: std::sync::Arc<[u8]>,
    /// How many certificates it holds.
    pub certificates: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Number of objects the prepare phase writes (and GET/HEAD read).
    pub objects: u64,
    pub size: SizeDist,
    /// Key layout below the run prefix.
    pub key: KeyTemplate,
}

/// Object size distribution; the size of object `i` is a pure function of
/// (seed, i), so every target holds the same data set.
#[derive(Debug, Clone, PartialEq)]
pub enum SizeDist {
    Fixed(u64),
    /// (size, weight) pairs; weights > 0.
    Weighted(Vec<(u64, u32)>),
    /// Uniform in [min, max].
    Range {
        min: u64,
        max: u64,
    },
}

impl SizeDist {
    /// Size for a uniform random draw `u` in [0, 1).
    pub fn pick(&self, u: f64) -> u64 {
        match self {
            SizeDist::Fixed(n) => *n,
            SizeDist::Weighted(items) => {
                let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
                let mut x = (u * total as f64) as u64;
                for (size, w) in items {
                    let w = u64::from(*w);
                    if x < w {
                        return *size;
                    }
                    x -= w;
                }
                items.last().map(|(s, _)| *s).unwrap_or(0)
            }
            SizeDist::Range { min, max } => min + ((max - min + 1) as f64 * u) as u64,
        }
    }

    pub fn max(&self) -> u64 {
        match self {
            SizeDist::Fixed(n) => *n,
            SizeDist::Weighted(items) => items.iter().map(|(s, _)| *s).max().unwrap_or(0),
            SizeDist::Range { max, .. } => *max,
        }
    }
}

/// A parsed key template such as `"{hash:4}/shards/{index:06}.tar"`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyTemplate {
    pub source: String,
    pub parts: Vec<KeyPart>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum KeyPart {
    Literal(String),
    /// Object index, zero-padded to `width` (0 = no padding).
    Index {
        width: usize,
    },
    /// `width` lowercase hex digits of a hash of the index (high cardinality).
    Hash {
        width: usize,
    },
    /// The run's UTC start date: `{date}` = YYYY/MM/DD, or `{yyyy}`, `{mm}`, `{dd}`.
    Date(DatePart),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatePart {
    Full,
    Year,
    Month,
    Day,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prepare {
    pub enabled: bool,
    /// Concurrent PUTs while writing the data set.
    pub concurrency: usize,
    /// Objects at or above this size are written with multipart upload.
    pub multipart_threshold: u64,
    pub part_size: u64,
}

/// The run's own stages around the measured phases. Their names appear in
/// the run's output next to the phases' (the result's setup phases, the
/// progress lines, the probe object), so no scenario phase may take one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStage {
    /// The checks before anything is written (`doctor`'s, in the run's scope).
    Preflight,
    /// Writing the data set.
    Prepare,
    /// Deleting everything under the run prefix.
    Cleanup,
}

impl RunStage {
    pub const ALL: [RunStage; 3] = [RunStage::Preflight, RunStage::Prepare, RunStage::Cleanup];

    /// The stage's name in the run's output.
    pub const fn name(self) -> &'static str {
        match self {
            RunStage::Preflight => "preflight",
            RunStage::Prepare => "prepare",
            RunStage::Cleanup => "cleanup",
        }
    }

    /// The stage a phase name would be mistaken for (case ignored).
    pub fn named(name: &str) -> Option<RunStage> {
        Self::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub name: String,
    pub stop: Stop,
    /// Recorded separately and excluded from the headline numbers.
    pub warmup: Duration,
    /// One or more stages run back to back (a plain phase has one).
    pub stages: Vec<Stage>,
    pub mix: Vec<WeightedOp>,
    /// A loader phase (`[phase.loader]`): simulated accelerators instead of
    /// stages and a mix (both empty then).
    pub loader: Option<DataloaderSpec>,
    /// A checkpoint phase (`[phase.checkpoint]`): ranks writing and reading
    /// a checkpoint instead of stages and a mix (both empty then).
    pub checkpoint: Option<CheckpointSpec>,
    /// A replay phase (`[phase.replay]`): a recorded schedule of requests
    /// instead of a mix (one open-loop stage gives its average rate).
    pub replay: Option<ReplaySpec>,
}

pub use super::checkpoint::{CheckpointSpec, CheckpointStep, RankSet};
pub use super::dataloader::{Accelerators, DataloaderSpec, SampleUnit};
pub use super::replay::{ReplayOp, ReplayRow, ReplaySpec, Spread};

/// When a phase (per target, per round) ends: whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stop {
    pub duration: Option<Duration>,
    pub ops: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub load: Load,
    /// None = the phase's stop condition alone ends it (only for single-stage phases).
    pub duration: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// N workers, each sends its next request when the last returns.
    Closed { concurrency: usize },
    /// Fixed arrival rate in requests per second; latency from when each was due.
    Open { rate: f64, max_in_flight: usize },
}

#[derive(Debug, Clone, PartialEq)]
pub struct WeightedOp {
    pub op: OpSpec,
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OpSpec {
    Get,
    RangedGet {
        size: u64,
        pattern: RangePattern,
    },
    /// PUT of a new object under the run's scratch prefix; `size` None = data set sizes.
    Put {
        size: Option<SizeDist>,
    },
    MultipartPut {
        size: u64,
        part_size: u64,
    },
    Head,
    /// One ListObjectsV2 page per op, continuing where the last one stopped.
    List {
        prefix: Option<String>,
        page_size: u32,
        delimiter: bool,
    },
    /// Deletes an object this worker PUT earlier in the phase (oldest first).
    Delete,
    /// Appends `size` bytes to an object this worker owns, at offset = its
    /// current size; after `appends` appends (or when the next would pass
    /// `object_size`) the worker starts a new object.
    Append {
        size: u64,
        end: AppendEnd,
        /// What a General Purpose target does instead (None: refused by validate).
        gp: Option<GpEquivalent>,
    },
    /// The checkpoint commit: PUT `size` bytes under a temporary key
    /// (recorded as a `put`), then RenameObject it into its final key
    /// (recorded as this op).
    Rename {
        size: SizeDist,
        gp: Option<GpEquivalent>,
    },
    /// A conditional PutObject on a key shared by `contention` workers.
    ConditionalPut {
        size: u64,
        mode: ConditionalMode,
        contention: u32,
    },
    /// CopyObject of a random object of the data set to a new key under the run prefix.
    Copy,
    /// GET of one of the `window` newest objects of the data set
    /// (`newest = N`): those the engine thread's `key = "dataset"` PUTs
    /// wrote last on this target, or the data set's last `window` before it
    /// wrote any.
    GetNewest {
        window: u64,
    },
    /// PUT of the data set's next object (`key = "dataset"`): index
    /// `objects`, `objects + 1`, ... in the order the PUTs are sent, named by
    /// the key template and sized like the data set, so the data set grows
    /// in time order.
    PutNext,
}

/// When an appended object is complete and the next append starts a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendEnd {
    /// After this many appends (the first creates the object).
    Count(u32),
    /// When the next append would make the object larger than this.
    Size(u64),
}

/// The General Purpose stand-in for a directory-bucket operation, asked for
/// explicitly with `gp_equivalent`, so a side-by-side run compares what a
/// GP bucket user would do instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpEquivalent {
    /// append: PUT the whole object again at its new size.
    Rewrite,
    /// rename: CopyObject to the final key, then DeleteObject of the temporary one.
    CopyDelete,
}

/// Which condition a conditional PUT carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionalMode {
    /// `If-None-Match: *`: each key is created once; the workers sharing it
    /// race for it and the losers get 412 (or 409); then they move on to the next key.
    CreateOnly,
    /// `If-Match: <etag>`: read-modify-write of one shared key; a worker
    /// whose ETag is stale gets 412 and reads it again (HEAD) before its next try.
    CompareAndSwap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangePattern {
    Random,
    Sequential,
}

pub use crate::s3::OpKind;

impl OpSpec {
    pub fn kind(&self) -> OpKind {
        match self {
            OpSpec::Get => OpKind::Get,
            OpSpec::RangedGet { .. } => OpKind::RangedGet,
            OpSpec::Put { .. } => OpKind::Put,
            OpSpec::MultipartPut { .. } => OpKind::MultipartPut,
            OpSpec::Head => OpKind::Head,
            OpSpec::List { .. } => OpKind::List,
            OpSpec::Delete => OpKind::Delete,
            OpSpec::Append { .. } => OpKind::Append,
            OpSpec::Rename { .. } => OpKind::Rename,
            OpSpec::ConditionalPut { .. } => OpKind::ConditionalPut,
            OpSpec::Copy => OpKind::Copy,
            OpSpec::GetNewest { .. } => OpKind::Get,
            OpSpec::PutNext => OpKind::Put,
        }
    }
}

/// The integrity checksum the client sends with each upload (as an
/// `x-amz-checksum-*` header) and validates on downloads when the response
/// carries one. `None` is aws-sdk-s3's `WhenRequired`; the SDKs' default
/// since 2025 (`WhenSupported`) is `Crc32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumMode {
    None,
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha256,
}

impl ChecksumMode {
    pub const ALL: [ChecksumMode; 5] = [
        ChecksumMode::None,
        ChecksumMode::Crc32,
        ChecksumMode::Crc32c,
        ChecksumMode::Crc64Nvme,
        ChecksumMode::Sha256,
    ];

    /// The scenario file's name (`crc64nvme`).
    pub fn name(self) -> &'static str {
        match self {
            ChecksumMode::None => "none",
            ChecksumMode::Crc32 => "crc32",
            ChecksumMode::Crc32c => "crc32c",
            ChecksumMode::Crc64Nvme => "crc64nvme",
            ChecksumMode::Sha256 => "sha256",
        }
    }
}

/// How GET, HEAD, PUT and DELETE are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestPath {
    /// s3bench's own signed HTTP/1.1 requests when the settings allow it
    /// (retries off, no stalled-stream protection; checksums computed by
    /// s3bench); every other operation goes through aws-sdk-s3.
    Direct,
    /// Every operation through aws-sdk-s3.
    Sdk,
}

/// SDK client settings; defaults favour visible, unretried measurements.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSettings {
    /// Total attempts per operation; 1 = retries off (a 503 stays visible).
    pub max_attempts: u32,
    pub checksums: ChecksumMode,
    pub stalled_stream_protection: bool,
    pub connect_timeout: Duration,
    /// Whole-operation timeout; None = no limit.
    pub operation_timeout: Option<Duration>,
    pub request_path: RequestPath,
    /// Stop the run when this share of operations fails for this long
    /// (the endpoint is gone); None = never.
    pub stop_on_failures: Option<FailureStop>,
}

/// The error policy: stop when at least `share` of the operations completed
/// in every check over `window` failed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailureStop {
    pub share: f64,
    pub window: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            max_attempts: 1,
            checksums: ChecksumMode::None,
            stalled_stream_protection: false,
            connect_timeout: Duration::from_millis(3100),
            operation_timeout: Some(Duration::from_secs(120)),
            request_path: RequestPath::Direct,
            // 100% for 10 s: the endpoint has stopped answering.
            stop_on_failures: Some(FailureStop {
                share: 1.0,
                window: Duration::from_secs(10),
            }),
        }
    }
}
