//! One operation of the mix, issued through the SDK. Each call returns an
//! [`Outcome`] (errors are data); the caller times it and records it.

use std::collections::VecDeque;
use std::time::Instant;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use futures_util::StreamExt as _;

use crate::scenario::{OpSpec, Plan, RangePattern};
use crate::stats::Sample;
use crate::target::direct::{DirectClient, Reply};
use crate::target::{ErrorKind, classify, synthetic_body};

/// At most this many parts of one multipart PUT are in flight at once, as a
/// checkpoint writer would upload them.
const PART_CONCURRENCY: usize = 8;

#[derive(Debug, Default)]
pub struct Outcome {
    /// When the first body byte arrived (GET-like operations).
    pub first_byte: Option<Instant>,
    pub bytes: u64,
    pub requests: u64,
    pub error: Option<ErrorKind>,
}

/// The outcome of an operation that is one request with no payload.
fn one_request<T, E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static>(
    res: Result<
        T,
        aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
    >,
) -> Outcome {
    match res {
        Ok(_) => Outcome {
            requests: 1,
            ..Outcome::default()
        },
        Err(e) => Outcome::failed(1, classify(&e)),
    }
}

impl From<Reply> for Outcome {
    fn from(r: Reply) -> Outcome {
        Outcome {
            first_byte: r.first_byte,
            bytes: r.bytes,
            requests: 1,
            error: r.error,
        }
    }
}

impl Outcome {
    /// The sample to record for this outcome: latency counted from `due`,
    /// service time from `sent`.
    pub fn sample(&self, due: Instant, sent: Instant, done: Instant, ttfb: bool) -> Sample<'_> {
        let ns = |from: Instant, to: Instant| to.saturating_duration_since(from).as_nanos() as u64;
        Sample {
            latency_ns: ns(due, done),
            service_ns: ns(sent, done),
            ttfb_ns: if ttfb {
                self.first_byte.map(|t| ns(due, t))
            } else {
                None
            },
            bytes: self.bytes,
            requests: self.requests,
            error: self.error.as_ref().map(|e| e.key.as_str()),
            throttled: self.error.as_ref().is_some_and(|e| e.throttled()),
            late_start: false,
            behind_session: false,
        }
    }

    fn failed(requests: u64, e: ErrorKind) -> Outcome {
        Outcome {
            requests,
            error: Some(e),
            ..Outcome::default()
        }
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
pub struct OpContext<'a> {
    pub client: &'a Client,
    /// The direct request path for GET, HEAD, PUT and DELETE, when the
    /// target's settings allow it.
    pub direct: Option<&'a DirectClient>,
    pub bucket: &'a str,
    pub plan: &'a Plan,
    /// `s3bench/<run id>/`: everything s3bench writes lives below it.
    pub run_prefix: &'a str,
    pub date: (i32, u32, u32),
}

impl OpContext<'_> {
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
                self.get(&st.key, None).await
            }
            OpSpec::RangedGet { size, pattern } => {
                let (i, off) = self.next_range(st, *size, *pattern);
                self.data_key(st, i);
                let len = (*size)
                    .min(self.plan.object_size(i).saturating_sub(off))
                    .max(1);
                self.get(&st.key, Some((off, off + len - 1))).await
            }
            OpSpec::Head => {
                let i = self.random_object(st);
                self.data_key(st, i);
                if let Some(d) = self.direct {
                    return d.head(&st.key).await.into();
                }
                one_request(
                    self.client
                        .head_object()
                        .bucket(self.bucket)
                        .key(st.key.clone())
                        .send()
                        .await,
                )
            }
            OpSpec::Put { size } => {
                let len = match size {
                    Some(d) => d.pick(st.rng.f64()),
                    None => self.plan.dataset.size.pick(st.rng.f64()),
                };
                let key = self.scratch_key(st);
                let out = self.put(&key, len).await;
                if out.error.is_none() {
                    st.wrote(key);
                }
                out
            }
            OpSpec::MultipartPut { size, part_size } => {
                let key = self.scratch_key(st);
                let out = self.multipart_put(key.clone(), *size, *part_size).await;
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
                self.list(st, prefix.as_deref(), *page_size, *delimiter)
                    .await
            }
            OpSpec::Delete => {
                // Deleting what this worker wrote keeps "delete only what we
                // wrote" true; with nothing written, a DELETE of an absent
                // key under our prefix is still a real request (S3 answers 204).
                let key = st
                    .written
                    .pop_front()
                    .unwrap_or_else(|| format!("{}scratch/{}/absent", self.run_prefix, st.id));
                if let Some(d) = self.direct {
                    return d.delete(&key).await.into();
                }
                one_request(
                    self.client
                        .delete_object()
                        .bucket(self.bucket)
                        .key(key)
                        .send()
                        .await,
                )
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

    /// GET (optionally ranged), streaming the body and counting it, never
    /// buffering it whole.
    pub async fn get(&self, key: &str, range: Option<(u64, u64)>) -> Outcome {
        if let Some(d) = self.direct {
            return d.get(key, range).await.into();
        }
        let mut req = self.client.get_object().bucket(self.bucket).key(key);
        if let Some((first, last)) = range {
            req = req.range(format!("bytes={first}-{last}"));
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Outcome::failed(1, classify(&e)),
        };
        let headers_at = Instant::now();
        let mut body: ByteStream = resp.body;
        let mut out = Outcome {
            requests: 1,
            ..Outcome::default()
        };
        loop {
            match body.try_next().await {
                Ok(Some(chunk)) => {
                    if out.first_byte.is_none() && !chunk.is_empty() {
                        out.first_byte = Some(Instant::now());
                    }
                    out.bytes += chunk.len() as u64;
                }
                Ok(None) => break,
                Err(_) => {
                    out.error = Some(ErrorKind {
                        key: "body: connection".into(),
                        status: None,
                    });
                    break;
                }
            }
        }
        // An empty body's first byte is its response head.
        out.first_byte.get_or_insert(headers_at);
        out
    }

    pub async fn put(&self, key: &str, len: u64) -> Outcome {
        if let Some(d) = self.direct {
            return d.put(key, len).await.into();
        }
        match self
            .client
            .put_object()
            .bucket(self.bucket)
            .key(key)
            .content_length(len as i64)
            .body(synthetic_body(len))
            .send()
            .await
        {
            Ok(_) => Outcome {
                bytes: len,
                requests: 1,
                ..Outcome::default()
            },
            Err(e) => Outcome::failed(1, classify(&e)),
        }
    }

    /// CreateMultipartUpload, parts (up to 8 in flight), Complete; aborts on
    /// failure so no orphaned upload is left behind.
    pub async fn multipart_put(&self, key: String, len: u64, part_size: u64) -> Outcome {
        let create = match self
            .client
            .create_multipart_upload()
            .bucket(self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(c) => c,
            Err(e) => return Outcome::failed(1, classify(&e)),
        };
        let Some(upload_id) = create.upload_id else {
            return Outcome::failed(
                1,
                ErrorKind {
                    key: "no upload id in response".into(),
                    status: None,
                },
            );
        };
        let parts = len.div_ceil(part_size).max(1);
        let results: Vec<Result<CompletedPart, ErrorKind>> = futures_util::stream::iter(0..parts)
            .map(|p| {
                let part_len = part_size.min(len - p * part_size);
                let (key, upload_id) = (&key, &upload_id);
                async move {
                    let n = (p + 1) as i32;
                    self.client
                        .upload_part()
                        .bucket(self.bucket)
                        .key(key)
                        .upload_id(upload_id)
                        .part_number(n)
                        .content_length(part_len as i64)
                        .body(synthetic_body(part_len))
                        .send()
                        .await
                        .map(|r| {
                            CompletedPart::builder()
                                .part_number(n)
                                .set_e_tag(r.e_tag)
                                .build()
                        })
                        .map_err(|e| classify(&e))
                }
            })
            .buffered(PART_CONCURRENCY)
            .collect()
            .await;
        let mut requests = 1 + parts;
        let mut completed = Vec::with_capacity(results.len());
        let mut failure = None;
        for r in results {
            match r {
                Ok(p) => completed.push(p),
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        if let Some(e) = failure {
            requests += 1;
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(self.bucket)
                .key(&key)
                .upload_id(&upload_id)
                .send()
                .await;
            return Outcome::failed(requests, e);
        }
        requests += 1;
        match self
            .client
            .complete_multipart_upload()
            .bucket(self.bucket)
            .key(&key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .send()
            .await
        {
            Ok(_) => Outcome {
                bytes: len,
                requests,
                ..Outcome::default()
            },
            Err(e) => Outcome::failed(requests, classify(&e)),
        }
    }

    async fn list(
        &self,
        st: &mut WorkerState,
        prefix: Option<&str>,
        page_size: u32,
        delimiter: bool,
    ) -> Outcome {
        let mut full = String::with_capacity(self.run_prefix.len() + 32);
        full.push_str(self.run_prefix);
        if let Some(p) = prefix {
            full.push_str(p);
        }
        let mut req = self
            .client
            .list_objects_v2()
            .bucket(self.bucket)
            .prefix(full)
            .max_keys(page_size as i32)
            .set_continuation_token(st.list_token.take());
        if delimiter {
            req = req.delimiter("/");
        }
        match req.send().await {
            Ok(r) => {
                // Continue where this page stopped; start over after the last page.
                st.list_token = r.next_continuation_token;
                Outcome {
                    requests: 1,
                    ..Outcome::default()
                }
            }
            Err(e) => Outcome::failed(1, classify(&e)),
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
