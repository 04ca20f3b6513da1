//! Live progress on stderr: on a terminal, a bar per job (prepare, or one
//! round of a phase on one target) with elapsed / planned time and the ETA
//! of the whole run, next to ops/s and errors; plain lines otherwise, so a
//! CI log or a Kubernetes pod log stays readable.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::engine::{Engine, Live};

pub struct Progress {
    enabled: bool,
    tty: bool,
    /// Planned measured time of the whole run and what of it is done, for the ETA.
    planned_total: Duration,
    done: std::sync::Mutex<Duration>,
    state: std::sync::Mutex<Option<(indicatif::ProgressBar, tokio::task::JoinHandle<()>)>>,
    /// Without a terminal: the job's counters when it started, for its last line.
    plain: std::sync::Mutex<Option<PlainJob>>,
}

/// A job shown as plain lines: its live counters, and ops, errors and time at its start.
type PlainJob = (Vec<Arc<Live>>, u64, u64, Instant);

impl Progress {
    pub fn new(enabled: bool, planned_total: Duration) -> Self {
        use std::io::IsTerminal;
        Progress {
            enabled,
            tty: std::io::stderr().is_terminal(),
            planned_total,
            done: std::sync::Mutex::new(Duration::ZERO),
            state: std::sync::Mutex::new(None),
            plain: std::sync::Mutex::new(None),
        }
    }

    pub fn note(&self, msg: &str) {
        if self.enabled {
            self.suspend(|| eprintln!("{msg}"));
        }
    }

    /// Prints a line even when progress is off (warnings a person must see).
    pub fn always(&self, msg: &str) {
        self.suspend(|| eprintln!("{msg}"));
    }

    fn suspend(&self, f: impl FnOnce()) {
        match &*self.state.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((pb, _)) => pb.suspend(f),
            None => f(),
        }
    }

    /// Starts showing one job that should take `planned` (None: unknown).
    pub fn start(&self, label: &str, planned: Option<Duration>, engine: &Engine) {
        if !self.enabled {
            return;
        }
        let done = *self.done.lock().unwrap_or_else(|e| e.into_inner());
        let remaining_after = self
            .planned_total
            .saturating_sub(done + planned.unwrap_or_default());
        if !self.tty {
            self.start_plain(label, planned, engine);
            return;
        }
        let pb = match planned {
            Some(p) => {
                let pb = indicatif::ProgressBar::new(p.as_millis().max(1) as u64);
                pb.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{prefix:.bold} [{bar:24}] {elapsed:>4}/{msg}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                pb
            }
            None => {
                let pb = indicatif::ProgressBar::new_spinner();
                pb.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} {prefix:.bold} {elapsed:>4} {msg}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                );
                pb
            }
        };
        pb.set_prefix(label.to_string());
        let lives = engine.live_handles();
        let (ops0, err0) = sum(&lives);
        let pb2 = pb.clone();
        let started = Instant::now();
        let handle = tokio::spawn(async move {
            let mut last = (ops0, Instant::now());
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let (ops, errs) = sum(&lives);
                let dt = last.1.elapsed().as_secs_f64().max(1e-3);
                let rate = (ops - last.0) as f64 / dt;
                last = (ops, Instant::now());
                let elapsed = started.elapsed();
                let eta = match planned {
                    Some(p) => {
                        pb2.set_position(elapsed.as_millis().min(p.as_millis()) as u64);
                        let left = p.saturating_sub(elapsed) + remaining_after;
                        format!(
                            "{}s | {:.0} ops/s, {} errors | run ETA {}",
                            p.as_secs(),
                            rate,
                            errs - err0,
                            humantime::format_duration(Duration::from_secs(left.as_secs()))
                        )
                    }
                    None => format!(
                        "{} ops, {:.0} ops/s, {} errors",
                        ops - ops0,
                        rate,
                        errs - err0
                    ),
                };
                pb2.set_message(eta);
                pb2.tick();
            }
        });
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Some((pb, handle));
    }

    /// Without a terminal (CI, `kubectl logs`): a line when the job starts,
    /// one every [`plain_every`] with its ops/s and errors so far, and one
    /// when it ends, so a log shows the load, not phase names only.
    fn start_plain(&self, label: &str, planned: Option<Duration>, engine: &Engine) {
        let plan = planned
            .map(|p| format!(" ({})", humantime::format_duration(p)))
            .unwrap_or_default();
        eprintln!("{label}{plan} ...");
        let lives = engine.live_handles();
        let (ops0, err0) = sum(&lives);
        let label = label.to_string();
        let started = Instant::now();
        let every = plain_every(planned);
        let lives2 = lives.clone();
        let handle = tokio::spawn(async move {
            let mut last = (ops0, Instant::now());
            loop {
                tokio::time::sleep(every).await;
                let (ops, errs) = sum(&lives2);
                let dt = last.1.elapsed().as_secs_f64().max(1e-3);
                let rate = (ops - last.0) as f64 / dt;
                last = (ops, Instant::now());
                eprintln!(
                    "{}",
                    plain_line(&label, started.elapsed(), planned, rate, errs - err0)
                );
            }
        });
        *self.plain.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((lives, ops0, err0, Instant::now()));
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((indicatif::ProgressBar::hidden(), handle));
    }

    /// The job shown is over; `measured` of the planned time is done.
    pub fn finish(&self, measured: Option<Duration>) {
        if let Some(m) = measured {
            *self.done.lock().unwrap_or_else(|e| e.into_inner()) += m;
        }
        if let Some((pb, h)) = self.state.lock().unwrap_or_else(|e| e.into_inner()).take() {
            h.abort();
            pb.finish_and_clear();
        }
        if let Some((lives, ops0, err0, t0)) =
            self.plain.lock().unwrap_or_else(|e| e.into_inner()).take()
        {
            let (ops, errs) = sum(&lives);
            let took = t0.elapsed();
            eprintln!("{}", plain_done(ops - ops0, errs - err0, took));
        }
    }
}

/// How often a log without a terminal gets a line: every 10 s, or about
/// three times in a shorter job (at least a second apart).
pub fn plain_every(planned: Option<Duration>) -> Duration {
    const EVERY: Duration = Duration::from_secs(10);
    match planned {
        Some(p) if p < EVERY * 3 => (p / 3).max(Duration::from_secs(1)),
        _ => EVERY,
    }
}

/// One periodic line of a log without a terminal:
/// `  get on express: 10s of 30s, 1234 ops/s, 0 errors`.
pub fn plain_line(
    label: &str,
    elapsed: Duration,
    planned: Option<Duration>,
    rate: f64,
    errors: u64,
) -> String {
    let at = humantime::format_duration(Duration::from_secs(elapsed.as_secs()));
    let of = planned
        .map(|p| format!(" of {}", humantime::format_duration(p)))
        .unwrap_or_default();
    format!(
        "  {label}: {at}{of}, {rate:.0} ops/s, {errors} {}",
        if errors == 1 { "error" } else { "errors" }
    )
}

/// The line a job ends with in a log without a terminal.
pub fn plain_done(ops: u64, errors: u64, took: Duration) -> String {
    let rate = ops as f64 / took.as_secs_f64().max(1e-3);
    format!(
        "  done: {ops} ops in {:.1} s ({rate:.0} ops/s), {errors} {}",
        took.as_secs_f64(),
        if errors == 1 { "error" } else { "errors" }
    )
}

fn sum(lives: &[Arc<Live>]) -> (u64, u64) {
    lives.iter().fold((0, 0), |(o, e), l| {
        (
            o + l.ops.load(Ordering::Relaxed),
            e + l.errors.load(Ordering::Relaxed),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_carry_rate_and_errors() {
        let s = Duration::from_secs;
        assert_eq!(
            plain_line("get on express", s(10), Some(s(30)), 1234.4, 0),
            "  get on express: 10s of 30s, 1234 ops/s, 0 errors"
        );
        assert_eq!(
            plain_line("prepare", s(3), None, 50.0, 1),
            "  prepare: 3s, 50 ops/s, 1 error"
        );
        assert_eq!(
            plain_done(300, 2, s(3)),
            "  done: 300 ops in 3.0 s (100 ops/s), 2 errors"
        );
        assert_eq!(plain_every(Some(s(600))), s(10));
        assert_eq!(plain_every(Some(s(6))), s(2));
        assert_eq!(plain_every(Some(s(2))), s(1));
        assert_eq!(plain_every(None), s(10));
    }
}
