//! The destination port: `th dport 22` / `th dport 8000-8080` (`DstPort`) and
//! `th dport @tcp_<entry>` / `@udp_<entry>` (`DstPortInSet`, the rule's own set). Both
//! follow a `meta l4proto tcp|udp`, which says which header `th` is.
//!
//! nft: `[ payload load 2b @ transport header + 2 => reg 1 ]`, then `[ cmp eq … ]`,
//! `[ cmp gte … ] [ cmp lte … ]`, or `[ lookup reg 1 set tcp_<entry> ]`.

use super::prim::{
    BARE_TRANSPORT_LOAD, eq_or_range, eq_or_range_expr, lookup, lookup_of, neq_or_range_neq,
    neq_or_range_neq_expr, payload, transport_load,
};
use super::{At, Decoding, NotUnderstood, SetIds, Step};
use crate::codec::nft::NFT_PAYLOAD_TRANSPORT_HEADER;
use crate::core::model::PortRange;
use crate::core::plan::{IPPROTO_TCP, IPPROTO_UDP, Match, SetKind, set_name};

/// Where the transport header keeps the destination port: (offset, length).
pub(super) const DPORT: (u32, u32) = (2, 2);

pub(super) fn encode(rule: &mut rustables::Rule, ports: PortRange) {
    rule.add_expr(payload(NFT_PAYLOAD_TRANSPORT_HEADER, DPORT.0, DPORT.1));
    eq_or_range_expr(rule, &ports.lo.to_be_bytes(), &ports.hi.to_be_bytes());
}

/// An exception: `th dport != 80` (`cmp neq`), `th dport != 1000-2000` (`range neq`, own
/// bytes).
pub(super) fn encode_not(rule: &mut rustables::Rule, own: &mut Vec<Vec<u8>>, ports: PortRange) {
    rule.add_expr(payload(NFT_PAYLOAD_TRANSPORT_HEADER, DPORT.0, DPORT.1));
    neq_or_range_neq_expr(rule, own, &ports.lo.to_be_bytes(), &ports.hi.to_be_bytes());
}

pub(super) fn encode_in_set(rule: &mut rustables::Rule, set: &str, set_ids: &SetIds) {
    rule.add_expr(payload(NFT_PAYLOAD_TRANSPORT_HEADER, DPORT.0, DPORT.1));
    rule.add_expr(lookup(set, set_ids));
}

pub(super) fn decode(at: &At) -> Decoding {
    let (offset, len) = transport_load(at, 0)?;
    // a lookup after any transport header load can only mean a port set
    if let Some(set) = lookup_of(at.get(1)) {
        return Some(decode_in_set(at, (offset, len), set));
    }
    if (offset, len) != DPORT {
        return None;
    }
    if let Some((lo, hi)) = neq_or_range_neq(at, 1) {
        let port = |v: &[u8]| Some(u16::from_be_bytes(v.try_into().ok()?));
        return Some(match (port(lo), port(hi)) {
            (Some(lo), Some(hi)) if lo <= hi => {
                Ok((Step::Match(Match::DstPortNot(PortRange { lo, hi })), 2))
            }
            _ => Err(at.fail(1, "port exception of the wrong size")),
        });
    }
    let Some((lo, hi, used)) = eq_or_range(at, 1) else {
        return Some(Err(at.fail(0, BARE_TRANSPORT_LOAD)));
    };
    Some(match (u16_be(lo), u16_be(hi)) {
        (Some(lo), Some(hi)) => Ok((Step::Match(Match::DstPort(PortRange { lo, hi })), 1 + used)),
        _ => Err(at.fail(0, "port of the wrong size")),
    })
}

fn decode_in_set(at: &At, field: (u32, u32), set: &str) -> Result<(Step, usize), NotUnderstood> {
    let kind = match at.last_match() {
        Some(Match::L4Proto(IPPROTO_TCP)) => SetKind::Tcp,
        Some(Match::L4Proto(IPPROTO_UDP)) => SetKind::Udp,
        _ => return Err(at.fail(0, "port set lookup without tcp or udp")),
    };
    if field != DPORT || set != set_name(kind, at.comment()) {
        return Err(at.fail(
            1,
            format!("lookup in set {set}, not this rule's own port set"),
        ));
    }
    Ok((Step::Match(Match::DstPortInSet), 2))
}

fn u16_be(v: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(v.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{roundtrip, rule, tcp_port_set};
    use super::*;
    use crate::codec::decode::decode_rule_msg;
    use crate::codec::nft::NFT_LOOKUP_F_INV;
    use crate::core::plan::Verdict;

    #[test]
    fn ports_and_port_sets_round_trip() {
        for (lo, hi) in [(22, 22), (8000, 8080)] {
            let m = vec![
                Match::L4Proto(IPPROTO_TCP),
                Match::DstPort(PortRange { lo, hi }),
            ];
            roundtrip(rule(m, Verdict::Accept));
        }
        for proto in [IPPROTO_TCP, IPPROTO_UDP] {
            roundtrip(rule(
                vec![Match::L4Proto(proto), Match::DstPortInSet],
                Verdict::Drop,
            ));
        }
    }

    #[test]
    fn an_inverted_lookup_is_not_statewalls() {
        let plain = decode_rule_msg(&tcp_port_set(1, Some(0))).unwrap().1;
        assert!(plain.rule.is_ok(), "{:?}", plain.rule);
        // `tcp dport != @tcp_web` means the opposite of what statewall wrote: the port load
        // is left without its lookup
        let inverted = decode_rule_msg(&tcp_port_set(1, Some(NFT_LOOKUP_F_INV)))
            .unwrap()
            .1;
        assert_eq!(
            inverted.rule.unwrap_err().to_string(),
            "expression 3 (`payload`): transport header without a comparison"
        );
    }

    #[test]
    fn port_exceptions_round_trip_as_nft_writes_them() {
        // `th dport != 80` is a `cmp neq`, `th dport != 1000-2000` a `range neq`
        for proto in [IPPROTO_TCP, IPPROTO_UDP] {
            roundtrip(rule(
                vec![
                    Match::L4Proto(proto),
                    Match::DstPortNot(PortRange::single(80)),
                    Match::DstPortNot(PortRange { lo: 1000, hi: 2000 }),
                ],
                Verdict::Accept,
            ));
        }
    }
}
