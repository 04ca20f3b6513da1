//! Scenario files: TOML -> raw model -> validated [`Plan`].

pub mod plan;

pub use plan::*;
mod shim;
