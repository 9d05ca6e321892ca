//! `iifname "eth0"`: the input interface's name, NUL-padded to IFNAMSIZ (16) bytes, as
//! `nft` emits it.
//!
//! nft: `[ meta load iifname => reg 1 ] [ cmp eq reg 1 0x30687465 0x00000000 … ]`

use rustables::expr::{Cmp, CmpOp, Meta, MetaType};

use super::prim::{UNKNOWN_META, meta_eq};
use super::{At, Decoding, Step};
use crate::codec::nft::NFT_META_IIFNAME;
use crate::core::plan::Match;

pub(super) fn encode(rule: &mut rustables::Rule, name: [u8; 16]) {
    rule.add_expr(Meta::new(MetaType::IifName));
    rule.add_expr(Cmp::new(CmpOp::Eq, name));
}

pub(super) fn decode(at: &At) -> Decoding {
    Some(
        meta_eq(at, NFT_META_IIFNAME)?.and_then(|v| match <[u8; 16]>::try_from(v) {
            Ok(name) => Ok((Step::Match(Match::IifName(name)), 2)),
            Err(_) => Err(at.fail(0, UNKNOWN_META)),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{roundtrip, rule};
    use crate::core::model::IcmpReject;
    use crate::core::plan::{Verdict, iifname};

    #[test]
    fn iifname_round_trips() {
        roundtrip(rule(vec![iifname("eth0")], Verdict::Accept));
        roundtrip(rule(
            vec![iifname("veth-client12")],
            Verdict::RejectIcmpx(IcmpReject::HostUnreachable),
        ));
    }
}
