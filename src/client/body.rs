//! PUT bodies from the shared synthetic pattern: no allocation or copy per
//! request, whatever the object size.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::synthetic;

/// Bodies at or below this size go in memory: the SDK then signs their
/// SHA-256 like any small upload. Larger ones stream, which the SDK signs as
/// UNSIGNED-PAYLOAD, so the client does not spend milliseconds hashing
/// megabytes it is supposed to be timing.
const IN_MEMORY_MAX: u64 = 64 * 1024;

/// A body of `len` bytes of the synthetic pattern starting at offset 0;
/// retryable (rebuilt on each attempt).
pub fn synthetic_body(len: u64) -> ByteStream {
    if len <= IN_MEMORY_MAX {
        return ByteStream::from(synthetic::window(0, len as usize));
    }
    ByteStream::new(SdkBody::retryable(move || {
        SdkBody::from_body_1_x(SyntheticBody::new(len))
    }))
}

/// `len` bytes of the synthetic pattern from offset 0, one zero-copy
/// chunk (at most one pattern period) at a time.
#[derive(Clone)]
pub(crate) struct SyntheticBody {
    pos: u64,
    end: u64,
}

impl SyntheticBody {
    pub(crate) fn new(len: u64) -> SyntheticBody {
        SyntheticBody { pos: 0, end: len }
    }

    pub(crate) fn remaining(&self) -> u64 {
        self.end - self.pos
    }

    pub(crate) fn next_chunk(&mut self) -> Option<Bytes> {
        if self.pos >= self.end {
            return None;
        }
        let phase = self.pos % synthetic::PERIOD as u64;
        let n = (synthetic::PERIOD as u64 - phase).min(self.end - self.pos);
        let chunk = synthetic::window(self.pos, n as usize);
        self.pos += n;
        Some(chunk)
    }
}

impl http_body::Body for SyntheticBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.next_chunk().map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.pos >= self.end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining())
    }
}
