//! Live Prometheus metrics of a run (`run --metrics-listen ADDR`): what the
//! engine counts while it goes on, served as Prometheus text at
//! `http://ADDR/metrics` (or OpenMetrics, when the scraper asks for it),
//! encoded by the Prometheus project's `prometheus-client` crate.
//!
//! Nothing here is on the request path: every engine thread counts into its
//! own `stats::live::LiveBlock` with relaxed stores; the collector sums the
//! blocks when a scrape comes. Locks here are taken when a job starts or
//! ends and at scrape time, never per request.
//!
//! The metrics (every name starts with `s3bench_`, every series has a
//! `run_id` label; docs/metrics.md has the list with their labels and the
//! dashboard that reads them):
//! - `s3bench_operations_total{target,phase,op,outcome}`: completed
//!   operations, warm-up included, by `success` or failure group
//!   (`throttled`, `http`: other HTTP errors, `transport`, `conditional`);
//! - `s3bench_warmup_operations_total{target,phase,op}`: the ones that
//!   completed during warm-up;
//! - `s3bench_requests_total{target,phase,op}`: HTTP requests they sent
//!   (what an endpoint counts; CreateSession apart);
//! - `s3bench_payload_bytes_total{target,phase,op}`: payload bytes of the
//!   successful ones;
//! - `s3bench_latency_seconds{target,phase,op}`: histogram of the latency
//!   of measured successful operations (warm-up excluded, as in the report),
//!   buckets 100 µs to 10 s (`stats::live::LATENCY_BOUNDS_NS`);
//! - `s3bench_in_flight{target}`: requests in flight now;
//! - `s3bench_create_sessions_total{target}`,
//!   `s3bench_create_session_errors_total{target}`: directory-bucket
//!   CreateSession calls;
//! - `s3bench_preflight_requests_total{target,operation}`: the preflight's
//!   requests by S3 operation;
//! - `s3bench_dataloader_au{target,phase}`,
//!   `s3bench_dataloader_accelerators{target,phase}`: a dataloader phase's
//!   accelerator utilization (live while it runs, the report's when it
//!   ends) and accelerator count;
//! - `s3bench_phase_info{phase,target}` (1 for the job running now),
//!   `s3bench_round`, `s3bench_rounds`;
//! - `s3bench_run_info{run_id,scenario,shard}`, `s3bench_run_finished`,
//!   `s3bench_checks{verdict}`.

mod http;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use crate::s3::OpKind;
use crate::stats::live::{
    self, BUCKETS, LATENCY_BOUNDS_NS, LiveBlock, OUTCOMES, ThreadBlocks, outcome_name,
};

pub use http::MetricsServer;

/// Counts of one target's CreateSession calls: (finished, failed).
pub type SessionCounts = Arc<dyn Fn() -> (u64, u64) + Send + Sync>;

/// A run's live metrics: the blocks the engine counts into, and what the
/// run says about itself (phase, round, the end).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Metrics")
    }
}

struct Inner {
    threads: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    run_id: String,
    scenario: String,
    shard: Option<u32>,
    rounds: u32,
    /// Target names in scenario order (label order of the output).
    targets: Vec<String>,
    /// Per (target, phase): the engine threads' blocks, in the order first used.
    blocks: Vec<((String, String), ThreadBlocks)>,
    /// (phase, target, round) of the job running now.
    current: Option<(String, String, u32)>,
    sessions: Vec<(String, SessionCounts)>,
    preflight: BTreeMap<(String, String), u64>,
    /// A finished dataloader phase's AU and accelerators, per (target, phase).
    dataloader_final: BTreeMap<(String, String), (f64, u64)>,
    /// Accelerators of the dataloader job running now, per (target, phase).
    dataloader_now: BTreeMap<(String, String), u64>,
    finished: bool,
    checks: Option<(usize, usize)>,
}

impl Metrics {
    /// Metrics of run `run_id` of `scenario`, whose engine has `threads` threads.
    pub fn new(
        run_id: &str,
        scenario: &str,
        shard: Option<u32>,
        threads: usize,
        targets: &[String],
        rounds: u32,
    ) -> Metrics {
        Metrics {
            inner: Arc::new(Inner {
                threads: threads.max(1),
                state: Mutex::new(State {
                    run_id: run_id.to_string(),
                    scenario: scenario.to_string(),
                    shard,
                    rounds,
                    targets: targets.to_vec(),
                    ..State::default()
                }),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The engine threads' blocks for `target` in `phase` (made on first
    /// use; later jobs of the pair count on where earlier ones stopped).
    pub fn blocks(&self, target: &str, phase: &str) -> ThreadBlocks {
        let mut s = self.state();
        let key = (target.to_string(), phase.to_string());
        if let Some((_, b)) = s.blocks.iter().find(|(k, _)| *k == key) {
            return b.clone();
        }
        let b: ThreadBlocks = (0..self.inner.threads)
            .map(|_| Arc::new(LiveBlock::new(OpKind::COUNT)))
            .collect();
        s.blocks.push((key, b.clone()));
        b
    }

    /// Adds what was recorded outside the engine (the cleanup's requests)
    /// to `target` in `phase`.
    pub fn absorb(
        &self,
        target: &str,
        phase: &str,
        rec: &crate::stats::Recorder<{ OpKind::COUNT }>,
    ) {
        let blocks = {
            let mut s = self.state();
            let key = (target.to_string(), phase.to_string());
            match s.blocks.iter().find(|(k, _)| *k == key) {
                Some((_, b)) => b.clone(),
                None => {
                    let b: ThreadBlocks = vec![Arc::new(LiveBlock::new(OpKind::COUNT))].into();
                    s.blocks.push((key, b.clone()));
                    b
                }
            }
        };
        // One writer: the run's coordinator, between engine jobs. A block
        // of the engine's is written by its thread only during a job.
        blocks[0].absorb(rec);
    }

    /// A job of `phase` on `target` in `round` starts (`accelerators`: a
    /// dataloader job's count).
    pub fn job_started(&self, phase: &str, target: &str, round: u32, accelerators: Option<u64>) {
        let mut s = self.state();
        s.current = Some((phase.to_string(), target.to_string(), round));
        if let Some(n) = accelerators {
            s.dataloader_now
                .insert((target.to_string(), phase.to_string()), n);
        }
    }

    /// The job running now has ended.
    pub fn job_ended(&self) {
        self.state().current = None;
    }

    pub fn add_sessions(&self, target: &str, counts: SessionCounts) {
        self.state().sessions.push((target.to_string(), counts));
    }

    /// The preflight's requests to `target`, by S3 operation.
    pub fn set_preflight(&self, target: &str, requests: &BTreeMap<String, u64>) {
        let mut s = self.state();
        for (op, n) in requests {
            s.preflight.insert((target.to_string(), op.clone()), *n);
        }
    }

    /// A dataloader phase has ended: its AU and accelerators as the report
    /// gives them.
    pub fn set_dataloader_result(&self, target: &str, phase: &str, au: f64, accelerators: u64) {
        let mut s = self.state();
        let key = (target.to_string(), phase.to_string());
        s.dataloader_now.remove(&key);
        s.dataloader_final.insert(key, (au, accelerators));
    }

    /// The run has ended: its result is final, its checks judged.
    pub fn finish(&self, passed: usize, failed: usize) {
        let mut s = self.state();
        s.finished = true;
        s.current = None;
        s.checks = (passed + failed > 0).then_some((passed, failed));
    }

    /// The exposition: Prometheus text (0.0.4), or OpenMetrics text.
    pub fn encode(&self, openmetrics: bool) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Collect(self.inner.clone())));
        let mut out = String::new();
        let r = if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
        };
        // Writing into a String cannot fail; a collector error would be ours.
        r.expect("the metrics encode");
        out
    }

    /// Starts serving `/metrics` on `addr` (bound now, so a bad address is
    /// an error before the run starts).
    pub fn serve(&self, addr: std::net::SocketAddr) -> std::io::Result<MetricsServer> {
        MetricsServer::start(self.clone(), addr)
    }
}

struct Collect(Arc<Inner>);

impl fmt::Debug for Collect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("s3bench collector")
    }
}

type Labels = Vec<(&'static str, String)>;

/// One metric family: its samples, each a label set and a value.
struct Family<V> {
    name: &'static str,
    help: &'static str,
    unit: Option<Unit>,
    samples: Vec<(Labels, V)>,
}

impl<V> Family<V> {
    fn new(name: &'static str, help: &'static str) -> Self {
        Family {
            name,
            help,
            unit: None,
            samples: Vec::new(),
        }
    }
}

/// Every series carries the run id, so a dashboard sums a run's shards
/// (one process each) with `sum by (target)` and tells runs apart.
fn with_run(run: &str, labels: &Labels) -> Labels {
    let mut l = Vec::with_capacity(labels.len() + 1);
    l.push(("run_id", run.to_string()));
    l.extend(labels.iter().cloned());
    l
}

fn counters(enc: &mut DescriptorEncoder, run: &str, f: &Family<u64>) -> fmt::Result {
    let mut m = enc.encode_descriptor(f.name, f.help, f.unit.as_ref(), MetricType::Counter)?;
    for (labels, v) in &f.samples {
        m.encode_family(&with_run(run, labels))?
            .encode_counter::<NoLabelSet, _, u64>(v, None)?;
    }
    Ok(())
}

fn gauges(enc: &mut DescriptorEncoder, run: &str, f: &Family<f64>) -> fmt::Result {
    let mut m = enc.encode_descriptor(f.name, f.help, f.unit.as_ref(), MetricType::Gauge)?;
    for (labels, v) in &f.samples {
        let labels = if labels.iter().any(|(k, _)| *k == "run_id") {
            labels.clone()
        } else {
            with_run(run, labels)
        };
        ConstGauge::new(*v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for Collect {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let s = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        let live = encode_operations(&mut enc, &s)?;
        encode_in_flight(&mut enc, &s, live.in_flight)?;
        encode_sessions(&mut enc, &s)?;
        encode_dataloader(&mut enc, &s, &live.au)?;
        encode_run(&mut enc, &s)
    }
}

/// What the operation counters' pass over the blocks found for the gauges:
/// requests in flight per target (of the job running now) and the live AU
/// per (target, phase).
struct LiveGauges {
    in_flight: BTreeMap<String, f64>,
    au: BTreeMap<(String, String), f64>,
}

/// The counters and the latency histogram of every (target, phase, op)
/// that completed an operation, summed over the engine threads' blocks.
fn encode_operations(enc: &mut DescriptorEncoder, s: &State) -> Result<LiveGauges, fmt::Error> {
    let run = s.run_id.as_str();
    let mut ops = Family::new(
        "s3bench_operations",
        "Completed operations (warm-up included) by outcome: success, or the failure group (throttled: 503 SlowDown and 429; http: other HTTP errors; transport: connection, timeout, body; conditional: a lost race of a conditional write).",
    );
    let mut warm = Family::new(
        "s3bench_warmup_operations",
        "Completed operations that completed during warm-up (counted in s3bench_operations_total too, kept out of the report's numbers).",
    );
    let mut reqs = Family::new(
        "s3bench_requests",
        "HTTP requests sent by completed operations (a multipart upload sends several); what the endpoint counts, CreateSession excluded.",
    );
    let mut bytes = Family::new(
        "s3bench_payload",
        "Payload bytes read or written by successful operations (warm-up included).",
    );
    bytes.unit = Some(Unit::Bytes);
    let mut gauges = LiveGauges {
        in_flight: s.targets.iter().map(|t| (t.clone(), 0.0)).collect(),
        au: BTreeMap::new(),
    };
    let mut hist: Vec<(Labels, [u64; BUCKETS], u64)> = Vec::new();
    for ((target, phase), blocks) in &s.blocks {
        let t = live::sum(blocks.iter().map(|b| &**b));
        let running = s
            .current
            .as_ref()
            .is_some_and(|(p, tg, _)| p == phase && tg == target);
        if running {
            *gauges.in_flight.entry(target.clone()).or_default() += t.in_flight as f64;
        }
        if t.compute_ns + t.stall_ns > 0 {
            gauges.au.insert(
                (target.clone(), phase.clone()),
                t.compute_ns as f64 / (t.compute_ns + t.stall_ns) as f64,
            );
        }
        for (i, o) in t.ops.iter().enumerate() {
            if o.count() == 0 {
                continue;
            }
            let op = OpKind::from_index(i).map_or("unknown", OpKind::key);
            let base: Labels = vec![
                ("target", target.clone()),
                ("phase", phase.clone()),
                ("op", op.to_string()),
            ];
            for k in 0..OUTCOMES {
                let mut l = base.clone();
                l.push(("outcome", outcome_name(k).to_string()));
                ops.samples.push((l, o.outcomes[k]));
            }
            warm.samples.push((base.clone(), o.warmup));
            reqs.samples.push((base.clone(), o.requests));
            bytes.samples.push((base.clone(), o.bytes));
            if o.buckets.iter().any(|n| *n > 0) {
                hist.push((base, o.buckets, o.latency_sum_ns));
            }
        }
    }
    for f in [&ops, &warm, &reqs, &bytes] {
        counters(enc, run, f)?;
    }
    let mut m = enc.encode_descriptor(
        "s3bench_latency",
        "Latency of measured successful operations (from when the request was due under a fixed rate), warm-up excluded, as the report's percentiles.",
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    for (labels, b, sum_ns) in &hist {
        let buckets: Vec<(f64, u64)> = LATENCY_BOUNDS_NS
            .iter()
            .map(|ns| *ns as f64 / 1e9)
            .chain([f64::INFINITY])
            .zip(b.iter().copied())
            .collect();
        let count = b.iter().sum();
        m.encode_family(&with_run(run, labels))?
            .encode_histogram::<NoLabelSet>(*sum_ns as f64 / 1e9, count, &buckets, None)?;
    }
    Ok(gauges)
}

fn encode_in_flight(
    enc: &mut DescriptorEncoder,
    s: &State,
    in_flight: BTreeMap<String, f64>,
) -> fmt::Result {
    let mut g = Family::new("s3bench_in_flight", "Requests in flight now, per target.");
    g.samples = in_flight
        .into_iter()
        .map(|(t, v)| (vec![("target", t)], v))
        .collect();
    gauges(enc, &s.run_id, &g)
}

/// CreateSession counts and the preflight's requests.
fn encode_sessions(enc: &mut DescriptorEncoder, s: &State) -> fmt::Result {
    let run = s.run_id.as_str();
    let mut sess = Family::new(
        "s3bench_create_sessions",
        "Directory-bucket CreateSession calls finished (the SDK's session cache; every 5 minutes or so per client).",
    );
    let mut sess_err = Family::new(
        "s3bench_create_session_errors",
        "Directory-bucket CreateSession calls that failed.",
    );
    for (t, f) in &s.sessions {
        let (n, e) = f();
        sess.samples.push((vec![("target", t.clone())], n));
        sess_err.samples.push((vec![("target", t.clone())], e));
    }
    counters(enc, run, &sess)?;
    counters(enc, run, &sess_err)?;
    let mut pre = Family::new(
        "s3bench_preflight_requests",
        "Requests the preflight checks sent before the load, by S3 operation.",
    );
    pre.samples = s
        .preflight
        .iter()
        .map(|((t, op), n)| (vec![("target", t.clone()), ("operation", op.clone())], *n))
        .collect();
    counters(enc, run, &pre)
}

/// A dataloader phase's AU and accelerators: live while it runs, the
/// report's once it has ended.
fn encode_dataloader(
    enc: &mut DescriptorEncoder,
    s: &State,
    au_live: &BTreeMap<(String, String), f64>,
) -> fmt::Result {
    let mut au = Family::new(
        "s3bench_dataloader_au",
        "Accelerator utilization of a dataloader phase (compute over wall time): live while it runs, the report's figure once it has ended.",
    );
    let mut acc = Family::new(
        "s3bench_dataloader_accelerators",
        "Simulated accelerators of a dataloader phase: of the job running now, or the report's figure once it has ended (in search mode, the most that kept the AU mark).",
    );
    let mut keys: Vec<&(String, String)> =
        au_live.keys().chain(s.dataloader_final.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let labels = vec![("target", k.0.clone()), ("phase", k.1.clone())];
        let (v, n) = match s.dataloader_final.get(k) {
            Some(&(a, n)) => (a, Some(n)),
            None => (au_live[k], s.dataloader_now.get(k).copied()),
        };
        au.samples.push((labels.clone(), v));
        if let Some(n) = n {
            acc.samples.push((labels, n as f64));
        }
    }
    gauges(enc, &s.run_id, &au)?;
    gauges(enc, &s.run_id, &acc)
}

/// What the run is doing now, what it is, and how it ended.
fn encode_run(enc: &mut DescriptorEncoder, s: &State) -> fmt::Result {
    let run = s.run_id.as_str();
    let mut phase = Family::new(
        "s3bench_phase_info",
        "1 for the phase and target the run is measuring now (none between jobs).",
    );
    let mut round = Family::new("s3bench_round", "The round running now (0 between jobs).");
    let mut r = 0.0;
    if let Some((p, t, n)) = &s.current {
        phase
            .samples
            .push((vec![("phase", p.clone()), ("target", t.clone())], 1.0));
        r = f64::from(*n);
    }
    round.samples.push((Vec::new(), r));
    let mut rounds = Family::new(
        "s3bench_rounds",
        "Rounds per target the run is planned for.",
    );
    rounds.samples.push((Vec::new(), f64::from(s.rounds)));
    let mut info = Family::new("s3bench_run_info", "The run: its id, scenario and shard.");
    info.samples.push((
        vec![
            ("run_id", s.run_id.clone()),
            ("scenario", s.scenario.clone()),
            ("shard", s.shard.map(|i| i.to_string()).unwrap_or_default()),
        ],
        1.0,
    ));
    let mut fin = Family::new(
        "s3bench_run_finished",
        "1 once the run has ended and its result is final (the counters are its totals).",
    );
    fin.samples
        .push((Vec::new(), if s.finished { 1.0 } else { 0.0 }));
    let mut checks = Family::new(
        "s3bench_checks",
        "The run's pass/fail checks by verdict, once judged at its end.",
    );
    if let Some((p, f)) = s.checks {
        checks
            .samples
            .push((vec![("verdict", "pass".to_string())], p as f64));
        checks
            .samples
            .push((vec![("verdict", "fail".to_string())], f as f64));
    }
    for f in [&phase, &round, &rounds, &info, &fin, &checks] {
        gauges(enc, run, f)?;
    }
    Ok(())
}

/// Every metric name the exposition can hold (series names: counters with
/// `_total`, the histogram's `_bucket`, `_sum` and `_count`), for checking
/// what a dashboard queries.
pub fn exported_names() -> Vec<String> {
    let mut v: Vec<String> = [
        "s3bench_operations_total",
        "s3bench_warmup_operations_total",
        "s3bench_requests_total",
        "s3bench_payload_bytes_total",
        "s3bench_create_sessions_total",
        "s3bench_create_session_errors_total",
        "s3bench_preflight_requests_total",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for suffix in ["bucket", "sum", "count"] {
        v.push(format!("s3bench_latency_seconds_{suffix}"));
    }
    v.extend(
        [
            "s3bench_in_flight",
            "s3bench_dataloader_au",
            "s3bench_dataloader_accelerators",
            "s3bench_phase_info",
            "s3bench_round",
            "s3bench_rounds",
            "s3bench_run_info",
            "s3bench_run_finished",
            "s3bench_checks",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    v
}

#[cfg(test)]
mod tests;
