//! Histogram <-> text, for the JSON result: HdrHistogram's standard V2 +
//! DEFLATE encoding, base64. Lossless, so shards merge exactly.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

/// Encodes a histogram as base64 of V2 + DEFLATE.
pub fn encode(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut buf)
        .expect("serializing into a Vec cannot fail");
    STANDARD.encode(buf)
}

/// Decodes what `encode` wrote.
pub fn decode(s: &str) -> anyhow::Result<Histogram<u64>> {
    let raw = STANDARD.decode(s.trim())?;
    let mut h: Histogram<u64> = Deserializer::new().deserialize(&mut raw.as_slice())?;
    h.auto(true);
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_lossless() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for v in [1u64, 999, 1_000_000, 123_456_789] {
            h.record(v).unwrap();
        }
        let back = decode(&encode(&h)).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.len(), 4);
    }
}
