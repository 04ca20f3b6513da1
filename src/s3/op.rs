//! The op vocabulary: every operation s3bench can put in a phase's mix, in
//! one table. The scenario file's name (`ranged-get`), the key of the JSON
//! result and report (`ranged_get`), the order of report rows and the
//! recorder's slot index all come from the table below, and so does what S3
//! bills a request of the op as (its request tier and which way its payload
//! moves): a row without them does not compile, so a new op cannot be
//! priced by accident. Adding an op is one line here plus its implementation
//! (see docs/architecture.md).

use std::fmt;

/// The request tier S3 bills a request in (S3 pricing page; prices as data
/// in `pricing/s3.toml`, the same tiers for General Purpose and directory
/// buckets at different prices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BillingTier {
    /// PUT, COPY, POST and LIST requests (`tier1` of the price list):
    /// PutObject, the requests of a multipart upload, CopyObject,
    /// ListObjectsV2, DeleteObjects (a POST), and the directory-bucket
    /// append and RenameObject, which S3 bills as PUTs.
    PutCopyPostList,
    /// GET, HEAD and all other requests (`tier2` of the price list).
    GetAndOther,
    /// DELETE requests: free (`delete_free` in the price list).
    Delete,
}

/// Which way an op's payload bytes move, for the per-GB charges of S3
/// Express One Zone (upload and retrieval; General Purpose has none for
/// in-region transfer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transfer {
    /// The request body carries the payload (client to S3).
    Upload,
    /// The response body carries the payload (S3 to client).
    Download,
    /// No payload crosses the network (metadata, listings, server-side copies).
    None,
}

macro_rules! op_vocabulary {
    ($( $(#[$doc:meta])* $variant:ident => $key:literal, $scenario:literal,
        reads_body: $body:literal, billed: $tier:ident, transfer: $transfer:ident; )+) => {
        /// An operation of a phase's mix, as scheduled, recorded and reported.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum OpKind {
            $( $(#[$doc])* $variant, )+
        }

        impl OpKind {
            /// Every op, in report order (the order of this table).
            pub const ALL: &'static [OpKind] = &[$(OpKind::$variant),+];
            /// Number of ops: the size of every per-op array.
            pub const COUNT: usize = Self::ALL.len();

            /// Key in result.json and the report (`ranged_get`).
            pub const fn key(self) -> &'static str {
                match self { $(OpKind::$variant => $key,)+ }
            }

            /// Name in a scenario file's `mix` (`ranged-get`).
            pub const fn scenario_name(self) -> &'static str {
                match self { $(OpKind::$variant => $scenario,)+ }
            }

            /// True for ops whose response body is the payload, so time to
            /// first byte means something (GET-like ops).
            pub const fn reads_body(self) -> bool {
                match self { $(OpKind::$variant => $body,)+ }
            }

            /// The tier S3 bills each HTTP request of this op in.
            pub const fn billing_tier(self) -> BillingTier {
                match self { $(OpKind::$variant => BillingTier::$tier,)+ }
            }

            /// Which way the op's payload moves (for per-GB charges).
            pub const fn transfer(self) -> Transfer {
                match self { $(OpKind::$variant => Transfer::$transfer,)+ }
            }
        }
    };
}

op_vocabulary! {
    /// GetObject of a whole object of the data set.
    Get => "get", "get", reads_body: true, billed: GetAndOther, transfer: Download;
    /// GetObject with a Range header.
    RangedGet => "ranged_get", "ranged-get", reads_body: true, billed: GetAndOther, transfer: Download;
    /// PutObject of a new object under the run prefix.
    Put => "put", "put", reads_body: false, billed: PutCopyPostList, transfer: Upload;
    /// CreateMultipartUpload, UploadPart..., CompleteMultipartUpload.
    MultipartPut => "multipart_put", "multipart-put", reads_body: false, billed: PutCopyPostList, transfer: Upload;
    /// HeadObject.
    Head => "head", "head", reads_body: false, billed: GetAndOther, transfer: None;
    /// One ListObjectsV2 page.
    List => "list", "list", reads_body: false, billed: PutCopyPostList, transfer: None;
    /// DeleteObject of an object this run wrote.
    Delete => "delete", "delete", reads_body: false, billed: Delete, transfer: None;
    /// PutObject with `x-amz-write-offset-bytes` = the object's current size
    /// (directory buckets), on an object this worker owns.
    Append => "append", "append", reads_body: false, billed: PutCopyPostList, transfer: Upload;
    /// RenameObject (directory buckets) of a checkpoint this worker wrote
    /// under a temporary key, into its final key.
    Rename => "rename", "rename", reads_body: false, billed: PutCopyPostList, transfer: None;
    /// PutObject with `If-None-Match: *` (create-only) or `If-Match: <etag>`
    /// (compare-and-swap) on a key shared by `contention` workers.
    ConditionalPut => "conditional_put", "conditional-put", reads_body: false, billed: PutCopyPostList, transfer: Upload;
    /// CopyObject of an object of the data set to a key under the run prefix.
    Copy => "copy", "copy", reads_body: false, billed: PutCopyPostList, transfer: None;
}

impl OpKind {
    /// Slot of this op in per-op arrays (`0..COUNT`).
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The op in slot `i`, if any.
    pub fn from_index(i: usize) -> Option<OpKind> {
        Self::ALL.get(i).copied()
    }

    /// The op whose result key is `key`.
    pub fn from_key(key: &str) -> Option<OpKind> {
        Self::ALL.iter().copied().find(|o| o.key() == key)
    }

    /// The op a scenario file names `name`.
    pub fn from_scenario_name(name: &str) -> Option<OpKind> {
        Self::ALL
            .iter()
            .copied()
            .find(|o| o.scenario_name() == name)
    }

    /// Scenario names joined for an error message: "`get`, `ranged-get`, ...".
    pub fn scenario_names() -> String {
        Self::ALL
            .iter()
            .map(|o| format!("`{}`", o.scenario_name()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Sort position of a result key: table order, unknown keys last.
    pub fn report_rank(key: &str) -> usize {
        Self::from_key(key).map_or(Self::COUNT, OpKind::index)
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl<'de> serde::Deserialize<'de> for OpKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        OpKind::from_scenario_name(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown op `{s}`, expected one of {}",
                OpKind::scenario_names()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_names_and_keys_agree() {
        for (i, op) in OpKind::ALL.iter().enumerate() {
            assert_eq!(op.index(), i);
            assert_eq!(OpKind::from_index(i), Some(*op));
            assert_eq!(OpKind::from_key(op.key()), Some(*op));
            assert_eq!(OpKind::from_scenario_name(op.scenario_name()), Some(*op));
            // The file spells words with '-', the JSON with '_'.
            assert_eq!(op.scenario_name().replace('-', "_"), op.key());
        }
        assert_eq!(OpKind::report_rank("nope"), OpKind::COUNT);
    }

    /// Each op's tier as S3 bills it (S3-FACTS.md, prices): GET and HEAD
    /// share a tier; PUT, COPY, POST and LIST share the other, and append
    /// and RenameObject are billed as PUTs; DELETE is free.
    #[test]
    fn billing_follows_the_s3_price_list() {
        use BillingTier::*;
        let want = |op: OpKind| match op {
            OpKind::Get | OpKind::RangedGet => (GetAndOther, Transfer::Download),
            OpKind::Head => (GetAndOther, Transfer::None),
            OpKind::Put | OpKind::MultipartPut | OpKind::ConditionalPut | OpKind::Append => {
                (PutCopyPostList, Transfer::Upload)
            }
            OpKind::List | OpKind::Copy | OpKind::Rename => (PutCopyPostList, Transfer::None),
            OpKind::Delete => (Delete, Transfer::None),
        };
        for op in OpKind::ALL {
            assert_eq!((op.billing_tier(), op.transfer()), want(*op), "{op}");
            // A body read for TTFB is a payload downloaded.
            assert_eq!(op.reads_body(), op.transfer() == Transfer::Download, "{op}");
        }
    }
}
