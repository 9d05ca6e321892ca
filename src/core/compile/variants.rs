//! The variants of an entry's rules before their protocol parts: each of the entry's address
//! families (its address matches, per family) with its address-type, packet-type,
//! routing-header, source-MAC, length, socket-owner, mark, TTL, connection-protocol and
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
        crate::core::exthdr::rt_matches(m),
        crate::core::header::mac_matches(m),
        crate::core::header::length_matches(m),
        owner_matches(m, false),
        owner_matches(m, true),
        crate::core::mark::mark_matches(m),
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
