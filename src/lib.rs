//! s3bench: load-tests S3 General Purpose and S3 Express One Zone directory
//! buckets side by side and reports honest latency numbers.
//!
//! The modules follow the pipeline: `scenario` (file -> validated plan),
//! `engine` (worker pool, pacing), `target` (SDK clients), `stats`
//! (histograms, time series), `report` (JSON contract, Markdown), and
//! `server` (the embedded S3 endpoint, which only speaks HTTP to the rest).

pub mod cli;
pub mod engine;
pub mod estimate;
pub mod report;
pub mod run;
pub mod scenario;
pub mod server;
pub mod stats;
pub mod synthetic;
pub mod target;
pub mod units;
