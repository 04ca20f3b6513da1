//! Latency histograms, per-second series and their exact merge. Knows nothing of S3.

pub mod codec;
pub mod recorder;
pub mod sparse;
pub mod summary;

pub use recorder::{OpStats, Recorder, Sample};
