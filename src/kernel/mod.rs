//! The kernel layer: the only code that opens netlink sockets or enters namespaces.
//!
//! - `wire`: netlink framing and the messages rustables lacks (pure)
//! - `encode`: plan → one batch of bytes (pure)
//! - `decode`: kernel rule → plan rule + counters (pure)
//! - `netlink`: our socket: generation id, conditional commit, error → operation mapping
//! - `readback`: dumps statewall's table through rustables
//! - `netns`: entering a network namespace by name or path
//! - `sets`: interval sets, audit sets and recorder rules rustables cannot write
//! - `sockdiag`: listening TCP sockets (for the lockout lint's sshd ports)

pub mod decode;
pub mod encode;
pub mod netlink;
pub mod netns;
pub mod readback;
pub mod sets;
pub mod sockdiag;
pub mod wire;
