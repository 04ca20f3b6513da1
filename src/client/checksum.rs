//! Upload checksums computed by s3bench itself (the direct request path
//! and the checksum benchmark): the `x-amz-checksum-*` header S3 verifies,
//! over the body as it will be sent. Computed on every request, never
//! cached, so a scenario pays (and measures) what a real client pays.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use sha2::{Digest as _, Sha256};

use crate::scenario::ChecksumMode;

/// The header name and its base64 value for `body` (given in chunks);
/// None for [`ChecksumMode::None`].
pub fn upload_checksum<'a>(
    mode: ChecksumMode,
    body: impl IntoIterator<Item = &'a [u8]>,
) -> Option<(&'static str, String)> {
    let crc = |alg: CrcAlgorithm, body: &mut dyn Iterator<Item = &'a [u8]>| {
        let mut d = CrcDigest::new(alg);
        for c in body {
            d.update(c);
        }
        d.finalize()
    };
    let mut body = body.into_iter();
    // S3 checksums are the big-endian bytes of the CRC, base64.
    Some(match mode {
        ChecksumMode::None => return None,
        ChecksumMode::Crc32 => (
            "x-amz-checksum-crc32",
            STANDARD.encode((crc(CrcAlgorithm::Crc32IsoHdlc, &mut body) as u32).to_be_bytes()),
        ),
        ChecksumMode::Crc32c => (
            "x-amz-checksum-crc32c",
            STANDARD.encode((crc(CrcAlgorithm::Crc32Iscsi, &mut body) as u32).to_be_bytes()),
        ),
        ChecksumMode::Crc64Nvme => (
            "x-amz-checksum-crc64nvme",
            STANDARD.encode(crc(CrcAlgorithm::Crc64Nvme, &mut body).to_be_bytes()),
        ),
        ChecksumMode::Sha256 => {
            let mut h = Sha256::new();
            for c in body {
                h.update(c);
            }
            ("x-amz-checksum-sha256", STANDARD.encode(h.finalize()))
        }
    })
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
}
