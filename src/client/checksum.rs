//! Upload checksums computed by s3bench itself (the direct request path
//! and the checksum benchmark): the `x-amz-checksum-*` header S3 verifies,
//! over the body as it will be sent. Computed on every request, never
//! cached, so a scenario pays (and measures) what a real client pays. And
//! the download side ([`BodyCheck`]): a GET under `x-amz-checksum-mode:
//! ENABLED` is checked against the checksum the response carries.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use sha2::{Digest as _, Sha256};

use crate::scenario::ChecksumMode;

/// One running checksum computation.
enum Hasher {
    /// The CRC and its width in bytes.
    Crc(CrcDigest, usize),
    Sha1(sha1::Sha1),
    Sha256(Sha256),
}

impl Hasher {
    fn crc(alg: CrcAlgorithm, width: usize) -> Hasher {
        Hasher::Crc(CrcDigest::new(alg), width)
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc(d, _) => d.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    /// The value's bytes (S3 checksums are the big-endian bytes of a CRC)
    /// in a buffer, and how many of them are used.
    fn finish(self) -> ([u8; 32], usize) {
        let mut out = [0u8; 32];
        match self {
            Hasher::Crc(d, width) => {
                out[..width].copy_from_slice(&d.finalize().to_be_bytes()[8 - width..]);
                (out, width)
            }
            Hasher::Sha1(h) => {
                out[..20].copy_from_slice(&h.finalize());
                (out, 20)
            }
            Hasher::Sha256(h) => {
                out.copy_from_slice(&h.finalize());
                (out, 32)
            }
        }
    }
}

/// The header name and its base64 value for `body` (given in chunks);
/// None for [`ChecksumMode::None`].
pub fn upload_checksum<'a>(
    mode: ChecksumMode,
    body: impl IntoIterator<Item = &'a [u8]>,
) -> Option<(&'static str, String)> {
    let (name, mut h) = match mode {
        ChecksumMode::None => return None,
        ChecksumMode::Crc32 => (
            "x-amz-checksum-crc32",
            Hasher::crc(CrcAlgorithm::Crc32IsoHdlc, 4),
        ),
        ChecksumMode::Crc32c => (
            "x-amz-checksum-crc32c",
            Hasher::crc(CrcAlgorithm::Crc32Iscsi, 4),
        ),
        ChecksumMode::Crc64Nvme => (
            "x-amz-checksum-crc64nvme",
            Hasher::crc(CrcAlgorithm::Crc64Nvme, 8),
        ),
        ChecksumMode::Sha256 => ("x-amz-checksum-sha256", Hasher::Sha256(Sha256::new())),
    };
    for c in body {
        h.update(c);
    }
    let (v, n) = h.finish();
    Some((name, STANDARD.encode(&v[..n])))
}

/// Whole-object GETs of one target (all threads) with `[client] checksum`
/// set: how many came with a checksum the client checked, and how many
/// without one (a server that does not return them), so a report never
/// claims a check that did not happen.
#[derive(Debug, Default)]
pub struct BodyChecks {
    pub checked: std::sync::atomic::AtomicU64,
    pub unchecked: std::sync::atomic::AtomicU64,
}

impl BodyChecks {
    pub fn count(&self, checked: bool) {
        let c = if checked {
            &self.checked
        } else {
            &self.unchecked
        };
        c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// (checked, unchecked) so far.
    pub fn get(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.checked.load(Relaxed), self.unchecked.load(Relaxed))
    }
}

/// The key a response whose body does not match its checksum is counted
/// under, on both request paths.
pub const MISMATCH: &str = "body: checksum mismatch";

/// Response headers a body may be checked against, in aws-sdk-s3's order
/// of preference (the cheapest first).
const RESPONSE_CHECKSUMS: [&str; 5] = [
    "x-amz-checksum-crc64nvme",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc32",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
];

/// Checks a response body against the `x-amz-checksum-*` header it came
/// with (download validation, as aws-sdk-s3 does under
/// `response_checksum_validation = when_supported`).
pub struct BodyCheck {
    hasher: Hasher,
    expected: Vec<u8>,
}

impl BodyCheck {
    /// The check for a response, or None when it carries no checksum a
    /// client can verify: none at all (a byte range), one that does not
    /// decode, or a part-level one of a multipart object (`<base64>-<parts>`,
    /// `x-amz-checksum-type: COMPOSITE`), which the SDK skips too.
    pub fn from_headers(h: &http::HeaderMap) -> Option<BodyCheck> {
        BodyCheck::from_lookup(|n| h.get(n).map(http::HeaderValue::as_bytes))
    }

    /// [`from_headers`](Self::from_headers) over any header lookup (the
    /// direct path's parsed response head); `get` takes a lowercase name.
    pub fn from_lookup<'a>(get: impl Fn(&str) -> Option<&'a [u8]>) -> Option<BodyCheck> {
        if get("x-amz-checksum-type").is_some_and(|t| t.eq_ignore_ascii_case(b"COMPOSITE")) {
            return None;
        }
        let (name, value) = RESPONSE_CHECKSUMS
            .iter()
            .find_map(|n| get(n).map(|v| (*n, v)))?;
        let value = std::str::from_utf8(value).ok()?;
        let expected = STANDARD.decode(value.trim()).ok()?;
        let hasher = match name {
            "x-amz-checksum-crc64nvme" => Hasher::crc(CrcAlgorithm::Crc64Nvme, 8),
            "x-amz-checksum-crc32c" => Hasher::crc(CrcAlgorithm::Crc32Iscsi, 4),
            "x-amz-checksum-crc32" => Hasher::crc(CrcAlgorithm::Crc32IsoHdlc, 4),
            "x-amz-checksum-sha1" => Hasher::Sha1(sha1::Sha1::new()),
            _ => Hasher::Sha256(Sha256::new()),
        };
        Some(BodyCheck { hasher, expected })
    }

    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    /// Whether the body matched.
    pub fn matches(self) -> bool {
        let (v, n) = self.hasher.finish();
        v[..n] == self.expected[..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published check values of each algorithm for "123456789", and
    /// chunking does not change the result.
    #[test]
    fn checksums_match_their_check_values() {
        let b64 = |v: &[u8]| STANDARD.encode(v);
        let cases = [
            (ChecksumMode::Crc32, b64(&0xCBF4_3926u32.to_be_bytes())),
            (ChecksumMode::Crc32c, b64(&0xE306_9283u32.to_be_bytes())),
            (
                ChecksumMode::Crc64Nvme,
                b64(&0xAE8B_1486_0A79_9888u64.to_be_bytes()),
            ),
            (ChecksumMode::Sha256, b64(&Sha256::digest(b"123456789")[..])),
        ];
        for (mode, want) in cases {
            let one = upload_checksum(mode, [&b"123456789"[..]]).unwrap();
            let split = upload_checksum(mode, [&b"1234"[..], &b"56789"[..]]).unwrap();
            assert_eq!(one.1, want, "{mode:?}");
            assert_eq!(split, one);
            assert_eq!(one.0, format!("x-amz-checksum-{}", mode.name()));
        }
        assert_eq!(upload_checksum(ChecksumMode::None, [&b"x"[..]]), None);
    }

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| (http::HeaderName::from_static(n), v.parse().unwrap()))
            .collect()
    }

    /// What an upload sends, a download checks: each algorithm's value
    /// verifies the body, a one-bit change fails it, and the SDK's choice
    /// among several headers is followed.
    #[test]
    fn body_check_verifies_what_upload_checksum_computes() {
        let body = b"the quick brown fox".to_vec();
        let mut flipped = body.clone();
        flipped[7] ^= 1;
        let check = |h: &http::HeaderMap, b: &[u8]| {
            let mut c = BodyCheck::from_headers(h).expect("a checksum header");
            c.update(&b[..3]);
            c.update(&b[3..]);
            c.matches()
        };
        for mode in [
            ChecksumMode::Crc32,
            ChecksumMode::Crc32c,
            ChecksumMode::Crc64Nvme,
            ChecksumMode::Sha256,
        ] {
            let (name, value) = upload_checksum(mode, [&body[..]]).unwrap();
            let h = headers(&[(name, &value)]);
            assert!(check(&h, &body), "{mode:?}");
            assert!(!check(&h, &flipped), "{mode:?} missed a flipped bit");
        }
        let sha1 = STANDARD.encode(sha1::Sha1::digest(&body));
        assert!(check(&headers(&[("x-amz-checksum-sha1", &sha1)]), &body));
        // CRC64NVME is preferred over a (here wrong) SHA-256.
        let (_, crc64) = upload_checksum(ChecksumMode::Crc64Nvme, [&body[..]]).unwrap();
        let h = headers(&[
            ("x-amz-checksum-sha256", "AAAA"),
            ("x-amz-checksum-crc64nvme", &crc64),
        ]);
        assert!(check(&h, &body));
        // Nothing to check: no header, a part-level value, bad base64.
        assert!(BodyCheck::from_headers(&headers(&[])).is_none());
        assert!(
            BodyCheck::from_headers(&headers(&[("x-amz-checksum-crc32", "AAAAAA==-3")])).is_none()
        );
        assert!(BodyCheck::from_headers(&headers(&[("x-amz-checksum-crc32", "%%")])).is_none());
        let composite = [
            ("x-amz-checksum-crc32c", crc64.as_str()),
            ("x-amz-checksum-type", "COMPOSITE"),
        ];
        assert!(BodyCheck::from_headers(&headers(&composite)).is_none());
    }
}
