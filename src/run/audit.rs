//! The audits: after each round of a measured phase on a target, before
//! the next round writes there and long before the cleanup, what the
//! answers said ([`Claims`]) is read back and compared with what the
//! endpoint holds. An S3-compatible server can answer 200 to an append it
//! turned into an overwrite, to a rename it stored as an empty object, or
//! to two create-only writes of one key; those requests would otherwise be
//! published as clean successes.
//!
//! Off the measured path: the engine is idle while they run, their
//! requests are counted apart (`TargetInfo::audit_requests`, like the
//! preflight's), and each check reads at most [`SAMPLE`] items per round
//! and target, eight at a time. What they find is data
//! (`TargetPhaseResult::audits`); the report words it.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;

use crate::client::TargetConfig;
use crate::engine::claims::{Claims, SAMPLE, Sized};
use crate::report::model::{AuditCheck, OpAudit, TargetPhaseResult};

/// Reads in flight at once per check.
const IN_FLIGHT: usize = 8;
/// Attempts per read on a transient answer (5xx, 429, no answer).
const ATTEMPTS: u32 = 3;

/// What a read of one key found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The object is there with this many bytes.
    Size(u64),
    /// 404: no object.
    Missing,
    /// No conclusive answer (every attempt failed).
    Failed,
}

/// Reads what a key holds; returns the read and the requests it took.
pub trait Reader {
    fn head(&self, key: &str) -> impl Future<Output = (Read, u64)>;
}

/// The audit's own clients, one per target: the target's settings with
/// retries off (the audit retries itself, so it counts every attempt).
pub struct Auditor {
    clients: Vec<aws_sdk_s3::Client>,
    /// The run's op log (`--op-log`): each audit request gets its row.
    op_log: Option<std::sync::Arc<crate::oplog::Sink>>,
}

/// One job's audits and the requests they sent, by S3 operation name.
#[derive(Debug, Default)]
pub struct Audited {
    pub audits: Vec<OpAudit>,
    pub requests: BTreeMap<String, u64>,
}

impl Auditor {
    pub fn new(targets: &[TargetConfig]) -> Auditor {
        let clients = targets
            .iter()
            .map(|t| {
                let c = t.build_client();
                aws_sdk_s3::Client::from_conf(
                    c.config()
                        .to_builder()
                        .retry_config(RetryConfig::disabled())
                        .build(),
                )
            })
            .collect();
        Auditor {
            clients,
            op_log: None,
        }
    }

    /// Logs the audits' requests in the run's op log, as stage `audit` of
    /// the phase and round they check.
    pub fn with_op_log(mut self, sink: Option<std::sync::Arc<crate::oplog::Sink>>) -> Auditor {
        self.op_log = sink;
        self
    }

    /// Audits what one job (phase `phase`, round `round`) on target `ti`
    /// claims. CreateSession requests its client made (a directory bucket)
    /// are counted from the target's probe, which the caller took just
    /// before.
    pub async fn audit(
        &self,
        target: &TargetConfig,
        ti: usize,
        (phase, round): (usize, u32),
        claims: &Claims,
    ) -> Audited {
        if claims.is_empty() {
            return Audited::default();
        }
        let reader = SdkReader {
            client: &self.clients[ti],
            bucket: &target.spec.bucket,
        };
        let ctx = crate::oplog::Ctx {
            target: ti as u16,
            phase: Some(phase as u16),
            round,
            stage: crate::oplog::Stage::Audit,
            thread: None,
            due: None,
        };
        let audits =
            crate::oplog::scope(self.op_log.as_ref(), ctx, false, check(claims, &reader)).await;
        let mut requests = BTreeMap::new();
        let heads: u64 = audits.iter().map(|a| a.requests).sum();
        if heads > 0 {
            requests.insert("HeadObject".to_string(), heads);
        }
        let sessions = target.probe.take().count;
        if sessions > 0 {
            requests.insert("CreateSession".to_string(), sessions);
        }
        Audited { audits, requests }
    }
}

struct SdkReader<'a> {
    client: &'a aws_sdk_s3::Client,
    bucket: &'a str,
}

impl Reader for SdkReader<'_> {
    async fn head(&self, key: &str) -> (Read, u64) {
        let mut attempts = 0u64;
        loop {
            attempts += 1;
            let r = self
                .client
                .head_object()
                .bucket(self.bucket)
                .key(key)
                .send()
                .await;
            let status = match r {
                Ok(o) => {
                    let read = o
                        .content_length()
                        .and_then(|n| u64::try_from(n).ok())
                        .map_or(Read::Failed, Read::Size);
                    return (read, attempts);
                }
                Err(e) => e.raw_response().map(|r| r.status().as_u16()),
            };
            if status == Some(404) {
                return (Read::Missing, attempts);
            }
            let transient = status.is_none_or(|s| s >= 500 || s == 429);
            if !transient || attempts >= u64::from(ATTEMPTS) {
                return (Read::Failed, attempts);
            }
            tokio::time::sleep(Duration::from_millis(50 << (attempts - 1))).await;
        }
    }
}

/// Reads `keys`, [`IN_FLIGHT`] at a time; the reads in order and the
/// requests they took. (Batches joined in turn rather than a buffered
/// stream: a stream combinator's closure would make the run's future
/// lose `Send` to a higher-ranked lifetime.)
async fn read_all<'a, R: Reader>(
    reader: &R,
    keys: impl Iterator<Item = &'a str>,
) -> (Vec<Read>, u64) {
    let keys: Vec<&str> = keys.collect();
    let mut reads = Vec::with_capacity(keys.len());
    let mut requests = 0;
    for batch in keys.chunks(IN_FLIGHT) {
        let got = futures_util::future::join_all(batch.iter().map(|k| reader.head(k))).await;
        for (read, n) in got {
            reads.push(read);
            requests += n;
        }
    }
    (reads, requests)
}

/// A phase's result on a target with its audits, and each audited op
/// marked with their verdict.
pub fn attach(mut tr: TargetPhaseResult, audits: Vec<OpAudit>) -> TargetPhaseResult {
    for (op, o) in &mut tr.ops {
        o.audit = crate::report::audit::op_verdict(&audits, op);
    }
    tr.audits = audits;
    tr
}

/// Every check the claims call for, each read back through `reader`.
pub async fn check<R: Reader>(claims: &Claims, reader: &R) -> Vec<OpAudit> {
    let mut out = Vec::new();
    if claims.appends > 0 {
        let mut a = sizes(reader, "append", AuditCheck::AppendSize, &claims.appended).await;
        a.claimed = claims.appends;
        a.sizes_said = claims.sizes_said;
        a.sizes_wrong = claims.sizes_wrong;
        a.verdict = a.judge();
        out.push(a);
    }
    if claims.renamed.total > 0 {
        out.push(renames(reader, claims).await);
    }
    if !claims.create_only.is_empty() {
        out.push(create_only(claims));
    }
    if !claims.swaps.is_empty() {
        out.push(swaps(reader, claims).await);
    }
    if claims.copied.total > 0 {
        let mut a = sizes(reader, "copy", AuditCheck::CopySize, &claims.copied).await;
        a.claimed = claims.copied.total;
        out.push(a);
    }
    if claims.uploaded.total > 0 {
        let mut a = sizes(
            reader,
            "multipart_put",
            AuditCheck::MultipartSize,
            &claims.uploaded,
        )
        .await;
        a.claimed = claims.uploaded.total;
        out.push(a);
    }
    out
}

/// Objects that should hold a known number of bytes.
async fn sizes<R: Reader>(
    reader: &R,
    op: &str,
    check: AuditCheck,
    items: &crate::engine::claims::Sampled<Sized>,
) -> OpAudit {
    let mut a = OpAudit::new(op, check);
    a.items = items.total;
    let (reads, requests) = read_all(reader, items.items().map(|s| s.key.as_str())).await;
    a.requests = requests;
    for (s, r) in items.items().zip(reads) {
        let n = match r {
            Read::Size(n) => n,
            Read::Missing => 0,
            Read::Failed => {
                a.unreadable += 1;
                continue;
            }
        };
        a.checked += 1;
        a.expected += s.size;
        a.seen += n;
        a.broken += u64::from(n != s.size || r == Read::Missing);
    }
    a.verdict = a.judge();
    a
}

/// Each sampled rename: the destination holds the bytes written at the
/// source, and the source is gone.
async fn renames<R: Reader>(reader: &R, claims: &Claims) -> OpAudit {
    let mut a = OpAudit::new("rename", AuditCheck::RenameMoved);
    let moved: Vec<_> = claims.renamed.items().collect();
    a.items = claims.renamed.total;
    a.claimed = claims.renamed.total;
    let keys = moved.iter().flat_map(|m| [m.to.as_str(), m.from.as_str()]);
    let (reads, requests) = read_all(reader, keys).await;
    a.requests = requests;
    for (m, r) in moved.iter().zip(reads.chunks(2)) {
        let (to, from) = (r[0], r[1]);
        let dst_ok = match to {
            Read::Size(n) => Some(n == m.size),
            Read::Missing => Some(false),
            Read::Failed => None,
        };
        let src_gone = match from {
            Read::Missing => Some(true),
            Read::Size(_) => Some(false),
            Read::Failed => None,
        };
        let broken = match (dst_ok, src_gone) {
            (Some(true), Some(true)) => false,
            (Some(false), _) | (_, Some(false)) => true,
            _ => {
                a.unreadable += 1;
                continue;
            }
        };
        a.checked += 1;
        a.broken += u64::from(broken);
        a.sources_left += u64::from(src_gone == Some(false));
        if to != Read::Failed {
            a.expected += m.size;
            a.seen += n_of(to);
        }
    }
    a.verdict = a.judge();
    a
}

fn n_of(r: Read) -> u64 {
    match r {
        Read::Size(n) => n,
        _ => 0,
    }
}

/// Create-only: from the answers alone, keys with more than one winner.
fn create_only(claims: &Claims) -> OpAudit {
    let mut a = OpAudit::new("conditional_put", AuditCheck::CreateOnlyOneWinner);
    let wins: u64 = claims.create_only.values().map(|&n| u64::from(n)).sum();
    a.claimed = wins;
    a.items = claims.create_only.len() as u64;
    a.checked = a.items;
    a.expected = a.items;
    a.seen = wins;
    a.broken = claims.create_only.values().filter(|&&n| n > 1).count() as u64;
    a.verdict = a.judge();
    a
}

/// Compare-and-swap: each key's final length counts the writes that
/// survived (created at `base` bytes, one byte longer per swap); fewer than
/// were answered success is a lost update. (More can be writes whose answer
/// was lost, which prove nothing.)
async fn swaps<R: Reader>(reader: &R, claims: &Claims) -> OpAudit {
    let mut a = OpAudit::new("conditional_put", AuditCheck::SwapsSurvive);
    let mut keys: Vec<(&String, _)> = claims.swaps.iter().collect();
    keys.sort_by(|x, y| x.0.cmp(y.0));
    a.items = keys.len() as u64;
    a.claimed = keys.iter().map(|(_, k)| k.wins).sum();
    keys.truncate(SAMPLE);
    let (reads, requests) = read_all(reader, keys.iter().map(|(k, _)| k.as_str())).await;
    a.requests = requests;
    for ((_, k), r) in keys.iter().zip(reads) {
        let survived = match r {
            Read::Size(n) if n >= k.base => n - k.base + 1,
            Read::Size(_) | Read::Missing => 0,
            Read::Failed => {
                a.unreadable += 1;
                continue;
            }
        };
        a.checked += 1;
        a.expected += k.wins;
        a.seen += survived;
        a.broken += u64::from(survived < k.wins);
    }
    a.verdict = a.judge();
    a
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::report::model::AuditVerdict;

    /// What an endpoint holds, by key; `fail` keys never answer.
    #[derive(Default)]
    struct Held {
        objects: HashMap<String, u64>,
        fail: Vec<String>,
    }

    impl Reader for Held {
        async fn head(&self, key: &str) -> (Read, u64) {
            if self.fail.iter().any(|k| k == key) {
                return (Read::Failed, u64::from(ATTEMPTS));
            }
            match self.objects.get(key) {
                Some(&n) => (Read::Size(n), 1),
                None => (Read::Missing, 1),
            }
        }
    }

    fn held(objects: &[(&str, u64)]) -> Held {
        Held {
            objects: objects.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
            fail: Vec::new(),
        }
    }

    fn run<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn one(audits: &[OpAudit], check: AuditCheck) -> &OpAudit {
        audits.iter().find(|a| a.check == check).expect("audited")
    }

    /// An endpoint that did what it answered passes every check; one that
    /// overwrote appends, faked renames and lost swaps fails each, with
    /// the numbers the report words.
    #[test]
    fn each_check_tells_done_from_answered() {
        let mut c = Claims::new(1);
        for i in 0..3 {
            for n in 1..=4u64 {
                c.append_answer(None, n * 10);
            }
            c.appended(format!("a{i}"), 40);
            c.renamed(format!("tmp{i}"), format!("ckpt{i}"), 16);
        }
        c.copied("copy".into(), 8);
        c.uploaded("mpu".into(), 100);
        c.create_only("lock1", true);
        c.create_only("lock1", false);
        c.create_only("lock2", true);
        for _ in 0..5 {
            c.swap("cas", 100, None);
        }
        let good = held(&[
            ("a0", 40),
            ("a1", 40),
            ("a2", 40),
            ("ckpt0", 16),
            ("ckpt1", 16),
            ("ckpt2", 16),
            ("copy", 8),
            ("mpu", 100),
            ("cas", 104),
        ]);
        let audits = run(check(&c, &good));
        assert_eq!(audits.len(), 6, "{audits:#?}");
        for a in &audits {
            assert_eq!(a.verdict, AuditVerdict::Held, "{a:#?}");
            assert_eq!(a.broken, 0);
        }
        let ap = one(&audits, AuditCheck::AppendSize);
        assert_eq!(
            (ap.claimed, ap.items, ap.checked, ap.requests),
            (12, 3, 3, 3)
        );
        assert_eq!(one(&audits, AuditCheck::RenameMoved).requests, 6);
        let lock = one(&audits, AuditCheck::CreateOnlyOneWinner);
        assert_eq!((lock.items, lock.seen, lock.requests), (2, 2, 0));

        // Appends overwrote (each object holds its last 10 bytes), renames
        // left an empty destination and the source, the copy is short, two
        // writers won lock1, and one swap of five survived.
        c.create_only("lock1", true);
        let bad = held(&[
            ("a0", 10),
            ("a1", 10),
            ("a2", 40),
            ("tmp0", 16),
            ("ckpt0", 0),
            ("ckpt1", 16),
            ("ckpt2", 16),
            ("copy", 4),
            ("mpu", 100),
            ("cas", 101),
        ]);
        let audits = run(check(&c, &bad));
        let ap = one(&audits, AuditCheck::AppendSize);
        assert_eq!(
            (ap.verdict, ap.broken, ap.expected, ap.seen),
            (AuditVerdict::Violated, 2, 120, 60)
        );
        let rn = one(&audits, AuditCheck::RenameMoved);
        // ckpt1/2 hold their bytes but tmp1/2 are gone: only rename 0 broke.
        assert_eq!((rn.broken, rn.sources_left, rn.seen), (1, 1, 32));
        let lock = one(&audits, AuditCheck::CreateOnlyOneWinner);
        assert_eq!((lock.broken, lock.seen, lock.items), (1, 3, 2));
        let cas = one(&audits, AuditCheck::SwapsSurvive);
        assert_eq!((cas.expected, cas.seen, cas.broken), (5, 2, 1));
        assert_eq!(one(&audits, AuditCheck::CopySize).broken, 1);
        assert_eq!(
            one(&audits, AuditCheck::MultipartSize).verdict,
            AuditVerdict::Held
        );
    }

    /// Reads that fail are neither held nor broken; writes that may have
    /// happened never make a correct endpoint look broken.
    #[test]
    fn unreadable_and_uncertain_are_no_violation() {
        let mut c = Claims::new(2);
        c.copied("x".into(), 8);
        let mut h = held(&[]);
        h.fail.push("x".into());
        let a = run(check(&c, &h));
        assert_eq!(
            (a[0].verdict, a[0].unreadable, a[0].requests),
            (AuditVerdict::Unchecked, 1, 3)
        );
        // Two swaps answered success, one lost its answer but happened.
        let gone = crate::client::ErrorKind {
            key: "connection".into(),
            status: None,
        };
        let mut s = Claims::new(3);
        s.swap("cas", 10, None);
        s.swap("cas", 10, None);
        s.swap("cas", 10, Some(&gone));
        let a = run(check(&s, &held(&[("cas", 12)])));
        assert_eq!((a[0].verdict, a[0].seen), (AuditVerdict::Held, 3));
        // An append whose answer said the wrong size is caught without a
        // read of the object.
        let mut w = Claims::new(4);
        w.append_answer(Some(5), 10);
        let a = run(check(&w, &held(&[])));
        assert_eq!(
            (a[0].verdict, a[0].sizes_wrong, a[0].requests),
            (AuditVerdict::Violated, 1, 0)
        );
    }

    /// At most SAMPLE reads per check, however many items.
    #[test]
    fn reads_are_bounded_by_the_sample() {
        let mut c = Claims::new(5);
        let mut objects = Vec::new();
        for i in 0..1000 {
            c.copied(format!("k{i}"), 1);
            objects.push((format!("k{i}"), 1));
        }
        let h = Held {
            objects: objects.into_iter().collect(),
            fail: Vec::new(),
        };
        let a = run(check(&c, &h));
        assert_eq!(
            (a[0].items, a[0].checked, a[0].requests),
            (1000, SAMPLE as u64, SAMPLE as u64)
        );
    }
}
