//! Dataloader phases (`[phase.loader]`): simulated accelerators that read
//! batches of the data set and "compute" on each, the way MLPerf Storage
//! (DLIO) models a training job. This file holds the raw TOML model of the
//! table, its validated form and its checks, so the rest of the scenario
//! code only forwards to it.
//!
//! The format is documented in `docs/scenario-format.md` and the model in
//! `docs/loader.md`.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use toml::Spanned;

use super::plan::{Dataset, Phase, SizeDist, Stop};
use super::raw::RawPhase;
use super::validate::Ctx;
use crate::units::{ByteSize, ByteSizeVisitor, HumanDuration};

/// MLPerf Storage's pass mark for most workloads (CosmoFlow uses 0.70).
pub const DEFAULT_AU: f64 = 0.90;
/// Batches read ahead of the one an accelerator waits for or computes.
pub const DEFAULT_PREFETCH: u32 = 2;
/// Requests in flight per accelerator (DataLoader workers / read threads).
pub const DEFAULT_READ_CONCURRENCY: u32 = 4;
const MAX_ACCELERATORS: i64 = 100_000;
const MAX_BATCH: i64 = 1_000_000;
const MAX_PER_ACCELERATOR: i64 = 4096;

/// A validated `[phase.loader]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct DataloaderSpec {
    pub accelerators: Accelerators,
    /// Samples per batch.
    pub batch_size: u32,
    /// Simulated compute time per batch.
    pub compute: Duration,
    /// Batches the loader may read ahead of the one the accelerator waits
    /// for (the buffer of ready batches), at least 1.
    pub prefetch: u32,
    /// Requests in flight per accelerator.
    pub read_concurrency: u32,
    pub sample: SampleUnit,
    /// Stop after this many passes over the data set (None = the phase's
    /// duration alone ends it).
    pub epochs: Option<u32>,
    /// AU a run must keep to pass (and the search's mark), 0..1.
    pub au: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Accelerators {
    Fixed(u32),
    /// Find the most accelerators (at most `max`) whose AU stays >= the mark.
    Search {
        max: u32,
    },
}

impl Accelerators {
    /// The most steps the run may take: 1 for a fixed count; for a search,
    /// doubling from 1 up to `max` and then bisecting the last interval.
    pub fn most_steps(&self) -> u32 {
        match *self {
            Accelerators::Fixed(_) => 1,
            Accelerators::Search { max } => {
                let doubling = max.max(1).next_power_of_two().trailing_zeros() + 1;
                doubling + doubling.saturating_sub(2)
            }
        }
    }
}

/// What one sample is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleUnit {
    /// One whole object of the data set (one GET).
    Object,
    /// A fixed-size record inside the data set's objects (shards): a ranged
    /// GET of `size` bytes at a record boundary; the tail of an object too
    /// short for a whole record is never read.
    Record { size: u64 },
}

impl DataloaderSpec {
    /// Accelerators of the fixed mode, or the search's upper bound.
    pub fn max_accelerators(&self) -> u32 {
        match self.accelerators {
            Accelerators::Fixed(n) => n,
            Accelerators::Search { max } => max,
        }
    }
}

/// Records object `size` holds (whole objects count as one).
pub fn records_in(sample: SampleUnit, size: u64) -> u64 {
    match sample {
        SampleUnit::Object => 1,
        SampleUnit::Record { size: s } => size / s.max(1),
    }
}

/// Reads one round of a loader phase sends at most (what its accelerators
/// consume at AU = 100%, every search step included) and its seconds: for
/// `s3bench plan`. `objects` and `mean_object` describe the data set.
pub fn reads_upper_bound(
    spec: &DataloaderSpec,
    duration: Option<Duration>,
    objects: u64,
    mean_object: f64,
) -> (u64, f64) {
    let samples = match spec.sample {
        SampleUnit::Object => objects,
        SampleUnit::Record { size } => (objects as f64 * mean_object / size as f64) as u64,
    };
    let counts: Vec<u64> = match spec.accelerators {
        Accelerators::Fixed(n) => vec![u64::from(n)],
        Accelerators::Search { max } => {
            // Doubling up to max, then bisection steps below it.
            let mut v = Vec::new();
            let mut n = 1u64;
            while n < u64::from(max) {
                v.push(n);
                n *= 2;
            }
            v.push(u64::from(max));
            let bisect = 32 - max.leading_zeros();
            v.extend(std::iter::repeat_n(u64::from(max) * 3 / 4, bisect as usize));
            v
        }
    };
    let mut reads = 0u64;
    let mut secs = 0.0;
    for a in counts {
        let per_epoch =
            samples / u64::from(spec.batch_size) / a.max(1) * a * u64::from(spec.batch_size);
        let by_epochs = spec.epochs.map(|e| u64::from(e) * per_epoch);
        let by_time = duration.map(|d| {
            let batches = (d.as_secs_f64() / spec.compute.as_secs_f64()).ceil() as u64
                + u64::from(spec.prefetch)
                + 1;
            a * batches * u64::from(spec.batch_size)
        });
        reads += match (by_epochs, by_time) {
            (Some(e), Some(t)) => e.min(t),
            (Some(e), None) => e,
            (None, Some(t)) => t,
            (None, None) => 0,
        };
        secs += duration.map_or_else(
            || {
                by_epochs.unwrap_or(0) as f64 / a.max(1) as f64 / f64::from(spec.batch_size)
                    * spec.compute.as_secs_f64()
            },
            |d| d.as_secs_f64(),
        );
    }
    (reads, secs)
}

/// `accelerators = 8` or `accelerators = { max = 64, au = 0.90 }`.
#[derive(Debug)]
pub enum RawAccelerators {
    Fixed(i64),
    Search(RawSearch),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSearch {
    pub max: Spanned<i64>,
    pub au: Option<Spanned<f64>>,
}

impl<'de> Deserialize<'de> for RawAccelerators {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawAccelerators;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of accelerators like 8, or a search { max = 64, au = 0.90 }")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawAccelerators, E> {
                Ok(RawAccelerators::Fixed(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawAccelerators, E> {
                Ok(RawAccelerators::Fixed(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawAccelerators, A::Error> {
                RawSearch::deserialize(MapAccessDeserializer::new(map)).map(RawAccelerators::Search)
            }
        }
        d.deserialize_any(V)
    }
}

/// `sample = "object"` or `sample = "150KiB"` (a record size).
#[derive(Debug)]
pub enum RawSample {
    Object,
    Record(ByteSize),
}

impl<'de> Deserialize<'de> for RawSample {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawSample;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    r#""object" (one whole object per sample) or a record size like "150KiB""#,
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawSample, E> {
                if v.trim().eq_ignore_ascii_case("object") {
                    return Ok(RawSample::Object);
                }
                ByteSizeVisitor
                    .visit_str(v)
                    .map(RawSample::Record)
                    .map_err(|e: E| E::custom(format!("{e}, or \"object\"")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawSample, E> {
                ByteSizeVisitor.visit_i64(v).map(RawSample::Record)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawSample, E> {
                ByteSizeVisitor.visit_u64(v).map(RawSample::Record)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDataloader {
    pub accelerators: Spanned<RawAccelerators>,
    pub batch_size: Spanned<i64>,
    pub compute: Spanned<HumanDuration>,
    pub prefetch: Option<Spanned<i64>>,
    pub read_concurrency: Option<Spanned<i64>>,
    pub sample: Option<Spanned<RawSample>>,
    pub epochs: Option<Spanned<i64>>,
    pub au: Option<Spanned<f64>>,
}

/// The smallest object of a size distribution.
fn min_size(d: &SizeDist) -> u64 {
    match d {
        SizeDist::Fixed(n) => *n,
        SizeDist::Weighted(items) => items.iter().map(|(s, _)| *s).min().unwrap_or(0),
        SizeDist::Range { min, .. } => *min,
    }
}

fn au_mark(cx: &mut Ctx<'_>, v: &Spanned<f64>, field: &str) -> Option<f64> {
    let a = *v.get_ref();
    if a.is_finite() && a > 0.0 && a <= 1.0 {
        Some(a)
    } else {
        cx.at(
            v,
            field,
            format!(
                "expected an accelerator utilization above 0 and at most 1 (0.90 = 90%), got {a}"
            ),
        );
        None
    }
}

/// Validates a phase with a `[phase.loader]` table. The phase-level load
/// fields (concurrency, rate, stages, ops, mix, warmup) do not apply: the
/// accelerators are the load, and their first batch is the warm-up.
pub(super) fn phase(
    cx: &mut Ctx<'_>,
    base: &str,
    name: String,
    p: &RawPhase,
    l: &Spanned<RawDataloader>,
    dataset: Option<&Dataset>,
) -> Phase {
    let lb = format!("{base}.loader");
    let not_here = p.fields_set(&[
        "concurrency",
        "rate",
        "max_in_flight",
        "stages",
        "ops",
        "mix",
        "warmup",
    ]);
    for (field, span) in not_here {
        let why = if field == "warmup" {
            "each accelerator's first batch is the warm-up (MLPerf excludes the first step)"
        } else {
            "the accelerators are the load: set it in [phase.loader]"
        };
        cx.report(
            Some(span),
            &format!("{base}.{field}"),
            format!("expected no `{field}` in a loader phase: {why}"),
        );
    }
    let duration = p
        .duration
        .as_ref()
        .and_then(|d| cx.positive_duration(d, &format!("{base}.duration")));
    let raw = l.get_ref();
    let epochs = raw
        .epochs
        .as_ref()
        .and_then(|e| cx.int(e, &format!("{lb}.epochs"), 1, 1_000_000))
        .map(|e| e as u32);
    if p.duration.is_none() && raw.epochs.is_none() {
        cx.at(
            &p.name,
            base,
            "expected `duration` or `loader.epochs` (or both), to say when the phase ends",
        );
    }
    let fixed_au = raw
        .au
        .as_ref()
        .and_then(|a| au_mark(cx, a, &format!("{lb}.au")));
    let accelerators = match raw.accelerators.get_ref() {
        RawAccelerators::Fixed(n) => {
            let n = *n;
            if !(1..=MAX_ACCELERATORS).contains(&n) {
                cx.at(
                    &raw.accelerators,
                    &format!("{lb}.accelerators"),
                    format!("expected between 1 and {MAX_ACCELERATORS} accelerators, got {n}"),
                );
            }
            (
                Accelerators::Fixed(n.clamp(1, MAX_ACCELERATORS) as u32),
                None,
            )
        }
        RawAccelerators::Search(s) => {
            let max = cx
                .int(
                    &s.max,
                    &format!("{lb}.accelerators.max"),
                    1,
                    MAX_ACCELERATORS,
                )
                .unwrap_or(1) as u32;
            let au =
                s.au.as_ref()
                    .and_then(|a| au_mark(cx, a, &format!("{lb}.accelerators.au")));
            if let (Some(a), Some(_)) = (&raw.au, &s.au) {
                cx.at(
                    a,
                    &format!("{lb}.au"),
                    "expected the pass mark once: `au` inside `accelerators = { max, au }` or next to it, not both",
                );
            }
            (Accelerators::Search { max }, au)
        }
    };
    let (accelerators, search_au) = accelerators;
    let batch_size = cx
        .int(&raw.batch_size, &format!("{lb}.batch_size"), 1, MAX_BATCH)
        .unwrap_or(1) as u32;
    let compute = cx
        .positive_duration(&raw.compute, &format!("{lb}.compute"))
        .unwrap_or(Duration::from_millis(1));
    let prefetch = raw
        .prefetch
        .as_ref()
        .and_then(|v| cx.int(v, &format!("{lb}.prefetch"), 1, MAX_PER_ACCELERATOR))
        .map_or(DEFAULT_PREFETCH, |v| v as u32);
    let read_concurrency = raw
        .read_concurrency
        .as_ref()
        .and_then(|v| cx.int(v, &format!("{lb}.read_concurrency"), 1, MAX_PER_ACCELERATOR))
        .map_or(DEFAULT_READ_CONCURRENCY, |v| v as u32);
    let sample = match raw.sample.as_ref().map(|s| (s, s.get_ref())) {
        None | Some((_, RawSample::Object)) => SampleUnit::Object,
        Some((s, RawSample::Record(size))) => {
            if size.0 == 0 {
                cx.at(
                    s,
                    &format!("{lb}.sample"),
                    "expected a record size above 0 bytes, or \"object\"",
                );
            }
            SampleUnit::Record {
                size: size.0.max(1),
            }
        }
    };
    let spec = DataloaderSpec {
        accelerators,
        batch_size,
        compute,
        prefetch,
        read_concurrency,
        sample,
        epochs,
        au: fixed_au.or(search_au).unwrap_or(DEFAULT_AU),
    };
    check_dataset(cx, &lb, l, &spec, dataset);
    Phase {
        name,
        stop: Stop {
            duration,
            ops: None,
        },
        warmup: Duration::ZERO,
        stages: Vec::new(),
        mix: Vec::new(),
        loader: Some(spec),
        checkpoint: None,
        replay: None,
    }
}

/// A loader reads the data set, so there must be one, holding at least one
/// batch per accelerator in each epoch.
fn check_dataset(
    cx: &mut Ctx<'_>,
    lb: &str,
    l: &Spanned<RawDataloader>,
    spec: &DataloaderSpec,
    dataset: Option<&Dataset>,
) {
    let Some(d) = dataset else {
        cx.at(
            l,
            lb,
            "expected a [dataset] for the loader to read (its objects, or records inside them)",
        );
        return;
    };
    let raw = l.get_ref();
    if let (SampleUnit::Record { size }, Some(s)) = (spec.sample, &raw.sample) {
        let smallest = min_size(&d.size);
        if size > smallest {
            cx.at(
                s,
                &format!("{lb}.sample"),
                format!(
                    "expected a record size at most the smallest object of the data set ({}), got {}",
                    ByteSize(smallest),
                    ByteSize(size)
                ),
            );
            return;
        }
    }
    // A lower bound of the samples (the smallest objects' record count).
    let samples = d
        .objects
        .saturating_mul(records_in(spec.sample, min_size(&d.size)));
    let need = u64::from(spec.batch_size) * u64::from(spec.max_accelerators());
    if samples < need {
        cx.at(
            &raw.batch_size,
            &format!("{lb}.batch_size"),
            format!(
                "expected a data set of at least batch_size x accelerators = {need} samples \
                 (one batch per accelerator per epoch), got {samples}"
            ),
        );
    }
}
