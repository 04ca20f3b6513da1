//! The request-rate models of `[targets.NAME.embedded]`: `prefix_limit`
//! (General Purpose: per key range, ranges split under load) and
//! `bucket_limit` (directory buckets: one rate per bucket). Each belongs to
//! one bucket kind; the other kind gets an error saying what to write.

use std::ops::Range;

use toml::Spanned;

use super::plan::TargetKind;
use super::raw::{RawEmbedded, RawLimit, RawSplitAfter};
use super::validate::Ctx;
use crate::s3::inject::{Setting, Settings};

/// The rate-model settings of a target's embedded table (its other settings
/// left at their defaults), after checking each model belongs to the
/// target's bucket kind; their ranges are the injection's rules
/// (`Injection::from_settings`).
pub(super) fn settings(
    cx: &mut Ctx<'_>,
    base: &str,
    kind: TargetKind,
    e: &RawEmbedded,
) -> Settings {
    let int = |v: &Option<Spanned<i64>>| v.as_ref().map(|v| *v.get_ref());
    let mut s = Settings::default();
    if let Some(p) = &e.prefix_limit {
        if kind == TargetKind::Directory && !matches!(p.get_ref(), RawLimit::Enabled(false)) {
            cx.at(
                p,
                &format!("{base}.prefix_limit"),
                "a directory bucket has no per-prefix limit: S3 Express One Zone scales per bucket \
                 (200000 reads/s and 100000 writes/s by default) and performs from the start; \
                 write bucket_limit = true, or bucket_limit = { reads = .., writes = .. } to scale it down",
            );
        } else {
            match p.get_ref() {
                RawLimit::Enabled(false) => {}
                RawLimit::Enabled(true) => s.prefix_limit = Some((None, None)),
                RawLimit::Table(t) => {
                    s.prefix_limit = Some((int(&t.reads), int(&t.writes)));
                    s.split_after = t.split_after.as_ref().map(|a| match a.get_ref() {
                        RawSplitAfter::Never => None,
                        RawSplitAfter::After(d) => Some(d.0),
                    });
                    s.max_partitions = int(&t.max_partitions);
                }
            }
        }
    }
    if let Some(b) = &e.bucket_limit {
        if kind == TargetKind::GeneralPurpose && !matches!(b.get_ref(), RawLimit::Enabled(false)) {
            cx.at(
                b,
                &format!("{base}.bucket_limit"),
                "a General Purpose bucket's request rates apply per partitioned prefix (a range of keys), \
                 not per bucket: write prefix_limit = true, or prefix_limit = { reads = .., writes = .. } \
                 to scale it down",
            );
        } else {
            match b.get_ref() {
                RawLimit::Enabled(false) => {}
                RawLimit::Enabled(true) => s.bucket_limit = Some((None, None)),
                RawLimit::Table(t) => s.bucket_limit = Some((int(&t.reads), int(&t.writes))),
            }
        }
    }
    s
}

/// Where a rate-model setting was written in the embedded table.
pub(super) fn span(e: &RawEmbedded, setting: Setting) -> Option<Range<usize>> {
    let prefix = match e.prefix_limit.as_ref().map(Spanned::get_ref) {
        Some(RawLimit::Table(t)) => Some(t),
        _ => None,
    };
    let bucket = match e.bucket_limit.as_ref().map(Spanned::get_ref) {
        Some(RawLimit::Table(t)) => Some(t),
        _ => None,
    };
    let int = |v: Option<&Spanned<i64>>| v.map(Spanned::span);
    match setting {
        Setting::PrefixReads => int(prefix.and_then(|t| t.reads.as_ref())),
        Setting::PrefixWrites => int(prefix.and_then(|t| t.writes.as_ref())),
        Setting::MaxPartitions => int(prefix.and_then(|t| t.max_partitions.as_ref())),
        Setting::SplitAfter => prefix.and_then(|t| t.split_after.as_ref().map(Spanned::span)),
        Setting::BucketReads => int(bucket.and_then(|t| t.reads.as_ref())),
        Setting::BucketWrites => int(bucket.and_then(|t| t.writes.as_ref())),
        _ => None,
    }
    .or_else(|| match setting {
        Setting::BucketReads | Setting::BucketWrites => e.bucket_limit.as_ref().map(Spanned::span),
        _ => e.prefix_limit.as_ref().map(Spanned::span),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::scenario::plan::{BucketLimit, OpSpec, PrefixLimit};
    use crate::scenario::tests::{BASE, ok, one};

    /// BASE with `gp` under the General Purpose target's embedded table and
    /// `dir` under the directory target's (line 7 and line 12 then).
    fn with(gp: &str, dir: &str) -> String {
        BASE.replace(
            "region = \"us-east-1\"\n\n[targets.express]",
            &format!(
                "region = \"us-east-1\"\n[targets.standard.embedded]\n{gp}\n\n[targets.express]"
            ),
        )
        .replace(
            "region = \"us-east-1\"\n\n[dataset]",
            &format!("region = \"us-east-1\"\n[targets.express.embedded]\n{dir}\n\n[dataset]"),
        )
    }

    #[test]
    fn prefix_limit_takes_rates_and_how_ranges_split() {
        let p = ok(&with(
            "prefix_limit = { reads = 300, writes = 100, split_after = \"2s\", max_partitions = 8 }",
            "bucket_limit = true",
        ));
        let gp = p.targets[0].embedded.as_ref().unwrap();
        assert_eq!(
            gp.prefix_limit,
            Some(PrefixLimit {
                split_after: Some(Duration::from_secs(2)),
                max_partitions: 8,
                ..PrefixLimit::rates(300, 100)
            })
        );
        let ex = p.targets[1].embedded.as_ref().unwrap();
        assert_eq!(ex.bucket_limit, Some(BucketLimit::S3_EXPRESS_DEFAULT));
        // Old files keep working: rates alone get the default splitting.
        let p = ok(&with(
            "prefix_limit = { reads = 400, writes = 200 }",
            "latency = \"1ms\"",
        ));
        let gp = p.targets[0]
            .embedded
            .as_ref()
            .unwrap()
            .prefix_limit
            .clone()
            .unwrap();
        assert_eq!(gp.split_after, Some(PrefixLimit::DEFAULT_SPLIT_AFTER));
        let p = ok(&with(
            "prefix_limit = { split_after = \"never\" }",
            "bucket_limit = { reads = 50 }",
        ));
        let gp = p.targets[0]
            .embedded
            .as_ref()
            .unwrap()
            .prefix_limit
            .clone()
            .unwrap();
        assert_eq!((gp.reads_per_sec, gp.split_after), (5500, None));
        let ex = p.targets[1]
            .embedded
            .as_ref()
            .unwrap()
            .bucket_limit
            .unwrap();
        assert_eq!((ex.reads_per_sec, ex.writes_per_sec), (50, 100_000));
    }

    #[test]
    fn each_limit_belongs_to_one_bucket_kind() {
        let p = one(
            &with("latency = \"1ms\"", "prefix_limit = true"),
            15,
            16,
            "targets.express.embedded.prefix_limit",
        );
        assert!(
            p.message.contains("no per-prefix limit") && p.message.contains("bucket_limit"),
            "{p}"
        );
        let p = one(
            &with("bucket_limit = { reads = 5 }", "latency = \"1ms\""),
            8,
            16,
            "targets.standard.embedded.bucket_limit",
        );
        assert!(p.message.contains("write prefix_limit"), "{p}");
        // Switched off, either is fine anywhere.
        ok(&with("bucket_limit = false", "prefix_limit = false"));
    }

    #[test]
    fn bad_splitting_is_explained() {
        let p = one(
            &with(
                "prefix_limit = { split_after = \"0s\" }",
                "latency = \"1ms\"",
            ),
            8,
            32,
            "targets.standard.embedded.prefix_limit.split_after",
        );
        assert!(p.message.contains("or \"never\""), "{p}");
        let p = one(
            &with(
                "prefix_limit = { split_after = \"soon\" }",
                "latency = \"1ms\"",
            ),
            8,
            32,
            "targets.standard.embedded.prefix_limit.split_after",
        );
        assert!(p.message.contains("\"never\""), "{p}");
        let p = one(
            &with("prefix_limit = { max_partitions = 0 }", "latency = \"1ms\""),
            8,
            35,
            "targets.standard.embedded.prefix_limit.max_partitions",
        );
        assert!(p.message.contains("at least 1"), "{p}");
        let p = one(
            &with(
                "prefix_limit = { split_points = [\"a\"] }",
                "latency = \"1ms\"",
            ),
            8,
            18,
            "targets.standard.embedded.prefix_limit.split_points",
        );
        assert!(p.message.contains("unknown field"), "{p}");
    }

    #[test]
    fn a_data_set_that_grows_in_time_order() {
        let mix = |m: &str| BASE.replace("mix = [{ op = \"get\" }]", m);
        let p = ok(&mix(
            "mix = [{ op = \"put\", key = \"dataset\" }, { op = \"get\", newest = 16 }, { op = \"put\", key = \"scratch\" }]",
        ));
        let ops: Vec<&OpSpec> = p.phases[0].mix.iter().map(|w| &w.op).collect();
        assert_eq!(
            ops,
            [
                &OpSpec::PutNext,
                &OpSpec::GetNewest { window: 16 },
                &OpSpec::Put { size: None }
            ]
        );
        let p = one(
            &mix("mix = [{ op = \"put\", key = \"dataset\", size = \"1KiB\" }]"),
            21,
            46,
            "phase[0].mix[0].size",
        );
        assert!(p.message.contains("the data set's sizes"), "{p}");
        let p = one(
            &mix("mix = [{ op = \"head\", newest = 4 }]"),
            21,
            32,
            "phase[0].mix[0].newest",
        );
        assert!(p.message.contains("does not apply"), "{p}");
        let p = one(
            &mix("mix = [{ op = \"get\", newest = 0 }]"),
            21,
            31,
            "phase[0].mix[0].newest",
        );
        assert!(p.message.contains("at least 1"), "{p}");
        let p = one(
            &mix("mix = [{ op = \"put\", key = \"new\" }]"),
            21,
            28,
            "phase[0].mix[0].key",
        );
        assert!(
            p.message.contains("scratch") && p.message.contains("dataset"),
            "{p}"
        );
    }
}
