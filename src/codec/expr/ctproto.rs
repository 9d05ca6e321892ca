//! `ct protocol tcp`: the protocol of the packet's connection (`CtProto`, an entry's
//! `connection_protocol`, iptables' `--ctproto`), which for an ICMP error the kernel relates
//! to a TCP connection is TCP. rustables 0.9 loads no ct protocol: the load is our own
//! bytes, the comparison rustables'. A packet without a connection (an invalid or untracked
//! one) ends the rule at the load, as xt_conntrack finds no protocol.
//!
//! nft: `[ ct load protocol => reg 1 ] [ cmp eq reg 1 0x00000006 ]` (`ct original protocol
//! 6`, as iptables-translate writes `--ctproto`, loads it with `dir original`: the same
//! byte, read too)

use rustables::expr::{Cmp, CmpOp};

use super::prim::{cmp_of, own};
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{
    IP_CT_DIR_ORIGINAL, NFT_CMP_EQ, NFT_CT_PROTOCOL, NFT_REG_1, NFTA_CT_DREG, NFTA_CT_KEY,
};
use crate::codec::wire::Attrs;
use crate::core::plan::Match;

/// The load, as one list element.
pub(super) fn encode_load(list: &mut Attrs) {
    own(list, "ct", |d| {
        d.be32(NFTA_CT_DREG, NFT_REG_1)
            .be32(NFTA_CT_KEY, NFT_CT_PROTOCOL);
    });
}

/// The comparison after the load.
pub(super) fn encode_cmp(rule: &mut rustables::Rule, proto: u8) {
    rule.add_expr(Cmp::new(CmpOp::Eq, [proto]));
}

pub(super) fn decode(at: &At) -> Decoding {
    let Some(&Expr::Ct {
        key: NFT_CT_PROTOCOL,
        dir,
    }) = at.get(0)
    else {
        return None;
    };
    if dir.is_some_and(|d| d != IP_CT_DIR_ORIGINAL) {
        return Some(Err(at.fail(0, "ct protocol of the reply direction")));
    }
    match cmp_of(at.get(1)) {
        Some((NFT_CMP_EQ, &[p])) => Some(Ok((Step::Match(Match::CtProto(p)), 2))),
        _ => Some(Err(at.fail(1, "ct protocol without a protocol comparison"))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{cmp, dumped, not_statewalls, roundtrip, rule};
    use super::*;
    use crate::codec::decode::decode_rule_msg;
    use crate::codec::nft::NFTA_CT_DIRECTION;
    use crate::core::plan::Verdict;

    #[test]
    fn connection_protocols_read_back() {
        for p in [6, 17, 132] {
            roundtrip(rule(vec![Match::CtProto(p)], Verdict::Accept));
        }
    }

    /// iptables-translate's `ct original protocol 17` (a direction) reads as the same match;
    /// a comparison of another width is not statewall's.
    #[test]
    fn the_original_directions_protocol_is_the_same() {
        let mut load = Attrs::default();
        load.be32(NFTA_CT_KEY, NFT_CT_PROTOCOL)
            .put(NFTA_CT_DIRECTION, &[IP_CT_DIR_ORIGINAL]);
        let exprs = [("ct", load), ("cmp", cmp(NFT_CMP_EQ, &[17]))];
        let (_, live) = decode_rule_msg(&dumped(1, &exprs)).expect("a rule message");
        assert_eq!(
            live.rule.expect("statewall's").matches,
            [Match::CtProto(17)]
        );
        let mut load = Attrs::default();
        load.be32(NFTA_CT_KEY, NFT_CT_PROTOCOL);
        let wide = [("ct", load), ("cmp", cmp(NFT_CMP_EQ, &[0, 6]))];
        let why = not_statewalls(&wide);
        assert!(why.contains("protocol comparison"), "{why}");
    }
}
