//! The owner of the socket a packet leaves from: `meta skuid 1000`, `meta skgid != 0`
//! (`SkOwner`, iptables' `-m owner --uid-owner` / `--gid-owner`). Only a packet the host
//! sends has one: a forwarded packet, or a reply the kernel makes without a socket (a reset,
//! an ICMP error), matches neither `==` nor `!=` (xt_owner does not match them either).
//!
//! nft: `[ meta load skuid => reg 1 ] [ cmp eq reg 1 0x000003e8 ]` (the id, four bytes in
//! host order; `cmp neq` for `!=`).

use rustables::expr::{Cmp, CmpOp, Meta, MetaType};

use super::prim::cmp_of;
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{NFT_CMP_EQ, NFT_CMP_NEQ, NFT_META_SKGID, NFT_META_SKUID};
use crate::core::plan::Match;

pub(super) fn encode(rule: &mut rustables::Rule, gid: bool, id: u32, not: bool) {
    rule.add_expr(Meta::new(if gid {
        MetaType::SkGid
    } else {
        MetaType::SkUid
    }));
    let op = if not { CmpOp::Neq } else { CmpOp::Eq };
    rule.add_expr(Cmp::new(op, id.to_ne_bytes()));
}

pub(super) fn decode(at: &At) -> Decoding {
    let gid = match at.get(0) {
        Some(Expr::Meta { key }) if *key == NFT_META_SKUID => false,
        Some(Expr::Meta { key }) if *key == NFT_META_SKGID => true,
        _ => return None,
    };
    let what = if gid { "meta skgid" } else { "meta skuid" };
    let Some((op, value)) = cmp_of(at.get(1)) else {
        return Some(Err(at.fail(0, format!("{what} without a comparison"))));
    };
    let not = match op {
        NFT_CMP_EQ => false,
        NFT_CMP_NEQ => true,
        _ => {
            return Some(Err(
                at.fail(1, format!("{what} compared other than == or !="))
            ));
        }
    };
    match <[u8; 4]>::try_from(value) {
        Ok(b) => {
            let id = u32::from_ne_bytes(b);
            Some(Ok((Step::Match(Match::SkOwner { gid, id, not }), 2)))
        }
        Err(_) => Some(Err(
            at.fail(1, format!("{what} compared with other than four bytes"))
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{cmp, not_statewalls, roundtrip, rule};
    use super::*;
    use crate::codec::nft::{NFT_CMP_GTE, NFT_REG_1, NFTA_META_DREG, NFTA_META_KEY};
    use crate::codec::wire::Attrs;
    use crate::core::plan::{IPPROTO_TCP, Verdict};

    #[test]
    fn owners_round_trip() {
        for gid in [false, true] {
            for not in [false, true] {
                for id in [0, 1000, 65534, 4_294_967_294] {
                    let m = Match::SkOwner { gid, id, not };
                    roundtrip(rule(vec![m], Verdict::Drop));
                }
            }
        }
        roundtrip(rule(
            vec![
                Match::L4Proto(IPPROTO_TCP),
                Match::SkOwner {
                    gid: false,
                    id: 0,
                    not: false,
                },
                Match::SkOwner {
                    gid: true,
                    id: 100,
                    not: true,
                },
            ],
            Verdict::Accept,
        ));
    }

    #[test]
    fn other_comparisons_are_not_statewalls() {
        let meta = || {
            let mut m = Attrs::default();
            m.be32(NFTA_META_DREG, NFT_REG_1)
                .be32(NFTA_META_KEY, NFT_META_SKUID);
            m
        };
        let err = not_statewalls(&[("meta", meta()), ("cmp", cmp(NFT_CMP_GTE, &[0, 0, 0, 0]))]);
        assert!(
            err.contains("meta skuid compared other than == or !="),
            "{err}"
        );
        let err = not_statewalls(&[("meta", meta()), ("cmp", cmp(NFT_CMP_EQ, &[1, 0]))]);
        assert!(err.contains("other than four bytes"), "{err}");
        let err = not_statewalls(&[("meta", meta())]);
        assert!(err.contains("meta skuid without a comparison"), "{err}");
    }
}
