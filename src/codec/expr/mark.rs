//! The packet's mark: `meta mark 0x0000ca6c`, `meta mark != 0x0000ca6c`, `meta mark &
//! 0x00ff0000 == 0x00040000` (`Mark`, an entry's `mark`, `except_mark`; iptables' `-m mark
//! --mark VALUE[/MASK]`). Other programs set marks (wg-quick's fwmark on its socket, ip rules,
//! tc): statewall matches them and never sets one.
//!
//! nft: `[ meta load mark => reg 1 ]`, for a mask other than all ones `[ bitwise reg 1 = (
//! reg 1 & MASK ) ^ 0x00000000 ]`, then `[ cmp eq reg 1 VALUE ]` (`cmp neq` for `!=`), the
//! numbers four bytes in host order.

use rustables::expr::{Bitwise, Cmp, CmpOp, Meta, MetaType};

use super::prim::{bitwise_of, cmp_of};
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{NFT_CMP_EQ, NFT_CMP_NEQ, NFT_META_MARK};
use crate::core::plan::Match;

pub(super) fn encode(rule: &mut rustables::Rule, value: u32, mask: u32, not: bool) {
    rule.add_expr(Meta::new(MetaType::Mark));
    if mask != u32::MAX {
        rule.add_expr(Bitwise::new(mask.to_ne_bytes(), 0u32.to_ne_bytes()).expect("same length"));
    }
    let op = if not { CmpOp::Neq } else { CmpOp::Eq };
    rule.add_expr(Cmp::new(op, value.to_ne_bytes()));
}

fn word(b: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(b).ok().map(u32::from_ne_bytes)
}

pub(super) fn decode(at: &At) -> Decoding {
    match at.get(0) {
        Some(Expr::Meta { key }) if *key == NFT_META_MARK => {}
        _ => return None,
    }
    let (mask, k) = match bitwise_of(at.get(1)) {
        Some((mask, xor)) => match (word(mask), word(xor)) {
            (Some(m), Some(0)) if m != u32::MAX => (m, 2),
            _ => {
                return Some(Err(
                    at.fail(1, "meta mark with a bitwise statewall does not write")
                ));
            }
        },
        None => (u32::MAX, 1),
    };
    let not = match cmp_of(at.get(k)) {
        Some((NFT_CMP_EQ, _)) => false,
        Some((NFT_CMP_NEQ, _)) => true,
        Some(_) => return Some(Err(at.fail(k, "meta mark compared other than == or !="))),
        None => return Some(Err(at.fail(0, "meta mark without a comparison"))),
    };
    match cmp_of(at.get(k)).and_then(|(_, v)| word(v)) {
        Some(value) if value & !mask == 0 => {
            Some(Ok((Step::Match(Match::Mark { value, mask, not }), k + 1)))
        }
        Some(_) => Some(Err(
            at.fail(k, "meta mark compared with bits its mask clears")
        )),
        None => Some(Err(
            at.fail(k, "meta mark compared with other than four bytes")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{cmp, not_statewalls, roundtrip, rule};
    use super::*;
    use crate::codec::nft::{NFT_CMP_GTE, NFT_REG_1, NFTA_META_DREG, NFTA_META_KEY};
    use crate::codec::wire::Attrs;
    use crate::core::plan::Verdict;

    #[test]
    fn marks_round_trip_with_and_without_a_mask() {
        for (value, mask) in [
            (0xca6c, u32::MAX),
            (0, u32::MAX),
            (0x40000, 0xff0000),
            (0, 0x8000),
        ] {
            for not in [false, true] {
                roundtrip(rule(vec![Match::Mark { value, mask, not }], Verdict::Drop));
            }
        }
    }

    #[test]
    fn other_comparisons_are_not_statewalls() {
        let meta = || {
            let mut m = Attrs::default();
            m.be32(NFTA_META_DREG, NFT_REG_1)
                .be32(NFTA_META_KEY, NFT_META_MARK);
            m
        };
        let err = not_statewalls(&[("meta", meta()), ("cmp", cmp(NFT_CMP_GTE, &[0, 0, 0, 0]))]);
        assert!(
            err.contains("meta mark compared other than == or !="),
            "{err}"
        );
        let err = not_statewalls(&[("meta", meta()), ("cmp", cmp(NFT_CMP_EQ, &[1, 0]))]);
        assert!(err.contains("other than four bytes"), "{err}");
        let err = not_statewalls(&[("meta", meta())]);
        assert!(err.contains("meta mark without a comparison"), "{err}");
    }
}
