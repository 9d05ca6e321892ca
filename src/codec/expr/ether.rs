//! The ethernet source address: `ether saddr 02:00:00:00:00:01` / `ether saddr != …`
//! (`EtherSrc`, iptables' `-m mac --mac-source`). nft checks the input device's type first:
//! the link-layer header is read only for a frame that came in on an ethernet device (xt_mac
//! checks `skb->dev->type == ARPHRD_ETHER` too).
//!
//! nft: `[ meta load iiftype => reg 1 ] [ cmp eq reg 1 0x00000001 ]` (dev->type, two bytes
//! in host order: `ARPHRD_ETHER`), `[ payload load 6b @ link header + 6 => reg 1 ]`
//! `[ cmp eq reg 1 0x00000002 0x00000100 ]` (`cmp neq` for `!=`).

use rustables::expr::{Cmp, CmpOp, Meta, MetaType};

use super::prim::{cmp_of, meta_eq, payload};
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::NFT_PAYLOAD_LL_HEADER;
use crate::codec::nft::{ARPHRD_ETHER, NFT_CMP_EQ, NFT_CMP_NEQ, NFT_META_IIFTYPE};
use crate::core::plan::Match;

/// Where the ethernet header keeps the source address: (offset, length).
const SADDR: (u32, u32) = (6, 6);

pub(super) fn encode(rule: &mut rustables::Rule, mac: [u8; 6], not: bool) {
    rule.add_expr(Meta::new(MetaType::IifType));
    rule.add_expr(Cmp::new(CmpOp::Eq, ARPHRD_ETHER.to_ne_bytes()));
    rule.add_expr(payload(NFT_PAYLOAD_LL_HEADER, SADDR.0, SADDR.1));
    let op = if not { CmpOp::Neq } else { CmpOp::Eq };
    rule.add_expr(Cmp::new(op, mac));
}

pub(super) fn decode(at: &At) -> Decoding {
    let ty = match meta_eq(at, NFT_META_IIFTYPE)? {
        Ok(ty) => ty,
        Err(e) => return Some(Err(e)),
    };
    if ty != ARPHRD_ETHER.to_ne_bytes() {
        return Some(Err(
            at.fail(1, "meta iiftype compared with a type other than ether")
        ));
    }
    match at.get(2) {
        Some(&Expr::Payload {
            base: NFT_PAYLOAD_LL_HEADER,
            offset,
            len,
        }) if (offset, len) == SADDR => {}
        _ => {
            return Some(Err(at.fail(
                2,
                "meta iiftype ether without the ethernet source address after it",
            )));
        }
    }
    let (op, value) = match cmp_of(at.get(3)) {
        Some(found) => found,
        None => return Some(Err(at.fail(2, "ether saddr without a comparison"))),
    };
    let not = match op {
        NFT_CMP_EQ => false,
        NFT_CMP_NEQ => true,
        _ => return Some(Err(at.fail(3, "ether saddr compared other than == or !="))),
    };
    match <[u8; 6]>::try_from(value) {
        Ok(mac) => Some(Ok((Step::Match(Match::EtherSrc { mac, not }), 4))),
        Err(_) => Some(Err(
            at.fail(3, "ether saddr compared with other than six bytes")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{cmp, not_statewalls, roundtrip, rule};
    use super::*;
    use crate::codec::nft::{
        NFT_CMP_GTE, NFT_REG_1, NFTA_META_DREG, NFTA_META_KEY, NFTA_PAYLOAD_BASE,
        NFTA_PAYLOAD_DREG, NFTA_PAYLOAD_LEN, NFTA_PAYLOAD_OFFSET,
    };
    use crate::codec::wire::Attrs;
    use crate::core::plan::{IPPROTO_UDP, Verdict};

    #[test]
    fn source_macs_round_trip() {
        for not in [false, true] {
            roundtrip(rule(
                vec![Match::EtherSrc {
                    mac: [2, 0, 0, 0, 0, 1],
                    not,
                }],
                Verdict::Drop,
            ));
        }
        roundtrip(rule(
            vec![
                Match::EtherSrc {
                    mac: [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff],
                    not: false,
                },
                Match::EtherSrc {
                    mac: [2, 0, 0, 0, 0, 2],
                    not: true,
                },
                Match::L4Proto(IPPROTO_UDP),
            ],
            Verdict::Accept,
        ));
    }

    fn iiftype() -> Attrs {
        let mut m = Attrs::default();
        m.be32(NFTA_META_DREG, NFT_REG_1)
            .be32(NFTA_META_KEY, NFT_META_IIFTYPE);
        m
    }

    fn ll(offset: u32, len: u32) -> Attrs {
        let mut p = Attrs::default();
        p.be32(NFTA_PAYLOAD_DREG, NFT_REG_1)
            .be32(NFTA_PAYLOAD_BASE, NFT_PAYLOAD_LL_HEADER)
            .be32(NFTA_PAYLOAD_OFFSET, offset)
            .be32(NFTA_PAYLOAD_LEN, len);
        p
    }

    #[test]
    fn other_devices_fields_and_comparisons_are_not_statewalls() {
        let ether = ARPHRD_ETHER.to_ne_bytes();
        let mac = [2, 0, 0, 0, 0, 1];
        // `meta iiftype loopback`
        let err = not_statewalls(&[
            ("meta", iiftype()),
            ("cmp", cmp(NFT_CMP_EQ, &772u16.to_ne_bytes())),
        ]);
        assert!(err.contains("a type other than ether"), "{err}");
        // the destination address (`ether daddr`)
        let err = not_statewalls(&[
            ("meta", iiftype()),
            ("cmp", cmp(NFT_CMP_EQ, &ether)),
            ("payload", ll(0, 6)),
            ("cmp", cmp(NFT_CMP_EQ, &mac)),
        ]);
        assert!(err.contains("without the ethernet source address"), "{err}");
        let err = not_statewalls(&[
            ("meta", iiftype()),
            ("cmp", cmp(NFT_CMP_EQ, &ether)),
            ("payload", ll(6, 6)),
            ("cmp", cmp(NFT_CMP_GTE, &mac)),
        ]);
        assert!(err.contains("other than == or !="), "{err}");
        let err = not_statewalls(&[
            ("meta", iiftype()),
            ("cmp", cmp(NFT_CMP_EQ, &ether)),
            ("payload", ll(6, 6)),
        ]);
        assert!(err.contains("without a comparison"), "{err}");
    }
}
