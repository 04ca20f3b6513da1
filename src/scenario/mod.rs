//! Scenario files: TOML -> raw model (`raw`) -> validated [`Plan`]
//! (`validate`). Loading never touches the network; every mistake is
//! reported with the file, line, column and field it concerns.
//!
//! The file format is documented in `docs/scenario-format.md`.

pub mod checkpoint;
pub mod dataloader;
mod key;
pub mod layout;
pub mod ordered;
pub mod plan;
pub mod presets;
mod rates;
mod raw;
pub mod replay;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use key::splitmix64;
pub use plan::*;

/// Reads and validates a scenario: a file, or `env:NAME` (see [`read`]).
pub fn load(source: &Path) -> Result<Plan, ScenarioError> {
    parse(&read(source)?, source)
}

/// Prefix of a scenario source that names an environment variable holding
/// the TOML text instead of a file (`env:S3BENCH_SCENARIO_TOML`: AWS Batch
/// jobs get their scenario this way).
pub const ENV_SOURCE_PREFIX: &str = "env:";

/// The text of a scenario source: a file, or `env:NAME` for the text of
/// environment variable NAME. Problems name `env:NAME` where they would
/// name the file (`env:S3BENCH_SCENARIO_TOML:12:1: phase[0].ops: ...`).
pub fn read(source: &Path) -> Result<String, ScenarioError> {
    let problem = |message: String| {
        ScenarioError::single(Problem {
            file: source.to_path_buf(),
            line: None,
            column: None,
            field: String::new(),
            message,
        })
    };
    let Some(var) = source
        .to_str()
        .and_then(|s| s.strip_prefix(ENV_SOURCE_PREFIX))
    else {
        return std::fs::read_to_string(source)
            .map_err(|e| problem(format!("cannot read the scenario file: {e}")));
    };
    match std::env::var(var) {
        Ok(text) if text.trim().is_empty() => Err(problem(format!(
            "environment variable {var} is empty: it should hold the scenario's TOML text"
        ))),
        Ok(text) => Ok(text),
        Err(std::env::VarError::NotPresent) => Err(problem(format!(
            "environment variable {var} is not set: it should hold the scenario's TOML text"
        ))),
        Err(std::env::VarError::NotUnicode(_)) => Err(problem(format!(
            "environment variable {var} is not UTF-8 text"
        ))),
    }
}

/// Validates scenario text; `source` names the file in messages and in the plan.
pub fn parse(text: &str, source: &Path) -> Result<Plan, ScenarioError> {
    let de = toml::Deserializer::new(text);
    let raw: raw::RawScenario = match serde_path_to_error::deserialize(de) {
        Ok(raw) => raw,
        Err(e) => {
            let field = field_path(e.path());
            let inner = e.into_inner();
            let (line, column) = match inner.span() {
                Some(span) => {
                    let (l, c) = line_col(text, span.start);
                    (Some(l), Some(c))
                }
                None => (None, None),
            };
            return Err(ScenarioError::single(Problem {
                file: source.to_path_buf(),
                line,
                column,
                field,
                message: toml_message(inner.message()),
            }));
        }
    };
    validate::validate(raw, text, source)
}

/// One mistake in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based; None when the mistake has no single place (e.g. a missing table).
    pub line: Option<usize>,
    /// 1-based, in characters.
    pub column: Option<usize>,
    /// Dotted path of the field, e.g. `phase[0].mix[1].part_size`; empty for
    /// TOML syntax errors.
    pub field: String,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Everything wrong with a scenario file; Display prints one problem per line.
#[derive(Debug, thiserror::Error)]
#[error("{}", render_problems(&self.problems))]
pub struct ScenarioError {
    problems: Vec<Problem>,
}

impl ScenarioError {
    fn single(p: Problem) -> Self {
        ScenarioError { problems: vec![p] }
    }

    pub(crate) fn new(problems: Vec<Problem>) -> Self {
        ScenarioError { problems }
    }

    /// The problems, in file order where they have positions.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

fn render_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// 1-based line and character column of byte offset `pos` in `text`.
pub(crate) fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let mut pos = pos.min(text.len());
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &text[..pos];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// serde_path_to_error's path as the user wrote it (`phase[0].mix[1].size`),
/// without the internal keys `toml::Spanned` uses.
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if key.starts_with("$__serde_spanned_private") {
                    continue;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// toml's message on one line, in TOML's words rather than serde's
/// (table/array/integer rather than map/sequence/i64).
fn toml_message(msg: &str) -> String {
    let mut out = msg.trim().replace('\n', "; ");
    for (from, to) in [
        ("expected i64", "expected an integer"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
        ("invalid type: map", "invalid type: table"),
        ("invalid type: sequence", "invalid type: array"),
    ] {
        out = out.replace(from, to);
    }
    // "expected struct RawPhase" -> "expected a table".
    while let Some(i) = out.find("expected struct ") {
        let rest = &out[i + "expected struct ".len()..];
        let end = rest
            .find(|c: char| !c.is_alphanumeric())
            .unwrap_or(rest.len());
        out = format!("{}expected a table{}", &out[..i], &rest[end..]);
    }
    out
}

impl Plan {
    /// Applies `--duration d`: every phase runs for `d` of measured time.
    ///
    /// - `ops` limits stay: a phase still ends at whichever comes first.
    /// - A multi-stage phase keeps its shape: stage durations are scaled
    ///   proportionally so they add up to `d` exactly.
    /// - Warm-up (which runs before the measured time) is capped at `d / 2`,
    ///   so a short smoke run is not dominated by warm-up.
    pub fn override_duration(&mut self, d: Duration) {
        for phase in &mut self.phases {
            phase.stop.duration = Some(d);
            phase.warmup = phase.warmup.min(d / 2);
            let total: Duration = phase.stages.iter().filter_map(|s| s.duration).sum();
            if phase.stages.len() == 1 {
                if phase.stages[0].duration.is_some() {
                    phase.stages[0].duration = Some(d);
                }
                continue;
            }
            if total.is_zero() {
                continue;
            }
            // Nanosecond arithmetic in u128 so long phases do not overflow;
            // the last stage takes the rounding remainder.
            let (d_ns, total_ns) = (d.as_nanos(), total.as_nanos());
            let mut assigned: u128 = 0;
            let last = phase.stages.len() - 1;
            for (i, stage) in phase.stages.iter_mut().enumerate() {
                let Some(old) = stage.duration else { continue };
                let ns = if i == last {
                    d_ns.saturating_sub(assigned)
                } else {
                    old.as_nanos() * d_ns / total_ns
                };
                assigned += ns;
                stage.duration = Some(nanos_to_duration(ns));
            }
        }
    }

    /// Appends the data set key of object `index` (below the run prefix).
    pub fn key(&self, index: u64, date: (i32, u32, u32), out: &mut String) {
        self.dataset.key.render(index, date, out);
    }

    /// Size of data set object `index`: a pure function of (seed, index), so
    /// every target, round and process agrees on it.
    pub fn object_size(&self, index: u64) -> u64 {
        let h = splitmix64(splitmix64(self.seed) ^ index);
        // The top 53 bits give a uniform f64 in [0, 1).
        let u = (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        self.dataset.size.pick(u)
    }

    /// What a check on this scenario may name: its targets, its measured
    /// phases and the ops each produces (the mix's, a rename's checkpoint
    /// PUT, a dataloader's reads).
    pub fn check_names(&self) -> crate::check::Names {
        use crate::check::{Names, PhaseName, TargetName};
        use crate::s3::OpKind;
        Names {
            what: "the scenario",
            targets: self
                .targets
                .iter()
                .map(|t| TargetName {
                    name: t.name.clone(),
                    directory: t.kind == TargetKind::Directory,
                })
                .collect(),
            phases: self
                .phases
                .iter()
                .map(|p| {
                    let mut ops: Vec<OpKind> = p.mix.iter().map(|m| m.op.kind()).collect();
                    if ops.contains(&OpKind::Rename) {
                        ops.push(OpKind::Put);
                    }
                    if let Some(l) = &p.loader {
                        ops.push(match l.sample {
                            SampleUnit::Object => OpKind::Get,
                            SampleUnit::Record { .. } => OpKind::RangedGet,
                        });
                    }
                    PhaseName {
                        name: p.name.clone(),
                        loader: p.loader.is_some(),
                        ops: Some(ops),
                    }
                })
                .collect(),
            setup: vec!["prepare".into(), "cleanup".into()],
        }
    }

    /// The targets that are S3 Express One Zone directory buckets.
    pub fn directory_targets(&self) -> impl Iterator<Item = &TargetSpec> {
        self.targets
            .iter()
            .filter(|t| t.kind == TargetKind::Directory)
    }
}

fn nanos_to_duration(ns: u128) -> Duration {
    let secs = (ns / 1_000_000_000).min(u128::from(u64::MAX)) as u64;
    Duration::new(secs, (ns % 1_000_000_000) as u32)
}

#[cfg(test)]
mod dataloader_tests;
#[cfg(test)]
mod tests;
