//! The op mix of a phase as configured, with each op's sizes, for the
//! result (`LoadShape::Stages::mix`): the report labels ops by what was
//! asked for ("GET 64 KiB - 1 MiB"), not by the mean size they moved.

use crate::report::model::{LoadShape, MixOp};
use crate::scenario::{OpSpec, Phase, SizeDist};
use crate::units::format_bytes;

/// "4 MiB", "64 KiB - 1 MiB", "1 KiB / 4 MiB / 16 MiB" (a weighted
/// choice of up to four sizes; more: their range).
pub fn describe_sizes(d: &SizeDist) -> String {
    match d {
        SizeDist::Fixed(n) => format_bytes(*n),
        SizeDist::Range { min, max } if min == max => format_bytes(*min),
        SizeDist::Range { min, max } => format!("{} - {}", format_bytes(*min), format_bytes(*max)),
        SizeDist::Weighted(items) => {
            let mut sizes: Vec<u64> = items.iter().map(|(s, _)| *s).collect();
            sizes.sort_unstable();
            sizes.dedup();
            match sizes.as_slice() {
                [] => "0 B".into(),
                s if s.len() <= 4 => s
                    .iter()
                    .map(|&n| format_bytes(n))
                    .collect::<Vec<_>>()
                    .join(" / "),
                [lo, .., hi] => format!("{} - {}", format_bytes(*lo), format_bytes(*hi)),
                [one] => format_bytes(*one),
            }
        }
    }
}

/// The sizes one op of the mix was configured with; `dataset` is the data
/// set's size distribution (what a GET, a copy or a PUT without its own
/// size moves). None for an op that moves no body.
fn op_size(op: &OpSpec, dataset: &SizeDist) -> Option<String> {
    let bytes = |n: u64| Some(format_bytes(n));
    match op {
        OpSpec::Get | OpSpec::GetNewest { .. } | OpSpec::Copy | OpSpec::PutNext => {
            Some(describe_sizes(dataset))
        }
        OpSpec::Put { size } => Some(describe_sizes(size.as_ref().unwrap_or(dataset))),
        OpSpec::RangedGet { size, .. } => bytes(*size),
        OpSpec::MultipartPut { size, part_size } => Some(format!(
            "{} in {} parts",
            format_bytes(*size),
            format_bytes(*part_size)
        )),
        OpSpec::Append { size, .. } | OpSpec::ConditionalPut { size, .. } => bytes(*size),
        OpSpec::Rename { size, .. } => Some(describe_sizes(size)),
        OpSpec::Head | OpSpec::List { .. } | OpSpec::Delete => None,
    }
}

/// `shape` with the phase's mix recorded (a stages phase; other shapes
/// are returned as they are).
pub fn with_mix(mut shape: LoadShape, phase: &Phase, dataset: &SizeDist) -> LoadShape {
    if let LoadShape::Stages { mix, .. } = &mut shape {
        *mix = phase
            .mix
            .iter()
            .map(|w| MixOp {
                op: w.op.kind().key().to_string(),
                weight: w.weight,
                size: op_size(&w.op, dataset),
            })
            .collect();
    }
    shape
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_described_as_configured() {
        let mib = 1 << 20;
        assert_eq!(describe_sizes(&SizeDist::Fixed(4 * mib)), "4 MiB");
        assert_eq!(
            describe_sizes(&SizeDist::Range {
                min: 64 << 10,
                max: mib
            }),
            "64 KiB - 1 MiB"
        );
        assert_eq!(
            describe_sizes(&SizeDist::Weighted(vec![(mib, 3), (1024, 1)])),
            "1 KiB / 1 MiB"
        );
        let many: Vec<(u64, u32)> = (1..=6).map(|i| (i * mib, 1)).collect();
        assert_eq!(describe_sizes(&SizeDist::Weighted(many)), "1 MiB - 6 MiB");
        let ds = SizeDist::Range {
            min: 64 << 10,
            max: mib,
        };
        assert_eq!(op_size(&OpSpec::Get, &ds).unwrap(), "64 KiB - 1 MiB");
        assert_eq!(
            op_size(
                &OpSpec::MultipartPut {
                    size: 32 * mib,
                    part_size: 8 * mib
                },
                &ds
            )
            .unwrap(),
            "32 MiB in 8 MiB parts"
        );
        assert_eq!(op_size(&OpSpec::Head, &ds), None);
        assert_eq!(
            op_size(&OpSpec::Put { size: None }, &ds).unwrap(),
            "64 KiB - 1 MiB"
        );
    }
}
