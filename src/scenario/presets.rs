//! MLPerf Storage's training workloads as loader settings, for `s3bench
//! whatif --preset NAME`: the batch size, compute time per batch, sample
//! size and pass mark of each DLIO workload config, cited by file and
//! commit. The shipped scenarios `mlperf-*.toml` carry the same values
//! (scaled where their comments say; a test checks they agree).
//!
//! `read_concurrency` and `prefetch` are s3bench's choices for object
//! storage, not MLPerf's: its `read_threads` are for file systems, and a
//! loader reading from S3 needs about latency x samples per second in flight.

use std::time::Duration;

use super::dataloader::SampleUnit;

/// One workload on one accelerator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preset {
    /// `unet3d-b200`, ...: `<workload>-<accelerator>`.
    pub name: &'static str,
    /// MLPerf Storage version whose configs these are.
    pub mlperf: &'static str,
    /// Samples per batch (`reader.batch_size`).
    pub batch_size: u32,
    /// Simulated compute per batch (`train.computation_time`).
    pub compute: Duration,
    /// Bytes of one sample (`dataset.record_length_bytes`).
    pub sample_bytes: u64,
    /// One object per sample, or records inside larger objects.
    pub sample: SampleUnit,
    /// Pass mark (`metric.au`).
    pub au: f64,
    /// Reads in flight per accelerator (s3bench's choice, see above).
    pub read_concurrency: u32,
    /// Batches read ahead (s3bench's choice).
    pub prefetch: u32,
    /// Where the values come from.
    pub source: &'static str,
}

const fn ms(micros: u64) -> Duration {
    Duration::from_micros(micros)
}

/// Every preset, MLPerf Storage v3.0 first.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "unet3d-b200",
        mlperf: "v3.0",
        batch_size: 7,
        compute: ms(162_000),
        sample_bytes: 146_600_628,
        sample: SampleUnit::Object,
        au: 0.90,
        read_concurrency: 16,
        prefetch: 2,
        source: "mlcommons/storage configs/dlio/workload/unet3d_b200.yaml @ 0d75b41708cf30b991186aa58c53890cb3b7956e",
    },
    Preset {
        name: "retinanet-b200",
        mlperf: "v3.0",
        batch_size: 24,
        compute: ms(47_550),
        sample_bytes: 322_957,
        sample: SampleUnit::Object,
        au: 0.85,
        read_concurrency: 32,
        prefetch: 2,
        source: "mlcommons/storage configs/dlio/workload/retinanet_b200.yaml @ 11460d004cc3127ba943a79cdc6fa0d9339eb7f8",
    },
    Preset {
        name: "retinanet-mi355",
        mlperf: "v3.0",
        batch_size: 32,
        compute: ms(63_400),
        sample_bytes: 322_957,
        sample: SampleUnit::Object,
        au: 0.85,
        read_concurrency: 32,
        prefetch: 2,
        source: "mlcommons/storage configs/dlio/workload/retinanet_mi355.yaml @ 76f45459b8a0ea67cffff896ae82af96cfcdab6c",
    },
    Preset {
        name: "unet3d-h100",
        mlperf: "v2.0",
        batch_size: 7,
        compute: ms(323_000),
        sample_bytes: 146_600_628,
        sample: SampleUnit::Object,
        au: 0.90,
        read_concurrency: 8,
        prefetch: 2,
        source: "mlcommons/storage configs/dlio/workload/unet3d_h100.yaml @ caa90c9c7d6a",
    },
    Preset {
        name: "unet3d-a100",
        mlperf: "v2.0",
        batch_size: 7,
        compute: ms(636_000),
        sample_bytes: 146_600_628,
        sample: SampleUnit::Object,
        au: 0.90,
        read_concurrency: 8,
        prefetch: 2,
        source: "mlcommons/storage configs/dlio/workload/unet3d_a100.yaml @ caa90c9c7d6a",
    },
    Preset {
        name: "resnet50-h100",
        mlperf: "v2.0",
        batch_size: 400,
        compute: ms(224_000),
        sample_bytes: 114_660,
        sample: SampleUnit::Record { size: 114_660 },
        au: 0.90,
        read_concurrency: 36,
        prefetch: 2,
        source: "mlcommons/storage configs/dlio/workload/resnet50_h100.yaml @ caa90c9c7d6a",
    },
    Preset {
        name: "resnet50-a100",
        mlperf: "v2.0",
        batch_size: 400,
        compute: ms(435_000),
        sample_bytes: 114_660,
        sample: SampleUnit::Record { size: 114_660 },
        au: 0.90,
        read_concurrency: 36,
        prefetch: 2,
        source: "mlcommons/storage configs/dlio/workload/resnet50_a100.yaml @ caa90c9c7d6a",
    },
    Preset {
        name: "cosmoflow-h100",
        mlperf: "v2.0",
        batch_size: 1,
        compute: ms(3_500),
        sample_bytes: 2_828_486,
        sample: SampleUnit::Object,
        au: 0.70,
        read_concurrency: 16,
        prefetch: 4,
        source: "mlcommons/storage configs/dlio/workload/cosmoflow_h100.yaml @ caa90c9c7d6a",
    },
    Preset {
        name: "cosmoflow-a100",
        mlperf: "v2.0",
        batch_size: 1,
        compute: ms(5_510),
        sample_bytes: 2_828_486,
        sample: SampleUnit::Object,
        au: 0.70,
        read_concurrency: 16,
        prefetch: 4,
        source: "mlcommons/storage configs/dlio/workload/cosmoflow_a100.yaml @ caa90c9c7d6a",
    },
];

/// The preset of that name (case-insensitive).
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name.trim()))
}

/// The names, for an error message.
pub fn names() -> String {
    PRESETS
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::load;

    /// The shipped scenarios carry each preset's values, scaled as their
    /// comments say (sizes and compute together, so one accelerator needs
    /// the same throughput).
    #[test]
    fn shipped_scenarios_agree_with_the_presets() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        // (file, preset, scale of compute, scale of batch)
        for (file, name, compute_scale, batch_scale) in [
            ("mlperf-v3-unet3d-b200.toml", "unet3d-b200", 16.0, 1),
            ("mlperf-v3-retinanet-b200.toml", "retinanet-b200", 1.0, 1),
            ("mlperf-unet3d.toml", "unet3d-h100", 16.0, 1),
            ("mlperf-resnet50.toml", "resnet50-h100", 10.0, 10),
            ("mlperf-cosmoflow.toml", "cosmoflow-h100", 1.0, 1),
        ] {
            let plan = load(&root.join(file)).unwrap();
            let l = plan.phases[0].loader.as_ref().unwrap();
            let p = preset(name).unwrap();
            assert_eq!(l.batch_size * batch_scale, p.batch_size, "{file}");
            let want = p.compute.as_secs_f64() / compute_scale;
            // mlperf-unet3d.toml rounds 323 / 16 ms to 20.2 ms.
            assert!(
                (l.compute.as_secs_f64() - want).abs() <= 0.005 * want,
                "{file}: {:?} against {want}",
                l.compute
            );
            assert_eq!(l.au, p.au, "{file}");
            assert_eq!(l.sample, p.sample, "{file}");
            assert_eq!(
                (l.read_concurrency, l.prefetch),
                (p.read_concurrency, p.prefetch),
                "{file}"
            );
        }
        assert_eq!(preset("UNET3D-B200").unwrap().name, "unet3d-b200");
        assert!(preset("unet3d-mi355").is_none());
        assert!(names().starts_with("unet3d-b200, retinanet-b200"));
    }
}
