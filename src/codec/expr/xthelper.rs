//! The helper of a connection's master: `xt match helper` (`Helper`, an entry's `helper`,
//! iptables' `-m helper --helper NAME`). nft's `ct helper` reads the connection's own helper,
//! not the master's that xt_helper tells expected connections by (`core::cthelper`); the
//! kernel's x_tables match `helper` runs inside nf_tables as a `match` expression
//! (nft_compat), as iptables-nft writes it; rustables has none, so it is our own bytes (see
//! `xtstring`).
//!
//! nft: `[ match name helper rev 0 ]`, its `NFTA_MATCH_INFO` the kernel's `struct
//! xt_helper_info` in host byte order: `int invert, char name[30]` (34 bytes, 36 with its
//! padding), sent and dumped at XT_ALIGN's 8: 40 bytes.

use super::prim::own;
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{NFTA_MATCH_INFO, NFTA_MATCH_NAME, NFTA_MATCH_REV};
use crate::codec::wire::{Attrs, attr, be32, string};
use crate::core::cthelper::{HELPER_NAME_MAX, HelperName};
use crate::core::plan::Match;

/// The revision of xt_helper (its only one).
const REV: u32 = 0;

const NAME_AT: usize = 4;
/// `char name[30]`.
const NAME_LEN: usize = HELPER_NAME_MAX + 1;
/// `XT_ALIGN(sizeof(struct xt_helper_info))`.
const INFO_LEN: usize = (NAME_AT + NAME_LEN).next_multiple_of(4).next_multiple_of(8);

/// `struct xt_helper_info` of a helper's name.
pub(super) fn info(name: &HelperName, not: bool) -> [u8; INFO_LEN] {
    let mut b = [0u8; INFO_LEN];
    b[0..4].copy_from_slice(&i32::from(not).to_ne_bytes());
    let n = name.as_str().as_bytes();
    b[NAME_AT..NAME_AT + n.len()].copy_from_slice(n);
    b
}

/// One `match` list element.
pub(super) fn encode_own(list: &mut Attrs, name: &HelperName, not: bool) {
    own(list, "match", |d| {
        d.str(NFTA_MATCH_NAME, "helper")
            .be32(NFTA_MATCH_REV, REV)
            .put(NFTA_MATCH_INFO, &info(name, not));
    });
}

/// A match's data → (name, not), or what statewall does not write in it.
fn read(d: &[u8]) -> Result<(HelperName, bool), String> {
    if attr(d, NFTA_MATCH_REV).and_then(be32) != Some(REV) {
        return Err("xt match helper of another revision than 0".into());
    }
    let b = attr(d, NFTA_MATCH_INFO).ok_or("xt match helper without its info")?;
    if b.len() != INFO_LEN {
        return Err(format!(
            "xt match helper info of {} bytes, not {INFO_LEN}",
            b.len()
        ));
    }
    let not = match i32::from_ne_bytes([b[0], b[1], b[2], b[3]]) {
        0 => false,
        1 => true,
        _ => return Err("xt match helper with an invert statewall does not write".into()),
    };
    let field = &b[NAME_AT..NAME_AT + NAME_LEN];
    let end = field.iter().position(|&c| c == 0).unwrap_or(NAME_LEN);
    if b[NAME_AT + end..].iter().any(|&c| c != 0) {
        return Err("xt match helper with bytes after its name".into());
    }
    let name = std::str::from_utf8(&field[..end])
        .map_err(|_| "xt match helper with a name that is not text".to_string())
        .and_then(|s| HelperName::parse(s).map_err(|why| format!("xt match helper: {why}")))?;
    Ok((name, not))
}

pub(super) fn decode(at: &At) -> Decoding {
    let Some(Expr::Other { name, data }) = at.get(0) else {
        return None;
    };
    if name != "match" || attr(data, NFTA_MATCH_NAME).map(string).as_deref() != Some("helper") {
        return None;
    }
    Some(match read(data) {
        Ok((name, not)) => Ok((Step::Match(Match::Helper { name, not }), 1)),
        Err(why) => Err(at.fail(0, why)),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{not_statewalls, roundtrip, rule};
    use super::*;
    use crate::core::plan::{IPPROTO_TCP, Verdict};

    #[test]
    fn the_info_is_the_kernels_struct() {
        assert_eq!(INFO_LEN, 40, "XT_ALIGN(sizeof(struct xt_helper_info))");
        let b = info(&HelperName::parse("ftp").unwrap(), true);
        assert_eq!(&b[0..4], &1i32.to_ne_bytes());
        assert_eq!(&b[4..8], b"ftp\0");
        assert!(b[8..].iter().all(|&c| c == 0));
    }

    #[test]
    fn helpers_round_trip() {
        for name in ["ftp", "Q.931", &"x".repeat(HELPER_NAME_MAX)] {
            for not in [false, true] {
                let name = HelperName::parse(name).unwrap();
                let m = Match::Helper { name, not };
                roundtrip(rule(vec![Match::L4Proto(IPPROTO_TCP), m], Verdict::Accept));
            }
        }
    }

    #[test]
    fn malformed_infos_are_not_statewalls() {
        let with = |rev: u32, info: &[u8]| {
            let mut d = Attrs::default();
            d.str(NFTA_MATCH_NAME, "helper")
                .be32(NFTA_MATCH_REV, rev)
                .put(NFTA_MATCH_INFO, info);
            not_statewalls(&[("match", d)])
        };
        let good = info(&HelperName::parse("irc").unwrap(), false);
        assert!(with(1, &good).contains("another revision"));
        assert!(with(0, &good[..36]).contains("info of 36 bytes"));
        let mut bad = good;
        bad[0] = 2;
        assert!(with(0, &bad).contains("invert"));
        let mut bad = good;
        bad[4] = 0;
        assert!(with(0, &bad).contains("bytes after its name"));
        let mut bad = good;
        bad[4..8].copy_from_slice(b"i c\0");
        assert!(with(0, &bad).contains("helper's name"));
    }
}
