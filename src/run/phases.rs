//! The stages of a run that send load: prepare (write the data set), the
//! measured phases in alternating rounds, and the cleanup. Each publishes the
//! result when it is done, because a later one may fail or be interrupted.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::assemble::TargetAcc;
use super::checkpoint::CheckpointAcc;
use super::cleanup;
use super::dataloader::DataloaderAcc;
use super::host::{host_cpu, process_cpu_s};
use super::policy::{CHECK_EVERY, Watchdog};
use super::progress::Progress;
use crate::client::TargetConfig;
use crate::engine::{Cancel, Engine, Job, JobKind, JobResult, StopReason};
use crate::report::audit::add_all;
use crate::report::model::{
    GpStandIn, LoadShape, OpAudit, PhaseResult, PhaseRole, RunResult, StageShape, TargetPhaseResult,
};
use crate::scenario::{Accelerators, Load, OpSpec, Phase, Plan, RunStage};

/// Prepare met objects that were already at its keys (412 to a
/// create-only PUT): the run stops and deletes nothing.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PrepareCollision(pub String);

/// What the client spent during measured phases.
#[derive(Default)]
pub struct Usage {
    cpu_s: f64,
    /// Of `cpu_s`, what the in-process embedded endpoint used (`--embedded`).
    endpoint_cpu_s: f64,
    requests: u64,
    host_busy: (u64, u64),
}

impl Usage {
    /// The client's own CPU so far: the process's, less the in-process
    /// embedded endpoint's (reported apart), and the host's busy share.
    fn fill(&self, client: &mut crate::report::model::ClientUsage) {
        let per_request = |cpu: f64| {
            if self.requests > 0 {
                cpu * 1e6 / self.requests as f64
            } else {
                0.0
            }
        };
        let endpoint = (self.endpoint_cpu_s > 0.0).then_some(self.endpoint_cpu_s);
        client.cpu_s = (self.cpu_s - self.endpoint_cpu_s).max(0.0);
        client.cpu_us_per_request = per_request(client.cpu_s);
        client.endpoint_cpu_s = endpoint;
        client.endpoint_cpu_us_per_request = endpoint.map(per_request);
        client.host_cpu_percent = (self.host_busy.1 > 0)
            .then(|| 100.0 * self.host_busy.0 as f64 / self.host_busy.1 as f64);
    }
}

pub struct Runner<'a> {
    pub plan: Arc<Plan>,
    pub engine: &'a Engine,
    pub targets: &'a [TargetConfig],
    pub cancel: &'a Arc<Cancel>,
    pub progress: &'a Progress,
    pub run_prefix: Arc<str>,
    /// `run --resume`: objects already at the data set's keys are kept.
    pub resume: bool,
    pub date: (i32, u32, u32),
    pub dir: &'a Path,
    pub usage: Usage,
    /// Live metrics (`--metrics-listen`), if served.
    pub metrics: Option<crate::metrics::Metrics>,
    /// This process's shard of an array job (a checkpoint phase runs its
    /// share of the ranks).
    pub shard: Option<super::Shard>,
    /// Reads back what each round's answers said (`run::audit`).
    pub auditor: super::audit::Auditor,
}

/// Measured time the plan asks for, warm-ups included (for the ETA).
pub fn planned_time(plan: &Plan) -> Duration {
    let per_round: Duration = plan.phases.iter().filter_map(phase_time).sum();
    per_round * plan.rounds * plan.targets.len() as u32
}

fn phase_time(p: &Phase) -> Option<Duration> {
    if p.loader.is_some() {
        return super::dataloader::round_time(p);
    }
    if p.checkpoint.is_some() {
        return super::checkpoint::round_time(p);
    }
    let stages: Option<Duration> = p.stages.iter().map(|s| s.duration).sum();
    let d = match (p.stop.duration, stages) {
        (Some(d), Some(s)) => d.min(s),
        (Some(d), None) => d,
        (None, s) => s?,
    };
    Some(d + p.warmup)
}

impl Runner<'_> {
    pub(super) fn job(&self, kind: JobKind, target: usize, round: u32) -> Job {
        Job {
            plan: self.plan.clone(),
            kind,
            target,
            round,
            run_prefix: self.run_prefix.clone(),
            date: self.date,
            start: Instant::now() + Duration::from_millis(20),
        }
    }

    /// Runs a job, stopping the run when the error policy says so.
    pub(super) async fn run_watched(&self, job: Job) -> anyhow::Result<JobResult> {
        let live = self.metrics.as_ref().map(|m| {
            let (phase, accelerators) = match job.kind {
                JobKind::Prepare => ("prepare", None),
                JobKind::Phase(i) => (
                    self.plan.phases[i].name.as_str(),
                    self.plan.phases[i]
                        .loader
                        .as_ref()
                        .map(|l| u64::from(l.max_accelerators())),
                ),
                JobKind::Dataloader {
                    phase,
                    accelerators,
                } => (
                    self.plan.phases[phase].name.as_str(),
                    Some(u64::from(accelerators)),
                ),
                JobKind::Checkpoint { phase, .. } => (self.plan.phases[phase].name.as_str(), None),
            };
            let target = &self.plan.targets[job.target].name;
            m.job_started(phase, target, job.round, accelerators);
            m.blocks(target, phase)
        });
        let run = self.engine.run_live(job, live);
        tokio::pin!(run);
        let mut dog = Watchdog::new(self.plan.client.stop_on_failures, self.engine.live());
        loop {
            tokio::select! {
                r = &mut run => {
                    if let Some(m) = &self.metrics {
                        m.job_ended();
                    }
                    return r;
                }
                _ = tokio::time::sleep(CHECK_EVERY) => {
                    if let Some(why) = dog.check(self.engine.live(), std::time::Instant::now()) {
                        self.cancel.cancel_with(StopReason::FailurePolicy(why));
                    }
                }
            }
        }
    }

    /// Writes the data set on every target.
    pub async fn prepare(&mut self, result: &mut RunResult) -> anyhow::Result<()> {
        let plan = self.plan.clone();
        if !plan.prepare.enabled || plan.dataset.objects == 0 {
            return Ok(());
        }
        let mut prepared = Vec::new();
        let mut collisions = Vec::new();
        for (ti, t) in plan.targets.iter().enumerate() {
            if self.cancel.is_cancelled() {
                break;
            }
            self.progress
                .start(&format!("prepare {}", t.name), None, self.engine);
            let r = self.run_watched(self.job(JobKind::Prepare, ti, 1)).await?;
            self.progress.finish(None);
            let mut acc = TargetAcc::default();
            acc.add_round(1, &r);
            acc.add_sessions(self.targets[ti].probe.take());
            let failed: u64 = r.recorder.ops.iter().flatten().map(|o| o.errors).sum();
            // 412 to a create-only PUT: an object was at the key already.
            let existed: u64 = r
                .recorder
                .ops
                .iter()
                .flatten()
                .flat_map(|o| &o.errors_by_kind)
                .filter(|(k, _)| k.starts_with("412"))
                .map(|(_, n)| n)
                .sum();
            let failed = if self.resume {
                // An earlier run with this run id wrote them: kept as they are.
                if existed > 0 {
                    result.warnings.push(format!(
                        "prepare (--resume): {existed} object(s) of the data set were already under {} on target '{}' and were kept as they are (their 412 PreconditionFailed answers are in prepare's errors).",
                        self.run_prefix, t.name
                    ));
                }
                failed - existed
            } else {
                if existed > 0 {
                    collisions.push((t.name.clone(), t.bucket.clone(), existed));
                }
                failed
            };
            if failed > 0 {
                let w = format!(
                    "prepare: {failed} objects of the data set could not be written on target '{}'; reads of them will fail.",
                    t.name
                );
                self.progress.always(&format!("warning: {w}"));
                result.warnings.push(w);
            }
            prepared.push(acc.finish(&t.name, Duration::ZERO, false));
        }
        let shape = LoadShape::Prepare {
            objects: plan.dataset.objects,
            concurrency: plan.prepare.concurrency as u64,
        };
        result.phases.push(PhaseResult {
            name: RunStage::Prepare.name().into(),
            role: PhaseRole::Setup,
            load: shape.label(),
            shape,
            rounds: 1,
            interrupted: self.cancel.reason().map(|r| r.describe()),
            targets: prepared,
        });
        if !collisions.is_empty() {
            // Someone else writes under this run's prefix (a run with the
            // same run id started after this one's preflight). The cleanup
            // deletes everything under the prefix, theirs too: skip it.
            let prefix = &*self.run_prefix;
            let what: Vec<String> = collisions
                .iter()
                .map(|(name, bucket, n)| format!(
                    "target '{name}': {n} object(s) of the data set already existed in bucket '{bucket}' under {prefix} (412 PreconditionFailed to PUT with If-None-Match: *)"
                ))
                .collect();
            let sentence = format!(
                "{}: another writer uses this run prefix, so the run stopped before measuring; s3bench overwrote and deleted nothing there, and the objects this run wrote stay under {prefix} until you remove them (s3bench cleanup deletes everything under the prefix, the other writer's objects too).",
                what.join("; ")
            );
            result.warnings.push(sentence.clone());
            crate::report::publish(result, self.dir)?;
            return Err(PrepareCollision(sentence).into());
        }
        crate::report::publish(result, self.dir)?;
        Ok(())
    }

    /// Waits for the common start time of an array job's shards.
    pub async fn wait_until(&self, at: SystemTime, result: &mut RunResult) {
        match at.duration_since(SystemTime::now()) {
            Ok(wait) => {
                self.progress
                    .note(&format!("waiting {wait:?} for the common start time"));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.cancel.cancelled() => {}
                }
            }
            Err(_) => result.warnings.push(
                "The common start time had passed when this shard finished preparing: shards did not start together.".into(),
            ),
        }
    }

    /// The measured phases: rounds alternate targets (A B A B) so drift on
    /// the machine or network hits every target alike.
    pub async fn measured_phases(&mut self, result: &mut RunResult) -> anyhow::Result<()> {
        let plan = self.plan.clone();
        for (pi, phase) in plan.phases.iter().enumerate() {
            if self.cancel.is_cancelled() {
                break;
            }
            let mut accs: Vec<TargetAcc> =
                plan.targets.iter().map(|_| TargetAcc::default()).collect();
            let mut audits: Vec<Vec<OpAudit>> = plan.targets.iter().map(|_| Vec::new()).collect();
            let mut loaders: Vec<Option<DataloaderAcc>> = plan
                .targets
                .iter()
                .map(|_| phase.loader.as_ref().map(|l| DataloaderAcc::new(&plan, l)))
                .collect();
            let mut checkpoints: Vec<Option<CheckpointAcc>> = plan
                .targets
                .iter()
                .map(|_| phase.checkpoint.as_ref().map(CheckpointAcc::new))
                .collect();
            'rounds: for round in 1..=plan.rounds {
                for (ti, t) in plan.targets.iter().enumerate() {
                    if self.cancel.is_cancelled() {
                        break 'rounds;
                    }
                    self.progress.start(
                        &format!("{} r{}/{} {}", phase.name, round, plan.rounds, t.name),
                        phase_time(phase),
                        self.engine,
                    );
                    let cpu0 = process_cpu_s();
                    let endpoint0 = crate::targets::embedded_cpu_s();
                    let host0 = host_cpu();
                    let r = match (&phase.loader, &mut loaders[ti]) {
                        _ if let (Some(spec), Some(acc)) =
                            (&phase.checkpoint, &mut checkpoints[ti]) =>
                        {
                            acc.round(self, pi, phase, spec, ti, round).await?
                        }
                        (Some(spec), Some(acc))
                            if matches!(spec.accelerators, Accelerators::Search { .. }) =>
                        {
                            let (found, steps) = crate::engine::dataloader::search(
                                spec.max_accelerators(),
                                spec.au,
                                self.cancel,
                                |n| {
                                    self.run_watched(self.job(
                                        JobKind::Dataloader {
                                            phase: pi,
                                            accelerators: n,
                                        },
                                        ti,
                                        round,
                                    ))
                                },
                            )
                            .await?;
                            acc.add_search(round, found, &steps)?;
                            super::dataloader::steps_as_round(&steps)
                        }
                        (_, acc) => {
                            let r = self
                                .run_watched(self.job(JobKind::Phase(pi), ti, round))
                                .await?;
                            if let Some(acc) = acc {
                                acc.add_round(round, &r)?;
                            }
                            r
                        }
                    };
                    self.progress.finish(phase_time(phase));
                    self.usage.cpu_s += process_cpu_s() - cpu0;
                    self.usage.endpoint_cpu_s += crate::targets::embedded_cpu_s() - endpoint0;
                    self.usage.requests += r.recorder.requests();
                    if let (Some(a), Some(b)) = (host0, host_cpu()) {
                        self.usage.host_busy.0 += b.0 - a.0;
                        self.usage.host_busy.1 += b.1 - a.1;
                    }
                    accs[ti].add_round(round, &r);
                    accs[ti].add_sessions(self.targets[ti].probe.take());
                    // Before the next round writes there: did the endpoint
                    // do what it answered? (Not after a stop: the run is
                    // on its way out.)
                    if !self.cancel.is_cancelled() {
                        // Boxed: its SDK requests' futures stay off the
                        // run's (already deep) future.
                        let audit =
                            self.auditor
                                .audit(&self.targets[ti], ti, (pi, round), &r.claims);
                        let done = Box::pin(audit).await;
                        add_all(&mut audits[ti], &done.audits);
                        let counts = &mut result.targets[ti].audit_requests;
                        for (op, n) in done.requests {
                            *counts.entry(op).or_default() += n;
                        }
                    }
                }
            }
            let open = is_open_loop(phase);
            let shape = super::mix::with_mix(load_shape(phase), phase, &plan.dataset.size);
            result.phases.push(PhaseResult {
                name: phase.name.clone(),
                role: PhaseRole::Measured,
                load: shape.label(),
                shape,
                rounds: plan.rounds,
                // The phase a signal or the error policy cut short is kept,
                // with what it measured, and says so.
                interrupted: self.cancel.reason().map(|r| r.describe()),
                targets: accs
                    .into_iter()
                    .zip(loaders)
                    .zip(checkpoints)
                    .zip(audits)
                    .zip(&plan.targets)
                    .map(|((((a, l), c), au), t)| {
                        let tr = TargetPhaseResult {
                            loader: l.map(DataloaderAcc::finish),
                            checkpoint: c.map(CheckpointAcc::finish),
                            ..a.with_granularity(plan.throttle_granularity()).finish(
                                &t.name,
                                phase.warmup,
                                open,
                            )
                        };
                        super::audit::attach(tr, au)
                    })
                    .collect(),
            });
            if let (Some(m), Some(p)) = (&self.metrics, result.phases.last()) {
                for t in &p.targets {
                    if let Some(l) = &t.loader {
                        m.set_dataloader_result(&t.target, &p.name, l.measured.au, l.accelerators);
                    }
                }
            }
            self.usage.fill(&mut result.client);
            result.finished_at = super::utc_now();
            // Written after every phase: a later phase may fail or be interrupted.
            crate::report::publish(result, self.dir)?;
        }
        Ok(())
    }
}

/// Deletes everything under the run prefix on every target; what it cannot
/// delete goes into `result.left_behind` and onto stderr.
#[allow(clippy::too_many_arguments)]
pub async fn cleanup(
    plan: &Plan,
    targets: &[TargetConfig],
    clients: &[aws_sdk_s3::Client],
    run_prefix: &str,
    run_id: &str,
    scenario_file: &str,
    progress: &Progress,
    result: &mut RunResult,
    metrics: Option<&crate::metrics::Metrics>,
    op_log: Option<&Arc<crate::oplog::Sink>>,
) {
    let mut cleaned = Vec::new();
    for (ti, ((t, c), client)) in plan.targets.iter().zip(targets).zip(clients).enumerate() {
        progress.note(&format!("cleanup {}", t.name));
        let done = crate::oplog::scope(
            op_log,
            crate::oplog::Ctx::coordinator(ti, crate::oplog::Stage::Cleanup),
            false,
            cleanup::delete_prefix(client, &c.spec.bucket, run_prefix, false, |_| {}),
        )
        .await;
        if let Some((objects, reason)) = done.left {
            let l = cleanup::left_behind(
                &t.name,
                &c.spec.bucket,
                run_prefix,
                objects,
                reason,
                if scenario_file.is_empty() {
                    "SCENARIO"
                } else {
                    scenario_file
                },
                run_id,
            );
            progress.always(&format!("error: {}", cleanup::describe_left(&l)));
            result.left_behind.push(l);
        }
        if let Some(m) = metrics {
            m.absorb(&t.name, "cleanup", &done.recorder);
        }
        let mut acc = TargetAcc::default();
        acc.add_round(
            1,
            &JobResult {
                recorder: done.recorder,
                elapsed_s: done.elapsed_s,
                loader: None,
                checkpoint: None,
                claims: Default::default(),
            },
        );
        // The cleanup's client makes its own CreateSession on directory buckets.
        acc.add_sessions(c.probe.take());
        cleaned.push(acc.finish(&t.name, Duration::ZERO, false));
    }
    result.phases.push(PhaseResult {
        name: RunStage::Cleanup.name().into(),
        role: PhaseRole::Setup,
        load: LoadShape::Cleanup.label(),
        shape: LoadShape::Cleanup,
        rounds: 1,
        interrupted: None,
        targets: cleaned,
    });
}

/// A measured phase's load as the result records it.
pub fn load_shape(phase: &Phase) -> LoadShape {
    if let Some(l) = &phase.loader {
        return super::dataloader::shape(phase, l);
    }
    if let Some(c) = &phase.checkpoint {
        return super::checkpoint::shape(phase, c);
    }
    let secs = |d: Duration| d.as_secs_f64();
    if let Some(r) = &phase.replay {
        return LoadShape::Replay {
            requests: r.rows.len() as u64,
            file: r.file.file_name().map_or_else(
                || r.file.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            speed: r.speed,
            spread: match r.spread {
                crate::scenario::Spread::Even => "even".into(),
                crate::scenario::Spread::Poisson => "poisson".into(),
            },
            max_in_flight: r.max_in_flight as u64,
            stop_after_s: phase.stop.duration.map(secs),
            stop_after_ops: phase.stop.ops,
        };
    }
    LoadShape::Stages {
        stages: phase
            .stages
            .iter()
            .map(|s| match s.load {
                Load::Closed { concurrency } => StageShape::Closed {
                    concurrency: concurrency as u64,
                    duration_s: s.duration.map(secs),
                },
                Load::Open {
                    rate,
                    max_in_flight,
                } => StageShape::Open {
                    rate,
                    max_in_flight: max_in_flight as u64,
                    duration_s: s.duration.map(secs),
                },
            })
            .collect(),
        warmup_s: Some(secs(phase.warmup)),
        stop_after_s: phase.stop.duration.map(secs),
        stop_after_ops: phase.stop.ops,
        // A General Purpose target runs the stand-in of a directory-only op
        // under the op's name: the label says which, so its row is read
        // for what it is.
        gp_stand_ins: phase
            .mix
            .iter()
            .filter_map(|m| match m.op {
                OpSpec::Append { gp: Some(_), .. } => Some(GpStandIn::AppendRewrite),
                OpSpec::Rename { gp: Some(_), .. } => Some(GpStandIn::RenameCopyDelete),
                _ => None,
            })
            .collect(),
        // Filled in by `super::mix::with_mix`, which knows the data set.
        mix: Vec::new(),
    }
}

fn is_open_loop(phase: &Phase) -> bool {
    phase
        .stages
        .iter()
        .any(|s| matches!(s.load, Load::Open { .. }))
}
