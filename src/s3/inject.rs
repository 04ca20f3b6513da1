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
    /// Latency of injected faults (`error_rate`, `prefix_limit`) instead of
    /// `latency`; None = the same as every other response. Real S3 answers
    /// SlowDown quickly, which is what makes a throttled bucket look fast to
    /// a tool that mixes failures into its percentiles.
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
    /// A General Purpose partition's request-rate limit, per key prefix.
    pub prefix_limit: Option<PrefixLimit>,
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
            parts.push(format!(
                "per-prefix limit {} reads/s, {} writes/s (503 SlowDown above)",
                p.reads_per_sec, p.writes_per_sec
            ));
        }
        (!parts.is_empty()).then(|| format!("{target}: {}", parts.join(", ")))
    }

    pub fn is_noop(&self) -> bool {
        self.latency.is_none()
            && self.bandwidth.is_none()
            && self.upload_bandwidth.is_none()
            && self.error_rate <= 0.0
            && self.prefix_limit.is_none()
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

/// Request-rate limit of one key prefix, as S3 applies per partition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrefixLimit {
    /// GET/HEAD (and ListObjectsV2) per second; 0 means unlimited.
    pub reads_per_sec: u32,
    /// PUT/POST/DELETE/COPY per second; 0 means unlimited.
    pub writes_per_sec: u32,
}

impl PrefixLimit {
    /// The documented minimum per partitioned prefix.
    pub const S3_DEFAULT: PrefixLimit = PrefixLimit {
        reads_per_sec: crate::s3::limits::PREFIX_READS_PER_SEC,
        writes_per_sec: crate::s3::limits::PREFIX_WRITES_PER_SEC,
    };
}
