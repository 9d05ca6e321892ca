//! The variants of an entry's rules before their protocol parts: each of the entry's address
//! families (its address matches, per family) with its address-type, packet-type,
//! IPsec, routing-header, source-MAC, length, socket-owner, mark, TTL, connection-protocol and
//! original-address (`published_from`, `published_to`) matches, one variant per value of each (their
//! exceptions in every variant). An entry that uses none of these keys gets its families
//! unchanged; one with a match whose IPv4 and IPv6 forms differ gets a rule per family.

use crate::core::model::{Cidr, More};
use crate::core::plan::{Match, family_of};

/// Every combination of `families` with the entry's other per-value matches, in the order
/// the rule carries them: family, address types, packet types, routing header, source MAC,
/// length, and the TTL (the family's own field).
/// `protos` are those of the entry's protocol parts (0: none).
pub(super) fn variants(m: &More, families: Vec<Vec<Match>>, protos: &[u8]) -> Vec<Vec<Match>> {
    let mut families = if crate::core::exthdr::has_rt(m) {
        one_family(families, true)
    } else if crate::core::u32::has_u32(m) {
        one_family(families, false)
    } else {
        families
    };
    if crate::core::header::per_family(m) {
        families = each_family(families, protos);
    }
    let dims = [
        crate::core::addrtype::type_matches(m),
        crate::core::pkttype::pkttype_matches(m),
        vec![ipsec_matches(m)],
        crate::core::exthdr::rt_matches(m),
        crate::core::header::mac_matches(m),
        crate::core::header::length_matches(m),
        owner_matches(m, false),
        owner_matches(m, true),
        crate::core::mark::mark_matches(m),
        crate::core::cthelper::helper_matches(m),
        crate::core::clock::clock_matches(m),
        dnat_matches(m),
        crate::core::header::variants(&m.connection_protocol, &[], |p, _| Match::CtProto(p)),
    ];
    let mut out = Vec::new();
    for fam in families {
        let v6 = family_of(&fam);
        let mut these = vec![fam];
        for dim in &dims {
            these = product(these, dim);
        }
        if let Some(v6) = v6.filter(|_| crate::core::header::per_family(m)) {
            these = product(these, &crate::core::header::ttl_matches(m, v6));
        }
        these = of_family(these, &m.published_from, Match::CtOrigSrc);
        these = of_family(these, &m.published_to, Match::CtOrigDst);
        out.extend(these);
    }
    out
}

/// `meta ipsec` for `ipsec_in`, `rt ipsec` for `ipsec_out`: one variant, empty without them.
fn ipsec_matches(m: &More) -> Vec<Match> {
    let i = m.ipsec_in.map(|present| Match::Ipsec {
        out: false,
        present,
    });
    let o = m
        .ipsec_out
        .map(|present| Match::Ipsec { out: true, present });
    i.into_iter().chain(o).collect()
}

/// Each of `these` followed by each address of `nets` of its family (`mk`: the original
/// source's or destination's match; one without a family takes the address's, which its
/// load implies); none of the family: no rule of it. `these` unchanged without `nets`.
fn of_family(these: Vec<Vec<Match>>, nets: &[Cidr], mk: fn(Cidr) -> Match) -> Vec<Vec<Match>> {
    if nets.is_empty() {
        return these;
    }
    let mut out = Vec::new();
    for x in these {
        let v6 = family_of(&x);
        for &n in nets {
            if v6.is_none_or(|v6| matches!(n, Cidr::V6(..)) == v6) {
                let mut v = x.clone();
                v.push(mk(n));
                out.push(v);
            }
        }
    }
    out
}

/// Whether a packet of protocol `proto` (0: any) can belong to a connection of the
/// variant's `connection_protocol`: a packet's connection is of its own protocol, but for an
/// ICMP (ICMPv6) error, which the kernel relates to the connection it is about. A rule of
/// another pairing would match nothing, and is left out.
pub(super) fn proto_meets_connection(proto: u8, variant: &[Match]) -> bool {
    variant.iter().all(|m| match *m {
        Match::CtProto(c) => crate::core::ctmatch::packet_meets_connection(proto, c),
        _ => true,
    })
}

/// Whether the variant matches the packet's connection (its protocol, original addresses),
/// which no untracked or invalid packet has. (`dnat`'s rules, older, keep the `untracked`
/// they were written with, dead but harmless: their fingerprint stays, and a table applied
/// before shows no drift.)
pub(super) fn of_connection(variant: &[Match]) -> bool {
    variant.iter().any(Match::of_connection)
}

/// `dnat`: `ct status dnat` in every rule of the entry; `[[]]` without it.
fn dnat_matches(m: &More) -> Vec<Vec<Match>> {
    vec![if m.dnat { vec![Match::CtDnat] } else { vec![] }]
}

/// The socket owner's matches of an entry's rules (`gid`: the group's): one variant per
/// `uid`, each with every `except_uid` as `!=`; `[[]]` for an entry that uses neither.
fn owner_matches(m: &More, gid: bool) -> Vec<Vec<Match>> {
    let (ids, except) = if gid {
        (&m.gid, &m.except_gid)
    } else {
        (&m.uid, &m.except_uid)
    };
    crate::core::header::variants(ids, except, |id, not| Match::SkOwner { gid, id, not })
}

/// Each of `a` followed by each of `b`, in that order.
pub(super) fn product(a: Vec<Vec<Match>>, b: &[Vec<Match>]) -> Vec<Vec<Match>> {
    if let [only] = b
        && only.is_empty()
    {
        return a;
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            let mut v = x.clone();
            v.extend(y.iter().copied());
            out.push(v);
        }
    }
    out
}

/// An entry's address matches of one family alone (`v6`: `rt_type`, a routing header is
/// IPv6's; else `u32`, whose offsets count from the IPv4 header): the other family's rules
/// go, and a rule that checks no family checks this one first (`meta nfproto ipv6`), which
/// the exthdr load needs (the kernel would read an IPv4 header as an IPv6 one) and the u32
/// test means.
fn one_family(families: Vec<Vec<Match>>, v6: bool) -> Vec<Vec<Match>> {
    families
        .into_iter()
        .filter_map(|fam| match family_of(&fam) {
            Some(f) if f == v6 => Some(fam),
            Some(_) => None,
            None => {
                let mut v = vec![Match::NfProto { v6 }];
                v.extend(fam);
                Some(v)
            }
        })
        .collect()
}

/// Each family's address matches checking a family: one that checks none becomes one per
/// family (`meta nfproto ipv4`, `meta nfproto ipv6` first), for matches of one family's
/// header (the TTL, IPv6's hop limit) that need it checked before them — only the family of
/// an entry whose protocol parts are all ICMP (IPv4's) or all ICMPv6.
fn each_family(families: Vec<Vec<Match>>, protos: &[u8]) -> Vec<Vec<Match>> {
    use crate::core::plan::{IPPROTO_ICMP, IPPROTO_ICMPV6};
    let only = |p: u8| !protos.is_empty() && protos.iter().all(|&x| x == p);
    let fams: &[bool] = if only(IPPROTO_ICMP) {
        &[false]
    } else if only(IPPROTO_ICMPV6) {
        &[true]
    } else {
        &[false, true]
    };
    let mut out = Vec::with_capacity(families.len() * 2);
    for fam in families {
        if family_of(&fam).is_some() {
            out.push(fam);
            continue;
        }
        for &v6 in fams {
            let mut v = vec![Match::NfProto { v6 }];
            v.extend(fam.iter().copied());
            out.push(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::core::plan::{CtStates, Match, Rule};

    fn rules_of(src: &str, name: &str) -> Vec<Rule> {
        let (p, d) = crate::core::policy::parse(src);
        assert!(!crate::core::diag::has_errors(&d), "{d:?}");
        let plan = super::super::compile(&p.unwrap(), "t");
        let rules = plan.chains.iter().flat_map(|c| c.rules.iter());
        rules.filter(|r| r.comment == name).cloned().collect()
    }

    /// A TCP packet's connection is TCP's; an ICMP error's may be either: of the four
    /// pairings of packet and connection protocol, the TCP packet of a UDP connection is
    /// left out.
    #[test]
    fn a_packet_meets_only_the_connections_it_can_belong_to() {
        let src = "[[allow]]\nname = \"e\"\ntcp = [22]\nicmp = [\"destination-unreachable\"]\nconnection_protocol = [\"tcp\", \"udp\"]\n";
        let rules = rules_of(src, "e");
        let pairs: Vec<(u8, u8)> = rules
            .iter()
            .map(|r| {
                let of = |f: fn(&Match) -> Option<u8>| r.matches.iter().find_map(f).unwrap();
                (
                    of(|m| {
                        if let Match::L4Proto(p) = m {
                            Some(*p)
                        } else {
                            None
                        }
                    }),
                    of(|m| {
                        if let Match::CtProto(p) = m {
                            Some(*p)
                        } else {
                            None
                        }
                    }),
                )
            })
            .collect();
        assert_eq!(pairs, [(6, 6), (1, 6), (1, 17)], "{rules:?}");
    }

    /// An allow of every protocol from a network takes untracked packets too (ICMPv6's
    /// neighbour discovery), but not one that matches the packet's connection, which an
    /// untracked packet does not have.
    #[test]
    fn a_match_of_the_connection_takes_no_untracked_packets() {
        let states = |src: &str| -> Vec<CtStates> {
            let rules = rules_of(src, "e");
            let st = rules.iter().flat_map(|r| r.matches.iter());
            st.filter_map(|m| {
                if let Match::CtState(s) = m {
                    Some(*s)
                } else {
                    None
                }
            })
            .collect()
        };
        let base = "[[allow]]\nname = \"e\"\nfrom = [\"192.0.2.0/24\"]\n";
        let both = CtStates(CtStates::NEW | CtStates::UNTRACKED);
        assert_eq!(states(base), [both]);
        for key in [
            "connection_protocol = [\"tcp\"]",
            "published_to = [\"192.0.2.1\"]",
            "published_from = [\"192.0.2.0/25\"]",
        ] {
            let src = format!("{base}{key}\n");
            assert_eq!(states(&src), [CtStates(CtStates::NEW)], "{key}");
        }
    }

    /// A per-source limit on an entry of one family's original destination meters that
    /// family alone: no meter, and no rule, of the other.
    #[test]
    fn an_original_address_says_the_meters_family() {
        let src = "[[allow]]\nname = \"e\"\npublished = [8080]\npublished_to = [\"192.0.2.1\"]\nlimit = { rate = \"10/minute\", per = \"source\" }\n";
        let rules = rules_of(src, "e");
        assert_eq!(rules.len(), 2, "{rules:?}");
        let v6 = |m: &Match| {
            matches!(
                m,
                Match::NfProto { v6: true } | Match::Meter { v6: true, .. }
            )
        };
        assert!(
            !rules.iter().flat_map(|r| r.matches.iter()).any(v6),
            "{rules:?}"
        );
    }
}
