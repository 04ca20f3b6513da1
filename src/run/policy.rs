//! The error policy: a phase whose failure share stays at or above a
//! threshold for a while is stopped, because the endpoint is gone (or the
//! credentials expired) and going on would only measure refusals. Checked
//! from the engine's live counters a few times a second, off the hot path.

use std::time::{Duration, Instant};

use crate::scenario::FailureStop;

/// How often the coordinator looks at the live counters.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);

pub struct Watchdog {
    stop: Option<FailureStop>,
    last: (u64, u64),
    /// Since when every check has seen the share at or above the threshold.
    bad_since: Option<Instant>,
}

impl Watchdog {
    /// `live` = (ops, errors) completed so far on all threads.
    pub fn new(stop: Option<FailureStop>, live: (u64, u64)) -> Watchdog {
        Watchdog {
            stop,
            last: live,
            bad_since: None,
        }
    }

    /// Looks at the counters again at `now`; returns the reason to stop the
    /// run when the policy says so.
    pub fn check(&mut self, live: (u64, u64), now: Instant) -> Option<String> {
        let stop = self.stop?;
        let ops = live.0.saturating_sub(self.last.0);
        let errors = live.1.saturating_sub(self.last.1);
        self.last = live;
        // A window in which nothing completed says nothing either way (a
        // stalled request ends as a timeout later and counts then).
        if ops == 0 {
            return None;
        }
        let share = errors as f64 / ops as f64;
        if share + 1e-9 < stop.share {
            self.bad_since = None;
            return None;
        }
        let since = *self.bad_since.get_or_insert(now);
        (now.duration_since(since) >= stop.window).then(|| {
            format!(
                "stopped by the error policy: {:.0}% or more of operations failed for {} (`stop_on_failures` in [client])",
                stop.share * 100.0,
                humantime::format_duration(stop.window)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_only_after_the_window() {
        let stop = FailureStop {
            share: 1.0,
            window: Duration::from_secs(10),
        };
        let t0 = Instant::now();
        let mut w = Watchdog::new(Some(stop), (0, 0));
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(w.check((100, 100), at(1)).is_none());
        assert!(w.check((200, 200), at(6)).is_none());
        // One success resets the clock.
        assert!(w.check((300, 299), at(8)).is_none());
        assert!(w.check((400, 399), at(9)).is_none());
        assert!(w.check((500, 499), at(18)).is_none());
        assert!(w.check((600, 599), at(19)).is_some());
        // Nothing completed: no verdict, no reset.
        let mut w = Watchdog::new(Some(stop), (0, 0));
        assert!(w.check((10, 10), at(0)).is_none());
        assert!(w.check((10, 10), at(5)).is_none());
        assert!(w.check((20, 20), at(11)).is_some());
        let mut never = Watchdog::new(None, (0, 0));
        assert!(never.check((10, 10), at(100)).is_none());
    }
}
