//! What a log says about its workload, folded one event at a time in
//! bounded memory, and the scenario derived from it.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::path::Path;

use hdrhistogram::Histogram;

use super::event::{Event, Op};
use super::keys::KeyShape;
use super::spool::{OPS, Rec, Spool};
use super::{Format, ImportOptions};
use crate::scenario::{Plan, ReplayOp, SizeDist};

/// Distinct keys whose size is remembered, at most (16 bytes each).
const MAX_KEYS: usize = 4_000_000;
/// Multipart uploads followed at once, at most.
const MAX_UPLOADS: usize = 100_000;
/// Stages the arrival rate is cut into, at most.
const MAX_STAGES: u64 = 20;
/// Malformed line numbers kept to name.
const FIRST_BAD: usize = 5;

fn key_hash(k: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    k.hash(&mut h);
    h.finish()
}

fn hist() -> Histogram<u64> {
    crate::stats::recorder::latency_hist()
}

fn rec(h: &mut Histogram<u64>, v: u64) {
    crate::stats::recorder::record(h, v);
}

/// Sizes by power-of-two class: (count, sum) per class.
#[derive(Debug, Default, Clone)]
struct Sizes(BTreeMap<u32, (u64, u64)>);

impl Sizes {
    fn add(&mut self, size: u64) {
        let c = 64 - size.max(1).leading_zeros();
        let e = self.0.entry(c).or_default();
        e.0 += 1;
        e.1 += size;
    }

    fn count(&self) -> u64 {
        self.0.values().map(|(n, _)| n).sum()
    }

    /// A weighted list: each class's mean size, weighted by its count
    /// (the 12 largest classes), or None when nothing was seen.
    fn dist(&self) -> Option<Vec<(u64, u64)>> {
        let mut v: Vec<(u64, u64)> = self
            .0
            .values()
            .map(|(n, sum)| ((sum / n.max(&1)).max(1), *n))
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        v.truncate(12);
        v.sort_unstable();
        v.dedup_by_key(|(s, _)| *s);
        Some(v)
    }

    fn median(&self) -> Option<u64> {
        let total = self.count();
        let mut acc = 0;
        for (n, sum) in self.0.values() {
            acc += n;
            if acc * 2 >= total {
                return Some(sum / n.max(&1));
            }
        }
        None
    }
}

/// An open multipart upload.
#[derive(Debug, Default, Clone, Copy)]
struct Upload {
    t_ns: i64,
    window_ns: u64,
    bytes: u64,
    max_part: u64,
}

pub struct Profile {
    format: Format,
    pub requests: u64,
    first_ns: Option<i64>,
    last_ns: Option<i64>,
    resolution_ns: u64,
    by_op: BTreeMap<String, u64>,
    bucket_ops: BTreeMap<String, u64>,
    unsupported: BTreeMap<String, u64>,
    skipped: BTreeMap<&'static str, u64>,
    malformed: u64,
    first_bad: Vec<String>,
    errors: u64,
    throttled: u64,
    /// Server-side total and turn-around time (µs) per op.
    total: BTreeMap<String, Histogram<u64>>,
    turnaround: BTreeMap<String, Histogram<u64>>,
    /// Sizes of keys read (0 = not known yet), by key hash.
    keys: HashMap<u64, u64>,
    keys_capped: bool,
    shape: KeyShape,
    rng: fastrand::Rng,
    /// Mix counts.
    gets: u64,
    ranged: u64,
    puts: u64,
    multipart: u64,
    heads: u64,
    lists: u64,
    deletes: u64,
    copies: u64,
    range_lens: Sizes,
    put_sizes: Sizes,
    multipart_sizes: Sizes,
    part_sizes: Sizes,
    uploads: HashMap<u64, Upload>,
    /// Mix operations per second of the log.
    per_second: BTreeMap<i64, u64>,
    spool: Option<Spool>,
    /// op log: the target and round imported (the first measured row's).
    op_log_scope: Option<(String, u32)>,
}

impl Profile {
    pub fn new(format: Format, replay: bool) -> anyhow::Result<Profile> {
        Ok(Profile {
            format,
            requests: 0,
            first_ns: None,
            last_ns: None,
            resolution_ns: 1,
            by_op: BTreeMap::new(),
            bucket_ops: BTreeMap::new(),
            unsupported: BTreeMap::new(),
            skipped: BTreeMap::new(),
            malformed: 0,
            first_bad: Vec::new(),
            errors: 0,
            throttled: 0,
            total: BTreeMap::new(),
            turnaround: BTreeMap::new(),
            keys: HashMap::new(),
            keys_capped: false,
            shape: KeyShape::default(),
            rng: fastrand::Rng::with_seed(7),
            gets: 0,
            ranged: 0,
            puts: 0,
            multipart: 0,
            heads: 0,
            lists: 0,
            deletes: 0,
            copies: 0,
            range_lens: Sizes::default(),
            put_sizes: Sizes::default(),
            multipart_sizes: Sizes::default(),
            part_sizes: Sizes::default(),
            uploads: HashMap::new(),
            per_second: BTreeMap::new(),
            spool: replay.then(Spool::default),
            op_log_scope: None,
        })
    }

    pub fn malformed(&mut self, file: &Path, line: u64) {
        self.malformed += 1;
        if self.first_bad.len() < FIRST_BAD {
            self.first_bad.push(if line > 0 {
                format!("{}:{line}", file.display())
            } else {
                file.display().to_string()
            });
        }
    }

    pub fn skipped(&mut self, why: &'static str) {
        *self.skipped.entry(why).or_default() += 1;
    }

    pub fn object_requests(&self) -> u64 {
        self.gets
            + self.ranged
            + self.puts
            + self.multipart
            + self.heads
            + self.lists
            + self.deletes
            + self.copies
    }

    pub fn seen_summary(&self) -> String {
        let mut parts: Vec<String> = self.by_op.iter().map(|(k, v)| format!("{k} {v}")).collect();
        if self.malformed > 0 {
            parts.push(format!("{} malformed records", self.malformed));
        }
        for (why, n) in &self.skipped {
            parts.push(format!("{n} {why}"));
        }
        if parts.is_empty() {
            "it holds no records".into()
        } else {
            format!("it holds {}", parts.join(", "))
        }
    }

    /// A row of an op log: only the measured and warm-up requests of one
    /// target and round (the first seen) are the workload; prepare's PUTs
    /// give the data set's sizes.
    pub fn add_op_log_row(&mut self, r: &crate::oplog::read::OpRow) -> anyhow::Result<()> {
        if r.stage == "prepare" && r.op == "PutObject" && r.error.is_empty() {
            self.remember_size(&r.key, r.bytes);
            return Ok(());
        }
        if r.stage != "measured" && r.stage != "warmup" {
            return Ok(());
        }
        let scope = self
            .op_log_scope
            .get_or_insert_with(|| (r.target.clone(), r.round));
        if scope.0 != r.target || scope.1 != r.round {
            return Ok(());
        }
        self.add(&super::formats::op_log_row(r))
    }

    fn remember_size(&mut self, key: &str, size: u64) {
        let h = key_hash(key);
        if let Some(s) = self.keys.get_mut(&h) {
            if size > 0 {
                *s = size;
            }
        } else if self.keys.len() < MAX_KEYS {
            self.keys.insert(h, size);
        }
    }

    /// Folds one event in.
    pub fn add(&mut self, e: &Event) -> anyhow::Result<()> {
        self.requests += 1;
        *self.by_op.entry(e.op.name().to_string()).or_default() += 1;
        self.first_ns = Some(self.first_ns.map_or(e.time_ns, |f| f.min(e.time_ns)));
        self.last_ns = Some(self.last_ns.map_or(e.time_ns, |l| l.max(e.time_ns)));
        self.resolution_ns = self.resolution_ns.max(e.resolution_ns);
        if e.failed() {
            self.errors += 1;
        }
        if e.throttled() {
            self.throttled += 1;
        }
        let name = e.op.name().to_string();
        if let Some(t) = e.total_ms {
            rec(
                self.total.entry(name.clone()).or_insert_with(hist),
                (t * 1e3) as u64,
            );
        }
        if let Some(t) = e.turnaround_ms {
            rec(
                self.turnaround.entry(name).or_insert_with(hist),
                (t * 1e3) as u64,
            );
        }
        let key = e.key.as_deref().unwrap_or("");
        let h = key_hash(key);
        let mut replay: Option<(ReplayOp, u64, u64, u64)> = None;
        match &e.op {
            Op::Get | Op::Head | Op::Copy => {
                if !key.is_empty() {
                    let known = self.keys.contains_key(&h);
                    if !known {
                        if self.keys.len() < MAX_KEYS {
                            self.keys.insert(h, 0);
                            self.shape.offer(key, &mut self.rng);
                        } else {
                            self.keys_capped = true;
                        }
                    }
                    if let Some(s) = e.object_size.filter(|s| *s > 0) {
                        self.remember_size(key, s);
                    }
                }
                let size = e.object_size.unwrap_or(0);
                replay = Some(match (&e.op, e.range_len) {
                    (Op::Get, Some(len)) => {
                        self.ranged += 1;
                        self.range_lens.add(len.max(1));
                        (ReplayOp::RangedGet, size, len.max(1), 0)
                    }
                    (Op::Get, None) => {
                        self.gets += 1;
                        (ReplayOp::Get, size, 0, 0)
                    }
                    (Op::Head, _) => {
                        self.heads += 1;
                        (ReplayOp::Head, size, 0, 0)
                    }
                    _ => {
                        self.copies += 1;
                        (ReplayOp::Copy, size, 0, 0)
                    }
                });
            }
            Op::Put => {
                self.puts += 1;
                let size = e.object_size.or(e.bytes).unwrap_or(0);
                if size > 0 {
                    self.put_sizes.add(size);
                }
                replay = Some((ReplayOp::Put, 0, size.max(1), 0));
            }
            Op::CreateMultipart | Op::UploadPart | Op::CompleteMultipart => self.multipart(e, h)?,
            Op::List => {
                self.lists += 1;
                replay = Some((ReplayOp::List, 0, 0, 0));
            }
            Op::Delete => {
                self.deletes += 1;
                replay = Some((ReplayOp::Delete, 0, 0, 0));
            }
            Op::AbortMultipart | Op::CreateSession => {}
            Op::Bucket(n) => *self.bucket_ops.entry(n.clone()).or_default() += 1,
            Op::Unsupported(n) => *self.unsupported.entry(n.clone()).or_default() += 1,
        }
        if let Some((op, size, length, part)) = replay {
            *self
                .per_second
                .entry(e.time_ns.div_euclid(1_000_000_000))
                .or_default() += 1;
            if let Some(spool) = &mut self.spool {
                spool.push(Rec {
                    t_ns: e.time_ns,
                    window_ns: e.resolution_ns,
                    op: op_index(op),
                    key_hash: h,
                    size,
                    length,
                    part_size: part,
                })?;
            }
        }
        Ok(())
    }

    /// A multipart upload's requests: followed by upload (bounded), replayed
    /// as one multipart PUT when the upload began.
    fn multipart(&mut self, e: &Event, h: u64) -> anyhow::Result<()> {
        match &e.op {
            Op::CreateMultipart if self.uploads.len() < MAX_UPLOADS => {
                self.uploads.insert(
                    h,
                    Upload {
                        t_ns: e.time_ns,
                        window_ns: e.resolution_ns,
                        ..Upload::default()
                    },
                );
            }
            Op::UploadPart => {
                let part = e.object_size.or(e.bytes).unwrap_or(0);
                if part > 0 {
                    self.part_sizes.add(part);
                }
                if let Some(u) = self.uploads.get_mut(&h) {
                    u.bytes += part;
                    u.max_part = u.max_part.max(part);
                }
            }
            Op::CompleteMultipart => {
                self.multipart += 1;
                let u = self.uploads.remove(&h);
                let size = e
                    .object_size
                    .filter(|s| *s > 0)
                    .or(u.map(|u| u.bytes).filter(|b| *b > 0));
                if let Some(s) = size {
                    self.multipart_sizes.add(s);
                }
                let part = u
                    .map(|u| u.max_part)
                    .filter(|p| *p > 0)
                    .or(self.part_sizes.median())
                    .unwrap_or(crate::s3::limits::MIN_PART_SIZE)
                    .max(crate::s3::limits::MIN_PART_SIZE);
                let size = size.unwrap_or(part).max(1);
                // Replayed when the upload began, as one multipart PUT.
                if let Some(spool) = &mut self.spool {
                    let (t, w) = u.map_or((e.time_ns, e.resolution_ns), |u| (u.t_ns, u.window_ns));
                    spool.push(Rec {
                        t_ns: t,
                        window_ns: w,
                        op: op_index(ReplayOp::MultipartPut),
                        key_hash: h,
                        size: 0,
                        length: size,
                        part_size: part,
                    })?;
                }
                *self
                    .per_second
                    .entry(e.time_ns.div_euclid(1_000_000_000))
                    .or_default() += 1;
            }
            _ => {}
        }
        Ok(())
    }

    fn span_ns(&self) -> u64 {
        match (self.first_ns, self.last_ns) {
            (Some(a), Some(b)) => (b - a) as u64 + self.resolution_ns,
            _ => 0,
        }
    }

    /// The scenario's opening comments: what the log held.
    fn comments(&self, opts: &ImportOptions, name: &str) -> String {
        let mut c = String::new();
        let files: Vec<String> = opts
            .files
            .iter()
            .map(|f| {
                f.file_name().map_or_else(
                    || f.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                )
            })
            .collect();
        let _ = writeln!(
            c,
            "# {name}: imported by `s3bench import {}` from {} ({} request{}).",
            opts.format.name(),
            files.join(", "),
            self.requests,
            if self.requests == 1 { "" } else { "s" }
        );
        let span = std::time::Duration::from_nanos(self.span_ns());
        if self.format != Format::OpLog
            && let (Some(a), Some(b)) = (self.first_ns, self.last_ns)
        {
            let at = |ns: i64| {
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns.max(0) as u64),
                )
                .to_string()
            };
            let _ = writeln!(
                c,
                "# Time span: {} to {} ({}).",
                at(a),
                at(b),
                crate::units::format_duration(span)
            );
        } else {
            let _ = writeln!(c, "# Time span: {}.", crate::units::format_duration(span));
        }
        if let Some((t, r)) = &self.op_log_scope {
            let _ = writeln!(
                c,
                "# From the op log: target '{t}', round {r}, warm-up and measured requests."
            );
        }
        let ops: Vec<String> = self.by_op.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(c, "# Requests per operation: {}.", ops.join(", "));
        if !self.bucket_ops.is_empty() {
            let b: Vec<String> = self
                .bucket_ops
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(
                c,
                "# Bucket-level operations (counted, not replayed): {}.",
                b.join(", ")
            );
        }
        if !self.unsupported.is_empty() {
            let b: Vec<String> = self
                .unsupported
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(
                c,
                "# Operations s3bench does not replay (counted): {}.",
                b.join(", ")
            );
        }
        for (why, n) in &self.skipped {
            let _ = writeln!(c, "# Skipped: {n} {why}.");
        }
        if self.malformed > 0 {
            let _ = writeln!(
                c,
                "# Malformed records: {} (first: {}).",
                self.malformed,
                self.first_bad.join(", ")
            );
        }
        let pct = |n: u64| 100.0 * n as f64 / self.requests.max(1) as f64;
        let _ = writeln!(
            c,
            "# Errors: {} ({:.2}% of requests); 503 SlowDown: {} ({:.2}%).",
            self.errors,
            pct(self.errors),
            self.throttled,
            pct(self.throttled)
        );
        if !self.total.is_empty() {
            let _ = writeln!(
                c,
                "# Server-side latency S3 logged, ms (hold the replay's General Purpose numbers against it):"
            );
            for (op, h) in &self.total {
                let q = |h: &Histogram<u64>, p: f64| h.value_at_quantile(p) as f64 / 1e3;
                let mut line = format!(
                    "#   {op}: total time p50 {} p90 {} p99 {}",
                    q(h, 0.5),
                    q(h, 0.9),
                    q(h, 0.99)
                );
                if let Some(t) = self.turnaround.get(op) {
                    let _ = write!(
                        line,
                        "; turn-around time p50 {} p90 {} p99 {}",
                        q(t, 0.5),
                        q(t, 0.9),
                        q(t, 0.99)
                    );
                }
                let _ = writeln!(c, "{line} ({} requests)", h.len());
            }
        }
        c
    }

    /// The derived scenario's parts.
    pub fn derive(&mut self, opts: &ImportOptions, name: &str) -> anyhow::Result<Derived> {
        let mut c = self.comments(opts, name);
        let span = std::time::Duration::from_nanos(self.span_ns());
        // The data set: the objects read, at the sizes seen.
        let objects = (self.keys.len() as u64).max(1);
        let mut key_sizes = Sizes::default();
        for s in self.keys.values().filter(|s| **s > 0) {
            key_sizes.add(*s);
        }
        let dataset_dist = key_sizes
            .dist()
            .or_else(|| self.put_sizes.dist())
            .unwrap_or_else(|| vec![(4096, 1)]);
        let (template, notes) = self.shape.template();
        let _ = writeln!(
            c,
            "# Data set: {} distinct object{} read{}; sizes known for {}.",
            objects,
            if objects == 1 { "" } else { "s" },
            if self.keys_capped {
                format!(" (counted up to {MAX_KEYS}; more were read)")
            } else {
                String::new()
            },
            key_sizes.count()
        );
        let _ = writeln!(c, "# Key shape (no names copied): {}.", notes.join("; "));
        let max_object = dataset_dist.iter().map(|(s, _)| *s).max().unwrap_or(1);

        let mix = self.mix(max_object, &mut c);

        // The arrival rate over time, as open-loop stages.
        let stages = self.stages();
        Ok(Derived {
            header: c,
            name: name.to_string(),
            objects,
            dataset: dist_text(&dataset_dist),
            key: template,
            mix,
            stages,
            span,
        })
    }

    /// The mix, weighted by how often each op ran; what is left out is said in `c`.
    fn mix(&self, max_object: u64, c: &mut String) -> Vec<String> {
        let mut mix: Vec<String> = Vec::new();
        let counts = [
            self.gets,
            self.ranged,
            self.puts,
            self.multipart,
            self.heads,
            self.lists,
            self.deletes,
            self.copies,
        ];
        let top = counts.iter().copied().max().unwrap_or(1).max(1);
        let weight = |n: u64| -> u64 {
            if top <= 1_000_000 {
                n
            } else {
                ((n as f64 * 1e6 / top as f64).round() as u64).max(1)
            }
        };
        if self.gets > 0 {
            mix.push(format!(
                "{{ op = \"get\", weight = {} }}",
                weight(self.gets)
            ));
        }
        if self.ranged > 0 {
            let len = self
                .range_lens
                .median()
                .unwrap_or(4096)
                .clamp(1, max_object);
            mix.push(format!(
                "{{ op = \"ranged-get\", weight = {}, range_size = {} }}",
                weight(self.ranged),
                size_text(len)
            ));
        }
        if self.puts > 0 {
            let size = match self.put_sizes.dist() {
                Some(d) => format!(", size = {}", dist_text(&d)),
                None => String::new(),
            };
            mix.push(format!(
                "{{ op = \"put\", weight = {}{size} }}",
                weight(self.puts)
            ));
        }
        if self.multipart > 0 {
            let part = self
                .part_sizes
                .median()
                .unwrap_or(crate::s3::limits::MIN_PART_SIZE)
                .clamp(
                    crate::s3::limits::MIN_PART_SIZE,
                    crate::s3::limits::MAX_PART_SIZE,
                );
            let size = self
                .multipart_sizes
                .median()
                .unwrap_or(part)
                .clamp(part, crate::s3::limits::MAX_OBJECT_SIZE)
                .min(part * u64::from(crate::s3::limits::MAX_PARTS));
            mix.push(format!(
                "{{ op = \"multipart-put\", weight = {}, size = {}, part_size = {} }}",
                weight(self.multipart),
                size_text(size),
                size_text(part)
            ));
        }
        if self.heads > 0 {
            mix.push(format!(
                "{{ op = \"head\", weight = {} }}",
                weight(self.heads)
            ));
        }
        if self.lists > 0 {
            mix.push(format!(
                "{{ op = \"list\", weight = {} }}",
                weight(self.lists)
            ));
        }
        if self.deletes > 0 {
            if self.puts + self.multipart > 0 {
                mix.push(format!(
                    "{{ op = \"delete\", weight = {} }}",
                    weight(self.deletes)
                ));
            } else {
                let _ = writeln!(
                    c,
                    "# DELETE ({}) is left out of the mix: s3bench deletes only what a phase wrote, and the log has no PUT.",
                    self.deletes
                );
            }
        }
        if self.copies > 0 {
            mix.push(format!(
                "{{ op = \"copy\", weight = {} }}",
                weight(self.copies)
            ));
        }

        mix
    }

    /// Mix operations per second, cut into at most 20 stages of equal length.
    fn stages(&self) -> Vec<(f64, std::time::Duration)> {
        let (Some(&first), Some(&last)) = (
            self.per_second.keys().next(),
            self.per_second.keys().next_back(),
        ) else {
            return vec![(1.0, std::time::Duration::from_secs(1))];
        };
        let secs = (last - first + 1) as u64;
        let window = secs.div_ceil(MAX_STAGES).max(1);
        let mut out = Vec::new();
        let mut start = first;
        while start <= last {
            let end = (start + window as i64).min(last + 1);
            let n: u64 = self.per_second.range(start..end).map(|(_, n)| n).sum();
            let len = (end - start) as f64;
            // A quiet stretch still needs a rate above 0.
            let rate = (n as f64 / len).max(0.001);
            out.push((
                (rate * 1000.0).round() / 1000.0,
                std::time::Duration::from_secs((end - start) as u64),
            ));
            start = end;
        }
        out
    }

    /// Writes the replay schedule (gzip CSV) for `plan`'s data set; returns
    /// how many requests it holds.
    pub fn write_schedule(&mut self, plan: &Plan, path: &Path) -> anyhow::Result<u64> {
        let Some(spool) = self.spool.take() else {
            return Ok(0);
        };
        // Object indices by size class (the data set's sizes are a pure
        // function of the seed), so a key maps onto an object of its size.
        let entries: Vec<u64> = match &plan.dataset.size {
            SizeDist::Weighted(v) => v.iter().map(|(s, _)| *s).collect(),
            SizeDist::Fixed(s) => vec![*s],
            SizeDist::Range { min, .. } => vec![*min],
        };
        let mut classes: Vec<Vec<u64>> = vec![Vec::new(); entries.len()];
        let objects = plan.dataset.objects;
        for i in 0..objects {
            let s = plan.object_size(i);
            let c = entries.iter().position(|e| *e == s).unwrap_or(0);
            classes[c].push(i);
        }
        let class_of = |size: u64| -> usize {
            let l = (size.max(1) as f64).ln();
            (0..entries.len())
                .min_by(|a, b| {
                    let d = |i: usize| ((entries[i].max(1) as f64).ln() - l).abs();
                    d(*a).total_cmp(&d(*b))
                })
                .unwrap_or(0)
        };
        let first = self.first_ns.unwrap_or(0);
        let file = std::fs::File::create(path)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        let mut w = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(file),
            flate2::Compression::fast(),
        );
        use std::io::Write as _;
        writeln!(w, "{}", crate::scenario::replay::header())?;
        let keys = &self.keys;
        let mut n = 0u64;
        let mut line = String::with_capacity(96);
        spool.drain(|r| {
            let op = OPS[usize::from(r.op)];
            let object = match op {
                ReplayOp::Get | ReplayOp::RangedGet | ReplayOp::Head | ReplayOp::Copy => {
                    let size = if r.size > 0 {
                        r.size
                    } else {
                        keys.get(&r.key_hash).copied().unwrap_or(0)
                    };
                    let list = if size > 0 {
                        &classes[class_of(size)]
                    } else {
                        &classes[0]
                    };
                    if size > 0 && !list.is_empty() {
                        list[(r.key_hash % list.len() as u64) as usize]
                    } else {
                        r.key_hash % objects.max(1)
                    }
                }
                _ => 0,
            };
            let (offset, length) = match op {
                ReplayOp::RangedGet => {
                    // Where in the object is not logged: a stable offset
                    // per request, inside the object it maps onto.
                    let size = plan.object_size(object);
                    let len = r.length.clamp(1, size.max(1));
                    let room = size.saturating_sub(len);
                    let off = if room > 0 {
                        crate::scenario::splitmix64(r.key_hash ^ r.t_ns as u64) % (room + 1)
                    } else {
                        0
                    };
                    (off, len)
                }
                _ => (0, r.length),
            };
            line.clear();
            let _ = write!(
                line,
                "{},{},{},{},{},{},{}",
                (r.t_ns - first).max(0),
                r.window_ns.max(1),
                op.name(),
                object,
                offset,
                length,
                r.part_size
            );
            n += 1;
            writeln!(w, "{line}")
        })?;
        let mut inner = w.finish()?;
        inner.flush()?;
        Ok(n)
    }
}

fn op_index(op: ReplayOp) -> u8 {
    OPS.iter().position(|o| *o == op).unwrap_or(0) as u8
}

/// A size as a scenario writes it: with a binary unit when exact.
fn size_text(n: u64) -> String {
    const MIB: u64 = 1 << 20;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("\"{}MiB\"", n / MIB)
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("\"{}KiB\"", n / 1024)
    } else {
        n.to_string()
    }
}

fn dist_text(d: &[(u64, u64)]) -> String {
    if let [(s, _)] = d {
        return size_text(*s);
    }
    let top = d.iter().map(|(_, w)| *w).max().unwrap_or(1).max(1);
    let items: Vec<String> = d
        .iter()
        .map(|(s, w)| {
            let w = if top <= 1_000_000 {
                *w
            } else {
                ((*w as f64 * 1e6 / top as f64).round() as u64).max(1)
            };
            format!("{{ size = {}, weight = {w} }}", size_text(*s))
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// The scenario's parts, ready to be written.
pub struct Derived {
    header: String,
    name: String,
    objects: u64,
    dataset: String,
    key: String,
    mix: Vec<String>,
    stages: Vec<(f64, std::time::Duration)>,
    span: std::time::Duration,
}

impl Derived {
    /// The scenario's text; with `replay` = (sidecar file, rows), its phase
    /// replays the schedule instead of running the mix at the log's rates.
    pub fn text(&self, replay: Option<(&str, u64)>) -> String {
        let mut t = self.header.clone();
        let _ = writeln!(
            t,
            "#\n# Targets: one General Purpose bucket and one directory bucket, as `s3bench setup` writes\n\
             # them: fill in your buckets (or run `s3bench setup ... --scenario THIS_FILE`). With\n\
             # --embedded the [targets.*.embedded] latency is a model (log-normal first byte,\n\
             # p50 20 ms / p99 60 ms General Purpose, p50 4 ms / p99 10 ms Express), not S3.\n\
             # `s3bench run THIS_FILE --duration 1m` compresses the timeline, keeping its shape."
        );
        let _ = writeln!(
            t,
            "\nname = \"{}\"",
            self.name.replace('\\', "\\\\").replace('"', "\\\"")
        );
        let _ = writeln!(t, "description = \"imported traffic\"");
        let _ = writeln!(t, "rounds = 2");
        t.push_str(
            "\n[targets.standard]\nkind = \"general-purpose\"\nbucket = \"my-bench\"\nregion = \"us-east-1\"\n\n\
             [targets.standard.embedded]\nlatency = { p50 = \"20ms\", p99 = \"60ms\" }\n\n\
             [targets.express]\nkind = \"directory\"\nbucket = \"my-bench--use1-az4--x-s3\"\nregion = \"us-east-1\"\n\n\
             [targets.express.embedded]\nlatency = { p50 = \"4ms\", p99 = \"10ms\" }\n",
        );
        let _ = writeln!(
            t,
            "\n[dataset]\nobjects = {}\nsize = {}\nkey = \"{}\"",
            self.objects,
            self.dataset,
            self.key.replace('\\', "\\\\").replace('"', "\\\"")
        );
        match replay {
            Some((file, rows)) => {
                let _ = writeln!(
                    t,
                    "\n# The log's {rows} object requests in their order and on their schedule (the sidecar\n\
                     # holds no key names: each key maps onto a data set object of its size class).\n\
                     [[phase]]\nname = \"replay\"\n\n[phase.replay]\nfile = \"{file}\"\nspeed = 1.0\nspread = \"even\""
                );
            }
            None => {
                let stages: Vec<String> = self
                    .stages
                    .iter()
                    .map(|(r, d)| {
                        format!(
                            "  {{ rate = {r}, duration = \"{}\" }},",
                            crate::units::format_duration(*d)
                        )
                    })
                    .collect();
                let _ = writeln!(
                    t,
                    "\n# The log's mix at its arrival rate over time ({} in {} stages), open loop.\n\
                     [[phase]]\nname = \"traffic\"\nstages = [\n{}\n]\nmix = [\n  {},\n]",
                    crate::units::format_duration(self.span),
                    self.stages.len(),
                    stages.join("\n"),
                    self.mix.join(",\n  ")
                );
            }
        }
        t
    }
}
