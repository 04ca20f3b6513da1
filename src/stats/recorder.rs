//! Per-worker-thread recording of operation outcomes.
//!
//! Each engine thread owns one [`Recorder`] per (phase, target, round) and
//! records into it with no lock and no channel; recorders are merged once when
//! the phase ends. Latencies are recorded in nanoseconds into auto-resizing
//! HdrHistograms with 3 significant digits (0.1% relative precision), so
//! resolution is far finer than a microsecond at S3 latencies.

use hdrhistogram::Histogram;

use super::summary::summarize;
use crate::report::model::{OpResult, RoundOp, SecondRow};
use crate::stats::codec;

/// Number of operation kinds (index = `OpKind::index()` of the scenario module).
pub const OP_SLOTS: usize = 7;

fn new_hist(sigfig: u8) -> Histogram<u64> {
    let mut h = Histogram::new(sigfig).expect("1..=5 significant digits is valid");
    h.auto(true);
    h
}

/// Records `ns` (at least 1), growing the histogram as needed.
/// (`saturating_record` would clamp to the current, tiny, range of an
/// auto-resizing histogram instead of growing it.)
#[inline]
pub fn record(h: &mut Histogram<u64>, ns: u64) {
    let v = ns.max(1);
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

/// Outcome of one operation, as the engine hands it to the recorder.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// From when the request was due (open loop) or sent (closed loop) to done, ns.
    pub latency_ns: u64,
    /// From sent to done, ns (equals latency in closed loop).
    pub service_ns: u64,
    /// Time to first byte, ns, for GET-like operations.
    pub ttfb_ns: Option<u64>,
    pub bytes: u64,
    /// HTTP requests this operation sent (multipart PUT sends several).
    pub requests: u64,
    /// None on success; otherwise the error kind (e.g. `503 SlowDown`).
    pub error: Option<&'a str>,
    /// The error was an HTTP 503.
    pub throttled: bool,
    /// The request started later than scheduled because all workers were busy.
    pub late_start: bool,
    /// The operation overlapped a CreateSession on its client.
    pub behind_session: bool,
}

/// Everything recorded for one operation kind.
#[derive(Debug, Clone)]
pub struct OpStats {
    pub latency: Histogram<u64>,
    pub service: Histogram<u64>,
    pub ttfb: Option<Histogram<u64>>,
    pub count: u64,
    pub errors: u64,
    /// Small and rarely touched (error path only): a Vec beats a map here.
    pub errors_by_kind: Vec<(String, u64)>,
    pub requests: u64,
    pub bytes: u64,
    pub late_starts: u64,
    pub behind_session: u64,
}

impl Default for OpStats {
    fn default() -> Self {
        OpStats {
            latency: new_hist(3),
            service: new_hist(3),
            ttfb: None,
            count: 0,
            errors: 0,
            errors_by_kind: Vec::new(),
            requests: 0,
            bytes: 0,
            late_starts: 0,
            behind_session: 0,
        }
    }
}

impl OpStats {
    pub fn record(&mut self, s: &Sample<'_>) {
        record(&mut self.latency, s.latency_ns);
        record(&mut self.service, s.service_ns);
        if let Some(t) = s.ttfb_ns {
            record(self.ttfb.get_or_insert_with(|| new_hist(3)), t);
        }
        self.count += 1;
        self.requests += s.requests;
        self.bytes += s.bytes;
        self.late_starts += u64::from(s.late_start);
        self.behind_session += u64::from(s.behind_session);
        if let Some(kind) = s.error {
            self.errors += 1;
            add_error(&mut self.errors_by_kind, kind, 1);
        }
    }

    /// Exact merge: histogram addition is lossless.
    pub fn merge(&mut self, other: &OpStats) {
        add_hist(&mut self.latency, &other.latency);
        add_hist(&mut self.service, &other.service);
        if let Some(t) = &other.ttfb {
            add_hist(self.ttfb.get_or_insert_with(|| new_hist(3)), t);
        }
        self.count += other.count;
        self.errors += other.errors;
        for (k, n) in &other.errors_by_kind {
            add_error(&mut self.errors_by_kind, k, *n);
        }
        self.requests += other.requests;
        self.bytes += other.bytes;
        self.late_starts += other.late_starts;
        self.behind_session += other.behind_session;
    }

    /// The JSON model of these stats over `elapsed_s` seconds of measurement.
    /// `open_loop` adds the service-time summary (latency and service time
    /// differ only when requests were scheduled).
    pub fn to_result(&self, elapsed_s: f64, open_loop: bool) -> OpResult {
        let rate = |x: f64| if elapsed_s > 0.0 { x / elapsed_s } else { 0.0 };
        let mut errors_by_kind = std::collections::BTreeMap::new();
        for (k, n) in &self.errors_by_kind {
            errors_by_kind.insert(k.clone(), *n);
        }
        OpResult {
            count: self.count,
            errors: self.errors,
            errors_by_kind,
            requests: self.requests,
            bytes: self.bytes,
            ops_per_sec: rate(self.count as f64),
            mib_per_sec: rate(self.bytes as f64 / (1024.0 * 1024.0)),
            late_starts: self.late_starts,
            behind_session: self.behind_session,
            latency_us: summarize(&self.latency),
            ttfb_us: self.ttfb.as_ref().map(summarize),
            service_us: open_loop.then(|| summarize(&self.service)),
            histograms: crate::report::model::HistogramBlobs {
                latency: codec::encode(&self.latency),
                ttfb: self.ttfb.as_ref().map(codec::encode),
                service: open_loop.then(|| codec::encode(&self.service)),
            },
        }
    }

    pub fn round_op(&self, elapsed_s: f64) -> RoundOp {
        let s = summarize(&self.latency);
        RoundOp {
            count: self.count,
            errors: self.errors,
            ops_per_sec: if elapsed_s > 0.0 {
                self.count as f64 / elapsed_s
            } else {
                0.0
            },
            p50: s.p50,
            p99: s.p99,
        }
    }
}

fn add_hist(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    // Auto-resizing histograms with the same precision always add.
    into.add(from)
        .expect("histograms with equal precision and auto-resize add");
}

fn add_error(v: &mut Vec<(String, u64)>, kind: &str, n: u64) {
    match v.iter_mut().find(|(k, _)| k == kind) {
        Some((_, c)) => *c += n,
        None => v.push((kind.to_string(), n)),
    }
}

/// One second of one operation kind.
#[derive(Debug, Clone)]
pub struct SecondCell {
    pub count: u64,
    pub errors: u64,
    pub throttled: u64,
    pub bytes: u64,
    /// Two significant digits: per-second p50/p99 for plots need no more,
    /// and it keeps a long run's memory small.
    pub latency: Histogram<u64>,
}

impl Default for SecondCell {
    fn default() -> Self {
        SecondCell {
            count: 0,
            errors: 0,
            throttled: 0,
            bytes: 0,
            latency: new_hist(2),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Second {
    pub ops: [Option<SecondCell>; OP_SLOTS],
    /// Most requests in flight at once during this second.
    pub in_flight: u64,
}

/// Every attempt of one S3 operation (retries included).
#[derive(Debug, Clone)]
pub struct AttemptStats {
    pub count: u64,
    /// Attempts after the first of their operation.
    pub retries: u64,
    pub latency: Histogram<u64>,
}

/// Attempts per S3 operation name (`GetObject`, ...); only filled when
/// retries are enabled.
#[derive(Debug, Clone, Default)]
pub struct AttemptLog {
    pub ops: Vec<(String, AttemptStats)>,
}

impl AttemptLog {
    pub fn record(&mut self, op: &str, ns: u64, retry: bool) {
        let i = match self.ops.iter().position(|(k, _)| k == op) {
            Some(i) => i,
            None => {
                self.ops.push((
                    op.to_string(),
                    AttemptStats {
                        count: 0,
                        retries: 0,
                        latency: new_hist(3),
                    },
                ));
                self.ops.len() - 1
            }
        };
        let a = &mut self.ops[i].1;
        a.count += 1;
        a.retries += u64::from(retry);
        record(&mut a.latency, ns);
    }

    pub fn merge(&mut self, other: &AttemptLog) {
        for (k, o) in &other.ops {
            match self.ops.iter_mut().find(|(m, _)| m == k) {
                Some((_, m)) => {
                    m.count += o.count;
                    m.retries += o.retries;
                    add_hist(&mut m.latency, &o.latency);
                }
                None => self.ops.push((k.clone(), o.clone())),
            }
        }
    }
}

/// All that one thread records for one (phase, target, round).
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    pub ops: [Option<OpStats>; OP_SLOTS],
    pub warmup: [Option<OpStats>; OP_SLOTS],
    /// Index = seconds since the measured part began.
    pub seconds: Vec<Second>,
    /// Per-attempt timings (retries on only).
    pub attempts: AttemptLog,
}

impl Recorder {
    /// Records a measured sample that completed `second` seconds after measurement began.
    #[inline]
    pub fn record(&mut self, op: usize, second: usize, s: &Sample<'_>) {
        self.ops[op].get_or_insert_with(OpStats::default).record(s);
        let sec = self.second_mut(second);
        let cell = sec.ops[op].get_or_insert_with(SecondCell::default);
        cell.count += 1;
        cell.bytes += s.bytes;
        cell.errors += u64::from(s.error.is_some());
        cell.throttled += u64::from(s.throttled);
        record(&mut cell.latency, s.latency_ns);
    }

    /// Records a sample that completed during warm-up.
    #[inline]
    pub fn record_warmup(&mut self, op: usize, s: &Sample<'_>) {
        self.warmup[op]
            .get_or_insert_with(OpStats::default)
            .record(s);
    }

    /// Notes the number of requests in flight at `second`.
    #[inline]
    pub fn note_in_flight(&mut self, second: usize, in_flight: u64) {
        let sec = self.second_mut(second);
        sec.in_flight = sec.in_flight.max(in_flight);
    }

    fn second_mut(&mut self, second: usize) -> &mut Second {
        if self.seconds.len() <= second {
            self.seconds.resize_with(second + 1, Second::default);
        }
        &mut self.seconds[second]
    }

    /// Exact merge of another thread's recorder.
    pub fn merge(&mut self, other: &Recorder) {
        merge_ops(&mut self.ops, &other.ops);
        merge_ops(&mut self.warmup, &other.warmup);
        self.attempts.merge(&other.attempts);
        if self.seconds.len() < other.seconds.len() {
            self.seconds
                .resize_with(other.seconds.len(), Second::default);
        }
        for (mine, theirs) in self.seconds.iter_mut().zip(&other.seconds) {
            // Threads run concurrently, so in-flight counts add up.
            mine.in_flight += theirs.in_flight;
            for (m, t) in mine.ops.iter_mut().zip(&theirs.ops) {
                if let Some(t) = t {
                    let m = m.get_or_insert_with(SecondCell::default);
                    m.count += t.count;
                    m.errors += t.errors;
                    m.throttled += t.throttled;
                    m.bytes += t.bytes;
                    add_hist(&mut m.latency, &t.latency);
                }
            }
        }
    }

    /// Total HTTP requests recorded (measured and warm-up).
    pub fn requests(&self) -> u64 {
        self.ops
            .iter()
            .chain(self.warmup.iter())
            .flatten()
            .map(|o| o.requests)
            .sum()
    }

    /// Time-series rows for this recorder, labelled with `round`.
    pub fn timeseries(
        &self,
        round: u32,
        op_name: impl Fn(usize) -> &'static str,
    ) -> Vec<SecondRow> {
        let mut rows = Vec::new();
        for (i, sec) in self.seconds.iter().enumerate() {
            for (op, cell) in sec.ops.iter().enumerate() {
                let Some(cell) = cell else { continue };
                let (p50, p99) = if cell.count > 0 {
                    (
                        cell.latency.value_at_quantile(0.5) as f64 / 1000.0,
                        cell.latency.value_at_quantile(0.99) as f64 / 1000.0,
                    )
                } else {
                    (0.0, 0.0)
                };
                rows.push(SecondRow {
                    round,
                    second: i as u32,
                    op: op_name(op).to_string(),
                    count: cell.count,
                    errors: cell.errors,
                    throttled: cell.throttled,
                    bytes: cell.bytes,
                    p50,
                    p99,
                    in_flight: sec.in_flight,
                });
            }
        }
        rows
    }
}

fn merge_ops(into: &mut [Option<OpStats>; OP_SLOTS], from: &[Option<OpStats>; OP_SLOTS]) {
    for (m, t) in into.iter_mut().zip(from) {
        if let Some(t) = t {
            m.get_or_insert_with(OpStats::default).merge(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(latency_ns: u64, error: Option<&str>) -> Sample<'_> {
        Sample {
            latency_ns,
            service_ns: latency_ns,
            ttfb_ns: Some(latency_ns / 2),
            bytes: 10,
            requests: 1,
            error,
            throttled: false,
            late_start: false,
            behind_session: false,
        }
    }

    proptest! {
        /// Per-thread recorders merged equal one recorder fed every sample.
        #[test]
        fn merge_is_exact(samples in proptest::collection::vec((1u64..10_000_000_000, 0usize..4, 0usize..5, any::<bool>()), 1..400)) {
            let mut threads: Vec<Recorder> = (0..4).map(|_| Recorder::default()).collect();
            let mut single = Recorder::default();
            for (lat, thread, second, failed) in &samples {
                let s = sample(*lat, failed.then_some("503 SlowDown"));
                threads[*thread].record(0, *second, &s);
                single.record(0, *second, &s);
            }
            let mut merged = Recorder::default();
            for t in &threads {
                merged.merge(t);
            }
            let (m, s) = (merged.ops[0].as_ref().unwrap(), single.ops[0].as_ref().unwrap());
            prop_assert_eq!(&m.latency, &s.latency);
            prop_assert_eq!(&m.ttfb, &s.ttfb);
            prop_assert_eq!(m.count, s.count);
            prop_assert_eq!(m.errors, s.errors);
            for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
                prop_assert_eq!(m.latency.value_at_quantile(q), s.latency.value_at_quantile(q));
            }
            let rows_m = merged.timeseries(1, |_| "get");
            let rows_s = single.timeseries(1, |_| "get");
            prop_assert_eq!(rows_m, rows_s);
        }
    }

    #[test]
    fn timeseries_totals_equal_phase_totals() {
        let mut r = Recorder::default();
        for i in 0..1000u64 {
            let err = (i % 10 == 0).then_some("503 SlowDown");
            r.record(0, (i / 100) as usize, &sample(1_000_000 + i, err));
        }
        let rows = r.timeseries(1, |_| "get");
        assert_eq!(rows.len(), 10);
        assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), 1000);
        assert_eq!(rows.iter().map(|r| r.errors).sum::<u64>(), 100);
        let op = r.ops[0].as_ref().unwrap();
        assert_eq!(op.count, 1000);
        assert_eq!(op.errors_by_kind, vec![("503 SlowDown".to_string(), 100)]);
    }

    #[test]
    fn recording_grows_the_histogram() {
        let mut h = new_hist(3);
        record(&mut h, 20_000_000);
        record(&mut h, 3_600_000_000_000);
        assert_eq!(h.len(), 2);
        assert!(h.max() >= 3_599_000_000_000, "{}", h.max());
        assert!(h.min() >= 19_980_000, "{}", h.min());
    }

    #[test]
    fn summary_reports_microseconds() {
        let mut o = OpStats::default();
        for _ in 0..100 {
            o.record(&sample(20_000_000, None)); // 20 ms
        }
        let r = o.to_result(2.0, false);
        assert!(
            (r.latency_us.p50 - 20_000.0).abs() < 20.0,
            "{}",
            r.latency_us.p50
        );
        assert_eq!(r.ops_per_sec, 50.0);
        assert!(r.service_us.is_none());
        assert!(r.ttfb_us.is_some());
    }
}
