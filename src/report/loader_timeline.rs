//! AU and stall over time of a loader phase: per target, the accelerator
//! utilization of each second (compute / (compute + stall), from the
//! result's `per_second` rows) and how many accelerators waited for data on
//! average in it (stall seconds per second), rounds drawn apart. A round's
//! last, partial second is a rate over the part the round covered; one
//! shorter than `plots::MIN_SPAN_S` is left out, as in the per-second plots.

use std::collections::BTreeMap;

use anyhow::anyhow;
use plotters::prelude::*;

use crate::report::model::{PhaseResult, RunResult};
use crate::report::plots::{FAMILY, MIN_SPAN_S, Series, WIDTH, colours, draw_rounds, legend, mesh};

/// What the plot shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TimelineData {
    /// AU [%] per second, per target.
    pub au: Vec<Series>,
    /// Accelerators waiting for data per second (stall s / s), per target.
    pub waiting: Vec<Series>,
    /// Where round 2, 3, ... start on the x axis (seconds).
    pub round_starts: Vec<f64>,
    /// The AU pass mark [%].
    pub mark: Option<f64>,
}

/// True when a target of the phase has loader seconds to draw.
pub fn has_plot(p: &PhaseResult) -> bool {
    p.is_measured()
        && p.targets
            .iter()
            .any(|t| t.loader.as_ref().is_some_and(|l| !l.per_second.is_empty()))
}

/// The seconds of every round back to back: round r's second s at
/// offset(r) + s, the same for every target.
fn round_offsets(p: &PhaseResult) -> BTreeMap<u32, f64> {
    let mut len: BTreeMap<u32, u32> = BTreeMap::new();
    for l in p.targets.iter().filter_map(|t| t.loader.as_ref()) {
        for s in &l.per_second {
            let e = len.entry(s.round).or_insert(0);
            *e = (*e).max(s.second + 1);
        }
    }
    let mut at = 0.0;
    len.into_iter()
        .map(|(round, n)| {
            let o = (round, at);
            at += f64::from(n);
            o
        })
        .collect()
}

pub fn data(p: &PhaseResult) -> TimelineData {
    let offsets = round_offsets(p);
    let mut d = TimelineData {
        round_starts: offsets.values().skip(1).copied().collect(),
        ..TimelineData::default()
    };
    for t in &p.targets {
        let Some(l) = t.loader.as_ref().filter(|l| !l.per_second.is_empty()) else {
            continue;
        };
        d.mark.get_or_insert(l.au_target * 100.0);
        let (mut au, mut waiting) = (Vec::new(), Vec::new());
        for s in &l.per_second {
            if s.span_s < MIN_SPAN_S || s.compute_s + s.stall_s <= 0.0 {
                continue;
            }
            // A row covers [x, x + span): drawn at its middle.
            let x = offsets.get(&s.round).copied().unwrap_or(0.0)
                + f64::from(s.second)
                + s.span_s / 2.0;
            au.push((x, s.au * 100.0));
            waiting.push((x, s.stall_s / s.span_s));
        }
        d.au.push(Series {
            label: t.target.clone(),
            target: t.target.clone(),
            points: au,
        });
        d.waiting.push(Series {
            label: t.target.clone(),
            target: t.target.clone(),
            points: waiting,
        });
    }
    d
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("{e}")
}

/// Two panels: AU per second (with the pass mark), accelerators waiting
/// for data per second.
pub fn draw(r: &RunResult, p: &PhaseResult, title: &str) -> anyhow::Result<String> {
    let d = data(p);
    let xmax =
        d.au.iter()
            .flat_map(|s| s.points.iter().map(|pt| pt.0))
            .fold(0.5f64, f64::max)
            + 0.5;
    let wmax = d
        .waiting
        .iter()
        .flat_map(|s| s.points.iter().map(|pt| pt.1))
        .fold(0.0f64, f64::max);
    let rounds_note = if d.round_starts.is_empty() {
        ""
    } else {
        ", rounds back to back"
    };
    let x_desc = format!("measured time [s]{rounds_note}");
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 40 + 2 * 300)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (top, body) = root.split_vertically(40);
        top.titled(title, (FAMILY, 20)).map_err(err)?;
        let areas = body.split_evenly((2, 1));
        let mut chart = ChartBuilder::on(&areas[0])
            .caption(
                "accelerator utilization per second (compute / (compute + stall))",
                (FAMILY, 16),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..xmax, 0.0..160.0)
            .map_err(err)?;
        mesh(&mut chart, &x_desc, "AU [%]")?;
        if let Some(m) = d.mark {
            let grey = RGBColor(90, 90, 90).stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new(vec![(0.0, m), (xmax, m)], 8, 5, grey))
                .map_err(err)?
                .label(format!("pass mark {m:.0}%"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], grey));
        }
        for s in &d.au {
            let style = colours(r, &s.target).0.stroke_width(3);
            draw_rounds(&mut chart, s, &d.round_starts, style, None)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;

        let mut chart = ChartBuilder::on(&areas[1])
            .caption(
                "accelerators waiting for data per second (stall s / s)",
                (FAMILY, 16),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..xmax, 0.0..if wmax > 0.0 { wmax * 1.6 } else { 1.0 })
            .map_err(err)?;
        mesh(&mut chart, &x_desc, "accelerators waiting")?;
        for s in &d.waiting {
            let style = colours(r, &s.target).0.stroke_width(3);
            draw_rounds(&mut chart, s, &d.round_starts, style, None)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}
