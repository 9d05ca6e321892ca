//! The ICMP type: `icmp type 8` (`IcmpType`, after `meta l4proto icmp`) and
//! `icmpv6 type 128-136` (`Icmpv6Type`, after `meta l4proto ipv6-icmp`, a single type or a
//! range).
//!
//! nft: `[ payload load 1b @ transport header + 0 => reg 1 ]`, then `[ cmp eq … ]` or
//! `[ cmp gte … ] [ cmp lte … ]`; an exception (`IcmpTypeNot`: `icmp type != 8`) `[ cmp neq
//! … ]`.

use super::prim::{
    BARE_TRANSPORT_LOAD, UNKNOWN_TRANSPORT_FIELD, eq_or_range, eq_or_range_expr, neq_or_range_neq,
    payload, transport_load,
};
use super::{At, Decoding, Step};
use crate::codec::nft::NFT_PAYLOAD_TRANSPORT_HEADER;
use crate::core::plan::{IPPROTO_ICMP, IPPROTO_ICMPV6, Match};
use rustables::expr::{Cmp, CmpOp};

/// Where the ICMP and ICMPv6 headers keep the type: (offset, length).
const TYPE: (u32, u32) = (0, 1);

pub(super) fn encode_type(rule: &mut rustables::Rule, ty: u8) {
    rule.add_expr(payload(NFT_PAYLOAD_TRANSPORT_HEADER, TYPE.0, TYPE.1));
    rule.add_expr(Cmp::new(CmpOp::Eq, [ty]));
}

pub(super) fn encode_type_not(rule: &mut rustables::Rule, ty: u8) {
    rule.add_expr(payload(NFT_PAYLOAD_TRANSPORT_HEADER, TYPE.0, TYPE.1));
    rule.add_expr(Cmp::new(CmpOp::Neq, [ty]));
}

pub(super) fn encode_v6_type(rule: &mut rustables::Rule, lo: u8, hi: u8) {
    rule.add_expr(payload(NFT_PAYLOAD_TRANSPORT_HEADER, TYPE.0, TYPE.1));
    eq_or_range_expr(rule, &[lo], &[hi]);
}

pub(super) fn decode(at: &At) -> Decoding {
    let (offset, len) = transport_load(at, 0)?;
    if (offset, len) != TYPE {
        return None;
    }
    if let Some((lo, hi)) = neq_or_range_neq(at, 1) {
        // after the protocol, or after the exception before it
        let v6 = match at.last_match() {
            Some(Match::IcmpTypeNot { v6, .. }) => *v6,
            m => m == Some(&Match::L4Proto(IPPROTO_ICMPV6)),
        };
        return Some(match (lo, hi) {
            ([ty], [hi]) if ty == hi => Ok((Step::Match(Match::IcmpTypeNot { v6, ty: *ty }), 2)),
            _ => Err(at.fail(1, "an ICMP type exception statewall does not write")),
        });
    }
    let Some((lo, hi, used)) = eq_or_range(at, 1) else {
        return Some(Err(at.fail(0, BARE_TRANSPORT_LOAD)));
    };
    let m = match (lo, hi) {
        ([lo], [hi]) if lo == hi && at.last_match() == Some(&Match::L4Proto(IPPROTO_ICMP)) => {
            Match::IcmpType(*lo)
        }
        ([lo], [hi]) => Match::Icmpv6Type { lo: *lo, hi: *hi },
        _ => {
            return Some(Err(at.fail(0, UNKNOWN_TRANSPORT_FIELD)));
        }
    };
    Some(Ok((Step::Match(m), 1 + used)))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{roundtrip, rule};
    use super::*;
    use crate::core::plan::Verdict;

    #[test]
    fn icmp_and_icmpv6_types_round_trip() {
        roundtrip(rule(
            vec![Match::L4Proto(IPPROTO_ICMP), Match::IcmpType(8)],
            Verdict::Accept,
        ));
        for (lo, hi) in [(128, 136), (1, 1)] {
            let m = vec![Match::L4Proto(IPPROTO_ICMPV6), Match::Icmpv6Type { lo, hi }];
            roundtrip(rule(m, Verdict::Accept));
        }
        // exceptions, one `!=` each
        for (proto, v6) in [(IPPROTO_ICMP, false), (IPPROTO_ICMPV6, true)] {
            let m = vec![
                Match::L4Proto(proto),
                Match::IcmpTypeNot { v6, ty: 8 },
                Match::IcmpTypeNot { v6, ty: 13 },
            ];
            roundtrip(rule(m, Verdict::Accept));
        }
    }
}
