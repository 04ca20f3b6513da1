//! One operation of the mix: which key, which range, which size, sent
//! through the target's [`ObjectClient`]. Each call returns an [`Outcome`]
//! (errors are data); the caller times it and records it.

use std::cell::RefCell;
use std::collections::VecDeque;

use tokio::time::Instant;

use super::claims::Claims;
use crate::client::{ObjectClient, Outcome, WriteCondition};
use crate::scenario::{
    AppendEnd, ConditionalMode, GpEquivalent, OpKind, OpSpec, Plan, RangePattern, SizeDist,
    TargetKind,
};
use crate::stats::Sample;

/// The sample to record for an outcome: latency counted from `due`,
/// service time from `sent`.
pub fn sample(out: &Outcome, due: Instant, sent: Instant, done: Instant, ttfb: bool) -> Sample<'_> {
    let ns = |from: Instant, to: Instant| to.saturating_duration_since(from).as_nanos() as u64;
    Sample {
        latency_ns: ns(due, done),
        service_ns: ns(sent, done),
        ttfb_ns: if ttfb {
            out.first_byte.map(|t| ns(due, t))
        } else {
            None
        },
        bytes: out.bytes,
        requests: out.requests,
        failure: out.error.as_ref().map(|e| e.failure()),
        late_start: false,
        behind_session: false,
    }
}

/// What one worker task keeps between operations. Allocated once per worker.
pub struct WorkerState {
    pub rng: fastrand::Rng,
    /// Reused key buffer.
    pub key: String,
    /// `t<thread>w<worker>`: keeps concurrent writers' keys apart.
    pub id: String,
    /// Keys this worker PUT and has not deleted yet, oldest first, for the
    /// mix's DELETEs: at most `remember` of them (none without DELETE in the
    /// mix), so a long PUT phase does not grow memory. Keys dropped from
    /// here are still removed by the cleanup, which lists the run prefix.
    /// Each says whether it was a multipart upload (an audited claim).
    pub written: VecDeque<(String, bool)>,
    pub remember: usize,
    pub put_seq: u64,
    pub list_token: Option<String>,
    /// Sequential ranged reads: (object index, next offset).
    pub cursor: (u64, u64),
    /// This worker's index among all workers of the stage (all threads),
    /// which decides the key it shares under `contention`.
    pub slot: u64,
    /// `<phase>/r<round>s<stage>`: keeps shared keys of different phases,
    /// rounds and stages apart.
    pub scope: String,
    /// The object this worker appends to: (key, size, appends so far).
    pub appending: Option<(String, u64, u32)>,
    /// Create-only: the next key number this worker tries.
    pub lock_seq: u64,
    /// Compare-and-swap: the (ETag, size) this worker last saw of its key.
    pub cas: Option<(String, u64)>,
    /// A request the last op sent before its own (the checkpoint PUT of a
    /// rename), to be recorded under its own kind.
    pub before: Option<Before>,
    /// Record the last op's outcome under this kind instead (a rename
    /// whose checkpoint PUT failed never sent its RenameObject).
    pub record_as: Option<OpKind>,
    /// The key of the last op's throttled request (503 SlowDown, 429) and
    /// whether it is a key of the data set, for the report's throttling by
    /// key prefix. Set on the error path only.
    pub throttled: Option<(String, bool)>,
    /// What the answers this worker got say it left on the endpoint.
    pub claims: Claims,
}

/// A request an op sent first, recorded under its own op kind.
#[derive(Debug)]
pub struct Before {
    pub kind: OpKind,
    pub out: Outcome,
    pub done: Instant,
}

impl WorkerState {
    pub fn new(seed: u64, id: String, objects: u64, remember: usize) -> WorkerState {
        let mut rng = fastrand::Rng::with_seed(seed);
        let first = if objects > 0 { rng.u64(0..objects) } else { 0 };
        WorkerState {
            rng,
            key: String::with_capacity(128),
            id,
            written: VecDeque::new(),
            remember,
            put_seq: 0,
            list_token: None,
            cursor: (first, 0),
            slot: 0,
            scope: String::new(),
            appending: None,
            lock_seq: 0,
            cas: None,
            before: None,
            record_as: None,
            throttled: None,
            claims: Claims::new(seed),
        }
    }

    /// Remembers `key` when `out` was throttled.
    #[inline]
    fn note(&mut self, out: &Outcome, key: &str, data: bool) {
        if out.error.as_ref().is_some_and(|e| e.throttled()) {
            self.throttled = Some((key.to_string(), data));
        }
    }

    /// [`WorkerState::note`] for the data set key in `self.key`.
    #[inline]
    fn note_data(&mut self, out: &Outcome) {
        if out.error.as_ref().is_some_and(|e| e.throttled()) {
            self.throttled = Some((self.key.clone(), true));
        }
    }

    fn wrote(&mut self, key: String, multipart: bool) {
        if self.remember == 0 {
            return;
        }
        if self.written.len() >= self.remember {
            self.written.pop_front();
        }
        self.written.push_back((key, multipart));
    }

    /// The worker's claims once it stops: the object it was appending to
    /// is as its appends left it.
    pub fn take_claims(&mut self) -> Claims {
        if let Some((key, size, _)) = self.appending.take()
            && size > 0
        {
            self.claims.appended(key, size);
        }
        std::mem::take(&mut self.claims)
    }
}

/// Keys of its own PUTs a worker keeps for DELETE.
pub const REMEMBER_WRITTEN: usize = 4096;

/// The objects one engine thread added to the data set of one target
/// (`put` with `key = "dataset"`), shared by its workers; kept across
/// phases and rounds, as the data set keeps growing.
#[derive(Debug, Default)]
pub struct Grown {
    /// Data-set PUTs this thread has started: its k-th writes index
    /// `objects + k * threads + thread`, so threads never collide and each
    /// index is a pure function of the thread and its count.
    pub started: u64,
    /// Indices this thread wrote successfully, newest last, at most
    /// [`crate::scenario::ordered::MAX_NEWEST`].
    pub newest: VecDeque<u64>,
}

/// Fixed context of one (phase, target) for the operations.
pub struct OpContext<'a, C> {
    pub client: &'a C,
    pub plan: &'a Plan,
    /// `s3bench/<run id>/`: everything s3bench writes lives below it.
    pub run_prefix: &'a str,
    pub date: (i32, u32, u32),
    /// The target's bucket kind: directory-only ops take their General
    /// Purpose equivalent on a GP target.
    pub kind: TargetKind,
    /// What this thread added to the target's data set.
    pub grown: &'a RefCell<Grown>,
    /// This engine thread's index and the number of threads.
    pub thread: (usize, usize),
}

impl<C: ObjectClient> OpContext<'_, C> {
    pub(super) fn data_key(&self, st: &mut WorkerState, index: u64) {
        st.key.clear();
        st.key.push_str(self.run_prefix);
        self.plan.key(index, self.date, &mut st.key);
    }

    fn random_object(&self, st: &mut WorkerState) -> u64 {
        st.rng.u64(0..self.plan.dataset.objects.max(1))
    }

    /// One of the `window` newest objects this thread added to the data
    /// set, or of the data set's last `window` before it added any.
    fn newest_object(&self, st: &mut WorkerState, window: u64) -> u64 {
        let g = self.grown.borrow();
        let n = g.newest.len() as u64;
        if n == 0 {
            let objects = self.plan.dataset.objects.max(1);
            return objects - 1 - st.rng.u64(0..window.min(objects));
        }
        g.newest[(n - 1 - st.rng.u64(0..window.min(n))) as usize]
    }

    /// Carries out one op of the mix (its requests, on this worker's
    /// client) and returns its outcome; the worker times and records it.
    pub async fn perform(&self, op: &OpSpec, st: &mut WorkerState) -> Outcome {
        match op {
            OpSpec::Get => {
                let i = self.random_object(st);
                self.data_key(st, i);
                let out = self.client.get(&st.key, None).await;
                st.note_data(&out);
                out
            }
            OpSpec::GetNewest { window } => self.get_newest(st, *window).await,
            OpSpec::PutNext => self.put_next(st).await,
            OpSpec::RangedGet { size, pattern } => {
                let (i, off) = self.next_range(st, *size, *pattern);
                self.data_key(st, i);
                let len = (*size)
                    .min(self.plan.object_size(i).saturating_sub(off))
                    .max(1);
                let out = self.client.get(&st.key, Some((off, off + len - 1))).await;
                st.note_data(&out);
                out
            }
            OpSpec::Head => {
                let i = self.random_object(st);
                self.data_key(st, i);
                let out = self.client.head(&st.key).await;
                st.note_data(&out);
                out
            }
            OpSpec::Put { size } => {
                let len = match size {
                    Some(d) => d.pick(st.rng.f64()),
                    None => self.plan.dataset.size.pick(st.rng.f64()),
                };
                let key = self.scratch_key(st);
                let out = self.client.put(&key, len).await;
                st.note(&out, &key, false);
                if out.error.is_none() {
                    st.wrote(key, false);
                }
                out
            }
            OpSpec::MultipartPut { size, part_size } => {
                let key = self.scratch_key(st);
                let out = self.client.multipart_put(&key, *size, *part_size).await;
                st.note(&out, &key, false);
                if out.error.is_none() {
                    st.claims.uploaded(key.clone(), *size);
                    st.wrote(key, true);
                }
                out
            }
            OpSpec::List {
                prefix,
                page_size,
                delimiter,
            } => {
                let mut full = String::with_capacity(self.run_prefix.len() + 32);
                full.push_str(self.run_prefix);
                if let Some(p) = prefix {
                    full.push_str(p);
                }
                let (out, next) = self
                    .client
                    .list(&full, *page_size, *delimiter, st.list_token.take())
                    .await;
                st.note(&out, &full, false);
                // Continue where this page stopped; start over after the last page.
                st.list_token = next;
                out
            }
            OpSpec::Append { size, end, gp } => self.append(st, *size, *end, *gp).await,
            OpSpec::Rename { size, gp } => self.rename(st, size, *gp).await,
            OpSpec::ConditionalPut {
                size,
                mode,
                contention,
            } => {
                let group = st.slot / u64::from((*contention).max(1));
                match mode {
                    ConditionalMode::CreateOnly => {
                        st.lock_seq += 1;
                        let key = format!(
                            "{}lock/{}/g{group}/{:08}",
                            self.run_prefix, st.scope, st.lock_seq
                        );
                        let out = self
                            .client
                            .put_if(&key, *size, WriteCondition::CreateOnly)
                            .await
                            .0;
                        st.note(&out, &key, false);
                        st.claims.create_only(&key, out.error.is_none());
                        out
                    }
                    ConditionalMode::CompareAndSwap => {
                        let key = format!("{}cas/{}/g{group}", self.run_prefix, st.scope);
                        let out = self.compare_and_swap(st, &key, *size).await;
                        st.note(&out, &key, false);
                        out
                    }
                }
            }
            OpSpec::Copy => {
                let i = self.random_object(st);
                self.data_key(st, i);
                st.put_seq += 1;
                let dst = format!("{}copy/{}/{:08}", self.run_prefix, st.id, st.put_seq);
                let out = self.client.copy(&st.key, &dst).await;
                st.note(&out, &dst, false);
                if out.error.is_none() {
                    st.claims.copied(dst, self.plan.object_size(i));
                }
                out
            }
            OpSpec::Delete => {
                // Deleting what this worker wrote keeps "delete only what we
                // wrote" true; with nothing written, a DELETE of an absent
                // key under our prefix is still a real request (S3 answers 204).
                let (key, multipart) = st.written.pop_front().unwrap_or_else(|| {
                    (
                        format!("{}scratch/{}/absent", self.run_prefix, st.id),
                        false,
                    )
                });
                if multipart {
                    // Deleted or perhaps deleted: no longer a claim.
                    st.claims.upload_deleted(&key);
                }
                let out = self.client.delete(&key).await;
                st.note(&out, &key, false);
                out
            }
        }
    }

    /// A GET of one of the `window` newest objects of the data set.
    async fn get_newest(&self, st: &mut WorkerState, window: u64) -> Outcome {
        let i = self.newest_object(st, window);
        self.data_key(st, i);
        let out = self.client.get(&st.key, None).await;
        st.note_data(&out);
        out
    }

    /// A PUT of the data set's next object (engine thread i of T takes
    /// every T-th index past the prepared objects), remembered as newest
    /// once written.
    async fn put_next(&self, st: &mut WorkerState) -> Outcome {
        let i = {
            let mut g = self.grown.borrow_mut();
            let (thread, threads) = self.thread;
            let i = self.plan.dataset.objects + g.started * threads as u64 + thread as u64;
            g.started += 1;
            i
        };
        self.data_key(st, i);
        let out = self.client.put(&st.key, self.plan.object_size(i)).await;
        if out.error.is_none() {
            let mut g = self.grown.borrow_mut();
            if g.newest.len() as u64 >= crate::scenario::ordered::MAX_NEWEST {
                g.newest.pop_front();
            }
            g.newest.push_back(i);
        }
        st.note_data(&out);
        out
    }

    /// A checkpoint commit: PUT a temporary object (recorded as its own put),
    /// then rename it (directory buckets) or copy and delete it (General
    /// Purpose, when the scenario asks for the copy path).
    async fn rename(
        &self,
        st: &mut WorkerState,
        size: &SizeDist,
        gp: Option<GpEquivalent>,
    ) -> Outcome {
        let len = size.pick(st.rng.f64());
        st.put_seq += 1;
        let tmp = format!("{}tmp/{}/{:08}", self.run_prefix, st.id, st.put_seq);
        let dst = format!("{}ckpt/{}/{:08}", self.run_prefix, st.id, st.put_seq);
        let put = self.client.put(&tmp, len).await;
        if put.error.is_some() {
            st.note(&put, &tmp, false);
            st.record_as = Some(OpKind::Put);
            return put;
        }
        st.before = Some(Before {
            kind: OpKind::Put,
            out: put,
            done: Instant::now(),
        });
        let out = match gp.filter(|_| self.kind == TargetKind::GeneralPurpose) {
            Some(_) => {
                let mut out = self.client.copy(&tmp, &dst).await;
                if out.error.is_none() {
                    let del = self.client.delete(&tmp).await;
                    out.requests += del.requests;
                    out.error = del.error;
                }
                out
            }
            None => self.client.rename(&tmp, &dst).await,
        };
        st.note(&out, &dst, false);
        if out.error.is_none() {
            st.claims.renamed(tmp, dst, len);
        }
        out
    }

    /// One append to the worker's current object, or the first append of a
    /// new one. Each worker owns its objects, so the offset (the size it
    /// last wrote) is right unless the object changed behind its back; a
    /// refused or failed append starts a new object.
    async fn append(
        &self,
        st: &mut WorkerState,
        size: u64,
        end: AppendEnd,
        gp: Option<GpEquivalent>,
    ) -> Outcome {
        let (key, offset, count) = match st.appending.take() {
            Some(a) => a,
            None => {
                st.put_seq += 1;
                let key = format!("{}append/{}/{:08}", self.run_prefix, st.id, st.put_seq);
                (key, 0, 0)
            }
        };
        let rewrite = gp.is_some() && self.kind == TargetKind::GeneralPurpose;
        let mut out = if rewrite {
            // What a General Purpose bucket user does instead: PUT the whole object again.
            self.client.put(&key, offset + size).await
        } else {
            self.client.append(&key, offset, size).await
        };
        st.note(&out, &key, false);
        match &out.error {
            None => {
                // The payload of this op is what it added to the object.
                out.bytes = size;
                let (offset, count) = (offset + size, count + 1);
                st.claims.append_answer(out.object_size, offset);
                let done = match end {
                    AppendEnd::Count(n) => count >= n,
                    AppendEnd::Size(max) => offset + size > max,
                };
                if done {
                    st.claims.appended(key, offset);
                } else {
                    st.appending = Some((key, offset, count));
                }
            }
            // Refused: the object is as the earlier appends left it. An
            // append that may have happened leaves its size unknown, so
            // the object is no claim.
            Some(e) if e.not_done() && offset > 0 => st.claims.appended(key, offset),
            Some(_) => {}
        }
        out
    }

    /// Read-modify-write of a shared key: with no ETag known, HEAD it (and
    /// create it, create-only, when absent); then PUT one byte longer than
    /// the object is under `If-Match`. The object's length counts the
    /// successful writes, so a lost update would show. A stale ETag (412,
    /// 409) is forgotten and read again on the next op.
    async fn compare_and_swap(&self, st: &mut WorkerState, key: &str, size: u64) -> Outcome {
        let mut requests = 0;
        let (etag, len) = match st.cas.take() {
            Some(c) => c,
            None => {
                let (head, meta) = self.client.stat(key).await;
                requests += head.requests;
                match (head.error, meta) {
                    (None, Some(m)) => m,
                    (Some(e), _) if e.status == Some(404) => {
                        let (mut out, etag) = self
                            .client
                            .put_if(key, size, WriteCondition::CreateOnly)
                            .await;
                        st.claims.swap(key, size, out.error.as_ref());
                        out.requests += requests;
                        if let Some(t) = etag.filter(|_| out.error.is_none()) {
                            st.cas = Some((t, size));
                        }
                        return out;
                    }
                    (Some(e), _) => return Outcome::failed(requests, e),
                    (None, None) => {
                        return Outcome::failed(
                            requests,
                            crate::client::ErrorKind {
                                key: "HEAD answered no ETag or size".into(),
                                status: None,
                            },
                        );
                    }
                }
            }
        };
        let (mut out, new) = self
            .client
            .put_if(key, len + 1, WriteCondition::IfMatch(&etag))
            .await;
        st.claims.swap(key, size, out.error.as_ref());
        out.requests += requests;
        if let Some(t) = new.filter(|_| out.error.is_none()) {
            st.cas = Some((t, len + 1));
        }
        out
    }

    fn scratch_key(&self, st: &mut WorkerState) -> String {
        st.put_seq += 1;
        format!("{}put/{}/{:08}", self.run_prefix, st.id, st.put_seq)
    }

    fn next_range(&self, st: &mut WorkerState, size: u64, pattern: RangePattern) -> (u64, u64) {
        let objects = self.plan.dataset.objects.max(1);
        match pattern {
            RangePattern::Random => {
                let i = st.rng.u64(0..objects);
                let obj = self.plan.object_size(i);
                let off = if obj > size {
                    st.rng.u64(0..=obj - size)
                } else {
                    0
                };
                (i, off)
            }
            RangePattern::Sequential => {
                let (mut i, mut off) = st.cursor;
                if off >= self.plan.object_size(i) {
                    i = (i + 1) % objects;
                    off = 0;
                }
                st.cursor = (i, off + size);
                (i, off)
            }
        }
    }
}

/// Picks ops by weight with one random draw and a short scan.
pub struct Mix {
    ops: Vec<(u32, OpSpec)>,
    total: u32,
}

impl Mix {
    pub fn new(mix: &[crate::scenario::WeightedOp]) -> Mix {
        let mut acc = 0;
        let ops = mix
            .iter()
            .map(|w| {
                acc += w.weight;
                (acc, w.op.clone())
            })
            .collect();
        Mix { ops, total: acc }
    }

    /// True when the mix has a DELETE.
    pub fn deletes(&self) -> bool {
        self.ops.iter().any(|(_, op)| matches!(op, OpSpec::Delete))
    }

    #[inline]
    pub fn pick(&self, rng: &mut fastrand::Rng) -> &OpSpec {
        let x = rng.u32(0..self.total.max(1));
        let i = self.ops.partition_point(|(upto, _)| *upto <= x);
        &self.ops[i.min(self.ops.len() - 1)].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::WeightedOp;

    #[test]
    fn written_keys_are_bounded() {
        let mut st = WorkerState::new(1, "w".into(), 1, 3);
        for i in 0..10 {
            st.wrote(format!("k{i}"), false);
        }
        let keys: Vec<&str> = st.written.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["k7", "k8", "k9"]);
        let mut none = WorkerState::new(1, "w".into(), 1, 0);
        none.wrote("k".into(), false);
        assert!(none.written.is_empty());
    }

    #[test]
    fn mix_follows_weights() {
        let mix = Mix::new(&[
            WeightedOp {
                op: OpSpec::Get,
                weight: 3,
            },
            WeightedOp {
                op: OpSpec::Head,
                weight: 1,
            },
        ]);
        let mut rng = fastrand::Rng::with_seed(7);
        let heads = (0..40_000)
            .filter(|_| matches!(mix.pick(&mut rng), OpSpec::Head))
            .count();
        assert!((9_000..11_000).contains(&heads), "{heads}");
    }
}
