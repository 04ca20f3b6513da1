//! Judging pass/fail checks (`crate::check`) on a result: expanding
//! wildcards, computing each statistic from the result model alone, and the
//! three ways a verdict is read: the "Checks" section at the top of
//! report.md, the `checks` of result.json and a JUnit XML file for CI
//! systems. Because only the model is read, `report`, `compare` and
//! `merge` judge a stored result exactly as `run` judges a fresh one.
//!
//! What a check covers:
//! - without a phase scope, every measured phase merged: counts and bytes
//!   add, latency percentiles come from the phases' histograms added
//!   (lossless), ops/s and MiB/s are successes (bytes) over the measured
//!   time of the phases that ran the op; with one measured phase these are
//!   exactly that phase's numbers;
//! - `PHASE:` that phase; `*:` each measured phase on its own;
//! - setup phases (`prepare`, `cleanup`) are never judged.
//!
//! A statistic the run did not produce (no operations of that op, no
//! success to take a latency of, a phase the run never reached) fails, with
//! the reason; it never passes. A wildcard expands to every target, op or
//! phase that has the statistic, and each expansion passes or fails on its
//! own; one that matches nothing fails.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use crate::check::{
    self, Check, CheckSpec, DataloaderStat, Name, Names, OpSel, OpStat, Pct, PhaseName, Source,
    Subject, TargetName, Timing,
};
use crate::report::format::sig;
use crate::report::headline::failure_share;
use crate::report::model::{
    CheckResult, KIND_DIRECTORY, LatencySummary, OpResult, PhaseResult, RunResult,
};
use crate::report::ratio::comparison_pair;
use crate::report::summary::summarize;
use crate::report::table::{Align, Table};
use crate::s3::OpKind;
use crate::stats::codec;

/// JUnit XML of a run's checks, next to report.md.
pub const JUNIT_FILE: &str = "checks.junit.xml";

/// True for a phase the run measured (not its own prepare or cleanup).
pub fn is_measured(p: &PhaseResult) -> bool {
    p.is_measured()
}

/// A `--check` that does not parse, or names what the result lacks: bad
/// input (exit code 2), said in one sentence.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadCheck(pub String);

/// The names a check on `r` may use.
pub fn names_of(r: &RunResult) -> Names {
    Names {
        what: "the result",
        targets: r
            .targets
            .iter()
            .map(|t| TargetName {
                name: t.name.clone(),
                directory: t.kind == KIND_DIRECTORY,
            })
            .collect(),
        phases: r
            .phases
            .iter()
            .filter(|p| is_measured(p))
            .map(|p| PhaseName {
                name: p.name.clone(),
                loader: p.targets.iter().any(|t| t.loader.is_some()),
                ops: None,
            })
            .collect(),
        setup: r
            .phases
            .iter()
            .filter(|p| !is_measured(p))
            .map(|p| p.name.clone())
            .collect(),
    }
}

pub use crate::check::parse_flags;

/// The checks a stored result was judged on (its scenario's and flags'),
/// read back from its `checks`, each once.
pub fn stored_specs(r: &RunResult) -> Vec<CheckSpec> {
    let mut out: Vec<CheckSpec> = Vec::new();
    for c in &r.checks {
        let Ok(check) = check::parse(&c.expr) else {
            continue;
        };
        let spec = CheckSpec {
            check,
            source: Source::from_name(&c.source),
            name: c.name.clone(),
        };
        if !out.contains(&spec) {
            out.push(spec);
        }
    }
    out
}

/// Judges `r` again on its own checks plus `extra` (a check already there
/// is judged once). Stored entries whose expression this version cannot
/// read are kept as they are.
pub fn rejudge(r: &RunResult, extra: &[CheckSpec]) -> Vec<CheckResult> {
    let mut specs = stored_specs(r);
    for s in extra {
        if !specs.iter().any(|x| x.check == s.check) {
            specs.push(s.clone());
        }
    }
    let mut out: Vec<CheckResult> = r
        .checks
        .iter()
        .filter(|c| check::parse(&c.expr).is_err())
        .cloned()
        .collect();
    out.extend(judge(&specs, r));
    out
}

/// Every check of `specs` judged on `r`, wildcards expanded, in order.
pub fn judge(specs: &[CheckSpec], r: &RunResult) -> Vec<CheckResult> {
    specs.iter().flat_map(|s| judge_one(s, r)).collect()
}

/// True when every check passed (and there may be none).
pub fn all_passed(checks: &[CheckResult]) -> bool {
    checks.iter().all(|c| c.passed)
}

/// Which phases a value covers.
#[derive(Debug, Clone)]
enum Scope {
    /// These measured phases merged (no scope written).
    Merged(Vec<usize>),
    /// One phase.
    Phase(usize),
    /// A phase the check names that the result does not hold (the run
    /// stopped before it).
    Missing(String),
}

/// A statistic's value, or why the run did not produce it.
type Value = Result<f64, String>;

/// What one check is judged over: the result, its measured phases (by
/// index), and the scopes its phase scope stands for.
struct Judging<'a> {
    spec: &'a CheckSpec,
    r: &'a RunResult,
    measured: Vec<usize>,
    scopes: Vec<Scope>,
    /// `*:` stands for every measured phase that has the statistic.
    every_phase: bool,
}

impl Judging<'_> {
    /// A named phase, or the note that the result lacks it.
    fn named_phase(&self, p: &str) -> Scope {
        match self.measured.iter().find(|&&i| self.r.phases[i].name == p) {
            Some(&i) => Scope::Phase(i),
            None => Scope::Missing(p.to_string()),
        }
    }

    fn verdict(&self, instance: &Check, covers: String, value: Value) -> CheckResult {
        verdict(self.spec, instance, covers, value)
    }

    /// The check with its wildcards filled in for `scope` and `subject`.
    fn instance(&self, scope: &Scope, subject: Subject) -> Check {
        Check {
            scope: concrete_scope(&self.spec.check, scope, self.r),
            subject,
            ..self.spec.check.clone()
        }
    }
}

fn judge_one(spec: &CheckSpec, r: &RunResult) -> Vec<CheckResult> {
    let c = &spec.check;
    let measured: Vec<usize> = (0..r.phases.len())
        .filter(|&i| is_measured(&r.phases[i]))
        .collect();
    let mut j = Judging {
        spec,
        r,
        measured,
        scopes: Vec::new(),
        every_phase: matches!(c.scope, Some(Name::Any)),
    };
    j.scopes = match &c.scope {
        None => vec![Scope::Merged(j.measured.clone())],
        Some(Name::Is(p)) => vec![j.named_phase(p)],
        Some(Name::Any) => j.measured.iter().map(|&i| Scope::Phase(i)).collect(),
    };
    let mut out = match &c.subject {
        Subject::Op { target, op, stat } => judge_op(&j, target, op, *stat),
        Subject::Ratio { op, stat } => judge_ratio(&j, op, *stat),
        Subject::Dataloader {
            phase,
            target,
            stat,
        } => judge_dataloader(&j, phase, target.as_ref(), *stat),
    };
    if out.is_empty() {
        out.push(j.verdict(
            c,
            String::new(),
            Err(format!(
                "`{c}` matched nothing: no {} of the result has this statistic",
                match &c.subject {
                    Subject::Dataloader { .. } => "dataloader phase",
                    _ => "target, op and measured phase",
                }
            )),
        ));
    }
    out
}

/// `TARGET/OP/STAT`: one verdict per scope, target and op.
fn judge_op(j: &Judging<'_>, target: &Name, op: &OpSel, stat: OpStat) -> Vec<CheckResult> {
    let (r, c) = (j.r, &j.spec.check);
    let mut out = Vec::new();
    for scope in &j.scopes {
        if let Scope::Missing(p) = scope {
            out.push(j.verdict(c, format!("phase {p}"), Err(not_reached(p))));
            continue;
        }
        let phases = phases_of(scope);
        // `*` targets: those that ran the op (any op, for `*/*`).
        let targets = targets_for(r, target, |t| {
            let with = ops_with_data(r, &phases, t, stat);
            match op {
                OpSel::Is(o) => with.contains(o),
                OpSel::Any => !with.is_empty(),
            }
        });
        for t in targets {
            let with_data = ops_with_data(r, &phases, &t, stat);
            for o in ops_for(op, &with_data) {
                if j.every_phase && !with_data.contains(&o) {
                    continue;
                }
                let inst = j.instance(
                    scope,
                    Subject::Op {
                        target: Name::Is(t.clone()),
                        op: OpSel::Is(o),
                        stat,
                    },
                );
                let value = op_value(r, scope, &t, o, stat);
                let covers = covers(r, &ran(r, scope, &[&t], o), None);
                out.push(j.verdict(&inst, covers, value));
            }
        }
    }
    out
}

/// `ratio/OP/STAT`: the directory target's value over the general-purpose
/// target's, one verdict per scope and op.
fn judge_ratio(j: &Judging<'_>, op: &OpSel, stat: OpStat) -> Vec<CheckResult> {
    let (r, c) = (j.r, &j.spec.check);
    let Some((d, g)) = comparison_pair(&r.targets) else {
        return vec![j.verdict(
            c,
            String::new(),
            Err("the result has no directory and general-purpose target to take a ratio of".into()),
        )];
    };
    let (dn, gn) = (r.targets[d].name.as_str(), r.targets[g].name.as_str());
    let mut out = Vec::new();
    for scope in &j.scopes {
        if let Scope::Missing(p) = scope {
            out.push(j.verdict(c, format!("phase {p}"), Err(not_reached(p))));
            continue;
        }
        let phases = phases_of(scope);
        let on_gp = ops_with_data(r, &phases, gn, stat);
        let both: Vec<OpKind> = ops_with_data(r, &phases, dn, stat)
            .into_iter()
            .filter(|o| on_gp.contains(o))
            .collect();
        for o in ops_for(op, &both) {
            if j.every_phase && !both.contains(&o) {
                continue;
            }
            let inst = j.instance(
                scope,
                Subject::Ratio {
                    op: OpSel::Is(o),
                    stat,
                },
            );
            let value = op_value(r, scope, dn, o, stat).and_then(|dv| {
                let gv = op_value(r, scope, gn, o, stat)?;
                if gv > 0.0 {
                    Ok(dv / gv)
                } else {
                    Err(format!(
                        "the ratio has no value: `{gn}`'s {} is 0",
                        stat.name()
                    ))
                }
            });
            let covers = covers(r, &ran(r, scope, &[dn, gn], o), Some((dn, gn)));
            out.push(j.verdict(&inst, covers, value));
        }
    }
    out
}

/// `PHASE/STAT`, `PHASE/TARGET/STAT`: one verdict per dataloader phase and
/// target.
fn judge_dataloader(
    j: &Judging<'_>,
    phase: &Name,
    target: Option<&Name>,
    stat: DataloaderStat,
) -> Vec<CheckResult> {
    let r = j.r;
    let loader_phases: Vec<Scope> = match phase {
        Name::Is(p) => vec![j.named_phase(p)],
        Name::Any => j
            .measured
            .iter()
            .filter(|&&i| r.phases[i].targets.iter().any(|t| t.loader.is_some()))
            .map(|&i| Scope::Phase(i))
            .collect(),
    };
    let mut out = Vec::new();
    for scope in &loader_phases {
        let (pname, with_loader): (String, Vec<String>) = match scope {
            Scope::Phase(i) => (
                r.phases[*i].name.clone(),
                r.phases[*i]
                    .targets
                    .iter()
                    .filter(|t| t.loader.is_some())
                    .map(|t| t.target.clone())
                    .collect(),
            ),
            Scope::Missing(p) => (p.clone(), Vec::new()),
            Scope::Merged(_) => continue,
        };
        // Which targets: the one named, else each that has a dataloader
        // result; a named phase without any still gets its verdict.
        let targets: Vec<Option<String>> = match target {
            Some(Name::Is(t)) => vec![Some(t.clone())],
            _ if !with_loader.is_empty() => with_loader.into_iter().map(Some).collect(),
            _ => vec![None],
        };
        for t in targets {
            let value = match scope {
                Scope::Phase(i) => loader_value(&r.phases[*i], t.as_deref(), stat),
                _ => Err(not_reached(&pname)),
            };
            let inst = Check {
                subject: Subject::Dataloader {
                    phase: Name::Is(pname.clone()),
                    target: t.map(Name::Is),
                    stat,
                },
                ..j.spec.check.clone()
            };
            out.push(j.verdict(&inst, format!("phase {pname}"), value));
        }
    }
    out
}

fn not_reached(p: &str) -> String {
    format!("phase `{p}` was not measured: the result does not hold it (the run stopped before it)")
}

fn phases_of(scope: &Scope) -> Vec<usize> {
    match scope {
        Scope::Merged(v) => v.clone(),
        Scope::Phase(i) => vec![*i],
        Scope::Missing(_) => Vec::new(),
    }
}

/// The scope an expanded check prints: the phase a `*:` stood for.
fn concrete_scope(c: &Check, scope: &Scope, r: &RunResult) -> Option<Name> {
    match (&c.scope, scope) {
        (Some(Name::Any), Scope::Phase(i)) => Some(Name::Is(r.phases[*i].name.clone())),
        (s, _) => s.clone(),
    }
}

/// `name`, or for `*` every target (in scenario order) for which `has`.
fn targets_for(r: &RunResult, name: &Name, has: impl Fn(&str) -> bool) -> Vec<String> {
    match name {
        Name::Is(t) => vec![t.clone()],
        Name::Any => r
            .targets
            .iter()
            .map(|t| t.name.clone())
            .filter(|t| has(t))
            .collect(),
    }
}

fn ops_for(op: &OpSel, with_data: &[OpKind]) -> Vec<OpKind> {
    match op {
        OpSel::Is(o) => vec![*o],
        OpSel::Any => with_data.to_vec(),
    }
}

/// The ops target `t` completed in `phases` (for a time-to-first-byte
/// statistic only the ops that read a body), in report order.
fn ops_with_data(r: &RunResult, phases: &[usize], t: &str, stat: OpStat) -> Vec<OpKind> {
    OpKind::ALL
        .iter()
        .copied()
        .filter(|o| !matches!(stat, OpStat::Time(Timing::Ttfb, _)) || o.reads_body())
        .filter(|o| {
            phases
                .iter()
                .filter_map(|&i| op_result(&r.phases[i], t, o.key()))
                .any(|x| x.count > 0)
        })
        .collect()
}

fn op_result<'a>(p: &'a PhaseResult, target: &str, op: &str) -> Option<&'a OpResult> {
    p.targets
        .iter()
        .find(|t| t.target == target)
        .and_then(|t| t.ops.get(op))
}

/// The part of `scope` a value of `op` comes from: of merged phases, those
/// where every one of `targets` ran it (all of them when none did, so the
/// reason names them).
fn ran(r: &RunResult, scope: &Scope, targets: &[&str], op: OpKind) -> Scope {
    match scope {
        Scope::Merged(v) => {
            let with: Vec<usize> = v
                .iter()
                .copied()
                .filter(|&i| {
                    targets
                        .iter()
                        .all(|t| op_result(&r.phases[i], t, op.key()).is_some_and(|o| o.count > 0))
                })
                .collect();
            Scope::Merged(if with.is_empty() { v.clone() } else { with })
        }
        s => s.clone(),
    }
}

/// What the value covers, for the report: `phase mixed`, `phases a + b
/// merged`, and for a ratio which targets.
fn covers(r: &RunResult, scope: &Scope, pair: Option<(&str, &str)>) -> String {
    let phases = match scope {
        Scope::Phase(i) => format!("phase {}", r.phases[*i].name),
        Scope::Missing(p) => format!("phase {p}"),
        Scope::Merged(v) if v.len() == 1 => format!("phase {}", r.phases[v[0]].name),
        Scope::Merged(v) if v.is_empty() => "no measured phase".into(),
        Scope::Merged(v) => format!(
            "phases {} merged",
            v.iter()
                .map(|&i| r.phases[i].name.as_str())
                .collect::<Vec<_>>()
                .join(" + ")
        ),
    };
    match pair {
        Some((d, g)) => format!("{d} / {g}, {phases}"),
        None => phases,
    }
}

/// The value of `stat` of op `op` on target `t` over `scope`.
fn op_value(r: &RunResult, scope: &Scope, t: &str, op: OpKind, stat: OpStat) -> Value {
    let phases = match scope {
        Scope::Missing(p) => return Err(not_reached(p)),
        s => phases_of(s),
    };
    let found: Vec<(&PhaseResult, &OpResult)> = phases
        .iter()
        .filter_map(|&i| op_result(&r.phases[i], t, op.key()).map(|o| (&r.phases[i], o)))
        .filter(|(_, o)| o.count > 0)
        .collect();
    let key = op.key();
    let where_ = match scope {
        Scope::Merged(v) if v.len() > 1 => format!(
            "the measured phases ({})",
            v.iter()
                .map(|&i| r.phases[i].name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        s => covers(r, s, None),
    };
    if found.is_empty() {
        return Err(format!(
            "no `{key}` operations on target `{t}` in {where_}, so nothing was measured"
        ));
    }
    let count: u64 = found.iter().map(|(_, o)| o.count).sum();
    let shares: Vec<_> = found.iter().map(|(_, o)| failure_share(o)).collect();
    let throttled: u64 = shares.iter().map(|s| s.throttled).sum();
    let failed: u64 = shares.iter().map(|s| s.throttled + s.failed).sum();
    let successes: u64 = found.iter().map(|(_, o)| o.successes).sum();
    let single = (found.len() == 1).then(|| found[0].1);
    match stat {
        OpStat::Count => Ok(count as f64),
        OpStat::Errors => Ok(failed as f64),
        OpStat::ErrorRate => Ok(failed as f64 / count as f64),
        OpStat::ThrottleRate => Ok(throttled as f64 / count as f64),
        OpStat::OpsPerSec | OpStat::MibPerSec => {
            if let Some(o) = single {
                return Ok(match stat {
                    OpStat::OpsPerSec => o.ops_per_sec,
                    _ => o.mib_per_sec,
                });
            }
            // The measured time of the phases that ran the op.
            let elapsed: f64 = found
                .iter()
                .filter_map(|(p, _)| p.targets.iter().find(|x| x.target == t))
                .map(|x| x.elapsed_s)
                .sum();
            if elapsed <= 0.0 {
                return Err(format!("`{t}` has no measured time in {where_}"));
            }
            Ok(match stat {
                OpStat::OpsPerSec => successes as f64 / elapsed,
                _ => found.iter().map(|(_, o)| o.bytes).sum::<u64>() as f64 / MIB / elapsed,
            })
        }
        OpStat::Time(timing, pct) => {
            if successes == 0 {
                return Err(format!(
                    "no successful `{key}` on `{t}` in {where_} (all {count} failed), so it has no latency"
                ));
            }
            let summary = match single {
                Some(o) => stored_summary(o, timing),
                None => merged_summary(&found, timing),
            };
            let s = summary.map_err(|e| format!("`{key}` on `{t}`: {e}"))?;
            Ok(at(&s, pct))
        }
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// A timing's stored summary; in a closed loop service time is the latency
/// (the result stores it only where they differ).
fn stored_summary(o: &OpResult, timing: Timing) -> Result<LatencySummary, String> {
    match timing {
        Timing::Latency => Ok(o.latency_us),
        Timing::Service => Ok(o.service_us.unwrap_or(o.latency_us)),
        Timing::Ttfb => o
            .ttfb_us
            .ok_or_else(|| "no time to first byte was recorded".to_string()),
    }
}

/// The summary of a timing over several phases, from their histograms added.
fn merged_summary(
    found: &[(&PhaseResult, &OpResult)],
    timing: Timing,
) -> Result<LatencySummary, String> {
    let mut sum: Option<Histogram<u64>> = None;
    for (p, o) in found {
        if o.successes == 0 {
            continue;
        }
        let blob = match timing {
            Timing::Latency => Some(&o.histograms.latency),
            Timing::Service => o
                .histograms
                .service
                .as_ref()
                .or(Some(&o.histograms.latency)),
            Timing::Ttfb => o.histograms.ttfb.as_ref(),
        };
        let Some(blob) = blob else {
            return Err(format!("phase {} recorded no time to first byte", p.name));
        };
        let h = codec::decode(blob)
            .map_err(|e| format!("the histogram of phase {} cannot be read: {e}", p.name))?;
        match &mut sum {
            None => sum = Some(h),
            Some(s) => s
                .add(&h)
                .map_err(|e| format!("histograms do not add: {e:?}"))?,
        }
    }
    sum.map(|h| summarize(&h))
        .ok_or_else(|| "no histogram to read".to_string())
}

fn at(s: &LatencySummary, p: Pct) -> f64 {
    match p {
        Pct::Min => s.min,
        Pct::Mean => s.mean,
        Pct::P50 => s.p50,
        Pct::P90 => s.p90,
        Pct::P99 => s.p99,
        Pct::P999 => s.p999,
        Pct::Max => s.max,
    }
}

fn loader_value(p: &PhaseResult, t: Option<&str>, stat: DataloaderStat) -> Value {
    let Some(t) = t else {
        return Err(format!("phase `{}` holds no dataloader result", p.name));
    };
    let l = p
        .targets
        .iter()
        .find(|x| x.target == t)
        .and_then(|x| x.loader.as_ref())
        .ok_or_else(|| {
            format!(
                "phase `{}` holds no dataloader result for target `{t}`",
                p.name
            )
        })?;
    let m = &l.measured;
    if m.accelerator_runs == 0 && stat != DataloaderStat::Accelerators {
        return Err(format!(
            "no accelerator of phase `{}` on `{t}` finished a measured batch",
            p.name
        ));
    }
    Ok(match stat {
        DataloaderStat::Au => m.au,
        DataloaderStat::AuMin => m.au_min,
        DataloaderStat::Accelerators => l.accelerators as f64,
        DataloaderStat::Stall(pct) => at(&m.stall_us, pct),
    })
}

fn verdict(spec: &CheckSpec, instance: &Check, covers: String, value: Value) -> CheckResult {
    let q = spec.check.subject.quantity();
    let limit = spec.check.limit.base();
    let (passed, value, margin, reason) = match value {
        Ok(v) if v.is_finite() => (
            spec.check.cmp.holds(v, limit),
            Some(v),
            Some(spec.check.cmp.margin(v, limit)),
            None,
        ),
        Ok(v) => (
            false,
            None,
            None,
            Some(format!("the value is not a number ({v})")),
        ),
        Err(why) => (false, None, None, Some(why)),
    };
    CheckResult {
        expr: spec.check.to_string(),
        source: spec.source.as_str().to_string(),
        name: spec.name.clone(),
        instance: instance.to_string(),
        covers,
        passed,
        value,
        limit,
        unit: q.base_unit().to_string(),
        margin,
        reason,
    }
}

// ---- reading a verdict ----

/// A value in a result's unit as a person reads it (`8.21 ms`, `0.10%`).
pub fn fmt_value(v: f64, unit: &str) -> String {
    match unit {
        "us" => {
            let a = v.abs();
            if a >= 1e6 {
                format!("{} s", sig(v / 1e6, 3))
            } else if a >= 1e3 {
                format!("{} ms", sig(v / 1e3, 3))
            } else {
                format!("{} µs", sig(v, 3))
            }
        }
        "fraction" => format!("{}%", sig(v * 100.0, 3)),
        "ops/s" => format!("{} ops/s", sig(v, 3)),
        "MiB/s" => format!("{} MiB/s", sig(v, 3)),
        "count" if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v}"),
        _ => sig(v, 3),
    }
}

/// The margin, signed, with its share of the limit: `+1.79 ms (18%)`.
pub fn fmt_margin(c: &CheckResult) -> String {
    let Some(m) = c.margin else {
        return "-".into();
    };
    let sign = if m > 0.0 {
        "+"
    } else if m < 0.0 {
        "-"
    } else {
        ""
    };
    let abs = fmt_value(m.abs(), &c.unit);
    if c.limit > 0.0 && m != 0.0 {
        format!("{sign}{abs} ({sign}{}%)", sig(m.abs() / c.limit * 100.0, 2))
    } else {
        format!("{sign}{abs}")
    }
}

/// The limit as written for the unit: `< 10 ms`.
fn fmt_limit(c: &CheckResult) -> String {
    let cmp = check::parse(&c.expr).map_or("", |x| x.cmp.symbol());
    format!("{cmp} {}", fmt_value(c.limit, &c.unit))
}

/// One line per check: what it measured and how it relates to its limit.
pub fn sentence(c: &CheckResult) -> String {
    let named = match &c.name {
        Some(n) => format!("{n} ({})", c.instance),
        None => c.instance.clone(),
    };
    let verdict = if c.passed { "pass" } else { "FAIL" };
    match (c.value, &c.reason) {
        (Some(v), _) => {
            let side = match c.margin {
                Some(m) if m > 0.0 => "inside the limit",
                Some(m) if m < 0.0 => "past the limit",
                _ => "at the limit",
            };
            let covers = if c.covers.is_empty() {
                String::new()
            } else {
                format!(" ({})", c.covers)
            };
            let by = c.margin.map_or(String::new(), |m| {
                if m == 0.0 {
                    String::new()
                } else {
                    format!("{} ", fmt_value(m.abs(), &c.unit))
                }
            });
            format!(
                "{verdict}: {named}: measured {}{covers}, {by}{side}",
                fmt_value(v, &c.unit),
            )
        }
        (None, Some(why)) => format!("{verdict}: {named}: not measured: {why}"),
        (None, None) => format!("{verdict}: {named}"),
    }
}

/// The "Checks" section at the top of report.md (empty without checks).
pub fn section(r: &RunResult) -> String {
    if r.checks.is_empty() {
        return String::new();
    }
    let failed = r.checks.iter().filter(|c| !c.passed).count();
    let mut md = String::from("## Checks\n\n");
    let total = r.checks.len();
    let _ = if failed == 0 {
        writeln!(md, "All {total} checks passed.")
    } else {
        writeln!(
            md,
            "**{failed} of {total} checks failed** (`s3bench run` exits with code 7 when a complete run fails a check)."
        )
    };
    if !r.complete {
        md.push_str(
            "\nThe run is incomplete: the checks judge what was measured before it stopped.\n",
        );
    }
    md.push('\n');
    let mut t = Table::numeric(["check", "verdict", "measured", "limit", "margin", "covers"])
        .with_align(1, Align::Left)
        .with_align(5, Align::Left);
    for c in &r.checks {
        let check = match &c.name {
            Some(n) => format!("{n}: `{}`", c.instance),
            None => format!("`{}`", c.instance),
        };
        let check = if c.instance != c.expr {
            format!("{check} (from `{}`)", c.expr)
        } else {
            check
        };
        let covers = match &c.reason {
            Some(why) if c.value.is_none() => format!("not measured: {why}"),
            _ => c.covers.clone(),
        };
        t.push([
            check,
            if c.passed { "pass" } else { "**FAIL**" }.to_string(),
            c.value.map_or("-".into(), |v| fmt_value(v, &c.unit)),
            fmt_limit(c),
            fmt_margin(c),
            covers,
        ]);
    }
    md.push_str(&t.render());
    md.push('\n');
    md
}

/// The checks as JUnit XML, one test case per expanded check, for CI
/// systems (GitLab, Jenkins, GitHub actions that read JUnit).
pub fn junit(r: &RunResult) -> String {
    let failures = r.checks.iter().filter(|c| !c.passed).count();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let tests = r.checks.len();
    let _ = writeln!(
        x,
        "<testsuites name=\"s3bench\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">"
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" timestamp=\"{}\">",
        xml(&format!("s3bench checks: {}", r.scenario)),
        xml(r.started_at.trim_end_matches('Z')),
    );
    x.push_str("    <properties>\n");
    for (k, v) in [
        ("run_id", r.run_id.as_str()),
        ("scenario_file", r.scenario_file.as_str()),
        ("complete", if r.complete { "true" } else { "false" }),
        ("interrupted", r.interrupted.as_deref().unwrap_or("")),
    ] {
        let _ = writeln!(x, "      <property name=\"{k}\" value=\"{}\"/>", xml(v));
    }
    x.push_str("    </properties>\n");
    for c in &r.checks {
        let name = match &c.name {
            Some(n) => format!("{n}: {}", c.instance),
            None => c.instance.clone(),
        };
        let _ = write!(
            x,
            "    <testcase name=\"{}\" classname=\"{}\" time=\"0\"",
            xml(&name),
            xml(&format!("s3bench.{}", r.scenario))
        );
        if c.passed {
            let _ = writeln!(
                x,
                ">\n      <system-out>{}</system-out>\n    </testcase>",
                xml(&sentence(c))
            );
        } else {
            let s = sentence(c);
            let _ = writeln!(
                x,
                ">\n      <failure message=\"{}\" type=\"CheckFailed\">{}</failure>\n    </testcase>",
                xml(&s),
                xml(&format!(
                    "{s}\ncheck as written: {}\nsource: {}",
                    c.expr, c.source
                ))
            );
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// Text for an XML attribute or element: the five entities escaped, and
/// characters XML 1.0 cannot hold dropped.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[path = "checks_tests.rs"]
mod tests;
