//! The link layer's packet types, as `meta pkttype` matches them and iptables' `-m pkttype`
//! names them. Pure data, no I/O.

/// The packet types a policy can name (`PACKET_*`, linux/if_packet.h: the kernel's
/// `skb->pkt_type`), by iptables' names (`--pkt-type unicast`): what the link layer
/// addressed a packet to — this host alone, everyone on the link, a group. nft calls the
/// first `host`. Packets for another host (`otherhost`) never reach the firewall's hooks:
/// the IP layer drops them first.
pub const PKT_TYPES: [(&str, u8); 3] = [("unicast", 0), ("broadcast", 1), ("multicast", 2)];

/// The number of a packet type's name (lower case).
pub fn pkt_type(name: &str) -> Option<u8> {
    PKT_TYPES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// A packet type's name as the policy writes it, or its number.
pub fn pkt_type_name(t: u8) -> String {
    PKT_TYPES
        .iter()
        .find(|(_, n)| *n == t)
        .map_or_else(|| t.to_string(), |(name, _)| (*name).to_string())
}

/// A packet type's name as nft writes it (`meta pkttype host`), or its number.
pub fn nft_pkt_type_name(t: u8) -> String {
    match t {
        0 => "host".to_string(),
        t => pkt_type_name(t),
    }
}

/// The packet-type matches of an entry's rules: one variant per `pkttype` (none: one
/// variant without), each with every `except_pkttype` as `!=`. `[[]]` for an entry that
/// uses neither, whose rules stay as they were.
pub fn pkttype_matches(m: &crate::core::model::More) -> Vec<Vec<crate::core::plan::Match>> {
    use crate::core::plan::Match;
    let not: Vec<Match> = m
        .except_pkttype
        .iter()
        .map(|&ty| Match::PktType { ty, not: true })
        .collect();
    if m.pkttype.is_empty() {
        return vec![not];
    }
    m.pkttype
        .iter()
        .map(|&ty| {
            let mut v = vec![Match::PktType { ty, not: false }];
            v.extend(not.iter().copied());
            v
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::More;
    use crate::core::plan::Match;

    #[test]
    fn one_rule_per_type_and_every_exception_in_each() {
        assert_eq!(pkttype_matches(&More::default()), vec![Vec::<Match>::new()]);
        let t = |ty, not| Match::PktType { ty, not };
        let m = More {
            pkttype: vec![1, 2],
            except_pkttype: vec![0],
            ..Default::default()
        };
        assert_eq!(
            pkttype_matches(&m),
            vec![vec![t(1, false), t(0, true)], vec![t(2, false), t(0, true)]]
        );
        let m = More {
            except_pkttype: vec![1, 2],
            ..Default::default()
        };
        assert_eq!(pkttype_matches(&m), vec![vec![t(1, true), t(2, true)]]);
    }

    #[test]
    fn names_as_iptables_and_nft_write_them() {
        assert_eq!(pkt_type("unicast"), Some(0));
        assert_eq!(pkt_type("host"), None);
        assert_eq!(pkt_type_name(2), "multicast");
        assert_eq!(pkt_type_name(3), "3");
        assert_eq!(nft_pkt_type_name(0), "host");
        assert_eq!(nft_pkt_type_name(1), "broadcast");
    }
}
