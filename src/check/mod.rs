//! Pass/fail checks: the expression language of a scenario's `[[check]]`
//! tables and of `--check` on `run`, `report`, `compare` and `merge`
//! (`express/get/p99 < 10ms`). This module is the language alone: its
//! syntax tree, the parser ([`parse`]), the printer (`Display`, which
//! `parse` reads back to the same tree) and the check of the names a check
//! uses against the names a scenario or a result has ([`validate`]).
//! Judging a check against a result is `report::checks`, which reads only
//! the result model, so a stored result is judged exactly as a fresh one.
//!
//! The grammar, with every statistic and unit, is in
//! docs/scenario-format.md ("`[[check]]`").

mod parse;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::s3::OpKind;

pub use parse::{parse, parse_spanned};

/// A target or phase in a check: one by name, or `*` for every one that has
/// the statistic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Name {
    Any,
    Is(String),
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Name::Any => f.write_str("*"),
            Name::Is(n) => f.write_str(n),
        }
    }
}

/// An op in a check: one of the vocabulary, or `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpSel {
    Any,
    Is(OpKind),
}

impl fmt::Display for OpSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpSel::Any => f.write_str("*"),
            OpSel::Is(op) => f.write_str(op.key()),
        }
    }
}

/// A point of a latency distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pct {
    Min,
    Mean,
    P50,
    P90,
    P99,
    P999,
    Max,
}

impl Pct {
    pub const ALL: [Pct; 7] = [
        Pct::P50,
        Pct::P90,
        Pct::P99,
        Pct::P999,
        Pct::Min,
        Pct::Mean,
        Pct::Max,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Pct::Min => "min",
            Pct::Mean => "mean",
            Pct::P50 => "p50",
            Pct::P90 => "p90",
            Pct::P99 => "p99",
            Pct::P999 => "p999",
            Pct::Max => "max",
        }
    }
}

/// Which latency of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timing {
    /// Total latency (from when the request was due under a fixed rate).
    Latency,
    /// Time to first byte (GET-like ops).
    Ttfb,
    /// Service time (sent -> done).
    Service,
}

impl Timing {
    pub const ALL: [Timing; 3] = [Timing::Latency, Timing::Ttfb, Timing::Service];

    fn prefix(self) -> &'static str {
        match self {
            Timing::Latency => "",
            Timing::Ttfb => "ttfb_",
            Timing::Service => "service_",
        }
    }
}

/// A statistic of one op on one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpStat {
    /// A latency of successful operations.
    Time(Timing, Pct),
    /// Failed operations (throttled, other HTTP errors, transport) over all
    /// completed ones. Conditional outcomes (412, 409, InvalidWriteOffset:
    /// a lost race a conditional write asks for) are not errors.
    ErrorRate,
    /// Throttled operations (503 SlowDown, 429) over all completed ones.
    ThrottleRate,
    /// Successful operations per second of measured time.
    OpsPerSec,
    /// Payload MiB per second of successful operations.
    MibPerSec,
    /// Completed operations, successful or not.
    Count,
    /// Failed operations (as in `error_rate`).
    Errors,
}

impl OpStat {
    /// Every op statistic, in the order the docs list them.
    pub fn all() -> Vec<OpStat> {
        let mut v: Vec<OpStat> = Timing::ALL
            .iter()
            .flat_map(|t| Pct::ALL.iter().map(|p| OpStat::Time(*t, *p)))
            .collect();
        v.extend([
            OpStat::ErrorRate,
            OpStat::ThrottleRate,
            OpStat::OpsPerSec,
            OpStat::MibPerSec,
            OpStat::Count,
            OpStat::Errors,
        ]);
        v
    }

    pub fn name(self) -> String {
        match self {
            OpStat::Time(t, p) => format!("{}{}", t.prefix(), p.name()),
            OpStat::ErrorRate => "error_rate".into(),
            OpStat::ThrottleRate => "throttle_rate".into(),
            OpStat::OpsPerSec => "ops_per_sec".into(),
            OpStat::MibPerSec => "mib_per_sec".into(),
            OpStat::Count => "count".into(),
            OpStat::Errors => "errors".into(),
        }
    }

    pub fn from_name(s: &str) -> Option<OpStat> {
        OpStat::all().into_iter().find(|o| o.name() == s)
    }

    pub fn quantity(self) -> Quantity {
        match self {
            OpStat::Time(..) => Quantity::Duration,
            OpStat::ErrorRate | OpStat::ThrottleRate => Quantity::Fraction,
            OpStat::OpsPerSec => Quantity::OpsRate,
            OpStat::MibPerSec => Quantity::Throughput,
            OpStat::Count | OpStat::Errors => Quantity::Count,
        }
    }

    /// Statistics an Express / General Purpose ratio is taken of: latency
    /// and throughput (a ratio of error rates is mostly 0 / 0).
    pub fn has_ratio(self) -> bool {
        matches!(
            self,
            OpStat::Time(..) | OpStat::OpsPerSec | OpStat::MibPerSec
        )
    }
}

/// A statistic of a dataloader phase on one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataloaderStat {
    /// Accelerator utilization: compute time over wall time.
    Au,
    /// The lowest AU of a single accelerator.
    AuMin,
    /// Accelerators simulated; in search mode the most that kept the AU
    /// mark in every round.
    Accelerators,
    /// How long an accelerator waited for a batch.
    Stall(Pct),
}

impl DataloaderStat {
    pub fn all() -> Vec<DataloaderStat> {
        let mut v = vec![
            DataloaderStat::Au,
            DataloaderStat::AuMin,
            DataloaderStat::Accelerators,
        ];
        v.extend(Pct::ALL.iter().map(|p| DataloaderStat::Stall(*p)));
        v
    }

    pub fn name(self) -> String {
        match self {
            DataloaderStat::Au => "au".into(),
            DataloaderStat::AuMin => "au_min".into(),
            DataloaderStat::Accelerators => "accelerators".into(),
            DataloaderStat::Stall(p) => format!("stall_{}", p.name()),
        }
    }

    pub fn from_name(s: &str) -> Option<DataloaderStat> {
        DataloaderStat::all().into_iter().find(|o| o.name() == s)
    }

    pub fn quantity(self) -> Quantity {
        match self {
            DataloaderStat::Au | DataloaderStat::AuMin => Quantity::Fraction,
            DataloaderStat::Accelerators => Quantity::Count,
            DataloaderStat::Stall(_) => Quantity::Duration,
        }
    }
}

/// What a check measures.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// `TARGET/OP/STAT`.
    Op {
        target: Name,
        op: OpSel,
        stat: OpStat,
    },
    /// `ratio/OP/STAT`: the directory target's statistic over the general
    /// purpose target's (the first of each kind, as the report's ratios).
    Ratio { op: OpSel, stat: OpStat },
    /// `PHASE/STAT` (every target) or `PHASE/TARGET/STAT` of a dataloader phase.
    Dataloader {
        phase: Name,
        target: Option<Name>,
        stat: DataloaderStat,
    },
}

impl Subject {
    /// The kind of number the statistic is.
    pub fn quantity(&self) -> Quantity {
        match self {
            Subject::Op { stat, .. } => stat.quantity(),
            Subject::Ratio { .. } => Quantity::Ratio,
            Subject::Dataloader { stat, .. } => stat.quantity(),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Op { target, op, stat } => write!(f, "{target}/{op}/{}", stat.name()),
            Subject::Ratio { op, stat } => write!(f, "{RATIO}/{op}/{}", stat.name()),
            Subject::Dataloader {
                phase,
                target: None,
                stat,
            } => write!(f, "{phase}/{}", stat.name()),
            Subject::Dataloader {
                phase,
                target: Some(t),
                stat,
            } => write!(f, "{phase}/{t}/{}", stat.name()),
        }
    }
}

/// The first segment that makes a subject a ratio.
pub const RATIO: &str = "ratio";

/// How the measured value must relate to the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl Cmp {
    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Eq => "==",
        }
    }

    /// True when `value` passes against `limit`.
    pub fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Cmp::Lt => value < limit,
            Cmp::Le => value <= limit,
            Cmp::Gt => value > limit,
            Cmp::Ge => value >= limit,
            Cmp::Eq => value == limit,
        }
    }

    /// How far `value` is on the passing side of `limit` (negative: how far
    /// on the failing side). For `==` the distance, negated.
    pub fn margin(self, value: f64, limit: f64) -> f64 {
        match self {
            Cmp::Lt | Cmp::Le => limit - value,
            Cmp::Gt | Cmp::Ge => value - limit,
            Cmp::Eq => -(value - limit).abs(),
        }
    }
}

/// The kind of number a statistic is: it decides the units its limit takes
/// and the base unit checks are judged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quantity {
    /// Microseconds; the limit needs a unit (`ns`, `us`, `ms`, `s`).
    Duration,
    /// A fraction 0..1; the limit is a plain fraction or a percentage.
    Fraction,
    /// Operations per second; plain, or with `/s`.
    OpsRate,
    /// MiB/s; plain (MiB/s) or with `KiB/s`, `MiB/s`, `GiB/s`, `KB/s`, `MB/s`, `GB/s`.
    Throughput,
    /// A count; plain.
    Count,
    /// A ratio; plain, or with `x`.
    Ratio,
}

impl Quantity {
    /// The unit results store values of this quantity in.
    pub fn base_unit(self) -> &'static str {
        match self {
            Quantity::Duration => "us",
            Quantity::Fraction => "fraction",
            Quantity::OpsRate => "ops/s",
            Quantity::Throughput => "MiB/s",
            Quantity::Count => "count",
            Quantity::Ratio => "ratio",
        }
    }
}

/// The unit a limit was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// No unit: the quantity's base (a fraction, ops/s, MiB/s, a count, a ratio).
    Plain,
    Ns,
    Us,
    Ms,
    S,
    Percent,
    KiBps,
    MiBps,
    GiBps,
    KBps,
    MBps,
    GBps,
}

const MIB: f64 = 1024.0 * 1024.0;

impl Unit {
    /// Spelling when printed (`µs` is read as `us`).
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::Plain => "",
            Unit::Ns => "ns",
            Unit::Us => "us",
            Unit::Ms => "ms",
            Unit::S => "s",
            Unit::Percent => "%",
            Unit::KiBps => "KiB/s",
            Unit::MiBps => "MiB/s",
            Unit::GiBps => "GiB/s",
            Unit::KBps => "KB/s",
            Unit::MBps => "MB/s",
            Unit::GBps => "GB/s",
        }
    }

    /// Multiplier from this unit to the quantity's base unit.
    pub fn scale(self) -> f64 {
        match self {
            Unit::Plain | Unit::Us | Unit::MiBps => 1.0,
            Unit::Ns => 1e-3,
            Unit::Ms => 1e3,
            Unit::S => 1e6,
            Unit::Percent => 1e-2,
            Unit::KiBps => 1.0 / 1024.0,
            Unit::GiBps => 1024.0,
            Unit::KBps => 1e3 / MIB,
            Unit::MBps => 1e6 / MIB,
            Unit::GBps => 1e9 / MIB,
        }
    }
}

/// The limit of a check, as written: a number and its unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub number: f64,
    pub unit: Unit,
}

impl Limit {
    /// The limit in the quantity's base unit (µs, fraction, ops/s, MiB/s, ...).
    pub fn base(&self) -> f64 {
        self.number * self.unit.scale()
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // f64's Display is the shortest text that reads back to the same
        // number, and never uses an exponent: what the parser takes.
        write!(f, "{}{}", self.number, self.unit.suffix())
    }
}

/// One check: `[PHASE:]SUBJECT CMP LIMIT`.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Judged in this measured phase (`*`: each measured phase on its own);
    /// None: on every measured phase merged.
    pub scope: Option<Name>,
    pub subject: Subject,
    pub cmp: Cmp,
    pub limit: Limit,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.scope {
            write!(f, "{s}:")?;
        }
        write!(f, "{} {} {}", self.subject, self.cmp.symbol(), self.limit)
    }
}

/// Where a check was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A `[[check]]` table of the scenario.
    Scenario,
    /// `--check` on the command line.
    Flag,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Scenario => "scenario",
            Source::Flag => "flag",
        }
    }

    pub fn from_name(s: &str) -> Source {
        if s == "scenario" {
            Source::Scenario
        } else {
            Source::Flag
        }
    }
}

/// A check as a run, report or merge judges it: the expression, where it
/// came from and its optional name.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSpec {
    pub check: Check,
    pub source: Source,
    /// `name` of the `[[check]]` table.
    pub name: Option<String>,
}

/// A malformed check, or one naming what the scenario or result lacks: the
/// 1-based column (in characters) of the expression it points at, and one
/// sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct CheckError {
    pub column: usize,
    pub message: String,
}

/// Columns (1-based) of the parts of a parsed check, for errors about names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Spans {
    pub scope: usize,
    /// The `/`-separated parts of the subject, in order.
    pub parts: [usize; 3],
}

/// What a check may name: the measured phases and targets of a scenario
/// (before a run) or of a stored result.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// `the scenario` or `the result`, for messages.
    pub what: &'static str,
    pub targets: Vec<TargetName>,
    /// Measured phases only, in order.
    pub phases: Vec<PhaseName>,
    /// Setup phases (`prepare`, `cleanup`): named in an error, never judged.
    pub setup: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct TargetName {
    pub name: String,
    pub directory: bool,
}

#[derive(Debug, Clone)]
pub struct PhaseName {
    pub name: String,
    pub loader: bool,
    /// The ops the phase produces, when known before it runs (a scenario's
    /// mix); None for a stored result, where an op it lacks is judged as
    /// "not measured" instead.
    pub ops: Option<Vec<OpKind>>,
}

impl Names {
    fn target_list(&self) -> String {
        list(self.targets.iter().map(|t| t.name.as_str()))
    }

    fn phase_list(&self, loader_only: bool) -> String {
        list(
            self.phases
                .iter()
                .filter(|p| !loader_only || p.loader)
                .map(|p| p.name.as_str()),
        )
    }

    fn phase(&self, name: &str) -> Option<&PhaseName> {
        self.phases.iter().find(|p| p.name == name)
    }
}

fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Parses `--check` expressions and checks their names against `names`:
/// the first bad one is an error naming the flag, its column and what was
/// expected (bad input, exit code 2).
pub fn parse_flags(exprs: &[String], names: &Names) -> Result<Vec<CheckSpec>, String> {
    exprs
        .iter()
        .map(|e| {
            parse_spanned(e)
                .and_then(|(c, spans)| validate(&c, &spans, names).map(|()| c))
                .map(|check| CheckSpec {
                    check,
                    source: Source::Flag,
                    name: None,
                })
                .map_err(|err| format!("--check {e:?}: {err}"))
        })
        .collect()
}

/// Checks every name `check` uses against `names`: a target, phase or op
/// the scenario (or result) lacks is an error pointing at its column, said
/// before anything is sent.
pub fn validate(check: &Check, spans: &Spans, names: &Names) -> Result<(), CheckError> {
    let err = |column: usize, message: String| Err(CheckError { column, message });
    let what = names.what;
    // The measured phases the check looks at.
    let scoped: Vec<&PhaseName> = match &check.scope {
        Some(Name::Is(p)) => match names.phase(p) {
            Some(ph) => vec![ph],
            None if names.setup.iter().any(|s| s == p) => {
                return err(
                    spans.scope,
                    format!(
                        "phase `{p}` is the run's own setup, which checks do not judge; expected a measured phase: {}",
                        names.phase_list(false)
                    ),
                );
            }
            None => {
                return err(
                    spans.scope,
                    format!(
                        "{what} has no measured phase `{p}`; expected one of {}",
                        names.phase_list(false)
                    ),
                );
            }
        },
        _ => names.phases.iter().collect(),
    };
    let target = |column: usize, t: &Name| -> Result<(), CheckError> {
        match t {
            Name::Is(n) if !names.targets.iter().any(|x| &x.name == n) => err(
                column,
                format!(
                    "{what} has no target `{n}`; expected one of {} or `*`",
                    names.target_list()
                ),
            ),
            _ => Ok(()),
        }
    };
    let op = |column: usize, op: &OpSel, stat: OpStat| -> Result<(), CheckError> {
        let OpSel::Is(op) = op else { return Ok(()) };
        if let OpStat::Time(Timing::Ttfb, _) = stat
            && !op.reads_body()
        {
            return err(
                column,
                format!(
                    "`{}` has no time to first byte; only ops that read a body have one ({})",
                    op.key(),
                    list(
                        OpKind::ALL
                            .iter()
                            .filter(|o| o.reads_body())
                            .map(|o| o.key())
                    )
                ),
            );
        }
        let known: Vec<&PhaseName> = scoped.iter().copied().filter(|p| p.ops.is_some()).collect();
        if known.is_empty() || scoped.len() != known.len() {
            return Ok(());
        }
        if !known
            .iter()
            .any(|p| p.ops.as_ref().is_some_and(|o| o.contains(op)))
        {
            let where_ = match &check.scope {
                Some(Name::Is(p)) => format!("phase `{p}`"),
                _ => "any measured phase".into(),
            };
            return err(
                column,
                format!(
                    "no `{}` in {where_} of {what}, so it would never be measured; expected an op of its mix",
                    op.key()
                ),
            );
        }
        Ok(())
    };
    match &check.subject {
        Subject::Op {
            target: t,
            op: o,
            stat,
        } => {
            target(spans.parts[0], t)?;
            op(spans.parts[1], o, *stat)?;
        }
        Subject::Ratio { op: o, stat } => {
            let dir = names.targets.iter().find(|t| t.directory);
            let gp = names.targets.iter().find(|t| !t.directory);
            if dir.is_none() || gp.is_none() {
                return err(
                    spans.parts[0],
                    format!(
                        "`ratio` compares a directory target with a general-purpose one, and {what} has {}",
                        match (dir, gp) {
                            (None, None) => "no targets".to_string(),
                            (Some(_), None) => "no general-purpose target".to_string(),
                            _ => "no directory target".to_string(),
                        }
                    ),
                );
            }
            op(spans.parts[1], o, *stat)?;
        }
        Subject::Dataloader {
            phase, target: t, ..
        } => {
            if let Name::Is(p) = phase {
                match names.phase(p) {
                    Some(ph) if ph.loader => {}
                    Some(_) => {
                        return err(
                            spans.parts[0],
                            format!(
                                "phase `{p}` is not a dataloader phase; expected one of {}",
                                names.phase_list(true)
                            ),
                        );
                    }
                    None => {
                        return err(
                            spans.parts[0],
                            format!(
                                "{what} has no measured phase `{p}`; expected a dataloader phase: {}",
                                names.phase_list(true)
                            ),
                        );
                    }
                }
            } else if !names.phases.iter().any(|p| p.loader) {
                return err(
                    spans.parts[0],
                    format!("{what} has no dataloader phase for `*` to match"),
                );
            }
            if let Some(t) = t {
                target(spans.parts[1], t)?;
            }
        }
    }
    Ok(())
}
