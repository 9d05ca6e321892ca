//! Tests of words at computed offsets: `xt match u32` (`U32`, an entry's `u32`, iptables'
//! `-m u32`). nft's language cannot follow an offset read from the packet; the kernel's
//! x_tables match `u32` runs inside nf_tables as a `match` expression (nft_compat), as
//! iptables-nft writes it; rustables has none, so it is our own bytes (see `xtstring`).
//!
//! nft: `[ match name u32 rev 0 ]`, its `NFTA_MATCH_INFO` the kernel's `struct xt_u32` in
//! host byte order: 11 tests of { 11 × (u32 number, u8 nextop; padded to 8), 11 × (u32 min,
//! u32 max), u8 nnums, u8 nvalues } (180 bytes each, padded to 4), then u8 ntests, u8
//! invert: 1984 bytes. The kernel never reads a test's first `nextop`; statewall writes 0
//! there and every unused byte.

use super::prim::own;
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{
    NFTA_MATCH_INFO, NFTA_MATCH_NAME, NFTA_MATCH_REV, XT_U32_AND, XT_U32_AT, XT_U32_LEFTSH,
    XT_U32_MAXSIZE, XT_U32_RIGHTSH,
};
use crate::codec::wire::{Attrs, attr, be32, string};
use crate::core::plan::Match;
use crate::core::u32::{Op, Test, U32};

/// The revision of xt_u32 (its only one).
const REV: u32 = 0;

/// `XT_U32_MAXSIZE + 1`: the length of each array.
const SLOTS: usize = XT_U32_MAXSIZE as usize + 1;
const LOC_AT: usize = 0;
const VALUE_AT: usize = LOC_AT + SLOTS * 8;
const NNUMS_AT: usize = VALUE_AT + SLOTS * 8;
/// `sizeof(struct xt_u32_test)`: nnums, nvalues, padded to 4.
const TEST_LEN: usize = (NNUMS_AT + 2).next_multiple_of(4);
const NTESTS_AT: usize = SLOTS * TEST_LEN;
/// `sizeof(struct xt_u32)`.
const INFO_LEN: usize = (NTESTS_AT + 2).next_multiple_of(4);

fn op_byte(op: Op) -> u8 {
    match op {
        Op::And => XT_U32_AND,
        Op::Shl => XT_U32_LEFTSH,
        Op::Shr => XT_U32_RIGHTSH,
        Op::At => XT_U32_AT,
    }
}

/// `struct xt_u32` of an expression.
pub(super) fn info(u: &U32, not: bool) -> Vec<u8> {
    let mut b = vec![0u8; INFO_LEN];
    let tests = u.tests();
    for (k, (loc, vals)) in tests.iter().enumerate() {
        let t = &mut b[k * TEST_LEN..(k + 1) * TEST_LEN];
        for (i, &(op, num)) in loc.iter().enumerate() {
            let at = LOC_AT + i * 8;
            t[at..at + 4].copy_from_slice(&num.to_ne_bytes());
            t[at + 4] = if i == 0 { XT_U32_AND } else { op_byte(op) };
        }
        for (i, &(lo, hi)) in vals.iter().enumerate() {
            let at = VALUE_AT + i * 8;
            t[at..at + 4].copy_from_slice(&lo.to_ne_bytes());
            t[at + 4..at + 8].copy_from_slice(&hi.to_ne_bytes());
        }
        t[NNUMS_AT] = loc.len() as u8;
        t[NNUMS_AT + 1] = vals.len() as u8;
    }
    b[NTESTS_AT] = tests.len() as u8;
    b[NTESTS_AT + 1] = u8::from(not);
    b
}

/// One `match` list element.
pub(super) fn encode_own(list: &mut Attrs, u: &U32, not: bool) {
    own(list, "match", |d| {
        d.str(NFTA_MATCH_NAME, "u32")
            .be32(NFTA_MATCH_REV, REV)
            .put(NFTA_MATCH_INFO, &info(u, not));
    });
}

fn ne32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// A match's info → (expression, not), or what statewall does not write in it.
fn read(d: &[u8]) -> Result<(U32, bool), String> {
    if attr(d, NFTA_MATCH_REV).and_then(be32) != Some(REV) {
        return Err("xt match u32 of another revision than 0".into());
    }
    let b = attr(d, NFTA_MATCH_INFO).ok_or("xt match u32 without its info")?;
    if b.len() != INFO_LEN {
        return Err(format!(
            "xt match u32 info of {} bytes, not {INFO_LEN}",
            b.len()
        ));
    }
    let ntests = usize::from(b[NTESTS_AT]);
    if ntests > SLOTS {
        return Err(format!("xt match u32 of {ntests} tests"));
    }
    let not = match b[NTESTS_AT + 1] {
        0 => false,
        1 => true,
        n => return Err(format!("xt match u32 with invert {n}")),
    };
    let mut tests: Vec<Test> = Vec::with_capacity(ntests);
    for k in 0..ntests {
        let t = &b[k * TEST_LEN..(k + 1) * TEST_LEN];
        let (nnums, nvalues) = (usize::from(t[NNUMS_AT]), usize::from(t[NNUMS_AT + 1]));
        if nnums > SLOTS || nvalues > SLOTS {
            return Err("xt match u32 with a test past its arrays".into());
        }
        let mut loc = Vec::with_capacity(nnums);
        for i in 0..nnums {
            let at = LOC_AT + i * 8;
            let op = Op::from_u8(t[at + 4])
                .ok_or_else(|| format!("xt match u32 with operator {}", t[at + 4]))?;
            loc.push((op, ne32(t, at)));
        }
        let vals = (0..nvalues)
            .map(|i| (ne32(t, VALUE_AT + i * 8), ne32(t, VALUE_AT + i * 8 + 4)))
            .collect();
        tests.push((loc, vals));
    }
    let u = U32::new(&tests).map_err(|why| format!("xt match u32 with {why}"))?;
    Ok((u, not))
}

pub(super) fn decode(at: &At) -> Decoding {
    let Some(Expr::Other { name, data }) = at.get(0) else {
        return None;
    };
    if name != "match" || attr(data, NFTA_MATCH_NAME).map(string).as_deref() != Some("u32") {
        return None;
    }
    Some(match read(data) {
        Ok((expr, not)) => Ok((Step::Match(Match::U32 { expr, not }), 1)),
        Err(why) => Err(at.fail(0, why)),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{not_statewalls, roundtrip, rule};
    use super::*;
    use crate::core::plan::Verdict;
    use crate::core::u32::parse;

    #[test]
    fn the_info_is_the_kernels_struct() {
        assert_eq!((TEST_LEN, INFO_LEN), (180, 1984), "sizeof(struct xt_u32)");
        let u = parse("0>>22&0x3C@8=1,5:7&&0x34=0x18030000").unwrap();
        let b = info(&u, true);
        // test 0: 0, >> 22, & 0x3c, @ 8; values 1, 5:7
        let nums: Vec<(u32, u8)> = (0..4).map(|i| (ne32(&b, i * 8), b[i * 8 + 4])).collect();
        assert_eq!(nums, [(0, 0), (22, 2), (0x3c, 0), (8, 3)]);
        assert_eq!(
            (ne32(&b, 88), ne32(&b, 92), ne32(&b, 96), ne32(&b, 100)),
            (1, 1, 5, 7)
        );
        assert_eq!((b[176], b[177]), (4, 2));
        // test 1 at 180
        assert_eq!((ne32(&b, 180), ne32(&b, 180 + 88)), (0x34, 0x1803_0000));
        assert_eq!((b[180 + 176], b[180 + 177]), (1, 1));
        assert_eq!((b[1980], b[1981]), (2, 1));
    }

    #[test]
    fn expressions_round_trip() {
        for text in [
            "0x34=0x18030000:0x1803ffff",
            "0>>22&0x3C@12>>26&0x3C@0>>24&0xFF=0x47&&6&0xFF=6",
            "4&0x3FFF=0x2000,0x0:0x10,7",
        ] {
            for not in [false, true] {
                let m = Match::U32 {
                    expr: parse(text).unwrap(),
                    not,
                };
                roundtrip(rule(vec![Match::NfProto { v6: false }, m], Verdict::Drop));
            }
        }
    }

    #[test]
    fn malformed_infos_are_not_statewalls() {
        let good = info(&parse("1=1").unwrap(), false);
        let with = |rev: u32, info: &[u8]| {
            let mut d = Attrs::default();
            d.str(NFTA_MATCH_NAME, "u32")
                .be32(NFTA_MATCH_REV, rev)
                .put(NFTA_MATCH_INFO, info);
            not_statewalls(&[("match", d)])
        };
        assert!(with(1, &good).contains("another revision"));
        assert!(with(0, &good[..1980]).contains("info of 1980 bytes"));
        let mut bad = good.clone();
        bad[NTESTS_AT] = 12;
        assert!(with(0, &bad).contains("of 12 tests"));
        let mut bad = good.clone();
        bad[NTESTS_AT + 1] = 2;
        assert!(with(0, &bad).contains("invert 2"));
        let mut bad = good.clone();
        bad[4] = 4;
        assert!(with(0, &bad).contains("operator 4"));
        let mut bad = good.clone();
        bad[NNUMS_AT] = 0;
        assert!(
            with(0, &bad).contains("without a location"),
            "{}",
            with(0, &bad)
        );
        let mut bad = good;
        bad[NNUMS_AT + 1] = 12;
        assert!(with(0, &bad).contains("past its arrays"));
    }
}
