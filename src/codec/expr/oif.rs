//! The output interface: `oif lo` (`Oif`, only loopback's index, 1 in every namespace) and
//! `oifname "eth0"` (`OifName`, NUL-padded to IFNAMSIZ like `iifname`).
//!
//! nft: `[ meta load oif => reg 1 ] [ cmp eq reg 1 0x00000001 ]`,
//! `[ meta load oifname => reg 1 ] [ cmp eq reg 1 0x30687465 0x00000000 … ]`

use rustables::expr::{Cmp, CmpOp, Meta, MetaType};

use super::prim::{UNKNOWN_META, meta_eq};
use super::{At, Decoding, Step};
use crate::codec::nft::{NFT_META_OIF, NFT_META_OIFNAME};
use crate::core::plan::Match;

pub(super) fn encode_index(rule: &mut rustables::Rule, index: u32) {
    rule.add_expr(Meta::new(MetaType::Oif));
    rule.add_expr(Cmp::new(CmpOp::Eq, index.to_ne_bytes()));
}

pub(super) fn encode_name(rule: &mut rustables::Rule, name: [u8; 16]) {
    rule.add_expr(Meta::new(MetaType::OifName));
    rule.add_expr(Cmp::new(CmpOp::Eq, name));
}

pub(super) fn decode(at: &At) -> Decoding {
    if let Some(found) = meta_eq(at, NFT_META_OIF) {
        return Some(found.and_then(|v| match <[u8; 4]>::try_from(v) {
            Ok(index) => Ok((Step::Match(Match::Oif(u32::from_ne_bytes(index))), 2)),
            Err(_) => Err(at.fail(0, UNKNOWN_META)),
        }));
    }
    Some(
        meta_eq(at, NFT_META_OIFNAME)?.and_then(|v| match <[u8; 16]>::try_from(v) {
            Ok(name) => Ok((Step::Match(Match::OifName(name)), 2)),
            Err(_) => Err(at.fail(0, UNKNOWN_META)),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{roundtrip, rule};
    use crate::core::plan::{LOOPBACK_IFINDEX, Match, Verdict, ifname_match};

    #[test]
    fn oif_and_oifname_round_trip() {
        roundtrip(rule(vec![Match::Oif(LOOPBACK_IFINDEX)], Verdict::Accept));
        roundtrip(rule(vec![ifname_match("eth0", true)], Verdict::Drop));
        roundtrip(rule(
            vec![ifname_match("veth-a", false), ifname_match("wg0", true)],
            Verdict::Accept,
        ));
    }
}
