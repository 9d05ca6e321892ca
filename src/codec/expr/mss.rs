//! A SYN's MSS option lowered (`Verdict::SetMss`, a section's `clamp_mss`): `tcp option
//! maxseg size set rt mtu` (iptables' `-j TCPMSS --clamp-mss-to-pmtu`) or `… set 1360`
//! (`--set-mss 1360`). rustables 0.9 has no rt, byteorder or exthdr write: all our own bytes.
//! Like a log, it ends the rule in a verdict's place and evaluation goes on after it.
//!
//! nft: `[ rt load tcpmss => reg 1 ] [ byteorder reg 1 = hton(reg 1, 2, 2) ] [ exthdr write
//! tcpopt reg 1 => 2b @ 2 + 2 ]`, or `[ immediate reg 1 0x00005005 ] [ exthdr write …
//! ]`. The kernel writes the option only when the new value is smaller (raising an MSS can
//! stall a connection), as xt_TCPMSS does; a SYN without the option is left as it is.

use super::prim::{all_be32, own};
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{
    NFT_BYTEORDER_HTON, NFT_EXTHDR_OP_TCPOPT, NFT_REG_1, NFT_RT_TCPMSS, NFTA_BYTEORDER_DREG,
    NFTA_BYTEORDER_LEN, NFTA_BYTEORDER_OP, NFTA_BYTEORDER_SIZE, NFTA_BYTEORDER_SREG,
    NFTA_DATA_VALUE, NFTA_EXTHDR_FLAGS, NFTA_EXTHDR_LEN, NFTA_EXTHDR_OFFSET, NFTA_EXTHDR_OP,
    NFTA_EXTHDR_SREG, NFTA_EXTHDR_TYPE, NFTA_IMMEDIATE_DATA, NFTA_IMMEDIATE_DREG, NFTA_RT_DREG,
    NFTA_RT_KEY,
};
use crate::codec::wire::{Attrs, attr, be32};
use crate::core::model::Mss;
use crate::core::plan::{IPPROTO_TCP, Verdict};

/// The TCP option kind of the MSS (`maxseg`), and where its value is in it (kind, length,
/// value).
const MAXSEG: u8 = 2;
const VALUE_OFFSET: u32 = 2;

/// The expressions that load the new value into register 1, then write it.
pub(super) fn encode_own(list: &mut Attrs, mss: Mss) {
    match mss {
        Mss::Pmtu => {
            own(list, "rt", |d| {
                d.be32(NFTA_RT_DREG, NFT_REG_1)
                    .be32(NFTA_RT_KEY, NFT_RT_TCPMSS);
            });
            // the route's MSS is a host-order number: the option wants network order
            own(list, "byteorder", |d| {
                d.be32(NFTA_BYTEORDER_SREG, NFT_REG_1)
                    .be32(NFTA_BYTEORDER_DREG, NFT_REG_1)
                    .be32(NFTA_BYTEORDER_OP, NFT_BYTEORDER_HTON)
                    .be32(NFTA_BYTEORDER_LEN, 2)
                    .be32(NFTA_BYTEORDER_SIZE, 2);
            });
        }
        Mss::Value(v) => own(list, "immediate", |d| {
            d.be32(NFTA_IMMEDIATE_DREG, NFT_REG_1)
                .nest(NFTA_IMMEDIATE_DATA, |n| {
                    n.put(NFTA_DATA_VALUE, &v.to_be_bytes());
                });
        }),
    }
    own(list, "exthdr", |d| {
        d.be32(NFTA_EXTHDR_SREG, NFT_REG_1)
            .put(NFTA_EXTHDR_TYPE, &[MAXSEG])
            .be32(NFTA_EXTHDR_OFFSET, VALUE_OFFSET)
            .be32(NFTA_EXTHDR_LEN, 2)
            .be32(NFTA_EXTHDR_OP, NFT_EXTHDR_OP_TCPOPT);
    });
}

/// The exthdr write of the MSS option's value from register 1.
fn is_write(d: &[u8]) -> bool {
    attr(d, NFTA_EXTHDR_TYPE) == Some(&[MAXSEG][..])
        && all_be32(
            d,
            &[
                (NFTA_EXTHDR_SREG, NFT_REG_1),
                (NFTA_EXTHDR_OFFSET, VALUE_OFFSET),
                (NFTA_EXTHDR_LEN, 2),
                (NFTA_EXTHDR_OP, NFT_EXTHDR_OP_TCPOPT),
            ],
        )
        && attr(d, NFTA_EXTHDR_FLAGS).and_then(be32).unwrap_or(0) == 0
}

/// The load of the route's MSS (`rt`), and its byteorder after it.
fn route_mss(at: &At) -> Option<bool> {
    let Some(Expr::Other { name, data }) = at.get(0) else {
        return None;
    };
    if name != "rt" {
        return None;
    }
    let rt = all_be32(
        data,
        &[(NFTA_RT_DREG, NFT_REG_1), (NFTA_RT_KEY, NFT_RT_TCPMSS)],
    );
    let hton = matches!(at.get(1), Some(Expr::Other { name, data }) if name == "byteorder"
    && all_be32(data, &[
        (NFTA_BYTEORDER_SREG, NFT_REG_1),
        (NFTA_BYTEORDER_DREG, NFT_REG_1),
        (NFTA_BYTEORDER_OP, NFT_BYTEORDER_HTON),
        (NFTA_BYTEORDER_LEN, 2),
        (NFTA_BYTEORDER_SIZE, 2),
    ]));
    Some(rt && hton)
}

/// A two-byte value loaded into register 1 (`immediate`).
fn value(at: &At) -> Option<Option<u16>> {
    let Some(Expr::Other { name, data }) = at.get(0) else {
        return None;
    };
    if name != "immediate" {
        return None;
    }
    let v = (attr(data, NFTA_IMMEDIATE_DREG).and_then(be32) == Some(NFT_REG_1))
        .then(|| attr(data, NFTA_IMMEDIATE_DATA).and_then(|n| attr(n, NFTA_DATA_VALUE)))
        .flatten()
        .and_then(|v| <[u8; 2]>::try_from(v).ok())
        .map(u16::from_be_bytes);
    Some(v)
}

pub(super) fn decode(at: &At) -> Decoding {
    let (mss, used) = match (route_mss(at), value(at)) {
        (Some(true), _) => (Mss::Pmtu, 2),
        (Some(false), _) => return Some(Err(at.fail(0, "rt load statewall does not write"))),
        (None, Some(Some(v))) => (Mss::Value(v), 1),
        (None, Some(None)) => {
            return Some(Err(at.fail(0, "immediate data statewall does not write")));
        }
        (None, None) => return None,
    };
    match at.get(used) {
        Some(Expr::Other { name, data }) if name == "exthdr" && is_write(data) => {}
        _ => {
            return Some(Err(
                at.fail(used, "a loaded value without the MSS option's write")
            ));
        }
    }
    if at.proto() != Some(IPPROTO_TCP) {
        return Some(Err(
            at.fail(used, "tcp option write without meta l4proto tcp before it")
        ));
    }
    Some(Ok((Step::Verdict(Verdict::SetMss(mss)), used + 1)))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{roundtrip, rule};
    use crate::core::model::Mss;
    use crate::core::plan::{IPPROTO_TCP, Match, Verdict};

    #[test]
    fn mss_clamps_round_trip() {
        for mss in [
            Mss::Pmtu,
            Mss::Value(1360),
            Mss::Value(536),
            Mss::Value(65535),
        ] {
            roundtrip(rule(
                vec![
                    Match::L4Proto(IPPROTO_TCP),
                    Match::TcpFlags {
                        mask: 0x06,
                        value: 0x02,
                    },
                ],
                Verdict::SetMss(mss),
            ));
        }
    }
}
