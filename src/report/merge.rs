//! Merging the results of shards that ran the same scenario at the same
//! time (array jobs): histograms add losslessly, so the merged percentiles
//! are exactly those of one big run. Two things cannot be exact and are
//! documented where they are computed: per-round and per-second
//! percentiles, which are stored as numbers, not histograms.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context as _, bail};
use hdrhistogram::Histogram;

use crate::report::model::*;
use crate::report::summary::summarize;
use crate::stats::codec;

/// Merges shard results into one. The shards must be of the same scenario
/// with the same phases and targets in the same order.
///
/// Counts, bytes, errors, requests, late starts and session waits add up;
/// ops/s and MiB/s add up too (shards run concurrently); elapsed time is the
/// longest shard's; latency summaries are recomputed from the merged
/// histograms. See [`merge_rounds`] and [`merge_timeseries`] for the
/// approximate parts.
pub fn merge(results: &[RunResult]) -> anyhow::Result<RunResult> {
    let Some(first) = results.first() else {
        bail!("no results to merge");
    };
    check_compatible(results)?;

    let mut out = first.clone();
    let all = |f: fn(&RunResult) -> bool| results.iter().all(f);

    out.started_at = results
        .iter()
        .map(|r| r.started_at.clone())
        .min()
        .unwrap_or_default();
    out.finished_at = results
        .iter()
        .map(|r| r.finished_at.clone())
        .max()
        .unwrap_or_default();
    out.hosts = results
        .iter()
        .flat_map(|r| r.hosts.iter().cloned())
        .collect();
    out.embedded = results.iter().any(|r| r.embedded);
    out.injection = union(results.iter().map(|r| &r.injection));
    out.complete = all(|r| r.complete);
    out.interrupted = {
        let why: Vec<String> = results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                r.interrupted
                    .as_ref()
                    .map(|w| format!("shard {}: {w}", shard_no(r, i)))
            })
            .collect();
        (!why.is_empty()).then(|| why.join("; "))
    };
    out.left_behind = results
        .iter()
        .flat_map(|r| r.left_behind.iter().cloned())
        .collect();
    out.client = merge_client(results);
    // Each shard ran its own preflight and its own GETs: their counts add up.
    for (ti, t) in out.targets.iter_mut().enumerate() {
        t.preflight_requests = BTreeMap::new();
        t.audit_requests = BTreeMap::new();
        t.checksum_checked = 0;
        t.checksum_unchecked = 0;
        for r in results {
            if let Some(rt) = r.targets.get(ti) {
                t.checksum_checked += rt.checksum_checked;
                t.checksum_unchecked += rt.checksum_unchecked;
            }
            for (op, n) in r
                .targets
                .get(ti)
                .map(|t| &t.preflight_requests)
                .into_iter()
                .flatten()
            {
                *t.preflight_requests.entry(op.clone()).or_default() += n;
            }
            for (op, n) in r
                .targets
                .get(ti)
                .map(|t| &t.audit_requests)
                .into_iter()
                .flatten()
            {
                *t.audit_requests.entry(op.clone()).or_default() += n;
            }
        }
    }
    out.shards = results.iter().map(|r| r.shards).sum();
    // Each shard wrote its own op log in its own folder: list them all.
    out.op_logs = results
        .iter()
        .flat_map(|r| r.op_logs.iter().cloned())
        .collect();
    out.warnings = union(results.iter().map(|r| &r.warnings));
    let ids: Vec<&str> = results.iter().map(|r| r.run_id.as_str()).collect();
    if ids.iter().any(|id| *id != first.run_id) {
        out.warnings.push(format!(
            "merged {} results with different run ids: {}",
            ids.len(),
            ids.join(", ")
        ));
    }
    if results
        .iter()
        .any(|r| r.s3bench_version != first.s3bench_version || r.sdk_version != first.sdk_version)
    {
        out.warnings
            .push("merged results come from different s3bench or aws-sdk-s3 versions".to_string());
    }

    for (pi, phase) in out.phases.iter_mut().enumerate() {
        phase.rounds = results
            .iter()
            .map(|r| r.phases[pi].rounds)
            .max()
            .unwrap_or(phase.rounds);
        let why: Vec<String> = results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                r.phases[pi]
                    .interrupted
                    .as_ref()
                    .map(|w| format!("shard {}: {w}", shard_no(r, i)))
            })
            .collect();
        phase.interrupted = (!why.is_empty()).then(|| why.join("; "));
        for (ti, target) in phase.targets.iter_mut().enumerate() {
            let shards: Vec<&TargetPhaseResult> =
                results.iter().map(|r| &r.phases[pi].targets[ti]).collect();
            *target = merge_target(&shards)
                .with_context(|| format!("phase {}, target {}", phase.name, target.target))?;
        }
    }
    // Each shard judged its checks on its own slice; the run's verdict is
    // on the merged result.
    let mut specs: Vec<crate::check::CheckSpec> = Vec::new();
    for s in results.iter().flat_map(crate::report::checks::stored_specs) {
        if !specs.contains(&s) {
            specs.push(s);
        }
    }
    out.checks = crate::report::checks::judge(&specs, &out);
    Ok(out)
}

fn shard_no(r: &RunResult, index: usize) -> String {
    r.hosts
        .first()
        .and_then(|h| h.shard)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("#{index}"))
}

fn check_compatible(results: &[RunResult]) -> anyhow::Result<()> {
    let first = &results[0];
    for (i, r) in results.iter().enumerate().skip(1) {
        if r.schema_version != first.schema_version {
            bail!(
                "result {i} has schema version {}, result 0 has {}: cannot merge",
                r.schema_version,
                first.schema_version
            );
        }
        if r.scenario != first.scenario {
            bail!(
                "result {i} is of scenario {:?}, result 0 of {:?}: cannot merge",
                r.scenario,
                first.scenario
            );
        }
        let names = |r: &RunResult| r.phases.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
        if names(r) != names(first) {
            bail!(
                "result {i} has phases [{}], result 0 has [{}]: only results with the same phases merge",
                names(r).join(", "),
                names(first).join(", ")
            );
        }
        for (p, p0) in r.phases.iter().zip(&first.phases) {
            let targets = |p: &PhaseResult| {
                p.targets
                    .iter()
                    .map(|t| t.target.clone())
                    .collect::<Vec<_>>()
            };
            if targets(p) != targets(p0) {
                bail!(
                    "phase {} of result {i} has targets [{}], result 0 has [{}]: cannot merge",
                    p.name,
                    targets(p).join(", "),
                    targets(p0).join(", ")
                );
            }
        }
    }
    Ok(())
}

/// Items of all lists, first occurrence kept, in order.
fn union<'a>(lists: impl Iterator<Item = &'a Vec<String>>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in lists.flatten() {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

/// CPU adds up; CPU per request is recomputed over all requests (each
/// shard's request count is cpu_s / cpu_us_per_request); host CPU is the
/// busiest host's, the one that decides whether the client was the limit;
/// threads add up.
fn merge_client(results: &[RunResult]) -> ClientUsage {
    let cpu_s: f64 = results.iter().map(|r| r.client.cpu_s).sum();
    let requests: f64 = results
        .iter()
        .filter(|r| r.client.cpu_us_per_request > 0.0)
        .map(|r| r.client.cpu_s * 1e6 / r.client.cpu_us_per_request)
        .sum();
    let measured_cpu: f64 = results
        .iter()
        .filter(|r| r.client.cpu_us_per_request > 0.0)
        .map(|r| r.client.cpu_s)
        .sum();
    ClientUsage {
        cpu_s,
        cpu_us_per_request: if requests > 0.0 {
            measured_cpu * 1e6 / requests
        } else {
            0.0
        },
        host_cpu_percent: results
            .iter()
            .filter_map(|r| r.client.host_cpu_percent)
            .reduce(f64::max),
        threads: results.iter().map(|r| r.client.threads).sum(),
    }
}

fn merge_lateness(
    shards: &[&TargetPhaseResult],
) -> anyhow::Result<Option<crate::report::model::Lateness>> {
    let mut h: Option<hdrhistogram::Histogram<u64>> = None;
    for l in shards.iter().filter_map(|t| t.lateness.as_ref()) {
        let one = crate::stats::codec::decode(&l.histogram)?;
        match &mut h {
            Some(h) => {
                let _ = h.add(&one);
            }
            None => h = Some(one),
        }
    }
    Ok(h.as_ref()
        .map(crate::report::model::Lateness::from_histogram))
}

fn merge_target(shards: &[&TargetPhaseResult]) -> anyhow::Result<TargetPhaseResult> {
    let first = shards[0];
    let audits = crate::report::audit::merge(shards);
    let mut ops = merge_op_maps(shards.iter().map(|t| &t.ops)).context("measured ops")?;
    for (op, o) in &mut ops {
        o.audit = crate::report::audit::op_verdict(&audits, op);
    }
    Ok(TargetPhaseResult {
        target: first.target.clone(),
        elapsed_s: shards.iter().map(|t| t.elapsed_s).fold(0.0, f64::max),
        ops,
        warmup: merge_op_maps(shards.iter().map(|t| &t.warmup)).context("warm-up")?,
        sessions: merge_sessions(shards.iter().map(|t| &t.sessions)).context("CreateSession")?,
        rounds: merge_rounds(shards.iter().map(|t| t.rounds.as_slice())),
        timeseries: merge_timeseries(shards.iter().map(|t| t.timeseries.as_slice())),
        attempts: merge_attempts(shards.iter().map(|t| &t.attempts)).context("attempts")?,
        lateness: merge_lateness(shards).context("lateness")?,
        loader: merge_loader(shards)?,
        throttled_by_prefix: crate::report::prefixes::merge(shards),
        checkpoint: merge_checkpoint(shards)?,
        audits,
    })
}

/// Checkpoint results keep the slowest rank over every shard's ranks (see
/// `report::checkpoint::merge`).
fn merge_checkpoint(shards: &[&TargetPhaseResult]) -> anyhow::Result<Option<CheckpointResult>> {
    let parts: Vec<&CheckpointResult> = shards
        .iter()
        .filter_map(|t| t.checkpoint.as_ref())
        .collect();
    match parts.len() {
        0 => Ok(None),
        _ => crate::report::checkpoint::merge(&parts)
            .context("checkpoint")
            .map(Some),
    }
}

/// Dataloader results add up losslessly (see `report::dataloader::merge`).
fn merge_loader(shards: &[&TargetPhaseResult]) -> anyhow::Result<Option<DataloaderResult>> {
    let parts: Vec<&DataloaderResult> = shards.iter().filter_map(|t| t.loader.as_ref()).collect();
    match parts.len() {
        0 => Ok(None),
        n if n == shards.len() => crate::report::dataloader::merge(&parts)
            .context("loader")
            .map(Some),
        _ => anyhow::bail!("some shards ran a loader phase and others did not"),
    }
}

/// Attempts merge like ops: counts add, histograms add exactly.
fn merge_attempts<'a>(
    maps: impl Iterator<Item = &'a BTreeMap<String, AttemptResult>>,
) -> anyhow::Result<BTreeMap<String, AttemptResult>> {
    let mut acc: BTreeMap<String, (u64, u64, Histogram<u64>)> = BTreeMap::new();
    for m in maps {
        for (k, a) in m {
            let h = codec::decode(&a.histogram)?;
            match acc.get_mut(k) {
                Some(e) => {
                    e.0 += a.count;
                    e.1 += a.retries;
                    e.2.add(&h)?;
                }
                None => {
                    acc.insert(k.clone(), (a.count, a.retries, h));
                }
            }
        }
    }
    Ok(acc
        .into_iter()
        .map(|(k, (count, retries, h))| {
            (
                k,
                AttemptResult {
                    count,
                    retries,
                    latency_us: summarize(&h),
                    histogram: codec::encode(&h),
                },
            )
        })
        .collect())
}

fn merge_op_maps<'a>(
    maps: impl Iterator<Item = &'a BTreeMap<String, OpResult>>,
) -> anyhow::Result<BTreeMap<String, OpResult>> {
    let mut by_op: BTreeMap<&str, Vec<&OpResult>> = BTreeMap::new();
    for m in maps {
        for (op, r) in m {
            by_op.entry(op.as_str()).or_default().push(r);
        }
    }
    by_op
        .into_iter()
        .map(|(op, parts)| {
            Ok((
                op.to_string(),
                merge_op(&parts).with_context(|| format!("op {op}"))?,
            ))
        })
        .collect()
}

/// Sum of the histograms; None when no part has one.
fn add_histograms<'a>(
    blobs: impl Iterator<Item = Option<&'a str>>,
) -> anyhow::Result<Option<Histogram<u64>>> {
    let mut acc: Option<Histogram<u64>> = None;
    for (i, blob) in blobs.enumerate() {
        let Some(blob) = blob else { continue };
        // An op that never completed may carry an empty blob.
        if blob.trim().is_empty() {
            continue;
        }
        let h =
            codec::decode(blob).with_context(|| format!("histogram of shard {i} is not valid"))?;
        match acc.as_mut() {
            // Starting from the first shard's histogram keeps its precision;
            // adding histograms of equal precision is lossless.
            None => acc = Some(h),
            Some(a) => a
                .add(&h)
                .with_context(|| format!("histogram of shard {i} does not fit the others"))?,
        }
    }
    Ok(acc)
}

fn merge_op(parts: &[&OpResult]) -> anyhow::Result<OpResult> {
    let sum = |f: fn(&OpResult) -> u64| parts.iter().map(|p| f(p)).sum::<u64>();
    let latency = add_histograms(parts.iter().map(|p| Some(p.histograms.latency.as_str())))?;
    let ttfb = add_histograms(parts.iter().map(|p| p.histograms.ttfb.as_deref()))?;
    let service = add_histograms(parts.iter().map(|p| p.histograms.service.as_deref()))?;
    let mut errors_by_kind = BTreeMap::new();
    for p in parts {
        for (k, n) in &p.errors_by_kind {
            *errors_by_kind.entry(k.clone()).or_insert(0) += n;
        }
    }
    let latency = latency.unwrap_or_else(crate::stats::recorder::latency_hist);
    // Failure groups merge like the success histograms: exactly.
    let groups: BTreeSet<&String> = parts.iter().flat_map(|p| p.failures.keys()).collect();
    let mut failures = BTreeMap::new();
    for g in groups {
        let h = add_histograms(
            parts
                .iter()
                .map(|p| p.failures.get(g).map(|f| f.histogram.as_str())),
        )?
        .unwrap_or_else(crate::stats::recorder::latency_hist);
        failures.insert(
            g.clone(),
            FailureResult {
                count: parts
                    .iter()
                    .filter_map(|p| p.failures.get(g))
                    .map(|f| f.count)
                    .sum(),
                statuses: {
                    let mut m = BTreeMap::new();
                    for f in parts.iter().filter_map(|p| p.failures.get(g)) {
                        for (s, n) in &f.statuses {
                            *m.entry(*s).or_insert(0) += n;
                        }
                    }
                    m
                },
                latency_us: summarize(&h),
                histogram: codec::encode(&h),
            },
        );
    }
    Ok(OpResult {
        count: sum(|p| p.count),
        successes: sum(|p| p.successes),
        errors: sum(|p| p.errors),
        errors_by_kind,
        failures,
        requests: sum(|p| p.requests),
        bytes: sum(|p| p.bytes),
        ops_per_sec: parts.iter().map(|p| p.ops_per_sec).sum(),
        attempted_ops_per_sec: parts.iter().map(|p| p.attempted_ops_per_sec).sum(),
        mib_per_sec: parts.iter().map(|p| p.mib_per_sec).sum(),
        late_starts: sum(|p| p.late_starts),
        behind_session: sum(|p| p.behind_session),
        latency_us: summarize(&latency),
        ttfb_us: ttfb.as_ref().map(summarize),
        service_us: service.as_ref().map(summarize),
        histograms: HistogramBlobs {
            latency: codec::encode(&latency),
            ttfb: ttfb.as_ref().map(codec::encode),
            service: service.as_ref().map(codec::encode),
        },
        // Recomputed from the merged audits by `merge_target`.
        audit: None,
    })
}

fn merge_sessions<'a>(
    parts: impl Iterator<Item = &'a SessionResult>,
) -> anyhow::Result<SessionResult> {
    let parts: Vec<&SessionResult> = parts.collect();
    let h = add_histograms(parts.iter().map(|s| s.histogram.as_deref()))?.filter(|h| !h.is_empty());
    let count = parts.iter().map(|s| s.count).sum();
    // A shard that counted sessions but stored no histogram leaves only its
    // summary: keep the worst one rather than invent a merged distribution.
    let latency_us = match &h {
        Some(h) => Some(summarize(h)),
        None => parts
            .iter()
            .filter_map(|s| s.latency_us)
            .reduce(|a, b| if b.p99 > a.p99 { b } else { a }),
    };
    Ok(SessionResult {
        count,
        errors: parts.iter().map(|s| s.errors).sum(),
        latency_us: if count > 0 { latency_us } else { None },
        histogram: h.as_ref().map(codec::encode),
    })
}

/// Rounds with the same number merge: counts, errors and ops/s add up
/// (shards run concurrently) and elapsed time is the longest. The merged
/// p50 and p99 are the **largest** shard's: per-round percentiles are stored
/// as numbers, not histograms, and the percentile of a mixture lies between
/// its parts' percentiles, so the maximum is an upper bound, not the exact
/// value. Only the bootstrap interval uses these numbers.
pub fn merge_rounds<'a>(shards: impl Iterator<Item = &'a [RoundResult]>) -> Vec<RoundResult> {
    let mut by_round: BTreeMap<u32, RoundResult> = BTreeMap::new();
    for rounds in shards {
        for r in rounds {
            let m = by_round.entry(r.round).or_insert_with(|| RoundResult {
                round: r.round,
                elapsed_s: 0.0,
                ops: BTreeMap::new(),
            });
            m.elapsed_s = m.elapsed_s.max(r.elapsed_s);
            for (op, o) in &r.ops {
                let e = m.ops.entry(op.clone()).or_insert(RoundOp {
                    count: 0,
                    errors: 0,
                    ops_per_sec: 0.0,
                    p50: 0.0,
                    p99: 0.0,
                });
                e.count += o.count;
                e.errors += o.errors;
                e.ops_per_sec += o.ops_per_sec;
                e.p50 = e.p50.max(o.p50);
                e.p99 = e.p99.max(o.p99);
            }
        }
    }
    by_round.into_values().collect()
}

/// Rows with the same (round, second, op) merge: counts, errors, throttled,
/// bytes and in-flight add up (shards run concurrently); p50 and p99 are the
/// largest shard's, an upper bound of the true merged value (see
/// [`merge_rounds`]). Rows come out ordered by round and second; within a
/// second, ops keep the order they first appeared in.
pub fn merge_timeseries<'a>(shards: impl Iterator<Item = &'a [SecondRow]>) -> Vec<SecondRow> {
    let mut rows: Vec<SecondRow> = Vec::new();
    let mut index: HashMap<(u32, u32, String), usize> = HashMap::new();
    for series in shards {
        for s in series {
            match index.get(&(s.round, s.second, s.op.clone())) {
                None => {
                    index.insert((s.round, s.second, s.op.clone()), rows.len());
                    rows.push(s.clone());
                }
                Some(&i) => {
                    let m = &mut rows[i];
                    m.count += s.count;
                    m.errors += s.errors;
                    m.throttled += s.throttled;
                    m.bytes += s.bytes;
                    m.in_flight += s.in_flight;
                    m.p50 = m.p50.max(s.p50);
                    m.p99 = m.p99.max(s.p99);
                    m.histogram = merge_second_histograms(m, s);
                }
            }
        }
    }
    // Stable: a later shard's extra seconds move into place, ops within a
    // second stay as they were.
    rows.sort_by_key(|r| (r.round, r.second));
    rows
}

/// Adds `s`'s per-second histogram into `m`'s; with both present, p50 and
/// p99 become exact again. Any missing or unreadable side drops the
/// histogram, since a partial one would understate the second.
fn merge_second_histograms(m: &mut SecondRow, s: &SecondRow) -> Option<String> {
    let (a, b) = (m.histogram.as_deref()?, s.histogram.as_deref()?);
    let (mut a, b) = (codec::decode(a).ok()?, codec::decode(b).ok()?);
    a.add(&b).ok()?;
    if !a.is_empty() {
        m.p50 = a.value_at_quantile(0.5) as f64 / 1000.0;
        m.p99 = a.value_at_quantile(0.99) as f64 / 1000.0;
    }
    Some(codec::encode(&a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{OpSpec, sample_result, target_phase};
    use proptest::prelude::*;

    #[test]
    fn merging_one_result_changes_no_number() {
        let r = sample_result();
        let m = merge(std::slice::from_ref(&r)).unwrap();
        assert_eq!(m, r);
    }

    #[test]
    fn merging_two_shards_adds_up() {
        let mut a = sample_result();
        a.hosts[0].shard = Some(0);
        let mut b = sample_result();
        b.hosts[0].shard = Some(1);
        b.hosts[0].hostname = "bench-c7i-2".into();
        b.started_at = "2025-01-01T11:59:58Z".into();
        b.complete = false;
        b.interrupted = Some("Ctrl-C".into());
        b.client.host_cpu_percent = Some(90.0);
        let m = merge(&[a.clone(), b.clone()]).unwrap();

        assert_eq!(m.shards, 2);
        assert_eq!(m.hosts.len(), 2);
        assert_eq!(m.started_at, "2025-01-01T11:59:58Z");
        assert!(!m.complete);
        assert_eq!(m.interrupted.as_deref(), Some("shard 1: Ctrl-C"));
        assert_eq!(m.client.cpu_s, a.client.cpu_s * 2.0);
        assert!((m.client.cpu_us_per_request - a.client.cpu_us_per_request).abs() < 1e-9);
        assert_eq!(m.client.host_cpu_percent, Some(90.0));
        assert_eq!(m.client.threads, 32);
        assert_eq!(m.warnings, a.warnings, "same warnings are not repeated");

        let (pa, pm) = (&a.phases[1].targets[0], &m.phases[1].targets[0]);
        let (oa, om) = (&pa.ops["put"], &pm.ops["put"]);
        assert_eq!(om.count, oa.count * 2);
        assert_eq!(om.errors, oa.errors * 2);
        assert_eq!(om.errors_by_kind["503 SlowDown"], 28);
        assert_eq!(om.bytes, oa.bytes * 2);
        assert_eq!(om.ops_per_sec, oa.ops_per_sec * 2.0);
        // Same samples twice: the distribution, hence every percentile, is unchanged.
        assert_eq!(om.latency_us, oa.latency_us);
        assert_eq!(
            codec::decode(&om.histograms.latency).unwrap().len(),
            oa.count * 2
        );
        assert_eq!(pm.elapsed_s, pa.elapsed_s);
        assert_eq!(pm.rounds.len(), pa.rounds.len());
        assert_eq!(
            pm.rounds[0].ops["get"].count,
            pa.rounds[0].ops["get"].count * 2
        );
        assert_eq!(pm.timeseries.len(), pa.timeseries.len());
        assert_eq!(pm.timeseries[0].count, pa.timeseries[0].count * 2);
        let ex = &m.phases[1].targets[1];
        assert_eq!(ex.sessions.count, 4);
        assert_eq!(
            ex.sessions.latency_us,
            a.phases[1].targets[1].sessions.latency_us
        );
        let md = crate::report::markdown::render(&merge(&vec![a.clone(); 6]).unwrap());
        assert!(md.contains("; and 2 more (see result.json)"), "{md}");
        assert!(md.contains("| shards         | 6 "), "{md}");

        let paced = &m.phases[2].targets[0].ops["get"];
        assert!(paced.service_us.is_some() && paced.ttfb_us.is_some());
        assert_eq!(paced.late_starts, 8);
    }

    #[test]
    fn refuses_different_scenarios_and_phases() {
        let a = sample_result();
        let mut b = sample_result();
        b.scenario = "other".into();
        let e = merge(&[a.clone(), b]).unwrap_err().to_string();
        assert!(e.contains("scenario") && e.contains("other"), "{e}");

        let mut c = sample_result();
        c.phases.pop();
        let e = merge(&[a.clone(), c]).unwrap_err().to_string();
        assert!(e.contains("same phases"), "{e}");

        let mut d = sample_result();
        d.phases[1].targets.reverse();
        let e = merge(&[a.clone(), d]).unwrap_err().to_string();
        assert!(e.contains("targets"), "{e}");

        assert!(merge(&[]).unwrap_err().to_string().contains("no results"));
    }

    #[test]
    fn corrupt_histogram_names_where() {
        let a = sample_result();
        let mut b = sample_result();
        b.phases[1].targets[1]
            .ops
            .get_mut("get")
            .unwrap()
            .histograms
            .latency = "not base64!".into();
        let e = format!("{:#}", merge(&[a, b]).unwrap_err());
        assert!(
            e.contains("phase mixed") && e.contains("target express") && e.contains("op get"),
            "{e}"
        );
        assert!(e.contains("shard 1"), "{e}");
    }

    #[test]
    fn timeseries_rows_merge_by_key() {
        let row = |second, op: &str, count, p99| SecondRow {
            round: 1,
            second,
            op: op.into(),
            count,
            errors: 1,
            throttled: 0,
            bytes: 10,
            p50: 1.0,
            p99,
            in_flight: 2,
            histogram: None,
        };
        let a = vec![row(0, "get", 5, 10.0), row(1, "get", 5, 10.0)];
        let b = vec![row(1, "get", 7, 30.0), row(1, "put", 1, 1.0)];
        let m = merge_timeseries([a.as_slice(), b.as_slice()].into_iter());
        assert_eq!(m.len(), 3);
        assert_eq!((m[1].second, m[1].op.as_str(), m[1].count), (1, "get", 12));
        assert_eq!(
            (m[1].errors, m[1].bytes, m[1].in_flight, m[1].p99),
            (2, 20, 4, 30.0)
        );
        assert_eq!(m[2].op, "put");
    }

    /// Each shard's op log is listed in the merged result, and the shards'
    /// lateness histograms add up exactly.
    #[test]
    fn merge_lists_every_shards_op_log_and_adds_lateness() {
        let mut parts = Vec::new();
        for (i, delays) in [[1_000u64, 2_000_000], [3_000, 40_000]].iter().enumerate() {
            let mut r = result_from(&[1_000_000]);
            r.op_logs = vec![crate::report::model::OpLogInfo {
                file: "ops.csv.gz".into(),
                shard: Some(i as u32),
                rows: 10 + i as u64,
                ..Default::default()
            }];
            let mut h = Histogram::<u64>::new(3).unwrap();
            for d in delays {
                h.record(*d).unwrap();
            }
            r.phases[0].targets[0].lateness =
                Some(crate::report::model::Lateness::from_histogram(&h));
            parts.push(r);
        }
        let m = merge(&parts).unwrap();
        let shards: Vec<(Option<u32>, u64)> = m.op_logs.iter().map(|l| (l.shard, l.rows)).collect();
        assert_eq!(shards, [(Some(0), 10), (Some(1), 11)]);
        let l = m.phases[0].targets[0].lateness.as_ref().unwrap();
        assert_eq!((l.count, l.late), (4, 1));
        let md = crate::report::markdown::render(&m);
        assert!(
            md.contains("shard 1: `ops.csv.gz` in its run folder: 11 rows"),
            "{md}"
        );
        assert!(md.contains("1 of 4 requests more than 1 ms late"), "{md}");
    }

    /// One target, one op, built from the given samples (ns).
    fn result_from(samples: &[u64]) -> RunResult {
        static TEMPLATE: std::sync::OnceLock<RunResult> = std::sync::OnceLock::new();
        let mut r = TEMPLATE
            .get_or_init(|| {
                let mut r = sample_result();
                r.phases.truncate(1);
                r.phases[0].targets.truncate(1);
                r
            })
            .clone();
        let mut t = target_phase("standard", 1, 1, 1, &[OpSpec::new("get", 1.0, 0.0, 1)], 1);
        let mut h = Histogram::<u64>::new(3).unwrap();
        for &s in samples {
            h.record(s).unwrap();
        }
        let o = t.ops.get_mut("get").unwrap();
        o.count = h.len();
        o.latency_us = summarize(&h);
        o.histograms.latency = codec::encode(&h);
        r.phases[0].targets[0] = t;
        r
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn merged_shards_equal_one_histogram(
            shards in prop::collection::vec(prop::collection::vec(1u64..10_000_000_000, 0..200), 1..6)
        ) {
            let parts: Vec<RunResult> = shards.iter().map(|s| result_from(s)).collect();
            let all: Vec<u64> = shards.iter().flatten().copied().collect();
            let whole = result_from(&all);
            let merged = merge(&parts).unwrap();
            let m = &merged.phases[0].targets[0].ops["get"];
            let w = &whole.phases[0].targets[0].ops["get"];
            prop_assert_eq!(m.count, w.count);
            prop_assert_eq!(m.latency_us, w.latency_us);
            let (hm, hw) = (codec::decode(&m.histograms.latency).unwrap(), codec::decode(&w.histograms.latency).unwrap());
            prop_assert_eq!(hm.len(), all.len() as u64);
            for q in [0.0, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
                prop_assert_eq!(hm.value_at_quantile(q), hw.value_at_quantile(q));
            }
        }
    }
}
