//! `meta l4proto tcp`: the transport protocol, whatever the family.
//!
//! nft: `[ meta load l4proto => reg 1 ] [ cmp eq reg 1 0x00000006 ]`

use rustables::expr::{Cmp, CmpOp, Meta, MetaType};

use super::prim::{UNKNOWN_META, meta_eq};
use super::{At, Decoding, Step};
use crate::codec::nft::NFT_META_L4PROTO;
use crate::core::plan::Match;

pub(super) fn encode(rule: &mut rustables::Rule, proto: u8) {
    rule.add_expr(Meta::new(MetaType::L4Proto));
    rule.add_expr(Cmp::new(CmpOp::Eq, [proto]));
}

pub(super) fn decode(at: &At) -> Decoding {
    Some(meta_eq(at, NFT_META_L4PROTO)?.and_then(|v| match v {
        [proto] => Ok((Step::Match(Match::L4Proto(*proto)), 2)),
        _ => Err(at.fail(0, UNKNOWN_META)),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{cmp, not_statewalls, roundtrip, rule};
    use super::*;
    use crate::codec::nft::{NFT_CMP_NEQ, NFTA_META_KEY};
    use crate::codec::wire::Attrs;
    use crate::core::plan::{IPPROTO_TCP, IPPROTO_UDP, Verdict};

    #[test]
    fn l4proto_round_trips() {
        for proto in [IPPROTO_TCP, IPPROTO_UDP] {
            roundtrip(rule(vec![Match::L4Proto(proto)], Verdict::Drop));
        }
    }

    #[test]
    fn a_protocol_other_than_compared_equal_is_not_statewalls() {
        let mut meta = Attrs::default();
        meta.be32(NFTA_META_KEY, NFT_META_L4PROTO);
        let err = not_statewalls(&[("meta", meta), ("cmp", cmp(NFT_CMP_NEQ, &[6]))]);
        assert_eq!(
            err,
            "expression 1 (`meta`): meta with a comparison other than =="
        );
    }
}
