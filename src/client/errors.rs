//! Failed requests are data: each is classified into a short, stable kind
//! (`503 SlowDown`, `timeout`, `connection`, ...) that the report counts.

use std::error::Error as StdError;
use std::fmt::Write as _;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

/// A classified failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorKind {
    /// Report key, e.g. `503 SlowDown`, `timeout`, `connection`.
    pub key: String,
    /// HTTP status when the server answered.
    pub status: Option<u16>,
}

impl ErrorKind {
    /// 503 (SlowDown) or 429: the server asked the client to slow down
    /// (the failure's group is `throttled`).
    pub fn throttled(&self) -> bool {
        self.group() == crate::stats::FailureGroup::Throttled
    }

    /// The group the report keeps this failure in.
    pub fn group(&self) -> crate::stats::FailureGroup {
        use crate::stats::FailureGroup;
        match self.status {
            Some(503 | 429) => FailureGroup::Throttled,
            _ if self.conditional() => FailureGroup::Conditional,
            Some(_) => FailureGroup::Http,
            None if self.integrity() => FailureGroup::Integrity,
            None => FailureGroup::Transport,
        }
    }

    /// A whole body that does not match the checksum it came with: the
    /// client checked it (`[client] checksum`), so the answer arrived, and
    /// what it holds is wrong.
    pub fn integrity(&self) -> bool {
        self.status.is_none() && self.key == super::checksum::MISMATCH
    }

    /// The answer of a condition that did not hold (412 PreconditionFailed,
    /// 409 ConditionalRequestConflict, 400 InvalidWriteOffset): what a
    /// conditional write or an append gets when another writer won.
    pub fn conditional(&self) -> bool {
        match self.status {
            Some(412) => true,
            Some(409) => self.key.ends_with("ConditionalRequestConflict"),
            Some(400) => self.key.ends_with("InvalidWriteOffset"),
            _ => false,
        }
    }

    /// The request was certainly not carried out: the server refused it
    /// (a 4xx, a condition that did not hold) or asked the client to slow
    /// down (503, 429). Without an answer, or with another 5xx, it may
    /// have been.
    pub fn not_done(&self) -> bool {
        matches!(self.status, Some(400..=499 | 503))
    }

    /// The same as a recorder's failure.
    pub fn failure(&self) -> crate::stats::Failure<'_> {
        crate::stats::Failure {
            kind: &self.key,
            group: self.group(),
            status: self.status,
        }
    }
}

/// Classifies an SDK error. Only called on the error path.
pub fn classify<E: ProvideErrorMetadata + StdError + 'static>(
    err: &SdkError<E, HttpResponse>,
) -> ErrorKind {
    if let SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) = err
        && let Some(inner) = create_session_failure(err)
    {
        let mut k = classify(inner);
        k.key = format!("CreateSession: {}", k.key);
        return k;
    }
    match err {
        SdkError::ServiceError(e) => {
            let status = e.raw().status().as_u16();
            let code = e.err().code().unwrap_or("");
            ErrorKind {
                key: if !code.is_empty() {
                    format!("{status} {code}")
                } else if status < 300 {
                    // A success status with a body the SDK could not read
                    // (say, an XML root it does not know).
                    format!("{status} unparsable response")
                } else {
                    status.to_string()
                },
                status: Some(status),
            }
        }
        SdkError::ResponseError(e) => {
            let status = e.raw().status().as_u16();
            ErrorKind {
                key: format!("{status} unparsable response"),
                status: Some(status),
            }
        }
        SdkError::TimeoutError(_) => ErrorKind {
            key: "timeout".into(),
            status: None,
        },
        SdkError::DispatchFailure(d) => {
            let key = if d.is_timeout() {
                "timeout".to_string()
            } else if d.is_io() {
                "connection".to_string()
            } else {
                // A failed CreateSession surfaces here with its cause deep
                // in the source chain: name the root cause.
                format!("dispatch: {}", root_cause(err))
            };
            ErrorKind { key, status: None }
        }
        SdkError::ConstructionFailure(_) => ErrorKind {
            key: format!("request not built: {}", root_cause(err)),
            status: None,
        },
        _ => ErrorKind {
            key: format!("other: {}", root_cause(err)),
            status: None,
        },
    }
}

type CreateSessionFailure =
    SdkError<aws_sdk_s3::operation::create_session::CreateSessionError, HttpResponse>;

/// The failed CreateSession behind a data request's error: the SDK's
/// directory-bucket identity provider fails the request with it deep in
/// the source chain, so "503 SlowDown" of a session handshake would
/// otherwise read as a transport error of the GET.
fn create_session_failure<'a>(
    err: &'a (dyn StdError + 'static),
) -> Option<&'a CreateSessionFailure> {
    let mut cur = err.source();
    while let Some(e) = cur {
        if let Some(cs) = e.downcast_ref::<CreateSessionFailure>() {
            return Some(cs);
        }
        cur = e.source();
    }
    None
}

/// Whether a body error is aws-sdk-s3's response checksum mismatch
/// (`aws_smithy_checksums`' `ChecksumMismatch`, known by its message: the
/// crate is not a dependency of s3bench).
pub fn is_checksum_mismatch(err: &(dyn StdError + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if e.to_string().contains("checksum mismatch") {
            return true;
        }
        cur = e.source();
    }
    false
}

/// The deepest error message in the chain, shortened for a report key.
fn root_cause(err: &(dyn StdError + 'static)) -> String {
    let mut cur: &(dyn StdError + 'static) = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let mut s = cur.to_string();
    if s.len() > 120 {
        let mut cut = 117;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// aws-sdk-s3's switch for S3 Express session auth.
pub const SESSION_AUTH_ENV: &str = "AWS_S3_DISABLE_EXPRESS_SESSION_AUTH";

/// Whether `AWS_S3_DISABLE_EXPRESS_SESSION_AUTH=true` is set: aws-sdk-s3
/// then makes no CreateSession and signs directory-bucket requests with the
/// base credentials.
pub fn session_auth_disabled() -> bool {
    std::env::var(SESSION_AUTH_ENV).is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// How to run a directory-bucket workload on a server without directory
/// buckets, the end of every sentence that says the server has none. With
/// session auth already off, the switch is not advised again: it is set,
/// and the server still refuses.
pub fn as_plain_bucket() -> String {
    if session_auth_disabled() {
        format!(
            "to run this workload on it, use a general purpose bucket name with kind = \"general-purpose\" ({SESSION_AUTH_ENV}=true is already set, so session auth is off, and the endpoint still refuses the directory bucket)"
        )
    } else {
        format!(
            "to run this workload on it as a plain bucket, use a general purpose bucket name with kind = \"general-purpose\", or keep this target and set {SESSION_AUTH_ENV}=true (the report then says it ran as on a plain bucket)"
        )
    }
}

/// A server without directory buckets (s3s rejects the `s3express` scope with 501).
fn no_express() -> String {
    let what = if session_auth_disabled() {
        "the endpoint rejects requests signed for S3 Express (the s3express signing scope), with session auth already off"
    } else {
        "the endpoint rejects S3 Express session auth (CreateSession or the s3express signing scope)"
    };
    format!("{what}: it has no directory buckets; {}", as_plain_bucket())
}

/// One plain sentence for a failure before the run starts (HeadBucket,
/// CreateBucket, a probe request), naming the target, bucket and endpoint.
pub fn describe_preflight<E: ProvideErrorMetadata + StdError + 'static>(
    target: &str,
    bucket: &str,
    endpoint: &str,
    err: &SdkError<E, HttpResponse>,
) -> String {
    let mut chain = String::new();
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        let _ = write!(chain, "{e}; ");
        cur = e.source();
    }
    let lower = chain.to_lowercase();
    let status = match err {
        SdkError::ServiceError(e) => Some(e.raw().status().as_u16()),
        SdkError::ResponseError(e) => Some(e.raw().status().as_u16()),
        _ => None,
    };
    let code = match err {
        SdkError::ServiceError(e) => e.err().code().map(str::to_string),
        _ => None,
    };
    let what = match (status, code.as_deref()) {
        (Some(404), _) | (_, Some("NoSuchBucket")) => {
            format!("bucket '{bucket}' does not exist (or is in another region)")
        }
        (Some(403), Some("SignatureDoesNotMatch")) => {
            "the endpoint rejected the request signature: the secret key is wrong".to_string()
        }
        (Some(403), Some("InvalidAccessKeyId")) => {
            "the endpoint does not know the access key: the credentials are wrong".to_string()
        }
        (Some(403), Some("ExpiredToken")) => "the credentials have expired".to_string(),
        (Some(403), _) | (Some(401), _) => format!(
            "access to bucket '{bucket}' was denied: the credentials are wrong or lack permission"
        ),
        (Some(301), _) | (Some(400), Some("AuthorizationHeaderMalformed")) => {
            format!("bucket '{bucket}' is in another region than the one configured")
        }
        (Some(501), _) | (_, Some("NotImplemented")) if bucket.ends_with("--x-s3") => no_express(),
        (Some(s @ 200..=299), _) => {
            let ctype = match err {
                SdkError::ServiceError(e) => e.raw().headers().get("content-type"),
                SdkError::ResponseError(e) => e.raw().headers().get("content-type"),
                _ => None,
            };
            format!(
                "the endpoint answered HTTP {s} with a body that is not an S3 response{}: it does not look like an S3 endpoint; check endpoint = (host, port, path) and path_style",
                ctype.map(|t| format!(" ({t})")).unwrap_or_default()
            )
        }
        (Some(s), Some(c)) => format!("the endpoint answered HTTP {s} {c}"),
        (Some(s), None) => format!("the endpoint answered HTTP {s}"),
        // A directory bucket's CreateSession fails inside the SDK's identity
        // provider: its S3 error code is only in the source chain.
        (None, _) if lower.contains("nosuchbucket") => {
            format!(
                "directory bucket '{bucket}' does not exist (CreateSession answered NoSuchBucket)"
            )
        }
        (None, _) if lower.contains("notimplemented") && bucket.ends_with("--x-s3") => no_express(),
        (None, _) if lower.contains("no credentials") || lower.contains("credentials provider") => {
            "no AWS credentials were found (env, profile, SSO, instance role)".to_string()
        }
        (None, _) if lower.contains("dns") || lower.contains("failed to lookup") => {
            "the endpoint's host name does not resolve".to_string()
        }
        (None, _) if lower.contains("refused") => "the endpoint refused the connection".to_string(),
        (None, _) if lower.contains("timeout") || lower.contains("timed out") => {
            "the endpoint did not answer in time".to_string()
        }
        (None, _) => format!("the endpoint could not be reached ({})", root_cause(err)),
    };
    format!("target '{target}' ({endpoint}): {what}.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::error::ErrorMetadata;
    use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadError;
    use aws_smithy_types::body::SdkBody;

    fn service_error(status: u16, code: Option<&str>) -> ErrorKind {
        let mut meta = ErrorMetadata::builder();
        if let Some(c) = code {
            meta = meta.code(c);
        }
        let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        classify(&SdkError::service_error(
            CompleteMultipartUploadError::generic(meta.build()),
            raw,
        ))
    }

    #[test]
    fn service_errors_are_named_by_status_and_code() {
        assert_eq!(service_error(503, Some("SlowDown")).key, "503 SlowDown");
        assert_eq!(service_error(503, None).key, "503");
        // moto 5.2.1 answers CompleteMultipartUpload with another XML root:
        // a 200 the SDK cannot read is not a bare "200".
        let k = service_error(200, None);
        assert_eq!(
            (k.key.as_str(), k.status),
            ("200 unparsable response", Some(200))
        );
    }
}
