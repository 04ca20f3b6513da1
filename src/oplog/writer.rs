//! The op log's writer thread: batches in, CSV out through gzip.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::Weak;
use std::sync::mpsc::Receiver;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::{Batch, COLUMNS, Msg, NONE, Names, Sink, csv_field};

/// A gzip member is finished after this much CSV, so an abrupt end loses
/// at most the member being written.
const MEMBER_BYTES: u64 = 8 << 20;

#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub rows: u64,
    pub error: Option<String>,
}

struct Out {
    enc: Option<GzEncoder<BufWriter<File>>>,
    in_member: u64,
    error: Option<String>,
}

impl Out {
    fn write(&mut self, buf: &[u8]) {
        let Some(enc) = &mut self.enc else { return };
        if let Err(e) = enc.write_all(buf) {
            self.fail(e);
            return;
        }
        self.in_member += buf.len() as u64;
        if self.in_member >= MEMBER_BYTES {
            self.end_member(true);
        }
    }

    /// Finishes the current gzip member (and starts the next one).
    fn end_member(&mut self, next: bool) {
        let Some(enc) = self.enc.take() else { return };
        match enc.finish().and_then(|mut w| w.flush().map(|_| w)) {
            Ok(w) => {
                self.in_member = 0;
                if next {
                    self.enc = Some(GzEncoder::new(w, Compression::fast()));
                } else if let Ok(f) = w.into_inner() {
                    let _ = f.sync_all();
                }
            }
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: std::io::Error) {
        self.error.get_or_insert_with(|| e.to_string());
        self.enc = None;
    }
}

pub(super) fn run(file: File, names: Names, rx: Receiver<Msg>, sink: Weak<Sink>) -> Outcome {
    let mut out = Out {
        enc: Some(GzEncoder::new(
            BufWriter::with_capacity(1 << 16, file),
            Compression::fast(),
        )),
        in_member: 0,
        error: None,
    };
    let mut line = Vec::with_capacity(1 << 16);
    line.extend_from_slice(COLUMNS.join(",").as_bytes());
    line.push(b'\n');
    out.write(&line);
    let mut rows = 0u64;
    let mut num = itoa_buf();
    while let Ok(msg) = rx.recv() {
        let mut batch = match msg {
            Msg::Rows(b) => b,
            Msg::Finish => break,
        };
        line.clear();
        format_batch(&batch, &names, &mut line, &mut num);
        out.write(&line);
        if out.enc.is_some() {
            rows += batch.rows.len() as u64;
        }
        batch.clear();
        if let Some(s) = sink.upgrade() {
            s.pool.lock().unwrap_or_else(|e| e.into_inner()).push(batch);
        }
    }
    out.end_member(false);
    if let Some(s) = sink.upgrade() {
        let (lock, cv) = &s.done;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
    }
    Outcome {
        rows,
        error: out.error,
    }
}

fn itoa_buf() -> String {
    String::with_capacity(24)
}

fn format_batch(b: &Batch, names: &Names, out: &mut Vec<u8>, num: &mut String) {
    use std::fmt::Write as _;
    let mut n = |out: &mut Vec<u8>, v: u64| {
        num.clear();
        let _ = write!(num, "{v}");
        out.extend_from_slice(num.as_bytes());
    };
    for r in &b.rows {
        let target = names
            .targets
            .get(r.ctx_target as usize)
            .map_or("", String::as_str);
        csv_field(out, target.as_bytes());
        out.push(b',');
        let phase = match r.ctx_phase {
            Some(p) => names.phases.get(p as usize).map_or("", String::as_str),
            None => r.stage.name(),
        };
        csv_field(out, phase.as_bytes());
        out.push(b',');
        n(out, u64::from(r.round));
        out.push(b',');
        out.extend_from_slice(r.stage.name().as_bytes());
        out.push(b',');
        out.extend_from_slice(r.op.as_bytes());
        out.push(b',');
        let text = |(at, len): (u32, u32)| &b.text[at as usize..(at + len) as usize];
        csv_field(out, text(r.key));
        out.push(b',');
        if let Some((a, z)) = r.range {
            n(out, a);
            out.push(b',');
            n(out, z);
        } else {
            out.push(b',');
        }
        out.push(b',');
        n(out, r.bytes);
        for t in [r.due, r.sent, r.first_byte, r.done] {
            out.push(b',');
            if t != NONE {
                n(out, t);
            }
        }
        out.push(b',');
        if r.status != 0 {
            n(out, u64::from(r.status));
        }
        out.push(b',');
        out.extend_from_slice(r.group.as_bytes());
        out.push(b',');
        csv_field(out, text(r.error));
        out.push(b',');
        n(out, u64::from(r.attempt));
        out.push(b',');
        if let Some(t) = r.thread {
            n(out, u64::from(t));
        }
        out.push(b'\n');
    }
}
