//! `s3bench whatif RESULT.json --phase P`: how many accelerators would each
//! bucket kind keep busy, from one measurement. It runs the engine's own
//! loader model (the code a `[phase.loader]` runs, through the engine's
//! `Connector` seam, on a paused clock) against a simulated client whose
//! every GET takes a latency drawn from what the phase measured on that
//! target (its `get` or `ranged_get` histogram). So one GET phase answers
//! "how many B200s running U-Net3D does each bucket kind keep at 90%?"
//! without a measured search per count.
//!
//! What it assumes is said with every answer ([`assumptions`]): latency does
//! not change with load, so a cap the run did not hit is not seen.

pub mod client;
pub mod render;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::engine::{Cancel, Engine, EngineOptions, Job, JobKind, JobResult};
use crate::report::model::{DataloaderResult, OpResult, PhaseResult, RunResult};
use crate::scenario::dataloader::{DEFAULT_AU, DEFAULT_PREFETCH, DEFAULT_READ_CONCURRENCY};
use crate::scenario::presets::{Preset, preset};
use crate::scenario::{
    Accelerators, ClientSettings, DataloaderSpec, Dataset, KeyTemplate, Phase, Plan, Prepare,
    Pricing, SampleUnit, SizeDist, Stop, TargetKind, TargetSpec,
};
use crate::stats::dataloader::DataloaderStats;
use client::{DrawnConnector, Sampler};

/// Simulated time per accelerator count when `--duration` is not given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(30);
/// The most simulated time per count (the simulation's cost grows with it).
const MAX_DURATION: Duration = Duration::from_secs(600);
/// tokio's timers fire on whole milliseconds, which would round every
/// drawn latency and compute up to the next millisecond. The simulation
/// runs slowed down by this factor (latencies, compute and duration all
/// multiplied), so that rounding is a microsecond of the real scale; AU is
/// a ratio of times and does not change, times are divided back. The paused
/// clock makes the slower run cost nothing; the factor shrinks for long
/// durations so the per-second request rows stay at most this many.
const TIME_SCALE: u32 = 1000;
const MAX_SCALED_SECONDS: f64 = 30_000.0;

/// The slow-down of a simulation of `duration`.
pub fn time_scale(duration: Duration) -> u32 {
    let by_rows = (MAX_SCALED_SECONDS / duration.as_secs_f64().max(1e-3)).floor();
    (by_rows as u32).clamp(1, TIME_SCALE)
}

/// What to predict, as `s3bench whatif`'s flags say it.
#[derive(Debug, Clone, Default)]
pub struct WhatifOptions {
    /// The phase whose measured latencies are drawn from.
    pub phase: String,
    /// Accelerators to simulate.
    pub accelerators: Option<u32>,
    /// Search for the most accelerators (at most this many) that keep the mark.
    pub search: Option<u32>,
    pub batch_size: Option<u32>,
    pub compute: Option<Duration>,
    pub read_concurrency: Option<u32>,
    pub prefetch: Option<u32>,
    pub sample: Option<SampleUnit>,
    /// An MLPerf workload (`scenario::presets`): batch, compute, sample
    /// size, mark, reads in flight; any flag above overrides it.
    pub preset: Option<String>,
    /// The pass mark (default: the preset's, the phase's, or 0.90).
    pub au: Option<f64>,
    /// Simulated time per accelerator count.
    pub duration: Option<Duration>,
    /// Seed of the latency draws.
    pub seed: u64,
    /// USD per accelerator-hour, to price the idle time.
    pub gpu_hour: Option<f64>,
}

/// Flags that do not make a prediction: one plain sentence, exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WhatifError(pub String);

fn bad(msg: impl Into<String>) -> anyhow::Error {
    WhatifError(msg.into()).into()
}

/// The loader settings a prediction simulates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// A fixed count (None when searching).
    pub accelerators: Option<u32>,
    /// A search's upper bound.
    pub search: Option<u32>,
    pub batch_size: u32,
    pub compute_ms: f64,
    pub read_concurrency: u32,
    pub prefetch: u32,
    /// `object` or the record size in bytes.
    pub sample: String,
    /// Bytes of one sample as simulated (the measured reads' mean size).
    pub sample_bytes: u64,
    /// The op whose latency is drawn: `get` or `ranged_get`.
    pub op: String,
    pub au_mark: f64,
    /// Simulated seconds per accelerator count.
    pub duration_s: f64,
    pub preset: Option<String>,
    pub seed: u64,
    #[serde(skip)]
    spec: Option<DataloaderSpec>,
}

/// One step of a predicted search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepPrediction {
    pub accelerators: u32,
    pub au: f64,
    pub passed: bool,
}

/// What one target's measured latency predicts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub target: String,
    /// `general-purpose` or `directory`.
    pub kind: String,
    /// Accelerators predicted (a search's answer: the most that keep the mark).
    pub accelerators: u32,
    /// Accelerator utilization at that count (a search that found none: at 1).
    pub au: f64,
    /// Lowest AU of one accelerator.
    pub au_min: f64,
    pub au_mark: f64,
    pub passed: bool,
    /// Share of the accelerators' time spent waiting for data.
    pub idle_share: f64,
    /// Idle accelerator-hours per day of training at that count and AU.
    pub idle_gpu_hours_per_day: f64,
    /// Their price at `--gpu-hour`.
    pub idle_gpu_usd_per_day: Option<f64>,
    pub stall_p50_ms: f64,
    pub stall_p99_ms: f64,
    /// What the accelerators need to never wait, MiB/s.
    pub needed_mib_per_sec: f64,
    /// What the simulated loader delivered, MiB/s.
    pub achieved_mib_per_sec: f64,
    /// The phase's own measured AU with the same settings and count, when
    /// it was a loader phase that ran them: the check of the prediction.
    pub measured_au: Option<f64>,
    /// The latency drawn from: op, successful requests, p50 and p99 (ms).
    pub latency_op: String,
    pub latency_requests: u64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    /// A search's steps, in the order simulated.
    pub steps: Vec<StepPrediction>,
}

/// Every target's prediction and what they rest on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Whatif {
    pub run_id: String,
    pub phase: String,
    pub settings: Settings,
    pub targets: Vec<Prediction>,
    /// What the predictions assume, in sentences.
    pub assumptions: Vec<String>,
}

fn find_phase<'a>(r: &'a RunResult, name: &str) -> anyhow::Result<&'a PhaseResult> {
    r.phases.iter().find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<&str> = r.phases.iter().map(|p| p.name.as_str()).collect();
        bad(format!(
            "--phase {name:?}: the result has no such phase (it has: {})",
            names.join(", ")
        ))
    })
}

/// The phase's loader settings, if it was a loader phase.
fn loader_of(p: &PhaseResult) -> Option<&DataloaderResult> {
    p.targets.iter().find_map(|t| t.loader.as_ref())
}

fn mean_bytes(o: &OpResult) -> u64 {
    o.bytes / o.successes.max(1)
}

/// Which op's latency a prediction draws from (`get` for whole-object
/// samples, `ranged_get` for records) and what a sample is: from the flag,
/// the preset or the loader phase, else what the phase measured.
fn sample_and_op(
    p: &PhaseResult,
    o: &WhatifOptions,
    pre: Option<&Preset>,
    measured: Option<&DataloaderResult>,
) -> anyhow::Result<(SampleUnit, &'static str, u64)> {
    let has = |op: &str| {
        p.targets
            .iter()
            .any(|t| t.ops.get(op).is_some_and(|o| o.successes > 0))
    };
    let sample = o.sample.or(pre.map(|p| p.sample)).or(measured.map(|l| {
        if has("ranged_get") {
            SampleUnit::Record {
                size: l.sample_bytes,
            }
        } else {
            SampleUnit::Object
        }
    }));
    let op = match (sample, has("get"), has("ranged_get")) {
        (_, false, false) => {
            return Err(bad(format!(
                "--phase {:?} has no successful GET or ranged GET to draw latencies from",
                o.phase
            )));
        }
        (Some(SampleUnit::Object), true, _) | (None, true, false) => "get",
        (Some(SampleUnit::Record { .. }), _, true) | (None, false, true) => "ranged_get",
        (Some(SampleUnit::Object), false, true) => "ranged_get",
        (Some(SampleUnit::Record { .. }), true, false) => "get",
        (None, true, true) => {
            return Err(bad(format!(
                "--phase {:?} measured both GETs and ranged GETs: say which with --sample (\"object\" or a record size)",
                o.phase
            )));
        }
    };
    let measured_bytes = p
        .targets
        .iter()
        .find_map(|t| t.ops.get(op).filter(|o| o.successes > 0).map(mean_bytes));
    let sample = sample.unwrap_or(if op == "get" {
        SampleUnit::Object
    } else {
        SampleUnit::Record {
            size: measured_bytes.unwrap_or(1),
        }
    });
    let sample_bytes = match sample {
        SampleUnit::Record { size } => size,
        SampleUnit::Object => measured_bytes.unwrap_or(0),
    };
    Ok((sample, op, sample_bytes))
}

/// The settings' limits, each broken one said as its flag.
fn check_ranges(
    counts: [(&str, u32, u32); 5],
    compute: Duration,
    au_mark: f64,
    duration: Duration,
    gpu_hour: Option<f64>,
) -> anyhow::Result<()> {
    for (flag, v, max) in counts {
        if v == 0 || v > max {
            return Err(bad(format!("{flag} must be between 1 and {max}, got {v}")));
        }
    }
    if compute.is_zero() {
        return Err(bad("--compute must be above 0"));
    }
    if !(au_mark > 0.0 && au_mark <= 1.0) {
        return Err(bad(format!(
            "--au must be above 0 and at most 1 (0.90 = 90%), got {au_mark}"
        )));
    }
    if duration < compute * 4 || duration > MAX_DURATION {
        return Err(bad(format!(
            "--duration must be at least 4 batches of compute ({:?}) and at most {:?}, got {duration:?}",
            compute * 4,
            MAX_DURATION
        )));
    }
    if let Some(g) = gpu_hour {
        crate::scenario::check_gpu_hour(g).map_err(bad)?;
    }
    Ok(())
}

/// Works out the settings from the phase (if a loader phase), then the
/// preset, then the flags, and checks them.
pub fn settings(r: &RunResult, o: &WhatifOptions) -> anyhow::Result<Settings> {
    let p = find_phase(r, &o.phase)?;
    let measured = loader_of(p);
    let pre: Option<&Preset> = match &o.preset {
        Some(n) => Some(preset(n).ok_or_else(|| {
            bad(format!(
                "--preset {n:?}: no such preset (there are: {})",
                crate::scenario::presets::names()
            ))
        })?),
        None => None,
    };
    let (sample, op, sample_bytes) = sample_and_op(p, o, pre, measured)?;
    let batch_size = o
        .batch_size
        .or(pre.map(|p| p.batch_size))
        .or(measured.map(|l| l.batch_size))
        .ok_or_else(|| {
            bad(format!(
                "--phase {:?} is not a loader phase: give --batch-size and --compute, or --preset NAME",
                o.phase
            ))
        })?;
    let compute = o
        .compute
        .or(pre.map(|p| p.compute))
        .or(measured.map(|l| Duration::from_secs_f64(l.compute_ms / 1000.0)))
        .ok_or_else(|| bad("give --compute (per batch), or --preset NAME"))?;
    let read_concurrency = o
        .read_concurrency
        .or(pre.map(|p| p.read_concurrency))
        .or(measured.map(|l| l.read_concurrency))
        .unwrap_or(DEFAULT_READ_CONCURRENCY);
    let prefetch = o
        .prefetch
        .or(pre.map(|p| p.prefetch))
        .or(measured.map(|l| l.prefetch))
        .unwrap_or(DEFAULT_PREFETCH);
    let au_mark =
        o.au.or(pre.map(|p| p.au))
            .or(measured.map(|l| l.au_target))
            .unwrap_or(DEFAULT_AU);
    let accelerators = match (o.accelerators, o.search) {
        (Some(_), Some(_)) => return Err(bad("give --accelerators N or --search MAX, not both")),
        (Some(n), None) => Some(n),
        (None, Some(_)) => None,
        (None, None) => match measured {
            Some(l) if l.accelerators > 0 => Some(l.accelerators as u32),
            _ => {
                return Err(bad(
                    "give --accelerators N (how many to simulate) or --search MAX (find the most that keep the mark)",
                ));
            }
        },
    };
    let duration = o.duration.unwrap_or(DEFAULT_DURATION);
    check_ranges(
        [
            ("--accelerators", accelerators.unwrap_or(1), 100_000),
            ("--search", o.search.unwrap_or(1), 100_000),
            ("--batch-size", batch_size, 1_000_000),
            ("--read-concurrency", read_concurrency, 4096),
            ("--prefetch", prefetch, 4096),
        ],
        compute,
        au_mark,
        duration,
        o.gpu_hour,
    )?;
    let spec = DataloaderSpec {
        accelerators: match accelerators {
            Some(n) => Accelerators::Fixed(n),
            None => Accelerators::Search {
                max: o.search.unwrap_or(1),
            },
        },
        batch_size,
        compute,
        prefetch,
        read_concurrency,
        sample: SampleUnit::Object,
        epochs: None,
        au: au_mark,
    };
    Ok(Settings {
        accelerators,
        search: o.search,
        batch_size,
        compute_ms: compute.as_secs_f64() * 1000.0,
        read_concurrency,
        prefetch,
        sample: match sample {
            SampleUnit::Object => "object".into(),
            SampleUnit::Record { size } => size.to_string(),
        },
        sample_bytes,
        op: op.into(),
        au_mark,
        duration_s: duration.as_secs_f64(),
        preset: pre.map(|p| p.name.to_string()),
        seed: o.seed,
        spec: Some(spec),
    })
}

/// A one-target plan whose one phase is the loader to simulate. Every
/// sample is one object of `sample_bytes` (the simulated client answers
/// any GET with those bytes after a drawn latency), so the data set's
/// layout does not matter; it holds enough samples that no accelerator
/// waits for an epoch's end.
fn plan_for(s: &Settings, target: &str, kind: TargetKind, accelerators: u32) -> Plan {
    let mut spec = s.spec.clone().expect("settings built by `settings`");
    let scale = time_scale(Duration::from_secs_f64(s.duration_s));
    spec.compute *= scale;
    let objects = (u64::from(spec.batch_size) * u64::from(accelerators) * 4).max(4096);
    Plan {
        name: "whatif".into(),
        source: PathBuf::from("whatif"),
        description: None,
        targets: vec![TargetSpec {
            name: target.to_string(),
            kind,
            bucket: "whatif".into(),
            region: "us-east-1".into(),
            endpoint: None,
            profile: None,
            path_style: false,
            resolve: None,
            ca_file: None,
            embedded: None,
        }],
        dataset: Dataset {
            objects,
            size: SizeDist::Fixed(s.sample_bytes.max(1)),
            key: KeyTemplate::parse("{index}").expect("a valid key template"),
        },
        prepare: Prepare {
            enabled: false,
            concurrency: 1,
            multipart_threshold: u64::MAX,
            part_size: 8 << 20,
        },
        phases: vec![Phase {
            name: "whatif".into(),
            stop: Stop {
                duration: Some(Duration::from_secs_f64(s.duration_s) * scale),
                ops: None,
            },
            warmup: Duration::ZERO,
            stages: Vec::new(),
            mix: Vec::new(),
            loader: Some(spec),
            checkpoint: None,
            replay: None,
        }],
        cleanup: false,
        client: ClientSettings::default(),
        rounds: 1,
        seed: s.seed,
        pricing: Pricing::default(),
        checks: Vec::new(),
    }
}

/// One simulated run of `accelerators` on one engine thread with a paused
/// clock: the engine's loader, unchanged, against drawn latencies.
async fn simulate(
    plan: Arc<Plan>,
    sampler: Arc<Sampler>,
    seed: u64,
    bytes: u64,
    accelerators: u32,
    scale: u32,
) -> anyhow::Result<JobResult> {
    let engine = Engine::start_with(
        DrawnConnector {
            sampler,
            seed,
            bytes,
            scale,
        },
        1,
        Arc::new(Cancel::default()),
        EngineOptions { paused_clock: true },
    )?;
    let job = Job {
        plan,
        kind: JobKind::Dataloader {
            phase: 0,
            accelerators,
        },
        target: 0,
        round: 1,
        run_prefix: Arc::from("whatif/"),
        date: (2026, 1, 1),
        // On this (unpaused) clock; the engine thread's paused clock
        // starts behind it and jumps there.
        start: Instant::now() + Duration::from_millis(20),
    };
    let r = engine.run(job).await;
    engine.shutdown();
    r
}

fn au_of(r: &JobResult) -> f64 {
    r.loader.as_ref().map_or(0.0, DataloaderStats::au)
}

/// The phase's measured AU at `n` accelerators, if it was a loader phase
/// with these settings (the check of a prediction).
fn measured_au(p: &PhaseResult, target: &str, s: &Settings, n: u32) -> Option<f64> {
    let l = p
        .targets
        .iter()
        .find(|t| t.target == target)?
        .loader
        .as_ref()?;
    let same = l.batch_size == s.batch_size
        && (l.compute_ms - s.compute_ms).abs() < 1e-6
        && l.read_concurrency == s.read_concurrency
        && l.prefetch == s.prefetch;
    if !same {
        return None;
    }
    match &l.search {
        None => (l.accelerators == u64::from(n)).then_some(l.measured.au),
        Some(search) => {
            let (c, w) = search
                .steps
                .iter()
                .filter(|st| st.accelerators == u64::from(n))
                .fold((0.0, 0.0), |(c, w), st| {
                    (c + st.measured.compute_s, w + st.measured.wall_s)
                });
            (w > 0.0).then(|| c / w)
        }
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// Predicts every target of the phase.
pub async fn predict(r: &RunResult, o: &WhatifOptions) -> anyhow::Result<Whatif> {
    let s = settings(r, o)?;
    let p = find_phase(r, &o.phase)?;
    let mut targets = Vec::new();
    for (ti, t) in p.targets.iter().enumerate() {
        let Some(op) = t.ops.get(&s.op).filter(|o| o.successes > 0) else {
            continue;
        };
        let h = crate::stats::codec::decode(&op.histograms.latency)
            .map_err(|e| anyhow::anyhow!("{}: the {} histogram: {e}", t.target, s.op))?;
        let Some(sampler) = Sampler::new(&h) else {
            continue;
        };
        let sampler = Arc::new(sampler);
        let info = r.targets.iter().find(|x| x.name == t.target);
        let kind_name = info.map(|x| x.kind.clone()).unwrap_or_default();
        let kind = if kind_name == "directory" {
            TargetKind::Directory
        } else {
            TargetKind::GeneralPurpose
        };
        let seed_for =
            |n: u32| crate::scenario::splitmix64(s.seed ^ ((ti as u64) << 48) ^ u64::from(n));
        let scale = time_scale(Duration::from_secs_f64(s.duration_s));
        let run = |n: u32| {
            let plan = Arc::new(plan_for(&s, &t.target, kind, n));
            simulate(plan, sampler.clone(), seed_for(n), s.sample_bytes, n, scale)
        };
        let (n, result, steps) = match s.accelerators {
            Some(n) => (n, run(n).await?, Vec::new()),
            None => {
                let max = s.search.unwrap_or(1);
                let cancel = Cancel::default();
                let (found, steps) =
                    crate::engine::dataloader::search(max, s.au_mark, &cancel, run).await?;
                let shown: Vec<StepPrediction> = steps
                    .iter()
                    .map(|st| StepPrediction {
                        accelerators: st.accelerators,
                        au: au_of(&st.result),
                        passed: au_of(&st.result) >= s.au_mark,
                    })
                    .collect();
                let at = found.max(1);
                let idx = steps
                    .iter()
                    .rposition(|st| st.accelerators == at)
                    .unwrap_or(0);
                let result = steps.into_iter().nth(idx).map(|st| st.result);
                let result = result.ok_or_else(|| anyhow::anyhow!("the search ran no step"))?;
                (found, result, shown)
            }
        };
        let l = result.loader.unwrap_or_default();
        let au = l.au();
        let shown_n = n.max(1);
        let idle = crate::report::gpu::idle_hours_per_day(f64::from(shown_n), au);
        let per_acc_need =
            f64::from(s.batch_size) * s.sample_bytes as f64 / (s.compute_ms / 1000.0);
        // Times of the slowed-down simulation, back at the real scale.
        let s_f = f64::from(scale);
        let mean_wall = if l.accelerators > 0 {
            l.wall_ns as f64 / 1e9 / l.accelerators as f64 / s_f
        } else {
            0.0
        };
        let q = |x: f64| {
            if l.stall.is_empty() {
                0.0
            } else {
                l.stall.value_at_quantile(x) as f64 / 1e6 / s_f
            }
        };
        targets.push(Prediction {
            target: t.target.clone(),
            kind: kind_name,
            accelerators: n,
            au,
            au_min: l.au_min,
            au_mark: s.au_mark,
            passed: au >= s.au_mark,
            idle_share: 1.0 - au,
            idle_gpu_hours_per_day: idle,
            idle_gpu_usd_per_day: o.gpu_hour.map(|g| idle * g),
            stall_p50_ms: q(0.5),
            stall_p99_ms: q(0.99),
            needed_mib_per_sec: f64::from(shown_n) * per_acc_need / MIB,
            achieved_mib_per_sec: if mean_wall > 0.0 {
                l.bytes as f64 / mean_wall / MIB
            } else {
                0.0
            },
            measured_au: measured_au(p, &t.target, &s, shown_n),
            latency_op: s.op.clone(),
            latency_requests: op.successes,
            latency_p50_ms: op.latency_us.p50 / 1000.0,
            latency_p99_ms: op.latency_us.p99 / 1000.0,
            steps,
        });
    }
    if targets.is_empty() {
        return Err(bad(format!(
            "--phase {:?}: no target has a latency histogram for {}",
            o.phase, s.op
        )));
    }
    let assumptions = assumptions(r, p, &s);
    Ok(Whatif {
        run_id: r.run_id.clone(),
        phase: p.name.clone(),
        settings: s,
        targets,
        assumptions,
    })
}

/// What every prediction rests on, in plain sentences, with the caveats
/// this measurement adds.
pub fn assumptions(r: &RunResult, p: &PhaseResult, s: &Settings) -> Vec<String> {
    let mut out = vec![
        format!(
            "Each read's latency is drawn from what this phase measured on the same target (its successful `{}` requests, the histogram in result.json), independently of every other: latency is assumed not to change with load. A bandwidth or request-rate cap (the bucket's, the network's or the client host's) is not seen unless the measured run hit it, so a prediction for many more reads per second than were measured is optimistic.",
            s.op
        ),
        "The loader is the engine's own ([phase.loader], docs/loader.md), run on a simulated clock: batches, read-ahead, reads in flight and the first batch excluded as warm-up are exactly a loader phase's.".to_string(),
        "Check a prediction with a measured loader phase at that count (`accelerators = N`) or a search (`accelerators = { max = N }`); the `measured AU` column shows it when this phase was one with the same settings.".to_string(),
    ];
    let failed: u64 = p
        .targets
        .iter()
        .filter_map(|t| t.ops.get(&s.op))
        .map(|o| o.errors)
        .sum();
    if failed > 0 {
        out.push(format!(
            "Failures are not simulated: {failed} `{}` requests of the measured phase failed; a loader retries them, which adds stall this prediction leaves out.",
            s.op
        ));
    }
    if let Some(pre) = s.preset.as_deref().and_then(preset) {
        let (a, b) = (pre.sample_bytes as f64, s.sample_bytes as f64);
        if b > 0.0 && (a / b - 1.0).abs() > 0.10 {
            out.push(format!(
                "The preset's samples are {} ({}), the phase measured reads of {}: latencies are drawn from what was measured, so this is {} compute over {}-byte samples; measure reads of the preset's size to predict it.",
                crate::units::format_bytes(pre.sample_bytes),
                pre.source,
                crate::units::format_bytes(s.sample_bytes),
                pre.name,
                s.sample_bytes
            ));
        }
    }
    if let Some(max) = loader_of(p)
        .and_then(|l| l.search.as_ref())
        .and_then(|s| s.steps.iter().map(|st| st.accelerators).max())
    {
        out.push(format!(
            "This phase was a search: its histogram holds the reads of every step, up to {max} accelerators at once; where a step saturated the bucket or the client host, its slow reads are drawn at every count. A fixed-count loader phase or a plain GET phase at a load the bucket carries gives a cleaner measurement."
        ));
    }
    if r.embedded {
        out.push("The measured targets were the embedded endpoint: the latencies are its injection model, not S3's.".into());
    }
    out
}

#[cfg(test)]
mod tests;
