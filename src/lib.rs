//! statewall: a policy file becomes one atomic nf_tables batch; counters come back over netlink.
//!
//! See ARCHITECTURE.md for the code map and the invariants.

pub mod audit;
pub mod compile;
pub mod diag;
pub mod host;
pub mod import;
pub mod kernel;
pub mod lint;
pub mod model;
pub mod plan;
pub mod policy;
pub mod render;
pub mod report;
pub mod rollout;
pub mod state;
