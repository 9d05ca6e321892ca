//! The IPv4 TTL and the IPv6 hop limit, after the family is checked: `ip ttl 64`, `ip ttl <
//! 64`, `ip6 hoplimit > 1`, `ip ttl 6-9`, `ip6 hoplimit != 255` (`Ttl`, iptables' `-m ttl`,
//! ip6tables' `-m hl`). The family check before them is another match's (an address, or
//! `meta nfproto` alone), as nft writes one check per rule.
//!
//! nft: `[ payload load 1b @ network header + 8 => reg 1 ]` (IPv6: `+ 7`), then one of `[ cmp
//! eq … ]`, `[ cmp neq … ]`, `[ cmp lt … ]`, `[ cmp gt … ]`, `[ cmp gte … ] [ cmp lte … ]`, or
//! `[ range neq … ]` (our own bytes: rustables has no range expression).

use rustables::expr::{Cmp, CmpOp};

use super::prim::{cmp_of, neq_or_range_neq_expr, payload};
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{
    NFT_CMP_EQ, NFT_CMP_GT, NFT_CMP_GTE, NFT_CMP_LT, NFT_CMP_LTE, NFT_CMP_NEQ,
    NFT_PAYLOAD_NETWORK_HEADER, NFT_RANGE_NEQ,
};
use crate::core::plan::Match;

/// Where the family's header keeps the TTL (hop limit): its offset (one byte).
fn offset(v6: bool) -> u32 {
    if v6 { 7 } else { 8 }
}

/// Whether a network header load at (offset, len) is the family's TTL: the address decoders
/// leave such a load (after a family check) to this file.
pub(super) fn is_ttl_load(v6: bool, at: u32, len: u32) -> bool {
    (at, len) == (offset(v6), 1)
}

pub(super) fn encode(
    rule: &mut rustables::Rule,
    own: &mut Vec<Vec<u8>>,
    (v6, lo, hi, not): (bool, u8, u8, bool),
) {
    rule.add_expr(payload(NFT_PAYLOAD_NETWORK_HEADER, offset(v6), 1));
    match (lo, hi, not) {
        (l, h, false) if l == h => rule.add_expr(Cmp::new(CmpOp::Eq, [l])),
        (l, h, true) if l == h => rule.add_expr(Cmp::new(CmpOp::Neq, [l])),
        (0, h, false) if h < 255 => rule.add_expr(Cmp::new(CmpOp::Lt, [h + 1])),
        (0, h, true) if h < 255 => rule.add_expr(Cmp::new(CmpOp::Gt, [h])),
        (l, 255, false) if l > 0 => rule.add_expr(Cmp::new(CmpOp::Gt, [l - 1])),
        (l, 255, true) if l > 0 => rule.add_expr(Cmp::new(CmpOp::Lt, [l])),
        (l, h, false) => {
            rule.add_expr(Cmp::new(CmpOp::Gte, [l]));
            rule.add_expr(Cmp::new(CmpOp::Lte, [h]));
        }
        (l, h, true) => neq_or_range_neq_expr(rule, own, &[l], &[h]),
    }
}

pub(super) fn decode(at: &At) -> Decoding {
    let Some(&Expr::Payload {
        base: NFT_PAYLOAD_NETWORK_HEADER,
        offset: off,
        len,
    }) = at.get(0)
    else {
        return None;
    };
    let Some(v6) = at.family() else {
        return Some(Err(at.fail(
            0,
            "network header load without the family checked before it",
        )));
    };
    if !is_ttl_load(v6, off, len) {
        return Some(Err(
            at.fail(0, "network header field statewall does not read")
        ));
    }
    let found = match at.get(1) {
        Some(Expr::Range {
            op: NFT_RANGE_NEQ,
            from,
            to,
        }) => match (&from[..], &to[..]) {
            ([l], [h]) if l < h => Some((*l, *h, true, 2)),
            _ => None,
        },
        _ => match (cmp_of(at.get(1)), cmp_of(at.get(2))) {
            (Some((NFT_CMP_GTE, [l])), Some((NFT_CMP_LTE, [h]))) if l < h => {
                Some((*l, *h, false, 3))
            }
            (Some((NFT_CMP_EQ, [v])), _) => Some((*v, *v, false, 2)),
            (Some((NFT_CMP_NEQ, [v])), _) => Some((*v, *v, true, 2)),
            (Some((NFT_CMP_LT, [v])), _) if *v > 0 => Some((0, v - 1, false, 2)),
            (Some((NFT_CMP_GT, [v])), _) if *v < 255 => Some((v + 1, 255, false, 2)),
            _ => None,
        },
    };
    match found {
        Some((lo, hi, not, used)) => Some(Ok((Step::Match(Match::Ttl { v6, lo, hi, not }), used))),
        None => Some(Err(
            at.fail(1, "ttl compared other than as nft writes a value or range")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{cmp, not_statewalls, roundtrip, rule};
    use super::*;
    use crate::codec::nft::{
        NFT_META_NFPROTO, NFT_REG_1, NFTA_META_DREG, NFTA_META_KEY, NFTA_PAYLOAD_BASE,
        NFTA_PAYLOAD_DREG, NFTA_PAYLOAD_LEN, NFTA_PAYLOAD_OFFSET,
    };
    use crate::codec::wire::Attrs;
    use crate::core::model::Cidr;
    use crate::core::plan::{IPPROTO_TCP, Verdict};

    #[test]
    fn every_form_nft_writes_round_trips_after_any_family_check() {
        let forms = [
            (64, 64, false),
            (64, 64, true),
            (0, 63, false),
            (65, 255, false),
            (6, 9, false),
            (6, 9, true),
            (0, 255, false),
            (0, 255, true),
        ];
        for v6 in [false, true] {
            for (lo, hi, not) in forms {
                let t = Match::Ttl { v6, lo, hi, not };
                roundtrip(rule(vec![Match::NfProto { v6 }, t], Verdict::Drop));
            }
        }
        roundtrip(rule(
            vec![
                Match::SrcNet(Cidr::V4("192.0.2.0".parse().unwrap(), 24)),
                Match::Ttl {
                    v6: false,
                    lo: 0,
                    hi: 4,
                    not: false,
                },
                Match::L4Proto(IPPROTO_TCP),
            ],
            Verdict::Accept,
        ));
    }

    fn family(v6: bool) -> [(&'static str, Attrs); 2] {
        let mut m = Attrs::default();
        m.be32(NFTA_META_DREG, NFT_REG_1)
            .be32(NFTA_META_KEY, NFT_META_NFPROTO);
        [
            ("meta", m),
            ("cmp", cmp(NFT_CMP_EQ, &[if v6 { 10 } else { 2 }])),
        ]
    }

    fn net(offset: u32, len: u32) -> Attrs {
        let mut p = Attrs::default();
        p.be32(NFTA_PAYLOAD_DREG, NFT_REG_1)
            .be32(NFTA_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER)
            .be32(NFTA_PAYLOAD_OFFSET, offset)
            .be32(NFTA_PAYLOAD_LEN, len);
        p
    }

    #[test]
    fn other_fields_and_comparisons_are_not_statewalls() {
        // IPv4's TTL place read in an IPv6 packet (a byte of its source address)
        let [m, c] = family(true);
        let err = not_statewalls(&[m, c, ("payload", net(8, 1)), ("cmp", cmp(NFT_CMP_EQ, &[1]))]);
        assert!(
            err.contains("not a source or destination address load"),
            "{err}"
        );
        // the protocol field (`ip protocol 6`)
        let [m, c] = family(false);
        let err = not_statewalls(&[m, c, ("payload", net(9, 1)), ("cmp", cmp(NFT_CMP_EQ, &[6]))]);
        assert!(
            err.contains("not a source or destination address load"),
            "{err}"
        );
        // `ip ttl <= 5` is not how nft writes `< 6`
        let [m, c] = family(false);
        let err = not_statewalls(&[
            m,
            c,
            ("payload", net(8, 1)),
            ("cmp", cmp(NFT_CMP_LTE, &[5])),
        ]);
        assert!(err.contains("other than as nft writes"), "{err}");
        // `ip ttl < 0` matches nothing: not what statewall writes
        let [m, c] = family(false);
        let err = not_statewalls(&[m, c, ("payload", net(8, 1)), ("cmp", cmp(NFT_CMP_LT, &[0]))]);
        assert!(err.contains("other than as nft writes"), "{err}");
        // without the family
        let err = not_statewalls(&[("payload", net(8, 1)), ("cmp", cmp(NFT_CMP_EQ, &[64]))]);
        assert!(err.contains("without the family checked"), "{err}");
    }
}
