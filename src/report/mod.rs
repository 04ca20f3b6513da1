//! Reports: the JSON result model (the contract) and its renderings.

pub mod model;
