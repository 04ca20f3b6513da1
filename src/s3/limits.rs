//! S3's documented limits, used by the scenario's validation and enforced by
//! the embedded endpoint (S3 User Guide: "Amazon S3 multipart upload limits"
//! and "Optimizing performance").

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;
const TIB: u64 = 1024 * GIB;

/// Smallest multipart part, except the last part of an upload.
pub const MIN_PART_SIZE: u64 = 5 * MIB;
/// Largest multipart part.
pub const MAX_PART_SIZE: u64 = 5 * GIB;
/// Largest single PutObject.
pub const MAX_SINGLE_PUT: u64 = 5 * GIB;
/// Largest object.
pub const MAX_OBJECT_SIZE: u64 = 5 * TIB;
/// Most parts in one multipart upload (part numbers 1..=10,000).
pub const MAX_PARTS: u32 = 10_000;
/// Most appends to one object of a directory bucket before `TooManyParts`.
pub const MAX_APPENDS: u32 = 10_000;

/// Documented per-prefix request rates of General Purpose buckets: GET/HEAD.
pub const PREFIX_READS_PER_SEC: u32 = 5_500;
/// PUT/COPY/POST/DELETE per second per prefix.
pub const PREFIX_WRITES_PER_SEC: u32 = 3_500;

/// Default request rates of one S3 Express One Zone directory bucket (per
/// bucket, not per prefix; raisable to 2,000,000 / 200,000 through Support):
/// GET/HEAD per second.
pub const EXPRESS_BUCKET_READS_PER_SEC: u32 = 200_000;
/// PUT/COPY/POST/DELETE per second per directory bucket.
pub const EXPRESS_BUCKET_WRITES_PER_SEC: u32 = 100_000;
