//! The S3 domain, written once for the client side and the embedded
//! endpoint: the op vocabulary, bucket-name rules, S3's limits, SigV4
//! primitives, the fault-injection model and `s3://` URLs. Depends on nothing else of
//! s3bench.

pub mod bucket;
pub mod inject;
pub mod limits;
pub mod op;
pub mod sigv4;
pub mod url;

pub use bucket::BucketKind;
pub use op::OpKind;
