//! What the workers of one job believe they left on the endpoint, from the
//! answers they got: the claims an audit (`run::audit`) reads back after
//! the job, before the cleanup. Recording them is off the measured path: a
//! push into the worker's own buffers after a successful op, merged once
//! per job like the recorders.
//!
//! Only what an answer proves is claimed. A write that failed without a
//! definite refusal (no answer, a 5xx other than 503) may have happened, so
//! what it touched is left out (appends, renames) or counted as uncertain
//! (compare-and-swap), and an audit never calls a correct endpoint broken
//! for it.

use std::collections::HashMap;

use crate::client::ErrorKind;

/// Items of one kind an audit reads back per job (target and round): a
/// uniform sample when there are more, so memory and the audit's requests
/// stay bounded however many operations ran.
pub const SAMPLE: usize = 100;

/// A uniform sample of at most [`SAMPLE`] items out of `total` (bottom-k:
/// each item gets a random priority and the lowest are kept, so samples of
/// workers and threads merge into a uniform sample of all).
#[derive(Debug, Clone, PartialEq)]
pub struct Sampled<T> {
    items: Vec<(u64, T)>,
    /// Items offered, sampled or not.
    pub total: u64,
}

impl<T> Default for Sampled<T> {
    fn default() -> Self {
        Sampled {
            items: Vec::new(),
            total: 0,
        }
    }
}

impl<T> Sampled<T> {
    fn offer(&mut self, priority: u64, item: T) {
        self.total += 1;
        if self.items.len() < SAMPLE {
            self.items.push((priority, item));
            return;
        }
        // Replace the highest priority if this one is lower (SAMPLE is
        // small: a scan beats a heap here).
        let (at, max) = self
            .items
            .iter()
            .enumerate()
            .max_by_key(|(_, (p, _))| *p)
            .map(|(i, (p, _))| (i, *p))
            .expect("full");
        if priority < max {
            self.items[at] = (priority, item);
        }
    }

    fn merge(&mut self, other: Sampled<T>) {
        self.total += other.total;
        self.items.extend(other.items);
        if self.items.len() > SAMPLE {
            self.items.sort_by_key(|(p, _)| *p);
            self.items.truncate(SAMPLE);
        }
    }

    /// The sampled items.
    pub fn items(&self) -> impl Iterator<Item = &T> {
        self.items.iter().map(|(_, t)| t)
    }

    /// Items sampled (at most [`SAMPLE`]).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// An object the client believes holds `size` bytes at `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sized {
    pub key: String,
    pub size: u64,
}

/// A rename the endpoint answered success: `to` holds the `size` bytes
/// written at `from`, and `from` is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub from: String,
    pub to: String,
    pub size: u64,
}

/// What the workers of a compare-and-swap key were told.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SwapKey {
    /// The object's size when created; each successful swap adds a byte.
    pub base: u64,
    /// Writes answered success: the create-only PUT that made the object
    /// and the If-Match PUTs after it.
    pub wins: u64,
    /// Writes that failed without a definite refusal: they may have
    /// happened.
    pub uncertain: u64,
}

/// Everything the workers of one job claim, by op.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    /// Objects appended to (on General Purpose: rewritten whole), with the
    /// size their successful appends made them.
    pub appended: Sampled<Sized>,
    /// Appends answered success.
    pub appends: u64,
    /// Appends whose answer named the object's new size
    /// (`x-amz-object-size`), and those that named another size than the
    /// appends had made it.
    pub sizes_said: u64,
    pub sizes_wrong: u64,
    /// Renames (on General Purpose: copy + delete) answered success.
    pub renamed: Sampled<Moved>,
    /// CopyObject destinations, with their source's size.
    pub copied: Sampled<Sized>,
    /// Completed multipart uploads still there (not deleted by the mix).
    pub uploaded: Sampled<Sized>,
    /// Create-only keys (by a hash of the key) and the writers told they
    /// won each.
    pub create_only: HashMap<u64, u32>,
    /// Compare-and-swap keys.
    pub swaps: HashMap<String, SwapKey>,
    /// This worker's stream of sample priorities (not the op stream, so
    /// recording claims changes no op choice).
    rng: fastrand::Rng,
}

impl Claims {
    pub fn new(seed: u64) -> Claims {
        Claims {
            rng: fastrand::Rng::with_seed(seed ^ 0xA5A5_5A5A_C3C3_3C3C),
            ..Claims::default()
        }
    }

    pub fn appended(&mut self, key: String, size: u64) {
        let p = self.rng.u64(..);
        self.appended.offer(p, Sized { key, size });
    }

    /// One successful append's answer: the size it said the object has now
    /// (if it said one) against the size the appends made it.
    pub fn append_answer(&mut self, said: Option<u64>, made: u64) {
        self.appends += 1;
        if let Some(n) = said {
            self.sizes_said += 1;
            self.sizes_wrong += u64::from(n != made);
        }
    }

    pub fn renamed(&mut self, from: String, to: String, size: u64) {
        let p = self.rng.u64(..);
        self.renamed.offer(p, Moved { from, to, size });
    }

    pub fn copied(&mut self, key: String, size: u64) {
        let p = self.rng.u64(..);
        self.copied.offer(p, Sized { key, size });
    }

    pub fn uploaded(&mut self, key: String, size: u64) {
        let p = self.rng.u64(..);
        self.uploaded.offer(p, Sized { key, size });
    }

    /// A completed upload the mix deleted again: no longer a claim.
    pub fn upload_deleted(&mut self, key: &str) {
        self.uploaded.total = self.uploaded.total.saturating_sub(1);
        self.uploaded.items.retain(|(_, s)| s.key != key);
    }

    /// A create-only PUT of `key`; `won` when it was answered success.
    pub fn create_only(&mut self, key: &str, won: bool) {
        *self.create_only.entry(key_hash(key)).or_default() += u32::from(won);
    }

    /// A compare-and-swap write to `key` (created at `base` bytes): its
    /// outcome.
    pub fn swap(&mut self, key: &str, base: u64, error: Option<&ErrorKind>) {
        let k = self.swaps.entry(key.to_string()).or_default();
        k.base = base;
        match error {
            None => k.wins += 1,
            Some(e) if e.not_done() => {}
            Some(_) => k.uncertain += 1,
        }
    }

    /// Adds another worker's (or thread's) claims.
    pub fn merge(&mut self, other: Claims) {
        self.appended.merge(other.appended);
        self.appends += other.appends;
        self.sizes_said += other.sizes_said;
        self.sizes_wrong += other.sizes_wrong;
        self.renamed.merge(other.renamed);
        self.copied.merge(other.copied);
        self.uploaded.merge(other.uploaded);
        for (k, n) in other.create_only {
            *self.create_only.entry(k).or_default() += n;
        }
        for (k, s) in other.swaps {
            let m = self.swaps.entry(k).or_default();
            m.base = s.base;
            m.wins += s.wins;
            m.uncertain += s.uncertain;
        }
    }

    /// Whether any op of the job left something to audit.
    pub fn is_empty(&self) -> bool {
        self.appended.total == 0
            && self.appends == 0
            && self.renamed.total == 0
            && self.copied.total == 0
            && self.uploaded.total == 0
            && self.create_only.is_empty()
            && self.swaps.is_empty()
    }
}

/// 64 bits of a key: create-only keys are counted, not read back, so a
/// hash (collisions at 2^-64 per pair) keeps a long phase's memory small.
fn key_hash(key: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bottom-k samples of parts merge into a uniform sample of the whole:
    /// each of 1,000 items lands in the merged 100 about 10% of the time.
    #[test]
    fn samples_merge_uniformly_and_stay_bounded() {
        let mut hits = vec![0u32; 1000];
        for seed in 0..400u64 {
            let mut parts: Vec<Claims> = (0..4).map(|w| Claims::new(seed * 7 + w)).collect();
            // Uneven parts: 700, 200, 90, 10 items.
            for i in 0..1000u64 {
                let w = match i {
                    0..700 => 0,
                    700..900 => 1,
                    900..990 => 2,
                    _ => 3,
                };
                parts[w].copied(format!("k{i}"), i);
            }
            let mut all = Claims::new(0);
            for p in parts {
                all.merge(p);
            }
            assert_eq!(all.copied.total, 1000);
            assert_eq!(all.copied.len(), SAMPLE);
            for s in all.copied.items() {
                hits[s.size as usize] += 1;
            }
        }
        // 400 draws of 10%: 40 expected, sd 6; by part, far tighter.
        let part =
            |r: std::ops::Range<usize>| hits[r.clone()].iter().sum::<u32>() as f64 / r.len() as f64;
        for r in [0..700, 700..900, 900..990, 990..1000] {
            let m = part(r.clone());
            assert!((34.0..46.0).contains(&m), "{r:?}: {m}");
        }
    }

    #[test]
    fn create_only_and_swaps_count_by_key() {
        let mut a = Claims::new(1);
        let mut b = Claims::new(2);
        a.create_only("k1", true);
        b.create_only("k1", false);
        b.create_only("k2", true);
        let lost = ErrorKind {
            key: "412 PreconditionFailed".into(),
            status: Some(412),
        };
        let gone = ErrorKind {
            key: "connection".into(),
            status: None,
        };
        a.swap("c", 100, None);
        a.swap("c", 100, Some(&lost));
        b.swap("c", 100, None);
        b.swap("c", 100, Some(&gone));
        a.merge(b);
        assert_eq!(a.create_only.len(), 2);
        assert_eq!(a.create_only.values().sum::<u32>(), 2);
        assert_eq!(
            a.swaps["c"],
            SwapKey {
                base: 100,
                wins: 2,
                uncertain: 1
            }
        );
        let mut u = Claims::new(3);
        u.uploaded("m1".into(), 10);
        u.uploaded("m2".into(), 20);
        u.upload_deleted("m1");
        assert_eq!(u.uploaded.total, 1);
        assert_eq!(u.uploaded.items().map(|s| s.size).collect::<Vec<_>>(), [20]);
    }
}
