//! The replay schedule while a log streams through: records in arrival
//! order, sorted by time in runs of a million, each run spilled to a
//! temporary file, merged at the end. Memory stays bounded (a run is
//! 56 MiB) whatever the log's size, and logs need not be in time order
//! (access log files are not).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufReader, BufWriter, Read, Write};

/// One request to replay, before its key is mapped onto the data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rec {
    pub t_ns: i64,
    pub window_ns: u64,
    /// `ReplayOp` as its index in [`OPS`].
    pub op: u8,
    pub key_hash: u64,
    /// The object's size when the log said it (0: unknown).
    pub size: u64,
    /// Range length (ranged GET) or payload (PUT, multipart).
    pub length: u64,
    pub part_size: u64,
}

pub const OPS: [crate::scenario::ReplayOp; 8] = {
    use crate::scenario::ReplayOp as R;
    [
        R::Get,
        R::RangedGet,
        R::Head,
        R::Put,
        R::MultipartPut,
        R::Delete,
        R::List,
        R::Copy,
    ]
};

const RUN: usize = 1 << 20;
const REC_BYTES: usize = 7 * 8;

pub struct Spool {
    buf: Vec<Rec>,
    runs: Vec<std::fs::File>,
    run: usize,
    pub count: u64,
}

impl Default for Spool {
    fn default() -> Self {
        Spool {
            buf: Vec::new(),
            runs: Vec::new(),
            run: RUN,
            count: 0,
        }
    }
}

/// A temporary file, already unlinked: it goes when it is closed.
fn temp_file() -> std::io::Result<std::fs::File> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("s3bench-import-{}-{n}", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(f)
}

impl Spool {
    pub fn push(&mut self, r: Rec) -> std::io::Result<()> {
        self.count += 1;
        self.buf.push(r);
        if self.buf.len() >= self.run {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> std::io::Result<()> {
        self.buf.sort_unstable();
        let f = temp_file()?;
        let mut w = BufWriter::new(f);
        for r in &self.buf {
            w.write_all(&encode(r))?;
        }
        let mut f = w.into_inner().map_err(|e| e.into_error())?;
        use std::io::Seek as _;
        f.seek(std::io::SeekFrom::Start(0))?;
        self.runs.push(f);
        self.buf.clear();
        Ok(())
    }

    /// Every record in time order.
    pub fn drain(mut self, mut f: impl FnMut(&Rec) -> std::io::Result<()>) -> std::io::Result<()> {
        if self.runs.is_empty() {
            self.buf.sort_unstable();
            for r in &self.buf {
                f(r)?;
            }
            return Ok(());
        }
        if !self.buf.is_empty() {
            self.spill()?;
        }
        let mut readers: Vec<BufReader<std::fs::File>> =
            self.runs.into_iter().map(BufReader::new).collect();
        let mut heap = BinaryHeap::new();
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some(rec) = read_rec(r)? {
                heap.push(Reverse((rec, i)));
            }
        }
        while let Some(Reverse((rec, i))) = heap.pop() {
            f(&rec)?;
            if let Some(next) = read_rec(&mut readers[i])? {
                heap.push(Reverse((next, i)));
            }
        }
        Ok(())
    }
}

fn encode(r: &Rec) -> [u8; REC_BYTES] {
    let mut b = [0u8; REC_BYTES];
    let vals = [
        r.t_ns as u64,
        r.window_ns,
        u64::from(r.op),
        r.key_hash,
        r.size,
        r.length,
        r.part_size,
    ];
    for (i, v) in vals.iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    b
}

fn read_rec(r: &mut impl Read) -> std::io::Result<Option<Rec>> {
    let mut b = [0u8; REC_BYTES];
    match r.read_exact(&mut b) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let v = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    Ok(Some(Rec {
        t_ns: v(0) as i64,
        window_ns: v(1),
        op: v(2) as u8,
        key_hash: v(3),
        size: v(4),
        length: v(5),
        part_size: v(6),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_runs_merge_in_time_order() {
        let mut s = Spool {
            run: 3,
            ..Spool::default()
        };
        let ts = [9i64, 3, 7, 1, 8, 2, 6, 4, 5, 0];
        for t in ts {
            s.push(Rec {
                t_ns: t,
                window_ns: 1,
                op: 0,
                key_hash: t as u64 * 7,
                size: 1,
                length: 2,
                part_size: 3,
            })
            .unwrap();
        }
        let mut out = Vec::new();
        s.drain(|r| {
            out.push((r.t_ns, r.key_hash));
            Ok(())
        })
        .unwrap();
        assert_eq!(out, (0..10).map(|t| (t, t as u64 * 7)).collect::<Vec<_>>());
    }
}
