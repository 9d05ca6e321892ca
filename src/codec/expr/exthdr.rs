//! nftables' `exthdr` expression, in the three forms statewall writes: the type of an IPv6
//! routing header, `rt type 0` (`RtType`, ip6tables' `-m rt --rt-type`), whether a TCP
//! header carries an option, `tcp option 64 exists` (`TcpOption`, iptables' `--tcp-option`),
//! and the MSS option's value, `tcp option maxseg size 536-65535` (`TcpMss`, iptables' `-m
//! tcpmss --mss`). rustables 0.9 has no exthdr: the load is our own bytes, the comparison
//! rustables' (a range's `range neq` ours).
//!
//! nft: `[ exthdr load ipv6 1b @ 43 + 2 => reg 1 ] [ cmp eq reg 1 0x00 ]` (the routing
//! header's type is its third byte; a packet without one ends the rule: no match), and
//! `[ exthdr load tcpopt 1b @ 64 + 0 present => reg 1 ] [ cmp eq reg 1 0x01 ]` (the kernel
//! writes 1 when the option is there, 0 when it is not: `missing` compares with 0), and
//! `[ exthdr load tcpopt 2b @ 2 + 2 => reg 1 ] [ cmp gte reg 1 0x00001802 ] [ cmp lte reg 1
//! 0x0000ffff ]` / `[ range neq reg 1 … ]` / `[ cmp eq reg 1 0x0000b405 ]` (the value, big
//! endian; a segment without the option ends the rule: no match either way).

use rustables::expr::{Cmp, CmpOp};

use super::prim::{
    cmp_of, eq_or_range, eq_or_range_expr, neq_or_range_neq, neq_or_range_neq_expr, own,
};
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
    /// the MSS option's two-byte value
    Mss,
}

/// The MSS option's kind, and where its value is in it (kind, length, value).
const MAXSEG: u8 = 2;
const MSS_OFFSET: u32 = 2;

/// The exthdr expression's data: one byte (two of the MSS) into register 1.
fn data(d: &mut Attrs, load: Load) {
    let (ty, offset, flags, op) = match load {
        Load::RtType => (IPPROTO_ROUTING, RT_TYPE_OFFSET, 0, NFT_EXTHDR_OP_IPV6),
        Load::TcpOption(kind) => (kind, 0, NFT_EXTHDR_F_PRESENT, NFT_EXTHDR_OP_TCPOPT),
        Load::Mss => (MAXSEG, MSS_OFFSET, 0, NFT_EXTHDR_OP_TCPOPT),
    };
    d.be32(NFTA_EXTHDR_DREG, NFT_REG_1)
        .put(NFTA_EXTHDR_TYPE, &[ty])
        .be32(NFTA_EXTHDR_OFFSET, offset)
        .be32(NFTA_EXTHDR_LEN, load_len(load))
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

/// How many bytes a load reads.
fn load_len(load: Load) -> u32 {
    if load == Load::Mss { 2 } else { 1 }
}

/// The load of the MSS option's value and its comparison: in `lo`-`hi` or (`not`) outside.
pub(super) fn encode_mss(
    rule: &mut rustables::Rule,
    own_list: &mut Vec<Vec<u8>>,
    (lo, hi, not): (u16, u16, bool),
) {
    super::placeholder(rule, own_list, |l| own(l, "exthdr", |d| data(d, Load::Mss)));
    let (lo, hi) = (lo.to_be_bytes(), hi.to_be_bytes());
    if not {
        neq_or_range_neq_expr(rule, own_list, &lo, &hi);
    } else {
        eq_or_range_expr(rule, &lo, &hi);
    }
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
    if attr(d, NFTA_EXTHDR_DREG).and_then(be32) != Some(NFT_REG_1) {
        return Err("exthdr load into other than register 1");
    }
    let load = match (op, *ty, offset, flags) {
        (NFT_EXTHDR_OP_IPV6, IPPROTO_ROUTING, RT_TYPE_OFFSET, 0) => Ok(Load::RtType),
        (NFT_EXTHDR_OP_IPV6, ..) => Err("exthdr of an IPv6 header statewall does not read"),
        (NFT_EXTHDR_OP_TCPOPT, kind, 0, NFT_EXTHDR_F_PRESENT) => Ok(Load::TcpOption(kind)),
        (NFT_EXTHDR_OP_TCPOPT, MAXSEG, MSS_OFFSET, 0) => Ok(Load::Mss),
        (NFT_EXTHDR_OP_TCPOPT, ..) => Err("exthdr of a TCP option's contents other than the MSS"),
        _ => Err("exthdr of a header statewall does not read (IPv4, SCTP or DCCP options)"),
    }?;
    if len != load_len(load) {
        return Err("exthdr load of another length than statewall writes");
    }
    Ok(load)
}

/// The comparison after the MSS value's load, at expression 1: (lo, hi, not, expressions
/// used).
fn mss_cmp(at: &At) -> Option<(u16, u16, bool, usize)> {
    let two = |v: &[u8]| <[u8; 2]>::try_from(v).ok().map(u16::from_be_bytes);
    let (lo, hi, not, used) = if let Some((lo, hi)) = neq_or_range_neq(at, 1) {
        (lo, hi, true, 2)
    } else {
        let (lo, hi, n) = eq_or_range(at, 1)?;
        (lo, hi, false, 1 + n)
    };
    let (lo, hi) = (two(lo)?, two(hi)?);
    (lo <= hi).then_some((lo, hi, not, used))
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
    if load == Load::Mss {
        if at.proto() != Some(IPPROTO_TCP) {
            return Some(Err(
                at.fail(0, "tcp option without meta l4proto tcp before it")
            ));
        }
        return Some(match mss_cmp(at) {
            Some((lo, hi, not, used)) => Ok((Step::Match(Match::TcpMss { lo, hi, not }), used)),
            None => Err(at.fail(
                1,
                "tcp option maxseg size compared other than with a value or range of two bytes",
            )),
        });
    }
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
        (Load::Mss, ..) => unreachable!("read above"),
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

    #[test]
    fn mss_values_and_ranges_round_trip() {
        for (lo, hi) in [(536, 65535), (0, 535), (1460, 1460), (100, 200), (0, 0)] {
            for not in [false, true] {
                roundtrip(rule(
                    vec![Match::L4Proto(IPPROTO_TCP), Match::TcpMss { lo, hi, not }],
                    Verdict::Drop,
                ));
            }
        }
        roundtrip(rule(
            vec![
                Match::L4Proto(IPPROTO_TCP),
                Match::TcpOption {
                    kind: 2,
                    present: true,
                },
                Match::TcpMss {
                    lo: 0,
                    hi: 535,
                    not: false,
                },
                Match::TcpMss {
                    lo: 100,
                    hi: 100,
                    not: true,
                },
            ],
            Verdict::Accept,
        ));
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
        // an option's contents other than the MSS (`tcp option window count 7`)
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
            ("exthdr", exthdr(3, 2, 0, 1)),
            ("cmp", cmp(NFT_CMP_EQ, &[7])),
        ]);
        assert!(err.contains("a TCP option's contents"), "{err}");
        // the MSS read as one byte, and compared with one byte
        let [l4, is_tcp] = tcp();
        let err = not_statewalls(&[
            l4,
            is_tcp,
            ("exthdr", exthdr(2, 2, 0, 1)),
            ("cmp", cmp(NFT_CMP_EQ, &[5])),
        ]);
        assert!(err.contains("another length"), "{err}");
        let [l4, is_tcp] = tcp();
        let mut two = exthdr(2, 2, 0, 1);
        two.0.clear();
        two.be32(NFTA_EXTHDR_DREG, NFT_REG_1)
            .put(NFTA_EXTHDR_TYPE, &[2])
            .be32(NFTA_EXTHDR_OFFSET, 2)
            .be32(NFTA_EXTHDR_LEN, 2)
            .be32(NFTA_EXTHDR_FLAGS, 0)
            .be32(NFTA_EXTHDR_OP, 1);
        let err = not_statewalls(&[l4, is_tcp, ("exthdr", two), ("cmp", cmp(NFT_CMP_EQ, &[5]))]);
        assert!(err.contains("a value or range of two bytes"), "{err}");
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
