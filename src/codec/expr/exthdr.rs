//! nftables' `exthdr` expression, in the two forms statewall writes: the type of an IPv6
//! routing header, `rt type 0` (`RtType`, ip6tables' `-m rt --rt-type`), and whether a TCP
//! header carries an option, `tcp option 64 exists` (`TcpOption`, iptables' `--tcp-option`).
//! rustables 0.9 has no exthdr: the load is our own bytes, the comparison rustables'.
//!
//! nft: `[ exthdr load ipv6 1b @ 43 + 2 => reg 1 ] [ cmp eq reg 1 0x00 ]` (the routing
//! header's type is its third byte; a packet without one ends the rule: no match), and
//! `[ exthdr load tcpopt 1b @ 64 + 0 present => reg 1 ] [ cmp eq reg 1 0x01 ]` (the kernel
//! writes 1 when the option is there, 0 when it is not: `missing` compares with 0).

use rustables::expr::{Cmp, CmpOp};

use super::prim::{cmp_of, own};
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{
    IPPROTO_ROUTING, NFT_CMP_EQ, NFT_CMP_NEQ, NFT_EXTHDR_F_PRESENT, NFT_EXTHDR_OP_IPV6,
    NFT_EXTHDR_OP_TCPOPT, NFT_REG_1, NFTA_EXTHDR_DREG, NFTA_EXTHDR_FLAGS, NFTA_EXTHDR_LEN,
    NFTA_EXTHDR_OFFSET, NFTA_EXTHDR_OP, NFTA_EXTHDR_TYPE,
};
use crate::codec::wire::{Attrs, attr, be32};
use crate::core::plan::{IPPROTO_TCP, Match};

/// Where the type is in a routing header (next header, length, type, segments left).
const RT_TYPE_OFFSET: u32 = 2;

/// What one exthdr load reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    /// the routing header's type byte
    RtType,
    /// whether an option of this kind is there
    TcpOption(u8),
}

/// The exthdr expression's data: one byte into register 1.
fn data(d: &mut Attrs, load: Load) {
    let (ty, offset, flags, op) = match load {
        Load::RtType => (IPPROTO_ROUTING, RT_TYPE_OFFSET, 0, NFT_EXTHDR_OP_IPV6),
        Load::TcpOption(kind) => (kind, 0, NFT_EXTHDR_F_PRESENT, NFT_EXTHDR_OP_TCPOPT),
    };
    d.be32(NFTA_EXTHDR_DREG, NFT_REG_1)
        .put(NFTA_EXTHDR_TYPE, &[ty])
        .be32(NFTA_EXTHDR_OFFSET, offset)
        .be32(NFTA_EXTHDR_LEN, 1)
        .be32(NFTA_EXTHDR_FLAGS, flags)
        .be32(NFTA_EXTHDR_OP, op);
}

/// The load of `rt type`, as one list element.
pub(super) fn encode_rt_load(list: &mut Attrs) {
    own(list, "exthdr", |d| data(d, Load::RtType));
}

/// The comparison after the routing header's load.
pub(super) fn encode_rt_cmp(rule: &mut rustables::Rule, ty: u8, not: bool) {
    let op = if not { CmpOp::Neq } else { CmpOp::Eq };
    rule.add_expr(Cmp::new(op, [ty]));
}

/// The presence load of a TCP option kind, as one list element.
pub(super) fn encode_option_load(list: &mut Attrs, kind: u8) {
    own(list, "exthdr", |d| data(d, Load::TcpOption(kind)));
}

/// The comparison after the presence load: 1 there (`exists`), 0 not (`missing`).
pub(super) fn encode_option_cmp(rule: &mut rustables::Rule, present: bool) {
    rule.add_expr(Cmp::new(CmpOp::Eq, [u8::from(present)]));
}

/// An exthdr's data → what it loads, or what statewall does not write.
fn read(d: &[u8]) -> Result<Load, &'static str> {
    let u32_of = |ty, default| match attr(d, ty) {
        None => Some(default),
        Some(v) => be32(v),
    };
    let (Some([ty]), Some(offset), Some(len), Some(flags), Some(op)) = (
        attr(d, NFTA_EXTHDR_TYPE),
        u32_of(NFTA_EXTHDR_OFFSET, u32::MAX),
        u32_of(NFTA_EXTHDR_LEN, 0),
        u32_of(NFTA_EXTHDR_FLAGS, 0),
        // the kernel's default when none is given
        u32_of(NFTA_EXTHDR_OP, NFT_EXTHDR_OP_IPV6),
    ) else {
        return Err("exthdr without a type, offset, length or operation statewall reads");
    };
    if attr(d, NFTA_EXTHDR_DREG).and_then(be32) != Some(NFT_REG_1) || len != 1 {
        return Err("exthdr load of other than one byte into register 1");
    }
    match (op, *ty, offset, flags) {
        (NFT_EXTHDR_OP_IPV6, IPPROTO_ROUTING, RT_TYPE_OFFSET, 0) => Ok(Load::RtType),
        (NFT_EXTHDR_OP_IPV6, ..) => Err("exthdr of an IPv6 header statewall does not read"),
        (NFT_EXTHDR_OP_TCPOPT, kind, 0, NFT_EXTHDR_F_PRESENT) => Ok(Load::TcpOption(kind)),
        (NFT_EXTHDR_OP_TCPOPT, ..) => Err("exthdr of a TCP option's contents"),
        _ => Err("exthdr of a header statewall does not read (IPv4, SCTP or DCCP options)"),
    }
}

pub(super) fn decode(at: &At) -> Decoding {
    let Some(Expr::Other { name, data }) = at.get(0) else {
        return None;
    };
    if name != "exthdr" {
        return None;
    }
    let load = match read(data) {
        Ok(load) => load,
        Err(why) => return Some(Err(at.fail(0, why))),
    };
    let Some((op, value)) = cmp_of(at.get(1)) else {
        return Some(Err(at.fail(0, "exthdr load without a comparison")));
    };
    let m = match (load, op, value) {
        // ipv6_find_hdr reads an IPv4 packet as if it were IPv6: nft checks the family first
        (Load::RtType, ..) if at.family() != Some(true) => {
            return Some(Err(at.fail(0, "rt type without the family checked as IPv6")));
        }
        (Load::RtType, NFT_CMP_EQ | NFT_CMP_NEQ, [ty]) => Match::RtType {
            ty: *ty,
            not: op == NFT_CMP_NEQ,
        },
        (Load::RtType, ..) => {
            return Some(Err(
                at.fail(1, "rt type compared other than == or != with one byte")
            ));
        }
        (Load::TcpOption(_), ..) if at.proto() != Some(IPPROTO_TCP) => {
            return Some(Err(
                at.fail(0, "tcp option without meta l4proto tcp before it")
            ));
        }
        (Load::TcpOption(kind), NFT_CMP_EQ, [p @ (0 | 1)]) => Match::TcpOption {
            kind,
            present: *p == 1,
        },
        (Load::TcpOption(_), ..) => {
            return Some(Err(
                at.fail(1, "tcp option compared other than with exists or missing")
            ));
        }
    };
    Some(Ok((Step::Match(m), 2)))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{cmp, not_statewalls, roundtrip, rule};
    use super::*;
    use crate::codec::nft::{NFT_CMP_GTE, NFT_META_NFPROTO, NFTA_META_DREG, NFTA_META_KEY};
    use crate::core::plan::{IPPROTO_UDP, Verdict};

    #[test]
    fn routing_header_types_round_trip() {
        for ty in [0, 2, 3, 4, 255] {
            for not in [false, true] {
                roundtrip(rule(
                    vec![Match::NfProto { v6: true }, Match::RtType { ty, not }],
                    Verdict::Drop,
                ));
            }
        }
        roundtrip(rule(
            vec![
                Match::NfProto { v6: true },
                Match::RtType { ty: 0, not: false },
                Match::RtType { ty: 2, not: true },
                Match::L4Proto(IPPROTO_UDP),
            ],
            Verdict::Accept,
        ));
    }

    #[test]
    fn tcp_options_round_trip() {
        for kind in [0, 2, 4, 8, 64, 128, 255] {
            for present in [false, true] {
                roundtrip(rule(
                    vec![
                        Match::L4Proto(IPPROTO_TCP),
                        Match::TcpOption { kind, present },
                    ],
                    Verdict::Drop,
                ));
            }
        }
    }

    /// An exthdr's data as the kernel dumps it (every attribute).
    fn exthdr(ty: u8, offset: u32, flags: u32, op: u32) -> Attrs {
        let mut d = Attrs::default();
        d.be32(NFTA_EXTHDR_DREG, NFT_REG_1)
            .put(NFTA_EXTHDR_TYPE, &[ty])
            .be32(NFTA_EXTHDR_OFFSET, offset)
            .be32(NFTA_EXTHDR_LEN, 1)
            .be32(NFTA_EXTHDR_FLAGS, flags)
            .be32(NFTA_EXTHDR_OP, op);
        d
    }

    fn ipv6() -> [(&'static str, Attrs); 2] {
        let mut m = Attrs::default();
        m.be32(NFTA_META_DREG, NFT_REG_1)
            .be32(NFTA_META_KEY, NFT_META_NFPROTO);
        [("meta", m), ("cmp", cmp(NFT_CMP_EQ, &[10]))]
    }

    #[test]
    fn other_headers_options_and_comparisons_are_not_statewalls() {
        let [fam, is6] = ipv6();
        let rt = |offset, c: Attrs| {
            let [fam, is6] = ipv6();
            not_statewalls(&[fam, is6, ("exthdr", exthdr(43, offset, 0, 0)), ("cmp", c)])
        };
        // the segments left (`rt seg-left 0`), not the type
        let err = rt(3, cmp(NFT_CMP_EQ, &[0]));
        assert!(
            err.contains("an IPv6 header statewall does not read"),
            "{err}"
        );
        let err = rt(2, cmp(NFT_CMP_GTE, &[1]));
        assert!(err.contains("other than == or !="), "{err}");
        let err = rt(2, cmp(NFT_CMP_EQ, &[0, 0]));
        assert!(err.contains("with one byte"), "{err}");
        // a hop-by-hop header's presence (`exthdr hbh exists`)
        let err = not_statewalls(&[
            fam,
            is6,
            ("exthdr", exthdr(0, 0, NFT_EXTHDR_F_PRESENT, 0)),
            ("cmp", cmp(NFT_CMP_EQ, &[1])),
        ]);
        assert!(
            err.contains("an IPv6 header statewall does not read"),
            "{err}"
        );
        // without the family, an IPv4 packet would be read as IPv6
        let err = not_statewalls(&[
            ("exthdr", exthdr(43, 2, 0, 0)),
            ("cmp", cmp(NFT_CMP_EQ, &[0])),
        ]);
        assert!(err.contains("without the family checked as IPv6"), "{err}");
        // an option's contents (`tcp option maxseg size 1460`)
        let tcp = || {
            let mut m = Attrs::default();
            m.be32(NFTA_META_DREG, NFT_REG_1)
                .be32(NFTA_META_KEY, crate::codec::nft::NFT_META_L4PROTO);
            [("meta", m), ("cmp", cmp(NFT_CMP_EQ, &[IPPROTO_TCP]))]
        };
        let [l4, is_tcp] = tcp();
        let err = not_statewalls(&[
            l4,
            is_tcp,
            ("exthdr", exthdr(2, 2, 0, 1)),
            ("cmp", cmp(NFT_CMP_EQ, &[5, 0xb4])),
        ]);
        assert!(err.contains("a TCP option's contents"), "{err}");
        let [l4, is_tcp] = tcp();
        let err = not_statewalls(&[
            l4,
            is_tcp,
            ("exthdr", exthdr(64, 0, NFT_EXTHDR_F_PRESENT, 1)),
            ("cmp", cmp(NFT_CMP_EQ, &[2])),
        ]);
        assert!(err.contains("exists or missing"), "{err}");
        // an option without the protocol checked
        let err = not_statewalls(&[
            ("exthdr", exthdr(64, 0, NFT_EXTHDR_F_PRESENT, 1)),
            ("cmp", cmp(NFT_CMP_EQ, &[1])),
        ]);
        assert!(err.contains("without meta l4proto tcp"), "{err}");
        // IPv4 options (`ip option rr exists`)
        let err = not_statewalls(&[
            ("exthdr", exthdr(7, 0, NFT_EXTHDR_F_PRESENT, 2)),
            ("cmp", cmp(NFT_CMP_EQ, &[1])),
        ]);
        assert!(err.contains("IPv4, SCTP or DCCP"), "{err}");
        let err = not_statewalls(&[("exthdr", exthdr(64, 0, NFT_EXTHDR_F_PRESENT, 1))]);
        assert!(err.contains("without a comparison"), "{err}");
    }
}
