//! The operations added to S3 in 2024-2025 and the General Purpose
//! compatibility ones: append (PutObject with `x-amz-write-offset-bytes`),
//! RenameObject, conditional DeleteObject, and ListObjects version 1.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderValue, Response};
use percent_encoding::percent_decode_str;

use super::conditions::{
    ObjectConditions, WriteConditions, conflict, etag_listed, http_date, precondition_failed, secs,
};
use super::error::S3Error;
use super::http::{Req, Resp, RespBody};
use super::ops::{
    MAX_OBJECT, bucket, header_value, no_content, random_etag, refuse_md5, storage_class,
    user_metadata, xml_response,
};
use super::store::{BucketKind, ListQuery, MAX_PART_NUMBER, Object, Segment};
use super::xml::{self, HEAD, NS, elem};

/// What S3 answers a directory-bucket-only request on a General Purpose
/// bucket. The PutObject reference says of `x-amz-write-offset-bytes` "This
/// functionality is only supported for objects in the Amazon S3 Express One
/// Zone storage class in directory buckets", and S3's error list answers a
/// header or operation "that implies functionality that is not implemented"
/// with 501 NotImplemented (API Reference, ErrorResponses, "NotImplemented").
fn directory_only(what: &str) -> S3Error {
    S3Error::new(
        501,
        "NotImplemented",
        format!(
            "A header you provided implies functionality that is not implemented: {what} is only supported for directory buckets (S3 Express One Zone)."
        ),
    )
}

/// PutObject with `x-amz-write-offset-bytes`: appends the body to the
/// object, whose current size must equal the offset (0 creates it).
pub(crate) async fn append_object(req: &mut Req<'_>) -> Result<Resp, S3Error> {
    let b = bucket(req)?;
    if b.kind == BucketKind::GeneralPurpose {
        return Err(directory_only("appending with x-amz-write-offset-bytes"));
    }
    refuse_md5(req, &b)?;
    let offset = req
        .header("x-amz-write-offset-bytes")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "x-amz-write-offset-bytes must be a non-negative integer: the object's current size.",
            )
        })?;
    let cond = WriteConditions::parse(req)?;
    let metadata = user_metadata(req);
    let content_type = req.header("content-type").map(str::to_string);
    let watch = (!cond.is_empty()).then(|| b.watch(&req.key));
    let body = req.read_body(Vec::new(), MAX_OBJECT).await?;
    if body.len == 0 {
        return Err(S3Error::invalid_request(
            "Request body cannot be empty when 'write offset' is specified.",
        ));
    }
    let key = req.key.clone();
    let now = SystemTime::now();
    if req.broken.append_overwrites {
        return overwrite_instead_of_append(req, &b, cond, body, content_type, metadata);
    }
    let stored = b.update(watch.as_ref(), |l| {
        let current = l.get(&key);
        cond.check(&key, current.as_deref())?;
        if watch.as_ref().is_some_and(|w| w.conflicted()) {
            return Err(conflict());
        }
        let obj = match current {
            None if offset == 0 => Object {
                len: body.len,
                segments: body.segments.clone().into(),
                etag: random_etag(),
                last_modified: now,
                content_type: content_type.clone(),
                metadata: metadata.clone(),
                parts: 1,
                checksum: body.checksum,
                checksum_value: Default::default(),
                composite_parts: 0,
            },
            None => return Err(invalid_offset(offset, None)),
            Some(o) if o.len != offset => return Err(invalid_offset(offset, Some(o.len))),
            Some(_) if !metadata.is_empty() => {
                return Err(S3Error::invalid_request(
                    "Cannot specify both a write offset value and user-defined object metadata for existing objects.",
                ));
            }
            Some(o)
                if o.checksum.is_some()
                    && body.checksum.is_some()
                    && o.checksum != body.checksum =>
            {
                return Err(S3Error::invalid_request(format!(
                    "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}.",
                    o.checksum.map_or("none", |a| a.name()),
                    body.checksum.map_or("none", |a| a.name()),
                )));
            }
            Some(o) if o.parts >= MAX_PART_NUMBER => {
                return Err(S3Error::new(
                    400,
                    "TooManyParts",
                    format!(
                        "The object already has {} parts, the maximum of {MAX_PART_NUMBER}; copy it onto itself (CopyObject) to reset the count.",
                        o.parts
                    ),
                ));
            }
            Some(o) => {
                let mut segments: Vec<Segment> = Vec::with_capacity(o.segments.len() + 2);
                segments.extend(o.segments.iter().cloned());
                segments.extend(body.segments.iter().cloned());
                Object {
                    len: o.len + body.len,
                    segments: segments.into(),
                    etag: random_etag(),
                    last_modified: now,
                    content_type: o.content_type.clone(),
                    metadata: o.metadata.clone(),
                    parts: o.parts + 1,
                    checksum: o.checksum.or(body.checksum),
                    checksum_value: Default::default(),
                    composite_parts: 0,
                }
            }
        };
        Ok(l.insert(&key, obj))
    })?;
    let mut r = Response::new(RespBody::empty());
    let h = r.headers_mut();
    h.insert(http::header::ETAG, header_value(&stored.etag)?);
    h.insert("x-amz-object-size", HeaderValue::from(stored.len));
    Ok(r)
}

/// `append-overwrites`: the append is taken as a plain PutObject of its
/// body, the write offset ignored and no `x-amz-object-size` answered, as a
/// server without appends does (moto on a `--x-s3` bucket).
fn overwrite_instead_of_append(
    req: &Req<'_>,
    b: &super::store::Bucket,
    cond: WriteConditions,
    body: super::ingest::Ingested,
    content_type: Option<String>,
    metadata: Vec<(String, String)>,
) -> Result<Resp, S3Error> {
    let etag = random_etag();
    let obj = Object {
        len: body.len,
        segments: body.segments.into(),
        etag: etag.clone(),
        last_modified: SystemTime::now(),
        content_type,
        metadata,
        parts: 1,
        checksum: body.checksum,
        checksum_value: Default::default(),
        composite_parts: 0,
    };
    super::ops::commit(b, &req.key, &cond, None, obj)?;
    super::ops::etag_response(&etag)
}

fn invalid_offset(offset: u64, size: Option<u64>) -> S3Error {
    S3Error::new(
        400,
        "InvalidWriteOffset",
        match size {
            Some(n) => format!(
                "The write offset value that you specified ({offset}) does not match the current object size ({n})."
            ),
            None => format!(
                "The write offset value that you specified ({offset}) does not match the current object size: the object does not exist, so the offset must be 0."
            ),
        },
    )
}

/// Longest `x-amz-client-token` RenameObject accepts.
const MAX_CLIENT_TOKEN: usize = 64;

/// `PUT /bucket/dst?renameObject` with `x-amz-rename-source`: moves an
/// object to a new key of the same directory bucket in one step, keeping
/// its content, ETag, Last-Modified and metadata.
pub(crate) fn rename_object(req: &Req<'_>) -> Result<Resp, S3Error> {
    let b = bucket(req)?;
    if b.kind == BucketKind::GeneralPurpose {
        return Err(directory_only("RenameObject"));
    }
    let raw = req.header("x-amz-rename-source").ok_or_else(|| {
        S3Error::invalid_request("RenameObject needs the x-amz-rename-source header.")
    })?;
    let decoded = percent_decode_str(raw.trim())
        .decode_utf8()
        .map_err(|_| {
            S3Error::invalid_argument("x-amz-rename-source is not valid UTF-8 after decoding.")
        })?
        .into_owned();
    // `/bucket/key`, `bucket/key` or a bare key of this bucket.
    let trimmed = decoded.strip_prefix('/').unwrap_or(&decoded);
    let source = match trimmed.split_once('/') {
        Some((bk, k)) if bk == b.name => k.to_string(),
        Some((bk, _)) if bk.ends_with("--x-s3") => {
            return Err(S3Error::invalid_request(format!(
                "RenameObject renames within one directory bucket; the source names bucket {bk}, the destination {}.",
                b.name
            )));
        }
        _ => trimmed.to_string(),
    };
    let dest = req.key.clone();
    if source.is_empty() {
        return Err(S3Error::invalid_argument(
            "x-amz-rename-source names no object key.",
        ));
    }
    for (what, k) in [("source", &source), ("destination", &dest)] {
        if k.ends_with('/') {
            return Err(S3Error::invalid_request(format!(
                "RenameObject does not rename keys ending in '/': the {what} key is '{k}'."
            )));
        }
    }
    let src_cond = ObjectConditions::parse(req, "x-amz-rename-source-")?;
    let dst_cond = ObjectConditions::parse(req, "")?;
    let token = req.header("x-amz-client-token").map(str::to_string);
    if let Some(t) = &token
        && (t.is_empty() || t.len() > MAX_CLIENT_TOKEN)
    {
        return Err(S3Error::invalid_argument(format!(
            "x-amz-client-token must be 1 to {MAX_CLIENT_TOKEN} characters, not {}.",
            t.len()
        )));
    }
    if let Some(t) = &token {
        let fingerprint = format!(
            "{source}\n{dest}\n{}\n{}",
            src_cond.fingerprint(),
            dst_cond.fingerprint()
        );
        if !b.client_token(t, &fingerprint)? {
            // A retry of a rename that already succeeded.
            return Ok(Response::new(RespBody::empty()));
        }
    }
    if req.broken.rename_as_empty_put {
        return rename_as_empty_put(&b, &dest);
    }
    let done = b.update(None, |l| {
        let src = l
            .get(&source)
            .ok_or_else(|| S3Error::no_such_key(&source))?;
        src_cond.check(&src)?;
        dst_cond.check_optional(l.get(&dest).as_deref())?;
        if source != dest {
            l.remove(&source);
            l.insert(&dest, (*src).clone());
        }
        Ok(())
    });
    if let (Err(_), Some(t)) = (&done, &token) {
        b.forget_client_token(t);
    }
    done?;
    Ok(Response::new(RespBody::empty()))
}

/// `rename-as-empty-put`: RenameObject answered as the empty PutObject it
/// looks like to a server that does not know it (moto): an empty object at
/// the destination, the source left where it was.
fn rename_as_empty_put(b: &super::store::Bucket, dest: &str) -> Result<Resp, S3Error> {
    let etag = random_etag();
    b.put(
        dest,
        Object {
            len: 0,
            segments: Vec::new().into(),
            etag: etag.clone(),
            last_modified: SystemTime::now(),
            content_type: None,
            metadata: Vec::new(),
            parts: 1,
            checksum: None,
            checksum_value: Default::default(),
            composite_parts: 0,
        },
    );
    super::ops::etag_response(&etag)
}

/// DeleteObject, with `If-Match` (ETag or `*`) on both bucket kinds and
/// `x-amz-if-match-last-modified-time` / `x-amz-if-match-size` on
/// directory buckets. 204 when deleted or (unconditionally) absent.
pub(crate) fn delete_object(req: &Req<'_>) -> Result<Resp, S3Error> {
    let b = bucket(req)?;
    let if_match = req.header("if-match").map(str::trim);
    let lmt = http_date(req, "x-amz-if-match-last-modified-time")?;
    let size = req
        .header("x-amz-if-match-size")
        .map(|v| {
            v.trim().parse::<u64>().map_err(|_| {
                S3Error::invalid_argument("x-amz-if-match-size must be a non-negative integer.")
            })
        })
        .transpose()?;
    if b.kind == BucketKind::GeneralPurpose && (lmt.is_some() || size.is_some()) {
        return Err(directory_only(
            "x-amz-if-match-last-modified-time / x-amz-if-match-size",
        ));
    }
    if if_match.is_none() && lmt.is_none() && size.is_none() {
        b.delete(&req.key);
        return Ok(no_content());
    }
    b.update(None, |l| {
        let Some(o) = l.get(&req.key) else {
            // A conditional delete of a missing object: 404, as S3 answers
            // (User Guide, "How to perform conditional deletes").
            return Err(S3Error::no_such_key(&req.key));
        };
        if let Some(m) = if_match
            && !etag_listed(m, &o.etag)
        {
            return Err(precondition_failed("If-Match"));
        }
        if let Some(t) = lmt
            && secs(t) != secs(o.last_modified)
        {
            return Err(precondition_failed("x-amz-if-match-last-modified-time"));
        }
        if let Some(n) = size
            && n != o.len
        {
            return Err(precondition_failed("x-amz-if-match-size"));
        }
        l.remove(&req.key);
        Ok(())
    })?;
    Ok(no_content())
}

/// ListObjects version 1 (`GET /bucket` without `list-type=2`), which
/// s3cmd and rclone's default provider use. General Purpose buckets only:
/// directory buckets support only ListObjectsV2.
pub(crate) fn list_objects_v1(req: &Req<'_>) -> Result<Resp, S3Error> {
    let b = bucket(req)?;
    if b.kind == BucketKind::Directory {
        return Err(S3Error::new(
            501,
            "NotImplemented",
            "ListObjects (version 1) is not supported by directory buckets; use ListObjectsV2 (list-type=2).",
        ));
    }
    let q = &req.query;
    let max_keys = match q.get("max-keys") {
        None => 1000,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| S3Error::invalid_argument("max-keys must be a non-negative integer."))?
            .min(1000),
    };
    let url = match q.get("encoding-type") {
        None => false,
        Some("url") => true,
        Some(other) => {
            return Err(S3Error::invalid_argument(format!(
                "Invalid Encoding Method specified in Request: {other}."
            )));
        }
    };
    let prefix = q.get("prefix").unwrap_or("");
    let delimiter = q.get("delimiter").filter(|d| !d.is_empty());
    let marker = q.get("marker").filter(|m| !m.is_empty());
    let page = b.list_after(prefix, delimiter, max_keys, marker);
    let enc = |s: &str| {
        if url {
            xml::url_encode(s)
        } else {
            s.to_string()
        }
    };
    let mut s = String::with_capacity(256 + page.contents.len() * 200);
    let _ = write!(s, "{HEAD}<ListBucketResult xmlns=\"{NS}\">");
    elem(&mut s, "Name", &b.name);
    elem(&mut s, "Prefix", &enc(prefix));
    elem(&mut s, "Marker", &enc(marker.unwrap_or("")));
    let _ = write!(s, "<MaxKeys>{max_keys}</MaxKeys>");
    if let Some(d) = delimiter {
        elem(&mut s, "Delimiter", &enc(d));
    }
    if url {
        s.push_str("<EncodingType>url</EncodingType>");
    }
    let _ = write!(s, "<IsTruncated>{}</IsTruncated>", page.truncated);
    // S3 sends NextMarker only with a delimiter; without one the client
    // continues from the last key.
    if page.truncated
        && delimiter.is_some()
        && let Some(last) = &page.last
    {
        elem(&mut s, "NextMarker", &enc(last));
    }
    super::ops::list_entries(
        &mut s,
        &page.contents,
        &page.common_prefixes,
        storage_class(b.kind),
        "<Owner><ID>s3bench</ID><DisplayName>s3bench</DisplayName></Owner>",
        &enc,
    );
    s.push_str("</ListBucketResult>");
    Ok(xml_response(s))
}

/// One ListObjects v1 page.
pub(crate) struct MarkerPage {
    pub contents: Vec<(String, Arc<Object>)>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// The last key or common prefix of the page (the NextMarker).
    pub last: Option<String>,
}

impl super::store::Bucket {
    /// A lexicographic page after `marker` (a key or a common prefix).
    pub(crate) fn list_after(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        max_keys: usize,
        marker: Option<&str>,
    ) -> MarkerPage {
        let page = self
            .list_marker(&ListQuery {
                prefix,
                delimiter,
                max_keys,
                start_after: marker,
                continuation_token: None,
            })
            .unwrap_or_default();
        let last = page.last_name();
        MarkerPage {
            truncated: page.next_token.is_some(),
            contents: page.contents,
            common_prefixes: page.common_prefixes,
            last,
        }
    }
}
