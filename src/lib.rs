//! statewall: a policy file becomes one atomic nf_tables batch; counters come back over netlink.
//!
//! Four layers, dependencies pointing one way (docs/ARCHITECTURE.md has the map):
//! - [`core`]: the policy, the plan, the decisions and the use cases; pure, no I/O, no clock
//! - [`codec`]: nf_tables bytes: encode a plan, decode a dump; pure
//! - [`system`]: the world: netlink sockets, namespaces, the state directory, /proc
//! - [`cli`]: arguments → a validated request → a use case → stdout and an exit code

pub mod cli;
pub mod codec;
pub mod core;
pub mod system;
