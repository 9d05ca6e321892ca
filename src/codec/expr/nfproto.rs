//! The family alone: `meta nfproto ipv4|ipv6` (`NfProto`), for a rule of one family whose
//! other matches do not imply it (an entry with an IPv4 exception has an IPv6 rule too).
//!
//! nft: `[ meta load nfproto => reg 1 ] [ cmp eq reg 1 0x0000000a ]`

use rustables::expr::{Cmp, CmpOp, Meta, MetaType};

use super::prim::{UNKNOWN_META, meta_eq};
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{NFPROTO_IPV4, NFPROTO_IPV6, NFT_META_NFPROTO, NFT_PAYLOAD_NETWORK_HEADER};
use crate::core::plan::Match;

pub(super) fn encode(rule: &mut rustables::Rule, v6: bool) {
    rule.add_expr(Meta::new(MetaType::NfProto));
    rule.add_expr(Cmp::new(
        CmpOp::Eq,
        [if v6 { NFPROTO_IPV6 } else { NFPROTO_IPV4 }],
    ));
}

/// Asked after `saddr` and `daddr`: a family check they did not claim.
pub(super) fn decode(at: &At) -> Decoding {
    Some(meta_eq(at, NFT_META_NFPROTO)?.and_then(|v| {
        if let Some(&Expr::Payload {
            base: NFT_PAYLOAD_NETWORK_HEADER,
            offset,
            len,
        }) = at.get(2)
            && !super::ttl::is_ttl_load(v == [NFPROTO_IPV6], offset, len)
        {
            return Err(at.fail(2, "not a source or destination address load"));
        }
        match v {
            [NFPROTO_IPV4] => Ok((Step::Match(Match::NfProto { v6: false }), 2)),
            [NFPROTO_IPV6] => Ok((Step::Match(Match::NfProto { v6: true }), 2)),
            _ => Err(at.fail(0, UNKNOWN_META)),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{roundtrip, rule};
    use super::*;
    use crate::core::model::PortRange;
    use crate::core::plan::{IPPROTO_TCP, Verdict};

    #[test]
    fn the_family_alone_round_trips() {
        for v6 in [false, true] {
            roundtrip(rule(vec![Match::NfProto { v6 }], Verdict::Accept));
            roundtrip(rule(
                vec![
                    Match::NfProto { v6 },
                    Match::L4Proto(IPPROTO_TCP),
                    Match::DstPort(PortRange::single(22)),
                ],
                Verdict::Drop,
            ));
        }
    }
}
