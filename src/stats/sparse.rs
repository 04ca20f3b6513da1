//! Per-second latency histograms that stay small over a long run.
//!
//! The per-second p50/p99 of the time series come from a 2-significant-digit
//! HdrHistogram per second and operation kind. A full one is an array of
//! counts covering every bucket up to the largest value seen (about 17 KiB
//! for latencies up to 5 ms), and a run keeps one per second, per op, per
//! engine thread. Here a second's histogram has two forms, with exactly the
//! bucket layout of `Histogram::<u64>::new(2)`:
//!
//! - [`LiveHist`]: dense counts indexed by bucket, for the second being
//!   recorded; drained (zeroed, never freed) when the second is over, so
//!   recording allocates nothing in steady state;
//! - [`SparseHist`]: a finished second, as a byte string: the first non-empty
//!   bucket's index, then per bucket its count, with runs of empty buckets
//!   skipped (all LEB128 varints). 5,000 samples spread over 200 µs - 5 ms
//!   take about 900 bytes.
//!
//! Addition and quantiles are exact: [`SparseHist::value_at_quantile`]
//! returns what `value_at_quantile` of the equivalent HdrHistogram returns
//! (the tests below and in `recorder` check this against `hdrhistogram`).
//! Values must be below 2^62 (146 years in nanoseconds), the largest an
//! auto-resizing HdrHistogram tracks.

/// Bucket layout of `Histogram::new(2)` (lowest discernible value 1): values
/// up to 2 * 10^2 need single-unit resolution, so 2^8 sub-buckets; every
/// bucket after the first uses only its upper half (2^7 sub-buckets).
const SUB_BUCKET_HALF_MAGNITUDE: u32 = 7;
const SUB_BUCKET_MASK: u64 = (1 << 8) - 1;
/// 64 - the sub-bucket count's magnitude (8).
const LEADING_ZERO_BASE: u32 = 56;

/// Index of the bucket that counts `v` (hdrhistogram's `index_for`).
#[inline]
pub fn index_of(v: u64) -> usize {
    let bucket = LEADING_ZERO_BASE - (v | SUB_BUCKET_MASK).leading_zeros();
    // In [0, 256) for bucket 0, in [128, 256) for the others.
    let sub = v >> bucket;
    ((bucket as usize) << SUB_BUCKET_HALF_MAGNITUDE) + sub as usize
}

/// (bucket, sub-bucket) of an index (the inverse of [`index_of`]).
fn location(index: usize) -> (u32, u64) {
    let half = 1usize << SUB_BUCKET_HALF_MAGNITUDE;
    if index < 2 * half {
        (0, index as u64)
    } else {
        let bucket = (index >> SUB_BUCKET_HALF_MAGNITUDE) as u32 - 1;
        (bucket, ((index & (half - 1)) + half) as u64)
    }
}

/// Lowest value counted in bucket `index` (hdrhistogram's `value_for`).
pub fn lowest_equivalent(index: usize) -> u64 {
    let (bucket, sub) = location(index);
    sub << bucket
}

/// Highest value counted in bucket `index`, computed as hdrhistogram's
/// `highest_equivalent` does.
pub fn highest_equivalent(index: usize) -> u64 {
    let (bucket, _) = location(index);
    lowest_equivalent(index).saturating_add(1 << bucket) - 1
}

/// Counts of the second being recorded, indexed by bucket.
#[derive(Debug, Clone, Default)]
pub struct LiveHist {
    counts: Vec<u64>,
}

impl LiveHist {
    /// Counts `v` (at least 1, as the recorder passes it). Allocates only
    /// when `v` is beyond every value this histogram has seen.
    #[inline]
    pub fn record(&mut self, v: u64) {
        let i = index_of(v);
        if i >= self.counts.len() {
            self.grow(i);
        }
        self.counts[i] += 1;
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, i: usize) {
        self.counts.resize(i + 1, 0);
    }

    /// Non-empty buckets as (index, count), in index order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c != 0)
            .map(|(i, c)| (i, *c))
    }

    /// Like [`iter`](Self::iter), emptying each bucket it yields: once the
    /// iterator is used up the histogram is empty, its storage kept.
    pub fn drain(&mut self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.counts
            .iter_mut()
            .enumerate()
            .filter(|(_, c)| **c != 0)
            .map(|(i, c)| (i, std::mem::take(c)))
    }

    /// Buckets the storage holds room for.
    pub fn capacity(&self) -> usize {
        self.counts.capacity()
    }

    /// Address of the counts, for tests that check storage is reused.
    #[cfg(test)]
    pub fn storage(&self) -> (*const u64, usize) {
        (self.counts.as_ptr(), self.counts.capacity())
    }
}

/// A finished second's histogram: see the module documentation for the
/// encoding. Empty is the empty byte string (no allocation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SparseHist(Box<[u8]>);

impl SparseHist {
    /// Non-empty buckets in index order, from (index, count) pairs in
    /// strictly increasing index order with counts above 0. `buf` is scratch
    /// space (its contents are replaced), so a caller that keeps it
    /// allocates only the result.
    pub fn from_iter_in(pairs: impl Iterator<Item = (usize, u64)>, buf: &mut Vec<u8>) -> Self {
        buf.clear();
        let mut next: Option<usize> = None;
        for (i, c) in pairs {
            debug_assert!(c > 0);
            match next {
                None => put_varint(buf, i as u64),
                Some(n) => {
                    debug_assert!(i >= n, "indices must increase");
                    if i > n {
                        // A run of empty buckets: 0, then its length.
                        buf.push(0);
                        put_varint(buf, (i - n) as u64);
                    }
                }
            }
            put_varint(buf, c);
            next = Some(i + 1);
        }
        SparseHist(Box::from(buf.as_slice()))
    }

    /// The bucket-by-bucket sum of two histograms given as (index, count)
    /// pairs in index order.
    pub fn sum(
        a: impl Iterator<Item = (usize, u64)>,
        b: impl Iterator<Item = (usize, u64)>,
        buf: &mut Vec<u8>,
    ) -> Self {
        Self::from_iter_in(MergeAdd::new(a, b), buf)
    }

    /// Adds `other` (pairs in index order) into this histogram.
    pub fn add(&mut self, other: impl Iterator<Item = (usize, u64)>, buf: &mut Vec<u8>) {
        *self = Self::sum(self.iter(), other, buf);
    }

    /// Adds another sparse histogram into this one (a copy, if this one is empty).
    pub fn add_sparse(&mut self, other: &SparseHist, buf: &mut Vec<u8>) {
        if self.is_empty() {
            self.clone_from(other);
        } else {
            self.add(other.iter(), buf);
        }
    }

    /// Non-empty buckets as (index, count), in index order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            bytes: &self.0,
            next: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Bytes of encoded buckets (on the heap; the handle itself is 16 bytes).
    pub fn encoded_len(&self) -> usize {
        self.0.len()
    }

    /// Sum of the counts.
    pub fn len(&self) -> u64 {
        self.iter().fold(0, |t, (_, c)| t.saturating_add(c))
    }

    /// Exactly what `value_at_quantile` of a `Histogram::<u64>::new(2)`
    /// holding the same samples returns: the highest value equivalent to the
    /// sample at rank ceil(q * count) (the lowest, for q = 0); 0 when empty.
    pub fn value_at_quantile(&self, quantile: f64) -> u64 {
        let quantile = if quantile > 1.0 { 1.0 } else { quantile };
        let fractional_count = quantile * self.len() as f64;
        let count_at_quantile = (fractional_count.ceil() as u64).max(1);
        let mut total = 0u64;
        for (i, c) in self.iter() {
            total += c;
            if total >= count_at_quantile {
                return if quantile == 0.0 {
                    lowest_equivalent(i)
                } else {
                    highest_equivalent(i)
                };
            }
        }
        0
    }
}

/// Iterator over a [`SparseHist`]'s non-empty buckets.
pub struct Iter<'a> {
    bytes: &'a [u8],
    /// Index of the next bucket; None before the first.
    next: Option<usize>,
}

impl Iterator for Iter<'_> {
    type Item = (usize, u64);

    #[inline]
    fn next(&mut self) -> Option<(usize, u64)> {
        if self.bytes.is_empty() {
            return None;
        }
        let mut i = match self.next {
            None => take_varint(&mut self.bytes) as usize,
            Some(n) => n,
        };
        let mut c = take_varint(&mut self.bytes);
        if c == 0 {
            i += take_varint(&mut self.bytes) as usize;
            c = take_varint(&mut self.bytes);
        }
        self.next = Some(i + 1);
        Some((i, c))
    }
}

/// Merge-join of two (index, count) streams in index order, adding counts of
/// equal indices.
struct MergeAdd<A, B> {
    a: A,
    b: B,
    head_a: Option<(usize, u64)>,
    head_b: Option<(usize, u64)>,
}

impl<A, B> MergeAdd<A, B>
where
    A: Iterator<Item = (usize, u64)>,
    B: Iterator<Item = (usize, u64)>,
{
    fn new(mut a: A, mut b: B) -> Self {
        let (head_a, head_b) = (a.next(), b.next());
        MergeAdd {
            a,
            b,
            head_a,
            head_b,
        }
    }
}

impl<A, B> Iterator for MergeAdd<A, B>
where
    A: Iterator<Item = (usize, u64)>,
    B: Iterator<Item = (usize, u64)>,
{
    type Item = (usize, u64);

    #[inline]
    fn next(&mut self) -> Option<(usize, u64)> {
        match (self.head_a, self.head_b) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                self.head_a = self.a.next();
                self.head_b = self.b.next();
                Some((x.0, x.1.saturating_add(y.1)))
            }
            (Some(x), Some(y)) if y.0 < x.0 => {
                self.head_b = self.b.next();
                Some(y)
            }
            (Some(x), _) => {
                self.head_a = self.a.next();
                Some(x)
            }
            (None, Some(y)) => {
                self.head_b = self.b.next();
                Some(y)
            }
            (None, None) => None,
        }
    }
}

#[inline]
fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Reads one varint off the front of `bytes` (which this module wrote).
#[inline]
fn take_varint(bytes: &mut &[u8]) -> u64 {
    match bytes.split_first() {
        Some((&b, rest)) if b < 0x80 => {
            *bytes = rest;
            u64::from(b)
        }
        _ => take_long_varint(bytes),
    }
}

#[inline(never)]
fn take_long_varint(bytes: &mut &[u8]) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let (&b, rest) = bytes
            .split_first()
            .expect("a SparseHist ends on a whole varint");
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::Histogram;
    use proptest::prelude::*;

    fn hdr2() -> Histogram<u64> {
        let mut h = Histogram::new(2).unwrap();
        h.auto(true);
        h
    }

    fn sparse(values: &[u64]) -> SparseHist {
        let mut live = LiveHist::default();
        for &v in values {
            live.record(v);
        }
        SparseHist::from_iter_in(live.drain(), &mut Vec::new())
    }

    /// Values where bucket layouts could disagree: small values, both sides
    /// of every power of two, up to the largest an auto-resizing
    /// HdrHistogram tracks.
    fn edge_values() -> Vec<u64> {
        let mut v: Vec<u64> = (0..5_000).collect();
        for p in 8..62 {
            let x = 1u64 << p;
            v.extend([x - 2, x - 1, x, x + 1, x + x / 3, x + x / 2 + 7]);
        }
        v.push((1 << 62) - 1);
        v.sort_unstable();
        v
    }

    #[test]
    fn bucket_layout_matches_hdrhistogram() {
        let h = hdr2();
        let mut last = 0;
        for v in edge_values() {
            let i = index_of(v);
            assert!(i >= last, "index must not decrease at {v}");
            last = i;
            assert_eq!(
                lowest_equivalent(i),
                h.lowest_equivalent(v),
                "lowest of {v}"
            );
            assert_eq!(
                highest_equivalent(i),
                h.highest_equivalent(v),
                "highest of {v}"
            );
            assert_eq!(index_of(lowest_equivalent(i)), i);
            assert_eq!(index_of(highest_equivalent(i)), i);
        }
    }

    #[test]
    fn encoding_round_trips() {
        let pairs = vec![
            (0usize, 1u64),
            (1, 127),
            (2, 128),
            (300, u64::MAX),
            (301, 1),
            (5_000, 16_384),
            (7_000, 3),
        ];
        let s = SparseHist::from_iter_in(pairs.iter().copied(), &mut Vec::new());
        assert_eq!(s.iter().collect::<Vec<_>>(), pairs);
        let empty = SparseHist::from_iter_in(std::iter::empty(), &mut Vec::new());
        assert!(empty.is_empty());
        assert_eq!(empty.iter().count(), 0);
        assert_eq!(empty.value_at_quantile(0.5), 0);
        // A run of buckets with small counts is a byte each.
        let run = SparseHist::from_iter_in((1000..1100).map(|i| (i, 5)), &mut Vec::new());
        assert_eq!(run.encoded_len(), 2 + 100);
    }

    #[test]
    fn draining_empties_and_keeps_storage() {
        let mut live = LiveHist::default();
        live.record(5_000_000);
        live.record(1_000);
        let before = live.storage();
        let s = SparseHist::from_iter_in(live.drain(), &mut Vec::new());
        assert_eq!(s.len(), 2);
        assert_eq!(live.iter().count(), 0);
        live.record(1_000);
        assert_eq!(live.storage(), before);
    }

    #[test]
    fn edge_values_give_hdrhistogram_quantiles() {
        let values = edge_values();
        let mut h = hdr2();
        for &v in &values {
            h.record(v).unwrap();
        }
        let s = sparse(&values);
        assert_eq!(s.len(), h.len());
        for q in [0.0, 1e-9, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0, 1.5] {
            assert_eq!(s.value_at_quantile(q), h.value_at_quantile(q), "q = {q}");
        }
    }

    /// A latency in ns, log-uniform over 1 ns .. ~10^11 ns.
    fn latency() -> impl Strategy<Value = u64> {
        (0u32..37, any::<u64>())
            .prop_map(|(bits, r)| 1 + (r >> (64 - bits.max(1))) + (1u64 << bits))
    }

    proptest! {
        /// Summing parts in sparse form, then asking a quantile, gives what
        /// one HdrHistogram fed every sample gives.
        #[test]
        fn sums_and_quantiles_equal_hdrhistogram(
            samples in proptest::collection::vec((latency(), 0usize..4), 1..600),
            qs in proptest::collection::vec(0.0f64..=1.0, 1..8),
        ) {
            let mut h = hdr2();
            let mut parts = vec![Vec::new(); 4];
            for (v, part) in &samples {
                h.record(*v).unwrap();
                parts[*part].push(*v);
            }
            let mut buf = Vec::new();
            let mut total = SparseHist::default();
            for p in &parts {
                total.add(sparse(p).iter(), &mut buf);
            }
            prop_assert_eq!(total.len(), h.len());
            for q in qs.iter().copied().chain([0.0, 0.5, 0.99, 1.0]) {
                prop_assert_eq!(total.value_at_quantile(q), h.value_at_quantile(q), "q = {}", q);
            }
            // Same buckets as hdrhistogram's own.
            let theirs: Vec<(u64, u64)> = h
                .iter_recorded()
                .map(|x| (x.value_iterated_to(), x.count_at_value()))
                .collect();
            let ours: Vec<(u64, u64)> = total.iter().map(|(i, c)| (highest_equivalent(i), c)).collect();
            prop_assert_eq!(ours, theirs);
        }
    }
}
