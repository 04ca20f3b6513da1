//! Fault and latency injection: latency distributions, a precise timer and
//! the bandwidth pacer's arithmetic (request-rate limits: `partition`).

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

pub use crate::s3::inject::{Broken, BucketLimit, Injection, LatencyDist, PrefixLimit};

/// Sub-millisecond sleeps without spinning.
///
/// tokio's timer wheel has 1 ms resolution and rounds up, which would add up
/// to 1 ms to every injected latency. This timer is one OS thread with a
/// deadline heap that waits on a condvar (futex) with the thread's timer
/// slack set to 1 ns, then completes a oneshot that wakes the waiting task.
/// Waking the timer thread and then the task takes ~20-150 us depending on
/// load; the timer fires early by a running average of that delay, so the
/// task resumes close to its deadline instead of consistently after it.
pub(crate) struct PreciseTimer {
    shared: Arc<TimerShared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Running average of fire-to-resume delay, in nanoseconds.
    wake_delay_ns: AtomicU64,
}

/// Never fire more than this early, whatever the measured delay.
const MAX_COMPENSATION_NS: u64 = 300_000;

struct TimerShared {
    state: Mutex<TimerState>,
    wake: Condvar,
}

#[derive(Default)]
struct TimerState {
    heap: BinaryHeap<Entry>,
    seq: u64,
    shutdown: bool,
}

struct Entry {
    deadline: Instant,
    seq: u64,
    tx: oneshot::Sender<()>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    // Reversed: BinaryHeap is a max-heap and we want the earliest deadline on top.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.deadline, other.seq).cmp(&(self.deadline, self.seq))
    }
}

impl PreciseTimer {
    pub(crate) fn start(tids: Arc<Mutex<Vec<i32>>>) -> std::io::Result<PreciseTimer> {
        let shared = Arc::new(TimerShared {
            state: Mutex::new(TimerState::default()),
            wake: Condvar::new(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("s3bench-srv-timer".into())
            .spawn(move || {
                // SAFETY: prctl(PR_SET_TIMERSLACK) and gettid only affect the
                // calling thread and take no pointers.
                unsafe {
                    libc::prctl(libc::PR_SET_TIMERSLACK, 1u64, 0u64, 0u64, 0u64);
                    tids.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(libc::gettid());
                }
                timer_loop(&s);
            })?;
        Ok(PreciseTimer {
            shared,
            thread: Mutex::new(Some(thread)),
            wake_delay_ns: AtomicU64::new(50_000),
        })
    }

    /// Completes at `deadline`, never before it, typically within 0.05 ms after it.
    pub(crate) async fn sleep_until(&self, deadline: Instant) {
        let now = Instant::now();
        if deadline <= now {
            return;
        }
        let comp = Duration::from_nanos(self.wake_delay_ns.load(Ordering::Relaxed));
        let fire_at = deadline.checked_sub(comp).unwrap_or(deadline);
        if fire_at <= now {
            return;
        }
        self.wait(fire_at).await;
        let woke = Instant::now();
        let delay = woke.saturating_duration_since(fire_at).as_nanos() as u64;
        // EWMA with weight 1/8; races between tasks only blur the average.
        let old = self.wake_delay_ns.load(Ordering::Relaxed);
        let new = (old * 7 + delay.min(MAX_COMPENSATION_NS)) / 8;
        self.wake_delay_ns.store(new, Ordering::Relaxed);
        // Firing early by the average wake delay makes the typical response
        // punctual, but a wake-up faster than the average would then send the
        // response before the injected latency is over: a client would see
        // less latency than injected. Never answer early: spin off the rest,
        // which is at most the compensation (<= 0.3 ms, usually a few us).
        while Instant::now() < deadline {
            std::hint::spin_loop();
        }
    }

    async fn wait(&self, deadline: Instant) {
        let (tx, rx) = oneshot::channel();
        {
            let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            if st.shutdown {
                return;
            }
            st.seq += 1;
            let seq = st.seq;
            let earliest = st.heap.peek().is_none_or(|top| deadline < top.deadline);
            st.heap.push(Entry { deadline, seq, tx });
            if earliest {
                self.shared.wake.notify_one();
            }
        }
        // An error means the timer shut down; the server is going away anyway.
        let _ = rx.await;
    }

    /// Ends the timer thread; pending and later sleeps complete at once.
    pub(crate) fn stop(&self) {
        {
            let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            st.shutdown = true;
            st.heap.clear();
        }
        self.shared.wake.notify_one();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for PreciseTimer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn timer_loop(shared: &TimerShared) {
    let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if st.shutdown {
            return;
        }
        let now = Instant::now();
        while st.heap.peek().is_some_and(|top| top.deadline <= now) {
            if let Some(e) = st.heap.pop() {
                let _ = e.tx.send(());
            }
        }
        st = match st.heap.peek() {
            None => shared.wake.wait(st).unwrap_or_else(|e| e.into_inner()),
            Some(top) => {
                let wait = top.deadline.saturating_duration_since(now);
                shared
                    .wake
                    .wait_timeout(st, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lognormal_hits_its_percentiles() {
        let d = LatencyDist::LogNormal {
            p50: Duration::from_millis(10),
            p99: Duration::from_millis(50),
        };
        let mut v: Vec<f64> = (0..20_000)
            .map(|_| d.sample().as_secs_f64() * 1e3)
            .collect();
        v.sort_by(f64::total_cmp);
        let p50 = v[v.len() / 2];
        let p99 = v[v.len() * 99 / 100];
        assert!((9.0..11.0).contains(&p50), "p50 {p50}");
        assert!((42.0..60.0).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn uniform_stays_in_range() {
        let d = LatencyDist::Uniform {
            min: Duration::from_millis(2),
            max: Duration::from_millis(4),
        };
        for _ in 0..1000 {
            let s = d.sample();
            assert!(s >= Duration::from_millis(2) && s <= Duration::from_millis(4));
        }
    }

    #[tokio::test]
    async fn precise_timer_is_far_better_than_a_millisecond() {
        let timer = PreciseTimer::start(Arc::default()).unwrap();
        let mut errors = Vec::new();
        for _ in 0..100 {
            let deadline = Instant::now() + Duration::from_micros(2500);
            timer.sleep_until(deadline).await;
            let now = Instant::now();
            let err_us = if now >= deadline {
                (now - deadline).as_micros() as i64
            } else {
                -((deadline - now).as_micros() as i64)
            };
            errors.push(err_us);
        }
        errors.sort();
        let (p10, p50, p90) = (errors[10], errors[50], errors[90]);
        eprintln!("precise timer error [us]: p10 {p10} p50 {p50} p90 {p90}");
        assert!(p50.abs() < 250, "median error {p50} us");
        // Never early, not even by a microsecond: an injected latency is a
        // floor the client can rely on.
        assert!(errors[0] >= 0, "fired early: {} us", errors[0]);
    }

    /// Wake-ups that vary (a busy machine) raise the compensation; a fast
    /// wake-up after a slow one must still not answer before the deadline.
    #[tokio::test(flavor = "current_thread")]
    async fn precise_timer_never_fires_early() {
        let timer = PreciseTimer::start(Arc::default()).unwrap();
        // Pretend the last wake-ups were slow: the timer now fires 0.3 ms early.
        timer
            .wake_delay_ns
            .store(MAX_COMPENSATION_NS, Ordering::Relaxed);
        for i in 0..200u64 {
            let deadline = Instant::now() + Duration::from_micros(400 + (i % 7) * 150);
            timer.sleep_until(deadline).await;
            assert!(Instant::now() >= deadline, "sleep {i} ended early");
        }
    }
}
