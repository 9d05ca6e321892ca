//! The source address: `ip saddr 192.0.2.0/24` / `ip6 saddr 2001:db8::/32` (`SrcNet`),
//! `ip saddr != 10.0.0.0/8` (`SrcNetNot`, an exception) and
//! `ip saddr @src4_<entry>` / `ip6 saddr @src6_<entry>` (`SrcInSet`, the rule's own set).
//! All check the family first (the table is `inet`), then load the address. The
//! destination (`daddr`) is read the same way at another offset: the shared parts live here.
//!
//! nft: `[ meta load nfproto => reg 1 ] [ cmp eq reg 1 0x00000002 ]
//! [ payload load 4b @ network header + 12 => reg 1 ]`, then `[ bitwise … ]` (a prefix
//! shorter than the address) and `[ cmp eq … ]`, or `[ lookup reg 1 set src4_<entry> ]`.

use std::net::{Ipv4Addr, Ipv6Addr};

use rustables::expr::{Bitwise, Cmp, CmpOp, Meta, MetaType};

use super::prim::{UNKNOWN_META, bitwise_of, cmp_of, lookup, lookup_of, meta_eq, payload};
use super::{At, Decoding, Expr, NotUnderstood, SetIds, Step};
use crate::codec::nft::{
    NFPROTO_IPV4, NFPROTO_IPV6, NFT_CMP_EQ, NFT_CMP_NEQ, NFT_META_NFPROTO,
    NFT_PAYLOAD_NETWORK_HEADER,
};
use crate::core::model::Cidr;
use crate::core::plan::{LiveName, Match, SetKind, set_name};

/// Which address of the network header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Addr {
    Src,
    Dst,
}

/// The family, and where its header keeps the source address: (nfproto, offset, length).
pub(super) fn family(v6: bool) -> (u8, u32, u32) {
    family_at(v6, Addr::Src)
}

/// The family, and where its header keeps `which` address: (nfproto, offset, length).
pub(super) fn family_at(v6: bool, which: Addr) -> (u8, u32, u32) {
    match (v6, which) {
        (true, Addr::Src) => (NFPROTO_IPV6, 8, 16),
        (true, Addr::Dst) => (NFPROTO_IPV6, 24, 16),
        (false, Addr::Src) => (NFPROTO_IPV4, 12, 4),
        (false, Addr::Dst) => (NFPROTO_IPV4, 16, 4),
    }
}

/// `meta nfproto ipv4|ipv6` and the address load into register 1.
pub(super) fn encode_load(rule: &mut rustables::Rule, v6: bool, which: Addr) {
    let (nfproto, offset, len) = family_at(v6, which);
    rule.add_expr(Meta::new(MetaType::NfProto));
    rule.add_expr(Cmp::new(CmpOp::Eq, [nfproto]));
    rule.add_expr(payload(NFT_PAYLOAD_NETWORK_HEADER, offset, len));
}

pub(super) fn encode_net(rule: &mut rustables::Rule, net: Cidr) {
    encode_net_at(rule, net, Addr::Src, CmpOp::Eq);
}

/// `ip saddr|daddr ==|!= <net>`.
pub(super) fn encode_net_at(rule: &mut rustables::Rule, net: Cidr, which: Addr, op: CmpOp) {
    let (v6, addr, prefix): (bool, Vec<u8>, u8) = match net {
        Cidr::V4(a, l) => (false, a.octets().to_vec(), l),
        Cidr::V6(a, l) => (true, a.octets().to_vec(), l),
    };
    encode_load(rule, v6, which);
    if usize::from(prefix) < addr.len() * 8 {
        let mask = Cidr::mask_bytes(prefix, addr.len());
        let zero = vec![0u8; addr.len()];
        rule.add_expr(Bitwise::new(mask, zero).expect("same length"));
    }
    rule.add_expr(Cmp::new(op, addr));
}

pub(super) fn encode_in_set(rule: &mut rustables::Rule, v6: bool, set: &str, set_ids: &SetIds) {
    encode_in_set_at(rule, v6, Addr::Src, set, set_ids);
}

pub(super) fn encode_in_set_at(
    rule: &mut rustables::Rule,
    v6: bool,
    which: Addr,
    set: &str,
    set_ids: &SetIds,
) {
    encode_load(rule, v6, which);
    rule.add_expr(lookup(set, set_ids));
}

/// The family check and source address load at the position (three expressions): whether
/// it is IPv6. None when the position holds no `meta nfproto`, or one that another address
/// (or the family alone) follows. Shared with `record`, whose recorders load the source the
/// same way.
pub(super) fn decode_load(at: &At) -> Option<Result<bool, NotUnderstood>> {
    decode_load_at(at, Addr::Src)
}

/// [`decode_load`] for `which` address: None when the family check is followed by anything
/// but a load of that address (the other address, the family alone: their decoders say).
pub(super) fn decode_load_at(at: &At, which: Addr) -> Option<Result<bool, NotUnderstood>> {
    let v = match meta_eq(at, NFT_META_NFPROTO)? {
        Ok(v) => v,
        Err(e) => return Some(Err(e)),
    };
    let v6 = match v {
        [NFPROTO_IPV4] => false,
        [NFPROTO_IPV6] => true,
        _ => return Some(Err(at.fail(0, UNKNOWN_META))),
    };
    let Some(&Expr::Payload { base, offset, len }) = at.get(2) else {
        return None;
    };
    let (_, off, alen) = family_at(v6, which);
    if (base, offset, len) == (NFT_PAYLOAD_NETWORK_HEADER, off, alen) {
        return Some(Ok(v6));
    }
    let other = match which {
        Addr::Src => Addr::Dst,
        Addr::Dst => Addr::Src,
    };
    let (_, ooff, olen) = family_at(v6, other);
    if (base, offset, len) == (NFT_PAYLOAD_NETWORK_HEADER, ooff, olen) {
        return None;
    }
    // the TTL (`ip ttl`): the family check is `nfproto`'s
    if base == NFT_PAYLOAD_NETWORK_HEADER && super::ttl::is_ttl_load(v6, offset, len) {
        return None;
    }
    Some(Err(at.fail(2, "not a source or destination address load")))
}

pub(super) fn decode(at: &At) -> Decoding {
    Some(decode_load(at)?.and_then(|v6| match lookup_of(at.get(3)) {
        Some(set) => decode_in_set(at, v6, set),
        None => decode_net(at, v6, Addr::Src),
    }))
}

fn decode_in_set(at: &At, v6: bool, set: &str) -> Result<(Step, usize), NotUnderstood> {
    let (live, hosts) = if v6 {
        ("live6_", "ip6_")
    } else {
        ("live4_", "ip4_")
    };
    if let Some(name) = set.strip_prefix(live).and_then(LiveName::new) {
        return Ok((Step::Match(Match::SrcInLive { v6, set: name }), 4));
    }
    if let Some(name) = set.strip_prefix(hosts).and_then(LiveName::hosts) {
        return Ok((Step::Match(Match::SrcInLive { v6, set: name }), 4));
    }
    let addrs = if v6 { SetKind::Addr6 } else { SetKind::Addr4 };
    if set == set_name(addrs, at.comment()) {
        return Ok((Step::Match(Match::SrcInAddrs { v6 }), 4));
    }
    let kind = if v6 { SetKind::Src6 } else { SetKind::Src4 };
    if set != set_name(kind, at.comment()) {
        return Err(at.fail(3, format!("lookup in set {set}, not this rule's own set")));
    }
    Ok((Step::Match(Match::SrcInSet { v6 }), 4))
}

/// After the load: an optional prefix mask, then the address, equal or not equal.
pub(super) fn decode_net(at: &At, v6: bool, which: Addr) -> Result<(Step, usize), NotUnderstood> {
    let (_, _, len) = family(v6);
    let mut k = 3;
    let mut prefix = (len * 8) as u8;
    if let Some((mask, _xor)) = bitwise_of(at.get(k)) {
        prefix =
            Cidr::prefix_of_mask(mask).ok_or_else(|| at.fail(k, "non-contiguous address mask"))?;
        k += 1;
    }
    let (op, a) = match cmp_of(at.get(k)) {
        Some((op @ (NFT_CMP_EQ | NFT_CMP_NEQ), a)) if a.len() == len as usize => (op, a),
        // (past the last expression, the last one is blamed)
        _ => return Err(at.fail(k, "unexpected address comparison")),
    };
    let net = match <[u8; 4]>::try_from(a) {
        Ok(v4) => Cidr::V4(Ipv4Addr::from(v4), prefix),
        Err(_) => Cidr::V6(
            Ipv6Addr::from(<[u8; 16]>::try_from(a).expect("16 bytes")),
            prefix,
        ),
    };
    let m = match (which, op == NFT_CMP_EQ) {
        (Addr::Src, true) => Match::SrcNet(net),
        (Addr::Src, false) => Match::SrcNetNot(net),
        (Addr::Dst, true) => Match::DstNet(net),
        (Addr::Dst, false) => Match::DstNetNot(net),
    };
    Ok((Step::Match(m), k + 1))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{cmp, not_statewalls, roundtrip, rule};
    use super::*;
    use crate::codec::nft::{
        NFTA_BITWISE_MASK, NFTA_BITWISE_XOR, NFTA_DATA_VALUE, NFTA_LOOKUP_SET, NFTA_META_KEY,
        NFTA_PAYLOAD_BASE, NFTA_PAYLOAD_LEN, NFTA_PAYLOAD_OFFSET,
    };
    use crate::codec::wire::Attrs;
    use crate::core::plan::Verdict;

    fn net(s: &str) -> Cidr {
        let (a, l) = s.split_once('/').unwrap();
        match a.parse().unwrap() {
            std::net::IpAddr::V4(a) => Cidr::V4(a, l.parse().unwrap()),
            std::net::IpAddr::V6(a) => Cidr::V6(a, l.parse().unwrap()),
        }
    }

    #[test]
    fn source_networks_and_sets_round_trip() {
        for n in [
            "198.51.100.0/24",
            "203.0.113.7/32",
            "2001:db8::/32",
            "2001:db8::1/128",
        ] {
            roundtrip(rule(vec![Match::SrcNet(net(n))], Verdict::Accept));
            roundtrip(rule(vec![Match::SrcNetNot(net(n))], Verdict::Accept));
        }
        for v6 in [false, true] {
            roundtrip(rule(vec![Match::SrcInSet { v6 }], Verdict::Drop));
            roundtrip(rule(vec![Match::SrcInAddrs { v6 }], Verdict::Drop));
            let set = LiveName::new("banned").unwrap();
            roundtrip(rule(vec![Match::SrcInLive { v6, set }], Verdict::Drop));
            let set = LiveName::hosts("crowdsec").unwrap();
            roundtrip(rule(vec![Match::SrcInLive { v6, set }], Verdict::Drop));
        }
    }

    /// `meta nfproto ipv4`, `ip saddr` loaded, then `then`.
    fn after_load(then: Vec<(&'static str, Attrs)>) -> String {
        let mut meta = Attrs::default();
        meta.be32(NFTA_META_KEY, NFT_META_NFPROTO);
        let mut load = Attrs::default();
        load.be32(NFTA_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER)
            .be32(NFTA_PAYLOAD_OFFSET, 12)
            .be32(NFTA_PAYLOAD_LEN, 4);
        let mut exprs = vec![
            ("meta", meta),
            ("cmp", cmp(NFT_CMP_EQ, &[NFPROTO_IPV4])),
            ("payload", load),
        ];
        exprs.extend(then);
        not_statewalls(&exprs)
    }

    #[test]
    fn a_holed_mask_or_another_rules_set_is_not_statewalls() {
        let mut mask = Attrs::default();
        mask.nest(NFTA_BITWISE_MASK, |d| {
            d.put(NFTA_DATA_VALUE, &[0xff, 0, 0xff, 0]);
        })
        .nest(NFTA_BITWISE_XOR, |d| {
            d.put(NFTA_DATA_VALUE, &[0; 4]);
        });
        let err = after_load(vec![
            ("bitwise", mask),
            ("cmp", cmp(NFT_CMP_EQ, &[10, 0, 0, 0])),
        ]);
        assert_eq!(err, "expression 4 (`bitwise`): non-contiguous address mask");
        let mut lookup = Attrs::default();
        lookup.str(NFTA_LOOKUP_SET, "src4_other");
        let err = after_load(vec![("lookup", lookup)]);
        assert_eq!(
            err,
            "expression 4 (`lookup`): lookup in set src4_other, not this rule's own set"
        );
        // the comparison is missing: the last expression (the counter) is blamed
        let err = after_load(vec![]);
        assert_eq!(
            err,
            "expression 4 (`counter`): unexpected address comparison"
        );
    }
}
