//! Decoder for `Content-Encoding: aws-chunked` request bodies.
//!
//! Framing: `hex-size[;chunk-signature=sig]\r\n <size bytes> \r\n`, repeated,
//! then a zero-size chunk, optional trailer lines `name:value\r\n`, and an
//! empty line. Data is handed out as zero-copy slices of the incoming frames.
//! Chunk signatures are not verified (the seed signature of the request is);
//! trailing checksums are returned to the caller, which verifies them.

use bytes::Bytes;

/// Longest size or trailer line accepted; real ones are under 200 bytes.
const MAX_LINE: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ChunkedError {
    #[error("the aws-chunked body has a malformed chunk header")]
    BadHeader,
    #[error("an aws-chunked data chunk is not followed by CRLF")]
    MissingCrlf,
    #[error("an aws-chunked line is longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("the aws-chunked body ended before its final chunk")]
    Truncated,
    #[error("data follows the end of the aws-chunked body")]
    TrailingData,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    SizeLine,
    Data(u64),
    DataCr,
    DataLf,
    Trailers,
    Done,
}

#[derive(Debug)]
pub(crate) struct ChunkedDecoder {
    state: State,
    line: Vec<u8>,
    trailers: Vec<(String, String)>,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: State::SizeLine,
            line: Vec::new(),
            trailers: Vec::new(),
        }
    }
}

impl ChunkedDecoder {
    /// Consumes one frame of the encoded body, appending decoded data to `out`.
    pub(crate) fn feed(
        &mut self,
        mut input: Bytes,
        out: &mut Vec<Bytes>,
    ) -> Result<(), ChunkedError> {
        while !input.is_empty() {
            match self.state {
                State::SizeLine | State::Trailers => {
                    let Some(nl) = input.iter().position(|&b| b == b'\n') else {
                        self.push_line(&input)?;
                        return Ok(());
                    };
                    self.push_line(&input[..=nl])?;
                    let _ = input.split_to(nl + 1);
                    let line = std::mem::take(&mut self.line);
                    let line = line.strip_suffix(b"\r\n").ok_or(ChunkedError::BadHeader)?;
                    if self.state == State::SizeLine {
                        self.state = match parse_size(line)? {
                            0 => State::Trailers,
                            n => State::Data(n),
                        };
                    } else if line.is_empty() {
                        self.state = State::Done;
                    } else {
                        self.push_trailer(line)?;
                    }
                }
                State::Data(remaining) => {
                    let take = remaining.min(input.len() as u64) as usize;
                    out.push(input.split_to(take));
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data(left)
                    };
                }
                State::DataCr => {
                    if input[0] != b'\r' {
                        return Err(ChunkedError::MissingCrlf);
                    }
                    let _ = input.split_to(1);
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if input[0] != b'\n' {
                        return Err(ChunkedError::MissingCrlf);
                    }
                    let _ = input.split_to(1);
                    self.state = State::SizeLine;
                }
                State::Done => return Err(ChunkedError::TrailingData),
            }
        }
        Ok(())
    }

    /// Checks that the body ended cleanly and returns its trailers
    /// (lowercase names, trimmed values).
    pub(crate) fn finish(self) -> Result<Vec<(String, String)>, ChunkedError> {
        match self.state {
            State::Done => Ok(self.trailers),
            // Some encoders end right after the zero-size chunk's line.
            State::Trailers if self.line.is_empty() => Ok(self.trailers),
            _ => Err(ChunkedError::Truncated),
        }
    }

    fn push_line(&mut self, part: &[u8]) -> Result<(), ChunkedError> {
        if self.line.len() + part.len() > MAX_LINE {
            return Err(ChunkedError::LineTooLong);
        }
        self.line.extend_from_slice(part);
        Ok(())
    }

    fn push_trailer(&mut self, line: &[u8]) -> Result<(), ChunkedError> {
        let text = std::str::from_utf8(line).map_err(|_| ChunkedError::BadHeader)?;
        let (name, value) = text.split_once(':').ok_or(ChunkedError::BadHeader)?;
        if self.trailers.len() >= 16 {
            return Err(ChunkedError::BadHeader);
        }
        self.trailers
            .push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        Ok(())
    }
}

fn parse_size(line: &[u8]) -> Result<u64, ChunkedError> {
    let hex = match line.iter().position(|&b| b == b';') {
        Some(i) => &line[..i],
        None => line,
    };
    let hex = std::str::from_utf8(hex)
        .map_err(|_| ChunkedError::BadHeader)?
        .trim();
    if hex.is_empty() || hex.len() > 15 {
        return Err(ChunkedError::BadHeader);
    }
    u64::from_str_radix(hex, 16).map_err(|_| ChunkedError::BadHeader)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(data: &[u8], chunk: usize, signed: bool, trailer: Option<&str>) -> Vec<u8> {
        let sig = |s: &mut Vec<u8>| {
            if signed {
                s.extend_from_slice(b";chunk-signature=");
                s.extend_from_slice(&[b'a'; 64]);
            }
        };
        let mut out = Vec::new();
        for c in data.chunks(chunk) {
            out.extend_from_slice(format!("{:x}", c.len()).as_bytes());
            sig(&mut out);
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(c);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0");
        sig(&mut out);
        out.extend_from_slice(b"\r\n");
        if let Some(t) = trailer {
            out.extend_from_slice(t.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    type Decoded = (Vec<u8>, Vec<(String, String)>);

    fn decode_split(encoded: &[u8], split: usize) -> Result<Decoded, ChunkedError> {
        let mut d = ChunkedDecoder::default();
        let mut out = Vec::new();
        for piece in encoded.chunks(split.max(1)) {
            d.feed(Bytes::copy_from_slice(piece), &mut out)?;
        }
        let trailers = d.finish()?;
        Ok((out.concat(), trailers))
    }

    #[test]
    fn decodes_every_framing_at_every_split() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
        for (signed, trailer) in [
            (false, None),
            (true, None),
            (false, Some("x-amz-checksum-crc32:AAAAAA==")),
            (true, Some("x-amz-checksum-crc32:AAAAAA==")),
        ] {
            let enc = encode(&data, 64, signed, trailer);
            for split in 1..40 {
                let (got, trailers) = decode_split(&enc, split).unwrap();
                assert_eq!(got, data, "signed={signed} split={split}");
                assert_eq!(trailers.len(), usize::from(trailer.is_some()));
                if trailer.is_some() {
                    assert_eq!(
                        trailers[0],
                        ("x-amz-checksum-crc32".into(), "AAAAAA==".into())
                    );
                }
            }
        }
    }

    #[test]
    fn rejects_broken_bodies() {
        let data = b"hello world";
        let enc = encode(data, 4, false, None);
        // Truncated anywhere before the final chunk.
        for cut in 0..enc.len() - 3 {
            assert!(decode_split(&enc[..cut], 5).is_err(), "cut {cut}");
        }
        assert_eq!(
            decode_split(b"zz\r\nab\r\n", 3),
            Err(ChunkedError::BadHeader)
        );
        assert_eq!(
            decode_split(b"2\r\nabXX0\r\n\r\n", 3),
            Err(ChunkedError::MissingCrlf)
        );
        let mut extra = enc.clone();
        extra.extend_from_slice(b"junk");
        assert_eq!(decode_split(&extra, 100), Err(ChunkedError::TrailingData));
        let long = vec![b'1'; MAX_LINE + 10];
        assert_eq!(decode_split(&long, 100), Err(ChunkedError::LineTooLong));
    }
}
