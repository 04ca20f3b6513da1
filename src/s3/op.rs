//! The op vocabulary: every operation s3bench can put in a phase's mix, in
//! one table. The scenario file's name (`ranged-get`), the key of the JSON
//! result and report (`ranged_get`), the order of report rows and the
//! recorder's slot index all come from the table below, so adding an op is
//! one line here plus its implementation (see docs/architecture.md).

use std::fmt;

macro_rules! op_vocabulary {
    ($( $(#[$doc:meta])* $variant:ident => $key:literal, $scenario:literal, reads_body: $body:literal; )+) => {
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
        }
    };
}

op_vocabulary! {
    /// GetObject of a whole object of the data set.
    Get => "get", "get", reads_body: true;
    /// GetObject with a Range header.
    RangedGet => "ranged_get", "ranged-get", reads_body: true;
    /// PutObject of a new object under the run prefix.
    Put => "put", "put", reads_body: false;
    /// CreateMultipartUpload, UploadPart..., CompleteMultipartUpload.
    MultipartPut => "multipart_put", "multipart-put", reads_body: false;
    /// HeadObject.
    Head => "head", "head", reads_body: false;
    /// One ListObjectsV2 page.
    List => "list", "list", reads_body: false;
    /// DeleteObject of an object this run wrote.
    Delete => "delete", "delete", reads_body: false;
    /// PutObject with `x-amz-write-offset-bytes` = the object's current size
    /// (directory buckets), on an object this worker owns.
    Append => "append", "append", reads_body: false;
    /// RenameObject (directory buckets) of a checkpoint this worker wrote
    /// under a temporary key, into its final key.
    Rename => "rename", "rename", reads_body: false;
    /// PutObject with `If-None-Match: *` (create-only) or `If-Match: <etag>`
    /// (compare-and-swap) on a key shared by `contention` workers.
    ConditionalPut => "conditional_put", "conditional-put", reads_body: false;
    /// CopyObject of an object of the data set to a key under the run prefix.
    Copy => "copy", "copy", reads_body: false;
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
}
