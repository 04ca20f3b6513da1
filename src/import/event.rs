//! One request of a user's log, whatever the format it came in.

/// What a request did, in s3bench's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Get,
    Head,
    Put,
    CreateMultipart,
    UploadPart,
    CompleteMultipart,
    AbortMultipart,
    List,
    Delete,
    Copy,
    /// A directory bucket's session handshake: made by the client as it
    /// needs, not replayed.
    CreateSession,
    /// A bucket-level operation (versioning, ACL, DeleteObjects, ...): counted and named.
    Bucket(String),
    /// An object operation s3bench does not replay (tagging, lifecycle expiry, ...): counted and named.
    Unsupported(String),
}

impl Op {
    /// The name the import's comments count it under.
    pub fn name(&self) -> &str {
        match self {
            Op::Get => "GET",
            Op::Head => "HEAD",
            Op::Put => "PUT",
            Op::CreateMultipart => "CreateMultipartUpload",
            Op::UploadPart => "UploadPart",
            Op::CompleteMultipart => "CompleteMultipartUpload",
            Op::AbortMultipart => "AbortMultipartUpload",
            Op::List => "LIST",
            Op::Delete => "DELETE",
            Op::Copy => "COPY",
            Op::CreateSession => "CreateSession",
            Op::Bucket(n) | Op::Unsupported(n) => n,
        }
    }
}

/// One request.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When the request arrived: ns since the Unix epoch (access logs,
    /// CloudTrail) or since the run's start (op log).
    pub time_ns: i64,
    /// How precise `time_ns` is (1 s for text access logs and CloudTrail,
    /// 1 ms for CloudWatch Logs records, 1 ns for the op log).
    pub resolution_ns: u64,
    pub op: Op,
    /// The object key, decoded.
    pub key: Option<String>,
    /// Bytes of the range read, for a ranged GET.
    pub range_len: Option<u64>,
    /// Response (read) or request (write) payload bytes.
    pub bytes: Option<u64>,
    /// The object's size, when the log says it.
    pub object_size: Option<u64>,
    /// HTTP status (None when the log does not say it and there was no error).
    pub status: Option<u16>,
    /// Error code, when the request failed.
    pub error: Option<String>,
    /// Server-side total time and turn-around time (access logs), ms.
    pub total_ms: Option<f64>,
    pub turnaround_ms: Option<f64>,
}

impl Event {
    pub fn new(time_ns: i64, resolution_ns: u64, op: Op) -> Event {
        Event {
            time_ns,
            resolution_ns,
            op,
            key: None,
            range_len: None,
            bytes: None,
            object_size: None,
            status: None,
            error: None,
            total_ms: None,
            turnaround_ms: None,
        }
    }

    /// True when the request failed.
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.status.is_some_and(|s| s >= 300)
    }

    /// True for a 503 (SlowDown), S3's "slow down" answer.
    pub fn throttled(&self) -> bool {
        self.status == Some(503)
            || matches!(self.error.as_deref(), Some("SlowDown" | "503 SlowDown"))
    }
}

/// An access log's operation (`REST.GET.OBJECT`) in s3bench's terms; `has_key`
/// tells object from bucket requests.
pub fn access_log_op(operation: &str, has_key: bool, status: Option<u16>) -> Op {
    let _ = status;
    match operation {
        "REST.GET.OBJECT" => Op::Get,
        "REST.HEAD.OBJECT" => Op::Head,
        "REST.PUT.OBJECT" => Op::Put,
        "REST.POST.UPLOADS" => Op::CreateMultipart,
        "REST.PUT.PART" => Op::UploadPart,
        "REST.POST.UPLOAD" => Op::CompleteMultipart,
        "REST.DELETE.UPLOAD" => Op::AbortMultipart,
        "REST.GET.BUCKET" => Op::List,
        "REST.DELETE.OBJECT" => Op::Delete,
        "REST.COPY.OBJECT" | "REST.COPY.OBJECT_GET" | "REST.COPY.PART" => Op::Copy,
        other if !has_key || other.ends_with(".BUCKET") || other.contains("MULTI_OBJECT") => {
            Op::Bucket(other.to_string())
        }
        other => Op::Unsupported(other.to_string()),
    }
}

/// A CloudTrail data event's `eventName` in s3bench's terms.
pub fn api_op(name: &str, has_key: bool) -> Op {
    match name {
        "GetObject" => Op::Get,
        "HeadObject" => Op::Head,
        "PutObject" => Op::Put,
        "CreateMultipartUpload" => Op::CreateMultipart,
        "UploadPart" => Op::UploadPart,
        "CompleteMultipartUpload" => Op::CompleteMultipart,
        "AbortMultipartUpload" => Op::AbortMultipart,
        "ListObjects" | "ListObjectsV2" => Op::List,
        "DeleteObject" => Op::Delete,
        "CopyObject" | "UploadPartCopy" => Op::Copy,
        "CreateSession" => Op::CreateSession,
        other if !has_key => Op::Bucket(other.to_string()),
        other => Op::Unsupported(other.to_string()),
    }
}

/// The HTTP status S3 answers with an error code, for logs that name only
/// the code (CloudTrail).
pub fn status_of_code(code: &str) -> Option<u16> {
    Some(match code {
        "NoSuchKey" | "NoSuchBucket" | "NoSuchUpload" | "NotFound" => 404,
        "AccessDenied" | "SignatureDoesNotMatch" | "InvalidAccessKeyId" => 403,
        "SlowDown" | "ServiceUnavailable" => 503,
        "InternalError" => 500,
        "PreconditionFailed" => 412,
        "ConditionalRequestConflict" => 409,
        "InvalidRange" => 416,
        "RequestTimeout" => 400,
        _ => return None,
    })
}
