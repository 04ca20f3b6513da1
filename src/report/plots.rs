//! SVG plots next to report.md: the latency percentile spectrum per op, the
//! per-second time series per phase, offered vs achieved rate for
//! open-loop phases, AU by accelerator count for loader searches and AU and
//! stall per second of other loader phases (`loader_timeline`). Drawn with `plotters`' SVG backend; text is laid out
//! with a font embedded in the binary (DejaVu Sans, `assets/fonts/`), so
//! nothing depends on the fonts of the machine that renders.
//!
//! Every plot has an opaque white background and dark text, so it reads the
//! same in GitHub's light and dark themes; target colours are from the
//! Okabe-Ito colour-blind-safe palette.
//!
//! Data extraction (`*_data`) is separate from drawing, so tests can check
//! what a plot shows without parsing SVG.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context as _, anyhow};
use plotters::coord::combinators::BindKeyPoints;
use plotters::prelude::*;

use crate::report::format::sig;
use crate::report::hlog::safe;
use crate::report::model::{KIND_DIRECTORY, KIND_GENERAL_PURPOSE};
use crate::report::model::{PhaseResult, RunResult, TargetPhaseResult};
use crate::stats::codec;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
pub(crate) const FAMILY: &str = "sans-serif";
pub(crate) const WIDTH: u32 = 900;

/// Which plot a file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlotKind {
    /// Latency (and TTFB) percentile spectrum of one op in one phase.
    Spectrum { phase: String, op: String },
    /// Per-second ops/s, p50/p99 per op, failures per second of one phase.
    TimeSeries { phase: String },
    /// Offered vs achieved rate of one open-loop phase.
    Rate { phase: String },
    /// AU by simulated accelerator count of a loader phase's search steps.
    DataloaderSearch { phase: String },
    /// Throttled (503) requests per second by key prefix (`report::prefixes`).
    ThrottlingByPrefix { phase: String },
    /// AU and stall per second of a fixed-count loader phase
    /// (`report::loader_timeline`).
    LoaderTimeline { phase: String },
}

impl PlotKind {
    /// The phase the plot belongs to.
    pub fn phase(&self) -> &str {
        match self {
            PlotKind::Spectrum { phase, .. }
            | PlotKind::TimeSeries { phase }
            | PlotKind::Rate { phase }
            | PlotKind::DataloaderSearch { phase }
            | PlotKind::ThrottlingByPrefix { phase }
            | PlotKind::LoaderTimeline { phase } => phase,
        }
    }
}

/// A plot file to write and link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlotFile {
    /// File name inside the run directory.
    pub file: String,
    /// Alt text and heading.
    pub title: String,
    pub kind: PlotKind,
}

/// A line on a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub target: String,
    pub points: Vec<(f64, f64)>,
}

fn measured(p: &PhaseResult) -> bool {
    p.is_measured() && !p.targets.is_empty()
}

/// The plots a result gets, in report order. Pure: the report links exactly
/// what `write_all` writes.
pub fn plan(r: &RunResult) -> Vec<PlotFile> {
    let mut out = Vec::new();
    for p in r.phases.iter().filter(|p| measured(p)) {
        let ops = crate::report::markdown::op_names(p);
        for op in ops {
            let any = p.targets.iter().any(|t| {
                t.ops
                    .get(&op)
                    .is_some_and(|o| o.count > 0 && !o.histograms.latency.is_empty())
            });
            if any {
                out.push(PlotFile {
                    file: format!("latency-{}-{}.svg", safe(&p.name), safe(&op)),
                    title: format!("{} {op}: latency by percentile", p.name),
                    kind: PlotKind::Spectrum {
                        phase: p.name.clone(),
                        op,
                    },
                });
            }
        }
        if p.targets.iter().any(|t| !t.timeseries.is_empty()) {
            out.push(PlotFile {
                file: format!("timeseries-{}.svg", safe(&p.name)),
                title: format!("{}: per second", p.name),
                kind: PlotKind::TimeSeries {
                    phase: p.name.clone(),
                },
            });
            if p.shape.offered_schedule().is_some() {
                out.push(PlotFile {
                    file: format!("rate-{}.svg", safe(&p.name)),
                    title: format!("{}: offered vs achieved rate", p.name),
                    kind: PlotKind::Rate {
                        phase: p.name.clone(),
                    },
                });
            }
        }
        if crate::report::prefixes::has_plot(p) {
            out.push(PlotFile {
                file: format!("throttling-by-prefix-{}.svg", safe(&p.name)),
                title: format!("{}: throttled requests by key prefix", p.name),
                kind: PlotKind::ThrottlingByPrefix {
                    phase: p.name.clone(),
                },
            });
        }
        let searched = p
            .targets
            .iter()
            .any(|t| t.loader.as_ref().is_some_and(|l| l.search.is_some()));
        if searched {
            out.push(PlotFile {
                file: format!("loader-search-{}.svg", safe(&p.name)),
                title: format!("{}: accelerator utilization by accelerator count", p.name),
                kind: PlotKind::DataloaderSearch {
                    phase: p.name.clone(),
                },
            });
        }
        if crate::report::loader_timeline::has_plot(p) {
            out.push(PlotFile {
                file: format!("loader-timeline-{}.svg", safe(&p.name)),
                title: format!("{}: accelerator utilization and stall per second", p.name),
                kind: PlotKind::LoaderTimeline {
                    phase: p.name.clone(),
                },
            });
        }
    }
    out
}

/// Renders and writes every planned plot into `dir`; returns the paths.
pub fn write_all(r: &RunResult, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for f in plan(r) {
        let svg = render(r, &f).with_context(|| format!("cannot draw {}", f.file))?;
        let path = dir.join(&f.file);
        super::write_atomic(&path, svg.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

/// Draws one plot as SVG text.
pub fn render(r: &RunResult, f: &PlotFile) -> anyhow::Result<String> {
    register_font()?;
    let phase = |name: &str| {
        r.phases
            .iter()
            .find(|p| p.name == name)
            .with_context(|| format!("no phase {name}"))
    };
    match &f.kind {
        PlotKind::Spectrum { phase: p, op } => draw_spectrum(r, phase(p)?, op, &f.title),
        PlotKind::TimeSeries { phase: p } => draw_timeseries(r, phase(p)?, &f.title),
        PlotKind::Rate { phase: p } => draw_rate(r, phase(p)?, &f.title),
        PlotKind::DataloaderSearch { phase: p } => draw_loader_search(r, phase(p)?, &f.title),
        PlotKind::ThrottlingByPrefix { phase: p } => {
            crate::report::prefixes::draw(phase(p)?, &f.title)
        }
        PlotKind::LoaderTimeline { phase: p } => {
            crate::report::loader_timeline::draw(r, phase(p)?, &f.title)
        }
    }
}

pub(crate) fn register_font() -> anyhow::Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the embedded font cannot be read"))
    }
}

/// Colours per target: Express blue, General Purpose vermillion, others
/// green / purple; TTFB and second lines use the lighter partner.
pub(crate) fn colours(r: &RunResult, target: &str) -> (RGBColor, RGBColor) {
    const BLUE: (RGBColor, RGBColor) = (RGBColor(0, 114, 178), RGBColor(86, 180, 233));
    const VERMILLION: (RGBColor, RGBColor) = (RGBColor(213, 94, 0), RGBColor(230, 159, 0));
    const OTHERS: [(RGBColor, RGBColor); 2] = [
        (RGBColor(0, 158, 115), RGBColor(120, 200, 170)),
        (RGBColor(204, 121, 167), RGBColor(230, 180, 210)),
    ];
    let Some(i) = r.targets.iter().position(|t| t.name == target) else {
        return OTHERS[0];
    };
    match r.targets[i].kind.as_str() {
        KIND_DIRECTORY => BLUE,
        KIND_GENERAL_PURPOSE => VERMILLION,
        _ => OTHERS[i % OTHERS.len()],
    }
}

/// Percentile label of x = 1/(1-q).
fn pct_label(x: f64) -> String {
    if x <= 1.0 {
        return "0%".into();
    }
    let q = 100.0 * (1.0 - 1.0 / x);
    let s = format!("{q:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

/// Latency (ms) at log-spaced percentiles for each target, and TTFB where
/// recorded. x = 1/(1-q).
pub fn spectrum_data(p: &PhaseResult, op: &str) -> anyhow::Result<Vec<Series>> {
    let mut out = Vec::new();
    for t in &p.targets {
        let Some(o) = t.ops.get(op).filter(|o| o.count > 0) else {
            continue;
        };
        let blobs = [
            ("latency", Some(&o.histograms.latency)),
            ("TTFB", o.histograms.ttfb.as_ref()),
        ];
        for (what, blob) in blobs {
            let Some(blob) = blob.filter(|b| !b.is_empty()) else {
                continue;
            };
            let h = codec::decode(blob)
                .with_context(|| format!("{what} histogram of {} {op}", t.target))?;
            if h.is_empty() {
                continue;
            }
            // Beyond 1/(1-q) = count the percentile is just the maximum.
            let xmax = (h.len() as f64).clamp(2.0, 1e5);
            let steps = 120;
            let points = (0..=steps)
                .map(|i| {
                    let x = xmax.powf(f64::from(i) / f64::from(steps));
                    let q = 1.0 - 1.0 / x;
                    (x, h.value_at_quantile(q) as f64 / 1e6)
                })
                .collect();
            out.push(Series {
                label: format!("{} {what}", t.target),
                target: t.target.clone(),
                points,
            });
        }
    }
    Ok(out)
}

fn draw_spectrum(r: &RunResult, p: &PhaseResult, op: &str, title: &str) -> anyhow::Result<String> {
    let series = spectrum_data(p, op)?;
    let xmax = series
        .iter()
        .flat_map(|s| s.points.last().map(|p| p.0))
        .fold(10.0f64, f64::max);
    let (ylo, yhi) = log_bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let keys: Vec<f64> = [1.0, 2.0, 10.0, 100.0, 1e3, 1e4, 1e5]
        .into_iter()
        .filter(|k| *k <= xmax * 1.0001)
        .collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FAMILY, 20))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(
                (1.0f64..xmax).log_scale().with_key_points(keys),
                (ylo..yhi).log_scale().with_key_points(log_keys(ylo, yhi)),
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("percentile (log scale of 1/(1-q))")
            .y_desc("latency [ms]")
            .x_label_formatter(&|x| pct_label(*x))
            .y_label_formatter(&|y| sig(*y, 2))
            .max_light_lines(1)
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 15))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(210, 210, 210))
            .draw()
            .map_err(err)?;
        for s in &series {
            let (main, light) = colours(r, &s.target);
            let ttfb = s.label.ends_with("TTFB");
            let style = if ttfb {
                light.stroke_width(2)
            } else {
                main.stroke_width(3)
            };
            chart
                .draw_series(LineSeries::new(s.points.clone(), style))
                .map_err(err)?
                .label(&s.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("{e}")
}

pub(crate) fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(160, 160, 160))
        .label_font((FAMILY, 14))
        .draw()
        .map_err(|e| anyhow!("{e:?}"))
}

/// 1-2-5 ticks inside [lo, hi], so a log axis has more than one label per decade.
fn log_keys(lo: f64, hi: f64) -> Vec<f64> {
    let mut keys = Vec::new();
    let mut decade = 10f64.powi(lo.log10().floor() as i32);
    while decade <= hi && keys.len() < 40 {
        for m in [1.0, 2.0, 5.0] {
            let k = decade * m;
            if k >= lo && k <= hi {
                keys.push(k);
            }
        }
        decade *= 10.0;
    }
    keys
}

/// Bounds for a log axis that hold every positive value, padded.
fn log_bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::MAX, 0.0f64);
    for v in values.filter(|v| v.is_finite() && *v > 0.0) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi == 0.0 {
        return (0.1, 10.0);
    }
    // Headroom above the data for the legend (log axis: a decade).
    (lo / 1.5, hi * 8.0)
}

/// What the time-series chart of a phase shows, per target.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TimeSeriesData {
    /// Successful operations per second (all ops).
    pub ok_per_s: Vec<Series>,
    /// Per op: p50 and p99 [ms] lines per target (seconds with no ops left out).
    pub latency: BTreeMap<String, Vec<Series>>,
    /// Throttled (503) responses per second, per target.
    pub throttled_per_s: Vec<Series>,
    /// Other failures per second, per target.
    pub failed_per_s: Vec<Series>,
    /// Conditional writes and appends that lost a race (412, 409, 400
    /// InvalidWriteOffset) per second, per target: an outcome, not a
    /// failure of the tool, so not among `failed_per_s`.
    pub lost_races_per_s: Vec<Series>,
    /// Where round 2, 3, ... start on the x axis (measured seconds).
    pub round_starts: Vec<f64>,
}

impl TimeSeriesData {
    /// True when any target had a failure in any second.
    pub fn any_failures(&self) -> bool {
        self.throttled_per_s
            .iter()
            .chain(&self.failed_per_s)
            .chain(&self.lost_races_per_s)
            .any(|s| s.points.iter().any(|p| p.1 > 0.0))
    }
}

/// Seconds of all rounds back to back: round r's second s sits at
/// offset(r) + s. The same for every target of a phase.
pub(crate) fn round_offsets(t: &TargetPhaseResult) -> BTreeMap<u32, f64> {
    let mut len: BTreeMap<u32, u32> = BTreeMap::new();
    for s in &t.timeseries {
        let e = len.entry(s.round).or_insert(0);
        *e = (*e).max(s.second + 1);
    }
    let mut out = BTreeMap::new();
    let mut at = 0.0;
    for (round, n) in len {
        out.insert(round, at);
        at += f64::from(n);
    }
    out
}

/// A second shorter than this (the end of a round) is too short to be a
/// rate: left out of the per-second rates rather than scaled up from a few
/// operations.
pub(crate) const MIN_SPAN_S: f64 = 0.1;

/// The ops of a target whose failures other than throttling are all lost
/// conditional races: their per-second non-throttled errors are races.
fn race_ops(t: &TargetPhaseResult) -> std::collections::BTreeSet<&str> {
    t.ops
        .iter()
        .filter(|(_, o)| {
            let group = |g: &str| o.failures.get(g).map_or(0, |f| f.count);
            let races = group("conditional");
            races > 0 && o.errors.saturating_sub(group("throttled")) == races
        })
        .map(|(op, _)| op.as_str())
        .collect()
}

/// How much of second `second` of a round `round_len` seconds long was
/// measured: 1, or less for the round's last, partial second.
pub fn second_span(round_len: Option<f64>, second: u32) -> f64 {
    match round_len {
        Some(len) if len > 0.0 => (len - f64::from(second)).clamp(0.0, 1.0),
        _ => 1.0,
    }
}

pub fn timeseries_data(p: &PhaseResult) -> TimeSeriesData {
    let mut d = TimeSeriesData::default();
    for t in &p.targets {
        let offsets = round_offsets(t);
        if d.round_starts.is_empty() {
            d.round_starts = offsets.values().skip(1).copied().collect();
        }
        let round_len: BTreeMap<u32, f64> =
            t.rounds.iter().map(|r| (r.round, r.elapsed_s)).collect();
        let races = race_ops(t);
        let mut ok: BTreeMap<i64, f64> = BTreeMap::new();
        let mut thr: BTreeMap<i64, f64> = BTreeMap::new();
        let mut fail: BTreeMap<i64, f64> = BTreeMap::new();
        let mut lost: BTreeMap<i64, f64> = BTreeMap::new();
        let mut spans: BTreeMap<i64, f64> = BTreeMap::new();
        type Points = Vec<(f64, f64)>;
        // Per op: (p50 points, p99 points).
        let mut lat: BTreeMap<String, (Points, Points)> = BTreeMap::new();
        for s in &t.timeseries {
            let x = offsets.get(&s.round).copied().unwrap_or(0.0) + f64::from(s.second);
            let key = x as i64;
            let span = second_span(round_len.get(&s.round).copied(), s.second);
            // A row covers [x, x + span): draw it at the middle of that.
            let x = x + span.min(1.0) / 2.0;
            if span >= MIN_SPAN_S {
                spans.insert(key, span);
                let throttled = s.throttled.min(s.errors);
                *ok.entry(key).or_insert(0.0) += s.count.saturating_sub(s.errors) as f64;
                *thr.entry(key).or_insert(0.0) += throttled as f64;
                let other = (s.errors - throttled) as f64;
                if races.contains(s.op.as_str()) {
                    *lost.entry(key).or_insert(0.0) += other;
                    fail.entry(key).or_insert(0.0);
                } else {
                    *fail.entry(key).or_insert(0.0) += other;
                    lost.entry(key).or_insert(0.0);
                }
            }
            if s.count > s.errors && s.p50 > 0.0 {
                let e = lat.entry(s.op.clone()).or_default();
                e.0.push((x, s.p50 / 1e3));
                e.1.push((x, s.p99 / 1e3));
            }
        }
        // Counts over the part of the second that was measured: a rate.
        let pts = |m: BTreeMap<i64, f64>| {
            m.into_iter()
                .map(|(k, v)| {
                    let span = spans.get(&k).copied().unwrap_or(1.0);
                    (k as f64 + span / 2.0, v / span)
                })
                .collect()
        };
        d.ok_per_s.push(Series {
            label: t.target.clone(),
            target: t.target.clone(),
            points: pts(ok),
        });
        d.throttled_per_s.push(Series {
            label: format!(
                "{} throttled ({})",
                t.target,
                crate::report::headline::throttle_statuses(t.ops.values())
            ),
            target: t.target.clone(),
            points: pts(thr),
        });
        d.failed_per_s.push(Series {
            label: format!("{} other failures", t.target),
            target: t.target.clone(),
            points: pts(fail),
        });
        d.lost_races_per_s.push(Series {
            label: format!("{} lost conditional races (412/409)", t.target),
            target: t.target.clone(),
            points: pts(lost),
        });
        for (op, (p50, p99)) in lat {
            let v = d.latency.entry(op).or_default();
            v.push(Series {
                label: format!("{} p50", t.target),
                target: t.target.clone(),
                points: p50,
            });
            v.push(Series {
                label: format!("{} p99", t.target),
                target: t.target.clone(),
                points: p99,
            });
        }
    }
    d
}

fn x_end(series: &[Series]) -> f64 {
    // Points sit at the middle of their second; the axis ends with the last.
    series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(0.5f64, f64::max)
        + 0.5
}

fn y_max(series: &[Series]) -> f64 {
    let m = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    // Headroom above the data for the legend.
    if m > 0.0 { m * 1.6 } else { 1.0 }
}

fn draw_timeseries(r: &RunResult, p: &PhaseResult, title: &str) -> anyhow::Result<String> {
    let d = timeseries_data(p);
    let failures = d.any_failures();
    let panels = 1 + d.latency.len() + usize::from(failures);
    let panel_h = 300u32;
    let xmax = x_end(&d.ok_per_s);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 40 + panel_h * panels as u32))
            .into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (top, body) = root.split_vertically(40);
        top.titled(title, (FAMILY, 20)).map_err(err)?;
        let areas = body.split_evenly((panels, 1));
        let mut areas = areas.iter();
        let rounds_note = if d.round_starts.is_empty() {
            String::new()
        } else {
            ", rounds back to back".to_string()
        };
        let x_desc = format!("measured time [s]{rounds_note}");

        // Successful ops/s.
        if let Some(area) = areas.next() {
            let mut chart = ChartBuilder::on(area)
                .caption("successful operations per second (all ops)", (FAMILY, 16))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(72)
                .build_cartesian_2d(0.0..xmax, 0.0..y_max(&d.ok_per_s))
                .map_err(err)?;
            mesh(&mut chart, &x_desc, "ops/s")?;
            for s in &d.ok_per_s {
                let (main, _) = colours(r, &s.target);
                let style = main.stroke_width(2);
                draw_rounds(&mut chart, s, &d.round_starts, style, None)?;
            }
            legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        }
        for (op, series) in &d.latency {
            let Some(area) = areas.next() else { break };
            let (ylo, yhi) = log_bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!("{op}: p50 and p99 latency per second"),
                    (FAMILY, 16),
                )
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(72)
                .build_cartesian_2d(
                    0.0..xmax,
                    (ylo..yhi).log_scale().with_key_points(log_keys(ylo, yhi)),
                )
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(x_desc.as_str())
                .y_desc("latency [ms]")
                .x_labels(x_label_count(xmax))
                .x_label_formatter(&|x| x_tick(*x))
                .y_label_formatter(&|y| sig(*y, 2))
                .max_light_lines(1)
                .label_style((FAMILY, 13))
                .axis_desc_style((FAMILY, 14))
                .light_line_style(RGBColor(240, 240, 240))
                .bold_line_style(RGBColor(215, 215, 215))
                .draw()
                .map_err(err)?;
            for s in series {
                let (main, light) = colours(r, &s.target);
                let style = if s.label.ends_with("p99") {
                    light.stroke_width(2)
                } else {
                    main.stroke_width(3)
                };
                draw_rounds(&mut chart, s, &d.round_starts, style, None)?;
            }
            legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        }
        if failures && let Some(area) = areas.next() {
            let all: Vec<Series> = d
                .throttled_per_s
                .iter()
                .chain(&d.failed_per_s)
                .chain(&d.lost_races_per_s)
                .cloned()
                .collect();
            let races = d
                .lost_races_per_s
                .iter()
                .any(|s| s.points.iter().any(|p| p.1 > 0.0));
            let caption = if races {
                "failed operations and lost conditional races per second"
            } else {
                "failed operations per second"
            };
            let mut chart = ChartBuilder::on(area)
                .caption(caption, (FAMILY, 16))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(72)
                .build_cartesian_2d(0.0..xmax, 0.0..y_max(&all))
                .map_err(err)?;
            mesh(&mut chart, &x_desc, "failures/s")?;
            for s in &d.throttled_per_s {
                let (main, _) = colours(r, &s.target);
                let style = main.stroke_width(3);
                draw_rounds(&mut chart, s, &d.round_starts, style, None)?;
            }
            for s in d
                .lost_races_per_s
                .iter()
                .filter(|s| s.points.iter().any(|p| p.1 > 0.0))
            {
                let (main, _) = colours(r, &s.target);
                let style = main.stroke_width(1);
                draw_rounds(&mut chart, s, &d.round_starts, style, Some((2, 3)))?;
            }
            for s in d
                .failed_per_s
                .iter()
                .filter(|s| s.points.iter().any(|p| p.1 > 0.0))
            {
                let (_, light) = colours(r, &s.target);
                let style = light.stroke_width(2);
                draw_rounds(&mut chart, s, &d.round_starts, style, Some((6, 4)))?;
            }
            legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Draws a series as one line per round (labelled once), solid or with
/// `dash` (dash and gap lengths).
pub(crate) fn draw_rounds<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    s: &Series,
    round_starts: &[f64],
    style: ShapeStyle,
    dash: Option<(u32, u32)>,
) -> anyhow::Result<()>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    CT: plotters::coord::CoordTranslate<From = (f64, f64)>,
{
    for (i, seg) in segments(&s.points, round_starts).into_iter().enumerate() {
        let drawn = match dash {
            None => chart.draw_series(LineSeries::new(seg, style)),
            Some((size, gap)) => chart.draw_series(DashedLineSeries::new(seg, size, gap, style)),
        }
        .map_err(err)?;
        if i == 0 {
            drawn
                .label(&s.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        }
    }
    Ok(())
}

/// The points of a line split where a round starts, so rounds are drawn
/// apart, not joined across the boundary by one line.
pub fn segments(points: &[(f64, f64)], round_starts: &[f64]) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut round = usize::MAX;
    for &(x, y) in points {
        let r = round_starts.iter().filter(|s| x >= **s).count();
        if r != round {
            out.push(Vec::new());
            round = r;
        }
        if let Some(last) = out.last_mut() {
            last.push((x, y));
        }
    }
    out
}

/// How many labels a time axis of `xmax` seconds gets: one per whole
/// second on a short axis, about ten on a long one, so no two labels
/// round to the same number.
pub fn x_label_count(xmax: f64) -> usize {
    (xmax.floor() as usize + 1).clamp(2, 11)
}

/// A time axis label: whole seconds as "3", others with one decimal, so
/// labels never read `0 0 1 2 2 2 3`.
pub fn x_tick(x: f64) -> String {
    if (x - x.round()).abs() < 1e-6 {
        format!("{}", x.round() as i64)
    } else {
        format!("{x:.1}")
    }
}

pub(crate) fn mesh<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<
        'a,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    x_desc: &str,
    y_desc: &str,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let xmax = chart.x_range().end;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(x_label_count(xmax))
        .x_label_formatter(&|x| x_tick(*x))
        .y_label_formatter(&|y| sig(*y, 3))
        .max_light_lines(1)
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(|e| anyhow!("{e:?}"))
}

/// Offered and achieved rate per second, per target: the schedule repeats
/// each round.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RateData {
    pub offered: Vec<(f64, f64)>,
    /// Completed operations per second (successful or not), per target.
    pub achieved: Vec<Series>,
}

pub fn rate_data(p: &PhaseResult) -> RateData {
    let mut d = RateData::default();
    // The schedule from the phase's shape: each stage's rate and length.
    let schedule = p.shape.offered_schedule().unwrap_or_default();
    let rate_at = |sec: f64| {
        let mut start = 0.0;
        for (rate, seconds) in &schedule {
            match seconds {
                Some(len) if sec >= start + len => start += len,
                _ => return *rate,
            }
        }
        None
    };
    for (i, t) in p.targets.iter().enumerate() {
        let offsets = round_offsets(t);
        let mut done: BTreeMap<(u32, u32), f64> = BTreeMap::new();
        for s in &t.timeseries {
            *done.entry((s.round, s.second)).or_insert(0.0) += s.count as f64;
        }
        let mut points = Vec::new();
        for ((round, second), n) in done {
            let x = offsets.get(&round).copied().unwrap_or(0.0) + f64::from(second);
            points.push((x + 0.5, n));
            if i == 0
                && let Some(rate) = rate_at(f64::from(second))
            {
                d.offered.push((x, rate));
            }
        }
        d.achieved.push(Series {
            label: format!("{} achieved", t.target),
            target: t.target.clone(),
            points,
        });
    }
    d
}

fn draw_rate(r: &RunResult, p: &PhaseResult, title: &str) -> anyhow::Result<String> {
    let d = rate_data(p);
    let xmax = x_end(&d.achieved);
    let offered = Series {
        label: "offered".into(),
        target: String::new(),
        points: d.offered.clone(),
    };
    let mut all = d.achieved.clone();
    all.push(offered);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FAMILY, 20))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..xmax, 0.0..y_max(&all))
            .map_err(err)?;
        mesh(&mut chart, "measured time [s]", "operations per second")?;
        let grey = RGBColor(90, 90, 90).stroke_width(2);
        // Step line: the schedule holds each rate for a whole second.
        let mut steps = Vec::new();
        for (x, y) in &d.offered {
            steps.push((*x, *y));
            steps.push((*x + 1.0, *y));
        }
        chart
            .draw_series(DashedLineSeries::new(steps, 8, 5, grey))
            .map_err(err)?
            .label("offered (schedule)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], grey));
        let n = d.achieved.len() as u32;
        for (i, s) in d.achieved.iter().enumerate() {
            let (main, _) = colours(r, &s.target);
            // Earlier lines wider, so equal rates still show every target.
            let style = main.stroke_width(3 + 3 * (n - 1 - i as u32));
            chart
                .draw_series(LineSeries::new(s.points.clone(), style))
                .map_err(err)?
                .label(&s.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// AU (%) by accelerator count of every search step, one series per target
/// and round, sorted by count; and the pass mark (%) of the first search.
pub fn loader_search_data(p: &PhaseResult) -> (Vec<Series>, Option<f64>) {
    let mut out = Vec::new();
    let mut mark = None;
    for t in &p.targets {
        let Some(l) = &t.loader else { continue };
        let Some(s) = &l.search else { continue };
        mark.get_or_insert(l.au_target * 100.0);
        let rounds: std::collections::BTreeSet<u32> = s.steps.iter().map(|st| st.round).collect();
        for round in &rounds {
            let mut points: Vec<(f64, f64)> = s
                .steps
                .iter()
                .filter(|st| st.round == *round)
                .map(|st| (st.accelerators as f64, st.measured.au * 100.0))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            let label = if rounds.len() > 1 {
                format!("{} (round {round}, found {})", t.target, l.accelerators)
            } else {
                format!("{} (found {})", t.target, l.accelerators)
            };
            out.push(Series {
                label,
                target: t.target.clone(),
                points,
            });
        }
    }
    (out, mark)
}

fn draw_loader_search(r: &RunResult, p: &PhaseResult, title: &str) -> anyhow::Result<String> {
    let (series, mark) = loader_search_data(p);
    let xmax = series
        .iter()
        .flat_map(|s| s.points.iter().map(|pt| pt.0))
        .fold(1.0_f64, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FAMILY, 20))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..xmax * 1.05 + 0.5, 0.0..105.0)
            .map_err(err)?;
        mesh(
            &mut chart,
            "simulated accelerators",
            "accelerator utilization [%]",
        )?;
        if let Some(m) = mark {
            let grey = RGBColor(90, 90, 90).stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(0.0, m), (xmax * 1.05 + 0.5, m)],
                    8,
                    5,
                    grey,
                ))
                .map_err(err)?
                .label(format!("pass mark {m:.0}%"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], grey));
        }
        for s in &series {
            let (main, _) = colours(r, &s.target);
            let style = main.stroke_width(3);
            chart
                .draw_series(LineSeries::new(s.points.clone(), style))
                .map_err(err)?
                .label(&s.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
            chart
                .draw_series(s.points.iter().map(|&pt| Circle::new(pt, 4, main.filled())))
                .map_err(err)?;
        }
        legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Throttled (503) operations per second of one target, as the time-series
/// plot shows them; used by tests and by the report's text.
pub fn throttled_points<'a>(d: &'a TimeSeriesData, target: &str) -> Option<&'a [(f64, f64)]> {
    d.throttled_per_s
        .iter()
        .find(|s| s.target == target)
        .map(|s| s.points.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{OpSpec, sample_result, target_phase};
    use crate::report::model::{LoadShape, PhaseRole, SecondRow, StageShape};

    /// Where the PNG renderings go, so a person can look at them.
    fn png_dir() -> PathBuf {
        let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/plots-test");
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Renders an SVG the way a browser would (resvg, with the machine's
    /// fonts) to a PNG a person can look at, and checks that it parses as
    /// SVG and draws something: a blank or broken plot fails.
    fn rasterize(svg: &Path, png: &Path) {
        use resvg::{tiny_skia, usvg};
        let mut opt = usvg::Options::default();
        let fonts = opt.fontdb_mut();
        fonts.load_system_fonts();
        // The plots ask for `sans-serif`, which fontdb maps to Arial; use
        // a sans face the machine has, as fontconfig would for a browser.
        let sans = fonts
            .faces()
            .flat_map(|f| f.families.iter().map(|(n, _)| n.clone()))
            .filter(|n| n.contains("Sans") && !n.contains("Mono"))
            .min_by_key(|n| n.len());
        let has_fonts = sans.is_some();
        if let Some(sans) = sans {
            fonts.set_sans_serif_family(sans);
        }
        let data = std::fs::read(svg).unwrap();
        let tree = usvg::Tree::from_data(&data, &opt)
            .unwrap_or_else(|e| panic!("{} does not parse as SVG: {e}", svg.display()));
        // With a font to draw them in, every label is drawn (usvg drops a
        // text it cannot lay out).
        fn texts(g: &usvg::Group) -> usize {
            g.children()
                .iter()
                .map(|n| match n {
                    usvg::Node::Group(g) => texts(g),
                    usvg::Node::Text(_) => 1,
                    _ => 0,
                })
                .sum()
        }
        let labels = data.windows(5).filter(|w| w == b"<text").count();
        if has_fonts {
            assert_eq!(
                texts(tree.root()),
                labels,
                "{}: labels drawn",
                svg.display()
            );
        }
        let size = tree.size().to_int_size();
        let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
            .unwrap_or_else(|| panic!("{}: empty canvas {size:?}", svg.display()));
        resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
        // Anything but the background colour: axes, lines, labels.
        let px = pixmap.pixels();
        let drawn = px.iter().filter(|p| **p != px[0]).count();
        assert!(
            drawn * 100 >= px.len(),
            "{}: only {drawn} of {} pixels drawn",
            svg.display(),
            px.len()
        );
        pixmap.save_png(png).unwrap();
        let bytes = std::fs::read(png).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG"),
            "{} is not a PNG",
            png.display()
        );
    }

    /// Per-second rates: a round's last partial second is a rate over its
    /// real length (not a "collapse" to a few ops at every boundary), rounds
    /// are drawn apart, short axes get distinct ticks, and lost
    /// conditional races are their own series, not "other failures".
    #[test]
    fn timeseries_partial_seconds_rounds_ticks_and_races() {
        use crate::report::model::{FailureResult, RoundResult};
        let mut t = target_phase(
            "express",
            2,
            3,
            8,
            &[OpSpec::new("conditional_put", 4000.0, 8000.0, 100)],
            7,
        );
        t.timeseries.clear();
        for round in 1..=2u32 {
            for second in 0..4u32 {
                // 3.5 s rounds: the fourth second is half a second long
                // and holds half a second's operations.
                let (count, errors) = if second == 3 { (50, 10) } else { (100, 20) };
                t.timeseries.push(SecondRow {
                    round,
                    second,
                    op: "conditional_put".into(),
                    count,
                    errors,
                    throttled: 0,
                    bytes: 0,
                    p50: 4000.0,
                    p99: 8000.0,
                    in_flight: 8,
                    histogram: None,
                });
            }
        }
        t.rounds = (1..=2)
            .map(|round| RoundResult {
                round,
                elapsed_s: 3.5,
                ops: BTreeMap::new(),
            })
            .collect();
        let o = t.ops.get_mut("conditional_put").unwrap();
        o.errors = 60;
        o.failures.clear();
        o.failures.insert(
            "conditional".into(),
            FailureResult {
                count: 60,
                statuses: [(412, 60)].into(),
                ..Default::default()
            },
        );
        let mut p = sample_result()
            .phases
            .into_iter()
            .find(|p| p.is_measured())
            .unwrap();
        p.targets = vec![t];
        let d = timeseries_data(&p);
        let ok = &d.ok_per_s[0].points;
        assert_eq!(ok.len(), 8);
        // Every second, the partial ones included, is 80 successes/s.
        assert!(ok.iter().all(|(_, v)| (*v - 80.0).abs() < 1e-9), "{ok:?}");
        // The partial second sits at the middle of its half second.
        assert!((ok[3].0 - 3.25).abs() < 1e-9, "{ok:?}");
        assert_eq!(d.round_starts, [4.0]);
        // The rounds are two lines, not one.
        let segs = segments(ok, &d.round_starts);
        assert_eq!(segs.len(), 2);
        assert_eq!((segs[0].len(), segs[1].len()), (4, 4));
        // 412s: lost races at 20/s, none under "other failures".
        let lost = &d.lost_races_per_s[0].points;
        assert!(
            lost.iter().all(|(_, v)| (*v - 20.0).abs() < 1e-9),
            "{lost:?}"
        );
        assert!(d.failed_per_s[0].points.iter().all(|(_, v)| *v == 0.0));
        assert!(d.any_failures());
        // A second of under 0.1 s is not a rate.
        assert!((second_span(Some(3.02), 3) - 0.02).abs() < 1e-9);
        assert!(second_span(Some(3.02), 3) < MIN_SPAN_S);
        assert_eq!(second_span(None, 3), 1.0);
        // Ticks: distinct labels on a 4.5 s axis.
        let n = x_label_count(4.5);
        assert_eq!(n, 5);
        let labels: Vec<String> = (0..n).map(|i| x_tick(i as f64)).collect();
        assert_eq!(labels, ["0", "1", "2", "3", "4"]);
        assert_eq!(x_tick(2.5), "2.5");
        assert_eq!(x_label_count(120.0), 11);
        // The chart draws (in its own process under nextest, so the font
        // is registered here, as `render` does before drawing).
        register_font().unwrap();
        let svg = draw_timeseries(&sample_result(), &p, "t").unwrap();
        check_svg(&svg, "races.svg");
        assert!(svg.contains("lost conditional races"), "legend");
    }

    #[test]
    #[should_panic(expected = "pixels drawn")]
    fn rasterize_fails_a_blank_plot() {
        let dir = tempfile::tempdir().unwrap();
        let svg = dir.path().join("blank.svg");
        std::fs::write(
            &svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100"><rect width="200" height="100" fill="white"/></svg>"#,
        )
        .unwrap();
        rasterize(&svg, &dir.path().join("blank.png"));
    }

    fn check_svg(svg: &str, file: &str) {
        assert!(
            svg.starts_with("<svg"),
            "{file}: {}",
            &svg[..svg.len().min(80)]
        );
        assert!(svg.trim_end().ends_with("</svg>"), "{file}");
        // Parses as XML.
        let mut reader = quick_xml::Reader::from_str(svg);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("{file} is not well-formed XML: {e}"),
            }
        }
    }

    /// The ramp model: GP's per-prefix limit throttles more as the offered
    /// rate rises; Express never throttles.
    pub(crate) fn ramp_result() -> RunResult {
        let mut r = sample_result();
        r.phases.retain(|p| p.name == "prepare");
        let rates = [150.0, 300.0, 600.0, 900.0, 1200.0];
        let mut targets = Vec::new();
        for (name, base, seed) in [("standard", 20_000.0, 1), ("express", 4_000.0, 2)] {
            let mut t = target_phase(
                name,
                2,
                30,
                64,
                &[OpSpec::new("get", base, base * 2.0, 50)],
                seed,
            );
            t.timeseries.clear();
            for round in 1..=2 {
                for second in 0..30u32 {
                    let offered = rates[(second / 6) as usize];
                    let count = offered as u64;
                    // 400 reads/s per prefix: everything above is a 503 on GP.
                    let throttled = if name == "standard" {
                        count.saturating_sub(400)
                    } else {
                        0
                    };
                    t.timeseries.push(SecondRow {
                        round,
                        second,
                        op: "get".into(),
                        count,
                        errors: throttled,
                        throttled,
                        bytes: (count - throttled) * 16384,
                        p50: base * (1.0 + offered / 2000.0),
                        p99: base * 3.0 * (1.0 + offered / 1000.0),
                        in_flight: 64,
                        histogram: None,
                    });
                }
            }
            // By key prefix: nine in ten on the data set's `ramp/0`, the
            // rest on `put/`.
            let rows: Vec<crate::report::model::PrefixRow> = t
                .timeseries
                .iter()
                .filter(|s| s.throttled > 0)
                .flat_map(|s| {
                    let put = s.throttled / 10;
                    [("ramp/0", s.throttled - put), ("put/", put)].map(|(prefix, n)| {
                        crate::report::model::PrefixRow {
                            round: s.round,
                            second: s.second,
                            prefix: prefix.into(),
                            throttled: n,
                        }
                    })
                })
                .collect();
            if !rows.is_empty() {
                t.throttled_by_prefix = Some(crate::report::model::PrefixThrottling {
                    granularity: "data set keys (`ramp/{index:06}.bin`) by `ramp/` and the first digit of `{index:06}`".into(),
                    rows,
                });
            }
            let o = t.ops.get_mut("get").unwrap();
            let total: u64 = t.timeseries.iter().map(|s| s.count).sum();
            let thr: u64 = t.timeseries.iter().map(|s| s.throttled).sum();
            o.count = total;
            o.errors = thr;
            o.errors_by_kind.clear();
            o.failures.clear();
            if thr > 0 {
                o.errors_by_kind.insert("503 SlowDown".into(), thr);
                o.failures.insert(
                    "throttled".into(),
                    crate::report::model::FailureResult {
                        count: thr,
                        statuses: [(503, thr)].into(),
                        ..Default::default()
                    },
                );
            }
            targets.push(t);
        }
        let shape = LoadShape::Stages {
            stages: rates
                .iter()
                .map(|&rate| StageShape::Open {
                    rate,
                    max_in_flight: 64,
                    duration_s: Some(6.0),
                })
                .collect(),
            warmup_s: Some(0.0),
            stop_after_s: None,
            stop_after_ops: None,
            gp_stand_ins: Vec::new(),
            mix: Vec::new(),
        };
        r.phases.push(PhaseResult {
            name: "ramp".into(),
            role: PhaseRole::Measured,
            load: shape.label(),
            shape,
            rounds: 2,
            interrupted: None,
            targets,
        });
        r.scenario = "ramp".into();
        r
    }

    #[test]
    fn plots_ramp_shows_gp_503s_rising_and_express_flat() {
        let r = ramp_result();
        assert!(
            plan(&r)
                .iter()
                .any(|f| f.file == "throttling-by-prefix-ramp.svg"),
            "{:?}",
            plan(&r)
        );
        let by_prefix = crate::report::prefixes::plot_data(&r.phases[1].targets[0]);
        assert_eq!(by_prefix.len(), 2);
        assert_eq!(by_prefix[0].label, "ramp/0");
        // Both rounds back to back: 60 seconds; the last stage's 800 503s
        // a second, nine in ten on ramp/0.
        assert_eq!(by_prefix[0].points.len(), 60);
        assert_eq!(by_prefix[0].points[29], (29.5, 720.0));
        assert_eq!(by_prefix[0].points[5], (5.5, 0.0));
        let d = timeseries_data(&r.phases[1]);
        let gp = throttled_points(&d, "standard").unwrap();
        let ex = throttled_points(&d, "express").unwrap();
        assert_eq!(gp.len(), 60, "2 rounds x 30 s back to back");
        assert!(ex.iter().all(|p| p.1 == 0.0), "{ex:?}");
        // Within each round: zero in the first stages, then rising per stage.
        for round in 0..2 {
            let stage = |s: usize| gp[round * 30 + s * 6].1;
            assert_eq!((stage(0), stage(1)), (0.0, 0.0));
            assert!(
                stage(2) > 0.0 && stage(3) > stage(2) && stage(4) > stage(3),
                "{gp:?}"
            );
        }
        assert!(d.any_failures());
        // The offered rate follows the schedule and restarts each round.
        let rate = rate_data(&r.phases[1]);
        assert_eq!(rate.offered.len(), 60);
        assert_eq!(rate.offered[0], (0.0, 150.0));
        assert_eq!(rate.offered[29], (29.0, 1200.0));
        assert_eq!(rate.offered[30], (30.0, 150.0));
        // The plot itself carries both targets' failure lines.
        let f = plan(&r)
            .into_iter()
            .find(|f| f.file == "timeseries-ramp.svg")
            .unwrap();
        let svg = render(&r, &f).unwrap();
        assert!(
            svg.contains("standard throttled (503)")
                && svg.contains("express throttled (503 or 429)"),
            "{svg}"
        );
    }

    #[test]
    fn plots_render_as_svg_and_png_with_both_targets() {
        let dir = tempfile::tempdir().unwrap();
        let pngs = png_dir();
        for (tag, r) in [("sample", sample_result()), ("ramp", ramp_result())] {
            let files = write_all(&r, dir.path()).unwrap();
            let planned = plan(&r);
            assert_eq!(files.len(), planned.len());
            assert!(
                planned
                    .iter()
                    .any(|f| matches!(f.kind, PlotKind::Spectrum { .. }))
            );
            assert!(
                planned
                    .iter()
                    .any(|f| matches!(f.kind, PlotKind::TimeSeries { .. }))
            );
            assert!(
                planned
                    .iter()
                    .any(|f| matches!(f.kind, PlotKind::Rate { .. })),
                "{planned:?}"
            );
            for (path, f) in files.iter().zip(&planned) {
                let svg = std::fs::read_to_string(path).unwrap();
                std::fs::copy(path, pngs.join(format!("{tag}-{}", f.file))).unwrap();
                check_svg(&svg, &f.file);
                for target in ["standard", "express"] {
                    assert!(svg.contains(target), "{}: no series of {target}", f.file);
                }
                if let PlotKind::Spectrum { op, .. } = &f.kind
                    && op == "get"
                    && tag == "sample"
                {
                    // Ticks stop where the samples do (under 1000: no 99.9%).
                    assert!(
                        svg.contains("standard TTFB") && svg.lines().any(|l| l.trim() == "50%"),
                        "{}",
                        f.file
                    );
                }
                let png = pngs.join(format!("{tag}-{}", f.file.replace(".svg", ".png")));
                rasterize(path, &png);
            }
        }
    }

    #[test]
    fn plots_loader_search_shows_au_by_count_per_target() {
        let r = crate::report::dataloader::tests::loader_run();
        let planned = plan(&r);
        let f = planned
            .iter()
            .find(|f| matches!(f.kind, PlotKind::DataloaderSearch { .. }))
            .expect("a search plot");
        assert_eq!(f.file, "loader-search-train.svg");
        let (series, mark) = loader_search_data(&r.phases[0]);
        assert_eq!(mark, Some(90.0));
        assert_eq!(series.len(), 2);
        // Steps in count order, not run order; AU in percent.
        let xs: Vec<f64> = series[0].points.iter().map(|p| p.0).collect();
        assert_eq!(xs, vec![1.0, 2.0, 3.0, 4.0]);
        assert!((series[0].points[1].1 - 93.0).abs() < 0.01, "{series:?}");
        assert!(
            series[0].label.ends_with("(found 2)"),
            "{}",
            series[0].label
        );
        assert!(
            series[1].label.ends_with("(found 8)"),
            "{}",
            series[1].label
        );
        let svg = render(&r, f).unwrap();
        check_svg(&svg, &f.file);
        assert!(svg.contains("pass mark 90%"), "{svg}");
        for t in ["standard", "express"] {
            assert!(svg.contains(&format!("{t} (found")), "{t}");
        }
        let md = crate::report::markdown::render(&r);
        assert!(md.contains("(loader-search-train.svg)"), "{md}");
        // A loader without search gets no search plot.
        let mut fixed = r.clone();
        for t in &mut fixed.phases[0].targets {
            t.loader.as_mut().unwrap().search = None;
        }
        assert!(
            !plan(&fixed)
                .iter()
                .any(|f| matches!(f.kind, PlotKind::DataloaderSearch { .. }))
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(&f.file);
        std::fs::write(&path, &svg).unwrap();
        let png = png_dir().join("loader-search-train.png");
        rasterize(&path, &png);
    }

    /// A fixed-count loader phase gets AU and stall per second, per
    /// target, rounds apart; a partial last second is a rate over its
    /// length and a sliver is left out; the report links the SVG.
    #[test]
    fn plots_loader_timeline_shows_au_and_stall_per_second() {
        let r = crate::report::dataloader::tests::fixed_run();
        let planned = plan(&r);
        let f = planned
            .iter()
            .find(|f| matches!(f.kind, PlotKind::LoaderTimeline { .. }))
            .expect("a loader timeline");
        assert_eq!(f.file, "loader-timeline-train.svg");
        assert!(
            !planned
                .iter()
                .any(|f| matches!(f.kind, PlotKind::DataloaderSearch { .. }))
        );
        let d = crate::report::loader_timeline::data(&r.phases[0]);
        assert_eq!(d.mark, Some(90.0));
        // Round 2 starts after round 1's five seconds.
        assert_eq!(d.round_starts, vec![5.0]);
        assert_eq!(d.au.len(), 2);
        let round = |pts: &[(f64, f64)], r: usize| -> Vec<(f64, f64)> {
            pts.iter()
                .copied()
                .filter(|p| (p.0 >= 5.0) == (r == 2))
                .map(|(x, y)| ((x * 1000.0).round() / 1000.0, (y * 1000.0).round() / 1000.0))
                .collect()
        };
        // Whole seconds at their middle, the 0.4 s second at 3.2; the
        // 0.05 s sliver left out.
        assert_eq!(
            round(&d.au[0].points, 1),
            [(0.5, 90.0), (1.5, 90.0), (2.5, 90.0), (3.2, 90.0)]
        );
        assert_eq!(
            round(&d.au[1].points, 2),
            [(5.5, 50.0), (6.5, 33.333), (7.5, 50.0), (8.2, 50.0)]
        );
        // Stall as a rate: 0.4 s x 1.0 waiting over 0.4 s is 1 waiting,
        // not 0.4.
        assert_eq!(
            round(&d.waiting[1].points, 1),
            [(0.5, 1.0), (1.5, 1.0), (2.5, 1.0), (3.2, 1.0)]
        );
        assert_eq!(round(&d.waiting[1].points, 2)[1], (6.5, 2.0));
        // Rounds drawn apart: one line per round.
        assert_eq!(segments(&d.au[0].points, &d.round_starts).len(), 2);
        let svg = render(&r, f).unwrap();
        check_svg(&svg, &f.file);
        assert!(svg.contains("pass mark 90%"), "legend");
        assert!(svg.contains("accelerators waiting for data per second"));
        assert!(svg.contains("rounds back to back"));
        let md = crate::report::markdown::render(&r);
        assert!(md.contains("(loader-timeline-train.svg)"), "{md}");
        // A search keeps no seconds: no timeline.
        let searched = crate::report::dataloader::tests::loader_run();
        assert!(
            !plan(&searched)
                .iter()
                .any(|f| matches!(f.kind, PlotKind::LoaderTimeline { .. }))
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(&f.file);
        std::fs::write(&path, &svg).unwrap();
        rasterize(&path, &png_dir().join("loader-timeline-train.png"));
    }

    /// The offered rate comes from the phase's shape, never its label: a
    /// reworded (or meaningless) label leaves the plot as it was, and a
    /// measured phase named like a setup stage is still plotted.
    #[test]
    fn plots_offered_rate_reads_the_shape_not_the_label() {
        let r = ramp_result();
        let mut reworded = r.clone();
        reworded.phases[1].load = "Treppe: 150 → 1200 Anfragen pro Sekunde".into();
        let rate = |r: &RunResult| {
            plan(r)
                .into_iter()
                .find(|f| matches!(f.kind, PlotKind::Rate { .. }))
        };
        let f = rate(&reworded).expect("the offered-vs-achieved plot is still drawn");
        assert_eq!(f.file, "rate-ramp.svg");
        assert_eq!(rate_data(&reworded.phases[1]), rate_data(&r.phases[1]));
        assert_eq!(render(&reworded, &f).unwrap(), render(&r, &f).unwrap());

        // A closed-loop shape has no offered rate, whatever its label says.
        let mut closed = r.clone();
        closed.phases[1].shape = LoadShape::Stages {
            stages: vec![StageShape::Closed {
                concurrency: 8,
                duration_s: None,
            }],
            warmup_s: Some(0.0),
            stop_after_s: Some(30.0),
            stop_after_ops: None,
            gp_stand_ins: Vec::new(),
            mix: Vec::new(),
        };
        assert!(rate(&closed).is_none());

        // The role decides what is plotted, not the name.
        let mut named = r.clone();
        named.phases[1].name = "cleanup".into();
        assert!(plan(&named).iter().any(|f| f.file == "rate-cleanup.svg"));
        named.phases[1].role = PhaseRole::Setup;
        assert!(plan(&named).iter().all(|f| !f.file.contains("cleanup")));
        assert_eq!(pct_label(2.0), "50%");
        assert_eq!(pct_label(1000.0), "99.9%");
        assert_eq!(pct_label(10000.0), "99.99%");
    }
}
