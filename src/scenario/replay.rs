//! `[phase.replay]`: a phase that replays a recorded schedule of object
//! requests (written by `s3bench import --replay`) instead of a load shape
//! and a mix. The schedule lives in a sidecar file next to the scenario (a
//! gzip CSV, far too big to inline in TOML), read and checked when the
//! scenario is: the file must exist and every row be right, or the error
//! names the file and the row.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::plan::{Dataset, Load, Phase, Stage, Stop};
use super::raw::RawPhase;
use super::validate::Ctx;

/// The sidecar's header, in column order.
pub const COLUMNS: [&str; 7] = [
    "t_ns",
    "window_ns",
    "op",
    "object",
    "offset",
    "length",
    "part_size",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReplay {
    pub file: Spanned<String>,
    pub speed: Option<Spanned<f64>>,
    pub spread: Option<Spanned<Spread>>,
    pub max_in_flight: Option<Spanned<i64>>,
}

/// How requests logged at the same instant (an access log's second) are
/// spread over that instant's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Spread {
    /// The k-th of n at t + k/n of the window.
    #[default]
    Even,
    /// Arrival times of a Poisson process that had n arrivals in the
    /// window: n sorted uniform draws (seeded, so every target and round
    /// sees the same times).
    Poisson,
}

/// What one replayed request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayOp {
    /// GET data set object `object` whole.
    Get,
    /// GET `length` bytes of object `object` from `offset`.
    RangedGet,
    Head,
    /// PUT a new object of `length` bytes under the run prefix.
    Put,
    /// Multipart upload of a new object of `length` bytes in `part_size` parts.
    MultipartPut,
    /// DELETE an object this worker PUT earlier in the phase.
    Delete,
    /// One ListObjectsV2 page of the run prefix.
    List,
    /// CopyObject of data set object `object` to a new key.
    Copy,
}

impl ReplayOp {
    pub fn name(self) -> &'static str {
        match self {
            ReplayOp::Get => "get",
            ReplayOp::RangedGet => "ranged-get",
            ReplayOp::Head => "head",
            ReplayOp::Put => "put",
            ReplayOp::MultipartPut => "multipart-put",
            ReplayOp::Delete => "delete",
            ReplayOp::List => "list",
            ReplayOp::Copy => "copy",
        }
    }

    pub fn parse(s: &str) -> Option<ReplayOp> {
        Some(match s {
            "get" => ReplayOp::Get,
            "ranged-get" => ReplayOp::RangedGet,
            "head" => ReplayOp::Head,
            "put" => ReplayOp::Put,
            "multipart-put" => ReplayOp::MultipartPut,
            "delete" => ReplayOp::Delete,
            "list" => ReplayOp::List,
            "copy" => ReplayOp::Copy,
            _ => return None,
        })
    }
}

/// One request of the schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayRow {
    /// When it is due, ns after the phase's start (at speed 1, spread applied).
    pub t_ns: u64,
    pub op: ReplayOp,
    pub object: u64,
    pub offset: u64,
    pub length: u64,
    pub part_size: u64,
}

/// A validated `[phase.replay]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplaySpec {
    /// The sidecar, as resolved against the scenario's folder.
    pub file: PathBuf,
    /// Requests in the order they are due.
    pub rows: Arc<Vec<ReplayRow>>,
    /// 2 = twice as fast as logged.
    pub speed: f64,
    pub spread: Spread,
    /// Requests outstanding at most (per target).
    pub max_in_flight: usize,
}

impl ReplaySpec {
    /// When the last request is due, at the replay's speed.
    pub fn span(&self) -> Duration {
        let last = self.rows.last().map_or(0, |r| r.t_ns);
        Duration::from_nanos((last as f64 / self.speed) as u64)
    }
}

/// Rows per replay phase at most, so a schedule's memory stays bounded (48 bytes a row).
pub const MAX_ROWS: usize = 50_000_000;

/// Reads a sidecar: `Err` names the row (1-based line) and what is wrong.
pub fn read_schedule(
    path: &Path,
    spread: Spread,
    dataset: Option<&Dataset>,
) -> Result<Vec<ReplayRow>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open it: {e}"))?;
    let mut head = [0u8; 2];
    let gz = {
        use std::io::Read as _;
        let mut f = &file;
        f.read(&mut head).map_err(|e| e.to_string())? == 2 && head == [0x1f, 0x8b]
    };
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open it: {e}"))?;
    let reader: Box<dyn BufRead> = if gz {
        Box::new(std::io::BufReader::new(flate2::read::MultiGzDecoder::new(
            file,
        )))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    let objects = dataset.map_or(0, |d| d.objects);
    let mut rows = Vec::new();
    // (t, window) of each row, for spreading.
    let mut windows: Vec<u64> = Vec::new();
    let mut line = String::new();
    let mut reader = reader;
    let mut no = 0u64;
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| format!("row {}: {e}", no + 1))?;
        if n == 0 {
            break;
        }
        no += 1;
        let text = line.trim_end_matches(['\n', '\r']);
        if no == 1 {
            if text.trim_start_matches('\u{feff}') != COLUMNS.join(",") {
                return Err(format!(
                    "row 1: expected the header `{}`, got `{}`",
                    COLUMNS.join(","),
                    text.chars().take(120).collect::<String>()
                ));
            }
            continue;
        }
        if text.is_empty() {
            continue;
        }
        let row = parse_row(text, objects).map_err(|e| format!("row {no}: {e}"))?;
        if let Some(prev) = rows.last().map(|(r, _): &(ReplayRow, u64)| r.t_ns)
            && row.0.t_ns < prev
        {
            return Err(format!(
                "row {no}: expected rows in time order, got t_ns {} after {prev}",
                row.0.t_ns
            ));
        }
        if rows.len() >= MAX_ROWS {
            return Err(format!(
                "row {no}: more than {MAX_ROWS} requests; split the log and replay it in parts"
            ));
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err("expected at least one request after the header, got none".into());
    }
    windows.extend(rows.iter().map(|(_, w)| *w));
    let mut out: Vec<ReplayRow> = rows.into_iter().map(|(r, _)| r).collect();
    spread_rows(&mut out, &windows, spread);
    Ok(out)
}

fn parse_row(text: &str, objects: u64) -> Result<(ReplayRow, u64), String> {
    let f: Vec<&str> = text.split(',').collect();
    if f.len() != COLUMNS.len() {
        return Err(format!(
            "expected {} fields ({}), got {}",
            COLUMNS.len(),
            COLUMNS.join(","),
            f.len()
        ));
    }
    let num = |i: usize| -> Result<u64, String> {
        if f[i].is_empty() {
            return Ok(0);
        }
        f[i].parse()
            .map_err(|_| format!("{}: expected a whole number, got {:?}", COLUMNS[i], f[i]))
    };
    let op = ReplayOp::parse(f[2]).ok_or_else(|| {
        format!(
            "op: expected get, ranged-get, head, put, multipart-put, delete, list or copy, got {:?}",
            f[2]
        )
    })?;
    let row = ReplayRow {
        t_ns: num(0)?,
        op,
        object: num(3)?,
        offset: num(4)?,
        length: num(5)?,
        part_size: num(6)?,
    };
    let window = num(1)?.max(1);
    match op {
        ReplayOp::Get | ReplayOp::RangedGet | ReplayOp::Head | ReplayOp::Copy
            if row.object >= objects =>
        {
            return Err(format!(
                "object: expected a data set index below {objects} (the [dataset]'s objects), got {}",
                row.object
            ));
        }
        _ => {}
    }
    if op == ReplayOp::RangedGet && row.length == 0 {
        return Err("length: expected the range's length in bytes, got 0".into());
    }
    if op == ReplayOp::MultipartPut {
        let min = crate::s3::limits::MIN_PART_SIZE;
        if row.part_size < min || row.length == 0 {
            return Err(format!(
                "part_size: expected at least {min} bytes and a length above 0, got part_size {} length {}",
                row.part_size, row.length
            ));
        }
    }
    Ok((row, window))
}

/// Spreads rows that share a logged instant over its window.
fn spread_rows(rows: &mut [ReplayRow], windows: &[u64], spread: Spread) {
    let mut i = 0;
    while i < rows.len() {
        let (t, w) = (rows[i].t_ns, windows[i]);
        let mut j = i + 1;
        while j < rows.len() && rows[j].t_ns == t && windows[j] == w {
            j += 1;
        }
        let n = (j - i) as u64;
        if w > 1 {
            match spread {
                Spread::Even => {
                    for (k, r) in rows[i..j].iter_mut().enumerate() {
                        r.t_ns = t + (k as u64 * w) / n;
                    }
                }
                Spread::Poisson => {
                    let mut rng = fastrand::Rng::with_seed(super::splitmix64(t ^ (w << 1)));
                    let mut at: Vec<u64> = (0..n).map(|_| rng.u64(0..w)).collect();
                    at.sort_unstable();
                    for (r, a) in rows[i..j].iter_mut().zip(at) {
                        r.t_ns = t + a;
                    }
                }
            }
        }
        i = j;
    }
}

/// Validates a replay phase: the load comes from the schedule, so a load
/// shape, a mix and a warm-up do not apply.
pub(super) fn phase(
    cx: &mut Ctx<'_>,
    base: &str,
    name: String,
    p: &RawPhase,
    r: &Spanned<RawReplay>,
    dataset: Option<&Dataset>,
    stop: Stop,
) -> Phase {
    let rb = format!("{base}.replay");
    let not_here = p.fields_set(&[
        "concurrency",
        "rate",
        "max_in_flight",
        "stages",
        "mix",
        "warmup",
        "loader",
    ]);
    for (field, span) in not_here {
        cx.report(
            Some(span),
            &format!("{base}.{field}"),
            format!("expected no `{field}` in a replay phase: the schedule in [phase.replay] is the load"),
        );
    }
    let raw = r.get_ref();
    let speed = match &raw.speed {
        Some(s) => {
            let v = *s.get_ref();
            if !(v.is_finite() && v > 0.0 && v <= 1e6) {
                cx.at(
                    s,
                    &format!("{rb}.speed"),
                    format!("expected a factor above 0 (2 = twice as fast as logged), got {v}"),
                );
                1.0
            } else {
                v
            }
        }
        None => 1.0,
    };
    let spread = raw.spread.as_ref().map_or(Spread::Even, |s| *s.get_ref());
    let given = raw.file.get_ref().trim();
    let path = match cx.source_dir() {
        Some(dir) if Path::new(given).is_relative() => dir.join(given),
        _ => Path::new(given).to_path_buf(),
    };
    let rows = match read_schedule(&path, spread, dataset) {
        Ok(rows) => rows,
        Err(e) => {
            cx.at(
                &raw.file,
                &format!("{rb}.file"),
                format!("{}: {e}", path.display()),
            );
            Vec::new()
        }
    };
    let last = rows.last().map_or(0, |r| r.t_ns);
    let span = Duration::from_nanos((last as f64 / speed) as u64);
    // The busiest second sets the default cap on requests in flight.
    let peak = peak_per_second(&rows) as f64 * speed;
    let max_in_flight = match &raw.max_in_flight {
        Some(m) => cx
            .int(m, &format!("{rb}.max_in_flight"), 1, 100_000)
            .unwrap_or(64) as usize,
        None => (peak / 10.0).ceil().clamp(64.0, 100_000.0) as usize,
    };
    let rate = if span.is_zero() {
        rows.len().max(1) as f64
    } else {
        (rows.len() as f64 / span.as_secs_f64()).clamp(1e-3, 1e6)
    };
    Phase {
        name,
        stop: Stop {
            // The schedule's span, with a millisecond for its last request.
            duration: Some(stop.duration.unwrap_or(span + Duration::from_millis(1))),
            ops: stop.ops,
        },
        warmup: Duration::ZERO,
        stages: vec![Stage {
            load: Load::Open {
                rate,
                max_in_flight,
            },
            duration: None,
        }],
        mix: Vec::new(),
        loader: None,
        checkpoint: None,
        replay: Some(ReplaySpec {
            file: path,
            rows: Arc::new(rows),
            speed,
            spread,
            max_in_flight,
        }),
    }
}

fn peak_per_second(rows: &[ReplayRow]) -> usize {
    let mut peak = 0;
    let mut i = 0;
    for j in 0..rows.len() {
        while rows[j].t_ns - rows[i].t_ns >= 1_000_000_000 {
            i += 1;
        }
        peak = peak.max(j - i + 1);
    }
    peak
}

/// Writes a sidecar's header (the import's side of the format).
pub fn header() -> String {
    COLUMNS.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t: u64) -> ReplayRow {
        ReplayRow {
            t_ns: t,
            op: ReplayOp::Put,
            object: 0,
            offset: 0,
            length: 1,
            part_size: 0,
        }
    }

    #[test]
    fn a_second_is_spread_evenly_or_as_a_poisson_process() {
        let mut rows: Vec<ReplayRow> = (0..4).map(|_| row(1_000_000_000)).collect();
        rows.push(row(2_000_000_000));
        let windows = vec![1_000_000_000; 5];
        let mut even = rows.clone();
        spread_rows(&mut even, &windows, Spread::Even);
        let t: Vec<u64> = even.iter().map(|r| r.t_ns).collect();
        assert_eq!(
            t,
            [
                1_000_000_000,
                1_250_000_000,
                1_500_000_000,
                1_750_000_000,
                2_000_000_000
            ]
        );
        let mut p = rows.clone();
        spread_rows(&mut p, &windows, Spread::Poisson);
        assert!(p.windows(2).all(|w| w[0].t_ns <= w[1].t_ns));
        assert!(
            p[..4]
                .iter()
                .all(|r| (1_000_000_000..2_000_000_000).contains(&r.t_ns))
        );
        let mut again = rows.clone();
        spread_rows(&mut again, &windows, Spread::Poisson);
        assert_eq!(
            p, again,
            "seeded: every target and round sees the same times"
        );
        assert_eq!(peak_per_second(&even), 4);
    }

    #[test]
    fn bad_rows_are_named() {
        assert!(
            parse_row("1,1,get,5,0,0,0", 5)
                .unwrap_err()
                .contains("below 5")
        );
        assert!(
            parse_row("1,1,fly,0,0,0,0", 5)
                .unwrap_err()
                .starts_with("op:")
        );
        assert!(
            parse_row("x,1,get,0,0,0,0", 5)
                .unwrap_err()
                .starts_with("t_ns:")
        );
        assert!(
            parse_row("1,1,get", 5)
                .unwrap_err()
                .contains("expected 7 fields")
        );
        assert!(parse_row("1,1,ranged-get,0,0,4096,0", 5).is_ok());
    }
}
