//! Every interface but one: `iifname != "lo"`, `oifname != "eth*"` (`IfNot`, an entry's
//! `except_iif`/`except_oif`). A name compares all 16 NUL-padded bytes, a wildcard only the
//! bytes before its `*`, as nft writes them.
//!
//! nft: `[ meta load iifname => reg 1 ] [ cmp neq reg 1 0x00006f6c 0x00000000 … ]`

use rustables::expr::{Cmp, CmpOp, Meta, MetaType};

use super::prim::{UNKNOWN_META, cmp_of};
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{NFT_CMP_NEQ, NFT_META_IIFNAME, NFT_META_OIFNAME};
use crate::core::plan::{Match, ifname_bytes};

pub(super) fn encode(rule: &mut rustables::Rule, out: bool, wild: bool, name: [u8; 16]) {
    rule.add_expr(Meta::new(if out {
        MetaType::OifName
    } else {
        MetaType::IifName
    }));
    let value = if wild {
        let end = name.iter().position(|&c| c == 0).unwrap_or(16);
        name[..end].to_vec()
    } else {
        name.to_vec()
    };
    rule.add_expr(Cmp::new(CmpOp::Neq, value));
}

/// An interface name load compared with `!=`: 16 bytes are a name, fewer a wildcard.
pub(super) fn decode(at: &At) -> Decoding {
    let out = match at.get(0)? {
        Expr::Meta { key } if *key == NFT_META_IIFNAME => false,
        Expr::Meta { key } if *key == NFT_META_OIFNAME => true,
        _ => return None,
    };
    let (op, v) = cmp_of(at.get(1))?;
    if op != NFT_CMP_NEQ {
        return None;
    }
    let m = match v.len() {
        16 => Match::IfNot {
            out,
            wild: false,
            name: <[u8; 16]>::try_from(v).expect("16 bytes"),
        },
        1..16 if !v.contains(&0) => match std::str::from_utf8(v) {
            Ok(prefix) => Match::IfNot {
                out,
                wild: true,
                name: ifname_bytes(prefix),
            },
            Err(_) => return Some(Err(at.fail(0, UNKNOWN_META))),
        },
        _ => return Some(Err(at.fail(0, UNKNOWN_META))),
    };
    Some(Ok((Step::Match(m), 2)))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{roundtrip, rule};
    use crate::core::plan::{Verdict, ifname_match, ifname_not_match};

    #[test]
    fn negated_interfaces_round_trip() {
        roundtrip(rule(vec![ifname_not_match("lo", false)], Verdict::Drop));
        roundtrip(rule(vec![ifname_not_match("br-*", false)], Verdict::Accept));
        roundtrip(rule(
            vec![
                ifname_match("eth0", false),
                ifname_not_match("wg0", true),
                ifname_not_match("veth*", true),
            ],
            Verdict::Drop,
        ));
    }
}
