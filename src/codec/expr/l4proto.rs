//! `meta l4proto tcp`, `meta l4proto != tcp`: the transport protocol, whatever the family
//! (the second an entry's `except_protocol`).
//!
//! nft: `[ meta load l4proto => reg 1 ] [ cmp eq reg 1 0x00000006 ]` (`cmp neq`)

use rustables::expr::{Cmp, CmpOp, Meta, MetaType};

use super::prim::{UNKNOWN_META, cmp_of};
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{NFT_CMP_EQ, NFT_CMP_NEQ, NFT_META_L4PROTO};
use crate::core::plan::Match;

pub(super) fn encode(rule: &mut rustables::Rule, proto: u8, not: bool) {
    rule.add_expr(Meta::new(MetaType::L4Proto));
    rule.add_expr(Cmp::new(if not { CmpOp::Neq } else { CmpOp::Eq }, [proto]));
}

pub(super) fn decode(at: &At) -> Decoding {
    match at.get(0) {
        Some(Expr::Meta { key }) if *key == NFT_META_L4PROTO => {}
        _ => return None,
    }
    Some(match cmp_of(at.get(1)) {
        None => Err(at.fail(0, "meta without a comparison")),
        Some((NFT_CMP_EQ, [proto])) => Ok((Step::Match(Match::L4Proto(*proto)), 2)),
        Some((NFT_CMP_NEQ, [proto])) => Ok((Step::Match(Match::L4ProtoNot(*proto)), 2)),
        Some((NFT_CMP_EQ | NFT_CMP_NEQ, _)) => Err(at.fail(0, UNKNOWN_META)),
        Some(_) => Err(at.fail(0, "meta l4proto compared other than == or !=")),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{cmp, not_statewalls, roundtrip, rule};
    use super::*;
    use crate::codec::nft::{NFT_CMP_GT, NFTA_META_KEY};
    use crate::codec::wire::Attrs;
    use crate::core::plan::{IPPROTO_TCP, IPPROTO_UDP, Verdict};

    #[test]
    fn l4proto_and_its_exception_round_trip() {
        for proto in [IPPROTO_TCP, IPPROTO_UDP] {
            roundtrip(rule(vec![Match::L4Proto(proto)], Verdict::Drop));
            roundtrip(rule(vec![Match::L4ProtoNot(proto)], Verdict::Drop));
        }
    }

    #[test]
    fn a_protocol_compared_otherwise_is_not_statewalls() {
        let mut meta = Attrs::default();
        meta.be32(NFTA_META_KEY, NFT_META_L4PROTO);
        let err = not_statewalls(&[("meta", meta), ("cmp", cmp(NFT_CMP_GT, &[6]))]);
        assert_eq!(
            err,
            "expression 1 (`meta`): meta l4proto compared other than == or !="
        );
    }
}
