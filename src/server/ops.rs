//! The S3 operations.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderValue, Response, StatusCode};
use md5::{Digest as _, Md5};
use percent_encoding::percent_decode_str;

use super::conditions::{ObjectConditions, WriteConditions, conflict};
use super::counters::Op;
use super::dates;
use super::error::S3Error;
use super::express;
use super::http::{Req, Resp, RespBody};
use super::ingest::{Alg, digest_segments};
use super::store::{
    Bucket, BucketKind, ListQuery, MAX_PART_NUMBER, Object, Part, Segment, Upload, UploadChecksum,
    Watch, classify_bucket_name, slice_segments,
};
use super::xml::{self, HEAD, NS, elem, esc};

/// Largest single PUT or part, as in S3.
pub(crate) const MAX_OBJECT: u64 = 5 * 1024 * 1024 * 1024;
/// Largest XML request body accepted.
const MAX_XML: u64 = 4 * 1024 * 1024;

/// Answers one S3 operation of an authenticated request (the op is known,
/// the signature checked): the handler of each op, by name.
pub(crate) async fn serve_op(req: &mut Req<'_>) -> Result<Resp, S3Error> {
    match req.op {
        Op::ListBuckets => list_buckets(req, BucketKind::GeneralPurpose),
        Op::ListDirectoryBuckets => list_buckets(req, BucketKind::Directory),
        Op::CreateBucket => create_bucket(req).await,
        Op::HeadBucket => head_bucket(req),
        Op::DeleteBucket => {
            req.state.store.delete(&req.bucket)?;
            Ok(no_content())
        }
        Op::GetBucketLocation => get_bucket_location(req),
        Op::CreateSession => create_session(req),
        Op::ListObjectsV2 => list_objects_v2(req),
        Op::GetObject | Op::HeadObject => get_object(req),
        Op::PutObject => put_object(req).await,
        Op::DeleteObject => express::delete_object(req),
        Op::ListObjects => express::list_objects_v1(req),
        Op::AppendObject => express::append_object(req).await,
        Op::RenameObject => express::rename_object(req),
        Op::DeleteObjects => delete_objects(req).await,
        Op::CopyObject => copy_object(req),
        Op::CreateMultipartUpload => create_multipart_upload(req),
        Op::UploadPart => upload_part(req).await,
        Op::UploadPartCopy => upload_part_copy(req),
        Op::CompleteMultipartUpload => complete_multipart_upload(req).await,
        Op::AbortMultipartUpload => {
            let upload_id = req.query.get("uploadId").unwrap_or_default().to_string();
            bucket(req)?.abort_upload(&upload_id)?;
            Ok(no_content())
        }
        Op::ListParts => list_parts(req),
        Op::Unsupported => Err(S3Error::not_implemented("this request")),
    }
}

pub(crate) fn bucket(req: &Req<'_>) -> Result<Arc<Bucket>, S3Error> {
    req.state
        .store
        .get(&req.bucket)
        .ok_or_else(|| S3Error::no_such_bucket(&req.bucket))
}

pub(crate) fn no_content() -> Resp {
    let mut r = Response::new(RespBody::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

pub(crate) fn xml_response(body: String) -> Resp {
    let mut r = Response::new(RespBody::full(body));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

pub(crate) fn header_value(s: &str) -> Result<HeaderValue, S3Error> {
    HeaderValue::from_str(s)
        .map_err(|_| S3Error::internal("A response header value was not valid ASCII."))
}

/// `"<32 hex>"`: a random ETag, as directory buckets' ETags are not MD5s.
pub(crate) fn random_etag() -> String {
    format!("\"{:032x}\"", fastrand::u128(..))
}

fn md5_etag(md5: &[u8]) -> String {
    format!("\"{}\"", hex::encode(md5))
}

pub(crate) fn storage_class(kind: BucketKind) -> &'static str {
    match kind {
        BucketKind::GeneralPurpose => "STANDARD",
        BucketKind::Directory => "EXPRESS_ONEZONE",
    }
}

pub(crate) fn user_metadata(req: &Req<'_>) -> Vec<(String, String)> {
    req.parts
        .headers
        .iter()
        .filter_map(|(name, value)| {
            let n = name.as_str().strip_prefix("x-amz-meta-")?;
            Some((n.to_string(), value.to_str().ok()?.to_string()))
        })
        .collect()
}

/// S3 Express refuses Content-MD5 on uploads: 501 NotImplemented "This
/// bucket does not support Content Md5 header." (as reported from S3 in
/// ByConity/ByConity#1798 and archiecobbs/s3backer#231), and MD5 as a
/// checksum algorithm likewise.
pub(crate) fn refuse_md5(req: &Req<'_>, b: &Bucket) -> Result<(), S3Error> {
    if b.kind != BucketKind::Directory {
        return Ok(());
    }
    let md5_alg = ["x-amz-checksum-algorithm", "x-amz-sdk-checksum-algorithm"]
        .iter()
        .any(|h| req.header(h).is_some_and(|v| v.eq_ignore_ascii_case("MD5")));
    if req.header("content-md5").is_some() || md5_alg {
        return Err(S3Error::new(
            501,
            "NotImplemented",
            "This bucket does not support Content Md5 header: directory buckets take CRC32, CRC32C, CRC64NVME, SHA1 or SHA256 checksums, not MD5.",
        ));
    }
    Ok(())
}

/// Stores `obj` at `key` if the write conditions hold at that moment (one
/// locked step, so of N racing create-only writes exactly one wins), with
/// 409 when they hold but another write to the key completed while this
/// request's body was arriving.
pub(crate) fn commit(
    b: &Bucket,
    key: &str,
    cond: &WriteConditions,
    watch: Option<&Watch>,
    obj: Object,
) -> Result<Arc<Object>, S3Error> {
    if cond.is_empty() {
        return Ok(b.put(key, obj));
    }
    b.update(watch, |l| {
        cond.check(key, l.get(key).as_deref())?;
        if watch.is_some_and(Watch::conflicted) {
            return Err(conflict());
        }
        Ok(l.insert(key, obj))
    })
}

/// How long a `racy-conditional-writes` bucket waits between checking a
/// write's condition and writing: long enough that writers racing on a key
/// all pass the check, as on a server that stats a file, then writes it.
const RACE_WINDOW: std::time::Duration = std::time::Duration::from_millis(5);

/// [`commit`] on a bucket broken with `racy-conditional-writes`: the
/// condition is checked, then the object is written a moment later
/// whatever happened to the key meanwhile. Not atomic on purpose.
async fn commit_racy(
    b: &Bucket,
    key: &str,
    cond: &WriteConditions,
    obj: Object,
) -> Result<Arc<Object>, S3Error> {
    b.update(None, |l| cond.check(key, l.get(key).as_deref()))?;
    tokio::time::sleep(RACE_WINDOW).await;
    Ok(b.put(key, obj))
}

fn list_buckets(req: &Req<'_>, kind: BucketKind) -> Result<Resp, S3Error> {
    let mut s = String::with_capacity(512);
    let root = match kind {
        BucketKind::GeneralPurpose => "ListAllMyBucketsResult",
        BucketKind::Directory => "ListAllMyDirectoryBucketsResult",
    };
    let _ = write!(s, "{HEAD}<{root} xmlns=\"{NS}\">");
    if kind == BucketKind::GeneralPurpose {
        s.push_str("<Owner><ID>s3bench</ID><DisplayName>s3bench</DisplayName></Owner>");
    }
    s.push_str("<Buckets>");
    for b in req.state.store.all().iter().filter(|b| b.kind == kind) {
        s.push_str("<Bucket>");
        elem(&mut s, "Name", &b.name);
        elem(&mut s, "CreationDate", &dates::iso8601_millis(b.created));
        elem(&mut s, "BucketRegion", &req.state.region);
        s.push_str("</Bucket>");
    }
    let _ = write!(s, "</Buckets></{root}>");
    Ok(xml_response(s))
}

async fn create_bucket(req: &mut Req<'_>) -> Result<Resp, S3Error> {
    let kind =
        classify_bucket_name(&req.bucket).map_err(|m| S3Error::new(400, "InvalidBucketName", m))?;
    let body = req.read_body(Vec::new(), MAX_XML).await?.to_bytes();
    let cfg = xml::parse_create_bucket(&body)?;
    // An existing bucket answers 409 whatever the configuration says.
    if req.state.store.get(&req.bucket).is_none() {
        check_bucket_configuration(&req.bucket, kind, &cfg)?;
    }
    if kind == BucketKind::GeneralPurpose {
        let region = &req.state.region;
        if let Some(lc) = cfg
            .location_constraint
            .as_deref()
            .filter(|lc| !lc.is_empty())
            && lc != region
        {
            return Err(S3Error::new(
                400,
                "IllegalLocationConstraintException",
                format!(
                    "The {lc} location constraint is incompatible with the region {region} of this endpoint."
                ),
            ));
        }
    }
    req.state.store.create(&req.bucket)?;
    let mut r = Response::new(RespBody::empty());
    r.headers_mut().insert(
        http::header::LOCATION,
        header_value(&format!("/{}", req.bucket))?,
    );
    Ok(r)
}

/// The configuration a CreateBucket must carry for its name, as S3 checks
/// it: a `--x-s3` name is reserved for directory buckets and needs the whole
/// directory configuration (location type and zone, single-zone redundancy,
/// bucket type Directory) with the zone of its name; any other name must not
/// ask for a directory bucket.
fn check_bucket_configuration(
    name: &str,
    kind: BucketKind,
    cfg: &xml::CreateBucketConfiguration,
) -> Result<(), S3Error> {
    let location = cfg.location.as_ref();
    let info = cfg.bucket.as_ref();
    let bucket_type = info.and_then(|b| b.kind.as_deref());
    match kind {
        BucketKind::Directory => {
            if location.is_none() && info.is_none() {
                return Err(S3Error::new(
                    400,
                    "InvalidBucketName",
                    format!(
                        "The bucket name {name} ends with --x-s3, which is reserved for directory buckets; \
                         a directory bucket needs a CreateBucketConfiguration with Location and Bucket (Type Directory)."
                    ),
                ));
            }
            let az = crate::s3::bucket::zone_id(name).unwrap_or_default();
            let missing = |what: &str| {
                S3Error::invalid_argument(format!(
                    "The CreateBucketConfiguration of directory bucket {name} lacks {what}."
                ))
            };
            match location.and_then(|l| l.kind.as_deref()) {
                None => return Err(missing("Location/Type (AvailabilityZone)")),
                Some("AvailabilityZone" | "LocalZone") => {}
                Some(t) => {
                    return Err(S3Error::invalid_argument(format!(
                        "Location type {t} is not AvailabilityZone or LocalZone."
                    )));
                }
            }
            match location.and_then(|l| l.name.as_deref()) {
                None => return Err(missing("Location/Name (the zone ID)")),
                Some(n) if n != az => {
                    return Err(S3Error::invalid_argument(format!(
                        "The bucket name names zone {az} but the configuration names {n}."
                    )));
                }
                Some(_) => {}
            }
            match bucket_type {
                None => return Err(missing("Bucket/Type (Directory)")),
                Some("Directory") => {}
                Some(t) => {
                    return Err(S3Error::invalid_argument(format!(
                        "Bucket type {t} is not valid for a --x-s3 name; expecting Directory."
                    )));
                }
            }
            match info.and_then(|b| b.data_redundancy.as_deref()) {
                None => return Err(missing("Bucket/DataRedundancy (SingleAvailabilityZone)")),
                Some("SingleAvailabilityZone" | "SingleLocalZone") => {}
                Some(r) => {
                    return Err(S3Error::invalid_argument(format!(
                        "Data redundancy {r} is not SingleAvailabilityZone or SingleLocalZone."
                    )));
                }
            }
        }
        BucketKind::GeneralPurpose => {
            if bucket_type == Some("Directory") || location.is_some() {
                return Err(S3Error::new(
                    400,
                    "InvalidBucketName",
                    format!(
                        "A directory bucket name must look like base-name--azid--x-s3, not {name}."
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn head_bucket(req: &Req<'_>) -> Result<Resp, S3Error> {
    let b = bucket(req)?;
    let mut r = Response::new(RespBody::empty());
    let h = r.headers_mut();
    if !req.state.hooks.no_region_header() {
        h.insert("x-amz-bucket-region", header_value(&req.state.region)?);
    }
    if b.kind == BucketKind::Directory {
        h.insert(
            "x-amz-bucket-location-type",
            HeaderValue::from_static("AvailabilityZone"),
        );
        h.insert(
            "x-amz-bucket-location-name",
            header_value(crate::s3::bucket::zone_id(&b.name).unwrap_or_default())?,
        );
    }
    Ok(r)
}

fn get_bucket_location(req: &Req<'_>) -> Result<Resp, S3Error> {
    bucket(req)?;
    // us-east-1 is reported as an empty constraint, as S3 does.
    let region = if req.state.region == "us-east-1" {
        ""
    } else {
        &req.state.region
    };
    Ok(xml_response(format!(
        "{HEAD}<LocationConstraint xmlns=\"{NS}\">{}</LocationConstraint>",
        esc(region)
    )))
}

fn create_session(req: &Req<'_>) -> Result<Resp, S3Error> {
    // Answered even before the bucket exists: the SDK asks for a session
    // before it sends CreateBucket.
    if classify_bucket_name(&req.bucket) != Ok(BucketKind::Directory) {
        return Err(S3Error::invalid_argument(format!(
            "CreateSession is only for directory buckets (base--azid--x-s3), not '{}'.",
            req.bucket
        )));
    }
    let read_only = match req.header("x-amz-create-session-mode") {
        None | Some("ReadWrite") => false,
        Some("ReadOnly") => true,
        Some(other) => {
            return Err(S3Error::invalid_argument(format!(
                "Session mode '{other}' is not ReadWrite or ReadOnly."
            )));
        }
    };
    let s = req
        .state
        .sessions
        .create(&req.bucket, read_only, SystemTime::now());
    let mut body = String::with_capacity(400);
    let _ = write!(
        body,
        "{HEAD}<CreateSessionResult xmlns=\"{NS}\"><Credentials>"
    );
    elem(&mut body, "SessionToken", &s.token);
    elem(&mut body, "SecretAccessKey", &s.secret_key);
    elem(&mut body, "AccessKeyId", &s.access_key);
    elem(&mut body, "Expiration", &dates::iso8601_secs(s.expires));
    body.push_str("</Credentials></CreateSessionResult>");
    Ok(xml_response(body))
}

fn list_objects_v2(req: &Req<'_>) -> Result<Resp, S3Error> {
    let b = bucket(req)?;
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
    let start_after = q.get("start-after");
    let token = q.get("continuation-token");
    let page = b.list(&ListQuery {
        prefix,
        delimiter,
        max_keys,
        start_after,
        continuation_token: token,
    })?;
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
    if let Some(d) = delimiter {
        elem(&mut s, "Delimiter", &enc(d));
    }
    let _ = write!(s, "<MaxKeys>{max_keys}</MaxKeys>");
    if url {
        s.push_str("<EncodingType>url</EncodingType>");
    }
    let _ = write!(
        s,
        "<KeyCount>{}</KeyCount><IsTruncated>{}</IsTruncated>",
        page.contents.len() + page.common_prefixes.len(),
        page.next_token.is_some()
    );
    if let Some(t) = token {
        elem(&mut s, "ContinuationToken", t);
    }
    if let Some(t) = &page.next_token {
        elem(&mut s, "NextContinuationToken", t);
    }
    if let Some(sa) = start_after {
        elem(&mut s, "StartAfter", &enc(sa));
    }
    list_entries(
        &mut s,
        &page.contents,
        &page.common_prefixes,
        storage_class(b.kind),
        "",
        &enc,
    );
    s.push_str("</ListBucketResult>");
    Ok(xml_response(s))
}

/// The `<Contents>` and `<CommonPrefixes>` of a listing page, shared by
/// ListObjectsV2 and ListObjects (v1, which adds `owner` to each key).
pub(crate) fn list_entries(
    s: &mut String,
    contents: &[(String, Arc<Object>)],
    prefixes: &[String],
    class: &str,
    owner: &str,
    enc: &dyn Fn(&str) -> String,
) {
    for (key, o) in contents {
        s.push_str("<Contents>");
        elem(s, "Key", &enc(key));
        elem(s, "LastModified", &dates::iso8601_millis(o.last_modified));
        elem(s, "ETag", &o.etag);
        let _ = write!(
            s,
            "<Size>{}</Size>{owner}<StorageClass>{class}</StorageClass></Contents>",
            o.len
        );
    }
    for p in prefixes {
        s.push_str("<CommonPrefixes>");
        elem(s, "Prefix", &enc(p));
        s.push_str("</CommonPrefixes>");
    }
}

/// A parsed `Range` header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RangeSpec {
    Full,
    /// Inclusive byte range.
    Partial(u64, u64),
    Unsatisfiable,
}

/// S3 semantics: one `bytes=` range; anything malformed or multi-range
/// means the whole object.
pub(crate) fn parse_range(header: Option<&str>, len: u64) -> RangeSpec {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeSpec::Full;
    };
    if spec.contains(',') {
        return RangeSpec::Full;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeSpec::Full;
    };
    let num = |s: &str| s.trim().parse::<u64>().ok();
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, false) => match num(b) {
            Some(0) => RangeSpec::Unsatisfiable,
            Some(_) if len == 0 => RangeSpec::Unsatisfiable,
            Some(n) => RangeSpec::Partial(len - n.min(len), len - 1),
            None => RangeSpec::Full,
        },
        (false, true) => match num(a) {
            Some(a) if a >= len => RangeSpec::Unsatisfiable,
            Some(a) => RangeSpec::Partial(a, len - 1),
            None => RangeSpec::Full,
        },
        (false, false) => match (num(a), num(b)) {
            (Some(a), Some(b)) if a > b => RangeSpec::Full,
            (Some(a), Some(_)) if a >= len => RangeSpec::Unsatisfiable,
            (Some(a), Some(b)) => RangeSpec::Partial(a, b.min(len - 1)),
            _ => RangeSpec::Full,
        },
        (true, true) => RangeSpec::Full,
    }
}

fn get_object(req: &Req<'_>) -> Result<Resp, S3Error> {
    let b = bucket(req)?;
    let o = b
        .get(&req.key)
        .ok_or_else(|| S3Error::no_such_key(&req.key))?;
    let range = parse_range(req.header("range"), o.len);
    let (status, start, len) = match range {
        RangeSpec::Full => (StatusCode::OK, 0, o.len),
        RangeSpec::Partial(a, z) => (StatusCode::PARTIAL_CONTENT, a, z - a + 1),
        RangeSpec::Unsatisfiable => {
            let mut e = S3Error::new(
                416,
                "InvalidRange",
                "The requested range is not satisfiable.",
            );
            e.message = format!(
                "The requested range is not satisfiable for an object of {} bytes.",
                o.len
            );
            return Err(e);
        }
    };
    let body = if req.is_head() {
        RespBody::empty()
    } else {
        RespBody::chunks(o.chunks(start, len), len)
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(http::header::ETAG, header_value(&o.etag)?);
    h.insert(
        http::header::LAST_MODIFIED,
        header_value(&dates::http_date(o.last_modified))?,
    );
    h.insert(
        http::header::ACCEPT_RANGES,
        HeaderValue::from_static("bytes"),
    );
    let content_type = req
        .query
        .get("response-content-type")
        .or(o.content_type.as_deref())
        .unwrap_or("binary/octet-stream");
    h.insert(http::header::CONTENT_TYPE, header_value(content_type)?);
    for (param, header) in [
        (
            "response-content-disposition",
            http::header::CONTENT_DISPOSITION,
        ),
        ("response-content-encoding", http::header::CONTENT_ENCODING),
        ("response-content-language", http::header::CONTENT_LANGUAGE),
        ("response-cache-control", http::header::CACHE_CONTROL),
        ("response-expires", http::header::EXPIRES),
    ] {
        if let Some(v) = req.query.get(param) {
            h.insert(header, header_value(v)?);
        }
    }
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(
            http::header::CONTENT_RANGE,
            header_value(&format!("bytes {}-{}/{}", start, start + len - 1, o.len))?,
        );
    }
    if b.kind == BucketKind::Directory {
        h.insert(
            "x-amz-storage-class",
            HeaderValue::from_static("EXPRESS_ONEZONE"),
        );
    }
    // The stored checksum, when asked for and the response is the whole
    // object: S3 returns none for a byte range (a client cannot check one).
    if status == StatusCode::OK
        && req
            .header("x-amz-checksum-mode")
            .is_some_and(|m| m.eq_ignore_ascii_case("enabled"))
    {
        let (alg, value) = o.full_checksum();
        let mut v = STANDARD.encode(value);
        if o.composite_parts > 0 {
            let _ = write!(v, "-{}", o.composite_parts);
        }
        h.insert(
            http::HeaderName::from_static(alg.header()),
            header_value(&v)?,
        );
        h.insert(
            "x-amz-checksum-type",
            HeaderValue::from_static(checksum_type(o.composite_parts > 0)),
        );
    }
    for (k, v) in &o.metadata {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(format!("x-amz-meta-{k}").as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.append(name, value);
        }
    }
    Ok(r)
}

pub(crate) fn etag_response(etag: &str) -> Result<Resp, S3Error> {
    let mut r = Response::new(RespBody::empty());
    r.headers_mut()
        .insert(http::header::ETAG, header_value(etag)?);
    Ok(r)
}

async fn put_object(req: &mut Req<'_>) -> Result<Resp, S3Error> {
    let b = bucket(req)?;
    if let Some(body) = req.state.hooks.take_rival_put(&req.bucket, &req.key) {
        let len = body.len() as u64;
        b.put(
            &req.key,
            Object {
                segments: vec![Segment::Bytes(body.into())].into(),
                len,
                etag: random_etag(),
                last_modified: SystemTime::now(),
                content_type: None,
                metadata: Vec::new(),
                parts: 1,
                checksum: None,
                checksum_value: Default::default(),
                composite_parts: 0,
            },
        );
    }
    refuse_md5(req, &b)?;
    let cond = WriteConditions::parse(req)?;
    let watch = (!cond.is_empty()).then(|| b.watch(&req.key));
    let algs = if b.kind == BucketKind::GeneralPurpose {
        vec![Alg::Md5]
    } else {
        vec![]
    };
    let body = req.read_body(algs, MAX_OBJECT).await?;
    let etag = match b.kind {
        BucketKind::GeneralPurpose => md5_etag(body.digest(Alg::Md5).unwrap_or_default()),
        BucketKind::Directory => random_etag(),
    };
    let obj = Object {
        len: body.len,
        segments: body.segments.into(),
        etag: etag.clone(),
        last_modified: SystemTime::now(),
        content_type: req.header("content-type").map(str::to_string),
        metadata: user_metadata(req),
        parts: 1,
        checksum: body.checksum,
        checksum_value: Default::default(),
        composite_parts: 0,
    };
    if req.broken.racy_conditional_writes && !cond.is_empty() {
        commit_racy(&b, &req.key, &cond, obj).await?;
    } else {
        commit(&b, &req.key, &cond, watch.as_ref(), obj)?;
    }
    etag_response(&etag)
}

async fn delete_objects(req: &mut Req<'_>) -> Result<Resp, S3Error> {
    let b = bucket(req)?;
    let body = req.read_body(Vec::new(), MAX_XML).await?.to_bytes();
    let d = xml::parse_delete(&body)?;
    if d.objects.len() > 1000 {
        return Err(S3Error::malformed_xml(
            "A Delete request may name at most 1000 objects.",
        ));
    }
    let mut s = String::with_capacity(128 + d.objects.len() * 40);
    let _ = write!(s, "{HEAD}<DeleteResult xmlns=\"{NS}\">");
    for o in &d.objects {
        if o.etag.is_some() || o.last_modified_time.is_some() || o.size.is_some() {
            // A failed condition is reported for this object only, in
            // Quiet mode too, as S3 does.
            if let Err(e) = conditional_delete_one(&b, o) {
                s.push_str("<Error>");
                elem(&mut s, "Key", &o.key);
                elem(&mut s, "Code", &e.code);
                elem(&mut s, "Message", &e.message);
                s.push_str("</Error>");
                continue;
            }
        } else {
            b.delete(&o.key);
        }
        if !d.quiet {
            s.push_str("<Deleted>");
            elem(&mut s, "Key", &o.key);
            s.push_str("</Deleted>");
        }
    }
    s.push_str("</DeleteResult>");
    Ok(xml_response(s))
}

/// One object of a DeleteObjects with conditions: deleted if they hold.
fn conditional_delete_one(b: &Bucket, o: &xml::ObjectIdentifier) -> Result<(), S3Error> {
    use super::conditions::{etag_listed, precondition_failed, secs};
    if b.kind == BucketKind::GeneralPurpose && (o.last_modified_time.is_some() || o.size.is_some())
    {
        return Err(S3Error::new(
            501,
            "NotImplemented",
            "LastModifiedTime and Size conditions are only supported for directory buckets.",
        ));
    }
    let time = o
        .last_modified_time
        .as_deref()
        .map(|t| {
            humantime::parse_rfc3339_weak(t.trim()).map_err(|_| {
                S3Error::invalid_argument(format!(
                    "LastModifiedTime '{t}' is not an ISO 8601 time."
                ))
            })
        })
        .transpose()?;
    b.update(None, |l| {
        let cur = l.get(&o.key).ok_or_else(|| S3Error::no_such_key(&o.key))?;
        if let Some(e) = &o.etag
            && !etag_listed(e, &cur.etag)
        {
            return Err(precondition_failed("ETag"));
        }
        if let Some(t) = time
            && secs(t) != secs(cur.last_modified)
        {
            return Err(precondition_failed("LastModifiedTime"));
        }
        if let Some(n) = o.size
            && n != cur.len
        {
            return Err(precondition_failed("Size"));
        }
        l.remove(&o.key);
        Ok(())
    })
}

/// The source object of a copy: `x-amz-copy-source: [/]bucket/key[?versionId=..]`.
fn copy_source(req: &Req<'_>) -> Result<(Arc<Bucket>, String, Arc<Object>), S3Error> {
    let raw = req.header("x-amz-copy-source").unwrap_or_default();
    let raw = raw.split_once('?').map_or(raw, |(p, _)| p);
    let decoded = percent_decode_str(raw.trim_start_matches('/'))
        .decode_utf8()
        .map_err(|_| {
            S3Error::invalid_argument("x-amz-copy-source is not valid UTF-8 after decoding.")
        })?;
    let (bucket, key) = decoded
        .split_once('/')
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .ok_or_else(|| S3Error::invalid_argument("x-amz-copy-source must look like bucket/key."))?;
    let sb = req
        .state
        .store
        .get(bucket)
        .ok_or_else(|| S3Error::no_such_bucket(bucket))?;
    let so = sb.get(key).ok_or_else(|| S3Error::no_such_key(key))?;
    Ok((sb, key.to_string(), so))
}

fn copy_result(root: &str, etag: &str, t: SystemTime) -> Resp {
    copy_result_with(root, etag, t, None)
}

/// A copy result naming the copy's checksum (`ChecksumCRC32`, ...).
fn copy_result_with(root: &str, etag: &str, t: SystemTime, checksum: Option<(Alg, &[u8])>) -> Resp {
    let mut s = String::with_capacity(200);
    let _ = write!(s, "{HEAD}<{root} xmlns=\"{NS}\">");
    elem(&mut s, "LastModified", &dates::iso8601_millis(t));
    elem(&mut s, "ETag", etag);
    if let Some((alg, v)) = checksum {
        let name = format!("Checksum{}", alg.name().to_uppercase());
        elem(&mut s, &name, &STANDARD.encode(v));
    }
    let _ = write!(s, "</{root}>");
    xml_response(s)
}

fn copy_object(req: &Req<'_>) -> Result<Resp, S3Error> {
    let b = bucket(req)?;
    let cond = WriteConditions::parse(req)?;
    let (sb, source_key, so) = copy_source(req)?;
    ObjectConditions::parse(req, "x-amz-copy-source-")?.check(&so)?;
    let replace = match req.header("x-amz-metadata-directive") {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(other) => {
            return Err(S3Error::invalid_argument(format!(
                "Unknown metadata directive {other}; expecting COPY or REPLACE."
            )));
        }
    };
    if sb.name == b.name && source_key == req.key && !replace {
        return Err(S3Error::invalid_request(
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata.",
        ));
    }
    let etag = match b.kind {
        BucketKind::Directory => random_etag(),
        // A single-part MD5 ETag of a General Purpose object is the content's MD5.
        BucketKind::GeneralPurpose
            if sb.kind == BucketKind::GeneralPurpose && !so.etag.contains('-') =>
        {
            so.etag.clone()
        }
        BucketKind::GeneralPurpose => md5_etag(&digest_segments(Alg::Md5, &so.segments)),
    };
    let now = SystemTime::now();
    let (content_type, metadata) = if replace {
        (
            req.header("content-type").map(str::to_string),
            user_metadata(req),
        )
    } else {
        (so.content_type.clone(), so.metadata.clone())
    };
    commit(
        &b,
        &req.key,
        &cond,
        None,
        Object {
            segments: so.segments.clone(),
            len: so.len,
            etag: etag.clone(),
            last_modified: now,
            content_type,
            metadata,
            // A copy is one piece again (resets the append count, as S3).
            parts: 1,
            checksum: so.checksum,
            // The same bytes: a checksum already computed carries over.
            // A COMPOSITE one is of the source's parts: the copy, one
            // piece, gets a full-object checksum.
            checksum_value: if so.composite_parts == 0 {
                so.checksum_value.clone()
            } else {
                OnceLock::new()
            },
            composite_parts: 0,
        },
    )?;
    Ok(copy_result("CopyObjectResult", &etag, now))
}

fn create_multipart_upload(req: &Req<'_>) -> Result<Resp, S3Error> {
    let b = bucket(req)?;
    let checksum = upload_checksum(req)?;
    let id = b.create_upload(Upload {
        key: req.key.clone(),
        content_type: req.header("content-type").map(str::to_string),
        metadata: user_metadata(req),
        parts: Default::default(),
        checksum,
    });
    let mut s = String::with_capacity(256);
    let _ = write!(s, "{HEAD}<InitiateMultipartUploadResult xmlns=\"{NS}\">");
    elem(&mut s, "Bucket", &b.name);
    elem(&mut s, "Key", &req.key);
    elem(&mut s, "UploadId", &id);
    s.push_str("</InitiateMultipartUploadResult>");
    let mut r = xml_response(s);
    if let Some(c) = checksum {
        let h = r.headers_mut();
        h.insert(
            "x-amz-checksum-algorithm",
            header_value(&c.alg.name().to_uppercase())?,
        );
        h.insert(
            "x-amz-checksum-type",
            HeaderValue::from_static(checksum_type(c.composite)),
        );
    }
    Ok(r)
}

/// The `x-amz-checksum-type` of a checksum.
fn checksum_type(composite: bool) -> &'static str {
    if composite {
        "COMPOSITE"
    } else {
        "FULL_OBJECT"
    }
}

/// The checksum a CreateMultipartUpload asks for: `x-amz-checksum-algorithm`
/// and `x-amz-checksum-type`, whose default is COMPOSITE except for
/// CRC64NVME, which is FULL_OBJECT only; SHA-1 and SHA-256 are COMPOSITE only.
fn upload_checksum(req: &Req<'_>) -> Result<Option<UploadChecksum>, S3Error> {
    let Some(name) = req.header("x-amz-checksum-algorithm") else {
        if req.header("x-amz-checksum-type").is_some() {
            return Err(S3Error::invalid_request(
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
            ));
        }
        return Ok(None);
    };
    let alg = Alg::from_checksum_header(&format!("x-amz-checksum-{}", name.to_ascii_lowercase()))
        .ok_or_else(|| {
        S3Error::invalid_argument(format!(
            "Checksum algorithm {name} is not one of CRC32, CRC32C, CRC64NVME, SHA1, SHA256."
        ))
    })?;
    let full_only = alg == Alg::Crc64Nvme;
    let composite_only = matches!(alg, Alg::Sha1 | Alg::Sha256);
    let composite = match req
        .header("x-amz-checksum-type")
        .map(str::to_ascii_uppercase)
    {
        None => !full_only,
        Some(t) if t == "COMPOSITE" && !full_only => true,
        Some(t) if t == "FULL_OBJECT" && !composite_only => false,
        Some(t) if t == "COMPOSITE" || t == "FULL_OBJECT" => {
            return Err(S3Error::invalid_request(format!(
                "The {t} checksum type cannot be used with the {} checksum algorithm.",
                alg.name()
            )));
        }
        Some(t) => {
            return Err(S3Error::invalid_argument(format!(
                "Checksum type {t} is not COMPOSITE or FULL_OBJECT."
            )));
        }
    };
    Ok(Some(UploadChecksum { alg, composite }))
}

/// The bucket, upload id and part number of an UploadPart(Copy), checked
/// before any body is read.
fn part_target(req: &Req<'_>) -> Result<(Arc<Bucket>, String, u32), S3Error> {
    let b = bucket(req)?;
    let number = req
        .query
        .get("partNumber")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive.",
            )
        })?;
    let upload_id = req.query.get("uploadId").unwrap_or_default().to_string();
    if b.upload_key(&upload_id).as_deref() != Some(req.key.as_str()) {
        return Err(S3Error::no_such_upload(&upload_id));
    }
    Ok((b, upload_id, number))
}

fn new_part(
    kind: BucketKind,
    segments: Vec<Segment>,
    len: u64,
    md5: Option<Vec<u8>>,
    checksum: Option<Vec<u8>>,
) -> Part {
    let md5: Option<[u8; 16]> = md5.and_then(|m| m.try_into().ok());
    Part {
        etag: match (kind, md5) {
            (BucketKind::GeneralPurpose, Some(m)) => md5_etag(&m),
            _ => random_etag(),
        },
        segments,
        len,
        md5,
        checksum,
        last_modified: SystemTime::now(),
    }
}

/// The part's checksum in its upload's algorithm. A COMPOSITE upload needs
/// one from the client (S3's "Checksum Type mismatch"); for FULL_OBJECT the
/// server computes a missing one.
fn part_checksum(
    upload: Option<UploadChecksum>,
    body: &super::ingest::Ingested,
) -> Result<Option<Vec<u8>>, S3Error> {
    let Some(c) = upload else {
        return Ok(None);
    };
    match body.checksum {
        Some(a) if a == c.alg => Ok(body.digest(a).map(<[u8]>::to_vec)),
        None if !c.composite => Ok(Some(super::ingest::digest_segments(c.alg, &body.segments))),
        sent => Err(S3Error::invalid_request(format!(
            "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
            c.alg.name(),
            sent.map_or("null", Alg::name)
        ))),
    }
}

async fn upload_part(req: &mut Req<'_>) -> Result<Resp, S3Error> {
    let (b, upload_id, number) = part_target(req)?;
    refuse_md5(req, &b)?;
    let algs = if b.kind == BucketKind::GeneralPurpose {
        vec![Alg::Md5]
    } else {
        vec![]
    };
    let body = req.read_body(algs, MAX_OBJECT).await?;
    let upload = b.upload_checksum(&upload_id);
    let checksum = part_checksum(upload, &body)?;
    let md5 = body.digest(Alg::Md5).map(<[u8]>::to_vec);
    let part = new_part(b.kind, body.segments, body.len, md5, checksum.clone());
    let etag = part.etag.clone();
    b.put_part(&upload_id, number, part)?;
    let mut r = etag_response(&etag)?;
    // The part's checksum, which the complete request must name.
    if let (Some(c), Some(v)) = (upload, checksum) {
        r.headers_mut().insert(
            http::HeaderName::from_static(c.alg.header()),
            header_value(&STANDARD.encode(v))?,
        );
    }
    Ok(r)
}

fn upload_part_copy(req: &Req<'_>) -> Result<Resp, S3Error> {
    let (b, upload_id, number) = part_target(req)?;
    let (_, _, so) = copy_source(req)?;
    ObjectConditions::parse(req, "x-amz-copy-source-")?.check(&so)?;
    let (start, len) = match req.header("x-amz-copy-source-range") {
        None => (0, so.len),
        Some(r) => match parse_range(Some(r), so.len) {
            RangeSpec::Partial(a, z) => (a, z - a + 1),
            _ => {
                return Err(S3Error::invalid_argument(
                    "x-amz-copy-source-range must be bytes=first-last within the source object.",
                ));
            }
        },
    };
    let segments = slice_segments(&so.segments, start, len);
    let md5 = (b.kind == BucketKind::GeneralPurpose).then(|| digest_segments(Alg::Md5, &segments));
    // S3 computes a copied part's checksum in the upload's algorithm.
    let checksum = b
        .upload_checksum(&upload_id)
        .map(|c| (c.alg, digest_segments(c.alg, &segments)));
    let part = new_part(
        b.kind,
        segments,
        len,
        md5,
        checksum.as_ref().map(|(_, v)| v.clone()),
    );
    let etag = part.etag.clone();
    b.put_part(&upload_id, number, part)?;
    Ok(copy_result_with(
        "CopyPartResult",
        &etag,
        SystemTime::now(),
        checksum.as_ref().map(|(a, v)| (*a, v.as_slice())),
    ))
}

async fn complete_multipart_upload(req: &mut Req<'_>) -> Result<Resp, S3Error> {
    let b = bucket(req)?;
    let upload_id = req.query.get("uploadId").unwrap_or_default().to_string();
    let cond = WriteConditions::parse(req)?;
    let watch = (!cond.is_empty()).then(|| b.watch(&req.key));
    let body = req.read_body(Vec::new(), MAX_XML).await?.to_bytes();
    let requested = xml::parse_complete(&body)?.parts;
    let key = req.key.clone();
    // The conditions are checked and the upload completed in one locked
    // step; when they fail the upload stays, as S3 keeps it.
    let etag = b.update(watch.as_ref(), |l| {
        cond.check(&key, l.get(&key).as_deref())?;
        if watch.as_ref().is_some_and(|w| w.conflicted()) {
            return Err(conflict());
        }
        let (mut obj, parts) =
            b.complete_upload(&upload_id, &key, &requested, SystemTime::now())?;
        obj.etag = match b.kind {
            BucketKind::GeneralPurpose => {
                let mut h = Md5::new();
                for p in &parts {
                    h.update(p.md5.unwrap_or_default());
                }
                format!("\"{}-{}\"", hex::encode(h.finalize()), parts.len())
            }
            BucketKind::Directory => random_etag(),
        };
        let etag = obj.etag.clone();
        l.insert(&key, obj);
        Ok(etag)
    })?;
    let mut s = String::with_capacity(300);
    let _ = write!(s, "{HEAD}<CompleteMultipartUploadResult xmlns=\"{NS}\">");
    elem(&mut s, "Location", &format!("/{}/{}", b.name, req.key));
    elem(&mut s, "Bucket", &b.name);
    elem(&mut s, "Key", &req.key);
    elem(&mut s, "ETag", &etag);
    s.push_str("</CompleteMultipartUploadResult>");
    Ok(xml_response(s))
}

fn list_parts(req: &Req<'_>) -> Result<Resp, S3Error> {
    let b = bucket(req)?;
    let upload_id = req.query.get("uploadId").unwrap_or_default();
    let (key, parts) = b.list_parts(upload_id)?;
    if key != req.key {
        return Err(S3Error::no_such_upload(upload_id));
    }
    let max_parts = match req.query.get("max-parts") {
        None => 1000,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| S3Error::invalid_argument("max-parts must be a non-negative integer."))?
            .min(1000),
    };
    let marker = match req.query.get("part-number-marker") {
        None => 0,
        Some(v) => v
            .parse::<u32>()
            .map_err(|_| S3Error::invalid_argument("part-number-marker must be a part number."))?,
    };
    let after: Vec<_> = parts.into_iter().filter(|(n, _)| *n > marker).collect();
    let truncated = after.len() > max_parts;
    let shown = &after[..after.len().min(max_parts)];
    let mut s = String::with_capacity(300 + shown.len() * 150);
    let _ = write!(s, "{HEAD}<ListPartsResult xmlns=\"{NS}\">");
    elem(&mut s, "Bucket", &b.name);
    elem(&mut s, "Key", &key);
    elem(&mut s, "UploadId", upload_id);
    let _ = write!(
        s,
        "<PartNumberMarker>{marker}</PartNumberMarker><NextPartNumberMarker>{}</NextPartNumberMarker><MaxParts>{max_parts}</MaxParts><IsTruncated>{truncated}</IsTruncated>",
        shown.last().map_or(0, |(n, _)| *n)
    );
    let _ = write!(s, "<StorageClass>{}</StorageClass>", storage_class(b.kind));
    for (n, p) in shown {
        let _ = write!(s, "<Part><PartNumber>{n}</PartNumber>");
        elem(
            &mut s,
            "LastModified",
            &dates::iso8601_millis(p.last_modified),
        );
        elem(&mut s, "ETag", &p.etag);
        let _ = write!(s, "<Size>{}</Size></Part>", p.len);
    }
    s.push_str("</ListPartsResult>");
    Ok(xml_response(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_s3() {
        use RangeSpec::*;
        let r = |h: &str| parse_range(Some(h), 100);
        assert_eq!(r("bytes=0-9"), Partial(0, 9));
        assert_eq!(r("bytes=90-200"), Partial(90, 99));
        assert_eq!(r("bytes=95-"), Partial(95, 99));
        assert_eq!(r("bytes=-10"), Partial(90, 99));
        assert_eq!(r("bytes=-500"), Partial(0, 99));
        assert_eq!(r("bytes=100-"), Unsatisfiable);
        assert_eq!(r("bytes=100-200"), Unsatisfiable);
        assert_eq!(r("bytes=-0"), Unsatisfiable);
        assert_eq!(r("bytes=5-1"), Full);
        assert_eq!(r("bytes=0-1,3-4"), Full);
        assert_eq!(r("items=0-1"), Full);
        assert_eq!(parse_range(None, 100), Full);
        assert_eq!(parse_range(Some("bytes=0-0"), 0), Unsatisfiable);
    }

    #[test]
    fn etag_shapes() {
        let e = random_etag();
        assert_eq!(e.len(), 34);
        assert!(e.starts_with('"') && e.ends_with('"'));
        assert_eq!(md5_etag(&[0xab; 16]), format!("\"{}\"", "ab".repeat(16)));
    }
}
