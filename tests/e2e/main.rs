//! The project's one integration-test binary: each module drives a real
//! client against an in-process endpoint over HTTP.

mod cli;
mod common;
mod express_ops;
mod faults;
mod run;
mod server;
