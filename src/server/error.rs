//! S3 error responses as values.

use std::borrow::Cow;

use http::StatusCode;

/// One S3 error: HTTP status, S3 error code and a one-sentence message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct S3Error {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub message: String,
}

impl S3Error {
    pub(crate) fn new(status: u16, code: &'static str, message: impl Into<String>) -> S3Error {
        S3Error {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: Cow::Borrowed(code),
            message: message.into(),
        }
    }

    /// An error whose code is chosen at run time (fault injection).
    pub(crate) fn custom(status: u16, code: &str, message: impl Into<String>) -> S3Error {
        S3Error {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: Cow::Owned(code.to_string()),
            message: message.into(),
        }
    }

    pub(crate) fn access_denied(message: impl Into<String>) -> S3Error {
        S3Error::new(403, "AccessDenied", message)
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> S3Error {
        S3Error::new(400, "InvalidArgument", message)
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> S3Error {
        S3Error::new(400, "InvalidRequest", message)
    }

    pub(crate) fn malformed_xml(message: impl Into<String>) -> S3Error {
        S3Error::new(400, "MalformedXML", message)
    }

    pub(crate) fn no_such_bucket(bucket: &str) -> S3Error {
        S3Error::new(
            404,
            "NoSuchBucket",
            format!("The bucket {bucket} does not exist."),
        )
    }

    pub(crate) fn no_such_key(key: &str) -> S3Error {
        S3Error::new(404, "NoSuchKey", format!("The key {key} does not exist."))
    }

    pub(crate) fn no_such_upload(upload_id: &str) -> S3Error {
        S3Error::new(
            404,
            "NoSuchUpload",
            format!(
                "The multipart upload {upload_id} does not exist; it may have been completed or aborted."
            ),
        )
    }

    pub(crate) fn not_implemented(what: &str) -> S3Error {
        S3Error::new(
            501,
            "NotImplemented",
            format!("The s3bench embedded endpoint does not implement {what}."),
        )
    }

    pub(crate) fn internal(message: impl Into<String>) -> S3Error {
        S3Error::new(500, "InternalError", message)
    }
}
