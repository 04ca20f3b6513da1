//! Preconditions of writes, copies, renames and deletes, evaluated against
//! the object at a key while the bucket is locked (so check and change are
//! one step), and the 409 of a write that raced another.
//!
//! S3's rules (PutObject / CompleteMultipartUpload / CopyObject reference,
//! "conditional writes" and "conditional deletes" in the User Guide):
//! - `If-None-Match: *`: write only if no object exists, else 412.
//! - `If-Match: <etag>`: write only if the current ETag matches, else 412;
//!   404 `NoSuchKey` when there is no object at all.
//! - A conditional write whose condition holds but which another write to
//!   the key overtook while its body was arriving: 409
//!   `ConditionalRequestConflict` (the client retries; a multipart upload
//!   must start again).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::error::S3Error;
use super::http::Req;
use super::store::Object;

pub(crate) fn precondition_failed(condition: &str) -> S3Error {
    S3Error::new(
        412,
        "PreconditionFailed",
        format!("At least one of the pre-conditions you specified did not hold ({condition})."),
    )
}

pub(crate) fn conflict() -> S3Error {
    S3Error::new(
        409,
        "ConditionalRequestConflict",
        "A conflicting operation occurred on this key while the conditional request was in progress; retry it (a multipart upload must be started again).",
    )
}

/// Whether `value` (an `If-Match`-style list: `"a", "b"` or `*`) names `etag`.
pub(crate) fn etag_listed(value: &str, etag: &str) -> bool {
    let want = etag.trim().trim_matches('"');
    value
        .split(',')
        .map(str::trim)
        .any(|v| v == "*" || v.strip_prefix("W/").unwrap_or(v).trim_matches('"') == want)
}

/// Parses an HTTP date header (`If-Modified-Since` style).
pub(crate) fn http_date(req: &Req<'_>, name: &str) -> Result<Option<SystemTime>, S3Error> {
    let Some(v) = req.header(name) else {
        return Ok(None);
    };
    httpdate::parse_http_date(v.trim()).map(Some).map_err(|_| {
        S3Error::invalid_argument(format!(
            "The {name} header is not an HTTP date like 'Wed, 21 Oct 2015 07:28:00 GMT'."
        ))
    })
}

/// Whole seconds: HTTP dates carry no finer precision, so a Last-Modified
/// time is compared at that precision.
pub(crate) fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// The conditions on the object a write replaces.
#[derive(Debug, Default, Clone)]
pub(crate) struct WriteConditions {
    pub if_match: Option<String>,
    pub if_none_match: bool,
}

impl WriteConditions {
    /// `If-Match` and `If-None-Match` of a PutObject, append,
    /// CompleteMultipartUpload or CopyObject.
    pub(crate) fn parse(req: &Req<'_>) -> Result<WriteConditions, S3Error> {
        let if_none_match = match req.header("if-none-match").map(str::trim) {
            None => false,
            Some("*") => true,
            // S3 implements only the create-only form on writes.
            Some(_) => {
                return Err(S3Error::new(
                    501,
                    "NotImplemented",
                    "A header you provided implies functionality that is not implemented: on a write, If-None-Match accepts only '*'.",
                ));
            }
        };
        Ok(WriteConditions {
            if_match: req.header("if-match").map(|v| v.trim().to_string()),
            if_none_match,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.if_match.is_none() && !self.if_none_match
    }

    /// Checks the conditions against the current object of the key.
    pub(crate) fn check(&self, key: &str, current: Option<&Object>) -> Result<(), S3Error> {
        if self.if_none_match && current.is_some() {
            return Err(precondition_failed(
                "If-None-Match: * and the object exists",
            ));
        }
        if let Some(m) = &self.if_match {
            let Some(o) = current else {
                return Err(S3Error::no_such_key(key));
            };
            if !etag_listed(m, &o.etag) {
                return Err(precondition_failed(
                    "If-Match does not name the current ETag",
                ));
            }
        }
        Ok(())
    }
}

/// `If-Match` / `If-None-Match` / `If-(Un)Modified-Since`-style conditions
/// on an object that must exist (a copy or rename source, a rename
/// destination): each names its header in the 412.
#[derive(Debug, Default, Clone)]
pub(crate) struct ObjectConditions {
    pub if_match: Option<(String, String)>,
    pub if_none_match: Option<(String, String)>,
    pub if_modified_since: Option<(String, SystemTime)>,
    pub if_unmodified_since: Option<(String, SystemTime)>,
}

impl ObjectConditions {
    /// Reads `{prefix}if-match` etc. (`prefix` like `x-amz-copy-source-`).
    pub(crate) fn parse(req: &Req<'_>, prefix: &str) -> Result<ObjectConditions, S3Error> {
        let name = |n: &str| format!("{prefix}{n}");
        let text = |n: &str| {
            let h = name(n);
            req.header(&h).map(|v| (h, v.trim().to_string()))
        };
        let date = |n: &str| -> Result<Option<(String, SystemTime)>, S3Error> {
            let h = name(n);
            Ok(http_date(req, &h)?.map(|t| (h, t)))
        };
        Ok(ObjectConditions {
            if_match: text("if-match"),
            if_none_match: text("if-none-match"),
            if_modified_since: date("if-modified-since")?,
            if_unmodified_since: date("if-unmodified-since")?,
        })
    }

    /// Checks an existing object. RFC 7232 section 6 order: an If-Match
    /// that holds makes If-Unmodified-Since moot, an If-None-Match that is
    /// present makes If-Modified-Since moot.
    pub(crate) fn check(&self, o: &Object) -> Result<(), S3Error> {
        match &self.if_match {
            Some((h, v)) if !etag_listed(v, &o.etag) => return Err(precondition_failed(h)),
            Some(_) => {}
            None => {
                if let Some((h, t)) = &self.if_unmodified_since
                    && secs(o.last_modified) > secs(*t)
                {
                    return Err(precondition_failed(h));
                }
            }
        }
        match &self.if_none_match {
            Some((h, v)) if etag_listed(v, &o.etag) => return Err(precondition_failed(h)),
            Some(_) => {}
            None => {
                if let Some((h, t)) = &self.if_modified_since
                    && secs(o.last_modified) <= secs(*t)
                {
                    return Err(precondition_failed(h));
                }
            }
        }
        Ok(())
    }

    /// Checks a key that may be empty: `If-Match` needs an object,
    /// `If-None-Match: *` needs none; date conditions apply only to an
    /// object that exists.
    pub(crate) fn check_optional(&self, o: Option<&Object>) -> Result<(), S3Error> {
        match o {
            Some(o) => self.check(o),
            None => match &self.if_match {
                Some((h, _)) => Err(precondition_failed(h)),
                None => Ok(()),
            },
        }
    }

    /// The headers, for an idempotency fingerprint.
    pub(crate) fn fingerprint(&self) -> String {
        format!(
            "{:?}|{:?}|{:?}|{:?}",
            self.if_match.as_ref().map(|x| &x.1),
            self.if_none_match.as_ref().map(|x| &x.1),
            self.if_modified_since.as_ref().map(|x| secs(x.1)),
            self.if_unmodified_since.as_ref().map(|x| secs(x.1)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_lists_match_quoted_unquoted_weak_and_star() {
        assert!(etag_listed("\"abc\"", "\"abc\""));
        assert!(etag_listed("abc", "\"abc\""));
        assert!(etag_listed("\"x\", W/\"abc\"", "\"abc\""));
        assert!(etag_listed("*", "\"abc\""));
        assert!(!etag_listed("\"abd\"", "\"abc\""));
    }
}
