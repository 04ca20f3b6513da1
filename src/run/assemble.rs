//! Assembling the result: what the engine's recorders hold becomes the JSON
//! contract (`report::model`). This is the one place that knows both sides,
//! so `stats` never sees the contract and `report` never sees a recorder.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::engine::{JobResult, OpRecorder};
use crate::report::model::{
    AttemptResult, FailureResult, HistogramBlobs, OpResult, PrefixRow, PrefixThrottling, RoundOp,
    RoundResult, SecondRow, SessionResult, TargetPhaseResult,
};
use crate::report::summary::summarize;
use crate::s3::OpKind;
use crate::stats::{FailureGroup, OpStats, codec};

/// The JSON model of one op's stats over `elapsed_s` seconds of measurement.
/// `open_loop` adds the service-time summary (latency and service time
/// differ only when requests were scheduled).
pub fn op_result(o: &OpStats, elapsed_s: f64, open_loop: bool) -> OpResult {
    let rate = |x: f64| if elapsed_s > 0.0 { x / elapsed_s } else { 0.0 };
    let errors_by_kind = o.errors_by_kind.iter().cloned().collect();
    let failures = FailureGroup::ALL
        .iter()
        .zip(&o.failures)
        .filter_map(|(g, f)| {
            f.as_ref().map(|f| {
                (
                    g.key().to_string(),
                    FailureResult {
                        count: f.count,
                        statuses: f.statuses.iter().copied().collect(),
                        latency_us: summarize(&f.latency),
                        histogram: codec::encode(&f.latency),
                    },
                )
            })
        })
        .collect();
    OpResult {
        count: o.count,
        successes: o.successes(),
        errors: o.errors,
        errors_by_kind,
        failures,
        requests: o.requests,
        bytes: o.bytes,
        ops_per_sec: rate(o.successes() as f64),
        attempted_ops_per_sec: rate(o.count as f64),
        mib_per_sec: rate(o.bytes as f64 / (1024.0 * 1024.0)),
        late_starts: o.late_starts,
        behind_session: o.behind_session,
        latency_us: summarize(&o.latency),
        ttfb_us: o.ttfb.as_ref().map(summarize),
        service_us: open_loop.then(|| summarize(&o.service)),
        histograms: HistogramBlobs {
            latency: codec::encode(&o.latency),
            ttfb: o.ttfb.as_ref().map(codec::encode),
            service: open_loop.then(|| codec::encode(&o.service)),
        },
        audit: None,
    }
}

/// One round's headline numbers of one op (success latency).
pub fn round_op(o: &OpStats, elapsed_s: f64) -> RoundOp {
    let s = summarize(&o.latency);
    RoundOp {
        count: o.count,
        errors: o.errors,
        ops_per_sec: if elapsed_s > 0.0 {
            o.successes() as f64 / elapsed_s
        } else {
            0.0
        },
        p50: s.p50,
        p99: s.p99,
    }
}

/// Per-op results keyed by the op vocabulary's result keys.
pub fn op_map(
    ops: &[Option<OpStats>; OpKind::COUNT],
    f: impl Fn(&OpStats) -> OpResult,
) -> BTreeMap<String, OpResult> {
    OpKind::ALL
        .iter()
        .filter_map(|k| ops[k.index()].as_ref().map(|o| (k.key().to_string(), f(o))))
        .collect()
}

/// The time-series rows of one round.
pub fn second_rows(rec: &OpRecorder, round: u32) -> Vec<SecondRow> {
    rec.timeseries()
        .into_iter()
        .filter_map(|s| {
            Some(SecondRow {
                round,
                second: s.second,
                op: OpKind::from_index(s.op)?.key().to_string(),
                count: s.count,
                errors: s.errors,
                throttled: s.throttled,
                bytes: s.bytes,
                p50: s.p50_ns as f64 / 1000.0,
                p99: s.p99_ns as f64 / 1000.0,
                in_flight: s.in_flight,
                // One interval per second in the .hlog files.
                histogram: (!s.histogram.is_empty()).then(|| codec::encode(&s.histogram)),
            })
        })
        .collect()
}

/// Accumulates one target's numbers over the rounds of one phase.
pub struct TargetAcc {
    total: OpRecorder,
    elapsed_s: f64,
    rounds: Vec<RoundResult>,
    timeseries: Vec<SecondRow>,
    sessions: SessionResult,
    session_hist: Option<Histogram<u64>>,
    /// Throttled requests by key prefix, per round.
    throttled: Vec<PrefixRow>,
    /// How those prefixes were cut (`Plan::throttle_granularity`).
    granularity: String,
}

impl Default for TargetAcc {
    fn default() -> Self {
        TargetAcc {
            total: OpRecorder::default(),
            elapsed_s: 0.0,
            rounds: Vec::new(),
            timeseries: Vec::new(),
            sessions: SessionResult::default(),
            session_hist: None,
            throttled: Vec::new(),
            granularity: String::new(),
        }
    }
}

impl TargetAcc {
    pub fn add_round(&mut self, round: u32, r: &JobResult) {
        // Only the phase totals are merged; the per-second rows are taken
        // per round as they are.
        merge_totals(&mut self.total, &r.recorder);
        self.elapsed_s += r.elapsed_s;
        let mut ops = BTreeMap::new();
        for k in OpKind::ALL {
            if let Some(o) = &r.recorder.ops[k.index()] {
                ops.insert(k.key().to_string(), round_op(o, r.elapsed_s));
            }
        }
        self.rounds.push(RoundResult {
            round,
            elapsed_s: r.elapsed_s,
            ops,
        });
        self.timeseries.extend(second_rows(&r.recorder, round));
        self.throttled
            .extend(r.recorder.throttled_prefixes.rows().into_iter().map(
                |(second, prefix, throttled)| PrefixRow {
                    round,
                    second,
                    prefix: prefix.to_string(),
                    throttled,
                },
            ));
    }

    /// Names how the throttled requests' prefixes were cut.
    pub fn with_granularity(mut self, granularity: String) -> Self {
        self.granularity = granularity;
        self
    }

    pub fn add_sessions(&mut self, d: crate::client::SessionDelta) {
        self.sessions.count += d.count;
        self.sessions.errors += d.errors;
        if d.count > 0 {
            let h = self
                .session_hist
                .get_or_insert_with(crate::stats::recorder::latency_hist);
            let _ = h.add(&d.latency);
        }
    }

    pub fn finish(mut self, name: &str, warmup: Duration, open_loop: bool) -> TargetPhaseResult {
        let warm_s = warmup.as_secs_f64() * self.rounds.len() as f64;
        if let Some(h) = self.session_hist.take() {
            self.sessions.latency_us = Some(summarize(&h));
            self.sessions.histogram = Some(codec::encode(&h));
        }
        let elapsed = self.elapsed_s;
        TargetPhaseResult {
            target: name.to_string(),
            elapsed_s: elapsed,
            ops: op_map(&self.total.ops, |o| op_result(o, elapsed, open_loop)),
            warmup: op_map(&self.total.warmup, |o| op_result(o, warm_s, open_loop)),
            sessions: self.sessions,
            rounds: self.rounds,
            timeseries: self.timeseries,
            loader: None,
            checkpoint: None,
            audits: Vec::new(),
            throttled_by_prefix: (!self.throttled.is_empty()).then_some(PrefixThrottling {
                granularity: self.granularity,
                rows: self.throttled,
            }),
            lateness: self
                .total
                .lateness
                .as_ref()
                .map(crate::report::model::Lateness::from_histogram),
            attempts: self
                .total
                .attempts
                .ops
                .iter()
                .map(|(k, a)| {
                    (
                        k.clone(),
                        AttemptResult {
                            count: a.count,
                            retries: a.retries,
                            latency_us: summarize(&a.latency),
                            histogram: codec::encode(&a.latency),
                        },
                    )
                })
                .collect(),
        }
    }
}

/// Adds `from`'s op totals and attempts into `into`, not its seconds.
pub(super) fn merge_totals(into: &mut OpRecorder, from: &OpRecorder) {
    for (m, t) in into.ops.iter_mut().zip(&from.ops) {
        if let Some(t) = t {
            m.get_or_insert_with(OpStats::default).merge(t);
        }
    }
    for (m, t) in into.warmup.iter_mut().zip(&from.warmup) {
        if let Some(t) = t {
            m.get_or_insert_with(OpStats::default).merge(t);
        }
    }
    into.attempts.merge(&from.attempts);
    crate::stats::recorder::merge_lateness(&mut into.lateness, &from.lateness);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Failure, Sample};

    fn sample(ns: u64, failure: Option<Failure<'_>>) -> Sample<'_> {
        Sample {
            latency_ns: ns,
            service_ns: ns,
            ttfb_ns: Some(ns / 2),
            bytes: 10,
            requests: 1,
            failure,
            late_start: false,
            behind_session: false,
        }
    }

    #[test]
    fn results_are_microseconds_of_successes() {
        let mut o = OpStats::default();
        for _ in 0..100 {
            o.record(&sample(20_000_000, None)); // 20 ms
        }
        let slow = Failure {
            kind: "503 SlowDown",
            group: FailureGroup::Throttled,
            status: Some(503),
        };
        for _ in 0..100 {
            o.record(&sample(1_000, Some(slow)));
        }
        let r = op_result(&o, 2.0, false);
        assert!(
            (r.latency_us.p50 - 20_000.0).abs() < 20.0,
            "{}",
            r.latency_us.p50
        );
        assert_eq!((r.count, r.successes, r.errors), (200, 100, 100));
        assert_eq!(r.ops_per_sec, 50.0);
        assert_eq!(r.attempted_ops_per_sec, 100.0);
        assert_eq!(r.errors_by_kind["503 SlowDown"], 100);
        let t = &r.failures["throttled"];
        assert_eq!(t.count, 100);
        assert_eq!(t.statuses, [(503, 100)].into());
        assert!(t.latency_us.p50 < 2.0, "{}", t.latency_us.p50);
        assert!(r.service_us.is_none());
        assert!(r.ttfb_us.is_some());
        let back = codec::decode(&t.histogram).unwrap();
        assert_eq!(back.len(), 100);
    }
}
