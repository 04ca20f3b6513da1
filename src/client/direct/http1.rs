//! The direct path's HTTP/1.1: one request at a time on a connection the
//! engine thread owns, its head written in one piece with the body, its
//! response read through one read buffer that all of the thread's
//! connections to the target share and handed to the caller slice by slice.
//!
//! Until issue 28 the direct path sent through hyper's client connection,
//! which keeps per connection an 8 KiB header buffer, an 8 KiB read buffer,
//! its request channel's first block (32 slots the size of an
//! `http::Request`, about 9 KiB) and a task of its own (about 3.7 KiB):
//! about 29 KiB a connection, idle or not, whatever the object size, which
//! at 10,000 in flight was 290 MiB of the client's 550 (heaptrack,
//! `bench/get-4k-10k.toml`). Here an idle connection is its socket. The
//! read buffer can be shared because a read and the handling of what it
//! read happen in one poll of the reading task: nothing else on the thread
//! runs in between, and no byte of a response stays in it across an await.
//! It also skips what these requests do not need: a header map per
//! response, a channel and a second task per request.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use hyper_rustls::MaybeHttpsStream;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::super::body::SyntheticBody;

/// Size of the read buffer a thread's connections to one target share:
/// a 4 KiB GET's response in one read, a large one in 256 KiB reads (what
/// hyper's adaptive buffer grew to on a 64 MiB GET, within a factor of two).
pub(super) const READ_BUF: usize = 256 * 1024;

/// A response head longer than this is refused (S3's are under 2 KiB).
const MAX_HEAD: usize = 64 * 1024;

/// Headers parsed per response head; S3 sends about a dozen.
const MAX_HEADERS: usize = 64;

/// The read buffer of a thread's connections to one target.
pub(super) struct ReadBuffer(RefCell<Box<[u8]>>);

impl ReadBuffer {
    pub(super) fn new() -> ReadBuffer {
        // Zeroed by the allocator (pages mapped on first touch): a 4 KiB
        // workload touches one or two of them.
        ReadBuffer(RefCell::new(vec![0u8; READ_BUF].into_boxed_slice()))
    }
}

type TlsIo = TlsStream<TokioIo<TokioIo<TcpStream>>>;

/// One connection: plain TCP or TLS (as the connector made it).
pub(super) enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsIo>),
}

/// A request body: none, one in-memory chunk, or the synthetic pattern
/// streamed without copying. Cloning is cheap (a refcount or two offsets):
/// a request a pooled connection could not take is sent again on a new one.
#[derive(Clone)]
pub(crate) enum Body {
    Empty,
    Bytes(Bytes),
    Synthetic(SyntheticBody),
}

impl Body {
    /// The Content-Length to send (None: no body, no header).
    pub(super) fn len(&self) -> Option<u64> {
        match self {
            Body::Empty => None,
            Body::Bytes(b) => Some(b.len() as u64),
            Body::Synthetic(s) => Some(s.remaining()),
        }
    }

    fn next_chunk(&mut self) -> Option<Bytes> {
        match self {
            Body::Empty => None,
            Body::Bytes(b) => Some(std::mem::take(b)).filter(|b| !b.is_empty()),
            Body::Synthetic(s) => s.next_chunk(),
        }
    }
}

/// The status line and headers of a response, borrowed from the buffer.
pub(super) struct Head<'a> {
    pub status: u16,
    headers: &'a [httparse::Header<'a>],
}

impl Head<'_> {
    /// The first header named `name` (lowercase), if any.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
}

/// What reads a response: its head, then its body in order.
pub(super) trait Sink {
    fn head(&mut self, head: &Head<'_>);
    /// Body bytes; false stops reading (the connection is then closed).
    fn data(&mut self, data: &[u8]) -> bool;
}

/// Why an exchange failed.
#[derive(Debug)]
pub(super) enum Failed {
    /// The request could not be written: nothing of the response came.
    Write(io::Error),
    /// No complete response head came (closed, reset, malformed).
    Head(io::Error),
    /// The body ended early or its framing was broken.
    Body(io::Error),
}

/// Whether `v` can go on the wire as a header value: no control
/// characters (a CR or LF would end the header early).
pub(super) fn valid_value(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl Conn {
    pub(super) fn new(s: MaybeHttpsStream<TokioIo<TcpStream>>) -> Conn {
        match s {
            MaybeHttpsStream::Http(io) => Conn::Plain(io.into_inner()),
            MaybeHttpsStream::Https(io) => Conn::Tls(Box::new(io.into_inner())),
        }
    }

    /// Whether a pooled connection can take a request: nothing arrived on
    /// it while it sat idle (a server that closes an idle connection makes
    /// it readable with end-of-file). Costs no system call unless the
    /// socket is readable.
    pub(super) fn usable(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match self {
            Conn::Plain(s) => match s.poll_read_ready(&mut cx) {
                Poll::Pending => true,
                Poll::Ready(Err(_)) => false,
                // Readiness can outlive the data that set it: look.
                Poll::Ready(Ok(())) => {
                    matches!(s.try_read(&mut [0u8; 1]), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
                }
            },
            Conn::Tls(s) => {
                if s.get_ref()
                    .0
                    .inner()
                    .inner()
                    .poll_read_ready(&mut cx)
                    .is_pending()
                {
                    return true;
                }
                let mut b = [0u8; 1];
                let mut rb = ReadBuf::new(&mut b);
                Pin::new(&mut **s).poll_read(&mut cx, &mut rb).is_pending()
            }
        }
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }

    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    /// Sends one request (`head` ends with its blank line) and reads its
    /// response into `sink`. Ok(true): the connection may take another
    /// request.
    pub(super) async fn exchange(
        &mut self,
        head: &[u8],
        mut body: Body,
        head_request: bool,
        buf: &ReadBuffer,
        sink: &mut impl Sink,
    ) -> Result<bool, Failed> {
        self.write(head, &mut body).await.map_err(Failed::Write)?;
        let mut reader = Reader::new(head_request);
        loop {
            let n = poll_fn(|cx| {
                let mut b = buf.0.borrow_mut();
                let mut rb = ReadBuf::new(&mut b[..]);
                match self.poll_read(cx, &mut rb) {
                    Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await;
            let n = match n {
                Ok(n) => n,
                Err(e) => return Err(reader.fail(e)),
            };
            // Handled before the next await: see the module's comment.
            let b = buf.0.borrow();
            if let Some(reusable) = reader.feed(&b[..n], sink)? {
                return Ok(reusable);
            }
        }
    }

    /// Writes `head` and the body, gathering the head with the first
    /// body chunk so a small PUT is one system call.
    async fn write(&mut self, head: &[u8], body: &mut Body) -> io::Result<()> {
        let mut head_at = 0;
        let mut chunk = body.next_chunk().unwrap_or_default();
        let mut chunk_at = 0;
        loop {
            if chunk_at == chunk.len() {
                if head_at < head.len() {
                    chunk = Bytes::new();
                    chunk_at = 0;
                } else {
                    match body.next_chunk() {
                        Some(c) => (chunk, chunk_at) = (c, 0),
                        None => break,
                    }
                }
            }
            let n = poll_fn(|cx| {
                let bufs = [
                    IoSlice::new(&head[head_at..]),
                    IoSlice::new(&chunk[chunk_at..]),
                ];
                let from = usize::from(head_at == head.len());
                self.poll_write(cx, &bufs[from..])
            })
            .await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            let from_head = n.min(head.len() - head_at);
            head_at += from_head;
            chunk_at += n - from_head;
        }
        poll_fn(|cx| self.poll_flush(cx)).await
    }
}

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked(Chunked),
    /// Until the server closes the connection (no length, not chunked).
    Close,
}

/// Reads one response from the slices a connection's reads return.
struct Reader {
    head_request: bool,
    /// Head bytes of earlier reads while the head is incomplete (rare).
    partial: Vec<u8>,
    /// None while the head is being read.
    body: Option<Framing>,
    /// The response lets the connection carry another request.
    keep_alive: bool,
}

impl Reader {
    fn new(head_request: bool) -> Reader {
        Reader {
            head_request,
            partial: Vec::new(),
            body: None,
            keep_alive: true,
        }
    }

    fn fail(&self, e: io::Error) -> Failed {
        if self.body.is_some() {
            Failed::Body(e)
        } else {
            Failed::Head(e)
        }
    }

    /// Takes the bytes of one read (empty: end of file); Some(reusable)
    /// once the response is complete.
    fn feed(&mut self, data: &[u8], sink: &mut impl Sink) -> Result<Option<bool>, Failed> {
        if data.is_empty() {
            return match self.body {
                Some(Framing::Close) => Ok(Some(false)),
                Some(_) => Err(Failed::Body(io::ErrorKind::UnexpectedEof.into())),
                None => Err(Failed::Head(io::ErrorKind::UnexpectedEof.into())),
            };
        }
        if self.body.is_some() {
            return self.body_bytes(data, sink);
        }
        if self.partial.is_empty() {
            return self.head_bytes(data, sink);
        }
        let mut joined = std::mem::take(&mut self.partial);
        joined.extend_from_slice(data);
        self.head_bytes(&joined, sink)
    }

    /// Parses the head at the start of `data` (skipping interim 1xx
    /// responses), then feeds what follows it to the body.
    fn head_bytes(
        &mut self,
        mut data: &[u8],
        sink: &mut impl Sink,
    ) -> Result<Option<bool>, Failed> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            let len = match resp.parse(data) {
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) => {
                    if data.len() > MAX_HEAD {
                        return Err(Failed::Head(invalid("response head too long")));
                    }
                    self.partial.extend_from_slice(data);
                    return Ok(None);
                }
                Err(e) => return Err(Failed::Head(invalid(&format!("response head: {e}")))),
            };
            let status = resp.code.unwrap_or(0);
            if (100..200).contains(&status) && status != 101 {
                data = &data[len..];
                if data.is_empty() {
                    return Ok(None);
                }
                continue;
            }
            let head = Head {
                status,
                headers: resp.headers,
            };
            let framing = framing(&head, self.head_request).map_err(Failed::Head)?;
            self.keep_alive = keeps_alive(&head, resp.version == Some(1));
            sink.head(&head);
            self.body = Some(framing);
            return self.body_bytes(&data[len..], sink);
        }
    }

    /// Feeds body bytes; Some(reusable) once the body is complete (or
    /// the sink stopped it).
    fn body_bytes(&mut self, data: &[u8], sink: &mut impl Sink) -> Result<Option<bool>, Failed> {
        let Some(framing) = &mut self.body else {
            unreachable!("the head was read")
        };
        let (done, extra) = match framing {
            Framing::Length(left) => {
                let n = (*left).min(data.len() as u64) as usize;
                *left -= n as u64;
                if n > 0 && !sink.data(&data[..n]) {
                    return Ok(Some(false));
                }
                (*left == 0, data.len() > n)
            }
            Framing::Close => {
                if !data.is_empty() && !sink.data(data) {
                    return Ok(Some(false));
                }
                (false, false)
            }
            Framing::Chunked(c) => match c.decode(data, |d| sink.data(d)).map_err(Failed::Body)? {
                Decoded::More => (false, false),
                Decoded::End(used) => (true, used < data.len()),
                Decoded::Stopped => return Ok(Some(false)),
            },
        };
        // Bytes after the response's end: not a server to keep talking to.
        Ok(done.then_some(self.keep_alive && !extra))
    }
}

/// How the body of a response with this head is delimited.
fn framing(head: &Head<'_>, head_request: bool) -> io::Result<Framing> {
    if head_request || head.status == 204 || head.status == 304 {
        return Ok(Framing::Length(0));
    }
    if let Some(te) = head.get("transfer-encoding") {
        let last = te.rsplit(|&b| b == b',').next().unwrap_or(te);
        return if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            Ok(Framing::Chunked(Chunked::default()))
        } else {
            Ok(Framing::Close)
        };
    }
    match head.get("content-length") {
        Some(v) => std::str::from_utf8(v)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .map(Framing::Length)
            .ok_or_else(|| invalid("malformed content-length")),
        None => Ok(Framing::Close),
    }
}

/// HTTP/1.1 keeps the connection unless told `close`; 1.0 closes unless
/// told `keep-alive`.
fn keeps_alive(head: &Head<'_>, http11: bool) -> bool {
    let has = |token: &[u8]| {
        head.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("connection"))
            .flat_map(|h| h.value.split(|&b| b == b','))
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
    };
    if http11 {
        !has(b"close")
    } else {
        has(b"keep-alive")
    }
}

/// A chunked body's decoder: sizes, data, trailers (ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Chunked {
    state: ChunkState,
    /// Digits of the size line so far.
    size: u64,
    /// Bytes on the current size or trailer line (bounded).
    line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum ChunkState {
    /// Hex digits of a chunk's size.
    #[default]
    Size,
    /// A chunk extension, up to the line's end.
    Extension,
    /// The LF of the size line.
    SizeLf,
    Data(u64),
    DataCr,
    DataLf,
    /// The start of a trailer line (an empty one ends the body).
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
    /// The LF of the body's last line.
    EndLf,
}

/// Longest size or trailer line accepted.
const MAX_LINE: usize = 8 * 1024;

/// What a chunked body's decoder made of some input.
#[derive(Debug, PartialEq, Eq)]
enum Decoded {
    /// All of it used; the body goes on.
    More,
    /// The body ended after this many bytes of it.
    End(usize),
    /// The sink wants no more.
    Stopped,
}

impl Chunked {
    /// Decodes `input`, giving data to `out` (false from `out` stops).
    fn decode(&mut self, input: &[u8], mut out: impl FnMut(&[u8]) -> bool) -> io::Result<Decoded> {
        let bad = || invalid("malformed chunked body");
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                ChunkState::Size => match (b as char).to_digit(16) {
                    Some(d) if self.line < 16 => {
                        self.size = self.size * 16 + u64::from(d);
                        self.line += 1;
                    }
                    Some(_) => return Err(bad()),
                    None if self.line == 0 => return Err(bad()),
                    None if b == b'\r' => self.state = ChunkState::SizeLf,
                    None if b == b';' || b == b' ' || b == b'\t' => {
                        self.state = ChunkState::Extension
                    }
                    None => return Err(bad()),
                },
                ChunkState::Extension => {
                    self.line += 1;
                    if self.line > MAX_LINE {
                        return Err(bad());
                    }
                    if b == b'\r' {
                        self.state = ChunkState::SizeLf;
                    }
                }
                ChunkState::SizeLf => {
                    if b != b'\n' {
                        return Err(bad());
                    }
                    self.line = 0;
                    self.state = if self.size == 0 {
                        ChunkState::TrailerStart
                    } else {
                        ChunkState::Data(self.size)
                    };
                    self.size = 0;
                }
                ChunkState::Data(left) => {
                    let n = left.min((input.len() - i) as u64) as usize;
                    if !out(&input[i..i + n]) {
                        return Ok(Decoded::Stopped);
                    }
                    i += n;
                    self.state = if left == n as u64 {
                        ChunkState::DataCr
                    } else {
                        ChunkState::Data(left - n as u64)
                    };
                    continue;
                }
                ChunkState::DataCr if b == b'\r' => self.state = ChunkState::DataLf,
                ChunkState::DataLf if b == b'\n' => self.state = ChunkState::Size,
                ChunkState::DataCr | ChunkState::DataLf => return Err(bad()),
                ChunkState::TrailerStart if b == b'\r' => self.state = ChunkState::EndLf,
                ChunkState::TrailerStart | ChunkState::Trailer => {
                    self.line += 1;
                    if self.line > MAX_LINE {
                        return Err(bad());
                    }
                    if b == b'\n' {
                        self.line = 0;
                        self.state = ChunkState::TrailerStart;
                    } else {
                        self.state = ChunkState::Trailer;
                    }
                }
                ChunkState::EndLf => {
                    if b != b'\n' {
                        return Err(bad());
                    }
                    return Ok(Decoded::End(i + 1));
                }
            }
            i += 1;
        }
        Ok(Decoded::More)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Got {
        status: u16,
        etag: Option<Vec<u8>>,
        body: Vec<u8>,
        heads: usize,
        limit: Option<usize>,
    }

    impl Sink for Got {
        fn head(&mut self, h: &Head<'_>) {
            self.status = h.status;
            self.etag = h.get("etag").map(<[u8]>::to_vec);
            self.heads += 1;
        }
        fn data(&mut self, d: &[u8]) -> bool {
            self.body.extend_from_slice(d);
            self.limit.is_none_or(|l| self.body.len() <= l)
        }
    }

    /// Feeds `resp` in pieces of `step` bytes, then end of file if it asks
    /// for more; returns what the reader ended with.
    fn read(resp: &[u8], step: usize, head_request: bool, got: &mut Got) -> Result<bool, String> {
        let mut r = Reader::new(head_request);
        for piece in resp.chunks(step) {
            match r.feed(piece, got) {
                Ok(Some(reusable)) => return Ok(reusable),
                Ok(None) => {}
                Err(e) => return Err(format!("{e:?}")),
            }
        }
        match r.feed(&[], got) {
            Ok(Some(reusable)) => Ok(reusable),
            Ok(None) => unreachable!("end of file ends every response"),
            Err(e) => Err(format!("{e:?}")),
        }
    }

    /// The same response split at every byte boundary reads the same.
    fn every_split(resp: &[u8], head_request: bool) -> (Got, Result<bool, String>) {
        let mut first: Option<(Got, Result<bool, String>)> = None;
        for step in 1..=resp.len().max(1) {
            let mut got = Got::default();
            let r = read(resp, step, head_request, &mut got);
            match &first {
                None => first = Some((got, r)),
                Some((g, r0)) => {
                    assert_eq!(
                        (&got.body, got.status, &r),
                        (&g.body, g.status, r0),
                        "step {step}"
                    );
                }
            }
        }
        first.unwrap()
    }

    #[test]
    fn content_length_body_and_keep_alive() {
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"abc\"\r\n\r\nhello";
        let (got, r) = every_split(resp, false);
        assert_eq!(r, Ok(true));
        assert_eq!((got.status, got.body.as_slice()), (200, &b"hello"[..]));
        assert_eq!(got.etag.as_deref(), Some(&b"\"abc\""[..]));
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nx-trailer: 1\r\n\r\n";
        let (got, r) = every_split(resp, false);
        assert_eq!(r, Ok(true));
        assert_eq!(got.body, b"hello 0123456789");
    }

    #[test]
    fn a_body_read_to_end_of_file_closes_the_connection() {
        let resp = b"HTTP/1.1 500 Internal Server Error\r\n\r\n<Error><Code>X</Code></Error>";
        let (got, r) = every_split(resp, false);
        assert_eq!(r, Ok(false));
        assert_eq!(got.body, b"<Error><Code>X</Code></Error>");
        let closed = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx";
        assert_eq!(every_split(closed, false).1, Ok(false));
        let http10 = b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx";
        assert_eq!(every_split(http10, false).1, Ok(false));
        let http10_kept =
            b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\nx";
        assert_eq!(every_split(http10_kept, false).1, Ok(true));
    }

    #[test]
    fn head_responses_and_interim_responses_have_no_body() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\nETag: \"e\"\r\n\r\n";
        let (got, r) = every_split(head, true);
        assert_eq!((r, got.body.len(), got.heads), (Ok(true), 0, 1));
        let interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        let (got, r) = every_split(interim, false);
        assert_eq!((r, got.status, got.heads), (Ok(true), 204, 1));
    }

    #[test]
    fn short_bodies_broken_framing_and_extra_bytes() {
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello";
        assert!(every_split(short, false).1.unwrap_err().contains("Body"));
        let no_head = b"HTTP/1.1 200 OK\r\nContent-Le";
        assert!(every_split(no_head, false).1.unwrap_err().contains("Head"));
        let garbage = b"SSH-2.0-OpenSSH\r\n\r\n";
        assert!(every_split(garbage, false).1.unwrap_err().contains("Head"));
        let bad_length = b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n";
        assert!(
            every_split(bad_length, false)
                .1
                .unwrap_err()
                .contains("Head")
        );
        let bad_chunk =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n";
        assert!(
            every_split(bad_chunk, false)
                .1
                .unwrap_err()
                .contains("Body")
        );
        let cut_chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel";
        assert!(
            every_split(cut_chunk, false)
                .1
                .unwrap_err()
                .contains("Body")
        );
        // Bytes after the response in the same read: the connection is not
        // reused. (Bytes that arrive in a later read are found by
        // `Conn::usable` before the connection takes another request.)
        let extra = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1";
        let mut got = Got::default();
        assert_eq!(read(extra, extra.len(), false, &mut got), Ok(false));
        assert_eq!(got.body, b"hi");
    }

    #[test]
    fn a_sink_that_stops_closes_the_connection() {
        let resp = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\n0123456789";
        let mut got = Got {
            limit: Some(4),
            ..Got::default()
        };
        assert_eq!(read(resp, 3, false, &mut got), Ok(false));
    }

    /// Over a real socket: a request head and body go out as written, two
    /// responses come back on one connection through the shared buffer,
    /// and a connection the server closed while idle is not reused.
    #[tokio::test]
    async fn exchanges_over_a_socket() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut b = [0u8; 4096];
            while !got.windows(5).any(|w| w == b"hello") {
                let n = s.read(&mut b).await.unwrap();
                got.extend_from_slice(&b[..n]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await
                .unwrap();
            let n = s.read(&mut b).await.unwrap();
            got.extend_from_slice(&b[..n]);
            s.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            )
            .await
            .unwrap();
            drop(s);
            got
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut conn = Conn::Plain(tcp);
        let buf = ReadBuffer::new();
        let mut got = Got::default();
        let put = b"PUT /b/k HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\n";
        let r = conn
            .exchange(
                put,
                Body::Bytes(Bytes::from_static(b"hello")),
                false,
                &buf,
                &mut got,
            )
            .await;
        assert!(matches!(r, Ok(true)), "{r:?}");
        assert_eq!(got.body, b"ok");
        assert!(conn.usable());
        let mut got = Got::default();
        let r = conn
            .exchange(
                b"GET /b/k HTTP/1.1\r\nhost: x\r\n\r\n",
                Body::Empty,
                false,
                &buf,
                &mut got,
            )
            .await;
        assert!(matches!(r, Ok(true)), "{r:?}");
        assert_eq!(got.body, b"abc");
        let sent = server.await.unwrap();
        assert_eq!(
            sent,
            b"PUT /b/k HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhelloGET /b/k HTTP/1.1\r\nhost: x\r\n\r\n"
        );
        // The server has closed: the connection reads end of file.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!conn.usable());
    }
}
