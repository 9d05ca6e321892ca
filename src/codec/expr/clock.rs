//! The kernel's clock: `meta hour "09:00:00"-"17:00:00"`, `meta hour != …` (`Hour`), `meta day
//! 1-5`, `meta day != 1-5` (`Day`), `meta time >= "2025-01-01 00:00:00"`, `meta time < …`
//! (`Time`): an entry's `hours`, `days`, `since` and `until`, iptables' `-m time`. rustables
//! 0.9 has none of these meta keys nor the byteorder expression: those are our own bytes,
//! the comparisons rustables' (a range's `range neq` ours).
//!
//! nft (as 1.0.6 writes them, run with TZ=UTC):
//! - `[ meta load hour => reg 1 ] [ byteorder reg 1 = hton(reg 1, 4, 4) ]` then `[ cmp eq … ]`,
//!   `[ cmp neq … ]`, `[ cmp gte … ] [ cmp lte … ]` or `[ range neq … ]`: the second of the
//!   UTC day, turned big-endian so that the kernel's memcmp compares numbers;
//! - `[ meta load day => reg 1 ]` then the same comparisons of one byte (0 = Sunday);
//! - `[ meta load time => reg 1 ] [ byteorder reg 1 = hton(reg 1, 8, 8) ] [ cmp gte … ]` or
//!   `[ cmp lt … ]`: nanoseconds since 1970, eight bytes.

use rustables::expr::{Cmp, CmpOp};

use super::prim::{
    cmp_of, eq_or_range, eq_or_range_expr, neq_or_range_neq, neq_or_range_neq_expr, own,
};
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{
    NFT_BYTEORDER_HTON, NFT_CMP_GTE, NFT_CMP_LT, NFT_META_TIME_DAY, NFT_META_TIME_HOUR,
    NFT_META_TIME_NS, NFT_REG_1, NFTA_BYTEORDER_DREG, NFTA_BYTEORDER_LEN, NFTA_BYTEORDER_OP,
    NFTA_BYTEORDER_SIZE, NFTA_BYTEORDER_SREG, NFTA_META_DREG, NFTA_META_KEY,
};
use crate::codec::wire::{attr, be32};
use crate::core::plan::Match;

const NS: u64 = 1_000_000_000;

fn meta(rule: &mut rustables::Rule, own_list: &mut Vec<Vec<u8>>, key: u32) {
    super::placeholder(rule, own_list, |l| {
        own(l, "meta", |d| {
            d.be32(NFTA_META_DREG, NFT_REG_1).be32(NFTA_META_KEY, key);
        })
    });
}

/// nft's `hton(reg 1, n, n)` before a comparison of an n-byte host-order value.
fn hton(rule: &mut rustables::Rule, own_list: &mut Vec<Vec<u8>>, n: u32) {
    super::placeholder(rule, own_list, |l| {
        own(l, "byteorder", |d| {
            d.be32(NFTA_BYTEORDER_SREG, NFT_REG_1)
                .be32(NFTA_BYTEORDER_DREG, NFT_REG_1)
                .be32(NFTA_BYTEORDER_OP, NFT_BYTEORDER_HTON)
                .be32(NFTA_BYTEORDER_LEN, n)
                .be32(NFTA_BYTEORDER_SIZE, n);
        })
    });
}

/// Whether a byteorder's data is nft's `hton(reg 1, n, n)`.
fn is_hton(d: &[u8], n: u32) -> bool {
    let get = |ty| attr(d, ty).and_then(be32);
    [
        (NFTA_BYTEORDER_SREG, NFT_REG_1),
        (NFTA_BYTEORDER_DREG, NFT_REG_1),
        (NFTA_BYTEORDER_OP, NFT_BYTEORDER_HTON),
        (NFTA_BYTEORDER_LEN, n),
        (NFTA_BYTEORDER_SIZE, n),
    ]
    .iter()
    .all(|&(ty, v)| get(ty) == Some(v))
}

/// Values in a range, or (`not`) outside it, as nft compares them.
fn compare(
    rule: &mut rustables::Rule,
    own_list: &mut Vec<Vec<u8>>,
    lo: &[u8],
    hi: &[u8],
    not: bool,
) {
    if not {
        neq_or_range_neq_expr(rule, own_list, lo, hi);
    } else {
        eq_or_range_expr(rule, lo, hi);
    }
}

pub(super) fn encode(rule: &mut rustables::Rule, own_list: &mut Vec<Vec<u8>>, m: &Match) {
    match *m {
        Match::Hour { lo, hi, not } => {
            meta(rule, own_list, NFT_META_TIME_HOUR);
            hton(rule, own_list, 4);
            compare(rule, own_list, &lo.to_be_bytes(), &hi.to_be_bytes(), not);
        }
        Match::Day { lo, hi, not } => {
            meta(rule, own_list, NFT_META_TIME_DAY);
            compare(rule, own_list, &[lo], &[hi], not);
        }
        Match::Time { secs, before } => {
            meta(rule, own_list, NFT_META_TIME_NS);
            hton(rule, own_list, 8);
            let op = if before { CmpOp::Lt } else { CmpOp::Gte };
            rule.add_expr(Cmp::new(op, (secs * NS).to_be_bytes().to_vec()));
        }
        _ => unreachable!("only the clock's matches are written here"),
    }
}

/// The comparison at expression `k`: (lo, hi, not, expressions used).
fn compared<'a>(at: &At<'a>, k: usize) -> Option<(&'a [u8], &'a [u8], bool, usize)> {
    if let Some((lo, hi)) = neq_or_range_neq(at, k) {
        return Some((lo, hi, true, 1));
    }
    eq_or_range(at, k).map(|(lo, hi, used)| (lo, hi, false, used))
}

pub(super) fn decode(at: &At) -> Decoding {
    let key = match at.get(0) {
        Some(Expr::Meta { key })
            if [NFT_META_TIME_HOUR, NFT_META_TIME_DAY, NFT_META_TIME_NS].contains(key) =>
        {
            *key
        }
        _ => return None,
    };
    if key == NFT_META_TIME_DAY {
        let day = |v: &[u8]| match v {
            [d] if *d < 7 => Some(*d),
            _ => None,
        };
        return Some(match compared(at, 1) {
            Some((lo, hi, not, used)) => match (day(lo), day(hi)) {
                (Some(lo), Some(hi)) if lo <= hi => {
                    Ok((Step::Match(Match::Day { lo, hi, not }), 1 + used))
                }
                _ => Err(at.fail(1, "meta day compared with other than days 0-6")),
            },
            None => Err(at.fail(0, "meta day without a comparison statewall writes")),
        });
    }
    let n = if key == NFT_META_TIME_HOUR { 4 } else { 8 };
    match at.get(1) {
        Some(Expr::Other { name, data }) if name == "byteorder" && is_hton(data, n) => {}
        _ => {
            return Some(Err(
                at.fail(0, "a meta hour or time without nft's byteorder after it")
            ));
        }
    }
    if key == NFT_META_TIME_NS {
        let secs = match cmp_of(at.get(2)) {
            Some((op @ (NFT_CMP_GTE | NFT_CMP_LT), v)) => <[u8; 8]>::try_from(v)
                .ok()
                .map(u64::from_be_bytes)
                .filter(|ns| ns % NS == 0)
                .map(|ns| (ns / NS, op == NFT_CMP_LT)),
            _ => None,
        };
        return Some(match secs {
            Some((secs, before)) => Ok((Step::Match(Match::Time { secs, before }), 3)),
            None => Err(at.fail(2, "meta time compared other than >= or < a whole second")),
        });
    }
    let second = |v: &[u8]| {
        <[u8; 4]>::try_from(v)
            .ok()
            .map(u32::from_be_bytes)
            .filter(|s| *s < crate::core::clock::DAY)
    };
    Some(match compared(at, 2) {
        Some((lo, hi, not, used)) => match (second(lo), second(hi)) {
            (Some(lo), Some(hi)) if lo <= hi => {
                Ok((Step::Match(Match::Hour { lo, hi, not }), 2 + used))
            }
            _ => Err(at.fail(2, "meta hour compared with other than seconds of the day")),
        },
        None => Err(at.fail(1, "meta hour without a comparison statewall writes")),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{roundtrip, rule};
    use super::*;
    use crate::core::plan::Verdict;

    #[test]
    fn hours_days_and_dates_round_trip() {
        for not in [false, true] {
            for (lo, hi) in [(0, 86_399), (32_400, 61_200), (3600, 3600)] {
                roundtrip(rule(vec![Match::Hour { lo, hi, not }], Verdict::Drop));
            }
            for (lo, hi) in [(1, 5), (0, 0), (6, 6), (0, 6)] {
                roundtrip(rule(vec![Match::Day { lo, hi, not }], Verdict::Accept));
            }
        }
        roundtrip(rule(
            vec![
                Match::Time {
                    secs: 1_735_689_600,
                    before: false,
                },
                Match::Time {
                    secs: i32::MAX as u64 + 1,
                    before: true,
                },
                Match::Hour {
                    lo: 21_601,
                    hi: 79_199,
                    not: true,
                },
                Match::Day {
                    lo: 1,
                    hi: 5,
                    not: false,
                },
            ],
            Verdict::Accept,
        ));
    }
}
