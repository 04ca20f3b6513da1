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
}

impl Progress {
    pub fn new(enabled: bool, planned_total: Duration) -> Self {
        use std::io::IsTerminal;
        Progress {
            enabled,
            tty: std::io::stderr().is_terminal(),
            planned_total,
            done: std::sync::Mutex::new(Duration::ZERO),
            state: std::sync::Mutex::new(None),
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
            let plan = planned.map(|p| format!(" ({p:?})")).unwrap_or_default();
            eprintln!("{label}{plan} ...");
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

    /// The job shown is over; `measured` of the planned time is done.
    pub fn finish(&self, measured: Option<Duration>) {
        if let Some(m) = measured {
            *self.done.lock().unwrap_or_else(|e| e.into_inner()) += m;
        }
        if let Some((pb, h)) = self.state.lock().unwrap_or_else(|e| e.into_inner()).take() {
            h.abort();
            pb.finish_and_clear();
        }
    }
}

fn sum(lives: &[Arc<Live>]) -> (u64, u64) {
    lives.iter().fold((0, 0), |(o, e), l| {
        (
            o + l.ops.load(Ordering::Relaxed),
            e + l.errors.load(Ordering::Relaxed),
        )
    })
}
