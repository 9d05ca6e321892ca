//! TCP flags under a mask: `tcp flags fin,syn / fin,syn` (`TcpFlags`, after
//! `meta l4proto tcp`): the scan filters (null, xmas, syn+fin, syn+rst…).
//!
//! nft: `[ payload load 1b @ transport header + 13 => reg 1 ]
//! [ bitwise reg 1 = ( reg 1 & 0x00000003 ) ^ 0x00000000 ] [ cmp eq reg 1 0x00000003 ]`

use rustables::expr::{Bitwise, Cmp, CmpOp};

use super::prim::{bitwise_of, cmp_of, payload, transport_load};
use super::{At, Decoding, Step};
use crate::codec::nft::{NFT_CMP_EQ, NFT_PAYLOAD_TRANSPORT_HEADER};
use crate::core::plan::{IPPROTO_TCP, Match};

/// Where the TCP header keeps its flags: (offset, length).
const FLAGS: (u32, u32) = (13, 1);

pub(super) fn encode(rule: &mut rustables::Rule, mask: u8, value: u8) {
    rule.add_expr(payload(NFT_PAYLOAD_TRANSPORT_HEADER, FLAGS.0, FLAGS.1));
    rule.add_expr(Bitwise::new([mask], [0u8]).expect("same length"));
    rule.add_expr(Cmp::new(CmpOp::Eq, [value]));
}

pub(super) fn decode(at: &At) -> Decoding {
    if transport_load(at, 0)? != FLAGS || at.proto() != Some(IPPROTO_TCP) {
        return None;
    }
    let mask = match bitwise_of(at.get(1)) {
        Some(([m], [0])) => *m,
        _ => return Some(Err(at.fail(1, "tcp flags without statewall's mask"))),
    };
    Some(match cmp_of(at.get(2)) {
        Some((NFT_CMP_EQ, [v])) if v & !mask == 0 => {
            Ok((Step::Match(Match::TcpFlags { mask, value: *v }), 3))
        }
        _ => Err(at.fail(2, "tcp flags compared in a way statewall does not emit")),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{roundtrip, rule};
    use super::*;
    use crate::core::model::PortRange;
    use crate::core::plan::Verdict;

    #[test]
    fn tcp_flags_round_trip() {
        for (mask, value) in [(0x03, 0x03), (0x3f, 0x00), (0x3f, 0x29), (0x12, 0x02)] {
            roundtrip(rule(
                vec![Match::L4Proto(IPPROTO_TCP), Match::TcpFlags { mask, value }],
                Verdict::Drop,
            ));
        }
        roundtrip(rule(
            vec![
                Match::L4Proto(IPPROTO_TCP),
                Match::DstPort(PortRange::single(80)),
                Match::TcpFlags {
                    mask: 0x06,
                    value: 0x06,
                },
            ],
            Verdict::Drop,
        ));
    }
}
