//! The packet's length: `meta length 1500`, `meta length 0-1500`, `meta length != 576`,
//! `meta length != 1000-1100` (`Length`, iptables' `-m length`). rustables 0.9 has neither
//! the `len` meta key nor the byteorder expression: those are our own bytes, the
//! comparisons rustables' (a range's `range neq` ours, as for ports).
//!
//! nft: `[ meta load len => reg 1 ]`, then `[ cmp eq reg 1 0x0000001e ]` / `[ cmp neq … ]`
//! for one length (the register holds it in host order), or, for a range,
//! `[ byteorder reg 1 = hton(reg 1, 4, 4) ]` and `[ cmp gte reg 1 0x00000000 ]
//! [ cmp lte reg 1 0xdc050000 ]` / `[ range neq reg 1 0x00000000 0xdc050000 ]` (big-endian,
//! so the kernel's memcmp compares numbers).

use rustables::expr::{Cmp, CmpOp};

use super::prim::neq_or_range_neq_expr;
use super::prim::{cmp_of, eq_or_range, eq_or_range_expr, neq_or_range_neq, own};
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{
    NFT_BYTEORDER_HTON, NFT_CMP_EQ, NFT_CMP_NEQ, NFT_META_LEN, NFT_REG_1, NFTA_BYTEORDER_DREG,
    NFTA_BYTEORDER_LEN, NFTA_BYTEORDER_OP, NFTA_BYTEORDER_SIZE, NFTA_BYTEORDER_SREG,
    NFTA_META_DREG, NFTA_META_KEY,
};
use crate::codec::wire::{Attrs, attr, be32};
use crate::core::plan::Match;

/// The byteorder expression nft puts before a range: register 1, four bytes, to network order.
fn hton(d: &mut Attrs) {
    d.be32(NFTA_BYTEORDER_SREG, NFT_REG_1)
        .be32(NFTA_BYTEORDER_DREG, NFT_REG_1)
        .be32(NFTA_BYTEORDER_OP, NFT_BYTEORDER_HTON)
        .be32(NFTA_BYTEORDER_LEN, 4)
        .be32(NFTA_BYTEORDER_SIZE, 4);
}

pub(super) fn encode(
    rule: &mut rustables::Rule,
    own_list: &mut Vec<Vec<u8>>,
    (lo, hi, not): (u16, u16, bool),
) {
    super::placeholder(rule, own_list, |l| {
        own(l, "meta", |d| {
            d.be32(NFTA_META_DREG, NFT_REG_1)
                .be32(NFTA_META_KEY, NFT_META_LEN);
        })
    });
    if lo == hi {
        let op = if not { CmpOp::Neq } else { CmpOp::Eq };
        rule.add_expr(Cmp::new(op, u32::from(lo).to_ne_bytes()));
        return;
    }
    super::placeholder(rule, own_list, |l| own(l, "byteorder", hton));
    let (lo, hi) = (u32::from(lo).to_be_bytes(), u32::from(hi).to_be_bytes());
    if not {
        neq_or_range_neq_expr(rule, own_list, &lo, &hi);
    } else {
        eq_or_range_expr(rule, &lo, &hi);
    }
}

/// Whether a byteorder's data is nft's `hton(reg 1, 4, 4)`.
fn is_hton(d: &[u8]) -> bool {
    let get = |ty| attr(d, ty).and_then(be32);
    [
        (NFTA_BYTEORDER_SREG, NFT_REG_1),
        (NFTA_BYTEORDER_DREG, NFT_REG_1),
        (NFTA_BYTEORDER_OP, NFT_BYTEORDER_HTON),
        (NFTA_BYTEORDER_LEN, 4),
        (NFTA_BYTEORDER_SIZE, 4),
    ]
    .iter()
    .all(|&(ty, v)| get(ty) == Some(v))
}

/// A four-byte register value as a length (the xtables match takes 0-65535).
fn length(v: &[u8], big_endian: bool) -> Option<u16> {
    let b = <[u8; 4]>::try_from(v).ok()?;
    let n = if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_ne_bytes(b)
    };
    u16::try_from(n).ok()
}

pub(super) fn decode(at: &At) -> Decoding {
    match at.get(0) {
        Some(Expr::Meta { key }) if *key == NFT_META_LEN => {}
        _ => return None,
    }
    let found = match at.get(1) {
        Some(Expr::Other { name, data }) if name == "byteorder" => {
            if !is_hton(data) {
                return Some(Err(
                    at.fail(1, "byteorder other than nft's hton(reg 1, 4, 4)")
                ));
            }
            let pair = |(lo, hi): (&[u8], &[u8])| Some((length(lo, true)?, length(hi, true)?));
            if let Some(r) = neq_or_range_neq(at, 2) {
                pair(r).map(|(lo, hi)| (lo, hi, true, 3))
            } else if let Some((lo, hi, used)) = eq_or_range(at, 2) {
                pair((lo, hi)).map(|(lo, hi)| (lo, hi, false, 2 + used))
            } else {
                return Some(Err(
                    at.fail(1, "meta length's byteorder without a range after it")
                ));
            }
        }
        _ => match cmp_of(at.get(1)) {
            Some((op @ (NFT_CMP_EQ | NFT_CMP_NEQ), v)) => {
                length(v, false).map(|l| (l, l, op == NFT_CMP_NEQ, 2))
            }
            Some(_) => return Some(Err(at.fail(1, "meta length compared other than == or !="))),
            None => return Some(Err(at.fail(0, "meta length without a comparison"))),
        },
    };
    match found {
        Some((lo, hi, not, used)) if lo <= hi => {
            Some(Ok((Step::Match(Match::Length { lo, hi, not }), used)))
        }
        _ => Some(Err(
            at.fail(1, "meta length compared with other than a length 0-65535")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{cmp, not_statewalls, roundtrip, rule};
    use super::*;
    use crate::codec::nft::{NFT_BYTEORDER_HTON, NFT_CMP_GTE, NFT_CMP_LTE};
    use crate::core::plan::{IPPROTO_UDP, Verdict};

    #[test]
    fn lengths_and_ranges_round_trip() {
        for (lo, hi) in [(30, 30), (0, 1500), (1500, 65535), (0, 65535)] {
            for not in [false, true] {
                roundtrip(rule(vec![Match::Length { lo, hi, not }], Verdict::Drop));
            }
        }
        roundtrip(rule(
            vec![
                Match::Length {
                    lo: 0,
                    hi: 100,
                    not: false,
                },
                Match::Length {
                    lo: 28,
                    hi: 28,
                    not: true,
                },
                Match::L4Proto(IPPROTO_UDP),
            ],
            Verdict::Accept,
        ));
    }

    fn meta() -> Attrs {
        let mut m = Attrs::default();
        m.be32(NFTA_META_DREG, NFT_REG_1)
            .be32(NFTA_META_KEY, NFT_META_LEN);
        m
    }

    fn byteorder(op: u32) -> Attrs {
        let mut d = Attrs::default();
        d.be32(NFTA_BYTEORDER_SREG, NFT_REG_1)
            .be32(NFTA_BYTEORDER_DREG, NFT_REG_1)
            .be32(NFTA_BYTEORDER_OP, op)
            .be32(NFTA_BYTEORDER_LEN, 4)
            .be32(NFTA_BYTEORDER_SIZE, 4);
        d
    }

    #[test]
    fn other_conversions_and_comparisons_are_not_statewalls() {
        let be = |n: u32| n.to_be_bytes();
        // `meta length > 100`
        let err = not_statewalls(&[
            ("meta", meta()),
            ("cmp", cmp(NFT_CMP_GTE, &100u32.to_ne_bytes())),
        ]);
        assert!(err.contains("other than == or !="), "{err}");
        // ntoh is not what nft writes
        let err = not_statewalls(&[
            ("meta", meta()),
            ("byteorder", byteorder(0)),
            ("cmp", cmp(NFT_CMP_GTE, &be(0))),
            ("cmp", cmp(NFT_CMP_LTE, &be(100))),
        ]);
        assert!(err.contains("other than nft's hton"), "{err}");
        let err = not_statewalls(&[
            ("meta", meta()),
            ("byteorder", byteorder(NFT_BYTEORDER_HTON)),
            ("cmp", cmp(NFT_CMP_LTE, &be(100))),
        ]);
        assert!(err.contains("without a range after it"), "{err}");
        // beyond what the xtables match takes
        let err = not_statewalls(&[
            ("meta", meta()),
            ("byteorder", byteorder(NFT_BYTEORDER_HTON)),
            ("cmp", cmp(NFT_CMP_GTE, &be(0))),
            ("cmp", cmp(NFT_CMP_LTE, &be(70000))),
        ]);
        assert!(err.contains("other than a length 0-65535"), "{err}");
        let err = not_statewalls(&[("meta", meta())]);
        assert!(err.contains("without a comparison"), "{err}");
    }
}
