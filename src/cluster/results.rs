//! Results in S3: each shard uploads its output directory to
//! `s3://BUCKET/PREFIX/<run id>/shard-<i>/` when it finishes (complete or
//! interrupted), and `s3bench merge s3://BUCKET/PREFIX/<run id>/` reads
//! every shard's result.json back, merges them exactly (histograms add) and
//! lists the shards, loudly naming any that never published.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use super::S3Url;
use crate::report::model::RunResult;
use crate::report::{RESULT_FILE, json, merge};

/// Extensions of the files a run directory publishes, and their types.
const PUBLISHED: [(&str, &str); 6] = [
    ("json", "application/json"),
    ("md", "text/markdown; charset=utf-8"),
    ("svg", "image/svg+xml"),
    ("hlog", "text/plain; charset=utf-8"),
    ("csv", "text/csv; charset=utf-8"),
    ("html", "text/html; charset=utf-8"),
];

/// Where a run directory goes under `dest`: `<run id>/shard-<i>/` for a
/// shard, `<run id>/` for a single process.
pub fn shard_url(dest: &S3Url, run_id: &str, shard: Option<u32>) -> S3Url {
    let run = dest.join(run_id);
    match shard {
        Some(i) => run.join(&format!("shard-{i}")),
        None => run,
    }
}

/// Uploads a run's output directory (its result.json says which run and
/// shard it is) to [`shard_url`] under `dest`. result.json goes last, so a
/// reader that sees it sees the report and plots too. Returns the keys
/// written.
pub async fn upload_dir(
    client: &Client,
    dest: &S3Url,
    local_dir: &Path,
) -> anyhow::Result<Vec<String>> {
    let result = json::read_result(&local_dir.join(RESULT_FILE))?;
    let shard = result.hosts.first().and_then(|h| h.shard);
    let to = shard_url(dest, &result.run_id, shard);
    upload_files(client, &to, local_dir).await
}

/// Uploads the published files of `local_dir` (and its subdirectories, as
/// relative keys) under `to`, result.json last.
pub async fn upload_files(
    client: &Client,
    to: &S3Url,
    local_dir: &Path,
) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    collect(local_dir, local_dir, 0, &mut files)?;
    // Last: result.json at the top, the file readers wait for.
    files.sort_by_key(|(rel, _)| rel == RESULT_FILE);
    if !files.iter().any(|(rel, _)| rel == RESULT_FILE) {
        bail!("{} has no {RESULT_FILE} to upload", local_dir.display());
    }
    let mut keys = Vec::new();
    for (rel, path) in files {
        let key = to.key(&rel);
        let ct = content_type(&rel);
        let body = ByteStream::from_path(&path)
            .await
            .with_context(|| format!("cannot read {}", path.display()))?;
        client
            .put_object()
            .bucket(&to.bucket)
            .key(&key)
            .content_type(ct)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
                )
            })
            .with_context(|| {
                format!(
                    "cannot upload {} to s3://{}/{key}",
                    path.display(),
                    to.bucket
                )
            })?;
        keys.push(key);
    }
    Ok(keys)
}

fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("");
    PUBLISHED
        .iter()
        .find(|(e, _)| *e == ext)
        .map(|(_, ct)| *ct)
        .unwrap_or("application/octet-stream")
}

fn collect(
    root: &Path,
    dir: &Path,
    depth: usize,
    out: &mut Vec<(String, PathBuf)>,
) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for e in entries {
        let e = e.with_context(|| format!("cannot read {}", dir.display()))?;
        let path = e.path();
        let ft = e.file_type()?;
        if ft.is_dir() && depth < 3 {
            collect(root, &path, depth + 1, out)?;
        } else if ft.is_file() {
            let rel = path
                .strip_prefix(root)
                .expect("walked from root")
                .to_string_lossy()
                .replace('\\', "/");
            let ext = rel.rsplit('.').next().unwrap_or("");
            if PUBLISHED.iter().any(|(e, _)| *e == ext) {
                out.push((rel, path));
            }
        }
    }
    Ok(())
}

/// One shard's result as read back from S3.
#[derive(Debug, Clone)]
pub struct ShardResult {
    pub index: u32,
    pub key: String,
    pub result: RunResult,
}

/// Shard indexes that have a result.json under `run` (`.../<run id>/`).
pub async fn list_shards(client: &Client, run: &S3Url) -> anyhow::Result<Vec<(u32, String)>> {
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket(&run.bucket)
            .prefix(&run.prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
                )
            })
            .with_context(|| format!("cannot list {run}"))?;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            let Some(rest) = key.strip_prefix(run.prefix.as_str()) else {
                continue;
            };
            let index = rest
                .strip_prefix("shard-")
                .and_then(|r| r.strip_suffix(&format!("/{RESULT_FILE}")))
                .and_then(|i| i.parse::<u32>().ok());
            if let Some(i) = index {
                found.push((i, key.to_string()));
            }
        }
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => break,
        }
    }
    found.sort();
    Ok(found)
}

/// Waits up to `wait` until shards `0..expected` all have a result.json
/// (polling every `poll`), then reads every result found: on timeout the
/// ones that did publish, for a merge that names the missing.
pub async fn fetch_shards(
    client: &Client,
    run: &S3Url,
    expected: Option<u32>,
    wait: Duration,
    poll: Duration,
) -> anyhow::Result<Vec<ShardResult>> {
    let deadline = Instant::now() + wait;
    let found = loop {
        let found = list_shards(client, run).await?;
        let complete = match expected {
            Some(n) => (0..n).all(|i| found.iter().any(|(f, _)| *f == i)),
            None => !found.is_empty(),
        };
        if complete || Instant::now() >= deadline {
            break found;
        }
        tokio::time::sleep(poll.min(deadline.saturating_duration_since(Instant::now()))).await;
    };
    let mut out = Vec::new();
    for (index, key) in found {
        let obj = client
            .get_object()
            .bucket(&run.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
                )
            })
            .with_context(|| format!("cannot read s3://{}/{key}", run.bucket))?;
        let bytes = obj
            .body
            .collect()
            .await
            .with_context(|| format!("cannot read s3://{}/{key}", run.bucket))?
            .into_bytes();
        let text = std::str::from_utf8(&bytes)
            .with_context(|| format!("s3://{}/{key} is not UTF-8", run.bucket))?;
        let result = json::parse_result(text)
            .with_context(|| format!("s3://{}/{key} is not a result.json", run.bucket))?;
        out.push(ShardResult { index, key, result });
    }
    Ok(out)
}

/// Operations and failed operations of a result over every phase and
/// target (measured ops only). The one place that reads failure counts, so
/// a change in how the model counts failures changes only this.
pub fn op_totals(r: &RunResult) -> (u64, u64) {
    let ops = r
        .phases
        .iter()
        .flat_map(|p| p.targets.iter())
        .flat_map(|t| t.ops.values());
    ops.fold((0, 0), |(c, e), o| (c + o.count, e + o.errors))
}

/// Shard indexes in `0..expected` (or below the highest one found) that
/// have no result.
pub fn missing_shards(found: &[u32], expected: Option<u32>) -> Vec<u32> {
    let n = expected.unwrap_or_else(|| found.iter().max().map(|m| m + 1).unwrap_or(0));
    (0..n).filter(|i| !found.contains(i)).collect()
}

/// The merged result of the shards found, marked incomplete with a warning
/// when shards are missing, and the Markdown section listing the shards.
pub fn merge_shards(
    shards: &[ShardResult],
    expected: Option<u32>,
) -> anyhow::Result<(RunResult, String)> {
    if shards.is_empty() {
        bail!("no shard published a result.json: nothing to merge");
    }
    let results: Vec<RunResult> = shards.iter().map(|s| s.result.clone()).collect();
    let mut merged = merge::merge(&results)?;
    let found: Vec<u32> = shards.iter().map(|s| s.index).collect();
    let missing = missing_shards(&found, expected);
    let total = expected.unwrap_or(found.len() as u32 + missing.len() as u32);
    if let Some(n) = expected
        && let Some(extra) = found.iter().find(|i| **i >= n)
    {
        merged.warnings.insert(
            0,
            format!("shard {extra} is beyond the {n} shards expected: was --shards right?"),
        );
    }
    if !missing.is_empty() {
        merged.complete = false;
        let names = missing
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        merged.warnings.insert(
            0,
            format!(
                "MISSING SHARDS: {} of {total} shards published no result ({names}); \
                 these numbers cover only {} shards",
                missing.len(),
                found.len()
            ),
        );
        let why = format!("shards missing: {names}");
        merged.interrupted = Some(match merged.interrupted.take() {
            Some(w) => format!("{why}; {w}"),
            None => why,
        });
    }
    if let Some(w) = start_spread_warning(shards) {
        merged.warnings.push(w);
    }
    Ok((merged, shard_section(shards, &missing, total)))
}

/// Shards whose measured phases began more than this apart did not run
/// together: the merged ops/s then overstates what ran at once.
pub const START_SPREAD_WARN: Duration = Duration::from_secs(1);

/// A warning when the shards' measured phases began more than
/// [`START_SPREAD_WARN`] apart (each on its own clock, corrected by its
/// measured offset against the endpoint when it has one).
pub fn start_spread_warning(shards: &[ShardResult]) -> Option<String> {
    let starts: Vec<(u32, f64)> = shards
        .iter()
        .filter_map(|sh| {
            let h = sh.result.hosts.first()?;
            let at = humantime::parse_rfc3339_weak(h.measured_start_at.as_deref()?).ok()?;
            let ms = super::clock::unix_ms(at) + h.clock_offset.map_or(0.0, |c| c.offset_ms);
            Some((sh.index, ms))
        })
        .collect();
    let first = starts.iter().min_by(|a, b| a.1.total_cmp(&b.1))?;
    let last = starts.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
    let spread = Duration::from_secs_f64((last.1 - first.1).max(0.0) / 1000.0);
    (spread > START_SPREAD_WARN).then(|| {
        format!(
            "The shards' measured phases did not start together: shard {} began {} after shard {} \
             (by the endpoint's clock). Their load overlapped less than the merged ops/s suggests; \
             use --barrier, or check the hosts' clocks.",
            last.0,
            humantime::format_duration(Duration::from_millis(spread.as_millis() as u64)),
            first.0
        )
    })
}

/// Markdown: one row per shard (missing ones included).
pub fn shard_section(shards: &[ShardResult], missing: &[u32], total: u32) -> String {
    let mut s = String::from("\n## Shards\n\n");
    if !missing.is_empty() {
        let _ = writeln!(
            s,
            "**WARNING: {} of {total} shards are MISSING** (no result.json): {}.\n",
            missing.len(),
            missing
                .iter()
                .map(|i| format!("shard {i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    s.push_str(
        "| shard | host | state | ops | failed ops | started | measured from | finished | clock |\n",
    );
    s.push_str("|---:|---|---|---:|---:|---|---|---|---|\n");
    let mut rows: Vec<(u32, String)> = shards
        .iter()
        .map(|sh| {
            let r = &sh.result;
            let (ops, errors) = op_totals(r);
            let state = match (&r.interrupted, r.complete) {
                (_, true) => "complete".to_string(),
                (Some(w), false) => format!("PARTIAL: {w}"),
                (None, false) => "PARTIAL".to_string(),
            };
            let h = r.hosts.first();
            let host = h.map(|h| h.hostname.as_str()).unwrap_or("?");
            let measured = h
                .and_then(|h| h.measured_start_at.as_deref())
                .unwrap_or("-");
            let clock = h
                .and_then(|h| h.clock_offset)
                .map(|c| crate::report::markdown::clock_text(&c))
                .unwrap_or_else(|| "-".into());
            (
                sh.index,
                format!(
                    "| {} | {host} | {state} | {ops} | {errors} | {} | {measured} | {} | {clock} |\n",
                    sh.index, r.started_at, r.finished_at
                ),
            )
        })
        .collect();
    rows.extend(missing.iter().map(|i| {
        (
            *i,
            format!("| {i} | - | **MISSING** | - | - | - | - | - | - |\n"),
        )
    }));
    rows.sort_by_key(|(i, _)| *i);
    for (_, r) in rows {
        s.push_str(&r);
    }
    s
}

/// Where the shards' results come from.
#[derive(Debug, Clone)]
pub enum MergeSource {
    /// Local result.json files, one per shard.
    Files(Vec<PathBuf>),
    /// `s3://BUCKET/PREFIX/RUN_ID/`, under which each shard published
    /// `shard-<i>/result.json`; waiting up to `wait` for all of them.
    S3 { run: S3Url, wait: Duration },
}

/// What `s3bench merge` is asked to do.
#[derive(Debug, Clone)]
pub struct MergeOptions {
    pub source: MergeSource,
    /// Base directory for the merged report (`<out>/<run id>-merged/`).
    pub out: PathBuf,
    /// Number of shards the run had: missing ones are named in the report.
    pub shards: Option<u32>,
    /// Also upload the merged report to `<results>/<run id>/merged/`.
    pub results: Option<S3Url>,
    /// S3 endpoint override (tests, S3-compatible stores).
    pub endpoint_url: Option<String>,
    /// `--check` expressions, judged on the merged result with the shards'
    /// own checks.
    pub checks: Vec<String>,
}

/// What a merge wrote.
pub struct Merged {
    /// The merged `report.md`.
    pub report: PathBuf,
    pub result: RunResult,
    /// Where the merged report was uploaded, with `--results`.
    pub uploaded: Option<S3Url>,
    /// Shards were missing (the report names them).
    pub missing: bool,
}

/// Merges the shards of one run: writes `<out>/<run id>-merged/` and, with
/// `results`, uploads it to `<results>/<run id>/merged/`. The report is
/// written even when shards are missing.
pub async fn merge_run(o: MergeOptions) -> anyhow::Result<Merged> {
    let mut client = None;
    let shards = match &o.source {
        MergeSource::S3 { run, wait } => {
            let c = super::s3_client(o.endpoint_url.as_deref()).await;
            let found = fetch_shards(&c, run, o.shards, *wait, Duration::from_secs(5)).await?;
            client = Some(c);
            if found.is_empty() {
                bail!(
                    "no shard-<i>/result.json under {run}: nothing to merge (was the run id right?)"
                );
            }
            found
        }
        MergeSource::Files(paths) => {
            let mut out = Vec::new();
            for (i, path) in paths.iter().enumerate() {
                let result = json::read_result(path)?;
                let index = result
                    .hosts
                    .first()
                    .and_then(|h| h.shard)
                    .unwrap_or(i as u32);
                out.push(ShardResult {
                    index,
                    key: path.display().to_string(),
                    result,
                });
            }
            out
        }
    };
    let (mut merged, section) = merge_shards(&shards, o.shards)?;
    if !o.checks.is_empty() {
        // Checks given to the merge, with the shards' own (judged again on
        // the merged result by `merge`).
        let names = crate::report::checks::names_of(&merged);
        let specs = crate::report::checks::parse_flags(&o.checks, &names)
            .map_err(crate::report::checks::BadCheck)?;
        merged.checks = crate::report::checks::rejudge(&merged, &specs);
    }
    let dir = crate::report::prepare_out_dir(&o.out, &format!("{}-merged", merged.run_id))?;
    crate::report::publish(&merged, &dir)?;
    let report = dir.join(crate::report::REPORT_FILE);
    let mut md = std::fs::read_to_string(&report)
        .with_context(|| format!("cannot read back {}", report.display()))?;
    md.push_str(&section);
    std::fs::write(&report, md).with_context(|| format!("cannot write {}", report.display()))?;
    let mut uploaded = None;
    if let Some(dest) = &o.results {
        let c = match client {
            Some(c) => c,
            None => super::s3_client(o.endpoint_url.as_deref()).await,
        };
        let to = dest.join(&merged.run_id).join("merged");
        upload_files(&c, &to, &dir).await?;
        uploaded = Some(to);
    }
    Ok(Merged {
        report,
        missing: merge_missing(&merged),
        result: merged,
        uploaded,
    })
}

fn merge_missing(m: &RunResult) -> bool {
    m.warnings
        .first()
        .is_some_and(|w| w.starts_with("MISSING SHARDS"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::sample_result;

    fn shard(i: u32) -> ShardResult {
        let mut r = sample_result();
        r.hosts[0].shard = Some(i);
        ShardResult {
            index: i,
            key: format!("p/r/shard-{i}/result.json"),
            result: r,
        }
    }

    #[test]
    fn cluster_merge_marks_missing_shards_loudly() {
        let shards = vec![shard(0), shard(2)];
        let (m, md) = merge_shards(&shards, Some(4)).unwrap();
        assert!(!m.complete);
        assert!(
            m.warnings[0].starts_with("MISSING SHARDS: 2 of 4 shards published no result (1, 3)"),
            "{:?}",
            m.warnings
        );
        assert!(
            m.interrupted
                .as_deref()
                .unwrap()
                .starts_with("shards missing: 1, 3")
        );
        assert!(
            md.contains("**WARNING: 2 of 4 shards are MISSING**"),
            "{md}"
        );
        let rows: Vec<&str> = md
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| shard"))
            .collect();
        assert_eq!(rows.len(), 4, "{md}");
        assert!(rows[1].starts_with("| 1 | - | **MISSING**"), "{md}");
        let (ops, errors) = op_totals(&shards[0].result);
        assert!(rows[0].contains(&format!("| {ops} | {errors} |")), "{md}");
        assert_eq!(m.shards, 2);

        let (m, md) = merge_shards(&[shard(0), shard(1)], Some(2)).unwrap();
        assert!(m.complete && !md.contains("MISSING"), "{md}");
        assert!(merge_shards(&[], Some(2)).is_err());
        assert_eq!(missing_shards(&[0, 3], None), vec![1, 2]);
    }

    #[test]
    fn cluster_merge_warns_when_shards_did_not_start_together() {
        let at = |i: u32, start: &str, offset_ms: f64| {
            let mut s = shard(i);
            s.result.hosts[0].measured_start_at = Some(start.into());
            s.result.hosts[0].clock_offset = Some(crate::report::model::ClockOffset {
                offset_ms,
                uncertainty_ms: 20.0,
                samples: 8,
            });
            s
        };
        // 0.4 s apart on the hosts' clocks: together.
        let close = [
            at(0, "2026-12-02T10:00:03.100Z", 0.0),
            at(1, "2026-12-02T10:00:03.500Z", 0.0),
        ];
        assert_eq!(start_spread_warning(&close), None);
        // Shard 1's clock is 2 s fast (the endpoint is 2 s behind it): by the
        // endpoint's clock it began 1.6 s before shard 0.
        let skewed = [
            at(0, "2026-12-02T10:00:03.100Z", 0.0),
            at(1, "2026-12-02T10:00:03.500Z", -2000.0),
        ];
        let w = start_spread_warning(&skewed).expect("a warning");
        assert!(w.contains("shard 0 began 1s 600ms after shard 1"), "{w}");
        let (m, md) = merge_shards(&skewed, Some(2)).unwrap();
        assert!(m.warnings.contains(&w));
        assert!(md.contains("| 2026-12-02T10:00:03.500Z |"), "{md}");
        assert!(md.contains("| endpoint clock -2000 ms (±20 ms) |"), "{md}");
        // Without measured starts (phases never ran) there is nothing to say.
        assert_eq!(start_spread_warning(&[shard(0), shard(1)]), None);
    }

    #[test]
    fn cluster_shard_urls() {
        let d = S3Url::parse("s3://res/bench/").unwrap();
        assert_eq!(
            shard_url(&d, "r1", Some(2)).to_string(),
            "s3://res/bench/r1/shard-2/"
        );
        assert_eq!(shard_url(&d, "r1", None).to_string(), "s3://res/bench/r1/");
        assert_eq!(content_type("plots/get.svg"), "image/svg+xml");
    }
}
