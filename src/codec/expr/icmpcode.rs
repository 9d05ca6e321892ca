//! An ICMP or ICMPv6 type with its code: `icmp type destination-unreachable icmp code 4`
//! (`IcmpTypeCode`, after `meta l4proto icmp`) and `icmpv6 type 1 icmpv6 code 4`
//! (`Icmpv6TypeCode`, after `meta l4proto ipv6-icmp`). Type and code are the first two bytes
//! of the header, and nft compares them in one load, as statewall does.
//!
//! nft: `[ payload load 2b @ transport header + 0 => reg 1 ] [ cmp eq reg 1 0x00000403 ]`

use rustables::expr::{Cmp, CmpOp};

use super::prim::{cmp_of, payload, transport_load};
use super::{At, Decoding, Step};
use crate::codec::nft::{NFT_CMP_EQ, NFT_PAYLOAD_TRANSPORT_HEADER};
use crate::core::plan::{IPPROTO_ICMP, IPPROTO_ICMPV6, Match};

/// Type and code: (offset, length).
const TYPE_CODE: (u32, u32) = (0, 2);

pub(super) fn encode(rule: &mut rustables::Rule, ty: u8, code: u8) {
    rule.add_expr(payload(
        NFT_PAYLOAD_TRANSPORT_HEADER,
        TYPE_CODE.0,
        TYPE_CODE.1,
    ));
    rule.add_expr(Cmp::new(CmpOp::Eq, [ty, code]));
}

pub(super) fn decode(at: &At) -> Decoding {
    if transport_load(at, 0)? != TYPE_CODE {
        return None;
    }
    let v6 = match at.proto() {
        Some(IPPROTO_ICMP) => false,
        Some(IPPROTO_ICMPV6) => true,
        _ => return None,
    };
    Some(match cmp_of(at.get(1)) {
        Some((NFT_CMP_EQ, [ty, code])) => {
            let (ty, code) = (*ty, *code);
            let m = if v6 {
                Match::Icmpv6TypeCode { ty, code }
            } else {
                Match::IcmpTypeCode { ty, code }
            };
            Ok((Step::Match(m), 2))
        }
        _ => Err(at.fail(
            0,
            "icmp type and code compared in a way statewall does not emit",
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{roundtrip, rule};
    use super::*;
    use crate::core::plan::Verdict;

    #[test]
    fn types_with_codes_round_trip() {
        roundtrip(rule(
            vec![
                Match::L4Proto(IPPROTO_ICMP),
                Match::IcmpTypeCode { ty: 3, code: 4 },
            ],
            Verdict::Accept,
        ));
        roundtrip(rule(
            vec![
                Match::L4Proto(IPPROTO_ICMPV6),
                Match::Icmpv6TypeCode { ty: 1, code: 4 },
            ],
            Verdict::Drop,
        ));
    }
}
