//! Receiving a request body: synthetic detection, digests, checksums.
//!
//! While a body matches the synthetic pattern, nothing is copied or hashed:
//! only compared. If it matches to the end, the object is stored as one
//! synthetic segment and its digests come from a per-length cache (one MD5
//! of 64 MiB costs ~100 ms of CPU, paid once per distinct size instead of
//! once per PUT). The first mismatching chunk switches to real mode: the
//! hashers catch up over the matched prefix and the bytes are kept.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{Bytes, BytesMut};
use md5::Md5;
use sha2::{Digest as _, Sha256};

use super::error::S3Error;
use super::store::Segment;
use crate::synthetic;

/// Digest algorithms a body may be checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Alg {
    Md5,
    Sha256,
    Sha1,
    Crc32,
    Crc32c,
    Crc64Nvme,
}

impl Alg {
    /// The algorithm named by an `x-amz-checksum-*` header or trailer.
    pub(crate) fn from_checksum_header(name: &str) -> Option<Alg> {
        Some(match name.strip_prefix("x-amz-checksum-")? {
            "crc32" => Alg::Crc32,
            "crc32c" => Alg::Crc32c,
            "crc64nvme" => Alg::Crc64Nvme,
            "sha1" => Alg::Sha1,
            "sha256" => Alg::Sha256,
            _ => return None,
        })
    }

    /// The lowercase name S3 uses in messages (`crc32c`, `sha1`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Alg::Md5 => "md5",
            Alg::Sha256 => "sha256",
            Alg::Sha1 => "sha1",
            Alg::Crc32 => "crc32",
            Alg::Crc32c => "crc32c",
            Alg::Crc64Nvme => "crc64nvme",
        }
    }

    /// The `x-amz-checksum-*` header carrying this algorithm's value.
    pub(crate) fn header(self) -> &'static str {
        match self {
            Alg::Md5 => "content-md5",
            Alg::Sha256 => "x-amz-checksum-sha256",
            Alg::Sha1 => "x-amz-checksum-sha1",
            Alg::Crc32 => "x-amz-checksum-crc32",
            Alg::Crc32c => "x-amz-checksum-crc32c",
            Alg::Crc64Nvme => "x-amz-checksum-crc64nvme",
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Alg::Md5 => "Content-MD5",
            Alg::Sha256 => "SHA256",
            Alg::Sha1 => "SHA1",
            Alg::Crc32 => "CRC32",
            Alg::Crc32c => "CRC32C",
            Alg::Crc64Nvme => "CRC64NVME",
        }
    }
}

enum Hasher {
    Md5(Md5),
    Sha256(Sha256),
    Sha1(sha1::Sha1),
    Crc(crc_fast::Digest, usize),
}

impl Hasher {
    fn new(alg: Alg) -> Hasher {
        use crc_fast::CrcAlgorithm as C;
        match alg {
            Alg::Md5 => Hasher::Md5(Md5::new()),
            Alg::Sha256 => Hasher::Sha256(Sha256::new()),
            Alg::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            Alg::Crc32 => Hasher::Crc(crc_fast::Digest::new(C::Crc32IsoHdlc), 4),
            Alg::Crc32c => Hasher::Crc(crc_fast::Digest::new(C::Crc32Iscsi), 4),
            Alg::Crc64Nvme => Hasher::Crc(crc_fast::Digest::new(C::Crc64Nvme), 8),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Crc(h, _) => h.update(data),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Md5(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            // S3 checksums are the big-endian bytes of the CRC.
            Hasher::Crc(h, width) => h.finalize().to_be_bytes()[8 - width..].to_vec(),
        }
    }
}

/// Digest of arbitrary segments (used for copies and multipart parts).
pub(crate) fn digest_segments(alg: Alg, segments: &[Segment]) -> Vec<u8> {
    if let [Segment::Synthetic { offset: 0, len }] = segments {
        return synthetic_digest(alg, *len);
    }
    let mut h = Hasher::new(alg);
    let total = segments.iter().map(Segment::len).sum();
    for c in super::store::SegmentChunks::new(segments.to_vec().into(), 0, total) {
        h.update(&c);
    }
    h.finish()
}

/// Digest of the synthetic pattern's first `len` bytes, cached per length.
pub(crate) fn synthetic_digest(alg: Alg, len: u64) -> Vec<u8> {
    type Cache = Mutex<HashMap<(Alg, u64), Vec<u8>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    if let Some(d) = cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&(alg, len))
    {
        return d.clone();
    }
    // Computed outside the lock: two first requests for one size may both
    // compute it, which is cheaper than serialising every PUT behind it.
    let mut h = Hasher::new(alg);
    for c in synthetic::chunks(0, len) {
        h.update(&c);
    }
    let d = h.finish();
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= 4096 {
        map.clear();
    }
    map.insert((alg, len), d.clone());
    d
}

/// One expected digest and where the client put it.
#[derive(Debug, Clone)]
pub(crate) struct Expectation {
    pub alg: Alg,
    /// `None` while the value is still to come in a trailer.
    pub value: Option<Vec<u8>>,
    pub source: String,
}

/// A body being received.
pub(crate) struct Ingest {
    algs: Vec<Alg>,
    synthetic: bool,
    matched: u64,
    real: BytesMut,
    hashers: Vec<(Alg, Hasher)>,
    total: u64,
    hint: u64,
}

/// A received body.
pub(crate) struct Ingested {
    pub segments: Vec<Segment>,
    pub len: u64,
    digests: Vec<(Alg, Vec<u8>)>,
    /// The `x-amz-checksum-*` algorithm the client sent and that was
    /// verified (set by the request layer).
    pub checksum: Option<Alg>,
}

impl Ingested {
    pub(crate) fn digest(&self, alg: Alg) -> Option<&[u8]> {
        self.digests
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, d)| d.as_slice())
    }

    /// The body as one contiguous buffer (for XML bodies, which are small).
    pub(crate) fn to_bytes(&self) -> Bytes {
        if let [Segment::Bytes(b)] = self.segments.as_slice() {
            return b.clone();
        }
        let mut v = BytesMut::with_capacity(self.len as usize);
        for c in super::store::SegmentChunks::new(self.segments.clone().into(), 0, self.len) {
            v.extend_from_slice(&c);
        }
        v.freeze()
    }

    /// Checks every expectation (the trailer values filled in by now).
    pub(crate) fn verify(&self, expectations: &[Expectation]) -> Result<(), S3Error> {
        for e in expectations {
            let Some(want) = &e.value else { continue };
            let Some(got) = self.digest(e.alg) else {
                continue;
            };
            if got != want.as_slice() {
                return Err(match (e.alg, e.source.as_str()) {
                    (Alg::Sha256, "x-amz-content-sha256") => S3Error::new(
                        400,
                        "XAmzContentSHA256Mismatch",
                        "The provided 'x-amz-content-sha256' header does not match what was computed.",
                    ),
                    (Alg::Md5, _) => S3Error::new(
                        400,
                        "BadDigest",
                        "The Content-MD5 you specified did not match what we received.",
                    ),
                    (alg, _) => S3Error::new(
                        400,
                        "BadDigest",
                        format!(
                            "The {} you specified did not match the calculated checksum.",
                            alg.label()
                        ),
                    ),
                });
            }
        }
        Ok(())
    }
}

/// Largest buffer reserved up front from a client's Content-Length.
const MAX_RESERVE: usize = 64 * 1024 * 1024;

impl Ingest {
    /// `size_hint` (the declared length) sizes the buffer once a body turns
    /// out not to be synthetic; synthetic bodies allocate nothing.
    pub(crate) fn new(algs: Vec<Alg>, size_hint: u64) -> Ingest {
        Ingest {
            algs,
            synthetic: true,
            matched: 0,
            real: BytesMut::new(),
            hashers: Vec::new(),
            total: 0,
            hint: size_hint,
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.total
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        if self.synthetic {
            if synthetic::matches(self.matched, chunk) {
                self.matched += chunk.len() as u64;
                return;
            }
            self.synthetic = false;
            self.hashers = self.algs.iter().map(|&a| (a, Hasher::new(a))).collect();
            for c in synthetic::chunks(0, self.matched) {
                for (_, h) in &mut self.hashers {
                    h.update(&c);
                }
            }
            let rest = self
                .hint
                .saturating_sub(self.matched)
                .min(MAX_RESERVE as u64);
            self.real.reserve(rest as usize);
        }
        for (_, h) in &mut self.hashers {
            h.update(chunk);
        }
        self.real.extend_from_slice(chunk);
    }

    pub(crate) fn finish(self) -> Ingested {
        let mut segments = Vec::with_capacity(2);
        if self.matched > 0 {
            segments.push(Segment::Synthetic {
                offset: 0,
                len: self.matched,
            });
        }
        let digests = if self.synthetic {
            self.algs
                .iter()
                .map(|&a| (a, synthetic_digest(a, self.matched)))
                .collect()
        } else {
            segments.push(Segment::Bytes(self.real.freeze()));
            self.hashers
                .into_iter()
                .map(|(a, h)| (a, h.finish()))
                .collect()
        };
        Ingested {
            segments,
            len: self.total,
            digests,
            checksum: None,
        }
    }
}

/// Decodes a base64 checksum header value.
pub(crate) fn decode_b64(value: &str) -> Option<Vec<u8>> {
    STANDARD.decode(value.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ingest(chunks: &[&[u8]], algs: Vec<Alg>) -> Ingested {
        let total = chunks.iter().map(|c| c.len() as u64).sum();
        let mut i = Ingest::new(algs, total);
        for c in chunks {
            i.push(c);
        }
        i.finish()
    }

    #[test]
    fn synthetic_bodies_cost_no_memory_and_digest_correctly() {
        let body: Vec<u8> = synthetic::chunks(0, 3 * 65536).flatten().collect();
        let parts: Vec<&[u8]> = body.chunks(65536).collect();
        let got = ingest(&parts, vec![Alg::Md5, Alg::Crc32]);
        assert_eq!(
            got.segments,
            vec![Segment::Synthetic {
                offset: 0,
                len: 3 * 65536
            }]
        );
        assert_eq!(got.digest(Alg::Md5).unwrap(), Md5::digest(&body).as_slice());
        assert_eq!(
            got.digest(Alg::Crc32).unwrap(),
            crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, &body).to_be_bytes()[4..]
                .to_vec()
        );
    }

    #[test]
    fn a_body_that_diverges_keeps_its_prefix_synthetic_and_its_digests_exact() {
        let mut body: Vec<u8> = synthetic::chunks(0, 200_000).flatten().collect();
        body[150_000] ^= 0xff;
        let parts: Vec<&[u8]> = body.chunks(65536).collect();
        let got = ingest(
            &parts,
            vec![Alg::Sha256, Alg::Crc32c, Alg::Crc64Nvme, Alg::Sha1],
        );
        assert_eq!(
            got.segments[0],
            Segment::Synthetic {
                offset: 0,
                len: 131072
            }
        );
        assert_eq!(got.to_bytes(), body);
        assert_eq!(
            got.digest(Alg::Sha256).unwrap(),
            Sha256::digest(&body).as_slice()
        );
        let crc64 = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, &body);
        assert_eq!(got.digest(Alg::Crc64Nvme).unwrap(), crc64.to_be_bytes());
    }

    #[test]
    fn mismatching_expectations_fail_with_s3_codes() {
        let got = ingest(&[b"hello"], vec![Alg::Md5, Alg::Crc32]);
        let md5_ok = Expectation {
            alg: Alg::Md5,
            value: Some(Md5::digest(b"hello").to_vec()),
            source: "content-md5".into(),
        };
        assert!(got.verify(std::slice::from_ref(&md5_ok)).is_ok());
        let crc_bad = Expectation {
            alg: Alg::Crc32,
            value: Some(vec![0, 0, 0, 0]),
            source: "x-amz-checksum-crc32".into(),
        };
        assert_eq!(
            got.verify(&[md5_ok, crc_bad]).unwrap_err().code,
            "BadDigest"
        );
        let empty = ingest(&[], vec![Alg::Md5]);
        assert!(empty.segments.is_empty());
        assert_eq!(empty.digest(Alg::Md5).unwrap(), Md5::digest(b"").as_slice());
    }
}
