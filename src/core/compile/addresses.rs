//! An entry's addresses: the address matches of each of its rule families, and the entry's
//! own sets for lists of networks or ports.

use crate::core::model::{Cidr, Service};
use crate::core::plan::*;

/// Set elements in key order, as the kernel holds them (and as the fingerprint, the wire and
/// readback order them: sorted once here, each of those finds them in order).
pub(super) fn sorted(mut v: Vec<SetElem>) -> Vec<SetElem> {
    if v.is_sorted() {
        return v;
    }
    // A sorted list with a few lines out of place (one of them changed): those are set
    // aside while the rest closes up in place, then sorted and merged back from the end —
    // linear, and no copy of the whole. Anything less ordered is sorted.
    let mut strays = Vec::new();
    let mut kept = 0;
    for i in 0..v.len() {
        let e = v[i];
        if kept == 0 || v[kept - 1] <= e {
            v[kept] = e;
            kept += 1;
        } else if kept < 2 || v[kept - 2] <= e {
            // the last one kept was out of place, not this one
            strays.push(v[kept - 1]);
            v[kept - 1] = e;
        } else {
            strays.push(e);
        }
    }
    if strays.len() > v.len() / 16 {
        v.truncate(kept);
        v.extend_from_slice(&strays);
        v.sort_unstable();
        return v;
    }
    strays.sort_unstable();
    let (mut i, mut j) = (kept, strays.len());
    v.truncate(kept);
    v.extend_from_slice(&strays);
    for k in (0..v.len()).rev() {
        if j == 0 {
            break;
        }
        if i > 0 && v[i - 1] > strays[j - 1] {
            v[k] = v[i - 1];
            i -= 1;
        } else {
            v[k] = strays[j - 1];
            j -= 1;
        }
    }
    v
}

/// A single address (/32, /128).
fn is_host(n: &Cidr) -> bool {
    matches!(n, Cidr::V4(_, 32) | Cidr::V6(_, 128))
}

/// The networks of `nets` in one family.
fn of_family(nets: &[Cidr], v6: bool) -> Vec<Cidr> {
    nets.iter()
        .copied()
        .filter(|n| matches!(n, Cidr::V6(..)) == v6)
        .collect()
}

/// One element inline (`one`), several in the entry's own set of `kind` (made here) looked
/// up by `many`: networks and port ranges alike.
pub(super) fn one_or_set<T: Copy + Into<SetElem>>(
    items: &[T],
    svc: &Service,
    kind: SetKind,
    sets: &mut Vec<Set>,
    one: fn(T) -> Match,
    many: Match,
) -> Option<Match> {
    match items {
        [] => None,
        [x] => Some(one(*x)),
        _ => {
            sets.push(Set {
                name: set_name(kind, &svc.name),
                kind,
                elements: sorted(items.iter().map(|&x| x.into()).collect()),
                timeout: None,
            });
            Some(many)
        }
    }
}

/// The address matches of each rule family of an entry. An entry without destinations or
/// exceptions has the rules it always had: one without any address match, or one per
/// source family. Otherwise one per family both its sources and destinations allow; a
/// family rule whose matches imply no family gets `meta nfproto`.
pub(super) fn address_matches(svc: &Service, sets: &mut Vec<Set>) -> Vec<Vec<Match>> {
    let m = &svc.more;
    let live = svc.from_set.as_deref().and_then(if svc.from_set_hosts {
        LiveName::hosts
    } else {
        LiveName::new
    });
    // (a live set and fixed sources together: both, per family, as below)
    let both = live.is_some() && !svc.from.is_empty();
    if m.to.is_empty() && m.except_from.is_empty() && m.except_to.is_empty() && !both {
        let mut out = Vec::new();
        if let Some(set) = live {
            out.push(vec![Match::SrcInLive { v6: false, set }]);
            out.push(vec![Match::SrcInLive { v6: true, set }]);
        } else if svc.from.is_empty() {
            out.push(Vec::new());
        }
        // one pass over the sources (a from_file list may hold 100,000): by family, and
        // networks apart from single addresses
        let mut count = [[0usize; 2]; 2];
        for n in &svc.from {
            count[usize::from(matches!(n, Cidr::V6(..)))][usize::from(is_host(n))] += 1;
        }
        // sized first: growing a Vec of 100,000 elements copies it again and again
        let mut split: [[Vec<SetElem>; 2]; 2] = count.map(|fam| fam.map(Vec::with_capacity));
        for n in &svc.from {
            split[usize::from(matches!(n, Cidr::V6(..)))][usize::from(is_host(n))]
                .push(SetElem::Net(*n));
        }
        for ((kind, addr_kind, v6), [networks, hosts]) in [
            (SetKind::Src4, SetKind::Addr4, false),
            (SetKind::Src6, SetKind::Addr6, true),
        ]
        .into_iter()
        .zip(split)
        {
            let one = |e: SetElem| match e {
                SetElem::Net(n) => Match::SrcNet(n),
                SetElem::Ports(_) => unreachable!("sources are networks"),
            };
            if networks.len() + hosts.len() == 1 {
                out.extend(networks.into_iter().chain(hosts).map(|e| vec![one(e)]));
                continue;
            }
            // networks in an interval set, single addresses in a hash set: a change to a
            // 100,000-address hash set costs the kernel no walk of the set (an interval
            // set's does); each list kind is one lookup, one inline when it has one element
            for (elements, kind, many) in [
                (networks, kind, Match::SrcInSet { v6 }),
                (hosts, addr_kind, Match::SrcInAddrs { v6 }),
            ] {
                match elements.len() {
                    0 => {}
                    1 => out.push(vec![one(elements[0])]),
                    _ => {
                        sets.push(Set {
                            name: set_name(kind, &svc.name),
                            kind,
                            elements: sorted(elements),
                            timeout: None,
                        });
                        out.push(vec![many]);
                    }
                }
            }
        }
        return out;
    }
    let mut out = Vec::new();
    for v6 in [false, true] {
        let from = of_family(&svc.from, v6);
        let to = of_family(&m.to, v6);
        if (!svc.from.is_empty() && from.is_empty()) || (!m.to.is_empty() && to.is_empty()) {
            continue;
        }
        let mut ms = Vec::new();
        let (skind, dkind) = if v6 {
            (SetKind::Src6, SetKind::Dst6)
        } else {
            (SetKind::Src4, SetKind::Dst4)
        };
        if let Some(set) = live {
            ms.push(Match::SrcInLive { v6, set });
        }
        let src = Match::SrcInSet { v6 };
        ms.extend(one_or_set(&from, svc, skind, sets, Match::SrcNet, src));
        ms.extend(
            of_family(&m.except_from, v6)
                .into_iter()
                .map(Match::SrcNetNot),
        );
        let dst = Match::DstInSet { v6 };
        ms.extend(one_or_set(&to, svc, dkind, sets, Match::DstNet, dst));
        ms.extend(
            of_family(&m.except_to, v6)
                .into_iter()
                .map(Match::DstNetNot),
        );
        if ms.is_empty() {
            ms.push(Match::NfProto { v6 });
        }
        out.push(ms);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Set elements come out as a sort gives them, from lists in order, nearly in order,
    /// reversed, shuffled, with duplicates.
    #[test]
    fn sorted_is_a_sort() {
        let mut rnd = crate::core::test_rng(0x853c_49e6_748f_ea9b);
        for round in 0..3000 {
            let n = rnd(300) as usize;
            let mut v: Vec<SetElem> = (0..n as u32)
                .map(|i| SetElem::Net(Cidr::V4((i * 3).into(), 32)))
                .collect();
            match round % 5 {
                0 => {}
                1 => {
                    for _ in 0..1 + rnd(4) {
                        if n > 0 {
                            let i = rnd(n as u64) as usize;
                            v[i] = SetElem::Net(Cidr::V4((rnd(1000) as u32).into(), 32));
                        }
                    }
                }
                2 => v.reverse(),
                3 => {
                    for i in (1..n).rev() {
                        v.swap(i, rnd(i as u64 + 1) as usize);
                    }
                }
                _ => {
                    for i in 0..n {
                        if rnd(10) == 0 {
                            v[i] = v[rnd(n as u64) as usize];
                        }
                    }
                }
            }
            let mut want = v.clone();
            want.sort();
            assert_eq!(sorted(v), want);
        }
    }
}
