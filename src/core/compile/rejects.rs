//! Rejects of an ICMP kind icmpx cannot say: one rule per family, each with that family's
//! code.

use crate::core::plan::{Match, Rule, Verdict, family_of};

/// The rules from `start` on whose verdict is an icmpx reject of a kind icmpx cannot say
/// (`IcmpReject::icmpx`) become `reject with icmp`/`icmpv6` with that kind's code: a rule
/// whose matches check a family keeps its place, any other becomes two, `meta nfproto ipv4`
/// then `meta nfproto ipv6` first in each (as nft writes `reject with icmp …` in an inet table).
pub(super) fn per_family(rules: &mut Vec<Rule>, start: usize) {
    let tail = rules.split_off(start);
    for mut r in tail {
        let Verdict::RejectIcmpx(kind) = r.verdict else {
            rules.push(r);
            continue;
        };
        if kind.icmpx() {
            rules.push(r);
            continue;
        }
        let verdict = |v6: bool| Verdict::RejectIcmp {
            v6,
            code: kind.code(v6),
        };
        // a connection's original address says the family too, but nft reads the reject's
        // family only from the packet's own (`meta nfproto`, an address): it gets one
        let packet = r
            .matches
            .iter()
            .filter(|m| !matches!(m, Match::CtOrigDst(_) | Match::CtOrigSrc(_)));
        match (
            packet.clone().find_map(Match::family),
            family_of(&r.matches),
        ) {
            (Some(v6), _) => {
                r.verdict = verdict(v6);
                rules.push(r);
            }
            (None, Some(v6)) => {
                r.matches.insert(0, Match::NfProto { v6 });
                r.verdict = verdict(v6);
                rules.push(r);
            }
            (None, None) => {
                for v6 in [false, true] {
                    let mut one = r.clone();
                    one.matches.insert(0, Match::NfProto { v6 });
                    one.verdict = verdict(v6);
                    rules.push(one);
                }
            }
        }
    }
}
