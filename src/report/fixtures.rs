//! Realistic results for tests and documentation: every number is computed
//! from synthetic latency samples, so histograms, summaries, rounds and the
//! time series agree with each other the way a real run's do.
//!
//! The samples use only + and * on a seeded RNG, so they are identical on
//! every platform and the snapshot tests stay stable.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::report::model::*;
use crate::report::summary::summarize;
use crate::stats::codec;

const MIB: f64 = 1024.0 * 1024.0;

/// How one op behaves on one target.
#[derive(Debug, Clone)]
pub struct OpSpec {
    pub op: &'static str,
    /// Typical latency, µs (samples spread ±20% around it).
    pub base_us: f64,
    /// Scale of the slow tail, µs.
    pub tail_us: f64,
    /// Operations per second of measured time.
    pub per_sec: u32,
    /// Payload bytes per successful op.
    pub bytes: u64,
    /// HTTP requests per op (multipart PUT sends several).
    pub requests_per_op: u64,
    /// GET-like: record time to first byte.
    pub ttfb: bool,
    /// Open loop: record service time; some requests wait up to this long
    /// past their due time before they are sent, µs.
    pub queue_us: Option<f64>,
    /// Failures by kind; they land in the first seconds of round 1.
    pub errors: Vec<(&'static str, u64)>,
    pub late_starts: u64,
    pub behind_session: u64,
}

impl OpSpec {
    pub fn new(op: &'static str, base_us: f64, tail_us: f64, per_sec: u32) -> Self {
        OpSpec {
            op,
            base_us,
            tail_us,
            per_sec,
            bytes: 0,
            requests_per_op: 1,
            ttfb: false,
            queue_us: None,
            errors: Vec::new(),
            late_starts: 0,
            behind_session: 0,
        }
    }
}

fn hist() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits is a valid histogram")
}

fn record(h: &mut Histogram<u64>, us: f64) {
    // Auto-resizing histograms accept any u64.
    let _ = h.record((us * 1_000.0) as u64);
}

/// One latency sample, µs: a ±20% body plus a tail that is rare and long
/// (u^8 puts ~1% of samples above 56% of `tail_us`).
fn sample(rng: &mut fastrand::Rng, base_us: f64, tail_us: f64) -> f64 {
    let body = base_us * (0.8 + 0.4 * rng.f64());
    let u = rng.f64();
    let u2 = u * u;
    let u4 = u2 * u2;
    body + tail_us * u4 * u4
}

/// Builds one target's result for one phase.
pub fn target_phase(
    target: &str,
    rounds: u32,
    seconds: u32,
    in_flight: u64,
    specs: &[OpSpec],
    seed: u64,
) -> TargetPhaseResult {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut ops = BTreeMap::new();
    let mut round_ops: Vec<BTreeMap<String, RoundOp>> = vec![BTreeMap::new(); rounds as usize];
    let mut timeseries = Vec::new();
    let elapsed_s = f64::from(rounds * seconds);

    for spec in specs {
        let (mut lat, mut ttfb, mut service) = (hist(), hist(), hist());
        let mut errors_left: Vec<(&str, u64)> = spec.errors.clone();
        let mut errors_total = 0u64;
        let mut count = 0u64;
        for round in 1..=rounds {
            let mut round_h = hist();
            let mut round_errors = 0;
            for second in 0..seconds {
                let mut sec_h = hist();
                let mut sec_errors = 0;
                let mut throttled = 0;
                // Errors cluster at the start, as throttling does on a cold prefix.
                for (kind, left) in errors_left.iter_mut() {
                    let take = (*left).min(u64::from(spec.per_sec / 4));
                    *left -= take;
                    sec_errors += take;
                    if kind.starts_with("503") {
                        throttled += take;
                    }
                }
                // Closed-loop throughput wanders from second to second; an
                // open loop's rate is fixed by its schedule.
                let n = if spec.queue_us.is_some() {
                    u64::from(spec.per_sec)
                } else {
                    let jitter = 0.9 + 0.2 * rng.f64();
                    ((f64::from(spec.per_sec) * jitter).round() as u64).max(1)
                };
                for _ in 0..n {
                    let svc = sample(&mut rng, spec.base_us, spec.tail_us);
                    let wait = match spec.queue_us {
                        Some(q) if rng.f64() < 0.05 => q * rng.f64(),
                        _ => 0.0,
                    };
                    let total = svc + wait;
                    record(&mut lat, total);
                    record(&mut round_h, total);
                    record(&mut sec_h, total);
                    if spec.ttfb {
                        record(&mut ttfb, total * 0.55);
                    }
                    if spec.queue_us.is_some() {
                        record(&mut service, svc);
                    }
                }
                count += n;
                round_errors += sec_errors;
                let s = summarize(&sec_h);
                timeseries.push(SecondRow {
                    round,
                    second,
                    op: spec.op.to_string(),
                    count: n,
                    errors: sec_errors,
                    throttled,
                    bytes: (n - sec_errors) * spec.bytes,
                    p50: s.p50,
                    p99: s.p99,
                    in_flight,
                    histogram: Some(codec::encode(&sec_h)),
                });
            }
            errors_total += round_errors;
            let s = summarize(&round_h);
            round_ops[round as usize - 1].insert(
                spec.op.to_string(),
                RoundOp {
                    count: round_h.len(),
                    errors: round_errors,
                    ops_per_sec: round_h.len() as f64 / f64::from(seconds),
                    p50: s.p50,
                    p99: s.p99,
                },
            );
        }
        let bytes = (count - errors_total) * spec.bytes;
        let opt = |h: &Histogram<u64>, on: bool| on.then(|| (summarize(h), codec::encode(h)));
        let ttfb = opt(&ttfb, spec.ttfb);
        let service = opt(&service, spec.queue_us.is_some());
        ops.insert(
            spec.op.to_string(),
            OpResult {
                count,
                successes: count - errors_total,
                errors: errors_total,
                errors_by_kind: spec
                    .errors
                    .iter()
                    .map(|(k, n)| (k.to_string(), *n))
                    .collect(),
                failures: failure_groups(&spec.errors),
                requests: count * spec.requests_per_op,
                bytes,
                ops_per_sec: (count - errors_total) as f64 / elapsed_s,
                attempted_ops_per_sec: count as f64 / elapsed_s,
                mib_per_sec: bytes as f64 / MIB / elapsed_s,
                late_starts: spec.late_starts,
                behind_session: spec.behind_session,
                latency_us: summarize(&lat),
                ttfb_us: ttfb.as_ref().map(|t| t.0),
                service_us: service.as_ref().map(|t| t.0),
                histograms: HistogramBlobs {
                    latency: codec::encode(&lat),
                    ttfb: ttfb.map(|t| t.1),
                    service: service.map(|t| t.1),
                },
                audit: None,
            },
        );
    }

    // Stable: the engine writes each second's ops together.
    timeseries.sort_by_key(|s: &SecondRow| (s.round, s.second));
    TargetPhaseResult {
        target: target.to_string(),
        elapsed_s,
        ops,
        warmup: BTreeMap::new(),
        sessions: SessionResult::default(),
        attempts: BTreeMap::new(),
        loader: None,
        throttled_by_prefix: None,
        checkpoint: None,
        audits: Vec::new(),
        lateness: None,
        rounds: round_ops
            .into_iter()
            .enumerate()
            .map(|(i, ops)| RoundResult {
                round: i as u32 + 1,
                elapsed_s: f64::from(seconds),
                ops,
            })
            .collect(),
        timeseries,
    }
}

/// `count` CreateSession calls around `base_us`.
pub fn sessions(count: u64, errors: u64, base_us: f64, seed: u64) -> SessionResult {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut h = hist();
    for _ in 0..count {
        record(&mut h, sample(&mut rng, base_us, base_us * 3.0));
    }
    SessionResult {
        count,
        errors,
        latency_us: (count > 0).then(|| summarize(&h)),
        histogram: (count > 0).then(|| codec::encode(&h)),
    }
}

/// A small warm-up: `n` ops around `base_us`, excluded from the measurement.
pub fn warmup(op: &'static str, n: u32, base_us: f64, seed: u64) -> BTreeMap<String, OpResult> {
    target_phase(
        "warmup",
        1,
        1,
        1,
        &[OpSpec::new(op, base_us, base_us, n)],
        seed,
    )
    .ops
}

fn targets() -> Vec<TargetInfo> {
    vec![
        TargetInfo {
            name: "standard".into(),
            kind: "general-purpose".into(),
            bucket: "s3bench-gp-use1".into(),
            region: "us-east-1".into(),
            endpoint: None,
            request_path: "direct".into(),
            checksum: "none".into(),
            checksum_checked: 0,
            checksum_unchecked: 0,
            preflight_requests: Default::default(),
            audit_requests: Default::default(),
        },
        TargetInfo {
            name: "express".into(),
            kind: "directory".into(),
            bucket: "s3bench--use1-az4--x-s3".into(),
            region: "us-east-1".into(),
            endpoint: None,
            request_path: "direct".into(),
            checksum: "none".into(),
            checksum_checked: 0,
            checksum_unchecked: 0,
            preflight_requests: Default::default(),
            audit_requests: Default::default(),
        },
    ]
}

/// A phase of the sample run: its label as given (the snapshots keep it),
/// its role and shape as data.
fn phase(
    name: &str,
    role: PhaseRole,
    shape: LoadShape,
    load: &str,
    rounds: u32,
    targets: Vec<TargetPhaseResult>,
) -> PhaseResult {
    PhaseResult {
        name: name.into(),
        role,
        shape,
        load: load.into(),
        rounds,
        interrupted: None,
        targets,
    }
}

/// Failure groups for error kinds like "503 SlowDown" or "timeout", each
/// failure taking a fixed 2 ms (a fast refusal).
fn failure_groups(errors: &[(&str, u64)]) -> BTreeMap<String, FailureResult> {
    let mut out: BTreeMap<String, FailureResult> = BTreeMap::new();
    for (kind, n) in errors {
        let group = if kind.starts_with("503") || kind.starts_with("429") {
            "throttled"
        } else if kind.starts_with(|c: char| c.is_ascii_digit()) {
            "http"
        } else {
            "transport"
        };
        let f = out.entry(group.to_string()).or_default();
        f.count += n;
        if let Some(status) = kind.get(..3).and_then(|s| s.parse::<u16>().ok()) {
            *f.statuses.entry(status).or_insert(0) += n;
        }
        let mut h =
            codec::decode(&f.histogram).unwrap_or_else(|_| crate::stats::recorder::latency_hist());
        for _ in 0..*n {
            crate::stats::recorder::record(&mut h, 2_000_000);
        }
        f.latency_us = summarize(&h);
        f.histogram = codec::encode(&h);
    }
    out
}

/// The full sample: General Purpose vs Express, a prepare phase, a closed-loop
/// mixed phase over 2 rounds (503s on GP, CreateSession on Express), an
/// open-loop GET phase with service times and late starts, and cleanup.
pub fn sample_result() -> RunResult {
    sample_with(0, 1.0)
}

/// The sample run again on another day: other random samples, and General
/// Purpose latency scaled by `gp` (the Express target is unchanged).
pub fn rerun_result() -> RunResult {
    let mut r = sample_with(1000, 1.3);
    r.run_id = "20250102T120000Z-gp-vs-express-w8d4".into();
    r.run_prefix = "s3bench/20250102T120000Z-gp-vs-express-w8d4/".into();
    r.started_at = "2025-01-02T12:00:00Z".into();
    r.finished_at = "2025-01-02T12:01:13Z".into();
    r
}

fn sample_with(salt: u64, gp: f64) -> RunResult {
    const KIB64: u64 = 64 * 1024;
    let put = |base, tail, per_sec| OpSpec {
        bytes: KIB64,
        ..OpSpec::new("put", base, tail, per_sec)
    };
    let get = |base, tail, per_sec| OpSpec {
        bytes: KIB64,
        ttfb: true,
        ..OpSpec::new("get", base, tail, per_sec)
    };

    let prepare = phase(
        "prepare",
        PhaseRole::Setup,
        LoadShape::Prepare {
            objects: 200,
            concurrency: 8,
        },
        "closed, 8 workers, 200 objects of 64 KiB",
        1,
        vec![
            target_phase(
                "standard",
                1,
                2,
                8,
                &[put(28_000.0 * gp, 90_000.0, 100)],
                salt + 11,
            ),
            target_phase(
                "express",
                1,
                2,
                8,
                &[put(7_500.0, 20_000.0, 100)],
                salt + 12,
            ),
        ],
    );

    let mut gp_mixed = target_phase(
        "standard",
        2,
        5,
        16,
        &[
            get(16_000.0 * gp, 120_000.0, 60),
            OpSpec {
                errors: vec![("503 SlowDown", 14), ("timeout", 1)],
                ..put(27_000.0 * gp, 150_000.0, 20)
            },
            OpSpec::new("head", 11_000.0 * gp, 40_000.0, 20),
        ],
        salt + 21,
    );
    gp_mixed.warmup = warmup("get", 20, 18_000.0 * gp, salt + 23);
    let mut ex_mixed = target_phase(
        "express",
        2,
        5,
        16,
        &[
            get(4_200.0, 14_000.0, 200),
            OpSpec {
                errors: vec![("connection", 2)],
                ..put(7_800.0, 25_000.0, 66)
            },
            OpSpec::new("head", 3_100.0, 9_000.0, 66),
        ],
        salt + 22,
    );
    ex_mixed.warmup = warmup("get", 20, 4_500.0, salt + 24);
    ex_mixed.sessions = sessions(2, 0, 9_000.0, salt + 25);
    let mixed = phase(
        "mixed",
        PhaseRole::Measured,
        LoadShape::Stages {
            stages: vec![StageShape::Closed {
                concurrency: 16,
                duration_s: None,
            }],
            warmup_s: Some(1.0),
            stop_after_s: Some(5.0),
            stop_after_ops: None,
            gp_stand_ins: Vec::new(),
            mix: Vec::new(),
        },
        "closed, 16 workers, get 60% / put 20% / head 20%",
        2,
        vec![gp_mixed, ex_mixed],
    );

    let paced = |base, tail, queue, late, behind| OpSpec {
        queue_us: Some(queue),
        late_starts: late,
        behind_session: behind,
        ..get(base, tail, 50)
    };
    let mut ex_paced = target_phase(
        "express",
        1,
        6,
        4,
        &[paced(4_000.0, 12_000.0, 2_000.0, 0, 3)],
        salt + 32,
    );
    ex_paced.sessions = sessions(1, 0, 8_500.0, salt + 33);
    let paced_phase = phase(
        "paced-get",
        PhaseRole::Measured,
        LoadShape::Stages {
            stages: vec![StageShape::Open {
                rate: 50.0,
                max_in_flight: 64,
                duration_s: None,
            }],
            warmup_s: Some(0.0),
            stop_after_s: Some(6.0),
            stop_after_ops: None,
            gp_stand_ins: Vec::new(),
            mix: Vec::new(),
        },
        "open, 50 ops/s fixed rate, max 64 in flight",
        1,
        vec![
            target_phase(
                "standard",
                1,
                6,
                4,
                &[paced(15_500.0 * gp, 100_000.0, 30_000.0, 4, 0)],
                salt + 31,
            ),
            ex_paced,
        ],
    );

    let delete = |base, tail| OpSpec::new("delete", base, tail, 100);
    let cleanup = phase(
        "cleanup",
        PhaseRole::Setup,
        LoadShape::Cleanup,
        "closed, 8 workers, delete every object written",
        1,
        vec![
            target_phase(
                "standard",
                1,
                2,
                8,
                &[delete(12_000.0 * gp, 30_000.0)],
                salt + 41,
            ),
            target_phase("express", 1, 2, 8, &[delete(3_500.0, 8_000.0)], salt + 42),
        ],
    );

    RunResult {
        schema_version: SCHEMA_VERSION,
        run_id: "20250101T120000Z-gp-vs-express-k3x9".into(),
        scenario: "gp-vs-express".into(),
        scenario_file: "scenarios/gp-vs-express.toml".into(),
        s3bench_version: "0.1.0".into(),
        sdk_version: "1.157.0".into(),
        started_at: "2025-01-01T12:00:00Z".into(),
        finished_at: "2025-01-01T12:01:12Z".into(),
        run_prefix: "s3bench/20250101T120000Z-gp-vs-express-k3x9/".into(),
        hosts: vec![HostInfo {
            hostname: "bench-c7i-1".into(),
            os: "linux".into(),
            arch: "x86_64".into(),
            cpus: 16,
            shard: None,
            clock_offset: None,
            measured_start_at: None,
            barrier: None,
        }],
        embedded: false,
        injection: Vec::new(),
        targets: targets(),
        phases: vec![prepare, mixed, paced_phase, cleanup],
        complete: true,
        interrupted: None,
        left_behind: Vec::new(),
        client: ClientUsage {
            cpu_s: 4.2,
            cpu_us_per_request: 96.5,
            host_cpu_percent: Some(23.5),
            threads: 16,
            ..ClientUsage::default()
        },
        shards: 1,
        warnings: vec![
            "client AZ use1-az6 differs from express bucket AZ use1-az4: cross-AZ latency included"
                .into(),
        ],
        checks: Vec::new(),
        gpu_hour_usd: None,
        op_logs: Vec::new(),
    }
}

/// The sample, stopped by Ctrl-C during the open-loop phase: the phases
/// measured so far are kept, the rest are missing.
pub fn interrupted_result() -> RunResult {
    let mut r = sample_result();
    r.run_id = "20250101T130000Z-gp-vs-express-q7m2".into();
    r.run_prefix = "s3bench/20250101T130000Z-gp-vs-express-q7m2/".into();
    r.started_at = "2025-01-01T13:00:00Z".into();
    r.finished_at = "2025-01-01T13:00:41Z".into();
    r.phases.truncate(2);
    r.complete = false;
    r.interrupted = Some("interrupted by Ctrl-C during phase `paced-get`".into());
    r.warnings
        .push("run interrupted: objects under the run prefix were not cleaned up".into());
    r
}

/// Both targets on the embedded endpoint with injected latency and faults,
/// on a client whose CPU was the bottleneck.
pub fn injected_result() -> RunResult {
    let mut r = sample_result();
    r.run_id = "20250101T140000Z-gp-vs-express-local-z1p5".into();
    r.scenario = "gp-vs-express-local".into();
    r.scenario_file = "scenarios/local|model.toml".into();
    r.run_prefix = "s3bench/20250101T140000Z-gp-vs-express-local-z1p5/".into();
    r.embedded = true;
    r.injection = vec![
        "standard: +15 ms median first-byte latency, lognormal sigma 0.6".into(),
        "standard: 503 SlowDown above 200 PUT/s per prefix".into(),
        "express: +4 ms median first-byte latency".into(),
    ];
    for t in &mut r.targets {
        t.endpoint = Some("http://127.0.0.1:40123".into());
    }
    r.hosts[0].hostname = "laptop".into();
    r.hosts[0].cpus = 2;
    r.client = ClientUsage {
        cpu_s: 31.0,
        cpu_us_per_request: 412.0,
        host_cpu_percent: Some(93.0),
        threads: 2,
        ..ClientUsage::default()
    };
    r.warnings = vec!["embedded endpoint with injected latency: numbers are a model".into()];
    // The General Purpose PUTs' 503s by key prefix: all on the scratch keys.
    for p in &mut r.phases {
        for t in p.targets.iter_mut().filter(|t| t.target == "standard") {
            let rows: Vec<PrefixRow> = t
                .timeseries
                .iter()
                .filter(|s| s.throttled > 0)
                .map(|s| PrefixRow {
                    round: s.round,
                    second: s.second,
                    prefix: "put/".into(),
                    throttled: s.throttled,
                })
                .collect();
            if !rows.is_empty() {
                t.throttled_by_prefix = Some(PrefixThrottling {
                    granularity: "data set keys (`{hash:2}/data/{index:05}.bin`) by the first hex digit of `{hash:2}`, below the run prefix; other keys s3bench writes (`put/`, `copy/`, ...) by their first path segment".into(),
                    rows,
                });
            }
        }
    }
    r
}
