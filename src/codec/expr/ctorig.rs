//! A connection's destination port before the kernel DNAT'ed it: `meta l4proto tcp
//! ct original proto-dst 8080` (`CtOrigDport`), how a forward entry matches the ports a
//! container runtime publishes; without the protocol (`published_any`) the "port" of a
//! connection of any protocol, as the kernel keeps it. rustables 0.9 writes no ct direction:
//! the load is our own bytes, the comparison rustables'.
//!
//! nft: `[ ct load proto_dst => reg 1 , dir original ] [ cmp eq reg 1 0x0000901f ]`
//! (a range: `cmp gte` + `cmp lte`)
//!
//! The source address of the connection's first packet (`CtOrigSrc`, `published_from`: `ct
//! original ip saddr`, keys `src_ip`, `src_ip6`) is read and written the same way as the
//! destination address before DNAT (`CtOrigDst`, an entry's `published_to`): `ct
//! original ip daddr 192.0.2.0/25` is `[ ct load dst_ip => reg 1 , dir original ] [ bitwise
//! reg 1 = ( reg 1 & 0xffffff80 ) ^ 0x00000000 ] [ cmp eq reg 1 0x000200c0 ]` (`dst_ip6` for
//! IPv6; no bitwise for a whole address). The kernel's load breaks for a connection of the
//! other family, so no `meta nfproto` comes first. (nft itself shortens a prefix on a byte
//! boundary to a shorter comparison; statewall writes the mask, as for `ip daddr`, and reads
//! both.)

use std::net::{Ipv4Addr, Ipv6Addr};

use super::prim::{bitwise_of, cmp_of, eq_or_range, eq_or_range_expr, own};
use super::{At, Decoding, Expr, NotUnderstood, Step};
use crate::codec::nft::{
    IP_CT_DIR_ORIGINAL, NFT_CMP_EQ, NFT_CT_DST_IP, NFT_CT_DST_IP6, NFT_CT_PROTO_DST, NFT_CT_SRC_IP,
    NFT_CT_SRC_IP6, NFT_REG_1, NFTA_CT_DIRECTION, NFTA_CT_DREG, NFTA_CT_KEY,
};
use crate::codec::wire::Attrs;
use crate::core::model::{Cidr, PortRange};
use crate::core::plan::Match;

/// The load, as one list element.
pub(super) fn encode_load(list: &mut Attrs) {
    encode_key(list, NFT_CT_PROTO_DST);
}

/// The load of the original source (`src`) or destination address of `net`'s family, as
/// one list element.
pub(super) fn encode_addr_load(list: &mut Attrs, src: bool, net: Cidr) {
    let v6 = matches!(net, Cidr::V6(..));
    encode_key(
        list,
        match (src, v6) {
            (true, false) => NFT_CT_SRC_IP,
            (true, true) => NFT_CT_SRC_IP6,
            (false, false) => NFT_CT_DST_IP,
            (false, true) => NFT_CT_DST_IP6,
        },
    );
}

fn encode_key(list: &mut Attrs, key: u32) {
    own(list, "ct", |d| {
        d.be32(NFTA_CT_DREG, NFT_REG_1)
            .be32(NFTA_CT_KEY, key)
            .put(NFTA_CT_DIRECTION, &[IP_CT_DIR_ORIGINAL]);
    });
}

/// The comparison after the address load: the prefix mask (shorter than the address), then
/// the address.
pub(super) fn encode_addr_cmp(rule: &mut rustables::Rule, net: Cidr) {
    use rustables::expr::{Bitwise, Cmp, CmpOp};
    let (addr, prefix): (Vec<u8>, u8) = match net {
        Cidr::V4(a, l) => (a.octets().to_vec(), l),
        Cidr::V6(a, l) => (a.octets().to_vec(), l),
    };
    if usize::from(prefix) < addr.len() * 8 {
        let mask = Cidr::mask_bytes(prefix, addr.len());
        let zero = vec![0u8; addr.len()];
        rule.add_expr(Bitwise::new(mask, zero).expect("same length"));
    }
    rule.add_expr(Cmp::new(CmpOp::Eq, addr));
}

/// The comparison after the load.
pub(super) fn encode_cmp(rule: &mut rustables::Rule, r: PortRange) {
    eq_or_range_expr(rule, &r.lo.to_be_bytes(), &r.hi.to_be_bytes());
}

pub(super) fn decode(at: &At) -> Decoding {
    let Some(&Expr::Ct { key, dir }) = at.get(0) else {
        return None;
    };
    match key {
        NFT_CT_PROTO_DST => {}
        NFT_CT_DST_IP | NFT_CT_DST_IP6 | NFT_CT_SRC_IP | NFT_CT_SRC_IP6
            if dir == Some(IP_CT_DIR_ORIGINAL) =>
        {
            let v6 = matches!(key, NFT_CT_DST_IP6 | NFT_CT_SRC_IP6);
            let src = matches!(key, NFT_CT_SRC_IP | NFT_CT_SRC_IP6);
            return Some(decode_addr(at, v6, src));
        }
        NFT_CT_DST_IP | NFT_CT_DST_IP6 | NFT_CT_SRC_IP | NFT_CT_SRC_IP6 => {
            return Some(Err(at.fail(0, "ct address of the reply direction")));
        }
        _ => return None,
    }
    if dir != Some(IP_CT_DIR_ORIGINAL) {
        return Some(Err(at.fail(0, "ct proto-dst of the reply direction")));
    }
    let port = |b: &[u8]| Some(u16::from_be_bytes(b.try_into().ok()?));
    let Some((lo, hi, used)) = eq_or_range(at, 1) else {
        return Some(Err(at.fail(0, "ct original proto-dst without a comparison")));
    };
    match (port(lo), port(hi)) {
        (Some(lo), Some(hi)) if lo <= hi => {
            let m = Match::CtOrigDport(PortRange { lo, hi });
            Some(Ok((Step::Match(m), 1 + used)))
        }
        _ => Some(Err(at.fail(
            1,
            "ct original proto-dst compared with something not a port",
        ))),
    }
}

/// After the original source (`src`) or destination address load: an optional mask, then
/// the address (or, as nft writes a prefix on a byte boundary, its first bytes).
fn decode_addr(at: &At, v6: bool, src: bool) -> Result<(Step, usize), NotUnderstood> {
    let len = if v6 { 16 } else { 4 };
    let mut k = 1;
    let mut prefix = None;
    if let Some((mask, _xor)) = bitwise_of(at.get(k)) {
        let p =
            Cidr::prefix_of_mask(mask).ok_or_else(|| at.fail(k, "non-contiguous address mask"))?;
        prefix = Some(p);
        k += 1;
    }
    let a = match cmp_of(at.get(k)) {
        Some((NFT_CMP_EQ, a)) if a.len() == len => a,
        // nft's shortened prefix: the bytes compared are the prefix
        Some((NFT_CMP_EQ, a)) if prefix.is_none() && !a.is_empty() && a.len() < len => a,
        _ => return Err(at.fail(k, "ct original address without an address comparison")),
    };
    let prefix = prefix.unwrap_or((a.len() * 8) as u8);
    let mut full = [0u8; 16];
    full[..a.len()].copy_from_slice(a);
    let net = if v6 {
        Cidr::V6(Ipv6Addr::from(full), prefix)
    } else {
        let v4: [u8; 4] = full[..4].try_into().expect("4 bytes");
        Cidr::V4(Ipv4Addr::from(v4), prefix)
    };
    let m = if src {
        Match::CtOrigSrc(net)
    } else {
        Match::CtOrigDst(net)
    };
    Ok((Step::Match(m), k + 1))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{cmp, dumped, not_statewalls, roundtrip, rule};
    use super::*;
    use crate::codec::decode::decode_rule_msg;
    use crate::codec::wire;
    use crate::core::plan::Verdict;

    /// Whole addresses and prefixes of both families, on and off a byte boundary, read
    /// back as written.
    #[test]
    fn original_destinations_read_back() {
        for n in [
            "192.0.2.1/32",
            "192.0.2.0/25",
            "10.0.0.0/8",
            "0.0.0.0/0",
            "2001:db8::1/128",
            "2001:db8::/33",
        ] {
            let net = crate::core::policy::parse_member(n).expect("a network");
            roundtrip(rule(vec![Match::CtOrigDst(net)], Verdict::Accept));
            roundtrip(rule(vec![Match::CtOrigSrc(net)], Verdict::Accept));
        }
    }

    /// The load as nft writes it, in the original direction or the reply's.
    fn dst_load(v6: bool, dir: u8) -> wire::Attrs {
        let mut c = wire::Attrs::default();
        c.be32(NFTA_CT_KEY, if v6 { NFT_CT_DST_IP6 } else { NFT_CT_DST_IP })
            .put(NFTA_CT_DIRECTION, &[dir]);
        c
    }

    /// nft writes `ct original ip daddr 10.0.0.0/8` as a one-byte comparison, without a
    /// mask: read as the /8 it is. The reply direction's address is not statewall's.
    #[test]
    fn nfts_shortened_prefix_reads_as_the_prefix() {
        let exprs = [
            ("ct", dst_load(false, IP_CT_DIR_ORIGINAL)),
            ("cmp", cmp(NFT_CMP_EQ, &[10])),
        ];
        let (_, live) = decode_rule_msg(&dumped(1, &exprs)).expect("a rule message");
        let net = crate::core::policy::parse_member("10.0.0.0/8").expect("a network");
        assert_eq!(
            live.rule.expect("statewall's").matches,
            [Match::CtOrigDst(net)]
        );
        let v6 = [
            ("ct", dst_load(true, IP_CT_DIR_ORIGINAL)),
            ("cmp", cmp(NFT_CMP_EQ, &[0x20, 0x01, 0x0d, 0xb8])),
        ];
        let (_, live) = decode_rule_msg(&dumped(1, &v6)).expect("a rule message");
        let net = crate::core::policy::parse_member("2001:db8::/32").expect("a network");
        assert_eq!(
            live.rule.expect("statewall's").matches,
            [Match::CtOrigDst(net)]
        );
        let reply = [
            ("ct", dst_load(false, 1)),
            ("cmp", cmp(NFT_CMP_EQ, &[192, 0, 2, 1])),
        ];
        assert!(
            not_statewalls(&reply).contains("reply"),
            "{}",
            not_statewalls(&reply)
        );
        let neq = [
            ("ct", dst_load(false, IP_CT_DIR_ORIGINAL)),
            ("cmp", cmp(crate::codec::nft::NFT_CMP_NEQ, &[192, 0, 2, 1])),
        ];
        assert!(
            not_statewalls(&neq).contains("comparison"),
            "{}",
            not_statewalls(&neq)
        );
    }
}
