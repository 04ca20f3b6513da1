//! `README.md` of an output directory: an index of the runs in it, rebuilt
//! from each folder's `result.json` every time a run publishes there (so
//! deleting a folder and publishing again fixes the index; nothing is
//! appended to).

use std::path::Path;

use anyhow::Context as _;

use crate::report::headline::headline;
use crate::report::model::RunResult;
use crate::report::table::Table;
use crate::report::{REPORT_FILE, RESULT_FILE, json};

/// File name of the index inside the output directory.
pub const INDEX_FILE: &str = "README.md";

/// One run folder as the index lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexRow {
    pub folder: String,
    pub result: RunResult,
}

/// Folders whose result.json could not be read: (folder, why).
pub type Unreadable = Vec<(String, String)>;

/// Reads every `<out_base>/<folder>/result.json`; folders without one are
/// skipped, folders whose result cannot be read are returned by name.
pub fn scan(out_base: &Path) -> anyhow::Result<(Vec<IndexRow>, Unreadable)> {
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    let entries = std::fs::read_dir(out_base)
        .with_context(|| format!("cannot list {}", out_base.display()))?;
    for e in entries {
        let e = e.with_context(|| format!("cannot list {}", out_base.display()))?;
        let path = e.path().join(RESULT_FILE);
        if !e.path().is_dir() || !path.is_file() {
            continue;
        }
        let folder = e.file_name().to_string_lossy().into_owned();
        match json::read_result(&path) {
            Ok(result) => rows.push(IndexRow { folder, result }),
            Err(err) => bad.push((folder, format!("{err:#}"))),
        }
    }
    // Newest first; the folder name breaks ties so the order is stable.
    rows.sort_by(|a, b| {
        b.result
            .started_at
            .cmp(&a.result.started_at)
            .then_with(|| a.folder.cmp(&b.folder))
    });
    bad.sort();
    Ok((rows, bad))
}

/// The index as Markdown.
pub fn render(rows: &[IndexRow], bad: &[(String, String)]) -> String {
    let mut md = String::from("# s3bench results\n\n");
    md.push_str(
        "Rebuilt from each folder's result.json whenever s3bench publishes a run here; \
         do not edit by hand.\n\n",
    );
    if rows.is_empty() {
        md.push_str("No runs yet.\n");
    } else {
        let mut t = Table::text(["date (UTC)", "scenario", "targets", "headline", "report"]);
        for r in rows {
            let res = &r.result;
            let targets: Vec<String> = res
                .targets
                .iter()
                .map(|t| format!("{} ({})", t.name, t.kind))
                .collect();
            let mut notes = Vec::new();
            if !res.complete {
                notes.push("**incomplete**".to_string());
            }
            if res.embedded {
                notes.push("embedded endpoint".to_string());
            }
            let lines = headline(res);
            let head = if lines.is_empty() {
                "-".to_string()
            } else {
                lines.join("<br>")
            };
            let head = if notes.is_empty() {
                head
            } else {
                format!("{} {head}", notes.join(", "))
            };
            let link = format!("[{}]({}/{REPORT_FILE})", r.folder, url_path(&r.folder));
            t.push([
                res.started_at
                    .replace('T', " ")
                    .trim_end_matches('Z')
                    .to_string(),
                cell(&res.scenario),
                cell(&targets.join(", ")),
                cell(&head),
                link,
            ]);
        }
        md.push_str(&t.render());
    }
    if !bad.is_empty() {
        md.push_str("\nFolders whose result.json could not be read:\n\n");
        for (folder, why) in bad {
            md.push_str(&format!("- `{folder}`: {}\n", cell(why)));
        }
    }
    md
}

/// A table cell on one line with no column breaks.
fn cell(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// Folder names are run ids (letters, digits, - _ .); escape anything else
/// so a link still works.
fn url_path(folder: &str) -> String {
    percent_encoding::utf8_percent_encode(folder, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%2D", "-")
        .replace("%5F", "_")
        .replace("%2E", ".")
}

/// Rebuilds `<out_base>/README.md` from the run folders in it.
pub fn rebuild_index(out_base: &Path) -> anyhow::Result<()> {
    let (rows, bad) = scan(out_base)?;
    super::write_atomic(&out_base.join(INDEX_FILE), render(&rows, &bad).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{interrupted_result, rerun_result, sample_result};

    #[test]
    fn index_is_rebuilt_from_the_folders() {
        let base = tempfile::tempdir().unwrap();
        for r in [sample_result(), rerun_result(), interrupted_result()] {
            let dir = crate::report::prepare_out_dir(base.path(), &r.run_id).unwrap();
            std::fs::write(dir.join(RESULT_FILE), json::to_json(&r)).unwrap();
        }
        std::fs::create_dir(base.path().join("empty")).unwrap();
        let broken = base.path().join("broken");
        std::fs::create_dir(&broken).unwrap();
        std::fs::write(broken.join(RESULT_FILE), "{").unwrap();
        rebuild_index(base.path()).unwrap();
        let md = std::fs::read_to_string(base.path().join(INDEX_FILE)).unwrap();
        let rows: Vec<&str> = md.lines().filter(|l| l.contains("report.md)")).collect();
        assert_eq!(rows.len(), 3, "{md}");
        // Newest first.
        assert!(rows[0].contains(&rerun_result().run_id), "{md}");
        assert!(rows[1].contains("13:00:00"), "{md}");
        assert!(rows[1].contains("**incomplete**"), "{md}");
        assert!(rows[2].contains("Express p50 74% lower"), "{md}");
        assert!(md.contains("`broken`"), "{md}");
        assert!(!md.contains("`empty`"), "{md}");

        // Delete a folder, rebuild: its row is gone (nothing was appended).
        std::fs::remove_dir_all(base.path().join(rerun_result().run_id)).unwrap();
        rebuild_index(base.path()).unwrap();
        let md = std::fs::read_to_string(base.path().join(INDEX_FILE)).unwrap();
        assert_eq!(
            md.lines().filter(|l| l.contains("report.md)")).count(),
            2,
            "{md}"
        );
        assert!(!md.contains(&rerun_result().run_id), "{md}");
    }

    #[test]
    fn index_of_a_missing_dir_fails_clearly() {
        let base = tempfile::tempdir().unwrap();
        let e = format!(
            "{:#}",
            rebuild_index(&base.path().join("nope")).unwrap_err()
        );
        assert!(e.contains("cannot list") && e.contains("nope"), "{e}");
    }
}
