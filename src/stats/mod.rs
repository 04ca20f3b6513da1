//! Latency histograms, per-second series and their exact merge. Knows nothing of S3.

pub mod checkpoint;
pub mod codec;
pub mod dataloader;
pub mod live;
pub mod prefixes;
pub mod recorder;
pub mod sparse;

pub use prefixes::PrefixSeries;
pub use recorder::{Failure, FailureGroup, FailureStats, OpStats, Recorder, Sample, SecondStats};
