//! s3bench: load-tests S3 General Purpose and S3 Express One Zone directory
//! buckets side by side and reports honest latency numbers.
//!
//! The modules follow the pipeline: `scenario` (file -> validated plan),
//! `plan` (the scenario and the flags, checked once), `run` (the stages of
//! one run), `engine` (worker pool, pacing), `client` (SDK and direct-path
//! clients), `stats` (histograms, time series), `report` (JSON contract,
//! Markdown), and `server` (the embedded S3 endpoint, which only speaks
//! HTTP to the rest). `cli` is the command layer on top; nothing imports
//! it. `check` is the language of pass/fail checks and `metrics` the live
//! Prometheus exporter. docs/architecture.md draws every module and what
//! it may use.

pub mod check;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod doctor;
pub mod engine;
pub mod estimate;
pub mod exit;
pub mod import;
pub mod metrics;
pub mod oplog;
pub mod plan;
pub mod report;
pub mod run;
pub mod s3;
pub mod scenario;
pub mod server;
pub mod stats;
pub mod synthetic;
pub mod targets;
pub mod units;
pub mod whatif;
