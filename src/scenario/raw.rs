//! The scenario file as written: serde structs that mirror the TOML one to
//! one. Everything is optional or loosely typed here on purpose: the type
//! checks serde can do well (unknown keys, a string where a number belongs)
//! happen here with toml's positions, and everything that needs a second look
//! (ranges, cross-field rules) happens in `validate`, which keeps the spans.
//!
//! Integers that have limits are read as `i64` so that validation, not serde,
//! reports "expected at least 1, got 0" with the field's position.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

use crate::s3::OpKind;
use crate::units::{ByteSize, ByteSizeVisitor, HumanDuration, parse_duration};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: Option<Spanned<String>>,
    pub description: Option<String>,
    pub seed: Option<Spanned<i64>>,
    pub rounds: Option<Spanned<i64>>,
    pub cleanup: Option<bool>,
    #[serde(default)]
    pub targets: Ordered<RawTarget>,
    pub dataset: Option<RawDataset>,
    pub prepare: Option<RawPrepare>,
    pub client: Option<RawClient>,
    pub pricing: Option<RawPricing>,
    #[serde(default)]
    pub phase: Vec<RawPhase>,
    /// `[[check]]`: pass/fail checks judged on the result.
    #[serde(default)]
    pub check: Vec<RawCheck>,
}

/// One `[[check]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    /// The check, like `express/get/p99 < 10ms`.
    pub expr: Spanned<String>,
    /// A name for the report and JUnit XML.
    pub name: Option<Spanned<String>>,
}

/// `[pricing]`: prices beside the S3 price list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPricing {
    /// USD per accelerator-hour.
    pub gpu_hour: Option<Spanned<f64>>,
}

/// A TOML table whose keys are names chosen by the user, kept in file order
/// (toml's deserializer hands keys over in document order).
#[derive(Debug)]
pub struct Ordered<T>(pub Vec<(String, T)>);

impl<T> Default for Ordered<T> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of named entries")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, T>()? {
                    items.push((k, v));
                }
                Ok(Ordered(items))
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawKind {
    GeneralPurpose,
    Directory,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub kind: Spanned<RawKind>,
    pub bucket: Spanned<String>,
    pub region: Spanned<String>,
    pub endpoint: Option<Spanned<String>>,
    pub profile: Option<Spanned<String>>,
    pub path_style: Option<bool>,
    pub resolve: Option<Spanned<String>>,
    pub ca_file: Option<Spanned<String>>,
    pub embedded: Option<RawEmbedded>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmbedded {
    pub latency: Option<Spanned<RawLatency>>,
    pub error_latency: Option<Spanned<RawLatency>>,
    pub bandwidth: Option<Spanned<ByteSize>>,
    pub upload_bandwidth: Option<Spanned<ByteSize>>,
    pub error_rate: Option<Spanned<f64>>,
    pub error_status: Option<Spanned<i64>>,
    pub error_code: Option<Spanned<String>>,
    pub prefix_limit: Option<Spanned<RawPrefixLimit>>,
    pub bucket_limit: Option<Spanned<RawBucketLimit>>,
    pub body_reset_rate: Option<Spanned<f64>>,
    pub corrupt_rate: Option<Spanned<f64>>,
    pub session_error_rate: Option<Spanned<f64>>,
    pub max_in_flight: Option<Spanned<i64>>,
    /// Broken-server modes by name (`s3::inject::Broken::MODES`).
    pub broken: Option<Spanned<Vec<String>>>,
}

/// `latency = "8ms"` or `{ p50 = .., p99 = .. }` or `{ min = .., max = .. }`.
#[derive(Debug)]
pub enum RawLatency {
    Fixed(HumanDuration),
    Table(RawLatencyTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLatencyTable {
    pub p50: Option<HumanDuration>,
    pub p99: Option<HumanDuration>,
    pub min: Option<HumanDuration>,
    pub max: Option<HumanDuration>,
}

impl<'de> Deserialize<'de> for RawLatency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawLatency;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a duration like "8ms", a table { p50 = "8ms", p99 = "30ms" } or a table { min = "5ms", max = "9ms" }"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawLatency, E> {
                parse_duration(v)
                    .map(|d| RawLatency::Fixed(HumanDuration(d)))
                    .map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawLatency, A::Error> {
                RawLatencyTable::deserialize(MapAccessDeserializer::new(map)).map(RawLatency::Table)
            }
        }
        d.deserialize_any(V)
    }
}

/// `prefix_limit = true` (S3's documented rates) or a table of rates and
/// how ranges split.
pub type RawPrefixLimit = RawLimit<RawPrefixLimitTable>;

/// `bucket_limit = true` (S3 Express's default rates) or `{ reads = .., writes = .. }`.
pub type RawBucketLimit = RawLimit<RawBucketLimitTable>;

/// A rate limit switched on with `true` (the documented defaults) or given as a table.
#[derive(Debug)]
pub enum RawLimit<T> {
    Enabled(bool),
    Table(T),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrefixLimitTable {
    pub reads: Option<Spanned<i64>>,
    pub writes: Option<Spanned<i64>>,
    pub split_after: Option<Spanned<RawSplitAfter>>,
    pub max_partitions: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBucketLimitTable {
    pub reads: Option<Spanned<i64>>,
    pub writes: Option<Spanned<i64>>,
}

/// `split_after = "5s"` or `"never"`.
#[derive(Debug)]
pub enum RawSplitAfter {
    After(HumanDuration),
    Never,
}

impl<'de> Deserialize<'de> for RawSplitAfter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawSplitAfter;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a duration like "5s", or "never""#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawSplitAfter, E> {
                if v.trim().eq_ignore_ascii_case("never") {
                    return Ok(RawSplitAfter::Never);
                }
                parse_duration(v)
                    .map(|d| RawSplitAfter::After(HumanDuration(d)))
                    .map_err(|e| E::custom(format!("{e}, or \"never\"")))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for RawLimit<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = RawLimit<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false, or a table like { reads = 5500, writes = 3500 }")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawLimit<T>, E> {
                Ok(RawLimit::Enabled(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawLimit<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(RawLimit::Table)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A size distribution: `"64MiB"` / `4096`, `{ min, max }`, or
/// `[{ size, weight }, ...]`.
#[derive(Debug)]
pub enum RawSize {
    Fixed(ByteSize),
    Range(RawSizeRange),
    Weighted(Vec<Spanned<RawWeightedSize>>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSizeRange {
    pub min: ByteSize,
    pub max: ByteSize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeightedSize {
    pub size: Spanned<ByteSize>,
    pub weight: Option<Spanned<i64>>,
}

impl<'de> Deserialize<'de> for RawSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a size like "4KiB" or "64MiB", a table { min = "4KiB", max = "256KiB" }, or an array of { size = "4KiB", weight = 3 }"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawSize, E> {
                ByteSizeVisitor.visit_str(v).map(RawSize::Fixed)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawSize, E> {
                ByteSizeVisitor.visit_i64(v).map(RawSize::Fixed)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawSize, E> {
                ByteSizeVisitor.visit_u64(v).map(RawSize::Fixed)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawSize, E> {
                ByteSizeVisitor.visit_f64(v).map(RawSize::Fixed)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawSize, A::Error> {
                RawSizeRange::deserialize(MapAccessDeserializer::new(map)).map(RawSize::Range)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<RawSize, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(RawSize::Weighted)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDataset {
    pub objects: Spanned<i64>,
    pub size: Spanned<RawSize>,
    pub key: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrepare {
    pub enabled: Option<bool>,
    pub concurrency: Option<Spanned<i64>>,
    pub multipart_threshold: Option<Spanned<ByteSize>>,
    pub part_size: Option<Spanned<ByteSize>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawChecksums {
    WhenRequired,
    WhenSupported,
}

/// `checksum = "crc32c"`: the upload checksum algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawChecksum {
    None,
    Crc32,
    Crc32c,
    Crc64nvme,
    Sha256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawRequestPath {
    Direct,
    Sdk,
}

/// `operation_timeout = "120s"` or `"none"`.
#[derive(Debug)]
pub enum RawTimeout {
    Limit(HumanDuration),
    None,
}

impl<'de> Deserialize<'de> for RawTimeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawTimeout;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a duration like "120s", or "none""#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawTimeout, E> {
                if v.trim().eq_ignore_ascii_case("none") {
                    return Ok(RawTimeout::None);
                }
                parse_duration(v)
                    .map(|d| RawTimeout::Limit(HumanDuration(d)))
                    .map_err(|e| E::custom(format!("{e}, or \"none\"")))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    pub max_attempts: Option<Spanned<i64>>,
    pub checksums: Option<Spanned<RawChecksums>>,
    pub checksum: Option<Spanned<RawChecksum>>,
    pub stalled_stream_protection: Option<bool>,
    pub connect_timeout: Option<Spanned<HumanDuration>>,
    pub operation_timeout: Option<Spanned<RawTimeout>>,
    pub request_path: Option<RawRequestPath>,
    pub stop_on_failures: Option<Spanned<RawStopOnFailures>>,
}

/// `stop_on_failures = "never"` or `{ share = 1.0, for = "10s" }`.
#[derive(Debug)]
pub enum RawStopOnFailures {
    Never,
    When { share: f64, window: HumanDuration },
}

impl<'de> Deserialize<'de> for RawStopOnFailures {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct When {
            share: f64,
            #[serde(rename = "for")]
            window: HumanDuration,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawStopOnFailures;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#""never", or a table like { share = 1.0, for = "10s" }"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawStopOnFailures, E> {
                if v.trim().eq_ignore_ascii_case("never") {
                    Ok(RawStopOnFailures::Never)
                } else {
                    Err(E::custom(format!(
                        r#"expected "never", or a table like {{ share = 1.0, for = "10s" }}, got {v:?}"#
                    )))
                }
            }
            fn visit_map<M: MapAccess<'de>>(self, m: M) -> Result<RawStopOnFailures, M::Error> {
                let w = When::deserialize(MapAccessDeserializer::new(m))?;
                Ok(RawStopOnFailures::When {
                    share: w.share,
                    window: w.window,
                })
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPhase {
    pub name: Spanned<String>,
    pub duration: Option<Spanned<HumanDuration>>,
    pub ops: Option<Spanned<i64>>,
    pub warmup: Option<Spanned<HumanDuration>>,
    pub concurrency: Option<Spanned<i64>>,
    pub rate: Option<Spanned<f64>>,
    pub max_in_flight: Option<Spanned<i64>>,
    pub stages: Option<Spanned<Vec<RawStage>>>,
    /// Required unless the phase is a loader (`[phase.loader]`).
    pub mix: Option<Spanned<Vec<RawOp>>>,
    pub loader: Option<Spanned<super::dataloader::RawDataloader>>,
    pub checkpoint: Option<Spanned<super::checkpoint::RawCheckpoint>>,
    pub replay: Option<Spanned<super::replay::RawReplay>>,
}

impl RawPhase {
    /// The fields among `fields` this phase sets, with their spans, in the
    /// order given: what a phase of another kind (dataloader, checkpoint,
    /// replay) refuses, one field at a time.
    pub fn fields_set(
        &self,
        fields: &[&'static str],
    ) -> Vec<(&'static str, std::ops::Range<usize>)> {
        fields
            .iter()
            .filter_map(|&f| {
                let span = match f {
                    "ops" => self.ops.as_ref().map(Spanned::span),
                    "warmup" => self.warmup.as_ref().map(Spanned::span),
                    "concurrency" => self.concurrency.as_ref().map(Spanned::span),
                    "rate" => self.rate.as_ref().map(Spanned::span),
                    "max_in_flight" => self.max_in_flight.as_ref().map(Spanned::span),
                    "stages" => self.stages.as_ref().map(Spanned::span),
                    "mix" => self.mix.as_ref().map(Spanned::span),
                    "loader" => self.loader.as_ref().map(Spanned::span),
                    "checkpoint" => self.checkpoint.as_ref().map(Spanned::span),
                    "replay" => self.replay.as_ref().map(Spanned::span),
                    other => unreachable!("RawPhase has no field {other}"),
                };
                span.map(|span| (f, span))
            })
            .collect()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub rate: Option<Spanned<f64>>,
    pub concurrency: Option<Spanned<i64>>,
    pub max_in_flight: Option<Spanned<i64>>,
    pub duration: Spanned<HumanDuration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawConditionalMode {
    CreateOnly,
    CompareAndSwap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawGpEquivalent {
    Rewrite,
    CopyDelete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawPattern {
    Random,
    Sequential,
}

/// One entry of a phase's `mix`. Flat on purpose: an internally tagged enum
/// would lose toml's positions, and "this field does not apply to op X" is a
/// clearer message than serde's guess about which variant was meant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOp {
    pub op: Spanned<OpKind>,
    pub weight: Option<Spanned<i64>>,
    pub range_size: Option<Spanned<ByteSize>>,
    pub pattern: Option<Spanned<RawPattern>>,
    pub size: Option<Spanned<RawSize>>,
    pub part_size: Option<Spanned<ByteSize>>,
    pub prefix: Option<Spanned<String>>,
    pub page_size: Option<Spanned<i64>>,
    pub delimiter: Option<Spanned<bool>>,
    pub appends: Option<Spanned<i64>>,
    pub object_size: Option<Spanned<ByteSize>>,
    pub gp_equivalent: Option<Spanned<RawGpEquivalent>>,
    pub mode: Option<Spanned<RawConditionalMode>>,
    pub contention: Option<Spanned<i64>>,
    pub key: Option<Spanned<RawPutKey>>,
    pub newest: Option<Spanned<i64>>,
}

/// Where a `put` writes: `"scratch"` (a new key under `put/`) or
/// `"dataset"` (the data set's next object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawPutKey {
    Scratch,
    Dataset,
}
