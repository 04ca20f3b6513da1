//! The fault-injection model: pure data that a scenario's
//! `[targets.NAME.embedded]` table produces and the embedded endpoint
//! applies. One type for both sides, so a scenario and `s3bench serve` mean
//! the same thing by "latency 20ms".

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
        (!parts.is_empty()).then(|| format!("{target}: {}", parts.join(", ")))
    }

    pub fn is_noop(&self) -> bool {
        self.latency.is_none()
            && self.bandwidth.is_none()
            && self.error_rate <= 0.0
            && self.prefix_limit.is_none()
            && self.bucket_limit.is_none()
            && self.body_reset_rate <= 0.0
            && self.corrupt_rate <= 0.0
            && self.session_error_rate <= 0.0
            && self.max_in_flight.is_none()
    }
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

/// The rate-model flags of `s3bench serve` (`--prefix-limit`,
/// `--split-after`, `--max-partitions`, `--split-point`, `--bucket-limit`),
/// as given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateFlags {
    /// READS:WRITES per second per key range.
    pub prefix_limit: Option<(u32, u32)>,
    /// Some(None) = `never`.
    pub split_after: Option<Option<Duration>>,
    pub max_partitions: Option<u32>,
    pub split_points: Vec<String>,
    /// READS:WRITES per second per directory bucket.
    pub bucket_limit: Option<(u32, u32)>,
}

impl RateFlags {
    /// The models the flags ask for; an error names a flag given without
    /// the one it refines.
    pub fn models(&self) -> Result<(Option<PrefixLimit>, Option<BucketLimit>), String> {
        let refines = self.split_after.is_some()
            || self.max_partitions.is_some()
            || !self.split_points.is_empty();
        let prefix = match self.prefix_limit {
            None if refines => {
                return Err("--split-after, --max-partitions and --split-point shape the partition model of --prefix-limit: give --prefix-limit READS:WRITES too".into());
            }
            None => None,
            Some((r, w)) => {
                let mut p = PrefixLimit::rates(r, w);
                if let Some(s) = self.split_after {
                    p.split_after = s;
                }
                if let Some(m) = self.max_partitions {
                    p.max_partitions = m.max(1);
                }
                p.split_points = self.split_points.clone();
                Some(p)
            }
        };
        let bucket = self.bucket_limit.map(|(r, w)| BucketLimit {
            reads_per_sec: r,
            writes_per_sec: w,
        });
        Ok((prefix, bucket))
    }
}
