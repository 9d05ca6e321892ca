//! The destination address: `ip daddr 192.0.2.0/24` / `ip6 daddr 2001:db8::/32` (`DstNet`),
//! `ip daddr != 10.0.0.0/8` (`DstNetNot`, an exception) and `ip daddr @dst4_<entry>` /
//! `ip6 daddr @dst6_<entry>` (`DstInSet`, the rule's own set). Read like the source
//! (`saddr`), at the destination's offset.
//!
//! nft: `[ meta load nfproto => reg 1 ] [ cmp eq reg 1 0x00000002 ]
//! [ payload load 4b @ network header + 16 => reg 1 ]`, then `[ bitwise … ]` and
//! `[ cmp eq|neq … ]`, or `[ lookup reg 1 set dst4_<entry> ]`.

use rustables::expr::CmpOp;

use super::prim::lookup_of;
use super::saddr::{Addr, decode_load_at, decode_net, encode_in_set_at, encode_net_at};
use super::{At, Decoding, NotUnderstood, SetIds, Step};
use crate::core::model::Cidr;
use crate::core::plan::{Match, SetKind, set_name};

pub(super) fn encode_net(rule: &mut rustables::Rule, net: Cidr, negated: bool) {
    let op = if negated { CmpOp::Neq } else { CmpOp::Eq };
    encode_net_at(rule, net, Addr::Dst, op);
}

pub(super) fn encode_in_set(rule: &mut rustables::Rule, v6: bool, set: &str, set_ids: &SetIds) {
    encode_in_set_at(rule, v6, Addr::Dst, set, set_ids);
}

pub(super) fn decode(at: &At) -> Decoding {
    Some(
        decode_load_at(at, Addr::Dst)?.and_then(|v6| match lookup_of(at.get(3)) {
            Some(set) => decode_in_set(at, v6, set),
            None => decode_net(at, v6, Addr::Dst),
        }),
    )
}

fn decode_in_set(at: &At, v6: bool, set: &str) -> Result<(Step, usize), NotUnderstood> {
    let kind = if v6 { SetKind::Dst6 } else { SetKind::Dst4 };
    if set != set_name(kind, at.comment()) {
        return Err(at.fail(3, format!("lookup in set {set}, not this rule's own set")));
    }
    Ok((Step::Match(Match::DstInSet { v6 }), 4))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{roundtrip, rule};
    use super::*;
    use crate::core::plan::Verdict;

    fn net(s: &str) -> Cidr {
        crate::core::policy::parse_member(s).unwrap()
    }

    #[test]
    fn destinations_exceptions_and_sets_round_trip() {
        for n in ["10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32", "::1/128"] {
            roundtrip(rule(vec![Match::DstNet(net(n))], Verdict::Accept));
            roundtrip(rule(vec![Match::DstNetNot(net(n))], Verdict::Drop));
        }
        for v6 in [false, true] {
            roundtrip(rule(vec![Match::DstInSet { v6 }], Verdict::Accept));
        }
        // a source, an exception to it and a destination in one rule
        roundtrip(rule(
            vec![
                Match::SrcNet(net("10.0.0.0/8")),
                Match::SrcNetNot(net("10.1.0.0/16")),
                Match::DstNet(net("192.0.2.0/24")),
                Match::DstNetNot(net("192.0.2.7/32")),
            ],
            Verdict::Accept,
        ));
    }
}
