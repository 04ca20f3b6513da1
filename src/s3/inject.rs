//! The fault-injection model: pure data that a scenario's
//! `[targets.NAME.embedded]` table or `s3bench serve`'s flags produce and the
//! embedded endpoint applies. One type for both sides, so a scenario and
//! `s3bench serve` mean the same thing by "latency 20ms", and one set of
//! rules ([`Injection::from_settings`]) that both check it with.

use std::time::Duration;

/// Faults and delays applied to one bucket's requests.
///
/// Latency applies to every request on the bucket (CreateSession included);
/// the error rate and prefix limit apply to object-level operations only,
/// so the SDK's session handshake and bucket setup are never failed by them
/// (`session_error_rate` fails CreateSession on purpose).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Injection {
    /// Added before the response head is sent, counted from the moment the
    /// request (body included) was fully received.
    pub latency: Option<LatencyDist>,
    /// Latency of injected faults (`error_rate`, `prefix_limit`,
    /// `bucket_limit`) instead of `latency`; None = the same as every other
    /// response for `error_rate`, and at once for the rate limits' 503s.
    /// Real S3 answers SlowDown quickly, which is what makes a throttled
    /// bucket look fast to a tool that mixes failures into its percentiles.
    pub error_latency: Option<LatencyDist>,
    /// Response body bytes per second, per request.
    pub bandwidth: Option<u64>,
    /// Request body bytes per second, per request: a request carrying N
    /// bytes is answered no sooner than N / rate after the endpoint began
    /// reading it (its latency then counts from there), as if its upload
    /// had been paced to this rate.
    pub upload_bandwidth: Option<u64>,
    /// Fraction (0..=1) of object requests answered with `error_status`/`error_code`.
    pub error_rate: f64,
    /// HTTP status of injected errors, e.g. 503.
    pub error_status: u16,
    /// S3 error code of injected errors, e.g. `"SlowDown"`.
    pub error_code: String,
    /// General Purpose buckets: the partition model (per key range
    /// request rates that split under load). Ignored on directory buckets.
    pub prefix_limit: Option<PrefixLimit>,
    /// Directory buckets: one request rate for the whole bucket. Ignored on
    /// General Purpose buckets.
    pub bucket_limit: Option<BucketLimit>,
    /// Fraction (0..=1) of GetObject responses whose body is cut half-way:
    /// the head (200 and Content-Length) and half the bytes are sent, then
    /// the connection is closed, as a reset by a middlebox or a dying server
    /// does. The client sees a short body, never a complete object.
    pub body_reset_rate: f64,
    /// Fraction (0..=1) of GetObject responses with one bit of the body
    /// flipped at a random offset: the whole body arrives, with the right
    /// length, wrong (a faulty NIC, disk or middlebox). Only a client that
    /// validates the response checksum (`[client] checksum`, on a whole
    /// object) can tell.
    pub corrupt_rate: f64,
    /// Fraction (0..=1) of CreateSession requests answered with
    /// `error_status`/`error_code`: a directory bucket whose session
    /// handshake fails while the data requests would succeed.
    pub session_error_rate: f64,
    /// The most requests the bucket works on at once; the rest wait their
    /// turn (in arrival order) before their latency starts, as on a server
    /// with that many workers. With a fixed latency L the bucket then serves
    /// at most N / L requests per second: an aggregate throughput cap.
    pub max_in_flight: Option<u32>,
    /// Operations answered 200 without being done, as some S3-compatible
    /// servers do: what s3bench's audits must catch.
    pub broken: Broken,
}

/// Ways an S3-compatible server answers success without doing what the
/// operation asks, each modelled on a server seen doing it. The embedded
/// endpoint can behave so per bucket (`broken = [...]` in a scenario's
/// `[targets.NAME.embedded]`, `s3bench serve --broken`), so the audits
/// that catch them are tested without foreign servers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Broken {
    /// An append (`x-amz-write-offset-bytes`) replaces the object with its
    /// body instead of adding to it, and its answer carries no
    /// `x-amz-object-size`: a server without appends that takes the
    /// request as a plain PutObject (moto on a `--x-s3` bucket).
    pub append_overwrites: bool,
    /// RenameObject (`PUT ?renameObject`) stores an empty object at the
    /// destination and leaves the source: a server that answers it as an
    /// empty PutObject (moto).
    pub rename_as_empty_put: bool,
    /// Conditional writes (`If-None-Match: *`, `If-Match`) check the
    /// condition, wait a moment, then write whatever happened meanwhile:
    /// check and write are not one step, so racing writers all win
    /// (s3s-fs stats the file, then writes it).
    pub racy_conditional_writes: bool,
}

impl Broken {
    /// Every mode: (its name in scenarios and `serve --broken`, what it does).
    pub const MODES: [(&'static str, &'static str); 3] = [
        (
            "append-overwrites",
            "appends replace the object instead of growing it, the write offset ignored",
        ),
        (
            "rename-as-empty-put",
            "RenameObject stores an empty object at the destination and keeps the source",
        ),
        (
            "racy-conditional-writes",
            "conditional writes check, then write a moment later, so racing writers all win",
        ),
    ];

    /// Turns on the mode named `name`; false when there is no such mode.
    pub fn set(&mut self, name: &str) -> bool {
        let flag = match name.trim() {
            "append-overwrites" => &mut self.append_overwrites,
            "rename-as-empty-put" => &mut self.rename_as_empty_put,
            "racy-conditional-writes" => &mut self.racy_conditional_writes,
            _ => return false,
        };
        *flag = true;
        true
    }

    /// The names of the modes that are on, in [`Broken::MODES`] order.
    pub fn names(&self) -> Vec<&'static str> {
        let on = [
            self.append_overwrites,
            self.rename_as_empty_put,
            self.racy_conditional_writes,
        ];
        Self::MODES
            .iter()
            .zip(on)
            .filter(|(_, on)| *on)
            .map(|((name, _), _)| *name)
            .collect()
    }

    pub fn any(&self) -> bool {
        self.append_overwrites || self.rename_as_empty_put || self.racy_conditional_writes
    }
}

impl Injection {
    /// One line for the report naming what was injected on `target`, or
    /// None when nothing was.
    pub fn describe(&self, target: &str) -> Option<String> {
        let s = self;
        let mut parts = Vec::new();
        match &s.latency {
            Some(LatencyDist::Fixed(d)) => parts.push(format!("latency {d:?}")),
            Some(LatencyDist::Uniform { min, max }) => {
                parts.push(format!("latency uniform {min:?}..{max:?}"))
            }
            Some(LatencyDist::LogNormal { p50, p99 }) => {
                parts.push(format!("latency log-normal p50 {p50:?} p99 {p99:?}"))
            }
            None => {}
        }
        match &s.error_latency {
            Some(LatencyDist::Fixed(d)) => {
                parts.push(format!("injected faults answered after {d:?}"))
            }
            Some(_) => parts.push("injected faults with their own latency".into()),
            None => {}
        }
        if let Some(b) = s.bandwidth {
            parts.push(format!("bandwidth {} MiB/s per request", b / (1024 * 1024)));
        }
        if let Some(b) = s.upload_bandwidth {
            parts.push(format!(
                "upload bandwidth {} MiB/s per request",
                b / (1024 * 1024)
            ));
        }
        if s.error_rate > 0.0 {
            parts.push(format!(
                "{:.2}% errors ({} {})",
                s.error_rate * 100.0,
                s.error_status,
                s.error_code
            ));
        }
        if s.body_reset_rate > 0.0 {
            parts.push(format!(
                "{:.2}% of GET bodies cut half-way (connection reset)",
                s.body_reset_rate * 100.0
            ));
        }
        if s.corrupt_rate > 0.0 {
            parts.push(format!(
                "{:.2}% of GET bodies with one bit flipped (corruption)",
                s.corrupt_rate * 100.0
            ));
        }
        if s.session_error_rate > 0.0 {
            parts.push(format!(
                "{:.2}% of CreateSession answered {} {}",
                s.session_error_rate * 100.0,
                s.error_status,
                s.error_code
            ));
        }
        if let Some(n) = s.max_in_flight {
            parts.push(format!("at most {n} requests in flight (the rest queue)"));
        }
        if let Some(p) = &s.prefix_limit {
            parts.push(p.describe());
        }
        if let Some(b) = &s.bucket_limit {
            parts.push(format!(
                "per-bucket limit {} reads/s, {} writes/s (503 SlowDown above)",
                b.reads_per_sec, b.writes_per_sec
            ));
        }
        for name in s.broken.names() {
            let what = Broken::MODES
                .iter()
                .find(|(n, _)| *n == name)
                .map_or("", |(_, w)| w);
            parts.push(format!("broken on purpose: {name} ({what})"));
        }
        (!parts.is_empty()).then(|| format!("{target}: {}", parts.join(", ")))
    }

    pub fn is_noop(&self) -> bool {
        self.latency.is_none()
            && self.bandwidth.is_none()
            && self.upload_bandwidth.is_none()
            && self.error_rate <= 0.0
            && self.prefix_limit.is_none()
            && self.bucket_limit.is_none()
            && self.body_reset_rate <= 0.0
            && self.corrupt_rate <= 0.0
            && self.session_error_rate <= 0.0
            && self.max_in_flight.is_none()
            && !self.broken.any()
    }
}

/// An injection setting with a rule, named so a problem can be said where
/// its user wrote it: a scenario's field or a `serve` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    ErrorRate,
    ErrorStatus,
    ErrorCode,
    BodyResetRate,
    CorruptRate,
    SessionErrorRate,
    MaxInFlight,
    PrefixReads,
    PrefixWrites,
    SplitAfter,
    MaxPartitions,
    SplitPoints,
    BucketReads,
    BucketWrites,
    Broken,
}

impl Setting {
    /// Its field in a scenario's `[targets.NAME.embedded]` table.
    pub fn field(self) -> &'static str {
        match self {
            Setting::ErrorRate => "error_rate",
            Setting::ErrorStatus => "error_status",
            Setting::ErrorCode => "error_code",
            Setting::BodyResetRate => "body_reset_rate",
            Setting::CorruptRate => "corrupt_rate",
            Setting::SessionErrorRate => "session_error_rate",
            Setting::MaxInFlight => "max_in_flight",
            Setting::PrefixReads => "prefix_limit.reads",
            Setting::PrefixWrites => "prefix_limit.writes",
            Setting::SplitAfter => "prefix_limit.split_after",
            Setting::MaxPartitions => "prefix_limit.max_partitions",
            Setting::SplitPoints => "prefix_limit.split_points",
            Setting::BucketReads => "bucket_limit.reads",
            Setting::BucketWrites => "bucket_limit.writes",
            Setting::Broken => "broken",
        }
    }

    /// Its `s3bench serve` flag.
    pub fn flag(self) -> &'static str {
        match self {
            Setting::ErrorRate => "--error-rate",
            Setting::ErrorStatus => "--error-status",
            Setting::ErrorCode => "--error-code",
            Setting::BodyResetRate => "--body-reset-rate",
            Setting::CorruptRate => "--corrupt-rate",
            Setting::SessionErrorRate => "--session-error-rate",
            Setting::MaxInFlight => "--max-in-flight",
            Setting::PrefixReads | Setting::PrefixWrites => "--prefix-limit",
            Setting::SplitAfter => "--split-after",
            Setting::MaxPartitions => "--max-partitions",
            Setting::SplitPoints => "--split-point",
            Setting::BucketReads | Setting::BucketWrites => "--bucket-limit",
            Setting::Broken => "--broken",
        }
    }
}

/// A setting that breaks its rule, and the sentence that says so.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingProblem {
    pub setting: Setting,
    pub message: String,
}

/// An injection as written, before its rules are checked: `None` is "not
/// given" (the default applies). Latencies and bandwidth come parsed.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub latency: Option<LatencyDist>,
    pub error_latency: Option<LatencyDist>,
    pub bandwidth: Option<u64>,
    pub upload_bandwidth: Option<u64>,
    pub error_rate: Option<f64>,
    pub error_status: Option<i64>,
    pub error_code: Option<String>,
    /// A per-prefix limit, with reads and writes per second where given
    /// (S3's 5,500 and 3,500 otherwise).
    pub prefix_limit: Option<(Option<i64>, Option<i64>)>,
    /// How long a key range stays over its rate before it splits;
    /// `Some(None)` = never. Refines `prefix_limit`.
    pub split_after: Option<Option<Duration>>,
    /// The most key ranges a bucket splits into. Refines `prefix_limit`.
    pub max_partitions: Option<i64>,
    /// Keys where ranges start on a fresh bucket. Refines `prefix_limit`.
    pub split_points: Vec<String>,
    /// A directory bucket's per-bucket limit, with reads and writes per
    /// second where given (S3 Express's 200,000 and 100,000 otherwise).
    pub bucket_limit: Option<(Option<i64>, Option<i64>)>,
    pub body_reset_rate: Option<f64>,
    pub corrupt_rate: Option<f64>,
    pub session_error_rate: Option<f64>,
    pub max_in_flight: Option<i64>,
    /// Names of [`Broken`] modes.
    pub broken: Vec<String>,
}

/// Range of injected error statuses: client and server errors.
const ERROR_STATUS: (i64, i64) = (400, 599);
/// Range of `max_in_flight`.
const MAX_IN_FLIGHT: (i64, i64) = (1, 1_000_000);
/// Range of a per-prefix (or per-bucket) limit's reads or writes per second.
const PREFIX_RATE: (i64, i64) = (1, 100_000_000);
/// Range of `max_partitions`.
const MAX_PARTITIONS: (i64, i64) = (1, 100_000);
/// Longest `split_after` (S3 itself takes minutes).
const MAX_SPLIT_AFTER: Duration = Duration::from_secs(24 * 3600);

impl Injection {
    /// The one set of rules of an injection, for scenarios and `serve`
    /// alike: fractions from 0 to 1, an error status from 400 to 599 whose
    /// code defaults only for 503 (`SlowDown`) and 500 (`InternalError`),
    /// an alphanumeric error code, 1 to 1,000,000 in flight, 1 to 100,000,000
    /// requests per second per prefix. Returns the injection with every bad
    /// setting at its default, and the problems (empty when all is well).
    pub fn from_settings(s: Settings) -> (Injection, Vec<SettingProblem>) {
        let mut problems = Vec::new();
        let p = &mut problems;
        let error_rate = fraction(p, Setting::ErrorRate, s.error_rate);
        let body_reset_rate = fraction(p, Setting::BodyResetRate, s.body_reset_rate);
        let corrupt_rate = fraction(p, Setting::CorruptRate, s.corrupt_rate);
        let session_error_rate = fraction(p, Setting::SessionErrorRate, s.session_error_rate);
        let error_status =
            within(p, Setting::ErrorStatus, s.error_status, ERROR_STATUS).map_or(503, |n| n as u16);
        let error_code = match s.error_code.clone() {
            Some(c) => {
                let code = c.trim();
                if code.is_empty() || !code.chars().all(|ch| ch.is_ascii_alphanumeric()) {
                    p.push(SettingProblem {
                        setting: Setting::ErrorCode,
                        message: format!(
                            "expected an S3 error code like \"SlowDown\" or \"InternalError\", got {code:?}"
                        ),
                    });
                }
                code.to_string()
            }
            None => match error_status {
                503 => "SlowDown".to_string(),
                500 => "InternalError".to_string(),
                other => {
                    if error_rate > 0.0 || session_error_rate > 0.0 {
                        p.push(SettingProblem {
                            setting: Setting::ErrorCode,
                            message: format!(
                                "expected an error_code for error_status {other} (only 500 and 503 have defaults)"
                            ),
                        });
                    }
                    String::new()
                }
            },
        };
        let max_in_flight =
            within(p, Setting::MaxInFlight, s.max_in_flight, MAX_IN_FLIGHT).map(|n| n as u32);
        let prefix_limit = partition_model(p, &s);
        let bucket_limit = s.bucket_limit.map(|(reads, writes)| BucketLimit {
            reads_per_sec: within(p, Setting::BucketReads, reads, PREFIX_RATE)
                .map_or(BucketLimit::S3_EXPRESS_DEFAULT.reads_per_sec, |n| n as u32),
            writes_per_sec: within(p, Setting::BucketWrites, writes, PREFIX_RATE)
                .map_or(BucketLimit::S3_EXPRESS_DEFAULT.writes_per_sec, |n| n as u32),
        });
        let mut broken = Broken::default();
        for name in &s.broken {
            if !broken.set(name) {
                let known: Vec<String> = Broken::MODES
                    .iter()
                    .map(|(n, _)| format!("\"{n}\""))
                    .collect();
                p.push(SettingProblem {
                    setting: Setting::Broken,
                    message: format!("expected one of {}, got {name:?}", known.join(", ")),
                });
            }
        }
        let injection = Injection {
            latency: s.latency,
            error_latency: s.error_latency,
            bandwidth: s.bandwidth,
            upload_bandwidth: s.upload_bandwidth,
            error_rate,
            error_status,
            error_code,
            prefix_limit,
            bucket_limit,
            body_reset_rate,
            corrupt_rate,
            session_error_rate,
            max_in_flight,
            broken,
        };
        (injection, problems)
    }
}

/// The partition model `prefix_limit` and its refinements ask for: rates
/// from 1 to 100,000,000 per second, a `split_after` above 0 and at most
/// 24 hours (or never), 1 to 100,000 ranges. A refinement without
/// `prefix_limit` is a problem (it would silently do nothing).
fn partition_model(p: &mut Vec<SettingProblem>, s: &Settings) -> Option<PrefixLimit> {
    let Some((reads, writes)) = s.prefix_limit else {
        let given = [
            (Setting::SplitAfter, s.split_after.is_some()),
            (Setting::MaxPartitions, s.max_partitions.is_some()),
            (Setting::SplitPoints, !s.split_points.is_empty()),
        ];
        for (setting, _) in given.into_iter().filter(|(_, g)| *g) {
            p.push(SettingProblem {
                setting,
                message: "shapes the partition model of prefix_limit: give prefix_limit (--prefix-limit READS:WRITES) too".into(),
            });
        }
        return None;
    };
    let mut limit = PrefixLimit::rates(
        within(p, Setting::PrefixReads, reads, PREFIX_RATE)
            .map_or(PrefixLimit::S3_DEFAULT.reads_per_sec, |n| n as u32),
        within(p, Setting::PrefixWrites, writes, PREFIX_RATE)
            .map_or(PrefixLimit::S3_DEFAULT.writes_per_sec, |n| n as u32),
    );
    match s.split_after {
        Some(Some(d)) if d.is_zero() || d > MAX_SPLIT_AFTER => p.push(SettingProblem {
            setting: Setting::SplitAfter,
            message: format!(
                "expected a duration above 0 and at most 24h (S3 takes minutes; a few seconds suit a laptop run), or \"never\"; got {d:?}"
            ),
        }),
        Some(after) => limit.split_after = after,
        None => {}
    }
    if let Some(n) = within(p, Setting::MaxPartitions, s.max_partitions, MAX_PARTITIONS) {
        limit.max_partitions = n as u32;
    }
    limit.split_points = s.split_points.clone();
    Some(limit)
}

/// A fraction from 0 to 1; 0 (and a problem) when out of range.
fn fraction(problems: &mut Vec<SettingProblem>, setting: Setting, v: Option<f64>) -> f64 {
    match v {
        Some(v) if !(0.0..=1.0).contains(&v) => {
            problems.push(SettingProblem {
                setting,
                message: format!(
                    "expected a fraction from 0 to 1 (0.01 = 1% of requests), got {v}"
                ),
            });
            0.0
        }
        Some(v) => v,
        None => 0.0,
    }
}

/// A whole number within `min..=max`; None (and a problem) when outside.
fn within(
    problems: &mut Vec<SettingProblem>,
    setting: Setting,
    v: Option<i64>,
    (min, max): (i64, i64),
) -> Option<i64> {
    let message = match v? {
        n if n < min => format!("expected at least {min}, got {n}"),
        n if n > max => format!("expected at most {max}, got {n}"),
        n => return Some(n),
    };
    problems.push(SettingProblem { setting, message });
    None
}

/// A distribution of injected latencies.
#[derive(Debug, Clone, PartialEq)]
pub enum LatencyDist {
    Fixed(Duration),
    Uniform {
        min: Duration,
        max: Duration,
    },
    /// Log-normal with the given median and 99th percentile.
    LogNormal {
        p50: Duration,
        p99: Duration,
    },
}

/// z-score of the 99th percentile of the standard normal distribution.
const Z_P99: f64 = 2.326_347_874;

/// No sampled latency exceeds this, whatever the distribution's tail.
const MAX_LATENCY: Duration = Duration::from_secs(600);

impl LatencyDist {
    pub fn sample(&self) -> Duration {
        let d = match self {
            LatencyDist::Fixed(d) => *d,
            LatencyDist::Uniform { min, max } => {
                let (lo, hi) = if min <= max {
                    (*min, *max)
                } else {
                    (*max, *min)
                };
                lo + (hi - lo).mul_f64(fastrand::f64())
            }
            LatencyDist::LogNormal { p50, p99 } => {
                let m = p50.as_secs_f64().max(1e-9);
                let sigma = (p99.as_secs_f64().max(m) / m).ln() / Z_P99;
                // Box-Muller; 1 - f64() lies in (0, 1], so ln() is finite.
                let u1 = 1.0 - fastrand::f64();
                let u2 = fastrand::f64();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                Duration::try_from_secs_f64(m * (sigma * z).exp()).unwrap_or(MAX_LATENCY)
            }
        };
        d.min(MAX_LATENCY)
    }
}

/// The request-rate model of a General Purpose bucket (`prefix_limit`): S3's
/// limits apply per *partitioned prefix*, a range of keys in lexicographic
/// order. A bucket starts as one range (or the ranges `split_points` cut);
/// each range admits `reads_per_sec` GET/HEAD/List and `writes_per_sec`
/// PUT/POST/DELETE/COPY per second and answers 503 SlowDown above that; a
/// range that stays over its rate for `split_after` is split in two at a key
/// taken from its recent traffic, each half with the full rates, until the
/// bucket has `max_partitions` ranges. S3 splits the same way but over
/// minutes (and keeps the partitions it made); the defaults here are scaled
/// for a laptop run of a minute.
#[derive(Debug, Clone, PartialEq)]
pub struct PrefixLimit {
    /// GET/HEAD (and ListObjectsV2) per second per range; 0 means unlimited.
    pub reads_per_sec: u32,
    /// PUT/POST/DELETE/COPY per second per range; 0 means unlimited.
    pub writes_per_sec: u32,
    /// How long a range must keep refusing requests (no gap of a second or
    /// more between refusals) before it splits; None = ranges never split.
    pub split_after: Option<Duration>,
    /// The most ranges the bucket is split into (at least 1).
    pub max_partitions: u32,
    /// Keys where ranges start on a fresh bucket besides the first (which
    /// starts at the empty key): a bucket S3 has already partitioned.
    pub split_points: Vec<String>,
}

impl PrefixLimit {
    /// How long a range stays over its rate before it splits, unless a
    /// scenario says otherwise: seconds, where S3 takes minutes, so a
    /// one-minute run shows a few rounds of splits.
    pub const DEFAULT_SPLIT_AFTER: Duration = Duration::from_secs(5);
    /// Ranges a bucket may be split into unless a scenario says otherwise.
    pub const DEFAULT_MAX_PARTITIONS: u32 = 256;

    /// The documented minimum per partitioned prefix, with the default
    /// (laptop-scaled) splitting.
    pub const S3_DEFAULT: PrefixLimit = PrefixLimit::rates(
        crate::s3::limits::PREFIX_READS_PER_SEC,
        crate::s3::limits::PREFIX_WRITES_PER_SEC,
    );

    /// These rates per range, with the default splitting.
    pub const fn rates(reads_per_sec: u32, writes_per_sec: u32) -> PrefixLimit {
        PrefixLimit {
            reads_per_sec,
            writes_per_sec,
            split_after: Some(Self::DEFAULT_SPLIT_AFTER),
            max_partitions: Self::DEFAULT_MAX_PARTITIONS,
            split_points: Vec::new(),
        }
    }

    /// The report's words for it.
    pub fn describe(&self) -> String {
        let rate = |n: u32| {
            if n == 0 {
                "unlimited".to_string()
            } else {
                n.to_string()
            }
        };
        let start = match self.split_points.len() {
            0 => "one range on a fresh bucket".to_string(),
            n => format!("{} ranges on a fresh bucket", n + 1),
        };
        let split = match self.split_after {
            Some(d) => format!(
                "a range over its rate for {d:?} splits in two (at most {} ranges)",
                self.max_partitions
            ),
            None => "ranges never split".to_string(),
        };
        format!(
            "partition model: {} reads/s and {} writes/s per key range, {start}, {split} (503 SlowDown above)",
            rate(self.reads_per_sec),
            rate(self.writes_per_sec)
        )
    }
}

/// A directory bucket's request-rate limit: per bucket, not per prefix
/// (S3 Express One Zone scales per bucket and performs from the start).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketLimit {
    /// GET/HEAD (and ListObjectsV2) per second for the whole bucket; 0 means unlimited.
    pub reads_per_sec: u32,
    /// PUT/POST/DELETE/COPY per second for the whole bucket; 0 means unlimited.
    pub writes_per_sec: u32,
}

impl BucketLimit {
    /// S3 Express One Zone's default per directory bucket.
    pub const S3_EXPRESS_DEFAULT: BucketLimit = BucketLimit {
        reads_per_sec: crate::s3::limits::EXPRESS_BUCKET_READS_PER_SEC,
        writes_per_sec: crate::s3::limits::EXPRESS_BUCKET_WRITES_PER_SEC,
    };

    /// The same rates as a partition model that never splits: one range,
    /// the whole bucket.
    pub fn as_one_range(self) -> PrefixLimit {
        PrefixLimit {
            reads_per_sec: self.reads_per_sec,
            writes_per_sec: self.writes_per_sec,
            split_after: None,
            max_partitions: 1,
            split_points: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_set_of_rules() {
        let (ok, problems) = Injection::from_settings(Settings {
            error_rate: Some(0.3),
            error_status: Some(429),
            error_code: Some("TooManyRequests".into()),
            prefix_limit: Some((Some(10), None)),
            max_in_flight: Some(4),
            ..Settings::default()
        });
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            (ok.error_status, ok.error_code.as_str()),
            (429, "TooManyRequests")
        );
        assert_eq!(ok.prefix_limit, Some(PrefixLimit::rates(10, 3500)));
        let defaults = |status| {
            Injection::from_settings(Settings {
                error_rate: Some(0.1),
                error_status: Some(status),
                ..Settings::default()
            })
        };
        assert_eq!(defaults(503).0.error_code, "SlowDown");
        assert_eq!(defaults(500).0.error_code, "InternalError");
        let (_, p) = defaults(404);
        assert_eq!(p[0].setting, Setting::ErrorCode);
        assert!(
            p[0].message.contains("only 500 and 503 have defaults"),
            "{p:?}"
        );

        let (inj, p) = Injection::from_settings(Settings {
            error_rate: Some(1.5),
            error_status: Some(200),
            error_code: Some("Slow Down".into()),
            max_in_flight: Some(0),
            prefix_limit: Some((Some(0), Some(200_000_000))),
            ..Settings::default()
        });
        let said: Vec<(&str, &str)> = p
            .iter()
            .map(|p| (p.setting.flag(), p.message.as_str()))
            .collect();
        assert_eq!(
            said,
            [
                (
                    "--error-rate",
                    "expected a fraction from 0 to 1 (0.01 = 1% of requests), got 1.5"
                ),
                ("--error-status", "expected at least 400, got 200"),
                (
                    "--error-code",
                    "expected an S3 error code like \"SlowDown\" or \"InternalError\", got \"Slow Down\""
                ),
                ("--max-in-flight", "expected at least 1, got 0"),
                ("--prefix-limit", "expected at least 1, got 0"),
                (
                    "--prefix-limit",
                    "expected at most 100000000, got 200000000"
                ),
            ]
        );
        // Bad settings fall back to their defaults.
        assert_eq!((inj.error_rate, inj.error_status), (0.0, 503));
        assert_eq!(Setting::PrefixReads.field(), "prefix_limit.reads");
    }

    #[test]
    fn the_partition_model_and_its_refinements_have_one_set_of_rules() {
        let secs = Duration::from_secs;
        let (inj, p) = Injection::from_settings(Settings {
            prefix_limit: Some((Some(300), Some(100))),
            split_after: Some(Some(secs(2))),
            max_partitions: Some(8),
            split_points: vec!["m".into()],
            bucket_limit: Some((Some(50), None)),
            ..Settings::default()
        });
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(
            inj.prefix_limit,
            Some(PrefixLimit {
                split_after: Some(secs(2)),
                max_partitions: 8,
                split_points: vec!["m".into()],
                ..PrefixLimit::rates(300, 100)
            })
        );
        assert_eq!(
            inj.bucket_limit,
            Some(BucketLimit {
                reads_per_sec: 50,
                writes_per_sec: 100_000
            })
        );
        // "never": a fixed limit per range, S3's rates when none are given.
        let (inj, p) = Injection::from_settings(Settings {
            prefix_limit: Some((None, None)),
            split_after: Some(None),
            ..Settings::default()
        });
        assert!(p.is_empty(), "{p:?}");
        let limit = inj.prefix_limit.unwrap();
        assert_eq!((limit.reads_per_sec, limit.split_after), (5500, None));

        let said = |s: Settings| -> Vec<(&'static str, String)> {
            let (_, p) = Injection::from_settings(s);
            p.into_iter()
                .map(|p| (p.setting.flag(), p.message))
                .collect()
        };
        // A refinement alone would do nothing: refused, naming its flag.
        let alone = said(Settings {
            split_after: Some(Some(secs(2))),
            split_points: vec!["a".into()],
            ..Settings::default()
        });
        assert_eq!(
            alone.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
            ["--split-after", "--split-point"]
        );
        assert!(alone[0].1.contains("give prefix_limit"), "{alone:?}");
        let bad = said(Settings {
            prefix_limit: Some((None, None)),
            split_after: Some(Some(Duration::ZERO)),
            max_partitions: Some(0),
            bucket_limit: Some((Some(0), None)),
            ..Settings::default()
        });
        assert_eq!(
            bad.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
            ["--split-after", "--max-partitions", "--bucket-limit"]
        );
        assert!(bad[0].1.contains("or \"never\""), "{bad:?}");
        assert_eq!(bad[1].1, "expected at least 1, got 0");
        assert_eq!(
            Setting::MaxPartitions.field(),
            "prefix_limit.max_partitions"
        );
    }

    #[test]
    fn broken_modes_are_named_checked_and_described() {
        let (inj, problems) = Injection::from_settings(Settings {
            broken: vec!["append-overwrites".into(), "racy-conditional-writes".into()],
            ..Settings::default()
        });
        assert!(problems.is_empty(), "{problems:?}");
        assert!(inj.broken.append_overwrites && inj.broken.racy_conditional_writes);
        assert!(!inj.broken.rename_as_empty_put);
        assert!(!inj.is_noop());
        let said = inj.describe("t").unwrap();
        assert!(
            said.contains("broken on purpose: append-overwrites")
                && said.contains("racy-conditional-writes"),
            "{said}"
        );
        let (inj, problems) = Injection::from_settings(Settings {
            broken: vec!["rename-as-put".into()],
            ..Settings::default()
        });
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].setting.flag(), "--broken");
        assert!(
            problems[0]
                .message
                .starts_with("expected one of \"append-overwrites\", \"rename-as-empty-put\""),
            "{problems:?}"
        );
        assert!(inj.is_noop());
    }
}
