//! The link layer's packet type: `meta pkttype broadcast` (`PktType`), `meta pkttype !=
//! multicast` — iptables' `-m pkttype`. rustables 0.9 has no meta key for it: the load is our
//! own bytes, the comparison rustables'.
//!
//! nft: `[ meta load pkttype => reg 1 ] [ cmp eq reg 1 0x00000001 ]` (the type, a
//! `PACKET_*` value, is one byte in the register)

use rustables::expr::{Cmp, CmpOp};

use super::prim::{cmp_of, own};
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{NFT_CMP_EQ, NFT_CMP_NEQ, NFT_META_PKTTYPE, NFT_REG_1, NFTA_META_DREG};
use crate::codec::nft::{NFTA_META_KEY, PACKET_BROADCAST, PACKET_HOST, PACKET_MULTICAST};
use crate::codec::wire::Attrs;
use crate::core::plan::Match;

/// The load, as one list element.
pub(super) fn encode_load(list: &mut Attrs) {
    own(list, "meta", |d| {
        d.be32(NFTA_META_DREG, NFT_REG_1)
            .be32(NFTA_META_KEY, NFT_META_PKTTYPE);
    });
}

/// The comparison after the load.
pub(super) fn encode_cmp(rule: &mut rustables::Rule, ty: u8, not: bool) {
    let op = if not { CmpOp::Neq } else { CmpOp::Eq };
    rule.add_expr(Cmp::new(op, [ty]));
}

pub(super) fn decode(at: &At) -> Decoding {
    match at.get(0) {
        Some(Expr::Meta { key }) if *key == NFT_META_PKTTYPE => {}
        _ => return None,
    }
    let Some((op, value)) = cmp_of(at.get(1)) else {
        return Some(Err(at.fail(0, "meta pkttype without a comparison")));
    };
    let not = match op {
        NFT_CMP_EQ => false,
        NFT_CMP_NEQ => true,
        _ => {
            return Some(Err(at.fail(1, "meta pkttype compared other than == or !=")));
        }
    };
    match value {
        [ty] if [PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST].contains(ty) => {
            Some(Ok((Step::Match(Match::PktType { ty: *ty, not }), 2)))
        }
        _ => Some(Err(at.fail(
            1,
            "meta pkttype compared with a type statewall does not write",
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{cmp, not_statewalls, roundtrip, rule};
    use super::*;
    use crate::core::pkttype::PKT_TYPES;
    use crate::core::plan::{IPPROTO_UDP, Verdict};

    #[test]
    fn packet_types_round_trip() {
        for (_, ty) in PKT_TYPES {
            for not in [false, true] {
                roundtrip(rule(vec![Match::PktType { ty, not }], Verdict::Drop));
            }
        }
        roundtrip(rule(
            vec![
                Match::PktType { ty: 1, not: false },
                Match::PktType { ty: 2, not: true },
                Match::L4Proto(IPPROTO_UDP),
            ],
            Verdict::Accept,
        ));
    }

    #[test]
    fn the_policys_types_are_the_kernels() {
        let ours: Vec<u8> = PKT_TYPES.iter().map(|(_, t)| *t).collect();
        assert_eq!(ours, [PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST]);
    }

    #[test]
    fn other_types_and_comparisons_are_not_statewalls() {
        let meta = || {
            let mut m = Attrs::default();
            m.be32(NFTA_META_DREG, NFT_REG_1)
                .be32(NFTA_META_KEY, NFT_META_PKTTYPE);
            m
        };
        // `meta pkttype other`: packets for another host
        let err = not_statewalls(&[("meta", meta()), ("cmp", cmp(NFT_CMP_EQ, &[3]))]);
        assert_eq!(
            err,
            "expression 2 (`cmp`): meta pkttype compared with a type statewall does not write"
        );
        let err = not_statewalls(&[("meta", meta()), ("cmp", cmp(NFT_CMP_EQ, &[1, 0]))]);
        assert!(err.contains("does not write"), "{err}");
        let gte = crate::codec::nft::NFT_CMP_GTE;
        let err = not_statewalls(&[("meta", meta()), ("cmp", cmp(gte, &[1]))]);
        assert!(err.contains("other than == or !="), "{err}");
        let err = not_statewalls(&[("meta", meta())]);
        assert!(err.contains("without a comparison"), "{err}");
    }
}
