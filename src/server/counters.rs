//! Per-bucket, per-operation request counters.
//!
//! The hot path does four relaxed atomic adds into a fixed array indexed by
//! [`Op`]; no lock is taken per request. A snapshot turns the arrays into the
//! public [`Counters`] map.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Every S3 operation the endpoint tells apart. Names are the S3 API names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    ListBuckets,
    ListDirectoryBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    GetBucketLocation,
    CreateSession,
    ListObjectsV2,
    GetObject,
    HeadObject,
    PutObject,
    DeleteObject,
    DeleteObjects,
    CopyObject,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    /// ListObjects version 1 (General Purpose buckets only).
    ListObjects,
    /// PutObject with `x-amz-write-offset-bytes` (directory buckets). S3
    /// bills it as a PutObject; counted apart so appends can be told from
    /// whole-object writes (PutObject's counter does not include them).
    AppendObject,
    RenameObject,
    /// Anything the endpoint does not implement (answered 501).
    Unsupported,
}

impl Op {
    pub(crate) const ALL: [Op; 24] = [
        Op::ListBuckets,
        Op::ListDirectoryBuckets,
        Op::CreateBucket,
        Op::HeadBucket,
        Op::DeleteBucket,
        Op::GetBucketLocation,
        Op::CreateSession,
        Op::ListObjectsV2,
        Op::GetObject,
        Op::HeadObject,
        Op::PutObject,
        Op::DeleteObject,
        Op::DeleteObjects,
        Op::CopyObject,
        Op::CreateMultipartUpload,
        Op::UploadPart,
        Op::UploadPartCopy,
        Op::CompleteMultipartUpload,
        Op::AbortMultipartUpload,
        Op::ListParts,
        Op::ListObjects,
        Op::AppendObject,
        Op::RenameObject,
        Op::Unsupported,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::ListBuckets => "ListBuckets",
            Op::ListDirectoryBuckets => "ListDirectoryBuckets",
            Op::CreateBucket => "CreateBucket",
            Op::HeadBucket => "HeadBucket",
            Op::DeleteBucket => "DeleteBucket",
            Op::GetBucketLocation => "GetBucketLocation",
            Op::CreateSession => "CreateSession",
            Op::ListObjectsV2 => "ListObjectsV2",
            Op::GetObject => "GetObject",
            Op::HeadObject => "HeadObject",
            Op::PutObject => "PutObject",
            Op::DeleteObject => "DeleteObject",
            Op::DeleteObjects => "DeleteObjects",
            Op::CopyObject => "CopyObject",
            Op::CreateMultipartUpload => "CreateMultipartUpload",
            Op::UploadPart => "UploadPart",
            Op::UploadPartCopy => "UploadPartCopy",
            Op::CompleteMultipartUpload => "CompleteMultipartUpload",
            Op::AbortMultipartUpload => "AbortMultipartUpload",
            Op::ListParts => "ListParts",
            Op::ListObjects => "ListObjects",
            Op::AppendObject => "AppendObject",
            Op::RenameObject => "RenameObject",
            Op::Unsupported => "Unsupported",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Bucket-level calls that S3 Express authorizes with IAM credentials,
    /// never with a session, and that fault injection leaves alone.
    pub(crate) fn is_control_plane(self) -> bool {
        matches!(
            self,
            Op::ListBuckets
                | Op::ListDirectoryBuckets
                | Op::CreateBucket
                | Op::DeleteBucket
                | Op::GetBucketLocation
                | Op::CreateSession
        )
    }
}

#[derive(Default)]
struct AtomicOpCounter {
    requests: AtomicU64,
    errors: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

/// The live counters of one bucket name.
pub(crate) struct BucketCounters {
    ops: [AtomicOpCounter; Op::ALL.len()],
}

impl Default for BucketCounters {
    fn default() -> Self {
        BucketCounters {
            ops: std::array::from_fn(|_| AtomicOpCounter::default()),
        }
    }
}

impl BucketCounters {
    pub(crate) fn record(&self, op: Op, is_error: bool, bytes_in: u64, bytes_out: u64) {
        let c = &self.ops[op.index()];
        c.requests.fetch_add(1, Ordering::Relaxed);
        if is_error {
            c.errors.fetch_add(1, Ordering::Relaxed);
        }
        if bytes_in > 0 {
            c.bytes_in.fetch_add(bytes_in, Ordering::Relaxed);
        }
        if bytes_out > 0 {
            c.bytes_out.fetch_add(bytes_out, Ordering::Relaxed);
        }
    }

    /// Operations that saw at least one request.
    pub(crate) fn snapshot(&self) -> BTreeMap<String, OpCounter> {
        Op::ALL
            .iter()
            .filter_map(|&op| {
                let c = &self.ops[op.index()];
                let s = OpCounter {
                    requests: c.requests.load(Ordering::Relaxed),
                    errors: c.errors.load(Ordering::Relaxed),
                    bytes_in: c.bytes_in.load(Ordering::Relaxed),
                    bytes_out: c.bytes_out.load(Ordering::Relaxed),
                };
                (s.requests > 0).then(|| (op.name().to_string(), s))
            })
            .collect()
    }
}

/// A snapshot of all counters: bucket name -> S3 operation name -> counts.
///
/// Requests that name no bucket (ListBuckets) are filed under the bucket
/// name `""`. Only operations with at least one request appear.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counters {
    pub buckets: BTreeMap<String, BTreeMap<String, OpCounter>>,
}

impl Counters {
    /// Requests of operation `op` (an S3 API name such as `"GetObject"`) on `bucket`.
    pub fn requests(&self, bucket: &str, op: &str) -> u64 {
        self.get(bucket, op).requests
    }

    /// All counts of operation `op` on `bucket` (zero when never seen).
    pub fn get(&self, bucket: &str, op: &str) -> OpCounter {
        self.buckets
            .get(bucket)
            .and_then(|ops| ops.get(op))
            .copied()
            .unwrap_or_default()
    }

    /// Requests of every operation on `bucket`.
    pub fn total_requests(&self, bucket: &str) -> u64 {
        self.buckets
            .get(bucket)
            .map(|ops| ops.values().map(|c| c.requests).sum())
            .unwrap_or(0)
    }

    /// Error responses (status >= 400) of every operation on `bucket`.
    pub fn total_errors(&self, bucket: &str) -> u64 {
        self.buckets
            .get(bucket)
            .map(|ops| ops.values().map(|c| c.errors).sum())
            .unwrap_or(0)
    }
}

/// Counts for one (bucket, operation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct OpCounter {
    /// Requests answered, whatever the status.
    pub requests: u64,
    /// Responses with status >= 400, injected errors and throttles included.
    pub errors: u64,
    /// Request payload bytes (decoded, without aws-chunked framing).
    pub bytes_in: u64,
    /// Response payload bytes (the Content-Length sent).
    pub bytes_out: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_indices_match_the_all_table() {
        for (i, op) in Op::ALL.iter().enumerate() {
            assert_eq!(op.index(), i, "{}", op.name());
        }
    }

    #[test]
    fn snapshot_reports_only_used_ops() {
        let c = BucketCounters::default();
        c.record(Op::GetObject, false, 0, 10);
        c.record(Op::GetObject, true, 0, 5);
        c.record(Op::PutObject, false, 7, 0);
        let snap = Counters {
            buckets: [("b".to_string(), c.snapshot())].into(),
        };
        assert_eq!(snap.buckets["b"].len(), 2);
        assert_eq!(
            snap.get("b", "GetObject"),
            OpCounter {
                requests: 2,
                errors: 1,
                bytes_in: 0,
                bytes_out: 15
            }
        );
        assert_eq!(snap.total_requests("b"), 3);
        assert_eq!(snap.requests("other", "GetObject"), 0);
    }
}
