//! `s3bench import FORMAT FILE... --out SCENARIO.toml [--replay]`: a
//! scenario derived from a user's own traffic (S3 server access logs,
//! CloudTrail data events, or s3bench's op log), so the General Purpose vs
//! Express question is answered for their workload.
//!
//! The files stream through once, in bounded memory: each record becomes an
//! [`event::Event`], folded into a [`Profile`] (counts, sizes, key shape,
//! per-second rate, server latency); with `--replay`, object requests are
//! also spooled (in sorted runs on disk past a million) for the schedule.
//! Nothing is written when anything fails: the scenario and its sidecar are
//! written under temporary names, validated, and renamed last.

pub mod event;
pub mod formats;
pub mod keys;
mod profile;
mod spool;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, bail};

pub use profile::Profile;

/// The formats `import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// S3 server access logs: the space-delimited text S3 delivers to a
    /// bucket, or the JSON records CloudWatch Logs delivers.
    AccessLog,
    /// CloudTrail data events (`{"Records": [...]}` files, gzip or not).
    Cloudtrail,
    /// s3bench's own `run --op-log` file.
    OpLog,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::AccessLog => "access-log",
            Format::Cloudtrail => "cloudtrail",
            Format::OpLog => "op-log",
        }
    }
}

/// What `import` does.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub format: Format,
    pub files: Vec<PathBuf>,
    /// The scenario to write.
    pub out: PathBuf,
    /// Also write the replay schedule and a phase that replays it.
    pub replay: bool,
    /// Progress bar on stderr (shown only on a terminal).
    pub progress: bool,
}

/// What an import wrote.
#[derive(Debug)]
pub struct Imported {
    pub scenario: PathBuf,
    pub schedule: Option<PathBuf>,
    pub requests: u64,
    pub replayed: u64,
}

/// A file in another format than the one asked for, or unreadable input:
/// the user's input, exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ImportError(pub String);

/// Counts bytes read, for the progress bar.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens a file, gzip or not (told by its first two bytes).
fn open(path: &Path, read: &Arc<AtomicU64>) -> anyhow::Result<Box<dyn BufRead>> {
    let mut f = std::fs::File::open(path)
        .map_err(|e| ImportError(format!("cannot read {}: {e}", path.display())))?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic).unwrap_or(0);
    drop(f);
    let f = std::fs::File::open(path)
        .map_err(|e| ImportError(format!("cannot read {}: {e}", path.display())))?;
    let counted = Counting {
        inner: f,
        read: read.clone(),
    };
    Ok(if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::read::MultiGzDecoder::new(counted),
        ))
    } else {
        Box::new(BufReader::with_capacity(1 << 16, counted))
    })
}

/// Lines that must parse before a file counts as in the format asked for.
const SNIFF: u64 = 20;

/// Reads every file into the profile (and the spool).
fn read_all(opts: &ImportOptions, p: &mut Profile) -> anyhow::Result<()> {
    let total: u64 = opts
        .files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    let bar = if opts.progress {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let read = Arc::new(AtomicU64::new(0));
    for file in &opts.files {
        bar.set_message(
            file.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        );
        let mut r = open(file, &read)?;
        let tick = |bar: &indicatif::ProgressBar| bar.set_position(read.load(Ordering::Relaxed));
        match opts.format {
            Format::AccessLog => {
                let mut line = String::new();
                let (mut no, mut good) = (0u64, 0u64);
                while formats::read_line(&mut r, &mut line)
                    .map_err(|e| ImportError(format!("{}: {e}", file.display())))?
                {
                    no += 1;
                    if line.trim().is_empty() {
                        continue;
                    }
                    match formats::access_log_any(&line) {
                        Ok(e) => {
                            good += 1;
                            p.add(&e)?;
                        }
                        Err(formats::Skip::Malformed) => {
                            if good == 0 && no >= SNIFF {
                                return Err(not_access_log(file).into());
                            }
                            p.malformed(file, no);
                        }
                        Err(formats::Skip::Other(why)) => p.skipped(why),
                    }
                    if no.is_multiple_of(4096) {
                        tick(&bar);
                    }
                }
                if good == 0 && no > 0 {
                    return Err(not_access_log(file).into());
                }
            }
            Format::Cloudtrail => {
                let mut err = None;
                let res = formats::cloudtrail_stream(&mut r, &mut |v| {
                    if err.is_some() {
                        return;
                    }
                    match formats::cloudtrail_record(v) {
                        Ok(e) => {
                            if let Err(x) = p.add(&e) {
                                err = Some(x);
                            }
                        }
                        Err(formats::Skip::Malformed) => p.malformed(file, 0),
                        Err(formats::Skip::Other(why)) => p.skipped(why),
                    }
                    if p.requests.is_multiple_of(4096) {
                        tick(&bar);
                    }
                });
                if let Some(e) = err {
                    return Err(e);
                }
                res.map_err(|e| {
                    ImportError(format!(
                        "{} is not a CloudTrail log file: expected JSON {{\"Records\": [...]}} as CloudTrail writes to S3 (gzip or not), but {e}",
                        file.display()
                    ))
                })?;
            }
            Format::OpLog => {
                let mut csv = crate::oplog::read::CsvReader::new(r);
                let mut fields = Vec::new();
                let bad = |why: String| {
                    ImportError(format!(
                        "{} is not an s3bench op log: expected the gzip CSV `s3bench run --op-log` writes (header `{}`...): {why}",
                        file.display(),
                        crate::oplog::COLUMNS[..4].join(",")
                    ))
                };
                if !csv
                    .next_record(&mut fields)
                    .map_err(|e| bad(e.to_string()))?
                {
                    return Err(bad("the file is empty".into()).into());
                }
                let header = crate::oplog::read::Header::parse(&fields).map_err(bad)?;
                while csv
                    .next_record(&mut fields)
                    .map_err(|e| ImportError(format!("{}: {e}", file.display())))?
                {
                    match header.row(&fields) {
                        Ok(row) => p.add_op_log_row(&row)?,
                        Err(_) => p.malformed(file, csv.line_no),
                    }
                    if csv.line_no.is_multiple_of(4096) {
                        tick(&bar);
                    }
                }
            }
        }
        tick(&bar);
    }
    bar.finish_and_clear();
    Ok(())
}

fn not_access_log(file: &Path) -> ImportError {
    ImportError(format!(
        "{} is not an S3 server access log: expected space-delimited records like \
         `OWNER BUCKET [06/Feb/2019:00:00:38 +0000] IP REQUESTER REQUEST-ID REST.GET.OBJECT KEY \"GET /KEY HTTP/1.1\" 200 - BYTES SIZE MS MS ...`, \
         or the JSON records CloudWatch Logs delivers (with `operation` and `request_time`)",
        file.display()
    ))
}

/// Runs an import; nothing is written unless all of it succeeds.
pub fn import(opts: &ImportOptions) -> anyhow::Result<Imported> {
    if opts.files.is_empty() {
        bail!(ImportError("no input files".into()));
    }
    if opts.out.extension().is_none_or(|e| e != "toml") {
        bail!(ImportError(format!(
            "--out {}: expected a scenario file name ending in .toml",
            opts.out.display()
        )));
    }
    let name = opts
        .out
        .file_stem()
        .map_or_else(|| "imported".into(), |s| s.to_string_lossy().into_owned());
    let mut p = Profile::new(opts.format, opts.replay)?;
    read_all(opts, &mut p)?;
    if p.object_requests() == 0 {
        bail!(ImportError(format!(
            "no object requests (GET, PUT, HEAD, LIST, DELETE, copy, multipart) in {}: {}",
            opts.files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            p.seen_summary()
        )));
    }
    let sidecar_name = format!("{name}.replay.csv.gz");
    let derived = p.derive(opts, &name)?;
    let dir = opts.out.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let tmp_toml = dir.join(format!(".{name}.toml.tmp"));
    let tmp_sidecar = dir.join(format!(".{sidecar_name}.tmp"));
    let cleanup = || {
        let _ = std::fs::remove_file(&tmp_toml);
        let _ = std::fs::remove_file(&tmp_sidecar);
    };
    let result = (|| -> anyhow::Result<Imported> {
        // The scenario without its replay phase decides the data set, onto
        // which the schedule's keys are mapped.
        let base_plan = crate::scenario::parse(&derived.text(None), &opts.out).map_err(|e| {
            anyhow::anyhow!("the derived scenario does not validate (a bug of s3bench import): {e}")
        })?;
        let replayed = if opts.replay {
            p.write_schedule(&base_plan, &tmp_sidecar)?
        } else {
            0
        };
        let text = derived.text(opts.replay.then_some((sidecar_name.as_str(), replayed)));
        std::fs::write(&tmp_toml, &text)
            .with_context(|| format!("cannot write {}", tmp_toml.display()))?;
        if opts.replay {
            // Validated as `s3bench validate` reads it: with its sidecar.
            let final_sidecar = dir.join(&sidecar_name);
            std::fs::rename(&tmp_sidecar, &final_sidecar)
                .with_context(|| format!("cannot write {}", final_sidecar.display()))?;
            if let Err(e) = crate::scenario::parse(&text, &opts.out) {
                let _ = std::fs::remove_file(&final_sidecar);
                bail!("the derived scenario does not validate (a bug of s3bench import): {e}");
            }
        }
        std::fs::rename(&tmp_toml, &opts.out)
            .with_context(|| format!("cannot write {}", opts.out.display()))?;
        Ok(Imported {
            scenario: opts.out.clone(),
            schedule: opts.replay.then(|| dir.join(&sidecar_name)),
            requests: p.requests,
            replayed,
        })
    })();
    cleanup();
    result
}
