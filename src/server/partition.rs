//! The General Purpose partition model.
//!
//! S3's request-rate limits apply per *partitioned prefix*: a range of keys
//! in lexicographic order, not a folder. A new bucket (or a new hot range)
//! is one partition; S3 splits a range that stays busy into two, each with
//! the full rate, and keeps doing so while the load outruns them. So a
//! spike is throttled and a ramp is not; load spread over many leading
//! characters (a hash first) stops being throttled after about
//! log2(load / rate) rounds of splits; and load that keeps landing on the
//! newest keys of a time-ordered layout (a date or a sequence first) stays
//! throttled however often S3 splits behind it, because the newest keys
//! always fall into the last range.
//!
//! [`Partitions`] is that model for one bucket, pure and deterministic: the
//! caller passes the time of each request, so the tests drive it on a
//! simulated clock and assert exact outcomes. Each range has a token bucket
//! for reads and one for writes (burst: a quarter second of the rate);
//! a range that keeps refusing requests for `split_after` (no gap of
//! [`QUIET`] or more between refusals) splits at a key chosen from its
//! recently refused requests. The endpoint keeps one per bucket behind a
//! mutex, touched once per request of a bucket that has a limit.

use std::time::{Duration, Instant};

use super::inject::PrefixLimit;

/// Refusals closer together than this belong to one over-rate period; a
/// range that refused nothing for this long starts over.
pub(crate) const QUIET: Duration = Duration::from_secs(1);

/// Keys of refused requests a range keeps to choose its split point from.
const SAMPLE: usize = 128;

/// Burst a token bucket allows: a quarter second of its rate. Short, so
/// the admitted count over a window is close to rate x window; long enough
/// that a range loaded at three quarters of its rate does not refuse the
/// odd request when arrivals bunch (a client's scheduling, a busy server
/// thread), which S3's "at least 5,500 per second" would not either.
fn capacity(rate: u32) -> f64 {
    (f64::from(rate) / 4.0).max(1.0)
}

#[derive(Debug, Clone, Copy)]
struct Tokens {
    tokens: f64,
    last: Instant,
}

impl Tokens {
    fn full(rate: u32, now: Instant) -> Tokens {
        Tokens {
            tokens: capacity(rate),
            last: now,
        }
    }

    fn take(&mut self, rate: u32, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * f64::from(rate)).min(capacity(rate));
        self.last = self.last.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A period in which a range kept refusing requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Over {
    since: Instant,
    last: Instant,
}

#[derive(Debug, Clone)]
struct Range {
    /// The range holds keys from `start` (inclusive) to the next range's start.
    start: String,
    reads: Tokens,
    writes: Tokens,
    over: Option<Over>,
    /// The last refused keys (a ring of at most SAMPLE; `next` is the slot
    /// written next once it is full).
    sample: Vec<String>,
    next: usize,
    /// Splits between the bucket's first range and this one.
    depth: u32,
}

impl Range {
    fn new(start: String, cfg: &PrefixLimit, now: Instant, depth: u32) -> Range {
        Range {
            start,
            reads: Tokens::full(cfg.reads_per_sec, now),
            writes: Tokens::full(cfg.writes_per_sec, now),
            over: None,
            sample: Vec::new(),
            next: 0,
            depth,
        }
    }

    fn refused(&mut self, key: &str, now: Instant) {
        self.over = Some(match self.over {
            Some(o) if now.saturating_duration_since(o.last) < QUIET => Over {
                since: o.since,
                last: now,
            },
            _ => Over {
                since: now,
                last: now,
            },
        });
        if self.sample.len() < SAMPLE {
            self.sample.push(key.to_string());
        } else {
            // Reuses the slot's buffer: no allocation once the ring is full.
            let slot = &mut self.sample[self.next];
            slot.clear();
            slot.push_str(key);
            self.next = (self.next + 1) % SAMPLE;
        }
    }
}

/// One range as [`Partitions::ranges`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeInfo {
    /// First key of the range (the first range starts at the empty key).
    pub start: String,
    /// Splits between the bucket's first range and this one.
    pub depth: u32,
}

/// The partitions of one bucket (see the module documentation).
#[derive(Debug, Clone)]
pub struct Partitions {
    cfg: PrefixLimit,
    /// Sorted by `start`; the first starts at "".
    ranges: Vec<Range>,
    splits: u64,
}

impl Partitions {
    /// A fresh bucket: one range, or the ranges the configured split points cut.
    pub fn new(cfg: &PrefixLimit, now: Instant) -> Partitions {
        let mut starts: Vec<String> = cfg
            .split_points
            .iter()
            .filter(|p| !p.is_empty())
            .cloned()
            .collect();
        starts.sort();
        starts.dedup();
        let ranges = std::iter::once(String::new())
            .chain(starts)
            .map(|s| Range::new(s, cfg, now, 0))
            .collect();
        Partitions {
            cfg: cfg.clone(),
            ranges,
            splits: 0,
        }
    }

    /// The configuration this model was made from.
    pub fn config(&self) -> &PrefixLimit {
        &self.cfg
    }

    /// Admits (true) or refuses (false, 503 SlowDown) a request for `key`
    /// at `now`; a refusal may split the key's range.
    pub fn admit(&mut self, key: &str, write: bool, now: Instant) -> bool {
        let rate = if write {
            self.cfg.writes_per_sec
        } else {
            self.cfg.reads_per_sec
        };
        if rate == 0 {
            return true;
        }
        let i = self.index_of(key);
        let r = &mut self.ranges[i];
        let tokens = if write { &mut r.writes } else { &mut r.reads };
        if tokens.take(rate, now) {
            return true;
        }
        r.refused(key, now);
        if let (Some(after), Some(over)) = (self.cfg.split_after, r.over)
            && now.saturating_duration_since(over.since) >= after
            && self.ranges.len() < self.cfg.max_partitions as usize
            && !self.split(i)
        {
            // No key to split at (every refused request was for one key,
            // which no split can spread): try again after another period.
            self.ranges[i].over = Some(Over {
                since: now,
                last: now,
            });
        }
        false
    }

    /// The range holding `key`.
    fn index_of(&self, key: &str) -> usize {
        // ranges[0] starts at "", which every key sorts at or after.
        self.ranges
            .partition_point(|r| r.start.as_str() <= key)
            .saturating_sub(1)
    }

    /// Splits range `i` at a key from its recently refused requests; false
    /// when they hold no two distinct keys.
    fn split(&mut self, i: usize) -> bool {
        let r = &mut self.ranges[i];
        let mut keys: Vec<&str> = r.sample.iter().map(String::as_str).collect();
        keys.sort_unstable();
        let Some(at) = split_key(&keys).map(str::to_string) else {
            return false;
        };
        let (low, high): (Vec<String>, Vec<String>) =
            r.sample.drain(..).partition(|k| k.as_str() < at.as_str());
        r.sample = low;
        r.next = 0;
        r.over = None;
        r.depth += 1;
        let right = Range {
            start: at,
            reads: r.reads,
            writes: r.writes,
            over: None,
            sample: high,
            next: 0,
            depth: r.depth,
        };
        self.ranges.insert(i + 1, right);
        self.splits += 1;
        true
    }

    /// The ranges in key order.
    pub fn ranges(&self) -> Vec<RangeInfo> {
        self.ranges
            .iter()
            .map(|r| RangeInfo {
                start: r.start.clone(),
                depth: r.depth,
            })
            .collect()
    }

    /// Splits made since the bucket was fresh.
    pub fn splits(&self) -> u64 {
        self.splits
    }
}

/// Where to split sorted keys: at the boundary between two distinct keys
/// nearest the middle, the shortest prefix of the upper key (cut at a
/// character boundary) that still sorts after the lower one, so ranges
/// start at short, readable keys (`s3bench/run/8` rather than a whole
/// object key). None when all keys are equal.
fn split_key<'a>(sorted: &[&'a str]) -> Option<&'a str> {
    let n = sorted.len();
    let mid = n / 2;
    let boundary = |j: usize| (1..n).contains(&j) && sorted[j - 1] < sorted[j];
    let j = (0..n).find_map(|d| {
        [mid + d, mid.wrapping_sub(d)]
            .into_iter()
            .find(|&j| boundary(j))
    })?;
    let (below, key) = (sorted[j - 1], sorted[j]);
    key.char_indices()
        .map(|(at, c)| at + c.len_utf8())
        .map(|end| &key[..end])
        .find(|prefix| *prefix > below)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(reads: u32, writes: u32, split_after: Option<Duration>) -> PrefixLimit {
        PrefixLimit {
            reads_per_sec: reads,
            writes_per_sec: writes,
            split_after,
            max_partitions: 1024,
            split_points: Vec::new(),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A hash-first key like the data set renders `{hash:4}/{index:06}.bin`
    /// (the hash's four leading hex digits, of SplitMix64).
    fn hashed(i: u64) -> String {
        let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let h = z ^ (z >> 31);
        format!("run/{:04x}/{i:06}.bin", h >> 48)
    }

    /// A date-first key: every key of the run shares its first characters
    /// and sorts by index.
    fn dated(i: u64) -> String {
        format!("run/2025/06/07/{i:08}.bin")
    }

    #[test]
    fn split_key_is_the_shortest_prefix_between_the_middle_keys() {
        assert_eq!(split_key(&["a/1", "a/2", "b/1", "b/2"]), Some("b"));
        assert_eq!(
            split_key(&["run/0a", "run/3f", "run/8c", "run/c1"]),
            Some("run/8")
        );
        // The middle pair is equal: the nearest boundary counts.
        assert_eq!(split_key(&["a", "b", "b", "b", "c"]), Some("b"));
        assert_eq!(split_key(&["x", "x", "x"]), None);
        assert_eq!(split_key(&["x"]), None);
        assert_eq!(split_key(&[]), None);
        // One key a prefix of the other: the whole longer key.
        assert_eq!(split_key(&["ab", "abc"]), Some("abc"));
        // Cut at a character boundary, never inside a UTF-8 sequence.
        assert_eq!(split_key(&["données/a", "donnéez/a"]), Some("donnéez"));
        assert_eq!(split_key(&["é1", "ê1"]), Some("ê"));
    }

    /// A steady load at `per_sec` requests a second from `from` to `to`
    /// (ms), keys from `key(n)`; returns (admitted, refused) per second.
    fn drive(
        p: &mut Partitions,
        t0: Instant,
        (from, to): (u64, u64),
        per_sec: u64,
        write: bool,
        mut key: impl FnMut(u64) -> String,
    ) -> Vec<(u64, u64)> {
        let mut out = vec![(0, 0); to.div_ceil(1000) as usize];
        let step_us = 1_000_000 / per_sec;
        let mut n = 0;
        let mut t = from * 1000;
        while t < to * 1000 {
            let ok = p.admit(&key(n), write, t0 + Duration::from_micros(t));
            let s = &mut out[(t / 1_000_000) as usize];
            if ok {
                s.0 += 1;
            } else {
                s.1 += 1;
            }
            n += 1;
            t += step_us;
        }
        out
    }

    #[test]
    fn a_range_admits_its_rate_and_reads_and_writes_are_apart() {
        let t0 = Instant::now();
        let mut p = Partitions::new(&cfg(100, 50, None), t0);
        // 400 reads/s for 2 s, the last at 1.9975 s: the burst (25) plus
        // the 199.75 tokens 100 a second refills by then.
        let reads = drive(&mut p, t0, (0, 2000), 400, false, |i| format!("k{i}"));
        let admitted: u64 = reads.iter().map(|s| s.0).sum();
        assert_eq!(admitted, 25 + 199, "{reads:?}");
        assert_eq!(reads[1].0, 100, "{reads:?}");
        // Writes have their own bucket: 12.5 of burst, then 50 a second
        // (49.875 by the last request at 0.9975 s).
        let writes = drive(&mut p, t0, (0, 1000), 400, true, |i| format!("k{i}"));
        assert_eq!(writes[0].0, 62, "{writes:?}");
        // 0 = unlimited.
        let mut free = Partitions::new(&cfg(0, 0, None), t0);
        assert!((0..10_000).all(|i| free.admit("k", i % 2 == 0, t0)));
    }

    /// A range over its rate splits exactly `split_after` after its first
    /// refusal, at the first refusal from then on, and not a moment before.
    #[test]
    fn a_range_splits_after_split_after_over_its_rate_and_not_before() {
        let t0 = Instant::now();
        let mut p = Partitions::new(&cfg(100, 100, Some(ms(2000))), t0);
        // 200 reads/s, every 5 ms. The burst of 10 lasts until the first
        // refusal: request 20 at 100 ms (10 tokens + 10 refilled, then none).
        let mut first_refusal = None;
        let mut split_at = None;
        for n in 0..1000u64 {
            let t = t0 + ms(5 * n);
            let ok = p.admit(&hashed(n), false, t);
            if !ok && first_refusal.is_none() {
                first_refusal = Some(t);
            }
            if p.ranges().len() > 1 {
                split_at = Some(t);
                break;
            }
        }
        let first = first_refusal.unwrap();
        let split = split_at.unwrap();
        // The first refusal at or after first + 2 s splits the range.
        assert!(split >= first + ms(2000), "{:?}", split - first);
        assert!(split < first + ms(2000) + ms(20), "{:?}", split - first);
        assert_eq!(p.splits(), 1);
        let r = p.ranges();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].depth, r[1].depth), (1, 1));
        // Cut inside the hash, the first characters that tell the halves apart.
        assert!(
            r[1].start.starts_with("run/") && r[1].start.len() <= 8,
            "{r:?}"
        );
    }

    /// Over its rate for 90% of `split_after`, then quiet for longer than
    /// [`QUIET`], then over again for 90%: never split.
    #[test]
    fn a_pause_starts_the_over_rate_period_again() {
        let t0 = Instant::now();
        let mut p = Partitions::new(&cfg(100, 100, Some(ms(2000))), t0);
        for round in 0..5u64 {
            let start = round * 3000;
            drive(&mut p, t0, (start, start + 1800), 300, false, hashed);
            // 1.2 s of nothing.
        }
        assert_eq!(p.splits(), 0);
        // Without the pause, the same load splits.
        drive(&mut p, t0, (15_000, 18_000), 300, false, hashed);
        assert_eq!(p.splits(), 1);
    }

    /// A uniform load over hash-first keys at 5x one range's rate: each
    /// round of splits halves every range's share, so after
    /// ceil(log2(5)) = 3 rounds (each `split_after` long, plus the time to
    /// refuse again) the throttling is gone but for the odd request of a
    /// range whose random share of the keys runs close to its rate (a tenth
    /// of a second of burst absorbs most bunching, not all), and no range is
    /// deeper than 4.
    #[test]
    fn a_uniform_load_stops_being_throttled_after_about_log2_splits() {
        let t0 = Instant::now();
        let (rate, load) = (100u32, 500u64);
        let mut p = Partitions::new(&cfg(rate, rate, Some(ms(1000))), t0);
        let mut rng = fastrand::Rng::with_seed(7);
        let secs = drive(&mut p, t0, (0, 20_000), load, false, |_| {
            hashed(rng.u64(..1_000_000))
        });
        let share = |s: &(u64, u64)| s.1 as f64 / (s.0 + s.1) as f64;
        // The first second: one range, 4/5 refused less the burst.
        assert!(share(&secs[0]) > 0.75, "{secs:?}");
        // Throttling falls round by round ...
        assert!(
            secs.windows(2).take(4).all(|w| share(&w[1]) < share(&w[0])),
            "{secs:?}"
        );
        // ... and is gone after about log2(5) rounds.
        let log2 = (load as f64 / f64::from(rate)).log2().ceil() as usize;
        assert_eq!(log2, 3);
        for (s, sec) in secs.iter().enumerate().skip(2 * log2) {
            assert!(share(sec) < 0.01, "second {s}: {secs:?}");
        }
        let refused_late: u64 = secs[2 * log2..].iter().map(|s| s.1).sum();
        let all_late: u64 = secs[2 * log2..].iter().map(|s| s.0 + s.1).sum();
        assert!(
            refused_late * 1000 < all_late,
            "{refused_late} of {all_late}"
        );
        let depth = p.ranges().iter().map(|r| r.depth).max().unwrap();
        assert!(
            (log2 as u32..=log2 as u32 + 1).contains(&depth),
            "depth {depth}: {:?}",
            p.ranges()
        );
        let n = p.ranges().len();
        assert!((5..=16).contains(&n), "{n} ranges");
    }

    /// Writes of new keys in time order plus reads of the newest 64, at 3x a
    /// range's rates: S3 splits behind the newest keys again and again, and
    /// the load keeps landing on the last range, refused as much as ever.
    #[test]
    fn a_load_on_the_newest_keys_of_a_time_ordered_layout_stays_throttled() {
        let t0 = Instant::now();
        let mut p = Partitions::new(&cfg(100, 50, Some(ms(1000))), t0);
        let mut rng = fastrand::Rng::with_seed(11);
        let (mut written, mut next) = (0u64, 0u64);
        let mut per_sec = vec![(0u64, 0u64); 30];
        // 150 writes/s and 300 reads/s: a request every 2.22 ms, one in
        // three a write of the next key.
        for n in 0..13_500u64 {
            let t = t0 + Duration::from_micros(n * 2222);
            let (key, write) = if n % 3 == 0 {
                next += 1;
                (dated(next), true)
            } else {
                let newest = written.max(1);
                (dated(newest - rng.u64(..newest.min(64))), false)
            };
            let ok = p.admit(&key, write, t);
            if ok && write {
                written = next;
            }
            let s = &mut per_sec[(n * 2222 / 1_000_000) as usize];
            if ok {
                s.0 += 1;
            } else {
                s.1 += 1;
            }
        }
        // It did split, many times ...
        assert!(p.splits() >= 10, "{} splits", p.splits());
        // ... behind the load: every second is still about 2/3 refused.
        for (s, sec) in per_sec.iter().enumerate() {
            let share = sec.1 as f64 / (sec.0 + sec.1) as f64;
            assert!(share > 0.55, "second {s}: {share:.2} refused: {per_sec:?}");
        }
        // The ranges start at keys of the run's own date: the splits cut
        // the key space where the load was, one behind the other.
        let r = p.ranges();
        assert!(
            r[1..]
                .iter()
                .all(|r| r.start.starts_with("run/2025/06/07/")),
            "{r:?}"
        );
    }

    #[test]
    fn max_partitions_caps_the_splits() {
        let t0 = Instant::now();
        let mut c = cfg(100, 100, Some(ms(500)));
        c.max_partitions = 3;
        let mut p = Partitions::new(&c, t0);
        let mut rng = fastrand::Rng::with_seed(3);
        drive(&mut p, t0, (0, 10_000), 2000, false, |_| {
            hashed(rng.u64(..))
        });
        assert_eq!(p.ranges().len(), 3);
        assert_eq!(p.splits(), 2);
    }

    #[test]
    fn split_points_start_a_bucket_already_partitioned() {
        let t0 = Instant::now();
        let mut c = cfg(100, 100, None);
        c.split_points = vec!["m".into(), "".into(), "f".into(), "m".into()];
        let mut p = Partitions::new(&c, t0);
        let starts: Vec<String> = p.ranges().into_iter().map(|r| r.start).collect();
        assert_eq!(starts, ["", "f", "m"]);
        // Each range has its own rate: 25 of burst each.
        for k in ["a", "g", "z"] {
            assert_eq!((0..40).filter(|_| p.admit(k, false, t0)).count(), 25, "{k}");
        }
    }

    /// One hot key cannot be split: the range retries after another period
    /// instead of sorting its sample on every refusal.
    #[test]
    fn a_single_hot_key_never_splits() {
        let t0 = Instant::now();
        let mut p = Partitions::new(&cfg(100, 100, Some(ms(500))), t0);
        drive(&mut p, t0, (0, 5000), 1000, false, |_| "run/hot".into());
        assert_eq!(p.splits(), 0);
    }

    /// The same requests at the same times give the same partitions.
    #[test]
    fn the_model_is_deterministic() {
        let t0 = Instant::now();
        let run = || {
            let mut p = Partitions::new(&cfg(50, 50, Some(ms(700))), t0);
            let mut rng = fastrand::Rng::with_seed(5);
            let secs = drive(&mut p, t0, (0, 8000), 900, false, |_| hashed(rng.u64(..)));
            (secs, p.ranges())
        };
        assert_eq!(run(), run());
    }
}
