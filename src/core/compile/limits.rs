//! An entry's `limit`: the over-limit rule before the entry's own rule, or (`over =
//! "continue"`) the limit in the entry's own rule, so that what exceeds it is left to the
//! rules after it, as iptables' `-m limit … -j ACCEPT` leaves it. Every limit is a kernel
//! meter, a dynamic set of token buckets that the entry's rules of a family share: per source
//! `update @meter4_<name> { ip saddr limit rate over 12/minute … } … drop`, for the entry as
//! a whole one bucket per family, every source counting as one (`update @meter4_<name> { ip
//! saddr & 0.0.0.0 limit rate over … }`) — nft's plain `limit` would be a bucket in each rule,
//! and an entry of tcp and udp, or of addresses of both families, is several rules.

use crate::core::model::{Cidr, IcmpReject, Limit, LimitPer, Over, Service};
use crate::core::plan::*;

/// The over-limit rules of `limit` (pushed to `out`; meter sets to `sets`), and the matches
/// of the entry's own rules: `matches`, or (`over = "continue"`) with the limit in them,
/// one per family for a meter. `allow`: the entry is an allow (its limit counts NEW
/// connections unless it says its states).
pub(super) fn limit_rules(
    (out, sets): (&mut Vec<Rule>, &mut Vec<Set>),
    svc: &Service,
    (limit, nth, allow, proto): (Limit, u8, bool, u8),
    matches: Vec<Match>,
    rule: &dyn Fn(Vec<Match>, Verdict) -> Rule,
) -> Vec<Vec<Match>> {
    if limit.within_continues {
        // the entry takes only what exceeds the rate: its own rules carry the count
        return counted(sets, svc, (limit, nth), matches, true);
    }
    let over = match limit.over {
        Over::Drop => Verdict::Drop,
        Over::Reject if proto == IPPROTO_TCP => Verdict::RejectTcpReset,
        Over::Reject | Over::PortUnreachable => Verdict::RejectIcmpx(IcmpReject::PortUnreachable),
        Over::Continue => return counted(sets, svc, (limit, nth), matches, false),
    };
    let mut m = matches.clone();
    // an allow limits the connections it lets in, not their packets (or, with `state`, the
    // packets of the states it names)
    let has_state = m.iter().any(|m| matches!(m, Match::CtState(_)));
    if allow && !has_state {
        m.push(Match::CtState(CtStates(CtStates::NEW)));
    }
    for m in with_count(m, (limit.per, limit.early), &mut |fam| {
        count(sets, svc, (limit, nth), fam, true)
    }) {
        out.push(rule(m, over));
    }
    vec![matches]
}

/// The match that counts against `limit` (the entry's `nth`) for a packet of family `v6`
/// whose source counts by its first `prefix` bits (0 for the entry as a whole), in the
/// entry's meter set of that family and limit.
fn count(
    sets: &mut Vec<Set>,
    svc: &Service,
    (limit, nth): (Limit, u8),
    (v6, prefix): (bool, u8),
    over: bool,
) -> Match {
    // a shared meter is the same set whichever entry names it (`nth` 0)
    let nth = if limit.shared.is_some() { 0 } else { nth };
    let name = meter_name(v6, &svc.name, nth, limit.shared);
    meter_set(name, v6, limit, sets);
    Match::Meter {
        v6,
        prefix,
        rate: limit.rate,
        over,
        nth,
        shared: limit.shared,
    }
}

/// `m` with a count in it, one rule per family the matches allow (`counter((v6, prefix))`),
/// `per` saying how many leading bits of a source count: per source the `v4_prefix` (32, the
/// whole address, unless a network counts as one) and the `v6_prefix`; for the entry as a whole 0, every source of a family alike, so that
/// all the entry's rules of a family count in one bucket (or connection list). The count
/// comes last, or (`early`, a limit's `counts = "protocol"`) right after the protocol
/// ([`early_at`]).
pub(super) fn with_count(
    m: Vec<Match>,
    (per, early): (LimitPer, bool),
    counter: &mut dyn FnMut((bool, u8)) -> Match,
) -> Vec<Vec<Match>> {
    let (v4_prefix, v6_prefix) = match per {
        LimitPer::Entry => (0, 0),
        LimitPer::Source {
            v4_prefix,
            v6_prefix,
        } => (v4_prefix, v6_prefix),
    };
    families_of(&m)
        .into_iter()
        .map(|v6| {
            let mut m = m.clone();
            let at = if early { early_at(&m) } else { m.len() };
            m.insert(at, counter((v6, if v6 { v6_prefix } else { v4_prefix })));
            m
        })
        .collect()
}

/// The own rules of an entry whose limit says `over = "continue"` (`over` false: `update
/// @meter4_<name> { ip saddr limit rate 2/second } …`, one per family; for the entry as a
/// whole `ip saddr & 0.0.0.0`), or `within = "continue"` (`over` true: `limit rate over`).
fn counted(
    sets: &mut Vec<Set>,
    svc: &Service,
    (limit, nth): (Limit, u8),
    matches: Vec<Match>,
    over: bool,
) -> Vec<Vec<Match>> {
    with_count(matches, (limit.per, limit.early), &mut |fam| {
        count(sets, svc, (limit, nth), fam, over)
    })
}

/// Where a limit that counts every packet of the entry's protocol goes in a rule: right
/// after the protocol (`meta l4proto`), before the ports, ICMP types, TCP flags and states
/// that follow it; in a rule without a protocol, before its states. The matches before it
/// (interfaces, addresses, address and packet types …) are those iptables checks first too.
pub(super) fn early_at(m: &[Match]) -> usize {
    match m.iter().position(|m| matches!(m, Match::L4Proto(_))) {
        Some(i) => i + 1,
        None => m
            .iter()
            .position(|m| matches!(m, Match::CtState(_)))
            .unwrap_or(m.len()),
    }
}

/// The families a rule with `matches` can match: one when a match implies it.
pub(super) fn families_of(matches: &[Match]) -> Vec<bool> {
    for m in matches {
        let v6 = match *m {
            Match::SrcNet(c)
            | Match::DstNet(c)
            | Match::SrcNetNot(c)
            | Match::DstNetNot(c)
            | Match::CtOrigDst(c)
            | Match::CtOrigSrc(c) => matches!(c, Cidr::V6(..)),
            Match::SrcInSet { v6 }
            | Match::SrcInAddrs { v6 }
            | Match::SrcInLive { v6, .. }
            | Match::DstInSet { v6 }
            | Match::NfProto { v6 } => v6,
            Match::L4Proto(IPPROTO_ICMP) => false,
            Match::L4Proto(IPPROTO_ICMPV6) => true,
            _ => continue,
        };
        return vec![v6];
    }
    vec![false, true]
}

/// The meter set `name` of one family and limit (once: an entry's tcp and udp rules, and
/// the entries sharing a meter, meet it again): its buckets forgotten once full again, or
/// after the limit's `forget` if that comes first.
fn meter_set(name: String, v6: bool, limit: Limit, sets: &mut Vec<Set>) {
    let kind = if v6 { SetKind::Meter6 } else { SetKind::Meter4 };
    // a name met again (a shared meter, the entry's other rules) is dropped once, at the end
    // of `compile` ([`super::dedup_sets`]): a scan of every set here made n entries n² work
    sets.push(Set {
        name,
        kind,
        elements: Vec::new(),
        timeout: Some(limit.forget.map_or(limit.rate.refill_secs(), |f| {
            f.min(limit.rate.refill_secs())
        })),
    });
}
