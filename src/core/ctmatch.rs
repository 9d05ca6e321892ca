//! What a packet's connection lets a rule say: a packet without one (INVALID, UNTRACKED)
//! passes no match of it, and a packet's connection is of the packet's own protocol but for
//! an ICMP error. Compile, the policy's checks, the import and the lint share these.

use crate::core::plan::{IPPROTO_ICMP, IPPROTO_ICMPV6, Match};

/// Whether a packet of protocol `packet` (0: any) can belong to a connection of protocol
/// `conn`: a packet's connection is of its own protocol, but for an ICMP (ICMPv6) error,
/// which the kernel relates to the connection it is about.
pub fn packet_meets_connection(packet: u8, conn: u8) -> bool {
    matches!(packet, 0 | IPPROTO_ICMP | IPPROTO_ICMPV6) || packet == conn
}

impl Match {
    /// Whether this match tests the packet's connection (its protocol, original addresses or
    /// port), which a packet without one (INVALID, UNTRACKED) never passes.
    pub fn of_connection(&self) -> bool {
        matches!(
            self,
            Match::CtProto(_) | Match::CtOrigDst(_) | Match::CtOrigSrc(_) | Match::CtOrigDport(_)
        )
    }
}
