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
    /// Latency of injected faults (`error_rate`, `prefix_limit`) instead of
    /// `latency`; None = the same as every other response. Real S3 answers
    /// SlowDown quickly, which is what makes a throttled bucket look fast to
    /// a tool that mixes failures into its percentiles.
    pub error_latency: Option<LatencyDist>,
    /// Response body bytes per second, per request.
    pub bandwidth: Option<u64>,
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
            // The endpoint paces response bodies only: GETs, not uploads.
            let mib = b as f64 / (1024.0 * 1024.0);
            let mib = if mib >= 10.0 {
                format!("{mib:.0}")
            } else {
                format!("{}", (mib * 100.0).round() / 100.0)
            };
            parts.push(format!(
                "bandwidth {mib} MiB/s per download (response bodies; uploads are not capped)"
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
            && self.error_rate <= 0.0
            && self.prefix_limit.is_none()
            && self.body_reset_rate <= 0.0
            && self.corrupt_rate <= 0.0
            && self.session_error_rate <= 0.0
            && self.max_in_flight.is_none()
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
    pub error_rate: Option<f64>,
    pub error_status: Option<i64>,
    pub error_code: Option<String>,
    /// A per-prefix limit, with reads and writes per second where given
    /// (S3's 5,500 and 3,500 otherwise).
    pub prefix_limit: Option<(Option<i64>, Option<i64>)>,
    pub body_reset_rate: Option<f64>,
    pub corrupt_rate: Option<f64>,
    pub session_error_rate: Option<f64>,
    pub max_in_flight: Option<i64>,
}

/// Range of injected error statuses: client and server errors.
const ERROR_STATUS: (i64, i64) = (400, 599);
/// Range of `max_in_flight`.
const MAX_IN_FLIGHT: (i64, i64) = (1, 1_000_000);
/// Range of a per-prefix limit's reads or writes per second.
const PREFIX_RATE: (i64, i64) = (1, 100_000_000);

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
        let error_code = match s.error_code {
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
        let prefix_limit = s.prefix_limit.map(|(reads, writes)| PrefixLimit {
            reads_per_sec: within(p, Setting::PrefixReads, reads, PREFIX_RATE)
                .map_or(PrefixLimit::S3_DEFAULT.reads_per_sec, |n| n as u32),
            writes_per_sec: within(p, Setting::PrefixWrites, writes, PREFIX_RATE)
                .map_or(PrefixLimit::S3_DEFAULT.writes_per_sec, |n| n as u32),
        });
        let injection = Injection {
            latency: s.latency,
            error_latency: s.error_latency,
            bandwidth: s.bandwidth,
            error_rate,
            error_status,
            error_code,
            prefix_limit,
            body_reset_rate,
            corrupt_rate,
            session_error_rate,
            max_in_flight,
        };
        (injection, problems)
    }
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
        assert_eq!(
            ok.prefix_limit,
            Some(PrefixLimit {
                reads_per_sec: 10,
                writes_per_sec: 3500
            })
        );
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
}
