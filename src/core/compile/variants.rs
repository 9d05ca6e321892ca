//! The variants of an entry's rules before their protocol parts: each of the entry's address
//! families (its address matches, per family) with its address-type, packet-type,
//! routing-header and source-MAC matches, one variant per value of each (their exceptions
//! in every variant). An entry that uses none of these keys gets its families unchanged.

use crate::core::model::More;
use crate::core::plan::{Match, family_of};

/// Every combination of `families` with the entry's other per-value matches, in the order
/// the rule carries them: family, address types, packet types, routing header, source MAC.
pub(super) fn variants(m: &More, families: Vec<Vec<Match>>) -> Vec<Vec<Match>> {
    let mut out = if crate::core::exthdr::has_rt(m) {
        ipv6_only(families)
    } else {
        families
    };
    for dim in [
        crate::core::addrtype::type_matches(m),
        crate::core::pkttype::pkttype_matches(m),
        crate::core::exthdr::rt_matches(m),
        crate::core::header::mac_matches(m),
    ] {
        out = product(out, &dim);
    }
    out
}

/// Each of `a` followed by each of `b`, in that order.
fn product(a: Vec<Vec<Match>>, b: &[Vec<Match>]) -> Vec<Vec<Match>> {
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

/// An entry's address matches of IPv6 alone (`rt_type`: a routing header is IPv6's): its
/// IPv4 rules go, and a rule that checks no family checks IPv6 first (`meta nfproto ipv6`),
/// which the exthdr load needs (the kernel would read an IPv4 header as an IPv6 one).
fn ipv6_only(families: Vec<Vec<Match>>) -> Vec<Vec<Match>> {
    families
        .into_iter()
        .filter_map(|fam| match family_of(&fam) {
            Some(true) => Some(fam),
            Some(false) => None,
            None => {
                let mut v = vec![Match::NfProto { v6: true }];
                v.extend(fam);
                Some(v)
            }
        })
        .collect()
}
