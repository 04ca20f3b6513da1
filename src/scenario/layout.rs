//! What a data set's key template means for a General Purpose bucket,
//! whose request rates apply per partition (a range of keys in
//! lexicographic order): how the keys spread over their leading
//! characters, the prefix the report counts throttled requests under, and
//! `s3bench plan`'s advice when the layout puts a date or a sequence first.
//! Pure functions of the plan: no network.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::plan::{DatePart, KeyPart, KeyTemplate, Load, OpSpec, Plan, PrefixLimit, TargetKind};
use crate::s3::limits::{PREFIX_READS_PER_SEC, PREFIX_WRITES_PER_SEC};

/// Keys of the data set `plan` renders to measure the spread (more would
/// only slow `plan` down, not change the shares).
const SPREAD_SAMPLE: u64 = 200_000;

/// Partitions the advice's "once partitioned" figure assumes (AWS,
/// re:Invent 2025 STG335: 10 prefixes give ~35K PUT / 55K GET per second).
const EXAMPLE_PARTITIONS: u32 = 10;

/// The template's text for one part, as a user would write it.
fn part_source(p: &KeyPart) -> String {
    match p {
        KeyPart::Literal(s) => s.replace('{', "{{").replace('}', "}}"),
        KeyPart::Index { width: 0 } => "{index}".into(),
        KeyPart::Index { width } => format!("{{index:{width:02}}}"),
        KeyPart::Hash { width } => format!("{{hash:{width}}}"),
        KeyPart::Date(DatePart::Full) => "{date}".into(),
        KeyPart::Date(DatePart::Year) => "{yyyy}".into(),
        KeyPart::Date(DatePart::Month) => "{mm}".into(),
        KeyPart::Date(DatePart::Day) => "{dd}".into(),
    }
}

/// What the first placeholder of a key template is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leading {
    /// `{hash:N}`: high cardinality, spread evenly.
    Hash { width: usize },
    /// `{index}`: a sequence number.
    Sequence,
    /// `{date}`, `{yyyy}`, `{mm}`, `{dd}`: the same for a whole day.
    Date,
}

impl KeyTemplate {
    /// Bytes every key of one run shares at its start (literals and the
    /// run's date), and the part after them, the first that varies between
    /// objects.
    pub fn constant_lead(&self) -> (usize, Option<&KeyPart>) {
        let mut len = 0;
        for p in &self.parts {
            len += match p {
                KeyPart::Literal(s) => s.len(),
                KeyPart::Date(DatePart::Full) => 10,
                KeyPart::Date(DatePart::Year) => 4,
                KeyPart::Date(DatePart::Month | DatePart::Day) => 2,
                KeyPart::Index { .. } | KeyPart::Hash { .. } => return (len, Some(p)),
            };
        }
        (len, None)
    }

    /// The first placeholder, which decides how the keys spread.
    pub fn leading(&self) -> Option<Leading> {
        self.parts.iter().find_map(|p| match p {
            KeyPart::Literal(_) => None,
            KeyPart::Hash { width } => Some(Leading::Hash { width: *width }),
            KeyPart::Index { .. } => Some(Leading::Sequence),
            KeyPart::Date(_) => Some(Leading::Date),
        })
    }
}

impl Plan {
    /// The prefix a throttled request for `rel_key` (a key below the run
    /// prefix) is counted under in the report. A key of the data set
    /// (`data`): its characters up to and including the first character of
    /// the template's first varying part (`{hash:4}/...` -> one of 16 hex
    /// digits; `{date}/{index:06}` -> the date and the index's first
    /// digit). Any other key s3bench writes (`put/...`, `copy/...`): its
    /// first path segment. Either way only a handful of prefixes exist.
    pub fn throttle_prefix<'k>(&self, rel_key: &'k str, data: bool) -> &'k str {
        if !data {
            return rel_key.find('/').map_or(rel_key, |i| &rel_key[..=i]);
        }
        let (lead, varying) = self.dataset.key.constant_lead();
        let mut end = (lead + usize::from(varying.is_some())).min(rel_key.len());
        while !rel_key.is_char_boundary(end) {
            end -= 1;
        }
        &rel_key[..end]
    }

    /// The report's words for [`Plan::throttle_prefix`]'s granularity.
    pub fn throttle_granularity(&self) -> String {
        let t = &self.dataset.key;
        let lead: String = t
            .parts
            .iter()
            .take_while(|p| matches!(p, KeyPart::Literal(_) | KeyPart::Date(_)))
            .map(part_source)
            .collect();
        let (_, varying) = t.constant_lead();
        let first = match varying {
            Some(KeyPart::Hash { width }) => format!("the first hex digit of `{{hash:{width}}}`"),
            Some(p) => format!("the first digit of `{}`", part_source(p)),
            None => "nothing more".into(),
        };
        let head = if lead.is_empty() {
            format!("data set keys (`{}`) by {first}", t.source)
        } else {
            format!("data set keys (`{}`) by `{lead}` and {first}", t.source)
        };
        format!(
            "{head}, below the run prefix; other keys s3bench writes (`put/`, `copy/`, ...) by their first path segment"
        )
    }
}

/// `s3bench plan`'s reading of the key layout.
#[derive(Debug, Clone, PartialEq)]
pub struct LayoutAdvice {
    /// How the keys spread, what the layout can take, what the phases offer.
    pub lines: Vec<String>,
    /// Set when the layout puts a date or a sequence first: the warning,
    /// its consequence and the advice, in one paragraph.
    pub warning: Option<String>,
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Reads and writes per second an op sends: (reads, writes).
fn op_rates(op: &OpSpec) -> (f64, f64) {
    match op {
        OpSpec::Get
        | OpSpec::GetNewest { .. }
        | OpSpec::RangedGet { .. }
        | OpSpec::Head
        | OpSpec::List { .. } => (1.0, 0.0),
        // A rename commit PUTs its checkpoint, then renames (or copies and deletes) it.
        OpSpec::Rename { gp, .. } => (0.0, if gp.is_some() { 3.0 } else { 2.0 }),
        _ => (0.0, 1.0),
    }
}

/// The key-layout advice for `plan`.
pub fn advice(plan: &Plan) -> LayoutAdvice {
    let t = &plan.dataset.key;
    let mut lines = Vec::new();
    // Spread: the data set's keys counted at the report's granularity.
    let n = plan.dataset.objects.min(SPREAD_SAMPLE);
    if n > 0 {
        let mut groups: HashMap<String, u64> = HashMap::new();
        let mut key = String::new();
        for i in 0..n {
            key.clear();
            plan.key(i, (2025, 6, 7), &mut key);
            *groups
                .entry(plan.throttle_prefix(&key, true).to_string())
                .or_default() += 1;
        }
        let largest = groups.values().copied().max().unwrap_or(0);
        let sampled = if n < plan.dataset.objects {
            format!(" (the first {} objects)", thousands(n))
        } else {
            String::new()
        };
        let cut = match t.constant_lead() {
            (0, _) => "their first character".to_string(),
            (lead, _) => format!("their first {} characters", lead + 1),
        };
        let spread = match groups.len() {
            1 => format!("all share one prefix at {cut}, the first that varies"),
            g => format!("spread over {g} prefixes at {cut}, the first that varies"),
        };
        lines.push(format!(
            "Keys `{}`: the data set's {} objects{sampled} {spread}; the largest holds {:.0}% of them.",
            t.source,
            thousands(plan.dataset.objects),
            100.0 * largest as f64 / n as f64
        ));
    }
    let time_ordered = plan.phases.iter().any(|p| {
        p.mix
            .iter()
            .any(|w| matches!(w.op, OpSpec::PutNext | OpSpec::GetNewest { .. }))
    });
    let leading = t.leading();
    let bad = matches!(leading, Some(Leading::Date | Leading::Sequence));
    let (reads, writes) = (
        thousands(u64::from(PREFIX_READS_PER_SEC)),
        thousands(u64::from(PREFIX_WRITES_PER_SEC)),
    );
    let fresh = format!(
        "On a fresh General Purpose bucket (or a new hot prefix) the keys are one partition: about {reads} GET/HEAD and {writes} PUT/COPY/POST/DELETE per second, and a faster spike gets 503 SlowDown while S3 splits it (over minutes)."
    );
    match leading {
        Some(Leading::Hash { width }) => {
            let values = 16u64.saturating_pow(width.min(15) as u32);
            lines.push(format!(
                "{fresh} Once S3 has partitioned the bucket, the leading `{{hash:{width}}}` ({} values) spreads the load over as many partitions as S3 makes: {EXAMPLE_PARTITIONS} partitions take about {} reads and {} writes per second.",
                thousands(values),
                thousands(u64::from(PREFIX_READS_PER_SEC * EXAMPLE_PARTITIONS)),
                thousands(u64::from(PREFIX_WRITES_PER_SEC * EXAMPLE_PARTITIONS)),
            ));
        }
        _ => lines.push(format!(
            "{fresh} Once S3 has partitioned the bucket, the newest keys still share one partition: time-ordered writes and reads of the newest data keep getting about {reads} reads and {writes} writes per second; only reads spread over older data gain from the partitions S3 made behind them."
        )),
    }
    // The embedded model, when a General Purpose target has one.
    for target in plan
        .targets
        .iter()
        .filter(|t| t.kind == TargetKind::GeneralPurpose)
    {
        let Some(limit) = target
            .embedded
            .as_ref()
            .and_then(|e| e.prefix_limit.as_ref())
        else {
            continue;
        };
        lines.push(embedded_line(&target.name, limit, bad && time_ordered));
    }
    // What the phases offer, where the rate is known (open loop).
    for p in &plan.phases {
        let weight: f64 = p.mix.iter().map(|w| f64::from(w.weight)).sum();
        let peak = p
            .stages
            .iter()
            .filter_map(|s| match s.load {
                Load::Open { rate, .. } => Some(rate),
                Load::Closed { .. } => None,
            })
            .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
        let (Some(rate), true) = (peak, weight > 0.0) else {
            continue;
        };
        let (r, w) = p.mix.iter().fold((0.0, 0.0), |(r, w), o| {
            let (or, ow) = op_rates(&o.op);
            let share = f64::from(o.weight) / weight;
            (r + rate * share * or, w + rate * share * ow)
        });
        lines.push(format!(
            "Phase `{}` offers up to {:.0} reads/s and {:.0} writes/s per target (open loop){}.",
            p.name,
            r,
            w,
            if time_ordered && p.mix.iter().any(|o| matches!(o.op, OpSpec::PutNext)) {
                ", writing new keys in time order"
            } else {
                ""
            }
        ));
    }
    let warning = bad.then(|| {
        let what = match leading {
            Some(Leading::Date) => "a date",
            _ => "a sequence number",
        };
        let first = t
            .parts
            .iter()
            .find(|p| !matches!(p, KeyPart::Literal(_)))
            .map(part_source)
            .unwrap_or_default();
        let suggestion = suggest(t);
        format!(
            "Warning: the key template `{}` puts {what} (`{first}`) first. Keys written in time order, and reads of the newest data, all land at the end of one key range: one hot partition. S3 splits a busy range behind the newest keys, but the load keeps landing on the last one, so it gets about {reads} reads and {writes} writes per second (and 503 SlowDown above that) however long it runs. Advice: put a high-cardinality part first and the date or sequence to its right, e.g. `{suggestion}`.",
            t.source
        )
    });
    LayoutAdvice { lines, warning }
}

fn embedded_line(target: &str, limit: &PrefixLimit, stays_hot: bool) -> String {
    let per_range = format!(
        "{} reads/s and {} writes/s per range",
        limit.reads_per_sec, limit.writes_per_sec
    );
    let split = match limit.split_after {
        Some(d) => format!(
            "a range over its rate for {} splits, up to {} ranges",
            crate::units::format_duration(d),
            limit.max_partitions
        ),
        None => "ranges never split".into(),
    };
    let mut s = String::new();
    let _ = write!(
        s,
        "With `--embedded`, target `{target}` runs the partition model scaled for a laptop ({per_range}; {split}): a fresh bucket takes {per_range}"
    );
    if limit.split_after.is_some() && limit.max_partitions > 1 {
        if stays_hot {
            let _ = write!(
                s,
                "; splits do not help the newest keys of this layout, which keep one range's rates"
            );
        } else {
            let _ = write!(
                s,
                "; a load spread evenly over the keys gets up to {} ranges' worth once split",
                limit.max_partitions
            );
        }
    }
    s.push('.');
    s
}

/// The template with a `{hash:4}/` put first (its date and sequence
/// unchanged, to the right).
fn suggest(t: &KeyTemplate) -> String {
    format!("{{hash:4}}/{}", t.source)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(key: &str, mix: &str) -> Plan {
        let text = format!(
            r#"
name = "t"
[targets.standard]
kind = "general-purpose"
bucket = "s3bench-gp"
region = "us-east-1"
[targets.standard.embedded]
prefix_limit = {{ reads = 300, writes = 100, split_after = "2s", max_partitions = 64 }}
[dataset]
objects = 256
size = "4KiB"
key = "{key}"
[[phase]]
name = "ingest"
duration = "10s"
rate = 400.0
mix = {mix}
"#
        );
        crate::scenario::parse(&text, std::path::Path::new("t.toml")).unwrap()
    }

    const TIME_ORDERED: &str =
        r#"[{ op = "put", key = "dataset", weight = 1 }, { op = "get", newest = 64, weight = 3 }]"#;

    #[test]
    fn throttle_prefixes_follow_the_template() {
        let p = plan("{hash:4}/{index:06}.bin", TIME_ORDERED);
        assert_eq!(p.throttle_prefix("a3f0/000001.bin", true), "a");
        assert_eq!(p.throttle_prefix("put/r1t0s0w0/00000001", false), "put/");
        assert!(
            p.throttle_granularity()
                .contains("first hex digit of `{hash:4}`")
        );
        let p = plan("{date}/{index:06}.bin", TIME_ORDERED);
        assert_eq!(
            p.throttle_prefix("2025/06/07/000123.bin", true),
            "2025/06/07/0"
        );
        let g = p.throttle_granularity();
        assert!(
            g.contains("`{date}/` and the first digit of `{index:06}`"),
            "{g}"
        );
        let p = plan("données/{index}", TIME_ORDERED);
        assert_eq!(p.throttle_prefix("données/42", true), "données/4");
        // A key shorter than the granularity is its own prefix.
        assert_eq!(p.throttle_prefix("donn", true), "donn");
    }

    #[test]
    fn a_date_first_layout_gets_the_warning_and_a_hash_first_one_none() {
        let date = advice(&plan("{date}/{index:06}.bin", TIME_ORDERED));
        let w = date.warning.expect("a warning");
        assert!(w.contains("puts a date (`{date}`) first"), "{w}");
        assert!(w.contains("one hot partition"), "{w}");
        assert!(w.contains("{hash:4}/{date}/{index:06}.bin"), "{w}");
        let text = date.lines.join("\n");
        assert!(
            text.contains("all share one prefix at their first 12 characters"),
            "{text}"
        );
        assert!(text.contains("the largest holds 100%"), "{text}");
        assert!(
            text.contains("splits do not help the newest keys"),
            "{text}"
        );
        assert!(
            text.contains("offers up to 300 reads/s and 100 writes/s"),
            "{text}"
        );

        let hash = advice(&plan("{hash:4}/{index:06}.bin", TIME_ORDERED));
        assert_eq!(hash.warning, None);
        let text = hash.lines.join("\n");
        assert!(
            text.contains("spread over 16 prefixes at their first character"),
            "{text}"
        );
        assert!(text.contains("65,536 values"), "{text}");
        assert!(text.contains("55,000 reads and 35,000 writes"), "{text}");
        assert!(text.contains("up to 64 ranges' worth"), "{text}");

        let seq = advice(&plan("logs/{index:08}.log", TIME_ORDERED));
        assert!(
            seq.warning
                .unwrap()
                .contains("puts a sequence number (`{index:08}`) first")
        );
    }
}
