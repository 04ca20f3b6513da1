//! One operation of the mix: which key, which range, which size, sent
//! through the target's [`ObjectClient`]. Each call returns an [`Outcome`]
//! (errors are data); the caller times it and records it.

use std::collections::VecDeque;

use tokio::time::Instant;

use crate::client::{ObjectClient, Outcome};
use crate::scenario::{OpSpec, Plan, RangePattern};
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
    pub written: VecDeque<String>,
    pub remember: usize,
    pub put_seq: u64,
    pub list_token: Option<String>,
    /// Sequential ranged reads: (object index, next offset).
    pub cursor: (u64, u64),
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
        }
    }

    fn wrote(&mut self, key: String) {
        if self.remember == 0 {
            return;
        }
        if self.written.len() >= self.remember {
            self.written.pop_front();
        }
        self.written.push_back(key);
    }
}

/// Keys of its own PUTs a worker keeps for DELETE.
pub const REMEMBER_WRITTEN: usize = 4096;

/// Fixed context of one (phase, target) for the operations.
pub struct OpContext<'a, C> {
    pub client: &'a C,
    pub plan: &'a Plan,
    /// `s3bench/<run id>/`: everything s3bench writes lives below it.
    pub run_prefix: &'a str,
    pub date: (i32, u32, u32),
}

impl<C: ObjectClient> OpContext<'_, C> {
    fn data_key(&self, st: &mut WorkerState, index: u64) {
        st.key.clear();
        st.key.push_str(self.run_prefix);
        self.plan.key(index, self.date, &mut st.key);
    }

    fn random_object(&self, st: &mut WorkerState) -> u64 {
        st.rng.u64(0..self.plan.dataset.objects.max(1))
    }

    pub async fn execute(&self, op: &OpSpec, st: &mut WorkerState) -> Outcome {
        match op {
            OpSpec::Get => {
                let i = self.random_object(st);
                self.data_key(st, i);
                self.client.get(&st.key, None).await
            }
            OpSpec::RangedGet { size, pattern } => {
                let (i, off) = self.next_range(st, *size, *pattern);
                self.data_key(st, i);
                let len = (*size)
                    .min(self.plan.object_size(i).saturating_sub(off))
                    .max(1);
                self.client.get(&st.key, Some((off, off + len - 1))).await
            }
            OpSpec::Head => {
                let i = self.random_object(st);
                self.data_key(st, i);
                self.client.head(&st.key).await
            }
            OpSpec::Put { size } => {
                let len = match size {
                    Some(d) => d.pick(st.rng.f64()),
                    None => self.plan.dataset.size.pick(st.rng.f64()),
                };
                let key = self.scratch_key(st);
                let out = self.client.put(&key, len).await;
                if out.error.is_none() {
                    st.wrote(key);
                }
                out
            }
            OpSpec::MultipartPut { size, part_size } => {
                let key = self.scratch_key(st);
                let out = self.client.multipart_put(&key, *size, *part_size).await;
                if out.error.is_none() {
                    st.wrote(key);
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
                // Continue where this page stopped; start over after the last page.
                st.list_token = next;
                out
            }
            OpSpec::Delete => {
                // Deleting what this worker wrote keeps "delete only what we
                // wrote" true; with nothing written, a DELETE of an absent
                // key under our prefix is still a real request (S3 answers 204).
                let key = st
                    .written
                    .pop_front()
                    .unwrap_or_else(|| format!("{}scratch/{}/absent", self.run_prefix, st.id));
                self.client.delete(&key).await
            }
        }
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
            st.wrote(format!("k{i}"));
        }
        assert_eq!(st.written, ["k7", "k8", "k9"]);
        let mut none = WorkerState::new(1, "w".into(), 1, 0);
        none.wrote("k".into());
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
