//! Whether a packet met IPsec: `meta ipsec exists` / `meta ipsec missing` (it arrived
//! decrypted: the kernel left it a security path; nft's key `secpath`) and `rt ipsec exists`
//! / `rt ipsec missing` (its route leads into an IPsec policy: it will leave encrypted) —
//! iptables' `-m policy --dir in|out --pol ipsec|none` (`Ipsec`). rustables 0.9 has neither
//! key: the load is our own bytes, the comparison rustables'.
//!
//! nft: `[ meta load secpath => reg 1 ] [ cmp eq reg 1 0x00000001 ]`, `[ rt load ipsec =>
//! reg 1 ] [ cmp eq reg 1 0x00000000 ]` (one byte, 1 or 0, as iptables-nft writes `-m policy
//! --dir in --pol ipsec` itself)

use rustables::expr::{Cmp, CmpOp};

use super::prim::{all_be32, cmp_of, own};
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{NFT_CMP_EQ, NFT_META_SECPATH, NFT_REG_1, NFT_RT_XFRM};
use crate::codec::nft::{NFTA_META_DREG, NFTA_META_KEY, NFTA_RT_DREG, NFTA_RT_KEY};
use crate::codec::wire::Attrs;
use crate::core::plan::Match;

/// The load, as one list element: the security path's (`out` false) or the route's.
pub(super) fn encode_load(list: &mut Attrs, out: bool) {
    if out {
        own(list, "rt", |d| {
            d.be32(NFTA_RT_DREG, NFT_REG_1)
                .be32(NFTA_RT_KEY, NFT_RT_XFRM);
        });
    } else {
        own(list, "meta", |d| {
            d.be32(NFTA_META_DREG, NFT_REG_1)
                .be32(NFTA_META_KEY, NFT_META_SECPATH);
        });
    }
}

/// The comparison after the load.
pub(super) fn encode_cmp(rule: &mut rustables::Rule, present: bool) {
    rule.add_expr(Cmp::new(CmpOp::Eq, [u8::from(present)]));
}

pub(super) fn decode(at: &At) -> Decoding {
    let out = match at.get(0) {
        Some(Expr::Meta { key }) if *key == NFT_META_SECPATH => false,
        Some(Expr::Other { name, data })
            if name == "rt"
                && all_be32(
                    data,
                    &[(NFTA_RT_DREG, NFT_REG_1), (NFTA_RT_KEY, NFT_RT_XFRM)],
                ) =>
        {
            true
        }
        _ => return None,
    };
    let what = if out { "rt ipsec" } else { "meta ipsec" };
    let Some((op, value)) = cmp_of(at.get(1)) else {
        return Some(Err(at.fail(0, format!("{what} without a comparison"))));
    };
    match (op, value) {
        (NFT_CMP_EQ, [b @ (0 | 1)]) => Some(Ok((
            Step::Match(Match::Ipsec {
                out,
                present: *b == 1,
            }),
            2,
        ))),
        _ => Some(Err(at.fail(
            1,
            format!("{what} compared other than == exists or == missing"),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{cmp, not_statewalls, roundtrip, rule};
    use super::*;
    use crate::core::plan::{IPPROTO_UDP, Verdict};

    #[test]
    fn both_directions_round_trip_either_way() {
        for out in [false, true] {
            for present in [false, true] {
                roundtrip(rule(vec![Match::Ipsec { out, present }], Verdict::Accept));
            }
        }
        roundtrip(rule(
            vec![
                Match::L4Proto(IPPROTO_UDP),
                Match::Ipsec {
                    out: false,
                    present: true,
                },
                Match::Ipsec {
                    out: true,
                    present: false,
                },
            ],
            Verdict::Drop,
        ));
    }

    #[test]
    fn other_comparisons_are_not_statewalls() {
        let meta = || {
            let mut m = Attrs::default();
            m.be32(NFTA_META_DREG, NFT_REG_1)
                .be32(NFTA_META_KEY, NFT_META_SECPATH);
            m
        };
        let err = not_statewalls(&[("meta", meta()), ("cmp", cmp(NFT_CMP_EQ, &[2]))]);
        assert_eq!(
            err,
            "expression 2 (`cmp`): meta ipsec compared other than == exists or == missing"
        );
        let neq = crate::codec::nft::NFT_CMP_NEQ;
        let err = not_statewalls(&[("meta", meta()), ("cmp", cmp(neq, &[1]))]);
        assert!(err.contains("other than =="), "{err}");
        let mut rt = Attrs::default();
        rt.be32(NFTA_RT_DREG, NFT_REG_1)
            .be32(NFTA_RT_KEY, NFT_RT_XFRM);
        let err = not_statewalls(&[("rt", rt)]);
        assert!(err.contains("rt ipsec without a comparison"), "{err}");
    }
}
