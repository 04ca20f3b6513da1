//! This host's clock against the endpoint's, from the `Date` header of S3
//! responses. `Date` has whole seconds, so one response bounds the offset
//! to an interval of 1 s plus its round trip; successive responses'
//! intervals are intersected. [`measure`] times its requests so that each
//! one lands on the endpoint's second tick as far as the estimate so far
//! can tell, which halves the interval per request (bisection), instead of
//! waiting for luck to straddle a tick.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_types::date_time::{DateTime, Format};

pub use crate::report::model::ClockOffset;

/// Requests [`measure`] sends: the first bounds the offset to about 1 s,
/// each further one halves that (4: about ±70 ms plus half a round trip),
/// each waiting at most 1 s for its moment.
pub const PROBES: u32 = 4;

pub(crate) fn unix_ms(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -e.duration().as_secs_f64() * 1000.0,
    }
}

/// Bounds on this host's offset against the endpoint, in ms:
/// offset = endpoint clock - local clock.
#[derive(Debug, Default)]
pub struct ClockEstimate {
    bounds: Option<(f64, f64)>,
    samples: u32,
    /// Round trip of the latest response, ms.
    last_rtt_ms: f64,
}

impl ClockEstimate {
    /// A response stamped `date_ms` (whole seconds) by the endpoint at some
    /// moment between `sent_ms` and `received_ms` on this host's clock.
    pub fn add(&mut self, date_ms: f64, sent_ms: f64, received_ms: f64) {
        // Endpoint time at stamping is in [date, date + 1 s), and it
        // happened at local time in [sent, received].
        let (lo, hi) = (date_ms - received_ms, date_ms + 1000.0 - sent_ms);
        self.samples += 1;
        self.last_rtt_ms = (received_ms - sent_ms).max(0.0);
        self.bounds = match self.bounds {
            Some((a, b)) if lo.max(a) <= hi.min(b) => Some((lo.max(a), hi.min(b))),
            // Disjoint: a clock stepped; start over from this response.
            _ => Some((lo, hi)),
        };
    }

    pub fn estimate(&self) -> Option<ClockOffset> {
        let (lo, hi) = self.bounds?;
        Some(ClockOffset {
            offset_ms: (lo + hi) / 2.0,
            uncertainty_ms: (hi - lo) / 2.0,
            samples: self.samples,
        })
    }

    /// When to send the next request (local ms since the epoch, after
    /// `now_ms`) so that the endpoint stamps it at one of its second ticks
    /// if the offset is the middle of the bounds: its `Date` then says on
    /// which side of the middle the offset is.
    fn next_send_ms(&self, now_ms: f64) -> f64 {
        let Some((lo, hi)) = self.bounds else {
            return now_ms;
        };
        let mid = (lo + hi) / 2.0;
        let half_rtt = self.last_rtt_ms / 2.0;
        // Local time of the endpoint's tick k * 1000 is k * 1000 - mid.
        let k = ((now_ms + half_rtt + mid) / 1000.0).floor() + 1.0;
        k * 1000.0 - mid - half_rtt
    }
}

/// Feeds every response's `Date` header into a shared estimate, bounded by
/// when that attempt was sent and when its response arrived.
#[derive(Debug)]
pub struct DateObserver {
    clock: Arc<Mutex<ClockEstimate>>,
    sent: Mutex<Option<SystemTime>>,
}

impl DateObserver {
    pub fn new(clock: Arc<Mutex<ClockEstimate>>) -> DateObserver {
        DateObserver {
            clock,
            sent: Mutex::new(None),
        }
    }
}

impl Intercept for DateObserver {
    fn name(&self) -> &'static str {
        "s3bench-date-observer"
    }

    fn read_before_transmit(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(mut s) = self.sent.lock() {
            *s = Some(SystemTime::now());
        }
        Ok(())
    }

    fn read_after_transmit(
        &self,
        ctx: &BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let received = SystemTime::now();
        let sent = self.sent.lock().ok().and_then(|s| *s);
        let date = ctx.response().headers().get("date");
        let parsed = date.and_then(|d| DateTime::from_str(d, Format::HttpDate).ok());
        if let (Some(sent), Some(d), Ok(mut c)) = (sent, parsed, self.clock.lock()) {
            c.add(d.secs() as f64 * 1000.0, unix_ms(sent), unix_ms(received));
        }
        Ok(())
    }
}

/// Measures this host's offset against the endpoint of `bucket` with
/// `probes` ListObjectsV2 requests for `prefix` (one key at most), timed for
/// bisection. None when no response carried a `Date` header; failed
/// requests still count when they carry one (an error response is dated
/// too).
pub async fn measure(
    client: &Client,
    bucket: &str,
    prefix: &str,
    probes: u32,
) -> Option<ClockOffset> {
    let clock = Arc::new(Mutex::new(ClockEstimate::default()));
    for _ in 0..probes {
        let now = unix_ms(SystemTime::now());
        let at = clock.lock().map(|c| c.next_send_ms(now)).unwrap_or(now);
        if at > now {
            tokio::time::sleep(Duration::from_secs_f64((at - now) / 1000.0)).await;
        }
        let _ = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(1)
            .customize()
            .interceptor(DateObserver::new(clock.clone()))
            .send()
            .await;
    }
    clock.lock().ok().and_then(|c| c.estimate())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An endpoint `truth` ms ahead that stamps a request `stamp_after` ms
    /// after it is sent and answers `rtt` ms after it is sent.
    fn respond(c: &mut ClockEstimate, truth: f64, sent: f64, stamp_after: f64, rtt: f64) {
        let date = ((sent + stamp_after + truth) / 1000.0).floor() * 1000.0;
        c.add(date, sent, sent + rtt);
    }

    #[test]
    fn cluster_clock_estimate_narrows_and_contains_the_truth() {
        // The endpoint is 1234.5 ms ahead; responses take 20 ms and are
        // stamped halfway, at local times spread over several seconds.
        let truth = 1234.5;
        let mut c = ClockEstimate::default();
        for i in 0..40 {
            respond(&mut c, truth, 1_000_000.0 + i as f64 * 237.0, 10.0, 20.0);
            let e = c.estimate().unwrap();
            assert!(
                (e.offset_ms - truth).abs() <= e.uncertainty_ms + 1e-9,
                "{e:?} after {i}"
            );
        }
        let e = c.estimate().unwrap();
        assert_eq!(e.samples, 40);
        assert!(e.uncertainty_ms < 30.0, "{e:?}");
        // A clock step: the estimate follows the new offset.
        c.add(5_000_000.0, 5_000_000.0 - 60_000.0, 5_000_000.0 - 59_990.0);
        assert!((c.estimate().unwrap().offset_ms - 60_500.0).abs() < 600.0);
    }

    #[test]
    fn cluster_clock_bisection_halves_the_interval_per_probe() {
        for truth in [-2345.6, -0.4, 0.0, 17.0, 499.0, 999.9, 86_400_123.0] {
            let mut c = ClockEstimate::default();
            let mut now = 1_700_000_000_123.0;
            for _ in 0..PROBES {
                let sent = c.next_send_ms(now);
                assert!(sent >= now && sent < now + 1000.0, "{sent} {now}");
                respond(&mut c, truth, sent, 2.0, 4.0);
                now = sent + 4.0;
            }
            let e = c.estimate().unwrap();
            assert!(
                (e.offset_ms - truth).abs() <= e.uncertainty_ms + 1e-9,
                "{truth}: {e:?}"
            );
            // 1 s + rtt halved three times, plus the round trips.
            assert!(e.uncertainty_ms <= 1004.0 / 16.0 + 8.0, "{truth}: {e:?}");
        }
    }
}
