//! The project's one integration-test binary: each module drives a real
//! client against an in-process endpoint over HTTP.

mod audit;
mod checkpoint;
mod checks;
mod cli;
mod cluster;
mod common;
mod contract;
mod dataloader;
mod doctor;
mod express_ops;
mod express_run;
mod faults;
mod import;
mod metrics;
mod moto;
mod oplog;
mod partition;
mod plan;
mod preflight;
mod run;
mod server;
mod setup;
mod throttle;
mod whatif;
