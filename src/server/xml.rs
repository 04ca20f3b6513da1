//! XML: request bodies parsed with quick-xml's serde support, response
//! bodies formatted by hand (they are flat and this avoids a serializer's
//! allocations on the ListObjectsV2 path).

use std::fmt::Write as _;

use percent_encoding::{AsciiSet, utf8_percent_encode};
use serde::Deserialize;

use super::error::S3Error;

pub(crate) const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
pub(crate) const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Escapes text for an XML element body.
pub(crate) fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.bytes().any(|b| {
        matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'' | b'\r')
            || b < 0x20 && b != b'\n' && b != b'\t'
    }) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {
                let _ = write!(out, "&#x{:X};", c as u32);
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `encoding-type=url`: S3 encodes like a form, but keeps `/`.
const URL_KEEP: &AsciiSet = &super::sigv4::URI_UNRESERVED.remove(b'/');

pub(crate) fn url_encode(s: &str) -> String {
    utf8_percent_encode(s, URL_KEEP).to_string()
}

/// Appends `<tag>escaped text</tag>`.
pub(crate) fn elem(out: &mut String, tag: &str, text: &str) {
    let _ = write!(out, "<{tag}>{}</{tag}>", esc(text));
}

pub(crate) fn error_body(code: &str, message: &str, request_id: &str, resource: &str) -> String {
    let mut s = String::with_capacity(256);
    s.push_str(HEAD);
    s.push_str("<Error>");
    elem(&mut s, "Code", code);
    elem(&mut s, "Message", message);
    if !resource.is_empty() {
        elem(&mut s, "Resource", resource);
    }
    elem(&mut s, "RequestId", request_id);
    s.push_str("</Error>");
    s
}

// ---- request bodies -------------------------------------------------------

fn parse<'de, T: Deserialize<'de>>(body: &'de [u8], what: &str) -> Result<T, S3Error> {
    let text = std::str::from_utf8(body)
        .map_err(|_| S3Error::malformed_xml(format!("The {what} body is not UTF-8.")))?;
    quick_xml::de::from_str(text).map_err(|e| {
        S3Error::malformed_xml(format!(
            "The XML you provided was not well-formed or did not validate against our published schema ({what}: {e})."
        ))
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CompleteMultipartUpload {
    #[serde(rename = "Part", default)]
    pub parts: Vec<CompletedPart>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CompletedPart {
    pub part_number: u32,
    #[serde(rename = "ETag")]
    pub etag: Option<String>,
    /// The part's checksum, required when the upload was created with an
    /// algorithm (base64, as UploadPart returned it).
    #[serde(rename = "ChecksumCRC32")]
    pub checksum_crc32: Option<String>,
    #[serde(rename = "ChecksumCRC32C")]
    pub checksum_crc32c: Option<String>,
    #[serde(rename = "ChecksumCRC64NVME")]
    pub checksum_crc64nvme: Option<String>,
    #[serde(rename = "ChecksumSHA1")]
    pub checksum_sha1: Option<String>,
    #[serde(rename = "ChecksumSHA256")]
    pub checksum_sha256: Option<String>,
}

impl CompletedPart {
    /// The checksum of `alg` this part names, if any.
    pub(crate) fn checksum(&self, alg: super::ingest::Alg) -> Option<&str> {
        use super::ingest::Alg;
        match alg {
            Alg::Crc32 => self.checksum_crc32.as_deref(),
            Alg::Crc32c => self.checksum_crc32c.as_deref(),
            Alg::Crc64Nvme => self.checksum_crc64nvme.as_deref(),
            Alg::Sha1 => self.checksum_sha1.as_deref(),
            Alg::Sha256 => self.checksum_sha256.as_deref(),
            Alg::Md5 => None,
        }
    }
}

pub(crate) fn parse_complete(body: &[u8]) -> Result<CompleteMultipartUpload, S3Error> {
    parse(body, "CompleteMultipartUpload")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Delete {
    #[serde(rename = "Object", default)]
    pub objects: Vec<ObjectIdentifier>,
    #[serde(default)]
    pub quiet: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ObjectIdentifier {
    pub key: String,
    /// Conditional delete of this object (both bucket kinds): its ETag or `*`.
    #[serde(rename = "ETag", default)]
    pub etag: Option<String>,
    /// Directory buckets: the object's Last-Modified (ISO 8601) and size.
    #[serde(default)]
    pub last_modified_time: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
}

pub(crate) fn parse_delete(body: &[u8]) -> Result<Delete, S3Error> {
    parse(body, "Delete")
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateBucketConfiguration {
    pub location_constraint: Option<String>,
    pub location: Option<LocationInfo>,
    pub bucket: Option<BucketInfo>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct LocationInfo {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BucketInfo {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub data_redundancy: Option<String>,
}

pub(crate) fn parse_create_bucket(body: &[u8]) -> Result<CreateBucketConfiguration, S3Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(CreateBucketConfiguration::default());
    }
    parse(body, "CreateBucketConfiguration")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(esc("plain/key"), "plain/key");
        assert_eq!(esc("a&b<c>\"d'"), "a&amp;b&lt;c&gt;&quot;d&apos;");
        assert_eq!(esc("x\u{1}y"), "x&#x1;y");
        assert_eq!(url_encode("a b/c+d"), "a%20b/c%2Bd");
    }

    #[test]
    fn parses_sdk_shaped_request_bodies() {
        let c = parse_complete(
            br#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>"abc"</ETag><PartNumber>1</PartNumber></Part><Part><PartNumber>2</PartNumber><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part></CompleteMultipartUpload>"#,
        )
        .unwrap();
        assert_eq!(c.parts.len(), 2);
        assert_eq!(c.parts[0].etag.as_deref(), Some("\"abc\""));
        assert_eq!(c.parts[1].part_number, 2);
        let d = parse_delete(
            br#"<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a&amp;b</Key></Object><Object><Key>c</Key></Object><Quiet>true</Quiet></Delete>"#,
        )
        .unwrap();
        assert!(d.quiet);
        assert_eq!(d.objects[0].key, "a&b");
        let b = parse_create_bucket(
            br#"<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Location><Name>use1-az4</Name><Type>AvailabilityZone</Type></Location><Bucket><DataRedundancy>SingleAvailabilityZone</DataRedundancy><Type>Directory</Type></Bucket></CreateBucketConfiguration>"#,
        )
        .unwrap();
        assert_eq!(b.location.unwrap().name.as_deref(), Some("use1-az4"));
        assert_eq!(b.bucket.unwrap().kind.as_deref(), Some("Directory"));
        assert!(parse_create_bucket(b"").unwrap().location.is_none());
        assert_eq!(
            parse_delete(b"<Delete><Object>").unwrap_err().code,
            "MalformedXML"
        );
    }
}
