//! A pattern in the packet's bytes: `xt match string` (`Contains`, an entry's `contains`,
//! iptables' `-m string`). nft's language has no such match: the kernel's x_tables match
//! `string` runs inside nf_tables as a `match` expression (nft_compat), as iptables-nft
//! writes it; rustables has none, so it is our own bytes.
//!
//! nft: `[ match name string rev 1 ]`, its `NFTA_MATCH_INFO` the kernel's `struct
//! xt_string_info` (revision 1) in host byte order: `u16 from_offset, u16 to_offset, char
//! algo[16], char pattern[128], u8 patlen, u8 flags` (invert, ignore case), then the
//! kernel's own pointer (aligned to 8; zero from us, zeroed in dumps): 160 bytes.

use super::prim::own;
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{
    NFTA_MATCH_INFO, NFTA_MATCH_NAME, NFTA_MATCH_REV, XT_STRING_FLAG_IGNORECASE,
    XT_STRING_FLAG_INVERT, XT_STRING_MAX_ALGO_NAME_SIZE, XT_STRING_MAX_PATTERN_SIZE,
};
use crate::codec::wire::{Attrs, attr, be32, string};
use crate::core::payload::{Algo, Pattern};
use crate::core::plan::Match;

/// The revision of xt_string statewall writes (iptables' too: its flags byte has ignore
/// case; revision 0 has only invert).
const REV: u32 = 1;

const ALGO_AT: usize = 4;
const PATTERN_AT: usize = ALGO_AT + XT_STRING_MAX_ALGO_NAME_SIZE as usize;
const PATLEN_AT: usize = PATTERN_AT + XT_STRING_MAX_PATTERN_SIZE as usize;
const FLAGS_AT: usize = PATLEN_AT + 1;
/// `sizeof(struct xt_string_info)`: the flags, padding to 8, the kernel's pointer.
const INFO_LEN: usize = (FLAGS_AT + 1).next_multiple_of(8) + 8;

/// `struct xt_string_info` of a pattern.
pub(super) fn info(p: &Pattern, not: bool) -> [u8; INFO_LEN] {
    let mut b = [0u8; INFO_LEN];
    b[0..2].copy_from_slice(&p.from.to_ne_bytes());
    b[2..4].copy_from_slice(&p.to.to_ne_bytes());
    let algo = p.algo.name().as_bytes();
    b[ALGO_AT..ALGO_AT + algo.len()].copy_from_slice(algo);
    let bytes = p.bytes();
    b[PATTERN_AT..PATTERN_AT + bytes.len()].copy_from_slice(bytes);
    b[PATLEN_AT] = bytes.len() as u8;
    b[FLAGS_AT] = if not { XT_STRING_FLAG_INVERT } else { 0 }
        | if p.icase {
            XT_STRING_FLAG_IGNORECASE
        } else {
            0
        };
    b
}

/// One `match` list element.
pub(super) fn encode_own(list: &mut Attrs, p: &Pattern, not: bool) {
    own(list, "match", |d| {
        d.str(NFTA_MATCH_NAME, "string")
            .be32(NFTA_MATCH_REV, REV)
            .put(NFTA_MATCH_INFO, &info(p, not));
    });
}

/// A match's data → (pattern, not), or what statewall does not write in it.
fn read(d: &[u8]) -> Result<(Pattern, bool), String> {
    let name = attr(d, NFTA_MATCH_NAME).map(string).unwrap_or_default();
    if name != "string" {
        return Err(format!(
            "x_tables match {name:?} (statewall writes only `string`, `u32` and `helper`)"
        ));
    }
    if attr(d, NFTA_MATCH_REV).and_then(be32) != Some(REV) {
        return Err("xt match string of another revision than 1".into());
    }
    let b = attr(d, NFTA_MATCH_INFO).ok_or("xt match string without its info")?;
    if b.len() != INFO_LEN {
        return Err(format!(
            "xt match string info of {} bytes, not {INFO_LEN}",
            b.len()
        ));
    }
    let from = u16::from_ne_bytes([b[0], b[1]]);
    let to = u16::from_ne_bytes([b[2], b[3]]);
    let algo_name = &b[ALGO_AT..PATTERN_AT];
    let end = algo_name
        .iter()
        .position(|&c| c == 0)
        .unwrap_or(algo_name.len());
    let algo = std::str::from_utf8(&algo_name[..end])
        .ok()
        .and_then(Algo::from_name)
        .ok_or("xt match string with an algorithm other than bm or kmp")?;
    let len = usize::from(b[PATLEN_AT]);
    if len > XT_STRING_MAX_PATTERN_SIZE as usize {
        return Err("xt match string with a pattern longer than 128 bytes".into());
    }
    let flags = b[FLAGS_AT];
    if flags & !(XT_STRING_FLAG_INVERT | XT_STRING_FLAG_IGNORECASE) != 0 {
        return Err("xt match string with flags statewall does not write".into());
    }
    let icase = flags & XT_STRING_FLAG_IGNORECASE != 0;
    let pattern = Pattern::new(&b[PATTERN_AT..PATTERN_AT + len], algo, from, to, icase)
        .map_err(|why| format!("xt match string with {why}"))?;
    Ok((pattern, flags & XT_STRING_FLAG_INVERT != 0))
}

pub(super) fn decode(at: &At) -> Decoding {
    let Some(Expr::Other { name, data }) = at.get(0) else {
        return None;
    };
    if name != "match" {
        return None;
    }
    Some(match read(data) {
        Ok((pattern, not)) => Ok((Step::Match(Match::Contains { pattern, not }), 1)),
        Err(why) => Err(at.fail(0, why)),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{not_statewalls, roundtrip, rule};
    use super::*;
    use crate::core::plan::{IPPROTO_UDP, Verdict};

    #[test]
    fn the_info_is_the_kernels_struct() {
        assert_eq!(INFO_LEN, 160, "sizeof(struct xt_string_info)");
        let p = Pattern::new(b"sipvicious", Algo::Kmp, 40, 1000, true).unwrap();
        let b = info(&p, true);
        assert_eq!(u16::from_ne_bytes([b[0], b[1]]), 40);
        assert_eq!(u16::from_ne_bytes([b[2], b[3]]), 1000);
        assert_eq!(&b[4..8], b"kmp\0");
        assert_eq!(&b[20..30], b"sipvicious");
        assert_eq!((b[148], b[149]), (10, 0x03));
        assert!(b[150..].iter().all(|&c| c == 0));
    }

    #[test]
    fn patterns_round_trip() {
        let patterns = [
            Pattern::new(b"friendly-scanner", Algo::Bm, 0, 65535, false).unwrap(),
            Pattern::new(&[0, 0, 0xff, 0, 1], Algo::Bm, 40, 65535, false).unwrap(),
            Pattern::new(&[0x5a; 128], Algo::Kmp, 0, 300, true).unwrap(),
        ];
        for p in patterns {
            for not in [false, true] {
                let m = Match::Contains { pattern: p, not };
                roundtrip(rule(vec![Match::L4Proto(IPPROTO_UDP), m], Verdict::Drop));
            }
        }
    }

    #[test]
    fn other_matches_and_malformed_infos_are_not_statewalls() {
        let p = Pattern::new(b"x", Algo::Bm, 0, 65535, false).unwrap();
        let with = |name: &str, rev: u32, info: &[u8]| {
            let mut d = Attrs::default();
            d.str(NFTA_MATCH_NAME, name)
                .be32(NFTA_MATCH_REV, rev)
                .put(NFTA_MATCH_INFO, info);
            not_statewalls(&[("match", d)])
        };
        let good = info(&p, false);
        let err = with("bpf", 0, &good);
        assert!(err.contains("x_tables match \"bpf\""), "{err}");
        let err = with("string", 0, &good);
        assert!(err.contains("another revision"), "{err}");
        let err = with("string", 1, &good[..150]);
        assert!(err.contains("info of 150 bytes"), "{err}");
        let mut bad = good;
        bad[4..7].copy_from_slice(b"fsm");
        assert!(with("string", 1, &bad).contains("algorithm"));
        let mut bad = good;
        bad[148] = 0;
        assert!(with("string", 1, &bad).contains("empty pattern"));
        let mut bad = good;
        bad[148] = 200;
        assert!(with("string", 1, &bad).contains("longer than 128"));
        let mut bad = good;
        bad[149] = 0x04;
        assert!(with("string", 1, &bad).contains("flags"));
        let mut bad = good;
        bad[0..2].copy_from_slice(&9u16.to_ne_bytes());
        bad[2..4].copy_from_slice(&8u16.to_ne_bytes());
        assert!(with("string", 1, &bad).contains("between offsets 9 and 8"));
    }
}
