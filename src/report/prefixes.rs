//! Throttling by key prefix: where on the key space a bucket answered 503
//! SlowDown, second by second. A General Purpose bucket's limits apply per
//! partition (a key range), so this shows whether the throttles sat on one
//! hot range (a date or a sequence first) or spread and fell away as the
//! ranges split (a hash first). Works on real AWS as on the embedded
//! endpoint: the client knows each throttled request's key.
//!
//! Reads only the result model: the merge of shards adds the rows exactly
//! (they are counts per round, second and prefix).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use anyhow::anyhow;
use plotters::prelude::*;

use crate::report::format::fmt_percent;
use crate::report::model::{PhaseResult, PrefixRow, PrefixThrottling, TargetPhaseResult};
use crate::report::plots::{FAMILY, Series, WIDTH, legend, mesh, round_offsets};
use crate::report::table::{Align, Table};

/// Prefixes a target's table and plot show one by one; the rest are
/// summed as "other prefixes".
pub const BUSIEST: usize = 8;

/// Label of the sum of the prefixes after the busiest.
pub const OTHERS: &str = "other prefixes";

/// The shards' rows added up per (round, second, prefix): lossless.
pub fn merge(shards: &[&TargetPhaseResult]) -> Option<PrefixThrottling> {
    let parts: Vec<&PrefixThrottling> = shards
        .iter()
        .filter_map(|t| t.throttled_by_prefix.as_ref())
        .collect();
    let first = parts.first()?;
    let mut sum: BTreeMap<(u32, u32, &str), u64> = BTreeMap::new();
    for p in &parts {
        for r in &p.rows {
            *sum.entry((r.round, r.second, r.prefix.as_str()))
                .or_default() += r.throttled;
        }
    }
    Some(PrefixThrottling {
        granularity: parts
            .iter()
            .map(|p| p.granularity.as_str())
            .find(|g| !g.is_empty())
            .unwrap_or(&first.granularity)
            .to_string(),
        rows: sum
            .into_iter()
            .map(|((round, second, prefix), throttled)| PrefixRow {
                round,
                second,
                prefix: prefix.to_string(),
                throttled,
            })
            .collect(),
    })
}

/// One prefix's throttles over a phase, seconds counted with the rounds
/// back to back (as the time-series plot draws them).
#[derive(Debug, Clone, PartialEq)]
pub struct PrefixTotal {
    pub prefix: String,
    pub throttled: u64,
    /// Most throttles in one second.
    pub peak: u64,
    pub first_second: u32,
    pub last_second: u32,
}

/// Where each (round, second) sits on the phase's measured time axis.
fn x_of(t: &TargetPhaseResult) -> impl Fn(&PrefixRow) -> u32 + '_ {
    let offsets = round_offsets(t);
    move |r: &PrefixRow| offsets.get(&r.round).copied().unwrap_or(0.0) as u32 + r.second
}

/// A target's prefixes, busiest first (ties by name).
pub fn totals(t: &TargetPhaseResult) -> Vec<PrefixTotal> {
    let Some(pt) = &t.throttled_by_prefix else {
        return Vec::new();
    };
    let x = x_of(t);
    let mut by: BTreeMap<&str, (u64, BTreeMap<u32, u64>)> = BTreeMap::new();
    for r in &pt.rows {
        let e = by.entry(r.prefix.as_str()).or_default();
        e.0 += r.throttled;
        *e.1.entry(x(r)).or_default() += r.throttled;
    }
    let mut out: Vec<PrefixTotal> = by
        .into_iter()
        .map(|(prefix, (throttled, secs))| PrefixTotal {
            prefix: prefix.to_string(),
            throttled,
            peak: secs.values().copied().max().unwrap_or(0),
            first_second: secs.keys().next().copied().unwrap_or(0),
            last_second: secs.keys().next_back().copied().unwrap_or(0),
        })
        .collect();
    out.sort_by(|a, b| b.throttled.cmp(&a.throttled).then(a.prefix.cmp(&b.prefix)));
    out
}

/// A prefix as the report prints it (the empty prefix is the run prefix itself).
fn shown(prefix: &str) -> String {
    if prefix.is_empty() {
        "(run prefix)".into()
    } else {
        format!("`{}`", prefix.replace('`', "'"))
    }
}

/// The report's "Throttling by key prefix" section of a phase (nothing when
/// no target recorded throttles by prefix).
pub fn section(md: &mut String, p: &PhaseResult) {
    let with: Vec<&TargetPhaseResult> = p
        .targets
        .iter()
        .filter(|t| {
            t.throttled_by_prefix
                .as_ref()
                .is_some_and(|x| !x.rows.is_empty())
        })
        .collect();
    let Some(first) = with.first() else {
        return;
    };
    let _ = writeln!(md, "### Throttling by key prefix\n");
    let granularity = first
        .throttled_by_prefix
        .as_ref()
        .map(|x| x.granularity.as_str())
        .unwrap_or_default();
    let _ = writeln!(
        md,
        "503 SlowDown (and 429) answers by the key prefix they were for: {granularity}. A General Purpose bucket's \
         limits apply per partition, a range of keys, so throttles that stay on one prefix while the load goes on \
         mark one hot range; throttles spread over many prefixes fall away as S3 splits the ranges. Seconds are \
         measured time, rounds back to back.\n"
    );
    let mut table = Table::numeric([
        "target",
        "prefix",
        "throttled",
        "share",
        "peak [/s]",
        "first [s]",
        "last [s]",
    ])
    .with_align(1, Align::Left);
    for t in &with {
        let all = totals(t);
        let total: u64 = all.iter().map(|x| x.throttled).sum();
        if let Some(top) = all.first() {
            let over = match all.len() {
                1 => "all on one prefix".to_string(),
                n => format!("over {n} prefixes"),
            };
            let _ = writeln!(
                md,
                "{}: {total} throttled requests {over}; the busiest, {}, took {} of them, from second {} to {}.\n",
                t.target,
                shown(&top.prefix),
                fmt_percent(top.throttled, total),
                top.first_second,
                top.last_second
            );
        }
        for x in all.iter().take(BUSIEST) {
            table.push([
                t.target.clone(),
                shown(&x.prefix),
                x.throttled.to_string(),
                fmt_percent(x.throttled, total),
                x.peak.to_string(),
                x.first_second.to_string(),
                x.last_second.to_string(),
            ]);
        }
        if all.len() > BUSIEST {
            let rest = &all[BUSIEST..];
            let n: u64 = rest.iter().map(|x| x.throttled).sum();
            table.push([
                t.target.clone(),
                format!("{} ({} prefixes)", OTHERS, rest.len()),
                n.to_string(),
                fmt_percent(n, total),
                "-".into(),
                rest.iter()
                    .map(|x| x.first_second)
                    .min()
                    .unwrap_or(0)
                    .to_string(),
                rest.iter()
                    .map(|x| x.last_second)
                    .max()
                    .unwrap_or(0)
                    .to_string(),
            ]);
        }
    }
    md.push_str(&table.render());
    md.push('\n');
}

/// What the plot draws for one target: a line of throttles per second for
/// each of its busiest prefixes, and one for the rest.
pub fn plot_data(t: &TargetPhaseResult) -> Vec<Series> {
    let Some(pt) = &t.throttled_by_prefix else {
        return Vec::new();
    };
    let all = totals(t);
    let busiest: BTreeSet<&str> = all
        .iter()
        .take(BUSIEST)
        .map(|x| x.prefix.as_str())
        .collect();
    let x = x_of(t);
    let end = round_offsets(t)
        .into_iter()
        .next_back()
        .map(|(round, at)| {
            at as u32
                + t.timeseries
                    .iter()
                    .filter(|s| s.round == round)
                    .map(|s| s.second + 1)
                    .max()
                    .unwrap_or(0)
        })
        .unwrap_or(0)
        .max(pt.rows.iter().map(|r| x(r) + 1).max().unwrap_or(0));
    let mut lines: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for r in &pt.rows {
        let name = if busiest.contains(r.prefix.as_str()) {
            r.prefix.as_str()
        } else {
            OTHERS
        };
        let v = lines.entry(name).or_insert_with(|| vec![0; end as usize]);
        if let Some(c) = v.get_mut(x(r) as usize) {
            *c += r.throttled;
        }
    }
    let series = |name: &str, counts: &[u64]| Series {
        label: if name == OTHERS {
            format!("{OTHERS} ({})", all.len().saturating_sub(BUSIEST))
        } else {
            shown(name).trim_matches('`').to_string()
        },
        target: t.target.clone(),
        // Each second is drawn at its middle, zeros included, so a prefix
        // that stops being throttled visibly drops to 0.
        points: counts
            .iter()
            .enumerate()
            .map(|(s, n)| (s as f64 + 0.5, *n as f64))
            .collect(),
    };
    let mut out: Vec<Series> = all
        .iter()
        .take(BUSIEST)
        .filter_map(|x| lines.get(x.prefix.as_str()).map(|c| series(&x.prefix, c)))
        .collect();
    if let Some(c) = lines.get(OTHERS) {
        out.push(series(OTHERS, c));
    }
    out
}

/// True when the phase gets the plot.
pub fn has_plot(p: &PhaseResult) -> bool {
    p.targets.iter().any(|t| {
        t.throttled_by_prefix
            .as_ref()
            .is_some_and(|x| !x.rows.is_empty())
    })
}

/// Okabe-Ito's colour-blind-safe palette (black for the rest).
const PALETTE: [RGBColor; 8] = [
    RGBColor(213, 94, 0),
    RGBColor(0, 114, 178),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(240, 228, 66),
    RGBColor(120, 120, 120),
];

/// One panel per throttled target: 503s per second per prefix.
pub fn draw(p: &PhaseResult, title: &str) -> anyhow::Result<String> {
    crate::report::plots::register_font()?;
    let targets: Vec<&TargetPhaseResult> = p
        .targets
        .iter()
        .filter(|t| {
            t.throttled_by_prefix
                .as_ref()
                .is_some_and(|x| !x.rows.is_empty())
        })
        .collect();
    let panel_h = 340u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(
            &mut svg,
            (WIDTH, 40 + panel_h * targets.len().max(1) as u32),
        )
        .into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let (top, body) = root.split_vertically(40);
        // Targets with no throttles get no panel; the title names them.
        let calm: Vec<&str> = p
            .targets
            .iter()
            .filter(|t| !targets.iter().any(|x| x.target == t.target))
            .map(|t| t.target.as_str())
            .collect();
        let title = if calm.is_empty() {
            title.to_string()
        } else {
            format!("{title} (none throttled: {})", calm.join(", "))
        };
        top.titled(&title, (FAMILY, 20))
            .map_err(|e| anyhow!("{e}"))?;
        let areas = body.split_evenly((targets.len().max(1), 1));
        for (t, area) in targets.iter().zip(areas.iter()) {
            let series = plot_data(t);
            let xmax = series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.0))
                .fold(1.0f64, f64::max)
                + 0.5;
            let ymax = series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1))
                .fold(0.0f64, f64::max);
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!(
                        "{}: throttled (503) per second, by key prefix (busiest {})",
                        t.target,
                        series.len().min(BUSIEST)
                    ),
                    (FAMILY, 16),
                )
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(72)
                .build_cartesian_2d(0.0..xmax, 0.0..(ymax * 1.6).max(1.0))
                .map_err(|e| anyhow!("{e}"))?;
            mesh(
                &mut chart,
                "measured time [s], rounds back to back",
                "503s per second",
            )?;
            for (i, s) in series.iter().enumerate() {
                let colour = if s.label.starts_with(OTHERS) {
                    BLACK
                } else {
                    PALETTE[i % PALETTE.len()]
                };
                let style = colour.stroke_width(if i == 0 { 3 } else { 2 });
                chart
                    .draw_series(LineSeries::new(s.points.clone(), style))
                    .map_err(|e| anyhow!("{e}"))?
                    .label(&s.label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
            }
            legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        }
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::SecondRow;

    fn row(round: u32, second: u32, prefix: &str, throttled: u64) -> PrefixRow {
        PrefixRow {
            round,
            second,
            prefix: prefix.into(),
            throttled,
        }
    }

    fn target(rows: Vec<PrefixRow>, seconds: u32) -> TargetPhaseResult {
        let mut t = crate::report::fixtures::target_phase("standard", 1, seconds, 1, &[], 1);
        t.timeseries = (0..seconds)
            .map(|s| SecondRow {
                round: 1,
                second: s,
                op: "get".into(),
                count: 100,
                errors: 0,
                throttled: 0,
                bytes: 0,
                p50: 1.0,
                p99: 1.0,
                in_flight: 1,
                histogram: None,
            })
            .collect();
        t.throttled_by_prefix = Some(PrefixThrottling {
            granularity: "data set keys by the first hex digit".into(),
            rows,
        });
        t
    }

    #[test]
    fn merge_adds_rows_per_round_second_and_prefix() {
        let a = target(vec![row(1, 0, "a", 3), row(1, 1, "b", 1)], 2);
        let b = target(vec![row(1, 0, "a", 2), row(2, 0, "a", 5)], 2);
        let m = merge(&[&a, &b]).unwrap();
        assert_eq!(
            m.rows,
            vec![row(1, 0, "a", 5), row(1, 1, "b", 1), row(2, 0, "a", 5)]
        );
        let none = crate::report::fixtures::target_phase("x", 1, 2, 1, &[], 1);
        assert_eq!(merge(&[&none]), None);
        assert_eq!(merge(&[&none, &a]).unwrap().rows.len(), 2);
    }

    #[test]
    fn totals_and_plot_keep_the_busiest_and_sum_the_rest() {
        let mut rows = Vec::new();
        for (i, p) in "0123456789ab".chars().enumerate() {
            // Prefix i throttled (12 - i) times in second 1.
            rows.push(row(1, 1, &p.to_string(), 12 - i as u64));
        }
        rows.push(row(1, 3, "0", 4));
        let t = target(rows, 5);
        let all = totals(&t);
        assert_eq!(all.len(), 12);
        assert_eq!(
            all[0],
            PrefixTotal {
                prefix: "0".into(),
                throttled: 16,
                peak: 12,
                first_second: 1,
                last_second: 3
            }
        );
        let series = plot_data(&t);
        assert_eq!(series.len(), BUSIEST + 1);
        assert_eq!(series[0].label, "0");
        assert_eq!(series[0].points.len(), 5);
        assert_eq!(series[0].points[3], (3.5, 4.0));
        assert_eq!(series[0].points[2], (2.5, 0.0));
        let rest = series.last().unwrap();
        assert_eq!(rest.label, "other prefixes (4)");
        // Prefixes 8..b: 4 + 3 + 2 + 1 throttles in second 1.
        assert_eq!(rest.points[1], (1.5, 10.0));
        let mut md = String::new();
        let mut phase = crate::report::fixtures::sample_result().phases[0].clone();
        phase.targets = vec![t];
        section(&mut md, &phase);
        assert!(md.contains("### Throttling by key prefix"), "{md}");
        assert!(md.contains("by the first hex digit"), "{md}");
        assert!(
            md.contains("standard: 82 throttled requests over 12 prefixes; the busiest, `0`"),
            "{md}"
        );
        assert!(md.contains("other prefixes (4 prefixes)"), "{md}");
        let svg = draw(&phase, "t").unwrap();
        assert!(svg.contains("503s per second") && svg.contains("other prefixes (4)"));
    }
}
