//! Per-worker-thread recording of operation outcomes.
//!
//! Each engine thread owns one [`Recorder`] per (phase, target, round) and
//! records into it with no lock and no channel; recorders are merged once when
//! the phase ends. Latencies are recorded in nanoseconds into auto-resizing
//! HdrHistograms with 3 significant digits (0.1% relative precision), so
//! resolution is far finer than a microsecond at S3 latencies. The per-second
//! series keeps 2 significant digits per second and op kind, in a dense
//! histogram for the second being recorded and a sparse one per finished
//! second (see [`super::sparse`]), so a long run's memory grows by about a KiB
//! per second and op kind at 5,000 samples a second, not a full histogram's
//! ~20 KiB.

use hdrhistogram::Histogram;

use super::sparse::{self, LiveHist, SparseHist};

pub(crate) fn new_hist(sigfig: u8) -> Histogram<u64> {
    let mut h = Histogram::new(sigfig).expect("1..=5 significant digits is valid");
    h.auto(true);
    h
}

/// An empty auto-resizing histogram with 3 significant digits (0.1%), the
/// precision of every latency s3bench records.
pub fn latency_hist() -> Histogram<u64> {
    new_hist(3)
}

/// Records `ns` (at least 1), growing the histogram as needed.
/// (`saturating_record` would clamp to the current, tiny, range of an
/// auto-resizing histogram instead of growing it.)
#[inline]
pub fn record(h: &mut Histogram<u64>, ns: u64) {
    let v = ns.max(1);
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

/// Why a failed operation failed, in the groups the report keeps apart: a
/// throttled answer says something different about a bucket than a dead
/// connection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureGroup {
    /// The server asked the client to slow down (503 SlowDown, 429).
    Throttled,
    /// Any other HTTP error response (4xx, 5xx).
    Http,
    /// No whole HTTP answer: connection refused or reset, timeout, body cut
    /// short.
    Transport,
    /// The request's own condition did not hold: 412 PreconditionFailed,
    /// 409 ConditionalRequestConflict, 400 InvalidWriteOffset. An answer a
    /// conditional write or an append asks for when it loses a race, not a
    /// failure of the client or the endpoint: reported as an outcome, kept
    /// out of the error policy and the failure warnings.
    Conditional,
    /// A whole answer whose body is not what the server says it is: a
    /// body that does not match the checksum it came with (`body: checksum
    /// mismatch`). Neither a dead connection nor throttling: the bytes, or
    /// the server's checksum of them, are wrong.
    Integrity,
}

impl FailureGroup {
    pub const ALL: [FailureGroup; 5] = [
        FailureGroup::Throttled,
        FailureGroup::Http,
        FailureGroup::Transport,
        FailureGroup::Conditional,
        FailureGroup::Integrity,
    ];

    /// Key in the JSON result.
    pub fn key(self) -> &'static str {
        match self {
            FailureGroup::Throttled => "throttled",
            FailureGroup::Http => "http",
            FailureGroup::Transport => "transport",
            FailureGroup::Conditional => "conditional",
            FailureGroup::Integrity => "integrity",
        }
    }
}

/// A failed operation: its kind (e.g. `503 SlowDown`, `connection`), group
/// and HTTP status, when there was an answer.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    pub kind: &'a str,
    pub group: FailureGroup,
    pub status: Option<u16>,
}

/// Outcome of one operation, as the engine hands it to the recorder.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// From when the request was due (open loop) or sent (closed loop) to done, ns.
    pub latency_ns: u64,
    /// From sent to done, ns (equals latency in closed loop).
    pub service_ns: u64,
    /// Time to first byte, ns, for GET-like operations.
    pub ttfb_ns: Option<u64>,
    /// Payload bytes moved.
    pub bytes: u64,
    /// HTTP requests this operation sent (multipart PUT sends several).
    pub requests: u64,
    /// None on success.
    pub failure: Option<Failure<'a>>,
    /// The request started later than scheduled because all workers were busy.
    pub late_start: bool,
    /// The operation overlapped a CreateSession on its client.
    pub behind_session: bool,
}

impl Sample<'_> {
    #[inline]
    fn throttled(&self) -> bool {
        self.failure
            .is_some_and(|f| f.group == FailureGroup::Throttled)
    }
}

/// Failed operations of one group: their count and how long they took.
#[derive(Debug, Clone)]
pub struct FailureStats {
    pub count: u64,
    /// Latency of the failed operations (due or sent -> failure), ns.
    pub latency: Histogram<u64>,
    /// The HTTP statuses among them, with counts (a few at most: a Vec).
    pub statuses: Vec<(u16, u64)>,
}

impl FailureStats {
    fn new() -> Self {
        FailureStats {
            count: 0,
            latency: latency_hist(),
            statuses: Vec::new(),
        }
    }

    fn add_status(&mut self, status: u16, n: u64) {
        match self.statuses.iter_mut().find(|(s, _)| *s == status) {
            Some((_, c)) => *c += n,
            None => self.statuses.push((status, n)),
        }
    }
}

/// Everything recorded for one operation kind. Latency, TTFB, service time
/// and bytes describe successful operations only: a fast 503 must never make
/// a bucket look faster. Failures have their own counts and histograms.
#[derive(Debug, Clone)]
pub struct OpStats {
    pub latency: Histogram<u64>,
    pub service: Histogram<u64>,
    pub ttfb: Option<Histogram<u64>>,
    /// Operations completed, successful or not.
    pub count: u64,
    /// Failed operations (`count - errors` succeeded).
    pub errors: u64,
    /// Small and rarely touched (error path only): a Vec beats a map here.
    pub errors_by_kind: Vec<(String, u64)>,
    /// Failures by group, in `FailureGroup::ALL` order. Boxed: failures are
    /// the cold path, and a recorder holds an `OpStats` per op kind twice
    /// (measured and warm-up), moved by value between threads and stages,
    /// so an empty group costs 8 bytes instead of a histogram.
    pub failures: [Option<Box<FailureStats>>; FailureGroup::ALL.len()],
    /// HTTP requests sent, by successful and failed operations alike (what
    /// the endpoint counts).
    pub requests: u64,
    /// Payload bytes of successful operations.
    pub bytes: u64,
    pub late_starts: u64,
    pub behind_session: u64,
}

impl Default for OpStats {
    fn default() -> Self {
        OpStats {
            latency: latency_hist(),
            service: latency_hist(),
            ttfb: None,
            count: 0,
            errors: 0,
            errors_by_kind: Vec::new(),
            failures: [None, None, None, None, None],
            requests: 0,
            bytes: 0,
            late_starts: 0,
            behind_session: 0,
        }
    }
}

impl OpStats {
    pub fn record(&mut self, s: &Sample<'_>) {
        self.count += 1;
        self.requests += s.requests;
        self.late_starts += u64::from(s.late_start);
        self.behind_session += u64::from(s.behind_session);
        match s.failure {
            None => {
                record(&mut self.latency, s.latency_ns);
                record(&mut self.service, s.service_ns);
                if let Some(t) = s.ttfb_ns {
                    record(self.ttfb.get_or_insert_with(latency_hist), t);
                }
                self.bytes += s.bytes;
            }
            Some(f) => {
                self.errors += 1;
                add_error(&mut self.errors_by_kind, f.kind, 1);
                let g = self.failures[f.group as usize]
                    .get_or_insert_with(|| Box::new(FailureStats::new()));
                g.count += 1;
                record(&mut g.latency, s.latency_ns);
                if let Some(status) = f.status {
                    g.add_status(status, 1);
                }
            }
        }
    }

    /// Successful operations.
    pub fn successes(&self) -> u64 {
        self.count - self.errors
    }

    /// Exact merge: histogram addition is lossless.
    pub fn merge(&mut self, other: &OpStats) {
        add_hist(&mut self.latency, &other.latency);
        add_hist(&mut self.service, &other.service);
        if let Some(t) = &other.ttfb {
            add_hist(self.ttfb.get_or_insert_with(latency_hist), t);
        }
        self.count += other.count;
        self.errors += other.errors;
        for (k, n) in &other.errors_by_kind {
            add_error(&mut self.errors_by_kind, k, *n);
        }
        for (mine, theirs) in self.failures.iter_mut().zip(&other.failures) {
            if let Some(t) = theirs {
                let m = mine.get_or_insert_with(|| Box::new(FailureStats::new()));
                m.count += t.count;
                add_hist(&mut m.latency, &t.latency);
                for &(status, n) in &t.statuses {
                    m.add_status(status, n);
                }
            }
        }
        self.requests += other.requests;
        self.bytes += other.bytes;
        self.late_starts += other.late_starts;
        self.behind_session += other.behind_session;
    }
}

fn add_hist(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    // Auto-resizing histograms with the same precision always add.
    into.add(from)
        .expect("histograms with equal precision and auto-resize add");
}

fn add_error(v: &mut Vec<(String, u64)>, kind: &str, n: u64) {
    match v.iter_mut().find(|(k, _)| k == kind) {
        Some((_, c)) => *c += n,
        None => v.push((kind.to_string(), n)),
    }
}

/// Counters of one second of one operation kind.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    count: u64,
    errors: u64,
    throttled: u64,
    bytes: u64,
}

impl Tally {
    #[inline]
    fn note(&mut self, s: &Sample<'_>) {
        self.count += 1;
        self.bytes += s.bytes;
        self.errors += u64::from(s.failure.is_some());
        self.throttled += u64::from(s.throttled());
    }

    fn add(&mut self, o: &Tally) {
        self.count += o.count;
        self.errors += o.errors;
        self.throttled += o.throttled;
        self.bytes += o.bytes;
    }
}

/// One finished second of one operation kind. Latencies are in the bucket
/// layout of a 2-significant-digit HdrHistogram (per-second p50/p99 for
/// plots need no more), stored sparse (see [`super::sparse`]).
#[derive(Debug, Clone)]
struct SecondCell {
    op: u8,
    tally: Tally,
    latency: SparseHist,
}

#[derive(Debug, Clone, Default)]
struct Second {
    /// At most one per op kind, in op order.
    ops: Vec<SecondCell>,
    /// Most requests in flight at once during this second.
    in_flight: u64,
}

impl Second {
    fn cell(&self, op: usize) -> Option<&SecondCell> {
        self.ops.iter().find(|c| usize::from(c.op) == op)
    }

    /// The cell of `op`, created empty if missing.
    fn cell_mut(&mut self, op: usize) -> &mut SecondCell {
        let at = match self.ops.iter().position(|c| usize::from(c.op) >= op) {
            Some(i) if usize::from(self.ops[i].op) == op => return &mut self.ops[i],
            Some(i) => i,
            None => self.ops.len(),
        };
        // Usually one op kind a second: no room for four.
        self.ops.reserve_exact(1);
        self.ops.insert(
            at,
            SecondCell {
                op: op as u8,
                tally: Tally::default(),
                latency: SparseHist::default(),
            },
        );
        &mut self.ops[at]
    }

    /// Adds one op's tally and latencies (pairs in bucket order).
    fn add(
        &mut self,
        op: usize,
        tally: &Tally,
        latency: impl Iterator<Item = (usize, u64)>,
        buf: &mut Vec<u8>,
    ) {
        let c = self.cell_mut(op);
        c.tally.add(tally);
        c.latency.add(latency, buf);
    }

    /// Adds another recorder's cell.
    fn add_cell(&mut self, t: &SecondCell, buf: &mut Vec<u8>) {
        let c = self.cell_mut(usize::from(t.op));
        c.tally.add(&t.tally);
        c.latency.add_sparse(&t.latency, buf);
    }

    /// Bytes this second takes, its own and on the heap.
    fn footprint(&self) -> usize {
        size_of::<Second>()
            + self.ops.capacity() * size_of::<SecondCell>()
            + self
                .ops
                .iter()
                .map(|c| c.latency.encoded_len())
                .sum::<usize>()
    }
}

/// The second being recorded, of one op kind: dense, reused every second.
#[derive(Debug, Clone, Default)]
struct LiveCell {
    tally: Tally,
    latency: LiveHist,
}

/// Every attempt of one S3 operation (retries included).
#[derive(Debug, Clone)]
pub struct AttemptStats {
    pub count: u64,
    /// Attempts after the first of their operation.
    pub retries: u64,
    pub latency: Histogram<u64>,
}

/// Attempts per S3 operation name (`GetObject`, ...); only filled when
/// retries are enabled.
#[derive(Debug, Clone, Default)]
pub struct AttemptLog {
    pub ops: Vec<(String, AttemptStats)>,
}

impl AttemptLog {
    pub fn record(&mut self, op: &str, ns: u64, retry: bool) {
        let i = match self.ops.iter().position(|(k, _)| k == op) {
            Some(i) => i,
            None => {
                self.ops.push((
                    op.to_string(),
                    AttemptStats {
                        count: 0,
                        retries: 0,
                        latency: new_hist(3),
                    },
                ));
                self.ops.len() - 1
            }
        };
        let a = &mut self.ops[i].1;
        a.count += 1;
        a.retries += u64::from(retry);
        record(&mut a.latency, ns);
    }

    pub fn merge(&mut self, other: &AttemptLog) {
        for (k, o) in &other.ops {
            match self.ops.iter_mut().find(|(m, _)| m == k) {
                Some((_, m)) => {
                    m.count += o.count;
                    m.retries += o.retries;
                    add_hist(&mut m.latency, &o.latency);
                }
                None => self.ops.push((k.clone(), o.clone())),
            }
        }
    }
}

/// One second of one op kind, as the report's time series shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SecondStats {
    /// Seconds since the measured part began.
    pub second: u32,
    /// Op slot (`0..N`).
    pub op: usize,
    /// Operations completed in this second, successful or not.
    pub count: u64,
    pub errors: u64,
    /// Throttled failures (503 SlowDown, 429) in this second.
    pub throttled: u64,
    /// Payload bytes of this second's operations.
    pub bytes: u64,
    /// Success latency percentiles, ns (0 when nothing succeeded).
    pub p50_ns: u64,
    pub p99_ns: u64,
    /// Most requests in flight at once during this second (all ops).
    pub in_flight: u64,
    /// This second's success latencies, ns, as a 2-significant-digit
    /// HdrHistogram (the per-second precision), for interval logs.
    pub histogram: Histogram<u64>,
}

/// A 2-digit HdrHistogram holding exactly the sparse buckets `pairs`.
fn dense(pairs: impl Iterator<Item = (usize, u64)>) -> Histogram<u64> {
    let mut h = new_hist(2);
    for (i, n) in pairs {
        // The sparse layout is a 2-digit HdrHistogram's, so a bucket's lowest
        // value lands back in that same bucket.
        let _ = h.record_n(sparse::lowest_equivalent(i).max(1), n);
    }
    h
}

/// Adds `from`'s lateness histogram into `into`.
pub fn merge_lateness(into: &mut Option<Histogram<u64>>, from: &Option<Histogram<u64>>) {
    if let Some(f) = from {
        let h = into.get_or_insert_with(latency_hist);
        let _ = h.add(f);
    }
}

/// All that one thread records for one (phase, target, round), for `N`
/// op kinds (the engine uses one slot per entry of the op vocabulary).
#[derive(Debug, Clone)]
pub struct Recorder<const N: usize> {
    pub ops: [Option<OpStats>; N],
    pub warmup: [Option<OpStats>; N],
    /// Per-attempt timings (retries on only).
    pub attempts: AttemptLog,
    /// Measured throttled requests by key prefix and second (the engine
    /// names the prefix; only throttles are recorded).
    pub throttled_prefixes: super::PrefixSeries,
    /// Open-loop phases: how late each request started against when it
    /// was due (ns; 0 = on time), measured and warm-up alike.
    pub lateness: Option<Histogram<u64>>,
    /// Index = seconds since the measured part began. A second's cells land
    /// here when the recorder moves past it (see `live`).
    seconds: Vec<Second>,
    /// The second samples are being recorded into, and what it holds so far:
    /// one dense histogram per op kind, emptied into `seconds` when a sample
    /// of a later second arrives and reused for that second. Samples come in
    /// second order per thread; one of an earlier second goes straight into
    /// that second's sparse cell.
    live_second: usize,
    live: [LiveCell; N],
    /// Scratch space for encoding sparse histograms.
    buf: Vec<u8>,
    /// Live counters this recorder also counts every sample into, for an
    /// exporter to read during the run (`--metrics-listen`). Written only
    /// by the thread that owns this recorder. Not merged.
    live_block: Option<std::sync::Arc<super::live::LiveBlock>>,
}

impl<const N: usize> Default for Recorder<N> {
    fn default() -> Self {
        Recorder {
            ops: std::array::from_fn(|_| None),
            warmup: std::array::from_fn(|_| None),
            attempts: AttemptLog::default(),
            throttled_prefixes: super::PrefixSeries::default(),
            lateness: None,
            seconds: Vec::new(),
            live_second: 0,
            live: std::array::from_fn(|_| LiveCell::default()),
            buf: Vec::new(),
            live_block: None,
        }
    }
}

impl<const N: usize> Recorder<N> {
    /// An empty recorder that also counts every sample into `block` (its
    /// thread must be the block's only writer).
    pub fn with_live(block: std::sync::Arc<super::live::LiveBlock>) -> Self {
        Recorder {
            live_block: Some(block),
            ..Recorder::default()
        }
    }

    /// Records a measured sample that completed `second` seconds after measurement began.
    #[inline]
    pub fn record(&mut self, op: usize, second: usize, s: &Sample<'_>) {
        if let Some(b) = &self.live_block {
            b.note(op, s, true);
        }
        self.ops[op].get_or_insert_with(OpStats::default).record(s);
        if second != self.live_second {
            if second < self.live_second {
                self.record_past(op, second, s);
                return;
            }
            self.advance(second);
        }
        let cell = &mut self.live[op];
        cell.tally.note(s);
        // The per-second percentiles, like the phase's, are of successes.
        if s.failure.is_none() {
            cell.latency.record(s.latency_ns.max(1));
        }
    }

    /// Moves on to a later second: the live one is finished.
    #[cold]
    #[inline(never)]
    fn advance(&mut self, second: usize) {
        self.flush();
        self.live_second = second;
    }

    /// A sample of a second already finished (the rare out-of-order one).
    #[cold]
    #[inline(never)]
    fn record_past(&mut self, op: usize, second: usize, s: &Sample<'_>) {
        let mut tally = Tally::default();
        tally.note(s);
        let bucket = sparse::index_of(s.latency_ns.max(1));
        let n = u64::from(s.failure.is_none());
        second_mut(&mut self.seconds, second).add(
            op,
            &tally,
            std::iter::once((bucket, n)).filter(|(_, n)| *n > 0),
            &mut self.buf,
        );
    }

    /// Moves the live second's cells into `seconds`, emptying them.
    fn flush(&mut self) {
        if self.live.iter().all(|c| c.tally.count == 0) {
            return;
        }
        let sec = second_mut(&mut self.seconds, self.live_second);
        for (op, cell) in self.live.iter_mut().enumerate() {
            if cell.tally.count > 0 {
                sec.add(op, &cell.tally, cell.latency.drain(), &mut self.buf);
                cell.tally = Tally::default();
            }
        }
    }

    /// Records a sample that completed during warm-up.
    #[inline]
    pub fn record_warmup(&mut self, op: usize, s: &Sample<'_>) {
        if let Some(b) = &self.live_block {
            b.note(op, s, false);
        }
        self.warmup[op]
            .get_or_insert_with(OpStats::default)
            .record(s);
    }

    /// Notes the number of requests in flight at `second`.
    #[inline]
    pub fn note_in_flight(&mut self, second: usize, in_flight: u64) {
        let sec = second_mut(&mut self.seconds, second);
        sec.in_flight = sec.in_flight.max(in_flight);
    }

    /// Records how late a scheduled request started (ns after it was due).
    #[inline]
    pub fn note_lateness(&mut self, ns: u64) {
        let h = self.lateness.get_or_insert_with(latency_hist);
        if h.record(ns).is_err() {
            h.saturating_record(ns);
        }
    }

    /// Exact merge of another thread's recorder.
    pub fn merge(&mut self, other: &Recorder<N>) {
        merge_lateness(&mut self.lateness, &other.lateness);
        merge_ops(&mut self.ops, &other.ops);
        merge_ops(&mut self.warmup, &other.warmup);
        self.attempts.merge(&other.attempts);
        self.throttled_prefixes.merge(&other.throttled_prefixes);
        self.flush();
        if self.seconds.len() < other.seconds.len() {
            self.seconds
                .resize_with(other.seconds.len(), Second::default);
        }
        for (mine, theirs) in self.seconds.iter_mut().zip(&other.seconds) {
            // Threads run concurrently, so in-flight counts add up.
            mine.in_flight += theirs.in_flight;
            for t in &theirs.ops {
                mine.add_cell(t, &mut self.buf);
            }
        }
        if other.live.iter().any(|c| c.tally.count > 0) {
            let mine = second_mut(&mut self.seconds, other.live_second);
            for (op, t) in other.live.iter().enumerate() {
                if t.tally.count > 0 {
                    mine.add(op, &t.tally, t.latency.iter(), &mut self.buf);
                }
            }
        }
    }

    /// Total HTTP requests recorded (measured and warm-up).
    pub fn requests(&self) -> u64 {
        self.ops
            .iter()
            .chain(self.warmup.iter())
            .flatten()
            .map(|o| o.requests)
            .sum()
    }

    /// Bytes the per-second series takes: finished seconds (their own size,
    /// cells and sparse histograms) plus the live histograms' counts. Grows
    /// with the length of a run; everything else a recorder holds does not.
    pub fn timeseries_bytes(&self) -> usize {
        self.seconds.capacity().saturating_sub(self.seconds.len()) * size_of::<Second>()
            + self.seconds.iter().map(Second::footprint).sum::<usize>()
            + self
                .live
                .iter()
                .map(|c| c.latency.capacity() * size_of::<u64>())
                .sum::<usize>()
    }

    /// One row per second and op kind that saw operations.
    pub fn timeseries(&self) -> Vec<SecondStats> {
        let live_any = self.live.iter().any(|c| c.tally.count > 0);
        let n = if live_any {
            self.seconds.len().max(self.live_second + 1)
        } else {
            self.seconds.len()
        };
        let mut rows = Vec::new();
        let mut buf = Vec::new();
        for i in 0..n {
            let sec = self.seconds.get(i);
            for op in 0..N {
                let done = sec.and_then(|s| s.cell(op));
                let live = &self.live[op];
                let live = (i == self.live_second && live.tally.count > 0).then_some(live);
                let merged;
                let (tally, latency) = match (done, live) {
                    (None, None) => continue,
                    (Some(d), None) => (d.tally, &d.latency),
                    (d, Some(l)) => {
                        let mut tally = l.tally;
                        if let Some(d) = d {
                            tally.add(&d.tally);
                        }
                        let d = d.into_iter().flat_map(|d| d.latency.iter());
                        merged = SparseHist::sum(d, l.latency.iter(), &mut buf);
                        (tally, &merged)
                    }
                };
                let (p50_ns, p99_ns) = if tally.count > tally.errors {
                    (
                        latency.value_at_quantile(0.5),
                        latency.value_at_quantile(0.99),
                    )
                } else {
                    (0, 0)
                };
                rows.push(SecondStats {
                    second: i as u32,
                    op,
                    count: tally.count,
                    errors: tally.errors,
                    throttled: tally.throttled,
                    bytes: tally.bytes,
                    p50_ns,
                    p99_ns,
                    in_flight: sec.map_or(0, |s| s.in_flight),
                    histogram: dense(latency.iter()),
                });
            }
        }
        rows
    }
}

fn second_mut(seconds: &mut Vec<Second>, second: usize) -> &mut Second {
    if seconds.len() <= second {
        seconds.resize_with(second + 1, Second::default);
    }
    &mut seconds[second]
}

fn merge_ops<const N: usize>(into: &mut [Option<OpStats>; N], from: &[Option<OpStats>; N]) {
    for (m, t) in into.iter_mut().zip(from) {
        if let Some(t) = t {
            m.get_or_insert_with(OpStats::default).merge(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(latency_ns: u64, error: Option<&str>) -> Sample<'_> {
        Sample {
            latency_ns,
            service_ns: latency_ns,
            ttfb_ns: Some(latency_ns / 2),
            bytes: 10,
            requests: 1,
            failure: error.map(|kind| Failure {
                kind,
                group: if kind.starts_with("503") {
                    FailureGroup::Throttled
                } else {
                    FailureGroup::Transport
                },
                status: kind.starts_with("503").then_some(503),
            }),
            late_start: false,
            behind_session: false,
        }
    }

    proptest! {
        /// Per-thread recorders merged equal one recorder fed every sample.
        #[test]
        fn merge_is_exact(samples in proptest::collection::vec((1u64..10_000_000_000, 0usize..4, 0usize..5, any::<bool>()), 1..400)) {
            let mut threads: Vec<Recorder<1>> = (0..4).map(|_| Recorder::default()).collect();
            let mut single = Recorder::<1>::default();
            for (lat, thread, second, failed) in &samples {
                let s = sample(*lat, failed.then_some("503 SlowDown"));
                threads[*thread].record(0, *second, &s);
                single.record(0, *second, &s);
            }
            let mut merged = Recorder::<1>::default();
            for t in &threads {
                merged.merge(t);
            }
            let (m, s) = (merged.ops[0].as_ref().unwrap(), single.ops[0].as_ref().unwrap());
            prop_assert_eq!(&m.latency, &s.latency);
            prop_assert_eq!(&m.ttfb, &s.ttfb);
            prop_assert_eq!(m.count, s.count);
            prop_assert_eq!(m.errors, s.errors);
            for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
                prop_assert_eq!(m.latency.value_at_quantile(q), s.latency.value_at_quantile(q));
            }
            let rows_m = merged.timeseries();
            let rows_s = single.timeseries();
            prop_assert_eq!(rows_m, rows_s);
        }
    }

    proptest! {
        /// Per-second p50/p99 after merging threads equal `value_at_quantile`
        /// of one plain 2-significant-digit HdrHistogram per second fed
        /// every sample of that second. Threads mostly move forward in time,
        /// with now and then a sample of an earlier second.
        #[test]
        fn per_second_quantiles_equal_hdrhistogram(
            samples in proptest::collection::vec(
                (0u32..34, any::<u64>(), 0usize..3, 0usize..3, 0u8..10),
                1..1500,
            ),
        ) {
            let mut threads: Vec<Recorder<2>> = (0..3).map(|_| Recorder::default()).collect();
            let mut now = [0usize; 3];
            let mut plain: Vec<[Option<Histogram<u64>>; 2]> = Vec::new();
            for (bits, r, thread, op, step) in samples {
                // A latency log-uniform over 1 ns .. ~3 * 10^10 ns.
                let lat = (1u64 << bits) + (r >> (64 - bits.max(1)));
                let second = match step {
                    0 => now[thread] + 1,
                    1 => now[thread].saturating_sub(2),
                    _ => now[thread],
                };
                now[thread] = now[thread].max(second);
                threads[thread].record(op.min(1), second, &sample(lat, None));
                if plain.len() <= second {
                    plain.resize_with(second + 1, Default::default);
                }
                record(plain[second][op.min(1)].get_or_insert_with(|| new_hist(2)), lat);
            }
            let mut merged = Recorder::<2>::default();
            for t in &threads {
                merged.merge(t);
            }
            let rows = merged.timeseries();
            let mut expected = Vec::new();
            for (second, ops) in plain.iter().enumerate() {
                for (op, h) in ops.iter().enumerate() {
                    if let Some(h) = h {
                        expected.push((
                            second as u32,
                            op,
                            h.len(),
                            h.value_at_quantile(0.5),
                            h.value_at_quantile(0.99),
                        ));
                    }
                }
            }
            // Each row's histogram (for interval logs) holds that second's
            // samples in the same buckets the percentiles came from.
            for r in &rows {
                prop_assert_eq!(r.histogram.len(), r.count - r.errors);
                prop_assert_eq!(r.histogram.value_at_quantile(0.5), r.p50_ns);
                prop_assert_eq!(r.histogram.value_at_quantile(0.99), r.p99_ns);
            }
            let got: Vec<_> = rows
                .iter()
                .map(|r| (r.second, r.op, r.count, r.p50_ns, r.p99_ns))
                .collect();
            prop_assert_eq!(got, expected);
            // A single thread's own rows (live second included) agree too.
            let single = threads[0].timeseries();
            let mut alone = Recorder::<2>::default();
            alone.merge(&threads[0]);
            prop_assert_eq!(single, alone.timeseries());
        }
    }

    /// Ten minutes at 5,000 samples a second of latencies spread log-normally
    /// around 1 ms (most between 200 µs and 5 ms): the per-second series
    /// takes under 1,200 bytes a second (about 1,050 here), where a
    /// 2-significant-digit HdrHistogram per second took about 20 KiB.
    #[test]
    fn ten_minutes_of_seconds_stay_small() {
        const SECONDS: usize = 600;
        const PER_SECOND: usize = 5_000;
        let mut rng = fastrand::Rng::with_seed(7);
        let mut normal = || {
            // Box-Muller.
            let (u, v) = (rng.f64().max(1e-12), rng.f64());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        };
        let mut r = Recorder::<3>::default();
        let mut full = new_hist(2);
        let mut widest = 0usize;
        for second in 0..SECONDS {
            full.reset();
            for _ in 0..PER_SECOND {
                let ns = (1_000_000.0 * (0.8 * normal()).exp()) as u64;
                r.record(0, second, &sample(ns, None));
                r.note_in_flight(second, 16);
                record(&mut full, ns);
            }
            widest = widest.max(full.distinct_values());
        }
        let per_second = r.timeseries_bytes() / SECONDS;
        let old_per_second = widest * size_of::<u64>();
        eprintln!(
            "{per_second} bytes a second (a full histogram: up to {old_per_second} bytes of counts)"
        );
        assert!(per_second < 1_200, "{per_second} bytes a second");
        assert!(old_per_second > 10 * 1024, "{old_per_second}");
        let rows = r.timeseries();
        assert_eq!(rows.len(), SECONDS);
        assert!(rows.iter().all(|row| row.count == PER_SECOND as u64));
        assert!(
            rows.iter()
                .all(|row| row.p50_ns > 800_000 && row.p50_ns < 1_200_000),
            "{:?}",
            rows[0]
        );
    }

    /// The live second's histogram is emptied and reused, not reallocated,
    /// when the recorder moves to the next second.
    #[test]
    fn live_histogram_is_reused_across_seconds() {
        let mut r = Recorder::<3>::default();
        for i in 0..100u64 {
            r.record(2, 0, &sample(100_000 + i * 1_000_000, None));
        }
        let storage = r.live[2].latency.storage();
        for second in 1..50 {
            for i in 0..100u64 {
                r.record(2, second, &sample(100_000 + i * 1_000_000, None));
            }
            assert_eq!(r.live[2].latency.storage(), storage);
        }
        let rows = r.timeseries();
        assert_eq!(rows.len(), 50);
        assert!(rows.iter().all(|row| row.count == 100));
    }

    /// A sample of an earlier second lands in that second; a failure
    /// counts there but stays out of its percentiles.
    #[test]
    fn late_sample_goes_to_its_second() {
        let mut r = Recorder::<3>::default();
        r.record(0, 0, &sample(1_000_000, None));
        r.record(0, 3, &sample(2_000_000, None));
        r.record(0, 0, &sample(9_000_000, None));
        r.record(0, 0, &sample(50_000_000, Some("503 SlowDown")));
        r.record(0, 3, &sample(2_000_000, None));
        let rows = r.timeseries();
        let summary: Vec<_> = rows
            .iter()
            .map(|r| (r.second, r.count, r.errors, r.throttled))
            .collect();
        assert_eq!(summary, vec![(0, 3, 1, 1), (3, 2, 0, 0)]);
        assert!(
            rows[0].p99_ns > 8_900_000 && rows[0].p99_ns < 9_100_000,
            "{}",
            rows[0].p99_ns
        );
    }

    /// A fast failure never enters the success percentiles, and has its
    /// own count and histogram by group.
    #[test]
    fn failures_stay_out_of_success_latency() {
        let mut o = OpStats::default();
        for _ in 0..90 {
            o.record(&sample(20_000_000, None));
        }
        for _ in 0..10 {
            o.record(&sample(50_000, Some("503 SlowDown")));
        }
        o.record(&sample(1_000, Some("connection")));
        assert_eq!((o.count, o.errors, o.successes()), (101, 11, 90));
        assert_eq!(o.latency.len(), 90);
        assert!(o.latency.min() >= 19_900_000, "{}", o.latency.min());
        let thr = o.failures[FailureGroup::Throttled as usize]
            .as_ref()
            .unwrap();
        assert_eq!(thr.count, 10);
        assert!(thr.latency.max() < 60_000);
        let tr = o.failures[FailureGroup::Transport as usize]
            .as_ref()
            .unwrap();
        assert_eq!(tr.count, 1);
        assert!(o.failures[FailureGroup::Http as usize].is_none());
        assert_eq!(o.bytes, 900);
        assert_eq!(o.requests, 101);
    }

    #[test]
    fn timeseries_totals_equal_phase_totals() {
        let mut r = Recorder::<3>::default();
        for i in 0..1000u64 {
            let err = (i % 10 == 0).then_some("503 SlowDown");
            r.record(0, (i / 100) as usize, &sample(1_000_000 + i, err));
        }
        let rows = r.timeseries();
        assert_eq!(rows.len(), 10);
        assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), 1000);
        assert_eq!(rows.iter().map(|r| r.errors).sum::<u64>(), 100);
        let op = r.ops[0].as_ref().unwrap();
        assert_eq!(op.count, 1000);
        assert_eq!(op.errors_by_kind, vec![("503 SlowDown".to_string(), 100)]);
    }

    #[test]
    fn recording_grows_the_histogram() {
        let mut h = new_hist(3);
        record(&mut h, 20_000_000);
        record(&mut h, 3_600_000_000_000);
        assert_eq!(h.len(), 2);
        assert!(h.max() >= 3_599_000_000_000, "{}", h.max());
        assert!(h.min() >= 19_980_000, "{}", h.min());
    }
}
