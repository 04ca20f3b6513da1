//! Deterministic synthetic object content.
//!
//! s3bench's PUT bodies are slices of one fixed, pseudo-random pattern. A
//! stored object (or multipart part) is the pattern repeated from offset 0,
//! so the embedded endpoint can recognise such a body while it streams in and
//! keep only its length: a 100 GiB data set costs no memory. The pattern is
//! random-looking so compression anywhere on the path cannot flatter the
//! numbers.

use std::sync::OnceLock;

use bytes::Bytes;

/// Length of one period of the pattern (1 MiB).
pub const PERIOD: usize = 1 << 20;

/// Two periods back to back, so any window of up to `PERIOD` bytes starting
/// at any phase is one contiguous slice (no copy per request).
fn doubled() -> &'static Bytes {
    static PATTERN: OnceLock<Bytes> = OnceLock::new();
    PATTERN.get_or_init(|| {
        let mut v = vec![0u8; 2 * PERIOD];
        // xorshift64*: fast, fixed seed, identical in client and server.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for chunk in v[..PERIOD].chunks_mut(8) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        let (a, b) = v.split_at_mut(PERIOD);
        b.copy_from_slice(a);
        Bytes::from(v)
    })
}

/// The pattern's bytes for object offsets `[offset, offset + len)`, with
/// `len <= PERIOD`. Zero-copy: a slice of the shared buffer.
pub fn window(offset: u64, len: usize) -> Bytes {
    assert!(len <= PERIOD, "window longer than one period");
    let phase = (offset % PERIOD as u64) as usize;
    doubled().slice(phase..phase + len)
}

/// Splits object bytes `[offset, offset + len)` into zero-copy chunks of at
/// most `PERIOD` bytes, each a window of the pattern.
pub fn chunks(offset: u64, len: u64) -> impl Iterator<Item = Bytes> {
    let end = offset + len;
    let mut pos = offset;
    std::iter::from_fn(move || {
        if pos >= end {
            return None;
        }
        let phase = pos % PERIOD as u64;
        let n = (PERIOD as u64 - phase).min(end - pos);
        let w = window(pos, n as usize);
        pos += n;
        Some(w)
    })
}

/// True when `data`, found at object offset `offset`, equals the pattern there.
pub fn matches(offset: u64, data: &[u8]) -> bool {
    let mut pos = offset;
    let mut rest = data;
    while !rest.is_empty() {
        let phase = (pos % PERIOD as u64) as usize;
        let n = (PERIOD - phase).min(rest.len());
        if doubled()[phase..phase + n] != rest[..n] {
            return false;
        }
        pos += n as u64;
        rest = &rest[n..];
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_range_and_match() {
        let total: Vec<u8> = chunks(PERIOD as u64 - 10, 30).flatten().collect();
        assert_eq!(total.len(), 30);
        assert!(matches(PERIOD as u64 - 10, &total));
        assert!(!matches(PERIOD as u64 - 9, &total));
        let big: u64 = chunks(0, 3 * PERIOD as u64 + 5)
            .map(|c| c.len() as u64)
            .sum();
        assert_eq!(big, 3 * PERIOD as u64 + 5);
    }

    #[test]
    fn pattern_is_not_trivially_compressible() {
        let w = window(0, 4096);
        let distinct = w.iter().collect::<std::collections::HashSet<_>>().len();
        assert!(distinct > 200);
    }
}
