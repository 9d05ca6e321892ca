//! The core: what statewall decides. No I/O, no clock, no sockets: everything here is tested
//! with data alone.

pub mod addrtype;
pub mod clock;
pub mod compile;
pub mod cthelper;
pub mod ctmatch;
pub mod diag;
pub mod exthdr;
pub mod fake;
pub mod header;
pub mod identity;
pub mod import;
pub mod kernel;
pub mod lint;
pub mod live;
pub mod mark;
pub mod members;
pub mod metrics;
pub mod model;
pub mod patch;
pub mod payload;
pub mod pkttype;
pub mod plan;
pub mod policy;
pub mod render;
pub mod report;
pub mod rollout;
pub mod services;
pub mod setcache;
pub mod store;
pub mod u32;
pub mod usecase;
pub mod verify;

/// A small deterministic generator for the tests that compare a fast way with a plain one
/// on many random inputs: xorshift64, numbers below `n`.
#[cfg(test)]
pub(crate) fn test_rng(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut x = seed;
    move |n| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    }
}
