//! Reports: the JSON result model (the contract) and its renderings.
//!
//! Everything here reads only [`model`] (plus the histogram codec and
//! summary of `stats`), so `report`, `compare` and `merge` work the same on
//! a stored `result.json` as on a fresh run.

pub mod audit;
#[cfg(test)]
mod calibration;
pub mod checkpoint;
pub mod checks;
pub mod cost;
pub mod dataloader;
pub mod decision;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod format;
pub mod gpu;
pub mod headline;
pub mod hlog;
pub mod index;
pub mod json;
pub mod loader_timeline;
pub mod markdown;
pub mod merge;
pub mod mix;
pub mod model;
pub mod plots;
pub mod prefixes;
pub mod ratio;
pub mod schema;
pub mod summary;
pub mod table;
pub mod upgrade;
pub mod usage;
pub mod verdict;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, bail};

use model::RunResult;

/// File names inside a run's output directory.
pub const RESULT_FILE: &str = "result.json";
pub const REPORT_FILE: &str = "report.md";

/// Creates `<base>/<run_id>/` and proves it is writable, so a bad output
/// path fails before a run spends time and money, not after.
pub fn prepare_out_dir(base: &Path, run_id: &str) -> anyhow::Result<PathBuf> {
    if run_id.is_empty() || run_id == "." || run_id == ".." || run_id.contains(['/', '\\']) {
        bail!("run id {run_id:?} cannot be used as a directory name");
    }
    if base.exists() && !base.is_dir() {
        bail!(
            "output path {} exists and is not a directory",
            base.display()
        );
    }
    let dir = base.join(run_id);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create output directory {}", dir.display()))?;
    let probe = dir.join(".s3bench-write-probe");
    std::fs::write(&probe, b"")
        .with_context(|| format!("output directory {} is not writable", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(dir)
}

/// Writes `result.json`, then `report.md` with its SVG plots and the `.hlog`
/// interval logs, each file atomically, then rebuilds the index
/// (`README.md`) of the directory above. Called after every phase, so an
/// interrupted run still leaves the phases it finished; a crash mid-write
/// leaves the previous complete files in place. `run`, `merge` and
/// `report` all come through here (or [`render_into`]), so they write the
/// same files from the same JSON.
pub fn publish(r: &RunResult, dir: &Path) -> anyhow::Result<()> {
    write_atomic(&dir.join(RESULT_FILE), json::to_json(r).as_bytes())?;
    render_into(r, &dir.join(REPORT_FILE))?;
    hlog::write_all(r, dir)?;
    if let Some(base) = dir.parent().filter(|b| !b.as_os_str().is_empty()) {
        index::rebuild_index(base)?;
    }
    Ok(())
}

/// Writes the Markdown report to `report` and its plots next to it, and
/// with checks their JUnit XML (`checks.junit.xml`).
pub fn render_into(r: &RunResult, report: &Path) -> anyhow::Result<()> {
    write_atomic(report, markdown::render(r).as_bytes())?;
    let dir = match report.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    plots::write_all(r, dir)?;
    if !r.checks.is_empty() {
        write_atomic(&dir.join(checks::JUNIT_FILE), checks::junit(r).as_bytes())?;
    }
    Ok(())
}

/// Renders a stored result again (e.g. after upgrading s3bench). Writes to
/// `out` (a file, or a directory to put `report.md` in), by default next to
/// the result. Returns the path written.
pub fn rerender(result_json: &Path, out: Option<&Path>) -> anyhow::Result<PathBuf> {
    let r = json::read_result(result_json)?;
    rerender_result(&r, result_json, out)
}

/// [`rerender`] of a result already read from `result_json`.
pub fn rerender_result(
    r: &RunResult,
    result_json: &Path,
    out: Option<&Path>,
) -> anyhow::Result<PathBuf> {
    let dest = report_path(result_json, out)?;
    render_into(r, &dest)?;
    Ok(dest)
}

/// Where `report` writes: into `out` when it names a directory (created
/// when missing), at `out` when it names a .md file, else next to the result.
fn report_path(result_json: &Path, out: Option<&Path>) -> anyhow::Result<PathBuf> {
    Ok(match out {
        Some(p) if out_is_dir(p) => {
            std::fs::create_dir_all(p)
                .with_context(|| format!("cannot create output directory {}", p.display()))?;
            p.join(REPORT_FILE)
        }
        Some(p) => p.to_path_buf(),
        None => match result_json.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.join(REPORT_FILE),
            _ => PathBuf::from(REPORT_FILE),
        },
    })
}

/// [`rerender_result`], judging the result again on its own checks plus
/// `checks` (`--check` expressions; a bad one is a [`checks::BadCheck`]),
/// and pricing idle accelerator time at `gpu_hour` (`report --gpu-hour`)
/// in place of the price the result carries, if any.
/// Returns the path written and whether every check passed.
pub fn rerender_judged(
    mut r: RunResult,
    result_json: &Path,
    out: Option<&Path>,
    check_flags: &[String],
    gpu_hour: Option<f64>,
) -> anyhow::Result<(PathBuf, bool)> {
    if gpu_hour.is_some() {
        r.gpu_hour_usd = gpu_hour;
    }
    let specs =
        checks::parse_flags(check_flags, &checks::names_of(&r)).map_err(checks::BadCheck)?;
    r.checks = checks::rejudge(&r, &specs);
    let dest = rerender_result(&r, result_json, out)?;
    Ok((dest, checks::all_passed(&r.checks)))
}

/// [`compare_results`], with B judged on `checks` (`--check` expressions)
/// in a section of its own. Returns the Markdown and whether every check passed.
pub fn compare_judged(
    ra: &RunResult,
    mut rb: RunResult,
    a: &Path,
    b: &Path,
    check_flags: &[String],
) -> anyhow::Result<(String, bool)> {
    let mut md = compare_results(ra, &rb, a, b);
    if check_flags.is_empty() {
        return Ok((md, true));
    }
    let specs =
        checks::parse_flags(check_flags, &checks::names_of(&rb)).map_err(checks::BadCheck)?;
    rb.checks = checks::judge(&specs, &rb);
    let section = checks::section(&rb);
    md.push('\n');
    md.push_str(&section.replacen("## Checks", &format!("## Checks of B ({})", b.display()), 1));
    Ok((md, checks::all_passed(&rb.checks)))
}

/// Whether `report --out PATH` names a directory (report.md and its plots
/// go in it, created when missing): an existing directory, a path ending in
/// `/`, or any path that does not end in `.md` (a file name the user chose).
fn out_is_dir(p: &Path) -> bool {
    p.is_dir()
        || p.as_os_str().to_string_lossy().ends_with(['/', '\\'])
        || p.extension().is_none_or(|e| !e.eq_ignore_ascii_case("md"))
}

/// Markdown comparing two stored results op by op (B relative to A).
pub fn compare_files(a: &Path, b: &Path) -> anyhow::Result<String> {
    let ra = json::read_result(a)?;
    let rb = json::read_result(b)?;
    Ok(compare_results(&ra, &rb, a, b))
}

/// The measured phases (by name) both results have, in A's order: what a
/// comparison compares. Empty for two runs of unrelated scenarios, whose
/// only common phases are prepare and cleanup.
pub fn measured_in_common(a: &RunResult, b: &RunResult) -> Vec<String> {
    a.phases
        .iter()
        .filter(|p| p.is_measured())
        .filter(|p| b.phases.iter().any(|q| q.is_measured() && q.name == p.name))
        .map(|p| p.name.clone())
        .collect()
}

/// The measured phases of `r` by name, for saying what each side has.
pub fn measured_names(r: &RunResult) -> Vec<String> {
    r.phases
        .iter()
        .filter(|p| p.is_measured())
        .map(|p| p.name.clone())
        .collect()
}

/// [`compare_files`] of two results already read from `a` and `b`.
pub fn compare_results(ra: &RunResult, rb: &RunResult, a: &Path, b: &Path) -> String {
    let body =
        markdown::render_comparison(ra, rb, &a.display().to_string(), &b.display().to_string());
    // Each run's own headline goes under the title, above the comparison.
    let (title, rest) = body.split_once("\n\n").unwrap_or((body.as_str(), ""));
    let mut md = format!("{title}\n\n");
    for (label, r, path) in [("A", ra, a), ("B", rb, b)] {
        let head = headline::headline(r);
        if !head.is_empty() {
            md.push_str(&format!("Headline of {label} ({}):\n\n", path.display()));
            for h in head {
                md.push_str(&format!("- {h}\n"));
            }
            md.push('\n');
        }
    }
    md.push_str(rest);
    md
}

/// Writes via a temporary file in the same directory and a rename, so
/// readers see either the old file or the new one, never half of one.
fn write_atomic(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?
        .to_string_lossy();
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{seq}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    // Make the rename itself durable; best effort, as not every file system
    // lets a directory be synced.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{injected_result, sample_result};

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn prepare_creates_run_dir_and_leaves_no_probe() {
        let base = tempfile::tempdir().unwrap();
        let nested = base.path().join("results");
        let dir = prepare_out_dir(&nested, "run-1").unwrap();
        assert_eq!(dir, nested.join("run-1"));
        assert!(dir.is_dir());
        assert!(files(&dir).is_empty(), "{:?}", files(&dir));
        // Again: an existing directory is fine.
        assert_eq!(prepare_out_dir(&nested, "run-1").unwrap(), dir);
    }

    #[test]
    fn prepare_fails_when_base_is_a_file() {
        let base = tempfile::tempdir().unwrap();
        let file = base.path().join("results");
        std::fs::write(&file, "x").unwrap();
        let e = format!("{:#}", prepare_out_dir(&file, "run-1").unwrap_err());
        assert!(e.contains("exists and is not a directory"), "{e}");
        let e = format!(
            "{:#}",
            prepare_out_dir(&file.join("deeper"), "run-1").unwrap_err()
        );
        assert!(e.contains("cannot create output directory"), "{e}");
    }

    #[test]
    fn prepare_rejects_run_ids_that_escape_the_base() {
        let base = tempfile::tempdir().unwrap();
        for bad in ["", ".", "..", "a/b", "..\\x"] {
            assert!(prepare_out_dir(base.path(), bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn publish_writes_both_files_and_can_repeat() {
        let base = tempfile::tempdir().unwrap();
        let dir = prepare_out_dir(base.path(), "run").unwrap();
        let mut r = sample_result();
        r.phases.truncate(1);
        publish(&r, &dir).unwrap();
        assert_eq!(json::read_result(&dir.join(RESULT_FILE)).unwrap(), r);
        let full = sample_result();
        publish(&full, &dir).unwrap();
        assert_eq!(json::read_result(&dir.join(RESULT_FILE)).unwrap(), full);
        let md = std::fs::read_to_string(dir.join(REPORT_FILE)).unwrap();
        assert_eq!(md, markdown::render(&full));
        let names = files(&dir);
        assert!(
            names.iter().all(|n| !n.starts_with('.')),
            "no temp files left behind: {names:?}"
        );
        for want in [
            REPORT_FILE,
            RESULT_FILE,
            "timeseries-mixed.svg",
            "mixed.express.get.hlog",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
        }
        // Every plot the report links is there.
        for f in plots::plan(&full) {
            assert!(md.contains(&format!("]({})", f.file)), "{}", f.file);
            assert!(names.contains(&f.file), "{} missing", f.file);
        }
        // The index of the base directory lists the run.
        let index = std::fs::read_to_string(base.path().join(index::INDEX_FILE)).unwrap();
        assert!(index.contains("(run/report.md)"), "{index}");
    }

    #[test]
    fn publish_into_a_missing_dir_fails_clearly() {
        let base = tempfile::tempdir().unwrap();
        let e = format!(
            "{:#}",
            publish(&sample_result(), &base.path().join("gone")).unwrap_err()
        );
        assert!(
            e.contains("cannot write") && e.contains("result.json"),
            "{e}"
        );
    }

    #[test]
    fn rerender_writes_next_to_the_result_or_where_asked() {
        let base = tempfile::tempdir().unwrap();
        let json_path = base.path().join(RESULT_FILE);
        let r = injected_result();
        std::fs::write(&json_path, json::to_json(&r)).unwrap();

        let written = rerender(&json_path, None).unwrap();
        assert_eq!(written, base.path().join(REPORT_FILE));
        assert_eq!(
            std::fs::read_to_string(&written).unwrap(),
            markdown::render(&r)
        );

        let out = base.path().join("custom.md");
        assert_eq!(rerender(&json_path, Some(&out)).unwrap(), out);
        assert!(
            std::fs::read_to_string(&out)
                .unwrap()
                .contains("Model, not S3")
        );

        let sub = base.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        assert_eq!(
            rerender(&json_path, Some(&sub)).unwrap(),
            sub.join(REPORT_FILE)
        );

        // A directory that does not exist yet, with or without a slash:
        // created, report.md and the plots go in it (never a file named
        // like the directory, never plots in the working directory).
        for name in ["newdir", "other/"] {
            let d = base.path().join(name);
            let written = rerender(&json_path, Some(&d)).unwrap();
            assert_eq!(written, d.join(REPORT_FILE), "{name}");
            assert!(d.is_dir() && written.is_file(), "{name}");
            let svgs = std::fs::read_dir(&d)
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "svg")
                })
                .count();
            let md = std::fs::read_to_string(&written).unwrap();
            assert_eq!(svgs, md.matches(".svg)").count(), "{name}: {md}");
        }

        let e = format!(
            "{:#}",
            rerender(&base.path().join("custom.md"), None).unwrap_err()
        );
        assert!(
            e.contains("custom.md") && e.contains("not valid JSON"),
            "{e}"
        );
    }

    #[test]
    fn compare_files_reports_ratios_per_op() {
        let base = tempfile::tempdir().unwrap();
        let a = base.path().join("a.json");
        let b = base.path().join("b.json");
        std::fs::write(&a, json::to_json(&sample_result())).unwrap();
        std::fs::write(&b, json::to_json(&sample_result())).unwrap();
        let same = compare_files(&a, &b).unwrap();
        assert!(same.contains("a.json") && same.contains("b.json"), "{same}");
        assert!(same.contains("## Phase mixed"), "{same}");
        let cells = |md: &str| -> Vec<String> {
            let row = md
                .lines()
                .find(|l| l.starts_with("| express ") && l.contains("| get "))
                .unwrap_or_else(|| panic!("{md}"));
            row.split('|')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect()
        };
        // target, op, p50 A, p50 B, p50 B/A, CI, p99 A, p99 B, p99 B/A, ops A, ops B, ops B/A
        let row = cells(&same);
        assert_eq!(row.len(), 12, "{row:?}");
        assert_eq!(
            [&row[4], &row[8], &row[11]],
            ["1.00", "1.00", "1.00"],
            "{row:?}"
        );
        assert!(
            row[5].ends_with("noise"),
            "identical runs are within noise: {row:?}"
        );

        // B: every latency doubled (as a slower network would).
        let mut slow = sample_result();
        for p in &mut slow.phases {
            for t in &mut p.targets {
                for o in t.ops.values_mut() {
                    o.latency_us.p50 *= 2.0;
                    o.latency_us.p99 *= 2.0;
                }
            }
        }
        std::fs::write(&b, json::to_json(&slow)).unwrap();
        let row = cells(&compare_files(&a, &b).unwrap());
        assert_eq!(
            [&row[4], &row[8], &row[11]],
            ["2.00", "2.00", "1.00"],
            "{row:?}"
        );

        std::fs::write(&b, "{}").unwrap();
        let e = format!("{:#}", compare_files(&a, &b).unwrap_err());
        assert!(e.contains("b.json"), "{e}");
    }
}
