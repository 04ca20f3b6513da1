//! `run --op-log` on the SDK path: every HTTP request an `aws-sdk-s3`
//! client sends (each retry attempt, and the CreateSession calls its
//! directory-bucket identity provider makes) passes the HTTP client wrapper
//! in `session.rs`, which logs it here. An interceptor tags each request
//! with its operation's name and attempt number on the way out; the
//! response body is wrapped so the row gets its first and last byte.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse, Metadata};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body::Frame;

use crate::oplog::{Captured, Request};

/// The operation and attempt of a request, put on it by [`OpTagger`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpTag {
    op: &'static str,
    attempt: u32,
}

/// The S3 API names the op log uses (the SDK's operation names).
const NAMES: &[&str] = &[
    "GetObject",
    "HeadObject",
    "PutObject",
    "DeleteObject",
    "DeleteObjects",
    "CopyObject",
    "RenameObject",
    "CreateMultipartUpload",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListParts",
    "ListObjectsV2",
    "ListObjects",
    "HeadBucket",
    "GetBucketLocation",
    "CreateSession",
    "CreateBucket",
    "DeleteBucket",
    "ListBuckets",
    "ListDirectoryBuckets",
];

fn static_name(name: &str) -> &'static str {
    NAMES
        .iter()
        .find(|n| **n == name)
        .copied()
        .unwrap_or("Other")
}

/// Tags each outgoing request with its operation's name and attempt
/// number; installed on clients of a run with `--op-log`.
#[derive(Debug)]
pub(crate) struct OpTagger;

impl Intercept for OpTagger {
    fn name(&self) -> &'static str {
        "s3bench-op-log-tag"
    }

    fn modify_before_transmit(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg
            .load::<Metadata>()
            .map_or("Other", |m| static_name(m.name()));
        let attempt = cfg.load::<RequestAttempts>().map_or(1, |a| a.attempts());
        ctx.request_mut().add_extension(OpTag {
            op,
            attempt: attempt.max(1),
        });
        Ok(())
    }
}

/// What the connector knows of a request when it goes out.
#[derive(Debug)]
pub(crate) struct Outgoing {
    log: Captured,
    op: &'static str,
    key: String,
    range: Option<(u64, u64)>,
    /// Request body bytes (uploads).
    up: u64,
    attempt: u32,
    sent: Instant,
}

/// Reads what the row needs from an outgoing request; None outside a
/// logged task.
pub(crate) fn outgoing(req: &HttpRequest, bucket: &str, create_session: bool) -> Option<Outgoing> {
    let log = crate::oplog::capture()?;
    let tag = req.extension::<OpTag>().copied();
    let h = req.headers();
    let mut op = match tag {
        Some(t) => t.op,
        None if create_session => "CreateSession",
        None => fallback_name(req.method(), req.uri()),
    };
    if op == "PutObject" && h.get("x-amz-write-offset-bytes").is_some() {
        // As the endpoint counts it; S3 bills it as a PutObject.
        op = "AppendObject";
    }
    let num = |name: &str| h.get(name).and_then(|v| v.trim().parse::<u64>().ok());
    let up = num("x-amz-decoded-content-length")
        .or_else(|| num("content-length"))
        .unwrap_or(0);
    let range = h.get("range").and_then(parse_range);
    Some(Outgoing {
        log,
        op,
        key: key_of(req.uri(), bucket),
        range,
        up,
        attempt: tag.map_or(1, |t| t.attempt),
        sent: Instant::now(),
    })
}

/// The name of a request no interceptor tagged (it did not come through
/// an operation of ours), from its method and query.
fn fallback_name(method: &str, uri: &str) -> &'static str {
    let q = uri.split_once('?').map_or("", |(_, q)| q);
    let has = |p: &str| q.split('&').any(|kv| kv.split('=').next() == Some(p));
    match method {
        "GET" if has("list-type") => "ListObjectsV2",
        "GET" => "GetObject",
        "HEAD" => "HeadObject",
        "PUT" if has("partNumber") => "UploadPart",
        "PUT" => "PutObject",
        "DELETE" if has("uploadId") => "AbortMultipartUpload",
        "DELETE" => "DeleteObject",
        "POST" if has("uploads") => "CreateMultipartUpload",
        "POST" if has("uploadId") => "CompleteMultipartUpload",
        "POST" if has("delete") => "DeleteObjects",
        _ => "Other",
    }
}

/// `bytes=a-b` as (a, b).
fn parse_range(v: &str) -> Option<(u64, u64)> {
    let (a, b) = v.trim().strip_prefix("bytes=")?.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The object key of a request URI, decoded: the path after the bucket
/// (path-style) or the whole path (virtual-host).
fn key_of(uri: &str, bucket: &str) -> String {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let path = path.strip_prefix('/').unwrap_or(path);
    let virtual_host = host.starts_with(&format!("{bucket}."));
    let key = if virtual_host {
        path
    } else if path == bucket {
        ""
    } else {
        path.strip_prefix(bucket)
            .and_then(|p| p.strip_prefix('/'))
            .unwrap_or(path)
    };
    percent_encoding::percent_decode_str(key)
        .decode_utf8_lossy()
        .into_owned()
}

impl Outgoing {
    /// Logs a request that got no HTTP answer.
    pub(crate) fn failed(self, e: &ConnectorError) {
        let error = if e.is_timeout() {
            "timeout"
        } else if e.is_io() {
            "connection"
        } else {
            "dispatch"
        };
        self.log.record(&Request {
            op: self.op,
            key: &self.key,
            range: self.range,
            bytes: 0,
            sent: self.sent,
            first_byte: None,
            done: Instant::now(),
            status: 0,
            group: "transport",
            error,
            attempt: self.attempt,
        });
    }

    /// Wraps the response body, which logs the request when it ends.
    pub(crate) fn answered(self, mut resp: HttpResponse) -> HttpResponse {
        let status = resp.status().as_u16();
        let inner = resp.take_body();
        *resp.body_mut() = SdkBody::from_body_1_x(LoggedBody {
            inner,
            out: Some(self),
            status,
            head_at: Instant::now(),
            first_byte: None,
            down: 0,
            error_body: Vec::new(),
        });
        resp
    }
}

/// Error documents are read up to this size for their `<Code>`.
const ERROR_BODY_MAX: usize = 4096;

/// A response body that logs its request when it ends, fails or is dropped.
struct LoggedBody {
    inner: SdkBody,
    out: Option<Outgoing>,
    status: u16,
    head_at: Instant,
    first_byte: Option<Instant>,
    down: u64,
    error_body: Vec<u8>,
}

impl LoggedBody {
    fn finish(&mut self, body_error: bool) {
        let Some(o) = self.out.take() else { return };
        let done = Instant::now();
        let ok = (200..300).contains(&self.status);
        let kind = if body_error {
            Some(super::ErrorKind {
                key: "body: connection".into(),
                status: None,
            })
        } else if ok {
            None
        } else {
            let status = http::StatusCode::from_u16(self.status)
                .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
            Some(super::direct::error_kind(status, &self.error_body))
        };
        let bytes = match (o.op, &kind) {
            (_, Some(_)) => 0,
            ("GetObject", None) => self.down,
            ("PutObject" | "AppendObject" | "UploadPart", None) => o.up,
            _ => 0,
        };
        o.log.record(&Request {
            op: o.op,
            key: &o.key,
            range: o.range,
            bytes,
            sent: o.sent,
            first_byte: Some(self.first_byte.unwrap_or(self.head_at)),
            done,
            status: self.status,
            group: kind.as_ref().map_or("", |k| k.group().key()),
            error: kind.as_ref().map_or("", |k| k.key.as_str()),
            attempt: o.attempt,
        });
    }
}

impl http_body::Body for LoggedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        match &r {
            Poll::Ready(Some(Ok(f))) => {
                if let Some(d) = f.data_ref() {
                    if this.first_byte.is_none() && !d.is_empty() {
                        this.first_byte = Some(Instant::now());
                    }
                    this.down += d.len() as u64;
                    if this.status >= 300 && this.error_body.len() < ERROR_BODY_MAX {
                        let room = ERROR_BODY_MAX - this.error_body.len();
                        this.error_body.extend_from_slice(&d[..d.len().min(room)]);
                    }
                }
            }
            Poll::Ready(Some(Err(_))) => this.finish(true),
            Poll::Ready(None) => this.finish(false),
            Poll::Pending => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.inner)
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        // A body nobody read to its end (a HEAD's, an error the SDK read
        // only partly) ends here.
        self.finish(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_either_addressing_style() {
        assert_eq!(
            key_of(
                "http://127.0.0.1:9000/bkt/a/b%20c.bin?x-id=GetObject",
                "bkt"
            ),
            "a/b c.bin"
        );
        assert_eq!(
            key_of("https://bkt.s3.us-east-1.amazonaws.com/bkt/x", "bkt"),
            "bkt/x"
        );
        assert_eq!(key_of("http://127.0.0.1:9000/bkt?list-type=2", "bkt"), "");
        assert_eq!(key_of("http://127.0.0.1:9000/bkt/?session", "bkt"), "");
        assert_eq!(parse_range("bytes=5-9"), Some((5, 9)));
        assert_eq!(
            fallback_name("POST", "/b/k?uploads"),
            "CreateMultipartUpload"
        );
        assert_eq!(fallback_name("GET", "/b?list-type=2"), "ListObjectsV2");
    }
}
