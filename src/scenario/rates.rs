//! The request-rate models of `[targets.NAME.embedded]`: `prefix_limit`
//! (General Purpose: per key range, ranges split under load) and
//! `bucket_limit` (directory buckets: one rate per bucket). Each belongs to
//! one bucket kind; the other kind gets an error saying what to write.

use std::time::Duration;

use super::plan::{BucketLimit, PrefixLimit, TargetKind};
use super::raw::{RawEmbedded, RawLimit, RawSplitAfter};
use super::validate::Ctx;
use crate::units::format_duration;

/// Longest `split_after` a scenario may set (S3 itself takes minutes).
const MAX_SPLIT_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Most ranges a scenario may let a bucket split into.
const MAX_PARTITIONS: i64 = 100_000;
/// Highest rate a scenario may set (S3 Express's raised read limit).
const MAX_RATE: i64 = 2_000_000;

/// The target's rate models, checked against its kind.
pub(super) fn limits(
    cx: &mut Ctx<'_>,
    base: &str,
    kind: TargetKind,
    e: &RawEmbedded,
) -> (Option<PrefixLimit>, Option<BucketLimit>) {
    let rate = |cx: &mut Ctx<'_>, v: &Option<toml::Spanned<i64>>, field: String, default: u32| {
        v.as_ref()
            .and_then(|r| cx.int(r, &field, 1, MAX_RATE))
            .map_or(default, |r| r as u32)
    };
    let prefix_limit = e.prefix_limit.as_ref().and_then(|p| {
        let field = format!("{base}.prefix_limit");
        if kind == TargetKind::Directory && !matches!(p.get_ref(), RawLimit::Enabled(false)) {
            cx.at(
                p,
                &field,
                "a directory bucket has no per-prefix limit: S3 Express One Zone scales per bucket \
                 (200000 reads/s and 100000 writes/s by default) and performs from the start; \
                 write bucket_limit = true, or bucket_limit = { reads = .., writes = .. } to scale it down",
            );
            return None;
        }
        match p.get_ref() {
            RawLimit::Enabled(false) => None,
            RawLimit::Enabled(true) => Some(PrefixLimit::S3_DEFAULT),
            RawLimit::Table(t) => {
                let mut limit = PrefixLimit::rates(
                    rate(cx, &t.reads, format!("{field}.reads"), PrefixLimit::S3_DEFAULT.reads_per_sec),
                    rate(cx, &t.writes, format!("{field}.writes"), PrefixLimit::S3_DEFAULT.writes_per_sec),
                );
                if let Some(s) = &t.split_after {
                    limit.split_after = match s.get_ref() {
                        RawSplitAfter::Never => None,
                        RawSplitAfter::After(d) if d.0.is_zero() || d.0 > MAX_SPLIT_AFTER => {
                            cx.at(
                                s,
                                &format!("{field}.split_after"),
                                format!(
                                    "expected a duration above 0 and at most 24h (S3 takes minutes; a few seconds suit a laptop run), or \"never\"; got {}",
                                    format_duration(d.0)
                                ),
                            );
                            None
                        }
                        RawSplitAfter::After(d) => Some(d.0),
                    };
                }
                if let Some(n) = &t.max_partitions
                    && let Some(n) = cx.int(n, &format!("{field}.max_partitions"), 1, MAX_PARTITIONS)
                {
                    limit.max_partitions = n as u32;
                }
                Some(limit)
            }
        }
    });
    let bucket_limit = e.bucket_limit.as_ref().and_then(|b| {
        let field = format!("{base}.bucket_limit");
        if kind == TargetKind::GeneralPurpose && !matches!(b.get_ref(), RawLimit::Enabled(false)) {
            cx.at(
                b,
                &field,
                "a General Purpose bucket's request rates apply per partitioned prefix (a range of keys), \
                 not per bucket: write prefix_limit = true, or prefix_limit = { reads = .., writes = .. } \
                 to scale it down",
            );
            return None;
        }
        match b.get_ref() {
            RawLimit::Enabled(false) => None,
            RawLimit::Enabled(true) => Some(BucketLimit::S3_EXPRESS_DEFAULT),
            RawLimit::Table(t) => Some(BucketLimit {
                reads_per_sec: rate(
                    cx,
                    &t.reads,
                    format!("{field}.reads"),
                    BucketLimit::S3_EXPRESS_DEFAULT.reads_per_sec,
                ),
                writes_per_sec: rate(
                    cx,
                    &t.writes,
                    format!("{field}.writes"),
                    BucketLimit::S3_EXPRESS_DEFAULT.writes_per_sec,
                ),
            }),
        }
    });
    (prefix_limit, bucket_limit)
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
