//! The source port: `th sport 53` / `th sport 1024-65535` (`SrcPort`) and
//! `th sport @tsport_<entry>` / `@usport_<entry>` (`SrcPortInSet`, the rule's own set). Both
//! follow a `meta l4proto tcp|udp`.
//!
//! nft: `[ payload load 2b @ transport header + 0 => reg 1 ]`, then `[ cmp eq … ]`,
//! `[ cmp gte … ] [ cmp lte … ]`, or `[ lookup reg 1 set tsport_<entry> ]`. ICMP keeps its
//! type and code at the same place: after `meta l4proto icmp` the load is `icmpcode`'s.

use super::prim::{
    BARE_TRANSPORT_LOAD, eq_or_range, eq_or_range_expr, lookup, lookup_of, neq_or_range_neq,
    neq_or_range_neq_expr, payload, transport_load,
};
use super::{At, Decoding, NotUnderstood, SetIds, Step};
use crate::codec::nft::NFT_PAYLOAD_TRANSPORT_HEADER;
use crate::core::model::PortRange;
use crate::core::plan::{IPPROTO_TCP, IPPROTO_UDP, Match, SetKind, set_name};

/// Where the transport header keeps the source port: (offset, length).
const SPORT: (u32, u32) = (0, 2);

pub(super) fn encode(rule: &mut rustables::Rule, ports: PortRange) {
    rule.add_expr(payload(NFT_PAYLOAD_TRANSPORT_HEADER, SPORT.0, SPORT.1));
    eq_or_range_expr(rule, &ports.lo.to_be_bytes(), &ports.hi.to_be_bytes());
}

/// An exception: `th sport != 80` (`cmp neq`), `th sport != 1000-2000` (`range neq`, own
/// bytes).
pub(super) fn encode_not(rule: &mut rustables::Rule, own: &mut Vec<Vec<u8>>, ports: PortRange) {
    rule.add_expr(payload(NFT_PAYLOAD_TRANSPORT_HEADER, SPORT.0, SPORT.1));
    neq_or_range_neq_expr(rule, own, &ports.lo.to_be_bytes(), &ports.hi.to_be_bytes());
}

pub(super) fn encode_in_set(rule: &mut rustables::Rule, set: &str, set_ids: &SetIds) {
    rule.add_expr(payload(NFT_PAYLOAD_TRANSPORT_HEADER, SPORT.0, SPORT.1));
    rule.add_expr(lookup(set, set_ids));
}

pub(super) fn decode(at: &At) -> Decoding {
    if transport_load(at, 0)? != SPORT {
        return None;
    }
    let proto = at.proto();
    if !matches!(proto, Some(IPPROTO_TCP | IPPROTO_UDP)) {
        return None;
    }
    if let Some(set) = lookup_of(at.get(1)) {
        return Some(decode_in_set(at, proto, set));
    }
    if let Some((lo, hi)) = neq_or_range_neq(at, 1) {
        let port = |v: &[u8]| Some(u16::from_be_bytes(v.try_into().ok()?));
        return Some(match (port(lo), port(hi)) {
            (Some(lo), Some(hi)) if lo <= hi => {
                Ok((Step::Match(Match::SrcPortNot(PortRange { lo, hi })), 2))
            }
            _ => Err(at.fail(1, "port exception of the wrong size")),
        });
    }
    let Some((lo, hi, used)) = eq_or_range(at, 1) else {
        return Some(Err(at.fail(0, BARE_TRANSPORT_LOAD)));
    };
    let port = |v: &[u8]| Some(u16::from_be_bytes(v.try_into().ok()?));
    Some(match (port(lo), port(hi)) {
        (Some(lo), Some(hi)) => Ok((Step::Match(Match::SrcPort(PortRange { lo, hi })), 1 + used)),
        _ => Err(at.fail(0, "port of the wrong size")),
    })
}

fn decode_in_set(at: &At, proto: Option<u8>, set: &str) -> Result<(Step, usize), NotUnderstood> {
    let kind = if proto == Some(IPPROTO_UDP) {
        SetKind::UdpSport
    } else {
        SetKind::TcpSport
    };
    if set != set_name(kind, at.comment()) {
        return Err(at.fail(
            1,
            format!("lookup in set {set}, not this rule's own port set"),
        ));
    }
    Ok((Step::Match(Match::SrcPortInSet), 2))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{roundtrip, rule};
    use super::*;
    use crate::core::plan::Verdict;

    #[test]
    fn source_ports_and_their_sets_round_trip() {
        for proto in [IPPROTO_TCP, IPPROTO_UDP] {
            for (lo, hi) in [(53, 53), (1024, 65535)] {
                let m = vec![Match::L4Proto(proto), Match::SrcPort(PortRange { lo, hi })];
                roundtrip(rule(m, Verdict::Accept));
            }
            roundtrip(rule(
                vec![Match::L4Proto(proto), Match::SrcPortInSet],
                Verdict::Accept,
            ));
            roundtrip(rule(
                vec![
                    Match::L4Proto(proto),
                    Match::DstPortInSet,
                    Match::SrcPort(PortRange::single(53)),
                ],
                Verdict::Drop,
            ));
        }
    }

    #[test]
    fn port_exceptions_round_trip_as_nft_writes_them() {
        // `th sport != 80` is a `cmp neq`, `th sport != 1000-2000` a `range neq`
        for proto in [IPPROTO_TCP, IPPROTO_UDP] {
            roundtrip(rule(
                vec![
                    Match::L4Proto(proto),
                    Match::SrcPortNot(PortRange::single(80)),
                    Match::SrcPortNot(PortRange { lo: 1000, hi: 2000 }),
                ],
                Verdict::Accept,
            ));
        }
    }
}
