//! The connection states of an allow's rules: NEW connections, and the packets conntrack
//! leaves untracked (neighbour discovery, MLD) where the allow takes them.

use super::Entry;
use crate::core::plan::{CtStates, IPPROTO_ICMPV6, Match};

/// The ICMPv6 types conntrack never tracks (MLD, router and neighbour discovery, MLDv2
/// reports): each such packet arrives `untracked`, never `new` (the kernel's
/// `noct_valid_new`, nf_conntrack_proto_icmpv6.c).
pub const ICMPV6_UNTRACKED: [u8; 8] = [130, 131, 132, 133, 134, 135, 136, 143];

/// The states an allow's rule for `body` matches behind the established rule, where its
/// policy line says none: NEW connections, and the packets of the ICMPv6 types conntrack
/// leaves untracked (every neighbour solicitation is such a "new" packet; `ct state new`
/// alone would never let one in) when the rule is for those types, for all of ICMPv6, or
/// for every protocol (an allow of everything from an interface or a network takes that
/// link's neighbour discovery, as `iptables -i eth0 -j ACCEPT` does). An allow that says
/// `state = ["new"]` takes NEW connections only.
pub(super) fn untracked_too(st: CtStates, entry: Entry, said: bool, body: &[Match]) -> CtStates {
    if entry != (Entry::Allow { stateful: true }) || said || st.0 != CtStates::NEW {
        return st;
    }
    let icmpv6 = body.contains(&Match::L4Proto(IPPROTO_ICMPV6));
    let untracked = body.iter().all(|m| match m {
        Match::Icmpv6Type { lo, hi } => lo == hi && ICMPV6_UNTRACKED.contains(lo),
        Match::Icmpv6TypeCode { ty, .. } => ICMPV6_UNTRACKED.contains(ty),
        // every type but some: the untracked ones among them (where excepted too, their
        // packets are not matched anyway)
        Match::IcmpTypeNot { .. } | Match::L4Proto(_) => true,
        _ => false,
    });
    if icmpv6 && untracked || body.is_empty() {
        CtStates(CtStates::NEW | CtStates::UNTRACKED)
    } else {
        st
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::PortRange;
    use crate::core::plan::IPPROTO_TCP;

    const NEW: CtStates = CtStates(CtStates::NEW);
    const BOTH: CtStates = CtStates(CtStates::NEW | CtStates::UNTRACKED);
    const STATEFUL: Entry = Entry::Allow { stateful: true };

    #[test]
    fn every_protocol_and_icmpv6_take_untracked_packets_unless_the_allow_says_new() {
        let icmpv6 = Match::L4Proto(IPPROTO_ICMPV6);
        let ns = Match::Icmpv6Type { lo: 135, hi: 135 };
        let echo = Match::Icmpv6Type { lo: 128, hi: 128 };
        let tcp = [
            Match::L4Proto(IPPROTO_TCP),
            Match::DstPort(PortRange { lo: 22, hi: 22 }),
        ];
        assert_eq!(untracked_too(NEW, STATEFUL, false, &[]), BOTH);
        assert_eq!(untracked_too(NEW, STATEFUL, false, &[icmpv6]), BOTH);
        assert_eq!(untracked_too(NEW, STATEFUL, false, &[icmpv6, ns]), BOTH);
        assert_eq!(untracked_too(NEW, STATEFUL, false, &[icmpv6, echo]), NEW);
        assert_eq!(untracked_too(NEW, STATEFUL, false, &tcp), NEW);
        // `state = ["new"]` said, or a section without the established rule: as said
        assert_eq!(untracked_too(NEW, STATEFUL, true, &[]), NEW);
        assert_eq!(untracked_too(NEW, STATEFUL, true, &[icmpv6]), NEW);
        let stateless = Entry::Allow { stateful: false };
        assert_eq!(untracked_too(NEW, stateless, true, &[icmpv6]), NEW);
        assert_eq!(untracked_too(NEW, Entry::Other, false, &[]), NEW);
    }
}
