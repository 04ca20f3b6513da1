//! A data set that grows in time order: `put` with `key = "dataset"` adds
//! the data set's next objects (the key template, index after index), and
//! `get` with `newest = N` reads the newest of them, as an ingest or
//! log-writing job and its readers do. With a date or a sequence first in
//! the key template, both land at the end of the key space, the load a
//! General Purpose bucket cannot spread.

use toml::Spanned;

use super::plan::{Dataset, OpSpec};
use super::raw::{RawOp, RawPutKey};
use super::validate::Ctx;

/// Largest `newest` window (each engine thread remembers that many of its
/// newest objects per target).
pub const MAX_NEWEST: u64 = 65_536;

/// A `get`: uniform over the data set, or over its `newest` objects.
pub(super) fn get(cx: &mut Ctx<'_>, base: &str, o: &RawOp) -> Option<OpSpec> {
    match &o.newest {
        None => Some(OpSpec::Get),
        Some(n) => cx
            .int(n, &format!("{base}.newest"), 1, MAX_NEWEST as i64)
            .map(|w| OpSpec::GetNewest { window: w as u64 }),
    }
}

/// A `put` with `key = "dataset"`, or None when the key is `"scratch"`
/// (the caller's plain PUT).
pub(super) fn put_next(
    cx: &mut Ctx<'_>,
    base: &str,
    o: &RawOp,
    dataset: Option<&Dataset>,
) -> Option<Option<OpSpec>> {
    let key: &Spanned<RawPutKey> = o.key.as_ref()?;
    if *key.get_ref() == RawPutKey::Scratch {
        return None;
    }
    if let Some(s) = &o.size {
        cx.at(
            s,
            &format!("{base}.size"),
            "`size` does not apply with key = \"dataset\": the new objects take the data set's sizes",
        );
        return Some(None);
    }
    match dataset {
        None => {
            cx.at(
                key,
                &format!("{base}.key"),
                "expected a [dataset] table: key = \"dataset\" adds objects to the data set",
            );
            Some(None)
        }
        Some(d) if d.size.max() > crate::s3::limits::MAX_SINGLE_PUT => {
            cx.at(
                key,
                &format!("{base}.key"),
                "the data set's sizes reach over S3's largest single PUT (5 GiB): key = \"dataset\" PUTs whole objects",
            );
            Some(None)
        }
        Some(_) => Some(Some(OpSpec::PutNext)),
    }
}
