//! AWS Signature Version 4 verification, as S3 applies it.
//!
//! S3 differs from other services in two ways that matter here: the path is
//! signed exactly as sent (no normalisation, no second round of
//! percent-encoding), and the payload hash is whatever the client put in
//! `x-amz-content-sha256` (`UNSIGNED-PAYLOAD`, a hex SHA-256, or one of the
//! `STREAMING-*` markers). Both header auth and presigned query auth are
//! supported. Credential scopes for service `s3` and `s3express` are both
//! accepted.
//!
//! Verification happens in two steps so the caller can pick the secret:
//! [`parse`] extracts the claimed credential, then [`verify`] recomputes the
//! signature with the secret that belongs to it.

use std::time::{Duration, SystemTime};

use http::request::Parts;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str};
use sha2::{Digest, Sha256};

use super::dates;
use super::error::S3Error;

/// Characters SigV4 leaves unencoded: `A-Za-z0-9-._~`.
pub(crate) const URI_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Largest clock difference S3 tolerates.
pub(crate) const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Longest validity of a presigned URL (7 days, as in S3).
const MAX_PRESIGN: u64 = 7 * 24 * 3600;

/// The signing service named in the credential scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    S3,
    S3Express,
}

impl Service {
    fn as_str(self) -> &'static str {
        match self {
            Service::S3 => "s3",
            Service::S3Express => "s3express",
        }
    }
}

/// What `x-amz-content-sha256` says about the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PayloadHash {
    Unsigned,
    /// The SHA-256 of the (decoded) body, to be checked once it is read.
    Sha256([u8; 32]),
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`: aws-chunked, signed chunks.
    StreamingSigned {
        trailer: bool,
    },
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked, unsigned chunks.
    StreamingUnsignedTrailer,
}

impl PayloadHash {
    pub(crate) fn is_streaming(&self) -> bool {
        matches!(
            self,
            PayloadHash::StreamingSigned { .. } | PayloadHash::StreamingUnsignedTrailer
        )
    }
}

/// A request's claimed signature, before the secret is known.
#[derive(Debug, Clone)]
pub(crate) struct SignedRequest {
    pub access_key: String,
    pub service: Service,
    /// Session token from `x-amz-s3session-token` (header or query).
    pub session_token: Option<String>,
    /// Other security tokens (`x-amz-security-token`), which this endpoint never issues.
    pub security_token: Option<String>,
    pub payload: PayloadHash,
    payload_raw: String,
    amz_date: String,
    scope: String,
    signed_headers: Vec<String>,
    signature: [u8; 32],
    presigned: bool,
}

fn header_str<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Extracts the credential and signature from the `Authorization` header or
/// the `X-Amz-*` query parameters, and checks the date and scope.
pub(crate) fn parse(
    parts: &Parts,
    region: &str,
    now: SystemTime,
) -> Result<SignedRequest, S3Error> {
    if let Some(auth) = parts.headers.get(http::header::AUTHORIZATION) {
        let auth = auth
            .to_str()
            .map_err(|_| malformed("The Authorization header is not valid ASCII."))?;
        if auth.starts_with("AWS ") {
            return Err(sigv2_refused("an Authorization: AWS header"));
        }
        return parse_header(parts, auth, region, now);
    }
    let query = parts.uri.query().unwrap_or("");
    if query_params(query).any(|(k, _)| k == "X-Amz-Algorithm") {
        return parse_presigned(parts, query, region, now);
    }
    if query_params(query).any(|(k, _)| k == "Signature")
        && query_params(query).any(|(k, _)| k == "AWSAccessKeyId")
    {
        return Err(sigv2_refused("a Signature/AWSAccessKeyId presigned URL"));
    }
    Err(S3Error::access_denied(
        "Anonymous requests are not allowed; sign the request with AWS Signature Version 4.",
    ))
}

/// What S3 answers a Signature Version 2 request in the regions that
/// accept only SigV4 (400 InvalidRequest, "The authorization mechanism you
/// have provided is not supported"), naming SigV2 so the user knows which
/// client setting to change (s3cmd `signature_v2 = False`, boto `s3v4`).
fn sigv2_refused(how: &str) -> S3Error {
    S3Error::invalid_request(format!(
        "The authorization mechanism you have provided is not supported: the request is signed with AWS Signature Version 2 ({how}), which this endpoint does not support. Please use AWS4-HMAC-SHA256 (Signature Version 4)."
    ))
}

fn malformed(message: &str) -> S3Error {
    S3Error::new(400, "AuthorizationHeaderMalformed", message)
}

fn parse_header(
    parts: &Parts,
    auth: &str,
    region: &str,
    now: SystemTime,
) -> Result<SignedRequest, S3Error> {
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256").ok_or_else(|| {
        S3Error::invalid_argument("Only the AWS4-HMAC-SHA256 signature algorithm is supported.")
    })?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for field in rest.split(',') {
        let field = field.trim();
        if let Some(v) = field.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = field.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = field.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(malformed(
            "The Authorization header needs Credential, SignedHeaders and Signature.",
        ));
    };
    let amz_date = header_str(parts, "x-amz-date").ok_or_else(|| {
        S3Error::access_denied("AWS authentication requires a valid x-amz-date header.")
    })?;
    let date = dates::parse_amz_date(amz_date)
        .ok_or_else(|| S3Error::access_denied("The x-amz-date header is not a valid date."))?;
    check_skew(date, now)?;
    let payload_raw = header_str(parts, "x-amz-content-sha256").ok_or_else(|| {
        S3Error::invalid_request("Missing required header for this request: x-amz-content-sha256.")
    })?;
    let payload = parse_payload(payload_raw)?;
    let (access_key, service, scope) = parse_credential(credential, amz_date, region)?;
    Ok(SignedRequest {
        access_key,
        service,
        session_token: header_str(parts, "x-amz-s3session-token").map(str::to_string),
        security_token: header_str(parts, "x-amz-security-token").map(str::to_string),
        payload,
        payload_raw: payload_raw.to_string(),
        amz_date: amz_date.to_string(),
        scope,
        signed_headers: split_signed_headers(signed_headers)?,
        signature: parse_signature(signature)?,
        presigned: false,
    })
}

fn parse_presigned(
    parts: &Parts,
    query: &str,
    region: &str,
    now: SystemTime,
) -> Result<SignedRequest, S3Error> {
    let get = |name: &str| -> Option<String> {
        query_params(query)
            .find(|(k, _)| *k == name)
            .map(|(_, v)| percent_decode_str(v).decode_utf8_lossy().into_owned())
    };
    let algorithm = get("X-Amz-Algorithm").unwrap_or_default();
    if algorithm != "AWS4-HMAC-SHA256" {
        return Err(S3Error::invalid_argument(
            "Only the AWS4-HMAC-SHA256 signature algorithm is supported.",
        ));
    }
    let missing = |what: &str| {
        S3Error::access_denied(format!("The presigned URL lacks the {what} parameter."))
    };
    let credential = get("X-Amz-Credential").ok_or_else(|| missing("X-Amz-Credential"))?;
    let amz_date = get("X-Amz-Date").ok_or_else(|| missing("X-Amz-Date"))?;
    let expires = get("X-Amz-Expires").ok_or_else(|| missing("X-Amz-Expires"))?;
    let signed_headers =
        get("X-Amz-SignedHeaders").ok_or_else(|| missing("X-Amz-SignedHeaders"))?;
    let signature = get("X-Amz-Signature").ok_or_else(|| missing("X-Amz-Signature"))?;
    let date = dates::parse_amz_date(&amz_date)
        .ok_or_else(|| S3Error::access_denied("X-Amz-Date is not a valid date."))?;
    let expires: u64 = expires
        .parse()
        .ok()
        .filter(|&e| e <= MAX_PRESIGN)
        .ok_or_else(|| {
            S3Error::access_denied("X-Amz-Expires must be a number of seconds up to 604800.")
        })?;
    if date > now + MAX_SKEW {
        return Err(S3Error::new(
            403,
            "RequestTimeTooSkewed",
            "The presigned URL is dated in the future beyond the allowed clock skew.",
        ));
    }
    if now > date + Duration::from_secs(expires) {
        return Err(S3Error::access_denied("Request has expired."));
    }
    let (access_key, service, scope) = parse_credential(&credential, &amz_date, region)?;
    let payload_raw = header_str(parts, "x-amz-content-sha256").unwrap_or("UNSIGNED-PAYLOAD");
    Ok(SignedRequest {
        access_key,
        service,
        session_token: get("X-Amz-S3session-Token")
            .or_else(|| header_str(parts, "x-amz-s3session-token").map(str::to_string)),
        security_token: get("X-Amz-Security-Token"),
        payload: parse_payload(payload_raw)?,
        payload_raw: payload_raw.to_string(),
        amz_date,
        scope,
        signed_headers: split_signed_headers(&signed_headers)?,
        signature: parse_signature(&signature)?,
        presigned: true,
    })
}

fn check_skew(date: SystemTime, now: SystemTime) -> Result<(), S3Error> {
    let skew = match now.duration_since(date) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if skew > MAX_SKEW {
        return Err(S3Error::new(
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the server's time is too large.",
        ));
    }
    Ok(())
}

fn parse_payload(raw: &str) -> Result<PayloadHash, S3Error> {
    Ok(match raw {
        "UNSIGNED-PAYLOAD" => PayloadHash::Unsigned,
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => PayloadHash::StreamingSigned { trailer: false },
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => {
            PayloadHash::StreamingSigned { trailer: true }
        }
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => PayloadHash::StreamingUnsignedTrailer,
        hex_hash => {
            let mut h = [0u8; 32];
            hex::decode_to_slice(hex_hash, &mut h).map_err(|_| {
                S3Error::new(
                    400,
                    "InvalidArgument",
                    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING-* value or a hex SHA-256.",
                )
            })?;
            PayloadHash::Sha256(h)
        }
    })
}

/// `AK/20130524/us-east-1/s3/aws4_request` -> (AK, service, scope without AK).
fn parse_credential(
    credential: &str,
    amz_date: &str,
    region: &str,
) -> Result<(String, Service, String), S3Error> {
    let mut it = credential.splitn(2, '/');
    let access_key = it.next().unwrap_or_default();
    let scope = it.next().unwrap_or_default();
    let fields: Vec<&str> = scope.split('/').collect();
    let [date, scope_region, service, terminator] = fields[..] else {
        return Err(malformed(
            "The credential must look like ACCESS_KEY/yyyymmdd/region/service/aws4_request.",
        ));
    };
    if access_key.is_empty() || terminator != "aws4_request" {
        return Err(malformed(
            "The credential must look like ACCESS_KEY/yyyymmdd/region/service/aws4_request.",
        ));
    }
    if !amz_date.starts_with(date) || date.len() != 8 {
        return Err(malformed(
            "The credential date does not match the request date.",
        ));
    }
    if scope_region != region {
        return Err(malformed(&format!(
            "The authorization header is malformed; the region '{scope_region}' is wrong; expecting '{region}'."
        )));
    }
    let service = match service {
        "s3" => Service::S3,
        "s3express" => Service::S3Express,
        other => {
            return Err(malformed(&format!(
                "The credential scope names service '{other}'; expecting 's3' or 's3express'."
            )));
        }
    };
    Ok((access_key.to_string(), service, scope.to_string()))
}

fn split_signed_headers(s: &str) -> Result<Vec<String>, S3Error> {
    let names: Vec<String> = s
        .split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if names.iter().any(String::is_empty) {
        return Err(malformed("SignedHeaders has an empty header name."));
    }
    if !names.iter().any(|n| n == "host") {
        return Err(S3Error::access_denied("The host header must be signed."));
    }
    Ok(names)
}

fn parse_signature(s: &str) -> Result<[u8; 32], S3Error> {
    let mut sig = [0u8; 32];
    hex::decode_to_slice(s, &mut sig)
        .map_err(|_| malformed("The signature is not 64 hex characters."))?;
    Ok(sig)
}

/// Recomputes the signature with `secret` and compares it.
pub(crate) fn verify(parts: &Parts, req: &SignedRequest, secret: &str) -> Result<(), S3Error> {
    let canonical = canonical_request(parts, req);
    let expected = sign(secret, req, &canonical);
    // Constant time, so response timing says nothing about the signature.
    let diff = expected
        .iter()
        .zip(req.signature.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if diff != 0 {
        return Err(S3Error::new(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        ));
    }
    Ok(())
}

fn sign(secret: &str, req: &SignedRequest, canonical: &[u8]) -> [u8; 32] {
    let mut sts = Vec::with_capacity(160);
    sts.extend_from_slice(b"AWS4-HMAC-SHA256\n");
    sts.extend_from_slice(req.amz_date.as_bytes());
    sts.push(b'\n');
    sts.extend_from_slice(req.scope.as_bytes());
    sts.push(b'\n');
    sts.extend_from_slice(hex::encode(Sha256::digest(canonical)).as_bytes());
    hmac(&cached_signing_key(secret, req), &sts)
}

thread_local! {
    /// Signing keys derived on this server thread: (secret, scope) -> key.
    /// A key changes once a day per credential, so deriving it (4 HMACs)
    /// for every request is wasted work.
    static KEYS: std::cell::RefCell<Vec<(String, String, [u8; 32])>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// At most this many keys are kept per thread.
const KEY_CACHE_MAX: usize = 64;

fn cached_signing_key(secret: &str, req: &SignedRequest) -> [u8; 32] {
    KEYS.with_borrow_mut(|keys| {
        if let Some((_, _, k)) = keys
            .iter()
            .find(|(s, sc, _)| s == secret && *sc == req.scope)
        {
            return *k;
        }
        let mut fields = req.scope.split('/');
        let date = fields.next().unwrap_or_default();
        let region = fields.next().unwrap_or_default();
        let k = signing_key(secret, date, region, req.service.as_str());
        if keys.len() >= KEY_CACHE_MAX {
            keys.clear();
        }
        keys.push((secret.to_string(), req.scope.clone(), k));
        k
    })
}

use crate::s3::sigv4::{hmac_sha256 as hmac, signing_key};

fn canonical_request(parts: &Parts, req: &SignedRequest) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b'\n');
    let path = parts.uri.path();
    out.extend_from_slice(if path.is_empty() {
        b"/"
    } else {
        path.as_bytes()
    });
    out.push(b'\n');
    out.extend_from_slice(
        canonical_query(parts.uri.query().unwrap_or(""), req.presigned).as_bytes(),
    );
    out.push(b'\n');
    for name in &req.signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut first = true;
        for value in parts.headers.get_all(name.as_str()) {
            if !first {
                out.push(b',');
            }
            first = false;
            push_trimmed(&mut out, value.as_bytes());
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(req.signed_headers.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(req.payload_raw.as_bytes());
    out
}

/// Trims a header value and collapses inner runs of whitespace to one space.
fn push_trimmed(out: &mut Vec<u8>, value: &[u8]) {
    let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ws(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ws(b))
        .map_or(start, |i| i + 1);
    let mut prev_ws = false;
    for b in &value[start..end] {
        if is_ws(b) {
            if !prev_ws {
                out.push(b' ');
            }
            prev_ws = true;
        } else {
            out.push(*b);
            prev_ws = false;
        }
    }
}

fn query_params(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// Decodes every name and value, re-encodes them the SigV4 way and sorts.
pub(crate) fn canonical_query(query: &str, presigned: bool) -> String {
    let enc = |s: &str| -> String {
        let decoded = percent_decode_str(s).collect::<Vec<u8>>();
        percent_encoding::percent_encode(&decoded, URI_UNRESERVED).to_string()
    };
    let mut pairs: Vec<(String, String)> = query_params(query)
        .filter(|(k, _)| !(presigned && *k == "X-Amz-Signature"))
        .map(|(k, v)| (enc(k), enc(v)))
        .collect();
    pairs.sort_unstable();
    let mut out = String::with_capacity(query.len() + 8);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Signs a request with header auth (tests only): adds `host`-independent
/// `x-amz-date` and `x-amz-content-sha256`, signs every header present.
#[cfg(test)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn sign_for_test(
    req: &mut http::Request<()>,
    access_key: &str,
    secret: &str,
    region: &str,
    service: &str,
    now: SystemTime,
    payload: &str,
) {
    let amz_date = dates::amz_date(now);
    let h = req.headers_mut();
    h.insert("x-amz-date", amz_date.parse().expect("ascii"));
    h.insert("x-amz-content-sha256", payload.parse().expect("ascii"));
    let mut names: Vec<String> = req
        .headers()
        .keys()
        .map(|k| k.as_str().to_string())
        .collect();
    names.sort();
    names.dedup();
    let scope = format!("{}/{region}/{service}/aws4_request", &amz_date[..8]);
    let fake = SignedRequest {
        access_key: access_key.to_string(),
        service: if service == "s3express" {
            Service::S3Express
        } else {
            Service::S3
        },
        session_token: None,
        security_token: None,
        payload: PayloadHash::Unsigned,
        payload_raw: payload.to_string(),
        amz_date,
        scope: scope.clone(),
        signed_headers: names.clone(),
        signature: [0; 32],
        presigned: false,
    };
    let (parts, body) = std::mem::take(req).into_parts();
    let sig = sign(secret, &fake, &canonical_request(&parts, &fake));
    *req = http::Request::from_parts(parts, body);
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={}, Signature={}",
        names.join(";"),
        hex::encode(sig)
    );
    req.headers_mut()
        .insert("authorization", auth.parse().expect("ascii"));
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const AK: &str = "AKIAIOSFODNN7EXAMPLE";
    const SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const EMPTY_SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn may_24_2013() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_369_353_600)
    }

    /// The "GET Object" example of the S3 SigV4 documentation.
    fn aws_example(signature: &str) -> Parts {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature={signature}"
        );
        let req = http::Request::get("/test.txt")
            .header("host", "examplebucket.s3.amazonaws.com")
            .header("range", "bytes=0-9")
            .header("x-amz-content-sha256", EMPTY_SHA)
            .header("x-amz-date", "20130524T000000Z")
            .header("authorization", auth)
            .body(())
            .unwrap();
        req.into_parts().0
    }

    #[test]
    fn accepts_the_documented_example() {
        let parts = aws_example("f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
        let req = parse(&parts, "us-east-1", may_24_2013()).unwrap();
        assert_eq!(req.access_key, AK);
        assert_eq!(req.service, Service::S3);
        assert!(matches!(req.payload, PayloadHash::Sha256(_)));
        verify(&parts, &req, SK).unwrap();
        let err = verify(&parts, &req, "wrong").unwrap_err();
        assert_eq!(err.code, "SignatureDoesNotMatch");
    }

    #[test]
    fn rejects_a_tampered_signature_skew_region_and_service() {
        let parts = aws_example("f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb42");
        let req = parse(&parts, "us-east-1", may_24_2013()).unwrap();
        assert_eq!(
            verify(&parts, &req, SK).unwrap_err().code,
            "SignatureDoesNotMatch"
        );
        let late = may_24_2013() + Duration::from_secs(16 * 60);
        assert_eq!(
            parse(&parts, "us-east-1", late).unwrap_err().code,
            "RequestTimeTooSkewed"
        );
        assert_eq!(
            parse(&parts, "eu-west-1", may_24_2013()).unwrap_err().code,
            "AuthorizationHeaderMalformed"
        );
        let anon = http::Request::get("/x").body(()).unwrap().into_parts().0;
        assert_eq!(
            parse(&anon, "us-east-1", may_24_2013()).unwrap_err().code,
            "AccessDenied"
        );
    }

    #[test]
    fn canonical_query_sorts_and_reencodes() {
        assert_eq!(canonical_query("uploads", false), "uploads=");
        assert_eq!(
            canonical_query("prefix=a%2Fb c&list-type=2&delimiter=%2F", false),
            "delimiter=%2F&list-type=2&prefix=a%2Fb%20c"
        );
        assert_eq!(
            canonical_query("X-Amz-Signature=abc&X-Amz-Date=1", true),
            "X-Amz-Date=1"
        );
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        let mut out = Vec::new();
        push_trimmed(&mut out, b"  a   b\t c  ");
        assert_eq!(out, b"a b c");
    }
}
