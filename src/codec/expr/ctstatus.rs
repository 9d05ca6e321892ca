//! `ct status dnat`: the kernel DNAT'ed the packet's connection (`CtDnat`, an entry's
//! `dnat`, iptables' `--ctstate DNAT`). rustables 0.9 loads no ct status: the load is our
//! own bytes, the mask and the comparison rustables'. A packet without a connection (an
//! invalid or untracked one) ends the rule at the load, as xt_conntrack finds no status.
//!
//! nft: `[ ct load status => reg 1 ] [ bitwise reg 1 = (reg 1 & 0x00000020) ^ 0x00000000 ]
//! [ cmp neq reg 1 0x00000000 ]` (the status host-endian in the register)

use rustables::expr::{Bitwise, Cmp, CmpOp};

use super::prim::{bitwise_of, cmp_of, own};
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{
    IPS_DST_NAT, NFT_CMP_NEQ, NFT_CT_STATUS, NFT_REG_1, NFTA_CT_DREG, NFTA_CT_KEY,
};
use crate::codec::wire::Attrs;
use crate::core::plan::Match;

/// The load, as one list element.
pub(super) fn encode_load(list: &mut Attrs) {
    own(list, "ct", |d| {
        d.be32(NFTA_CT_DREG, NFT_REG_1)
            .be32(NFTA_CT_KEY, NFT_CT_STATUS);
    });
}

/// The mask and comparison after the load.
pub(super) fn encode_cmp(rule: &mut rustables::Rule) {
    rule.add_expr(
        Bitwise::new(IPS_DST_NAT.to_ne_bytes(), 0u32.to_ne_bytes()).expect("same length"),
    );
    rule.add_expr(Cmp::new(CmpOp::Neq, 0u32.to_ne_bytes()));
}

pub(super) fn decode(at: &At) -> Decoding {
    let Some(Expr::Ct {
        key: NFT_CT_STATUS,
        dir,
    }) = at.get(0)
    else {
        return None;
    };
    if dir.is_some() {
        return Some(Err(at.fail(0, "ct status with a direction")));
    }
    let Some((mask, xor)) = bitwise_of(at.get(1)) else {
        return Some(Err(at.fail(0, "ct status without a bitmask")));
    };
    Some(match cmp_of(at.get(2)) {
        Some((NFT_CMP_NEQ, zero))
            if zero == [0; 4] && xor == [0; 4] && mask == IPS_DST_NAT.to_ne_bytes() =>
        {
            Ok((Step::Match(Match::CtDnat), 3))
        }
        _ => Err(at.fail(0, "a ct status comparison other than `ct status dnat`")),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{cmp, ct_load, mask4, not_statewalls, roundtrip, rule};
    use super::*;
    use crate::core::plan::Verdict;

    #[test]
    fn dnat_round_trips() {
        roundtrip(rule(vec![Match::CtDnat], Verdict::Accept));
    }

    #[test]
    fn another_status_bit_is_not_statewalls() {
        let ct = || ct_load(NFT_CT_STATUS);
        let mask = mask4;
        // 0x10 is IPS_SRC_NAT: `ct status snat`
        let err = not_statewalls(&[
            ("ct", ct()),
            ("bitwise", mask(0x10)),
            ("cmp", cmp(NFT_CMP_NEQ, &[0; 4])),
        ]);
        assert_eq!(
            err,
            "expression 1 (`ct`): a ct status comparison other than `ct status dnat`"
        );
        let err = not_statewalls(&[("ct", ct()), ("cmp", cmp(NFT_CMP_NEQ, &[0; 4]))]);
        assert_eq!(err, "expression 1 (`ct`): ct status without a bitmask");
    }
}
