//! In-memory buckets, objects and multipart uploads.
//!
//! An object is a list of segments: real bytes, or a window of the shared
//! synthetic pattern that costs no memory. Listing of General Purpose
//! buckets is lexicographic; directory buckets list in a fixed,
//! hash-derived order, as S3 Express does not sort.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;

use super::error::S3Error;
use super::session::{UPPER_ALNUM, random_string};
use crate::synthetic;

pub(crate) use crate::s3::limits::{MAX_PARTS as MAX_PART_NUMBER, MIN_PART_SIZE};

pub(crate) use crate::s3::BucketKind;

/// Part of an object's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Bytes(Bytes),
    /// Synthetic pattern bytes `[offset, offset + len)`.
    Synthetic {
        offset: u64,
        len: u64,
    },
}

impl Segment {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Segment::Bytes(b) => b.len() as u64,
            Segment::Synthetic { len, .. } => *len,
        }
    }

    /// Heap bytes this segment keeps alive.
    pub(crate) fn resident(&self) -> u64 {
        match self {
            Segment::Bytes(b) => b.len() as u64,
            Segment::Synthetic { .. } => 0,
        }
    }
}

/// The segments covering `[offset, offset + len)` of a segment list.
pub(crate) fn slice_segments(segments: &[Segment], offset: u64, len: u64) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut pos = 0u64;
    let end = offset + len;
    for seg in segments {
        let (s, e) = (pos, pos + seg.len());
        pos = e;
        if e <= offset || s >= end {
            continue;
        }
        let from = offset.max(s) - s;
        let to = end.min(e) - s;
        out.push(match seg {
            Segment::Bytes(b) => Segment::Bytes(b.slice(from as usize..to as usize)),
            Segment::Synthetic { offset: o, .. } => Segment::Synthetic {
                offset: o + from,
                len: to - from,
            },
        });
    }
    out
}

/// Zero-copy chunks of a segment list's bytes `[offset, offset + len)`.
pub(crate) struct SegmentChunks {
    segments: Arc<[Segment]>,
    index: usize,
    /// Offset inside `segments[index]`.
    within: u64,
    remaining: u64,
}

impl SegmentChunks {
    pub(crate) fn new(segments: Arc<[Segment]>, offset: u64, len: u64) -> SegmentChunks {
        let mut index = 0;
        let mut within = offset;
        while index < segments.len() && within >= segments[index].len() {
            within -= segments[index].len();
            index += 1;
        }
        SegmentChunks {
            segments,
            index,
            within,
            remaining: len,
        }
    }
}

impl Iterator for SegmentChunks {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        while self.remaining > 0 {
            let seg = self.segments.get(self.index)?;
            let left_in_seg = seg.len() - self.within;
            if left_in_seg == 0 {
                self.index += 1;
                self.within = 0;
                continue;
            }
            let chunk = match seg {
                Segment::Bytes(b) => {
                    let n = left_in_seg.min(self.remaining) as usize;
                    let s = self.within as usize;
                    b.slice(s..s + n)
                }
                Segment::Synthetic { offset, .. } => {
                    let at = offset + self.within;
                    let phase = at % synthetic::PERIOD as u64;
                    let n = left_in_seg
                        .min(self.remaining)
                        .min(synthetic::PERIOD as u64 - phase);
                    synthetic::window(at, n as usize)
                }
            };
            self.within += chunk.len() as u64;
            self.remaining -= chunk.len() as u64;
            return Some(chunk);
        }
        None
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Object {
    pub segments: Arc<[Segment]>,
    pub len: u64,
    /// With the surrounding quotes, as sent in headers.
    pub etag: String,
    pub last_modified: SystemTime,
    pub content_type: Option<String>,
    /// `x-amz-meta-*` pairs, names lowercase without the prefix.
    pub metadata: Vec<(String, String)>,
    /// Pieces the object was written in: 1 for a PUT or copy, N for a
    /// multipart upload, plus one per append (S3 Express refuses an append
    /// past 10,000 with `TooManyParts`; CopyObject resets it).
    pub parts: u32,
    /// The `x-amz-checksum-*` algorithm the object was written with, if
    /// any: an append with another one is refused.
    pub checksum: Option<super::ingest::Alg>,
    /// The full-object checksum, computed on the first GET or HEAD that
    /// asks for it (`x-amz-checksum-mode: ENABLED`): see
    /// [`Object::full_checksum`]. For a COMPOSITE multipart object, set at
    /// completion: the checksum of its parts' checksums.
    pub checksum_value: OnceLock<Vec<u8>>,
    /// 0, or the part count of a multipart object whose checksum is
    /// COMPOSITE (returned as `<value>-N`, `x-amz-checksum-type: COMPOSITE`).
    pub composite_parts: u32,
}

impl Object {
    pub(crate) fn chunks(&self, offset: u64, len: u64) -> SegmentChunks {
        SegmentChunks::new(self.segments.clone(), offset, len)
    }

    pub(crate) fn resident(&self) -> u64 {
        self.segments.iter().map(Segment::resident).sum()
    }

    /// The checksum GetObject and HeadObject return under
    /// `x-amz-checksum-mode: ENABLED`: a full-object one in the algorithm
    /// the object was written with, else CRC64NVME, which S3 adds to every
    /// object uploaded without one. Computed once per object version, on
    /// first ask (synthetic bodies from the per-length cache), so a GET
    /// without checksum mode costs nothing and appends stay O(append).
    pub(crate) fn full_checksum(&self) -> (super::ingest::Alg, &[u8]) {
        let alg = self.checksum.unwrap_or(super::ingest::Alg::Crc64Nvme);
        let v = self
            .checksum_value
            .get_or_init(|| super::ingest::digest_segments(alg, &self.segments));
        (alg, v)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub segments: Vec<Segment>,
    pub len: u64,
    pub etag: String,
    /// Raw MD5 of the part (General Purpose buckets), for the multipart ETag.
    pub md5: Option<[u8; 16]>,
    /// The part's raw checksum in the upload's algorithm, if it has one.
    pub checksum: Option<Vec<u8>>,
    pub last_modified: SystemTime,
}

/// The checksum a multipart upload was created with
/// (`x-amz-checksum-algorithm`, `x-amz-checksum-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UploadChecksum {
    pub alg: super::ingest::Alg,
    /// COMPOSITE (a checksum of the parts' checksums), else FULL_OBJECT.
    pub composite: bool,
}

#[derive(Debug)]
pub(crate) struct Upload {
    pub key: String,
    pub content_type: Option<String>,
    pub metadata: Vec<(String, String)>,
    pub parts: BTreeMap<u32, Part>,
    pub checksum: Option<UploadChecksum>,
}

pub(crate) struct Bucket {
    pub name: String,
    pub kind: BucketKind,
    pub created: SystemTime,
    objects: RwLock<BTreeMap<String, Arc<Object>>>,
    uploads: Mutex<HashMap<String, Upload>>,
    /// Conditional writes in flight, by key: each flag is raised when
    /// another write to the key completes while that request's body is
    /// still arriving (its 409 ConditionalRequestConflict). Only keys with
    /// a request in flight are here, so the map stays small.
    watchers: Mutex<Watchers>,
    /// Entries in `watchers`, read without the lock on every write.
    watching: AtomicUsize,
    next_watch: AtomicU64,
    /// RenameObject idempotency tokens: token -> request fingerprint, the
    /// oldest dropped past [`MAX_CLIENT_TOKENS`].
    client_tokens: Mutex<(HashMap<String, String>, std::collections::VecDeque<String>)>,
}

/// Key -> (watch id, conflict flag) of the conditional writes in flight.
type Watchers = HashMap<String, Vec<(u64, Arc<AtomicBool>)>>;

/// RenameObject client tokens remembered per bucket.
pub(crate) const MAX_CLIENT_TOKENS: usize = 10_000;

/// A conditional write's registration on its key; dropping it deregisters.
pub(crate) struct Watch {
    bucket: Arc<Bucket>,
    key: String,
    id: u64,
    flag: Arc<AtomicBool>,
}

impl Watch {
    /// Whether another write to the key completed since the watch began.
    pub(crate) fn conflicted(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut w = self.bucket.watchers();
        if let Some(list) = w.get_mut(&self.key) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                w.remove(&self.key);
            }
        }
        self.bucket.watching.fetch_sub(1, Ordering::Release);
    }
}

/// The objects of a bucket, write-locked for one read-modify-write.
pub(crate) struct Locked<'a> {
    map: std::sync::RwLockWriteGuard<'a, BTreeMap<String, Arc<Object>>>,
    touched: Vec<String>,
}

impl Locked<'_> {
    pub(crate) fn get(&self, key: &str) -> Option<Arc<Object>> {
        self.map.get(key).cloned()
    }

    pub(crate) fn insert(&mut self, key: &str, obj: Object) -> Arc<Object> {
        let obj = Arc::new(obj);
        self.map.insert(key.to_string(), obj.clone());
        self.touched.push(key.to_string());
        obj
    }

    pub(crate) fn remove(&mut self, key: &str) -> Option<Arc<Object>> {
        let o = self.map.remove(key);
        if o.is_some() {
            self.touched.push(key.to_string());
        }
        o
    }
}

/// Storage held by a bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Objects stored.
    pub objects: usize,
    /// Sum of object lengths.
    pub logical_bytes: u64,
    /// Heap bytes held for object and in-progress part content; synthetic
    /// content costs nothing here.
    pub resident_bytes: u64,
}

/// Request parameters of a listing.
#[derive(Debug, Default)]
pub(crate) struct ListQuery<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub max_keys: usize,
    pub start_after: Option<&'a str>,
    pub continuation_token: Option<&'a str>,
}

#[derive(Debug, Default)]
pub(crate) struct ListPage {
    pub contents: Vec<(String, Arc<Object>)>,
    pub common_prefixes: Vec<String>,
    pub next_token: Option<String>,
    /// The page's last entry (key or common prefix) in listing order.
    pub last: Option<String>,
}

impl ListPage {
    pub(crate) fn last_name(&self) -> Option<String> {
        self.last.clone()
    }
}

enum Entry {
    Key(String, Arc<Object>),
    Prefix(String),
}

impl Entry {
    fn name(&self) -> &str {
        match self {
            Entry::Key(k, _) | Entry::Prefix(k) => k,
        }
    }
}

/// Order of directory-bucket listings: a stable 64-bit mix of the name.
fn dir_order(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // splitmix64 finaliser, so similar keys land far apart.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

fn bad_token() -> S3Error {
    S3Error::invalid_argument("The continuation token provided is incorrect.")
}

fn encode_token(kind: BucketKind, name: &str) -> String {
    let mut raw = Vec::with_capacity(name.len() + 9);
    match kind {
        BucketKind::GeneralPurpose => raw.push(b'g'),
        BucketKind::Directory => {
            raw.push(b'd');
            raw.extend_from_slice(&dir_order(name).to_be_bytes());
        }
    }
    raw.extend_from_slice(name.as_bytes());
    URL_SAFE_NO_PAD.encode(raw)
}

/// The name of the last entry a token points after.
fn decode_token(kind: BucketKind, token: &str) -> Result<(u64, String), S3Error> {
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad_token())?;
    let (order, name) = match (kind, raw.first()) {
        (BucketKind::GeneralPurpose, Some(b'g')) => (0, &raw[1..]),
        (BucketKind::Directory, Some(b'd')) if raw.len() >= 9 => {
            let mut o = [0u8; 8];
            o.copy_from_slice(&raw[1..9]);
            (u64::from_be_bytes(o), &raw[9..])
        }
        _ => return Err(bad_token()),
    };
    let name = String::from_utf8(name.to_vec()).map_err(|_| bad_token())?;
    Ok((order, name))
}

impl Bucket {
    pub(crate) fn new(name: &str, kind: BucketKind) -> Bucket {
        Bucket {
            name: name.to_string(),
            kind,
            created: SystemTime::now(),
            objects: RwLock::default(),
            uploads: Mutex::default(),
            watchers: Mutex::default(),
            watching: AtomicUsize::new(0),
            next_watch: AtomicU64::new(0),
            client_tokens: Mutex::default(),
        }
    }

    fn watchers(&self) -> std::sync::MutexGuard<'_, Watchers> {
        self.watchers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a conditional write on `key` before its body is read.
    pub(crate) fn watch(self: &Arc<Self>, key: &str) -> Watch {
        let id = self.next_watch.fetch_add(1, Ordering::Relaxed);
        let flag = Arc::new(AtomicBool::new(false));
        // Counted before it is visible, so a writer that sees the entry
        // never misses it through a stale count.
        self.watching.fetch_add(1, Ordering::AcqRel);
        self.watchers()
            .entry(key.to_string())
            .or_default()
            .push((id, flag.clone()));
        Watch {
            bucket: self.clone(),
            key: key.to_string(),
            id,
            flag,
        }
    }

    /// Raises the flags of every conditional write watching `keys`, except
    /// `own` (the request that made the change). Called with the objects
    /// lock held, so a flag is raised before the next writer checks it.
    fn notify(&self, keys: &[String], own: Option<&Watch>) {
        if self.watching.load(Ordering::Acquire) == 0 {
            return;
        }
        let w = self.watchers();
        for k in keys {
            for (id, flag) in w.get(k).into_iter().flatten() {
                if own.is_none_or(|o| o.id != *id) {
                    flag.store(true, Ordering::Release);
                }
            }
        }
    }

    /// Runs `f` with the objects write-locked: a check and the change it
    /// allows happen as one step, which is what makes conditional writes,
    /// appends and renames linearizable. Conditional writes watching the
    /// keys `f` changed are told, except `own`.
    pub(crate) fn update<R>(
        &self,
        own: Option<&Watch>,
        f: impl FnOnce(&mut Locked<'_>) -> Result<R, super::error::S3Error>,
    ) -> Result<R, super::error::S3Error> {
        let mut l = Locked {
            map: self.objects_write(),
            touched: Vec::new(),
        };
        let r = f(&mut l);
        let touched = std::mem::take(&mut l.touched);
        self.notify(&touched, own);
        drop(l);
        r
    }

    /// Remembers a RenameObject client token with its request fingerprint:
    /// `Ok(true)` if it was new, `Ok(false)` if it was seen with the same
    /// fingerprint (a retry), an error if seen with another.
    pub(crate) fn client_token(
        &self,
        token: &str,
        fingerprint: &str,
    ) -> Result<bool, super::error::S3Error> {
        let mut guard = self.client_tokens.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *guard;
        if let Some(f) = map.get(token) {
            if f == fingerprint {
                return Ok(false);
            }
            return Err(super::error::S3Error::new(
                400,
                "IdempotencyParameterMismatch",
                "The client token was already used with different request parameters.",
            ));
        }
        map.insert(token.to_string(), fingerprint.to_string());
        order.push_back(token.to_string());
        while order.len() > MAX_CLIENT_TOKENS {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
        Ok(true)
    }

    /// Forgets a token whose request failed, so a retry runs again.
    pub(crate) fn forget_client_token(&self, token: &str) {
        let mut guard = self.client_tokens.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *guard;
        if map.remove(token).is_some() {
            order.retain(|t| t != token);
        }
    }

    fn objects_read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Object>>> {
        self.objects.read().unwrap_or_else(|e| e.into_inner())
    }

    fn objects_write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Object>>> {
        self.objects.write().unwrap_or_else(|e| e.into_inner())
    }

    fn uploads(&self) -> std::sync::MutexGuard<'_, HashMap<String, Upload>> {
        self.uploads.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get(&self, key: &str) -> Option<Arc<Object>> {
        self.objects_read().get(key).cloned()
    }

    pub(crate) fn put(&self, key: &str, obj: Object) -> Arc<Object> {
        let obj = Arc::new(obj);
        let mut map = self.objects_write();
        map.insert(key.to_string(), obj.clone());
        self.notify(&[key.to_string()], None);
        drop(map);
        obj
    }

    pub(crate) fn delete(&self, key: &str) -> bool {
        let mut map = self.objects_write();
        let gone = map.remove(key).is_some();
        if gone {
            self.notify(&[key.to_string()], None);
        }
        drop(map);
        gone
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.objects_read().is_empty()
    }

    pub(crate) fn object_count(&self) -> usize {
        self.objects_read().len()
    }

    pub(crate) fn storage(&self) -> StorageStats {
        let objects = self.objects_read();
        let mut s = StorageStats {
            objects: objects.len(),
            ..StorageStats::default()
        };
        for o in objects.values() {
            s.logical_bytes += o.len;
            s.resident_bytes += o.resident();
        }
        drop(objects);
        for u in self.uploads().values() {
            for p in u.parts.values() {
                s.resident_bytes += p.segments.iter().map(Segment::resident).sum::<u64>();
            }
        }
        s
    }

    /// One page of a ListObjectsV2 listing.
    pub(crate) fn list(&self, q: &ListQuery<'_>) -> Result<ListPage, S3Error> {
        match self.kind {
            BucketKind::GeneralPurpose => self.list_lexicographic(q),
            BucketKind::Directory => self.list_directory(q),
        }
    }

    /// Walks keys under the prefix in key order from `lower`, rolling keys up
    /// into common prefixes, until `f` returns false.
    fn walk(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        mut lower: Bound<String>,
        skip_prefix: Option<&str>,
        mut f: impl FnMut(Entry) -> bool,
    ) {
        let objects = self.objects_read();
        let mut last_prefix: Option<String> = skip_prefix.map(str::to_string);
        'seek: loop {
            let range = objects.range::<String, _>((lower.clone(), Bound::Unbounded));
            for (k, obj) in range {
                if !k.starts_with(prefix) {
                    break 'seek;
                }
                let rolled = delimiter.filter(|d| !d.is_empty()).and_then(|d| {
                    k[prefix.len()..]
                        .find(d)
                        .map(|pos| &k[..prefix.len() + pos + d.len()])
                });
                let Some(cp) = rolled else {
                    if !f(Entry::Key(k.clone(), obj.clone())) {
                        break 'seek;
                    }
                    continue;
                };
                if last_prefix.as_deref() != Some(cp) {
                    if !f(Entry::Prefix(cp.to_string())) {
                        break 'seek;
                    }
                    last_prefix = Some(cp.to_string());
                }
                // Jump past every key under this common prefix.
                lower = Bound::Excluded(format!("{cp}\u{10FFFF}"));
                continue 'seek;
            }
            break;
        }
    }

    fn list_lexicographic(&self, q: &ListQuery<'_>) -> Result<ListPage, S3Error> {
        let token = q
            .continuation_token
            .map(|t| decode_token(BucketKind::GeneralPurpose, t).map(|(_, n)| n))
            .transpose()?;
        let start = token.clone().or_else(|| q.start_after.map(str::to_string));
        let lower = match start {
            Some(s) if s.as_str() >= q.prefix => Bound::Excluded(s),
            _ => Bound::Included(q.prefix.to_string()),
        };
        let mut entries = Vec::new();
        if q.max_keys > 0 {
            self.walk(q.prefix, q.delimiter, lower, token.as_deref(), |e| {
                entries.push(e);
                entries.len() <= q.max_keys
            });
        }
        Ok(page(entries, q.max_keys, BucketKind::GeneralPurpose))
    }

    /// ListObjects v1: lexicographic, after `start_after` (the marker),
    /// which may be a common prefix of the previous page: its keys are
    /// skipped, not rolled up into it again.
    pub(crate) fn list_marker(&self, q: &ListQuery<'_>) -> Result<ListPage, S3Error> {
        let lower = match q.start_after {
            Some(s) if s >= q.prefix => Bound::Excluded(s.to_string()),
            _ => Bound::Included(q.prefix.to_string()),
        };
        let mut entries = Vec::new();
        if q.max_keys > 0 {
            self.walk(q.prefix, q.delimiter, lower, q.start_after, |e| {
                entries.push(e);
                entries.len() <= q.max_keys
            });
        }
        Ok(page(entries, q.max_keys, BucketKind::GeneralPurpose))
    }

    fn list_directory(&self, q: &ListQuery<'_>) -> Result<ListPage, S3Error> {
        if let Some(d) = q.delimiter {
            if d != "/" {
                return Err(S3Error::invalid_argument(
                    "Directory buckets support only '/' as the delimiter.",
                ));
            }
            if !q.prefix.is_empty() && !q.prefix.ends_with('/') {
                return Err(S3Error::invalid_argument(
                    "In a directory bucket, a prefix used with a delimiter must end in '/'.",
                ));
            }
        }
        if q.start_after.is_some_and(|s| !s.is_empty()) {
            return Err(S3Error::invalid_argument(
                "StartAfter is not supported for directory buckets.",
            ));
        }
        let after = q
            .continuation_token
            .map(|t| decode_token(BucketKind::Directory, t))
            .transpose()?;
        if q.max_keys == 0 {
            return Ok(ListPage::default());
        }
        // Keep the max_keys + 1 smallest (order, name) after the token: a
        // bounded max-heap, so a page costs O(n log k), not a full sort.
        struct Ranked(u64, Entry);
        impl PartialEq for Ranked {
            fn eq(&self, o: &Self) -> bool {
                self.0 == o.0 && self.1.name() == o.1.name()
            }
        }
        impl Eq for Ranked {}
        impl PartialOrd for Ranked {
            fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(o))
            }
        }
        impl Ord for Ranked {
            fn cmp(&self, o: &Self) -> std::cmp::Ordering {
                (self.0, self.1.name()).cmp(&(o.0, o.1.name()))
            }
        }
        let mut heap: BinaryHeap<Ranked> = BinaryHeap::with_capacity(q.max_keys + 2);
        self.walk(
            q.prefix,
            q.delimiter,
            Bound::Included(q.prefix.to_string()),
            None,
            |e| {
                let r = Ranked(dir_order(e.name()), e);
                let past_token = after
                    .as_ref()
                    .is_none_or(|(o, n)| (r.0, r.1.name()) > (*o, n.as_str()));
                if past_token {
                    heap.push(r);
                    if heap.len() > q.max_keys + 1 {
                        heap.pop();
                    }
                }
                true
            },
        );
        let entries = heap.into_sorted_vec().into_iter().map(|r| r.1).collect();
        Ok(page(entries, q.max_keys, BucketKind::Directory))
    }

    pub(crate) fn create_upload(&self, upload: Upload) -> String {
        let id = random_string(32, UPPER_ALNUM);
        self.uploads().insert(id.clone(), upload);
        id
    }

    pub(crate) fn put_part(&self, upload_id: &str, number: u32, part: Part) -> Result<(), S3Error> {
        let mut uploads = self.uploads();
        let upload = uploads
            .get_mut(upload_id)
            .ok_or_else(|| S3Error::no_such_upload(upload_id))?;
        upload.parts.insert(number, part);
        Ok(())
    }

    pub(crate) fn upload_key(&self, upload_id: &str) -> Option<String> {
        self.uploads().get(upload_id).map(|u| u.key.clone())
    }

    pub(crate) fn upload_checksum(&self, upload_id: &str) -> Option<UploadChecksum> {
        self.uploads().get(upload_id).and_then(|u| u.checksum)
    }

    pub(crate) fn abort_upload(&self, upload_id: &str) -> Result<(), S3Error> {
        self.uploads()
            .remove(upload_id)
            .map(|_| ())
            .ok_or_else(|| S3Error::no_such_upload(upload_id))
    }

    /// Parts of an upload (number, part) in order.
    pub(crate) fn list_parts(
        &self,
        upload_id: &str,
    ) -> Result<(String, Vec<(u32, Part)>), S3Error> {
        let uploads = self.uploads();
        let u = uploads
            .get(upload_id)
            .ok_or_else(|| S3Error::no_such_upload(upload_id))?;
        Ok((
            u.key.clone(),
            u.parts.iter().map(|(n, p)| (*n, p.clone())).collect(),
        ))
    }

    /// Validates the client's part list and assembles the object. The
    /// upload stays in place when the list is wrong, as in S3.
    pub(crate) fn complete_upload(
        &self,
        upload_id: &str,
        key: &str,
        requested: &[super::xml::CompletedPart],
        now: SystemTime,
    ) -> Result<(Object, Vec<Part>), S3Error> {
        let mut uploads = self.uploads();
        let upload = uploads
            .get(upload_id)
            .ok_or_else(|| S3Error::no_such_upload(upload_id))?;
        if upload.key != key {
            return Err(S3Error::no_such_upload(upload_id));
        }
        if requested.is_empty() {
            return Err(S3Error::malformed_xml(
                "The CompleteMultipartUpload request must name at least one part.",
            ));
        }
        let mut chosen = Vec::with_capacity(requested.len());
        let mut prev = 0u32;
        for (i, req) in requested.iter().enumerate() {
            let (number, etag) = (&req.part_number, &req.etag);
            if *number <= prev {
                return Err(S3Error::new(
                    400,
                    "InvalidPartOrder",
                    "The list of parts was not in ascending order by part number.",
                ));
            }
            prev = *number;
            let part = upload
                .parts
                .get(number)
                .ok_or_else(|| invalid_part(*number))?;
            if let Some(etag) = etag
                && etag.trim_matches('"') != part.etag.trim_matches('"')
            {
                return Err(invalid_part(*number));
            }
            // A COMPOSITE upload names each part's checksum in the
            // complete request (S3's message when one is missing); a
            // FULL_OBJECT one may. A named one must be the part's.
            if let Some(c) = upload.checksum {
                match req.checksum(c.alg) {
                    None if c.composite => {
                        return Err(S3Error::invalid_request(format!(
                            "The upload was created using a {} checksum. The complete request must include the checksum for each part. It was missing for part {number} in the request.",
                            c.alg.name()
                        )));
                    }
                    None => {}
                    Some(sent) => {
                        let stored = part.checksum.as_deref().map(|v| STANDARD.encode(v));
                        if stored.as_deref() != Some(sent) {
                            return Err(invalid_part(*number));
                        }
                    }
                }
            }
            if i + 1 < requested.len() && part.len < MIN_PART_SIZE {
                return Err(S3Error::new(
                    400,
                    "EntityTooSmall",
                    format!(
                        "Part {number} is smaller than the 5 MiB minimum for all but the last part."
                    ),
                ));
            }
            chosen.push(part.clone());
        }
        let upload = uploads
            .remove(upload_id)
            .ok_or_else(|| S3Error::no_such_upload(upload_id))?;
        drop(uploads);
        let segments: Vec<Segment> = chosen
            .iter()
            .flat_map(|p| p.segments.iter().cloned())
            .collect();
        // COMPOSITE: the checksum of the parts' raw checksums, `-N`;
        // FULL_OBJECT: over the whole object, computed when asked for.
        let checksum_value = OnceLock::new();
        let mut composite_parts = 0;
        if let Some(c) = upload.checksum.filter(|c| c.composite) {
            let joined: Vec<u8> = chosen
                .iter()
                .flat_map(|p| p.checksum.iter().flatten().copied())
                .collect();
            let _ = checksum_value.set(super::ingest::digest_segments(
                c.alg,
                &[Segment::Bytes(joined.into())],
            ));
            composite_parts = chosen.len() as u32;
        }
        let obj = Object {
            parts: chosen.len() as u32,
            len: chosen.iter().map(|p| p.len).sum(),
            segments: segments.into(),
            etag: String::new(),
            last_modified: now,
            content_type: upload.content_type,
            metadata: upload.metadata,
            checksum: upload.checksum.map(|c| c.alg),
            checksum_value,
            composite_parts,
        };
        Ok((obj, chosen))
    }
}

fn invalid_part(number: u32) -> S3Error {
    S3Error::new(
        400,
        "InvalidPart",
        format!("Part {number} was not uploaded or its ETag does not match."),
    )
}

fn page(mut entries: Vec<Entry>, max_keys: usize, kind: BucketKind) -> ListPage {
    let truncated = entries.len() > max_keys;
    entries.truncate(max_keys);
    let next_token = if truncated {
        entries.last().map(|e| encode_token(kind, e.name()))
    } else {
        None
    };
    let mut page = ListPage {
        next_token,
        last: entries.last().map(|e| e.name().to_string()),
        ..ListPage::default()
    };
    for e in entries {
        match e {
            Entry::Key(k, o) => page.contents.push((k, o)),
            Entry::Prefix(p) => page.common_prefixes.push(p),
        }
    }
    page
}

/// Why a bucket name is invalid, or its kind: the rules the scenario's
/// validation uses too (one place, `crate::s3::bucket`).
pub(crate) fn classify_bucket_name(name: &str) -> Result<BucketKind, String> {
    crate::s3::bucket::classify(name)
}

#[derive(Default)]
pub(crate) struct Store {
    buckets: RwLock<HashMap<String, Arc<Bucket>>>,
}

impl Store {
    pub(crate) fn get(&self, name: &str) -> Option<Arc<Bucket>> {
        self.buckets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    pub(crate) fn create(&self, name: &str) -> Result<Arc<Bucket>, S3Error> {
        let kind =
            classify_bucket_name(name).map_err(|m| S3Error::new(400, "InvalidBucketName", m))?;
        let mut map = self.buckets.write().unwrap_or_else(|e| e.into_inner());
        if map.contains_key(name) {
            return Err(S3Error::new(
                409,
                "BucketAlreadyOwnedByYou",
                format!("The bucket {name} already exists and is owned by you."),
            ));
        }
        let b = Arc::new(Bucket::new(name, kind));
        map.insert(name.to_string(), b.clone());
        Ok(b)
    }

    pub(crate) fn delete(&self, name: &str) -> Result<(), S3Error> {
        let mut map = self.buckets.write().unwrap_or_else(|e| e.into_inner());
        let b = map.get(name).ok_or_else(|| S3Error::no_such_bucket(name))?;
        if !b.is_empty() {
            return Err(S3Error::new(
                409,
                "BucketNotEmpty",
                format!("The bucket {name} is not empty; delete its objects first."),
            ));
        }
        map.remove(name);
        Ok(())
    }

    pub(crate) fn all(&self) -> Vec<Arc<Bucket>> {
        let mut v: Vec<_> = self
            .buckets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn obj(len: u64) -> Object {
        Object {
            segments: vec![Segment::Synthetic { offset: 0, len }].into(),
            len,
            etag: "\"x\"".into(),
            last_modified: SystemTime::now(),
            content_type: None,
            metadata: vec![],
            parts: 1,
            checksum: None,
            checksum_value: OnceLock::new(),
            composite_parts: 0,
        }
    }

    fn bucket(kind: BucketKind, keys: &[&str]) -> Bucket {
        let b = Bucket::new("b", kind);
        for k in keys {
            b.put(k, obj(1));
        }
        b
    }

    /// Every page of a listing, concatenated as (keys, prefixes).
    fn list_all(
        b: &Bucket,
        prefix: &str,
        delim: Option<&str>,
        max: usize,
    ) -> (Vec<String>, Vec<String>) {
        let (mut keys, mut prefixes) = (vec![], vec![]);
        let mut token: Option<String> = None;
        for _ in 0..1000 {
            let page = b
                .list(&ListQuery {
                    prefix,
                    delimiter: delim,
                    max_keys: max,
                    start_after: None,
                    continuation_token: token.as_deref(),
                })
                .unwrap();
            assert!(page.contents.len() + page.common_prefixes.len() <= max);
            keys.extend(page.contents.into_iter().map(|(k, _)| k));
            prefixes.extend(page.common_prefixes);
            token = page.next_token;
            if token.is_none() {
                return (keys, prefixes);
            }
        }
        panic!("listing did not end");
    }

    const KEYS: &[&str] = &["a", "a/1", "a/2", "a/b/3", "b/1", "b0", "c/d/e", "c/x", "z"];

    #[test]
    fn general_purpose_listing_is_sorted_and_pages_cleanly() {
        let b = bucket(BucketKind::GeneralPurpose, KEYS);
        for max in 1..5 {
            let (keys, prefixes) = list_all(&b, "", Some("/"), max);
            assert_eq!(keys, ["a", "b0", "z"], "max {max}");
            assert_eq!(prefixes, ["a/", "b/", "c/"]);
            let (keys, _) = list_all(&b, "a/", None, max);
            assert_eq!(keys, ["a/1", "a/2", "a/b/3"]);
            let (keys, prefixes) = list_all(&b, "a/", Some("/"), max);
            assert_eq!(
                (keys, prefixes),
                (
                    vec!["a/1".to_string(), "a/2".into()],
                    vec!["a/b/".to_string()]
                )
            );
        }
        let page = b
            .list(&ListQuery {
                prefix: "",
                max_keys: 100,
                start_after: Some("a/2"),
                ..ListQuery::default()
            })
            .unwrap();
        assert_eq!(page.contents[0].0, "a/b/3");
    }

    #[test]
    fn directory_listing_is_unsorted_but_complete_across_pages() {
        let keys: Vec<String> = (0..200).map(|i| format!("d{}/k{i:03}", i % 7)).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let b = bucket(BucketKind::Directory, &refs);
        for max in [1, 7, 50, 1000] {
            let (got, prefixes) = list_all(&b, "", None, max);
            assert!(prefixes.is_empty());
            assert_eq!(got.len(), keys.len(), "max {max}");
            let set: HashSet<_> = got.iter().collect();
            assert_eq!(set.len(), keys.len(), "duplicates at max {max}");
            let mut sorted = got.clone();
            sorted.sort();
            assert_ne!(
                got, sorted,
                "a directory listing should not come out sorted"
            );
            let (_, prefixes) = list_all(&b, "", Some("/"), max);
            let set: HashSet<_> = prefixes.iter().collect();
            assert_eq!((prefixes.len(), set.len()), (7, 7));
        }
    }

    #[test]
    fn directory_listing_rules() {
        let b = bucket(BucketKind::Directory, KEYS);
        let q = |prefix, delimiter| ListQuery {
            prefix,
            delimiter,
            max_keys: 10,
            ..ListQuery::default()
        };
        assert_eq!(
            b.list(&q("a", Some("/"))).unwrap_err().code,
            "InvalidArgument"
        );
        assert_eq!(
            b.list(&q("", Some("-"))).unwrap_err().code,
            "InvalidArgument"
        );
        assert!(b.list(&q("a", None)).is_ok());
        assert!(b.list(&q("a/", Some("/"))).is_ok());
    }

    #[test]
    fn tokens_do_not_cross_bucket_kinds() {
        let t = encode_token(BucketKind::GeneralPurpose, "k");
        assert!(decode_token(BucketKind::Directory, &t).is_err());
        assert!(decode_token(BucketKind::GeneralPurpose, "!!!").is_err());
        assert_eq!(decode_token(BucketKind::GeneralPurpose, &t).unwrap().1, "k");
    }

    #[test]
    fn segment_slices_and_chunks_are_byte_exact() {
        let real = Bytes::from((0..3000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
        let segs: Vec<Segment> = vec![
            Segment::Synthetic {
                offset: 0,
                len: synthetic::PERIOD as u64 + 100,
            },
            Segment::Bytes(real.clone()),
            Segment::Synthetic { offset: 5, len: 10 },
        ];
        let total: u64 = segs.iter().map(Segment::len).sum();
        let flat: Vec<u8> = SegmentChunks::new(segs.clone().into(), 0, total)
            .flatten()
            .collect();
        assert_eq!(flat.len() as u64, total);
        assert!(synthetic::matches(0, &flat[..synthetic::PERIOD + 100]));
        for (off, len) in [
            (0u64, total),
            (17, 5000),
            (synthetic::PERIOD as u64 + 50, 3060),
            (total - 3, 3),
        ] {
            let got: Vec<u8> = SegmentChunks::new(segs.clone().into(), off, len)
                .flatten()
                .collect();
            assert_eq!(
                got,
                flat[off as usize..(off + len) as usize],
                "chunks {off}+{len}"
            );
            let sliced = slice_segments(&segs, off, len);
            let got2: Vec<u8> = SegmentChunks::new(sliced.into(), 0, len)
                .flatten()
                .collect();
            assert_eq!(got2, got, "slice {off}+{len}");
        }
    }

    #[test]
    fn bucket_names() {
        assert_eq!(
            classify_bucket_name("bench--use1-az4--x-s3"),
            Ok(BucketKind::Directory)
        );
        assert_eq!(
            classify_bucket_name("my.bucket-1"),
            Ok(BucketKind::GeneralPurpose)
        );
        for bad in [
            "ab",
            "Upper",
            "-x-",
            "a..b",
            "192.168.1.1",
            "x--x-s3",
            "b--nope--x-s3",
            "B--use1-az4--x-s3",
            "xn--abc",
        ] {
            assert!(classify_bucket_name(bad).is_err(), "{bad}");
        }
    }
}
