//! HdrHistogram interval logs (`.hlog`): one file per phase x target x op,
//! one V2 compressed histogram per measured second, so HdrHistogram's own
//! tools (HistogramLogAnalyzer, the `hdrhistogram` crate's
//! `IntervalLogIterator`) can read s3bench's latency over time.
//!
//! Per-second histograms come from `SecondRow::histogram`. A result without
//! them (an engine that does not record them) still gets a log: one interval
//! per phase spanning its measured time, from the op's whole-phase histogram,
//! and a comment saying so. Values are nanoseconds.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use crate::report::model::{PhaseResult, RunResult, TargetPhaseResult};
use crate::stats::codec;

/// Ends every interval log's file name.
pub const HLOG_EXT: &str = "hlog";

/// `<phase>.<target>.<op>.hlog`, with anything outside `[A-Za-z0-9_-]`
/// replaced so names from a scenario cannot leave the run directory.
pub fn hlog_name(phase: &str, target: &str, op: &str) -> String {
    format!("{}.{}.{}.{HLOG_EXT}", safe(phase), safe(target), safe(op))
}

/// A file-name-safe version of a scenario name.
pub fn safe(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() { "_".into() } else { out }
}

/// Renders one target x op of one phase as an interval log.
pub fn render(
    r: &RunResult,
    p: &PhaseResult,
    t: &TargetPhaseResult,
    op: &str,
) -> anyhow::Result<Vec<u8>> {
    let base = humantime::parse_rfc3339_weak(&r.started_at).unwrap_or(SystemTime::UNIX_EPOCH);
    let mut out = Vec::new();
    let mut ser = V2DeflateSerializer::new();
    let mut b = IntervalLogWriterBuilder::new();
    b.add_comment(&format!(
        "s3bench {} run {} phase {} target {} op {}: latency in nanoseconds",
        r.s3bench_version, r.run_id, p.name, t.target, op
    ))
    .with_base_time(base)
    .with_start_time(base)
    // Java tools show values divided by this: 1e6 gives milliseconds.
    .with_max_value_divisor(1e6);
    let seconds: Vec<_> = t.timeseries.iter().filter(|s| s.op == op).collect();
    let per_second = !seconds.is_empty() && seconds.iter().all(|s| s.histogram.is_some());
    {
        let mut w = b.begin_log_with(&mut out, &mut ser)?;
        let tag = Tag::new(op);
        if per_second {
            w.write_comment(
                "One interval per measured second; timestamps count measured seconds of all rounds back to back (warm-up excluded).",
            )?;
            // Rounds are back to back in the log: round 2 second 0 follows
            // round 1's last second.
            let mut offset = 0u64;
            let mut round = seconds[0].round;
            let mut round_len = 0u64;
            for s in &seconds {
                if s.round != round {
                    offset += round_len;
                    round = s.round;
                    round_len = 0;
                }
                round_len = round_len.max(u64::from(s.second) + 1);
                let h = codec::decode(s.histogram.as_deref().unwrap_or_default()).with_context(
                    || {
                        format!(
                            "per-second histogram of op {op}, round {}, second {}",
                            s.round, s.second
                        )
                    },
                )?;
                w.write_histogram(
                    &h,
                    Duration::from_secs(offset + u64::from(s.second)),
                    Duration::from_secs(1),
                    tag,
                )
                .map_err(|e| anyhow::anyhow!("cannot write interval: {e:?}"))?;
            }
        } else {
            w.write_comment(
                "This result has no per-second histograms: one interval spans the phase's measured time.",
            )?;
            let o = t.ops.get(op).with_context(|| format!("no op {op}"))?;
            let h: Histogram<u64> = codec::decode(&o.histograms.latency)
                .with_context(|| format!("latency histogram of op {op}"))?;
            w.write_histogram(
                &h,
                Duration::ZERO,
                Duration::from_secs_f64(t.elapsed_s.max(0.0)),
                tag,
            )
            .map_err(|e| anyhow::anyhow!("cannot write interval: {e:?}"))?;
        }
    }
    Ok(out)
}

/// Writes every measured op's interval log into `dir`; returns the files.
pub fn write_all(r: &RunResult, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for p in &r.phases {
        for t in &p.targets {
            for (op, o) in &t.ops {
                if o.count == 0 || o.histograms.latency.is_empty() {
                    continue;
                }
                let bytes = render(r, p, t, op).with_context(|| {
                    format!(
                        "interval log of phase {} target {} op {op}",
                        p.name, t.target
                    )
                })?;
                let path = dir.join(hlog_name(&p.name, &t.target, op));
                super::write_atomic(&path, &bytes)?;
                written.push(path);
            }
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::sample_result;
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    fn read_back(bytes: &[u8]) -> Vec<(Duration, Histogram<u64>)> {
        let mut d = Deserializer::new();
        IntervalLogIterator::new(bytes)
            .filter_map(|e| match e.expect("the crate's reader parses the log") {
                LogEntry::Interval(i) => Some(i),
                _ => None,
            })
            .map(|i| {
                use base64::Engine as _;
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(i.encoded_histogram())
                    .unwrap();
                let h: Histogram<u64> = d.deserialize(&mut raw.as_slice()).unwrap();
                (i.start_timestamp(), h)
            })
            .collect()
    }

    #[test]
    fn hlog_round_trips_per_second_counts() {
        let r = sample_result();
        let p = &r.phases[1];
        let t = &p.targets[0];
        let bytes = render(&r, p, t, "get").unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("#[BaseTime: "), "{text}");
        let back = read_back(&bytes);
        let rows: Vec<_> = t.timeseries.iter().filter(|s| s.op == "get").collect();
        assert_eq!(back.len(), rows.len());
        assert!(rows.len() >= 10, "2 rounds x 5 s");
        for (i, ((start, h), row)) in back.iter().zip(&rows).enumerate() {
            assert_eq!(h.len(), row.count, "second {i}");
            assert_eq!(*start, Duration::from_secs(i as u64), "rounds back to back");
        }
        // Sum of intervals = the op's whole histogram.
        let total = codec::decode(&t.ops["get"].histograms.latency).unwrap();
        let mut sum = Histogram::<u64>::new(3).unwrap();
        for (_, h) in &back {
            sum.add(h).unwrap();
        }
        assert_eq!(sum.len(), total.len());
        assert_eq!(sum.value_at_quantile(0.99), total.value_at_quantile(0.99));
    }

    #[test]
    fn hlog_without_per_second_histograms_has_one_interval() {
        let mut r = sample_result();
        for s in &mut r.phases[1].targets[1].timeseries {
            s.histogram = None;
        }
        let p = &r.phases[1];
        let t = &p.targets[1];
        let back = read_back(&render(&r, p, t, "put").unwrap());
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].1.len(), t.ops["put"].count);
    }

    #[test]
    fn hlog_files_are_written_per_target_and_op() {
        let dir = tempfile::tempdir().unwrap();
        let r = sample_result();
        let files = write_all(&r, dir.path()).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.contains(&"mixed.standard.get.hlog".to_string()),
            "{names:?}"
        );
        assert!(
            names.contains(&"mixed.express.get.hlog".to_string()),
            "{names:?}"
        );
        assert_eq!(hlog_name("a/../b", "t", "get"), "a____b.t.get.hlog");
    }
}
